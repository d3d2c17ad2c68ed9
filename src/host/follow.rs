//! Following the page images while CRIU writes them, so that sealing the
//! checkpoint costs next to nothing once CRIU is done: each `pages-*.img`
//! is hashed piece by piece (the manifest's `CHUNK`s) as it grows, read
//! back from the page cache while the bytes are still there, and, when
//! the container is frozen until the end anyway (`--stop`), each piece
//! hashed is handed to the disk at once (`sync_file_range`), so the final
//! `fdatasync` waits for the last pieces only. And the durability of
//! a finished checkpoint: `sync_tree` (each file and directory of it,
//! rather than `syncfs` of the whole filesystem, which also waits for
//! everything every other program on it has written).
//!
//! CRIU writes a page image once, from start to end (it splices its page
//! pipes to the end of the file), so a piece below the file's size is
//! final. Should that ever change, the digest would not match, and the
//! restore's verification would refuse the checkpoint: never silently
//! wrong.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{IoContext, Result};
use crate::model::manifest::{self as mf, Known, KnownSum, Partial, CHUNK};

/// How often an idle follower looks for more bytes.
const POLL: Duration = Duration::from_millis(5);

/// A page image followed: its descriptor and the digests of its first
/// pieces.
struct Followed {
    name: String,
    file: fs::File,
    done: Vec<String>,
}

/// The thread that follows the page images in one images directory.
pub struct Follower {
    images: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Followed>>>,
}

/// Starts writing back `len` bytes of `f` from `off` without waiting
/// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE); only a head start for
/// the `fdatasync` that makes them durable, so a failure is ignored.
pub fn start_writeback(f: &fs::File, off: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor we own; no memory is passed.
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), off as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}

fn is_pages(name: &str) -> bool {
    name.starts_with("pages-") && name.ends_with(".img")
}

/// The page images in `dir` not yet followed, opened.
fn scan(dir: &fs::File, files: &mut Vec<Followed>) {
    if let Ok(rd) = fs::read_dir(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(dir))) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_pages(&name) && !files.iter().any(|f| f.name == name) {
                if let Ok(file) = mf::open_beneath(dir, Path::new(&name)) {
                    files.push(Followed { name, file, done: Vec::new() });
                }
            }
        }
    }
}

/// One look at the directory: new page images opened, every whole piece
/// not yet hashed hashed (and, with `writeback`, handed to the disk).
/// Whether anything was.
fn step(dir: &fs::File, files: &mut Vec<Followed>, buf: &mut [u8], stop: &AtomicBool, writeback: bool) -> bool {
    let mut progressed = false;
    scan(dir, files);
    for f in files.iter_mut() {
        let Ok(size) = f.file.metadata().map(|m| m.len()) else { continue };
        while (f.done.len() as u64 + 1) * CHUNK <= size && !stop.load(Ordering::Relaxed) {
            let off = f.done.len() as u64 * CHUNK;
            match mf::range_digest(mf::WRITTEN, &f.file, off, CHUNK, buf) {
                Ok(d) => f.done.push(d),
                // Read again at the end (`finish`), where an error counts.
                Err(_) => break,
            }
            if writeback {
                start_writeback(&f.file, off, CHUNK);
            }
            progressed = true;
        }
    }
    progressed
}

