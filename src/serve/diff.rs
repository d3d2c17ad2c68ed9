//! Two checkpoints side by side: what changed from `a` to `b` in their
//! processes (by pid: started, ended, a new command or thread count), their
//! memory (the page images' sizes and digests from the manifests:
//! equal digests mean equal memory; digests per piece tell how many pieces
//! changed), their file changes (rootfs-diff.tar's entries: added, removed,
//! changed size or kind, whiteouts) and their TCP sockets. Pure: the
//! caller reads both checkpoints (`serve::ops::diff_side`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::manifest::Manifest;
use crate::model::sockets::Tcp;
use crate::ops::inspect::Proc;

/// An entry of a checkpoint's rootfs-diff.tar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    /// file, dir, link, whiteout (a deletion), other.
    pub kind: &'static str,
}

/// What one checkpoint holds, as read for a comparison.
#[derive(Debug, Clone)]
pub struct Side {
    pub reference: String,
    pub manifest: Manifest,
    pub procs: Vec<Proc>,
    pub tcp: Vec<Tcp>,
    pub files: Vec<FileEntry>,
    /// The entry list was cut at the reader's limit.
    pub files_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcChange {
    pub pid: u32,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageChange {
    pub file: String,
    pub a_bytes: Option<u64>,
    pub b_bytes: Option<u64>,
    /// Some(true) when both digests are known and equal.
    pub same: Option<bool>,
    /// (pieces that differ, pieces) when both have digests per piece.
    pub pieces_changed: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    /// b's creation minus a's, in seconds.
    pub seconds_apart: i64,
    pub same_container: bool,
    pub processes_added: Vec<Proc>,
    pub processes_removed: Vec<Proc>,
    pub processes_changed: Vec<ProcChange>,
    pub pages_a: u64,
    pub pages_b: u64,
    pub memory: Vec<ImageChange>,
    pub files_added: Vec<FileEntry>,
    pub files_removed: Vec<FileEntry>,
    pub files_changed: Vec<FileChange>,
    pub files_truncated: bool,
    pub sockets_added: Vec<Tcp>,
    pub sockets_removed: Vec<Tcp>,
    /// One line per aspect, for the page and for humans.
    pub summary: Vec<String>,
}

fn proc_label(p: &Proc) -> String {
    if p.threads > 1 {
        format!("{} ({} threads)", p.comm, p.threads)
    } else {
        p.comm.clone()
    }
}

fn sock_key(t: &Tcp) -> (String, String, bool, bool) {
    (t.local.clone(), t.remote.clone(), t.listening, t.established)
}

fn file_label(f: &FileEntry) -> String {
    match f.kind {
        "file" => format!("file, {} bytes", f.size),
        k => k.to_string(),
    }
}

/// Is this manifest file a page image (the memory CRIU wrote)?
fn is_pages(name: &str) -> bool {
    name.rsplit('/').next().is_some_and(|f| f.starts_with("pages-") && f.ends_with(".img"))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

pub fn diff(a: &Side, b: &Side) -> Diff {
    let (ma, mb) = (&a.manifest, &b.manifest);
    // Processes, by pid (pids as the container sees them are stable while
    // it runs; a restored copy keeps them too).
    let pa: BTreeMap<u32, &Proc> = a.procs.iter().map(|p| (p.pid, p)).collect();
    let pb: BTreeMap<u32, &Proc> = b.procs.iter().map(|p| (p.pid, p)).collect();
    let processes_added: Vec<Proc> =
        pb.iter().filter(|(k, _)| !pa.contains_key(k)).map(|(_, p)| (*p).clone()).collect();
    let processes_removed: Vec<Proc> =
        pa.iter().filter(|(k, _)| !pb.contains_key(k)).map(|(_, p)| (*p).clone()).collect();
    let processes_changed: Vec<ProcChange> = pa
        .iter()
        .filter_map(|(k, x)| {
            let y = pb.get(k)?;
            (x.comm != y.comm || x.threads != y.threads).then(|| ProcChange {
                pid: *k,
                before: proc_label(x),
                after: proc_label(y),
            })
        })
        .collect();

    // Memory: page images by file name.
    let names: BTreeSet<&String> = ma.files.keys().chain(mb.files.keys()).filter(|n| is_pages(n)).collect();
    let memory: Vec<ImageChange> = names
        .into_iter()
        .map(|n| {
            let (x, y) = (ma.files.get(n), mb.files.get(n));
            let (same, pieces_changed) = match (x, y) {
                (Some(x), Some(y)) => {
                    let ((kx, wx, px), (ky, wy, py)) = (x.digests(), y.digests());
                    if kx != ky {
                        // Manifests of two formats (SHA-256 and BLAKE3): no telling.
                        (None, None)
                    } else if !wx.is_empty() && !wy.is_empty() {
                        (Some(wx == wy), None)
                    } else if !px.is_empty() && px.len() == py.len() {
                        let n = px.iter().zip(py).filter(|(p, q)| p != q).count();
                        (Some(n == 0 && x.size == y.size), Some((n, px.len())))
                    } else {
                        (Some(false), None)
                    }
                }
                _ => (None, None),
            };
            ImageChange {
                file: n.clone(),
                a_bytes: x.map(|f| f.size),
                b_bytes: y.map(|f| f.size),
                same,
                pieces_changed,
            }
        })
        .collect();

    // File changes of the container (its rootfs diff).
    let fa: BTreeMap<&str, &FileEntry> = a.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let fb: BTreeMap<&str, &FileEntry> = b.files.iter().map(|f| (f.path.as_str(), f)).collect();
    let files_added: Vec<FileEntry> =
        fb.iter().filter(|(k, _)| !fa.contains_key(*k)).map(|(_, f)| (*f).clone()).collect();
    let files_removed: Vec<FileEntry> =
        fa.iter().filter(|(k, _)| !fb.contains_key(*k)).map(|(_, f)| (*f).clone()).collect();
    let files_changed: Vec<FileChange> = fa
        .iter()
        .filter_map(|(k, x)| {
            let y = fb.get(k)?;
            (x.kind != y.kind || x.size != y.size).then(|| FileChange {
                path: k.to_string(),
                before: file_label(x),
                after: file_label(y),
            })
        })
        .collect();

    let sa: BTreeSet<_> = a.tcp.iter().map(sock_key).collect();
    let sb: BTreeSet<_> = b.tcp.iter().map(sock_key).collect();
    let sockets_added: Vec<Tcp> = b.tcp.iter().filter(|t| !sa.contains(&sock_key(t))).cloned().collect();
    let sockets_removed: Vec<Tcp> = a.tcp.iter().filter(|t| !sb.contains(&sock_key(t))).cloned().collect();

    let mut summary = Vec::new();
    summary.push(if processes_added.is_empty() && processes_removed.is_empty() && processes_changed.is_empty() {
        format!("processes: the same {}", b.procs.len())
    } else {
        format!(
            "processes: {} → {} ({} started, {} ended, {} changed)",
            a.procs.len(),
            b.procs.len(),
            processes_added.len(),
            processes_removed.len(),
            processes_changed.len()
        )
    });
    let differing = memory.iter().filter(|m| m.same != Some(true)).count();
    summary.push(if differing == 0 && !memory.is_empty() {
        format!("memory: identical ({} in {} page images)", mib(mb.sizes.pages_bytes), memory.len())
    } else {
        format!(
            "memory: {} → {} ({} of {} page images differ)",
            mib(ma.sizes.pages_bytes),
            mib(mb.sizes.pages_bytes),
            differing,
            memory.len()
        )
    });
    summary.push(if files_added.is_empty() && files_removed.is_empty() && files_changed.is_empty() {
        format!("files: the same {} changed paths", b.files.len())
    } else {
        format!(
            "files: {} added, {} gone, {} changed{}",
            files_added.len(),
            files_removed.len(),
            files_changed.len(),
            if a.files_truncated || b.files_truncated { " (lists cut at the limit)" } else { "" }
        )
    });
    summary.push(if sockets_added.is_empty() && sockets_removed.is_empty() {
        format!("sockets: the same {} TCP sockets", b.tcp.len())
    } else {
        format!("sockets: {} opened, {} closed", sockets_added.len(), sockets_removed.len())
    });

    Diff {
        a: a.reference.clone(),
        b: b.reference.clone(),
        seconds_apart: mb.created as i64 - ma.created as i64,
        same_container: ma.container.id == mb.container.id,
        processes_added,
        processes_removed,
        processes_changed,
        pages_a: ma.sizes.pages_bytes,
        pages_b: mb.sizes.pages_bytes,
        memory,
        files_added,
        files_removed,
        files_changed,
        files_truncated: a.files_truncated || b.files_truncated,
        sockets_added,
        sockets_removed,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::manifest::{tests_sample, FileSum};

    fn p(pid: u32, comm: &str, threads: usize) -> Proc {
        Proc { pid, ppid: if pid == 1 { 0 } else { 1 }, pgid: 1, sid: 1, threads, comm: comm.into() }
    }
    fn f(path: &str, size: u64, kind: &'static str) -> FileEntry {
        FileEntry { path: path.into(), size, kind }
    }
    fn tcp(local: &str, remote: &str) -> Tcp {
        Tcp {
            listening: remote.is_empty(),
            established: !remote.is_empty(),
            local: local.into(),
            remote: remote.into(),
            connected: !remote.is_empty(),
            loopback: false,
        }
    }
    fn side(r: &str, created: u64, pages: &[(&str, u64, &str)]) -> Side {
        let mut m = tests_sample();
        m.created = created;
        m.files.clear();
        m.files.insert("checkpoint/pstree.img".into(), FileSum { size: 10, blake3: "aa".into(), ..Default::default() });
        for (n, size, sha) in pages {
            m.files.insert(
                format!("checkpoint/{n}"),
                FileSum { size: *size, blake3: sha.to_string(), ..Default::default() },
            );
        }
        m.sizes.pages_bytes = pages.iter().map(|x| x.1).sum();
        Side { reference: r.into(), manifest: m, procs: vec![], tcp: vec![], files: vec![], files_truncated: false }
    }

    #[test]
    fn identical_checkpoints() {
        let mut a = side("web/a", 100, &[("pages-1.img", 4096, "x")]);
        a.procs = vec![p(1, "sh", 1)];
        a.files = vec![f("tmp/t", 3, "file")];
        a.tcp = vec![tcp("0.0.0.0:80", "")];
        let b = Side { reference: "web/b".into(), ..a.clone() };
        let d = diff(&a, &b);
        assert!(d.processes_added.is_empty() && d.processes_changed.is_empty() && d.files_changed.is_empty());
        assert_eq!(d.memory.len(), 1, "pstree.img is not memory");
        assert_eq!(d.memory[0].same, Some(true));
        assert_eq!(
            d.summary,
            vec![
                "processes: the same 1",
                "memory: identical (0.0 MiB in 1 page images)",
                "files: the same 1 changed paths",
                "sockets: the same 1 TCP sockets"
            ]
        );
        assert!(d.same_container && d.seconds_apart == 0);
    }

    #[test]
    fn what_changed() {
        let mut a = side("web/a", 100, &[("pages-1.img", 4096, "x"), ("pages-2.img", 8192, "y")]);
        a.procs = vec![p(1, "sh", 1), p(7, "sleep", 1), p(9, "httpd", 1)];
        a.files = vec![f("tmp/a", 3, "file"), f("tmp/gone", 1, "file"), f("etc/x", 0, "whiteout")];
        a.tcp = vec![tcp("0.0.0.0:80", ""), tcp("10.0.0.2:80", "10.0.0.1:5000")];
        let mut b =
            side("web/b", 160, &[("pages-1.img", 4096, "x"), ("pages-2.img", 12288, "z"), ("pages-3.img", 1, "q")]);
        b.procs = vec![p(1, "sh", 1), p(9, "httpd", 4), p(12, "sleep", 1)];
        b.files = vec![f("tmp/a", 30, "file"), f("tmp/new", 1, "file"), f("etc/x", 0, "whiteout")];
        b.tcp = vec![tcp("0.0.0.0:80", "")];
        let d = diff(&a, &b);
        assert_eq!(d.seconds_apart, 60);
        assert_eq!(d.processes_added.iter().map(|p| p.pid).collect::<Vec<_>>(), vec![12]);
        assert_eq!(d.processes_removed.iter().map(|p| p.pid).collect::<Vec<_>>(), vec![7]);
        assert_eq!(
            d.processes_changed,
            vec![ProcChange { pid: 9, before: "httpd".into(), after: "httpd (4 threads)".into() }]
        );
        let same: Vec<_> = d.memory.iter().map(|m| (m.file.as_str(), m.same)).collect();
        assert_eq!(
            same,
            vec![
                ("checkpoint/pages-1.img", Some(true)),
                ("checkpoint/pages-2.img", Some(false)),
                ("checkpoint/pages-3.img", None)
            ]
        );
        assert_eq!(d.files_added, vec![f("tmp/new", 1, "file")]);
        assert_eq!(d.files_removed, vec![f("tmp/gone", 1, "file")]);
        assert_eq!(
            d.files_changed,
            vec![FileChange { path: "tmp/a".into(), before: "file, 3 bytes".into(), after: "file, 30 bytes".into() }]
        );
        assert_eq!((d.sockets_added.len(), d.sockets_removed.len()), (0, 1));
        assert_eq!(d.summary[0], "processes: 3 → 3 (1 started, 1 ended, 1 changed)");
        assert_eq!(d.summary[1], "memory: 0.0 MiB → 0.0 MiB (2 of 3 page images differ)");
        assert_eq!(d.summary[2], "files: 1 added, 1 gone, 1 changed");
        assert_eq!(d.summary[3], "sockets: 0 opened, 1 closed");
        // The JSON the page reads.
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["memory"][2]["same"], serde_json::Value::Null);
        assert_eq!(v["files_changed"][0]["after"], "file, 30 bytes");
        assert_eq!(v["processes_added"][0]["comm"], "sleep");
    }

    #[test]
    fn memory_by_pieces() {
        let mut a = side("a", 0, &[]);
        let mut b = side("b", 0, &[]);
        let big = |c: &[&str]| FileSum {
            size: 3 << 20,
            blake3_chunks: c.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        a.manifest.files.insert("checkpoint/pages-1.img".into(), big(&["1", "2", "3"]));
        b.manifest.files.insert("checkpoint/pages-1.img".into(), big(&["1", "x", "3"]));
        let d = diff(&a, &b);
        assert_eq!((d.memory[0].same, d.memory[0].pieces_changed), (Some(false), Some((1, 3))));
        b.manifest.files.insert("checkpoint/pages-1.img".into(), big(&["1", "2", "3"]));
        assert_eq!(diff(&a, &b).memory[0].same, Some(true));
    }
}
