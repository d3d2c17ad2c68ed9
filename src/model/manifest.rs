//! The checkpoint directory: its layout (names as constants) and the
//! versioned `manifest.json` that says what is in it and where it came from.
//!
//! ```text
//! <checkpoint-dir>/            0700
//!   manifest.json              this file's `Manifest`
//!   container.json             GET /containers/<id>/json at checkpoint time
//!   spec.json                  the OCI runtime spec the container ran with
//!   criu-dump.conf             the config `criu dump` ran with
//!   criu-dump.log              CRIU's log of the dump
//!   checkpoint/                CRIU's images, plus runc's descriptors.json
//!   rootfs-diff.tar            the container's file changes (overlay upper dir)
//!   criu-restore.log           written when a restore failed
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

pub const MANIFEST: &str = "manifest.json";
pub const CONTAINER: &str = "container.json";
pub const SPEC: &str = "spec.json";
pub const DUMP_CONF: &str = "criu-dump.conf";
pub const DUMP_LOG: &str = "criu-dump.log";
pub const IMAGES: &str = "checkpoint";
pub const DESCRIPTORS: &str = "descriptors.json";
pub const ROOTFS_DIFF: &str = "rootfs-diff.tar";
pub const RESTORE_LOG: &str = "criu-restore.log";

/// Bumped whenever a reader of the old format would get it wrong. Format 1
/// had xxHash64 sums only (such checkpoints are unsigned), format 2 SHA-256,
/// format 3 BLAKE3 (about four times as fast here: the digests of every
/// page are on the checkpoint's and the restore's critical path). All
/// three are read; format 3 is written.
pub const FORMAT: u32 = 3;
/// The largest manifest accepted: a checkpoint's list of files is a few
/// KiB; a larger one is not a manifest.
pub const MAX_MANIFEST: u64 = 16 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub tool: String,
    pub created: u64,
    pub container: Source,
    pub host: Host,
    pub options: DumpOptions,
    pub timings_ms: Timings,
    pub sizes: Sizes,
    /// Every file of the checkpoint but this manifest, by relative path.
    pub files: BTreeMap<String, FileSum>,
}

