//! The adapter between `serve`'s handlers and the operations: one function
//! per action, taking a `Session` (the server's store, keys and CRIU; a
//! job's own `Out` and `Cancel` for the long ones) and plain values
//! (container, name, options), so that the handlers never see an
//! operation's types.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::engine::docker;
use crate::error::{Error, IoContext, Result};
use crate::formats::archive::{self, Compression};
use crate::host::check;
use crate::model::container::Publish;
use crate::model::manifest as mf;
use crate::ops::{catalog, checkpoint as cp, inspect, restore as rs, transfer};
use crate::serve::diff::{self, FileEntry, Side};
use crate::session::Session;
use crate::store::{self, Entry, Location};

/// A name from a URL or a form: the store's rule ([a-zA-Z0-9][a-zA-Z0-9_.-]*).
pub fn valid(what: &str, n: &str) -> Result<()> {
    if store::valid_name(n) {
        Ok(())
    } else {
        Err(Error::Usage(format!("invalid {what} '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")))
    }
}

/// `check`'s items, without its repairs (a job of ours may be running).
pub fn host(s: &Session) -> Vec<check::Item> {
    check::items(s, false)
}

/// One container, as the page lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerRow {
    pub name: String,
    pub id: String,
    pub image: String,
    pub state: String,
    pub status: String,
    pub checkpointable: bool,
    /// Why not, with the fix (check_container's refusal).
    pub why_not: String,
    pub hint: String,
    pub checkpoints: usize,
}

/// A row from the engine's summary and inspect data. Pure.
pub fn container_row(summary: &Value, inspected: Option<&Value>, storage: &str, stored: &[Entry]) -> ContainerRow {
    let s = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let name = summary["Names"]
        .as_array()
        .and_then(|n| n.first())
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let id = s(summary, "/Id");
    let (checkpointable, why_not, hint) = match inspected {
        None => (false, format!("container {name} is gone"), String::new()),
        Some(c) => match crate::ops::checkpoint::check_container(c, &name, storage) {
            Ok(()) => (true, String::new(), String::new()),
            Err(e) => (false, e.to_string(), e.hint().unwrap_or_default()),
        },
    };
    ContainerRow {
        checkpoints: store::of(stored, &name).len(),
        id: docker::short_id(&id).to_string(),
        image: s(summary, "/Image"),
        state: s(summary, "/State"),
        status: s(summary, "/Status"),
        name,
        checkpointable,
        why_not,
        hint,
    }
}

