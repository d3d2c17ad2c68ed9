//! What a restore will do, decided before anything is done: every refusal
//! of restore lives here, computed from the opened checkpoint, the
//! options and a few facts read from the engine (`Facts`). Pure: tested
//! with literal facts; `--dry-run` prints the plan, the executor
//! (`super::execute`) performs it.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::privileges::{self, Probe};
use super::Options;
use crate::engine::docker;
use crate::engine::holder;
use crate::error::{Error, Result};
use crate::formats::foreign::{self, StandIn};
use crate::host::criu::TcpRestore;
use crate::host::lazy;
use crate::model::checkpoint::Checkpoint;
use crate::model::container::{anonymous_volumes, AnonVolume, Publish};
use crate::model::creds::Privileges;
use crate::model::manifest::Manifest;
use crate::model::pagemap::Pages;
use crate::model::trust::{Origin, Provenance};

/// Label on a container restored from another engine's checkpoint: its
/// directory of stand-ins (see `foreign::make_stand_ins`).
pub const LABEL_STAND_INS: &str = "org.docker-cr.stand-ins";

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// A volume as the engine knows it: `GET /volumes/NAME`, and the
/// containers that use it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VolumeFacts {
    pub info: Value,
    pub users: Vec<String>,
}

/// What the engine knows of the checkpoint's image: the ID its saved name
/// means here (if any), and whether its saved ID is here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageFacts {
    pub named_id: Option<String>,
    pub id_present: bool,
}

/// The few engine readings a restore decides on (`super::facts` reads
/// them).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The container of the restore's name (`--name`, or the checkpoint's).
    pub by_name: Option<Value>,
    /// The container of the checkpoint's ID.
    pub by_id: Option<Value>,
    pub generation: holder::Generation,
    pub docker_version: String,
    /// cgroup version of this engine (1 or 2).
    pub cgroup: u32,
    /// Each anonymous volume of the saved container, and what the engine
    /// says of it (None: gone).
    pub anon: Vec<(AnonVolume, Option<VolumeFacts>)>,
    /// The named volumes the saved container mounts that exist here.
    pub existing_named: Vec<String>,
    pub image: ImageFacts,
    /// The container of the network holder's name, if one exists.
    pub holder: Option<Value>,
    pub arch: String,
    /// What CRIU would restore as the processes' privileges, read from the
    /// images (or why it could not be); None for this host's own
    /// checkpoints, which restore as dumped.
    pub privileges: Option<std::result::Result<Privileges, String>>,
    /// With --lazy: whether this host can restore lazily, and the
    /// checkpoint's pages by how a lazy restore brings them back (or why
    /// its pagemap images could not be read).
    pub lazy: Option<LazyFacts>,
}

/// What `restore --lazy` decides on.
#[derive(Debug, Clone)]
pub struct LazyFacts {
    pub readiness: lazy::Readiness,
    pub pages: std::result::Result<Pages, String>,
}

/// Which container the restore goes into.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The container the checkpoint came from, stopped.
    Same { id: String },
    /// That container, on an engine that cannot restore into its network
    /// namespace (Docker >= 28): it is renamed aside (`aside`), a new one of
    /// the same name is restored behind a network holder, and the old one
    /// is removed once that has worked (renamed back if not).
    Replace { id: String, aside: String },
    /// A new container, created from the saved configuration.
    Create,
}

/// The restore, decided.
#[derive(Debug, Default)]
pub struct Plan {
    /// The restored container's name.
    pub name: String,
    pub target: Option<Target>,
    /// The saved configuration the create body came from (our own labels,
    /// annotation and stand-in binds taken out).
    pub saved: Value,
    /// The image reference the new container is created with.
    pub image: Option<String>,
    /// The create request (the policy applied), for a new container.
    pub body: Option<Value>,
    /// Host access the settings ask for beyond the policy's allow-list, and
    /// the privileges the images hold beyond the settings: granted with
    /// --allow-host-access, refused without.
    pub grants: Vec<String>,
    /// This host's own checkpoint: the host access its saved settings
    /// carry, restored as they were (no flag).
    pub as_saved: Vec<String>,
    /// What CRIU restores of the processes' privileges, held to the
    /// settings (see `privileges`).
    pub privileges: privileges::Check,
    /// The threads restored with the container's seccomp filters on top.
    pub confine: Option<privileges::Confine>,
    /// The network holder a new container is restored behind (Docker >= 28).
    pub holder: Option<String>,
    /// A holder of that name left by a removed container: removed first.
    pub stale_holder: Option<String>,
    /// Anonymous volumes whose data the new container takes over.
    pub adopt: Vec<(AnonVolume, PathBuf)>,
    /// Anonymous volumes attached by name (another container uses them).
    pub share: Vec<String>,
    pub stand_ins: Vec<StandIn>,
    /// How established TCP connections come back.
    pub tcp: Option<TcpRestore>,
    /// Restored paused (a checkpoint of a paused container).
    pub paused: bool,
    /// The engine's per-container CRIU config (API >= 1.43), or runc.conf.
    pub own_criu_conf: bool,
    /// A lazy restore (--lazy), and the pages its page source serves
    /// (`lazy`) and those the restore copies before the processes run.
    pub lazy: Option<Pages>,
    /// What the operator should know before it happens.
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// Why the real run would stop, in the order it checks (it returns the
    /// first); empty: it would go ahead.
    pub refusals: Vec<Error>,
    /// The first refusal is the checkpointed container left renamed aside:
    /// the real run takes its lock first, to tell a restore in progress.
    pub aside_left: bool,
}

/// The saved configuration as a restore uses it, and docker-cr's own
/// stand-in binds (a checkpoint of a container restored from another
/// engine's) taken out of it: they are not the checkpoint asking for host
/// paths, and the new container gets copies of its own.
pub fn prepared_saved(cp: &Checkpoint) -> (Value, Vec<StandIn>) {
    let mut saved = cp.saved.clone();
    holder::drop_our_labels(&mut saved);
    drop_our_annotation(&mut saved);
    let ours = if cp.converted.is_none() { foreign::take_our_stand_ins(&mut saved) } else { Vec::new() };
    (saved, ours)
}

/// The restore's plan. `saved` and `ours` from `prepared_saved`.
pub fn plan(cp: &Checkpoint, saved: Value, ours: Vec<StandIn>, o: &Options, f: &Facts) -> Plan {
    let src = &cp.manifest.container;
    let mut p = Plan { name: o.name.clone().unwrap_or_else(|| src.name.clone()), saved, ..Plan::default() };
    plan_source(&mut p, cp, o, f);
    p.target = plan_target(&mut p, cp, o, f);
    p.stand_ins = plan_stand_ins(&mut p, cp, ours, f);
    plan_foreign_volumes(&mut p, cp, o, f);
    if p.target == Some(Target::Create) {
        plan_anonymous_volumes(&mut p, f);
    }
    match &p.target {
        // The existing container keeps its HostConfig: unless the
        // checkpoint is this host's own, it must not be one the policy
        // refuses (the checkpoint's ID is its signer's word).
        Some(Target::Same { .. }) if !cp.own() => {
            if let Some(e) = same_refusal(&p.name, f.by_name.as_ref(), o.allow_host_access) {
                p.refusals.push(e);
            }
        }
        Some(Target::Same { .. }) => {}
        Some(Target::Replace { .. } | Target::Create) => plan_create(&mut p, cp.own(), o, f),
        None => {}
    }
    p.tcp = tcp_mode(&cp.manifest, &p.saved);
    p.paused = cp.manifest.container.paused && !o.unpause;
    p.own_criu_conf = f.generation.annotations;
    plan_lazy(&mut p, o, f);
    p
}

