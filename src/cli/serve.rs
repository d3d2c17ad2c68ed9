//! `docker-cr serve`'s options: parsed here into plain values; the server
//! (`crate::serve`) maps them into its `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use lexopt::prelude::*;

use super::{lex, string, usage, Command, Global};
use crate::error::Error;

pub const SERVE_HELP: &str = "\
docker-cr serve — a web page for the checkpoints of this host

Usage: docker-cr serve [--listen ADDR:PORT] [OPTIONS]

Serves one page and a JSON API: host readiness, every container (can it be
checkpointed, and why not), the store (sizes, pages, CRIU and kernel,
signature, restorable here or why not), a checkpoint's details (process
tree, sockets, timings, CRIU's statistics and log), two checkpoints side by
side; checkpoint, restore, delete, prune, download and upload archives,
migrate. It prints a URL with a secret token once: opening it logs the
browser in (an HttpOnly, SameSite=Strict cookie); scripts send
'Authorization: Bearer TOKEN'. Every request is logged on standard error.
SIGINT or SIGTERM stops it after the running operations have finished or
rolled back.

Options:
      --listen <addr:port>   where to listen (default 127.0.0.1:7380; port 0
                             picks a free one). Loopback only, unless
                             --allow-remote
      --allow-remote         accept another address than loopback; the page
                             is then plain HTTP over the network (a warning
                             says so): prefer an SSH tunnel
      --allow-host <host[:port]>
                             also answer to this Host name (repeatable), e.g.
                             localhost:9000 behind 'ssh -L 9000:127.0.0.1:7380'
      --max-upload <size>    the largest archive an upload may be (default
                             8G; units K M G T)
      --threads <n>          HTTP worker threads (default 16)
      --max-connections <n>  open connections before new ones get 503
                             (default 256)
      --transport <command>  how migrate reaches another host (default ssh)
      --url-file <file>      also write the URL with the token to this file
                             (created 0600), for scripts
  -h, --help                 print help
";

#[derive(Debug, PartialEq, Clone)]
pub struct ServeArgs {
    pub listen: SocketAddr,
    pub allow_remote: bool,
    pub allow_hosts: Vec<String>,
    pub max_upload: Option<u64>,
    pub threads: Option<usize>,
    pub max_connections: Option<usize>,
    pub transport: Option<Vec<String>>,
    pub url_file: Option<PathBuf>,
}

/// `8G`, `512M`, `100000` → bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("invalid size '{s}': a number and K, M, G or T")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid size '{s}': a number and K, M, G or T"))
}

fn count(p: &mut lexopt::Parser, what: &str, max: usize) -> Result<usize, Error> {
    const CMD: &str = "serve";
    let v = string(p.value().map_err(lex(CMD))?, CMD, what)?;
    match v.parse::<usize>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(usage(CMD, format!("{what} takes a number from 1 to {max}, not '{v}'"))),
    }
}

pub fn parse(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "serve";
    let mut a = ServeArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], crate::serve::DEFAULT_PORT)),
        allow_remote: false,
        allow_hosts: Vec::new(),
        max_upload: None,
        threads: None,
        max_connections: None,
        transport: None,
        url_file: None,
    };
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("criu") => g.criu = p.value().map_err(lex(CMD))?.into(),
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(SERVE_HELP)),
            Long("listen") => {
                let v = string(p.value().map_err(lex(CMD))?, CMD, "--listen")?;
                a.listen = v.parse().map_err(|_| {
                    usage(CMD, format!("--listen takes ADDR:PORT (127.0.0.1:7380, [::1]:7380), not '{v}'"))
                })?;
            }
            Long("allow-remote") => a.allow_remote = true,
            Long("allow-host") => {
                let v = string(p.value().map_err(lex(CMD))?, CMD, "--allow-host")?;
                if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)) {
                    return Err(usage(
                        CMD,
                        format!("--allow-host takes a host name with an optional :PORT, not '{v}'"),
                    ));
                }
                a.allow_hosts.push(v);
            }
            Long("max-upload") => {
                let v = string(p.value().map_err(lex(CMD))?, CMD, "--max-upload")?;
                a.max_upload = Some(parse_size(&v).map_err(|e| usage(CMD, e))?);
            }
            Long("threads") => a.threads = Some(count(&mut p, "--threads", 256)?),
            Long("max-connections") => a.max_connections = Some(count(&mut p, "--max-connections", 65536)?),
            Long("transport") => {
                let t = string(p.value().map_err(lex(CMD))?, CMD, "--transport")?;
                let t: Vec<String> = t.split_whitespace().map(str::to_string).collect();
                if t.is_empty() {
                    return Err(usage(CMD, "--transport needs a command"));
                }
                a.transport = Some(t);
            }
            Long("url-file") => a.url_file = Some(p.value().map_err(lex(CMD))?.into()),
            Value(v) => return Err(usage(CMD, format!("unexpected argument {v:?}"))),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    Ok(Command::Serve(g, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(a: &[&str]) -> Result<Command, Error> {
        super::super::parse(a.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn options() {
        let Command::Serve(_, a) = parse_args(&["serve"]).unwrap() else { panic!() };
        assert_eq!(a.listen.to_string(), "127.0.0.1:7380");
        let Command::Serve(g, a) = parse_args(&[
            "serve",
            "--listen",
            "[::1]:0",
            "--allow-host",
            "localhost:9000",
            "--max-upload",
            "20G",
            "--threads",
            "4",
            "--store",
            "/s",
        ])
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (a.listen.to_string(), a.allow_hosts, a.max_upload, a.threads),
            ("[::1]:0".into(), vec!["localhost:9000".to_string()], Some(20 << 30), Some(4))
        );
        assert_eq!(g.store, Some(PathBuf::from("/s")));
        assert!(matches!(parse_args(&["serve", "--help"]), Ok(Command::Help(h)) if h == SERVE_HELP));
    }

    #[test]
    fn refusals() {
        let msg = |a: &[&str]| parse_args(a).unwrap_err().to_string();
        assert!(msg(&["serve", "--listen", "localhost"]).contains("ADDR:PORT"));
        assert!(msg(&["serve", "--threads", "0"]).contains("1 to 256"));
        assert!(msg(&["serve", "--max-upload", "3X"]).contains("invalid size"));
        assert!(msg(&["serve", "--allow-host", "a b"]).contains("--allow-host"));
        assert!(msg(&["serve", "extra"]).contains("unexpected argument"));
        assert!(msg(&["serve", "--x"]).ends_with("Try 'docker-cr serve --help'."));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err() && parse_size("").is_err() && parse_size("99999999999T").is_err());
    }
}
