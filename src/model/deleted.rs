//! Open files deleted in the container, looked at before anything is frozen
//! (issue 12).
//!
//! CRIU carries a deleted file's contents in the images (a "ghost file")
//! when the file has no name left, and, with `link-remap` (which docker-cr
//! passes), also for a file of the image's lower layers deleted in the
//! container: overlayfs refuses the hard link CRIU tries first, and CRIU
//! falls back to a ghost file. A deleted file that still has another name
//! (a hard link in the container, or any file on a volume) is different:
//! CRIU links it back under a temporary name (`link_remap.N`) in the
//! container's own files, and, because docker-cr leaves the container
//! running, deletes that name again when the dump ends. The checkpoint then
//! lacks it and its restore fails ("Can't link tmp/link_remap.N -> ...").
//! Those files are refused before the freeze, by process and path.
//!
//! `link_remaps` is pure; `scan` reads /proc at the edge.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One descriptor of a container's process that names a deleted file.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenDeleted {
    pub pid: i32,
    /// The process's pid inside the container (its pid namespace).
    pub ns_pid: i32,
    pub comm: String,
    pub fd: u32,
    /// The path it had, as the container sees it.
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
}

/// The files among `open` that CRIU would dump as link remaps, which a
/// restore cannot find: deleted but with a name left (`nlink > 0`), unless
/// the file is one of the image's lower layers on the container's root
/// (`root_dev`), which CRIU carries as a ghost file. `in_upper(ino)` says
/// whether the container's upper dir holds an inode of that number (then
/// the file is the container's own, with another name in it).
pub fn link_remaps<'a>(open: &'a [OpenDeleted], root_dev: u64, in_upper: &dyn Fn(u64) -> bool) -> Vec<&'a OpenDeleted> {
    // A lower-layer file: on the root, and not the container's own inode.
    open.iter().filter(|f| f.nlink > 0 && (f.dev != root_dev || in_upper(f.ino))).collect()
}

/// The path of a `/proc/PID/fd/N` link to a deleted file, or None.
pub fn deleted_path(link: &str) -> Option<&str> {
    link.strip_suffix(" (deleted)").filter(|p| p.starts_with('/'))
}

/// The last `NSpid:` field of /proc/PID/status: the pid the container sees.
pub fn ns_pid(status: &str) -> Option<i32> {
    status.lines().find_map(|l| l.strip_prefix("NSpid:")).and_then(|v| v.split_whitespace().last()?.parse().ok())
}

/// Every descriptor of `pids` that names a deleted file. Processes or
/// descriptors that vanish meanwhile are skipped: the container runs.
pub fn scan(pids: &[i32]) -> Vec<OpenDeleted> {
    let mut out = Vec::new();
    for &pid in pids {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        for e in fds.flatten() {
            let Ok(link) = fs::read_link(e.path()) else { continue };
            let Some(path) = link.to_str().and_then(deleted_path) else { continue };
            let Ok(fd) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            // Follows the link: the open file itself.
            let Ok(md) = fs::metadata(e.path()) else { continue };
            if !md.is_file() {
                continue;
            }
            out.push(OpenDeleted {
                pid,
                ns_pid: ns_pid(&status).unwrap_or(pid),
                comm: comm.clone(),
                fd,
                path: path.to_string(),
                dev: md.dev(),
                ino: md.ino(),
                nlink: md.nlink(),
            });
        }
    }
    out
}

/// Whether a directory tree holds an inode numbered `ino` (symlinks not
/// followed, other filesystems not entered).
pub fn tree_has_ino(dir: &Path, ino: u64) -> bool {
    let Ok(top) = fs::symlink_metadata(dir) else { return false };
    let dev = top.dev();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.ino() == ino && md.dev() == dev {
                return true;
            }
            if md.is_dir() && md.dev() == dev {
                stack.push(e.path());
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, dev: u64, ino: u64, nlink: u64) -> OpenDeleted {
        OpenDeleted { pid: 4000, ns_pid: 1, comm: "sh".into(), fd: 3, path: path.into(), dev, ino, nlink }
    }

    #[test]
    fn which_deleted_files_need_a_link_remap() {
        let open = vec![
            // Written in the container and deleted: no name left, a ghost file.
            f("/tmp/gone", 50, 10, 0),
            // From a lower layer, deleted (overlayfs keeps the lower inode's
            // count): a ghost file too, through CRIU's fallback.
            f("/var/www/index.html", 50, 20, 1),
            // The container's own file with another name left: a link remap.
            f("/tmp/a", 50, 30, 1),
            // On a volume, with another name: a link remap in the volume.
            f("/data/x", 77, 40, 2),
        ];
        let upper = |ino: u64| ino == 30;
        let got: Vec<&str> = link_remaps(&open, 50, &upper).iter().map(|o| o.path.as_str()).collect();
        assert_eq!(got, vec!["/tmp/a", "/data/x"]);
    }

    #[test]
    fn proc_fields() {
        assert_eq!(deleted_path("/tmp/a (deleted)"), Some("/tmp/a"));
        assert_eq!(deleted_path("/tmp/a"), None);
        assert_eq!(deleted_path("pipe:[123] (deleted)"), None);
        assert_eq!(ns_pid("Name:\tsh\nNSpid:\t4242\t1\nPPid:\t1\n"), Some(1));
        assert_eq!(ns_pid("NSpid:\t17\n"), Some(17));
        assert_eq!(ns_pid("Name:\tsh\n"), None);
    }

    #[test]
    fn scan_finds_our_own_deleted_file() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("docker-cr-deleted-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a");
        let mut file = fs::File::create(&p).unwrap();
        file.write_all(b"x").unwrap();
        fs::hard_link(&p, dir.join("b")).unwrap();
        fs::remove_file(&p).unwrap();
        let me = std::process::id() as i32;
        let found: Vec<OpenDeleted> = scan(&[me]).into_iter().filter(|o| o.path == p.to_str().unwrap()).collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].nlink, 1);
        assert!(tree_has_ino(&dir, found[0].ino), "b is the same inode");
        fs::remove_file(dir.join("b")).unwrap();
        assert_eq!(scan(&[me]).into_iter().find(|o| o.path == p.to_str().unwrap()).map(|o| o.nlink), Some(0));
        drop(file);
        fs::remove_dir_all(&dir).unwrap();
    }
}
