//! The gate: every connection waits here, on one thread and poll(2), until
//! a whole request head has arrived; only then does a worker take it. A
//! slow or half-open client (one byte a second, a head never finished, a
//! keep-alive connection left idle) so costs a buffer of at most
//! `HEAD_BUFFER` bytes, never a worker: the pool stays free for requests
//! that are ready. Workers hand kept-alive connections back here between
//! requests. The gate also accepts (with the cap on connections), answers
//! 408 to a head that did not arrive in time and 431 to one that is too
//! large, and notices a pending SIGINT/SIGTERM (it polls with a timeout).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::App;

/// The most a connection may buffer before its head is complete: the
/// parser's limit for a head, and a request line.
pub const HEAD_BUFFER: usize = 48 << 10;

/// Counts a connection while it lives, wherever it is.
pub struct Slot(Arc<AtomicUsize>);

impl Slot {
    pub fn new(n: &Arc<AtomicUsize>) -> Slot {
        n.fetch_add(1, Ordering::Relaxed);
        Slot(Arc::clone(n))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection and what was read of it (the head, perhaps more).
pub struct Conn {
    pub s: TcpStream,
    pub peer: SocketAddr,
    pub buf: Vec<u8>,
    /// A connection that served a request already.
    pub again: bool,
    pub slot: Slot,
}

/// Where the head in `buf` ends (after its blank line), skipping the blank
/// lines a client may send before a request. Pure.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let b = &buf[start..];
    let crlf = b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = b.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(c)) => Some(start + a.min(c)),
        (a, c) => a.or(c).map(|e| start + e),
    }
}

struct Waiting {
    c: Conn,
    deadline: Instant,
}

/// A short answer written without blocking (the socket is non-blocking;
/// whatever does not fit is dropped, the connection is closed anyway).
fn answer(s: &TcpStream, status: u16, msg: &str) {
    let body = serde_json::to_vec(&super::api::error_json(status, msg, "")).unwrap_or_default();
    let mut head = Vec::new();
    if super::http::write_head(
        &mut head,
        status,
        &[("Content-Type", "application/json".into())],
        Some(body.len() as u64),
        false,
        true,
    )
    .is_ok()
    {
        head.extend_from_slice(&body);
        let _ = (&*s).write(&head);
    }
}

/// What reading a waiting connection found.
enum Read_ {
    More,
    Ready,
    Closed,
    TooLarge,
}

