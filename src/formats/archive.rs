//! One-file archives of a checkpoint: an adapter to and from the checkpoint
//! directory (the one model; see DESIGN.md), in the layout Podman, CRI-O and
//! checkpointctl use, so that `checkpointctl show` reads ours and ours can
//! carry theirs.
//!
//! ```text
//! manifest.json, manifest.sig  docker-cr's signed manifest (first, so a
//!                              reader knows at once what it is reading)
//! config.dump                  checkpointctl's reduced container config
//! spec.dump                    the OCI spec (a copy of spec.json)
//! checkpoint/                  CRIU's images (a directory entry, then files)
//! container.json, spec.json, criu-dump.conf, criu-dump.log, stats-dump
//! docker-cr/rootfs-diff.tar    the signed overlay diff (whiteouts kept);
//!                              only when it has deletions
//! rootfs-diff.tar              the file changes without overlay whiteouts
//! deleted.files                JSON array of deleted paths (when any)
//! ```
//!
//! The whole is a tar, compressed with zstd (default, with a checksum per
//! frame), gzip (CRC-32) or not at all; readers tell by the magic bytes.
//! Writing and reading stream: nothing holds the archive in memory or on
//! disk. Reading trusts nothing: entry names are a fixed shape (no links,
//! devices, `..`, or names outside the layout), files are created beneath
//! a fresh private directory with openat2, sizes are bounded, a stream that
//! ends before the tar's end marker is truncated, and a docker-cr archive's
//! files are checked against its manifest before the directory appears.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, IoContext, Result};
use crate::model::group::GroupManifest;
use crate::model::manifest::{self as mf, Manifest};
use crate::model::targuard::TarGuard;
use crate::model::trust;

pub const CONFIG_DUMP: &str = "config.dump";
pub const SPEC_DUMP: &str = "spec.dump";
pub const DELETED_FILES: &str = "deleted.files";
/// docker-cr's own rootfs diff (with overlay whiteouts), which the manifest
/// signs, when it differs from the Podman-form `rootfs-diff.tar`.
pub const OWN_DIFF: &str = "docker-cr/rootfs-diff.tar";
/// docker-cr's own files beside the layout; also the signed originals of
/// the CRIU images the archive carries in Podman's form (`docker-cr/NAME.img`
/// for `checkpoint/NAME.img`).
pub const OWN_DIR: &str = "docker-cr";

/// Named volumes travel as `volumes/<name>.tar`; their list, with each
/// tar's size and SHA-256, is signed by the exporting host (the manifest,
/// signed at checkpoint time, cannot cover what is read at export time).
pub const VOLUMES_DIR: &str = "volumes";
pub const VOLUMES_LIST: &str = "docker-cr/volumes.json";
pub const VOLUMES_SIG: &str = "docker-cr/volumes.sig";

/// The container's image (`docker save`), with --with-image.
pub const IMAGE_TAR: &str = "docker-cr/image.tar";

/// Small metadata files are read into memory by someone: bounded.
pub const MAX_SMALL: u64 = 16 << 20;
/// More entries than any checkpoint has (a few hundred): an inode bomb.
pub const MAX_ENTRIES: usize = 100_000;

/// zstd level 1 on one thread: bench/archive (at 1 GiB, incompressible
/// memory faster than the disk writes; zstd's worker threads were slower).
const ZSTD_LEVEL: i32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "zstd" => Some(Compression::Zstd),
            "gzip" => Some(Compression::Gzip),
            "none" => Some(Compression::None),
            _ => None,
        }
    }
    /// By the magic bytes, as containers/storage's DetectCompression does;
    /// anything else is read as a plain tar. Pure.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0x1f, 0x8b, 0x08]) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
}

/// What an archive entry may be. Pure: names from the archive are
/// untrusted, and only the layout's shapes are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// A directory of the layout (`checkpoint`, `volumes`, ...).
    Dir(String),
    /// A file, by its path relative to the checkpoint directory, with the
    /// most bytes it may have (None: bounded by free space only).
    File(String, Option<u64>),
}

const DIRS: &[&str] = &["checkpoint", "volumes", "artifacts", "docker-cr"];

fn plain_name(n: &str) -> bool {
    !n.is_empty()
        && n != "."
        && n != ".."
        && n.len() <= 255
        && !n.bytes().any(|b| b == b'/' || b == 0 || b < 0x20 || b == 0x7f)
}

/// Classifies the entry `path` (a directory when `dir`). Pure.
pub fn classify(path: &str, dir: bool) -> std::result::Result<Slot, String> {
    let p = path.trim_start_matches("./").trim_end_matches('/');
    let parts: Vec<&str> = p.split('/').collect();
    if parts.iter().any(|c| !plain_name(c)) {
        return Err("is not a plain relative name (empty, '..', absolute or control characters)".into());
    }
    match (parts.as_slice(), dir) {
        ([d], true) if DIRS.contains(d) => Ok(Slot::Dir((*d).to_string())),
        ([d], true) => Err(format!("is a directory docker-cr does not know ({d}/)")),
        ([f], false) => {
            let small = matches!(
                *f,
                mf::MANIFEST
                    | trust::SIG
                    | mf::CONTAINER
                    | mf::SPEC
                    | CONFIG_DUMP
                    | SPEC_DUMP
                    | DELETED_FILES
                    | "network.status"
                    | "pod.options"
                    | "pod.dump"
                    // CRI-O's and containerd's (the kubelet's archives).
                    | "bind.mounts"
                    | "io.kubernetes.cri-o.LogPath"
                    | "dump.log"
                    | "status.dump"
                    | "status"
                    | "container.log"
            );
            Ok(Slot::File(p.to_string(), small.then_some(MAX_SMALL)))
        }
        ([d, _], false) if DIRS.contains(d) => {
            let small = p == VOLUMES_LIST || p == VOLUMES_SIG;
            Ok(Slot::File(p.to_string(), small.then_some(MAX_SMALL)))
        }
        (_, _) => Err("is not part of a checkpoint archive's layout".into()),
    }
}

/// The container config of config.dump, from the saved inspect data and
/// the OCI spec: checkpointctl's reduced struct (lib/metadata.go: what
/// `checkpointctl show` prints; CRI-O and containerd read the same keys)
/// and, under the same keys where the two overlap, the libpod
/// `ContainerConfig` fields Podman 4 needs to restore it (`podman
/// container restore --import`): the image by ID and name, the command,
/// the network, the shm size. Podman makes its own paths (storage, logs,
/// shm, pid files), so none of the exporting host's travel. `spec` is the
/// spec.dump made by `podman::spec_dump`. Pure.
pub fn config_dump(saved: &serde_json::Value, spec: &serde_json::Value, m: &Manifest) -> serde_json::Value {
    use serde_json::Value;
    let s = |p: &str| saved.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let list = |p: &str| saved.pointer(p).filter(|v| v.is_array()).cloned().unwrap_or(Value::Null);
    let hc = &saved["HostConfig"];
    let mut cfg = serde_json::json!({
        "id": m.container.id,
        "name": m.container.name,
        "rootfsImage": s("/Config/Image"),
        "rootfsImageRef": s("/Image"),
        "rootfsImageName": s("/Config/Image"),
        "runtime": "runc",
        "createdTime": s("/Created"),
        "checkpointedTime": rfc3339(m.created),
        "restoredTime": "0001-01-01T00:00:00Z",
        "restored": false,
        // libpod: the image must exist in Podman with the same ID (the
        // config digest, the same after `docker save | podman load`).
        "spec": spec,
        "rootfsImageID": s("/Image").trim_start_matches("sha256:"),
        "RawImageName": s("/Config/Image"),
        "entrypoint": list("/Config/Entrypoint"),
        "command": list("/Config/Cmd"),
        "labels": saved.pointer("/Config/Labels").filter(|v| v.is_object()).cloned().unwrap_or(Value::Null),
        "stdin": saved.pointer("/Config/OpenStdin").and_then(Value::as_bool).unwrap_or(false),
        "stopSignal": 15,
        "stopTimeout": saved.pointer("/Config/StopTimeout").and_then(Value::as_u64).unwrap_or(10),
        "shmSize": hc["ShmSize"].as_u64().filter(|&n| n > 0).unwrap_or(64 << 20),
        "logDriver": "k8s-file",
        "umask": "0022",
        "healthcheck": Value::Null,
    });
    let uid = spec.pointer("/process/user/uid").and_then(Value::as_u64).unwrap_or(0);
    let gid = spec.pointer("/process/user/gid").and_then(Value::as_u64).unwrap_or(0);
    let net = match hc["NetworkMode"].as_str().unwrap_or("default") {
        "none" => serde_json::json!({"createNetNS": true, "networkMode": "none"}),
        "host" => serde_json::json!({"createNetNS": false, "networkMode": "host"}),
        // Docker's networks do not exist in Podman: its default one.
        _ => serde_json::json!({
            "createNetNS": true,
            "networkMode": "bridge",
            "newNetworks": {"podman": {"interface_name": "eth0"}},
            "newPortMappings": port_mappings(&hc["PortBindings"]),
        }),
    };
    if let (Some(o), Some(n)) = (cfg.as_object_mut(), net.as_object()) {
        o.extend(n.clone());
        if uid != 0 || gid != 0 {
            // libpod refuses a spec user it was not told of.
            o.insert("user".into(), Value::String(format!("{uid}:{gid}")));
        }
    }
    cfg
}

