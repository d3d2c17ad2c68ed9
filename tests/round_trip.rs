//! Plain checkpoint and restore, end to end against the engine at
//! DOCKER_HOST and the CRIU on PATH: the README's workflow, a restored
//! container checkpointed again, --stop, a restore into the same container,
//! a clone under a new name, a paused container, in-memory data (redis), a
//! static IP's established connections. Real containers, real dumps, real
//! restores; state checked from outside (HTTP on published ports, /proc, the
//! checkpoint directory).

use std::fs;
use std::path::Path;

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The README's workflow: an HTTP server with a published port, a file
/// written before the checkpoint, memory that must survive; checkpoint,
/// docker rm, restore; the server answers with both.
#[test]
fn readme_workflow_checkpoint_rm_restore() {
    require_engine();
    let c = Counter::start("web", &["--restart", "always"], 20);
    let (name, port, token, before) = (c.name.clone(), c.port, c.token.clone(), c.count);
    docker_ok(&["exec", &name, "sh", "-c", "echo kept > /tmp/test.txt && rm /var/www/index.html"]);
    let dir = temp_dir("cp").join("web");
    let o = ok(dcr(&["checkpoint", &name, s(&dir)]));
    assert!(text(&o).contains("container running"), "{}", text(&o));
    assert_eq!(inspect(&name, "{{.State.Running}} {{.State.Paused}}"), "true false", "left running and thawed");

    // The documented layout, private to root.
    for f in [
        "manifest.json",
        "manifest.sig",
        "container.json",
        "spec.json",
        "criu-dump.conf",
        "criu-dump.log",
        "rootfs-diff.tar",
        "checkpoint/inventory.img",
        "checkpoint/descriptors.json",
    ] {
        let p = dir.join(f);
        assert!(p.exists(), "{f} missing");
        assert_eq!(mode(&p) & 0o077, 0, "{f} is readable by others");
    }
    assert_eq!(mode(&dir), 0o700);
    let m: serde_json::Value = serde_json::from_str(&fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["format"], 3);
    assert_eq!(m["files"]["rootfs-diff.tar"]["blake3"].as_str().unwrap().len(), 64);
    assert_eq!(m["container"]["name"], name.as_str());
    assert!(m["host"]["criu"].as_str().unwrap().starts_with('4'));
    assert!(m["sizes"]["pages_bytes"].as_u64().unwrap() > 0);
    let desc = fs::read_to_string(dir.join("checkpoint/descriptors.json")).unwrap();
    assert!(desc.starts_with("[\"") && desc.matches(',').count() == 2, "{desc}");
    let log = fs::read_to_string(dir.join("criu-dump.log")).unwrap();
    assert!(log.contains("Dumping finished successfully"), "CRIU log does not say the dump finished");
    assert!(!dir.parent().unwrap().join(".web.partial").exists());

    docker_ok(&["rm", "-f", &name]);
    assert!(!exists(&name));
    ok(dcr(&["restore", &name, s(&dir)]));
    assert_continues(port, &token, before);
    assert_eq!(docker_ok(&["exec", &name, "cat", "/tmp/test.txt"]), "kept");
    assert!(
        !docker(&["exec", &name, "test", "-e", "/var/www/index.html"]).status.success(),
        "a deleted file came back"
    );
    assert_eq!(inspect(&name, "{{.HostConfig.RestartPolicy.Name}}"), "always");

    // A normal container afterwards: exec, logs, stop.
    assert!(docker(&["logs", &name]).status.success());
    docker_ok(&["stop", "-t", "1", &name]);
    assert_eq!(inspect(&name, "{{.State.Running}}"), "false");
    // containerd unpacks the checkpoint into /tmp and never removes it;
    // ours is the one holding this checkpoint's descriptors.json.
    let ours = fs::read(dir.join("checkpoint/descriptors.json")).unwrap();
    for e in fs::read_dir("/tmp").unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("ctrd-checkpoint") {
            let d = fs::read(e.path().join("descriptors.json")).unwrap_or_default();
            assert_ne!(d, ours, "containerd's unpacked checkpoint left in {}", e.path().display());
        }
    }
}

