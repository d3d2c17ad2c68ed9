//! Clear errors, nothing changed, end to end: a container that cannot be
//! checkpointed (missing, stopped, with a `docker exec` session), a restore
//! target in the way, a checkpoint directory that is none, a host that is not
//! ready (CRIU, root, the engine unreachable or without experimental mode),
//! an engine that answers garbage or never answers, destinations in the way,
//! bad container names, manifests that lie.

use std::fs;
use std::path::Path;

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn errors_about_the_container() {
    require_engine();
    let dir = temp_dir("cp").join("x");
    fails_with(&dcr(&["checkpoint", "no-such-container-dcr", s(&dir)]), 4, "no such container: no-such-container-dcr");

    let stopped = unique("stopped");
    let _a = Container(stopped.clone());
    docker_ok(&["create", "--name", &stopped, IMAGE, "sleep", "100"]);
    fails_with(&dcr(&["checkpoint", &stopped, s(&dir)]), 4, &format!("container {stopped} is not running"));

    // A TTY is no longer refused (issue 12): tests/criu_corners.rs.

    let ex = unique("exec");
    let _e = Container(ex.clone());
    docker_ok(&["run", "-d", "--name", &ex, IMAGE, "sleep", "100"]);
    let mut session = std::process::Command::new("docker").args(["exec", &ex, "sleep", "30"]).spawn().unwrap();
    for _ in 0..200 {
        if docker_ok(&["top", &ex]).matches("sleep").count() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = dcr(&["checkpoint", &ex, s(&dir)]);
    let _ = session.kill();
    let _ = session.wait();
    fails_with(&o, 4, "running 'docker exec' session");
    assert!(!dir.exists());
}

#[test]
fn errors_about_the_restore_target() {
    require_engine();
    let c = Counter::start("tgt", &[], 3);
    let name = c.name.clone();
    let dir = temp_dir("cp").join("tgt");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    // Running: refused, nothing changed.
    let id = inspect(&name, "{{.Id}}");
    fails_with(&dcr(&["restore", &name, s(&dir)]), 4, &format!("container {name} is running"));
    assert_eq!(inspect(&name, "{{.Id}} {{.State.Running}}"), format!("{id} true"));
    // The name is taken by another container.
    let other = unique("other");
    let _o = Container(other.clone());
    docker_ok(&["create", "--name", &other, IMAGE, "true"]);
    fails_with(
        &dcr(&["restore", "--name", &other, &name, s(&dir)]),
        4,
        &format!("a container named {other} already exists"),
    );
    // A checkpoint of another container.
    fails_with(&dcr(&["restore", &other, s(&dir)]), 4, &format!("not of {other}"));
    // A checkpoint directory that exists.
    fails_with(&dcr(&["checkpoint", &name, s(&dir)]), 5, "already exists");
}

#[test]
fn errors_about_the_checkpoint_directory() {
    require_engine();
    let base = temp_dir("baddir");
    fails_with(&dcr(&["restore", "x", s(&base.join("missing"))]), 5, "cannot open checkpoint directory");
    fails_with(&dcr(&["restore", "x", s(&base)]), 5, "has no manifest.json");
    fs::write(base.join("manifest.json"), "{\"format\": 1, \"tool\": ").unwrap();
    fails_with(&dcr(&["restore", "x", s(&base)]), 5, "is not signed");
    fails_with(&dcr(&["restore", "--trust", "x", s(&base)]), 5, "is not valid JSON");
    fs::write(base.join("manifest.json"), "{\"format\": 7}").unwrap();
    fails_with(&dcr(&["restore", "--trust", "x", s(&base)]), 5, "has format 7");
    let file = base.join("afile");
    fs::write(&file, "").unwrap();
    fails_with(&dcr(&["restore", "x", s(&file)]), 5, "is not a directory");
}

#[test]
fn errors_about_the_host() {
    require_engine();
    let name = unique("host");
    let _c = Container(name.clone());
    docker_ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "100"]);
    let dir = temp_dir("cp").join("h");
    fails_with(
        &dcr(&["--criu", "/nonexistent/criu", "checkpoint", &name, s(&dir)]),
        3,
        "cannot run CRIU (/nonexistent/criu)",
    );
    let old = fake_criu("echo 'Version: 3.17.1'");
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let o = dcr(&["--criu", s(&old), "checkpoint", &name, s(&dir)]);
    let major_minor: Vec<u32> =
        kernel.split(|c: char| !c.is_ascii_digit()).take(2).map(|x| x.parse().unwrap()).collect();
    if major_minor >= vec![6, 13] {
        fails_with(&o, 3, "CRIU 3.17.1 cannot run on kernel");
        assert!(text(&o).contains("install CRIU >= 4."), "{}", text(&o));
    }
    // Not root.
    let o = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", bin(), "checkpoint", &name, s(&dir)])
        .bounded();
    fails_with(&o, 3, "docker-cr must run as root");
    let o = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", bin(), "restore", &name, s(&dir)])
        .bounded();
    fails_with(&o, 3, "docker-cr must run as root");
    // No engine at DOCKER_HOST.
    let o = std::process::Command::new(bin())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["checkpoint", &name, s(&dir)])
        .bounded();
    fails_with(&o, 1, "cannot reach the Docker engine at /nonexistent/docker.sock");
    assert!(text(&o).contains("hint: is dockerd running?"));
    assert_eq!(inspect(&name, "{{.State.Running}}"), "true");
    assert!(!dir.exists());
}

