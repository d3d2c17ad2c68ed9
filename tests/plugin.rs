//! docker-cr as a Docker CLI plugin, driven through the real docker CLIs on
//! this machine (the 28.x client in /usr/local/bin and Debian's 20.10 in
//! /usr/bin), and its shell completion scripts run by real shells (issue 11).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The docker CLIs the plugin is tested with: both must be there.
fn clis() -> [&'static str; 2] {
    let clis = ["/usr/local/bin/docker", "/usr/bin/docker"];
    for c in clis {
        assert!(
            Path::new(c).exists(),
            "{c} is missing: run tests/setup-host (the 28.x client ships with the machine, docker.io brings 20.10)"
        );
    }
    clis
}

/// A docker CLI configuration directory with docker-cr installed as its plugin.
fn plugin_home() -> PathBuf {
    let cfg = temp_dir("dockercfg");
    let o = Command::new(bin()).env("DOCKER_CONFIG", &cfg).args(["install-plugin", "--user"]).bounded();
    ok(o);
    assert_eq!(std::fs::read_link(cfg.join("cli-plugins/docker-cr")).unwrap(), PathBuf::from(bin()));
    cfg
}

fn docker_cli(cli: &str, cfg: &Path) -> Command {
    let mut c = Command::new(cli);
    c.env("DOCKER_CONFIG", cfg);
    c
}

fn run(mut c: Command) -> Output {
    c.stdin(std::process::Stdio::null()).bounded()
}

fn engine_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

#[test]
fn the_docker_cli_lists_and_runs_the_plugin() {
    let cfg = plugin_home();
    for cli in clis() {
        let o = ok(run({
            let mut c = docker_cli(cli, &cfg);
            c.arg("--help");
            c
        }));
        assert!(
            text(&o).lines().any(|l| l.trim_start().starts_with("cr") && l.contains("CRIU")),
            "{cli}:\n{}",
            text(&o)
        );
        let o = ok(run({
            let mut c = docker_cli(cli, &cfg);
            c.args(["cr", "--help"]);
            c
        }));
        assert!(text(&o).contains("docker cr checkpoint [OPTIONS]"), "{cli}:\n{}", text(&o));
    }
    let meta = ok(dcr(&["docker-cli-plugin-metadata"]));
    let v: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    assert_eq!(v["SchemaVersion"], "0.1.0");
}

/// `docker --context X cr checkpoint` with the 28.x CLI and a context made
/// here, `docker -H … cr restore` with the 20.10 CLI: the counter goes on.
#[test]
fn checkpoint_and_restore_through_the_docker_cli() {
    require_engine();
    let [new_cli, old_cli] = clis();
    let cfg = plugin_home();
    let ctx = unique("ctx");
    ok(run({
        let mut c = docker_cli(new_cli, &cfg);
        c.env_remove("DOCKER_HOST").args(["context", "create", &ctx, "--docker", &format!("host={}", engine_host())]);
        c
    }));
    let c = Counter::start("plug", &[], 5);
    let dir = temp_dir("cp").join("plug");
    // With DOCKER_HOST pointing elsewhere: the context given on the command line wins, as for docker.
    let o = ok(run({
        let mut cmd = docker_cli(new_cli, &cfg);
        cmd.env("DOCKER_HOST", "unix:///nonexistent.sock").args([
            "--context",
            &ctx,
            "cr",
            "checkpoint",
            &c.name,
            s(&dir),
        ]);
        cmd
    }));
    assert!(dir.join("manifest.json").exists(), "{}", text(&o));
    docker_ok(&["rm", "-f", &c.name]);
    ok(run({
        let mut cmd = docker_cli(old_cli, &cfg);
        cmd.env_remove("DOCKER_HOST").args(["-H", &engine_host(), "cr", "restore", &c.name, s(&dir)]);
        cmd
    }));
    assert_continues(c.port, &c.token, c.count);
    // Into the store and listed, through the plugin, with docker's kind of --format.
    let store = temp_dir("store").join("s");
    let through = |args: &[&str]| {
        let mut cmd = docker_cli(new_cli, &cfg);
        cmd.env("DOCKER_CR_STORE", &store).args(["--context", &ctx, "cr"]).args(args);
        ok(run(cmd))
    };
    through(&["checkpoint", &c.name]);
    let listed =
        String::from_utf8(through(&["ls", "--format", "{{.Container}}/{{.Name}} {{.Restorable}}"]).stdout).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    assert!(lines[0].starts_with(&format!("{}/", c.name)) && lines[0].ends_with(" true"), "{listed}");
    let reference = String::from_utf8(through(&["ls", "-q"]).stdout).unwrap();
    assert_eq!(reference.trim(), lines[0].trim_end_matches(" true"));
    let who =
        String::from_utf8(through(&["inspect", "--format", "{{.Container.Name}}", reference.trim()]).stdout).unwrap();
    assert_eq!(who.trim(), c.name);
    // A context docker-cr cannot use is said so.
    let far = unique("far");
    ok(run({
        let mut c = docker_cli(new_cli, &cfg);
        c.args(["context", "create", &far, "--docker", "host=tcp://127.0.0.1:1"]);
        c
    }));
    let o = run({
        let mut cmd = docker_cli(new_cli, &cfg);
        cmd.args(["--context", &far, "cr", "checkpoint", &c.name, s(&dir.with_file_name("far"))]);
        cmd
    });
    fails_with(&o, 3, "points at tcp://127.0.0.1:1, which docker-cr cannot use");
}

