//! A checkpoint's manifest.sig against its manifest.json, as restore checks
//! them. Whatever the bytes, the check must not panic, and it must never
//! call a checkpoint signed by the trusted key: nobody fuzzing holds it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // manifest bytes, 0xff, signature bytes
    let (manifest, sig) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let trusted = docker_cr::model::trust::PubKey {
        key: ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes(),
        comment: "trusted".into(),
    };
    if let Ok(p) = docker_cr::model::trust::check(manifest, sig, std::slice::from_ref(&trusted)) {
        assert!(
            !matches!(p, docker_cr::model::trust::Provenance::Trusted(_)),
            "a signature forged by the fuzzer was trusted"
        );
    }
});
