//! `/etc/criu/runc.conf` for the duration of one restore. Docker hands runc no
//! CRIU options on restore; runc reads this file, so it is the only way to
//! repeat the dump's options (file locks are dropped silently otherwise), to
//! put the processes into the new container's cgroup on v2, and to keep the
//! restore log. The previous file is put back afterwards, on failure too,
//! and by the next run if we crashed: the saved copy (or a marker saying
//! there was none) stays next to it until then.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

pub const DEFAULT_DIR: &str = "/etc/criu";
const LOCK: &str = "/run/docker-cr.lock";

pub struct RuncConf {
    conf: PathBuf,
    saved: PathBuf,
    absent: PathBuf,
    _lock: fs::File,
}

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (dir.join("runc.conf"), dir.join(".runc.conf.docker-cr-saved"), dir.join(".runc.conf.docker-cr-absent"))
}

fn open_lock() -> Result<fs::File> {
    let p = Path::new(LOCK);
    fs::OpenOptions::new().create(true).append(true).mode(0o600).open(p).at("open", p)
}

fn lock() -> Result<fs::File> {
    let f = open_lock()?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).at("lock", Path::new(LOCK))?;
    Ok(f)
}

fn try_lock() -> Result<Option<fs::File>> {
    let f = open_lock()?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(f)),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(e).at("lock", Path::new(LOCK)),
    }
}

/// Puts back a runc.conf a crashed run left in place. Call with the lock held.
fn put_back(dir: &Path) -> Result<bool> {
    let (conf, saved, absent) = paths(dir);
    if saved.exists() {
        fs::rename(&saved, &conf).at("put back", &conf)?;
        return Ok(true);
    }
    if absent.exists() {
        match fs::remove_file(&conf) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at("remove", &conf),
            _ => {}
        }
        fs::remove_file(&absent).at("remove", &absent)?;
        return Ok(true);
    }
    Ok(false)
}

/// Repairs what a crashed restore left, unless a restore is running now.
pub fn recover(dir: &Path) -> Result<bool> {
    match try_lock()? {
        Some(_l) => put_back(dir),
        None => Ok(false),
    }
}

impl RuncConf {
    /// Waits for other restores, then installs `extra` after the current
    /// content (later lines win in CRIU's config files).
    pub fn install(dir: &Path, extra: &str) -> Result<RuncConf> {
        fs::create_dir_all(dir).at("create", dir)?;
        let l = lock()?;
        put_back(dir)?;
        let (conf, saved, absent) = paths(dir);
        let previous = match fs::read_to_string(&conf) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).at("read", &conf),
        };
        match &previous {
            Some(t) => write_synced(&saved, t)?,
            None => write_synced(&absent, "")?,
        }
        let mut text = previous.unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!(
            "# added by docker-cr (pid {}) for one restore; removed when it ends\n",
            std::process::id()
        ));
        text.push_str(extra);
        let tmp = dir.join(".runc.conf.docker-cr-new");
        let _ = fs::remove_file(&tmp);
        write_synced(&tmp, &text)?;
        fs::rename(&tmp, &conf).at("install", &conf)?;
        Ok(RuncConf { conf, saved, absent, _lock: l })
    }

    /// Puts the previous file back.
    pub fn remove(self) -> Result<()> {
        self.undo()
    }

    fn undo(&self) -> Result<()> {
        if self.saved.exists() {
            fs::rename(&self.saved, &self.conf).at("put back", &self.conf)?;
        } else if self.absent.exists() {
            let _ = fs::remove_file(&self.conf);
            fs::remove_file(&self.absent).at("remove", &self.absent)?;
        }
        Ok(())
    }
}

impl Drop for RuncConf {
    fn drop(&mut self) {
        let _ = self.undo();
    }
}

fn write_synced(p: &Path, text: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(p).at("create", p)?;
    f.write_all(text.as_bytes()).at("write", p)?;
    f.sync_all().at("sync", p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_back_restores_the_previous_file_or_its_absence() {
        let d = std::env::temp_dir().join(format!("docker-cr-runcconf-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let (conf, saved, absent) = paths(&d);
        // A crash after installing over a user's file.
        fs::write(&conf, "mine\n# added by docker-cr\ntcp-close\n").unwrap();
        fs::write(&saved, "mine\n").unwrap();
        assert!(put_back(&d).unwrap());
        assert_eq!(fs::read_to_string(&conf).unwrap(), "mine\n");
        assert!(!saved.exists());
        // A crash when there was no file before.
        fs::write(&absent, "").unwrap();
        assert!(put_back(&d).unwrap());
        assert!(!conf.exists() && !absent.exists());
        assert!(!put_back(&d).unwrap());
        fs::remove_dir_all(&d).unwrap();
    }
}