/// `--lazy`: refused where the page source cannot serve the faults in time
/// (`lazy::refusal`) or the pagemap images cannot be read; the pages it
/// would leave to the page source, and a note when none can be lazy.
fn plan_lazy(p: &mut Plan, o: &Options, f: &Facts) {
    if !o.lazy {
        return;
    }
    let Some(lf) = &f.lazy else {
        p.refusals.push(Error::host("restore --lazy: this host's lazy restore support was not read", ""));
        return;
    };
    if let Some(e) = lazy::refusal(&lf.readiness) {
        p.refusals.push(e);
    }
    match &lf.pages {
        Ok(pages) => {
            if pages.in_parent > 0 {
                p.refusals.push(Error::checkpoint(
                    format!(
                        "restore --lazy: {} pages of this checkpoint are in a parent checkpoint (a pre-dump), which docker-cr does not place",
                        pages.in_parent
                    ),
                    "this checkpoint was not written by docker-cr; restore it without --lazy",
                ));
            }
            if pages.remote > 0 && !o.live {
                p.refusals.push(Error::checkpoint(
                    format!(
                        "restore --lazy: {} MiB of this checkpoint's memory is in none of its files: it stayed on the host it was dumped on (a live migration's dump), whose CRIU serves it only to that migration",
                        pages.remote.saturating_mul(4096) >> 20
                    ),
                    "move the container with 'docker-cr migrate --live' from its host, or take a checkpoint there without it",
                ));
            }
            if pages.lazy == 0 {
                p.notes.push(
                    "note: none of its memory can be lazy (only private anonymous memory can; shared, file-backed and locked memory is copied before the processes run): --lazy changes nothing but the page source's start".to_string(),
                );
            }
            p.lazy = Some(*pages);
        }
        Err(why) => p.refusals.push(Error::checkpoint(
            format!("restore --lazy cannot read the checkpoint's pagemap images: {why}"),
            "the checkpoint is damaged; restore it without --lazy to have CRIU say more",
        )),
    }
}

/// The checkpoint is of the container named, and what differs here.
fn plan_source(p: &mut Plan, cp: &Checkpoint, o: &Options, f: &Facts) {
    let (m, dir) = (&cp.manifest, &cp.dir);
    let src = &m.container;
    if o.container != src.name && !(o.container.len() >= 4 && src.id.starts_with(&o.container)) {
        p.refusals.push(Error::container(
            format!(
                "{} holds a checkpoint of container {} ({}), not of {}",
                dir.display(),
                src.name,
                docker::short_id(&src.id),
                o.container
            ),
            format!(
                "to restore it under another name: docker-cr restore --name {} {} {}",
                o.container,
                src.name,
                dir.display()
            ),
        ));
    }
    if m.host.cgroup != 0 && f.cgroup != m.host.cgroup {
        p.notes.push(format!("note: checkpoint taken on cgroup v{}, restoring on cgroup v{}", m.host.cgroup, f.cgroup));
    }
}

/// Which container it goes into (None: refused).
fn plan_target(p: &mut Plan, cp: &Checkpoint, o: &Options, f: &Facts) -> Option<Target> {
    let src = &cp.manifest.container;
    let name = p.name.clone();
    let gen = f.generation;
    match &f.by_name {
        Some(c) if is_running(c) => {
            p.refusals.push(running(&name, o));
            None
        }
        // Another engine's checkpoint always makes a new container: its ID
        // is the archive's word, never a reason to reuse one of ours.
        Some(c) if s(c, "/Id") == src.id && cp.converted.is_none() => {
            if !o.publish.is_empty() {
                p.refusals.push(Error::Usage(format!(
                    "--publish cannot change the ports of the existing container {name}\nTry 'docker-cr restore --help'."
                )));
            }
            if gen.needs_holder && holder::own_netns(s(c, "/HostConfig/NetworkMode")) {
                Some(Target::Replace { id: src.id.clone(), aside: format!("{name}-docker-cr-replaced") })
            } else {
                Some(Target::Same { id: src.id.clone() })
            }
        }
        Some(c) => {
            // A restore on Docker >= 28 may be replacing the checkpointed
            // container right now (it renamed it aside, see Target::Replace).
            let aside = format!("{name}-docker-cr-replaced");
            if f.by_id.as_ref().is_some_and(|o| s(o, "/Name").trim_start_matches('/') == aside) {
                p.aside_left = p.refusals.is_empty();
                p.refusals.push(Error::container(
                    format!(
                        "an interrupted docker-cr restore left the checkpointed container as {aside} beside a new {name}"
                    ),
                    format!("remove {name} and rename {aside} back to {name} (docker rename), then restore again"),
                ));
            } else {
                p.refusals.push(Error::container(
                    format!(
                        "a container named {name} already exists ({}) and is not the one checkpointed",
                        docker::short_id(s(c, "/Id"))
                    ),
                    "remove it (docker rm) or restore under another name with --name NEW",
                ));
            }
            None
        }
        None => Some(Target::Create),
    }
}

/// The stand-ins for another engine's own mounts: from its archive, or
/// (a checkpoint of a container restored from one) copies of docker-cr's.
fn plan_stand_ins(p: &mut Plan, cp: &Checkpoint, ours: Vec<StandIn>, f: &Facts) -> Vec<StandIn> {
    match &cp.converted {
        Some(c) => c.stand_ins.clone(),
        None => {
            let src = &cp.manifest.container;
            let own = stand_ins_source(cp.own(), &src.name, if ours.is_empty() { None } else { f.by_id.as_ref() });
            if let (Err(why), false) = (&own, ours.is_empty()) {
                p.notes.push(format!("the stand-ins of {} start empty: {why}", p.name));
            }
            foreign::only_copies_from(ours, own.ok().as_deref())
        }
    }
}

/// Another engine's checkpoint may mount only the named volumes its
/// archive carries (created by `restore --import`) or that do not exist
/// here (Docker makes them empty): an existing one would be the host's
/// data, attached on the archive's word, so it needs --allow-host-access.
fn plan_foreign_volumes(p: &mut Plan, cp: &Checkpoint, o: &Options, f: &Facts) {
    let (Some(c), false) = (&cp.converted, o.allow_host_access) else { return };
    let existing: Vec<&String> = f.existing_named.iter().filter(|v| !c.volumes.contains(v)).collect();
    if !existing.is_empty() {
        p.refusals.push(Error::container(
            format!(
                "{}'s checkpoint mounts the named volumes {} in {}, which its archive does not carry and which exist on this host",
                c.engine.name(),
                existing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                p.name
            ),
            "restore with --allow-host-access to attach them as they are, or remove or rename them (docker volume rm)",
        ));
    }
}

