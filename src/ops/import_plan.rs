//! What `restore --import` does before the restore itself, decided from the
//! unpacked archive and a few engine answers (`Facts`): whether the
//! archive's image is loaded, used as this engine has it, or refused (its
//! name means another image here, or it has no name to load it under);
//! whether the archive's named volumes are created and filled, left alone
//! (`--ignore-volumes`), or refused (they exist here). Pure: the dry run
//! prints it, and the real run refuses by it before it loads or creates
//! anything. The run checks again as it acts (`transfer::load_image`,
//! `transfer::create_volumes`): another process may have made the image's
//! name or a volume since, and those checks use the same refusals.

use crate::engine::docker::short_id;
use crate::error::Error;

/// The engine's and the archive's answers the plan decides on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    /// The archive holds its image (`docker-cr/image.tar`, `--with-image`).
    pub image_tar: bool,
    /// The checkpoint's image ID, and the name the container asked for.
    pub id: String,
    pub named: String,
    /// This engine has the image of that ID.
    pub image_here: bool,
    /// The image `named` means on this engine, if any.
    pub named_here: Option<String>,
    /// The named volumes the archive carries (`volumes/NAME.tar`), and
    /// those of them this engine has already.
    pub volumes: Vec<String>,
    pub existing_volumes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// The archive has no image.
    None,
    /// This engine has it: the archive's copy is not loaded.
    Here,
    /// Loaded from the archive, under its name.
    Load,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Volumes {
    None,
    /// `--ignore-volumes`: not unpacked; the container uses what is here.
    Ignored(Vec<String>),
    /// Created (empty) and filled from the archive.
    Create(Vec<String>),
}

#[derive(Debug)]
pub struct Plan {
    pub image: Image,
    pub volumes: Volumes,
    /// Why the real run would stop, in the order it checks; empty: it goes
    /// on to the restore.
    pub refusals: Vec<Error>,
}

/// The import's plan. Pure.
pub fn plan(f: &Facts, ignore_volumes: bool) -> Plan {
    let mut refusals = Vec::new();
    let image = if !f.image_tar {
        Image::None
    } else if f.image_here {
        Image::Here
    } else if let Some(other) = f.named_here.as_ref().filter(|o| **o != f.id) {
        refusals.push(image_name_taken(&f.named, &f.id, other, false));
        Image::None
    } else if f.named.is_empty() || f.named.contains('@') {
        refusals.push(Error::container(
            format!(
                "the archive's image ({}) has no name to load it under ({})",
                short_id(f.id.trim_start_matches("sha256:")),
                if f.named.is_empty() {
                    "the container names none".to_string()
                } else {
                    format!("{} is a digest", f.named)
                }
            ),
            "load the image yourself (docker load), then restore again",
        ));
        Image::None
    } else {
        Image::Load
    };
    let volumes = if f.volumes.is_empty() {
        Volumes::None
    } else if ignore_volumes {
        Volumes::Ignored(f.volumes.clone())
    } else {
        let existing: Vec<&String> = f.volumes.iter().filter(|v| f.existing_volumes.contains(v)).collect();
        if !existing.is_empty() {
            refusals.push(volumes_exist(&existing));
        }
        Volumes::Create(f.volumes.clone())
    };
    Plan { image, volumes, refusals }
}

/// The plan's lines for `--dry-run`. Pure.
pub fn describe(p: &Plan, f: &Facts) -> Vec<String> {
    let mut lines = Vec::new();
    match p.image {
        Image::Here => lines.push(format!("image: {} is here already (the archive's copy is not loaded)", f.named)),
        Image::Load => lines.push(format!("image: would load {} from the archive", f.named)),
        Image::None => {}
    }
    match &p.volumes {
        Volumes::Ignored(v) => {
            lines.push(format!("volumes: the archive's {} are not unpacked (--ignore-volumes)", v.join(", ")))
        }
        // Said only when none of them is refused (it exists here).
        Volumes::Create(v) if !v.iter().any(|x| f.existing_volumes.contains(x)) => {
            lines.push(format!("volumes: would create and fill {} from the archive", v.join(", ")))
        }
        Volumes::Create(_) | Volumes::None => {}
    }
    lines
}

/// The archive's image is `named`, which means `other` here (unknown: "")
/// : loading it would move that tag. `during`: it came to mean it while
/// the image loaded. Pure.
pub fn image_name_taken(named: &str, id: &str, other: &str, during: bool) -> Error {
    let other =
        if other.is_empty() { String::new() } else { format!(" ({})", short_id(other.trim_start_matches("sha256:"))) };
    Error::container(
        format!(
            "the archive's image is {named} ({}), but {named} {} another image on this host{other}{}: loading it would move that tag",
            short_id(id.trim_start_matches("sha256:")),
            if during { "came to mean" } else { "means" },
            if during { " while it loaded" } else { "" }
        ),
        format!("retag or remove this host's {named} first (docker tag / docker rmi), or load the image yourself"),
    )
}