impl Follower {
    /// Follows the page images CRIU writes into `images` (the directory
    /// exists) until `finish`. Nothing of it can fail: what it could not
    /// hash, `finish` hashes. `writeback`: start writing each piece to the
    /// disk during the dump. That shortens the whole checkpoint (redis
    /// 1 GiB here: 0.66 s against 1.0 s) but lengthens CRIU's dump, the
    /// frozen window (0.55-0.61 s against 0.47-0.49 s: the writeback and
    /// CRIU's writes into the same file contend in the filesystem; hashing
    /// alone costs CRIU nothing measurable, at any scheduling priority). So
    /// only where the container stays frozen to the end (`--stop`); a
    /// running container's pages are written back after the thaw.
    pub fn start(images: &Path, writeback: bool) -> Result<Follower> {
        let dir = fs::File::open(images).at("open", images)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("follow-pages".into())
                .spawn(move || {
                    let mut files = Vec::new();
                    let mut buf = vec![0u8; 256 << 10];
                    while !stop.load(Ordering::Relaxed) {
                        if !step(&dir, &mut files, &mut buf, &stop, writeback) {
                            std::thread::sleep(POLL);
                        }
                    }
                    files
                })
                .ok()
        };
        Ok(Follower { images: images.to_path_buf(), stop, thread })
    }

    /// Once CRIU has exited: the rest of every page image hashed (on every
    /// core), its tail handed to the disk, and the sums, keyed by their
    /// path relative to the checkpoint directory (`prefix`/NAME), for
    /// `sum_dir_known`; and how many bytes had been hashed before.
    pub fn finish(mut self, prefix: &str) -> Result<(Known, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut files = self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        let root = fs::File::open(&self.images).at("open", &self.images)?;
        scan(&root, &mut files);
        let mut partial = Vec::new();
        let mut ids = Vec::new();
        let mut early = 0;
        for f in files {
            let md = f.file.metadata().at("stat", &self.images.join(&f.name))?;
            let hashed = f.done.len() as u64 * CHUNK;
            early += hashed;
            if md.len() > hashed {
                start_writeback(&f.file, hashed, md.len() - hashed);
            }
            partial.push(Partial { rel: PathBuf::from(&f.name), size: md.len(), done: f.done });
            ids.push((f.name, md));
        }
        let sums = mf::sum_rest(mf::WRITTEN, &root, &self.images, partial, &AtomicBool::new(false))?;
        let known = ids
            .into_iter()
            .zip(sums)
            .map(|((name, md), sum)| (format!("{prefix}/{name}"), KnownSum::of(&md, sum)))
            .collect();
        Ok((known, early))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Makes the checkpoint directory `dir` durable: every file's data
/// (`fdatasync`, after a pass that starts the writeback of all of them)
/// and every directory (`fsync`, for the names in it). The directory that
/// holds `dir` is its caller's (the rename into place comes after this).
pub fn sync_tree(dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    let mut i = 0;
    while let Some(d) = dirs.get(i).cloned() {
        i += 1;
        for e in fs::read_dir(&d).at("list", &d)? {
            let e = e.at("list", &d)?;
            let ft = e.file_type().at("stat", &e.path())?;
            if ft.is_dir() {
                dirs.push(e.path());
            } else if ft.is_file() {
                let p = e.path();
                let f = fs::File::open(&p).at("open", &p)?;
                start_writeback(&f, 0, 0);
                files.push((p, f));
            }
        }
    }
    for (p, f) in &files {
        f.sync_data().at("sync", p)?;
    }
    for d in dirs.iter().rev() {
        fs::File::open(d).at("open", d)?.sync_all().at("sync", d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("docker-cr-follow-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("checkpoint")).unwrap();
        d
    }

    #[test]
    fn followed_sums_are_the_manifest_sums() {
        let d = tmp("grow");
        let images = d.join("checkpoint");
        let f = Follower::start(&images, true).unwrap();
        // Written as CRIU does, from start to end, in pieces of odd sizes,
        // with the follower reading meanwhile.
        let data: Vec<u8> = (0..(3 * CHUNK + 12345)).map(|i| (i * 7 % 253) as u8).collect();
        let mut w = fs::File::create(images.join("pages-1.img")).unwrap();
        for part in data.chunks(5 << 20) {
            w.write_all(part).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        fs::write(images.join("pages-2.img"), b"small").unwrap();
        fs::write(images.join("pagemap-1.img"), b"not followed").unwrap();
        drop(w);
        let (known, _) = f.finish(mf::IMAGES).unwrap();
        assert_eq!(known.keys().collect::<Vec<_>>(), vec!["checkpoint/pages-1.img", "checkpoint/pages-2.img"]);
        let read_back = mf::sum_dir(&d).unwrap();
        assert_eq!(known["checkpoint/pages-1.img"].sum, read_back["checkpoint/pages-1.img"]);
        assert_eq!(known["checkpoint/pages-2.img"].sum, read_back["checkpoint/pages-2.img"]);
        assert_eq!(known["checkpoint/pages-1.img"].sum.blake3_chunks.len(), 4);
        // Used for those files, and only while they are the same files.
        assert_eq!(mf::sum_dir_known(&d, &known).unwrap(), read_back);
        let mut wrong = known.clone();
        wrong.get_mut("checkpoint/pages-2.img").unwrap().sum.blake3 = "0".repeat(64);
        assert_ne!(mf::sum_dir_known(&d, &wrong).unwrap(), read_back, "a known sum is taken as it is");
        fs::remove_file(images.join("pages-2.img")).unwrap();
        fs::write(images.join("pages-2.img"), b"other").unwrap(); // the same size, maybe the same inode
        let again = mf::sum_dir_known(&d, &wrong).unwrap();
        assert_eq!(again["checkpoint/pages-2.img"], mf::sum_file(&images.join("pages-2.img")).unwrap());
        sync_tree(&d).unwrap();
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_streamed_sum_is_the_sum_read_back() {
        let d = tmp("summer");
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let p = d.join("f");
            fs::write(&p, &data).unwrap();
            let mut s = mf::Summer::default();
            for part in data.chunks(1_000_003) {
                s.update(part);
            }
            assert_eq!(s.finish(), mf::sum_file(&p).unwrap(), "size {size}");
        }
        fs::remove_dir_all(&d).unwrap();
    }
}