/// An engine without experimental mode: restore refuses before touching
/// anything. (A stand-in engine answering /_ping like dockerd does with
/// experimental off; starting a third real dockerd costs more than it
/// proves here.)
#[test]
fn restore_needs_experimental_mode() {
    require_engine();
    use std::io::{BufRead, BufReader, Write};
    let dir = temp_dir("noexp");
    let sock = dir.join("docker.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut r = BufReader::new(&c);
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = (&c).write_all(
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\nContent-Length: 2\r\n\r\nOK",
            );
        }
    });
    let name = unique("noexp");
    let _c = Container(name.clone());
    docker_ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "100"]);
    let cp = temp_dir("cp").join("noexp");
    ok(dcr(&["checkpoint", &name, s(&cp)]));
    let o = std::process::Command::new(bin())
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .args(["restore", "--name", "whatever", &name, s(&cp)])
        .bounded();
    fails_with(&o, 3, "is not in experimental mode");
    assert!(text(&o).contains("\"experimental\": true"));
}

/// An engine that answers garbage, or hangs up in the middle of an answer:
/// a clear error, nothing done.
#[test]
fn broken_engine_answers() {
    use std::io::{BufRead, BufReader, Write};
    let cases: &[(&str, &[u8], &str)] = &[
        ("garbage", b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response"),
        ("cut", b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 100\r\n\r\nOK", "closed in the middle"),
    ];
    for (what, reply, needle) in cases {
        let dir = temp_dir(what);
        let sock = dir.join("docker.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let reply = reply.to_vec();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let mut r = BufReader::new(&c);
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = (&c).write_all(&reply);
            }
        });
        let o = std::process::Command::new(bin())
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .args(["checkpoint", "web", s(&dir.join("cp"))])
            .bounded();
        fails_with(&o, 1, needle);
        assert!(text(&o).contains(&format!("cannot reach the Docker engine at {}", sock.display())), "{}", text(&o));
        assert!(!dir.join("cp").exists());
    }
}

