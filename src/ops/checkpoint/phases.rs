//! A checkpoint's steps, each a call of its own so that a caller can
//! compose them: one container (`super::run`: prepare, freeze, dump,
//! capture, then thaw and seal, or seal and stop, then publish), or a
//! group frozen together (freeze every member, then dump each).
//!
//! ```text
//! prepare   the container's lock, the .NAME.partial directory (private),
//!           container.json, spec.json, descriptors.json, criu.conf
//! freeze    the cgroup freezer (a container Docker paused stays as it is)
//! dump      criu dump into the partial directory
//! capture   the file changes (rootfs-diff.tar), still frozen
//! thaw      the container runs again
//! seal      digests (page images hashed during the dump), manifest,
//!           signature, sync (after the thaw, unless --stop)
//! publish   rename into place, parent synced
//! stop      --stop: restart policy "no", SIGKILL while frozen, thaw, wait
//! ```
//!
//! A `Job` that is dropped while the container is frozen thaws it; one
//! that fails before it is published leaves only CRIU's log, under
//! NAME.failed (`finish`).

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::plan::Plan;
use super::Outcome;
use crate::engine::docker;
use crate::error::{Error, IoContext, Result};
use crate::host::cgroup::Freezer;
use crate::host::criu::{self, DumpOpts};
use crate::host::follow;
use crate::host::state;
use crate::host::{self, Ctx};
use crate::model::manifest::{self as mf, Manifest};
use crate::model::rootfs;
use crate::model::trust;
use crate::report::Ticker;
use crate::session::Session;

/// One container's checkpoint under way (see the module doc).
pub struct Job<'a> {
    session: &'a Session,
    ctx: &'a Ctx,
    pub plan: Plan,
    /// The container as inspected (its network holder's settings folded in).
    c: Value,
    spec: Value,
    freezer: Freezer,
    lock: state::ContainerLock,
    key: ed25519_dalek::SigningKey,
    /// The partial directory, as CRIU and we reach it (see `private_dir`),
    /// and the descriptor that keeps that path valid.
    work: PathBuf,
    _keep: fs::File,
    /// We froze it (and must thaw it).
    frozen: bool,
    /// Docker had paused it: frozen, and it stays so.
    paused: bool,
    published: bool,
    t0: Option<Instant>,
    frozen_ms: u64,
    criu_ms: u64,
    rootfs_ms: u64,
    rootfs: Option<rootfs::Stats>,
    manifest: Option<Manifest>,
    /// Hashes the page images while CRIU writes them (see host::follow).
    follower: Option<follow::Follower>,
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    criu::write_private(path, &serde_json::to_string_pretty(v).unwrap_or_default())
}

