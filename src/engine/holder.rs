//! What each Docker generation can restore, and the network holder that
//! makes Docker >= 28 restore containers with a network namespace of their
//! own.
//!
//! Docker 28 attaches a container's network between task create and task
//! start, through `/proc/<task pid>/ns/net`; a task created from a
//! checkpoint has no process before start, so every restore of a container
//! with its own network namespace (bridge, user networks, `-p`, even
//! `--network none`) fails with `bind-mount /proc/0/ns/net -> …` (moby#50750,
//! containerd#12141). Containers that join another one's namespace
//! (`--network container:X`) restore fine, because the engine then plumbs
//! nothing. So, as Kubernetes pods do, a small *holder* container owns the
//! network namespace, the addresses, aliases and published ports, and the
//! restored container joins it with `NetworkMode: container:<holder>`.
//!
//! The holder runs the restored container's own image (no other image is
//! needed) with a 240-byte static program of docker-cr's bind-mounted as its
//! entrypoint (`pause_program`): it sleeps, and exits once the restored
//! container's directory in the engine's root is gone (`docker rm`), after
//! which the engine removes the holder (AutoRemove); a Compose service's
//! holder is instead one of the project's one-off containers, which
//! Compose removes with the service (`compose_labels`). Labels name each one
//! from the other; a checkpoint of the restored container takes the network
//! settings back from its holder (`fold_into_saved`), so the checkpoint looks
//! like one of a plain bridge container and restores anywhere.
//!
//! Planning is pure (`split`, `holder_body`, `fold_into_saved`, `generation`);
//! `install_pause` is the one effect, the engine calls are in `restore`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{IoContext, Result};

/// Label on a restored container: the name of its network holder.
pub const LABEL_HOLDER: &str = "org.docker-cr.net-holder";
/// Label on a holder: the name of the container it holds the network for.
pub const LABEL_HOLDER_FOR: &str = "org.docker-cr.net-holder-for";
/// Labels docker-cr puts on containers start with this; a checkpoint's copy
/// of them is never carried over to a new container.
pub const LABEL_PREFIX: &str = "org.docker-cr.";
/// Where the pause program and the restored container's directory appear
/// inside the holder.
const PAUSE_IN_HOLDER: &str = "/.docker-cr-pause";
const PEER_IN_HOLDER: &str = "/.docker-cr-peer";
/// The upstream reports behind the holder, for messages and the man page.
pub const NETNS_ISSUE: &str = "moby#50750, containerd#12141";

/// Config keys Docker refuses with `NetworkMode: container:X` ("conflicting
/// options"): they belong to whoever owns the network namespace.
const NET_CONFIG: &[&str] = &["Hostname", "Domainname", "MacAddress", "ExposedPorts"];
const NET_HOST_CONFIG: &[&str] =
    &["PortBindings", "PublishAllPorts", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "Links"];

/// An engine generation's version, from `/version` ("28.5.2+dfsg4" → (28, 5)).
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// What a Docker generation can and cannot restore, as docker-cr handles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Generation {
    pub version: (u32, u32),
    /// A restore into a new network namespace fails (Docker >= 28).
    pub needs_holder: bool,
    /// `HostConfig.Annotations` reach runc (Engine API >= 1.43, Docker 24+):
    /// a restore can have its own CRIU config file.
    pub annotations: bool,
}

pub fn generation(engine_version: &str, api: &str) -> Generation {
    let version = parse_version(engine_version).unwrap_or((0, 0));
    let api = parse_version(api).unwrap_or((0, 0));
    Generation { version, needs_holder: version.0 >= 28, annotations: api >= (1, 43) }
}

impl Generation {
    /// The known limits of this generation, for `check`.
    pub fn limits(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.needs_holder {
            out.push(format!(
                "Docker {}.{} cannot start a checkpoint in a new network namespace ({NETNS_ISSUE}): docker-cr restores \
                 such containers behind a network holder container, and restoring into the same stopped container \
                 replaces it by a new one of the same name",
                self.version.0, self.version.1
            ));
        }
        if !self.annotations {
            out.push(
                "Engine API < 1.43: no per-container CRIU options; a restore puts its options in /etc/criu/runc.conf \
                 for the moment of the start"
                    .to_string(),
            );
        }
        out
    }
}

