//! WebSocket frames as bytes: server frames encoded once (FIN set, unmasked, so the same
//! bytes serve every recipient) into a `SharedFrame`, the masking transform, and the masked
//! client-frame encoder that tests, benches, fuzzers and the load generator share.
//!
//! Owns the byte layout only: no I/O, no state, no JSON. Reading client frames (checks,
//! reassembly) is the server's `frames.rs`.

use bytes::{BufMut, Bytes, BytesMut};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// The longest header of a server frame (no mask): 2 + 8 bytes.
pub const MAX_SERVER_HEADER: usize = 10;

/// A complete server frame, encoded once and shared by every out-queue that sends it.
pub type SharedFrame = Bytes;

/// Unmasks (or masks) `payload` in place, eight bytes at a time.
pub fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Writes a server frame header (FIN set, no mask) for `opcode` and `length`: 2, 4 or 10
/// bytes (RFC 6455 5.2: 7-bit length, or 126 and 16 bits, or 127 and 64 bits).
#[inline]
pub fn put_header(out: &mut impl BufMut, opcode: OpCode, length: usize) {
    let first = 0x80 | u8::from(opcode);
    if length < 126 {
        out.put_slice(&[first, length as u8]);
    } else if let Ok(short) = u16::try_from(length) {
        let [high, low] = short.to_be_bytes();
        out.put_slice(&[first, 126, high, low]);
    } else {
        let mut header = [0u8; MAX_SERVER_HEADER];
        header[0] = first;
        header[1] = 127;
        header[2..].copy_from_slice(&(length as u64).to_be_bytes());
        out.put_slice(&header);
    }
}

/// Encodes one complete server frame.
pub fn encode(opcode: OpCode, payload: &[u8]) -> SharedFrame {
    let mut out = BytesMut::with_capacity(payload.len() + MAX_SERVER_HEADER);
    put_header(&mut out, opcode, payload.len());
    out.put_slice(payload);
    out.freeze()
}

/// A text frame.
pub fn text(payload: &[u8]) -> SharedFrame {
    encode(OpCode::Data(Data::Text), payload)
}

/// The payload of a complete, unfragmented, unmasked text frame (as `text` makes it),
/// sharing its bytes; `None` for anything else.
pub fn text_payload(frame: &SharedFrame) -> Option<SharedFrame> {
    let (&first, rest) = frame.split_first()?;
    let (&second, _) = rest.split_first()?;
    if first != 0x81 || second & 0x80 != 0 {
        return None;
    }
    let (header, length) = match second {
        126 => (4, u64::from(u16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]))),
        127 => (10, u64::from_be_bytes(frame.get(2..10)?.try_into().ok()?)),
        n => (2, u64::from(n)),
    };
    (frame.len() as u64 == header as u64 + length).then(|| frame.slice(header..))
}

/// A close frame with a status code and a short reason.
pub fn close(code: u16, reason: &str) -> SharedFrame {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(123)]);
    encode(OpCode::Control(Control::Close), &payload)
}

/// A pong answering a ping's payload.
pub fn pong(payload: &[u8]) -> SharedFrame {
    encode(OpCode::Control(Control::Pong), payload)
}

/// The server's heartbeat ping (one shared frame for every connection).
pub fn ping() -> SharedFrame {
    encode(OpCode::Control(Control::Ping), b"")
}

/// The mask `client_frame` uses: fixed, so tests are reproducible.
pub const TEST_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with `first_byte` (FIN, RSV and opcode bits) as the first byte, as a
/// client would send it (for tests, benches, fuzzers and load generators; the server never
/// sends masked frames).
pub fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    client_frame_masked(first_byte, payload, TEST_MASK)
}

/// `client_frame` with a chosen mask (a zero mask makes masking free: floods in tests).
pub fn client_frame_masked(first_byte: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    put_client_frame(&mut frame, first_byte, payload, mask);
    frame
}

/// Appends a masked client frame to `out` (no allocation once `out` has room: load generators).
pub fn put_client_frame(frame: &mut Vec<u8>, first_byte: u8, payload: &[u8], mask: [u8; 4]) {
    frame.push(first_byte);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    let start = frame.len();
    frame.extend_from_slice(payload);
    apply_mask(&mut frame[start..], mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_is_the_byte_by_byte_xor_at_every_length() {
        let mask = [0x5a, 0x17, 0xc3, 0x9e];
        for length in 0..100 {
            let plain: Vec<u8> = (0..length).map(|i| (i * 7 + 3) as u8).collect();
            let mut masked = plain.clone();
            apply_mask(&mut masked, mask);
            let expected: Vec<u8> = plain.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(masked, expected, "{length}");
            apply_mask(&mut masked, mask);
            assert_eq!(masked, plain, "{length}");
        }
    }

    #[test]
    fn server_frames_have_the_right_headers() {
        assert_eq!(&text(b"hi")[..], &[0x81, 2, b'h', b'i']);
        let long = text(&[b'a'; 300]);
        assert_eq!(&long[..4], &[0x81, 126, 1, 44]);
        let huge = text(&vec![b'a'; 70000]);
        assert_eq!(&huge[..2], &[0x81, 127]);
        assert_eq!(&close(1001, "bye")[..], &[0x88, 5, 0x03, 0xE9, b'b', b'y', b'e']);
    }

    #[test]
    fn headers_are_the_ones_tungstenite_writes() {
        use tungstenite::protocol::frame::FrameHeader;
        let opcodes = [OpCode::Data(Data::Text), OpCode::Data(Data::Binary), OpCode::Control(Control::Pong)];
        for opcode in opcodes {
            for length in [0usize, 1, 125, 126, 127, 300, 65_535, 65_536, 1 << 32] {
                let mut ours = Vec::new();
                put_header(&mut ours, opcode, length);
                let mut theirs = std::io::Cursor::new(Vec::new());
                FrameHeader { opcode, ..FrameHeader::default() }.format(length as u64, &mut theirs).unwrap();
                assert_eq!(ours, theirs.into_inner(), "{opcode} {length}");
            }
        }
    }

    #[test]
    fn text_payloads_are_shared_slices_of_whole_text_frames() {
        for len in [0, 2, 125, 126, 300, 70000] {
            let payload = vec![b'a'; len];
            assert_eq!(text_payload(&text(&payload)).as_deref(), Some(&payload[..]), "{len}");
        }
        assert_eq!(text_payload(&close(1000, "x")), None);
        assert_eq!(text_payload(&Bytes::from_static(&[0x81, 3, b'a'])), None, "short");
        assert_eq!(text_payload(&Bytes::from_static(&[0x81, 0x81, 0, 0, 0, 0, b'a'])), None, "masked");
        assert_eq!(text_payload(&Bytes::from_static(&[0x81])), None);
    }

    #[test]
    fn client_frames_are_masked_and_sized() {
        let frame = client_frame(0x81, b"hi");
        assert_eq!(&frame[..2], &[0x81, 0x82]);
        let mut payload = frame[6..].to_vec();
        apply_mask(&mut payload, TEST_MASK);
        assert_eq!(payload, b"hi");
        assert_eq!(&client_frame(0x82, &[0; 300])[..4], &[0x82, 0xfe, 1, 44]);
    }
}
