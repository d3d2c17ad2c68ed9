//! `docker-cr image …` (issue 20): checkpoints as OCI images, built into a
//! layout or a registry, pushed, pulled, listed and inspected. The work is
//! in `ops::image`.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use super::{compression, lex, string, usage, Command, Global};
use crate::error::Error;
use crate::formats::archive::Compression;

pub const IMAGE_HELP: &str = "\
docker-cr image — checkpoints as OCI images, through a registry

Usage:
  docker-cr image build [--push] [--compress zstd|gzip|none] [--layout DIR]
                        <checkpoint> <image>[:<tag>]
  docker-cr image push  [--layout DIR] <image>[:<tag>]
  docker-cr image pull  <image>[:<tag>|@<digest>] <checkpoint-dir>
  docker-cr image ls    [--format table|json] <registry>/<repository>
  docker-cr image inspect [--format text|json] <image>[:<tag>|@<digest>]
  docker-cr image rm    [--layout DIR] <image>[:<tag>]...
  docker-cr image local [--layout DIR]

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
signer (checked against this host's trusted keys).

Credentials are the docker CLI's (docker login; $DOCKER_CONFIG/config.json,
its credential helpers); TLS uses the system's CAs and
/etc/docker/certs.d/<host>[:<port>]/*.crt ($DOCKER_CR_CERTS_D for another
directory).

Options:
      --push                 build: stream the image to its registry, keep no
                             copy
      --compress <zstd|gzip|none>
                             build: the layer's compression (default zstd)
      --layout <dir>         the OCI image layout to build into and push from
                             (default <store>/.images)
      --insecure             talk plain HTTP to the image's registry (one
                             without TLS, named explicitly); TLS is never
                             unchecked
      --format <fmt>         ls: table or json; inspect: text or json
  -h, --help                 print help
";

/// What `image` does.
#[derive(Debug, PartialEq, Clone)]
pub enum ImageCmd {
    Build { checkpoint: String, image: String, compress: Compression, push: bool, layout: Option<PathBuf> },
    Push { image: String, layout: Option<PathBuf> },
    Pull { image: String, dir: PathBuf },
    Ls { repo: String, json: bool },
    Inspect { image: String, json: bool },
    Rm { images: Vec<String>, layout: Option<PathBuf> },
    Local { layout: Option<PathBuf> },
}

#[derive(Debug, PartialEq, Clone)]
pub struct ImageArgs {
    pub cmd: ImageCmd,
    pub insecure: bool,
}

const CMD: &str = "image";

pub fn parse(mut p: lexopt::Parser, mut g: Global) -> Result<Command, Error> {
    let mut pos: Vec<OsString> = Vec::new();
    let (mut push, mut insecure) = (false, false);
    let mut compress = None;
    let mut layout = None;
    let mut format: Option<String> = None;
    while let Some(arg) = p.next().map_err(lex(CMD))? {
        match arg {
            Short('q') | Long("quiet") => g.quiet = true,
            Long("store") => g.store = Some(p.value().map_err(lex(CMD))?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(IMAGE_HELP)),
            Long("push") => push = true,
            Long("insecure") => insecure = true,
            Long("compress") => compress = Some(compression(p.value().map_err(lex(CMD))?, CMD)?),
            Long("layout") => layout = Some(PathBuf::from(p.value().map_err(lex(CMD))?)),
            Long("format") => format = Some(string(p.value().map_err(lex(CMD))?, CMD, "--format")?),
            Value(v) => pos.push(v),
            other => return Err(usage(CMD, other.unexpected())),
        }
    }
    let mut it = pos.into_iter();
    let sub = match it.next() {
        Some(s) => string(s, CMD, "the subcommand")?,
        None => return Err(usage(CMD, "missing subcommand: build, push, pull, ls, inspect, rm or local")),
    };
    let rest: Vec<String> = it.map(|v| string(v, CMD, "an argument")).collect::<Result<_, _>>()?;
    let only = |what: &str, ok: bool| -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(usage(CMD, format!("{what} does not go with 'image {sub}'")))
        }
    };
    only("--push", !push || sub == "build")?;
    only("--compress", compress.is_none() || sub == "build")?;
    only("--layout", layout.is_none() || ["build", "push", "rm", "local"].contains(&sub.as_str()))?;
    only("--format", format.is_none() || sub == "ls" || sub == "inspect")?;
    let json = |other: &str| -> Result<bool, Error> {
        match format.as_deref() {
            None => Ok(false),
            Some("json") => Ok(true),
            Some(x) if x == other => Ok(false),
            Some(x) => Err(usage(CMD, format!("invalid format '{x}' [pick from: {other}, json]"))),
        }
    };
    let n = |want: usize, names: &str| -> Result<(), Error> {
        match rest.len() {
            x if x == want => Ok(()),
            x if x < want => Err(usage(CMD, format!("missing {names}"))),
            _ => Err(usage(CMD, format!("unexpected argument {:?}", rest[want]))),
        }
    };
    let cmd = match sub.as_str() {
        "build" => {
            n(2, "<checkpoint> and <image>")?;
            ImageCmd::Build {
                checkpoint: rest[0].clone(),
                image: rest[1].clone(),
                compress: compress.unwrap_or(Compression::Zstd),
                push,
                layout,
            }
        }
        "push" => {
            n(1, "<image>")?;
            ImageCmd::Push { image: rest[0].clone(), layout }
        }
        "pull" => {
            n(2, "<image> and <checkpoint-dir>")?;
            ImageCmd::Pull { image: rest[0].clone(), dir: PathBuf::from(&rest[1]) }
        }
        "ls" => {
            n(1, "<registry>/<repository>")?;
            ImageCmd::Ls { repo: rest[0].clone(), json: json("table")? }
        }
        "inspect" => {
            n(1, "<image>")?;
            ImageCmd::Inspect { image: rest[0].clone(), json: json("text")? }
        }
        "rm" if rest.is_empty() => return Err(usage(CMD, "missing <image>")),
        "rm" => ImageCmd::Rm { images: rest, layout },
        "local" => {
            n(0, "")?;
            ImageCmd::Local { layout }
        }
        other => {
            return Err(usage(
                CMD,
                format!("unknown subcommand '{other}' [pick from: build, push, pull, ls, inspect, rm, local]"),
            ))
        }
    };
    Ok(Command::Image(g, ImageArgs { cmd, insecure }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Error> {
        crate::cli::parse(args.iter().map(OsString::from))
    }
    fn err(args: &[&str]) -> String {
        p(args).unwrap_err().to_string()
    }

    #[test]
    fn image_subcommands() {
        let Command::Image(_, a) = p(&["image", "build", "--push", "web/cp1", "127.0.0.1:5000/cp/web:v1"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            a,
            ImageArgs {
                cmd: ImageCmd::Build {
                    checkpoint: "web/cp1".into(),
                    image: "127.0.0.1:5000/cp/web:v1".into(),
                    compress: Compression::Zstd,
                    push: true,
                    layout: None
                },
                insecure: false
            }
        );
        let Command::Image(_, a) = p(&["image", "--insecure", "pull", "r:5000/x:1", "/cp"]).unwrap() else { panic!() };
        assert_eq!((a.cmd, a.insecure), (ImageCmd::Pull { image: "r:5000/x:1".into(), dir: "/cp".into() }, true));
        let Command::Image(_, a) = p(&["image", "ls", "--format", "json", "r:5000/x"]).unwrap() else { panic!() };
        assert_eq!(a.cmd, ImageCmd::Ls { repo: "r:5000/x".into(), json: true });
        assert_eq!(p(&["image", "--help"]).unwrap(), Command::Help(IMAGE_HELP));
        assert_eq!(p(&["help", "image"]).unwrap(), Command::Help(IMAGE_HELP));
        assert!(err(&["image"]).starts_with("missing subcommand: build"));
        assert!(err(&["image", "pull", "x"]).starts_with("missing <image> and <checkpoint-dir>"));
        assert!(err(&["image", "push", "--push", "x"]).starts_with("--push does not go with 'image push'"));
        assert!(err(&["image", "ls", "--format", "yaml", "r/x"]).starts_with("invalid format 'yaml'"));
        assert!(err(&["image", "frob"]).starts_with("unknown subcommand 'frob'"));
        assert!(err(&["image", "build", "--compress", "xz", "a", "b"]).starts_with("invalid compression"));
    }
}
