//! What differs between Docker generations (issue 10), on whichever engine
//! DOCKER_HOST names: tests/run runs these on Docker 20.10 (cgroup v1 and
//! v2), 26.1 and 28.5. On Docker >= 28 restores of containers with a
//! network namespace of their own go through a network holder; from Engine
//! API 1.43 on, a restore's CRIU options go through the container's own
//! `org.criu.config` file, never through /etc/criu/runc.conf.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// (major, minor) of the engine's version, and its API version.
fn engine() -> ((u32, u32), (u32, u32)) {
    let v = docker_ok(&["version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}"]);
    let parse = |t: &str| {
        let mut it = t.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    };
    let (ver, api) = v.split_once(' ').unwrap();
    (parse(ver), parse(api))
}

fn needs_holder() -> bool {
    engine().0 .0 >= 28
}

fn holder_of(name: &str) -> String {
    format!("{name}-docker-cr-net")
}

/// Waits (without a deadline that could make the test flaky on a slow host:
/// 60 s is only there to end a hung run) until the container is gone.
#[track_caller]
fn wait_gone(name: &str) {
    let t = Instant::now();
    while exists(name) {
        assert!(t.elapsed() < Duration::from_secs(60), "{name} is still there a minute later");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 10, "Done when" on 28.5: a bridge-networked HTTP server with a
/// published port restores after docker rm and as a clone with new ports,
/// and serves; the restored container can be stopped, removed (its holder
/// goes with it), checkpointed again and restored again. On engines that
/// need no holder, none is made.
#[test]
fn bridge_http_server_restores_rm_clone_and_again() {
    require_engine();
    let holder = needs_holder();
    let c = Counter::start("gen-web", &[], 10);
    let dir = temp_dir("cp").join("gen-web");
    ok(dcr(&["checkpoint", &c.name, s(&dir)]));
    docker_ok(&["rm", "-f", &c.name]);
    let _h = Container(holder_of(&c.name));

    let o = ok(dcr(&["restore", &c.name, s(&dir)]));
    assert_eq!(text(&o).contains("network holder"), holder, "{}", text(&o));
    assert_continues(c.port, &c.token, c.count);
    if holder {
        let h = holder_of(&c.name);
        assert_eq!(inspect(&c.name, "{{.HostConfig.NetworkMode}}"), format!("container:{h}"));
        assert_eq!(inspect(&h, "{{index .Config.Labels \"org.docker-cr.net-holder-for\"}}"), c.name);
        assert_eq!(inspect(&c.name, "{{index .Config.Labels \"org.docker-cr.net-holder\"}}"), h);
        assert!(inspect(&h, "{{json .HostConfig.PortBindings}}").contains(&c.port.to_string()));
    } else {
        assert!(!exists(&holder_of(&c.name)));
    }

    // A clone with a new published port, while the first one serves.
    let clone = unique("gen-clone");
    let _cg = Container(clone.clone());
    let _ch = Container(holder_of(&clone));
    let port2 = free_port();
    let p2 = format!("127.0.0.1:{port2}:80");
    ok(dcr(&["restore", "--name", &clone, "-p", &p2, &c.name, s(&dir)]));
    assert_continues(port2, &c.token, c.count);
    assert_continues(c.port, &c.token, c.count);

    // Stopped, then removed: its holder goes with it.
    docker_ok(&["stop", "-t", "1", &c.name]);
    if holder {
        assert!(exists(&holder_of(&c.name)), "the holder went when its container only stopped");
    }
    docker_ok(&["rm", &c.name]);
    wait_gone(&holder_of(&c.name));

    // The clone checkpointed again, removed, restored again: still the
    // process of the first checkpoint, on the clone's port.
    let (_, n) = read_state(port2);
    let dir2 = temp_dir("cp").join("gen-clone");
    let o = ok(dcr(&["checkpoint", &clone, s(&dir2)]));
    if holder {
        assert!(text(&o).contains("network settings taken from its network holder"), "{}", text(&o));
    }
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir2.join("container.json")).unwrap()).unwrap();
    assert!(!saved["HostConfig"]["NetworkMode"].as_str().unwrap().starts_with("container:"), "{saved}");
    assert!(saved["HostConfig"]["PortBindings"].to_string().contains(&port2.to_string()));
    docker_ok(&["rm", "-f", &clone]);
    wait_gone(&holder_of(&clone));
    ok(dcr(&["restore", &clone, s(&dir2)]));
    assert_continues(port2, &c.token, n);

    // And stopped by a checkpoint, then restored into that same container.
    let (_, n) = read_state(port2);
    let dir3 = temp_dir("cp").join("gen-clone-stop");
    ok(dcr(&["checkpoint", "--stop", &clone, s(&dir3)]));
    ok(dcr(&["restore", &clone, s(&dir3)]));
    assert_continues(port2, &c.token, n);
    docker_ok(&["rm", "-f", &clone]);
    wait_gone(&holder_of(&clone));
}

