//! Lazy restore's page source: a supervised `criu lazy-pages` daemon, and
//! whether this host can restore lazily without stalling.
//!
//! A lazy restore (`criu::LazyPages`) brings the process tree back with its
//! private anonymous memory registered with userfaultfd; the daemon serves
//! each page on first touch and copies the rest in the background, then
//! exits. Until it has exited successfully the restored processes have
//! holes. If it dies, the kernel drops its userfaultfd and every page not
//! yet in reads as zeros: a restored process crashes on a zeroed pointer
//! (SIGSEGV, seen here) or runs on with wrong data. So the caller must stop
//! the container at once (`Outcome::Died`).
//!
//! CRIU 4.2.1's daemon loses a fault whose copy the kernel refuses with
//! EAGAIN while a memory event of the process (madvise, munmap, mremap,
//! fork) is pending: the faulting thread then waits until the background
//! copy reaches its page, often the end of the transfer. tests/criu/
//! uffd-eagain.patch fixes it, and tests/setup-host builds CRIU with it and
//! names it in the build's GitID (`fault_retry`); see
//! tests/criu/README-uffd-eagain.md.
//!
//! Judging (`fault_retry`, `refusal`), the daemon's command line (`argv`),
//! its log (`Progress`) and its end (`judge_exit`) are pure; `PageSource`
//! spawns, watches and kills it.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};

/// The patch's name in the GitID of a CRIU that tests/setup-host built
/// (`v4.2.1+uffd-eagain.<first 12 hex digits of the patch's sha256>`).
pub const FAULT_RETRY_PATCH: &str = "uffd-eagain";
/// Where the fix and its upstream report live, for messages.
pub const FAULT_RETRY_README: &str = "tests/criu/README-uffd-eagain.md";

/// The socket the restoring CRIU connects to, relative to its work dir
/// (CRIU's `LAZY_PAGES_SOCK_NAME`).
pub const SOCKET: &str = "lazy-pages.socket";
/// The daemon's log, in the work dir.
pub const LOG: &str = "lazy-pages.log";
/// What the daemon prints before its log is open (bad options), in the
/// work dir.
pub const STDERR: &str = "lazy-pages.stderr";
/// x86_64's page size: CRIU logs lengths in bytes, counts in pages.
const PAGE: u64 = 4096;

/// Whether this CRIU retries a page fault whose copy met EAGAIN.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultRetry {
    /// Built with tests/criu/uffd-eagain.patch (the GitID says so).
    Patched(String),
    /// An unpatched build: lazy restores may answer only once every page
    /// is in.
    Missing,
}

/// Judges `criu --version`'s version and GitID. No released CRIU (4.2.1 is
/// the newest, and criu-dev has the same code) retries such faults, so
/// only the patched build counts. Pure.
pub fn fault_retry(gitid: Option<&str>) -> FaultRetry {
    let patched = gitid.is_some_and(|id| {
        id.split('+').any(|part| part == FAULT_RETRY_PATCH || part.starts_with(&format!("{FAULT_RETRY_PATCH}.")))
    });
    match gitid {
        Some(id) if patched => FaultRetry::Patched(id.to_string()),
        _ => FaultRetry::Missing,
    }
}

/// What `restore --lazy` needs from the host: userfaultfd that CRIU can use
/// (`criu check --feature uffd-noncoop`: its Err is what CRIU printed), and
/// a daemon that does not lose faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub uffd: std::result::Result<(), String>,
    pub retry: FaultRetry,
    /// "4.2.1", for messages.
    pub criu_version: String,
}

/// This host's `Readiness`: `criu check --feature uffd-noncoop`, and the
/// build's GitID.
pub fn readiness(criu: &crate::host::criu::Criu) -> Readiness {
    let uffd = match Command::new(&criu.bin)
        .args(["check", "--feature", "uffd-noncoop"])
        .stdin(Stdio::null())
        .env_remove("CRIU_CONFIG_FILE")
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))),
        Err(e) => Err(format!("cannot run {}: {e}", criu.bin.display())),
    };
    Readiness { uffd, retry: fault_retry(criu.gitid.as_deref()), criu_version: criu.version_string() }
}

