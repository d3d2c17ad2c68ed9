//! Starting the container from the placed checkpoint: the restore's CRIU
//! options (the container's own config file, or /etc/criu/runc.conf for
//! the one start), the engine's start, CRIU's verdict from its log, what
//! became of the connections, and a paused container paused again.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::create::CONF_DONE;
use super::files::MAX_FILES_IMG;
use super::plan::{v2_cgroup, Plan};
use super::{Job, LazyStats, Outcome};
use crate::engine::holder;
use crate::error::{Error, IoContext, Result};
use crate::host::cgroup;
use crate::host::criu::{self, LazyPages, RestoreOpts, TcpRestore};
use crate::host::lazy::{self, PageSource};
use crate::host::runcconf::{self, RuncConf};
use crate::host::{self, Ctx};
use crate::model::manifest::{self as mf};
use crate::model::pagemap::Pages;
use crate::report::Ticker;

/// CRIU's last line of a successful restore.
const RESTORE_OK: &str = "Restore finished successfully";

/// containerd unpacks every checkpoint it starts from into
/// /tmp/ctrd-checkpoint* and never removes it. Other tools' restores put
/// theirs there too, so ours are told apart by `marker`, a file with a name
/// unique to this run that we put into the checkpoint we hand the engine.
fn remove_our_ctrd_dirs(marker: &str) {
    for e in fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let d = e.path();
        if e.file_name().as_encoded_bytes().starts_with(b"ctrd-checkpoint")
            && fs::symlink_metadata(d.join(marker)).is_ok()
        {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// CRIU's stats-restore of a container just restored: runc has CRIU write it
/// into its work dir, which the shim (the parent of the container's first
/// process) reaches from its working directory; a lazy restore's CRIU
/// writes it into the work dir of its config (`work`).
fn restore_stats(ctx: &Ctx, id: &str, work: Option<&Path>) -> Option<serde_json::Map<String, Value>> {
    if let Some(w) = work {
        let raw = mf::read_limited(w, "stats-restore", 1 << 20).ok()??;
        return crate::ops::inspect::stats(&raw, true).ok();
    }
    let pid = ctx.engine.inspect(id).ok()??.pointer("/State/Pid")?.as_i64()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:"))?.trim().to_string();
    let bundle = fs::read_link(format!("/proc/{ppid}/cwd")).ok()?;
    // containerd's shim v2 keeps runc's work dir behind the link `work`.
    let work = fs::canonicalize(bundle.join("work")).unwrap_or(bundle);
    let raw = mf::read_limited(&work, "stats-restore", 1 << 20).ok()??;
    crate::ops::inspect::stats(&raw, true).ok()
}

/// The checkpoint name the engine is given; unique to this run, since it
/// also names the marker of our unpacked copy (`marker`).
pub(super) fn cp_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("docker-cr-{}-{nanos}", std::process::id())
}

/// The file that marks containerd's copy of checkpoint `cp_name` as ours.
pub(super) fn marker(cp_name: &str) -> String {
    format!("{cp_name}.unpacked-for-docker-cr")
}

/// What the start of one restored container needs, besides the job and
/// its plan.
pub(super) struct Start<'a> {
    pub id: &'a str,
    pub cgroup_parent: &'a str,
    /// The checkpoint's name as the engine knows it (`cp_name`).
    pub cp_name: &'a str,
    /// Our checkpoint directory (a failed restore's log is kept there).
    pub cp_dir: &'a Path,
    /// The container's own CRIU config file, if the engine has one.
    pub criu_conf: Option<&'a Path>,
    /// Brought back paused, none of its code running (see `repause`).
    pub paused: bool,
    /// The images as placed for the engine (a lazy restore's CRIU and its
    /// page source read them there, in place).
    pub placed: &'a Path,
    pub ext_mounts: Vec<(String, PathBuf)>,
}

