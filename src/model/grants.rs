//! What the destination grants a restored container's processes, and
//! whether what CRIU restores from the images (`creds`) stays within it.
//! CRIU puts back every thread's capability sets, `no_new_privs`, seccomp
//! filters and LSM label from the images, as root; runc and the engine
//! apply none of the new container's settings to restored processes. So a
//! checkpoint that is not this host's own must be held to the settings:
//!
//! - each of a thread's five capability sets within the set the settings
//!   give (Docker's default, CapAdd/CapDrop, `ALL`, Privileged);
//! - `no_new_privs` set where the settings set it;
//! - seccomp at least as strict: every filter the destination installs
//!   must be in the thread's chain (filters stack, the strictest answer
//!   wins, so a chain holding the destination's program can only be
//!   stricter; a mode check alone passes an allow-all filter);
//! - the LSM label the settings' one, and the user namespace as they say.
//!
//! The destination's filter program, label and maps are not in its
//! settings: `host::probe` reads them from a process started with the same
//! settings. Everything here is pure.

use serde_json::{json, Map, Value};

use crate::model::creds::{self, cap_list, Filter, Maps, Mode, Privileges, Thread, FLAG_SPEC_ALLOW};

/// Docker's default capability set (moby oci/caps/defaults.go): CHOWN,
/// DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP,
/// SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
pub const DOCKER_DEFAULT_CAPS: u64 = 0xa804_25fb;

/// Every capability up to `last_cap` (/proc/sys/kernel/cap_last_cap):
/// what `ALL` and Privileged give.
pub fn all_caps(last_cap: u32) -> u64 {
    if last_cap >= 63 {
        u64::MAX
    } else {
        (1u64 << (last_cap + 1)) - 1
    }
}

/// The container's seccomp profile, as its settings name it.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    /// The engine's default profile.
    Default,
    Unconfined,
    /// A profile given as JSON (`seccomp=<json>`; the docker CLI sends a
    /// file's content).
    Custom(String),
}

impl Profile {
    pub fn describe(&self) -> &'static str {
        match self {
            Profile::Default => "the engine's default seccomp profile",
            Profile::Unconfined => "seccomp=unconfined",
            Profile::Custom(_) => "its custom seccomp profile",
        }
    }
}

/// What a container's settings say of its processes' privileges.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub caps: u64,
    pub privileged: bool,
    pub no_new_privs: bool,
    pub seccomp: Profile,
    /// `apparmor=NAME` or the `label=...` options, as given.
    pub apparmor: Option<String>,
    pub label: Vec<String>,
    /// UsernsMode: "" (the engine's default: userns-remap, if set) or "host".
    pub userns_mode: String,
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// A capability name as moby normalises it: upper case, `CAP_` in front,
/// `ALL` as it is. None for a name no kernel has (the engine refuses it).
fn norm_cap(name: &str) -> Option<Result<u32, ()>> {
    let n = name.trim().to_ascii_uppercase();
    if n == "ALL" || n == "CAP_ALL" {
        return Some(Err(()));
    }
    creds::cap_bit(&n).map(Ok)
}

/// The capability set of a container with these CapAdd/CapDrop and
/// Privileged values, as moby's TweakCapabilities computes it: privileged
/// gives all; `ALL` in CapAdd gives all but CapDrop (it wins over `ALL` in
/// CapDrop); `ALL` in CapDrop gives just CapAdd; otherwise the default set
/// less CapDrop plus CapAdd. `all` is every capability the kernel has.
pub fn capabilities(cap_add: &Value, cap_drop: &Value, privileged: bool, all: u64) -> u64 {
    if privileged {
        return all;
    }
    let set = |v: &Value| -> (u64, bool) {
        let mut s = 0u64;
        let mut all_named = false;
        for n in strings(v) {
            match norm_cap(n) {
                Some(Ok(b)) => s |= 1u64 << b,
                Some(Err(())) => all_named = true,
                None => {}
            }
        }
        (s, all_named)
    };
    let (add, add_all) = set(cap_add);
    let (drop, drop_all) = set(cap_drop);
    if add_all {
        all & !drop
    } else if drop_all {
        add & all
    } else {
        ((DOCKER_DEFAULT_CAPS & !drop) | add) & all
    }
}

/// One SecurityOpt entry as key and value: `k=v` or the old `k:v`.
fn opt(o: &str) -> (&str, &str) {
    match o.find(['=', ':']) {
        Some(i) => (&o[..i], &o[i + 1..]),
        None => (o, ""),
    }
}

