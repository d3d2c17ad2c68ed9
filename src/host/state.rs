//! docker-cr's own runtime state under /run/docker-cr: one lock file per
//! container being checkpointed or restored. Holding its flock means "a
//! checkpoint or restore of this container is running" (a second one fails
//! clearly instead of running two CRIU dumps on one tree, or two restores
//! moving one upper dir aside). While the container is frozen, the file says
//! which cgroup, so a run killed with SIGKILL (which no rollback survives) is
//! repaired by the next run: an unlocked file that still says "frozen" means
//! its owner died, and the cgroup is thawed.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::host::cgroup::{Freezer, Version};

pub const DIR: &str = crate::host::paths::LOCKS;

#[derive(Debug)]
pub struct ContainerLock {
    file: fs::File,
    path: PathBuf,
}

/// The record of a frozen cgroup: `frozen v1|v2 <dir>`, then `log <path>`
/// of the CRIU log (it names CRIU's network lock, should CRIU die too).
pub fn frozen_record(f: &Freezer, log: &Path) -> String {
    format!("frozen v{} {}\nlog {}\n", f.version.number(), f.dir.display(), log.display())
}

pub fn parse_record(text: &str) -> Option<(Freezer, Option<PathBuf>)> {
    let mut lines = text.lines();
    let rest = lines.next()?.strip_prefix("frozen ")?;
    let (v, dir) = rest.split_once(' ')?;
    let version = match v {
        "v1" => Version::V1,
        "v2" => Version::V2,
        _ => return None,
    };
    let log = lines.next().and_then(|l| l.strip_prefix("log ")).map(PathBuf::from);
    Some((Freezer { version, dir: PathBuf::from(dir) }, log))
}

/// The record of a network namespace held by a group restore (`held
/// <pid>`: a restored member's, until every member is restored).
pub fn held_record(pid: i32) -> String {
    format!("held {pid}\n")
}

pub fn parse_held(text: &str) -> Option<i32> {
    text.lines().next()?.strip_prefix("held ")?.trim().parse().ok().filter(|p| *p > 0)
}

/// Undoes a dead run's hold of a network namespace (see `held_record`).
fn repair_held(text: &str) -> bool {
    match parse_held(text) {
        Some(pid) => crate::host::criu::unlock_network_and_hold(pid, "").is_ok(),
        None => false,
    }
}

/// Undoes a dead run's freeze, and CRIU's network lock if CRIU died too
/// (and a dead group checkpoint's hold on the namespace).
fn repair(f: &Freezer, log: Option<&Path>) -> Result<()> {
    f.thaw()?;
    if let Some(pid) = f.pids().ok().and_then(|p| p.first().copied()) {
        let text = log.and_then(|l| fs::read_to_string(l).ok()).unwrap_or_default();
        let _ = crate::host::criu::unlock_network_and_hold(pid, &text);
    }
    Ok(())
}

fn open(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path).at("open", path)
}

/// What one attempt at a lock file gave.
enum Attempt {
    Locked(fs::File),
    Busy,
    /// We locked an inode that is no longer the one at the path: its holder
    /// unlinked it (when done, or `recover_frozen`) after we opened it. A
    /// lock on it excludes nobody, since the next run creates a new file.
    Stale,
}

/// Locks `file`, opened from `path`, without blocking, and checks that the
/// locked inode is still the one at `path` (fstat(2) against stat(2)).
/// Whoever unlinks a lock file holds its lock, so once the check passes
/// nobody can unlink it under us until we let go.
fn lock_if_current(file: fs::File, path: &Path) -> Result<Attempt> {
    use std::os::unix::fs::MetadataExt;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Ok(Attempt::Busy),
        Err(e) => return Err(e).at("lock", path),
    }
    let ours = file.metadata().at("stat", path)?;
    match fs::metadata(path) {
        Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => Ok(Attempt::Locked(file)),
        Ok(_) => Ok(Attempt::Stale),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Attempt::Stale),
        Err(e) => Err(e).at("stat", path),
    }
}

/// Opens (creating) and locks `path`; None while another run holds it.
fn try_lock(path: &Path) -> Result<Option<fs::File>> {
    // Each stale round means a holder let go meanwhile; a few suffice, the
    // bound only keeps a pathological churn from spinning forever.
    for _ in 0..100 {
        match lock_if_current(open(path)?, path)? {
            Attempt::Locked(f) => return Ok(Some(f)),
            Attempt::Busy => return Ok(None),
            Attempt::Stale => continue,
        }
    }
    Ok(None)
}

impl ContainerLock {
    /// Takes the lock of container `id`, or says who holds it.
    pub fn take(dir: &Path, id: &str, name: &str) -> Result<ContainerLock> {
        fs::create_dir_all(dir).at("create", dir)?;
        let path = dir.join(format!("{id}.lock"));
        // Another run's repair scan holds each lock for an instant: give it
        // a moment before concluding that a checkpoint or restore is running.
        let mut tries = 0;
        let file = loop {
            if let Some(f) = try_lock(&path)? {
                break f;
            }
            if tries == 20 {
                return Err(Error::container(
                    format!("another docker-cr is checkpointing or restoring container {name} right now"),
                    "wait for it to finish, then try again",
                ));
            }
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let lock = ContainerLock { file, path };
        // We hold the lock: a "frozen" or "held" record in it is a dead run's.
        let text = fs::read_to_string(&lock.path).unwrap_or_default();
        if let Some((f, log)) = parse_record(&text) {
            repair(&f, log.as_deref())?;
        }
        repair_held(&text);
        lock.write("")?;
        Ok(lock)
    }

    fn write(&self, text: &str) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.set_len(0).at("write", &self.path)?;
        self.file.write_all_at(text.as_bytes(), 0).at("write", &self.path)
    }

