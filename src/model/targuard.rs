//! A reader in front of `tar::Archive` that refuses oversized extension
//! headers. The tar crate reads a GNU long name or link ('L', 'K') and a
//! PAX header ('x', 'g') whole into memory, whatever size its header says:
//! a hostile archive (a few KiB of zstd) could make root's docker-cr
//! allocate gigabytes. Here the stream is followed block by block, as the
//! tar crate will read it, and such an entry larger than `MAX_EXTENSION`
//! is an error before any of it is read. A PAX `size` record changes the
//! size of the next entry's data (as the tar crate applies it), so those
//! records are read too (they are small: the limit applies to them).

use std::io::{self, Read};

/// The largest extension header accepted: long names are at most 4 KiB
/// (PATH_MAX), PAX records of file capabilities and user xattrs a few KiB.
pub const MAX_EXTENSION: u64 = 1 << 20;

const BLOCK: usize = 512;

/// What the next bytes of the stream are.
enum At {
    /// A header block, of which `n` bytes are in `block`.
    Header { n: usize },
    /// The header in `block` is being handed out from `pos`.
    Giving { pos: usize, then: u64, pax: bool },
    /// `left` bytes of an entry's data (padding included).
    Data { left: u64 },
    /// The end of the stream inside a header: `block[pos..n]`, then EOF.
    Tail { pos: usize, n: usize },
    /// A PAX header's data, kept (it is small) to find a `size` record.
    Pax { left: u64, pos: usize },
}

pub struct TarGuard<R> {
    inner: R,
    block: [u8; BLOCK],
    at: At,
    pax: Vec<u8>,
    /// A PAX `size` for the next entry.
    next_size: Option<u64>,
}

impl<R: Read> TarGuard<R> {
    pub fn new(inner: R) -> Self {
        TarGuard { inner, block: [0; BLOCK], at: At::Header { n: 0 }, pax: Vec::new(), next_size: None }
    }
    pub fn into_inner(self) -> R {
        self.inner
    }
}

fn bad(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// The size field of a header (octal, or GNU's base-256). Pure.
pub fn header_size(h: &[u8; BLOCK]) -> io::Result<u64> {
    let f = &h[124..136];
    if f[0] & 0x80 != 0 {
        let mut v: u64 = 0;
        for (i, b) in f.iter().enumerate() {
            let b = if i == 0 { b & 0x7f } else { *b };
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| bad("tar size overflows".into()))?;
        }
        return Ok(v);
    }
    let s: Vec<u8> = f.iter().copied().skip_while(|b| *b == b' ').take_while(|b| *b != 0 && *b != b' ').collect();
    if s.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(&s).map_err(|_| bad("tar size is not octal".into()))?;
    u64::from_str_radix(s, 8).map_err(|_| bad(format!("tar size {s:?} is not octal")))
}

