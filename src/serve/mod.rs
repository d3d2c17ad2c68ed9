//! `docker-cr serve`: one page and a JSON API over the store and the
//! engine, in the same static binary, synchronous, on std::net.
//!
//! Threads: the gate (`gate`) accepts and holds every connection, with
//! poll(2), until its request head has arrived (and sees a pending
//! SIGINT/SIGTERM); a fixed pool of `threads` workers serves ready
//! requests and hands kept-alive connections back to it; one thread feeds
//! every event stream (server-sent events: a handful of bytes per second
//! per client, written without blocking; a client that cannot take them
//! is dropped), and each long operation runs on a thread of its own
//! (`jobs`, at most `max_jobs`). Connections beyond `max_connections` are
//! answered 503 at once; a head must arrive within `head_timeout`, an idle
//! keep-alive ends after `idle_timeout`, a body that stalls for
//! `body_timeout` ends its request.
//!
//! Stop: SIGINT, SIGTERM and SIGHUP are blocked in every thread from the
//! start, so a signal stays pending: the gate sees it and stops accepting,
//! every running operation's `Cancel` flag is set (it rolls back at its
//! next step, as the CLI's does on Ctrl-C), the event streams get `bye`,
//! downloads are cut, an upload's import sees the pending signal between
//! entries and removes what it wrote; the server waits for all of them.
//!
//! The security model is in `auth`; the parser's limits in `http`.

pub mod api;
pub mod auth;
pub mod diff;
pub mod gate;
pub mod http;
pub mod jobs;
pub mod ops;
pub mod routes;

use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::Global;
use crate::error::{Error, IoContext, Result};
use api::Reply;

/// The default address: loopback, and a fixed port, so that the operator
/// can keep the printed URL of the machine's usual server; `--listen
/// 127.0.0.1:0` takes a free one.
pub const DEFAULT_PORT: u16 = 7380;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Another address than loopback was asked for, on purpose.
    pub allow_remote: bool,
    /// More Host names to answer to (a tunnel's `localhost:9000`).
    pub allow_hosts: Vec<String>,
    pub threads: usize,
    pub max_connections: usize,
    pub max_events: usize,
    pub max_jobs: usize,
    pub max_upload: u64,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub write_timeout: Duration,
    pub limits: http::Limits,
    /// The command migrate runs to reach another host.
    pub transport: Vec<String>,
    /// Write the URL (with the token) to this file (0600) as well: for
    /// scripts and tests that start the server.
    pub url_file: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
            allow_remote: false,
            allow_hosts: Vec::new(),
            threads: 16,
            max_connections: 256,
            max_events: 64,
            max_jobs: 4,
            max_upload: 8 << 30,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            limits: http::Limits::default(),
            transport: vec!["ssh".into()],
            url_file: None,
        }
    }
}

impl From<&crate::cli::serve::ServeArgs> for Config {
    fn from(a: &crate::cli::serve::ServeArgs) -> Config {
        let d = Config::default();
        Config {
            listen: a.listen,
            allow_remote: a.allow_remote,
            allow_hosts: a.allow_hosts.clone(),
            threads: a.threads.unwrap_or(d.threads),
            max_connections: a.max_connections.unwrap_or(d.max_connections),
            max_upload: a.max_upload.unwrap_or(d.max_upload),
            transport: a.transport.clone().unwrap_or(d.transport.clone()),
            url_file: a.url_file.clone(),
            ..d
        }
    }
}

/// Refuses an address other than loopback unless asked for; returns the
/// warning to print for one that was.
pub fn check_listen(cfg: &Config) -> Result<Option<String>> {
    if cfg.listen.ip().is_loopback() {
        return Ok(None);
    }
    if !cfg.allow_remote {
        return Err(Error::Usage(format!(
            "{} is not a loopback address: anyone who reaches it and learns the token controls this host's containers as root\n\
             Try 'docker-cr serve --listen 127.0.0.1:PORT', or add --allow-remote if you mean it",
            cfg.listen
        )));
    }
    if cfg.listen.ip().is_unspecified() && cfg.allow_hosts.is_empty() {
        return Err(Error::Usage(format!(
            "{} is every address: name the one browsers will use (the Host they send), e.g. --allow-host myhost:{}\n\
             Try 'docker-cr serve --help'",
            cfg.listen,
            cfg.listen.port()
        )));
    }
    Ok(Some(format!(
        "warning: serving plain HTTP on {}: the token and the session cookie cross the network unencrypted; \
         prefer --listen 127.0.0.1:PORT and an SSH tunnel (ssh -L PORT:127.0.0.1:PORT host, with --allow-host localhost:PORT)",
        cfg.listen
    )))
}

