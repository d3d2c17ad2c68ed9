//! Interop with Podman (and Kubernetes' archives), both directions, against
//! the host's Podman (tests/setup-host installs it) and the host's Docker
//! engine. `#[ignore]`d: tests/run runs them in their own phase, on the
//! cgroup v1 host where Podman runs; they fail, never skip, without Podman.

mod into_docker;
mod into_podman;
