//! CRIU's image files, read (and rewritten) without a protobuf library.
//! An image is a magic number, or two (the common or service magic, then
//! the image's own), followed by entries: a little-endian u32 size and that
//! many bytes of one protobuf message. Messages are read field by field from
//! the wire format (varint, fixed64, length-delimited, fixed32); callers pick
//! the field numbers they need from CRIU's `images/*.proto`.
//!
//! Images come from checkpoints made elsewhere: every length is checked
//! against what is there, nothing is allocated from a length read in the
//! file, and a damaged image is an error, never a panic. Pure.

/// The first word of most images (CRIU's `IMG_COMMON_MAGIC`).
pub const COMMON_MAGIC: u32 = 0x5456_4319;
/// The first word of service images such as stats-dump (`IMG_SERVICE_MAGIC`).
pub const SERVICE_MAGIC: u32 = 0x5510_5940;

/// One field's value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The value as an unsigned integer, whatever its integer wire type.
    pub fn uint(&self) -> Option<u64> {
        match *self {
            Value::Varint(v) | Value::Fixed64(v) => Some(v),
            Value::Fixed32(v) => Some(v.into()),
            Value::Bytes(_) => None,
        }
    }
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("a varint runs past the end")?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a varint is longer than 10 bytes".into())
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: u64) -> Result<&'a [u8], String> {
    let end = usize::try_from(n).ok().and_then(|n| pos.checked_add(n)).filter(|&e| e <= buf.len());
    let end = end.ok_or_else(|| format!("a field of {n} bytes runs past the end"))?;
    let s = &buf[*pos..end];
    *pos = end;
    Ok(s)
}

/// Every field of a protobuf message, in order.
pub fn fields(msg: &[u8]) -> Result<Vec<(u32, Value<'_>)>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < msg.len() {
        let key = varint(msg, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| "a field number is out of range")?;
        if number == 0 {
            return Err("field number 0".into());
        }
        let v = match key & 7 {
            0 => Value::Varint(varint(msg, &mut pos)?),
            1 => Value::Fixed64(u64::from_le_bytes(take(msg, &mut pos, 8)?.try_into().map_err(|_| "short fixed64")?)),
            2 => {
                let n = varint(msg, &mut pos)?;
                Value::Bytes(take(msg, &mut pos, n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(take(msg, &mut pos, 4)?.try_into().map_err(|_| "short fixed32")?)),
            w => return Err(format!("wire type {w} (groups are not used by CRIU)")),
        };
        out.push((number, v));
    }
    Ok(out)
}

/// The last value of field `number` (protobuf's rule for repeated scalars
/// sent twice), if any.
pub fn field<'a>(fields: &[(u32, Value<'a>)], number: u32) -> Option<Value<'a>> {
    fields.iter().rev().find(|(n, _)| *n == number).map(|(_, v)| *v)
}

/// How many varints a packed repeated field holds (each ends with a byte
/// below 0x80).
pub fn packed_count(b: &[u8]) -> usize {
    b.iter().filter(|&&x| x & 0x80 == 0).count()
}

/// The varints of a packed repeated field.
pub fn packed_varints(b: &[u8]) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        out.push(varint(b, &mut pos)?);
    }
    Ok(out)
}

/// An image's magic words and its entries (one message each).
#[derive(Debug, PartialEq)]
pub struct Image<'a> {
    pub magic: Vec<u32>,
    pub entries: Vec<&'a [u8]>,
}

