//! What CRIU restores as privileges, against what the destination grants
//! (issue 17), on a real engine: the probe (`host::probe`) reads what a
//! container with given settings really gets, and the decoders
//! (`model::creds`) with the comparison (`model::grants`) find exactly what
//! a crafted checkpoint holds beyond its edited settings. Run in the e2e
//! phase on every engine (tests/run): the seccomp programs differ between
//! engine generations, so nothing here is a recorded constant.

use std::path::Path;

use docker_cr::engine::docker::{self, Engine};
use docker_cr::host::probe;
use docker_cr::model::bpf;
use docker_cr::model::creds::{self, Privileges};
use docker_cr::model::grants::{self, Grant, Settings};
use serde_json::Value;

use crate::util::*;

fn engine() -> Engine {
    Engine::connect(&docker::socket().unwrap()).unwrap()
}

fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap().trim().parse().unwrap()
}

fn loop_container(name: &str, extra: &[&str]) -> Container {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", "while :; do sleep 1; done"]);
    docker_ok(&args);
    Container(name.to_string())
}

fn host_config(name: &str) -> Value {
    let v: Value = serde_json::from_str(&docker_ok(&["inspect", name])).unwrap();
    v[0]["HostConfig"].clone()
}

fn privileges(dir: &Path) -> Privileges {
    let images = dir.join("checkpoint");
    let names: Vec<String> =
        std::fs::read_dir(&images).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let userns: Vec<String> = names.iter().filter(|n| creds::is_userns_file(n)).cloned().collect();
    let mut r = |n: &str| Ok(std::fs::read(images.join(n)).ok());
    creds::read(&mut r, &userns).unwrap()
}

/// What the destination grants a container with HostConfig `hc`, probed.
fn grant(e: &Engine, hc: &Value) -> Grant {
    let s = Settings::from_host_config(hc, grants::all_caps(last_cap()), false);
    Grant::from_settings(&s, "").with_observed(&probe::run(e, hc).unwrap())
}

/// Rewrites the checkpoint's images so that the threads of the seccomp
/// findings run under the destination's filters too (`creds::confine`),
/// after checking that each such chain answers as the destination does:
/// the engine built the same profile into other bytes.
fn confine(dir: &Path, p: &Privileges, g: &Grant, f: &[grants::Finding]) -> Privileges {
    let want = g.filters.clone().unwrap();
    let inputs = bpf::sample_inputs();
    let tids: Vec<u32> = f.iter().filter(|f| f.need == grants::Need::Seccomp).map(|f| f.tid).collect();
    for t in p.tasks.iter().flat_map(|t| &t.threads).filter(|t| tids.contains(&t.tid)) {
        let chain: Vec<&[u8]> = creds::thread_chain(p, t).iter().map(|f| f.prog.as_slice()).collect();
        assert_eq!(chain.len(), 1);
        assert!(bpf::same_answers(chain[0], &want[0].prog, &inputs), "thread {}: another profile", t.tid);
    }
    let images = dir.join("checkpoint");
    let mut r = |n: &str| Ok(std::fs::read(images.join(n)).ok());
    let c = creds::confine(&mut r, &tids, &want).unwrap();
    std::fs::write(images.join("seccomp.img"), &c.seccomp).unwrap();
    for (n, b) in &c.cores {
        std::fs::write(images.join(n), b).unwrap();
    }
    privileges(dir)
}

fn texts(f: &[grants::Finding]) -> Vec<String> {
    f.iter().map(|f| f.text.clone()).collect()
}

