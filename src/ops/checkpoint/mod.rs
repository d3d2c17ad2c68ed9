//! `docker-cr checkpoint`, as a plan and its steps:
//!
//! ```text
//! facts     the container (inspect; its network holder's settings), its
//!           bundle's spec, mounts, cgroup, open deleted files  facts()
//! plan      refusals, where it goes, what CRIU is told            plan.rs (pure; --dry-run prints it)
//! steps     prepare, freeze, dump, capture, thaw or stop, seal,  phases.rs
//!           publish
//! ```

pub mod phases;
pub mod plan;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::error::{Error, IoContext, Result};
use crate::host::cgroup::{self, Freezer};
use crate::host::{self, Ctx};
use crate::model::deleted;
use crate::model::manifest::Manifest;
use crate::session::Session;
use crate::store::Location;

pub use plan::{check_container, partial_paths, spec_mounts, Facts, Options, Plan, SpecMounts};

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// What a finished checkpoint reports (`--print-stats`, `--all`).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// CRIU's stats-dump, decoded.
    pub criu: Option<serde_json::Map<String, Value>>,
}

/// The `--print-stats` object of one checkpoint, in the spirit of Podman's
/// (its names where they mean the same: durations in microseconds,
/// `runtime_checkpoint_duration` is CRIU's dump, `criu_statistics` CRIU's own).
pub fn stats_json(o: &Outcome) -> Value {
    let m = &o.manifest;
    let us = |ms: u64| ms * 1000;
    json!({
        "Id": m.container.id,
        "Name": m.container.name,
        "checkpoint": o.dir,
        "created": crate::store::rfc3339(m.created),
        "docker_cr_checkpoint_duration": us(m.timings_ms.total),
        "runtime_checkpoint_duration": us(m.timings_ms.criu_dump),
        "frozen_duration": us(m.timings_ms.frozen),
        "rootfs_diff_duration": us(m.timings_ms.rootfs),
        "checksums_duration": us(m.timings_ms.checksums),
        "sizes": m.sizes,
        "criu_statistics": o.criu,
    })
}

/// The `--print-stats` document of one checkpoint.
pub fn stats_document(o: &Outcome) -> Value {
    let total = o.manifest.timings_ms.total * 1000;
    json!({ "docker_cr_checkpoint_duration": total, "container_statistics": [stats_json(o)] })
}

fn read_proc(pid: i32, what: &str) -> Result<String> {
    let p = PathBuf::from(format!("/proc/{pid}/{what}"));
    fs::read_to_string(&p).at("read", &p)
}

/// The engine's and /proc's answers the checkpoint of `a.container`
/// decides on. The /proc readings only for a running container.
pub fn facts(session: &Session, ctx: &Ctx, a: &Options) -> Result<Facts> {
    let mut c = ctx.engine.inspect(&a.container)?.ok_or_else(|| {
        Error::container(format!("no such container: {}", a.container), "check the name with 'docker ps'")
    })?;
    let mut f = Facts {
        storage: ctx.storage.clone(),
        cgroup: ctx.cgroup,
        nft_lock: ctx.criu.has_nft_lock(),
        ..Facts::default()
    };
    // Restored behind a network holder (Docker >= 28): the network settings
    // are the holder's. Saved as the container's own, the checkpoint
    // restores like the container it once was, on any engine.
    if let Some(h) = c["Config"]["Labels"][crate::engine::holder::LABEL_HOLDER].as_str().map(str::to_string) {
        if let Some(hc) = ctx.engine.inspect(&h)? {
            crate::engine::holder::fold_into_saved(&mut c, &hc);
            f.holder = Some(h);
        }
    }
    f.host_key = session.keys.secret_path().exists();
    let pid = c.pointer("/State/Pid").and_then(Value::as_i64).unwrap_or(0) as i32;
    let running = c.pointer("/State/Running") == Some(&Value::Bool(true));
    if running {
        for exec in c["ExecIDs"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if let Some(pid) = ctx.engine.exec_running(exec)? {
                f.execs.push((exec.to_string(), pid));
            }
        }
    }
    if running && pid > 0 {
        // The shim runs in the bundle directory, which holds the OCI spec
        // the container was started with: no need to know containerd's
        // state dir.
        let ppid = read_proc(pid, "status")?
            .lines()
            .find_map(|l| l.strip_prefix("PPid:").map(|v| v.trim().parse::<i32>().unwrap_or(0)))
            .unwrap_or(0);
        f.bundle =
            fs::read_link(format!("/proc/{ppid}/cwd")).at("find the bundle of", Path::new(&format!("/proc/{ppid}")))?;
        let spec_path = f.bundle.join("config.json");
        f.spec = serde_json::from_str(&fs::read_to_string(&spec_path).at("read", &spec_path)?)
            .map_err(|e| Error::engine(format!("{} is not JSON: {e}", spec_path.display()), None))?;
        f.mountinfo = read_proc(pid, "mountinfo")?;
        f.proc_cgroup = read_proc(pid, "cgroup")?;
        f.self_mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        f.masked_files = spec_mounts(&f.spec)
            .masked
            .into_iter()
            .filter(|p| fs::metadata(format!("/proc/{pid}/root{p}")).is_ok_and(|m| !m.is_dir()))
            .collect();
        let upper = PathBuf::from(s(&c, "/GraphDriver/Data/UpperDir"));
        f.upper_exists = upper.is_dir();
        if let Some(dir) = cgroup::freezer_dir(ctx.cgroup, &f.proc_cgroup, &f.self_mountinfo) {
            let fr = Freezer { version: ctx.cgroup, dir };
            let pids = fr.pids().unwrap_or_default();
            f.expected_bytes = host::rss_anon(&pids);
            f.paused = fr.is_frozen().unwrap_or(false);
            if f.upper_exists {
                f.link_remaps = link_remaps(pid, &pids, &upper)?;
            }
        }
    }
    f.c = c;
    Ok(f)
}

