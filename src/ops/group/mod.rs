//! Group checkpoints: a Compose project (`--project`), a list of containers
//! (`--group NAME C1 C2 …`) or the containers of a label (`--filter`),
//! checkpointed at one instant and restored as one. A group is a
//! composition of the one-container steps (`checkpoint::phases`,
//! `restore::run_checkpoint`), never a branch inside them:
//!
//! ```text
//! checkpoint  plan every member (checkpoint::plan_for) and the group's own
//!             refusals; prepare every member; freeze every member; hold
//!             their networks; dump and capture each (--jobs at a time);
//!             release the networks; thaw (or stop) every member; seal and
//!             publish each inside the group's partial directory; sign the
//!             group manifest; publish the group                checkpoint.rs
//! restore     open the group (its signature, each member's); plan: networks,
//!             volumes, members that exist; create what is missing; restore
//!             each member in dependency order keeping its address restore.rs
//! ```
//!
//! This file: what a group is made of, read from the engine (`Facts`), and
//! the group's plan (pure: every refusal of the group as a whole).

pub mod checkpoint;
pub mod restore;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::group::{self, Kind};
use crate::ops::checkpoint as single;
use crate::store::Location;

/// Which containers make the group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    /// The running service containers of this Compose project.
    Project(String),
    /// These containers (names or IDs).
    List(Vec<String>),
    /// The running containers with every one of these labels
    /// (`label=K=V` or `label=K`).
    Filter(Vec<String>),
}

/// `checkpoint --project/--group/--filter`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Options {
    pub select: Select,
    /// The group's name (its directory in the store): the project, the
    /// `--group` name, or the filter's label value.
    pub name: String,
    /// The store (a checkpoint name, or generated), or a directory.
    pub to: Location,
    /// How each member is checkpointed (`--stop`, CRIU's options, --dry-run);
    /// its container and location are the group's to set.
    pub member: single::Options,
    /// How many members are dumped at once (default: all of them).
    pub jobs: Option<usize>,
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn running(c: &Value) -> bool {
    c.pointer("/State/Running") == Some(&Value::Bool(true))
}

/// What the engine says about the group's would-be members, their
/// networks and volumes (`facts`).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Every container the selection names, inspected (a project's or a
    /// filter's: running or not).
    pub found: Vec<Value>,
    /// Names of a list that the engine does not know.
    pub unknown: Vec<String>,
    /// `GET /networks/NAME` of each user-defined network a member is on.
    pub networks: Vec<Value>,
    /// `GET /volumes/NAME` of each named volume a member mounts.
    pub volumes: Vec<Value>,
    /// The group's directory exists already.
    pub exists: bool,
}

/// The group, decided (the members' own plans are `checkpoint::Plan`s).
#[derive(Debug, Default)]
pub struct Plan {
    pub name: String,
    pub kind: Option<Kind>,
    pub project: Option<String>,
    /// Where the group goes, the sibling it is built in, and where what
    /// explains a failure is kept.
    pub dir: PathBuf,
    pub partial: PathBuf,
    pub failed: PathBuf,
    /// The members in restore order: (inspect data, depends on).
    pub members: Vec<(Value, Vec<String>)>,
    pub networks: Vec<group::Network>,
    pub volumes: Vec<group::Volume>,
    pub notes: Vec<String>,
    /// Why the run would stop before anything is frozen; empty: it goes.
    pub refusals: Vec<Error>,
}

