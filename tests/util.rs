//! Helpers for the end-to-end tests: the binary, the engine (through the
//! docker CLI: the tests may use it, docker-cr itself never does), unique
//! names with cleanup guards, HTTP probes, temp dirs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "docker-cr-test:busybox";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn unique(prefix: &str) -> String {
    format!("dcr-{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// The docker-cr under test: the debug build of this crate, or the binary
/// DOCKER_CR_BIN names (tests/run points one phase at the static release
/// build, the binary users get).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| std::env::var("DOCKER_CR_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_docker-cr").to_string()))
}

/// Runs docker-cr with the given arguments.
pub fn dcr(args: &[&str]) -> Output {
    Command::new(bin()).args(args).stdin(Stdio::null()).bounded()
}

/// How long one command of a test may run before it is taken for hung.
/// Not a measure of speed (the slowest command here takes about a minute):
/// a hang must fail its test with what the command printed, not stall the
/// suite until CI's own limit ends it with nothing to read.
pub const HANG_GUARD: Duration = Duration::from_secs(900);

/// `Command::output`, with `HANG_GUARD`.
pub trait Bounded {
    /// Runs the command in a process group of its own, with nothing on
    /// stdin and its stdout and stderr collected (whatever the command had
    /// set: a test that gives them elsewhere uses `output`); past
    /// `HANG_GUARD` the whole group is killed and the test fails with what
    /// it printed so far.
    fn bounded(&mut self) -> Output;
}

impl Bounded for Command {
    #[track_caller]
    fn bounded(&mut self) -> Output {
        use std::os::unix::process::CommandExt;
        let what = format!("{:?}", self);
        // As `output`: nothing on stdin.
        let mut child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                let _ = r.read_to_end(&mut v);
                v
            })
        };
        let out = child.stdout.take().map(|r| drain(Box::new(r)));
        let err = child.stderr.take().map(|r| drain(Box::new(r)));
        let t0 = Instant::now();
        let mut status = None;
        // Until it has ended and its output too (a descendant can hold the
        // pipes open after it), or the guard ends it.
        let hung = loop {
            if status.is_none() {
                status = child.try_wait().expect("wait for a command");
            }
            if status.is_some() && out.iter().chain(&err).all(|h| h.is_finished()) {
                break false;
            }
            if t0.elapsed() > HANG_GUARD {
                // SAFETY: kill(2) of the child's own process group.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                break true;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let status = status.unwrap_or_else(|| child.wait().expect("wait for a command"));
        let join =
            |h: Option<std::thread::JoinHandle<Vec<u8>>>| h.map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        let (stdout, stderr) = (join(out), join(err));
        let status = (!hung).then_some(status);
        match status {
            Some(status) => Output { status, stdout, stderr },
            None => panic!(
                "{what} still ran after {} s: hung (it was killed); it printed:\n{}{}",
                HANG_GUARD.as_secs(),
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            ),
        }
    }
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[track_caller]
pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "docker-cr failed ({}):\n{}", o.status, text(&o));
    o
}

#[track_caller]
pub fn fails_with(o: &Output, code: i32, needle: &str) {
    let t = text(o);
    assert_eq!(o.status.code(), Some(code), "expected exit {code}, got {}:\n{t}", o.status);
    assert!(t.contains(needle), "expected {needle:?} in:\n{t}");
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).stdin(Stdio::null()).bounded()
}

#[track_caller]
pub fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(o.status.success(), "docker {args:?} failed:\n{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn inspect(name: &str, fmt: &str) -> String {
    docker_ok(&["inspect", "-f", fmt, name])
}

pub fn exists(name: &str) -> bool {
    docker(&["inspect", name]).status.success()
}

/// Fails loudly (never skips) when the host is not prepared.
pub fn require_engine() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(uid, 0, "the end-to-end tests need root; run tests/run as root");
    let o = docker(&["info", "--format", "{{.ExperimentalBuild}}"]);
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "true",
        "no experimental Docker engine at DOCKER_HOST={:?}: run tests/setup-host (or tests/run) first\n{}",
        std::env::var("DOCKER_HOST").unwrap_or_default(),
        text(&o)
    );
    for image in [IMAGE, "docker-cr-test:redis"] {
        assert!(
            docker(&["image", "inspect", image]).status.success(),
            "test image {image} missing: run tests/setup-host"
        );
    }
    let c = Command::new("criu").arg("check").output();
    assert!(c.is_ok_and(|c| c.status.success()), "criu check fails or CRIU is missing: run tests/setup-host");
}

