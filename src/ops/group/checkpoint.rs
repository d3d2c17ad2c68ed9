//! `checkpoint --project/--group/--filter`: every member frozen before the
//! first dump starts, and thawed (or stopped) only after the last dump and
//! file capture, so that all of them are saved at the same instant:
//!
//! ```text
//! plan      the group's refusals and every member's (nothing frozen yet)
//! prepare   each member's lock and partial directory, inside the group's
//! freeze    every member (each lock records it: a killed run is repaired)
//! hold      every member's network (no data crosses between frozen members)
//! dump      criu dump and the file changes of each, --jobs at a time
//! release   the networks
//! thaw      every member (--stop: sealed, published, then killed frozen)
//! seal      each member; then the group manifest, signed; publish the group
//! ```
//!
//! On any failure every member is thawed and runs on, and no group
//! appears: what explains the failure (CRIU's logs) is kept as NAME.failed.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{facts, plan, Options, Plan};
use crate::error::{Error, IoContext, Result};
use crate::host::criu;
use crate::host::Ctx;
use crate::model::group::{self, GroupManifest};
use crate::model::manifest as mf;
use crate::model::trust;
use crate::ops::checkpoint::{self as single, phases};
use crate::session::Session;
use crate::store::Location;

/// A finished group checkpoint.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dir: PathBuf,
    pub manifest: GroupManifest,
    pub members: Vec<single::Outcome>,
}

/// `--print-stats` of a group: the group's frozen window (from the first
/// freeze to the last thaw), the time to freeze and thaw every member, and
/// each member's own statistics (microseconds, as for one container).
pub fn stats_document(o: &Outcome) -> Value {
    let t = &o.manifest.timings_ms;
    let us = |ms: u64| ms * 1000;
    json!({
        "docker_cr_checkpoint_duration": us(t.total),
        "group": {
            "name": o.manifest.name,
            "project": o.manifest.project,
            "checkpoint": o.dir,
            "members": o.manifest.members.len(),
            "frozen_duration": us(t.frozen),
            "freeze_duration": us(t.freeze),
            "thaw_duration": us(t.thaw),
            "network_held_duration": us(t.network_held),
            "runtime_checkpoint_durations": t.dumps.iter().map(|(k, v)| (k.clone(), json!(us(*v)))).collect::<serde_json::Map<_, _>>(),
        },
        "container_statistics": o.members.iter().map(single::stats_json).collect::<Vec<_>>(),
    })
}

/// Where the group goes.
fn target(session: &Session, o: &Options) -> PathBuf {
    match &o.to {
        Location::Dir(d) => d.clone(),
        Location::Store(n) => {
            let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
            session.store.path_for(&o.name, n.as_deref(), millis)
        }
    }
}

/// The group's plan and every member's (their facts with them). A preview
/// plans each member into the group's final directory, a run into its
/// partial one (where it is built).
pub fn plan_for(
    session: &Session,
    ctx: &Ctx,
    o: &Options,
    preview: bool,
) -> Result<(Plan, Vec<(single::Facts, single::Plan)>)> {
    let dir = target(session, o);
    let f = facts(ctx, o, &dir)?;
    let p = plan(o, &f, &dir);
    let within = if preview { &p.dir } else { &p.partial };
    let mut members = Vec::new();
    for (c, _) in &p.members {
        let name = group::name_of(c);
        let id = c["Id"].as_str().unwrap_or("").to_string();
        let mo = single::Options { container: id, to: Location::Dir(within.join(&name)), ..o.member.clone() };
        members.push(single::plan_for(session, ctx, &mo).map_err(|e| e.step(format!("member {name}")))?);
    }
    Ok((p, members))
}

/// Every refusal: the group's, then each member's, in member order.
fn refusals(p: &mut Plan, members: &mut [(single::Facts, single::Plan)]) -> Vec<Error> {
    let mut all = std::mem::take(&mut p.refusals);
    for (_, mp) in members.iter_mut() {
        all.append(&mut mp.refusals);
    }
    all
}

