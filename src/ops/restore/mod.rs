//! `docker-cr restore`, as a plan and its execution:
//!
//! ```text
//! open the checkpoint (trust, manifest, saved container)  model::checkpoint
//! verify its digests
//! read the facts (the engine's containers, volumes, image) facts()
//! plan: target, create body, volumes, holder, CRIU options plan.rs (pure; --dry-run prints it)
//! execute: take locks, create (create.rs), adopt volumes, apply the file
//!          changes and place the images (files.rs), start from the
//!          checkpoint (start.rs), clean up after the engine or undo
//! ```

mod create;
mod files;
pub mod plan;
pub mod privileges;
mod start;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::engine::docker;
use crate::error::{Error, Result};
use crate::host::runcconf;
use crate::host::state;
use crate::host::{self, Ctx};
use crate::model::checkpoint::{Checkpoint, TrustPolicy};
use crate::model::container::{anonymous_volumes, Publish};
use crate::model::creds::{self, Privileges};
use crate::model::grants::{self, Grant, Settings};
use crate::model::manifest::{self as mf, Manifest};
use crate::model::trust;
use crate::session::Session;
use crate::store::Location;

pub use crate::model::checkpoint::foreign_refusal;
pub use plan::{
    create_body, looks_anonymous, stand_ins_source, tcp_mode, v2_cgroup, volume_names, Facts, Plan, Target,
};

/// What to restore, from where, as what.
#[derive(Debug, PartialEq, Clone, Default, serde::Serialize)]
pub struct Options {
    /// The container the checkpoint was taken from (its name or ID);
    /// empty for an archive's own.
    pub container: String,
    pub from: Location,
    /// Restore a copy under this name.
    pub name: Option<String>,
    /// Replaces the saved published ports.
    pub publish: Vec<Publish>,
    /// Restore an unsigned or untrusted checkpoint on the operator's word.
    pub trust: bool,
    /// More public keys to trust for this restore.
    pub trust_keys: Vec<PathBuf>,
    /// Give the new container the host access its checkpoint asks for.
    pub allow_host_access: bool,
    /// A checkpoint of a paused container restores running, not paused.
    pub unpause: bool,
    /// With an archive: use existing volumes as they are, unpack none.
    pub ignore_volumes: bool,
    /// Print the plan; change nothing.
    pub dry_run: bool,
    /// The processes run as soon as their tree is back; their private
    /// anonymous memory comes from a supervised page source on first touch
    /// and in the background (start.rs, `host::lazy`).
    pub lazy: bool,
    /// `migrate --live`'s receiving end: the archive came framed on stdin
    /// (`formats::frames`), and the lazy pages come from the source over
    /// stdin and stdout after it (start.rs).
    pub live: bool,
}

impl Options {
    pub fn trust_policy(&self) -> TrustPolicy {
        TrustPolicy { trust: self.trust, extra_keys: self.trust_keys.clone() }
    }
}

impl Default for Location {
    fn default() -> Location {
        Location::Store(None)
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// What a finished restore reports (`--print-stats`, `--all`); ms.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub id: String,
    pub name: String,
    pub dir: PathBuf,
    pub total: u64,
    pub verify: u64,
    pub rootfs: u64,
    /// The engine's start from the checkpoint, CRIU's restore included.
    pub start: u64,
    /// CRIU's stats-restore, decoded.
    pub criu: Option<serde_json::Map<String, Value>>,
    /// A lazy restore's pages and times.
    pub lazy: Option<LazyStats>,
}

/// What a lazy restore reports: pages by who brought them in, and the
/// times (ms from the engine's start) until the processes ran and until
/// the last page was in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LazyStats {
    pub lazy_pages: u64,
    pub eager_pages: u64,
    pub copied_pages: u64,
    pub faults: u64,
    pub resumed_ms: u64,
    pub all_in_ms: u64,
}

/// The `--print-stats` object of one restore (Podman's names where they
/// mean the same; microseconds).
pub fn stats_json(o: &Outcome) -> Value {
    json!({
        "Id": o.id,
        "Name": o.name,
        "checkpoint": o.dir,
        "docker_cr_restore_duration": o.total * 1000,
        "runtime_restore_duration": o.start * 1000,
        "verify_duration": o.verify * 1000,
        "rootfs_diff_duration": o.rootfs * 1000,
        "criu_statistics": o.criu,
        "lazy": o.lazy.as_ref().map(|l| json!({
            "lazy_pages": l.lazy_pages,
            "eager_pages": l.eager_pages,
            "pages_copied_in": l.copied_pages,
            "faults_served": l.faults,
            "time_to_resume": l.resumed_ms * 1000,
            "time_to_last_page": l.all_in_ms * 1000,
        })),
    })
}

