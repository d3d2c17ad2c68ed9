//! Archives made by docker-cr restored by Podman (issue 9, "Docker →
//! Podman"): `docker-cr checkpoint --export F` of a Docker container, then
//! `podman container restore --import F`, against the real engine, CRIU
//! and Podman 4.3. The counter keeps its in-memory token and goes on, the
//! file written before the checkpoint is there, the deleted one stays
//! deleted, the process is in Podman's network; docker-cr still restores
//! the same archive into Docker.

use std::process::Command;

use super::{podman, podman_ok, PodmanCtr};
use crate::util::*;

/// Fails (never skips) without Podman or without the test image in it
/// under the same ID as in Docker (Podman finds the image by that ID).
fn require_podman() {
    let o = podman(&["version", "--format", "{{.Client.Version}}"]);
    assert!(o.status.success(), "Podman is missing or broken: run tests/setup-host\n{}", text(&o));
    let docker_id = inspect(IMAGE, "{{.Id}}");
    let podman_id = podman_ok(&["image", "inspect", "--format", "{{.Id}}", &format!("localhost/{IMAGE}")]);
    assert_eq!(
        docker_id.trim_start_matches("sha256:"),
        podman_id,
        "{IMAGE} differs between Docker and Podman: docker save {IMAGE} | podman load (tests/setup-host)"
    );
}

/// The counter's "TOKEN N", read through `ENGINE exec`.
#[track_caller]
fn state(engine: &str, name: &str) -> (String, u64) {
    let o = Command::new(engine).args(["exec", name, "cat", "/var/www/state"]).output().unwrap();
    assert!(o.status.success(), "{engine} exec {name} failed:\n{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    let mut it = s.split_whitespace();
    let token = it.next().unwrap_or("").to_string();
    let n = it.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no counter in {s:?}"));
    (token, n)
}

/// The counter in `name` runs the checkpointed memory: the token only its
/// memory held, a count at least `from`, and counting.
#[track_caller]
fn continues(engine: &str, name: &str, token: &str, from: u64) {
    let (t1, n1) = state(engine, name);
    assert_eq!(t1, token, "{engine}: the in-memory token is gone: the counter started from scratch");
    assert!(n1 >= from, "{engine}: the counter went back from {from} to {n1}");
    let mut n2 = n1;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        n2 = state(engine, name).1;
        if n2 > n1 {
            break;
        }
    }
    assert!(n2 > n1, "{engine}: the counter stopped at {n1}");
}

#[test]
#[ignore]
fn docker_checkpoint_restored_by_podman() {
    require_engine();
    require_podman();
    let name = unique("p2pod");
    let _guard = Container(name.clone());
    // No published port: the state is read through exec in both engines.
    let token = start_counter(&name, 0, &[]);
    let mut count = 0;
    while count < 10 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        count = state("docker", &name).1;
    }
    docker_ok(&["exec", &name, "sh", "-c", "echo kept > /tmp/test.txt && rm /var/www/index.html"]);
    let tmp = temp_dir("p2pod");
    for (codec, flags) in
        [("zstd", &[][..]), ("gzip", &["--compress", "gzip"][..]), ("none", &["--compress", "none"][..])]
    {
        let file = tmp.join(format!("cp.{codec}"));
        let file_s = file.to_str().unwrap();
        let from = state("docker", &name).1;
        let mut args = vec!["checkpoint", "--export", file_s];
        args.extend_from_slice(flags);
        args.push(&name);
        let o = ok(dcr(&args));
        let out = text(&o);
        assert!(out.contains(&format!("podman container restore --import {file_s}")), "{codec}: {out}");

        let prefix = super::prefix("p2-");
        let pname = format!("{prefix}{}", unique("into"));
        let _pguard = PodmanCtr(pname.clone());
        let o = podman(&["container", "restore", "--import", file_s, "--name", &pname]);
        assert!(o.status.success(), "{codec}: podman container restore --import failed:\n{}", text(&o));
        continues("podman", &pname, &token, from);
        assert_eq!(podman_ok(&["exec", &pname, "cat", "/tmp/test.txt"]), "kept", "{codec}");
        assert!(
            !podman(&["exec", &pname, "test", "-e", "/var/www/index.html"]).status.success(),
            "{codec}: the deleted file is back"
        );
        // The restored process is in the network namespace Podman made
        // (its eth0), not in an empty one of CRIU's.
        let dev = podman_ok(&["exec", &pname, "cat", "/proc/1/net/dev"]);
        assert!(dev.contains("eth0:"), "{codec}: not in Podman's network namespace:\n{dev}");
    }

    // docker-cr's own restore of the same archive is unaffected.
    docker_ok(&["rm", "-f", &name]);
    let file = tmp.join("cp.zstd");
    let from = count;
    ok(dcr(&["restore", "--import", file.to_str().unwrap()]));
    continues("docker", &name, &token, from);
    assert_eq!(docker_ok(&["exec", &name, "cat", "/tmp/test.txt"]), "kept");
    assert!(!docker(&["exec", &name, "test", "-e", "/var/www/index.html"]).status.success());
    let _ = std::fs::remove_dir_all(&tmp);
}

// What Podman cannot restore, the export says, naming the reason.
#[test]
#[ignore]
fn export_says_when_podman_cannot_restore() {
    require_engine();
    let name = unique("p2bind");
    let _guard = Container(name.clone());
    let src = temp_dir("p2bind");
    let bind = format!("{}:/data", src.display());
    start_counter(&name, 0, &["-v", &bind]);
    let file = src.join("cp.tar.zst");
    let o = ok(dcr(&["checkpoint", "--export", file.to_str().unwrap(), &name]));
    let out = text(&o);
    assert!(out.contains("not restorable by Podman: it mounts volumes or host paths (/data)"), "{out}");
    assert!(!out.contains("podman container restore"), "{out}");
    let _ = std::fs::remove_dir_all(&src);
}
