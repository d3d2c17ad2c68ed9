//! A classic BPF interpreter for seccomp programs, as the kernel runs them
//! on `struct seccomp_data` (nr, arch, instruction pointer, six args): what
//! a filter answers for one system call. Engines build the same profile
//! into programs whose bytes differ (runc and libseccomp order the
//! architecture checks differently from one container to the next), so
//! programs are compared by what they answer (`same_answers`), and a chain
//! by the strictest answer of its filters (`chain_answer`), never by bytes
//! alone. Pure; a program that does something the kernel's checker
//! refuses (a jump past the end, a division by zero) answers KILL, as the
//! kernel would never have loaded it.

/// The inputs of one system call (`struct seccomp_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Data {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> Option<u32> {
        let w = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
        Some(match off {
            0 => self.nr,
            4 => self.arch,
            8 => w(self.ip, false),
            12 => w(self.ip, true),
            16..=60 if off.is_multiple_of(4) => {
                let i = ((off - 16) / 8) as usize;
                w(self.args[i], (off - 16) % 8 == 4)
            }
            _ => return None,
        })
    }
}

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// x32 system calls are x86_64 numbers with this bit set.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The answer of `prog` (8-byte `struct sock_filter`s) for `d`.
pub fn run(prog: &[u8], d: &Data) -> u32 {
    let insns: Vec<(u16, u8, u8, u32)> = prog
        .chunks_exact(8)
        .map(|c| (u16::from_le_bytes([c[0], c[1]]), c[2], c[3], u32::from_le_bytes([c[4], c[5], c[6], c[7]])))
        .collect();
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; 16];
    let mut pc = 0usize;
    // Only forward jumps exist: at most one step per instruction.
    for _ in 0..=insns.len() {
        let Some(&(code, jt, jf, k)) = insns.get(pc) else { return RET_KILL_PROCESS };
        pc += 1;
        let src = if code & 0x08 != 0 { x } else { k };
        match code & 0x07 {
            0x00 | 0x01 => {
                // LD / LDX: W|ABS, W|LEN, IMM, MEM.
                let v = match code & 0xe0 {
                    0x20 => match d.word(k) {
                        Some(v) => v,
                        None => return RET_KILL_PROCESS,
                    },
                    0x80 => 64,
                    0x00 => k,
                    0x60 => match mem.get(k as usize) {
                        Some(v) => *v,
                        None => return RET_KILL_PROCESS,
                    },
                    _ => return RET_KILL_PROCESS,
                };
                if code & 0x07 == 0 {
                    a = v
                } else {
                    x = v
                }
            }
            0x02 | 0x03 => match mem.get_mut(k as usize) {
                Some(m) => *m = if code & 0x07 == 0x02 { a } else { x },
                None => return RET_KILL_PROCESS,
            },
            0x04 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 if src != 0 => a / src,
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.checked_shl(src).unwrap_or(0),
                    0x70 => a.checked_shr(src).unwrap_or(0),
                    0x80 => a.wrapping_neg(),
                    0x90 if src != 0 => a % src,
                    0xa0 => a ^ src,
                    _ => return RET_KILL_PROCESS,
                }
            }
            0x05 => {
                let take = match code & 0xf0 {
                    0x00 => {
                        pc = pc.saturating_add(k as usize);
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    _ => return RET_KILL_PROCESS,
                };
                pc += usize::from(if take { jt } else { jf });
            }
            0x06 => return if code & 0x18 == 0x10 { a } else { k },
            _ => {
                // MISC: TAX (0x00), TXA (0x80).
                match code & 0xf8 {
                    0x00 => x = a,
                    0x80 => a = x,
                    _ => return RET_KILL_PROCESS,
                }
            }
        }
    }
    RET_KILL_PROCESS
}

/// How strict an answer is: lower is stricter (the kernel compares the
/// action bits as a signed number; KILL_PROCESS is the strictest).
pub fn strictness(ret: u32) -> i32 {
    (ret & 0xffff_0000) as i32
}

/// The answer of a chain (every filter runs, the strictest answer wins,
/// the newest first among equals).
pub fn chain_answer(chain: &[&[u8]], d: &Data) -> u32 {
    let mut best = RET_ALLOW;
    for p in chain {
        let r = run(p, d);
        if strictness(r) < strictness(best) {
            best = r;
        }
    }
    best
}

