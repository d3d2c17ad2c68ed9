//! `restore --project/--group`: a group checkpoint restored as one.
//!
//! ```text
//! open      the group manifest against its signature, and each member
//!           named (--only: those) against its own and the group's digest
//! facts     the engine's containers of the members' names, the networks
//!           and volumes the group names
//! plan      which members exist (refused, or --replace), which networks
//!           and volumes to create, which addresses can be kept (pure)
//! execute   remove what --replace replaces; create the networks (their
//!           subnets given, so that a member may ask for its old address)
//!           and the missing volumes; restore each member in dependency
//!           order with restore::run_checkpoint, its address kept where it
//!           can be, so that the TCP connections between members come back
//!           open on both ends; on a failure, undo what this run made
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::host::Ctx;
use crate::model::checkpoint::{Checkpoint, TrustPolicy};
use crate::model::group::{self, Endpoint, GroupManifest, Member};
use crate::model::manifest as mf;
use crate::model::trust::{self, KeyDir, Provenance};
use crate::ops::restore as single;
use crate::session::Session;
use crate::store::Location;

/// `restore --project/--group [--only S] [--replace]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Options {
    /// The group's name: its directory in the store (the project's name
    /// for --project); with an archive, what it must be (empty: any).
    pub name: String,
    /// --project: the group must be that Compose project's.
    pub project: bool,
    pub from: Location,
    /// Only these members (services or container names).
    pub only: Vec<String>,
    /// Remove the members that exist first.
    pub replace: bool,
    /// How each member is restored (trust, --allow-host-access, --unpause,
    /// --ignore-volumes, --dry-run); its container and source are the
    /// group's to set.
    pub member: single::Options,
}

/// A group checkpoint, opened: its manifest trusted, the members chosen
/// opened (each a trusted `Checkpoint`), in restore order.
#[derive(Debug, Clone)]
pub struct Opened {
    pub dir: PathBuf,
    pub manifest: GroupManifest,
    pub provenance: Provenance,
    pub members: Vec<(Member, Checkpoint)>,
}

/// Opens the group checkpoint at `dir` (`what` names it in refusals): who
/// may change it, the group manifest's signature against the keys this
/// host trusts (or `policy`), then each member `only` names (all without)
/// as a checkpoint of its own, whose manifest must be the one the group
/// signed.
pub fn open(dir: &Path, what: &str, policy: &TrustPolicy, keys: &KeyDir, only: &[String]) -> Result<Opened> {
    mf::check_owner(dir)?;
    let bytes = mf::read_limited(dir, group::GROUP, mf::MAX_MANIFEST)?.ok_or_else(|| {
        Error::checkpoint(
            format!("{} is not a group checkpoint: it has no {}", dir.display(), group::GROUP),
            "name a group checkpoint ('docker-cr ls' shows them with their members)",
        )
    })?;
    let sig = mf::read_limited(dir, group::GROUP_SIG, 64 << 10)?;
    let mut trusted = keys.trusted()?;
    for p in &policy.extra_keys {
        trusted.push(trust::read_pub(p)?);
    }
    let prov =
        trust::check(&bytes, sig.as_deref(), &trusted).map_err(|e| e.step(format!("group {}", dir.display())))?;
    if !policy.trust {
        if let Some(e) = trust::refusal(&prov, what, keys) {
            return Err(e);
        }
    }
    let m = group::parse(&bytes, &dir.join(group::GROUP))?;
    if m.host.arch != std::env::consts::ARCH {
        return Err(Error::checkpoint(
            format!("{what} was taken on {}; this host is {}", m.host.arch, std::env::consts::ARCH),
            "restore it on a host of the same architecture",
        ));
    }
    let chosen: Vec<Member> = group::select(&m, only)
        .map_err(|e| Error::Usage(format!("{e}\nTry 'docker-cr restore --help'.")))?
        .into_iter()
        .cloned()
        .collect();
    let mut members = Vec::new();
    for x in chosen {
        let mdir = dir.join(&x.container);
        let mbytes = mf::read_bytes(&mdir)?;
        if group::manifest_digest(&mbytes) != x.manifest_sha256 {
            return Err(Error::checkpoint(
                format!(
                    "{what}: the member {} is not the checkpoint the group signed (its manifest differs)",
                    x.container
                ),
                "the group was changed after it was signed; take it again, or copy it again from its source",
            ));
        }
        let cp = Checkpoint::open_as(&mdir, &format!("member {} of {what}", x.container), policy, keys)?;
        if cp.manifest.container.id != x.id {
            return Err(Error::checkpoint(
                format!("{what}: the member {} holds a checkpoint of another container", x.container),
                "the group checkpoint is damaged",
            ));
        }
        members.push((x, cp));
    }
    Ok(Opened { dir: dir.to_path_buf(), manifest: m, provenance: prov, members })
}

