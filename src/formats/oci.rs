//! Checkpoints as OCI images (issue 20): an adapter between the checkpoint
//! directory and a one-layer image from scratch, in the shape Podman's
//! `container checkpoint --create-image`, CRI-O and checkpointctl make.
//!
//! ```text
//! index (tagged)      application/vnd.oci.image.index.v1+json
//!   annotations       org.criu.checkpoint.* (containerd looks here), ...
//!   manifests[0]      the image manifest, platform linux/ARCH
//! image manifest      application/vnd.oci.image.manifest.v1+json
//!   annotations       io.podman.annotations.checkpoint.* (Podman),
//!                     io.kubernetes.cri-o.annotations.checkpoint.* (CRI-O),
//!                     org.criu.checkpoint.* (checkpointctl), org.docker-cr.*
//!   config            created, linux/ARCH, Labels = the same annotations,
//!                     rootfs.diff_ids = [the layer's uncompressed digest]
//!   layers[0]         the archive `archive::export` writes, as it is: its
//!                     files at `/` (tar, tar+zstd or tar+gzip)
//! ```
//!
//! The layer is the archive stream (the same entry list, one writer): a
//! pulled image is an archive, read by `archive::import` and verified as
//! one (docker-cr's signed manifest travels inside it). Everything here
//! but the layout directory's I/O at the end is pure: references, the
//! JSON documents, the annotations and what a manifest says it is. Bytes
//! from a registry are untrusted: sizes are bounded, digests checked, and
//! only the shapes below are accepted.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::formats::archive::{Compression, Sink};

pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker's schema 2 forms, which other tools may push (read only).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// What a manifest GET accepts, most wanted first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index is a few KiB; more is not one of ours or theirs.
pub const MAX_MANIFEST: u64 = 4 << 20;
/// An image config likewise (Podman's has no history to speak of).
pub const MAX_CONFIG: u64 = 4 << 20;

pub const PODMAN: &str = "io.podman.annotations.checkpoint.";
pub const CRIO: &str = "io.kubernetes.cri-o.annotations.checkpoint.";
pub const CRIU: &str = "org.criu.checkpoint.";
/// docker-cr's own: its presence says the layer is a docker-cr archive.
pub const OWN: &str = "org.docker-cr.checkpoint.";
pub const OWN_FORMAT: &str = "org.docker-cr.checkpoint.format";
pub const OWN_SIGNER: &str = "org.docker-cr.checkpoint.signer";
pub const CREATED: &str = "org.opencontainers.image.created";
/// The ref of an image in an OCI layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

// ---------------------------------------------------------------- references

/// Docker Hub's API host and the key the docker CLI files its login under.
pub const HUB: &str = "docker.io";
pub const HUB_API: &str = "registry-1.docker.io";
pub const HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// An image reference, normalised as the docker CLI does:
/// `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]`; `docker.io` for Docker Hub.
    pub registry: String,
    /// `library/redis` on Docker Hub for `redis`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// What a registry's manifest endpoint is asked for: the digest when
    /// pinned, else the tag (`latest` when none).
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }
    /// The host the distribution API is at.
    pub fn api_host(&self) -> &str {
        if self.registry == HUB {
            HUB_API
        } else {
            &self.registry
        }
    }
    /// `REGISTRY/REPOSITORY`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
    /// The same image with this tag and no digest.
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef { tag: Some(tag.into()), digest: None, ..self.clone() }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Whether `s` names a registry (docker's rule: the part before the first
/// `/` has a `.` or a `:`, or is `localhost`). Pure.
pub fn has_registry(s: &str) -> bool {
    match s.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

fn valid_component(c: &str) -> bool {
    // The distribution spec: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|x| x.is_ascii_alphanumeric() || b"_.-".contains(x))
}

/// `sha256:` and 64 lower-case hex digits. Pure.
pub fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((a, p)) if !a.ends_with(']') || a.starts_with('[') => (a, Some(p)),
        _ => (h, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let host_ok = host.len() <= 253
        && (host.split('.').all(label)
            || (host.len() > 2
                && host.starts_with('[')
                && host.ends_with(']')
                && host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().is_ok()));
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0))
}

/// Parses an image reference the way the docker CLI normalises one. Pure.
pub fn parse_ref(s: &str) -> std::result::Result<ImageRef, String> {
    let bad = |why: &str| format!("invalid image reference '{s}': {why}");
    if s.is_empty() || s.len() > 1024 || s.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(bad("empty, too long or with spaces"));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) if valid_digest(d) => (r, Some(d.to_string())),
        Some(_) => return Err(bad("the part after '@' must be sha256: and 64 hex digits")),
        None => (s, None),
    };
    let (registry, path) = if has_registry(rest) {
        let (r, p) = rest.split_once('/').unwrap_or((rest, ""));
        (r.to_string(), p)
    } else {
        (HUB.to_string(), rest)
    };
    if !valid_host(&registry) {
        return Err(bad(&format!("'{registry}' is not a registry host[:port]")));
    }
    // A tag is after the last ':' that follows the last '/'.
    let (path, tag) = match path.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => {
            if !valid_tag(t) {
                return Err(bad(&format!("'{t}' is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})")));
            }
            (p, Some(t.to_string()))
        }
        _ => (path, None),
    };
    if path.is_empty() || !path.split('/').all(valid_component) {
        return Err(bad("the repository is lower-case letters, digits and . _ - separated by /"));
    }
    let repository = if registry == HUB && !path.contains('/') { format!("library/{path}") } else { path.to_string() };
    if repository.len() > 255 {
        return Err(bad("the repository name is longer than 255 characters"));
    }
    Ok(ImageRef { registry, repository, tag, digest })
}

