//! `docker-cr image …`: checkpoints as OCI images, built into a layout or
//! a registry, pushed, pulled, listed and inspected (its options are in
//! the command table). The work is in `ops::image`.

use std::path::PathBuf;

use super::table::Args;
use super::{compression, string, usage, Command, Global};
use crate::error::Error;
use crate::formats::archive::Compression;
pub use crate::ops::image::{ImageArgs, ImageCmd};

const CMD: &str = "image";

pub fn image_cmd(a: Args, g: Global) -> Result<Command, Error> {
    let words: Vec<String> = a.positionals.iter().map(|v| string(v, CMD, "an argument")).collect::<Result<_, _>>()?;
    let Some((sub, rest)) = words.split_first() else {
        return Err(usage(CMD, "missing subcommand: build, push, pull, ls, inspect, rm or local"));
    };
    let (push, insecure) = (a.flag("push"), a.flag("insecure"));
    let compress = compression(&a, CMD)?;
    let layout = a.value("layout").map(PathBuf::from);
    let format = a.value("format").map(|v| string(v, CMD, "--format")).transpose()?;
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
    let rest = rest.to_vec();
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
        crate::cli::parse(args.iter().map(std::ffi::OsString::from))
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
        assert_eq!(p(&["image", "--help"]).unwrap(), Command::Help(crate::cli::table::help(&crate::cli::table::IMAGE)));
        assert_eq!(p(&["help", "image"]).unwrap(), Command::Help(crate::cli::table::help(&crate::cli::table::IMAGE)));
        assert!(err(&["image"]).starts_with("missing subcommand: build"));
        assert!(err(&["image", "pull", "x"]).starts_with("missing <image> and <checkpoint-dir>"));
        assert!(err(&["image", "push", "--push", "x"]).starts_with("--push does not go with 'image push'"));
        assert!(err(&["image", "ls", "--format", "yaml", "r/x"]).starts_with("invalid format 'yaml'"));
        assert!(err(&["image", "frob"]).starts_with("unknown subcommand 'frob'"));
        assert!(err(&["image", "build", "--compress", "xz", "a", "b"]).starts_with("invalid compression"));
    }
}
