//! What CRIU restores from a checkpoint's images as the processes'
//! privileges: each thread's credentials (uids and gids, the five
//! capability sets, securebits, `no_new_privs`, the LSM label) and its
//! seccomp state (mode, and the chain of filters it runs under). CRIU puts
//! them back as root, from the images, whatever the new container's
//! settings say (GHSA-p7v4-vr35-mj6f): `grants` compares them with what the
//! destination gives.
//!
//! Read from `pstree.img` (which threads each process has), `core-<tid>.img`
//! (`core_entry { tc = 3; thread_core = 5 }`, `thread_core_entry { creds =
//! 10; seccomp_mode = 11; seccomp_filter = 12 }`), the old per-task
//! `creds-<pid>.img`, `seccomp.img` (`seccomp_entry { repeated
//! seccomp_filter seccomp_filters = 1 }`, `seccomp_filter { filter = 1; prev
//! = 2; flags = 3 }`) and `userns-<id>.img` (images/creds.proto, core.proto,
//! seccomp.proto, userns.proto). The field numbers are cited on each
//! decoder.
//!
//! The images come from checkpoints made elsewhere: lengths, counts and
//! filter chains are bounded, and anything CRIU itself would refuse or
//! misread (a capability word past the second, a chain that loops, a
//! filter index past the end) is an error, never a guess. Pure.

use crate::model::img::{self, Value};

/// CRIU's image magics (criu/include/magic.h).
pub const CORE_MAGIC: u32 = 0x5505_3847;
pub const CREDS_MAGIC: u32 = 0x5402_3547;
pub const SECCOMP_MAGIC: u32 = 0x6441_3049;
pub const PSTREE_MAGIC: u32 = 0x5027_3030;
pub const USERNS_MAGIC: u32 = 0x5547_4906;

/// The most threads of one checkpoint read; a container has far fewer.
pub const MAX_THREADS: usize = 65_536;
/// The most filters one seccomp.img may hold, and the longest chain: the
/// kernel caps the instructions of a task's chain at 32768
/// (MAX_INSNS_PER_PATH), one instruction each at least.
pub const MAX_FILTERS: usize = 32_768;
/// The kernel's BPF_MAXINSNS: no one filter is longer.
pub const MAX_FILTER_INSNS: usize = 4096;
const MAX_GROUPS: usize = 65_536;
const MAX_LABEL: usize = 4096;

/// The capabilities the kernel knows (include/uapi/linux/capability.h),
/// by bit.
pub const CAP_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The name of capability `bit` as Docker spells it in CapAdd
/// (`CAP_SYS_ADMIN`), or `CAP_<bit>` for one this table does not know.
pub fn cap_name(bit: u32) -> String {
    match CAP_NAMES.get(bit as usize) {
        Some(n) => format!("CAP_{n}"),
        None => format!("CAP_{bit}"),
    }
}

/// The bit of a capability name, with or without `CAP_`, any case.
pub fn cap_bit(name: &str) -> Option<u32> {
    let n = name.trim().to_ascii_uppercase();
    let n = n.strip_prefix("CAP_").unwrap_or(&n);
    CAP_NAMES.iter().position(|c| *c == n).map(|i| i as u32)
}

/// Every bit of `set`, lowest first.
pub fn bits(set: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |b| set & (1u64 << b) != 0)
}

/// The names of the capabilities in `set`, joined with ", ".
pub fn cap_list(set: u64) -> String {
    bits(set).map(cap_name).collect::<Vec<_>>().join(", ")
}

/// One thread's credentials, as `creds_entry` holds them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub suid: u32,
    pub sgid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub secbits: u32,
    pub no_new_privs: bool,
    /// The LSM label (AppArmor profile or SELinux context) as read from
    /// `/proc/PID/attr/current` at dump time; CRIU writes it back.
    pub lsm_profile: Option<String>,
    pub lsm_sockcreate: Option<String>,
}

impl Creds {
    /// Every uid the thread holds (real, effective, saved, filesystem).
    pub fn uids(&self) -> [u32; 4] {
        [self.uid, self.euid, self.suid, self.fsuid]
    }
    pub fn gids(&self) -> [u32; 4] {
        [self.gid, self.egid, self.sgid, self.fsgid]
    }
    /// The five capability sets with their names, for messages.
    pub fn cap_sets(&self) -> [(&'static str, u64); 5] {
        [
            ("effective", self.cap_eff),
            ("permitted", self.cap_prm),
            ("inheritable", self.cap_inh),
            ("bounding", self.cap_bnd),
            ("ambient", self.cap_amb),
        ]
    }
}

/// A thread's seccomp mode (SECCOMP_MODE_* of <linux/seccomp.h>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disabled,
    Strict,
    Filter,
}

impl Mode {
    fn from(v: u64) -> std::result::Result<Mode, String> {
        match v {
            0 => Ok(Mode::Disabled),
            1 => Ok(Mode::Strict),
            2 => Ok(Mode::Filter),
            v => Err(format!("seccomp mode {v} (CRIU knows 0, 1 and 2)")),
        }
    }
}

/// One thread of a process, as CRIU restores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    pub tid: u32,
    pub creds: Creds,
    pub seccomp: Mode,
    /// The newest filter of its chain: an index into `Seccomp::filters`.
    pub filter: Option<u32>,
    /// Its chain is its process's first thread's, which CRIU installs with
    /// SECCOMP_FILTER_FLAG_TSYNC (see `propagate_tsync`): its own core
    /// image says "no seccomp".
    pub propagated: bool,
}

/// SECCOMP_FILTER_FLAG_TSYNC: the filter is installed on every thread of
/// the process at once.
pub const FLAG_TSYNC: u32 = 1;

/// CRIU's dump, when every thread of a process shares one chain, keeps the
/// chain on the first thread only, with TSYNC on each of its filters, and
/// saves the other threads as running without seccomp ("will be
/// propagated", criu/seccomp.c try_use_tsync); its restore installs the
/// chain with TSYNC, and so every thread runs under it. Such a thread is
/// taken here as what it will run under. Only a thread without any
/// seccomp of its own is: one with a chain keeps it. Pure.
pub fn propagate_tsync(seccomp: &Seccomp, threads: &mut [Thread]) {
    let Some((lead, rest)) = threads.split_first_mut() else { return };
    let Some(f) = lead.filter.filter(|_| lead.seccomp == Mode::Filter) else { return };
    if seccomp.filters.get(f as usize).is_none_or(|(x, _)| x.flags & FLAG_TSYNC == 0) {
        return;
    }
    for t in rest.iter_mut().filter(|t| t.seccomp == Mode::Disabled && t.filter.is_none()) {
        t.seccomp = Mode::Filter;
        t.filter = Some(f);
        t.propagated = true;
    }
}

