//! CRIU's pagemap images (`pagemap-<pid>.img`, `pagemap-shmem-<id>.img`):
//! which of a checkpoint's memory pages a lazy restore leaves to its page
//! source and which the restore copies itself. CRIU marks a page lazy only
//! in a private anonymous mapping that is not locked (`vma_entry_can_be_lazy`
//! in criu/include/vma.h); shared memory, file-backed and locked memory is
//! always copied eagerly. Fields: images/pagemap.proto. Pure, but for
//! `count_dir`.

use std::path::Path;

use crate::model::img;

/// `PAGEMAP_MAGIC` (criu/include/magic.h), after the common magic.
const PAGEMAP_MAGIC: u32 = 0x5608_4025;
/// `pagemap_entry.flags` (criu/include/pagemap.h).
const PE_PARENT: u64 = 1 << 0;
const PE_LAZY: u64 = 1 << 1;
const PE_PRESENT: u64 = 1 << 2;
/// The largest pagemap read: one entry (~12 bytes) per run of pages.
const MAX_PAGEMAP: u64 = 64 << 20;

/// Pages of a checkpoint, by how a lazy restore brings them back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pages {
    /// Served by the page source, on first touch or in the background.
    pub lazy: u64,
    /// Copied by the restore itself before the processes run.
    pub eager: u64,
    /// In a parent checkpoint (pre-dump): copied by the restore from there.
    pub in_parent: u64,
    /// Of `lazy`: in no page image here; they stayed on the checkpoint's
    /// source (a lazy dump: `migrate --live`), whose page server serves them.
    pub remote: u64,
}

impl std::ops::AddAssign for Pages {
    fn add_assign(&mut self, o: Pages) {
        self.lazy += o.lazy;
        self.eager += o.eager;
        self.in_parent += o.in_parent;
        self.remote += o.remote;
    }
}

/// Counts one pagemap image's pages. `shared`: a `pagemap-shmem-*.img`,
/// whose pages are eager whatever the flags say. Pure.
pub fn count(bytes: &[u8], shared: bool) -> Result<Pages, String> {
    let image = img::parse(bytes)?;
    if image.magic != [img::COMMON_MAGIC, PAGEMAP_MAGIC] {
        return Err("not a pagemap image".into());
    }
    let mut p = Pages::default();
    // The first entry is the pagemap_head (which pages-N.img).
    for e in image.entries.iter().skip(1) {
        let f = img::fields(e)?;
        let nr = img::field(&f, 5)
            .or_else(|| img::field(&f, 2))
            .and_then(|v| v.uint())
            .ok_or("an entry without nr_pages")?;
        // Images before flags (CRIU < 3.0) have in_parent only.
        let flags = match img::field(&f, 4).and_then(|v| v.uint()) {
            Some(fl) => fl,
            None if img::field(&f, 3).and_then(|v| v.uint()) == Some(1) => PE_PARENT,
            None => PE_PRESENT,
        };
        let slot = if flags & PE_PARENT != 0 {
            &mut p.in_parent
        } else if flags & PE_PRESENT == 0 {
            if flags & PE_LAZY == 0 {
                continue;
            }
            // A lazy dump's (`page-xfer.c`: PE_LAZY alone): on its source.
            p.remote = p.remote.checked_add(nr).ok_or("a page count overflows")?;
            &mut p.lazy
        } else if flags & PE_LAZY != 0 && !shared {
            &mut p.lazy
        } else {
            &mut p.eager
        };
        *slot = slot.checked_add(nr).ok_or("a page count overflows")?;
    }
    Ok(p)
}

/// Whether a file name is a pagemap image: Some(shared) if so.
fn pagemap_name(name: &str) -> Option<bool> {
    let stem = name.strip_prefix("pagemap-")?.strip_suffix(".img")?;
    let (shared, id) = match stem.strip_prefix("shmem-") {
        Some(id) => (true, id),
        None => (false, stem),
    };
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(shared)
}

