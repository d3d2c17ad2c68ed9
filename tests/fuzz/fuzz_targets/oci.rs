//! What a registry sends docker-cr (issue 20): manifests and indexes (with
//! the Content-Type it claims), image configs, WWW-Authenticate challenges,
//! error bodies, tag-list Link headers, the docker CLI's config.json, image
//! references typed by a user, and a layer's head. None may panic, and what
//! they accept must hold: a parsed manifest names only sha256 digests, a
//! parsed reference prints back to one that parses the same.
#![no_main]
use docker_cr::engine::registry;
use docker_cr::formats::oci;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 6 {
        0 => {
            for ct in ["", oci::INDEX, oci::MANIFEST, oci::DOCKER_LIST, oci::DOCKER_MANIFEST, "text/plain"] {
                match oci::parse_manifest(rest, ct) {
                    Ok(oci::Fetched::Image(m)) => {
                        assert!(oci::valid_digest(&m.config.digest));
                        assert!(m.layers.iter().all(|l| oci::valid_digest(&l.digest)));
                        let _ = oci::recognise(&oci::all_keys(None, &m, None));
                    }
                    Ok(oci::Fetched::Index(i)) => {
                        assert!(i.manifests.iter().all(|d| oci::valid_digest(&d.digest)));
                        let _ = oci::pick(&i, "amd64");
                    }
                    Err(_) => {}
                }
            }
            let _ = serde_json::from_slice::<oci::ImageConfig>(rest);
        }
        1 => {
            let _ = registry::parse_challenge(&text);
            let _ = registry::next_link(&text);
            let _ = registry::error_message(rest);
        }
        2 => {
            if let Ok(cfg) = serde_json::from_slice::<registry::DockerConfig>(rest) {
                for host in ["127.0.0.1:5000", "docker.io", "reg.example.com"] {
                    let _ = registry::lookup(&cfg, host);
                }
            }
            let _ = registry::parse_helper(rest);
        }
        3 => {
            if let Ok(r) = oci::parse_ref(&text) {
                let again = oci::parse_ref(&r.to_string()).expect("a parsed reference prints as one");
                assert_eq!(again, r);
            }
        }
        4 => {
            let _ = registry::b64_decode(&text);
            assert_eq!(registry::b64_decode(&registry::b64_encode(rest)).as_deref(), Some(rest));
        }
        _ => {
            let _ = docker_cr::ops::image::head_manifest(rest);
        }
    }
});
