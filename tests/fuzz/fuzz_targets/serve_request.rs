//! A request to `docker-cr serve`, as its parser reads it (head, then the
//! path's segments, the query, the cookie and the route): must never
//! panic, hang or allocate past its limits. A head it accepts must stay
//! within them.
#![no_main]
use libfuzzer_sys::fuzz_target;

use docker_cr::serve::{auth, http, routes};

fuzz_target!(|data: &[u8]| {
    let lim = http::Limits::default();
    let mut r = std::io::BufReader::with_capacity(1024, data);
    // Several requests on one connection, as keep-alive reads them.
    for _ in 0..4 {
        let Ok(req) = http::read_head(&mut r, &lim) else { return };
        assert!(req.headers.len() <= lim.headers);
        assert!(req.path.len() + req.query.len() <= lim.request_line);
        let _ = http::segments(&req.path);
        let _ = http::query_pairs(&req.query);
        let _ = routes::route(&req.method, &req.path);
        if let Some(c) = req.header("cookie") {
            let _ = auth::cookie(c, "dcr_session_7380");
        }
        let o = auth::Origins::new("127.0.0.1:7380".parse().unwrap(), &[], false);
        let _ = auth::check_origin(&req, &o);
        let _ = req.keep_alive();
    }
});
