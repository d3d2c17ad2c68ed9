//! Another engine's checkpoint archive (Podman's, or the kubelet's from
//! CRI-O or containerd: the layout checkpointctl reads) turned into
//! docker-cr's checkpoint model (DESIGN.md: one model, adapters). After
//! `archive::import` has unpacked it (openat2, sizes bounded), `adapt`
//! writes into the same directory what docker-cr's restore reads:
//!
//! ```text
//! container.json   inspect-like data synthesized from spec.dump and config.dump
//! foreign.json     what only another engine's checkpoint needs at restore:
//!                  the engine, the mode CRIU recorded for /, the stand-ins
//!                  for the engine's own bind mounts, the deleted paths
//! manifest.json    unsigned; `tool` names the engine that made it, so the
//!                  trust rules apply (refused unless --trust)
//! rootfs-diff.tar  Podman's form (no whiteouts), plain tar (containerd's gzip
//!                  is unpacked)
//! ```
//!
//! Nothing an archive asks for is granted here: host bind mounts,
//! privileges, capabilities and host namespaces become settings of the
//! synthesized HostConfig, which `policy` lists and refuses unless the
//! operator passes --allow-host-access. The engine's own bookkeeping mounts
//! (`/run/.containerenv`, `/dev/shm`, the kubelet's termination log) are
//! not host paths: they become stand-ins, made by docker-cr from nothing
//! but the archive's own bytes.
//!
//! The conversion functions are pure; `adapt` reads and writes the
//! directory, and `apply_files` (restore's edge) mounts the new container's
//! overlay to apply the file changes through its merged view.

use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path};

use serde_json::{json, Map, Value};

use crate::error::{Error, IoContext, Result};
use crate::formats::archive::{self, CONFIG_DUMP, DELETED_FILES, MAX_SMALL, SPEC_DUMP};
pub use crate::model::converted::{
    deleted_paths, made_by, read, valid_dest, Content, Engine, Foreign, StandIn, DEVSHM_TAR, FOREIGN, TOOL_SUFFIX,
};
use crate::model::img;
use crate::model::manifest::{self as mf, Manifest};

/// The engine that made an archive, as checkpointctl tells it: the spec's
/// `io.container.manager` annotation (`libpod`: Podman, `cri-o`), anything
/// else containerd. Pure.
pub fn engine(spec: &Value) -> Engine {
    match spec.pointer("/annotations/io.container.manager").and_then(Value::as_str) {
        Some("libpod") => Engine::Podman,
        Some("cri-o") => Engine::CriO,
        _ => Engine::Containerd,
    }
}

/// How one mount of spec.dump is carried into Docker.
#[derive(Debug, Clone, PartialEq)]
pub enum MountKind {
    /// Not a bind (proc, sysfs, devpts, the /dev tmpfs, cgroup...), or a
    /// bind Docker makes itself (/etc/hostname, /etc/hosts, /etc/resolv.conf).
    Docker,
    /// A tmpfs other than /dev and /dev/shm: HostConfig.Tmpfs.
    Tmpfs { dest: String, options: String },
    /// The engine's own bookkeeping: stood in for.
    StandIn(StandIn),
    /// A Podman named volume.
    Volume { name: String, dest: String },
    /// A host path: granted only with --allow-host-access.
    Host { source: String, dest: String, ro: bool },
}

/// Files the engines bind into containers; everything else of theirs is a
/// directory.
const FILE_STAND_INS: &[&str] = &["/run/.containerenv", "/dev/termination-log"];

/// Whether `source` is the engine's per-container bookkeeping rather than
/// a path of the user's: Podman's and CRI-O's `overlay-containers/<id>/
/// userdata`, containerd's state, the kubelet's per-container files. A
/// stand-in never reads its source, so a hostile archive gains nothing by
/// naming such a path. Pure.
pub fn is_bookkeeping(source: &str) -> bool {
    let parts: Vec<&str> = source.split('/').collect();
    let podman = parts.windows(3).any(|w| w[0] == "overlay-containers" && !w[1].is_empty() && w[2] == "userdata");
    let kubelet = source.starts_with("/var/lib/kubelet/pods/")
        && (parts.get(6) == Some(&"containers") || (parts.len() == 7 && parts[6] == "etc-hosts"));
    podman
        || kubelet
        || source.starts_with("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/")
        || source.starts_with("/run/containerd/io.containerd.grpc.v1.cri/sandboxes/")
}

