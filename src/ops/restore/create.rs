//! Making the container a restore goes into: its CRIU config file (the
//! `org.criu.config` annotation, API >= 1.43), the stand-ins for another
//! engine's own mounts, and on Docker >= 28 the network holder it is
//! restored behind; each undone if a later step fails.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::plan::{stale_confs, Plan, LABEL_STAND_INS};
use super::{s, Job, CRIU_CONF_DIR};
use crate::engine::docker;
use crate::engine::holder;
use crate::error::{Error, IoContext, Result};
use crate::formats::foreign;
use crate::host::criu;
use crate::host::Ctx;

/// What the file says once its restore is over: nothing for CRIU.
pub(super) const CONF_DONE: &str = "# docker-cr: the restore that used this file is over; empty so that later checkpoints and\n# restores of this container by the engine get runc's defaults.\n";

/// What a restore created: the container, its network holder, its CRIU
/// config file.
pub(super) struct Made {
    pub id: String,
    holder: Option<String>,
    pub criu_conf: Option<PathBuf>,
    /// The private directory of the stand-ins bound into it.
    stand_ins: Option<PathBuf>,
}

impl Made {
    pub fn undo(&self, ctx: &Ctx) -> Result<()> {
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
pub(super) fn own_criu_conf(c: &Value) -> Option<PathBuf> {
    let p = c["HostConfig"]["Annotations"]["org.criu.config"].as_str()?;
    let p = Path::new(p);
    (p.parent().and_then(Path::parent) == Some(Path::new(CRIU_CONF_DIR))).then(|| p.to_path_buf())
}

/// Label on a restored container: its CRIU config file, so that files of
/// removed containers can be told apart.
const LABEL_CRIU_CONF: &str = "org.docker-cr.criu-conf";

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
pub(super) fn create(job: Job, p: &Plan) -> Result<Made> {
    let ctx = job.ctx;
    let name = p.name.as_str();
    let dir = job.dir();
    let (Some(image), Some(body)) = (p.image.as_deref(), p.body.as_ref()) else {
        return Err(Error::container(format!("nothing to create {name} from"), ""));
    };
    let stand_ins = p.stand_ins.as_slice();
    let engine = job.cp.converted.as_ref().map_or("the other engine", |f| f.engine.name());
    // Added by docker-cr after the policy check: not the checkpoint's asking.
    let mut body = body.clone();
    let criu_conf = if p.own_criu_conf {
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
    } else if let Some(hname) = &p.holder {
        create_with_holder(ctx, name, hname, p.stale_holder.as_deref(), image, &body)
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
/// and ports before the restore. `stale`: a holder of that name left by a
/// removed container (see `plan`), removed first.
fn create_with_holder(
    ctx: &Ctx,
    name: &str,
    hname: &str,
    stale: Option<&str>,
    image: &str,
    body: &Value,
) -> Result<(String, Option<String>)> {
    let gen = holder::generation(&ctx.docker_version, ctx.engine.api());
    remove_orphan_holders(ctx);
    if let Some(old) = stale {
        ctx.engine.remove(old)?;
        ctx.out.step(format!("removed {hname}, a network holder left by a removed {name}"));
    }
    let split = holder::split(body, hname);
    let id = ctx.engine.create(name, &split.restored).map_err(|e| e.step(format!("creating container {name}")))?;
    let holder_up = (|| -> Result<String> {
        let pause = holder::install_pause(Path::new(holder::PAUSE_PATH))?;
        let peer = ctx.root_dir.join("containers").join(&id);
        let hb = holder::holder_body(&split, image, &pause, &peer, name, &body["HostConfig"]["RestartPolicy"]);
        let hid = ctx.engine.create(hname, &hb).map_err(|e| e.step(format!("creating the network holder {hname}")))?;
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
