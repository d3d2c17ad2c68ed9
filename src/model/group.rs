//! A group checkpoint: several containers (a Compose project, a list, the
//! containers of a label) saved at one instant, and kept, listed, moved and
//! restored as one. Its directory follows the pod layout checkpointctl and
//! the Kubernetes runtimes use for a pod (`pod.options` and one directory
//! per container, checkpointctl's `lib/metadata.go`), each member's
//! directory a complete checkpoint of its own (see `manifest`):
//!
//! ```text
//! <group-dir>/                 0700
//!   group.json                 this module's `GroupManifest`: the members in
//!                              restore order, their services, dependencies
//!                              and addresses, the networks and volumes
//!   group.sig                  its signature (as manifest.sig: the host key)
//!   pod.options                checkpointctl's CheckpointedPodOptions: version,
//!                              service (or name) → container, annotations
//!   pod.dump                   a CRI PodSandboxConfig-shaped summary
//!                              (metadata name = the group, labels)
//!   <container>/               one member: a checkpoint directory
//! ```
//!
//! The group manifest records each member's `manifest.json` digest, so the
//! group's signature covers every member: none can be swapped for another
//! checkpoint of the same name. Everything here is pure: reading the engine
//! and the files is `ops::group`'s.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::manifest as mf;

pub const GROUP: &str = "group.json";
pub const GROUP_SIG: &str = "group.sig";
pub const POD_OPTIONS: &str = "pod.options";
pub const POD_DUMP: &str = "pod.dump";
/// Bumped whenever a reader of the old format would get it wrong.
pub const FORMAT: u32 = 1;
/// The version checkpointctl's `CheckpointedPodOptions` carries.
pub const POD_OPTIONS_VERSION: u32 = 1;
/// The most members a group may have (a group is a project, not a host).
pub const MAX_MEMBERS: usize = 256;

/// Compose's labels (docker-compose 1.29 and Compose v2 set them alike).
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
/// Compose v2 only: `svc:condition:restart,svc2:…`.
pub const LABEL_DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// Names at the top of a group directory, which no member may have.
pub const RESERVED: &[&str] = &[GROUP, GROUP_SIG, POD_OPTIONS, POD_DUMP, "volumes", "docker-cr", "checkpoint"];

/// How the members were chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The running containers of a Compose project.
    Project,
    /// An explicit list.
    List,
    /// The running containers with these labels.
    Filter,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupManifest {
    pub format: u32,
    pub tool: String,
    pub created: u64,
    pub kind: Kind,
    /// The group's name: the project, the `--group` name.
    pub name: String,
    /// The Compose project, when the members are one's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `--filter` as given (`label=K=V`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
    /// In restore order: every member after those it depends on.
    pub members: Vec<Member>,
    pub networks: Vec<Network>,
    pub volumes: Vec<Volume>,
    /// The members were stopped after the checkpoint (`--stop`).
    pub stopped: bool,
    pub timings_ms: Timings,
    pub host: mf::Host,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The container's name at checkpoint time; also its directory's.
    pub container: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The members (container names) it depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// SHA-256 of its manifest.json's bytes.
    pub manifest_sha256: String,
    /// Its place on each user-defined network.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    #[serde(default)]
    pub ipv4: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
    /// The names it answers to on that network (the engine's own alias, the
    /// old container's short ID, left out).
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub subnet: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub driver: String,
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub enable_ipv6: bool,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The members that mount it.
    pub users: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub total: u64,
    /// From the first member's freeze to the last one's thaw (or kill): the
    /// time the group stood still.
    pub frozen: u64,
    /// Freezing every member, and thawing them again.
    pub freeze: u64,
    pub thaw: u64,
    /// From holding the members' networks (before the freeze) to letting
    /// them go (after the thaw): no data crossed between members then.
    #[serde(default)]
    pub network_held: u64,
    /// Each member's `criu dump`, by container.
    pub dumps: BTreeMap<String, u64>,
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn label<'a>(c: &'a Value, k: &str) -> Option<&'a str> {
    c["Config"]["Labels"][k].as_str()
}

/// A container's name without Docker's leading slash.
pub fn name_of(c: &Value) -> String {
    s(c, "/Name").trim_start_matches('/').to_string()
}

