//! `restore --project/--group`: a group checkpoint restored as one (see
//! `super`).

use crate::ops::restore as single;
use crate::store::Location;

/// `restore --project/--group [--only S] [--replace]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Options {
    /// The group's name: its directory in the store (the project's name
    /// for --project); with an archive, what it must be (empty: any).
    pub name: String,
    /// --project: the group must be that Compose project's.
    pub project: bool,
    pub from: Location,
    /// Only these members (services or container names).
    pub only: Vec<String>,
    /// Remove the members that exist first.
    pub replace: bool,
    /// How each member is restored (trust, --allow-host-access, --unpause,
    /// --ignore-volumes, --dry-run); its container and source are the
    /// group's to set.
    pub member: single::Options,
}
