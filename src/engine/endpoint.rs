//! Which engine to talk to, found the way the docker CLI finds it:
//! DOCKER_HOST, then DOCKER_CONTEXT, then the `currentContext` of the
//! CLI's config.json (in DOCKER_CONFIG, default ~/.docker), then the local
//! socket. A context is read from `contexts/meta/<sha256(name)>/meta.json`
//! there. docker-cr runs CRIU and reads the engine's files, so only an
//! engine on this host's unix socket will do: another endpoint is an error
//! that says so. (As a CLI plugin, `main` turns the docker CLI's global
//! `-H`, `--context` and `--config` into these variables first.)

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// What the resolution reads from the environment.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Env {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub docker_config: Option<String>,
    pub home: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            docker_host: get("DOCKER_HOST"),
            docker_context: get("DOCKER_CONTEXT"),
            docker_config: get("DOCKER_CONFIG"),
            home: get("HOME"),
        }
    }

    /// The docker CLI's configuration directory.
    pub fn config_dir(&self) -> PathBuf {
        match (&self.docker_config, &self.home) {
            (Some(d), _) => PathBuf::from(d),
            (None, Some(h)) => Path::new(h).join(".docker"),
            (None, None) => PathBuf::from("/root/.docker"),
        }
    }
}

/// The engine's socket, and how it was chosen (for messages).
#[derive(Debug, PartialEq)]
pub struct Endpoint {
    pub socket: PathBuf,
    pub from: String,
}

fn unix(host: &str, from: &str) -> Result<Endpoint> {
    match host.strip_prefix("unix://") {
        Some(p) if !p.is_empty() => Ok(Endpoint { socket: PathBuf::from(p), from: from.to_string() }),
        _ => Err(Error::host(
            format!("{from} points at {host}, which docker-cr cannot use"),
            "docker-cr checkpoints through CRIU and the engine's files on the engine's own host: run it there, with the engine's unix socket (unix:///var/run/docker.sock)",
        )),
    }
}

/// The lowercase hex SHA-256 of a context name: its directory under
/// contexts/meta.
pub fn context_dir_name(name: &str) -> String {
    use sha2::Digest;
    crate::model::trust::hex(&sha2::Sha256::digest(name.as_bytes()))
}

/// Resolves the endpoint. `read` reads a file (None if absent); pure
/// otherwise, so that tests give it literal files.
pub fn resolve(env: &Env, read: impl Fn(&Path) -> Option<String>) -> Result<Endpoint> {
    if let Some(h) = &env.docker_host {
        return unix(h, &format!("DOCKER_HOST={h}"));
    }
    let config = env.config_dir();
    let (name, from) = match &env.docker_context {
        Some(c) => (c.clone(), format!("DOCKER_CONTEXT={c}")),
        None => {
            let path = config.join("config.json");
            let current = read(&path)
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v["currentContext"].as_str().map(str::to_string))
                .filter(|c| !c.is_empty());
            match current {
                Some(c) => (c.clone(), format!("the current context {c} ({})", path.display())),
                None => return Ok(Endpoint { socket: PathBuf::from(DEFAULT_SOCKET), from: "the default".into() }),
            }
        }
    };
    if name == "default" {
        return Ok(Endpoint { socket: PathBuf::from(DEFAULT_SOCKET), from });
    }
    let meta = config.join("contexts").join("meta").join(context_dir_name(&name)).join("meta.json");
    let text = read(&meta).ok_or_else(|| {
        Error::host(
            format!("{from}: there is no context named {name:?} ({} is missing)", meta.display()),
            "list the contexts with 'docker context ls', or set DOCKER_HOST=unix:///path/to/docker.sock",
        )
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        Error::host(format!("{} is not valid JSON: {e}", meta.display()), "repair or remove that context")
    })?;
    let host = v.pointer("/Endpoints/docker/Host").and_then(Value::as_str).unwrap_or("");
    if host.is_empty() {
        return Err(Error::host(
            format!("{from}: context {name:?} has no docker endpoint ({})", meta.display()),
            "docker context inspect shows it; give it one with 'docker context update --docker host=unix:///var/run/docker.sock'",
        ));
    }
    unix(host, &format!("{from}, context {name:?}"))
}

