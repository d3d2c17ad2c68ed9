//! The checkpoint directory: its layout (names as constants) and the
//! versioned `manifest.json` that says what is in it and where it came from.
//!
//! ```text
//! <checkpoint-dir>/            0700
//!   manifest.json              this file's `Manifest`
//!   container.json             GET /containers/<id>/json at checkpoint time
//!   spec.json                  the OCI runtime spec the container ran with
//!   criu-dump.conf             the config `criu dump` ran with
//!   criu-dump.log              CRIU's log of the dump
//!   checkpoint/                CRIU's images, plus runc's descriptors.json
//!   rootfs-diff.tar            the container's file changes (overlay upper dir)
//!   criu-restore.log           written when a restore failed
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

pub const MANIFEST: &str = "manifest.json";
pub const CONTAINER: &str = "container.json";
pub const SPEC: &str = "spec.json";
pub const DUMP_CONF: &str = "criu-dump.conf";
pub const DUMP_LOG: &str = "criu-dump.log";
pub const IMAGES: &str = "checkpoint";
pub const DESCRIPTORS: &str = "descriptors.json";
pub const ROOTFS_DIFF: &str = "rootfs-diff.tar";
pub const RESTORE_LOG: &str = "criu-restore.log";

/// Bumped whenever a reader of the old format would get it wrong.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub tool: String,
    pub created: u64,
    pub container: Source,
    pub host: Host,
    pub options: DumpOptions,
    pub timings_ms: Timings,
    pub sizes: Sizes,
    /// Every file of the checkpoint but this manifest, by relative path.
    pub files: BTreeMap<String, FileSum>,
}

/// A file's size and xxHash64 (see `xxh64` for what that protects against).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileSum {
    pub size: u64,
    pub xxh64: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub image: String,
    pub init_pid: i32,
    pub paused: bool,
    /// The container's address on each network at checkpoint time.
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub criu: String,
    pub kernel: String,
    pub arch: String,
    pub cgroup: u32,
    pub storage_driver: String,
    pub docker: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DumpOptions {
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub file_locks: bool,
    pub stopped: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub total: u64,
    /// How long the container's processes were frozen.
    pub frozen: u64,
    pub criu_dump: u64,
    pub rootfs: u64,
    pub checksums: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sizes {
    pub images_bytes: u64,
    pub pages_bytes: u64,
    pub rootfs_diff_bytes: u64,
    pub rootfs_files: u64,
    pub rootfs_deleted: u64,
}

pub fn sum_file(path: &Path) -> Result<FileSum> {
    let mut f = fs::File::open(path).at("open", path)?;
    let mut h = crate::xxh64::Xxh64::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).at("read", path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileSum { size, xxh64: format!("{:016x}", h.finish()) })
}

/// Sums every regular file under `dir` except the manifest.
pub fn sum_dir(dir: &Path) -> Result<BTreeMap<String, FileSum>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let d = dir.join(&rel);
        for e in fs::read_dir(&d).at("list", &d)? {
            let e = e.at("list", &d)?;
            let r = rel.join(e.file_name());
            let ft = e.file_type().at("stat", &e.path())?;
            if ft.is_dir() {
                todo.push(r);
            } else if ft.is_file() && r != Path::new(MANIFEST) {
                out.insert(r.to_string_lossy().into_owned(), sum_file(&e.path())?);
            }
        }
    }
    Ok(out)
}

/// Checks every listed file before anything is restored: sizes first (cheap,
/// catches truncation at once), then checksums.
pub fn verify(dir: &Path, files: &BTreeMap<String, FileSum>) -> Result<u64> {
    let damaged = |name: &str, why: String| {
        Error::checkpoint(
            format!("{}: {name} {why}", dir.display()),
            "the checkpoint is damaged (truncated or corrupted copy?); nothing was changed. Copy it again from its source",
        )
    };
    let mut paths = Vec::with_capacity(files.len());
    for (name, want) in files {
        let rel = crate::rootfs::safe_relative(Path::new(name))
            .ok_or_else(|| damaged(name, "is not a path inside the checkpoint (hand-edited manifest?)".into()))?;
        let p = dir.join(rel);
        let md = fs::symlink_metadata(&p).map_err(|_| damaged(name, "is missing".into()))?;
        if !md.is_file() {
            return Err(damaged(name, "is not a regular file".into()));
        }
        if md.len() != want.size {
            return Err(damaged(name, format!("has {} bytes; the manifest says {}", md.len(), want.size)));
        }
        paths.push((name, p, want));
    }
    let mut bytes = 0;
    for (name, p, want) in paths {
        let got = sum_file(&p)?;
        if got.xxh64 != want.xxh64 {
            return Err(damaged(name, "does not match its checksum".into()));
        }
        bytes += got.size;
    }
    Ok(bytes)
}