/// The `--print-stats` document of one restore.
pub fn stats_document(o: &Outcome) -> Value {
    json!({ "docker_cr_restore_duration": o.total * 1000, "container_statistics": [stats_json(o)] })
}

/// Where per-restore CRIU config files live (`org.criu.config`): they must
/// outlive the restore, since the container keeps the annotation and runc
/// reads the file again at each of its checkpoints and restores. A dot
/// directory of the default store, which the store's listing skips.
pub const CRIU_CONF_DIR: &str = crate::host::paths::CRIU_CONFS;

/// Reads and checks a checkpoint directory (see `Checkpoint::open`) with
/// the trust the options give.
pub fn load(dir: &Path, a: &Options, keys: &trust::KeyDir) -> Result<Checkpoint> {
    Checkpoint::open(dir, &a.trust_policy(), keys)
}

/// One restore: from the directory `a.from` names, or from the store.
pub fn run(session: &Session, a: &Options) -> Result<Outcome> {
    session.cancel.arm();
    host::require_root()?;
    let dir = match &a.from {
        Location::Dir(d) => d.clone(),
        Location::Store(n) => session.store.find(&a.container, n.as_deref())?.path,
    };
    // Held to the end: rm and prune leave a checkpoint in use alone.
    let _in_use = crate::store::hold_shared(&dir)?;
    let cp = load(&dir, a, &session.keys)?;
    run_checkpoint(session, a, &cp)
}

/// `--dry-run`: the plan of the restore `a` would make, and whether the
/// real run would be refused (the first refusal, as its error); changes
/// nothing: no container, no lock, no file.
pub fn preview(session: &Session, a: &Options) -> Result<crate::ops::Preview> {
    host::require_root()?;
    let dir = match &a.from {
        Location::Dir(d) => d.clone(),
        Location::Store(n) => session.store.find(&a.container, n.as_deref())?.path,
    };
    let cp = load(&dir, a, &session.keys)?;
    preview_checkpoint(session, a, &cp, false)
}

/// `preview` of an opened checkpoint; `image_loaded`: the import would
/// load its image first.
pub fn preview_checkpoint(
    session: &Session,
    a: &Options,
    cp: &Checkpoint,
    image_loaded: bool,
) -> Result<crate::ops::Preview> {
    let ctx = session.ctx_preview(true)?;
    cp.verify()?;
    let (saved, ours) = plan::prepared_saved(cp);
    let mut f = facts(ctx, cp, a)?;
    if image_loaded {
        f.image.id_present = true;
    }
    let mut p = plan::plan(cp, saved, ours, a, &f);
    // The probe is a fact read from the engine (a container and an image
    // made and removed again, none of the restore's): without it the dry
    // run could not tell whether the real run refuses the privileges.
    // Already refused: a probe that fails is said, not an error.
    let refused = !p.refusals.is_empty();
    if let Err(e) = plan::check_privileges(&mut p, cp, a, &f, &mut |hc, user| probed_grant(ctx, hc, user)) {
        if !refused {
            return Err(e);
        }
        p.notes.push(format!("the privileges were not checked: {e}"));
    }
    let text = plan::describe(cp, &p);
    let json = plan::to_json(cp, &p);
    Ok((text, json, p.refusals.into_iter().next()))
}

/// The restore of an opened checkpoint: verify, plan, execute.
pub fn run_checkpoint(session: &Session, a: &Options, cp: &Checkpoint) -> Result<Outcome> {
    run_checkpoint_known(session, a, cp, &crate::model::manifest::Known::new())
}