/// Starts the container from the placed checkpoint: the verification
/// waited for, CRIU's options written, the engine's start, CRIU's verdict
/// read from its log, and a paused container paused again. A lazy restore
/// starts its page source first and watches it after, until every page is
/// in (`supervise`).
pub(super) fn start(job: Job, p: &Plan, s: Start, out: &mut Outcome) -> Result<()> {
    let ctx = job.ctx;
    let log = log_path(s.id)?;
    wait_verified(&job, out)?;
    let lazy = match p.lazy {
        Some(_) => Some(LazyPages { work_dir: lazy_work_dir(s.id)?, images_dir: s.placed.to_path_buf() }),
        None => None,
    };
    let opts = RestoreOpts {
        tcp: p.tcp,
        ext_unix_sk: job.m().options.ext_unix_sk,
        file_locks: job.m().options.file_locks,
        cgroup_root_v2: (ctx.cgroup == cgroup::Version::V2)
            .then(|| v2_cgroup(&ctx.cgroup_driver, s.cgroup_parent, s.id)),
        log_file: log.clone(),
        leave_stopped: s.paused,
        ext_mounts: s.ext_mounts,
    };
    let text = criu::restore_config_with(&opts, lazy.as_ref())?;
    // The relay (migrate --live) runs until this process ends: the source
    // closes the stream once its CRIU has answered the last request.
    let (mut source, relay) = match &lazy {
        Some(l) => {
            let (src, relay) = page_source(ctx, l, job.a.live)?;
            (Some(src), relay)
        }
        None => (None, None),
    };
    // A lazy restore's memory comes after the start: nothing to tick.
    let ticker = source.is_none().then(|| memory_ticker(ctx, s.cgroup_parent, s.id, job.m().sizes.pages_bytes));
    let t0 = Instant::now();
    let started = engine_start(ctx, s.id, s.cp_name, s.criu_conf, &text);
    drop(ticker);
    remove_our_ctrd_dirs(&marker(s.cp_name));
    verdict(ctx, started, &log, s.cp_dir)?;
    let resumed = t0.elapsed();
    out.criu = restore_stats(ctx, s.id, lazy.as_ref().map(|l| l.work_dir.as_path()));
    if s.paused {
        repause(ctx, s.id)?;
        ctx.out.step("the container was paused at the checkpoint: restored paused (docker unpause to run it)");
    }
    if let (Some(src), Some(l), Some(pages)) = (source.as_mut(), &lazy, p.lazy) {
        supervise(job, &p.name, s.id, src, relay.as_ref(), Watch { t0, resumed, pages }, out)?;
        let _ = fs::remove_dir_all(&l.work_dir);
    }
    Ok(())
}

/// A lazy restore's own directory: CRIU's work dir (its socket to the page
/// source, stats-restore) and the page source's log. Short (the socket's
/// path must fit a sockaddr_un), private, made anew.
fn lazy_work_dir(id: &str) -> Result<PathBuf> {
    let run = Path::new(crate::host::paths::RUN);
    let dir = run.join(format!("lazy-{}", crate::engine::docker::short_id(id)));
    let _ = fs::remove_dir_all(&dir);
    // A failed lazy restore keeps its directory (the page source's log,
    // which its error names); a day later nobody reads it any more.
    let now = std::time::SystemTime::now();
    let old: Vec<(std::ffi::OsString, Option<Duration>)> = fs::read_dir(run)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            (e.file_name(), e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| now.duration_since(t).ok()))
        })
        .collect();
    for n in stale_lazy_dirs(&old, STALE_LAZY) {
        let _ = fs::remove_dir_all(run.join(n));
    }
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).at("create", &dir)?;
    Ok(dir)
}

/// How old a lazy restore's directory left by a failure may grow.
const STALE_LAZY: Duration = Duration::from_secs(24 * 3600);

/// Of the entries of /run/docker-cr (name, age), the lazy restores'
/// directories older than `max`. Pure.
fn stale_lazy_dirs(entries: &[(std::ffi::OsString, Option<Duration>)], max: Duration) -> Vec<std::ffi::OsString> {
    entries
        .iter()
        .filter(|(n, age)| n.as_encoded_bytes().starts_with(b"lazy-") && age.is_some_and(|a| a > max))
        .map(|(n, _)| n.clone())
        .collect()
}

/// How long the page source may run on after the stream from the source
/// has ended (`supervise`): the last pages and its own end take moments.
const STREAM_GRACE: Duration = Duration::from_secs(5);

/// How long the page source may take to listen.
const SOURCE_READY: Duration = Duration::from_secs(30);
/// How often a lazy restore's page source is looked at: a dead one leaves
/// holes that read as zeros (seen here: a GET answered an empty value
/// before the container was stopped), so not seldom.
const SOURCE_POLL: Duration = Duration::from_millis(10);