    /// Records that `f` is about to be frozen by us, and where CRIU logs.
    pub fn set_frozen(&self, f: &Freezer, log: &Path) -> Result<()> {
        self.write(&frozen_record(f, log))
    }

    /// Records that the network namespace of `pid` is about to be held.
    pub fn set_held(&self, pid: i32) -> Result<()> {
        self.write(&held_record(pid))
    }

    pub fn clear(&self) -> Result<()> {
        self.write("")
    }

    /// The locked fd, for a child that must hold the lock with us.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.file.as_raw_fd()
    }
}

impl Drop for ContainerLock {
    fn drop(&mut self) {
        // Only an empty record may be left behind by a live run; the file
        // itself is tiny and reused by the next checkpoint of the container.
        if fs::read_to_string(&self.path).map(|t| t.is_empty()).unwrap_or(false) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Thaws every container an earlier, killed run left frozen. Returns what
/// it thawed. Locks held by live runs are skipped.
pub fn recover_frozen(dir: &Path) -> Vec<PathBuf> {
    let mut thawed = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        // Only a lock on the file that is at the path now: a stale inode's
        // record would be some live run's, read through the path.
        let Ok(Some(_file)) = try_lock(&path) else { continue };
        let text = fs::read_to_string(&path).unwrap_or_default();
        if let Some((f, log)) = parse_record(&text) {
            if repair(&f, log.as_deref()).is_ok() {
                thawed.push(f.dir.clone());
            }
        }
        if let Some(pid) = parse_held(&text).filter(|_| repair_held(&text)) {
            thawed.push(PathBuf::from(format!("/proc/{pid}/ns/net")));
        }
        let _ = fs::remove_file(&path);
    }
    thawed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn records_round_trip() {
        let f = Freezer { version: Version::V2, dir: "/sys/fs/cgroup/docker/a b".into() };
        let (back, log) = parse_record(&frozen_record(&f, Path::new("/cp/.x.partial/criu-dump.log"))).unwrap();
        assert_eq!((back.version, back.dir), (Version::V2, f.dir));
        assert_eq!(log, Some(PathBuf::from("/cp/.x.partial/criu-dump.log")));
        assert!(parse_record("frozen v1 /sys/fs/cgroup/freezer/docker/x\n").unwrap().1.is_none());
        assert!(parse_record("").is_none());
        assert!(parse_record("frozen v3 /x").is_none());
        assert_eq!(parse_held(&held_record(4242)), Some(4242));
        assert_eq!((parse_held("held 0\n"), parse_held("frozen v1 /x\n"), parse_held("held x")), (None, None, None));
        assert!(parse_record(&held_record(1)).is_none(), "a hold is no freeze");
    }

    #[test]
    fn a_dead_runs_frozen_cgroup_is_thawed_and_live_locks_are_kept() {
        let base = std::env::temp_dir().join(format!("docker-cr-state-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let cg = base.join("cg");
        fs::create_dir_all(&cg).unwrap();
        fs::write(cg.join("freezer.state"), "FROZEN").unwrap();
        let locks = base.join("locks");
        fs::create_dir_all(&locks).unwrap();
        let f = Freezer { version: Version::V1, dir: cg.clone() };
        fs::write(locks.join("dead.lock"), frozen_record(&f, Path::new("/nonexistent.log"))).unwrap();
        // A live run holds its lock: left alone.
        let live = ContainerLock::take(&locks, "live", "web").unwrap();
        live.set_frozen(&Freezer { version: Version::V1, dir: base.join("other") }, Path::new("/x.log")).unwrap();
        assert!(ContainerLock::take(&locks, "live", "web").unwrap_err().to_string().contains("another docker-cr"));
        assert_eq!(recover_frozen(&locks), vec![cg.clone()]);
        assert_eq!(fs::read_to_string(cg.join("freezer.state")).unwrap(), "THAWED");
        assert!(locks.join("live.lock").exists());
        live.clear().unwrap();
        drop(live);
        assert!(!locks.join("live.lock").exists());
        fs::remove_dir_all(&base).unwrap();
    }

    /// Issue 7, finding 6: a waiter that opened the lock file before its
    /// holder unlinked it must not end up "holding" the unlinked inode while
    /// a third run holds a new file at the same path.
    #[test]
    fn only_one_holder_at_a_time_despite_unlinks() {
        let dir = std::env::temp_dir().join(format!("docker-cr-lockrace-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let holders = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (dir, holders, most) = (dir.clone(), holders.clone(), most.clone());
                std::thread::spawn(move || {
                    while std::time::Instant::now() < until {
                        if let Ok(l) = ContainerLock::take(&dir, "c", "web") {
                            let n = holders.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(2));
                            holders.fetch_sub(1, Ordering::SeqCst);
                            drop(l);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(most.load(Ordering::SeqCst), 1, "two runs held the container's lock at once");
    }
}