/// A file's size and digest, collision resistant so that the signature of
/// the manifest covers the file: BLAKE3 (format 3) or SHA-256 (format 2) of
/// the whole file up to `CHUNK` bytes, else of each `CHUNK`-sized piece, in
/// order, so that large page images are hashed on every core. Format 1
/// manifests carry an xxHash64 instead.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FileSum {
    pub size: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub blake3: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blake3_chunks: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sha256_chunks: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub xxh64: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub image: String,
    pub init_pid: i32,
    pub paused: bool,
    /// The container's address on each network at checkpoint time.
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Host {
    pub criu: String,
    pub kernel: String,
    pub arch: String,
    pub cgroup: u32,
    pub storage_driver: String,
    pub docker: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DumpOptions {
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub file_locks: bool,
    pub stopped: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub total: u64,
    /// How long the container's processes were frozen.
    pub frozen: u64,
    pub criu_dump: u64,
    pub rootfs: u64,
    pub checksums: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sizes {
    pub images_bytes: u64,
    pub pages_bytes: u64,
    pub rootfs_diff_bytes: u64,
    pub rootfs_files: u64,
    pub rootfs_deleted: u64,
}

/// Which digest a sum carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Digest {
    /// Format 3.
    Blake3,
    /// Format 2.
    Sha256,
    /// Format 1 only: whole files, no pieces.
    Xxh64,
}

/// The digest this docker-cr writes (format `FORMAT`).
pub const WRITTEN: Digest = Digest::Blake3;

impl Digest {
    /// The digest a manifest of `format` carries (`parse` has refused the
    /// formats it does not know).
    pub fn of_format(format: u32) -> Digest {
        match format {
            1 => Digest::Xxh64,
            2 => Digest::Sha256,
            _ => Digest::Blake3,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Digest::Blake3 => "BLAKE3",
            Digest::Sha256 => "SHA-256",
            Digest::Xxh64 => "xxHash64",
        }
    }
}

impl FileSum {
    /// The whole-file digest and the pieces' digests of `kind`.
    fn of_kind(&self, kind: Digest) -> (&str, &[String]) {
        match kind {
            Digest::Blake3 => (&self.blake3, &self.blake3_chunks),
            Digest::Sha256 => (&self.sha256, &self.sha256_chunks),
            Digest::Xxh64 => (&self.xxh64, &[]),
        }
    }

    /// The digest it carries, whichever that is: its kind, the whole-file
    /// digest and the pieces' digests (one of the two empty).
    pub fn digests(&self) -> (Digest, &str, &[String]) {
        let kind = if !self.blake3.is_empty() || !self.blake3_chunks.is_empty() {
            Digest::Blake3
        } else if !self.sha256.is_empty() || !self.sha256_chunks.is_empty() {
            Digest::Sha256
        } else {
            Digest::Xxh64
        };
        let (whole, pieces) = self.of_kind(kind);
        (kind, whole, pieces)
    }

    /// A sum of `kind` from its digests: the whole file's or its pieces'.
    fn with(kind: Digest, size: u64, whole: String, pieces: Vec<String>) -> FileSum {
        match kind {
            Digest::Blake3 => FileSum { size, blake3: whole, blake3_chunks: pieces, ..FileSum::default() },
            Digest::Sha256 => FileSum { size, sha256: whole, sha256_chunks: pieces, ..FileSum::default() },
            Digest::Xxh64 => FileSum { size, xxh64: whole, ..FileSum::default() },
        }
    }
}

/// An incremental digest of one of the three kinds.
#[derive(Clone)]
enum Hasher {
    // Boxed: BLAKE3's state is 1.9 KiB, the others a few words.
    Blake3(Box<blake3::Hasher>),
    Sha256(sha2::Sha256),
    Xxh64(crate::model::xxh64::Xxh64),
}

impl Hasher {
    fn new(kind: Digest) -> Hasher {
        use sha2::Digest as _;
        match kind {
            Digest::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            Digest::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Digest::Xxh64 => Hasher::Xxh64(Default::default()),
        }
    }

    fn kind(&self) -> Digest {
        match self {
            Hasher::Blake3(_) => Digest::Blake3,
            Hasher::Sha256(_) => Digest::Sha256,
            Hasher::Xxh64(_) => Digest::Xxh64,
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Blake3(h) => {
                h.update(b);
            }
            Hasher::Sha256(h) => sha2::Digest::update(h, b),
            Hasher::Xxh64(h) => h.update(b),
        }
    }

    /// The digest in hex.
    fn finish(self) -> String {
        match self {
            Hasher::Blake3(h) => h.finalize().to_hex().to_string(),
            Hasher::Sha256(h) => crate::model::trust::hex(&sha2::Digest::finalize(h)),
            Hasher::Xxh64(h) => format!("{:016x}", h.finish()),
        }
    }

    /// The digest in hex, and the hasher started again.
    fn take(&mut self) -> String {
        std::mem::replace(self, Hasher::new(self.kind())).finish()
    }
}

/// Reads `f` (opened as `path`) to the end and sums it as one piece
/// (format 1's sums, and the whole-file SHA-256 of an archive's volumes).
pub fn sum_reader(mut f: impl Read, path: &Path, kind: Digest) -> Result<FileSum> {
    let mut h = Hasher::new(kind);
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).at("read", path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok(FileSum::with(kind, size, h.finish(), Vec::new()))
}

/// The piece size of `FileSum::blake3_chunks` and `sha256_chunks`.
pub const CHUNK: u64 = 16 << 20;

/// The digests a file of `size` bytes gets: one piece, or one per CHUNK.
fn pieces(size: u64) -> u64 {
    size.div_ceil(CHUNK).max(1)
}

/// One piece of one file to hash.
struct Piece {
    file: usize,
    off: u64,
    len: u64,
}

/// The read buffer of the hashing loops: small enough to stay in the
/// core's L2 cache between the copy out of the page cache and the hash.
const HASH_BUF: usize = 256 << 10;

/// The `kind` digest of `len` bytes of `f` from `off` (hex), read into
/// `buf`: a file that ends before is an error (`UnexpectedEof`), not a
/// shorter digest.
pub fn range_digest(kind: Digest, f: &fs::File, off: u64, len: u64, buf: &mut [u8]) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let mut h = Hasher::new(kind);
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = f.read_at(&mut buf[..want], off + done)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        h.update(&buf[..n]);
        done += n as u64;
    }
    Ok(h.finish())
}

/// The `kind` FileSum of a file of `size` bytes from the digests of its
/// pieces, in order (see `FileSum`). Pure.
pub fn assemble(kind: Digest, size: u64, mut digests: Vec<String>) -> FileSum {
    if pieces(size) == 1 {
        FileSum::with(kind, size, digests.pop().unwrap_or_default(), Vec::new())
    } else {
        FileSum::with(kind, size, String::new(), digests)
    }
}

/// The manifest's digest of bytes as they pass (a file being written or
/// unpacked), equal to what `sum_file` reads back later: the `WRITTEN`
/// digest of each `CHUNK`-sized piece.
#[derive(Clone)]
pub struct Summer {
    piece: Hasher,
    in_piece: u64,
    size: u64,
    done: Vec<String>,
}

impl Default for Summer {
    fn default() -> Summer {
        Summer { piece: Hasher::new(WRITTEN), in_piece: 0, size: 0, done: Vec::new() }
    }
}

