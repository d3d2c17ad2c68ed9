//! How an operation tells what it does: named steps, warnings and the live
//! progress of long work, as events. The CLI prints them on stderr (each
//! step with the time since the start; progress redrawn on a terminal
//! only); a server forwards them to its page. Operations hold an `Out`,
//! never print progress themselves.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// One thing an operation reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// A step done or begun ("froze …", "restored container web in 412 ms").
    Step(&'a str),
    /// Something the user should know even with --quiet.
    Warn(&'a str),
    /// Long work under way: `done` of `expected` bytes (0: unknown).
    Progress { what: &'a str, done: u64, expected: u64, secs: f64 },
    /// That work is over (the live line goes).
    ProgressEnd,
}

/// Where events go: stderr for the CLI, a channel for a server.
pub trait Report: Send + Sync {
    fn event(&self, e: &Event<'_>);
}

/// The CLI's report: progress lines on stderr; the live line only when
/// stderr is a terminal; nothing but warnings with --quiet.
pub struct Stderr {
    quiet: bool,
    start: Instant,
    terminal: bool,
}

impl Stderr {
    pub fn new(quiet: bool) -> Stderr {
        use std::io::IsTerminal;
        Stderr { quiet, start: Instant::now(), terminal: std::io::stderr().is_terminal() }
    }
}

impl Report for Stderr {
    fn event(&self, e: &Event<'_>) {
        use std::io::Write;
        match e {
            Event::Step(msg) if !self.quiet => {
                eprintln!("docker-cr: [{:>6.3}s] {msg}", self.start.elapsed().as_secs_f64())
            }
            Event::Warn(msg) => eprintln!("docker-cr: warning: {msg}"),
            Event::Progress { what, done, expected, secs } if !self.quiet && self.terminal => {
                let _ =
                    write!(std::io::stderr(), "\r\x1b[Kdocker-cr: {}", progress_line(what, *done, *expected, *secs));
            }
            Event::ProgressEnd if !self.quiet && self.terminal => {
                let _ = write!(std::io::stderr(), "\r\x1b[K");
            }
            _ => {}
        }
    }
}

/// A report that keeps nothing (a preview, a nested run told by its caller).
pub struct Silent;

impl Report for Silent {
    fn event(&self, _: &Event<'_>) {}
}

/// The handle an operation reports through: cheap to clone, one per run.
#[derive(Clone)]
pub struct Out {
    sink: Arc<dyn Report>,
    start: Instant,
    quiet: bool,
}

impl Out {
    pub fn new(sink: Arc<dyn Report>, quiet: bool) -> Out {
        Out { sink, start: Instant::now(), quiet }
    }
    /// The CLI's: stderr.
    pub fn stderr(quiet: bool) -> Out {
        Out::new(Arc::new(Stderr::new(quiet)), quiet)
    }
    /// Quiet about steps (warnings still go to the same sink).
    pub fn quiet(&self) -> Out {
        Out { sink: Arc::new(Quieted(self.sink.clone())), start: Instant::now(), quiet: true }
    }
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }
    pub fn step(&self, msg: impl std::fmt::Display) {
        self.sink.event(&Event::Step(&msg.to_string()));
    }
    pub fn warn(&self, msg: impl std::fmt::Display) {
        self.sink.event(&Event::Warn(&msg.to_string()));
    }
    pub fn progress(&self, what: &str, done: u64, expected: u64, secs: f64) {
        self.sink.event(&Event::Progress { what, done, expected, secs });
    }
    pub fn progress_end(&self) {
        self.sink.event(&Event::ProgressEnd);
    }
    pub fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    /// Our own peak resident memory (VmHWM), in KiB; CRIU's is not in it.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().to_string()))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// Steps dropped, the rest passed on.
struct Quieted(Arc<dyn Report>);

impl Report for Quieted {
    fn event(&self, e: &Event<'_>) {
        if matches!(e, Event::Warn(_)) {
            self.0.event(e);
        }
    }
}

/// The live line of a long dump or restore: bytes done of expected, rate.
/// Pure.
pub fn progress_line(what: &str, done: u64, expected: u64, secs: f64) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let rate = if secs > 0.0 { mib(done) / secs } else { 0.0 };
    if expected > 0 {
        let pct = (done as f64 * 100.0 / expected as f64).min(100.0);
        format!("{what}: {:.0} / {:.0} MiB ({pct:.0}%), {rate:.0} MiB/s", mib(done), mib(expected))
    } else {
        format!("{what}: {:.0} MiB, {rate:.0} MiB/s", mib(done))
    }
}

/// Reports the progress `probe` measures every 200 ms while it lives; ends
/// the live line when dropped.
pub struct Ticker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    pub fn start(out: &Out, what: String, expected: u64, probe: impl Fn() -> u64 + Send + 'static) -> Ticker {
        if out.is_quiet() {
            return Ticker { stop: None, thread: None };
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t0 = Instant::now();
        let out = out.clone();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_millis(200)) {
                out.progress(&what, probe(), expected, t0.elapsed().as_secs_f64());
            }
            out.progress_end();
        });
        Ticker { stop: Some(tx), thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn progress_lines() {
        assert_eq!(progress_line("dump", 100 << 20, 400 << 20, 2.0), "dump: 100 / 400 MiB (25%), 50 MiB/s");
        assert_eq!(progress_line("dump", 500 << 20, 400 << 20, 0.0), "dump: 500 / 400 MiB (100%), 0 MiB/s");
        assert_eq!(progress_line("restore", 3 << 20, 0, 1.0), "restore: 3 MiB, 3 MiB/s");
    }

    #[derive(Default)]
    struct Kept(Mutex<Vec<String>>);
    impl Report for Kept {
        fn event(&self, e: &Event<'_>) {
            self.0.lock().unwrap().push(format!("{e:?}"));
        }
    }

    #[test]
    fn a_quiet_out_passes_warnings_only() {
        let kept = Arc::new(Kept::default());
        let out = Out::new(kept.clone(), false);
        out.step("froze");
        out.quiet().step("not told");
        out.quiet().warn("told");
        assert_eq!(*kept.0.lock().unwrap(), vec!["Step(\"froze\")".to_string(), "Warn(\"told\")".into()]);
    }
}