/// Where one spec.dump mount goes (`named`: Podman's named volumes, as
/// (name, destination)). Pure.
pub fn classify_mount(m: &Value, named: &[(String, String)]) -> MountKind {
    let dest = m["destination"].as_str().unwrap_or("").to_string();
    let source = m["source"].as_str().unwrap_or("").to_string();
    let options: Vec<&str> = m["options"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let kind = m["type"].as_str().unwrap_or("");
    let bind = kind == "bind" || options.iter().any(|o| *o == "bind" || *o == "rbind");
    if !bind {
        if kind == "tmpfs" && dest != "/dev" && dest != "/dev/shm" {
            let keep: Vec<&str> =
                options.iter().copied().filter(|o| o.starts_with("size=") || o.starts_with("mode=")).collect();
            return MountKind::Tmpfs { dest, options: keep.join(",") };
        }
        return MountKind::Docker;
    }
    if matches!(dest.as_str(), "/etc/hostname" | "/etc/hosts" | "/etc/resolv.conf") {
        return MountKind::Docker;
    }
    if let Some((name, _)) = named.iter().find(|(_, d)| *d == dest) {
        return MountKind::Volume { name: name.clone(), dest };
    }
    if is_bookkeeping(&source) {
        let dir = !FILE_STAND_INS.contains(&dest.as_str());
        let mode = if dest == "/dev/shm" { 0o1777 } else { 0o755 };
        return MountKind::StandIn(StandIn { dest, dir, mode, content: Content::Empty });
    }
    MountKind::Host { source, dest, ro: options.contains(&"ro") }
}

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn strs(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Podman's named volumes (config.dump `namedVolumes`: `volumeName`,
/// `dest`), as (name, destination). Pure.
pub fn named_volumes(config: &Value) -> Vec<(String, String)> {
    config["namedVolumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| Some((v["volumeName"].as_str()?.to_string(), v["dest"].as_str()?.to_string())))
        .collect()
}

/// A Docker container name from another engine's: as is when Docker takes
/// it, else with the characters it refuses replaced. Pure.
pub fn docker_name(n: &str) -> String {
    let mut s: String =
        n.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect();
    if !s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        s.insert(0, 'c');
    }
    s.truncate(128);
    s
}

/// The container's name: Podman's config.dump `name`; CRI-O's
/// `io.kubernetes.cri-o.Metadata` `{"name"}`; containerd's
/// `io.kubernetes.cri.container-name`. Pure.
pub fn container_name(spec: &Value, config: &Value, engine: Engine) -> String {
    let ann = |k: &str| spec["annotations"][k].as_str().map(str::to_string);
    let n = match engine {
        Engine::Podman => None,
        Engine::CriO => ann("io.kubernetes.cri-o.Metadata")
            .and_then(|m| serde_json::from_str::<Value>(&m).ok())
            .and_then(|m| m["name"].as_str().map(str::to_string)),
        Engine::Containerd => ann("io.kubernetes.cri.container-name"),
    };
    let n = n.filter(|n| !n.is_empty()).unwrap_or_else(|| text(config, "/name").to_string());
    docker_name(if n.is_empty() { "imported" } else { &n })
}

/// The image: (ID as `sha256:…` when the archive names one, name).
/// Podman: `rootfsImageID`; CRI-O: `rootfsImageRef` (an ID); containerd's
/// `rootfsImageRef` is `NAME@DIGEST`, not an ID. Pure.
pub fn image(config: &Value) -> (Option<String>, String) {
    let hex64 = |s: &str| {
        let s = s.trim_start_matches("sha256:");
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("sha256:{s}"))
    };
    let id = hex64(text(config, "/rootfsImageID")).or_else(|| hex64(text(config, "/rootfsImageRef")));
    let name = [text(config, "/rootfsImageName"), text(config, "/rootfsImage")]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or("")
        .to_string();
    (id, name)
}

/// What `/run/.containerenv` holds in a Podman container (Podman writes it
/// with its version, which the archive does not record). Pure.
pub fn containerenv(name: &str, id: &str, image: &str, image_id: &str) -> String {
    format!(
        "engine=\"podman\"\nname=\"{name}\"\nid=\"{id}\"\nimage=\"{image}\"\nimageid=\"{}\"\nrootless=0\n",
        image_id.trim_start_matches("sha256:")
    )
}

/// The saved inspect data (container.json) and the stand-ins, from
/// spec.dump, config.dump and network.status. Everything that would give
/// the container access to the host lands in HostConfig, where `policy`
/// lists it. Pure.
pub fn container_json(
    spec: &Value,
    config: &Value,
    network: Option<&Value>,
    has_devshm: bool,
) -> std::result::Result<(Value, Vec<StandIn>), String> {
    let eng = engine(spec);
    let args = strs(&spec["process"]["args"]);
    if args.is_empty() {
        return Err("spec.dump has no process args".into());
    }
    let name = container_name(spec, config, eng);
    let id = text(config, "/id").to_string();
    let (image_id, image_name) = image(config);
    if image_id.is_none() && image_name.is_empty() {
        return Err("config.dump names no image (rootfsImageID, rootfsImageRef, rootfsImageName)".into());
    }
    let named = named_volumes(config);
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    let mut tmpfs = Map::new();
    let mut stand_ins = Vec::new();
    for m in spec["mounts"].as_array().into_iter().flatten() {
        let kind = classify_mount(m, &named);
        // Written into `src:dest:opts` binds below: a `:` or `,` would add
        // options, a relative or `..` path another place.
        let (dest, source) = match &kind {
            MountKind::Docker => ("/", None),
            MountKind::Tmpfs { dest, .. } => (dest.as_str(), None),
            MountKind::StandIn(s) => (s.dest.as_str(), None),
            MountKind::Volume { name, dest } => {
                if !crate::store::valid_name(name) {
                    return Err(format!("config.dump names the volume {name:?}, not a name Docker takes"));
                }
                (dest.as_str(), None)
            }
            MountKind::Host { source, dest, .. } => (dest.as_str(), Some(source.as_str())),
        };
        if let Some(p) = [Some(dest), source].into_iter().flatten().find(|d| *d != "/" && !valid_dest(d)) {
            return Err(format!("spec.dump has a mount path {p:?} that is not a plain absolute path"));
        }
        match kind {
            MountKind::Docker => {}
            MountKind::Tmpfs { dest, options } => {
                tmpfs.insert(dest, json!(options));
            }
            MountKind::StandIn(mut s) => {
                if s.dest == "/dev/shm" && has_devshm {
                    s.content = Content::Tar(DEVSHM_TAR.into());
                } else if s.dest == "/run/.containerenv" && eng == Engine::Podman {
                    let iid = image_id.clone().unwrap_or_default();
                    s.content = Content::Text(containerenv(text(config, "/name"), &id, &image_name, &iid));
                }
                stand_ins.push(s);
            }
            MountKind::Volume { name, dest } => {
                binds.push(json!(format!("{name}:{dest}")));
                mounts.push(json!({"Type": "volume", "Name": name, "Destination": dest, "RW": true}));
            }
            MountKind::Host { source, dest, ro } => {
                binds.push(json!(format!("{source}:{dest}{}", if ro { ":ro" } else { "" })));
                mounts.push(json!({"Type": "bind", "Source": source, "Destination": dest, "RW": !ro}));
            }
        }
    }
    let ns =
        |t: &str| spec["linux"]["namespaces"].as_array().into_iter().flatten().any(|n| n["type"].as_str() == Some(t));
    let network_mode = match text(config, "/networkMode") {
        _ if !ns("network") => "host",
        "none" => "none",
        "host" => "host",
        m if m.starts_with("container:") => m,
        _ if eng == Engine::Podman && network.is_none_or(Value::is_null) => "none",
        _ => "default",
    };
    let mut hc = Map::new();
    hc.insert("NetworkMode".into(), json!(network_mode));
    hc.insert("IpcMode".into(), json!(if ns("ipc") { "private" } else { "host" }));
    if !ns("pid") {
        hc.insert("PidMode".into(), json!("host"));
    }
    if !ns("uts") {
        hc.insert("UTSMode".into(), json!("host"));
    }
    // A user namespace of the spec's is left out: Docker's only UsernsMode
    // values are "" and "host" (the policy would take anything else for a
    // grant), and its own remapping is the daemon's.
    let privileged = config["privileged"] == true
        || text(spec, "/annotations/io.podman.annotations.privileged").eq_ignore_ascii_case("true");
    if privileged {
        hc.insert("Privileged".into(), json!(true));
    } else {
        let caps = strs(&spec["process"]["capabilities"]["bounding"]);
        let add: Vec<&String> = caps.iter().filter(|c| !DOCKER_CAPS.contains(&c.as_str())).collect();
        let drop: Vec<&&str> = DOCKER_CAPS.iter().filter(|c| !caps.iter().any(|x| x == **c)).collect();
        if !add.is_empty() {
            hc.insert("CapAdd".into(), json!(add));
        }
        if !drop.is_empty() {
            hc.insert("CapDrop".into(), json!(drop));
        }
        let devices: Vec<Value> = spec["linux"]["devices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["path"].as_str())
            .map(|p| json!({"PathOnHost": p, "PathInContainer": p, "CgroupPermissions": "rwm"}))
            .collect();
        if !devices.is_empty() {
            hc.insert("Devices".into(), json!(devices));
        }
        if spec["linux"]["seccomp"].is_null() {
            hc.insert("SecurityOpt".into(), json!(["seccomp=unconfined"]));
        }
        if spec["linux"]["maskedPaths"].as_array().is_some_and(|a| a.is_empty()) {
            hc.insert("MaskedPaths".into(), json!([]));
        }
    }
    if !binds.is_empty() {
        hc.insert("Binds".into(), json!(binds));
    }
    if !tmpfs.is_empty() {
        hc.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    if let Some(s) = spec["linux"]["sysctl"].as_object().filter(|s| !s.is_empty()) {
        hc.insert("Sysctls".into(), Value::Object(s.clone()));
    }
    if spec["root"]["readonly"] == true {
        hc.insert("ReadonlyRootfs".into(), json!(true));
    }
    let mut ports = Map::new();
    let mut exposed = Map::new();
    for p in config["newPortMappings"].as_array().into_iter().flatten() {
        let (Some(cport), Some(hport)) = (p["container_port"].as_u64(), p["host_port"].as_u64()) else { continue };
        let proto = p["protocol"].as_str().unwrap_or("tcp");
        for i in 0..p["range"].as_u64().unwrap_or(1).clamp(1, 1024) {
            if cport.saturating_add(i) > 65535 || hport.saturating_add(i) > 65535 {
                return Err(format!("config.dump publishes port {cport} or {hport} with a range past 65535"));
            }
            let key = format!("{}/{proto}", cport + i);
            exposed.insert(key.clone(), json!({}));
            let host = json!({"HostIp": p["host_ip"].as_str().unwrap_or(""), "HostPort": (hport + i).to_string()});
            if let Some(a) = ports.entry(key).or_insert_with(|| json!([])).as_array_mut() {
                a.push(host);
            }
        }
    }
    if !ports.is_empty() && network_mode == "default" {
        hc.insert("PortBindings".into(), Value::Object(ports));
    }
    let user = &spec["process"]["user"];
    let (uid, gid) = (user["uid"].as_u64().unwrap_or(0), user["gid"].as_u64().unwrap_or(0));
    let mut cfg = json!({
        "Hostname": spec["hostname"],
        "Env": spec["process"]["env"],
        // The process's whole argv: the image's entrypoint must not be
        // put in front of it if the container is started afresh.
        "Entrypoint": [],
        "Cmd": args,
        "WorkingDir": spec["process"]["cwd"],
        "Tty": spec["process"]["terminal"] == true,
        "OpenStdin": false,
        "Image": image_name,
    });
    if uid != 0 || gid != 0 {
        cfg["User"] = json!(format!("{uid}:{gid}"));
    }
    if !exposed.is_empty() && network_mode == "default" {
        cfg["ExposedPorts"] = Value::Object(exposed);
    }
    if let Some(l) = config["labels"].as_object().filter(|l| !l.is_empty()) {
        cfg["Labels"] = Value::Object(l.clone());
    }
    let addresses: Vec<Value> = network
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(_, n)| n["interfaces"].as_object().into_iter().flatten())
        .flat_map(|(_, i)| i["subnets"].as_array().into_iter().flatten())
        .filter_map(|s| s["ipnet"].as_str())
        .map(|a| json!(a.split('/').next().unwrap_or("")))
        .collect();
    let saved = json!({
        "Id": id,
        "Name": format!("/{name}"),
        "Created": config["createdTime"],
        "Image": image_id.clone().unwrap_or_else(|| image_name.clone()),
        "Config": cfg,
        "HostConfig": Value::Object(hc),
        "Mounts": mounts,
        "NetworkSettings": {"Networks": {}},
        "DockerCrOrigin": {"Engine": eng.name(), "Addresses": addresses},
    });
    Ok((saved, stand_ins))
}

/// Whether a `netns-<id>.img` holds nothing but the `extRootNetNS` key:
/// the namespace was the engine's, handed to CRIU from outside. Docker
/// hands none to a container with a namespace of its own; without the
/// image CRIU makes an empty one that Docker then connects, as for
/// docker-cr's own checkpoints. Pure.
pub fn netns_only_external(netns_img: &[u8]) -> bool {
    let Ok(i) = img::parse(netns_img) else { return false };
    let [entry] = i.entries.as_slice() else { return false };
    let Ok(f) = img::fields(entry) else { return false };
    matches!(f.as_slice(), [(8, img::Value::Bytes(k))] if *k == crate::host::criu::EXT_NETNS_KEY.as_bytes())
}

/// The mode CRIU recorded for the container's `/`: the root (fs_entry
/// `root_id`, field 2) of the first task's `fs-<pid>.img`, looked up among
/// `files.img`'s regular files (file_entry: `id` 2, `reg` 3; reg_file_entry:
/// `mode` 10). `fs` reads the fs image of a pid. Pure.
pub fn root_mode(pstree: &[u8], fs: &dyn Fn(u64) -> Option<Vec<u8>>, files: &[u8]) -> Option<u32> {
    let tree = img::parse(pstree).ok()?;
    let pid = img::field(&img::fields(tree.entries.first()?).ok()?, 1)?.uint()?;
    let fs_img = fs(pid)?;
    let fs_entry = img::parse(&fs_img).ok()?;
    let root_id = img::field(&img::fields(fs_entry.entries.first()?).ok()?, 2)?.uint()?;
    let files = img::parse(files).ok()?;
    for e in files.entries {
        let f = img::fields(e).ok()?;
        if img::field(&f, 2).and_then(|v| v.uint()) != Some(root_id) {
            continue;
        }
        let reg = img::fields(img::field(&f, 3)?.bytes()?).ok()?;
        let mode = img::field(&reg, 10)?.uint()?;
        return u32::try_from(mode & 0o7777).ok();
    }
    None
}

/// `root_mode` of the CRIU images in `images` (None if unreadable).
pub fn recorded_root_mode(images: &Path) -> Option<u32> {
    let small = |name: &str| mf::read_limited(images, name, 16 << 20).ok().flatten();
    root_mode(&small("pstree.img")?, &|pid| small(&format!("fs-{pid}.img")), &small("files.img")?)
}

fn bad(what: &str, why: impl std::fmt::Display) -> Error {
    Error::checkpoint(
        format!("the archive {what} {why}"),
        "it is not a checkpoint archive docker-cr can convert (Podman, CRI-O or containerd layout); nothing was created",
    )
}

/// Turns the unpacked archive in `dir` (named `what` in messages) into a
/// docker-cr checkpoint directory; returns its (unsigned) manifest.
pub fn adapt(dir: &Path, what: &str) -> Result<(Manifest, Foreign)> {
    adapt_known(dir, what, &mf::Known::new())
}

/// `adapt`, with the sums of the files summed as they were unpacked
/// (`known`): those are not read again.
pub fn adapt_known(dir: &Path, what: &str, known: &mf::Known) -> Result<(Manifest, Foreign)> {
    let read_json = |name: &str| -> Result<Option<Value>> {
        match mf::read_limited(dir, name, MAX_SMALL)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| bad(what, format!("has a {name} that is not JSON: {e}"))),
        }
    };
    let spec = read_json(SPEC_DUMP)?.ok_or_else(|| bad(what, "has no spec.dump"))?;
    let config = read_json(CONFIG_DUMP)?.ok_or_else(|| bad(what, "has no config.dump"))?;
    let network = read_json("network.status")?;
    let eng = engine(&spec);
    // Podman's named volumes travel as volumes/<name>.tar: plain volumes
    // of a name Docker takes, each mounted where config.dump says.
    let named = named_volumes(&config);
    let vdir = dir.join(archive::VOLUMES_DIR);
    let mut volumes: Vec<String> = fs::read_dir(&vdir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .map(|n| n.strip_suffix(".tar").map(str::to_string).ok_or(n))
        .collect::<std::result::Result<_, _>>()
        .map_err(|n| bad(what, format!("has {}/{n}, not a volume's tar", archive::VOLUMES_DIR)))?;
    volumes.sort();
    if let Some(v) = volumes.iter().find(|v| !crate::store::valid_name(v) || !named.iter().any(|(n, _)| n == *v)) {
        return Err(bad(what, format!("has a volume {v:?} that is not one of the container's named volumes")));
    }
    let has_devshm = fs::symlink_metadata(dir.join(DEVSHM_TAR)).is_ok();
    let (saved, stand_ins) = container_json(&spec, &config, network.as_ref(), has_devshm).map_err(|e| bad(what, e))?;
    let deleted = match mf::read_limited(dir, DELETED_FILES, MAX_SMALL)? {
        Some(b) => deleted_paths(&b).map_err(|e| bad(what, e))?,
        None => Vec::new(),
    };
    let images = dir.join(mf::IMAGES);
    let small = |name: &str| mf::read_limited(&images, name, 16 << 20).ok().flatten();
    for need in ["inventory.img", mf::DESCRIPTORS, "pstree.img"] {
        if small(need).is_none() {
            return Err(bad(what, format!("has no checkpoint/{need}")));
        }
    }
    let root = recorded_root_mode(&images);
    // The engine's network namespace, handed to CRIU from outside: see
    // `netns_only_external`.
    for e in fs::read_dir(&images).at("list", &images)?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("netns-") && n.ends_with(".img") && small(&n).is_some_and(|b| netns_only_external(&b)) {
            fs::remove_file(e.path()).at("remove", &e.path())?;
        }
    }
    plain_diff(dir, what)?;
    let (image_id, image_name) = image(&config);
    let f = Foreign {
        engine: eng,
        container: saved["Name"].as_str().unwrap_or("").trim_start_matches('/').to_string(),
        id: text(&config, "/id").to_string(),
        image: if image_name.is_empty() { image_id.clone().unwrap_or_default() } else { image_name },
        root_mode: root,
        stand_ins,
        deleted,
        volumes,
    };
    write_new(dir, mf::CONTAINER, &serde_json::to_vec_pretty(&saved).unwrap_or_default())?;
    write_new(dir, FOREIGN, &serde_json::to_vec_pretty(&f).unwrap_or_default())?;
    let files = mf::sum_dir_known(dir, known)?;
    let images_prefix = format!("{}/", mf::IMAGES);
    let pages_bytes =
        files.iter().filter(|(n, _)| n.starts_with(&format!("{}/pages-", mf::IMAGES))).map(|(_, s)| s.size).sum();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let m = Manifest {
        format: mf::FORMAT,
        tool: format!("{}{TOOL_SUFFIX}", eng.name()),
        created: now,
        container: mf::Source {
            id: f.id.clone(),
            name: f.container.clone(),
            image: saved["Image"].as_str().unwrap_or("").to_string(),
            init_pid: 1,
            paused: false,
            addresses: strs(&saved["DockerCrOrigin"]["Addresses"]),
        },
        host: mf::Host {
            criu: String::new(),
            kernel: String::new(),
            // Not recorded by the other engine; CRIU refuses images of
            // another architecture itself.
            arch: std::env::consts::ARCH.to_string(),
            cgroup: 0,
            storage_driver: String::new(),
            docker: String::new(),
        },
        // Not recorded either: restore accepts what any of them needs
        // (established connections are closed, as for an address that
        // may change).
        options: mf::DumpOptions { tcp_established: true, ext_unix_sk: true, file_locks: true, stopped: true },
        timings_ms: mf::Timings::default(),
        sizes: mf::Sizes {
            pages_bytes,
            images_bytes: files.iter().filter(|(n, _)| n.starts_with(&images_prefix)).map(|(_, s)| s.size).sum(),
            rootfs_diff_bytes: files.get(mf::ROOTFS_DIFF).map_or(0, |s| s.size),
            rootfs_deleted: f.deleted.len() as u64,
            ..mf::Sizes::default()
        },
        files,
    };
    write_new(dir, mf::MANIFEST, mf::to_json(&m).as_bytes())?;
    Ok((m, f))
}

