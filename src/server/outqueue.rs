//! A connection's out-queue: shared frames waiting for the socket, corked and written with
//! one vectored write per loop turn, and counted for backpressure.
//!
//! Owns the bytes waiting to be sent to one client. Chunks are `Bytes` handles: a frame
//! fanned out to ten thousand members is queued ten thousand times but stored once. A reply
//! to this connection alone (an echo, an error, a handler's `write_connection`) is not a
//! shared frame: it is framed straight into the connection's cork buffer (a handler's
//! uncompressed `write_connection` is even serialized there, `push_own_with`), which is sealed into
//! a chunk before anything else is queued (order is kept) and reused once written, so a steady
//! echo allocates nothing. The queue holds no heap while empty and idle. It does not decide what a slow consumer is
//! (the worker compares `queued_bytes` against the route's limit).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tungstenite::protocol::frame::coding::OpCode;

use crate::wire::frame::{put_header, MAX_SERVER_HEADER};

/// How many chunks one `writev` takes at most: Linux's `IOV_MAX`. A connection in a busy
/// big channel has a whole fan-out cycle's frames queued when its turn comes (100+ at 10,000
/// members); written in one call instead of slices of 64, each delivery costs fewer system
/// calls and fewer socket buffers in the kernel's send path, where fan-out spends its time.
const MAX_IOVECS: usize = 1024;
/// Queues up to this many chunks are written from a small slice array (a reply, a few
/// fan-out frames: no 16 KiB array to fill per write).
const FEW_IOVECS: usize = 64;
/// A drained queue keeps a ring this small for the next burst (no allocation per message);
/// a larger one is freed at once, and any ring is freed once the connection goes idle.
const KEEP_CAPACITY: usize = 8;

/// A written cork keeps this much for the next replies; a bigger one (after a large reply)
/// is freed at once, and any is freed once the connection goes idle.
const KEEP_CORK_BYTES: usize = 4096;

/// Outcome of a flush.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Flushed {
    /// Everything queued is on the socket.
    All,
    /// The socket is full; wait for it to become writable.
    Blocked,
}

#[derive(Debug, Default)]
pub struct OutQueue {
    chunks: VecDeque<Bytes>,
    queued_bytes: usize,
    /// The first chunk is partly on the wire: dropping it would break the stream.
    front_started: bool,
    /// Frames for this connection alone, written in place after every queued chunk.
    /// Boxed: an idle connection pays one pointer for it, not a `BytesMut`.
    cork: Option<Box<BytesMut>>,
}

