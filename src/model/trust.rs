//! Provenance of checkpoints. CRIU restores capabilities, seccomp state and
//! credentials from its images as root, so restoring a checkpoint is running
//! its processes with whatever they had: a checkpoint from an unknown source
//! is as dangerous as a root shell from one. docker-cr therefore signs every
//! checkpoint it makes with a host key (Ed25519) over `manifest.json`, whose
//! per-file BLAKE3 digests (SHA-256 in format 2) cover everything else, and restore accepts only
//! checkpoints signed by a key the operator trusts, unless told otherwise.
//!
//! ```text
//! /etc/docker-cr/              0700 (DOCKER_CR_KEYS to use another directory)
//!   host.key                   0600  this host's secret key, made on first use
//!   host.pub                   0600  its public key: one line, give it to other hosts
//!   trusted-keys/NAME.pub      other hosts' public keys this host trusts
//! ```
//! A public key is one line: `docker-cr-ed25519 <64 hex digits> <comment>`.
//! A signature is `manifest.sig` beside the manifest: JSON with the signing
//! key and the signature of the manifest's exact bytes.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

pub const DEFAULT_DIR: &str = crate::host::paths::KEYS;
pub const SIG: &str = "manifest.sig";
const TAG: &str = "docker-cr-ed25519";
const SECRET_TAG: &str = "docker-cr-ed25519-secret";
const TRUSTED: &str = "trusted-keys";
/// A key or signature file is a line or two; anything larger is not one.
const MAX_SMALL_FILE: u64 = 64 << 10;

/// A public key and the name it goes by (its comment or file name).
#[derive(Debug, Clone, PartialEq)]
pub struct PubKey {
    pub key: [u8; 32],
    pub comment: String,
}

impl PubKey {
    /// The one-line text form, as in host.pub.
    pub fn line(&self) -> String {
        format!("{TAG} {} {}\n", hex(&self.key), self.comment)
    }
    /// A short name for messages: the first 16 hex digits of the key's SHA-256.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let d = sha2::Sha256::digest(self.key);
        format!("SHA256:{}", &hex(&d)[..16])
    }
    pub fn describe(&self) -> String {
        if self.comment.is_empty() {
            self.fingerprint()
        } else {
            format!("{} ({})", self.fingerprint(), self.comment)
        }
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Parses a public key line. Pure.
pub fn parse_pub(text: &str) -> std::result::Result<PubKey, String> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    let mut parts = line.splitn(3, char::is_whitespace);
    if parts.next() != Some(TAG) {
        return Err(format!("not a docker-cr public key (it must start with {TAG:?})"));
    }
    let key = parts.next().and_then(unhex::<32>).ok_or("the key is not 64 hex digits")?;
    VerifyingKey::from_bytes(&key).map_err(|_| "the key is not a valid Ed25519 public key")?;
    let comment: String = parts.next().unwrap_or("").trim().chars().filter(|c| !c.is_control()).collect();
    Ok(PubKey { key, comment })
}

#[derive(Debug, Serialize, Deserialize)]
struct SigFile {
    alg: String,
    key: String,
    #[serde(default)]
    comment: String,
    sig: String,
}

/// The text of `manifest.sig` for `manifest` (its exact bytes). Pure.
pub fn sign(key: &SigningKey, comment: &str, manifest: &[u8]) -> String {
    let s = SigFile {
        alg: "ed25519".into(),
        key: hex(key.verifying_key().as_bytes()),
        comment: comment.to_string(),
        sig: hex(&key.sign(manifest).to_bytes()),
    };
    let mut t = serde_json::to_string_pretty(&s).unwrap_or_default();
    t.push('\n');
    t
}

/// Where a checkpoint comes from, as far as its signature tells.
#[derive(Debug, Clone, PartialEq)]
pub enum Provenance {
    /// Signed by this key, which the operator trusts.
    Trusted(PubKey),
    /// Signed correctly, by a key the operator has not trusted.
    Untrusted(PubKey),
    /// No signature at all (another tool's, or an older docker-cr's).
    Unsigned,
}

