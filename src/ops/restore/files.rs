//! The restore's files: the anonymous volumes the new container takes
//! over, the file changes applied to its (empty) upper dir (or, for another
//! engine's checkpoint, through its merged view), and CRIU's images placed
//! where the engine looks for a checkpoint (hard links and climbing
//! symlinks: the page images are never copied).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::plan::{climbing_link, is_running, running, symlinked_binds, Plan, Resolved};
use super::privileges::{self, Confine};
use super::{s, start, Job, Outcome};
use crate::error::{Error, IoContext, Result};
use crate::formats::foreign;
use crate::host::criu::{self, TcpRestore};
use crate::host::Ctx;
use crate::model::checkpoint::MAX_CONTAINER_JSON;
use crate::model::container::AnonVolume;
use crate::model::manifest::{self as mf, Manifest};
use crate::model::rootfs;

/// An anonymous volume's data moved into the new container's anonymous
/// volume for the same destination.
#[derive(Debug)]
pub(super) struct Adopted {
    pub old: String,
    pub new: String,
    pub dest: String,
    old_dir: PathBuf,
    new_dir: PathBuf,
}

impl Adopted {
    /// Moves the data back into the old volume (a failed restore).
    pub fn put_back(&self) -> Result<()> {
        let _ = fs::remove_dir(&self.old_dir);
        fs::rename(&self.new_dir, &self.old_dir).at("move back", &self.old_dir)?;
        fs::create_dir(&self.new_dir).at("create", &self.new_dir)
    }
}

/// Gives the new container the checkpointed container's anonymous volumes
/// while keeping them anonymous, as `docker rm -v` expects: the engine
/// made a new anonymous volume for each destination (see `create_body`);
/// the old one's data directory replaces the new one's (a rename, within
/// the engine's volumes directory: nothing is copied), and the old volume,
/// left empty, is removed once the restore has succeeded. Only for local
/// volumes no other container uses.
pub(super) fn adopt_volumes(ctx: &Ctx, id: &str, adopt: &[(AnonVolume, PathBuf)]) -> Result<Vec<Adopted>> {
    if adopt.is_empty() {
        return Ok(Vec::new());
    }
    let c = ctx.engine.inspect(id)?.ok_or_else(|| Error::engine("the new container vanished", None))?;
    let mut done: Vec<Adopted> = Vec::new();
    for (v, old_dir) in adopt {
        let new = c["Mounts"].as_array().into_iter().flatten().find(|m| m["Destination"] == v.dest.as_str());
        let (Some(new), Some(new_dir)) = (new.and_then(|m| m["Name"].as_str()), new.and_then(|m| m["Source"].as_str()))
        else {
            let undo = done.iter().try_for_each(Adopted::put_back);
            return Err(Error::engine(
                format!("the new container has no anonymous volume at {} for the old one's data", v.dest),
                None,
            )
            .with_cleanup(undo));
        };
        let a = Adopted {
            old: v.name.clone(),
            new: new.to_string(),
            dest: v.dest.clone(),
            old_dir: old_dir.clone(),
            new_dir: PathBuf::from(new_dir),
        };
        let moved = fs::remove_dir_all(&a.new_dir)
            .at("empty", &a.new_dir)
            .and_then(|()| fs::rename(&a.old_dir, &a.new_dir).at("move into place", &a.new_dir))
            .and_then(|()| fs::create_dir(&a.old_dir).at("create", &a.old_dir));
        if let Err(e) = moved {
            let undo = done.iter().try_for_each(Adopted::put_back);
            return Err(e
                .step(format!("moving anonymous volume {} into the new container", v.name))
                .with_cleanup(undo));
        }
        done.push(a);
    }
    Ok(done)
}