/// One process: its pid in the container, its command, its threads (the
/// first is the process itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub pid: u32,
    pub comm: String,
    /// A zombie: restored as one, it runs nothing and has no credentials.
    pub dead: bool,
    pub threads: Vec<Thread>,
}

/// A seccomp filter as the kernel runs it: classic BPF, `struct
/// sock_filter` (8 bytes) per instruction, and the flags it was installed
/// with (SECCOMP_FILTER_FLAG_*).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub prog: Vec<u8>,
    pub flags: u32,
}

/// SECCOMP_FILTER_FLAG_SPEC_ALLOW: the task runs without the speculative
/// store bypass mitigation seccomp otherwise turns on.
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;

/// seccomp.img: every filter of every chain, each pointing at the one
/// installed before it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Seccomp {
    pub filters: Vec<(Filter, Option<u32>)>,
}

impl Seccomp {
    /// The chain that ends in filter `newest`, newest first, as the kernel
    /// keeps it (each filter runs; the strictest answer wins).
    pub fn chain(&self, newest: u32) -> std::result::Result<Vec<&Filter>, String> {
        let mut out = Vec::new();
        let mut at = Some(newest);
        while let Some(i) = at {
            let (f, prev) =
                self.filters.get(i as usize).ok_or_else(|| format!("seccomp filter {i} is not in seccomp.img"))?;
            if out.len() >= MAX_FILTERS.min(self.filters.len()) {
                return Err(format!("the seccomp filter chain from {newest} loops"));
            }
            out.push(f);
            at = *prev;
        }
        Ok(out)
    }
}

