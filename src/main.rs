//! docker-cr: checkpoint a running Docker container with CRIU and restore it
//! later, as itself or as a clone. `main` parses, runs, and maps errors to
//! the exit status documented in docker-cr(1); the work is in the modules.
//! The same binary is a Docker CLI plugin (`docker cr …`): `main` tells the
//! two apart and hands the rest the same arguments either way.

use std::ffi::OsString;
use std::process::ExitCode;

use docker_cr::cli::{self, CheckpointCmd, Command, Global, RestoreCmd};
use docker_cr::session::Session;
use docker_cr::{
    cli::complete, cli::plugin, engine::docker, error, host::check, ops::all, ops::catalog, ops::checkpoint,
    ops::group, ops::inspect, ops::keys, ops::restore, ops::transfer, store, VERSION,
};

/// Commands that only print what they read.
fn reads_only(c: &Command) -> bool {
    matches!(c, Command::Help(_) | Command::Version | Command::Completion(_) | Command::Ls(..) | Command::Inspect(..))
}

fn main() -> ExitCode {
    // Checkpoints hold process memory: nothing we or CRIU create is for
    // anyone but root.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // Run by CRIU as the action script of a `migrate --live` dump.
    if let (Some(action), Some(sock)) =
        (std::env::var_os("CRTOOLS_SCRIPT_ACTION"), std::env::var_os(docker_cr::host::criu::HOOK_ENV))
    {
        let code = docker_cr::host::criu::hook_main(&action.to_string_lossy(), std::path::Path::new(&sock));
        return ExitCode::from(code as u8);
    }
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.len() == 1 && args[0] == plugin::METADATA_CMD {
        println!("{}", plugin::metadata());
        return ExitCode::SUCCESS;
    }
    let as_plugin = std::env::var_os(plugin::ORIGINAL_CLI).is_some();
    if args.first().is_some_and(|a| a == "__complete") {
        // docker's own completion asks `docker-cr __complete cr WORD…`.
        let mut words: Vec<String> = args[1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
        if as_plugin && words.first().is_some_and(|w| w == plugin::NAME) {
            words.remove(0);
        }
        let (candidates, directive) = complete::complete(&words, container_names, stored_checkpoints);
        print!("{}", complete::render(&candidates, directive));
        return ExitCode::SUCCESS;
    }
    if as_plugin {
        // The docker CLI's global options govern the engine as they would
        // for `docker` itself. Set here, while this process has one thread.
        let split = plugin::split_args(&args).and_then(|(g, rest)| Ok((plugin::env_for(&g)?, rest)));
        match split {
            Ok((env, rest)) => {
                for (k, v) in env {
                    match v {
                        Some(v) => std::env::set_var(k, v),
                        None => std::env::remove_var(k),
                    }
                }
                args = rest;
            }
            Err(e) => return report(e),
        }
        if let Some(sock) = std::env::var_os(plugin::SOCKET_ENV) {
            plugin::watch_socket(&sock);
        }
    }
    let cmd = match cli::parse(args) {
        Ok(c) => c,
        Err(e) => return report(e),
    };
    if reads_only(&cmd) {
        // `docker-cr ls | head`: a reader that goes away ends us quietly, as
        // it ends ls(1), instead of a panic on EPIPE. Only for commands that
        // change nothing: one that has frozen a container must live to
        // thaw it, so the others keep Rust's ignored SIGPIPE.
        // SAFETY: signal(2) before any thread is started.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let r = match cmd {
        Command::Help(text) => {
            print!("{}", if as_plugin { text.replace("docker-cr ", "docker cr ") } else { text });
            Ok(())
        }
        Command::Version => {
            println!("docker-cr {VERSION}");
            Ok(())
        }
        Command::Completion(shell) => {
            print!("{}", complete::script(&shell).unwrap_or_default());
            Ok(())
        }
        Command::InstallPlugin { system } => plugin::install(system).map(|link| {
            eprintln!("docker-cr: installed {} -> this binary; try 'docker cr --help'", link.display());
        }),
        Command::Check(g, a) => {
            return match check::run(&session(&g), &a) {
                Ok(code) => ExitCode::from(code),
                Err(e) => report(e),
            }
        }
        Command::Key(g, a) => keys::run(&session(&g), &a),
        Command::Checkpoint(g, c) => run_checkpoint(&session(&g), &c),
        Command::Restore(g, c) => run_restore(&session(&g), &c),
        Command::Export(g, a) => transfer::run_export(&session(&g), &a),
        Command::Import(g, a) => transfer::run_import(&session(&g), &a),
        Command::Migrate(g, a, json) if a.dry_run => {
            transfer::preview_migrate(&session(&g), &a).and_then(|p| print_preview(json, p))
        }
        Command::Migrate(g, a, _) => transfer::migrate(&session(&g), &a),
        Command::Image(g, a) => docker_cr::ops::image::run(&session(&g), &a),
        Command::Ls(g, a) => catalog::ls(&session(&g), &a),
        Command::Inspect(g, a) => inspect::run(&session(&g), &a),
        Command::Rm(g, a) => catalog::rm(&session(&g), &a),
        Command::Prune(g, a) => catalog::prune(&session(&g), &a),
        Command::Serve(g, a) => docker_cr::serve::run(&g, docker_cr::serve::Config::from(&a)),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

/// The command's session, from its global options and the environment.
fn session(g: &Global) -> Session {
    Session::cli(&g.criu, g.store.as_deref(), g.quiet)
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Prints a preview (`--dry-run`) and returns the real run's refusal.
fn print_preview(json: bool, (text, doc, refusal): docker_cr::ops::Preview) -> error::Result<()> {
    if json {
        print_json(&doc);
    } else {
        print!("{text}");
    }
    refusal.map_or(Ok(()), Err)
}

fn run_checkpoint(s: &Session, c: &CheckpointCmd) -> error::Result<()> {
    if let Some(grp) = &c.group {
        if c.opts.dry_run {
            return print_preview(c.json, group::checkpoint::preview(s, grp)?);
        }
        let o = match &c.export {
            Some(e) => transfer::group_checkpoint_export(s, grp, e)?,
            None => group::checkpoint::run(s, grp)?,
        };
        if c.json {
            print_json(&group::checkpoint::stats_document(&o));
        }
        return Ok(());
    }
    if let Some(pool) = c.all {
        return all::checkpoint(s, &c.opts, pool, c.json);
    }
    if c.opts.dry_run {
        let mut preview = checkpoint::preview(s, &c.opts)?;
        if let Some(e) = &c.export {
            preview.0.push_str(&format!(
                "  then exported as {} ({}), the directory removed\n",
                e.file.display(),
                e.compress.name()
            ));
            if e.file.as_os_str() != "-" && std::fs::symlink_metadata(&e.file).is_ok() && preview.2.is_none() {
                preview.2 = Some(error::Error::checkpoint(
                    format!("{} already exists", e.file.display()),
                    "name a new file; docker-cr never overwrites an archive",
                ));
            }
        }
        return print_preview(c.json, preview);
    }
    let o = match (&c.export, &c.push) {
        (Some(e), _) => transfer::checkpoint_export(s, &c.opts, e)?,
        (None, Some((image, compress, insecure))) => {
            docker_cr::ops::image::checkpoint_push(s, &c.opts, image, *compress, *insecure)?
        }
        (None, None) => checkpoint::run(s, &c.opts)?,
    };
    if c.json {
        print_json(&checkpoint::stats_document(&o));
    }
    Ok(())
}

fn run_restore(s: &Session, c: &RestoreCmd) -> error::Result<()> {
    if let Some(grp) = &c.group {
        if c.opts.dry_run {
            return print_preview(
                c.json,
                match &c.import {
                    Some(file) => transfer::preview_group_import(s, grp, file)?,
                    None => group::restore::preview(s, grp)?,
                },
            );
        }
        let o = match &c.import {
            Some(file) => transfer::group_restore_import(s, grp, file)?,
            None => group::restore::run(s, grp)?,
        };
        if c.json {
            print_json(&group::restore::stats_document(&o));
        }
        return Ok(());
    }
    if let Some(pool) = c.all {
        return all::restore(s, &c.opts, pool, c.json);
    }
    if c.opts.dry_run {
        return print_preview(
            c.json,
            match (&c.import, &c.image) {
                (Some(file), _) => transfer::preview_import(s, &c.opts, file)?,
                (None, Some((image, insecure))) => docker_cr::ops::image::preview_image(s, &c.opts, image, *insecure)?,
                (None, None) => restore::preview(s, &c.opts)?,
            },
        );
    }
    let o = match (&c.import, &c.image) {
        (Some(file), _) => transfer::restore_import(s, &c.opts, file)?,
        (None, Some((image, insecure))) => docker_cr::ops::image::restore_image(s, &c.opts, image, *insecure)?,
        (None, None) => restore::run(s, &c.opts)?,
    };
    if c.json {
        print_json(&restore::stats_document(&o));
    }
    Ok(())
}

/// Container names for completion; none if the engine cannot be asked.
fn container_names() -> Vec<String> {
    docker::socket().and_then(|s| docker::Engine::connect(&s)).and_then(|e| e.container_names()).unwrap_or_default()
}

/// CONTAINER/NAME of every stored checkpoint, for completion.
fn stored_checkpoints() -> Vec<String> {
    let root = store::root(None, std::env::var_os("DOCKER_CR_STORE").as_deref());
    store::scan(&root).map(|es| es.iter().map(|e| e.reference()).collect()).unwrap_or_default()
}

fn report(e: error::Error) -> ExitCode {
    eprintln!("docker-cr: {e}");
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
    ExitCode::from(e.exit_code())
}
