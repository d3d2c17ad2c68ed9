//! The checkpoint store: checkpoints kept by docker-cr under one root
//! (`/var/lib/docker-cr`, `DOCKER_CR_STORE` or `--store`), so that users
//! name a container and optionally a checkpoint instead of a directory.
//!
//! ```text
//! <store>/                     0700 root
//!   <container name>/          0700, one per container (its name at checkpoint time)
//!     <checkpoint name>/       0700, a checkpoint directory (see manifest.rs)
//!   <group name>/              0700, one per group (a Compose project, --group)
//!     <checkpoint name>/       0700, a group checkpoint (see model/group.rs):
//!                              group.json and one checkpoint directory per member
//!     .<name>.partial/         a checkpoint being written (never listed)
//!     .<name>.removing-<pid>/  a checkpoint being removed (never listed)
//! ```
//!
//! A container is found by its name (the directory) or by its ID (or a
//! prefix of 4+ characters), which each manifest records. Generated names are
//! UTC timestamps, `20261128T185605.123Z`, which sort by time. A restore
//! holds a shared flock(2) on the checkpoint directory while it uses it; `rm`
//! and `prune` take it exclusively, without waiting, and skip a checkpoint in
//! use. The pure parts (names, references, newest, prune selection,
//! durations) are tested here; `ls`, `rm` and `prune` are in `catalog`.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};
use crate::model::group::{self, GroupManifest};
use crate::model::manifest::{self as mf, Manifest};

pub const DEFAULT: &str = crate::host::paths::STORE;

/// The store's root: the `--store` flag, else `DOCKER_CR_STORE`, else the default.
pub fn root(flag: Option<&Path>, env: Option<&OsStr>) -> PathBuf {
    match (flag, env) {
        (Some(f), _) => f.to_path_buf(),
        (None, Some(e)) if !e.is_empty() => PathBuf::from(e),
        _ => PathBuf::from(DEFAULT),
    }
}

/// The store of one run, its root decided once (see `root`).
#[derive(Debug, Clone, PartialEq)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }
    pub fn scan(&self) -> Result<Vec<Entry>> {
        scan(&self.root)
    }
    pub fn find(&self, container: &str, name: Option<&str>) -> Result<Entry> {
        find(&self.root, container, name)
    }
    /// A checkpoint or a group checkpoint (`find_any`).
    pub fn find_any(&self, key: &str, name: Option<&str>) -> Result<Entry> {
        find_any(&self.root, key, name)
    }
    pub fn new_path(&self, container: &str, name: Option<&str>, millis: u128) -> Result<PathBuf> {
        new_path(&self.root, container, name, millis)
    }
    pub fn path_for(&self, container: &str, name: Option<&str>, millis: u128) -> PathBuf {
        path_for(&self.root, container, name, millis)
    }
    /// A private directory for one run's temporary checkpoint (an export's,
    /// an import's, a migration's), under the store's root: on the same
    /// filesystem as the checkpoints, root-only, never listed (a dot
    /// name), removed when the `Temp` is dropped.
    pub fn temp(&self, what: &str) -> Result<Temp> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.root).at("create", &self.root)?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let parent = self.root.join(format!(".{what}-{}-{nanos}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&parent).at("create", &parent)?;
        Ok(Temp { parent })
    }
}

/// A private temporary directory (see `Store::temp`), removed when dropped.
/// The checkpoint itself goes to `path()`, which does not exist yet.
pub struct Temp {
    parent: PathBuf,
}

impl Temp {
    pub fn path(&self) -> PathBuf {
        self.parent.join("checkpoint")
    }
    /// The directory itself, for other files of the run (a staged image).
    pub fn dir(&self) -> &Path {
        &self.parent
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.parent);
    }
}

/// Where a checkpoint goes to or comes from: a directory, or the store.
#[derive(Debug, PartialEq, Clone, serde::Serialize)]
pub enum Location {
    /// A directory, as given.
    Dir(PathBuf),
    /// In the store: this name, or (None) generated / the newest.
    Store(Option<String>),
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard
/// Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn split(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let (y, mo, d) = civil((secs / 86_400) as i64);
    let t = secs % 86_400;
    (y, mo, d, t / 3600, t / 60 % 60, t % 60)
}

