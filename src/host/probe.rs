//! What the destination really gives a container's processes: a probe
//! process started by the engine with the same security settings, read
//! from the host. The settings alone do not say which seccomp program the
//! engine installs (Docker's default profile is a different program with
//! CAP_SYS_ADMIN, and differs between engine, runc and libseccomp
//! versions), which LSM label it gets, or how a userns-remap daemon maps
//! its ids; the probe's PID 1 shows all of it (`grants::Observed`).
//!
//! The probe is an image of one file, a 129-byte static x86_64 program
//! that calls pause(2) in a loop (no libc, no shell: it runs under any
//! profile that allows pause, and spins harmlessly under one that answers
//! it with an errno), imported untagged and removed afterwards, so it
//! neither depends on the checkpoint's image nor runs any of its code. Its
//! container has no network and no mounts but the engine's own. Its
//! filters are read with PTRACE_SECCOMP_GET_FILTER (as CRIU dumps them),
//! which needs CAP_SYS_ADMIN and a tracer outside seccomp: docker-cr runs
//! as root on the host.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::engine::docker::Engine;
use crate::error::{Error, Result};
use crate::model::creds::{self, Filter, Maps};
use crate::model::grants::Observed;

/// The probe's command name (its comm, at most 15 bytes).
pub const NAME: &str = "docker-cr-probe";
/// The label every probe container has, so a leftover can be found.
pub const LABEL: &str = "io.docker-cr.probe";
/// How long the engine may take to exec the probe after the start answer.
const EXEC_WAIT: Duration = Duration::from_secs(10);

/// The probe program: an ELF header, one PT_LOAD program header, then
/// `loop: mov eax, 34 (pause); syscall; jmp loop`. Pure.
pub fn elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const CODE: [u8; 9] = [0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];
    let total = (64 + 56 + CODE.len()) as u64;
    let mut e = Vec::with_capacity(total as usize);
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&(BASE + 64 + 56).to_le_bytes()); // e_entry
    e.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for h in [64u16, 56, 1, 64, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        e.extend_from_slice(&h.to_le_bytes());
    }
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // PF_R | PF_X
    for v in [0, BASE, BASE, total, total, 0x1000] {
        // p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
        e.extend_from_slice(&v.to_le_bytes());
    }
    e.extend_from_slice(&CODE);
    e
}

/// The probe image's root filesystem: the program alone. Pure.
pub fn rootfs_tar() -> Result<Vec<u8>> {
    let prog = elf();
    let mut h = tar::Header::new_gnu();
    h.set_size(prog.len() as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut h, NAME, prog.as_slice())
        .and_then(|()| b.into_inner())
        .map_err(|e| Error::host(format!("cannot build the probe image: {e}"), ""))
}

/// The HostConfig keys that decide a process's privileges; the probe gets
/// exactly these, nothing else (no binds, devices, network, ports).
pub const SECURITY_KEYS: [&str; 6] = ["Privileged", "CapAdd", "CapDrop", "SecurityOpt", "UsernsMode", "Runtime"];

/// The create body of a probe for a container whose HostConfig is `hc`,
/// on `image` (the probe image's ID). Pure.
pub fn body(hc: &Value, image: &str) -> Value {
    let mut h = Map::new();
    for k in SECURITY_KEYS {
        if let Some(v) = hc.get(k).filter(|v| !v.is_null()) {
            h.insert(k.into(), v.clone());
        }
    }
    h.insert("NetworkMode".into(), json!("none"));
    h.insert("Init".into(), json!(false));
    h.insert("AutoRemove".into(), json!(false));
    h.insert("RestartPolicy".into(), json!({"Name": "no"}));
    json!({
        "Image": image,
        "Entrypoint": [format!("/{NAME}")],
        "Cmd": [],
        "User": "0:0",
        "NetworkDisabled": true,
        "Labels": { LABEL: "1" },
        "Healthcheck": { "Test": ["NONE"] },
        "HostConfig": Value::Object(h),
    })
}

