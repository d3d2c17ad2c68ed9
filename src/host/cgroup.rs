//! Finding a container's cgroup and freezing it through cgroupfs, on cgroup v1
//! (`freezer.state`) and v2 (`cgroup.freeze` + `cgroup.events`). Freezing
//! returns a `Frozen` guard that thaws when dropped, so no error path leaves a
//! container frozen.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Version {
    #[default]
    V1,
    V2,
}

impl Version {
    pub fn number(self) -> u32 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }
}

/// One line of `/proc/<pid>/cgroup`: `ID:CONTROLLERS:PATH`.
#[derive(Debug, PartialEq)]
pub struct ProcCgroup {
    pub id: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let id = it.next()?.parse().ok()?;
            let ctrl = it.next()?;
            let path = it.next()?.to_string();
            let controllers = ctrl.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
            Some(ProcCgroup { id, controllers, path })
        })
        .collect()
}

/// One line of `/proc/<pid>/mountinfo`, reduced to what we use.
#[derive(Debug, PartialEq, Clone)]
pub struct MountInfo {
    pub root: String,
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
    pub super_opts: String,
}

/// Undoes the octal escapes (`\040` for a space) mountinfo uses.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            Some(MountInfo {
                root: unescape_mountinfo(pre.get(3)?),
                mount_point: unescape_mountinfo(pre.get(4)?),
                fstype: post.first()?.to_string(),
                source: unescape_mountinfo(post.get(1)?),
                super_opts: post.get(2).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

/// The directory whose freezer controls the container, from the container's
/// `/proc/<pid>/cgroup` and our own `/proc/self/mountinfo`.
pub fn freezer_dir(version: Version, proc_cgroup: &str, mountinfo: &str) -> Option<PathBuf> {
    let cgroups = parse_proc_cgroup(proc_cgroup);
    let mounts = parse_mountinfo(mountinfo);
    let (line, mount) = match version {
        Version::V1 => (
            cgroups.iter().find(|c| c.controllers.iter().any(|x| x == "freezer"))?,
            mounts.iter().find(|m| m.fstype == "cgroup" && m.super_opts.split(',').any(|o| o == "freezer"))?,
        ),
        Version::V2 => (
            cgroups.iter().find(|c| c.id == 0 && c.controllers.is_empty())?,
            mounts.iter().find(|m| m.fstype == "cgroup2")?,
        ),
    };
    // The mount may expose a subtree (root != "/"); the path is relative to
    // the hierarchy's root as our cgroup namespace sees it.
    let rel = line.path.strip_prefix(mount.root.trim_end_matches('/')).unwrap_or(&line.path);
    Some(Path::new(&mount.mount_point).join(rel.trim_start_matches('/')))
}

/// Every cgroup v1 hierarchy mounted under /sys/fs/cgroup in a container's
/// mountinfo: CRIU must treat them as external bind mounts.
pub fn v1_mounts_in(mountinfo: &str) -> Vec<String> {
    parse_mountinfo(mountinfo)
        .into_iter()
        .filter(|m| m.fstype == "cgroup" && m.mount_point.starts_with("/sys/fs/cgroup/"))
        .map(|m| m.mount_point)
        .collect()
}

#[derive(Debug, Clone)]
pub struct Freezer {
    pub version: Version,
    pub dir: PathBuf,
}

const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

impl Freezer {
    fn state_file(&self) -> PathBuf {
        match self.version {
            Version::V1 => self.dir.join("freezer.state"),
            Version::V2 => self.dir.join("cgroup.freeze"),
        }
    }

    /// Whether the cgroup is frozen now (for example by `docker pause`).
    pub fn is_frozen(&self) -> Result<bool> {
        match self.version {
            Version::V1 => {
                let p = self.state_file();
                Ok(fs::read_to_string(&p).at("read", &p)?.trim() != "THAWED")
            }
            Version::V2 => {
                let p = self.dir.join("cgroup.events");
                Ok(events_frozen(&fs::read_to_string(&p).at("read", &p)?))
            }
        }
    }

    fn write_state(&self, frozen: bool) -> Result<()> {
        let p = self.state_file();
        let v = match (self.version, frozen) {
            (Version::V1, true) => "FROZEN",
            (Version::V1, false) => "THAWED",
            (Version::V2, true) => "1",
            (Version::V2, false) => "0",
        };
        fs::write(&p, v).at("write", &p)
    }