fn uint(f: &[(u32, Value<'_>)], n: u32) -> Option<u64> {
    img::field(f, n).and_then(|v| v.uint())
}

fn u32_of(f: &[(u32, Value<'_>)], n: u32, what: &str) -> std::result::Result<u32, String> {
    let v = uint(f, n).ok_or_else(|| format!("{what} (field {n}) is missing"))?;
    u32::try_from(v).map_err(|_| format!("{what} (field {n}) is out of range"))
}

/// A repeated uint32, packed or not, in order.
fn repeated_u32(f: &[(u32, Value<'_>)], n: u32, max: usize) -> std::result::Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for (k, v) in f.iter().filter(|(k, _)| *k == n) {
        let vals = match v {
            Value::Bytes(b) => img::packed_varints(b)?,
            v => vec![v.uint().ok_or_else(|| format!("field {k} is not an integer"))?],
        };
        for x in vals {
            if out.len() >= max {
                return Err(format!("field {k} has more than {max} values"));
            }
            out.push(u32::try_from(x).map_err(|_| format!("field {k} holds a value out of range"))?);
        }
    }
    Ok(out)
}

/// A capability set: repeated uint32 words, the lowest bits first (CRIU
/// writes two). A bit past 63 is one no kernel here has: refused.
fn caps(f: &[(u32, Value<'_>)], n: u32) -> std::result::Result<u64, String> {
    let words = repeated_u32(f, n, 64)?;
    let mut set = 0u64;
    for (i, w) in words.iter().enumerate() {
        match i {
            0 => set |= u64::from(*w),
            1 => set |= u64::from(*w) << 32,
            _ if *w == 0 => {}
            _ => return Err(format!("capability set {n} has a bit past 63")),
        }
    }
    Ok(set)
}

fn label(f: &[(u32, Value<'_>)], n: u32) -> std::result::Result<Option<String>, String> {
    let Some(v) = img::field(f, n) else { return Ok(None) };
    let b = v.bytes().ok_or_else(|| format!("field {n} is not a string"))?;
    if b.len() > MAX_LABEL {
        return Err(format!("the LSM label (field {n}) is {} bytes long", b.len()));
    }
    Ok(Some(String::from_utf8_lossy(b).into_owned()))
}

/// `creds_entry` (images/creds.proto): uid = 1, gid = 2, euid = 3, egid =
/// 4, suid = 5, sgid = 6, fsuid = 7, fsgid = 8, cap_inh = 9, cap_prm = 10,
/// cap_eff = 11, cap_bnd = 12, secbits = 13, groups = 14, lsm_profile =
/// 15, lsm_sockcreate = 16, no_new_privs = 18, cap_amb = 19.
pub fn creds_entry(msg: &[u8]) -> std::result::Result<Creds, String> {
    let f = img::fields(msg)?;
    Ok(Creds {
        uid: u32_of(&f, 1, "uid")?,
        gid: u32_of(&f, 2, "gid")?,
        euid: u32_of(&f, 3, "euid")?,
        egid: u32_of(&f, 4, "egid")?,
        suid: u32_of(&f, 5, "suid")?,
        sgid: u32_of(&f, 6, "sgid")?,
        fsuid: u32_of(&f, 7, "fsuid")?,
        fsgid: u32_of(&f, 8, "fsgid")?,
        cap_inh: caps(&f, 9)?,
        cap_prm: caps(&f, 10)?,
        cap_eff: caps(&f, 11)?,
        cap_bnd: caps(&f, 12)?,
        secbits: u32_of(&f, 13, "secbits")?,
        groups: repeated_u32(&f, 14, MAX_GROUPS)?,
        lsm_profile: label(&f, 15)?,
        lsm_sockcreate: label(&f, 16)?,
        no_new_privs: uint(&f, 18).is_some_and(|v| v != 0),
        cap_amb: caps(&f, 19)?,
    })
}

fn only_entry<'a>(bytes: &'a [u8], magic: u32, what: &str) -> std::result::Result<Option<&'a [u8]>, String> {
    let image = img::parse(bytes)?;
    if image.magic.last() != Some(&magic) {
        return Err(format!("{what} has magic {:#x}, not {magic:#x}", image.magic.last().copied().unwrap_or(0)));
    }
    Ok(image.entries.first().copied())
}

/// What one core-<tid>.img says of its thread. `tc` (the task's part) is
/// only in the process's own core.
#[derive(Debug, Clone, PartialEq)]
pub struct Core {
    pub comm: String,
    /// TASK_DEAD (2): a zombie.
    pub dead: bool,
    pub creds: Option<Creds>,
    pub seccomp: Mode,
    pub filter: Option<u32>,
}

/// `core_entry { tc = 3; thread_core = 5 }`; `task_core_entry { task_state
/// = 1; comm = 6; old_seccomp_mode = 11; old_seccomp_filter = 12 }`;
/// `thread_core_entry { creds = 10; seccomp_mode = 11; seccomp_filter =
/// 12; comm = 13 }` (images/core.proto). As CRIU does (check_core), the
/// task's old per-task seccomp fields win over the thread's.
pub fn core(bytes: &[u8]) -> std::result::Result<Core, String> {
    let e = only_entry(bytes, CORE_MAGIC, "the core image")?.ok_or("the core image has no entry")?;
    let core = img::fields(e)?;
    let tc = match img::field(&core, 3) {
        Some(v) => Some(img::fields(v.bytes().ok_or("task_core_entry is not a message")?)?),
        None => None,
    };
    let th = match img::field(&core, 5) {
        Some(v) => Some(img::fields(v.bytes().ok_or("thread_core_entry is not a message")?)?),
        None => None,
    };
    let text = |f: &Option<Vec<(u32, Value)>>, n| {
        f.as_ref()
            .and_then(|f| img::field(f, n))
            .and_then(|v| v.bytes())
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(64)]).into_owned())
    };
    let comm = text(&tc, 6).or_else(|| text(&th, 13)).unwrap_or_default();
    let dead = tc.as_ref().and_then(|f| uint(f, 1)) == Some(2);
    let creds = match th.as_ref().and_then(|f| img::field(f, 10)) {
        Some(v) => Some(creds_entry(v.bytes().ok_or("creds_entry is not a message")?)?),
        None => None,
    };
    let old_mode = tc.as_ref().and_then(|f| uint(f, 11));
    let old_filter = tc.as_ref().and_then(|f| uint(f, 12));
    let mode = old_mode.or_else(|| th.as_ref().and_then(|f| uint(f, 11))).unwrap_or(0);
    let filter = match old_filter.or_else(|| th.as_ref().and_then(|f| uint(f, 12))) {
        Some(v) => Some(u32::try_from(v).map_err(|_| "the seccomp filter index is out of range")?),
        None => None,
    };
    Ok(Core { comm, dead, creds, seccomp: Mode::from(mode)?, filter })
}

/// The old per-task `creds-<pid>.img`: one `creds_entry`.
pub fn creds_image(bytes: &[u8]) -> std::result::Result<Creds, String> {
    creds_entry(only_entry(bytes, CREDS_MAGIC, "the creds image")?.ok_or("the creds image has no entry")?)
}

/// seccomp.img: `seccomp_entry { repeated seccomp_filter seccomp_filters =
/// 1 }`, `seccomp_filter { required bytes filter = 1; optional uint32 prev
/// = 2; optional uint32 flags = 3 }` (images/seccomp.proto). An image
/// without an entry (nothing under seccomp) has no filters.
pub fn seccomp(bytes: &[u8]) -> std::result::Result<Seccomp, String> {
    let Some(e) = only_entry(bytes, SECCOMP_MAGIC, "seccomp.img")? else { return Ok(Seccomp::default()) };
    let mut filters = Vec::new();
    for (n, v) in img::fields(e)? {
        if n != 1 {
            continue;
        }
        if filters.len() >= MAX_FILTERS {
            return Err(format!("seccomp.img holds more than {MAX_FILTERS} filters"));
        }
        let f = img::fields(v.bytes().ok_or("a seccomp filter is not a message")?)?;
        let prog = img::field(&f, 1).and_then(|v| v.bytes()).ok_or("a seccomp filter without its program")?;
        if prog.is_empty() || prog.len() % 8 != 0 || prog.len() / 8 > MAX_FILTER_INSNS {
            return Err(format!("a seccomp filter of {} bytes (whole instructions of 8, at most 4096)", prog.len()));
        }
        let prev = match uint(&f, 2) {
            Some(p) => Some(u32::try_from(p).map_err(|_| "a seccomp filter's prev is out of range")?),
            None => None,
        };
        let flags = u32::try_from(uint(&f, 3).unwrap_or(0)).map_err(|_| "seccomp filter flags out of range")?;
        filters.push((Filter { prog: prog.to_vec(), flags }, prev));
    }
    Ok(Seccomp { filters })
}

/// pstree.img: `pstree_entry { pid = 1; ppid = 2; pgid = 3; sid = 4;
/// repeated threads = 5 }` (images/pstree.proto). Each process's pid and
/// thread ids (the process's own first, as CRIU writes them).
pub fn pstree_threads(bytes: &[u8]) -> std::result::Result<Vec<(u32, Vec<u32>)>, String> {
    let image = img::parse(bytes)?;
    if image.magic.last() != Some(&PSTREE_MAGIC) {
        return Err("pstree.img has the wrong magic".into());
    }
    let mut out = Vec::new();
    let mut total = 0usize;
    for e in image.entries {
        let f = img::fields(e)?;
        let pid = u32_of(&f, 1, "pid")?;
        let mut threads = repeated_u32(&f, 5, MAX_THREADS)?;
        if threads.is_empty() {
            threads.push(pid);
        }
        total += threads.len();
        if total > MAX_THREADS {
            return Err(format!("more than {MAX_THREADS} threads"));
        }
        out.push((pid, threads));
    }
    Ok(out)
}

/// One extent of a user namespace's uid or gid map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub first: u32,
    pub lower_first: u32,
    pub count: u32,
}

/// A user namespace's maps: `userns_entry { repeated uid_gid_extent uid_map
/// = 1; gid_map = 2 }`, `uid_gid_extent { first = 1; lower_first = 2;
/// count = 3 }` (images/userns.proto).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Maps {
    pub uid: Vec<Extent>,
    pub gid: Vec<Extent>,
}

pub fn userns(bytes: &[u8]) -> std::result::Result<Maps, String> {
    let e = only_entry(bytes, USERNS_MAGIC, "the userns image")?.ok_or("the userns image has no entry")?;
    let mut m = Maps::default();
    for (n, v) in img::fields(e)? {
        let list = match n {
            1 => &mut m.uid,
            2 => &mut m.gid,
            _ => continue,
        };
        // The kernel allows 340 extents per map.
        if list.len() >= 340 {
            return Err("a user namespace map of more than 340 extents".into());
        }
        let f = img::fields(v.bytes().ok_or("an extent is not a message")?)?;
        list.push(Extent {
            first: u32_of(&f, 1, "first")?,
            lower_first: u32_of(&f, 2, "lower_first")?,
            count: u32_of(&f, 3, "count")?,
        });
    }
    Ok(m)
}

/// Parses `/proc/PID/uid_map` text (`first lower count` lines).
pub fn parse_map(text: &str) -> std::result::Result<Vec<Extent>, String> {
    let mut out = Vec::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()).take(341) {
        let n: Vec<u32> =
            l.split_whitespace().map(|w| w.parse().map_err(|_| format!("{l:?}"))).collect::<Result<_, _>>()?;
        let [first, lower_first, count] = n[..] else { return Err(format!("{l:?} is not 3 numbers")) };
        out.push(Extent { first, lower_first, count });
    }
    Ok(out)
}

/// Everything CRIU would restore as privileges, for every process of a
/// checkpoint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Privileges {
    pub tasks: Vec<Task>,
    pub seccomp: Seccomp,
    /// The user namespaces the checkpoint brings (userns-<id>.img), if any:
    /// CRIU creates them with these maps.
    pub userns: Vec<Maps>,
}