/// An answer, when it was made, its status and encoded body.
type Cached = (Instant, u16, Arc<Vec<u8>>);

/// Cached answers of the lists, shared by every client: many pages open
/// cost one engine round and one store scan per second, not one each.
pub struct Cache {
    slots: Vec<Mutex<Option<Cached>>>,
    ttl: Vec<Duration>,
}

pub const C_HOST: usize = 0;
pub const C_CONTAINERS: usize = 1;
pub const C_CHECKPOINTS: usize = 2;

impl Cache {
    pub fn new() -> Cache {
        Cache {
            slots: (0..3).map(|_| Mutex::new(None)).collect(),
            ttl: vec![Duration::from_secs(30), Duration::from_secs(1), Duration::from_secs(1)],
        }
    }
    /// The cached answer of `key`, or `f`'s, computed by one caller while
    /// the others wait for it.
    pub fn get(&self, key: usize, f: impl FnOnce() -> (u16, Vec<u8>)) -> (u16, Arc<Vec<u8>>) {
        let mut slot = self.slots[key].lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, s, b)) = slot.as_ref() {
            if at.elapsed() < self.ttl[key] {
                return (*s, Arc::clone(b));
            }
        }
        let (s, b) = f();
        let b = Arc::new(b);
        *slot = Some((Instant::now(), s, Arc::clone(&b)));
        (s, b)
    }
    /// After a change: the lists (not the host's readiness) are read again.
    pub fn invalidate(&self) {
        for k in [C_CONTAINERS, C_CHECKPOINTS] {
            *self.slots[k].lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}

pub struct App {
    /// What every request's `Session` is made of (decided at start, as the
    /// CLI decides it once per command).
    pub criu_bin: std::path::PathBuf,
    pub store: crate::store::Store,
    pub keys: crate::model::trust::KeyDir,
    pub cfg: Config,
    pub secrets: auth::Secrets,
    pub origins: auth::Origins,
    pub jobs: Arc<jobs::Jobs>,
    pub cache: Arc<Cache>,
    stopping: AtomicBool,
    /// Connections accepted and not yet closed (event streams apart).
    active: Arc<AtomicUsize>,
    /// Connections waiting for a worker.
    queued: AtomicUsize,
    events: Mutex<Vec<TcpStream>>,
}

impl App {
    /// The session of a request: nothing reported, never cancelled (a
    /// request's work is short; long work is a job).
    pub fn session(&self) -> crate::session::Session {
        let out = crate::report::Out::new(std::sync::Arc::new(crate::report::Silent), true);
        self.job_session(out, crate::session::Cancel::Flag(Arc::new(AtomicBool::new(false))))
    }
    /// The session of a job: its own report and cancel flag.
    pub fn job_session(&self, out: crate::report::Out, cancel: crate::session::Cancel) -> crate::session::Session {
        self.parts().session(out, cancel)
    }
    /// What a job's thread takes along to make its session.
    pub fn parts(&self) -> Parts {
        Parts { criu_bin: self.criu_bin.clone(), store: self.store.clone(), keys: self.keys.clone() }
    }
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// A session's makings, for a job's thread.
#[derive(Clone)]
pub struct Parts {
    criu_bin: std::path::PathBuf,
    store: crate::store::Store,
    keys: crate::model::trust::KeyDir,
}

impl Parts {
    pub fn session(self, out: crate::report::Out, cancel: crate::session::Cancel) -> crate::session::Session {
        crate::session::Session::new(self.criu_bin, self.store, self.keys, out, cancel)
    }
}

/// A socket reader with a deadline (for a head) or a per-read idle limit
/// (for a body).
struct Timed {
    s: TcpStream,
    deadline: Option<Instant>,
    idle: Duration,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wait = match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => self.idle,
        };
        if wait.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        self.s.set_read_timeout(Some(wait))?;
        self.s.read(buf)
    }
}

