//! A minimal HTTP/1.1 client for the Docker Engine API on a unix socket: one
//! request per connection (`Connection: close`), JSON bodies, and a response
//! reader that understands Content-Length, chunked encoding and read-to-close.
//! Written by hand because a run makes a handful of requests and the unix
//! socket route through ureq rests on its non-semver transport API.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Largest response body we accept: inspect data is a few KiB, and an engine
/// that sends more is broken or not an engine.
const MAX_BODY: u64 = 64 << 20;
const MAX_HEADER_LINE: usize = 16 << 10;

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Whether an engine socket served by a process of user `peer` may be
/// believed by docker-cr running as `euid`: root's, or our own. Anything
/// else is another user's program posing as the engine (a DOCKER_HOST or a
/// docker CLI context in a config directory that user controls, kept by
/// sudo), whose answers (merged dirs, data roots, pids) root would act on.
/// Pure.
pub fn peer_allowed(peer: u32, euid: u32) -> bool {
    peer == 0 || peer == euid
}

/// Connects to the engine's socket and checks who serves it (SO_PEERCRED,
/// unix(7)): the credentials of the process that listens, taken by the
/// kernel, whatever the path's owner or a link on the way says.
pub fn connect(socket: &Path) -> io::Result<UnixStream> {
    use std::os::fd::AsRawFd;
    let stream = UnixStream::connect(socket)?;
    let mut cred = libc::ucred { pid: 0, uid: u32::MAX, gid: u32::MAX };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if !peer_allowed(cred.uid, euid) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is served by a process of uid {} (pid {}), not by root: not a Docker engine docker-cr will believe",
                socket.display(),
                cred.uid,
                cred.pid
            ),
        ));
    }
    Ok(stream)
}

/// Sends one request over a new connection to `socket` and reads the reply.
/// `timeout` bounds the whole exchange, not each read: an engine that
/// trickles a byte now and then must not hold us forever.
pub fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Response> {
    let stream = connect(socket)?;
    let deadline = Instant::now() + timeout;
    stream.set_write_timeout(Some(timeout))?;
    let mut w = io::BufWriter::new(&stream);
    write_request(&mut w, method, path, body)?;
    w.flush()?;
    drop(w);
    read_response(BufReader::new(Deadline { stream: &stream, deadline }), method == "HEAD")
}

/// A socket reader that fails once `deadline` has passed. A socket's read
/// timeout (SO_RCVTIMEO) bounds one read only, so before each read it is set
/// to the time that is left.
struct Deadline<'a> {
    stream: &'a UnixStream,
    deadline: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // set_read_timeout refuses a zero duration: none left is a timeout.
        let left =
            self.deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()).ok_or_else(timed_out)?;
        self.stream.set_read_timeout(Some(left))?;
        // The kernel reports an expired SO_RCVTIMEO as EAGAIN.
        self.stream.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => timed_out(),
            _ => e,
        })
    }
}

pub fn write_request(w: &mut impl Write, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<()> {
    write!(
        w,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: docker-cr/{}\r\nConnection: close\r\n",
        env!("CARGO_PKG_VERSION")
    )?;
    match body {
        Some(b) => {
            write!(w, "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", b.len())?;
            w.write_all(b)
        }
        None => w.write_all(b"\r\n"),
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the engine did not answer in time")
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_HEADER_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the response ended"));
    }
    if buf.len() > MAX_HEADER_LINE {
        return Err(bad("response line too long"));
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the middle of a line"));
    }
    while matches!(buf.last(), Some(b'\n') | Some(b'\r')) {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| bad("response header is not UTF-8"))
}

/// `GET path`, the body of a 200 answer streamed into `out` (an image
/// tar: no size limit but the deadline); any other answer is returned
/// whole, as `request` does.
pub fn get_into(socket: &Path, path: &str, out: &mut impl Write, timeout: Duration) -> io::Result<Response> {
    let stream = connect(socket)?;
    let deadline = Instant::now() + timeout;
    stream.set_write_timeout(Some(timeout))?;
    let mut w = io::BufWriter::new(&stream);
    write_request(&mut w, "GET", path, None)?;
    w.flush()?;
    drop(w);
    let mut r = BufReader::with_capacity(1 << 20, Deadline { stream: &stream, deadline });
    let (status, headers) = read_head(&mut r)?;
    let resp = Response { status, headers, body: Vec::new() };
    if status != 200 {
        return read_body(r, resp, false);
    }
    if resp.header("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let line = read_line(&mut r)?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_hex, 16)
                .map_err(|_| bad(format!("bad chunk size {:?}", truncate(&line, 20))))?;
            if size == 0 {
                while !read_line(&mut r)?.is_empty() {}
                break;
            }
            if io::copy(&mut (&mut r).take(size), out)? != size {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the middle of a chunk"));
            }
            if !read_line(&mut r)?.is_empty() {
                return Err(bad("chunk not followed by CRLF"));
            }
        }
    } else if let Some(len) = resp.header("Content-Length") {
        let len: u64 = len.parse().map_err(|_| bad(format!("bad Content-Length {len:?}")))?;
        if io::copy(&mut (&mut r).take(len), out)? != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the middle of the body"));
        }
    } else {
        io::copy(&mut r, out)?;
    }
    Ok(resp)
}