/// The pages of every pagemap image in a CRIU images directory (read
/// beneath it, without following links, bounded).
pub fn count_dir(images: &Path) -> crate::error::Result<Pages> {
    use crate::error::IoContext;
    let mut total = Pages::default();
    let mut names: Vec<(String, bool)> = std::fs::read_dir(images)
        .at("read", images)?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            pagemap_name(&n).map(|shared| (n, shared))
        })
        .collect();
    names.sort();
    for (name, shared) in names {
        let bytes = crate::model::manifest::read_limited(images, &name, MAX_PAGEMAP)?.unwrap_or_default();
        total += count(&bytes, shared).map_err(|why| {
            crate::error::Error::checkpoint(
                format!("{}: {name} is damaged: {why}", images.display()),
                "the checkpoint is damaged; take it again (or copy it again from its source)",
            )
        })?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::img::fixtures::unhex;
    use crate::model::img::{encode, write, Value};

    /// The head and five entries of a redis's pagemap-1.img (CRIU 4.2.1,
    /// Docker 28.5): 1 + 93 eager pages, 21 + 7 + 228 lazy ones.
    const REDIS: &str = "19435654254008560200000008010e0000000880c08bdefec7151000200428010e0000000880c0eedefec71510002004285d0e0000000880e085dffec7151000200628150e0000000880e08bdffec7151000200628070f00000008808080caeedf1f1000200628e401";

    #[test]
    fn lazy_and_eager_pages() {
        let img = unhex(REDIS);
        assert_eq!(count(&img, false).unwrap(), Pages { lazy: 256, eager: 94, in_parent: 0, remote: 0 });
        assert_eq!(
            count(&img, true).unwrap(),
            Pages { lazy: 0, eager: 350, in_parent: 0, remote: 0 },
            "shared memory is eager"
        );
        let entry = |fields: &[(u32, Value)]| encode(fields);
        let head = entry(&[(1, Value::Varint(1))]);
        let m = [img::COMMON_MAGIC, PAGEMAP_MAGIC];
        let parent = entry(&[(1, Value::Varint(0x1000)), (2, Value::Varint(3)), (4, Value::Varint(PE_PARENT))]);
        let old = entry(&[(1, Value::Varint(0x9000)), (2, Value::Varint(2)), (3, Value::Varint(1))]);
        let old_present = entry(&[(1, Value::Varint(0xa000)), (2, Value::Varint(4))]);
        let remote = entry(&[(1, Value::Varint(0xf000)), (5, Value::Varint(9)), (4, Value::Varint(PE_LAZY))]);
        let hole = entry(&[(1, Value::Varint(0x20000)), (5, Value::Varint(7)), (4, Value::Varint(0))]);
        let p = count(&write(&m, &[head.clone(), parent, old, old_present, remote, hole]), false).unwrap();
        assert_eq!(p, Pages { lazy: 9, eager: 4, in_parent: 5, remote: 9 }, "a lazy dump's pages stayed on its source");
        assert!(count(&write(&[img::COMMON_MAGIC, 0x1234], std::slice::from_ref(&head)), false).is_err());
        let no_count = entry(&[(1, Value::Varint(0x1000)), (4, Value::Varint(PE_PRESENT))]);
        assert!(count(&write(&m, &[head.clone(), no_count]), false).is_err());
        let huge = entry(&[(5, Value::Varint(u64::MAX)), (4, Value::Varint(PE_PRESENT))]);
        assert!(count(&write(&m, &[head, huge.clone(), huge]), false).is_err(), "overflow");
        assert!(count(&img[..img.len() - 3], false).is_err(), "cut short");
    }

    #[test]
    fn pagemap_names() {
        assert_eq!(pagemap_name("pagemap-1.img"), Some(false));
        assert_eq!(pagemap_name("pagemap-shmem-14860.img"), Some(true));
        for n in ["pagemap-.img", "pagemap-1.img.bak", "pages-1.img", "pagemap-x.img", "pagemap-shmem-.img"] {
            assert_eq!(pagemap_name(n), None, "{n}");
        }
    }

    #[test]
    fn a_directory_adds_up() {
        let dir = std::env::temp_dir().join(format!("dcr-pagemap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pagemap-1.img"), unhex(REDIS)).unwrap();
        std::fs::write(dir.join("pagemap-7.img"), unhex(REDIS)).unwrap();
        std::fs::write(dir.join("pagemap-shmem-3.img"), unhex(REDIS)).unwrap();
        std::fs::write(dir.join("pages-1.img"), b"not read").unwrap();
        assert_eq!(count_dir(&dir).unwrap(), Pages { lazy: 512, eager: 94 * 2 + 350, in_parent: 0, remote: 0 });
        std::fs::write(dir.join("pagemap-9.img"), b"junk").unwrap();
        assert!(count_dir(&dir).unwrap_err().to_string().contains("pagemap-9.img is damaged"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
