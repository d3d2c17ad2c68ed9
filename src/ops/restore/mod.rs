//! `docker-cr restore`: read the checkpoint → pick or create the target
//! container → apply the file changes → place the CRIU images where the
//! engine looks for a checkpoint → start it from there with the dump's
//! options in runc.conf → clean up after the engine.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::engine::docker;
use crate::engine::holder;
use crate::error::{Error, IoContext, Result};
use crate::formats::foreign::{self, Foreign};
use crate::host::cgroup;
use crate::host::criu::{self, RestoreOpts, TcpRestore};
use crate::host::runcconf::{self, RuncConf};
use crate::host::state;
use crate::host::{self, Ctx};
use crate::model::container::Publish;
use crate::model::container::{anonymous_volumes, AnonVolume};
use crate::model::manifest::{self as mf, Manifest};
use crate::model::rootfs;
use crate::model::trust;
use crate::report::Ticker;
use crate::session::Session;
use crate::store::Location;

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
}

impl Default for Location {
    fn default() -> Location {
        Location::Store(None)
    }
}

/// CRIU's last line of a successful restore.
const RESTORE_OK: &str = "Restore finished successfully";

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
    let (hc, grants) = crate::model::policy::host_config(&saved["HostConfig"], allow_host);
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

/// containerd unpacks every checkpoint it starts from into
/// /tmp/ctrd-checkpoint* and never removes it. Other tools' restores put
/// theirs there too, so ours are told apart by `marker`, a file with a name
/// unique to this run that we put into the checkpoint we hand the engine.
fn remove_our_ctrd_dirs(marker: &str) {
    for e in fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let d = e.path();
        if e.file_name().as_encoded_bytes().starts_with(b"ctrd-checkpoint")
            && fs::symlink_metadata(d.join(marker)).is_ok()
        {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// CRIU's stats-restore of a container just restored: runc has CRIU write it
/// into its work dir, which the shim (the parent of the container's first
/// process) reaches from its working directory.
fn restore_stats(ctx: &Ctx, id: &str) -> Option<serde_json::Map<String, Value>> {
    let pid = ctx.engine.inspect(id).ok()??.pointer("/State/Pid")?.as_i64()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:"))?.trim().to_string();
    let bundle = fs::read_link(format!("/proc/{ppid}/cwd")).ok()?;
    // containerd's shim v2 keeps runc's work dir behind the link `work`.
    let work = fs::canonicalize(bundle.join("work")).unwrap_or(bundle);
    let raw = mf::read_limited(&work, "stats-restore", 1 << 20).ok()??;
    crate::ops::inspect::stats(&raw, true).ok()
}

/// The checkpoint name the engine is given; unique to this run, since it
/// also names the marker of our unpacked copy (`marker`).
fn cp_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("docker-cr-{}-{nanos}", std::process::id())
}

/// The file that marks containerd's copy of checkpoint `cp_name` as ours.
fn marker(cp_name: &str) -> String {
    format!("{cp_name}.unpacked-for-docker-cr")
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The largest container.json accepted: inspect data is a few KiB.
const MAX_CONTAINER_JSON: u64 = 16 << 20;

/// Reads and checks the checkpoint directory before anything is changed:
/// who may change it, its signature against the keys this host trusts, its
/// manifest and the files it must have. The digests are checked by `run`.
pub fn load(dir: &Path, a: &Options, keys: &trust::KeyDir) -> Result<(Manifest, Value, trust::Provenance)> {
    let md = fs::metadata(dir).map_err(|e| {
        Error::checkpoint(
            format!("cannot open checkpoint directory {}: {e}", dir.display()),
            "name the directory 'docker-cr checkpoint' wrote",
        )
    })?;
    if !md.is_dir() {
        return Err(Error::checkpoint(
            format!("{} is not a directory", dir.display()),
            "name the directory 'docker-cr checkpoint' wrote",
        ));
    }
    mf::check_owner(dir)?;
    let bytes = mf::read_bytes(dir)?;
    let sig = mf::read_limited(dir, trust::SIG, 64 << 10)?;
    let mut trusted = keys.trusted()?;
    for p in &a.trust_keys {
        trusted.push(trust::read_pub(p)?);
    }
    let prov =
        trust::check(&bytes, sig.as_deref(), &trusted).map_err(|e| e.step(format!("checkpoint {}", dir.display())))?;
    // Trust before anything else is believed: an unsigned or untrusted
    // manifest is refused whatever it says (a damaged one too); only the
    // refusal's wording reads it, for the engine that made it.
    let parsed = mf::parse_bytes(&bytes, &dir.join(mf::MANIFEST));
    if !a.trust {
        if let (trust::Provenance::Unsigned, Some(engine)) =
            (&prov, parsed.as_ref().ok().and_then(|m| foreign::made_by(m)))
        {
            return Err(foreign_refusal(&format!("the checkpoint {}", dir.display()), engine));
        }
        if let Some(e) = trust::refusal(&prov, &format!("the checkpoint {}", dir.display()), keys) {
            return Err(e);
        }
    }
    let m = parsed?;
    if m.format < 2 && sig.is_some() {
        return Err(Error::checkpoint(
            format!("{}: a format {} manifest cannot be signed", dir.display(), m.format),
            "the checkpoint was tampered with",
        ));
    }
    if m.host.arch != std::env::consts::ARCH {
        return Err(Error::checkpoint(
            format!("{} was taken on {}; this host is {}", dir.display(), m.host.arch, std::env::consts::ARCH),
            "restore it on a host of the same architecture",
        ));
    }
    // What restore reads must be among the files the digests cover.
    let images = |f: &str| format!("{}/{f}", mf::IMAGES);
    for need in
        [mf::ROOTFS_DIFF.to_string(), mf::CONTAINER.to_string(), images("inventory.img"), images(mf::DESCRIPTORS)]
    {
        if !m.files.contains_key(&need) {
            return Err(Error::checkpoint(
                format!("{} lacks {need} (it is not in the manifest)", dir.display()),
                "the checkpoint is incomplete; take it again",
            ));
        }
    }
    let p = dir.join(mf::CONTAINER);
    let text = mf::read_limited(dir, mf::CONTAINER, MAX_CONTAINER_JSON)?.unwrap_or_default();
    let saved: Value = serde_json::from_slice(&text).map_err(|e| {
        Error::checkpoint(format!("{} is not valid JSON: {e}", p.display()), "the checkpoint is damaged")
    })?;
    Ok((m, saved, prov))
}

/// Why another engine's checkpoint is refused without --trust. Pure.
pub fn foreign_refusal(what: &str, engine: &str) -> Error {
    Error::checkpoint(
        format!(
            "{what} was made by {engine}, not signed by docker-cr; restore with --trust if you trust where it came from \
             (restoring runs its processes as root with the capabilities and credentials saved in it)"
        ),
        "nothing was created. Pass --trust to restore it on your word",
    )
}

enum Target {
    /// The container the checkpoint came from, stopped.
    Same(String),
    /// That container, on an engine that cannot restore into its network
    /// namespace (Docker >= 28): it is renamed aside, a new one of the same
    /// name is restored behind a network holder, and the old one is removed
    /// once that has worked (renamed back if not).
    Replace(String),
    Create,
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
    })
}

