//! The store's commands: `ls`, `rm`, `prune`, and resolving a CHECKPOINT
//! argument to a directory. Each computes a plain value first (rows, the
//! prune selection, reasons a checkpoint cannot be restored here), tested
//! with literals; reading the store and asking the engine are at the edges.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::engine::docker::Engine;
use crate::error::{Error, Result};
use crate::model::group;
use crate::model::manifest::{self as mf, Manifest};
use crate::model::trust;
use crate::session::Session;
use crate::store::{self, Entry, Ref};

/// `docker-cr ls`.
#[derive(Debug, PartialEq, Default, Clone)]
pub struct LsOptions {
    pub container: Option<String>,
    pub json: bool,
    /// --format '{{.Field}}...': one line per checkpoint (see `ops::template`).
    pub template: Option<String>,
    /// -q: references only.
    pub quiet_names: bool,
}

/// `docker-cr rm`.
#[derive(Debug, PartialEq, Default, Clone)]
pub struct RmOptions {
    pub checkpoints: Vec<Ref>,
}

/// `docker-cr prune`.
#[derive(Debug, PartialEq, Default, Clone)]
pub struct PruneOptions {
    pub container: Option<String>,
    pub keep: Option<usize>,
    /// Seconds.
    pub older_than: Option<u64>,
    /// Say what would go; remove nothing.
    pub dry_run: bool,
}

/// A checkpoint reference → its directory.
pub fn resolve(session: &Session, r: &Ref) -> Result<PathBuf> {
    match r {
        Ref::Dir(d) => Ok(d.clone()),
        Ref::Store { container, name } => {
            Ok(crate::store::find_any(&session.store.root, container, name.as_deref())?.path)
        }
    }
}

/// What a checkpoint's signature says on this host.
#[derive(Debug, Clone, PartialEq)]
pub enum SigState {
    Trusted(String),
    Untrusted(String),
    Unsigned,
    /// Does not verify, or could not be read.
    Bad(String),
}

impl SigState {
    pub fn label(&self) -> String {
        match self {
            SigState::Trusted(k) => format!("signed by trusted key {k}"),
            SigState::Untrusted(k) => format!("signed by untrusted key {k}"),
            SigState::Unsigned => "unsigned".into(),
            SigState::Bad(why) => format!("bad signature: {why}"),
        }
    }
}

pub fn signature_state(dir: &Path, keys: &trust::KeyDir) -> SigState {
    let checked = (|| {
        let bytes = mf::read_bytes(dir)?;
        let sig = mf::read_limited(dir, trust::SIG, 64 << 10)?;
        trust::check(&bytes, sig.as_deref(), &keys.trusted()?)
    })();
    match checked {
        Ok(trust::Provenance::Trusted(k)) => SigState::Trusted(k.describe()),
        Ok(trust::Provenance::Untrusted(k)) => SigState::Untrusted(k.describe()),
        Ok(trust::Provenance::Unsigned) => SigState::Unsigned,
        Err(e) => SigState::Bad(e.to_string()),
    }
}

/// "4.2.1" → (4, 2, 1).
pub fn version(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.trim().split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()?.unwrap_or(0), it.next().flatten().unwrap_or(0)))
}

/// What this host is, for judging whether a checkpoint restores here.
#[derive(Debug, Clone, Default)]
pub struct Here {
    pub arch: String,
    /// The local CRIU's version, if it could be run.
    pub criu: Option<(u32, u32, u32)>,
}

/// What the engine says about a checkpoint's container and image; None
/// fields when the engine could not be asked.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// "running", "exited", "created", ... or "removed".
    pub state: Option<String>,
    pub image_present: Option<bool>,
}

/// Why the checkpoint cannot be restored on this host; empty if it can. Pure.
pub fn reasons(m: &Manifest, here: &Here, seen: &Seen, sig: &SigState) -> Vec<String> {
    let mut r = Vec::new();
    if m.host.arch != here.arch {
        r.push(format!("taken on {}, this host is {}", m.host.arch, here.arch));
    }
    if let (Some(theirs), Some(ours)) = (version(&m.host.criu), here.criu) {
        if theirs > ours {
            r.push(format!(
                "made by CRIU {}, newer than this host's {}.{}.{}: install CRIU >= {}",
                m.host.criu, ours.0, ours.1, ours.2, m.host.criu
            ));
        }
    }
    if seen.image_present == Some(false) && seen.state.as_deref() == Some("removed") {
        r.push(format!("its image {} is not on this host: docker load it", m.container.image));
    }
    match sig {
        SigState::Trusted(_) => {}
        SigState::Untrusted(k) => {
            r.push(format!("signed by key {k}, which this host does not trust: docker-cr key trust"))
        }
        SigState::Unsigned => r.push("unsigned: restores only with --trust".into()),
        SigState::Bad(_) => r.push("its signature does not hold: it was changed after it was signed".into()),
    }
    r
}

