//! Shell completion. One protocol serves bash, zsh, fish and the docker
//! CLI: the shell (or `docker`, for `docker cr …`, through cobra) runs
//! `docker-cr __complete WORD… CURRENT` and reads one candidate per line,
//! then `:N`, cobra's directive (4: do not fall back to file names). The
//! candidates come from the same table `--help` prints from
//! (`cli::table`), from the engine (container names) and from the
//! checkpoint store.

use crate::cli::table::{self, Cmd, Opt};

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

/// What `help` takes: every command's name.
const HELP_TOPICS: &[&str] = &[
    "checkpoint",
    "restore",
    "ls",
    "inspect",
    "rm",
    "prune",
    "export",
    "import",
    "migrate",
    "image",
    "check",
    "serve",
    "key",
    "completion",
    "install-plugin",
    "help",
];

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
        ("help", 0) => Positional::Word(HELP_TOPICS),
        _ => Positional::Nothing,
    }
}

fn spellings(o: &Opt) -> Vec<String> {
    o.short.map(|c| format!("-{c}")).into_iter().chain([format!("--{}", o.long)]).collect()
}

/// Every option `c` takes (None: before the command), from the table:
/// its own, then the global ones, then -h/--help. Pure.
pub fn table_options(c: Option<&Cmd>) -> Vec<String> {
    let own = c.map_or(&[][..], |c| c.opts);
    let mut out: Vec<String> = own.iter().chain(table::GLOBAL).flat_map(spellings).collect();
    out.extend(["-h".to_string(), "--help".to_string()]);
    if c.is_none() {
        out.extend(["-V".to_string(), "--version".to_string()]);
    }
    out.dedup();
    out
}

/// Whether `opt` (as typed) takes a value for command `c`: its next word
/// is not a positional argument. Pure.
fn takes_value(c: Option<&Cmd>, opt: &str) -> bool {
    let own = c.map_or(&[][..], |c| c.opts);
    own.iter().chain(table::GLOBAL).any(|o| o.value.is_some() && spellings(o).iter().any(|s| s == opt))
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
        return (table::names().iter().map(|c| c.to_string()).collect(), NO_FILE);
    };
    let matching = |c: Vec<String>| c.into_iter().filter(|c| c.starts_with(current.as_str())).collect::<Vec<_>>();
    // The command: the first word that is not a global option.
    let mut it = before.iter();
    let command = loop {
        match it.next() {
            None => {
                let mut all: Vec<String> = table::names().iter().map(|c| c.to_string()).collect();
                if current.starts_with('-') {
                    all = table_options(None);
                }
                return (matching(all), NO_FILE);
            }
            Some(w) if takes_value(None, w) => {
                it.next();
            }
            Some(w) if w.starts_with('-') => {}
            Some(w) => break w.as_str(),
        }
    };
    let cmd = table::command(command);
    let rest: Vec<&String> = it.collect();
    if let Some(prev) = rest.last() {
        if prev.starts_with('-') && takes_value(cmd, prev) {
            return (Vec::new(), DEFAULT);
        }
    }
    if current.starts_with('-') {
        return (matching(table_options(cmd)), NO_FILE);
    }
    let mut n = 0;
    let mut skip = false;
    for w in &rest {
        if skip {
            skip = false;
        } else if w.starts_with('-') {
            skip = takes_value(cmd, w);
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
        let o = options(&table::help(&table::RESTORE));
        for want in ["--name", "-p", "--publish", "--trust", "--trust-key", "--allow-host-access", "-h", "--help"] {
            assert!(o.iter().any(|x| x == want), "{want} missing from {o:?}");
        }
        assert!(!o.iter().any(|x| x == "-"), "{o:?}");
        for c in table::COMMANDS {
            let mut from_help = options(&table::help(c));
            let mut from_table = table_options(Some(c));
            from_table.retain(|o| {
                !["--criu", "--store", "-q", "--quiet"].contains(&o.as_str())
                    || c.opts.iter().any(|x| {
                        format!("--{}", x.long) == *o || x.short.map(|s| format!("-{s}")).as_deref() == Some(o)
                    })
            });
            from_help.sort();
            from_table.sort();
            from_table.dedup();
            assert_eq!(from_help, from_table, "{}: --help and the table differ", c.name);
        }
        assert_eq!(HELP_TOPICS, table::names().as_slice());
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