/// `POST path` with `body` streamed as the request body (chunked: its size
/// need not be known), then the answer read as `request` does.
pub fn post_from(
    socket: &Path,
    path: &str,
    content_type: &str,
    body: &mut impl Read,
    timeout: Duration,
) -> io::Result<Response> {
    let stream = connect(socket)?;
    let deadline = Instant::now() + timeout;
    stream.set_write_timeout(Some(timeout))?;
    let mut w = io::BufWriter::with_capacity(1 << 20, &stream);
    write!(
        w,
        "POST {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: docker-cr/{}\r\nConnection: close\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        write!(w, "{n:x}\r\n")?;
        w.write_all(&buf[..n])?;
        w.write_all(b"\r\n")?;
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()?;
    drop(w);
    read_response(BufReader::new(Deadline { stream: &stream, deadline }), false)
}

/// The status line and headers of a response.
fn read_head(r: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let status_line = read_line(r)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("not an HTTP response: {:?}", truncate(&status_line, 60))));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| bad(format!("bad status line: {:?}", truncate(&status_line, 60))))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').ok_or_else(|| bad(format!("bad header line: {:?}", truncate(&line, 60))))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
        if headers.len() > 200 {
            return Err(bad("too many response headers"));
        }
    }
    Ok((status, headers))
}

/// Parses a whole response. `head` says the request was HEAD (no body).
pub fn read_response(mut r: impl BufRead, head: bool) -> io::Result<Response> {
    let (status, headers) = read_head(&mut r)?;
    read_body(r, Response { status, headers, body: Vec::new() }, head)
}

