//! The TCP sockets a checkpoint holds, read from CRIU's `files.img`: what
//! a restore tells the user about connections (kept when the container
//! keeps its address, closed otherwise) and what `inspect` lists. Pure.

use crate::model::img::{self, Value};

/// `file_entry` field numbers (CRIU's images/fdinfo.proto): `type`, `isk`.
const FILE_TYPE: u32 = 1;
const FILE_ISK: u32 = 4;
/// `fd_types.INETSK`.
const FD_TYPE_INETSK: u64 = 4;
/// `inet_sk_entry` field numbers (images/sk-inet.proto).
const ISK_FAMILY: u32 = 3;
const ISK_PROTO: u32 = 5;
const ISK_STATE: u32 = 6;
const ISK_SRC_PORT: u32 = 7;
const ISK_DST_PORT: u32 = 8;
const ISK_SRC_ADDR: u32 = 11;
const ISK_DST_ADDR: u32 = 12;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const IPPROTO_TCP: u64 = 6;
/// Linux's TCP states (include/net/tcp_states.h).
const TCP_ESTABLISHED: u64 = 1;
const TCP_LISTEN: u64 = 10;

/// One TCP socket of the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tcp {
    pub listening: bool,
    pub established: bool,
    pub local: String,
    pub remote: String,
}

/// An address as CRIU stores it: u32 words in the kernel's (network) byte
/// order, written as host integers. Addresses of another length are shown
/// as `?`.
fn addr(words: &[u32], family: u64, port: u64) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match (family, bytes.len()) {
        (AF_INET, 4) => format!("{}.{}.{}.{}:{port}", bytes[0], bytes[1], bytes[2], bytes[3]),
        (AF_INET6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes);
            format!("[{}]:{port}", std::net::Ipv6Addr::from(a))
        }
        _ => format!("?:{port}"),
    }
}

/// A repeated uint32 field, packed or not.
fn words(fields: &[(u32, Value<'_>)], n: u32) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for (f, v) in fields.iter().filter(|(f, _)| *f == n) {
        match v {
            Value::Bytes(b) => {
                for w in img::packed_varints(b)? {
                    out.push(u32::try_from(w).map_err(|_| format!("field {f}: {w} is not a u32"))?);
                }
            }
            other => {
                let w = other.uint().unwrap_or(0);
                out.push(u32::try_from(w).map_err(|_| format!("field {f}: {w} is not a u32"))?);
            }
        }
    }
    Ok(out)
}

/// Every TCP socket in `files.img` (IPv4 and IPv6).
pub fn tcp(files_img: &[u8]) -> Result<Vec<Tcp>, String> {
    let parsed = img::parse(files_img)?;
    let mut out = Vec::new();
    for e in &parsed.entries {
        let fields = img::fields(e)?;
        if img::field(&fields, FILE_TYPE).and_then(|v| v.uint()) != Some(FD_TYPE_INETSK) {
            continue;
        }
        let Some(isk) = img::field(&fields, FILE_ISK).and_then(|v| v.bytes()) else { continue };
        let f = img::fields(isk)?;
        let u = |n| img::field(&f, n).and_then(|v| v.uint()).unwrap_or(0);
        if u(ISK_PROTO) != IPPROTO_TCP {
            continue;
        }
        let family = u(ISK_FAMILY);
        out.push(Tcp {
            listening: u(ISK_STATE) == TCP_LISTEN,
            established: u(ISK_STATE) == TCP_ESTABLISHED,
            local: addr(&words(&f, ISK_SRC_ADDR)?, family, u(ISK_SRC_PORT)),
            remote: addr(&words(&f, ISK_DST_ADDR)?, family, u(ISK_DST_PORT)),
        });
    }
    Ok(out)
}

/// The one-line summary `inspect` shows. Pure.
pub fn summary(socks: &[Tcp]) -> String {
    let listening: Vec<&str> = socks.iter().filter(|s| s.listening).map(|s| s.local.as_str()).collect();
    let est: Vec<String> =
        socks.iter().filter(|s| s.established).map(|s| format!("{} - {}", s.local, s.remote)).collect();
    let others = socks.len() - listening.len() - est.len();
    let mut parts = Vec::new();
    if !listening.is_empty() {
        parts.push(format!("listening {}", listening.join(", ")));
    }
    if !est.is_empty() {
        parts.push(format!("established {}", est.join(", ")));
    }
    if others > 0 {
        parts.push(format!("{others} other"));
    }
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join("; ")
    }
}

