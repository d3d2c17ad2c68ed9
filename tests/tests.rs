//! docker-cr's integration tests, one crate (see STYLE.md), one module per
//! feature (tests/README.md has the table): `cli` needs nothing; the others
//! drive a real Docker engine and a real CRIU (run them through tests/run,
//! which prepares the host and runs each module in its phase on its
//! engines). They fail, never skip, when the host is not ready.

mod util;

mod archive;
mod check;
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
mod round_trip;
mod serve;
mod store;
mod trust;
