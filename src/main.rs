//! docker-cr: checkpoint a running Docker container with CRIU and restore it
//! later, as itself or as a clone. `main` parses, runs, and maps errors to
//! the exit status documented in docker-cr(1); the work is in the modules.

use std::process::ExitCode;

use docker_cr::cli::{self, Command};
use docker_cr::{all, catalog, check, checkpoint, error, inspect, keys, restore, VERSION};

fn main() -> ExitCode {
    // Checkpoints hold process memory: nothing we or CRIU create is for
    // anyone but root.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cmd = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => return report(e),
    };
    let r = match cmd {
        Command::Help(text) => {
            print!("{text}");
            Ok(())
        }
        Command::Version => {
            println!("docker-cr {VERSION}");
            Ok(())
        }
        Command::Check(g, a) => {
            return match check::run(&g, &a) {
                Ok(code) => ExitCode::from(code),
                Err(e) => report(e),
            }
        }
        Command::Key(g, a) => keys::run(&g, &a),
        Command::Checkpoint(g, a) if a.all => all::checkpoint(&g, &a),
        Command::Restore(g, a) if a.all => all::restore(&g, &a),
        Command::Checkpoint(g, a) => checkpoint::run(&g, &a),
        Command::Restore(g, a) => restore::run(&g, &a),
        Command::Ls(g, a) => catalog::ls(&g, &a),
        Command::Inspect(g, a) => inspect::run(&g, &a),
        Command::Rm(g, a) => catalog::rm(&g, &a),
        Command::Prune(g, a) => catalog::prune(&g, &a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

fn report(e: error::Error) -> ExitCode {
    eprintln!("docker-cr: {e}");
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
    ExitCode::from(e.exit_code())
}
