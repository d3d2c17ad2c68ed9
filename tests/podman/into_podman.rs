//! Archives made by docker-cr restored by Podman.