/// The generated name of a checkpoint taken at `millis` since the epoch.
pub fn timestamp_name(millis: u128) -> String {
    let secs = (millis / 1000) as u64;
    let (y, mo, d, h, mi, s) = split(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{:03}Z", millis % 1000)
}

/// RFC 3339 in UTC, for `created` in listings.
pub fn rfc3339(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = split(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// An age as people read it: `42s`, `5m`, `3h`, `2d`.
pub fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `DURATION` of `prune --older-than`: numbers with units s, m, h, d, w,
/// one after another (`90m`, `1h30m`, `7d`). Seconds.
pub fn parse_duration(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("invalid duration '{s}': use a number and a unit (s, m, h, d, w), e.g. 30m, 12h, 7d, 1h30m");
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        num.clear();
    }
    if !num.is_empty() || s.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// Docker's rule for container names (and volume names, and checkpoint names in the store).
pub fn valid_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_alphanumeric()) && c.all(|x| x.is_ascii_alphanumeric() || "_.-".contains(x))
}

/// What a CHECKPOINT argument of `inspect`, `rm` and `export` names.
#[derive(Debug, PartialEq, Clone, serde::Serialize)]
pub enum Ref {
    /// A checkpoint directory anywhere (the argument starts with / or .).
    Dir(PathBuf),
    /// A container's checkpoint in the store; without a name, its newest.
    Store { container: String, name: Option<String> },
}

pub fn parse_ref(s: &str) -> std::result::Result<Ref, String> {
    if s.starts_with('/') || s.starts_with('.') {
        return Ok(Ref::Dir(PathBuf::from(s)));
    }
    let (c, n) = match s.split_once('/') {
        Some((c, n)) => (c, Some(n)),
        None => (s, None),
    };
    if !valid_name(c) || n.is_some_and(|n| !valid_name(n)) {
        return Err(format!(
            "invalid checkpoint '{s}': use CONTAINER/NAME (as 'docker-cr ls -q' prints), CONTAINER for its newest, or a directory starting with / or ./"
        ));
    }
    Ok(Ref::Store { container: c.to_string(), name: n.map(str::to_string) })
}

/// One checkpoint found in the store.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The directory under the root: the container's name (a group's name).
    pub container: String,
    pub name: String,
    pub path: PathBuf,
    /// The manifest, or why it cannot be read (a group: that it is one).
    pub manifest: std::result::Result<Manifest, String>,
    /// A group checkpoint: its manifest, or why it cannot be read.
    pub group: Option<std::result::Result<GroupManifest, String>>,
    /// The manifest file's mtime in ns: orders checkpoints of one second.
    pub mtime_ns: i128,
}

impl Entry {
    pub fn created(&self) -> u64 {
        match &self.group {
            Some(g) => g.as_ref().map_or(0, |m| m.created),
            None => self.manifest.as_ref().map_or(0, |m| m.created),
        }
    }
    /// Its manifest (a group's: its group manifest) can be read.
    pub fn readable(&self) -> bool {
        match &self.group {
            Some(g) => g.is_ok(),
            None => self.manifest.is_ok(),
        }
    }
    pub fn is_group(&self) -> bool {
        self.group.is_some()
    }
    /// Which container a checkpoint is of, for `--keep` and `restore --all`.
    pub fn key(&self) -> &str {
        &self.container
    }
    /// `CONTAINER/NAME`, what `ls -q` prints and `rm` takes.
    pub fn reference(&self) -> String {
        format!("{}/{}", self.container, self.name)
    }
    /// Whether `who` (a name, or an ID prefix of 4+ characters) means this
    /// checkpoint's container.
    pub fn is_of(&self, who: &str) -> bool {
        let who = who.strip_prefix('/').unwrap_or(who);
        if let Some(g) = &self.group {
            return self.container == who || g.as_ref().is_ok_and(|m| m.name == who);
        }
        self.container == who
            || self
                .manifest
                .as_ref()
                .is_ok_and(|m| m.container.name == who || (who.len() >= 4 && m.container.id.starts_with(who)))
    }
}