/// The link targets of the first process's fds 0-2 (runc needs them).
fn descriptors(pid: i32) -> String {
    let links: Vec<String> = (0..3)
        .map(|fd| {
            fs::read_link(format!("/proc/{pid}/fd/{fd}")).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
        })
        .collect();
    serde_json::to_string(&links).unwrap_or_else(|_| "[]".into())
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

/// Takes the container's lock, makes the private partial directory and
/// writes what the dump needs: the saved container, the spec, the
/// descriptors, CRIU's config. `plan` must be free of refusals.
pub fn prepare<'a>(session: &'a Session, ctx: &'a Ctx, plan: Plan, c: Value, spec: Value) -> Result<Job<'a>> {
    let Some(freezer) = plan.freezer.clone() else {
        return Err(Error::host(format!("no freezer for container {}", plan.name), ""));
    };
    let lock = state::ContainerLock::take(Path::new(state::DIR), &plan.id, &plan.name)?;
    // Before anything is frozen: a host that cannot sign fails now.
    let keys = &session.keys;
    let key = keys.host_key().map_err(|e| e.step(format!("this host's signing key in {}", keys.dir.display())))?;
    if let Some(parent) = plan.partial.parent() {
        fs::create_dir_all(parent).at("create", parent)?;
    }
    mf::create_partial(&plan.partial, &plan.dir, "checkpoint")?;
    // Everything below goes through this descriptor: in a parent directory
    // that others can write to, the name could be swapped for a symlink
    // after the mkdir, and CRIU would write memory pages wherever it points.
    let (work, keep) = match private_dir(&plan.partial) {
        Ok(w) => w,
        Err(e) => {
            let _ = fs::remove_dir_all(&plan.partial);
            return Err(e);
        }
    };
    ctx.out.step(format!(
        "checkpointing container {} ({}) into {}",
        plan.name,
        docker::short_id(&plan.id),
        plan.dir.display()
    ));
    let job = Job {
        session,
        ctx,
        plan,
        c,
        spec,
        freezer,
        lock,
        key,
        work,
        _keep: keep,
        frozen: false,
        paused: false,
        published: false,
        t0: None,
        frozen_ms: 0,
        criu_ms: 0,
        rootfs_ms: 0,
        rootfs: None,
        manifest: None,
        follower: None,
    };
    job.write_inputs()?;
    Ok(job)
}

/// A `Job::dump_lazy` under way: CRIU serving the container's memory
/// over the socket returned beside it, until the destination has every page (then it exits 0)
/// or the stream ends.
pub struct LiveDump {
    pub dump: criu::LazyDump,
    /// /run/docker-cr/live-ID: the hook's socket and CRIU's log, which
    /// grows while CRIU serves (so not in the checkpoint, which is sent
    /// meanwhile).
    dir: PathBuf,
    /// CRIU's log is kept (`kept_log`) whatever the outcome: it wrote
    /// memory it should have left lazy, and the log says which mappings.
    keep_log: bool,
}

impl LiveDump {
    /// Where CRIU's log is kept when it is: /run/docker-cr/criu-live-ID-dump.log.
    fn kept_log(&self) -> PathBuf {
        let name = self.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Path::new(crate::host::paths::RUN).join(format!("criu-{name}-dump.log"))
    }

    /// Waits until CRIU has ended. Its log is kept if it failed (named in
    /// the error) or if `keep_log`.
    pub fn finish(mut self) -> Result<()> {
        let r = self.dump.wait();
        let r = match r {
            Err(Error::Criu { action, status, log, excerpt }) => {
                let keep = self.kept_log();
                let log = if fs::rename(&log, &keep).is_ok() { keep } else { log };
                Err(Error::Criu { action, status, log, excerpt })
            }
            r => {
                if self.keep_log {
                    let _ = fs::rename(self.dir.join(mf::DUMP_LOG), self.kept_log());
                }
                r
            }
        };
        let _ = fs::remove_dir_all(&self.dir);
        r
    }
}

impl Drop for LiveDump {
    /// A step after the dump failed: CRIU killed (the tasks stay frozen,
    /// for the job to thaw), its directory gone.
    fn drop(&mut self) {
        self.dump.kill();
        if self.keep_log {
            let _ = fs::rename(self.dir.join(mf::DUMP_LOG), self.kept_log());
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What a lazy dump left behind, said after it: how much memory waits for
/// the destination and how much went into the checkpoint. `Err` (a
/// warning) when CRIU left none of it lazy although there was memory: the
/// migration still works, but as slowly as a stop-and-copy one. Pure.
pub fn live_pages_note(name: &str, p: &crate::model::pagemap::Pages) -> std::result::Result<String, String> {
    let mib = |pages: u64| pages as f64 * 4096.0 / (1 << 20) as f64;
    let copied = p.eager.saturating_add(p.lazy.saturating_sub(p.remote));
    if p.remote == 0 && copied > 0 {
        return Err(format!(
            "CRIU left none of {name}'s memory here to be served: all {:.1} MiB went into the checkpoint, so this migration takes as long as one without --live",
            mib(copied)
        ));
    }
    Ok(format!(
        "{:.1} MiB of {name}'s memory waits here for the destination; {:.1} MiB went into the checkpoint",
        mib(p.remote),
        mib(copied)
    ))
}

impl Job<'_> {
    /// The partial directory, as reached (sealed, it is a whole checkpoint).
    pub fn work(&self) -> &Path {
        &self.work
    }

    fn images(&self) -> PathBuf {
        self.work.join(mf::IMAGES)
    }

    fn dump_opts(&self) -> DumpOpts {
        let p = &self.plan;
        DumpOpts {
            pid: p.pid,
            images_dir: self.images(),
            work_dir: self.work.clone(),
            log_file: mf::DUMP_LOG.into(),
            root: p.root.clone(),
            freeze_cgroup: self.freezer.dir.clone(),
            bind_mounts: p.bind_mounts.clone(),
            cgroup_mounts: p.cgroup_mounts.clone(),
            masked_files: p.masked_files.clone(),
            tcp_established: p.tcp_established,
            ext_unix_sk: p.ext_unix_sk,
            file_locks: p.file_locks,
            nft_lock: p.nft_lock,
            lazy_source: None,
        }
    }

    fn write_inputs(&self) -> Result<()> {
        let dir = &self.work;
        write_json(&dir.join(mf::CONTAINER), &self.c)?;
        write_json(&dir.join(mf::SPEC), &self.spec)?;
        let images = self.images();
        fs::DirBuilder::new().mode(0o700).create(&images).at("create", &images)?;
        criu::write_private(&images.join(mf::DESCRIPTORS), &descriptors(self.plan.pid))?;
        criu::write_private(&dir.join(mf::DUMP_CONF), &criu::dump_config(&self.dump_opts())?)?;
        self.session.cancel.check()
    }

    /// Freezes the container's cgroup (recorded in its lock first, so that
    /// a killed run's repair thaws it). A container Docker paused is frozen
    /// already and stays so, also on failure.
    pub fn freeze(&mut self) -> Result<()> {
        self.paused = self.freezer.is_frozen()?;
        let t0 = Instant::now();
        self.t0 = Some(t0);
        if !self.paused {
            self.lock.set_frozen(&self.freezer, &self.work.join(mf::DUMP_LOG))?;
            // The guard thaws at once if the freeze itself fails; once it
            // holds, `self.frozen` (and Drop) take over.
            self.freezer.freeze()?.keep();
            self.frozen = true;
            self.ctx.out.step(format!("froze {} in {} ms", self.freezer.dir.display(), t0.elapsed().as_millis()));
        }
        Ok(())
    }

    /// `criu dump` of the frozen container into the partial directory.
    pub fn dump(&mut self) -> Result<()> {
        let (ctx, name, pid) = (self.ctx, self.plan.name.clone(), self.plan.pid);
        let images = self.images();
        let t1 = Instant::now();
        // A terminal: dumped through CRIU's RPC (see `criu::Tty`).
        let tty = self.plan.tty.then(|| criu::Tty { pid, images_dir: images.clone() });
        let ticker = Ticker::start(&ctx.out, format!("dumping {name}"), self.plan.expected_bytes, {
            let images = images.clone();
            move || host::dir_size(&images)
        });
        let conf = self.work.join(mf::DUMP_CONF);
        self.follower = Some(follow::Follower::start(&images, self.plan.stop)?);
        let dumped = ctx.criu.dump(&conf, &self.work.join(mf::DUMP_LOG), self.lock.raw_fd(), tty.as_ref());
        drop(ticker);
        if let Err(e) = dumped {
            return Err(self.dump_error(e));
        }
        self.criu_ms = t1.elapsed().as_millis() as u64;
        ctx.out.step(format!("criu dump done in {} ms", self.criu_ms));
        self.session.cancel.check()
    }

    /// A failed dump's error, with the network lock CRIU may have left in
    /// the container's namespace removed (or how to remove it by hand).
    fn dump_error(&self, e: Error) -> Error {
        let log = fs::read_to_string(self.work.join(mf::DUMP_LOG)).unwrap_or_default();
        match criu::unlock_network(self.plan.pid, &log) {
            Ok(true) => {
                self.ctx.out.step("removed the network lock CRIU left in the container's network namespace");
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
        }
    }

    /// `migrate --live`: `criu dump` of the frozen container that writes
    /// every image but its private anonymous memory, and then serves those
    /// pages over the returned socket (CRIU's lazy migration) until the
    /// destination has them all. Returns once the images are written (CRIU
    /// ran its post-dump action: docker-cr itself, `criu::hook_main`); the
    /// container stays frozen, and its pages stay where they are.
    pub fn dump_lazy(&mut self) -> Result<(LiveDump, std::os::fd::OwnedFd)> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let (ctx, name) = (self.ctx, self.plan.name.clone());
        let t1 = Instant::now();
        let hook_dir = Path::new(crate::host::paths::RUN).join(format!("live-{}", docker::short_id(&self.plan.id)));
        let _ = fs::remove_dir_all(&hook_dir);
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&hook_dir).at("create", &hook_dir)?;
        let hook_sock = hook_dir.join("hook");
        let listener = std::os::unix::net::UnixListener::bind(&hook_sock).at("listen on", &hook_sock)?;
        listener.set_nonblocking(true).at("listen on", &hook_sock)?;
        let mut fds = [0; 2];
        // SAFETY: socketpair(2) writes two fds into the array.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0
        {
            return Err(Error::host(
                format!("cannot create the socket for CRIU's pages: {}", std::io::Error::last_os_error()),
                "",
            ));
        }
        // SAFETY: both fds are new and ours.
        let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let exe = std::env::current_exe().at("find", Path::new("/proc/self/exe"))?;
        let log = hook_dir.join(mf::DUMP_LOG);
        let mut o = self.dump_opts();
        o.log_file = log.to_string_lossy().into_owned();
        o.lazy_source = Some(criu::LazySource { ps_socket: theirs.as_raw_fd(), hook: exe });
        let conf = self.work.join(mf::DUMP_CONF);
        // prepare wrote the plain dump's; this one adds the lazy lines.
        fs::remove_file(&conf).at("replace", &conf)?;
        criu::write_private(&conf, &criu::dump_config(&o)?)?;
        self.follower = Some(follow::Follower::start(&self.images(), self.plan.stop)?);
        let mut dump = ctx.criu.dump_lazy(&conf, &log, &[self.lock.raw_fd(), theirs.as_raw_fd()], &hook_sock)?;
        drop(theirs);
        ctx.out.step(format!("dumping {name} without its private memory (it stays here, served on demand)"));
        let reported = loop {
            match listener.accept() {
                Ok((mut s, _)) => {
                    use std::io::Read;
                    let mut word = [0u8; 10];
                    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                    let _ = s.read(&mut word);
                    if word.starts_with(b"post-dump") {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => break Err(Error::host(format!("CRIU's post-dump hook on {}: {e}", hook_sock.display()), "")),
            }
            if let Some(ended) = dump.try_wait() {
                break Err(ended.err().unwrap_or_else(|| {
                    Error::checkpoint(
                        format!("criu dump of {name} ended before its post-dump action"),
                        format!("see CRIU's log, {}", log.display()),
                    )
                }));
            }
            if let Err(e) = self.session.cancel.check() {
                break Err(e);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let _ = fs::remove_file(&hook_sock);
        if let Err(e) = reported {
            dump.kill();
            let live = LiveDump { dump, dir: hook_dir, keep_log: false };
            let e = match live.finish() {
                Err(c @ Error::Criu { .. }) => c,
                _ => e,
            };
            return Err(self.dump_error(e));
        }
        self.criu_ms = t1.elapsed().as_millis() as u64;
        ctx.out.step(format!("criu dump done in {} ms", self.criu_ms));
        let mut live = LiveDump { dump, dir: hook_dir, keep_log: false };
        match crate::model::pagemap::count_dir(&self.images()).map(|p| live_pages_note(&name, &p)) {
            Ok(Ok(note)) => ctx.out.step(note),
            Ok(Err(warning)) => {
                live.keep_log = true;
                ctx.out.warn(format!(
                    "{warning}; CRIU's log, kept as {}, says why (its lines 'Pagemap generated', one a mapping)",
                    live.kept_log().display()
                ));
            }
            Err(e) => return Err(e),
        }
        Ok((live, ours))
    }

    /// The file changes of the still frozen container (rootfs-diff.tar).
    pub fn capture(&mut self) -> Result<()> {
        let t2 = Instant::now();
        let tar_path = self.work.join(mf::ROOTFS_DIFF);
        let f =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tar_path).at("create", &tar_path)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let st = rootfs::capture(&self.plan.upper, &mut w)?;
        w.flush().at("write", &tar_path)?;
        self.rootfs = Some(st);
        self.rootfs_ms = t2.elapsed().as_millis() as u64;
        self.session.cancel.check()
    }

    /// Lets the container run again (a paused one stays paused).
    pub fn thaw(&mut self) -> Result<()> {
        self.frozen_ms = self.t0.map_or(0, |t| t.elapsed().as_millis() as u64);
        if self.frozen {
            self.freezer.thaw()?;
            self.frozen = false;
            self.ctx.out.step(format!("thawed container {}", self.plan.name));
        } else {
            self.ctx.out.step(format!("container {} was paused; left paused", self.plan.name));
        }
        self.lock.clear()
    }

    /// Digests, manifest, signature, sync: the checkpoint is complete and
    /// durable (not yet visible). Without --stop this runs after the thaw
    /// (the files are read back from the page cache, outside the frozen
    /// window).
    pub fn seal(&mut self) -> Result<()> {
        if self.frozen {
            // --stop: the window lasts until the kill; counted to here.
            self.frozen_ms = self.t0.map_or(0, |t| t.elapsed().as_millis() as u64);
        }
        let (ctx, dir, c) = (self.ctx, self.work.clone(), &self.c);
        let images = self.images();
        // Before the digests: CRIU saved expired periodic timerfds with a
        // zero value, which its restore would take as "disarmed".
        for t in crate::model::timerfd::fix_in_dir(&images)? {
            ctx.out.step(format!(
                "timerfd {:#x}: periodic ({} us), expired unread at the freeze; saved to fire one period after the restore (CRIU would restore it disarmed)",
                t.id,
                t.interval_ns / 1000
            ));
        }
        let (images_bytes, pages_bytes) = dir_bytes(&images);
        let t3 = Instant::now();
        // What the follower hashed during the dump is not read again.
        let (known, known_early) = match self.follower.take() {
            Some(f) => f.finish(mf::IMAGES)?,
            None => Default::default(),
        };
        let files = mf::sum_dir_known(&dir, &known)?;
        let sums_ms = t3.elapsed().as_millis() as u64;
        let s = |ptr: &str| c.pointer(ptr).and_then(Value::as_str).unwrap_or("").to_string();
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
        let rst = self.rootfs.unwrap_or_default();
        let p = &self.plan;
        let m = Manifest {
            format: mf::FORMAT,
            tool: format!("docker-cr {}", env!("CARGO_PKG_VERSION")),
            created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            container: mf::Source {
                id: p.id.clone(),
                name: p.name.clone(),
                image: s("/Image"),
                init_pid: p.pid,
                paused: self.paused,
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
                tcp_established: p.tcp_established,
                ext_unix_sk: p.ext_unix_sk,
                file_locks: p.file_locks,
                stopped: p.stop,
            },
            timings_ms: mf::Timings {
                total: ctx.out.elapsed_ms(),
                frozen: self.frozen_ms,
                criu_dump: self.criu_ms,
                rootfs: self.rootfs_ms,
                checksums: sums_ms,
            },
            sizes: mf::Sizes {
                images_bytes,
                pages_bytes,
                rootfs_diff_bytes: fs::metadata(dir.join(mf::ROOTFS_DIFF)).map(|m| m.len()).unwrap_or(0),
                rootfs_files: rst.files,
                rootfs_deleted: rst.deleted,
            },
            files,
        };
        let text = mf::to_json(&m);
        criu::write_private(&dir.join(mf::MANIFEST), &text)?;
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        criu::write_private(&dir.join(trust::SIG), &trust::sign(&self.key, host.trim(), text.as_bytes()))?;
        // Durable before it is visible: the rename comes after this.
        // Each file and directory of it, not syncfs: that would also wait
        // for whatever else is being written to the filesystem.
        let t4 = Instant::now();
        follow::sync_tree(&dir)?;
        ctx.out.step(format!(
            "sealed: digests in {sums_ms} ms after the dump ({} of the page images hashed while CRIU wrote them), synced in {} ms",
            super::plan::mib(known_early),
            t4.elapsed().as_millis()
        ));
        self.manifest = Some(m);
        Ok(())
    }

    /// Moves the sealed checkpoint into place; from here on it is never
    /// deleted, whatever fails after.
    pub fn publish(&mut self) -> Result<()> {
        let (partial, dir) = (&self.plan.partial, &self.plan.dir);
        mf::rename_noreplace(partial, dir)?;
        self.published = true;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            let d = fs::File::open(parent).at("open", parent)?;
            d.sync_all().at("sync", parent)?;
        }
        Ok(())
    }

    /// --stop, once sealed and published while still frozen: the restart
    /// policy "no", SIGKILL to every process, so no code of it runs after
    /// the instant saved (a SIGTERM handler could write files not
    /// captured); then the thaw lets the kill land.
    pub fn stop(&mut self) -> Result<()> {
        let ctx = self.ctx;
        self.session.cancel.check()?;
        ctx.engine.update_restart_policy(&self.plan.id, &json!({ "Name": "no" }))?;
        for p in self.freezer.pids()? {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(p).ok_or_else(|| Error::container("bad pid in cgroup.procs", ""))?,
                rustix::process::Signal::KILL,
            );
        }
        self.freezer.thaw()?;
        self.frozen = false;
        self.lock.clear()?;
        let code = ctx.engine.wait_not_running(&self.plan.id)?;
        ctx.out.step(format!("stopped container {} (exit {code}); its restart policy is now \"no\"", self.plan.name));
        Ok(())
    }

    /// The outcome of the steps run (`r`): on success the checkpoint's
    /// report; on failure before it was published, only what explains the
    /// failure is kept (NAME.failed), and the container is thawed.
    pub fn finish(mut self, r: Result<()>) -> Result<Outcome> {
        if self.frozen {
            // A failed step: the container runs again before anything else.
            let _ = self.freezer.thaw();
            self.frozen = false;
        }
        let (ctx, name, dir) = (self.ctx, self.plan.name.clone(), self.plan.dir.clone());
        let criu_stats = crate::ops::inspect::dump_stats(&dir).ok().flatten();
        // Any freeze of ours has been undone by now (thawed, or kept because
        // Docker had paused it): the record must not make a later run thaw.
        let _ = self.lock.clear();
        match (r, self.manifest.take()) {
            (Ok(()), Some(m)) => {
                remove_if_ours(&self.plan.failed);
                let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1 << 20) as f64);
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
                    if self.plan.stop { "; container stopped" } else { "; container running" },
                ));
                ctx.out.step(format!("peak RSS of docker-cr: {} KiB", ctx.out.peak_rss_kib()));
                Ok(Outcome { dir, manifest: m, criu: criu_stats })
            }
            (Ok(()), None) => Err(Error::checkpoint(
                format!("the checkpoint of container {name} was not sealed"),
                "this is a bug of docker-cr: report it",
            )),
            // The checkpoint is complete and in place: whatever failed after
            // that (stopping the container), it is never deleted.
            (Err(e), _) if self.published => {
                Err(e.step(format!("the checkpoint of container {name} is complete in {}, but then", dir.display())))
            }
            (Err(e), _) => Err(self.keep_failure(e)),
        }
    }

    /// Keeps only what explains a failure, under a name that says so:
    /// NAME.failed, or NAME.failed-<time> if that is taken (a directory of
    /// the user's is never replaced).
    fn keep_failure(&self, e: Error) -> Error {
        let (work, partial, failed) = (&self.work, &self.plan.partial, &self.plan.failed);
        for e in fs::read_dir(work).into_iter().flatten().flatten() {
            let n = e.file_name();
            if n != mf::DUMP_LOG && n != mf::DUMP_CONF {
                let p = e.path();
                let _ =
                    if e.file_type().is_ok_and(|t| t.is_dir()) { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            }
        }
        let has_log = work.join(mf::DUMP_LOG).exists();
        let kept = if has_log {
            remove_if_ours(failed);
            let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let mut alt = failed.clone().into_os_string();
            alt.push(format!("-{stamp}"));
            [failed.clone(), PathBuf::from(alt)].into_iter().find(|f| mf::rename_noreplace(partial, f).is_ok())
        } else {
            None
        };
        let cleanup = if kept.is_some() { Ok(()) } else { fs::remove_dir_all(partial).at("remove", partial) };
        let e = match (e, kept) {
            (Error::Criu { action, status, excerpt, .. }, Some(k)) => {
                Error::Criu { action, status, log: k.join(mf::DUMP_LOG), excerpt }
            }
            (e, _) => e,
        };
        e.step(format!("checkpoint of container {}", self.plan.name)).with_cleanup(cleanup)
    }
}

impl Drop for Job<'_> {
    /// However a caller ends (an error between steps, a panic), a container
    /// we froze runs again.
    fn drop(&mut self) {
        if self.frozen {
            let _ = self.freezer.thaw();
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

#[cfg(test)]
mod tests {
    use super::live_pages_note;
    use crate::model::pagemap::Pages;

    #[test]
    fn a_lazy_dump_that_left_nothing_lazy_is_a_warning() {
        let served = Pages { lazy: 16384, eager: 256, in_parent: 0, remote: 16384 };
        assert_eq!(
            live_pages_note("web", &served).unwrap(),
            "64.0 MiB of web's memory waits here for the destination; 1.0 MiB went into the checkpoint"
        );
        let eager = Pages { lazy: 0, eager: 17152, in_parent: 0, remote: 0 };
        let w = live_pages_note("web", &eager).unwrap_err();
        assert!(w.contains("all 67.0 MiB went into the checkpoint"), "{w}");
        // Nothing to serve and nothing written (no private memory): fine.
        assert!(live_pages_note("web", &Pages::default()).is_ok());
    }
}
