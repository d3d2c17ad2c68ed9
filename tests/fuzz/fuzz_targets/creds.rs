//! What CRIU restores as privileges (`model::creds`), the comparison with a
//! destination (`model::grants`), `creds::confine` and the seccomp program
//! interpreter (`model::bpf`). The input is three little-endian u16
//! lengths, then pstree.img, core-1.img and seccomp.img one after another;
//! the rest is core-2.img. Every decoder also reads the whole input as its
//! own image, and bpf::run reads it as a program. The restore's privileges
//! step (`ops::restore::privileges::check`) runs on what decodes, with a
//! probe that answers the grant. A panic, a confined image that no longer
//! decodes, or a thread the step confines whose chain lacks the filter
//! after `confine`, is a crash.
#![no_main]
use docker_cr::model::{bpf, creds, grants};
use docker_cr::ops::restore::{plan, privileges};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = creds::core(data);
    let _ = creds::creds_image(data);
    let _ = creds::userns(data);
    let _ = creds::pstree_threads(data);
    if let Ok(s) = creds::seccomp(data) {
        for i in 0..s.filters.len().min(64) as u32 {
            let _ = s.chain(i);
        }
    }
    let d = bpf::Data { nr: 59, arch: bpf::AUDIT_ARCH_X86_64, ..bpf::Data::default() };
    let _ = bpf::run(data, &d);
    if data.len() < 6 {
        return;
    }
    let rest = &data[6..];
    let n = |i: usize| usize::from(u16::from_le_bytes([data[i], data[i + 1]]));
    let a = n(0).min(rest.len());
    let b = n(2).min(rest.len() - a);
    let c = n(4).min(rest.len() - a - b);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("pstree.img".into(), rest[..a].to_vec()),
        ("core-1.img".into(), rest[a..a + b].to_vec()),
        ("seccomp.img".into(), rest[a + b..a + b + c].to_vec()),
        ("core-2.img".into(), rest[a + b + c..].to_vec()),
    ];
    let get = |files: &[(String, Vec<u8>)], n: &str| files.iter().find(|(f, _)| f == n).map(|(_, b)| b.clone());
    let mut r = |n: &str| Ok(get(&files, n));
    let Ok(p) = creds::read(&mut r, &[]) else { return };
    let want = vec![creds::Filter { prog: vec![6, 0, 0, 0, 0, 0, 0xff, 0x7f], flags: 0 }];
    let g = grants::Grant {
        caps: grants::DOCKER_DEFAULT_CAPS,
        no_new_privs: true,
        profile: grants::Profile::Default,
        filters: Some(want.clone()),
        lsm: None,
        userns: None,
        user: Some(1000),
    };
    let f = grants::compare(&p, &g);
    // The restore's step, with and without --allow-host-access.
    for allow in [false, true] {
        let mut pl = plan::Plan {
            target: Some(plan::Target::Create),
            body: Some(serde_json::json!({"HostConfig": {}})),
            ..plan::Plan::default()
        };
        let o = docker_cr::ops::restore::Options { allow_host_access: allow, ..Default::default() };
        let mut probes = 0;
        let mut probe = |_: &serde_json::Value, _: &str| {
            probes += 1;
            Ok(g.clone())
        };
        privileges::check(&mut pl, false, &o, None, Some(&Ok(p.clone())), &mut probe).expect("the probe never fails");
        assert!(probes <= 4, "{probes} probes");
        if let Some(c) = &pl.confine {
            let mut r = |n: &str| Ok(get(&files, n));
            let out = privileges::confined(&mut r, c).expect("the step's threads confine");
            let mut after = files.clone();
            for (n, b) in out.cores.iter().cloned().chain([("seccomp.img".to_string(), out.seccomp)]) {
                after.retain(|(f, _)| *f != n);
                after.push((n, b));
            }
            let mut r = |n: &str| Ok(get(&after, n));
            let q = creds::read(&mut r, &[]).expect("a confined checkpoint decodes");
            for t in q.tasks.iter().flat_map(|t| &t.threads).filter(|t| c.tids.contains(&t.tid)) {
                assert!(
                    creds::thread_chain(&q, t).iter().any(|x| x.prog == want[0].prog),
                    "confined without the filter"
                );
            }
        }
    }
    let mut hc = serde_json::json!({});
    let _ = grants::amend(&mut hc, &f);
    let tids: Vec<u32> = p.tasks.iter().flat_map(|t| &t.threads).map(|t| t.tid).collect();
    let mut r = |n: &str| Ok(get(&files, n));
    if let Ok(c) = creds::confine(&mut r, &tids, &want) {
        let mut after = files.clone();
        for (n, b) in c.cores.iter().cloned().chain([("seccomp.img".to_string(), c.seccomp)]) {
            after.retain(|(f, _)| *f != n);
            after.push((n, b));
        }
        let mut r = |n: &str| Ok(get(&after, n));
        let q = creds::read(&mut r, &[]).expect("a confined checkpoint decodes");
        for t in q.tasks.iter().filter(|t| !t.dead).flat_map(|t| &t.threads) {
            assert!(creds::thread_chain(&q, t).iter().any(|x| x.prog == want[0].prog), "confined without the filter");
        }
    }
});