/// Ordering by age: created (seconds), then the manifest's mtime, then name.
fn order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    (a.created(), a.mtime_ns, &a.name).cmp(&(b.created(), b.mtime_ns, &b.name))
}

/// Sorts oldest first.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.container.cmp(&b.container).then_with(|| order(a, b)));
}

/// The newest readable checkpoint among `entries`.
pub fn newest<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Option<&'a Entry> {
    entries.into_iter().filter(|e| e.readable()).max_by(|a, b| order(a, b))
}

/// Which checkpoints `prune` removes (indices into `entries`): those that
/// are not among the `keep` newest of their container (when `keep` is
/// given) and older than `older_than` seconds at `now` (when given). With
/// neither, nothing. Unreadable checkpoints count as the oldest.
pub fn prune_plan(entries: &[Entry], keep: Option<usize>, older_than: Option<u64>, now: u64) -> Vec<usize> {
    if keep.is_none() && older_than.is_none() {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..entries.len()).collect();
    // Newest first within each container.
    idx.sort_by(|&a, &b| entries[a].key().cmp(entries[b].key()).then_with(|| order(&entries[b], &entries[a])));
    let mut out = Vec::new();
    let mut rank = 0;
    for (i, &e) in idx.iter().enumerate() {
        if i > 0 && entries[idx[i - 1]].key() != entries[e].key() {
            rank = 0;
        }
        let beyond_keep = keep.is_none_or(|k| rank >= k);
        let old = older_than.is_none_or(|d| now.saturating_sub(entries[e].created()) > d);
        if beyond_keep && old {
            out.push(e);
        }
        rank += 1;
    }
    out.sort_unstable();
    out
}

fn mtime_ns(p: &Path) -> i128 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).map_or(0, |m| i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
}

fn visible(name: &OsStr) -> Option<String> {
    name.to_str().filter(|n| !n.starts_with('.') && valid_name(n)).map(str::to_string)
}

/// `NAME.failed` or `NAME.failed-<time>`: where a failed checkpoint keeps
/// CRIU's log (see `phases::Job::finish`). Pure.
pub fn failure_dir(name: &str) -> bool {
    name.ends_with(".failed")
        || name.rsplit_once(".failed-").is_some_and(|(_, t)| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
}

/// Every checkpoint in the store, oldest first per container. A store that
/// does not exist yet is empty.
pub fn scan(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    let top = match fs::read_dir(root) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).at("list", root),
    };
    for c in top {
        let c = c.at("list", root)?;
        let Some(container) = visible(&c.file_name()) else { continue };
        if !c.file_type().at("stat", &c.path())?.is_dir() {
            continue;
        }
        let cdir = c.path();
        for e in fs::read_dir(&cdir).at("list", &cdir)? {
            let e = e.at("list", &cdir)?;
            let Some(name) = visible(&e.file_name()) else { continue };
            if !e.file_type().at("stat", &e.path())?.is_dir() {
                continue;
            }
            let path = e.path();
            // What a failed checkpoint kept (CRIU's log): not a checkpoint.
            if failure_dir(&name) && fs::symlink_metadata(path.join(mf::MANIFEST)).is_err() {
                continue;
            }
            if fs::symlink_metadata(path.join(group::GROUP)).is_ok() {
                let g = mf::read_limited(&path, group::GROUP, mf::MAX_MANIFEST)
                    .and_then(|b| group::parse(&b.unwrap_or_default(), &path.join(group::GROUP)))
                    .map_err(|err| err.to_string());
                let what = match &g {
                    Ok(m) => format!("a group checkpoint of {} members", m.members.len()),
                    Err(why) => why.clone(),
                };
                out.push(Entry {
                    container: container.clone(),
                    name,
                    mtime_ns: mtime_ns(&path.join(group::GROUP)),
                    path,
                    manifest: Err(what),
                    group: Some(g),
                });
                continue;
            }
            let manifest = mf::read(&path).map_err(|err| err.to_string());
            out.push(Entry {
                container: container.clone(),
                name,
                mtime_ns: mtime_ns(&path.join(mf::MANIFEST)),
                path,
                manifest,
                group: None,
            });
        }
    }
    sort(&mut out);
    Ok(out)
}