/// Starts the page source a lazy restore connects to.
/// With `live`, the pages come from the checkpoint's source (`migrate
/// --live`): the daemon's page-server socket is relayed to our stdout
/// (its requests) and from our stdin (the answers, after the archive).
fn page_source(ctx: &Ctx, l: &LazyPages, live: bool) -> Result<(PageSource, Option<crate::host::relay::Relay>)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let pair = if live {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| Error::host(format!("cannot create the socket for the pages: {e}"), ""))?;
        Some((OwnedFd::from(ours), OwnedFd::from(theirs)))
    } else {
        None
    };
    let spec = lazy::Spec {
        images_dir: l.images_dir.clone(),
        work_dir: l.work_dir.clone(),
        page_server: None,
        ps_socket: pair.as_ref().map(|(_, t)| t.as_raw_fd()),
    };
    let src = PageSource::start(&ctx.criu.bin, &spec, SOURCE_READY)
        .map_err(|e| e.step("starting the lazy restore's page source (criu lazy-pages)"))?;
    let relay = match pair {
        Some((ours, theirs)) => {
            drop(theirs);
            // Our own handles of stdin and stdout: the archive's frames were
            // read to their end mark from the same pipe, nothing beyond.
            // SAFETY: dup(2) of fds 0 and 1; each new fd is owned once.
            let (inp, outp) = unsafe {
                let (i, o) = (libc::dup(0), libc::dup(1));
                if i < 0 || o < 0 {
                    return Err(Error::host(
                        format!("cannot dup stdin/stdout: {}", std::io::Error::last_os_error()),
                        "",
                    ));
                }
                (fs::File::from_raw_fd(i), fs::File::from_raw_fd(o))
            };
            ctx.out.step("the pages come from the source, over the transport (stdin and stdout)");
            Some(crate::host::relay::Relay::start(ours, inp, outp).at("relay the pages over", Path::new("stdin"))?)
        }
        None => None,
    };
    ctx.out.step(format!(
        "page source listening on {} (criu lazy-pages, pid {}; log {})",
        src.socket().display(),
        src.pid().unwrap_or(0),
        src.log().display()
    ));
    Ok((src, relay))
}

/// What `supervise` reports against: when the engine's start began, how
/// long it took, and the checkpoint's pages (`model::pagemap`).
struct Watch {
    t0: Instant,
    resumed: Duration,
    pages: Pages,
}