/// Why `restore --lazy` refuses on this host, if it does. Pure.
pub fn refusal(r: &Readiness) -> Option<Error> {
    if let Err(why) = &r.uffd {
        return Some(Error::host(
            format!(
                "restore --lazy needs userfaultfd with non-cooperative events, which CRIU {} cannot use here ({})",
                r.criu_version,
                why.trim()
            ),
            "restore without --lazy; lazy restore needs a kernel with userfaultfd (Linux >= 4.11, \
             CONFIG_USERFAULTFD) that lets root use it",
        ));
    }
    match &r.retry {
        FaultRetry::Patched(_) => None,
        FaultRetry::Missing => Some(Error::host(
            format!(
                "restore --lazy would stall on this host: CRIU {}'s lazy-pages daemon loses a page fault when the \
                 kernel refuses its copy while another memory event of the process is pending (EAGAIN), and the \
                 process then waits until the background transfer reaches that page, often until all its memory is \
                 in: later than an eager restore",
                r.criu_version
            ),
            format!(
                "restore without --lazy, or install a CRIU built with tests/criu/uffd-eagain.patch (tests/setup-host \
                 builds one; {FAULT_RETRY_README} tells why)"
            ),
        )),
    }
}

/// The pipe CRIU 4.2's lazy dump reads a page request through
/// (`pipe_read_dest_init`: PIPE_MAX_SIZE pages, 819 × 4 KiB, which the
/// kernel rounds up to 4 MiB). It ignores a failure to get it; the default
/// 64 KiB pipe then fails the first request for a page past the first 64
/// KiB of a buffer ("tee: Operation not supported"), and the destination's
/// faults are never answered.
pub const LAZY_DUMP_PIPE: usize = 819 * 4096;

/// Whether this process (and so a CRIU it runs) can make a pipe of
/// `LAZY_DUMP_PIPE` bytes: CAP_SYS_RESOURCE, or fs.pipe-max-size at
/// least 4 MiB.
pub fn big_pipes() -> bool {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two fds into the array; both are closed below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return false;
    }
    // SAFETY: fds[0] is the pipe just made.
    let ok = unsafe { libc::fcntl(fds[0], libc::F_SETPIPE_SZ, LAZY_DUMP_PIPE as libc::c_int) } >= 0;
    // SAFETY: ours, closed once.
    unsafe {
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    ok
}

/// Why `migrate --live` refuses on the source, if it does. Pure.
pub fn source_refusal(big_pipes: bool, tty: bool, name: &str) -> Option<Error> {
    if tty {
        return Some(Error::container(
            format!("migrate --live cannot move {name}: it has a terminal, whose dump goes through CRIU's RPC, which docker-cr does not drive for a lazy dump"),
            "migrate it without --live (stop and copy)",
        ));
    }
    (!big_pipes).then(|| {
        Error::host(
            "migrate --live: CRIU's lazy dump needs pipes of 4 MiB to serve pages, and this host refuses them (no CAP_SYS_RESOURCE, fs.pipe-max-size below 4194304): the destination's page requests would fail",
            "sysctl -w fs.pipe-max-size=4194304 (echo 4194304 > /proc/sys/fs/pipe-max-size), or migrate without --live",
        )
    })
}

/// Where the daemon gets the pages: the images directory, or a page server
/// on the checkpoint's host (`criu page-server --lazy-pages` there, or a
/// `criu dump --lazy-pages --port`).
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The same directory the restore reads (`criu::LazyPages::images_dir`).
    pub images_dir: PathBuf,
    /// The same work dir as the restore's: the socket is made there.
    pub work_dir: PathBuf,
    /// `(address, port)` of a page server, for pages from another host.
    pub page_server: Option<(String, u16)>,
    /// A socket it inherits, connected to the page server (`migrate
    /// --live`: relayed to the source's `criu dump --lazy-pages`).
    pub ps_socket: Option<i32>,
}

/// The daemon's arguments after `criu`. `--no-default-config`: nothing of
/// /etc/criu/default.conf is meant for it. `-v4`: its progress is only in
/// debug lines (`Progress`). `--status-fd`: it writes a byte there once its
/// socket listens, and stays our child (no `--daemon`), so its exit status
/// is ours to read. Pure.
pub fn argv(s: &Spec, status_fd: i32) -> Vec<OsString> {
    let mut a: Vec<OsString> = ["lazy-pages", "--no-default-config", "--images-dir"].map(OsString::from).to_vec();
    a.push(s.images_dir.clone().into());
    a.push("--work-dir".into());
    a.push(s.work_dir.clone().into());
    a.push("--log-file".into());
    a.push(s.work_dir.join(LOG).into());
    a.push("-v4".into());
    a.push("--status-fd".into());
    a.push(status_fd.to_string().into());
    if let Some((addr, port)) = &s.page_server {
        a.extend(["--page-server", "--address"].map(OsString::from));
        a.push(addr.into());
        a.push("--port".into());
        a.push(port.to_string().into());
    }
    if let Some(fd) = s.ps_socket {
        a.extend(["--page-server", "--ps-socket"].map(OsString::from));
        a.push(fd.to_string().into());
    }
    a
}