/// The probe with a container's settings sees what that container's PID 1
/// has: the same bounding set, no_new_privs and seccomp programs.
#[test]
fn privileges_probe_sees_what_a_container_gets() {
    require_engine();
    let e = engine();
    for (tag, flags) in [
        ("default", vec![]),
        ("capadd", vec!["--cap-add", "SYS_ADMIN"]),
        ("unconf", vec!["--security-opt", "seccomp=unconfined"]),
        ("nnp", vec!["--security-opt", "no-new-privileges"]),
        ("capdrop", vec!["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"]),
    ] {
        let name = unique(&format!("probe-{tag}"));
        let _c = loop_container(&name, &flags);
        let pid: i32 = inspect(&name, "{{.State.Pid}}").parse().unwrap();
        let real = probe::observe(pid).unwrap();
        let probed = probe::run(&e, &host_config(&name)).unwrap();
        assert_eq!(probed.cap_bnd, real.cap_bnd, "{tag}");
        assert_eq!(probed.no_new_privs, real.no_new_privs, "{tag}");
        // The same profile, though not always the same bytes (runc orders
        // the architecture checks differently from one container to the
        // next): the same answers for every system call tried.
        assert_eq!(probed.filters.len(), real.filters.len(), "{tag}");
        for (a, b) in probed.filters.iter().zip(&real.filters) {
            assert_eq!((a.prog.len(), a.flags), (b.prog.len(), b.flags), "{tag}");
            assert!(bpf::same_answers(&a.prog, &b.prog, &bpf::sample_inputs()), "{tag}: another program");
        }
        assert_eq!(probed.userns, real.userns, "{tag}");
        assert_eq!(probed.filters.is_empty(), tag == "unconf", "{tag}");
        let s = Settings::from_host_config(&host_config(&name), grants::all_caps(last_cap()), false);
        assert_eq!(s.caps, real.cap_bnd, "{tag}: the capability arithmetic is the engine's");
        assert_eq!(s.no_new_privs, real.no_new_privs, "{tag}");
    }
    // Nothing of the probes is left (this process's: other tests' restores
    // probe at the same time).
    assert_eq!(probes_left(std::process::id()), Vec::<String>::new(), "probe containers left behind");
}

