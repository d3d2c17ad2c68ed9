//! The handlers: a request that passed the parser becomes a `Reply`. The
//! order of the checks is the security model's (see `auth`): Host and
//! Origin first, then the route (a GET of a change is 405 whoever asks),
//! then who is asking, then, for changes, the CSRF token. Handlers call
//! `serve::ops` only, with plain values.

use std::io::{Read, Write};
use std::sync::Arc;

use serde_json::{json, Value};

use super::auth::{self, Who};
use super::http::Request;
use super::routes::{self, Match, Route};
use super::{ops, App};
use crate::error::Error;
use crate::formats::archive::Compression;

pub const INDEX: &str = include_str!("ui/index.html");
pub const APP_JS: &str = include_str!("ui/app.js");
pub const STYLE: &str = include_str!("ui/style.css");
pub const ICON: &str = include_str!("ui/icon.svg");

/// The most a JSON body may hold.
pub const MAX_JSON: u64 = 64 << 10;

pub type Writer<'a> = Box<dyn FnOnce(&mut dyn Write) -> crate::error::Result<()> + 'a>;

pub enum Reply<'a> {
    Json(u16, Value),
    /// Pre-encoded JSON (a cached list).
    Encoded(u16, Arc<Vec<u8>>),
    Page {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    Redirect {
        location: &'static str,
        cookie: String,
    },
    Stream {
        content_type: &'static str,
        filename: String,
        write: Writer<'a>,
    },
    Events,
}

impl std::fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reply({})", self.status())
    }
}

impl Reply<'_> {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Json(s, _) | Reply::Encoded(s, _) | Reply::Page { status: s, .. } => *s,
            Reply::Redirect { .. } => 303,
            Reply::Stream { .. } | Reply::Events => 200,
        }
    }
}

pub fn error_json(status: u16, error: &str, hint: &str) -> Value {
    json!({ "status": status, "error": error, "hint": hint })
}

fn refuse(status: u16, msg: &str) -> Reply<'static> {
    Reply::Json(status, error_json(status, msg, ""))
}

/// The HTTP status of an operation's error. `Error::kind()` of the
/// restructuring replaces this match on variants.
pub fn status_of(e: &Error) -> u16 {
    match e.root() {
        Error::Usage(_) => 400,
        Error::Container { .. } => 409,
        Error::Checkpoint { what, .. } if what.starts_with("no checkpoint") => 404,
        Error::Checkpoint { .. } => 409,
        Error::Docker { status: 404, .. } => 404,
        Error::Host { .. } | Error::Engine { .. } | Error::Interrupted => 503,
        _ => 500,
    }
}

pub fn from_error(e: &Error) -> Reply<'static> {
    let s = status_of(e);
    Reply::Json(s, error_json(s, &e.to_string(), &e.hint().unwrap_or_default()))
}

/// The JSON body of a POST: typed, bounded, and an object.
fn json_body(req: &Request, body: &mut dyn Read) -> Result<Value, Reply<'static>> {
    let ct = req.header("content-type").unwrap_or("");
    if !ct.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")) {
        return Err(refuse(415, "send the body as application/json"));
    }
    let n = req.content_length.unwrap_or(0);
    if n > MAX_JSON {
        return Err(refuse(413, "the JSON body is too large"));
    }
    let mut buf = Vec::with_capacity(n as usize);
    if body.take(n).read_to_end(&mut buf).is_err() || buf.len() as u64 != n {
        return Err(refuse(400, "the body ended early"));
    }
    if buf.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&buf) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(refuse(400, "the body must be a JSON object")),
        Err(e) => Err(refuse(400, &format!("malformed JSON: {e}"))),
    }
}

fn opt_str(v: &Value, k: &str) -> Result<Option<String>, Reply<'static>> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(refuse(400, &format!("'{k}' must be a string"))),
    }
}

fn opt_bool(v: &Value, k: &str, default: bool) -> Result<bool, Reply<'static>> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(refuse(400, &format!("'{k}' must be true or false"))),
    }
}