/// Exactly `left` bytes of a request body: an end before that is an error
/// (a client that went away mid-upload), never a short, valid-looking body.
struct Body<'a, R: Read> {
    r: &'a mut R,
    left: u64,
}

impl<R: Read> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.r.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the client closed the connection mid-body"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A download's writer that gives up when the server stops.
struct Stoppable<'a, W: Write> {
    w: W,
    app: &'a App,
}

impl<W: Write> Write for Stoppable<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.app.stopping() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the server is stopping"));
        }
        self.w.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

fn log(peer: &SocketAddr, method: &str, path: &str, status: u16, t0: Instant, bytes: u64) {
    // The path only: a login's token is in the query, which is never logged.
    let path: String = path.chars().take(200).filter(|c| !c.is_control()).collect();
    let method: String = method.chars().take(16).collect();
    eprintln!(
        "docker-cr serve: {peer} {method} {path} {status} {:.1} ms {bytes} B",
        t0.elapsed().as_secs_f64() * 1000.0
    );
}

fn write_json(w: &mut impl Write, status: u16, body: &[u8], extra: &[(&str, String)], close: bool) -> io::Result<u64> {
    let mut h: Vec<(&str, String)> = vec![("Content-Type", "application/json".into())];
    h.extend(extra.iter().cloned());
    http::write_head(w, status, &h, Some(body.len() as u64), false, close)?;
    w.write_all(body)?;
    w.flush()?;
    Ok(body.len() as u64)
}

/// Writes a reply; returns (bytes of body, whether the connection may stay).
fn send(app: &App, stream: &TcpStream, reply: Reply<'_>, close: bool) -> (io::Result<u64>, bool) {
    let mut w = io::BufWriter::with_capacity(64 << 10, stream);
    match reply {
        Reply::Json(s, v) => {
            let b = serde_json::to_vec(&v).unwrap_or_default();
            let extra: Vec<(&str, String)> = match v.get("allow").and_then(|a| a.as_str()) {
                Some(a) if s == 405 => vec![("Allow", a.to_string())],
                _ => vec![],
            };
            (write_json(&mut w, s, &b, &extra, close), !close)
        }
        Reply::Encoded(s, b) => (write_json(&mut w, s, &b, &[], close), !close),
        Reply::Page { status, content_type, body } => {
            let r = http::write_head(
                &mut w,
                status,
                &[("Content-Type", content_type.into())],
                Some(body.len() as u64),
                false,
                close,
            )
            .and_then(|()| w.write_all(&body))
            .and_then(|()| w.flush())
            .map(|()| body.len() as u64);
            (r, !close)
        }
        Reply::Redirect { location, cookie } => {
            let h = [("Location", location.to_string()), ("Set-Cookie", cookie)];
            (http::write_head(&mut w, 303, &h, Some(0), false, close).and_then(|()| w.flush()).map(|()| 0), !close)
        }
        Reply::Stream { content_type, filename, write } => {
            let h = [
                ("Content-Type", content_type.to_string()),
                ("Content-Disposition", format!("attachment; filename=\"{filename}\"")),
            ];
            if let Err(e) = http::write_head(&mut w, 200, &h, None, true, close) {
                return (Err(e), false);
            }
            let mut c = http::Chunked::new(Stoppable { w: &mut w, app });
            match write(&mut c) {
                Ok(()) => {
                    let n = c.bytes;
                    (c.finish().map(|_| n), !close)
                }
                Err(e) => {
                    // The client sees a chunked body without its end: a
                    // failed download, never a short archive.
                    eprintln!("docker-cr serve: download cut: {e}");
                    (Ok(c.bytes), false)
                }
            }
        }
        Reply::Events => {
            let h = [("Content-Type", "text/event-stream".to_string())];
            let mut list = app.events.lock().unwrap_or_else(|p| p.into_inner());
            if list.len() >= app.cfg.max_events {
                drop(list);
                let b = serde_json::to_vec(&api::error_json(503, "too many event streams are open", ""))
                    .unwrap_or_default();
                return (write_json(&mut w, 503, &b, &[], true), false);
            }
            let hello = http::sse_event("hello", "{}");
            let r = http::write_head(&mut w, 200, &h, None, false, true)
                .and_then(|()| w.write_all(format!("retry: 3000\n\n{hello}").as_bytes()))
                .and_then(|()| w.flush());
            drop(w);
            if r.is_ok() {
                if let Ok(s) = stream.try_clone() {
                    if s.set_nonblocking(true).is_ok() {
                        list.push(s);
                    }
                }
            }
            (r.map(|()| 0), false)
        }
    }
}

