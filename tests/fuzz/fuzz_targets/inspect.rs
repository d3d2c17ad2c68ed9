//! CRIU's pstree.img, core-PID.img and stats-dump, as `docker-cr inspect`
//! decodes them (and the process tree it draws from them). The input is two
//! little-endian u16 lengths, then the three images one after another. The
//! same bytes are also read as files.img for its TCP sockets (what inspect
//! lists and restore counts).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let rest = &data[4..];
    let a = usize::from(u16::from_le_bytes([data[0], data[1]])).min(rest.len());
    let b = usize::from(u16::from_le_bytes([data[2], data[3]])).min(rest.len() - a);
    let _ = docker_cr::ops::inspect::decode_all(&rest[..a], &rest[a..a + b], &rest[a + b..]);
    if let Ok(socks) = docker_cr::model::sockets::tcp(rest) {
        let _ = docker_cr::model::sockets::summary(&socks);
    }
});
