//! Periodic timerfds that CRIU would restore disarmed (issue 12).
//!
//! When a periodic timerfd has expired and nobody has read it yet, the
//! kernel's hrtimer is not running (it is re-armed by the next `read`), so
//! `/proc/<pid>/fdinfo` reports `it_value: (0, 0)`. CRIU saves that as it is
//! and on restore calls `timerfd_settime` with a zero value, which *disarms*
//! the timer: the expiration count it saved is delivered once, then the
//! timer never fires again. A frozen container almost always has such a
//! timer (freezing takes longer than a 10 ms period), so every periodic
//! timerfd of it would stop.
//!
//! The remedy: in `files.img`, a timerfd's `timerfd_entry` with a zero value and a non-zero
//! interval gets one interval as its value (the next expiry one period after
//! the restore), which is what the timer would have done had it been read.
//! The expiration count (`ticks`) is kept: the unread expiry is still
//! delivered. With `TFD_TIMER_ABSTIME` CRIU adds the clock's current time to
//! the value on restore, so one interval is right there too.
//!
//! `rewrite` is pure; `fix_in_dir` is the edge that reads and replaces the
//! file.

use std::fs;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::model::img::{self, Value};

/// The image that holds every open file's entry, timerfds among them
/// (CRIU 4.2 writes no timerfd.img of its own).
pub const IMAGE: &str = "files.img";

/// `file_entry` field numbers (CRIU's images/fdinfo.proto): `type`, `tfd`.
const FILE_TYPE: u32 = 1;
const FILE_TFD: u32 = 12;
/// `fd_types.TIMERFD` (images/fdinfo.proto).
const FD_TYPE_TIMERFD: u64 = 17;

/// `timerfd_entry` field numbers (CRIU's images/timerfd.proto).
const ID: u32 = 1;
const VSEC: u32 = 7;
const VNSEC: u32 = 8;
const ISEC: u32 = 9;
const INSEC: u32 = 10;

/// A rewritten files.img and the timers re-armed in it.
pub type Rewritten = (Vec<u8>, Vec<Rearmed>);

/// One timer whose value was set to its interval.
#[derive(Debug, PartialEq)]
pub struct Rearmed {
    pub id: u64,
    pub interval_ns: u128,
}

