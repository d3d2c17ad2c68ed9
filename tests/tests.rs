//! docker-cr's integration tests, one crate (see STYLE.md): `cli` needs
//! nothing; `e2e` drives a real Docker engine and a real CRIU (run them
//! through tests/run, which prepares the host and runs them against a
//! cgroup v1 and a cgroup v2 engine). They fail, never skip, when the host
//! is not ready.

mod util;

mod archive;
mod check;
mod checkpoint_restore;
mod cli;
mod compose;
mod criu_corners;
mod dry_run;
mod engines;
mod errors;
mod faults;
mod image;
mod lazy;
mod migrate;
mod plugin;
mod podman;
mod privileges;
mod serve;
mod store;
mod trust;