/// From /proc/PID/status: CapBnd, NoNewPrivs and the seccomp mode. Pure.
pub fn parse_status(text: &str) -> std::result::Result<(u64, bool, u32), String> {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(':')).map(str::trim))
            .ok_or_else(|| format!("no {k} line"))
    };
    let bnd = u64::from_str_radix(field("CapBnd")?, 16).map_err(|_| "CapBnd is not hex")?;
    let nnp = field("NoNewPrivs")? == "1";
    let mode = field("Seccomp")?.parse().map_err(|_| "Seccomp is not a number")?;
    Ok((bnd, nnp, mode))
}

/// A user namespace map that maps every id to itself: the host's.
fn identity(m: &[creds::Extent]) -> bool {
    matches!(m, [creds::Extent { first: 0, lower_first: 0, count: u32::MAX }])
}

const PTRACE_DETACH: libc::c_long = 17;
const PTRACE_SEIZE: libc::c_long = 0x4206;
const PTRACE_INTERRUPT: libc::c_long = 0x4207;
const PTRACE_SECCOMP_GET_FILTER: libc::c_long = 0x420c;
const PTRACE_SECCOMP_GET_METADATA: libc::c_long = 0x420d;

/// ptrace(2) through syscall(2): libc's wrapper is variadic and typed
/// differently by glibc and musl.
fn ptrace(req: libc::c_long, pid: i32, addr: usize, data: usize) -> std::io::Result<libc::c_long> {
    // SAFETY: the requests used here read into `data` at most the size the
    // kernel was told (a buffer of the length it reported, or a metadata
    // struct whose size is passed as `addr`).
    let r = unsafe { libc::syscall(libc::SYS_ptrace, req, pid as libc::c_long, addr, data) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Detaches on drop: a probe is never left stopped under docker-cr.
struct Traced(i32);

impl Drop for Traced {
    fn drop(&mut self) {
        let _ = ptrace(PTRACE_DETACH, self.0, 0, 0);
    }
}

/// The seccomp filters of process `pid` (host pid), newest first, with the
/// flags each was installed with: PTRACE_SEIZE, PTRACE_INTERRUPT, then
/// PTRACE_SECCOMP_GET_FILTER and _GET_METADATA per filter
/// (ptrace(2), seccomp(2)). Empty when it has none.
pub fn filters(pid: i32) -> Result<Vec<Filter>> {
    let fail = |what: &str, e: std::io::Error| {
        Error::host(
            format!("cannot read the seccomp filters of the probe (pid {pid}): {what}: {e}"),
            "docker-cr must run as root on the host, outside any seccomp filter (PTRACE_SECCOMP_GET_FILTER needs CAP_SYS_ADMIN)",
        )
    };
    ptrace(PTRACE_SEIZE, pid, 0, 0).map_err(|e| fail("PTRACE_SEIZE", e))?;
    let _t = Traced(pid);
    ptrace(PTRACE_INTERRUPT, pid, 0, 0).map_err(|e| fail("PTRACE_INTERRUPT", e))?;
    let mut status = 0;
    // SAFETY: waitpid writes one int into `status`.
    if unsafe { libc::waitpid(pid, &mut status, libc::__WALL) } != pid {
        return Err(fail("waitpid", std::io::Error::last_os_error()));
    }
    let mut out = Vec::new();
    for i in 0..creds::MAX_FILTERS {
        let n = match ptrace(PTRACE_SECCOMP_GET_FILTER, pid, i, 0) {
            Ok(n) => n as usize,
            // ENOENT: past the oldest; EINVAL: not in filter mode at all.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EINVAL)) => break,
            Err(e) => return Err(fail("PTRACE_SECCOMP_GET_FILTER", e)),
        };
        if n == 0 || n > creds::MAX_FILTER_INSNS {
            return Err(fail(
                "PTRACE_SECCOMP_GET_FILTER",
                std::io::Error::other(format!("a filter of {n} instructions")),
            ));
        }
        let mut prog = vec![0u8; n * 8];
        let got = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, i, prog.as_mut_ptr() as usize)
            .map_err(|e| fail("PTRACE_SECCOMP_GET_FILTER", e))?;
        prog.truncate(got as usize * 8);
        // struct seccomp_metadata { __u64 filter_off; __u64 flags; }
        let mut meta = [i as u64, 0u64];
        ptrace(PTRACE_SECCOMP_GET_METADATA, pid, std::mem::size_of_val(&meta), meta.as_mut_ptr() as usize)
            .map_err(|e| fail("PTRACE_SECCOMP_GET_METADATA", e))?;
        out.push(Filter { prog, flags: meta[1] as u32 });
    }
    Ok(out)
}

/// Everything `grants::Observed` holds, read from the probe `pid` (host
/// pid): /proc status, LSM label, user namespace maps, and the filters.
pub fn observe(pid: i32) -> Result<Observed> {
    let proc = Path::new("/proc").join(pid.to_string());
    let read = |n: &str| fs::read_to_string(proc.join(n));
    let status =
        read("status").map_err(|e| Error::host(format!("cannot read the probe's status (pid {pid}): {e}"), ""))?;
    let (cap_bnd, no_new_privs, _) =
        parse_status(&status).map_err(|e| Error::host(format!("the probe's /proc/{pid}/status: {e}"), ""))?;
    // No LSM: the read fails (EINVAL); the label is one line.
    let lsm = read("attr/current").ok().map(|l| l.trim_end_matches(['\n', '\0']).to_string()).filter(|l| !l.is_empty());
    let map = |n: &str| {
        read(n)
            .map_err(|e| e.to_string())
            .and_then(|t| creds::parse_map(&t))
            .map_err(|e| Error::host(format!("the probe's /proc/{pid}/{n}: {e}"), ""))
    };
    let (uid, gid) = (map("uid_map")?, map("gid_map")?);
    let userns = (!identity(&uid) || !identity(&gid)).then_some(Maps { uid, gid });
    Ok(Observed { cap_bnd, no_new_privs, filters: filters(pid)?, lsm, userns })
}

/// Removes the probe container and image when dropped.
struct Cleanup<'a> {
    engine: &'a Engine,
    container: Option<String>,
    image: Option<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            let _ = self.engine.remove_with_volumes(&c);
        }
        if let Some(i) = self.image.take() {
            let _ = self.engine.remove_image(&i);
        }
    }
}

