//! Faults survived, on the real engine: whatever happens during a
//! checkpoint, the container ends thawed and running with its memory, and no
//! half checkpoint is visible.

use std::fs;
use std::path::Path;

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child we spawned.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

#[track_caller]
fn assert_serving(name: &str, port: u16, keys: u32) {
    assert_eq!(inspect(name, "{{.State.Running}} {{.State.Paused}}"), "true false");
    wait_redis(port);
    assert_eq!(redis(port, &["DBSIZE"]), Some(format!(":{keys}")));
}

/// SIGTERM while the container is frozen: docker-cr finishes what cannot be
/// cut (CRIU), thaws, removes the partial directory, exits 130.
#[test]
fn sigterm_while_frozen_rolls_back() {
    require_engine();
    let name = unique("sigterm");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 256);
    let dir = temp_dir("cp").join("term");
    let (child, _) = spawn_until(&["checkpoint", &name, s(&dir)], "froze");
    signal(child.id(), libc::SIGTERM);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{o:?}");
    assert!(!dir.exists() && !dir.with_file_name(".term.partial").exists());
    assert_serving(&name, port, 256);
}

/// SIGKILL while frozen: no rollback can run, so the container stays frozen
/// until the next docker-cr run, which thaws it.
#[test]
fn sigkill_while_frozen_is_repaired_by_the_next_run() {
    require_engine();
    let name = unique("sigkill");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 256);
    let dir = temp_dir("cp").join("kill");
    let (mut child, _) = spawn_until(&["checkpoint", &name, s(&dir)], "froze");
    signal(child.id(), libc::SIGKILL);
    let _ = child.wait();
    wait_no_criu();
    assert!(!dir.exists(), "a killed checkpoint is visible");
    // Left frozen, with a record saying so; unless a docker-cr run of a
    // parallel test has already repaired it (every run repairs any).
    let id = inspect(&name, "{{.Id}}");
    let lock = format!("/run/docker-cr/containers/{id}.lock");
    let record = fs::read_to_string(&lock).unwrap_or_default();
    let state = fs::read_to_string(format!("/sys/fs/cgroup/freezer/docker/{id}/freezer.state")).unwrap_or_default();
    if !state.is_empty() {
        assert!(state.trim() == "FROZEN" || record.is_empty(), "state {state:?}, record {record:?}");
    }
    let o = ok(dcr(&["checkpoint", &name, s(&dir.with_file_name("next"))]));
    if record.starts_with("frozen") && Path::new(&lock).exists() {
        // Nobody had repaired it before this run, so this run did.
        let t = text(&o);
        assert!(t.contains("an interrupted docker-cr had left it frozen") || !Path::new(&lock).exists(), "{t}");
    }
    assert_serving(&name, port, 256);
}

/// CRIU itself killed in the middle of the dump.
#[test]
fn criu_killed_mid_dump_leaves_the_container_serving() {
    require_engine();
    let name = unique("criukill");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 512);
    let dir = temp_dir("cp").join("ck");
    let (child, _) = spawn_until(&["checkpoint", &name, s(&dir)], "froze");
    std::thread::sleep(std::time::Duration::from_millis(150));
    let parent = child.id().to_string();
    let _ = std::process::Command::new("pkill").args(["-KILL", "-x", "criu", "-P", &parent]).status();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(!dir.exists());
    assert_serving(&name, port, 512);
}

/// The destination fills up: the error says so, the container goes on.
#[test]
fn full_disk_is_reported_as_such() {
    require_engine();
    let name = unique("full");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 32);
    let mnt = temp_dir("tmpfs");
    assert!(std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs", s(&mnt)])
        .status()
        .unwrap()
        .success());
    struct Umount(std::path::PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Umount(mnt.clone());
    let dir = mnt.join("cp");
    let o = dcr(&["checkpoint", &name, s(&dir)]);
    fails_with(&o, 1, "No space left on device");
    assert!(text(&o).contains("full"), "{}", text(&o));
    assert!(!dir.exists() && !mnt.join(".cp.partial").exists());
    assert_serving(&name, port, 32);
    let _ = fs::remove_dir_all(mnt.join("cp.failed"));
}

/// Two checkpoints of one container at once: the second fails clearly.
#[test]
fn concurrent_checkpoints_of_one_container() {
    require_engine();
    let name = unique("twice");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 256);
    let base = temp_dir("cp");
    let (first, _) = spawn_until(&["checkpoint", &name, s(&base.join("a"))], "froze");
    let second = dcr(&["checkpoint", &name, s(&base.join("b"))]);
    fails_with(&second, 4, "another docker-cr is checkpointing container");
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(base.join("a/manifest.json").exists() && !base.join("b").exists());
    assert_serving(&name, port, 256);
}
