//! What a restore trusts (issue 7), end to end: checkpoints signed by this
//! host, by a trusted key, unsigned or tampered with; damaged or hostile
//! contents (page and core images, a rootfs diff that climbs out) refused
//! before anything is created; host access a checkpoint asks for granted
//! only on --allow-host-access; a checkpoint in a directory others can write.

use std::fs;
use std::path::Path;

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A damaged page image (CRIU would not notice a short one) is refused
/// before anything changes, with the file named.
#[test]
fn damaged_checkpoint_is_refused_before_any_change() {
    require_engine();
    let c = Counter::start("damaged", &[], 3);
    let name = c.name.clone();
    let dir = temp_dir("cp").join("damaged");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    let pages = image_file(&dir, "pages-");
    let len = fs::metadata(&pages).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&pages).unwrap();
    f.set_len(len / 2).unwrap();
    let o = dcr(&["restore", &name, s(&dir)]);
    fails_with(
        &o,
        5,
        &format!("{} has {} bytes; the manifest says {len}", pages.strip_prefix(&dir).unwrap().display(), len / 2),
    );
    assert!(!exists(&name), "a container was created for a damaged checkpoint");
    // Same size, flipped bytes: the checksum catches it.
    f.set_len(len).unwrap();
    let o = dcr(&["restore", &name, s(&dir)]);
    fails_with(&o, 5, "does not match its digest");
    assert!(!exists(&name));
}

/// A checkpoint handed over by someone else whose file changes climb out of
/// the container root: refused, nothing written outside, no container left.
#[test]
fn hostile_rootfs_diff_is_refused() {
    require_engine();
    let name = unique("hostile");
    let _c = Container(name.clone());
    docker_ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "1000"]);
    let dir = temp_dir("cp").join("hostile");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    let victim = temp_dir("victim").join("pwned");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(5);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    let evil = format!("../../../../../../../../..{}", victim.display());
    h.as_old_mut().name[..evil.len()].copy_from_slice(evil.as_bytes());
    h.set_cksum();
    b.append(&h, &b"owned"[..]).unwrap();
    reseal(&dir, "rootfs-diff.tar", &b.into_inner().unwrap());
    let o = dcr(&["restore", "--trust", &name, s(&dir)]);
    fails_with(&o, 5, "leaves the container root");
    assert!(!victim.exists(), "the archive wrote outside the container");
    assert!(!exists(&name), "a container was left behind");
}

/// Issue 17: what CRIU would restore as the processes' privileges is read
/// from the images before anything is created; a core image that cannot be
/// read is refused then (exit 5), not by CRIU once the container exists.
#[test]
fn damaged_core_image_is_refused_before_anything() {
    require_engine();
    let c = Counter::start("badcore", &[], 3);
    let name = c.name.clone();
    let dir = temp_dir("cp").join("badcore");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    let core = image_file(&dir, "core-");
    let file = core.file_name().unwrap().to_string_lossy().into_owned();
    reseal(&dir, &format!("checkpoint/{file}"), b"garbage");
    for dry in [true, false] {
        let args: &[&str] = if dry {
            &["restore", "--dry-run", "--trust", &name, s(&dir)]
        } else {
            &["restore", "--trust", &name, s(&dir)]
        };
        let o = dcr(args);
        fails_with(&o, 5, "cannot tell what the checkpoint's processes would hold once restored");
        assert!(text(&o).contains(&file) && text(&o).contains("nothing was created"), "{}", text(&o));
        assert!(!exists(&name), "a container was created");
    }
}

