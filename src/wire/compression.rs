//! The permessage-deflate codec (RFC 7692 section 7.2): a whole message deflated into one
//! complete server frame with RSV1 set, and a client message inflated with a bounded output.
//!
//! Compression is `libdeflater` (libdeflate) at level 1, inflation `flate2` on the zlib-rs
//! backend (README "Compression" says why: libdeflate compresses a whole message fastest
//! at the same size, zlib-rs streams, which a client keeping its context needs). Every
//! message is a fresh raw DEFLATE stream (the server never takes over context): libdeflate
//! ends it with a final block (BFINAL), to which one `00` byte is appended, the rest of an
//! empty stored block once RFC 7692 7.2.1 removes its `00 00 ff ff` (a receiver that stops
//! at the final block ignores it; one that resets and reads on finds an empty block).
//! Inflation keeps or resets its context as the caller says, and never writes more than the
//! caller's limit: a decompression bomb stops at the limit plus one byte. Owns the codec
//! only: which connection compresses, and where the inflaters live, is the server's
//! business. No I/O.

use bytes::{BufMut, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};
use libdeflater::{CompressionLvl, Compressor};
use tungstenite::protocol::frame::coding::{Data, OpCode};

use super::frame::{put_header, SharedFrame, MAX_SERVER_HEADER};

/// The tail a sync flush ends with, removed by the sender and put back by the receiver.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Deflates whole messages; one per worker, reused for every message.
pub struct Deflater {
    compressor: Compressor,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Deflater")
    }
}

impl Default for Deflater {
    fn default() -> Self {
        // Level 1 is the fastest that compresses (level 0 only stores).
        let level = CompressionLvl::new(1).unwrap_or_default();
        Deflater { compressor: Compressor::new(level), scratch: Vec::new() }
    }
}

/// The largest scratch buffer a deflater keeps between messages.
const SCRATCH_KEEP: usize = 256 * 1024;

impl Deflater {
    /// One complete server frame (FIN and RSV1 set) carrying `payload` compressed.
    pub fn frame(&mut self, opcode: OpCode, payload: &[u8]) -> SharedFrame {
        let compressed = self.deflate(payload);
        let mut out = BytesMut::with_capacity(compressed.len() + MAX_SERVER_HEADER);
        put_header(&mut out, opcode, compressed.len());
        out[0] |= 0x40; // RSV1: this message is compressed
        out.put_slice(compressed);
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
        out.freeze()
    }

    /// The compressed form of a complete unfragmented server data frame (`plain`), or `None`
    /// for a control frame, a frame already compressed, or a payload under `threshold`.
    pub fn recompress(&mut self, plain: &[u8], threshold: usize) -> Option<SharedFrame> {
        let (opcode, payload) = data_frame_payload(plain)?;
        (payload.len() >= threshold).then(|| self.frame(opcode, payload))
    }

    /// `payload` as one raw DEFLATE stream ending in a final block, then one `00` byte.
    fn deflate(&mut self, payload: &[u8]) -> &[u8] {
        let bound = self.compressor.deflate_compress_bound(payload.len());
        self.scratch.clear();
        self.scratch.resize(bound + 1, 0);
        // The bound always fits the output: libdeflate fails only on a smaller buffer.
        let written = self.compressor.deflate_compress(payload, &mut self.scratch[..bound]).unwrap_or(0);
        self.scratch[written] = 0x00;
        &self.scratch[..written + 1]
    }
}

/// The opcode and payload of a complete, unfragmented, uncompressed server data frame.
fn data_frame_payload(frame: &[u8]) -> Option<(OpCode, &[u8])> {
    let (&first, rest) = frame.split_first()?;
    let opcode = match first {
        0x81 => OpCode::Data(Data::Text),
        0x82 => OpCode::Data(Data::Binary),
        _ => return None,
    };
    let (&second, rest) = rest.split_first()?;
    let (length, rest) = match second & 0x7f {
        126 => (u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize, &rest[2..]),
        127 => (usize::try_from(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?)).ok()?, &rest[8..]),
        short => (short as usize, rest),
    };
    (second & 0x80 == 0 && rest.len() == length).then_some((opcode, rest))
}

/// Why a compressed client message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// It inflates to more than the message limit.
    #[error("message too big once inflated")]
    TooBig,
    /// It is not valid DEFLATE data.
    #[error("invalid compressed data")]
    Corrupt,
}

/// Inflates client messages; one per worker (clients without context takeover) or one per
/// connection that keeps its context.
pub struct Inflater {
    stream: Decompress,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater { stream: Decompress::new(false) }
    }
}