impl Summer {
    pub fn update(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            let n = ((CHUNK - self.in_piece) as usize).min(b.len());
            self.piece.update(&b[..n]);
            self.in_piece += n as u64;
            self.size += n as u64;
            b = &b[n..];
            if self.in_piece == CHUNK {
                self.done.push(self.piece.take());
                self.in_piece = 0;
            }
        }
    }

    pub fn finish(mut self) -> FileSum {
        let kind = self.piece.kind();
        if self.in_piece > 0 || self.done.is_empty() {
            self.done.push(self.piece.finish());
        }
        assemble(kind, self.size, self.done)
    }
}

/// A file's sum that this process computed as it wrote or followed the
/// file, for that file only: its device, inode, change time and size must
/// still be the ones seen once it was complete, or the file is read again.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownSum {
    pub dev: u64,
    pub ino: u64,
    /// st_ctime in nanoseconds: any write or new name changes it.
    pub ctime_ns: i128,
    pub sum: FileSum,
}

impl KnownSum {
    /// The sum `sum` of the complete file `md` describes.
    pub fn of(md: &fs::Metadata, sum: FileSum) -> KnownSum {
        use std::os::unix::fs::MetadataExt;
        KnownSum { dev: md.dev(), ino: md.ino(), ctime_ns: ctime_ns(md), sum }
    }
}

fn ctime_ns(md: &fs::Metadata) -> i128 {
    use std::os::unix::fs::MetadataExt;
    md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128
}

/// Known sums by path relative to the checkpoint directory.
pub type Known = BTreeMap<String, KnownSum>;

/// The known sum of `name` if it is still about the file `md` describes.
fn known_for<'a>(known: &'a Known, name: &str, md: &fs::Metadata) -> Option<&'a FileSum> {
    use std::os::unix::fs::MetadataExt;
    known
        .get(name)
        .filter(|k| k.dev == md.dev() && k.ino == md.ino() && k.ctime_ns == ctime_ns(md) && k.sum.size == md.len())
        .map(|k| &k.sum)
}

/// A file to finish summing: its path relative to the directory, its
/// size, and the digests of its first pieces, already known.
pub struct Partial {
    pub rel: PathBuf,
    pub size: u64,
    pub done: Vec<String>,
}

/// The `kind` digest of every piece of `files` not yet known, on as many
/// threads as there are cores (up to 4), each file opened beneath `root`
/// (the directory `dir`) without following links; stops early, with an
/// error, once `stop` is set. Returns the FileSums in order.
pub fn sum_rest(
    kind: Digest,
    root: &fs::File,
    dir: &Path,
    files: Vec<Partial>,
    stop: &AtomicBool,
) -> Result<Vec<FileSum>> {
    let mut work = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for k in (f.done.len() as u64)..pieces(f.size) {
            work.push(Piece { file: i, off: k * CHUNK, len: CHUNK.min(f.size.saturating_sub(k * CHUNK)) });
        }
    }
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4).min(work.len().max(1));
    let hash_some = || -> Result<Vec<(usize, String)>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; HASH_BUF];
        let mut open: Option<(usize, fs::File)> = None;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(Error::checkpoint("the digests were not finished: stopped", ""));
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(p) = work.get(i) else { return Ok(out) };
            let rel = &files[p.file].rel;
            let path = dir.join(rel);
            // Pieces come in file order: one open per file and thread.
            let f = match open.take() {
                Some((n, f)) if n == p.file => f,
                _ => open_beneath(root, rel).at("open", &path)?,
            };
            let d = range_digest(kind, &f, p.off, p.len, &mut buf).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::checkpoint(
                    format!("{} became shorter while it was read", path.display()),
                    "something else is changing the checkpoint; try again when nothing does",
                ),
                _ => Error::Io { op: "read", path: path.clone(), source: e },
            })?;
            out.push((i, d));
            open = Some((p.file, f));
        }
    };
    let mut digests = vec![String::new(); work.len()];
    let results: Vec<Result<Vec<(usize, String)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(hash_some)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::engine("a hashing thread failed", None))))
            .collect()
    });
    for r in results {
        for (i, d) in r? {
            digests[i] = d;
        }
    }
    let mut got: Vec<Vec<String>> = vec![Vec::new(); files.len()];
    for (p, d) in work.iter().zip(digests) {
        got[p.file].push(d);
    }
    Ok(files
        .into_iter()
        .zip(got)
        .map(|(f, more)| {
            let mut all = f.done;
            all.extend(more);
            assemble(kind, f.size, all)
        })
        .collect())
}

/// The `kind` digest of every piece of `files` (paths relative to `root`,
/// with their sizes). Returns the FileSums in order.
fn sum_files(kind: Digest, root: &fs::File, dir: &Path, files: &[(PathBuf, u64)]) -> Result<Vec<FileSum>> {
    let files = files.iter().map(|(rel, size)| Partial { rel: rel.clone(), size: *size, done: Vec::new() }).collect();
    sum_rest(kind, root, dir, files, &AtomicBool::new(false))
}