/// keep / older_than of a prune, from a query or a body.
fn prune_args(keep: Option<String>, older: Option<String>) -> Result<(Option<usize>, Option<u64>), Reply<'static>> {
    let keep = match keep.filter(|s| !s.is_empty()) {
        None => None,
        Some(k) => Some(k.parse::<usize>().map_err(|_| refuse(400, "keep must be a number"))?),
    };
    let older = match older.filter(|s| !s.is_empty()) {
        None => None,
        Some(d) => Some(crate::store::parse_duration(&d).map_err(|e| refuse(400, &e))?),
    };
    Ok((keep, older))
}

fn prune_body(v: &Value) -> Result<(Option<String>, Option<String>), Reply<'static>> {
    let keep = match v.get("keep") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => opt_str(v, "keep")?,
    };
    Ok((keep, opt_str(v, "older_than")?))
}

fn index(app: &App) -> Reply<'static> {
    Reply::Page {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: INDEX.replace("{{CSRF}}", &app.secrets.csrf).into_bytes(),
    }
}

const LOGIN_PAGE: &str = "<!doctype html><html lang=en><meta charset=utf-8><title>docker-cr</title>\
<h1>docker-cr serve</h1><p>Not logged in. Open the address with the token that <code>docker-cr serve</code> \
printed when it started (<code>http://…/?token=…</code>).</p></html>";

fn with_cache(app: &App, key: usize, f: impl FnOnce() -> Result<Value, Error>) -> Reply<'static> {
    let (s, b) = app.cache.get(key, || match f() {
        Ok(v) => (200, serde_json::to_vec(&v).unwrap_or_default()),
        Err(e) => {
            let s = status_of(&e);
            (s, serde_json::to_vec(&error_json(s, &e.to_string(), &e.hint().unwrap_or_default())).unwrap_or_default())
        }
    });
    Reply::Encoded(s, b)
}

/// One request → its reply. `body` yields exactly the request's body.
pub fn handle<'a>(app: &'a App, req: &Request, body: &mut dyn Read) -> Reply<'a> {
    if let Err((s, m)) = auth::check_origin(req, &app.origins) {
        return refuse(s, m);
    }
    let route = match routes::route(&req.method, &req.path) {
        Match::Found(r) => r,
        Match::WrongMethod(allow) => {
            return Reply::Json(
                405,
                json!({"status": 405, "error": format!("use {allow} here"), "hint": "", "allow": allow}),
            )
        }
        Match::NotFound => return refuse(404, "no such page or API"),
    };
    let who = auth::who(req, &app.origins, &app.secrets);
    if route == Route::Index && auth::login_ok(req, &app.secrets) {
        return Reply::Redirect { location: "/", cookie: app.origins.set_cookie(&app.secrets) };
    }
    if who == Who::Nobody {
        return if route == Route::Index {
            Reply::Page { status: 401, content_type: "text/html; charset=utf-8", body: LOGIN_PAGE.as_bytes().to_vec() }
        } else {
            refuse(401, "not logged in: open the URL docker-cr serve printed, or send Authorization: Bearer TOKEN")
        };
    }
    if route.changes_state() {
        if let Err((s, m)) = auth::check_change(req, who, &app.secrets) {
            return refuse(s, m);
        }
        if app.stopping() {
            return refuse(503, "the server is stopping");
        }
    }
    dispatch(app, req, route, body)
}