/// Open deleted files CRIU would dump as link remaps the restore cannot
/// find (see `model::deleted`).
fn link_remaps(pid: i32, pids: &[i32], upper: &Path) -> Result<Vec<deleted::OpenDeleted>> {
    use std::os::unix::fs::MetadataExt;
    let open = deleted::scan(pids);
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let root_dev = fs::metadata(&root).at("stat", &root)?.dev();
    Ok(deleted::link_remaps(&open, root_dev, &|ino| deleted::tree_has_ino(upper, ino)).into_iter().cloned().collect())
}

/// Where the checkpoint of `name` goes: the directory given, or a new
/// path in the store; whether something is there already.
fn target(session: &Session, a: &Options, name: &str) -> Result<(PathBuf, bool)> {
    let dir = match &a.to {
        Location::Dir(d) => d.clone(),
        Location::Store(n) => {
            let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            // Its container's directory is made with the checkpoint's
            // partial one (`phases::prepare`), not by a preview.
            session.store.path_for(name, n.as_deref(), millis)
        }
    };
    let exists = match fs::symlink_metadata(&dir) {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e).at("stat", &dir),
    };
    Ok((dir, exists))
}

/// The facts and the plan of the checkpoint `a` asks for.
pub fn plan_for(session: &Session, ctx: &Ctx, a: &Options) -> Result<(Facts, Plan)> {
    let mut f = facts(session, ctx, a)?;
    let name = s(&f.c, "/Name").trim_start_matches('/').to_string();
    // The store path is checked once the container is known checkpointable
    // (a stopped container's name is refused before its store is looked at).
    let (dir, exists) = match check_container(&f.c, &name, &f.storage) {
        Ok(()) => target(session, a, &name)?,
        Err(_) => (PathBuf::from(&name), false),
    };
    f.exists = exists;
    let p = plan::plan(a, &f, &dir);
    Ok((f, p))
}

/// One checkpoint: where `a.to` says, or into the store.
pub fn run(session: &Session, a: &Options) -> Result<Outcome> {
    session.cancel.arm();
    let ctx = session.ctx(false)?;
    let (f, mut p) = plan_for(session, ctx, a)?;
    if let Some(first) = (!p.refusals.is_empty()).then(|| p.refusals.remove(0)) {
        return Err(first);
    }
    for n in &p.notes {
        ctx.out.step(n);
    }
    let stop = p.stop;
    let mut job = phases::prepare(session, ctx, p, f.c, f.spec)?;
    let steps = (|| {
        job.freeze()?;
        job.dump()?;
        job.capture()?;
        if stop {
            // Still frozen. Everything that can fail is done first: the
            // checkpoint is sealed and moved into place; only then is the
            // container told not to restart and SIGKILLed, so no code of it
            // runs after the instant saved. If one of these last steps
            // fails, the job thaws the container, and the checkpoint stays.
            job.seal()?;
            job.publish()?;
            job.stop()
        } else {
            job.thaw()?;
            job.seal()?;
            job.publish()
        }
    })();
    job.finish(steps)
}