/// Anonymous volumes: adopted by the new container when nothing else uses
/// them (see `adopt_volumes`), shared by name otherwise.
fn plan_anonymous_volumes(p: &mut Plan, f: &Facts) {
    for (v, facts) in &f.anon {
        match facts {
            None => p.warnings.push(format!(
                "the anonymous volume {} ({}) of the checkpointed container is gone (docker rm -v?): the restored container gets a new, empty one",
                docker::short_id(&v.name),
                v.dest
            )),
            Some(vf) if vf.info["Driver"] == "local" && looks_anonymous(&v.name, &vf.info) && vf.users.is_empty() => {
                p.adopt.push((v.clone(), PathBuf::from(s(&vf.info, "/Mountpoint"))))
            }
            Some(_) => {
                p.notes.push(format!(
                    "anonymous volume {} ({}) is in use by another container, or not one the engine made (local, unnamed): attached by name, shared",
                    docker::short_id(&v.name),
                    v.dest
                ));
                p.share.push(v.name.clone());
            }
        }
    }
}

/// The new container: its image, its create body under the policy, and
/// the network holder it needs on Docker >= 28.
fn plan_create(p: &mut Plan, own: bool, o: &Options, f: &Facts) {
    let id = s(&p.saved, "/Image").to_string();
    let named = s(&p.saved, "/Config/Image").to_string();
    let image = if !named.is_empty() && f.image.named_id.as_deref() == Some(id.as_str()) {
        named.clone()
    } else if f.image.id_present {
        id.clone()
    } else {
        p.refusals.push(Error::container(
            format!("the image of the checkpointed container ({named}, {id}) is not on this host"),
            "load the same image first (docker save on the source host, docker load here)",
        ));
        return;
    };
    let (body, grants) = create_body_as(&p.saved, &image, &o.publish, o.allow_host_access, own, &p.share);
    if own {
        p.as_saved = grants.clone();
    } else if !grants.is_empty() && !o.allow_host_access {
        p.refusals.push(Error::checkpoint(
            format!(
                "the checkpoint asks for host access that docker-cr does not grant on its own:\n  - {}",
                grants.join("\n  - ")
            ),
            "nothing was created. If you want the restored container to have exactly that, restore with --allow-host-access",
        ));
    }
    let mode = s(&body, "/HostConfig/NetworkMode").to_string();
    if !mode.starts_with("container:") && f.generation.needs_holder && holder::own_netns(&mode) {
        let gen = f.generation;
        if f.arch != "x86_64" {
            p.refusals.push(Error::host(
                format!(
                    "Docker {}.{} cannot restore {} into a new network namespace ({}), and docker-cr's network \
                     holder exists for x86-64 only so far",
                    gen.version.0,
                    gen.version.1,
                    p.name,
                    holder::NETNS_ISSUE
                ),
                "restore on an engine older than Docker 28, or on an x86-64 host",
            ));
        }
        let hname = holder::holder_name(&p.name);
        if let Some(h) = &f.holder {
            // One left by a restored container removed while the engine was
            // down (or before docker-cr had holders watch): its container is
            // gone, since the name is free.
            if h["Config"]["Labels"][holder::LABEL_HOLDER_FOR] == p.name.as_str() {
                p.stale_holder = Some(s(h, "/Id").to_string());
            } else {
                p.refusals.push(Error::container(
                    format!(
                        "a container named {hname} exists; docker-cr needs that name for {}'s network holder",
                        p.name
                    ),
                    format!("remove or rename {hname}, or restore under another name with --name"),
                ));
            }
        }
        p.holder = Some(hname);
    }
    p.image = Some(image);
    p.body = Some(body);
    if !own {
        p.grants = grants;
    }
}

/// The plan's privileges step (see `privileges::check`): the images'
/// privileges held to the settings of the container restored into, probed
/// with `probe`. After `plan`, before anything is created.
pub fn check_privileges(p: &mut Plan, cp: &Checkpoint, o: &Options, f: &Facts, probe: &mut Probe<'_>) -> Result<()> {
    privileges::check(p, cp.own(), o, f.by_name.as_ref(), f.privileges.as_ref(), probe)
}

/// The plan in words (`--dry-run`). Pure.
pub fn describe(cp: &Checkpoint, p: &Plan) -> String {
    let m = &cp.manifest;
    let mut out =
        format!("restore of {} ({}) from {}\n", m.container.name, docker::short_id(&m.container.id), cp.dir.display());
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<13} {v}\n"));
    line(&mut out, "provenance", provenance_label(cp));
    line(
        &mut out,
        "target",
        match &p.target {
            Some(Target::Same { .. }) => format!("the stopped container {} (the one checkpointed)", p.name),
            Some(Target::Replace { aside, .. }) => format!(
                "a new container {} replacing the checkpointed one (renamed to {aside} meanwhile, removed once restored)",
                p.name
            ),
            Some(Target::Create) => format!("a new container {}, created from the saved configuration", p.name),
            None => "none (refused, below)".to_string(),
        },
    );
    if let Some(i) = &p.image {
        line(&mut out, "image", i.clone());
    }
    if let Some(b) = &p.body {
        let hc = &b["HostConfig"];
        let mode = s(hc, "/NetworkMode");
        line(&mut out, "network", if mode.is_empty() { "default".to_string() } else { mode.to_string() });
        let ports: Vec<String> = hc["PortBindings"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(k, v)| {
                v.as_array().into_iter().flatten().map(move |b| {
                    let ip = s(b, "/HostIp");
                    format!(
                        "{}{}->{k}",
                        if ip.is_empty() { String::new() } else { format!("{ip}:") },
                        s(b, "/HostPort")
                    )
                })
            })
            .collect();
        line(&mut out, "ports", if ports.is_empty() { "none".into() } else { ports.join(", ") });
    }
    line(
        &mut out,
        "host access",
        if !p.as_saved.is_empty() {
            p.as_saved.join("; ") + " (restored as it was: this host's own checkpoint)"
        } else if p.grants.is_empty() {
            "none".to_string()
        } else {
            p.grants.join("; ") + if p.refusals.is_empty() { " (granted: --allow-host-access)" } else { "" }
        },
    );
    line(&mut out, "privileges", privileges::describe(p));
    let vols: Vec<String> = p
        .adopt
        .iter()
        .map(|(v, _)| format!("adopt anonymous {} at {}", docker::short_id(&v.name), v.dest))
        .chain(p.share.iter().map(|v| format!("share {}", docker::short_id(v))))
        .collect();
    if !vols.is_empty() {
        line(&mut out, "volumes", vols.join(", "));
    }
    if let Some(h) = &p.holder {
        line(&mut out, "network holder", format!("{h} (the engine cannot restore into a new network namespace)"));
    }
    if !p.stand_ins.is_empty() {
        line(&mut out, "stand-ins", p.stand_ins.iter().map(|s| s.dest.clone()).collect::<Vec<_>>().join(", "));
    }
    line(
        &mut out,
        "connections",
        match p.tcp {
            Some(TcpRestore::Established) => "restored open (the container keeps its static address)".into(),
            Some(TcpRestore::LocalOnly) => {
                "over loopback restored open; those on the old address closed (a new address)".into()
            }
            None => "none dumped (--no-tcp-established)".into(),
        },
    );
    let mut criu: Vec<&str> = Vec::new();
    if p.tcp.is_some() {
        criu.push("tcp-established");
    }
    if m.options.ext_unix_sk {
        criu.push("ext-unix-sk");
    }
    if m.options.file_locks {
        criu.push("file-locks");
    }
    if p.paused {
        criu.push("leave-stopped");
    }
    if p.lazy.is_some() {
        criu.push("lazy-pages, work-dir, images-dir");
    }
    line(
        &mut out,
        "CRIU",
        format!(
            "{} ({})",
            criu.join(", "),
            if p.own_criu_conf { "in the container's own config file" } else { "in /etc/criu/runc.conf for the start" }
        ),
    );
    if p.paused {
        line(&mut out, "state", "restored paused (checkpointed paused; --unpause to run it)".into());
    }
    if let Some(pages) = &p.lazy {
        line(&mut out, "memory", lazy_summary(pages));
    }
    for n in p.notes.iter().chain(&p.warnings) {
        out.push_str(&format!("  {n}\n"));
    }
    match p.refusals.as_slice() {
        [] => out.push_str("would restore: nothing was changed (--dry-run)\n"),
        rs => {
            out.push_str(&format!(
                "would be refused ({}):\n",
                if rs.len() == 1 { "1 reason".to_string() } else { format!("{} reasons", rs.len()) }
            ));
            for r in rs {
                out.push_str(&format!("  - {}\n", r.to_string().replace('\n', "\n    ")));
                if let Some(h) = r.hint() {
                    out.push_str(&format!("    hint: {h}\n"));
                }
            }
        }
    }
    out
}

