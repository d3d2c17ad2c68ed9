//! The routes of `serve`: method and path → what to do, pure. Reads are
//! GET; everything that changes state (a container, the store, a job) is
//! POST, and a GET of it is 405, never a change.
//!
//! ```text
//! GET  /                                   the page (or the login, with ?token=)
//! GET  /ui/app.js /ui/style.css            its script and style
//! GET  /api/host                           check's items with their fixes
//! GET  /api/containers                     every container, checkpointable or why not
//! GET  /api/checkpoints                    the store, as `ls --format json`
//! GET  /api/checkpoints/C/N                inspect: process tree, sockets, timings, stats
//! GET  /api/checkpoints/C/N/log            CRIU's dump log
//! GET  /api/checkpoints/C/N/archive        the archive, streamed (?compress=zstd|gzip|none)
//! GET  /api/checkpoints/C/N/restore-plan   restore --dry-run (?name=&publish=&trust=&allow_host_access=&unpause=)
//! GET  /api/diff?a=C/N&b=C/N               two checkpoints side by side
//! GET  /api/prune-plan?keep=&older_than=&container=   what prune would remove
//! GET  /api/jobs  /api/jobs/ID             operations started here
//! GET  /api/events                         server-sent events
//! POST /api/checkpoints                    checkpoint (JSON: container, name, options)
//! POST /api/checkpoints/C/N/restore        restore (JSON: name, publish, trust, ...)
//! POST /api/checkpoints/C/N/delete         rm
//! POST /api/prune                          prune (JSON: keep, older_than, container)
//! POST /api/upload?name=N                  import an archive (the body) into the store
//! POST /api/migrate                        migrate (JSON: container, dest, ...)
//! POST /api/jobs/ID/cancel                 stop a running operation
//! ```

use super::http::segments;

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Index,
    Asset(&'static str),
    Host,
    Containers,
    Checkpoints,
    Checkpoint { container: String, name: String },
    Log { container: String, name: String },
    Archive { container: String, name: String },
    RestorePlan { container: String, name: String },
    Diff,
    PrunePlan,
    Jobs,
    Job(u64),
    Events,
    // State changes: POST only.
    CreateCheckpoint,
    Restore { container: String, name: String },
    Delete { container: String, name: String },
    Prune,
    Upload,
    Migrate,
    Cancel(u64),
}

