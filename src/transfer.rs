//! The archive commands, as compositions over the checkpoint directory:
//! `export` and `import` run the `archive` adapter; `checkpoint --export`
//! is a checkpoint into a private temporary directory, then an export;
//! `restore --import` is an import into one, then the normal restore. The
//! temporary directory lives under $DOCKER_CR_STORE (root-only, 0700) and
//! is removed whatever happens. `migrate` streams a stopping checkpoint
//! to `restore --import -` on another host through a transport command,
//! and brings the source back from the same checkpoint if that fails.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::archive::{self, Compression};
use crate::cli::{CheckpointArgs, ExportArgs, Global, ImportArgs, MigrateArgs, RestoreArgs};
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

/// The command line that runs the destination's restore: the transport,
/// the destination, then docker-cr there reading the archive from stdin.
/// Pure.
pub fn remote_argv(a: &MigrateArgs) -> Vec<String> {
    let mut v = a.transport.clone();
    v.push(a.dest.clone());
    v.extend([a.remote.clone(), "restore".into(), "--import".into(), "-".into()]);
    if let Some(n) = &a.name {
        v.extend(["--name".into(), n.clone()]);
    }
    v.push(a.container.clone());
    v
}

/// `migrate CONTAINER DEST`: checkpoint (stopping it) → stream the archive
/// to the destination's `restore --import -` → remove the source. If the
/// stream or the destination fails, the source is restored here from the
/// same checkpoint (into the same container: its settings and state).
pub fn migrate(g: &Global, a: &MigrateArgs) -> Result<()> {
    use std::process::{Command, Stdio};
    host::require_root()?;
    let out = Progress::new(g.quiet);
    let ctx = crate::host::Ctx::open(g, true)?;
    let c = ctx.engine.inspect(&a.container)?.ok_or_else(|| {
        Error::container(format!("no such container: {}", a.container), "check the name with 'docker ps'")
    })?;
    let name = c.pointer("/Name").and_then(|v| v.as_str()).unwrap_or("").trim_start_matches('/').to_string();
    let id = c.pointer("/Id").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let argv = remote_argv(&MigrateArgs { container: name.clone(), ..a.clone() });
    let tmp = TempCheckpoint::new("migrate")?;
    let t0 = std::time::Instant::now();
    let cp = CheckpointArgs {
        container: id.clone(),
        dir: tmp.path(),
        export: None,
        compress: a.compress,
        stop: true,
        tcp_established: true,
        ext_unix_sk: true,
        file_locks: true,
    };
    crate::checkpoint::run(g, &cp).map_err(|e| e.step(format!("migrate of {name}: the checkpoint")))?;
    out.step(format!("streaming to {}: {}", a.dest, argv.join(" ")));
    let sent = (|| -> Result<()> {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::host(format!("cannot run the transport {}: {e}", argv[0]), "check --transport"))?;
        let exported = match child.stdin.take() {
            Some(stdin) => archive::export(&tmp.path(), io::BufWriter::with_capacity(1 << 20, stdin), a.compress),
            None => Err(Error::host("the transport has no stdin", "check --transport")),
        };
        let status = child.wait().at("wait for", Path::new(&argv[0]))?;
        if !status.success() {
            return Err(Error::container(
                format!("the restore on {} failed ({status}); see its messages above", a.dest),
                "fix what the destination says, then migrate again",
            ));
        }
        exported.map(|_| ())
    })();
    match sent {
        Ok(()) => {
            let downtime = t0.elapsed();
            ctx.engine
                .remove(&id)
                .map_err(|e| e.step(format!("{name} runs on {} now, but removing the stopped source here", a.dest)))?;
            out.step(format!(
                "migrated {name} to {}: downtime {} ms (from the freeze to the destination's restore); the source was removed",
                a.dest,
                downtime.as_millis()
            ));
            Ok(())
        }
        Err(e) => {
            out.warn(format!("{e}; restoring {name} here from the same checkpoint"));
            let back = RestoreArgs {
                container: id.clone(),
                dir: tmp.path(),
                import: None,
                name: None,
                publish: Vec::new(),
                trust: false,
                trust_keys: Vec::new(),
                allow_host_access: false,
                unpause: false,
            };
            let resumed = crate::restore::run(g, &back);
            if resumed.is_ok() {
                out.step(format!("{name} runs here again, from the checkpoint"));
            }
            Err(e.step(format!("migrate of {name} to {}", a.dest)).with_cleanup(resumed))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_runs_restore_import_from_stdin() {
        let a = MigrateArgs {
            container: "web".into(),
            dest: "hostb".into(),
            transport: vec!["ssh".into(), "-o".into(), "BatchMode=yes".into()],
            remote: "/usr/local/bin/docker-cr".into(),
            name: Some("web2".into()),
            compress: Compression::Zstd,
        };
        assert_eq!(
            remote_argv(&a).join(" "),
            "ssh -o BatchMode=yes hostb /usr/local/bin/docker-cr restore --import - --name web2 web"
        );
    }
}