/// Whether a container created with this NetworkMode gets a namespace of its
/// own (which Docker >= 28 cannot restore into).
pub fn own_netns(mode: &str) -> bool {
    !(mode == "host" || mode.starts_with("container:"))
}

/// Takes out of a create body what Docker refuses with `container:X`
/// networking and returns it: (Config part, HostConfig part, NetworkingConfig).
fn take_network(body: &mut Map<String, Value>) -> (Map<String, Value>, Map<String, Value>, Option<Value>) {
    let mut cfg = Map::new();
    for k in NET_CONFIG {
        if let Some(v) = body.remove(*k) {
            cfg.insert((*k).to_string(), v);
        }
    }
    let mut hc = Map::new();
    if let Some(h) = body.get_mut("HostConfig").and_then(Value::as_object_mut) {
        for k in NET_HOST_CONFIG {
            if let Some(v) = h.remove(*k) {
                hc.insert((*k).to_string(), v);
            }
        }
        if let Some(v) = h.remove("NetworkMode") {
            hc.insert("NetworkMode".into(), v);
        }
        // Network sysctls act on the namespace: the holder's.
        if let Some(s) = h.get_mut("Sysctls").and_then(Value::as_object_mut) {
            let net: Vec<String> = s.keys().filter(|k| k.starts_with("net.")).cloned().collect();
            let mut moved = Map::new();
            for k in net {
                if let Some(v) = s.remove(&k) {
                    moved.insert(k, v);
                }
            }
            if !moved.is_empty() {
                hc.insert("Sysctls".into(), Value::Object(moved));
            }
        }
    }
    let nc = body.remove("NetworkingConfig");
    (cfg, hc, nc)
}

/// A create body for a container that joins another one's network
/// namespace: what Docker refuses in that mode is left out (the namespace's
/// owner has it). Used for checkpoints of `--network container:X` containers,
/// on every engine.
pub fn strip_for_joining(body: &Value) -> Value {
    let mut b = body.as_object().cloned().unwrap_or_default();
    let mode = b.get("HostConfig").and_then(|h| h.get("NetworkMode")).cloned();
    take_network(&mut b);
    if let (Some(m), Some(h)) = (mode, b.get_mut("HostConfig").and_then(Value::as_object_mut)) {
        h.insert("NetworkMode".into(), m);
    }
    Value::Object(b)
}

/// The restored container's create body and the network part for its
/// holder, named `holder`.
pub struct Split {
    pub restored: Value,
    pub config: Map<String, Value>,
    pub host_config: Map<String, Value>,
    pub networking: Option<Value>,
}

pub fn split(body: &Value, holder: &str) -> Split {
    let mut b = body.as_object().cloned().unwrap_or_default();
    let (config, host_config, networking) = take_network(&mut b);
    if let Some(h) = b.get_mut("HostConfig").and_then(Value::as_object_mut) {
        h.insert("NetworkMode".into(), json!(format!("container:{holder}")));
    }
    let labels = b.entry("Labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Some(l) = labels.as_object_mut() {
        l.insert(LABEL_HOLDER.into(), json!(holder));
    }
    Split { restored: Value::Object(b), config, host_config, networking }
}

/// The holder's name for a restored container's.
pub fn holder_name(restored: &str) -> String {
    format!("{restored}-docker-cr-net")
}