/// The FileSum of one file, as a manifest of this docker-cr records it.
pub fn sum_file(path: &Path) -> Result<FileSum> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = PathBuf::from(path.file_name().unwrap_or_default());
    let root = fs::File::open(dir).at("open", dir)?;
    let size = fs::symlink_metadata(path).at("stat", path)?.len();
    Ok(sum_files(WRITTEN, &root, dir, &[(name, size)])?.remove(0))
}

/// Sums every regular file under `dir` except the manifest.
pub fn sum_dir(dir: &Path) -> Result<BTreeMap<String, FileSum>> {
    sum_dir_known(dir, &Known::new())
}

/// `sum_dir`, taking the sums in `known` for the files they are about
/// (the page images hashed while CRIU wrote them) instead of reading
/// those files again.
pub fn sum_dir_known(dir: &Path, known: &Known) -> Result<BTreeMap<String, FileSum>> {
    let mut files = Vec::new();
    let mut have = BTreeMap::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let d = dir.join(&rel);
        for e in fs::read_dir(&d).at("list", &d)? {
            let e = e.at("list", &d)?;
            let r = rel.join(e.file_name());
            let ft = e.file_type().at("stat", &e.path())?;
            if ft.is_dir() {
                todo.push(r);
            } else if ft.is_file() && r != Path::new(MANIFEST) {
                let md = e.metadata().at("stat", &e.path())?;
                let name = r.to_string_lossy().into_owned();
                match known_for(known, &name, &md) {
                    Some(sum) => {
                        have.insert(name, sum.clone());
                    }
                    None => files.push((r, md.len())),
                }
            }
        }
    }
    let root = fs::File::open(dir).at("open", dir)?;
    let sums = sum_files(WRITTEN, &root, dir, &files)?;
    have.extend(files.into_iter().map(|(r, _)| r.to_string_lossy().into_owned()).zip(sums));
    Ok(have)
}

/// Opens `rel` inside the directory `dir` without following any symlink,
/// and without leaving `dir` (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
/// as runc's securejoin and crun do): a checkpoint's paths are untrusted.
pub fn open_beneath(dir: &fs::File, rel: &Path) -> std::io::Result<fs::File> {
    crate::host::fs::open_beneath(dir, rel)
}