pub(super) fn restore_into(
    job: Job,
    p: &Plan,
    id: &str,
    name: &str,
    same: bool,
    criu_conf: Option<&Path>,
    out: &mut Outcome,
) -> Result<()> {
    let Job { ctx, a, .. } = job;
    let saved = &p.saved;
    let c = ctx.engine.inspect(id)?.ok_or_else(|| Error::container(format!("container {name} vanished"), ""))?;
    // Seen again under the lock: a restore that held it before us may have
    // started the container since we first looked.
    if is_running(&c) {
        return Err(running(name, a));
    }
    let upper = PathBuf::from(s(&c, "/GraphDriver/Data/UpperDir"));
    if !upper.is_dir() {
        return Err(Error::host(
            format!("container {name} has no overlay2 upper dir ({})", upper.display()),
            "docker-cr needs overlay2",
        ));
    }
    if !same {
        return files_and_start(job, p, id, &upper, &c, criu_conf, out);
    }
    // The container the checkpoint came from: its files and restart policy
    // (set to "no" by a stopping checkpoint) stay as they were until the
    // restore has succeeded.
    let aside = rootfs::Aside::take(&upper)?;
    let policy = c["HostConfig"]["RestartPolicy"].clone();
    let r = ctx
        .engine
        .update_restart_policy(id, &saved["HostConfig"]["RestartPolicy"])
        .and_then(|()| files_and_start(job, p, id, &upper, &c, criu_conf, out));
    match r {
        Ok(()) => {
            aside.discard();
            Ok(())
        }
        Err(e) => {
            // The engine may have started it (from scratch, or CRIU's log
            // lacks success, or the start timed out): its overlay is mounted
            // on the upper dir, which must not be swapped under it.
            let undo = ctx
                .engine
                .kill(id)
                .and_then(|()| aside.put_back())
                .and_then(|()| ctx.engine.update_restart_policy(id, &policy));
            Err(e.with_cleanup(undo))
        }
    }
}

/// Applies the file changes to the (empty) upper dir, places the images
/// where the engine looks for them, and starts the container from them.
/// `c` is the target container's inspect data.
fn files_and_start(
    job: Job,
    p: &Plan,
    id: &str,
    upper: &Path,
    c: &Value,
    criu_conf: Option<&Path>,
    out: &mut Outcome,
) -> Result<()> {
    let Job { ctx, .. } = job;
    let (dir, m) = (job.dir(), job.m());
    let t = std::time::Instant::now();
    if let Some(f) = &job.cp.converted {
        let (files, deleted) = foreign::apply_files(c, dir, f)?;
        ctx.out.step(format!(
            "applied {}'s file changes through the new container's merged view: {files} files, {deleted} deleted{}",
            f.engine.name(),
            f.root_mode.map(|m| format!(", / set to mode {m:04o} as CRIU recorded it")).unwrap_or_default()
        ));
    } else {
        let tar = dir.join(mf::ROOTFS_DIFF);
        let st =
            rootfs::apply(std::io::BufReader::with_capacity(1 << 20, fs::File::open(&tar).at("open", &tar)?), upper)?;
        ctx.out.step(format!("applied file changes: {} files, {} deleted", st.files, st.deleted));
        // CRIU refuses a root of another mode than it recorded: a container
        // restored from Podman's checkpoint has Podman's 0555, a new one
        // Docker's 0755. The root of the merged view is the upper dir's.
        if let Some(mode) = foreign::recorded_root_mode(&dir.join(mf::IMAGES)) {
            let now = fs::metadata(upper).at("stat", upper)?.mode() & 0o7777;
            if now != mode {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(upper, fs::Permissions::from_mode(mode)).at("chmod", upper)?;
                ctx.out.step(format!("set / to mode {mode:04o}, as CRIU recorded it"));
            }
        }
    }
    out.rootfs = t.elapsed().as_millis() as u64;
    job.session.cancel.check()?;

    // The engine only starts from <root>/containers/<id>/checkpoints/<name>.
    let cp_name = start::cp_name();
    let cp_parent = ctx.root_dir.join("containers").join(id).join("checkpoints");
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&cp_parent).at("create", &cp_parent)?;
    let cp_dir = cp_parent.join(&cp_name);
    let _ = fs::remove_dir_all(&cp_dir);
    // Joining another container's network namespace: CRIU must be told to
    // enter the one runc hands it rather than make a new one.
    let join_netns = s(c, "/HostConfig/NetworkMode").starts_with("container:");
    let tcp = p.tcp;
    let mut local_only = None;
    let placed = place_images(dir, m, &cp_dir, join_netns, tcp, p.confine.as_ref(), &mut local_only).and_then(|()| {
        let mk = cp_dir.join(start::marker(&cp_name));
        fs::write(&mk, "").at("create", &mk)
    });
    let cgroup_parent = s(c, "/HostConfig/CgroupParent");
    let paused = p.paused;
    let spec = mf::read_limited(dir, mf::SPEC, MAX_CONTAINER_JSON)?.and_then(|b| serde_json::from_slice(&b).ok());
    let ext_mounts = symlinked_binds(c, spec.as_ref(), &resolve_link);
    for (dest, real) in &ext_mounts {
        ctx.out.step(format!("{dest}: its source is a symlink; CRIU is given {} instead", real.display()));
    }
    let t = std::time::Instant::now();
    let r = placed.and_then(|()| {
        let s = start::Start {
            id,
            cgroup_parent,
            cp_name: &cp_name,
            cp_dir: dir,
            criu_conf,
            paused,
            placed: &cp_dir,
            ext_mounts,
        };
        start::start(job, p, s, out)
    });
    // A lazy restore's start ends when the processes run, not when the
    // last page is in.
    out.start = out.lazy.as_ref().map_or(t.elapsed().as_millis() as u64, |l| l.resumed_ms);
    let _ = fs::remove_dir_all(&cp_dir);
    if r.is_ok() {
        if let Some(c) = &p.confine {
            ctx.out.step(format!(
                "added the container's seccomp filter to {} process{} (pid {}), on top of {} own chain, which lacked its program",
                c.pids.len(),
                if c.pids.len() == 1 { "" } else { "es" },
                c.pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
                if c.pids.len() == 1 { "its" } else { "their" }
            ));
        }
        if let Some(note) = start::connections_note(dir, tcp, local_only.as_ref()) {
            ctx.out.step(note);
        }
    }
    r
}