// ---------------------------------------------------------------- documents

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: String, size: u64) -> Descriptor {
        Descriptor { media_type: media_type.into(), digest, size, annotations: BTreeMap::new(), platform: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The image config, the fields that matter here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub config: Option<ConfigBody>,
    #[serde(default)]
    pub rootfs: Option<RootFs>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigBody {
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// What a manifest GET returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    Index(Index),
    Image(ImageManifest),
}

/// Parses a manifest or an index by its media type (the registry's
/// Content-Type, else the document's own mediaType). Pure.
pub fn parse_manifest(bytes: &[u8], content_type: &str) -> std::result::Result<Fetched, String> {
    if bytes.len() as u64 > MAX_MANIFEST {
        return Err(format!("is {} bytes, more than the {MAX_MANIFEST} a manifest may have", bytes.len()));
    }
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("is not JSON: {e}"))?;
    let declared = v["mediaType"].as_str().unwrap_or("");
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let kind = if [INDEX, DOCKER_LIST, MANIFEST, DOCKER_MANIFEST].contains(&ct) { ct } else { declared };
    let kind = if kind.is_empty() && v.get("manifests").is_some() { INDEX } else { kind };
    let kind = if kind.is_empty() && v.get("layers").is_some() { MANIFEST } else { kind };
    let check = |d: &Descriptor| -> std::result::Result<(), String> {
        match valid_digest(&d.digest) {
            true => Ok(()),
            false => Err(format!("names a blob by the digest {:?}, not sha256", d.digest)),
        }
    };
    match kind {
        INDEX | DOCKER_LIST => {
            let i: Index = serde_json::from_value(v).map_err(|e| format!("is not an image index: {e}"))?;
            i.manifests.iter().try_for_each(check)?;
            Ok(Fetched::Index(i))
        }
        MANIFEST | DOCKER_MANIFEST => {
            let m: ImageManifest = serde_json::from_value(v).map_err(|e| format!("is not an image manifest: {e}"))?;
            check(&m.config)?;
            m.layers.iter().try_for_each(check)?;
            Ok(Fetched::Image(m))
        }
        other => Err(format!("has the media type {other:?}, not an OCI or Docker image manifest or index")),
    }
}

/// The manifest of an index for this platform: linux and `arch` (Go's
/// names), else the only one. Pure.
pub fn pick(index: &Index, arch: &str) -> Option<Descriptor> {
    let images: Vec<&Descriptor> =
        index.manifests.iter().filter(|d| d.media_type == MANIFEST || d.media_type == DOCKER_MANIFEST).collect();
    images
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch))
        .or(if images.len() == 1 { images.first() } else { None })
        .map(|d| (*d).clone())
}

/// Go's name of a machine (uname -m). Pure.
pub fn go_arch(machine: &str) -> &str {
    match machine {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i686" | "i386" => "386",
        "armv7l" | "arm" => "arm",
        other => other,
    }
}

/// SHA-256 of `bytes` as a digest. Pure.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", crate::model::trust::hex(&sha2::Sha256::digest(bytes)))
}

// -------------------------------------------------------------- annotations

/// What the annotations say of a checkpoint: from its manifest, its saved
/// container and its signature.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub container: String,
    pub container_id: String,
    /// The container's image as it was asked for (`Config.Image`), and its ID.
    pub image: String,
    pub image_id: String,
    /// Seconds since the epoch.
    pub created: u64,
    pub criu: String,
    pub kernel: String,
    /// uname -m.
    pub arch: String,
    pub cgroup: u32,
    pub docker: String,
    pub format: u32,
    /// `comment (fingerprint)` of the key that signed it, if any. Told, not
    /// trusted: `ls` and `pull` check the signature inside the layer.
    pub signer: Option<String>,
}

/// CRIU's version as Podman and CRI-O write it (go-criu: major * 10000 +
/// minor * 100 + sublevel). Pure.
pub fn criu_number(v: &str) -> Option<u32> {
    let mut it = v.trim().split('.').map(|p| p.parse::<u32>().ok());
    let (a, b, c) = (it.next()??, it.next().flatten().unwrap_or(0), it.next().flatten().unwrap_or(0));
    Some(a * 10000 + b * 100 + c)
}