/// A lazy restore's second half: the container runs while its page source
/// brings the rest of its memory; watched until it has delivered every
/// page. If it dies first, or the operator interrupts, the container is
/// stopped at once: the pages not yet in would read as zeros.
fn supervise(
    job: Job,
    name: &str,
    id: &str,
    src: &mut PageSource,
    relay: Option<&crate::host::relay::Relay>,
    w: Watch,
    out: &mut Outcome,
) -> Result<()> {
    let ctx = job.ctx;
    let mib = |n: u64| n as f64 * 4096.0 / (1 << 20) as f64;
    ctx.out.step(format!(
        "{name} runs since {} ms; {:.0} MiB of its memory comes lazily (on first touch and in the background), \
         {:.0} MiB was copied before it ran",
        w.resumed.as_millis(),
        mib(w.pages.lazy),
        mib(w.pages.eager)
    ));
    // migrate --live: when the stream from the source ends, the source has
    // answered the last request, and the page source ends within moments;
    // if it does not, the stream broke (the transport, or the source died)
    // and the pages it still waits for will never come.
    let mut input_ended: Option<Instant> = None;
    let outcome = loop {
        if let Some(o) = src.poll() {
            break o.clone();
        }
        if input_ended.is_none() && relay.is_some_and(|r| r.input_ended()) {
            input_ended = Some(Instant::now());
        }
        if input_ended.is_some_and(|t| t.elapsed() > STREAM_GRACE) {
            ctx.out.progress_end();
            ctx.out.warn(format!(
                "the stream from the source ended {} s ago and the page source still waits for pages: the transport broke or the source failed; stopping {name}",
                STREAM_GRACE.as_secs()
            ));
            let stop = ctx.engine.kill(id);
            src.kill();
            return Err(Error::container(
                format!("lazy restore of {name}: the stream from the source ended before every page was in; the container was stopped (its memory was not all in)"),
                "migrate again once the connection to the source holds; the source runs on",
            )
            .with_cleanup(stop));
        }
        if job.session.cancel.is_set() {
            ctx.out.progress_end();
            let stop = ctx.engine.kill(id);
            src.kill();
            return Err(Error::Interrupted
                .step(format!(
                    "lazy restore of {name}: interrupted before every page was in; the container was stopped (its memory was not all in)"
                ))
                .with_cleanup(stop));
        }
        let p = src.progress();
        let expected = p.lazy_pages.max(w.pages.lazy);
        ctx.out.progress(
            "lazy pages in",
            p.copied_pages.saturating_mul(4096),
            expected.saturating_mul(4096),
            w.t0.elapsed().as_secs_f64() - w.resumed.as_secs_f64(),
        );
        std::thread::sleep(SOURCE_POLL);
    };
    ctx.out.progress_end();
    let all_in = w.t0.elapsed();
    match outcome {
        lazy::Outcome::Delivered(p) => {
            ctx.out.step(p.delivered_line((all_in - w.resumed).as_secs_f64()));
            out.lazy = Some(LazyStats {
                lazy_pages: p.lazy_pages,
                eager_pages: w.pages.eager,
                copied_pages: p.copied_pages,
                faults: p.faults,
                resumed_ms: w.resumed.as_millis() as u64,
                all_in_ms: all_in.as_millis() as u64,
            });
            Ok(())
        }
        lazy::Outcome::Died { status, progress, excerpt } => {
            let stop = ctx.engine.kill(id);
            if stop.is_ok() {
                ctx.out.step(format!("stopped {name}: its page source ended before every page was in"));
            }
            Err(lazy::died_error(name, &status, &progress, &excerpt, &src.log()).with_cleanup(stop))
        }
    }
}

/// Where CRIU writes this restore's log (a private directory of ours; the
/// engine's bundle, where runc would put it, is deleted on failure).
fn log_path(id: &str) -> Result<PathBuf> {
    let logs = Path::new(crate::host::paths::RUN);
    fs::DirBuilder::new().recursive(true).mode(0o700).create(logs).at("create", logs)?;
    let log = logs.join(format!("restore-{id}.log"));
    let _ = fs::remove_file(&log);
    Ok(log)
}

/// The page images were hashed while the container was created and its
/// files put in place; CRIU reads them only once every digest matched (its
/// restorer parses some of that memory, the vDSO, as an ELF image: nothing
/// of a checkpoint reaches CRIU unverified).
fn wait_verified(job: &Job, out: &mut Outcome) -> Result<()> {
    let was_pending = job.verifying.pending();
    let (bytes, ms) = job.verifying.wait_timed()?;
    if ms > 0 {
        out.verify = ms;
    }
    if was_pending {
        job.ctx.out.step(format!(
            "verified {} files ({:.1} MiB) against the manifest's {} digests in {ms} ms, the page images while the container was created",
            job.m().files.len(),
            bytes as f64 / (1 << 20) as f64,
            crate::model::manifest::Digest::of_format(job.m().format).name(),
        ));
    }
    Ok(())
}

/// Progress while CRIU restores the memory: it grows in the new
/// container's cgroup, read from its memory counter, or (no memory
/// controller there, as on hybrid hosts) from the anonymous memory of the
/// processes in it.
fn memory_ticker(ctx: &Ctx, cgroup_parent: &str, id: &str, pages_bytes: u64) -> Ticker {
    let cg = v2_cgroup(&ctx.cgroup_driver, cgroup_parent, id);
    let (mem, procs) = if ctx.cgroup == cgroup::Version::V2 {
        (PathBuf::from(format!("/sys/fs/cgroup{cg}/memory.current")), PathBuf::from(format!("/sys/fs/cgroup{cg}")))
    } else {
        (
            PathBuf::from(format!("/sys/fs/cgroup/memory{cg}/memory.usage_in_bytes")),
            PathBuf::from(format!("/sys/fs/cgroup/freezer{cg}")),
        )
    };
    Ticker::start(&ctx.out, "restoring memory".into(), pages_bytes, move || {
        match fs::read_to_string(&mem).ok().and_then(|t| t.trim().parse().ok()) {
            Some(b) => b,
            None => host::rss_anon(&host::cgroup_procs(&procs)),
        }
    })
}

