//! HTTP/1.1 for `serve`: a request head parser with limits, query and path
//! decoding, and the response writer (fixed body, chunked stream, the
//! security headers every answer carries). The parser reads any `BufRead`
//! and is pure apart from that reader: it is unit-tested here and fuzzed
//! (tests/fuzz, target `serve_request`).
//!
//! What it refuses, and why:
//! - `Transfer-Encoding` on a request (501): uploads carry a Content-Length
//!   (browsers send one for a File body), and a parser that accepts only one
//!   way to frame a body cannot be smuggled past (no TE/CL disagreement).
//! - two `Content-Length` or `Host` headers, folded lines, control bytes,
//!   header names that are not tokens (400);
//! - a request line, header line or head over its limit (414 / 431).

use std::io::{self, BufRead, Write};

/// Bounds of one request head; bodies are bounded by the handler.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_line: usize,
    pub header_line: usize,
    pub headers: usize,
    pub head: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { request_line: 8 << 10, header_line: 8 << 10, headers: 64, head: 32 << 10 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// The path as sent (percent-encoded), without the query.
    pub path: String,
    /// The raw query, without '?'.
    pub query: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub content_length: Option<u64>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// Whether the client asks to keep the connection open after this
    /// request (HTTP/1.1's default, HTTP/1.0's exception).
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let has = |t: &str| conn.split(',').any(|x| x.trim() == t);
        if self.minor == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
    /// A query parameter, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        query_pairs(&self.query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Why a head could not be read; `status` is the answer to give (0: none,
/// the connection just ends).
#[derive(Debug, PartialEq)]
pub enum HeadError {
    /// The peer closed (or went quiet) before sending a byte: no answer.
    Closed,
    /// The time for the head ran out mid-request.
    Timeout,
    Status(u16, &'static str),
    Io(io::ErrorKind),
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Closed | HeadError::Io(_) => 0,
            HeadError::Timeout => 408,
            HeadError::Status(s, _) => *s,
        }
    }
}

