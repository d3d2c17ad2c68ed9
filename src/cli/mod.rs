//! Command-line parsing: the arguments, read by the command table
//! (`table.rs`: every command's options, help and usage), become a
//! `Command` holding the operations' own options. Nothing below `cli`
//! sees the command line. Global options are taken anywhere; one rule
//! tells a directory from a name (it starts with / or .), and a stored
//! checkpoint is `CONTAINER/NAME` or `CONTAINER NAME` for every command.

pub mod complete;
pub mod image;
pub mod plugin;
pub mod serve;
pub mod table;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error::Error;
use crate::formats::archive::Compression;
use crate::host::check;
use crate::model::container::Publish;
use crate::ops::{all, catalog, checkpoint, group, inspect, keys, restore, template, transfer};
use crate::store::{Location, Ref};
use table::{Args, Cmd};

/// The global options: they make the session (see `session::Session::cli`).
#[derive(Debug, PartialEq, Clone)]
pub struct Global {
    pub criu: PathBuf,
    pub quiet: bool,
    /// --store: the checkpoint store, over DOCKER_CR_STORE.
    pub store: Option<PathBuf>,
}

impl Default for Global {
    fn default() -> Global {
        Global { criu: PathBuf::from("criu"), quiet: false, store: None }
    }
}

/// The default of --jobs. bench/all on 2 CPUs: checkpoint --all 15-20 %
/// faster at 2 than at 1, restore --all the same (docker-cr-performance(7)).
pub const DEFAULT_JOBS: usize = 2;

/// `checkpoint`: one container, into a directory or the store; or its
/// archive (`--export`); or every running container (`--all`).
#[derive(Debug, PartialEq, Clone)]
pub struct CheckpointCmd {
    pub opts: checkpoint::Options,
    pub export: Option<transfer::Export>,
    /// `--push IMAGE`: to a registry, as an image (with the layer's
    /// compression and whether the registry is plain HTTP).
    pub push: Option<(String, Compression, bool)>,
    pub all: Option<all::Pool>,
    /// --project, --group, --filter: several containers as one group.
    pub group: Option<group::Options>,
    /// --print-stats / --format json.
    pub json: bool,
}

/// `restore`: one checkpoint, or an archive (`--import`), or the newest of
/// every container that is not running (`--all`).
#[derive(Debug, PartialEq, Clone)]
pub struct RestoreCmd {
    pub opts: restore::Options,
    pub import: Option<PathBuf>,
    /// A checkpoint image of a registry, and whether it is plain HTTP.
    pub image: Option<(String, bool)>,
    pub all: Option<all::Pool>,
    /// --project, --group: a group checkpoint.
    pub group: Option<group::restore::Options>,
    pub json: bool,
}

#[derive(Debug, PartialEq)]
pub enum Command {
    Check(Global, check::Options),
    Completion(String),
    InstallPlugin {
        system: bool,
    },
    Key(Global, keys::Command),
    Checkpoint(Global, CheckpointCmd),
    Restore(Global, RestoreCmd),
    Ls(Global, catalog::LsOptions),
    Inspect(Global, inspect::Options),
    Rm(Global, catalog::RmOptions),
    Prune(Global, catalog::PruneOptions),
    Export(Global, transfer::ExportOptions),
    Import(Global, transfer::ImportOptions),
    /// The options, and --format json (the dry run's plan as JSON).
    Migrate(Global, transfer::MigrateOptions, bool),
    Image(Global, crate::ops::image::ImageArgs),
    Serve(Global, serve::ServeArgs),
    Help(String),
    Version,
}

/// The help of `command` (`help COMMAND`), or None if there is none.
pub fn help_of(command: &str) -> Option<String> {
    match command {
        "help" => Some(table::usage()),
        c => table::command(c).map(table::help),
    }
}

pub fn parse_publish(s: &str) -> Result<Publish, String> {
    let (addr, proto) = match s.rsplit_once('/') {
        Some((a, p)) if p == "tcp" || p == "udp" || p == "sctp" => (a, p),
        Some((_, p)) => return Err(format!("invalid protocol '{p}' in '{s}' [pick from: tcp, udp, sctp]")),
        None => (s, "tcp"),
    };
    let parts: Vec<&str> = addr.rsplitn(3, ':').collect();
    let (ip, host, cont) = match parts.as_slice() {
        [c] => ("", "", *c),
        [c, h] => ("", *h, *c),
        [c, h, ip] => (*ip, *h, *c),
        _ => return Err(format!("invalid port spec '{s}'")),
    };
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    if !port_ok(cont) || !(host.is_empty() || port_ok(host)) {
        return Err(format!("invalid port spec '{s}': expected [ip:][hostPort:]containerPort[/proto]"));
    }
    Ok(Publish {
        host_ip: ip.trim_matches(|c| c == '[' || c == ']').to_string(),
        host_port: host.to_string(),
        container_port: cont.to_string(),
        proto: proto.to_string(),
    })
}

fn usage(cmd: &str, msg: impl std::fmt::Display) -> Error {
    let try_ = if cmd.is_empty() { "docker-cr --help".to_string() } else { format!("docker-cr {cmd} --help") };
    Error::Usage(format!("{msg}\nTry '{try_}'."))
}

fn lex(cmd: &'static str) -> impl Fn(lexopt::Error) -> Error {
    move |e| usage(cmd, e)
}

fn string(v: &OsString, cmd: &str, what: &str) -> Result<String, Error> {
    v.clone().into_string().map_err(|_| usage(cmd, format!("{what} is not valid UTF-8")))
}

/// A global option (`arg`, found in `table::GLOBAL`) applied to `g`.
fn set_global(g: &mut Global, o: &table::Opt, p: &mut lexopt::Parser, cmd: &'static str) -> Result<(), Error> {
    match o.long {
        "quiet" => g.quiet = true,
        "criu" => g.criu = p.value().map_err(lex(cmd))?.into(),
        "store" => g.store = Some(p.value().map_err(lex(cmd))?.into()),
        _ => {}
    }
    Ok(())
}

