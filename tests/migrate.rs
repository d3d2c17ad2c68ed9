//! Migration to another host: checkpoint on the engine at DOCKER_HOST,
//! restore on a second engine of the same kind with its own data root, mount
//! and network namespace (tests/engine-ns), the image carried over with
//! docker save / load. tests/run runs it in a phase of its own, with
//! DOCKER_CR_HOST_B (its socket) and DOCKER_CR_HOST_B_PID (its dockerd pid).

use std::path::Path;
use std::process::Command;

use crate::util::*;

fn host_b() -> (String, String) {
    let sock = std::env::var("DOCKER_CR_HOST_B").expect("DOCKER_CR_HOST_B is not set: run this test through tests/run");
    let pid = std::env::var("DOCKER_CR_HOST_B_PID").expect("DOCKER_CR_HOST_B_PID is not set: run it through tests/run");
    (sock, pid)
}

/// A command run on host B: in its mount and network namespaces, against
/// its engine.
fn on_b(pid: &str, sock: &str, args: &[&str]) -> std::process::Output {
    Command::new("nsenter")
        .args(["-t", pid, "-m", "-n", "env", &format!("DOCKER_HOST={sock}")])
        .args(args)
        .output()
        .unwrap()
}

/// The counter's state as seen from inside host B's network namespace.
fn state_on_b(pid: &str, port: u16) -> Option<(String, u64)> {
    let o = Command::new("nsenter")
        .args(["-t", pid, "-n", "curl", "-fsS", "--max-time", "5", &format!("http://127.0.0.1:{port}/state")])
        .output()
        .ok()?;
    let body = String::from_utf8_lossy(&o.stdout).to_string();
    let mut it = body.split_whitespace();
    Some((it.next()?.to_string(), it.next()?.parse().ok()?))
}

#[test]
#[ignore = "needs a second host: tests/run runs it with DOCKER_CR_HOST_B set"]
fn migrate_to_another_host() {
    require_engine();
    let (sock, pid) = host_b();
    let c = Counter::start("mig", &[], 10);
    let (name, port, token, n) = (c.name.clone(), c.port, c.token.clone(), c.count);
    docker_ok(&["exec", &name, "sh", "-c", "echo carried > /tmp/moved.txt"]);
    let dir = temp_dir("cp").join("mig");
    ok(dcr(&["checkpoint", "--stop", &name, dir.to_str().unwrap()]));

    // Carry the image over, as one would between hosts.
    let save = Command::new("sh")
        .args(["-c", &format!("docker save {IMAGE} | DOCKER_HOST={sock} docker load")])
        .output()
        .unwrap();
    assert!(save.status.success(), "{}", text(&save));

    let o = on_b(&pid, &sock, &[bin(), "restore", &name, dir.to_str().unwrap()]);
    struct OnB<'a>(&'a str, &'a str, &'a str);
    impl Drop for OnB<'_> {
        fn drop(&mut self) {
            let _ = on_b(self.0, self.1, &["docker", "rm", "-f", self.2]);
        }
    }
    let _b = OnB(&pid, &sock, &name);
    assert!(o.status.success(), "restore on host B failed:\n{}", text(&o));

    let start = std::time::Instant::now();
    let (t1, n1) = loop {
        if let Some(s) = state_on_b(&pid, port) {
            break s;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "nothing answers on host B's port {port}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(t1, token, "the in-memory token did not arrive on host B");
    assert!(n1 >= n, "counter went back from {n} to {n1}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_, n2) = state_on_b(&pid, port).unwrap();
    assert!(n2 > n1, "the counter stopped on host B");
    let moved = on_b(&pid, &sock, &["docker", "exec", &name, "cat", "/tmp/moved.txt"]);
    assert_eq!(String::from_utf8_lossy(&moved.stdout).trim(), "carried");
    // The source host's container is still there, stopped.
    assert_eq!(inspect(&name, "{{.State.Running}}"), "false");
    assert!(Path::new(&dir).join("manifest.json").exists());
}
