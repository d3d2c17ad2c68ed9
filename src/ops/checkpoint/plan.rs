//! What a checkpoint will do, decided before anything is frozen: every
//! refusal of checkpoint lives here, computed from the options and the
//! facts read from the engine and /proc (`Facts`): which container, its
//! processes' spec and mounts, the freezer, the external mounts CRIU must
//! be told of, where the checkpoint goes. Pure; `--dry-run` prints the
//! plan, `super::phases` performs it.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::engine::docker;
use crate::error::{Error, Result};
use crate::host::cgroup::{self, Freezer};
use crate::model::deleted::OpenDeleted;
use crate::store::Location;

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// What to checkpoint, and how.
#[derive(Debug, PartialEq, Clone, serde::Serialize)]
pub struct Options {
    /// A name or an (abbreviated) ID.
    pub container: String,
    pub to: Location,
    /// Stop the container once it is saved.
    pub stop: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub file_locks: bool,
    /// Print the plan; change nothing.
    pub dry_run: bool,
}

impl Options {
    /// CRIU's options as docker-cr sets them by default.
    pub fn new(container: &str, to: Location) -> Options {
        Options {
            container: container.to_string(),
            to,
            stop: false,
            tcp_established: true,
            ext_unix_sk: true,
            file_locks: true,
            dry_run: false,
        }
    }
}

/// What the OCI spec tells about the mounts CRIU must treat as external.
#[derive(Debug, Default, PartialEq)]
pub struct SpecMounts {
    pub binds: Vec<String>,
    pub masked: Vec<String>,
    pub cgroupns: bool,
}

pub fn spec_mounts(spec: &Value) -> SpecMounts {
    let binds = spec["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["type"] == "bind"
                || m["options"].as_array().is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"))
        })
        .filter_map(|m| m["destination"].as_str().map(str::to_string))
        .collect();
    let masked = spec["linux"]["maskedPaths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    let cgroupns = spec["linux"]["namespaces"].as_array().is_some_and(|n| n.iter().any(|x| x["type"] == "cgroup"));
    SpecMounts { binds, masked, cgroupns }
}

/// Refuses containers we cannot checkpoint, with the reason and the fix.
pub fn check_container(c: &Value, name: &str, storage: &str) -> Result<()> {
    if c.pointer("/State/Running") != Some(&Value::Bool(true)) {
        return Err(Error::container(
            format!("container {name} is not running (status: {})", s(c, "/State/Status")),
            format!("start it first (docker start {name}); only running containers can be checkpointed"),
        ));
    }
    if c.pointer("/State/Restarting") == Some(&Value::Bool(true)) {
        return Err(Error::container(format!("container {name} is restarting"), "wait until it runs, then try again"));
    }
    if storage != "overlay2" {
        return Err(Error::host(
            format!(
                "the engine uses the storage driver {storage:?}; docker-cr captures file changes from overlay2 only"
            ),
            "run dockerd with the overlay2 storage driver",
        ));
    }
    for (key, what) in [("/HostConfig/IpcMode", "IPC"), ("/HostConfig/PidMode", "PID")] {
        let mode = s(c, key);
        if mode.starts_with("container:") || mode == "host" || mode == "shareable" {
            return Err(Error::container(
                format!(
                    "container {name} shares its {what} namespace ({mode}), which CRIU cannot dump from one container"
                ),
                "only containers with their own namespaces can be checkpointed",
            ));
        }
    }
    Ok(())
}

/// The temporary sibling the checkpoint is built in, and where a failed
/// one's log is kept.
pub fn partial_paths(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let name = dir.file_name().ok_or_else(|| {
        Error::Usage(format!("invalid checkpoint directory {:?}\nTry 'docker-cr checkpoint --help'.", dir))
    })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(".partial");
    let mut failed = name.to_os_string();
    failed.push(".failed");
    Ok((parent.join(partial), parent.join(failed)))
}

/// The engine's and /proc's answers a checkpoint decides on (read by
/// `super::facts`).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The container's inspect data (a network holder's settings folded in).
    pub c: Value,
    /// Its network settings came from this network holder.
    pub holder: Option<String>,
    pub storage: String,
    pub cgroup: cgroup::Version,
    /// `docker exec` sessions running in it: (exec ID, pid).
    pub execs: Vec<(String, i64)>,
    /// The OCI spec it was started with (its bundle's config.json) and the
    /// bundle's directory.
    pub spec: Value,
    pub bundle: PathBuf,
    /// /proc/<pid>/mountinfo, /proc/<pid>/cgroup, and our own mountinfo.
    pub mountinfo: String,
    pub proc_cgroup: String,
    pub self_mountinfo: String,
    /// The masked paths of the spec that are files in the container.
    pub masked_files: Vec<String>,
    /// Open deleted files CRIU would dump as link remaps the restore cannot
    /// find (see `model::deleted`).
    pub link_remaps: Vec<OpenDeleted>,
    /// The processes' anonymous memory: what the dump writes, roughly.
    pub expected_bytes: u64,
    /// Already frozen (paused by Docker): it stays frozen.
    pub paused: bool,
    /// The directory exists already (a store name or a directory given).
    pub exists: bool,
    /// The container's upper dir is there.
    pub upper_exists: bool,
    /// CRIU locks the network with nftables (else iptables).
    pub nft_lock: bool,
    /// This host has its signing key (else it is made on first use).
    pub host_key: bool,
}