/// Reads what the selection names from the engine.
pub fn facts(ctx: &crate::host::Ctx, o: &Options, dir: &Path) -> Result<Facts> {
    let e = &ctx.engine;
    let mut f = Facts::default();
    let inspect_all = |list: Vec<Value>| -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for c in list {
            if let Some(v) = e.inspect(c["Id"].as_str().unwrap_or(""))? {
                out.push(v);
            }
        }
        Ok(out)
    };
    match &o.select {
        Select::Project(p) => {
            let listed = e.list_with_label(&format!("{}={p}", group::LABEL_PROJECT), None)?;
            f.found = inspect_all(listed)?.into_iter().filter(|c| group::in_project(c, p)).collect();
        }
        Select::Filter(filters) => {
            let parsed: Vec<(String, Option<String>)> =
                filters.iter().filter_map(|x| group::parse_filter(x).ok()).collect();
            let first = match parsed.first() {
                Some((k, Some(v))) => format!("{k}={v}"),
                Some((k, None)) => k.clone(),
                None => return Ok(f),
            };
            f.found = inspect_all(e.list_with_label(&first, None)?)?
                .into_iter()
                .filter(|c| group::matches_filters(c, &parsed))
                .filter(|c| c["Config"]["Labels"][crate::engine::holder::LABEL_HOLDER_FOR].is_null())
                .collect();
        }
        Select::List(names) => {
            for n in names {
                match e.inspect(n)? {
                    Some(c) => f.found.push(c),
                    None => f.unknown.push(n.clone()),
                }
            }
        }
    }
    // A member restored behind a network holder (Docker >= 28): its
    // network is the holder's, as its checkpoint saves it.
    for c in f.found.iter_mut() {
        if let Some(h) = c["Config"]["Labels"][crate::engine::holder::LABEL_HOLDER].as_str().map(str::to_string) {
            if let Some(hc) = e.inspect(&h)? {
                crate::engine::holder::fold_into_saved(c, &hc);
            }
        }
    }
    let mut nets: Vec<String> = Vec::new();
    let mut vols: Vec<String> = Vec::new();
    for c in f.found.iter().filter(|c| running(c)) {
        for ep in group::endpoints(c) {
            if !group::engine_network(&ep.network) && !nets.contains(&ep.network) {
                nets.push(ep.network);
            }
        }
        for v in crate::formats::archive::named_volumes(c) {
            if !vols.contains(&v) {
                vols.push(v);
            }
        }
    }
    for n in nets {
        if let Some(v) = e.network(&n)? {
            f.networks.push(v);
        }
    }
    for v in vols {
        if let Some(info) = e.volume(&v)? {
            f.volumes.push(info);
        }
    }
    f.exists = std::fs::symlink_metadata(dir).is_ok();
    Ok(f)
}

/// The group's plan: its members in restore order, what it records of
/// their networks and volumes, and every refusal of the group as a whole
/// (each member's own are its `checkpoint::Plan`'s). `dir`: where it goes.
/// Its steps, in order. Pure.
pub fn plan(o: &Options, f: &Facts, dir: &Path) -> Plan {
    let mut p = Plan {
        name: o.name.clone(),
        dir: dir.to_path_buf(),
        kind: Some(match o.select {
            Select::Project(_) => Kind::Project,
            Select::List(_) => Kind::List,
            Select::Filter(_) => Kind::Filter,
        }),
        ..Plan::default()
    };
    let what = match &o.select {
        Select::Project(n) => format!("Compose project {n}"),
        Select::List(_) => format!("group {}", o.name),
        Select::Filter(fs) => format!("the containers with {}", fs.join(", ")),
    };
    plan_selection(o, f, &mut p);
    let owned = plan_members(o, f, &what, &mut p);
    plan_order(&owned, &what, &mut p);
    plan_project(o, &owned, &mut p);
    plan_networks(f, &owned, &mut p);
    plan_volumes(f, &owned, &mut p);
    plan_target(f, dir, &mut p);
    p
}

/// The selection itself: filters that do not parse, a list's names that
/// name no container.
fn plan_selection(o: &Options, f: &Facts, p: &mut Plan) {
    if let Select::Filter(fs) = &o.select {
        for x in fs {
            if let Err(e) = group::parse_filter(x) {
                p.refusals.push(Error::Usage(format!("{e}\nTry 'docker-cr checkpoint --help'.")));
            }
        }
    }
    if let Select::List(_) = &o.select {
        for n in &f.unknown {
            p.refusals.push(Error::container(
                format!("no such container: {n} (named in group {})", o.name),
                "check the names with 'docker ps'; nothing was frozen",
            ));
        }
    }
}

