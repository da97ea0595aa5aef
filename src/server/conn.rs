//! One client connection as its worker holds it: the socket, its phase (HTTP handshake,
//! open WebSocket, closing), its frame reader and out-queue, its channels and its timers.
//!
//! Owns per-connection state only; kept small, because a server holds many of these and
//! most are idle (no buffer is held between messages). What happens on each event is
//! decided by the worker core, not here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;

use super::frames::FrameReader;
use super::outqueue::OutQueue;
use crate::service::channel_list::ChannelList;
use crate::service::connection::{ConnId, Connection, Counters};
use crate::wire::deflate::{MAX_WINDOW_BITS, MIN_COMPRESS_WINDOW_BITS};

/// A connection's index in its worker's `Slab` (and its `mio::Token`); "token" in this crate
/// means a credential (a JWT, an admin or API key), never a slot.
pub type Slot = usize;

/// Most pongs waiting in one out-queue.
pub const MAX_PENDING_PONGS: u8 = 32;

/// Where a connection is in its life (16 bytes: what only a handshake needs is boxed).
#[derive(Debug)]
pub enum Phase {
    /// Reading the HTTP request.
    Handshake(Box<Handshake>),
    /// A WebSocket session.
    Open,
    /// A close frame (or a plain HTTP response) is queued: flush it, shut down our side,
    /// wait for the peer's end or `close_timeout`.
    Closing { since: Instant },
}

/// A connection before its upgrade (or between keep-alive requests): what has arrived of the
/// request, since when, and from where (an open session keeps its address in `Connection`).
#[derive(Debug)]
pub struct Handshake {
    pub received: Vec<u8>,
    pub since: Instant,
    pub remote: SocketAddr,
}

/// A connection as its worker's slab holds it. Its id and address are its session's
/// (`Connection`), not repeated here; `a_connection_stays_small` pins its size.
#[derive(Debug)]
pub struct Conn {
    pub socket: TcpStream,
    pub phase: Phase,
    pub out: OutQueue,
    pub reader: FrameReader,
    /// Set while the session is open; taken (once) when it ends.
    pub session: Option<Arc<Connection>>,
    /// Index of its socket route.
    pub route: u32,
    /// When the client last sent bytes, in milliseconds of the process clock (`millis`).
    last_heard_ms: u32,
    pub channels: ChannelList,
    pub counters: Counters,
    /// On the worker's list of replies to write this turn (`core/flushlist.rs`).
    pub reply_listed: bool,
    /// On the worker's list of fan-out to write, within a budget per turn.
    pub fanout_listed: bool,
    /// The socket refused bytes; wait for a writable event.
    pub write_blocked: bool,
    /// Our side of the TCP connection is shut down.
    pub write_shut: bool,
    /// Its session has ended and its socket waits to be closed (`WorkerCore::doom`).
    pub doomed: bool,
    /// Pongs queued and not yet written (a client that pings without reading gets at most
    /// `MAX_PENDING_PONGS`; RFC 6455 5.5.3 allows answering only the latest pings).
    pub pending_pongs: u8,
    /// Registered for writable events (after its first blocked write).
    pub writable_interest: bool,
    /// What it negotiated of permessage-deflate.
    pub deflate: Deflate,
    pub rate: RateBucket,
    /// When its credential expires, for connections whose credential does.
    pub expiry: Option<Box<Expiry>>,
}

/// What a connection negotiated of permessage-deflate, in one byte (`Conn` stays small; a
/// client that keeps its compression context has its inflater in the worker's side table):
/// 0 when not negotiated, else the window the server compresses with in bits (9 to 15),
/// plus `CLIENT_CONTEXT` when the client keeps its context from message to message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate(u8);

impl Deflate {
    /// Not negotiated: every frame plain, RSV1 refused.
    pub const OFF: Deflate = Deflate(0);
    const CLIENT_CONTEXT: u8 = 0x80;

    /// Negotiated, compressed with a window of `window_bits` (9 to 15); `client_context`:
    /// the client keeps its context (else each of its messages inflates alone).
    pub fn on(window_bits: u8, client_context: bool) -> Self {
        let bits = window_bits.clamp(MIN_COMPRESS_WINDOW_BITS, MAX_WINDOW_BITS);
        Deflate(if client_context { bits | Self::CLIENT_CONTEXT } else { bits })
    }

    pub fn is_on(self) -> bool {
        self != Deflate::OFF
    }

    /// The client keeps its compression context (`client_no_context_takeover` not agreed).
    pub fn client_keeps_context(self) -> bool {
        self.0 & Self::CLIENT_CONTEXT != 0
    }

    /// The window the server compresses with, in bits (15 when not negotiated).
    pub fn window_bits(self) -> u8 {
        match self.0 & !Self::CLIENT_CONTEXT {
            0 => MAX_WINDOW_BITS,
            bits => bits,
        }
    }
}

/// A credential's end: when it expires, and, once the client has been told, when it closes.
#[derive(Debug, Clone, Copy)]
pub struct Expiry {
    pub at: std::time::SystemTime,
    pub close_at: Option<Instant>,
}