/// The checkpoint, decided.
#[derive(Debug, Default)]
pub struct Plan {
    pub id: String,
    pub name: String,
    /// Where the finished checkpoint goes, and the siblings it is built in
    /// and a failed one's log is kept in.
    pub dir: PathBuf,
    pub partial: PathBuf,
    pub failed: PathBuf,
    /// The container's first process (on the host).
    pub pid: i32,
    pub freezer: Option<Freezer>,
    /// The container's root as CRIU sees it.
    pub root: PathBuf,
    /// Mounts CRIU must treat as external (dest:dest) and the masked files
    /// (dest:/dev/null).
    pub bind_mounts: Vec<String>,
    pub cgroup_mounts: Vec<String>,
    pub masked_files: Vec<String>,
    pub upper: PathBuf,
    /// A terminal: dumped through CRIU's RPC.
    pub tty: bool,
    pub paused: bool,
    pub stop: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub file_locks: bool,
    pub nft_lock: bool,
    pub expected_bytes: u64,
    pub notes: Vec<String>,
    /// Why the real run would stop, in the order it checks (it returns the
    /// first); empty: it would go ahead.
    pub refusals: Vec<Error>,
}

/// The checkpoint's plan; `dir` where it goes (a store path generated by
/// the caller, or the directory given). Pure.
pub fn plan(o: &Options, f: &Facts, dir: &Path) -> Plan {
    let c = &f.c;
    let name = s(c, "/Name").trim_start_matches('/').to_string();
    let mut p = Plan {
        id: s(c, "/Id").to_string(),
        name: name.clone(),
        dir: dir.to_path_buf(),
        stop: o.stop,
        tcp_established: o.tcp_established,
        ext_unix_sk: o.ext_unix_sk,
        file_locks: o.file_locks,
        nft_lock: f.nft_lock,
        expected_bytes: f.expected_bytes,
        paused: f.paused,
        ..Plan::default()
    };
    if let Some(h) = &f.holder {
        p.notes.push(format!("network settings taken from its network holder {h}"));
    }
    if let Err(e) = check_container(c, &name, &f.storage) {
        p.refusals.push(e);
        return p;
    }
    if let Some((_, pid)) = f.execs.first() {
        p.refusals.push(Error::container(
            format!("container {name} has a running 'docker exec' session (pid {pid}), which CRIU cannot dump"),
            "end the exec session, then checkpoint again",
        ));
    }
    if f.exists {
        p.refusals.push(Error::checkpoint(
            format!("{} already exists", dir.display()),
            "name a new directory; docker-cr never overwrites a checkpoint",
        ));
    }
    match partial_paths(dir) {
        Ok((partial, failed)) => (p.partial, p.failed) = (partial, failed),
        Err(e) => p.refusals.push(e),
    }
    p.pid = c.pointer("/State/Pid").and_then(Value::as_i64).unwrap_or(0) as i32;
    if p.pid <= 0 {
        p.refusals.push(Error::container(format!("container {name} has no process"), "is it running?"));
        return p;
    }
    let sm = spec_mounts(&f.spec);
    let root = PathBuf::from(s(&f.spec, "/root/path"));
    p.root = if root.is_absolute() { root } else { f.bundle.join(root) };
    p.cgroup_mounts =
        if f.cgroup == cgroup::Version::V1 && !sm.cgroupns { cgroup::v1_mounts_in(&f.mountinfo) } else { Vec::new() };
    p.bind_mounts = sm.binds;
    p.masked_files = f.masked_files.clone();
    p.freezer =
        cgroup::freezer_dir(f.cgroup, &f.proc_cgroup, &f.self_mountinfo).map(|dir| Freezer { version: f.cgroup, dir });
    if p.freezer.is_none() {
        p.refusals.push(Error::host(
            format!(
                "cannot find the {} freezer of container {name}",
                if f.cgroup == cgroup::Version::V1 { "cgroup v1" } else { "cgroup v2" }
            ),
            "is cgroupfs mounted at /sys/fs/cgroup?",
        ));
    }
    p.upper = PathBuf::from(s(c, "/GraphDriver/Data/UpperDir"));
    if !f.upper_exists {
        p.refusals.push(Error::host(
            format!("the container's upper dir {} is not there", p.upper.display()),
            "docker-cr needs overlay2",
        ));
    }
    if let Some(e) = link_remap_refusal(&name, &f.link_remaps) {
        p.refusals.push(e);
    }
    p.tty = c.pointer("/Config/Tty") == Some(&Value::Bool(true));
    if !f.host_key {
        p.notes.push("this host's signing key is made now (first use)".into());
    }
    p
}