/// What the engine knows of the names the group uses.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The containers of the chosen members' names (inspect), if any.
    pub containers: BTreeMap<String, Value>,
    /// The group's networks that exist (`GET /networks/NAME`).
    pub networks: BTreeMap<String, Value>,
    /// The group's volumes that exist.
    pub volumes: BTreeMap<String, Value>,
}

pub fn facts(ctx: &Ctx, g: &Opened) -> Result<Facts> {
    let e = &ctx.engine;
    let mut f = Facts::default();
    for (x, _) in &g.members {
        if let Some(c) = e.inspect(&x.container)? {
            f.containers.insert(x.container.clone(), c);
        }
    }
    for n in &g.manifest.networks {
        if let Some(v) = e.network(&n.name)? {
            f.networks.insert(n.name.clone(), v);
        }
    }
    for v in &g.manifest.volumes {
        if let Some(info) = e.volume(&v.name)? {
            f.volumes.insert(v.name.clone(), info);
        }
    }
    Ok(f)
}

/// What becomes of one of the group's networks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetAction {
    /// Missing: created with its subnets.
    Create,
    /// There, with nobody on it: removed and created again with its
    /// subnets given, so that the engine lets members ask for addresses
    /// (it refuses that on a network whose subnet it chose itself).
    Recreate,
    /// There and in use: used as it is; members ask for their old address,
    /// and get a new one if the engine refuses.
    Use,
    /// There with other subnets: members get new addresses.
    Other(String),
}

