//! A client of the OCI distribution API (issue 20): what `image push`,
//! `image pull` and `ls REGISTRY/REPO` ask a registry, over ureq with
//! rustls, synchronous, one request at a time.
//!
//! - TLS: the system's CA bundle (`SSL_CERT_FILE`, else the distribution's
//!   bundle), plus the registry's own CAs and client certificate as the
//!   docker CLI reads them: `/etc/docker/certs.d/HOST[:PORT]/*.crt`,
//!   `client.cert` and `client.key` (`DOCKER_CR_CERTS_D` names another
//!   directory, for tests). Plain HTTP only with `--insecure`, for the
//!   registry named, as dockerd's insecure-registries.
//! - Credentials as the docker CLI resolves them: `$DOCKER_CONFIG/config.json`
//!   (default `~/.docker/config.json`): `credHelpers[HOST]`, else
//!   `credsStore` (each run as `docker-credential-NAME get`), else
//!   `auths[HOST]` (`auth` = base64 user:password, or `identitytoken`).
//! - Auth: the challenge of a 401 (`WWW-Authenticate`): Basic, or Bearer
//!   (a token from the realm, with the credentials, for the scope asked).
//! - Blobs stream both ways: uploads are one PUT of a file of known size
//!   (monolithic) or one PATCH of a stream of unknown size (chunked
//!   transfer encoding), then the PUT that names the digest; downloads are
//!   read through `oci::Verified`, which fails the read unless every byte
//!   matches the digest. No blob is ever held in memory.
//!
//! The pure parts (config.json, challenges, base64, URLs, error bodies)
//! are tested here; the exchanges with a real registry in tests/image.rs.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::formats::oci::{self, ImageRef};

/// What the client may do in a repository: the Bearer token's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        }
    }
}

// ------------------------------------------------------------------ base64

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding. Pure.
pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard (or URL-safe) base64, padded or not. Pure.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.trim().bytes().filter(|b| *b != b'=') {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

// ------------------------------------------------------------- credentials

/// Credentials for one registry, and where they came from (for messages).
#[derive(Clone, PartialEq)]
pub enum Creds {
    Basic {
        user: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>`).
    Token {
        token: String,
    },
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Creds::Basic { user, .. } => write!(f, "Basic({user}, <password>)"),
            Creds::Token { .. } => write!(f, "Token(<token>)"),
        }
    }
}

/// The parts of the docker CLI's config.json that name credentials.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credsStore", default)]
    pub creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    pub cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct AuthEntry {
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub identitytoken: Option<String>,
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`. Pure.
pub fn config_path(docker_config: Option<&std::ffi::OsStr>, home: Option<&std::ffi::OsStr>) -> PathBuf {
    match (docker_config, home) {
        (Some(d), _) if !d.is_empty() => Path::new(d).join("config.json"),
        (_, Some(h)) if !h.is_empty() => Path::new(h).join(".docker/config.json"),
        _ => PathBuf::from("/root/.docker/config.json"),
    }
}

/// The host an `auths` key names: the docker CLI's `ConvertToHostname`
/// (no scheme, no path). Pure.
pub fn key_host(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// The key the docker CLI files a registry's login under. Pure.
pub fn auth_key(registry: &str) -> String {
    if registry == oci::HUB || registry == oci::HUB_API || registry == "index.docker.io" {
        oci::HUB_AUTH_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Where a registry's credentials are to be found.
#[derive(Debug, PartialEq)]
pub enum Source {
    /// `docker-credential-NAME get` (credHelpers, else credsStore).
    Helper(String),
    /// In config.json itself.
    File(Creds),
    None,
}

/// The credentials `cfg` gives `registry`, as the docker CLI picks them.
/// Pure.
pub fn lookup(cfg: &DockerConfig, registry: &str) -> std::result::Result<Source, String> {
    let key = auth_key(registry);
    if let Some(h) = cfg.cred_helpers.get(&key).or_else(|| cfg.cred_helpers.get(registry)) {
        return Ok(Source::Helper(h.clone()));
    }
    if let Some(s) = cfg.creds_store.as_ref().filter(|s| !s.is_empty()) {
        return Ok(Source::Helper(s.clone()));
    }
    let want = key_host(&key);
    let entry = cfg.auths.get(&key).or_else(|| cfg.auths.iter().find(|(k, _)| key_host(k) == want).map(|(_, e)| e));
    let Some(e) = entry else { return Ok(Source::None) };
    if let Some(t) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Source::File(Creds::Token { token: t.clone() }));
    }
    if let Some(a) = e.auth.as_ref().filter(|a| !a.is_empty()) {
        let raw = b64_decode(a).ok_or("its auth is not base64")?;
        let text = String::from_utf8(raw).map_err(|_| "its auth is not text")?;
        let (user, password) = text.split_once(':').ok_or("its auth is not user:password")?;
        return Ok(Source::File(Creds::Basic { user: user.into(), password: password.into() }));
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Source::File(Creds::Basic { user: u.clone(), password: p.clone() })),
        _ => Ok(Source::None),
    }
}

/// A credential helper's answer to `get`. Pure.
pub fn parse_helper(out: &[u8]) -> std::result::Result<Creds, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let a: Answer = serde_json::from_slice(out).map_err(|e| format!("its answer is not JSON: {e}"))?;
    if a.username == "<token>" {
        Ok(Creds::Token { token: a.secret })
    } else {
        Ok(Creds::Basic { user: a.username, password: a.secret })
    }
}

/// Runs `docker-credential-NAME get` for `server`. None: it has none.
fn run_helper(name: &str, server: &str) -> Result<Option<Creds>> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let prog = format!("docker-credential-{name}");
    let bad = |what: String| {
        Error::host(
            format!("the credential helper {prog} (from the docker CLI's config.json) {what}"),
            format!("check it with: echo {server} | {prog} get; or docker login {server} again"),
        )
    };
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(bad("has a name that is not a plain word".into()));
    }
    let mut child = Command::new(&prog)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| bad(format!("cannot be run: {e}")))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(server.as_bytes());
    }
    let o = child.wait_with_output().map_err(|e| bad(format!("failed: {e}")))?;
    if !o.status.success() {
        let msg = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        if msg.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(bad(format!("failed ({}): {}", o.status, msg.trim())));
    }
    parse_helper(&o.stdout).map(Some).map_err(bad)
}