/// The annotations each consumer looks for, and docker-cr's own. Pure.
pub fn annotations(m: &Meta) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    let image_id = m.image_id.trim_start_matches("sha256:").to_string();
    let criu = criu_number(&m.criu).map(|n| n.to_string()).unwrap_or_default();
    let cgroup = format!("v{}", m.cgroup);
    let arch = go_arch(&m.arch).to_string();
    let mut put = |prefix: &str, pairs: &[(&str, &str)]| {
        for (k, v) in pairs {
            if !v.is_empty() {
                a.insert(format!("{prefix}{k}"), (*v).to_string());
            }
        }
    };
    // Podman (libpod/define/annotations.go): `podman run IMG` restores when
    // runtime.name is there; `podman container restore IMG` reads the
    // layer's config.dump and spec.dump.
    put(
        PODMAN,
        &[
            ("name", &m.container),
            ("rawImageName", &m.image),
            ("rootfsImageID", &image_id),
            ("rootfsImageName", &m.image),
            ("criu.version", &criu),
            ("runtime.name", "runc"),
            ("host.arch", &arch),
            ("host.kernel", &m.kernel),
            ("cgroups.version", &cgroup),
        ],
    );
    // CRI-O (internal/annotations/checkpoint.go): name marks the image.
    put(
        CRIO,
        &[
            ("name", &m.container),
            ("rawImageName", &m.image),
            ("rootfsImageID", &image_id),
            ("rootfsImageName", &m.image),
            ("criu.version", &criu),
        ],
    );
    // checkpointctl (lib/annotations.go); containerd reads container.name
    // from the index, where `index_json` puts the same.
    put(
        CRIU,
        &[
            ("engine.name", "Docker"),
            ("container.name", &m.container),
            ("rawImageName", &m.image),
            ("rootfsImageUserRequested", &m.image),
            ("rootfsImageName", &m.image),
            ("rootfsImageID", &image_id),
            ("runtime.name", "runc"),
            ("criu.version", &criu),
            ("host.arch", &arch),
            ("host.kernel", &m.kernel),
            ("cgroup.version", &cgroup),
        ],
    );
    let format = m.format.to_string();
    let signer = m.signer.clone().unwrap_or_default();
    put(
        OWN,
        &[("format", &format), ("container.id", &m.container_id), ("docker.version", &m.docker), ("signer", &signer)],
    );
    a.insert("org.docker-cr.version".into(), crate::VERSION.to_string());
    a.insert(CREATED.into(), crate::formats::archive::rfc3339(m.created));
    a
}

/// Who made a checkpoint image, as its annotations (or labels) tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MadeBy {
    DockerCr,
    Podman,
    CriO,
    /// checkpointctl build, containerd: `org.criu.checkpoint.*` only.
    Criu,
}

impl MadeBy {
    pub fn name(&self) -> &'static str {
        match self {
            MadeBy::DockerCr => "docker-cr",
            MadeBy::Podman => "Podman",
            MadeBy::CriO => "CRI-O",
            MadeBy::Criu => "checkpointctl or containerd",
        }
    }
}

/// Whether the image is a checkpoint, by whom, and of which container:
/// from the index's and manifest's annotations and the config's labels,
/// by the keys each producer writes (docker-cr's first: its images carry
/// the others' keys too). None: not a checkpoint image. Pure.
pub fn recognise(keys: &BTreeMap<String, String>) -> Option<(MadeBy, String)> {
    let get = |k: &str| keys.get(k).cloned().unwrap_or_default();
    if keys.contains_key(OWN_FORMAT) {
        return Some((MadeBy::DockerCr, get(&format!("{CRIU}container.name"))));
    }
    if keys.contains_key(&format!("{PODMAN}name")) || keys.contains_key(&format!("{PODMAN}runtime.name")) {
        return Some((MadeBy::Podman, get(&format!("{PODMAN}name"))));
    }
    if keys.contains_key(&format!("{CRIO}name")) {
        return Some((MadeBy::CriO, get(&format!("{CRIO}name"))));
    }
    if keys.contains_key(&format!("{CRIU}container.name")) {
        return Some((MadeBy::Criu, get(&format!("{CRIU}container.name"))));
    }
    None
}

/// The annotations of the index, the manifest and the config's labels in
/// one map (the manifest's win). Pure.
pub fn all_keys(
    index: Option<&Index>,
    manifest: &ImageManifest,
    config: Option<&ImageConfig>,
) -> BTreeMap<String, String> {
    let mut k = BTreeMap::new();
    if let Some(labels) = config.and_then(|c| c.config.as_ref()).and_then(|c| c.labels.as_ref()) {
        k.extend(labels.clone());
    }
    if let Some(i) = index {
        k.extend(i.annotations.clone());
    }
    k.extend(manifest.annotations.clone());
    k
}