/// Where per-restore CRIU config files live (`org.criu.config`): they must
/// outlive the restore, since the container keeps the annotation and runc
/// reads the file again at each of its checkpoints and restores. A dot
/// directory of the default store, which the store's listing skips.
pub const CRIU_CONF_DIR: &str = "/var/lib/docker-cr/.criu";

/// What the file says once its restore is over: nothing for CRIU.
const CONF_DONE: &str = "# docker-cr: the restore that used this file is over; empty so that later checkpoints and\n# restores of this container by the engine get runc's defaults.\n";

/// A checkpoint of a container docker-cr restored carries docker-cr's own
/// annotation (a file of this host's, emptied after its restore): that one
/// is not the checkpoint asking for anything, and is left out; any other
/// annotation still goes through the policy.
fn drop_our_annotation(saved: &mut Value) {
    if let Some(a) = saved["HostConfig"]["Annotations"].as_object_mut() {
        if a.get("org.criu.config").and_then(Value::as_str).is_some_and(|p| p.starts_with(CRIU_CONF_DIR)) {
            a.remove("org.criu.config");
        }
    }
}

/// The `--print-stats` document of one restore.
pub fn stats_document(o: &Outcome) -> Value {
    json!({ "docker_cr_restore_duration": o.total * 1000, "container_statistics": [stats_json(o)] })
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
    let mut out = Outcome { dir: dir.clone(), ..Outcome::default() };
    let keys = &session.keys;
    let (m, saved, prov) = load(&dir, a, keys)?;
    let foreign = foreign::read(&dir, &m)?;
    let ctx = session.ctx(true)?;
    if let Some(f) = &foreign {
        ctx.out.step(format!(
            "archive made by {} (container {}, {}, image {}); the archive does not record {}'s version",
            f.engine.name(),
            f.container,
            docker::short_id(&f.id),
            f.image,
            f.engine.name()
        ));
    }
    match &prov {
        trust::Provenance::Trusted(k) => ctx.out.step(format!("signed by trusted key {}", k.line().trim_end())),
        other => ctx.out.step(format!(
            "warning: {} checkpoint restored on the operator's word (--trust)",
            if *other == trust::Provenance::Unsigned { "an unsigned" } else { "an untrusted" }
        )),
    }
    let t = std::time::Instant::now();
    let bytes = mf::verify(&dir, &m)?;
    out.verify = t.elapsed().as_millis() as u64;
    ctx.out.step(format!(
        "verified {} files ({:.1} MiB) against the manifest's {} digests in {} ms",
        m.files.len(),
        bytes as f64 / (1 << 20) as f64,
        if m.format >= 2 { "SHA-256" } else { "xxHash64" },
        t.elapsed().as_millis()
    ));
    let conf_dir = Path::new(runcconf::DEFAULT_DIR);
    if let Ok(Some(put_back)) = runcconf::recover(conf_dir) {
        match put_back.warning(conf_dir) {
            Some(w) => ctx.out.warn(w),
            None => ctx.out.step("put back /etc/criu/runc.conf left changed by an interrupted restore"),
        }
    }
    let src = &m.container;
    if a.container != src.name && !(a.container.len() >= 4 && src.id.starts_with(&a.container)) {
        return Err(Error::container(
            format!(
                "{} holds a checkpoint of container {} ({}), not of {}",
                dir.display(),
                src.name,
                docker::short_id(&src.id),
                a.container
            ),
            format!(
                "to restore it under another name: docker-cr restore --name {} {} {}",
                a.container,
                src.name,
                dir.display()
            ),
        ));
    }
    if m.host.cgroup != 0 && ctx.cgroup.number() != m.host.cgroup {
        ctx.out.step(format!(
            "note: checkpoint taken on cgroup v{}, restoring on cgroup v{}",
            m.host.cgroup,
            ctx.cgroup.number()
        ));
    }
    let name = a.name.clone().unwrap_or_else(|| src.name.clone());
    let gen = holder::generation(&ctx.docker_version, ctx.engine.api());
    let target = match ctx.engine.inspect(&name)? {
        Some(c) if is_running(&c) => return Err(running(&name, a)),
        // Another engine's checkpoint always makes a new container: its ID
        // is the archive's word, never a reason to reuse one of ours.
        Some(c) if s(&c, "/Id") == src.id && foreign.is_none() => {
            if !a.publish.is_empty() {
                return Err(Error::Usage(format!(
                    "--publish cannot change the ports of the existing container {name}\nTry 'docker-cr restore --help'."
                )));
            }
            if gen.needs_holder && holder::own_netns(s(&c, "/HostConfig/NetworkMode")) {
                Target::Replace(src.id.clone())
            } else {
                Target::Same(src.id.clone())
            }
        }
        Some(c) => {
            // A restore on Docker >= 28 may be replacing the checkpointed
            // container right now (it renamed it aside, see Target::Replace).
            let aside = format!("{name}-docker-cr-replaced");
            if ctx.engine.inspect(&src.id)?.is_some_and(|o| s(&o, "/Name").trim_start_matches('/') == aside) {
                let _busy = state::ContainerLock::take(Path::new(state::DIR), &src.id, &name)?;
                return Err(Error::container(
                    format!("an interrupted docker-cr restore left the checkpointed container as {aside} beside a new {name}"),
                    format!("remove {name} and rename {aside} back to {name} (docker rename), then restore again"),
                ));
            }
            return Err(Error::container(
                format!(
                    "a container named {name} already exists ({}) and is not the one checkpointed",
                    docker::short_id(s(&c, "/Id"))
                ),
                "remove it (docker rm) or restore under another name with --name NEW",
            ));
        }
        None => Target::Create,
    };

    // Replacing: held until the restore is over, like the lock of a
    // container restored into (see below); the old container must not be
    // renamed under a restore or checkpoint of it.
    let _replace_lock = match &target {
        Target::Replace(old) => {
            let l = state::ContainerLock::take(Path::new(state::DIR), old, &name)?;
            // Seen again under the lock: a restore that held it before us
            // may have started or replaced the container since.
            match ctx.engine.inspect(&name)? {
                Some(c) if is_running(&c) => return Err(running(&name, a)),
                Some(c) if s(&c, "/Id") == old => {}
                _ => {
                    return Err(Error::container(
                        format!("container {name} was replaced by another docker-cr restore meanwhile"),
                        "look at it with docker ps -a; restore again if needed",
                    ))
                }
            }
            Some(l)
        }
        _ => None,
    };
    let mut saved = saved;
    holder::drop_our_labels(&mut saved);
    drop_our_annotation(&mut saved);
    // The stand-ins for another engine's own mounts: from its archive, or
    // (a checkpoint of a container restored from one) copies of docker-cr's.
    let stand_ins = match &foreign {
        Some(f) => f.stand_ins.clone(),
        None => {
            let list = foreign::take_our_stand_ins(&mut saved);
            let c = if list.is_empty() { None } else { ctx.engine.inspect(&src.id)? };
            let own = stand_ins_source(matches!(prov, trust::Provenance::Trusted(_)), &src.name, c.as_ref());
            if let (Err(why), false) = (&own, list.is_empty()) {
                ctx.out.step(format!("the stand-ins of {name} start empty: {why}"));
            }
            foreign::only_copies_from(list, own.ok().as_deref())
        }
    };
    if let Some(f) = &foreign {
        refuse_host_volumes(ctx, &saved, f, a, &name)?;
    }
    let engine_name = foreign.as_ref().map_or("the other engine", |f| f.engine.name());
    // Anonymous volumes: adopted by the new container when nothing else
    // uses them (see `adopt_volumes`), shared by name otherwise.
    let mut shared = Vec::new();
    let mut adopt = Vec::new();
    if matches!(target, Target::Create) {
        for v in anonymous_volumes(&saved) {
            match ctx.engine.volume(&v.name)? {
                None => ctx.out.warn(format!(
                    "the anonymous volume {} ({}) of the checkpointed container is gone (docker rm -v?): the restored container gets a new, empty one",
                    docker::short_id(&v.name),
                    v.dest
                )),
                Some(info)
                    if info["Driver"] == "local"
                        && looks_anonymous(&v.name, &info)
                        && ctx.engine.volume_users(&v.name)?.is_empty() =>
                {
                    adopt.push((v, PathBuf::from(s(&info, "/Mountpoint"))))
                }
                Some(_) => {
                    ctx.out.step(format!(
                        "anonymous volume {} ({}) is in use by another container, or not one the engine made (local, unnamed): attached by name, shared",
                        docker::short_id(&v.name),
                        v.dest
                    ));
                    shared.push(v.name);
                }
            }
        }
    }

    let (id, made) = match &target {
        Target::Same(id) => {
            // The existing container keeps its HostConfig: on the operator's
            // word alone (--trust) it must not be one the policy refuses.
            if !matches!(prov, trust::Provenance::Trusted(_)) {
                if let Some(e) = same_refusal(&name, ctx.engine.inspect(id)?.as_ref(), a.allow_host_access) {
                    return Err(e);
                }
            }
            ctx.out.step(format!("restoring into the stopped container {name}"));
            (id.clone(), None)
        }
        Target::Replace(old) => {
            let aside = format!("{name}-docker-cr-replaced");
            ctx.engine.rename(old, &aside).map_err(|e| e.step(format!("renaming {name} aside to {aside}")))?;
            ctx.out.step(format!(
                "Docker {}.{} cannot restore into the network namespace of the existing container {name} ({}): \
                 renamed it to {aside}; a new {name} is restored behind a network holder, and {aside} is removed \
                 once that has worked",
                gen.version.0,
                gen.version.1,
                holder::NETNS_ISSUE
            ));
            match create(ctx, a, &saved, &name, gen, &shared, &dir, (&stand_ins, engine_name)) {
                Ok(m) => (m.id.clone(), Some(m)),
                Err(e) => {
                    let back = ctx.engine.rename(old, &name);
                    return Err(e.step(format!("restore of {name} from {}", dir.display())).with_cleanup(back));
                }
            }
        }
        Target::Create => {
            let m = create(ctx, a, &saved, &name, gen, &shared, &dir, (&stand_ins, engine_name))?;
            (m.id.clone(), Some(m))
        }
    };
    let criu_conf = match &made {
        Some(m) => m.criu_conf.clone(),
        // A container docker-cr restored before has its own file, which
        // runc reads instead of /etc/criu/runc.conf.
        None => ctx.engine.inspect(&id)?.and_then(|c| own_criu_conf(&c)),
    };
    // Held until the restore is over: another restore into the same stopped
    // container would take our moved-aside upper dir for a crash leftover
    // and put it back over the files we apply, and a checkpoint must not
    // dump a container we are still starting. A container we just created
    // is locked by its new ID, against a checkpoint of it.
    let mut adopted = Vec::new();
    let result = state::ContainerLock::take(Path::new(state::DIR), &id, &name).and_then(|_lock| {
        adopted = adopt_volumes(ctx, &id, &adopt)?;
        let job = Job { ctx, a, session, dir: &dir, m: &m, saved: &saved, foreign: foreign.as_ref() };
        restore_into(job, &id, &name, matches!(target, Target::Same(_)), criu_conf.as_deref(), &mut out)
    });
    match result {
        Ok(()) => {
            if let Target::Replace(old) = &target {
                match ctx.engine.remove(old) {
                    Ok(()) => ctx.out.step(format!("removed the replaced container ({})", docker::short_id(old))),
                    Err(e) => ctx.out.warn(format!(
                        "the replaced container {} could not be removed: {e}; remove it with docker rm",
                        docker::short_id(old)
                    )),
                }
            }
            for v in &adopted {
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
                "restored container {name} in {} ms; peak RSS of docker-cr: {} KiB",
                ctx.out.elapsed_ms(),
                ctx.out.peak_rss_kib()
            ));
            out.total = ctx.out.elapsed_ms();
            out.id = id;
            out.name = name;
            Ok(out)
        }
        Err(e) => {
            // The data goes back into the old volumes first; then what this
            // restore created goes, with its (now empty) new anonymous
            // volumes (shared ones are named, never removed).
            let back = adopted.iter().try_for_each(Adopted::put_back);
            let cleanup = match &made {
                Some(made) => {
                    let r = back
                        .and_then(|()| made.undo(ctx))
                        .and_then(|()| adopted.iter().try_for_each(|v| ctx.engine.remove_volume(&v.new)));
                    if r.is_ok() {
                        ctx.out.step(format!("removed what this restore had created for {name}"));
                    }
                    match &target {
                        Target::Replace(old) => r.and_then(|()| ctx.engine.rename(old, &name)),
                        _ => r,
                    }
                }
                None => back,
            };
            Err(e.step(format!("restore of {name} from {}", dir.display())).with_cleanup(cleanup))
        }
    }
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

