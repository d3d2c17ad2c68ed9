//! The byte pumps of `migrate --live`: CRIU's page-server protocol carried
//! between a local socket (CRIU's end on the source, `criu lazy-pages`'s on
//! the destination) and the transport's pipes. docker-cr does not read the
//! protocol; it only copies, and counts what passed.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// What passed through a pump so far (shared with its thread).
#[derive(Debug, Default)]
pub struct Counter {
    pub bytes: AtomicU64,
    /// Microseconds after `Relay::start` of the first byte; 0: none yet.
    pub first_us: AtomicU64,
}

/// Copies `from` to `to` until `from` ends, counting; then closes `to`
/// (drops it), so the other side sees the end too.
fn pump(mut from: impl Read, mut to: impl Write, n: &Counter, t0: Instant) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let got = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n.first_us.load(Ordering::Relaxed) == 0 {
            n.first_us.store((t0.elapsed().as_micros() as u64).max(1), Ordering::Relaxed);
        }
        to.write_all(&buf[..got])?;
        to.flush()?;
        n.bytes.fetch_add(got as u64, Ordering::Relaxed);
    }
    to.flush()
}

/// Two pumps between a local socket and a pair of pipes: `out` gets what
/// the socket says, the socket gets what `inp` says.
pub struct Relay {
    /// What `Counter::first_us` counts from.
    pub t0: Instant,
    pub sent: Arc<Counter>,
    pub received: Arc<Counter>,
    /// The input has ended (its end, or an error): nothing more can reach
    /// the socket's peer.
    input_ended: Arc<std::sync::atomic::AtomicBool>,
    socket: UnixStream,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Relay {
    pub fn start(
        socket: OwnedFd,
        inp: impl Read + Send + 'static,
        out: impl Write + Send + 'static,
    ) -> io::Result<Relay> {
        let t0 = Instant::now();
        let (sent, received) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
        let reader = UnixStream::from(socket.try_clone()?);
        let writer = UnixStream::from(socket.try_clone()?);
        let s = sent.clone();
        let up = std::thread::spawn(move || pump(reader, out, &s, t0));
        let r = received.clone();
        let input_ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ended = input_ended.clone();
        let down = std::thread::spawn(move || {
            let done = pump(inp, &writer, &r, t0);
            // Marked before the peer can see the end: whoever learns of the
            // end from the peer must find `input_ended` already true.
            ended.store(true, Ordering::SeqCst);
            // No more requests (or answers): the socket's peer sees the
            // end, and ends in turn.
            let _ = writer.shutdown(Shutdown::Write);
            done
        });
        Ok(Relay { t0, sent, received, input_ended, socket: UnixStream::from(socket), threads: vec![up, down] })
    }

    /// Whether the input has ended: what the socket's peer still waits
    /// for will not come.
    pub fn input_ended(&self) -> bool {
        self.input_ended.load(Ordering::SeqCst)
    }

    /// Ends both directions at once (the peer of the socket sees the end
    /// and the pumps stop), and waits for them.
    pub fn close(mut self) {
        let _ = self.socket.shutdown(Shutdown::Both);
        let _ = self.join();
    }

    /// Waits until both pumps have ended; the first error, if any.
    pub fn join(&mut self) -> io::Result<()> {
        let mut r = Ok(());
        for t in self.threads.drain(..) {
            let e = t.join().unwrap_or_else(|_| Err(io::Error::other("a relay thread panicked")));
            if r.is_ok() {
                r = e;
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_until_either_side_ends() {
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let (inp_r, mut inp_w) = UnixStream::pair().unwrap();
        let (out_w, mut out_r) = UnixStream::pair().unwrap();
        let mut relay = Relay::start(OwnedFd::from(ours), inp_r, out_w).unwrap();
        inp_w.write_all(b"request").unwrap();
        let mut got = [0u8; 7];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"request");
        peer.write_all(b"pages!").unwrap();
        let mut back = [0u8; 6];
        out_r.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"pages!");
        // The input ends: the socket's peer reads the end.
        assert!(!relay.input_ended());
        drop(inp_w);
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        assert!(relay.input_ended());
        // The peer ends: the output reads the end.
        drop(peer);
        out_r.read_to_end(&mut rest).unwrap();
        relay.join().unwrap();
        assert_eq!(relay.received.bytes.load(Ordering::Relaxed), 7);
        assert_eq!(relay.sent.bytes.load(Ordering::Relaxed), 6);
        assert!(relay.received.first_us.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn close_ends_a_relay_whose_peer_is_silent() {
        let (ours, _peer) = UnixStream::pair().unwrap();
        let (inp_r, _inp_w) = UnixStream::pair().unwrap();
        let (out_w, _out_r) = UnixStream::pair().unwrap();
        let relay = Relay::start(OwnedFd::from(ours), inp_r, out_w).unwrap();
        // Neither side says anything; close must not hang on the socket.
        // (The input's pump ends when its writer goes, in the caller.)
        drop(_inp_w);
        relay.close();
    }
}