impl Settings {
    /// From a HostConfig (as the engine's inspect shows it, or a create
    /// body's). `all` is every capability the kernel has; `daemon_nnp`
    /// whether the engine sets no-new-privileges for every container.
    pub fn from_host_config(hc: &Value, all: u64, daemon_nnp: bool) -> Settings {
        let privileged = hc["Privileged"] == true;
        let mut s = Settings {
            caps: capabilities(&hc["CapAdd"], &hc["CapDrop"], privileged, all),
            privileged,
            no_new_privs: daemon_nnp,
            seccomp: Profile::Default,
            apparmor: None,
            label: Vec::new(),
            userns_mode: hc["UsernsMode"].as_str().unwrap_or("").to_string(),
        };
        for o in strings(&hc["SecurityOpt"]) {
            match opt(o) {
                ("no-new-privileges", v) => s.no_new_privs = v.is_empty() || v == "true",
                ("seccomp", "unconfined") => s.seccomp = Profile::Unconfined,
                ("seccomp", "builtin") | ("seccomp", "") => s.seccomp = Profile::Default,
                ("seccomp", json) => s.seccomp = Profile::Custom(json.to_string()),
                ("apparmor", p) => s.apparmor = Some(p.to_string()),
                ("label", l) => s.label.push(l.to_string()),
                _ => {}
            }
        }
        // Privileged containers run without seccomp and unconfined.
        if privileged {
            s.seccomp = Profile::Unconfined;
        }
        s
    }
}

/// What the destination gives, for the comparison: the settings, and what
/// a probe started with them showed (`host::probe`).
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub caps: u64,
    pub no_new_privs: bool,
    pub profile: Profile,
    /// The destination's filters, newest first; None when not read (then a
    /// confined profile cannot be checked: every thread is a finding).
    pub filters: Option<Vec<Filter>>,
    /// The LSM label the destination's process ran with (None: no LSM, or
    /// not read).
    pub lsm: Option<String>,
    /// The destination's user namespace maps (None: the host's).
    pub userns: Option<Maps>,
    /// A numeric non-root user the settings run as, when they also set
    /// no-new-privileges (without it a setuid binary may become root
    /// there too, so uid 0 is no more than the settings give).
    pub user: Option<u32>,
}

/// What a probe process started with the settings showed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Its bounding set (the ceiling of every other set).
    pub cap_bnd: u64,
    pub no_new_privs: bool,
    /// Its seccomp filters, newest first (empty: none).
    pub filters: Vec<Filter>,
    pub lsm: Option<String>,
    pub userns: Option<Maps>,
}

impl Grant {
    /// From the settings alone: the filters, label and maps unknown.
    pub fn from_settings(s: &Settings, config_user: &str) -> Grant {
        let filters = (s.seccomp == Profile::Unconfined).then(Vec::new);
        let user = config_user.split(':').next().and_then(|u| u.parse::<u32>().ok()).filter(|&u| u != 0);
        Grant {
            caps: s.caps,
            no_new_privs: s.no_new_privs,
            profile: s.seccomp.clone(),
            filters,
            lsm: None,
            userns: None,
            user: user.filter(|_| s.no_new_privs),
        }
    }

    /// With what the probe showed: the engine applied the settings, so its
    /// answer is the truth where the two differ (an engine with another
    /// default set, a daemon-wide no-new-privileges).
    pub fn with_observed(mut self, o: &Observed) -> Grant {
        self.caps = o.cap_bnd;
        self.no_new_privs = o.no_new_privs;
        self.filters = Some(o.filters.clone());
        self.lsm = o.lsm.clone();
        self.userns = o.userns.clone();
        if !self.no_new_privs {
            self.user = None;
        }
        self
    }
}

/// What the settings would need for the images to be within them.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// These capabilities added (CapAdd).
    Caps(u64),
    /// no-new-privileges off.
    NoNewPrivsOff,
    /// The destination's seccomp filter is not (byte for byte) in the
    /// thread's chain: restore it with the filter added on top
    /// (`creds::confine`, no grant needed), or, with --allow-host-access
    /// and the images as they are, seccomp=unconfined in the settings.
    Seccomp,
    /// This LSM label.
    Lsm(String),
    /// The host's user namespace (UsernsMode=host).
    UsernsHost,
    /// Something the settings cannot express (another user namespace's
    /// maps, a user): only restoring without it, or not at all.
    Nothing,
}

/// One way the images exceed what the destination grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub pid: u32,
    /// The thread (0 for the checkpoint as a whole).
    pub tid: u32,
    pub text: String,
    pub need: Need,
}

fn who(task: &creds::Task, t: &Thread) -> String {
    if t.tid == task.pid {
        format!("pid {} ({})", task.pid, task.comm)
    } else {
        format!("pid {} ({}), thread {}", task.pid, task.comm, t.tid)
    }
}

fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn insns(fs: &[&Filter]) -> String {
    let n: usize = fs.iter().map(|f| f.prog.len() / 8).sum();
    let plural = |k: usize| if k == 1 { "" } else { "s" };
    format!("{} filter{} of {n} instruction{}", fs.len(), plural(fs.len()), plural(n))
}

/// Whether `want` (newest first) is in `chain` (newest first), in order:
/// every filter of the destination runs on every system call.
pub fn chain_holds(chain: &[&Filter], want: &[Filter]) -> bool {
    let mut it = chain.iter();
    want.iter().all(|w| it.any(|c| c.prog == w.prog))
}