/// A file of the images directory by name: its bytes, `None` when absent.
pub type ReadFile<'a> = dyn FnMut(&str) -> std::result::Result<Option<Vec<u8>>, String> + 'a;

/// Reads the privileges from the images directory's files, through `read`
/// (a file's bytes by name, `None` when absent; the caller bounds the size
/// and opens beneath the directory). Pure given `read`.
pub fn read(read: &mut ReadFile<'_>, userns_files: &[String]) -> std::result::Result<Privileges, String> {
    let pstree = read("pstree.img")?.ok_or("the checkpoint has no pstree.img")?;
    let tree = pstree_threads(&pstree).map_err(|e| format!("pstree.img: {e}"))?;
    let seccomp = match read("seccomp.img")? {
        Some(b) => self::seccomp(&b).map_err(|e| format!("seccomp.img: {e}"))?,
        None => Seccomp::default(),
    };
    let mut tasks = Vec::with_capacity(tree.len());
    for (pid, tids) in tree {
        let mut task = Task { pid, comm: String::new(), dead: false, threads: Vec::new() };
        // A zombie first, by its own core: CRIU writes no real thread list
        // for one (seen: a `sleep` exiting at the freeze, its "thread" a
        // stray 1853321005), and restores it from core-<pid>.img alone.
        let name = format!("core-{pid}.img");
        let bytes = read(&name)?.ok_or_else(|| format!("the checkpoint has no {name}"))?;
        let mut leader = Some(core(&bytes).map_err(|e| format!("{name}: {e}"))?);
        if let Some(l) = leader.take_if(|l| l.dead) {
            task.comm = l.comm;
            task.dead = true;
            tasks.push(task);
            continue;
        }
        for (i, tid) in tids.iter().enumerate() {
            let name = format!("core-{tid}.img");
            // The leader's core (tid == pid) is the one read above.
            let c = match leader.take_if(|_| *tid == pid) {
                Some(l) => l,
                None => {
                    let bytes = read(&name)?.ok_or_else(|| format!("the checkpoint has no {name}"))?;
                    core(&bytes).map_err(|e| format!("{name}: {e}"))?
                }
            };
            if i == 0 {
                task.comm = c.comm.clone();
            }
            // CRIU's rule (rst_prep_creds): without creds in the process's
            // own core, the old creds-<pid>.img holds them.
            let creds = match c.creds {
                Some(cr) => cr,
                None if i == 0 => {
                    let name = format!("creds-{pid}.img");
                    let b = read(&name)?
                        .ok_or_else(|| format!("core-{tid}.img has no credentials and there is no {name}"))?;
                    creds_image(&b).map_err(|e| format!("{name}: {e}"))?
                }
                None => return Err(format!("core-{tid}.img (a thread of {pid}) has no credentials")),
            };
            if let Some(f) = c.filter {
                seccomp.chain(f).map_err(|e| format!("{name}: {e}"))?;
            }
            task.threads.push(Thread { tid: *tid, creds, seccomp: c.seccomp, filter: c.filter, propagated: false });
        }
        propagate_tsync(&seccomp, &mut task.threads);
        tasks.push(task);
    }
    let mut userns = Vec::new();
    for n in userns_files {
        let b = read(n)?.ok_or_else(|| format!("{n} went away"))?;
        userns.push(self::userns(&b).map_err(|e| format!("{n}: {e}"))?);
    }
    Ok(Privileges { tasks, seccomp, userns })
}

/// Whether an images directory's file name is a user namespace image.
pub fn is_userns_file(name: &str) -> bool {
    name.strip_prefix("userns-").and_then(|r| r.strip_suffix(".img")).is_some_and(|n| n.parse::<u32>().is_ok())
}

/// The chain a thread restores under, newest first (empty when it has
/// none).
pub fn thread_chain<'a>(p: &'a Privileges, t: &Thread) -> Vec<&'a Filter> {
    t.filter.and_then(|f| p.seccomp.chain(f).ok()).unwrap_or_default()
}

/// SECCOMP_FILTER_FLAG_LOG and _SPEC_ALLOW: the flags a filter added by
/// `confine` keeps from the destination's (TSYNC follows the chain it is
/// added to, a listener cannot be restored).
const KEPT_FLAGS: u32 = 2 | FLAG_SPEC_ALLOW;

/// The images rewritten by `confine`: seccomp.img, and the core images of
/// the threads whose chain changed (by file name).
#[derive(Debug, Clone, PartialEq)]
pub struct Confined {
    pub seccomp: Vec<u8>,
    pub cores: Vec<(String, Vec<u8>)>,
}

