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
    // Nothing of the probes is left.
    let left = docker_ok(&["ps", "-a", "-q", "--filter", &format!("label={}", probe::LABEL)]);
    assert_eq!(left, "", "probe containers left behind");
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