/// The archive's named volumes `existing` are on this host already. Pure.
pub fn volumes_exist(existing: &[&String]) -> Error {
    let names: Vec<&str> = existing.iter().map(|s| s.as_str()).collect();
    Error::container(
        format!(
            "the archive carries the named volumes {}, which exist on this host already; docker-cr does not overwrite them",
            names.join(", ")
        ),
        format!(
            "restore with --ignore-volumes to use the existing ones as they are, or remove them first (docker volume rm {})",
            names.join(" ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            image_tar: true,
            id: "sha256:abea8c29a2bc0bf67603a5fa2ac263820b0f5df515a5636f8f3c92164a9cb372".into(),
            named: "docker-cr-test:redis".into(),
            volumes: vec!["data".into(), "logs".into()],
            ..Facts::default()
        }
    }
    fn refusals(p: &Plan) -> Vec<(u8, String)> {
        p.refusals.iter().map(|e| (e.exit_code(), e.to_string())).collect()
    }

    #[test]
    fn a_clean_import_loads_the_image_and_makes_the_volumes() {
        let f = facts();
        let p = plan(&f, false);
        assert_eq!((&p.image, &p.volumes), (&Image::Load, &Volumes::Create(vec!["data".into(), "logs".into()])));
        assert_eq!(refusals(&p), vec![]);
        assert_eq!(
            describe(&p, &f),
            vec![
                "image: would load docker-cr-test:redis from the archive".to_string(),
                "volumes: would create and fill data, logs from the archive".to_string()
            ]
        );
        // Nothing to load or make.
        let none = Facts { image_tar: false, volumes: vec![], ..facts() };
        let p = plan(&none, false);
        assert_eq!((&p.image, &p.volumes, p.refusals.len()), (&Image::None, &Volumes::None, 0));
        assert!(describe(&p, &none).is_empty());
    }

    #[test]
    fn an_image_here_is_used_and_a_name_that_means_another_is_refused() {
        let f = Facts { image_here: true, named_here: Some("sha256:0000".into()), ..facts() };
        let p = plan(&f, false);
        assert_eq!((&p.image, p.refusals.len()), (&Image::Here, 0), "the ID decides, not the name");
        assert_eq!(
            describe(&p, &f)[0],
            "image: docker-cr-test:redis is here already (the archive's copy is not loaded)"
        );
        let f = Facts { named_here: Some("sha256:1234567890abcdef".into()), ..facts() };
        let p = plan(&f, false);
        assert_eq!(
            refusals(&p),
            vec![(
                4,
                "the archive's image is docker-cr-test:redis (abea8c29a2bc), but docker-cr-test:redis means another image \
                 on this host (1234567890ab): loading it would move that tag"
                    .to_string()
            )]
        );
        // The name meaning the same ID (the image is here under it): loaded? No: here.
        let f = Facts { named_here: Some(facts().id), ..facts() };
        assert_eq!(plan(&f, false).image, Image::Load, "the name means this very image: no tag moves");
    }

    #[test]
    fn an_image_without_a_name_to_load_it_under_is_refused() {
        for (named, why) in [("", "the container names none"), ("redis@sha256:ab", "redis@sha256:ab is a digest")] {
            let f = Facts { named: named.into(), ..facts() };
            let r = refusals(&plan(&f, false));
            assert_eq!(r.len(), 1, "{named}");
            assert_eq!(r[0].0, 4);
            assert!(r[0].1.contains(&format!("has no name to load it under ({why})")), "{}", r[0].1);
        }
    }

    #[test]
    fn existing_volumes_are_refused_unless_ignored() {
        let f = Facts { existing_volumes: vec!["logs".into(), "other".into()], ..facts() };
        let p = plan(&f, false);
        assert_eq!(
            refusals(&p),
            vec![(
                4,
                "the archive carries the named volumes logs, which exist on this host already; docker-cr does not overwrite them"
                    .to_string()
            )]
        );
        assert_eq!(p.refusals[0].hint().unwrap_or_default(), "restore with --ignore-volumes to use the existing ones as they are, or remove them first (docker volume rm logs)");
        assert_eq!(describe(&p, &f), vec!["image: would load docker-cr-test:redis from the archive".to_string()]);
        let p = plan(&f, true);
        assert_eq!((&p.volumes, p.refusals.len()), (&Volumes::Ignored(vec!["data".into(), "logs".into()]), 0));
        assert_eq!(describe(&p, &f)[1], "volumes: the archive's data, logs are not unpacked (--ignore-volumes)");
        // Both refusals at once, in the order the run checks: the image first.
        let f = Facts { named_here: Some("sha256:99".into()), existing_volumes: vec!["data".into()], ..facts() };
        assert_eq!(plan(&f, false).refusals.len(), 2);
    }
}
