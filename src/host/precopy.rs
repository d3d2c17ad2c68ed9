//! Memory that moves before the final freeze: iterative pre-copy (`criu
//! pre-dump` rounds, then a dump of what changed) and a dump whose pages go
//! straight to CRIU's page server on another host (no copy on this disk).
//! What each round's CRIU config says, when to stop iterating, and the page
//! server's command line are pure, and tested here; running them is the
//! checkpoint's and migration's business.
//!
//! Pre-copy needs the kernel's soft-dirty bits (`criu check --feature
//! mem_dirty_track`): each round asks CRIU to track memory (`track-mem`)
//! so that the next one writes only the pages written to since, and to
//! refer to the previous round for the others (`prev-images-dir`, relative
//! to the round's images dir; CRIU links it as `parent`). Without
//! soft-dirty CRIU refuses `track-mem`, and a pre-dump without it aborts
//! (CRIU 4.2.1: "BUG at criu/mem.c:46").

use std::ffi::OsString;
use std::path::Path;

use crate::error::{Error, Result};

/// Where a dump sends its pages instead of writing them: `criu page-server`
/// listening on the other host (see `page_server_argv`).
#[derive(Debug, Clone, PartialEq)]
pub struct PageServer {
    pub address: String,
    pub port: u16,
}

/// A value for a config line: no control characters (a newline would start
/// a directive of its own).
fn clean(opt: &str, v: &str) -> Result<String> {
    if v.is_empty() || v.chars().any(|c| c < ' ' || c == '\x7f') {
        return Err(Error::Usage(format!("the CRIU option {opt} cannot take the value {v:?}")));
    }
    Ok(crate::host::criu::quote(v))
}

/// The dump config lines that send the pages (and the pagemaps) to a page
/// server; the other images are written to the dump's images dir as ever.
/// Appended to `criu::dump_config`. Pure.
pub fn page_server_lines(ps: &PageServer) -> Result<String> {
    Ok(format!("page-server\naddress {}\nport {}\n", clean("address", &ps.address)?, ps.port))
}

/// The destination's `criu page-server`: it writes what one dump sends
/// into `images_dir`, then exits. `--status-fd`: it writes a byte there
/// once it listens (and stays the caller's child, whose exit status tells
/// whether every page arrived). `address` None: every address. Pure.
pub fn page_server_argv(
    images_dir: &Path,
    address: Option<&str>,
    port: u16,
    log: &Path,
    status_fd: i32,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = ["page-server", "--no-default-config", "--images-dir"].map(OsString::from).to_vec();
    a.push(images_dir.into());
    if let Some(addr) = address {
        a.push("--address".into());
        a.push(addr.into());
    }
    a.push("--port".into());
    a.push(port.to_string().into());
    a.push("--log-file".into());
    a.push(log.into());
    a.push("-v4".into());
    a.push("--status-fd".into());
    a.push(status_fd.to_string().into());
    a
}

/// Why `--pre-copy` refuses on this host, if it does. Pure.
pub fn refusal(dirty_tracking: bool) -> Option<Error> {
    (!dirty_tracking).then(|| {
        Error::host(
            "--pre-copy needs the kernel's soft-dirty tracking of memory (criu check --feature mem_dirty_track), \
             which this kernel does not have",
            "checkpoint or migrate without --pre-copy (the container is stopped for the whole dump), or use a \
             kernel built with CONFIG_MEM_SOFT_DIRTY",
        )
    })
}

/// One CRIU run of a pre-copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// `criu pre-dump` (the container runs on after it), or the final
    /// `criu dump`.
    pub final_dump: bool,
    /// This round's images dir, a name beside the others (`pre-0`, …,
    /// and the checkpoint's own images dir for the final dump).
    pub dir: String,
    /// The config lines this round adds to the dump config.
    pub lines: String,
}

/// The images dir of pre-dump round `n`.
pub fn pre_dir(n: u32) -> String {
    format!("pre-{n}")
}

/// Round `n` (0-based) of a pre-copy; `final_dump` for the last one, whose
/// images go to `final_dir`. Every round tracks memory; every round after
/// the first refers to the one before it. Pure.
pub fn round(n: u32, final_dump: bool, final_dir: &str) -> Round {
    let mut lines = String::from("track-mem\n");
    if n > 0 {
        lines.push_str(&format!("prev-images-dir ../{}\n", pre_dir(n - 1)));
    }
    let dir = if final_dump { final_dir.to_string() } else { pre_dir(n) };
    Round { final_dump, dir, lines }
}

