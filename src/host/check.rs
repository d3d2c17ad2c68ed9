//! `docker-cr check`: a preflight of everything checkpoint and restore need,
//! one line per item with ok / warning / fail and the fix. Probing is at the
//! edge (`probe_*`); judging and rendering are pure and tested.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;
use serde_json::Value;

use crate::engine::docker::{self, Engine};
use crate::error::Error;
use crate::host::cgroup;
use crate::host::criu::Criu;
use crate::host::lazy;
use crate::session::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub item: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

fn item(item: &'static str, status: Status, detail: impl Into<String>, fix: impl Into<String>) -> Item {
    Item { item, status, detail: detail.into(), fix: fix.into() }
}

/// Capabilities CRIU needs to dump and restore (bit numbers, capability.h).
const NEEDED_CAPS: &[(u32, &str)] = &[
    (1, "CAP_DAC_OVERRIDE"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (12, "CAP_NET_ADMIN"),
    (18, "CAP_SYS_CHROOT"),
    (19, "CAP_SYS_PTRACE"),
    (21, "CAP_SYS_ADMIN"),
];
const CAP_SYS_RESOURCE: u32 = 24;

pub fn parse_cap_eff(status: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

pub fn judge_caps(eff: u64) -> Item {
    let missing: Vec<&str> = NEEDED_CAPS.iter().filter(|(b, _)| eff & (1 << b) == 0).map(|(_, n)| *n).collect();
    if !missing.is_empty() {
        return item(
            "capabilities",
            Status::Fail,
            format!("missing {}", missing.join(", ")),
            "run as root in the host's namespaces, not in an unprivileged container",
        );
    }
    if eff & (1 << CAP_SYS_RESOURCE) == 0 {
        return item(
            "capabilities",
            Status::Warning,
            "CAP_SYS_RESOURCE is missing: CRIU cannot dump processes that run under another uid",
            "run on a host (or sandbox) that grants CAP_SYS_RESOURCE, or keep container processes as root",
        );
    }
    item("capabilities", Status::Ok, "all CRIU needs", "")
}

/// What the host's cgroup mounts say: (version, freezer available).
pub fn judge_cgroup(mountinfo: &str) -> Item {
    let mounts = cgroup::parse_mountinfo(mountinfo);
    let v2_root = mounts.iter().any(|m| m.fstype == "cgroup2" && m.mount_point == "/sys/fs/cgroup");
    let unified = mounts.iter().any(|m| m.fstype == "cgroup2");
    let v1_freezer = mounts.iter().any(|m| m.fstype == "cgroup" && m.super_opts.split(',').any(|o| o == "freezer"));
    match (v2_root, v1_freezer, unified) {
        (true, _, _) => item("cgroup", Status::Ok, "cgroup v2 (unified), freezer: cgroup.freeze", ""),
        (false, true, true) => item(
            "cgroup",
            Status::Ok,
            "cgroup v1 (hybrid, cgroup2 at /sys/fs/cgroup/unified), freezer controller mounted",
            "",
        ),
        (false, true, false) => item("cgroup", Status::Ok, "cgroup v1, freezer controller mounted", ""),
        (false, false, _) => item(
            "cgroup",
            Status::Fail,
            "neither a cgroup v2 hierarchy at /sys/fs/cgroup nor a v1 freezer controller is mounted",
            "mount cgroupfs (systemd does this at boot)",
        ),
    }
}

/// Engine facts from /_ping and /info.
pub fn judge_engine(experimental: bool, info: &Value) -> Vec<Item> {
    let s = |k: &str| info.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = vec![if experimental {
        item("experimental", Status::Ok, "dockerd runs in experimental mode", "")
    } else {
        item(
            "experimental",
            Status::Fail,
            "dockerd is not in experimental mode: restore cannot start a container from a checkpoint",
            "set \"experimental\": true in /etc/docker/daemon.json and restart dockerd",
        )
    }];
    let driver = s("Driver");
    out.push(if driver == "overlay2" {
        item("storage driver", Status::Ok, "overlay2", "")
    } else {
        item(
            "storage driver",
            Status::Fail,
            format!("{driver:?}: docker-cr captures file changes from overlay2 only"),
            "run dockerd with --storage-driver overlay2",
        )
    });
    let root = s("DockerRootDir");
    out.push(if !root.is_empty() && Path::new(&root).is_dir() {
        item("docker root dir", Status::Ok, root, "")
    } else {
        item(
            "docker root dir",
            Status::Fail,
            format!("{root:?} is not a directory here"),
            "run docker-cr on the engine's host, in its mount namespace",
        )
    });
    let cg = s("CgroupVersion");
    out.push(item(
        "engine cgroup",
        Status::Ok,
        format!("cgroup v{}, driver {}", if cg.is_empty() { "1" } else { &cg }, s("CgroupDriver")),
        "",
    ));
    out
}

/// The engine line of `check`: which Docker generation docker-cr talks to,
/// with the containerd and runc it drives (they restore the checkpoint), and
/// the API version in use when it differs from the engine's own.
pub fn engine_detail(version: &Value, info: &Value, socket: &Path, api_used: &str) -> String {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut engine = s(version, "Version");
    if engine.is_empty() {
        engine = s(info, "ServerVersion");
    }
    if engine.is_empty() {
        engine = "?".into();
    }
    let component = |name: &str| {
        version
            .get("Components")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("Name").and_then(Value::as_str) == Some(name)))
            .and_then(|c| c.get("Version"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let parts: Vec<String> =
        ["containerd", "runc"].iter().filter_map(|n| component(n).map(|v| format!("{n} {v}"))).collect();
    let with = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) };
    let server_api = s(version, "ApiVersion");
    let api = if server_api.is_empty() || server_api == api_used {
        format!("API {api_used}")
    } else {
        format!("API {server_api}, docker-cr uses {api_used}")
    };
    format!("Docker {engine}{with} at {}, {api}", socket.display())
}

/// The known limits of the engine's generation and how docker-cr deals
/// with them: information, not a failure (restores still work).
pub fn judge_limits(g: &crate::engine::holder::Generation) -> Item {
    let limits = g.limits();
    if limits.is_empty() {
        item("engine limits", Status::Ok, "none known for this generation", "")
    } else {
        item("engine limits", Status::Ok, limits.join("; "), "")
    }
}

/// How CRIU will lock the container's network during a dump, and whether
/// a lock left by a CRIU killed mid-dump can be removed automatically.
pub fn judge_network_lock(nft_lock: bool, nft_cli: bool) -> Item {
    match (nft_lock, nft_cli) {
        (true, true) => item("network lock", Status::Ok, "nftables (in-process; repairable with nft)", ""),
        (true, false) => item(
            "network lock",
            Status::Warning,
            "nftables, but the nft command is missing: a CRIU killed mid-dump would leave the container cut off until its lock is removed by hand",
            "install nftables (the nft command)",
        ),
        (false, _) => item(
            "network lock",
            Status::Ok,
            "iptables (this CRIU has no nftables support; each checkpoint keeps the container frozen ~80 ms longer)",
            "",
        ),
    }
}

/// Whether `restore --lazy` works here and answers early: userfaultfd that
/// CRIU can use (`criu check --feature uffd-noncoop`; Err holds what it
/// printed), and a lazy-pages daemon that does not lose faults (see
/// `lazy::fault_retry`). Lazy restore is optional: a warning at worst.
pub fn judge_lazy(uffd: &std::result::Result<(), String>, retry: &lazy::FaultRetry, criu_version: &str) -> Item {
    match (uffd, retry) {
        (Err(why), _) => item(
            "lazy restore",
            Status::Warning,
            format!(
                "not possible: CRIU cannot use userfaultfd with non-cooperative events here ({})",
                why.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("no reason given").trim()
            ),
            "a kernel with userfaultfd (Linux >= 4.11, CONFIG_USERFAULTFD); eager restores are not affected",
        ),
        (Ok(()), lazy::FaultRetry::Missing) => item(
            "lazy restore",
            Status::Warning,
            format!(
                "userfaultfd works, but CRIU {criu_version} loses page faults that meet EAGAIN: a lazily restored \
                 container could answer only once all its memory is in, so restore --lazy refuses"
            ),
            format!(
                "install a CRIU built with tests/criu/uffd-eagain.patch (tests/setup-host does; {})",
                lazy::FAULT_RETRY_README
            ),
        ),
        (Ok(()), lazy::FaultRetry::Patched(id)) => item(
            "lazy restore",
            Status::Ok,
            format!("userfaultfd works, and CRIU {criu_version} retries faults that meet EAGAIN ({id})"),
            "",
        ),
    }
}

/// Whether the kernel tracks dirty memory (soft-dirty), which iterative
/// pre-copy (`precopy`) needs: without it CRIU refuses `--track-mem`, and a
/// pre-dump without it aborts. Pre-copy is optional: a warning at worst.
pub fn judge_dirty_tracking(works: bool) -> Item {
    if works {
        item("dirty tracking", Status::Ok, "soft-dirty works: iterative (pre-dump) migration is possible", "")
    } else {
        item(
            "dirty tracking",
            Status::Warning,
            "the kernel has no soft-dirty tracking: iterative (pre-dump) migration is not possible here",
            "a kernel built with CONFIG_MEM_SOFT_DIRTY; plain checkpoints are not affected",
        )
    }
}

pub fn worst(items: &[Item]) -> Status {
    items.iter().map(|i| i.status).max().unwrap_or(Status::Ok)
}

pub fn exit_code(items: &[Item]) -> u8 {
    match worst(items) {
        Status::Ok => 0,
        Status::Warning => 6,
        Status::Fail => 3,
    }
}

pub fn render_text(items: &[Item]) -> String {
    let mut out = String::new();
    for i in items {
        let st = match i.status {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!("{st:<8} {:<16} {}\n", i.item, i.detail));
        if !i.fix.is_empty() {
            out.push_str(&format!("{:<8} {:<16} fix: {}\n", "", "", i.fix));
        }
    }
    out
}

pub fn render_json(items: &[Item]) -> String {
    use crate::model::trust::{ORIGIN_HEADER, ORIGIN_NOTE, ORIGIN_TABLE};
    let worst = worst(items);
    let key = |h: &str| h.replace(' ', "_");
    let origins: Vec<serde_json::Value> = ORIGIN_TABLE
        .iter()
        .map(|r| serde_json::Value::Object(ORIGIN_HEADER.iter().zip(r).map(|(h, c)| (key(h), (*c).into())).collect()))
        .collect();
    serde_json::to_string_pretty(
        &serde_json::json!({ "worst": worst, "items": items, "origins": origins, "origins_note": ORIGIN_NOTE }),
    )
    .unwrap_or_default()
        + "\n"
}

/// What `check` says after its items: what a restore gives each
/// checkpoint, by who signed it (`trust::ORIGIN_TABLE`).
pub fn render_origins() -> String {
    format!("\nwhat a restore gives each checkpoint:\n{}", crate::model::trust::origin_table_text("  "))
}

// --- probes ---------------------------------------------------------------

fn probe_criu(criu_bin: &Path, kernel: &str) -> Vec<Item> {
    let criu = match Criu::find(criu_bin, kernel) {
        Ok(c) => c,
        Err(e) => {
            return vec![item("criu", Status::Fail, e.to_string(), e.hint().unwrap_or_default())];
        }
    };
    let mut out = vec![item(
        "criu",
        Status::Ok,
        format!("{} {} (kernel {kernel})", criu.bin.display(), criu.version_string()),
        "",
    )];
    let run = |args: &[&str]| {
        Command::new(&criu.bin).args(args).stdin(Stdio::null()).output().map(|o| {
            (
                o.status.success(),
                format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
            )
        })
    };
    out.push(match run(&["check"]) {
        Ok((true, _)) => item("criu check", Status::Ok, "Looks good.", ""),
        Ok((false, text)) => item(
            "criu check",
            Status::Fail,
            text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("failed").to_string(),
            "run 'criu check' for details; install CRIU >= 4.2 if it is too old",
        ),
        Err(e) => item("criu check", Status::Fail, e.to_string(), ""),
    });
    let nft_cli = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("nft").is_file()));
    out.push(judge_network_lock(criu.has_nft_lock(), nft_cli));
    out.push(judge_dirty_tracking(matches!(run(&["check", "--feature", "mem_dirty_track"]), Ok((true, _)))));
    let r = lazy::readiness(&criu);
    out.push(judge_lazy(&r.uffd, &r.retry, &r.criu_version));
    out
}