/// The holder's create body: the restored image, the pause program as its
/// only process (as root, without capabilities: it only sleeps and looks at
/// one path), the network part of `split`, the restored container's
/// directory to watch, and the restart policy of the container it serves.
pub fn holder_body(s: &Split, image: &str, pause: &Path, peer_dir: &Path, for_name: &str, restart: &Value) -> Value {
    let mut b = s.config.clone();
    b.insert("Image".into(), json!(image));
    b.insert("Entrypoint".into(), json!([PAUSE_IN_HOLDER]));
    b.insert("Cmd".into(), Value::Null);
    b.insert("User".into(), json!("0:0"));
    b.insert("WorkingDir".into(), json!("/"));
    b.insert("Env".into(), json!([]));
    // It never handles SIGTERM (PID 1 ignores what it does not handle):
    // stopping it need not wait 10 s.
    b.insert("StopSignal".into(), json!("SIGKILL"));
    let mut labels = json!({ LABEL_HOLDER_FOR: for_name });
    let compose = compose_labels(&s.restored["Labels"]);
    let of_compose = !compose.is_empty();
    if let Some(l) = labels.as_object_mut() {
        l.extend(compose);
    }
    b.insert("Labels".into(), labels);
    let mut hc = s.host_config.clone();
    hc.insert(
        "Binds".into(),
        json!([
            format!("{}:{PAUSE_IN_HOLDER}:ro", pause.display()),
            format!("{}:{PEER_IN_HOLDER}:ro", peer_dir.display())
        ]),
    );
    hc.insert("CapDrop".into(), json!(["ALL"]));
    hc.insert("SecurityOpt".into(), json!(["no-new-privileges"]));
    // A holder whose container is gone exits (status 0); the engine then
    // removes it. A container with a restart policy needs its holder back
    // when the engine restarts (it stops the holder with SIGKILL, status
    // 137): "on-failure" brings it back then, and not after its clean exit.
    // AutoRemove cannot go with a restart policy: such a holder stays
    // stopped, and the next restore of the name removes it.
    // A Compose service's holder is removed by Compose with it (see
    // `compose_labels`): an AutoRemove under way would race Compose's own
    // removal, and then its removal of the project's networks.
    let policy = restart["Name"].as_str().unwrap_or("");
    if matches!(policy, "" | "no") && !of_compose {
        hc.insert("AutoRemove".into(), json!(true));
    } else {
        hc.insert("RestartPolicy".into(), json!({"Name": "on-failure", "MaximumRetryCount": 0}));
    }
    b.insert("HostConfig".into(), Value::Object(hc));
    if let Some(n) = &s.networking {
        b.insert("NetworkingConfig".into(), n.clone());
    }
    Value::Object(b)
}

/// The labels that make a restored Compose service's holder a one-off
/// container of the same service (as `docker-compose run` makes): Compose's
/// `down` then stops and removes it with the service's container, and can
/// remove the project's networks after (an active endpoint of a holder
/// would make that fail); `ps` lists it; `up`, `logs` and `start` leave
/// one-off containers alone. None for a container that is not Compose's.
/// Pure.
pub fn compose_labels(labels: &Value) -> Map<String, Value> {
    const PROJECT: &str = "com.docker.compose.project";
    let mut out = Map::new();
    let Some(l) = labels.as_object().filter(|l| l.contains_key(PROJECT)) else { return out };
    for k in [
        PROJECT,
        "com.docker.compose.service",
        "com.docker.compose.version",
        "com.docker.compose.project.working_dir",
        "com.docker.compose.project.config_files",
    ] {
        if let Some(v) = l.get(k) {
            out.insert(k.to_string(), v.clone());
        }
    }
    out.insert("com.docker.compose.oneoff".into(), json!("True"));
    out
}

/// A checkpoint of a container restored behind a holder: its saved inspect
/// data gets the network settings back from the holder's, so that it
/// restores like the container it once was, on any engine; docker-cr's
/// labels are dropped.
pub fn fold_into_saved(saved: &mut Value, holder: &Value) {
    for k in NET_CONFIG {
        match holder["Config"].get(*k) {
            Some(v) => saved["Config"][*k] = v.clone(),
            None => {
                if let Some(c) = saved["Config"].as_object_mut() {
                    c.remove(*k);
                }
            }
        }
    }
    for k in NET_HOST_CONFIG.iter().chain(&["NetworkMode"]) {
        if let Some(v) = holder["HostConfig"].get(*k) {
            saved["HostConfig"][*k] = v.clone();
        }
    }
    if let Some(net) = holder["HostConfig"]["Sysctls"].as_object() {
        for (k, v) in net.iter().filter(|(k, _)| k.starts_with("net.")) {
            saved["HostConfig"]["Sysctls"][k] = v.clone();
        }
    }
    saved["NetworkSettings"] = holder["NetworkSettings"].clone();
    drop_our_labels(saved);
}

