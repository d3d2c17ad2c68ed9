//! Lazy restore's parts with a real CRIU and a real process, no engine
//! (issue 22): the supervised page source (`host::lazy::PageSource`) serves
//! a real `criu restore --lazy-pages` until every page is in and says so; a
//! page source killed midway is told apart, and the restored process then
//! has holes, which is why a lazy restore whose source dies must stop the
//! container; `check` says whether lazy restores answer early here.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use docker_cr::host::lazy::{Outcome, PageSource, Spec};
use docker_cr::model::pagemap;

use crate::util::*;

fn require_criu() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "the lazy tests run CRIU: run them as root");
    let c = Command::new("criu").arg("check").output();
    assert!(c.is_ok_and(|c| c.status.success()), "criu check fails or CRIU is missing: run tests/setup-host");
    let u = Command::new("criu").args(["check", "--feature", "uffd-noncoop"]).bounded();
    assert!(u.status.success(), "CRIU cannot use userfaultfd here (criu check --feature uffd-noncoop):\n{}", text(&u));
}

/// The criu that PATH names, for `PageSource::start`.
fn criu_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join("criu")).find(|p| p.is_file()).expect("criu in PATH")
}

/// tests/progs/lazy-memory.c holding `mib` MiB, in a session of its own
/// (CRIU dumps a session leader without --shell-job), its stdio on files
/// (CRIU restores them; /dev/null is another mount in some test engines'
/// namespaces). Our child: reaped after the dump, so the restore finds its
/// pid free.
struct Prog {
    child: Option<Child>,
    pid: i32,
    out: PathBuf,
}

