//! The command table: every command, its usage, its text and its options,
//! in one place. `--help`, `help COMMAND`, shell completion and the man
//! page test are made from it, and the parser accepts exactly the options
//! it lists (with the global ones, anywhere on the line).

use std::ffi::OsString;

/// One option of a command.
#[derive(Debug)]
pub struct Opt {
    pub long: &'static str,
    pub short: Option<char>,
    /// The value it takes, as help shows it (`<n>`, `<file|->`); None: a flag.
    pub value: Option<&'static str>,
    /// What it does; lines break where the text has `\n`.
    pub help: &'static str,
}

/// One command.
#[derive(Debug)]
pub struct Cmd {
    pub name: &'static str,
    /// What it does, in a few words (after the name, in its help's first line).
    pub title: &'static str,
    /// Its arguments, one way of calling it per entry.
    pub usage: &'static [&'static str],
    /// Its help text between the usage and the options.
    pub text: &'static str,
    pub opts: &'static [Opt],
    /// Its help text after the options ("" for none).
    pub tail: &'static str,
}

const fn flag(long: &'static str, help: &'static str) -> Opt {
    Opt { long, short: None, value: None, help }
}
const fn short_flag(short: char, long: &'static str, help: &'static str) -> Opt {
    Opt { long, short: Some(short), value: None, help }
}
const fn valued(long: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt { long, short: None, value: Some(value), help }
}
const fn short_valued(short: char, long: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt { long, short: Some(short), value: Some(value), help }
}

/// Options every command takes, before or after the command's name.
pub const GLOBAL: &[Opt] = &[
    valued("criu", "<path>", "the CRIU binary to run (default: criu on PATH)"),
    valued("store", "<dir>", "the checkpoint store (default: $DOCKER_CR_STORE,\nelse /var/lib/docker-cr)"),
    short_flag('q', "quiet", "print errors only, no progress"),
];

const HELP: Opt = short_flag('h', "help", "print help");

const DRY_RUN: Opt = flag(
    "dry-run",
    "print what would be done and every refusal the\nreal run would make (same exit status); change\nnothing",
);
const JOBS: Opt = short_valued('j', "jobs", "<n>", "with --all: how many at a time (default 2)");
const CHECKPOINT_JOBS: Opt = short_valued(
    'j',
    "jobs",
    "<n>",
    "with --all: how many at a time (default 2); in a\ngroup, how many members are dumped at once\n(default: all of them)",
);
const COMPRESS: Opt = valued("compress", "<zstd|gzip|none>", "the archive's compression (default zstd)");
const IGNORE_VOLUMES: Opt = flag("ignore-volumes", "leave the named volumes out of the archive");
const WITH_IMAGE: Opt =
    flag("with-image", "put the container's image into the archive, for\na destination that does not have it");

