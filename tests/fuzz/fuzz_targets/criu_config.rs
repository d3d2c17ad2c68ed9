//! CRIU config text built from values a checkpoint or a container supplies:
//! whatever the values, the text must hold exactly the directives asked for.
//! A value that smuggles in a line of its own (`action-script ...`, run by
//! CRIU as root) is a crash. The input is the values, split at 0xff (a byte
//! UTF-8 never uses).
#![no_main]
use docker_cr::host::criu::{dump_config, restore_config, DumpOpts, RestoreOpts, TcpRestore};
use libfuzzer_sys::fuzz_target;

/// The directive of each line, as CRIU's parser (criu/config.c) finds it:
/// lines split at '\n', leading blanks skipped, `#` starts a comment, and the
/// first word is the option.
fn directives(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|l| l.trim_start_matches(|c: char| c.is_ascii_whitespace()))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(|c: char| c.is_ascii_whitespace()).next().unwrap_or(""))
        .collect()
}

fn has_control(v: &str) -> bool {
    v.chars().any(|c| c < ' ' || c == '\x7f')
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut vals: Vec<String> = rest.split(|&b| b == 0xff).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    vals.resize(7, String::new());
    let mounts = vals.split_off(7);
    let bit = |n: u8| flags & (1 << n) != 0;
    let mut d = DumpOpts {
        pid: i32::from(flags),
        images_dir: vals[0].clone().into(),
        work_dir: vals[1].clone().into(),
        log_file: vals[2].clone(),
        root: vals[3].clone().into(),
        freeze_cgroup: vals[4].clone().into(),
        tcp_established: bit(0),
        ext_unix_sk: bit(1),
        file_locks: bit(2),
        nft_lock: bit(3),
        ..Default::default()
    };
    for (i, m) in mounts.into_iter().enumerate() {
        match i % 3 {
            0 => d.bind_mounts.push(m),
            1 => d.cgroup_mounts.push(m),
            _ => d.masked_files.push(m),
        }
    }
    let mut want = vec!["tree", "images-dir", "work-dir", "log-file", "verbosity=4", "root", "freeze-cgroup"];
    want.extend(["manage-cgroups=soft", "empty-ns"]);
    want.extend(d.nft_lock.then_some("network-lock"));
    want.extend(["leave-running", "skip-in-flight", "link-remap"]);
    want.extend(d.tcp_established.then_some("tcp-established"));
    want.extend(d.ext_unix_sk.then_some("ext-unix-sk"));
    want.extend(d.file_locks.then_some("file-locks"));
    let n = d.bind_mounts.len() + d.cgroup_mounts.len() + d.masked_files.len();
    want.extend(std::iter::repeat_n("ext-mount-map", n));
    let dump_bad =
        vals[..5].iter().chain(&d.bind_mounts).chain(&d.cgroup_mounts).chain(&d.masked_files).any(|v| has_control(v));
    match dump_config(&d) {
        Ok(text) => assert_eq!(directives(&text), want, "dump config:\n{text}"),
        Err(e) => assert!(dump_bad, "refused harmless values: {e}"),
    }

    let r = RestoreOpts {
        tcp: [None, Some(TcpRestore::Established), Some(TcpRestore::Close)][usize::from(flags >> 4) % 3],
        ext_unix_sk: bit(1),
        file_locks: bit(2),
        cgroup_root_v2: bit(6).then(|| vals[5].clone()),
        log_file: vals[6].clone().into(),
        leave_stopped: bit(7),
    };
    let mut want = Vec::new();
    want.extend(r.tcp.map(|t| if t == TcpRestore::Close { "tcp-close" } else { "tcp-established" }));
    want.extend(r.ext_unix_sk.then_some("ext-unix-sk"));
    want.extend(r.file_locks.then_some("file-locks"));
    want.extend(r.cgroup_root_v2.as_ref().map(|_| "cgroup-root"));
    want.extend(r.leave_stopped.then_some("leave-stopped"));
    want.push("log-file");
    let restore_bad = r.cgroup_root_v2.as_deref().is_some_and(has_control) || has_control(&vals[6]);
    match restore_config(&r) {
        Ok(text) => assert_eq!(directives(&text), want, "restore config:\n{text}"),
        Err(e) => assert!(restore_bad, "refused harmless values: {e}"),
    }
});