/// `migrate --live`'s checkpoint: `a` with `stop`, its memory left in
/// place (`Job::dump_lazy`). Sealed while frozen, never published: the
/// sealed partial directory and CRIU's page stream go to `deliver`, which
/// sends both to the destination and returns Ok only once the destination
/// runs the container with every page. Then the container here is stopped
/// (SIGKILL while frozen, as `--stop`); on any failure it is thawed and
/// runs on as it was, and nothing of the checkpoint stays.
pub fn run_live(
    session: &Session,
    a: &Options,
    deliver: impl FnOnce(&Path, std::os::fd::OwnedFd, &mut crate::host::criu::LazyDump) -> Result<()>,
) -> Result<Outcome> {
    session.cancel.arm();
    let ctx = session.ctx(false)?;
    let (f, mut p) = plan_for(session, ctx, a)?;
    if let Some(first) = (!p.refusals.is_empty()).then(|| p.refusals.remove(0)) {
        return Err(first);
    }
    if let Some(e) = crate::host::lazy::source_refusal(crate::host::lazy::big_pipes(), p.tty, &p.name) {
        return Err(e);
    }
    if !p.stop {
        return Err(Error::Usage("a live checkpoint stops the container".into()));
    }
    for n in &p.notes {
        ctx.out.step(n);
    }
    let mut job = phases::prepare(session, ctx, p, f.c, f.spec)?;
    let steps = (|| {
        job.freeze()?;
        let (mut live, pages) = job.dump_lazy()?;
        job.capture()?;
        job.seal()?;
        let dir = job.work().to_path_buf();
        let delivered = deliver(&dir, pages, &mut live.dump);
        // The stream is closed by now: CRIU ends (at once, if it still
        // waited for requests).
        let criu = live.finish();
        delivered?;
        if let Err(e) = criu {
            ctx.out.warn(format!("the destination has every page, but CRIU's dump here ended badly: {e}"));
        }
        job.stop()
    })();
    job.finish(steps)
}

/// `--dry-run`: the plan of the checkpoint `a` would make; changes
/// nothing: nothing frozen, no directory, no lock, no key made. The first
/// refusal, as the real run's error.
pub fn preview(session: &Session, a: &Options) -> Result<crate::ops::Preview> {
    let ctx = session.ctx_preview(false)?;
    let (_, mut p) = plan_for(session, ctx, a)?;
    let text = plan::describe(&p);
    let json = plan::to_json(&p);
    let first = (!p.refusals.is_empty()).then(|| p.refusals.remove(0));
    Ok((text, json, first))
}

#[cfg(test)]
mod tests {
    use super::plan::*;
    use serde_json::json;
    use std::path::{Path, PathBuf};

    #[test]
    fn spec_mounts_from_a_docker_spec() {
        let spec = json!({
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/docker/containers/x/hosts", "options": ["rbind", "rprivate"]},
                {"destination": "/data", "type": "none", "source": "/srv/data", "options": ["rbind"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}
            ],
            "linux": {"maskedPaths": ["/proc/kcore", "/proc/acpi"], "namespaces": [{"type": "pid"}, {"type": "network"}]}
        });
        assert_eq!(
            spec_mounts(&spec),
            SpecMounts {
                binds: vec!["/etc/hosts".into(), "/data".into()],
                masked: vec!["/proc/kcore".into(), "/proc/acpi".into()],
                cgroupns: false
            }
        );
    }

    #[test]
    fn containers_we_refuse() {
        let ok = json!({"State": {"Running": true}, "Config": {"Tty": false}, "HostConfig": {"IpcMode": "private", "PidMode": ""}});
        assert!(check_container(&ok, "web", "overlay2").is_ok());
        let stopped = json!({"State": {"Running": false, "Status": "exited"}});
        let e = check_container(&stopped, "web", "overlay2").unwrap_err();
        assert_eq!((e.exit_code(), e.to_string()), (4, "container web is not running (status: exited)".into()));
        // Issue 12: a terminal is dumped through CRIU's RPC, no longer refused.
        let tty = json!({"State": {"Running": true}, "Config": {"Tty": true}});
        assert!(check_container(&tty, "web", "overlay2").is_ok());
        assert_eq!(check_container(&ok, "web", "vfs").unwrap_err().exit_code(), 3);
        let ipc = json!({"State": {"Running": true}, "HostConfig": {"IpcMode": "container:db"}});
        assert!(check_container(&ipc, "web", "overlay2").unwrap_err().to_string().contains("IPC"));
    }

