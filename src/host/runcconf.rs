//! `/etc/criu/runc.conf` for the duration of one engine start. Docker hands
//! runc no CRIU options on restore; runc reads this file, so it is the only
//! way to repeat the dump's options (file locks are dropped silently
//! otherwise), to put the processes into the new container's cgroup on v2,
//! and to keep the restore log.
//!
//! The user's file is moved aside by rename(2), which keeps everything about
//! it (mode, owner, xattrs, a symlink staying a symlink, the bytes as they
//! are), and ours is a new file: the user's content followed through any
//! symlink, then our lines. Putting back is a rename again, unless someone
//! else changed runc.conf meanwhile: then theirs stays, and the file from
//! before is left beside it under a name that says so. A run that crashed
//! leaves the moved file (or a marker saying there was none) next to ours,
//! and the next run puts it back.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

pub const DEFAULT_DIR: &str = crate::host::paths::RUNC_CONF_DIR;
const LOCK: &str = crate::host::paths::RUNC_LOCK;
/// Starts the comment line we add; how a crashed run's file is recognised.
const OURS: &[u8] = b"# added by docker-cr (pid ";
/// The file from before, when someone else's runc.conf had to stay.
const KEPT_PREFIX: &str = "runc.conf.before-docker-cr-restore";

pub struct RuncConf {
    dir: PathBuf,
    /// The inode of the file we installed, and what we wrote into it.
    ours: (u64, u64),
    text: Vec<u8>,
    done: bool,
    _lock: fs::File,
}

/// What putting back did.
#[derive(Debug, PartialEq, Eq)]
pub enum PutBack {
    /// The file from before (or its absence) is back.
    Restored,
    /// runc.conf was no longer the file docker-cr had installed: someone
    /// changed it meanwhile, and theirs stays. The file from before is at
    /// `kept` (None: there was none).
    KeptTheirs { kept: Option<PathBuf> },
}

impl PutBack {
    /// The warning to show, if any.
    pub fn warning(&self, dir: &Path) -> Option<String> {
        match self {
            PutBack::Restored => None,
            PutBack::KeptTheirs { kept } => Some(format!(
                "{} was changed by someone else during the restore; docker-cr left it as it is{}",
                dir.join("runc.conf").display(),
                match kept {
                    Some(k) => format!(" (the file from before the restore is {})", k.display()),
                    None => String::new(),
                }
            )),
        }
    }
}

struct Paths {
    conf: PathBuf,
    saved: PathBuf,
    absent: PathBuf,
    new: PathBuf,
}

fn paths(dir: &Path) -> Paths {
    Paths {
        conf: dir.join("runc.conf"),
        saved: dir.join(".runc.conf.docker-cr-saved"),
        absent: dir.join(".runc.conf.docker-cr-absent"),
        new: dir.join(".runc.conf.docker-cr-new"),
    }
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

fn exists(p: &Path) -> Result<bool> {
    match fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at("stat", p),
    }
}

/// `renameat2(from, to, RENAME_NOREPLACE)`, see rename(2): false when `to`
/// exists, so nobody's file that appeared meanwhile is replaced.
fn rename_noreplace(from: &Path, to: &Path) -> Result<bool> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::EXIST) => Ok(false),
        // A filesystem without the flag: check, then rename (a small race).
        Err(rustix::io::Errno::INVAL) if !exists(to)? => fs::rename(from, to).at("rename", to).map(|()| true),
        Err(rustix::io::Errno::INVAL) => Ok(false),
        Err(e) => Err(e).at("rename", to),
    }
}

/// Moves the file from before out of the way of someone else's runc.conf,
/// under a name that says what it is.
fn keep_beside(dir: &Path, saved: &Path) -> Result<PathBuf> {
    for n in 0..1000 {
        let name = if n == 0 { KEPT_PREFIX.to_string() } else { format!("{KEPT_PREFIX}.{n}") };
        let kept = dir.join(name);
        if rename_noreplace(saved, &kept)? {
            return Ok(kept);
        }
    }
    Err(Error::host(format!("too many {KEPT_PREFIX}* files in {}", dir.display()), "remove the ones no longer needed"))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).at("sync", dir)
}

/// Whether `conf` holds the lines docker-cr adds (what a crashed run left).
fn holds_our_lines(conf: &Path) -> Result<bool> {
    let md = match fs::symlink_metadata(conf) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).at("stat", conf),
    };
    if !md.is_file() {
        return Ok(false);
    }
    let text = fs::read(conf).at("read", conf)?;
    Ok(text.windows(OURS.len()).any(|w| w == OURS))
}