/// `run_checkpoint` of a checkpoint this process has just unpacked, the
/// sums of its files (`known`) computed as they were written.
pub fn run_checkpoint_known(
    session: &Session,
    a: &Options,
    cp: &Checkpoint,
    known: &crate::model::manifest::Known,
) -> Result<Outcome> {
    session.cancel.arm();
    let ctx = session.ctx(true)?;
    let mut out = Outcome { dir: cp.dir.clone(), ..Outcome::default() };
    tell_provenance(ctx, cp);
    let t = std::time::Instant::now();
    // Everything docker-cr parses is checked now; the page images are
    // hashed while the container is created and its files applied, and
    // the engine's start waits for them (start.rs).
    let verifying = cp.verify_begin(known)?;
    if verifying.pending() {
        ctx.out.step(format!(
            "verified the checkpoint but its page images in {} ms; those are hashed while the container is created",
            t.elapsed().as_millis()
        ));
    } else {
        let bytes = verifying.wait()?;
        out.verify = t.elapsed().as_millis() as u64;
        ctx.out.step(format!(
            "verified {} files ({:.1} MiB) against the manifest's {} digests in {} ms",
            cp.manifest.files.len(),
            bytes as f64 / (1 << 20) as f64,
            crate::model::manifest::Digest::of_format(cp.manifest.format).name(),
            t.elapsed().as_millis()
        ));
    }
    put_back_runc_conf(ctx);
    let (saved, ours) = plan::prepared_saved(cp);
    let f = facts(ctx, cp, a)?;
    let mut p = plan::plan(cp, saved, ours, a, &f);
    // Before anything is created; not when refused already (the first
    // refusal is the one returned).
    if p.refusals.is_empty() {
        plan::check_privileges(&mut p, cp, a, &f, &mut |hc, user| probed_grant(ctx, hc, user))?;
    }
    if let Some(first) = p.refusals.into_iter().next() {
        if p.aside_left {
            // A restore replacing it right now holds its lock: say so
            // rather than call it a leftover.
            let _busy = state::ContainerLock::take(Path::new(state::DIR), &cp.manifest.container.id, &p.name)?;
        }
        return Err(first);
    }
    for n in &p.notes {
        ctx.out.step(n);
    }
    for w in &p.warnings {
        ctx.out.warn(w);
    }
    for g in &p.as_saved {
        ctx.out.step(format!("restored as it was (this host's own checkpoint): {g}"));
    }
    for g in &p.grants {
        ctx.out.step(format!("granted (--allow-host-access): {g}"));
    }
    match &p.privileges {
        privileges::Check::AsDumped => {
            ctx.out.step("the processes' capabilities, seccomp and credentials restore as dumped (this host's own checkpoint)")
        }
        privileges::Check::Checked { probes } => ctx.out.step(format!(
            "the processes' capabilities, no_new_privs, seccomp and credentials in the images are within what the new container's settings give (read from {probes} probe container{})",
            if *probes == 1 { "" } else { "s" }
        )),
        privileges::Check::NotChecked => {}
    }
    let p = Plan { refusals: Vec::new(), ..p };
    execute(Job { ctx, a, session, cp, verifying: &verifying }, p, out)
}

/// Who made the checkpoint, as the output says it.
fn tell_provenance(ctx: &Ctx, cp: &Checkpoint) {
    if let Some(f) = &cp.converted {
        ctx.out.step(format!(
            "archive made by {} (container {}, {}, image {}); the archive does not record {}'s version",
            f.engine.name(),
            f.container,
            docker::short_id(&f.id),
            f.image,
            f.engine.name()
        ));
    }
    match &cp.provenance {
        trust::Provenance::Trusted(k) => ctx.out.step(match &cp.origin {
            trust::Origin::Own(_) => {
                format!("signed by trusted key {}, this host's own: restored as it was", k.line().trim_end())
            }
            _ => format!(
                "signed by trusted key {} of another host: its host paths and host access need --allow-host-access, \
                 its processes' privileges are held to the new container's settings",
                k.line().trim_end()
            ),
        }),
        other => ctx.out.step(format!(
            "warning: {} checkpoint restored on the operator's word (--trust)",
            if *other == trust::Provenance::Unsigned { "an unsigned" } else { "an untrusted" }
        )),
    }
}

/// An interrupted restore may have left /etc/criu/runc.conf changed.
fn put_back_runc_conf(ctx: &Ctx) {
    let conf_dir = Path::new(runcconf::DEFAULT_DIR);
    if let Ok(Some(put_back)) = runcconf::recover(conf_dir) {
        match put_back.warning(conf_dir) {
            Some(w) => ctx.out.warn(w),
            None => ctx.out.step("put back /etc/criu/runc.conf left changed by an interrupted restore"),
        }
    }
}

