//! docker-cr as a Docker CLI plugin (`docker cr …`): the same binary,
//! installed as `docker-cr` in a cli-plugins directory. The docker CLI runs
//! it with `docker-cli-plugin-metadata` to learn about it, and otherwise
//! with its own whole argument list, global options first (`docker --context
//! prod -D cr checkpoint web` gives `--context prod -D cr checkpoint web`).
//! It resolves no engine for the plugin and tells Ctrl-C by closing the
//! socket named in DOCKER_CLI_PLUGIN_SOCKET. See docker/cli `cli-plugins/`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

pub const METADATA_CMD: &str = "docker-cli-plugin-metadata";
/// The plugin's name: the docker CLI runs `docker-<name>` for `docker <name>`.
pub const NAME: &str = "cr";
/// Set by the docker CLI when it runs a plugin.
pub const ORIGINAL_CLI: &str = "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND";
pub const SOCKET_ENV: &str = "DOCKER_CLI_PLUGIN_SOCKET";

/// What `docker-cli-plugin-metadata` prints; answered without touching the
/// engine (the CLI asks for every `docker --help`).
pub fn metadata() -> String {
    serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "docker-cr",
        "Version": env!("CARGO_PKG_VERSION"),
        "ShortDescription": "Checkpoint and restore containers with CRIU",
        "URL": "https://criu.org",
    })
    .to_string()
}

/// The docker CLI's global options that matter to docker-cr.
#[derive(Debug, Default, PartialEq)]
pub struct Globals {
    pub host: Option<String>,
    pub context: Option<String>,
    pub config: Option<String>,
}

/// The docker CLI's global options that take a value (cli/flags/options.go).
const WITH_VALUE: &[&str] =
    &["--config", "-c", "--context", "-l", "--log-level", "--tlscacert", "--tlscert", "--tlskey", "-H", "--host"];
const SWITCHES: &[&str] = &["-D", "--debug", "--tls", "--tlsverify"];

/// Splits the docker CLI's argument list into its global options and
/// docker-cr's own arguments (those after `cr`). Pure.
pub fn split_args(args: &[OsString]) -> Result<(Globals, Vec<OsString>)> {
    let mut g = Globals::default();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_str().ok_or_else(|| usage(format!("{:?} is not valid UTF-8", args[i])))?;
        if a == NAME {
            return Ok((g, args[i + 1..].to_vec()));
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => match a.as_bytes() {
                // -Hunix:///x, -cprod
                [b'-', c @ (b'H' | b'c' | b'l'), _, ..] => {
                    let f = if *c == b'H' {
                        "-H"
                    } else if *c == b'c' {
                        "-c"
                    } else {
                        "-l"
                    };
                    (f, Some(a[2..].to_string()))
                }
                _ => (a, None),
            },
        };
        if SWITCHES.contains(&flag) {
            i += 1;
            continue;
        }
        if !WITH_VALUE.contains(&flag) {
            return Err(usage(format!("unexpected {a:?} before '{NAME}'")));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .and_then(|v| v.to_str())
                    .map(str::to_string)
                    .ok_or_else(|| usage(format!("{flag} needs a value")))?
            }
        };
        match flag {
            "-H" | "--host" => g.host = Some(value),
            "-c" | "--context" => g.context = Some(value),
            "--config" => g.config = Some(value),
            _ => {}
        }
        i += 1;
    }
    Err(usage(format!("the docker CLI's arguments do not name the '{NAME}' command")))
}

fn usage(msg: String) -> Error {
    Error::Usage(format!("{msg}\nTry 'docker cr --help'."))
}

/// The environment changes that make the docker CLI's global options
/// govern this process, in the docker CLI's order (a context given as an
/// option beats DOCKER_HOST; -H beats DOCKER_CONTEXT and the current
/// context). Pure: (name, Some(value)) sets, (name, None) removes.
pub fn env_for(g: &Globals) -> Result<Vec<(&'static str, Option<String>)>> {
    let mut out = Vec::new();
    if let Some(c) = &g.config {
        out.push(("DOCKER_CONFIG", Some(c.clone())));
    }
    match (&g.host, &g.context) {
        (Some(_), Some(_)) => {
            return Err(usage("conflicting options: either specify --host or --context, not both".into()))
        }
        (Some(h), None) => {
            let h = if h.starts_with('/') { format!("unix://{h}") } else { h.clone() };
            out.push(("DOCKER_HOST", Some(h)));
        }
        (None, Some(c)) => {
            out.push(("DOCKER_HOST", None));
            out.push(("DOCKER_CONTEXT", Some(c.clone())));
        }
        (None, None) => {}
    }
    Ok(out)
}

