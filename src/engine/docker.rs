//! The Docker Engine API calls docker-cr makes, over `http` on the unix socket.
//! Inspect data is kept as `serde_json::Value`: it is saved whole into the
//! checkpoint and fed back to `POST /containers/create`, and a typed copy of
//! Docker's schema would drop fields newer engines add.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use crate::engine::http;
use crate::error::{Error, IoContext, Result};

/// Oldest API we speak: Docker 17.06 (checkpoint start, `condition=` on wait).
const MIN_API: (u32, u32) = (1, 30);
/// Newest API we ask for; a newer engine still serves it.
const MAX_API: (u32, u32) = (1, 43);

/// How long one API call may take (DOCKER_CR_TIMEOUT overrides it).
const TIMEOUT: Duration = Duration::from_secs(60);
/// Starting from a checkpoint streams the small images through containerd.
const START_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct Engine {
    pub socket: PathBuf,
    api: String,
    pub experimental: bool,
    timeout: Duration,
}

/// DOCKER_CR_TIMEOUT in seconds, for a slow or stuck engine.
/// An image save or load moves the whole image: minutes, not seconds.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(1800);

pub fn timeout_from_env(v: Option<&str>) -> Result<Duration> {
    match v {
        None | Some("") => Ok(TIMEOUT),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
            _ => Err(Error::Usage(format!(
                "DOCKER_CR_TIMEOUT={v:?} is not a number of seconds\nTry 'docker-cr --help'."
            ))),
        },
    }
}

/// An I/O error from the socket, said the way a person can act on it.
fn io_error(what: String, e: std::io::Error, timeout: Duration) -> Error {
    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
        return Error::engine(
            format!(
                "{what}: the engine did not answer within {} s (set DOCKER_CR_TIMEOUT to wait longer)",
                timeout.as_secs()
            ),
            None,
        );
    }
    Error::engine(what, Some(e))
}

/// The engine's socket, found as the docker CLI finds it (see `endpoint`).
pub fn socket() -> Result<PathBuf> {
    crate::engine::endpoint::from_process().map(|e| e.socket)
}

fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Picks the API version to use from the one the engine reports.
pub fn negotiate(server: &str) -> Result<String> {
    let v = parse_api(server)
        .ok_or_else(|| Error::engine(format!("the engine reported a malformed API version {server:?}"), None))?;
    if v < MIN_API {
        return Err(Error::host(
            format!("the engine speaks API {server}; docker-cr needs {}.{} or newer", MIN_API.0, MIN_API.1),
            "upgrade Docker to 17.06 or newer",
        ));
    }
    let v = v.min(MAX_API);
    Ok(format!("{}.{}", v.0, v.1))
}

/// The 12-character form Docker shows.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Percent-encodes a query or path value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().chars().take(300).collect())
}