/// Whose checkpoint it is, which decides what a restore gives it. The
/// signature check (`check`) trusts this host's key like any other trusted
/// one; `origin` tells them apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Signed by this host's own key: made by root here, from a container
    /// the operator configured. Restored as it was: its saved settings,
    /// bind mounts and capabilities included, and what CRIU restores from
    /// its images, with no flag (the output lists the host access it has).
    Own(PubKey),
    /// Signed by another host's key that this host trusts. Its host paths
    /// are that host's: the policy applies to host paths and host access
    /// (`--allow-host-access`), and the processes' privileges in the
    /// images are held to the new container's settings.
    TrustedHost(PubKey),
    /// Signed by a key this host does not trust, or not signed (another
    /// tool's, an older docker-cr's): refused without `--trust`; with it,
    /// as `TrustedHost`.
    Untrusted(PubKey),
    Unsigned,
}

impl Origin {
    /// Whether the saved settings and the images' privileges are taken as
    /// they are (only this host's own checkpoints).
    pub fn restores_as_it_was(&self) -> bool {
        matches!(self, Origin::Own(_))
    }
    /// Whether restoring needs `--trust`.
    pub fn needs_trust_flag(&self) -> bool {
        matches!(self, Origin::Untrusted(_) | Origin::Unsigned)
    }
    /// One line for the output and the README's table.
    pub fn describe(&self) -> String {
        match self {
            Origin::Own(k) => format!("signed by this host's own key {}", k.describe()),
            Origin::TrustedHost(k) => format!("signed by the trusted key {} of another host", k.describe()),
            Origin::Untrusted(k) => format!("signed by key {}, which this host does not trust", k.describe()),
            Origin::Unsigned => "not signed".into(),
        }
    }
}

/// What each origin gets, as the README's Keys and trust section and
/// `check` show it, one row per origin under `ORIGIN_HEADER`; `ORIGIN_NOTE`
/// says what "within the settings" means.
pub const ORIGIN_HEADER: [&str; 5] =
    ["checkpoint", "restore needs", "settings", "host access", "privileges in the images"];
pub const ORIGIN_TABLE: [[&str; 5]; 3] = [
    ["signed by this host", "nothing", "as saved", "as saved, listed", "as dumped"],
    ["signed by a trusted host", "nothing", "allow-list", "--allow-host-access", "within the settings (*)"],
    ["untrusted or unsigned", "--trust", "allow-list", "--allow-host-access", "within the settings (*)"],
];
pub const ORIGIN_NOTE: &str = "(*) what CRIU restores from the images (capabilities, no_new_privs, seccomp, LSM label, user namespace) is held to what the new container's settings give, read from a probe container: more is refused, or given to the settings too with --allow-host-access; a seccomp filter chain without the container's filter gets it added on top. The allow-list is docker-cr's policy (docker-cr-security(7)): host paths, devices, privileged mode, host namespaces, added capabilities need --allow-host-access.";