/// Whether the inspected container `c` is one of Compose project
/// `project`'s own service containers: labelled so, not a one-off
/// (`docker-compose run`), not a network holder of docker-cr's. Pure.
pub fn in_project(c: &Value, project: &str) -> bool {
    label(c, LABEL_PROJECT) == Some(project)
        && !label(c, LABEL_ONEOFF).is_some_and(|o| o.eq_ignore_ascii_case("true"))
        && label(c, crate::engine::holder::LABEL_HOLDER_FOR).is_none()
}

/// `label=K=V` or `label=K` (as `docker ps --filter` takes them) → (K, V).
pub fn parse_filter(f: &str) -> std::result::Result<(String, Option<String>), String> {
    let Some(rest) = f.strip_prefix("label=") else {
        return Err(format!("invalid filter '{f}': only label=KEY or label=KEY=VALUE is supported"));
    };
    let (k, v) = match rest.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (rest, None),
    };
    if k.is_empty() || k.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!("invalid filter '{f}': the label key is empty or has blanks"));
    }
    Ok((k.to_string(), v))
}

/// Whether `c` has every label of `filters`. Pure.
pub fn matches_filters(c: &Value, filters: &[(String, Option<String>)]) -> bool {
    filters.iter().all(|(k, v)| match (label(c, k), v) {
        (Some(have), Some(want)) => have == want,
        (Some(_), None) => true,
        (None, _) => false,
    })
}

/// Docker's RFC 3339 times ("2026-12-03T15:40:14.847054145Z") as numbers
/// that order correctly (the fraction has no fixed width). Pure.
pub fn created_key(t: &str) -> (u64, u64) {
    let digits = |x: &str| x.bytes().filter(u8::is_ascii_digit).fold(0u64, |a, b| a * 10 + u64::from(b - b'0'));
    let t = t.trim_end_matches('Z');
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let frac: String = frac.chars().take_while(char::is_ascii_digit).chain(std::iter::repeat('0')).take(9).collect();
    (digits(whole), digits(&frac))
}

/// Whom the inspected container `c` depends on, among `members` (their
/// inspect data): the services of Compose v2's depends_on label, the
/// container whose network it joins, its links and volumes-from. Pure.
pub fn depends_on(c: &Value, members: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let mut add = |n: String| {
        if !out.contains(&n) && n != name_of(c) {
            out.push(n);
        }
    };
    let by_ref = |r: &str| {
        let r = r.trim_start_matches('/');
        members.iter().find(|m| name_of(m) == r || (r.len() >= 12 && s(m, "/Id").starts_with(r))).map(name_of)
    };
    if let Some(list) = label(c, LABEL_DEPENDS_ON) {
        let project = label(c, LABEL_PROJECT);
        for svc in list.split(',').filter_map(|d| d.split(':').next()).filter(|d| !d.is_empty()) {
            for m in
                members.iter().filter(|m| label(m, LABEL_SERVICE) == Some(svc) && label(m, LABEL_PROJECT) == project)
            {
                add(name_of(m));
            }
        }
    }
    let mode = s(c, "/HostConfig/NetworkMode");
    if let Some(n) = mode.strip_prefix("container:").and_then(by_ref) {
        add(n);
    }
    for l in c["HostConfig"]["Links"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if let Some(n) = l.split(':').next().and_then(by_ref) {
            add(n);
        }
    }
    for v in c["HostConfig"]["VolumesFrom"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if let Some(n) = v.split(':').next().and_then(by_ref) {
            add(n);
        }
    }
    out
}

/// The members in restore order: each after those it depends on; among
/// those ready at once, the one created first (Compose creates a service's
/// dependencies before it, so for docker-compose 1.29, which records no
/// depends_on label, creation order is its dependency order), then by
/// name. `deps[i]`: indices member i depends on. A cycle is an error. Pure.
pub fn restore_order(
    created: &[(u64, u64)],
    names: &[String],
    deps: &[Vec<usize>],
) -> std::result::Result<Vec<usize>, String> {
    let n = names.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let ready = (0..n)
            .filter(|&i| !done[i] && deps[i].iter().all(|&d| d >= n || done[d] || d == i))
            .min_by(|&a, &b| (created[a], &names[a]).cmp(&(created[b], &names[b])));
        match ready {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                let left: Vec<&str> = (0..n).filter(|&i| !done[i]).map(|i| names[i].as_str()).collect();
                return Err(format!("the members {} depend on each other in a circle", left.join(", ")));
            }
        }
    }
    Ok(order)
}

/// Networks docker-cr never creates or records: the engine's own.
pub fn engine_network(name: &str) -> bool {
    matches!(name, "bridge" | "host" | "none" | "default" | "")
}

