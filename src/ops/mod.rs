//! The operations: each a composition of the model, the host and the
//! engine. `checkpoint` produces a checkpoint directory, `restore` consumes
//! one; `transfer` (export, import, migrate), `all` (--all), `group`
//! (several containers at one instant), `catalog` (ls, rm, prune),
//! `inspect`, `keys` and `image` (checkpoints as OCI images through a
//! registry) are built on them.

/// What `--dry-run` prints: the plan in words, as JSON, and the first
/// refusal the real run would make (its error, and so its exit status).
pub type Preview = (String, serde_json::Value, Option<crate::error::Error>);

pub mod all;
pub mod catalog;
pub mod checkpoint;
pub mod group;
pub mod image;
pub mod import_plan;
pub mod inspect;
pub mod keys;
pub mod restore;
pub mod template;
pub mod transfer;
