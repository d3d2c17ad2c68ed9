//! Every file operation inside a root that a checkpoint or an archive
//! names (its paths are untrusted): resolved beneath a directory fd with
//! openat2(2) `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`,
//! never through a link, as runc (libpathrs) and crun do. Callers: the
//! manifest's digests and the restore's images (`model::manifest`), the
//! rootfs diff (`model::rootfs`), the archive import (`formats::archive`),
//! another engine's file changes (`formats::foreign`).

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// `openat2(dir, rel, flags | O_NOFOLLOW | O_CLOEXEC, mode, RESOLVE_BENEATH
/// | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: `rel` below `dir`,
/// without leaving it and without following any symlink. ELOOP, EXDEV or
/// ENOTDIR mean the path tried to. See openat2(2).
pub fn beneath(dir: impl AsFd, rel: &Path, flags: OFlags, mode: Mode) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(
        dir,
        rel,
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        mode,
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// A directory below `dir`, as an O_PATH fd (to resolve further from).
pub fn dir_beneath(dir: impl AsFd, rel: &Path) -> rustix::io::Result<OwnedFd> {
    beneath(dir, rel, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
}

/// A file below `dir`, opened for reading (never a terminal, never
/// blocking on a FIFO someone planted).
pub fn open_beneath(dir: &File, rel: &Path) -> std::io::Result<File> {
    Ok(File::from(beneath(dir, rel, OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK, Mode::empty())?))
}

/// A new file below `dir` (0600), never replacing anything.
pub fn create_beneath(dir: &File, rel: &Path) -> std::io::Result<File> {
    Ok(File::from(beneath(dir, rel, OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL, Mode::from_raw_mode(0o600))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_leads_out_of_the_root() {
        let base = std::env::temp_dir().join(format!("dcr-fs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/sub")).unwrap();
        std::fs::write(base.join("outside"), "secret").unwrap();
        std::fs::write(base.join("root/sub/in"), "ok").unwrap();
        std::os::unix::fs::symlink("../../outside", base.join("root/sub/link")).unwrap();
        std::os::unix::fs::symlink("/etc", base.join("root/abs")).unwrap();
        let root = File::open(base.join("root")).unwrap();
        assert!(open_beneath(&root, Path::new("sub/in")).is_ok());
        assert!(open_beneath(&root, Path::new("sub/link")).is_err(), "a link is never followed");
        assert!(open_beneath(&root, Path::new("../outside")).is_err(), "never above the root");
        assert!(open_beneath(&root, Path::new("abs/passwd")).is_err());
        assert!(dir_beneath(&root, Path::new("sub")).is_ok());
        assert!(create_beneath(&root, Path::new("sub/new")).is_ok());
        assert!(create_beneath(&root, Path::new("sub/new")).is_err(), "never replaced");
        assert!(create_beneath(&root, Path::new("sub/link")).is_err());
        let _ = std::fs::remove_dir_all(&base);
    }
}