/// Removes the container when dropped.
pub struct Container(pub String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A counter service: httpd on port 80, /state holds "TOKEN N" with N
/// counting up every 50 ms. TOKEN is read from a file the process deletes,
/// so it lives only in the process's memory: a container that started from
/// scratch instead of from the checkpoint cannot show it.
pub fn start_counter(name: &str, port: u16, extra: &[&str]) -> String {
    start_counter_on(IMAGE, name, port, extra)
}

/// `start_counter` on another busybox-based image.
pub fn start_counter_on(image: &str, name: &str, port: u16, extra: &[&str]) -> String {
    start_service_on(image, name, port, extra, COUNTER_SCRIPT, &[])
}

/// The counter's shell script (see `start_counter`).
pub const COUNTER_SCRIPT: &str = "tok=$(cat /tmp/token); rm -f /tmp/token; httpd -p 80 -h /var/www; i=0; \
                  while :; do i=$((i+1)); echo \"$tok $i\" > /var/www/state.new; mv /var/www/state.new /var/www/state; sleep 0.05; done";

/// An image the test made, removed when dropped.
pub struct ImageGuard(pub String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

/// Creates a busybox container that runs `script` with port 80 published on
/// `port`, copies `files` (host path, container path) and a fresh token
/// (/tmp/token) into it, starts it; returns the token.
pub fn start_service(name: &str, port: u16, extra: &[&str], script: &str, files: &[(&Path, &str)]) -> String {
    start_service_on(IMAGE, name, port, extra, script, files)
}

/// `start_service` on another busybox-based image.
pub fn start_service_on(
    image: &str,
    name: &str,
    port: u16,
    extra: &[&str],
    script: &str,
    files: &[(&Path, &str)],
) -> String {
    let publish = format!("127.0.0.1:{port}:80");
    let mut args = vec!["create", "--name", name];
    // Port 0: none published (e.g. it joins another container's network).
    if port != 0 {
        args.extend_from_slice(&["-p", &publish]);
    }
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image, "sh", "-c", script]);
    docker_ok(&args);
    let token = format!("tok{}", unique("t").replace('-', ""));
    let dir = temp_dir("token");
    std::fs::write(dir.join("token"), &token).unwrap();
    docker_ok(&["cp", dir.join("token").to_str().unwrap(), &format!("{name}:/tmp/token")]);
    for (from, to) in files {
        docker_ok(&["cp", from.to_str().unwrap(), &format!("{name}:{to}")]);
    }
    start_container(name);
    token
}

/// `docker start`, once more if runc itself failed to set up the container's
/// init (seen once with Docker 26.1's runc under load: "read init-p:
/// connection reset by peer"): test setup, not what the test checks.
#[track_caller]
pub fn start_container(name: &str) {
    let o = docker(&["start", name]);
    if !o.status.success() && text(&o).contains("read init-p") {
        std::thread::sleep(Duration::from_millis(500));
        docker_ok(&["start", name]);
        return;
    }
    assert!(o.status.success(), "docker start {name} failed:\n{}", text(&o));
}

/// A static program built from tests/progs/NAME.c (gcc -static, once per
/// test run), to copy into a busybox container.
pub fn static_program(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/progs").join(format!("{name}.c"));
    let out = temp_dir("prog").join(name);
    let o = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .expect("run gcc (tests/setup-host installs it)");
    assert!(o.status.success(), "gcc -static {}:\n{}", src.display(), text(&o));
    built.push((name.to_string(), out.clone()));
    out
}

/// A running counter service (see `start_counter`) that has counted to at
/// least `min`, removed when dropped.
pub struct Counter {
    pub name: String,
    pub port: u16,
    pub token: String,
    pub count: u64,
    _guard: Container,
}

impl Counter {
    pub fn start(tag: &str, extra: &[&str], min: u64) -> Counter {
        let name = unique(tag);
        let guard = Container(name.clone());
        let port = free_port();
        let token = start_counter(&name, port, extra);
        let (_, count) = wait_count(port, min);
        Counter { name, port, token, count, _guard: guard }
    }
}

