//! The binary's command line: help, version, usage errors, and the man page
//! staying true to --help.

use crate::util::*;

#[test]
fn help_lists_the_commands() {
    let o = ok(dcr(&["--help"]));
    let t = text(&o);
    assert!(t.contains("docker-cr checkpoint [OPTIONS] <container> [<name> | <checkpoint-dir>]"));
    assert!(t.contains("docker-cr restore    [OPTIONS] <container> [<name> | <checkpoint-dir>]"));
    for cmd in ["ls", "inspect", "rm", "prune"] {
        assert!(t.contains(&format!("docker-cr {cmd} ")), "--help lacks {cmd}");
        assert_eq!(text(&ok(dcr(&["help", cmd]))), text(&ok(dcr(&[cmd, "--help"]))));
    }
    assert_eq!(text(&ok(dcr(&["help", "checkpoint"]))), text(&ok(dcr(&["checkpoint", "--help"]))));
}

#[test]
fn version_names_the_commit() {
    let t = text(&ok(dcr(&["--version"])));
    assert!(t.starts_with(&format!("docker-cr {} (", env!("CARGO_PKG_VERSION"))), "{t}");
}

#[test]
fn usage_errors_exit_2() {
    fails_with(&dcr(&[]), 2, "missing command");
    fails_with(
        &dcr(&["checkpoint", "--bogus", "a", "b"]),
        2,
        "invalid option '--bogus'\nTry 'docker-cr checkpoint --help'.",
    );
    fails_with(&dcr(&["restore"]), 2, "missing <container> (or --all)");
    fails_with(&dcr(&["prune"]), 2, "say what to remove");
    fails_with(&dcr(&["restore", "-p", "notaport", "a", "b"]), 2, "invalid port spec");
}

/// Every option of every command's --help is documented in
/// man/docker-cr.1, in that command's OPTIONS section (GLOBAL OPTIONS for
/// the global ones), and the man page documents the exit codes main() uses.
#[test]
fn man_page_is_true_to_help() {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/docker-cr.1")).unwrap();
    let man = man.replace("\\-", "-");
    // The OPTIONS section of a command: ".SH LS OPTIONS", or one shared
    // with others, ".SH LS, INSPECT AND PRUNE OPTIONS".
    let section = |title: &str| -> String {
        let cmd = title.trim_end_matches(" OPTIONS");
        let mut out = String::new();
        for part in man.split("\n.SH ").skip(1) {
            let (head, body) = part.split_once('\n').unwrap_or((part, ""));
            let Some(names) = head.strip_suffix(" OPTIONS") else { continue };
            if names.split(", ").flat_map(|n| n.split(" AND ")).any(|n| n == cmd) {
                out.push_str(body);
            }
        }
        out
    };
    let mut checked = 0;
    let names = docker_cr::cli::table::names();
    for cmd in &names {
        let help = text(&ok(dcr(&["help", cmd])));
        if *cmd != "help" {
            assert_eq!(help, text(&ok(dcr(&[cmd, "--help"]))), "help {cmd} and {cmd} --help differ");
        }
        let title =
            if *cmd == "help" { "GLOBAL OPTIONS".to_string() } else { format!("{} OPTIONS", cmd.to_uppercase()) };
        let sect = section(&title);
        // Every option the table gives the command (the global ones are
        // in GLOBAL OPTIONS), which its --help must list too.
        let own = docker_cr::cli::table::command(cmd).map(|c| c.opts).unwrap_or(docker_cr::cli::table::GLOBAL);
        let listed = docker_cr::cli::complete::options(&help);
        for o in own {
            let f = format!("--{}", o.long);
            assert!(listed.contains(&f), "'docker-cr {cmd} --help' does not list {f}");
        }
        for f in listed {
            if f == "-h" || f == "--help" || (f == "-V" || f == "--version") && *cmd != "help" {
                continue;
            }
            assert!(sect.contains(&f), "man/docker-cr.1 section {title:?} does not mention {f} of 'docker-cr {cmd}'");
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked}");
    for code in ["0", "1", "2", "3", "4", "5", "7", "130"] {
        assert!(man.contains(&format!(".B {code}\n")), "man page lacks exit status {code}");
    }
}

/// The pages the README and the man pages point at exist: `man -l
/// man/FILE` in the README, and every docker-cr page a page cites
/// (`.BR docker\-cr\-engines (7)` is man/docker-cr-engines.7).
#[test]
fn cited_man_pages_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut cited: Vec<String> = readme
        .split("man -l man/")
        .skip(1)
        .map(|rest| rest.split(|c: char| c == '`' || c.is_whitespace()).next().unwrap().to_string())
        .collect();
    assert!(cited.len() >= 6, "the README names {cited:?}");
    for page in std::fs::read_dir(root.join("man")).unwrap() {
        let text = std::fs::read_to_string(page.unwrap().path()).unwrap().replace("\\-", "-");
        for rest in text.split(".BR docker-cr").skip(1) {
            let (name, sect) = rest.split_once(" (").unwrap();
            let sect = sect.split(')').next().unwrap();
            cited.push(format!("docker-cr{name}.{sect}"));
        }
    }
    for f in &cited {
        assert!(root.join("man").join(f).is_file(), "man/{f} is cited but does not exist");
    }
}

/// Issue 17: the README says what each provenance gets in the table
/// `docker-cr check` prints (trust::ORIGIN_TABLE), row by row.
#[test]
fn readme_has_the_origin_table() {
    use docker_cr::model::trust::{ORIGIN_HEADER, ORIGIN_TABLE};
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for row in std::iter::once(&ORIGIN_HEADER).chain(ORIGIN_TABLE.iter()) {
        let line = format!("| {} |", row.join(" | "));
        assert!(readme.lines().any(|l| l == line), "the README lacks the row {line:?}");
    }
}

/// `docker-cr help | head -1`: a reader that is gone ends a command that
/// only prints, quietly, as it ends ls(1): no panic on EPIPE.
#[test]
fn a_closed_pipe_ends_a_printing_command_quietly() {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::ExitStatusExt;
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) into a local array; both ends are owned below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh descriptors from pipe(2), each owned once.
    let (read_end, write_end) =
        unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) };
    drop(read_end);
    let o = std::process::Command::new(bin())
        .arg("--help")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(write_end))
        // Not `bounded`, which would give it a pipe of its own.
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{:?}: {err}", o.status);
}
