//! An engine's answer, as the HTTP client reads it: must never panic, hang
//! or allocate without bound.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = docker_cr::engine::http::read_response(data, false);
});
