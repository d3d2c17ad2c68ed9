//! The container's file changes: the overlay2 upper dir, captured as
//! `rootfs-diff.tar` while the container is frozen, and applied to the upper
//! dir of the container we restore into. Deleted files are overlay whiteouts
//! (character devices 0:0) and opaque directories carry the xattr
//! `trusted.overlay.opaque`; both are kept as they are, so applying the tar to
//! an empty upper dir reproduces the merged view exactly.
//!
//! Applying trusts nothing in the tar: every path must be relative and free of
//! `..`, and is resolved from a directory fd of the target with openat2
//! (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so no entry, hard link or
//! metadata change goes through a symlink; the only device node accepted is
//! the 0:0 whiteout, and GNU sparse entries are refused.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, IoContext, Result};

pub const XATTR_PREFIX: &str = "SCHILY.xattr.";
/// xattrs we write back: overlay's opaque marker (needed for correctness),
/// file capabilities and user attributes. Other `trusted.overlay.*` (redirect,
/// origin) point into lower layers of the old container and are not wanted.
fn xattr_allowed(name: &[u8]) -> bool {
    name == b"trusted.overlay.opaque" || name == b"security.capability" || name.starts_with(b"user.")
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Stats {
    pub entries: u64,
    pub files: u64,
    pub deleted: u64,
    pub bytes: u64,
}

/// Writes the upper dir `upper` as a tar to `out`.
pub fn capture(upper: &Path, out: impl Write) -> Result<Stats> {
    let mut b = tar::Builder::new(out);
    let mut st = Stats::default();
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(upper, Path::new(""), &mut b, &mut st, &mut links)?;
    b.into_inner().at("write", Path::new("rootfs-diff.tar"))?;
    Ok(st)
}

fn walk(
    base: &Path,
    rel: &Path,
    b: &mut tar::Builder<impl Write>,
    st: &mut Stats,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    let dir = base.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .at("list", &dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .at("list", &dir)?;
    names.sort();
    for name in names {
        let rel_path = rel.join(&name);
        let path = base.join(&rel_path);
        let md = fs::symlink_metadata(&path).at("stat", &path)?;
        let ft = md.file_type();
        if ft.is_socket() {
            continue; // a bound socket is re-created by CRIU, not by the tar
        }
        let xattrs = read_xattrs(&path)?;
        if !xattrs.is_empty() {
            append_pax(b, &xattrs).at("write", Path::new("rootfs-diff.tar"))?;
        }
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
        st.entries += 1;
        let w = |r: io::Result<()>| r.at("write", Path::new("rootfs-diff.tar"));
        if ft.is_dir() {
            h.set_size(0);
            w(b.append_data(&mut h, &rel_path, io::empty()))?;
            walk(base, &rel_path, b, st, links)?;
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    w(b.append_link(&mut h, &rel_path, first))?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), rel_path.clone());
            }
            let f = fs::File::open(&path).at("open", &path)?;
            st.files += 1;
            st.bytes += md.len();
            w(b.append_data(&mut h, &rel_path, f))?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).at("read link", &path)?;
            h.set_size(0);
            w(b.append_link(&mut h, &rel_path, &target))?;
        } else {
            // Character devices (whiteouts are 0:0), block devices, FIFOs:
            // set_metadata_in_mode filled in type, major and minor.
            if ft.is_char_device() && md.rdev() == 0 {
                st.deleted += 1;
            }
            h.set_size(0);
            w(b.append_data(&mut h, &rel_path, io::empty()))?;
        }
    }
    Ok(())
}

fn read_xattrs(path: &Path) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(path, &mut names) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e).at("list xattrs of", path),
    };
    let mut out = Vec::new();
    for name in names[..n].split(|&c| c == 0).filter(|s| !s.is_empty()) {
        if !xattr_allowed(name) {
            continue;
        }
        let cname = std::ffi::CString::new(name).map_err(|_| Error::Io {
            op: "read xattr of",
            path: path.to_path_buf(),
            source: io::Error::from(io::ErrorKind::InvalidData),
        })?;
        let mut val = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, cname.as_c_str(), &mut val).at("read xattr of", path)?;
        val.truncate(len);
        out.push((name.to_vec(), val));
    }
    Ok(out)
}

