//! `docker-cr key`: show this host's public key, list the trusted ones, and
//! trust another host's. The key handling itself is in `trust`.

use std::path::PathBuf;

use crate::error::Result;
use crate::host;
use crate::model::trust;
use crate::session::Session;

/// `key show`, `key list`, `key trust [--name NAME] FILE`.
#[derive(Debug, PartialEq, Clone)]
pub enum Command {
    Show,
    List,
    Trust { file: PathBuf, name: Option<String> },
}

pub fn run(session: &Session, a: &Command) -> Result<()> {
    host::require_root()?;
    let keys = &session.keys;
    match a {
        Command::Show => {
            let secret = keys.host_key()?;
            let comment = keys.host_public()?.map(|k| k.comment).unwrap_or_default();
            print!("{}", trust::PubKey { key: secret.verifying_key().to_bytes(), comment }.line());
        }
        Command::List => {
            for (i, k) in keys.trusted()?.iter().enumerate() {
                let whose = if i == 0 && keys.host_public()?.is_some() { "this host" } else { "trusted" };
                println!("{}  {:<10} {}", k.fingerprint(), whose, k.comment);
            }
        }
        Command::Trust { file, name } => {
            let k = trust::read_pub(file)?;
            let name = match name {
                Some(n) => n.clone(),
                None if crate::store::valid_name(&k.comment) => k.comment.clone(),
                None => {
                    return Err(crate::error::Error::Usage(format!(
                        "the key has no usable name ({:?}): give one with --name\nTry 'docker-cr key --help'.",
                        k.comment
                    )))
                }
            };
            let p = keys.trust(&k, &name)?;
            session.out.step(format!(
                "trusting key {} as {name} ({}): checkpoints it signed restore without --trust",
                k.fingerprint(),
                p.display()
            ));
        }
    }
    Ok(())
}
