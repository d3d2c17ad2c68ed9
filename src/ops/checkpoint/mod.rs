//! `docker-cr checkpoint`: inspect → plan the CRIU config → freeze → criu dump
//! → capture the file changes (still frozen) → thaw or stop → manifest →
//! rename the finished directory into place.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::engine::docker;
use crate::error::{Error, IoContext, Result};
use crate::host::cgroup::{self, Freezer};
use crate::host::criu::{self, DumpOpts};
use crate::host::follow;
use crate::host::state;
use crate::host::{self, Ctx};
use crate::model::deleted;
use crate::model::manifest::{self as mf, Manifest};
use crate::model::rootfs;
use crate::model::trust;
use crate::report::Ticker;
use crate::session::Session;
use crate::store::Location;

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

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
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

fn descriptors(pid: i32) -> String {
    let links: Vec<String> = (0..3)
        .map(|fd| {
            fs::read_link(format!("/proc/{pid}/fd/{fd}")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
        })
        .collect();
    serde_json::to_string(&links).unwrap_or_else(|_| "[]".into())
}

fn read_proc(pid: i32, what: &str) -> Result<String> {
    let p = PathBuf::from(format!("/proc/{pid}/{what}"));
    fs::read_to_string(&p).at("read", &p)
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    criu::write_private(path, &serde_json::to_string_pretty(v).unwrap_or_default())
}

fn dir_bytes(dir: &Path) -> (u64, u64) {
    let mut all = 0;
    let mut pages = 0;
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
        all += len;
        if e.file_name().to_string_lossy().starts_with("pages-") {
            pages += len;
        }
    }
    (all, pages)
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
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

/// One checkpoint: where `a.to` says, or into the store.
pub fn run(session: &Session, a: &Options) -> Result<Outcome> {
    session.cancel.arm();
    let ctx = session.ctx(false)?;
    let mut c = ctx.engine.inspect(&a.container)?.ok_or_else(|| {
        Error::container(format!("no such container: {}", a.container), "check the name with 'docker ps'")
    })?;
    // Restored behind a network holder (Docker >= 28): the network settings
    // are the holder's. Saved as the container's own, the checkpoint
    // restores like the container it once was, on any engine.
    if let Some(h) = c["Config"]["Labels"][crate::engine::holder::LABEL_HOLDER].as_str().map(str::to_string) {
        if let Some(hc) = ctx.engine.inspect(&h)? {
            crate::engine::holder::fold_into_saved(&mut c, &hc);
            ctx.out.step(format!("network settings taken from its network holder {h}"));
        }
    }
    let id = s(&c, "/Id").to_string();
    let name = s(&c, "/Name").trim_start_matches('/').to_string();
    check_container(&c, &name, &ctx.storage)?;
    let dir = match &a.to {
        Location::Dir(d) => d.clone(),
        Location::Store(n) => {
            let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            session.store.new_path(&name, n.as_deref(), millis)?
        }
    };
    for exec in c["ExecIDs"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if let Some(pid) = ctx.engine.exec_running(exec)? {
            return Err(Error::container(
                format!("container {name} has a running 'docker exec' session (pid {pid}), which CRIU cannot dump"),
                "end the exec session, then checkpoint again",
            ));
        }
    }

    match fs::symlink_metadata(&dir) {
        Ok(_) => {
            return Err(Error::checkpoint(
                format!("{} already exists", dir.display()),
                "name a new directory; docker-cr never overwrites a checkpoint",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at("stat", &dir),
    }
    let lock = state::ContainerLock::take(Path::new(state::DIR), &id, &name)?;
    // Before anything is frozen: a host that cannot sign fails now.
    let keys = &session.keys;
    let key = keys.host_key().map_err(|e| e.step(format!("this host's signing key in {}", keys.dir.display())))?;
    let (partial, failed) = partial_paths(&dir)?;
    if let Some(parent) = partial.parent() {
        fs::create_dir_all(parent).at("create", parent)?;
    }
    mf::create_partial(&partial, &dir, "checkpoint")?;
    // Everything below goes through this descriptor: in a parent directory
    // that others can write to, the name could be swapped for a symlink
    // after the mkdir, and CRIU would write memory pages wherever it points.
    let (work, _keep) = private_dir(&partial)?;
    ctx.out.step(format!("checkpointing container {name} ({}) into {}", docker::short_id(&id), dir.display()));

    let published = std::cell::Cell::new(false);
    let publish = || -> Result<()> {
        mf::rename_noreplace(&partial, &dir)?;
        published.set(true);
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let d = fs::File::open(parent).at("open", parent)?;
            d.sync_all().at("sync", parent)?;
        }
        Ok(())
    };
    let result = dump_into(session, ctx, a, &c, &id, &name, &work, &lock, &key, &publish);
    let criu_stats = crate::ops::inspect::dump_stats(&dir).ok().flatten();
    // Any freeze of ours has been undone by now (thawed, or kept because
    // Docker had paused it): the record must not make a later run thaw.
    let _ = lock.clear();
    match result {
        Ok(m) => {
            remove_if_ours(&failed);
            ctx.out.step(format!(
                "done in {} ms: frozen {} ms (criu dump {} ms, file changes {} ms); images {} (pages {}), file changes {} in {} files, {} deleted{}",
                ctx.out.elapsed_ms(),
                m.timings_ms.frozen,
                m.timings_ms.criu_dump,
                m.timings_ms.rootfs,
                mib(m.sizes.images_bytes),
                mib(m.sizes.pages_bytes),
                mib(m.sizes.rootfs_diff_bytes),
                m.sizes.rootfs_files,
                m.sizes.rootfs_deleted,
                if a.stop { "; container stopped" } else { "; container running" },
            ));
            ctx.out.step(format!("peak RSS of docker-cr: {} KiB", ctx.out.peak_rss_kib()));
            Ok(Outcome { dir: dir.clone(), manifest: m, criu: criu_stats })
        }
        // The checkpoint is complete and in place: whatever failed after
        // that (stopping the container), it is never deleted.
        Err(e) if published.get() => {
            Err(e.step(format!("the checkpoint of container {name} is complete in {}, but then", dir.display())))
        }
        Err(e) => {
            // Keep only what explains the failure, under a name that says
            // so: NAME.failed, or NAME.failed-<time> if that is taken (a
            // directory of the user's is never replaced).
            for e in fs::read_dir(&work).into_iter().flatten().flatten() {
                let n = e.file_name();
                if n != mf::DUMP_LOG && n != mf::DUMP_CONF {
                    let p = e.path();
                    let _ = if e.file_type().is_ok_and(|t| t.is_dir()) {
                        fs::remove_dir_all(&p)
                    } else {
                        fs::remove_file(&p)
                    };
                }
            }
            let has_log = work.join(mf::DUMP_LOG).exists();
            let kept = if has_log {
                remove_if_ours(&failed);
                let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                let mut alt = failed.clone().into_os_string();
                alt.push(format!("-{stamp}"));
                [failed.clone(), PathBuf::from(alt)].into_iter().find(|f| mf::rename_noreplace(&partial, f).is_ok())
            } else {
                None
            };
            let cleanup = if kept.is_some() { Ok(()) } else { fs::remove_dir_all(&partial).at("remove", &partial) };
            let e = match (e, kept) {
                (Error::Criu { action, status, excerpt, .. }, Some(k)) => {
                    Error::Criu { action, status, log: k.join(mf::DUMP_LOG), excerpt }
                }
                (e, _) => e,
            };
            Err(e.step(format!("checkpoint of container {name}")).with_cleanup(cleanup))
        }
    }
}

/// Removes `failed` only if it is what an earlier failed run of ours left:
/// a directory holding nothing but CRIU's config and log.
fn remove_if_ours(failed: &Path) {
    let Ok(md) = fs::symlink_metadata(failed) else { return };
    if !md.is_dir() {
        return;
    }
    let ours = fs::read_dir(failed).into_iter().flatten().all(|e| {
        e.is_ok_and(|e| {
            (e.file_name() == mf::DUMP_LOG || e.file_name() == mf::DUMP_CONF)
                && e.file_type().is_ok_and(|t| t.is_file())
        })
    });
    if ours {
        let _ = fs::remove_dir_all(failed);
    }
}

/// Opens the directory we just created without following a symlink, checks
/// that it is ours (root's, 0700), and returns a path that reaches it through
/// that descriptor (`/proc/<pid>/fd/<n>`, valid for CRIU too) when one of
/// its ancestors is writable by someone other than root; otherwise the plain
/// path, which then nobody else can swap. The file must stay open while the path is used.
fn private_dir(dir: &Path) -> Result<(PathBuf, fs::File)> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)
        .at("open", dir)?;
    let md = f.metadata().at("stat", dir)?;
    if md.uid() != 0 || md.mode() & 0o077 != 0 {
        return Err(Error::checkpoint(
            format!("{} was replaced by someone else's directory while docker-cr created it", dir.display()),
            "write checkpoints where only root can create files",
        ));
    }
    let abs = fs::canonicalize(dir).at("resolve", dir)?;
    let exposed =
        abs.ancestors().skip(1).any(|p| fs::metadata(p).map_or(true, |m| mf::only_root_can_change(&m).is_err()));
    let path = if exposed {
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), f.as_raw_fd()))
    } else {
        dir.to_path_buf()
    };
    Ok((path, f))
}

