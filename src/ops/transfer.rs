//! The archive commands, as compositions over the checkpoint directory:
//! `export` and `import` run the `archive` adapter; `checkpoint --export`
//! is a checkpoint into a private temporary directory, then an export;
//! `restore --import` is an import into one, then the normal restore. The
//! temporary directory lives in the store (`--store`, $DOCKER_CR_STORE;
//! root-only, 0700) and is removed whatever happens. `migrate` streams a stopping checkpoint
//! to `restore --import -` on another host through a transport command,
//! and brings the source back from the same checkpoint if that fails.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::formats::archive::{self, Compression};
use crate::host;
use crate::model::checkpoint::Checkpoint;
use crate::model::manifest as mf;
use crate::ops::{checkpoint, import_plan, restore};
use crate::report::Out;
use crate::session::Session;
use crate::store::{Location, Ref, Temp};
use serde_json::Value;

/// An archive to write: where, how compressed, with what.
#[derive(Debug, PartialEq, Clone, serde::Serialize)]
pub struct Export {
    /// `-`: standard output.
    pub file: PathBuf,
    pub compress: Compression,
    /// Leave named volumes out of the archive.
    pub ignore_volumes: bool,
    /// Put the container's image into the archive.
    pub with_image: bool,
}

/// `docker-cr export`.
#[derive(Debug, PartialEq, Clone)]
pub struct ExportOptions {
    pub from: Ref,
    pub export: Export,
}

/// `docker-cr import`.
#[derive(Debug, PartialEq, Clone)]
pub struct ImportOptions {
    pub file: PathBuf,
    pub dir: PathBuf,
}

/// `docker-cr migrate`.
#[derive(Debug, PartialEq, Clone, serde::Serialize)]
pub struct MigrateOptions {
    pub container: String,
    pub dest: String,
    /// The command that runs a command on `dest`, split at spaces.
    pub transport: Vec<String>,
    /// docker-cr on the destination.
    pub remote: String,
    pub name: Option<String>,
    pub compress: Compression,
    pub ignore_volumes: bool,
    pub with_image: bool,
    pub dry_run: bool,
    /// --project: the Compose project's containers, as one group.
    pub project: Option<String>,
    /// --live: the memory stays here and is served to the destination's
    /// lazy restore (`migrate_live`).
    pub live: bool,
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Writes the archive of `dir` to `file` (created 0600, never replacing
/// anything, removed again on failure) or to stdout.
fn export_to(dir: &Path, file: &Path, c: Compression, extras: &archive::Extras, out: &Out) -> Result<()> {
    let t = std::time::Instant::now();
    let st = if is_stdio(file) {
        let stdout = io::stdout();
        let lock = stdout.lock();
        let st = archive::export(dir, io::BufWriter::with_capacity(1 << 20, lock), c, extras)?;
        io::stdout().flush().at("write", Path::new("standard output"))?;
        st
    } else {
        let f =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Error::checkpoint(
                    format!("{} already exists", file.display()),
                    "name a new file; docker-cr never overwrites an archive",
                ),
                _ => Error::Io { op: "create", path: file.to_path_buf(), source: e },
            })?;
        let done = archive::export(dir, io::BufWriter::with_capacity(1 << 20, &f), c, extras)
            .and_then(|st| f.sync_all().at("sync", file).map(|()| st));
        match done {
            Ok(st) => st,
            Err(e) => {
                let _ = fs::remove_file(file);
                return Err(e);
            }
        }
    };
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    out.step(format!(
        "exported {} files{} ({:.1} MiB{}) as {} ({}, {:.1} MiB) in {} ms: {:.0} MB/s",
        st.files,
        if st.volumes > 0 { format!(" and {} named volumes", st.volumes) } else { String::new() },
        st.bytes_in as f64 / (1 << 20) as f64,
        if st.deleted > 0 { format!(", {} deleted paths", st.deleted) } else { String::new() },
        if is_stdio(file) { "standard output".to_string() } else { file.display().to_string() },
        c.name(),
        st.bytes_out as f64 / (1 << 20) as f64,
        (secs * 1000.0) as u64,
        st.bytes_in as f64 / secs / 1e6,
    ));
    if let Some(line) = podman_note(st.podman.as_deref(), file) {
        out.step(line);
    }
    Ok(())
}

/// What the export says about Podman: the command that restores the
/// archive there, or why it cannot. Pure.
pub fn podman_note(why: Option<&[String]>, file: &Path) -> Option<String> {
    let why = why?;
    let name = if is_stdio(file) { "FILE".to_string() } else { file.display().to_string() };
    Some(if why.is_empty() {
        format!(
            "restorable by Podman 4 too: podman container restore --import {name} \
             (Podman needs the container's image with the same ID: docker save IMAGE | podman load)"
        )
    } else {
        format!("not restorable by Podman: {}", why.join("; "))
    })
}

/// Unpacks `file` (or stdin) into `dir`.
fn import_from(file: &Path, dir: &Path, finish: archive::Finish, out: &Out) -> Result<archive::Imported> {
    let t = std::time::Instant::now();
    let imp = if is_stdio(file) {
        archive::import(io::stdin().lock(), "on standard input", dir, finish)?
    } else {
        let f = fs::File::open(file).at("open", file)?;
        archive::import(f, &file.display().to_string(), dir, finish)?
    };
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    out.step(format!(
        "imported {} files ({:.1} MiB, {}) into {} in {} ms: {:.0} MB/s{}",
        imp.files,
        imp.bytes as f64 / (1 << 20) as f64,
        imp.compression.name(),
        dir.display(),
        (secs * 1000.0) as u64,
        imp.bytes as f64 / secs / 1e6,
        if imp.manifest.is_some() && finish == archive::Finish::Keep {
            ", every file matches the manifest"
        } else {
            ""
        },
    ));
    Ok(imp)
}

/// `restore --import - --live`: the archive, framed, from stdin, read up
/// to its end mark and not a byte beyond (the pages follow on the same
/// pipe, for the relay: start.rs).
fn import_framed(dir: &Path, out: &Out) -> Result<archive::Imported> {
    use std::os::fd::FromRawFd;
    let t = std::time::Instant::now();
    // SAFETY: dup(2) of fd 0; the new fd is owned once, by the File.
    let fd = unsafe { libc::dup(0) };
    if fd < 0 {
        return Err(Error::host(format!("cannot dup stdin: {}", io::Error::last_os_error()), ""));
    }
    // SAFETY: fd is new and ours.
    let stdin = unsafe { fs::File::from_raw_fd(fd) };
    let mut frames = crate::formats::frames::FrameReader::new(stdin);
    let imp = archive::import(&mut frames, "on standard input (migrate --live)", dir, archive::Finish::ForRestore)?;
    frames.finish().at("read the live stream on", Path::new("stdin"))?;
    out.step(format!(
        "imported {} files ({:.1} MiB) into {} in {} ms; the memory comes after the start",
        imp.files,
        imp.bytes as f64 / (1 << 20) as f64,
        dir.display(),
        t.elapsed().as_millis()
    ));
    Ok(imp)
}