/// One line of `ls`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub container: String,
    pub name: String,
    pub reference: String,
    pub path: PathBuf,
    pub container_id: String,
    pub image: String,
    pub created: String,
    pub created_unix: u64,
    pub age_seconds: u64,
    pub size_bytes: u64,
    pub pages_bytes: u64,
    pub memory_pages: u64,
    /// running, exited, created, ..., removed, or unknown (no engine).
    pub container_state: String,
    pub container_exists: Option<bool>,
    pub container_running: Option<bool>,
    pub criu: String,
    pub kernel: String,
    pub arch: String,
    pub signature: String,
    pub restorable: bool,
    pub reasons: Vec<String>,
    /// "checkpoint", or "group" (a group checkpoint, its members below).
    pub kind: String,
    /// A group member's Compose service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// A group's members, in restore order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Row>,
}

/// A row from a store entry and what was found about it. Pure.
pub fn row(e: &Entry, now: u64, here: &Here, seen: &Seen, sig: &SigState) -> Row {
    let state = seen.state.clone().unwrap_or_else(|| "unknown".into());
    let mut r = Row {
        container: e.container.clone(),
        name: e.name.clone(),
        reference: e.reference(),
        path: e.path.clone(),
        container_id: String::new(),
        image: String::new(),
        created: String::new(),
        created_unix: 0,
        age_seconds: 0,
        size_bytes: 0,
        pages_bytes: 0,
        memory_pages: 0,
        container_exists: seen.state.as_ref().map(|s| s != "removed"),
        container_running: seen.state.as_ref().map(|s| s == "running"),
        container_state: state,
        criu: String::new(),
        kernel: String::new(),
        arch: String::new(),
        signature: sig.label(),
        restorable: false,
        reasons: Vec::new(),
        kind: "checkpoint".into(),
        service: None,
        members: Vec::new(),
    };
    match &e.manifest {
        Err(why) => r.reasons.push(format!("unreadable: {why}")),
        Ok(m) => {
            r.container_id = m.container.id.clone();
            r.image = m.container.image.clone();
            r.created = store::rfc3339(m.created);
            r.created_unix = m.created;
            r.age_seconds = now.saturating_sub(m.created);
            r.size_bytes = m.files.values().map(|f| f.size).sum();
            r.pages_bytes = m.sizes.pages_bytes;
            r.memory_pages = m.sizes.pages_bytes / 4096;
            r.criu = m.host.criu.clone();
            r.kernel = m.host.kernel.clone();
            r.arch = m.host.arch.clone();
            r.reasons = reasons(m, here, seen, sig);
            r.restorable = r.reasons.is_empty();
        }
    }
    r
}