/// Everything in `p` beyond `g`, per process and thread. A thread that is
/// the same as its process's own is not repeated. Empty: the images ask
/// for nothing the destination does not give.
pub fn compare(p: &Privileges, g: &Grant) -> Vec<Finding> {
    let mut out = Vec::new();
    for task in p.tasks.iter().filter(|t| !t.dead) {
        let lead = task.threads.first();
        for t in &task.threads {
            if t.tid != task.pid
                && lead.is_some_and(|l| l.creds == t.creds && l.seccomp == t.seccomp && l.filter == t.filter)
            {
                continue;
            }
            thread(p, task, t, g, &mut out);
        }
    }
    if let Some(want) = &g.userns {
        if p.userns.is_empty() {
            out.push(Finding {
                pid: 1,
                tid: 0,
                text: format!(
                    "the checkpoint brings no user namespace: its processes would run with the host's ids, while the container's settings map them ({})",
                    maps_text(want)
                ),
                need: Need::UsernsHost,
            });
        }
    }
    for m in &p.userns {
        if g.userns.as_ref() != Some(m) {
            out.push(Finding {
                pid: 1,
                tid: 0,
                text: format!(
                    "the checkpoint brings a user namespace mapping {}, which is not the container's ({})",
                    maps_text(m),
                    g.userns.as_ref().map(maps_text).unwrap_or_else(|| "the host's".into())
                ),
                need: Need::Nothing,
            });
        }
    }
    out
}

fn maps_text(m: &Maps) -> String {
    let e = |v: &[creds::Extent]| {
        v.iter().map(|x| format!("{}→{}+{}", x.first, x.lower_first, x.count)).collect::<Vec<_>>().join(" ")
    };
    format!("uid {}, gid {}", e(&m.uid), e(&m.gid))
}

fn thread(p: &Privileges, task: &creds::Task, t: &Thread, g: &Grant, out: &mut Vec<Finding>) {
    let who = who(task, t);
    let c = &t.creds;
    let extra: u64 = c.cap_sets().iter().fold(0, |a, (_, s)| a | (s & !g.caps));
    if extra != 0 {
        let sets: Vec<&str> = c.cap_sets().iter().filter(|(_, s)| s & extra != 0).map(|(n, _)| *n).collect();
        out.push(Finding {
            pid: task.pid,
            tid: t.tid,
            text: format!(
                "{who} holds {}, which the container is not given (in its {} set{})",
                cap_list(extra),
                and_list(&sets),
                if sets.len() == 1 { "" } else { "s" }
            ),
            need: Need::Caps(extra),
        });
    }
    if g.no_new_privs && !c.no_new_privs {
        out.push(Finding {
            pid: task.pid,
            tid: t.tid,
            text: format!("{who} has no_new_privs cleared, which the container's settings set (no-new-privileges)"),
            need: Need::NoNewPrivsOff,
        });
    }
    if let Some(u) = g.user {
        if c.uids().contains(&0) {
            out.push(Finding {
                pid: task.pid,
                tid: t.tid,
                text: format!(
                    "{who} runs with uid 0 (real, effective, saved, fs: {:?}), while the container's settings run it as {u} with no-new-privileges",
                    c.uids()
                ),
                need: Need::Nothing,
            });
        }
    }
    seccomp(p, t, g, &who, task.pid, out);
    if let (Some(img), want) = (&c.lsm_profile, &g.lsm) {
        if want.as_ref() != Some(img) {
            out.push(Finding {
                pid: task.pid,
                tid: t.tid,
                text: format!(
                    "{who} carries the LSM label {img:?}, not the container's ({})",
                    want.as_ref().map(|w| format!("{w:?}")).unwrap_or_else(|| "none read".into())
                ),
                need: Need::Lsm(img.clone()),
            });
        }
    }
}

fn seccomp(p: &Privileges, t: &Thread, g: &Grant, who: &str, pid: u32, out: &mut Vec<Finding>) {
    if g.profile == Profile::Unconfined {
        return;
    }
    let profile = g.profile.describe();
    let Some(want) = &g.filters else {
        out.push(Finding {
            pid,
            tid: t.tid,
            text: format!("{who}: the container's seccomp filter was not read, so its seccomp state cannot be checked"),
            need: Need::Seccomp,
        });
        return;
    };
    if want.is_empty() {
        return;
    }
    let chain = creds::thread_chain(p, t);
    let text = match t.seccomp {
        // Strict mode allows read, write, exit and sigreturn: stricter than
        // any filter.
        Mode::Strict => None,
        Mode::Disabled => Some(format!("{who} runs without seccomp, which {profile} would confine")),
        Mode::Filter if chain.is_empty() => {
            Some(format!("{who} is in seccomp filter mode with no filter in the images, which {profile} would confine"))
        }
        Mode::Filter if !chain_holds(&chain, want) => Some(format!(
            "{who} runs under a seccomp filter chain ({}) that does not hold {profile} ({})",
            insns(&chain),
            insns(&want.iter().collect::<Vec<_>>())
        )),
        Mode::Filter => {
            let spec = chain.iter().any(|f| f.flags & FLAG_SPEC_ALLOW != 0);
            (spec && !want.iter().any(|f| f.flags & FLAG_SPEC_ALLOW != 0)).then(|| {
                format!("{who} has a seccomp filter with SECCOMP_FILTER_FLAG_SPEC_ALLOW (no speculative store bypass mitigation), which {profile} does not set")
            })
        }
    };
    if let Some(text) = text {
        out.push(Finding { pid, tid: t.tid, text, need: Need::Seccomp });
    }
}