/// Another engine's checkpoint may mount only the named volumes its
/// archive carries (created by `restore --import`) or that do not exist
/// here (Docker makes them empty): an existing one would be the host's
/// data, attached on the archive's word, so it needs --allow-host-access.
fn refuse_host_volumes(ctx: &Ctx, saved: &Value, f: &Foreign, a: &Options, name: &str) -> Result<()> {
    if a.allow_host_access {
        return Ok(());
    }
    let mut existing = Vec::new();
    for v in volume_names(saved).into_iter().filter(|v| !f.volumes.contains(v)) {
        if ctx.engine.volume(&v)?.is_some() {
            existing.push(v);
        }
    }
    if existing.is_empty() {
        return Ok(());
    }
    Err(Error::container(
        format!(
            "{}'s checkpoint mounts the named volumes {} in {name}, which its archive does not carry and which exist on this host",
            f.engine.name(),
            existing.join(", ")
        ),
        "restore with --allow-host-access to attach them as they are, or remove or rename them (docker volume rm)",
    ))
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

/// An anonymous volume's data moved into the new container's anonymous
/// volume for the same destination.
#[derive(Debug)]
struct Adopted {
    old: String,
    new: String,
    dest: String,
    old_dir: PathBuf,
    new_dir: PathBuf,
}

impl Adopted {
    /// Moves the data back into the old volume (a failed restore).
    fn put_back(&self) -> Result<()> {
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
fn adopt_volumes(ctx: &Ctx, id: &str, adopt: &[(AnonVolume, PathBuf)]) -> Result<Vec<Adopted>> {
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

/// What every step of one restore reads.
#[derive(Clone, Copy)]
struct Job<'a> {
    ctx: &'a Ctx,
    a: &'a Options,
    session: &'a Session,
    /// The checkpoint directory.
    dir: &'a Path,
    m: &'a Manifest,
    saved: &'a Value,
    /// Another engine's checkpoint (see `foreign`).
    foreign: Option<&'a Foreign>,
}

/// What a restore created: the container, its network holder, its CRIU
/// config file.
struct Made {
    id: String,
    holder: Option<String>,
    criu_conf: Option<PathBuf>,
    /// The private directory of the stand-ins bound into it.
    stand_ins: Option<PathBuf>,
}

impl Made {
    fn undo(&self, ctx: &Ctx) -> Result<()> {
        let r = ctx.engine.remove(&self.id);
        let h = self.holder.as_ref().map_or(Ok(()), |h| ctx.engine.remove(h));
        if let Some(p) = &self.criu_conf {
            let _ = fs::remove_file(p);
        }
        if let Some(d) = &self.stand_ins {
            let _ = fs::remove_dir_all(d);
        }
        r.and(h)
    }
}

/// The container's per-restore CRIU config file, if docker-cr gave it one.
fn own_criu_conf(c: &Value) -> Option<PathBuf> {
    let p = c["HostConfig"]["Annotations"]["org.criu.config"].as_str()?;
    let p = Path::new(p);
    (p.parent().and_then(Path::parent) == Some(Path::new(CRIU_CONF_DIR))).then(|| p.to_path_buf())
}

/// Label on a restored container: its CRIU config file, so that files of
/// removed containers can be told apart.
const LABEL_CRIU_CONF: &str = "org.docker-cr.criu-conf";
/// Label on a container restored from another engine's checkpoint: its
/// directory of stand-ins (see `foreign::make_stand_ins`).
const LABEL_STAND_INS: &str = "org.docker-cr.stand-ins";

/// This engine's directory of stand-in directories.
fn stand_ins_dir(ctx: &Ctx) -> PathBuf {
    let id: String = ctx.engine_id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    Path::new(foreign::STAND_INS_DIR).join(if id.is_empty() { "engine".to_string() } else { id })
}

/// Removes the stand-ins of containers that are gone (best effort, as
/// `remove_stale_confs`).
fn remove_stale_stand_ins(ctx: &Ctx) {
    let dir = stand_ins_dir(ctx);
    let Ok(entries) = fs::read_dir(&dir) else { return };
    let Ok(list) = ctx.engine.list_with_label(LABEL_STAND_INS, None) else { return };
    let referenced: Vec<PathBuf> =
        list.iter().filter_map(|c| c["Labels"][LABEL_STAND_INS].as_str()).map(PathBuf::from).collect();
    let dirs: Vec<(PathBuf, std::time::Duration)> = entries
        .flatten()
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?.elapsed().ok()?)))
        .collect();
    for p in stale_confs(&dirs, &referenced) {
        let _ = fs::remove_dir_all(p);
    }
}

