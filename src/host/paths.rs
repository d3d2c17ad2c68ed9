//! Every path on the host docker-cr uses, in one block (as crun keeps its
//! in `criu.c`): what lives where, and why there.

/// The checkpoint store's default root (`--store`, DOCKER_CR_STORE move it).
pub const STORE: &str = "/var/lib/docker-cr";
/// Per-restore CRIU config files (`org.criu.config`): they outlive the
/// restore, since the container keeps the annotation and runc reads the
/// file again at each of its checkpoints; a dot directory of the default
/// store, which listings skip.
pub const CRIU_CONFS: &str = "/var/lib/docker-cr/.criu";
/// The stand-ins for another engine's own mounts, one directory per
/// restored container, bound into it for as long as it exists.
pub const STAND_INS: &str = "/var/lib/docker-cr/.stand-ins";
/// The network holder's pause program (Docker >= 28).
pub const HOLDER_PAUSE: &str = "/var/lib/docker-cr/net-holder-pause";
/// docker-cr's runtime directory: CRIU's logs of restores, kept logs of
/// failed ones, the overlay mount points of converted restores.
pub const RUN: &str = "/run/docker-cr";
/// One lock file per container (a checkpoint or restore under way; a
/// freeze to repair after a killed run).
pub const LOCKS: &str = "/run/docker-cr/containers";
/// The lock held around /etc/criu/runc.conf and the engine's start.
pub const RUNC_LOCK: &str = "/run/docker-cr.lock";
/// Where runc reads its CRIU options on engines without per-container
/// config files (API < 1.43).
pub const RUNC_CONF_DIR: &str = "/etc/criu";
/// This host's signing key and the keys it trusts (DOCKER_CR_KEYS moves it).
pub const KEYS: &str = "/etc/docker-cr";