pub fn containers(s: &Session) -> Result<Vec<ContainerRow>> {
    let en = s.engine()?;
    let storage = en.info()?.get("Driver").and_then(Value::as_str).unwrap_or("").to_string();
    let stored = s.store.scan().unwrap_or_default();
    let mut rows: Vec<ContainerRow> = en
        .all()?
        .iter()
        .map(|c| {
            let id = c["Id"].as_str().unwrap_or("");
            let inspected = en.inspect(id).ok().flatten();
            container_row(c, inspected.as_ref(), &storage, &stored)
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// The store, as `ls --format json`.
pub fn checkpoints(s: &Session) -> Result<Vec<catalog::Row>> {
    Ok(catalog::rows(s, &s.store.scan()?))
}

pub fn entry(s: &Session, container: &str, name: &str) -> Result<Entry> {
    valid("container name", container)?;
    valid("checkpoint name", name)?;
    s.store.find(container, Some(name))
}

/// `inspect --format json` of one checkpoint, with the tree as lines and
/// its row of `ls` (restorable here, or why not).
pub fn details(s: &Session, container: &str, name: &str) -> Result<Value> {
    let e = entry(s, container, name)?;
    let (mut r, procs) = inspect::details(&e.path, &s.keys)?;
    r["tree"] = json!(inspect::tree_lines(&procs));
    r["reference"] = json!(e.reference());
    r["row"] = serde_json::to_value(catalog::rows(s, std::slice::from_ref(&e))).unwrap_or_default()[0].take();
    r["has_log"] = json!(e.path.join(mf::DUMP_LOG).is_file());
    Ok(r)
}

/// The most of CRIU's log the page shows: its end.
pub const LOG_TAIL: u64 = 2 << 20;

/// The end of CRIU's dump log (read beneath the checkpoint, no links).
pub fn log(s: &Session, container: &str, name: &str) -> Result<String> {
    let e = entry(s, container, name)?;
    let root = fs::File::open(&e.path).at("open", &e.path)?;
    let path = e.path.join(mf::DUMP_LOG);
    let mut f = match mf::open_beneath(&root, Path::new(mf::DUMP_LOG)) {
        Ok(f) => f,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(Error::checkpoint(format!("{} has no CRIU log", e.reference()), "it was imported without one"))
        }
        Err(err) => return Err(err).at("open", &path),
    };
    let len = f.metadata().at("stat", &path)?.len();
    let mut text = String::new();
    if len > LOG_TAIL {
        f.seek(io::SeekFrom::Start(len - LOG_TAIL)).at("read", &path)?;
        text.push_str(&format!("[… the first {} bytes left out]\n", len - LOG_TAIL));
    }
    let mut buf = Vec::new();
    f.take(LOG_TAIL).read_to_end(&mut buf).at("read", &path)?;
    text.push_str(&String::from_utf8_lossy(&buf));
    Ok(text)
}

/// The most rootfs-diff.tar entries a comparison lists.
pub const MAX_DIFF_FILES: usize = 100_000;

/// The entries of a checkpoint's rootfs-diff.tar (headers only, beneath
/// the checkpoint, at most `MAX_DIFF_FILES`).
fn rootfs_entries(dir: &Path) -> Result<(Vec<FileEntry>, bool)> {
    let root = fs::File::open(dir).at("open", dir)?;
    let path = dir.join(mf::ROOTFS_DIFF);
    let f = match mf::open_beneath(&root, Path::new(mf::ROOTFS_DIFF)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
        Err(e) => return Err(e).at("open", &path),
    };
    let mut ar = tar::Archive::new(io::BufReader::new(f));
    let mut out = Vec::new();
    let bad =
        |e: io::Error| Error::checkpoint(format!("{} is damaged: {e}", path.display()), "take the checkpoint again");
    for en in ar.entries().map_err(bad)? {
        if out.len() >= MAX_DIFF_FILES {
            return Ok((out, true));
        }
        let en = en.map_err(bad)?;
        let h = en.header();
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => "file",
            tar::EntryType::Directory => "dir",
            tar::EntryType::Symlink | tar::EntryType::Link => "link",
            // overlayfs whiteout: a character device 0:0.
            tar::EntryType::Char if h.device_major().ok().flatten() == Some(0) => "whiteout",
            _ => "other",
        };
        let p = String::from_utf8_lossy(&en.path_bytes()).trim_start_matches("./").trim_end_matches('/').to_string();
        out.push(FileEntry { path: p, size: h.size().unwrap_or(0), kind });
    }
    Ok((out, false))
}

/// One side of a comparison, read from the store (`CONTAINER/NAME`).
pub fn diff_side(s: &Session, reference: &str) -> Result<Side> {
    let (c, n) = reference
        .split_once('/')
        .ok_or_else(|| Error::Usage(format!("'{reference}' is not CONTAINER/NAME as the list shows it")))?;
    let e = entry(s, c, n)?;
    let manifest = mf::read(&e.path)?;
    let procs = inspect::processes(&e.path)?;
    let tcp = inspect::tcp_sockets(&e.path)?;
    let (files, files_truncated) = rootfs_entries(&e.path)?;
    Ok(Side { reference: e.reference(), manifest, procs, tcp, files, files_truncated })
}

pub fn diff(s: &Session, a: &str, b: &str) -> Result<diff::Diff> {
    Ok(diff::diff(&diff_side(s, a)?, &diff_side(s, b)?))
}

/// `rm CONTAINER/NAME`.
/// Deletes a checkpoint, or a group checkpoint as one (as `rm` does).
pub fn delete(s: &Session, container: &str, name: &str) -> Result<()> {
    valid("container or group name", container)?;
    valid("checkpoint name", name)?;
    store::remove(&s.store.find_any(container, Some(name))?)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What `prune` selects: the same plan the CLI computes.
pub fn prune_plan(
    s: &Session,
    container: Option<&str>,
    keep: Option<usize>,
    older_than: Option<u64>,
) -> Result<Vec<Entry>> {
    if keep.is_none() && older_than.is_none() {
        return Err(Error::Usage("say what to remove: keep N, older than DURATION, or both".into()));
    }
    if let Some(c) = container {
        valid("container name", c)?;
    }
    let all = s.store.scan()?;
    let mine: Vec<Entry> = match container {
        Some(c) => store::of(&all, c).into_iter().cloned().collect(),
        None => all,
    };
    Ok(store::prune_plan(&mine, keep, older_than, now()).into_iter().map(|i| mine[i].clone()).collect())
}

/// What a prune removed, and what it could not (with why).
pub type Pruned = (Vec<String>, Vec<(String, String)>);

/// Prune: what was removed, and what could not be (with why).
pub fn prune(s: &Session, container: Option<&str>, keep: Option<usize>, older_than: Option<u64>) -> Result<Pruned> {
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for e in prune_plan(s, container, keep, older_than)? {
        match store::remove(&e) {
            Ok(()) => done.push(e.reference()),
            Err(err) => failed.push((e.reference(), err.to_string())),
        }
    }
    Ok((done, failed))
}

/// Streams the archive of a checkpoint of the store into `out` (its named
/// volumes and image are not added: that is `export`'s staging, in
/// ops::transfer). The checkpoint is held shared meanwhile, so `rm` and
/// `prune` leave it alone; nothing is written anywhere but `out`.
pub fn export(
    s: &Session,
    container: &str,
    name: &str,
    c: Compression,
    out: impl Write,
) -> Result<archive::ExportStats> {
    let e = entry(s, container, name)?;
    let _held = store::hold_shared(&e.path)?;
    archive::export(&e.path, out, c, &archive::Extras::default())
}

/// The file name a download gets.
pub fn archive_name(container: &str, name: &str, c: Compression) -> String {
    let ext = match c {
        Compression::Zstd => ".tar.zst",
        Compression::Gzip => ".tar.gz",
        _ => ".tar",
    };
    format!("{container}-{name}{ext}")
}

/// Imports an archive (`input`, the request body) into the store: built in
/// a hidden directory of the store, every file checked against the
/// manifest and synced (`archive::import`, `Finish::Keep`, as
/// `docker-cr import` does), then renamed to CONTAINER/NAME. Any failure,
/// a client that goes away included, leaves nothing. Trust is judged when
/// it is restored, as for any checkpoint; the answer says its provenance.
pub fn import(s: &Session, input: impl Read, name: Option<&str>) -> Result<Value> {
    if let Some(n) = name {
        valid("checkpoint name", n)?;
    }
    // A private directory of the store, removed when dropped: nothing of a
    // failed or cut upload stays.
    let stage = s.store.temp("upload")?;
    let dir = stage.path();
    let imp = archive::import(input, "uploaded", &dir, archive::Finish::Keep)?;
    let m = match imp.manifest {
        Some(m) => m,
        None => mf::read(&dir)?,
    };
    let container = if store::valid_name(&m.container.name) { m.container.name.clone() } else { "imported".into() };
    let dest = s.store.new_path(&container, name, u128::from(m.created) * 1000)?;
    mf::rename_noreplace(&dir, &dest).map_err(|e| e.step("storing the uploaded checkpoint"))?;
    let e = s.store.find(&container, dest.file_name().and_then(|n| n.to_str()))?;
    let row = catalog::rows(s, std::slice::from_ref(&e));
    Ok(json!({
        "reference": e.reference(),
        "files": imp.files,
        "bytes": imp.bytes,
        "compression": imp.compression.name(),
        "made_by": imp.made_by.as_ref().map(|f| json!({"engine": f.engine.name(), "container": f.container, "image": f.image})),
        "row": row.first(),
    }))
}

/// The dump options the page offers, as the CLI's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointOpts {
    pub name: Option<String>,
    pub stop: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub file_locks: bool,
}

impl Default for CheckpointOpts {
    fn default() -> Self {
        CheckpointOpts { name: None, stop: false, tcp_established: true, ext_unix_sk: true, file_locks: true }
    }
}

/// The container's name as the store files it (the engine's, not the
/// argument, which may be an ID).
pub fn container_name(s: &Session, container: &str) -> Result<String> {
    valid("container name", container)?;
    let c = s
        .engine()?
        .inspect(container)?
        .ok_or_else(|| Error::container(format!("no such container: {container}"), "reload the list"))?;
    Ok(c["Name"].as_str().unwrap_or(container).trim_start_matches('/').to_string())
}

/// The name a checkpoint taken now gets, unless one is given.
pub fn checkpoint_name(o: &CheckpointOpts) -> Result<String> {
    match &o.name {
        Some(n) => valid("checkpoint name", n).map(|()| n.clone()),
        None => {
            let millis =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            Ok(store::timestamp_name(millis))
        }
    }
}

/// Bytes written so far by a checkpoint of `container` named `name`: its
/// partial directory as CRIU fills it.
pub fn checkpoint_probe(s: &Session, container: &str, name: &str) -> impl Fn() -> u64 + Send + Sync {
    let partial = s.store.root.join(container).join(format!(".{name}.partial"));
    move || crate::host::dir_size(&partial) + crate::host::dir_size(&partial.join(mf::IMAGES))
}

/// Checkpoint into the store (`checkpoint CONTAINER NAME`).
pub fn checkpoint(s: &Session, container: &str, name: &str, o: &CheckpointOpts) -> Result<Value> {
    let a = cp::Options {
        stop: o.stop,
        tcp_established: o.tcp_established,
        ext_unix_sk: o.ext_unix_sk,
        file_locks: o.file_locks,
        ..cp::Options::new(container, Location::Store(Some(name.to_string())))
    };
    let out = cp::run(s, &a)?;
    Ok(json!({
        "reference": format!("{}/{}", out.manifest.container.name, name),
        "statistics": cp::stats_json(&out),
    }))
}

/// What the page's restore form says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoreOpts {
    /// A new name: restore as a clone.
    pub name: Option<String>,
    pub publish: Vec<String>,
    pub trust: bool,
    pub allow_host_access: bool,
    pub unpause: bool,
}

