//! The TCP sockets a checkpoint holds, read from CRIU's `files.img`: what
//! a restore tells the user about connections (kept when the container
//! keeps its address; otherwise only those over loopback, the others
//! closed) and what `inspect` lists; and the rewritten `files.img` that
//! closes only the connections that need the old address. Pure.

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
const TCP_CLOSE: u64 = 7;
const TCP_LISTEN: u64 = 10;

/// One TCP socket of the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tcp {
    pub listening: bool,
    pub established: bool,
    pub local: String,
    pub remote: String,
    /// Connected (a peer port: established, or half-open, closing, …).
    #[serde(default)]
    pub connected: bool,
    /// Its local address is loopback (127.0.0.0/8, ::1, ::ffff:127.x):
    /// both ends are in the container, whatever its address.
    #[serde(default)]
    pub loopback: bool,
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

/// Whether an address (CRIU's words, see `addr`) is loopback.
fn is_loopback(words: &[u32], family: u64) -> bool {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match (family, bytes.len()) {
        (AF_INET, 4) => bytes[0] == 127,
        (AF_INET6, 16) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes);
            let a = std::net::Ipv6Addr::from(a);
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        _ => false,
    }
}

/// The TCP socket an entry of `files.img` holds, if it holds one.
fn tcp_of(entry: &[u8]) -> Result<Option<Tcp>, String> {
    let fields = img::fields(entry)?;
    if img::field(&fields, FILE_TYPE).and_then(|v| v.uint()) != Some(FD_TYPE_INETSK) {
        return Ok(None);
    }
    let Some(isk) = img::field(&fields, FILE_ISK).and_then(|v| v.bytes()) else { return Ok(None) };
    let f = img::fields(isk)?;
    let u = |n| img::field(&f, n).and_then(|v| v.uint()).unwrap_or(0);
    if u(ISK_PROTO) != IPPROTO_TCP {
        return Ok(None);
    }
    let family = u(ISK_FAMILY);
    let src = words(&f, ISK_SRC_ADDR)?;
    Ok(Some(Tcp {
        listening: u(ISK_STATE) == TCP_LISTEN,
        established: u(ISK_STATE) == TCP_ESTABLISHED,
        local: addr(&src, family, u(ISK_SRC_PORT)),
        remote: addr(&words(&f, ISK_DST_ADDR)?, family, u(ISK_DST_PORT)),
        connected: u(ISK_DST_PORT) != 0,
        loopback: is_loopback(&src, family),
    }))
}

/// Every TCP socket in `files.img` (IPv4 and IPv6).
pub fn tcp(files_img: &[u8]) -> Result<Vec<Tcp>, String> {
    let parsed = img::parse(files_img)?;
    let mut out = Vec::new();
    for e in &parsed.entries {
        out.extend(tcp_of(e)?);
    }
    Ok(out)
}

/// What a restore into a new address does with the checkpoint's
/// connections: those over loopback are kept, the others closed.
#[derive(Debug, Default, PartialEq)]
pub struct LocalOnly {
    /// `files.img` with every connected TCP socket that is not over
    /// loopback turned into a fresh, unconnected one.
    pub image: Vec<u8>,
    pub kept: Vec<Tcp>,
    pub closed: Vec<Tcp>,
}

/// `files.img` for a restore in which the container gets a new address.
/// A connected TCP socket bound to the old address cannot come back (CRIU
/// would bind it to an address the container no longer has, and the
/// restore fails), so it becomes what CRIU's `tcp-close` makes of every
/// connection: an unconnected socket of the same descriptor, whose reads
/// and writes fail as a closed connection's do. No port, no peer, state
/// TCP_CLOSE: CRIU then neither binds, nor connects, nor repairs it.
/// Connections over loopback do not depend on the address: they stay, and
/// CRIU's `tcp-established` brings them back with their queued data. Pure.
pub fn keep_only_local(files_img: &[u8]) -> Result<LocalOnly, String> {
    let parsed = img::parse(files_img)?;
    let mut out = LocalOnly::default();
    let mut entries = Vec::with_capacity(parsed.entries.len());
    for e in &parsed.entries {
        match tcp_of(e)? {
            Some(t) if t.connected && !t.loopback => {
                entries.push(closed_entry(e)?);
                out.closed.push(t);
            }
            Some(t) => {
                if t.connected {
                    out.kept.push(t);
                }
                entries.push(e.to_vec());
            }
            None => entries.push(e.to_vec()),
        }
    }
    out.image = img::write(&parsed.magic, &entries);
    Ok(out)
}