    /// Freezes the cgroup and waits until every task is frozen.
    pub fn freeze(&self) -> Result<Frozen<'_>> {
        self.write_state(true)?;
        let guard = Frozen { freezer: self, done: false };
        match self.version {
            Version::V1 => self.wait_v1()?,
            Version::V2 => self.wait_v2()?,
        }
        Ok(guard)
    }

    /// v1 has no event for "frozen": poll freezer.state with a short backoff.
    fn wait_v1(&self) -> Result<()> {
        let p = self.state_file();
        let start = Instant::now();
        let mut pause = Duration::from_micros(100);
        loop {
            let s = fs::read_to_string(&p).at("read", &p)?;
            if s.trim() == "FROZEN" {
                return Ok(());
            }
            if start.elapsed() > FREEZE_TIMEOUT {
                return Err(self.timeout_error());
            }
            // A task in uninterruptible sleep can keep the cgroup FREEZING;
            // writing FROZEN again retries it (what runc does).
            let _ = fs::write(&p, "FROZEN");
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// v2 signals a change of cgroup.events with POLLPRI: wait on that.
    fn wait_v2(&self) -> Result<()> {
        let p = self.dir.join("cgroup.events");
        let mut f = fs::File::open(&p).at("open", &p)?;
        match wait_events_frozen(&mut f, FREEZE_TIMEOUT).at("read", &p)? {
            true => Ok(()),
            false => Err(self.timeout_error()),
        }
    }

    fn timeout_error(&self) -> Error {
        let _ = self.write_state(false);
        Error::container(
            format!("the cgroup {} did not freeze within {} s", self.dir.display(), FREEZE_TIMEOUT.as_secs()),
            "a process of the container is stuck in the kernel (state D, often NFS or FUSE); try again when it is not",
        )
    }

    /// Thaws; a cgroup that has gone (the container stopped) is not an error.
    pub fn thaw(&self) -> Result<()> {
        match self.write_state(false) {
            Err(Error::Io { ref source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    /// PIDs of every task in the cgroup and below it.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        collect_pids(&self.dir, &mut out)?;
        Ok(out)
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let p = dir.join("cgroup.procs");
    let text = fs::read_to_string(&p).at("read", &p)?;
    out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for e in fs::read_dir(dir).at("list", dir)? {
        let e = e.at("list", dir)?;
        if e.file_type().at("stat", &e.path())?.is_dir() {
            collect_pids(&e.path(), out)?;
        }
    }
    Ok(())
}

/// Waits until the open `cgroup.events` says `frozen 1`; false after
/// `timeout`. Each round reads the file through the polled fd, from the
/// start: kernfs keeps POLLPRI raised on an fd until that fd reads the file
/// again, so reading it by path instead made every poll after the first
/// event return at once, and the loop spin.
fn wait_events_frozen(events: &mut fs::File, timeout: Duration) -> std::io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags};
    use std::io::{Read, Seek, SeekFrom};
    let start = Instant::now();
    let mut text = String::new();
    loop {
        events.seek(SeekFrom::Start(0))?;
        text.clear();
        events.read_to_string(&mut text)?;
        if events_frozen(&text) {
            return Ok(true);
        }
        let Some(left) = timeout.checked_sub(start.elapsed()) else {
            return Ok(false);
        };
        let wait = left.min(Duration::from_millis(100));
        let ts = rustix::event::Timespec { tv_sec: 0, tv_nsec: wait.subsec_nanos().into() };
        let mut fds = [PollFd::new(&*events, PollFlags::PRI | PollFlags::ERR)];
        // EINTR or a spurious wake-up: the next round reads the file anyway.
        let _ = poll(&mut fds, Some(&ts));
    }
}

fn events_frozen(events: &str) -> bool {
    events.lines().any(|l| l.trim() == "frozen 1")
}

/// Thaws on drop unless told the thaw was done (or must not happen).
pub struct Frozen<'a> {
    freezer: &'a Freezer,
    done: bool,
}

impl Frozen<'_> {
    pub fn thaw(mut self) -> Result<()> {
        self.done = true;
        self.freezer.thaw()
    }
    /// Frozen it stays: the caller thaws it (and must, however it ends).
    pub fn keep(mut self) {
        self.done = true;
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.freezer.thaw();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_CGROUP: &str = "12:freezer:/docker/abc\n11:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n";
    const V2_CGROUP: &str = "0::/docker/abc\n";
    const HOST_MOUNTINFO_HYBRID: &str = "\
25 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
35 30 0:31 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
36 30 0:32 / /sys/fs/cgroup/cpu\\040x rw,relatime - cgroup cgroup rw,cpu
40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HOST_MOUNTINFO_V2: &str =
        "25 1 254:0 / / rw - ext4 /dev/vda rw\n30 25 0:26 / /sys/fs/cgroup rw - cgroup2 none rw\n";

    #[test]
    fn proc_cgroup_lines() {
        let c = parse_proc_cgroup(V1_CGROUP);
        assert_eq!(c[0], ProcCgroup { id: 12, controllers: vec!["freezer".into()], path: "/docker/abc".into() });
        assert_eq!(c[2].controllers, vec!["name=systemd".to_string()]);
        assert_eq!(c[3], ProcCgroup { id: 0, controllers: vec![], path: "/".into() });
    }

    #[test]
    fn freezer_on_v1_hybrid_and_v2() {
        assert_eq!(
            freezer_dir(Version::V1, V1_CGROUP, HOST_MOUNTINFO_HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/freezer/docker/abc"))
        );
        // A v2 engine on a hybrid host, seen from the host: the unified mount.
        assert_eq!(
            freezer_dir(Version::V2, V2_CGROUP, HOST_MOUNTINFO_HYBRID),
            Some(PathBuf::from("/sys/fs/cgroup/unified/docker/abc"))
        );
        assert_eq!(
            freezer_dir(Version::V2, V2_CGROUP, HOST_MOUNTINFO_V2),
            Some(PathBuf::from("/sys/fs/cgroup/docker/abc"))
        );
        assert_eq!(freezer_dir(Version::V1, V2_CGROUP, HOST_MOUNTINFO_V2), None);
    }

    #[test]
    fn mountinfo_escapes_and_v1_mounts() {
        let m = parse_mountinfo(HOST_MOUNTINFO_HYBRID);
        assert_eq!(m[3].mount_point, "/sys/fs/cgroup/cpu x");
        assert_eq!(v1_mounts_in(HOST_MOUNTINFO_HYBRID), vec!["/sys/fs/cgroup/freezer", "/sys/fs/cgroup/cpu x"]);
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("docker-cr-unit-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    // A fake v2 cgroup: the "kernel" reports frozen at once.
    #[test]
    fn v2_freeze_guard_thaws_on_drop() {
        let d = tempdir("v2");
        fs::write(d.join("cgroup.freeze"), "0").unwrap();
        fs::write(d.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        fs::write(d.join("cgroup.procs"), "10\n11\n").unwrap();
        let f = Freezer { version: Version::V2, dir: d.clone() };
        {
            let _g = f.freeze().unwrap();
            assert_eq!(fs::read_to_string(d.join("cgroup.freeze")).unwrap(), "1");
        }
        assert_eq!(fs::read_to_string(d.join("cgroup.freeze")).unwrap(), "0");
        assert_eq!(f.pids().unwrap(), vec![10, 11]);
        fs::remove_dir_all(&d).unwrap();
        assert!(f.thaw().is_ok(), "a vanished cgroup thaws without error");
    }

    // Issue "Trust and hardening": wait_v2 polled one fd and read the file by
    // path, so the event was never consumed and the loop spun. It reads
    // through the polled fd now: with the path gone, the fd still sees the
    // "kernel" (another fd on the same file) report frozen.
    #[test]
    fn v2_wait_reads_through_the_polled_fd() {
        use std::os::unix::fs::FileExt;
        let d = tempdir("v2-events");
        let p = d.join("cgroup.events");
        fs::write(&p, "populated 1\nfrozen 0\n").unwrap();
        let mut f = fs::File::open(&p).unwrap();
        let kernel = fs::OpenOptions::new().write(true).open(&p).unwrap();
        fs::remove_file(&p).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            kernel.write_all_at(b"populated 1\nfrozen 1\n", 0).unwrap();
        });
        let t0 = Instant::now();
        assert!(wait_events_frozen(&mut f, Duration::from_secs(5)).unwrap());
        assert!(t0.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
        // Never frozen: false once the timeout has passed, not an error.
        let t0 = Instant::now();
        fs::write(&p, "populated 1\nfrozen 0\n").unwrap();
        let mut f = fs::File::open(&p).unwrap();
        assert!(!wait_events_frozen(&mut f, Duration::from_millis(200)).unwrap());
        assert!(t0.elapsed() >= Duration::from_millis(200));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn v1_freeze_and_explicit_thaw() {
        let d = tempdir("v1");
        fs::write(d.join("freezer.state"), "THAWED").unwrap();
        let f = Freezer { version: Version::V1, dir: d.clone() };
        assert!(!f.is_frozen().unwrap());
        let g = f.freeze().unwrap();
        assert!(f.is_frozen().unwrap());
        g.thaw().unwrap();
        assert!(!f.is_frozen().unwrap());
        fs::remove_dir_all(&d).unwrap();
    }
}