/// The engine's start from checkpoint `cp_name`, with CRIU's options
/// `text` where runc reads them for this one start.
fn engine_start(ctx: &Ctx, id: &str, cp_name: &str, criu_conf: Option<&Path>, text: &str) -> Result<()> {
    match criu_conf {
        // The container's own file (org.criu.config): /etc/criu/runc.conf,
        // which every other runc checkpoint and restore reads, stays as it is.
        Some(p) => {
            criu::rewrite_private(p, text)?;
            ctx.out.step(format!("starting the container from the checkpoint (CRIU options in {})", p.display()));
            let started = ctx.engine.start_from_checkpoint(id, cp_name);
            if let Err(e) = criu::rewrite_private(p, CONF_DONE) {
                ctx.out.warn(format!("{e}: later checkpoints of {id} by the engine would read this restore's options"));
            }
            started
        }
        None => {
            let dir = Path::new(runcconf::DEFAULT_DIR);
            let conf = RuncConf::install(dir, text)?;
            ctx.out.step("starting the container from the checkpoint");
            let started = ctx.engine.start_from_checkpoint(id, cp_name);
            // At once: every runc checkpoint/restore on the host reads the file.
            match conf.remove() {
                Ok(put_back) => {
                    if let Some(w) = put_back.warning(dir) {
                        ctx.out.warn(w);
                    }
                }
                // The saved file stays, and the next docker-cr run puts it back;
                // the container itself is not the worse for it.
                Err(e) => ctx.out.warn(format!("{e}; the next docker-cr run puts it back")),
            }
            started
        }
    }
}

/// CRIU's verdict: the engine's answer and CRIU's last line must both say
/// the restore finished (an engine may start a container from scratch
/// when the restore fails). A failure names CRIU's log, kept in `cp_dir`.
fn verdict(ctx: &Ctx, started: Result<()>, log: &Path, cp_dir: &Path) -> Result<()> {
    let log_text = fs::read_to_string(log).unwrap_or_default();
    let ok = log_text.contains(RESTORE_OK);
    let started_failed = started.is_err();
    let result = match started {
        Err(e) => Err(e),
        Ok(()) if !ok => Err(Error::engine(
            "the engine started the container, but CRIU's log does not say the restore finished: it may have started from scratch",
            None,
        )),
        Ok(()) => Ok(()),
    };
    let Err(e) = result else {
        let _ = fs::remove_file(log);
        return Ok(());
    };
    if log_text.is_empty() && started_failed {
        // CRIU never ran: there is no log to point at.
        return Err(engine_refused(e, ctx));
    }
    // Docker deletes the bundle, and the log with it: keep our copy.
    let kept = cp_dir.join(mf::RESTORE_LOG);
    let _ = fs::remove_file(&kept);
    let log_path =
        if !log_text.is_empty() && criu::write_private(&kept, &log_text).is_ok() { kept } else { log.to_path_buf() };
    Err(Error::Criu {
        action: "restore",
        status: e.to_string(),
        log: log_path,
        excerpt: restore_excerpt(&log_text, cp_dir),
    })
}

/// The engine refused to start from the checkpoint before CRIU ran; said
/// plainly, with the upstream issue when it is the one Docker >= 28 has.
fn engine_refused(e: Error, ctx: &Ctx) -> Error {
    let msg = e.to_string();
    if msg.contains("/proc/0/ns/net") {
        return Error::host(
            format!(
                "Docker {} cannot start a checkpoint in a new network namespace ({}); CRIU never ran: {msg}",
                ctx.docker_version,
                holder::NETNS_ISSUE
            ),
            "restore it into a new container (docker rm it, or --name NEW): docker-cr then puts it behind a network holder",
        );
    }
    e.step("starting from the checkpoint (the engine refused before CRIU ran)")
}