/// The credentials for `registry` from the docker CLI's configuration,
/// and where they were found. None: there are none (not an error: the
/// registry may not ask).
pub fn credentials(registry: &str) -> Result<Option<(Creds, String)>> {
    let path = config_path(std::env::var_os("DOCKER_CONFIG").as_deref(), std::env::var_os("HOME").as_deref());
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io { op: "read", path, source: e }),
    };
    if text.len() > 4 << 20 {
        return Err(Error::host(format!("{} is larger than 4 MiB", path.display()), "check the file"));
    }
    let cfg: DockerConfig = serde_json::from_slice(&text).map_err(|e| {
        Error::host(format!("{} is not valid JSON: {e}", path.display()), "fix it, or docker login again")
    })?;
    let key = auth_key(registry);
    match lookup(&cfg, registry) {
        Ok(Source::Helper(h)) => {
            Ok(run_helper(&h, &key)?.map(|c| (c, format!("the credential helper docker-credential-{h}"))))
        }
        Ok(Source::File(c)) => Ok(Some((c, path.display().to_string()))),
        Ok(Source::None) => Ok(None),
        Err(why) => Err(Error::host(
            format!("the login for {registry} in {} is damaged: {why}", path.display()),
            format!("docker login {registry}"),
        )),
    }
}

// -------------------------------------------------------------- challenges

/// A `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Default)]
pub struct Challenge {
    /// `basic` or `bearer` (lower case).
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses `Bearer realm="…",service="…",scope="…"` (or Basic). Pure.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut c = Challenge { scheme: scheme.to_ascii_lowercase(), params: BTreeMap::new() };
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, after) = s.split_once('=')?;
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let mut val = String::new();
            let mut it = q.char_indices();
            let mut end = None;
            while let Some((i, ch)) = it.next() {
                match ch {
                    '\\' => {
                        if let Some((_, n)) = it.next() {
                            val.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => val.push(ch),
                }
            }
            (val, &q[end? + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        c.params.insert(k, v);
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(c)
}

/// `application/x-www-form-urlencoded` / query escaping. Pure.
pub fn urlencode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// The message of a registry's error body (`{"errors":[{"code","message"}]}`),
/// or the start of the body. Pure.
pub fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Es {
        errors: Vec<E>,
    }
    if let Ok(es) = serde_json::from_slice::<Es>(body) {
        let v: Vec<String> = es.errors.iter().map(|e| format!("{} {}", e.code, e.message).trim().to_string()).collect();
        if !v.is_empty() {
            return v.join("; ");
        }
    }
    let t: String = String::from_utf8_lossy(&body[..body.len().min(300)]).chars().filter(|c| !c.is_control()).collect();
    t.trim().to_string()
}

/// `Location` of an upload, as an absolute URL: relative ones are against
/// `base` (`scheme://host`). Pure.
pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        format!("{base}/{location}")
    }
}

