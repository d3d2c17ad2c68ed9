//! The plan's privileges step (issue 17): what CRIU restores from the
//! images (each thread's capability sets, no_new_privs, seccomp filters,
//! LSM label, user namespace; `model::creds`) held to what the new
//! container's settings give (`model::grants`), for every checkpoint that
//! is not this host's own. CRIU restores those as root and nothing of the
//! engine applies the container's settings to restored processes, so a
//! checkpoint's images could otherwise bring CAP_SYS_ADMIN or no seccomp
//! into a container whose settings give neither.
//!
//! - Within the settings: restored as dumped.
//! - A seccomp filter chain that lacks the destination's program (the
//!   same profile built into other bytes, another engine's profile, a
//!   permissive filter): restored with the destination's filters added on
//!   top (`creds::confine`), which is always at least as strict; no flag.
//! - Anything else (capabilities, no_new_privs cleared, no seccomp at all,
//!   another LSM label, the host's user namespace): refused, naming the
//!   process and what it holds, unless `--allow-host-access`, which also
//!   gives it to the new container's settings (`grants::amend`) so that
//!   the two agree; the amended settings are probed and compared again.
//!   An existing container's settings cannot be changed: refused there.
//!
//! Pure given the probe (`Probe`): unit-tested with literal images and
//! grants.

use serde_json::Value;

use super::plan::{Plan, Target};
use super::Options;
use crate::error::{Error, Result};
use crate::model::creds::{self, Filter, Mode, Privileges};
use crate::model::grants::{self, Finding, Grant, Need};

/// What the destination gives a container of this HostConfig and
/// Config.User: its settings and a probe process started with them
/// (`host::probe`, through `super::probed_grant`).
pub type Probe<'a> = dyn FnMut(&Value, &str) -> Result<Grant> + 'a;

/// At most this many probes per restore: the first settings, then one per
/// amendment (capabilities first, then seccomp, then a last look).
const MAX_PROBES: u32 = 4;

/// What the plan found of the processes' privileges.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// No container to restore into (refused before), or not read.
    #[default]
    NotChecked,
    /// This host's own checkpoint: restored as dumped.
    AsDumped,
    /// Held to the settings, read from this many probe containers.
    Checked { probes: u32 },
}

/// The threads restored under the destination's seccomp filters on top of
/// their own chain (see `creds::confine`), and those filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Confine {
    pub tids: Vec<u32>,
    /// The processes those threads belong to, for the output.
    pub pids: Vec<u32>,
    pub filters: Vec<Filter>,
}

/// Whether a finding is settled by confining the thread (a filter chain
/// that lacks the destination's program): a thread in filter mode. One
/// that runs without seccomp asks for seccomp=unconfined.
fn confinable(p: &Privileges, f: &Finding, g: &Grant) -> bool {
    f.need == Need::Seccomp
        && g.filters.as_ref().is_some_and(|w| !w.is_empty())
        && p.tasks
            .iter()
            .find(|t| t.pid == f.pid)
            .and_then(|t| t.threads.iter().find(|th| th.tid == f.tid))
            .is_some_and(|th| th.seccomp == Mode::Filter)
}

/// The threads to confine for these (confinable) findings: each thread
/// named, and those `grants::compare` left unnamed because they are the
/// same as their process's first thread. Pure.
pub fn confine_tids(p: &Privileges, findings: &[Finding]) -> (Vec<u32>, Vec<u32>) {
    let named = |tid: u32| findings.iter().any(|f| f.tid == tid);
    let mut tids = Vec::new();
    let mut pids = Vec::new();
    for task in p.tasks.iter().filter(|t| !t.dead) {
        let Some(lead) = task.threads.first() else { continue };
        for t in &task.threads {
            let same_as_lead = t.creds == lead.creds && t.seccomp == lead.seccomp && t.filter == lead.filter;
            // A thread that takes its chain from the first one (TSYNC)
            // takes the added filters from it too: its image stays.
            if t.propagated {
                continue;
            }
            if named(t.tid) || (same_as_lead && named(lead.tid)) {
                tids.push(t.tid);
                if !pids.contains(&task.pid) {
                    pids.push(task.pid);
                }
            }
        }
    }
    (tids, pids)
}

