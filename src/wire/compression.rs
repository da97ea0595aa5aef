//! The permessage-deflate codec (RFC 7692 section 7.2): a whole message deflated into one
//! complete server frame with RSV1 set, and a client message inflated with a bounded output.
//!
//! Compression is `libdeflater` (libdeflate) at level 1, inflation `flate2` on the zlib-rs
//! backend (README "Compression" says why: libdeflate compresses a whole message fastest
//! at the same size, zlib-rs streams, which a client keeping its context needs). libdeflate
//! always uses a 32 KiB window: a connection that asked for a smaller one
//! (`server_max_window_bits` below 15) gets its messages compressed by `flate2` on zlib-rs
//! with that window (level 4, about libdeflate's size: one compressor per window size, made
//! at first need). Every message is a fresh raw DEFLATE stream (the server never takes over
//! context): it ends with a final block (BFINAL), to which one `00` byte is appended, the rest of an
//! empty stored block once RFC 7692 7.2.1 removes its `00 00 ff ff` (a receiver that stops
//! at the final block ignores it; one that resets and reads on finds an empty block).
//! Inflation keeps or resets its context as the caller says, and never writes more than the
//! caller's limit: a decompression bomb stops at the limit plus one byte. Owns the codec
//! only: which connection compresses, and where the inflaters live, is the server's
//! business. No I/O.

use bytes::{BufMut, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use libdeflater::{CompressionLvl, Compressor};
use tungstenite::protocol::frame::coding::{Data, OpCode};

use super::deflate::{MAX_WINDOW_BITS, MIN_COMPRESS_WINDOW_BITS};
use super::frame::{put_header, SharedFrame, MAX_SERVER_HEADER};

/// The tail a sync flush ends with, removed by the sender and put back by the receiver.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The zlib-rs level for windows below 15 bits: about libdeflate level 1's size.
const WINDOWED_LEVEL: u32 = 4;

/// How many window sizes below 15 bits the server compresses with (9 to 14).
const WINDOWED_SIZES: usize = (MAX_WINDOW_BITS - MIN_COMPRESS_WINDOW_BITS) as usize;

/// Deflates whole messages; one per worker, reused for every message.
pub struct Deflater {
    compressor: Compressor,
    /// zlib-rs compressors for the windows below 15 bits, at `bits - 9`, made at first need.
    windowed: [Option<Box<Compress>>; WINDOWED_SIZES],
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
        Deflater { compressor: Compressor::new(level), windowed: Default::default(), scratch: Vec::new() }
    }
}

/// The largest scratch buffer a deflater keeps between messages.
const SCRATCH_KEEP: usize = 256 * 1024;

