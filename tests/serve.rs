//! `docker-cr serve` (issue 21) against the real engine: its refusals over
//! raw HTTP (no token, a foreign Origin or Host, a GET of a change, no CSRF
//! token, bad input, a cut upload), and the page in a real headless
//! Chromium (tests/serve-browser.py through Debian's chromium-driver and
//! python3-selenium): the containers, a checkpoint made with the CLI in the
//! list with its size, its details (process tree), two checkpoints
//! compared, a checkpoint from the page, a restore as a clone on a new port
//! (it answers with the original's in-memory token), an upload of an
//! archive the CLI made, a delete; the download restored with
//! `restore --import`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

fn cr(store: &Path, args: &[&str]) -> Output {
    Command::new(bin()).args(args).env("DOCKER_CR_STORE", store).stdin(Stdio::null()).bounded()
}

/// A running `docker-cr serve` on a free loopback port, stopped with
/// SIGTERM when dropped.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub port: u16,
    token: String,
    log: PathBuf,
}

impl Server {
    pub fn start(store: &Path, extra: &[&str]) -> Server {
        let dir = temp_dir("serve");
        let (url_file, log) = (dir.join("url"), dir.join("serve.log"));
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--url-file", url_file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let child = Command::new(bin())
            .args(&args)
            .env("DOCKER_CR_STORE", store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start docker-cr serve");
        let mut s = Server { child: Some(child), url: String::new(), port: 0, token: String::new(), log };
        // The URL file appears once the socket listens.
        let t0 = Instant::now();
        while !url_file.exists() {
            if let Some(st) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("docker-cr serve ended ({st}):\n{}", s.log_text());
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "docker-cr serve did not start:\n{}", s.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        s.url = std::fs::read_to_string(&url_file).unwrap().trim().to_string();
        let (base, token) = s.url.split_once("/?token=").expect("a URL with ?token=");
        s.token = token.to_string();
        s.port = base.rsplit(':').next().unwrap().parse().unwrap();
        assert!(s.log_text().contains(&s.url), "the URL is printed:\n{}", s.log_text());
        s
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// One request on its own connection: (status, head, body).
    pub fn raw(&self, request: &str) -> (u16, String, Vec<u8>) {
        raw(self.port, request.as_bytes())
    }
    pub fn get(&self, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
        self.raw(&format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{headers}Connection: close\r\n\r\n", self.port))
    }
    pub fn bearer(&self) -> String {
        format!("Authorization: Bearer {}\r\n", self.token)
    }
    /// A JSON POST with the token, as an API client sends it.
    pub fn post(&self, path: &str, body: &str) -> (u16, String, Vec<u8>) {
        self.raw(&format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            self.bearer(),
            body.len()
        ))
    }
    pub fn json(&self, path: &str) -> Value {
        let (st, _, body) = self.get(path, &self.bearer());
        assert_eq!(st, 200, "{path}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
    /// SIGTERM, and what it said until it stopped.
    pub fn stop(&mut self) -> (std::process::ExitStatus, String) {
        let mut c = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let st = c.wait().unwrap();
        (st, self.log_text())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

fn raw(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to docker-cr serve");
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head, out[split + 4..].to_vec())
}

/// The chunked body of a response, decoded.
fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap(), 16).unwrap();
        b = &b[eol + 2..];
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[..n]);
        b = &b[n + 2..];
    }
}

/// Everything that must be refused is, with the right status, over plain
/// HTTP; a cut upload leaves nothing in the store; the token is printed
/// once and never logged again; SIGTERM stops it cleanly.
#[test]
fn serve_refuses_what_it_must() {
    require_engine();
    let store = temp_dir("serve-refuse").join("s");
    let c = Counter::start("sv-r", &[], 5);
    ok(cr(&store, &["checkpoint", &c.name, "one"]));
    let mut srv = Server::start(&store, &["--max-upload", "1M"]);
    let p = srv.port;
    let me = format!("Host: 127.0.0.1:{p}\r\n");
    let one = format!("/api/checkpoints/{}/one", c.name);

    // No token, a wrong one, the token as a cookie.
    assert_eq!(srv.get("/api/checkpoints", "").0, 401);
    assert_eq!(srv.get("/api/checkpoints", "Authorization: Bearer 00\r\n").0, 401);
    assert_eq!(srv.get("/api/checkpoints", &format!("Cookie: dcr_session_{p}={}\r\n", srv.token)).0, 401);
    assert_eq!(srv.get("/", "").0, 401, "the page wants the login");
    assert_eq!(srv.get("/ui/app.js", "").0, 401);
    // A foreign Origin, or a Host of another name (DNS rebinding), even with the token.
    let b = srv.bearer();
    assert_eq!(srv.get("/api/checkpoints", &format!("{b}Origin: http://evil.example\r\n")).0, 403);
    assert_eq!(srv.get("/api/checkpoints", &format!("{b}Origin: null\r\n")).0, 403);
    let rebound = format!("GET /api/checkpoints HTTP/1.1\r\nHost: evil.example:{p}\r\n{b}Connection: close\r\n\r\n");
    assert_eq!(srv.raw(&rebound).0, 403);
    assert_eq!(srv.get(&format!("/?token={}", srv.token), "Origin: http://evil.example\r\n").0, 403);
    // A GET that would change state: 405, and nothing changed.
    let (st, head, _) = srv.get(&format!("{one}/delete"), &b);
    assert_eq!(st, 405);
    assert!(head.contains("Allow: POST"), "{head}");
    assert!(store.join(&c.name).join("one").is_dir());

    // The login: a redirect that sets an HttpOnly, SameSite=Strict cookie.
    let (st, head, _) = srv.get(&format!("/?token={}", srv.token), "");
    assert_eq!(st, 303, "{head}");
    let cookie = head.lines().find_map(|l| l.strip_prefix("Set-Cookie: ")).expect("a cookie").to_string();
    assert!(cookie.ends_with("; Path=/; HttpOnly; SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(&srv.token), "the cookie is not the token");
    let session = cookie.split(';').next().unwrap().to_string();
    let (st, head, page) = srv.get("/", &format!("Cookie: {session}\r\n"));
    assert_eq!(st, 200);
    assert!(head.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"), "{head}");
    let page = String::from_utf8_lossy(&page).to_string();
    assert!(!page.contains("<script>") && page.contains("<script src=\"/ui/app.js\""), "no inline script");
    let csrf = page.split("name=\"csrf\" content=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    // A state change with the cookie but without the CSRF token, or from another site.
    let post = |headers: &str, body: &str| {
        srv.raw(&format!(
            "POST {one}/delete HTTP/1.1\r\n{me}Cookie: {session}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    assert_eq!(post("", "{}").0, 403);
    assert_eq!(post("X-CSRF-Token: 00\r\n", "{}").0, 403);
    assert_eq!(post(&format!("X-CSRF-Token: {csrf}\r\nSec-Fetch-Site: cross-site\r\n"), "{}").0, 403);
    assert!(store.join(&c.name).join("one").is_dir(), "nothing was deleted");

    // Bad input: clear errors, and the server keeps serving.
    let prune = |ct: &str, body: &str| {
        srv.raw(&format!(
            "POST /api/prune HTTP/1.1\r\n{me}{b}Content-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    };
    assert_eq!(prune("application/json", "{\"keep\":").0, 400, "malformed JSON");
    assert_eq!(prune("application/json", "[1]").0, 400);
    assert_eq!(prune("text/plain", "{}").0, 415);
    assert_eq!(prune("application/json", "{}").0, 400, "prune needs keep or older_than");
    assert_eq!(srv.get("/api/nothing", &b).0, 404);
    assert_eq!(srv.get(&format!("/api/checkpoints/{}/..%2f..%2fetc", c.name), &b).0, 404);
    assert_eq!(srv.get("/api/checkpoints/x/nope", &b).0, 404);
    let big = format!("X-Big: {}\r\n", "a".repeat(10_000));
    assert_eq!(srv.get("/api/checkpoints", &big).0, 431);
    let te = format!("POST /api/prune HTTP/1.1\r\n{me}{b}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(srv.raw(&te).0, 501);
    assert_eq!(raw(p, b"BREW /pot HTTP/1.1\r\n\r\n").0, 400);
    // A slow client holding a half-sent head does not hold up the others.
    let mut slow = TcpStream::connect(("127.0.0.1", p)).unwrap();
    slow.write_all(b"GET /api/checkpoints HTTP/1.1\r\nHost: 127.0").unwrap();
    let rows = srv.json("/api/checkpoints");
    assert_eq!(rows[0]["reference"], format!("{}/one", c.name));
    drop(slow);

    // Uploads: over the limit (refused before a byte is read), and cut.
    let over = format!("POST /api/upload HTTP/1.1\r\n{me}{b}Content-Length: {}\r\nConnection: close\r\n\r\n", 2 << 20);
    let (st, _, body) = srv.raw(&over);
    assert_eq!(st, 413, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("--max-upload"));
    let archive = temp_dir("serve-arch").join("a.tar.zst");
    ok(cr(&store, &["export", store.join(&c.name).join("one").to_str().unwrap(), archive.to_str().unwrap()]));
    let bytes = std::fs::read(&archive).unwrap();
    {
        let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
        let head = format!("POST /api/upload?name=cut HTTP/1.1\r\n{me}{b}Content-Length: {}\r\n\r\n", bytes.len());
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&bytes[..bytes.len() / 2]).unwrap();
        // Gone mid-upload.
    }
    // The server answers again once it has cleaned up after the cut upload.
    let t0 = Instant::now();
    loop {
        let leftovers: Vec<String> = std::fs::read_dir(&store)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".upload"))
            .collect();
        let logged = srv.log_text().contains("POST /api/upload 4");
        if leftovers.is_empty() && logged {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "a cut upload left {leftovers:?}:\n{}", srv.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let refs: Vec<String> = srv
        .json("/api/checkpoints")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reference"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(refs, vec![format!("{}/one", c.name)], "nothing of the cut upload is in the store");
    // The whole upload goes in, verified, with its provenance.
    let mut req = format!(
        "POST /api/upload?name=whole HTTP/1.1\r\n{me}{b}Content-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )
    .into_bytes();
    req.extend_from_slice(&bytes);
    let (st, _, body) = raw(p, &req);
    assert_eq!(st, 201, "{}", String::from_utf8_lossy(&body));
    let up: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(up["reference"], format!("{}/whole", c.name));
    assert!(up["row"]["signature"].as_str().unwrap().starts_with("signed by trusted key"), "{up}");

    // A client that goes away mid-download: the checkpoint is intact, its
    // shared hold is released (it can be deleted), the server serves on.
    // 24 MB of random bytes in the container's files: more than the socket
    // buffers hold, so the server is still writing when the client leaves.
    docker_ok(&["exec", &c.name, "sh", "-c", "head -c 24000000 /dev/urandom > /tmp/big"]);
    ok(cr(&store, &["checkpoint", &c.name, "big"]));
    {
        let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
        let get = format!("GET /api/checkpoints/{}/big/archive?compress=none HTTP/1.1\r\n{me}{b}\r\n", c.name);
        s.write_all(get.as_bytes()).unwrap();
        let mut first = [0u8; 65536];
        let n = s.read(&mut first).unwrap();
        assert!(first[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first[..n.min(200)]));
        // Closed with unread data: the kernel resets the connection.
    }
    let t0 = Instant::now();
    while !srv.log_text().contains("download cut") {
        assert!(t0.elapsed() < Duration::from_secs(60), "the cut download was not noticed:\n{}", srv.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(cr(&store, &["inspect", &format!("{}/big", c.name)]));
    let del = format!(
        "POST /api/checkpoints/{}/big/delete HTTP/1.1\r\n{me}{b}Content-Length: 0\r\nConnection: close\r\n\r\n",
        c.name
    );
    let (st, _, body) = srv.raw(&del);
    assert_eq!(st, 200, "the download's hold was released: {}", String::from_utf8_lossy(&body));
    assert!(!store.join(&c.name).join("big").exists());

    // The token was printed once, and no request line logged it.
    let (st, log) = srv.stop();
    assert!(st.success(), "SIGTERM stops it cleanly ({st}):\n{log}");
    assert!(log.contains("docker-cr serve: stopped"), "{log}");
    assert_eq!(log.matches(&srv.token).count(), 1, "the token is in the log once (the printed URL):\n{log}");
    assert!(log.contains("GET /api/checkpoints 401") && log.contains("POST /api/upload 201"), "{log}");
}

/// Issue 21: a Compose project's group checkpoint is one item of the
/// page's list, its members under it in restore order, with their states;
/// the API's row is `ls --format json`'s. Deleted from the page's API as one.
#[test]
fn serve_page_shows_a_group_as_one_item() {
    use crate::compose::Project;
    require_engine();
    assert!(Path::new("/usr/bin/chromium").exists(), "chromium is missing: run tests/setup-host");
    let p = Project::up("svg", "");
    let (redis, app) = (p.c("redis"), p.c("app"));
    let store = temp_dir("serve-group").join("s");
    ok(cr(&store, &["checkpoint", "--project", &p.name, "g1"]));
    let reference = format!("{}/g1", p.name);
    let srv = Server::start(&store, &[]);
    let api = srv.json("/api/checkpoints");
    let ls: Value = serde_json::from_slice(&ok(cr(&store, &["ls", "--format", "json"])).stdout).unwrap();
    let pick = |v: &Value| v.as_array().unwrap().iter().find(|r| r["reference"] == reference.as_str()).cloned();
    let (row, cli) = (pick(&api).expect("the group in the API's list"), pick(&ls).expect("the group in ls"));
    assert_eq!((row["kind"].as_str(), row["members"].as_array().map(Vec::len)), (Some("group"), Some(2)), "{row}");
    for k in ["reference", "kind", "size_bytes", "memory_pages", "restorable", "signature"] {
        assert_eq!(row[k], cli[k], "{k}: the page's row is ls's");
    }
    let o = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve-browser.py"))
        .args([&srv.url, "--list-only"])
        .stdin(Stdio::null())
        .bounded();
    assert!(o.status.success(), "the browser run failed:\n{}\nserver:\n{}", text(&o), srv.log_text());
    let r: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let rows = r["checkpoints"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one item for the group: {rows:?}");
    let g = &rows[0];
    assert_eq!((g["ref"].as_str(), g["kind"].as_str()), (Some(reference.as_str()), Some("group")), "{g}");
    assert_eq!(g["members"], serde_json::json!([redis, app]), "its members, redis first (restore order)");
    assert!(g["container"].as_str().unwrap().contains("group of 2: 2 running"), "{g}");
    assert!(g["restorable"].as_str().unwrap().contains("docker-cr restore --group"), "{g}");
    let console: Vec<&str> = r["console"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(console.is_empty(), "{console:?}");
    // Deleted as one.
    let (st, _, body) = srv.post(&format!("/api/checkpoints/{reference}/delete"), "{}");
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert!(!store.join(&p.name).join("g1").exists(), "the group is still in the store");
}

/// Issue 21: the event stream tells the page what changed without a
/// reload: a checkpoint the CLI adds to the store arrives as a
/// `checkpoints` event; an operation started from the API arrives as `jobs`
/// events whose list shows its steps and then its end (done, with the
/// checkpoint it made).
#[test]
fn serve_events_follow_the_store_and_an_operation() {
    use std::io::BufRead;
    require_engine();
    let store = temp_dir("serve-events").join("s");
    let c = Counter::start("sv-ev", &[], 5);
    let srv = Server::start(&store, &[]);
    let mut sse = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    // A hang guard, not a measure: events come every second or so.
    sse.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        sse,
        "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}Accept: text/event-stream\r\n\r\n",
        srv.port,
        srv.bearer()
    )
    .unwrap();
    let mut r = std::io::BufReader::new(sse);
    // Reads events until `want` says it has what it waits for; the events
    // read, as (name, data).
    let mut until = |want: &mut dyn FnMut(&str, &str) -> bool| -> Vec<(String, String)> {
        let (mut seen, mut event, mut line) = (Vec::new(), String::new(), String::new());
        loop {
            line.clear();
            let n = r.read_line(&mut line).unwrap_or_else(|e| panic!("the event stream: {e}; read so far: {seen:?}"));
            assert!(n > 0, "the event stream ended; read: {seen:?}");
            let l = line.trim_end();
            if let Some(e) = l.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = l.strip_prefix("data: ") {
                seen.push((event.clone(), d.to_string()));
                if want(&event, d) {
                    return seen;
                }
            }
        }
    };
    let head = until(&mut |e, _| e == "hello");
    assert_eq!(head.last().unwrap().0, "hello");
    ok(cr(&store, &["checkpoint", &c.name, "by-cli"]));
    until(&mut |e, _| e == "checkpoints");
    let body = format!("{{\"container\":\"{}\",\"name\":\"by-page\"}}", c.name);
    let (st, _, reply) = srv.post("/api/checkpoints", &body);
    assert_eq!(st, 202, "{}", String::from_utf8_lossy(&reply));
    let job = |d: &str| -> Option<Value> {
        let v: Value = serde_json::from_str(d).ok()?;
        v.as_array()?.iter().find(|j| j["what"].as_str().is_some_and(|w| w.contains("by-page"))).cloned()
    };
    let seen = until(&mut |e, d| e == "jobs" && job(d).is_some_and(|j| j["state"] != "running"));
    let last = job(&seen.last().unwrap().1).unwrap();
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["result"]["reference"], format!("{}/by-page", c.name), "{last}");
    assert!(!last["steps"].as_array().unwrap().is_empty(), "the job's steps: {last}");
    assert!(store.join(&c.name).join("by-page").is_dir());
    // The page's list then has it, the stream says so too.
    until(&mut |e, _| e == "checkpoints");
    let rows = srv.json("/api/checkpoints");
    assert!(rows.as_array().unwrap().iter().any(|r| r["reference"] == format!("{}/by-page", c.name)), "{rows}");
}

/// The page, in a real browser, against the real engine.
#[test]
fn serve_page_in_a_real_browser() {
    require_engine();
    assert!(Path::new("/usr/bin/chromium").exists(), "chromium is missing: run tests/setup-host");
    let store = temp_dir("serve-page").join("s");
    let c = Counter::start("sv-p", &[], 5);
    ok(cr(&store, &["checkpoint", &c.name, "one"]));
    let (_, n) = read_state(c.port);
    wait_count(c.port, n + 20);
    ok(cr(&store, &["checkpoint", &c.name, "two"]));
    let archive = temp_dir("serve-up").join("made-by-cli.tar.zst");
    ok(cr(&store, &["checkpoint", "--export", archive.to_str().unwrap(), &c.name]));
    let srv = Server::start(&store, &[]);
    let clone = unique("sv-clone");
    let _clone = Container(clone.clone());
    let clone_port = free_port();
    let (a, b) = (format!("{}/one", c.name), format!("{}/two", c.name));
    let o = Command::new("/usr/bin/python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve-browser.py"))
        .args([&srv.url, "--a", &a, "--b", &b])
        .args(["--checkpoint", &format!("{}:three", c.name)])
        .args(["--restore", &format!("{a}:{clone}:{clone_port}:80")])
        .args(["--upload", &format!("{}:uploaded", archive.display())])
        .args(["--delete", &format!("{}/three", c.name)])
        .stdin(Stdio::null())
        .output()
        .expect("run tests/serve-browser.py (python3-selenium: tests/setup-host)");
    assert!(o.status.success(), "the browser run failed:\n{}\nserver:\n{}", text(&o), srv.log_text());
    let r: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));

    // Logged in by the URL, which then left the address bar.
    assert_eq!(r["address_after_login"], format!("http://127.0.0.1:{}/", srv.port));
    assert_eq!(r["document_cookie"], "", "the session cookie is HttpOnly");
    // The list: both checkpoints of the CLI, with sizes and pages.
    let rows = r["checkpoints"].as_array().unwrap();
    let row = |x: &str| rows.iter().find(|w| w["ref"] == x).unwrap_or_else(|| panic!("{x} not listed: {rows:?}"));
    for x in [&a, &b] {
        assert!(row(x)["size"].as_str().unwrap().ends_with(" MiB"), "{:?}", row(x));
        assert!(row(x)["pages"].as_str().unwrap().parse::<u64>().unwrap() > 0);
        assert!(row(x)["restorable"].as_str().unwrap().contains("yes"), "{:?}", row(x));
    }
    let containers = r["containers"].as_array().unwrap();
    let mine = containers.iter().find(|x| x["name"] == c.name.as_str()).expect("the counter is listed");
    assert!(mine["checkpoint"].as_str().unwrap().contains("yes"), "{mine}");
    // Details: the process tree has the counter's shell and httpd.
    let tree: Vec<&str> = r["tree"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(tree[0].starts_with("1 sh"), "{tree:?}");
    assert!(tree.iter().any(|l| l.contains("httpd")), "{tree:?}");
    assert!(r["log_lines"].as_u64().unwrap() > 10, "the CRIU log is shown");
    // The plan before a restore: restore --dry-run's, in the page.
    let plan = r["restore_plan"].as_str().unwrap();
    // As itself over the running original it is refused (exit 4), in both.
    let cli = cr(&store, &["restore", "--dry-run", &c.name, "one"]);
    assert_eq!(cli.status.code(), Some(4), "{}", text(&cli));
    let cli_plan = text(&cli);
    assert!(plan.contains("refused") && plan.contains("never restores over a running container"), "{plan}");
    let first = cli_plan.lines().next().unwrap_or_default();
    assert!(!first.is_empty() && plan.contains(first), "the page's plan:\n{plan}\nthe CLI's:\n{cli_plan}");
    assert!(r["clone_plan"].as_str().unwrap().contains("plan-clone"), "{}", r["clone_plan"]);
    // The comparison: one line per aspect; the counter's memory moved on.
    let summary: Vec<&str> = r["diff_summary"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(summary.len(), 4, "{summary:?}");
    assert!(summary[0].starts_with("processes:") && summary[3].starts_with("sockets:"), "{summary:?}");
    assert!(summary[1].starts_with("memory:") && summary[1].contains("differ"), "{summary:?}");
    assert!(r["host_items"].as_u64().unwrap() >= 8);
    assert_eq!(r["narrow_thead_shown"], false, "on a narrow screen the tables are cards");
    // A checkpoint from the page, watched to the end.
    assert_eq!(r["checkpoint_job"]["state"], "done", "{}", r["checkpoint_job"]);
    assert!(
        r["checkpoint_job"]["text"].as_str().unwrap().contains("docker_cr_checkpoint_duration"),
        "final statistics shown"
    );
    // The clone answers with the original's in-memory token.
    assert_eq!(r["restore_job"]["state"], "done", "{}", r["restore_job"]);
    let (token, _) = read_state(clone_port);
    assert_eq!(token, c.token, "the clone has the counter's memory");
    // The CLI's archive, uploaded and verified; "three" deleted.
    assert!(r["upload"].as_str().unwrap().contains("signed by trusted key"), "{}", r["upload"]);
    let after = r["after_delete"].as_array().unwrap();
    assert!(after.iter().any(|x| x == format!("{}/uploaded", c.name).as_str()), "{after:?}");
    assert!(!after.iter().any(|x| x == format!("{}/three", c.name).as_str()), "{after:?}");
    assert!(!store.join(&c.name).join("three").exists());
    // No script error and no Content-Security-Policy violation.
    let console: Vec<&str> = r["console"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(console.is_empty(), "{console:?}");

    // The download, streamed, restores with the CLI.
    let (st, head, body) = srv.get(&format!("/api/checkpoints/{}/two/archive", c.name), &srv.bearer());
    assert_eq!(st, 200);
    assert!(head.contains("Transfer-Encoding: chunked") && head.contains(".tar.zst"), "{head}");
    let file = temp_dir("serve-dl").join("two.tar.zst");
    std::fs::write(&file, unchunk(&body)).unwrap();
    let clone2 = unique("sv-dl");
    let _clone2 = Container(clone2.clone());
    let port2 = free_port();
    let p2 = format!("{port2}:80");
    ok(cr(&store, &["restore", "--import", file.to_str().unwrap(), "--name", &clone2, "-p", &p2]));
    let (token, _) = read_state(port2);
    assert_eq!(token, c.token, "the downloaded archive restores with the counter's memory");
}

/// Prune from the page's API: the preview names what the CLI's `prune
/// --dry-run` names, and removes nothing; the prune then removes exactly
/// those, and the newest stays.
#[test]
fn serve_prune_previews_then_removes_what_the_cli_would() {
    require_engine();
    let store = temp_dir("serve-prune").join("s");
    let c = Counter::start("sv-p", &[], 5);
    for n in ["old1", "old2", "new"] {
        ok(cr(&store, &["checkpoint", &c.name, n]));
        // The store orders a container's checkpoints by their time (seconds).
        std::thread::sleep(Duration::from_millis(1100));
    }
    let cli = text(&ok(cr(&store, &["prune", "--dry-run", "--keep", "1", &c.name])));
    let srv = Server::start(&store, &[]);
    let plan = srv.json(&format!("/api/prune-plan?keep=1&container={}", c.name));
    let mut remove: Vec<String> =
        plan["remove"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().into()).collect();
    remove.sort();
    assert_eq!(remove, vec![format!("{}/old1", c.name), format!("{}/old2", c.name)], "{plan}");
    for r in &remove {
        assert!(cli.contains(r.as_str()), "the CLI's dry run does not name {r}:\n{cli}");
    }
    assert!(!cli.contains(&format!("{}/new", c.name)), "{cli}");
    for n in ["old1", "old2", "new"] {
        assert!(store.join(&c.name).join(n).is_dir(), "the preview removed {n}");
    }
    let body = format!("{{\"keep\":1,\"container\":\"{}\"}}", c.name);
    let (st, _, reply) = srv.post("/api/prune", &body);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&reply));
    let v: Value = serde_json::from_slice(&reply).unwrap();
    let mut removed: Vec<String> =
        v["removed"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().into()).collect();
    removed.sort();
    assert_eq!(removed, remove, "{v}");
    assert!(!store.join(&c.name).join("old1").exists() && !store.join(&c.name).join("old2").exists());
    assert!(store.join(&c.name).join("new").is_dir(), "the newest was removed");
    let rows = srv.json("/api/checkpoints");
    let refs: Vec<&str> = rows.as_array().unwrap().iter().filter_map(|r| r["reference"].as_str()).collect();
    assert_eq!(refs, vec![format!("{}/new", c.name).as_str()], "the list after the prune");
}

/// SIGTERM while a checkpoint started from the page has the container
/// frozen: the server stops accepting, the checkpoint rolls back as the
/// CLI's does (thawed, no partial directory, nothing in the store), and the
/// server exits cleanly after it.
#[test]
fn serve_sigterm_rolls_back_a_running_checkpoint() {
    require_engine();
    let store = temp_dir("serve-term").join("s");
    let name = unique("sv-term");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 256);
    let mut srv = Server::start(&store, &[]);
    let body = format!("{{\"container\":\"{name}\",\"name\":\"cut\"}}");
    let (st, _, reply) = srv.post("/api/checkpoints", &body);
    assert_eq!(st, 202, "{}", String::from_utf8_lossy(&reply));
    // A second operation on the same container is refused meanwhile.
    let (st, _, reply) = srv.post("/api/checkpoints", &body);
    assert_eq!(st, 409, "{}", String::from_utf8_lossy(&reply));
    let t0 = Instant::now();
    while !srv.log_text().contains("froze") {
        assert!(t0.elapsed() < Duration::from_secs(60), "the checkpoint did not freeze:\n{}", srv.log_text());
        std::thread::sleep(Duration::from_millis(5));
    }
    let (st, log) = srv.stop();
    assert!(st.success(), "{st}:\n{log}");
    assert!(log.contains("waiting for 1 running operation"), "{log}");
    assert!(log.contains("docker-cr serve: stopped"), "{log}");
    let cdir = store.join(&name);
    let left: Vec<String> = std::fs::read_dir(&cdir)
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    // As the CLI's: no checkpoint and no partial directory; CRIU's log is
    // kept in cut.failed.
    assert!(left.iter().all(|n| n == "cut.failed"), "the interrupted checkpoint left {left:?}:\n{log}");
    assert_eq!(inspect(&name, "{{.State.Running}} {{.State.Paused}}"), "true false");
    wait_redis(port);
    assert_eq!(redis(port, &["DBSIZE"]), Some(":256".to_string()), "redis serves on, thawed");
}

/// Cancel, from the API, while the container is frozen: the checkpoint
/// rolls back (exit status 130 in the job, as the CLI's on Ctrl-C), the
/// container serves on, the store has no checkpoint; the server serves on.
#[test]
fn serve_cancel_rolls_back_a_running_checkpoint() {
    require_engine();
    let store = temp_dir("serve-cancel").join("s");
    let name = unique("sv-cancel");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 256);
    let srv = Server::start(&store, &[]);
    let post = |path: &str, body: &str| srv.post(path, body);
    let (st, _, reply) = post("/api/checkpoints", &format!("{{\"container\":\"{name}\",\"name\":\"cut\"}}"));
    assert_eq!(st, 202, "{}", String::from_utf8_lossy(&reply));
    let id = serde_json::from_slice::<Value>(&reply).unwrap()["job"].as_u64().unwrap();
    let t0 = Instant::now();
    while !srv.log_text().contains(&format!("job {id}: froze")) {
        assert!(t0.elapsed() < Duration::from_secs(60), "the checkpoint did not freeze:\n{}", srv.log_text());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(post(&format!("/api/jobs/{id}/cancel"), "{}").0, 202);
    let job = loop {
        let j = srv.json(&format!("/api/jobs/{id}"));
        if j["state"] != "running" {
            break j;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "the cancelled job goes on: {j}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!((job["state"].as_str(), job["cancelled"].as_bool()), (Some("failed"), Some(true)), "{job}");
    assert_eq!(job["failure"]["exit_code"], 130, "{job}");
    assert!(job["steps"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().starts_with("froze")), "{job}");
    assert!(!store.join(&name).join("cut").exists() && !store.join(&name).join(".cut.partial").exists());
    assert_eq!(inspect(&name, "{{.State.Running}} {{.State.Paused}}"), "true false");
    wait_redis(port);
    assert_eq!(redis(port, &["DBSIZE"]), Some(":256".to_string()), "redis serves on, thawed");
    assert_eq!(post(&format!("/api/jobs/{id}/cancel"), "{}").0, 409, "it is over");
    let rows = srv.json("/api/checkpoints");
    assert!(rows.as_array().unwrap().iter().all(|r| r["name"] != "cut"), "{rows}");
}
