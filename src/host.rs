//! What a run needs from the host, checked up front in the order that gives
//! the most useful error first: root, CRIU, the engine. Also the progress
//! printer and the signal mask that lets us roll back on Ctrl-C.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::cgroup;
use crate::cli::Global;
use crate::criu::Criu;
use crate::docker::{self, Engine};
use crate::error::{Error, Result};

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
        let socket = docker::socket_from_env(std::env::var("DOCKER_HOST").ok().as_deref())?;
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
        for dir in crate::state::recover_frozen(Path::new(crate::state::DIR)) {
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