/// Restores the threads `tids` under the destination's filters (`want`,
/// newest first) on top of their own chain: the filters are appended to
/// seccomp.img, each pointing at the thread's newest, and each thread's
/// core image names the new newest in filter mode. A chain that holds
/// `want` runs at least as strictly as the destination whatever else it
/// holds, and this needs no judgement of what the images' own filters do
/// (engines build one profile into programs of different bytes). The
/// per-task fields of old images (task_core_entry 11, 12), which CRIU
/// prefers, are moved into the thread's. `read` gives the current images.
/// Pure given `read`.
pub fn confine(read: &mut ReadFile<'_>, tids: &[u32], want: &[Filter]) -> std::result::Result<Confined, String> {
    if want.is_empty() {
        return Err("no filter to confine with".into());
    }
    let old = read("seccomp.img")?;
    let (magic, mut entries): (Vec<u32>, Vec<(u32, Vec<u8>)>) = match &old {
        Some(b) => {
            let image = img::parse(b)?;
            if image.magic.last() != Some(&SECCOMP_MAGIC) {
                return Err("seccomp.img has the wrong magic".into());
            }
            let fields = match image.entries.first() {
                Some(e) => img::fields(e)?.into_iter().map(|(n, v)| (n, img::encode(&[(n, v)]))).collect(),
                None => Vec::new(),
            };
            (image.magic, fields)
        }
        None => (vec![img::COMMON_MAGIC, SECCOMP_MAGIC], Vec::new()),
    };
    let parsed = match &old {
        Some(b) => self::seccomp(b)?,
        None => Seccomp::default(),
    };
    let mut count = entries.iter().filter(|(n, _)| *n == 1).count();
    let mut cores = Vec::new();
    // Threads that share a chain share the added filters too.
    let mut added: Vec<(Option<u32>, u32)> = Vec::new();
    for tid in tids {
        let name = format!("core-{tid}.img");
        let bytes = read(&name)?.ok_or_else(|| format!("the checkpoint has no {name}"))?;
        let c = core(&bytes).map_err(|e| format!("{name}: {e}"))?;
        let from = if c.seccomp == Mode::Filter { c.filter } else { None };
        // On top of a chain CRIU installs with TSYNC, the added filters are
        // installed with it too: the threads that take the chain from this
        // one (`propagate_tsync`) get them as well.
        let tsync = from.and_then(|f| parsed.filters.get(f as usize)).map_or(0, |(x, _)| x.flags & FLAG_TSYNC);
        let newest = match added.iter().find(|(f, _)| *f == from) {
            Some((_, n)) => *n,
            None => {
                let mut prev = from;
                for f in want.iter().rev() {
                    if count >= MAX_FILTERS {
                        return Err(format!("seccomp.img would hold more than {MAX_FILTERS} filters"));
                    }
                    let mut m =
                        vec![(1, Value::Bytes(&f.prog)), (3, Value::Varint(u64::from(f.flags & KEPT_FLAGS | tsync)))];
                    if let Some(p) = prev {
                        m.push((2, Value::Varint(p.into())));
                    }
                    entries.push((1, img::encode(&[(1, Value::Bytes(&img::encode(&m)))])));
                    prev = Some(count as u32);
                    count += 1;
                }
                let n = prev.ok_or("no filter added")?;
                added.push((from, n));
                n
            }
        };
        cores.push((name, rewrite_core(&bytes, newest)?));
    }
    let entry: Vec<u8> = entries.into_iter().flat_map(|(_, b)| b).collect();
    Ok(Confined { seccomp: img::write(&magic, &[entry]), cores })
}

/// A core image whose thread runs in filter mode under filter `newest`.
fn rewrite_core(bytes: &[u8], newest: u32) -> std::result::Result<Vec<u8>, String> {
    let image = img::parse(bytes)?;
    let e = image.entries.first().ok_or("the core image has no entry")?;
    let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut had_thread = false;
    for (n, v) in img::fields(e)? {
        let b = match (n, v) {
            (3, Value::Bytes(tc)) => {
                let f: Vec<_> = img::fields(tc)?.into_iter().filter(|(k, _)| *k != 11 && *k != 12).collect();
                img::encode(&[(3, Value::Bytes(&img::encode(&f)))])
            }
            (5, Value::Bytes(th)) => {
                had_thread = true;
                let mut f: Vec<_> = img::fields(th)?.into_iter().filter(|(k, _)| *k != 11 && *k != 12).collect();
                f.push((11, Value::Varint(2)));
                f.push((12, Value::Varint(newest.into())));
                img::encode(&[(5, Value::Bytes(&img::encode(&f)))])
            }
            (n, v) => img::encode(&[(n, v)]),
        };
        out.push((n, b));
    }
    if !had_thread {
        return Err("the core image has no thread_core_entry".into());
    }
    let mut entries: Vec<Vec<u8>> = vec![out.into_iter().flat_map(|(_, b)| b).collect()];
    entries.extend(image.entries[1..].iter().map(|e| e.to_vec()));
    Ok(img::write(&image.magic, &entries))
}

/// Test helpers: images written the way CRIU writes them.
#[cfg(test)]
pub mod fixtures {
    use super::*;

    pub fn creds_msg(c: &Creds) -> Vec<u8> {
        let mut out = Vec::new();
        for (n, v) in
            [(1, c.uid), (2, c.gid), (3, c.euid), (4, c.egid), (5, c.suid), (6, c.sgid), (7, c.fsuid), (8, c.fsgid)]
        {
            img::put_field(&mut out, n, Value::Varint(v.into()));
        }
        for (n, set) in [(9, c.cap_inh), (10, c.cap_prm), (11, c.cap_eff), (12, c.cap_bnd)] {
            img::put_field(&mut out, n, Value::Varint(set & 0xffff_ffff));
            img::put_field(&mut out, n, Value::Varint(set >> 32));
        }
        img::put_field(&mut out, 13, Value::Varint(c.secbits.into()));
        for g in &c.groups {
            img::put_field(&mut out, 14, Value::Varint((*g).into()));
        }
        if let Some(l) = &c.lsm_profile {
            img::put_field(&mut out, 15, Value::Bytes(l.as_bytes()));
        }
        img::put_field(&mut out, 18, Value::Varint(c.no_new_privs.into()));
        img::put_field(&mut out, 19, Value::Varint(c.cap_amb & 0xffff_ffff));
        img::put_field(&mut out, 19, Value::Varint(c.cap_amb >> 32));
        out
    }

    /// A process's core image: comm, its creds and seccomp state.
    pub fn core_img(comm: &str, c: &Creds, mode: u64, filter: Option<u32>) -> Vec<u8> {
        let tc = img::encode(&[(1, Value::Varint(1)), (6, Value::Bytes(comm.as_bytes()))]);
        let cm = creds_msg(c);
        let mut th =
            vec![(1, Value::Varint(0)), (2, Value::Varint(0)), (10, Value::Bytes(&cm)), (11, Value::Varint(mode))];
        if let Some(f) = filter {
            th.push((12, Value::Varint(f.into())));
        }
        let th = img::encode(&th);
        let core = img::encode(&[(1, Value::Varint(1)), (3, Value::Bytes(&tc)), (5, Value::Bytes(&th))]);
        img::write(&[img::COMMON_MAGIC, CORE_MAGIC], &[core])
    }