/// Issue 17's two crafted checkpoints, decoded from real dumps: a
/// `--cap-add SYS_ADMIN` container whose saved settings were edited to add
/// nothing (and the signature dropped), and a `seccomp=unconfined` one
/// edited to the default profile. The findings name every process and
/// exactly what it holds; the amended settings agree with the images.
#[test]
fn privileges_crafted_checkpoints_are_found_exactly() {
    require_engine();
    let e = engine();
    let work = temp_dir("privileges");
    for (tag, flags, edit) in [
        ("capadd", ["--cap-add", "SYS_ADMIN"], "CapAdd"),
        ("unconf", ["--security-opt", "seccomp=unconfined"], "SecurityOpt"),
    ] {
        let name = unique(&format!("crafted-{tag}"));
        let _c = loop_container(&name, &flags);
        let dir = work.join(tag);
        ok(dcr(&["checkpoint", &name, dir.to_str().unwrap()]));
        let p = privileges(&dir);
        let own = host_config(&name);
        // Its own settings: nothing beyond them, but where the probe's
        // program has other bytes; confined, nothing at all.
        let g = grant(&e, &own);
        let f = grants::compare(&p, &g);
        assert!(f.iter().all(|f| f.need == grants::Need::Seccomp), "{tag}: own settings: {:?}", texts(&f));
        if !f.is_empty() {
            let c = confine(&dir.clone(), &p, &g, &f);
            assert_eq!(texts(&grants::compare(&c, &g)), Vec::<String>::new(), "{tag}: confined");
            // Back to the dump as it was, for the crafted case below.
            ok(dcr(&["checkpoint", &name, work.join(format!("{tag}-2")).to_str().unwrap()]));
        }
        let dir = if f.is_empty() { dir } else { work.join(format!("{tag}-2")) };
        let p = privileges(&dir);
        edit_container_json(&dir, |c| c["HostConfig"][edit] = Value::Null);
        assert!(!dir.join("manifest.sig").exists());
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("container.json")).unwrap()).unwrap();
        let edited = saved["HostConfig"].clone();
        let g = grant(&e, &edited);
        let f = grants::compare(&p, &g);
        let mut want = Vec::new();
        for t in &p.tasks {
            let who = format!("pid {} ({})", t.pid, t.comm);
            if tag == "capadd" {
                want.push(format!("{who} holds CAP_SYS_ADMIN, which the container is not given (in its effective, permitted and bounding sets)"));
                // Docker's profile with CAP_SYS_ADMIN is another program.
                let chain = creds::thread_chain(&p, &t.threads[0]);
                let n: usize = chain.iter().map(|f| f.prog.len() / 8).sum();
                let d: usize = g.filters.as_ref().unwrap().iter().map(|f| f.prog.len() / 8).sum();
                want.push(format!("{who} runs under a seccomp filter chain (1 filter of {n} instructions) that does not hold the engine's default seccomp profile (1 filter of {d} instructions)"));
            } else {
                want.push(format!(
                    "{who} runs without seccomp, which the engine's default seccomp profile would confine"
                ));
            }
        }
        assert!(p.tasks.len() >= 2 && p.tasks[0].comm == "sh", "{tag}: {:?}", p.tasks);
        assert_eq!(texts(&f), want, "{tag}");
        // --allow-host-access: the settings amended so that they agree. A
        // capability added changes Docker's profile: the first round adds
        // the capability only, the second finds what is left (at most the
        // same profile in other bytes), which confining settles.
        let mut amended = edited.clone();
        let a = grants::amend(&mut amended, &f);
        assert!(a.cannot.is_empty(), "{:?}", a.cannot);
        let mut done = a.done;
        let g2 = grant(&e, &amended);
        let f2 = grants::compare(&p, &g2);
        if tag == "capadd" {
            assert!(a.again);
            assert!(f2.iter().all(|f| f.need == grants::Need::Seccomp), "{tag}: {:?}", texts(&f2));
            if !f2.is_empty() {
                let c = confine(&dir, &p, &g2, &f2);
                assert_eq!(texts(&grants::compare(&c, &g2)), Vec::<String>::new(), "{tag}: amended and confined");
            }
        } else {
            assert!(!a.again);
            assert_eq!(texts(&f2), Vec::<String>::new(), "{tag}: amended");
            done.extend(grants::amend(&mut amended, &f2).done);
        }
        let expect: &[&str] =
            if tag == "capadd" { &["CapAdd CAP_SYS_ADMIN"] } else { &["SecurityOpt seccomp=unconfined"] };
        assert_eq!(done, expect, "{tag}: the settings it was made with, no more");
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// Image-tag poisoning (CVE-2026-50195's class): an archive's image tar
/// that names this host's tags is loaded under a temporary reference only,
/// checked, and tagged with the container's image name only where nothing
/// has that name; no tag of this host's moves, none of the tar's appears.
#[test]
fn privileges_image_load_moves_no_tag() {
    require_engine();
    let e = engine();
    let work = temp_dir("image-load");
    let id = e.image_id(IMAGE).unwrap().unwrap();
    let redis = e.image_id("docker-cr-test:redis").unwrap().unwrap();
    let saved = work.join("saved.tar");
    e.save_image(IMAGE, &mut std::fs::File::create(&saved).unwrap()).unwrap();
    // The same image, its manifest naming tags of this host's.
    let crafted = work.join("crafted.tar");
    {
        let mut ar = tar::Archive::new(std::fs::File::open(&saved).unwrap());
        let mut b = tar::Builder::new(std::fs::File::create(&crafted).unwrap());
        for en in ar.entries().unwrap() {
            let mut en = en.unwrap();
            let mut h = en.header().clone();
            let path = en.path().unwrap().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut en, &mut data).unwrap();
            if path.to_str() == Some("manifest.json") {
                let mut m: Value = serde_json::from_slice(&data).unwrap();
                m[0]["RepoTags"] = serde_json::json!(["docker-cr-test:redis", "dcr-poison:x"]);
                data = serde_json::to_vec(&m).unwrap();
                h.set_size(data.len() as u64);
                h.set_cksum();
            }
            b.append_data(&mut h, &path, data.as_slice()).unwrap();
        }
        b.finish().unwrap();
    }
    let name = format!("{}:v1", unique("loaded"));
    let _g = ImageGuard(name.clone());
    assert!(docker_cr::formats::archive::load_image_checked(&e, &crafted, &id, &name).unwrap());
    assert_eq!(e.image_id(&name).unwrap().as_deref(), Some(id.as_str()));
    assert_eq!(e.image_id("docker-cr-test:redis").unwrap().as_deref(), Some(redis.as_str()), "a tag moved");
    assert_eq!(e.image_id("dcr-poison:x").unwrap(), None, "the tar's own tag appeared");
    // The name taken by another image: left alone, the load says so.
    assert!(!docker_cr::formats::archive::load_image_checked(&e, &crafted, &id, "docker-cr-test:redis").unwrap());
    assert_eq!(e.image_id("docker-cr-test:redis").unwrap().as_deref(), Some(redis.as_str()));
    // Another image's tar for this ID: refused before anything is loaded.
    let err = docker_cr::formats::archive::load_image_checked(&e, &crafted, &redis, &name).unwrap_err();
    assert!(err.to_string().contains("not the checkpoint's"), "{err}");
    let left = docker_ok(&["images", "--format", "{{.Repository}}", "--filter", "reference=docker-cr-load-*"]);
    assert_eq!(left, "", "temporary references left");
    let _ = std::fs::remove_dir_all(&work);
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The restored container's PID 1, from /proc: CapEff and the seccomp mode.
fn pid1_status(name: &str) -> (u64, u32) {
    let pid = inspect(name, "{{.State.Pid}}");
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| st.lines().find_map(|l| l.strip_prefix(k)).unwrap().trim().to_string();
    (u64::from_str_radix(&field("CapEff:"), 16).unwrap(), field("Seccomp:").parse().unwrap())
}