/// A token bucket of messages: `rate` per second, bursts up to `rate`. Eight bytes: the
/// refill time is kept in milliseconds since the process's clock base.
#[derive(Debug, Clone, Copy)]
pub struct RateBucket {
    tokens: f32,
    refilled_ms: u32,
}

/// What the bucket says of one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    Allowed,
    /// Over the rate: refuse this message.
    Refused,
    /// A whole second's worth over the rate: the client is not slowing down.
    Abusive,
}

/// Milliseconds since the first call (wraps after 49 days; differences stay right). The
/// worker passes the same `now` for a whole loop turn: the last answer is kept per thread,
/// so a turn's messages share one conversion.
fn millis(now: Instant) -> u32 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    thread_local! {
        static LAST: std::cell::Cell<Option<(Instant, u32)>> = const { std::cell::Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((at, ms)) if at == now => ms,
        _ => {
            let base = *BASE.get_or_init(|| now);
            let ms = now.saturating_duration_since(base).as_millis() as u32;
            last.set(Some((now, ms)));
            ms
        }
    })
}

impl RateBucket {
    pub fn full(rate: u32, now: Instant) -> Self {
        RateBucket { tokens: rate as f32, refilled_ms: millis(now) }
    }

    /// Takes one message; `rate` 0 means no limit.
    pub fn take(&mut self, rate: u32, now: Instant) -> RateVerdict {
        if rate == 0 {
            return RateVerdict::Allowed;
        }
        let rate = rate as f32;
        let now_ms = millis(now);
        let elapsed = now_ms.wrapping_sub(self.refilled_ms) as f32 / 1000.0;
        self.refilled_ms = now_ms;
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            RateVerdict::Allowed
        } else if self.tokens > -rate {
            RateVerdict::Refused
        } else {
            RateVerdict::Abusive
        }
    }
}

impl Conn {
    pub fn new(socket: TcpStream, remote: SocketAddr, now: Instant) -> Self {
        Conn {
            socket,
            phase: Phase::Handshake(Box::new(Handshake { received: Vec::new(), since: now, remote })),
            out: OutQueue::default(),
            reader: FrameReader::default(),
            session: None,
            route: 0,
            last_heard_ms: millis(now),
            channels: ChannelList::default(),
            counters: Counters::default(),
            reply_listed: false,
            fanout_listed: false,
            write_blocked: false,
            write_shut: false,
            doomed: false,
            pending_pongs: 0,
            writable_interest: false,
            deflate: Deflate::OFF,
            rate: RateBucket::full(0, now),
            expiry: None,
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    pub fn is_closing(&self) -> bool {
        matches!(self.phase, Phase::Closing { .. })
    }

    pub fn in_channel(&self, channel: &str) -> bool {
        self.channels.contains(channel)
    }

    /// Its session's id (nil before the upgrade and after the session ended).
    pub fn id(&self) -> ConnId {
        self.session.as_ref().map_or(ConnId::nil(), |s| s.id)
    }

    /// The client sent bytes now.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard_ms = millis(now);
    }

    /// How long the client has been silent.
    pub fn silent_for(&self, now: Instant) -> std::time::Duration {
        std::time::Duration::from_millis(u64::from(millis(now).wrapping_sub(self.last_heard_ms)))
    }

    /// Heap bytes this connection holds of its own (buffers, channel list), excluding
    /// shared frames and the registry entry.
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub fn heap_bytes(&self) -> usize {
        let handshake = match &self.phase {
            Phase::Handshake(handshake) => std::mem::size_of::<Handshake>() + handshake.received.capacity(),
            _ => 0,
        };
        handshake + self.out.heap_bytes() + self.reader.heap_bytes() + self.channels.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_bucket_allows_bursts_then_refuses_then_gives_up() {
        let start = Instant::now();
        let mut bucket = RateBucket::full(10, start);
        let verdicts: Vec<RateVerdict> = (0..25).map(|_| bucket.take(10, start)).collect();
        assert!(verdicts[..10].iter().all(|v| *v == RateVerdict::Allowed));
        assert!(verdicts[10..19].iter().all(|v| *v == RateVerdict::Refused));
        assert_eq!(verdicts[24], RateVerdict::Abusive);
        let mut bucket = RateBucket::full(10, start);
        for _ in 0..10 {
            bucket.take(10, start);
        }
        assert_eq!(bucket.take(10, start + std::time::Duration::from_millis(150)), RateVerdict::Allowed);
        assert_eq!(RateBucket::full(0, start).take(0, start), RateVerdict::Allowed);
    }

    #[test]
    fn a_connection_stays_small() {
        use std::mem::size_of;
        let parts = [
            ("Phase", size_of::<Phase>()),
            ("OutQueue", size_of::<OutQueue>()),
            ("FrameReader", size_of::<FrameReader>()),
            ("ChannelList", size_of::<ChannelList>()),
            ("Counters", size_of::<Counters>()),
        ];
        println!("size_of::<Conn>() = {}, {parts:?}", size_of::<Conn>());
        assert_eq!(size_of::<Phase>(), 16, "a handshake's state is boxed");
        assert_eq!(size_of::<ChannelList>(), 24, "one channel inline");
        let size = size_of::<Conn>();
        assert!(size <= 216, "Conn grew to {size} bytes (README, What one idle connection holds)");
    }
}
