//! The image commands (issue 20), as compositions over the checkpoint
//! directory: `image build` is an export written as an image layer (into
//! an OCI layout, or streamed straight to a registry), `image push` sends
//! a built one, `image pull` is a registry read into `archive::import`,
//! and the listing and inspection of a registry's checkpoint images.
//!
//! Where a built image lives before it is pushed: an OCI image layout,
//! `<store>/.images` by default (`--layout DIR` for another), because it
//! is the format every other tool reads (skopeo, buildah, Podman's `oci:`
//! transport) and because it holds each blob once: the layer is the one
//! copy of the checkpoint's bytes on disk, written as it is made (the
//! export streams through the compressor and two hashes into the blob
//! file); a replaced image's blobs go. `--push` writes nothing to disk at
//! all: the layer streams to the registry as it is made (one chunked
//! PATCH), and the small documents follow.
//!
//! For the lead's wiring (restore IMAGE, checkpoint --push, ls
//! REGISTRY/REPO, inspect IMAGE): `pull_checkpoint`, `push_checkpoint`,
//! `list` / `render_list`, `inspect` / `render_inspect`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::engine::registry::{Access, Client};
use crate::error::{Error, IoContext, Result};
use crate::formats::archive::{self, Compression};
use crate::formats::oci::{self, Descriptor, Fetched, ImageRef, Layout, MadeBy, Meta};
use crate::host;
use crate::model::manifest as mf;
use crate::model::trust;
use crate::ops::catalog;
use crate::report::Out as Progress;
use crate::session::Session;

/// What `image` does.
#[derive(Debug, PartialEq, Clone)]
pub enum ImageCmd {
    Build { checkpoint: String, image: String, compress: Compression, push: bool, layout: Option<PathBuf> },
    Push { image: String, layout: Option<PathBuf> },
    Pull { image: String, dir: PathBuf },
    Ls { repo: String, json: bool },
    Inspect { image: String, json: bool },
    Rm { images: Vec<String>, layout: Option<PathBuf> },
    Local { layout: Option<PathBuf> },
}

/// `docker-cr image …`.
#[derive(Debug, PartialEq, Clone)]
pub struct ImageArgs {
    pub cmd: ImageCmd,
    /// Plain HTTP to the image's registry.
    pub insecure: bool,
}

/// The store's image layout.
pub fn store_layout(session: &Session) -> PathBuf {
    session.store.root.join(".images")
}

/// An image reference as the user typed it, with `latest` for no tag
/// (so that the layout's name and the registry's tag agree).
fn parse(image: &str) -> Result<ImageRef> {
    let mut r = oci::parse_ref(image).map_err(|e| Error::Usage(format!("{e}\nTry 'docker-cr image --help'.")))?;
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".into());
    }
    Ok(r)
}

/// A reference to build or push under: a tag, not a digest.
fn parse_tagged(image: &str) -> Result<ImageRef> {
    let r = parse(image)?;
    if r.digest.is_some() {
        return Err(Error::Usage(format!(
            "{image}: an image is built and pushed under a tag, not a digest (the digest is what it becomes)\nTry 'docker-cr image --help'."
        )));
    }
    Ok(r)
}

/// What the annotations say of the checkpoint in `dir`: its manifest,
/// its saved container and who signed it. A signature that does not hold
/// is an error: such a checkpoint is not published.
pub fn meta(dir: &Path) -> Result<Meta> {
    let bytes = mf::read_bytes(dir)?;
    let m = mf::parse_bytes(&bytes, &dir.join(mf::MANIFEST))?;
    let sig = mf::read_limited(dir, trust::SIG, 64 << 10)?;
    let signer = match trust::check(&bytes, sig.as_deref(), &[]) {
        Ok(trust::Provenance::Trusted(k) | trust::Provenance::Untrusted(k)) => Some(k.describe()),
        Ok(trust::Provenance::Unsigned) => None,
        Err(e) => return Err(e.step(format!("the checkpoint {}", dir.display()))),
    };
    let saved: Value = mf::read_limited(dir, mf::CONTAINER, archive::MAX_SMALL)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let s = |p: &str| saved.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let image = Some(s("/Config/Image")).filter(|i| !i.is_empty()).unwrap_or_else(|| m.container.image.clone());
    Ok(Meta {
        container: m.container.name.clone(),
        container_id: m.container.id.clone(),
        image,
        image_id: s("/Image"),
        created: m.created,
        criu: m.host.criu.clone(),
        kernel: m.host.kernel.clone(),
        arch: m.host.arch.clone(),
        cgroup: m.host.cgroup,
        docker: m.host.docker.clone(),
        format: m.format,
        signer,
    })
}