/// This engine's directory of per-restore CRIU config files (engines on one
/// host share /var/lib).
fn criu_conf_dir(ctx: &Ctx) -> PathBuf {
    let id: String = ctx.engine_id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    Path::new(CRIU_CONF_DIR).join(if id.is_empty() { "engine".to_string() } else { id })
}

/// A name for this restore's CRIU config file.
fn criu_conf_path(ctx: &Ctx) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    criu_conf_dir(ctx).join(format!("restore-{}-{nanos}.conf", std::process::id()))
}

/// The files of `files` (name, age) no container refers to any more, old
/// enough not to be a file a restore running now has just made for the
/// container it is about to create. Pure.
pub fn stale_confs(files: &[(PathBuf, std::time::Duration)], referenced: &[PathBuf]) -> Vec<PathBuf> {
    const GRACE: std::time::Duration = std::time::Duration::from_secs(600);
    files.iter().filter(|(p, age)| *age > GRACE && !referenced.contains(p)).map(|(p, _)| p.clone()).collect()
}

/// Removes the CRIU config files of containers that are gone (best effort:
/// a file left over costs a few bytes).
fn remove_stale_confs(ctx: &Ctx) {
    let dir = criu_conf_dir(ctx);
    let Ok(entries) = fs::read_dir(&dir) else { return };
    let Ok(list) = ctx.engine.list_with_label(LABEL_CRIU_CONF, None) else { return };
    let referenced: Vec<PathBuf> =
        list.iter().filter_map(|c| c["Labels"][LABEL_CRIU_CONF].as_str()).map(PathBuf::from).collect();
    let files: Vec<(PathBuf, std::time::Duration)> = entries
        .flatten()
        .filter(|e| e.file_name().as_encoded_bytes().starts_with(b"restore-"))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?.elapsed().ok()?)))
        .collect();
    for p in stale_confs(&files, &referenced) {
        let _ = fs::remove_file(p);
    }
}