impl Inflater {
    /// Inflates one message into `out` (cleared first), never past `max` bytes.
    /// `keep_context`: the client takes its context over from message to message.
    pub fn inflate(
        &mut self,
        compressed: &[u8],
        out: &mut Vec<u8>,
        max: usize,
        keep_context: bool,
    ) -> Result<(), InflateError> {
        if !keep_context {
            self.stream.reset(false);
        }
        out.clear();
        out.reserve((compressed.len() * 4).max(64).min(max.saturating_add(1)));
        let ended = self.inflate_part(compressed, out, max)? || self.inflate_part(&SYNC_TAIL, out, max)?;
        if ended {
            // A client that ended its stream (BFINAL) starts the next message afresh.
            self.stream.reset(false);
        }
        Ok(())
    }

    /// Feeds `input`; true when the DEFLATE stream ended (a final block).
    fn inflate_part(&mut self, input: &[u8], out: &mut Vec<u8>, max: usize) -> Result<bool, InflateError> {
        let mut consumed = 0;
        loop {
            let (in_before, out_before) = (self.stream.total_in(), out.len());
            let status = self
                .stream
                .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            consumed += (self.stream.total_in() - in_before) as usize;
            if out.len() > max {
                return Err(InflateError::TooBig);
            }
            if status == Status::StreamEnd {
                return Ok(true);
            }
            if out.len() < out.capacity() {
                // Stopped with room to spare: it wants more input, or it is stuck.
                if consumed == input.len() {
                    return Ok(false);
                }
                if out.len() == out_before && self.stream.total_in() == in_before {
                    return Err(InflateError::Corrupt);
                }
                continue;
            }
            // Full: room for at most one byte past the limit, enough to tell a bomb.
            let target = (out.capacity() * 2).min(max.saturating_add(1));
            if target <= out.len() {
                return Err(InflateError::TooBig);
            }
            out.reserve_exact(target - out.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame;
    use flate2::{Compress, Compression, FlushCompress};

    fn round_trip(payload: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
        let compressed = Deflater::default().frame(OpCode::Data(Data::Text), payload);
        let as_plain = [&[0x81u8][..], &compressed[1..]].concat();
        let (_, body) = data_frame_payload(&as_plain).unwrap();
        let mut out = Vec::new();
        Inflater::default().inflate(body, &mut out, max, false).map(|()| out)
    }

    #[test]
    fn frames_carry_rsv1_and_inflate_back() {
        let text = br#"{"cmd":"chat","param":{"text":"hello hello hello hello hello hello"}}"#.repeat(20);
        let compressed = Deflater::default().frame(OpCode::Data(Data::Text), &text);
        assert_eq!(compressed[0], 0xC1, "FIN, RSV1, text");
        assert!(compressed.len() < text.len() / 4, "{} of {}", compressed.len(), text.len());
        assert_eq!(round_trip(&text, 1 << 20).unwrap(), text);
        assert_eq!(round_trip(b"", 10).unwrap(), b"");
    }

    #[test]
    fn recompression_takes_only_plain_data_frames_over_the_threshold() {
        let mut deflater = Deflater::default();
        let big = frame::text(&[b'a'; 300]);
        assert_eq!(deflater.recompress(&big, 128).map(|f| f[0]), Some(0xC1));
        assert!(deflater.recompress(&big, 301).is_none());
        assert!(deflater.recompress(&frame::ping(), 0).is_none());
        assert!(deflater.recompress(&big[..100], 0).is_none(), "a truncated frame");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let bomb = vec![0u8; 10 << 20];
        assert_eq!(round_trip(&bomb, 65_536), Err(InflateError::TooBig));
        assert_eq!(round_trip(&bomb[..65_536], 65_536).map(|v| v.len()), Ok(65_536));
        let mut out = Vec::new();
        assert_eq!(Inflater::default().inflate(&[0xff, 0xff, 0xff], &mut out, 1000, false), Err(InflateError::Corrupt));
    }

    #[test]
    fn context_takeover_inflates_a_stream_of_messages() {
        let mut client = Compress::new(Compression::new(6), false);
        let mut inflater = Inflater::default();
        let mut out = Vec::new();
        for _ in 0..3 {
            let mut compressed = Vec::with_capacity(1024);
            client.compress_vec(b"the same words again and again", &mut compressed, FlushCompress::Sync).unwrap();
            compressed.truncate(compressed.len() - 4);
            inflater.inflate(&compressed, &mut out, 1000, true).unwrap();
            assert_eq!(out, b"the same words again and again");
        }
    }
}