impl OutQueue {
    /// Queues a shared frame (after anything corked before it).
    pub fn push(&mut self, chunk: Bytes) {
        self.seal();
        self.queued_bytes += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Frames `payload` as one server frame of `opcode` straight into the cork (a copy of a
    /// small reply instead of an allocated shared frame).
    pub fn push_own(&mut self, opcode: OpCode, payload: &[u8]) {
        let cork = self.cork.get_or_insert_with(Default::default);
        let before = cork.len();
        put_header(&mut **cork, opcode, payload.len());
        cork.put_slice(payload);
        self.queued_bytes += cork.len() - before;
    }

    /// Frames the payload `write` puts straight into the cork (a reply serialized in place:
    /// no copy on the way). The header of a short payload is reserved in front and widened
    /// if the payload turns out longer; if `write` fails, the cork is as it was.
    pub fn push_own_with<E>(
        &mut self,
        opcode: OpCode,
        write: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<(), E> {
        const RESERVED: usize = 2;
        let cork = self.cork.get_or_insert_with(Default::default);
        let start = cork.len();
        cork.put_u16(0);
        if let Err(e) = write(cork) {
            cork.truncate(start);
            return Err(e);
        }
        let length = cork.len() - start - RESERVED;
        if length < 126 {
            // The usual short reply: its two header bytes, where they were reserved.
            cork[start] = 0x80 | u8::from(opcode);
            cork[start + 1] = length as u8;
        } else {
            let mut header = [0u8; MAX_SERVER_HEADER];
            let mut unused = &mut header[..];
            put_header(&mut unused, opcode, length);
            let header_len = MAX_SERVER_HEADER - unused.len();
            cork.put_bytes(0, header_len - RESERVED);
            cork.copy_within(start + RESERVED..start + RESERVED + length, start + header_len);
            cork[start..start + header_len].copy_from_slice(&header[..header_len]);
        }
        self.queued_bytes += cork.len() - start;
        Ok(())
    }

    /// Moves what is corked into the chunk queue, so later chunks follow it.
    fn seal(&mut self) {
        if let Some(cork) = self.cork.as_mut().filter(|c| !c.is_empty()) {
            self.chunks.push_back(cork.split().freeze());
        }
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// What the queue costs in memory beyond the shared frames' bytes: its slots.
    pub fn footprint(&self) -> usize {
        self.queued_bytes + self.chunks.len() * std::mem::size_of::<Bytes>()
    }

    /// Heap bytes held by the queue's ring (not the shared frames it points at).
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub fn heap_bytes(&self) -> usize {
        let cork = self.cork.as_ref().map_or(0, |c| std::mem::size_of::<BytesMut>() + c.capacity());
        self.chunks.capacity() * std::mem::size_of::<Bytes>() + cork
    }

    /// Frees the ring of an empty queue (an idle connection holds no buffer).
    pub fn release_if_empty(&mut self) {
        if self.chunks.is_empty() && self.chunks.capacity() > 0 {
            self.chunks = VecDeque::new();
        }
        if self.cork.as_ref().is_some_and(|c| c.is_empty()) {
            self.cork = None;
        }
    }

    /// Drops everything queued but keeps the ring (harness measurements).
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub fn discard(&mut self) {
        self.chunks.clear();
        if let Some(cork) = &mut self.cork {
            cork.clear();
        }
        self.queued_bytes = 0;
    }

    /// Drops everything not yet started (a slow consumer's backlog); a frame already partly
    /// written is kept, so that what follows it (a close frame) still parses.
    pub fn clear(&mut self) {
        let started = if self.front_started { self.chunks.pop_front() } else { None };
        self.chunks = VecDeque::new();
        self.cork = None;
        self.queued_bytes = 0;
        if let Some(rest) = started {
            self.push(rest);
        }
    }

    /// Writes as much as the socket takes, `MAX_IOVECS` chunks per system call.
    pub fn flush_into(&mut self, socket: &mut impl Write) -> io::Result<Flushed> {
        self.seal();
        while !self.chunks.is_empty() {
            let result = match self.chunks.len() <= FEW_IOVECS {
                true => self.write_some::<FEW_IOVECS>(socket),
                false => self.write_some::<MAX_IOVECS>(socket),
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.consume(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if self.chunks.capacity() > KEEP_CAPACITY {
            self.chunks = VecDeque::new();
        }
        if self.cork.as_ref().is_some_and(|c| c.capacity() > KEEP_CORK_BYTES) {
            self.cork = None;
        }
        Ok(Flushed::All)
    }

    /// One vectored write of the first `N` chunks at most.
    fn write_some<const N: usize>(&self, socket: &mut impl Write) -> io::Result<usize> {
        let mut slices = [IoSlice::new(&[]); N];
        let count = self.chunks.len().min(N);
        for (slot, chunk) in slices.iter_mut().zip(self.chunks.iter()) {
            *slot = IoSlice::new(chunk);
        }
        socket.write_vectored(&slices[..count])
    }

    fn consume(&mut self, mut written: usize) {
        self.queued_bytes -= written;
        while written > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if front.len() <= written {
                written -= front.len();
                self.chunks.pop_front();
                self.front_started = false;
            } else {
                front.advance(written);
                self.front_started = true;
                written = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `limit` bytes per call, then blocks once `budget` is spent.
    struct Trickle {
        taken: Vec<u8>,
        limit: usize,
        budget: usize,
        calls: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n).min(self.budget);
                self.taken.extend_from_slice(&b[..take]);
                n += take;
                self.budget -= take;
                if n == self.limit || self.budget == 0 {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Everything `queue` writes, on a socket that takes it all.
    fn written(queue: &mut OutQueue) -> Vec<u8> {
        let mut socket = Trickle { taken: vec![], limit: usize::MAX, budget: usize::MAX, calls: 0 };
        assert_eq!(queue.flush_into(&mut socket).unwrap(), Flushed::All);
        socket.taken
    }

    #[test]
    fn a_payload_written_in_place_is_framed_as_a_copied_one() {
        use tungstenite::protocol::frame::coding::Data;
        let text = OpCode::Data(Data::Text);
        // Around each header width: 2 bytes up to 125, 4 up to 65,535, 10 beyond.
        for length in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..length).map(|i| b'a' + (i % 26) as u8).collect();
            let (mut copied, mut in_place) = (OutQueue::default(), OutQueue::default());
            for queue in [&mut copied, &mut in_place] {
                queue.push_own(text, b"before");
            }
            copied.push_own(text, &payload);
            let wrote = in_place.push_own_with(text, |cork| {
                cork.put_slice(&payload);
                Ok::<(), ()>(())
            });
            assert_eq!(wrote, Ok(()));
            assert_eq!(in_place.queued_bytes(), copied.queued_bytes(), "{length}");
            assert_eq!(written(&mut in_place), written(&mut copied), "{length}");
        }
    }

    #[test]
    fn a_failed_write_in_place_leaves_the_cork_as_it_was() {
        use tungstenite::protocol::frame::coding::Data;
        let mut queue = OutQueue::default();
        queue.push_own(OpCode::Data(Data::Text), b"kept");
        let before = queue.queued_bytes();
        let wrote = queue.push_own_with(OpCode::Data(Data::Text), |cork| {
            cork.put_slice(&[b'x'; 300]);
            Err("no")
        });
        assert_eq!(wrote, Err("no"));
        assert_eq!(queue.queued_bytes(), before);
        assert_eq!(written(&mut queue), b"\x81\x04kept");
    }

    #[test]
    fn partial_writes_keep_order_and_count() {
        let mut queue = OutQueue::default();
        for word in ["alpha", "beta", "gamma"] {
            queue.push(Bytes::from_static(word.as_bytes()));
        }
        assert_eq!(queue.queued_bytes(), 14);
        let mut socket = Trickle { taken: vec![], limit: 3, budget: 8, calls: 0 };
        assert_eq!(queue.flush_into(&mut socket).unwrap(), Flushed::Blocked);
        assert_eq!(queue.queued_bytes(), 6);
        socket.budget = 100;
        assert_eq!(queue.flush_into(&mut socket).unwrap(), Flushed::All);
        assert_eq!(socket.taken, b"alphabetagamma");
        assert_eq!(queue.queued_bytes(), 0);
    }

    #[test]
    fn clearing_keeps_a_partly_written_frame() {
        let mut queue = OutQueue::default();
        queue.push(Bytes::from_static(b"first"));
        queue.push(Bytes::from_static(b"second"));
        let mut socket = Trickle { taken: vec![], limit: 3, budget: 3, calls: 0 };
        assert_eq!(queue.flush_into(&mut socket).unwrap(), Flushed::Blocked);
        queue.clear();
        queue.push(Bytes::from_static(b"!"));
        socket.budget = 100;
        socket.limit = 100;
        queue.flush_into(&mut socket).unwrap();
        assert_eq!(socket.taken, b"first!", "the started frame is finished, the rest dropped");
    }

    #[test]
    fn many_chunks_go_in_one_call() {
        let mut queue = OutQueue::default();
        for _ in 0..50 {
            queue.push(Bytes::from_static(b"frame"));
        }
        let mut socket = Trickle { taken: vec![], limit: usize::MAX, budget: usize::MAX, calls: 0 };
        queue.flush_into(&mut socket).unwrap();
        assert_eq!(socket.calls, 1);
        assert_eq!(queue.heap_bytes(), 0, "a drained queue holds no ring");
    }

    #[test]
    fn a_fan_out_cycle_of_frames_goes_in_one_call() {
        let mut queue = OutQueue::default();
        for n in 0..MAX_IOVECS + 1 {
            queue.push(Bytes::from(format!("{n},")));
        }
        let expected: String = (0..MAX_IOVECS + 1).map(|n| format!("{n},")).collect();
        let mut socket = Trickle { taken: vec![], limit: usize::MAX, budget: usize::MAX, calls: 0 };
        assert_eq!(queue.flush_into(&mut socket).unwrap(), Flushed::All);
        assert_eq!(socket.calls, 2, "1,024 chunks in the first call, the last in a second");
        assert_eq!(socket.taken, expected.as_bytes());
    }
}