/// Docker's PortBindings as libpod's PortMapping list. Pure.
fn port_mappings(bindings: &serde_json::Value) -> serde_json::Value {
    let mut out = Vec::new();
    for (key, hosts) in bindings.as_object().into_iter().flatten() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<u16>() else { continue };
        for h in hosts.as_array().into_iter().flatten() {
            let host_port = h["HostPort"].as_str().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0);
            out.push(serde_json::json!({
                "host_ip": h["HostIp"].as_str().unwrap_or(""),
                "container_port": container_port,
                "host_port": host_port,
                "range": 1,
                "protocol": proto,
            }));
        }
    }
    serde_json::Value::Array(out)
}

/// Seconds since the epoch as RFC 3339 UTC. Pure.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Rewrites docker-cr's rootfs diff (an overlay upper dir, whiteouts as 0:0
/// character devices) into Podman's form: the same entries without the
/// whiteouts and without overlay's own xattrs, and the deleted paths
/// (absolute, as Podman writes them). Returns them and whether anything
/// had to change (if not, the original bytes are already in Podman's form).
pub fn podman_diff(input: impl Read, out: impl Write) -> io::Result<(Vec<String>, bool)> {
    let mut ar = tar::Archive::new(TarGuard::new(input));
    let mut b = tar::Builder::new(out);
    let mut deleted = Vec::new();
    let mut changed = false;
    for e in ar.entries()? {
        let mut e = e?;
        let path = e.path()?.into_owned();
        let h = e.header().clone();
        let kind = h.entry_type();
        if kind == tar::EntryType::Char && h.device_major()? == Some(0) && h.device_minor()? == Some(0) {
            deleted.push(format!("/{}", path.to_string_lossy().trim_start_matches("./")));
            changed = true;
            continue;
        }
        let mut xattrs = Vec::new();
        if let Some(exts) = e.pax_extensions()? {
            for x in exts {
                let x = x?;
                let k = x.key_bytes();
                if let Some(name) = k.strip_prefix(crate::model::rootfs::XATTR_PREFIX.as_bytes()) {
                    if name.starts_with(b"trusted.overlay.") {
                        changed = true;
                    } else {
                        xattrs.push((name.to_vec(), x.value_bytes().to_vec()));
                    }
                }
            }
        }
        if !xattrs.is_empty() {
            crate::model::rootfs::append_pax(&mut b, &xattrs)?;
        }
        let mut h2 = h.clone();
        match kind {
            tar::EntryType::Link | tar::EntryType::Symlink => {
                let target = e.link_name()?.unwrap_or_default().into_owned();
                b.append_link(&mut h2, &path, &target)?;
            }
            _ => b.append_data(&mut h2, &path, &mut e)?,
        }
    }
    b.into_inner()?;
    Ok((deleted, changed))
}