/// A group's row from its entry and its members' rows (already made, in
/// restore order): sizes summed, the state of each member, restorable if
/// the group's signature holds and every member restores. Pure.
pub fn group_row(e: &Entry, now: u64, sig: &SigState, members: Vec<Row>) -> Row {
    let mut r = Row {
        container: e.container.clone(),
        name: e.name.clone(),
        reference: e.reference(),
        path: e.path.clone(),
        container_id: String::new(),
        image: String::new(),
        created: String::new(),
        created_unix: 0,
        age_seconds: 0,
        size_bytes: members.iter().map(|m| m.size_bytes).sum(),
        pages_bytes: members.iter().map(|m| m.pages_bytes).sum(),
        memory_pages: members.iter().map(|m| m.memory_pages).sum(),
        container_state: String::new(),
        container_exists: None,
        container_running: None,
        criu: String::new(),
        kernel: String::new(),
        arch: String::new(),
        signature: sig.label(),
        restorable: false,
        reasons: Vec::new(),
        kind: "group".into(),
        service: None,
        members: Vec::new(),
    };
    match &e.group {
        Some(Ok(m)) => {
            r.created = store::rfc3339(m.created);
            r.created_unix = m.created;
            r.age_seconds = now.saturating_sub(m.created);
            r.criu = m.host.criu.clone();
            r.kernel = m.host.kernel.clone();
            r.arch = m.host.arch.clone();
            let running = members.iter().filter(|x| x.container_running == Some(true)).count();
            let removed = members.iter().filter(|x| x.container_exists == Some(false)).count();
            r.container_state = format!(
                "group of {}{}",
                members.len(),
                match (running, removed) {
                    (0, 0) => String::new(),
                    (r, 0) => format!(": {r} running"),
                    (0, d) => format!(": {d} removed"),
                    (r, d) => format!(": {r} running, {d} removed"),
                }
            );
            match sig {
                SigState::Trusted(_) => {}
                SigState::Untrusted(k) => {
                    r.reasons.push(format!("the group is signed by key {k}, which this host does not trust"))
                }
                SigState::Unsigned => r.reasons.push("the group is unsigned: restores only with --trust".into()),
                SigState::Bad(_) => r.reasons.push("the group's signature does not hold".into()),
            }
            for x in &members {
                for why in &x.reasons {
                    // A member's image missing because its container was
                    // removed is what a group restore is for: said once.
                    r.reasons.push(format!("{}: {why}", x.container));
                }
            }
            if members.len() != m.members.len() {
                r.reasons.push(format!("{} of its {} members can be read", members.len(), m.members.len()));
            }
            r.restorable = r.reasons.is_empty();
        }
        Some(Err(why)) => r.reasons.push(format!("unreadable: {why}")),
        None => {}
    }
    r.members = members;
    r
}

fn size(b: u64) -> String {
    match b {
        b if b < 1 << 20 => format!("{:.0}K", b as f64 / 1024.0),
        b if b < 1 << 30 => format!("{:.1}M", b as f64 / (1 << 20) as f64),
        b => format!("{:.1}G", b as f64 / (1 << 30) as f64),
    }
}

