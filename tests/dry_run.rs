//! `restore --dry-run`: the plan of the restore, with the real run's exit
//! status and every refusal it would make, and nothing changed: no
//! container, no volume, no file in the store, no lock.

use std::path::Path;

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What a restore could change: the engine's containers and volumes, the
/// store's files, docker-cr's locks and runc.conf.
fn host_state(store: &Path) -> String {
    let ls = |p: &str| {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v.join(",")
    };
    format!(
        "containers: {}\nvolumes: {}\nstore: {}\nlocks: {}\nrunc.conf: {:?}\n",
        docker_ok(&["ps", "-a", "--format", "{{.Names}}"]),
        docker_ok(&["volume", "ls", "-q"]),
        ls(store.to_str().unwrap()),
        ls("/run/docker-cr"),
        std::fs::read_to_string("/etc/criu/runc.conf").ok()
    )
}

fn run_in(store: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .env("DOCKER_CR_STORE", store)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
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
    let before = host_state(&store);
    let o = ok(run_in(&store, &["restore", "--dry-run", &name, "before"]));
    let t = text(&o);
    assert!(t.contains(&format!("a new container {name}, created from the saved configuration")), "{t}");
    assert!(t.contains("signed by trusted key") && t.contains("would restore"), "{t}");
    assert!(t.contains("image") && t.contains("docker-cr-test:busybox"), "{t}");
    assert_eq!(host_state(&store), before, "the dry run changed something");
    assert!(!exists(&name));
    let j = ok(run_in(&store, &["restore", "--dry-run", "--format", "json", &format!("{name}/before")]));
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).expect("the plan as JSON");
    assert_eq!(v["would_restore"], true, "{v}");
    assert_eq!(v["target"], "create", "{v}");
    assert_eq!(v["create"]["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"], c.port.to_string(), "{v}");
    assert_eq!(host_state(&store), before);
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
    let before = host_state(&store);
    let o =
        run_in(&store, &["restore", "--dry-run", "--trust", "--name", &clone, "-p", "127.0.0.1::80", &name, s(&dir)]);
    fails_with(&o, 5, "asks for host access");
    let t = text(&o);
    assert!(t.contains(&format!("host paths {bind}")) && t.contains("unsigned"), "{t}");
    assert_eq!(host_state(&store), before, "the dry run changed something");
    fails_with(
        &run_in(&store, &["restore", "--trust", "--name", &clone, "-p", "127.0.0.1::80", &name, s(&dir)]),
        5,
        "asks for host access",
    );
    assert_eq!(host_state(&store), before, "the refused restore changed something");
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
    assert_eq!(host_state(&store), before);
    let _ = std::fs::remove_dir_all(&store);
}