fn publish_specs(p: &[String]) -> Result<Vec<Publish>> {
    p.iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| crate::cli::parse_publish(s.trim()).map_err(Error::Usage))
        .collect()
}

fn restore_options(e: &Entry, o: &RestoreOpts) -> Result<rs::Options> {
    if let Some(n) = &o.name {
        valid("container name", n)?;
    }
    Ok(rs::Options {
        container: e.container.clone(),
        from: Location::Store(Some(e.name.clone())),
        name: o.name.clone(),
        publish: publish_specs(&o.publish)?,
        trust: o.trust,
        allow_host_access: o.allow_host_access,
        unpause: o.unpause,
        ..rs::Options::default()
    })
}

/// Restore a checkpoint of the store, as itself or (a name) as a clone.
pub fn restore(s: &Session, container: &str, name: &str, o: &RestoreOpts) -> Result<Value> {
    let e = entry(s, container, name)?;
    let out = rs::run(s, &restore_options(&e, o)?)?;
    Ok(json!({ "container": out.name, "statistics": rs::stats_json(&out) }))
}

/// The plan the same restore would follow (`restore --dry-run`): in
/// words, as JSON, and the refusal the real run would make, if any.
pub fn restore_plan(s: &Session, container: &str, name: &str, o: &RestoreOpts) -> Result<Value> {
    let e = entry(s, container, name)?;
    let (text, plan, refusal) = rs::preview(s, &restore_options(&e, o)?)?;
    let refusal = refusal
        .map(|r| json!({"error": r.to_string(), "hint": r.hint().unwrap_or_default(), "exit_code": r.exit_code()}));
    Ok(json!({ "text": text, "plan": plan, "refusal": refusal }))
}