/// Creates `name` in `dir` (0600, never replacing: the archive may not
/// bring the files the adapter writes).
fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let p = dir.join(name);
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&p).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            Error::checkpoint(
                format!("the archive brings its own {name}, which only docker-cr writes"),
                "it is not a checkpoint archive of Podman, CRI-O or containerd; nothing was created",
            )
        } else {
            Error::Io { op: "create", path: p.clone(), source: e }
        }
    })?;
    f.write_all(bytes).at("write", &p)
}

/// `rootfs-diff.tar` as a plain tar: containerd's is gzip (unpacked here,
/// bounded by the free space), none at all (`--ignore-rootfs`) is empty.
fn plain_diff(dir: &Path, what: &str) -> Result<()> {
    let p = dir.join(mf::ROOTFS_DIFF);
    let root = fs::File::open(dir).at("open", dir)?;
    let mut head = [0u8; 3];
    let f = match mf::open_beneath(&root, Path::new(mf::ROOTFS_DIFF)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return write_new(dir, mf::ROOTFS_DIFF, &[0u8; 1024]),
        Err(e) => return Err(e).at("open", &p),
    };
    let n = (&f).read(&mut head).at("read", &p)?;
    if archive::Compression::detect(&head[..n]) != archive::Compression::Gzip {
        return Ok(());
    }
    let f = mf::open_beneath(&root, Path::new(mf::ROOTFS_DIFF)).at("open", &p)?;
    let tmp = dir.join(".rootfs-diff.tar.plain");
    let free = rustix::fs::fstatvfs(root.as_fd()).map_or(u64::MAX, |s| s.f_bavail.saturating_mul(s.f_frsize));
    let limit = free.saturating_sub(64 << 20);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut out = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).at("create", &tmp)?;
        let mut gz = flate2::read::MultiGzDecoder::new(io::BufReader::new(f)).take(limit.saturating_add(1));
        let n = io::copy(&mut gz, &mut out)
            .map_err(|e| bad(what, format!("has a rootfs-diff.tar that is not valid gzip: {e}")))?;
        if n > limit {
            let _ = fs::remove_file(&tmp);
            return Err(Error::host(
                format!("the rootfs-diff.tar of the archive {what} unpacks to more than {} has free", dir.display()),
                "free space there",
            ));
        }
    }
    fs::rename(&tmp, &p).at("rename", &tmp)
}