/// What the container's settings give its processes: the capability set
/// (the engine's arithmetic, which the probe test above checks against
/// real containers), and whether they run under seccomp (a probe started
/// with them).
fn settings_give(e: &Engine, name: &str) -> (u64, u32) {
    let hc = host_config(name);
    let caps = Settings::from_host_config(&hc, grants::all_caps(last_cap()), false).caps;
    let filtered = !probe::run(e, &hc).unwrap().filters.is_empty();
    (caps, if filtered { 2 } else { 0 })
}

/// Issue 17's two crafted checkpoints on a real engine: a `--cap-add
/// SYS_ADMIN` counter whose saved settings were edited to add nothing, and
/// a `seccomp=unconfined` one edited to the default profile (both
/// unsigned, as another tool's would be). With --trust alone they are
/// refused, naming the process and what it holds, by the dry run and the
/// real run alike, and nothing is created; with --allow-host-access they
/// restore, their settings amended, and the restored PID 1's CapEff and
/// seccomp mode are what those settings give.
#[test]
fn privileges_crafted_checkpoints_refused_or_restored_with_matching_settings() {
    require_engine();
    let e = engine();
    let work = temp_dir("crafted-restore");
    for (tag, flags, edit, finding, granted) in [
        (
            "capadd",
            ["--cap-add", "SYS_ADMIN"],
            "CapAdd",
            "pid 1 (sh) holds CAP_SYS_ADMIN, which the container is not given (in its effective, permitted and bounding sets)",
            "granted (--allow-host-access): CapAdd CAP_SYS_ADMIN",
        ),
        (
            "unconf",
            ["--security-opt", "seccomp=unconfined"],
            "SecurityOpt",
            "pid 1 (sh) runs without seccomp, which the engine's default seccomp profile would confine",
            "granted (--allow-host-access): SecurityOpt seccomp=unconfined",
        ),
    ] {
        let c = Counter::start(&format!("crafted-{tag}"), &flags, 3);
        let name = c.name.clone();
        let dir = work.join(tag);
        ok(dcr(&["checkpoint", &name, s(&dir)]));
        docker_ok(&["rm", "-f", &name]);
        edit_container_json(&dir, |j| j["HostConfig"][edit] = Value::Null);
        for dry in [true, false] {
            let mut args = vec!["restore", "--trust", &name, s(&dir)];
            if dry {
                args.insert(1, "--dry-run");
            }
            let (o, pid) = dcr_env_pid(&args, &[]);
            fails_with(&o, 5, finding);
            let t = text(&o);
            assert!(t.contains("the checkpoint's processes hold more than the new container's settings give"), "{t}");
            assert!(t.contains("nothing was created") && t.contains("--allow-host-access"), "{t}");
            if dry {
                assert!(t.contains("would be refused (1 reason)"), "{tag}: {t}");
            }
            assert!(!exists(&name), "{tag}: a container was created (dry run {dry})");
            assert_eq!(probes_left(pid), Vec::<String>::new(), "{tag}: probe containers left");
        }
        let (o, pid) = dcr_env_pid(&["restore", "--trust", "--allow-host-access", &name, s(&dir)], &[]);
        let o = ok(o);
        assert!(text(&o).contains(granted), "{tag}: {}", text(&o));
        assert_eq!(probes_left(pid), Vec::<String>::new());
        assert_continues(c.port, &c.token, c.count);
        let (cap_eff, mode) = pid1_status(&name);
        assert_eq!((cap_eff, mode), settings_give(&e, &name), "{tag}: the restored PID 1 against its settings");
        if tag == "capadd" {
            assert_eq!(inspect(&name, "{{.HostConfig.CapAdd}}"), "[CAP_SYS_ADMIN]");
            assert_eq!((cap_eff & 1 << 21, mode), (1 << 21, 2), "CAP_SYS_ADMIN, and Docker's profile for it");
        } else {
            assert!(inspect(&name, "{{.HostConfig.SecurityOpt}}").contains("seccomp=unconfined"));
            assert_eq!(mode, 0);
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// A checkpoint whose processes run under a seccomp chain that lacks the
/// new container's program restores with no flag for it, the container's
/// filter added on top of the images' own: here an unsigned checkpoint of
/// a default container whose settings were edited to add SYS_PTRACE (host
/// access, granted by --allow-host-access; the processes hold less than
/// that), for which Docker's profile is another program. The restored
/// PID 1 runs under both.
#[test]
fn privileges_another_filter_chain_is_confined() {
    require_engine();
    let c = Counter::start("confine", &[], 3);
    let name = c.name.clone();
    let dir = temp_dir("confine").join("cp");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    let before = pid1_filters_of_images(&dir);
    edit_container_json(&dir, |j| j["HostConfig"]["CapAdd"] = serde_json::json!(["SYS_PTRACE"]));
    let o = ok(dcr(&["restore", "--trust", "--allow-host-access", &name, s(&dir)]));
    let t = text(&o);
    assert!(t.contains("added the container's seccomp filter to "), "{t}");
    assert!(!t.contains("CapAdd") && !t.contains("seccomp=unconfined"), "nothing granted for the images: {t}");
    assert_continues(c.port, &c.token, c.count);
    let pid = inspect(&name, "{{.State.Pid}}");
    let filters = probe::filters(pid.parse().unwrap()).unwrap();
    assert_eq!(filters.len(), before + 1, "the container's filter on top of the images' chain");
    let want = probe::run(&engine(), &host_config(&name)).unwrap().filters;
    assert!(bpf::same_answers(&filters[0].prog, &want[0].prog, &bpf::sample_inputs()), "the newest is the container's");
    assert!(!bpf::same_answers(&filters[1].prog, &want[0].prog, &bpf::sample_inputs()), "the images' own is another");
}

fn pid1_filters_of_images(dir: &Path) -> usize {
    let p = privileges(dir);
    creds::thread_chain(&p, &p.tasks[0].threads[0]).len()
}

/// Issue 17: this host's own checkpoints restore as they were, after
/// docker rm and with no flag: a bind mount and an added capability,
/// listed in the output. The same checkpoint on a host that trusts this
/// one's key (a key directory of its own, DOCKER_CR_KEYS) is held to the
/// policy: the bind and the capability need --allow-host-access there, and
/// the dry run says so with the same status.
#[test]
fn privileges_own_checkpoints_restore_as_they_were() {
    require_engine();
    let base = temp_dir("own");
    let host = base.join("host-data");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("file"), "from the host").unwrap();
    let bind = format!("{}:/data", host.display());
    // Host B: its own key, and this host's trusted.
    let keys_b = base.join("keys-b");
    let a_pub = base.join("host-a.pub");
    std::fs::write(&a_pub, ok(dcr(&["key", "show"])).stdout).unwrap();
    let env_b = [("DOCKER_CR_KEYS", keys_b.as_os_str())];
    ok(dcr_env_pid(&["key", "show"], &env_b).0);
    ok(dcr_env_pid(&["key", "trust", "--name", "host-a", s(&a_pub)], &env_b).0);
    for (tag, flags, listed) in [
        ("bind", vec!["-v", bind.as_str()], format!("host paths {bind}")),
        ("capadd", vec!["--cap-add", "SYS_ADMIN"], "added capabilities CAP_SYS_ADMIN".to_string()),
    ] {
        let c = Counter::start(&format!("own-{tag}"), &flags, 3);
        let name = c.name.clone();
        let dir = base.join(tag);
        ok(dcr(&["checkpoint", &name, s(&dir)]));
        docker_ok(&["rm", "-f", &name]);
        // On host B: the policy, by the dry run and the real run alike.
        for dry in [true, false] {
            let mut args = vec!["restore", &name, s(&dir)];
            if dry {
                args.insert(1, "--dry-run");
            }
            let (o, _) = dcr_env_pid(&args, &env_b);
            fails_with(&o, 5, "the checkpoint asks for host access that docker-cr does not grant on its own");
            assert!(text(&o).contains(&listed) && text(&o).contains("of another host"), "{tag}: {}", text(&o));
            assert!(!exists(&name), "{tag}: a container was created on host B");
        }
        let o = ok(dcr_env_pid(&["restore", "--allow-host-access", &name, s(&dir)], &env_b).0);
        assert!(text(&o).contains(&format!("granted (--allow-host-access): {listed}")), "{}", text(&o));
        assert_continues(c.port, &c.token, c.count);
        docker_ok(&["rm", "-f", &name]);
        // Here: as it was, no flag.
        let (o, pid) = dcr_env_pid(&["restore", "--dry-run", &name, s(&dir)], &[]);
        let t = text(&ok(o));
        assert!(t.contains("(restored as it was: this host's own checkpoint)") && t.contains(&listed), "{t}");
        assert!(t.contains("as dumped (this host's own checkpoint)") && t.contains("would restore"), "{t}");
        assert_eq!(probes_left(pid), Vec::<String>::new());
        let o = ok(dcr(&["restore", &name, s(&dir)]));
        assert!(
            text(&o).contains(&format!("restored as it was (this host's own checkpoint): {listed}")),
            "{}",
            text(&o)
        );
        assert_continues(c.port, &c.token, c.count);
        if tag == "bind" {
            assert_eq!(inspect(&name, "{{.HostConfig.Binds}}"), format!("[{bind}]"));
            assert_eq!(docker_ok(&["exec", &name, "cat", "/data/file"]), "from the host");
        } else {
            assert_eq!(inspect(&name, "{{.HostConfig.CapAdd}}"), "[CAP_SYS_ADMIN]");
            assert_eq!(pid1_status(&name).0 & 1 << 21, 1 << 21, "CAP_SYS_ADMIN as dumped");
        }
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// The seccomp filters of every thread of the container's PID 1, by tid.
fn threads_filters(name: &str) -> Vec<(i32, usize)> {
    let pid = inspect(name, "{{.State.Pid}}");
    let mut out: Vec<(i32, usize)> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| {
            let tid: i32 = e.unwrap().file_name().to_str().unwrap().parse().unwrap();
            (tid, probe::filters(tid).unwrap().len())
        })
        .collect();
    out.sort();
    out
}

/// A threaded process (redis-server and its background threads) under the
/// default profile: CRIU saves the chain on the first thread only, with
/// TSYNC, and the other threads as running without seccomp (its restore
/// installs the chain on every thread). An unsigned checkpoint of it
/// restores under --trust, every thread under the profile (before, the
/// other threads were taken as unconfined and the restore refused); and
/// confined (its settings edited so that Docker's profile is another
/// program), every thread gets the container's filter on top, not only
/// the first.
#[test]
fn privileges_threads_that_take_the_first_threads_chain() {
    require_engine();
    let work = temp_dir("threads");
    for confine in [false, true] {
        let name = unique(if confine { "thr-confine" } else { "thr" });
        let port = start_big_redis(&name, 2);
        let before = threads_filters(&name);
        assert!(before.len() > 1, "redis-server runs threads: {before:?}");
        assert!(before.iter().all(|(_, n)| *n == before[0].1 && *n > 0), "one chain on every thread: {before:?}");
        let dir = work.join(&name);
        ok(dcr(&["checkpoint", &name, s(&dir)]));
        let p = privileges(&dir);
        assert!(p.tasks[0].threads[1..].iter().all(|t| t.propagated), "CRIU saved the chain with TSYNC");
        docker_ok(&["rm", "-f", &name]);
        let o = if confine {
            edit_container_json(&dir, |j| j["HostConfig"]["CapAdd"] = serde_json::json!(["SYS_PTRACE"]));
            ok(dcr(&["restore", "--trust", "--allow-host-access", &name, s(&dir)]))
        } else {
            edit_container_json(&dir, |j| j["Config"]["Labels"]["edited"] = Value::from("yes"));
            ok(dcr(&["restore", "--trust", &name, s(&dir)]))
        };
        let t = text(&o);
        assert_eq!(redis(port, &["DBSIZE"]).as_deref(), Some(":2"), "the values are back: {t}");
        let after = threads_filters(&name);
        assert_eq!(after.len(), before.len(), "every thread is back");
        // Engines build one profile into programs of different bytes (here
        // the probe's and the redis container's differ), so even the
        // unedited settings may find the images' chain without the
        // container's program and add it; with SYS_PTRACE it always is
        // another program.
        let added = t.contains("added the container's seccomp filter to 1 process (pid 1)");
        assert!(added || !confine, "{t}");
        let want = before[0].1 + usize::from(added);
        assert!(after.iter().all(|(_, n)| *n == want), "every thread under {want} filters: {after:?}; {t}");
        docker_ok(&["rm", "-f", &name]);
    }
    let _ = std::fs::remove_dir_all(&work);
}