/// `path` if it is a symlink on this host: what it resolves to.
fn resolve_link(path: &str) -> Option<Resolved> {
    let md = fs::symlink_metadata(path).ok()?;
    if !md.file_type().is_symlink() {
        return None;
    }
    let real = fs::canonicalize(path).ok()?;
    let t = fs::metadata(&real).ok()?;
    Some(Resolved { root_file: t.is_file() && t.uid() == 0, real })
}

/// CRIU's images as the manifest lists them (nothing else of `checkpoint/`
/// is placed, and only regular files, opened without following links):
/// small images are hard-linked (copied across filesystems); page images
/// become climbing symlinks, so the engine never streams them. With
/// `TcpRestore::LocalOnly`, `files.img` is placed rewritten (the
/// connections on the old address closed), and `local_only` says what
/// became of each connection. With `confine`, `seccomp.img` and the core
/// images of the threads it names are placed rewritten, those threads
/// restored with the container's seccomp filters on top of their own
/// (`privileges::confined`).
fn place_images(
    dir: &Path,
    m: &Manifest,
    dst: &Path,
    join_netns: bool,
    tcp: Option<TcpRestore>,
    confine: Option<&Confine>,
    local_only: &mut Option<crate::model::sockets::LocalOnly>,
) -> Result<()> {
    let dir = fs::canonicalize(dir).at("resolve", dir)?;
    let root = fs::File::open(&dir).at("open", &dir)?;
    fs::DirBuilder::new().mode(0o700).create(dst).at("create", dst)?;
    let mut rewritten: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(c) = confine {
        let mut read = |name: &str| -> std::result::Result<Option<Vec<u8>>, String> {
            let rel = format!("{}/{name}", mf::IMAGES);
            if name.contains('/') || !m.files.contains_key(&rel) {
                return Ok(None);
            }
            let f = mf::open_beneath(&root, Path::new(&rel)).map_err(|e| format!("{rel}: {e}"))?;
            let mut bytes = Vec::new();
            (&f).take(MAX_CONFINED_IMG + 1).read_to_end(&mut bytes).map_err(|e| format!("{rel}: {e}"))?;
            if bytes.len() as u64 > MAX_CONFINED_IMG {
                return Err(format!("{rel} is larger than {} MiB", MAX_CONFINED_IMG >> 20));
            }
            Ok(Some(bytes))
        };
        let out = privileges::confined(&mut read, c).map_err(|e| {
            Error::checkpoint(
                format!("{}: cannot add the container's seccomp filter to the images: {e}", dir.display()),
                "the checkpoint is damaged",
            )
        })?;
        rewritten.push(("seccomp.img".to_string(), out.seccomp));
        rewritten.extend(out.cores);
    }
    let same_fs = fs::metadata(&dir).at("stat", &dir)?.dev() == fs::metadata(dst).at("stat", dst)?.dev();
    let prefix = format!("{}/", mf::IMAGES);
    for name in m.files.keys() {
        let Some(file) = name.strip_prefix(&prefix).filter(|f| !f.is_empty() && !f.contains('/')) else { continue };
        let rel = Path::new(name);
        let to = dst.join(file);
        let src = mf::open_beneath(&root, rel).at("open", &dir.join(rel))?;
        if !src.metadata().at("stat", &dir.join(rel))?.is_file() {
            return Err(Error::checkpoint(format!("{name} is not a regular file"), "the checkpoint is damaged"));
        }
        if join_netns && file.starts_with("netns-") {
            continue; // below
        } else if let Some(i) = rewritten.iter().position(|(n, _)| n == file) {
            let (_, bytes) = rewritten.swap_remove(i);
            criu::write_private_bytes(&to, &bytes)?;
        } else if file == "files.img" && tcp == Some(TcpRestore::LocalOnly) {
            let mut bytes = Vec::new();
            (&src).take(MAX_FILES_IMG).read_to_end(&mut bytes).at("read", &dir.join(rel))?;
            let l = crate::model::sockets::keep_only_local(&bytes).map_err(|e| {
                Error::checkpoint(format!("{}: {e}", dir.join(rel).display()), "the checkpoint is damaged")
            })?;
            criu::write_private_bytes(&to, &l.image)?;
            *local_only = Some(crate::model::sockets::LocalOnly { image: Vec::new(), ..l });
        } else if file.starts_with("pages-") {
            std::os::unix::fs::symlink(climbing_link(&dir.join(rel)), &to).at("link", &to)?;
        } else if !(same_fs && fs::hard_link(dir.join(rel), &to).is_ok()) {
            let mut out =
                fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&to).at("create", &to)?;
            std::io::copy(&mut &src, &mut out).at("copy", &to)?;
        }
    }
    // A checkpoint whose processes had no filter at all has no
    // seccomp.img: the confined one is new.
    for (name, bytes) in rewritten {
        if name.contains('/') || !(name == "seccomp.img" || name.starts_with("core-")) {
            return Err(Error::checkpoint(format!("{name}: not an image to rewrite"), "the checkpoint is damaged"));
        }
        criu::write_private_bytes(&dst.join(&name), &bytes)?;
    }
    if join_netns {
        join_netns_image(&root, &dir, m, dst)?;
    }
    Ok(())
}

