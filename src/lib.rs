//! docker-cr's modules, as a library so that fuzz targets (tests/fuzz) and
//! tests can reach the parsers of untrusted bytes. The binary is `main.rs`;
//! this API is not meant for other programs and is not stable.
//!
//! The folders (see each one's mod.rs): `cli` (the command table, plugin,
//! completion), `engine` (the Engine API), `host` (cgroups, CRIU, runc.conf,
//! locks, check), `model` (the checkpoint directory and what reads it),
//! `formats` (archives), `ops` (checkpoint, restore and what is built on
//! them); `store`, `error`, `report` (progress as events) and `session`
//! (what the operations of one command share) stand alone.

pub mod cli;
pub mod engine;
pub mod error;
pub mod formats;
pub mod host;
pub mod model;
pub mod ops;
pub mod report;
pub mod serve;
pub mod session;
pub mod store;

pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DOCKER_CR_COMMIT"), ")");