/// The checkpoints of `who` (a name or an ID prefix).
pub fn of<'a>(entries: &'a [Entry], who: &str) -> Vec<&'a Entry> {
    entries.iter().filter(|e| e.is_of(who)).collect()
}

/// Finds one checkpoint: `name` of `container`, or its newest; not a
/// group's (see `find_group`).
pub fn find(root: &Path, container: &str, name: Option<&str>) -> Result<Entry> {
    let all = scan(root)?;
    let groups: Vec<&Entry> = of(&all, container).into_iter().filter(|e| e.is_group()).collect();
    if let (Some(n), Some(g)) = (name, groups.iter().find(|e| name == Some(e.name.as_str()))) {
        return Err(Error::checkpoint(
            format!(
                "{}/{n} is a group checkpoint ({})",
                container,
                g.manifest.as_ref().err().cloned().unwrap_or_default()
            ),
            format!(
                "restore it with 'docker-cr restore --group {container}/{n}' (or --project for a Compose project's)"
            ),
        ));
    }
    let has_groups = !groups.is_empty();
    let all: Vec<Entry> = all.iter().filter(|e| !e.is_group()).cloned().collect();
    let mine = of(&all, container);
    if mine.is_empty() && has_groups {
        return Err(Error::checkpoint(
            format!(
                "the store {} has group checkpoints named {container}, and no checkpoint of a container of that name",
                root.display()
            ),
            format!(
                "restore the group with 'docker-cr restore --group {container}' (or --project for a Compose project's)"
            ),
        ));
    }
    let found = match name {
        Some(n) => mine.iter().find(|e| e.name == n).copied(),
        None => newest(mine.iter().copied()),
    };
    found.cloned().ok_or_else(|| {
        let what = match name {
            Some(n) => format!("no checkpoint {n} of container {container} in the store {}", root.display()),
            None => format!("no checkpoint of container {container} in the store {}", root.display()),
        };
        let have: Vec<&str> = mine.iter().map(|e| e.name.as_str()).collect();
        let hint = if have.is_empty() {
            format!("take one with 'docker-cr checkpoint {container}', or list the store with 'docker-cr ls'")
        } else {
            format!("its checkpoints: {} (docker-cr ls {container})", have.join(", "))
        };
        Error::checkpoint(what, hint)
    })
}

/// Finds one checkpoint or group checkpoint (for inspect and export):
/// `name` of `key` (a container's or a group's name), or its newest.
pub fn find_any(root: &Path, key: &str, name: Option<&str>) -> Result<Entry> {
    let all = scan(root)?;
    let mine: Vec<&Entry> =
        all.iter().filter(|e| if e.is_group() { e.container == key } else { e.is_of(key) }).collect();
    let found = match name {
        Some(n) => mine.iter().find(|e| e.name == n).copied(),
        None => newest(mine.iter().copied()),
    };
    match found {
        Some(e) => Ok(e.clone()),
        None => find(root, key, name),
    }
}

/// Finds one group checkpoint: `name` of the group `group`, or its newest.
pub fn find_group(root: &Path, group: &str, name: Option<&str>) -> Result<Entry> {
    let all = scan(root)?;
    let mine: Vec<&Entry> = all.iter().filter(|e| e.is_group() && e.container == group).collect();
    let found = match name {
        Some(n) => mine.iter().find(|e| e.name == n).copied(),
        None => newest(mine.iter().copied()),
    };
    found.cloned().ok_or_else(|| {
        let what = match name {
            Some(n) => format!("no group checkpoint {n} of {group} in the store {}", root.display()),
            None => format!("no group checkpoint of {group} in the store {}", root.display()),
        };
        let have: Vec<&str> = mine.iter().map(|e| e.name.as_str()).collect();
        let hint = if have.is_empty() {
            format!("take one with 'docker-cr checkpoint --project {group}' (or --group), or list the store with 'docker-cr ls'")
        } else {
            format!("its checkpoints: {} (docker-cr ls {group})", have.join(", "))
        };
        Error::checkpoint(what, hint)
    })
}