/// Open deleted files CRIU would dump as link remaps the restore cannot
/// find: refused before anything is frozen (see `model::deleted`). Pure.
pub fn link_remap_refusal(name: &str, bad: &[OpenDeleted]) -> Option<Error> {
    let f = bad.first()?;
    let mut files: Vec<(u64, u64)> = bad.iter().map(|o| (o.dev, o.ino)).collect();
    files.sort_unstable();
    files.dedup();
    Some(Error::container(
        format!(
            "process {} ({}) holds {} open (fd {}), a file deleted in the container that still has \
             another name; CRIU would save it under a temporary name in the container's files that it deletes again \
             when the dump ends, and the checkpoint could not be restored{}",
            f.ns_pid,
            f.comm,
            f.path,
            f.fd,
            if files.len() > 1 { format!(" ({} such files in all)", files.len()) } else { String::new() }
        ),
        format!(
            "have the process close it, or delete its other names too (docker exec {name} find / -xdev -inum {}), \
             which makes it a deleted file docker-cr carries in the checkpoint; nothing was frozen",
            f.ino
        ),
    ))
}

pub(super) fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

/// The plan in words (`--dry-run`). Pure.
pub fn describe(p: &Plan) -> String {
    let mut out = format!("checkpoint of {} ({}) into {}\n", p.name, docker::short_id(&p.id), p.dir.display());
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<13} {v}\n"));
    if let Some(f) = &p.freezer {
        line(
            &mut out,
            "freeze",
            if p.paused {
                format!("{} (paused: it stays frozen)", f.dir.display())
            } else {
                format!("{}, thawed after the dump and the file changes", f.dir.display())
            },
        );
    }
    line(&mut out, "memory", format!("about {} of anonymous memory to dump", mib(p.expected_bytes)));
    let mut criu = vec![];
    if p.tcp_established {
        criu.push("tcp-established");
    }
    if p.ext_unix_sk {
        criu.push("ext-unix-sk");
    }
    if p.file_locks {
        criu.push("file-locks");
    }
    if p.tty {
        criu.push("a terminal (through CRIU's RPC)");
    }
    line(&mut out, "CRIU", criu.join(", "));
    let ext: Vec<&str> = p.bind_mounts.iter().chain(&p.cgroup_mounts).map(String::as_str).collect();
    if !ext.is_empty() {
        line(&mut out, "external", format!("{} mounts ({})", ext.len(), ext.join(", ")));
    }
    line(&mut out, "file changes", format!("from {}, captured while frozen", p.upper.display()));
    line(
        &mut out,
        "afterwards",
        if p.stop {
            "stopped: sealed and in place while frozen, then its restart policy set to \"no\" and killed".into()
        } else {
            "left running".into()
        },
    );
    for n in &p.notes {
        out.push_str(&format!("  {n}\n"));
    }
    match p.refusals.as_slice() {
        [] => out.push_str("would checkpoint: nothing was changed (--dry-run)\n"),
        rs => {
            out.push_str(&format!(
                "would be refused ({}):\n",
                if rs.len() == 1 { "1 reason".to_string() } else { format!("{} reasons", rs.len()) }
            ));
            for r in rs {
                out.push_str(&format!("  - {}\n", r.to_string().replace('\n', "\n    ")));
                if let Some(h) = r.hint() {
                    out.push_str(&format!("    hint: {h}\n"));
                }
            }
        }
    }
    out
}

/// The plan as JSON (`--dry-run --format json`). Pure.
pub fn to_json(p: &Plan) -> Value {
    json!({
        "container": { "name": p.name, "id": p.id },
        "checkpoint": p.dir,
        "freezer": p.freezer.as_ref().map(|f| &f.dir),
        "paused": p.paused,
        "expected_bytes": p.expected_bytes,
        "external_mounts": p.bind_mounts.iter().chain(&p.cgroup_mounts).collect::<Vec<_>>(),
        "masked_files": p.masked_files,
        "upper_dir": p.upper,
        "options": { "tcp_established": p.tcp_established, "ext_unix_sk": p.ext_unix_sk, "file_locks": p.file_locks, "tty": p.tty },
        "stop": p.stop,
        "notes": p.notes,
        "refusals": p.refusals.iter().map(|e| json!({"error": e.to_string(), "hint": e.hint(), "exit_status": e.exit_code()})).collect::<Vec<_>>(),
        "would_checkpoint": p.refusals.is_empty(),
    })
}