/// Reads one command's arguments by its table entry: its own options
/// first, then the global ones; `-h`/`--help` gives its help.
fn read(c: &'static Cmd, mut p: lexopt::Parser, g: &mut Global) -> Result<Result<Args, String>, Error> {
    use lexopt::Arg;
    let mut a = Args::default();
    while let Some(arg) = p.next().map_err(lex(c.name))? {
        if let Arg::Value(v) = arg {
            a.positionals.push(v);
            continue;
        }
        if matches!(arg, Arg::Short('h') | Arg::Long("help")) {
            return Ok(Err(table::help(c)));
        }
        if let Some(o) = table::lookup(c.opts, &arg) {
            match o.value {
                Some(_) => a.push_value(o.long, p.value().map_err(lex(c.name))?),
                None => a.push_flag(o.long),
            }
        } else if let Some(o) = table::lookup(table::GLOBAL, &arg) {
            set_global(g, o, &mut p, c.name)?;
        } else {
            return Err(usage(c.name, arg.unexpected()));
        }
    }
    Ok(Ok(a))
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Error> {
    use lexopt::Arg;
    let mut p = lexopt::Parser::from_args(args);
    let mut g = Global::default();
    let name = loop {
        let arg = p.next().map_err(lex(""))?;
        match arg {
            Some(Arg::Short('h') | Arg::Long("help")) => return Ok(Command::Help(table::usage())),
            Some(Arg::Short('V') | Arg::Long("version")) => return Ok(Command::Version),
            Some(Arg::Value(v)) => break string(&v, "", "command")?,
            Some(arg) => match table::lookup(table::GLOBAL, &arg) {
                Some(o) => set_global(&mut g, o, &mut p, "")?,
                None => return Err(usage("", arg.unexpected())),
            },
            None => return Err(usage("", "missing command: checkpoint or restore")),
        }
    };
    if name == "help" {
        return match p.next().map_err(lex(""))? {
            None => Ok(Command::Help(table::usage())),
            Some(Arg::Value(v)) => match v.to_str().and_then(help_of) {
                Some(h) => Ok(Command::Help(h)),
                None => Err(usage("", format!("no help for {v:?} [pick from: {}]", table::names().join(", ")))),
            },
            Some(other) => Err(usage("", other.unexpected())),
        };
    }
    let Some(c) = table::command(&name) else {
        return Err(usage("", format!("unknown command '{name}' [pick from: {}]", table::names().join(", "))));
    };
    let a = match read(c, p, &mut g)? {
        Ok(a) => a,
        Err(help) => return Ok(Command::Help(help)),
    };
    match c.name {
        "checkpoint" => checkpoint_cmd(a, g),
        "restore" => restore_cmd(a, g),
        "export" => export_cmd(a, g),
        "import" => import_cmd(a, g),
        "migrate" => migrate_cmd(a, g),
        "image" => image::image_cmd(a, g),
        "check" => Ok(Command::Check(g, check::Options { json: format(&a, "check", &["text"])? })),
        "key" => key_cmd(a, g),
        "ls" => ls_cmd(a, g),
        "inspect" => inspect_cmd(a, g),
        "rm" => rm_cmd(a, g),
        "prune" => prune_cmd(a, g),
        "serve" => serve::parse(a, g),
        "completion" => completion_cmd(a),
        "install-plugin" => {
            no_positionals(&a, "install-plugin")?;
            Ok(Command::InstallPlugin { system: a.flag("system") })
        }
        other => Err(usage("", format!("unknown command '{other}'"))),
    }
}

fn no_positionals(a: &Args, cmd: &str) -> Result<(), Error> {
    match a.positionals.first() {
        Some(x) => Err(usage(cmd, format!("unexpected argument {x:?}"))),
        None => Ok(()),
    }
}

/// A container name or ID, checked before it becomes part of an API path.
fn container_name(s: &str, cmd: &str) -> Result<String, Error> {
    if !crate::store::valid_name(s.strip_prefix('/').unwrap_or(s)) {
        return Err(usage(cmd, format!("invalid container name or ID '{s}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
    }
    Ok(s.to_string())
}

fn checkpoint_name(s: &str, cmd: &str) -> Result<String, Error> {
    if crate::store::valid_name(s) {
        return Ok(s.to_string());
    }
    let dir = if s.contains('/') { format!(" (a directory starts with / or .: ./{s})") } else { String::new() };
    Err(usage(
        cmd,
        format!(
            "invalid checkpoint name '{s}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*, or a directory starting with / or .{dir}"
        ),
    ))
}

/// The one rule for "is this a directory": it starts with / or . (`/srv/cp`,
/// `./cp`, `../cp`).
pub fn is_dir(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.')
}

/// `<container> [<name> | <checkpoint-dir>]` or `<container>/<name>` of
/// checkpoint and restore.
fn container_and_location(pos: &[OsString], cmd: &str) -> Result<(String, Location), Error> {
    let word = |i: usize, what| pos.get(i).map(|v| string(v, cmd, what)).transpose();
    let Some(first) = word(0, "the container name")? else {
        return Err(usage(cmd, "missing <container> (or --all)"));
    };
    if let Some(x) = pos.get(2) {
        return Err(usage(cmd, format!("unexpected argument {x:?}")));
    }
    // A leading '/' is Docker's way of writing a name ("/web").
    let bare = first.strip_prefix('/').unwrap_or(&first);
    let (container, named) = match bare.split_once('/') {
        Some((c, n)) => {
            if !crate::store::valid_name(c) {
                // Named whole: it is not CONTAINER/NAME at all.
                return Err(usage(
                    cmd,
                    format!("invalid container name or ID '{first}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*"),
                ));
            }
            (c.to_string(), Some(checkpoint_name(n, cmd)?))
        }
        None => (container_name(&first, cmd)?, None),
    };
    let second = word(1, "the checkpoint")?;
    let to = match (named, second) {
        (Some(_), Some(x)) => {
            return Err(usage(cmd, format!("unexpected argument {x:?}: {first} names the checkpoint")))
        }
        (Some(n), None) => Location::Store(Some(n)),
        (None, None) => Location::Store(None),
        (None, Some(d)) if is_dir(&d) => Location::Dir(d.into()),
        (None, Some(n)) => Location::Store(Some(checkpoint_name(&n, cmd)?)),
    };
    Ok((container, to))
}

/// A `<checkpoint>` argument: a directory, `CONTAINER/NAME`, or
/// `CONTAINER` (its newest).
fn reference(s: &str, cmd: &str) -> Result<Ref, Error> {
    crate::store::parse_ref(s).map_err(|e| usage(cmd, e))
}

/// The checkpoint references of `pos` (inspect, rm, export): each is one
/// argument (`CONTAINER/NAME`, a directory), or two (`CONTAINER NAME`,
/// as `docker checkpoint rm` takes them). `max`: how many may be given.
fn references(pos: &[OsString], cmd: &str, max: usize) -> Result<Vec<Ref>, Error> {
    let words: Vec<String> = pos.iter().map(|v| string(v, cmd, "<checkpoint>")).collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let next = words.get(i + 1);
        let r = match reference(w, cmd)? {
            Ref::Store { container, name: None } if next.is_some_and(|n| !is_dir(n) && !n.contains('/')) => {
                i += 1;
                let n = checkpoint_name(&words[i], cmd)?;
                Ref::Store { container, name: Some(n) }
            }
            r => r,
        };
        out.push(r);
        i += 1;
    }
    if out.len() > max {
        return Err(usage(cmd, format!("unexpected argument {:?}", words.last().map(String::as_str).unwrap_or(""))));
    }
    Ok(out)
}

fn number(a: &Args, long: &str, cmd: &str, min: usize) -> Result<Option<usize>, Error> {
    let Some(v) = a.value(long) else { return Ok(None) };
    let v = string(v, cmd, &format!("--{long}"))?;
    v.parse::<usize>()
        .ok()
        .filter(|n| *n >= min)
        .map(Some)
        .ok_or_else(|| usage(cmd, format!("invalid --{long} '{v}': expected a whole number >= {min}")))
}

/// --format for a command whose only formats are `names` and json: true for json.
fn format(a: &Args, cmd: &str, names: &[&str]) -> Result<bool, Error> {
    let Some(v) = a.value("format") else { return Ok(false) };
    match v.to_str() {
        Some("json") => Ok(true),
        Some(x) if names.contains(&x) => Ok(false),
        _ => {
            Err(usage(cmd, format!("invalid format '{}' [pick from: {}, json]", v.to_string_lossy(), names.join(", "))))
        }
    }
}

/// --format for ls and inspect: a format name, or a template with
/// `{{.Field}}` as the docker CLI takes it.
fn format_or_template(a: &Args, cmd: &str, other: &str) -> Result<(bool, Option<String>), Error> {
    let Some(v) = a.value("format") else { return Ok((false, None)) };
    match v.to_str() {
        Some("json") => Ok((true, None)),
        Some(x) if x == other => Ok((false, None)),
        Some(t) if template::is_template(t) => Ok((false, Some(t.to_string()))),
        _ => Err(usage(
            cmd,
            format!(
                "invalid format '{}' [pick from: {other}, json, or a template such as '{{{{.Name}}}}']",
                v.to_string_lossy()
            ),
        )),
    }
}

fn compression(a: &Args, cmd: &str) -> Result<Option<Compression>, Error> {
    let Some(v) = a.value("compress") else { return Ok(None) };
    v.to_str()
        .and_then(Compression::parse)
        .map(Some)
        .ok_or_else(|| usage(cmd, format!("invalid compression {v:?} [pick from: zstd, gzip, none]")))
}

fn valid_container_name(a: &Args, cmd: &str) -> Result<Option<String>, Error> {
    let Some(v) = a.value("name") else { return Ok(None) };
    let n = string(v, cmd, "--name")?;
    if !crate::store::valid_name(&n) {
        return Err(usage(cmd, format!("invalid container name '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
    }
    Ok(Some(n))
}

/// `--project P`, `--group G`, or their `P/NAME` form: the group's name and
/// the checkpoint's, if named.
fn group_name(v: &OsString, cmd: &str, what: &str) -> Result<(String, Option<String>), Error> {
    let w = string(v, cmd, what)?;
    let (n, cp) = match w.split_once('/') {
        Some((n, c)) => (n, Some(checkpoint_name(c, cmd)?)),
        None => (w.as_str(), None),
    };
    if !crate::store::valid_name(n) {
        return Err(usage(cmd, format!("invalid {what} name '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
    }
    Ok((n.to_string(), cp))
}

/// Where a group goes or comes from: `named` (from `G/NAME`), else one
/// positional (a name, or a directory).
fn group_location(named: Option<String>, pos: &[OsString], cmd: &str) -> Result<Location, Error> {
    match (named, pos) {
        (Some(_), [x, ..]) => Err(usage(cmd, format!("unexpected argument {x:?}: the checkpoint is named already"))),
        (Some(n), []) => Ok(Location::Store(Some(n))),
        (None, []) => Ok(Location::Store(None)),
        (None, [x]) => {
            let x = string(x, cmd, "the checkpoint")?;
            Ok(if is_dir(&x) { Location::Dir(x.into()) } else { Location::Store(Some(checkpoint_name(&x, cmd)?)) })
        }
        (None, [_, x, ..]) => Err(usage(cmd, format!("unexpected argument {x:?}"))),
    }
}

/// --project, --group and --filter of checkpoint: the group's options, or
/// None for one container.
fn checkpoint_group(a: &Args, opts: &checkpoint::Options) -> Result<Option<group::Options>, Error> {
    const CMD: &str = "checkpoint";
    let project = a.value("project").map(|v| group_name(v, CMD, "--project")).transpose()?;
    let named = a.value("group").map(|v| group_name(v, CMD, "--group")).transpose()?;
    let filters: Vec<String> =
        a.values("filter").into_iter().map(|v| string(v, CMD, "--filter")).collect::<Result<_, _>>()?;
    for f in &filters {
        crate::model::group::parse_filter(f).map_err(|e| usage(CMD, e))?;
    }
    if project.is_none() && named.is_none() && filters.is_empty() {
        return Ok(None);
    }
    if a.flag("all") {
        return Err(usage(
            CMD,
            "--all checkpoints each container on its own; --project, --group and --filter make one group",
        ));
    }
    let pos = &a.positionals;
    let (select, name, to) = match (project, named) {
        (Some(_), Some(_)) => return Err(usage(CMD, "--project names the group: --group goes without it")),
        (Some(_), None) if !filters.is_empty() => {
            return Err(usage(CMD, "--project names the group: --filter goes without it"))
        }
        (Some((p, cp)), None) => (group::Select::Project(p.clone()), p, group_location(cp, pos, CMD)?),
        (named, _) if !filters.is_empty() => {
            let (name, cp) =
                match named {
                    Some(x) => x,
                    None => match group::name_from_filters(&filters) {
                        Some(n) => (n, None),
                        None => return Err(usage(
                            CMD,
                            "name the filtered group with --group NAME (the label has no value that is a valid name)",
                        )),
                    },
                };
            (group::Select::Filter(filters), name, group_location(cp, pos, CMD)?)
        }
        (None, Some((g, cp))) => {
            if pos.is_empty() {
                return Err(usage(CMD, format!("missing <container>...: the members of group {g}")));
            }
            let members: Vec<String> = pos
                .iter()
                .map(|v| container_name(&string(v, CMD, "the container name")?, CMD))
                .collect::<Result<_, _>>()?;
            (group::Select::List(members), g, Location::Store(cp))
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(group::Options {
        select,
        name,
        to,
        member: checkpoint::Options { container: String::new(), to: Location::Store(None), ..opts.clone() },
        jobs: number(a, "jobs", CMD, 1)?,
    }))
}

/// --project and --group of restore: the group's options, or None.
fn restore_group(a: &Args, opts: &restore::Options, import: bool) -> Result<Option<group::restore::Options>, Error> {
    const CMD: &str = "restore";
    let project = a.value("project").map(|v| group_name(v, CMD, "--project")).transpose()?;
    let named = a.value("group").map(|v| group_name(v, CMD, "--group")).transpose()?;
    let only: Vec<String> = a.values("only").into_iter().map(|v| string(v, CMD, "--only")).collect::<Result<_, _>>()?;
    let replace = a.flag("replace");
    let (name, cp, is_project) = match (project, named) {
        (Some(_), Some(_)) => return Err(usage(CMD, "--project and --group: name the group once")),
        (Some((p, cp)), None) => (p, cp, true),
        (None, Some((g, cp))) => (g, cp, false),
        (None, None) => {
            if !only.is_empty() || replace {
                return Err(usage(CMD, "--only and --replace go with --project or --group"));
            }
            return Ok(None);
        }
    };
    if a.flag("all") {
        return Err(usage(
            CMD,
            "--all restores each container's newest checkpoint; --project and --group restore a group",
        ));
    }
    if opts.name.is_some() || !opts.publish.is_empty() {
        return Err(usage(
            CMD,
            "a group's members are restored as themselves: --name and --publish go with one container",
        ));
    }
    if opts.lazy {
        return Err(usage(CMD, "--lazy restores one container, not a group"));
    }
    let from = if import {
        if cp.is_some() || !a.positionals.is_empty() {
            return Err(usage(CMD, "with --import, the archive is the group: name no checkpoint"));
        }
        Location::Store(None)
    } else {
        group_location(cp, &a.positionals, CMD)?
    };
    Ok(Some(group::restore::Options {
        name,
        project: is_project,
        from,
        only,
        replace,
        member: restore::Options { container: String::new(), from: Location::Store(None), ..opts.clone() },
    }))
}

fn checkpoint_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "checkpoint";
    let all = a.flag("all");
    let json = a.flag("print-stats") || format(&a, CMD, &["text"])?;
    let jobs = number(&a, "jobs", CMD, 1)?.unwrap_or(DEFAULT_JOBS);
    let export = a.value("export").map(PathBuf::from);
    let push = a.value("push").map(|v| string(v, CMD, "--push")).transpose()?;
    let compress = compression(&a, CMD)?;
    let (ignore_volumes, with_image) = (a.flag("ignore-volumes"), a.flag("with-image"));
    if export.is_some() && push.is_some() {
        return Err(usage(CMD, "--export and --push: one or the other"));
    }
    if export.is_none() && (ignore_volumes || with_image) {
        return Err(usage(CMD, "--ignore-volumes and --with-image go with --export"));
    }
    if export.is_none() && push.is_none() && compress.is_some() {
        return Err(usage(CMD, "--compress goes with --export or --push"));
    }
    if push.is_none() && a.flag("insecure") {
        return Err(usage(CMD, "--insecure goes with --push"));
    }
    if push.is_some() && all {
        return Err(usage(CMD, "--push takes one container, not --all"));
    }
    if export.is_some() && all {
        return Err(usage(CMD, "--export takes one container, not --all"));
    }
    if json && export.as_deref().is_some_and(|f| f.as_os_str() == "-") {
        return Err(usage(CMD, "--print-stats writes to standard output, which --export - streams the archive to"));
    }
    let base = checkpoint::Options {
        container: String::new(),
        to: Location::Store(None),
        stop: a.flag("stop"),
        tcp_established: !a.flag("no-tcp-established"),
        ext_unix_sk: !a.flag("no-ext-unix-sk"),
        file_locks: !a.flag("no-file-locks"),
        dry_run: a.flag("dry-run"),
    };
    let export_of = |file: PathBuf| transfer::Export {
        file,
        compress: compress.unwrap_or(Compression::Zstd),
        ignore_volumes,
        with_image,
    };
    if let Some(grp) = checkpoint_group(&a, &base)? {
        if push.is_some() {
            return Err(usage(CMD, "--push takes one container, not a group"));
        }
        if export.is_some() && grp.to != Location::Store(None) {
            return Err(usage(CMD, "with --export the group goes into the archive: name no checkpoint"));
        }
        let export = export.map(export_of);
        return Ok(Command::Checkpoint(
            g,
            CheckpointCmd { opts: base, export, push: None, all: None, group: Some(grp), json },
        ));
    }
    let (container, to) = match (export.is_some() || push.is_some(), all) {
        (_, true) => match a.positionals.first() {
            Some(x) => return Err(usage(CMD, format!("--all takes no container, but {x:?} was given"))),
            None => (String::new(), Location::Store(None)),
        },
        // The directory is a private temporary one, chosen at run time.
        (true, false) => match a.positionals.as_slice() {
            [c] => (container_name(&string(c, CMD, "the container name")?, CMD)?, Location::Store(None)),
            [] => return Err(usage(CMD, "missing <container>")),
            [_, x, ..] => {
                return Err(usage(
                    CMD,
                    format!("unexpected argument {x:?}: with --export or --push, name only the container"),
                ))
            }
        },
        (false, false) => container_and_location(&a.positionals, CMD)?,
    };
    let opts = checkpoint::Options { container, to, ..base };
    let export = export.map(export_of);
    let push = push.map(|i| (i, compress.unwrap_or(Compression::Zstd), a.flag("insecure")));
    Ok(Command::Checkpoint(
        g,
        CheckpointCmd { opts, export, push, all: all.then_some(all::Pool { jobs }), group: None, json },
    ))
}

fn restore_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "restore";
    let all = a.flag("all");
    let json = a.flag("print-stats") || format(&a, CMD, &["text"])?;
    let jobs = number(&a, "jobs", CMD, 1)?.unwrap_or(DEFAULT_JOBS);
    let name = valid_container_name(&a, CMD)?;
    let mut publish = Vec::new();
    for v in a.values("publish") {
        publish.push(parse_publish(&string(v, CMD, "--publish")?).map_err(|e| usage(CMD, e))?);
    }
    let import = a.value("import").map(PathBuf::from);
    let ignore_volumes = a.flag("ignore-volumes");
    if import.is_none() && ignore_volumes {
        return Err(usage(CMD, "--ignore-volumes goes with --import"));
    }
    if import.is_some() && all {
        return Err(usage(CMD, "--import restores one archive, not --all"));
    }
    let base = restore::Options {
        container: String::new(),
        from: Location::Store(None),
        name: name.clone(),
        publish: publish.clone(),
        trust: a.flag("trust"),
        trust_keys: a.values("trust-key").into_iter().map(PathBuf::from).collect(),
        allow_host_access: a.flag("allow-host-access"),
        unpause: a.flag("unpause"),
        ignore_volumes,
        dry_run: a.flag("dry-run"),
        lazy: a.flag("lazy") || a.flag("live"),
        live: a.flag("live"),
    };
    if base.live && import.as_deref() != Some(std::path::Path::new("-")) {
        return Err(usage(CMD, "--live is migrate --live's receiving end: it goes with --import - only"));
    }
    if base.live && base.dry_run {
        return Err(usage(CMD, "--live cannot be a dry run: its source waits, frozen, for the pages to be asked for"));
    }
    if base.lazy && all {
        return Err(usage(
            CMD,
            "--lazy restores one container (its page source is watched until every page is in), not --all",
        ));
    }
    if let Some(grp) = restore_group(&a, &base, import.is_some())? {
        if a.value("image").is_some() {
            return Err(usage(CMD, "an image restores one container, not a group"));
        }
        return Ok(Command::Restore(
            g,
            RestoreCmd { opts: base, import, image: None, all: None, group: Some(grp), json },
        ));
    }
    // An image: --image, or one argument naming a registry that is not a
    // stored checkpoint's name (`my.app/cp1` is the store's; --image for
    // an image of that name).
    let mut image = a.value("image").map(|v| string(v, CMD, "--image")).transpose()?;
    let first = a.positionals.first().and_then(|v| v.to_str()).unwrap_or("").to_string();
    if image.is_none()
        && a.positionals.len() == 1
        && crate::formats::oci::has_registry(&first)
        && container_and_location(&a.positionals, CMD).is_err()
    {
        image = Some(first);
    }
    if image.is_some() && (import.is_some() || all) {
        return Err(usage(CMD, "an image restores on its own: not with --import or --all"));
    }
    if image.is_none() && a.flag("insecure") {
        return Err(usage(CMD, "--insecure goes with an image"));
    }
    let positionals: &[OsString] = if image.is_some() && a.value("image").is_none() { &[] } else { &a.positionals };
    let (container, from) = match (import.is_some() || image.is_some(), all) {
        (_, true) => match a.positionals.first() {
            Some(x) => return Err(usage(CMD, format!("--all takes no container, but {x:?} was given"))),
            None => (String::new(), Location::Store(None)),
        },
        (true, false) => match positionals {
            [] => (String::new(), Location::Store(None)),
            [c] => (container_name(&string(c, CMD, "the container name")?, CMD)?, Location::Store(None)),
            [_, x, ..] => {
                return Err(usage(
                    CMD,
                    format!("unexpected argument {x:?}: with --import or an image, name at most the container"),
                ))
            }
        },
        (false, false) => container_and_location(&a.positionals, CMD)?,
    };
    if all && (name.is_some() || !publish.is_empty()) {
        return Err(usage(CMD, "--all restores each container as itself: --name and --publish go with one container"));
    }
    let opts = restore::Options { container, from, ..base };
    let image = image.map(|i| (i, a.flag("insecure")));
    Ok(Command::Restore(
        g,
        RestoreCmd { opts, import, image, all: all.then_some(all::Pool { jobs }), group: None, json },
    ))
}

fn export_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "export";
    let Some((file, rest)) = a.positionals.split_last().filter(|(_, r)| !r.is_empty()) else {
        return Err(usage(CMD, "missing <checkpoint> and <file> (- for standard output)"));
    };
    let mut refs = references(rest, CMD, 1)?;
    let from = refs.remove(0);
    let export = transfer::Export {
        file: file.into(),
        compress: compression(&a, CMD)?.unwrap_or(Compression::Zstd),
        ignore_volumes: a.flag("ignore-volumes"),
        with_image: a.flag("with-image"),
    };
    Ok(Command::Export(g, transfer::ExportOptions { from, export }))
}

fn import_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "import";
    match a.positionals.as_slice() {
        [f, d] => Ok(Command::Import(g, transfer::ImportOptions { file: f.into(), dir: d.into() })),
        [_, _, x, ..] => Err(usage(CMD, format!("unexpected argument {x:?}"))),
        _ => Err(usage(CMD, "missing <file> (- for standard input) and <checkpoint-dir>")),
    }
}

fn migrate_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "migrate";
    let transport = match a.value("transport") {
        Some(t) => {
            let t: Vec<String> = string(t, CMD, "--transport")?.split_whitespace().map(str::to_string).collect();
            if t.is_empty() {
                return Err(usage(CMD, "--transport needs a command"));
            }
            t
        }
        None => vec!["ssh".into()],
    };
    let project = a.value("project").map(|v| group_name(v, CMD, "--project")).transpose()?;
    if project.as_ref().is_some_and(|(_, cp)| cp.is_some()) {
        return Err(usage(CMD, "--project takes the project's name only"));
    }
    let project = project.map(|(p, _)| p);
    let (container, dest) = match (&project, a.positionals.as_slice()) {
        (Some(_), [d]) => (String::new(), string(d, CMD, "<dest>")?),
        (Some(_), [_, x, ..]) => {
            return Err(usage(CMD, format!("unexpected argument {x:?}: with --project, name only <dest>")))
        }
        (Some(_), []) => return Err(usage(CMD, "missing <dest>")),
        (None, [c, d]) => (container_name(&string(c, CMD, "the container name")?, CMD)?, string(d, CMD, "<dest>")?),
        (None, [_, _, x, ..]) => return Err(usage(CMD, format!("unexpected argument {x:?}"))),
        (None, _) => return Err(usage(CMD, "missing <container> and <dest>")),
    };
    if project.is_some() && a.value("name").is_some() {
        return Err(usage(CMD, "a project's containers keep their names: --name goes with one container"));
    }
    if dest.is_empty() || dest.starts_with('-') {
        return Err(usage(CMD, format!("invalid destination '{dest}'")));
    }
    let live = a.flag("live");
    if live && project.is_some() {
        return Err(usage(CMD, "--live moves one container, not a project"));
    }
    let json = format(&a, CMD, &["text"])?;
    if json && !a.flag("dry-run") {
        return Err(usage(CMD, "--format goes with --dry-run (a migration prints its steps, not a document)"));
    }
    Ok(Command::Migrate(
        g,
        transfer::MigrateOptions {
            container,
            dest,
            transport,
            remote: a
                .value("docker-cr")
                .map(|v| string(v, CMD, "--docker-cr"))
                .transpose()?
                .unwrap_or("docker-cr".into()),
            name: valid_container_name(&a, CMD)?,
            compress: compression(&a, CMD)?.unwrap_or(Compression::Zstd),
            ignore_volumes: a.flag("ignore-volumes"),
            with_image: a.flag("with-image"),
            dry_run: a.flag("dry-run"),
            project,
            live,
        },
        json,
    ))
}

fn key_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "key";
    let name = match a.value("name") {
        Some(v) => {
            let n = string(v, CMD, "--name")?;
            if !crate::store::valid_name(&n) {
                return Err(usage(CMD, format!("invalid key name '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
            }
            Some(n)
        }
        None => None,
    };
    let words: Vec<String> =
        a.positionals.iter().map(|v| string(v, CMD, "the subcommand")).collect::<Result<_, _>>()?;
    let k = match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["show"] => keys::Command::Show,
        ["list"] => keys::Command::List,
        ["trust", f] => keys::Command::Trust { file: f.into(), name: name.clone() },
        ["trust"] => return Err(usage(CMD, "missing <file> (or - for standard input)")),
        ["trust", _, x, ..] | ["show" | "list", x, ..] => return Err(usage(CMD, format!("unexpected argument {x:?}"))),
        [other, ..] => return Err(usage(CMD, format!("unknown subcommand '{other}' [pick from: show, list, trust]"))),
        [] => return Err(usage(CMD, "missing subcommand: show, list or trust")),
    };
    if name.is_some() && !matches!(k, keys::Command::Trust { .. }) {
        return Err(usage(CMD, "--name goes with 'trust' only"));
    }
    Ok(Command::Key(g, k))
}

fn ls_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "ls";
    let (json, template) = format_or_template(&a, CMD, "table")?;
    if let [r] = a.positionals.as_slice() {
        let r = string(r, CMD, "<registry>/<repository>")?;
        if crate::formats::oci::has_registry(&r) {
            let cmd = crate::ops::image::ImageCmd::Ls { repo: r, json };
            return Ok(Command::Image(g, crate::ops::image::ImageArgs { cmd, insecure: a.flag("insecure") }));
        }
    }
    let container = match a.positionals.as_slice() {
        [] => None,
        [c] => Some(container_name(&string(c, CMD, "the container name")?, CMD)?),
        [_, x, ..] => return Err(usage(CMD, format!("unexpected argument {x:?}"))),
    };
    Ok(Command::Ls(g, catalog::LsOptions { container, json, template, quiet_names: a.flag("quiet") }))
}

fn inspect_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "inspect";
    let (json, template) = format_or_template(&a, CMD, "text")?;
    if let [r] = a.positionals.as_slice() {
        let r = string(r, CMD, "<image>")?;
        // An image reference that is not a stored checkpoint's name.
        if crate::formats::oci::has_registry(&r) && reference(&r, CMD).is_err() {
            let cmd = crate::ops::image::ImageCmd::Inspect { image: r, json };
            return Ok(Command::Image(g, crate::ops::image::ImageArgs { cmd, insecure: a.flag("insecure") }));
        }
    }
    let mut refs = references(&a.positionals, CMD, 1)?;
    if refs.is_empty() {
        return Err(usage(CMD, "missing <checkpoint>"));
    }
    Ok(Command::Inspect(g, inspect::Options { checkpoint: refs.remove(0), json, template }))
}

fn rm_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "rm";
    let checkpoints = references(&a.positionals, CMD, usize::MAX)?;
    if checkpoints.is_empty() {
        return Err(usage(CMD, "missing <checkpoint>"));
    }
    Ok(Command::Rm(g, catalog::RmOptions { checkpoints }))
}

fn prune_cmd(a: Args, g: Global) -> Result<Command, Error> {
    const CMD: &str = "prune";
    let keep = number(&a, "keep", CMD, 0)?;
    let older_than = match a.value("older-than") {
        Some(v) => Some(crate::store::parse_duration(&string(v, CMD, "--older-than")?).map_err(|e| usage(CMD, e))?),
        None => None,
    };
    if keep.is_none() && older_than.is_none() {
        return Err(usage(CMD, "say what to remove: --keep N, --older-than DURATION, or both"));
    }
    let container = match a.positionals.as_slice() {
        [] => None,
        [c] => Some(container_name(&string(c, CMD, "the container name")?, CMD)?),
        [_, x, ..] => return Err(usage(CMD, format!("unexpected argument {x:?}"))),
    };
    Ok(Command::Prune(g, catalog::PruneOptions { container, keep, older_than, dry_run: a.flag("dry-run") }))
}

fn completion_cmd(a: Args) -> Result<Command, Error> {
    const CMD: &str = "completion";
    match a.positionals.as_slice() {
        [s] => match s.to_str() {
            Some(s @ ("bash" | "zsh" | "fish")) => Ok(Command::Completion(s.to_string())),
            _ => Err(usage(CMD, format!("no completion for '{}' [pick from: bash, zsh, fish]", s.to_string_lossy()))),
        },
        [] => Err(usage(CMD, "missing shell: bash, zsh or fish")),
        [_, x, ..] => Err(usage(CMD, format!("unexpected argument {x:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Error> {
        parse(args.iter().copied().map(OsString::from))
    }
    fn err(args: &[&str]) -> String {
        p(args).unwrap_err().to_string()
    }
    fn cp(args: &[&str]) -> (Global, CheckpointCmd) {
        match p(args).unwrap() {
            Command::Checkpoint(g, c) => (g, c),
            other => panic!("{other:?}"),
        }
    }
    fn rs(args: &[&str]) -> (Global, RestoreCmd) {
        match p(args).unwrap() {
            Command::Restore(g, c) => (g, c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn checkpoint_defaults_and_switches() {
        let (g, c) = cp(&["checkpoint", "web", "/cp"]);
        assert_eq!(g, Global::default());
        assert_eq!(
            c,
            CheckpointCmd {
                opts: checkpoint::Options {
                    container: "web".into(),
                    to: Location::Dir("/cp".into()),
                    stop: false,
                    tcp_established: true,
                    ext_unix_sk: true,
                    file_locks: true,
                    dry_run: false,
                },
                export: None,
                push: None,
                all: None,
                group: None,
                json: false,
            }
        );
        let (g, c) = cp(&["-q", "checkpoint", "--stop", "--no-file-locks", "web", "/cp", "--criu", "/opt/criu"]);
        assert!(g.quiet && c.opts.stop && !c.opts.file_locks && c.opts.tcp_established);
        assert_eq!(g.criu, PathBuf::from("/opt/criu"));
    }

    #[test]
    fn global_options_anywhere() {
        for args in [
            &["--store", "/s", "ls"][..],
            &["ls", "--store", "/s"],
            &["-q", "--criu", "/c", "--store", "/s", "prune", "--keep", "1"],
            &["prune", "--keep", "1", "--criu", "/c", "--store", "/s"],
        ] {
            let g = match p(args).unwrap() {
                Command::Ls(g, _) | Command::Prune(g, _) => g,
                other => panic!("{other:?}"),
            };
            assert_eq!(g.store, Some(PathBuf::from("/s")), "{args:?}");
        }
        let Command::Ls(g, a) = p(&["ls", "--criu", "/opt/criu", "-q"]).unwrap() else { panic!() };
        assert_eq!(g.criu, PathBuf::from("/opt/criu"), "ls takes --criu (it reads CRIU's version)");
        assert!(a.quiet_names && !g.quiet, "ls's own -q");
        let Command::Export(g, _) = p(&["export", "/cp", "f", "--store", "/s", "-q"]).unwrap() else { panic!() };
        assert!(g.quiet && g.store.is_some());
        let Command::Migrate(g, _, _) = p(&["migrate", "--store", "/s", "web", "b"]).unwrap() else { panic!() };
        assert_eq!(g.store, Some(PathBuf::from("/s")));
    }

    // One rule for a directory, two ways to name a stored checkpoint.
    #[test]
    fn one_rule_for_directories_and_names() {
        let (_, c) = cp(&["checkpoint", "web"]);
        assert_eq!(c.opts.to, Location::Store(None));
        let (_, c) = cp(&["checkpoint", "web", "cp1"]);
        assert_eq!(c.opts.to, Location::Store(Some("cp1".into())));
        let (_, c) = cp(&["checkpoint", "web/cp1"]);
        assert_eq!((c.opts.container.as_str(), c.opts.to), ("web", Location::Store(Some("cp1".into()))));
        let (_, c) = cp(&["checkpoint", "web", "./cp/1"]);
        assert_eq!(c.opts.to, Location::Dir("./cp/1".into()));
        let (_, c) = rs(&["restore", "web", "../cp"]);
        assert_eq!(c.opts.from, Location::Dir("../cp".into()));
        let (_, c) = rs(&["restore", "web/first"]);
        assert_eq!((c.opts.container.as_str(), c.opts.from), ("web", Location::Store(Some("first".into()))));
        let (_, c) = rs(&["restore", "web", "first"]);
        assert_eq!((c.opts.container.as_str(), c.opts.from), ("web", Location::Store(Some("first".into()))));
        let (_, c) = rs(&["restore", "web"]);
        assert_eq!(c.opts.from, Location::Store(None), "the newest of the store");
        assert!(
            err(&["checkpoint", "web", "cp/1"]).contains("a directory starts with / or .: ./cp/1"),
            "{}",
            err(&["checkpoint", "web", "cp/1"])
        );
        assert_eq!(cp(&["checkpoint", "web", ".."]).1.opts.to, Location::Dir("..".into()), "refused as existing");
        assert!(err(&["restore", "web/first", "x"])
            .starts_with("unexpected argument \"x\": web/first names the checkpoint"));
        let store = |container: &str, name: Option<&str>| Ref::Store {
            container: container.into(),
            name: name.map(Into::into),
        };
        for args in [&["inspect", "web/first"][..], &["inspect", "web", "first"]] {
            let Command::Inspect(_, a) = p(args).unwrap() else { panic!() };
            assert_eq!(a.checkpoint, store("web", Some("first")), "{args:?}");
        }
        let Command::Inspect(_, a) = p(&["inspect", "web"]).unwrap() else { panic!() };
        assert_eq!(a.checkpoint, store("web", None));
        let Command::Inspect(_, a) = p(&["inspect", "./sub/dir"]).unwrap() else { panic!() };
        assert_eq!(a.checkpoint, Ref::Dir("./sub/dir".into()));
        let Command::Rm(_, a) = p(&["rm", "web", "first"]).unwrap() else { panic!() };
        assert_eq!(a.checkpoints, vec![store("web", Some("first"))], "docker checkpoint rm's form");
        let Command::Rm(_, a) = p(&["rm", "a/1", "b/2", "c", "3"]).unwrap() else { panic!() };
        assert_eq!(a.checkpoints, vec![store("a", Some("1")), store("b", Some("2")), store("c", Some("3"))]);
        let Command::Rm(_, a) = p(&["rm", "web"]).unwrap() else { panic!() };
        assert_eq!(a.checkpoints, vec![store("web", None)], "refused by rm itself: name the checkpoint");
        let Command::Export(_, e) = p(&["export", "web", "first", "f.tar"]).unwrap() else { panic!() };
        assert_eq!(e.from, store("web", Some("first")));
        let Command::Export(_, e) = p(&["export", "/cp", "-"]).unwrap() else { panic!() };
        assert_eq!(e.from, Ref::Dir("/cp".into()));
        assert!(err(&["inspect", "a/1", "b/2"]).starts_with("unexpected argument"));
    }

    #[test]
    fn export_and_import_arguments() {
        let (_, c) = cp(&["checkpoint", "--export", "-", "--compress", "gzip", "web"]);
        let e = c.export.unwrap();
        assert_eq!((e.file, e.compress, c.opts.container.as_str()), ("-".into(), Compression::Gzip, "web"));
        assert!(err(&["checkpoint", "--export", "f", "web", "/cp"]).starts_with("unexpected argument \"/cp\""));
        assert!(err(&["checkpoint", "--compress", "zstd", "web", "/cp"])
            .starts_with("--compress goes with --export or --push"));
        assert!(
            err(&["checkpoint", "--ignore-volumes", "web", "/cp"]).starts_with("--ignore-volumes and --with-image go")
        );
        let (_, c) = cp(&["checkpoint", "--push", "r.example:5000/cp/web:v1", "--compress", "gzip", "web"]);
        assert_eq!(c.push, Some(("r.example:5000/cp/web:v1".to_string(), Compression::Gzip, false)));
        let (_, r) = rs(&["restore", "127.0.0.1:5000/cp/web:v1", "--insecure"]);
        assert_eq!((r.image, r.opts.container.as_str()), (Some(("127.0.0.1:5000/cp/web:v1".to_string(), true)), ""));
        let (_, r) = rs(&["restore", "my.app/cp1"]);
        assert_eq!((r.image, r.opts.container.as_str()), (None, "my.app"), "a stored checkpoint's name wins");
        let (_, r) = rs(&["restore", "--image", "my.app/cp1", "--name", "x"]);
        assert_eq!(r.image, Some(("my.app/cp1".to_string(), false)));
        let Command::Image(_, i) = p(&["ls", "127.0.0.1:5000/cp"]).unwrap() else { panic!() };
        assert!(matches!(i.cmd, crate::ops::image::ImageCmd::Ls { .. }));
        assert!(err(&["export", "--compress", "xz", "/cp", "f"]).starts_with("invalid compression \"xz\" [pick from"));
        let (_, r) = rs(&["restore", "--import", "-", "--name", "b"]);
        assert_eq!((r.import, r.opts.container.as_str()), (Some("-".into()), ""));
        let (_, r) = rs(&["restore", "--import", "f.tar", "web"]);
        assert_eq!(r.opts.container, "web");
        assert_eq!(
            p(&["export", "/cp", "-"]).unwrap(),
            Command::Export(
                Global::default(),
                transfer::ExportOptions {
                    from: Ref::Dir("/cp".into()),
                    export: transfer::Export {
                        file: "-".into(),
                        compress: Compression::Zstd,
                        ignore_volumes: false,
                        with_image: false
                    }
                }
            )
        );
        assert_eq!(
            p(&["import", "-", "/cp"]).unwrap(),
            Command::Import(Global::default(), transfer::ImportOptions { file: "-".into(), dir: "/cp".into() })
        );
        assert!(err(&["import", "-"]).starts_with("missing <file>"));
    }

    #[test]
    fn migrate_arguments() {
        let Command::Migrate(_, a, _) =
            p(&["migrate", "--transport", "tests/ns-transport x", "--name", "w2", "web", "hostb"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.transport, vec!["tests/ns-transport".to_string(), "x".to_string()]);
        assert_eq!((a.container.as_str(), a.dest.as_str(), a.name.as_deref()), ("web", "hostb", Some("w2")));
        let Command::Migrate(_, a, _) = p(&["migrate", "web", "hostb"]).unwrap() else { panic!() };
        assert_eq!((a.transport, a.remote.as_str(), a.dry_run), (vec!["ssh".to_string()], "docker-cr", false));
        let Command::Migrate(_, a, json) = p(&["migrate", "--dry-run", "--format", "json", "web", "b"]).unwrap() else {
            panic!()
        };
        assert!(a.dry_run && json);
        assert!(err(&["migrate", "--format", "json", "web", "b"]).starts_with("--format goes with --dry-run"));
        assert!(err(&["migrate", "--dry-run", "--format", "yaml", "web", "b"]).starts_with("invalid format 'yaml'"));
        assert!(err(&["migrate", "web"]).starts_with("missing <container> and <dest>"));
        assert!(err(&["migrate", "web", "-x"]).starts_with("invalid option"));
        assert!(err(&["migrate", "--transport", " ", "web", "b"]).starts_with("--transport needs a command"));
        // Issue 22: --live, and its receiving end.
        let Command::Migrate(_, a, _) = p(&["migrate", "--live", "web", "hostb"]).unwrap() else { panic!() };
        assert!(a.live);
        assert_eq!(transfer::remote_argv(&a).join(" "), "ssh hostb docker-cr restore --import - --live web");
        assert!(err(&["migrate", "--live", "--project", "shop", "hostb"]).starts_with("--live moves one container"));
        let (_, r) = rs(&["restore", "--import", "-", "--live", "web"]);
        assert!(r.opts.live && r.opts.lazy, "--live implies --lazy");
        assert!(err(&["restore", "--live", "web"]).starts_with("--live is migrate --live's receiving end"));
        assert!(err(&["restore", "--import", "a.tar", "--live", "web"]).starts_with("--live is migrate --live's"));
        assert!(
            err(&["restore", "--import", "-", "--live", "--dry-run", "web"]).starts_with("--live cannot be a dry run")
        );
    }

    #[test]
    fn restore_name_and_publish() {
        let (_, r) = rs(&["restore", "--name", "web2", "-p", "8080:80", "-p", "127.0.0.1::53/udp", "web", "/cp"]);
        let a = r.opts;
        assert_eq!(a.name.as_deref(), Some("web2"));
        assert_eq!(
            a.publish[0],
            Publish { host_ip: "".into(), host_port: "8080".into(), container_port: "80".into(), proto: "tcp".into() }
        );
        assert_eq!(a.publish[1].host_ip, "127.0.0.1");
        assert_eq!(a.publish[1].host_port, "");
        assert_eq!(a.publish[1].proto, "udp");
    }

    #[test]
    fn format_names_or_templates() {
        let Command::Ls(_, a) = p(&["ls", "--format", "{{.Name}}"]).unwrap() else { panic!() };
        assert_eq!((a.json, a.template.as_deref()), (false, Some("{{.Name}}")));
        let Command::Inspect(_, a) = p(&["inspect", "--format", "json", "web"]).unwrap() else { panic!() };
        assert_eq!((a.json, a.template), (true, None));
        assert!(err(&["ls", "--format", "yaml"])
            .starts_with("invalid format 'yaml' [pick from: table, json, or a template"));
    }

    #[test]
    fn key_subcommands() {
        assert_eq!(p(&["key", "show"]).unwrap(), Command::Key(Global::default(), keys::Command::Show));
        assert_eq!(
            p(&["key", "trust", "--name", "hosta", "-"]).unwrap(),
            Command::Key(Global::default(), keys::Command::Trust { file: "-".into(), name: Some("hosta".into()) })
        );
        assert_eq!(err(&["key"]), "missing subcommand: show, list or trust\nTry 'docker-cr key --help'.");
        assert!(err(&["key", "trust"]).starts_with("missing <file>"));
        assert!(err(&["key", "show", "x"]).starts_with("unexpected argument"));
        assert!(err(&["key", "--name", "a", "show"]).starts_with("--name goes with 'trust' only"));
        assert!(err(&["key", "trust", "--name", "../x", "f"]).starts_with("invalid key name"));
        let (_, r) = rs(&["restore", "--trust", "--trust-key", "/b.pub", "--allow-host-access", "web", "/cp"]);
        assert!(r.opts.trust && r.opts.allow_host_access && !r.opts.unpause);
        assert_eq!(r.opts.trust_keys, vec![PathBuf::from("/b.pub")]);
        let (_, r) = rs(&["restore", "--unpause", "web", "/cp"]);
        assert!(r.opts.unpause && !r.opts.lazy);
        let (_, r) = rs(&["restore", "--lazy", "web"]);
        assert!(r.opts.lazy);
        assert!(err(&["restore", "--lazy", "--all"]).starts_with("--lazy restores one container"));
        assert!(
            err(&["restore", "--lazy", "--project", "shop"]).starts_with("--lazy restores one container, not a group")
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(&["--help"]).unwrap(), Command::Help(table::usage()));
        assert_eq!(p(&["help", "restore"]).unwrap(), Command::Help(table::help(&table::RESTORE)));
        assert_eq!(p(&["checkpoint", "-h"]).unwrap(), Command::Help(table::help(&table::CHECKPOINT)));
        assert_eq!(p(&["-V"]).unwrap(), Command::Version);
        assert_eq!(
            p(&["check", "--format", "json"]).unwrap(),
            Command::Check(Global::default(), check::Options { json: true })
        );
        assert!(err(&["check", "--format", "xml"]).starts_with("invalid format 'xml' [pick from: text, json]"));
    }

    #[test]
    fn store_forms_and_all() {
        let (g, c) = cp(&["--store", "/s", "checkpoint", "--all", "--stop", "-j", "4", "--print-stats"]);
        assert!(c.all == Some(all::Pool { jobs: 4 }) && c.opts.stop && c.json && c.opts.container.is_empty());
        assert_eq!(g.store, Some(PathBuf::from("/s")));
        assert!(err(&["checkpoint", "--all", "web"]).starts_with("--all takes no container"));
        assert!(err(&["checkpoint", "-j", "0", "--all"]).starts_with("invalid --jobs '0'"));
        let (_, r) = rs(&["restore", "web", "--format", "json"]);
        assert_eq!((r.opts.from, r.json), (Location::Store(None), true));
        let (_, r) = rs(&["restore", "-a"]);
        assert!(r.all.is_some());
        assert!(err(&["restore", "--all", "--name", "x"]).starts_with("--all restores each container as itself"));
    }

    #[test]
    fn store_commands() {
        assert_eq!(
            p(&["ls", "--format", "json", "web"]).unwrap(),
            Command::Ls(
                Global::default(),
                catalog::LsOptions { container: Some("web".into()), json: true, quiet_names: false, template: None }
            )
        );
        assert_eq!(err(&["inspect"]), "missing <checkpoint>\nTry 'docker-cr inspect --help'.");
        assert_eq!(err(&["rm"]), "missing <checkpoint>\nTry 'docker-cr rm --help'.");
        assert_eq!(
            p(&["prune", "--keep", "2", "--older-than", "1h30m", "web"]).unwrap(),
            Command::Prune(
                Global::default(),
                catalog::PruneOptions {
                    container: Some("web".into()),
                    keep: Some(2),
                    older_than: Some(5400),
                    dry_run: false
                }
            )
        );
        assert!(err(&["prune"]).starts_with("say what to remove"));
        assert!(err(&["prune", "--older-than", "soon"]).starts_with("invalid duration 'soon'"));
        assert_eq!(p(&["help", "prune"]).unwrap(), Command::Help(table::help(&table::PRUNE)));
    }

    #[test]
    fn usage_errors_are_exact() {
        assert_eq!(err(&[]), "missing command: checkpoint or restore\nTry 'docker-cr --help'.");
        assert_eq!(err(&["checkpoint", "--x", "a", "b"]), "invalid option '--x'\nTry 'docker-cr checkpoint --help'.");
        assert_eq!(err(&["checkpoint"]), "missing <container> (or --all)\nTry 'docker-cr checkpoint --help'.");
        assert_eq!(
            err(&["restore", "--name"]),
            "missing argument for option '--name'\nTry 'docker-cr restore --help'."
        );
        assert!(err(&["restore", "--name", "-bad", "a", "b"]).starts_with("invalid container name '-bad'"));
        assert!(err(&["restore", "-p", "80:http", "a", "b"]).starts_with("invalid port spec '80:http'"));
        assert!(err(&["frobnicate"]).starts_with("unknown command 'frobnicate'"));
        assert!(err(&["checkpoint", "../../etc", "/cp"]).starts_with("invalid container name or ID '../../etc'"));
        assert!(err(&["restore", "", "/cp"]).starts_with("invalid container name or ID ''"));
        assert!(matches!(p(&["checkpoint", "/web", "/cp"]), Ok(Command::Checkpoint(..))));
        assert_eq!(p(&["checkpoint", "a", "b", "c"]).unwrap_err().exit_code(), 2);
    }
}