/// The member's place on each network it is on, from its inspect data
/// (`c`; a network holder's settings folded in). Pure.
pub fn endpoints(c: &Value) -> Vec<Endpoint> {
    let short: String = s(c, "/Id").chars().take(12).collect();
    let mut out: Vec<Endpoint> = c["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(net, e)| Endpoint {
            network: net.clone(),
            ipv4: s(e, "/IPAddress").to_string(),
            ipv6: s(e, "/GlobalIPv6Address").to_string(),
            aliases: e["Aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|a| *a != short && !a.is_empty())
                .map(str::to_string)
                .collect(),
            mac: s(e, "/MacAddress").to_string(),
        })
        .collect();
    out.sort_by(|a, b| a.network.cmp(&b.network));
    out
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object().into_iter().flatten().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string()))).collect()
}

/// A network as the engine describes it (`GET /networks/NAME`). Pure.
pub fn network_of(n: &Value) -> Network {
    Network {
        name: s(n, "/Name").to_string(),
        driver: s(n, "/Driver").to_string(),
        subnets: n["IPAM"]["Config"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| !s(c, "/Subnet").is_empty())
            .map(|c| Subnet {
                subnet: s(c, "/Subnet").to_string(),
                gateway: s(c, "/Gateway").to_string(),
                ip_range: s(c, "/IPRange").to_string(),
            })
            .collect(),
        internal: n["Internal"] == true,
        attachable: n["Attachable"] == true,
        enable_ipv6: n["EnableIPv6"] == true,
        options: string_map(&n["Options"]),
        labels: string_map(&n["Labels"]),
    }
}

/// The create request of a network like `n`: the same name, driver,
/// subnets and gateways (given explicitly, which also lets each member ask
/// for its old address), options and labels (Compose's among them, so
/// that Compose takes it for its own). Pure.
pub fn network_create_body(n: &Network) -> Value {
    let config: Vec<Value> = n
        .subnets
        .iter()
        .map(|sn| {
            let mut c = json!({ "Subnet": sn.subnet });
            if !sn.gateway.is_empty() {
                c["Gateway"] = json!(sn.gateway);
            }
            if !sn.ip_range.is_empty() {
                c["IPRange"] = json!(sn.ip_range);
            }
            c
        })
        .collect();
    json!({
        "Name": n.name,
        "Driver": if n.driver.is_empty() { "bridge" } else { n.driver.as_str() },
        "CheckDuplicate": true,
        "Internal": n.internal,
        "Attachable": n.attachable,
        "EnableIPv6": n.enable_ipv6,
        "IPAM": { "Driver": "default", "Config": config },
        "Options": n.options,
        "Labels": n.labels,
    })
}

/// checkpointctl's `pod.options` (lib/metadata.go `CheckpointedPodOptions`):
/// the format version, each member's short name (its service, else its
/// container name) → its container name, and checkpointctl's pod
/// annotations (lib/annotations.go). Pure.
pub fn pod_options(m: &GroupManifest) -> Value {
    let containers: BTreeMap<String, String> = m
        .members
        .iter()
        .map(|x| (x.service.clone().unwrap_or_else(|| x.container.clone()), x.container.clone()))
        .collect();
    json!({
        "version": POD_OPTIONS_VERSION,
        "containers": containers,
        "annotations": {
            "org.criu.checkpoint.engine.name": "docker-cr",
            "org.criu.checkpoint.engine.version": m.tool.trim_start_matches("docker-cr "),
            "org.criu.checkpoint.pod.name": m.name,
            "org.criu.checkpoint.criu.version": m.host.criu,
            "org.criu.checkpoint.host.arch": m.host.arch,
            "org.criu.checkpoint.host.kernel": m.host.kernel,
            "org.criu.checkpoint.cgroup.version": m.host.cgroup.to_string(),
        },
    })
}

/// `pod.dump`: what CRI-O and containerd keep there is the pod's
/// PodSandboxConfig; a group has none, so this is one in that shape that
/// says what it can: the group's name, the project as its namespace. Pure.
pub fn pod_dump(m: &GroupManifest) -> Value {
    let mut labels = BTreeMap::new();
    if let Some(p) = &m.project {
        labels.insert(LABEL_PROJECT.to_string(), p.clone());
    }
    json!({
        "metadata": { "name": m.name, "namespace": m.project.clone().unwrap_or_default(), "uid": "", "attempt": 0 },
        "labels": labels,
        "annotations": { "org.docker-cr.group.kind": m.kind, "org.docker-cr.group.members": m.members.len().to_string() },
    })
}