/// How a lazy restore brings the memory back, for the plan and the run.
/// Pure.
pub fn lazy_summary(pages: &Pages) -> String {
    let mib = |n: u64| n as f64 * 4096.0 / (1 << 20) as f64;
    format!(
        "lazy: {:.0} MiB of private anonymous memory served on first touch and in the background by a supervised \
         criu lazy-pages, which the restore waits for; {:.0} MiB (shared, file-backed, locked) copied before the \
         processes run",
        mib(pages.lazy),
        mib(pages.eager)
    )
}

/// The plan as JSON (`--dry-run --format json`). Pure.
pub fn to_json(cp: &Checkpoint, p: &Plan) -> Value {
    json!({
        "checkpoint": cp.dir,
        "container": { "name": cp.manifest.container.name, "id": cp.manifest.container.id },
        "provenance": provenance_label(cp),
        "name": p.name,
        "target": p.target,
        "image": p.image,
        "create": p.body,
        "host_access": p.grants,
        "host_access_as_saved": p.as_saved,
        "privileges": p.privileges,
        "confine_seccomp": p.confine.as_ref().map(|c| json!({"pids": c.pids, "threads": c.tids, "filters": c.filters.len()})),
        "network_holder": p.holder,
        "adopt_volumes": p.adopt.iter().map(|(v, d)| json!({"volume": v.name, "destination": v.dest, "dir": d})).collect::<Vec<_>>(),
        "share_volumes": p.share,
        "stand_ins": p.stand_ins.iter().map(|s| &s.dest).collect::<Vec<_>>(),
        "tcp": match p.tcp { Some(TcpRestore::Established) => "established", Some(TcpRestore::LocalOnly) => "loopback-only", None => "none" },
        "paused": p.paused,
        "lazy": p.lazy.map(|l| json!({"lazy_pages": l.lazy, "eager_pages": l.eager})),
        "criu_config": if p.own_criu_conf { "per-container" } else { "runc.conf" },
        "notes": p.notes,
        "warnings": p.warnings,
        "refusals": p.refusals.iter().map(|e| json!({"error": e.to_string(), "hint": e.hint(), "exit_status": e.exit_code()})).collect::<Vec<_>>(),
        "would_restore": p.refusals.is_empty(),
    })
}

fn provenance_label(cp: &Checkpoint) -> String {
    let engine = cp.converted.as_ref().map(|c| c.engine.name());
    match (&cp.provenance, engine) {
        (_, Some(e)) => format!("made by {e}, converted by docker-cr (unsigned; restored on --trust)"),
        (Provenance::Trusted(k), None) => match cp.origin {
            Origin::Own(_) => format!("signed by trusted key {}, this host's own", k.describe()),
            Origin::TrustedHost(_) => format!("signed by trusted key {} of another host", k.describe()),
            _ => format!("signed by trusted key {}", k.describe()),
        },
        (Provenance::Untrusted(k), None) => {
            format!("signed by a key this host does not trust ({}; --trust)", k.describe())
        }
        (Provenance::Unsigned, None) => "unsigned (--trust)".into(),
    }
}

/// Config fields `POST /containers/create` takes from a saved inspect.
const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "MacAddress",
    "OnBuild",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

/// The create request for a container like the saved one, and the host
/// access the saved HostConfig asks for beyond docker-cr's allow-list (see
/// `policy`), which is granted only with `allow_host`. Pure: `saved` is the
/// inspect data from the checkpoint, `image` the reference to use.
/// Anonymous volumes stay anonymous (`Volumes`: the engine makes a new
/// one, which `adopt_volumes` fills with the old one's data), except those
/// named in `shared`: volumes another container still uses (the original,
/// for a clone), attached by name, so shared and never removed with the
/// new container.
pub fn create_body(
    saved: &Value,
    image: &str,
    publish: &[Publish],
    allow_host: bool,
    shared: &[String],
) -> (Value, Vec<String>) {
    create_body_as(saved, image, publish, allow_host, false, shared)
}