/// What became of the checkpoint's TCP connections (see `tcp_mode`): the
/// rewrite's account (`local_only`), or, with the address kept, the
/// connections of its files.img; None when it has none or the image
/// cannot be read (the restore itself has succeeded: this is only a note).
pub(super) fn connections_note(
    cp_dir: &Path,
    tcp: Option<TcpRestore>,
    local_only: Option<&crate::model::sockets::LocalOnly>,
) -> Option<String> {
    match (tcp?, local_only) {
        (TcpRestore::LocalOnly, Some(l)) => crate::model::sockets::local_only_note(l),
        (TcpRestore::LocalOnly, None) => None,
        (TcpRestore::Established, _) => {
            let bytes = mf::read_limited(cp_dir, &format!("{}/files.img", mf::IMAGES), MAX_FILES_IMG).ok()??;
            let n = crate::model::sockets::tcp(&bytes).ok()?.iter().filter(|s| s.connected).count();
            crate::model::sockets::restore_note(n)
        }
    }
}

/// CRIU's restore log excerpt, and the process it failed on, named by its
/// pid in the container and its command (from the checkpoint's core image).
fn restore_excerpt(log: &str, cp_dir: &Path) -> String {
    let mut e = criu::log_excerpt(log);
    if let Some(pid) = criu::restore_culprit(log) {
        let core = mf::read_limited(cp_dir, &format!("{}/core-{pid}.img", mf::IMAGES), 64 << 20).ok().flatten();
        let comm = core.as_deref().and_then(criu::comm_in_core);
        e.push_str(&format!(
            "\nnote: CRIU failed restoring process {pid}{} of the container",
            comm.map(|c| format!(" ({c})")).unwrap_or_default()
        ));
    }
    e
}

/// A checkpoint of a paused container: CRIU has left every restored task
/// stopped (`leave-stopped`: SIGSTOP before it let go of them), so none has
/// run a single instruction. The engine pauses the container (it freezes
/// the cgroup and records the state, so `docker unpause` works); then the
/// stopped tasks get SIGCONT: frozen, they go from the stop straight into
/// the freezer, and run only when unpaused. (CRIU's own freezer-state
/// restore is v1-only and invisible to the engine, and runc refuses to
/// pause a cgroup that is already frozen.) A failure here fails the
/// restore, which is rolled back as any other.
fn repause(ctx: &Ctx, id: &str) -> Result<()> {
    let freezer = restored_freezer(ctx, id)?;
    ctx.engine.pause(id).map_err(|e| {
        e.step("pausing the restored container (its checkpoint was taken paused; --unpause restores it running)")
    })?;
    if !freezer.is_frozen()? {
        return Err(Error::engine(
            format!("the engine paused the restored container, but its cgroup {} is not frozen", freezer.dir.display()),
            None,
        ));
    }
    for p in freezer.pids()? {
        if let Some(pid) = rustix::process::Pid::from_raw(p) {
            // A task that is gone needs no waking.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        }
    }
    Ok(())
}

/// The freezer cgroup of the restored container `id` (its tasks).
fn restored_freezer(ctx: &Ctx, id: &str) -> Result<cgroup::Freezer> {
    let c = ctx.engine.inspect(id)?.ok_or_else(|| Error::engine("the restored container vanished", None))?;
    let pid = c.pointer("/State/Pid").and_then(Value::as_i64).unwrap_or(0);
    let proc_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .at("read", Path::new(&format!("/proc/{pid}/cgroup")))
        .map_err(|e| e.step("finding the restored container's cgroup"))?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = cgroup::freezer_dir(ctx.cgroup, &proc_cgroup, &mountinfo).ok_or_else(|| {
        Error::host(
            "cannot find the restored container's freezer cgroup (its tasks are held stopped until they may run)",
            "is cgroupfs mounted at /sys/fs/cgroup?",
        )
    })?;
    Ok(cgroup::Freezer { version: ctx.cgroup, dir })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_lazy_dirs_are_stale() {
        let day = Duration::from_secs(24 * 3600);
        let e = |n: &str, h: Option<u64>| (std::ffi::OsString::from(n), h.map(|h| Duration::from_secs(h * 3600)));
        let entries = [
            e("lazy-0123456789ab", Some(30)),
            e("lazy-ba9876543210", Some(2)),
            e("lazy-ffffffffffff", None),
            e("restore-0123.log", Some(90)),
            e("containers", Some(90)),
        ];
        assert_eq!(stale_lazy_dirs(&entries, day), vec![std::ffi::OsString::from("lazy-0123456789ab")]);
    }
}
