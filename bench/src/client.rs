//! One non-blocking WebSocket client connection of the load generator: connect, upgrade,
//! read and scan server frames out of a shared scratch buffer (only an unfinished frame is
//! kept per connection), answer pings, and queue and flush masked client frames.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

use crate::net;
use crate::tls::Transport;
use crate::wire::{self, Frame, Scan, UpgradeReply};

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Upgrading,
    Open,
    Closed,
}

/// What one readable event brought, besides the frames handed to the callback.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadOutcome {
    /// The upgrade completed during this event.
    pub opened: bool,
    /// The server closed (EOF or a close frame).
    pub closed: bool,
    /// The code of the server's close frame, when it sent one with a code.
    pub close_code: Option<u16>,
}

pub struct Client {
    pub stream: Transport,
    pub phase: Phase,
    /// The upgrade completed at some point (the connection may have closed since).
    upgraded: bool,
    /// An unfinished frame (or upgrade header) carried over to the next read.
    partial: Vec<u8>,
    outbox: Vec<u8>,
    out_start: usize,
    mask_state: u32,
}

impl Client {
    /// Starts connecting to `target` and queues the upgrade `request`.
    pub fn connect(target: SocketAddr, source: Option<IpAddr>, request: &[u8], seed: u32) -> io::Result<Self> {
        let stream = Transport::new(net::start_connect(target, source)?)?;
        Ok(Client {
            stream,
            phase: Phase::Connecting,
            upgraded: false,
            partial: Vec::new(),
            outbox: request.to_vec(),
            out_start: 0,
            mask_state: seed | 1,
        })
    }

    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    pub fn was_upgraded(&self) -> bool {
        self.upgraded
    }

    /// Bytes queued but not yet accepted by the socket.
    pub fn unsent_bytes(&self) -> usize {
        self.outbox.len() - self.out_start
    }

    /// Handles a writable event: completes the connect, then flushes queued bytes.
    pub fn on_writable(&mut self) -> io::Result<()> {
        if self.phase == Phase::Connecting {
            if let Some(err) = self.stream.tcp().take_error()? {
                return Err(err);
            }
            self.stream.tcp().peer_addr()?;
            self.phase = Phase::Upgrading;
        }
        self.flush()
    }

    /// Reads everything available, handing each data frame to `on_frame`.
    pub fn on_readable(
        &mut self,
        scratch: &mut Vec<u8>,
        on_frame: &mut impl FnMut(Frame<'_>),
    ) -> io::Result<ReadOutcome> {
        let mut outcome = ReadOutcome::default();
        if self.phase == Phase::Connecting {
            self.on_writable()?;
        }
        while !outcome.closed {
            let carried = self.partial.len();
            scratch[..carried].copy_from_slice(&self.partial);
            let read = match self.stream.read(&mut scratch[carried..]) {
                Ok(0) => {
                    outcome.closed = true;
                    break;
                }
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.partial.clear();
            let filled = carried + read;
            let (consumed, needed) = self.consume(&scratch[..filled], &mut outcome, on_frame)?;
            self.partial.extend_from_slice(&scratch[consumed..filled]);
            if needed > scratch.len() / 2 {
                scratch.resize(needed * 2, 0);
            }
            // A short read drained the socket; edge-triggered epoll reports any later data.
            if filled < scratch.len() && needed <= scratch.len() / 2 && self.stream.short_read_drains() {
                break;
            }
        }
        if outcome.closed {
            self.phase = Phase::Closed;
        }
        if self.unsent_bytes() > 0 {
            self.flush()?;
        }
        Ok(outcome)
    }

    /// Consumes the upgrade reply and whole frames; returns bytes used and bytes needed next.
    fn consume(
        &mut self,
        bytes: &[u8],
        outcome: &mut ReadOutcome,
        on_frame: &mut impl FnMut(Frame<'_>),
    ) -> io::Result<(usize, usize)> {
        let mut at = 0;
        if self.phase == Phase::Upgrading {
            match wire::parse_upgrade_reply(bytes) {
                UpgradeReply::Incomplete => return Ok((0, bytes.len() + 1)),
                UpgradeReply::Refused(status) => return Err(io::Error::other(format!("upgrade refused: {status}"))),
                UpgradeReply::Accepted(header_len) => {
                    self.phase = Phase::Open;
                    self.upgraded = true;
                    outcome.opened = true;
                    at = header_len;
                }
            }
        }
        loop {
            match wire::scan_frame(&bytes[at..]) {
                Scan::Frame(frame, used) => {
                    at += used;
                    self.handle_frame(frame, outcome, on_frame);
                }
                Scan::NeedMore(needed) => return Ok((at, needed)),
                Scan::Invalid(why) => return Err(io::Error::other(why)),
            }
        }
    }

    #[inline]
    fn handle_frame(&mut self, frame: Frame<'_>, outcome: &mut ReadOutcome, on_frame: &mut impl FnMut(Frame<'_>)) {
        match frame.opcode {
            wire::OPCODE_PING => self.queue_frame(wire::OPCODE_PONG, frame.payload),
            wire::OPCODE_PONG => {}
            wire::OPCODE_CLOSE => {
                outcome.closed = true;
                outcome.close_code = wire::close_code(frame.payload);
            }
            _ => on_frame(frame),
        }
    }

    /// Queues one masked frame (not yet written; call [`Client::flush`]).
    pub fn queue_frame(&mut self, opcode: u8, payload: &[u8]) {
        let mask = self.next_mask();
        wire::encode_client_frame(&mut self.outbox, opcode, payload, mask);
    }

    /// Queues bytes that already form complete masked frames.
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.outbox.extend_from_slice(bytes);
    }

    /// Writes queued bytes until done or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.phase == Phase::Connecting {
            return Ok(());
        }
        while self.out_start < self.outbox.len() {
            match self.stream.write(&self.outbox[self.out_start..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.out_start += written,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.outbox.clear();
        self.out_start = 0;
        match self.stream.flush() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// xorshift32: masks need not be secret here, only present and varied.
    fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        x.to_ne_bytes()
    }
}