/// Creates the new container from the saved configuration (after the policy
/// check), with what this engine generation needs: its own CRIU config file
/// through `org.criu.config` (API >= 1.43), and on Docker >= 28 a network
/// holder for a container with a network namespace of its own.
#[allow(clippy::too_many_arguments)]
fn create(
    ctx: &Ctx,
    a: &Options,
    saved: &Value,
    name: &str,
    gen: holder::Generation,
    shared: &[String],
    dir: &Path,
    (stand_ins, engine): (&[foreign::StandIn], &str),
) -> Result<Made> {
    let image = pick_image(ctx, saved)?;
    let (body, grants) = create_body(saved, &image, &a.publish, a.allow_host_access, shared);
    if !grants.is_empty() && !a.allow_host_access {
        return Err(Error::checkpoint(
            format!(
                "the checkpoint asks for host access that docker-cr does not grant on its own:\n  - {}",
                grants.join("\n  - ")
            ),
            "nothing was created. If you want the restored container to have exactly that, restore with --allow-host-access",
        ));
    }
    for g in &grants {
        ctx.out.step(format!("granted (--allow-host-access): {g}"));
    }
    // Added by docker-cr after the policy check: not the checkpoint's asking.
    let mut body = body;
    let criu_conf = if gen.annotations {
        remove_stale_confs(ctx);
        let p = criu_conf_path(ctx);
        let dir = criu_conf_dir(ctx);
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).at("create", &dir)?;
        criu::rewrite_private(&p, CONF_DONE)?;
        body["HostConfig"]["Annotations"] = json!({ "org.criu.config": p.to_string_lossy() });
        if let Some(l) = body["Labels"].as_object_mut() {
            l.insert(LABEL_CRIU_CONF.into(), json!(p.to_string_lossy()));
        } else {
            body["Labels"] = json!({ LABEL_CRIU_CONF: p.to_string_lossy() });
        }
        Some(p)
    } else {
        None
    };
    let stand_ins = match (!stand_ins.is_empty()).then_some(stand_ins) {
        Some(list) => {
            remove_stale_stand_ins(ctx);
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let at = stand_ins_dir(ctx).join(format!("{}-{nanos}", std::process::id()));
            let made = foreign::make_stand_ins(list, dir, &at);
            let binds = match made {
                Ok(b) => b,
                Err(e) => {
                    let _ = fs::remove_dir_all(&at);
                    if let Some(p) = &criu_conf {
                        let _ = fs::remove_file(p);
                    }
                    return Err(e.step(format!("making the stand-ins for {engine}'s own mounts")));
                }
            };
            let mut all = body["HostConfig"]["Binds"].as_array().cloned().unwrap_or_default();
            all.extend(binds.iter().map(|b| json!(b)));
            body["HostConfig"]["Binds"] = Value::Array(all);
            if let Some(l) = body["Labels"].as_object_mut() {
                l.insert(LABEL_STAND_INS.into(), json!(at.to_string_lossy()));
            } else {
                body["Labels"] = json!({ LABEL_STAND_INS: at.to_string_lossy() });
            }
            ctx.out.step(format!(
                "standing in for {engine}'s own mounts, which Docker does not make: {} (in {}, kept while the container exists; a later restore removes it once the container is gone)",
                list.iter()
                    .map(|s| match &s.content {
                        foreign::Content::Tar(t) => format!("{} (private, with the archive's {t})", s.dest),
                        foreign::Content::Text(_) => format!("{} (a file like {engine}'s)", s.dest),
                        foreign::Content::Empty => format!("{} (empty)", s.dest),
                        foreign::Content::Copy(from) => format!("{} (a copy of {from})", s.dest),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                at.display()
            ));
            Some(at)
        }
        None => None,
    };
    let mode = s(&body, "/HostConfig/NetworkMode").to_string();
    let r = if mode.starts_with("container:") {
        create_plain(ctx, name, &holder::strip_for_joining(&body))
    } else if gen.needs_holder && holder::own_netns(&mode) {
        create_with_holder(ctx, name, &image, &body, gen)
    } else {
        create_plain(ctx, name, &body)
    };
    match r {
        Ok((id, holder)) => Ok(Made { id, holder, criu_conf, stand_ins }),
        Err(e) => {
            if let Some(p) = &criu_conf {
                let _ = fs::remove_file(p);
            }
            if let Some(d) = &stand_ins {
                let _ = fs::remove_dir_all(d);
            }
            Err(e)
        }
    }
}

fn create_plain(ctx: &Ctx, name: &str, body: &Value) -> Result<(String, Option<String>)> {
    let id = ctx.engine.create(name, body).map_err(|e| e.step(format!("creating container {name}")))?;
    ctx.out.step(format!("created container {name} ({})", docker::short_id(&id)));
    Ok((id, None))
}

/// Stopped network holders whose container is gone: those with a restart
/// policy (no AutoRemove) stay after their container's `docker rm`, and go
/// at the next restore on this engine. Best effort.
fn remove_orphan_holders(ctx: &Ctx) {
    let Ok(list) = ctx.engine.list_with_label(holder::LABEL_HOLDER_FOR, Some("exited")) else { return };
    for h in list {
        let (Some(id), Some(owner)) = (h["Id"].as_str(), h["Labels"][holder::LABEL_HOLDER_FOR].as_str()) else {
            continue;
        };
        let name = h["Names"][0].as_str().unwrap_or("").trim_start_matches('/');
        let held = match ctx.engine.inspect(owner) {
            Ok(Some(c)) => c["Config"]["Labels"][holder::LABEL_HOLDER] == name,
            Ok(None) => false,
            Err(_) => continue,
        };
        if !held && ctx.engine.remove(id).is_ok() {
            ctx.out.step(format!("removed {name}, the stopped network holder of a removed {owner}"));
        }
    }
}

/// The restored container first (the holder watches its directory), joined
/// to a holder that does not exist yet (the engine resolves the name at
/// start); then the holder, started at once so that it owns the addresses
/// and ports before the restore.
fn create_with_holder(
    ctx: &Ctx,
    name: &str,
    image: &str,
    body: &Value,
    gen: holder::Generation,
) -> Result<(String, Option<String>)> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(Error::host(
            format!(
                "Docker {}.{} cannot restore {name} into a new network namespace ({}), and docker-cr's network \
                 holder exists for x86-64 only so far",
                gen.version.0,
                gen.version.1,
                holder::NETNS_ISSUE
            ),
            "restore on an engine older than Docker 28, or on an x86-64 host",
        ));
    }
    let hname = holder::holder_name(name);
    remove_orphan_holders(ctx);
    if let Some(h) = ctx.engine.inspect(&hname)? {
        // One left by a restored container removed while the engine was
        // down (or before docker-cr had holders watch): its container is
        // gone, since the name is free.
        if h["Config"]["Labels"][holder::LABEL_HOLDER_FOR] == name {
            ctx.engine.remove(s(&h, "/Id"))?;
            ctx.out.step(format!("removed {hname}, a network holder left by a removed {name}"));
        } else {
            return Err(Error::container(
                format!("a container named {hname} exists; docker-cr needs that name for {name}'s network holder"),
                format!("remove or rename {hname}, or restore under another name with --name"),
            ));
        }
    }
    let split = holder::split(body, &hname);
    let id = ctx.engine.create(name, &split.restored).map_err(|e| e.step(format!("creating container {name}")))?;
    let holder_up = (|| -> Result<String> {
        let pause = holder::install_pause(Path::new(holder::PAUSE_PATH))?;
        let peer = ctx.root_dir.join("containers").join(&id);
        let hb = holder::holder_body(&split, image, &pause, &peer, name, &body["HostConfig"]["RestartPolicy"]);
        let hid = ctx.engine.create(&hname, &hb).map_err(|e| e.step(format!("creating the network holder {hname}")))?;
        ctx.engine.start(&hid).map_err(|e| {
            let _ = ctx.engine.remove(&hid);
            e.step(format!("starting the network holder {hname}"))
        })?;
        Ok(hid)
    })();
    match holder_up {
        Ok(hid) => {
            ctx.out.step(format!(
                "created container {name} ({}) behind the network holder {hname} ({}): Docker {}.{} cannot restore \
                 into a new network namespace ({}), so the holder owns {name}'s network, addresses and published \
                 ports, and goes when {name} is removed",
                docker::short_id(&id),
                docker::short_id(&hid),
                gen.version.0,
                gen.version.1,
                holder::NETNS_ISSUE
            ));
            Ok((id, Some(hid)))
        }
        Err(e) => Err(e.with_cleanup(ctx.engine.remove(&id))),
    }
}

