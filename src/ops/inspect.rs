//! `docker-cr inspect`: what is inside a checkpoint, as checkpointctl
//! inspect shows it: the source container and image, the dump's options,
//! the process tree (pids from `pstree.img`, commands from `core-<pid>.img`),
//! sizes, timings and CRIU's statistics (`stats-dump`).
//!
//! The decoders read CRIU's protobuf messages through `img` with the field
//! numbers of CRIU's images/*.proto (cited on each). They take untrusted
//! bytes: a damaged image is an error naming the file, never a panic
//! (fuzzed: tests/fuzz, target `inspect`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::group::GroupManifest;
use crate::model::img;
use crate::model::manifest::{self as mf, Manifest};

/// The most of one image inspect reads: process trees and cores are KiB.
const MAX_IMAGE: u64 = 16 << 20;
pub const STATS_DUMP: &str = "stats-dump";
/// The most processes listed; a pstree.img with more is not a container's.
const MAX_PROCS: usize = 100_000;

/// One process of the tree (pids as the container saw them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    pub threads: usize,
    /// The command (`comm`, at most 15 bytes), empty when its core image is
    /// missing or damaged.
    pub comm: String,
}

/// pstree.img: `pstree_entry { pid = 1; ppid = 2; pgid = 3; sid = 4;
/// repeated threads = 5; }` (images/pstree.proto), one entry per process.
pub fn pstree(bytes: &[u8]) -> std::result::Result<Vec<Proc>, String> {
    let image = img::parse(bytes)?;
    if image.entries.len() > MAX_PROCS {
        return Err(format!("{} processes", image.entries.len()));
    }
    let mut out = Vec::with_capacity(image.entries.len());
    for e in image.entries {
        let f = img::fields(e)?;
        let n = |k| -> std::result::Result<u32, String> {
            let v = img::field(&f, k).and_then(|v| v.uint()).ok_or(format!("a process lacks field {k}"))?;
            u32::try_from(v).map_err(|_| format!("field {k} is out of range"))
        };
        // `threads` is repeated: packed (one bytes field) or not.
        let threads = f
            .iter()
            .filter(|(k, _)| *k == 5)
            .map(|(_, v)| match v {
                img::Value::Bytes(b) => img::packed_count(b),
                _ => 1,
            })
            .sum();
        out.push(Proc { pid: n(1)?, ppid: n(2)?, pgid: n(3)?, sid: n(4)?, threads, comm: String::new() });
    }
    Ok(out)
}

/// The command of a process, from its core image: `core_entry { tc = 3 }`,
/// `task_core_entry { comm = 6 }` (images/core.proto).
pub fn core_comm(bytes: &[u8]) -> std::result::Result<String, String> {
    let image = img::parse(bytes)?;
    let e = image.entries.first().ok_or("no entry")?;
    let core = img::fields(e)?;
    let tc = img::field(&core, 3).and_then(|v| v.bytes()).ok_or("no task_core_entry (a thread's core?)")?;
    let tc = img::fields(tc)?;
    let comm = img::field(&tc, 6).and_then(|v| v.bytes()).ok_or("no comm")?;
    Ok(String::from_utf8_lossy(comm).into_owned())
}

/// CRIU's statistics (`stats_entry { dump = 1; restore = 2; }`,
/// images/stats.proto), by CRIU's field names; times in microseconds.
pub const DUMP_STATS: &[(u32, &str)] = &[
    (1, "freezing_time"),
    (2, "frozen_time"),
    (3, "memdump_time"),
    (4, "memwrite_time"),
    (5, "pages_scanned"),
    (6, "pages_skipped_parent"),
    (7, "pages_written"),
    (8, "irmap_resolve"),
    (9, "pages_lazy"),
    (10, "page_pipes"),
    (11, "page_pipe_bufs"),
    (12, "shpages_scanned"),
    (13, "shpages_skipped_parent"),
    (14, "shpages_written"),
];
pub const RESTORE_STATS: &[(u32, &str)] =
    &[(1, "pages_compared"), (2, "pages_skipped_cow"), (3, "forking_time"), (4, "restore_time"), (5, "pages_restored")];