/// `--dry-run`: the group's plan and each member's, every refusal; nothing
/// frozen, no directory, lock or key made.
pub fn preview(session: &Session, o: &Options) -> Result<crate::ops::Preview> {
    let ctx = session.ctx_preview(false)?;
    let (mut p, mut members) = plan_for(session, ctx, o, true)?;
    let mut text = super::describe(&p);
    let mut docs = Vec::new();
    for (_, mp) in &members {
        text.push_str(&single::plan::describe(mp));
        docs.push(single::plan::to_json(mp));
    }
    let mut json = super::to_json(&p);
    let group_refusals: Vec<Value> = p
        .refusals
        .iter()
        .map(|e| json!({"error": e.to_string(), "hint": e.hint(), "exit_status": e.exit_code()}))
        .collect();
    let all = refusals(&mut p, &mut members);
    match all.len() {
        0 => text.push_str(&format!(
            "would checkpoint the group {} ({} members) at one instant: nothing was changed (--dry-run)\n",
            p.name,
            members.len()
        )),
        n => text.push_str(&format!(
            "the group {} would be refused ({n} reason{} above); nothing is frozen until every member can be checkpointed\n",
            p.name,
            if n == 1 { "" } else { "s" }
        )),
    }
    json["member_plans"] = Value::Array(docs);
    json["refusals"] = Value::Array(group_refusals);
    json["would_checkpoint"] = json!(all.is_empty());
    Ok((text, json, all.into_iter().next()))
}

/// Removes the partial group directory, but keeps what explains a failure
/// (the `NAME.failed` directories the members' jobs left: CRIU's logs) as
/// the group's NAME.failed. Returns where they are, if kept.
fn keep_failure(partial: &Path, failed: &Path) -> Option<PathBuf> {
    let mut kept_any = false;
    for e in fs::read_dir(partial).into_iter().flatten().flatten() {
        let n = e.file_name();
        if n.to_string_lossy().ends_with(".failed") && e.file_type().is_ok_and(|t| t.is_dir()) {
            kept_any = true;
            continue;
        }
        let p = e.path();
        let _ = if e.file_type().is_ok_and(|t| t.is_dir()) { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
    }
    if kept_any {
        let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut alt = failed.as_os_str().to_owned();
        alt.push(format!("-{stamp}"));
        // An older failure of ours is replaced; anything else stays.
        if fs::symlink_metadata(failed).is_ok() {
            let ours = fs::read_dir(failed)
                .into_iter()
                .flatten()
                .flatten()
                .all(|e| e.file_name().to_string_lossy().ends_with(".failed"));
            if ours {
                let _ = fs::remove_dir_all(failed);
            }
        }
        for to in [failed.to_path_buf(), PathBuf::from(alt)] {
            if mf::rename_noreplace(partial, &to).is_ok() {
                return Some(to);
            }
        }
    }
    let _ = fs::remove_dir_all(partial);
    None
}

/// The members' network namespaces held (`criu::hold_network`), one per
/// namespace, each recorded in a lock file of its own (`hold-<netns>`), so
/// that a run killed while it holds them has them let go by the next run
/// (`state::recover_frozen`), whatever the members' own locks say by then;
/// released when dropped.
struct Held<'a> {
    ctx: &'a Ctx,
    held: Vec<(crate::host::state::ContainerLock, i32)>,
}