/// The directory a new checkpoint of container `container` goes to, its
/// parents created 0700. `name`: the given name, else a generated one.
pub fn new_path(root: &Path, container: &str, name: Option<&str>, millis: u128) -> Result<PathBuf> {
    let cdir = root.join(container);
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&cdir).at("create", &cdir)?;
    Ok(path_for(root, container, name, millis))
}

/// `new_path` without making the container's directory (a preview).
pub fn path_for(root: &Path, container: &str, name: Option<&str>, millis: u128) -> PathBuf {
    let cdir = root.join(container);
    match name {
        Some(n) => cdir.join(n),
        None => {
            let base = timestamp_name(millis);
            // Two checkpoints in one millisecond: -2, -3 ... still sort after.
            (1..1000)
                .map(|i| if i == 1 { base.clone() } else { format!("{base}-{i}") })
                .map(|n| cdir.join(n))
                .find(|p| fs::symlink_metadata(p).is_err())
                .unwrap_or_else(|| cdir.join(format!("{base}-{}", std::process::id())))
        }
    }
}

/// Opens a checkpoint directory for flock(2).
fn open_dir(dir: &Path) -> Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW).open(dir).at("open", dir)
}

/// Held by a restore while it uses the checkpoint: `rm` and `prune` skip it.
pub fn hold_shared(dir: &Path) -> Result<fs::File> {
    // Followed if it is a link: a directory given by the user may be one.
    let f = fs::File::open(dir).map_err(|e| {
        Error::checkpoint(
            format!("cannot open checkpoint directory {}: {e}", dir.display()),
            "name the directory 'docker-cr checkpoint' wrote",
        )
    })?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(f),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Error::checkpoint(
            format!("the checkpoint {} is being removed", dir.display()),
            "choose another checkpoint (docker-cr ls)",
        )),
        Err(e) => Err(e).at("lock", dir),
    }
}

