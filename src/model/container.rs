//! What docker-cr reads from a checkpoint's `container.json` (the saved
//! inspect data) beyond what the restore's create body copies. Pure.

use serde_json::Value;

/// One published port, as `docker run -p` takes it:
/// `[ip:][host_port:]container_port[/proto]`.
#[derive(Debug, PartialEq, Clone, serde::Serialize)]
pub struct Publish {
    pub host_ip: String,
    pub host_port: String,
    pub container_port: String,
    pub proto: String,
}

/// An anonymous volume of the checkpointed container: a volume mount that
/// neither its Binds nor its Mounts name (`docker run -v /data`, or a
/// VOLUME of the image).
#[derive(Debug, Clone, PartialEq)]
pub struct AnonVolume {
    pub name: String,
    pub dest: String,
    pub rw: bool,
}

/// The checkpointed container's anonymous volumes. Pure.
pub fn anonymous_volumes(saved: &Value) -> Vec<AnonVolume> {
    let hc = &saved["HostConfig"];
    let covered: Vec<&str> = hc["Binds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|b| b.split(':').nth(1))
        .chain(hc["Mounts"].as_array().into_iter().flatten().filter_map(|m| m["Target"].as_str()))
        .collect();
    saved["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] == "volume")
        .filter_map(|m| {
            let (name, dest) = (m["Name"].as_str()?, m["Destination"].as_str()?);
            (!covered.contains(&dest)).then(|| AnonVolume {
                name: name.into(),
                dest: dest.into(),
                rw: m["RW"] != false,
            })
        })
        .collect()
}