pub fn to_json(m: &Manifest) -> String {
    let mut s = serde_json::to_string_pretty(m).unwrap_or_default();
    s.push('\n');
    s
}

/// Parses and checks a manifest read from `path` (for the error message).
pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::checkpoint(
            format!("{} is not valid JSON: {e}", path.display()),
            "the checkpoint is damaged or was not written by docker-cr",
        )
    })?;
    let format = v.get("format").and_then(|f| f.as_u64()).ok_or_else(|| {
        Error::checkpoint(format!("{} has no format version", path.display()), "it was not written by docker-cr")
    })?;
    if format != FORMAT as u64 {
        return Err(Error::checkpoint(
            format!("{} has format {format}; this docker-cr reads format {FORMAT}", path.display()),
            "restore it with the docker-cr version that wrote it (see \"tool\" in the manifest)",
        ));
    }
    serde_json::from_value(v)
        .map_err(|e| Error::checkpoint(format!("{} is incomplete: {e}", path.display()), "the checkpoint is damaged"))
}

pub fn read(dir: &Path) -> Result<Manifest> {
    let p = dir.join(MANIFEST);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::checkpoint(
                format!("{} is not a docker-cr checkpoint: it has no {MANIFEST}", dir.display()),
                "name the directory 'docker-cr checkpoint' wrote",
            ))
        }
        Err(e) => return Err(e).at("read", &p),
    };
    parse(&text, &p)
}

/// A manifest for other modules' tests.
#[cfg(test)]
pub fn tests_sample() -> Manifest {
    tests::sample()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> Manifest {
        Manifest {
            format: FORMAT,
            tool: "docker-cr 0.1.0".into(),
            created: 1_800_000_000,
            container: Source {
                id: "abc".into(),
                name: "web".into(),
                image: "sha256:1".into(),
                init_pid: 42,
                paused: false,
                addresses: vec!["172.17.0.2".into()],
            },
            host: Host {
                criu: "4.2.1".into(),
                kernel: "6.18.44".into(),
                arch: "x86_64".into(),
                cgroup: 1,
                storage_driver: "overlay2".into(),
                docker: "20.10.24".into(),
            },
            options: DumpOptions { tcp_established: true, ext_unix_sk: true, file_locks: true, stopped: false },
            timings_ms: Timings { total: 300, frozen: 200, criu_dump: 150, rootfs: 5, checksums: 1 },
            sizes: Sizes::default(),
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(parse(&to_json(&m), Path::new("m")).unwrap(), m);
    }

    #[test]
    fn unknown_format_and_damage_are_refused() {
        let p = Path::new("/cp/manifest.json");
        let mut v: serde_json::Value = serde_json::from_str(&to_json(&sample())).unwrap();
        v["format"] = 99.into();
        let e = parse(&v.to_string(), p).unwrap_err();
        assert!(e.to_string().contains("format 99"), "{e}");
        assert_eq!(e.exit_code(), 5);
        assert!(parse("{\"format\": 1", p).unwrap_err().to_string().contains("not valid JSON"));
        assert!(parse("{\"format\": 1}", p).unwrap_err().to_string().contains("incomplete"));
        assert!(parse("[]", p).unwrap_err().to_string().contains("no format"));
    }

    #[test]
    fn verify_names_the_damaged_file() {
        let d = std::env::temp_dir().join(format!("docker-cr-verify-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("checkpoint")).unwrap();
        fs::write(d.join("checkpoint/pages-1.img"), vec![7u8; 100_000]).unwrap();
        fs::write(d.join("container.json"), "{}").unwrap();
        fs::write(d.join(MANIFEST), "ignored").unwrap();
        let files = sum_dir(&d).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["checkpoint/pages-1.img", "container.json"]);
        assert_eq!(verify(&d, &files).unwrap(), 100_002);
        // Truncated: named, by size.
        fs::write(d.join("checkpoint/pages-1.img"), vec![7u8; 4096]).unwrap();
        let e = verify(&d, &files).unwrap_err().to_string();
        assert!(e.contains("checkpoint/pages-1.img has 4096 bytes; the manifest says 100000"), "{e}");
        // Same size, other bytes: named, by checksum.
        let mut data = vec![7u8; 100_000];
        data[50_000] = 8;
        fs::write(d.join("checkpoint/pages-1.img"), data).unwrap();
        assert!(verify(&d, &files).unwrap_err().to_string().contains("pages-1.img does not match its checksum"));
        // A hand-edited manifest cannot make us read outside the checkpoint.
        let mut evil = BTreeMap::new();
        evil.insert("../../etc/shadow".to_string(), FileSum { size: 1, xxh64: "0".into() });
        assert!(verify(&d, &evil).unwrap_err().to_string().contains("not a path inside"));
        fs::remove_dir_all(&d).unwrap();
    }
}