/// Provenance (issue 7): a checkpoint made here restores with no flag (the
/// README workflow); one that is unsigned or signed by another host's key is
/// refused, nothing created, until the operator trusts it; a signed one that
/// was changed is refused whatever the operator says.
#[test]
fn unsigned_foreign_and_tampered_checkpoints() {
    require_engine();
    let c = Counter::start("trust", &[], 3);
    let name = c.name.clone();
    let base = temp_dir("trust");
    // Host "A" is a key directory of its own: its checkpoints are foreign here.
    let host_a = base.join("keys-a");
    let dir = base.join("cp");
    let o =
        std::process::Command::new(bin()).env("DOCKER_CR_KEYS", &host_a).args(["checkpoint", &name, s(&dir)]).bounded();
    let o = ok(o);
    assert_eq!(mode(&host_a.join("host.key")) & 0o777, 0o600, "{}", text(&o));
    docker_ok(&["rm", "-f", &name]);

    let clone = format!("{name}-x");
    let o = dcr(&["restore", "--name", &clone, &name, s(&dir)]);
    fails_with(&o, 5, "which this host does not trust");
    assert!(text(&o).contains("docker-cr key trust"), "{}", text(&o));
    assert!(!exists(&clone) && !exists(&name), "a container was created for an untrusted checkpoint");

    // Trusted for one restore by its public key.
    ok(dcr(&["restore", "--trust-key", s(&host_a.join("host.pub")), &name, s(&dir)]));
    assert_continues(c.port, &c.token, c.count);
    docker_ok(&["rm", "-f", &name]);

    // Trusted for good with one command, on a host with its own key dir.
    let host_b = base.join("keys-b");
    let show = std::process::Command::new(bin()).env("DOCKER_CR_KEYS", &host_a).args(["key", "show"]).bounded();
    let line = String::from_utf8(ok(show).stdout).unwrap();
    assert!(line.starts_with("docker-cr-ed25519 "), "{line}");
    let mut trust = std::process::Command::new(bin())
        .env("DOCKER_CR_KEYS", &host_b)
        .args(["key", "trust", "--name", "host-a", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    trust.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    assert!(trust.wait().unwrap().success());
    assert!(host_b.join("trusted-keys/host-a.pub").exists());
    let o =
        std::process::Command::new(bin()).env("DOCKER_CR_KEYS", &host_b).args(["restore", &name, s(&dir)]).bounded();
    let o = ok(o);
    assert!(text(&o).contains("signed by trusted key"), "{}", text(&o));
    assert_continues(c.port, &c.token, c.count);
    docker_ok(&["rm", "-f", &name]);

    // Tampered: container.json changed and the digests redone, the
    // signature kept. Refused even with the key trusted, and with --trust.
    let saved = fs::read(dir.join("container.json")).unwrap();
    let mut edited = saved.clone();
    edited.extend_from_slice(b" ");
    reseal_keep_signature(&dir, "container.json", &edited);
    let a_pub = host_a.join("host.pub");
    for extra in [&[][..], &["--trust"][..]] {
        let mut args = vec!["restore"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--trust-key", s(&a_pub), &name, s(&dir)]);
        let o = dcr(&args);
        fails_with(&o, 5, "the checkpoint's signature does not hold");
        assert!(!exists(&name));
    }
    // Unsigned (the signature removed): refused, then restored on --trust.
    reseal(&dir, "container.json", &saved);
    let o = dcr(&["restore", "--trust-key", s(&host_a.join("host.pub")), &name, s(&dir)]);
    fails_with(&o, 5, "is not signed");
    assert!(!exists(&name));
    let o = ok(dcr(&["restore", "--trust", &name, s(&dir)]));
    assert!(text(&o).contains("warning: an unsigned checkpoint restored on the operator's word"), "{}", text(&o));
    assert_continues(c.port, &c.token, c.count);
}

/// Least privilege (issue 7): an edited checkpoint that asks for privileged
/// mode, the host's root and the host's PID namespace is refused with the
/// list, and nothing is created; with --allow-host-access what it asks for
/// is granted.
#[test]
fn host_access_asked_by_a_checkpoint_needs_the_operators_word() {
    require_engine();
    let c = Counter::start("grant", &[], 3);
    let name = c.name.clone();
    let dir = temp_dir("cp").join("grant");
    ok(dcr(&["checkpoint", &name, s(&dir)]));
    docker_ok(&["rm", "-f", &name]);
    let pristine = fs::read(dir.join("container.json")).unwrap();
    edit_container_json(&dir, |c| {
        c["HostConfig"]["Privileged"] = true.into();
        c["HostConfig"]["Binds"] = serde_json::json!(["/:/host"]);
        c["HostConfig"]["PidMode"] = "host".into();
        c["HostConfig"]["CapAdd"] = serde_json::json!(["ALL"]);
    });
    let o = dcr(&["restore", "--trust", &name, s(&dir)]);
    fails_with(&o, 5, "the checkpoint asks for host access that docker-cr does not grant on its own");
    for want in [
        "privileged mode",
        "host paths /:/host",
        "the PID namespace of host",
        "added capabilities ALL",
        "--allow-host-access",
    ] {
        assert!(text(&o).contains(want), "{want:?} not in:\n{}", text(&o));
    }
    assert!(!exists(&name), "a container was created");

    // Granted on the operator's word: a host path and a capability (what
    // CRIU can restore into; the processes keep the capabilities they had).
    let host_dir = temp_dir("granted");
    reseal(&dir, "container.json", &pristine);
    edit_container_json(&dir, |c| {
        c["HostConfig"]["Binds"] = serde_json::json!([format!("{}:/granted:ro", host_dir.display())]);
        c["HostConfig"]["CapAdd"] = serde_json::json!(["SYS_PTRACE"]);
    });
    fails_with(&dcr(&["restore", "--trust", &name, s(&dir)]), 5, "added capabilities SYS_PTRACE");
    assert!(!exists(&name));
    let o = ok(dcr(&["restore", "--trust", "--allow-host-access", &name, s(&dir)]));
    assert!(text(&o).contains("granted (--allow-host-access): added capabilities SYS_PTRACE"), "{}", text(&o));
    assert_continues(c.port, &c.token, c.count);
    assert_eq!(inspect(&name, "{{.HostConfig.CapAdd}}"), "[SYS_PTRACE]");
    // Granted in the container's configuration (the restored processes keep
    // the mount namespace CRIU saved, so they do not see the new bind).
    assert_eq!(inspect(&name, "{{.HostConfig.Binds}}"), format!("[{}:/granted:ro]", host_dir.display()));
}

/// A checkpoint written where someone other than root may create and rename
/// files (issue 7, finding 12): docker-cr and CRIU write through a
/// descriptor of the directory docker-cr created, so the checkpoint is whole;
/// restore refuses it there (it could be changed after its verification)
/// until only root can change it.
#[test]
fn checkpoint_in_a_directory_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    require_engine();
    let c = Counter::start("exposed", &[], 3);
    let name = c.name.clone();
    let open = temp_dir("exposed");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let dir = open.join("cp");
    let o = ok(dcr(&["checkpoint", &name, s(&dir)]));
    assert_eq!(mode(&dir), 0o700, "{}", text(&o));
    assert!(fs::read_to_string(dir.join("criu-dump.log")).unwrap().contains("Dumping finished successfully"));
    let conf = fs::read_to_string(dir.join("criu-dump.conf")).unwrap();
    assert!(conf.lines().any(|l| l.starts_with("images-dir /proc/") && l.ends_with("/checkpoint")), "{conf}");
    docker_ok(&["rm", "-f", &name]);
    let o = dcr(&["restore", &name, s(&dir)]);
    fails_with(&o, 5, "is writable by others (mode 777)");
    assert!(text(&o).contains("chmod go-w"), "{}", text(&o));
    assert!(!exists(&name));
    fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
    ok(dcr(&["restore", &name, s(&dir)]));
    assert_continues(c.port, &c.token, c.count);
}

// Security review P1: an unsigned checkpoint restored on --trust names the
// container it goes into; restoring into an existing stopped one keeps
// that container's settings, so they go through the policy first.
#[test]
fn trust_alone_does_not_restore_into_a_container_with_host_access() {
    require_engine();
    let name = unique("sec-same");
    let _g = Container(name.clone());
    let port = free_port();
    let token = start_counter(&name, port, &["--cap-add", "SYS_ADMIN"]);
    let (_, n) = wait_count(port, 5);
    let dir = temp_dir("sec-same").join("cp");
    ok(dcr(&["checkpoint", "--stop", &name, s(&dir)]));
    assert_eq!(inspect(&name, "{{.State.Running}}"), "false");
    fs::remove_file(dir.join("manifest.sig")).unwrap();
    let replace = restore_will_replace(&name);
    let o = dcr(&["restore", "--trust", &name, s(&dir)]);
    if replace {
        // Docker >= 28 restores into a new container made from the
        // checkpoint's settings: the policy refuses those (the same ones).
        fails_with(&o, 5, "asks for host access that docker-cr does not grant");
        assert!(!exists(&format!("{name}-docker-cr-replaced")), "the container stayed renamed aside");
    } else {
        fails_with(&o, 4, &format!("the existing container {name} has "));
    }
    assert!(text(&o).contains("--allow-host-access"), "{}", text(&o));
    assert_eq!(inspect(&name, "{{.State.Running}}"), "false", "nothing was restored");
    ok(dcr(&["restore", "--trust", "--allow-host-access", &name, s(&dir)]));
    assert_continues(port, &token, n);
}