pub const CHECKPOINT: Cmd = Cmd {
    name: "checkpoint",
    title: "save a running container's processes and file changes",
    usage: &[
        "[OPTIONS] <container> [<name> | <checkpoint-dir>]",
        "[OPTIONS] <container>/<name>",
        "[OPTIONS] --all",
        "--export <file|-> [OPTIONS] <container>",
        "--push <image> [OPTIONS] <container>",
        "[OPTIONS] --project <project> [<name> | <checkpoint-dir>]",
        "[OPTIONS] --group <group> <container>...",
        "[OPTIONS] --filter label=<key>[=<value>] [--group <group>] [<name>]",
    ],
    text: "\
Freezes the container's cgroup, dumps its processes with CRIU and captures its
file changes while it is frozen, then thaws it. <container> is a name or an
(abbreviated) ID. Without a second argument the checkpoint goes to the store
under a generated name (a UTC timestamp, e.g. 20261128T185605.123Z); a <name>
names it in the store (also written <container>/<name>); a directory (an
argument starting with / or .) must not exist. Either way it is created 0700
and only appears once complete.

--project, --group and --filter checkpoint several containers as one group
at one instant: every member is frozen before the first dump starts, and
thawed (or stopped) only after the last dump and file capture; if any member
cannot be checkpointed, nothing is frozen, and if a dump fails, every member
is thawed and no group is kept. The group is one item of the store
(<project>/<name>, <group>/<name>), restored with restore --project/--group.",
    opts: &[
        valued(
            "project",
            "<project>",
            "checkpoint the running containers of this Compose\nproject as one group (also <project>/<name>)",
        ),
        valued(
            "group",
            "<group>",
            "checkpoint the <container>s named as one group of\nthis name (also <group>/<name>); with --filter,\nthe filtered group's name",
        ),
        valued(
            "filter",
            "<label=k[=v]>",
            "checkpoint the running containers with this label\nas one group (repeatable: all of them); its name\nis the label's value unless --group gives one",
        ),
        flag("stop", "stop the container after the checkpoint (its\nrestart policy is set to \"no\" so it stays stopped)"),
        short_flag(
            'a',
            "all",
            "checkpoint every running container into the store;\nthose that cannot be (shared namespaces, exec) are\nskipped with the reason; a summary at the end",
        ),
        CHECKPOINT_JOBS,
        flag(
            "print-stats",
            "print a JSON object with timings, sizes and CRIU's\nstatistics on stdout (progress stays on stderr)",
        ),
        valued("format", "<text|json>", "json is the same as --print-stats; with --dry-run,\nthe plan as JSON"),
        DRY_RUN,
        flag("no-tcp-established", "do not dump established TCP connections (fail if\nthere are any)"),
        flag("no-ext-unix-sk", "do not allow unix sockets connected to the outside"),
        flag("no-file-locks", "do not dump file locks (fail if there are any)"),
        valued(
            "export",
            "<file|->",
            "write the checkpoint as one archive file (0600;\n- for standard output) instead of a directory;\nsee 'docker-cr export'",
        ),
        COMPRESS,
        IGNORE_VOLUMES,
        WITH_IMAGE,
        valued(
            "push",
            "<image>",
            "push the checkpoint to a registry as an image\n(REGISTRY/REPO[:TAG]) instead of keeping it;\n--compress is the layer's",
        ),
        flag("insecure", "with --push: plain HTTP to the registry"),
    ],
    tail: "",
};