/// `url` with one more query parameter. Pure.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={}", urlencode(value))
}

/// The `next` URL of a `Link` header (tag list pagination). Pure.
pub fn next_link(h: &str) -> Option<String> {
    h.split(',').find(|p| p.contains("rel=\"next\"")).and_then(|p| {
        let s = p.find('<')? + 1;
        let e = p.find('>')?;
        Some(p[s..e].to_string())
    })
}

// --------------------------------------------------------------------- TLS

/// The directory of per-registry CAs, as the docker CLI reads it.
pub fn certs_dir() -> PathBuf {
    std::env::var_os("DOCKER_CR_CERTS_D")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/etc/docker/certs.d"), PathBuf::from)
}

const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // Alpine, macOS-likes
];

fn read_limited(p: &Path) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    std::fs::File::open(p).ok()?.take(16 << 20).read_to_end(&mut v).ok()?;
    Some(v)
}

/// The roots and client certificate for `host` (`host[:port]`).
fn tls_config(host: &str) -> Result<ureq::tls::TlsConfig> {
    use ureq::tls::{parse_pem, ClientCert, PemItem, RootCerts, TlsConfig};
    let mut roots = Vec::new();
    let system = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file());
    let mut pem_files: Vec<PathBuf> = system.into_iter().collect();
    let dir = certs_dir().join(host);
    let mut own: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    own.sort();
    pem_files.extend(own);
    for p in &pem_files {
        let Some(bytes) = read_limited(p) else { continue };
        for item in parse_pem(&bytes).flatten() {
            if let PemItem::Certificate(c) = item {
                roots.push(c.to_owned());
            }
        }
    }
    if roots.is_empty() {
        return Err(Error::host(
            format!(
                "no CA certificates to check {host}'s TLS certificate with: no system bundle, nothing in {}",
                dir.display()
            ),
            "install ca-certificates, or put the registry's CA in that directory as ca.crt",
        ));
    }
    let mut client = None;
    if let (Some(cert), Some(key)) = (read_limited(&dir.join("client.cert")), read_limited(&dir.join("client.key"))) {
        let chain: Vec<_> = parse_pem(&cert)
            .flatten()
            .filter_map(|i| match i {
                PemItem::Certificate(c) => Some(c.to_owned()),
                _ => None,
            })
            .collect();
        let key = parse_pem(&key).flatten().find_map(|i| match i {
            PemItem::PrivateKey(k) => Some(k.to_owned()),
            _ => None,
        });
        if let (false, Some(k)) = (chain.is_empty(), key) {
            client = Some(ClientCert::new_with_certs(&chain, k));
        }
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(client)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build())
}

// ------------------------------------------------------------------ client

/// A body to send: nothing, bytes (can be sent again after a 401), or a
/// stream (sent once: authorise before).
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8], &'a str),
    /// A reader of `Some(len)` bytes, or of unknown length (chunked).
    Stream(&'a mut dyn Read, Option<u64>),
}

/// One registry, one repository's worth of access.
pub struct Client {
    pub image: ImageRef,
    base: String,
    agent: ureq::Agent,
    creds: Option<(Creds, String)>,
    /// The Authorization header that worked last.
    auth: Option<String>,
    access: Access,
    /// Other repositories of this registry to read (blob mounts).
    from: Vec<String>,
}