/// The members: a project's or a filter's running containers, a list's
/// named ones; refused when none, too many, named twice or named like the
/// group's own files.
fn plan_members(o: &Options, f: &Facts, what: &str, p: &mut Plan) -> Vec<Value> {
    // A project's or a filter's stopped containers are not part of it (as
    // `checkpoint --all` skips them); a list's are refused by their plans.
    let mut members: Vec<&Value> = Vec::new();
    for c in &f.found {
        if matches!(o.select, Select::List(_)) || running(c) {
            if members.iter().any(|m| s(m, "/Id") == s(c, "/Id")) {
                p.refusals.push(Error::Usage(format!(
                    "container {} is named twice in the group\nTry 'docker-cr checkpoint --help'.",
                    group::name_of(c)
                )));
                continue;
            }
            members.push(c);
        } else {
            p.notes.push(format!(
                "{} is not running ({}): not part of the group",
                group::name_of(c),
                s(c, "/State/Status")
            ));
        }
    }
    if members.is_empty() && p.refusals.is_empty() {
        p.refusals.push(Error::container(
            format!("{what} has no running container"),
            match &o.select {
                Select::Project(n) => format!("start it first (docker-compose -p {n} up -d), or check the name with 'docker ps --filter label={}={n}'", group::LABEL_PROJECT),
                _ => "check the selection with 'docker ps --filter ...'".to_string(),
            },
        ));
    }
    if members.len() > group::MAX_MEMBERS {
        p.refusals.push(Error::container(
            format!("{what} has {} containers; a group has at most {}", members.len(), group::MAX_MEMBERS),
            "checkpoint it in parts (--filter)",
        ));
    }
    for m in &members {
        let n = group::name_of(m);
        if group::RESERVED.contains(&n.as_str()) {
            p.refusals.push(Error::container(
                format!("container {n} has a name the group's layout uses for its own files"),
                "rename it (docker rename) to checkpoint it in a group",
            ));
        }
    }
    members.iter().map(|c| (*c).clone()).collect()
}

/// The restore order: dependencies first, then by creation.
fn plan_order(owned: &[Value], what: &str, p: &mut Plan) {
    let names: Vec<String> = owned.iter().map(group::name_of).collect();
    let deps: Vec<Vec<String>> = owned.iter().map(|c| group::depends_on(c, owned)).collect();
    let idx: Vec<Vec<usize>> =
        deps.iter().map(|d| d.iter().filter_map(|n| names.iter().position(|x| x == n)).collect()).collect();
    let created: Vec<(u64, u64)> = owned.iter().map(|c| group::created_key(s(c, "/Created"))).collect();
    match group::restore_order(&created, &names, &idx) {
        Ok(order) => p.members = order.into_iter().map(|i| (owned[i].clone(), deps[i].clone())).collect(),
        Err(why) => p
            .refusals
            .push(Error::container(format!("{what}: {why}"), "docker-cr restores a group in dependency order")),
    }
}

/// The Compose project it restores as, and a project's dependencies that
/// are not running (the group cannot hold them).
fn plan_project(o: &Options, owned: &[Value], p: &mut Plan) {
    if let Select::Project(proj) = &o.select {
        p.project = Some(proj.clone());
        for c in owned {
            if let Some(list) = c["Config"]["Labels"][group::LABEL_DEPENDS_ON].as_str() {
                for svc in list.split(',').filter_map(|d| d.split(':').next()).filter(|d| !d.is_empty()) {
                    let held = owned.iter().any(|m| m["Config"]["Labels"][group::LABEL_SERVICE] == svc);
                    if !held {
                        p.notes.push(format!(
                            "{} depends on the service {svc}, which has no running container: it is not in the group",
                            group::name_of(c)
                        ));
                    }
                }
            }
        }
    } else {
        // Another selection of one project's containers still restores as
        // that project's (Compose's labels are kept).
        let projects: Vec<&str> =
            owned.iter().filter_map(|c| c["Config"]["Labels"][group::LABEL_PROJECT].as_str()).collect();
        if !projects.is_empty() && projects.len() == owned.len() && projects.iter().all(|x| *x == projects[0]) {
            p.project = Some(projects[0].to_string());
        }
    }
}

/// The networks it records, and the members' endpoints it cannot.
fn plan_networks(f: &Facts, owned: &[Value], p: &mut Plan) {
    p.networks = f.networks.iter().map(group::network_of).collect();
    p.networks.sort_by(|a, b| a.name.cmp(&b.name));
    for c in owned {
        for ep in group::endpoints(c) {
            if group::engine_network(&ep.network) {
                if ep.network == "bridge" {
                    p.notes.push(format!(
                        "{} is on Docker's default bridge, where a restore cannot ask for an address: it gets a new one, and its connections to the other members close",
                        group::name_of(c)
                    ));
                }
            } else if !p.networks.iter().any(|n| n.name == ep.network) {
                p.notes.push(format!(
                    "the network {} of {} is gone from the engine: not recorded",
                    ep.network,
                    group::name_of(c)
                ));
            }
        }
    }
}