/// The engine's answers the plan decides on: the containers of the
/// restore's name and of the checkpoint's ID, the volumes, the image.
fn facts(ctx: &Ctx, cp: &Checkpoint, a: &Options) -> Result<Facts> {
    let src = &cp.manifest.container;
    let name = a.name.clone().unwrap_or_else(|| src.name.clone());
    let e = &ctx.engine;
    let (saved, _) = plan::prepared_saved(cp);
    let mut anon = Vec::new();
    for v in anonymous_volumes(&saved) {
        let info = match e.volume(&v.name)? {
            Some(info) => Some(plan::VolumeFacts { users: e.volume_users(&v.name)?, info }),
            None => None,
        };
        anon.push((v, info));
    }
    let mut existing_named = Vec::new();
    if cp.converted.is_some() {
        for v in volume_names(&saved) {
            if e.volume(&v)?.is_some() {
                existing_named.push(v);
            }
        }
    }
    let named = s(&saved, "/Config/Image");
    let image = plan::ImageFacts {
        named_id: if named.is_empty() { None } else { e.image_id(named)? },
        id_present: e.image_id(s(&saved, "/Image"))?.is_some(),
    };
    Ok(Facts {
        by_name: e.inspect(&name)?,
        by_id: e.inspect(&src.id)?,
        generation: crate::engine::holder::generation(&ctx.docker_version, e.api()),
        docker_version: ctx.docker_version.clone(),
        cgroup: ctx.cgroup.number(),
        anon,
        existing_named,
        image,
        holder: e.inspect(&crate::engine::holder::holder_name(&name))?,
        arch: std::env::consts::ARCH.to_string(),
        privileges: if cp.own() { None } else { Some(read_privileges(cp)) },
        lazy: a.lazy.then(|| plan::LazyFacts {
            readiness: crate::host::lazy::readiness(&ctx.criu),
            pages: crate::model::pagemap::count_dir(&cp.dir.join(mf::IMAGES)).map_err(|e| e.to_string()),
        }),
    })
}

/// The largest seccomp.img read (filters of at most 4096 instructions;
/// Docker's profile is about 1000) and the largest other image.
const MAX_SECCOMP_IMG: u64 = 64 << 20;
const MAX_PRIVILEGES_IMG: u64 = 16 << 20;

/// A file of the checkpoint's CRIU images by name, for `creds`: only those
/// the manifest lists (the ones placed for CRIU), opened beneath the
/// checkpoint directory without following links, size-limited.
fn image_reader(cp: &Checkpoint) -> impl FnMut(&str) -> std::result::Result<Option<Vec<u8>>, String> + '_ {
    move |name: &str| {
        let rel = format!("{}/{name}", mf::IMAGES);
        if name.contains('/') || !cp.manifest.files.contains_key(&rel) {
            return Ok(None);
        }
        let max = if name == "seccomp.img" { MAX_SECCOMP_IMG } else { MAX_PRIVILEGES_IMG };
        mf::read_limited(&cp.dir, &rel, max).map_err(|e| e.to_string())
    }
}

/// What CRIU would restore as the processes' privileges (`creds::read`).
fn read_privileges(cp: &Checkpoint) -> std::result::Result<Privileges, String> {
    let prefix = format!("{}/", mf::IMAGES);
    let userns: Vec<String> = cp
        .manifest
        .files
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .filter(|n| creds::is_userns_file(n))
        .map(str::to_string)
        .collect();
    creds::read(&mut image_reader(cp), &userns)
}

/// What the engine gives a container of HostConfig `hc` and Config.User
/// `user`: its settings, and what a probe started with them showed.
fn probed_grant(ctx: &Ctx, hc: &Value, user: &str) -> Result<Grant> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .ok_or_else(|| Error::host("cannot read /proc/sys/kernel/cap_last_cap", "is /proc mounted?"))?;
    let s = Settings::from_host_config(hc, grants::all_caps(last), false);
    let o = crate::host::probe::run(&ctx.engine, hc)?;
    Ok(Grant::from_settings(&s, user).with_observed(&o))
}

/// What every step of one restore reads.
#[derive(Clone, Copy)]
struct Job<'a> {
    ctx: &'a Ctx,
    a: &'a Options,
    session: &'a Session,
    cp: &'a Checkpoint,
    /// The page images' digests, still being checked (see start.rs).
    verifying: &'a crate::model::manifest::Verifying,
}

impl Job<'_> {
    fn dir(&self) -> &Path {
        &self.cp.dir
    }
    fn m(&self) -> &Manifest {
        &self.cp.manifest
    }
}

