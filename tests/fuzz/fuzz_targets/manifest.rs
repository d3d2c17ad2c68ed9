//! A checkpoint's manifest.json, as restore reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = docker_cr::model::manifest::parse(text, std::path::Path::new("manifest.json"));
    }
});