fn is_timeout(k: io::ErrorKind) -> bool {
    matches!(k, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// One line ending in LF (CR before it dropped), at most `max` bytes.
/// None: the reader ended before any byte.
fn read_line(
    r: &mut impl BufRead,
    max: usize,
    too_long: HeadError,
    started: bool,
) -> Result<Option<Vec<u8>>, HeadError> {
    let mut line = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(e.kind()) => {
                return Err(if started || !line.is_empty() { HeadError::Timeout } else { HeadError::Closed })
            }
            Err(e) => return Err(HeadError::Io(e.kind())),
        };
        if buf.is_empty() {
            if line.is_empty() && !started {
                return Ok(None);
            }
            return Err(HeadError::Status(400, "the request ended inside its head"));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max + 2 {
            return Err(too_long);
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.len() > max {
                return Err(too_long);
            }
            return Ok(Some(line));
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads one request head. Blank lines before the request line are skipped
/// (RFC 9112 §2.2), a few at most.
pub fn read_head(r: &mut impl BufRead, lim: &Limits) -> Result<Request, HeadError> {
    let mut total = 0usize;
    let mut line = Vec::new();
    for i in 0..4 {
        match read_line(r, lim.request_line, HeadError::Status(414, "the request line is too long"), i > 0)? {
            None => return Err(HeadError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => {
                line = l;
                break;
            }
        }
    }
    if line.is_empty() {
        return Err(HeadError::Status(400, "no request line"));
    }
    total += line.len();
    let text = std::str::from_utf8(&line).map_err(|_| HeadError::Status(400, "the request line is not UTF-8"))?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Status(400, "the request line is not METHOD TARGET VERSION"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || method.len() > 16 {
        return Err(HeadError::Status(400, "invalid method"));
    }
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        v if v.starts_with("HTTP/") => return Err(HeadError::Status(505, "only HTTP/1.0 and HTTP/1.1")),
        _ => return Err(HeadError::Status(400, "invalid HTTP version")),
    };
    // Origin form only: "/path?query". No absolute URIs, no '*'.
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
        return Err(HeadError::Status(400, "invalid request target"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let l = read_line(r, lim.header_line, HeadError::Status(431, "a header line is too long"), true)?
            .ok_or(HeadError::Status(400, "the request ended inside its head"))?;
        if l.is_empty() {
            break;
        }
        total += l.len();
        if total > lim.head {
            return Err(HeadError::Status(431, "the request head is too large"));
        }
        if headers.len() >= lim.headers {
            return Err(HeadError::Status(431, "too many header lines"));
        }
        if l[0] == b' ' || l[0] == b'\t' {
            return Err(HeadError::Status(400, "folded header lines are not accepted"));
        }
        let colon = l.iter().position(|&b| b == b':').ok_or(HeadError::Status(400, "a header line without ':'"))?;
        let (name, value) = (&l[..colon], &l[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HeadError::Status(400, "invalid header name"));
        }
        if value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(HeadError::Status(400, "a control character in a header value"));
        }
        let value = std::str::from_utf8(value).map_err(|_| HeadError::Status(400, "a header value is not UTF-8"))?;
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        headers.push((name, value.trim_matches(|c| c == ' ' || c == '\t').to_string()));
    }
    let count = |n: &str| headers.iter().filter(|(k, _)| k == n).count();
    if count("transfer-encoding") > 0 {
        return Err(HeadError::Status(501, "Transfer-Encoding on a request is not supported; send Content-Length"));
    }
    if count("content-length") > 1 {
        return Err(HeadError::Status(400, "more than one Content-Length"));
    }
    if count("host") > 1 || (minor == 1 && count("host") == 0) {
        return Err(HeadError::Status(400, "exactly one Host header is required"));
    }
    let content_length = match headers.iter().find(|(k, _)| k == "content-length") {
        None => None,
        Some((_, v)) => {
            if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeadError::Status(400, "invalid Content-Length"));
            }
            Some(v.parse::<u64>().map_err(|_| HeadError::Status(400, "invalid Content-Length"))?)
        }
    };
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        minor,
        headers,
        content_length,
    })
}

/// Percent-decoding ('+' is a space when `plus`). None: a bad escape or
/// bytes that are not UTF-8.
pub fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `a=1&b=x%20y` → pairs; undecodable pairs are dropped.
pub fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

/// The path's segments, decoded; None if one cannot be decoded or decodes
/// to something a segment must not hold ('/', NUL, "." or "..").
pub fn segments(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for s in path.split('/').skip(1) {
        let d = percent_decode(s, false)?;
        if d.contains('/') || d.contains('\0') || d == "." || d == ".." {
            return None;
        }
        out.push(d);
    }
    // "/a/" and "/a" are the same resource.
    if out.last().is_some_and(|s| s.is_empty()) {
        out.pop();
    }
    Some(out)
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// The page's policy: its own scripts, styles and API only; no inline
/// script or style, no frames, no forms posting elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every answer carries.
pub fn security_headers() -> [(&'static str, &'static str); 7] {
    [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Cache-Control", "no-store"),
    ]
}

/// The head of a response. `length`: Some(n) for a body of n bytes, None
/// for a chunked body (or none at all, for SSE, with `close`).
pub fn write_head(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, String)],
    length: Option<u64>,
    chunked: bool,
    close: bool,
) -> io::Result<()> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in security_headers() {
        h += &format!("{k}: {v}\r\n");
    }
    for (k, v) in headers {
        // A value is ours, never a client's; still, no header splitting.
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        h += &format!("{k}: {v}\r\n");
    }
    if let Some(n) = length {
        h += &format!("Content-Length: {n}\r\n");
    }
    if chunked {
        h += "Transfer-Encoding: chunked\r\n";
    }
    h += if close { "Connection: close\r\n\r\n" } else { "Connection: keep-alive\r\n\r\n" };
    w.write_all(h.as_bytes())
}

/// A chunked body: each write is one chunk; `finish` writes the last.
pub struct Chunked<W: Write> {
    inner: W,
    pub bytes: u64,
}

impl<W: Write> Chunked<W> {
    pub fn new(inner: W) -> Chunked<W> {
        Chunked { inner, bytes: 0 }
    }
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(b"0\r\n\r\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Chunked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.inner.write_all(format!("{:x}\r\n", buf.len()).as_bytes())?;
        self.inner.write_all(buf)?;
        self.inner.write_all(b"\r\n")?;
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One server-sent event. The data is one line of JSON (no newlines), so
/// one `data:` line carries it.
pub fn sse_event(event: &str, data: &str) -> String {
    let data: String = data.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    format!("event: {event}\ndata: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Request, HeadError> {
        read_head(&mut io::BufReader::new(s.as_bytes()), &Limits::default())
    }

    #[test]
    fn a_plain_request() {
        let r =
            parse("GET /api/checkpoints?x=1&y=a%20b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nCookie: a=b\r\n\r\n").unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.query.as_str(), r.minor),
            ("GET", "/api/checkpoints", "x=1&y=a%20b", 1)
        );
        assert_eq!(r.header("host"), Some("127.0.0.1:8080"));
        assert_eq!(r.param("y").as_deref(), Some("a b"));
        assert!(r.keep_alive());
        assert_eq!(r.content_length, None);
        // LF alone ends lines too; leading blank lines are skipped.
        let r = parse("\r\nPOST /x HTTP/1.0\nContent-Length: 12\n\n").unwrap();
        assert_eq!((r.minor, r.content_length, r.keep_alive()), (0, Some(12), false));
    }