fn uint(fields: &[(u32, Value<'_>)], n: u32) -> u64 {
    img::field(fields, n).and_then(|v| v.uint()).unwrap_or(0)
}

/// A `timerfd_entry` re-armed for one interval if it expired unread and is
/// periodic; `None` when it is right as it is.
fn rearm(msg: &[u8]) -> std::result::Result<Option<(Vec<u8>, Rearmed)>, String> {
    let fields = img::fields(msg)?;
    let (isec, insec) = (uint(&fields, ISEC), uint(&fields, INSEC));
    let expired = uint(&fields, VSEC) == 0 && uint(&fields, VNSEC) == 0;
    if !(expired && (isec != 0 || insec != 0)) {
        return Ok(None);
    }
    let id = uint(&fields, ID);
    let mut out: Vec<(u32, Value<'_>)> = fields
        .into_iter()
        .filter(|(n, _)| *n != VSEC && *n != VNSEC)
        .flat_map(|(n, v)| {
            // In field order, where CRIU wrote them: just before the interval.
            let value = (n == ISEC).then_some([(VSEC, Value::Varint(isec)), (VNSEC, Value::Varint(insec))]);
            value.into_iter().flatten().chain([(n, v)])
        })
        .collect();
    if img::field(&out, VSEC).is_none() {
        out.extend([(VSEC, Value::Varint(isec)), (VNSEC, Value::Varint(insec))]);
    }
    let ns = u128::from(isec) * 1_000_000_000 + u128::from(insec);
    Ok(Some((img::encode(&out), Rearmed { id, interval_ns: ns })))
}

/// `files.img` (CRIU >= 3: one `file_entry` per open file, a timerfd's
/// `timerfd_entry` in its field `tfd`) with every expired periodic timer
/// re-armed for one interval, and which timers those were; `None` when
/// nothing needs to change (the file then stays byte for byte as CRIU wrote
/// it; so do all entries but the rewritten ones).
pub fn rewrite(image: &[u8]) -> std::result::Result<Option<Rewritten>, String> {
    let parsed = img::parse(image)?;
    let mut rearmed = Vec::new();
    let mut entries = Vec::with_capacity(parsed.entries.len());
    for e in &parsed.entries {
        let fields = img::fields(e)?;
        let tfd = match img::field(&fields, FILE_TFD) {
            Some(Value::Bytes(t)) if img::field(&fields, FILE_TYPE).and_then(|v| v.uint()) == Some(FD_TYPE_TIMERFD) => {
                t
            }
            _ => {
                entries.push(e.to_vec());
                continue;
            }
        };
        let Some((new_tfd, r)) = rearm(tfd)? else {
            entries.push(e.to_vec());
            continue;
        };
        let out: Vec<(u32, Value<'_>)> =
            fields.into_iter().map(|(n, v)| if n == FILE_TFD { (n, Value::Bytes(&new_tfd)) } else { (n, v) }).collect();
        entries.push(img::encode(&out));
        rearmed.push(r);
    }
    if rearmed.is_empty() {
        return Ok(None);
    }
    Ok(Some((img::write(&parsed.magic, &entries), rearmed)))
}

/// Rewrites `<images>/files.img` in place (through a new file renamed over
/// it) if any timer in it needs re-arming; returns those timers.
pub fn fix_in_dir(images: &Path) -> Result<Vec<Rearmed>> {
    let path = images.join(IMAGE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("read", &path),
    };
    let (new, rearmed) = match rewrite(&bytes) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(Vec::new()),
        Err(why) => {
            return Err(Error::checkpoint(
                format!("CRIU's {} cannot be read: {why}", path.display()),
                "report this with the CRIU version; the checkpoint was not kept",
            ))
        }
    };
    let tmp = images.join(format!(".{IMAGE}.new"));
    let _ = fs::remove_file(&tmp);
    crate::host::criu::write_private_bytes(&tmp, &new)?;
    fs::rename(&tmp, &path).at("replace", &path)?;
    Ok(rearmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRIU's magic words for files.img (IMG_COMMON_MAGIC, FILES_MAGIC).
    const MAGIC: [u32; 2] = [img::COMMON_MAGIC, 0x5630_3138];

    /// A file_entry of type TIMERFD around a timerfd_entry as CRIU 4.2
    /// writes it: fields 1-10 in order, fown (3) a message of its own.
    fn timer(id: u64, value: (u64, u64), interval: (u64, u64), ticks: u64) -> Vec<u8> {
        let fown = img::encode(&[(1, Value::Varint(0)), (2, Value::Varint(0)), (3, Value::Varint(0))]);
        let tfd = img::encode(&[
            (1, Value::Varint(id)),
            (2, Value::Varint(0o2)),
            (3, Value::Bytes(&fown)),
            (4, Value::Varint(1)),
            (5, Value::Varint(ticks)),
            (6, Value::Varint(0)),
            (7, Value::Varint(value.0)),
            (8, Value::Varint(value.1)),
            (9, Value::Varint(interval.0)),
            (10, Value::Varint(interval.1)),
        ]);
        img::encode(&[(1, Value::Varint(FD_TYPE_TIMERFD)), (2, Value::Varint(id)), (12, Value::Bytes(&tfd))])
    }

    /// A regular file's entry (type REG = 1, reg = 3), bytes that are not a
    /// timer at field 12's place in another type must not be touched either.
    fn regular(id: u64) -> Vec<u8> {
        let reg = img::encode(&[(1, Value::Varint(id)), (3, Value::Bytes(b"/var/www/state"))]);
        img::encode(&[(1, Value::Varint(1)), (2, Value::Varint(id)), (3, Value::Bytes(&reg))])
    }

    /// [id, ticks, vsec, vnsec, isec, insec] of each timer, in order.
    fn timers(image: &[u8]) -> Vec<[u64; 6]> {
        img::parse(image)
            .unwrap()
            .entries
            .iter()
            .filter_map(|e| {
                let f = img::fields(e).unwrap();
                let t = img::fields(img::field(&f, FILE_TFD)?.bytes()?).unwrap();
                Some([ID, 5, VSEC, VNSEC, ISEC, INSEC].map(|n| uint(&t, n)))
            })
            .collect()
    }

    /// files.img of tests/progs/timerfd-counter.c under busybox sh and httpd,
    /// dumped frozen by CRIU 4.2.1 on Docker 26.1: its 10 ms timer saved as
    /// `it_value(0, 0) it_interval(0, 10000000)`.
    const REAL: &str = concat!(
        "194356543831305657000000080110011a510801100018002a0a0800100018002000280032142f62696e2f74696d657266642d636f756e",
        "74657238aa0340c8eb2e50ed83025880b994cc0658d3a6bc9b0258b1c1f99a0a58c0e6c1b20c5882c9baaf0b2b000000080110021a2508",
        "021082800218002a0a0800100018002000280032092f6465762f6e756c6c38b20350b6431b00000008021003920114080310eaac361801",
        "220a080010001800200028001b00000008021004920114080410ebac361801220a08001000180020002800270000000811100562210805",
        "10021a0a080010001800200028002001280130003800400048005080ade20422000000080110061a1c0806100018002a0a080010001800",
        "2000280032012f38aa0350ed830122000000080110071a1c0807100018002a0a0800100018002000280032012f38aa0350ed83014f0000",
        "00080110081a490808100018002a0a08001000180020002800320c2f62696e2f62757379626f7838aa0340b0fe7850ed8302588dd4eac0",
        "0358d5b0c7860958d3d0b9d202588baff7a10658f9f2dcf1062b000000080110091a2508091082800218002a0a08001000180020002800",
        "32092f6465762f6e756c6c38b20350b643750000000804100a226f080a1095ad36180a20012806300a3850400048025009580058005800",
        "580060006000600060006a0a08001000180020002800722908808001108080081800200028003000380140004801680070008801009001",
        "00980100b80100c80100780082010090010aa20107180920a038284b290000000801100b1a23080b100018002a0a080010001800200028",
        "0032082f7661722f77777738aa0350ed8301220000000801100c1a1c080c100018002a0a0800100018002000280032012f38aa0350ed83",
        "01",
    );

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn a_real_dump_of_a_10ms_timer() {
        let raw = unhex(REAL);
        let before = timers(&raw);
        assert_eq!(before.len(), 1);
        assert_eq!(before[0][2..], [0, 0, 0, 10_000_000], "CRIU saved it expired");
        let (new, rearmed) = rewrite(&raw).unwrap().unwrap();
        assert_eq!(rearmed, vec![Rearmed { id: before[0][0], interval_ns: 10_000_000 }]);
        assert_eq!(timers(&new)[0][2..], [0, 10_000_000, 0, 10_000_000]);
        let (a, b) = (img::parse(&raw).unwrap(), img::parse(&new).unwrap());
        assert_eq!(a.magic, MAGIC);
        assert_eq!(a.entries.len(), b.entries.len());
        let changed = a.entries.iter().zip(&b.entries).filter(|(x, y)| x != y).count();
        assert_eq!(changed, 1, "only the timer's entry changes");
    }

    #[test]
    fn an_expired_periodic_timer_is_rearmed_for_one_interval() {
        let raw = img::write(
            &MAGIC,
            &[
                regular(0x10),
                // Expired, unread, periodic (10 ms): CRIU would disarm it.
                timer(0x11, (0, 0), (0, 10_000_000), 1),
                // Running periodic timer: left alone.
                timer(0x12, (0, 4_000_000), (0, 10_000_000), 0),
                // One-shot timer that fired: zero is right, it stays so.
                timer(0x13, (0, 0), (0, 0), 1),
                // Expired, unread, with a period of whole seconds.
                timer(0x14, (0, 0), (3, 0), 2),
            ],
        );
        let (new, rearmed) = rewrite(&raw).unwrap().unwrap();
        assert_eq!(
            rearmed,
            vec![Rearmed { id: 0x11, interval_ns: 10_000_000 }, Rearmed { id: 0x14, interval_ns: 3_000_000_000 }]
        );
        assert_eq!(
            timers(&new),
            vec![
                [0x11, 1, 0, 10_000_000, 0, 10_000_000],
                [0x12, 0, 0, 4_000_000, 0, 10_000_000],
                [0x13, 1, 0, 0, 0, 0],
                [0x14, 2, 3, 0, 3, 0],
            ]
        );
        // The entries left alone are byte for byte CRIU's; in the rewritten
        // ones only the value changed, every field still in CRIU's order.
        let old = img::parse(&raw).unwrap();
        let newp = img::parse(&new).unwrap();
        assert_eq!(newp.magic, old.magic);
        for i in [0, 2, 3] {
            assert_eq!(old.entries[i], newp.entries[i]);
        }
        let expected = img::write(
            &MAGIC,
            &[
                regular(0x10),
                timer(0x11, (0, 10_000_000), (0, 10_000_000), 1),
                timer(0x12, (0, 4_000_000), (0, 10_000_000), 0),
                timer(0x13, (0, 0), (0, 0), 1),
                timer(0x14, (3, 0), (3, 0), 2),
            ],
        );
        assert_eq!(new, expected);
        // Rewriting again changes nothing.
        assert_eq!(rewrite(&new).unwrap(), None);
    }

    #[test]
    fn nothing_to_do_leaves_the_image_alone() {
        let raw = img::write(&MAGIC, &[regular(1), timer(2, (0, 5), (0, 10), 0)]);
        assert_eq!(rewrite(&raw).unwrap(), None);
        assert_eq!(rewrite(&img::write(&MAGIC, &[])).unwrap(), None);
        // Field 12 of another file type is not a timer.
        let odd = img::encode(&[(1, Value::Varint(1)), (2, Value::Varint(3)), (12, Value::Bytes(b"\x38\x00"))]);
        assert_eq!(rewrite(&img::write(&MAGIC, &[odd])).unwrap(), None);
    }

    #[test]
    fn a_damaged_image_is_an_error() {
        let raw = img::write(&MAGIC, &[timer(1, (0, 0), (0, 10), 0)]);
        assert!(rewrite(&raw[..raw.len() - 3]).is_err());
        assert!(rewrite(&[1, 2]).is_err());
    }

    #[test]
    fn the_file_is_replaced_in_place() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("docker-cr-timerfd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(fix_in_dir(&dir).unwrap(), vec![], "no files.img: nothing to do");
        let raw = img::write(&MAGIC, &[timer(7, (0, 0), (0, 10_000_000), 3)]);
        fs::write(dir.join(IMAGE), &raw).unwrap();
        assert_eq!(fix_in_dir(&dir).unwrap(), vec![Rearmed { id: 7, interval_ns: 10_000_000 }]);
        let new = fs::read(dir.join(IMAGE)).unwrap();
        assert_eq!(timers(&new), vec![[7, 3, 0, 10_000_000, 0, 10_000_000]]);
        assert_eq!(fs::metadata(dir.join(IMAGE)).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        fs::write(dir.join(IMAGE), b"\x19\x43\x56\x54\x38\x31\x30\x56\xff").unwrap();
        assert!(fix_in_dir(&dir).unwrap_err().to_string().contains("files.img"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