pub const RESTORE: Cmd = Cmd {
    name: "restore",
    title: "start a container from a checkpoint",
    usage: &[
        "[OPTIONS] <container> [<name> | <checkpoint-dir>]",
        "[OPTIONS] <container>/<name>",
        "[OPTIONS] --all",
        "--import <file|-> [OPTIONS] [<container>]",
        "[OPTIONS] <registry>/<repository>[:<tag>|@<digest>]",
        "[OPTIONS] --project <project> [<name> | <checkpoint-dir>]",
        "[OPTIONS] --group <group> [<name> | <checkpoint-dir>]",
    ],
    text: "\
<container> is the container the checkpoint was taken from (its name or ID).
Without a second argument its newest checkpoint in the store is restored; a
<name> (also written <container>/<name>) is one of its checkpoints in the
store; an argument starting with / or . is a checkpoint directory.
Without --name it is restored under that name: into the same container if it
still exists and is stopped, or into a new one created from the saved
configuration if it was removed. A running container is never touched.

--project and --group restore a group checkpoint (the newest of that name,
<name>, or a directory; --import of a group archive too): its networks are
created when missing (same names, subnets, gateways and labels), its named
volumes when missing (empty: the store keeps no volume data), then each
member in dependency order, each with its old address on its network, so
that the TCP connections between members survive. Compose's labels are kept:
docker-compose ps, logs, stop and down treat them as the project's. Members
that exist are refused with the list, unless --replace.",
    opts: &[
        valued("project", "<project>", "restore the group checkpoint of this Compose\nproject (also <project>/<name>)"),
        valued("group", "<group>", "restore the group checkpoint of this name (also\n<group>/<name>)"),
        valued(
            "only",
            "<service>",
            "with a group: restore only this member (a Compose\nservice or a container name; repeatable)",
        ),
        flag(
            "replace",
            "with a group: remove the members that exist\n(running or not) before restoring them",
        ),
        valued("name", "<name>", "restore a copy under a new name (the original may\nstill be running)"),
        valued(
            "import",
            "<file|->",
            "restore from an archive ('docker-cr export', or\n- for standard input): it is unpacked into a\nprivate directory in the store, verified,\nrestored, then removed. <container>\ndefaults to the checkpointed container's name.\nNamed volumes in it are created and filled; one\nthat exists here already is an error. Podman's\nand the kubelet's archives restore too (unsigned:\nwith --trust; see docker-cr-interop(7))",
        ),
        flag("ignore-volumes", "with --import: unpack no volume, use the ones\nhere (or new empty ones) as they are"),
        valued(
            "image",
            "<image>",
            "restore from a checkpoint image of a registry\n(REGISTRY/REPO[:TAG|@DIGEST]; a first argument\nthat names a registry is one too): pulled,\nverified, restored (see 'docker-cr image')",
        ),
        flag("insecure", "with an image: plain HTTP to its registry"),
        short_valued(
            'p',
            "publish",
            "<spec>",
            "publish a port as docker run -p does, e.g.\n8080:80, 127.0.0.1:8080:80/tcp; replaces the saved\npublished ports (repeatable)",
        ),
        valued(
            "trust-key",
            "<file>",
            "also trust this public key (another host's\nhost.pub, from 'docker-cr key show' there) for\nthis restore (repeatable)",
        ),
        flag(
            "trust",
            "restore a checkpoint that is unsigned or signed\nby a key this host does not trust; use it only\nfor checkpoints whose source you trust. What its\nprocesses hold is held to the new container's\nsettings, as for another host's checkpoint",
        ),
        flag(
            "allow-host-access",
            "give the new container the host access its\ncheckpoint asks for (privileged mode, added\ncapabilities, devices, host namespaces, host\npaths, ...) and what its processes hold beyond\nthe container's settings (added to them); without\nit such a restore is refused with the list. This\nhost's own checkpoints restore as they were",
        ),
        flag(
            "lazy",
            "start the processes as soon as their tree is\nback: their private anonymous memory comes\nfrom a supervised criu lazy-pages, on first\ntouch and in the background; the command ends\nonce every page is in (if the page source dies\nfirst, the container is stopped). Needs a CRIU\nwith the fault-retry fix ('docker-cr check')",
        ),
        flag(
            "live",
            "with --import -: how 'docker-cr migrate --live'\nreceives a container: the archive comes framed on\nstdin, then a lazy restore asks the source for its\npages over stdout and stdin (implies --lazy)",
        ),
        flag(
            "unpause",
            "restore a checkpoint of a paused container\nrunning (by default it comes back paused, and\nnone of its code runs until 'docker unpause')",
        ),
        short_flag(
            'a',
            "all",
            "restore the newest checkpoint in the store of\nevery container that is not running; a summary\nat the end",
        ),
        JOBS,
        flag(
            "print-stats",
            "print a JSON object with timings and CRIU's\nstatistics on stdout (progress stays on stderr)",
        ),
        valued("format", "<text|json>", "json is the same as --print-stats; with --dry-run,\nthe plan as JSON"),
        DRY_RUN,
    ],
    tail: "\
A checkpoint restores without --trust when it is signed by this host's key or
by a key in /etc/docker-cr/trusted-keys/ (see 'docker-cr key'). A signature
that does not match is refused whatever the options.",
};

pub const LS: Cmd = Cmd {
    name: "ls",
    title: "list the checkpoints in the store",
    usage: &["[--format table|json|TEMPLATE] [-q] [<container>]", "[--format table|json] <registry>/<repository>"],
    text: "\
One line per checkpoint (of <container> only, by name or ID, if given):
container, name, created, age, size, memory pages, the container's state now
(running, exited, ..., removed), the CRIU version and kernel it was made with,
and whether it can be restored on this host, with the reasons if not (newer
CRIU, other architecture, missing image, unsigned or untrusted signature).",
    opts: &[
        valued(
            "format",
            "<table|json|TEMPLATE>",
            "json: an array of objects with the same fields;\na template prints a line per checkpoint, as\ndocker does: '{{.Container}}/{{.Name}}'",
        ),
        short_flag('q', "quiet", "print CONTAINER/NAME only, one per line"),
        flag("insecure", "for REGISTRY/REPO: plain HTTP to the registry"),
    ],
    tail: "",
};