/// A member's restore, decided.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MemberPlan {
    pub container: String,
    pub service: Option<String>,
    /// The network it is created on, and the address it asks for there.
    pub network: Option<String>,
    pub address: Option<String>,
    /// Why it gets a new address, if it does.
    pub new_address: Option<String>,
    /// Its other networks, which it is not connected to.
    pub not_connected: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Plan {
    pub members: Vec<MemberPlan>,
    pub networks: Vec<(group::Network, NetAction)>,
    /// Volumes to create (empty), and those there already.
    pub create_volumes: Vec<group::Volume>,
    pub existing_volumes: Vec<String>,
    /// Containers --replace removes first: (name, ID, its network holder).
    pub replace: Vec<(String, String, Option<String>)>,
    pub notes: Vec<String>,
    pub refusals: Vec<Error>,
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Network options docker-cr sets on its own word: they change nothing
/// outside the network. Others (a bridge's name, a host binding, another
/// driver) need --allow-host-access, as a container's host access does.
const SAFE_NET_OPTIONS: &[&str] = &[
    "com.docker.network.bridge.enable_icc",
    "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.driver.mtu",
];

/// The network a member is created on: its saved NetworkMode when that is
/// one of the group's (user-defined) networks.
fn primary(cp: &Checkpoint) -> Option<String> {
    let mode = s(&cp.saved, "/HostConfig/NetworkMode");
    (!group::engine_network(mode) && !mode.starts_with("container:")).then(|| mode.to_string())
}

/// The group's restore plan: its steps in the order the run takes them.
/// Pure.
pub fn plan(g: &Opened, o: &Options, f: &Facts) -> Plan {
    let mut p = Plan::default();
    plan_project(g, o, &mut p);
    plan_existing(g, o, f, &mut p);
    plan_networks(g, o, f, &mut p);
    plan_members(g, f, &mut p);
    plan_volumes(g, o, f, &mut p);
    p
}

/// `--project NAME` names the project the group is of.
fn plan_project(g: &Opened, o: &Options, p: &mut Plan) {
    let m = &g.manifest;
    if o.project && !o.name.is_empty() && m.project.as_deref() != Some(o.name.as_str()) {
        p.refusals.push(Error::checkpoint(
            format!(
                "{} is not a checkpoint of the Compose project {} (it is the group {}{})",
                g.dir.display(),
                o.name,
                m.name,
                m.project.as_ref().map(|x| format!(", of the project {x}")).unwrap_or_default()
            ),
            format!("restore it with --group {}", m.name),
        ));
    }
}

/// Members that exist: refused as a whole, or removed first (`--replace`).
fn plan_existing(g: &Opened, o: &Options, f: &Facts, p: &mut Plan) {
    let (m, name) = (&g.manifest, &g.manifest.name);
    let existing: Vec<(String, &Value)> = g
        .members
        .iter()
        .filter_map(|(x, _)| f.containers.get(&x.container).map(|c| (x.container.clone(), c)))
        .collect();
    if !existing.is_empty() {
        if o.replace {
            for (n, c) in &existing {
                let holder = c["Config"]["Labels"][crate::engine::holder::LABEL_HOLDER].as_str().map(str::to_string);
                p.replace.push((n.clone(), s(c, "/Id").to_string(), holder));
            }
        } else {
            let list: Vec<String> = existing.iter().map(|(n, c)| format!("{n} ({})", s(c, "/State/Status"))).collect();
            let down = match &m.project {
                Some(pr) => format!("docker-compose -p {pr} down"),
                None => {
                    format!("docker rm -f {}", existing.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(" "))
                }
            };
            p.refusals.push(Error::container(
                format!(
                    "{} of the {} members of group {name} exist already: {}",
                    existing.len(),
                    g.members.len(),
                    list.join(", ")
                ),
                format!("remove them first ({down}), restore with --replace to have docker-cr remove them, or --only the others"),
            ));
        }
    }
}

/// The containers `--replace` removes: they hold no address and no
/// network here.
fn replaced(p: &Plan) -> Vec<String> {
    p.replace.iter().map(|(_, id, _)| id.clone()).collect()
}

/// The networks the chosen members are on: created, created again (empty),
/// used as they are, or there with other subnets.
fn plan_networks(g: &Opened, o: &Options, f: &Facts, p: &mut Plan) {
    let replaced = replaced(p);
    let used: Vec<&str> = g.members.iter().flat_map(|(x, _)| x.endpoints.iter().map(|e| e.network.as_str())).collect();
    for n in g.manifest.networks.iter().filter(|n| used.contains(&n.name.as_str())) {
        let action = match f.networks.get(&n.name) {
            None => NetAction::Create,
            Some(have) => {
                let theirs: Vec<&str> = have["IPAM"]["Config"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| s(c, "/Subnet"))
                    .filter(|x| !x.is_empty())
                    .collect();
                let ours: Vec<&str> = n.subnets.iter().map(|x| x.subnet.as_str()).collect();
                let others: Vec<&str> = have["Containers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(id, _)| !replaced.contains(id))
                    .map(|(_, c)| s(c, "/Name"))
                    .collect();
                if theirs != ours {
                    NetAction::Other(format!(
                        "the network {} exists here with the subnets {} (the checkpoint's: {})",
                        n.name,
                        theirs.join(", "),
                        ours.join(", ")
                    ))
                } else if others.is_empty() {
                    NetAction::Recreate
                } else {
                    NetAction::Use
                }
            }
        };
        if matches!(action, NetAction::Create | NetAction::Recreate) && !o.member.allow_host_access {
            let driver_ok = n.driver.is_empty() || n.driver == "bridge";
            let odd: Vec<&String> = n.options.keys().filter(|k| !SAFE_NET_OPTIONS.contains(&k.as_str())).collect();
            if !driver_ok || !odd.is_empty() {
                p.refusals.push(Error::checkpoint(
                    format!(
                        "the group's network {} asks for {}, which docker-cr does not create on its own",
                        n.name,
                        if driver_ok {
                            format!("the options {}", odd.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))
                        } else {
                            format!("the driver {}", n.driver)
                        }
                    ),
                    "create it yourself first, or restore with --allow-host-access",
                ));
            }
        }
        if let NetAction::Other(why) = &action {
            p.notes.push(format!("{why}: the members on it get new addresses"));
        }
        p.networks.push((n.clone(), action));
    }
}

/// Each member: its network, and the address it asks for there.
fn plan_members(g: &Opened, f: &Facts, p: &mut Plan) {
    let replaced = replaced(p);
    for (x, cp) in &g.members {
        let net = primary(cp);
        let mut mp = MemberPlan {
            container: x.container.clone(),
            service: x.service.clone(),
            network: net.clone(),
            address: None,
            new_address: None,
            not_connected: x
                .endpoints
                .iter()
                .filter(|e| Some(&e.network) != net.as_ref())
                .map(|e| e.network.clone())
                .collect(),
        };
        let ep = x.endpoints.iter().find(|e| Some(&e.network) == net.as_ref());
        match (&net, ep) {
            (None, _) => {
                mp.new_address = Some(match s(&cp.saved, "/HostConfig/NetworkMode") {
                    m if m.starts_with("container:") => "it joins another container's network".into(),
                    "host" => "it uses the host's network".into(),
                    m => format!("it is on the engine's network {m}, where no address can be asked for"),
                });
            }
            (Some(n), None) => mp.new_address = Some(format!("the group does not record its address on {n}")),
            (Some(n), Some(ep)) => {
                let action = p.networks.iter().find(|(x, _)| &x.name == n).map(|(_, a)| a.clone());
                let taken = f.networks.get(n).and_then(|have| {
                    have["Containers"].as_object().into_iter().flatten().find_map(|(id, c)| {
                        let ip = s(c, "/IPv4Address").split('/').next().unwrap_or("");
                        (!replaced.contains(id) && ip == ep.ipv4).then(|| s(c, "/Name").to_string())
                    })
                });
                mp.new_address = match (action, taken) {
                    (None, _) => Some(format!("the group does not record the network {n}")),
                    (Some(NetAction::Other(_)), _) => Some(format!("the network {n} has other subnets here")),
                    (_, Some(who))
                        if matches!(p.networks.iter().find(|(x, _)| &x.name == n), Some((_, NetAction::Use))) =>
                    {
                        Some(format!("{} is taken by {who} on {n}", ep.ipv4))
                    }
                    _ if ep.ipv4.is_empty() => Some(format!("it had no IPv4 address on {n}")),
                    _ => None,
                };
                if mp.new_address.is_none() {
                    mp.address = Some(ep.ipv4.clone());
                }
            }
        }
        if !mp.not_connected.is_empty() {
            p.notes.push(format!(
                "{} was also on {}: it is restored on {} only (connect it with docker network connect); its connections over the others close",
                x.container,
                mp.not_connected.join(", "),
                net.as_deref().unwrap_or("its network")
            ));
        }
        p.members.push(mp);
    }
}

/// Volumes: missing ones are made (empty), as Compose would.
fn plan_volumes(g: &Opened, o: &Options, f: &Facts, p: &mut Plan) {
    let chosen: Vec<&str> = g.members.iter().map(|(x, _)| x.container.as_str()).collect();
    for v in g.manifest.volumes.iter().filter(|v| v.users.iter().any(|u| chosen.contains(&u.as_str()))) {
        if f.volumes.contains_key(&v.name) {
            p.existing_volumes.push(v.name.clone());
            continue;
        }
        if (v.driver != "local" || !v.options.is_empty()) && !o.member.allow_host_access {
            p.refusals.push(Error::checkpoint(
                format!(
                    "the group's volume {} is missing here, and its driver {} or options {:?} are not docker-cr's to set on its own (a local volume's options can mount host paths)",
                    v.name, v.driver, v.options
                ),
                format!("create it yourself first (docker volume create {}), or restore with --allow-host-access", v.name),
            ));
            continue;
        }
        p.notes.push(format!(
            "the volume {} is missing: created empty (a checkpoint in the store keeps no volume data; an archive does)",
            v.name
        ));
        p.create_volumes.push(v.clone());
    }
}

/// The member's checkpoint as its restore should see it: its alias names
/// on its network without the old container's short ID, and, when it can
/// keep it, its old address asked for there (a static address also makes
/// the restore bring back every TCP connection, see `restore::tcp_mode`).
/// Only the saved configuration read in memory changes.
pub fn with_address(cp: &Checkpoint, ep: Option<&Endpoint>, address: Option<&str>) -> Checkpoint {
    let mut c = cp.clone();
    let Some(ep) = ep else { return c };
    let key = ep.network.replace('~', "~0").replace('/', "~1");
    if let Some(e) = c.saved.pointer_mut(&format!("/NetworkSettings/Networks/{key}")) {
        e["Aliases"] = json!(ep.aliases);
        if let Some(ip) = address {
            let mut ipam = json!({ "IPv4Address": ip });
            if !ep.ipv6.is_empty() {
                ipam["IPv6Address"] = json!(ep.ipv6);
            }
            e["IPAMConfig"] = ipam;
        }
    }
    c
}

/// An engine's refusal of an asked-for address: the network's subnet is
/// the engine's own choice (Compose made it), or the address is in use.
fn address_refused(e: &Error) -> bool {
    let t = e.to_string();
    t.contains("user specified IP address is supported only") || t.contains("Address already in use")
}

/// The plan in words (`--dry-run`). Pure.
pub fn describe(g: &Opened, p: &Plan) -> String {
    let m = &g.manifest;
    let mut out = format!(
        "restore of the group {} ({} of its {} members) from {}\n",
        m.name,
        p.members.len(),
        m.members.len(),
        g.dir.display()
    );
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<13} {v}\n"));
    if !p.replace.is_empty() {
        line(
            &mut out,
            "replace",
            format!("removed first: {}", p.replace.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", ")),
        );
    }
    for (n, a) in &p.networks {
        let subnets = n.subnets.iter().map(|x| x.subnet.as_str()).collect::<Vec<_>>().join(", ");
        line(
            &mut out,
            "network",
            match a {
                NetAction::Create => format!("{} created ({subnets})", n.name),
                NetAction::Recreate => {
                    format!("{} removed and created again with its subnets given ({subnets}): nobody is on it", n.name)
                }
                NetAction::Use => format!("{} used as it is (others are on it)", n.name),
                NetAction::Other(why) => format!("{} used as it is: {why}", n.name),
            },
        );
    }
    for v in &p.create_volumes {
        line(&mut out, "volume", format!("{} created empty ({})", v.name, v.driver));
    }
    for v in &p.existing_volumes {
        line(&mut out, "volume", format!("{v} used as it is"));
    }
    for (i, mp) in p.members.iter().enumerate() {
        let svc = mp.service.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
        let addr = match (&mp.address, &mp.new_address, &mp.network) {
            (Some(a), _, Some(n)) => format!("{a} on {n} kept: its connections to the other members come back open"),
            (_, Some(why), _) => format!("a new address ({why}): its connections to the other members close"),
            _ => "a new address".into(),
        };
        line(&mut out, if i == 0 { "members" } else { "" }, format!("{}. {}{svc}: {addr}", i + 1, mp.container));
    }
    for n in &p.notes {
        out.push_str(&format!("  {n}\n"));
    }
    out
}