/// Holds the images' privileges (`privs`: read from the checkpoint, or
/// why they could not be) to the settings of the container the plan
/// restores into, probing them with `probe`; records the outcome, the
/// threads to confine, the amended settings and grants (with
/// --allow-host-access), or the refusal, in `p`. `existing` is the
/// stopped container a `Target::Same` restore goes into.
pub fn check(
    p: &mut Plan,
    own: bool,
    o: &Options,
    existing: Option<&Value>,
    privs: Option<&std::result::Result<Privileges, String>>,
    probe: &mut Probe<'_>,
) -> Result<()> {
    if own {
        p.privileges = Check::AsDumped;
        return Ok(());
    }
    let (hc, user, amendable) = match (&p.target, &p.body, existing) {
        (Some(Target::Same { .. }), _, Some(c)) => (c["HostConfig"].clone(), str_at(c, "/Config/User"), false),
        (Some(Target::Create | Target::Replace { .. }), Some(b), _) => {
            (b["HostConfig"].clone(), str_at(b, "/User"), true)
        }
        _ => return Ok(()),
    };
    let privs = match privs {
        Some(Ok(privs)) => privs,
        Some(Err(why)) => {
            p.refusals.push(Error::checkpoint(
                format!("cannot tell what the checkpoint's processes would hold once restored: {why}"),
                "nothing was created. The checkpoint is damaged, or its CRIU images are of a kind docker-cr does not read",
            ));
            return Ok(());
        }
        None => return Ok(()),
    };
    let mut hc = hc;
    let mut granted: Vec<String> = Vec::new();
    let mut g = probe(&hc, &user)?;
    let mut probes = 1;
    loop {
        let (confine, rest): (Vec<Finding>, Vec<Finding>) =
            grants::compare(privs, &g).into_iter().partition(|f| confinable(privs, f, &g));
        if rest.is_empty() {
            if !confine.is_empty() {
                let (tids, pids) = confine_tids(privs, &confine);
                p.confine = Some(Confine { tids, pids, filters: g.filters.clone().unwrap_or_default() });
            }
            break;
        }
        if !o.allow_host_access || !amendable {
            p.refusals.push(refusal(&rest, amendable, &p.name));
            break;
        }
        let a = grants::amend(&mut hc, &rest);
        if !a.cannot.is_empty() {
            p.refusals.push(Error::checkpoint(
                format!(
                    "the checkpoint's processes hold what no setting of a Docker container gives:\n  - {}",
                    a.cannot.join("\n  - ")
                ),
                "nothing was created. docker-cr cannot restore them as they are; --allow-host-access does not change that",
            ));
            break;
        }
        if a.done.is_empty() || probes >= MAX_PROBES {
            p.refusals.push(Error::checkpoint(
                format!(
                    "the new container's settings, amended, still do not give what the checkpoint's processes hold:\n  - {}",
                    rest.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("\n  - ")
                ),
                "nothing was created",
            ));
            break;
        }
        granted.extend(a.done);
        g = probe(&hc, &user)?;
        probes += 1;
    }
    if !granted.is_empty() {
        if let Some(b) = p.body.as_mut() {
            b["HostConfig"] = hc;
        }
        p.grants.extend(granted.into_iter().map(|d| format!("{d} (what the checkpoint's processes hold)")));
    }
    p.privileges = Check::Checked { probes };
    Ok(())
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The refusal of processes that hold more than the settings give. Pure.
fn refusal(rest: &[Finding], amendable: bool, name: &str) -> Error {
    let list = rest.iter().map(|f| f.text.as_str()).collect::<Vec<_>>().join("\n  - ");
    let what = format!(
        "the checkpoint's processes hold more than the new container's settings give (CRIU restores them from the images as they were dumped):\n  - {list}"
    );
    if amendable {
        Error::checkpoint(
            what,
            "nothing was created. If the restored container should have exactly that, restore with --allow-host-access: its settings then give it too",
        )
    } else {
        Error::checkpoint(
            what.replace("the new container's settings", &format!("the settings of the existing container {name}")),
            format!(
                "nothing was changed. The settings of an existing container cannot be changed: restore a copy with --name NEW --allow-host-access, or remove {name} first"
            ),
        )
    }
}

/// The privileges step in words, for `--dry-run`. Pure.
pub fn describe(p: &Plan) -> String {
    let confined = |c: &Confine| {
        format!(
            "; {} process{} restored with the container's seccomp filter added to {} own (pid {})",
            c.pids.len(),
            if c.pids.len() == 1 { "" } else { "es" },
            if c.pids.len() == 1 { "its" } else { "their" },
            c.pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        )
    };
    match &p.privileges {
        Check::NotChecked => "not checked (no container to restore into)".into(),
        Check::AsDumped => "as dumped (this host's own checkpoint)".into(),
        Check::Checked { probes } => format!(
            "held to the new container's settings (read from {probes} probe container{}, created and removed){}",
            if *probes == 1 { "" } else { "s" },
            p.confine.as_ref().map(confined).unwrap_or_default()
        ),
    }
}

/// The images rewritten for `c` (`creds::confine`), read through `read`.
pub fn confined(read: &mut creds::ReadFile<'_>, c: &Confine) -> std::result::Result<creds::Confined, String> {
    creds::confine(read, &c.tids, &c.filters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::creds::fixtures::*;
    use crate::model::creds::Creds;
    use crate::model::grants::{Observed, Settings, DOCKER_DEFAULT_CAPS};
    use serde_json::json;

    const ALL: u64 = (1u64 << 41) - 1;

    /// A process (pid 1, threads `tids`) of these creds and seccomp state.
    fn images(creds: Creds, tids: &[u32], mode: u64, filters: &[(&[u8], Option<u32>, u32)]) -> Privileges {
        let mut files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, tids)])),
            ("seccomp.img".to_string(), seccomp_img(filters)),
        ];
        for t in tids {
            let f = if mode == 2 { Some(filters.len() as u32 - 1) } else { None };
            files.push((format!("core-{t}.img"), core_img("nginx", &creds, mode, f)));
        }
        creds::read(&mut reader(files), &[]).unwrap()
    }

    /// A probe that answers as Docker would for these settings: the
    /// settings' capabilities and no_new_privs; STRICT as the default
    /// profile's program (ALLOW_ALL with CAP_SYS_ADMIN, another program),
    /// none when unconfined. Counts its calls.
    fn probe(calls: &mut u32) -> impl FnMut(&Value, &str) -> Result<Grant> + '_ {
        move |hc: &Value, user: &str| {
            *calls += 1;
            let s = Settings::from_host_config(hc, ALL, false);
            let filters = match s.seccomp {
                grants::Profile::Unconfined => vec![],
                _ if s.caps & (1 << 21) != 0 => vec![Filter { prog: ALLOW_ALL.to_vec(), flags: 0 }],
                _ => vec![Filter { prog: STRICT.to_vec(), flags: 0 }],
            };
            let o = Observed { cap_bnd: s.caps, no_new_privs: s.no_new_privs, filters, ..Observed::default() };
            Ok(Grant::from_settings(&s, user).with_observed(&o))
        }
    }

    fn plan_of(hc: Value) -> Plan {
        Plan {
            name: "web".into(),
            target: Some(Target::Create),
            body: Some(json!({"Image": "busy", "HostConfig": hc})),
            ..Plan::default()
        }
    }

    fn run(p: &mut Plan, o: &Options, privs: &Privileges) -> u32 {
        let mut calls = 0;
        check(p, false, o, None, Some(&Ok(privs.clone())), &mut probe(&mut calls)).unwrap();
        calls
    }

    fn refusals(p: &Plan) -> Vec<String> {
        p.refusals.iter().map(|e| format!("{} [{}] hint: {}", e, e.exit_code(), e.hint().unwrap_or_default())).collect()
    }

    fn admin() -> Creds {
        let c = DOCKER_DEFAULT_CAPS | 1 << 21;
        Creds { cap_eff: c, cap_prm: c, cap_bnd: c, ..docker_root() }
    }

    #[test]
    fn within_the_settings_nothing_changes() {
        let privs = images(docker_root(), &[1], 2, &[(&STRICT, None, 0)]);
        let mut p = plan_of(json!({}));
        assert_eq!(run(&mut p, &Options::default(), &privs), 1);
        assert_eq!((refusals(&p), p.confine.clone(), p.grants.clone()), (vec![], None, vec![]));
        assert_eq!(p.privileges, Check::Checked { probes: 1 });
        assert!(describe(&p).starts_with("held to the new container's settings (read from 1 probe container"));
    }

    #[test]
    fn own_checkpoints_are_not_probed() {
        let mut p = plan_of(json!({}));
        let mut calls = 0;
        check(&mut p, true, &Options::default(), None, None, &mut probe(&mut calls)).unwrap();
        assert_eq!((calls, p.privileges.clone()), (0, Check::AsDumped));
    }

    // Issue 17, found 1: --cap-add SYS_ADMIN images, settings edited to add
    // nothing.
    #[test]
    fn capabilities_beyond_the_settings_are_refused_or_granted() {
        // The images' own program is the one the settings with SYS_ADMIN get.
        let privs = images(admin(), &[1, 7], 2, &[(&ALLOW_ALL, None, 0)]);
        let mut p = plan_of(json!({}));
        run(&mut p, &Options::default(), &privs);
        let r = refusals(&p);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            r[0].contains(
                "\n  - pid 1 (nginx) holds CAP_SYS_ADMIN, which the container is not given (in its effective, permitted and bounding sets) [5]"
            ) && r[0].contains("[5]")
                && r[0].contains("--allow-host-access"),
            "{r:?}"
        );
        assert!(!r[0].contains("thread 7"), "a thread like its process is not repeated: {r:?}");
        assert!(p.body.as_ref().unwrap()["HostConfig"].get("CapAdd").is_none(), "nothing granted");
        // With the flag: CapAdd, probed again, and the settings with
        // SYS_ADMIN get the images' own program: nothing to confine.
        let o = Options { allow_host_access: true, ..Options::default() };
        let mut p = plan_of(json!({}));
        assert_eq!(run(&mut p, &o, &privs), 2);
        assert_eq!(refusals(&p), Vec::<String>::new());
        assert_eq!(p.body.as_ref().unwrap()["HostConfig"]["CapAdd"], json!(["CAP_SYS_ADMIN"]));
        assert_eq!(p.grants, ["CapAdd CAP_SYS_ADMIN (what the checkpoint's processes hold)"]);
        assert_eq!(p.confine, None);
        assert_eq!(p.privileges, Check::Checked { probes: 2 });
    }

    // Issue 17, found 2: seccomp=unconfined images, settings edited to the
    // default profile.
    #[test]
    fn no_seccomp_where_the_settings_confine_is_refused_or_granted() {
        let privs = images(docker_root(), &[1], 0, &[]);
        let mut p = plan_of(json!({}));
        run(&mut p, &Options::default(), &privs);
        let r = refusals(&p);
        assert!(
            r.len() == 1
                && r[0].contains(
                    "pid 1 (nginx) runs without seccomp, which the engine's default seccomp profile would confine"
                ),
            "{r:?}"
        );
        assert_eq!(p.confine, None, "never confined: it asked for no seccomp at all");
        let o = Options { allow_host_access: true, ..Options::default() };
        let mut p = plan_of(json!({"SecurityOpt": ["label=disable"]}));
        assert_eq!(run(&mut p, &o, &privs), 2);
        assert_eq!(refusals(&p), Vec::<String>::new());
        assert_eq!(
            p.body.as_ref().unwrap()["HostConfig"]["SecurityOpt"],
            json!(["label=disable", "seccomp=unconfined"])
        );
        assert_eq!(p.grants, ["SecurityOpt seccomp=unconfined (what the checkpoint's processes hold)"]);
    }

    // A chain without the destination's program (another engine's profile,
    // the same one in other bytes, an allow-all filter): confined, no flag,
    // and --allow-host-access never makes it unconfined.
    #[test]
    fn other_filter_chains_are_confined() {
        let privs = images(docker_root(), &[1, 2], 2, &[(&ALLOW_ALL, None, 0)]);
        for allow in [false, true] {
            let mut p = plan_of(json!({}));
            run(&mut p, &Options { allow_host_access: allow, ..Options::default() }, &privs);
            assert_eq!(refusals(&p), Vec::<String>::new());
            assert_eq!(p.grants, Vec::<String>::new(), "allow {allow}");
            let c = p.confine.clone().expect("confined");
            assert_eq!((c.tids, c.pids), (vec![1, 2], vec![1]), "every thread of the chain");
            assert_eq!(c.filters, vec![Filter { prog: STRICT.to_vec(), flags: 0 }]);
            assert!(describe(&p)
                .ends_with("1 process restored with the container's seccomp filter added to its own (pid 1)"));
        }
    }

    // Capabilities and no seccomp: the capability first (Docker's profile
    // depends on it), then seccomp=unconfined, then a look that finds
    // nothing left.
    #[test]
    fn amendments_come_in_rounds() {
        let privs = images(admin(), &[1], 0, &[]);
        let o = Options { allow_host_access: true, ..Options::default() };
        let mut p = plan_of(json!({"SecurityOpt": ["no-new-privileges"]}));
        assert_eq!(run(&mut p, &o, &privs), 3);
        assert_eq!(refusals(&p), Vec::<String>::new());
        assert_eq!(
            p.grants,
            [
                "CapAdd CAP_SYS_ADMIN (what the checkpoint's processes hold)",
                "SecurityOpt no-new-privileges=false (what the checkpoint's processes hold)",
                "SecurityOpt seccomp=unconfined (what the checkpoint's processes hold)"
            ]
        );
        let hc = &p.body.as_ref().unwrap()["HostConfig"];
        assert_eq!(hc["SecurityOpt"], json!(["no-new-privileges=false", "seccomp=unconfined"]));
    }

    #[test]
    fn an_existing_container_cannot_be_amended() {
        let privs = images(admin(), &[1], 2, &[(&ALLOW_ALL, None, 0)]);
        let o = Options { allow_host_access: true, ..Options::default() };
        let existing = json!({"HostConfig": {"CapAdd": null}, "Config": {"User": ""}});
        let mut p = Plan { name: "web".into(), target: Some(Target::Same { id: "abc".into() }), ..Plan::default() };
        let mut calls = 0;
        check(&mut p, false, &o, Some(&existing), Some(&Ok(privs.clone())), &mut probe(&mut calls)).unwrap();
        let r = refusals(&p);
        assert!(
            r.len() == 1 && r[0].contains("the settings of the existing container web") && r[0].contains("--name NEW"),
            "{r:?}"
        );
        // Its settings give it: restored.
        let given = json!({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}, "Config": {"User": ""}});
        let mut p = Plan { name: "web".into(), target: Some(Target::Same { id: "abc".into() }), ..Plan::default() };
        check(&mut p, false, &Options::default(), Some(&given), Some(&Ok(privs)), &mut probe(&mut calls)).unwrap();
        assert_eq!(refusals(&p), Vec::<String>::new());
    }

    #[test]
    fn what_no_setting_gives_and_unreadable_images() {
        // A user namespace the settings do not have: nothing gives it.
        let mut privs = images(docker_root(), &[1], 2, &[(&STRICT, None, 0)]);
        let ext = creds::Extent { first: 0, lower_first: 100_000, count: 65_536 };
        privs.userns = vec![creds::Maps { uid: vec![ext], gid: vec![ext] }];
        let o = Options { allow_host_access: true, ..Options::default() };
        let mut p = plan_of(json!({}));
        run(&mut p, &o, &privs);
        let r = refusals(&p);
        assert!(r.len() == 1 && r[0].contains("no setting of a Docker container gives"), "{r:?}");
        let mut p = plan_of(json!({}));
        let mut calls = 0;
        check(&mut p, false, &o, None, Some(&Err("core-1.img: truncated".into())), &mut probe(&mut calls)).unwrap();
        assert_eq!(calls, 0);
        assert!(
            refusals(&p)[0].contains("cannot tell what the checkpoint's processes would hold"),
            "{:?}",
            refusals(&p)
        );
        // Nothing to restore into: nothing probed.
        let mut p = Plan { target: None, ..Plan::default() };
        check(&mut p, false, &o, None, Some(&Ok(privs)), &mut probe(&mut calls)).unwrap();
        assert_eq!((calls, p.privileges.clone()), (0, Check::NotChecked));
    }

    #[test]
    fn confined_images_hold_the_destinations_filter() {
        let files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, &[1, 2])])),
            ("seccomp.img".to_string(), seccomp_img(&[(&ALLOW_ALL, None, 0)])),
            ("core-1.img".to_string(), core_img("nginx", &docker_root(), 2, Some(0))),
            ("core-2.img".to_string(), core_img("nginx", &docker_root(), 2, Some(0))),
        ];
        let c = Confine { tids: vec![1, 2], pids: vec![1], filters: vec![Filter { prog: STRICT.to_vec(), flags: 0 }] };
        let out = confined(&mut reader(files.clone()), &c).unwrap();
        let mut after = files;
        after.retain(|(n, _)| n == "pstree.img");
        after.push(("seccomp.img".into(), out.seccomp));
        after.extend(out.cores);
        let p = creds::read(&mut reader(after), &[]).unwrap();
        for t in &p.tasks[0].threads {
            let chain: Vec<&[u8]> = creds::thread_chain(&p, t).iter().map(|f| f.prog.as_slice()).collect();
            assert_eq!(chain, [&STRICT[..], &ALLOW_ALL[..]], "thread {}", t.tid);
        }
    }
}