pub const INSPECT: Cmd = Cmd {
    name: "inspect",
    title: "what is inside a checkpoint",
    usage: &[
        "[--format text|json|TEMPLATE] <checkpoint>",
        "[--format text|json|TEMPLATE] <container> <name>",
        "[--format text|json] <image>",
    ],
    text: "\
<checkpoint> is CONTAINER/NAME (or the two words CONTAINER NAME), CONTAINER
(its newest), or a directory starting with / or ./. Shows the source container
and image, the dump's options, the process tree (pids and commands from CRIU's
pstree.img and core-*.img), sizes, timings, and CRIU's statistics (stats-dump).",
    opts: &[
        valued(
            "format",
            "<text|json|TEMPLATE>",
            "output format (default text); a template picks\nfields of the JSON, e.g.\n'{{.CriuStatistics.FrozenTime}}'",
        ),
        flag("insecure", "for an image: plain HTTP to its registry"),
    ],
    tail: "",
};

pub const RM: Cmd = Cmd {
    name: "rm",
    title: "remove checkpoints from the store",
    usage: &["<checkpoint>...", "<container> <name>"],
    text: "\
Each <checkpoint> is CONTAINER/NAME as 'docker-cr ls -q' prints it, or the two
words CONTAINER NAME as 'docker checkpoint rm' takes them. A checkpoint that a
running restore uses is not removed (exit status 7).",
    opts: &[],
    tail: "",
};

pub const PRUNE: Cmd = Cmd {
    name: "prune",
    title: "remove old checkpoints from the store",
    usage: &["[--keep N] [--older-than DURATION] [<container>]"],
    text: "\
Removes the checkpoints (of <container> only, if given) that are beyond the N
newest of their container and older than DURATION; with one option only, that
one decides. A checkpoint that a running restore uses is skipped.",
    opts: &[
        valued("keep", "<n>", "keep the N newest checkpoints of each container"),
        valued(
            "older-than",
            "<d>",
            "remove only checkpoints older than this: a number\nand a unit, s m h d w (30m, 12h, 7d, 1h30m)",
        ),
        flag("dry-run", "list what would be removed; remove nothing"),
    ],
    tail: "",
};

pub const EXPORT: Cmd = Cmd {
    name: "export",
    title: "write a checkpoint as one archive file",
    usage: &["[--compress zstd|gzip|none] <checkpoint> <file|->"],
    text: "\
Writes the checkpoint (a directory, or CONTAINER/NAME of the store) as a tar in
Podman's and checkpointctl's layout (checkpoint/, config.dump, spec.dump,
rootfs-diff.tar without overlay whiteouts, deleted.files) plus docker-cr's
signed manifest.json and manifest.sig, so that 'docker-cr import' gives back
the same, still signed, directory. <file> is created 0600 and must not exist;
- is standard output. Nothing is buffered: the archive streams.

The container's named volumes travel as volumes/<name>.tar, read from this
host's volumes at export time, their list signed with this host's key; host
bind mounts never travel.",
    opts: &[
        valued("compress", "<zstd|gzip|none>", "compression (default zstd, with a checksum)"),
        flag("ignore-volumes", "leave the named volumes out"),
        flag(
            "with-image",
            "put the container's image in (docker save), for\na destination without it; restore --import\nloads it if that engine lacks it",
        ),
    ],
    tail: "",
};

pub const IMPORT: Cmd = Cmd {
    name: "import",
    title: "unpack an archive into a checkpoint directory",
    usage: &["<file|-> <checkpoint-dir>"],
    text: "\
Reads an archive written by 'docker-cr export' or 'checkpoint --export' (or
by Podman's 'container checkpoint --export'); - is standard input. The
compression (zstd, gzip or none) is told by its first bytes. Entries are
untrusted: only the layout's files and directories are accepted, created
beneath the new directory without following links. <checkpoint-dir> must not
exist; it appears only once complete, and for a docker-cr archive only once
every file matches the signed manifest. A truncated or corrupted archive is
refused and leaves nothing behind. The signature is checked by restore.
An archive of Podman or of the kubelet (CRI-O, containerd) is converted into
a checkpoint for Docker; it is unsigned, and restores only with --trust.",
    opts: &[],
    tail: "",
};

