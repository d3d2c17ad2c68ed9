//! The Docker Engine: HTTP/1.1 on its unix socket (`http`), the API calls
//! docker-cr makes (`docker`), where the engine is (DOCKER_HOST, contexts:
//! `endpoint`), and what an engine generation needs beyond the API (the
//! network holder of Docker >= 28: `holder`); and image registries (the OCI
//! distribution API: `registry`).

pub mod docker;
pub mod endpoint;
pub mod holder;
pub mod http;
pub mod registry;