fn dispatch<'a>(app: &'a App, req: &Request, route: Route, body: &mut dyn Read) -> Reply<'a> {
    let s = app.session();
    let g = &s;
    match route {
        Route::Index => index(app),
        Route::Asset(a) => {
            let (ct, text) = match a {
                "app.js" => ("text/javascript; charset=utf-8", APP_JS),
                "icon.svg" => ("image/svg+xml", ICON),
                _ => ("text/css; charset=utf-8", STYLE),
            };
            Reply::Page { status: 200, content_type: ct, body: text.as_bytes().to_vec() }
        }
        Route::Host => with_cache(app, super::C_HOST, || Ok(json!({ "items": ops::host(g) }))),
        Route::Containers => with_cache(app, super::C_CONTAINERS, || {
            let mut rows = serde_json::to_value(ops::containers(g)?).unwrap_or_default();
            for r in rows.as_array_mut().into_iter().flatten() {
                let name = r["name"].as_str().unwrap_or("").to_string();
                r["busy_job"] = json!(app.jobs.busy(&name));
            }
            Ok(rows)
        }),
        Route::Checkpoints => {
            with_cache(app, super::C_CHECKPOINTS, || Ok(serde_json::to_value(ops::checkpoints(g)?).unwrap_or_default()))
        }
        Route::Checkpoint { container, name } => match ops::details(g, &container, &name) {
            Ok(v) => Reply::Json(200, v),
            Err(e) => from_error(&e),
        },
        Route::Log { container, name } => match ops::log(g, &container, &name) {
            Ok(t) => Reply::Page { status: 200, content_type: "text/plain; charset=utf-8", body: t.into_bytes() },
            Err(e) => from_error(&e),
        },
        Route::Archive { container, name } => {
            let c = match req.param("compress").as_deref().unwrap_or("zstd") {
                "none" => Compression::None,
                other => match Compression::parse(other) {
                    Some(c) => c,
                    None => return refuse(400, "compress: pick from zstd, gzip, none"),
                },
            };
            // Checked before the 200 goes out: afterwards only a cut
            // stream can tell the client something went wrong.
            if let Err(e) = ops::valid("container name", &container)
                .and_then(|()| ops::valid("checkpoint name", &name))
                .and_then(|()| g.store.find(&container, Some(&name)).map(|_| ()))
            {
                return from_error(&e);
            }
            let filename = ops::archive_name(&container, &name, c);
            Reply::Stream {
                content_type: "application/octet-stream",
                filename,
                write: Box::new(move |w| ops::export(&app.session(), &container, &name, c, w).map(|_| ())),
            }
        }
        Route::RestorePlan { container, name } => {
            let on = |k: &str| req.param(k).is_some_and(|v| v == "1" || v == "true");
            let o = ops::RestoreOpts {
                name: req.param("name").filter(|n| !n.is_empty()),
                publish: req.param("publish").unwrap_or_default().split([',', ' ']).map(str::to_string).collect(),
                trust: on("trust"),
                allow_host_access: on("allow_host_access"),
                unpause: on("unpause"),
            };
            match ops::restore_plan(g, &container, &name, &o) {
                Ok(v) => Reply::Json(200, v),
                Err(e) => from_error(&e),
            }
        }
        Route::Diff => {
            let (Some(a), Some(b)) = (req.param("a"), req.param("b")) else {
                return refuse(400, "name two checkpoints: ?a=CONTAINER/NAME&b=CONTAINER/NAME");
            };
            match ops::diff(g, &a, &b) {
                Ok(d) => Reply::Json(200, serde_json::to_value(d).unwrap_or_default()),
                Err(e) => from_error(&e),
            }
        }
        Route::PrunePlan => {
            let (keep, older) = match prune_args(req.param("keep"), req.param("older_than")) {
                Ok(x) => x,
                Err(r) => return r,
            };
            let container = req.param("container").filter(|c| !c.is_empty());
            match ops::prune_plan(g, container.as_deref(), keep, older) {
                Ok(es) => Reply::Json(200, json!({ "remove": es.iter().map(|e| e.reference()).collect::<Vec<_>>() })),
                Err(e) => from_error(&e),
            }
        }
        Route::Jobs => Reply::Json(200, serde_json::to_value(app.jobs.list()).unwrap_or_default()),
        Route::Job(id) => match app.jobs.get(id) {
            Some(j) => Reply::Json(200, serde_json::to_value(j).unwrap_or_default()),
            None => refuse(404, "no such job"),
        },
        Route::Events => Reply::Events,
        Route::Cancel(id) => {
            if app.jobs.cancel(id) {
                Reply::Json(202, json!({ "cancelled": id }))
            } else {
                refuse(409, "no such running operation")
            }
        }
        Route::Delete { container, name } => {
            let r = ops::delete(g, &container, &name);
            app.cache.invalidate();
            match r {
                Ok(()) => Reply::Json(200, json!({ "removed": format!("{container}/{name}") })),
                Err(e) => from_error(&e),
            }
        }
        Route::Prune => {
            let v = match json_body(req, body) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let parsed =
                prune_body(&v).and_then(|(k, o)| prune_args(k, o)).and_then(|ko| Ok((ko, opt_str(&v, "container")?)));
            let ((keep, older), container) = match parsed {
                Ok(x) => x,
                Err(r) => return r,
            };
            let r = ops::prune(g, container.as_deref(), keep, older);
            app.cache.invalidate();
            match r {
                Ok((done, failed)) => Reply::Json(
                    if failed.is_empty() { 200 } else { 409 },
                    json!({ "removed": done, "failed": failed.iter().map(|(r, e)| json!({"reference": r, "error": e})).collect::<Vec<_>>() }),
                ),
                Err(e) => from_error(&e),
            }
        }
        Route::Upload => upload(app, req, body),
        Route::CreateCheckpoint => {
            let v = match json_body(req, body) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let parsed = (|| {
                let container = opt_str(&v, "container")?.ok_or_else(|| refuse(400, "name the container"))?;
                let o = ops::CheckpointOpts {
                    name: opt_str(&v, "name")?,
                    stop: opt_bool(&v, "stop", false)?,
                    tcp_established: opt_bool(&v, "tcp_established", true)?,
                    ext_unix_sk: opt_bool(&v, "ext_unix_sk", true)?,
                    file_locks: opt_bool(&v, "file_locks", true)?,
                };
                Ok((container, o))
            })();
            let (container, o) = match parsed {
                Ok(x) => x,
                Err(r) => return r,
            };
            let prepared = ops::container_name(g, &container).and_then(|c| Ok((c, ops::checkpoint_name(&o)?)));
            let (cname, name) = match prepared {
                Ok(x) => x,
                Err(e) => return from_error(&e),
            };
            let probe = Box::new(ops::checkpoint_probe(g, &cname, &name));
            let (parts, cache) = (app.parts(), Arc::clone(&app.cache));
            let what = format!("{cname} → {cname}/{name}");
            let n2 = name.clone();
            start_job(app, "checkpoint", &cname, what, Some(probe), move |out, cancel| {
                let r = ops::checkpoint(&parts.session(out, cancel), &container, &n2, &o);
                cache.invalidate();
                r
            })
        }
        Route::Restore { container, name } => {
            let v = match json_body(req, body) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let parsed = (|| {
                let publish = match v.get("publish") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
                    Some(Value::String(s)) => s.split([',', ' ']).map(str::to_string).collect(),
                    Some(_) => return Err(refuse(400, "'publish' must be a list of port specs")),
                };
                Ok(ops::RestoreOpts {
                    name: opt_str(&v, "name")?,
                    publish,
                    trust: opt_bool(&v, "trust", false)?,
                    allow_host_access: opt_bool(&v, "allow_host_access", false)?,
                    unpause: opt_bool(&v, "unpause", false)?,
                })
            })();
            let o = match parsed {
                Ok(o) => o,
                Err(r) => return r,
            };
            if let Err(e) = ops::valid("container name", &container).and_then(|()| ops::valid("checkpoint name", &name))
            {
                return from_error(&e);
            }
            // The container a restore changes: the clone's name, else the
            // checkpoint's own.
            let target = o.name.clone().unwrap_or_else(|| container.clone());
            let (parts, cache) = (app.parts(), Arc::clone(&app.cache));
            let what = format!("{container}/{name} → {target}");
            start_job(app, "restore", &target, what, None, move |out, cancel| {
                let r = ops::restore(&parts.session(out, cancel), &container, &name, &o);
                cache.invalidate();
                r
            })
        }
        Route::Migrate => {
            let v = match json_body(req, body) {
                Ok(v) => v,
                Err(r) => return r,
            };
            let parsed = (|| {
                let c = opt_str(&v, "container")?.ok_or_else(|| refuse(400, "name the container"))?;
                let d = opt_str(&v, "dest")?.ok_or_else(|| refuse(400, "name the destination host"))?;
                Ok((c, d, opt_str(&v, "name")?))
            })();
            let (container, dest, name) = match parsed {
                Ok(x) => x,
                Err(r) => return r,
            };
            if !ops::valid_dest(&dest) {
                return refuse(400, "invalid destination: a host name, user@host or an address");
            }
            let (parts, cache, transport) = (app.parts(), Arc::clone(&app.cache), app.cfg.transport.clone());
            let what = format!("{container} → {dest}");
            let c2 = container.clone();
            start_job(app, "migrate", &container, what, None, move |out, cancel| {
                let r = ops::migrate(&parts.session(out, cancel), &c2, &dest, &transport, name.as_deref());
                cache.invalidate();
                r
            })
        }
    }
}