/// A PAX extended header carrying xattrs for the entry that follows.
pub fn append_pax(b: &mut tar::Builder<impl Write>, xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
    let mut data = Vec::new();
    for (k, v) in xattrs {
        let body_len = 1 + XATTR_PREFIX.len() + k.len() + 1 + v.len() + 1; // " key=value\n"
                                                                           // The length field counts itself.
        let mut len = body_len + 1;
        while len.to_string().len() + body_len != len {
            len = len.to_string().len() + body_len;
        }
        data.extend_from_slice(format!("{len} {XATTR_PREFIX}").as_bytes());
        data.extend_from_slice(k);
        data.push(b'=');
        data.extend_from_slice(v);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("././@PaxHeader")?;
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..])
}

/// Checks that a path from the archive stays inside the target: relative,
/// only normal components. Returns it without `.` components.
pub fn safe_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn unsafe_entry(path: &Path, why: &str) -> Error {
    Error::checkpoint(
        format!("rootfs-diff.tar: entry {:?} {why}", path),
        "this checkpoint was not written by docker-cr or was tampered with; nothing was applied to files outside the new container",
    )
}

/// One directory below `dir`, without following any symlink, so nothing
/// the archive planted can lead out of the root (see `host::fs`).
fn open_beneath(dir: BorrowedFd<'_>, name: &Path) -> rustix::io::Result<OwnedFd> {
    crate::host::fs::dir_beneath(dir, name)
}

/// Why a path of the archive could not be resolved: a symlink or a file in
/// the way is the archive's doing, anything else the host's.
fn resolve_error(e: rustix::io::Errno, root: &Path, rel: &Path, entry: &Path, what: &str) -> Error {
    use rustix::io::Errno;
    match e {
        Errno::LOOP | Errno::NOTDIR | Errno::XDEV => unsafe_entry(entry, what),
        Errno::NOSYS => Error::host(
            "this kernel has no openat2(2), which docker-cr needs to apply a rootfs diff safely",
            "run docker-cr on Linux >= 5.6",
        ),
        e => Error::Io { op: "open", path: root.join(rel), source: e.into() },
    }
}

/// The directory `rel` below the root (an O_PATH fd), resolved one component
/// at a time without symlinks; with `create`, missing ones are made.
fn open_dir(root_fd: &OwnedFd, root: &Path, rel: &Path, entry: &Path, create: bool) -> Result<OwnedFd> {
    const NOT_A_DIR: &str = "has a parent that is not a directory (a link out of the container?)";
    let mut cur = root_fd.try_clone().at("open", root)?;
    let mut done = PathBuf::new();
    for c in rel.components() {
        let c = Path::new(c.as_os_str());
        done.push(c);
        cur = match open_beneath(cur.as_fd(), c) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&cur, c, rustix::fs::Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e).at("create", &root.join(&done)),
                }
                open_beneath(cur.as_fd(), c).map_err(|e| resolve_error(e, root, &done, entry, NOT_A_DIR))?
            }
            Err(rustix::io::Errno::NOENT) => {
                return Err(unsafe_entry(entry, "names a directory that is not in the archive"))
            }
            Err(e) => return Err(resolve_error(e, root, &done, entry, NOT_A_DIR)),
        };
    }
    Ok(cur)
}

/// Splits a checked relative path into its parent and last component.
fn split(rel: &Path) -> (&Path, &std::ffi::OsStr) {
    (rel.parent().unwrap_or(Path::new("")), rel.file_name().unwrap_or_default())
}

/// Removes whatever non-directory is at `name` in `dir` (a previous entry of
/// the same name); a directory stays, as tar does.
fn clear(dir: &OwnedFd, name: &std::ffi::OsStr, path: &Path) -> Result<()> {
    match rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory => Ok(()),
        Ok(_) => rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty()).at("remove", path),
        Err(_) => Ok(()),
    }
}