/// `ORIGIN_HEADER` and `ORIGIN_TABLE` as a text table, columns aligned,
/// then `ORIGIN_NOTE`; each line starts with `indent`. Pure.
pub fn origin_table_text(indent: &str) -> String {
    let rows: Vec<&[&str; 5]> = std::iter::once(&ORIGIN_HEADER).chain(ORIGIN_TABLE.iter()).collect();
    let width = |c: usize| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..5).map(width).collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(&format!("{indent}{}\n", cells.join("  ").trim_end()));
    }
    // The note wrapped at the table's width (at least 72 columns).
    let max = widths.iter().sum::<usize>().max(72) + 8;
    let mut line = String::new();
    for w in ORIGIN_NOTE.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + w.chars().count() > max {
            out.push_str(&format!("{indent}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    out.push_str(&format!("{indent}{line}\n"));
    out
}

/// The origin of a checkpoint of provenance `p`, given this host's own
/// public key (`KeyDir::host_public`). Pure.
pub fn origin(p: &Provenance, own: Option<&PubKey>) -> Origin {
    match p {
        Provenance::Trusted(k) if own.is_some_and(|o| o.key == k.key) => Origin::Own(k.clone()),
        Provenance::Trusted(k) => Origin::TrustedHost(k.clone()),
        Provenance::Untrusted(k) => Origin::Untrusted(k.clone()),
        Provenance::Unsigned => Origin::Unsigned,
    }
}

fn tampered(why: &str) -> Error {
    Error::checkpoint(
        format!("the checkpoint's signature does not hold: {why}; it was changed after it was signed, or damaged"),
        format!(
            "do not restore it. If you changed it yourself on purpose, remove {SIG} and restore with --trust (that takes the checkpoint on your word)"
        ),
    )
}

/// Checks the signature `sig` (the bytes of manifest.sig, if there is one) of
/// `manifest` against the `trusted` keys. A signature that does not verify is
/// an error whoever signed it: it means the manifest was changed. Pure.
pub fn check(manifest: &[u8], sig: Option<&[u8]>, trusted: &[PubKey]) -> Result<Provenance> {
    let Some(sig) = sig else { return Ok(Provenance::Unsigned) };
    let s: SigFile = serde_json::from_slice(sig).map_err(|_| tampered(&format!("{SIG} is not valid")))?;
    if s.alg != "ed25519" {
        return Err(tampered(&format!("{SIG} names the algorithm {:?}", s.alg)));
    }
    let key = unhex::<32>(&s.key).ok_or_else(|| tampered(&format!("{SIG} holds no valid key")))?;
    let vk = VerifyingKey::from_bytes(&key).map_err(|_| tampered(&format!("{SIG} holds no valid key")))?;
    let bytes = unhex::<64>(&s.sig).ok_or_else(|| tampered(&format!("{SIG} holds no valid signature")))?;
    vk.verify_strict(manifest, &Signature::from_bytes(&bytes))
        .map_err(|_| tampered("the manifest does not match the signature"))?;
    let comment: String = s.comment.chars().filter(|c| !c.is_control()).take(200).collect();
    Ok(match trusted.iter().find(|t| t.key == key) {
        Some(t) => Provenance::Trusted(t.clone()),
        None => Provenance::Untrusted(PubKey { key, comment }),
    })
}

/// Why a checkpoint is refused, and what the operator can do. Pure.
pub fn refusal(p: &Provenance, what: &str, keys: &KeyDir) -> Option<Error> {
    let risk = "restoring runs its processes as root with the capabilities and credentials saved in it";
    match p {
        Provenance::Trusted(_) => None,
        Provenance::Untrusted(k) => Some(Error::checkpoint(
            format!("{what} is signed by key {}, which this host does not trust; {risk}", k.describe()),
            format!(
                "if that key is the other host's (see 'docker-cr key show' there), trust it once with 'docker-cr key trust FILE' (it goes to {}), or pass --trust-key FILE for this restore; --trust restores it without any trust check",
                keys.trusted_dir().display()
            ),
        )),
        Provenance::Unsigned => Some(Error::checkpoint(
            format!("{what} is not signed (made by another tool or an older docker-cr, or its {SIG} was removed); {risk}"),
            "restore it only if you trust where it came from, with --trust",
        )),
    }
}

/// The directory of this host's key and of the keys it trusts.
#[derive(Debug, Clone)]
pub struct KeyDir {
    pub dir: PathBuf,
}

impl KeyDir {
    pub fn from_env() -> KeyDir {
        let dir = std::env::var_os("DOCKER_CR_KEYS").filter(|v| !v.is_empty()).map(PathBuf::from);
        KeyDir { dir: dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)) }
    }
    pub fn secret_path(&self) -> PathBuf {
        self.dir.join("host.key")
    }
    pub fn public_path(&self) -> PathBuf {
        self.dir.join("host.pub")
    }
    pub fn trusted_dir(&self) -> PathBuf {
        self.dir.join(TRUSTED)
    }

    /// This host's signing key, made on first use (0600, in a 0700 directory).
    pub fn host_key(&self) -> Result<SigningKey> {
        let p = self.secret_path();
        match read_small(&p) {
            Ok(t) => return parse_secret(&t, &p),
            Err(Error::Io { ref source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir).at("create", &self.dir)?;
        let mut seed = [0u8; 32];
        let mut got = 0;
        while got < seed.len() {
            got += rustix::rand::getrandom(&mut seed[got..], rustix::rand::GetRandomFlags::empty())
                .at("read random bytes for", &p)?;
        }
        let key = SigningKey::from_bytes(&seed);
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
        let public = PubKey { key: key.verifying_key().to_bytes(), comment: host };
        // The public half first: a host.key without host.pub would be a key
        // nobody can be told about.
        let tmp = self.dir.join(".host.pub.new");
        let _ = fs::remove_file(&tmp);
        write_new(&tmp, public.line().as_bytes())?;
        fs::rename(&tmp, self.public_path()).at("create", &self.public_path())?;
        let text = format!("{SECRET_TAG} {}\n", hex(&seed));
        match write_new(&p, text.as_bytes()) {
            Ok(()) => Ok(key),
            // Another docker-cr made one at the same moment: use that one,
            // and put its public half back.
            Err(Error::Io { ref source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                let key = parse_secret(&read_small(&p)?, &p)?;
                let public = PubKey { key: key.verifying_key().to_bytes(), comment: public.comment };
                let _ = fs::remove_file(&tmp);
                write_new(&tmp, public.line().as_bytes())?;
                fs::rename(&tmp, self.public_path()).at("create", &self.public_path())?;
                Ok(key)
            }
            Err(e) => Err(e),
        }
    }

    /// This host's public key, if it has made one.
    pub fn host_public(&self) -> Result<Option<PubKey>> {
        let p = self.secret_path();
        match read_small(&p) {
            Ok(t) => {
                let k = parse_secret(&t, &p)?;
                let comment = read_small(&self.public_path())
                    .ok()
                    .and_then(|t| parse_pub(&t).ok())
                    .map(|k| k.comment)
                    .unwrap_or_default();
                Ok(Some(PubKey { key: k.verifying_key().to_bytes(), comment }))
            }
            Err(Error::Io { ref source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every key whose signature restore accepts: this host's own and the
    /// ones in trusted-keys/. A file there that is not a key is an error:
    /// the operator meant to trust something.
    pub fn trusted(&self) -> Result<Vec<PubKey>> {
        let mut out: Vec<PubKey> = self.host_public()?.into_iter().collect();
        let d = self.trusted_dir();
        let mut names: Vec<_> = match fs::read_dir(&d) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).at("list", &d),
        };
        names.sort();
        for p in names.into_iter().filter(|p| p.extension().is_some_and(|x| x == "pub")) {
            out.push(read_pub(&p)?);
        }
        Ok(out)
    }

    /// Adds `key` to trusted-keys/NAME.pub. Returns the file written.
    pub fn trust(&self, key: &PubKey, name: &str) -> Result<PathBuf> {
        let d = self.trusted_dir();
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&d).at("create", &d)?;
        for existing in self.trusted()? {
            if existing.key == key.key {
                return Err(Error::Usage(format!(
                    "key {} is already trusted on this host{}",
                    key.fingerprint(),
                    if existing.comment.is_empty() { String::new() } else { format!(" (as {})", existing.comment) }
                )));
            }
        }
        let p = d.join(format!("{name}.pub"));
        let named = PubKey { key: key.key, comment: name.to_string() };
        write_new(&p, named.line().as_bytes()).map_err(|e| match e {
            Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => Error::Usage(
                format!("{} exists already: choose another --name, or remove that file first", p.display()),
            ),
            e => e,
        })?;
        Ok(p)
    }
}

/// A public key from a file (`-` is standard input).
pub fn read_pub(p: &Path) -> Result<PubKey> {
    let text = if p == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().take(MAX_SMALL_FILE).read_to_string(&mut s).at("read", p)?;
        s
    } else {
        read_small(p)?
    };
    parse_pub(&text).map_err(|why| Error::Usage(format!("{}: {why}", p.display())))
}

fn parse_secret(text: &str, p: &Path) -> Result<SigningKey> {
    let seed = text
        .trim()
        .strip_prefix(SECRET_TAG)
        .map(str::trim)
        .and_then(unhex::<32>)
        .ok_or_else(|| Error::host(format!("{} is not a docker-cr host key", p.display()), "move it away; docker-cr makes a new one (checkpoints it signed will then need --trust-key with the old host.pub)"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a small file, refusing one larger than any key or signature.
pub fn read_small(p: &Path) -> Result<String> {
    let f = fs::File::open(p).at("read", p)?;
    let mut s = String::new();
    f.take(MAX_SMALL_FILE + 1).read_to_string(&mut s).at("read", p)?;
    if s.len() as u64 > MAX_SMALL_FILE {
        return Err(Error::checkpoint(format!("{} is too large to be a key or signature", p.display()), ""));
    }
    Ok(s)
}

fn write_new(p: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(p).at("create", p)?;
    f.write_all(bytes).at("write", p)?;
    f.sync_all().at("sync", p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }
    fn public(k: &SigningKey, c: &str) -> PubKey {
        PubKey { key: k.verifying_key().to_bytes(), comment: c.into() }
    }

    #[test]
    fn signed_by_a_trusted_key_an_untrusted_one_or_nobody() {
        let (a, b) = (key(1), key(2));
        let m = br#"{"format": 2}"#;
        let sig = sign(&a, "hosta", m);
        let pa = public(&a, "hosta");
        assert_eq!(check(m, Some(sig.as_bytes()), std::slice::from_ref(&pa)).unwrap(), Provenance::Trusted(pa.clone()));
        assert!(matches!(
            check(m, Some(sig.as_bytes()), &[public(&b, "")]).unwrap(),
            Provenance::Untrusted(k) if k.key == pa.key && k.comment == "hosta"
        ));
        assert_eq!(check(m, None, std::slice::from_ref(&pa)).unwrap(), Provenance::Unsigned);
    }

    #[test]
    fn a_changed_manifest_or_signature_is_refused_even_with_the_key_trusted() {
        let a = key(1);
        let pa = public(&a, "");
        let sig = sign(&a, "", b"manifest");
        let e = check(b"manifest ", Some(sig.as_bytes()), std::slice::from_ref(&pa)).unwrap_err();
        assert!(e.to_string().contains("does not match the signature"), "{e}");
        assert_eq!(e.exit_code(), 5);
        // The key swapped for another's, with the old signature.
        let mut v: serde_json::Value = serde_json::from_str(&sig).unwrap();
        v["key"] = hex(key(3).verifying_key().as_bytes()).into();
        assert!(check(b"manifest", Some(v.to_string().as_bytes()), std::slice::from_ref(&pa)).is_err());
        for junk in ["", "{}", "{\"alg\":\"none\",\"key\":\"\",\"sig\":\"\"}", "\u{0}"] {
            assert!(check(b"manifest", Some(junk.as_bytes()), std::slice::from_ref(&pa)).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn own_checkpoints_are_told_from_other_trusted_hosts() {
        let (own, other, stranger) = (key(1), key(2), key(3));
        let (po, pb) = (public(&own, "here"), public(&other, "hostb"));
        let trusted = [po.clone(), pb.clone()];
        let m = br#"{"format": 2}"#;
        let at = |k: &SigningKey| origin(&check(m, Some(sign(k, "", m).as_bytes()), &trusted).unwrap(), Some(&po));
        assert_eq!(at(&own), Origin::Own(po.clone()));
        assert!(at(&own).restores_as_it_was() && !at(&own).needs_trust_flag());
        assert_eq!(at(&other), Origin::TrustedHost(pb.clone()));
        assert!(!at(&other).restores_as_it_was() && !at(&other).needs_trust_flag());
        assert!(matches!(at(&stranger), Origin::Untrusted(_)));
        assert!(at(&stranger).needs_trust_flag());
        assert_eq!(origin(&Provenance::Unsigned, Some(&po)), Origin::Unsigned);
        // A host that has no key of its own yet: nothing is its own.
        assert_eq!(origin(&Provenance::Trusted(po.clone()), None), Origin::TrustedHost(po.clone()));
        // Its own key copied into trusted-keys/ under another name is still its own.
        assert!(origin(&Provenance::Trusted(PubKey { key: po.key, comment: "copy".into() }), Some(&po))
            .restores_as_it_was());
        assert!(at(&own).describe().contains("own key"));
    }

    #[test]
    fn the_origin_table_in_text() {
        let t = origin_table_text("  ");
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines.len() > 5, "{t}");
        let width = lines[0].chars().count();
        assert!(lines[4..].iter().all(|l| l.chars().count() <= width + 8), "the note is wrapped: {t}");
        let note: Vec<&str> = lines[4..].iter().map(|l| l.trim()).collect();
        assert_eq!(note.join(" "), ORIGIN_NOTE);
        assert!(lines[0].starts_with("  checkpoint                restore needs  settings"), "{t}");
        assert!(lines[1].starts_with("  signed by this host       nothing        as saved"), "{t}");
        let col = lines[0].find("privileges").unwrap();
        assert!(lines[1..4].iter().all(|l| l.len() > col && l.as_bytes()[col - 1] == b' '), "aligned: {t}");
        assert!(lines[4].starts_with("  (*) what CRIU restores"));
    }

    #[test]
    fn public_key_lines() {
        let p = public(&key(7), "host a");
        assert_eq!(parse_pub(&p.line()).unwrap(), p);
        assert_eq!(parse_pub(&format!("# a comment\n\n{}", p.line())).unwrap(), p);
        assert!(parse_pub("ssh-ed25519 AAAA").unwrap_err().contains("not a docker-cr public key"));
        assert!(parse_pub("docker-cr-ed25519 abcd").unwrap_err().contains("64 hex"));
        assert!(p.fingerprint().starts_with("SHA256:") && p.fingerprint().len() == 23);
    }

    #[test]
    fn host_key_is_made_once_private_and_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("docker-cr-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let kd = KeyDir { dir: d.clone() };
        assert!(kd.host_public().unwrap().is_none());
        assert!(kd.trusted().unwrap().is_empty());
        let k = kd.host_key().unwrap();
        assert_eq!(kd.host_key().unwrap().to_bytes(), k.to_bytes(), "made once");
        assert_eq!(fs::metadata(kd.secret_path()).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&d).unwrap().permissions().mode() & 0o777, 0o700);
        let own = parse_pub(&fs::read_to_string(kd.public_path()).unwrap()).unwrap();
        assert_eq!(own.key, k.verifying_key().to_bytes());
        assert_eq!(kd.trusted().unwrap(), vec![kd.host_public().unwrap().unwrap()]);
        let other = public(&key(9), "whatever");
        let p = kd.trust(&other, "hostb").unwrap();
        assert_eq!(p, kd.trusted_dir().join("hostb.pub"));
        assert_eq!(kd.trusted().unwrap()[1], PubKey { key: other.key, comment: "hostb".into() });
        assert!(kd.trust(&other, "again").unwrap_err().to_string().contains("already trusted"));
        fs::write(kd.trusted_dir().join("junk.pub"), "nonsense").unwrap();
        assert!(kd.trusted().is_err(), "a broken trusted key is an error, not ignored");
        fs::remove_dir_all(&d).unwrap();
    }
}