/// The saved inspect data of the checkpoint in `dir`.
fn saved(dir: &Path) -> Result<serde_json::Value> {
    let bytes = mf::read_limited(dir, mf::CONTAINER, archive::MAX_SMALL)?.unwrap_or_default();
    Ok(serde_json::from_slice(&bytes).unwrap_or_default())
}

/// The named volumes of the checkpoint in `dir`, found on this host's
/// engine, and this host's key to sign their list; none with `ignore`.
fn extras_for(session: &Session, dir: &Path, ignore: bool, with_image: bool) -> Result<Staged> {
    let out = &session.out;
    let sv = saved(dir)?;
    let mut staged = Staged { extras: archive::Extras::default(), _dir: None };
    if with_image {
        let (file, tmp) = stage_image(session, &sv)?;
        staged.extras.image = Some(file);
        staged._dir = Some(tmp);
    }
    let names = archive::named_volumes(&sv);
    if names.is_empty() {
        return Ok(staged);
    }
    if ignore {
        out.step(format!("leaving the named volumes out (--ignore-volumes): {}", names.join(", ")));
        return Ok(staged);
    }
    let engine = session.engine()?;
    let mut volumes = Vec::new();
    for name in names {
        let v = engine.volume(&name)?.ok_or_else(|| {
            Error::container(
                format!("the checkpoint's named volume {name} is not on this host (any more)"),
                "export with --ignore-volumes to leave the volumes out",
            )
        })?;
        let driver = v["Driver"].as_str().unwrap_or("");
        let path = v["Mountpoint"].as_str().unwrap_or("");
        if driver != "local" || path.is_empty() {
            return Err(Error::container(
                format!("volume {name} uses the driver {driver:?}; docker-cr packs only local volumes"),
                "export with --ignore-volumes and move its data with the driver's own tools",
            ));
        }
        out.step(format!("packing named volume {name} ({path})"));
        volumes.push(archive::VolumeSrc { name, path: PathBuf::from(path) });
    }
    let keys = &session.keys;
    let key = keys.host_key().map_err(|e| e.step(format!("this host's signing key in {}", keys.dir.display())))?;
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    staged.extras.volumes = volumes;
    staged.extras.key = Some((key, host));
    Ok(staged)
}

/// `docker save` of the container's image (inspect data `sv`) into a
/// private staging file: by name when the name still means that image, so
/// its tag travels, else by ID.
fn stage_image(session: &Session, sv: &serde_json::Value) -> Result<(PathBuf, Temp)> {
    let engine = session.engine()?;
    let id = sv["Image"].as_str().unwrap_or("").to_string();
    let named = sv.pointer("/Config/Image").and_then(|v| v.as_str()).unwrap_or("");
    let which = if !named.is_empty() && engine.image_id(named)?.as_deref() == Some(id.as_str()) {
        named.to_string()
    } else {
        id.clone()
    };
    let tmp = session.store.temp("image")?;
    let file = tmp.dir().join("image.tar");
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&file).at("create", &file)?;
    let mut w = io::BufWriter::with_capacity(1 << 20, &mut f);
    engine.save_image(&which, &mut w).map_err(|e| e.step(format!("saving the image {which} (--with-image)")))?;
    w.flush().at("write", &file)?;
    drop(w);
    let size = f.metadata().at("stat", &file)?.len();
    session.out.step(format!("packing the image {which} ({:.1} MiB)", size as f64 / (1 << 20) as f64));
    Ok((file, tmp))
}

/// What an export adds, and the private directory the image is staged in.
struct Staged {
    extras: archive::Extras,
    _dir: Option<Temp>,
}

pub fn run_export(session: &Session, a: &ExportOptions) -> Result<()> {
    host::require_root()?;
    let out = &session.out;
    let dir = crate::ops::catalog::resolve(session, &a.from)?;
    let e = &a.export;
    if is_group(&dir) {
        let staged = group_extras_for(session, &dir, e.ignore_volumes, e.with_image)?;
        export_group_to(&dir, &e.file, e.compress, &staged.extras, out)?;
        out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
        return Ok(());
    }
    let staged = extras_for(session, &dir, e.ignore_volumes, e.with_image)?;
    export_to(&dir, &e.file, e.compress, &staged.extras, out)?;
    out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
    Ok(())
}

pub fn run_import(session: &Session, a: &ImportOptions) -> Result<()> {
    host::require_root()?;
    let out = &session.out;
    let imp = import_from(&a.file, &a.dir, archive::Finish::Keep, out)?;
    if let Some(g) = &imp.group {
        out.step(format!(
            "{} holds the group {} ({} members: {}); restore it with 'docker-cr restore --group {} {}'",
            a.dir.display(),
            g.name,
            g.members.len(),
            g.members.iter().map(|x| x.container.as_str()).collect::<Vec<_>>().join(", "),
            g.name,
            a.dir.display()
        ));
    }
    if let Some(f) = &imp.made_by {
        out.warn(format!(
            "{} holds a checkpoint made by {} (container {}, image {}), converted for Docker: it is unsigned, and restores only with --trust",
            a.dir.display(),
            f.engine.name(),
            f.container,
            f.image
        ));
    }
    out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
    Ok(())
}

/// `checkpoint --export FILE`: a checkpoint into a private directory, its
/// archive written to FILE, the directory removed.
pub fn checkpoint_export(session: &Session, a: &checkpoint::Options, e: &Export) -> Result<checkpoint::Outcome> {
    let file = &e.file;
    host::require_root()?;
    if !is_stdio(file) && fs::symlink_metadata(file).is_ok() {
        return Err(Error::checkpoint(
            format!("{} already exists", file.display()),
            "name a new file; docker-cr never overwrites an archive",
        ));
    }
    let tmp = session.store.temp("export")?;
    let inner = checkpoint::Options { to: Location::Dir(tmp.path()), ..a.clone() };
    let done = checkpoint::run(session, &inner)?;
    let out = &session.out;
    let staged = extras_for(session, &tmp.path(), e.ignore_volumes, e.with_image)?;
    export_to(&tmp.path(), file, e.compress, &staged.extras, out)
        .map_err(|err| err.step(format!("the checkpoint of {} was taken, but its export", a.container)))?;
    out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
    Ok(done)
}

/// What a group's export adds: the named volumes of its members (from this
/// host's engine, once each, their list signed), each member's image
/// (--with-image, once per image), and the directories they are staged in.
struct GroupStaged {
    extras: archive::GroupExtras,
    _dirs: Vec<Temp>,
}

fn group_extras_for(session: &Session, dir: &Path, ignore: bool, with_image: bool) -> Result<GroupStaged> {
    let g = read_group(dir)?;
    let mut staged = GroupStaged { extras: archive::GroupExtras::default(), _dirs: Vec::new() };
    let mut images: Vec<String> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for x in &g.members {
        let sv = saved(&dir.join(&x.container))?;
        if with_image {
            let id = sv["Image"].as_str().unwrap_or("").to_string();
            if !images.contains(&id) {
                let (file, tmp) = stage_image(session, &sv)?;
                staged.extras.images.insert(x.container.clone(), file);
                staged._dirs.push(tmp);
                images.push(id);
            }
        }
        for v in archive::named_volumes(&sv) {
            if !names.contains(&v) {
                names.push(v);
            }
        }
    }
    if names.is_empty() {
        return Ok(staged);
    }
    if ignore {
        session.out.step(format!("leaving the named volumes out (--ignore-volumes): {}", names.join(", ")));
        return Ok(staged);
    }
    let (volumes, key) = volume_sources(session, &names)?;
    staged.extras.volumes = volumes;
    staged.extras.key = Some(key);
    Ok(staged)
}