/// The named volumes of the saved container (inspect data): volume mounts
/// that its Binds or Mounts name, not anonymous ones. Pure.
pub fn named_volumes(saved: &serde_json::Value) -> Vec<String> {
    let anonymous: Vec<String> =
        crate::model::container::anonymous_volumes(saved).into_iter().map(|v| v.name).collect();
    let mut v: Vec<String> = saved["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "volume")
        .filter_map(|m| m["Name"].as_str())
        .filter(|n| !anonymous.iter().any(|a| a == n))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The host paths the saved container bind-mounts: (host path, container
/// path). They never travel. Pure.
pub fn host_binds(saved: &serde_json::Value) -> Vec<(String, String)> {
    saved["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "bind")
        .filter_map(|m| Some((m["Source"].as_str()?.to_string(), m["Destination"].as_str()?.to_string())))
        .collect()
}

/// A named volume to pack: its name and its directory on this host.
#[derive(Debug, Clone)]
pub struct VolumeSrc {
    pub name: String,
    pub path: PathBuf,
}

/// What an export adds beyond the checkpoint directory.
#[derive(Default)]
pub struct Extras {
    pub volumes: Vec<VolumeSrc>,
    /// This host's key and its comment, to sign the volumes' list.
    pub key: Option<(ed25519_dalek::SigningKey, String)>,
    /// A staged `docker save` of the container's image.
    pub image: Option<PathBuf>,
}

/// SHA-256 of what passes, and how much.
struct Hashing {
    sha: sha2::Sha256,
    n: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        self.sha.update(buf);
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that counts what passes through it.
struct Counting<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The compressor in front of the output (also an image layer's: see
/// `oci`, which hashes the tar before and after it).
pub enum Sink<W: Write> {
    Zstd(zstd::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
    Plain(W),
}

impl<W: Write> Sink<W> {
    pub fn new(w: W, c: Compression) -> io::Result<Sink<W>> {
        Ok(match c {
            Compression::Zstd => {
                let mut e = zstd::Encoder::new(w, ZSTD_LEVEL)?;
                e.include_checksum(true)?;
                Sink::Zstd(e)
            }
            Compression::Gzip => Sink::Gzip(flate2::write::GzEncoder::new(w, flate2::Compression::fast())),
            Compression::None => Sink::Plain(w),
        })
    }
    pub fn finish(self) -> io::Result<W> {
        match self {
            Sink::Zstd(e) => e.finish(),
            Sink::Gzip(e) => e.finish(),
            Sink::Plain(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Zstd(e) => e.write(buf),
            Sink::Gzip(e) => e.write(buf),
            Sink::Plain(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Zstd(e) => e.flush(),
            Sink::Gzip(e) => e.flush(),
            Sink::Plain(w) => w.flush(),
        }
    }
}

#[derive(Debug, Default)]
pub struct ExportStats {
    pub files: usize,
    /// Bytes of the checkpoint's files.
    pub bytes_in: u64,
    /// Bytes of the archive written.
    pub bytes_out: u64,
    pub deleted: usize,
    pub volumes: usize,
    /// Why Podman cannot restore the archive (empty: it can); None when
    /// the checkpoint has no saved container to tell.
    pub podman: Option<Vec<String>>,
}

fn header(size: u64, mtime: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
    h.set_mode(if dir { 0o700 } else { 0o600 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

/// A reader that fails unless it yields exactly `want` bytes: a file that
/// changes size while it is archived would otherwise corrupt the tar.
struct Exact<R> {
    inner: R,
    left: u64,
    what: String,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!("{} grew while it was archived", self.what))),
            };
        }
        let max = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} is shorter than the manifest says", self.what),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes the checkpoint directory `dir` as an archive to `out`. Only the
/// files the manifest lists (and the manifest and its signature) go in,
/// each opened beneath `dir` without following links.
pub fn export(dir: &Path, out: impl Write, c: Compression, extras: &Extras) -> Result<ExportStats> {
    let arch_err = |e: io::Error| Error::Io { op: "write the archive of", path: dir.to_path_buf(), source: e };
    let mut b = tar::Builder::new(Sink::new(Counting { inner: out, n: 0 }, c).map_err(arch_err)?);
    let mut st = ExportStats::default();
    let mut dirs = BTreeSet::new();
    let t = write_checkpoint(&mut b, dir, "", extras.image.as_deref(), &mut st, &mut dirs)?;
    write_volumes(&mut b, dir, &extras.volumes, extras.key.as_ref(), t, &mut st, &mut dirs)?;
    finish_archive(b, dir, st)
}

/// Ends the tar and the compressor; the bytes written.
fn finish_archive<W: Write>(
    b: tar::Builder<Sink<Counting<W>>>,
    dir: &Path,
    mut st: ExportStats,
) -> Result<ExportStats> {
    let arch_err = |e: io::Error| Error::Io { op: "write the archive of", path: dir.to_path_buf(), source: e };
    let sink = b.into_inner().map_err(arch_err)?;
    let mut counted = sink.finish().map_err(arch_err)?;
    counted.flush().map_err(arch_err)?;
    st.bytes_out = counted.n;
    Ok(st)
}

/// A directory entry for each directory above `name` not written yet.
fn ensure_dirs<B: Write>(
    b: &mut tar::Builder<B>,
    dirs: &mut BTreeSet<String>,
    name: &str,
    t: u64,
    dir: &Path,
) -> Result<()> {
    let arch_err = |e: io::Error| Error::Io { op: "write the archive of", path: dir.to_path_buf(), source: e };
    let mut at = 0;
    while let Some(k) = name[at..].find('/') {
        let d = &name[..at + k];
        if dirs.insert(d.to_string()) {
            b.append_data(&mut header(0, t, true), format!("{d}/"), io::empty()).map_err(arch_err)?;
        }
        at += k + 1;
    }
    Ok(())
}

/// Appends the checkpoint directory `dir` to the tar `b`, every name under
/// `prefix` ("" for an archive of one checkpoint, "NAME/" for a member of a
/// group's); `image`: a staged `docker save` to carry. Returns the
/// checkpoint's time (the entries' mtime).
fn write_checkpoint<B: Write>(
    b: &mut tar::Builder<B>,
    dir: &Path,
    prefix: &str,
    image: Option<&Path>,
    st: &mut ExportStats,
    dirs: &mut BTreeSet<String>,
) -> Result<u64> {
    let manifest = mf::read_bytes(dir)?;
    let m = mf::parse_bytes(&manifest, &dir.join(mf::MANIFEST))?;
    let sig = mf::read_limited(dir, trust::SIG, 64 << 10)?;
    let root = fs::File::open(dir).at("open", dir)?;
    let arch_err = |e: io::Error| Error::Io { op: "write the archive of", path: dir.to_path_buf(), source: e };
    let t = m.created;
    let pre = |name: &str| format!("{prefix}{name}");
    if !prefix.is_empty() {
        ensure_dirs(b, dirs, prefix, t, dir)?;
    }
    let add_bytes = |b: &mut tar::Builder<B>, name: &str, data: &[u8]| -> Result<()> {
        b.append_data(&mut header(data.len() as u64, t, false), pre(name), data).map_err(arch_err)
    };
    add_bytes(b, mf::MANIFEST, &manifest)?;
    if let Some(s) = &sig {
        add_bytes(b, trust::SIG, s)?;
    }
    // What checkpointctl and Podman read first: Podman's copy of the spec,
    // and the config made from it.
    let spec = match m.files.contains_key(mf::SPEC) {
        true => mf::read_limited(dir, mf::SPEC, MAX_SMALL)?,
        false => None,
    };
    let spec: Option<serde_json::Value> = spec.and_then(|b| serde_json::from_slice(&b).ok());
    let spec = spec.map(|s| crate::formats::podman::spec_dump(&s));
    // Podman hands CRIU its network namespace as extRootNetNS (unless the
    // container uses the host's): the init task's netns image must name
    // that key, or CRIU makes an empty namespace of its own (lo only).
    let mut netns = None;
    if let Some(saved) = mf::read_limited(dir, mf::CONTAINER, MAX_SMALL)? {
        let v: serde_json::Value = serde_json::from_slice(&saved).unwrap_or_default();
        let ids = format!("{}/ids-1.img", mf::IMAGES);
        if v.pointer("/HostConfig/NetworkMode").and_then(|n| n.as_str()) != Some("host") && m.files.contains_key(&ids) {
            let id = crate::host::criu::net_ns_id(&read_small(&root, dir, &ids)?);
            netns = id.map(|id| format!("{}/netns-{id}.img", mf::IMAGES));
        }
        let cfg = config_dump(&v, spec.as_ref().unwrap_or(&serde_json::Value::Null), &m);
        add_bytes(b, CONFIG_DUMP, &serde_json::to_vec_pretty(&cfg).unwrap_or_default())?;
        let mut why = crate::formats::podman::limits(&v);
        if spec.is_none() {
            why.push("the checkpoint has no OCI spec".into());
        }
        st.podman = Some(why);
    }
    if let Some(spec) = &spec {
        add_bytes(b, SPEC_DUMP, &serde_json::to_vec_pretty(spec).unwrap_or_default())?;
    }
    let mut append_file = |b: &mut tar::Builder<B>, name: &str, as_name: &str, size: u64| -> Result<()> {
        let as_name = pre(as_name);
        ensure_dirs(b, dirs, &as_name, t, dir)?;
        let rel = Path::new(name);
        let f = mf::open_beneath(&root, rel).at("open", &dir.join(rel))?;
        let r = Exact {
            inner: BufReader::with_capacity(1 << 20, f),
            left: size,
            what: dir.join(rel).display().to_string(),
        };
        b.append_data(&mut header(size, t, false), as_name, r).map_err(arch_err)
    };
    // CRIU images Podman's runc restores only in another form: that form
    // under the image's name, the signed original under docker-cr/.
    let mut for_podman = Vec::new();
    for (name, sum) in &m.files {
        if name == mf::ROOTFS_DIFF {
            continue;
        }
        if let Some(base) = name.strip_prefix(&format!("{}/", mf::IMAGES)) {
            let form = if netns.as_ref() == Some(name) {
                let old = read_small(&root, dir, name)?;
                Some(crate::host::criu::netns_join_external(Some(&old)).ok_or_else(|| {
                    Error::checkpoint(format!("{name} is not a network namespace image"), "the checkpoint is damaged")
                })?)
            } else {
                podman_image(&root, dir, name, base, sum.size)?
            };
            if let Some(form) = form {
                append_file(b, name, &format!("{OWN_DIR}/{base}"), sum.size)?;
                for_podman.push((name.clone(), form));
                st.files += 1;
                st.bytes_in += sum.size;
                continue;
            }
        }
        append_file(b, name, name, sum.size)?;
        st.files += 1;
        st.bytes_in += sum.size;
    }
    // CRIU 4.2 writes no netns image for a namespace with nothing in it:
    // Podman's copy is a new one (docker-cr's import drops it again).
    if let Some(name) = netns.filter(|n| !m.files.contains_key(n)) {
        for_podman.push((name, crate::host::criu::netns_join_external(None).unwrap_or_default()));
    }
    for (name, form) in &for_podman {
        add_bytes(b, name, form)?;
    }
    if let Some(sum) = m.files.get(mf::ROOTFS_DIFF) {
        let p = dir.join(mf::ROOTFS_DIFF);
        let open = || mf::open_beneath(&root, Path::new(mf::ROOTFS_DIFF)).at("open", &p);
        let mut count = Counting { inner: io::sink(), n: 0 };
        let (deleted, changed) = podman_diff(BufReader::new(open()?), &mut count).map_err(|e| {
            Error::checkpoint(format!("{}: {e}", p.display()), "the checkpoint is damaged; take it again")
        })?;
        st.files += 1;
        st.bytes_in += sum.size;
        if changed {
            append_file(b, mf::ROOTFS_DIFF, OWN_DIFF, sum.size)?;
            // The Podman form, made again as it is written (the same
            // bytes as the count above: the conversion is deterministic).
            let (reader, writer) = io::pipe().at("create a pipe for", &p)?;
            let src = BufReader::new(open()?);
            let size = count.n;
            let worker = std::thread::spawn(move || podman_diff(src, io::BufWriter::new(writer)));
            let r = Exact { inner: reader, left: size, what: format!("{} in Podman's form", p.display()) };
            let appended = b.append_data(&mut header(size, t, false), pre(mf::ROOTFS_DIFF), r).map_err(arch_err);
            let made = worker.join().map_err(|_| Error::engine("the rootfs conversion thread failed", None))?;
            appended?;
            made.at("convert", &p)?;
        } else {
            append_file(b, mf::ROOTFS_DIFF, mf::ROOTFS_DIFF, sum.size)?;
        }
        if !deleted.is_empty() {
            st.deleted += deleted.len();
            add_bytes(b, DELETED_FILES, &serde_json::to_vec(&deleted).unwrap_or_default())?;
        }
    }
    if let Some(img) = image {
        let f = fs::File::open(img).at("open", img)?;
        let size = f.metadata().at("stat", img)?.len();
        ensure_dirs(b, dirs, &pre(IMAGE_TAR), t, dir)?;
        let r = Exact { inner: BufReader::with_capacity(1 << 20, f), left: size, what: img.display().to_string() };
        b.append_data(&mut header(size, t, false), pre(IMAGE_TAR), r).map_err(arch_err)?;
        st.bytes_in += size;
    }
    Ok(t)
}

/// Appends the named volumes (`volumes/NAME.tar`, at the top) and their
/// list, signed with `key`.
fn write_volumes<B: Write>(
    b: &mut tar::Builder<B>,
    dir: &Path,
    volumes: &[VolumeSrc],
    key: Option<&(ed25519_dalek::SigningKey, String)>,
    t: u64,
    st: &mut ExportStats,
    dirs: &mut BTreeSet<String>,
) -> Result<()> {
    if volumes.is_empty() {
        return Ok(());
    }
    let arch_err = |e: io::Error| Error::Io { op: "write the archive of", path: dir.to_path_buf(), source: e };
    let mut list = std::collections::BTreeMap::new();
    for v in volumes {
        // Counted and hashed first (a tar entry's size comes before
        // its bytes), then written; a volume that changes between the
        // two passes fails the export (or, same size, the import).
        let mut h = Hashing { sha: <sha2::Sha256 as sha2::Digest>::new(), n: 0 };
        crate::model::rootfs::capture(&v.path, &mut h).map_err(|e| e.step(format!("volume {}", v.name)))?;
        let size = h.n;
        let sha = crate::model::trust::hex(&sha2::Digest::finalize(h.sha));
        let (reader, writer) = io::pipe().at("create a pipe for", &v.path)?;
        let path = v.path.clone();
        let worker = std::thread::spawn(move || crate::model::rootfs::capture(&path, io::BufWriter::new(writer)));
        let r = Exact { inner: reader, left: size, what: format!("volume {} ({})", v.name, v.path.display()) };
        let entry = format!("{VOLUMES_DIR}/{}.tar", v.name);
        ensure_dirs(b, dirs, &entry, t, dir)?;
        let appended = b.append_data(&mut header(size, t, false), &entry, r).map_err(|e| {
            Error::container(
                format!("volume {} changed while it was exported: {e}", v.name),
                "export a stopped container's checkpoint (checkpoint --stop), or leave volumes out with --ignore-volumes",
            )
        });
        let made = worker.join().map_err(|_| Error::engine("the volume capture thread failed", None))?;
        appended?;
        made.map_err(|e| e.step(format!("volume {}", v.name)))?;
        list.insert(v.name.clone(), mf::FileSum { size, sha256: sha, ..mf::FileSum::default() });
        st.volumes += 1;
        st.bytes_in += size;
    }
    let text = serde_json::to_vec_pretty(&list).unwrap_or_default();
    ensure_dirs(b, dirs, VOLUMES_LIST, t, dir)?;
    b.append_data(&mut header(text.len() as u64, t, false), VOLUMES_LIST, text.as_slice()).map_err(arch_err)?;
    if let Some((key, comment)) = key {
        let sig = trust::sign(key, comment, &text);
        b.append_data(&mut header(sig.len() as u64, t, false), VOLUMES_SIG, sig.as_bytes()).map_err(arch_err)?;
    }
    Ok(())
}

/// What an export of a group adds: its volumes (once each, at the top, as
/// for one checkpoint), the key that signs their list, and each member's
/// staged image by member name (once per image).
#[derive(Default)]
pub struct GroupExtras {
    pub volumes: Vec<VolumeSrc>,
    pub key: Option<(ed25519_dalek::SigningKey, String)>,
    pub images: std::collections::BTreeMap<String, PathBuf>,
}

/// Writes the group checkpoint `dir` as one archive: the group's own files
/// first (group.json and group.sig, checkpointctl's pod.options and
/// pod.dump), then each member, in restore order, in the layout of one
/// checkpoint's archive under its name, then the named volumes.
pub fn export_group(dir: &Path, out: impl Write, c: Compression, extras: &GroupExtras) -> Result<ExportStats> {
    let gbytes = mf::read_limited(dir, crate::model::group::GROUP, mf::MAX_MANIFEST)?.ok_or_else(|| {
        Error::checkpoint(format!("{} is not a group checkpoint", dir.display()), "name a group checkpoint")
    })?;
    let g = crate::model::group::parse(&gbytes, &dir.join(crate::model::group::GROUP))?;
    let arch_err = |e: io::Error| Error::Io { op: "write the archive of", path: dir.to_path_buf(), source: e };
    let mut b = tar::Builder::new(Sink::new(Counting { inner: out, n: 0 }, c).map_err(arch_err)?);
    let mut st = ExportStats::default();
    let mut dirs = BTreeSet::new();
    let t = g.created;
    for name in [
        crate::model::group::GROUP,
        crate::model::group::GROUP_SIG,
        crate::model::group::POD_OPTIONS,
        crate::model::group::POD_DUMP,
    ] {
        if let Some(data) = mf::read_limited(dir, name, MAX_SMALL)? {
            b.append_data(&mut header(data.len() as u64, t, false), name, data.as_slice()).map_err(arch_err)?;
        }
    }
    for x in &g.members {
        let image = extras.images.get(&x.container).map(PathBuf::as_path);
        write_checkpoint(&mut b, &dir.join(&x.container), &format!("{}/", x.container), image, &mut st, &mut dirs)?;
    }
    write_volumes(&mut b, dir, &extras.volumes, extras.key.as_ref(), t, &mut st, &mut dirs)?;
    // Podman restores none of a group's members from it.
    st.podman = None;
    finish_archive(b, dir, st)
}

/// The Podman form of the CRIU image `name` of the checkpoint in `dir`
/// (see `podman::image`), when it has one; only images of a few KiB are
/// read (mount and file tables).
fn podman_image(root: &fs::File, dir: &Path, name: &str, base: &str, size: u64) -> Result<Option<Vec<u8>>> {
    if !crate::formats::podman::reshaped(base) || size > MAX_SMALL {
        return Ok(None);
    }
    crate::formats::podman::image(base, &read_small(root, dir, name)?).map_err(|e| {
        Error::checkpoint(format!("{}: {e}", dir.join(name).display()), "the checkpoint is damaged; take it again")
    })
}

/// A small file of the checkpoint in `dir` (at most MAX_SMALL bytes).
fn read_small(root: &fs::File, dir: &Path, name: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let f = mf::open_beneath(root, Path::new(name)).at("open", &dir.join(name))?;
    f.take(MAX_SMALL).read_to_end(&mut bytes).at("read", &dir.join(name))?;
    Ok(bytes)
}

/// A reader that remembers whether its source ended: a tar stream must end
/// with its end-of-archive block, read before the source ends; a stream
/// cut at an entry's boundary otherwise looks complete to the tar crate.
struct EofSeen<R> {
    inner: R,
    eof: std::rc::Rc<std::cell::Cell<bool>>,
    bytes: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for EofSeen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// What an import found.
#[derive(Debug)]
pub struct Imported {
    pub compression: Compression,
    pub files: usize,
    pub bytes: u64,
    /// The checkpoint's manifest: docker-cr's own, or (another engine's
    /// archive, `made_by`) the unsigned one `foreign::adapt` wrote.
    pub manifest: Option<Manifest>,
    /// What another engine's archive was converted from.
    pub made_by: Option<crate::formats::foreign::Foreign>,
    /// Each file's sum, computed as it was unpacked (see `mf::Known`): the
    /// restore's verification, and another engine's manifest, need not
    /// read them again.
    pub known: mf::Known,
    /// A group's archive: its manifest (each member's directory is one
    /// checkpoint's, finished as such).
    pub group: Option<GroupManifest>,
}

/// `.NAME.importing` beside `dest`: where an import is built.
pub fn partial_path(dest: &Path) -> Result<PathBuf> {
    let name = dest.file_name().ok_or_else(|| {
        Error::Usage(format!("invalid checkpoint directory {:?}\nTry 'docker-cr import --help'.", dest))
    })?;
    let mut p = std::ffi::OsString::from(".");
    p.push(name);
    p.push(".importing");
    Ok(match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(p),
        _ => PathBuf::from(p),
    })
}

/// How an import ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Finish {
    /// A directory to keep: every file checked against the manifest, and
    /// synced, before it appears.
    Keep,
    /// A private directory a restore reads at once, which checks the
    /// signature and every digest before it starts anything: neither is
    /// done twice.
    ForRestore,
}

/// Reads an archive from `input` (named `what` in messages) into the new
/// directory `dest` (0700; it must not exist). It appears only complete
/// (and, with `Finish::Keep`, verified and synced): built as
/// `.NAME.importing` and renamed; on any failure that is removed and
/// nothing is left.
pub fn import(input: impl Read, what: &str, dest: &Path, finish: Finish) -> Result<Imported> {
    match fs::symlink_metadata(dest) {
        Ok(_) => {
            return Err(Error::checkpoint(
                format!("{} already exists", dest.display()),
                "name a new directory; docker-cr never overwrites a checkpoint",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at("stat", dest),
    }
    let partial = partial_path(dest)?;
    mf::create_partial(&partial, dest, "import")?;
    let r = import_into(input, what, &partial, finish).and_then(|imp| {
        crate::model::manifest::rename_noreplace(&partial, dest)?;
        Ok(imp)
    });
    if r.is_err() {
        let _ = fs::remove_dir_all(&partial);
    }
    r
}

fn damaged(what: &str, why: impl std::fmt::Display) -> Error {
    Error::checkpoint(
        format!("the archive {what} {why}"),
        "it is truncated, corrupted or not a checkpoint archive; nothing was created. Copy or export it again",
    )
}

/// Creates `rel` (a file of the layout) beneath `root`, never through a
/// link and never replacing anything: openat2(O_CREAT | O_EXCL,
/// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). See openat2(2).
fn create_beneath(root: &fs::File, rel: &Path) -> io::Result<fs::File> {
    crate::host::fs::create_beneath(root, rel)
}

/// Bytes free for us on the filesystem of `f`.
fn free_bytes(f: &fs::File) -> u64 {
    rustix::fs::fstatvfs(f.as_fd()).map_or(u64::MAX, |s| s.f_bavail.saturating_mul(s.f_frsize))
}

/// Room kept free on the target filesystem.
const RESERVE: u64 = 64 << 20;

fn import_into(input: impl Read, what: &str, dir: &Path, finish: Finish) -> Result<Imported> {
    use std::os::unix::fs::DirBuilderExt;
    let mut input = BufReader::with_capacity(1 << 20, input);
    let head = input.fill_buf().map_err(|e| damaged(what, format!("cannot be read: {e}")))?;
    if head.is_empty() {
        return Err(damaged(what, "is empty"));
    }
    let compression = Compression::detect(head);
    let decoded: Box<dyn Read> = match compression {
        Compression::Zstd => {
            Box::new(zstd::Decoder::with_buffer(input).map_err(|e| damaged(what, format!("is not zstd: {e}")))?)
        }
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::None => Box::new(input),
    };
    let eof = std::rc::Rc::new(std::cell::Cell::new(false));
    let pos = std::rc::Rc::new(std::cell::Cell::new(0u64));
    // The guard: no extension header (long name, PAX) larger than 1 MiB.
    let mut ar = tar::Archive::new(TarGuard::new(EofSeen { inner: decoded, eof: eof.clone(), bytes: pos.clone() }));
    let root = fs::File::open(dir).at("open", dir)?;
    let bad = |e: io::Error| damaged(what, format!("is damaged at byte {} of its tar stream: {e}", pos.get()));
    let mut files = 0usize;
    let mut bytes = 0u64;
    let mut count = 0usize;
    let mut seen_dirs = BTreeSet::new();
    let mut known = mf::Known::new();
    let mut group: Option<bool> = None;
    for e in ar.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        // A caller that blocked the signals (restore --import) is stopped
        // here; the partial directory is its to remove.
        crate::host::check_interrupted()?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(damaged(what, format!("has more than {MAX_ENTRIES} entries")));
        }
        let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        // A group's archive starts with its manifest (see `export_group`).
        if group.is_none() && !matches!(kind, tar::EntryType::XGlobalHeader) {
            group = Some(raw.trim_start_matches("./") == crate::model::group::GROUP);
        }
        let classify = if group == Some(true) { classify_group } else { classify };
        let slot = match kind {
            tar::EntryType::XGlobalHeader => continue,
            tar::EntryType::Directory => classify(&raw, true),
            tar::EntryType::Regular | tar::EntryType::Continuous => classify(&raw, false),
            other => Err(format!("is a {other:?}; a checkpoint archive holds only files and directories")),
        }
        .map_err(|why| damaged(what, format!("has an entry {raw:?} that {why}")))?;
        // Every directory above an entry, made once (0700), level by level.
        let make_parents = |rel: &str, seen: &mut BTreeSet<String>| -> Result<()> {
            let mut at = 0;
            while let Some(k) = rel[at..].find('/') {
                let d = &rel[..at + k];
                if seen.insert(d.to_string()) {
                    fs::DirBuilder::new().mode(0o700).create(dir.join(d)).at("create", &dir.join(d))?;
                }
                at += k + 1;
            }
            Ok(())
        };
        match slot {
            Slot::Dir(d) => {
                make_parents(&d, &mut seen_dirs)?;
                if seen_dirs.insert(d.clone()) {
                    fs::DirBuilder::new().mode(0o700).create(dir.join(&d)).at("create", &dir.join(&d))?;
                }
            }
            Slot::File(rel, max) => {
                let size = e.header().entry_size().map_err(bad)?;
                if let Some(max) = max.filter(|m| size > *m) {
                    return Err(damaged(what, format!("has {rel} of {size} bytes; at most {max} are accepted")));
                }
                if size.saturating_add(RESERVE) > free_bytes(&root) {
                    return Err(Error::host(
                        format!("{rel} of the archive {what} needs {size} bytes, more than {} has free", dir.display()),
                        "free space there, or import into a directory on another filesystem",
                    ));
                }
                make_parents(&rel, &mut seen_dirs)?;
                let path = dir.join(&rel);
                let out = create_beneath(&root, Path::new(&rel)).map_err(|err| match err.kind() {
                    io::ErrorKind::AlreadyExists => damaged(what, format!("has {rel} twice")),
                    _ => Error::Io { op: "create", path: path.clone(), source: err },
                })?;
                let mut w =
                    SummingWriter { inner: io::BufWriter::with_capacity(1 << 20, out), sum: mf::Summer::default() };
                let n = io::copy(&mut e, &mut w).map_err(|err| match err.kind() {
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData | io::ErrorKind::Other => bad(err),
                    _ if err.raw_os_error().is_some() => Error::Io { op: "write", path: path.clone(), source: err },
                    _ => bad(err),
                })?;
                w.inner.flush().at("write", &path)?;
                let md = w.inner.get_ref().metadata().at("stat", &path)?;
                known.insert(rel.clone(), mf::KnownSum::of(&md, w.sum.finish()));
                if n != size {
                    return Err(damaged(what, format!("ends inside {rel} ({n} of {size} bytes)")));
                }
                files += 1;
                bytes += n;
            }
        }
    }
    if eof.get() {
        return Err(damaged(what, "ends before the tar's end-of-archive block (truncated)"));
    }
    // The rest of the stream: the compressor's checksum is checked only at
    // its end, and a truncated one fails here.
    let mut rest = ar.into_inner().into_inner();
    io::copy(&mut rest, &mut io::sink())
        .map_err(|e| damaged(what, format!("fails its checksum or is truncated: {e}")))?;
    if group == Some(true) {
        let g = finish_group(dir, what, finish)?;
        if finish == Finish::Keep {
            crate::host::follow::sync_tree(dir)?;
        }
        return Ok(Imported { compression, files, bytes, manifest: None, made_by: None, known, group: Some(g) });
    }
    let mut manifest = finish_own(dir, what, finish)?;
    let mut made_by = None;
    if manifest.is_none() {
        for need in [CONFIG_DUMP, SPEC_DUMP, "checkpoint/inventory.img"] {
            if fs::symlink_metadata(dir.join(need)).is_err() {
                return Err(damaged(what, format!("has no {need}: it is not a checkpoint archive")));
            }
        }
        // Another engine's: converted into docker-cr's model, unsigned.
        let (m, f) = crate::formats::foreign::adapt_known(dir, what, &known)?;
        manifest = Some(m);
        made_by = Some(f);
    }
    if finish == Finish::Keep {
        crate::host::follow::sync_tree(dir)?;
    }
    Ok(Imported { compression, files, bytes, manifest, made_by, known, group: None })
}

/// Sums what passes through it (`mf::Summer`): a file's digest as it is
/// unpacked, from the bytes in hand.
struct SummingWriter<W> {
    inner: W,
    sum: mf::Summer,
}

impl<W: Write> Write for SummingWriter<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.sum.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A group archive becomes the group directory it was made from: its
/// manifest parsed (its signature is checked by the restore, as a
/// checkpoint's), each member's directory finished as one checkpoint's
/// (`finish_own`), and nothing there that the group does not name.
fn finish_group(dir: &Path, what: &str, finish: Finish) -> Result<GroupManifest> {
    use crate::model::group;
    let bytes = mf::read_limited(dir, group::GROUP, mf::MAX_MANIFEST)?
        .ok_or_else(|| damaged(what, format!("has no {}", group::GROUP)))?;
    let g = group::parse(&bytes, &dir.join(group::GROUP)).map_err(|e| e.step(format!("the archive {what}")))?;
    let names: Vec<&str> = g.members.iter().map(|x| x.container.as_str()).collect();
    for e in fs::read_dir(dir).at("list", dir)?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if e.file_type().is_ok_and(|t| t.is_dir()) && !names.contains(&n.as_str()) && n != VOLUMES_DIR && n != OWN_DIR {
            return Err(damaged(what, format!("has a directory {n} that is none of the group's members")));
        }
    }
    for x in &g.members {
        let mdir = dir.join(&x.container);
        if !mdir.is_dir() {
            return Err(damaged(what, format!("lacks the group's member {}", x.container)));
        }
        finish_own(&mdir, &format!("{what} (member {})", x.container), finish)?
            .ok_or_else(|| damaged(what, format!("has no manifest for the member {}", x.container)))?;
    }
    Ok(g)
}

/// What an entry of a group's archive may be: the group's own files, its
/// volumes, or under a member's name what one checkpoint's archive holds
/// (`classify`). Pure: names from the archive are untrusted.
pub fn classify_group(path: &str, dir: bool) -> std::result::Result<Slot, String> {
    use crate::model::group;
    let p = path.trim_start_matches("./").trim_end_matches('/');
    let parts: Vec<&str> = p.split('/').collect();
    if parts.iter().any(|c| !plain_name(c)) {
        return Err("is not a plain relative name (empty, '..', absolute or control characters)".into());
    }
    match (parts.as_slice(), dir) {
        ([f], false) if [group::GROUP, group::GROUP_SIG, group::POD_OPTIONS, group::POD_DUMP].contains(f) => {
            Ok(Slot::File(p.to_string(), Some(MAX_SMALL)))
        }
        ([d], true) if *d == VOLUMES_DIR || *d == OWN_DIR => Ok(Slot::Dir((*d).to_string())),
        ([d, _], false) if *d == VOLUMES_DIR => Ok(Slot::File(p.to_string(), None)),
        ([d, _], false) if *d == OWN_DIR && (p == VOLUMES_LIST || p == VOLUMES_SIG) => {
            Ok(Slot::File(p.to_string(), Some(MAX_SMALL)))
        }
        ([m, rest @ ..], _) if crate::store::valid_name(m) && !group::RESERVED.contains(m) => {
            if rest.is_empty() {
                return if dir {
                    Ok(Slot::Dir((*m).to_string()))
                } else {
                    Err("is a file where a member's directory goes".into())
                };
            }
            match classify(&rest.join("/"), dir)? {
                Slot::Dir(d) => Ok(Slot::Dir(format!("{m}/{d}"))),
                // A member's volumes travel once, at the group's top.
                Slot::File(f, _) if f.starts_with(&format!("{VOLUMES_DIR}/")) => {
                    Err("is a member's volume; a group's archive carries its volumes at its top".into())
                }
                Slot::File(f, max) => Ok(Slot::File(format!("{m}/{f}"), max)),
            }
        }
        _ => Err("is not part of a group checkpoint archive's layout".into()),
    }
}

/// A docker-cr archive becomes the checkpoint directory it was made from:
/// the signed diff back in place, the files made only for other tools
/// gone, every file checked against the manifest. Another tool's archive
/// (no manifest) is left in its layout.
fn finish_own(dir: &Path, what: &str, finish: Finish) -> Result<Option<Manifest>> {
    let Some(bytes) = mf::read_limited(dir, mf::MANIFEST, mf::MAX_MANIFEST)? else { return Ok(None) };
    let m = mf::parse_bytes(&bytes, &dir.join(mf::MANIFEST)).map_err(|e| e.step(format!("the archive {what}")))?;
    let own = dir.join(OWN_DIFF);
    if fs::symlink_metadata(&own).is_ok() {
        fs::rename(&own, dir.join(mf::ROOTFS_DIFF)).at("rename", &own)?;
    }
    // The signed CRIU images back over their Podman forms.
    let own = dir.join(OWN_DIR);
    for e in fs::read_dir(&own).into_iter().flatten().flatten() {
        let name = e.file_name();
        if name.to_str().is_some_and(|n| n.ends_with(".img")) {
            let to = dir.join(mf::IMAGES).join(&name);
            fs::rename(e.path(), &to).at("rename", &e.path())?;
        }
    }
    let _ = fs::remove_dir(&own);
    // Images made only for Podman (no signed original) go.
    let images = dir.join(mf::IMAGES);
    for e in fs::read_dir(&images).into_iter().flatten().flatten() {
        let name = e.file_name();
        let rel = format!("{}/{}", mf::IMAGES, name.to_string_lossy());
        if !m.files.contains_key(&rel) {
            fs::remove_file(e.path()).at("remove", &e.path())?;
        }
    }
    for extra in [CONFIG_DUMP, SPEC_DUMP, DELETED_FILES] {
        if !m.files.contains_key(extra) {
            let _ = fs::remove_file(dir.join(extra));
        }
    }
    if finish == Finish::Keep {
        mf::verify(dir, &m).map_err(|e| e.step(format!("the archive {what}")))?;
    }
    Ok(Some(m))
}

/// Checks a `docker save` tar from an archive before the engine loads it:
/// its one image's config must hash to `image_id` (the signed checkpoint's
/// image), and it may name no tag but `allowed` (the container's image
/// name), so that loading it can neither bring another image nor move a tag
/// of this host's to something else. Reads `manifest.json` and the config
/// (each at most 16 MiB).
pub fn check_image_tar(path: &Path, image_id: &str, allowed: &str) -> Result<()> {
    check_image(path, image_id, Some(allowed))
}

/// `check_image_tar`; with `allowed` None, any tags (they are replaced).
fn check_image(path: &Path, image_id: &str, allowed: Option<&str>) -> Result<()> {
    use sha2::Digest as _;
    let bad = |why: String| {
        Error::checkpoint(
            format!("the archive's image {}: {why}", path.display()),
            "the archive was changed or is damaged; export it again, or load the image yourself and restore without it",
        )
    };
    // The engine unpacks the whole tar before it reads a file of it, so a
    // later entry of the same name (or "./name", "x/../name") is the one it
    // reads: every entry is read to the end, and a name twice is refused.
    let entry = |want: &str| -> Result<Option<Vec<u8>>> {
        let f = fs::File::open(path).at("open", path)?;
        let mut ar = tar::Archive::new(TarGuard::new(BufReader::new(f)));
        let mut found = None;
        for e in ar.entries().map_err(|e| bad(e.to_string()))? {
            let e = e.map_err(|e| bad(e.to_string()))?;
            if image_entry_name(&e.path_bytes()).as_deref() != Some(want) {
                continue;
            }
            if found.is_some() {
                return Err(bad(format!("it holds {want} twice")));
            }
            if e.header().entry_type() != tar::EntryType::Regular {
                return Err(bad(format!("its {want} is not a regular file")));
            }
            let mut v = Vec::new();
            e.take(MAX_SMALL + 1).read_to_end(&mut v).map_err(|e| bad(e.to_string()))?;
            if v.len() as u64 > MAX_SMALL {
                return Err(bad(format!("{want} is too large")));
            }
            found = Some(v);
        }
        Ok(found)
    };
    let manifest = entry("manifest.json")?.ok_or_else(|| bad("it has no manifest.json".into()))?;
    let m: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| bad(format!("its manifest.json is not JSON: {e}")))?;
    let images = m.as_array().ok_or_else(|| bad("its manifest.json is not a list".into()))?;
    let [one] = images.as_slice() else { return Err(bad(format!("it holds {} images, not one", images.len()))) };
    for tag in one["RepoTags"].as_array().into_iter().flatten() {
        let Some(allowed) = allowed else { break };
        let allowed_tags = [allowed.to_string(), format!("{allowed}:latest")];
        let tag = tag.as_str().unwrap_or("");
        if !allowed_tags.iter().any(|a| a == tag) {
            return Err(bad(format!("it would tag {tag:?}, not the container's image {allowed:?}")));
        }
    }
    let config = one["Config"].as_str().ok_or_else(|| bad("its manifest.json names no config".into()))?;
    let bytes = entry(config)?.ok_or_else(|| bad(format!("it lacks its config {config}")))?;
    let got = format!("sha256:{}", crate::model::trust::hex(&sha2::Sha256::digest(&bytes)));
    if got != image_id {
        return Err(bad(format!("its image is {got}, not the checkpoint's {image_id}")));
    }
    Ok(())
}

/// A name in an image tar as the engine's unpacker resolves it (Go's
/// filepath.Clean under the directory it unpacks to): "./a", "a/./b" and
/// "x/../a" are "a", "b" and "a". None for a name that leaves the
/// directory or is not UTF-8. Pure.
pub fn image_entry_name(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut parts: Vec<&str> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Writes the image tar at `path` as the engine is to load it: only the one
/// image's config and layers that its manifest.json names (each a regular
/// file, each once), and a new manifest.json that tags it `temp_ref` alone.
/// Whatever else the tar holds (index.json and its image-name annotations,
/// `repositories`, other images, a second manifest) never reaches the
/// engine, so loading can neither replace nor move a tag of this host's;
/// `load_image_checked` then tags the real name only if nothing has it.
/// The config must hash to `image_id` (`check_image_tar`).
pub fn write_image_tar_for_load(path: &Path, image_id: &str, temp_ref: &str, out: &mut impl Write) -> Result<()> {
    check_image(path, image_id, None)?;
    let bad = |why: String| {
        Error::checkpoint(
            format!("the archive's image {}: {why}", path.display()),
            "the archive was changed or is damaged; export it again, or load the image yourself and restore without it",
        )
    };
    let read_manifest = || -> Result<Value> {
        let f = fs::File::open(path).at("open", path)?;
        let mut ar = tar::Archive::new(TarGuard::new(BufReader::new(f)));
        for e in ar.entries().map_err(|e| bad(e.to_string()))? {
            let e = e.map_err(|e| bad(e.to_string()))?;
            if image_entry_name(&e.path_bytes()).as_deref() == Some("manifest.json") {
                let mut v = Vec::new();
                e.take(MAX_SMALL).read_to_end(&mut v).map_err(|e| bad(e.to_string()))?;
                return serde_json::from_slice(&v).map_err(|e| bad(e.to_string()));
            }
        }
        Err(bad("it has no manifest.json".into()))
    };
    let m = read_manifest()?;
    let one = &m[0];
    let config = one["Config"].as_str().and_then(|c| image_entry_name(c.as_bytes()));
    let config = config.ok_or_else(|| bad("its manifest.json names no config".into()))?;
    let mut layers = Vec::new();
    for l in one["Layers"].as_array().into_iter().flatten() {
        let l = l.as_str().and_then(|l| image_entry_name(l.as_bytes()));
        let l = l.ok_or_else(|| bad("its manifest.json names a layer outside the tar".into()))?;
        if l == "manifest.json" || l == config || layers.contains(&l) {
            return Err(bad(format!("its manifest.json names {l} twice")));
        }
        layers.push(l);
    }
    let f = fs::File::open(path).at("open", path)?;
    let mut ar = tar::Archive::new(TarGuard::new(BufReader::new(f)));
    let mut b = tar::Builder::new(out);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for e in ar.entries().map_err(|e| bad(e.to_string()))? {
        let e = e.map_err(|e| bad(e.to_string()))?;
        let Some(name) = image_entry_name(&e.path_bytes()) else { continue };
        if name != config && !layers.contains(&name) {
            continue;
        }
        if e.header().entry_type() != tar::EntryType::Regular {
            return Err(bad(format!("its {name} is not a regular file")));
        }
        if !seen.insert(name.clone()) {
            return Err(bad(format!("it holds {name} twice")));
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(e.header().size().map_err(|e| bad(e.to_string()))?);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, &name, e).map_err(|e| bad(format!("copying {name}: {e}")))?;
    }
    for want in layers.iter().chain([&config]) {
        if !seen.contains(want) {
            return Err(bad(format!("it lacks {want}, which its manifest.json names")));
        }
    }
    let manifest = serde_json::to_vec(&json!([{ "Config": config, "RepoTags": [temp_ref], "Layers": layers }]))
        .map_err(|e| bad(e.to_string()))?;
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "manifest.json", manifest.as_slice()).map_err(|e| bad(e.to_string()))?;
    b.into_inner().map_err(|e| bad(e.to_string()))?.flush().map_err(|e| bad(e.to_string()))
}

/// Loads the archive's image (the tar at `path`, which must be the signed
/// checkpoint's `image_id`) so that no tag of this host's moves: loaded
/// under a temporary reference only (`write_image_tar_for_load`), checked
/// to be `image_id`, tagged `name` only if nothing has that name, the
/// temporary reference removed. Returns whether `name` now means the
/// image; when another image has the name, the loaded one is removed
/// again and the caller refuses (or uses the ID). For `restore --import`
/// and `migrate`, in place of `Engine::load_image`.
pub fn load_image_checked(
    engine: &crate::engine::docker::Engine,
    path: &Path,
    image_id: &str,
    name: &str,
) -> Result<bool> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let temp = format!("docker-cr-load-{}-{nanos}:tmp", std::process::id());
    let (p, id, t) = (path.to_path_buf(), image_id.to_string(), temp.clone());
    let loaded = engine.load_image_from(move |w| write_image_tar_for_load(&p, &id, &t, w));
    let check = loaded.and_then(|()| match engine.image_id(&temp)? {
        Some(got) if got == image_id => Ok(()),
        got => Err(Error::checkpoint(
            format!("the engine loaded {} for the archive's image {image_id}", got.unwrap_or_else(|| "nothing".into())),
            "load the image yourself and restore without it",
        )),
    });
    let tagged = check.and_then(|()| if name.is_empty() { Ok(false) } else { engine.tag_if_free(image_id, name) });
    // Untags only, when the image has the real name too; else removes it.
    let removed = engine.remove_image(&temp);
    let tagged = tagged?;
    removed?;
    Ok(tagged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_by_magic_only() {
        assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 0x08]), Compression::Gzip);
        assert_eq!(Compression::detect(b"manifest.json\0"), Compression::None);
        assert_eq!(Compression::detect(&[0x28, 0xb5]), Compression::None, "too short to be zstd");
        assert_eq!(Compression::parse("zstd"), Some(Compression::Zstd));
        assert_eq!(Compression::parse("xz"), None);
    }

    #[test]
    fn only_the_layouts_names() {
        assert_eq!(classify("checkpoint/", true), Ok(Slot::Dir("checkpoint".into())));
        assert_eq!(classify("./checkpoint/pages-1.img", false), Ok(Slot::File("checkpoint/pages-1.img".into(), None)));
        assert_eq!(classify("manifest.json", false), Ok(Slot::File("manifest.json".into(), Some(MAX_SMALL))));
        assert_eq!(classify("volumes/data.tar", false), Ok(Slot::File("volumes/data.tar".into(), None)));
        // The kubelet's archives (CRI-O, containerd): small files, bounded.
        for f in ["bind.mounts", "io.kubernetes.cri-o.LogPath", "dump.log", "status.dump", "status", "container.log"] {
            assert_eq!(classify(f, false), Ok(Slot::File(f.into(), Some(MAX_SMALL))), "{f}");
        }
        for bad in ["../x", "/etc/passwd", "checkpoint/../../x", "a/b/c", "etc/passwd", "", "checkpoint//x", "x\n"] {
            assert!(classify(bad, false).is_err(), "{bad:?} accepted");
        }
        assert!(classify("etc/", true).is_err());
        assert!(classify("checkpoint/sub/", true).is_err());
    }

    // Issue 19: a group's archive, each member in one checkpoint's layout.
    #[test]
    fn a_group_archives_names() {
        let f = |p: &str, max| Ok(Slot::File(p.to_string(), max));
        assert_eq!(classify_group("group.json", false), f("group.json", Some(MAX_SMALL)));
        assert_eq!(classify_group("pod.options", false), f("pod.options", Some(MAX_SMALL)));
        assert_eq!(classify_group("shop_app_1/", true), Ok(Slot::Dir("shop_app_1".into())));
        assert_eq!(classify_group("shop_app_1/checkpoint/", true), Ok(Slot::Dir("shop_app_1/checkpoint".into())));
        assert_eq!(
            classify_group("./shop_app_1/checkpoint/pages-1.img", false),
            f("shop_app_1/checkpoint/pages-1.img", None)
        );
        assert_eq!(classify_group("shop_app_1/manifest.json", false), f("shop_app_1/manifest.json", Some(MAX_SMALL)));
        assert_eq!(classify_group("volumes/shop_data.tar", false), f("volumes/shop_data.tar", None));
        assert_eq!(classify_group("docker-cr/volumes.json", false), f("docker-cr/volumes.json", Some(MAX_SMALL)));
        for bad in [
            "shop_app_1/volumes/x.tar",
            "shop_app_1/a/b/c",
            "../x",
            "shop_app_1/../x",
            "checkpoint/inventory.img",
            "group.json/x",
            "docker-cr/other",
            "shop_app_1",
            "-x/manifest.json",
        ] {
            assert!(classify_group(bad, false).is_err(), "{bad:?} accepted");
        }
        assert!(classify_group("etc/passwd/", true).is_err());
    }

    #[test]
    fn named_volumes_travel_host_paths_do_not() {
        let saved = serde_json::json!({
            "HostConfig": {"Binds": ["data:/data", "/srv:/srv:ro"], "Mounts": [{"Type": "volume", "Source": "logs", "Target": "/logs"}]},
            "Mounts": [
                {"Type": "volume", "Name": "data", "Destination": "/data"},
                {"Type": "volume", "Name": "logs", "Destination": "/logs"},
                {"Type": "volume", "Name": "f988d47c633a", "Destination": "/anon"},
                {"Type": "bind", "Source": "/srv", "Destination": "/srv"}
            ]
        });
        assert_eq!(named_volumes(&saved), vec!["data".to_string(), "logs".to_string()], "anonymous ones stay");
        assert_eq!(host_binds(&saved), vec![("/srv".to_string(), "/srv".to_string())]);
        assert_eq!(classify("docker-cr/volumes.json", false), Ok(Slot::File(VOLUMES_LIST.into(), Some(MAX_SMALL))));
    }

    // Issue 9: an image from an archive is loaded only if it is exactly the
    // signed checkpoint's image, and moves no other tag.
    #[test]
    fn image_tars_are_checked_before_loading() {
        use sha2::Digest as _;
        let d = tempdir("image");
        let config = br#"{"architecture":"amd64"}"#;
        let id = format!("sha256:{}", crate::model::trust::hex(&sha2::Sha256::digest(config)));
        let make = |tags: &str, cfg: &[u8]| {
            let manifest = format!(r#"[{{"Config":"c.json","RepoTags":{tags},"Layers":[]}}]"#);
            let t = tar_of(
                &[
                    ("c.json", tar::EntryType::Regular, cfg),
                    ("manifest.json", tar::EntryType::Regular, manifest.as_bytes()),
                ],
                true,
            );
            let p = d.join("img.tar");
            fs::write(&p, t).unwrap();
            p
        };
        check_image_tar(&make(r#"["app:latest"]"#, config), &id, "app").unwrap();
        check_image_tar(&make("null", config), &id, "app").unwrap();
        let e = check_image_tar(&make(r#"["busybox:latest"]"#, config), &id, "app").unwrap_err().to_string();
        assert!(e.contains("would tag \"busybox:latest\""), "{e}");
        let e = check_image_tar(&make(r#"["app"]"#, b"{}"), &id, "app").unwrap_err().to_string();
        assert!(e.contains("not the checkpoint's"), "{e}");
        // A second manifest.json (here as ./manifest.json) after the one
        // checked: the engine would read the second.
        let evil = br#"[{"Config":"c.json","RepoTags":["busybox:latest"],"Layers":[]}]"#;
        let good = br#"[{"Config":"c.json","RepoTags":["app:latest"],"Layers":[]}]"#;
        let t = tar_of(
            &[
                ("c.json", tar::EntryType::Regular, config),
                ("manifest.json", tar::EntryType::Regular, good),
                ("./manifest.json", tar::EntryType::Regular, evil),
            ],
            true,
        );
        let p = d.join("dup.tar");
        fs::write(&p, t).unwrap();
        let e = check_image_tar(&p, &id, "app").unwrap_err().to_string();
        assert!(e.contains("manifest.json twice"), "{e}");
        fs::remove_dir_all(&d).unwrap();
    }

    /// What reaches the engine: the config and layers manifest.json names,
    /// and a manifest that tags the temporary reference alone; index.json
    /// (whose annotations name images on containerd-store engines),
    /// `repositories` and anything else are left behind.
    #[test]
    fn image_tars_load_under_a_temporary_reference_only() {
        use sha2::Digest as _;
        let d = tempdir("image-load");
        let config = br#"{"architecture":"amd64"}"#;
        let id = format!("sha256:{}", crate::model::trust::hex(&sha2::Sha256::digest(config)));
        let manifest = br#"[{"Config":"blobs/c.json","RepoTags":["app:latest"],"Layers":["l1/layer.tar"]}]"#;
        let index =
            br#"{"manifests":[{"annotations":{"io.containerd.image.name":"docker.io/library/busybox:latest"}}]}"#;
        let t = tar_of(
            &[
                ("blobs/c.json", tar::EntryType::Regular, config),
                ("l1/layer.tar", tar::EntryType::Regular, b"layer"),
                ("manifest.json", tar::EntryType::Regular, manifest),
                ("index.json", tar::EntryType::Regular, index),
                ("repositories", tar::EntryType::Regular, br#"{"busybox":{"latest":"x"}}"#),
                ("other/layer.tar", tar::EntryType::Regular, b"other"),
            ],
            true,
        );
        let p = d.join("img.tar");
        fs::write(&p, &t).unwrap();
        let mut out = Vec::new();
        write_image_tar_for_load(&p, &id, "docker-cr-load-1:tmp", &mut out).unwrap();
        let mut ar = tar::Archive::new(out.as_slice());
        let mut names = Vec::new();
        let mut m = String::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let n = e.path().unwrap().to_string_lossy().into_owned();
            if n == "manifest.json" {
                e.read_to_string(&mut m).unwrap();
            }
            names.push(n);
        }
        assert_eq!(names, ["blobs/c.json", "l1/layer.tar", "manifest.json"]);
        assert_eq!(
            serde_json::from_str::<Value>(&m).unwrap(),
            json!([{"Config": "blobs/c.json", "RepoTags": ["docker-cr-load-1:tmp"], "Layers": ["l1/layer.tar"]}])
        );
        // A layer named twice, a layer that is a link, a missing layer.
        for (entries, want) in [
            (
                vec![
                    ("l1/layer.tar", tar::EntryType::Regular, &b"a"[..]),
                    ("./l1/layer.tar", tar::EntryType::Regular, b"b"),
                ],
                "twice",
            ),
            (vec![("l1/layer.tar", tar::EntryType::Symlink, &b""[..])], "not a regular file"),
            (vec![], "lacks l1/layer.tar"),
        ] {
            let mut all = vec![
                ("blobs/c.json", tar::EntryType::Regular, &config[..]),
                ("manifest.json", tar::EntryType::Regular, manifest),
            ];
            all.extend(entries);
            fs::write(&p, tar_of(&all, true)).unwrap();
            let e = write_image_tar_for_load(&p, &id, "t:tmp", &mut Vec::new()).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        // Another image's config, whatever the tags.
        fs::write(&p, &t).unwrap();
        let e = write_image_tar_for_load(&p, "sha256:00", "t:tmp", &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("not the checkpoint's"), "{e}");
        assert_eq!(image_entry_name(b"./a/../b/./c"), Some("b/c".into()));
        assert_eq!(image_entry_name(b"../x"), None);
        fs::remove_dir_all(&d).unwrap();
    }

    // Issue 9 (Docker → Podman): config.dump keeps checkpointctl's keys and
    // carries what libpod needs, with no path of the exporting host that
    // Podman would bind. Inspect data and spec recorded from Docker 20.10
    // here (trimmed).
    #[test]
    fn config_dump_for_checkpointctl_and_podman() {
        use serde_json::{json, Value};
        let saved: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/docker20-busybox-inspect.json")).unwrap();
        let spec: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/docker20-busybox-spec.json")).unwrap();
        assert!(spec.to_string().contains("/containers/"), "the recorded spec binds Docker's files");
        let spec = crate::formats::podman::spec_dump(&spec);
        let m = mf::tests_sample();
        let c = config_dump(&saved, &spec, &m);
        // checkpointctl's reduced struct (lib/metadata.go), same keys.
        for key in [
            "id",
            "name",
            "rootfsImage",
            "rootfsImageRef",
            "rootfsImageName",
            "runtime",
            "createdTime",
            "checkpointedTime",
            "restoredTime",
            "restored",
        ] {
            assert!(c.get(key).is_some(), "{key} missing");
        }
        assert_eq!(c["id"], "abc");
        assert_eq!(c["name"], "web");
        assert_eq!(c["checkpointedTime"], rfc3339(1_800_000_000));
        assert_eq!(c["createdTime"], saved["Created"]);
        assert_eq!(c["rootfsImageName"], "docker-cr-test:busybox");
        // libpod: both image fields (its validate() wants both), by ID.
        let id = saved["Image"].as_str().unwrap().trim_start_matches("sha256:");
        assert_eq!(c["rootfsImageID"], id);
        assert_eq!(c["rootfsImageRef"], saved["Image"]);
        assert_eq!(c["command"], saved["Config"]["Cmd"]);
        assert_eq!(c["spec"], spec);
        assert_eq!(c["shmSize"], 67_108_864);
        assert_eq!((c["networkMode"].as_str(), c["createNetNS"].as_bool()), (Some("bridge"), Some(true)));
        assert!(c["newNetworks"]["podman"].is_object(), "Podman's default network");
        assert!(c.get("user").is_none(), "root needs no user");
        let text = c.to_string();
        for leak in ["/containers/", "/exe", "libnetwork-setkey", "docker.sock", "netns"] {
            assert!(!text.contains(leak), "{leak} in config.dump: {text}");
        }
        // Published ports, another network mode, another user.
        let mut other = saved.clone();
        other["HostConfig"]["PortBindings"] = json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]});
        let c = config_dump(&other, &spec, &m);
        assert_eq!(
            c["newPortMappings"],
            json!([{"host_ip": "127.0.0.1", "container_port": 80, "host_port": 8080, "range": 1, "protocol": "tcp"}])
        );
        other["HostConfig"]["NetworkMode"] = json!("none");
        let mut spec2 = spec.clone();
        spec2["process"]["user"] = json!({"uid": 1000, "gid": 100});
        let c = config_dump(&other, &spec2, &m);
        assert_eq!(c["networkMode"], "none");
        assert!(c.get("newNetworks").is_none());
        assert_eq!(c["user"], "1000:100");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    fn diff_with_whiteout() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, "etc/", io::empty()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(3);
        b.append_data(&mut h, "etc/new", &b"new"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Char);
        h.set_device_major(0).unwrap();
        h.set_device_minor(0).unwrap();
        h.set_size(0);
        b.append_data(&mut h, "etc/gone", io::empty()).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn podman_form_has_no_whiteouts() {
        let mut out = Vec::new();
        let (deleted, changed) = podman_diff(&diff_with_whiteout()[..], &mut out).unwrap();
        assert_eq!(deleted, vec!["/etc/gone".to_string()]);
        assert!(changed);
        let mut ar = tar::Archive::new(&out[..]);
        let names: Vec<String> =
            ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["etc/", "etc/new"]);
        // Deterministic: the size counted first is the size written.
        let mut again = Vec::new();
        podman_diff(&diff_with_whiteout()[..], &mut again).unwrap();
        assert_eq!(out, again);
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("docker-cr-archive-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    /// A tar of (name, kind, data); names are written raw (`..` too).
    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])], end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o600);
            h.set_size(data.len() as u64);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc").unwrap();
            }
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        if end {
            out.resize(out.len() + 1024, 0);
        }
        out
    }

    fn podman_like() -> Vec<(&'static str, tar::EntryType, &'static [u8])> {
        use tar::EntryType::{Directory, Regular};
        vec![
            ("checkpoint/", Directory, b""),
            ("checkpoint/inventory.img", Regular, b"inv"),
            ("checkpoint/pages-1.img", Regular, &[7u8; 3000]),
            ("checkpoint/descriptors.json", Regular, b"[]"),
            ("checkpoint/pstree.img", Regular, b"tree"),
            ("config.dump", Regular, br#"{"id": "abc", "name": "web", "rootfsImageName": "busybox"}"#),
            (
                "spec.dump",
                Regular,
                br#"{"process": {"args": ["sh"]}, "annotations": {"io.container.manager": "libpod"}}"#,
            ),
            ("rootfs-diff.tar", Regular, b""),
        ]
    }

    fn refused(data: &[u8], needle: &str) {
        let d = tempdir("refused");
        let dest = d.join("cp");
        let e = import(data, "under test", &dest, Finish::Keep).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle:?} not in {e}");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 0, "something was left behind: {e}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn another_tools_archive_is_converted() {
        let d = tempdir("podman");
        let dest = d.join("cp");
        let imp = import(&tar_of(&podman_like(), true)[..], "t", &dest, Finish::Keep).unwrap();
        let m = imp.manifest.unwrap();
        assert_eq!((m.tool.as_str(), m.container.name.as_str()), ("Podman, converted by docker-cr", "web"));
        assert!(m.files.contains_key("container.json") && m.files.contains_key(crate::formats::foreign::FOREIGN));
        assert_eq!(imp.made_by.unwrap().engine, crate::formats::foreign::Engine::Podman);
        assert!(fs::symlink_metadata(dest.join(trust::SIG)).is_err(), "unsigned");
        assert_eq!(imp.compression, Compression::None);
        assert_eq!(fs::read(dest.join("checkpoint/pages-1.img")).unwrap(), vec![7u8; 3000]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(dest.join("config.dump")).unwrap().permissions().mode() & 0o777, 0o600);
        fs::remove_dir_all(&d).unwrap();
    }

    // Issue 9: entries are untrusted; a damaged stream leaves nothing.
    #[test]
    fn hostile_and_damaged_archives_leave_nothing() {
        use tar::EntryType::{Regular, Symlink};
        let mut bad = podman_like();
        bad.push(("../escape", Regular, b"x"));
        refused(&tar_of(&bad, true), "not a plain relative name");
        let mut bad = podman_like();
        bad.push(("checkpoint/evil", Symlink, b""));
        refused(&tar_of(&bad, true), "holds only files and directories");
        let mut bad = podman_like();
        bad.push(("etc/passwd", Regular, b"x"));
        refused(&tar_of(&bad, true), "layout");
        let mut bad = podman_like();
        bad.push(("config.dump", Regular, b"{}"));
        refused(&tar_of(&bad, true), "has config.dump twice");
        refused(&tar_of(&podman_like(), false), "truncated");
        refused(&tar_of(&podman_like()[..3], true), "has no config.dump");
        refused(b"", "is empty");
        // A header claiming a huge manifest: refused before any byte is read.
        let mut big = tar_of(&[("manifest.json", Regular, b"")], false);
        let mut h = tar::Header::from_byte_slice(&big[..512]).clone();
        h.set_size(MAX_SMALL + 1);
        h.set_cksum();
        big[..512].copy_from_slice(h.as_bytes());
        refused(&big, "at most");
        // A GNU long name of 4 GiB, compressed to a few KiB: refused before
        // the tar crate would read it into memory.
        let mut h = tar::Header::new_gnu();
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(4 << 30);
        h.set_cksum();
        let mut e = zstd::Encoder::new(Vec::new(), 1).unwrap();
        e.write_all(h.as_bytes()).unwrap();
        for _ in 0..64 {
            e.write_all(&[b'a'; 1 << 16]).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 64 << 10);
        refused(&bomb, "extension header ('L') of 4294967296 bytes");
        // zstd: cut short, or one bit flipped, fails its checksum.
        let z = zstd::encode_all(&tar_of(&podman_like(), true)[..], 1).unwrap();
        let mut e = zstd::Encoder::new(Vec::new(), 1).unwrap();
        e.include_checksum(true).unwrap();
        e.write_all(&tar_of(&podman_like(), true)).unwrap();
        let z2 = e.finish().unwrap();
        assert!(z.len() > 40);
        refused(&z2[..z2.len() - 3], "archive under test");
        let mut flipped = z2.clone();
        let n = flipped.len() / 2;
        flipped[n] ^= 0x10;
        refused(&flipped, "archive under test");
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        g.write_all(&tar_of(&podman_like(), true)).unwrap();
        let g = g.finish().unwrap();
        refused(&g[..g.len() - 4], "archive under test");
        let d = tempdir("gz");
        let imp = import(&g[..], "t", &d.join("cp"), Finish::Keep).unwrap();
        assert_eq!(imp.compression, Compression::Gzip);
        fs::remove_dir_all(&d).unwrap();
    }
}
