//! What a run needs from the host, checked up front in the order that gives
//! the most useful error first: root, CRIU, the engine. Also the progress
//! printer and the signal mask that lets us roll back on Ctrl-C.

pub mod cgroup;
pub mod check;
pub mod criu;
pub mod probe;
pub mod runcconf;
pub mod state;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::cli::Global;
use crate::engine::docker::{self, Engine};
use crate::error::{Error, Result};
use crate::host::criu::Criu;

pub struct Ctx {
    pub engine: Engine,
    pub criu: Criu,
    pub kernel: String,
    pub cgroup: cgroup::Version,
    pub root_dir: PathBuf,
    pub storage: String,
    pub docker_version: String,
    pub cgroup_driver: String,
    /// The engine's ID (`/info`): names its share of docker-cr's files
    /// under /var/lib/docker-cr, which engines on one host share.
    pub engine_id: String,
    pub out: Progress,
}

impl Ctx {
    pub fn open(g: &Global, need_experimental: bool) -> Result<Ctx> {
        require_root()?;
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        let criu = Criu::find(&g.criu, &kernel)?;
        let socket = docker::socket()?;
        let engine = Engine::connect(&socket)?;
        if need_experimental && !engine.experimental {
            return Err(Error::host(
                format!(
                    "the Docker engine at {} is not in experimental mode, which restoring from a checkpoint needs",
                    socket.display()
                ),
                "set \"experimental\": true in /etc/docker/daemon.json and restart dockerd",
            ));
        }
        let info = engine.info()?;
        let s = |k: &str| info.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let cgroup = match s("CgroupVersion").as_str() {
            "2" => cgroup::Version::V2,
            _ => cgroup::Version::V1,
        };
        let out = Progress::new(g.quiet);
        for dir in crate::host::state::recover_frozen(Path::new(crate::host::state::DIR)) {
            out.step(format!("thawed {}: an interrupted docker-cr had left it frozen", dir.display()));
        }
        Ok(Ctx {
            criu,
            kernel,
            cgroup,
            root_dir: PathBuf::from(s("DockerRootDir")),
            storage: s("Driver"),
            docker_version: s("ServerVersion"),
            cgroup_driver: s("CgroupDriver"),
            engine_id: s("ID"),
            engine,
            out,
        })
    }
}

/// The first thing checked: without root nothing else can even be looked at.
pub fn require_root() -> Result<()> {
    if rustix::process::geteuid().is_root() {
        return Ok(());
    }
    Err(Error::host("docker-cr must run as root (CRIU and the engine's files need it)", "run it again with sudo"))
}

/// Progress lines on stderr, each with the time since the start.
pub struct Progress {
    quiet: bool,
    start: Instant,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { quiet, start: Instant::now() }
    }
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }
    pub fn step(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("docker-cr: [{:>6.3}s] {msg}", self.start.elapsed().as_secs_f64());
        }
    }
    /// Something the user should know even with --quiet.
    pub fn warn(&self, msg: impl std::fmt::Display) {
        eprintln!("docker-cr: warning: {msg}");
    }
    /// Our own peak resident memory (VmHWM), in KiB; CRIU's is not in it.
    pub fn peak_rss_kib(&self) -> u64 {
        fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().to_string()))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
    pub fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// SIGINT, SIGTERM and SIGHUP are blocked for the whole run, so no signal
/// lands between "frozen" and "thawed". We look for a pending one between
/// steps and roll back, then exit with status 130.
pub fn block_signals() {
    // SAFETY: plain libc calls on a stack-allocated sigset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

pub fn interrupted() -> bool {
    // SAFETY: as above.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigpending(&mut set);
        [libc::SIGINT, libc::SIGTERM, libc::SIGHUP].iter().any(|&s| libc::sigismember(&set, s) == 1)
    }
}

pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// The live line of a long dump or restore: bytes done of expected, rate.
/// Pure.
pub fn progress_line(what: &str, done: u64, expected: u64, secs: f64) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let rate = if secs > 0.0 { mib(done) / secs } else { 0.0 };
    if expected > 0 {
        let pct = (done as f64 * 100.0 / expected as f64).min(100.0);
        format!("{what}: {:.0} / {:.0} MiB ({pct:.0}%), {rate:.0} MiB/s", mib(done), mib(expected))
    } else {
        format!("{what}: {:.0} MiB, {rate:.0} MiB/s", mib(done))
    }
}

/// Redraws `progress_line` on stderr every 200 ms while it lives, when
/// stderr is a terminal and not --quiet; erases it when dropped.
pub struct Ticker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn start(quiet: bool, what: String, expected: u64, probe: impl Fn() -> u64 + Send + 'static) -> Ticker {
        use std::io::{IsTerminal, Write};
        if quiet || !std::io::stderr().is_terminal() {
            return Ticker { stop: None, thread: None };
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t0 = Instant::now();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_millis(200))
            {
                let line = progress_line(&what, probe(), expected, t0.elapsed().as_secs_f64());
                let _ = write!(std::io::stderr(), "\r\x1b[Kdocker-cr: {line}");
            }
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        });
        Ticker { stop: Some(tx), thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The anonymous memory (RssAnon) of these processes, in bytes: what a
/// dump writes, roughly, and what a restore brings back.
pub fn rss_anon(pids: &[i32]) -> u64 {
    let kib: u64 = pids
        .iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum();
    kib * 1024
}

/// The processes listed in a cgroup directory's cgroup.procs.
pub fn cgroup_procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The bytes of the files directly in `dir` (CRIU's images as they grow).
pub fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines() {
        assert_eq!(progress_line("dump", 100 << 20, 400 << 20, 2.0), "dump: 100 / 400 MiB (25%), 50 MiB/s");
        assert_eq!(progress_line("dump", 500 << 20, 400 << 20, 0.0), "dump: 500 / 400 MiB (100%), 0 MiB/s");
        assert_eq!(progress_line("restore", 3 << 20, 0, 1.0), "restore: 3 MiB, 3 MiB/s");
    }
}
