//! What Podman (4.3, `podman container restore --import`) needs of a
//! docker-cr archive beyond checkpointctl's layout: a spec it can start,
//! the CRIU images in the form its runc restores, and the reasons a
//! container cannot go there at all. `archive::config_dump` makes the
//! config.dump; `archive::export` puts these beside it. Pure functions:
//! the archive writer does the I/O.
//!
//! Only copies made for Podman change: the images docker-cr signed travel
//! unchanged under `docker-cr/` and come back into `checkpoint/` when
//! docker-cr imports the archive (`archive::finish_own`).

use serde_json::Value;

use crate::model::img;

/// The OCI spec for spec.dump: Docker's runtime spec without what would
/// make Podman run or bind something of the exporting host. Podman takes
/// this spec for the new container (libpod `RestoreContainer`), drops its
/// own /etc/hosts, /etc/hostname, /etc/resolv.conf and /dev/shm mounts and
/// makes new ones, sets the root, the cgroup path and the network
/// namespace; anything else stays as written here. So: no hooks (Docker's
/// `libnetwork-setkey` prestart hook is `/proc/<dockerd pid>/exe`), and no
/// bind mounts (their sources are the exporting host's paths). Pure.
pub fn spec_dump(spec: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("hooks");
    }
    if let Some(mounts) = s.get_mut("mounts").and_then(Value::as_array_mut) {
        mounts.retain(|m| {
            m["type"] != "bind"
                && !m["options"].as_array().is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind"))
        });
    }
    s
}