/// The local volumes `names` on this host's engine, and this host's key to
/// sign their list.
fn volume_sources(
    session: &Session,
    names: &[String],
) -> Result<(Vec<archive::VolumeSrc>, (ed25519_dalek::SigningKey, String))> {
    let engine = session.engine()?;
    let mut volumes = Vec::new();
    for name in names {
        let v = engine.volume(name)?.ok_or_else(|| {
            Error::container(
                format!("the checkpoint's named volume {name} is not on this host (any more)"),
                "export with --ignore-volumes to leave the volumes out",
            )
        })?;
        let driver = v["Driver"].as_str().unwrap_or("");
        let path = v["Mountpoint"].as_str().unwrap_or("");
        if driver != "local" || path.is_empty() {
            return Err(Error::container(
                format!("volume {name} uses the driver {driver:?}; docker-cr packs only local volumes"),
                "export with --ignore-volumes and move its data with the driver's own tools",
            ));
        }
        session.out.step(format!("packing named volume {name} ({path})"));
        volumes.push(archive::VolumeSrc { name: name.clone(), path: PathBuf::from(path) });
    }
    let keys = &session.keys;
    let key = keys.host_key().map_err(|e| e.step(format!("this host's signing key in {}", keys.dir.display())))?;
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
    Ok((volumes, (key, host)))
}

/// A group directory's manifest (not yet trusted: for an export, which
/// carries its signature along).
fn read_group(dir: &Path) -> Result<crate::model::group::GroupManifest> {
    use crate::model::group;
    let bytes = mf::read_limited(dir, group::GROUP, mf::MAX_MANIFEST)?
        .ok_or_else(|| Error::checkpoint(format!("{} is not a group checkpoint", dir.display()), ""))?;
    group::parse(&bytes, &dir.join(group::GROUP))
}

fn is_group(dir: &Path) -> bool {
    fs::symlink_metadata(dir.join(crate::model::group::GROUP)).is_ok()
}

/// Writes the group archive of `dir` to `file` (0600, never replacing
/// anything) or to stdout.
fn export_group_to(dir: &Path, file: &Path, c: Compression, extras: &archive::GroupExtras, out: &Out) -> Result<()> {
    let t = std::time::Instant::now();
    let st = if is_stdio(file) {
        let stdout = io::stdout();
        let st = archive::export_group(dir, io::BufWriter::with_capacity(1 << 20, stdout.lock()), c, extras)?;
        io::stdout().flush().at("write", Path::new("standard output"))?;
        st
    } else {
        let f =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Error::checkpoint(
                    format!("{} already exists", file.display()),
                    "name a new file; docker-cr never overwrites an archive",
                ),
                _ => Error::Io { op: "create", path: file.to_path_buf(), source: e },
            })?;
        let done = archive::export_group(dir, io::BufWriter::with_capacity(1 << 20, &f), c, extras)
            .and_then(|st| f.sync_all().at("sync", file).map(|()| st));
        match done {
            Ok(st) => st,
            Err(e) => {
                let _ = fs::remove_file(file);
                return Err(e);
            }
        }
    };
    out.step(format!(
        "exported the group: {} files{} ({:.1} MiB) as {} ({}, {:.1} MiB) in {} ms",
        st.files,
        if st.volumes > 0 { format!(" and {} named volumes", st.volumes) } else { String::new() },
        st.bytes_in as f64 / (1 << 20) as f64,
        if is_stdio(file) { "standard output".to_string() } else { file.display().to_string() },
        c.name(),
        st.bytes_out as f64 / (1 << 20) as f64,
        t.elapsed().as_millis(),
    ));
    Ok(())
}

/// `checkpoint --project/--group --export FILE`: the group checkpointed
/// into a private directory, its archive written to FILE.
pub fn group_checkpoint_export(
    session: &Session,
    a: &crate::ops::group::Options,
    e: &Export,
) -> Result<crate::ops::group::checkpoint::Outcome> {
    host::require_root()?;
    if !is_stdio(&e.file) && fs::symlink_metadata(&e.file).is_ok() {
        return Err(Error::checkpoint(
            format!("{} already exists", e.file.display()),
            "name a new file; docker-cr never overwrites an archive",
        ));
    }
    let tmp = session.store.temp("export")?;
    let inner = crate::ops::group::Options { to: Location::Dir(tmp.path()), ..a.clone() };
    let done = crate::ops::group::checkpoint::run(session, &inner)?;
    let staged = group_extras_for(session, &tmp.path(), e.ignore_volumes, e.with_image)?;
    export_group_to(&tmp.path(), &e.file, e.compress, &staged.extras, &session.out)
        .map_err(|err| err.step(format!("the group {} was checkpointed, but its export", a.name)))?;
    Ok(done)
}

/// The group archive `file` unpacked into `tmp` and opened (trusted): the
/// restore's `--group` name, if given, must be the group's.
fn import_group(
    session: &Session,
    a: &crate::ops::group::restore::Options,
    file: &Path,
    tmp: &Temp,
) -> Result<crate::ops::group::restore::Opened> {
    let imp = import_from(file, &tmp.path(), archive::Finish::ForRestore, &session.out)?;
    let Some(g) = imp.group else {
        return Err(Error::checkpoint(
            format!("the archive {} holds one container's checkpoint, not a group", file.display()),
            "restore it without --project/--group",
        ));
    };
    if !a.project && !a.name.is_empty() && g.name != a.name {
        return Err(Error::checkpoint(
            format!("the archive {} holds the group {}, not {}", file.display(), g.name, a.name),
            format!("restore it with --group {}", g.name),
        ));
    }
    let what = format!("the group archive {}", file.display());
    crate::ops::group::restore::open(&tmp.path(), &what, &a.member.trust_policy(), &session.keys, &a.only)
}

/// The labels the group's volumes had (Compose's, so that Compose takes
/// them for its own), by name.
fn group_volume_labels(g: &crate::model::group::GroupManifest) -> Labels {
    g.volumes.iter().map(|v| (v.name.clone(), v.labels.clone())).collect()
}

/// `restore --import FILE --project/--group`: the group archive unpacked
/// and opened, each member's image loaded (if carried and missing), the
/// volumes it carries created and filled (with their Compose labels), then
/// the group restore; the private directory is removed.
pub fn group_restore_import(
    session: &Session,
    a: &crate::ops::group::restore::Options,
    file: &Path,
) -> Result<crate::ops::group::restore::Outcome> {
    session.cancel.arm();
    host::require_root()?;
    let tmp = session.store.temp("import")?;
    let g = import_group(session, a, file, &tmp)?;
    session.cancel.check()?;
    for (_, cp) in &g.members {
        load_image(session, cp)?;
    }
    let created = unpack_volumes_at(session, &g.dir, None, &a.member, &group_volume_labels(&g.manifest))?;
    let r = session.cancel.check().and_then(|()| crate::ops::group::restore::run_opened(session, a, &g));
    if let (Err(_), Some(engine)) = (&r, &created.engine) {
        for v in &created.names {
            if engine.remove_volume(v).is_ok() {
                session.out.step(format!("removed volume {v}, created for the failed restore"));
            }
        }
    }
    r
}

