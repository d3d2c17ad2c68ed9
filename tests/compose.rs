//! Compose projects checkpointed and restored as one group (issue 19),
//! with Debian's docker-compose 1.29 against the engine under test.
//!
//! The project: a redis, and an app (a busybox shell loop) that keeps a
//! counter in its memory and appends each value to a redis list through one
//! long-lived TCP connection, dozens a second, each after redis has
//! acknowledged the one before. After a checkpoint and a restore the list
//! must be 1, 2, …, n with nothing missing and nothing twice, the app's
//! counter must be the list's last value (or the one it is about to send),
//! and both must go on: `consistent` says so. Checkpointed one after another
//! (redis, then the app a few values later), the same pair fails it: the app
//! remembers writes the restored redis never saw (`sequential_*`).
//! Each test has its own project, its own store, and removes both.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

/// The app: `i` in the shell's memory, RPUSHed as RESP over nc's one
/// connection (nc -e hands the socket to the loop as stdin and stdout);
/// /tmp/state says the last value redis acknowledged (replaced whole). `$$` is Compose's `$`.
const APP: &str = r#"
      - sh
      - -c
      - |
        cat > /loop.sh <<'EOF'
        i=0
        while :; do
          i=$$((i+1))
          printf '*3\r\n$$5\r\nRPUSH\r\n$$4\r\nlist\r\n$$%d\r\n%d\r\n' $${#i} $$i
          read -r reply || exit 1
          echo $$i > /tmp/state.new
          mv /tmp/state.new /tmp/state
          sleep 0.02
        done
        EOF
        until nc redis 6379 -e sh /loop.sh; do sleep 0.1; done
"#;

/// The project's compose file; `extra`: more services.
pub fn compose_file(extra: &str) -> String {
    format!(
        "version: \"2.4\"\nservices:\n  redis:\n    image: docker-cr-test:redis\n    volumes:\n      - data:/data\n  app:\n    image: {IMAGE}\n    depends_on: [redis]\n    command:{APP}{extra}volumes:\n  data: {{}}\n"
    )
}

/// A Compose project of its own, with its own store; `down -v` when dropped.
pub struct Project {
    pub name: String,
    pub dir: PathBuf,
    pub store: PathBuf,
}

impl Project {
    pub fn up(tag: &str, extra: &str) -> Project {
        require_engine();
        let o = Command::new("docker-compose").arg("version").output();
        assert!(o.is_ok_and(|o| o.status.success()), "docker-compose is missing: run tests/setup-host");
        let name = unique(tag);
        let dir = temp_dir("compose");
        std::fs::write(dir.join("docker-compose.yml"), compose_file(extra)).unwrap();
        let p = Project { store: dir.join("store"), name, dir };
        compose_ok(&p, &["up", "-d"]);
        p
    }
    pub fn c(&self, service: &str) -> String {
        format!("{}_{service}_1", self.name)
    }
    pub fn cr(&self, args: &[&str]) -> Output {
        let mut a = vec!["--store", self.store.to_str().unwrap()];
        a.extend_from_slice(args);
        dcr(&a)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = compose(self, &["down", "-v", "--remove-orphans", "-t", "1"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn compose(p: &Project, args: &[&str]) -> Output {
    Command::new("docker-compose")
        .arg("-p")
        .arg(&p.name)
        .args(args)
        .current_dir(&p.dir)
        .stdin(Stdio::null())
        .output()
        .expect("run docker-compose")
}

#[track_caller]
pub fn compose_ok(p: &Project, args: &[&str]) -> String {
    let o = compose(p, args);
    assert!(o.status.success(), "docker-compose {args:?} failed:\n{}", text(&o));
    text(&o)
}

/// The address of container `name` on its network (its network holder's
/// on Docker >= 28): this test runs where the engine's networks are.
pub fn address(name: &str) -> String {
    let owner = network_owner(name);
    inspect(&owner, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    req.into_bytes()
}

/// The whole list in redis at `ip`, as numbers; None while it does not
/// answer.
pub fn list(ip: &str) -> Option<Vec<u64>> {
    let mut s = TcpStream::connect((ip, 6379)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(&resp(&["LRANGE", "list", "0", "-1"])).ok()?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let n: usize = line.trim().strip_prefix('*')?.parse().ok()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim().strip_prefix('$')?.parse().ok()?;
        let mut v = vec![0u8; len + 2];
        r.read_exact(&mut v).ok()?;
        out.push(String::from_utf8_lossy(&v[..len]).parse().ok()?);
    }
    Some(out)
}

/// Waits until the list has at least `n` values; returns it.
#[track_caller]
pub fn wait_list(ip: &str, n: usize) -> Vec<u64> {
    let start = Instant::now();
    loop {
        if let Some(l) = list(ip) {
            if l.len() >= n {
                return l;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the list in redis at {ip} does not reach {n} values");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The app's counter as it last wrote it (read through /proc: the app may
/// be paused, and docker exec would be a process the checkpoint refuses).
pub fn app_counter(name: &str) -> u64 {
    let pid = inspect(name, "{{.State.Pid}}");
    let t = std::fs::read_to_string(format!("/proc/{pid}/root/tmp/state")).unwrap_or_default();
    t.trim().parse().unwrap_or(0)
}

/// Whether the list and the app agree: the list is 1..=n, each value once,
/// and the app's counter `s` is n, or n-1 with its next value in flight
/// (pushed, not yet acknowledged). Err says how they disagree.
pub fn consistent(l: &[u64], s: u64) -> Result<(), String> {
    for (i, v) in l.iter().enumerate() {
        if *v != i as u64 + 1 {
            return Err(format!(
                "the list is not contiguous: value {v} at position {} (after {:?})",
                i + 1,
                &l[i.saturating_sub(3)..i]
            ));
        }
    }
    let n = l.len() as u64;
    if n == s || n == s + 1 {
        Ok(())
    } else {
        Err(format!("the app's counter is {s}, the list ends at {n}: they disagree by {}", s.abs_diff(n)))
    }
}

/// The list and the app's counter at one instant (the app paused).
#[track_caller]
pub fn snapshot(p: &Project) -> (Vec<u64>, u64) {
    let (app, ip) = (p.c("app"), address(&p.c("redis")));
    docker_ok(&["pause", &app]);
    let l = list(&ip).expect("redis answers");
    let s = app_counter(&app);
    docker_ok(&["unpause", &app]);
    (l, s)
}

/// Both go on, and still agree.
#[track_caller]
pub fn assert_goes_on(p: &Project, from: usize) {
    assert_goes_on_after(p, from, "");
}

/// `assert_goes_on`, with what the restore printed in the failure (a
/// connection that did not come back open shows as the list starting again
/// at 1: the restore's lines say why, e.g. an address it could not have).
#[track_caller]
pub fn assert_goes_on_after(p: &Project, from: usize, restore_said: &str) {
    let ip = address(&p.c("redis"));
    wait_list(&ip, from + 20);
    let (l, s) = snapshot(p);
    consistent(&l, s).unwrap_or_else(|e| panic!("after the restore: {e}\nthe restore said:\n{restore_said}"));
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The group, checkpointed at one instant, `docker-compose down` (volumes
/// kept), restored: the list is contiguous and goes on, the app's counter
/// goes on from its last value (its connection to redis came back open on
/// both ends); ls and inspect show the group with its members;
/// docker-compose ps lists the restored containers and down removes them;
/// --only restores one member; rm removes the group as one.
#[test]
fn project_checkpointed_and_restored_as_one() {
    let p = Project::up("cmp", "");
    let (redis, app) = (p.c("redis"), p.c("app"));
    let (ip, app_ip) = (address(&redis), address(&app));
    // What the checkpoint saves lies between these two lengths.
    let pre = wait_list(&ip, 50).len();
    let o = ok(p.cr(&["checkpoint", "--project", &p.name, "first", "--print-stats"]));
    let stats: Value = serde_json::from_slice(&o.stdout).expect("--print-stats is JSON on stdout");
    let g = &stats["group"];
    assert_eq!((g["name"].as_str(), g["members"].as_u64()), (Some(p.name.as_str()), Some(2)), "{stats}");
    let window = g["frozen_duration"].as_u64().unwrap();
    for m in stats["container_statistics"].as_array().unwrap() {
        let dump = m["runtime_checkpoint_duration"].as_u64().unwrap();
        assert!(dump > 0 && dump <= window, "each dump lies inside the group's frozen window: {m}");
    }
    assert!(g["runtime_checkpoint_durations"][&redis].as_u64().is_some(), "{stats}");
    let post = snapshot(&p);
    consistent(&post.0, post.1).unwrap_or_else(|e| {
        panic!("after the checkpoint, before the restore: {e}\nthe checkpoint said:\n{}", text(&o))
    });
    // One item of the store, its members under it.
    let ls: Value = serde_json::from_slice(&ok(p.cr(&["ls", "--format", "json"])).stdout).unwrap();
    let rows = ls.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{ls}");
    assert_eq!(
        (rows[0]["kind"].as_str(), rows[0]["reference"].as_str()),
        (Some("group"), Some(&*format!("{}/first", p.name)))
    );
    let members: Vec<&str> =
        rows[0]["members"].as_array().unwrap().iter().map(|m| m["container"].as_str().unwrap()).collect();
    assert_eq!(members, [redis.as_str(), app.as_str()], "in restore order: redis first");
    assert!(rows[0]["restorable"].as_bool().unwrap(), "{ls}");
    let table = stdout(&ok(p.cr(&["ls"])));
    assert!(table.contains(&format!("  └ {redis}")) && table.contains("(app)"), "{table}");
    let insp = stdout(&ok(p.cr(&["inspect", &format!("{}/first", p.name)])));
    assert!(insp.contains(&format!("== member {redis}")) && insp.contains(&format!("== member {app}")), "{insp}");
    assert!(insp.contains("established"), "both ends of the connection are in the checkpoint:\n{insp}");
    compose_ok(&p, &["down", "-t", "1"]);
    assert!(!exists(&redis) && !exists(&app));
    let dry = p.cr(&["restore", "--project", &p.name, "--dry-run"]);
    let t = text(&ok(dry));
    assert!(t.contains("created (") && t.contains("would restore the group"), "{t}");
    let o = ok(p.cr(&["restore", "--project", &p.name, "--print-stats"]));
    let rs: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(rs["container_statistics"].as_array().unwrap().len(), 2, "{rs}");
    let t = text(&o);
    assert!(t.contains("TCP connection: restored open"), "{t}");
    assert_eq!(address(&redis), ip, "redis kept its address");
    assert_eq!(address(&app), app_ip, "the app kept its address:\n{t}");
    let (l, s) = snapshot(&p);
    consistent(&l, s).unwrap_or_else(|e| panic!("right after the restore: {e}\nthe restore said:\n{t}"));
    assert!(l.len() >= pre, "the list went back from {pre} (before the checkpoint) to {}", l.len());
    assert_goes_on_after(&p, l.len(), &t);
    // Compose takes them for its own.
    let ps = compose_ok(&p, &["ps"]);
    assert!(ps.contains(&redis) && ps.contains(&app), "{ps}");
    // Members that exist: refused with the list.
    let o = p.cr(&["restore", "--project", &p.name]);
    fails_with(&o, 4, "2 of the 2 members of group");
    assert!(text(&o).contains(&format!("{redis} (running)")), "{}", text(&o));
    compose_ok(&p, &["down", "-t", "1"]);
    assert!(!exists(&redis) && !exists(&app), "docker-compose down left a restored container");
    let nets = docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&format!("{}_default", p.name)), "docker-compose down left the network:\n{nets}");
    // One member only.
    ok(p.cr(&["restore", "--project", &p.name, "--only", "redis"]));
    assert!(exists(&redis) && !exists(&app));
    let l = wait_list(&address(&redis), 1);
    consistent(&l, l.len() as u64).unwrap_or_else(|e| panic!("redis alone: {e}"));
    assert!(l.len() >= pre, "redis alone came back with its list");
    compose_ok(&p, &["down", "-t", "1"]);
    // rm: the group goes as one.
    ok(p.cr(&["rm", &format!("{}/first", p.name)]));
    assert_eq!(stdout(&ok(p.cr(&["ls", "-q"]))), "");
}

/// Why the group freeze matters: the same pair checkpointed one after
/// another, redis first and the app once it has written a few more values
/// (as any tool that dumps containers one at a time does, e.g. podman
/// container checkpoint --all), restored the same way (each keeping its
/// address, so the connection comes back on both ends: the group restore's
/// conditions, by hand): the app's counter is ahead of the restored list by
/// exactly what it wrote in between, and `consistent` fails. Waiting for
/// those writes makes this fail every time, not by chance.
#[test]
fn sequential_checkpoints_lose_what_was_written_in_between() {
    let p = Project::up("seq", "");
    let (redis, app) = (p.c("redis"), p.c("app"));
    let (rip, aip) = (address(&redis), address(&app));
    let net = format!("{}_default", p.name);
    let subnet = docker_ok(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", &net]);
    let gateway = docker_ok(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", &net]);
    wait_list(&rip, 50);
    let dirs = temp_dir("seq");
    let (rdir, adir) = (dirs.join("redis"), dirs.join("app"));
    ok(dcr(&["checkpoint", &redis, rdir.to_str().unwrap()]));
    // Redis's checkpoint holds at most what the live list has now; the app
    // then writes at least 10 more before its own checkpoint.
    let after_redis = list(&rip).unwrap().len();
    wait_list(&rip, after_redis + 10);
    ok(dcr(&["checkpoint", &app, adir.to_str().unwrap()]));
    compose_ok(&p, &["down", "-t", "1"]);
    docker_ok(&["network", "create", "--subnet", &subnet, "--gateway", &gateway, &net]);
    for (dir, ip) in [(&rdir, &rip), (&adir, &aip)] {
        edit_container_json(dir, |c| {
            c["NetworkSettings"]["Networks"][&net]["IPAMConfig"] = serde_json::json!({ "IPv4Address": ip });
        });
    }
    ok(dcr(&["restore", "--trust", &redis, rdir.to_str().unwrap()]));
    assert_eq!(address(&redis), rip, "redis kept its address");
    // What redis came back with, before the app is back to add anything;
    // and the app's counter as its checkpoint froze it.
    let l = wait_list(&rip, 1);
    let s = state_in_checkpoint(&adir);
    assert!(l.len() <= after_redis, "the restored redis has more than its checkpoint could hold");
    assert!(s as usize >= after_redis + 10, "the app's checkpoint is not later than redis's: {s}");
    let e = consistent(&l, s).expect_err("one-after-another checkpoints agreed: the test did not make its case");
    assert!(e.contains("disagree"), "{e}");
    ok(dcr(&["restore", "--trust", &app, adir.to_str().unwrap()]));
    assert_eq!(address(&app), aip, "the app kept its address");
    // The app's connection came back too, but redis never saw what the
    // app believes it wrote: nothing fills the list's gap.
    let lost = l.len() as u64 + 1..=s;
    let l = list(&rip).unwrap();
    assert!(!l.iter().any(|v| lost.contains(v)), "a value lost in between reappeared ({lost:?})");
    compose_ok(&p, &["down", "-t", "1"]);
}

/// The app's /tmp/state in a checkpoint's file changes: its counter when it
/// was frozen.
fn state_in_checkpoint(dir: &Path) -> u64 {
    let f = std::fs::File::open(dir.join("rootfs-diff.tar")).unwrap();
    let mut ar = tar::Archive::new(f);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy().trim_start_matches("./") == "tmp/state" {
            let mut t = String::new();
            e.read_to_string(&mut t).unwrap();
            return t.trim().parse().unwrap();
        }
    }
    panic!("no tmp/state in {}", dir.display());
}

/// A CRIU standing in for the real one: at every dump it records whether
/// each member (their freezer files, their init pids) is frozen and its
/// network held, then runs the real CRIU, unless `DCR_TEST_FAIL` names the
/// member whose dump fails, or `DCR_TEST_HANG` a directory where it leaves
/// its pid and waits to be killed.
pub fn recording_criu() -> PathBuf {
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v criu"]).bounded().stdout).unwrap();
    fake_criu(&format!(
        r#"if [ "$1" = dump ]; then
  for f in $DCR_TEST_FREEZERS; do echo "state $f $(tr '\n' ' ' < "$f")" >> "$DCR_TEST_LOG"; done
  for p in $DCR_TEST_PIDS; do
    if nsenter -t "$p" -n nft list table inet CRIU-docker-cr-group >/dev/null 2>&1; then echo "held $p" >> "$DCR_TEST_LOG"; else echo "free $p" >> "$DCR_TEST_LOG"; fi
  done
  echo "dump $3" >> "$DCR_TEST_LOG"
  if [ -n "$DCR_TEST_FAIL" ]; then case "$3" in *"$DCR_TEST_FAIL"*)
    echo 'Error (fake): the dump of this member fails' > "$(dirname "$3")/criu-dump.log"; exit 1;; esac; fi
  if [ -n "$DCR_TEST_HANG" ]; then echo $$ > "$DCR_TEST_HANG/$$"; exec sleep 3600; fi
fi
exec {} "$@""#,
        real.trim()
    ))
}

/// The freezer file of a running container and what it says when frozen.
pub fn freezer(name: &str) -> (String, &'static str) {
    let cg = proc_cgroup(name);
    // This host boots cgroup v1 (hybrid): a v2 engine's containers are in
    // the unified hierarchy, mounted at /sys/fs/cgroup in its namespace.
    if docker_ok(&["info", "--format", "{{.CgroupVersion}}"]) == "2" {
        let path = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        return (format!("/sys/fs/cgroup{path}/cgroup.events"), "frozen 1");
    }
    let l = cg.lines().find(|l| l.contains(":freezer:")).unwrap();
    (format!("/sys/fs/cgroup/freezer{}/freezer.state", l.rsplit(':').next().unwrap()), "FROZEN")
}

pub fn is_frozen(name: &str) -> bool {
    let (f, want) = freezer(name);
    std::fs::read_to_string(f).unwrap_or_default().contains(want)
}

/// The environment of `recording_criu` for the project's members.
pub fn recording_env(p: &Project, log: &Path) -> Vec<(String, String)> {
    let members = [p.c("redis"), p.c("app")];
    let freezers: Vec<String> = members.iter().map(|m| freezer(m).0).collect();
    let pids: Vec<String> = members.iter().map(|m| inspect(&network_owner(m), "{{.State.Pid}}")).collect();
    vec![
        ("DCR_TEST_FREEZERS".into(), freezers.join(" ")),
        ("DCR_TEST_PIDS".into(), pids.join(" ")),
        ("DCR_TEST_LOG".into(), log.display().to_string()),
    ]
}

pub fn run_with(p: &Project, env: &[(String, String)], args: &[&str]) -> Output {
    let mut a = vec!["--store", p.store.to_str().unwrap()];
    a.extend_from_slice(args);
    let mut c = Command::new(bin());
    c.args(&a).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.bounded()
}

/// Every dump starts while every member is frozen and its network held:
/// recorded by a CRIU that looks at the freezers and the network
/// namespaces when it is called, so a group checkpoint that froze or held
/// its members one after another fails this every time.
#[test]
fn every_member_is_frozen_and_held_at_every_dump() {
    let p = Project::up("frz", "");
    wait_list(&address(&p.c("redis")), 20);
    let log = temp_dir("frz").join("log");
    let criu = recording_criu();
    for jobs in ["1", "2"] {
        std::fs::write(&log, "").unwrap();
        let env = recording_env(&p, &log);
        let o = run_with(&p, &env, &["--criu", criu.to_str().unwrap(), "checkpoint", "--project", &p.name, "-j", jobs]);
        assert!(o.status.success(), "{}", text(&o));
        let rec = std::fs::read_to_string(&log).unwrap();
        let dumps = rec.lines().filter(|l| l.starts_with("dump ")).count();
        assert_eq!(dumps, 2, "{rec}");
        let states: Vec<&str> = rec.lines().filter(|l| l.starts_with("state ")).collect();
        assert_eq!(states.len(), 4, "{rec}");
        for s in &states {
            assert!(
                s.contains("FROZEN") || s.contains("frozen 1"),
                "a dump started while a member ran (--jobs {jobs}):\n{rec}"
            );
        }
        assert_eq!(
            rec.lines().filter(|l| l.starts_with("held ")).count(),
            4,
            "a member's network was not held (--jobs {jobs}):\n{rec}"
        );
        assert!(!is_frozen(&p.c("redis")) && !is_frozen(&p.c("app")), "left frozen");
    }
    assert_goes_on(&p, 0);
}

/// A member that cannot be checkpointed (it shares another's PID
/// namespace) makes the whole group refuse before anything is frozen: no
/// CRIU runs, nothing is kept, the others never stopped.
#[test]
fn a_member_that_cannot_be_checkpointed_refuses_the_group() {
    let p = Project::up(
        "pid",
        "  side:\n    image: docker-cr-test:busybox\n    pid: \"service:redis\"\n    command: [\"sleep\", \"3600\"]\n",
    );
    let ip = address(&p.c("redis"));
    wait_list(&ip, 20);
    let log = temp_dir("pid").join("log");
    std::fs::write(&log, "").unwrap();
    let env = recording_env(&p, &log);
    let criu = recording_criu();
    let dry = run_with(&p, &env, &["checkpoint", "--project", &p.name, "--dry-run"]);
    fails_with(&dry, 4, "shares its PID namespace");
    assert!(text(&dry).contains("would be refused"), "{}", text(&dry));
    let o = run_with(&p, &env, &["--criu", criu.to_str().unwrap(), "checkpoint", "--project", &p.name]);
    fails_with(&o, 4, "shares its PID namespace");
    assert!(text(&o).contains(&p.c("side")) && text(&o).contains("nothing was frozen"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "", "CRIU ran");
    assert!(!p.store.join(&p.name).exists() || std::fs::read_dir(p.store.join(&p.name)).unwrap().count() == 0);
    assert_goes_on(&p, 0);
}

/// A CRIU failure in one member's dump: every member thawed and running,
/// their networks released, no group in the store, CRIU's log kept.
#[test]
fn a_failed_dump_leaves_every_member_running_and_no_group() {
    let p = Project::up("fail", "");
    let ip = address(&p.c("redis"));
    wait_list(&ip, 20);
    let log = temp_dir("fail").join("log");
    std::fs::write(&log, "").unwrap();
    let mut env = recording_env(&p, &log);
    env.push(("DCR_TEST_FAIL".into(), format!(".{}.partial", p.c("app"))));
    let criu = recording_criu();
    let o = run_with(&p, &env, &["--criu", criu.to_str().unwrap(), "checkpoint", "--project", &p.name, "kept"]);
    fails_with(&o, 1, "criu dump failed");
    assert!(text(&o).contains("every member was thawed"), "{}", text(&o));
    assert!(!p.store.join(&p.name).join("kept").exists(), "a partial group is visible");
    assert!(!p.store.join(&p.name).join(".kept.partial").exists());
    let failed = p.store.join(&p.name).join("kept.failed").join(format!("{}.failed", p.c("app"))).join("criu-dump.log");
    assert!(std::fs::read_to_string(&failed).unwrap().contains("this member fails"), "{}", failed.display());
    assert_eq!(stdout(&ok(p.cr(&["ls", "-q"]))), "", "no group in the store");
    for m in [p.c("redis"), p.c("app")] {
        assert!(!is_frozen(&m), "{m} left frozen");
        assert_eq!(inspect(&m, "{{.State.Running}} {{.State.Paused}}"), "true false");
        let pid = inspect(&network_owner(&m), "{{.State.Pid}}");
        let held = Command::new("nsenter")
            .args(["-t", &pid, "-n", "nft", "list", "table", "inet", "CRIU-docker-cr-group"])
            .bounded();
        assert!(!held.status.success(), "{m}'s network is still held");
    }
    assert_goes_on(&p, 0);
}

/// One archive for the group (checkpoint --project --export), its volumes
/// in it: after `docker-compose down -v` (volumes gone too), restore
/// --import --project brings back the network, the volume with its data
/// and Compose's labels, and both members with their connection; the
/// archive's layout is the pod layout, a member's part one checkpoint's.
#[test]
fn a_group_archive_carries_the_project() {
    let p = Project::up("arc", "");
    let (redis, app) = (p.c("redis"), p.c("app"));
    docker_ok(&["exec", &redis, "sh", "-c", "echo kept > /data/marker"]);
    let pre = wait_list(&address(&redis), 30).len();
    let file = p.dir.join("group.tar.zst");
    ok(p.cr(&["checkpoint", "--project", &p.name, "--export", file.to_str().unwrap()]));
    assert_eq!(crate::util::mode(&file), 0o600);
    let names: String = {
        let z = zstd::Decoder::new(std::fs::File::open(&file).unwrap()).unwrap();
        let mut ar = tar::Archive::new(z);
        ar.entries().unwrap().map(|e| format!("{}\n", e.unwrap().path().unwrap().display())).collect()
    };
    let first: Vec<&str> = names.lines().take(4).collect();
    assert_eq!(first, ["group.json", "group.sig", "pod.options", "pod.dump"], "{names}");
    for want in [
        format!("{redis}/manifest.json"),
        format!("{redis}/config.dump"),
        format!("{redis}/checkpoint/inventory.img"),
        format!("{app}/spec.dump"),
        format!("volumes/{}_data.tar", p.name),
    ] {
        assert!(names.lines().any(|l| l.trim_end_matches('/') == want), "{want} is not in the archive:\n{names}");
    }
    // A member's part is one checkpoint's archive: checkpointctl (the
    // reader of Podman's and CRI-O's) shows it, taken out on its own.
    let part = p.dir.join("redis-part.tar");
    {
        let z = zstd::Decoder::new(std::fs::File::open(&file).unwrap()).unwrap();
        let mut ar = tar::Archive::new(z);
        let mut out = tar::Builder::new(std::fs::File::create(&part).unwrap());
        let prefix = format!("{redis}/");
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().to_string();
            if let Some(rest) = path.strip_prefix(&prefix).filter(|r| !r.is_empty()) {
                let mut h = e.header().clone();
                out.append_data(&mut h, rest, &mut e).unwrap();
            }
        }
        out.finish().unwrap();
    }
    let ctl = "/usr/local/lib/docker-cr-tests/checkpointctl";
    let show =
        Command::new(ctl).args(["show", part.to_str().unwrap()]).output().expect("checkpointctl: run tests/setup-host");
    assert!(show.status.success() && text(&show).contains("docker-cr-test:redis"), "{}", text(&show));
    compose_ok(&p, &["down", "-v", "-t", "1"]);
    let vol = format!("{}_data", p.name);
    assert!(!docker(&["volume", "inspect", &vol]).status.success(), "down -v left the volume");
    let dry = ok(p.cr(&["restore", "--import", file.to_str().unwrap(), "--project", &p.name, "--dry-run"]));
    assert!(text(&dry).contains("would create and fill"), "{}", text(&dry));
    ok(p.cr(&["restore", "--import", file.to_str().unwrap(), "--project", &p.name]));
    let l = wait_list(&address(&redis), 1);
    assert!(l.len() >= pre, "the list went back");
    assert_goes_on(&p, l.len());
    assert_eq!(docker_ok(&["exec", &redis, "cat", "/data/marker"]), "kept", "the volume's data did not come back");
    let labels = docker_ok(&["volume", "inspect", "-f", "{{index .Labels \"com.docker.compose.project\"}}", &vol]);
    assert_eq!(labels, p.name, "the volume lost Compose's labels");
    assert!(compose_ok(&p, &["ps"]).contains(&app));
    // import FILE DIR gives the group directory back, restorable as such.
    let dir = p.dir.join("imported");
    ok(p.cr(&["import", file.to_str().unwrap(), dir.to_str().unwrap()]));
    assert!(dir.join("group.json").exists() && dir.join(&redis).join("manifest.json").exists());
    compose_ok(&p, &["down", "-t", "1"]);
    ok(p.cr(&["restore", "--group", &p.name, dir.to_str().unwrap()]));
    assert_goes_on(&p, 0);
    compose_ok(&p, &["down", "-v", "-t", "1"]);
    assert!(!docker(&["volume", "inspect", &vol]).status.success(), "down -v left the volume");
}