/// What the daemon's log says so far. Fed line by line (`feed`), in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Address spaces handed over (one per task, and one per fork after).
    pub tasks: usize,
    /// Pages the daemon has to bring in (CRIU's "Found N pages to be
    /// handled by UFFD"): the lazy pages. The eager ones the restore itself
    /// copied (see `model::pagemap`).
    pub lazy_pages: u64,
    /// Pages copied in so far (successful UFFDIO_COPY).
    pub copied_pages: u64,
    /// Faults served with a zero page (memory never written before the dump).
    pub zero_pages: u64,
    /// Page faults the restored processes raised.
    pub faults: u64,
    /// Copies the kernel refused with EAGAIN (a memory event was pending).
    pub refused: u64,
    /// Address spaces whose pages are all in (CRIU's "UFFD transferred
    /// pages" summary), or whose task exited.
    pub finished: usize,
    /// A copy whose outcome the next line tells: (task, pages).
    pending: Option<(String, u64)>,
    /// "Error (…)" lines, for an excerpt when the daemon fails.
    pub errors: Vec<String>,
}

/// The `PID-FD` of a `uffd: PID-FD: …` line (FD is negated once its task
/// exited: `1--11`), and the rest of the line.
fn task_line(line: &str) -> Option<(String, &str)> {
    let rest = line.split_once(") uffd: ")?.1;
    let (task, msg) = rest.split_once(": ")?;
    let (pid, fd) = task.split_once('-')?;
    let fd = fd.trim_start_matches('-');
    if pid.parse::<i64>().is_err() || fd.parse::<u64>().is_err() {
        return None;
    }
    Some((format!("{pid}-{fd}"), msg))
}

impl Progress {
    /// Takes one log line (without its newline). Pure.
    pub fn feed(&mut self, line: &str) {
        let task = task_line(line);
        // A copy succeeded unless the line right after it is its error
        // (uffd_check_op_error logs it straight after the ioctl) or its
        // task's exit.
        if let Some((key, pages)) = self.pending.take() {
            match &task {
                Some((k, msg)) if *k == key && msg.starts_with("copy: mcopy_rc:") => {
                    let rc =
                        msg["copy: mcopy_rc:".len()..].split(',').next().and_then(|v| v.trim().parse::<i64>().ok());
                    self.copied_pages = self.copied_pages.saturating_add(rc.map_or(0, |b| b.max(0) as u64 / PAGE));
                    if msg.contains("errno:11") {
                        self.refused = self.refused.saturating_add(1);
                    }
                }
                Some((k, msg)) if *k == key && msg.starts_with("EXIT") => {}
                _ => self.copied_pages = self.copied_pages.saturating_add(pages),
            }
        }
        if line.contains("Error (") && !line.contains("Can't setup RLIMIT_NOFILE for self") {
            if self.errors.len() < 20 {
                self.errors.push(line.split_once(") ").map_or(line, |(_, r)| r).to_string());
            }
            return;
        }
        let Some((key, msg)) = task else { return };
        let one = |n: &mut u64| *n = n.saturating_add(1);
        let words: Vec<&str> = msg.split_whitespace().collect();
        match words.as_slice() {
            ["uffd_copy:", what] => {
                if let Some(len) = what.split_once('/').and_then(|(_, l)| l.parse::<u64>().ok()) {
                    self.pending = Some((key, len / PAGE));
                }
            }
            ["#PF", "at", _] => one(&mut self.faults),
            ["zero", "page", "at", _] => one(&mut self.zero_pages),
            ["Found", n, "pages", "to", "be", "handled", "by", "UFFD"] => {
                self.tasks += 1;
                self.lazy_pages = self.lazy_pages.saturating_add(n.parse::<u64>().unwrap_or(0));
            }
            ["UFFD", "transferred", "pages:", _] | ["EXIT"] => self.finished += 1,
            _ => {}
        }
    }

