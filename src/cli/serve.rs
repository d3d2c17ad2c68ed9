//! `docker-cr serve`'s options (`table::SERVE`): read into plain values
//! here; the server (`crate::serve`) maps them into its `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::table::Args;
use super::{no_positionals, string, usage, Command, Global};
use crate::error::Error;

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

const CMD: &str = "serve";

fn count(a: &Args, what: &str, max: usize) -> Result<Option<usize>, Error> {
    let Some(v) = a.value(what) else { return Ok(None) };
    let v = string(v, CMD, what)?;
    match v.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
        _ => Err(usage(CMD, format!("--{what} takes a number from 1 to {max}, not '{v}'"))),
    }
}

pub fn parse(a: Args, g: Global) -> Result<Command, Error> {
    no_positionals(&a, CMD)?;
    let listen = match a.value("listen") {
        None => SocketAddr::from(([127, 0, 0, 1], crate::serve::DEFAULT_PORT)),
        Some(v) => {
            let v = string(v, CMD, "--listen")?;
            v.parse()
                .map_err(|_| usage(CMD, format!("--listen takes ADDR:PORT (127.0.0.1:7380, [::1]:7380), not '{v}'")))?
        }
    };
    let mut allow_hosts = Vec::new();
    for v in a.values("allow-host") {
        let v = string(v, CMD, "--allow-host")?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)) {
            return Err(usage(CMD, format!("--allow-host takes a host name with an optional :PORT, not '{v}'")));
        }
        allow_hosts.push(v);
    }
    let max_upload = match a.value("max-upload") {
        None => None,
        Some(v) => Some(parse_size(&string(v, CMD, "--max-upload")?).map_err(|e| usage(CMD, e))?),
    };
    let transport = match a.value("transport") {
        None => None,
        Some(v) => {
            let t: Vec<String> = string(v, CMD, "--transport")?.split_whitespace().map(str::to_string).collect();
            if t.is_empty() {
                return Err(usage(CMD, "--transport needs a command"));
            }
            Some(t)
        }
    };
    Ok(Command::Serve(
        g,
        ServeArgs {
            listen,
            allow_remote: a.flag("allow-remote"),
            allow_hosts,
            max_upload,
            threads: count(&a, "threads", 256)?,
            max_connections: count(&a, "max-connections", 65536)?,
            transport,
            url_file: a.value("url-file").map(PathBuf::from),
        },
    ))
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
            "--allow-host",
            "box",
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
        assert_eq!(a.listen.to_string(), "[::1]:0");
        assert_eq!(a.allow_hosts, vec!["localhost:9000".to_string(), "box".to_string()]);
        assert_eq!((a.max_upload, a.threads), (Some(20 << 30), Some(4)));
        assert_eq!(g.store, Some(PathBuf::from("/s")));
        assert!(matches!(parse_args(&["serve", "--help"]), Ok(Command::Help(h)) if h.contains("--allow-remote")));
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
