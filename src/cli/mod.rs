//! Command-line parsing (lexopt) into a `Command`, and the help texts. Keep
//! the help texts and man/docker-cr.1 in step: a test checks every flag here
//! appears in the man page.

pub mod complete;
pub mod plugin;
pub mod serve;
pub mod template;

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::error::Error;

pub const USAGE: &str = "\
docker-cr — checkpoint a running Docker container with CRIU and restore it later

Usage:
  docker-cr checkpoint [OPTIONS] <container> [<name> | <checkpoint-dir>]
  docker-cr checkpoint [OPTIONS] --all
  docker-cr restore    [OPTIONS] <container> [<name> | <checkpoint-dir>]
  docker-cr restore    [OPTIONS] --all
  docker-cr ls         [--format table|json] [-q] [<container>]
  docker-cr inspect    [--format text|json] <checkpoint>
  docker-cr rm         <checkpoint>...
  docker-cr prune      [--keep N] [--older-than DURATION] [<container>]
  docker-cr checkpoint --export <file|-> [OPTIONS] <container>
  docker-cr restore    --import <file|-> [OPTIONS] [<container>]
  docker-cr export     [--compress zstd|gzip|none] <checkpoint-dir> <file|->
  docker-cr import     <file|-> <checkpoint-dir>
  docker-cr migrate    [OPTIONS] <container> <dest>
  docker-cr check      [--format text|json]
  docker-cr serve      [--listen ADDR:PORT] [OPTIONS]
  docker-cr key        show | list | trust [--name NAME] <file|->
  docker-cr completion bash|zsh|fish
  docker-cr install-plugin [--user|--system]
  docker-cr help [COMMAND]
  docker-cr --version

A checkpoint is kept in the store unless the second argument contains a '/'
(then it is that directory). <checkpoint> is CONTAINER/NAME as 'ls -q'
prints it, CONTAINER for its newest, or a directory starting with / or ./.
As a Docker CLI plugin (docker-cr install-plugin): docker cr COMMAND ...

Global options:
      --criu <path>    the CRIU binary to run (default: criu on PATH)
      --store <dir>    the checkpoint store (default: $DOCKER_CR_STORE, else
                       /var/lib/docker-cr)
  -q, --quiet          print errors only, no progress
  -h, --help           print help
  -V, --version        print the version

Environment:
  DOCKER_HOST          the engine's socket as unix:///path; without it, the
                       docker CLI's context (DOCKER_CONTEXT, or currentContext
                       in DOCKER_CONFIG/config.json), else /var/run/docker.sock
  DOCKER_CONFIG        the docker CLI's configuration directory (default ~/.docker)
  DOCKER_CR_TIMEOUT    seconds to wait for one answer of the engine (default 60)
  DOCKER_CR_KEYS       the directory of this host's signing key and of the
                       keys it trusts (default /etc/docker-cr)
  DOCKER_CR_STORE      the checkpoint store, and where checkpoint --export and
                       restore --import keep their private temporary
                       directory (default /var/lib/docker-cr)

docker-cr must run as root on the engine's host. See docker-cr(1) for the
checkpoint layout, exit status and examples.
";

pub const COMPLETION_HELP: &str = "\
docker-cr completion — a shell completion script

Usage: docker-cr completion bash|zsh|fish

Prints a script that completes docker-cr's commands, options, container names
and file names. Load it for the current shell, or install it:
  source <(docker-cr completion bash)
  docker-cr completion bash > /etc/bash_completion.d/docker-cr
  docker-cr completion zsh > \"${fpath[1]}/_docker-cr\"
  docker-cr completion fish > ~/.config/fish/completions/docker-cr.fish
'docker cr' completes through the docker CLI's own completion.

Options:
  -h, --help                 print help
";

pub const INSTALL_PLUGIN_HELP: &str = "\
docker-cr install-plugin — make 'docker cr ...' run this docker-cr

Usage: docker-cr install-plugin [--user|--system]

Links this binary as docker-cr into the docker CLI's plugin directory, so that
'docker cr checkpoint web' is 'docker-cr checkpoint web', with the docker CLI's
--context, -H and --config honoured. docker-cr itself keeps working alone.

Options:
      --user                 into $DOCKER_CONFIG/cli-plugins (default
                             ~/.docker/cli-plugins); the default
      --system               into /usr/local/lib/docker/cli-plugins, for every
                             user of this host
  -h, --help                 print help
";

pub const CHECK_HELP: &str = "\
docker-cr check — is this host ready to checkpoint and restore?

Usage: docker-cr check [--format text|json]

Checks root and capabilities, CRIU (present, new enough for the kernel,
'criu check', dirty-memory tracking), the cgroup freezer, the engine (reachable,
API version, experimental mode, storage driver, root dir), this host's signing
key and the keys it trusts, and repairs what an interrupted docker-cr left (a
frozen container, a changed /etc/criu/runc.conf).
One line per item: ok, warning or FAIL, with the fix.
Exit status: 0 all ok, 6 warnings only, 3 something fails.

Options:
      --format <text|json>   output format (default text)
  -h, --help                 print help
";

pub const KEY_HELP: &str = "\
docker-cr key — this host's signing key, and the keys it trusts

Usage:
  docker-cr key show                    print this host's public key (made on
                                        first use) as one line
  docker-cr key list                    list the keys restore trusts
  docker-cr key trust [--name NAME] <file|->
                                        trust another host's public key (the
                                        line 'docker-cr key show' printed there)

Every checkpoint is signed with this host's key (/etc/docker-cr/host.key,
0600). restore accepts a checkpoint without --trust only when it is signed by
this host or by a key in /etc/docker-cr/trusted-keys/. To move checkpoints from
host A to host B, trust A's key on B once:
  ssh A docker-cr key show | docker-cr key trust --name A -