/// `create_body`; `own`: the checkpoint is this host's own, its saved
/// settings restored as they were (`policy::own_host_config`), the list
/// the host access they carry.
pub fn create_body_as(
    saved: &Value,
    image: &str,
    publish: &[Publish],
    allow_host: bool,
    own: bool,
    shared: &[String],
) -> (Value, Vec<String>) {
    let mut body = Map::new();
    if let Some(cfg) = saved["Config"].as_object() {
        for k in CONFIG_FIELDS {
            if let Some(v) = cfg.get(*k) {
                if !v.is_null() {
                    body.insert((*k).to_string(), v.clone());
                }
            }
        }
    }
    body.insert("Image".into(), json!(image));
    let (hc, grants) = if own {
        crate::model::policy::own_host_config(&saved["HostConfig"])
    } else {
        crate::model::policy::host_config(&saved["HostConfig"], allow_host)
    };
    let mut hc = Value::Object(hc);
    if !publish.is_empty() {
        let mut bindings = Map::new();
        let mut exposed = body.get("ExposedPorts").and_then(Value::as_object).cloned().unwrap_or_default();
        for p in publish {
            let key = format!("{}/{}", p.container_port, p.proto);
            exposed.insert(key.clone(), json!({}));
            let e = bindings.entry(key).or_insert_with(|| json!([]));
            if let Some(a) = e.as_array_mut() {
                a.push(json!({ "HostIp": p.host_ip, "HostPort": p.host_port }));
            }
        }
        hc["PortBindings"] = Value::Object(bindings);
        body.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    let mut binds: Vec<Value> = hc["Binds"].as_array().cloned().unwrap_or_default();
    let mut volumes = body.get("Volumes").and_then(Value::as_object).cloned().unwrap_or_default();
    for v in anonymous_volumes(saved) {
        if shared.contains(&v.name) {
            let ro = if v.rw { "" } else { ":ro" };
            binds.push(json!(format!("{}:{}{ro}", v.name, v.dest)));
            volumes.remove(&v.dest);
        } else {
            volumes.insert(v.dest, json!({}));
        }
    }
    if !binds.is_empty() {
        hc["Binds"] = Value::Array(binds);
    }
    if !volumes.is_empty() {
        body.insert("Volumes".into(), Value::Object(volumes));
    }
    let mode = hc["NetworkMode"].as_str().unwrap_or("").to_string();
    body.insert("HostConfig".into(), hc);
    // A user-defined network: keep the static address and aliases asked for.
    if let Some(ep) =
        saved.pointer(&format!("/NetworkSettings/Networks/{}", mode.replace('~', "~0").replace('/', "~1")))
    {
        if !matches!(mode.as_str(), "" | "default" | "bridge" | "host" | "none") {
            let mut e = Map::new();
            for k in ["IPAMConfig", "Aliases", "Links", "DriverOpts"] {
                if !ep[k].is_null() {
                    e.insert(k.into(), ep[k].clone());
                }
            }
            body.insert("NetworkingConfig".into(), json!({ "EndpointsConfig": { mode: e } }));
        }
    }
    (Value::Object(body), grants)
}

/// How established connections come back: all of them when the restored
/// container is sure to get the address they were made on (a static IP),
/// else only those over loopback (see `TcpRestore::LocalOnly`).
pub fn tcp_mode(m: &Manifest, saved: &Value) -> Option<TcpRestore> {
    if !m.options.tcp_established {
        return None;
    }
    let static_ip = saved.pointer("/NetworkSettings/Networks").and_then(Value::as_object).is_some_and(|n| {
        n.values().any(|e| e.pointer("/IPAMConfig/IPv4Address").and_then(Value::as_str).is_some_and(|a| !a.is_empty()))
    });
    Some(if static_ip { TcpRestore::Established } else { TcpRestore::LocalOnly })
}

/// A symlink on this host, resolved: what it points to, and whether that
/// is a regular file owned by root (an engine's binary).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub real: PathBuf,
    pub root_file: bool,
}

/// The bind mounts of the container to restore (`c`, inspected) whose
/// source is a symlink here (`resolve` says which), for CRIU's
/// `ext-mount-map` (see `RestoreOpts::ext_mounts`): the binds the engine
/// lists, which the container is given anyway, and the engine's
/// docker-init at /sbin/docker-init (`--init`), whose source only the
/// checkpoint's spec names: that one is taken only if it is a file named
/// docker-init whose target is a regular file of root's, so that a
/// checkpoint's word can never bind another host file into the container.
/// Pure.
pub fn symlinked_binds(
    c: &Value,
    spec: Option<&Value>,
    resolve: &dyn Fn(&str) -> Option<Resolved>,
) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for m in c["Mounts"].as_array().into_iter().flatten().filter(|m| m["Type"] == "bind") {
        if let (Some(src), Some(dest)) = (m["Source"].as_str(), m["Destination"].as_str()) {
            if let Some(r) = resolve(src) {
                out.push((dest.to_string(), r.real));
            }
        }
    }
    if c["HostConfig"]["Init"] == Value::Bool(true) {
        const INIT: &str = "/sbin/docker-init";
        let src = spec
            .and_then(|s| s["mounts"].as_array())
            .into_iter()
            .flatten()
            .find(|m| m["destination"] == INIT)
            .and_then(|m| m["source"].as_str());
        if let Some(src) = src.filter(|s| Path::new(s).file_name().is_some_and(|n| n == "docker-init")) {
            if let Some(r) = resolve(src).filter(|r| r.root_file) {
                out.push((INIT.to_string(), r.real));
            }
        }
    }
    out
}

/// The new container's cgroup on v2, for CRIU's `cgroup-root`.
pub fn v2_cgroup(driver: &str, parent: &str, id: &str) -> String {
    if driver == "systemd" {
        let slice = if parent.is_empty() { "system.slice" } else { parent };
        format!("/{slice}/docker-{id}.scope")
    } else {
        let parent = if parent.is_empty() { "/docker" } else { parent };
        format!("/{}/{id}", parent.trim_matches('/'))
    }
}

/// The symlink that lets CRIU read a page image in place: relative, climbing
/// to / from wherever containerd unpacks the checkpoint (extra `..` stop at
/// /), because CRIU reads pages after entering the container's root, where
/// an absolute path would not resolve.
pub fn climbing_link(target: &Path) -> PathBuf {
    let mut p = PathBuf::new();
    for _ in 0..32 {
        p.push("..");
    }
    p.push(target.strip_prefix("/").unwrap_or(target));
    p
}

/// Whose stand-ins a checkpoint of a container restored from another
/// engine's archive gets copies of (`c`: the container of the manifest's
/// ID, inspected): that container's own (its stand-ins label) only when
/// the checkpoint is signed by a trusted key (else its ID and binds are
/// anyone's word) and the container still has the manifest's name. It may
/// be running (a copy beside the original): `foreign::copy_tree` walks by
/// directory fds, never through a link its processes put there. Otherwise
/// the reason the stand-ins start empty. Pure.
pub fn stand_ins_source(trusted: bool, src_name: &str, c: Option<&Value>) -> std::result::Result<PathBuf, String> {
    let Some(c) = c else { return Err("the checkpointed container is gone".into()) };
    if !trusted {
        return Err("the checkpoint is not signed by a trusted key, so its container's are not copied".into());
    }
    if s(c, "/Name").trim_start_matches('/') != src_name {
        return Err(format!("the container of the checkpoint's ID is no longer named {src_name}"));
    }
    c.pointer(&format!("/Config/Labels/{}", LABEL_STAND_INS.replace('/', "~1")))
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .ok_or_else(|| format!("{src_name} has none of docker-cr's stand-ins"))
}

/// Why restoring into the existing stopped container `c` (named `name`) is
/// refused: its HostConfig asks for what the policy grants only with
/// --allow-host-access. Pure.
pub fn same_refusal(name: &str, c: Option<&Value>, allow_host: bool) -> Option<Error> {
    let (_, grants) = crate::model::policy::host_config(&c?["HostConfig"], allow_host);
    (!allow_host && !grants.is_empty()).then(|| {
        Error::container(
            format!(
                "the existing container {name} has {}, and the checkpoint restored into it is not signed by a trusted key",
                grants.join(", ")
            ),
            format!("restore a copy with --name NEW, or add --allow-host-access if {name}'s settings are yours"),
        )
    })
}