/// `restore --import FILE --project/--group --dry-run`.
pub fn preview_group_import(
    session: &Session,
    a: &crate::ops::group::restore::Options,
    file: &Path,
) -> Result<crate::ops::Preview> {
    host::require_root()?;
    let tmp = session.store.temp("import")?;
    let g = import_group(session, a, file, &tmp)?;
    let vols = volume_tars(&g.dir);
    let engine = session.engine()?;
    // The group's images are its members' (no image tar): only the volumes.
    let existing_volumes = vols.iter().filter(|v| matches!(engine.volume(v), Ok(Some(_)))).cloned().collect();
    let f = import_plan::Facts { volumes: vols.clone(), existing_volumes, ..import_plan::Facts::default() };
    let p = import_plan::plan(&f, a.member.ignore_volumes);
    let lines = import_plan::describe(&p, &f);
    let first = p.refusals.into_iter().next();
    let arriving = if a.member.ignore_volumes { Vec::new() } else { vols };
    let (text, mut json, refusal) = crate::ops::group::restore::preview_opened(session, a, &g, &arriving)?;
    json["archive"] = serde_json::json!({ "file": file, "import": lines });
    let text =
        format!("archive {}:\n{}{text}", file.display(), lines.iter().map(|l| format!("  {l}\n")).collect::<String>());
    Ok((text, json, first.or(refusal)))
}

/// `restore --import FILE`: the archive unpacked and verified into a
/// private directory, then the normal restore from there; the directory
/// is removed (CRIU's log of a failed restore is kept in /run/docker-cr).
pub fn restore_import(session: &Session, a: &restore::Options, file: &Path) -> Result<restore::Outcome> {
    // Armed from the start (restore arms it too): Ctrl-C during the
    // unpack, the image load or the volumes stops at the next step and the
    // memory pages and volumes are removed, not left behind.
    session.cancel.arm();
    host::require_root()?;
    let out = &session.out;
    let tmp = session.store.temp("import")?;
    let imp = if a.live {
        import_framed(&tmp.path(), out)?
    } else {
        import_from(file, &tmp.path(), archive::Finish::ForRestore, out)?
    };
    session.cancel.check()?;
    let Some(m) = imp.manifest else {
        return Err(Error::checkpoint(
            format!("the archive {} has no manifest after its import", file.display()),
            "it is not a checkpoint archive",
        ));
    };
    // Refused before anything of it reaches the engine, with the archive's
    // name (restore's own check says the same of the directory).
    if let (Some(f), false) = (&imp.made_by, a.trust) {
        return Err(restore::foreign_refusal(&format!("the archive {}", file.display()), f.engine.name()));
    }
    let container = if a.container.is_empty() { m.container.name.clone() } else { a.container.clone() };
    let inner = restore::Options { container, from: Location::Dir(tmp.path()), ..a.clone() };
    // Opened once: its trust decided before anything of it reaches the
    // engine, and carried to the restore as it is.
    let what = format!("the archive {}", file.display());
    let cp = Checkpoint::open_as(&tmp.path(), &what, &inner.trust_policy(), &session.keys)?;
    let binds = archive::host_binds(&cp.saved);
    if !binds.is_empty() {
        out.step(format!(
            "the container expects these host paths here (bind mounts never travel): {}",
            binds.iter().map(|(h, c)| format!("{h} (at {c})")).collect::<Vec<_>>().join(", ")
        ));
    }
    // Every refusal of the import before anything reaches the engine; the
    // steps check again as they act (someone may have made a name since).
    let facts = import_facts(session.engine()?, &cp.dir, &cp.saved)?;
    if let Some(e) = import_plan::plan(&facts, a.ignore_volumes).refusals.into_iter().next() {
        return Err(e);
    }
    load_image(session, &cp)?;
    session.cancel.check()?;
    let created = unpack_volumes(session, &cp, a)?;
    let r = session.cancel.check().and_then(|()| restore::run_checkpoint_known(session, &inner, &cp, &imp.known));
    if let (Err(_), Some(engine)) = (&r, &created.engine) {
        for v in &created.names {
            if engine.remove_volume(v).is_ok() {
                out.step(format!("removed volume {v}, created for the failed restore"));
            }
        }
    }
    if r.is_err() {
        let log = tmp.path().join(mf::RESTORE_LOG);
        let run = Path::new(host::paths::RUN);
        let keep = run.join(format!("criu-restore-{}.log", std::process::id()));
        if fs::create_dir_all(run).is_ok() && fs::rename(&log, &keep).is_ok() {
            out.warn(format!("CRIU's log of the failed restore is kept as {}", keep.display()));
        }
    }
    r
}

/// `restore --import FILE --dry-run`: the archive unpacked into a private
/// directory (removed again), opened and verified, and the plan of its
/// restore, with what the import would load and create; nothing reaches
/// the engine. The first refusal, as the real run's error.
pub fn preview_import(session: &Session, a: &restore::Options, file: &Path) -> Result<crate::ops::Preview> {
    host::require_root()?;
    let tmp = session.store.temp("import")?;
    let imp = import_from(file, &tmp.path(), archive::Finish::ForRestore, &session.out)?;
    let Some(m) = imp.manifest else {
        return Err(Error::checkpoint(
            format!("the archive {} has no manifest after its import", file.display()),
            "it is not a checkpoint archive",
        ));
    };
    if let (Some(f), false) = (&imp.made_by, a.trust) {
        return Err(restore::foreign_refusal(&format!("the archive {}", file.display()), f.engine.name()));
    }
    let container = if a.container.is_empty() { m.container.name.clone() } else { a.container.clone() };
    let inner = restore::Options { container, from: Location::Dir(tmp.path()), ..a.clone() };
    let what = format!("the archive {}", file.display());
    let cp = Checkpoint::open_as(&tmp.path(), &what, &inner.trust_policy(), &session.keys)?;
    let engine = session.engine()?;
    let f = import_facts(engine, &cp.dir, &cp.saved)?;
    let p = import_plan::plan(&f, a.ignore_volumes);
    if p.image == import_plan::Image::Load {
        archive::check_image_tar(&cp.dir.join(archive::IMAGE_TAR), &f.id, &f.named)?;
    }
    let lines = import_plan::describe(&p, &f);
    let loads_image = p.image == import_plan::Image::Load;
    let first = p.refusals.into_iter().next();
    let (text, mut json, refusal) = restore::preview_checkpoint(session, &inner, &cp, loads_image)?;
    json["archive"] = serde_json::json!({ "file": file, "import": lines, "compression": imp.compression.name() });
    let text = format!(
        "archive {} ({}):\n{}{text}",
        file.display(),
        imp.compression.name(),
        lines.iter().map(|l| format!("  {l}\n")).collect::<String>()
    );
    Ok((text, json, first.or(refusal)))
}

