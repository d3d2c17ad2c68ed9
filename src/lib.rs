//! docker-cr's modules, as a library so that fuzz targets (tests/fuzz) and
//! tests can reach the parsers of untrusted bytes. The binary is `main.rs`;
//! this API is not meant for other programs and is not stable.
//!
//! The folders (see each one's mod.rs): `cli` (the command table, plugin,
//! completion), `engine` (the Engine API), `host` (cgroups, CRIU, runc.conf,
//! locks, check), `model` (the checkpoint directory and what reads it),
//! `formats` (archives), `ops` (checkpoint, restore and what is built on
//! them); `store` and `error` stand alone.

pub mod cli;
pub mod engine;
pub mod error;
pub mod formats;
pub mod host;
pub mod model;
pub mod ops;
pub mod store;

// The flat names the modules had before the folders, until every path is
// written out (one step after the move, so that `git log --follow` works).
pub use cli::{complete, plugin, template};
pub use engine::{docker, endpoint, holder, http};
pub use formats::{archive, foreign, podman};
pub use host::{cgroup, check, criu, runcconf, state};
pub use model::{deleted, img, manifest, policy, rootfs, sockets, timerfd, trust, xxh64};
pub use ops::{all, catalog, checkpoint, inspect, keys, restore, transfer};

pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DOCKER_CR_COMMIT"), ")");