impl Held<'_> {
    /// Every hold at once (each is an nft run).
    fn release(&mut self) {
        let held: Vec<(crate::host::state::ContainerLock, i32)> = self.held.drain(..).collect();
        let results = crate::ops::all::pool(&held, held.len(), |(_, pid)| (*pid, criu::release_network(*pid)));
        for ((lock, _), (pid, r)) in held.into_iter().zip(results) {
            match r {
                Ok(()) => {
                    let _ = lock.clear();
                }
                Err(e) => self.ctx.out.warn(format!(
                    "{e}: remove it by hand (nsenter -t {pid} -n nft delete table inet {}), or run docker-cr check",
                    criu::GROUP_HOLD_TABLE
                )),
            }
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Holds the network of every member (one hold per namespace: members that
/// share one are held once), all at once. Done before the freeze: from
/// then on no data crosses between members, so their TCP states are one
/// instant's whenever each is frozen and dumped (data sent after the hold
/// stays unacknowledged in its sender's queue, which the dump keeps), and
/// the nft runs are no part of the frozen window. A host without nft:
/// CRIU's own lock, during each dump, is all there is; said so.
fn hold<'a>(ctx: &'a Ctx, pids: &[(String, i32)]) -> Result<Held<'a>> {
    use std::os::unix::fs::MetadataExt;
    let mut held = Held { ctx, held: Vec::new() };
    let mut todo = Vec::new();
    for (name, pid) in pids {
        let Ok(ns) = fs::metadata(format!("/proc/{pid}/ns/net")).map(|m| m.ino()) else { continue };
        if todo.iter().any(|(_, _, n, _)| *n == ns) {
            continue;
        }
        let lock = crate::host::state::ContainerLock::take(
            Path::new(crate::host::state::DIR),
            &format!("hold-{ns}"),
            &format!("the network of {name}"),
        )?;
        lock.set_held(*pid)?;
        todo.push((name.clone(), *pid, ns, lock));
    }
    let results = crate::ops::all::pool(&todo, todo.len(), |(_, p, _, _)| criu::hold_network(*p));
    for ((name, pid, _, lock), r) in todo.into_iter().zip(results) {
        match r {
            Ok(()) => held.held.push((lock, pid)),
            Err(e) => {
                let _ = lock.clear();
                ctx.out.warn(format!(
                    "the network of {name} is not held while the group is dumped ({e}): only CRIU's own lock, during its dump, keeps data from crossing"
                ));
            }
        }
    }
    Ok(held)
}

/// The group's manifest from its plan and the members' sealed manifests.
fn group_manifest(ctx: &Ctx, p: &Plan, o: &Options, outs: &[(String, Vec<String>, String)]) -> GroupManifest {
    let members = p
        .members
        .iter()
        .zip(outs)
        .map(|((c, deps), (_, _, digest))| group::Member {
            container: group::name_of(c),
            id: c["Id"].as_str().unwrap_or("").to_string(),
            service: c["Config"]["Labels"][group::LABEL_SERVICE].as_str().map(str::to_string),
            depends_on: deps.clone(),
            manifest_sha256: digest.clone(),
            endpoints: group::endpoints(c).into_iter().filter(|e| !group::engine_network(&e.network)).collect(),
        })
        .collect();
    GroupManifest {
        format: group::FORMAT,
        tool: format!("docker-cr {}", env!("CARGO_PKG_VERSION")),
        created: SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        kind: p.kind.clone().unwrap_or(group::Kind::List),
        name: p.name.clone(),
        project: p.project.clone(),
        filters: match &o.select {
            super::Select::Filter(f) => f.clone(),
            _ => Vec::new(),
        },
        members,
        networks: p.networks.clone(),
        volumes: p.volumes.clone(),
        stopped: o.member.stop,
        timings_ms: group::Timings::default(),
        host: crate::model::manifest::Host {
            criu: ctx.criu.version_string(),
            kernel: ctx.kernel.clone(),
            arch: std::env::consts::ARCH.to_string(),
            cgroup: ctx.cgroup.number(),
            storage_driver: ctx.storage.clone(),
            docker: ctx.docker_version.clone(),
        },
    }
}

/// Writes the group's own files into its partial directory `dir`: the
/// manifest and its signature, checkpointctl's pod.options and pod.dump;
/// then syncs: durable before it is visible.
fn seal_group(session: &Session, dir: &Path, m: &GroupManifest) -> Result<()> {
    let keys = &session.keys;
    let key = keys.host_key().map_err(|e| e.step(format!("this host's signing key in {}", keys.dir.display())))?;
    let text = group::to_json(m);
    criu::write_private(&dir.join(group::GROUP), &text)?;
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    criu::write_private(&dir.join(group::GROUP_SIG), &trust::sign(&key, host.trim(), text.as_bytes()))?;
    let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
    criu::write_private(&dir.join(group::POD_OPTIONS), &pretty(group::pod_options(m)))?;
    criu::write_private(&dir.join(group::POD_DUMP), &pretty(group::pod_dump(m)))?;
    // Every member is synced already (its own seal); this syncs the
    // group's files and directory.
    crate::host::follow::sync_tree(dir)
}

/// One group checkpoint (see the module doc).
pub fn run(session: &Session, o: &Options) -> Result<Outcome> {
    session.cancel.arm();
    let ctx = session.ctx(false)?;
    let (mut p, mut members) = plan_for(session, ctx, o, false)?;
    if let Some(first) = refusals(&mut p, &mut members).into_iter().next() {
        return Err(first.step(format!("group {} (nothing was frozen)", p.name)));
    }
    for n in p.notes.iter().chain(members.iter().flat_map(|(_, mp)| mp.notes.iter())) {
        ctx.out.step(n);
    }
    // Before anything is frozen: a host that cannot sign fails now.
    session
        .keys
        .host_key()
        .map_err(|e| e.step(format!("this host's signing key in {}", session.keys.dir.display())))?;
    if let Location::Store(_) = o.to {
        let cdir = session.store.root.join(&o.name);
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&cdir).at("create", &cdir)?;
    }
    mf::create_partial(&p.partial, &p.dir, "group checkpoint")?;
    ctx.out.step(format!(
        "checkpointing the group {} ({} members: {}) into {}",
        p.name,
        members.len(),
        members.iter().map(|(_, mp)| mp.name.as_str()).collect::<Vec<_>>().join(", "),
        p.dir.display()
    ));
    match steps(session, ctx, o, &p, members) {
        Ok(out) => Ok(out),
        Err(e) => {
            let kept = keep_failure(&p.partial, &p.failed);
            let e = match kept {
                Some(k) => relocate(e, &p.partial, &k).step(format!(
                    "group {} (CRIU's logs are kept in {})",
                    p.name,
                    k.display()
                )),
                None => e.step(format!("group {}", p.name)),
            };
            Err(e)
        }
    }
}

