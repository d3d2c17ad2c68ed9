//! docker-cr's modules, as a library so that fuzz targets (tests/fuzz) and
//! tests can reach the parsers of untrusted bytes. The binary is `main.rs`;
//! this API is not meant for other programs and is not stable.

pub mod all;
pub mod archive;
pub mod catalog;
pub mod cgroup;
pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod complete;
pub mod criu;
pub mod deleted;
pub mod docker;
pub mod endpoint;
pub mod error;
pub mod foreign;
pub mod holder;
pub mod host;
pub mod http;
pub mod img;
pub mod inspect;
pub mod keys;
pub mod manifest;
pub mod plugin;
pub mod policy;
pub mod restore;
pub mod rootfs;
pub mod runcconf;
pub mod state;
pub mod store;
pub mod template;
pub mod timerfd;
pub mod transfer;
pub mod trust;
pub mod xxh64;

pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DOCKER_CR_COMMIT"), ")");
