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

/// Every option --help mentions is documented in man/docker-cr.1, and the
/// man page documents the exit codes main() uses.
#[test]
fn man_page_is_true_to_help() {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/docker-cr.1")).unwrap();
    let man = man.replace("\\-", "-");
    let mut help = String::new();
    for args in [
        &["--help"][..],
        &["help", "checkpoint"],
        &["help", "restore"],
        &["help", "key"],
        &["help", "check"],
        &["help", "ls"],
        &["help", "inspect"],
        &["help", "rm"],
        &["help", "prune"],
    ] {
        help.push_str(&text(&ok(dcr(args))));
    }
    let flags: std::collections::BTreeSet<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric()))
        .collect();
    assert!(flags.len() >= 10, "{flags:?}");
    for f in flags {
        assert!(man.contains(f), "man/docker-cr.1 does not mention {f}");
    }
    for code in ["0", "1", "2", "3", "4", "5", "7", "130"] {
        assert!(man.contains(&format!(".B {code}\n")), "man page lacks exit status {code}");
    }
}
