//! What a lazy restore reads from outside: a checkpoint's pagemap images
//! (counted as lazy, eager and parent pages) and the lazy-pages daemon's log
//! (read line by line as it grows). The same bytes are read as both.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = docker_cr::model::pagemap::count(data, false);
    let _ = docker_cr::model::pagemap::count(data, true);
    let mut p = docker_cr::host::lazy::Progress::default();
    for line in String::from_utf8_lossy(data).lines() {
        p.feed(line);
    }
    let _ = p.line(1.0);
    let _ = p.missing_pages();
    let _ = docker_cr::host::lazy::fault_retry(std::str::from_utf8(data).ok());
});