fn read_some(w: &mut Waiting, head_timeout: Duration) -> Read_ {
    let mut tmp = [0u8; 16 << 10];
    loop {
        match w.c.s.read(&mut tmp) {
            Ok(0) => return Read_::Closed,
            Ok(n) => {
                if w.c.buf.is_empty() && w.c.again {
                    // An idle keep-alive connection starts a request: it
                    // now has the time of a head.
                    w.deadline = Instant::now() + head_timeout;
                }
                w.c.buf.extend_from_slice(&tmp[..n]);
                if head_end(&w.c.buf).is_some() {
                    return Read_::Ready;
                }
                if w.c.buf.len() > HEAD_BUFFER {
                    return Read_::TooLarge;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Read_::More,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Read_::Closed,
        }
    }
}

/// Gives a connection with a complete head to the workers.
fn dispatch(app: &App, work: &mpsc::SyncSender<Conn>, c: Conn) {
    if c.s.set_nonblocking(false).is_err() {
        return;
    }
    app.queued.fetch_add(1, Ordering::Relaxed);
    if let Err(mpsc::TrySendError::Full(c) | mpsc::TrySendError::Disconnected(c)) = work.try_send(c) {
        app.queued.fetch_sub(1, Ordering::Relaxed);
        let _ = c.s.set_nonblocking(true);
        answer(&c.s, 503, "the server is busy; try again");
    }
}

/// Runs until a signal is pending. `work` feeds the workers; `back` and
/// `wake` bring kept-alive connections back.
pub fn run(
    app: &Arc<App>,
    listener: &TcpListener,
    work: &mpsc::SyncSender<Conn>,
    back: &mpsc::Receiver<Conn>,
    wake: &UnixStream,
    max_conns: usize,
) {
    let mut waiting: Vec<Waiting> = Vec::new();
    let cfg = &app.cfg;
    while !crate::host::interrupted() {
        // Poll the listener, the wake-up socket and every waiting connection.
        let now = Instant::now();
        let next =
            waiting.iter().map(|w| w.deadline).min().map_or(Duration::from_millis(250), |d| {
                d.saturating_duration_since(now).min(Duration::from_millis(250))
            });
        let ready: Vec<bool> = {
            let mut fds = Vec::with_capacity(waiting.len() + 2);
            fds.push(PollFd::new(listener, PollFlags::IN));
            fds.push(PollFd::new(wake, PollFlags::IN));
            for w in &waiting {
                fds.push(PollFd::new(&w.c.s, PollFlags::IN));
            }
            let ts = rustix::event::Timespec { tv_sec: next.as_secs() as i64, tv_nsec: i64::from(next.subsec_nanos()) };
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    eprintln!("docker-cr serve: poll: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            fds.iter().map(|f| !f.revents().is_empty()).collect()
        };

        // Connections that served a request come back.
        if ready[1] {
            let mut sink = [0u8; 256];
            while matches!((&*wake).read(&mut sink), Ok(n) if n > 0) {}
        }
        while let Ok(c) = back.try_recv() {
            if head_end(&c.buf).is_some() {
                // The next request had arrived with the last one.
                dispatch(app, work, c);
            } else if c.s.set_nonblocking(true).is_ok() {
                let wait = if c.buf.is_empty() { cfg.idle_timeout } else { cfg.head_timeout };
                waiting.push(Waiting { c, deadline: Instant::now() + wait });
            }
        }

        // Data on the waiting ones; hand over the complete heads.
        let mut keep = Vec::with_capacity(waiting.len());
        for (i, mut w) in waiting.drain(..).enumerate() {
            let r = if ready.get(i + 2).copied().unwrap_or(false) {
                read_some(&mut w, cfg.head_timeout)
            } else {
                Read_::More
            };
            match r {
                Read_::More if Instant::now() >= w.deadline => {
                    if !w.c.buf.is_empty() {
                        answer(&w.c.s, 408, "the request head did not arrive in time");
                        super::log(&w.c.peer, "-", "-", 408, w.deadline, 0);
                    }
                }
                Read_::More => keep.push(w),
                Read_::Closed => {}
                Read_::TooLarge => {
                    answer(&w.c.s, 431, "the request head is too large");
                    super::log(&w.c.peer, "-", "-", 431, w.deadline, 0);
                }
                Read_::Ready => dispatch(app, work, w.c),
            }
        }
        waiting = keep;

        // New connections.
        if ready[0] {
            loop {
                match listener.accept() {
                    Ok((s, peer)) => {
                        if s.set_nonblocking(true).is_err() {
                            continue;
                        }
                        if app.active.load(Ordering::Relaxed) >= max_conns {
                            eprintln!("docker-cr serve: {peer} refused: {max_conns} connections are open");
                            answer(&s, 503, "too many connections; try again");
                            continue;
                        }
                        let _ = s.set_nodelay(true);
                        let c = Conn { s, peer, buf: Vec::new(), again: false, slot: Slot::new(&app.active) };
                        waiting.push(Waiting { c, deadline: Instant::now() + cfg.head_timeout });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // A connection reset before accept, or out of fds:
                        // the next round tries again.
                        eprintln!("docker-cr serve: accept: {e}");
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_a_head_ends() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(
            head_end(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(31),
            "blank lines before it are not its end"
        );
        assert_eq!(head_end(b"\r\n\r\n"), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(head_end(b""), None);
    }
}