/// The engine refused to start from the checkpoint before CRIU ran; said
/// plainly, with the upstream issue when it is the one Docker >= 28 has.
fn engine_refused(e: Error, ctx: &Ctx) -> Error {
    let msg = e.to_string();
    if msg.contains("/proc/0/ns/net") {
        return Error::host(
            format!(
                "Docker {} cannot start a checkpoint in a new network namespace ({}); CRIU never ran: {msg}",
                ctx.docker_version,
                holder::NETNS_ISSUE
            ),
            "restore it into a new container (docker rm it, or --name NEW): docker-cr then puts it behind a network holder",
        );
    }
    e.step("starting from the checkpoint (the engine refused before CRIU ran)")
}

fn is_running(c: &Value) -> bool {
    c.pointer("/State/Running") == Some(&Value::Bool(true))
        || c.pointer("/State/Restarting") == Some(&Value::Bool(true))
}

fn running(name: &str, a: &Options) -> Error {
    Error::container(
        format!("container {name} is running; docker-cr never restores over a running container"),
        if a.name.is_some() {
            "choose another --name".to_string()
        } else {
            format!("stop it (docker stop {name}) to restore into it, or restore a copy with --name NEW")
        },
    )
}

/// The saved image by name if the name still means the same image, else by ID.
fn pick_image(ctx: &Ctx, saved: &Value) -> Result<String> {
    let id = s(saved, "/Image");
    let named = s(saved, "/Config/Image");
    if !named.is_empty() && ctx.engine.image_id(named)?.as_deref() == Some(id) {
        return Ok(named.to_string());
    }
    if ctx.engine.image_id(id)?.is_some() {
        return Ok(id.to_string());
    }
    Err(Error::container(
        format!("the image of the checkpointed container ({named}, {id}) is not on this host"),
        "load the same image first (docker save on the source host, docker load here)",
    ))
}