/// The named volumes it records, with their users.
fn plan_volumes(f: &Facts, owned: &[Value], p: &mut Plan) {
    for v in &f.volumes {
        let name = s(v, "/Name").to_string();
        let users: Vec<String> = owned
            .iter()
            .filter(|c| crate::formats::archive::named_volumes(c).contains(&name))
            .map(group::name_of)
            .collect();
        let map = |x: &Value| {
            x.as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        };
        p.volumes.push(group::Volume {
            name,
            driver: s(v, "/Driver").to_string(),
            labels: map(&v["Labels"]),
            options: map(&v["Options"]),
            users,
        });
    }
    p.volumes.sort_by(|a, b| a.name.cmp(&b.name));
}

/// Where it goes: a new directory, built beside it.
fn plan_target(f: &Facts, dir: &Path, p: &mut Plan) {
    if f.exists {
        p.refusals.push(Error::checkpoint(
            format!("{} already exists", dir.display()),
            "name a new checkpoint; docker-cr never overwrites one",
        ));
    }
    match single::partial_paths(dir) {
        Ok((partial, failed)) => (p.partial, p.failed) = (partial, failed),
        Err(e) => p.refusals.push(e),
    }
}

/// The group's name for a `--filter` without `--group`: the first
/// label's value, when it is a valid name. Pure.
pub fn name_from_filters(filters: &[String]) -> Option<String> {
    let (_, v) = group::parse_filter(filters.first()?).ok()?;
    v.filter(|v| crate::store::valid_name(v))
}