Options:
      --name <name>          the name to keep the key under (default: the
                             comment of the key line, usually A's hostname)
  -h, --help                 print help
";

pub const CHECKPOINT_HELP: &str = "\
docker-cr checkpoint — save a running container's processes and file changes

Usage: docker-cr checkpoint [OPTIONS] <container> [<name> | <checkpoint-dir>]
       docker-cr checkpoint [OPTIONS] --all
       docker-cr checkpoint --export <file|-> [OPTIONS] <container>

Freezes the container's cgroup, dumps its processes with CRIU and captures its
file changes while it is frozen, then thaws it. <container> is a name or an
(abbreviated) ID. Without a second argument the checkpoint goes to the store
under a generated name (a UTC timestamp, e.g. 20261128T185605.123Z); a <name>
without '/' names it in the store; an argument with a '/' is a directory,
which must not exist. Either way it is created 0700 and only appears once
complete.

Options:
      --stop                 stop the container after the checkpoint (its
                             restart policy is set to \"no\" so it stays stopped)
  -a, --all                  checkpoint every running container into the store;
                             those that cannot be (shared namespaces, exec) are
                             skipped with the reason; a summary at the end
  -j, --jobs <n>             with --all: how many at a time (default 2)
      --print-stats          print a JSON object with timings, sizes and CRIU's
                             statistics on stdout (progress stays on stderr)
      --format <text|json>   json is the same as --print-stats
      --no-tcp-established   do not dump established TCP connections (fail if
                             there are any)
      --no-ext-unix-sk       do not allow unix sockets connected to the outside
      --no-file-locks        do not dump file locks (fail if there are any)
      --export <file|->      write the checkpoint as one archive file (0600;
                             - for standard output) instead of a directory;
                             see 'docker-cr export'
      --compress <zstd|gzip|none>
                             the archive's compression (default zstd)
      --ignore-volumes       leave the named volumes out of the archive
      --with-image           put the container's image into the archive, for
                             a destination that does not have it
  -h, --help                 print help
";

pub const EXPORT_HELP: &str = "\
docker-cr export — write a checkpoint directory as one archive file

Usage: docker-cr export [--compress zstd|gzip|none] <checkpoint-dir> <file|->

Writes the checkpoint as a tar in Podman's and checkpointctl's layout
(checkpoint/, config.dump, spec.dump, rootfs-diff.tar without overlay
whiteouts, deleted.files) plus docker-cr's signed manifest.json and
manifest.sig, so that 'docker-cr import' gives back the same, still signed,
directory. <file> is created 0600 and must not exist; - is standard output.
Nothing is buffered: the archive streams.

The container's named volumes travel as volumes/<name>.tar, read from this
host's volumes at export time, their list signed with this host's key; host
bind mounts never travel.

Options:
      --compress <zstd|gzip|none>
                             compression (default zstd, with a checksum)
      --ignore-volumes       leave the named volumes out
      --with-image           put the container's image in (docker save), for
                             a destination without it; restore --import
                             loads it if that engine lacks it
  -h, --help                 print help
";

pub const IMPORT_HELP: &str = "\
docker-cr import — unpack an archive into a checkpoint directory

Usage: docker-cr import <file|-> <checkpoint-dir>

Reads an archive written by 'docker-cr export' or 'checkpoint --export' (or
by Podman's 'container checkpoint --export'); - is standard input. The
compression (zstd, gzip or none) is told by its first bytes. Entries are
untrusted: only the layout's files and directories are accepted, created
beneath the new directory without following links. <checkpoint-dir> must not
exist; it appears only once complete, and for a docker-cr archive only once
every file matches the signed manifest. A truncated or corrupted archive is
refused and leaves nothing behind. The signature is checked by restore.
An archive of Podman or of the kubelet (CRI-O, containerd) is converted into
a checkpoint for Docker; it is unsigned, and restores only with --trust.

Options:
  -h, --help                 print help
";

pub const MIGRATE_HELP: &str = "\
docker-cr migrate — move a running container to another host

Usage: docker-cr migrate [OPTIONS] <container> <dest>

Checkpoints the container (stopping it), streams the archive through the
transport command to 'docker-cr restore --import -' on <dest> (by default:
ssh <dest> docker-cr restore --import -), and removes the source container
once the destination has restored it. If anything fails on the way, the
source is restored here from the same checkpoint and runs on with its state,
and nothing is left on the destination. Prints the downtime (from the freeze
to the destination's successful restore). The destination must have the
image (or use --with-image) and trust this host's key ('docker-cr key show' here, 'docker-cr key
trust -' there).

Options:
      --transport <command>  the command that runs a command on <dest>,
                             given <dest> and then the command (default ssh;
                             split at spaces, no shell)
      --docker-cr <path>     docker-cr on the destination (default docker-cr)
      --name <name>          the container's name on the destination
      --compress <zstd|gzip|none>
                             the stream's compression (default zstd)
      --ignore-volumes       leave the named volumes behind
      --with-image           send the image along (loaded there only if the
                             destination lacks it)
  -h, --help                 print help
";

pub const RESTORE_HELP: &str = "\
docker-cr restore — start a container from a checkpoint

Usage: docker-cr restore [OPTIONS] <container> [<name> | <checkpoint-dir>]
       docker-cr restore [OPTIONS] --all
       docker-cr restore --import <file|-> [OPTIONS] [<container>]

<container> is the container the checkpoint was taken from (its name or ID).
Without a second argument its newest checkpoint in the store is restored; a
<name> without '/' is one of its checkpoints in the store; an argument with
a '/' is a checkpoint directory.
Without --name it is restored under that name: into the same container if it
still exists and is stopped, or into a new one created from the saved
configuration if it was removed. A running container is never touched.

Options:
      --name <name>          restore a copy under a new name (the original may
                             still be running)
      --import <file|->      restore from an archive ('docker-cr export', or
                             - for standard input): it is unpacked into a
                             private directory under $DOCKER_CR_STORE,
                             verified, restored, then removed. <container>
                             defaults to the checkpointed container's name.
                             Named volumes in it are created and filled; one
                             that exists here already is an error. Podman's
                             and the kubelet's archives restore too (unsigned:
                             with --trust; see the man page)
      --ignore-volumes       with --import: unpack no volume, use the ones
                             here (or new empty ones) as they are
  -p, --publish <spec>       publish a port as docker run -p does, e.g.
                             8080:80, 127.0.0.1:8080:80/tcp; replaces the saved
                             published ports (repeatable)
      --trust-key <file>     also trust this public key (another host's
                             host.pub, from 'docker-cr key show' there) for
                             this restore (repeatable)
      --trust                restore a checkpoint that is unsigned or signed
                             by a key this host does not trust. Restoring runs
                             its processes as root with the capabilities and
                             credentials saved in it: use it only for
                             checkpoints whose source you trust
      --allow-host-access    give the new container the host access its
                             checkpoint asks for (privileged mode, added
                             capabilities, devices, host namespaces, host
                             paths, ...); without it such a restore is refused
                             with the list
      --unpause              restore a checkpoint of a paused container
                             running (by default it comes back paused, and
                             none of its code runs until 'docker unpause')
  -a, --all                  restore the newest checkpoint in the store of
                             every container that is not running; a summary
                             at the end
  -j, --jobs <n>             with --all: how many at a time (default 2)
      --print-stats          print a JSON object with timings and CRIU's
                             statistics on stdout (progress stays on stderr)
      --format <text|json>   json is the same as --print-stats
  -h, --help                 print help

A checkpoint restores without --trust when it is signed by this host's key or
by a key in /etc/docker-cr/trusted-keys/ (see 'docker-cr key'). A signature
that does not match is refused whatever the options.
";

pub const LS_HELP: &str = "\
docker-cr ls — list the checkpoints in the store

Usage: docker-cr ls [--format table|json|TEMPLATE] [-q] [<container>]

One line per checkpoint (of <container> only, by name or ID, if given):
container, name, created, age, size, memory pages, the container's state now
(running, exited, ..., removed), the CRIU version and kernel it was made with,
and whether it can be restored on this host, with the reasons if not (newer
CRIU, other architecture, missing image, unsigned or untrusted signature).

Options:
      --format <table|json|TEMPLATE>
                             json: an array of objects with the same fields;
                             a template prints a line per checkpoint, as
                             docker does: '{{.Container}}/{{.Name}} {{.Restorable}}'
  -q, --quiet                print CONTAINER/NAME only, one per line
  -h, --help                 print help
";

pub const INSPECT_HELP: &str = "\
docker-cr inspect — what is inside a checkpoint

Usage: docker-cr inspect [--format text|json|TEMPLATE] <checkpoint>

<checkpoint> is CONTAINER/NAME, CONTAINER (its newest), or a directory
starting with / or ./. Shows the source container and image, the dump's
options, the process tree (pids and commands from CRIU's pstree.img and
core-*.img), sizes, timings, and CRIU's statistics (stats-dump).

Options:
      --format <text|json|TEMPLATE>
                             output format (default text); a template picks
                             fields of the JSON, e.g.
                             '{{.CriuStatistics.FrozenTime}}'
  -h, --help                 print help
";

pub const RM_HELP: &str = "\
docker-cr rm — remove checkpoints from the store

Usage: docker-cr rm <checkpoint>...

Each <checkpoint> is CONTAINER/NAME as 'docker-cr ls -q' prints it. A
checkpoint that a running restore uses is not removed (exit status 5).

Options:
  -h, --help                 print help
";

pub const PRUNE_HELP: &str = "\
docker-cr prune — remove old checkpoints from the store

Usage: docker-cr prune [--keep N] [--older-than DURATION] [<container>]

Removes the checkpoints (of <container> only, if given) that are beyond the N
newest of their container and older than DURATION; with one option only, that
one decides. A checkpoint that a running restore uses is skipped.

Options:
      --keep <n>             keep the N newest checkpoints of each container
      --older-than <d>       remove only checkpoints older than this: a number
                             and a unit, s m h d w (30m, 12h, 7d, 1h30m)
  -h, --help                 print help
";

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

/// Where a checkpoint goes to or comes from: the second argument.
#[derive(Debug, PartialEq, Clone)]
pub enum Where {
    /// It contains a '/': a directory, as given.
    Dir(PathBuf),
    /// In the store: this name, or (None) generated / the newest.
    Store(Option<String>),
}

/// Docker's convention for volumes: a '/' makes it a path.
pub fn where_(arg: Option<OsString>, cmd: &'static str) -> Result<Where, Error> {
    let Some(a) = arg else { return Ok(Where::Store(None)) };
    if a.as_encoded_bytes().contains(&b'/') {
        return Ok(Where::Dir(a.into()));
    }
    let n = string(a, cmd, "the checkpoint name")?;
    if !crate::store::valid_name(&n) {
        return Err(usage(
            cmd,
            format!(
                "invalid checkpoint name '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*, or a path with a '/' for a directory"
            ),
        ));
    }
    Ok(Where::Store(Some(n)))
}

#[derive(Debug, PartialEq, Default, Clone)]
pub struct LsArgs {
    pub container: Option<String>,
    pub json: bool,
    /// --format '{{.Field}}...': one line per checkpoint (see `template`).
    pub template: Option<String>,
    /// -q: references only.
    pub quiet_names: bool,
}

#[derive(Debug, PartialEq, Default, Clone)]
pub struct InspectArgs {
    pub checkpoint: String,
    pub json: bool,
    /// --format '{{.Field}}...' (see `template`).
    pub template: Option<String>,
}

#[derive(Debug, PartialEq, Default, Clone)]
pub struct RmArgs {
    pub checkpoints: Vec<String>,
}

#[derive(Debug, PartialEq, Default, Clone)]
pub struct PruneArgs {
    pub container: Option<String>,
    pub keep: Option<usize>,
    /// Seconds.
    pub older_than: Option<u64>,
}

#[derive(Debug, PartialEq, Clone)]
pub struct CheckpointArgs {
    /// Empty with --all.
    pub container: String,
    pub to: Where,
    /// Write an archive here (`-`: stdout) instead of keeping the checkpoint.
    pub export: Option<PathBuf>,
    pub compress: crate::formats::archive::Compression,
    /// Leave named volumes out of the archive.
    pub ignore_volumes: bool,
    /// Put the container's image into the archive.
    pub with_image: bool,
    pub stop: bool,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub file_locks: bool,
    pub all: bool,
    pub jobs: usize,
    /// --print-stats / --format json.
    pub json: bool,
}

#[derive(Debug, PartialEq, Clone)]
pub struct RestoreArgs {
    /// Empty with --all, and with --import and no <container> (the
    /// manifest's name then).
    pub container: String,
    pub from: Where,
    /// Restore from this archive (`-`: stdin), unpacked into a private directory.
    pub import: Option<PathBuf>,
    /// With --import: use existing volumes as they are, unpack none.
    pub ignore_volumes: bool,
    pub name: Option<String>,
    pub publish: Vec<Publish>,
    /// Restore even if the checkpoint is unsigned or signed by an untrusted key.
    pub trust: bool,
    /// More public keys to trust for this restore.
    pub trust_keys: Vec<PathBuf>,
    /// Give the new container the host access its checkpoint asks for.
    pub allow_host_access: bool,
    /// A checkpoint of a paused container restores running, not paused.
    pub unpause: bool,
    pub all: bool,
    pub jobs: usize,
    pub json: bool,
}

/// The default of --jobs. bench/all on 2 CPUs: checkpoint --all 15-20 %
/// faster at 2 than at 1, restore --all the same (README, Performance).
pub const DEFAULT_JOBS: usize = 2;

/// One `-p` spec: `[ip:][host_port]:container_port[/proto]`.
#[derive(Debug, PartialEq, Clone)]
pub struct Publish {
    pub host_ip: String,
    pub host_port: String,
    pub container_port: String,
    pub proto: String,
}

#[derive(Debug, PartialEq, Default)]
pub struct CheckArgs {
    pub json: bool,
}

#[derive(Debug, PartialEq, Clone)]
pub struct MigrateArgs {
    pub container: String,
    pub dest: String,
    pub transport: Vec<String>,
    pub remote: String,
    pub name: Option<String>,
    pub compress: crate::formats::archive::Compression,
    pub ignore_volumes: bool,
    pub with_image: bool,
}

#[derive(Debug, PartialEq)]
pub struct ExportArgs {
    pub dir: PathBuf,
    pub file: PathBuf,
    pub compress: crate::formats::archive::Compression,
    pub ignore_volumes: bool,
    pub with_image: bool,
}

#[derive(Debug, PartialEq)]
pub struct ImportArgs {
    pub file: PathBuf,
    pub dir: PathBuf,
}

#[derive(Debug, PartialEq)]
pub enum KeyArgs {
    Show,
    List,
    Trust { file: PathBuf, name: Option<String> },
}

/// Every command and its help text: `help COMMAND`, completion and the man
/// page test read this one table.
pub const COMMANDS: &[(&str, &str)] = &[
    ("checkpoint", CHECKPOINT_HELP),
    ("restore", RESTORE_HELP),
    ("ls", LS_HELP),
    ("inspect", INSPECT_HELP),
    ("rm", RM_HELP),
    ("prune", PRUNE_HELP),
    ("export", EXPORT_HELP),
    ("import", IMPORT_HELP),
    ("migrate", MIGRATE_HELP),
    ("check", CHECK_HELP),
    ("serve", serve::SERVE_HELP),
    ("key", KEY_HELP),
    ("completion", COMPLETION_HELP),
    ("install-plugin", INSTALL_PLUGIN_HELP),
    ("help", USAGE),
];

pub const COMMAND_NAMES: &[&str] = &[
    "checkpoint",
    "restore",
    "ls",
    "inspect",
    "rm",
    "prune",
    "export",
    "import",
    "migrate",
    "check",
    "serve",
    "key",
    "completion",
    "install-plugin",
    "help",
];

pub fn help_of(command: &str) -> Option<&'static str> {
    COMMANDS.iter().find(|(c, _)| *c == command).map(|(_, h)| *h)
}

#[derive(Debug, PartialEq)]
pub enum Command {
    Check(Global, CheckArgs),
    Completion(String),
    InstallPlugin { system: bool },
    Key(Global, KeyArgs),
    Checkpoint(Global, CheckpointArgs),
    Restore(Global, RestoreArgs),
    Ls(Global, LsArgs),
    Inspect(Global, InspectArgs),
    Rm(Global, RmArgs),
    Prune(Global, PruneArgs),
    Export(Global, ExportArgs),
    Import(Global, ImportArgs),
    Migrate(Global, MigrateArgs),
    Serve(Global, serve::ServeArgs),
    Help(&'static str),
    Version,
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

fn string(v: OsString, cmd: &'static str, what: &str) -> Result<String, Error> {
    v.into_string().map_err(|_| usage(cmd, format!("{what} is not valid UTF-8")))
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Error> {
    let mut p = lexopt::Parser::from_args(args);
    let mut g = Global::default();
    let cmd = loop {
        match p.next().map_err(lex(""))? {
            Some(Short('h') | Long("help")) => return Ok(Command::Help(USAGE)),
            Some(Short('V') | Long("version")) => return Ok(Command::Version),
            Some(Short('q') | Long("quiet")) => g.quiet = true,
            Some(Long("criu")) => g.criu = p.value().map_err(lex(""))?.into(),
            Some(Long("store")) => g.store = Some(p.value().map_err(lex(""))?.into()),
            Some(Value(v)) => break string(v, "", "command")?,
            Some(arg) => return Err(usage("", arg.unexpected())),
            None => return Err(usage("", "missing command: checkpoint or restore")),
        }
    };
    match cmd.as_str() {
        "checkpoint" => checkpoint(p, g),
        "restore" => restore(p, g),
        "export" => export(p, g),
        "import" => import(p, g),
        "migrate" => migrate(p, g),
        "check" => check(p, g),
        "serve" => serve::parse(p, g),
        "key" => key(p, g),
        "ls" => ls(p, g),
        "inspect" => inspect(p, g),
        "rm" => rm(p, g),
        "prune" => prune(p, g),
        "completion" => completion(p),
        "install-plugin" => install_plugin(p),
        "help" => match p.next().map_err(lex(""))? {
            None => Ok(Command::Help(USAGE)),
            Some(Value(v)) => match v.to_str().and_then(help_of) {
                Some(h) => Ok(Command::Help(h)),
                None => Err(usage("", format!("no help for {v:?} [pick from: {}]", COMMAND_NAMES.join(", ")))),
            },
            Some(other) => Err(usage("", other.unexpected())),
        },
        other => Err(usage("", format!("unknown command '{other}' [pick from: {}]", COMMAND_NAMES.join(", ")))),
    }
}

fn container_arg(c: OsString, cmd: &'static str) -> Result<String, Error> {
    let c = string(c, cmd, "the container name")?;
    // Checked here, before it becomes part of an API path.
    if !crate::store::valid_name(c.strip_prefix('/').unwrap_or(&c)) {
        return Err(usage(cmd, format!("invalid container name or ID '{c}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
    }
    Ok(c)
}

/// `<container> [<name> | <checkpoint-dir>]`, or nothing with --all.
fn positionals(pos: Vec<OsString>, all: bool, cmd: &'static str) -> Result<(String, Where), Error> {
    let mut it = pos.into_iter();
    match (it.next(), it.next(), it.next()) {
        (None, _, _) if all => Ok((String::new(), Where::Store(None))),
        (Some(x), _, _) if all => Err(usage(cmd, format!("--all takes no container, but {x:?} was given"))),
        (Some(c), d, None) => Ok((container_arg(c, cmd)?, where_(d, cmd)?)),
        (None, _, _) => Err(usage(cmd, "missing <container> (or --all)")),
        (Some(_), _, Some(x)) => Err(usage(cmd, format!("unexpected argument {x:?}"))),
    }
}

fn format_json(p: &mut lexopt::Parser, cmd: &'static str, other: &'static str) -> Result<bool, Error> {
    let v = p.value().map_err(lex(cmd))?;
    match v.to_str() {
        Some("json") => Ok(true),
        Some(x) if x == other => Ok(false),
        _ => Err(usage(cmd, format!("invalid format '{}' [pick from: {other}, json]", v.to_string_lossy()))),
    }
}

/// --format for ls and inspect: a format name, or a template with
/// `{{.Field}}` as the docker CLI takes it.
fn format_or_template(
    p: &mut lexopt::Parser,
    cmd: &'static str,
    other: &'static str,
) -> Result<(bool, Option<String>), Error> {
    let v = p.value().map_err(lex(cmd))?;
    match v.to_str() {
        Some("json") => Ok((true, None)),
        Some(x) if x == other => Ok((false, None)),
        Some(t) if crate::cli::template::is_template(t) => Ok((false, Some(t.to_string()))),
        _ => Err(usage(
            cmd,
            format!(
                "invalid format '{}' [pick from: {other}, json, or a template such as '{{{{.Name}}}}']",
                v.to_string_lossy()
            ),
        )),
    }
}

fn number(p: &mut lexopt::Parser, cmd: &'static str, what: &str, min: usize) -> Result<usize, Error> {
    let v = string(p.value().map_err(lex(cmd))?, cmd, what)?;
    v.parse::<usize>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| usage(cmd, format!("invalid {what} '{v}': expected a whole number >= {min}")))
}

fn ls(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "ls";
    let mut a = LsArgs::default();
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => a.quiet_names = true,
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(LS_HELP)),
            Long("format") => (a.json, a.template) = format_or_template(&mut p, CMD, "table")?,
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    let mut it = pos.into_iter();
    a.container = it.next().map(|c| container_arg(c, CMD)).transpose()?;
    if let Some(x) = it.next() {
        return Err(usage(CMD, format!("unexpected argument {x:?}")));
    }
    Ok(Command::Ls(g, a))
}

fn inspect(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "inspect";
    let mut a = InspectArgs::default();
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(INSPECT_HELP)),
            Long("format") => (a.json, a.template) = format_or_template(&mut p, CMD, "text")?,
            Value(v) => pos.push(string(v, CMD, "<checkpoint>")?),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    match pos.len() {
        0 => Err(usage(CMD, "missing <checkpoint>")),
        1 => {
            a.checkpoint = pos.remove(0);
            Ok(Command::Inspect(g, a))
        }
        _ => Err(usage(CMD, format!("unexpected argument {:?}", pos[1]))),
    }
}

fn rm(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "rm";
    let mut a = RmArgs::default();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(RM_HELP)),
            Value(v) => a.checkpoints.push(string(v, CMD, "<checkpoint>")?),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    if a.checkpoints.is_empty() {
        return Err(usage(CMD, "missing <checkpoint>"));
    }
    Ok(Command::Rm(g, a))
}

fn prune(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "prune";
    let mut a = PruneArgs::default();
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(PRUNE_HELP)),
            Long("keep") => a.keep = Some(number(&mut p, CMD, "--keep", 0)?),
            Long("older-than") => {
                let v = string(p.value().map_err(lex(CMD))?, CMD, "--older-than")?;
                a.older_than = Some(crate::store::parse_duration(&v).map_err(|e| usage(CMD, e))?);
            }
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    if a.keep.is_none() && a.older_than.is_none() {
        return Err(usage(CMD, "say what to remove: --keep N, --older-than DURATION, or both"));
    }
    let mut it = pos.into_iter();
    a.container = it.next().map(|c| container_arg(c, CMD)).transpose()?;
    if let Some(x) = it.next() {
        return Err(usage(CMD, format!("unexpected argument {x:?}")));
    }
    Ok(Command::Prune(g, a))
}

fn check(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "check";
    let mut a = CheckArgs::default();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("criu") => g.criu = p.value().map_err(lex(CMD))?.into(),
            Short('h') | Long("help") => return Ok(Command::Help(CHECK_HELP)),
            Long("format") => {
                let v = p.value().map_err(lex(CMD))?;
                match v.to_str() {
                    Some("json") => a.json = true,
                    Some("text") => a.json = false,
                    _ => {
                        return Err(usage(
                            CMD,
                            format!("invalid format '{}' [pick from: text, json]", v.to_string_lossy()),
                        ))
                    }
                }
            }
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    Ok(Command::Check(g, a))
}

fn completion(mut p: lexopt::Parser) -> Result<Command, Error> {
    const CMD: &str = "completion";
    let mut shell = None;
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(COMPLETION_HELP)),
            Value(v) if shell.is_none() => shell = Some(string(v, CMD, "the shell")?),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    match shell.as_deref() {
        Some(s @ ("bash" | "zsh" | "fish")) => Ok(Command::Completion(s.to_string())),
        Some(s) => Err(usage(CMD, format!("no completion for '{s}' [pick from: bash, zsh, fish]"))),
        None => Err(usage(CMD, "missing shell: bash, zsh or fish")),
    }
}

fn install_plugin(mut p: lexopt::Parser) -> Result<Command, Error> {
    const CMD: &str = "install-plugin";
    let mut system = false;
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help(INSTALL_PLUGIN_HELP)),
            Long("user") => system = false,
            Long("system") => system = true,
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    Ok(Command::InstallPlugin { system })
}

fn key(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "key";
    let mut name = None;
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Short('h') | Long("help") => return Ok(Command::Help(KEY_HELP)),
            Long("name") => {
                let n = string(p.value().map_err(lex(CMD))?, CMD, "--name")?;
                if !crate::store::valid_name(&n) {
                    return Err(usage(CMD, format!("invalid key name '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
                }
                name = Some(n);
            }
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    let mut it = pos.into_iter();
    let sub = it.next().map(|v| string(v, CMD, "the subcommand")).transpose()?;
    let args = match (sub.as_deref(), it.next(), it.next()) {
        (Some("show"), None, _) => KeyArgs::Show,
        (Some("list"), None, _) => KeyArgs::List,
        (Some("trust"), Some(f), None) => KeyArgs::Trust { file: f.into(), name: name.clone() },
        (Some("trust"), None, _) => return Err(usage(CMD, "missing <file> (or - for standard input)")),
        (Some("trust"), _, Some(x)) | (Some("show" | "list"), Some(x), _) => {
            return Err(usage(CMD, format!("unexpected argument {x:?}")))
        }
        (Some(other), _, _) => {
            return Err(usage(CMD, format!("unknown subcommand '{other}' [pick from: show, list, trust]")))
        }
        (None, _, _) => return Err(usage(CMD, "missing subcommand: show, list or trust")),
    };
    if name.is_some() && !matches!(args, KeyArgs::Trust { .. }) {
        return Err(usage(CMD, "--name goes with 'trust' only"));
    }
    Ok(Command::Key(g, args))
}

fn checkpoint(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "checkpoint";
    let (mut stop, mut tcp, mut unix, mut locks) = (false, true, true, true);
    let (mut all, mut jobs, mut json) = (false, DEFAULT_JOBS, false);
    let (mut export, mut compress, mut ignore_volumes, mut with_image) = (None, None, false, false);
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            // Global options may come after the command too.
            Short('q') | Long("quiet") => g.quiet = true,
            Long("criu") => g.criu = p.value().map_err(lex(CMD))?.into(),
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(CHECKPOINT_HELP)),
            Short('a') | Long("all") => all = true,
            Short('j') | Long("jobs") => jobs = number(&mut p, CMD, "--jobs", 1)?,
            Long("print-stats") => json = true,
            Long("format") => json = format_json(&mut p, CMD, "text")?,
            Long("stop") => stop = true,
            Long("no-tcp-established") => tcp = false,
            Long("no-ext-unix-sk") => unix = false,
            Long("no-file-locks") => locks = false,
            Long("export") => export = Some(PathBuf::from(p.value().map_err(lex(CMD))?)),
            Long("compress") => compress = Some(compression(p.value().map_err(lex(CMD))?, CMD)?),
            Long("ignore-volumes") => ignore_volumes = true,
            Long("with-image") => with_image = true,
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    if export.is_none() && (compress.is_some() || ignore_volumes || with_image) {
        return Err(usage(CMD, "--compress, --ignore-volumes and --with-image go with --export"));
    }
    if export.is_some() && all {
        return Err(usage(CMD, "--export takes one container, not --all"));
    }
    let (container, to) = match export {
        // The directory is a private temporary one, chosen at run time.
        Some(_) => (one_container(pos, CMD, "with --export, name only the container")?, Where::Store(None)),
        None => positionals(pos, all, CMD)?,
    };
    Ok(Command::Checkpoint(
        g,
        CheckpointArgs {
            container,
            to,
            export,
            compress: compress.unwrap_or(crate::formats::archive::Compression::Zstd),
            ignore_volumes,
            with_image,
            stop,
            tcp_established: tcp,
            ext_unix_sk: unix,
            file_locks: locks,
            all,
            jobs,
            json,
        },
    ))
}

fn restore(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "restore";
    let mut name = None;
    let mut publish = Vec::new();
    let (mut trust, mut trust_keys, mut allow_host_access, mut unpause) = (false, Vec::new(), false, false);
    let (mut all, mut jobs, mut json) = (false, DEFAULT_JOBS, false);
    let (mut import, mut ignore_volumes) = (None, false);
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("criu") => g.criu = p.value().map_err(lex(CMD))?.into(),
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(RESTORE_HELP)),
            Short('a') | Long("all") => all = true,
            Short('j') | Long("jobs") => jobs = number(&mut p, CMD, "--jobs", 1)?,
            Long("print-stats") => json = true,
            Long("format") => json = format_json(&mut p, CMD, "text")?,
            Long("name") => {
                let n = string(p.value().map_err(lex(CMD))?, CMD, "--name")?;
                if !crate::store::valid_name(&n) {
                    return Err(usage(CMD, format!("invalid container name '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
                }
                name = Some(n);
            }
            Short('p') | Long("publish") => {
                let s = string(p.value().map_err(lex(CMD))?, CMD, "--publish")?;
                publish.push(parse_publish(&s).map_err(|e| usage(CMD, e))?);
            }
            Long("trust") => trust = true,
            Long("trust-key") => trust_keys.push(p.value().map_err(lex(CMD))?.into()),
            Long("allow-host-access") => allow_host_access = true,
            Long("unpause") => unpause = true,
            Long("import") => import = Some(PathBuf::from(p.value().map_err(lex(CMD))?)),
            Long("ignore-volumes") => ignore_volumes = true,
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    if import.is_none() && ignore_volumes {
        return Err(usage(CMD, "--ignore-volumes goes with --import"));
    }
    if import.is_some() && all {
        return Err(usage(CMD, "--import restores one archive, not --all"));
    }
    let (container, from) = match import {
        Some(_) if pos.is_empty() => (String::new(), Where::Store(None)),
        Some(_) => (one_container(pos, CMD, "with --import, name at most the container")?, Where::Store(None)),
        None => positionals(pos, all, CMD)?,
    };
    if all && (name.is_some() || !publish.is_empty()) {
        return Err(usage(CMD, "--all restores each container as itself: --name and --publish go with one container"));
    }
    Ok(Command::Restore(
        g,
        RestoreArgs {
            container,
            from,
            import,
            ignore_volumes,
            name,
            publish,
            trust,
            trust_keys,
            allow_host_access,
            unpause,
            all,
            jobs,
            json,
        },
    ))
}

fn compression(v: OsString, cmd: &'static str) -> Result<crate::formats::archive::Compression, Error> {
    v.to_str()
        .and_then(crate::formats::archive::Compression::parse)
        .ok_or_else(|| usage(cmd, format!("invalid compression {v:?} [pick from: zstd, gzip, none]")))
}

/// Exactly one positional: the container.
fn one_container(pos: Vec<OsString>, cmd: &'static str, what: &str) -> Result<String, Error> {
    let mut it = pos.into_iter();
    match (it.next(), it.next()) {
        (Some(c), None) => {
            let c = string(c, cmd, "the container name")?;
            if !crate::store::valid_name(c.strip_prefix('/').unwrap_or(&c)) {
                return Err(usage(cmd, format!("invalid container name or ID '{c}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
            }
            Ok(c)
        }
        (None, _) => Err(usage(cmd, "missing <container>")),
        (Some(_), Some(x)) => Err(usage(cmd, format!("unexpected argument {x:?}: {what}"))),
    }
}

fn export(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "export";
    let mut compress = crate::formats::archive::Compression::Zstd;
    let (mut ignore_volumes, mut with_image) = (false, false);
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Short('h') | Long("help") => return Ok(Command::Help(EXPORT_HELP)),
            Long("compress") => compress = compression(p.value().map_err(lex(CMD))?, CMD)?,
            Long("ignore-volumes") => ignore_volumes = true,
            Long("with-image") => with_image = true,
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    let mut it = pos.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(d), Some(f), None) => {
            Ok(Command::Export(g, ExportArgs { dir: d.into(), file: f.into(), compress, ignore_volumes, with_image }))
        }
        (Some(_), Some(_), Some(x)) => Err(usage(CMD, format!("unexpected argument {x:?}"))),
        _ => Err(usage(CMD, "missing <checkpoint-dir> and <file> (- for standard output)")),
    }
}

fn import(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "import";
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Short('h') | Long("help") => return Ok(Command::Help(IMPORT_HELP)),
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    let mut it = pos.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(f), Some(d), None) => Ok(Command::Import(g, ImportArgs { file: f.into(), dir: d.into() })),
        (Some(_), Some(_), Some(x)) => Err(usage(CMD, format!("unexpected argument {x:?}"))),
        _ => Err(usage(CMD, "missing <file> (- for standard input) and <checkpoint-dir>")),
    }
}

fn migrate(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    const CMD: &str = "migrate";
    let mut a = MigrateArgs {
        container: String::new(),
        dest: String::new(),
        transport: vec!["ssh".into()],
        remote: "docker-cr".into(),
        name: None,
        compress: crate::formats::archive::Compression::Zstd,
        ignore_volumes: false,
        with_image: false,
    };
    let mut pos = Vec::new();
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("criu") => g.criu = p.value().map_err(lex(CMD))?.into(),
            Short('h') | Long("help") => return Ok(Command::Help(MIGRATE_HELP)),
            Long("transport") => {
                let t = string(p.value().map_err(lex(CMD))?, CMD, "--transport")?;
                a.transport = t.split_whitespace().map(str::to_string).collect();
                if a.transport.is_empty() {
                    return Err(usage(CMD, "--transport needs a command"));
                }
            }
            Long("docker-cr") => a.remote = string(p.value().map_err(lex(CMD))?, CMD, "--docker-cr")?,
            Long("name") => {
                let n = string(p.value().map_err(lex(CMD))?, CMD, "--name")?;
                if !crate::store::valid_name(&n) {
                    return Err(usage(CMD, format!("invalid container name '{n}': use [a-zA-Z0-9][a-zA-Z0-9_.-]*")));
                }
                a.name = Some(n);
            }
            Long("compress") => a.compress = compression(p.value().map_err(lex(CMD))?, CMD)?,
            Long("ignore-volumes") => a.ignore_volumes = true,
            Long("with-image") => a.with_image = true,
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    let mut it = pos.into_iter();
    match (it.next(), it.next(), it.next()) {
        (Some(c), Some(d), None) => {
            a.container = one_container(vec![c], CMD, "")?;
            a.dest = string(d, CMD, "<dest>")?;
            if a.dest.is_empty() || a.dest.starts_with('-') {
                return Err(usage(CMD, format!("invalid destination '{}'", a.dest)));
            }
            Ok(Command::Migrate(g, a))
        }
        (Some(_), Some(_), Some(x)) => Err(usage(CMD, format!("unexpected argument {x:?}"))),
        _ => Err(usage(CMD, "missing <container> and <dest>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Error> {
        parse(std::iter::once("docker-cr").chain(args.iter().copied()).map(OsString::from).skip(1))
    }
    fn err(args: &[&str]) -> String {
        p(args).unwrap_err().to_string()
    }

    #[test]
    fn checkpoint_defaults_and_switches() {
        let Command::Checkpoint(g, a) = p(&["checkpoint", "web", "/cp"]).unwrap() else { panic!() };
        assert_eq!(g, Global::default());
        assert_eq!(
            a,
            CheckpointArgs {
                container: "web".into(),
                to: Where::Dir("/cp".into()),
                export: None,
                compress: crate::formats::archive::Compression::Zstd,
                ignore_volumes: false,
                with_image: false,
                stop: false,
                tcp_established: true,
                ext_unix_sk: true,
                file_locks: true,
                all: false,
                jobs: DEFAULT_JOBS,
                json: false,
            }
        );
        let Command::Checkpoint(g, a) =
            p(&["-q", "checkpoint", "--stop", "--no-file-locks", "web", "/cp", "--criu", "/opt/criu"]).unwrap()
        else {
            panic!()
        };
        assert!(g.quiet && a.stop && !a.file_locks && a.tcp_established);
        assert_eq!(g.criu, PathBuf::from("/opt/criu"));
    }

    // Issue 9: archives.
    #[test]
    fn export_and_import_arguments() {
        let Command::Checkpoint(_, a) = p(&["checkpoint", "--export", "-", "--compress", "gzip", "web"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (a.export, a.compress, a.container.as_str()),
            (Some("-".into()), crate::formats::archive::Compression::Gzip, "web")
        );
        assert!(err(&["checkpoint", "--export", "f", "web", "/cp"]).starts_with("unexpected argument \"/cp\""));
        assert!(err(&["checkpoint", "--compress", "zstd", "web", "/cp"])
            .starts_with("--compress, --ignore-volumes and --with-image go"));
        assert!(err(&["export", "--compress", "xz", "/cp", "f"]).starts_with("invalid compression \"xz\" [pick from"));
        let Command::Restore(_, a) = p(&["restore", "--import", "-", "--name", "b"]).unwrap() else { panic!() };
        assert_eq!((a.import, a.container.as_str()), (Some("-".into()), ""));
        let Command::Restore(_, a) = p(&["restore", "--import", "f.tar", "web"]).unwrap() else { panic!() };
        assert_eq!(a.container, "web");
        assert_eq!(
            p(&["export", "/cp", "-"]).unwrap(),
            Command::Export(
                Global::default(),
                ExportArgs {
                    dir: "/cp".into(),
                    file: "-".into(),
                    compress: crate::formats::archive::Compression::Zstd,
                    ignore_volumes: false,
                    with_image: false
                }
            )
        );
        assert_eq!(
            p(&["import", "-", "/cp"]).unwrap(),
            Command::Import(Global::default(), ImportArgs { file: "-".into(), dir: "/cp".into() })
        );
        assert!(err(&["import", "-"]).starts_with("missing <file>"));
    }

    #[test]
    fn migrate_arguments() {
        let Command::Migrate(_, a) =
            p(&["migrate", "--transport", "tests/ns-transport x", "--name", "w2", "web", "hostb"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(a.transport, vec!["tests/ns-transport".to_string(), "x".to_string()]);
        assert_eq!((a.container.as_str(), a.dest.as_str(), a.name.as_deref()), ("web", "hostb", Some("w2")));
        let Command::Migrate(_, a) = p(&["migrate", "web", "hostb"]).unwrap() else { panic!() };
        assert_eq!((a.transport, a.remote.as_str()), (vec!["ssh".to_string()], "docker-cr"));
        assert!(err(&["migrate", "web"]).starts_with("missing <container> and <dest>"));
        assert!(err(&["migrate", "web", "-x"]).starts_with("invalid option"));
        assert!(err(&["migrate", "--transport", " ", "web", "b"]).starts_with("--transport needs a command"));
    }

    #[test]
    fn restore_name_and_publish() {
        let Command::Restore(_, a) =
            p(&["restore", "--name", "web2", "-p", "8080:80", "-p", "127.0.0.1::53/udp", "web", "/cp"]).unwrap()
        else {
            panic!()
        };
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
        assert_eq!(p(&["key", "show"]).unwrap(), Command::Key(Global::default(), KeyArgs::Show));
        assert_eq!(
            p(&["key", "trust", "--name", "hosta", "-"]).unwrap(),
            Command::Key(Global::default(), KeyArgs::Trust { file: "-".into(), name: Some("hosta".into()) })
        );
        assert_eq!(err(&["key"]), "missing subcommand: show, list or trust\nTry 'docker-cr key --help'.");
        assert!(err(&["key", "trust"]).starts_with("missing <file>"));
        assert!(err(&["key", "show", "x"]).starts_with("unexpected argument"));
        assert!(err(&["key", "--name", "a", "show"]).starts_with("--name goes with 'trust' only"));
        assert!(err(&["key", "trust", "--name", "../x", "f"]).starts_with("invalid key name"));
        let Command::Restore(_, a) =
            p(&["restore", "--trust", "--trust-key", "/b.pub", "--allow-host-access", "web", "/cp"]).unwrap()
        else {
            panic!()
        };
        assert!(a.trust && a.allow_host_access && !a.unpause);
        assert_eq!(a.trust_keys, vec![PathBuf::from("/b.pub")]);
        let Command::Restore(_, a) = p(&["restore", "--unpause", "web", "/cp"]).unwrap() else { panic!() };
        assert!(a.unpause);
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(&["--help"]).unwrap(), Command::Help(USAGE));
        assert_eq!(p(&["help", "restore"]).unwrap(), Command::Help(RESTORE_HELP));
        assert_eq!(p(&["checkpoint", "-h"]).unwrap(), Command::Help(CHECKPOINT_HELP));
        assert_eq!(p(&["-V"]).unwrap(), Command::Version);
        assert_eq!(
            p(&["check", "--format", "json"]).unwrap(),
            Command::Check(Global::default(), CheckArgs { json: true })
        );
        assert!(err(&["check", "--format", "xml"]).starts_with("invalid format 'xml' [pick from: text, json]"));
    }

    #[test]
    fn store_forms_and_all() {
        let Command::Checkpoint(_, a) = p(&["checkpoint", "web"]).unwrap() else { panic!() };
        assert_eq!(a.to, Where::Store(None));
        let Command::Checkpoint(_, a) = p(&["checkpoint", "web", "cp1"]).unwrap() else { panic!() };
        assert_eq!(a.to, Where::Store(Some("cp1".into())));
        let Command::Checkpoint(_, a) = p(&["checkpoint", "web", "cp/1"]).unwrap() else { panic!() };
        assert_eq!(a.to, Where::Dir("cp/1".into()), "a '/' makes it a directory");
        assert!(err(&["checkpoint", "web", ".."]).starts_with("invalid checkpoint name '..'"));
        let Command::Checkpoint(g, a) =
            p(&["--store", "/s", "checkpoint", "--all", "--stop", "-j", "4", "--print-stats"]).unwrap()
        else {
            panic!()
        };
        assert!(a.all && a.stop && a.json && a.jobs == 4 && a.container.is_empty());
        assert_eq!(g.store, Some(PathBuf::from("/s")));
        assert!(err(&["checkpoint", "--all", "web"]).starts_with("--all takes no container"));
        assert!(err(&["checkpoint", "-j", "0", "--all"]).starts_with("invalid --jobs '0'"));
        let Command::Restore(_, a) = p(&["restore", "web", "--format", "json"]).unwrap() else { panic!() };
        assert_eq!((a.from, a.json), (Where::Store(None), true));
        let Command::Restore(_, a) = p(&["restore", "-a"]).unwrap() else { panic!() };
        assert!(a.all);
        assert!(err(&["restore", "--all", "--name", "x"]).starts_with("--all restores each container as itself"));
    }

    #[test]
    fn store_commands() {
        assert_eq!(
            p(&["ls", "--format", "json", "web"]).unwrap(),
            Command::Ls(
                Global::default(),
                LsArgs { container: Some("web".into()), json: true, quiet_names: false, template: None }
            )
        );
        let Command::Ls(g, a) = p(&["ls", "-q"]).unwrap() else { panic!() };
        assert!(a.quiet_names && !g.quiet);
        assert!(err(&["ls", "--format", "yaml"])
            .starts_with("invalid format 'yaml' [pick from: table, json, or a template"));
        assert_eq!(
            p(&["inspect", "web/cp1"]).unwrap(),
            Command::Inspect(
                Global::default(),
                InspectArgs { checkpoint: "web/cp1".into(), json: false, template: None }
            )
        );
        assert_eq!(err(&["inspect"]), "missing <checkpoint>\nTry 'docker-cr inspect --help'.");
        assert_eq!(
            p(&["rm", "a/1", "b/2"]).unwrap(),
            Command::Rm(Global::default(), RmArgs { checkpoints: vec!["a/1".into(), "b/2".into()] })
        );
        assert_eq!(err(&["rm"]), "missing <checkpoint>\nTry 'docker-cr rm --help'.");
        assert_eq!(
            p(&["prune", "--keep", "2", "--older-than", "1h30m", "web"]).unwrap(),
            Command::Prune(
                Global::default(),
                PruneArgs { container: Some("web".into()), keep: Some(2), older_than: Some(5400) }
            )
        );
        assert!(err(&["prune"]).starts_with("say what to remove"));
        assert!(err(&["prune", "--older-than", "soon"]).starts_with("invalid duration 'soon'"));
        assert_eq!(p(&["help", "prune"]).unwrap(), Command::Help(PRUNE_HELP));
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