/// Splits an image file into its magic and its entries.
pub fn parse(img: &[u8]) -> Result<Image<'_>, String> {
    let mut pos = 0;
    let word = |pos: &mut usize| -> Result<u32, String> {
        let b = take(img, pos, 4).map_err(|_| "the image ends inside a header".to_string())?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let first = word(&mut pos)?;
    let magic =
        if first == COMMON_MAGIC || first == SERVICE_MAGIC { vec![first, word(&mut pos)?] } else { vec![first] };
    let mut entries = Vec::new();
    while pos < img.len() {
        let n = word(&mut pos)?;
        entries.push(take(img, &mut pos, n.into())?);
    }
    Ok(Image { magic, entries })
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Encodes one field.
pub fn put_field(out: &mut Vec<u8>, number: u32, v: Value<'_>) {
    let key = u64::from(number) << 3;
    match v {
        Value::Varint(x) => {
            put_varint(out, key);
            put_varint(out, x);
        }
        Value::Fixed64(x) => {
            put_varint(out, key | 1);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Bytes(b) => {
            put_varint(out, key | 2);
            put_varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Fixed32(x) => {
            put_varint(out, key | 5);
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// A message from fields (the inverse of `fields`).
pub fn encode(fields: &[(u32, Value<'_>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        put_field(&mut out, *n, *v);
    }
    out
}

/// An image file from its magic and entries (the inverse of `parse`).
pub fn write(magic: &[u32], entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in magic {
        out.extend_from_slice(&m.to_le_bytes());
    }
    for e in entries {
        out.extend_from_slice(&(e.len() as u32).to_le_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// Images recorded from CRIU 4.2.1 here, for this module's tests and
/// those of the modules that decode them.
#[cfg(test)]
pub mod fixtures {
    pub fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// pstree.img of the busybox counter (sh, httpd, sleep), CRIU 4.2.1.
    pub const PSTREE: &str =
        "19435654303027500a000000080110001801200128010a000000080a1001180a200a280a0a00000008551001180120012855";
    /// stats-dump of the same dump.
    pub const STATS: &str =
        "4059105506330957230000000a2108cd0610ad820718ff0c209b0328473000383240004800500c580c600068007000";
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn reads_a_process_tree() {
        let raw = unhex(PSTREE);
        let img = parse(&raw).unwrap();
        assert_eq!(img.magic, vec![COMMON_MAGIC, 0x5027_3030]);
        // PstreeEntry: pid = 1, ppid = 2, pgid = 3, sid = 4, threads = 5.
        let pids: Vec<(u64, u64)> = img
            .entries
            .iter()
            .map(|e| {
                let f = fields(e).unwrap();
                (field(&f, 1).unwrap().uint().unwrap(), field(&f, 2).unwrap().uint().unwrap())
            })
            .collect();
        assert_eq!(pids, vec![(1, 0), (10, 1), (85, 1)]);
        // Round trip, byte for byte.
        let entries: Vec<Vec<u8>> = img.entries.iter().map(|e| encode(&fields(e).unwrap())).collect();
        assert_eq!(write(&img.magic, &entries), raw);
    }

    #[test]
    fn reads_dump_statistics() {
        let raw = unhex(STATS);
        let img = parse(&raw).unwrap();
        assert_eq!(img.magic, vec![SERVICE_MAGIC, 0x5709_3306]);
        // StatsEntry.dump (1) is a DumpStatsEntry: freezing_time = 1 (us) ...
        let stats = fields(img.entries[0]).unwrap();
        let Some(Value::Bytes(dump)) = field(&stats, 1) else { panic!("no dump stats") };
        let dump = fields(dump).unwrap();
        assert_eq!(field(&dump, 1).unwrap().uint(), Some(845));
        assert_eq!(field(&dump, 4).unwrap().uint(), Some(411), "memwrite_time");
        assert_eq!(field(&dump, 7).unwrap().uint(), Some(50), "pages_written");
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let raw = unhex(PSTREE);
        for cut in 0..raw.len() {
            if let Ok(img) = parse(&raw[..cut]) {
                for e in img.entries {
                    let _ = fields(e);
                }
            }
        }
        assert!(parse(&[0x19, 0x43, 0x56, 0x54, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff]).is_err(), "a 4 GiB entry");
        assert!(fields(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(fields(&[0x80; 12]).is_err(), "an endless varint");
        assert!(fields(&[0x0b]).is_err(), "a group");
        assert!(fields(&[0x02, 0x01]).is_err(), "field 0");
    }
}