    /// The lazy pages not yet in (what a copy still has to bring).
    pub fn missing_pages(&self) -> u64 {
        self.lazy_pages.saturating_sub(self.copied_pages)
    }

    /// The last line, once the source has delivered: what came in, and
    /// what the processes freed before it was needed (a REMOVE or UNMAP
    /// drops a range from the transfer: it is not missing). Pure.
    pub fn delivered_line(&self, secs: f64) -> String {
        let mib = |p: u64| p as f64 * PAGE as f64 / (1 << 20) as f64;
        let mut s = format!(
            "all lazy pages delivered in {secs:.1} s: {:.0} MiB copied in, {} faults served",
            mib(self.copied_pages),
            self.faults
        );
        if self.missing_pages() > 0 {
            s.push_str(&format!(
                ", {:.0} MiB freed by the processes before they were needed",
                mib(self.missing_pages())
            ));
        }
        s
    }

    /// The live line: "lazy pages: 1024 / 262144 MiB in (…)". Pure.
    pub fn line(&self, secs: f64) -> String {
        // Counts come from a log: saturating, never overflowing.
        let mib = |p: u64| p as f64 * PAGE as f64 / (1 << 20) as f64;
        let pct = self.copied_pages.saturating_mul(100).checked_div(self.lazy_pages).map_or(100, |p| p.min(100));
        format!(
            "lazy pages: {:.0} / {:.0} MiB in ({pct}%), {} faults served, {:.1} s",
            mib(self.copied_pages),
            mib(self.lazy_pages),
            self.faults,
            secs
        )
    }
}

/// How the page source ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It exited 0: every lazy page is in (or was dropped by the process
    /// itself: munmap, madvise), and nothing can fault on a hole any more.
    Delivered(Progress),
    /// It died or failed before the last page: the restored processes have
    /// holes, and the container must be stopped.
    Died { status: String, progress: Progress, excerpt: String },
}

/// Judges the daemon's end from its exit status and its log. CRIU's
/// lazy-pages exits 0 only once every address space has nothing left to
/// bring in (handle_requests); a signal or another status is a death
/// before the last page. Pure.
pub fn judge_exit(code: Option<i32>, signal: Option<i32>, progress: &Progress, stderr: &str) -> Outcome {
    if code == Some(0) {
        return Outcome::Delivered(progress.clone());
    }
    let status = match (code, signal) {
        (_, Some(9)) => "killed (SIGKILL)".to_string(),
        (_, Some(s)) => format!("killed by signal {s}"),
        (Some(c), None) => format!("exit status {c}"),
        (None, None) => "ended".to_string(),
    };
    let mut lines: Vec<String> = progress.errors.clone();
    if lines.is_empty() {
        lines = stderr.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).take(10).collect();
    }
    Outcome::Died { status, progress: progress.clone(), excerpt: lines.join("\n") }
}

/// The error for a page source that died: the container must be stopped
/// (the caller does it, and says so in a step around this). Pure.
pub fn died_error(container: &str, status: &str, p: &Progress, excerpt: &str, log: &Path) -> Error {
    Error::Criu { action: "lazy-pages", status: status.to_string(), log: log.to_path_buf(), excerpt: excerpt.into() }
        .step(format!(
            "lazy restore of {container}: {} of {} lazy pages were in when its page source ended",
            p.copied_pages, p.lazy_pages
        ))
}

/// Reads a log as it grows, line by line.
#[derive(Debug, Default)]
struct Tail {
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Feeds the complete lines added to `path` since the last call.
    fn read(&mut self, path: &Path, p: &mut Progress) {
        let Ok(mut f) = fs::File::open(path) else { return };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            self.offset += n as u64;
            self.partial.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(i) = self.partial[start..].iter().position(|&b| b == b'\n') {
                p.feed(&String::from_utf8_lossy(&self.partial[start..start + i]));
                start += i + 1;
            }
            self.partial.drain(..start);
            // A line longer than this is not CRIU's: drop it.
            if self.partial.len() > 1 << 16 {
                self.partial.clear();
            }
        }
    }
}

/// A running `criu lazy-pages`, our child, in its own process group (a
/// Ctrl-C on the terminal reaches only us). Killed when dropped: drop it
/// only once it has delivered, or after stopping the restored container
/// (its holes read as zeros once it is gone).
pub struct PageSource {
    child: Option<Child>,
    work_dir: PathBuf,
    tail: Tail,
    progress: Progress,
    started: Instant,
    outcome: Option<Outcome>,
}

