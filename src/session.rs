//! What every operation of one command shares, decided once: the CRIU
//! binary, the store, the keys, where progress goes, how a run is
//! cancelled, and (opened on first use, once) the engine and the host's
//! facts. The CLI builds one per command from its global options and the
//! environment; a server builds one per request. Operations take a
//! `&Session` and their own options, never the command line.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::engine::docker::{self, Engine};
use crate::error::{Error, Result};
use crate::host::Ctx;
use crate::model::trust::KeyDir;
use crate::report::Out;
use crate::store::Store;

/// How a run learns that it must stop and roll back.
#[derive(Clone)]
pub enum Cancel {
    /// SIGINT, SIGTERM and SIGHUP, blocked for the whole run and looked
    /// for between steps (the CLI: no signal lands between "frozen" and
    /// "thawed").
    Signals,
    /// A flag someone else sets (a server's request being stopped).
    Flag(Arc<AtomicBool>),
    /// A server's operation: its flag (cancelled from the page, or set as
    /// the server stops), or a signal pending for the server, which blocks
    /// them all. The server's loop notices a signal within its poll
    /// (up to 250 ms), longer than many a frozen window: looking for the
    /// signal here rolls the operation back at its next step, as the CLI's.
    Server(Arc<AtomicBool>),
}

impl Cancel {
    /// From here on a signal waits for the next `check` (CLI only).
    pub fn arm(&self) {
        if let Cancel::Signals = self {
            crate::host::block_signals();
        }
    }
    pub fn is_set(&self) -> bool {
        match self {
            Cancel::Signals => crate::host::interrupted(),
            Cancel::Flag(f) => f.load(Ordering::SeqCst),
            Cancel::Server(f) => f.load(Ordering::SeqCst) || crate::host::interrupted(),
        }
    }
    /// `Err(Interrupted)` once cancelled: call between steps.
    pub fn check(&self) -> Result<()> {
        if self.is_set() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

pub struct Session {
    /// `--criu`: the CRIU binary to run.
    pub criu_bin: PathBuf,
    pub store: Store,
    pub keys: KeyDir,
    pub out: Out,
    pub cancel: Cancel,
    engine: OnceLock<Engine>,
    ctx: OnceLock<Ctx>,
}

impl Session {
    pub fn new(criu_bin: PathBuf, store: Store, keys: KeyDir, out: Out, cancel: Cancel) -> Session {
        Session { criu_bin, store, keys, out, cancel, engine: OnceLock::new(), ctx: OnceLock::new() }
    }

    /// The CLI's session: `--store` over DOCKER_CR_STORE, DOCKER_CR_KEYS,
    /// progress on stderr, signals.
    pub fn cli(criu_bin: &Path, store_flag: Option<&Path>, quiet: bool) -> Session {
        let env = std::env::var_os("DOCKER_CR_STORE");
        Session::new(
            criu_bin.to_path_buf(),
            Store::new(crate::store::root(store_flag, env.as_deref())),
            KeyDir::from_env(),
            Out::stderr(quiet),
            Cancel::Signals,
        )
    }

    /// The same session for a nested run whose steps its caller tells
    /// (`--all`): quiet, the engine and host facts shared.
    pub fn quiet(&self) -> Session {
        let s = Session::new(
            self.criu_bin.clone(),
            self.store.clone(),
            self.keys.clone(),
            self.out.quiet(),
            self.cancel.clone(),
        );
        if let Some(e) = self.engine.get() {
            let _ = s.engine.set(e.clone());
        }
        if let Some(c) = self.ctx.get() {
            let _ = s.ctx.set(c.with_out(s.out.clone()));
        }
        s
    }

    /// The engine (DOCKER_HOST or the docker CLI's context), reached once.
    pub fn engine(&self) -> Result<&Engine> {
        if let Some(e) = self.engine.get() {
            return Ok(e);
        }
        let e = Engine::connect(&docker::socket()?)?;
        Ok(self.engine.get_or_init(move || e))
    }

    /// Root, CRIU, the engine and its facts, checked once in the order that
    /// gives the most useful error first; `need_experimental` for anything
    /// that restores.
    pub fn ctx(&self, need_experimental: bool) -> Result<&Ctx> {
        let c = match self.ctx.get() {
            Some(c) => c,
            None => {
                let c = Ctx::open(self, need_experimental, true)?;
                self.ctx.get_or_init(move || c)
            }
        };
        if need_experimental {
            c.require_experimental()?;
        }
        Ok(c)
    }

    /// `ctx` for a preview (`--dry-run`): nothing is repaired, so nothing
    /// changes.
    pub fn ctx_preview(&self, need_experimental: bool) -> Result<&Ctx> {
        let c = match self.ctx.get() {
            Some(c) => c,
            None => {
                let c = Ctx::open(self, need_experimental, false)?;
                self.ctx.get_or_init(move || c)
            }
        };
        if need_experimental {
            c.require_experimental()?;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_cancels() {
        let f = Arc::new(AtomicBool::new(false));
        let c = Cancel::Flag(f.clone());
        assert!(c.check().is_ok());
        f.store(true, Ordering::SeqCst);
        assert!(matches!(c.check(), Err(Error::Interrupted)));
        let f = Arc::new(AtomicBool::new(false));
        let c = Cancel::Server(f.clone());
        assert!(c.check().is_ok(), "no flag and no signal pending");
        f.store(true, Ordering::SeqCst);
        assert!(matches!(c.check(), Err(Error::Interrupted)));
    }
}