pub fn to_json(m: &GroupManifest) -> String {
    let mut t = serde_json::to_string_pretty(m).unwrap_or_default();
    t.push('\n');
    t
}

/// Parses and checks a group manifest read from `path`: its format, and
/// that its member names are plain, distinct, and none of the layout's
/// own (they name directories). Pure apart from naming `path`.
pub fn parse(bytes: &[u8], path: &Path) -> Result<GroupManifest> {
    let bad = |why: String| {
        Error::checkpoint(
            format!("{}: {why}", path.display()),
            "the group checkpoint is damaged or was not written by docker-cr",
        )
    };
    let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let format = v["format"].as_u64().ok_or_else(|| bad("no format version".into()))?;
    if format != u64::from(FORMAT) {
        return Err(Error::checkpoint(
            format!("{} has format {format}; this docker-cr reads group format {FORMAT}", path.display()),
            "restore it with the docker-cr version that wrote it (see \"tool\" in it)",
        ));
    }
    let m: GroupManifest = serde_json::from_value(v).map_err(|e| bad(format!("incomplete: {e}")))?;
    if m.members.is_empty() || m.members.len() > MAX_MEMBERS {
        return Err(bad(format!("{} members (1 to {MAX_MEMBERS} allowed)", m.members.len())));
    }
    if !crate::store::valid_name(&m.name) {
        return Err(bad(format!("the group name {:?} is not a valid name", m.name)));
    }
    let mut seen = std::collections::BTreeSet::new();
    for x in &m.members {
        if !crate::store::valid_name(&x.container) || RESERVED.contains(&x.container.as_str()) {
            return Err(bad(format!("the member name {:?} cannot name a directory of the group", x.container)));
        }
        if !seen.insert(x.container.as_str()) {
            return Err(bad(format!("the member {} is listed twice", x.container)));
        }
    }
    for x in &m.members {
        if let Some(d) = x.depends_on.iter().find(|d| !seen.contains(d.as_str())) {
            return Err(bad(format!("{} depends on {d}, which is not a member", x.container)));
        }
    }
    Ok(m)
}

/// SHA-256 of a member's manifest.json bytes, as the group records it.
pub fn manifest_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::model::trust::hex(&sha2::Sha256::digest(bytes))
}

/// The members `only` names (services or container names), in restore
/// order; all without `only`. An unknown name is an error listing the
/// members. Pure.
pub fn select<'a>(m: &'a GroupManifest, only: &[String]) -> std::result::Result<Vec<&'a Member>, String> {
    if only.is_empty() {
        return Ok(m.members.iter().collect());
    }
    for o in only {
        if !m.members.iter().any(|x| x.service.as_deref() == Some(o) || x.container == *o) {
            let have: Vec<String> = m
                .members
                .iter()
                .map(|x| match &x.service {
                    Some(s) => format!("{s} ({})", x.container),
                    None => x.container.clone(),
                })
                .collect();
            return Err(format!("the group {} has no member {o}; its members: {}", m.name, have.join(", ")));
        }
    }
    Ok(m.members.iter().filter(|x| only.iter().any(|o| x.service.as_deref() == Some(o) || x.container == *o)).collect())
}