/// Applies a captured tar to the (empty) upper dir `root`.
///
/// Every path of the archive (entries, their parents, hard-link targets) is
/// resolved from a directory fd of `root` with openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS), and every entry is made and changed with *at()
/// calls relative to its parent's fd: a symlink the archive planted can never
/// lead a write, a link or a chmod out of the root.
pub fn apply(input: impl Read, root: &Path) -> Result<Stats> {
    use rustix::fs::{AtFlags, Mode, OFlags};
    let root_fd =
        rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).at("open", root)?;
    // No extension header (long name, PAX) larger than 1 MiB is read.
    let mut ar = tar::Archive::new(crate::model::targuard::TarGuard::new(input));
    let mut st = Stats::default();
    let mut dir_times = Vec::new();
    let tar_err = |e: io::Error| {
        Error::checkpoint(format!("rootfs-diff.tar is damaged: {e}"), "the checkpoint is incomplete or corrupted")
    };
    for entry in ar.entries().map_err(tar_err)? {
        let mut e = entry.map_err(tar_err)?;
        let raw = e.path().map_err(tar_err)?.into_owned();
        if e.header().entry_type() == tar::EntryType::Directory && raw.components().all(|c| c == Component::CurDir) {
            // `./`, the root itself (Podman's devshm-checkpoint.tar has
            // one): its owner and mode are the target's business.
            continue;
        }
        let rel =
            safe_relative(&raw).ok_or_else(|| unsafe_entry(&raw, "leaves the container root (absolute or ..)"))?;
        let h = e.header().clone();
        let kind = h.entry_type();
        if kind == tar::EntryType::GNUSparse {
            // The tar crate expands a sparse file's holes into real zeros: a
            // few bytes of archive could fill the disk. docker-cr's capture
            // never writes sparse entries.
            return Err(unsafe_entry(
                &raw,
                "is a GNU sparse file, which docker-cr never writes (its holes would be written out as zeros \
                 and could fill the disk)",
            ));
        }
        if kind == tar::EntryType::XGlobalHeader {
            continue;
        }
        let dst = root.join(&rel);
        let (parent_rel, name) = split(&rel);
        let parent = open_dir(&root_fd, root, parent_rel, &raw, true)?;
        let mode = h.mode().map_err(tar_err)? & 0o7777;
        let (uid, gid) = (h.uid().map_err(tar_err)?, h.gid().map_err(tar_err)?);
        let mtime = h.mtime().unwrap_or(0) as i64;
        let xattrs: Vec<(Vec<u8>, Vec<u8>)> = match e.pax_extensions().map_err(tar_err)? {
            Some(exts) => exts
                .filter_map(|x| x.ok())
                .filter_map(|x| {
                    let k = x.key_bytes().strip_prefix(XATTR_PREFIX.as_bytes())?.to_vec();
                    Some((k, x.value_bytes().to_vec()))
                })
                .collect(),
            None => Vec::new(),
        };
        st.entries += 1;
        match kind {
            tar::EntryType::Directory => {
                clear(&parent, name, &dst)?;
                match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(err) => return Err(err).at("create", &dst),
                }
                dir_times.push((rel.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                clear(&parent, name, &dst)?;
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .at("create", &dst)?;
                let n = io::copy(&mut e, &mut fs::File::from(fd)).at("write", &dst)?;
                st.files += 1;
                st.bytes += n;
            }
            tar::EntryType::Symlink => {
                clear(&parent, name, &dst)?;
                let target = e
                    .link_name()
                    .map_err(tar_err)?
                    .ok_or_else(|| unsafe_entry(&raw, "is a symlink without a target"))?;
                // A symlink may point anywhere: it is resolved inside the
                // container at run time. We never resolve through one.
                rustix::fs::symlinkat(&*target, &parent, name).at("create symlink", &dst)?;
            }
            tar::EntryType::Link => {
                let target = e
                    .link_name()
                    .map_err(tar_err)?
                    .ok_or_else(|| unsafe_entry(&raw, "is a hard link without a target"))?;
                let trel = safe_relative(&target)
                    .ok_or_else(|| unsafe_entry(&raw, "is a hard link to outside the container root"))?;
                // The target must be a regular file reached from the root
                // through directories only: a symlink on the way (`d ->
                // /etc`, then a link to `d/shadow`) would link a host file.
                let (tparent_rel, tname) = split(&trel);
                let tparent = open_dir(&root_fd, root, tparent_rel, &raw, false).map_err(|err| match err {
                    Error::Checkpoint { .. } => {
                        unsafe_entry(&raw, "is a hard link through a symlink or to a file that is not in the archive")
                    }
                    err => err,
                })?;
                match rustix::fs::statat(&tparent, tname, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(t) if rustix::fs::FileType::from_raw_mode(t.st_mode) == rustix::fs::FileType::RegularFile => {}
                    Ok(_) => return Err(unsafe_entry(&raw, "is a hard link to something that is not a file")),
                    Err(_) => return Err(unsafe_entry(&raw, "is a hard link to a file that is not in the archive")),
                }
                clear(&parent, name, &dst)?;
                // linkat without AT_SYMLINK_FOLLOW links the name itself.
                match rustix::fs::linkat(&tparent, tname, &parent, name, AtFlags::empty()) {
                    Ok(()) => {}
                    // The entry replaced its own target (`a` linked to `a`).
                    Err(rustix::io::Errno::NOENT) => {
                        return Err(unsafe_entry(&raw, "is a hard link to a file that is not in the archive"))
                    }
                    Err(err) => return Err(err).at("link", &dst),
                }
                continue; // shares the inode: no metadata of its own
            }
            tar::EntryType::Char => {
                let (maj, min) =
                    (h.device_major().ok().flatten().unwrap_or(1), h.device_minor().ok().flatten().unwrap_or(1));
                if (maj, min) != (0, 0) {
                    return Err(unsafe_entry(&raw, "is a device node (only 0:0 whiteouts are accepted)"));
                }
                clear(&parent, name, &dst)?;
                let whiteout = rustix::fs::FileType::CharacterDevice;
                rustix::fs::mknodat(&parent, name, whiteout, Mode::from_raw_mode(0o600), 0).at("create", &dst)?;
                st.deleted += 1;
            }
            tar::EntryType::Fifo => {
                clear(&parent, name, &dst)?;
                let fifo = rustix::fs::FileType::Fifo;
                rustix::fs::mknodat(&parent, name, fifo, Mode::from_raw_mode(0o600), 0).at("create", &dst)?;
            }
            other => return Err(unsafe_entry(&raw, &format!("has a type docker-cr does not apply ({other:?})"))),
        }
        // Metadata, relative to the parent's fd and never following a link.
        rustix::fs::chownat(
            &parent,
            name,
            Some(rustix::fs::Uid::from_raw(uid as u32)),
            Some(rustix::fs::Gid::from_raw(gid as u32)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .at("chown", &dst)?;
        if kind != tar::EntryType::Symlink {
            // chown clears set-id bits, so the mode comes after it. fchmodat
            // has no AT_SYMLINK_NOFOLLOW before Linux 6.6; none is needed:
            // the name was made above by us in a directory held by fd, and
            // is not a symlink.
            rustix::fs::chmodat(&parent, name, Mode::from_raw_mode(mode), AtFlags::empty()).at("chmod", &dst)?;
        }
        if !xattrs.is_empty() {
            // There is no lsetxattrat: the name under the parent's fd, as
            // /proc/self/fd shows it, reaches the same entry without
            // following a symlink at the end (lsetxattr) or on the way.
            let at_parent = Path::new("/proc/self/fd").join(parent.as_raw_fd().to_string()).join(name);
            for (k, v) in &xattrs {
                if xattr_allowed(k) {
                    let xname =
                        std::ffi::CString::new(k.clone()).map_err(|_| unsafe_entry(&raw, "has a bad xattr name"))?;
                    rustix::fs::lsetxattr(&at_parent, xname.as_c_str(), v, rustix::fs::XattrFlags::empty())
                        .at("set xattr on", &dst)?;
                }
            }
        }
        if kind != tar::EntryType::Directory {
            set_mtime(&parent, name, mtime, &dst)?;
        }
    }
    // Directory times last: adding entries changed them.
    for (rel, t) in dir_times.iter().rev() {
        let (parent_rel, name) = split(rel);
        let parent = open_dir(&root_fd, root, parent_rel, rel, false)?;
        set_mtime(&parent, name, *t, &root.join(rel))?;
    }
    Ok(st)
}

/// `utimensat(dir, name, AT_SYMLINK_NOFOLLOW)`: sets both times of `name`.
fn set_mtime(dir: &OwnedFd, name: &std::ffi::OsStr, secs: i64, path: &Path) -> Result<()> {
    let t = rustix::fs::Timespec { tv_sec: secs, tv_nsec: 0 };
    rustix::fs::utimensat(
        dir,
        name,
        &rustix::fs::Timestamps { last_access: t, last_modification: t },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .at("set times of", path)
}

/// A directory moved aside with one rename and replaced by an empty one of
/// the same mode and owner, until it is put back or discarded. Restoring into
/// the container the checkpoint came from works on its upper dir this way, so
/// a failed restore leaves the container's files as they were.
pub struct Aside {
    dir: PathBuf,
    saved: PathBuf,
}

impl Aside {
    /// The caller holds the container's lock (state::ContainerLock): only
    /// then is a saved tree found here a killed run's, never a live one's.
    pub fn take(dir: &Path) -> Result<Aside> {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(".docker-cr-saved");
        let saved = dir.with_file_name(name);
        if saved.exists() {
            // A restore killed before it finished: the saved one is the original.
            fs::remove_dir_all(dir).at("remove", dir)?;
            fs::rename(&saved, dir).at("put back", dir)?;
        }
        let md = fs::symlink_metadata(dir).at("stat", dir)?;
        fs::rename(dir, &saved).at("move aside", dir)?;
        let fresh = || -> Result<()> {
            use std::os::unix::fs::PermissionsExt;
            fs::create_dir(dir).at("create", dir)?;
            std::os::unix::fs::lchown(dir, Some(md.uid()), Some(md.gid())).at("chown", dir)?;
            // Explicitly: our umask (077, for the checkpoint's secrets) must
            // not make the container's root directory 0700.
            fs::set_permissions(dir, fs::Permissions::from_mode(md.mode() & 0o7777)).at("chmod", dir)
        };
        if let Err(e) = fresh() {
            let _ = fs::remove_dir(dir);
            let _ = fs::rename(&saved, dir);
            return Err(e);
        }
        Ok(Aside { dir: dir.to_path_buf(), saved })
    }

    pub fn put_back(self) -> Result<()> {
        fs::remove_dir_all(&self.dir).at("remove", &self.dir)?;
        fs::rename(&self.saved, &self.dir).at("put back", &self.dir)
    }

    pub fn discard(self) {
        let _ = fs::remove_dir_all(&self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("docker-cr-rootfs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn aside_puts_back_or_discards() {
        let base = tempdir("aside");
        let dir = base.join("diff");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(dir.join("old"), "1").unwrap();
        let a = Aside::take(&dir).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, 0o755, "same mode as before");
        fs::write(dir.join("new"), "2").unwrap();
        a.put_back().unwrap();
        assert!(dir.join("old").exists() && !dir.join("new").exists());
        // A run killed after moving it aside: the next take puts it back first.
        let _killed = Aside::take(&dir).unwrap();
        fs::write(dir.join("half"), "3").unwrap();
        let a = Aside::take(&dir).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        a.discard();
        assert_eq!(fs::read_dir(&base).unwrap().count(), 1);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn paths_must_stay_inside() {
        assert_eq!(safe_relative(Path::new("./a/b")), Some(PathBuf::from("a/b")));
        assert_eq!(safe_relative(Path::new("/etc/passwd")), None);
        assert_eq!(safe_relative(Path::new("a/../../x")), None);
        assert_eq!(safe_relative(Path::new(".")), None);
    }

    #[test]
    fn round_trip_keeps_files_links_modes_and_hardlinks() {
        let src = tempdir("src");
        let dst = tempdir("dst");
        fs::create_dir_all(src.join("tmp/sub")).unwrap();
        fs::write(src.join("tmp/test.txt"), "hello").unwrap();
        fs::set_permissions(src.join("tmp/test.txt"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::hard_link(src.join("tmp/test.txt"), src.join("tmp/sub/again.txt")).unwrap();
        std::os::unix::fs::symlink("../test.txt", src.join("tmp/sub/link")).unwrap();
        let long = "d".repeat(120);
        fs::create_dir_all(src.join(&long).join(&long)).unwrap();
        fs::write(src.join(&long).join(&long).join("f"), "deep").unwrap();
        let mut tar = Vec::new();
        let st = capture(&src, &mut tar).unwrap();
        assert_eq!((st.files, st.bytes), (2, 9));
        let st2 = apply(&tar[..], &dst).unwrap();
        assert_eq!(st2.files, 2);
        assert_eq!(fs::read_to_string(dst.join("tmp/test.txt")).unwrap(), "hello");
        assert_eq!(fs::metadata(dst.join("tmp/test.txt")).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(fs::read_link(dst.join("tmp/sub/link")).unwrap(), PathBuf::from("../test.txt"));
        assert_eq!(
            fs::metadata(dst.join("tmp/sub/again.txt")).unwrap().ino(),
            fs::metadata(dst.join("tmp/test.txt")).unwrap().ino()
        );
        assert_eq!(fs::read_to_string(dst.join(&long).join(&long).join("f")).unwrap(), "deep");
        fs::remove_dir_all(&src).unwrap();
        fs::remove_dir_all(&dst).unwrap();
    }

    fn tar_with(entries: &[(tar::EntryType, &str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (kind, path, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(0);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            // Write the raw name so tests can plant what tar::Builder refuses.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            if *kind == tar::EntryType::Char {
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
            }
            h.set_cksum();
            b.append(&h, io::empty()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn hostile_archives_are_refused() {
        let dst = tempdir("hostile");
        for (entries, why) in [
            (vec![(tar::EntryType::Regular, "../escape", None)], "leaves"),
            (vec![(tar::EntryType::Regular, "/etc/evil", None)], "leaves"),
            (
                vec![(tar::EntryType::Symlink, "out", Some("/etc")), (tar::EntryType::Regular, "out/passwd", None)],
                "not a directory",
            ),
            (vec![(tar::EntryType::Link, "pw", Some("../../etc/passwd"))], "outside"),
            (vec![(tar::EntryType::Char, "null", None)], "device node"),
        ] {
            let err = apply(&tar_with(&entries)[..], &dst).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            assert_eq!(err.exit_code(), 5);
        }
        assert!(!Path::new("/etc/evil").exists());
        fs::remove_dir_all(&dst).unwrap();
    }

    /// What a hostile archive could touch beside the target: each entry's
    /// inode, link count, size and mtime, and the listing.
    fn snapshot(dir: &Path) -> Vec<(std::ffi::OsString, u64, u64, u64, i64)> {
        let mut v: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = fs::symlink_metadata(e.path()).unwrap();
                (e.file_name(), m.ino(), m.nlink(), m.size(), m.mtime())
            })
            .collect();
        v.sort();
        v
    }

    // Issue "Trust and hardening": only a link target's last component was
    // checked, so `d -> <outside>` then `pw => d/secret` made the upper dir's
    // pw the outside file itself (the host's /etc/shadow, say).
    #[test]
    fn hard_links_through_symlinks_are_refused() {
        let base = tempdir("hardlink-escape");
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), "host secret").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), outside.join("link")).unwrap();
        let out_abs = outside.to_str().unwrap();
        // `root` is where each target is made and removed, so its own mtime
        // moves with the test (CI saw it cross a second); what it holds and
        // everything beside it must not change.
        let beside_root = |base: &Path| -> Vec<_> { snapshot(base).into_iter().filter(|e| e.0 != "root").collect() };
        let before = (beside_root(&base), snapshot(&outside));
        for entries in [
            vec![(tar::EntryType::Symlink, "d", Some(out_abs)), (tar::EntryType::Link, "pw", Some("d/secret"))],
            vec![(tar::EntryType::Symlink, "d", Some("../outside")), (tar::EntryType::Link, "pw", Some("d/secret"))],
            vec![
                (tar::EntryType::Directory, "a", None),
                (tar::EntryType::Symlink, "a/d", Some("../../outside")),
                (tar::EntryType::Link, "a/pw", Some("a/d/link")),
            ],
            // A link to a symlink to the outside file: not a regular file.
            vec![(tar::EntryType::Symlink, "s", Some(out_abs)), (tar::EntryType::Link, "pw", Some("s"))],
        ] {
            let d = root.join("t");
            let _ = fs::remove_dir_all(&d);
            fs::create_dir(&d).unwrap();
            let err = apply(&tar_with(&entries)[..], &d).unwrap_err();
            assert_eq!(err.exit_code(), 5, "{err}");
            assert!(err.to_string().contains("hard link"), "{err}");
            assert!(!d.join("pw").exists() && !d.join("a/pw").exists());
            let m = fs::metadata(outside.join("secret")).unwrap();
            assert_eq!((m.nlink(), m.len()), (1, 11), "the outside file was linked to");
            fs::remove_dir_all(&d).unwrap();
        }
        assert_eq!((beside_root(&base), snapshot(&outside)), before, "something changed outside the target");
        assert!(snapshot(&root).is_empty(), "something was left beside the target");
        fs::remove_dir_all(&base).unwrap();
    }

    // Issue "Trust and hardening": the tar crate writes a sparse entry's holes
    // out as zeros, so a tiny archive could fill the disk.
    #[test]
    fn sparse_entries_are_refused() {
        let dst = tempdir("sparse");
        // One byte of data at the end of a 16 MiB hole.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNUSparse);
        h.set_path("big").unwrap();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(1);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.set_real_size(16 << 20);
        gnu.sparse[0].set_offset((16 << 20) - 1);
        gnu.sparse[0].set_length(1);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &b"x"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        assert!(tar.len() < 4096);
        let err = apply(&tar[..], &dst).unwrap_err();
        assert!(err.to_string().contains("sparse"), "{err}");
        assert_eq!(err.exit_code(), 5);
        assert!(!dst.join("big").exists());
        fs::remove_dir_all(&dst).unwrap();
    }

    #[test]
    fn hard_links_to_non_files_are_refused() {
        let dst = tempdir("hardlink-kinds");
        for entries in [
            vec![(tar::EntryType::Directory, "dir", None), (tar::EntryType::Link, "pw", Some("dir"))],
            vec![(tar::EntryType::Regular, "f", None), (tar::EntryType::Link, "pw", Some("f/x"))],
            vec![(tar::EntryType::Link, "pw", Some("nothere"))],
            vec![(tar::EntryType::Link, "pw", Some("no/where"))],
        ] {
            let d = dst.join("t");
            let _ = fs::remove_dir_all(&d);
            fs::create_dir(&d).unwrap();
            let err = apply(&tar_with(&entries)[..], &d).unwrap_err();
            assert_eq!(err.exit_code(), 5, "{err}");
            assert!(!d.join("pw").exists());
        }
        fs::remove_dir_all(&dst).unwrap();
    }
}