/// What `amend` changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Amended {
    /// Each change in words, for the output ("CapAdd CAP_SYS_ADMIN").
    pub done: Vec<String>,
    /// What no setting gives: the restore refuses even with the flag.
    pub cannot: Vec<String>,
    /// Capabilities were added, and the engine's default seccomp profile
    /// depends on them (CAP_SYS_ADMIN allows mount, unshare...): probe the
    /// amended settings and compare again before anything else is changed.
    pub again: bool,
}

/// Changes `hc` (a create body's HostConfig) so that its settings give
/// what the findings say the images hold, for `--allow-host-access`.
/// Capabilities come first: when they change, seccomp is left for the
/// next round (`Amended::again`), so that a checkpoint of a `--cap-add
/// SYS_ADMIN` container gets that and keeps Docker's profile for it,
/// rather than seccomp=unconfined. Pure.
pub fn amend(hc: &mut Value, findings: &[Finding]) -> Amended {
    let mut done = Vec::new();
    let mut cannot = Vec::new();
    if !hc.is_object() {
        *hc = Value::Object(Map::new());
    }
    let caps: u64 = findings.iter().fold(0, |a, f| if let Need::Caps(c) = f.need { a | c } else { a });
    let again = caps != 0 && findings.iter().any(|f| f.need == Need::Seccomp);
    if caps != 0 {
        let names: Vec<String> = creds::bits(caps).map(creds::cap_name).collect();
        let mut add: Vec<Value> = hc["CapAdd"].as_array().cloned().unwrap_or_default();
        add.extend(names.iter().map(|n| json!(n)));
        hc["CapAdd"] = Value::Array(add);
        if let Some(drop) = hc["CapDrop"].as_array_mut() {
            drop.retain(|d| d.as_str().and_then(creds::cap_bit).is_none_or(|b| caps & (1u64 << b) == 0));
        }
        done.push(format!("CapAdd {}", names.join(", ")));
    }
    let mut sec: Vec<Value> = hc["SecurityOpt"].as_array().cloned().unwrap_or_default();
    let before = sec.clone();
    if findings.iter().any(|f| f.need == Need::NoNewPrivsOff) {
        sec.retain(|o| o.as_str().is_none_or(|o| opt(o).0 != "no-new-privileges"));
        sec.push(json!("no-new-privileges=false"));
        done.push("SecurityOpt no-new-privileges=false".into());
    }
    if !again && findings.iter().any(|f| f.need == Need::Seccomp) {
        sec.retain(|o| o.as_str().is_none_or(|o| opt(o).0 != "seccomp"));
        sec.push(json!("seccomp=unconfined"));
        done.push("SecurityOpt seccomp=unconfined".into());
    }
    let mut labels: Vec<&String> = Vec::new();
    for f in findings {
        if let Need::Lsm(l) = &f.need {
            if !labels.contains(&l) {
                labels.push(l);
            }
        }
    }
    match labels.as_slice() {
        [] => {}
        [one] => match lsm_option(one) {
            Some(o) => {
                sec.retain(|x| !x.as_str().is_some_and(|x| matches!(opt(x).0, "apparmor" | "label")));
                done.push(format!("SecurityOpt {}", o.join(", ")));
                sec.extend(o.into_iter().map(Value::from));
            }
            None => cannot.push(format!("the LSM label {one:?} has no SecurityOpt that gives it")),
        },
        many => cannot.push(format!(
            "the processes carry different LSM labels ({}); one container has one",
            many.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ")
        )),
    }
    if sec != before {
        hc["SecurityOpt"] = Value::Array(sec);
    }
    if findings.iter().any(|f| f.need == Need::UsernsHost) {
        hc["UsernsMode"] = json!("host");
        done.push("UsernsMode host".into());
    }
    for f in findings.iter().filter(|f| f.need == Need::Nothing) {
        cannot.push(f.text.clone());
    }
    Amended { done, cannot, again }
}