impl PageSource {
    /// Starts the daemon and waits (up to `ready_within`) until its socket
    /// listens. The work dir is made (0700) if missing; the restore must use
    /// the same one.
    pub fn start(criu: &Path, spec: &Spec, ready_within: Duration) -> Result<PageSource> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&spec.work_dir).at("create", &spec.work_dir)?;
        for f in [LOG, STDERR] {
            let _ = fs::remove_file(spec.work_dir.join(f));
        }
        let stderr_path = spec.work_dir.join(STDERR);
        let stderr = fs::File::create(&stderr_path).at("create", &stderr_path)?;
        let (read_end, write_end) = pipe()?;
        let status_fd = write_end.as_raw_fd();
        let ps_socket = spec.ps_socket;
        let mut cmd = Command::new(criu);
        cmd.args(argv(spec, status_fd))
            .env_remove("CRIU_CONFIG_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        // SAFETY: fcntl(2) and signal(2) are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                // Our death must not take it down with a SIGPIPE on its
                // stderr: the restored processes need it to finish.
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                for fd in std::iter::once(status_fd).chain(ps_socket) {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            Error::host(format!("cannot run {} lazy-pages: {e}", criu.display()), "check the CRIU installation")
        })?;
        drop(write_end);
        let mut src = PageSource {
            child: Some(child),
            work_dir: spec.work_dir.clone(),
            tail: Tail::default(),
            progress: Progress::default(),
            started: Instant::now(),
            outcome: None,
        };
        match wait_ready(&read_end, ready_within) {
            Ready::Yes => {}
            Ready::Closed => {
                // It exited (or closed the fd) without saying it is ready.
                let outcome = src.wait();
                let (status, excerpt) = match outcome {
                    Outcome::Died { status, excerpt, .. } => (status, excerpt),
                    Outcome::Delivered(_) => ("exited 0 before listening".into(), String::new()),
                };
                return Err(Error::Criu {
                    action: "lazy-pages",
                    status,
                    log: src.log(),
                    excerpt: format!("criu lazy-pages did not start listening on {SOCKET}:\n{excerpt}"),
                });
            }
            Ready::TimedOut => {
                src.kill();
                return Err(Error::host(
                    format!(
                        "criu lazy-pages did not listen on {} within {} s",
                        spec.work_dir.join(SOCKET).display(),
                        ready_within.as_secs()
                    ),
                    format!("see its log, {}", src.log().display()),
                ));
            }
        }
        Ok(src)
    }

    /// Its log file.
    pub fn log(&self) -> PathBuf {
        self.work_dir.join(LOG)
    }

    /// The socket the restore connects to.
    pub fn socket(&self) -> PathBuf {
        self.work_dir.join(SOCKET)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What its log says so far.
    pub fn progress(&mut self) -> &Progress {
        self.tail.read(&self.work_dir.join(LOG), &mut self.progress);
        &self.progress
    }

    /// How it ended, if it has (without waiting).
    pub fn poll(&mut self) -> Option<&Outcome> {
        if self.outcome.is_none() {
            let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(st) = status {
                self.child = None;
                self.finish(st);
            }
        }
        self.outcome.as_ref()
    }

    /// Waits until it ends, calling `tick` with its progress every
    /// `every` (for a live line), and says how it ended.
    pub fn wait_with(&mut self, every: Duration, mut tick: impl FnMut(&Progress, f64)) -> Outcome {
        loop {
            if let Some(o) = self.poll() {
                return o.clone();
            }
            let secs = self.started.elapsed().as_secs_f64();
            tick(self.progress(), secs);
            std::thread::sleep(every);
        }
    }

    /// Waits until it ends.
    pub fn wait(&mut self) -> Outcome {
        if let Some(mut c) = self.child.take() {
            if let Ok(st) = c.wait() {
                self.finish(st);
            }
        }
        self.outcome.clone().unwrap_or_else(|| Outcome::Died {
            status: "lost".into(),
            progress: self.progress.clone(),
            excerpt: String::new(),
        })
    }

    fn finish(&mut self, st: std::process::ExitStatus) {
        self.tail.read(&self.work_dir.join(LOG), &mut self.progress);
        let stderr = fs::read_to_string(self.work_dir.join(STDERR)).unwrap_or_default();
        self.outcome = Some(judge_exit(st.code(), st.signal(), &self.progress, &stderr));
    }

    /// Kills it (SIGKILL) and reaps it. The restored processes keep their
    /// holes: stop them first, or after.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Our unreaped child: its pid cannot have been reused.
            let _ = c.kill();
            if let Ok(st) = c.wait() {
                self.finish(st);
            }
        }
    }
}

