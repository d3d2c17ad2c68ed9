//! One byte stream carrying two things in turn (`migrate --live`): the
//! archive, cut into frames, then — after an empty frame — the raw bytes
//! of CRIU's page-server protocol. A tar or zstd reader reads ahead of what
//! it needs; framed, it reads ahead only up to the end mark, and the page
//! protocol that follows is left unread for the relay.
//!
//! A frame is a 4-byte big-endian length and that many bytes; length 0
//! ends the archive. Frames are at most `MAX` bytes: a length above it is
//! a damaged or hostile stream, refused before anything is allocated.

use std::io::{self, Read, Write};

/// The largest frame a writer sends and a reader accepts.
pub const MAX: usize = 1 << 20;

/// Frames whatever is written to it; `finish` writes the end mark.
pub struct FrameWriter<W: Write> {
    inner: W,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W) -> FrameWriter<W> {
        FrameWriter { inner }
    }

    /// The end mark; the stream is the caller's again (flushed).
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&0u32.to_be_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(MAX);
        self.inner.write_all(&(n as u32).to_be_bytes())?;
        self.inner.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the frames' bytes, and ends (`Ok(0)`) at the end mark, having
/// read nothing beyond it.
pub struct FrameReader<R: Read> {
    inner: R,
    /// Bytes left in the current frame.
    left: usize,
    done: bool,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> FrameReader<R> {
        FrameReader { inner, left: 0, done: false }
    }

    /// Reads to the end mark (what the archive's reader left unread, as
    /// padding) and hands the stream back, positioned just after it.
    pub fn finish(mut self) -> io::Result<R> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.inner)
    }
}

impl<R: Read> Read for FrameReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut len = [0u8; 4];
            self.inner.read_exact(&mut len).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended before the archive's end mark")
                }
                _ => e,
            })?;
            let n = u32::from_be_bytes(len) as usize;
            if n == 0 {
                self.done = true;
                return Ok(0);
            }
            if n > MAX {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a frame of {n} bytes (at most {MAX}): this is not docker-cr's live stream"),
                ));
            }
            self.left = n;
        }
        let want = buf.len().min(self.left);
        let got = self.inner.read(&mut buf[..want])?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame"));
        }
        self.left -= got;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_then_the_rest_left_unread() {
        let mut w = FrameWriter::new(Vec::new());
        let archive: Vec<u8> = (0..(MAX + 5000)).map(|i| (i % 251) as u8).collect();
        w.write_all(&archive).unwrap();
        let mut stream = w.finish().unwrap();
        stream.extend_from_slice(b"PAGES");
        // One byte at a time from below: no read of the framed part may
        // take bytes past the end mark.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() || b.is_empty() {
                    return Ok(0);
                }
                b[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let mut r = FrameReader::new(Trickle(&stream));
        let mut got = Vec::new();
        // A reader that stops early (as tar does at its end blocks).
        let mut head = vec![0u8; 1000];
        r.read_exact(&mut head).unwrap();
        got.extend_from_slice(&head);
        let mut rest = r.finish().unwrap();
        let mut after = Vec::new();
        rest.read_to_end(&mut after).unwrap();
        assert_eq!(after, b"PAGES");
        assert_eq!(&got[..], &archive[..1000]);

        let mut r = FrameReader::new(&stream[..]);
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, archive);
    }

    #[test]
    fn damaged_streams_are_refused() {
        let big = ((MAX + 1) as u32).to_be_bytes();
        let e = FrameReader::new(&big[..]).read(&mut [0u8; 16]).unwrap_err();
        assert!(e.to_string().contains("not docker-cr's live stream"), "{e}");
        let cut = [0u8, 0, 0, 10, 1, 2, 3];
        let e = FrameReader::new(&cut[..]).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("inside a frame"), "{e}");
        let e = FrameReader::new(&[0u8, 0][..]).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("before the archive's end mark"), "{e}");
    }
}