/// When to stop pre-dumping and take the final dump.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Pre-dump rounds at most (the final dump comes after them).
    pub max_rounds: u32,
    /// Stop once a round wrote at most this many pages: the final dump,
    /// the only one with the container stopped, will be about as small.
    pub small: u64,
    /// Stop once a round wrote more than this share (in percent) of the
    /// round before: the container dirties memory about as fast as it is
    /// copied, and more rounds only cost time.
    pub no_gain_pct: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        // 4096 pages: 16 MiB, a few tens of ms to dump.
        Limits { max_rounds: 5, small: 4096, no_gain_pct: 80 }
    }
}

/// Whether to run another pre-dump, from the pages each round so far wrote
/// (`pages_written` of its stats-dump), in order. Pure.
pub fn another_round(written: &[u64], l: &Limits) -> bool {
    let n = written.len() as u64;
    if n >= u64::from(l.max_rounds) {
        return false;
    }
    match written {
        [] => true,
        [.., last] if *last <= l.small => false,
        [.., before, last] => last.saturating_mul(100) <= before.saturating_mul(l.no_gain_pct),
        [_] => true,
    }
}

/// The whole plan from the rounds' page counts: the rounds run so far and
/// the next one (a pre-dump, or the final dump). Pure.
pub fn next_round(written: &[u64], l: &Limits, final_dir: &str) -> Round {
    let n = written.len() as u32;
    round(n, !another_round(written, l), final_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_track_memory_and_chain_to_the_one_before() {
        assert_eq!(
            round(0, false, "checkpoint"),
            Round { final_dump: false, dir: "pre-0".into(), lines: "track-mem\n".into() }
        );
        assert_eq!(
            round(2, false, "checkpoint"),
            Round { final_dump: false, dir: "pre-2".into(), lines: "track-mem\nprev-images-dir ../pre-1\n".into() }
        );
        assert_eq!(
            round(3, true, "checkpoint"),
            Round { final_dump: true, dir: "checkpoint".into(), lines: "track-mem\nprev-images-dir ../pre-2\n".into() }
        );
        // No pre-dump at all (max_rounds 0): a plain dump that still tracks.
        let l = Limits { max_rounds: 0, ..Default::default() };
        assert_eq!(
            next_round(&[], &l, "checkpoint"),
            Round { final_dump: true, dir: "checkpoint".into(), lines: "track-mem\n".into() }
        );
    }

    #[test]
    fn iterating_stops_when_it_no_longer_pays() {
        let l = Limits::default();
        assert!(another_round(&[], &l), "the first pre-dump copies everything while the container runs");
        assert!(another_round(&[262_144], &l), "one round: nothing to compare yet");
        assert!(another_round(&[262_144, 20_000], &l), "shrinking fast");
        assert!(!another_round(&[262_144, 20_000, 19_000], &l), "95%: the dirty rate caught up");
        assert!(!another_round(&[262_144, 3000], &l), "small enough for the final dump");
        assert!(!another_round(&[4096], &l), "small from the start");
        assert!(!another_round(&[900_000, 500_000, 250_000, 120_000, 60_000], &l), "max rounds");
        assert!(another_round(&[900_000, 500_000, 250_000, 120_000], &l));
        assert!(!another_round(&[100_000, 120_000], &l), "growing");
        assert!(another_round(&[u64::MAX, u64::MAX / 2], &l), "no overflow");
        assert_eq!(
            next_round(&[262_144, 20_000, 19_000], &l, "checkpoint").lines,
            "track-mem\nprev-images-dir ../pre-2\n"
        );
        assert!(next_round(&[262_144, 20_000, 19_000], &l, "checkpoint").final_dump);
        assert_eq!(next_round(&[262_144, 20_000], &l, "checkpoint").dir, "pre-2");
    }

    #[test]
    fn page_server_lines_and_arguments() {
        let ps = PageServer { address: "10.0.0.2".into(), port: 27000 };
        assert_eq!(page_server_lines(&ps).unwrap(), "page-server\naddress 10.0.0.2\nport 27000\n");
        assert!(page_server_lines(&PageServer { address: "x\naction-script /tmp/p".into(), port: 1 }).is_err());
        assert!(page_server_lines(&PageServer { address: String::new(), port: 1 }).is_err());
        let a: Vec<String> = page_server_argv(Path::new("/d/cp"), Some("0.0.0.0"), 27000, Path::new("/d/ps.log"), 5)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            a,
            [
                "page-server",
                "--no-default-config",
                "--images-dir",
                "/d/cp",
                "--address",
                "0.0.0.0",
                "--port",
                "27000",
                "--log-file",
                "/d/ps.log",
                "-v4",
                "--status-fd",
                "5"
            ]
        );
        assert!(!page_server_argv(Path::new("/d"), None, 1, Path::new("/l"), 5).contains(&OsString::from("--address")));
    }

    #[test]
    fn no_soft_dirty_no_pre_copy() {
        assert!(refusal(true).is_none());
        let e = refusal(false).unwrap();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("mem_dirty_track") && e.hint().unwrap().contains("without --pre-copy"));
    }
}
