//! Adapters between the checkpoint directory and other formats: one-file
//! archives in Podman's / checkpointctl's layout (`archive`), what Podman
//! needs to restore ours (`podman`), and other engines' archives (Podman's,
//! the kubelet's) turned into docker-cr's checkpoint model (`foreign`), and
//! checkpoints as OCI images (`oci`).

pub mod archive;
pub mod foreign;
pub mod frames;
pub mod oci;
pub mod podman;
