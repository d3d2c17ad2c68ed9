//! A checkpoint archive (`docker-cr import`, `restore --import`): any bytes,
//! compressed or not. Whatever they are, the import either succeeds with
//! the new directory holding only regular files and directories (0600 and
//! 0700), or fails leaving nothing (neither the directory nor its
//! `.NAME.importing`); and nothing beside the target changes (a sentinel
//! file and directory in the same parent, compared by inode, size, mode
//! and mtime, as in rootfs_apply).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

type Seen = Vec<(std::ffi::OsString, u64, u64, u64, u32, i64)>;

fn snapshot(dir: &Path) -> Seen {
    let mut v: Seen = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "cp")
        .map(|e| {
            let m = fs::symlink_metadata(e.path()).unwrap();
            (e.file_name(), m.ino(), m.nlink(), m.size(), m.mode(), m.mtime())
        })
        .collect();
    v.sort();
    v
}

/// Every entry under `dir`: only files (0600) and directories (0700).
fn only_private_files(dir: &Path) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = fs::symlink_metadata(e.path()).unwrap();
        if m.is_dir() {
            assert_eq!(m.mode() & 0o7777, 0o700, "{:?}", e.path());
            only_private_files(&e.path());
        } else {
            assert!(m.is_file(), "{:?} is neither a file nor a directory", e.path());
            assert_eq!(m.mode() & 0o7777, 0o600, "{:?}", e.path());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("docker-cr-fuzz-archive-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(base.join("canary")).unwrap();
    fs::write(base.join("secret"), "host secret").unwrap();
    fs::write(base.join("canary/file"), "canary").unwrap();
    let before = (snapshot(&base), snapshot(&base.join("canary")));
    let dest = base.join("cp");
    match docker_cr::formats::archive::import(data, "fuzz", &dest, docker_cr::formats::archive::Finish::Keep) {
        Ok(_) => only_private_files(&dest),
        Err(_) => assert!(!dest.exists(), "a failed import left its directory"),
    }
    assert!(!base.join(".cp.importing").exists(), "the import's work directory was left");
    let _ = fs::remove_dir_all(&dest);
    let after = (snapshot(&base), snapshot(&base.join("canary")));
    assert_eq!(before, after, "the import changed something beside its target");
    let _ = fs::remove_dir_all(&base);
});
