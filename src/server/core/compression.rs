//! permessage-deflate on a worker: the offer answered at the upgrade, client messages
//! inflated (bounded by the route's message limit: a bomb closes with 1009), and frames for
//! one connection compressed when they reach the threshold (with the window it negotiated).
//! Fan-out shares one compressed frame per message and window size (`wire::fanout`), made
//! with this worker's deflater.
//!
//! Owns the worker's compressor, its shared inflater (clients that reset their context),
//! the side table of inflaters of clients that keep theirs (keyed by slot, only for those
//! connections: `Conn` itself holds one byte), and the inflate buffer. It must not write
//! to sockets or parse frames.

use super::*;
use crate::server::conn::Deflate;
use crate::wire::compression::{Deflater, InflateError, Inflater};
use crate::wire::deflate::{self, Agreement};
use crate::wire::fanout::Fanout;

/// The largest inflate buffer a worker keeps between messages.
const INFLATED_KEEP: usize = 64 * 1024;

/// A worker's compression state (only on servers started with `--compression`).
#[derive(Debug, Default)]
pub(super) struct WorkerCompression {
    pub(super) deflater: Deflater,
    shared_inflater: Inflater,
    kept: HashMap<Slot, Box<Inflater>, FastHash>,
    inflated: Vec<u8>,
}

impl WorkerCompression {
    /// Inflates one message of connection `slot` into `out`: with its own kept inflater if
    /// the client keeps its context (made at its first compressed message), else with the
    /// worker's shared one, reset. The error is the close code and reason.
    fn inflate(
        &mut self,
        slot: Slot,
        mode: Deflate,
        payload: &[u8],
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), (u16, &'static str)> {
        let inflated = match mode.client_keeps_context() {
            true => self.kept.entry(slot).or_default().inflate(payload, out, max, true),
            false => self.shared_inflater.inflate(payload, out, max, false),
        };
        inflated.map_err(|e| match e {
            InflateError::TooBig => (1009, "message too big"),
            InflateError::Corrupt => (1007, "invalid compressed data"),
        })
    }
}

impl WorkerCore {
    /// The permessage-deflate answer to an upgrade request, if the server offers
    /// compression and the client offered something it can honour.
    pub(super) fn negotiate_deflate(&self, request: &HttpRequest) -> Option<Agreement> {
        self.compression.as_ref()?;
        let offers = request.headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"));
        let always_client_no_context = !self.service.shared.config.compression_client_context;
        deflate::negotiate_with(offers.map(|(_, value)| value.as_str()), always_client_no_context)
    }

    /// A new session's compression mode.
    pub(super) fn start_deflate(&mut self, slot: Slot, agreement: Option<&Agreement>) -> Deflate {
        if let Some(compression) = self.compression.as_mut() {
            compression.kept.remove(&slot);
        }
        match agreement {
            None => Deflate::OFF,
            Some(a) => Deflate::on(a.server_window_bits, !a.client_no_context_takeover),
        }
    }

    /// Drops a connection's kept inflater (its session ended).
    pub(super) fn forget_inflater(&mut self, slot: Slot) {
        if let Some(compression) = self.compression.as_mut() {
            compression.kept.remove(&slot);
        }
    }

    /// A whole compressed client message: inflated within the route's limit, then handled
    /// like any other.
    pub(super) fn on_compressed(&mut self, slot: Slot, is_text: bool, payload: &[u8]) {
        let Some(conn) = self.conns.get(slot) else { return };
        let (mode, max) = (conn.deflate, self.routes.sockets[conn.route as usize].max_message_bytes);
        let Some(compression) = self.compression.as_mut() else {
            return self.start_close(slot, 1002, "compression not negotiated");
        };
        let mut out = std::mem::take(&mut compression.inflated);
        let result = compression.inflate(slot, mode, payload, &mut out, max).and_then(|()| match is_text {
            true => std::str::from_utf8(&out).map(Payload::Text).map_err(|_| (1007, "invalid UTF-8")),
            false => Ok(Payload::Binary(&out)),
        });
        match result {
            Ok(message) => self.on_message(slot, message),
            Err((code, reason)) => self.close_undecodable(slot, code, reason),
        }
        if let Some(compression) = self.compression.as_mut() {
            out.clear();
            if out.capacity() <= INFLATED_KEEP {
                compression.inflated = out;
            }
        }
    }

    /// Closes a connection whose compressed message could not be read (counted as a
    /// protocol close, and as a message-too-big close for 1009).
    fn close_undecodable(&mut self, slot: Slot, code: u16, reason: &'static str) {
        bump(&self.stats().protocol_closes, 1);
        if code == 1009 {
            bump(&self.stats().message_too_big_closes, 1);
        }
        log::debug!("connection {slot}: close {code}: {reason}");
        self.start_close(slot, code, reason);
    }

    /// `frame` as a connection in `mode` gets it: compressed (for this connection alone)
    /// when it negotiated compression and the payload reaches the threshold.
    pub(super) fn for_connection(&mut self, mode: Deflate, frame: SharedFrame) -> SharedFrame {
        let threshold = self.service.shared.config.compression_threshold;
        let Some(compression) = self.compression.as_mut().filter(|_| mode.is_on() && frame.len() > threshold) else {
            return frame;
        };
        match compression.deflater.recompress(&frame, threshold, mode.window_bits()) {
            Some(compressed) => {
                bump(&self.service.shared.stats[self.index].messages_compressed, 1);
                compressed
            }
            None => frame,
        }
    }

    /// A reply framed for one connection, compressed if it negotiated compression and the
    /// payload reaches the threshold; `None` means: frame it plain.
    pub(super) fn compressed_reply(&mut self, mode: Deflate, opcode: OpCode, payload: &[u8]) -> Option<SharedFrame> {
        let threshold = self.service.shared.config.compression_threshold;
        let compression = self.compression.as_mut().filter(|_| mode.is_on() && payload.len() >= threshold)?;
        bump(&self.service.shared.stats[self.index].messages_compressed, 1);
        Some(compression.deflater.frame(opcode, payload, mode.window_bits()))
    }

    /// The fan-out message as it goes to a connection in `mode` (compressed here, once per
    /// window size, for the first member that needs it on any worker).
    pub(super) fn pick_frame<'a>(
        compression: Option<&mut WorkerCompression>,
        (threshold, stats): (usize, &WorkerStats),
        mode: Deflate,
        message: &'a Fanout,
    ) -> &'a SharedFrame {
        match compression {
            Some(compression) if mode.is_on() => {
                let (frame, compressed_now) =
                    message.for_compressed(&mut compression.deflater, threshold, mode.window_bits());
                bump(&stats.messages_compressed, u64::from(compressed_now));
                frame
            }
            _ => message.plain(),
        }
    }
}
