//! What a run needs from the host, checked up front in the order that gives
//! the most useful error first: root, CRIU, the engine (`Ctx`, opened once
//! by the session); the signal mask that lets us roll back on Ctrl-C; and
//! small /proc and cgroupfs readings.

pub mod cgroup;
pub mod check;
pub mod criu;
pub mod follow;
pub mod fs;
pub mod lazy;
pub mod paths;
pub mod precopy;
pub mod probe;
pub mod relay;
pub mod runcconf;
pub mod state;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engine::docker::Engine;
use crate::error::{Error, Result};
use crate::host::criu::Criu;
use crate::report::Out;
use crate::session::Session;

/// The engine and the host's facts an operation that checkpoints or
/// restores needs (see `Session::ctx`).
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
    pub out: Out,
}

impl Ctx {
    /// `repair`: thaw what an interrupted docker-cr left frozen (not for a
    /// preview, which changes nothing).
    pub fn open(s: &Session, need_experimental: bool, repair: bool) -> Result<Ctx> {
        require_root()?;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        let criu = Criu::find(&s.criu_bin, &kernel)?;
        let engine = s.engine()?.clone();
        if need_experimental {
            experimental(&engine)?;
        }
        let info = engine.info()?;
        let st = |k: &str| info.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let cgroup = match st("CgroupVersion").as_str() {
            "2" => cgroup::Version::V2,
            _ => cgroup::Version::V1,
        };
        if repair {
            for dir in crate::host::state::recover_frozen(Path::new(crate::host::state::DIR)) {
                s.out.step(format!("thawed {}: an interrupted docker-cr had left it frozen", dir.display()));
            }
        }
        Ok(Ctx {
            criu,
            kernel,
            cgroup,
            root_dir: PathBuf::from(st("DockerRootDir")),
            storage: st("Driver"),
            docker_version: st("ServerVersion"),
            cgroup_driver: st("CgroupDriver"),
            engine_id: st("ID"),
            engine,
            out: s.out.clone(),
        })
    }

    /// Restoring from a checkpoint needs the engine's experimental mode.
    pub fn require_experimental(&self) -> Result<()> {
        experimental(&self.engine)
    }

    /// The same facts, reported through `out`.
    pub fn with_out(&self, out: Out) -> Ctx {
        Ctx {
            engine: self.engine.clone(),
            criu: self.criu.clone(),
            kernel: self.kernel.clone(),
            cgroup: self.cgroup,
            root_dir: self.root_dir.clone(),
            storage: self.storage.clone(),
            docker_version: self.docker_version.clone(),
            cgroup_driver: self.cgroup_driver.clone(),
            engine_id: self.engine_id.clone(),
            out,
        }
    }
}

fn experimental(engine: &Engine) -> Result<()> {
    if engine.experimental {
        return Ok(());
    }
    Err(Error::host(
        format!(
            "the Docker engine at {} is not in experimental mode, which restoring from a checkpoint needs",
            engine.socket.display()
        ),
        "set \"experimental\": true in /etc/docker/daemon.json and restart dockerd",
    ))
}

/// The first thing checked: without root nothing else can even be looked at.
pub fn require_root() -> Result<()> {
    if rustix::process::geteuid().is_root() {
        return Ok(());
    }
    Err(Error::host("docker-cr must run as root (CRIU and the engine's files need it)", "run it again with sudo"))
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

/// The anonymous memory (RssAnon) of these processes, in bytes: what a
/// dump writes, roughly, and what a restore brings back.
pub fn rss_anon(pids: &[i32]) -> u64 {
    let kib: u64 = pids
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
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
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The bytes of the files directly in `dir` (CRIU's images as they grow).
pub fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
}