/// Performs the plan: the target container (the same, a replacement, or a
/// new one), under its lock the volumes, the file changes, the images and
/// the start; on failure everything made is undone, in reverse.
fn execute(job: Job, p: Plan, mut out: Outcome) -> Result<Outcome> {
    // Replacing: held until the restore is over, like the lock of a
    // container restored into (see below); the old container must not be
    // renamed under a restore or checkpoint of it.
    let _replace_lock = replace_lock(job, &p)?;
    let (id, made) = make_target(job, &p)?;
    let criu_conf = match &made {
        Some(m) => m.criu_conf.clone(),
        // A container docker-cr restored before has its own file, which
        // runc reads instead of /etc/criu/runc.conf.
        None => job.ctx.engine.inspect(&id)?.and_then(|c| create::own_criu_conf(&c)),
    };
    // Held until the restore is over: another restore into the same stopped
    // container would take our moved-aside upper dir for a crash leftover
    // and put it back over the files we apply, and a checkpoint must not
    // dump a container we are still starting. A container we just created
    // is locked by its new ID, against a checkpoint of it.
    let mut adopted = Vec::new();
    let same = matches!(p.target, Some(Target::Same { .. }));
    let result = state::ContainerLock::take(Path::new(state::DIR), &id, &p.name).and_then(|_lock| {
        adopted = files::adopt_volumes(job.ctx, &id, &p.adopt)?;
        files::restore_into(job, &p, &id, &p.name, same, criu_conf.as_deref(), &mut out)
    });
    match result {
        Ok(()) => {
            tidy_up(job, &p, &adopted);
            out.total = job.ctx.out.elapsed_ms();
            out.id = id;
            out.name = p.name.clone();
            Ok(out)
        }
        Err(e) => Err(undo(job, &p, made.as_ref(), &adopted, e)),
    }
}

/// The lock of the container a restore replaces (Docker >= 28), and the
/// container seen again under it.
fn replace_lock(job: Job, p: &Plan) -> Result<Option<state::ContainerLock>> {
    let Some(Target::Replace { id: old, .. }) = &p.target else { return Ok(None) };
    let name = &p.name;
    let l = state::ContainerLock::take(Path::new(state::DIR), old, name)?;
    // Seen again under the lock: a restore that held it before us may have
    // started or replaced the container since.
    match job.ctx.engine.inspect(name)? {
        Some(c) if plan::is_running(&c) => Err(plan::running(name, job.a)),
        Some(c) if s(&c, "/Id") == old => Ok(Some(l)),
        _ => Err(Error::container(
            format!("container {name} was replaced by another docker-cr restore meanwhile"),
            "look at it with docker ps -a; restore again if needed",
        )),
    }
}

/// The container the restore goes into: the stopped one, or a new one
/// (the replaced one renamed aside first, and back if that fails).
fn make_target(job: Job, p: &Plan) -> Result<(String, Option<create::Made>)> {
    let (ctx, name) = (job.ctx, &p.name);
    match &p.target {
        Some(Target::Same { id }) => {
            ctx.out.step(format!("restoring into the stopped container {name}"));
            Ok((id.clone(), None))
        }
        Some(Target::Replace { id: old, aside }) => {
            let gen = crate::engine::holder::generation(&ctx.docker_version, ctx.engine.api());
            ctx.engine.rename(old, aside).map_err(|e| e.step(format!("renaming {name} aside to {aside}")))?;
            ctx.out.step(format!(
                "Docker {}.{} cannot restore into the network namespace of the existing container {name} ({}): \
                 renamed it to {aside}; a new {name} is restored behind a network holder, and {aside} is removed \
                 once that has worked",
                gen.version.0,
                gen.version.1,
                crate::engine::holder::NETNS_ISSUE
            ));
            match create::create(job, p) {
                Ok(m) => Ok((m.id.clone(), Some(m))),
                Err(e) => {
                    let back = ctx.engine.rename(old, name);
                    Err(e.step(format!("restore of {name} from {}", job.dir().display())).with_cleanup(back))
                }
            }
        }
        Some(Target::Create) => {
            let m = create::create(job, p)?;
            Ok((m.id.clone(), Some(m)))
        }
        None => Err(Error::container(format!("no container to restore {name} into"), "")),
    }
}

/// After a restore that worked: the replaced container and the emptied
/// old anonymous volumes go.
fn tidy_up(job: Job, p: &Plan, adopted: &[files::Adopted]) {
    let ctx = job.ctx;
    if let Some(Target::Replace { id: old, .. }) = &p.target {
        match ctx.engine.remove(old) {
            Ok(()) => ctx.out.step(format!("removed the replaced container ({})", docker::short_id(old))),
            Err(e) => ctx.out.warn(format!(
                "the replaced container {} could not be removed: {e}; remove it with docker rm",
                docker::short_id(old)
            )),
        }
    }
    for v in adopted {
        match ctx.engine.remove_volume(&v.old) {
            Ok(()) => ctx.out.step(format!(
                "anonymous volume {} ({}) moved into the new anonymous volume {}",
                docker::short_id(&v.old),
                v.dest,
                docker::short_id(&v.new)
            )),
            Err(e) => ctx.out.warn(format!(
                "the emptied anonymous volume {} could not be removed ({e}); docker volume rm it",
                v.old
            )),
        }
    }
    ctx.out.step(format!(
        "restored container {} in {} ms; peak RSS of docker-cr: {} KiB",
        p.name,
        ctx.out.elapsed_ms(),
        ctx.out.peak_rss_kib()
    ));
}

