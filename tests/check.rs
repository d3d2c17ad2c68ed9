//! `docker-cr check` on this host, against its engine and CRIU.

use crate::util::*;

/// `check` on this host: every item judged, JSON well-formed, the exit
/// status the worst item's (this machine lacks CAP_SYS_RESOURCE and soft-dirty
/// tracking, so warnings are expected; a real failure is not).
#[test]
fn check_reports_every_item() {
    require_engine();
    let o = dcr(&["check", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check --format json is JSON");
    let items = j["items"].as_array().unwrap();
    let status =
        |name: &str| items.iter().find(|i| i["item"] == name).map(|i| i["status"].as_str().unwrap().to_string());
    for must_be_ok in
        ["root", "criu", "criu check", "cgroup", "engine", "experimental", "storage driver", "docker root dir"]
    {
        assert_eq!(status(must_be_ok).as_deref(), Some("ok"), "{must_be_ok}: {}", j);
    }
    let worst = j["worst"].as_str().unwrap();
    assert_eq!(o.status.code(), Some(if worst == "ok" { 0 } else { 6 }), "{j}");
    assert_eq!(j["origins"].as_array().map(Vec::len), Some(3), "{j}");
    let text = text(&ok_or_warn(dcr(&["check"])));
    assert!(text.contains("ok       criu check       Looks good."), "{text}");
    assert!(text.contains("what a restore gives each checkpoint:\n  checkpoint "), "{text}");
}

fn ok_or_warn(o: std::process::Output) -> std::process::Output {
    assert!(matches!(o.status.code(), Some(0) | Some(6)), "{}", text(&o));
    o
}