/// The engine's answers `import_plan` decides on, for the archive
/// unpacked in `dir` whose saved container is `saved`.
fn import_facts(engine: &crate::engine::docker::Engine, dir: &Path, saved: &Value) -> Result<import_plan::Facts> {
    let image_tar = fs::symlink_metadata(dir.join(archive::IMAGE_TAR)).is_ok();
    let id = saved["Image"].as_str().unwrap_or("").to_string();
    let named = saved.pointer("/Config/Image").and_then(Value::as_str).unwrap_or("").to_string();
    let (image_here, named_here) = if image_tar && !id.is_empty() {
        let here = engine.image_id(&id)?.is_some();
        (here, if here || named.is_empty() { None } else { engine.image_id(&named)? })
    } else {
        (false, None)
    };
    let volumes = volume_tars(dir);
    let existing_volumes = volumes.iter().filter(|v| matches!(engine.volume(v), Ok(Some(_)))).cloned().collect();
    Ok(import_plan::Facts { image_tar, id, named, image_here, named_here, volumes, existing_volumes })
}

/// The named volumes an unpacked archive carries (`volumes/NAME.tar`).
fn volume_tars(dir: &Path) -> Vec<String> {
    let mut tars: Vec<String> = fs::read_dir(dir.join(archive::VOLUMES_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".tar")).map(str::to_string))
        .collect();
    tars.sort();
    tars
}

/// The archive's image (--with-image), loaded when this engine lacks it:
/// only for a checkpoint whose signature this host trusts (or --trust),
/// and only if the tar holds exactly the signed checkpoint's image (see
/// `archive::check_image_tar`).
fn load_image(session: &Session, cp: &Checkpoint) -> Result<()> {
    let out = &session.out;
    let sv = &cp.saved;
    let tar = cp.dir.join(archive::IMAGE_TAR);
    if fs::symlink_metadata(&tar).is_err() {
        return Ok(());
    }
    let id = sv["Image"].as_str().unwrap_or("");
    let named = sv.pointer("/Config/Image").and_then(|v| v.as_str()).unwrap_or("");
    let engine = session.engine()?;
    if engine.image_id(id)?.is_some() {
        out.step(format!(
            "the image {named} ({}) is here already",
            crate::engine::docker::short_id(id.trim_start_matches("sha256:"))
        ));
        return Ok(());
    }
    if let Some(other) = engine.image_id(named)?.filter(|other| other != id) {
        return Err(import_plan::image_name_taken(named, id, &other, false));
    }
    // `cp` is trusted (opened): nothing of an untrusted archive reaches the
    // engine. The image is loaded under a temporary reference only (the
    // tar's own names never reach the engine: image-tag poisoning), checked
    // to be the checkpoint's, and tagged with its name only if nothing here
    // has that name (another load may have taken it since the check above).
    // The tar's own tags do not matter any more: they never reach the
    // engine (`write_image_tar_for_load` writes its own manifest).
    if named.is_empty() || named.contains('@') {
        // Refused by the plan already (`import_plan`): a name to load under.
        return Err(Error::container(
            format!(
                "the archive's image ({}) has no name to load it under",
                crate::engine::docker::short_id(id.trim_start_matches("sha256:"))
            ),
            "load the image yourself (docker load), then restore again",
        ));
    }
    let tagged = archive::load_image_checked(engine, &tar, id, named)
        .map_err(|e| e.step(format!("loading the archive's image {named}")))?;
    if !tagged {
        return Err(import_plan::image_name_taken(named, id, "", true));
    }
    out.step(format!(
        "loaded the image {named} ({}) from the archive",
        crate::engine::docker::short_id(id.trim_start_matches("sha256:"))
    ));
    Ok(())
}

/// Volumes `unpack_volumes` created (removed again if the restore fails).
struct Created<'a> {
    engine: Option<&'a crate::engine::docker::Engine>,
    names: Vec<String>,
}

/// The archive's named volumes (volumes/NAME.tar in `dir`): their list's
/// signature checked like a checkpoint's (or --trust), each tar against
/// its digest; then each volume created here and filled, confined to its
/// directory. One that exists here already is an error, before anything
/// is created, unless --ignore-volumes (then none is unpacked).
/// Another engine's archive (`foreign`) has no signed list: it restores
/// only with --trust (checked before), and its volumes are those the
/// adapter checked against the container's named volumes.
fn unpack_volumes<'a>(session: &'a Session, cp: &Checkpoint, a: &restore::Options) -> Result<Created<'a>> {
    unpack_volumes_at(session, &cp.dir, cp.converted.as_ref(), a, &Labels::new())
}

/// Labels to give each volume a restore creates (a group's: Compose's own).
type Labels = std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>;

/// `unpack_volumes` of the archive unpacked in `dir`, each volume created
/// with its `labels` too.
fn unpack_volumes_at<'a>(
    session: &'a Session,
    dir: &Path,
    foreign: Option<&crate::model::converted::Foreign>,
    a: &restore::Options,
    labels: &Labels,
) -> Result<Created<'a>> {
    let out = &session.out;
    let created = Created { engine: None, names: Vec::new() };
    let vdir = dir.join(archive::VOLUMES_DIR);
    let tars = volume_tars(dir);
    if tars.is_empty() {
        return Ok(created);
    }
    if a.ignore_volumes {
        out.step(format!("not unpacking the archive's volumes (--ignore-volumes): {}", tars.join(", ")));
        return Ok(created);
    }
    let damaged = |why: String| {
        Error::checkpoint(
            format!("the archive's volumes: {why}"),
            "the archive is damaged or was changed; export it again, or restore with --ignore-volumes",
        )
    };
    if let Some(f) = foreign {
        if tars != f.volumes {
            return Err(damaged(format!("it carries {tars:?}, the conversion found {:?}", f.volumes)));
        }
        return create_volumes(session, dir, &tars, created, labels);
    }
    let list = mf::read_limited(dir, archive::VOLUMES_LIST, archive::MAX_SMALL)?
        .ok_or_else(|| damaged(format!("{} is missing", archive::VOLUMES_LIST)))?;
    let sig = mf::read_limited(dir, archive::VOLUMES_SIG, 64 << 10)?;
    let keys = &session.keys;
    let mut trusted = keys.trusted()?;
    for p in &a.trust_keys {
        trusted.push(crate::model::trust::read_pub(p)?);
    }
    let prov =
        crate::model::trust::check(&list, sig.as_deref(), &trusted).map_err(|e| e.step("the archive's volumes"))?;
    if !a.trust {
        if let Some(e) = crate::model::trust::refusal(&prov, "the list of the archive's volumes", keys) {
            return Err(e);
        }
    }
    let sums: std::collections::BTreeMap<String, mf::FileSum> =
        serde_json::from_slice(&list).map_err(|e| damaged(format!("{} is not valid: {e}", archive::VOLUMES_LIST)))?;
    for name in &tars {
        let want = sums.get(name).ok_or_else(|| damaged(format!("{name}.tar is not in the signed list")))?;
        if !crate::store::valid_name(name) {
            return Err(damaged(format!("{name:?} is not a volume name")));
        }
        // The list has the whole file's SHA-256 (archive.rs), whatever
        // its size: not the manifest's pieces. Opened without following
        // links, a regular file of the listed size, read no further than
        // that: a link to /dev/zero or a FIFO is refused, not read for ever.
        let rel = format!("{name}.tar");
        let path = vdir.join(&rel);
        let root = fs::File::open(&vdir).at("open", &vdir)?;
        let f = mf::open_beneath(&root, Path::new(&rel)).at("open", &path)?;
        let md = f.metadata().at("stat", &path)?;
        if !md.is_file() || md.len() != want.size {
            return Err(damaged(format!("{rel} is not a regular file of the size its signed list gives")));
        }
        let got = mf::sum_reader(io::Read::take(f, want.size), &path, mf::Digest::Sha256)?;
        if got.size != want.size || got.sha256 != want.sha256 {
            return Err(damaged(format!("{name}.tar does not match its digest")));
        }
    }
    create_volumes(session, dir, &tars, created, labels)
}

