//! Shell completion. One protocol serves bash, zsh, fish and the docker
//! CLI: the shell (or `docker`, for `docker cr …`, through cobra) runs
//! `docker-cr __complete WORD… CURRENT` and reads one candidate per line,
//! then `:N`, cobra's directive (4: do not fall back to file names). The
//! candidates come from the same table `--help` prints from (`cli::COMMANDS`
//! and each command's help text), from the engine (container names) and
//! from the checkpoint store.

use crate::cli;

/// cobra's ShellCompDirective values.
pub const DEFAULT: u32 = 0;
pub const NO_FILE: u32 = 4;

/// The options a help text lists: every `-x` and `--long` at the start of
/// an option line (two spaces, then a dash). Pure.
pub fn options(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if !line.starts_with("  ") || !t.starts_with('-') {
            continue;
        }
        for word in t.split([' ', ',']).take_while(|w| w.is_empty() || w.starts_with('-')) {
            let w = word.trim();
            if w.len() > 1 && w.starts_with('-') && !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
        }
    }
    out
}

/// Which kind of positional argument a command takes at position `n`.
#[derive(Debug, PartialEq)]
pub enum Positional {
    Container,
    /// A stored checkpoint (CONTAINER/NAME), or a directory.
    Stored,
    /// Any number of stored checkpoints.
    StoredMany,
    /// A checkpoint directory (file names) or a stored checkpoint's name.
    Checkpoint,
    Word(&'static [&'static str]),
    Nothing,
}

/// What `command`'s `n`th positional argument is. Pure.
pub fn positional(command: &str, n: usize) -> Positional {
    match (command, n) {
        ("checkpoint" | "restore" | "ls" | "prune", 0) => Positional::Container,
        ("checkpoint" | "restore", 1) => Positional::Checkpoint,
        ("inspect", 0) => Positional::Stored,
        ("rm", _) => Positional::StoredMany,
        ("key", 0) => Positional::Word(&["show", "list", "trust"]),
        ("key", 1) => Positional::Checkpoint,
        ("completion", 0) => Positional::Word(&["bash", "zsh", "fish"]),
        ("image", 0) => Positional::Word(&["build", "push", "pull", "ls", "inspect", "rm", "local"]),
        ("help", 0) => Positional::Word(cli::COMMAND_NAMES),
        _ => Positional::Nothing,
    }
}

/// The options of a command that take a value (their next word is not a
/// positional argument). Pure.
fn takes_value(help: &str, opt: &str) -> bool {
    help.lines().any(|l| {
        let t = l.trim_start();
        l.starts_with("  ") && t.split([' ', ',']).any(|w| w == opt) && t.contains(" <")
    })
}

/// The candidates for `words` (the arguments so far; the last one is the
/// word being completed, maybe empty) and the directive. `containers` is
/// called only when container names are wanted. Pure but for that.
pub fn complete(
    words: &[String],
    containers: impl FnOnce() -> Vec<String>,
    stored: impl FnOnce() -> Vec<String>,
) -> (Vec<String>, u32) {
    let Some((current, before)) = words.split_last() else {
        return (cli::COMMAND_NAMES.iter().map(|c| c.to_string()).collect(), NO_FILE);
    };
    let matching = |c: Vec<String>| c.into_iter().filter(|c| c.starts_with(current.as_str())).collect::<Vec<_>>();
    // The command: the first word that is not a global option.
    let mut it = before.iter();
    let command = loop {
        match it.next() {
            None => {
                let mut all: Vec<String> = cli::COMMAND_NAMES.iter().map(|c| c.to_string()).collect();
                if current.starts_with('-') {
                    all = options(cli::USAGE);
                }
                return (matching(all), NO_FILE);
            }
            Some(w) if w == "--criu" => {
                it.next();
            }
            Some(w) if w.starts_with('-') => {}
            Some(w) => break w.as_str(),
        }
    };
    let help = cli::help_of(command).unwrap_or("");
    let rest: Vec<&String> = it.collect();
    if let Some(prev) = rest.last() {
        if prev.starts_with('-') && takes_value(help, prev) {
            return (Vec::new(), DEFAULT);
        }
    }
    if current.starts_with('-') {
        return (matching(options(help)), NO_FILE);
    }
    let mut n = 0;
    let mut skip = false;
    for w in &rest {
        if skip {
            skip = false;
        } else if w.starts_with('-') {
            skip = takes_value(help, w);
        } else {
            n += 1;
        }
    }
    match positional(command, n) {
        Positional::Container => (matching(containers()), NO_FILE),
        Positional::Checkpoint => (Vec::new(), DEFAULT),
        Positional::Stored | Positional::StoredMany => (matching(stored()), DEFAULT),
        Positional::Word(w) => (matching(w.iter().map(|s| s.to_string()).collect()), NO_FILE),
        Positional::Nothing => (Vec::new(), NO_FILE),
    }
}

