//! `checkpoint --all` and `restore --all`: the reboot / kernel-update
//! workflow. Plan first (which containers, which are skipped and why: pure),
//! then run each plan item as an ordinary checkpoint or restore, `--jobs` at
//! a time, each on its own: one failure does not stop the others. The
//! summary says what happened to each; the exit status is 7 if any failed.
//!
//! Concurrency is safe here because everything a run shares with another is
//! already locked: each container has its lock (state.rs), restores take
//! /run/docker-cr.lock around runc.conf and the engine's start, and a
//! checkpoint's CRIU writes only into its own directory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use crate::engine::docker::Engine;
use crate::error::{Error, Result};
use crate::ops::checkpoint;
use crate::ops::restore;
use crate::session::Session;
use crate::store::{self, Entry, Location};

/// How `--all` runs: how many at a time.
#[derive(Debug, PartialEq, Clone, Copy, serde::Serialize)]
pub struct Pool {
    pub jobs: usize,
}

/// What happened to one container.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Done(String),
    Skipped(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub status: Status,
    /// The `--print-stats` object, when done.
    pub stats: Option<Value>,
}

/// One container to work on, or the reason to skip it.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned<T> {
    pub name: String,
    pub todo: std::result::Result<T, String>,
}

/// Which running containers `checkpoint --all` dumps (their IDs), from
/// their inspect data; the others with the reason. Pure.
pub fn plan_checkpoints(inspected: &[Value], storage: &str) -> Vec<Planned<String>> {
    let mut out: Vec<Planned<String>> = inspected
        .iter()
        .map(|c| {
            let name = c["Name"].as_str().unwrap_or("").trim_start_matches('/').to_string();
            let id = c["Id"].as_str().unwrap_or("").to_string();
            let todo = checkpoint::check_container(c, &name, storage).map(|()| id).map_err(|e| e.to_string());
            Planned { name, todo }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Which checkpoints `restore --all` restores: the newest of each
/// container in the store, unless a container of that name runs
/// (`running(name)`). Pure.
pub fn plan_restores<'a>(entries: &'a [Entry], running: &dyn Fn(&str) -> bool) -> Vec<Planned<&'a Entry>> {
    let mut keys: Vec<&str> = entries.iter().map(|e| e.key()).collect();
    keys.dedup();
    keys.into_iter()
        .map(|k| {
            let mine: Vec<&Entry> = entries.iter().filter(|e| e.key() == k && !e.is_group()).collect();
            if mine.is_empty() {
                // Only group checkpoints: restored as groups, never one by one.
                let todo = Err(format!("group checkpoints: restore them with 'docker-cr restore --group {k}'"));
                return Planned { name: k.to_string(), todo };
            }
            let todo = match store::newest(mine.iter().copied()) {
                None => Err(format!("none of its {} checkpoints can be read (docker-cr ls {k})", mine.len())),
                Some(_) if running(k) => Err(format!("container {k} is running")),
                Some(e) => Ok(e),
            };
            Planned { name: k.to_string(), todo }
        })
        .collect()
}

/// Runs `f` on every item, `jobs` at a time; results in the items' order.
pub fn pool<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}

/// The summary lines and the final count. Pure.
pub fn summary(items: &[Item], verb: &str, secs: f64, jobs: usize) -> String {
    let w = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    let (mut done, mut skipped, mut failed) = (0, 0, 0);
    for i in items {
        let (word, what) = match &i.status {
            Status::Done(s) => {
                done += 1;
                (verb, s)
            }
            Status::Skipped(s) => {
                skipped += 1;
                ("skipped", s)
            }
            Status::Failed(s) => {
                failed += 1;
                ("FAILED", s)
            }
        };
        let first = what.lines().next().unwrap_or("");
        out.push_str(&format!("{:<w$}  {word:<12}  {first}\n", i.name));
    }
    out.push_str(&format!(
        "{} containers: {done} {verb}, {skipped} skipped, {failed} failed in {secs:.1} s ({jobs} at a time)\n",
        items.len()
    ));
    out
}

fn json_items(items: &[Item], total_us: u64, key: &str) -> Value {
    let list: Vec<Value> = items
        .iter()
        .map(|i| {
            let mut v = i.stats.clone().unwrap_or_else(|| json!({ "Name": i.name }));
            let (status, reason) = match &i.status {
                Status::Done(_) => ("done", None),
                Status::Skipped(r) => ("skipped", Some(r)),
                Status::Failed(r) => ("failed", Some(r)),
            };
            v["status"] = json!(status);
            if let Some(r) = reason {
                v["reason"] = json!(r);
            }
            v
        })
        .collect();
    json!({ key: total_us, "container_statistics": list })
}