/// docker-cr's private directories of stand-ins, one per restored
/// container, bound into it: they live as long as the container (removed
/// when a later restore finds the container gone, like the CRIU config
/// files), since the engine binds them again at each start.
pub const STAND_INS_DIR: &str = crate::host::paths::STAND_INS;

/// Takes docker-cr's own stand-in binds out of a checkpoint's saved
/// HostConfig (`saved`: a checkpoint of a container restored from another
/// engine's archive), so that the policy does not see them as host paths
/// and the new container gets copies of its own. Returns them.
pub fn take_our_stand_ins(saved: &mut Value) -> Vec<StandIn> {
    let mut out = Vec::new();
    let Some(binds) = saved["HostConfig"]["Binds"].as_array_mut() else { return out };
    binds.retain(|b| {
        let b = b.as_str().unwrap_or("");
        let mut parts = b.splitn(3, ':');
        let (Some(src), Some(dest)) = (parts.next(), parts.next()) else { return true };
        // A destination that is not a plain path stays a bind of the
        // checkpoint's asking, for the policy to refuse.
        let ours = Path::new(src).starts_with(STAND_INS_DIR)
            && !Path::new(src).components().any(|c| c == Component::ParentDir)
            && valid_dest(dest);
        if ours {
            let dir = fs::symlink_metadata(src).map_or(!FILE_STAND_INS.contains(&dest), |m| m.is_dir());
            let mode = if dest == "/dev/shm" { 0o1777 } else { 0o755 };
            out.push(StandIn { dest: dest.to_string(), dir, mode, content: Content::Copy(src.to_string()) });
        }
        !ours
    });
    if let Some(m) = saved["Mounts"].as_array_mut() {
        m.retain(|m| !m["Source"].as_str().is_some_and(|s| Path::new(s).starts_with(STAND_INS_DIR)));
    }
    out
}

/// The stand-ins `take_our_stand_ins` found, copying only from `own` (the
/// checkpointed container's stand-in directory, if it still exists):
/// others become empty. Pure.
pub fn only_copies_from(list: Vec<StandIn>, own: Option<&Path>) -> Vec<StandIn> {
    list.into_iter()
        .map(|mut s| {
            if let Content::Copy(from) = &s.content {
                if own.is_none_or(|o| Path::new(from).parent() != Some(o)) {
                    s.content = Content::Empty;
                }
            }
            s
        })
        .collect()
}

/// Makes the stand-ins in the new directory `at` (0700, its parent made
/// 0700 as well: they hold the container's /dev/shm): each a file or
/// directory named by its position, filled from the checkpoint `dir` (a
/// tar through `rootfs::apply`, confined to it) or copied from another
/// container's stand-in (`copy_tree`, through directory fds: that one's
/// content is the container's doing, links included). Returns the binds.
pub fn make_stand_ins(stand_ins: &[StandIn], dir: &Path, at: &Path) -> Result<Vec<String>> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let parent = at.parent().unwrap_or(at);
    fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).at("create", parent)?;
    // `recursive` leaves the mode of a directory that was there alone.
    fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).at("chmod", parent)?;
    fs::DirBuilder::new().mode(0o700).create(at).at("create", at)?;
    let mut binds = Vec::new();
    for (i, s) in stand_ins.iter().enumerate() {
        let p = at.join(i.to_string());
        if s.dir {
            fs::create_dir(&p).at("create", &p)?;
            match &s.content {
                Content::Tar(name) => {
                    // Unpacked beside, then copied as a container's stand-in
                    // is: without setuid/setgid bits or file capabilities,
                    // which the tar may carry and the bind (no nosuid) would
                    // honour.
                    let t = mf::open_beneath(&fs::File::open(dir).at("open", dir)?, Path::new(name))
                        .at("open", &dir.join(name))?;
                    let tmp = at.join(format!(".{i}.unpacked"));
                    fs::DirBuilder::new().mode(0o700).create(&tmp).at("create", &tmp)?;
                    let copied = crate::model::rootfs::apply(io::BufReader::new(t), &tmp)
                        .map_err(|e| e.step(format!("the archive's {name}")))
                        .and_then(|_| copy_dir(&tmp, &p));
                    fs::remove_dir_all(&tmp).at("remove", &tmp)?;
                    copied?;
                }
                // Gone, or not a directory: the copy starts empty.
                Content::Copy(from) if fs::symlink_metadata(from).is_ok_and(|m| m.is_dir()) => {
                    copy_dir(Path::new(from), &p)?;
                }
                _ => {}
            }
            fs::set_permissions(&p, fs::Permissions::from_mode(s.mode)).at("chmod", &p)?;
        } else {
            let mut out = fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&p).at("create", &p)?;
            match &s.content {
                Content::Text(t) => io::Write::write_all(&mut out, t.as_bytes()).at("write", &p)?,
                Content::Copy(from) => {
                    // Opened without following a link: the container may
                    // have replaced its file by one.
                    let src = fs::OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_NOFOLLOW)
                        .open(from)
                        .ok()
                        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()));
                    if let Some(mut src) = src {
                        io::copy(&mut (&mut src).take(MAX_SMALL), &mut out).at("copy", &p)?;
                    }
                }
                _ => {}
            }
        }
        binds.push(format!("{}:{}", p.display(), s.dest));
    }
    Ok(binds)
}

/// `copy_tree` of the directory `from` (not followed if it is a link)
/// into the empty directory `to`.
fn copy_dir(from: &Path, to: &Path) -> Result<u64> {
    use rustix::fs::OFlags;
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    let src = rustix::fs::open(from, flags, rustix::fs::Mode::empty()).at("open", from)?;
    let dst = rustix::fs::open(to, flags, rustix::fs::Mode::empty()).at("open", to)?;
    copy_tree(&src, &dst, from, 0)
}

/// How deep `copy_tree` follows directories (a container's /dev/shm).
const MAX_DEPTH: u32 = 64;

