//! What docker-cr's checkpoint model holds of a checkpoint another engine
//! made (Podman's, CRI-O's, containerd's) once `formats::foreign` has
//! converted its archive: `foreign.json` (the engine, the mode CRIU
//! recorded for `/`, the stand-ins for the engine's own bind mounts, the
//! deleted paths, the volumes it carries), read back and checked as the
//! adapter writes it. The conversion itself is in `formats::foreign`.

use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::manifest::{self as mf, Manifest};

/// The largest foreign.json accepted.
const MAX_SMALL: u64 = 16 << 20;

/// What restore needs beyond docker-cr's own model (see the module doc).
pub const FOREIGN: &str = "foreign.json";
/// Podman's copy of the container's private /dev/shm.
pub const DEVSHM_TAR: &str = "devshm-checkpoint.tar";
/// Follows the engine in a manifest's `tool` field: "Podman, converted
/// by docker-cr".
pub const TOOL_SUFFIX: &str = ", converted by docker-cr";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Engine {
    Podman,
    #[serde(rename = "CRI-O")]
    CriO,
    #[serde(rename = "containerd")]
    Containerd,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Podman => "Podman",
            Engine::CriO => "CRI-O",
            Engine::Containerd => "containerd",
        }
    }
}

/// The engine named in a manifest's `tool` (`None`: docker-cr's own). Pure.
pub fn made_by(m: &Manifest) -> Option<&str> {
    m.tool.strip_suffix(TOOL_SUFFIX)
}

/// What goes into a stand-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// An empty file or directory.
    Empty,
    /// This text (a file).
    Text(String),
    /// The contents of this tar of the checkpoint directory (a directory).
    Tar(String),
    /// A copy of this stand-in of another container (a checkpoint of a
    /// container restored from another engine's, restored again: its
    /// stand-ins are docker-cr's own binds, copied, never shared).
    Copy(String),
}

/// A bind mount of the other engine's own (not a host path of the user's)
/// that CRIU recorded and Docker does not provide: docker-cr binds an
/// equivalent from a private directory of its own there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandIn {
    pub dest: String,
    pub dir: bool,
    /// Directory mode (a file is 0644).
    pub mode: u32,
    pub content: Content,
}

/// `foreign.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Foreign {
    pub engine: Engine,
    /// The container's name and ID there, and its image.
    pub container: String,
    pub id: String,
    pub image: String,
    /// The mode CRIU recorded for the container's `/` (Podman's is 0555,
    /// Docker's 0755; CRIU refuses a root of another mode).
    pub root_mode: Option<u32>,
    pub stand_ins: Vec<StandIn>,
    /// `deleted.files`, checked: relative, no `..`.
    pub deleted: Vec<String>,
    /// The named volumes whose data the archive carries
    /// (`volumes/<name>.tar`; names checked).
    #[serde(default)]
    pub volumes: Vec<String>,
}

/// `deleted.files`: a JSON array of paths (absolute, as Podman writes
/// them). Each becomes relative to the container's root; one that is not
/// a plain path inside it (`..`, empty, the root itself) refuses the whole
/// list. Pure.
pub fn deleted_paths(bytes: &[u8]) -> std::result::Result<Vec<String>, String> {
    let list: Vec<String> =
        serde_json::from_slice(bytes).map_err(|e| format!("deleted.files is not a JSON array of paths: {e}"))?;
    list.iter()
        .map(|p| {
            let mut parts = Vec::new();
            for c in Path::new(p).components() {
                match c {
                    Component::RootDir | Component::CurDir => {}
                    Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
                    Component::ParentDir | Component::Prefix(_) => {
                        return Err(format!("deleted.files names {p:?}, which leaves the container's root"))
                    }
                }
            }
            if parts.is_empty() || p.contains('\0') {
                return Err(format!("deleted.files names {p:?}, which is not a path inside the container"));
            }
            Ok(parts.join("/"))
        })
        .collect()
}

/// Reads `foreign.json` of a checkpoint the adapter made, if it is one.
/// Only a manifest whose `tool` says the adapter made it, and that lists
/// the file (the adapter sums it in), counts: docker-cr's own checkpoints
/// never have one. Checked again as the adapter would have written it
/// (`Foreign::checked`): the file is as unsigned as the rest.
pub fn read(dir: &Path, m: &Manifest) -> Result<Option<Foreign>> {
    if made_by(m).is_none() || !m.files.contains_key(FOREIGN) {
        return Ok(None);
    }
    let b = mf::read_limited(dir, FOREIGN, MAX_SMALL)?.unwrap_or_default();
    let bad = |e: String| {
        Error::checkpoint(
            format!("{}: {FOREIGN} is not valid: {e}", dir.display()),
            "it is not as docker-cr's adapter wrote it; import the original archive again",
        )
    };
    let f: Foreign = serde_json::from_slice(&b).map_err(|e| bad(e.to_string()))?;
    f.checked().map(Some).map_err(bad)
}

/// A mount destination as Docker takes it in a bind (`src:dest:opts`):
/// absolute, normalised (no empty, `.` or `..` part, no trailing `/`), no
/// `:` or `,` (they would add bind options) and no NUL. Pure.
pub fn valid_dest(d: &str) -> bool {
    d.len() > 1
        && d.starts_with('/')
        && !d.contains([':', ',', '\0'])
        && d[1..].split('/').all(|p| !p.is_empty() && p != "." && p != "..")
}

impl Foreign {
    /// Only what `adapt` itself writes: stand-ins at valid destinations,
    /// never a copy of a host path (`Content::Copy`: docker-cr derives
    /// those itself, see `take_our_stand_ins`), a tar only the devshm one
    /// into /dev/shm, modes without setuid/setgid, `deleted` paths inside
    /// the root, volume names Docker takes. Pure.
    pub fn checked(mut self) -> std::result::Result<Foreign, String> {
        for s in &mut self.stand_ins {
            if !valid_dest(&s.dest) {
                return Err(format!("a stand-in's destination {:?} is not a plain absolute path", s.dest));
            }
            match &s.content {
                Content::Empty => {}
                Content::Text(_) if !s.dir => {}
                Content::Tar(t) if t == DEVSHM_TAR && s.dir && s.dest == "/dev/shm" => {}
                other => {
                    return Err(format!(
                        "the stand-in for {} asks for {other:?}, which the adapter never writes",
                        s.dest
                    ))
                }
            }
            s.mode &= 0o1777;
        }
        self.root_mode = self.root_mode.map(|m| m & 0o1777);
        self.deleted = deleted_paths(&serde_json::to_vec(&self.deleted).unwrap_or_default())?;
        if let Some(v) = self.volumes.iter().find(|v| !crate::store::valid_name(v)) {
            return Err(format!("names the volume {v:?}, not a name Docker takes"));
        }
        Ok(self)
    }
}
