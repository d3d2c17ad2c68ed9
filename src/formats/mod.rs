//! Adapters between the checkpoint directory and other formats: one-file
//! archives in Podman's / checkpointctl's layout (`archive`).

pub mod archive;