/// Ctrl-C at the docker CLI while the container is frozen: the CLI closes
/// the plugin's socket (only the CLI gets the signal here), docker-cr rolls
/// back: the container runs, nothing is left frozen or half written.
#[test]
fn ctrl_c_through_the_docker_cli_rolls_back() {
    require_engine();
    let [new_cli, _] = clis();
    let cfg = plugin_home();
    let name = unique("plugint");
    let _c = Container(name.clone());
    let port = start_big_redis(&name, 256);
    let dir = temp_dir("cp").join("int");
    let mut cmd = docker_cli(new_cli, &cfg);
    cmd.args(["cr", "checkpoint", &name, s(&dir)]);
    let (child, _) = spawn_cmd_until(cmd, "froze");
    // SAFETY: kill(2) on the docker CLI we spawned, not its process group.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "docker-cr's exit status for a rollback on Ctrl-C: {o:?}");
    assert_eq!(inspect(&name, "{{.State.Running}} {{.State.Paused}}"), "true false");
    wait_redis(port);
    assert_eq!(redis(port, &["DBSIZE"]), Some(":256".into()));
    assert!(!dir.exists() && !dir.with_file_name(".int.partial").exists());
}

/// The completion scripts, run by real shells; and the docker CLI's own
/// completion, which asks the plugin.
#[test]
fn completion_scripts_complete_commands_options_and_containers() {
    require_engine();
    let name = unique("compl");
    let _c = Container(name.clone());
    docker_ok(&["create", "--name", &name, IMAGE, "true"]);
    let prefix = &name[..name.len() - 1];
    let path = format!("{}:{}", Path::new(bin()).parent().unwrap().display(), std::env::var("PATH").unwrap());
    let shell = |sh: &str, script: &str| {
        let o = Command::new(sh).arg("-c").arg(script).env("PATH", &path).bounded();
        assert!(o.status.success(), "{sh}: {}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let bash = shell(
        "bash",
        &format!(
            "source <(docker-cr completion bash); complete -p docker-cr
             COMP_WORDS=(docker-cr che); COMP_CWORD=1; _docker_cr; echo \"${{COMPREPLY[*]}}\"
             COMP_WORDS=(docker-cr restore --allow); COMP_CWORD=2; _docker_cr; echo \"${{COMPREPLY[*]}}\"
             COMP_WORDS=(docker-cr checkpoint {prefix}); COMP_CWORD=2; _docker_cr; echo \"${{COMPREPLY[*]}}\""
        ),
    );
    let lines: Vec<&str> = bash.lines().collect();
    assert_eq!(lines[0], "complete -F _docker_cr docker-cr");
    assert_eq!(lines[1], "checkpoint check");
    assert_eq!(lines[2], "--allow-host-access");
    assert!(lines[3].split(' ').any(|n| n == name), "{bash}");
    let fish = shell("fish", &format!("docker-cr completion fish | source; complete -C 'docker-cr che'; complete -C 'docker-cr checkpoint {prefix}'"));
    assert!(fish.lines().any(|l| l == "checkpoint") && fish.lines().any(|l| l == name), "{fish}");
    // zsh's completion builtins need a terminal: stand-ins record what the
    // script asks of them.
    let zsh = shell(
        "zsh",
        &format!(
            "compdef() {{}}; compadd() {{ [[ $1 == -- ]] && shift; print -l -- \"$@\" }}; _files() {{ print FILES }}
             source <(docker-cr completion zsh)
             words=(docker-cr key ''); CURRENT=3; _docker_cr
             words=(docker-cr checkpoint {name} ''); CURRENT=4; _docker_cr"
        ),
    );
    assert_eq!(zsh.lines().collect::<Vec<_>>(), vec!["show", "list", "trust", "FILES"], "{zsh}");
    // `docker cr <TAB>`: the 28.x CLI (cobra) asks the plugin.
    let cfg = plugin_home();
    let o = ok(run({
        let mut c = docker_cli(clis()[0], &cfg);
        c.args(["__complete", "cr", "restore", "--trust"]);
        c
    }));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["--trust-key", "--trust", ":4"], "{}", text(&o));
}