/// The plan as JSON (`--dry-run --format json`). Pure.
pub fn to_json(g: &Opened, p: &Plan) -> Value {
    json!({
        "group": g.manifest.name,
        "project": g.manifest.project,
        "checkpoint": g.dir,
        "members": p.members,
        "networks": p.networks.iter().map(|(n, a)| json!({"name": n.name, "subnets": n.subnets, "action": a})).collect::<Vec<_>>(),
        "create_volumes": p.create_volumes.iter().map(|v| &v.name).collect::<Vec<_>>(),
        "existing_volumes": p.existing_volumes,
        "replace": p.replace.iter().map(|r| &r.0).collect::<Vec<_>>(),
        "notes": p.notes,
    })
}

/// A finished group restore.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub dir: PathBuf,
    pub name: String,
    pub total: u64,
    pub members: Vec<single::Outcome>,
}

/// `--print-stats` of a group restore (microseconds).
pub fn stats_document(o: &Outcome) -> Value {
    json!({
        "docker_cr_restore_duration": o.total * 1000,
        "group": { "name": o.name, "checkpoint": o.dir, "members": o.members.len() },
        "container_statistics": o.members.iter().map(single::stats_json).collect::<Vec<_>>(),
    })
}

/// The group checkpoint `o` names: a directory, or the store's.
fn source(session: &Session, o: &Options) -> Result<PathBuf> {
    match &o.from {
        Location::Dir(d) => Ok(d.clone()),
        Location::Store(n) => Ok(crate::store::find_group(&session.store.root, &o.name, n.as_deref())?.path),
    }
}