/// Where `build_image` puts the image.
pub enum Target<'a> {
    Layout(&'a Layout),
    Registry(&'a mut Client),
}

/// What a build made.
#[derive(Debug)]
pub struct Built {
    pub image: ImageRef,
    /// The index the tag names, and the image manifest in it.
    pub index: Descriptor,
    pub manifest: Descriptor,
    pub layer: oci::LayerInfo,
    pub stats: archive::ExportStats,
    pub millis: u64,
}

/// The checkpoint directory `dir` as the image `image`: its archive (as
/// `export` writes it) as the one layer, compressed with `c`, then the
/// config, the manifest and the index; into a layout, or streamed to a
/// registry (nothing on disk).
pub fn build_image(dir: &Path, image: &ImageRef, c: Compression, target: Target, out: &Progress) -> Result<Built> {
    let m = meta(dir)?;
    let ann = oci::annotations(&m);
    let t = std::time::Instant::now();
    let what = |e: Error| e.step(format!("building the image {image} from {}", dir.display()));
    let mut target = target;
    let (layer, stats) = match &mut target {
        Target::Layout(l) => write_layer(dir, c, l).map_err(what)?,
        Target::Registry(client) => stream_layer(dir, c, client).map_err(what)?,
    };
    let config = oci::config_json(&m, &layer.diff_id, &ann);
    let layer_d = Descriptor::new(layer.media_type, layer.digest.clone(), layer.size);
    let config_d = Descriptor::new(oci::CONFIG, oci::digest_of(&config), config.len() as u64);
    let manifest = oci::manifest_json(config_d.clone(), layer_d, &ann);
    let manifest_d = Descriptor::new(oci::MANIFEST, oci::digest_of(&manifest), manifest.len() as u64);
    let index = oci::index_json(manifest_d.clone(), &m.arch, &ann);
    let index_d = Descriptor::new(oci::INDEX, oci::digest_of(&index), index.len() as u64);
    match target {
        Target::Layout(l) => {
            l.put(oci::CONFIG, &config)?;
            l.put(oci::MANIFEST, &manifest)?;
            l.put(oci::INDEX, &index)?;
            l.tag(&image.to_string(), index_d.clone())?;
        }
        Target::Registry(client) => {
            client.upload(&config_d.digest, config_d.size, &mut &config[..])?;
            client.put_manifest(&manifest_d.digest, oci::MANIFEST, &manifest)?;
            client.put_manifest(&image.reference(), oci::INDEX, &index)?;
        }
    }
    let millis = t.elapsed().as_millis() as u64;
    out.step(format!(
        "image {image}: {} files ({:.1} MiB) in one {} layer of {:.1} MiB in {millis} ms ({:.0} MB/s), digest {}",
        stats.files,
        stats.bytes_in as f64 / (1 << 20) as f64,
        c.name(),
        layer.size as f64 / (1 << 20) as f64,
        stats.bytes_in as f64 / (millis.max(1) as f64 / 1000.0) / 1e6,
        index_d.digest
    ));
    Ok(Built { image: image.clone(), index: index_d, manifest: manifest_d, layer, stats, millis })
}

/// The layer written into a new blob of the layout as export writes it.
fn write_layer(dir: &Path, c: Compression, l: &Layout) -> Result<(oci::LayerInfo, archive::ExportStats)> {
    let blob = l.new_blob()?;
    let mut w = oci::LayerWriter::new(BufWriter::with_capacity(1 << 20, &blob.file), c).at("write a layer of", dir)?;
    let stats = archive::export(dir, &mut w, Compression::None, &archive::Extras::default())?;
    let (info, mut f) = w.finish().at("write a layer of", dir)?;
    f.flush().at("write a layer of", dir)?;
    drop(f);
    l.commit(blob, &info.digest)?;
    Ok((info, stats))
}

/// The layer streamed to the registry as export writes it: export runs
/// on a thread into a pipe, the upload reads the pipe (one chunked PATCH).
fn stream_layer(dir: &Path, c: Compression, client: &mut Client) -> Result<(oci::LayerInfo, archive::ExportStats)> {
    let (mut reader, writer) = io::pipe().at("create a pipe for", dir)?;
    // 1 MiB rather than 64 KiB: fewer switches between the export thread
    // and the upload (best effort: the default size works too).
    let _ = rustix::pipe::fcntl_setpipe_size(&writer, 1 << 20);
    let d = dir.to_path_buf();
    let worker = std::thread::spawn(move || -> Result<(oci::LayerInfo, archive::ExportStats)> {
        let mut w = oci::LayerWriter::new(BufWriter::with_capacity(1 << 20, writer), c).at("write a layer of", &d)?;
        let stats = archive::export(&d, &mut w, Compression::None, &archive::Extras::default())?;
        let (info, mut pipe) = w.finish().at("write a layer of", &d)?;
        pipe.flush().at("write a layer of", &d)?;
        Ok((info, stats))
    });
    let sent = client.upload_stream(&mut reader);
    // The export stops at its next write if the upload failed.
    drop(reader);
    let made = worker.join().map_err(|_| Error::engine("the layer thread failed", None))?;
    let ((info, stats), (digest, size)) = match (made, sent) {
        (Ok(x), Ok(s)) => (x, s),
        // Both failed: the upload first (the export then met a closed pipe).
        (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
    };
    if digest != info.digest || size != info.size {
        return Err(Error::engine(
            format!(
                "the layer sent ({digest}, {size} bytes) is not the one made ({}, {} bytes)",
                info.digest, info.size
            ),
            None,
        ));
    }
    Ok((info, stats))
}

/// "checkpoint directory → image → push": `dir` built as `image` and
/// streamed to its registry (nothing written to disk). For `checkpoint
/// --push IMAGE CONTAINER`: a checkpoint into a private directory, then
/// this.
pub fn push_checkpoint(dir: &Path, image: &str, c: Compression, insecure: bool, out: &Progress) -> Result<Built> {
    let r = parse_tagged(image)?;
    let mut client = Client::new(&r, Access::Push, insecure)?;
    client.ping()?;
    let b = build_image(dir, &r, c, Target::Registry(&mut client), out)?;
    out.step(format!("pushed {r} ({}) to {}", b.index.digest, r.registry));
    Ok(b)
}

/// Pushes the image `image` of the layout `l` to its registry: each blob
/// unless the repository has it (or can mount it from another repository
/// of the same registry that this layout pushed it to), then the
/// manifests, the tag last.
pub fn push_image(l: &Layout, image: &ImageRef, insecure: bool, out: &Progress) -> Result<()> {
    let name = image.to_string();
    let index_d = l.find(&name)?.ok_or_else(|| {
        Error::checkpoint(
            format!("no image {name} in {}", l.dir.display()),
            "build it first: docker-cr image build CHECKPOINT IMAGE (docker-cr image ls lists what is there)",
        )
    })?;
    let index_bytes = l.read(&index_d.digest, oci::MAX_MANIFEST)?;
    let Ok(Fetched::Index(index)) = oci::parse_manifest(&index_bytes, oci::INDEX) else {
        return Err(Error::checkpoint(format!("{name} in {} is not an index", l.dir.display()), "build it again"));
    };
    let mut client = Client::new(image, Access::Push, insecure)?;
    // Mount sources: other repositories of this registry this layout names.
    for (other, _) in l.list()? {
        if let Ok(o) = oci::parse_ref(&other) {
            if o.registry == image.registry {
                client.also_read(&o.repository);
            }
        }
    }
    client.ping()?;
    let t = std::time::Instant::now();
    let mut sent = 0u64;
    for md in &index.manifests {
        let bytes = l.read(&md.digest, oci::MAX_MANIFEST)?;
        let Ok(Fetched::Image(m)) = oci::parse_manifest(&bytes, &md.media_type) else { continue };
        for b in std::iter::once(&m.config).chain(m.layers.iter()) {
            let p = l.blob_path(&b.digest);
            let f = fs::File::open(&p).at("open", &p)?;
            let mut r = BufReader::with_capacity(1 << 20, f);
            if client.upload(&b.digest, b.size, &mut r)? {
                sent += b.size;
            }
        }
        client.put_manifest(&md.digest, &md.media_type, &bytes)?;
    }
    client.put_manifest(&image.reference(), oci::INDEX, &index_bytes)?;
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    out.step(format!(
        "pushed {name} ({}): {:.1} MiB sent in {} ms ({:.0} MB/s), the rest was there",
        index_d.digest,
        sent as f64 / (1 << 20) as f64,
        (secs * 1000.0) as u64,
        sent as f64 / secs / 1e6
    ));
    Ok(())
}

/// A checkpoint image found at a registry: its documents, checked.
#[derive(Debug, Clone)]
pub struct Found {
    pub image: ImageRef,
    /// The digest of what the tag (or digest) names: what `IMAGE@DIGEST`
    /// pins.
    pub digest: String,
    pub index: Option<oci::Index>,
    pub manifest: oci::ImageManifest,
    pub manifest_digest: String,
    pub keys: BTreeMap<String, String>,
    pub made_by: MadeBy,
    pub container: String,
}

/// Finds `image` at its registry: the index (if any) and the manifest for
/// this platform, recognised as a checkpoint image with one readable
/// layer. Reads a few KiB.
pub fn find(client: &mut Client, image: &ImageRef) -> Result<Found> {
    let (ct, bytes, digest) = client.manifest(&image.reference())?;
    let bad = |why: String| {
        Error::checkpoint(
            format!("the image {image} {why}"),
            "it is not a checkpoint image (docker-cr image build, podman container checkpoint --create-image, checkpointctl build)",
        )
    };
    let (index, manifest, manifest_digest) = match oci::parse_manifest(&bytes, &ct).map_err(&bad)? {
        Fetched::Image(m) => (None, m, digest.clone()),
        Fetched::Index(i) => {
            let arch = oci::go_arch(std::env::consts::ARCH).to_string();
            let d = oci::pick(&i, &arch).ok_or_else(|| bad(format!("has no manifest for linux/{arch}")))?;
            let (ct2, b2, d2) = client.manifest(&d.digest)?;
            match oci::parse_manifest(&b2, &ct2).map_err(&bad)? {
                Fetched::Image(m) => (Some(i), m, d2),
                Fetched::Index(_) => return Err(bad("nests an index in its index".into())),
            }
        }
    };
    if manifest.layers.len() != 1 {
        return Err(bad(format!("has {} layers; a checkpoint image has one", manifest.layers.len())));
    }
    if !oci::readable_layer(&manifest.layers[0].media_type) {
        return Err(bad(format!("has a layer of type {:?}", manifest.layers[0].media_type)));
    }
    let keys = oci::all_keys(index.as_ref(), &manifest, None);
    let (made_by, container) = match oci::recognise(&keys) {
        Some(x) => x,
        None => {
            // Tools that see only the config: its labels.
            let cfg = config(client, &manifest)?;
            let keys = oci::all_keys(index.as_ref(), &manifest, Some(&cfg));
            oci::recognise(&keys).ok_or_else(|| {
                bad("carries none of the checkpoint annotations (io.podman.annotations.checkpoint.*, io.kubernetes.cri-o.annotations.checkpoint.*, org.criu.checkpoint.*)".into())
            })?
        }
    };
    Ok(Found { image: image.clone(), digest, index, manifest, manifest_digest, keys, made_by, container })
}

/// The image's config (at most `oci::MAX_CONFIG` bytes, digest checked).
pub fn config(client: &mut Client, m: &oci::ImageManifest) -> Result<oci::ImageConfig> {
    if m.config.size > oci::MAX_CONFIG {
        return Err(Error::checkpoint(
            format!("the image config of {} is {} bytes", client.image, m.config.size),
            "it is not a checkpoint image",
        ));
    }
    let mut v = Vec::new();
    let mut r = client.blob(&m.config.digest, m.config.size)?;
    r.read_to_end(&mut v).map_err(|e| Error::checkpoint(format!("{e}"), "the registry's copy is damaged"))?;
    Ok(serde_json::from_slice(&v).unwrap_or_default())
}

/// What a pull brought.
#[derive(Debug)]
pub struct Pulled {
    pub found: Found,
    pub imported: archive::Imported,
    /// For a docker-cr image: what its signature says on this host (with
    /// `Finish::Keep`; a restore checks it itself).
    pub signature: Option<catalog::SigState>,
    pub millis: u64,
}

/// The line a pull prints about where the checkpoint comes from. Pure.
pub fn provenance_line(p: &Pulled) -> String {
    let f = &p.found;
    let content = match &p.imported.made_by {
        Some(fo) => format!("a checkpoint made by {} (container {}, image {}), converted for Docker: unsigned, restores only with --trust", fo.engine.name(), fo.container, fo.image),
        None => {
            let sig = p.signature.as_ref().map_or_else(|| "signature checked by the restore".to_string(), |s| s.label());
            format!(
                "docker-cr's checkpoint of {} ({sig}; every file matches its manifest)",
                p.imported.manifest.as_ref().map_or("?", |m| m.container.name.as_str())
            )
        }
    };
    format!(
        "pulled {}@{} (made by {}, container {}): {content}",
        f.image.name(),
        f.digest,
        f.made_by.name(),
        f.container
    )
}

/// "pull REF into a checkpoint directory (verified, with provenance)":
/// the image's layer read from the registry into `archive::import`, its
/// digest checked as it passes, into `dest` (which must not exist; it
/// appears only complete and checked: built beside it and renamed).
/// `finish`: `Keep` (every file checked against the manifest, synced) or
/// `ForRestore` (a restore checks them). For `restore IMAGE`: into a
/// private directory (`transfer::TempCheckpoint`), then the trust rules of
/// an archive (`made_by` Some: another engine's, needs --trust).
pub fn pull_checkpoint(
    image: &str,
    dest: &Path,
    insecure: bool,
    finish: archive::Finish,
    out: &Progress,
) -> Result<Pulled> {
    let r = parse(image)?;
    let mut client = Client::new(&r, Access::Pull, insecure)?;
    client.ping()?;
    let found = find(&mut client, &r)?;
    out.step(format!(
        "{r}: {} (digest {}), a checkpoint made by {} of container {}",
        found.manifest.layers[0].media_type,
        found.digest,
        found.made_by.name(),
        found.container
    ));
    if let Some(d) = &r.digest {
        if &found.digest != d {
            return Err(Error::checkpoint(
                format!("{r} answered {}", found.digest),
                "the registry's content was changed",
            ));
        }
    }
    let layer = found.manifest.layers[0].clone();
    // Built one level down inside a private directory beside `dest`: the
    // layer's digest is checked after the import has read it, before the
    // checkpoint appears.
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
    let name = dest.file_name().ok_or_else(|| Error::Usage(format!("invalid directory {}", dest.display())))?;
    let mut pname = std::ffi::OsString::from(".");
    pname.push(name);
    pname.push(".pulling");
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    {
        use std::os::unix::fs::DirBuilderExt;
        // A store's CONTAINER/ directory, say.
        fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).at("create", parent)?;
    }
    let partial = parent.join(pname);
    mf::create_partial(&partial, dest, "pull")?;
    let t = std::time::Instant::now();
    let r2 = (|| -> Result<Pulled> {
        let inner = partial.join("checkpoint");
        let mut blob = client.blob(&layer.digest, layer.size)?;
        let what = format!("{}'s layer {}", found.image, layer.digest);
        let imported = archive::import(&mut blob, &what, &inner, finish)?;
        blob.finish().map_err(|e| {
            Error::checkpoint(
                format!("{e}"),
                "the registry's copy was changed or damaged; nothing was kept. Push the image again",
            )
        })?;
        let signature = match (&imported.made_by, finish) {
            (None, archive::Finish::Keep) => Some(catalog::signature_state(&inner, &trust::KeyDir::from_env())),
            _ => None,
        };
        mf::rename_noreplace(&inner, dest)?;
        Ok(Pulled { found: found.clone(), imported, signature, millis: t.elapsed().as_millis() as u64 })
    })();
    let _ = fs::remove_dir_all(&partial);
    let p = r2?;
    out.step(format!(
        "{} files ({:.1} MiB) into {} in {} ms ({:.0} MB/s)",
        p.imported.files,
        p.imported.bytes as f64 / (1 << 20) as f64,
        dest.display(),
        p.millis,
        p.imported.bytes as f64 / (p.millis.max(1) as f64 / 1000.0) / 1e6
    ));
    Ok(p)
}

// ------------------------------------------------------------------ listing

/// One checkpoint image of a repository: a row of `ls REGISTRY/REPO`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ImageRow {
    pub tag: String,
    pub reference: String,
    pub digest: String,
    /// Config and layers, as stored (compressed).
    pub size_bytes: u64,
    pub container: String,
    pub made_by: String,
    pub created: String,
    /// What the signature inside the layer says on this host, or why
    /// there is none; empty for another engine's image.
    pub signer: String,
    /// Not a checkpoint image, or unreadable: why.
    pub error: String,
}