/// The largest seccomp.img or core image rewritten for `confine`.
const MAX_CONFINED_IMG: u64 = 64 << 20;

/// The largest files.img rewritten (see `place_images`): a descriptor is
/// a few dozen bytes in it.
pub(super) const MAX_FILES_IMG: u64 = 64 << 20;

/// The netns image that makes CRIU enter the namespace runc hands it (see
/// `criu::netns_join_external`), for the container's network namespace as
/// its init task's `ids-1.img` names it.
fn join_netns_image(root: &fs::File, dir: &Path, m: &Manifest, dst: &Path) -> Result<()> {
    let damaged = |what: String| Error::checkpoint(what, "the checkpoint is damaged");
    let read = |file: &str| -> Result<Option<Vec<u8>>> {
        let rel = format!("{}/{file}", mf::IMAGES);
        if !m.files.contains_key(&rel) {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        let f = mf::open_beneath(root, Path::new(&rel)).at("open", &dir.join(&rel))?;
        std::io::Read::read_to_end(&mut (&f).take(1 << 20), &mut bytes).at("read", &dir.join(&rel))?;
        Ok(Some(bytes))
    };
    let ids = read("ids-1.img")?.ok_or_else(|| damaged("the checkpoint has no ids-1.img".into()))?;
    let id = criu::net_ns_id(&ids).ok_or_else(|| damaged("ids-1.img names no network namespace".into()))?;
    let file = format!("netns-{id}.img");
    let joined = criu::netns_join_external(read(&file)?.as_deref())
        .ok_or_else(|| damaged(format!("{file} is not a network namespace image")))?;
    criu::write_private_bytes(&dst.join(&file), &joined)
}