fn probe_engine() -> Vec<Item> {
    let socket = match docker::socket() {
        Ok(s) => s,
        Err(e) => return vec![item("engine", Status::Fail, e.to_string(), e.hint().unwrap_or_default())],
    };
    let engine = match Engine::connect(&socket) {
        Ok(e) => e,
        Err(e) => return vec![item("engine", Status::Fail, e.to_string(), e.hint().unwrap_or_default())],
    };
    let info = match engine.info() {
        Ok(i) => i,
        Err(e) => return vec![item("engine", Status::Fail, e.to_string(), "")],
    };
    // Older engines answer /version too; without it the line says less.
    let version = engine.version().unwrap_or(Value::Null);
    let mut out = vec![item("engine", Status::Ok, engine_detail(&version, &info, &engine.socket, engine.api()), "")];
    out.extend(judge_engine(engine.experimental, &info));
    let v = version.get("Version").and_then(Value::as_str).unwrap_or("");
    out.push(judge_limits(&crate::engine::holder::generation(v, engine.api())));
    out
}

/// This host's signing key and the keys it trusts (see `trust`).
fn judge_keys(keys: &crate::model::trust::KeyDir) -> Item {
    match (keys.host_public(), keys.trusted()) {
        (Ok(own), Ok(trusted)) => {
            let others = trusted.len() - usize::from(own.is_some());
            let own = match own {
                Some(k) => format!("this host signs with {}", k.fingerprint()),
                None => "no host key yet (made by the first checkpoint)".to_string(),
            };
            item(
                "keys",
                Status::Ok,
                format!("{own}; {others} other host key(s) trusted in {}", keys.trusted_dir().display()),
                "",
            )
        }
        (Err(e), _) | (_, Err(e)) => item("keys", Status::Fail, e.to_string(), e.hint().unwrap_or_default()),
    }
}