/// Why Podman cannot restore the saved container (inspect data), in
/// words for the export's output; empty when it can. Pure.
pub fn limits(saved: &Value) -> Vec<String> {
    let hc = &saved["HostConfig"];
    let mut why = Vec::new();
    let binds: Vec<&str> = saved["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "bind" || m["Type"] == "volume" || m["Type"] == "tmpfs")
        .filter_map(|m| m["Destination"].as_str())
        .collect();
    if !binds.is_empty() {
        why.push(format!(
            "it mounts volumes or host paths ({}), which docker-cr does not describe to Podman",
            binds.join(", ")
        ));
    }
    if hc["Tmpfs"].as_object().is_some_and(|t| !t.is_empty()) {
        why.push("it has --tmpfs mounts, which docker-cr does not describe to Podman".into());
    }
    for (key, what) in [("NetworkMode", "network"), ("PidMode", "PID"), ("IpcMode", "IPC"), ("UTSMode", "UTS")] {
        let mode = hc[key].as_str().unwrap_or("");
        if let Some(other) = mode.strip_prefix("container:") {
            why.push(format!("it shares the {what} namespace of container {other}; Podman imports no dependencies"));
        } else if mode == "host" && key != "NetworkMode" {
            why.push(format!("it uses the host's {what} namespace"));
        }
    }
    if hc["IpcMode"] == "shareable" {
        why.push("its /dev/shm is shareable (--ipc shareable): Podman would give it an empty one".into());
    }
    if saved.pointer("/Config/Tty").and_then(Value::as_bool) == Some(true) {
        why.push("it has a terminal (-t), which Podman's restore cannot hand back".into());
    }
    if hc["Privileged"].as_bool() == Some(true) {
        why.push("it is privileged".into());
    }
    why
}

/// Whether the CRIU image `name` may have a Podman form (`image`).
pub fn reshaped(name: &str) -> bool {
    (name.starts_with("mountpoints-") && name.ends_with(".img")) || name == "files.img"
}

/// The Podman form of the CRIU image `name` (a file of `checkpoint/`), or
/// None when it needs no change. Pure; an image that does not parse is an
/// error (the checkpoint is damaged).
pub fn image(name: &str, bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if !reshaped(name) {
        Ok(None)
    } else if name.starts_with("mountpoints-") {
        mountpoints(bytes)
    } else if name == "files.img" {
        files(bytes)
    } else {
        Ok(None)
    }
}

/// mnt_entry (images/mnt.proto): 10 shared_id, 11 master_id.
const MNT_SHARED_ID: u32 = 10;
const MNT_MASTER_ID: u32 = 11;

/// Mounts that were slaves of a peer group outside the container become
/// private. Docker's container root is a slave of the host mount that
/// holds /var/lib/docker (runc's default rslave propagation), so CRIU
/// records it with a master_id; Podman's root lies under containers/
/// storage, which keeps its mounts private, and CRIU then fails: "Failed
/// to copy sharing from ... criu-root: Invalid argument". Sharing within
/// the container (a master that is some mount's shared_id) is kept.
fn mountpoints(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let im = img::parse(bytes)?;
    let mut parsed = Vec::new();
    for e in &im.entries {
        parsed.push(img::fields(e)?);
    }
    let inside: Vec<u64> = parsed
        .iter()
        .filter_map(|f| img::field(f, MNT_SHARED_ID).and_then(|v| v.uint()))
        .filter(|&id| id != 0)
        .collect();
    let external = |v: &img::Value| v.uint().is_some_and(|id| id != 0 && !inside.contains(&id));
    let mut changed = false;
    let mut entries = Vec::new();
    for f in &parsed {
        let kept: Vec<(u32, img::Value)> =
            f.iter().filter(|(n, v)| !(*n == MNT_MASTER_ID && external(v))).copied().collect();
        changed |= kept.len() != f.len();
        entries.push(img::encode(&kept));
    }
    Ok(changed.then(|| img::write(&im.magic, &entries)))
}

/// file_entry (images/fdinfo.proto): 3 reg; reg_file_entry
/// (images/regfile.proto): 6 name, 10 mode.
const FILE_REG: u32 = 3;
const REG_NAME: u32 = 6;
const REG_MODE: u32 = 10;

/// The container's root directory without its recorded mode. CRIU checks
/// that `/` has the mode it had at the dump; Docker's overlay2 makes the
/// container's root 0755, containers/storage makes Podman's like the
/// image's top layer (0555 here), and nothing in an archive can change the
/// mode of Podman's root (its untar skips `.`). Without a mode CRIU
/// checks none: "File . has bad mode 040555 (expect 040755)" otherwise.
fn files(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let im = img::parse(bytes)?;
    let mut changed = false;
    let mut entries = Vec::new();
    for e in &im.entries {
        let f = img::fields(e)?;
        let reg = img::field(&f, FILE_REG).and_then(|v| v.bytes());
        let Some(reg) = reg else {
            entries.push(e.to_vec());
            continue;
        };
        let r = img::fields(reg)?;
        let is_root = img::field(&r, REG_NAME).and_then(|v| v.bytes()) == Some(b"/".as_slice());
        if !is_root || img::field(&r, REG_MODE).is_none() {
            entries.push(e.to_vec());
            continue;
        }
        let r2: Vec<(u32, img::Value)> = r.iter().filter(|(n, _)| *n != REG_MODE).copied().collect();
        let reg2 = img::encode(&r2);
        let f2: Vec<(u32, img::Value)> =
            f.iter().map(|(n, v)| if *n == FILE_REG { (*n, img::Value::Bytes(&reg2)) } else { (*n, *v) }).collect();
        entries.push(img::encode(&f2));
        changed = true;
    }
    Ok(changed.then(|| img::write(&im.magic, &entries)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mnt(id: u64, point: &str, shared: u64, master: u64) -> Vec<u8> {
        img::encode(&[
            (2, img::Value::Varint(id)),
            (7, img::Value::Bytes(point.as_bytes())),
            (MNT_SHARED_ID, img::Value::Varint(shared)),
            (MNT_MASTER_ID, img::Value::Varint(master)),
        ])
    }

    #[test]
    fn external_masters_go_internal_sharing_stays() {
        let magic = [img::COMMON_MAGIC, 0x5518_7951];
        let im = img::write(&magic, &[mnt(223, "/", 0, 11), mnt(224, "/a", 5, 0), mnt(225, "/b", 0, 5)]);
        let out = image_named("mountpoints-13.img", &im).unwrap();
        let back = img::parse(&out).unwrap();
        assert_eq!(back.magic, magic);
        let masters: Vec<Option<u64>> = back
            .entries
            .iter()
            .map(|e| img::field(&img::fields(e).unwrap(), MNT_MASTER_ID).and_then(|v| v.uint()))
            .collect();
        assert_eq!(masters, vec![None, Some(0), Some(5)], "only the outside master is gone");
        // Nothing to do: no change, no copy.
        let private = img::write(&magic, &[mnt(1, "/", 0, 0)]);
        assert_eq!(image("mountpoints-13.img", &private).unwrap(), None);
        assert_eq!(image("pages-1.img", &im).unwrap(), None, "other images pass as they are");
        assert!(image("mountpoints-13.img", &im[..10]).is_err());
    }

    fn image_named(name: &str, b: &[u8]) -> Option<Vec<u8>> {
        image(name, b).unwrap()
    }

    fn reg(id: u64, name: &str, mode: Option<u64>) -> Vec<u8> {
        let mut r = vec![(1, img::Value::Varint(id)), (REG_NAME, img::Value::Bytes(name.as_bytes()))];
        if let Some(m) = mode {
            r.push((REG_MODE, img::Value::Varint(m)));
        }
        let r = img::encode(&r);
        img::encode(&[(1, img::Value::Varint(1)), (2, img::Value::Varint(id)), (FILE_REG, img::Value::Bytes(&r))])
    }

    #[test]
    fn the_roots_mode_is_not_checked() {
        let magic = [img::COMMON_MAGIC, 0x5640_7b24];
        let im = img::write(&magic, &[reg(1, "/", Some(0o40755)), reg(2, "/bin/sh", Some(0o100755))]);
        let out = image_named("files.img", &im).unwrap();
        let modes: Vec<Option<u64>> = img::parse(&out)
            .unwrap()
            .entries
            .iter()
            .map(|e| {
                let f = img::fields(e).unwrap();
                let r = img::fields(img::field(&f, FILE_REG).unwrap().bytes().unwrap()).unwrap();
                img::field(&r, REG_MODE).and_then(|v| v.uint())
            })
            .collect();
        assert_eq!(modes, vec![None, Some(0o100755)]);
        assert_eq!(image("files.img", &out).unwrap(), None, "already in Podman's form");
    }

    #[test]
    fn spec_without_hooks_or_host_paths() {
        let spec = serde_json::json!({
            "hooks": {"prestart": [{"path": "/proc/123/exe", "args": ["libnetwork-setkey"]}]},
            "process": {"args": ["sh"]},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/etc/hosts", "type": "bind", "source": "/var/lib/docker/containers/x/hosts", "options": ["rbind", "rprivate"]},
                {"destination": "/data", "type": "none", "source": "/srv/data", "options": ["rbind"]}
            ]
        });
        let out = spec_dump(&spec);
        assert!(out.get("hooks").is_none());
        assert_eq!(out["process"], spec["process"]);
        let dests: Vec<&str> =
            out["mounts"].as_array().unwrap().iter().map(|m| m["destination"].as_str().unwrap()).collect();
        assert_eq!(dests, vec!["/proc"]);
        assert!(!out.to_string().contains("/var/lib/docker"), "{out}");
    }

    #[test]
    fn what_podman_cannot_take() {
        let plain = serde_json::json!({"HostConfig": {"NetworkMode": "default", "IpcMode": "private"}, "Config": {"Tty": false}, "Mounts": []});
        assert!(limits(&plain).is_empty());
        let hard = serde_json::json!({
            "HostConfig": {"NetworkMode": "container:abc", "PidMode": "host", "IpcMode": "shareable", "Privileged": true},
            "Config": {"Tty": true},
            "Mounts": [{"Type": "bind", "Source": "/srv", "Destination": "/srv"}, {"Type": "volume", "Name": "v", "Destination": "/v"}]
        });
        let why = limits(&hard).join("; ");
        for needle in
            ["/srv, /v", "network namespace of container abc", "host's PID", "shareable", "terminal", "privileged"]
        {
            assert!(why.contains(needle), "{needle:?} not in {why}");
        }
    }
}