/// What a restore says about the checkpoint's established connections:
/// `kept` when they come back (the container keeps its address), else
/// they are restored closed. None when there are none. Pure.
pub fn restore_note(established: usize, kept: bool) -> Option<String> {
    if established == 0 {
        return None;
    }
    let what = if established == 1 {
        "1 established TCP connection".to_string()
    } else {
        format!("{established} established TCP connections")
    };
    Some(if kept {
        format!("{what}: restored open (the container keeps its address)")
    } else {
        format!(
            "{what}: restored closed (the container gets a new address; their clients see a reset and reconnect; \
             listening sockets serve new clients)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An inet_sk_entry as CRIU writes it (fields in order, addresses
    /// unpacked), wrapped in a file_entry of type INETSK.
    fn entry(state: u64, src: [u8; 4], sport: u64, dst: [u8; 4], dport: u64) -> Vec<u8> {
        let w = |a: [u8; 4]| u64::from(u32::from_le_bytes(a));
        let isk = img::encode(&[
            (1, Value::Varint(7)),
            (2, Value::Varint(1234)),
            (3, Value::Varint(AF_INET)),
            (4, Value::Varint(1)),
            (5, Value::Varint(IPPROTO_TCP)),
            (6, Value::Varint(state)),
            (7, Value::Varint(sport)),
            (8, Value::Varint(dport)),
            (9, Value::Varint(0)),
            (10, Value::Varint(0)),
            (11, Value::Varint(w(src))),
            (12, Value::Varint(w(dst))),
        ]);
        img::encode(&[(1, Value::Varint(FD_TYPE_INETSK)), (2, Value::Varint(7)), (4, Value::Bytes(&isk))])
    }

    fn files(entries: &[Vec<u8>]) -> Vec<u8> {
        img::write(&[img::COMMON_MAGIC, 0x5621_3732], entries)
    }

    #[test]
    fn reads_listening_and_established_sockets() {
        let image = files(&[
            entry(TCP_LISTEN, [0, 0, 0, 0], 80, [0, 0, 0, 0], 0),
            entry(TCP_ESTABLISHED, [172, 17, 0, 2], 80, [172, 17, 0, 1], 40000),
            img::encode(&[(1, Value::Varint(1)), (2, Value::Varint(8))]),
        ]);
        let s = tcp(&image).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].listening && !s[0].established);
        assert_eq!(s[1].local, "172.17.0.2:80");
        assert_eq!(s[1].remote, "172.17.0.1:40000");
        assert!(s[1].established);
        assert_eq!(summary(&s), "listening 0.0.0.0:80; established 172.17.0.2:80 - 172.17.0.1:40000");
        assert_eq!(summary(&[]), "none");
    }

    #[test]
    fn a_damaged_image_is_an_error() {
        let mut image = files(&[entry(TCP_ESTABLISHED, [1, 2, 3, 4], 1, [5, 6, 7, 8], 2)]);
        image.truncate(image.len() - 3);
        assert!(tcp(&image).is_err());
    }

    #[test]
    fn the_note_says_which() {
        assert_eq!(restore_note(0, false), None);
        assert!(restore_note(1, true).unwrap().starts_with("1 established TCP connection: restored open"));
        assert!(restore_note(2, false).unwrap().starts_with("2 established TCP connections: restored closed"));
    }
}
