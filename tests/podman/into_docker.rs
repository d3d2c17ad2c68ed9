//! Archives made by Podman (and in the kubelet's format) restored into Docker.