/// After a failed restore: the data goes back into the old volumes first;
/// then what this restore created goes, with its (now empty) new anonymous
/// volumes (shared ones are named, never removed), and a replaced container
/// gets its name back.
fn undo(job: Job, p: &Plan, made: Option<&create::Made>, adopted: &[files::Adopted], e: Error) -> Error {
    let (ctx, name) = (job.ctx, &p.name);
    let back = adopted.iter().try_for_each(files::Adopted::put_back);
    let cleanup = match made {
        Some(made) => {
            let r = back
                .and_then(|()| made.undo(ctx))
                .and_then(|()| adopted.iter().try_for_each(|v| ctx.engine.remove_volume(&v.new)));
            if r.is_ok() {
                ctx.out.step(format!("removed what this restore had created for {name}"));
            }
            match &p.target {
                Some(Target::Replace { id: old, .. }) => r.and_then(|()| ctx.engine.rename(old, name)),
                _ => r,
            }
        }
        None => back,
    };
    e.step(format!("restore of {name} from {}", job.dir().display())).with_cleanup(cleanup)
}

#[cfg(test)]
mod tests {
    use super::create::own_criu_conf;
    use super::plan::*;
    use super::*;
    use crate::host::criu::{self, RestoreOpts, TcpRestore};
    use crate::model::container::AnonVolume;