/// Checkpoint destinations that are in the way, and manifests that lie.
#[test]
fn bad_destinations_and_manifests() {
    require_engine();
    let name = unique("dest");
    let _c = Container(name.clone());
    docker_ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "1000"]);
    let base = temp_dir("dest");
    let file = base.join("a-file");
    fs::write(&file, "").unwrap();
    fails_with(&dcr(&["checkpoint", &name, s(&file)]), 5, "already exists");
    let link = base.join("a-link");
    std::os::unix::fs::symlink("/tmp", &link).unwrap();
    fails_with(&dcr(&["checkpoint", &name, s(&link)]), 5, "already exists");
    let dangling = base.join("dangling");
    std::os::unix::fs::symlink("/nonexistent/x", &dangling).unwrap();
    fails_with(&dcr(&["checkpoint", &name, s(&dangling)]), 5, "already exists");
    // A read-only filesystem: the error names the path and the cause.
    let ro = base.join("ro");
    fs::create_dir(&ro).unwrap();
    assert!(std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", s(&ro)])
        .status()
        .unwrap()
        .success());
    let o = dcr(&["checkpoint", &name, s(&ro.join("cp"))]);
    let _ = std::process::Command::new("umount").arg(&ro).status();
    fails_with(&o, 1, "Read-only file system");
    assert!(text(&o).contains(&ro.display().to_string()), "{}", text(&o));
    assert_eq!(inspect(&name, "{{.State.Running}} {{.State.Paused}}"), "true false");
    // Malformed and ambiguous names.
    fails_with(&dcr(&["checkpoint", "../../etc", s(&base.join("x"))]), 2, "invalid container name or ID '../../etc'");
    fails_with(&dcr(&["checkpoint", "a b", s(&base.join("x"))]), 2, "invalid container name or ID 'a b'");
    fails_with(&dcr(&["checkpoint", "nosuchcontainer-dcr", s(&base.join("x"))]), 4, "no such container");
    // An ambiguous ID prefix: at most 17 containers of this test's own make
    // two share a first hex digit. Only its own count: another test's
    // container may be gone before the checkpoint asks (CI saw the prefix
    // become unique that way).
    let mut made = Vec::new();
    let mut firsts = std::collections::HashMap::new();
    let prefix = loop {
        let n = unique("amb");
        let out = docker_ok(&["create", "--name", &n, IMAGE, "true"]);
        let id = out.lines().last().unwrap_or_default().to_string();
        made.push(Container(n));
        let count = firsts.entry(id[..1].to_string()).or_insert(0);
        *count += 1;
        if *count >= 2 {
            break id[..1].to_string();
        }
    };
    let o = dcr(&["checkpoint", &prefix, s(&base.join("x"))]);
    fails_with(&o, 4, "is ambiguous");
    drop(made);

    // A good checkpoint, then manifests edited by hand.
    let dir = base.join("cp");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    let good = fs::read_to_string(dir.join("manifest.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&good).unwrap();
    m["host"]["arch"] = "riscv64".into();
    fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    // Signed by this host, then edited: refused whatever the options.
    let o = dcr(&["restore", "--trust", "--name", "x-sig", &name, s(&dir)]);
    fails_with(&o, 5, "the checkpoint's signature does not hold");
    // Unsigned, restored on the operator's word: the manifest's own checks.
    fs::remove_file(dir.join("manifest.sig")).unwrap();
    fails_with(&dcr(&["restore", "--trust", "--name", "x-arch", &name, s(&dir)]), 5, "was taken on riscv64");
    fs::write(dir.join("manifest.json"), &good[..good.len() / 2]).unwrap();
    fails_with(&dcr(&["restore", "--trust", "--name", "x-trunc", &name, s(&dir)]), 5, "is not valid JSON");
    let mut m: serde_json::Value = serde_json::from_str(&good).unwrap();
    m["files"]["../../../etc/shadow"] = serde_json::json!({"size": 1, "sha256": "0"});
    fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    fails_with(
        &dcr(&["restore", "--trust", "--name", "x-evil", &name, s(&dir)]),
        5,
        "not a plain path inside the checkpoint",
    );
    let mut m: serde_json::Value = serde_json::from_str(&good).unwrap();
    m["files"].as_object_mut().unwrap().remove("container.json");
    fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    fails_with(&dcr(&["restore", "--trust", "--name", "x-unlisted", &name, s(&dir)]), 5, "lacks container.json");
    for n in ["x-sig", "x-arch", "x-trunc", "x-evil", "x-unlisted"] {
        assert!(!exists(n));
    }
}

/// An engine that accepts the connection and never answers: a clear error
/// after DOCKER_CR_TIMEOUT, nothing done.
#[test]
fn slow_engine_times_out_clearly() {
    let dir = temp_dir("slow");
    let sock = dir.join("docker.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c); // read nothing, answer nothing
        }
    });
    let o = std::process::Command::new(bin())
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CR_TIMEOUT", "1")
        .args(["checkpoint", "web", s(&dir.join("cp"))])
        .bounded();
    fails_with(&o, 1, "the engine did not answer within 1 s (set DOCKER_CR_TIMEOUT to wait longer)");
    assert!(!dir.join("cp").exists());
}
