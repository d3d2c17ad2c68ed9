//! The operations: each a composition of the model, the host and the
//! engine. `checkpoint` produces a checkpoint directory, `restore` consumes
//! one; `transfer` (export, import, migrate), `all` (--all), `catalog` (ls,
//! rm, prune), `inspect`, `keys` and `image` (checkpoints as OCI images
//! through a registry) are built on them.

pub mod all;
pub mod catalog;
pub mod checkpoint;
pub mod image;
pub mod inspect;
pub mod keys;
pub mod restore;
pub mod transfer;
