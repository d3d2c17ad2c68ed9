//! `restore --dry-run`: the plan of the restore, with the real run's exit
//! status and every refusal it would make, and nothing changed: no
//! container, no volume, no file in the store, no lock.

use std::path::Path;

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What a restore of `name` could change: the engine's containers of that
/// name (a copy, a holder), the store's files (the test's own store), and
/// docker-cr's lock files (other tests run beside this one: only what
/// this test's restore would make is looked at).
fn host_state(store: &Path, name: &str) -> String {
    let ls = |p: &Path| {
        let mut v: Vec<String> = walk(p);
        v.sort();
        v.join(",")
    };
    let locks: Vec<String> = std::fs::read_dir("/run/docker-cr")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let ids = docker_ok(&["ps", "-a", "--filter", &format!("name={name}"), "--format", "{{.ID}}"]);
    let mine: Vec<&String> = locks.iter().filter(|l| ids.lines().any(|id| l.starts_with(id))).collect();
    format!(
        "containers: {}\nstore: {}\nlocks: {mine:?}\n",
        docker_ok(&["ps", "-a", "--filter", &format!("name={name}"), "--format", "{{.Names}} {{.State}}"]),
        ls(store)
    )
}

/// Every path below `dir`, relative.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p).into_iter().map(|s| format!("{}/{s}", e.file_name().to_string_lossy())));
        }
    }
    out
}

fn run_in(store: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .env("DOCKER_CR_STORE", store)
        .stdin(std::process::Stdio::null())
        .bounded()
}