impl Deflater {
    /// One complete server frame (FIN and RSV1 set) carrying `payload` compressed with a
    /// window of `window_bits` (9 to 15; 15 is the negotiated default).
    pub fn frame(&mut self, opcode: OpCode, payload: &[u8], window_bits: u8) -> SharedFrame {
        let compressed = self.deflate(payload, window_bits);
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
    pub fn recompress(&mut self, plain: &[u8], threshold: usize, window_bits: u8) -> Option<SharedFrame> {
        let (opcode, payload) = data_frame_payload(plain)?;
        (payload.len() >= threshold).then(|| self.frame(opcode, payload, window_bits))
    }

    /// `payload` as one raw DEFLATE stream ending in a final block, then one `00` byte.
    fn deflate(&mut self, payload: &[u8], window_bits: u8) -> &[u8] {
        if window_bits < MAX_WINDOW_BITS {
            return self.deflate_windowed(payload, window_bits);
        }
        let bound = self.compressor.deflate_compress_bound(payload.len());
        self.scratch.clear();
        self.scratch.resize(bound + 1, 0);
        // The bound always fits the output: libdeflate fails only on a smaller buffer.
        let written = self.compressor.deflate_compress(payload, &mut self.scratch[..bound]).unwrap_or(0);
        self.scratch[written] = 0x00;
        &self.scratch[..written + 1]
    }

    /// `deflate` with zlib-rs and a window of `window_bits` (below 15; under 9 counts as 9,
    /// whose matches never reach back more than 250 bytes: zlib keeps 262 bytes of lookahead).
    fn deflate_windowed(&mut self, payload: &[u8], window_bits: u8) -> &[u8] {
        let bits = window_bits.clamp(MIN_COMPRESS_WINDOW_BITS, MAX_WINDOW_BITS - 1);
        let compressor = self.windowed[usize::from(bits - MIN_COMPRESS_WINDOW_BITS)].get_or_insert_with(|| {
            Box::new(Compress::new_with_window_bits(Compression::new(WINDOWED_LEVEL), false, bits))
        });
        compressor.reset();
        self.scratch.clear();
        self.scratch.reserve(payload.len() + payload.len() / 8 + 64);
        loop {
            let consumed = compressor.total_in() as usize;
            let input = payload.get(consumed..).unwrap_or_default();
            match compressor.compress_vec(input, &mut self.scratch, FlushCompress::Finish) {
                // An error only comes of a misused stream (never here): the frame then fails
                // to inflate at the client (1007), as any corrupt frame would.
                Ok(Status::StreamEnd) | Err(_) => break,
                Ok(_) => self.scratch.reserve(self.scratch.capacity().max(64)),
            }
        }
        self.scratch.push(0x00);
        &self.scratch
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
pub(crate) mod tests {
    use super::*;
    use crate::wire::frame;
    use flate2::{Compress, Compression, FlushCompress};

    fn round_trip(payload: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
        let compressed = Deflater::default().frame(OpCode::Data(Data::Text), payload, 15);
        let as_plain = [&[0x81u8][..], &compressed[1..]].concat();
        let (_, body) = data_frame_payload(&as_plain).unwrap();
        let mut out = Vec::new();
        Inflater::default().inflate(body, &mut out, max, false).map(|()| out)
    }

    #[test]
    fn frames_carry_rsv1_and_inflate_back() {
        let text = br#"{"cmd":"chat","param":{"text":"hello hello hello hello hello hello"}}"#.repeat(20);
        let compressed = Deflater::default().frame(OpCode::Data(Data::Text), &text, 15);
        assert_eq!(compressed[0], 0xC1, "FIN, RSV1, text");
        assert!(compressed.len() < text.len() / 4, "{} of {}", compressed.len(), text.len());
        assert_eq!(round_trip(&text, 1 << 20).unwrap(), text);
        assert_eq!(round_trip(b"", 10).unwrap(), b"");
    }

    #[test]
    fn recompression_takes_only_plain_data_frames_over_the_threshold() {
        let mut deflater = Deflater::default();
        let big = frame::text(&[b'a'; 300]);
        assert_eq!(deflater.recompress(&big, 128, 15).map(|f| f[0]), Some(0xC1));
        assert_eq!(deflater.recompress(&big, 128, 10).map(|f| f[0]), Some(0xC1));
        assert!(deflater.recompress(&big, 301, 15).is_none());
        assert!(deflater.recompress(&frame::ping(), 0, 15).is_none());
        assert!(deflater.recompress(&big[..100], 0, 15).is_none(), "a truncated frame");
    }

    /// Text that repeats itself 4 KiB back (a match a small window cannot reach).
    pub(crate) fn far_repeats() -> Vec<u8> {
        let words: Vec<String> = (0..700u32).map(|i| format!("{:x}", i.wrapping_mul(2_654_435_761))).collect();
        words.join(" ").into_bytes().repeat(3)
    }

    #[test]
    fn every_window_size_inflates_back() {
        // That no match reaches past the window is checked against the system zlib in
        // tests/compression.rs (zlib-rs reads such matches from a larger buffer).
        let text = far_repeats();
        let mut deflater = Deflater::default();
        let mut sizes = Vec::new();
        for bits in 9..=15u8 {
            let frame = deflater.frame(OpCode::Data(Data::Text), &text, bits);
            assert_eq!(frame[0], 0xC1);
            let mut out = Vec::new();
            Inflater::default().inflate(&frame[4..], &mut out, 1 << 20, false).unwrap();
            assert_eq!(out, text, "{bits} bits");
            sizes.push(frame.len());
        }
        assert!(sizes[6] < sizes[0] / 2, "the 32 KiB window reaches the far repeats: {sizes:?}");
        let eight = deflater.frame(OpCode::Data(Data::Text), &text, 8);
        assert_eq!(eight, deflater.frame(OpCode::Data(Data::Text), &text, 9), "8 bits is served by 9");
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