/// Issue 10, "Done when" on 28.5: a redis holding data only in memory
/// restores after docker rm, and as a clone with a new port.
#[test]
fn redis_restores_after_rm_and_as_a_clone() {
    require_engine();
    let name = unique("gen-redis");
    let _c = Container(name.clone());
    let _h = Container(holder_of(&name));
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:6379");
    docker_ok(&["run", "-d", "--name", &name, "-p", &publish, "docker-cr-test:redis"]);
    wait_redis(port);
    for i in 0..50 {
        assert_eq!(redis(port, &["SET", &format!("k{i}"), &format!("v{i}")]).as_deref(), Some("+OK"));
    }
    let dir = temp_dir("cp").join("gen-redis");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    ok(dcr(&["restore", &name, s(&dir)]));
    wait_redis(port);
    assert_eq!(redis(port, &["DBSIZE"]).as_deref(), Some(":50"));
    assert_eq!(redis(port, &["GET", "k7"]).as_deref(), Some("v7"));

    let clone = unique("gen-redis-clone");
    let _cc = Container(clone.clone());
    let _ch = Container(holder_of(&clone));
    let port2 = free_port();
    let p2 = format!("127.0.0.1:{port2}:6379");
    ok(dcr(&["restore", "--name", &clone, "-p", &p2, &name, s(&dir)]));
    wait_redis(port2);
    assert_eq!(redis(port2, &["GET", "k49"]).as_deref(), Some("v49"));
    assert_eq!(redis(port2, &["SET", "clone", "1"]).as_deref(), Some("+OK"));
    assert_eq!(redis(port, &["EXISTS", "clone"]).as_deref(), Some(":0"), "the clone is not the original");
}

/// Issue 10: a container that joins another's network namespace
/// (`--network container:X`) restores (create used to copy the saved
/// Hostname, which Docker refuses in that mode, on every engine); it serves
/// on the other container's published port.
#[test]
fn container_joining_another_network_namespace_restores() {
    require_engine();
    let owner = unique("gen-netowner");
    let _o = Container(owner.clone());
    let _oh = Container(holder_of(&owner));
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    docker_ok(&["run", "-d", "--name", &owner, "-p", &publish, IMAGE, "sleep", "100000"]);
    let name = unique("gen-joiner");
    let _c = Container(name.clone());
    let net = format!("container:{owner}");
    let token = start_counter(&name, 0, &["--network", &net]);
    let (_, count) = wait_count(port, 5);
    let dir = temp_dir("cp").join("gen-joiner");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    // Joining a namespace the checkpoint names is host access of a kind.
    ok(dcr(&["restore", "--allow-host-access", &name, s(&dir)]));
    assert!(!exists(&holder_of(&name)), "no holder for a container that joins another's namespace");
    assert_continues(port, &token, count);
}

/// `check` names the engine generation's known limits.
#[test]
fn check_names_the_generations_limits() {
    require_engine();
    let o = dcr(&["check"]);
    let t = text(&o);
    let line = t.lines().find(|l| l.contains("engine limits")).unwrap_or_else(|| panic!("no engine limits:\n{t}"));
    let ((major, _), api) = engine();
    assert_eq!(line.contains("moby#50750"), major >= 28, "{line}");
    assert_eq!(line.contains("runc.conf"), api < (1, 43), "{line}");
}