/// Who may change a checkpoint after it was verified and before it is used:
/// root only, or the verification proves nothing. Refuses a file or
/// directory owned by another user or writable by group or others (a
/// directory with the sticky bit, such as /tmp, is fine: others cannot move
/// root's entries in it). Pure.
pub fn only_root_can_change(md: &std::fs::Metadata) -> std::result::Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if md.uid() != 0 {
        return Err(format!("is owned by uid {}, not root", md.uid()));
    }
    let sticky_dir = md.is_dir() && md.mode() & 0o1000 != 0;
    if md.mode() & 0o022 != 0 && !sticky_dir {
        return Err(format!(
            "is writable by {} (mode {:o})",
            if md.mode() & 0o002 != 0 { "others" } else { "its group" },
            md.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Checks that nobody but root can change the checkpoint at `dir`: the
/// directory, each of its ancestors, and `checkpoint/`.
pub fn check_owner(dir: &Path) -> Result<()> {
    let abs = fs::canonicalize(dir).at("resolve", dir)?;
    let mut cur = Some(abs.as_path());
    while let Some(p) = cur {
        let md = fs::metadata(p).at("stat", p)?;
        if let Err(why) = only_root_can_change(&md) {
            return Err(Error::checkpoint(
                format!(
                    "{} {why}: someone else could change the checkpoint {} between its verification and its use",
                    p.display(),
                    dir.display()
                ),
                format!("keep checkpoints where only root can write: chown root {} and chmod go-w it", p.display()),
            ));
        }
        cur = p.parent();
    }
    Ok(())
}

/// Checks every listed file before anything is restored: sizes first (cheap,
/// catches truncation at once), then digests, each file read through one
/// descriptor opened beneath `dir` without following links. Returns the
/// bytes verified. Format 1 manifests are checked with xxHash64 (damage
/// only; they are never signed).
pub fn verify(dir: &Path, m: &Manifest) -> Result<u64> {
    verify_begin(dir, m, &Known::new(), false)?.wait()
}

/// Whether `name` (relative to the checkpoint) is a page image: memory
/// that docker-cr never parses (CRIU does, in part: it must get it verified).
pub fn is_page_image(name: &str) -> bool {
    name.strip_prefix(IMAGES)
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|f| f.starts_with("pages-") && f.ends_with(".img") && !f.contains('/'))
}

/// A verification under way: the page images still being hashed on
/// other threads (`verify_begin`), the rest already checked.
pub struct Verifying {
    dir: PathBuf,
    bytes: u64,
    started: std::time::Instant,
    stop: std::sync::Arc<AtomicBool>,
    #[allow(clippy::type_complexity)]
    pending: std::sync::Mutex<Option<std::thread::JoinHandle<(Result<()>, std::time::Instant)>>>,
    result: std::sync::Mutex<Option<std::result::Result<(u64, u64), String>>>,
}

impl Verifying {
    /// Some page images are still being hashed.
    pub fn pending(&self) -> bool {
        self.pending.lock().map(|p| p.as_ref().is_some_and(|h| !h.is_finished())).unwrap_or(false)
    }

    /// Waits for the page images; the bytes verified, or the first
    /// mismatch (every call says the same).
    pub fn wait(&self) -> Result<u64> {
        self.wait_timed().map(|(b, _)| b)
    }

    /// `wait`, with the milliseconds from the start of the verification to
    /// its end.
    pub fn wait_timed(&self) -> Result<(u64, u64)> {
        let handle = self.pending.lock().ok().and_then(|mut p| p.take());
        let mut result = self.result.lock().map_err(|_| Error::engine("a verification thread failed", None))?;
        if result.is_none() {
            let ms = |end: std::time::Instant| end.duration_since(self.started).as_millis() as u64;
            *result = Some(match handle.map(|h| h.join()) {
                None => Ok((self.bytes, 0)),
                Some(Ok((Ok(()), end))) => Ok((self.bytes, ms(end))),
                Some(Ok((Err(e), _))) => Err(e.to_string()),
                Some(Err(_)) => Err("a hashing thread failed".into()),
            });
        }
        match result.as_ref() {
            Some(Ok(r)) => Ok(*r),
            Some(Err(e)) => Err(Error::checkpoint(
                e.clone(),
                format!(
                    "the checkpoint {} is damaged (truncated or corrupted copy?) or was changed; \
                     what the restore had made was undone. Copy it again from its source",
                    self.dir.display()
                ),
            )),
            None => Err(Error::engine("a verification thread failed", None)),
        }
    }
}

impl Drop for Verifying {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.pending.get_mut().ok().and_then(|p| p.take()) {
            let _ = h.join();
        }
    }
}

/// The first of `files` (name, path, wanted sum) whose sum in `got` differs.
fn check_sums(dir: &Path, got: Vec<FileSum>, files: &[(String, PathBuf, FileSum)]) -> std::result::Result<(), String> {
    for ((name, _, want), got) in files.iter().zip(got) {
        if got.size != want.size
            || got.blake3 != want.blake3
            || got.blake3_chunks != want.blake3_chunks
            || got.sha256 != want.sha256
            || got.sha256_chunks != want.sha256_chunks
            || got.xxh64 != want.xxh64
        {
            return Err(format!("{}: {name} does not match its digest", dir.display()));
        }
    }
    Ok(())
}

/// `verify`, in two parts: everything but the page images is checked
/// before it returns (sizes, owners, links, and the digests of every file
/// docker-cr parses); with `defer_pages`, the page images are hashed on
/// other threads meanwhile, and `Verifying::wait` tells how that ended
/// (the restore creates the container and applies its files meanwhile, and
/// waits before the engine's start, which has CRIU read them). A file in
/// `known` (summed as this process wrote it) is compared without being
/// read again.
pub fn verify_begin(dir: &Path, m: &Manifest, known: &Known, defer_pages: bool) -> Result<Verifying> {
    let started = std::time::Instant::now();
    let damaged = |name: &str, why: String| {
        Error::checkpoint(
            format!("{}: {name} {why}", dir.display()),
            "the checkpoint is damaged (truncated or corrupted copy?) or was changed; nothing was changed here. Copy it again from its source",
        )
    };
    let kind = Digest::of_format(m.format);
    let root = fs::File::open(dir).at("open", dir)?;
    let mut now = Vec::with_capacity(m.files.len());
    let mut later = Vec::new();
    let mut bytes = 0;
    for (name, want) in &m.files {
        let rel = crate::model::rootfs::safe_relative(Path::new(name))
            .filter(|r| r.as_os_str() == std::ffi::OsStr::new(name))
            .ok_or_else(|| damaged(name, "is not a plain path inside the checkpoint (hand-edited manifest?)".into()))?;
        let f = open_beneath(&root, &rel).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => damaged(name, "is missing".into()),
            Some(libc::ELOOP) | Some(libc::EXDEV) => damaged(name, "is reached through a symbolic link".into()),
            _ => damaged(name, format!("cannot be opened: {e}")),
        })?;
        let md = f.metadata().at("stat", &dir.join(&rel))?;
        if !md.is_file() {
            return Err(damaged(name, "is not a regular file".into()));
        }
        only_root_can_change(&md).map_err(|why| damaged(name, why))?;
        if md.len() != want.size {
            return Err(damaged(name, format!("has {} bytes; the manifest says {}", md.len(), want.size)));
        }
        let (whole, chunks) = want.of_kind(kind);
        let has = match kind {
            Digest::Xxh64 => !whole.is_empty(),
            _ if pieces(want.size) == 1 => !whole.is_empty() && chunks.is_empty(),
            _ => whole.is_empty() && chunks.len() as u64 == pieces(want.size),
        };
        if !has {
            return Err(damaged(name, "has no digest (or not the right number) in the manifest".into()));
        }
        bytes += want.size;
        // Known sums are this docker-cr's own digest.
        if kind == WRITTEN {
            if let Some(sum) = known_for(known, name, &md) {
                if sum != want {
                    return Err(damaged(name, "does not match its digest".into()));
                }
                continue;
            }
        }
        // Closed again: a checkpoint may have more files than we may keep
        // open. Only root can change them (checked above), and each is
        // opened the same way again to be read.
        if defer_pages && kind != Digest::Xxh64 && is_page_image(name) {
            later.push((name.clone(), rel, want.clone()));
        } else {
            now.push((name.clone(), rel, want.clone()));
        }
    }
    let got: Vec<FileSum> = match kind {
        Digest::Blake3 | Digest::Sha256 => {
            let files: Vec<(PathBuf, u64)> = now.iter().map(|(_, rel, w)| (rel.clone(), w.size)).collect();
            sum_files(kind, &root, dir, &files)?
        }
        Digest::Xxh64 => now
            .iter()
            .map(|(_, rel, _)| {
                let p = dir.join(rel);
                sum_reader(open_beneath(&root, rel).at("open", &p)?, &p, Digest::Xxh64)
            })
            .collect::<Result<_>>()?,
    };
    if let Err(why) = check_sums(dir, got, &now) {
        return Err(Error::checkpoint(
            why,
            "the checkpoint is damaged (truncated or corrupted copy?) or was changed; nothing was changed here. Copy it again from its source",
        ));
    }
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let pending = if later.is_empty() {
        None
    } else {
        let (stop, dir) = (stop.clone(), dir.to_path_buf());
        let root = root.try_clone().at("open", &dir)?;
        Some(std::thread::spawn(move || {
            let files = later.iter().map(|(_, rel, w)| Partial { rel: rel.clone(), size: w.size, done: Vec::new() });
            let r = sum_rest(kind, &root, &dir, files.collect(), &stop)
                .and_then(|got| check_sums(&dir, got, &later).map_err(|why| Error::checkpoint(why, "")));
            (r, std::time::Instant::now())
        }))
    };
    Ok(Verifying {
        dir: dir.to_path_buf(),
        bytes,
        started,
        stop,
        pending: std::sync::Mutex::new(pending),
        result: std::sync::Mutex::new(None),
    })
}