/// A destination a transport may be given: a host name, user@host, an
/// address; never an option.
pub fn valid_dest(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 255
        && !d.starts_with('-')
        && d.bytes().all(|b| b.is_ascii_alphanumeric() || b"@._:-[]".contains(&b))
}

/// `migrate CONTAINER DEST` through the transport the server was started
/// with (ssh by default), as the CLI runs it.
pub fn migrate(s: &Session, container: &str, dest: &str, transport: &[String], name: Option<&str>) -> Result<Value> {
    valid("container name", container)?;
    if !valid_dest(dest) {
        return Err(Error::Usage(format!("invalid destination '{dest}': a host name, user@host or an address")));
    }
    if let Some(n) = name {
        valid("container name", n)?;
    }
    let a = transfer::MigrateOptions {
        container: container.to_string(),
        dest: dest.to_string(),
        transport: transport.to_vec(),
        remote: "docker-cr".into(),
        name: name.map(str::to_string),
        compress: Compression::Zstd,
        ignore_volumes: false,
        with_image: false,
        dry_run: false,
        project: None,
        live: false,
    };
    transfer::migrate(s, &a)?;
    Ok(json!({ "migrated": container, "to": dest }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_row() {
        let summary = json!({"Id": "0123456789abcdef0123", "Names": ["/web"], "Image": "busybox", "State": "running", "Status": "Up 2 minutes"});
        let running = json!({"State": {"Running": true, "Status": "running"}, "HostConfig": {}});
        let r = container_row(&summary, Some(&running), "overlay2", &[]);
        assert_eq!((r.name.as_str(), r.id.as_str(), r.checkpointable), ("web", "0123456789ab", true));
        let stopped = json!({"State": {"Running": false, "Status": "exited"}, "HostConfig": {}});
        let r = container_row(&summary, Some(&stopped), "overlay2", &[]);
        assert!(!r.checkpointable && r.why_not.contains("not running (status: exited)"), "{r:?}");
        assert!(r.hint.contains("docker start web"));
        let r = container_row(&summary, Some(&running), "vfs", &[]);
        assert!(!r.checkpointable && r.why_not.contains("overlay2"));
        let shared = json!({"State": {"Running": true}, "HostConfig": {"PidMode": "host"}});
        assert!(container_row(&summary, Some(&shared), "overlay2", &[]).why_not.contains("PID namespace"));
        assert!(!container_row(&summary, None, "overlay2", &[]).checkpointable);
    }

    #[test]
    fn names_and_destinations() {
        assert!(valid("x", "web-1.a_b").is_ok());
        for bad in ["", "../x", "a/b", "-x", ".hidden", "a b"] {
            assert!(valid("x", bad).is_err(), "{bad}");
        }
        assert!(valid_dest("root@host-b.example") && valid_dest("[fd00::1]") && valid_dest("10.0.0.2"));
        for bad in ["", "-oProxyCommand=x", "a b", "a;b", "$(x)", "a`b`"] {
            assert!(!valid_dest(bad), "{bad}");
        }
        assert_eq!(archive_name("web", "cp1", Compression::Zstd), "web-cp1.tar.zst");
        assert_eq!(archive_name("web", "cp1", Compression::Gzip), "web-cp1.tar.gz");
        assert!(publish_specs(&["8081:80".into(), " ".into()]).unwrap().len() == 1);
        assert!(publish_specs(&["x:y".into()]).is_err());
        assert!(checkpoint_name(&CheckpointOpts { name: Some("../x".into()), ..Default::default() }).is_err());
        assert!(checkpoint_name(&CheckpointOpts::default()).unwrap().ends_with('Z'));
    }
}
