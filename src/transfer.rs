//! The archive commands, as compositions over the checkpoint directory:
//! `export` and `import` run the `archive` adapter; `checkpoint --export`
//! is a checkpoint into a private temporary directory, then an export;
//! `restore --import` is an import into one, then the normal restore. The
//! temporary directory lives under $DOCKER_CR_STORE (root-only, 0700) and
//! is removed whatever happens.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::archive::{self, Compression};
use crate::cli::{CheckpointArgs, ExportArgs, Global, ImportArgs, RestoreArgs};
use crate::error::{Error, IoContext, Result};
use crate::host::{self, Progress};
use crate::manifest as mf;

/// docker-cr's own directory for temporary checkpoints.
pub fn store_dir() -> PathBuf {
    std::env::var_os("DOCKER_CR_STORE").map_or_else(|| PathBuf::from("/var/lib/docker-cr"), PathBuf::from)
}

/// A private directory for one run's checkpoint, removed when dropped.
/// The checkpoint itself goes to `path()`, which does not exist yet.
pub struct TempCheckpoint {
    parent: PathBuf,
}

impl TempCheckpoint {
    pub fn new(what: &str) -> Result<TempCheckpoint> {
        let store = store_dir();
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&store).at("create", &store)?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let parent = store.join(format!(".{what}-{}-{nanos}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&parent).at("create", &parent)?;
        Ok(TempCheckpoint { parent })
    }
    pub fn path(&self) -> PathBuf {
        self.parent.join("checkpoint")
    }
}

impl Drop for TempCheckpoint {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.parent);
    }
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Writes the archive of `dir` to `file` (created 0600, never replacing
/// anything, removed again on failure) or to stdout.
fn export_to(dir: &Path, file: &Path, c: Compression, out: &Progress) -> Result<()> {
    let t = std::time::Instant::now();
    let st = if is_stdio(file) {
        let stdout = io::stdout();
        let lock = stdout.lock();
        let st = archive::export(dir, io::BufWriter::with_capacity(1 << 20, lock), c)?;
        io::stdout().flush().at("write", Path::new("standard output"))?;
        st
    } else {
        let f =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Error::checkpoint(
                    format!("{} already exists", file.display()),
                    "name a new file; docker-cr never overwrites an archive",
                ),
                _ => Error::Io { op: "create", path: file.to_path_buf(), source: e },
            })?;
        let done = archive::export(dir, io::BufWriter::with_capacity(1 << 20, &f), c)
            .and_then(|st| f.sync_all().at("sync", file).map(|()| st));
        match done {
            Ok(st) => st,
            Err(e) => {
                let _ = fs::remove_file(file);
                return Err(e);
            }
        }
    };
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    out.step(format!(
        "exported {} files ({:.1} MiB{}) as {} ({}, {:.1} MiB) in {} ms: {:.0} MB/s",
        st.files,
        st.bytes_in as f64 / (1 << 20) as f64,
        if st.deleted > 0 { format!(", {} deleted paths", st.deleted) } else { String::new() },
        if is_stdio(file) { "standard output".to_string() } else { file.display().to_string() },
        c.name(),
        st.bytes_out as f64 / (1 << 20) as f64,
        (secs * 1000.0) as u64,
        st.bytes_in as f64 / secs / 1e6,
    ));
    Ok(())
}

/// Unpacks `file` (or stdin) into `dir`.
fn import_from(file: &Path, dir: &Path, finish: archive::Finish, out: &Progress) -> Result<archive::Imported> {
    let t = std::time::Instant::now();
    let imp = if is_stdio(file) {
        archive::import(io::stdin().lock(), "on standard input", dir, finish)?
    } else {
        let f = fs::File::open(file).at("open", file)?;
        archive::import(f, &file.display().to_string(), dir, finish)?
    };
    let secs = t.elapsed().as_secs_f64().max(1e-9);
    out.step(format!(
        "imported {} files ({:.1} MiB, {}) into {} in {} ms: {:.0} MB/s{}",
        imp.files,
        imp.bytes as f64 / (1 << 20) as f64,
        imp.compression.name(),
        dir.display(),
        (secs * 1000.0) as u64,
        imp.bytes as f64 / secs / 1e6,
        if imp.manifest.is_some() && finish == archive::Finish::Keep {
            ", every file matches the manifest"
        } else {
            ""
        },
    ));
    Ok(imp)
}

pub fn run_export(g: &Global, a: &ExportArgs) -> Result<()> {
    host::require_root()?;
    let out = Progress::new(g.quiet);
    export_to(&a.dir, &a.file, a.compress, &out)?;
    out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
    Ok(())
}

pub fn run_import(g: &Global, a: &ImportArgs) -> Result<()> {
    host::require_root()?;
    let out = Progress::new(g.quiet);
    let imp = import_from(&a.file, &a.dir, archive::Finish::Keep, &out)?;
    if imp.manifest.is_none() {
        out.warn(format!(
            "{} holds another tool's checkpoint (no docker-cr manifest): it is unsigned",
            a.dir.display()
        ));
    }
    out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
    Ok(())
}

/// `checkpoint --export FILE`: a checkpoint into a private directory, its
/// archive written to FILE, the directory removed.
pub fn checkpoint_export(g: &Global, a: &CheckpointArgs) -> Result<()> {
    let Some(file) = &a.export else { return crate::checkpoint::run(g, a) };
    host::require_root()?;
    if !is_stdio(file) && fs::symlink_metadata(file).is_ok() {
        return Err(Error::checkpoint(
            format!("{} already exists", file.display()),
            "name a new file; docker-cr never overwrites an archive",
        ));
    }
    let tmp = TempCheckpoint::new("export")?;
    let inner = CheckpointArgs { dir: tmp.path(), export: None, ..a.clone() };
    crate::checkpoint::run(g, &inner)?;
    let out = Progress::new(g.quiet);
    export_to(&tmp.path(), file, a.compress, &out)
        .map_err(|e| e.step(format!("the checkpoint of {} was taken, but its export", a.container)))?;
    out.step(format!("peak RSS of docker-cr: {} KiB", out.peak_rss_kib()));
    Ok(())
}

/// `restore --import FILE`: the archive unpacked and verified into a
/// private directory, then the normal restore from there; the directory
/// is removed (CRIU's log of a failed restore is kept in /run/docker-cr).
pub fn restore_import(g: &Global, a: &RestoreArgs) -> Result<()> {
    let Some(file) = &a.import else { return crate::restore::run(g, a) };
    host::require_root()?;
    let out = Progress::new(g.quiet);
    let tmp = TempCheckpoint::new("import")?;
    let imp = import_from(file, &tmp.path(), archive::Finish::ForRestore, &out)?;
    let Some(m) = imp.manifest else {
        return Err(Error::checkpoint(
            format!("the archive {} has no docker-cr manifest (another tool's checkpoint)", file.display()),
            "docker-cr restores only its own archives so far",
        ));
    };
    let container = if a.container.is_empty() { m.container.name.clone() } else { a.container.clone() };
    let inner = RestoreArgs { container, dir: tmp.path(), import: None, ..a.clone() };
    let r = crate::restore::run(g, &inner);
    if r.is_err() {
        let log = tmp.path().join(mf::RESTORE_LOG);
        let keep = Path::new("/run/docker-cr").join(format!("criu-restore-{}.log", std::process::id()));
        if fs::create_dir_all("/run/docker-cr").is_ok() && fs::rename(&log, &keep).is_ok() {
            out.warn(format!("CRIU's log of the failed restore is kept as {}", keep.display()));
        }
    }
    r
}