fn start_job<'a>(
    app: &'a App,
    kind: &'static str,
    container: &str,
    what: String,
    probe: Option<super::jobs::Probe>,
    work: impl FnOnce(crate::report::Out, crate::session::Cancel) -> crate::error::Result<Value> + Send + 'static,
) -> Reply<'a> {
    match app.jobs.start(kind, container, what, probe, work) {
        Ok(id) => Reply::Json(202, json!({ "job": id })),
        Err(super::jobs::Refused::Busy(m)) => refuse(409, &m),
        Err(super::jobs::Refused::Full(n)) => {
            refuse(503, &format!("{n} operations are running; try again when one is done"))
        }
    }
}

fn upload<'a>(app: &'a App, req: &Request, body: &mut dyn Read) -> Reply<'a> {
    let Some(n) = req.content_length else {
        return refuse(411, "send the archive with a Content-Length");
    };
    if n > app.cfg.max_upload {
        return Reply::Json(
            413,
            error_json(
                413,
                &format!(
                    "the archive is {} MiB, more than this server accepts ({} MiB)",
                    n >> 20,
                    app.cfg.max_upload >> 20
                ),
                "start docker-cr serve with a larger --max-upload",
            ),
        );
    }
    let name = req.param("name").filter(|s| !s.is_empty());
    let r = ops::import(&app.session(), body, name.as_deref());
    app.cache.invalidate();
    match r {
        Ok(v) => Reply::Json(201, v),
        Err(e) => from_error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_statuses() {
        assert_eq!(status_of(&Error::Usage("x".into())), 400);
        assert_eq!(status_of(&Error::container("busy", "").step("checkpoint of web")), 409);
        assert_eq!(status_of(&Error::checkpoint("no checkpoint x of container web", "")), 404);
        assert_eq!(status_of(&Error::checkpoint("damaged", "")), 409);
        assert_eq!(status_of(&Error::host("no engine", "")), 503);
        assert_eq!(status_of(&Error::Interrupted), 503);
        let e = error_json(409, "busy", "wait");
        assert_eq!(e.to_string(), r#"{"error":"busy","hint":"wait","status":409}"#);
    }

    #[test]
    fn bodies() {
        let req = |ct: &str, n: u64| Request {
            method: "POST".into(),
            path: "/api/prune".into(),
            query: String::new(),
            minor: 1,
            headers: vec![("content-type".into(), ct.into())],
            content_length: Some(n),
        };
        let ok = json_body(&req("application/json; charset=utf-8", 10), &mut &b"{\"keep\":2}"[..]).unwrap();
        assert_eq!(ok["keep"], 2);
        let st = |r: Result<Value, Reply>| r.err().map(|r| r.status());
        assert_eq!(st(json_body(&req("text/plain", 2), &mut &b"{}"[..])), Some(415));
        assert_eq!(st(json_body(&req("application/json", 5), &mut &b"{\"a\":"[..])), Some(400), "malformed");
        assert_eq!(st(json_body(&req("application/json", 2), &mut &b"[]"[..])), Some(400), "not an object");
        assert_eq!(st(json_body(&req("application/json", 9), &mut &b"{}"[..])), Some(400), "cut short");
        assert_eq!(st(json_body(&req("application/json", MAX_JSON + 1), &mut &b""[..])), Some(413));
        assert_eq!(json_body(&req("application/json", 0), &mut &b""[..]).unwrap(), json!({}));
        let v = json!({"keep": 3, "older_than": "7d", "stop": "yes"});
        assert_eq!(prune_body(&v).and_then(|(k, o)| prune_args(k, o)).ok(), Some((Some(3), Some(7 * 86400))));
        assert_eq!(opt_bool(&v, "stop", false).err().map(|r| r.status()), Some(400));
        assert_eq!(prune_args(Some("x".into()), None).err().map(|r| r.status()), Some(400));
    }
}