/// docker-cr's labels in saved inspect data name containers of the host it
/// was taken on; a new container gets fresh ones.
pub fn drop_our_labels(saved: &mut Value) {
    if let Some(l) = saved["Config"]["Labels"].as_object_mut() {
        l.retain(|k, _| !k.starts_with(LABEL_PREFIX));
    }
}

/// The holder's only process, a static x86-64 Linux program (no C library,
/// so it runs in any image): every second it looks at the restored
/// container's `config.v2.json` (bind-mounted at `PEER_IN_HOLDER`), and exits
/// once that is gone (ENOENT: `docker rm`). Any other answer keeps it
/// sleeping: a holder must never take the network from a living container.
///
/// ```text
/// loop: mov eax,35 (nanosleep); lea rdi,[rip+ts]; xor esi,esi; syscall
///       mov eax,21 (access);    lea rdi,[rip+path]; xor esi,esi; syscall
///       cmp rax,-2 (ENOENT);    jne loop
///       mov eax,231 (exit_group); xor edi,edi; syscall
/// ts:   {1 s, 0 ns}    path: "/.docker-cr-peer/config.v2.json\0"
/// ```
pub fn pause_program() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const CODE_AT: u64 = 64 + 56; // after the ELF header and one program header
    let mut code: Vec<u8> = vec![
        0xb8, 35, 0, 0, 0, // mov eax, 35
        0x48, 0x8d, 0x3d, 36, 0, 0, 0, // lea rdi, [rip+36] -> ts (at 48)
        0x31, 0xf6, // xor esi, esi
        0x0f, 0x05, // syscall
        0xb8, 21, 0, 0, 0, // mov eax, 21
        0x48, 0x8d, 0x3d, 36, 0, 0, 0, // lea rdi, [rip+36] -> path (at 64)
        0x31, 0xf6, // xor esi, esi (F_OK)
        0x0f, 0x05, // syscall
        0x48, 0x83, 0xf8, 0xfe, // cmp rax, -2
        0x75, 0xda, // jne loop (-38)
        0xb8, 231, 0, 0, 0, // mov eax, 231
        0x31, 0xff, // xor edi, edi
        0x0f, 0x05, // syscall
        0x90, // pad to 48
    ];
    code.extend_from_slice(&1u64.to_le_bytes());
    code.extend_from_slice(&0u64.to_le_bytes());
    code.extend_from_slice(format!("{PEER_IN_HOLDER}/config.v2.json\0").as_bytes());
    let total = CODE_AT + code.len() as u64;
    let mut f = Vec::with_capacity(total as usize);
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(BASE + CODE_AT).to_le_bytes()); // entry
    f.extend_from_slice(&64u64.to_le_bytes()); // phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 64, 0, 0] {
        f.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // R+X
    for v in [0, BASE, BASE, total, total, 0x1000] {
        f.extend_from_slice(&v.to_le_bytes()); // offset, vaddr, paddr, filesz, memsz, align
    }
    f.extend_from_slice(&code);
    f
}

/// Where the pause program is kept: it must outlive the restore (the
/// holder's bind mount names it, also when the engine restarts the holder).
pub const PAUSE_PATH: &str = crate::host::paths::HOLDER_PAUSE;

