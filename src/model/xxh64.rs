//! xxHash64 (Yann Collet's specification, XXH64): the checksum of every file
//! in a checkpoint. It is fast (the checkpoint's pages are read back from the
//! page cache at several GB/s) and catches accidental damage: truncation, a
//! partial copy, bit rot. It is not a defence against tampering: whoever can
//! change the files can change the manifest too.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
}

fn merge(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(a) as u64
}

/// Streaming XXH64 with seed 0.
#[derive(Clone)]
pub struct Xxh64 {
    v: [u64; 4],
    buf: [u8; 32],
    buf_len: usize,
    total: u64,
}

impl Default for Xxh64 {
    fn default() -> Self {
        Xxh64 { v: [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)], buf: [0; 32], buf_len: 0, total: 0 }
    }
}

impl Xxh64 {
    fn stripe(v: &mut [u64; 4], s: &[u8]) {
        for (i, lane) in v.iter_mut().enumerate() {
            *lane = round(*lane, u64_at(s, i * 8));
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.buf_len > 0 {
            let take = (32 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 32 {
                return;
            }
            let buf = self.buf;
            Self::stripe(&mut self.v, &buf);
            self.buf_len = 0;
        }
        let mut chunks = data.chunks_exact(32);
        for s in &mut chunks {
            Self::stripe(&mut self.v, s);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    pub fn finish(&self) -> u64 {
        let [v1, v2, v3, v4] = self.v;
        let mut h = if self.total >= 32 {
            let h = v1
                .rotate_left(1)
                .wrapping_add(v2.rotate_left(7))
                .wrapping_add(v3.rotate_left(12))
                .wrapping_add(v4.rotate_left(18));
            merge(merge(merge(merge(h, v1), v2), v3), v4)
        } else {
            P5
        };
        h = h.wrapping_add(self.total);
        let rest = &self.buf[..self.buf_len];
        let mut i = 0;
        while i + 8 <= rest.len() {
            h = (h ^ round(0, u64_at(rest, i))).rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
            i += 8;
        }
        if i + 4 <= rest.len() {
            h = (h ^ u32_at(rest, i).wrapping_mul(P1)).rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
            i += 4;
        }
        for &b in &rest[i..] {
            h = (h ^ (b as u64).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P2);
        h ^= h >> 29;
        h = h.wrapping_mul(P3);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(data: &[u8]) -> u64 {
        let mut h = Xxh64::default();
        h.update(data);
        h.finish()
    }

    #[test]
    fn reference_vectors() {
        // From the reference implementation (python xxhash 3.x, xxh64, seed 0).
        for (input, want) in VECTORS {
            assert_eq!(hash(input.as_bytes()), *want, "{input:?}");
        }
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let want = hash(&data);
        for split in [1, 5, 31, 32, 33, 64, 100, 999] {
            let mut h = Xxh64::default();
            for c in data.chunks(split) {
                h.update(c);
            }
            assert_eq!(h.finish(), want, "chunks of {split}");
        }
    }

    const VECTORS: &[(&str, u64)] = &[
        ("", 0xEF46DB3751D8E999),
        ("a", 0xD24EC4F1A98C6E5B),
        ("abc", 0x44BC2CF5AD770999),
        ("abcd", 0xDE0327B0D25D92CC),
        ("abcdefgh", 0x3AD351775B4634B7),
        ("message digest", 0x066ED728FCEEB3BE),
        ("abcdefghijklmnopqrstuvwxyz", 0xCFE1F278FA89835C),
        ("The quick brown fox jumps over the lazy dog", 0x0B242D361FDA71BC),
        (X100, 0x92F0DE5A88A3C094),
    ];
    const X100: &str =
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
}