/// One group restore from the store or a directory.
pub fn run(session: &Session, o: &Options) -> Result<Outcome> {
    session.cancel.arm();
    crate::host::require_root()?;
    let dir = source(session, o)?;
    // Held to the end: rm and prune leave a group in use alone.
    let _in_use = crate::store::hold_shared(&dir)?;
    let g = open(
        &dir,
        &format!("the group checkpoint {}", dir.display()),
        &o.member.trust_policy(),
        &session.keys,
        &o.only,
    )?;
    run_opened(session, o, &g)
}

/// `--dry-run`: the group's plan and each member's; nothing changes.
pub fn preview(session: &Session, o: &Options) -> Result<crate::ops::Preview> {
    crate::host::require_root()?;
    let dir = source(session, o)?;
    let g = open(
        &dir,
        &format!("the group checkpoint {}", dir.display()),
        &o.member.trust_policy(),
        &session.keys,
        &o.only,
    )?;
    preview_opened(session, o, &g, &[])
}

fn member_options(o: &Options, x: &Member, cp: &Checkpoint) -> single::Options {
    single::Options { container: x.container.clone(), from: Location::Dir(cp.dir.clone()), ..o.member.clone() }
}

fn endpoint<'a>(x: &'a Member, mp: &MemberPlan) -> Option<&'a Endpoint> {
    x.endpoints.iter().find(|e| Some(&e.network) == mp.network.as_ref())
}

/// The preview of an opened group; `arriving`: volumes an import would
/// create (and fill) before the restore.
pub fn preview_opened(session: &Session, o: &Options, g: &Opened, arriving: &[String]) -> Result<crate::ops::Preview> {
    let ctx = session.ctx_preview(true)?;
    let mut f = facts(ctx, g)?;
    for v in arriving {
        f.volumes.entry(v.clone()).or_insert(json!({ "Name": v, "Driver": "local" }));
    }
    let mut p = plan(g, o, &f);
    let mut text = describe(g, &p);
    let mut json = to_json(g, &p);
    let mut refusals = std::mem::take(&mut p.refusals);
    let group_refusals = refusals.len();
    let mut docs = Vec::new();
    for ((x, cp), mp) in g.members.iter().zip(&p.members) {
        let cp2 = with_address(cp, endpoint(x, mp), mp.address.as_deref());
        let (t, j, r) = single::preview_checkpoint(session, &member_options(o, x, cp), &cp2, false)?;
        text.push_str(&t);
        docs.push(j);
        // --replace removes the member first: what its plan says of the
        // container there now does not apply.
        let replaced = p.replace.iter().any(|(n, _, _)| n == &x.container);
        if let Some(r) = r.filter(|_| !replaced) {
            refusals.push(r);
        }
    }
    text.push_str(&super::refusal_lines(&refusals[..group_refusals]));
    match refusals.len() {
        0 => text.push_str(&format!(
            "would restore the group {} ({} members): nothing was changed (--dry-run)\n",
            g.manifest.name,
            p.members.len()
        )),
        n => text.push_str(&format!(
            "the group {} would be refused ({n} reason{} above)\n",
            g.manifest.name,
            if n == 1 { "" } else { "s" }
        )),
    }
    json["member_plans"] = Value::Array(docs);
    json["refusals"] = json!(refusals[..group_refusals]
        .iter()
        .map(|e| json!({"error": e.to_string(), "hint": e.hint(), "exit_status": e.exit_code()}))
        .collect::<Vec<_>>());
    json["would_restore"] = json!(refusals.is_empty());
    Ok((text, json, refusals.into_iter().next()))
}

