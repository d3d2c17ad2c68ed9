//! The one error type of docker-cr: every failure carries what was being done,
//! on which object, and (through `hint`) what the user can do about it. `main`
//! maps the variant to the exit status documented in docker-cr(1).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum Error {
    /// Bad command line (exit 2).
    Usage(String),
    /// The host cannot do this: not root, CRIU missing or too old, engine
    /// unreachable or not experimental (exit 3).
    Host { what: String, hint: String },
    /// The container is not in a state or shape we can work with (exit 4).
    Container { what: String, hint: String },
    /// The checkpoint directory is missing, invalid, or in the way (exit 5).
    Checkpoint { what: String, hint: String },
    /// A file operation failed.
    Io { op: &'static str, path: PathBuf, source: io::Error },
    /// The engine answered with an error status.
    Docker { call: String, status: u16, message: String },
    /// Talking to the engine failed below HTTP (socket, protocol).
    Engine { what: String, source: Option<io::Error> },
    /// CRIU ran and failed.
    Criu { action: &'static str, status: String, log: PathBuf, excerpt: String },
    /// A step failed, and so did undoing what had been done before it.
    WithCleanup { primary: Box<Error>, cleanup: Box<Error> },
    /// Context around another error: "checkpoint of web: <error>".
    Step { step: String, source: Box<Error> },
    /// Interrupted by a signal; everything was rolled back.
    Interrupted,
    /// `--all`, or `rm`/`prune` of several: some failed, the others are
    /// done; the summary was printed (exit 7).
    Partial(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn host(what: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Host { what: what.into(), hint: hint.into() }
    }
    pub fn container(what: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Container { what: what.into(), hint: hint.into() }
    }
    pub fn checkpoint(what: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Checkpoint { what: what.into(), hint: hint.into() }
    }
    pub fn engine(what: impl Into<String>, source: Option<io::Error>) -> Error {
        Error::Engine { what: what.into(), source }
    }
    pub fn step(self, step: impl Into<String>) -> Error {
        Error::Step { step: step.into(), source: Box::new(self) }
    }
    /// Combines a failure with the failure of cleaning up after it.
    pub fn with_cleanup(self, cleanup: Result<()>) -> Error {
        match cleanup {
            Ok(()) => self,
            Err(c) => Error::WithCleanup { primary: Box::new(self), cleanup: Box::new(c) },
        }
    }

    /// The innermost error, past step context.
    pub fn root(&self) -> &Error {
        match self {
            Error::Step { source, .. } => source.root(),
            Error::WithCleanup { primary, .. } => primary.root(),
            e => e,
        }
    }

    /// Exit status, as documented in docker-cr(1) under EXIT STATUS.
    pub fn exit_code(&self) -> u8 {
        match self.root() {
            Error::Usage(_) => 2,
            Error::Host { .. } => 3,
            Error::Container { .. } => 4,
            Error::Checkpoint { .. } => 5,
            Error::Interrupted => 130,
            Error::Partial(_) => 7,
            _ => 1,
        }
    }

    /// What the user can do next, when we know.
    pub fn hint(&self) -> Option<String> {
        match self.root() {
            Error::Usage(_) => None,
            Error::Host { hint, .. } | Error::Container { hint, .. } | Error::Checkpoint { hint, .. } => {
                if hint.is_empty() {
                    None
                } else {
                    Some(hint.clone())
                }
            }
            Error::Io { source, .. } => match source.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => {
                    Some("the filesystem is full: free space or choose a directory on another filesystem".into())
                }
                Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
                    Some("check the permissions of that path (docker-cr must run as root)".into())
                }
                _ => None,
            },
            Error::Docker { status: 404, .. } => Some("check the name with 'docker ps -a'".into()),
            Error::Engine { .. } => {
                Some("is dockerd running? set DOCKER_HOST=unix:///path/to/docker.sock if it listens elsewhere".into())
            }
            Error::Criu { log, .. } => Some(format!("the full CRIU log is {}", log.display())),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Host { what, .. } | Error::Container { what, .. } | Error::Checkpoint { what, .. } => {
                write!(f, "{what}")
            }
            Error::Io { op, path, source } => {
                write!(f, "cannot {op} {}: {source}", path.display())
            }
            Error::Docker { call, status, message } => {
                write!(f, "the engine refused {call} ({status}): {message}")
            }
            Error::Engine { what, source: Some(e) } => write!(f, "{what}: {e}"),
            Error::Engine { what, source: None } => write!(f, "{what}"),
            Error::Criu { action, status, log, excerpt } => {
                write!(f, "criu {action} failed ({status}); log: {}", log.display())?;
                if !excerpt.is_empty() {
                    write!(f, "\n--- excerpt from the CRIU log\n{excerpt}\n--- end of excerpt")?;
                }
                Ok(())
            }
            Error::WithCleanup { primary, cleanup } => {
                write!(f, "{primary}\nand cleaning up after it failed too: {cleanup}")
            }
            Error::Step { step, source } => write!(f, "{step}: {source}"),
            Error::Interrupted => write!(f, "interrupted; the container was left as it was"),
            Error::Partial(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Engine { source: Some(e), .. } => Some(e),
            _ => None,
        }
    }
}

/// `.at("open", &path)?` turns an io::Error into one that names the path.
pub trait IoContext<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io { op, path: path.to_path_buf(), source })
    }
}

impl<T> IoContext<T> for rustix::io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::Io { op, path: path.to_path_buf(), source: e.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_root_cause() {
        let e = Error::container("no such container: web", "").step("checkpoint of web");
        assert_eq!(e.exit_code(), 4);
        assert_eq!(e.to_string(), "checkpoint of web: no such container: web");
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::host("x", "y").exit_code(), 3);
        assert_eq!(Error::checkpoint("x", "y").exit_code(), 5);
    }

    #[test]
    fn full_disk_gets_a_hint() {
        let e: Result<()> = Err(io::Error::from_raw_os_error(libc::ENOSPC)).at("write", Path::new("/x"));
        let e = e.unwrap_err();
        assert!(e.to_string().starts_with("cannot write /x: No space left"), "{e}");
        assert!(e.hint().unwrap().contains("full"));
    }
}