/// GET a path from 127.0.0.1:port; None when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// Waits for the counter service and returns (token, n).
#[track_caller]
pub fn read_state(port: u16) -> (String, u64) {
    let start = Instant::now();
    loop {
        if let Some(b) = http_get(port, "/state") {
            let mut it = b.split_whitespace();
            if let (Some(t), Some(n)) = (it.next(), it.next().and_then(|n| n.parse().ok())) {
                return (t.to_string(), n);
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no counter state on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the counter reaches `n`.
pub fn wait_count(port: u16, n: u64) -> (String, u64) {
    loop {
        let s = read_state(port);
        if s.1 >= n {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts that the service on `port` runs the checkpointed memory: the
/// token survived, and the counter goes on from at least `from`.
#[track_caller]
pub fn assert_continues(port: u16, token: &str, from: u64) {
    let (t1, n1) = read_state(port);
    assert_eq!(t1, token, "the in-memory token is gone: the container started from scratch");
    assert!(n1 >= from, "counter went back from {from} to {n1}");
    std::thread::sleep(Duration::from_millis(300));
    let (t2, n2) = read_state(port);
    assert_eq!(t2, token);
    assert!(n2 > n1, "the counter stopped at {n1}");
}

pub fn temp_dir(what: &str) -> PathBuf {
    let d = std::env::temp_dir().join("docker-cr-tests").join(unique(what));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A script standing in for CRIU (for version and failure tests).
pub fn fake_criu(body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = temp_dir("criu").join("criu");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// cgroup lines of the container's init process.
pub fn proc_cgroup(name: &str) -> String {
    let pid = inspect(name, "{{.State.Pid}}");
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap()
}

/// One redis command over RESP on 127.0.0.1:port; the reply's first line.
pub fn redis(port: u16, args: &[&str]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).ok()?;
    // The reply may come in pieces (docker-proxy passes on what it has):
    // read its first line, and a bulk string's value (up to 4 KiB of it).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else { continue };
        let first = String::from_utf8_lossy(&buf[..eol]).to_string();
        let want = match first.strip_prefix('$').and_then(|l| l.parse::<usize>().ok()) {
            Some(len) => eol + 2 + (len + 2).min(4096),
            None => eol + 2,
        };
        if buf.len() >= want || buf.len() >= 8192 {
            break;
        }
    }
    let reply = String::from_utf8_lossy(&buf).to_string();
    // Bulk strings: "$len\r\nvalue\r\n" → value.
    let mut lines = reply.split("\r\n");
    let first = lines.next()?.to_string();
    if first.starts_with('$') && first != "$-1" {
        return lines.next().map(str::to_string);
    }
    Some(first)
}

/// Waits until redis answers PING.
#[track_caller]
pub fn wait_redis(port: u16) {
    let start = Instant::now();
    while redis(port, &["PING"]).as_deref() != Some("+PONG") {
        assert!(start.elapsed() < Duration::from_secs(20), "redis on port {port} does not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A redis container with `mib` MiB of values (1 MiB each), so a dump takes
/// long enough to interrupt. Returns the port.
pub fn start_big_redis(name: &str, mib: u32) -> u16 {
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:6379");
    docker_ok(&[
        "run",
        "-d",
        "--name",
        name,
        "-p",
        &publish,
        "docker-cr-test:redis",
        "/usr/bin/redis-server",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--enable-debug-command",
        "yes",
    ]);
    wait_redis(port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let n = mib.to_string();
    let args = ["DEBUG", "POPULATE", &n, "key", "1048576"];
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let k = s.read(&mut buf).unwrap();
    assert!(buf[..k].starts_with(b"+OK"), "{}", String::from_utf8_lossy(&buf[..k]));
    port
}

/// Starts docker-cr with stderr piped and waits for a progress line that
/// contains `marker`. Returns the child and what it printed so far.
pub fn spawn_until(args: &[&str], marker: &str) -> (std::process::Child, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    spawn_cmd_until(cmd, marker)
}

/// As `spawn_until`, for any command (e.g. docker-cr run by the docker CLI).
pub fn spawn_cmd_until(mut cmd: Command, marker: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd.stdin(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut r = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 {
            panic!("docker-cr ended before printing {marker:?}:\n{seen}");
        }
        seen.push_str(&line);
        if line.contains(marker) {
            break;
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    });
    std::mem::forget(rest);
    (child, seen)
}

pub fn criu_running() -> bool {
    Command::new("pgrep").args(["-x", "criu"]).output().is_ok_and(|o| o.status.success())
}

pub fn wait_no_criu() {
    let start = Instant::now();
    while criu_running() {
        assert!(start.elapsed() < Duration::from_secs(60), "criu still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The first CRIU image in a checkpoint whose name starts with `prefix`.
pub fn image_file(dir: &Path, prefix: &str) -> PathBuf {
    std::fs::read_dir(dir.join("checkpoint"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}* image in {}", dir.display()))
        .path()
}

/// Replaces a checkpoint file on purpose and records it in the manifest as
/// if docker-cr had written it, so that what comes after (CRIU, the tar
/// reader) meets the change rather than the digest. Without the host's key
/// the signature cannot follow: it is removed, so the checkpoint is now
/// unsigned and restores only with --trust.
pub fn reseal(dir: &Path, rel: &str, data: &[u8]) {
    reseal_keep_signature(dir, rel, data);
    let _ = std::fs::remove_file(dir.join("manifest.sig"));
}

/// As `reseal`, but leaves the (now wrong) signature in place: a tampered
/// checkpoint.
pub fn reseal_keep_signature(dir: &Path, rel: &str, data: &[u8]) {
    std::fs::write(dir.join(rel), data).unwrap();
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let sum = docker_cr::model::manifest::sum_file(&dir.join(rel)).unwrap();
    m["files"][rel] = serde_json::to_value(&sum).unwrap();
    std::fs::write(&path, m.to_string()).unwrap();
}

/// Edits the saved inspect data of a checkpoint and reseals it (unsigned).
pub fn edit_container_json(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("container.json")).unwrap()).unwrap();
    edit(&mut c);
    reseal(dir, "container.json", c.to_string().as_bytes());
}

/// Holds docker-cr's own runc.conf lock, so no restore of a parallel test
/// installs its options while a test looks at or plays with the file.
pub struct RuncConfSerial {
    _lock: std::fs::File,
}

impl RuncConfSerial {
    pub fn take() -> RuncConfSerial {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new().create(true).append(true).open("/run/docker-cr.lock").unwrap();
        // SAFETY: flock(2) on an fd we own.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        RuncConfSerial { _lock: f }
    }
}

/// Whether a restore into the stopped container `name` will replace it:
/// on Docker >= 28, which cannot restore into the network namespace of an
/// existing container, when it has one of its own (a container docker-cr
/// restored behind a network holder has not). Ask before the restore.
pub fn restore_will_replace(name: &str) -> bool {
    let v = docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    let new = v.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 28);
    let mode = inspect(name, "{{.HostConfig.NetworkMode}}");
    new && mode != "host" && !mode.starts_with("container:")
}

/// After a restore into the stopped container `id` named `name`: the same
/// container, or (`replaced`, see `restore_will_replace`) a new one of that
/// name with the old one gone. Returns the ID the container has now.
#[track_caller]
pub fn assert_same_or_replaced(name: &str, id: &str, replaced: bool) -> String {
    let now = inspect(name, "{{.Id}}");
    if replaced {
        assert_ne!(now, id, "Docker >= 28: {name} should have been replaced");
        assert!(!exists(id), "the replaced container {id} is still there");
        assert!(!exists(&format!("{name}-docker-cr-replaced")));
    } else {
        assert_eq!(now, id, "restored into another container");
    }
    now
}

/// The container that owns `name`'s network settings: its network holder
/// on Docker >= 28 (issue 10), else itself.
pub fn network_owner(name: &str) -> String {
    let h = inspect(name, "{{index .Config.Labels \"org.docker-cr.net-holder\"}}");
    if h.is_empty() || h == "<no value>" {
        name.to_string()
    } else {
        h
    }
}

/// docker-cr with more environment, and its pid: the probe containers a
/// restore makes are named after it (`probes_left`).
pub fn dcr_env_pid(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> (Output, u32) {
    let child = Command::new(bin())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run docker-cr");
    let pid = child.id();
    (child.wait_with_output().expect("wait for docker-cr"), pid)
}

/// The probe containers (`host::probe`) the docker-cr of `pid` left, by
/// their names: other tests' restores probe at the same time.
pub fn probes_left(pid: u32) -> Vec<String> {
    let names = docker_ok(&["ps", "-a", "--filter", "label=io.docker-cr.probe", "--format", "{{.Names}}"]);
    let mine = format!("docker-cr-probe-{pid}-");
    names.lines().filter(|n| n.starts_with(&mine)).map(str::to_string).collect()
}

/// 500 keys with random values, set in the redis on 127.0.0.1:`port` (its
/// memory only: the test redis saves nothing).
pub fn set_random_keys(port: u16) -> Vec<(String, String)> {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let keys: Vec<(String, String)> = (0..500u64)
        .map(|i| (format!("rnd:{i}"), format!("{:016x}", (seed ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15))))
        .collect();
    for (k, v) in &keys {
        assert_eq!(redis(port, &["SET", k, v]).as_deref(), Some("+OK"));
    }
    keys
}

/// Every key as it was: the random ones, and each POPULATE value.
#[track_caller]
pub fn verify_redis(port: u16, mib: u32, keys: &[(String, String)]) {
    for (k, v) in keys {
        assert_eq!(redis(port, &["GET", k]).as_deref(), Some(v.as_str()), "{k}");
    }
    for i in 0..mib {
        let got = redis(port, &["GET", &format!("key:{i}")]).unwrap_or_default();
        assert!(got.starts_with(&format!("value:{i}\0")), "key:{i} begins {:?}", &got[..got.len().min(16)]);
        assert_eq!(redis(port, &["STRLEN", &format!("key:{i}")]).as_deref(), Some(":1048576"));
    }
    assert_eq!(redis(port, &["DBSIZE"]), Some(format!(":{}", mib as usize + keys.len())));
}