/// The group part of a `--dry-run` (the members' plans follow it). Pure.
pub fn describe(p: &Plan) -> String {
    let mut out = format!("group {} into {}\n", p.name, p.dir.display());
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("  {k:<13} {v}\n"));
    line(
        &mut out,
        "members",
        p.members
            .iter()
            .map(|(c, d)| {
                let svc =
                    c["Config"]["Labels"][group::LABEL_SERVICE].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
                let dep = if d.is_empty() { String::new() } else { format!(" after {}", d.join(", ")) };
                format!("{}{svc}{dep}", group::name_of(c))
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    line(
        &mut out,
        "freeze",
        "every member before the first dump; their networks held until the last dump; thawed after the last dump and file capture".into(),
    );
    if !p.networks.is_empty() {
        line(
            &mut out,
            "networks",
            p.networks
                .iter()
                .map(|n| {
                    format!(
                        "{} ({})",
                        n.name,
                        n.subnets.iter().map(|s| s.subnet.as_str()).collect::<Vec<_>>().join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    if !p.volumes.is_empty() {
        line(&mut out, "volumes", p.volumes.iter().map(|v| v.name.clone()).collect::<Vec<_>>().join(", "));
    }
    for n in &p.notes {
        out.push_str(&format!("  {n}\n"));
    }
    out
}

/// The group part of `--dry-run --format json`. Pure.
pub fn to_json(p: &Plan) -> Value {
    json!({
        "group": p.name,
        "kind": p.kind,
        "project": p.project,
        "checkpoint": p.dir,
        "members": p.members.iter().map(|(c, d)| json!({
            "container": group::name_of(c),
            "id": s(c, "/Id"),
            "service": c["Config"]["Labels"][group::LABEL_SERVICE],
            "depends_on": d,
        })).collect::<Vec<_>>(),
        "networks": p.networks,
        "volumes": p.volumes,
        "notes": p.notes,
    })
}

/// The refusals of a preview, the group's first, each member's after
/// (named), as the dry run lists them; the first is the real run's error.
pub fn refusal_lines(rs: &[Error]) -> String {
    let mut out = String::new();
    match rs.len() {
        0 => {}
        n => {
            out.push_str(&format!(
                "would be refused ({}):\n",
                if n == 1 { "1 reason".to_string() } else { format!("{n} reasons") }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ctr(name: &str, svc: &str, created: &str, running: bool) -> Value {
        json!({
            "Id": format!("{name}{}", "0".repeat(60)), "Name": format!("/{name}"), "Created": created,
            "State": {"Running": running, "Status": if running { "running" } else { "exited" }},
            "Config": {"Labels": {group::LABEL_PROJECT: "shop", group::LABEL_SERVICE: svc}},
            "HostConfig": {"NetworkMode": "shop_default", "Binds": ["shop_data:/data:rw"]},
            "NetworkSettings": {"Networks": {"shop_default": {"IPAddress": "172.18.0.2", "Aliases": [svc]}}},
            "Mounts": [{"Type": "volume", "Name": "shop_data", "Destination": "/data"}]
        })
    }
    fn opts(select: Select) -> Options {
        Options {
            select,
            name: "shop".into(),
            to: Location::Store(None),
            member: single::Options::new("", Location::Store(None)),
            jobs: None,
        }
    }
    fn facts() -> Facts {
        Facts {
            found: vec![
                ctr("shop_app_1", "app", "2026-12-03T15:40:14.9Z", true),
                ctr("shop_redis_1", "redis", "2026-12-03T15:40:14.84705Z", true),
                ctr("shop_init_1", "init", "2026-12-03T15:40:13Z", false),
            ],
            networks: vec![json!({"Name": "shop_default", "Driver": "bridge",
                "IPAM": {"Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]},
                "Labels": {"com.docker.compose.project": "shop"}})],
            volumes: vec![
                json!({"Name": "shop_data", "Driver": "local", "Labels": {"com.docker.compose.volume": "data"}}),
            ],
            ..Facts::default()
        }
    }

    #[test]
    fn a_projects_plan() {
        let p = plan(&opts(Select::Project("shop".into())), &facts(), Path::new("/s/shop/cp1"));
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        let names: Vec<String> = p.members.iter().map(|(c, _)| group::name_of(c)).collect();
        assert_eq!(names, ["shop_redis_1", "shop_app_1"], "created first, restored first");
        assert!(p.notes.iter().any(|n| n.contains("shop_init_1 is not running (exited)")), "{:?}", p.notes);
        assert_eq!((p.partial.clone(), p.failed.clone()), ("/s/shop/.cp1.partial".into(), "/s/shop/cp1.failed".into()));
        assert_eq!(p.networks[0].subnets[0].gateway, "172.18.0.1");
        assert_eq!(p.volumes[0].users, ["shop_app_1", "shop_redis_1"]);
        assert_eq!(p.project.as_deref(), Some("shop"));
        let d = describe(&p);
        assert!(d.contains("members       shop_redis_1 (redis), shop_app_1 (app)"), "{d}");
        assert_eq!(to_json(&p)["members"][1]["service"], "app");
    }

    #[test]
    fn every_refusal_of_a_group() {
        let mut f = Facts::default();
        let p = plan(&opts(Select::Project("shop".into())), &f, Path::new("/s/shop/x"));
        assert!(p.refusals[0].to_string().contains("Compose project shop has no running container"));
        f.unknown = vec!["ghost".into()];
        f.found = vec![ctr("a", "a", "", true), ctr("a", "a", "", true), ctr("group.json", "b", "", true)];
        f.exists = true;
        let p = plan(&opts(Select::List(vec!["a".into(), "a".into(), "ghost".into()])), &f, Path::new("/s/g/x"));
        let texts: Vec<String> = p.refusals.iter().map(|e| e.to_string()).collect();
        assert!(texts[0].starts_with("no such container: ghost"), "{texts:?}");
        assert!(texts[1].contains("named twice"), "{texts:?}");
        assert!(texts[2].contains("group.json has a name the group's layout uses"), "{texts:?}");
        assert!(texts[3].contains("already exists"), "{texts:?}");
        // A list's stopped container is a member its own plan refuses.
        let f = Facts { found: vec![ctr("a", "a", "", false)], ..Facts::default() };
        assert_eq!(plan(&opts(Select::List(vec!["a".into()])), &f, Path::new("/x")).members.len(), 1);
        let bad = plan(&opts(Select::Filter(vec!["name=x".into()])), &Facts::default(), Path::new("/x"));
        assert_eq!(bad.refusals[0].exit_code(), 2);
    }

    #[test]
    fn the_name_of_a_filtered_group() {
        assert_eq!(name_from_filters(&["label=stack=shop".into()]), Some("shop".into()));
        assert_eq!(name_from_filters(&["label=stack".into()]), None);
        assert_eq!(name_from_filters(&["label=x=a b".into()]), None);
    }
}