/// Starts a probe with the security settings of `hc` (a create body's
/// HostConfig, after the policy) on `engine`, reads what it got, and
/// removes it. Takes a few engine calls; run it during the restore plan's
/// fact gathering, before anything of the restore is created.
pub fn run(engine: &Engine, hc: &Value) -> Result<Observed> {
    let step = |e: Error| e.step("probing what the new container's settings give its processes");
    let tar = rootfs_tar()?;
    let image = engine.import_image(&mut tar.as_slice()).map_err(step)?;
    let mut guard = Cleanup { engine, container: None, image: Some(image.clone()) };
    let name = format!("docker-cr-probe-{}-{}", std::process::id(), nanos());
    let id = engine.create(&name, &body(hc, &image)).map_err(step)?;
    guard.container = Some(id.clone());
    engine.start(&id).map_err(step)?;
    let deadline = Instant::now() + EXEC_WAIT;
    let pid = loop {
        let c = engine.inspect(&id).map_err(step)?.unwrap_or(Value::Null);
        let pid = c.pointer("/State/Pid").and_then(Value::as_i64).unwrap_or(0) as i32;
        if c.pointer("/State/Running") != Some(&Value::Bool(true)) {
            return Err(step(Error::host(
                format!(
                    "the probe container stopped (exit {}, {})",
                    c.pointer("/State/ExitCode").and_then(Value::as_i64).unwrap_or(-1),
                    c.pointer("/State/Error").and_then(Value::as_str).unwrap_or("")
                ),
                "its settings' seccomp profile may forbid pause(2); restore with --allow-host-access to skip the comparison is not offered: fix the profile",
            )));
        }
        // Until runc has exec'd the probe, PID 1 is runc's init, which may
        // not have its filter yet (no-new-privileges: installed last).
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if pid > 0 && comm.trim_end() == NAME {
            break pid;
        }
        if Instant::now() > deadline {
            return Err(step(Error::host("the probe did not start its program in time", "see the engine's log")));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let o = observe(pid).map_err(step)?;
    drop(guard);
    Ok(o)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    fn write_probe(dir: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("docker-cr-probe-{dir}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let p = d.join(NAME);
        fs::write(&p, elf()).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A spawned probe, killed however the test ends (a failed assertion
    /// must not leave it running, holding the test runner's stdout).
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn wait_comm(pid: i32) {
        for _ in 0..1000 {
            if fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim_end() == NAME {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the probe did not exec");
    }

    #[test]
    fn the_probe_program_sleeps_until_killed() {
        let p = write_probe("sleep");
        let mut c = Child(std::process::Command::new(&p).spawn().unwrap());
        let pid = c.0.id() as i32;
        wait_comm(pid);
        // Just after the exec it may still be running towards pause(2).
        let mut st = String::new();
        for _ in 0..1000 {
            st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            if st.contains(") S ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(st.contains(") S "), "sleeping in pause(2): {st}");
        assert_eq!(c.0.try_wait().unwrap(), None);
        // Not under seccomp: no filters, and it runs on after the reading.
        let o = observe(pid).unwrap();
        assert!(o.filters.is_empty());
        assert_eq!(o.userns, None);
        assert_eq!(c.0.try_wait().unwrap(), None, "detached, still running");
        drop(c);
        fs::remove_dir_all(p.parent().unwrap()).unwrap();
    }

    /// A process under a known filter: the program read back is the one
    /// installed, with its flags.
    #[test]
    fn reads_back_the_filter_a_process_runs_under() {
        let p = write_probe("filter");
        // ld [0] (nr); jeq 999, kill; ret ALLOW; ret KILL
        let prog: [u8; 32] = [
            0x20, 0, 0, 0, 0, 0, 0, 0, //
            0x15, 0, 1, 0, 0xe7, 0x03, 0, 0, //
            0x06, 0, 0, 0, 0, 0, 0xff, 0x7f, //
            0x06, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut cmd = std::process::Command::new(&p);
        // SAFETY: only async-signal-safe calls (prctl, syscall) between
        // fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let fprog = libc::sock_fprog { len: 4, filter: prog.as_ptr() as *mut libc::sock_filter };
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let log = 2; // SECCOMP_FILTER_FLAG_LOG
                for _ in 0..2 {
                    if libc::syscall(libc::SYS_seccomp, 1, log, &fprog as *const _) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let c = Child(cmd.spawn().unwrap());
        let pid = c.0.id() as i32;
        wait_comm(pid);
        let o = observe(pid).unwrap();
        assert!(o.no_new_privs);
        assert_eq!(o.filters.len(), 2);
        assert_eq!(o.filters[0].prog, prog);
        assert_eq!(o.filters[0].flags & 2, 2, "SECCOMP_FILTER_FLAG_LOG");
        drop(c);
        fs::remove_dir_all(p.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_probe_gets_only_the_security_settings() {
        let hc = json!({
            "CapAdd": ["SYS_ADMIN"], "SecurityOpt": ["no-new-privileges"], "Privileged": false,
            "Binds": ["/:/host"], "Devices": [{"PathOnHost": "/dev/sda"}], "NetworkMode": "host", "PidMode": "host",
            "PortBindings": {"80/tcp": [{"HostPort": "80"}]}, "UsernsMode": null
        });
        let b = body(&hc, "sha256:abc");
        let h = b["HostConfig"].as_object().unwrap();
        let mut keys: Vec<&str> = h.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["AutoRemove", "CapAdd", "Init", "NetworkMode", "Privileged", "RestartPolicy", "SecurityOpt"]);
        assert_eq!(h["NetworkMode"], "none");
        assert_eq!(b["Entrypoint"], json!(["/docker-cr-probe"]));
        assert_eq!(b["Labels"][LABEL], "1");
    }

    #[test]
    fn status_lines() {
        let t = "Name:\tx\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\nCapBnd:\t00000000a80425fb\n";
        assert_eq!(parse_status(t).unwrap(), (0xa804_25fb, true, 2));
        assert!(parse_status("CapBnd:\tzz\n").is_err());
        assert!(identity(&creds::parse_map("0 0 4294967295").unwrap()));
        assert!(!identity(&creds::parse_map("0 100000 65536").unwrap()));
        assert_eq!(elf().len(), 129);
        assert!(rootfs_tar().unwrap().len() >= 1024);
    }
}