/// Watches the docker CLI's plugin socket: the CLI closes it when the user
/// presses Ctrl-C (or it gets SIGINT/SIGTERM). We then raise SIGINT on
/// ourselves, so a checkpoint or restore rolls back exactly as on Ctrl-C
/// (see `host::block_signals`); other commands simply end.
pub fn watch_socket(addr: &OsStr) {
    use std::io::Read;
    let addr = addr.to_owned();
    let _ = std::thread::Builder::new().name("plugin-socket".into()).spawn(move || {
        // This thread must not take the signal it raises: blocked here, it
        // stays pending for the main thread (blocked there during a run,
        // and then seen by host::check_interrupted).
        crate::host::block_signals();
        let Ok(mut s) = connect(&addr) else { return };
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // SAFETY: kill(2) on our own pid.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGINT);
        }
    });
}

/// The CLI listens on an abstract socket ("@docker_cli_…") on Linux.
fn connect(addr: &OsStr) -> std::io::Result<std::os::unix::net::UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    match addr.as_bytes().strip_prefix(b"@") {
        Some(name) => UnixStream::connect_addr(&SocketAddr::from_abstract_name(name)?),
        None => UnixStream::connect(addr),
    }
}

/// Where `install-plugin` puts docker-cr: the user's cli-plugins directory
/// (DOCKER_CONFIG or ~/.docker) or the system's. Pure.
pub fn plugin_dir(system: bool, docker_config: &Path) -> PathBuf {
    if system {
        PathBuf::from("/usr/local/lib/docker/cli-plugins")
    } else {
        docker_config.join("cli-plugins")
    }
}

/// Links this very binary as `docker-cr` in the cli-plugins directory.
/// Returns the link.
pub fn install(system: bool) -> Result<PathBuf> {
    let env = crate::engine::endpoint::Env::from_process();
    let dir = plugin_dir(system, &env.config_dir());
    std::fs::create_dir_all(&dir).at("create", &dir)?;
    let exe = std::env::current_exe().at("find", Path::new("/proc/self/exe"))?;
    let link = dir.join("docker-cr");
    if std::fs::read_link(&link).is_ok_and(|t| t == exe) {
        return Ok(link);
    }
    if link.exists() || std::fs::symlink_metadata(&link).is_ok() {
        return Err(Error::host(
            format!("{} exists already and is not a link to {}", link.display(), exe.display()),
            format!("remove it first (rm {}) to install this docker-cr", link.display()),
        ));
    }
    std::os::unix::fs::symlink(&exe, &link).at("link", &link)?;
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn global_options_before_cr() {
        let (g, rest) = split_args(&args(&["--context", "prod", "-D", "cr", "checkpoint", "web"])).unwrap();
        assert_eq!(g, Globals { context: Some("prod".into()), ..Globals::default() });
        assert_eq!(rest, args(&["checkpoint", "web"]));
        let (g, rest) = split_args(&args(&["-Hunix:///x.sock", "--config=/c", "-l", "debug", "--tls", "cr"])).unwrap();
        assert_eq!(g, Globals { host: Some("unix:///x.sock".into()), config: Some("/c".into()), context: None });
        assert!(rest.is_empty());
        let (_, rest) = split_args(&args(&["cr", "restore", "--name", "cr", "web", "/cp"])).unwrap();
        assert_eq!(rest, args(&["restore", "--name", "cr", "web", "/cp"]), "only the first 'cr' is the plugin's name");
        assert!(split_args(&args(&["--context"])).unwrap_err().to_string().contains("--context needs a value"));
        assert!(split_args(&args(&["checkpoint", "web"]))
            .unwrap_err()
            .to_string()
            .contains("unexpected \"checkpoint\""));
        assert!(split_args(&args(&["-D"])).unwrap_err().to_string().contains("do not name the 'cr' command"));
    }

    #[test]
    fn options_become_the_environment() {
        let ctx = Globals { context: Some("prod".into()), ..Globals::default() };
        assert_eq!(env_for(&ctx).unwrap(), vec![("DOCKER_HOST", None), ("DOCKER_CONTEXT", Some("prod".into()))]);
        let host = Globals { host: Some("/run/d.sock".into()), config: Some("/c".into()), ..Globals::default() };
        assert_eq!(
            env_for(&host).unwrap(),
            vec![("DOCKER_CONFIG", Some("/c".into())), ("DOCKER_HOST", Some("unix:///run/d.sock".into()))]
        );
        let both = Globals { host: Some("x".into()), context: Some("y".into()), config: None };
        assert!(env_for(&both).unwrap_err().to_string().contains("conflicting options"));
    }

    #[test]
    fn metadata_is_what_the_cli_reads() {
        let v: serde_json::Value = serde_json::from_str(&metadata()).unwrap();
        assert_eq!(v["SchemaVersion"], "0.1.0");
        assert!(!v["Vendor"].as_str().unwrap().is_empty());
        assert_eq!(plugin_dir(false, Path::new("/h/.docker")), PathBuf::from("/h/.docker/cli-plugins"));
    }
}