pub const MIGRATE: Cmd = Cmd {
    name: "migrate",
    title: "move a running container to another host",
    usage: &["[OPTIONS] <container> <dest>", "[OPTIONS] --project <project> <dest>"],
    text: "\
Checkpoints the container (stopping it), streams the archive through the
transport command to 'docker-cr restore --import -' on <dest> (by default:
ssh <dest> docker-cr restore --import -), and removes the source container
once the destination has restored it. If anything fails on the way, the
source is restored here from the same checkpoint and runs on with its state,
and nothing is left on the destination. Prints the downtime (from the freeze
to the destination's successful restore). The destination must have the
image (or use --with-image) and trust this host's key ('docker-cr key show'
here, 'docker-cr key trust -' there).
With --project the Compose project moves as one group: checkpointed at one
instant (stopping it), streamed as one archive to 'restore --import -
--project' there, removed here once restored there.",
    opts: &[
        valued("project", "<project>", "move this Compose project's running containers\nas one group"),
        valued(
            "transport",
            "<command>",
            "the command that runs a command on <dest>,\ngiven <dest> and then the command (default ssh;\nsplit at spaces, no shell)",
        ),
        valued("docker-cr", "<path>", "docker-cr on the destination (default docker-cr)"),
        valued("name", "<name>", "the container's name on the destination"),
        valued("compress", "<zstd|gzip|none>", "the stream's compression (default zstd)"),
        flag("ignore-volumes", "leave the named volumes behind"),
        flag("with-image", "send the image along (loaded there only if the\ndestination lacks it)"),
        flag(
            "live",
            "move the memory after the container runs there:\nthe dump leaves its private memory here, and the\ndestination restores lazily, asking for pages\nover the same transport; the container stays\nfrozen here until every page is there (a failure\nbefore that thaws it). Needs the fault-retry CRIU\non the destination and fs.pipe-max-size >= 4 MiB\nhere",
        ),
        flag(
            "dry-run",
            "print the checkpoint's plan and the command that\nwould run on <dest>; change nothing, contact no\none (the exit status is the checkpoint's)",
        ),
        valued("format", "<text|json>", "with --dry-run, the plan as JSON"),
    ],
    tail: "",
};

