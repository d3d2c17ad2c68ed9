//! End to end: where CRIU's defaults fall short and docker-cr makes up for
//! them (issue 12): periodic timerfds, paused containers, CRIU's hints,
//! failures named in the container's terms, anonymous volumes, TTYs.

use std::fs;
use std::path::Path;

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A periodic 10 ms timerfd has always expired unread by the time CRIU
/// dumps a frozen container; CRIU saves its value as zero and restores it
/// disarmed, and the program's read blocks forever. docker-cr rewrites the
/// saved value to one period: the program keeps counting after a restore.
/// See issue 12.
#[test]
fn periodic_timerfd_keeps_firing_after_restore() {
    require_engine();
    let prog = static_program("timerfd-counter");
    let name = unique("timerfd");
    let _g = Container(name.clone());
    let port = free_port();
    let token = start_service(
        &name,
        port,
        &[],
        "httpd -p 80 -h /var/www; exec /bin/timerfd-counter",
        &[(&prog, "/bin/timerfd-counter")],
    );
    let (_, n) = wait_count(port, 20);
    let dir = temp_dir("cp").join("timerfd");
    let o = ok(dcr(&["checkpoint", &name, s(&dir)]));
    assert!(text(&o).contains("saved to fire one period after the restore"), "{}", text(&o));
    // CRIU's own record of what it saw: the defect this works around.
    let log = fs::read_to_string(dir.join("criu-dump.log")).unwrap();
    assert!(log.contains("it_value(0, 0) it_interval(0, 10000000)"), "no expired periodic timer in the dump log");
    docker_ok(&["rm", "-f", &name]);
    ok(dcr(&["restore", &name, s(&dir)]));
    assert_continues(port, &token, n);
    // Not once: it goes on firing.
    let (_, a) = read_state(port);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (_, b) = read_state(port);
    assert!(b >= a + 20, "a 10 ms timer fired {} times in 500 ms", b - a);
}