/// Serves the requests of a connection whose head has arrived; returns it
/// for the gate to wait on when it stays open.
fn serve_conn(app: &App, mut conn: gate::Conn) -> Option<gate::Conn> {
    let _ = conn.s.set_write_timeout(Some(app.cfg.write_timeout));
    let rs = conn.s.try_clone().ok()?;
    let prefix = std::mem::take(&mut conn.buf);
    let timed = Timed { s: rs, deadline: None, idle: app.cfg.body_timeout };
    let mut r = BufReader::with_capacity(16 << 10, io::Cursor::new(prefix).chain(timed));
    loop {
        r.get_mut().get_mut().1.deadline = Some(Instant::now() + app.cfg.head_timeout);
        let t0 = Instant::now();
        let req = match http::read_head(&mut r, &app.cfg.limits) {
            Ok(req) => req,
            Err(e) => {
                let s = e.status();
                if s != 0 {
                    let msg = match &e {
                        http::HeadError::Status(_, m) => m,
                        _ => "the request head did not arrive in time",
                    };
                    let b = serde_json::to_vec(&api::error_json(s, msg, "")).unwrap_or_default();
                    let _ = write_json(&mut &conn.s, s, &b, &[], true);
                    log(&conn.peer, "-", "-", s, t0, b.len() as u64);
                }
                return None;
            }
        };
        r.get_mut().get_mut().1.deadline = None;
        let length = req.content_length.unwrap_or(0);
        let mut body = Body { r: &mut r, left: length };
        let reply = api::handle(app, &req, &mut body);
        let unread = body.left;
        let status = reply.status();
        let close = unread > 0 || app.stopping() || !req.keep_alive();
        let (sent, keep) = send(app, &conn.s, reply, close);
        log(&conn.peer, &req.method, &req.path, status, t0, *sent.as_ref().unwrap_or(&0));
        if sent.is_err() || !keep {
            return None;
        }
        // What was read past this request goes back with the connection.
        let mut rest = r.buffer().to_vec();
        let cursor = &r.get_ref().get_ref().0;
        rest.extend_from_slice(&cursor.get_ref()[(cursor.position() as usize).min(cursor.get_ref().len())..]);
        if gate::head_end(&rest).is_some() && app.queued.load(Ordering::Relaxed) == 0 {
            // Pipelined, and nobody waits: serve it here.
            let timed = Timed { s: conn.s.try_clone().ok()?, deadline: None, idle: app.cfg.body_timeout };
            r = BufReader::with_capacity(16 << 10, io::Cursor::new(rest).chain(timed));
            continue;
        }
        conn.buf = rest;
        conn.again = true;
        return Some(conn);
    }
}

fn worker(
    app: Arc<App>,
    rx: Arc<Mutex<mpsc::Receiver<gate::Conn>>>,
    back: mpsc::Sender<gate::Conn>,
    wake: std::os::unix::net::UnixStream,
) {
    loop {
        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(c) = next else { return };
        app.queued.fetch_sub(1, Ordering::Relaxed);
        if let Some(c) = serve_conn(&app, c) {
            if !app.stopping() && back.send(c).is_ok() {
                let _ = (&wake).write(&[1]);
            }
        }
    }
}

/// What the event streams watch: the store's entries and the engine's
/// containers (names and states), cheaply fingerprinted.
fn fingerprints(app: &App) -> (u64, u64) {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let root = &app.store.root;
    for c in std::fs::read_dir(root).into_iter().flatten().flatten() {
        c.file_name().hash(&mut h);
        let mut names: Vec<_> =
            std::fs::read_dir(c.path()).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
        names.sort();
        names.hash(&mut h);
    }
    let store = h.finish();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Ok(en) = crate::engine::docker::socket().and_then(|s| crate::engine::docker::Engine::connect(&s)) {
        if let Ok(all) = en.all() {
            for c in all {
                c["Id"].as_str().hash(&mut h);
                c["State"].as_str().hash(&mut h);
                c["Names"].to_string().hash(&mut h);
            }
        }
    }
    (store, h.finish())
}