/// Puts back what a crashed run left in place. Call with the lock held.
/// None: nothing was left.
fn put_back(dir: &Path) -> Result<Option<PutBack>> {
    let p = paths(dir);
    let _ = fs::remove_file(&p.new);
    if exists(&p.saved)? {
        if !exists(&p.conf)? {
            // Killed between moving the user's file and installing ours.
            if rename_noreplace(&p.saved, &p.conf)? {
                return Ok(Some(PutBack::Restored));
            }
        } else if holds_our_lines(&p.conf)? {
            fs::rename(&p.saved, &p.conf).at("put back", &p.conf)?;
            return Ok(Some(PutBack::Restored));
        }
        let kept = keep_beside(dir, &p.saved)?;
        return Ok(Some(PutBack::KeptTheirs { kept: Some(kept) }));
    }
    if exists(&p.absent)? {
        let ours = holds_our_lines(&p.conf)?;
        if ours {
            fs::remove_file(&p.conf).at("remove", &p.conf)?;
        }
        fs::remove_file(&p.absent).at("remove", &p.absent)?;
        let theirs = !ours && exists(&p.conf)?;
        return Ok(Some(if theirs { PutBack::KeptTheirs { kept: None } } else { PutBack::Restored }));
    }
    Ok(None)
}

/// Repairs what a crashed restore left, unless a restore is running now.
pub fn recover(dir: &Path) -> Result<Option<PutBack>> {
    match try_lock()? {
        Some(_l) => put_back(dir),
        None => Ok(None),
    }
}

/// Our file: the user's bytes, a line break if they lack a last one, our
/// comment, our lines. Later lines win in CRIU's config files.
pub fn our_text(previous: &[u8], extra: &str, pid: u32) -> Vec<u8> {
    let mut text = previous.to_vec();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend_from_slice(OURS);
    text.extend_from_slice(format!("{pid}) for one restore; removed when it ends\n").as_bytes());
    text.extend_from_slice(extra.as_bytes());
    text
}

impl RuncConf {
    /// Waits for other restores, then installs `extra` after the current
    /// content.
    pub fn install(dir: &Path, extra: &str) -> Result<RuncConf> {
        fs::create_dir_all(dir).at("create", dir)?;
        let l = lock()?;
        put_back(dir)?;
        let p = paths(dir);
        let had_one = exists(&p.conf)?;
        let previous = if had_one {
            // Through a symlink: runc reads what it points to.
            match fs::read(&p.conf) {
                Ok(t) => t,
                // A dangling symlink: runc finds no options in it either.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e).at("read", &p.conf),
            }
        } else {
            Vec::new()
        };
        let text = our_text(&previous, extra, std::process::id());
        let mut f =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&p.new).at("create", &p.new)?;
        // Explicitly, past our umask: runc.conf is not a secret.
        f.set_permissions(fs::Permissions::from_mode(0o644)).at("chmod", &p.new)?;
        f.write_all(&text).at("write", &p.new)?;
        f.sync_all().at("sync", &p.new)?;
        let md = f.metadata().at("stat", &p.new)?;
        drop(f);
        let conf = RuncConf { dir: dir.to_path_buf(), ours: (md.dev(), md.ino()), text, done: false, _lock: l };
        // The moved file (or the marker) first: from then on a crash leaves
        // what the next run needs to put it back.
        if had_one {
            fs::rename(&p.conf, &p.saved).at("move aside", &p.conf)?;
        } else {
            fs::File::create(&p.absent).and_then(|m| m.sync_all()).at("create", &p.absent)?;
        }
        sync_dir(dir)?;
        if !rename_noreplace(&p.new, &p.conf)? {
            // Someone wrote a runc.conf in that instant: theirs stays.
            let _ = fs::remove_file(&p.new);
            let mut conf = conf;
            let w = conf.undo()?.warning(dir).unwrap_or_default();
            return Err(Error::host(format!("{w}; docker-cr could not install its options"), "try the restore again"));
        }
        sync_dir(dir)?;
        Ok(conf)
    }

    /// Puts the previous file back, or says why not.
    pub fn remove(mut self) -> Result<PutBack> {
        self.undo()
    }

    fn is_ours(&self, conf: &Path) -> Result<bool> {
        let md = match fs::symlink_metadata(conf) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).at("stat", conf),
        };
        // Same inode and same bytes: not replaced, and not edited in place.
        Ok(md.is_file() && (md.dev(), md.ino()) == self.ours && fs::read(conf).at("read", conf)? == self.text)
    }

    fn undo(&mut self) -> Result<PutBack> {
        if self.done {
            return Ok(PutBack::Restored);
        }
        let p = paths(&self.dir);
        let ours = self.is_ours(&p.conf)?;
        let gone = !ours && !exists(&p.conf)?;
        let r = if exists(&p.saved)? {
            if ours {
                fs::rename(&p.saved, &p.conf).at("put back", &p.conf).map(|()| PutBack::Restored)
            } else if gone && rename_noreplace(&p.saved, &p.conf)? {
                Ok(PutBack::Restored)
            } else {
                keep_beside(&self.dir, &p.saved).map(|k| PutBack::KeptTheirs { kept: Some(k) })
            }
        } else {
            if ours {
                fs::remove_file(&p.conf).at("remove", &p.conf)?;
            }
            match fs::remove_file(&p.absent) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at("remove", &p.absent),
                _ => {}
            }
            Ok(if ours || gone { PutBack::Restored } else { PutBack::KeptTheirs { kept: None } })
        };
        if r.is_ok() {
            self.done = true;
        }
        r
    }
}