/// The table `ls` prints. Pure.
pub fn render_table(rows: &[Row]) -> String {
    let head = ["CONTAINER", "NAME", "CREATED", "AGE", "SIZE", "PAGES", "STATE", "CRIU", "KERNEL", "RESTORE"];
    let flat: Vec<(&Row, bool)> =
        rows.iter().flat_map(|r| std::iter::once((r, false)).chain(r.members.iter().map(|m| (m, true)))).collect();
    let cells: Vec<[String; 10]> = flat
        .iter()
        .map(|(r, member)| {
            [
                if *member { format!("  └ {}", r.container) } else { r.container.clone() },
                if *member { r.service.clone().map(|s| format!("({s})")).unwrap_or_default() } else { r.name.clone() },
                r.created.clone(),
                store::age(r.age_seconds),
                size(r.size_bytes),
                r.memory_pages.to_string(),
                r.container_state.clone(),
                r.criu.clone(),
                r.kernel.clone(),
                if r.restorable { "yes".into() } else { format!("no: {}", r.reasons.join("; ")) },
            ]
        })
        .collect();
    let mut w = head.map(str::len);
    for c in &cells {
        for (i, x) in c.iter().enumerate() {
            w[i] = w[i].max(x.chars().count());
        }
    }
    let line = |c: &[String]| {
        let mut s = String::new();
        for (i, x) in c.iter().enumerate() {
            if i + 1 == c.len() {
                s.push_str(x);
            } else {
                s.push_str(&format!("{x:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&head.map(String::from));
    for c in &cells {
        out.push_str(&line(c));
    }
    out
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What the engine says now of the checkpoint's container and image.
fn seen(engine: Option<&Engine>, m: &Manifest) -> Seen {
    let Some(en) = engine else { return Seen::default() };
    let state = match en.inspect(&m.container.id) {
        Ok(Some(c)) => Some(c.pointer("/State/Status").and_then(Value::as_str).unwrap_or("unknown").to_string()),
        Ok(None) => Some("removed".to_string()),
        Err(_) => None,
    };
    Seen { state, image_present: en.image_id(&m.container.image).ok().map(|i| i.is_some()) }
}

pub fn here(criu_bin: &Path) -> Here {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Here {
        arch: std::env::consts::ARCH.to_string(),
        criu: crate::host::criu::Criu::find(criu_bin, kernel.trim()).ok().map(|c| c.version),
    }
}

/// What a group's signature says on this host.
pub fn group_signature_state(dir: &Path, keys: &trust::KeyDir) -> SigState {
    let checked = (|| {
        let bytes = mf::read_limited(dir, group::GROUP, mf::MAX_MANIFEST)?.unwrap_or_default();
        let sig = mf::read_limited(dir, group::GROUP_SIG, 64 << 10)?;
        trust::check(&bytes, sig.as_deref(), &keys.trusted()?)
    })();
    match checked {
        Ok(trust::Provenance::Trusted(k)) => SigState::Trusted(k.describe()),
        Ok(trust::Provenance::Untrusted(k)) => SigState::Untrusted(k.describe()),
        Ok(trust::Provenance::Unsigned) => SigState::Unsigned,
        Err(e) => SigState::Bad(e.to_string()),
    }
}

/// The rows of `ls` for the entries given; the engine is asked if it
/// answers (a listing needs none).
pub fn rows(session: &Session, entries: &[Entry]) -> Vec<Row> {
    let (here, engine, t) = (here(&session.criu_bin), session.engine().ok(), now());
    let one = |e: &Entry| {
        let s = e.manifest.as_ref().map(|m| seen(engine, m)).unwrap_or_default();
        row(e, t, &here, &s, &signature_state(&e.path, &session.keys))
    };
    entries
        .iter()
        .map(|e| match &e.group {
            None => one(e),
            Some(g) => {
                let members: Vec<Row> = g
                    .as_ref()
                    .map(|m| m.members.clone())
                    .unwrap_or_default()
                    .iter()
                    .map(|x| {
                        let path = e.path.join(&x.container);
                        let me = Entry {
                            container: x.container.clone(),
                            name: e.name.clone(),
                            manifest: mf::read(&path).map_err(|err| err.to_string()),
                            mtime_ns: 0,
                            path,
                            group: None,
                        };
                        let mut r = one(&me);
                        r.reference = format!("{}/{}", e.reference(), x.container);
                        r.service = x.service.clone();
                        r.kind = "member".into();
                        r
                    })
                    .collect();
                group_row(e, t, &group_signature_state(&e.path, &session.keys), members)
            }
        })
        .collect()
}

/// `docker-cr ls [CONTAINER]`.
pub fn ls(session: &Session, a: &LsOptions) -> Result<()> {
    let all = session.store.scan()?;
    let mine: Vec<Entry> = match &a.container {
        // A container's checkpoints, and the groups it is a member of.
        Some(c) => all
            .iter()
            .filter(|e| {
                e.is_of(c)
                    || e.group
                        .as_ref()
                        .is_some_and(|g| g.as_ref().is_ok_and(|m| m.members.iter().any(|x| x.container == *c)))
            })
            .cloned()
            .collect(),
        None => all,
    };
    if a.quiet_names {
        for e in &mine {
            println!("{}", e.reference());
        }
        return Ok(());
    }
    let rows = rows(session, &mine);
    if let Some(t) = &a.template {
        let v = serde_json::to_value(&rows).unwrap_or_default();
        for row in v.as_array().into_iter().flatten() {
            let line = crate::ops::template::render(t, row)
                .map_err(|e| Error::Usage(format!("{e}\nTry 'docker-cr ls --help'.")))?;
            println!("{line}");
        }
        return Ok(());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into()));
    } else {
        print!("{}", render_table(&rows));
    }
    Ok(())
}

/// Removes the entries, each on its own; returns how many failed.
fn remove_all(entries: &[&Entry], quiet: bool) -> usize {
    let mut failed = 0;
    for e in entries {
        match store::remove(e) {
            Ok(()) => {
                if !quiet {
                    println!("removed {}", e.reference());
                }
            }
            Err(err) => {
                failed += 1;
                eprintln!("docker-cr: {err}");
                if let Some(h) = err.hint() {
                    eprintln!("hint: {h}");
                }
            }
        }
    }
    failed
}

fn partial_failure(n: usize, what: &str) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    Err(Error::Partial(format!("{n} of the checkpoints could not be {what} (see above); the others were")))
}

/// `docker-cr rm CHECKPOINT...`: checkpoints of the store only.
pub fn rm(session: &Session, a: &RmOptions) -> Result<()> {
    let root = &session.store.root;
    let all = session.store.scan()?;
    let mut chosen = Vec::new();
    for r in &a.checkpoints {
        match r {
            Ref::Dir(d) => {
                return Err(Error::Usage(format!(
                    "rm removes checkpoints of the store only, not the directory {}\nTry 'docker-cr rm --help'.",
                    d.display()
                )))
            }
            Ref::Store { container, name: None } => {
                return Err(Error::Usage(format!(
                    "name the checkpoint: {container}/NAME (docker-cr ls -q {container}), or use docker-cr prune\nTry 'docker-cr rm --help'."
                )))
            }
            Ref::Store { container, name: Some(n) } => {
                let e = store::of(&all, container).into_iter().find(|e| &e.name == n).ok_or_else(|| {
                    Error::checkpoint(
                        format!("no checkpoint {n} of container {container} in the store {}", root.display()),
                        format!("list them with 'docker-cr ls {container}'"),
                    )
                })?;
                chosen.push(e);
            }
        }
    }
    partial_failure(remove_all(&chosen, session.out.is_quiet()), "removed")
}

/// `docker-cr prune [--keep N] [--older-than DURATION] [CONTAINER]`.
pub fn prune(session: &Session, a: &PruneOptions) -> Result<()> {
    let all = session.store.scan()?;
    let mine: Vec<Entry> = match &a.container {
        Some(c) => store::of(&all, c).into_iter().cloned().collect(),
        None => all,
    };
    let plan = store::prune_plan(&mine, a.keep, a.older_than, now());
    let chosen: Vec<&Entry> = plan.iter().map(|&i| &mine[i]).collect();
    if a.dry_run {
        for e in &chosen {
            println!("would remove {}", e.reference());
        }
        if chosen.is_empty() {
            session.out.step("nothing to remove");
        }
        return Ok(());
    }
    partial_failure(remove_all(&chosen, session.out.is_quiet()), "removed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        let mut m = mf::tests_sample();
        m.created = 1000;
        m.host.arch = "x86_64".into();
        m.host.criu = "4.2.1".into();
        Entry {
            container: "web".into(),
            name: "cp1".into(),
            path: "/s/web/cp1".into(),
            manifest: Ok(m),
            group: None,
            mtime_ns: 0,
        }
    }
    fn here() -> Here {
        Here { arch: "x86_64".into(), criu: Some((4, 2, 1)) }
    }
    fn alive() -> Seen {
        Seen { state: Some("running".into()), image_present: Some(true) }
    }
    const OK: SigState = SigState::Unsigned;

    #[test]
    fn a_restorable_row() {
        let t = SigState::Trusted("abcd host".into());
        let r = row(&entry(), 1300, &here(), &alive(), &t);
        assert!(r.restorable, "{:?}", r.reasons);
        assert_eq!((r.reference.as_str(), r.age_seconds, r.container_running), ("web/cp1", 300, Some(true)));
        assert_eq!(r.created, "1970-01-01T00:16:40Z");
        let table = render_table(&[r]);
        assert!(table.starts_with("CONTAINER  NAME  CREATED"), "{table}");
        assert!(table.lines().nth(1).unwrap().ends_with("yes"), "{table}");
    }

    #[test]
    fn reasons_not_to_restore() {
        let mut e = entry();
        let m = e.manifest.as_mut().unwrap();
        m.host.arch = "aarch64".into();
        m.host.criu = "4.3".into();
        let gone = Seen { state: Some("removed".into()), image_present: Some(false) };
        let r = row(&e, 1000, &here(), &gone, &OK);
        assert!(!r.restorable);
        assert_eq!(r.reasons.len(), 4, "{:?}", r.reasons);
        assert!(r.reasons[0].contains("aarch64") && r.reasons[1].contains("CRIU 4.3"));
        assert!(r.reasons[2].contains("not on this host") && r.reasons[3].contains("--trust"));
        // No engine: nothing claimed about the container or image.
        let r = row(&entry(), 1000, &here(), &Seen::default(), &SigState::Trusted("k".into()));
        assert!(r.restorable && r.container_state == "unknown" && r.container_exists.is_none());
        let mut e = entry();
        e.manifest = Err("format 9".into());
        assert!(!row(&e, 0, &here(), &alive(), &OK).restorable);
    }

    #[test]
    fn versions() {
        assert_eq!(version("4.2.1"), Some((4, 2, 1)));
        assert_eq!(version("4.2"), Some((4, 2, 0)));
        assert_eq!(version(""), None);
        assert!(version("4.10.0") > version("4.9.9"));
    }
}