    #[test]
    fn partial_and_failed_names() {
        let (p, f) = partial_paths(Path::new("/srv/cp/web1")).unwrap();
        assert_eq!((p, f), (PathBuf::from("/srv/cp/.web1.partial"), PathBuf::from("/srv/cp/web1.failed")));
        let (p, _) = partial_paths(Path::new("web1")).unwrap();
        assert_eq!(p, PathBuf::from("./.web1.partial"));
    }

    /// The recorded Docker 20.10 busybox container, running, with its spec
    /// (tests/fixtures), on a cgroup v1 host.
    fn facts() -> Facts {
        let mut c: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/docker20-busybox-inspect.json")).unwrap();
        c["State"] = json!({"Running": true, "Pid": 4242, "Status": "running"});
        c["GraphDriver"] = json!({"Data": {"UpperDir": "/var/lib/docker/overlay2/x/diff"}});
        Facts {
            c,
            storage: "overlay2".into(),
            spec: serde_json::from_str(include_str!("../../../tests/fixtures/docker20-busybox-spec.json")).unwrap(),
            bundle: "/run/containerd/io.containerd.runtime.v2.task/moby/x".into(),
            mountinfo: "10 1 0:5 / /sys/fs/cgroup/freezer ro,nosuid - cgroup cgroup rw,freezer\n".into(),
            proc_cgroup: "5:freezer:/docker/x\n".into(),
            self_mountinfo: "30 1 0:26 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n".into(),
            masked_files: vec!["/proc/kcore".into()],
            upper_exists: true,
            expected_bytes: 3 << 20,
            host_key: true,
            ..Facts::default()
        }
    }
    fn run(o: &Options, f: &Facts) -> Plan {
        super::plan::plan(o, f, Path::new("/var/lib/docker-cr/p2-c1/first"))
    }
    fn refusals(p: &Plan) -> Vec<(u8, String)> {
        p.refusals.iter().map(|e| (e.exit_code(), e.to_string())).collect()
    }

