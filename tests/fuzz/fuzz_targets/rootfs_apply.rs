//! A checkpoint's rootfs-diff.tar, applied as restore applies it. Anything
//! that reaches outside the target directory is a crash: the target sits in
//! a parent beside sentinels (a file, a directory with a file in it), and a
//! write, link, rename, chmod or create through a planted symlink or hard
//! link shows as a change of their inode, link count, size, mode, mtime, or
//! of the listing of the parent or the sentinel directory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

type Seen = Vec<(std::ffi::OsString, u64, u64, u64, u32, i64, i64)>;

/// Every entry of `dir` but `skip`, with what an escape would change.
fn snapshot(dir: &Path, skip: &str) -> Seen {
    let mut v: Seen = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != skip)
        .map(|e| {
            let m = fs::symlink_metadata(e.path()).unwrap();
            (e.file_name(), m.ino(), m.nlink(), m.size(), m.mode(), m.mtime(), m.mtime_nsec())
        })
        .collect();
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("docker-cr-fuzz-{}", std::process::id()));
    let root = base.join("root");
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&root).unwrap();
    // Names an archive can aim at from the target: ../secret, ../canary/file.
    fs::write(base.join("secret"), "host secret").unwrap();
    fs::create_dir(base.join("canary")).unwrap();
    fs::write(base.join("canary/file"), "canary").unwrap();
    let root_ino = fs::metadata(&root).unwrap().ino();
    let before = (snapshot(&base, "root"), snapshot(&base.join("canary"), ""));
    let _ = docker_cr::model::rootfs::apply(data, &root);
    let after = (snapshot(&base, "root"), snapshot(&base.join("canary"), ""));
    assert_eq!(before, after, "apply changed something beside the target");
    assert_eq!(fs::symlink_metadata(&root).unwrap().ino(), root_ino, "the target itself was replaced");
    assert_eq!(fs::read(base.join("secret")).unwrap(), b"host secret");
    assert_eq!(fs::read(base.join("canary/file")).unwrap(), b"canary");
    let _ = fs::remove_dir_all(&base);
});