/// Copies the directory `src` into the empty directory `dst` through
/// directory fds, never by path and never through a link (openat with
/// O_NOFOLLOW, then fstat of what was opened): `src` is a container's,
/// whose processes could swap a directory for a link to a host path
/// during the copy. Links are copied as links (they resolve inside the new
/// container); directories and regular files keep owner and mode, without
/// setuid/setgid; devices, fifos, sockets and xattrs (file capabilities)
/// are left out. `shown` names `src` in errors. Returns the files copied.
fn copy_tree(src: &OwnedFd, dst: &OwnedFd, shown: &Path, depth: u32) -> Result<u64> {
    use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
    if depth > MAX_DEPTH {
        return Err(Error::container(
            format!("{} nests directories more than {MAX_DEPTH} deep", shown.display()),
            "the stand-in of the checkpointed container was not copied; remove the deep directories from it",
        ));
    }
    let ro = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let owner = |st: &rustix::fs::Stat| (Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
    let mut files = 0;
    for n in names_in(src, shown)? {
        let p = shown.join(&n);
        let st = rustix::fs::statat(src, &n, AtFlags::SYMLINK_NOFOLLOW).at("stat", &p)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let s = rustix::fs::openat(src, &n, ro | OFlags::DIRECTORY, Mode::empty()).at("open", &p)?;
                let st = rustix::fs::fstat(&s).at("stat", &p)?;
                rustix::fs::mkdirat(dst, &n, Mode::from_raw_mode(0o700)).at("create", &p)?;
                let d = rustix::fs::openat(dst, &n, ro | OFlags::DIRECTORY, Mode::empty()).at("open", &p)?;
                files += copy_tree(&s, &d, &p, depth + 1)?;
                let (u, g) = owner(&st);
                rustix::fs::fchown(&d, u, g).at("chown", &p)?;
                rustix::fs::fchmod(&d, Mode::from_raw_mode(st.st_mode & 0o1777)).at("chmod", &p)?;
            }
            FileType::RegularFile => {
                // NONBLOCK: a fifo swapped in meanwhile does not hang the open.
                let s = rustix::fs::openat(src, &n, ro | OFlags::NONBLOCK, Mode::empty()).at("open", &p)?;
                let st = rustix::fs::fstat(&s).at("stat", &p)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    continue;
                }
                let d = rustix::fs::openat(
                    dst,
                    &n,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .at("create", &p)?;
                let (mut s, mut d) = (fs::File::from(s), fs::File::from(d));
                // As large as it was when opened: a running container's
                // process may keep writing to it.
                io::copy(&mut (&mut s).take(st.st_size as u64), &mut d).at("copy", &p)?;
                let (u, g) = owner(&st);
                rustix::fs::fchown(&d, u, g).at("chown", &p)?;
                rustix::fs::fchmod(&d, Mode::from_raw_mode(st.st_mode & 0o777)).at("chmod", &p)?;
                files += 1;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(src, &n, Vec::new()).at("read link", &p)?;
                rustix::fs::symlinkat(target.as_c_str(), dst, &n).at("create link", &p)?;
                let (u, g) = owner(&st);
                rustix::fs::chownat(dst, &n, u, g, AtFlags::SYMLINK_NOFOLLOW).at("chown", &p)?;
            }
            _ => {}
        }
    }
    Ok(files)
}

/// The names in the directory `d` but `.` and `..`.
fn names_in(d: &OwnedFd, shown: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut v = Vec::new();
    for e in rustix::fs::Dir::read_from(d).at("list", shown)? {
        let e = e.at("list", shown)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            v.push(std::ffi::OsString::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(n)));
        }
    }
    Ok(v)
}

/// The overlay mount options of a container (inspect data `c`): its
/// GraphDriver's LowerDir, UpperDir and WorkDir. Pure.
pub fn overlay_options(c: &Value) -> Option<String> {
    let g = |k: &str| c.pointer(&format!("/GraphDriver/Data/{k}")).and_then(Value::as_str).filter(|s| !s.is_empty());
    Some(format!("index=off,lowerdir={},upperdir={},workdir={}", g("LowerDir")?, g("UpperDir")?, g("WorkDir")?))
}

/// Applies the other engine's file changes to the new, never started
/// container `c` through its merged overlay view: files the diff adds
/// under an image directory keep that directory's mode (Podman's diff has
/// no directory entries: written into the upper dir, `/tmp` would lose its
/// 1777), and deletions become overlay's own whiteouts. Then `/` gets the
/// mode CRIU recorded. The overlay is mounted by a child process in a
/// mount namespace of its own (`/` made private first): no other namespace
/// ever sees the mount (/run is shared), and the kernel drops it with the
/// namespace however the child ends (SIGKILL, a panic, which aborts).
/// Returns (files written, paths deleted).
pub fn apply_files(c: &Value, dir: &Path, f: &Foreign) -> Result<(u64, usize)> {
    use std::os::unix::fs::DirBuilderExt;
    let opts = overlay_options(c).ok_or_else(|| {
        Error::host("the new container has no overlay2 layers (GraphDriver.Data)", "docker-cr needs overlay2")
    })?;
    let base = Path::new(crate::host::paths::RUN);
    fs::DirBuilder::new().recursive(true).mode(0o700).create(base).at("create", base)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let at = base.join(format!("merged-{}-{nanos}", std::process::id()));
    fs::DirBuilder::new().mode(0o700).create(&at).at("create", &at)?;
    let r = in_private_namespace(|| apply_mounted(&opts, &at, dir, f));
    let _ = fs::remove_dir(&at);
    r
}

/// Runs `work` in a forked child that first unshares its mount namespace
/// and makes every mount in it private, and returns its answer (sent back
/// through a pipe: the child's error as its text and hint).
fn in_private_namespace(work: impl FnOnce() -> Result<(u64, usize)>) -> Result<(u64, usize)> {
    use std::io::Write as _;
    let (mut r, mut w) = io::pipe().at("create a pipe for", Path::new("the overlay child"))?;
    // SAFETY: the child never returns into the parent's code (it ends with
    // _exit). Other threads may run (restore --all's pool, a progress
    // ticker): the child takes no lock of theirs (it prints nothing, its
    // answer goes through the pipe) and allocates through the C library,
    // whose malloc glibc and musl keep usable across fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error()).at("fork", Path::new("the overlay child"));
    }
    if pid == 0 {
        drop(r);
        let private = || -> Result<()> {
            // SAFETY: a plain syscall, in the single-threaded child.
            if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
                return Err(io::Error::last_os_error())
                    .at("unshare the mount namespace of", Path::new("the overlay child"));
            }
            rustix::mount::mount_change(
                "/",
                rustix::mount::MountPropagationFlags::PRIVATE | rustix::mount::MountPropagationFlags::REC,
            )
            .at("make private", Path::new("/"))
        };
        let msg = match private().and_then(|()| work()) {
            Ok((files, deleted)) => format!("ok\0{files}\0{deleted}"),
            Err(e) => format!("err\0{e}\0{}", e.hint().unwrap_or_default()),
        };
        let _ = w.write_all(msg.as_bytes());
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) }
    }
    drop(w);
    let mut msg = String::new();
    let read = io::Read::read_to_string(&mut r, &mut msg);
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let parts: Vec<&str> = msg.split('\0').collect();
    match (read, parts.as_slice()) {
        (Ok(_), ["ok", files, deleted]) => Ok((files.parse().unwrap_or(0), deleted.parse().unwrap_or(0))),
        (Ok(_), ["err", what, hint]) => Err(Error::host(what.to_string(), hint.to_string())),
        _ => Err(Error::host(
            format!("the child process applying the archive's files ended without an answer (wait status {status})"),
            "see the kernel log (dmesg); nothing is left mounted",
        )),
    }
}

