//! Who may talk to `serve`, decided per request before any handler runs.
//! The page starts and stops containers as root, so:
//! - **Host** must name this server (one of its loopback names and port, or
//!   a name the operator allowed): a DNS-rebinding page reaches us with its
//!   own host name and is refused.
//! - **Origin**, when a browser sends one, must be ours: a foreign page's
//!   fetch is refused even where a cookie would go along.
//! - **The token** (64 hex digits from getrandom at start) is printed once,
//!   as a URL; opening it sets the session cookie (HttpOnly, SameSite=Strict,
//!   named after the port: cookies are not kept apart by port) and redirects
//!   to the bare page, out of the address bar. Scripts send the token as
//!   `Authorization: Bearer`, which no browser adds by itself.
//! - **State changes** are POST only; with the cookie they also need the
//!   CSRF token of the page (a `<meta>` of index.html, sent back in
//!   `X-CSRF-Token`), and `Sec-Fetch-Site`, when sent, must be same-origin.
//!
//! Everything here is pure (the secrets are parameters) and tested.

use std::net::{IpAddr, SocketAddr};

use super::http::Request;

/// The secrets of one run. Never logged, never in an error text.
#[derive(Clone)]
pub struct Secrets {
    /// In the printed URL; also the Bearer token.
    pub token: String,
    /// The session cookie's value.
    pub session: String,
    /// What the page sends back with state changes.
    pub csrf: String,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Secrets {
    /// Three independent 256-bit secrets from the kernel's CSPRNG.
    pub fn generate() -> std::io::Result<Secrets> {
        let mut b = [0u8; 96];
        let mut filled = 0;
        while filled < b.len() {
            filled += rustix::rand::getrandom(&mut b[filled..], rustix::rand::GetRandomFlags::empty())?;
        }
        Ok(Secrets::from_bytes(&b))
    }
    pub fn from_bytes(b: &[u8; 96]) -> Secrets {
        Secrets { token: hex(&b[..32]), session: hex(&b[32..64]), csrf: hex(&b[64..]) }
    }
}

/// Compares without an early exit, so timing tells nothing of a secret.
pub fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in a Cookie header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

/// The names this server answers to and the scheme it serves.
#[derive(Debug, Clone)]
pub struct Origins {
    /// `host:port` as a browser writes it in Host, lower case.
    pub hosts: Vec<String>,
    pub scheme: &'static str,
    pub port: u16,
}

impl Origins {
    /// For a server bound to `addr`: its own address, and for loopback
    /// `localhost`, `127.0.0.1` and `[::1]`, plus the operator's extras.
    pub fn new(addr: SocketAddr, extra: &[String], tls: bool) -> Origins {
        let port = addr.port();
        let mut hosts = vec![match addr.ip() {
            IpAddr::V4(ip) => format!("{ip}:{port}"),
            IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        }];
        if addr.ip().is_loopback() {
            for h in ["localhost", "127.0.0.1", "[::1]"] {
                hosts.push(format!("{h}:{port}"));
            }
        }
        for e in extra {
            let e = e.to_ascii_lowercase();
            hosts.push(if e.contains(':') && !e.ends_with(']') { e } else { format!("{e}:{port}") });
        }
        hosts.dedup();
        Origins { hosts, scheme: if tls { "https" } else { "http" }, port }
    }
    pub fn host_ok(&self, host: Option<&str>) -> bool {
        host.is_some_and(|h| {
            let h = h.to_ascii_lowercase();
            self.hosts.contains(&h)
        })
    }
    /// No Origin header (curl, a same-origin GET of an old browser) is
    /// fine; an Origin must be one of ours, and "null" is nobody's.
    pub fn origin_ok(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(o) => {
                let o = o.to_ascii_lowercase();
                o.strip_prefix(self.scheme)
                    .and_then(|r| r.strip_prefix("://"))
                    .is_some_and(|h| self.hosts.iter().any(|x| x == h))
            }
        }
    }
    pub fn cookie_name(&self) -> String {
        format!("dcr_session_{}", self.port)
    }
    /// Set-Cookie for a session: the browser sends it to us only, never on
    /// a cross-site request, and scripts cannot read it.
    pub fn set_cookie(&self, s: &Secrets) -> String {
        let secure = if self.scheme == "https" { "; Secure" } else { "" };
        format!("{}={}; Path=/; HttpOnly; SameSite=Strict{secure}", self.cookie_name(), s.session)
    }
}

