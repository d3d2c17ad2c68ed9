//! Interop with Podman (and Kubernetes' archives), both directions, against
//! the host's Podman (tests/setup-host installs it) and the host's Docker
//! engine. `#[ignore]`d: tests/run runs them in their own phase, on the
//! cgroup v1 host where Podman runs; they fail, never skip, without Podman.

mod into_docker;
mod into_podman;

use std::process::{Command, Output, Stdio};

use crate::util::text;

/// The start of this run's Podman container names (`DCR_PODMAN_PREFIX`,
/// else `default`): Podman is shared, and each user removes only its own.
fn prefix(default: &str) -> String {
    std::env::var("DCR_PODMAN_PREFIX").unwrap_or_else(|_| default.into())
}

fn podman(args: &[&str]) -> Output {
    Command::new("podman").args(args).stdin(Stdio::null()).output().expect("run podman (tests/setup-host installs it)")
}

#[track_caller]
fn podman_ok(args: &[&str]) -> String {
    let o = podman(args);
    assert!(o.status.success(), "podman {args:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A Podman container, removed when dropped.
struct PodmanCtr(String);

impl Drop for PodmanCtr {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", "-t", "0", &self.0]);
    }
}