fn finish(
    session: &Session,
    json: bool,
    items: &[Item],
    verb: &str,
    t0: Instant,
    jobs: usize,
    key: &str,
) -> Result<()> {
    if json {
        let v = json_items(items, t0.elapsed().as_micros() as u64, key);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if !session.out.is_quiet() || items.iter().any(|i| matches!(i.status, Status::Failed(_))) {
        print!("{}", summary(items, verb, t0.elapsed().as_secs_f64(), jobs));
    }
    let failed: Vec<&str> =
        items.iter().filter(|i| matches!(i.status, Status::Failed(_))).map(|i| i.name.as_str()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::Partial(format!(
        "{} of {} containers failed ({}); the others are done, see the summary",
        failed.len(),
        items.len(),
        failed.join(", ")
    )))
}

fn error_text(e: &Error) -> String {
    match e.hint() {
        Some(h) => format!("{e} (hint: {h})"),
        None => e.to_string(),
    }
}

fn engine(session: &Session) -> Result<(&Engine, String)> {
    crate::host::require_root()?;
    let engine = session.engine()?;
    let storage = engine.info()?.get("Driver").and_then(Value::as_str).unwrap_or("").to_string();
    Ok((engine, storage))
}

/// Progress as each container finishes (unless --quiet).
fn tell(session: &Session, name: &str, what: &str) {
    session.out.step(format!("{name}: {what}"));
}

/// `--all --dry-run`: each item's plan, and what the summary would say;
/// `previews`: (name, Ok(the plan's text, its first refusal) | Err(skipped)).
fn print_previews(
    json: bool,
    verb: &str,
    previews: Vec<(String, std::result::Result<crate::ops::Preview, String>)>,
) -> Result<()> {
    let mut items = Vec::new();
    let mut docs = Vec::new();
    for (name, p) in previews {
        let status = match p {
            Err(why) => Status::Skipped(why),
            Ok((text, doc, refusal)) => {
                if !json {
                    print!("{text}");
                }
                docs.push(doc);
                match refusal {
                    Some(e) => Status::Failed(error_text(&e)),
                    None => Status::Done(format!("would be {verb}")),
                }
            }
        };
        items.push(Item { name, status, stats: None });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&Value::Array(docs)).unwrap_or_default());
    } else {
        print!(
            "{}",
            summary(&items, &format!("would be {verb}"), 0.0, 1)
                .replace(" in 0.0 s (1 at a time)", " (--dry-run: nothing was changed)")
        );
    }
    let failed: Vec<&str> =
        items.iter().filter(|i| matches!(i.status, Status::Failed(_))).map(|i| i.name.as_str()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::Partial(format!(
        "{} of {} containers would fail ({}); see each plan above",
        failed.len(),
        items.len(),
        failed.join(", ")
    )))
}

/// `checkpoint --all [--stop]`: each running container with `a`'s options.
pub fn checkpoint(session: &Session, a: &checkpoint::Options, pool_of: Pool, json: bool) -> Result<()> {
    session.cancel.arm();
    let t0 = Instant::now();
    let (engine, storage) = engine(session)?;
    if a.dry_run {
        let mut inspected = Vec::new();
        for c in engine.running()? {
            if let Some(v) = engine.inspect(c["Id"].as_str().unwrap_or(""))? {
                inspected.push(v);
            }
        }
        let previews = plan_checkpoints(&inspected, &storage)
            .into_iter()
            .map(|p| {
                let r = p.todo.map(|id| {
                    let one = checkpoint::Options { container: id, to: Location::Store(None), ..a.clone() };
                    checkpoint::preview(session, &one).unwrap_or_else(|e| (String::new(), Value::Null, Some(e)))
                });
                (p.name, r)
            })
            .collect();
        return print_previews(json, "checkpointed", previews);
    }
    let mut inspected = Vec::new();
    for c in engine.running()? {
        let id = c["Id"].as_str().unwrap_or("");
        if let Some(v) = engine.inspect(id)? {
            inspected.push(v);
        }
    }
    let plan = plan_checkpoints(&inspected, &storage);
    let inner = session.quiet();
    let items = pool(&plan, pool_of.jobs, |p| {
        let status = match &p.todo {
            Err(why) => Status::Skipped(why.clone()),
            Ok(id) => {
                let one = checkpoint::Options { container: id.clone(), to: Location::Store(None), ..a.clone() };
                match checkpoint::run(&inner, &one) {
                    Ok(o) => {
                        let what = format!("{}/{}", p.name, o.dir.file_name().unwrap_or_default().to_string_lossy());
                        tell(
                            session,
                            &p.name,
                            &format!("checkpointed as {what} in {} ms", o.manifest.timings_ms.total),
                        );
                        return Item {
                            name: p.name.clone(),
                            status: Status::Done(what),
                            stats: Some(checkpoint::stats_json(&o)),
                        };
                    }
                    Err(e) => {
                        tell(session, &p.name, "failed");
                        Status::Failed(error_text(&e))
                    }
                }
            }
        };
        Item { name: p.name.clone(), status, stats: None }
    });
    finish(session, json, &items, "checkpointed", t0, pool_of.jobs, "docker_cr_checkpoint_duration")
}