/// A manifest's bytes and its signature file's, if any.
pub type Signed = (Vec<u8>, Option<Vec<u8>>);

/// The signed manifest at the head of a docker-cr layer (its first two
/// entries, as `export` writes them), read from `r` without reading the
/// rest. None: it does not start with one (another engine's layout).
pub fn head_manifest(r: impl Read) -> io::Result<Option<Signed>> {
    let mut r = BufReader::with_capacity(64 << 10, r);
    let head = io::BufRead::fill_buf(&mut r)?;
    let decoded: Box<dyn Read> = match Compression::detect(head) {
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(r)?),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::None => Box::new(r),
    };
    let mut ar = tar::Archive::new(crate::model::targuard::TarGuard::new(decoded));
    let mut manifest = None;
    for e in ar.entries()?.take(2) {
        let e = e?;
        let path = e.path_bytes().into_owned();
        let size = e.header().entry_size()?;
        if size > mf::MAX_MANIFEST {
            return Ok(None);
        }
        let mut v = Vec::new();
        e.take(mf::MAX_MANIFEST).read_to_end(&mut v)?;
        match (path.as_slice(), &manifest) {
            (b"manifest.json", None) => manifest = Some(v),
            (b"manifest.sig", Some(_)) => return Ok(manifest.map(|m| (m, Some(v)))),
            _ => break,
        }
    }
    Ok(manifest.map(|m| (m, None)))
}