/// What a group restore made, undone in reverse if a later step fails.
#[derive(Default)]
struct Made {
    networks: Vec<String>,
    volumes: Vec<String>,
    /// Restored members: (container ID, its network holder).
    containers: Vec<(String, Option<String>)>,
}

impl Made {
    fn undo(&self, ctx: &Ctx) -> Result<()> {
        let mut r = Ok(());
        for (id, holder) in self.containers.iter().rev() {
            r = r.and(ctx.engine.remove(id));
            if let Some(h) = holder {
                r = r.and(ctx.engine.remove(h));
            }
        }
        for v in &self.volumes {
            r = r.and(ctx.engine.remove_volume(v));
        }
        for n in &self.networks {
            r = r.and(ctx.engine.remove_network(n));
        }
        r
    }
}

/// Restored members whose network namespaces are held (`criu::hold_network`)
/// until the last member is restored; each one's lock records the hold, so
/// that a killed run's is undone by the next run.
#[derive(Default)]
struct Held {
    held: Vec<(crate::host::state::ContainerLock, i32, String)>,
}

impl Held {
    fn hold(&mut self, ctx: &Ctx, id: &str, name: &str, pid: i32) {
        if pid <= 0 {
            return;
        }
        let lock = match crate::host::state::ContainerLock::take(Path::new(crate::host::state::DIR), id, name) {
            Ok(l) => l,
            Err(e) => return ctx.out.warn(format!("{name}'s network is not held while the others are restored: {e}")),
        };
        let held = lock.set_held(pid).map_err(|e| e.to_string()).and_then(|()| crate::host::criu::hold_network(pid));
        match held {
            Ok(()) => self.held.push((lock, pid, name.to_string())),
            Err(e) => {
                let _ = lock.clear();
                ctx.out.warn(format!("{name}'s network is not held while the others are restored: {e}"));
            }
        }
    }

    fn release(&mut self, ctx: &Ctx) {
        for (lock, pid, name) in self.held.drain(..) {
            match crate::host::criu::release_network(pid) {
                Ok(()) => {
                    let _ = lock.clear();
                }
                Err(e) => ctx.out.warn(format!("{name}: {e}; the next docker-cr run lets it go")),
            }
        }
    }
}