impl Route {
    pub fn changes_state(&self) -> bool {
        matches!(
            self,
            Route::CreateCheckpoint
                | Route::Restore { .. }
                | Route::Delete { .. }
                | Route::Prune
                | Route::Upload
                | Route::Migrate
                | Route::Cancel(_)
        )
    }
    /// The one method it answers to.
    pub fn method(&self) -> &'static str {
        if self.changes_state() {
            "POST"
        } else {
            "GET"
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum Match {
    Found(Route),
    /// The path exists, with another method (the `Allow` header's value).
    WrongMethod(&'static str),
    NotFound,
}

/// The assets embedded in the binary, by path.
pub const ASSETS: &[&str] = &["app.js", "style.css", "icon.svg"];

fn find(path: &str) -> Option<Route> {
    let segs = segments(path)?;
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let cn = |c: &str, n: &str| (c.to_string(), n.to_string());
    Some(match s.as_slice() {
        [] | ["login"] => Route::Index,
        ["ui", a] => Route::Asset(ASSETS.iter().find(|x| *x == a)?),
        ["api", "host"] => Route::Host,
        ["api", "containers"] => Route::Containers,
        ["api", "checkpoints"] => Route::Checkpoints,
        ["api", "checkpoints", c, n] => {
            let (container, name) = cn(c, n);
            Route::Checkpoint { container, name }
        }
        ["api", "checkpoints", c, n, what] => {
            let (container, name) = cn(c, n);
            match *what {
                "log" => Route::Log { container, name },
                "archive" => Route::Archive { container, name },
                "restore-plan" => Route::RestorePlan { container, name },
                "restore" => Route::Restore { container, name },
                "delete" => Route::Delete { container, name },
                _ => return None,
            }
        }
        ["api", "diff"] => Route::Diff,
        ["api", "prune-plan"] => Route::PrunePlan,
        ["api", "prune"] => Route::Prune,
        ["api", "upload"] => Route::Upload,
        ["api", "migrate"] => Route::Migrate,
        ["api", "jobs"] => Route::Jobs,
        ["api", "jobs", id] => Route::Job(id.parse().ok()?),
        ["api", "jobs", id, "cancel"] => Route::Cancel(id.parse().ok()?),
        ["api", "events"] => Route::Events,
        _ => return None,
    })
}

/// `POST /api/checkpoints` and `GET /api/checkpoints` share a path: the
/// method picks the route.
pub fn route(method: &str, path: &str) -> Match {
    let Some(r) = find(path) else { return Match::NotFound };
    let r = match (r, method) {
        (Route::Checkpoints, "POST") => Route::CreateCheckpoint,
        (r, _) => r,
    };
    if r == Route::Checkpoints && method != "GET" {
        return Match::WrongMethod("GET, POST");
    }
    if r.method() == method {
        Match::Found(r)
    } else if r == Route::CreateCheckpoint {
        Match::WrongMethod("GET, POST")
    } else {
        Match::WrongMethod(r.method())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(m: &str, p: &str) -> Route {
        match route(m, p) {
            Match::Found(r) => r,
            other => panic!("{m} {p}: {other:?}"),
        }
    }

    #[test]
    fn reads() {
        assert_eq!(found("GET", "/"), Route::Index);
        assert_eq!(found("GET", "/login"), Route::Index);
        assert_eq!(found("GET", "/ui/app.js"), Route::Asset("app.js"));
        assert_eq!(found("GET", "/api/checkpoints/"), Route::Checkpoints);
        assert_eq!(
            found("GET", "/api/checkpoints/web/20261203T101010.000Z"),
            Route::Checkpoint { container: "web".into(), name: "20261203T101010.000Z".into() }
        );
        assert_eq!(
            found("GET", "/api/checkpoints/w%2Db/n/log"),
            Route::Log { container: "w-b".into(), name: "n".into() }
        );
        assert_eq!(found("GET", "/api/jobs/12"), Route::Job(12));
        assert_eq!(found("GET", "/api/events"), Route::Events);
    }

    #[test]
    fn changes_are_post_only() {
        assert_eq!(found("POST", "/api/checkpoints"), Route::CreateCheckpoint);
        assert_eq!(
            found("POST", "/api/checkpoints/web/cp/delete"),
            Route::Delete { container: "web".into(), name: "cp".into() }
        );
        assert_eq!(found("POST", "/api/jobs/3/cancel"), Route::Cancel(3));
        for p in [
            "/api/checkpoints/web/cp/delete",
            "/api/checkpoints/web/cp/restore",
            "/api/prune",
            "/api/upload",
            "/api/migrate",
            "/api/jobs/3/cancel",
        ] {
            assert_eq!(route("GET", p), Match::WrongMethod("POST"), "{p}");
            assert!(found("POST", p).changes_state(), "{p}");
        }
        assert_eq!(route("DELETE", "/api/checkpoints"), Match::WrongMethod("GET, POST"));
        assert_eq!(route("POST", "/api/host"), Match::WrongMethod("GET"));
        assert_eq!(route("POST", "/api/prune-plan"), Match::WrongMethod("GET"), "a preview is a read");
        assert!(!found("GET", "/api/checkpoints/a/b/restore-plan").changes_state());
    }

    #[test]
    fn unknown_paths() {
        for p in [
            "/x",
            "/ui/secret.txt",
            "/ui/../api/host",
            "/api/checkpoints/a/b/c/d",
            "/api/jobs/x",
            "/api/checkpoints/a/%2e%2e/log",
            "/api/checkpoints/a/b/rm",
        ] {
            assert_eq!(route("GET", p), Match::NotFound, "{p}");
        }
    }
}