/// The restored processes live in the new container's cgroup (on v2 runc 1.1
/// alone would leave them in the old one's), and a second checkpoint of the
/// restored container restores again.
#[test]
fn restored_container_has_its_own_cgroup_and_checkpoints_again() {
    require_engine();
    let c = Counter::start("cg", &[], 10);
    let (name, port, token) = (c.name.clone(), c.port, c.token.clone());
    let old_id = inspect(&name, "{{.Id}}");
    let d1 = temp_dir("cp").join("one");
    ok(dcr(&["checkpoint", &name, s(&d1)]));
    docker_ok(&["rm", "-f", &name]);
    ok(dcr(&["restore", &name, s(&d1)]));
    let new_id = inspect(&name, "{{.Id}}");
    assert_ne!(old_id, new_id);
    let cg = proc_cgroup(&name);
    assert!(!cg.contains(&old_id), "restored processes sit in the old container's cgroup:\n{cg}");
    let v2 = docker_ok(&["info", "--format", "{{.CgroupVersion}}"]) == "2";
    let line = cg.lines().find(|l| if v2 { l.starts_with("0::") } else { l.contains(":freezer:") }).unwrap();
    assert!(line.contains(&new_id), "not in the new container's cgroup: {line}");

    let (_, n) = read_state(port);
    let d2 = temp_dir("cp").join("two");
    ok(dcr(&["checkpoint", &name, s(&d2)]));
    docker_ok(&["rm", "-f", &name]);
    ok(dcr(&["restore", &name, s(&d2)]));
    assert_continues(port, &token, n);
}

/// --stop: stopped through the API, and its restart policy does not bring
/// it back; restore goes into that same stopped container, files reset.
#[test]
fn stop_then_restore_into_the_same_container() {
    require_engine();
    let c = Counter::start("stop", &["--restart", "always"], 10);
    let (name, port, token, n) = (c.name.clone(), c.port, c.token.clone(), c.count);
    let id = inspect(&name, "{{.Id}}");
    let dir = temp_dir("cp").join("stopped");
    let o = ok(dcr(&["checkpoint", "--stop", &name, s(&dir)]));
    assert!(text(&o).contains("stopped container"), "{}", text(&o));
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        inspect(&name, "{{.State.Running}} {{.State.Restarting}}"),
        "false false",
        "the restart policy brought it back"
    );
    let replaced = restore_will_replace(&name);
    ok(dcr(&["restore", &name, s(&dir)]));
    assert_same_or_replaced(&name, &id, replaced);
    assert_continues(port, &token, n);
    assert_eq!(inspect(&name, "{{.HostConfig.RestartPolicy.Name}}"), "always", "restart policy not given back");
}

/// Restoring into the same stopped container resets its files to the
/// checkpointed ones: a file written after the checkpoint is gone.
#[test]
fn restore_into_same_container_resets_files() {
    require_engine();
    let c = Counter::start("reset", &[], 10);
    let (name, port, token, n) = (c.name.clone(), c.port, c.token.clone(), c.count);
    docker_ok(&["exec", &name, "sh", "-c", "echo before > /tmp/before.txt"]);
    let dir = temp_dir("cp").join("reset");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["exec", &name, "sh", "-c", "echo after > /tmp/after.txt; echo changed > /tmp/before.txt"]);
    docker_ok(&["stop", "-t", "1", &name]);
    ok(dcr(&["restore", &name, s(&dir)]));
    assert_continues(port, &token, n);
    assert_eq!(docker_ok(&["exec", &name, "cat", "/tmp/before.txt"]), "before");
    assert!(!docker(&["exec", &name, "test", "-e", "/tmp/after.txt"]).status.success());
}