/// The image config of a checkpoint: from scratch, its labels the
/// annotations (for tools that show only the config). Pure.
pub fn config_json(m: &Meta, diff_id: &str, labels: &BTreeMap<String, String>) -> Vec<u8> {
    let created = crate::formats::archive::rfc3339(m.created);
    let v = serde_json::json!({
        "created": created,
        "architecture": go_arch(&m.arch),
        "os": "linux",
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{
            "created": created,
            "created_by": "docker-cr image build",
            "comment": format!("checkpoint of container {}", m.container),
        }],
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The image manifest. Pure.
pub fn manifest_json(config: Descriptor, layer: Descriptor, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let m = ImageManifest {
        schema_version: 2,
        media_type: MANIFEST.into(),
        config,
        layers: vec![layer],
        annotations: annotations.clone(),
    };
    serde_json::to_vec(&m).unwrap_or_default()
}

/// The index that the tag names: one manifest for linux/ARCH, and on the
/// index itself the checkpoint's annotations (containerd reads
/// `org.criu.checkpoint.container.name` here). Pure.
pub fn index_json(manifest: Descriptor, arch: &str, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let mut d = manifest;
    d.platform = Some(Platform { architecture: go_arch(arch).into(), os: "linux".into() });
    let i = Index { schema_version: 2, media_type: INDEX.into(), manifests: vec![d], annotations: annotations.clone() };
    serde_json::to_vec(&i).unwrap_or_default()
}

/// The layer's media type for an archive compression. Pure.
pub fn layer_type(c: Compression) -> &'static str {
    match c {
        Compression::Zstd => LAYER_ZSTD,
        Compression::Gzip => LAYER_GZIP,
        Compression::None => LAYER_TAR,
    }
}

/// Whether `t` is a layer docker-cr can read (every archive compression).
pub fn readable_layer(t: &str) -> bool {
    [LAYER_TAR, LAYER_GZIP, LAYER_ZSTD, DOCKER_LAYER, "application/vnd.docker.image.rootfs.diff.tar"].contains(&t)
}

// ------------------------------------------------------------------ streams

/// SHA-256 and a count of what passes, in front of `inner`.
pub struct HashWriter<W> {
    pub inner: W,
    sha: sha2::Sha256,
    pub n: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> HashWriter<W> {
        HashWriter { inner, sha: <sha2::Sha256 as sha2::Digest>::new(), n: 0 }
    }
    /// The digest of what was written, and the writer.
    pub fn finish(self) -> (String, u64, W) {
        let d = format!("sha256:{}", crate::model::trust::hex(&sha2::Digest::finalize(self.sha)));
        (d, self.n, self.inner)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What a layer turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    /// The blob: its digest and size as stored.
    pub digest: String,
    pub size: u64,
    /// The uncompressed tar's digest (the config's rootfs.diff_ids).
    pub diff_id: String,
    pub tar_size: u64,
    pub media_type: &'static str,
}

/// The writer `archive::export` writes an uncompressed archive into: it is
/// hashed (the diff_id), compressed, hashed again (the blob's digest) and
/// written to `out`, all in one pass.
pub struct LayerWriter<W: Write> {
    inner: HashWriter<Sink<HashWriter<W>>>,
    compression: Compression,
}

impl<W: Write> LayerWriter<W> {
    pub fn new(out: W, c: Compression) -> io::Result<LayerWriter<W>> {
        Ok(LayerWriter { inner: HashWriter::new(Sink::new(HashWriter::new(out), c)?), compression: c })
    }
    pub fn finish(self) -> io::Result<(LayerInfo, W)> {
        let (diff_id, tar_size, sink) = self.inner.finish();
        let mut blob = sink.finish()?;
        blob.flush()?;
        let (digest, size, out) = blob.finish();
        Ok((LayerInfo { digest, size, diff_id, tar_size, media_type: layer_type(self.compression) }, out))
    }
}

impl<W: Write> Write for LayerWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A blob read from outside, checked as it passes: no byte past `size`,
/// and at its end exactly `size` bytes whose SHA-256 is `digest`; else
/// the read fails (InvalidData), so that whatever consumes it fails too.
pub struct Verified<R> {
    inner: R,
    want: String,
    size: u64,
    sha: sha2::Sha256,
    n: u64,
    checked: bool,
    what: String,
}

impl<R: Read> Verified<R> {
    pub fn new(inner: R, want: &str, size: u64, what: String) -> Verified<R> {
        Verified {
            inner,
            want: want.to_string(),
            size,
            sha: <sha2::Sha256 as sha2::Digest>::new(),
            n: 0,
            checked: false,
            what,
        }
    }
    /// Reads what is left and checks the digest: Ok once the whole blob
    /// has passed and matches.
    pub fn finish(mut self) -> io::Result<()> {
        io::copy(&mut self, &mut io::sink())?;
        match self.checked {
            true => Ok(()),
            false => Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} was not read to its end", self.what))),
        }
    }
    fn check(&mut self) -> io::Result<()> {
        let got =
            format!("sha256:{}", crate::model::trust::hex(&sha2::Digest::finalize(std::mem::take(&mut self.sha))));
        if self.n != self.size || got != self.want {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} does not match its digest: {} bytes with {got}, the manifest names {} bytes with {}",
                    self.what, self.n, self.size, self.want
                ),
            ));
        }
        self.checked = true;
        Ok(())
    }
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.checked {
            return Ok(0);
        }
        // One byte more than the blob may have, to see a longer one.
        let room = (self.size - self.n.min(self.size)).saturating_add(1).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        if n == 0 {
            self.check()?;
            return Ok(0);
        }
        self.n += n as u64;
        if self.n > self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is longer than the {} bytes its manifest names", self.what, self.size),
            ));
        }
        sha2::Digest::update(&mut self.sha, &buf[..n]);
        Ok(n)
    }
}