fn read_body(mut r: impl BufRead, mut resp: Response, head: bool) -> io::Result<Response> {
    let status = resp.status;

    if head || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(resp);
    }
    let chunked = resp.header("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        resp.body = read_chunked(&mut r)?;
    } else if let Some(len) = resp.header("Content-Length") {
        let len: u64 = len.parse().map_err(|_| bad(format!("bad Content-Length {len:?}")))?;
        if len > MAX_BODY {
            return Err(bad(format!("response body of {len} bytes is too large")));
        }
        let mut body = Vec::with_capacity(len as usize);
        r.take(len).read_to_end(&mut body)?;
        if body.len() as u64 != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the middle of the response body",
            ));
        }
        resp.body = body;
    } else {
        r.take(MAX_BODY + 1).read_to_end(&mut resp.body)?;
        if resp.body.len() as u64 > MAX_BODY {
            return Err(bad("response body too large"));
        }
    }
    Ok(resp)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r)?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size =
            u64::from_str_radix(size_hex, 16).map_err(|_| bad(format!("bad chunk size {:?}", truncate(&line, 20))))?;
        if size == 0 {
            // Trailers, then the empty line.
            while !read_line(r)?.is_empty() {}
            return Ok(body);
        }
        // The size is anything up to u64::MAX: checked, so that a huge one
        // is refused rather than wrapping past the limit.
        if (body.len() as u64).checked_add(size).is_none_or(|total| total > MAX_BODY) {
            return Err(bad(format!("chunk of {size} bytes makes the response body too large")));
        }
        let before = body.len();
        r.take(size).read_to_end(&mut body)?;
        if (body.len() - before) as u64 != size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed in the middle of a chunk"));
        }
        if !read_line(r)?.is_empty() {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket served by another user's process is refused, whoever owns
    /// the path: the child listens as nobody (uid 65534).
    #[test]
    fn an_engine_socket_of_another_user_is_refused() {
        assert!(peer_allowed(0, 0) && peer_allowed(1000, 1000) && peer_allowed(0, 1000));
        assert!(!peer_allowed(65534, 0));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            panic!("this test needs root (it listens as another user)");
        }
        let d = std::env::temp_dir().join(format!("docker-cr-peer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let sock = d.join("docker.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        // Root's own listener: accepted.
        let t = std::thread::spawn(move || {
            let _ = l.accept();
        });
        connect(&sock).unwrap();
        t.join().unwrap();
        std::fs::remove_file(&sock).unwrap();
        // The directory must let nobody bind in it.
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let path = std::ffi::CString::new(sock.to_str().unwrap()).unwrap();
        // SAFETY: the child makes only raw system calls, then _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                let mut addr: libc::sockaddr_un = std::mem::zeroed();
                addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
                for (i, b) in path.as_bytes().iter().enumerate() {
                    addr.sun_path[i] = *b as libc::c_char;
                }
                libc::setgid(65534);
                libc::setuid(65534);
                let ok =
                    libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), std::mem::size_of_val(&addr) as u32)
                        == 0
                        && libc::listen(fd, 1) == 0;
                if ok {
                    let c = libc::accept(fd, std::ptr::null_mut(), std::ptr::null_mut());
                    libc::close(c);
                }
                libc::_exit(0);
            }
        }
        let mut err = None;
        for _ in 0..500 {
            match connect(&sock) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    err = Some(e);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
                Ok(_) => panic!("a socket of uid 65534 was believed"),
            }
        }
        let e = err.expect("the child's socket never answered");
        assert!(e.to_string().contains("uid 65534"), "{e}");
        let mut st = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn parse(raw: &[u8]) -> io::Result<Response> {
        read_response(raw, false)
    }

    #[test]
    fn writes_a_json_request() {
        let mut out = Vec::new();
        write_request(&mut out, "POST", "/v1.41/containers/create?name=x", Some(b"{}")).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("POST /v1.41/containers/create?name=x HTTP/1.1\r\nHost: docker\r\n"));
        assert!(s.contains("Content-Length: 2\r\n\r\n{}"));
        assert!(s.contains("Connection: close\r\n"));
    }

    // Recorded from dockerd 20.10.24: GET /_ping.
    #[test]
    fn ping_with_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, must-revalidate\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nDocker-Experimental: true\r\nOstype: linux\r\nPragma: no-cache\r\nServer: Docker/20.10.24+dfsg1 (linux)\r\nDate: Sat, 28 Nov 2026 15:00:00 GMT\r\n\r\nOK";
        let r = parse(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("api-version"), Some("1.41"));
        assert_eq!(r.header("Docker-Experimental"), Some("true"));
        assert_eq!(r.body, b"OK");
    }

    // Go's net/http chunks any reply over 2 KiB without a Content-Length.
    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n{\"a\":\r\n3\r\n 1}\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.body, b"{\"a\": 1}");
    }

    #[test]
    fn error_body_and_no_content() {
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 44\r\n\r\n{\"message\":\"No such container: nothere123\"}\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.status, 404);
        assert!(String::from_utf8_lossy(&r.body).contains("No such container"));
        let r = parse(b"HTTP/1.1 204 No Content\r\nServer: Docker\r\n\r\n").unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
    }

    // Issue "Trust and hardening": a size near u64::MAX overflowed the limit
    // check (a panic in debug builds, a wrap past MAX_BODY in release ones).
    #[test]
    fn absurd_chunk_sizes_are_errors() {
        for size in ["ffffffffffffffff", "fffffffffffffff0", "4000001"] {
            let raw = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n{size}\r\nxyz");
            let err = parse(raw.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("too large"), "{size}: {err}");
        }
    }

    // Issue "Trust and hardening": the timeout bounded each read, so an engine
    // sending a byte per interval never timed out. It bounds the answer now.
    #[test]
    fn a_trickling_engine_times_out() {
        let (ours, mut engine) = UnixStream::pair().unwrap();
        let trickle = std::thread::spawn(move || {
            let _ = engine.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(20));
                if engine.write_all(b"x").is_err() {
                    break;
                }
            }
        });
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_millis(300);
        let err = read_response(BufReader::new(Deadline { stream: &ours, deadline }), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(t0.elapsed() < Duration::from_millis(1000), "took {:?}", t0.elapsed());
        drop(ours);
        trickle.join().unwrap();
    }

    #[test]
    fn body_until_close() {
        let r = parse(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn truncated_and_garbage_responses_are_errors() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Len",
            b"SSH-2.0-OpenSSH_9.2\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"",
        ] {
            assert!(parse(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
    }
}