/// The work of `apply_files`, in the child's private namespace.
fn apply_mounted(opts: &str, at: &Path, dir: &Path, f: &Foreign) -> Result<(u64, usize)> {
    let mount = |o: &str| -> io::Result<()> {
        let data = std::ffi::CString::new(o).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(rustix::mount::mount("overlay", at, "overlay", rustix::mount::MountFlags::NOSUID, Some(data.as_c_str()))?)
    };
    // index=off as Docker's overlay2 mounts it, where the kernel knows it.
    if let Err(e) = mount(opts).or_else(|_| mount(opts.trim_start_matches("index=off,"))) {
        return Err(Error::Io { op: "mount the new container's overlay on", path: at.to_path_buf(), source: e });
    }
    let tar = dir.join(mf::ROOTFS_DIFF);
    let t = mf::open_beneath(&fs::File::open(dir).at("open", dir)?, Path::new(mf::ROOTFS_DIFF)).at("open", &tar)?;
    let st = crate::model::rootfs::apply(io::BufReader::with_capacity(1 << 20, t), at)?;
    let root: OwnedFd = rustix::fs::open(
        at,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .at("open", at)?;
    for p in &f.deleted {
        remove_beneath(&root, Path::new(p), at)?;
    }
    if let Some(mode) = f.root_mode {
        rustix::fs::fchmod(&root, rustix::fs::Mode::from_raw_mode(mode)).at("chmod", at)?;
    }
    drop(root);
    // Unmounted before the answer, so that the engine's own mount at the
    // start finds the layers free.
    rustix::mount::unmount(at, rustix::mount::UnmountFlags::empty()).at("unmount", at)?;
    Ok((st.files, f.deleted.len()))
}

/// `openat2(dir, name, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: the
/// archive's paths never lead through a link. See openat2(2).
fn open_below(dir: &OwnedFd, name: &Path, flags: rustix::fs::OFlags) -> rustix::io::Result<OwnedFd> {
    crate::host::fs::beneath(dir, name, flags, rustix::fs::Mode::empty())
}

/// Removes `rel` (a checked relative path of `deleted.files`) below the
/// root fd, as Podman's RemoveAll does: a file, a link (not what it points
/// to) or a whole directory; gone already is fine. Its parent is reached
/// through directories only.
fn remove_beneath(root: &OwnedFd, rel: &Path, root_path: &Path) -> Result<()> {
    use rustix::fs::OFlags;
    let (parent, name) = (rel.parent().unwrap_or(Path::new("")), rel.file_name().unwrap_or_default());
    let pfd = if parent.as_os_str().is_empty() {
        root.try_clone().at("open", root_path)?
    } else {
        match open_below(root, parent, OFlags::DIRECTORY | OFlags::RDONLY) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => {
                return Err(Error::checkpoint(
                    format!("deleted.files names {}, whose parent is not a directory of the container ({e})", rel.display()),
                    "the archive was made by a tool docker-cr does not know, or was tampered with; nothing outside the new container was touched",
                ))
            }
        }
    };
    remove_at(&pfd, Path::new(name), &root_path.join(rel))
}