    fn saved() -> Value {
        json!({
            "Image": "sha256:abc",
            "Config": {"Hostname": "a1b2c3", "Image": "busy", "Cmd": ["httpd", "-f"], "Env": ["A=1"], "Tty": false,
                       "ExposedPorts": {"80/tcp": {}}, "Labels": {"x": "y"}, "Entrypoint": null},
            "HostConfig": {"NetworkMode": "default", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                           "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}, "Binds": ["/srv:/srv"]},
            "Mounts": [{"Type": "volume", "Name": "v1", "Destination": "/data", "RW": true},
                       {"Type": "bind", "Source": "/srv", "Destination": "/srv", "RW": true}],
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2", "IPAMConfig": null}}}
        })
    }

    #[test]
    fn create_body_keeps_the_configuration() {
        let (b, grants) = create_body(&saved(), "busy", &[], false, &[]);
        assert_eq!(grants, vec!["host paths /srv:/srv".to_string()], "a host path needs the operator's word");
        assert!(b["HostConfig"].get("Binds").is_none(), "{b}");
        let (b, _) = create_body(&saved(), "busy", &[], true, &[]);
        assert_eq!(b["Hostname"], "a1b2c3");
        assert_eq!(b["Cmd"], json!(["httpd", "-f"]));
        assert_eq!(b["Image"], "busy");
        assert!(b.get("Entrypoint").is_none(), "nulls are left out");
        assert_eq!(b["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(b["HostConfig"]["RestartPolicy"]["Name"], "always");
        assert_eq!(b["HostConfig"]["Binds"], json!(["/srv:/srv"]));
        assert!(b.get("NetworkingConfig").is_none());
    }

    // Issue 12: an anonymous volume stays anonymous (the engine makes a new
    // one, filled with the old one's data), unless another container still
    // uses it (a clone shares it by name).
    #[test]
    fn anonymous_volumes_stay_anonymous() {
        let s = saved();
        assert_eq!(
            anonymous_volumes(&s),
            vec![AnonVolume { name: "v1".into(), dest: "/data".into(), rw: true }],
            "the bind mount and named volumes are not anonymous"
        );
        let (b, _) = create_body(&s, "busy", &[], true, &[]);
        assert_eq!(b["Volumes"], json!({"/data": {}}));
        assert_eq!(b["HostConfig"]["Binds"], json!(["/srv:/srv"]));
        let (b, _) = create_body(&s, "busy", &[], true, &["v1".into()]);
        assert_eq!(b["HostConfig"]["Binds"], json!(["/srv:/srv", "v1:/data"]));
        assert!(b.get("Volumes").is_none(), "{b}");
        let mut named = saved();
        named["HostConfig"]["Binds"] = json!(["v1:/data"]);
        assert_eq!(anonymous_volumes(&named), vec![]);
        named["HostConfig"]["Binds"] = json!([]);
        named["HostConfig"]["Mounts"] = json!([{"Type": "volume", "Source": "v1", "Target": "/data"}]);
        assert_eq!(anonymous_volumes(&named), vec![]);
        // Only volumes the engine made anonymous are adopted (moved, then removed).
        let id = "f988d47c633a490161cae2ed90b1a3ac10ee4ef69a1ed0ef1ee26a11ebbfd9c1";
        assert!(looks_anonymous(id, &json!({"Labels": {"com.docker.volume.anonymous": ""}})));
        assert!(looks_anonymous(id, &json!({"Labels": null})), "Docker 20.10 labels none");
        assert!(!looks_anonymous(id, &json!({"Labels": {"owner": "db"}})));
        assert!(!looks_anonymous("pgdata", &json!({"Labels": null})));
    }

    #[test]
    fn publish_replaces_port_bindings() {
        let p = crate::cli::parse_publish("127.0.0.1:9090:80").unwrap();
        let (b, _) = create_body(&saved(), "busy", &[p], false, &[]);
        assert_eq!(b["HostConfig"]["PortBindings"], json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "9090"}]}));
    }

    #[test]
    fn user_network_keeps_static_ip() {
        let mut s = saved();
        s["HostConfig"]["NetworkMode"] = json!("appnet");
        s["NetworkSettings"]["Networks"] =
            json!({"appnet": {"IPAMConfig": {"IPv4Address": "10.5.0.9"}, "Aliases": ["web"]}});
        let (b, _) = create_body(&s, "busy", &[], false, &[]);
        assert_eq!(b["NetworkingConfig"]["EndpointsConfig"]["appnet"]["IPAMConfig"]["IPv4Address"], "10.5.0.9");
        let mut m = crate::model::manifest::tests_sample();
        assert_eq!(tcp_mode(&m, &s), Some(TcpRestore::Established));
        assert_eq!(tcp_mode(&m, &saved()), Some(TcpRestore::LocalOnly));
        m.options.tcp_established = false;
        assert_eq!(tcp_mode(&m, &s), None);
    }

    #[test]
    fn config_files_of_removed_containers_go() {
        use std::time::Duration;
        let (a, b, c) = (
            PathBuf::from("/d/restore-1.conf"),
            PathBuf::from("/d/restore-2.conf"),
            PathBuf::from("/d/restore-3.conf"),
        );
        let files = vec![
            (a.clone(), Duration::from_secs(3600)),
            (b.clone(), Duration::from_secs(3600)),
            (c, Duration::from_secs(5)),
        ];
        assert_eq!(stale_confs(&files, &[b]), vec![a], "referenced and fresh files stay");
        let mut saved = json!({"HostConfig": {"Annotations": {"org.criu.config": "/var/lib/docker-cr/.criu/x/restore-1.conf", "other": "1"}}});
        drop_our_annotation(&mut saved);
        assert_eq!(
            saved["HostConfig"]["Annotations"],
            json!({"other": "1"}),
            "another annotation still meets the policy"
        );
        let c =
            json!({"HostConfig": {"Annotations": {"org.criu.config": "/var/lib/docker-cr/.criu/x/restore-1.conf"}}});
        assert_eq!(own_criu_conf(&c), Some(PathBuf::from("/var/lib/docker-cr/.criu/x/restore-1.conf")));
        assert_eq!(own_criu_conf(&json!({"HostConfig": {"Annotations": {"org.criu.config": "/etc/x.conf"}}})), None);
    }

    // Security review V3: whose stand-ins are copied.
    #[test]
    fn stand_ins_are_copied_only_from_the_signed_checkpoints_container() {
        let c = |name: &str, running: bool| {
            json!({"Name": format!("/{name}"), "State": {"Running": running},
                   "Config": {"Labels": {LABEL_STAND_INS: "/var/lib/docker-cr/.stand-ins/e/1-2"}}})
        };
        let own = PathBuf::from("/var/lib/docker-cr/.stand-ins/e/1-2");
        assert_eq!(stand_ins_source(true, "web", Some(&c("web", false))), Ok(own));
        assert!(stand_ins_source(false, "web", Some(&c("web", false))).is_err(), "unsigned: the ID is anyone's word");
        assert!(stand_ins_source(true, "web", Some(&c("victim", false))).is_err(), "another name");
        assert!(stand_ins_source(true, "web", Some(&c("web", true))).is_ok(), "a copy beside the running original");
        assert!(stand_ins_source(true, "web", None).is_err());
        assert!(stand_ins_source(true, "web", Some(&json!({"Name": "/web", "State": {"Running": false}}))).is_err());
    }

    // Security review P1: restoring into an existing container on --trust
    // alone goes through the policy.
    #[test]
    fn an_existing_container_is_checked_by_the_policy() {
        let plain = json!({"HostConfig": {"NetworkMode": "default"}});
        let privileged = json!({"HostConfig": {"Privileged": true, "Binds": ["/:/host"]}});
        assert!(same_refusal("web", Some(&plain), false).is_none());
        let e = same_refusal("web", Some(&privileged), false).expect("refused").to_string();
        assert!(e.contains("web") && e.contains("privileged mode") && e.contains("/:/host"), "{e}");
        assert!(same_refusal("web", Some(&privileged), true).is_none());
    }

    #[test]
    fn volume_names_of_a_saved_configuration() {
        let saved = json!({"Mounts": [
            {"Type": "volume", "Name": "data", "Destination": "/d"},
            {"Type": "bind", "Source": "/srv", "Destination": "/s"}
        ]});
        assert_eq!(volume_names(&saved), vec!["data".to_string()]);
    }

    // Issue 16: --init's docker-init is a symlink on Debian.
    #[test]
    fn binds_from_symlinks_get_their_real_source() {
        let links = |p: &str| match p {
            "/usr/bin/docker-init" => Some(Resolved { real: "/usr/bin/tini-static".into(), root_file: true }),
            "/srv/current" => Some(Resolved { real: "/srv/v2".into(), root_file: false }),
            "/tmp/docker-init" => Some(Resolved { real: "/etc/shadow-of-someone".into(), root_file: false }),
            _ => None,
        };
        let c = json!({"HostConfig": {"Init": true}, "Mounts": [
            {"Type": "bind", "Source": "/srv/current", "Destination": "/data"},
            {"Type": "bind", "Source": "/srv/plain", "Destination": "/plain"},
            {"Type": "volume", "Source": "/var/lib/docker/volumes/v/_data", "Destination": "/v"}
        ]});
        let spec =
            json!({"mounts": [{"destination": "/sbin/docker-init", "source": "/usr/bin/docker-init", "type": "bind"}]});
        assert_eq!(
            symlinked_binds(&c, Some(&spec), &links),
            vec![
                ("/data".to_string(), PathBuf::from("/srv/v2")),
                ("/sbin/docker-init".into(), "/usr/bin/tini-static".into())
            ]
        );
        // Without --init the checkpoint's spec names nothing to bind.
        let mut no_init = c.clone();
        no_init["HostConfig"]["Init"] = json!(false);
        assert_eq!(symlinked_binds(&no_init, Some(&spec), &links).len(), 1);
        // The spec's word is taken only for the engine's own docker-init.
        let hostile = json!({"mounts": [{"destination": "/sbin/docker-init", "source": "/tmp/docker-init"}]});
        assert_eq!(symlinked_binds(&c, Some(&hostile), &links).len(), 1, "a target that is not root's binary");
        let renamed = json!({"mounts": [{"destination": "/sbin/docker-init", "source": "/srv/current"}]});
        assert_eq!(symlinked_binds(&c, Some(&renamed), &links).len(), 1, "a source not named docker-init");
        let o = RestoreOpts {
            ext_mounts: symlinked_binds(&c, Some(&spec), &links),
            log_file: "/run/x.log".into(),
            ..Default::default()
        };
        let text = criu::restore_config(&o).unwrap();
        assert!(
            text.contains("ext-mount-map /data:/srv/v2\next-mount-map /sbin/docker-init:/usr/bin/tini-static\n"),
            "{text}"
        );
    }

    #[test]
    fn cgroup_paths_and_links() {
        assert_eq!(v2_cgroup("cgroupfs", "", "abc"), "/docker/abc");
        assert_eq!(v2_cgroup("cgroupfs", "/mine/", "abc"), "/mine/abc");
        assert_eq!(v2_cgroup("systemd", "", "abc"), "/system.slice/docker-abc.scope");
        let l = climbing_link(Path::new("/srv/cp/checkpoint/pages-1.img"));
        assert!(l.starts_with("../../.."));
        assert!(l.ends_with("srv/cp/checkpoint/pages-1.img"));
        assert!(l.is_relative());
    }
}