    pub fn seccomp_img(filters: &[(&[u8], Option<u32>, u32)]) -> Vec<u8> {
        let msgs: Vec<Vec<u8>> = filters
            .iter()
            .map(|(p, prev, flags)| {
                let mut f = vec![(1, Value::Bytes(p)), (3, Value::Varint((*flags).into()))];
                if let Some(p) = prev {
                    f.push((2, Value::Varint((*p).into())));
                }
                img::encode(&f)
            })
            .collect();
        let entry = img::encode(&msgs.iter().map(|m| (1, Value::Bytes(m))).collect::<Vec<_>>());
        img::write(&[img::COMMON_MAGIC, SECCOMP_MAGIC], &[entry])
    }

    pub fn pstree_img(procs: &[(u32, &[u32])]) -> Vec<u8> {
        let entries: Vec<Vec<u8>> = procs
            .iter()
            .map(|(pid, threads)| {
                let mut f = vec![
                    (1, Value::Varint((*pid).into())),
                    (2, Value::Varint(0)),
                    (3, Value::Varint(1)),
                    (4, Value::Varint(1)),
                ];
                for t in threads.iter() {
                    f.push((5, Value::Varint((*t).into())));
                }
                img::encode(&f)
            })
            .collect();
        img::write(&[img::COMMON_MAGIC, PSTREE_MAGIC], &entries)
    }

    /// An allow-all filter: `ret SECCOMP_RET_ALLOW`.
    pub const ALLOW_ALL: [u8; 8] = [0x06, 0, 0, 0, 0, 0, 0xff, 0x7f];
    /// `ld [4] (arch); ret ERRNO(1)`: stands for a profile's program.
    pub const STRICT: [u8; 16] = [0x20, 0, 0, 0, 4, 0, 0, 0, 0x06, 0, 0, 0, 1, 0, 5, 0];

    /// Docker's default capability set (a80425fb), as a root process of a
    /// default container holds it.
    pub fn docker_root() -> Creds {
        let d = 0xa804_25fb;
        Creds { cap_prm: d, cap_eff: d, cap_bnd: d, ..Creds::default() }
    }