impl Drop for PageSource {
    fn drop(&mut self) {
        self.kill();
    }
}

enum Ready {
    Yes,
    Closed,
    TimedOut,
}

/// Waits for the byte CRIU writes to its status fd once it is ready.
fn wait_ready(fd: &OwnedFd, within: Duration) -> Ready {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ready::TimedOut;
        }
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: poll(2) on one pollfd we own.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Ready::Closed;
        }
        if n == 0 {
            continue;
        }
        let mut b = [1u8; 1];
        // SAFETY: read(2) of one byte into a stack buffer.
        let r = unsafe { libc::read(fd.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        return if r == 1 && b[0] == 0 { Ready::Yes } else { Ready::Closed };
    }
}

/// pipe2(2) with O_CLOEXEC: (read end, write end).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) writes two fds into the array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::host(format!("cannot make a pipe: {}", std::io::Error::last_os_error()), ""));
    }
    // SAFETY: both fds are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_source_needs_big_pipes_and_no_terminal() {
        assert!(source_refusal(true, false, "web").is_none());
        let e = source_refusal(false, false, "web").unwrap();
        assert_eq!(e.exit_code(), 3);
        assert!(e.to_string().contains("pipes of 4 MiB"), "{e}");
        assert!(e.hint().unwrap().contains("fs.pipe-max-size=4194304"));
        let e = source_refusal(true, true, "web").unwrap();
        assert_eq!(e.exit_code(), 4);
        assert!(e.to_string().contains("web: it has a terminal"), "{e}");
        // What the kernel rounds 819 pages up to is what the sysctl must allow.
        assert_eq!(LAZY_DUMP_PIPE.next_power_of_two(), 4194304);
    }

    #[test]
    fn the_fix_is_known_by_the_builds_gitid() {
        assert_eq!(
            fault_retry(Some("v4.2.1+uffd-eagain.0123456789ab")),
            FaultRetry::Patched("v4.2.1+uffd-eagain.0123456789ab".into())
        );
        assert!(matches!(fault_retry(Some("v4.2.1+other.1+uffd-eagain")), FaultRetry::Patched(_)));
        assert_eq!(fault_retry(None), FaultRetry::Missing, "Debian's and upstream's 4.2.1 print no GitID");
        assert_eq!(fault_retry(Some("v4.2.1-12-gdeadbeef")), FaultRetry::Missing);
        assert_eq!(fault_retry(Some("v4.2.1+uffd-eagainx")), FaultRetry::Missing);
    }

    #[test]
    fn refusals_say_why_and_what_to_do() {
        let ok = Readiness {
            uffd: Ok(()),
            retry: FaultRetry::Patched("x+uffd-eagain.1".into()),
            criu_version: "4.2.1".into(),
        };
        assert!(refusal(&ok).is_none());
        let stall = refusal(&Readiness { retry: FaultRetry::Missing, ..ok.clone() }).unwrap();
        assert_eq!(stall.exit_code(), 3);
        let text = stall.to_string();
        assert!(text.contains("would stall") && text.contains("CRIU 4.2.1") && text.contains("EAGAIN"), "{text}");
        assert!(
            stall.hint().unwrap().contains("without --lazy") && stall.hint().unwrap().contains("uffd-eagain.patch")
        );
        let no_uffd = refusal(&Readiness {
            uffd: Err("Error (criu/kerndat.c:1): uffd: no userfaultfd\n".into()),
            retry: FaultRetry::Missing,
            ..ok
        })
        .unwrap();
        let text = no_uffd.to_string();
        assert!(
            text.contains("userfaultfd") && text.contains("(Error (criu/kerndat.c:1): uffd: no userfaultfd)"),
            "{text}"
        );
        assert!(!text.contains("would stall"), "the first reason only");
    }

    #[test]
    fn daemon_arguments() {
        let s =
            Spec { images_dir: "/s/cp/checkpoint".into(), work_dir: "/w".into(), page_server: None, ps_socket: None };
        let a: Vec<String> = argv(&s, 7).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            a,
            [
                "lazy-pages",
                "--no-default-config",
                "--images-dir",
                "/s/cp/checkpoint",
                "--work-dir",
                "/w",
                "--log-file",
                "/w/lazy-pages.log",
                "-v4",
                "--status-fd",
                "7"
            ]
        );
        let r = Spec { page_server: Some(("10.0.0.1".into(), 27000)), ..s.clone() };
        let a: Vec<String> = argv(&r, 7).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(a[11..], ["--page-server", "--address", "10.0.0.1", "--port", "27000"]);
        let r = Spec { ps_socket: Some(9), ..s };
        let a: Vec<String> = argv(&r, 7).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(a[11..], ["--page-server", "--ps-socket", "9"]);
    }

    /// Lines of a real lazy-pages log (CRIU 4.2.1 patched, -v4): a redis
    /// restored lazily through Docker 28.5.
    const LOG_LINES: &str = "(00.019611) Dirty tracking support is OFF