impl Engine {
    /// Connects: `/_ping` tells the API version and whether experimental is on.
    pub fn connect(socket: &Path) -> Result<Engine> {
        let timeout = timeout_from_env(std::env::var("DOCKER_CR_TIMEOUT").ok().as_deref())?;
        let r = http::request(socket, "GET", "/_ping", None, timeout)
            .map_err(|e| io_error(format!("cannot reach the Docker engine at {}", socket.display()), e, timeout))?;
        if r.status != 200 {
            return Err(Error::engine(
                format!("{} answered /_ping with status {}; is it a Docker engine?", socket.display(), r.status),
                None,
            ));
        }
        let api = r.header("Api-Version").ok_or_else(|| {
            Error::engine(
                format!("{} answered /_ping without an Api-Version; is it a Docker engine?", socket.display()),
                None,
            )
        })?;
        Ok(Engine {
            socket: socket.to_path_buf(),
            api: negotiate(api)?,
            experimental: r.header("Docker-Experimental") == Some("true"),
            timeout,
        })
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>, timeout: Duration) -> Result<http::Response> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let url = format!("/v{}{}", self.api, path);
        let r = http::request(&self.socket, method, &url, bytes.as_deref(), timeout)
            .map_err(|e| io_error(format!("{method} {path} on {}", self.socket.display()), e, timeout))?;
        if r.status >= 300 {
            let call = format!("{method} {}", path.split('?').next().unwrap_or(path));
            return Err(Error::Docker { call, status: r.status, message: message(&r.body) });
        }
        Ok(r)
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let r = self.call(method, path, body, self.timeout)?;
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&r.body)
            .map_err(|e| Error::engine(format!("{method} {path}: the engine's answer is not JSON ({e})"), None))
    }

    pub fn info(&self) -> Result<Value> {
        self.json("GET", "/info", None)
    }

    /// `GET /version`: the engine's version, its API and its components
    /// (containerd, runc, docker-init).
    pub fn version(&self) -> Result<Value> {
        self.json("GET", "/version", None)
    }

    /// Inspects a container; `Ok(None)` when there is none of that name or ID.
    pub fn inspect(&self, name: &str) -> Result<Option<Value>> {
        match self.json("GET", &format!("/containers/{}/json", esc(name)), None) {
            Ok(v) if v.get("Id").and_then(Value::as_str).is_some_and(|id| !id.is_empty()) => Ok(Some(v)),
            Ok(_) => Err(Error::engine(format!("GET /containers/{name}/json: the answer is not a container"), None)),
            Err(Error::Docker { status: 404, .. }) => Ok(None),
            Err(Error::Docker { message, .. }) if is_ambiguous(&message) => Err(Error::container(
                format!("the ID prefix {name} is ambiguous: it matches more than one container"),
                "give more characters of the ID, or the name",
            )),
            Err(e) => Err(e),
        }
    }

    /// `GET /containers/json?all=1`: every container (summaries).
    pub fn all(&self) -> Result<Vec<Value>> {
        Ok(self.json("GET", "/containers/json?all=1", None)?.as_array().cloned().unwrap_or_default())
    }

    /// `GET /containers/json`: the running containers (summaries).
    pub fn running(&self) -> Result<Vec<Value>> {
        Ok(self.json("GET", "/containers/json", None)?.as_array().cloned().unwrap_or_default())
    }

    /// The summaries (Id, Names, Labels, State...) of every container that
    /// has `label`, only those in `status` if given (`GET /containers/json`).
    pub fn list_with_label(&self, label: &str, status: Option<&str>) -> Result<Vec<Value>> {
        let mut f = json!({ "label": [label] });
        if let Some(st) = status {
            f["status"] = json!([st]);
        }
        let v = self.json("GET", &format!("/containers/json?all=1&filters={}", esc(&f.to_string())), None)?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    pub fn image_id(&self, name: &str) -> Result<Option<String>> {
        match self.json("GET", &format!("/images/{}/json", esc(name)), None) {
            Ok(v) => Ok(v.get("Id").and_then(Value::as_str).map(str::to_string)),
            Err(Error::Docker { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn exec_running(&self, exec_id: &str) -> Result<Option<i64>> {
        let v = self.json("GET", &format!("/exec/{}/json", esc(exec_id)), None)?;
        Ok((v["Running"] == true).then(|| v["Pid"].as_i64().unwrap_or(0)))
    }

    /// Creates a container; returns its ID.
    pub fn create(&self, name: &str, body: &Value) -> Result<String> {
        let v = self.json("POST", &format!("/containers/create?name={}", esc(name)), Some(body))?;
        v.get("Id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::engine("POST /containers/create: no Id in the answer", None))
    }

    /// Starts a container (no checkpoint).
    pub fn start(&self, id: &str) -> Result<()> {
        match self.call("POST", &format!("/containers/{}/start", esc(id)), None, self.timeout) {
            Ok(_) | Err(Error::Docker { status: 304, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn rename(&self, id: &str, name: &str) -> Result<()> {
        self.call("POST", &format!("/containers/{}/rename?name={}", esc(id), esc(name)), None, self.timeout).map(drop)
    }

    pub fn update_restart_policy(&self, id: &str, policy: &Value) -> Result<()> {
        self.json("POST", &format!("/containers/{}/update", esc(id)), Some(&json!({ "RestartPolicy": policy })))
            .map(drop)
    }

    /// `GET /volumes/NAME`; `Ok(None)` when there is none.
    pub fn volume(&self, name: &str) -> Result<Option<Value>> {
        match self.json("GET", &format!("/volumes/{}", esc(name)), None) {
            Ok(v) => Ok(Some(v)),
            Err(Error::Docker { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /networks/NAME`; `Ok(None)` when there is none.
    pub fn network(&self, name: &str) -> Result<Option<Value>> {
        match self.json("GET", &format!("/networks/{}", esc(name)), None) {
            Ok(v) if v.get("Id").and_then(Value::as_str).is_some_and(|id| !id.is_empty()) => Ok(Some(v)),
            Ok(_) => Err(Error::engine(format!("GET /networks/{name}: the answer is not a network"), None)),
            Err(Error::Docker { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /networks/create`; returns its ID.
    pub fn create_network(&self, body: &Value) -> Result<String> {
        let v = self.json("POST", "/networks/create", Some(body))?;
        v.get("Id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::engine("POST /networks/create: no Id in the answer", None))
    }

    /// `docker network rm NAME`; one that is already gone is fine.
    pub fn remove_network(&self, name: &str) -> Result<()> {
        match self.call("DELETE", &format!("/networks/{}", esc(name)), None, self.timeout) {
            Ok(_) | Err(Error::Docker { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /volumes/create` with the given body (name, driver, options,
    /// labels); the engine answers with the volume.
    pub fn create_volume_as(&self, body: &Value) -> Result<Value> {
        self.json("POST", "/volumes/create", Some(body))
    }

    /// `docker save IMAGE` into `out` (GET /images/NAME/get), streamed.
    pub fn save_image(&self, image: &str, out: &mut impl std::io::Write) -> Result<()> {
        let path = format!("/images/{}/get", esc(image));
        let url = format!("/v{}{path}", self.api);
        let r = http::get_into(&self.socket, &url, out, IMAGE_TIMEOUT)
            .map_err(|e| io_error(format!("GET {path} on {}", self.socket.display()), e, IMAGE_TIMEOUT))?;
        if r.status != 200 {
            return Err(Error::Docker { call: format!("GET {path}"), status: r.status, message: message(&r.body) });
        }
        Ok(())
    }

    /// `docker load` from `tar` (POST /images/load), streamed. The engine
    /// reports a failure inside a 200 answer's JSON stream.
    pub fn load_image(&self, tar: &mut impl std::io::Read) -> Result<()> {
        let url = format!("/v{}/images/load?quiet=1", self.api);
        let r = http::post_from(&self.socket, &url, "application/x-tar", tar, IMAGE_TIMEOUT)
            .map_err(|e| io_error(format!("POST /images/load on {}", self.socket.display()), e, IMAGE_TIMEOUT))?;
        let failed = String::from_utf8_lossy(&r.body)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
        if r.status >= 300 || failed.is_some() {
            let message = failed.unwrap_or_else(|| message(&r.body));
            return Err(Error::Docker { call: "POST /images/load".into(), status: r.status, message });
        }
        Ok(())
    }

    /// `docker import` of a root filesystem tar (POST /images/create with
    /// fromSrc=-), untagged; returns the new image's ID. The engine reports
    /// a failure inside a 200 answer's JSON stream.
    pub fn import_image(&self, tar: &mut impl std::io::Read) -> Result<String> {
        let url = format!("/v{}/images/create?fromSrc=-", self.api);
        let r = http::post_from(&self.socket, &url, "application/x-tar", tar, IMAGE_TIMEOUT)
            .map_err(|e| io_error(format!("POST /images/create on {}", self.socket.display()), e, IMAGE_TIMEOUT))?;
        let lines: Vec<Value> =
            String::from_utf8_lossy(&r.body).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect();
        let failed = lines.iter().find_map(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
        if r.status >= 300 || failed.is_some() {
            let message = failed.unwrap_or_else(|| message(&r.body));
            return Err(Error::Docker { call: "POST /images/create".into(), status: r.status, message });
        }
        lines
            .iter()
            .rev()
            .find_map(|v| v["status"].as_str().filter(|s| s.starts_with("sha256:")).map(str::to_string))
            .ok_or_else(|| Error::engine("POST /images/create: no image ID in the answer", None))
    }

    /// `docker tag IMAGE REPO:TAG` (POST /images/IMAGE/tag). The engine
    /// moves a tag that exists: callers check first (`tag_if_free`).
    pub fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<()> {
        let path = format!("/images/{}/tag?repo={}&tag={}", esc(image), esc(repo), esc(tag));
        self.call("POST", &path, None, self.timeout).map(drop)
    }

    /// `docker rmi REF` without pruning parents; one that is gone is fine.
    /// For a tag of an image with other tags this only removes the tag.
    pub fn remove_image(&self, reference: &str) -> Result<()> {
        match self.call("DELETE", &format!("/images/{}?noprune=1", esc(reference)), None, self.timeout) {
            Ok(_) | Err(Error::Docker { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `docker load` of `tar` as written by `write` on another thread
    /// (through a pipe, so nothing is buffered whole), e.g.
    /// `archive::write_image_tar_for_load`.
    pub fn load_image_from(
        &self,
        write: impl FnOnce(&mut std::io::PipeWriter) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let (mut r, mut w) = std::io::pipe().at("create a pipe for", Path::new("POST /images/load"))?;
        let writer = std::thread::spawn(move || write(&mut w));
        let loaded = self.load_image(&mut r);
        drop(r);
        let wrote = writer.join().unwrap_or_else(|_| Err(Error::engine("the image writer panicked", None)));
        // The writer's error says why the engine saw a short tar.
        wrote.and(loaded)
    }

    /// Tags `image_id` as `name` unless `name` exists: whatever has the name
    /// on this host keeps it. Returns whether `name` now means `image_id`
    /// (false: it means another image, which was left alone).
    pub fn tag_if_free(&self, image_id: &str, name: &str) -> Result<bool> {
        let (repo, tag) = split_reference(name);
        match self.image_id(name)? {
            Some(id) => Ok(id == image_id),
            None => {
                self.tag_image(image_id, repo, tag)?;
                // Another load may have taken the name between the two calls:
                // say so rather than believe the tag.
                Ok(self.image_id(name)?.as_deref() == Some(image_id))
            }
        }
    }

    /// `docker volume create NAME` (local driver); returns the volume.
    /// `labels`: Docker answers a create of an existing local volume with
    /// that volume, labels and all, so a label of the caller's tells
    /// whether this call made it.
    pub fn create_volume(&self, name: &str, labels: &Value) -> Result<Value> {
        self.json("POST", "/volumes/create", Some(&json!({ "Name": name, "Driver": "local", "Labels": labels })))
    }

    /// IDs of the containers (running or not) that use volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        let filter = json!({ "volume": [name] }).to_string();
        let v = self.json("GET", &format!("/containers/json?all=1&filters={}", esc(&filter)), None)?;
        Ok(v.as_array().into_iter().flatten().filter_map(|c| c["Id"].as_str().map(str::to_string)).collect())
    }

    /// `docker volume rm NAME`; one that is already gone is fine.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        match self.call("DELETE", &format!("/volumes/{}", esc(name)), None, self.timeout) {
            Ok(_) | Err(Error::Docker { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `docker rm -f -v`: also removes its anonymous volumes.
    pub fn remove_with_volumes(&self, id: &str) -> Result<()> {
        match self.call("DELETE", &format!("/containers/{}?force=1&v=1", esc(id)), None, self.timeout) {
            Ok(_) | Err(Error::Docker { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `docker pause`: freezes the container's cgroup; the engine records it.
    pub fn pause(&self, id: &str) -> Result<()> {
        self.call("POST", &format!("/containers/{}/pause", esc(id)), None, self.timeout).map(drop)
    }

    pub fn start_from_checkpoint(&self, id: &str, checkpoint: &str) -> Result<()> {
        let path = format!("/containers/{}/start?checkpoint={}", esc(id), esc(checkpoint));
        self.call("POST", &path, None, START_TIMEOUT.max(self.timeout)).map(drop)
    }

    /// Waits until the container is not running; returns its exit code.
    pub fn wait_not_running(&self, id: &str) -> Result<i64> {
        let v = self.json("POST", &format!("/containers/{}/wait?condition=not-running", esc(id)), None)?;
        Ok(v["StatusCode"].as_i64().unwrap_or(-1))
    }

    /// SIGKILLs the container and waits until it has stopped. A container
    /// that is not running is not an error.
    pub fn kill(&self, id: &str) -> Result<()> {
        match self.call("POST", &format!("/containers/{}/kill?signal=KILL", esc(id)), None, self.timeout) {
            Ok(_) => self.wait_not_running(id).map(drop),
            Err(Error::Docker { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The names of all containers, for completion.
    pub fn container_names(&self) -> Result<Vec<String>> {
        let v = self.json("GET", "/containers/json?all=1", None)?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["Names"].as_array()?.first()?.as_str().map(|n| n.trim_start_matches('/').to_string()))
            .collect())
    }

    /// Removes a container (forced, its volumes kept). One the engine is
    /// removing already (AutoRemove, as network holders have) is waited for.
    pub fn remove(&self, id: &str) -> Result<()> {
        match self.call("DELETE", &format!("/containers/{}?force=1", esc(id)), None, self.timeout) {
            Ok(_) | Err(Error::Docker { status: 404, .. }) => Ok(()),
            Err(Error::Docker { status: 409, message, .. }) if message.contains("already in progress") => {
                match self.call("POST", &format!("/containers/{}/wait?condition=removed", esc(id)), None, self.timeout)
                {
                    Ok(_) | Err(Error::Docker { status: 404, .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// A reference's repository and tag (`latest` when it names none); a
/// digest reference keeps its digest as the tag part's absence.
pub fn split_reference(name: &str) -> (&str, &str) {
    let name = name.split('@').next().unwrap_or(name);
    match name.rfind(':') {
        Some(i) if !name[i + 1..].contains('/') => (&name[..i], &name[i + 1..]),
        _ => (name, "latest"),
    }
}

/// The engine's answer to an ID prefix that matches several containers:
/// "Multiple IDs found with provided prefix" on Docker 20.10,
/// "multiple IDs found ..." (status 400) on Docker 26 and 28.
pub fn is_ambiguous(message: &str) -> bool {
    message.to_ascii_lowercase().contains("multiple ids found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_setting() {
        assert_eq!(timeout_from_env(None).unwrap(), TIMEOUT);
        assert_eq!(timeout_from_env(Some("5")).unwrap(), Duration::from_secs(5));
        assert_eq!(timeout_from_env(Some("0")).unwrap_err().exit_code(), 2);
        assert!(timeout_from_env(Some("soon")).is_err());
        let e =
            io_error("GET /_ping".into(), std::io::Error::from(std::io::ErrorKind::WouldBlock), Duration::from_secs(5));
        assert_eq!(
            e.to_string(),
            "GET /_ping: the engine did not answer within 5 s (set DOCKER_CR_TIMEOUT to wait longer)"
        );
    }

    #[test]
    fn api_negotiation() {
        assert_eq!(negotiate("1.41").unwrap(), "1.41");
        assert_eq!(negotiate("1.50").unwrap(), "1.43");
        assert!(negotiate("1.24").is_err());
        assert!(negotiate("x").is_err());
    }

    #[test]
    fn escaping_and_messages() {
        assert_eq!(esc("web-1_a.b"), "web-1_a.b");
        assert_eq!(esc("a/b c"), "a%2Fb%20c");
        assert_eq!(message(br#"{"message":"No such container: x"}"#), "No such container: x");
        assert_eq!(message(b"page not found\n"), "page not found");
    }

    #[test]
    fn references() {
        assert_eq!(split_reference("redis"), ("redis", "latest"));
        assert_eq!(split_reference("docker-cr-test:busybox"), ("docker-cr-test", "busybox"));
        assert_eq!(split_reference("localhost:5000/a/b"), ("localhost:5000/a/b", "latest"));
        assert_eq!(split_reference("localhost:5000/a/b:v1"), ("localhost:5000/a/b", "v1"));
    }

    #[test]
    fn ambiguous_prefix_on_every_generation() {
        assert!(is_ambiguous("Multiple IDs found with provided prefix: 9")); // 20.10
        assert!(is_ambiguous("multiple IDs found with provided prefix: 9")); // 26, 28
        assert!(!is_ambiguous("No such container: 9"));
    }
}
