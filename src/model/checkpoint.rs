//! A checkpoint directory, opened: who may change it, its signature
//! against the keys this host trusts, its manifest, the files it must
//! have, the saved container, and what an adapter converted it from — read
//! and decided once, before anything is believed. Made by `open` for a
//! directory of the store, a directory anywhere, an unpacked archive;
//! consumed by restore (and, through it, `restore --import`, `--all`,
//! `migrate`'s way back).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::converted::{self, Foreign};
use crate::model::manifest::{self as mf, Manifest};
use crate::model::trust::{self, KeyDir, Origin, Provenance};

/// The largest container.json accepted: inspect data is a few KiB.
pub const MAX_CONTAINER_JSON: u64 = 16 << 20;

/// What the operator trusts for one restore beyond this host's keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustPolicy {
    /// `--trust`: unsigned and untrusted checkpoints on the operator's word.
    pub trust: bool,
    /// `--trust-key`: more public keys for this restore.
    pub extra_keys: Vec<PathBuf>,
}

/// An opened, trusted checkpoint directory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// container.json: the inspect data of the container checkpointed.
    pub saved: Value,
    pub provenance: Provenance,
    /// Whose it is (this host's own, another trusted host's, or on the
    /// operator's word), which decides what the restore gives it.
    pub origin: Origin,
    /// Another engine's checkpoint, converted (`None`: docker-cr's own).
    pub converted: Option<Foreign>,
}

/// Why another engine's checkpoint is refused without --trust. Pure.
pub fn foreign_refusal(what: &str, engine: &str) -> Error {
    Error::checkpoint(
        format!(
            "{what} was made by {engine}, not signed by docker-cr; restore with --trust if you trust where it came from \
             (restoring runs its processes as root with the capabilities and credentials saved in it)"
        ),
        "nothing was created. Pass --trust to restore it on your word",
    )
}

impl Checkpoint {
    /// Reads and checks the checkpoint directory before anything is
    /// changed: who may change it, its signature against the keys this
    /// host trusts (and `policy`'s), its manifest and the files it must
    /// have, the saved container and what it was converted from. The
    /// digests are checked by `verify`.
    pub fn open(dir: &Path, policy: &TrustPolicy, keys: &KeyDir) -> Result<Checkpoint> {
        Checkpoint::open_as(dir, &format!("the checkpoint {}", dir.display()), policy, keys)
    }

    /// `open`, its trust refusals naming the checkpoint as `what` (an
    /// unpacked archive is the archive to the user, not its directory).
    pub fn open_as(dir: &Path, what: &str, policy: &TrustPolicy, keys: &KeyDir) -> Result<Checkpoint> {
        let md = fs::metadata(dir).map_err(|e| {
            Error::checkpoint(
                format!("cannot open checkpoint directory {}: {e}", dir.display()),
                "name the directory 'docker-cr checkpoint' wrote",
            )
        })?;
        if !md.is_dir() {
            return Err(Error::checkpoint(
                format!("{} is not a directory", dir.display()),
                "name the directory 'docker-cr checkpoint' wrote",
            ));
        }
        mf::check_owner(dir)?;
        let bytes = mf::read_bytes(dir)?;
        let sig = mf::read_limited(dir, trust::SIG, 64 << 10)?;
        let own = keys.host_public()?;
        let mut trusted = keys.trusted()?;
        for p in &policy.extra_keys {
            trusted.push(trust::read_pub(p)?);
        }
        let prov = trust::check(&bytes, sig.as_deref(), &trusted)
            .map_err(|e| e.step(format!("checkpoint {}", dir.display())))?;
        // Trust before anything else is believed: an unsigned or untrusted
        // manifest is refused whatever it says (a damaged one too); only the
        // refusal's wording reads it, for the engine that made it.
        let parsed = mf::parse_bytes(&bytes, &dir.join(mf::MANIFEST));
        if !policy.trust {
            if let (Provenance::Unsigned, Some(engine)) =
                (&prov, parsed.as_ref().ok().and_then(|m| converted::made_by(m)))
            {
                return Err(foreign_refusal(what, engine));
            }
            if let Some(e) = trust::refusal(&prov, what, keys) {
                return Err(e);
            }
        }
        let m = parsed?;
        if m.format < 2 && sig.is_some() {
            return Err(Error::checkpoint(
                format!("{}: a format {} manifest cannot be signed", dir.display(), m.format),
                "the checkpoint was tampered with",
            ));
        }
        if m.host.arch != std::env::consts::ARCH {
            return Err(Error::checkpoint(
                format!("{} was taken on {}; this host is {}", dir.display(), m.host.arch, std::env::consts::ARCH),
                "restore it on a host of the same architecture",
            ));
        }
        // What restore reads must be among the files the digests cover.
        let images = |f: &str| format!("{}/{f}", mf::IMAGES);
        for need in
            [mf::ROOTFS_DIFF.to_string(), mf::CONTAINER.to_string(), images("inventory.img"), images(mf::DESCRIPTORS)]
        {
            if !m.files.contains_key(&need) {
                return Err(Error::checkpoint(
                    format!("{} lacks {need} (it is not in the manifest)", dir.display()),
                    "the checkpoint is incomplete; take it again",
                ));
            }
        }
        let p = dir.join(mf::CONTAINER);
        let text = mf::read_limited(dir, mf::CONTAINER, MAX_CONTAINER_JSON)?.unwrap_or_default();
        let saved: Value = serde_json::from_slice(&text).map_err(|e| {
            Error::checkpoint(format!("{} is not valid JSON: {e}", p.display()), "the checkpoint is damaged")
        })?;
        let converted = converted::read(dir, &m)?;
        // Another engine's checkpoint is never this host's own, whatever
        // signed it (docker-cr signs none of them).
        let origin = if converted.is_some() { Origin::Unsigned } else { trust::origin(&prov, own.as_ref()) };
        Ok(Checkpoint { dir: dir.to_path_buf(), manifest: m, saved, provenance: prov, origin, converted })
    }

    /// Checks every file against the manifest's digests; the bytes read.
    pub fn verify(&self) -> Result<u64> {
        mf::verify(&self.dir, &self.manifest)
    }

    /// `verify`, the page images left to hash on other threads (see
    /// `mf::verify_begin`).
    /// Files summed as this process unpacked them (`known`) are compared
    /// without being read again.
    pub fn verify_begin(&self, known: &mf::Known) -> Result<mf::Verifying> {
        mf::verify_begin(&self.dir, &self.manifest, known, true)
    }

    /// Signed by a key this host trusts (its own or another's).
    pub fn trusted(&self) -> bool {
        matches!(self.provenance, Provenance::Trusted(_))
    }

    /// Signed by this host's own key: restored as it was (see `Origin::Own`).
    pub fn own(&self) -> bool {
        self.origin.restores_as_it_was()
    }
}