/// Writes the pause program (0755) unless the same bytes are there already;
/// a replaced file is renamed over, so running holders keep theirs.
pub fn install_pause(path: &Path) -> Result<PathBuf> {
    let want = pause_program();
    if fs::read(path).is_ok_and(|have| have == want) {
        return Ok(path.to_path_buf());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).at("create", dir)?;
    }
    let tmp = path.with_extension(format!("new-{}", std::process::id()));
    let mut f =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o755).open(&tmp).at("create", &tmp)?;
    f.write_all(&want).at("write", &tmp)?;
    f.sync_all().at("sync", &tmp)?;
    // The umask (077) must not make it unreadable for the holder.
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755)).at("chmod", &tmp)?;
    fs::rename(&tmp, path).at("rename", path)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({
            "Hostname": "a1b2", "Domainname": "", "Image": "busy", "Cmd": ["httpd"],
            "ExposedPorts": {"80/tcp": {}}, "Labels": {"x": "y"},
            "HostConfig": {"NetworkMode": "appnet", "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
                           "Dns": ["1.1.1.1"], "Memory": 0, "Sysctls": {"net.ipv4.ip_forward": "1", "kernel.x": "1"}},
            "NetworkingConfig": {"EndpointsConfig": {"appnet": {"Aliases": ["web"]}}}
        })
    }

    #[test]
    fn generations() {
        assert_eq!(parse_version("28.5.2+dfsg4"), Some((28, 5)));
        assert_eq!(parse_version("20.10.24+dfsg1"), Some((20, 10)));
        assert_eq!(parse_version("x"), None);
        let g28 = generation("28.5.2+dfsg4", "1.43");
        assert!(g28.needs_holder && g28.annotations);
        assert!(g28.limits()[0].contains("Docker 28.5") && g28.limits()[0].contains("moby#50750"));
        let g26 = generation("26.1.5+dfsg1", "1.43");
        assert!(!g26.needs_holder && g26.annotations && g26.limits().is_empty());
        let g20 = generation("20.10.24+dfsg1", "1.41");
        assert!(!g20.needs_holder && !g20.annotations);
        assert!(g20.limits()[0].contains("runc.conf"));
        assert!(own_netns("default") && own_netns("none") && own_netns("appnet"));
        assert!(!own_netns("host") && !own_netns("container:abc"));
    }

    #[test]
    fn split_moves_the_network_to_the_holder() {
        let s = split(&body(), "web-docker-cr-net");
        let r = &s.restored;
        assert_eq!(r["HostConfig"]["NetworkMode"], "container:web-docker-cr-net");
        for k in ["Hostname", "Domainname", "ExposedPorts", "NetworkingConfig"] {
            assert!(r.get(k).is_none(), "{k} left in the restored body");
        }
        assert!(r["HostConfig"].get("PortBindings").is_none() && r["HostConfig"].get("Dns").is_none());
        assert_eq!(r["HostConfig"]["Sysctls"], json!({"kernel.x": "1"}));
        assert_eq!(r["HostConfig"]["Memory"], 0);
        assert_eq!(r["Labels"], json!({"x": "y", LABEL_HOLDER: "web-docker-cr-net"}));
        let h = holder_body(
            &s,
            "busy",
            Path::new("/p"),
            Path::new("/d/containers/abc"),
            "web",
            &json!({"Name": "no", "MaximumRetryCount": 0}),
        );
        assert_eq!(h["Hostname"], "a1b2");
        assert_eq!(h["Entrypoint"], json!([PAUSE_IN_HOLDER]));
        assert_eq!(h["HostConfig"]["NetworkMode"], "appnet");
        assert_eq!(h["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(h["HostConfig"]["Sysctls"], json!({"net.ipv4.ip_forward": "1"}));
        assert_eq!(
            h["HostConfig"]["Binds"],
            json!(["/p:/.docker-cr-pause:ro", "/d/containers/abc:/.docker-cr-peer:ro"])
        );
        assert_eq!(h["HostConfig"]["AutoRemove"], true);
        assert_eq!(h["NetworkingConfig"]["EndpointsConfig"]["appnet"]["Aliases"], json!(["web"]));
        assert_eq!(h["Labels"], json!({LABEL_HOLDER_FOR: "web"}));
        let h = holder_body(&s, "busy", Path::new("/p"), Path::new("/d"), "web", &json!({"Name": "always"}));
        assert!(h["HostConfig"].get("AutoRemove").is_none());
        assert_eq!(h["HostConfig"]["RestartPolicy"]["Name"], "on-failure", "not after its clean exit");
    }

    // Issue 19: a restored Compose service's holder is one of the project's
    // one-off containers, so that docker-compose down removes it too.
    #[test]
    fn a_compose_services_holder_goes_with_the_project() {
        let mut b = body();
        b["Labels"] = json!({"com.docker.compose.project": "shop", "com.docker.compose.service": "app",
                             "com.docker.compose.oneoff": "False", "com.docker.compose.container-number": "1",
                             "com.docker.compose.config-hash": "abc"});
        let s = split(&b, "shop_app_1-docker-cr-net");
        let h = holder_body(&s, "busy", Path::new("/p"), Path::new("/d"), "shop_app_1", &json!({"Name": "no"}));
        assert_eq!(
            h["Labels"],
            json!({LABEL_HOLDER_FOR: "shop_app_1", "com.docker.compose.project": "shop",
                   "com.docker.compose.service": "app", "com.docker.compose.oneoff": "True"})
        );
        assert!(h["HostConfig"].get("AutoRemove").is_none(), "Compose removes it; an AutoRemove would race that");
        assert!(compose_labels(&json!({"x": "y"})).is_empty());
    }

    // Issue 10: "create copies the saved Hostname, which Docker refuses in
    // that mode" (--network container:X), on every engine.
    #[test]
    fn joining_another_namespace_drops_what_docker_refuses() {
        let mut b = body();
        b["HostConfig"]["NetworkMode"] = json!("container:db");
        let j = strip_for_joining(&b);
        assert_eq!(j["HostConfig"]["NetworkMode"], "container:db");
        assert!(j.get("Hostname").is_none() && j.get("ExposedPorts").is_none());
        assert!(j["HostConfig"].get("PortBindings").is_none() && j.get("NetworkingConfig").is_none());
        assert_eq!(j["Cmd"], json!(["httpd"]));
    }

    #[test]
    fn a_checkpoint_behind_a_holder_looks_like_the_original() {
        let s = split(&body(), "web-docker-cr-net");
        let mut saved = json!({"Config": s.restored.clone(), "HostConfig": s.restored["HostConfig"].clone(),
                               "NetworkSettings": {"Networks": {}}});
        let holder = json!({"Config": {"Hostname": "a1b2", "ExposedPorts": {"80/tcp": {}}},
                            "HostConfig": {"NetworkMode": "appnet", "PortBindings": {"80/tcp": []},
                                           "Sysctls": {"net.ipv4.ip_forward": "1"}},
                            "NetworkSettings": {"Networks": {"appnet": {"IPAddress": "10.0.0.2"}}}});
        fold_into_saved(&mut saved, &holder);
        assert_eq!(saved["HostConfig"]["NetworkMode"], "appnet");
        assert_eq!(saved["Config"]["Hostname"], "a1b2");
        assert_eq!(saved["Config"]["Labels"], json!({"x": "y"}));
        assert_eq!(saved["HostConfig"]["Sysctls"]["net.ipv4.ip_forward"], "1");
        assert_eq!(saved["NetworkSettings"]["Networks"]["appnet"]["IPAddress"], "10.0.0.2");
    }

    #[test]
    fn pause_program_is_a_small_static_elf() {
        let p = pause_program();
        assert_eq!(&p[..4], b"\x7fELF");
        assert_eq!(u64::from_le_bytes(p[24..32].try_into().unwrap()), 0x40_0000 + 120, "entry at the code");
        assert_eq!(u64::from_le_bytes(p[64 + 32..64 + 40].try_into().unwrap()), p.len() as u64, "filesz");
        assert_eq!(p[120 + 48], 1, "timespec of 1 s at code+48 (the first lea's target)");
        assert!(p[120 + 64..].starts_with(b"/.docker-cr-peer/config.v2.json\0"), "path at code+64");
        assert!(p.len() < 256);
    }
}