/// Ends every job with its error (or "another member failed"): each thaws,
/// keeps its CRIU log, lets go of its lock. Returns `first`, or the error
/// the job of member `culprit` ended with (its log where it is kept).
fn abort(jobs: Vec<phases::Job<'_>>, mut errs: Vec<Option<Error>>, culprit: Option<usize>, first: Error) -> Error {
    let mut out = first;
    for (i, j) in jobs.into_iter().enumerate() {
        let name = j.plan.name.clone();
        let e = errs
            .get_mut(i)
            .and_then(Option::take)
            .unwrap_or_else(|| Error::checkpoint("another member of the group failed", "see the first error"));
        if let (Err(e), true) = (j.finish(Err(e)), culprit == Some(i)) {
            out = e.step(format!("member {name}"));
        }
    }
    out
}

/// An error's CRIU log path, moved with the directory it was in.
fn relocate(e: Error, from: &Path, to: &Path) -> Error {
    match e {
        Error::Step { step, source } => Error::Step { step, source: Box::new(relocate(*source, from, to)) },
        Error::Criu { action, status, log, excerpt } => {
            let log = log.strip_prefix(from).map_or(log.clone(), |rest| to.join(rest));
            Error::Criu { action, status, log, excerpt }
        }
        e => e,
    }
}