/// Marks the volumes `create_volumes` made (the value: this process and
/// the name).
const VOLUME_LABEL: &str = "org.docker-cr.imported-by";

/// Creates the volumes `tars` (checked names, none of which may exist
/// here) and fills each from `volumes/<name>.tar` of `dir`, confined to
/// its directory; on failure those created are removed again.
fn create_volumes<'a>(
    session: &'a Session,
    dir: &Path,
    tars: &[String],
    mut created: Created<'a>,
    labels: &Labels,
) -> Result<Created<'a>> {
    let out = &session.out;
    let vdir = dir.join(archive::VOLUMES_DIR);
    let engine = session.engine()?;
    let existing: Vec<&String> = tars.iter().filter(|n| matches!(engine.volume(n), Ok(Some(_)))).collect();
    if !existing.is_empty() {
        return Err(import_plan::volumes_exist(&existing));
    }
    created.engine = Some(engine);
    let r = (|| -> Result<()> {
        for name in tars {
            let Some(engine) = created.engine else { break };
            // Checked again by the answer (see `create_volume`): one made
            // since the check above is someone else's, never filled.
            let nonce = format!("{}-{}", std::process::id(), name);
            let mut l = serde_json::json!(labels.get(name).cloned().unwrap_or_default());
            l[VOLUME_LABEL] = serde_json::json!(nonce);
            let v = engine.create_volume(name, &l)?;
            if v.pointer(&format!("/Labels/{VOLUME_LABEL}")).and_then(|l| l.as_str()) != Some(nonce.as_str()) {
                return Err(Error::container(
                    format!("the volume {name} was created by someone else while the archive was imported"),
                    format!("docker-cr does not overwrite it; remove it (docker volume rm {name}) or restore with --ignore-volumes"),
                ));
            }
            created.names.push(name.clone());
            let mount = PathBuf::from(v["Mountpoint"].as_str().unwrap_or(""));
            let tar = vdir.join(format!("{name}.tar"));
            let f = fs::File::open(&tar).at("open", &tar)?;
            let st = crate::model::rootfs::apply(io::BufReader::with_capacity(1 << 20, f), &mount)
                .map_err(|e| e.step(format!("unpacking volume {name}")))?;
            out.step(format!("created volume {name}: {} files", st.files));
        }
        Ok(())
    })();
    if let Err(e) = r {
        let mut cleanup = Ok(());
        if let Some(engine) = created.engine {
            for v in &created.names {
                if let Err(c) = engine.remove_volume(v) {
                    cleanup = Err(c);
                }
            }
        }
        return Err(e.with_cleanup(cleanup));
    }
    Ok(created)
}

/// The command line that runs the destination's restore: the transport,
/// the destination, then docker-cr there reading the archive from stdin.
/// Pure.
pub fn remote_argv(a: &MigrateOptions) -> Vec<String> {
    let mut v = a.transport.clone();
    v.push(a.dest.clone());
    v.extend([a.remote.clone(), "restore".into(), "--import".into(), "-".into()]);
    if a.live {
        v.push("--live".into());
    }
    if let Some(n) = &a.name {
        v.extend(["--name".into(), n.clone()]);
    }
    v.push(a.container.clone());
    v
}

/// `migrate CONTAINER DEST`: checkpoint (stopping it) → stream the archive
/// to the destination's `restore --import -` → remove the source. If the
/// stream or the destination fails, the source is restored here from the
/// same checkpoint (into the same container: its settings and state).
pub fn migrate(session: &Session, a: &MigrateOptions) -> Result<()> {
    use std::process::{Command, Stdio};
    if let Some(p) = &a.project {
        return migrate_project(session, a, p);
    }
    if a.live {
        return migrate_live(session, a);
    }
    host::require_root()?;
    let out = &session.out;
    let ctx = session.ctx(true)?;
    let c = ctx.engine.inspect(&a.container)?.ok_or_else(|| {
        Error::container(format!("no such container: {}", a.container), "check the name with 'docker ps'")
    })?;
    let name = c.pointer("/Name").and_then(|v| v.as_str()).unwrap_or("").trim_start_matches('/').to_string();
    let id = c.pointer("/Id").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let argv = remote_argv(&MigrateOptions { container: name.clone(), ..a.clone() });
    // The image before the freeze: it does not change, and its export is
    // then no part of the downtime.
    let image = if a.with_image { Some(stage_image(session, &c)?) } else { None };
    let tmp = session.store.temp("migrate")?;
    let t0 = std::time::Instant::now();
    let cp = checkpoint::Options { stop: true, ..checkpoint::Options::new(&id, Location::Dir(tmp.path())) };
    checkpoint::run(session, &cp).map_err(|e| e.step(format!("migrate of {name}: the checkpoint")))?;
    let staged = match extras_for(session, &tmp.path(), a.ignore_volumes, false) {
        Ok(mut x) => {
            if let Some((file, dir)) = image {
                x.extras.image = Some(file);
                x._dir = Some(dir);
            }
            x
        }
        Err(e) => return Err(resume(session, &id, &name, &tmp, e, &a.dest)),
    };
    out.step(format!("streaming to {}: {}", a.dest, argv.join(" ")));
    let sent = (|| -> Result<()> {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::host(format!("cannot run the transport {}: {e}", argv[0]), "check --transport"))?;
        let exported = match child.stdin.take() {
            Some(stdin) => {
                archive::export(&tmp.path(), io::BufWriter::with_capacity(1 << 20, stdin), a.compress, &staged.extras)
            }
            None => Err(Error::host("the transport has no stdin", "check --transport")),
        };
        let status = child.wait().at("wait for", Path::new(&argv[0]))?;
        if !status.success() {
            return Err(Error::container(
                format!("the restore on {} failed ({status}); see its messages above", a.dest),
                "fix what the destination says, then migrate again",
            ));
        }
        exported.map(|_| ())
    })();
    match sent {
        Ok(()) => {
            let downtime = t0.elapsed();
            ctx.engine
                .remove(&id)
                .map_err(|e| e.step(format!("{name} runs on {} now, but removing the stopped source here", a.dest)))?;
            out.step(format!(
                "migrated {name} to {}: downtime {} ms (from the freeze to the destination's restore); the source was removed",
                a.dest,
                downtime.as_millis()
            ));
            Ok(())
        }
        Err(e) => Err(resume(session, &id, &name, &tmp, e, &a.dest)),
    }
}