/// A response, read: status, the headers we use, and (for small bodies)
/// the body.
pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Client {
    /// A client for `image`'s repository. `insecure`: plain HTTP (for a
    /// registry without TLS, named explicitly); never unverified TLS.
    pub fn new(image: &ImageRef, access: Access, insecure: bool) -> Result<Client> {
        let host = image.api_host().to_string();
        let mut cfg = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(600)))
            .max_redirects(5)
            .user_agent(format!("docker-cr/{}", env!("CARGO_PKG_VERSION")));
        if !insecure {
            cfg = cfg.tls_config(tls_config(&host)?);
        }
        let creds = credentials(&image.registry)?;
        Ok(Client {
            image: image.clone(),
            base: format!("{}://{host}", if insecure { "http" } else { "https" }),
            agent: cfg.build().into(),
            creds,
            auth: None,
            access,
            from: Vec::new(),
        })
    }

    /// Also ask for pull access to `repo` (a blob mount's source).
    pub fn also_read(&mut self, repo: &str) {
        if repo != self.image.repository && !self.from.iter().any(|r| r == repo) {
            self.from.push(repo.to_string());
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.image.repository)
    }

    fn what(&self) -> String {
        format!("{} (repository {})", self.image.registry, self.image.repository)
    }

    /// An error of the exchange `step`, with the fix.
    fn fail(&self, step: &str, why: String, hint: String) -> Error {
        Error::host(format!("{step} at the registry {}: {why}", self.what()), hint)
    }

    fn transport_error(&self, step: &str, e: ureq::Error) -> Error {
        let host = &self.image.registry;
        let text = e.to_string();
        let hint = if text.contains("UnknownIssuer") || text.contains("certificate") {
            format!(
                "put the registry's CA certificate in {}/{host}/ca.crt (as for the docker CLI), or add it to the system's CAs",
                certs_dir().display()
            )
        } else if self.base.starts_with("https") && (text.contains("corrupt") || text.contains("InvalidContentType")) {
            format!("{host} seems to speak plain HTTP: if it is a registry without TLS, pass --insecure")
        } else if matches!(e, ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Io(_)) {
            format!("is the registry running at {host}? check the name and the port")
        } else {
            "check the registry's address, and that it speaks the OCI distribution API (/v2/)".to_string()
        };
        self.fail(step, text, hint)
    }

    /// The credentials' description, for messages.
    fn creds_from(&self) -> String {
        match &self.creds {
            Some((Creds::Basic { user, .. }, from)) => format!("user {user} from {from}"),
            Some((Creds::Token { .. }, from)) => format!("the identity token from {from}"),
            None => "no credentials".into(),
        }
    }

    fn login_hint(&self) -> String {
        let r = &self.image.registry;
        format!("docker login {r} (docker-cr reads the docker CLI's config.json: $DOCKER_CONFIG, else ~/.docker)")
    }

    fn scopes(&self) -> Vec<String> {
        let mut v = vec![format!("repository:{}:{}", self.image.repository, self.access.actions())];
        v.extend(self.from.iter().map(|r| format!("repository:{r}:pull")));
        v
    }

    /// Answers a 401: a new Authorization header, or why there is none.
    fn authorise(&mut self, step: &str, challenge: Option<&str>) -> Result<()> {
        let Some(c) = challenge.and_then(parse_challenge) else {
            return Err(self.fail(step, "401 without a WWW-Authenticate challenge".into(), self.login_hint()));
        };
        match c.scheme.as_str() {
            "basic" => match &self.creds {
                Some((Creds::Basic { user, password }, _)) => {
                    self.auth = Some(format!("Basic {}", b64_encode(format!("{user}:{password}").as_bytes())));
                    Ok(())
                }
                Some((Creds::Token { .. }, _)) => Err(self.fail(
                    step,
                    "it asks for a password (Basic), and the login is an identity token".into(),
                    self.login_hint(),
                )),
                None => Err(self.no_credentials(step)),
            },
            "bearer" => {
                let token = self.token(step, &c)?;
                self.auth = Some(format!("Bearer {token}"));
                Ok(())
            }
            other => Err(self.fail(
                step,
                format!("it asks for {other:?} authentication, which docker-cr does not speak"),
                self.login_hint(),
            )),
        }
    }

    fn no_credentials(&self, step: &str) -> Error {
        Error::host(
            format!("no credentials for {} ({step}, repository {})", self.image.registry, self.image.repository),
            self.login_hint(),
        )
    }

    /// A 401 again after answering the first: the credentials do not do.
    fn refused(&self, step: &str) -> Error {
        match self.creds {
            None => self.no_credentials(step),
            Some(_) => self.fail(
                step,
                format!(
                    "the registry refused the credentials ({}) for {} on {}",
                    self.creds_from(),
                    self.access.actions(),
                    self.image.repository
                ),
                self.login_hint(),
            ),
        }
    }

    /// A Bearer token from the challenge's realm for our scopes.
    fn token(&self, step: &str, c: &Challenge) -> Result<String> {
        let realm = c.params.get("realm").cloned().unwrap_or_default();
        if !(realm.starts_with("https://") || (realm.starts_with("http://") && self.base.starts_with("http://"))) {
            return Err(self.fail(
                step,
                format!("its token realm {realm:?} is not an https:// URL; docker-cr sends no credentials there"),
                "check the registry's auth configuration".into(),
            ));
        }
        let service = c.params.get("service").cloned().unwrap_or_default();
        let mut scopes = self.scopes();
        if let Some(s) = c.params.get("scope") {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        let tstep = format!("{step} (token from {realm})");
        let resp = match &self.creds {
            Some((Creds::Token { token }, _)) => {
                let mut form = format!(
                    "grant_type=refresh_token&client_id=docker-cr&service={}&refresh_token={}",
                    urlencode(&service),
                    urlencode(token)
                );
                for s in &scopes {
                    form.push_str(&format!("&scope={}", urlencode(s)));
                }
                self.agent
                    .post(&realm)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .send(form.as_bytes())
            }
            creds => {
                let mut url = with_query(&realm, "service", &service);
                for s in &scopes {
                    url = with_query(&url, "scope", s);
                }
                let mut r = self.agent.get(&url);
                if let Some((Creds::Basic { user, password }, _)) = creds {
                    r = r.header(
                        "Authorization",
                        format!("Basic {}", b64_encode(format!("{user}:{password}").as_bytes())),
                    );
                }
                r.call()
            }
        };
        let mut resp = resp.map_err(|e| self.transport_error(&tstep, e))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap_or_default();
        if status == 401 || status == 403 {
            return Err(self.fail(
                &tstep,
                format!("the token service refused {} ({status}): {}", self.creds_from(), error_message(&body)),
                self.login_hint(),
            ));
        }
        if status != 200 {
            return Err(self.fail(&tstep, format!("{status}: {}", error_message(&body)), "try again later".into()));
        }
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let t: T = serde_json::from_slice(&body).map_err(|e| {
            self.fail(&tstep, format!("the token answer is not JSON: {e}"), "check the registry".into())
        })?;
        let tok = if t.token.is_empty() { t.access_token } else { t.token };
        if tok.is_empty() || !tok.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(self.fail(
                &tstep,
                "the token answer holds no usable token".into(),
                "check the registry".into(),
            ));
        }
        Ok(tok)
    }

    /// One request; on a 401, authorise and (when the body can be sent
    /// again) retry. Small bodies are read into the reply (at most
    /// `max` bytes); `keep_body` hands the response back unread instead.
    fn exchange(
        &mut self,
        step: &str,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        mut body: Body,
        max: u64,
    ) -> Result<(Reply, Option<ureq::http::Response<ureq::Body>>)> {
        for attempt in 0..2 {
            // Credentials go to the registry only (not to a redirect's or an
            // upload Location's other host).
            let same_host = url.strip_prefix(&self.base).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            let mut b = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                b = b.header(*k, v);
            }
            if let (Some(a), true) = (&self.auth, same_host) {
                b = b.header("Authorization", a);
            }
            let sent = match &mut body {
                Body::Empty => {
                    let req = b.body(()).map_err(|e| self.fail(step, e.to_string(), String::new()))?;
                    self.agent.run(req)
                }
                Body::Bytes(bytes, ct) => {
                    let req = b
                        .header("Content-Type", *ct)
                        .body(*bytes)
                        .map_err(|e| self.fail(step, e.to_string(), String::new()))?;
                    self.agent.run(req)
                }
                Body::Stream(r, len) => {
                    if let Some(n) = len {
                        b = b.header("Content-Length", n.to_string());
                    }
                    let req = b
                        .header("Content-Type", "application/octet-stream")
                        .body(ureq::SendBody::from_reader(r))
                        .map_err(|e| self.fail(step, e.to_string(), String::new()))?;
                    self.agent.run(req)
                }
            };
            let mut resp = sent.map_err(|e| self.transport_error(step, e))?;
            let status = resp.status().as_u16();
            let mut headers_out = BTreeMap::new();
            for (k, v) in resp.headers() {
                if let Ok(v) = v.to_str() {
                    headers_out.insert(k.as_str().to_ascii_lowercase(), v.to_string());
                }
            }
            if status == 401 {
                if attempt > 0 {
                    return Err(self.refused(step));
                }
                let challenge = headers_out.get("www-authenticate").cloned();
                if let Body::Stream(..) = body {
                    return Err(self.fail(
                        step,
                        "the registry asked for authentication in the middle of an upload".into(),
                        self.login_hint(),
                    ));
                }
                self.authorise(step, challenge.as_deref())?;
                continue;
            }
            if max == 0 && (200..300).contains(&status) {
                return Ok((Reply { status, headers: headers_out, body: Vec::new() }, Some(resp)));
            }
            let limit = if (200..300).contains(&status) { max.max(1) } else { 64 << 10 };
            let data = resp.body_mut().with_config().limit(limit).read_to_vec();
            let data = match data {
                Ok(d) => d,
                Err(ureq::Error::BodyExceedsLimit(_)) => {
                    return Err(self.fail(
                        step,
                        format!("the answer is larger than the {limit} bytes docker-cr accepts here"),
                        "this is not a checkpoint image".into(),
                    ))
                }
                Err(e) if (200..300).contains(&status) => return Err(self.transport_error(step, e)),
                Err(_) => Vec::new(),
            };
            return Ok((Reply { status, headers: headers_out, body: data }, None));
        }
        Err(self.fail(step, "authentication did not settle".into(), self.login_hint()))
    }

    fn expect(&self, step: &str, r: &Reply, ok: &[u16]) -> Result<()> {
        if ok.contains(&r.status) {
            return Ok(());
        }
        let msg = error_message(&r.body);
        let hint = match r.status {
            401 => self.login_hint(),
            403 => format!(
                "{} may not {} {}: check its permissions, or docker login as another user",
                self.creds_from(),
                self.access.actions(),
                self.image.repository
            ),
            404 => format!("check the name: docker-cr ls {}", self.image.name()),
            _ => "see the registry's log".into(),
        };
        Err(self.fail(step, format!("{} {msg}", r.status), hint))
    }

    /// `GET /v2/`: reachable, speaks the API, and the credentials (if it
    /// asks) hold for our scope.
    pub fn ping(&mut self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let (r, _) = self.exchange("checking the API", "GET", &url, &[], Body::Empty, 64 << 10)?;
        if r.status == 401 {
            return Ok(());
        }
        self.expect("checking the API", &r, &[200])
    }

    /// The manifest or index `reference` (a tag or a digest): its media
    /// type, its bytes and their digest. A digest asked for is checked.
    pub fn manifest(&mut self, reference: &str) -> Result<(String, Vec<u8>, String)> {
        let step = format!("getting the manifest {reference}");
        let url = self.url(&format!("manifests/{reference}"));
        let (r, _) =
            self.exchange(&step, "GET", &url, &[("Accept", oci::ACCEPT.into())], Body::Empty, oci::MAX_MANIFEST)?;
        if r.status == 404 {
            return Err(Error::checkpoint(
                format!("no image {}:{reference} at the registry {}", self.image.repository, self.image.registry),
                format!("check the tag: docker-cr ls {}", self.image.name()),
            ));
        }
        self.expect(&step, &r, &[200])?;
        let digest = oci::digest_of(&r.body);
        if oci::valid_digest(reference) && digest != reference {
            return Err(Error::checkpoint(
                format!("the registry {} answered {reference} with a manifest whose digest is {digest}", self.what()),
                "the registry's content is damaged or was changed; do not use it",
            ));
        }
        let ct = r.headers.get("content-type").cloned().unwrap_or_default();
        Ok((ct, r.body, digest))
    }

    /// Puts a manifest or index under `reference`; returns its digest.
    pub fn put_manifest(&mut self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String> {
        let step = format!("putting the manifest {reference}");
        let url = self.url(&format!("manifests/{reference}"));
        let (r, _) = self.exchange(&step, "PUT", &url, &[], Body::Bytes(bytes, media_type), 64 << 10)?;
        self.expect(&step, &r, &[200, 201])?;
        Ok(oci::digest_of(bytes))
    }

    /// Whether the repository has the blob.
    pub fn has_blob(&mut self, digest: &str) -> Result<bool> {
        let step = format!("checking for the blob {digest}");
        let url = self.url(&format!("blobs/{digest}"));
        let (r, _) = self.exchange(&step, "HEAD", &url, &[], Body::Empty, 64 << 10)?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => self.expect(&step, &r, &[200]).map(|()| false),
        }
    }

    /// Starts an upload; with `mount` (digest, repository) tries to mount
    /// the blob from that repository first. Ok(None): it was mounted.
    fn start_upload(&mut self, mount: Option<(&str, &str)>) -> Result<Option<String>> {
        let step = "starting a blob upload";
        let mut url = self.url("blobs/uploads/");
        if let Some((d, from)) = mount {
            url = with_query(&with_query(&url, "mount", d), "from", from);
        }
        let (r, _) = self.exchange(step, "POST", &url, &[], Body::Bytes(b"", "application/octet-stream"), 64 << 10)?;
        if r.status == 201 && mount.is_some() {
            return Ok(None);
        }
        self.expect(step, &r, &[202])?;
        let loc = r.headers.get("location").cloned().ok_or_else(|| {
            self.fail(step, "the upload's answer has no Location".into(), "check the registry".into())
        })?;
        Ok(Some(absolute(&self.base, &loc)))
    }

    /// Mounts `digest` from `from` (another repository of this registry).
    /// Ok(true): mounted; Ok(false): not there (nothing was started).
    pub fn mount(&mut self, digest: &str, from: &str) -> Result<bool> {
        match self.start_upload(Some((digest, from)))? {
            None => Ok(true),
            Some(loc) => {
                // A registry that does not mount starts an upload instead:
                // cancelled, the caller uploads.
                let _ = self.exchange("cancelling an upload", "DELETE", &loc, &[], Body::Empty, 64 << 10);
                Ok(false)
            }
        }
    }

    /// Uploads `size` bytes of `r` whose digest is `digest` in one PUT
    /// (monolithic), unless the repository has it. Returns whether it sent.
    pub fn upload(&mut self, digest: &str, size: u64, r: &mut dyn Read) -> Result<bool> {
        if self.has_blob(digest)? {
            return Ok(false);
        }
        for from in self.from.clone() {
            if self.mount(digest, &from)? {
                return Ok(false);
            }
        }
        let loc = self.start_upload(None)?.unwrap_or_default();
        let step = format!("uploading the blob {digest} ({size} bytes)");
        let url = with_query(&loc, "digest", digest);
        let mut take = r.take(size);
        let (reply, _) = self.exchange(&step, "PUT", &url, &[], Body::Stream(&mut take, Some(size)), 64 << 10)?;
        self.expect(&step, &reply, &[201])?;
        Ok(true)
    }

    /// Uploads a stream of unknown length (one PATCH, chunked), then
    /// names its digest; returns the digest and size. `r` is read once.
    pub fn upload_stream(&mut self, r: &mut dyn Read) -> Result<(String, u64)> {
        let loc = self.start_upload(None)?.unwrap_or_default();
        let mut h = HashReader { inner: r, sha: <sha2::Sha256 as sha2::Digest>::new(), n: 0 };
        let step = "streaming a blob";
        let sent = self.exchange(step, "PATCH", &loc.clone(), &[], Body::Stream(&mut h, None), 64 << 10);
        let (reply, _) = match sent {
            Ok(x) => x,
            Err(e) => {
                let _ = self.exchange("cancelling an upload", "DELETE", &loc, &[], Body::Empty, 64 << 10);
                return Err(e);
            }
        };
        self.expect(step, &reply, &[202])?;
        let digest = format!("sha256:{}", crate::model::trust::hex(&sha2::Digest::finalize(h.sha)));
        let size = h.n;
        let next = reply.headers.get("location").map(|l| absolute(&self.base, l)).unwrap_or(loc);
        let url = with_query(&next, "digest", &digest);
        let fstep = format!("completing the blob {digest} ({size} bytes)");
        let (reply, _) =
            self.exchange(&fstep, "PUT", &url, &[], Body::Bytes(b"", "application/octet-stream"), 64 << 10)?;
        self.expect(&fstep, &reply, &[201])?;
        Ok((digest, size))
    }

    /// The blob `digest` of `size` bytes, as a reader that fails unless
    /// every byte matches (see `oci::Verified`).
    pub fn blob(&mut self, digest: &str, size: u64) -> Result<oci::Verified<ureq::BodyReader<'static>>> {
        let step = format!("getting the blob {digest}");
        let url = self.url(&format!("blobs/{digest}"));
        let (r, resp) = self.exchange(&step, "GET", &url, &[], Body::Empty, 0)?;
        let Some(resp) = resp else {
            self.expect(&step, &r, &[200])?;
            return Err(self.fail(&step, "no body".into(), String::new()));
        };
        let reader = resp.into_body().into_with_config().limit(size.saturating_add(1)).reader();
        Ok(oci::Verified::new(reader, digest, size, format!("the blob {digest} from {}", self.what())))
    }

    /// The repository's tags (every page).
    pub fn tags(&mut self) -> Result<Vec<String>> {
        let mut url = self.url("tags/list?n=1000");
        let mut tags = Vec::new();
        for _ in 0..100 {
            let step = "listing the tags";
            let (r, _) = self.exchange(step, "GET", &url, &[], Body::Empty, 4 << 20)?;
            if r.status == 404 {
                return Err(Error::checkpoint(
                    format!("the registry {} has no repository {}", self.image.registry, self.image.repository),
                    "check the name (REGISTRY/REPOSITORY)",
                ));
            }
            self.expect(step, &r, &[200])?;
            #[derive(serde::Deserialize)]
            struct L {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let l: L = serde_json::from_slice(&r.body)
                .map_err(|e| self.fail(step, format!("the tag list is not JSON: {e}"), String::new()))?;
            tags.extend(l.tags.unwrap_or_default());
            match r.headers.get("link").and_then(|h| next_link(h)) {
                Some(n) => url = absolute(&self.base, &n),
                None => break,
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }
}

/// Hashes and counts what is read through it.
struct HashReader<'a> {
    inner: &'a mut dyn Read,
    sha: sha2::Sha256,
    n: u64,
}

impl Read for HashReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_both_ways() {
        for (plain, enc) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("user:pa:ss", "dXNlcjpwYTpzcw==")]
        {
            assert_eq!(b64_encode(plain.as_bytes()), enc);
            assert_eq!(b64_decode(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(b64_decode("Zm8").unwrap(), b"fo", "unpadded");
        assert!(b64_decode("Z*").is_none());
    }

    // Issue 20: credentials as the docker CLI resolves them.
    #[test]
    fn credentials_as_the_docker_cli_picks_them() {
        let cfg: DockerConfig = serde_json::from_str(
            r#"{"auths": {
                "127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"},
                "https://reg.example.com/v2/": {"auth": "YTpi"},
                "tok.example.com": {"identitytoken": "rt-1"},
                "https://index.docker.io/v1/": {"auth": "aHViOmh1Yg=="},
                "broken.example.com": {"auth": "bm9jb2xvbg=="}
            },
            "credHelpers": {"ecr.example.com": "ecr-login"}}"#,
        )
        .unwrap();
        let basic = |u: &str, p: &str| Source::File(Creds::Basic { user: u.into(), password: p.into() });
        assert_eq!(lookup(&cfg, "127.0.0.1:5000").unwrap(), basic("user", "pass"));
        assert_eq!(lookup(&cfg, "reg.example.com").unwrap(), basic("a", "b"), "a key with scheme and path");
        assert_eq!(lookup(&cfg, "tok.example.com").unwrap(), Source::File(Creds::Token { token: "rt-1".into() }));
        assert_eq!(lookup(&cfg, "docker.io").unwrap(), basic("hub", "hub"));
        assert_eq!(lookup(&cfg, "ecr.example.com").unwrap(), Source::Helper("ecr-login".into()));
        assert_eq!(lookup(&cfg, "other:5000").unwrap(), Source::None);
        assert!(lookup(&cfg, "broken.example.com").unwrap_err().contains("user:password"));
        let store: DockerConfig =
            serde_json::from_str(r#"{"credsStore": "pass", "auths": {"a": {"auth": "YTpi"}}}"#).unwrap();
        assert_eq!(lookup(&store, "a").unwrap(), Source::Helper("pass".into()), "credsStore wins over auths");
        assert_eq!(
            parse_helper(br#"{"ServerURL":"x","Username":"<token>","Secret":"s"}"#).unwrap(),
            Creds::Token { token: "s".into() }
        );
        assert_eq!(
            parse_helper(br#"{"Username":"u","Secret":"p"}"#).unwrap(),
            Creds::Basic { user: "u".into(), password: "p".into() }
        );
        assert_eq!(config_path(Some("/cfg".as_ref()), Some("/root".as_ref())), PathBuf::from("/cfg/config.json"));
        assert_eq!(config_path(None, Some("/home/u".as_ref())), PathBuf::from("/home/u/.docker/config.json"));
        assert_eq!(
            format!("{:?}", Creds::Basic { user: "u".into(), password: "secret".into() }),
            "Basic(u, <password>)"
        );
    }

    #[test]
    fn challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example.com/token");
        assert_eq!(c.params["scope"], "repository:a/b:pull,push");
        let c = parse_challenge(r#"Basic realm="basic-realm""#).unwrap();
        assert_eq!((c.scheme.as_str(), c.params["realm"].as_str()), ("basic", "basic-realm"));
        let c = parse_challenge(r#"Bearer realm="a\"b", error="invalid_token""#).unwrap();
        assert_eq!(c.params["realm"], "a\"b");
        assert_eq!(c.params["error"], "invalid_token");
        assert!(parse_challenge(r#"Bearer realm="open"#).is_none());
    }

    #[test]
    fn urls_and_error_bodies() {
        assert_eq!(
            absolute("http://h:1", "/v2/x/blobs/uploads/u?_state=s"),
            "http://h:1/v2/x/blobs/uploads/u?_state=s"
        );
        assert_eq!(absolute("http://h:1", "https://other/u"), "https://other/u");
        assert_eq!(with_query("http://h/u?_state=a", "digest", "sha256:ab"), "http://h/u?_state=a&digest=sha256%3Aab");
        assert_eq!(with_query("http://h/u", "n", "1"), "http://h/u?n=1");
        assert_eq!(
            next_link(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(next_link("</a>; rel=\"prev\""), None);
        assert_eq!(
            error_message(br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"x"}]}"#),
            "BLOB_UNKNOWN blob unknown to registry"
        );
        assert_eq!(error_message(b"plain\ntext"), "plaintext");
        assert_eq!(auth_key("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(key_host("https://reg:5000/v2/"), "reg:5000");
    }
}