/// stats-dump or stats-restore → its fields by name (those present).
pub fn stats(bytes: &[u8], restore: bool) -> std::result::Result<serde_json::Map<String, Value>, String> {
    let image = img::parse(bytes)?;
    let e = image.entries.first().ok_or("no entry")?;
    let top = img::fields(e)?;
    let (k, names) = if restore { (2, RESTORE_STATS) } else { (1, DUMP_STATS) };
    let inner = img::field(&top, k).and_then(|v| v.bytes()).ok_or("no statistics of that kind")?;
    let f = img::fields(inner)?;
    Ok(names
        .iter()
        .filter_map(|(n, name)| img::field(&f, *n).and_then(|v| v.uint()).map(|v| (name.to_string(), json!(v))))
        .collect())
}

/// All that the decoders read, for the fuzz target: never panics.
pub fn decode_all(pstree_img: &[u8], core_img: &[u8], stats_img: &[u8]) -> usize {
    let mut n = pstree(pstree_img).map_or(0, |p| tree_lines(&p).len());
    n += core_comm(core_img).map_or(0, |c| c.len());
    n += stats(stats_img, false).map_or(0, |s| s.len());
    n + stats(stats_img, true).map_or(0, |s| s.len())
}

/// Reads an image of the checkpoint (beneath it, no links, bounded).
fn read_image(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    mf::read_limited(dir, &format!("{}/{name}", mf::IMAGES), MAX_IMAGE)
}

fn damaged(dir: &Path, name: &str, why: String) -> Error {
    Error::checkpoint(
        format!("{}: {}/{name} is damaged: {why}", dir.display(), mf::IMAGES),
        "the checkpoint is damaged; take it again (or copy it again from its source)",
    )
}

/// The process tree of the checkpoint at `dir`, commands filled in.
pub fn processes(dir: &Path) -> Result<Vec<Proc>> {
    let raw = read_image(dir, "pstree.img")?.ok_or_else(|| {
        Error::checkpoint(format!("{} has no {}/pstree.img", dir.display(), mf::IMAGES), "the checkpoint is incomplete")
    })?;
    let mut procs = pstree(&raw).map_err(|e| damaged(dir, "pstree.img", e))?;
    for p in &mut procs {
        let name = format!("core-{}.img", p.pid);
        if let Some(raw) = read_image(dir, &name)? {
            p.comm = core_comm(&raw).map_err(|e| damaged(dir, &name, e))?;
        }
    }
    Ok(procs)
}

/// CRIU's dump statistics of the checkpoint at `dir`, if it has them: CRIU
/// writes stats-dump into its work dir, the checkpoint's top (where Podman's
/// archives have it too).
pub fn dump_stats(dir: &Path) -> Result<Option<serde_json::Map<String, Value>>> {
    match mf::read_limited(dir, STATS_DUMP, MAX_IMAGE)? {
        None => Ok(None),
        Some(raw) => stats(&raw, false).map(Some).map_err(|e| {
            Error::checkpoint(format!("{}: {STATS_DUMP} is damaged: {e}", dir.display()), "the checkpoint is damaged")
        }),
    }
}

/// The tree as indented lines, children under their parent, by pid.
pub fn tree_lines(procs: &[Proc]) -> Vec<String> {
    let mut out = Vec::new();
    let pids: std::collections::BTreeSet<u32> = procs.iter().map(|p| p.pid).collect();
    let mut roots: Vec<&Proc> = procs.iter().filter(|p| p.ppid == 0 || !pids.contains(&p.ppid)).collect();
    roots.sort_by_key(|p| p.pid);
    let mut stack: Vec<(&Proc, usize)> = roots.into_iter().rev().map(|p| (p, 0)).collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some((p, depth)) = stack.pop() {
        if !seen.insert(p.pid) {
            continue; // a damaged tree with a cycle
        }
        let threads = if p.threads > 1 { format!(" ({} threads)", p.threads) } else { String::new() };
        out.push(format!("{}{} {}{threads}", "  ".repeat(depth.min(64)), p.pid, p.comm));
        let mut kids: Vec<&Proc> = procs.iter().filter(|c| c.ppid == p.pid && c.pid != p.pid).collect();
        kids.sort_by_key(|c| std::cmp::Reverse(c.pid));
        stack.extend(kids.into_iter().map(|c| (c, depth + 1)));
    }
    // A damaged tree (a cycle, a parent of its own): listed flat, once.
    for p in procs.iter().filter(|p| !seen.contains(&p.pid)) {
        out.push(format!("{} {}", p.pid, p.comm));
    }
    out
}

