//! docker-cr's integration tests, one crate (see STYLE.md): `cli` needs
//! nothing; `e2e` drives a real Docker engine and a real CRIU (run them
//! through tests/run, which prepares the host and runs them against a
//! cgroup v1 and a cgroup v2 engine). They fail, never skip, when the host
//! is not ready.

mod util;
// The checksum the manifest uses, to re-seal a checkpoint a test damaged on
// purpose (the same source file as the binary's, not a copy).
#[allow(dead_code)]
#[path = "../src/xxh64.rs"]
mod xxh64;

mod cli;
mod e2e;
mod faults;