/// The endpoint of this process's environment.
pub fn from_process() -> Result<Endpoint> {
    resolve(&Env::from_process(), read_config)
}

/// The docker CLI's config.json or a context's meta.json: a regular file
/// of at most 1 MiB, else nothing (a link to /dev/zero or a huge file in a
/// config directory someone else controls must not hang or exhaust root's
/// docker-cr).
pub fn read_config(p: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(p).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut s = String::new();
    f.take((1 << 20) + 1).read_to_string(&mut s).ok()?;
    (s.len() <= 1 << 20).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn config_files_are_small_regular_files() {
        let d = std::env::temp_dir().join(format!("docker-cr-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("config.json")).unwrap();
        assert_eq!(read_config(&d.join("config.json")), None);
        std::fs::write(d.join("big.json"), vec![b' '; (1 << 20) + 2]).unwrap();
        assert_eq!(read_config(&d.join("big.json")), None);
        std::fs::write(d.join("ok.json"), "{}").unwrap();
        assert_eq!(read_config(&d.join("ok.json")).as_deref(), Some("{}"));
        let e = Env { docker_config: Some(d.to_string_lossy().into_owned()), ..Env::default() };
        assert_eq!(resolve(&e, read_config).unwrap().socket, PathBuf::from(DEFAULT_SOCKET));
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn files(list: &[(&str, &str)]) -> impl Fn(&Path) -> Option<String> {
        let m: HashMap<PathBuf, String> = list.iter().map(|(p, t)| (PathBuf::from(p), t.to_string())).collect();
        move |p: &Path| m.get(p).cloned()
    }

    fn env(host: Option<&str>, context: Option<&str>) -> Env {
        Env {
            docker_host: host.map(str::to_string),
            docker_context: context.map(str::to_string),
            docker_config: Some("/cfg".into()),
            home: Some("/root".into()),
        }
    }

    #[test]
    fn the_docker_clis_order() {
        let prod = format!("/cfg/contexts/meta/{}/meta.json", context_dir_name("prod"));
        let fs = files(&[
            ("/cfg/config.json", r#"{"currentContext": "prod"}"#),
            (&prod, r#"{"Name":"prod","Endpoints":{"docker":{"Host":"unix:///run/prod.sock","SkipTLSVerify":false}}}"#),
        ]);
        // DOCKER_HOST first, even with a context set.
        assert_eq!(resolve(&env(Some("unix:///a.sock"), Some("prod")), &fs).unwrap().socket, PathBuf::from("/a.sock"));
        // DOCKER_CONTEXT, then config.json's currentContext.
        assert_eq!(resolve(&env(None, Some("prod")), &fs).unwrap().socket, PathBuf::from("/run/prod.sock"));
        let e = resolve(&env(None, None), &fs).unwrap();
        assert_eq!(e.socket, PathBuf::from("/run/prod.sock"));
        assert!(e.from.contains("current context prod"), "{}", e.from);
        assert_eq!(resolve(&env(None, Some("default")), &fs).unwrap().socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(resolve(&env(None, None), files(&[])).unwrap().socket, PathBuf::from(DEFAULT_SOCKET));
        // The directory name is the SHA-256 of the name, as docker's store has it.
        assert_eq!(context_dir_name("default"), "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f");
    }

    #[test]
    fn what_cannot_be_used_is_said() {
        let e = resolve(&env(Some("tcp://10.0.0.5:2376"), None), files(&[])).unwrap_err();
        assert!(e.to_string().contains("DOCKER_HOST=tcp://10.0.0.5:2376 points at tcp://10.0.0.5:2376"), "{e}");
        assert_eq!(e.exit_code(), 3);
        let remote = format!("/cfg/contexts/meta/{}/meta.json", context_dir_name("remote"));
        let fs = files(&[(&remote, r#"{"Endpoints":{"docker":{"Host":"ssh://me@far"}}}"#)]);
        let e = resolve(&env(None, Some("remote")), &fs).unwrap_err().to_string();
        assert!(e.contains("context \"remote\" points at ssh://me@far"), "{e}");
        let e = resolve(&env(None, Some("nope")), files(&[])).unwrap_err().to_string();
        assert!(e.contains("there is no context named \"nope\""), "{e}");
    }
}