fn steps(
    session: &Session,
    ctx: &Ctx,
    o: &Options,
    p: &Plan,
    members: Vec<(single::Facts, single::Plan)>,
) -> Result<Outcome> {
    let n = members.len();
    let mut jobs = Vec::with_capacity(n);
    for (f, mp) in members {
        // Not frozen yet: a job dropped here only lets go of its lock.
        jobs.push(phases::prepare(session, ctx, mp, f.c, f.spec)?);
    }
    // Their networks held first, then every member frozen before the
    // first dump starts.
    let pids: Vec<(String, i32)> = jobs.iter().map(|j| (j.plan.name.clone(), j.plan.pid)).collect();
    let t_held = Instant::now();
    let mut held = match hold(ctx, &pids) {
        Ok(h) => h,
        Err(e) => return Err(abort(jobs, vec![], None, e)),
    };
    // Every member frozen before the first dump starts.
    let t0 = Instant::now();
    for i in 0..n {
        if let Err(e) = jobs[i].freeze() {
            let name = jobs[i].plan.name.clone();
            return Err(abort(jobs, vec![], None, e.step(format!("freezing {name}"))));
        }
    }
    let freeze_ms = t0.elapsed().as_millis() as u64;
    ctx.out.step(format!("froze the {n} members of the group in {freeze_ms} ms"));
    // Dumps and file captures, --jobs at a time; after a failure the
    // members not yet started are not dumped.
    let failed = AtomicBool::new(false);
    let cells: Vec<Mutex<phases::Job<'_>>> = jobs.into_iter().map(Mutex::new).collect();
    let at_once = o.jobs.unwrap_or(n).max(1);
    let results: Vec<Result<()>> = crate::ops::all::pool(&cells, at_once, |cell| {
        if failed.load(Ordering::SeqCst) {
            return Err(Error::checkpoint("not dumped: another member of the group failed", ""));
        }
        let mut j = cell.lock().map_err(|_| Error::checkpoint("a member's job was poisoned", "report this bug"))?;
        let r = j.dump().and_then(|()| j.capture());
        if r.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        r
    });
    let mut jobs: Vec<phases::Job<'_>> = Vec::with_capacity(n);
    for c in cells {
        match c.into_inner() {
            Ok(j) => jobs.push(j),
            Err(poisoned) => jobs.push(poisoned.into_inner()),
        }
    }
    let errs: Vec<Option<Error>> = results.into_iter().map(Result::err).collect();
    if let Some(i) = errs.iter().position(Option::is_some) {
        // The failed member's own error goes to its job (which keeps its
        // log); the group reports it as the job ends it.
        let e = abort(jobs, errs, Some(i), Error::Interrupted);
        return Err(e.step("every member was thawed and runs on; no group was kept"));
    }
    let dumps: std::collections::BTreeMap<String, u64> = Default::default();
    if o.member.stop {
        // Still frozen: everything that can fail is done first (sealed,
        // in place); then each member is told not to restart and killed.
        let mut outs = Vec::new();
        for j in jobs.iter_mut() {
            if let Err(e) = j.seal().and_then(|()| j.publish()) {
                return Err(abort(jobs, vec![], None, e));
            }
        }
        let frozen = t0.elapsed().as_millis() as u64;
        for j in &jobs {
            outs.push(member_record(j)?);
        }
        let mut m = group_manifest(ctx, p, o, &outs);
        // Held until the members are killed, after this.
        let network_held = t_held.elapsed().as_millis() as u64;
        m.timings_ms = group::Timings { frozen, freeze: freeze_ms, thaw: 0, network_held, dumps, total: 0 };
        if let Err(e) = publish_group(session, p, &mut m) {
            return Err(abort(jobs, vec![], None, e));
        }
        let mut outcomes = Vec::new();
        let mut stop_err = None;
        for mut j in jobs {
            let r = j.stop();
            match j.finish(r) {
                Ok(x) => outcomes.push(x),
                Err(e) => stop_err = stop_err.or(Some(e)),
            }
        }
        if let Some(e) = stop_err {
            return Err(e.step(format!("the group checkpoint is complete in {}, but then", p.dir.display())));
        }
        return Ok(finish(ctx, p, m, outcomes));
    }
    // Thawed only after the last dump and file capture; every member is
    // thawed even if one thaw fails.
    let t1 = Instant::now();
    let mut thaw_err = None;
    for j in jobs.iter_mut() {
        if let Err(e) = j.thaw() {
            thaw_err = thaw_err.or(Some(e));
        }
    }
    let thaw_ms = t1.elapsed().as_millis() as u64;
    let frozen = t0.elapsed().as_millis() as u64;
    held.release();
    let network_held = t_held.elapsed().as_millis() as u64;
    ctx.out.step(format!("thawed the {n} members: the group stood still for {frozen} ms"));
    if let Some(e) = thaw_err {
        return Err(abort(jobs, vec![], None, e));
    }
    for i in 0..n {
        if let Err(e) = jobs[i].seal().and_then(|()| jobs[i].publish()) {
            return Err(abort(jobs, vec![], None, e));
        }
    }
    let mut outs = Vec::new();
    for j in &jobs {
        outs.push(member_record(j)?);
    }
    let mut m = group_manifest(ctx, p, o, &outs);
    m.timings_ms = group::Timings { frozen, freeze: freeze_ms, thaw: thaw_ms, network_held, dumps, total: 0 };
    if let Err(e) = publish_group(session, p, &mut m) {
        return Err(abort(jobs, vec![], None, e));
    }
    let mut outcomes = Vec::new();
    for j in jobs {
        outcomes.push(j.finish(Ok(()))?);
    }
    Ok(finish(ctx, p, m, outcomes))
}