/// `restore --all`: the newest checkpoint of each container that is not
/// running, with `a`'s options.
pub fn restore(session: &Session, a: &restore::Options, pool_of: Pool, json: bool) -> Result<()> {
    session.cancel.arm();
    let t0 = Instant::now();
    let (engine, _) = engine(session)?;
    let entries = session.store.scan()?;
    let running = |name: &str| {
        engine.inspect(name).ok().flatten().is_some_and(|c| c.pointer("/State/Running") == Some(&Value::Bool(true)))
    };
    let plan = plan_restores(&entries, &running);
    if a.dry_run {
        let previews = plan
            .into_iter()
            .map(|p| {
                let r = p.todo.map(|e| {
                    let name = e.manifest.as_ref().map_or(p.name.clone(), |m| m.container.name.clone());
                    let one = restore::Options { container: name, from: Location::Dir(e.path.clone()), ..a.clone() };
                    restore::preview(session, &one).unwrap_or_else(|e| (String::new(), Value::Null, Some(e)))
                });
                (p.name, r)
            })
            .collect();
        return print_previews(json, "restored", previews);
    }
    let inner = session.quiet();
    let items = pool(&plan, pool_of.jobs, |p| {
        let status = match &p.todo {
            Err(why) => Status::Skipped(why.clone()),
            Ok(e) => {
                let name = e.manifest.as_ref().map_or(p.name.clone(), |m| m.container.name.clone());
                let one = restore::Options { container: name, from: Location::Dir(e.path.clone()), ..a.clone() };
                match restore::run(&inner, &one) {
                    Ok(o) => {
                        tell(session, &p.name, &format!("restored from {} in {} ms", e.reference(), o.total));
                        return Item {
                            name: p.name.clone(),
                            status: Status::Done(format!("from {}", e.reference())),
                            stats: Some(restore::stats_json(&o)),
                        };
                    }
                    Err(err) => {
                        tell(session, &p.name, "failed");
                        Status::Failed(error_text(&err))
                    }
                }
            }
        };
        Item { name: p.name.clone(), status, stats: None }
    });
    finish(session, json, &items, "restored", t0, pool_of.jobs, "docker_cr_restore_duration")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn checkpoint_plan_skips_what_cannot_be_done_with_reasons() {
        let ok =
            json!({"Id": "a1", "Name": "/web", "State": {"Running": true}, "Config": {"Tty": false}, "HostConfig": {}});
        let tty = json!({"Id": "b2", "Name": "/shell", "State": {"Running": true}, "Config": {"Tty": true}});
        let ipc = json!({"Id": "c3", "Name": "/side", "State": {"Running": true}, "HostConfig": {"IpcMode": "container:web"}});
        let p = plan_checkpoints(&[tty, ok, ipc], "overlay2");
        assert_eq!(p.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["shell", "side", "web"]);
        assert_eq!(p[0].todo, Ok("b2".to_string()), "a TTY is checkpointed (through CRIU's RPC)");
        assert!(p[1].todo.as_ref().unwrap_err().contains("IPC"));
        assert_eq!(p[2].todo, Ok("a1".to_string()));
    }

    #[test]
    fn restore_plan_takes_the_newest_of_each() {
        let e = |c: &str, n: &str, t: u64| {
            let mut m = crate::model::manifest::tests_sample();
            m.created = t;
            Entry {
                container: c.into(),
                name: n.into(),
                path: PathBuf::from(n),
                manifest: Ok(m),
                group: None,
                mtime_ns: 0,
            }
        };
        let mut es = vec![e("db", "d1", 5), e("db", "d2", 9), e("web", "w1", 1), e("up", "u1", 1), e("bad", "b", 1)];
        es[4].manifest = Err("damaged".into());
        store::sort(&mut es);
        let p = plan_restores(&es, &|n| n == "up");
        let got: Vec<(&str, std::result::Result<&str, bool>)> =
            p.iter().map(|p| (p.name.as_str(), p.todo.as_ref().map(|e| e.name.as_str()).map_err(|_| true))).collect();
        assert_eq!(got, vec![("bad", Err(true)), ("db", Ok("d2")), ("up", Err(true)), ("web", Ok("w1"))]);
        assert!(p[2].todo.as_ref().unwrap_err().contains("running"));
    }

    #[test]
    fn pool_keeps_order_and_runs_everything() {
        let items: Vec<u32> = (0..20).collect();
        for jobs in [1, 3, 50] {
            assert_eq!(pool(&items, jobs, |i| i * 2), items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        assert!(pool(&Vec::<u32>::new(), 2, |i| *i).is_empty());
    }

    #[test]
    fn summary_counts() {
        let items = vec![
            Item { name: "web".into(), status: Status::Done("web/x".into()), stats: None },
            Item { name: "shell".into(), status: Status::Skipped("has a TTY\nmore".into()), stats: None },
            Item { name: "db".into(), status: Status::Failed("criu dump failed".into()), stats: None },
        ];
        let s = summary(&items, "checkpointed", 1.25, 2);
        assert!(s.contains("web    checkpointed  web/x\n"), "{s}");
        assert!(s.contains("shell  skipped       has a TTY\n"), "{s}");
        assert!(s.ends_with("3 containers: 1 checkpointed, 1 skipped, 1 failed in 1.2 s (2 at a time)\n"), "{s}");
        let j = json_items(&items, 7, "d");
        assert_eq!(j["container_statistics"][2]["status"], "failed");
        assert_eq!(j["container_statistics"][1]["reason"], "has a TTY\nmore");
    }
}