/// What `inspect` shows, as one JSON object.
pub fn report(
    dir: &Path,
    m: &Manifest,
    saved: &Value,
    procs: &[Proc],
    stats: Option<&serde_json::Map<String, Value>>,
    signed: &str,
) -> Value {
    let total: u64 = m.files.values().map(|f| f.size).sum();
    json!({
        "checkpoint": dir,
        "created": crate::store::rfc3339(m.created),
        "tool": m.tool,
        "signature": signed,
        "container": {
            "id": m.container.id,
            "name": m.container.name,
            "image": saved.pointer("/Config/Image").and_then(Value::as_str).unwrap_or(""),
            "image_id": m.container.image,
            "command": saved.pointer("/Config/Cmd").cloned().unwrap_or(Value::Null),
            "addresses": m.container.addresses,
            "paused": m.container.paused,
        },
        "host": m.host,
        "options": m.options,
        "processes": procs,
        "sizes": {
            "total_bytes": total,
            "images_bytes": m.sizes.images_bytes,
            "pages_bytes": m.sizes.pages_bytes,
            "rootfs_diff_bytes": m.sizes.rootfs_diff_bytes,
            "rootfs_files": m.sizes.rootfs_files,
            "rootfs_deleted": m.sizes.rootfs_deleted,
        },
        "timings_ms": m.timings_ms,
        "criu_statistics": stats,
    })
}

/// The text form of `report`.
pub fn render_text(r: &Value, procs: &[Proc]) -> String {
    let s =
        |p: &str| r.pointer(p).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
    let mib =
        |p: &str| format!("{:.1} MiB", r.pointer(p).and_then(Value::as_u64).unwrap_or(0) as f64 / (1 << 20) as f64);
    let mut o = String::new();
    o += &format!("Checkpoint: {}\n", s("/checkpoint"));
    o += &format!("Created:    {} by {} ({})\n", s("/created"), s("/tool"), s("/signature"));
    o += &format!("Container:  {} ({})\n", s("/container/name"), s("/container/id"));
    o += &format!("Image:      {} ({})\n", s("/container/image"), s("/container/image_id"));
    o += &format!(
        "Host:       CRIU {}, kernel {}, {}, cgroup v{}, Docker {}\n",
        s("/host/criu"),
        s("/host/kernel"),
        s("/host/arch"),
        s("/host/cgroup"),
        s("/host/docker")
    );
    o += &format!(
        "Options:    tcp-established {}, ext-unix-sk {}, file-locks {}, stopped {}\n",
        s("/options/tcp_established"),
        s("/options/ext_unix_sk"),
        s("/options/file_locks"),
        s("/options/stopped")
    );
    o += &format!(
        "Sizes:      total {}, images {} (pages {}), file changes {} ({} files, {} deleted)\n",
        mib("/sizes/total_bytes"),
        mib("/sizes/images_bytes"),
        mib("/sizes/pages_bytes"),
        mib("/sizes/rootfs_diff_bytes"),
        s("/sizes/rootfs_files"),
        s("/sizes/rootfs_deleted")
    );
    o += &format!(
        "Timings:    total {} ms, frozen {} ms, criu dump {} ms, file changes {} ms, checksums {} ms\n",
        s("/timings_ms/total"),
        s("/timings_ms/frozen"),
        s("/timings_ms/criu_dump"),
        s("/timings_ms/rootfs"),
        s("/timings_ms/checksums")
    );
    if let Some(st) = r["criu_statistics"].as_object() {
        let line: Vec<String> = st
            .iter()
            .map(|(k, v)| if k.ends_with("_time") { format!("{k} {} us", v) } else { format!("{k} {v}") })
            .collect();
        o += &format!("CRIU stats: {}\n", line.join(", "));
    }
    if let Ok(tcp) = serde_json::from_value::<Vec<crate::model::sockets::Tcp>>(r["tcp"].clone()) {
        o += &format!("TCP:        {}\n", crate::model::sockets::summary(&tcp));
    }
    o += &format!("Processes:  {}\n", procs.len());
    for l in tree_lines(procs) {
        o += &format!("  {l}\n");
    }
    o
}

/// `docker-cr inspect`.
#[derive(Debug, PartialEq, Clone)]
pub struct Options {
    pub checkpoint: crate::store::Ref,
    pub json: bool,
    /// --format '{{.Field}}...' (see `ops::template`).
    pub template: Option<String>,
}