    /// A directory of images as `read` sees it.
    pub fn reader(files: Vec<(String, Vec<u8>)>) -> impl FnMut(&str) -> std::result::Result<Option<Vec<u8>>, String> {
        move |n: &str| Ok(files.iter().find(|(f, _)| f == n).map(|(_, b)| b.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    /// Images recorded from real dumps on this host (Docker 20.10.24, runc
    /// 1.1.5, CRIU 4.2.1; Podman 4.3.1 with runc): a busybox shell loop
    /// (pid 1 sh, one sleep), with the settings each directory is named
    /// after. /proc/PID/status of pid 1 at dump time is in the comments.
    pub fn recorded(dir: &str) -> Privileges {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/criu-images").join(dir);
        let names: Vec<String> =
            std::fs::read_dir(&base).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let userns: Vec<String> = names.iter().filter(|n| is_userns_file(n)).cloned().collect();
        let mut r = |n: &str| Ok(std::fs::read(base.join(n)).ok());
        read(&mut r, &userns).unwrap()
    }

    /// A recorded image's bytes, by its path under the fixtures directory.
    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/criu-images").join(rel))
            .unwrap()
    }

    fn pid1(p: &Privileges) -> &Thread {
        &p.tasks[0].threads[0]
    }

    #[test]
    fn capability_names() {
        assert_eq!(cap_name(21), "CAP_SYS_ADMIN");
        assert_eq!(cap_name(63), "CAP_63");
        assert_eq!(cap_bit("sys_admin"), Some(21));
        assert_eq!(cap_bit("CAP_NET_RAW"), Some(13));
        assert_eq!(cap_bit("ALL"), None);
        assert_eq!(cap_list((1 << 13) | (1 << 27)), "CAP_NET_RAW, CAP_MKNOD");
    }

    #[test]
    fn a_zombie_is_read_from_its_own_core_not_its_thread_list() {
        // Recorded: a counter's `sleep 0.1` exiting at the freeze; CRIU's
        // pstree.img lists pid 20 with one "thread" 1853321005, which has no
        // core image (restore on another host failed on it in CI).
        let bytes = fixture("docker-zombie/pstree.img");
        assert_eq!(pstree_threads(&bytes).unwrap()[2], (20, vec![1_853_321_005]));
        let p = recorded("docker-zombie");
        assert_eq!(p.tasks.len(), 3);
        let z = &p.tasks[2];
        assert_eq!((z.pid, z.dead, z.threads.len()), (20, true, 0));
        assert_eq!(p.tasks[1].comm, "httpd");
        assert!(!p.tasks[0].dead && !p.tasks[0].threads.is_empty());
    }

    #[test]
    fn reads_a_docker_default_dump() {
        // CapPrm/CapEff/CapBnd a80425fb, CapInh/CapAmb 0, NoNewPrivs 0, Seccomp 2.
        let p = recorded("docker-default");
        assert_eq!(p.tasks.len(), 2);
        assert_eq!(p.tasks[0].pid, 1);
        assert_eq!(p.tasks[0].comm, "sh");
        assert_eq!(p.tasks[1].comm, "sleep");
        let t = pid1(&p);
        assert_eq!((t.creds.cap_eff, t.creds.cap_prm, t.creds.cap_bnd), (0xa804_25fb, 0xa804_25fb, 0xa804_25fb));
        assert_eq!((t.creds.cap_inh, t.creds.cap_amb), (0, 0));
        assert_eq!(t.creds.uids(), [0; 4]);
        assert!(!t.creds.no_new_privs);
        assert_eq!(t.creds.lsm_profile, None, "no LSM on this host");
        assert_eq!(t.seccomp, Mode::Filter);
        let chain = thread_chain(&p, t);
        assert_eq!(chain.len(), 1, "runc installs Docker's profile as one filter");
        assert!(chain[0].prog.len() > 800 * 8, "Docker's default profile is long: {}", chain[0].prog.len());
        // Every process runs under the same program.
        assert_eq!(thread_chain(&p, &p.tasks[1].threads[0])[0].prog, chain[0].prog);
        assert!(p.userns.is_empty());
    }

    /// redis-server (pid 1 and its threads 7-10) under Docker's default
    /// profile, every thread at Seccomp 2: CRIU kept the chain on pid 1
    /// only, with TSYNC, and saved the other threads without seccomp.
    #[test]
    fn threads_take_their_first_threads_tsync_chain() {
        let p = recorded("docker-redis-threads");
        let t = &p.tasks[0].threads;
        assert_eq!(t.iter().map(|t| t.tid).collect::<Vec<_>>(), [1, 7, 8, 9, 10]);
        let chain = thread_chain(&p, &t[0]);
        assert!(chain.iter().all(|f| f.flags & FLAG_TSYNC != 0), "CRIU set TSYNC on the chain");
        assert!(!t[0].propagated);
        for th in &t[1..] {
            assert!(th.propagated, "thread {}", th.tid);
            assert_eq!((th.seccomp, th.filter), (Mode::Filter, t[0].filter));
        }
        // The same images without TSYNC: the threads would run without seccomp.
        let mut threads: Vec<Thread> = t
            .iter()
            .map(|x| Thread { seccomp: Mode::Disabled, filter: None, propagated: false, ..x.clone() })
            .collect();
        threads[0] = Thread { propagated: false, ..t[0].clone() };
        let plain = Seccomp { filters: vec![(Filter { prog: ALLOW_ALL.to_vec(), flags: 0 }, None)] };
        threads[0].filter = Some(0);
        propagate_tsync(&plain, &mut threads);
        assert!(threads[1..].iter().all(|x| x.seccomp == Mode::Disabled && !x.propagated));
        // A thread with a chain of its own keeps it.
        let tsync = Seccomp {
            filters: vec![
                (Filter { prog: ALLOW_ALL.to_vec(), flags: FLAG_TSYNC }, None),
                (Filter { prog: STRICT.to_vec(), flags: 0 }, None),
            ],
        };
        let mut two = vec![threads[0].clone(), Thread { seccomp: Mode::Filter, filter: Some(1), ..threads[1].clone() }];
        propagate_tsync(&tsync, &mut two);
        assert_eq!((two[1].filter, two[1].propagated), (Some(1), false));
    }

    /// Confining a process whose threads take its chain by TSYNC: the
    /// added filter carries TSYNC too, so the threads get it from the
    /// first thread; their own images stay as they were.
    #[test]
    fn confining_a_tsync_chain_keeps_tsync() {
        let dest = Filter { prog: STRICT.to_vec(), flags: 2 };
        let files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, &[1, 7])])),
            ("core-1.img".to_string(), core_img("redis", &docker_root(), 2, Some(0))),
            ("core-7.img".to_string(), core_img("redis", &docker_root(), 0, None)),
            ("seccomp.img".to_string(), seccomp_img(&[(&ALLOW_ALL, None, FLAG_TSYNC)])),
        ];
        let before = read(&mut reader(files.clone()), &[]).unwrap();
        assert!(before.tasks[0].threads[1].propagated);
        let c = confine(&mut reader(files.clone()), &[1], std::slice::from_ref(&dest)).unwrap();
        assert_eq!(c.cores.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["core-1.img"]);
        let mut after = files.clone();
        for (n, b) in c.cores.iter().chain([&("seccomp.img".to_string(), c.seccomp.clone())]) {
            after.retain(|(f, _)| f != n);
            after.push((n.clone(), b.clone()));
        }
        let p = read(&mut reader(after), &[]).unwrap();
        let progs = |t: &Thread| thread_chain(&p, t).iter().map(|f| (f.prog.clone(), f.flags)).collect::<Vec<_>>();
        let want = vec![(STRICT.to_vec(), 2 | FLAG_TSYNC), (ALLOW_ALL.to_vec(), FLAG_TSYNC)];
        assert_eq!(progs(&p.tasks[0].threads[0]), want);
        assert!(p.tasks[0].threads[1].propagated);
        assert_eq!(progs(&p.tasks[0].threads[1]), want, "thread 7 gets the destination's filter by TSYNC");
    }

    #[test]
    fn reads_what_each_setting_leaves_in_the_images() {
        // --cap-add SYS_ADMIN: CapEff a82425fb.
        let t = pid1(&recorded("docker-cap-add-sys-admin")).clone();
        assert_eq!(t.creds.cap_eff, 0xa824_25fb);
        assert_eq!(t.creds.cap_eff & (1 << 21), 1 << 21);
        // --security-opt seccomp=unconfined: Seccomp 0, no filter.
        let p = recorded("docker-seccomp-unconfined");
        assert_eq!(pid1(&p).seccomp, Mode::Disabled);
        assert!(thread_chain(&p, pid1(&p)).is_empty());
        assert!(p.seccomp.filters.is_empty());
        // --security-opt no-new-privileges: NoNewPrivs 1.
        assert!(pid1(&recorded("docker-no-new-privileges")).creds.no_new_privs);
        // --cap-drop ALL --cap-add NET_BIND_SERVICE: 0400 everywhere.
        let t = pid1(&recorded("docker-cap-drop-all")).clone();
        assert_eq!((t.creds.cap_eff, t.creds.cap_bnd), (0x400, 0x400));
        // Podman 4.3.1's defaults: 800405fb, its own seccomp program.
        let pd = recorded("podman-default");
        assert_eq!(pid1(&pd).creds.cap_bnd, 0x8004_05fb);
        assert_eq!(pid1(&pd).seccomp, Mode::Filter);
        let dd = recorded("docker-default");
        assert_ne!(thread_chain(&pd, pid1(&pd))[0].prog, thread_chain(&dd, pid1(&dd))[0].prog);
        // Podman with --cap-add SYS_ADMIN,SYS_MODULE: 802505fb.
        assert_eq!(pid1(&recorded("podman-cap-add")).creds.cap_eff, 0x8025_05fb);
    }

    #[test]
    fn literal_images_round_trip() {
        let c = Creds {
            uid: 1000,
            euid: 0,
            suid: 0,
            fsuid: 0,
            groups: vec![10, 20],
            cap_amb: 1 << 21,
            cap_bnd: u64::MAX >> 23,
            lsm_profile: Some("docker-default (enforce)".into()),
            no_new_privs: true,
            ..docker_root()
        };
        let core_bytes = core_img("nginx", &c, 2, Some(1));
        let got = core(&core_bytes).unwrap();
        assert_eq!(got.creds.as_ref(), Some(&c));
        assert_eq!((got.comm.as_str(), got.seccomp, got.filter), ("nginx", Mode::Filter, Some(1)));
        let sc = seccomp_img(&[(&STRICT, None, 0), (&ALLOW_ALL, Some(0), 1)]);
        let s = seccomp(&sc).unwrap();
        let chain = s.chain(1).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].prog, ALLOW_ALL);
        assert_eq!(chain[0].flags, 1);
        assert_eq!(chain[1].prog, STRICT);
        let files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, &[1, 7])])),
            ("core-1.img".to_string(), core_bytes.clone()),
            ("core-7.img".to_string(), core_img("nginx", &docker_root(), 0, None)),
            ("seccomp.img".to_string(), sc),
        ];
        let p = read(&mut reader(files), &[]).unwrap();
        assert_eq!(p.tasks[0].threads.len(), 2);
        assert_eq!(p.tasks[0].threads[1].tid, 7);
        // Its chain carries TSYNC: thread 7 runs under pid 1's.
        assert_eq!(p.tasks[0].threads[1].seccomp, Mode::Filter);
        assert!(p.tasks[0].threads[1].propagated);
    }

    #[test]
    fn what_crius_restore_would_refuse_is_an_error() {
        // A chain that loops, a filter index past the end.
        let looped = seccomp(&seccomp_img(&[(&STRICT, Some(1), 0), (&ALLOW_ALL, Some(0), 0)])).unwrap();
        assert!(looped.chain(1).unwrap_err().contains("loops"));
        assert!(looped.chain(5).unwrap_err().contains("not in seccomp.img"));
        // A program that is not whole instructions.
        assert!(seccomp(&seccomp_img(&[(&[6, 0, 0], None, 0)])).is_err());
        // A capability bit past 63.
        let mut m = creds_msg(&docker_root());
        img::put_field(&mut m, 11, Value::Varint(1));
        assert!(creds_entry(&m).unwrap_err().contains("past 63"));
        // A seccomp mode CRIU does not know.
        assert!(core(&core_img("x", &docker_root(), 3, None)).is_err());
        // A thread without credentials; a missing core.
        let files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, &[1])])),
            ("core-1.img".to_string(), core_img("x", &docker_root(), 2, Some(0))),
        ];
        assert!(read(&mut reader(files), &[]).unwrap_err().contains("not in seccomp.img"));
        let files = vec![("pstree.img".to_string(), pstree_img(&[(1, &[1])]))];
        assert!(read(&mut reader(files), &[]).unwrap_err().contains("no core-1.img"));
        // The wrong image in the place of another.
        assert!(core(&pstree_img(&[(1, &[1])])).unwrap_err().contains("magic"));
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let raw = fixture("docker-default/core-1.img");
        for cut in 0..raw.len() {
            let _ = core(&raw[..cut]);
        }
        let sc = seccomp_img(&[(&STRICT, None, 0), (&ALLOW_ALL, Some(0), 1)]);
        for cut in 0..sc.len() {
            let _ = seccomp(&sc[..cut]);
        }
    }

    #[test]
    fn confined_threads_run_under_the_destinations_filter_too() {
        let dest = Filter { prog: STRICT.to_vec(), flags: 2 | 8 };
        let files = vec![
            ("pstree.img".to_string(), pstree_img(&[(1, &[1, 7]), (9, &[9])])),
            ("core-1.img".to_string(), core_img("sh", &docker_root(), 2, Some(0))),
            ("core-7.img".to_string(), core_img("sh", &docker_root(), 2, Some(0))),
            ("core-9.img".to_string(), core_img("nc", &docker_root(), 0, None)),
            ("seccomp.img".to_string(), seccomp_img(&[(&ALLOW_ALL, None, 0)])),
        ];
        let c = confine(&mut reader(files.clone()), &[1, 7, 9], std::slice::from_ref(&dest)).unwrap();
        let mut after = files.clone();
        for (n, b) in c.cores.iter().chain([&("seccomp.img".to_string(), c.seccomp.clone())]) {
            after.retain(|(f, _)| f != n);
            after.push((n.clone(), b.clone()));
        }
        let p = read(&mut reader(after), &[]).unwrap();
        let progs = |t: &Thread| thread_chain(&p, t).iter().map(|f| (f.prog.clone(), f.flags)).collect::<Vec<_>>();
        let t = &p.tasks[0].threads;
        assert_eq!(progs(&t[0]), vec![(STRICT.to_vec(), 2), (ALLOW_ALL.to_vec(), 0)], "on top of its own; LOG kept");
        assert_eq!(t[0].filter, t[1].filter, "threads of one chain share the added filter");
        assert_eq!(p.tasks[1].threads[0].seccomp, Mode::Filter);
        assert_eq!(progs(&p.tasks[1].threads[0]), vec![(STRICT.to_vec(), 2)]);
        assert_eq!(p.seccomp.filters.len(), 3);
        // Everything else in the core image is as it was.
        assert_eq!(p.tasks[0].threads[0].creds, docker_root());
        // Old images: the task's per-task fields moved into the thread's.
        let tc = img::encode(&[(1, Value::Varint(1)), (6, Value::Bytes(b"x")), (11, Value::Varint(0))]);
        let cm = fixtures::creds_msg(&docker_root());
        let th = img::encode(&[(1, Value::Varint(0)), (2, Value::Varint(0)), (10, Value::Bytes(&cm))]);
        let old = img::write(
            &[img::COMMON_MAGIC, CORE_MAGIC],
            &[img::encode(&[(1, Value::Varint(1)), (3, Value::Bytes(&tc)), (5, Value::Bytes(&th))])],
        );
        let files = vec![("core-1.img".to_string(), old)];
        let c = confine(&mut reader(files), &[1], &[dest]).unwrap();
        let got = core(&c.cores[0].1).unwrap();
        assert_eq!((got.seccomp, got.filter), (Mode::Filter, Some(0)));
    }

    #[test]
    fn user_namespace_maps() {
        let ext = img::encode(&[(1, Value::Varint(0)), (2, Value::Varint(100_000)), (3, Value::Varint(65_536))]);
        let e = img::encode(&[(1, Value::Bytes(&ext)), (2, Value::Bytes(&ext))]);
        let m = userns(&img::write(&[img::COMMON_MAGIC, USERNS_MAGIC], &[e])).unwrap();
        assert_eq!(m.uid, vec![Extent { first: 0, lower_first: 100_000, count: 65_536 }]);
        assert_eq!(parse_map("         0     100000      65536\n").unwrap(), m.uid);
        assert!(parse_map("0 1\n").is_err());
        assert!(is_userns_file("userns-11.img") && !is_userns_file("userns-x.img"));
    }
}