/// The protocol's output. Pure.
pub fn render(candidates: &[String], directive: u32) -> String {
    let mut s = String::new();
    for c in candidates {
        s.push_str(c);
        s.push('\n');
    }
    s.push_str(&format!(":{directive}\n"));
    s
}

/// The completion script for a shell. Each one asks `docker-cr __complete`.
pub fn script(shell: &str) -> Option<&'static str> {
    Some(match shell {
        "bash" => BASH,
        "zsh" => ZSH,
        "fish" => FISH,
        _ => return None,
    })
}

const BASH: &str = r#"# docker-cr completion for bash: source it, or put it in
# /etc/bash_completion.d/docker-cr (docker-cr completion bash > …).
_docker_cr() {
    local cur=${COMP_WORDS[COMP_CWORD]} out directive
    mapfile -t out < <(docker-cr __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    [ ${#out[@]} -gt 0 ] || return 0
    directive=${out[${#out[@]}-1]#:}
    unset 'out[${#out[@]}-1]'
    COMPREPLY=()
    local c
    for c in "${out[@]}"; do
        [[ $c == "$cur"* ]] && COMPREPLY+=("$c")
    done
    if [ ${#COMPREPLY[@]} -eq 0 ] && [ $((directive & 4)) -eq 0 ]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}
complete -F _docker_cr docker-cr
"#;

const ZSH: &str = r#"#compdef docker-cr
# docker-cr completion for zsh: put it on $fpath as _docker-cr, or source it
# after compinit (docker-cr completion zsh > …).
_docker_cr() {
    local -a out
    out=("${(@f)$(docker-cr __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    (( ${#out} )) || return 1
    local directive=${out[-1]#:}
    out=(${out[1,-2]})
    if (( ${#out} )); then
        compadd -- $out
    elif (( (directive & 4) == 0 )); then
        _files
    fi
}
compdef _docker_cr docker-cr
"#;

const FISH: &str = r#"# docker-cr completion for fish: put it in ~/.config/fish/completions/docker-cr.fish
# (docker-cr completion fish > …).
function __docker_cr_complete
    set -l cur (commandline -ct)
    set -l out (docker-cr __complete (commandline -opc)[2..-1] "$cur" 2>/dev/null)
    set -l directive (string replace -r '^:' '' -- $out[-1])
    set -e out[-1]
    if test (count $out) -gt 0
        printf '%s\n' $out
    else if test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path (commandline -ct)
    end
end
complete -c docker-cr -f -a '(__docker_cr_complete)'
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn w(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }
    fn names() -> Vec<String> {
        w(&["web", "db", "webcache"])
    }
    fn stored() -> Vec<String> {
        w(&["web/20261128T185605.123Z", "db/before-upgrade"])
    }

    #[test]
    fn options_come_from_the_help_text() {
        let o = options(cli::RESTORE_HELP);
        for want in ["--name", "-p", "--publish", "--trust", "--trust-key", "--allow-host-access", "-h", "--help"] {
            assert!(o.iter().any(|x| x == want), "{want} missing from {o:?}");
        }
        assert!(!o.iter().any(|x| x == "-"), "{o:?}");
    }

    #[test]
    fn commands_options_containers_and_files() {
        assert_eq!(complete(&w(&["che"]), names, stored), (w(&["checkpoint", "check"]), NO_FILE));
        assert_eq!(complete(&w(&["checkpoint", "we"]), names, stored), (w(&["web", "webcache"]), NO_FILE));
        assert_eq!(
            complete(&w(&["checkpoint", "--stop", "web", ""]), names, stored).1,
            DEFAULT,
            "the directory: files"
        );
        assert_eq!(
            complete(&w(&["restore", "--name", ""]), names, stored),
            (w(&[]), DEFAULT),
            "a value, not a container"
        );
        assert_eq!(complete(&w(&["restore", "--name", "x", "d"]), names, stored), (w(&["db"]), NO_FILE));
        assert_eq!(complete(&w(&["restore", "--tr"]), names, stored), (w(&["--trust-key", "--trust"]), NO_FILE));
        assert_eq!(complete(&w(&["key", ""]), names, stored), (w(&["show", "list", "trust"]), NO_FILE));
        assert_eq!(complete(&w(&["-q", "--criu", "/x", "res"]), names, stored), (w(&["restore"]), NO_FILE));
        assert_eq!(complete(&w(&["inspect", "d"]), names, stored), (w(&["db/before-upgrade"]), DEFAULT));
        assert_eq!(complete(&w(&["rm", "db/before-upgrade", "w"]), names, stored).0, w(&["web/20261128T185605.123Z"]));
        assert_eq!(render(&w(&["a", "b"]), 4), "a\nb\n:4\n");
    }
}