// A clean restore after docker rm: the plan says a new container is made,
// exit 0, nothing changes; the real restore then goes through.
#[test]
fn dry_run_of_a_clean_restore_changes_nothing() {
    require_engine();
    let store = temp_dir("store");
    let c = Counter::start("dry", &[], 5);
    let name = c.name.clone();
    ok(run_in(&store, &["checkpoint", &name, "before"]));
    docker_ok(&["rm", "-f", &name]);
    let before = host_state(&store, &name);
    let o = ok(run_in(&store, &["restore", "--dry-run", &name, "before"]));
    let t = text(&o);
    assert!(t.contains(&format!("a new container {name}, created from the saved configuration")), "{t}");
    assert!(t.contains("signed by trusted key") && t.contains("would restore"), "{t}");
    assert!(t.contains("image") && t.contains("docker-cr-test:busybox"), "{t}");
    assert_eq!(host_state(&store, &name), before, "the dry run changed something");
    assert!(!exists(&name));
    let j = ok(run_in(&store, &["restore", "--dry-run", "--format", "json", &format!("{name}/before")]));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).expect("the plan as JSON");
    assert_eq!(v["would_restore"], true, "{v}");
    assert_eq!(v["target"], "create", "{v}");
    assert_eq!(v["create"]["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], c.port.to_string(), "{v}");
    assert_eq!(host_state(&store, &name), before);
    ok(run_in(&store, &["restore", &name, "before"]));
    assert_continues(c.port, &c.token, c.count);
    let _ = std::fs::remove_dir_all(&store);
}

// Refusals: a name taken (exit 4), host access asked for by a checkpoint
// the operator restores on his word (exit 5): the dry run prints them with
// the real run's exit status, and the real run refuses the same way.
#[test]
fn dry_run_reports_the_refusals_with_the_real_status() {
    require_engine();
    let store = temp_dir("store");
    let host = temp_dir("hostdir");
    let bind = format!("{}:/data", host.display());
    let c = Counter::start("dryref", &["-v", &bind], 5);
    let name = c.name.clone();
    let dir = temp_dir("cp").join("dryref");
    ok(run_in(&store, &["checkpoint", &name, s(&dir)]));
    // A taken name: the running original.
    let o = run_in(&store, &["restore", "--dry-run", "--name", &name, &name, s(&dir)]);
    fails_with(&o, 4, &format!("container {name} is running"));
    assert!(text(&o).contains("would be refused"), "{}", text(&o));
    fails_with(
        &run_in(&store, &["restore", "--name", &name, &name, s(&dir)]),
        4,
        &format!("container {name} is running"),
    );
    // Unsigned (as another tool's would be): restored on the operator's
    // word, the bind mount is host access the policy refuses.
    std::fs::remove_file(dir.join("manifest.sig")).unwrap();
    let clone = format!("{name}-copy");
    let _g = Container(clone.clone());
    let before = host_state(&store, &name);
    let env = [("DOCKER_CR_STORE", store.as_os_str())];
    let (o, pid) = dcr_env_pid(
        &["restore", "--dry-run", "--trust", "--name", &clone, "-p", "127.0.0.1::80", &name, s(&dir)],
        &env,
    );
    fails_with(&o, 5, "asks for host access");
    assert_eq!(probes_left(pid), Vec::<String>::new(), "the dry run's probe was left");
    let t = text(&o);
    assert!(t.contains(&format!("host paths {bind}")) && t.contains("unsigned"), "{t}");
    assert_eq!(host_state(&store, &name), before, "the dry run changed something");
    fails_with(
        &run_in(&store, &["restore", "--trust", "--name", &clone, "-p", "127.0.0.1::80", &name, s(&dir)]),
        5,
        "asks for host access",
    );
    assert_eq!(host_state(&store, &name), before, "the refused restore changed something");
    // With the grant the plan goes through, and says what it grants.
    let o = ok(run_in(
        &store,
        &[
            "restore",
            "--dry-run",
            "--trust",
            "--allow-host-access",
            "--name",
            &clone,
            "-p",
            "127.0.0.1::80",
            &name,
            s(&dir),
        ],
    ));
    assert!(text(&o).contains("(granted: --allow-host-access)") && text(&o).contains("would restore"), "{}", text(&o));
    assert!(!exists(&clone));
    // Untrusted and no --trust: refused before any plan, as the real run.
    let o = run_in(&store, &["restore", "--dry-run", "--name", &clone, &name, s(&dir)]);
    fails_with(&o, 5, "is not signed");
    assert_eq!(host_state(&store, &name), before);
    let _ = std::fs::remove_dir_all(&store);
}

// checkpoint --dry-run: the plan, nothing frozen (the counter never stops),
// no directory; the real run's refusals with its exit status.
#[test]
fn dry_run_of_a_checkpoint_freezes_nothing() {
    require_engine();
    let store = temp_dir("store");
    let c = Counter::start("drycp", &[], 5);
    let name = c.name.clone();
    let before = host_state(&store, &name);
    let o = ok(run_in(&store, &["checkpoint", "--dry-run", "--stop", &name, "first"]));
    let t = text(&o);
    assert!(t.contains(&format!("checkpoint of {name} (")) && t.contains(&format!("{name}/first")), "{t}");
    assert!(t.contains("freeze ") && t.contains("killed") && t.contains("would checkpoint"), "{t}");
    assert!(!t.contains("froze "), "it froze:\n{t}");
    assert_eq!(host_state(&store, &name), before, "the dry run changed something");
    assert_eq!(inspect(&name, "{{.State.Running}} {{.State.Paused}}"), "true false");
    assert_continues(c.port, &c.token, c.count);
    let j = ok(run_in(&store, &["checkpoint", "--dry-run", "--format", "json", &name]));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(
        (v["would_checkpoint"].clone(), v["stop"].clone()),
        (serde_json::json!(true), serde_json::json!(false)),
        "{v}"
    );
    // A directory that exists: exit 5, as the real run.
    let dir = temp_dir("exists");
    fails_with(&run_in(&store, &["checkpoint", "--dry-run", &name, s(&dir)]), 5, "already exists");
    fails_with(&run_in(&store, &["checkpoint", &name, s(&dir)]), 5, "already exists");
    // A stopped container: exit 4.
    docker_ok(&["stop", "-t", "0", &name]);
    fails_with(&run_in(&store, &["checkpoint", "--dry-run", &name]), 4, "is not running");
    fails_with(&run_in(&store, &["checkpoint", &name]), 4, "is not running");
    assert_eq!(walk(&store), Vec::<String>::new(), "nothing in the store");
    let _ = std::fs::remove_dir_all(&store);
}

// migrate --dry-run: the checkpoint's plan and the destination's command;
// nothing runs there (the transport here would fail if it were run).
#[test]
fn dry_run_of_a_migration_contacts_no_one() {
    require_engine();
    let store = temp_dir("store");
    let c = Counter::start("drymig", &[], 5);
    let o = ok(run_in(
        &store,
        &["migrate", "--dry-run", "--transport", "/nonexistent/transport -x", "--name", "moved", &c.name, "hostb"],
    ));
    let t = text(&o);
    assert!(t.contains("/nonexistent/transport -x hostb docker-cr restore --import - --name moved"), "{t}");
    assert!(t.contains("killed") && t.contains("is not contacted"), "{t}");
    let j = ok(run_in(
        &store,
        &["migrate", "--dry-run", "--format", "json", "--transport", "/nonexistent/transport", &c.name, "hostb"],
    ));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).expect("the plan as JSON");
    assert_eq!((v["destination"].as_str(), v["checkpoint"]["stop"].as_bool()), (Some("hostb"), Some(true)), "{v}");
    assert_eq!(v["command"][0], "/nonexistent/transport", "{v}");
    assert_eq!(inspect(&c.name, "{{.State.Running}}"), "true");
    assert_continues(c.port, &c.token, c.count);
    let _ = std::fs::remove_dir_all(&store);
}