pub fn to_json(m: &Manifest) -> String {
    let mut s = serde_json::to_string_pretty(m).unwrap_or_default();
    s.push('\n');
    s
}

/// Parses and checks a manifest read from `path` (for the error message).
pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::checkpoint(
            format!("{} is not valid JSON: {e}", path.display()),
            "the checkpoint is damaged or was not written by docker-cr",
        )
    })?;
    let format = v.get("format").and_then(|f| f.as_u64()).ok_or_else(|| {
        Error::checkpoint(format!("{} has no format version", path.display()), "it was not written by docker-cr")
    })?;
    if !(1..=FORMAT as u64).contains(&format) {
        return Err(Error::checkpoint(
            format!("{} has format {format}; this docker-cr reads formats 1 to {FORMAT}", path.display()),
            "restore it with the docker-cr version that wrote it (see \"tool\" in the manifest)",
        ));
    }
    serde_json::from_value(v)
        .map_err(|e| Error::checkpoint(format!("{} is incomplete: {e}", path.display()), "the checkpoint is damaged"))
}

/// Reads at most `max` bytes of the file `name` in `dir` (opened beneath
/// it, no links followed); a larger file is refused, not truncated.
pub fn read_limited(dir: &Path, name: &str, max: u64) -> Result<Option<Vec<u8>>> {
    let root = fs::File::open(dir).at("open", dir)?;
    let f = match open_beneath(&root, Path::new(name)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::EXDEV)) => {
            return Err(Error::checkpoint(
                format!("{}: {name} is a symbolic link", dir.display()),
                "the checkpoint was not written by docker-cr or was tampered with",
            ))
        }
        Err(e) => return Err(e).at("open", &dir.join(name)),
    };
    let md = f.metadata().at("stat", &dir.join(name))?;
    if !md.is_file() {
        return Err(Error::checkpoint(
            format!("{}: {name} is not a regular file", dir.display()),
            "the checkpoint is damaged",
        ));
    }
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf).at("read", &dir.join(name))?;
    if buf.len() as u64 > max {
        return Err(Error::checkpoint(
            format!("{}: {name} is larger than {} MiB, which no checkpoint of docker-cr has", dir.display(), max >> 20),
            "the checkpoint was not written by docker-cr or was tampered with",
        ));
    }
    Ok(Some(buf))
}