/// The TCP sockets of the checkpoint at `dir` (files.img), if it has any.
pub fn tcp_sockets(dir: &Path) -> Result<Vec<crate::model::sockets::Tcp>> {
    match read_image(dir, "files.img")? {
        None => Ok(Vec::new()),
        Some(b) => crate::model::sockets::tcp(&b).map_err(|e| damaged(dir, "files.img", e)),
    }
}

/// What `inspect --format json` shows of the checkpoint at `dir`, and its
/// process tree (`serve` shows the same).
pub fn details(dir: &Path, keys: &crate::model::trust::KeyDir) -> Result<(Value, Vec<Proc>)> {
    let m = mf::read(dir)?;
    let signed = crate::ops::catalog::signature_state(dir, keys).label();
    let saved: Value = mf::read_limited(dir, mf::CONTAINER, 16 << 20)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let procs = processes(dir)?;
    let stats = dump_stats(dir)?;
    let mut r = report(dir, &m, &saved, &procs, stats.as_ref(), &signed);
    if read_image(dir, "files.img")?.is_some() {
        r["tcp"] = serde_json::to_value(tcp_sockets(dir)?).unwrap_or_default();
    }
    Ok((r, procs))
}

/// What `inspect` shows of a group checkpoint: its manifest, its
/// signature, and each member's report. Pure.
pub fn group_report(dir: &Path, m: &GroupManifest, signed: &str, members: Vec<Value>) -> Value {
    json!({
        "checkpoint": dir,
        "group": m.name,
        "kind": m.kind,
        "project": m.project,
        "created": crate::store::rfc3339(m.created),
        "tool": m.tool,
        "signature": signed,
        "host": m.host,
        "stopped": m.stopped,
        "timings_ms": m.timings_ms,
        "networks": m.networks,
        "volumes": m.volumes,
        "order": m.members.iter().map(|x| json!({
            "container": x.container, "id": x.id, "service": x.service, "depends_on": x.depends_on, "endpoints": x.endpoints,
        })).collect::<Vec<_>>(),
        "members": members,
    })
}

