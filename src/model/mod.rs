//! The one checkpoint model: the checkpoint directory opened and trusted
//! (`checkpoint`), its manifest and signature (`manifest`, `trust`,
//! `xxh64`), the saved container (`container`), what another engine's
//! checkpoint carries once converted (`converted`), what a restore may grant
//! (`policy`), several containers' checkpoints taken at one instant
//! (`group`), CRIU's images read and rewritten without a protobuf library
//! (`img`, `sockets`, `timerfd`, `deleted`, `pagemap`), and the rootfs diff
//! (`rootfs`).
//! Everything that reads a checkpoint from elsewhere goes through here.

pub mod bpf;
pub mod checkpoint;
pub mod container;
pub mod converted;
pub mod creds;
pub mod deleted;
pub mod grants;
pub mod group;
pub mod img;
pub mod manifest;
pub mod pagemap;
pub mod policy;
pub mod rootfs;
pub mod sockets;
pub mod targuard;
pub mod timerfd;
pub mod trust;
pub mod xxh64;