fn restore_into(job: Job, id: &str, name: &str, same: bool, criu_conf: Option<&Path>, out: &mut Outcome) -> Result<()> {
    let Job { ctx, a, saved, .. } = job;
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
        return files_and_start(job, id, &upper, &c, criu_conf, out);
    }
    // The container the checkpoint came from: its files and restart policy
    // (set to "no" by a stopping checkpoint) stay as they were until the
    // restore has succeeded.
    let aside = rootfs::Aside::take(&upper)?;
    let policy = c["HostConfig"]["RestartPolicy"].clone();
    let r = ctx
        .engine
        .update_restart_policy(id, &saved["HostConfig"]["RestartPolicy"])
        .and_then(|()| files_and_start(job, id, &upper, &c, criu_conf, out));
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
    id: &str,
    upper: &Path,
    c: &Value,
    criu_conf: Option<&Path>,
    out: &mut Outcome,
) -> Result<()> {
    let Job { ctx, a, dir, m, .. } = job;
    let t = std::time::Instant::now();
    if let Some(f) = job.foreign {
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
    let cp_name = cp_name();
    let cp_parent = ctx.root_dir.join("containers").join(id).join("checkpoints");
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&cp_parent).at("create", &cp_parent)?;
    let cp_dir = cp_parent.join(&cp_name);
    let _ = fs::remove_dir_all(&cp_dir);
    // Joining another container's network namespace: CRIU must be told to
    // enter the one runc hands it rather than make a new one.
    let join_netns = s(c, "/HostConfig/NetworkMode").starts_with("container:");
    let tcp = tcp_mode(m, job.saved);
    let mut local_only = None;
    let placed = place_images(dir, m, &cp_dir, join_netns, tcp, &mut local_only).and_then(|()| {
        let p = cp_dir.join(marker(&cp_name));
        fs::write(&p, "").at("create", &p)
    });
    let cgroup_parent = s(c, "/HostConfig/CgroupParent");
    let paused = m.container.paused && !a.unpause;
    let spec = mf::read_limited(dir, mf::SPEC, MAX_CONTAINER_JSON)?.and_then(|b| serde_json::from_slice(&b).ok());
    let ext_mounts = symlinked_binds(c, spec.as_ref(), &resolve_link);
    for (dest, real) in &ext_mounts {
        ctx.out.step(format!("{dest}: its source is a symlink; CRIU is given {} instead", real.display()));
    }
    let t = std::time::Instant::now();
    let r = placed.and_then(|()| start(job, id, cgroup_parent, &cp_name, dir, criu_conf, paused, ext_mounts, out));
    out.start = t.elapsed().as_millis() as u64;
    let _ = fs::remove_dir_all(&cp_dir);
    if r.is_ok() {
        if let Some(note) = connections_note(dir, tcp, local_only.as_ref()) {
            ctx.out.step(note);
        }
    }
    r
}

/// CRIU's images as the manifest lists them (nothing else of `checkpoint/`
/// is placed, and only regular files, opened without following links):
/// small images are hard-linked (copied across filesystems); page images
/// become climbing symlinks, so the engine never streams them. With
/// `TcpRestore::LocalOnly`, `files.img` is placed rewritten (the
/// connections on the old address closed), and `local_only` says what
/// became of each connection.
fn place_images(
    dir: &Path,
    m: &Manifest,
    dst: &Path,
    join_netns: bool,
    tcp: Option<TcpRestore>,
    local_only: &mut Option<crate::model::sockets::LocalOnly>,
) -> Result<()> {
    let dir = fs::canonicalize(dir).at("resolve", dir)?;
    let root = fs::File::open(&dir).at("open", &dir)?;
    fs::DirBuilder::new().mode(0o700).create(dst).at("create", dst)?;
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
    if join_netns {
        join_netns_image(&root, &dir, m, dst)?;
    }
    Ok(())
}

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

/// Starts container `id` from the placed checkpoint `cp_name`; `paused`:
/// brings it back paused, without any of its code running (see `repause`).
#[allow(clippy::too_many_arguments)]
fn start(
    job: Job,
    id: &str,
    cgroup_parent: &str,
    cp_name: &str,
    cp_dir: &Path,
    criu_conf: Option<&Path>,
    paused: bool,
    ext_mounts: Vec<(String, PathBuf)>,
    out: &mut Outcome,
) -> Result<()> {
    let Job { ctx, m, saved, .. } = job;
    let logs = Path::new("/run/docker-cr");
    fs::DirBuilder::new().recursive(true).mode(0o700).create(logs).at("create", logs)?;
    let log = logs.join(format!("restore-{id}.log"));
    let _ = fs::remove_file(&log);
    let opts = RestoreOpts {
        tcp: tcp_mode(m, saved),
        ext_unix_sk: m.options.ext_unix_sk,
        file_locks: m.options.file_locks,
        cgroup_root_v2: (ctx.cgroup == cgroup::Version::V2).then(|| v2_cgroup(&ctx.cgroup_driver, cgroup_parent, id)),
        log_file: log.clone(),
        leave_stopped: paused,
        ext_mounts,
    };
    let text = criu::restore_config(&opts)?;
    // The restored processes' memory grows in the new container's cgroup:
    // its memory counter, or (no memory controller there, as on hybrid
    // hosts) the anonymous memory of the processes in it.
    let cg = v2_cgroup(&ctx.cgroup_driver, cgroup_parent, id);
    let (mem, procs) = if ctx.cgroup == cgroup::Version::V2 {
        (PathBuf::from(format!("/sys/fs/cgroup{cg}/memory.current")), PathBuf::from(format!("/sys/fs/cgroup{cg}")))
    } else {
        (
            PathBuf::from(format!("/sys/fs/cgroup/memory{cg}/memory.usage_in_bytes")),
            PathBuf::from(format!("/sys/fs/cgroup/freezer{cg}")),
        )
    };
    let ticker = Ticker::start(&ctx.out, "restoring memory".into(), m.sizes.pages_bytes, move || {
        match fs::read_to_string(&mem).ok().and_then(|t| t.trim().parse().ok()) {
            Some(b) => b,
            None => host::rss_anon(&host::cgroup_procs(&procs)),
        }
    });
    let started = match criu_conf {
        // The container's own file (org.criu.config): /etc/criu/runc.conf,
        // which every other runc checkpoint and restore reads, stays as it is.
        Some(p) => {
            criu::rewrite_private(p, &text)?;
            ctx.out.step(format!("starting the container from the checkpoint (CRIU options in {})", p.display()));
            let started = ctx.engine.start_from_checkpoint(id, cp_name);
            if let Err(e) = criu::rewrite_private(p, CONF_DONE) {
                ctx.out.warn(format!("{e}: later checkpoints of {id} by the engine would read this restore's options"));
            }
            started
        }
        None => {
            let dir = Path::new(runcconf::DEFAULT_DIR);
            let conf = RuncConf::install(dir, &text)?;
            ctx.out.step("starting the container from the checkpoint");
            let started = ctx.engine.start_from_checkpoint(id, cp_name);
            // At once: every runc checkpoint/restore on the host reads the file.
            match conf.remove() {
                Ok(put_back) => {
                    if let Some(w) = put_back.warning(dir) {
                        ctx.out.warn(w);
                    }
                }
                // The saved file stays, and the next docker-cr run puts it back;
                // the container itself is not the worse for it.
                Err(e) => ctx.out.warn(format!("{e}; the next docker-cr run puts it back")),
            }
            started
        }
    };
    drop(ticker);
    remove_our_ctrd_dirs(&marker(cp_name));
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    let ok = log_text.contains(RESTORE_OK);
    let started_failed = started.is_err();
    let result = match started {
        Err(e) => Err(e),
        Ok(()) if !ok => Err(Error::engine(
            "the engine started the container, but CRIU's log does not say the restore finished: it may have started from scratch",
            None,
        )),
        Ok(()) => Ok(()),
    };
    if let Err(e) = result {
        if log_text.is_empty() && started_failed {
            // CRIU never ran: there is no log to point at.
            return Err(engine_refused(e, ctx));
        }
        // Docker deletes the bundle, and the log with it: keep our copy.
        let kept = cp_dir.join(mf::RESTORE_LOG);
        let _ = fs::remove_file(&kept);
        let log_path =
            if !log_text.is_empty() && criu::write_private(&kept, &log_text).is_ok() { kept } else { log.clone() };
        return Err(Error::Criu {
            action: "restore",
            status: e.to_string(),
            log: log_path,
            excerpt: restore_excerpt(&log_text, cp_dir),
        });
    }
    let _ = fs::remove_file(&log);
    out.criu = restore_stats(ctx, id);
    if paused {
        repause(ctx, id)?;
        ctx.out.step("the container was paused at the checkpoint: restored paused (docker unpause to run it)");
    }
    Ok(())
}