#[cfg(test)]
pub fn tests_sample() -> GroupManifest {
    GroupManifest {
        format: FORMAT,
        tool: "docker-cr 0.1.0".into(),
        created: 1000,
        kind: Kind::Project,
        name: "shop".into(),
        project: Some("shop".into()),
        filters: vec![],
        members: vec![
            Member {
                container: "shop_redis_1".into(),
                id: "aaaa".repeat(16),
                service: Some("redis".into()),
                depends_on: vec![],
                manifest_sha256: "00".repeat(32),
                endpoints: vec![Endpoint {
                    network: "shop_default".into(),
                    ipv4: "172.18.0.2".into(),
                    aliases: vec!["redis".into()],
                    ..Endpoint::default()
                }],
            },
            Member {
                container: "shop_app_1".into(),
                id: "bbbb".repeat(16),
                service: Some("app".into()),
                depends_on: vec!["shop_redis_1".into()],
                manifest_sha256: "11".repeat(32),
                endpoints: vec![],
            },
        ],
        networks: vec![Network {
            name: "shop_default".into(),
            driver: "bridge".into(),
            subnets: vec![Subnet { subnet: "172.18.0.0/16".into(), gateway: "172.18.0.1".into(), ..Subnet::default() }],
            ..Network::default()
        }],
        volumes: vec![],
        stopped: false,
        timings_ms: Timings::default(),
        host: mf::tests_sample().host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, id: &str, labels: Value, hc: Value) -> Value {
        json!({"Name": format!("/{name}"), "Id": id, "Config": {"Labels": labels}, "HostConfig": hc})
    }

    #[test]
    fn compose_members_and_filters() {
        let app = c("shop_app_1", "a1", json!({LABEL_PROJECT: "shop", LABEL_ONEOFF: "False"}), json!({}));
        let run = c("shop_app_run_1", "a2", json!({LABEL_PROJECT: "shop", LABEL_ONEOFF: "True"}), json!({}));
        let holder =
            c("x-docker-cr-net", "a3", json!({LABEL_PROJECT: "shop", "org.docker-cr.net-holder-for": "x"}), json!({}));
        assert!(in_project(&app, "shop") && !in_project(&app, "other"));
        assert!(!in_project(&run, "shop"), "a docker-compose run container is not part of the project's group");
        assert!(!in_project(&holder, "shop"));
        assert_eq!(parse_filter("label=stack=shop"), Ok(("stack".into(), Some("shop".into()))));
        assert_eq!(parse_filter("label=a.b=c=d"), Ok(("a.b".into(), Some("c=d".into()))));
        assert_eq!(parse_filter("label=tier"), Ok(("tier".into(), None)));
        assert!(parse_filter("name=web").unwrap_err().contains("only label="));
        assert!(parse_filter("label==x").is_err());
        let f = vec![("com.docker.compose.project".to_string(), Some("shop".to_string()))];
        assert!(matches_filters(&app, &f) && !matches_filters(&c("x", "i", json!(null), json!({})), &f));
        assert!(matches_filters(&app, &[(LABEL_ONEOFF.into(), None)]));
    }

    #[test]
    fn times_order_whatever_their_fraction() {
        assert!(created_key("2026-12-03T15:40:14.84705Z") < created_key("2026-12-03T15:40:14.847054145Z"));
        assert!(created_key("2026-12-03T15:40:14.9Z") > created_key("2026-12-03T15:40:14.847054145Z"));
        assert!(created_key("2026-12-03T15:40:15Z") > created_key("2026-12-03T15:40:14.999Z"));
        assert_eq!(created_key(""), (0, 0));
    }

    #[test]
    fn dependencies_and_restore_order() {
        let redis = c(
            "shop_redis_1",
            "r".repeat(64).as_str(),
            json!({LABEL_PROJECT: "shop", LABEL_SERVICE: "redis"}),
            json!({}),
        );
        let db =
            c("shop_db_1", "d".repeat(64).as_str(), json!({LABEL_PROJECT: "shop", LABEL_SERVICE: "db"}), json!({}));
        let app = c(
            "shop_app_1",
            "a".repeat(64).as_str(),
            json!({LABEL_PROJECT: "shop", LABEL_SERVICE: "app", LABEL_DEPENDS_ON: "redis:service_started:false,db:service_healthy:true"}),
            json!({}),
        );
        let side = c(
            "side",
            "s".repeat(64).as_str(),
            json!({}),
            json!({"NetworkMode": format!("container:{}", "a".repeat(64)), "Links": ["/shop_db_1:/side/db"], "VolumesFrom": ["shop_redis_1:ro"]}),
        );
        let all = vec![side.clone(), app.clone(), db.clone(), redis.clone()];
        assert_eq!(depends_on(&app, &all), vec!["shop_redis_1", "shop_db_1"]);
        assert_eq!(depends_on(&side, &all), vec!["shop_app_1", "shop_db_1", "shop_redis_1"]);
        assert!(depends_on(&redis, &all).is_empty());
        // docker-compose 1.29 records no dependencies: creation order.
        let names: Vec<String> = ["side", "app", "db", "redis"].map(String::from).to_vec();
        let created = vec![(9, 0), (5, 0), (1, 0), (1, 0)];
        let none = vec![vec![]; 4];
        assert_eq!(restore_order(&created, &names, &none).unwrap(), vec![2, 3, 1, 0], "same second: by name");
        // Dependencies win over creation times.
        let deps = vec![vec![1, 2, 3], vec![3, 2], vec![], vec![]];
        let created = vec![(0, 0), (0, 1), (9, 0), (8, 0)];
        assert_eq!(restore_order(&created, &names, &deps).unwrap(), vec![3, 2, 1, 0]);
        let cycle = vec![vec![1], vec![0], vec![], vec![]];
        assert!(restore_order(&created, &names, &cycle).unwrap_err().contains("side, app"));
    }

    #[test]
    fn endpoints_and_networks_from_the_engine() {
        let id = format!("d6380583304f{}", "0".repeat(52));
        let ctr = json!({"Id": id, "NetworkSettings": {"Networks": {
            "shop_default": {"IPAddress": "172.18.0.3", "Aliases": ["d6380583304f", "app"], "MacAddress": "02:42:ac:12:00:03"},
            "shop_back": {"IPAddress": "10.9.0.4", "Aliases": null}}}});
        let e = endpoints(&ctr);
        assert_eq!(e.iter().map(|e| e.network.as_str()).collect::<Vec<_>>(), ["shop_back", "shop_default"]);
        assert_eq!(e[1].aliases, vec!["app"], "the old short ID is no alias of the new container");
        assert_eq!((e[1].ipv4.as_str(), e[1].mac.as_str()), ("172.18.0.3", "02:42:ac:12:00:03"));
        let net = json!({"Name": "shop_default", "Driver": "bridge", "Attachable": true,
            "IPAM": {"Driver": "default", "Options": null, "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]},
            "Options": {}, "Labels": {"com.docker.compose.network": "default", "com.docker.compose.project": "shop"}});
        let n = network_of(&net);
        assert_eq!(
            n.subnets,
            vec![Subnet { subnet: "172.18.0.0/16".into(), gateway: "172.18.0.1".into(), ip_range: String::new() }]
        );
        assert!(n.attachable && !n.internal);
        let b = network_create_body(&n);
        assert_eq!(b["IPAM"]["Config"], json!([{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]));
        assert_eq!(b["Labels"]["com.docker.compose.project"], "shop");
        assert_eq!((b["Name"].as_str(), b["Driver"].as_str()), (Some("shop_default"), Some("bridge")));
        assert!(engine_network("bridge") && !engine_network("shop_default"));
    }

    #[test]
    fn pod_files_in_checkpointctls_shape() {
        let m = tests_sample();
        let o = pod_options(&m);
        assert_eq!(o["version"], 1);
        assert_eq!(o["containers"], json!({"app": "shop_app_1", "redis": "shop_redis_1"}));
        assert_eq!(o["annotations"]["org.criu.checkpoint.pod.name"], "shop");
        let d = pod_dump(&m);
        assert_eq!((d["metadata"]["name"].as_str(), d["labels"][LABEL_PROJECT].as_str()), (Some("shop"), Some("shop")));
    }

    #[test]
    fn group_manifests_round_trip_and_bad_ones_are_refused() {
        let m = tests_sample();
        let p = Path::new("/g/group.json");
        assert_eq!(parse(to_json(&m).as_bytes(), p).unwrap(), m);
        let bad = |edit: &dyn Fn(&mut Value)| {
            let mut v = serde_json::to_value(&m).unwrap();
            edit(&mut v);
            parse(v.to_string().as_bytes(), p).unwrap_err().to_string()
        };
        assert!(bad(&|v| v["format"] = json!(9)).contains("format 9"));
        assert!(bad(&|v| v["members"][1]["container"] = json!("../x")).contains("cannot name a directory"));
        assert!(bad(&|v| v["members"][1]["container"] = json!("group.json")).contains("cannot name a directory"));
        assert!(bad(&|v| v["members"][1]["container"] = json!("shop_redis_1")).contains("twice"));
        assert!(bad(&|v| v["members"][1]["depends_on"] = json!(["ghost"])).contains("not a member"));
        assert!(bad(&|v| v["members"] = json!([])).contains("0 members"));
        assert!(bad(&|v| v["name"] = json!("a/b")).contains("not a valid name"));
        assert!(parse(b"{", p).is_err());
    }

    #[test]
    fn only_some_members() {
        let m = tests_sample();
        assert_eq!(select(&m, &[]).unwrap().len(), 2);
        let one = select(&m, &["app".into()]).unwrap();
        assert_eq!(one.iter().map(|x| x.container.as_str()).collect::<Vec<_>>(), ["shop_app_1"]);
        assert_eq!(select(&m, &["shop_redis_1".into()]).unwrap()[0].service.as_deref(), Some("redis"));
        let e = select(&m, &["web".into()]).unwrap_err();
        assert!(e.contains("no member web") && e.contains("redis (shop_redis_1)"), "{e}");
    }
}