// ------------------------------------------------------------------- layout

/// An OCI image layout directory (image-spec `image-layout.md`): where
/// `image build` keeps an image until it is pushed. `index.json` names
/// each image by its reference (`org.opencontainers.image.ref.name`);
/// blobs are `blobs/sha256/<hex>`, each written once, under a temporary
/// name first and renamed when complete. Blobs no image reaches are
/// removed when the image that reached them is replaced or removed.
pub struct Layout {
    pub dir: PathBuf,
}

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_INDEX: &str = "index.json";

/// A blob being written into a layout; removed unless committed.
pub struct NewBlob {
    pub file: fs::File,
    tmp: PathBuf,
    done: bool,
}

impl Drop for NewBlob {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Layout {
    /// Opens the layout in `dir`, creating it (0700) if it is not there.
    pub fn create(dir: &Path) -> Result<Layout> {
        let blobs = dir.join("blobs/sha256");
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&blobs).at("create", &blobs)?;
        let l = Layout { dir: dir.to_path_buf() };
        let marker = dir.join(LAYOUT_FILE);
        if fs::symlink_metadata(&marker).is_err() {
            l.write_atomic(LAYOUT_FILE, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if fs::symlink_metadata(dir.join(LAYOUT_INDEX)).is_err() {
            l.write_atomic(LAYOUT_INDEX, &empty_index())?;
        }
        Ok(l)
    }

    /// Opens an existing layout.
    pub fn open(dir: &Path) -> Result<Layout> {
        if fs::symlink_metadata(dir.join(LAYOUT_FILE)).is_err() {
            return Err(Error::checkpoint(
                format!("{} is not an OCI image layout (no {LAYOUT_FILE})", dir.display()),
                "build the image first: docker-cr image build CHECKPOINT IMAGE",
            ));
        }
        Ok(Layout { dir: dir.to_path_buf() })
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
    }

    fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = self.dir.join(format!(".{name}.{}", std::process::id()));
        let path = self.dir.join(name);
        let mut f =
            fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).at("create", &tmp)?;
        f.write_all(bytes).and_then(|()| f.sync_all()).at("write", &tmp)?;
        fs::rename(&tmp, &path).at("rename", &tmp)
    }