/// `docker-cr check`.
#[derive(Debug, PartialEq, Clone, Default)]
pub struct Options {
    pub json: bool,
}

pub fn run(session: &Session, a: &Options) -> Result<u8, Error> {
    let items = items(session, true);
    if a.json {
        print!("{}", render_json(&items));
    } else {
        print!("{}{}", render_text(&items), render_origins());
    }
    Ok(exit_code(&items))
}

/// Every item of `check`. With `repair`, what an interrupted run left (a
/// frozen container, a changed /etc/criu/runc.conf) is put right and
/// reported; without it (`serve`, while its own operations may be running)
/// those two items are left out.
pub fn items(session: &Session, repair: bool) -> Vec<Item> {
    let mut items = Vec::new();
    let root = rustix::process::geteuid().is_root();
    items.push(if root {
        item("root", Status::Ok, "running as root", "")
    } else {
        item("root", Status::Fail, "not running as root", "run it again with sudo")
    });
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    items.push(match parse_cap_eff(&status) {
        Some(eff) => judge_caps(eff),
        None => item("capabilities", Status::Fail, "cannot read CapEff from /proc/self/status", ""),
    });
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    items.extend(probe_criu(&session.criu_bin, &kernel));
    items.push(judge_cgroup(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()));
    items.extend(probe_engine());
    if root && repair {
        let thawed = crate::host::state::recover_frozen(Path::new(crate::host::state::DIR));
        items.push(if thawed.is_empty() {
            item("left frozen", Status::Ok, "no container left frozen by an interrupted docker-cr", "")
        } else {
            let dirs: Vec<String> = thawed.iter().map(|d| d.display().to_string()).collect();
            item(
                "left frozen",
                Status::Warning,
                format!("thawed {} (left frozen by an interrupted docker-cr)", dirs.join(", ")),
                "",
            )
        });
        let dir = Path::new(crate::host::runcconf::DEFAULT_DIR);
        items.push(match crate::host::runcconf::recover(dir) {
            Ok(Some(crate::host::runcconf::PutBack::Restored)) => item(
                "runc.conf",
                Status::Warning,
                "put back /etc/criu/runc.conf left changed by an interrupted restore",
                "",
            ),
            Ok(Some(kept)) => item("runc.conf", Status::Warning, kept.warning(dir).unwrap_or_default(), ""),
            Err(e) => item("runc.conf", Status::Warning, format!("cannot put back /etc/criu/runc.conf: {e}"), ""),
            Ok(None) => item("runc.conf", Status::Ok, "no change of docker-cr's left in /etc/criu/runc.conf", ""),
        });
    }
    if root {
        items.push(judge_keys(&session.keys));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capabilities() {
        assert_eq!(judge_caps(0x1fffeffffff).status, Status::Warning, "this machine: no CAP_SYS_RESOURCE");
        assert_eq!(judge_caps(0x1ffffffffff).status, Status::Ok);
        let none = judge_caps(0);
        assert_eq!(none.status, Status::Fail);
        assert!(none.detail.contains("CAP_SYS_ADMIN"));
        assert_eq!(parse_cap_eff("Name:\tx\nCapEff:\t000001fffeffffff\n"), Some(0x1fffeffffff));
    }

    #[test]
    fn cgroups() {
        let hybrid = "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n35 30 0:31 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n40 30 0:36 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert!(judge_cgroup(hybrid).detail.contains("hybrid"));
        assert_eq!(judge_cgroup("30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n").status, Status::Ok);
        assert_eq!(judge_cgroup("").status, Status::Fail);
    }

    #[test]
    fn lazy_restore_item() {
        let patched = lazy::FaultRetry::Patched("v4.2.1+uffd-eagain.1d3188395f36".into());
        let ok = judge_lazy(&Ok(()), &patched, "4.2.1");
        assert_eq!(ok.status, Status::Ok);
        assert!(ok.detail.contains("v4.2.1+uffd-eagain.1d3188395f36"), "{}", ok.detail);
        let stall = judge_lazy(&Ok(()), &lazy::FaultRetry::Missing, "4.2.1");
        assert_eq!(stall.status, Status::Warning);
        assert!(stall.detail.contains("restore --lazy refuses") && stall.fix.contains("uffd-eagain.patch"));
        let none = judge_lazy(&Err("\nError (criu/cr-check.c:1): UFFD is not supported\n\n".into()), &patched, "4.2.1");
        assert_eq!(none.status, Status::Warning);
        assert!(none.detail.ends_with("(Error (criu/cr-check.c:1): UFFD is not supported)"), "{}", none.detail);
        assert_eq!(judge_dirty_tracking(true).status, Status::Ok);
        assert_eq!(judge_dirty_tracking(false).status, Status::Warning);
        // Neither fails `check`: both are optional.
        assert_eq!(exit_code(&[stall, none, judge_dirty_tracking(false)]), 6);
    }

    #[test]
    fn network_lock() {
        assert_eq!(judge_network_lock(true, true).status, Status::Ok);
        assert_eq!(judge_network_lock(true, false).status, Status::Warning);
        assert!(judge_network_lock(false, false).detail.starts_with("iptables"));
    }

    #[test]
    fn engine_line_names_the_generation() {
        let version = json!({"Version": "26.1.5+dfsg1", "ApiVersion": "1.45", "Components": [
            {"Name": "Engine", "Version": "26.1.5+dfsg1"},
            {"Name": "containerd", "Version": "1.7.24~ds1"},
            {"Name": "runc", "Version": "1.1.15+ds1"}]});
        let sock = Path::new("/run/d.sock");
        assert_eq!(
            engine_detail(&version, &json!({}), sock, "1.43"),
            "Docker 26.1.5+dfsg1 (containerd 1.7.24~ds1, runc 1.1.15+ds1) at /run/d.sock, API 1.45, docker-cr uses 1.43"
        );
        let old = json!({"Version": "20.10.24+dfsg1", "ApiVersion": "1.41"});
        assert_eq!(engine_detail(&old, &json!({}), sock, "1.41"), "Docker 20.10.24+dfsg1 at /run/d.sock, API 1.41");
        let info = json!({"ServerVersion": "20.10.24"});
        assert_eq!(engine_detail(&Value::Null, &info, sock, "1.41"), "Docker 20.10.24 at /run/d.sock, API 1.41");
    }

    #[test]
    fn engine_items_and_exit_codes() {
        let info =
            json!({"Driver": "vfs", "DockerRootDir": "/nonexistent", "CgroupVersion": "2", "CgroupDriver": "systemd"});
        let items = judge_engine(false, &info);
        assert_eq!(items.iter().filter(|i| i.status == Status::Fail).count(), 3);
        assert_eq!(exit_code(&items), 3);
        let warn = vec![item("a", Status::Ok, "", ""), item("b", Status::Warning, "w", "do x")];
        assert_eq!(exit_code(&warn), 6);
        assert_eq!(exit_code(&warn[..1]), 0);
        let text = render_text(&warn);
        assert!(text.contains("warning  b                w\n") && text.contains("fix: do x"), "{text}");
        let j: Value = serde_json::from_str(&render_json(&warn)).unwrap();
        assert_eq!(j["worst"], "warning");
        // What each provenance gets, in one table (issue 17).
        assert_eq!(j["origins"].as_array().unwrap().len(), 3);
        assert_eq!(j["origins"][0]["privileges_in_the_images"], "as dumped");
        assert_eq!(j["origins"][2]["restore_needs"], "--trust");
        assert!(
            render_origins().contains("\n  signed by a trusted host  nothing        allow-list  --allow-host-access")
        );
        assert_eq!(j["items"][1]["fix"], "do x");
        assert!(j["items"][0].get("fix").is_none());
    }
}