/// The manifest's bytes (what a signature covers), or a clear error.
pub fn read_bytes(dir: &Path) -> Result<Vec<u8>> {
    read_limited(dir, MANIFEST, MAX_MANIFEST)?.ok_or_else(|| {
        Error::checkpoint(
            format!("{} is not a docker-cr checkpoint: it has no {MANIFEST}", dir.display()),
            "name the directory 'docker-cr checkpoint' wrote",
        )
    })
}

pub fn parse_bytes(bytes: &[u8], path: &Path) -> Result<Manifest> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::checkpoint(format!("{} is not UTF-8", path.display()), "the checkpoint is damaged"))?;
    parse(text, path)
}

pub fn read(dir: &Path) -> Result<Manifest> {
    parse_bytes(&read_bytes(dir)?, &dir.join(MANIFEST))
}

/// A manifest for other modules' tests.
/// Creates `partial` (0700): where the checkpoint directory `dest` is built
/// before `rename_noreplace` makes it appear. One that exists means another
/// `what` ("checkpoint", "import") to `dest` runs, or one was interrupted.
pub fn create_partial(partial: &Path, dest: &Path, what: &str) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(partial).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::checkpoint(
                format!(
                    "{} exists: another {what} to {} is running, or one was interrupted",
                    partial.display(),
                    dest.display()
                ),
                format!("if no docker-cr is running, remove {}", partial.display()),
            )
        } else {
            Error::Io { op: "create", path: partial.to_path_buf(), source: e }
        }
    })
}

/// `rename(from, to)` that fails rather than replace anything at `to`
/// (renameat2 RENAME_NOREPLACE): a plain rename silently replaces an empty
/// directory someone created there meanwhile.
pub fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    rustix::fs::renameat_with(rustix::fs::CWD, from, rustix::fs::CWD, to, rustix::fs::RenameFlags::NOREPLACE).map_err(
        |e| {
            if e == rustix::io::Errno::EXIST {
                Error::checkpoint(
                    format!("{} appeared while the checkpoint was being taken", to.display()),
                    "docker-cr never overwrites a checkpoint; the new one was not kept under that name",
                )
            } else {
                Error::Io { op: "rename into place", path: to.to_path_buf(), source: e.into() }
            }
        },
    )
}