pub const IMAGE: Cmd = Cmd {
    name: "image",
    title: "checkpoints as OCI images, through a registry",
    usage: &[
        "build [--push] [--compress C] [--layout DIR] <checkpoint> <image>[:<tag>]",
        "push [--layout DIR] <image>[:<tag>]",
        "pull <image>[:<tag>|@<digest>] <checkpoint-dir>",
        "ls [--format table|json] <registry>/<repository>",
        "inspect [--format text|json] <image>[:<tag>|@<digest>]",
        "rm [--layout DIR] <image>[:<tag>]...",
        "local [--layout DIR]",
    ],
    text: "\
build makes a one-layer image from scratch whose layer is the checkpoint's
archive (as 'docker-cr export' writes it: its files at /, docker-cr's signed
manifest inside), with the annotations Podman, CRI-O, checkpointctl and
containerd look for. <checkpoint> is CONTAINER/NAME, CONTAINER (its newest),
a directory starting with / or ./, or an archive file. The image is kept in
an OCI image layout (default <store>/.images) until 'image push'; with --push
it streams to the registry as it is made and nothing is written to disk.
pull reads a checkpoint image (docker-cr's, Podman's --create-image, CRI-O's)
into a new checkpoint directory: the layer's digest and (for docker-cr's)
every file against the signed manifest are checked before the directory
appears; it prints the digest pulled and who signed it. ls lists the
checkpoint images of a repository: tags, container, maker, created, size and
signer (checked against this host's trusted keys). 'docker-cr restore IMAGE'
pulls and restores in one step.

Credentials are the docker CLI's (docker login; $DOCKER_CONFIG/config.json,
its credential helpers); TLS uses the system's CAs and
/etc/docker/certs.d/<host>[:<port>]/*.crt ($DOCKER_CR_CERTS_D for another
directory).",
    opts: &[
        flag("push", "build: stream the image to its registry, keep no\ncopy"),
        valued("compress", "<zstd|gzip|none>", "build: the layer's compression (default zstd)"),
        valued("layout", "<dir>", "the OCI image layout to build into and push from\n(default <store>/.images)"),
        flag(
            "insecure",
            "talk plain HTTP to the image's registry (one\nwithout TLS, named explicitly); TLS is never\nunchecked",
        ),
        valued("format", "<fmt>", "ls: table or json; inspect: text or json"),
    ],
    tail: "",
};

pub const CHECK: Cmd = Cmd {
    name: "check",
    title: "is this host ready to checkpoint and restore?",
    usage: &["[--format text|json]"],
    text: "\
Checks root and capabilities, CRIU (present, new enough for the kernel,
'criu check', dirty-memory tracking), the cgroup freezer, the engine (reachable,
API version, experimental mode, storage driver, root dir), this host's signing
key and the keys it trusts, and repairs what an interrupted docker-cr left (a
frozen container, a changed /etc/criu/runc.conf).
One line per item: ok, warning or FAIL, with the fix.
Exit status: 0 all ok, 6 warnings only, 3 something fails.",
    opts: &[valued("format", "<text|json>", "output format (default text)")],
    tail: "",
};

pub const SERVE: Cmd = Cmd {
    name: "serve",
    title: "a web page for the checkpoints of this host",
    usage: &["[--listen ADDR:PORT] [OPTIONS]"],
    text: "\
Serves one page and a JSON API: host readiness, every container (can it be
checkpointed, and why not), the store (sizes, pages, CRIU and kernel,
signature, restorable here or why not), a checkpoint's details (process
tree, sockets, timings, CRIU's statistics and log), two checkpoints side by
side; checkpoint, restore (after its plan), delete, prune, download and
upload archives, migrate. It prints a URL with a secret token once: opening
it logs the browser in (an HttpOnly, SameSite=Strict cookie); scripts send
'Authorization: Bearer TOKEN'. Every request is logged on standard error.
SIGINT or SIGTERM stops it after the running operations have finished or
rolled back.",
    opts: &[
        valued(
            "listen",
            "<addr:port>",
            "where to listen (default 127.0.0.1:7380; port 0\npicks a free one); loopback only, unless\n--allow-remote",
        ),
        flag(
            "allow-remote",
            "accept another address than loopback; the page\nis then plain HTTP over the network (a warning\nsays so): prefer an SSH tunnel",
        ),
        valued(
            "allow-host",
            "<host[:port]>",
            "also answer to this Host name (repeatable), e.g.\nlocalhost:9000 behind ssh -L 9000:127.0.0.1:7380",
        ),
        valued("max-upload", "<size>", "the largest archive an upload may be (default\n8G; units K M G T)"),
        valued("threads", "<n>", "HTTP worker threads (default 16)"),
        valued("max-connections", "<n>", "open connections before new ones get 503\n(default 256)"),
        valued("transport", "<command>", "how migrate reaches another host (default ssh)"),
        valued("url-file", "<file>", "also write the URL with the token to this file\n(0600; it appears complete, for scripts)"),
    ],
    tail: "",
};

pub const KEY: Cmd = Cmd {
    name: "key",
    title: "this host's signing key, and the keys it trusts",
    usage: &["show", "list", "trust [--name NAME] <file|->"],
    text: "\
show prints this host's public key (made on first use) as one line; list lists
the keys restore trusts; trust trusts another host's public key (the line
'docker-cr key show' printed there).

Every checkpoint is signed with this host's key (/etc/docker-cr/host.key,
0600). restore accepts a checkpoint without --trust only when it is signed by
this host or by a key in /etc/docker-cr/trusted-keys/. To move checkpoints from
host A to host B, trust A's key on B once:
  ssh A docker-cr key show | docker-cr key trust --name A -",
    opts: &[valued(
        "name",
        "<name>",
        "the name to keep the key under (default: the\ncomment of the key line, usually A's hostname)",
    )],
    tail: "",
};

pub const COMPLETION: Cmd = Cmd {
    name: "completion",
    title: "a shell completion script",
    usage: &["bash|zsh|fish"],
    text: "\
Prints a script that completes docker-cr's commands, options, container names
and file names. Load it for the current shell, or install it:
  source <(docker-cr completion bash)
  docker-cr completion bash > /etc/bash_completion.d/docker-cr
  docker-cr completion zsh > \"${fpath[1]}/_docker-cr\"
  docker-cr completion fish > ~/.config/fish/completions/docker-cr.fish
'docker cr' completes through the docker CLI's own completion.",
    opts: &[],
    tail: "",
};

pub const INSTALL_PLUGIN: Cmd = Cmd {
    name: "install-plugin",
    title: "make 'docker cr ...' run this docker-cr",
    usage: &["[--user|--system]"],
    text: "\
Links this binary as docker-cr into the docker CLI's plugin directory, so that
'docker cr checkpoint web' is 'docker-cr checkpoint web', with the docker CLI's
--context, -H and --config honoured. docker-cr itself keeps working alone.",
    opts: &[
        flag("user", "into $DOCKER_CONFIG/cli-plugins (default\n~/.docker/cli-plugins); the default"),
        flag("system", "into /usr/local/lib/docker/cli-plugins, for every\nuser of this host"),
    ],
    tail: "",
};

/// Every command, in the order `--help` lists them.
pub const COMMANDS: &[&Cmd] = &[
    &CHECKPOINT,
    &RESTORE,
    &LS,
    &INSPECT,
    &RM,
    &PRUNE,
    &EXPORT,
    &IMPORT,
    &MIGRATE,
    &IMAGE,
    &CHECK,
    &SERVE,
    &KEY,
    &COMPLETION,
    &INSTALL_PLUGIN,
];

pub fn command(name: &str) -> Option<&'static Cmd> {
    COMMANDS.iter().copied().find(|c| c.name == name)
}

/// The command names, `help` included, for completion and error messages.
pub fn names() -> Vec<&'static str> {
    COMMANDS.iter().map(|c| c.name).chain(["help"]).collect()
}

fn option_lines(opts: &[Opt]) -> String {
    const COL: usize = 29;
    let mut out = String::new();
    for o in opts {
        let short = o.short.map_or("    ".to_string(), |c| format!("-{c}, "));
        let value = o.value.map_or(String::new(), |v| format!(" {v}"));
        let head = format!("  {short}--{}{value}", o.long);
        let mut lines = o.help.lines();
        if head.len() + 2 <= COL {
            out.push_str(&format!("{head:<COL$}{}\n", lines.next().unwrap_or("")));
        } else {
            out.push_str(&format!("{head}\n"));
        }
        for l in lines {
            out.push_str(&format!("{:COL$}{l}\n", ""));
        }
    }
    out
}

/// A command's `--help`.
pub fn help(c: &Cmd) -> String {
    let mut out = format!("docker-cr {} — {}\n\n", c.name, c.title);
    for (i, u) in c.usage.iter().enumerate() {
        let lead = if i == 0 { "Usage: " } else { "       " };
        out.push_str(&format!("{lead}docker-cr {} {u}\n", c.name));
    }
    out.push('\n');
    out.push_str(c.text);
    out.push_str("\n\nOptions:\n");
    out.push_str(&option_lines(c.opts));
    out.push_str(&option_lines(&[HELP]));
    out.push_str("Global options (--criu, --store, -q) are taken here too: see 'docker-cr --help'.\n");
    if !c.tail.is_empty() {
        out.push('\n');
        out.push_str(c.tail);
        out.push('\n');
    }
    out
}

/// `docker-cr --help`.
pub fn usage() -> String {
    let mut out =
        String::from("docker-cr — checkpoint a running Docker container with CRIU and restore it later\n\nUsage:\n");
    for c in COMMANDS {
        for u in c.usage {
            out.push_str(&format!("  docker-cr {:<10} {u}\n", c.name));
        }
    }
    out.push_str("  docker-cr help [COMMAND]\n  docker-cr --version\n");
    out.push_str(
        "
A checkpoint is kept in the store unless a directory is named: an argument
starting with / or . (./cp, /srv/cp). In the store a checkpoint is
CONTAINER/NAME (as 'ls -q' prints it), or the two words CONTAINER NAME, or
CONTAINER for its newest; every command takes each form.
As a Docker CLI plugin (docker-cr install-plugin): docker cr COMMAND ...

Global options (before or after the command):
",
    );
    out.push_str(&option_lines(GLOBAL));
    out.push_str(&option_lines(&[HELP, short_flag('V', "version", "print the version")]));
    out.push_str(
        "
Environment:
  DOCKER_HOST          the engine's socket as unix:///path; without it, the
                       docker CLI's context (DOCKER_CONTEXT, or currentContext
                       in DOCKER_CONFIG/config.json), else /var/run/docker.sock
  DOCKER_CONFIG        the docker CLI's configuration directory (default ~/.docker)
  DOCKER_CR_TIMEOUT    seconds to wait for one answer of the engine (default 60)
  DOCKER_CR_KEYS       the directory of this host's signing key and of the
                       keys it trusts (default /etc/docker-cr)
  DOCKER_CR_STORE      the checkpoint store, where checkpoint --export,
                       restore --import and migrate also keep their private
                       temporary directory (default /var/lib/docker-cr;
                       --store wins)

docker-cr must run as root on the engine's host. See docker-cr(1) for every
option, the exit status and examples, docker-cr-archive(5) for the checkpoint
layout, and docker-cr-security(7) for what a restore trusts.
",
    );
    out
}

/// What the parser made of one command's arguments, by the table.
#[derive(Debug, Default)]
pub struct Args {
    /// (long name, value) of each valued option, in order.
    values: Vec<(&'static str, OsString)>,
    flags: Vec<&'static str>,
    pub positionals: Vec<OsString>,
}

impl Args {
    pub fn flag(&self, long: &str) -> bool {
        self.flags.contains(&long)
    }
    /// The last value given for `long`.
    pub fn value(&self, long: &str) -> Option<&OsString> {
        self.values.iter().rev().find(|(l, _)| *l == long).map(|(_, v)| v)
    }
    /// Every value given for a repeatable option, in order.
    pub fn values(&self, long: &str) -> Vec<&OsString> {
        self.values.iter().filter(|(l, _)| *l == long).map(|(_, v)| v).collect()
    }
    pub fn push_flag(&mut self, long: &'static str) {
        self.flags.push(long);
    }
    pub fn push_value(&mut self, long: &'static str, v: OsString) {
        self.values.push((long, v));
    }
}

/// The option `arg` names among `opts` (short or long).
pub fn lookup<'a>(opts: &'a [Opt], arg: &lexopt::Arg<'_>) -> Option<&'a Opt> {
    match arg {
        lexopt::Arg::Short(c) => opts.iter().find(|o| o.short == Some(*c)),
        lexopt::Arg::Long(l) => opts.iter().find(|o| o.long == *l),
        lexopt::Arg::Value(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_made_from_the_table() {
        let h = help(&PRUNE);
        assert!(h.starts_with(
            "docker-cr prune — remove old checkpoints from the store\n\nUsage: docker-cr prune [--keep N]"
        ));
        assert!(h.contains("      --keep <n>             keep the N newest checkpoints of each container\n"), "{h}");
        assert!(h.contains(
            "      --older-than <d>       remove only checkpoints older than this: a number\n                             and a unit"
        ));
        assert!(h.contains("  -h, --help                 print help\n"));
        let c = help(&CHECKPOINT);
        assert!(
            c.contains("      --compress <zstd|gzip|none>\n                             the archive's compression"),
            "{c}"
        );
        assert!(c.contains("Usage: docker-cr checkpoint [OPTIONS] <container> [<name> | <checkpoint-dir>]\n       docker-cr checkpoint [OPTIONS] <container>/<name>\n"));
        let u = usage();
        assert!(u.contains("  docker-cr restore    [OPTIONS] <container> [<name> | <checkpoint-dir>]\n"), "{u}");
        assert!(u.contains("      --store <dir>          the checkpoint store"), "{u}");
    }

    #[test]
    fn no_command_lists_an_option_twice() {
        for c in COMMANDS {
            for (i, o) in c.opts.iter().enumerate() {
                assert!(!c.opts[..i].iter().any(|p| p.long == o.long), "{} --{}", c.name, o.long);
                assert!(
                    o.short.is_none() || !c.opts[..i].iter().any(|p| p.short == o.short),
                    "{} -{:?}",
                    c.name,
                    o.short
                );
                assert!(o.help.lines().all(|l| l.len() <= 51), "{} --{}: a help line is too long", c.name, o.long);
            }
        }
    }
}