/// `migrate --live CONTAINER DEST`: the container frozen and dumped
/// without its private memory (`checkpoint::run_live`); the checkpoint
/// streamed, framed (`formats::frames`), to the destination's `restore
/// --import - --live`, whose lazy restore then asks for the pages over the
/// same transport: its stdout brings the requests, its stdin takes CRIU's
/// answers after the archive. The container stays frozen here until the
/// destination has every page and exits 0; then it is stopped and removed.
/// If the destination fails at any point before that, it stops its copy,
/// and the container here is thawed and runs on.
fn migrate_live(session: &Session, a: &MigrateOptions) -> Result<()> {
    use crate::formats::frames::FrameWriter;
    use crate::host::relay::Relay;
    use std::process::{Command, Stdio};
    use std::sync::atomic::Ordering;
    host::require_root()?;
    let out = &session.out;
    let ctx = session.ctx(true)?;
    let c = ctx.engine.inspect(&a.container)?.ok_or_else(|| {
        Error::container(format!("no such container: {}", a.container), "check the name with 'docker ps'")
    })?;
    let name = c.pointer("/Name").and_then(|v| v.as_str()).unwrap_or("").trim_start_matches('/').to_string();
    let id = c.pointer("/Id").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let argv = remote_argv(&MigrateOptions { container: name.clone(), ..a.clone() });
    let image = if a.with_image { Some(stage_image(session, &c)?) } else { None };
    let tmp = session.store.temp("migrate")?;
    let t0 = std::time::Instant::now();
    let cp = checkpoint::Options { stop: true, ..checkpoint::Options::new(&id, Location::Dir(tmp.path())) };
    let mut took_over = None;
    let mut served = 0;
    let done = checkpoint::run_live(session, &cp, |dir, pages, _dump| {
        let mut staged = extras_for(session, dir, a.ignore_volumes, false)?;
        if let Some((file, d)) = image {
            staged.extras.image = Some(file);
            staged._dir = Some(d);
        }
        out.step(format!("streaming to {}: {}", a.dest, argv.join(" ")));
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::host(format!("cannot run the transport {}: {e}", argv[0]), "check --transport"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::host("the transport has no stdin or stdout", "check --transport"));
        };
        // The archive first, framed, then the end mark; a failure here (the
        // destination gone already) is told better by its exit status.
        let mut framed = io::BufWriter::with_capacity(1 << 20, FrameWriter::new(stdin));
        let sent = archive::export(dir, &mut framed, a.compress, &staged.extras).and_then(|st| {
            let w =
                framed.into_inner().map_err(|e| Error::host(format!("the stream to {}: {}", a.dest, e.error()), ""))?;
            let stdin = w.finish().at("write the stream to", Path::new(&argv[0]))?;
            Ok((st, stdin))
        });
        let relay = match sent {
            Ok((st, stdin)) => {
                out.step(format!(
                    "sent the checkpoint without its private memory ({:.1} MiB) in {} ms; the rest is served from here on demand",
                    st.bytes_out as f64 / (1 << 20) as f64,
                    t0.elapsed().as_millis(),
                ));
                Some(Relay::start(pages, stdout, stdin).at("relay the pages to", Path::new(&argv[0]))?)
            }
            Err(e) => {
                out.warn(format!("the stream to {} broke: {e}", a.dest));
                None
            }
        };
        // Until the destination ends: the first request says it restores;
        // its exit status says whether it runs with every page.
        let status = loop {
            if let Some(st) = child.try_wait().at("wait for", Path::new(&argv[0]))? {
                break st;
            }
            if let Some(r) = &relay {
                let first = r.received.first_us.load(Ordering::Relaxed);
                if first > 0 && took_over.is_none() {
                    let at = (r.t0 + std::time::Duration::from_micros(first)).saturating_duration_since(t0);
                    took_over = Some(at);
                    out.step(format!(
                        "{} restores {name}: its first page request came {} ms after the freeze here",
                        a.dest,
                        at.as_millis()
                    ));
                }
                if took_over.is_some() {
                    out.progress("pages served", r.sent.bytes.load(Ordering::Relaxed), 0, t0.elapsed().as_secs_f64());
                }
            }
            if session.cancel.is_set() {
                let _ = child.kill();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        out.progress_end();
        if let Some(r) = relay {
            served = r.sent.bytes.load(Ordering::Relaxed);
            r.close();
        }
        session.cancel.check()?;
        if !status.success() {
            return Err(Error::container(
                format!("the restore on {} failed ({status}); see its messages above", a.dest),
                "fix what the destination says, then migrate again",
            ));
        }
        Ok(())
    });
    match done {
        Ok(_) => {
            let held = t0.elapsed();
            ctx.engine
                .remove(&id)
                .map_err(|e| e.step(format!("{name} runs on {} now, but removing the stopped source here", a.dest)))?;
            out.step(format!(
                "migrated {name} to {} live: its restore there asked for the first page {} ms after the freeze here (its processes ran just after: see its own lines), and {:.1} MiB of its memory followed on demand; the source, frozen {} ms in all, was removed",
                a.dest,
                took_over.map_or(0, |d| d.as_millis()),
                served as f64 / (1 << 20) as f64,
                held.as_millis()
            ));
            Ok(())
        }
        Err(e) => {
            // Said only as seen: a refusal before the freeze changed nothing.
            let running = ctx.engine.inspect(&id).ok().flatten().and_then(|c| c.pointer("/State/Running")?.as_bool());
            if running == Some(true) {
                out.step(format!("{name} runs here, as it was before the migration"));
            }
            Err(e.step(format!("live migrate of {name} to {}", a.dest)))
        }
    }
}

/// The command line that runs the destination's group restore. Pure.
pub fn remote_group_argv(a: &MigrateOptions, project: &str) -> Vec<String> {
    let mut v = a.transport.clone();
    v.push(a.dest.clone());
    v.extend([a.remote.clone(), "restore".into(), "--import".into(), "-".into(), "--project".into(), project.into()]);
    v
}

/// `migrate --project P DEST`: the project's running containers
/// checkpointed as one group (stopping them), streamed as one archive to
/// the destination's `restore --import - --project P`, removed here once
/// restored there. If the stream or the destination fails, the group is
/// restored here from the same checkpoint (the stopped members replaced).
pub fn migrate_project(session: &Session, a: &MigrateOptions, project: &str) -> Result<()> {
    use crate::ops::group;
    use std::process::{Command, Stdio};
    host::require_root()?;
    let out = &session.out;
    session.ctx(true)?;
    let argv = remote_group_argv(a, project);
    let tmp = session.store.temp("migrate")?;
    let t0 = std::time::Instant::now();
    let member = checkpoint::Options { stop: true, ..checkpoint::Options::new("", Location::Store(None)) };
    let opts = group::Options {
        select: group::Select::Project(project.to_string()),
        name: project.to_string(),
        to: Location::Dir(tmp.path()),
        member,
        jobs: None,
    };
    let done =
        group::checkpoint::run(session, &opts).map_err(|e| e.step(format!("migrate of {project}: the checkpoint")))?;
    let resume = |e: Error| -> Error {
        out.warn(format!("{e}; restoring the group {project} here from the same checkpoint"));
        let back = group::restore::Options {
            name: project.to_string(),
            project: true,
            from: Location::Dir(tmp.path()),
            only: Vec::new(),
            replace: true,
            member: restore::Options::default(),
        };
        let r = group::restore::run(session, &back).map(|_| ());
        if r.is_ok() {
            out.step(format!("the group {project} runs here again, from the checkpoint"));
        }
        e.step(format!("migrate of {project} to {}", a.dest)).with_cleanup(r)
    };
    let staged = match group_extras_for(session, &tmp.path(), a.ignore_volumes, a.with_image) {
        Ok(s) => s,
        Err(e) => return Err(resume(e)),
    };
    out.step(format!("streaming to {}: {}", a.dest, argv.join(" ")));
    let sent = (|| -> Result<()> {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::host(format!("cannot run the transport {}: {e}", argv[0]), "check --transport"))?;
        let exported = match child.stdin.take() {
            Some(stdin) => archive::export_group(
                &tmp.path(),
                io::BufWriter::with_capacity(1 << 20, stdin),
                a.compress,
                &staged.extras,
            ),
            None => Err(Error::host("the transport has no stdin", "check --transport")),
        };
        let status = child.wait().at("wait for", Path::new(&argv[0]))?;
        if !status.success() {
            return Err(Error::container(
                format!("the restore on {} failed ({status}); see its messages above", a.dest),
                "fix what the destination says, then migrate again",
            ));
        }
        exported.map(|_| ())
    })();
    match sent {
        Ok(()) => {
            let downtime = t0.elapsed();
            let engine = session.engine()?;
            for m in &done.manifest.members {
                engine.remove(&m.id).map_err(|e| {
                    e.step(format!("{project} runs on {} now, but removing {} here", a.dest, m.container))
                })?;
            }
            out.step(format!(
                "migrated the group {project} ({} members) to {}: downtime {} ms (from the freeze to the destination's restore); the members were removed here (the project's networks and volumes stay: docker-compose down -v removes them)",
                done.manifest.members.len(),
                a.dest,
                downtime.as_millis()
            ));
            Ok(())
        }
        Err(e) => Err(resume(e)),
    }
}