    /// A new blob file, to be written and then committed under its digest.
    pub fn new_blob(&self) -> Result<NewBlob> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let tmp = self.dir.join("blobs/sha256").join(format!(".tmp-{}-{nanos}", std::process::id()));
        let file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).at("create", &tmp)?;
        Ok(NewBlob { file, tmp, done: false })
    }

    /// Puts the written blob under `digest` (synced first); one that is
    /// there already has the same bytes.
    pub fn commit(&self, mut b: NewBlob, digest: &str) -> Result<()> {
        b.file.sync_all().at("sync", &b.tmp)?;
        let to = self.blob_path(digest);
        if fs::symlink_metadata(&to).is_ok() {
            return Ok(());
        }
        fs::rename(&b.tmp, &to).at("rename", &b.tmp)?;
        b.done = true;
        Ok(())
    }

    /// Writes a small blob (a manifest, a config); returns its descriptor.
    pub fn put(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let digest = digest_of(bytes);
        let mut b = self.new_blob()?;
        b.file.write_all(bytes).at("write", &b.tmp)?;
        self.commit(b, &digest)?;
        Ok(Descriptor::new(media_type, digest, bytes.len() as u64))
    }

    /// A blob's bytes, at most `max` of them, checked against its digest.
    pub fn read(&self, digest: &str, max: u64) -> Result<Vec<u8>> {
        let p = self.blob_path(digest);
        let mut v = Vec::new();
        fs::File::open(&p).at("open", &p)?.take(max + 1).read_to_end(&mut v).at("read", &p)?;
        if v.len() as u64 > max || digest_of(&v) != digest {
            return Err(Error::checkpoint(
                format!(
                    "the blob {} of the image layout {} is damaged (too large, or not its digest)",
                    digest,
                    self.dir.display()
                ),
                "build the image again",
            ));
        }
        Ok(v)
    }

    fn index(&self) -> Result<Index> {
        let p = self.dir.join(LAYOUT_INDEX);
        let mut v = Vec::new();
        fs::File::open(&p).at("open", &p)?.take(MAX_MANIFEST + 1).read_to_end(&mut v).at("read", &p)?;
        match parse_manifest(&v, INDEX) {
            Ok(Fetched::Index(i)) => Ok(i),
            Ok(_) | Err(_) => Err(Error::checkpoint(
                format!("{} is not a valid OCI index", p.display()),
                "remove the layout directory and build the image again",
            )),
        }
    }

    /// The images, by reference.
    pub fn list(&self) -> Result<Vec<(String, Descriptor)>> {
        Ok(self
            .index()?
            .manifests
            .into_iter()
            .filter_map(|d| d.annotations.get(REF_NAME).cloned().map(|r| (r, d)))
            .collect())
    }

    /// The image named `reference`.
    pub fn find(&self, reference: &str) -> Result<Option<Descriptor>> {
        Ok(self.list()?.into_iter().find(|(r, _)| r == reference).map(|(_, d)| d))
    }

    /// Names `d` `reference` (replacing what had that name), then removes
    /// the blobs only the replaced image reached. Under an exclusive flock
    /// of index.json, so that two builds into one layout lose no name.
    pub fn tag(&self, reference: &str, d: Descriptor) -> Result<()> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let mut d = d;
        d.annotations.insert(REF_NAME.into(), reference.into());
        let old: Vec<Descriptor> = index.manifests.iter().filter(|m| is_ref(m, reference)).cloned().collect();
        index.manifests.retain(|m| !is_ref(m, reference));
        index.manifests.push(d);
        self.write_atomic(LAYOUT_INDEX, &serde_json::to_vec(&index).unwrap_or_default())?;
        self.drop_unreached(&old, &index);
        Ok(())
    }

    fn lock(&self) -> Result<fs::File> {
        let p = self.dir.join(".lock");
        let f =
            fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(&p).at("create", &p)?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).at("lock", &p)?;
        Ok(f)
    }

    /// Every blob `roots` reach (indexes, manifests, configs, layers).
    fn reach(&self, roots: &[Descriptor]) -> std::collections::BTreeSet<String> {
        let mut keep = std::collections::BTreeSet::new();
        let mut todo: Vec<Descriptor> = roots.to_vec();
        while let Some(d) = todo.pop() {
            if !keep.insert(d.digest.clone()) {
                continue;
            }
            if d.media_type == INDEX || d.media_type == MANIFEST {
                let Ok(bytes) = self.read(&d.digest, MAX_MANIFEST) else { continue };
                match parse_manifest(&bytes, &d.media_type) {
                    Ok(Fetched::Index(i)) => todo.extend(i.manifests),
                    Ok(Fetched::Image(m)) => {
                        keep.insert(m.config.digest);
                        keep.extend(m.layers.into_iter().map(|l| l.digest));
                    }
                    Err(_) => {}
                }
            }
        }
        keep
    }

    /// Removes the blobs `old` reached that no image of `index` reaches.
    /// Only those: a build running beside this one has blobs that no name
    /// reaches yet, and they stay.
    fn drop_unreached(&self, old: &[Descriptor], index: &Index) {
        let gone = self.reach(old);
        let kept = self.reach(&index.manifests);
        for d in gone.difference(&kept) {
            let _ = fs::remove_file(self.blob_path(d));
        }
    }

    /// Forgets the image `reference` and removes the blobs only it reached.
    pub fn remove(&self, reference: &str) -> Result<bool> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let old: Vec<Descriptor> = index.manifests.iter().filter(|m| is_ref(m, reference)).cloned().collect();
        if old.is_empty() {
            return Ok(false);
        }
        index.manifests.retain(|m| !is_ref(m, reference));
        self.write_atomic(LAYOUT_INDEX, &serde_json::to_vec(&index).unwrap_or_default())?;
        self.drop_unreached(&old, &index);
        Ok(true)
    }
}

fn is_ref(d: &Descriptor, reference: &str) -> bool {
    d.annotations.get(REF_NAME).map(String::as_str) == Some(reference)
}