    #[test]
    fn what_is_refused() {
        let st = |s: &str| parse(s).unwrap_err().status();
        assert_eq!(st("GET / HTTP/1.1\r\n\r\n"), 400, "no Host");
        assert_eq!(st("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
        assert_eq!(st("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
        assert_eq!(st("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 400);
        assert_eq!(st("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), 400);
        assert_eq!(st("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
        assert_eq!(st("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), 400);
        assert_eq!(st("GET / HTTP/1.1\r\nHo st: a\r\n\r\n"), 400);
        assert_eq!(st("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n"), 400);
        assert_eq!(st("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(st("GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(st("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(st("get / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(st("GET / HTTP/1.1\r\nHost: a\r\n"), 400, "cut inside the head");
        assert_eq!(parse(""), Err(HeadError::Closed));
    }

    #[test]
    fn limits() {
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(&long).unwrap_err().status(), 414);
        let long = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(9000));
        assert_eq!(parse(&long).unwrap_err().status(), 431);
        let many: String = (0..65).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(parse(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")).unwrap_err().status(), 431);
        let big: String = (0..8).map(|i| format!("X-{i}: {}\r\n", "b".repeat(5000))).collect();
        assert_eq!(parse(&format!("GET / HTTP/1.1\r\nHost: a\r\n{big}\r\n")).unwrap_err().status(), 431);
        // Exactly at the limit is fine.
        let lim = Limits { request_line: 20, ..Limits::default() };
        let ok = read_head(&mut io::BufReader::new(&b"GET /abcdef HTTP/1.1\r\nHost: a\r\n\r\n"[..]), &lim);
        assert!(ok.is_ok(), "{ok:?}");
        let no = read_head(&mut io::BufReader::new(&b"GET /abcdefg HTTP/1.1\r\nHost: a\r\n\r\n"[..]), &lim);
        assert_eq!(no.unwrap_err().status(), 414);
    }

    #[test]
    fn a_slow_reader_times_out() {
        struct Slow(usize);
        impl io::Read for Slow {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::from(io::ErrorKind::WouldBlock));
                }
                self.0 -= 1;
                b[0] = b'G';
                Ok(1)
            }
        }
        assert_eq!(read_head(&mut io::BufReader::new(Slow(3)), &Limits::default()), Err(HeadError::Timeout));
        assert_eq!(read_head(&mut io::BufReader::new(Slow(0)), &Limits::default()), Err(HeadError::Closed));
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%2Fb+c", false).as_deref(), Some("a/b+c"));
        assert_eq!(percent_decode("a+c", true).as_deref(), Some("a c"));
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%f0%28", false), None, "not UTF-8");
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(segments("/api/checkpoints/web/cp1/").unwrap(), vec!["api", "checkpoints", "web", "cp1"]);
        assert_eq!(segments("/"), Some(vec![]));
        assert_eq!(segments("/a/%2e%2e/b"), None);
        assert_eq!(segments("/a/x%2Fy"), None);
        assert_eq!(segments("/a/%00"), None);
        assert_eq!(query_pairs("a=1&&b&c=%zz"), vec![("a".into(), "1".into()), ("b".into(), "".into())]);
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        write_head(&mut out, 404, &[("Content-Type", "text/plain\r\nX: y".into())], Some(3), false, true).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"), "{s}");
        assert!(s.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"));
        assert!(s.contains("Content-Type: text/plainX: y\r\n"), "no header splitting: {s}");
        assert!(s.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
        let mut c = Chunked::new(Vec::new());
        c.write_all(b"hello").unwrap();
        c.write_all(b"").unwrap();
        c.write_all(&[b'x'; 17]).unwrap();
        let body = c.finish().unwrap();
        assert_eq!(body, [&b"5\r\nhello\r\n11\r\n"[..], &[b'x'; 17], b"\r\n0\r\n\r\n"].concat());
        assert_eq!(sse_event("jobs", "{\"a\":\n1}"), "event: jobs\ndata: {\"a\":1}\n\n");
    }
}