impl Prog {
    fn start(dir: &Path, mib: u32) -> Prog {
        let bin = static_program("lazy-memory");
        let out = dir.join("out");
        fs::write(dir.join("in"), b"").unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(mib.to_string())
            .stdin(fs::File::open(dir.join("in")).unwrap())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(dir.join("err")).unwrap());
        // SAFETY: setsid(2) and close_range(2) are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Nothing of the test harness's (it may hold /dev/null
                // without close-on-exec, which CRIU cannot dump here).
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let pid = child.id() as i32;
        let p = Prog { child: Some(child), pid, out };
        p.wait_line("ready", Duration::from_secs(60));
        p
    }

    /// Waits until its output has a line starting with `prefix`; returns it.
    #[track_caller]
    fn wait_line(&self, prefix: &str, within: Duration) -> String {
        let t = Instant::now();
        loop {
            let s = fs::read_to_string(&self.out).unwrap_or_default();
            if let Some(l) = s.lines().find(|l| l.starts_with(prefix)) {
                return l.to_string();
            }
            assert!(t.elapsed() < within, "lazy-memory printed no {prefix:?} line within {within:?}:\n{s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Dumps it (CRIU kills it) into `images`, and reaps it.
    fn dump(&mut self, images: &Path) {
        fs::create_dir_all(images).unwrap();
        let o = Command::new("criu")
            .args(["dump", "-t", &self.pid.to_string(), "-D"])
            .arg(images)
            .args(["-o", "dump.log", "-v4"])
            .bounded();
        assert!(o.status.success(), "criu dump: {}\n{}", text(&o), log_errors(&images.join("dump.log")));
        if let Some(mut c) = self.child.take() {
            c.wait().unwrap();
        }
    }

    /// Whether the restored process is alive (not gone, not a zombie: it is
    /// not our child any more, and nobody may reap it soon).
    fn alive(&self) -> bool {
        fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z') && !r.starts_with('X')))
            .unwrap_or(false)
    }
}

impl Drop for Prog {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the process this test started and restored;
        // its pid cannot be reused while it is unreaped.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

fn log_errors(log: &Path) -> String {
    fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.contains("Error")).collect::<Vec<_>>().join("\n")
}

/// `criu restore --lazy-pages` of `images` in `work` (where the page
/// source listens), detached: the restored process is no child of ours.
#[track_caller]
fn restore_lazily(images: &Path, work: &Path) {
    let o = Command::new("criu")
        .args(["restore", "--lazy-pages", "-d", "-D"])
        .arg(images)
        .arg("-W")
        .arg(work)
        .args(["-o", "restore.log", "-v4"])
        .bounded();
    assert!(o.status.success(), "criu restore --lazy-pages: {}\n{}", text(&o), log_errors(&work.join("restore.log")));
}

#[test]
fn page_source_serves_a_lazy_restore_until_every_page_is_in() {
    require_criu();
    let dir = temp_dir("lazy");
    let (images, work) = (dir.join("img"), dir.join("work"));
    let mut prog = Prog::start(&dir, 64);
    prog.dump(&images);
    let pages = pagemap::count_dir(&images).unwrap();
    assert!(pages.lazy >= 64 * 256, "the 64 MiB buffer is lazy: {pages:?}");
    assert!(pages.eager > 0, "the static binary's data is file-backed: eager ({pages:?})");

    let spec = Spec { images_dir: images.clone(), work_dir: work.clone(), page_server: None, ps_socket: None };
    let mut src = PageSource::start(&criu_bin(), &spec, Duration::from_secs(30)).unwrap();
    assert!(src.socket().exists(), "it listens before start returns");
    restore_lazily(&images, &work);
    let mut ticks = 0;
    let outcome = src.wait_with(Duration::from_millis(5), |_, _| ticks += 1);
    let Outcome::Delivered(p) = outcome else { panic!("{outcome:?}\n{}", log_errors(&src.log())) };
    assert_eq!(p.lazy_pages, pages.lazy, "the daemon's count is the pagemap's");
    assert_eq!(p.copied_pages, pages.lazy, "every lazy page came in: {p:?}");
    assert_eq!((p.tasks, p.finished), (1, 1), "{p:?}");
    assert!(ticks > 0);
    // The restored process has all its memory: it checks every page.
    assert!(prog.alive());
    // SAFETY: kill(2) of the restored test process.
    assert_eq!(unsafe { libc::kill(prog.pid, libc::SIGUSR1) }, 0);
    assert_eq!(prog.wait_line("verified", Duration::from_secs(30)), format!("verified {} pages", 64 * 256));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_page_source_killed_midway_is_told_apart_and_leaves_holes() {
    require_criu();
    let dir = temp_dir("lazy-killed");
    let (images, work) = (dir.join("img"), dir.join("work"));
    // 256 MiB: its background copy takes far longer than the kill.
    let mut prog = Prog::start(&dir, 256);
    prog.dump(&images);
    let spec = Spec { images_dir: images.clone(), work_dir: work.clone(), page_server: None, ps_socket: None };
    let mut src = PageSource::start(&criu_bin(), &spec, Duration::from_secs(30)).unwrap();
    restore_lazily(&images, &work);
    src.kill();
    let Some(Outcome::Died { status, progress, .. }) = src.poll().cloned() else {
        panic!("a killed page source must not count as delivered: {:?}", src.poll())
    };
    assert_eq!(status, "killed (SIGKILL)");
    assert!(progress.copied_pages < progress.lazy_pages, "{progress:?}");
    // What a lazy restore must not leave running: the pages not yet in
    // read as zeros. The process crashes on them, or finds them wrong.
    let t = Instant::now();
    let mut asked = false;
    loop {
        if !prog.alive() {
            eprintln!("the restored process died once its page source was killed");
            break;
        }
        let out = fs::read_to_string(&prog.out).unwrap_or_default();
        if let Some(l) = out.lines().find(|l| l.ends_with(" wrong")) {
            eprintln!("the restored process found a hole once its page source was killed: {l}");
            break;
        }
        assert!(!out.contains("verified"), "every page was right after the page source was killed:\n{out}");
        if !asked {
            // SAFETY: kill(2) of the restored test process.
            unsafe { libc::kill(prog.pid, libc::SIGUSR1) };
            asked = true;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the restored process neither crashed nor checked its pages");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_page_source_that_cannot_start_says_why() {
    require_criu();
    let dir = temp_dir("lazy-empty");
    let spec = Spec { images_dir: dir.join("img"), work_dir: dir.join("work"), page_server: None, ps_socket: None };
    fs::create_dir_all(&spec.images_dir).unwrap();
    let e = PageSource::start(&criu_bin(), &spec, Duration::from_secs(30)).err().expect("no images: no page source");
    let msg = e.to_string();
    assert!(msg.contains("criu lazy-pages failed (exit status 1)"), "{msg}");
    assert!(msg.contains("did not start listening on lazy-pages.socket"), "{msg}");
    assert!(msg.contains("--- excerpt from the CRIU log\n") && msg.contains("Error (criu/"), "CRIU's own words: {msg}");
    fs::remove_dir_all(&dir).unwrap();
}

/// tests/setup-host builds CRIU with tests/criu/uffd-eagain.patch, and
/// `check` knows it by the build's GitID.
#[test]
fn check_says_lazy_restores_answer_early() {
    require_engine();
    let o = dcr(&["check", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check --format json is JSON");
    let item = j["items"].as_array().unwrap().iter().find(|i| i["item"] == "lazy restore").cloned();
    let item = item.unwrap_or_else(|| panic!("no lazy restore item: {j}"));
    assert_eq!(item["status"], "ok", "{item}");
    assert!(item["detail"].as_str().unwrap().contains("+uffd-eagain."), "{item}");
}

// --- restore --lazy through the engine --------------------------------------

/// A `docker-cr restore --lazy` running, its stderr read line by line.
struct LazyRestore {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: String,
}

impl LazyRestore {
    fn spawn(args: &[&str]) -> LazyRestore {
        use std::io::BufRead;
        let mut child = Command::new(bin())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let r = std::io::BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in r.lines().map_while(std::result::Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        LazyRestore { child, lines, seen: String::new() }
    }

    /// Waits for a line containing `marker`; returns it.
    #[track_caller]
    fn wait_line(&mut self, marker: &str) -> String {
        let t = Instant::now();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(1)) {
                Ok(l) => {
                    self.seen.push_str(&l);
                    self.seen.push('\n');
                    if l.contains(marker) {
                        return l;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("docker-cr restore --lazy ended before printing {marker:?}:\n{}", self.seen)
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            }
            assert!(t.elapsed() < Duration::from_secs(120), "no {marker:?} within 120 s:\n{}", self.seen);
        }
    }

    /// The page source's pid, from its "page source listening" step.
    #[track_caller]
    fn page_source_pid(&mut self) -> i32 {
        let l = self.wait_line("page source listening on");
        let pid = l.split_once("criu lazy-pages, pid ").and_then(|(_, r)| r.split(';').next()?.parse().ok());
        pid.unwrap_or_else(|| panic!("no pid in {l:?}"))
    }

    /// Waits until it ends: (exit status, stdout, all of stderr).
    fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        use std::io::Read;
        let mut out = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let st = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push_str(&l);
            self.seen.push('\n');
        }
        (st, out, self.seen)
    }
}

/// A redis holding `mib` MiB of DEBUG POPULATE values and 500 keys of
/// random values, nothing of it on disk; checkpointed into `dir`, then
/// removed. Returns its port and the random keys.
fn checkpointed_redis(name: &str, mib: u32, dir: &Path) -> (u16, Vec<(String, String)>) {
    let port = start_big_redis(name, mib);
    let keys = set_random_keys(port);
    ok(dcr(&["checkpoint", name, dir.to_str().unwrap()]));
    docker_ok(&["rm", "-f", name]);
    (port, keys)
}

/// `restore --lazy` of a redis whose data is only in memory: asked as soon
/// as it runs, it answers right; the page source served its faults (it ran
/// before its memory was in); every page comes in, the command says so and
/// reports the pages, and every key is right. (Whether the first GET came
/// before the last page is printed, not asserted: 128 MiB arrives here in
/// about 0.1 s, and the page source cannot be slowed from outside: a
/// SIGSTOP/SIGCONT makes CRIU's daemon fail on EINTR, and holding it
/// stopped holds CRIU's restore, which touches lazy memory itself.)
#[test]
fn restore_lazy_brings_back_a_redis_held_only_in_memory() {
    require_engine();
    require_criu();
    let name = unique("lazy-redis");
    let _c = Container(name.clone());
    let dir = temp_dir("lazy-redis").join("cp");
    let mib = 128;
    let (port, keys) = checkpointed_redis(&name, mib, &dir);
    let mut r = LazyRestore::spawn(&["restore", "--lazy", "--print-stats", &name, dir.to_str().unwrap()]);
    r.page_source_pid();
    r.wait_line("comes lazily");
    let (k, v) = &keys[keys.len() / 2];
    assert_eq!(redis(port, &["GET", k]).as_deref(), Some(v.as_str()));
    let streaming = r.child.try_wait().unwrap().is_none();
    eprintln!("the first GET answered {} the last page was in", if streaming { "before" } else { "after" });
    let (st, out, err) = r.finish();
    assert!(st.success(), "restore --lazy failed ({st}):\n{err}");
    assert!(err.contains("all lazy pages delivered in"), "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let l = &stats["container_statistics"][0]["lazy"];
    let lazy_pages = l["lazy_pages"].as_u64().unwrap();
    assert!(lazy_pages >= u64::from(mib) * 256, "the values are lazy: {l}");
    assert!(l["eager_pages"].as_u64().unwrap() > 0, "{l}");
    assert!(l["faults_served"].as_u64().unwrap() > 0, "redis ran before its memory was in: {l}");
    assert!(l["time_to_resume"].as_u64() < l["time_to_last_page"].as_u64(), "{l}");
    assert!(!Path::new("/run/docker-cr").join(format!("lazy-{}", &inspect(&name, "{{.Id}}")[..12])).exists());
    verify_redis(port, mib, &keys);
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// A CRIU without the fault-retry fix: `restore --lazy` is refused before
/// anything is made, and --dry-run says so with the same status.
#[test]
fn restore_lazy_refuses_a_criu_that_would_stall() {
    require_engine();
    let name = unique("lazy-refused");
    let _c = Container(name.clone());
    docker_ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "1000"]);
    let dir = temp_dir("lazy-refused").join("cp");
    ok(dcr(&["checkpoint", "--stop", &name, dir.to_str().unwrap()]));
    // The real CRIU, but for a version line without the patch's GitID.
    let real = criu_bin();
    let fake = fake_criu(&format!(
        "if [ \"$1\" = --version ]; then echo 'Version: 4.2.1'; exit 0; fi\nexec {} \"$@\"",
        real.display()
    ));
    let fake = fake.to_str().unwrap();
    for dry in [true, false] {
        let mut args = vec!["--criu", fake, "restore", "--lazy"];
        if dry {
            args.push("--dry-run");
        }
        args.extend([name.as_str(), dir.to_str().unwrap()]);
        let o = dcr(&args);
        fails_with(&o, 3, "restore --lazy would stall on this host");
        assert!(text(&o).contains("uffd-eagain.patch"), "{}", text(&o));
    }
    assert_eq!(inspect(&name, "{{.State.Status}}"), "exited", "nothing was started");
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}