/// Writes `text` to every event stream; drops those that cannot take it.
fn broadcast(app: &App, text: &str) {
    let mut list = app.events.lock().unwrap_or_else(|p| p.into_inner());
    list.retain_mut(|s| matches!(s.write(text.as_bytes()), Ok(n) if n == text.len()));
}

fn events_loop(app: Arc<App>) {
    let mut last_jobs = u64::MAX;
    let (mut last_store, mut last_engine) = (0, 0);
    let mut tick = 0u64;
    while !app.stopping() {
        std::thread::sleep(Duration::from_millis(500));
        tick += 1;
        app.jobs.tick();
        let g = app.jobs.generation.load(Ordering::Relaxed);
        if g != last_jobs {
            last_jobs = g;
            let v = serde_json::to_string(&app.jobs.list()).unwrap_or_default();
            broadcast(&app, &http::sse_event("jobs", &v));
        }
        if tick.is_multiple_of(2) {
            let (s, e) = fingerprints(&app);
            if s != last_store {
                last_store = s;
                broadcast(&app, &http::sse_event("checkpoints", "{}"));
            }
            if e != last_engine {
                last_engine = e;
                broadcast(&app, &http::sse_event("containers", "{}"));
            }
        }
        if tick.is_multiple_of(30) {
            broadcast(&app, ": ping\n\n");
        }
    }
    broadcast(&app, &http::sse_event("bye", "{}"));
    app.events.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// Runs the server until SIGINT/SIGTERM/SIGHUP; everything it started has
/// finished or rolled back when it returns.
pub fn run(g: &Global, cfg: Config) -> Result<()> {
    crate::host::block_signals();
    crate::host::require_root()?;
    let warning = check_listen(&cfg)?;
    let listener = TcpListener::bind(cfg.listen).map_err(|e| {
        Error::host(
            format!("cannot listen on {}: {e}", cfg.listen),
            "choose another port with --listen 127.0.0.1:PORT (port 0: any free one)",
        )
    })?;
    let addr = listener.local_addr().at("ask the address of", std::path::Path::new("the listening socket"))?;
    listener.set_nonblocking(true).at("configure", std::path::Path::new("the listening socket"))?;
    let secrets =
        auth::Secrets::generate().map_err(|e| Error::host(format!("cannot make the token (getrandom): {e}"), ""))?;
    let origins = auth::Origins::new(addr, &cfg.allow_hosts, false);
    // The URL names loopback when it can, else the address, else (for
    // 0.0.0.0) the first name the operator allowed.
    let first = if addr.ip().is_unspecified() { origins.hosts.get(1) } else { origins.hosts.first() };
    let host = origins
        .hosts
        .iter()
        .find(|h| h.starts_with("127.0.0.1:") || h.starts_with("[::1]:"))
        .or(first)
        .map_or_else(|| addr.to_string(), String::clone);
    let url = format!("{}://{host}/?token={}", origins.scheme, secrets.token);
    if let Some(w) = warning {
        eprintln!("docker-cr serve: {w}");
    }
    if let Some(f) = &cfg.url_file {
        write_url_file(f, &url)?;
    }
    // Printed once, as Jupyter does; nothing logs it again.
    eprintln!(
        "docker-cr serve: listening on {addr}; open this address in a browser (it holds the secret token):\n    {url}"
    );
    let threads = cfg.threads.max(1);
    let max_conns = cfg.max_connections.max(threads);
    let app = Arc::new(App {
        criu_bin: g.criu.clone(),
        store: crate::store::Store::new(crate::store::root(
            g.store.as_deref(),
            std::env::var_os("DOCKER_CR_STORE").as_deref(),
        )),
        keys: crate::model::trust::KeyDir::from_env(),
        jobs: jobs::Jobs::new(cfg.max_jobs.max(1)),
        cfg,
        secrets,
        origins,
        cache: Arc::new(Cache::new()),
        stopping: AtomicBool::new(false),
        active: Arc::new(AtomicUsize::new(0)),
        queued: AtomicUsize::new(0),
        events: Mutex::new(Vec::new()),
    });
    let (tx, rx) = mpsc::sync_channel::<gate::Conn>(max_conns);
    let rx = Arc::new(Mutex::new(rx));
    let (back_tx, back_rx) = mpsc::channel::<gate::Conn>();
    let (wake_r, wake_w) = std::os::unix::net::UnixStream::pair()
        .map_err(|e| Error::host(format!("cannot make the workers' wake-up socket: {e}"), ""))?;
    for s in [&wake_r, &wake_w] {
        s.set_nonblocking(true).at("configure", std::path::Path::new("the wake-up socket"))?;
    }
    let mut workers = Vec::new();
    for i in 0..threads {
        let (a, r, b) = (Arc::clone(&app), Arc::clone(&rx), back_tx.clone());
        let w = wake_w.try_clone().at("configure", std::path::Path::new("the wake-up socket"))?;
        let t = std::thread::Builder::new().name(format!("http-{i}")).spawn(move || worker(a, r, b, w));
        workers.push(t.map_err(|e| Error::host(format!("cannot start a worker thread: {e}"), ""))?);
    }
    drop(back_tx);
    let ev = {
        let a = Arc::clone(&app);
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || events_loop(a))
            .map_err(|e| Error::host(format!("cannot start the events thread: {e}"), ""))?
    };
    gate::run(&app, &listener, &tx, &back_rx, &wake_r, max_conns);
    let running = app.jobs.running();
    // Every running operation rolls back at its next step, as the CLI's
    // do on Ctrl-C.
    app.jobs.cancel_all();
    eprintln!(
        "docker-cr serve: stopping: no new connections; waiting for {running} running operation(s), which roll back if they are mid-way"
    );
    app.stopping.store(true, Ordering::Relaxed);
    drop(listener);
    drop(tx);
    let _ = ev.join();
    app.jobs.join_all();
    for w in workers {
        let _ = w.join();
    }
    eprintln!("docker-cr serve: stopped");
    Ok(())
}

