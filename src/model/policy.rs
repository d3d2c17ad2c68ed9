//! What a checkpoint may ask of the host when restore creates a container
//! from it. The saved HostConfig is data from outside (an edited checkpoint
//! is one command away): restore copies only the settings on this
//! allow-list, and lists every setting that would give the container access
//! to the host (privileged mode, capabilities, devices, host namespaces,
//! host paths, unconfined security options, other runtimes, cgroup
//! parents...). Those need the operator's `--allow-host-access`. Pure.

use serde_json::{Map, Value};

/// How restore treats one HostConfig key.
enum Rule {
    /// Resource limits and plain settings: copied as they are.
    Copy,
    /// Derived by the engine, or meaningless on another container: left out.
    Drop,
    /// Copied if this says it grants nothing; otherwise the grant, in words.
    Check(fn(&Value) -> Option<String>),
}

fn rule(key: &str) -> Option<Rule> {
    use Rule::*;
    Some(match key {
        "PortBindings" | "RestartPolicy" | "AutoRemove" | "PublishAllPorts" | "Dns" | "DnsOptions" | "DnsSearch"
        | "ExtraHosts" | "GroupAdd" | "Links" | "ReadonlyRootfs" | "ShmSize" | "ConsoleSize" | "CpuShares"
        | "Memory" | "NanoCpus" | "CpuPeriod" | "CpuQuota" | "CpusetCpus" | "CpusetMems" | "MemoryReservation"
        | "MemorySwap" | "MemorySwappiness" | "KernelMemory" | "KernelMemoryTCP" | "PidsLimit" | "CpuCount"
        | "CpuPercent" | "IOMaximumIOps" | "IOMaximumBandwidth" | "BlkioWeight" | "Init" | "CapDrop" | "Tmpfs"
        | "Ulimits" | "VolumeDriver" | "OomKillDisable" => Copy,
        // The engine fills in its defaults; an empty list means they were
        // switched off (systempaths=unconfined).
        "MaskedPaths" | "ReadonlyPaths" => Check(|v| {
            v.as_array()
                .is_some_and(|a| a.is_empty())
                .then(|| "unmasked /proc and /sys paths (systempaths=unconfined)".into())
        }),
        // The engine's default applies: "host" on cgroup v1 engines, where
        // that is what every container has, "private" on v2.
        "ContainerIDFile" | "CgroupnsMode" => Drop,
        "Privileged" => Check(|v| (v == true).then(|| "privileged mode".into())),
        "CapAdd" => Check(|v| non_empty(v).then(|| format!("added capabilities {}", list(v)))),
        "Devices" => Check(|v| non_empty(v).then(|| format!("host devices {}", devices(v)))),
        "DeviceCgroupRules" => Check(|v| non_empty(v).then(|| format!("device cgroup rules {}", list(v)))),
        "DeviceRequests" => Check(|v| non_empty(v).then(|| "device requests (GPUs)".into())),
        "BlkioWeightDevice"
        | "BlkioDeviceReadBps"
        | "BlkioDeviceWriteBps"
        | "BlkioDeviceReadIOps"
        | "BlkioDeviceWriteIOps" => Check(|v| non_empty(v).then(|| "I/O limits naming host devices".into())),
        "CpuRealtimePeriod" | "CpuRealtimeRuntime" => {
            Check(|v| v.as_i64().is_some_and(|n| n != 0).then(|| "real-time CPU scheduling".into()))
        }
        "OomScoreAdj" => {
            Check(|v| v.as_i64().is_some_and(|n| n < 0).then(|| format!("a negative OOM score adjustment ({v})")))
        }
        "PidMode" => Check(|v| namespace(v, "PID", &[""])),
        "IpcMode" => Check(|v| namespace(v, "IPC", &["", "private", "shareable", "none"])),
        "UTSMode" => Check(|v| namespace(v, "UTS", &[""])),
        "UsernsMode" => Check(|v| namespace(v, "user", &[""])),
        "Cgroup" => Check(|v| namespace(v, "cgroup", &[""])),
        "NetworkMode" => Check(|v| {
            let m = v.as_str().unwrap_or("");
            (m == "host" || m.starts_with("container:")).then(|| format!("the network namespace of {m}"))
        }),
        "SecurityOpt" => Check(|v| {
            let bad: Vec<&str> = strings(v).filter(|o| !o.starts_with("no-new-privileges")).collect();
            (!bad.is_empty()).then(|| format!("security options {}", bad.join(", ")))
        }),
        "Binds" => Check(|v| {
            let host: Vec<&str> = strings(v).filter(|b| bind_source(b).starts_with('/') && !safe_bind(b)).collect();
            (!host.is_empty()).then(|| format!("host paths {}", host.join(", ")))
        }),
        "Mounts" => Check(|v| {
            let host: Vec<String> = v
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| match m["Type"].as_str() {
                    Some("tmpfs") => false,
                    // A volume created with driver options can be any host
                    // path (local driver: type=none, o=bind, device=/).
                    Some("volume") => non_empty(&m["VolumeOptions"]["DriverConfig"]),
                    _ => true,
                })
                .map(|m| format!("{}:{}", m["Source"].as_str().unwrap_or("?"), m["Target"].as_str().unwrap_or("?")))
                .collect();
            (!host.is_empty()).then(|| format!("host mounts {}", host.join(", ")))
        }),
        "VolumesFrom" => Check(|v| non_empty(v).then(|| format!("the volumes of containers {}", list(v)))),
        "CgroupParent" => Check(|v| non_empty(v).then(|| format!("the cgroup parent {v}"))),
        "Runtime" => Check(|v| {
            let r = v.as_str().unwrap_or("");
            (!matches!(r, "" | "runc" | "io.containerd.runc.v2")).then(|| format!("the runtime {r:?}"))
        }),
        "Isolation" => Check(|v| {
            let i = v.as_str().unwrap_or("");
            (!matches!(i, "" | "default")).then(|| format!("isolation {i:?}"))
        }),
        "LogConfig" => Check(|v| {
            let t = v["Type"].as_str().unwrap_or("");
            (!matches!(t, "" | "json-file" | "local" | "none")).then(|| format!("the log driver {t:?}"))
        }),
        "Sysctls" => Check(|v| {
            let keys: Vec<&String> =
                v.as_object().into_iter().flat_map(|o| o.keys()).filter(|k| !k.starts_with("net.")).collect();
            (!keys.is_empty())
                .then(|| format!("kernel settings {}", keys.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")))
        }),
        "StorageOpt" => Check(|v| non_empty(v).then(|| "storage options".into())),
        // Annotations reach runc: org.criu.config names a CRIU config file
        // that CRIU would read as root.
        "Annotations" => Check(|v| non_empty(v).then(|| format!("OCI annotations {}", keys(v)))),
        _ => return None,
    })
}

/// Read-only binds of the host's time zone: common, and harmless.
fn safe_bind(b: &str) -> bool {
    let parts: Vec<&str> = b.split(':').collect();
    matches!(parts.first(), Some(&"/etc/localtime") | Some(&"/etc/timezone"))
        && parts.get(2).is_some_and(|o| o.split(',').any(|x| x == "ro"))
}

fn bind_source(b: &str) -> &str {
    b.split(':').next().unwrap_or("")
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn list(v: &Value) -> String {
    strings(v).collect::<Vec<_>>().join(", ")
}

fn keys(v: &Value) -> String {
    v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

fn devices(v: &Value) -> String {
    v.as_array().into_iter().flatten().filter_map(|d| d["PathOnHost"].as_str()).collect::<Vec<_>>().join(", ")
}

fn namespace(v: &Value, what: &str, allowed: &[&str]) -> Option<String> {
    let m = v.as_str().unwrap_or("");
    (!allowed.contains(&m)).then(|| format!("the {what} namespace of {m}"))
}

/// null, false, 0, "", [] and {}: what the engine reports for a setting
/// nobody set.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn non_empty(v: &Value) -> bool {
    !is_empty(v)
}

/// The HostConfig for the new container, and what the saved one asks for
/// beyond the allow-list. With `allow_host` the saved settings are kept
/// (the operator said so); the list is the same either way, to be shown.
pub fn host_config(saved: &Value, allow_host: bool) -> (Map<String, Value>, Vec<String>) {
    let mut out = Map::new();
    let mut grants = Vec::new();
    for (k, v) in saved.as_object().into_iter().flatten() {
        match rule(k) {
            Some(Rule::Copy) => {
                out.insert(k.clone(), v.clone());
            }
            Some(Rule::Drop) => {}
            Some(Rule::Check(f)) => match f(v) {
                None => {
                    if !matches!(k.as_str(), "MaskedPaths" | "ReadonlyPaths" | "Annotations") {
                        out.insert(k.clone(), v.clone());
                    }
                }
                Some(g) => {
                    grants.push(g);
                    if allow_host {
                        out.insert(k.clone(), v.clone());
                    }
                }
            },
            None if is_empty(v) => {}
            None => {
                grants.push(format!("the setting {k} (not on docker-cr's allow-list) = {}", short(v)));
                if allow_host {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    (out, grants)
}

/// The HostConfig for a checkpoint signed by this host's own key: made by
/// root here from a container the operator configured, so its saved
/// settings are restored as they were, bind mounts, devices and
/// capabilities included, with no flag. The list is the host access they
/// carry, for the output. Only what docker-cr itself added when it last
/// restored that container is left out (its `org.criu.config` annotation,
/// which names a file of that restore), and what the engine derives. Pure.
pub fn own_host_config(saved: &Value) -> (Map<String, Value>, Vec<String>) {
    let (mut hc, grants) = host_config(saved, true);
    if let Some(Value::Object(a)) = hc.get_mut("Annotations") {
        a.remove("org.criu.config");
        if a.is_empty() {
            hc.remove("Annotations");
        }
    }
    let grants = grants.into_iter().filter(|g| !g.contains("org.criu.config") || g.contains(", ")).collect();
    (hc, grants)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// HostConfig of `docker run -d -p 18080:80 --restart always -v dcrdata:/data`,
    /// recorded from Docker 20.10.24's inspect.
    fn plain() -> Value {
        serde_json::from_str(HC_20_10).unwrap()
    }
    const HC_20_10: &str = r#"{"Binds":["dcrdata:/data"],"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"18080"}]},"RestartPolicy":{"Name":"always","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"host","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"private","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":67108864,"Runtime":"runc","Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":["/proc/asound","/proc/acpi","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/proc/scsi","/sys/firmware"],"ReadonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}"#;

    #[test]
    fn own_checkpoints_keep_their_settings() {
        let mut p = plain();
        p["Binds"] = json!(["/srv/data:/data", "dcrdata:/v"]);
        p["CapAdd"] = json!(["SYS_ADMIN"]);
        p["Devices"] = json!([{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"}]);
        p["Annotations"] = json!({"org.criu.config": "/run/docker-cr/criu-old.conf"});
        let (hc, listed) = own_host_config(&p);
        assert_eq!(hc["Binds"], json!(["/srv/data:/data", "dcrdata:/v"]));
        assert_eq!(hc["CapAdd"], json!(["SYS_ADMIN"]));
        assert_eq!(hc["Devices"], p["Devices"]);
        assert!(!hc.contains_key("Annotations"), "docker-cr's own annotation of its last restore");
        assert!(!hc.contains_key("ContainerIDFile") && !hc.contains_key("MaskedPaths"));
        let all = listed.join("\n");
        assert!(all.contains("host paths /srv/data:/data") && all.contains("added capabilities SYS_ADMIN"), "{all}");
        assert!(all.contains("host devices /dev/fuse") && !all.contains("org.criu.config"), "{all}");
        // The same checkpoint from another host: the policy, as before.
        let (other, grants) = host_config(&p, false);
        assert!(!other.contains_key("Binds") && !other.contains_key("CapAdd") && !other.contains_key("Devices"));
        assert_eq!(grants.len(), listed.len() + 1, "{grants:?}");
        // Annotations of the operator's own are kept.
        p["Annotations"] = json!({"org.criu.config": "/x", "com.example": "1"});
        assert_eq!(own_host_config(&p).0["Annotations"], json!({"com.example": "1"}));
    }

    #[test]
    fn devices_and_volume_driver_options_need_the_operator() {
        let mut p = plain();
        p["DeviceRequests"] = json!([{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=all"]}]);
        p["DeviceCgroupRules"] = json!(["c 10:200 rwm"]);
        p["Devices"] = json!([{"PathOnHost": "/dev/kvm", "PathInContainer": "/dev/kvm"}]);
        p["Annotations"] = json!({"cdi.k8s.io/gpu": "nvidia.com/gpu=0"});
        p["Mounts"] = json!([
            {"Type": "volume", "Source": "plain", "Target": "/p"},
            {"Type": "volume", "Source": "root", "Target": "/r",
             "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}}}
        ]);
        let (hc, grants) = host_config(&p, false);
        let all = grants.join("\n");
        for want in [
            "device requests",
            "device cgroup rules c 10:200 rwm",
            "host devices /dev/kvm",
            "OCI annotations cdi.k8s.io/gpu",
            "host mounts root:/r",
        ] {
            assert!(all.contains(want), "{want:?} missing from {all}");
        }
        assert!(!all.contains("plain:/p"), "{all}");
        for k in ["DeviceRequests", "DeviceCgroupRules", "Devices", "Annotations", "Mounts"] {
            assert!(!hc.contains_key(k), "{k}");
        }
    }

    #[test]
    fn a_plain_container_asks_for_nothing() {
        let p = plain();
        let (hc, grants) = host_config(&p, false);
        assert_eq!(grants, Vec::<String>::new());
        assert_eq!(hc["PortBindings"], p["PortBindings"]);
        assert_eq!(hc["Binds"], json!(["dcrdata:/data"]));
        assert_eq!(hc["RestartPolicy"]["Name"], "always");
        assert!(!hc.contains_key("MaskedPaths") && !hc.contains_key("ContainerIDFile"));
    }

    #[test]
    fn host_access_is_listed_and_left_out_unless_allowed() {
        let mut p = plain();
        for (k, v) in [
            ("Privileged", json!(true)),
            ("Binds", json!(["/:/host", "dcrdata:/data", "/etc/localtime:/etc/localtime:ro"])),
            ("PidMode", json!("host")),
            ("NetworkMode", json!("host")),
            ("IpcMode", json!("container:db")),
            ("CapAdd", json!(["ALL"])),
            ("SecurityOpt", json!(["seccomp=unconfined", "no-new-privileges"])),
            ("Devices", json!([{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}])),
            ("VolumesFrom", json!(["db"])),
            ("CgroupParent", json!("/x")),
            ("Runtime", json!("/tmp/evil-runtime")),
            ("LogConfig", json!({"Type": "syslog", "Config": {"syslog-address": "tcp://10.0.0.1:514"}})),
            ("Annotations", json!({"org.criu.config": "/tmp/p.conf"})),
            ("MaskedPaths", json!([])),
            ("Sysctls", json!({"kernel.core_pattern": "|/tmp/x", "net.ipv4.ip_forward": "1"})),
            (
                "Mounts",
                json!([{"Type": "bind", "Source": "/etc", "Target": "/x"}, {"Type": "volume", "Source": "v", "Target": "/v"}]),
            ),
            ("FutureThing", json!({"x": 1})),
        ] {
            p[k] = v;
        }
        let (hc, grants) = host_config(&p, false);
        let all = grants.join("\n");
        for want in [
            "privileged mode",
            "host paths /:/host",
            "the PID namespace of host",
            "the network namespace of host",
            "the IPC namespace of container:db",
            "added capabilities ALL",
            "security options seccomp=unconfined",
            "host devices /dev/sda",
            "the volumes of containers db",
            "the cgroup parent \"/x\"",
            "the runtime \"/tmp/evil-runtime\"",
            "the log driver \"syslog\"",
            "OCI annotations org.criu.config",
            "unmasked /proc",
            "kernel settings kernel.core_pattern",
            "host mounts /etc:/x",
            "the setting FutureThing",
        ] {
            assert!(all.contains(want), "{want:?} missing from:\n{all}");
        }
        assert!(!all.contains("localtime") && !all.contains("dcrdata:/data") && !all.contains("no-new-privileges"));
        for k in ["Privileged", "Binds", "PidMode", "CapAdd", "Devices", "Runtime", "Annotations", "FutureThing"] {
            assert!(!hc.contains_key(k), "{k} copied without the operator's word");
        }
        let (hc, again) = host_config(&p, true);
        assert_eq!(again, grants);
        assert_eq!(hc["Privileged"], true);
        assert_eq!(hc["PidMode"], "host");
    }
}