    #[test]
    fn the_plan_of_a_running_container() {
        let o = Options::new("p2-c1", crate::store::Location::Store(Some("first".into())));
        let p = run(&o, &facts());
        assert_eq!(refusals(&p), vec![]);
        assert_eq!((p.name.as_str(), p.pid), ("p2-c1", 4242));
        assert_eq!(p.partial, PathBuf::from("/var/lib/docker-cr/p2-c1/.first.partial"));
        assert_eq!(p.failed, PathBuf::from("/var/lib/docker-cr/p2-c1/first.failed"));
        assert_eq!(p.bind_mounts, vec!["/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]);
        assert_eq!(p.cgroup_mounts, vec!["/sys/fs/cgroup/freezer"], "v1, no cgroup namespace: its mounts are external");
        assert_eq!(p.freezer.as_ref().unwrap().dir, PathBuf::from("/sys/fs/cgroup/freezer/docker/x"));
        assert!(p.root.ends_with("merged") && !p.tty && !p.stop);
        let d = super::plan::describe(&p);
        assert!(d.contains("would checkpoint") && d.contains("left running"), "{d}");
        assert_eq!(super::plan::to_json(&p)["would_checkpoint"], true);
        let mut v2 = facts();
        v2.cgroup = crate::host::cgroup::Version::V2;
        v2.proc_cgroup = "0::/docker/x\n".into();
        v2.self_mountinfo = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n".into();
        let p = run(&o, &v2);
        assert_eq!((p.cgroup_mounts.len(), p.freezer.unwrap().dir), (0, PathBuf::from("/sys/fs/cgroup/docker/x")));
    }

    #[test]
    fn options_notes_and_a_terminal_reach_the_plan() {
        let mut o = Options::new("p2-c1", crate::store::Location::Store(None));
        (o.tcp_established, o.ext_unix_sk, o.file_locks, o.stop) = (false, false, false, true);
        let mut f = facts();
        f.holder = Some("p2-c1-docker-cr-net".into());
        f.host_key = false;
        f.nft_lock = true;
        f.paused = true;
        f.c["Config"]["Tty"] = json!(true);
        let p = run(&o, &f);
        assert_eq!(refusals(&p), vec![]);
        assert!(!p.tcp_established && !p.ext_unix_sk && !p.file_locks && p.stop && p.nft_lock && p.paused && p.tty);
        assert_eq!(
            p.notes,
            vec![
                "network settings taken from its network holder p2-c1-docker-cr-net".to_string(),
                "this host's signing key is made now (first use)".to_string()
            ]
        );
        let d = super::plan::describe(&p);
        assert!(d.contains("CRIU          a terminal (through CRIU's RPC)\n"), "{d}");
        assert!(d.contains("(paused: it stays frozen)") && d.contains("stopped: sealed"), "{d}");
        let j = super::plan::to_json(&p);
        assert_eq!(
            j["options"],
            json!({"tcp_established": false, "ext_unix_sk": false, "file_locks": false, "tty": true})
        );
        let d = super::plan::describe(&run(&Options::new("p2-c1", crate::store::Location::Store(None)), &facts()));
        assert!(d.contains("CRIU          tcp-established, ext-unix-sk, file-locks\n"), "{d}");
    }

    #[test]
    fn every_refusal_of_checkpoint() {
        let o = Options::new("p2-c1", crate::store::Location::Store(None));
        let first = |f: &Facts| refusals(&run(&o, f)).into_iter().next().unwrap_or_default();
        let mut f = facts();
        f.c["State"] = json!({"Running": false, "Status": "exited"});
        assert_eq!(first(&f), (4, "container p2-c1 is not running (status: exited)".into()));
        let mut f = facts();
        f.storage = "vfs".into();
        assert_eq!(first(&f).0, 3);
        let mut f = facts();
        f.c["HostConfig"]["PidMode"] = json!("host");
        assert!(first(&f).1.contains("shares its PID namespace (host)"));
        let mut f = facts();
        f.c["HostConfig"]["IpcMode"] = json!("container:db");
        assert!(first(&f).1.contains("shares its IPC namespace (container:db)"));
        let mut f = facts();
        f.c["State"]["Restarting"] = json!(true);
        assert_eq!(first(&f), (4, "container p2-c1 is restarting".into()));
        let mut f = facts();
        f.c["State"]["Pid"] = json!(0);
        assert_eq!(first(&f), (4, "container p2-c1 has no process".into()));
        let (code, text) = refusals(&super::plan::plan(&o, &facts(), Path::new("/"))).into_iter().next().unwrap();
        assert!(code == 2 && text.starts_with("invalid checkpoint directory \"/\""), "{text}");
        let mut f = facts();
        f.execs = vec![("e1".into(), 77)];
        assert_eq!(
            first(&f),
            (4, "container p2-c1 has a running 'docker exec' session (pid 77), which CRIU cannot dump".into())
        );
        let mut f = facts();
        f.exists = true;
        assert_eq!(first(&f), (5, "/var/lib/docker-cr/p2-c1/first already exists".into()));
        let mut f = facts();
        f.proc_cgroup = String::new();
        assert!(first(&f).1.starts_with("cannot find the cgroup v1 freezer of container p2-c1"));
        let mut f = facts();
        f.upper_exists = false;
        assert!(first(&f).1.contains("upper dir /var/lib/docker/overlay2/x/diff is not there"));
        let mut f = facts();
        f.link_remaps = vec![crate::model::deleted::OpenDeleted {
            pid: 4242,
            ns_pid: 1,
            comm: "sh".into(),
            fd: 3,
            path: "/tmp/a".into(),
            dev: 1,
            ino: 9,
            nlink: 1,
        }];
        let (code, text) = first(&f);
        assert!(code == 4 && text.starts_with("process 1 (sh) holds /tmp/a open (fd 3)"), "{text}");
        // Every refusal at once in a dry run, in the order the run checks.
        let mut f = facts();
        f.execs = vec![("e1".into(), 77)];
        f.exists = true;
        assert_eq!(refusals(&run(&o, &f)).iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5]);
    }
}