/// The restore of an opened group (see the module doc).
pub fn run_opened(session: &Session, o: &Options, g: &Opened) -> Result<Outcome> {
    session.cancel.arm();
    let ctx = session.ctx(true)?;
    let t0 = std::time::Instant::now();
    let f = facts(ctx, g)?;
    let p = plan(g, o, &f);
    if let Some(first) = p.refusals.into_iter().next() {
        return Err(first.step(format!("restore of the group {} (nothing was changed)", g.manifest.name)));
    }
    ctx.out.step(format!(
        "restoring the group {} ({} members: {}) from {}",
        g.manifest.name,
        p.members.len(),
        p.members.iter().map(|m| m.container.as_str()).collect::<Vec<_>>().join(", "),
        g.dir.display()
    ));
    for n in &p.notes {
        ctx.out.step(n);
    }
    let mut made = Made::default();
    let mut held = Held::default();
    let r = (|| -> Result<Vec<single::Outcome>> {
        for (name, id, holder) in &p.replace {
            ctx.engine.remove(id).map_err(|e| e.step(format!("removing {name} (--replace)")))?;
            if let Some(h) = holder {
                ctx.engine
                    .remove(h)
                    .map_err(|e| e.step(format!("removing {name}'s network holder {h} (--replace)")))?;
            }
            ctx.out.step(format!("removed {name} ({}), which --replace replaces", crate::engine::docker::short_id(id)));
        }
        for (n, a) in &p.networks {
            match a {
                NetAction::Create | NetAction::Recreate => {
                    if *a == NetAction::Recreate {
                        ctx.engine
                            .remove_network(&n.name)
                            .map_err(|e| e.step(format!("removing the empty network {}", n.name)))?;
                    }
                    ctx.engine
                        .create_network(&group::network_create_body(n))
                        .map_err(|e| e.step(format!("creating the network {}", n.name)))?;
                    made.networks.push(n.name.clone());
                    ctx.out.step(format!(
                        "{} the network {} ({})",
                        if *a == NetAction::Recreate { "created again" } else { "created" },
                        n.name,
                        n.subnets.iter().map(|x| x.subnet.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                NetAction::Use | NetAction::Other(_) => {}
            }
        }
        for v in &p.create_volumes {
            let body = json!({ "Name": v.name, "Driver": v.driver, "DriverOpts": v.options, "Labels": v.labels });
            ctx.engine.create_volume_as(&body).map_err(|e| e.step(format!("creating the volume {}", v.name)))?;
            made.volumes.push(v.name.clone());
            ctx.out.step(format!("created the volume {} (empty)", v.name));
        }
        let mut outs = Vec::new();
        for ((x, cp), mp) in g.members.iter().zip(&p.members) {
            session.cancel.check()?;
            let mo = member_options(o, x, cp);
            let ep = endpoint(x, mp);
            let r = single::run_checkpoint(session, &mo, &with_address(cp, ep, mp.address.as_deref()));
            let r = match (r, &mp.address) {
                (Err(e), Some(a)) if address_refused(&e) => {
                    ctx.out.warn(format!(
                        "{} cannot have its address {a} back ({e}): restored with a new one; its connections to the other members close",
                        x.container
                    ));
                    single::run_checkpoint(session, &mo, &with_address(cp, ep, None))
                }
                (r, _) => r,
            };
            let out = r.map_err(|e| e.step(format!("member {}", x.container)))?;
            let c = ctx.engine.inspect(&out.id)?;
            let holder = c
                .as_ref()
                .and_then(|c| c["Config"]["Labels"][crate::engine::holder::LABEL_HOLDER].as_str().map(str::to_string));
            made.containers.push((out.id.clone(), holder));
            // Held until every member is back. A member restored later has
            // its address before its sockets: behind a network holder
            // (Docker >= 28), and on older engines too, whose sandbox (the
            // namespace with its address) is made before runc and CRIU
            // start. This one's retransmissions would reach that address
            // meanwhile and be answered with a reset, closing the connection
            // the restore brought back (seen: the app's list started again at
            // 1 on Docker 20.10, cgroup v2, with both connections "restored
            // open"). Held, they are dropped, and TCP retransmits once the
            // hold ends (its backoff may add a second or two).
            if outs.len() + 1 < p.members.len() {
                let pid = c.as_ref().and_then(|c| c.pointer("/State/Pid")).and_then(Value::as_i64).unwrap_or(0) as i32;
                held.hold(ctx, &out.id, &x.container, pid);
            }
            outs.push(out);
        }
        Ok(outs)
    })();
    held.release(ctx);
    match r {
        Ok(members) => {
            let total = t0.elapsed().as_millis() as u64;
            ctx.out.step(format!("restored the group {}: {} members in {total} ms", g.manifest.name, members.len()));
            Ok(Outcome { dir: g.dir.clone(), name: g.manifest.name.clone(), total, members })
        }
        Err(e) => {
            let undo = made.undo(ctx);
            if undo.is_ok() {
                ctx.out.step(format!("removed what this restore of the group {} had made", g.manifest.name));
            }
            let e = e.step(format!("restore of the group {}", g.manifest.name));
            let e = if p.replace.is_empty() {
                e
            } else {
                e.step(format!(
                    "(--replace had removed {} already)",
                    p.replace.iter().map(|r| r.0.as_str()).collect::<Vec<_>>().join(", ")
                ))
            };
            Err(e.with_cleanup(undo))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(mode: &str, name: &str, id: &str) -> Checkpoint {
        let mut m = mf::tests_sample();
        m.container.name = name.into();
        m.container.id = id.into();
        Checkpoint {
            dir: PathBuf::from(format!("/g/{name}")),
            manifest: m,
            saved: json!({"HostConfig": {"NetworkMode": mode},
                          "NetworkSettings": {"Networks": {mode: {"IPAMConfig": null, "IPAddress": "172.18.0.9", "Aliases": ["aaaaaaaaaaaa", "redis"]}}}}),
            provenance: Provenance::Unsigned,
            origin: crate::model::trust::Origin::Unsigned,
            converted: None,
        }
    }
    fn opened() -> Opened {
        let m = group::tests_sample();
        let members = vec![
            (m.members[0].clone(), cp("shop_default", "shop_redis_1", &m.members[0].id)),
            (m.members[1].clone(), cp("default", "shop_app_1", &m.members[1].id)),
        ];
        Opened { dir: "/s/shop/cp1".into(), manifest: m, provenance: Provenance::Unsigned, members }
    }
    fn opts() -> Options {
        Options {
            name: "shop".into(),
            project: true,
            from: Location::Store(None),
            only: vec![],
            replace: false,
            member: single::Options::default(),
        }
    }
    fn net(containers: Value) -> Value {
        json!({"Name": "shop_default", "IPAM": {"Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}, "Containers": containers})
    }

    #[test]
    fn after_compose_down_everything_is_made() {
        let p = plan(&opened(), &opts(), &Facts::default());
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        assert_eq!(p.networks.len(), 1);
        assert_eq!(p.networks[0].1, NetAction::Create);
        let r = &p.members[0];
        assert_eq!((r.network.as_deref(), r.address.as_deref()), (Some("shop_default"), Some("172.18.0.2")));
        assert!(p.members[1].new_address.as_ref().unwrap().contains("engine's network default"));
        let d = describe(&opened(), &p);
        assert!(d.contains("shop_default created (172.18.0.0/16)"), "{d}");
        assert!(d.contains("1. shop_redis_1 (redis): 172.18.0.2 on shop_default kept"), "{d}");
        assert_eq!(to_json(&opened(), &p)["networks"][0]["action"], "create");
    }

    #[test]
    fn networks_that_exist() {
        let mut f = Facts::default();
        f.networks.insert("shop_default".into(), net(json!({})));
        let p = plan(&opened(), &opts(), &f);
        assert_eq!(p.networks[0].1, NetAction::Recreate, "empty: made again with its subnet given");
        f.networks.insert("shop_default".into(), net(json!({"x1": {"Name": "other", "IPv4Address": "172.18.0.2/16"}})));
        let p = plan(&opened(), &opts(), &f);
        assert_eq!(p.networks[0].1, NetAction::Use);
        assert!(
            p.members[0].new_address.as_ref().unwrap().contains("172.18.0.2 is taken by other"),
            "{:?}",
            p.members[0]
        );
        f.networks.insert(
            "shop_default".into(),
            json!({"Name": "shop_default", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}]}, "Containers": {}}),
        );
        let p = plan(&opened(), &opts(), &f);
        assert!(matches!(p.networks[0].1, NetAction::Other(_)));
        assert!(p.members[0].address.is_none());
    }

    #[test]
    fn members_that_exist_are_refused_or_replaced() {
        let mut f = Facts::default();
        f.containers.insert(
            "shop_app_1".into(),
            json!({"Id": "c1", "State": {"Status": "running"}, "Config": {"Labels": {"org.docker-cr.net-holder": "shop_app_1-docker-cr-net"}}}),
        );
        let p = plan(&opened(), &opts(), &f);
        let e = p.refusals[0].to_string();
        assert!(e.contains("1 of the 2 members of group shop exist already: shop_app_1 (running)"), "{e}");
        assert!(p.refusals[0].hint().unwrap().contains("docker-compose -p shop down"));
        let p = plan(&opened(), &Options { replace: true, ..opts() }, &f);
        assert!(p.refusals.is_empty());
        assert_eq!(p.replace, vec![("shop_app_1".into(), "c1".into(), Some("shop_app_1-docker-cr-net".into()))]);
    }

    #[test]
    fn what_docker_cr_does_not_create_on_its_own() {
        let mut g = opened();
        g.manifest.networks[0].driver = "macvlan".into();
        g.manifest.volumes = vec![group::Volume {
            name: "shop_data".into(),
            driver: "local".into(),
            options: [("o".to_string(), "bind".to_string())].into(),
            users: vec!["shop_redis_1".into()],
            ..group::Volume::default()
        }];
        let p = plan(&g, &opts(), &Facts::default());
        let t: Vec<String> = p.refusals.iter().map(|e| e.to_string()).collect();
        assert!(t[0].contains("the driver macvlan") && t[1].contains("volume shop_data is missing"), "{t:?}");
        let mut o = opts();
        o.member.allow_host_access = true;
        assert!(plan(&g, &o, &Facts::default()).refusals.is_empty());
        g.manifest.volumes[0].options.clear();
        let p = plan(&g, &opts(), &Facts::default());
        assert_eq!(p.create_volumes.len(), 1);
    }

    #[test]
    fn the_address_is_asked_for_in_memory() {
        let g = opened();
        let ep = &g.manifest.members[0].endpoints[0];
        let c = with_address(&g.members[0].1, Some(ep), Some("172.18.0.2"));
        let e = &c.saved["NetworkSettings"]["Networks"]["shop_default"];
        assert_eq!(e["IPAMConfig"], json!({"IPv4Address": "172.18.0.2"}));
        assert_eq!(e["Aliases"], json!(["redis"]), "without the old container's short ID");
        let m = crate::model::manifest::tests_sample();
        assert_eq!(single::tcp_mode(&m, &c.saved), Some(crate::host::criu::TcpRestore::Established));
        let c = with_address(&g.members[0].1, Some(ep), None);
        assert_eq!(single::tcp_mode(&m, &c.saved), Some(crate::host::criu::TcpRestore::LocalOnly));
        assert!(address_refused(&Error::Docker {
            call: "POST /containers/create".into(),
            status: 400,
            message:
                "user specified IP address is supported only when connecting to networks with user configured subnets"
                    .into()
        }));
    }
}