/// Writes `--url-file` whole before it appears: a script waiting for the
/// file must never read it half-written (a test did, once). Written 0600
/// beside it, then renamed over it (a symlink there is replaced, not
/// followed).
fn write_url_file(f: &std::path::Path, url: &str) -> Result<()> {
    let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = f.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    crate::host::criu::write_private(&tmp, &format!("{url}\n"))?;
    std::fs::rename(&tmp, f).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::host(format!("cannot write {}: {e}", f.display()), "name a writable --url-file")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_file_appears_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dcr-url-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let f = dir.join("url");
        std::fs::write(&f, "old\n").unwrap();
        write_url_file(&f, "http://127.0.0.1:1/?token=t").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "http://127.0.0.1:1/?token=t\n");
        assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loopback_only_unless_asked() {
        let mut c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7380");
        assert_eq!(check_listen(&c).unwrap(), None);
        c.listen = "[::1]:1".parse().unwrap();
        assert_eq!(check_listen(&c).unwrap(), None);
        c.listen = "0.0.0.0:7380".parse().unwrap();
        let e = check_listen(&c).unwrap_err();
        assert!(e.to_string().contains("--allow-remote") && e.exit_code() == 2, "{e}");
        c.allow_remote = true;
        assert!(
            check_listen(&c).unwrap_err().to_string().contains("--allow-host myhost:7380"),
            "0.0.0.0 answers to no name"
        );
        c.allow_hosts = vec!["myhost".into()];
        assert!(check_listen(&c).unwrap().unwrap().contains("plain HTTP"));
        c.listen = "192.0.2.1:7380".parse().unwrap();
        c.allow_hosts.clear();
        assert!(check_listen(&c).unwrap().unwrap().contains("plain HTTP"));
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        let mut src: &[u8] = b"abc";
        let mut b = Body { r: &mut src, left: 5 };
        let mut out = Vec::new();
        assert_eq!(b.read_to_end(&mut out).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let mut src: &[u8] = b"abcdef";
        let mut b = Body { r: &mut src, left: 4 };
        let mut out = Vec::new();
        b.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abcd");
    }

    #[test]
    fn the_cache_answers_once_per_ttl() {
        let c = Cache::new();
        let mut n = 0;
        for _ in 0..5 {
            let (s, b) = c.get(C_CHECKPOINTS, || {
                n += 1;
                (200, b"[]".to_vec())
            });
            assert_eq!((s, b.as_slice()), (200, &b"[]"[..]));
        }
        assert_eq!(n, 1);
        c.invalidate();
        c.get(C_CHECKPOINTS, || {
            n += 1;
            (200, vec![])
        });
        assert_eq!(n, 2);
    }
}
