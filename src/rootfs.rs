//! The container's file changes: the overlay2 upper dir, captured as
//! `rootfs-diff.tar` while the container is frozen, and applied to the upper
//! dir of the container we restore into. Deleted files are overlay whiteouts
//! (character devices 0:0) and opaque directories carry the xattr
//! `trusted.overlay.opaque`; both are kept as they are, so applying the tar to
//! an empty upper dir reproduces the merged view exactly.
//!
//! Applying trusts nothing in the tar: every path must be relative and free of
//! `..`, no entry is written through a symlink, and the only device node
//! accepted is the 0:0 whiteout.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, IoContext, Result};

const XATTR_PREFIX: &str = "SCHILY.xattr.";
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
fn append_pax(b: &mut tar::Builder<impl Write>, xattrs: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
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

/// Makes every parent of `rel` under `root` a real directory, refusing to
/// go through a symlink the archive planted.
fn ensure_parents(root: &Path, rel: &Path) -> Result<()> {
    let mut cur = root.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => {
                    return Err(unsafe_entry(
                        rel,
                        "has a parent that is not a directory (a link out of the container?)",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&cur).at("create", &cur)?;
                }
                Err(e) => return Err(e).at("stat", &cur),
            }
        }
    }
    Ok(())
}

/// Removes whatever is at `p` (a previous entry of the same name).
fn clear(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => fs::remove_file(p).at("remove", p),
        Err(_) => Ok(()),
    }
}

/// Applies a captured tar to the (empty) upper dir `root`.
pub fn apply(input: impl Read, root: &Path) -> Result<Stats> {
    let mut ar = tar::Archive::new(input);
    let mut st = Stats::default();
    let mut dir_times = Vec::new();
    let tar_err = |e: io::Error| {
        Error::checkpoint(format!("rootfs-diff.tar is damaged: {e}"), "the checkpoint is incomplete or corrupted")
    };
    for entry in ar.entries().map_err(tar_err)? {
        let mut e = entry.map_err(tar_err)?;
        let raw = e.path().map_err(tar_err)?.into_owned();
        let rel =
            safe_relative(&raw).ok_or_else(|| unsafe_entry(&raw, "leaves the container root (absolute or ..)"))?;
        let dst = root.join(&rel);
        ensure_parents(root, &rel)?;
        let h = e.header().clone();
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
        let kind = h.entry_type();
        match kind {
            tar::EntryType::Directory => {
                clear(&dst)?;
                match fs::create_dir(&dst) {
                    Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(err).at("create", &dst),
                    _ => {}
                }
                dir_times.push((dst.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                clear(&dst)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&dst)
                    .at("create", &dst)?;
                let n = io::copy(&mut e, &mut f).at("write", &dst)?;
                st.files += 1;
                st.bytes += n;
            }
            tar::EntryType::Symlink => {
                clear(&dst)?;
                let target = e
                    .link_name()
                    .map_err(tar_err)?
                    .ok_or_else(|| unsafe_entry(&raw, "is a symlink without a target"))?;
                // A symlink may point anywhere: it is resolved inside the
                // container at run time. We never write through one.
                std::os::unix::fs::symlink(&*target, &dst).at("create symlink", &dst)?;
            }
            tar::EntryType::Link => {
                clear(&dst)?;
                let target = e
                    .link_name()
                    .map_err(tar_err)?
                    .ok_or_else(|| unsafe_entry(&raw, "is a hard link without a target"))?;
                let trel = safe_relative(&target)
                    .ok_or_else(|| unsafe_entry(&raw, "is a hard link to outside the container root"))?;
                let src = root.join(&trel);
                let md = fs::symlink_metadata(&src)
                    .map_err(|_| unsafe_entry(&raw, "is a hard link to a file that is not in the archive"))?;
                if !md.is_file() {
                    return Err(unsafe_entry(&raw, "is a hard link to something that is not a file"));
                }
                fs::hard_link(&src, &dst).at("link", &dst)?;
                continue; // shares the inode: no metadata of its own
            }
            tar::EntryType::Char => {
                let (maj, min) =
                    (h.device_major().ok().flatten().unwrap_or(1), h.device_minor().ok().flatten().unwrap_or(1));
                if (maj, min) != (0, 0) {
                    return Err(unsafe_entry(&raw, "is a device node (only 0:0 whiteouts are accepted)"));
                }
                clear(&dst)?;
                mknod(&dst, rustix::fs::FileType::CharacterDevice, 0)?;
                st.deleted += 1;
            }
            tar::EntryType::Fifo => {
                clear(&dst)?;
                mknod(&dst, rustix::fs::FileType::Fifo, 0)?;
            }
            tar::EntryType::XGlobalHeader => continue,
            other => return Err(unsafe_entry(&raw, &format!("has a type docker-cr does not apply ({other:?})"))),
        }
        // Metadata, never following a link.
        let nofollow = rustix::fs::AtFlags::SYMLINK_NOFOLLOW;
        rustix::fs::chownat(
            rustix::fs::CWD,
            &dst,
            Some(rustix::fs::Uid::from_raw(uid as u32)),
            Some(rustix::fs::Gid::from_raw(gid as u32)),
            nofollow,
        )
        .at("chown", &dst)?;
        if kind != tar::EntryType::Symlink {
            // chown clears set-id bits, so the mode comes after it.
            rustix::fs::chmodat(
                rustix::fs::CWD,
                &dst,
                rustix::fs::Mode::from_raw_mode(mode),
                rustix::fs::AtFlags::empty(),
            )
            .at("chmod", &dst)?;
        }
        for (k, v) in &xattrs {
            if xattr_allowed(k) {
                let name = std::ffi::CString::new(k.clone()).map_err(|_| unsafe_entry(&raw, "has a bad xattr name"))?;
                rustix::fs::lsetxattr(&dst, name.as_c_str(), v, rustix::fs::XattrFlags::empty())
                    .at("set xattr on", &dst)?;
            }
        }
        if kind != tar::EntryType::Directory {
            set_mtime(&dst, mtime)?;
        }
    }
    // Directory times last: adding entries changed them.
    for (d, t) in dir_times.iter().rev() {
        set_mtime(d, *t)?;
    }
    Ok(st)
}

fn mknod(p: &Path, ft: rustix::fs::FileType, dev: u64) -> Result<()> {
    rustix::fs::mknodat(rustix::fs::CWD, p, ft, rustix::fs::Mode::from_raw_mode(0o600), dev).at("create", p)
}

fn set_mtime(p: &Path, secs: i64) -> Result<()> {
    let t = rustix::fs::Timespec { tv_sec: secs, tv_nsec: 0 };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &rustix::fs::Timestamps { last_access: t, last_modification: t },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .at("set times of", p)
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
}