/// The `size` record of PAX data, if any (the last one wins). Pure.
pub fn pax_size(data: &[u8]) -> Option<u64> {
    let mut found = None;
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > rest.len() {
            return found;
        }
        let rec = &rest[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(v) = rec.strip_prefix(b"size=") {
            found = std::str::from_utf8(v).ok().and_then(|v| v.parse().ok());
        }
        rest = &rest[len..];
    }
    found
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64)
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.at {
                At::Header { n } => {
                    let got = self.inner.read(&mut self.block[n..])?;
                    if got == 0 {
                        // End of the stream: what was read of a header goes
                        // to the tar crate, which says it is truncated.
                        self.at = At::Tail { pos: 0, n };
                        continue;
                    }
                    let n = n + got;
                    if n < BLOCK {
                        self.at = At::Header { n };
                        continue;
                    }
                    let kind = self.block[156];
                    let zero = self.block.iter().all(|b| *b == 0);
                    let mut size = if zero { 0 } else { header_size(&self.block)? };
                    let extension = matches!(kind, b'L' | b'K' | b'x' | b'g');
                    if extension && size > MAX_EXTENSION {
                        return Err(bad(format!(
                            "a tar extension header ('{}') of {size} bytes; at most {MAX_EXTENSION} are accepted",
                            kind as char
                        )));
                    }
                    if !extension && !zero {
                        if let Some(s) = self.next_size.take() {
                            size = s;
                        }
                    }
                    self.at = At::Giving { pos: 0, then: padded(size), pax: kind == b'x' };
                }
                At::Giving { pos, then, pax } => {
                    let k = (BLOCK - pos).min(out.len());
                    out[..k].copy_from_slice(&self.block[pos..pos + k]);
                    self.at = if pos + k < BLOCK {
                        At::Giving { pos: pos + k, then, pax }
                    } else if pax {
                        self.pax.clear();
                        At::Pax { left: then, pos: 0 }
                    } else if then > 0 {
                        At::Data { left: then }
                    } else {
                        At::Header { n: 0 }
                    };
                    return Ok(k);
                }
                At::Data { left } => {
                    if left == 0 {
                        self.at = At::Header { n: 0 };
                        continue;
                    }
                    let want = usize::try_from(left).unwrap_or(usize::MAX).min(out.len());
                    let got = self.inner.read(&mut out[..want])?;
                    if got > 0 {
                        self.at = At::Data { left: left - got as u64 };
                    }
                    return Ok(got);
                }
                At::Tail { pos, n } => {
                    let k = (n - pos).min(out.len());
                    out[..k].copy_from_slice(&self.block[pos..pos + k]);
                    self.at = At::Tail { pos: pos + k, n };
                    return Ok(k);
                }
                At::Pax { left, pos } => {
                    if pos < self.pax.len() {
                        let k = (self.pax.len() - pos).min(out.len());
                        out[..k].copy_from_slice(&self.pax[pos..pos + k]);
                        self.at = At::Pax { left, pos: pos + k };
                        return Ok(k);
                    }
                    if left == 0 {
                        self.next_size = pax_size(&self.pax);
                        self.pax.clear();
                        self.at = At::Header { n: 0 };
                        continue;
                    }
                    // At most MAX_EXTENSION (checked above) plus padding.
                    let mut chunk = [0u8; 8192];
                    let want = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
                    let got = self.inner.read(&mut chunk[..want])?;
                    if got == 0 {
                        // Truncated: what was read goes on, then EOF; the tar
                        // crate reports it.
                        self.at = At::Pax { left: 0, pos };
                        if pos < self.pax.len() {
                            continue;
                        }
                        return Ok(0);
                    }
                    self.pax.extend_from_slice(&chunk[..got]);
                    self.at = At::Pax { left: left - got as u64, pos };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(data: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut ar = tar::Archive::new(TarGuard::new(data));
        let mut out = Vec::new();
        for e in ar.entries()? {
            let mut e = e?;
            let name = e.path()?.to_string_lossy().into_owned();
            let mut v = Vec::new();
            e.read_to_end(&mut v)?;
            out.push((name, v));
        }
        Ok(out)
    }

    #[test]
    fn ordinary_archives_pass_unchanged() {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/file", "d".repeat(200));
        for (name, len) in [("a", 0usize), ("b", 1), ("c", 512), ("d", 513), (long.as_str(), 70000)] {
            let data = vec![7u8; len];
            let mut h = tar::Header::new_gnu();
            h.set_size(len as u64);
            h.set_mode(0o600);
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        // PAX attributes, as docker-cr's capture writes xattrs.
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_mode(0o600);
        b.append_pax_extensions([("SCHILY.xattr.user.a", &b"1"[..])]).unwrap();
        b.append_data(&mut h, "x", &b"abc"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let mut through = Vec::new();
        TarGuard::new(&data[..]).read_to_end(&mut through).unwrap();
        assert_eq!(through, data, "the guard changed the bytes");
        let e = entries(&data).unwrap();
        assert_eq!(e.len(), 6);
        assert_eq!(e[4].0, long);
        assert_eq!(e[4].1.len(), 70000);
        assert_eq!(e[5], ("x".to_string(), b"abc".to_vec()));
    }

    #[test]
    fn reads_in_odd_pieces_give_the_same_bytes() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1000);
        b.append_data(&mut h, "n".repeat(150), &[1u8; 1000][..]).unwrap();
        let data = b.into_inner().unwrap();
        let mut g = TarGuard::new(&data[..]);
        let mut through = Vec::new();
        let mut buf = [0u8; 37];
        loop {
            let n = g.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            through.extend_from_slice(&buf[..n]);
        }
        assert_eq!(through, data);
    }

    #[test]
    fn a_huge_long_name_is_refused_before_it_is_read() {
        let mut h = tar::Header::new_gnu();
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(8 << 30);
        h.set_cksum();
        // Only the header: the 8 GiB are never there, and never asked for.
        let e = entries(h.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("extension header ('L') of 8589934592 bytes"), "{e}");
    }

    #[test]
    fn a_pax_size_moves_the_next_entry() {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", &b"5"[..])]).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(0); // the PAX record says 5
        h.set_path("f").unwrap();
        h.set_cksum();
        // The header says 0 bytes; the data and its padding are 5 bytes' worth.
        b.append(&h, &b"hello"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let e = entries(&data).unwrap();
        assert_eq!(e, vec![("f".to_string(), b"hello".to_vec())]);
    }

    #[test]
    fn sizes_octal_and_base256() {
        let mut h = [0u8; BLOCK];
        h[124..136].copy_from_slice(b"00000001750\0");
        assert_eq!(header_size(&h).unwrap(), 1000);
        h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(header_size(&h).unwrap(), 256);
        assert_eq!(pax_size(b"13 size=4096\n20 path=a/b/c/d/e/f\n"), Some(4096));
        assert_eq!(pax_size(b"9 junk\n"), None);
    }
}
