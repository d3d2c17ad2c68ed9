//! A checkpoint's rootfs-diff.tar, applied as restore applies it. Anything
//! written outside the target directory is a crash: a canary directory
//! beside it must stay empty, and nothing else may appear next to them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::fs;

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("docker-cr-fuzz-{}", std::process::id()));
    let root = base.join("root");
    let canary = base.join("canary");
    let _ = fs::remove_dir_all(&base);
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&canary).unwrap();
    let _ = docker_cr::rootfs::apply(data, &root);
    assert_eq!(fs::read_dir(&canary).unwrap().count(), 0, "wrote beside the target");
    assert_eq!(fs::read_dir(&base).unwrap().count(), 2, "wrote beside the target");
    let _ = fs::remove_dir_all(&base);
});