#[cfg(test)]
pub fn tests_sample() -> Manifest {
    tests::sample()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> Manifest {
        Manifest {
            format: FORMAT,
            tool: "docker-cr 0.1.0".into(),
            created: 1_800_000_000,
            container: Source {
                id: "abc".into(),
                name: "web".into(),
                image: "sha256:1".into(),
                init_pid: 42,
                paused: false,
                addresses: vec!["172.17.0.2".into()],
            },
            host: Host {
                criu: "4.2.1".into(),
                kernel: "6.18.44".into(),
                arch: "x86_64".into(),
                cgroup: 1,
                storage_driver: "overlay2".into(),
                docker: "20.10.24".into(),
            },
            options: DumpOptions { tcp_established: true, ext_unix_sk: true, file_locks: true, stopped: false },
            timings_ms: Timings { total: 300, frozen: 200, criu_dump: 150, rootfs: 5, checksums: 1 },
            sizes: Sizes::default(),
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(parse(&to_json(&m), Path::new("m")).unwrap(), m);
    }

    #[test]
    fn unknown_format_and_damage_are_refused() {
        let p = Path::new("/cp/manifest.json");
        let mut v: serde_json::Value = serde_json::from_str(&to_json(&sample())).unwrap();
        v["format"] = 99.into();
        let e = parse(&v.to_string(), p).unwrap_err();
        assert!(e.to_string().contains("format 99"), "{e}");
        assert_eq!(e.exit_code(), 5);
        assert!(parse("{\"format\": 1", p).unwrap_err().to_string().contains("not valid JSON"));
        assert!(parse("{\"format\": 1}", p).unwrap_err().to_string().contains("incomplete"));
        assert!(parse("[]", p).unwrap_err().to_string().contains("no format"));
    }

    #[test]
    fn large_files_are_hashed_by_pieces() {
        let d = std::env::temp_dir().join(format!("docker-cr-pieces-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let mut data: Vec<u8> = (0..(2 * CHUNK + 5)).map(|i| (i % 251) as u8).collect();
        fs::write(d.join("pages-1.img"), &data).unwrap();
        fs::write(d.join("small"), b"abc").unwrap();
        let mut m = sample();
        m.files = sum_dir(&d).unwrap();
        let big = &m.files["pages-1.img"];
        assert_eq!((big.blake3.as_str(), big.blake3_chunks.len(), big.sha256.as_str()), ("", 3, ""));
        assert_eq!(big.blake3_chunks[2], blake3::hash(&data[2 * CHUNK as usize..]).to_hex().as_str());
        // The published test vector of BLAKE3("abc").
        assert_eq!(m.files["small"].blake3, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
        assert_eq!(verify(&d, &m).unwrap(), 2 * CHUNK + 5 + 3);
        // A format 2 manifest (SHA-256 pieces) is read as before.
        let mut old = m.clone();
        old.format = 2;
        let root = fs::File::open(&d).unwrap();
        let names: Vec<(PathBuf, u64)> = old.files.iter().map(|(n, f)| (PathBuf::from(n), f.size)).collect();
        for ((_, sum), got) in old.files.iter_mut().zip(sum_files(Digest::Sha256, &root, &d, &names).unwrap()) {
            *sum = got;
        }
        use sha2::Digest as _;
        let big = &old.files["pages-1.img"];
        assert_eq!(big.sha256_chunks[2], crate::model::trust::hex(&sha2::Sha256::digest(&data[2 * CHUNK as usize..])));
        assert_eq!(old.files["small"].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(verify(&d, &old).unwrap(), 2 * CHUNK + 5 + 3);
        // Each format is checked with its own digest only.
        let mut mixed = m.clone();
        mixed.format = 2;
        assert!(verify(&d, &mixed).unwrap_err().to_string().contains("has no digest"));
        old.format = 3;
        assert!(verify(&d, &old).unwrap_err().to_string().contains("has no digest"));
        data[CHUNK as usize + 7] ^= 1;
        fs::write(d.join("pages-1.img"), &data).unwrap();
        assert!(verify(&d, &m).unwrap_err().to_string().contains("pages-1.img does not match its digest"));
        // A manifest that drops a piece is refused, not half checked.
        let mut short = m.clone();
        short.files.get_mut("pages-1.img").unwrap().blake3_chunks.pop();
        assert!(verify(&d, &short).unwrap_err().to_string().contains("not the right number"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn verify_names_the_damaged_file() {
        let d = std::env::temp_dir().join(format!("docker-cr-verify-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("checkpoint")).unwrap();
        fs::write(d.join("checkpoint/pages-1.img"), vec![7u8; 100_000]).unwrap();
        fs::write(d.join("container.json"), "{}").unwrap();
        fs::write(d.join(MANIFEST), "ignored").unwrap();
        let mut files = sample();
        files.files = sum_dir(&d).unwrap();
        assert_eq!(files.files.keys().collect::<Vec<_>>(), vec!["checkpoint/pages-1.img", "container.json"]);
        assert_eq!(files.files["container.json"].blake3, blake3::hash(b"{}").to_hex().as_str());
        assert_eq!(verify(&d, &files).unwrap(), 100_002);
        // Truncated: named, by size.
        fs::write(d.join("checkpoint/pages-1.img"), vec![7u8; 4096]).unwrap();
        let e = verify(&d, &files).unwrap_err().to_string();
        assert!(e.contains("checkpoint/pages-1.img has 4096 bytes; the manifest says 100000"), "{e}");
        // Same size, other bytes: named, by digest.
        let mut data = vec![7u8; 100_000];
        data[50_000] = 8;
        fs::write(d.join("checkpoint/pages-1.img"), &data).unwrap();
        assert!(verify(&d, &files).unwrap_err().to_string().contains("pages-1.img does not match its digest"));
        // A format 1 manifest is checked with its xxHash64 sums.
        let mut old = files.clone();
        old.format = 1;
        for (name, sum) in old.files.iter_mut() {
            *sum = sum_reader(fs::File::open(d.join(name)).unwrap(), &d, Digest::Xxh64).unwrap();
        }
        assert_eq!(verify(&d, &old).unwrap(), 100_002);
        assert!(verify(&d, &files).is_err(), "and a format 3 one never with those");
        // A symlink in place of a file, or a file others may write, is refused.
        fs::remove_file(d.join("checkpoint/pages-1.img")).unwrap();
        fs::write(d.join("elsewhere"), &data).unwrap();
        std::os::unix::fs::symlink("../elsewhere", d.join("checkpoint/pages-1.img")).unwrap();
        let e = verify(&d, &old).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        fs::remove_file(d.join("checkpoint/pages-1.img")).unwrap();
        fs::rename(d.join("elsewhere"), d.join("checkpoint/pages-1.img")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(d.join("container.json"), fs::Permissions::from_mode(0o666)).unwrap();
        let e = verify(&d, &old).unwrap_err().to_string();
        assert!(e.contains("container.json is writable by others"), "{e}");
        // A hand-edited manifest cannot make us read outside the checkpoint.
        let mut evil = BTreeMap::new();
        evil.insert("../../etc/shadow".to_string(), FileSum { size: 1, sha256: "0".into(), ..FileSum::default() });
        let mut m = sample();
        m.files = evil;
        assert!(verify(&d, &m).unwrap_err().to_string().contains("not a plain path inside"));
        fs::remove_dir_all(&d).unwrap();
    }
}