/// Removes one checkpoint of the store, unless a restore uses it: locked,
/// renamed out of sight (so nobody finds it half removed), then deleted.
/// The container's directory goes too when it is left empty.
pub fn remove(e: &Entry) -> Result<()> {
    let f = open_dir(&e.path)?;
    match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            return Err(Error::checkpoint(
                format!("the checkpoint {} is in use by a running restore; not removed", e.reference()),
                "try again when the restore is over",
            ))
        }
        Err(err) => return Err(err).at("lock", &e.path),
    }
    let parent = e.path.parent().unwrap_or(Path::new("."));
    let gone = parent.join(format!(".{}.removing-{}", e.name, std::process::id()));
    fs::rename(&e.path, &gone).at("rename", &e.path)?;
    fs::remove_dir_all(&gone).at("remove", &gone)?;
    drop(f);
    let _ = fs::remove_dir(parent);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(container: &str, name: &str, created: u64) -> Entry {
        let mut m = mf::tests_sample();
        m.created = created;
        m.container.name = container.into();
        m.container.id = format!("{container}0123456789");
        Entry {
            container: container.into(),
            name: name.into(),
            path: PathBuf::from(name),
            manifest: Ok(m),
            group: None,
            mtime_ns: 0,
        }
    }

    #[test]
    fn roots() {
        assert_eq!(root(None, None), PathBuf::from("/var/lib/docker-cr"));
        assert_eq!(root(None, Some(OsStr::new(""))), PathBuf::from("/var/lib/docker-cr"));
        assert_eq!(root(None, Some(OsStr::new("/srv/cr"))), PathBuf::from("/srv/cr"));
        assert_eq!(root(Some(Path::new("/x")), Some(OsStr::new("/srv/cr"))), PathBuf::from("/x"));
    }

    #[test]
    fn names_are_sortable_timestamps() {
        assert_eq!(timestamp_name(0), "19700101T000000.000Z");
        // 2026-11-28 18:56:05.123 UTC
        assert_eq!(timestamp_name(1_795_892_165_123), "20261128T185605.123Z");
        assert_eq!(rfc3339(1_795_892_165), "2026-11-28T18:56:05Z");
        assert_eq!(timestamp_name(951_782_400_000), "20000229T000000.000Z", "a leap day");
        let (a, b) = (timestamp_name(1_795_892_165_999), timestamp_name(1_795_892_166_000));
        assert!(a < b && valid_name(&a));
        assert_eq!(
            (age(5), age(300), age(7300), age(3 * 86_400)),
            ("5s".into(), "5m".into(), "2h".into(), "3d".into())
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        for bad in ["", "7", "d", "1x", "-1d", "1.5h", "99999999999999999999s"] {
            assert!(parse_duration(bad).unwrap_err().starts_with("invalid duration"), "{bad}");
        }
    }

    #[test]
    fn what_failed_checkpoints_keep_is_not_listed() {
        assert!(failure_dir("cp1.failed") && failure_dir("cp1.failed-1796313685"));
        assert!(!failure_dir("cp1") && !failure_dir("failed") && !failure_dir("cp1.failed-x"));
    }

    #[test]
    fn references() {
        assert_eq!(parse_ref("web"), Ok(Ref::Store { container: "web".into(), name: None }));
        assert_eq!(parse_ref("web/cp1"), Ok(Ref::Store { container: "web".into(), name: Some("cp1".into()) }));
        assert_eq!(parse_ref("/srv/cp/web"), Ok(Ref::Dir("/srv/cp/web".into())));
        assert_eq!(parse_ref("./cp"), Ok(Ref::Dir("./cp".into())));
        assert!(parse_ref("web/a/b").is_err());
        assert!(parse_ref("web/..").is_err());
        assert!(parse_ref("").is_err());
    }

    #[test]
    fn newest_and_matching() {
        let mut es = vec![entry("web", "b", 20), entry("web", "a", 30), entry("db", "z", 99)];
        es[0].mtime_ns = 5;
        assert_eq!(newest(of(&es, "web")).unwrap().name, "a");
        assert_eq!(of(&es, "web0123").len(), 2, "by ID prefix");
        assert_eq!(of(&es, "web0").len(), 2);
        assert_eq!(of(&es, "/db").len(), 1);
        assert!(of(&es, "we").is_empty());
        // Same second: the later manifest wins.
        es[1].manifest.as_mut().unwrap().created = 20;
        es[1].mtime_ns = 1;
        assert_eq!(newest(of(&es, "web")).unwrap().name, "b");
        es[0].manifest = Err("damaged".into());
        assert_eq!(newest(of(&es, "web")).unwrap().name, "a", "unreadable ones are never the newest");
        assert_eq!(es[2].reference(), "db/z");
    }

    #[test]
    fn prune_selection() {
        let es =
            vec![entry("web", "w1", 100), entry("web", "w2", 200), entry("web", "w3", 300), entry("db", "d1", 150)];
        assert!(prune_plan(&es, None, None, 1000).is_empty());
        assert_eq!(prune_plan(&es, Some(1), None, 1000), vec![0, 1]);
        assert_eq!(prune_plan(&es, Some(0), None, 1000), vec![0, 1, 2, 3]);
        assert_eq!(prune_plan(&es, Some(5), None, 1000), Vec::<usize>::new());
        // Older than 750 s at t=1000: created before 250.
        assert_eq!(prune_plan(&es, None, Some(750), 1000), vec![0, 1, 3]);
        // Both: beyond the newest of each container and old.
        assert_eq!(prune_plan(&es, Some(1), Some(750), 1000), vec![0, 1]);
        assert_eq!(prune_plan(&es, Some(2), Some(850), 1000), vec![0]);
    }
}