/// A published member: its name, and its manifest's digest.
fn member_record(j: &phases::Job<'_>) -> Result<(String, Vec<String>, String)> {
    let bytes = mf::read_bytes(&j.plan.dir)?;
    Ok((j.plan.name.clone(), Vec::new(), group::manifest_digest(&bytes)))
}

/// The group's own files, then the group in place.
fn publish_group(session: &Session, p: &Plan, m: &mut GroupManifest) -> Result<()> {
    // The dumps' durations, from the members' sealed manifests.
    for x in &m.members {
        if let Ok(mm) = mf::read(&p.partial.join(&x.container)) {
            m.timings_ms.dumps.insert(x.container.clone(), mm.timings_ms.criu_dump);
        }
    }
    m.timings_ms.total = session.out.elapsed_ms();
    seal_group(session, &p.partial, m)?;
    mf::rename_noreplace(&p.partial, &p.dir)?;
    if let Some(parent) = p.dir.parent().filter(|x| !x.as_os_str().is_empty()) {
        let d = fs::File::open(parent).at("open", parent)?;
        d.sync_all().at("sync", parent)?;
    }
    Ok(())
}

fn finish(ctx: &Ctx, p: &Plan, m: GroupManifest, mut members: Vec<single::Outcome>) -> Outcome {
    // The members now live in the group's final directory.
    for x in members.iter_mut() {
        if let Some(name) = x.dir.file_name() {
            x.dir = p.dir.join(name);
        }
        if x.criu.is_none() {
            x.criu = crate::ops::inspect::dump_stats(&x.dir).ok().flatten();
        }
    }
    let t = &m.timings_ms;
    let slowest = t.dumps.values().copied().max().unwrap_or(0);
    ctx.out.step(format!(
        "group {} checkpointed into {}: frozen {} ms as one (freezing {} ms, the slowest dump {} ms, thawing {} ms){}",
        p.name,
        p.dir.display(),
        t.frozen,
        t.freeze,
        slowest,
        t.thaw,
        if m.stopped { "; every member stopped" } else { "; every member running" }
    ));
    Outcome { dir: p.dir.clone(), manifest: m, members }
}