impl Drop for RuncConf {
    fn drop(&mut self) {
        let _ = self.undo();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("docker-cr-runcconf-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn our_text_keeps_the_bytes_and_adds_lines() {
        assert_eq!(
            our_text(b"a \xff\xfe", "tcp-close\n", 7),
            b"a \xff\xfe\n# added by docker-cr (pid 7) for one restore; removed when it ends\ntcp-close\n".to_vec()
        );
        assert!(our_text(b"", "x\n", 1).starts_with(OURS));
        assert!(our_text(b"y\n", "x\n", 1).starts_with(b"y\n# added"));
    }

    #[test]
    fn put_back_restores_the_previous_file_or_its_absence() {
        let d = tempdir("crash");
        let p = paths(&d);
        // A crash after installing over a user's file.
        fs::write(&p.conf, "mine\n# added by docker-cr (pid 1) for one restore\ntcp-close\n").unwrap();
        fs::write(&p.saved, "mine\n").unwrap();
        assert_eq!(put_back(&d).unwrap(), Some(PutBack::Restored));
        assert_eq!(fs::read_to_string(&p.conf).unwrap(), "mine\n");
        assert!(!p.saved.exists());
        // A crash between moving the user's file and installing ours.
        fs::rename(&p.conf, &p.saved).unwrap();
        assert_eq!(put_back(&d).unwrap(), Some(PutBack::Restored));
        assert_eq!(fs::read_to_string(&p.conf).unwrap(), "mine\n");
        // A crash when there was no file before.
        fs::write(&p.conf, our_text(b"", "tcp-close\n", 1)).unwrap();
        fs::write(&p.absent, "").unwrap();
        assert_eq!(put_back(&d).unwrap(), Some(PutBack::Restored));
        assert!(!p.conf.exists() && !p.absent.exists());
        assert_eq!(put_back(&d).unwrap(), None);
        fs::remove_dir_all(&d).unwrap();
    }

    /// Someone replaced our runc.conf after a crash: theirs stays, the file
    /// from before is kept beside it.
    #[test]
    fn put_back_after_a_crash_keeps_someone_elses_file() {
        let d = tempdir("crash-theirs");
        let p = paths(&d);
        fs::write(&p.conf, "theirs\n").unwrap();
        fs::write(&p.saved, "mine\n").unwrap();
        let kept = d.join(KEPT_PREFIX);
        assert_eq!(put_back(&d).unwrap(), Some(PutBack::KeptTheirs { kept: Some(kept.clone()) }));
        assert_eq!(fs::read_to_string(&p.conf).unwrap(), "theirs\n");
        assert_eq!(fs::read_to_string(&kept).unwrap(), "mine\n");
        fs::write(&p.absent, "").unwrap();
        assert_eq!(put_back(&d).unwrap(), Some(PutBack::KeptTheirs { kept: None }));
        assert_eq!(fs::read_to_string(&p.conf).unwrap(), "theirs\n");
        assert!(!p.absent.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    // install/remove take /run/docker-cr.lock, as a real restore does: the
    // tests below need root, like the e2e tests.
    fn need_root() {
        assert!(rustix::process::geteuid().is_root(), "runcconf's install tests need root (the lock under /run)");
    }

    /// Issue 7, finding 7: mode, owner, xattrs, non-UTF-8 bytes and a
    /// symlink all come back as they were.
    #[test]
    fn install_and_remove_keep_the_file_exactly() {
        need_root();
        let d = tempdir("exact");
        let p = paths(&d);
        let bytes = b"# caf\xe9 latin-1\nlog-level=4".to_vec();
        fs::write(&p.conf, &bytes).unwrap();
        fs::set_permissions(&p.conf, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&p.conf, Some(1234), Some(5678)).unwrap();
        let ino = fs::metadata(&p.conf).unwrap().ino();
        let c = RuncConf::install(&d, "tcp-close\n").unwrap();
        let during = fs::read(&p.conf).unwrap();
        assert!(during.starts_with(&bytes) && during.ends_with(b"tcp-close\n"));
        assert_eq!(c.remove().unwrap(), PutBack::Restored);
        let md = fs::symlink_metadata(&p.conf).unwrap();
        assert_eq!(fs::read(&p.conf).unwrap(), bytes);
        assert_eq!((md.mode() & 0o7777, md.uid(), md.gid(), md.ino()), (0o644, 1234, 5678, ino));

        // A symlink stays a symlink; our file has what it points to.
        let real = d.join("real.conf");
        fs::rename(&p.conf, &real).unwrap();
        std::os::unix::fs::symlink("real.conf", &p.conf).unwrap();
        let c = RuncConf::install(&d, "tcp-close\n").unwrap();
        assert!(fs::symlink_metadata(&p.conf).unwrap().is_file());
        assert!(fs::read(&p.conf).unwrap().starts_with(&bytes));
        drop(c);
        assert_eq!(fs::read_link(&p.conf).unwrap(), PathBuf::from("real.conf"));
        assert_eq!(fs::read(&real).unwrap(), bytes);

        // None before: none after.
        fs::remove_file(&p.conf).unwrap();
        RuncConf::install(&d, "tcp-close\n").unwrap().remove().unwrap();
        assert!(!p.conf.exists() && !p.absent.exists() && !p.saved.exists());
        fs::remove_dir_all(&d).unwrap();
    }

    /// Someone edits runc.conf while it holds our lines: their edit stays,
    /// the file from before is kept beside it, and we say so.
    #[test]
    fn an_edit_during_the_restore_is_not_clobbered() {
        need_root();
        let d = tempdir("edit");
        let p = paths(&d);
        fs::write(&p.conf, "mine\n").unwrap();
        // Replaced (an editor's write-and-rename).
        let c = RuncConf::install(&d, "tcp-close\n").unwrap();
        fs::write(d.join("x"), "theirs\n").unwrap();
        fs::rename(d.join("x"), &p.conf).unwrap();
        let r = c.remove().unwrap();
        let kept = d.join(KEPT_PREFIX);
        assert_eq!(r, PutBack::KeptTheirs { kept: Some(kept.clone()) });
        assert!(r.warning(&d).unwrap().contains("changed by someone else"));
        assert_eq!(fs::read_to_string(&p.conf).unwrap(), "theirs\n");
        assert_eq!(fs::read_to_string(&kept).unwrap(), "mine\n");
        // Edited in place (same inode, other bytes).
        let c = RuncConf::install(&d, "tcp-close\n").unwrap();
        fs::OpenOptions::new().append(true).open(&p.conf).unwrap().write_all(b"log-level=4\n").unwrap();
        let r = c.remove().unwrap();
        assert_eq!(r, PutBack::KeptTheirs { kept: Some(d.join(format!("{KEPT_PREFIX}.1"))) });
        assert!(fs::read_to_string(&p.conf).unwrap().ends_with("log-level=4\n"));
        // Created where there was none.
        fs::remove_file(&p.conf).unwrap();
        let c = RuncConf::install(&d, "tcp-close\n").unwrap();
        fs::remove_file(&p.conf).unwrap();
        fs::write(&p.conf, "new\n").unwrap();
        assert_eq!(c.remove().unwrap(), PutBack::KeptTheirs { kept: None });
        assert_eq!(fs::read_to_string(&p.conf).unwrap(), "new\n");
        assert!(!p.absent.exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