/// How a request proved itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Who {
    /// The session cookie (a browser).
    Cookie,
    /// `Authorization: Bearer TOKEN` (a script).
    Bearer,
    /// Nothing valid.
    Nobody,
}

/// Why a request is refused: the status and a text safe to show.
pub type Refusal = (u16, &'static str);

/// The first checks, for every request: Host, then Origin.
pub fn check_origin(req: &Request, o: &Origins) -> Result<(), Refusal> {
    if !o.host_ok(req.header("host")) {
        return Err((403, "this Host is not one this server answers to (see docker-cr serve --allow-host)"));
    }
    if !o.origin_ok(req.header("origin")) {
        return Err((403, "requests from another origin are refused"));
    }
    Ok(())
}

pub fn who(req: &Request, o: &Origins, s: &Secrets) -> Who {
    if let Some(t) = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ")) {
        return if ct_eq(t.trim(), &s.token) { Who::Bearer } else { Who::Nobody };
    }
    let name = o.cookie_name();
    // Several Cookie lines are allowed (HTTP/2 proxies split them).
    let ok = req
        .headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .filter_map(|(_, v)| cookie(v, &name))
        .any(|v| ct_eq(v, &s.session));
    if ok {
        Who::Cookie
    } else {
        Who::Nobody
    }
}

/// The token of a login URL (`/?token=…` or `/login?token=…`), if right.
pub fn login_ok(req: &Request, s: &Secrets) -> bool {
    req.param("token").is_some_and(|t| ct_eq(&t, &s.token))
}