/// Refuses, before anything is frozen, open deleted files that CRIU would
/// dump as link remaps the restore cannot find (see `deleted`).
fn refuse_link_remaps(name: &str, pid: i32, freezer: &Freezer, upper: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let open = deleted::scan(&freezer.pids()?);
    if open.is_empty() {
        return Ok(());
    }
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let root_dev = fs::metadata(&root).at("stat", &root)?.dev();
    let bad = deleted::link_remaps(&open, root_dev, &|ino| deleted::tree_has_ino(upper, ino));
    let Some(f) = bad.first() else { return Ok(()) };
    let mut files: Vec<(u64, u64)> = bad.iter().map(|o| (o.dev, o.ino)).collect();
    files.sort_unstable();
    files.dedup();
    Err(Error::container(
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

/// Dumps into `dir` and seals it; `publish` moves it into place. With
/// `--stop` that happens while the container is still frozen, before it is
/// killed: once its processes are gone, the checkpoint must already be
/// complete, synced and under its name, so that nothing can fail after the
/// kill in a way that loses it.
#[allow(clippy::too_many_arguments)]
fn dump_into(
    session: &Session,
    ctx: &Ctx,
    a: &Options,
    c: &Value,
    id: &str,
    name: &str,
    dir: &Path,
    lock: &state::ContainerLock,
    key: &ed25519_dalek::SigningKey,
    publish: &dyn Fn() -> Result<()>,
) -> Result<Manifest> {
    let pid = c.pointer("/State/Pid").and_then(Value::as_i64).unwrap_or(0) as i32;
    if pid <= 0 {
        return Err(Error::container(format!("container {name} has no process"), "is it running?"));
    }
    // The shim runs in the bundle directory, which holds the OCI spec the
    // container was started with: no need to know containerd's state dir.
    let ppid = read_proc(pid, "status")?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:").map(|v| v.trim().parse::<i32>().unwrap_or(0)))
        .unwrap_or(0);
    let bundle =
        fs::read_link(format!("/proc/{ppid}/cwd")).at("find the bundle of", Path::new(&format!("/proc/{ppid}")))?;
    let spec_path = bundle.join("config.json");
    let spec: Value = serde_json::from_str(&fs::read_to_string(&spec_path).at("read", &spec_path)?)
        .map_err(|e| Error::engine(format!("{} is not JSON: {e}", spec_path.display()), None))?;
    let sm = spec_mounts(&spec);
    let root = PathBuf::from(s(&spec, "/root/path"));
    let root = if root.is_absolute() { root } else { bundle.join(root) };

    let mountinfo = read_proc(pid, "mountinfo")?;
    let cgroup_mounts =
        if ctx.cgroup == cgroup::Version::V1 && !sm.cgroupns { cgroup::v1_mounts_in(&mountinfo) } else { Vec::new() };
    let masked_files = sm
        .masked
        .iter()
        .filter(|p| fs::metadata(format!("/proc/{pid}/root{p}")).is_ok_and(|m| !m.is_dir()))
        .cloned()
        .collect();
    let freezer = Freezer {
        version: ctx.cgroup,
        dir: cgroup::freezer_dir(
            ctx.cgroup,
            &read_proc(pid, "cgroup")?,
            &fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
        )
        .ok_or_else(|| {
            Error::host(
                format!(
                    "cannot find the {} freezer of container {name}",
                    if ctx.cgroup == cgroup::Version::V1 { "cgroup v1" } else { "cgroup v2" }
                ),
                "is cgroupfs mounted at /sys/fs/cgroup?",
            )
        })?,
    };
    let upper = PathBuf::from(s(c, "/GraphDriver/Data/UpperDir"));
    if !upper.is_dir() {
        return Err(Error::host(
            format!("the container's upper dir {} is not there", upper.display()),
            "docker-cr needs overlay2",
        ));
    }

    refuse_link_remaps(name, pid, &freezer, &upper)?;

    write_json(&dir.join(mf::CONTAINER), c)?;
    write_json(&dir.join(mf::SPEC), &spec)?;
    let images = dir.join(mf::IMAGES);
    fs::DirBuilder::new().mode(0o700).create(&images).at("create", &images)?;
    criu::write_private(&images.join(mf::DESCRIPTORS), &descriptors(pid))?;
    let opts = DumpOpts {
        pid,
        images_dir: images.clone(),
        work_dir: dir.to_path_buf(),
        log_file: mf::DUMP_LOG.into(),
        root,
        freeze_cgroup: freezer.dir.clone(),
        bind_mounts: sm.binds,
        cgroup_mounts,
        masked_files,
        tcp_established: a.tcp_established,
        ext_unix_sk: a.ext_unix_sk,
        file_locks: a.file_locks,
        nft_lock: ctx.criu.has_nft_lock(),
    };
    let conf = dir.join(mf::DUMP_CONF);
    criu::write_private(&conf, &criu::dump_config(&opts)?)?;
    session.cancel.check()?;

    // What the dump will write, roughly: the processes' anonymous memory.
    let expected = host::rss_anon(&freezer.pids().unwrap_or_default());
    // Paused by Docker: already frozen, and it must stay so, also on failure.
    let paused = freezer.is_frozen()?;
    let t0 = Instant::now();
    let frozen = if paused {
        None
    } else {
        lock.set_frozen(&freezer, &dir.join(mf::DUMP_LOG))?;
        let g = freezer.freeze()?;
        ctx.out.step(format!("froze {} in {} ms", freezer.dir.display(), t0.elapsed().as_millis()));
        Some(g)
    };
    let t1 = Instant::now();
    // A terminal: dumped through CRIU's RPC (see `criu::Tty`).
    let tty =
        (c.pointer("/Config/Tty") == Some(&Value::Bool(true))).then(|| criu::Tty { pid, images_dir: images.clone() });
    let ticker = Ticker::start(&ctx.out, format!("dumping {name}"), expected, {
        let images = images.clone();
        move || host::dir_size(&images)
    });
    // Hashes the page images as CRIU writes them (see host::follow).
    let follower = follow::Follower::start(&images)?;
    let dumped = ctx.criu.dump(&conf, &dir.join(mf::DUMP_LOG), lock.raw_fd(), tty.as_ref());
    drop(ticker);
    if let Err(e) = dumped {
        let log = fs::read_to_string(dir.join(mf::DUMP_LOG)).unwrap_or_default();
        return Err(match criu::unlock_network(pid, &log) {
            Ok(true) => {
                ctx.out.step("removed the network lock CRIU left in the container's network namespace");
                e
            }
            Ok(false) => e,
            Err(by_hand) => match e {
                Error::Criu { action, status, log, excerpt } => {
                    let excerpt = if excerpt.is_empty() {
                        format!("note: {by_hand}")
                    } else {
                        format!("{excerpt}\nnote: {by_hand}")
                    };
                    Error::Criu { action, status, log, excerpt }
                }
                e => e,
            },
        });
    }
    let criu_ms = t1.elapsed().as_millis() as u64;
    ctx.out.step(format!("criu dump done in {criu_ms} ms"));
    session.cancel.check()?;
    let t2 = Instant::now();
    let tar_path = dir.join(mf::ROOTFS_DIFF);
    let f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tar_path).at("create", &tar_path)?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let rst = rootfs::capture(&upper, &mut w)?;
    w.flush().at("write", &tar_path)?;
    let rootfs_ms = t2.elapsed().as_millis() as u64;
    session.cancel.check()?;

    // Seals the checkpoint: digests, manifest, signature, sync. Without
    // --stop this runs after the thaw (the files are read back from the
    // page cache, outside the frozen window).
    let seal = |frozen_ms: u64, follower: follow::Follower| -> Result<Manifest> {
        // Before the digests: CRIU saved expired periodic timerfds with a
        // zero value, which its restore would take as "disarmed". Runs
        // after the thaw unless --stop (then everything is frozen anyway).
        for t in crate::model::timerfd::fix_in_dir(&images)? {
            ctx.out.step(format!(
                "timerfd {:#x}: periodic ({} us), expired unread at the freeze; saved to fire one period after the restore (CRIU would restore it disarmed)",
                t.id,
                t.interval_ns / 1000
            ));
        }
        let (images_bytes, pages_bytes) = dir_bytes(&images);
        let t3 = Instant::now();
        let (known, known_early) = follower.finish(mf::IMAGES)?;
        let files = mf::sum_dir_known(dir, &known)?;
        let sums_ms = t3.elapsed().as_millis() as u64;
        let addresses = c
            .pointer("/NetworkSettings/Networks")
            .and_then(Value::as_object)
            .map(|n| {
                n.values()
                    .filter_map(|v| v["IPAddress"].as_str())
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let m = Manifest {
            format: mf::FORMAT,
            tool: format!("docker-cr {}", env!("CARGO_PKG_VERSION")),
            created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            container: mf::Source {
                id: id.to_string(),
                name: name.to_string(),
                image: s(c, "/Image").to_string(),
                init_pid: pid,
                paused,
                addresses,
            },
            host: mf::Host {
                criu: ctx.criu.version_string(),
                kernel: ctx.kernel.clone(),
                arch: std::env::consts::ARCH.to_string(),
                cgroup: ctx.cgroup.number(),
                storage_driver: ctx.storage.clone(),
                docker: ctx.docker_version.clone(),
            },
            options: mf::DumpOptions {
                tcp_established: a.tcp_established,
                ext_unix_sk: a.ext_unix_sk,
                file_locks: a.file_locks,
                stopped: a.stop,
            },
            timings_ms: mf::Timings {
                total: ctx.out.elapsed_ms(),
                frozen: frozen_ms,
                criu_dump: criu_ms,
                rootfs: rootfs_ms,
                checksums: sums_ms,
            },
            sizes: mf::Sizes {
                images_bytes,
                pages_bytes,
                rootfs_diff_bytes: fs::metadata(&tar_path).map(|m| m.len()).unwrap_or(0),
                rootfs_files: rst.files,
                rootfs_deleted: rst.deleted,
            },
            files,
        };
        let text = mf::to_json(&m);
        criu::write_private(&dir.join(mf::MANIFEST), &text)?;
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        criu::write_private(&dir.join(trust::SIG), &trust::sign(key, host.trim(), text.as_bytes()))?;
        // Durable before it is visible: the rename comes after this.
        let t4 = Instant::now();
        follow::sync_tree(dir)?;
        ctx.out.step(format!(
            "sealed: digests in {sums_ms} ms after the dump ({} of the page images hashed while CRIU wrote them), synced in {} ms",
            mib(known_early),
            t4.elapsed().as_millis()
        ));
        Ok(m)
    };

    if a.stop {
        // Still frozen. Everything that can fail is done first: the
        // checkpoint is sealed and moved into place; only then is the
        // container told not to restart and SIGKILLed, so no code of it runs
        // after the instant we saved (a SIGTERM handler could write files we
        // did not capture). If one of these last steps fails, the frozen
        // guard thaws the container, and the checkpoint stays.
        let m = seal(t0.elapsed().as_millis() as u64, follower)?;
        publish()?;
        session.cancel.check()?;
        ctx.engine.update_restart_policy(id, &json!({ "Name": "no" }))?;
        for p in freezer.pids()? {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(p).ok_or_else(|| Error::container("bad pid in cgroup.procs", ""))?,
                rustix::process::Signal::KILL,
            );
        }
        match frozen {
            Some(g) => g.thaw()?,
            None => freezer.thaw()?,
        }
        lock.clear()?;
        let code = ctx.engine.wait_not_running(id)?;
        ctx.out.step(format!("stopped container {name} (exit {code}); its restart policy is now \"no\""));
        return Ok(m);
    }
    if let Some(g) = frozen {
        g.thaw()?;
        ctx.out.step(format!("thawed container {name}"));
    } else {
        ctx.out.step(format!("container {name} was paused; left paused"));
    }
    lock.clear()?;
    let m = seal(t0.elapsed().as_millis() as u64, follower)?;
    publish()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