(00.448101) uffd: Received PID: 1, uffd: 11
(00.448301) uffd: 1-11: Found 132356 pages to be handled by UFFD
(00.450296) uffd: 1-11: #PF at 0x7efeff572000
(00.450299) pr1-1 Read 7efeff572000 1 pages
(00.450300) \tpr1-1 Read page from self 7efeff572000/fea2000
(00.450301) uffd: 1-11: uffd_copy: 0x7efeff572000/4096
(00.450318) uffd: 1-11: #PF at 0x7eff1763d000
(00.450322) pr1-1 Read 7eff1763d000 1 pages
(00.450323) \tpr1-1 Read page from self 7eff1763d000/2051f000
(00.450324) uffd: 1-11: uffd_copy: 0x7eff1763d000/4096
(00.450326) uffd: 1-11: copy: mcopy_rc:-11, errno:11
(00.450327) uffd: 1-11: parked 0x7eff1763d000(0x1000)
(00.450339) uffd: 1-11: REMOVE: 7eff17459000(1000)
(00.450340) uffd: 1-11: wake 0x7eff1763d000(0x1000)
(00.450353) uffd: 1-11: #PF at 0x7eff1763d000
(00.450359) uffd: 1-11: uffd_copy: 0x7eff1763d000/4096
(00.450360) uffd: 1-11: #PF at 0x7ffe6f38a000
(00.450361) uffd: 1-11: zero page at 0x7ffe6f38a000
(00.532805) uffd: 1-11: uffd_copy: 0x7efeeb127000/65536
(00.532806) uffd: 1-11: copy: mcopy_rc:20480, errno:11
(00.756822) uffd: 1-11: uffd_copy: 0x7ffe6f382000/8192
(00.756826) uffd: 1-11: UFFD transferred pages: (132348/132356)
";

    #[test]
    fn progress_from_the_log() {
        let mut p = Progress::default();
        for l in LOG_LINES.lines() {
            p.feed(l);
        }
        assert_eq!((p.tasks, p.lazy_pages, p.finished), (1, 132356, 1));
        assert_eq!(p.faults, 4);
        assert_eq!(p.zero_pages, 1);
        assert_eq!(p.refused, 2);
        // 1 + (refused) + 1 + 5 of a partial 16-page copy + 2.
        assert_eq!(p.copied_pages, 9);
        assert_eq!(p.missing_pages(), 132347);
        assert!(p.errors.is_empty());
        assert_eq!(p.line(1.5), "lazy pages: 0 / 517 MiB in (0%), 4 faults served, 1.5 s");
        assert_eq!(
            p.delivered_line(0.75),
            "all lazy pages delivered in 0.8 s: 0 MiB copied in, 4 faults served, 517 MiB freed by the processes \
             before they were needed"
        );
        let all = Progress { lazy_pages: 256, copied_pages: 256, ..Default::default() };
        assert_eq!(all.delivered_line(2.0), "all lazy pages delivered in 2.0 s: 1 MiB copied in, 0 faults served");
        // The last line of a log may be a copy still to be judged: not counted yet.
        let mut q = Progress::default();
        q.feed("(00.1) uffd: 1-11: uffd_copy: 0x1000/4096");
        assert_eq!(q.copied_pages, 0);
        q.feed("(00.2) uffd: 2-12: #PF at 0x5000");
        assert_eq!(q.copied_pages, 1, "another task's line: the copy went through");
        let mut r = Progress::default();
        r.feed("(00.1) uffd: 1-11: uffd_copy: 0x1000/8192");
        r.feed("(00.2) uffd: 1--11: EXIT");
        assert_eq!((r.copied_pages, r.finished), (0, 1), "its task exited: nothing copied");
    }

    // Found by the fuzzer (tests/fuzz lazy): counts near u64::MAX.
    #[test]
    fn huge_counts_saturate() {
        let mut p = Progress::default();
        p.feed("(00.1) uffd: 1-11: Found 18446744073709551615 pages to be handled by UFFD");
        p.feed("(00.1) uffd: 1-11: Found 5 pages to be handled by UFFD");
        p.feed("(00.2) uffd: 1-11: uffd_copy: 0x1000/18446744073709551615");
        p.feed("(00.3) uffd: 1-11: uffd_copy: 0x1000/18446744073709551615");
        p.feed("(00.4) uffd: 1-11: #PF at 0x1");
        assert_eq!(p.lazy_pages, u64::MAX);
        assert_eq!(p.copied_pages, 2 * (u64::MAX / PAGE));
        assert!(p.line(1.0).contains("(0%)"), "{}", p.line(1.0));
    }

    #[test]
    fn log_lines_that_are_not_the_daemons_are_ignored() {
        let mut p = Progress::default();
        for l in [
            "",
            "uffd: 1-11: #PF at 0x1",
            "(00.1) uffd: x-11: #PF at 0x1",
            "(00.1) uffd: 1-y: #PF at 0x1",
            "(00.1) uffd: 1-11: Found many pages to be handled by UFFD",
            "(00.1) uffd: 1-11: uffd_copy: 0x1000/lots",
            "(00.1) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
        ] {
            p.feed(l);
        }
        assert_eq!(p, Progress { tasks: 1, ..Default::default() });
    }

    #[test]
    fn the_end_tells_delivered_from_died() {
        let mut p = Progress::default();
        for l in LOG_LINES.lines() {
            p.feed(l);
        }
        assert!(matches!(judge_exit(Some(0), None, &p, ""), Outcome::Delivered(_)));
        match judge_exit(None, Some(9), &p, "") {
            Outcome::Died { status, excerpt, .. } => {
                assert_eq!((status.as_str(), excerpt.as_str()), ("killed (SIGKILL)", ""))
            }
            o => panic!("{o:?}"),
        }
        p.feed("(00.9) Error (criu/uffd.c:1412): uffd: Restorer unexpectedly closed the connection");
        match judge_exit(Some(1), None, &p, "ignored when the log has errors") {
            Outcome::Died { status, excerpt, .. } => {
                assert_eq!(status, "exit status 1");
                assert_eq!(excerpt, "Error (criu/uffd.c:1412): uffd: Restorer unexpectedly closed the connection");
            }
            o => panic!("{o:?}"),
        }
        let bare = judge_exit(Some(1), None, &Progress::default(), "\nlazy-pages: unknown option --x\n");
        assert!(matches!(bare, Outcome::Died { ref excerpt, .. } if excerpt == "lazy-pages: unknown option --x"));
        let e = died_error("web", "killed (SIGKILL)", &p, "", Path::new("/w/lazy-pages.log"));
        assert!(e.to_string().starts_with("lazy restore of web: 9 of 132356 lazy pages were in"), "{e}");
        assert!(e.to_string().contains("criu lazy-pages failed (killed (SIGKILL))"), "{e}");
        assert_eq!(e.hint().unwrap(), "the full CRIU log is /w/lazy-pages.log");
    }

    #[test]
    fn a_growing_log_is_read_line_by_line() {
        let dir = std::env::temp_dir().join(format!("dcr-lazy-tail-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join(LOG);
        let (a, b) = LOG_LINES.split_at(LOG_LINES.find("(00.450324)").unwrap() + 5);
        fs::write(&log, a).unwrap();
        let (mut t, mut p) = (Tail::default(), Progress::default());
        t.read(&log, &mut p);
        assert_eq!((p.faults, p.copied_pages), (2, 1), "the cut line waits for its end");
        use std::io::Write;
        fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b.as_bytes()).unwrap();
        t.read(&log, &mut p);
        let mut whole = Progress::default();
        LOG_LINES.lines().for_each(|l| whole.feed(l));
        assert_eq!(p, whole);
        fs::remove_dir_all(&dir).unwrap();
    }
}