/// The inputs `same_answers` tries: every x86_64, x32 and i386 system call
/// number up to 1023 (and a few past any table), with all arguments 0 and
/// with each argument all ones.
pub fn sample_inputs() -> Vec<Data> {
    let mut out = Vec::new();
    for (arch, bit) in
        [(AUDIT_ARCH_X86_64, 0), (AUDIT_ARCH_X86_64, X32_SYSCALL_BIT), (AUDIT_ARCH_I386, 0), (0xdead_beef, 0)]
    {
        for nr in (0..1024).chain([4095, !bit]) {
            out.push(Data { nr: nr | bit, arch, ..Data::default() });
            out.push(Data { nr: nr | bit, arch, args: [u64::MAX; 6], ..Data::default() });
        }
    }
    out
}

/// Whether two programs answer alike on every input of `inputs`: a test
/// that programs were built from the same profile, not a proof.
pub fn same_answers(a: &[u8], b: &[u8], inputs: &[Data]) -> bool {
    inputs.iter().all(|d| run(a, d) == run(b, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::creds::fixtures::{ALLOW_ALL, STRICT};

    fn ins(code: u16, jt: u8, jf: u8, k: u32) -> Vec<u8> {
        let mut v = code.to_le_bytes().to_vec();
        v.extend([jt, jf]);
        v.extend(k.to_le_bytes());
        v
    }

    #[test]
    fn answers_as_the_kernel_would() {
        let d = Data { nr: 2, arch: AUDIT_ARCH_X86_64, ..Data::default() };
        assert_eq!(run(&ALLOW_ALL, &d), RET_ALLOW);
        assert_eq!(run(&STRICT, &d), 0x0005_0001, "ERRNO(1)");
        // ld nr; jeq 59 (execve) → errno, else allow; ld arg0 hi.
        let p = [ins(0x20, 0, 0, 0), ins(0x15, 0, 1, 59), ins(0x06, 0, 0, 0x0005_0001), ins(0x06, 0, 0, RET_ALLOW)]
            .concat();
        assert_eq!(run(&p, &Data { nr: 59, ..d }), 0x0005_0001);
        assert_eq!(run(&p, &Data { nr: 60, ..d }), RET_ALLOW);
        let args = [ins(0x20, 0, 0, 20), ins(0x16, 0, 0, 0)].concat(); // ld arg0 hi; ret A
        assert_eq!(run(&args, &Data { args: [0x1234_0000_0000, 0, 0, 0, 0, 0], ..d }), 0x1234);
        // What the checker refuses answers KILL.
        assert_eq!(run(&ins(0x20, 0, 0, 64), &d), RET_KILL_PROCESS, "a load past seccomp_data");
        assert_eq!(run(&ins(0x15, 9, 9, 0), &d), RET_KILL_PROCESS, "a jump past the end");
        assert_eq!(run(&[], &d), RET_KILL_PROCESS);
        assert_eq!(run(&[ins(0x34, 0, 0, 0), ins(0x16, 0, 0, 0)].concat(), &d), RET_KILL_PROCESS, "div by 0");
    }

    #[test]
    fn chains_answer_with_their_strictest_filter() {
        let d = Data { nr: 2, arch: AUDIT_ARCH_X86_64, ..Data::default() };
        assert_eq!(chain_answer(&[&ALLOW_ALL, &STRICT], &d), 0x0005_0001);
        assert_eq!(chain_answer(&[&ALLOW_ALL], &d), RET_ALLOW);
        assert!(strictness(RET_KILL_PROCESS) < strictness(0) && strictness(0x0005_0001) < strictness(RET_ALLOW));
        let inputs = sample_inputs();
        assert!(same_answers(&STRICT, &STRICT, &inputs));
        assert!(!same_answers(&STRICT, &ALLOW_ALL, &inputs));
    }

    /// Docker's default profile as runc 1.1.5 built it here: a real
    /// program of ~1000 instructions answers for every system call.
    #[test]
    fn a_recorded_docker_profile() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/criu-images/docker-default");
        let s = crate::model::creds::seccomp(&std::fs::read(base.join("seccomp.img")).unwrap()).unwrap();
        let prog = &s.filters[0].0.prog;
        let call = |nr| run(prog, &Data { nr, arch: AUDIT_ARCH_X86_64, ..Data::default() });
        assert_eq!(call(0), RET_ALLOW, "read");
        assert_eq!(strictness(call(175)), strictness(0x0005_0000), "init_module: ERRNO");
        assert_eq!(strictness(call(165)), strictness(0x0005_0000), "mount without CAP_SYS_ADMIN: ERRNO");
        // The --cap-add SYS_ADMIN dump's program allows mount.
        let base = base.with_file_name("docker-cap-add-sys-admin");
        let s2 = crate::model::creds::seccomp(&std::fs::read(base.join("seccomp.img")).unwrap()).unwrap();
        assert_eq!(
            run(&s2.filters[0].0.prog, &Data { nr: 165, arch: AUDIT_ARCH_X86_64, ..Data::default() }),
            RET_ALLOW
        );
    }
}
