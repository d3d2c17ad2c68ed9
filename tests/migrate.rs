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

/// Host B's own key directory: it is another host, with its own signing
/// key, and trusts host A's only when told to.
fn keys_b() -> String {
    "/var/lib/docker-cr-hostb/keys".to_string()
}

/// A command run on host B: in its mount and network namespaces, against
/// its engine, with its keys.
fn on_b(pid: &str, sock: &str, args: &[&str]) -> std::process::Output {
    on_b_with(pid, sock, args, None)
}

fn on_b_with(pid: &str, sock: &str, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("nsenter")
        .args(["-t", pid, "-m", "-n", "env", &format!("DOCKER_HOST={sock}"), &format!("DOCKER_CR_KEYS={}", keys_b())])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
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

    // Host B has never seen host A's key: the checkpoint is refused...
    let _ = std::fs::remove_dir_all(keys_b());
    let o = on_b(&pid, &sock, &[bin(), "restore", &name, dir.to_str().unwrap()]);
    fails_with(&o, 5, "which this host does not trust");
    // ...until B trusts A's public key, with one command.
    let a_key = ok(dcr(&["key", "show"])).stdout;
    let o = on_b_with(&pid, &sock, &[bin(), "key", "trust", "--name", "host-a", "-"], Some(&a_key));
    assert!(o.status.success(), "{}", text(&o));
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