/// --name clones while the original keeps running, on a new port; a client
/// connected at checkpoint time does not stop the clone from serving.
#[test]
fn clone_under_a_new_name_while_the_original_runs() {
    require_engine();
    let name = unique("orig");
    let clone = unique("clone");
    let _c = Container(name.clone());
    let _k = Container(clone.clone());
    let port = free_port();
    let token = start_counter(&name, port, &[]);
    let (_, n) = wait_count(port, 10);
    // An idle client connection held open across the checkpoint.
    let held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let dir = temp_dir("cp").join("clone");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    let port2 = free_port();
    let publish = format!("127.0.0.1:{port2}:80");
    ok(dcr(&["restore", "--name", &clone, "-p", &publish, &name, s(&dir)]));
    drop(held);
    assert_continues(port2, &token, n);
    assert_continues(port, &token, n);
    assert_eq!(inspect(&clone, "{{.Config.Hostname}}"), inspect(&name, "{{.Config.Hostname}}"));
    assert_ne!(inspect(&clone, "{{.Id}}"), inspect(&name, "{{.Id}}"));
}

/// A container paused by Docker is checkpointed and left paused, and comes
/// back paused (issue 12; tests/criu_corners.rs shows that none of its code runs).
#[test]
fn paused_container_stays_paused() {
    require_engine();
    let c = Counter::start("paused", &[], 10);
    let (name, port, token, n) = (c.name.clone(), c.port, c.token.clone(), c.count);
    docker_ok(&["pause", &name]);
    let dir = temp_dir("cp").join("paused");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    assert_eq!(inspect(&name, "{{.State.Paused}}"), "true");
    docker_ok(&["unpause", &name]);
    docker_ok(&["rm", "-f", &name]);
    ok(dcr(&["restore", &name, s(&dir)]));
    assert_eq!(inspect(&name, "{{.State.Running}} {{.State.Paused}}"), "true true");
    docker_ok(&["unpause", &name]);
    assert_continues(port, &token, n);
}

/// A server whose data lives only in memory (redis without persistence):
/// its keys come back after docker rm + restore.
#[test]
fn redis_keeps_its_in_memory_data() {
    require_engine();
    let name = unique("redis");
    let _c = Container(name.clone());
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:6379");
    docker_ok(&["run", "-d", "--name", &name, "-p", &publish, "docker-cr-test:redis"]);
    wait_redis(port);
    for i in 0..100 {
        assert_eq!(redis(port, &["SET", &format!("k{i}"), &format!("value-{i}")]).as_deref(), Some("+OK"));
    }
    // A client connected through the checkpoint: the restored container
    // gets a new address, so the restore closes it and says so.
    let held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let dir = temp_dir("cp").join("redis");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    let o = ok(dcr(&["restore", &name, s(&dir)]));
    assert!(text(&o).contains("1 TCP connection restored closed"), "{}", text(&o));
    drop(held);
    wait_redis(port);
    assert_eq!(redis(port, &["DBSIZE"]).as_deref(), Some(":100"));
    assert_eq!(redis(port, &["GET", "k42"]).as_deref(), Some("value-42"));
    assert_eq!(redis(port, &["SET", "after", "1"]).as_deref(), Some("+OK"));
}

/// On a user network with a static IP the container keeps its address, so
/// established connections are restored as they were (tcp-established);
/// the server serves new clients too.
#[test]
fn static_ip_keeps_established_connections() {
    require_engine();
    let net = unique("net");
    let octet = 10 + (std::process::id() % 200);
    let subnet = format!("172.29.{octet}.0/24");
    let ip = format!("172.29.{octet}.10");
    docker_ok(&["network", "create", "--subnet", &subnet, &net]);
    struct Net(String);
    impl Drop for Net {
        fn drop(&mut self) {
            let _ = docker(&["network", "rm", &self.0]);
        }
    }
    let _n = Net(net.clone());
    let name = unique("sip");
    let c = Container(name.clone());
    // Dropped before the network: a holder (Docker >= 28) is attached to it.
    let _h = Container(format!("{name}-docker-cr-net"));
    let port = free_port();
    let token = start_counter(&name, port, &["--network", &net, "--ip", &ip]);
    let (_, n) = wait_count(port, 10);
    let held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let dir = temp_dir("cp").join("sip");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    let o = ok(dcr(&["restore", &name, s(&dir)]));
    assert!(text(&o).contains("1 TCP connection: restored open"), "{}", text(&o));
    drop(held);
    let owner = network_owner(&name);
    assert_eq!(inspect(&owner, &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}")), ip);
    assert_continues(port, &token, n);
    drop(c);
}