/// A `file_entry` whose `inet_sk_entry` is made unconnected (see
/// `keep_only_local`); every other field as it was.
fn closed_entry(entry: &[u8]) -> Result<Vec<u8>, String> {
    let fields = img::fields(entry)?;
    let isk = img::field(&fields, FILE_ISK).and_then(|v| v.bytes()).ok_or("an inet socket entry without its isk")?;
    let sk: Vec<(u32, Value)> = img::fields(isk)?
        .into_iter()
        .map(|(n, v)| match n {
            ISK_STATE => (n, Value::Varint(TCP_CLOSE)),
            ISK_SRC_PORT | ISK_DST_PORT => (n, Value::Varint(0)),
            _ => (n, v),
        })
        .collect();
    let sk = img::encode(&sk);
    let outer: Vec<(u32, Value)> =
        fields.into_iter().map(|(n, v)| if n == FILE_ISK { (n, Value::Bytes(&sk)) } else { (n, v) }).collect();
    Ok(img::encode(&outer))
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

fn connections(n: usize) -> String {
    if n == 1 {
        "1 TCP connection".to_string()
    } else {
        format!("{n} TCP connections")
    }
}

/// What a restore says about the checkpoint's connections when the
/// container keeps its address: every one comes back. None when there are
/// none. Pure.
pub fn restore_note(connected: usize) -> Option<String> {
    (connected > 0).then(|| format!("{}: restored open (the container keeps its address)", connections(connected)))
}

/// What a restore says when the container gets a new address (see
/// `keep_only_local`): which connections were kept, which closed. Pure.
pub fn local_only_note(l: &LocalOnly) -> Option<String> {
    if l.kept.is_empty() && l.closed.is_empty() {
        return None;
    }
    let list = |v: &[Tcp]| v.iter().map(|t| format!("{} - {}", t.local, t.remote)).collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if !l.kept.is_empty() {
        parts.push(format!("{} over loopback restored open ({})", connections(l.kept.len()), list(&l.kept)));
    }
    if !l.closed.is_empty() {
        parts.push(format!(
            "{} restored closed ({}): they used the container's old address, and it gets a new one; their peers see \
             a reset and reconnect, listening sockets serve new clients",
            connections(l.closed.len()),
            list(&l.closed)
        ));
    }
    Some(parts.join("; "))
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
        assert_eq!(restore_note(0), None);
        assert!(restore_note(1).unwrap().starts_with("1 TCP connection: restored open"));
        assert_eq!(local_only_note(&LocalOnly::default()), None);
    }

    // Issue 16: over loopback, a connection does not depend on the
    // container's address: kept; one made on the old address is closed.
    #[test]
    fn only_connections_on_the_old_address_are_closed() {
        let image = files(&[
            entry(TCP_LISTEN, [0, 0, 0, 0], 80, [0, 0, 0, 0], 0),
            entry(TCP_ESTABLISHED, [172, 17, 0, 2], 80, [172, 17, 0, 1], 40000),
            entry(TCP_ESTABLISHED, [127, 0, 0, 1], 6379, [127, 0, 0, 1], 41000),
            entry(TCP_ESTABLISHED, [127, 0, 0, 1], 41000, [127, 0, 0, 1], 6379),
            entry(8, [172, 17, 0, 2], 45000, [10, 0, 0, 9], 443), // CLOSE_WAIT
            img::encode(&[(1, Value::Varint(1)), (2, Value::Varint(8))]),
        ]);
        let l = keep_only_local(&image).unwrap();
        assert_eq!(l.kept.iter().map(|t| t.local.as_str()).collect::<Vec<_>>(), ["127.0.0.1:6379", "127.0.0.1:41000"]);
        assert_eq!(
            l.closed.iter().map(|t| t.local.as_str()).collect::<Vec<_>>(),
            ["172.17.0.2:80", "172.17.0.2:45000"]
        );
        let after = tcp(&l.image).unwrap();
        assert_eq!(after.len(), 5, "every socket keeps its descriptor");
        assert!(after[0].listening && after[0].local == "0.0.0.0:80", "listening sockets are as they were");
        assert_eq!(after[1].local, "172.17.0.2:0");
        assert!(!after[1].connected && !after[1].established, "{:?}", after[1]);
        assert_eq!(after[2], tcp(&image).unwrap()[2], "loopback is kept as it was");
        assert_eq!(after[3], tcp(&image).unwrap()[3]);
        assert!(!after[4].connected);
        let parsed = img::parse(&l.image).unwrap();
        assert_eq!(parsed.entries.len(), 6);
        assert_eq!(parsed.entries[5], img::parse(&image).unwrap().entries[5], "other files untouched");
        // The other fields of the socket are kept (its id, ino, family...).
        let f = img::fields(img::field(&img::fields(parsed.entries[1]).unwrap(), FILE_ISK).unwrap().bytes().unwrap())
            .unwrap();
        assert_eq!(img::field(&f, 2).and_then(|v| v.uint()), Some(1234));
        assert_eq!(img::field(&f, ISK_STATE).and_then(|v| v.uint()), Some(TCP_CLOSE));
        let note = local_only_note(&l).unwrap();
        assert!(
            note.starts_with("2 TCP connections over loopback restored open (127.0.0.1:6379 - 127.0.0.1:41000"),
            "{note}"
        );
        assert!(note.contains("2 TCP connections restored closed (172.17.0.2:80 - 172.17.0.1:40000"), "{note}");
        // Nothing to rewrite: the same bytes.
        let plain = files(&[entry(TCP_LISTEN, [0, 0, 0, 0], 80, [0, 0, 0, 0], 0)]);
        assert_eq!(keep_only_local(&plain).unwrap().image, plain);
    }

    #[test]
    fn loopback_addresses() {
        let w = |a: [u8; 4]| vec![u32::from_le_bytes(a)];
        assert!(is_loopback(&w([127, 0, 0, 1]), AF_INET));
        assert!(is_loopback(&w([127, 9, 9, 9]), AF_INET));
        assert!(!is_loopback(&w([172, 17, 0, 2]), AF_INET));
        let v6 = |a: std::net::Ipv6Addr| -> Vec<u32> {
            a.octets().chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        };
        assert!(is_loopback(&v6(std::net::Ipv6Addr::LOCALHOST), AF_INET6));
        assert!(is_loopback(&v6("::ffff:127.0.0.1".parse().unwrap()), AF_INET6));
        assert!(!is_loopback(&v6("::ffff:172.17.0.2".parse().unwrap()), AF_INET6));
        assert!(!is_loopback(&[], AF_INET));
    }
}