/// The SecurityOpt that gives a process this LSM label: AppArmor's
/// `NAME (MODE)` or `unconfined`, SELinux's `user:role:type:level`.
pub fn lsm_option(label: &str) -> Option<Vec<String>> {
    let l = label.trim();
    if l.is_empty() {
        return None;
    }
    let parts: Vec<&str> = l.splitn(4, ':').collect();
    if parts.len() >= 3 && !l.contains(' ') {
        let mut o = vec![
            format!("label=user:{}", parts[0]),
            format!("label=role:{}", parts[1]),
            format!("label=type:{}", parts[2]),
        ];
        if let Some(level) = parts.get(3) {
            o.push(format!("label=level:{level}"));
        }
        return Some(o);
    }
    // "docker-default (enforce)": complain mode has no SecurityOpt.
    let name = match l.strip_suffix(" (enforce)") {
        Some(n) => n,
        None if !l.contains(' ') => l,
        None => return None,
    };
    Some(vec![format!("apparmor={name}")])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::creds::fixtures::*;
    use crate::model::creds::{Creds, Seccomp, Task};

    const ALL: u64 = (1u64 << 41) - 1;

    fn hc(v: Value) -> Settings {
        Settings::from_host_config(&v, ALL, false)
    }

    #[test]
    fn capability_sets_as_moby_computes_them() {
        assert_eq!(hc(json!({})).caps, DOCKER_DEFAULT_CAPS);
        assert_eq!(hc(json!({"CapAdd": ["SYS_ADMIN"]})).caps, 0xa824_25fb);
        assert_eq!(hc(json!({"CapAdd": ["cap_sys_admin"], "CapDrop": ["NET_RAW"]})).caps, 0xa824_05fb);
        assert_eq!(hc(json!({"CapDrop": ["ALL"], "CapAdd": ["NET_BIND_SERVICE"]})).caps, 0x400);
        assert_eq!(hc(json!({"CapAdd": ["ALL"], "CapDrop": ["SYS_ADMIN"]})).caps, ALL & !(1 << 21));
        assert_eq!(hc(json!({"CapAdd": ["ALL"], "CapDrop": ["ALL"]})).caps, ALL, "ALL in CapAdd wins");
        let p = hc(json!({"Privileged": true, "CapDrop": ["ALL"]}));
        assert_eq!((p.caps, p.seccomp), (ALL, Profile::Unconfined));
        assert_eq!(all_caps(40), ALL);
        assert_eq!(all_caps(63), u64::MAX);
    }

    #[test]
    fn security_options() {
        let s = hc(
            json!({"SecurityOpt": ["no-new-privileges", "seccomp=unconfined", "apparmor=unconfined", "label=disable"]}),
        );
        assert!(s.no_new_privs);
        assert_eq!(s.seccomp, Profile::Unconfined);
        assert_eq!(s.apparmor.as_deref(), Some("unconfined"));
        assert_eq!(s.label, vec!["disable".to_string()]);
        assert!(hc(json!({"SecurityOpt": ["no-new-privileges:true"]})).no_new_privs);
        assert!(!hc(json!({"SecurityOpt": ["no-new-privileges=false"]})).no_new_privs);
        assert!(
            !Settings::from_host_config(&json!({"SecurityOpt": ["no-new-privileges=false"]}), ALL, true).no_new_privs
        );
        assert!(Settings::from_host_config(&json!({}), ALL, true).no_new_privs, "the daemon's no-new-privileges");
        let c = hc(json!({"SecurityOpt": ["seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\"}"]}));
        assert_eq!(c.seccomp, Profile::Custom("{\"defaultAction\":\"SCMP_ACT_ERRNO\"}".into()));
        assert_eq!(hc(json!({"SecurityOpt": null})).seccomp, Profile::Default);
    }

    /// The recorded Docker inspect of the busybox test container.
    #[test]
    fn from_a_recorded_inspect() {
        let v: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/docker20-busybox-inspect.json")).unwrap();
        let s = Settings::from_host_config(&v["HostConfig"], ALL, false);
        assert_eq!(s.caps, DOCKER_DEFAULT_CAPS);
        assert_eq!(s.seccomp, Profile::Default);
        assert!(!s.no_new_privs);
    }

    fn one(creds: Creds, mode: u64, filters: &[(&[u8], Option<u32>, u32)], filter: Option<u32>) -> Privileges {
        let files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, &[1])])),
            ("core-1.img".to_string(), core_img("nginx", &creds, mode, filter)),
            ("seccomp.img".to_string(), seccomp_img(filters)),
        ];
        creds::read(&mut reader(files), &[]).unwrap()
    }

    fn default_grant() -> Grant {
        Grant::from_settings(&hc(json!({})), "").with_observed(&Observed {
            cap_bnd: DOCKER_DEFAULT_CAPS,
            filters: vec![Filter { prog: STRICT.to_vec(), flags: 0 }],
            ..Observed::default()
        })
    }

    fn texts(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.text.as_str()).collect()
    }

    #[test]
    fn capabilities_within_or_not() {
        let g = default_grant();
        let ok = one(docker_root(), 2, &[(&STRICT, None, 0)], Some(0));
        assert_eq!(compare(&ok, &g), vec![]);
        let admin = Creds { cap_eff: 0xa824_25fb, cap_prm: 0xa824_25fb, cap_bnd: 0xa824_25fb, ..docker_root() };
        let f = compare(&one(admin, 2, &[(&STRICT, None, 0)], Some(0)), &g);
        assert_eq!(
            texts(&f),
            ["pid 1 (nginx) holds CAP_SYS_ADMIN, which the container is not given (in its effective, permitted and bounding sets)"]
        );
        assert_eq!(f[0].need, Need::Caps(1 << 21));
        // Only in the bounding set: a setuid binary would raise it again.
        let bnd = Creds { cap_bnd: u64::MAX >> 23, ..docker_root() };
        let f = compare(&one(bnd, 2, &[(&STRICT, None, 0)], Some(0)), &g);
        assert!(f[0].text.contains("CAP_SYS_MODULE") && f[0].text.ends_with("(in its bounding set)"), "{f:?}");
        // Ambient and inheritable count too.
        let amb = Creds { cap_amb: 1 << 12, cap_inh: 1 << 12, ..docker_root() };
        let f = compare(&one(amb, 2, &[(&STRICT, None, 0)], Some(0)), &g);
        assert_eq!(
            texts(&f),
            ["pid 1 (nginx) holds CAP_NET_ADMIN, which the container is not given (in its inheritable and ambient sets)"]
        );
        // Fewer than the settings give: fine.
        let less = Creds { cap_eff: 0, cap_prm: 0x400, cap_bnd: 0x400, ..docker_root() };
        assert!(compare(&one(less, 2, &[(&STRICT, None, 0)], Some(0)), &g).is_empty());
    }

    #[test]
    fn no_new_privs_kept_where_the_settings_set_it() {
        let s = hc(json!({"SecurityOpt": ["no-new-privileges"]}));
        let g = Grant { no_new_privs: true, ..default_grant() };
        assert!(s.no_new_privs);
        let f = compare(&one(docker_root(), 2, &[(&STRICT, None, 0)], Some(0)), &g);
        assert_eq!(
            texts(&f),
            ["pid 1 (nginx) has no_new_privs cleared, which the container's settings set (no-new-privileges)"]
        );
        let nnp = Creds { no_new_privs: true, ..docker_root() };
        assert!(compare(&one(nnp.clone(), 2, &[(&STRICT, None, 0)], Some(0)), &g).is_empty());
        // Set in the images where the settings do not: stricter, fine.
        assert!(compare(&one(nnp, 2, &[(&STRICT, None, 0)], Some(0)), &default_grant()).is_empty());
    }

    #[test]
    fn seccomp_chain_with_and_without_the_destinations_filter() {
        let g = default_grant();
        // The destination's filter under another one: at least as strict.
        let stacked = one(docker_root(), 2, &[(&STRICT, None, 0), (&ALLOW_ALL, Some(0), 0)], Some(1));
        assert!(compare(&stacked, &g).is_empty());
        // No seccomp at all.
        let f = compare(&one(docker_root(), 0, &[], None), &g);
        assert_eq!(
            texts(&f),
            ["pid 1 (nginx) runs without seccomp, which the engine's default seccomp profile would confine"]
        );
        assert_eq!(f[0].need, Need::Seccomp);
        // A permissive filter that a check of the mode alone would pass.
        let f = compare(&one(docker_root(), 2, &[(&ALLOW_ALL, None, 0)], Some(0)), &g);
        assert_eq!(
            texts(&f),
            ["pid 1 (nginx) runs under a seccomp filter chain (1 filter of 1 instruction) that does not hold the engine's default seccomp profile (1 filter of 2 instructions)"]
        );
        // The destination's program with SPEC_ALLOW the destination lacks.
        let f = compare(&one(docker_root(), 2, &[(&STRICT, None, FLAG_SPEC_ALLOW)], Some(0)), &g);
        assert!(f[0].text.contains("SPEC_ALLOW"), "{f:?}");
        // Strict mode is stricter than any filter.
        assert!(compare(&one(docker_root(), 1, &[], None), &g).is_empty());
        // Unconfined settings: anything goes.
        let u = Grant::from_settings(&hc(json!({"SecurityOpt": ["seccomp=unconfined"]})), "");
        assert!(compare(&one(docker_root(), 0, &[], None), &u).is_empty());
        // A confined profile whose filter was never read: not passed.
        let unread = Grant::from_settings(&hc(json!({})), "");
        assert!(compare(&stacked, &unread)[0].text.contains("was not read"));
        // Order matters when the destination has two.
        let two = Grant {
            filters: Some(vec![
                Filter { prog: ALLOW_ALL.to_vec(), flags: 0 },
                Filter { prog: STRICT.to_vec(), flags: 0 },
            ]),
            ..default_grant()
        };
        assert!(compare(&stacked, &two).is_empty());
        let reversed = one(docker_root(), 2, &[(&ALLOW_ALL, None, 0), (&STRICT, Some(0), 0)], Some(1));
        assert!(!compare(&reversed, &two).is_empty());
    }

    #[test]
    fn threads_zombies_labels_users_and_namespaces() {
        let g = default_grant();
        let admin = Creds { cap_eff: 1 << 21, cap_prm: 1 << 21, ..docker_root() };
        let files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, &[1, 5, 6])])),
            ("core-1.img".to_string(), core_img("java", &docker_root(), 2, Some(0))),
            ("core-5.img".to_string(), core_img("java", &docker_root(), 2, Some(0))),
            ("core-6.img".to_string(), core_img("java", &admin, 2, Some(0))),
            ("seccomp.img".to_string(), seccomp_img(&[(&STRICT, None, 0)])),
        ];
        let p = creds::read(&mut reader(files), &[]).unwrap();
        assert_eq!(texts(&compare(&p, &g)), ["pid 1 (java), thread 6 holds CAP_SYS_ADMIN, which the container is not given (in its effective and permitted sets)"]);
        // A zombie holds nothing.
        let mut z = one(Creds { cap_bnd: u64::MAX, ..docker_root() }, 0, &[], None);
        z.tasks[0].dead = true;
        assert!(compare(&z, &g).is_empty());
        // The LSM label.
        let l = Creds { lsm_profile: Some("unconfined".into()), ..docker_root() };
        let f = compare(
            &one(l, 2, &[(&STRICT, None, 0)], Some(0)),
            &Grant { lsm: Some("docker-default (enforce)".into()), ..g.clone() },
        );
        assert_eq!(
            texts(&f),
            ["pid 1 (nginx) carries the LSM label \"unconfined\", not the container's (\"docker-default (enforce)\")"]
        );
        // uid 0 where the settings run a user with no-new-privileges.
        let s = hc(json!({"SecurityOpt": ["no-new-privileges"]}));
        let gu = Grant { filters: g.filters.clone(), ..Grant::from_settings(&s, "1000:1000") };
        let nnp = Creds { no_new_privs: true, ..docker_root() };
        let f = compare(&one(nnp, 2, &[(&STRICT, None, 0)], Some(0)), &gu);
        assert!(f[0].text.contains("uid 0") && f[0].need == Need::Nothing, "{f:?}");
        assert_eq!(Grant::from_settings(&hc(json!({})), "1000").user, None, "without nnp a setuid binary may be root");
        // No user namespace in the images where the settings have one.
        let ext = creds::Extent { first: 0, lower_first: 100_000, count: 65_536 };
        let maps = Maps { uid: vec![ext], gid: vec![ext] };
        let gn = Grant { userns: Some(maps.clone()), ..g.clone() };
        let ok = one(docker_root(), 2, &[(&STRICT, None, 0)], Some(0));
        let f = compare(&ok, &gn);
        assert!(f[0].text.contains("no user namespace") && f[0].need == Need::UsernsHost, "{f:?}");
        let mut other = ok.clone();
        other.userns = vec![Maps { uid: vec![creds::Extent { lower_first: 0, ..ext }], gid: vec![ext] }];
        assert!(compare(&other, &gn)[0].text.contains("0→0+65536"));
        other.userns = vec![maps];
        assert!(compare(&other, &gn).is_empty());
        let _ = (Seccomp::default(), Task { pid: 0, comm: String::new(), dead: false, threads: vec![] });
    }

    #[test]
    fn what_allow_host_access_adds() {
        let g = Grant { no_new_privs: true, ..default_grant() };
        let c = Creds { cap_eff: 1 << 21 | 1 << 16, lsm_profile: Some("unconfined".into()), ..docker_root() };
        let f = compare(&one(c, 0, &[], None), &Grant { lsm: Some("docker-default (enforce)".into()), ..g });
        let mut h = json!({"CapAdd": ["NET_ADMIN"], "CapDrop": ["SYS_ADMIN", "MKNOD"], "SecurityOpt": ["no-new-privileges", "seccomp={}", "apparmor=docker-default"]});
        let a = amend(&mut h, &f);
        assert_eq!(
            a.done,
            [
                "CapAdd CAP_SYS_MODULE, CAP_SYS_ADMIN",
                "SecurityOpt no-new-privileges=false",
                "SecurityOpt apparmor=unconfined"
            ]
        );
        assert!(a.cannot.is_empty());
        assert!(a.again, "seccomp waits for a probe of the added capabilities");
        // The second round: the probe of the amended settings still lacks
        // the images' chain.
        let f2: Vec<Finding> = f.iter().filter(|f| f.need == Need::Seccomp).cloned().collect();
        let a = amend(&mut h, &f2);
        assert_eq!((a.done, a.again), (vec!["SecurityOpt seccomp=unconfined".to_string()], false));
        assert_eq!(h["CapAdd"], json!(["NET_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_ADMIN"]));
        assert_eq!(h["CapDrop"], json!(["MKNOD"]));
        assert_eq!(h["SecurityOpt"], json!(["no-new-privileges=false", "apparmor=unconfined", "seccomp=unconfined"]));
        // The amended settings give what the images hold.
        let s = hc(h.clone());
        assert_eq!(s.caps & (1 << 21 | 1 << 16), 1 << 21 | 1 << 16);
        assert!(!s.no_new_privs && s.seccomp == Profile::Unconfined);
        assert_eq!(lsm_option("system_u:system_r:spc_t:s0").unwrap()[2], "label=type:spc_t");
        assert_eq!(lsm_option("docker-default (complain)"), None);
        let a = amend(&mut json!({}), &[Finding { pid: 1, tid: 1, text: "x".into(), need: Need::Nothing }]);
        assert_eq!(a.cannot, ["x"]);
    }

    /// The recorded dumps against the settings they were made with, and
    /// against the default settings (the two crafted checkpoints of issue
    /// 17 are these images under the default settings).
    #[test]
    fn recorded_dumps_against_settings() {
        let dir = |d: &str| {
            let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/criu-images").join(d);
            let mut r = |n: &str| Ok(std::fs::read(base.join(n)).ok());
            creds::read(&mut r, &[]).unwrap()
        };
        let default = dir("docker-default");
        let docker_filter = creds::thread_chain(&default, &default.tasks[0].threads[0])[0].clone();
        let grant = |h: Value| {
            let s = hc(h);
            let filters = if s.seccomp == Profile::Unconfined { vec![] } else { vec![docker_filter.clone()] };
            Grant::from_settings(&s, "").with_observed(&Observed {
                cap_bnd: s.caps,
                no_new_privs: s.no_new_privs,
                filters,
                ..Observed::default()
            })
        };
        assert!(compare(&default, &grant(json!({}))).is_empty());
        // Docker's default profile allows more system calls (mount,
        // unshare, setns...) with CAP_SYS_ADMIN: another program, which
        // is why the destination's filter is read from a probe with the
        // same settings.
        let admin = dir("docker-cap-add-sys-admin");
        let admin_filter = creds::thread_chain(&admin, &admin.tasks[0].threads[0])[0].clone();
        assert_ne!(admin_filter.prog, docker_filter.prog);
        let s = hc(json!({"CapAdd": ["SYS_ADMIN"]}));
        let g = Grant::from_settings(&s, "").with_observed(&Observed {
            cap_bnd: s.caps,
            filters: vec![admin_filter],
            ..Observed::default()
        });
        assert!(compare(&admin, &g).is_empty());
        assert!(compare(&dir("docker-seccomp-unconfined"), &grant(json!({"SecurityOpt": ["seccomp=unconfined"]})))
            .is_empty());
        assert!(
            compare(&dir("docker-no-new-privileges"), &grant(json!({"SecurityOpt": ["no-new-privileges"]}))).is_empty()
        );
        // Crafted: --cap-add SYS_ADMIN images, settings edited to none.
        let f = compare(&dir("docker-cap-add-sys-admin"), &grant(json!({})));
        assert_eq!(
            texts(&f),
            [
                "pid 1 (sh) holds CAP_SYS_ADMIN, which the container is not given (in its effective, permitted and bounding sets)",
                "pid 1 (sh) runs under a seccomp filter chain (1 filter of 1028 instructions) that does not hold the engine's default seccomp profile (1 filter of 974 instructions)",
                "pid 12 (sleep) holds CAP_SYS_ADMIN, which the container is not given (in its effective, permitted and bounding sets)",
                "pid 12 (sleep) runs under a seccomp filter chain (1 filter of 1028 instructions) that does not hold the engine's default seccomp profile (1 filter of 974 instructions)"
            ]
        );
        // Crafted: seccomp=unconfined images, settings edited to the default.
        let f = compare(&dir("docker-seccomp-unconfined"), &grant(json!({})));
        assert_eq!(
            texts(&f),
            [
                "pid 1 (sh) runs without seccomp, which the engine's default seccomp profile would confine",
                "pid 12 (sleep) runs without seccomp, which the engine's default seccomp profile would confine"
            ]
        );
        // nnp dropped from the settings' images under settings that set it.
        let f = compare(&default, &grant(json!({"SecurityOpt": ["no-new-privileges"]})));
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.need == Need::NoNewPrivsOff));
        // Podman's archives: their caps are within Docker's default, their
        // seccomp program is Podman's, not Docker's.
        let f = compare(&dir("podman-default"), &grant(json!({})));
        assert!(f.iter().all(|f| f.need == Need::Seccomp) && f.len() == 2, "{f:?}");
        let f = compare(&dir("podman-cap-add"), &grant(json!({"SecurityOpt": ["seccomp=unconfined"]})));
        assert_eq!(f.len(), 2);
        assert!(f[0].text.starts_with("pid 1 (sh) holds CAP_SYS_MODULE, CAP_SYS_ADMIN, which"), "{f:?}");
    }
}