fn empty_index() -> Vec<u8> {
    let i = Index { schema_version: 2, media_type: INDEX.into(), manifests: vec![], annotations: BTreeMap::new() };
    serde_json::to_vec(&i).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_as_the_docker_cli_does() {
        let r = parse_ref("127.0.0.1:5000/cp/web:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "cp/web", Some("v1"))
        );
        assert_eq!(r.reference(), "v1");
        assert_eq!(r.to_string(), "127.0.0.1:5000/cp/web:v1");
        let r = parse_ref("redis").unwrap();
        assert_eq!((r.registry.as_str(), r.repository.as_str(), r.api_host()), ("docker.io", "library/redis", HUB_API));
        assert_eq!(r.reference(), "latest");
        let r = parse_ref("user/app").unwrap();
        assert_eq!(r.repository, "user/app", "no library/ with a namespace");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse_ref(&format!("localhost/x@{d}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.digest.as_deref(), r.reference()),
            ("localhost", Some(d.as_str()), d.clone())
        );
        let r = parse_ref(&format!("reg.example.com:443/a/b:t@{d}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (Some("t"), Some(d.as_str())));
        for bad in [
            "",
            "UPPER/x",
            "reg:5000/",
            "reg:5000/x:",
            "reg:99999/x",
            "x@sha256:12",
            "a b",
            "reg:5000/x:t/y",
            "reg:5000/-x",
            "../x",
        ] {
            assert!(parse_ref(bad).is_err(), "{bad:?} accepted");
        }
        assert!(has_registry("localhost/x") && has_registry("a.b/c") && has_registry("h:1/c"));
        assert!(!has_registry("web/cp1") && !has_registry("web"));
    }

    fn meta() -> Meta {
        Meta {
            container: "web".into(),
            container_id: "abc123".into(),
            image: "docker-cr-test:busybox".into(),
            image_id: "sha256:3c9d".into(),
            created: 1_800_000_000,
            criu: "4.2.1".into(),
            kernel: "6.18.0".into(),
            arch: "x86_64".into(),
            cgroup: 2,
            docker: "28.5.2".into(),
            format: 2,
            signer: Some("hosta (SHA256:xyz)".into()),
        }
    }

    // Issue 20: every consumer finds its keys.
    #[test]
    fn every_consumer_finds_its_annotations() {
        let a = annotations(&meta());
        for (k, v) in [
            ("io.podman.annotations.checkpoint.name", "web"),
            ("io.podman.annotations.checkpoint.runtime.name", "runc"),
            ("io.podman.annotations.checkpoint.rootfsImageID", "3c9d"),
            ("io.podman.annotations.checkpoint.criu.version", "40201"),
            ("io.podman.annotations.checkpoint.host.arch", "amd64"),
            ("io.podman.annotations.checkpoint.cgroups.version", "v2"),
            ("io.kubernetes.cri-o.annotations.checkpoint.name", "web"),
            ("io.kubernetes.cri-o.annotations.checkpoint.rootfsImageName", "docker-cr-test:busybox"),
            ("org.criu.checkpoint.container.name", "web"),
            ("org.criu.checkpoint.engine.name", "Docker"),
            ("org.docker-cr.checkpoint.format", "2"),
            ("org.docker-cr.checkpoint.signer", "hosta (SHA256:xyz)"),
            ("org.opencontainers.image.created", "2027-01-15T08:00:00Z"),
        ] {
            assert_eq!(a.get(k).map(String::as_str), Some(v), "{k}");
        }
        let mut unsigned = meta();
        unsigned.signer = None;
        assert!(!annotations(&unsigned).contains_key(OWN_SIGNER), "no empty values");
        assert_eq!(criu_number("3.17"), Some(31700));
        assert_eq!(criu_number("x"), None);
    }

    #[test]
    fn documents_have_the_shapes_consumers_read() {
        let m = meta();
        let a = annotations(&m);
        let layer = Descriptor::new(LAYER_ZSTD, format!("sha256:{}", "1".repeat(64)), 10);
        let diff = format!("sha256:{}", "2".repeat(64));
        let config = config_json(&m, &diff, &a);
        let c: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!((c["os"].as_str(), c["architecture"].as_str()), (Some("linux"), Some("amd64")));
        assert_eq!(c["rootfs"]["diff_ids"][0], diff.as_str());
        assert_eq!(c["config"]["Labels"]["org.criu.checkpoint.container.name"], "web");
        let cd = Descriptor::new(CONFIG, digest_of(&config), config.len() as u64);
        let man = manifest_json(cd.clone(), layer.clone(), &a);
        let Fetched::Image(parsed) = parse_manifest(&man, MANIFEST).unwrap() else { panic!() };
        assert_eq!((&parsed.config, &parsed.layers), (&cd, &vec![layer]));
        assert_eq!(parsed.annotations, a);
        let md = Descriptor::new(MANIFEST, digest_of(&man), man.len() as u64);
        let idx = index_json(md.clone(), "x86_64", &a);
        let Fetched::Index(i) = parse_manifest(&idx, "").unwrap() else { panic!() };
        assert_eq!(i.annotations["org.criu.checkpoint.container.name"], "web");
        assert_eq!(pick(&i, "amd64").unwrap().digest, md.digest);
        let v: serde_json::Value = serde_json::from_slice(&idx).unwrap();
        assert_eq!(v["manifests"][0]["platform"], serde_json::json!({"architecture": "amd64", "os": "linux"}));
        assert_eq!(recognise(&all_keys(Some(&i), &parsed, None)), Some((MadeBy::DockerCr, "web".into())));
    }

    // Podman's --create-image manifest, as its registry push has it (here,
    // Podman 4.3.1, trimmed): recognised as Podman's, by its container.
    #[test]
    fn podman_and_crio_images_are_recognised() {
        let podman = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:99b21f1f3a8772a0e294782f1078a12ad36e04bdea8a05cbbe45a1c8200e2a23","size":285},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:70dc7d6e992b2d4bb4a228f1f5b51a8c7cd4382c95a43908670d0be687e12ca8","size":40694}],"annotations":{"io.podman.annotations.checkpoint.name":"oci-explore1","io.podman.annotations.checkpoint.runtime.name":"docker-cr-runc","io.podman.annotations.checkpoint.rootfsImageName":"localhost/docker-cr-test:busybox","org.opencontainers.image.base.digest":""}}"#;
        let Fetched::Image(m) = parse_manifest(podman, "application/vnd.oci.image.manifest.v1+json").unwrap() else {
            panic!()
        };
        assert_eq!(recognise(&all_keys(None, &m, None)), Some((MadeBy::Podman, "oci-explore1".into())));
        assert!(readable_layer(&m.layers[0].media_type));
        let mut k = BTreeMap::new();
        k.insert("io.kubernetes.cri-o.annotations.checkpoint.name".to_string(), "counter".to_string());
        assert_eq!(recognise(&k), Some((MadeBy::CriO, "counter".into())));
        k.clear();
        k.insert("org.criu.checkpoint.container.name".to_string(), "c".to_string());
        assert_eq!(recognise(&k), Some((MadeBy::Criu, "c".into())));
        k.clear();
        k.insert("org.opencontainers.image.title".to_string(), "nginx".to_string());
        assert_eq!(recognise(&k), None, "an ordinary image");
    }

    #[test]
    fn hostile_manifests_are_refused() {
        assert!(parse_manifest(b"[]", MANIFEST).unwrap_err().contains("not an image manifest"));
        assert!(parse_manifest(b"{", "").unwrap_err().contains("not JSON"));
        assert!(parse_manifest(br#"{"mediaType":"text/plain"}"#, "").unwrap_err().contains("media type"));
        let bad_digest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"md5:1","size":1},"layers":[]}"#;
        assert!(parse_manifest(bad_digest, MANIFEST).unwrap_err().contains("not sha256"));
        let big = vec![b' '; MAX_MANIFEST as usize + 1];
        assert!(parse_manifest(&big, MANIFEST).unwrap_err().contains("more than"));
    }

    #[test]
    fn blobs_are_verified_as_they_pass() {
        let data = b"layer bytes".to_vec();
        let d = digest_of(&data);
        let mut out = Vec::new();
        let mut v = Verified::new(&data[..], &d, data.len() as u64, "blob".into());
        io::copy(&mut v, &mut out).unwrap();
        assert_eq!(out, data);
        v.finish().unwrap();
        let mut tampered = data.clone();
        tampered[0] ^= 1;
        let e = io::copy(&mut Verified::new(&tampered[..], &d, 11, "blob".into()), &mut io::sink()).unwrap_err();
        assert!(e.to_string().contains("does not match its digest"), "{e}");
        let e = io::copy(&mut Verified::new(&b"layer bytes!"[..], &d, 11, "blob".into()), &mut io::sink()).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
        let e = io::copy(&mut Verified::new(&b"layer"[..], &d, 11, "blob".into()), &mut io::sink()).unwrap_err();
        assert!(e.to_string().contains("5 bytes"), "{e}");
    }

    #[test]
    fn a_layer_is_hashed_before_and_after_compression() {
        for c in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let mut w = LayerWriter::new(Vec::new(), c).unwrap();
            w.write_all(&[7u8; 100_000]).unwrap();
            let (info, blob) = w.finish().unwrap();
            assert_eq!(info.digest, digest_of(&blob));
            assert_eq!(info.size, blob.len() as u64);
            assert_eq!(info.diff_id, digest_of(&[7u8; 100_000]));
            assert_eq!(info.tar_size, 100_000);
            assert_eq!(Compression::detect(&blob), c);
            assert_eq!(info.media_type, layer_type(c));
        }
    }

    #[test]
    fn a_layout_keeps_each_blob_once() {
        let d = std::env::temp_dir().join(format!("docker-cr-oci-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let l = Layout::create(&d).unwrap();
        let a = l.put(MANIFEST, b"one").unwrap();
        let b = l.put(MANIFEST, b"two").unwrap();
        l.tag("r/x:1", a.clone()).unwrap();
        l.tag("r/x:2", b.clone()).unwrap();
        assert_eq!(l.find("r/x:1").unwrap().unwrap().digest, a.digest);
        // Replacing a name drops the blob only it reached ("one" is not a
        // parseable manifest, so nothing below it is kept either).
        l.tag("r/x:1", b.clone()).unwrap();
        assert!(!l.blob_path(&a.digest).exists());
        assert!(l.blob_path(&b.digest).exists());
        assert_eq!(l.list().unwrap().len(), 2);
        assert!(l.remove("r/x:1").unwrap());
        assert!(l.blob_path(&b.digest).exists(), "r/x:2 still reaches it");
        assert!(l.remove("r/x:2").unwrap());
        assert!(!l.blob_path(&b.digest).exists());
        assert!(Layout::open(&d.join("nope")).is_err());
        fs::remove_dir_all(&d).unwrap();
    }
}