/// The largest files.img rewritten (see `place_images`): a descriptor is
/// a few dozen bytes in it.
const MAX_FILES_IMG: u64 = 64 << 20;

/// What became of the checkpoint's TCP connections (see `tcp_mode`): the
/// rewrite's account (`local_only`), or, with the address kept, the
/// connections of its files.img; None when it has none or the image
/// cannot be read (the restore itself has succeeded: this is only a note).
fn connections_note(
    cp_dir: &Path,
    tcp: Option<TcpRestore>,
    local_only: Option<&crate::model::sockets::LocalOnly>,
) -> Option<String> {
    match (tcp?, local_only) {
        (TcpRestore::LocalOnly, Some(l)) => crate::model::sockets::local_only_note(l),
        (TcpRestore::LocalOnly, None) => None,
        (TcpRestore::Established, _) => {
            let bytes = mf::read_limited(cp_dir, &format!("{}/files.img", mf::IMAGES), MAX_FILES_IMG).ok()??;
            let n = crate::model::sockets::tcp(&bytes).ok()?.iter().filter(|s| s.connected).count();
            crate::model::sockets::restore_note(n)
        }
    }
}

/// CRIU's restore log excerpt, and the process it failed on, named by its
/// pid in the container and its command (from the checkpoint's core image).
fn restore_excerpt(log: &str, cp_dir: &Path) -> String {
    let mut e = criu::log_excerpt(log);
    if let Some(pid) = criu::restore_culprit(log) {
        let core = mf::read_limited(cp_dir, &format!("{}/core-{pid}.img", mf::IMAGES), 64 << 20).ok().flatten();
        let comm = core.as_deref().and_then(criu::comm_in_core);
        e.push_str(&format!(
            "\nnote: CRIU failed restoring process {pid}{} of the container",
            comm.map(|c| format!(" ({c})")).unwrap_or_default()
        ));
    }
    e
}

/// A checkpoint of a paused container: CRIU has left every restored task
/// stopped (`leave-stopped`: SIGSTOP before it let go of them), so none has
/// run a single instruction. The engine pauses the container (it freezes
/// the cgroup and records the state, so `docker unpause` works); then the
/// stopped tasks get SIGCONT: frozen, they go from the stop straight into
/// the freezer, and run only when unpaused. (CRIU's own freezer-state
/// restore is v1-only and invisible to the engine, and runc refuses to
/// pause a cgroup that is already frozen.) A failure here fails the
/// restore, which is rolled back as any other.
fn repause(ctx: &Ctx, id: &str) -> Result<()> {
    let c = ctx.engine.inspect(id)?.ok_or_else(|| Error::engine("the restored container vanished", None))?;
    let pid = c.pointer("/State/Pid").and_then(Value::as_i64).unwrap_or(0);
    let proc_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .at("read", Path::new(&format!("/proc/{pid}/cgroup")))
        .map_err(|e| e.step("finding the restored container's cgroup, to keep it paused"))?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = cgroup::freezer_dir(ctx.cgroup, &proc_cgroup, &mountinfo).ok_or_else(|| {
        Error::host(
            "cannot find the restored container's freezer cgroup, to keep it paused",
            "is cgroupfs mounted at /sys/fs/cgroup?",
        )
    })?;
    let freezer = cgroup::Freezer { version: ctx.cgroup, dir };
    ctx.engine.pause(id).map_err(|e| {
        e.step("pausing the restored container (its checkpoint was taken paused; --unpause restores it running)")
    })?;
    if !freezer.is_frozen()? {
        return Err(Error::engine(
            format!("the engine paused the restored container, but its cgroup {} is not frozen", freezer.dir.display()),
            None,
        ));
    }
    for p in freezer.pids()? {
        if let Some(pid) = rustix::process::Pid::from_raw(p) {
            // A task that is gone needs no waking.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