fn remove_at(pfd: &OwnedFd, name: &Path, shown: &Path) -> Result<()> {
    use rustix::fs::{AtFlags, FileType, OFlags};
    let st = match rustix::fs::statat(pfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e).at("stat", shown),
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return rustix::fs::unlinkat(pfd, name, AtFlags::empty()).at("remove", shown);
    }
    let d = open_below(pfd, name, OFlags::DIRECTORY | OFlags::RDONLY).at("open", shown)?;
    for n in names_in(&d, shown)? {
        remove_at(&d, Path::new(&n), &shown.join(&n))?;
    }
    rustix::fs::unlinkat(pfd, name, AtFlags::REMOVEDIR).at("remove", shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/podman-4.3.1");

    fn fixture(name: &str) -> Vec<u8> {
        fs::read(format!("{FIX}/{name}")).unwrap()
    }

    fn json_fixture(name: &str) -> Value {
        serde_json::from_slice(&fixture(name)).unwrap()
    }

    /// A Podman 4.3.1 export of `podman run -d -p 127.0.0.1:18931:80
    /// busybox sh -c '…httpd…'`, recorded here (spec.dump's seccomp cut short).
    #[test]
    fn podman_spec_and_config_become_inspect_data() {
        let (spec, config, net) =
            (json_fixture("spec.dump"), json_fixture("config.dump"), json_fixture("network.status"));
        assert_eq!(engine(&spec), Engine::Podman);
        let (c, stand) = container_json(&spec, &config, Some(&net), true).unwrap();
        assert_eq!(c["Name"], "/p1-rec");
        assert_eq!(c["Image"], "sha256:4d04e7ab4d20bfa16659d72c16c909b8a15d9db927a2bd9c25aa4aecde66749c");
        assert_eq!(c["Config"]["Image"], "localhost/docker-cr-test:busybox");
        assert_eq!(c["Config"]["Cmd"][0], "sh");
        assert_eq!(c["Config"]["Cmd"].as_array().unwrap().len(), 3);
        assert_eq!(c["Config"]["Entrypoint"], json!([]));
        assert_eq!(c["Config"]["WorkingDir"], "/");
        assert_eq!(c["Config"]["Hostname"], "d1837a6361a1");
        assert_eq!(c["Config"]["Tty"], false);
        assert!(c["Config"]["Env"].as_array().unwrap().contains(&json!("container=podman")));
        let hc = &c["HostConfig"];
        assert_eq!(hc["NetworkMode"], "default");
        assert_eq!(hc["IpcMode"], "private");
        assert_eq!(hc["PortBindings"]["80/tcp"][0], json!({"HostIp": "127.0.0.1", "HostPort": "18931"}));
        assert_eq!(hc["CapAdd"], Value::Null, "Podman's capabilities are a subset of Docker's");
        assert_eq!(hc["CapDrop"], json!(["CAP_MKNOD", "CAP_NET_RAW", "CAP_AUDIT_WRITE"]));
        assert_eq!(hc["Binds"], Value::Null, "no host path");
        assert_eq!(c["DockerCrOrigin"]["Addresses"], json!(["10.88.0.3"]));
        let dests: Vec<&str> = stand.iter().map(|s| s.dest.as_str()).collect();
        assert_eq!(dests, vec!["/dev/shm", "/run/.containerenv"]);
        assert_eq!(stand[0].content, Content::Tar(DEVSHM_TAR.into()));
        assert!(stand[0].dir && stand[0].mode == 0o1777);
        let Content::Text(env) = &stand[1].content else { panic!("{stand:?}") };
        assert!(env.contains("name=\"p1-rec\"") && env.contains("imageid=\"4d04e7ab"), "{env}");
        // The whole synthesized HostConfig passes docker-cr's policy as is.
        let (_, grants) = crate::model::policy::host_config(hc, false);
        assert_eq!(grants, Vec::<String>::new());
        // And restore's create body runs the process's argv, no entrypoint.
        let (body, _) = crate::ops::restore::create_body(&c, "img", &[], false, &[]);
        assert_eq!(body["Entrypoint"], json!([]));
        assert_eq!(body["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "18931");
    }

    #[test]
    fn host_access_lands_where_the_policy_sees_it() {
        let mut spec = json_fixture("spec.dump");
        let config = json_fixture("config.dump");
        spec["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]}));
        spec["process"]["capabilities"]["bounding"].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
        spec["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]);
        spec["linux"].as_object_mut().unwrap().remove("seccomp");
        let (c, _) = container_json(&spec, &config, None, false).unwrap();
        assert_eq!(crate::formats::archive::host_binds(&c), vec![("/srv/data".to_string(), "/data".to_string())]);
        let (_, grants) = crate::model::policy::host_config(&c["HostConfig"], false);
        let all = grants.join("\n");
        for want in [
            "host paths /srv/data:/data:ro",
            "added capabilities CAP_SYS_ADMIN",
            "the network namespace of host",
            "the PID namespace of host",
            "seccomp=unconfined",
        ] {
            assert!(all.contains(want), "{want:?} not in {all}");
        }
        let mut config = config;
        config["privileged"] = json!(true);
        let (c, _) = container_json(&spec, &config, None, false).unwrap();
        assert!(crate::model::policy::host_config(&c["HostConfig"], false).1.join("\n").contains("privileged mode"));
    }

    // Podman's named volumes (recorded key names) become Docker volumes of
    // the same name: no host path.
    #[test]
    fn named_volumes_become_volumes() {
        let mut spec = json_fixture("spec.dump");
        let mut config = json_fixture("config.dump");
        config["namedVolumes"] = json!([{"volumeName": "p1-voltest", "dest": "/vol", "options": ["rw", "rprivate", "nosuid", "nodev", "rbind"]}]);
        spec["mounts"].as_array_mut().unwrap().push(json!({"destination": "/vol", "type": "bind",
            "source": "/var/lib/containers/storage/volumes/p1-voltest/_data", "options": ["rbind"]}));
        assert_eq!(named_volumes(&config), vec![("p1-voltest".to_string(), "/vol".to_string())]);
        let (c, _) = container_json(&spec, &config, None, false).unwrap();
        assert_eq!(c["HostConfig"]["Binds"], json!(["p1-voltest:/vol"]));
        assert_eq!(crate::formats::archive::named_volumes(&c), vec!["p1-voltest".to_string()]);
        assert_eq!(crate::model::policy::host_config(&c["HostConfig"], false).1, Vec::<String>::new());
    }

    #[test]
    fn mounts_are_classified() {
        let m = |dest: &str, source: &str| json!({"destination": dest, "type": "bind", "source": source, "options": ["rbind"]});
        let user = "/run/containers/storage/overlay-containers/abc/userdata";
        assert_eq!(classify_mount(&m("/etc/hosts", "/anything"), &[]), MountKind::Docker);
        assert_eq!(
            classify_mount(&json!({"destination": "/proc", "type": "proc", "source": "proc"}), &[]),
            MountKind::Docker
        );
        assert_eq!(
            classify_mount(
                &json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]}),
                &[]
            ),
            MountKind::Tmpfs { dest: "/scratch".into(), options: "size=1m".into() }
        );
        let MountKind::StandIn(s) = classify_mount(&m("/run/.containerenv", &format!("{user}/.containerenv")), &[])
        else {
            panic!()
        };
        assert!(!s.dir);
        let MountKind::StandIn(s) = classify_mount(&m("/run/secrets", &format!("{user}/run/secrets")), &[]) else {
            panic!()
        };
        assert!(s.dir);
        let kubelet = "/var/lib/kubelet/pods/0f1e/containers/counter/5a3c";
        assert!(matches!(
            classify_mount(&m("/dev/termination-log", kubelet), &[]),
            MountKind::StandIn(StandIn { dir: false, .. })
        ));
        assert!(
            matches!(
                classify_mount(
                    &m(
                        "/var/run/secrets/kubernetes.io/serviceaccount",
                        "/var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~projected/kube-api-access-x"
                    ),
                    &[]
                ),
                MountKind::Host { .. }
            ),
            "a pod's volumes are host paths here"
        );
        assert_eq!(
            classify_mount(&m("/data", "/var/lib/containers/storage/volumes/v/_data"), &[("v".into(), "/data".into())]),
            MountKind::Volume { name: "v".into(), dest: "/data".into() }
        );
        assert_eq!(
            classify_mount(&m("/x", "/etc"), &[]),
            MountKind::Host { source: "/etc".into(), dest: "/x".into(), ro: false }
        );
        assert!(!is_bookkeeping("/srv/overlay-containers/userdata"), "no ID between");
        assert!(is_bookkeeping("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/abc/shm"));
    }

    #[test]
    fn provenance_and_names_of_each_engine() {
        let spec = |ann: Value| json!({"annotations": ann});
        assert_eq!(engine(&spec(json!({"io.container.manager": "libpod"}))), Engine::Podman);
        assert_eq!(engine(&spec(json!({"io.container.manager": "cri-o"}))), Engine::CriO);
        assert_eq!(engine(&spec(json!({}))), Engine::Containerd);
        let crio = spec(
            json!({"io.container.manager": "cri-o", "io.kubernetes.cri-o.Metadata": "{\"name\":\"counter\",\"attempt\":0}"}),
        );
        let cfg = json!({"name": "k8s_counter_pod_ns_uid_0", "rootfsImageRef": "4d04e7ab4d20bfa16659d72c16c909b8a15d9db927a2bd9c25aa4aecde66749c", "rootfsImageName": "docker.io/library/busybox:latest"});
        assert_eq!(container_name(&crio, &cfg, Engine::CriO), "counter");
        let ctrd = spec(json!({"io.kubernetes.cri.container-name": "web"}));
        assert_eq!(container_name(&ctrd, &cfg, Engine::Containerd), "web");
        assert_eq!(container_name(&spec(json!({})), &json!({"name": "my pod/x"}), Engine::Containerd), "my-pod-x");
        assert_eq!(
            image(&cfg).0.as_deref(),
            Some("sha256:4d04e7ab4d20bfa16659d72c16c909b8a15d9db927a2bd9c25aa4aecde66749c")
        );
        let ctrd_cfg = json!({"rootfsImageRef": "docker.io/library/busybox@sha256:abcd", "rootfsImage": "busybox"});
        assert_eq!(image(&ctrd_cfg), (None, "busybox".to_string()));
        let mut m = crate::model::manifest::tests_sample();
        assert_eq!(made_by(&m), None);
        m.tool = "Podman, converted by docker-cr".into();
        assert_eq!(made_by(&m), Some("Podman"));
    }

    #[test]
    fn deleted_files_stay_inside() {
        assert_eq!(deleted_paths(&fixture("deleted.files")).unwrap(), vec!["bin/wget".to_string()]);
        assert_eq!(deleted_paths(br#"["/a/./b/", "c"]"#).unwrap(), vec!["a/b".to_string(), "c".to_string()]);
        for bad in [r#"["/../etc/shadow"]"#, r#"["a/../../b"]"#, r#"["/"]"#, r#"[""]"#, r#"{"a":1}"#, r#"[1]"#] {
            assert!(deleted_paths(bad.as_bytes()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn criu_images_of_the_podman_export() {
        assert!(netns_only_external(&fixture("netns-10.img")));
        let mut other = fixture("netns-10.img");
        let n = other.len();
        other[n - 1] ^= 1;
        assert!(!netns_only_external(&other));
        assert!(!netns_only_external(b"junk"));
        let fs1 = fixture("fs-1.img");
        let mode = root_mode(&fixture("pstree.img"), &|pid| (pid == 1).then(|| fs1.clone()), &fixture("files.img"));
        assert_eq!(mode, Some(0o555), "Podman's / is 0555");
        assert_eq!(root_mode(&fixture("pstree.img"), &|_| None, &fixture("files.img")), None);
    }

    // deleted.files is untrusted: a deleted directory goes whole, a link
    // goes (not what it points to), and no path leads through a link.
    #[test]
    fn deletions_stay_below_the_root() {
        let base = std::env::temp_dir().join(format!("docker-cr-foreign-rm-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (root, outside) = (base.join("root"), base.join("outside"));
        fs::create_dir_all(root.join("d/sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(root.join("d/sub/f"), "x").unwrap();
        fs::write(outside.join("keep"), "host").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("d/out")).unwrap();
        let fd: OwnedFd = rustix::fs::open(
            &root,
            rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::RDONLY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let e = remove_beneath(&fd, Path::new("link/keep"), &root).unwrap_err().to_string();
        assert!(e.contains("not a directory of the container"), "{e}");
        remove_beneath(&fd, Path::new("d"), &root).unwrap();
        remove_beneath(&fd, Path::new("link"), &root).unwrap();
        remove_beneath(&fd, Path::new("gone/already"), &root).unwrap();
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
        assert_eq!(fs::read_to_string(outside.join("keep")).unwrap(), "host", "the link's target stays");
        fs::remove_dir_all(&base).unwrap();
    }

    // A checkpoint of a container restored from Podman's: docker-cr's own
    // stand-in binds are taken out (no host path for the policy), and
    // copied only from that container's own directory.
    #[test]
    fn our_stand_ins_are_copied_not_granted() {
        let own = format!("{STAND_INS_DIR}/e/1-2");
        let mut saved = json!({"HostConfig": {"Binds": [
            format!("{own}/0:/dev/shm"), format!("{own}/1:/run/.containerenv"),
            format!("{STAND_INS_DIR}/e/other/0:/x"), format!("{STAND_INS_DIR}/../../etc:/etc2"), "/srv:/srv"
        ]}});
        let list = take_our_stand_ins(&mut saved);
        assert_eq!(saved["HostConfig"]["Binds"], json!([format!("{STAND_INS_DIR}/../../etc:/etc2"), "/srv:/srv"]));
        assert_eq!(
            list.iter().map(|s| s.dest.as_str()).collect::<Vec<_>>(),
            vec!["/dev/shm", "/run/.containerenv", "/x"]
        );
        assert!(list[0].dir && !list[1].dir && list[0].mode == 0o1777);
        let list = only_copies_from(list, Some(Path::new(&own)));
        assert_eq!(list[0].content, Content::Copy(format!("{own}/0")));
        assert_eq!(list[2].content, Content::Empty, "another container's stand-in is not copied");
        assert!(only_copies_from(list, None).iter().all(|s| s.content == Content::Empty));
    }

    fn foreign_with(stand_ins: Vec<StandIn>) -> Foreign {
        Foreign {
            engine: Engine::Podman,
            container: "c".into(),
            id: "i".into(),
            image: "img".into(),
            root_mode: Some(0o4555),
            stand_ins,
            deleted: vec!["tmp/x".into()],
            volumes: vec![],
        }
    }

    fn stand_in(dest: &str, dir: bool, content: Content) -> StandIn {
        StandIn { dest: dest.into(), dir, mode: 0o7777, content }
    }

    // Security review V1: foreign.json is unsigned; only what adapt writes
    // is honoured.
    #[test]
    fn foreign_json_is_checked_as_adapt_writes_it() {
        let ok = foreign_with(vec![
            stand_in("/dev/shm", true, Content::Tar(DEVSHM_TAR.into())),
            stand_in("/run/.containerenv", false, Content::Text("x".into())),
        ])
        .checked()
        .unwrap();
        assert_eq!(ok.stand_ins[0].mode, 0o1777, "no setuid/setgid");
        assert_eq!(ok.root_mode, Some(0o555));
        for bad in [
            stand_in("/dev/shm", true, Content::Copy("/etc".into())),
            stand_in("/x", false, Content::Copy("/etc/shadow".into())),
            stand_in("/dev/shm", true, Content::Tar("../../etc.tar".into())),
            stand_in("/other", true, Content::Tar(DEVSHM_TAR.into())),
            stand_in("/x", true, Content::Text("dir with text".into())),
            stand_in("/x:/y", true, Content::Empty),
            stand_in("/x,ro", true, Content::Empty),
            stand_in("x", true, Content::Empty),
            stand_in("/a/../etc", true, Content::Empty),
            stand_in("/", true, Content::Empty),
        ] {
            let shown = format!("{bad:?}");
            assert!(foreign_with(vec![bad]).checked().is_err(), "{shown}");
        }
        let mut f = foreign_with(vec![]);
        f.deleted = vec!["../etc/passwd".into()];
        assert!(f.checked().is_err());
        let mut f = foreign_with(vec![]);
        f.volumes = vec!["../x".into()];
        assert!(f.checked().is_err());
    }

    #[test]
    fn foreign_json_counts_only_in_a_converted_checkpoint() {
        let dir = std::env::temp_dir().join(format!("dcr-foreign-read-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let f = foreign_with(vec![stand_in("/x", false, Content::Copy("/etc/shadow".into()))]);
        fs::write(dir.join(FOREIGN), serde_json::to_vec(&f).unwrap()).unwrap();
        let mut m = mf::tests_sample();
        m.tool = "docker-cr 1".into();
        m.files.insert(FOREIGN.into(), mf::FileSum::default());
        assert_eq!(read(&dir, &m).unwrap(), None, "docker-cr's own checkpoint has no foreign.json");
        m.tool = format!("Podman{TOOL_SUFFIX}");
        assert!(read(&dir, &m).is_err(), "a Copy is never honoured");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn mount_paths_and_volume_names_are_plain() {
        let (spec, config) = (json_fixture("spec.dump"), json_fixture("config.dump"));
        let with_mount = |dest: &str, source: &str| {
            let mut s = spec.clone();
            s["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": dest, "type": "bind", "source": source, "options": ["rbind"]}));
            container_json(&s, &config, None, false)
        };
        assert!(with_mount("/data", "/srv").is_ok());
        assert!(with_mount("/data:ro", "/srv").is_err());
        assert!(with_mount("/data", "/srv,rshared").is_err());
        assert!(with_mount("data", "/srv").is_err());
        assert!(with_mount("/a/../data", "/srv").is_err());
        let mut c = config.clone();
        c["namedVolumes"] = json!([{"volumeName": "/etc", "dest": "/vol"}]);
        let mut s = spec.clone();
        s["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/vol", "type": "bind", "source": "/x", "options": ["rbind"]}));
        assert!(container_json(&s, &c, None, false).is_err());
        // K2: a user namespace asks Docker for nothing it has.
        let mut s = spec.clone();
        s["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        let (saved, _) = container_json(&s, &config, None, false).unwrap();
        assert_eq!(saved["HostConfig"]["UsernsMode"], Value::Null);
        // Published port ranges stay below 65536.
        let mut c = config.clone();
        c["newPortMappings"] = json!([{"container_port": 65535, "host_port": 18000, "range": 2, "protocol": "tcp"}]);
        assert!(container_json(&spec, &c, None, false).is_err());
    }

    // Security review V2: a running container's stand-in is copied through
    // directory fds, links copied as links, never followed.
    #[test]
    fn stand_in_copies_never_follow_links() {
        use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
        let base = std::env::temp_dir().join(format!("dcr-copy-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let (from, secret, at) = (base.join("from"), base.join("secret"), base.join("sub/at"));
        fs::create_dir_all(from.join("d")).unwrap();
        fs::create_dir_all(&secret).unwrap();
        fs::write(secret.join("shadow"), "host secret").unwrap();
        fs::write(from.join("d/f"), "shm data").unwrap();
        fs::set_permissions(from.join("d/f"), fs::Permissions::from_mode(0o4755)).unwrap();
        symlink(&secret, from.join("link")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(from.join("fifo")).status().unwrap().success());
        // A stand-in that is itself a link to a host directory is not copied.
        let linked = base.join("linked");
        symlink(&secret, &linked).unwrap();
        let list = vec![
            StandIn {
                dest: "/dev/shm".into(),
                dir: true,
                mode: 0o1777,
                content: Content::Copy(from.display().to_string()),
            },
            StandIn { dest: "/x".into(), dir: true, mode: 0o755, content: Content::Copy(linked.display().to_string()) },
        ];
        let binds = make_stand_ins(&list, &base, &at).unwrap();
        assert_eq!(binds.len(), 2);
        assert_eq!(fs::read_to_string(at.join("0/d/f")).unwrap(), "shm data");
        assert_eq!(fs::metadata(at.join("0/d/f")).unwrap().mode() & 0o7777, 0o755, "setuid dropped");
        assert_eq!(fs::read_link(at.join("0/link")).unwrap(), secret, "a link stays a link");
        assert!(fs::symlink_metadata(at.join("0/fifo")).is_err(), "no fifo");
        assert_eq!(fs::read_dir(at.join("1")).unwrap().count(), 0, "a linked stand-in is not followed");
        assert_eq!(fs::metadata(&at).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(base.join("sub")).unwrap().mode() & 0o777, 0o700);
        let _ = fs::remove_dir_all(&base);
    }

    #[test]
    fn devshm_stand_in_has_no_setuid_files() {
        use std::os::unix::fs::MetadataExt;
        let base = std::env::temp_dir().join(format!("dcr-devshm-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        let mut b = tar::Builder::new(fs::File::create(base.join(DEVSHM_TAR)).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o6755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, "su", &b"x\n"[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        let list = vec![StandIn {
            dest: "/dev/shm".into(),
            dir: true,
            mode: 0o1777,
            content: Content::Tar(DEVSHM_TAR.into()),
        }];
        make_stand_ins(&list, &base, &base.join("s/at")).unwrap();
        let m = fs::metadata(base.join("s/at/0/su")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o755);
        assert_eq!(fs::read_dir(base.join("s/at")).unwrap().count(), 1, "the unpacked copy is gone");
        let _ = fs::remove_dir_all(&base);
    }

    // Security review C2: the overlay child's mounts never reach this
    // namespace, and go with the child even if it does not unmount.
    #[test]
    fn the_child_namespace_keeps_its_mounts() {
        use std::os::unix::fs::MetadataExt;
        let at = std::env::temp_dir().join(format!("dcr-private-ns-{}", std::process::id()));
        fs::create_dir_all(&at).unwrap();
        let dev = fs::metadata(&at).unwrap().dev();
        let r = in_private_namespace(|| {
            rustix::mount::mount("tmpfs", &at, "tmpfs", rustix::mount::MountFlags::empty(), None).at("mount", &at)?;
            let seen = fs::metadata(&at).at("stat", &at)?.dev() != dev;
            Ok((u64::from(seen), 7))
        });
        assert_eq!(r.unwrap(), (1, 7), "the child saw its tmpfs");
        assert_eq!(fs::metadata(&at).unwrap().dev(), dev, "left mounted here");
        let e = in_private_namespace(|| Err(Error::host("no overlay", "use overlay2"))).unwrap_err();
        assert_eq!((e.to_string().contains("no overlay"), e.hint()), (true, Some("use overlay2".to_string())));
        let _ = fs::remove_dir(&at);
    }

    #[test]
    fn overlay_options_name_the_layers() {
        let c = json!({"GraphDriver": {"Data": {"LowerDir": "/l1:/l2", "UpperDir": "/u", "WorkDir": "/w", "MergedDir": "/m"}}});
        assert_eq!(overlay_options(&c).unwrap(), "index=off,lowerdir=/l1:/l2,upperdir=/u,workdir=/w");
        assert_eq!(overlay_options(&json!({})), None);
    }
}
