//! Adapters between the checkpoint directory and other formats: one-file
//! archives in Podman's / checkpointctl's layout (`archive`), and what
//! Podman needs to restore ours (`podman`).

pub mod archive;
pub mod podman;