/// The text form of `group_report`, each member's after it.
pub fn render_group_text(r: &Value, m: &GroupManifest, procs: &[Vec<Proc>]) -> String {
    let t = &m.timings_ms;
    let mut o = String::new();
    o += &format!(
        "Group:      {} ({} members) in {}\n",
        m.name,
        m.members.len(),
        r["checkpoint"].as_str().unwrap_or("")
    );
    if let Some(p) = &m.project {
        o += &format!("Project:    Compose project {p}\n");
    }
    o += &format!(
        "Created:    {} by {} ({})\n",
        r["created"].as_str().unwrap_or(""),
        m.tool,
        r["signature"].as_str().unwrap_or("")
    );
    o += &format!(
        "Frozen:     {} ms as one (freezing {} ms, thawing {} ms; networks held {} ms); dumps: {}{}\n",
        t.frozen,
        t.freeze,
        t.thaw,
        t.network_held,
        t.dumps.iter().map(|(k, v)| format!("{k} {v} ms")).collect::<Vec<_>>().join(", "),
        if m.stopped { "; stopped after" } else { "" }
    );
    for n in &m.networks {
        o += &format!(
            "Network:    {} ({}, {})\n",
            n.name,
            n.driver,
            n.subnets
                .iter()
                .map(|s| if s.gateway.is_empty() {
                    s.subnet.clone()
                } else {
                    format!("{} gateway {}", s.subnet, s.gateway)
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for v in &m.volumes {
        o += &format!("Volume:     {} ({}) used by {}\n", v.name, v.driver, v.users.join(", "));
    }
    o += "Members (in restore order):\n";
    for (i, x) in m.members.iter().enumerate() {
        let svc = x.service.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
        let after =
            if x.depends_on.is_empty() { String::new() } else { format!(", after {}", x.depends_on.join(", ")) };
        let eps: Vec<String> = x
            .endpoints
            .iter()
            .map(|e| {
                format!(
                    "{} on {}{}",
                    e.ipv4,
                    e.network,
                    if e.aliases.is_empty() { String::new() } else { format!(" as {}", e.aliases.join(", ")) }
                )
            })
            .collect();
        o += &format!(
            "  {}. {}{svc}{after}{}\n",
            i + 1,
            x.container,
            if eps.is_empty() { String::new() } else { format!(": {}", eps.join("; ")) }
        );
    }
    for (mr, p) in r["members"].as_array().into_iter().flatten().zip(procs) {
        o += &format!("\n== member {}\n", mr.pointer("/container/name").and_then(Value::as_str).unwrap_or(""));
        o += &render_text(mr, p);
    }
    o
}

/// `docker-cr inspect`.
pub fn run(session: &crate::session::Session, a: &Options) -> Result<()> {
    let dir: PathBuf = crate::ops::catalog::resolve(session, &a.checkpoint)?;
    let group_file = dir.join(crate::model::group::GROUP);
    let (r, text) = if std::fs::symlink_metadata(&group_file).is_ok() {
        let bytes = mf::read_limited(&dir, crate::model::group::GROUP, mf::MAX_MANIFEST)?.unwrap_or_default();
        let m = crate::model::group::parse(&bytes, &group_file)?;
        let signed = crate::ops::catalog::group_signature_state(&dir, &session.keys).label();
        let mut reports = Vec::new();
        let mut trees = Vec::new();
        for x in &m.members {
            let (r, p) = details(&dir.join(&x.container), &session.keys)?;
            reports.push(r);
            trees.push(p);
        }
        let r = group_report(&dir, &m, &signed, reports);
        let text = render_group_text(&r, &m, &trees);
        (r, text)
    } else {
        let (r, procs) = details(&dir, &session.keys)?;
        let text = render_text(&r, &procs);
        (r, text)
    };
    if let Some(t) = &a.template {
        let v = serde_json::to_value(&r).unwrap_or_default();
        let line = crate::ops::template::render(t, &v)
            .map_err(|e| crate::error::Error::Usage(format!("{e}\nTry 'docker-cr inspect --help'.")))?;
        println!("{line}");
        return Ok(());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print!("{text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::img::fixtures::{unhex, PSTREE, STATS};

    fn core(comm: &str) -> Vec<u8> {
        let tc = img::encode(&[(1, img::Value::Varint(1)), (6, img::Value::Bytes(comm.as_bytes()))]);
        let core = img::encode(&[(1, img::Value::Varint(1)), (3, img::Value::Bytes(&tc))]);
        img::write(&[img::COMMON_MAGIC, 0x5554_5410], &[core])
    }

    #[test]
    fn process_tree_and_commands() {
        let mut procs = pstree(&unhex(PSTREE)).unwrap();
        assert_eq!(
            procs.iter().map(|p| (p.pid, p.ppid, p.threads)).collect::<Vec<_>>(),
            vec![(1, 0, 1), (10, 1, 1), (85, 1, 1)]
        );
        for (p, c) in procs.iter_mut().zip(["sh", "httpd", "sleep"]) {
            p.comm = core_comm(&core(c)).unwrap();
        }
        assert_eq!(tree_lines(&procs), vec!["1 sh", "  10 httpd", "  85 sleep"]);
        assert!(core_comm(&img::write(&[img::COMMON_MAGIC, 1], &[img::encode(&[(1, img::Value::Varint(1))])])).is_err());
    }

    #[test]
    fn dump_statistics_by_name() {
        let s = stats(&unhex(STATS), false).unwrap();
        assert_eq!(s["freezing_time"], 845);
        assert_eq!(s["memwrite_time"], 411);
        assert_eq!(s["pages_written"], 50);
        assert!(stats(&unhex(STATS), true).is_err(), "no restore statistics in stats-dump");
    }

    #[test]
    fn a_cycle_in_a_damaged_tree_ends() {
        let p = |pid, ppid| Proc { pid, ppid, pgid: 1, sid: 1, threads: 1, comm: "x".into() };
        assert_eq!(tree_lines(&[p(1, 2), p(2, 1), p(3, 0)]), vec!["3 x", "1 x", "2 x"]);
        assert_eq!(tree_lines(&[p(1, 1)]).len(), 1);
    }

    #[test]
    fn damage_is_an_error() {
        let raw = unhex(PSTREE);
        for cut in 0..raw.len() {
            let _ = pstree(&raw[..cut]);
            let _ = stats(&raw[..cut], false);
        }
        assert_eq!(decode_all(&[], &[], &[]), 0);
    }
}