/// The named volumes a saved configuration mounts (`Mounts` of type volume). Pure.
pub fn volume_names(saved: &Value) -> Vec<String> {
    saved["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "volume")
        .filter_map(|m| m["Name"].as_str().map(str::to_string))
        .collect()
}

/// Whether volume `name` (its `GET /volumes` answer `info`) is one the
/// engine made as anonymous: a 64-hex-digit name, and Docker >= 23's
/// anonymous label when it has labels. A checkpoint's container.json is
/// what calls a volume anonymous; adopting moves the data and removes the
/// old volume, so a volume a user named is never taken for one. Pure.
pub fn looks_anonymous(name: &str, info: &Value) -> bool {
    let hex = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
    let labels = info["Labels"].as_object();
    hex && labels.is_none_or(|l| l.is_empty() || l.contains_key("com.docker.volume.anonymous"))
}

/// The files of `files` (name, age) no container refers to any more, old
/// enough not to be a file a restore running now has just made for the
/// container it is about to create. Pure.
pub fn stale_confs(files: &[(PathBuf, std::time::Duration)], referenced: &[PathBuf]) -> Vec<PathBuf> {
    const GRACE: std::time::Duration = std::time::Duration::from_secs(600);
    files.iter().filter(|(p, age)| *age > GRACE && !referenced.contains(p)).map(|(p, _)| p.clone()).collect()
}

pub fn is_running(c: &Value) -> bool {
    c.pointer("/State/Running") == Some(&Value::Bool(true))
        || c.pointer("/State/Restarting") == Some(&Value::Bool(true))
}

pub fn running(name: &str, a: &Options) -> Error {
    Error::container(
        format!("container {name} is running; docker-cr never restores over a running container"),
        if a.name.is_some() {
            "choose another --name".to_string()
        } else {
            format!("stop it (docker stop {name}) to restore into it, or restore a copy with --name NEW")
        },
    )
}

/// A checkpoint of a container docker-cr restored carries docker-cr's own
/// annotation (a file of this host's, emptied after its restore): that one
/// is not the checkpoint asking for anything, and is left out; any other
/// annotation still goes through the policy.
pub fn drop_our_annotation(saved: &mut Value) {
    if let Some(a) = saved["HostConfig"]["Annotations"].as_object_mut() {
        if a.get("org.criu.config").and_then(Value::as_str).is_some_and(|p| p.starts_with(super::CRIU_CONF_DIR)) {
            a.remove("org.criu.config");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::trust::PubKey;

    /// A checkpoint of the recorded Docker 20.10 busybox container (its
    /// inspect data from tests/fixtures), signed by a trusted key.
    fn cp() -> Checkpoint {
        let saved: Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/docker20-busybox-inspect.json")).unwrap();
        let mut m = crate::model::manifest::tests_sample();
        m.container.id = s(&saved, "/Id").to_string();
        m.container.name = s(&saved, "/Name").trim_start_matches('/').to_string();
        Checkpoint {
            dir: PathBuf::from("/srv/cp/c1"),
            manifest: m,
            saved,
            provenance: Provenance::Trusted(PubKey { key: [7; 32], comment: "hosta".into() }),
            origin: Origin::TrustedHost(PubKey { key: [7; 32], comment: "hosta".into() }),
            converted: None,
        }
    }
    fn opts() -> Options {
        Options { container: "p2-c1".into(), ..Options::default() }
    }
    /// The image is here under its name; nothing else of the container is.
    fn facts(cp: &Checkpoint) -> Facts {
        Facts {
            generation: holder::generation("20.10.24", "1.41"),
            docker_version: "20.10.24".into(),
            cgroup: 1,
            image: ImageFacts { named_id: Some(s(&cp.saved, "/Image").to_string()), id_present: true },
            arch: "x86_64".into(),
            ..Facts::default()
        }
    }
    fn run(cp: &Checkpoint, o: &Options, f: &Facts) -> Plan {
        let (saved, ours) = prepared_saved(cp);
        plan(cp, saved, ours, o, f)
    }
    fn refusals(p: &Plan) -> Vec<(u8, String)> {
        p.refusals.iter().map(|e| (e.exit_code(), e.to_string())).collect()
    }
    fn existing(cp: &Checkpoint, running: bool) -> Value {
        json!({"Id": cp.manifest.container.id, "Name": "/p2-c1", "State": {"Running": running},
               "HostConfig": {"NetworkMode": "default"}})
    }

    fn lazy_facts(cp: &Checkpoint, retry: lazy::FaultRetry, pages: std::result::Result<Pages, String>) -> Facts {
        let readiness = lazy::Readiness { uffd: Ok(()), retry, criu_version: "4.2.1".into() };
        Facts { lazy: Some(LazyFacts { readiness, pages }), ..facts(cp) }
    }

    #[test]
    fn lazy_restore_plans_its_pages_and_criu_lines() {
        let cp = cp();
        let pages = Pages { lazy: 262144, eager: 512, in_parent: 0, remote: 0 };
        let patched = lazy::FaultRetry::Patched("v4.2.1+uffd-eagain.1d3188395f36".into());
        let o = Options { lazy: true, ..opts() };
        let p = run(&cp, &o, &lazy_facts(&cp, patched.clone(), Ok(pages)));
        assert_eq!(refusals(&p), vec![]);
        assert_eq!(p.lazy, Some(pages));
        let text = describe(&cp, &p);
        assert!(text.contains("memory        lazy: 1024 MiB of private anonymous memory"), "{text}");
        assert!(text.contains("2 MiB (shared, file-backed, locked) copied before"), "{text}");
        assert!(text.contains("lazy-pages, work-dir, images-dir"), "{text}");
        assert_eq!(to_json(&cp, &p)["lazy"], json!({"lazy_pages": 262144, "eager_pages": 512}));
        // Without --lazy the facts change nothing.
        let p = run(&cp, &opts(), &lazy_facts(&cp, patched.clone(), Ok(pages)));
        assert_eq!(p.lazy, None);
        assert_eq!(to_json(&cp, &p)["lazy"], Value::Null);
        // Nothing can be lazy: said, not refused.
        let none = Pages { lazy: 0, eager: 10, in_parent: 0, remote: 0 };
        let p = run(&cp, &o, &lazy_facts(&cp, patched, Ok(none)));
        assert_eq!(refusals(&p), vec![]);
        assert!(p.notes.iter().any(|n| n.contains("none of its memory can be lazy")), "{:?}", p.notes);
    }

    #[test]
    fn lazy_restore_refusals() {
        let cp = cp();
        let o = Options { lazy: true, ..opts() };
        let pages = Pages { lazy: 100, eager: 1, in_parent: 0, remote: 0 };
        // An unpatched CRIU would answer only once the pages are in.
        let p = run(&cp, &o, &lazy_facts(&cp, lazy::FaultRetry::Missing, Ok(pages)));
        let r = refusals(&p);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].1.contains("restore --lazy would stall on this host"), "{r:?}");
        assert!(p.refusals[0].hint().unwrap_or_default().contains("uffd-eagain.patch"));
        // No userfaultfd.
        let mut f = lazy_facts(&cp, lazy::FaultRetry::Patched("x+uffd-eagain.1".into()), Ok(pages));
        f.lazy.as_mut().unwrap().readiness.uffd = Err("UFFD is not supported\n".into());
        let r = refusals(&run(&cp, &o, &f));
        assert!(r[0].1.contains("userfaultfd") && r[0].1.contains("UFFD is not supported"), "{r:?}");
        // Unreadable pagemaps, and pages in a parent checkpoint.
        let patched = lazy::FaultRetry::Patched("x+uffd-eagain.1".into());
        let r = refusals(&run(
            &cp,
            &o,
            &lazy_facts(&cp, patched.clone(), Err("pagemap-1.img: not a pagemap image".into())),
        ));
        assert_eq!(r[0].0, 5, "{r:?}");
        assert!(r[0].1.contains("cannot read the checkpoint's pagemap images: pagemap-1.img"), "{r:?}");
        let parent = Pages { lazy: 1, eager: 1, in_parent: 7, remote: 0 };
        let r = refusals(&run(&cp, &o, &lazy_facts(&cp, patched.clone(), Ok(parent))));
        assert!(r[0].1.contains("7 pages of this checkpoint are in a parent checkpoint"), "{r:?}");
        // A live migration's dump: its memory stayed on its source; only
        // the migration's own restore (--live) may ask for it.
        let left = Pages { lazy: 512, eager: 1, in_parent: 0, remote: 512 };
        let r = refusals(&run(&cp, &o, &lazy_facts(&cp, patched.clone(), Ok(left))));
        assert!(r[0].1.contains("2 MiB of this checkpoint's memory is in none of its files"), "{r:?}");
        let live = Options { live: true, ..o.clone() };
        assert_eq!(refusals(&run(&cp, &live, &lazy_facts(&cp, patched, Ok(left)))), vec![]);
        // The facts not read at all: refused, never restored eagerly.
        assert_eq!(refusals(&run(&cp, &o, &facts(&cp))).len(), 1);
    }

    #[test]
    fn after_docker_rm_a_new_container_is_created() {
        let cp = cp();
        let p = run(&cp, &opts(), &facts(&cp));
        assert_eq!(refusals(&p), vec![]);
        assert_eq!((p.target.clone(), p.name.as_str()), (Some(Target::Create), "p2-c1"));
        assert_eq!(p.image.as_deref(), Some("docker-cr-test:busybox"), "by name: it still means the saved image");
        assert_eq!(p.body.as_ref().unwrap()["Cmd"], cp.saved["Config"]["Cmd"]);
        assert_eq!(
            (p.holder.as_deref(), p.tcp, p.paused, p.own_criu_conf),
            (None, Some(TcpRestore::LocalOnly), false, false)
        );
        let d = describe(&cp, &p);
        assert!(
            d.contains("a new container p2-c1, created from the saved configuration") && d.contains("would restore"),
            "{d}"
        );
        assert_eq!(to_json(&cp, &p)["target"], "create");
    }

    #[test]
    fn the_target_container_decides() {
        let cp = cp();
        let mut f = facts(&cp);
        f.by_name = Some(existing(&cp, false));
        assert_eq!(run(&cp, &opts(), &f).target, Some(Target::Same { id: cp.manifest.container.id.clone() }));
        // Docker 28 cannot restore into its network namespace: replaced.
        let mut f28 = f.clone();
        f28.generation = holder::generation("28.5.2", "1.51");
        let p = run(&cp, &opts(), &f28);
        assert_eq!(
            p.target,
            Some(Target::Replace { id: cp.manifest.container.id.clone(), aside: "p2-c1-docker-cr-replaced".into() })
        );
        assert_eq!(p.holder.as_deref(), Some("p2-c1-docker-cr-net"));
        assert!(p.own_criu_conf, "API 1.51 takes org.criu.config");
        // Running: never touched.
        f.by_name = Some(existing(&cp, true));
        let p = run(&cp, &opts(), &f);
        assert_eq!(p.target, None);
        assert_eq!(refusals(&p)[0].0, 4);
        assert!(refusals(&p)[0].1.contains("container p2-c1 is running"), "{:?}", refusals(&p));
        // Another container of that name.
        f.by_name = Some(json!({"Id": "ffff", "Name": "/p2-c1", "State": {"Running": false}}));
        let r = refusals(&run(&cp, &opts(), &f));
        assert_eq!(r[0].0, 4);
        assert!(r[0].1.contains("already exists (ffff) and is not the one checkpointed"), "{r:?}");
        // The checkpointed one left renamed aside by an interrupted restore.
        f.by_id = Some(json!({"Id": cp.manifest.container.id, "Name": "/p2-c1-docker-cr-replaced"}));
        let p = run(&cp, &opts(), &f);
        assert!(
            p.aside_left && refusals(&p)[0].1.contains("left the checkpointed container as p2-c1-docker-cr-replaced")
        );
        // --publish cannot change an existing container's ports.
        let mut f = facts(&cp);
        f.by_name = Some(existing(&cp, false));
        let o = Options { publish: vec![crate::cli::parse_publish("9090:80").unwrap()], ..opts() };
        assert_eq!(refusals(&run(&cp, &o, &f))[0].0, 2);
    }

    #[test]
    fn the_checkpoint_must_be_of_the_container_named() {
        let cp = cp();
        let o = Options { container: "web".into(), ..opts() };
        let r = refusals(&run(&cp, &o, &facts(&cp)));
        assert_eq!(r[0].0, 4);
        assert!(r[0].1.contains("holds a checkpoint of container p2-c1 (261e86737588), not of web"), "{r:?}");
        let by_id = Options { container: "261e8673".into(), ..opts() };
        assert_eq!(refusals(&run(&cp, &by_id, &facts(&cp))), vec![], "an ID prefix of 4+ names it too");
    }

    #[test]
    fn host_access_needs_the_operators_word() {
        let mut cp = cp();
        cp.saved["HostConfig"]["Binds"] = json!(["/srv/data:/data"]);
        cp.saved["HostConfig"]["CapAdd"] = json!(["SYS_ADMIN"]);
        let p = run(&cp, &opts(), &facts(&cp));
        let r = refusals(&p);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].0, 5);
        assert!(r[0].1.contains("host paths /srv/data:/data") && r[0].1.contains("SYS_ADMIN"), "{r:?}");
        let o = Options { allow_host_access: true, ..opts() };
        let p = run(&cp, &o, &facts(&cp));
        assert_eq!(refusals(&p), vec![]);
        assert_eq!(p.body.unwrap()["HostConfig"]["Binds"], json!(["/srv/data:/data"]));
        assert_eq!(p.grants.len(), 2);
    }

    // Issue 17: this host's own checkpoint restores its saved settings as
    // they were, host access included, with no flag, and lists it; another
    // trusted host's is held to the policy (above).
    #[test]
    fn own_checkpoints_restore_as_they_were() {
        let mut cp = cp();
        cp.origin = Origin::Own(PubKey { key: [7; 32], comment: "hosta".into() });
        cp.saved["HostConfig"]["Binds"] = json!(["/srv/data:/data"]);
        cp.saved["HostConfig"]["CapAdd"] = json!(["SYS_ADMIN"]);
        let p = run(&cp, &opts(), &facts(&cp));
        assert_eq!(refusals(&p), vec![]);
        let hc = &p.body.as_ref().unwrap()["HostConfig"];
        assert_eq!((&hc["Binds"], &hc["CapAdd"]), (&json!(["/srv/data:/data"]), &json!(["SYS_ADMIN"])));
        assert_eq!(p.grants, Vec::<String>::new(), "nothing granted on a flag");
        assert_eq!(p.as_saved.len(), 2, "{:?}", p.as_saved);
        let d = describe(&cp, &p);
        assert!(
            d.contains("host paths /srv/data:/data") && d.contains("(restored as it was: this host's own checkpoint)"),
            "{d}"
        );
        assert!(d.contains("signed by trusted key") && d.contains("this host's own"), "{d}");
        let mut p = p;
        let mut probed = 0;
        check_privileges(&mut p, &cp, &opts(), &facts(&cp), &mut |_, _| {
            probed += 1;
            Err(Error::host("no probe", ""))
        })
        .unwrap();
        assert_eq!((probed, &p.privileges), (0, &privileges::Check::AsDumped));
        assert!(describe(&cp, &p).contains("as dumped (this host's own checkpoint)"));
        // Its existing container is not held to the policy either.
        let mut f = facts(&cp);
        f.by_name = Some(json!({"Id": cp.manifest.container.id, "Name": "/p2-c1", "State": {"Running": false},
                                "HostConfig": {"Privileged": true}}));
        assert_eq!(refusals(&run(&cp, &opts(), &f)), vec![]);
        cp.origin = Origin::TrustedHost(PubKey { key: [7; 32], comment: "hosta".into() });
        assert_eq!(refusals(&run(&cp, &opts(), &f))[0].0, 4, "another host's checkpoint names the container");
    }

    #[test]
    fn the_image_by_name_by_id_or_refused() {
        let cp = cp();
        let mut f = facts(&cp);
        f.image = ImageFacts { named_id: Some("sha256:other".into()), id_present: true };
        assert_eq!(run(&cp, &opts(), &f).image.as_deref(), Some(s(&cp.saved, "/Image")), "the name moved: by ID");
        f.image = ImageFacts { named_id: None, id_present: false };
        let r = refusals(&run(&cp, &opts(), &f));
        assert_eq!(r[0].0, 4);
        assert!(r[0].1.contains("is not on this host"), "{r:?}");
    }

    #[test]
    fn anonymous_volumes_are_adopted_shared_or_gone() {
        let mut cp = cp();
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let c = "c".repeat(64);
        cp.saved["Mounts"] = json!([
            {"Type": "volume", "Name": a, "Destination": "/a", "RW": true},
            {"Type": "volume", "Name": b, "Destination": "/b", "RW": true},
            {"Type": "volume", "Name": c, "Destination": "/c", "RW": false}
        ]);
        let mut f = facts(&cp);
        let local = |users: Vec<String>| {
            Some(VolumeFacts { info: json!({"Driver": "local", "Mountpoint": "/v/_data", "Labels": null}), users })
        };
        f.anon = anonymous_volumes(&cp.saved)
            .into_iter()
            .zip([local(vec![]), local(vec!["original".into()]), None])
            .collect();
        let p = run(&cp, &opts(), &f);
        assert_eq!(
            p.adopt.iter().map(|(v, d)| (v.dest.as_str(), d.clone())).collect::<Vec<_>>(),
            vec![("/a", PathBuf::from("/v/_data"))]
        );
        assert_eq!(p.share, vec![b.clone()]);
        assert!(p.warnings[0].contains("(/c) of the checkpointed container is gone"), "{:?}", p.warnings);
        assert!(p.body.unwrap()["HostConfig"]["Binds"].as_array().unwrap().contains(&json!(format!("{b}:/b"))));
    }

    #[test]
    fn the_network_holder_of_docker_28() {
        let cp = cp();
        let mut f = facts(&cp);
        f.generation = holder::generation("28.5.2", "1.51");
        assert_eq!(run(&cp, &opts(), &f).holder.as_deref(), Some("p2-c1-docker-cr-net"));
        f.holder = Some(json!({"Id": "h1", "Config": {"Labels": {holder::LABEL_HOLDER_FOR: "p2-c1"}}}));
        let p = run(&cp, &opts(), &f);
        assert_eq!((p.stale_holder.as_deref(), refusals(&p)), (Some("h1"), vec![]), "one left by a removed p2-c1");
        f.holder = Some(json!({"Id": "h2", "Config": {"Labels": {}}}));
        let r = refusals(&run(&cp, &opts(), &f));
        assert!(r[0].1.contains("a container named p2-c1-docker-cr-net exists"), "{r:?}");
        f.holder = None;
        f.arch = "aarch64".into();
        assert_eq!(refusals(&run(&cp, &opts(), &f))[0].0, 3);
    }

    #[test]
    fn another_engines_checkpoint() {
        let mut cp = cp();
        cp.provenance = Provenance::Unsigned;
        cp.origin = Origin::Unsigned;
        cp.converted = Some(crate::model::converted::Foreign {
            engine: crate::model::converted::Engine::Podman,
            container: "p2-c1".into(),
            id: cp.manifest.container.id.clone(),
            image: "docker-cr-test:busybox".into(),
            root_mode: Some(0o555),
            stand_ins: vec![],
            deleted: vec![],
            volumes: vec!["carried".into()],
        });
        cp.saved["Mounts"] = json!([{"Type": "volume", "Name": "data", "Destination": "/data"},
                                    {"Type": "volume", "Name": "carried", "Destination": "/c"}]);
        let mut f = facts(&cp);
        // Its ID is the archive's word: a stopped container of that ID is
        // not taken for its own.
        f.by_name = Some(existing(&cp, false));
        assert!(refusals(&run(&cp, &opts(), &f))[0].1.contains("already exists"));
        f.by_name = None;
        f.existing_named = vec!["data".into(), "carried".into()];
        let r = refusals(&run(&cp, &opts(), &f));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].1.contains("mounts the named volumes data in p2-c1, which its archive does not carry"), "{r:?}");
        let o = Options { allow_host_access: true, ..opts() };
        assert_eq!(refusals(&run(&cp, &o, &f)), vec![]);
        assert!(to_json(&cp, &run(&cp, &o, &f))["provenance"].as_str().unwrap().contains("made by Podman"));
    }

    #[test]
    fn an_existing_container_on_the_operators_word_meets_the_policy() {
        let mut cp = cp();
        cp.provenance = Provenance::Unsigned;
        cp.origin = Origin::Unsigned;
        let mut f = facts(&cp);
        let mut c = existing(&cp, false);
        c["HostConfig"]["Privileged"] = json!(true);
        f.by_name = Some(c);
        let r = refusals(&run(&cp, &opts(), &f));
        assert_eq!(r[0].0, 4);
        assert!(r[0].1.contains("privileged mode"), "{r:?}");
        assert_eq!(refusals(&run(&cp, &Options { allow_host_access: true, ..opts() }, &f)), vec![]);
    }

    #[test]
    fn paused_checkpoints_and_connections() {
        let mut cp = cp();
        cp.manifest.container.paused = true;
        assert!(run(&cp, &opts(), &facts(&cp)).paused);
        assert!(!run(&cp, &Options { unpause: true, ..opts() }, &facts(&cp)).paused);
        cp.manifest.options.tcp_established = false;
        assert_eq!(run(&cp, &opts(), &facts(&cp)).tcp, None);
    }
}