/// `migrate --project --dry-run`: the group checkpoint's plan and the
/// command that would run on the destination.
pub fn preview_migrate_project(session: &Session, a: &MigrateOptions, project: &str) -> Result<crate::ops::Preview> {
    use crate::ops::group;
    host::require_root()?;
    let member =
        checkpoint::Options { stop: true, dry_run: true, ..checkpoint::Options::new("", Location::Store(None)) };
    let opts = group::Options {
        select: group::Select::Project(project.to_string()),
        name: project.to_string(),
        to: Location::Dir("<a private directory in the store>".into()),
        member,
        jobs: None,
    };
    let (text, json, refusal) = group::checkpoint::preview(session, &opts)?;
    let argv = remote_group_argv(a, project);
    let text = format!(
        "migrate of the Compose project {project} to {}:\n{text}  then streamed as one archive ({}) to: {}\n  (the destination is not contacted by --dry-run)\n",
        a.dest,
        a.compress.name(),
        argv.join(" ")
    );
    Ok((text, serde_json::json!({ "checkpoint": json, "destination": a.dest, "command": argv }), refusal))
}

/// `migrate --dry-run`: the plan of the stopping checkpoint, and the
/// command that would run the restore on the destination; nothing is
/// frozen, nothing runs there. The checkpoint's first refusal, as the
/// real run's error.
pub fn preview_migrate(session: &Session, a: &MigrateOptions) -> Result<crate::ops::Preview> {
    if let Some(p) = &a.project {
        return preview_migrate_project(session, a, p);
    }
    host::require_root()?;
    let cp = checkpoint::Options {
        stop: true,
        ..checkpoint::Options::new(&a.container, Location::Dir("<a private directory in the store>".into()))
    };
    let (text, json, mut refusal) = checkpoint::preview(session, &cp)?;
    let argv = remote_argv(a);
    let mut text = text;
    if a.live {
        let tty = json.pointer("/options/tty").and_then(Value::as_bool).unwrap_or(false);
        if refusal.is_none() {
            refusal = host::lazy::source_refusal(host::lazy::big_pipes(), tty, &a.container);
        }
        text.push_str(
            "  live: criu dump leaves the private anonymous memory here (lazy-pages, over a socket it inherits); \
             the destination restores lazily and asks for each page over the transport; the container stays \
             frozen here until it has them all, then is stopped and removed (thawed if anything fails first)\n",
        );
    }
    let text = format!(
        "migrate of {} to {}:\n{text}  then streamed ({}{}) to: {}\n  (the destination is not contacted by --dry-run: whether it has the image and trusts this host's key is not checked)\n",
        a.container,
        a.dest,
        a.compress.name(),
        if a.with_image { ", with the image" } else { "" },
        argv.join(" ")
    );
    Ok((
        text,
        serde_json::json!({ "checkpoint": json, "destination": a.dest, "command": argv, "live": a.live }),
        refusal,
    ))
}

/// After a failed migrate: the source restored here from the checkpoint.
fn resume(session: &Session, id: &str, name: &str, tmp: &Temp, e: Error, dest: &str) -> Error {
    let out = &session.out;
    out.warn(format!("{e}; restoring {name} here from the same checkpoint"));
    let back = restore::Options { container: id.to_string(), from: Location::Dir(tmp.path()), ..Default::default() };
    let resumed = restore::run(session, &back).map(|_| ());
    if resumed.is_ok() {
        out.step(format!("{name} runs here again, from the checkpoint"));
    }
    e.step(format!("migrate of {name} to {dest}")).with_cleanup(resumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_runs_restore_import_from_stdin() {
        let a = MigrateOptions {
            container: "web".into(),
            dest: "hostb".into(),
            transport: vec!["ssh".into(), "-o".into(), "BatchMode=yes".into()],
            remote: "/usr/local/bin/docker-cr".into(),
            name: Some("web2".into()),
            compress: Compression::Zstd,
            ignore_volumes: false,
            with_image: false,
            dry_run: false,
            project: None,
            live: false,
        };
        assert_eq!(
            remote_argv(&a).join(" "),
            "ssh -o BatchMode=yes hostb /usr/local/bin/docker-cr restore --import - --name web2 web"
        );
    }

    // Issue 9: the export says how Podman restores the archive, or why not.
    #[test]
    fn the_export_says_whether_podman_restores_it() {
        let f = Path::new("/srv/web.tar.zst");
        let yes = podman_note(Some(&[]), f).unwrap();
        assert!(yes.contains("podman container restore --import /srv/web.tar.zst"), "{yes}");
        let no = podman_note(Some(&["it is privileged".to_string()]), f).unwrap();
        assert_eq!(no, "not restorable by Podman: it is privileged");
        assert_eq!(podman_note(None, f), None, "nothing to tell without the saved container");
        assert!(podman_note(Some(&[]), Path::new("-")).unwrap().contains("--import FILE"));
    }
}