/// A state change by `who`: POST, and for a browser the CSRF token and a
/// same-origin fetch.
pub fn check_change(req: &Request, who: Who, s: &Secrets) -> Result<(), Refusal> {
    if req.method != "POST" {
        return Err((405, "this changes state: use POST"));
    }
    match who {
        Who::Bearer => Ok(()),
        Who::Nobody => Err((401, "not logged in")),
        Who::Cookie => {
            if let Some(site) = req.header("sec-fetch-site") {
                if site != "same-origin" {
                    return Err((403, "a state change from another site is refused"));
                }
            }
            match req.header("x-csrf-token") {
                Some(t) if ct_eq(t, &s.csrf) => Ok(()),
                _ => Err((403, "missing or wrong CSRF token: reload the page")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        let mut b = [0u8; 96];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8;
        }
        Secrets::from_bytes(&b)
    }
    fn origins() -> Origins {
        Origins::new("127.0.0.1:7380".parse().unwrap(), &["tunnel.example:9000".into(), "box".into()], false)
    }
    fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            minor: 1,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            content_length: None,
        }
    }

    #[test]
    fn secrets_are_long_distinct_and_random() {
        let a = Secrets::generate().unwrap();
        let b = Secrets::generate().unwrap();
        assert_eq!(a.token.len(), 64);
        assert!(a.token != a.session && a.session != a.csrf && a.token != b.token);
        assert!(a.token.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd") && !ct_eq("abc", "ab") && !ct_eq("", "a"));
    }

    #[test]
    fn host_names() {
        let o = origins();
        for h in ["127.0.0.1:7380", "localhost:7380", "LOCALHOST:7380", "[::1]:7380", "tunnel.example:9000", "box:7380"]
        {
            assert!(o.host_ok(Some(h)), "{h}");
        }
        // DNS rebinding: the attacker's name, pointing at 127.0.0.1.
        for h in ["evil.example:7380", "127.0.0.1", "127.0.0.1:7381", "localhost", "box:9000", ""] {
            assert!(!o.host_ok(Some(h)), "{h}");
        }
        assert!(!o.host_ok(None));
        let remote = Origins::new("192.0.2.5:7380".parse().unwrap(), &[], false);
        assert_eq!(remote.hosts, vec!["192.0.2.5:7380"], "no loopback names for another address");
        let v6 = Origins::new("[::1]:80".parse().unwrap(), &["[fd00::1]".into()], true);
        assert!(v6.host_ok(Some("[::1]:80")) && v6.host_ok(Some("[fd00::1]:80")));
    }

    #[test]
    fn origin_headers() {
        let o = origins();
        assert!(o.origin_ok(None));
        assert!(o.origin_ok(Some("http://127.0.0.1:7380")) && o.origin_ok(Some("http://localhost:7380")));
        for bad in [
            "null",
            "https://127.0.0.1:7380",
            "http://evil.example",
            "http://127.0.0.1:7380.evil",
            "http://127.0.0.1:7380/x",
            "",
        ] {
            assert!(!o.origin_ok(Some(bad)), "{bad}");
        }
        let r = req("GET", "/api/checkpoints", &[("host", "127.0.0.1:7380"), ("origin", "http://evil.example")]);
        assert_eq!(check_origin(&r, &o).unwrap_err().0, 403);
        let r = req("GET", "/api/checkpoints", &[("host", "evil.example:7380")]);
        assert_eq!(check_origin(&r, &o).unwrap_err().0, 403);
        let r = req("GET", "/", &[("host", "localhost:7380"), ("origin", "http://localhost:7380")]);
        assert!(check_origin(&r, &o).is_ok());
    }

    #[test]
    fn tokens_and_cookies() {
        let (o, s) = (origins(), secrets());
        let cookie = format!("other=1; dcr_session_7380={}", s.session);
        assert_eq!(who(&req("GET", "/", &[("cookie", &cookie)]), &o, &s), Who::Cookie);
        let wrong = format!("dcr_session_7381={}", s.session);
        assert_eq!(who(&req("GET", "/", &[("cookie", &wrong)]), &o, &s), Who::Nobody, "another port's cookie");
        let tok = format!("dcr_session_7380={}", s.token);
        assert_eq!(who(&req("GET", "/", &[("cookie", &tok)]), &o, &s), Who::Nobody, "the token is not the session");
        let bearer = format!("Bearer {}", s.token);
        assert_eq!(who(&req("GET", "/", &[("authorization", &bearer)]), &o, &s), Who::Bearer);
        assert_eq!(who(&req("GET", "/", &[("authorization", "Bearer x"), ("cookie", &cookie)]), &o, &s), Who::Nobody);
        assert_eq!(who(&req("GET", "/", &[]), &o, &s), Who::Nobody);
        assert!(login_ok(&req("GET", &format!("/?token={}", s.token), &[]), &s));
        assert!(!login_ok(&req("GET", "/?token=00", &[]), &s) && !login_ok(&req("GET", "/", &[]), &s));
        let c = o.set_cookie(&s);
        assert!(c.starts_with("dcr_session_7380=") && c.ends_with("; Path=/; HttpOnly; SameSite=Strict"), "{c}");
        assert!(!c.contains(&s.token));
    }

    #[test]
    fn state_changes() {
        let s = secrets();
        let csrf = s.csrf.clone();
        let ok = req("POST", "/api/x", &[("x-csrf-token", &csrf), ("sec-fetch-site", "same-origin")]);
        assert!(check_change(&ok, Who::Cookie, &s).is_ok());
        assert_eq!(
            check_change(&req("GET", "/api/x", &[("x-csrf-token", &csrf)]), Who::Cookie, &s).unwrap_err().0,
            405
        );
        assert_eq!(check_change(&req("POST", "/api/x", &[]), Who::Cookie, &s).unwrap_err().0, 403, "no CSRF token");
        assert_eq!(check_change(&req("POST", "/api/x", &[("x-csrf-token", "0")]), Who::Cookie, &s).unwrap_err().0, 403);
        let cross = req("POST", "/api/x", &[("x-csrf-token", &csrf), ("sec-fetch-site", "cross-site")]);
        assert_eq!(check_change(&cross, Who::Cookie, &s).unwrap_err().0, 403);
        assert!(
            check_change(&req("POST", "/api/x", &[]), Who::Bearer, &s).is_ok(),
            "a script's bearer token is not ambient"
        );
        assert_eq!(check_change(&req("POST", "/api/x", &[]), Who::Nobody, &s).unwrap_err().0, 401);
    }
}