/// The signer of a docker-cr image, checked (the manifest inside its
/// layer against this host's trusted keys).
fn signer(client: &mut Client, f: &Found) -> String {
    if f.made_by != MadeBy::DockerCr {
        return String::new();
    }
    let l = &f.manifest.layers[0];
    let head = client
        .blob(&l.digest, l.size)
        .and_then(|b| head_manifest(b).map_err(|e| Error::checkpoint(format!("{e}"), "")));
    let keys = trust::KeyDir::from_env();
    match head {
        Ok(Some((m, sig))) => match keys.trusted().and_then(|t| trust::check(&m, sig.as_deref(), &t)) {
            Ok(trust::Provenance::Trusted(k)) => catalog::SigState::Trusted(k.describe()).label(),
            Ok(trust::Provenance::Untrusted(k)) => catalog::SigState::Untrusted(k.describe()).label(),
            Ok(trust::Provenance::Unsigned) => catalog::SigState::Unsigned.label(),
            Err(e) => catalog::SigState::Bad(e.to_string()).label(),
        },
        Ok(None) => "no docker-cr manifest in its layer".into(),
        Err(e) => format!("unreadable: {e}"),
    }
}

/// The rows of `ls REGISTRY/REPO`: every tag of the repository, each
/// recognised (or not) as a checkpoint image; docker-cr's with their
/// signer checked. `repo` is `REGISTRY/REPOSITORY` (a tag is ignored).
pub fn list(repo: &str, insecure: bool) -> Result<Vec<ImageRow>> {
    let r = parse(repo)?;
    let mut client = Client::new(&r, Access::Pull, insecure)?;
    client.ping()?;
    let mut rows = Vec::new();
    for tag in client.tags()? {
        let image = r.with_tag(&tag);
        let mut row = ImageRow {
            tag: tag.clone(),
            reference: image.to_string(),
            digest: String::new(),
            size_bytes: 0,
            container: String::new(),
            made_by: String::new(),
            created: String::new(),
            signer: String::new(),
            error: String::new(),
        };
        match find(&mut client, &image) {
            Ok(f) => {
                row.digest = f.digest.clone();
                row.size_bytes = f.manifest.config.size + f.manifest.layers.iter().map(|l| l.size).sum::<u64>();
                row.container = f.container.clone();
                row.made_by = f.made_by.name().to_string();
                row.created = f.keys.get(oci::CREATED).cloned().unwrap_or_default();
                if row.created.is_empty() {
                    row.created = config(&mut client, &f.manifest).ok().and_then(|c| c.created).unwrap_or_default();
                }
                row.signer = signer(&mut client, &f);
            }
            Err(e) => row.error = e.to_string(),
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `ls REGISTRY/REPO` as a table (checkpoint images only; the others
/// counted at the end). Pure.
pub fn render_list(repo: &str, rows: &[ImageRow]) -> String {
    let ok: Vec<&ImageRow> = rows.iter().filter(|r| r.error.is_empty()).collect();
    let mut t = vec![["TAG", "CONTAINER", "MADE BY", "CREATED", "SIZE", "SIGNER", "DIGEST"].map(String::from).to_vec()];
    for r in &ok {
        t.push(vec![
            r.tag.clone(),
            r.container.clone(),
            r.made_by.clone(),
            r.created.clone(),
            format!("{:.1}MiB", r.size_bytes as f64 / (1 << 20) as f64),
            if r.signer.is_empty() { "-".into() } else { r.signer.clone() },
            r.digest.get(..19).unwrap_or(&r.digest).to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..7).map(|i| t.iter().map(|row| row[i].chars().count()).max().unwrap_or(0)).collect();
    let mut s = String::new();
    for row in &t {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    let others = rows.len() - ok.len();
    if others > 0 {
        s.push_str(&format!("({others} more tags of {repo} are not checkpoint images)\n"));
    }
    s
}

/// `inspect IMAGE`: what the registry holds under the reference, read
/// without pulling the layer (only its head, for the signer).
pub fn inspect(image: &str, insecure: bool) -> Result<Value> {
    let r = parse(image)?;
    let mut client = Client::new(&r, Access::Pull, insecure)?;
    client.ping()?;
    let f = find(&mut client, &r)?;
    let cfg = config(&mut client, &f.manifest)?;
    let signer = signer(&mut client, &f);
    let l = &f.manifest.layers[0];
    Ok(serde_json::json!({
        "reference": r.to_string(),
        "digest": f.digest,
        "manifest_digest": f.manifest_digest,
        "made_by": f.made_by.name(),
        "container": f.container,
        "created": cfg.created,
        "platform": format!("{}/{}", cfg.os, cfg.architecture),
        "layer": {"media_type": l.media_type, "digest": l.digest, "size": l.size},
        "signer": signer,
        "annotations": f.keys,
    }))
}

/// `inspect IMAGE` as text. Pure.
pub fn render_inspect(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let mut t = String::new();
    for (label, key) in [
        ("Image", "reference"),
        ("Digest", "digest"),
        ("Made by", "made_by"),
        ("Container", "container"),
        ("Created", "created"),
        ("Platform", "platform"),
        ("Signer", "signer"),
    ] {
        let val = s(key);
        if !val.is_empty() {
            t.push_str(&format!("{label:<10} {val}\n"));
        }
    }
    let l = &v["layer"];
    t.push_str(&format!(
        "{:<10} {} {} ({:.1} MiB)\n",
        "Layer",
        l["media_type"].as_str().unwrap_or(""),
        l["digest"].as_str().unwrap_or(""),
        l["size"].as_u64().unwrap_or(0) as f64 / (1 << 20) as f64
    ));
    t.push_str("Annotations:\n");
    for (k, val) in v["annotations"].as_object().into_iter().flatten() {
        t.push_str(&format!("  {k}={}\n", val.as_str().unwrap_or("").replace('\n', " ")));
    }
    t
}

// ---------------------------------------------------------------- commands

/// `docker-cr image …`.
pub fn run(session: &Session, a: &ImageArgs) -> Result<()> {
    let out = session.out.clone();
    let layout_dir = |d: &Option<PathBuf>| d.clone().unwrap_or_else(|| store_layout(session));
    match &a.cmd {
        ImageCmd::Build { checkpoint, image, compress, push, layout } => {
            host::require_root()?;
            let r = parse_tagged(image)?;
            let (dir, _tmp) = checkpoint_dir(session, checkpoint, &out)?;
            if *push {
                let mut client = Client::new(&r, Access::Push, a.insecure)?;
                client.ping()?;
                let b = build_image(&dir, &r, *compress, Target::Registry(&mut client), &out)?;
                out.step(format!("pushed {r} ({}) to {}", b.index.digest, r.registry));
            } else {
                let l = Layout::create(&layout_dir(layout))?;
                build_image(&dir, &r, *compress, Target::Layout(&l), &out)?;
                out.step(format!("kept in the OCI layout {}; send it with: docker-cr image push {r}", l.dir.display()));
            }
            out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
            Ok(())
        }
        ImageCmd::Push { image, layout } => {
            host::require_root()?;
            let r = parse_tagged(image)?;
            let l = Layout::open(&layout_dir(layout))?;
            push_image(&l, &r, a.insecure, &out)?;
            out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
            Ok(())
        }
        ImageCmd::Pull { image, dir } => {
            host::require_root()?;
            let p = pull_checkpoint(image, dir, a.insecure, archive::Finish::Keep, &out)?;
            println!("{}", provenance_line(&p));
            out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
            Ok(())
        }
        ImageCmd::Ls { repo, json } => {
            let rows = list(repo, a.insecure)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
            } else {
                print!("{}", render_list(repo, &rows));
            }
            Ok(())
        }
        ImageCmd::Inspect { image, json } => {
            let v = inspect(image, a.insecure)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", render_inspect(&v));
            }
            Ok(())
        }
        ImageCmd::Rm { images, layout } => {
            let l = Layout::open(&layout_dir(layout))?;
            for i in images {
                let r = parse(i)?;
                if !l.remove(&r.to_string())? {
                    return Err(Error::checkpoint(format!("no image {r} in {}", l.dir.display()), ""));
                }
                out.step(format!("removed {r} from {}", l.dir.display()));
            }
            Ok(())
        }
        ImageCmd::Local { layout } => {
            let l = Layout::create(&layout_dir(layout))?;
            for (name, d) in l.list()? {
                println!("{name}\t{}", d.digest);
            }
            Ok(())
        }
    }
}

/// The checkpoint directory a CHECKPOINT argument names: a store
/// reference, a directory, or an archive file (imported and checked into
/// a private directory first, removed afterwards).
fn checkpoint_dir(session: &Session, arg: &str, out: &Progress) -> Result<(PathBuf, Option<crate::store::Temp>)> {
    let p = Path::new(arg);
    if (arg.starts_with('/') || arg.starts_with('.')) && p.is_file() {
        let tmp = session.store.temp("image")?;
        let f = fs::File::open(p).at("open", p)?;
        let imp = archive::import(f, &p.display().to_string(), &tmp.path(), archive::Finish::Keep)?;
        if imp.made_by.is_some() {
            return Err(Error::checkpoint(
                format!("{} is another engine's archive", p.display()),
                "docker-cr builds images of its own checkpoints; that engine makes its own (podman container checkpoint --create-image)",
            ));
        }
        out.step(format!("read the archive {} ({} files)", p.display(), imp.files));
        return Ok((tmp.path(), Some(tmp)));
    }
    let r = crate::store::parse_ref(arg).map_err(|e| Error::Usage(format!("{e}\nTry 'docker-cr image --help'.")))?;
    Ok((catalog::resolve(session, &r)?, None))
}

/// `restore IMAGE`: the checkpoint image pulled into a private directory of
/// the store (its layer checked against its digest as it streams, every
/// file against the signed manifest), opened with the restore's trust
/// rules (another engine's image only with --trust), and restored; the
/// directory is removed whatever happens.
pub fn restore_image(
    session: &Session,
    a: &crate::ops::restore::Options,
    image: &str,
    insecure: bool,
) -> Result<crate::ops::restore::Outcome> {
    session.cancel.arm();
    let (_tmp, inner, cp) = pulled_checkpoint(session, a, image, insecure)?;
    crate::ops::restore::run_checkpoint(session, &inner, &cp)
}

/// `restore IMAGE --dry-run`: pulled and opened as `restore_image` does,
/// the restore's plan; nothing reaches the engine.
pub fn preview_image(
    session: &Session,
    a: &crate::ops::restore::Options,
    image: &str,
    insecure: bool,
) -> Result<crate::ops::Preview> {
    let (_tmp, inner, cp) = pulled_checkpoint(session, a, image, insecure)?;
    let (text, json, refusal) = crate::ops::restore::preview_checkpoint(session, &inner, &cp, false)?;
    Ok((format!("image {image}:\n{text}"), json, refusal))
}

fn pulled_checkpoint(
    session: &Session,
    a: &crate::ops::restore::Options,
    image: &str,
    insecure: bool,
) -> Result<(crate::store::Temp, crate::ops::restore::Options, crate::model::checkpoint::Checkpoint)> {
    host::require_root()?;
    let tmp = session.store.temp("image")?;
    let pulled = pull_checkpoint(image, &tmp.path(), insecure, archive::Finish::ForRestore, &session.out)?;
    session.out.step(provenance_line(&pulled));
    let name = pulled.imported.manifest.as_ref().map(|m| m.container.name.clone()).unwrap_or_default();
    let container = if a.container.is_empty() { name } else { a.container.clone() };
    let inner = crate::ops::restore::Options { container, from: crate::store::Location::Dir(tmp.path()), ..a.clone() };
    let what = format!("the image {image}");
    let cp = crate::model::checkpoint::Checkpoint::open_as(&tmp.path(), &what, &inner.trust_policy(), &session.keys)?;
    Ok((tmp, inner, cp))
}

/// `checkpoint --push IMAGE`: a checkpoint into a private directory of the
/// store, streamed to the registry as an image (nothing of it kept on disk
/// once pushed).
pub fn checkpoint_push(
    session: &Session,
    a: &crate::ops::checkpoint::Options,
    image: &str,
    c: Compression,
    insecure: bool,
) -> Result<crate::ops::checkpoint::Outcome> {
    host::require_root()?;
    // Refused before anything is frozen: a reference we cannot push to.
    parse_tagged(image)?;
    let tmp = session.store.temp("push")?;
    let inner = crate::ops::checkpoint::Options { to: crate::store::Location::Dir(tmp.path()), ..a.clone() };
    let done = crate::ops::checkpoint::run(session, &inner)?;
    push_checkpoint(&tmp.path(), image, c, insecure, &session.out)
        .map_err(|e| e.step(format!("the checkpoint of {} was taken, but its push", a.container)))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tag: &str, err: &str) -> ImageRow {
        ImageRow {
            tag: tag.into(),
            reference: format!("r:5000/cp:{tag}"),
            digest: format!("sha256:{}", "a".repeat(64)),
            size_bytes: 3 << 20,
            container: "web".into(),
            made_by: "docker-cr".into(),
            created: "2026-12-03T10:00:00Z".into(),
            signer: "signed by trusted key SHA256:0123 (hosta)".into(),
            error: err.into(),
        }
    }

    #[test]
    fn references_get_latest_and_builds_refuse_digests() {
        assert_eq!(parse("127.0.0.1:5000/cp/web").unwrap().to_string(), "127.0.0.1:5000/cp/web:latest");
        let d = format!("127.0.0.1:5000/cp/web@sha256:{}", "a".repeat(64));
        assert_eq!(parse(&d).unwrap().tag, None, "a digest alone stays a digest");
        assert!(parse_tagged(&d).unwrap_err().to_string().contains("under a tag, not a digest"));
        assert!(matches!(parse("UPPER/x"), Err(Error::Usage(_))));
    }

    #[test]
    fn the_listing_shows_checkpoint_images_and_counts_the_rest() {
        let t = render_list("r:5000/cp", &[row("v1", ""), row("latest", "not a checkpoint image")]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("TAG") && lines[0].contains("SIGNER"), "{t}");
        assert!(
            lines[1].starts_with("v1 ") && lines[1].contains("3.0MiB") && lines[1].contains("sha256:aaaaaaaaaaa"),
            "{t}"
        );
        assert_eq!(lines[2], "(1 more tags of r:5000/cp are not checkpoint images)");
    }

    // The signed manifest is read from the head of a layer, whatever its
    // compression, without the rest.
    #[test]
    fn the_signer_is_read_from_the_layers_head() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("manifest.json", &b"{\"m\":1}"[..]), ("manifest.sig", b"sig"), ("checkpoint/x", b"big")] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            b.append_data(&mut h, name, data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let z = zstd::encode_all(&tar[..], 1).unwrap();
        for blob in [tar.clone(), z] {
            let (m, sig) = head_manifest(&blob[..]).unwrap().unwrap();
            assert_eq!((m.as_slice(), sig.as_deref()), (&b"{\"m\":1}"[..], Some(&b"sig"[..])));
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        b.append_data(&mut h, "config.dump", &b"{}"[..]).unwrap();
        assert_eq!(head_manifest(&b.into_inner().unwrap()[..]).unwrap(), None, "Podman's layout");
    }
}
