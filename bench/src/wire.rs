//! The WebSocket wire format as the load generator needs it: the client's upgrade request,
//! checking the server's `101` answer, masked client frames, and scanning unmasked server
//! frame headers without copying or allocating.

/// The fixed handshake key (RFC 6455's example) and the accept value a server must answer.
const HANDSHAKE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const EXPECTED_ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub const OPCODE_TEXT: u8 = 0x1;
pub const OPCODE_CLOSE: u8 = 0x8;
pub const OPCODE_PING: u8 = 0x9;
pub const OPCODE_PONG: u8 = 0xA;

/// The bytes of an HTTP/1.1 upgrade request for `path` (which may carry a query).
pub fn upgrade_request(host: &str, path: &str) -> Vec<u8> {
    upgrade_request_offering(host, path, None)
}

/// The same, offering `extensions` (`Sec-WebSocket-Extensions`).
pub fn upgrade_request_offering(host: &str, path: &str, extensions: Option<&str>) -> Vec<u8> {
    let offer = extensions.map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n")).unwrap_or_default();
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .into_bytes()
}

/// What the start of the inbound bytes says about the upgrade.
#[derive(Debug, PartialEq, Eq)]
pub enum UpgradeReply {
    /// The header is not complete yet.
    Incomplete,
    /// `101` with the right accept value; the header takes this many bytes.
    Accepted(usize),
    /// Anything else: the status line, for the error message.
    Refused(String),
}

/// Parses the server's answer to [`upgrade_request`].
pub fn parse_upgrade_reply(bytes: &[u8]) -> UpgradeReply {
    let Some(end) = memchr::memmem::find(bytes, b"\r\n\r\n") else {
        return if bytes.len() > 16 * 1024 {
            UpgradeReply::Refused("response header too long".into())
        } else {
            UpgradeReply::Incomplete
        };
    };
    let header = &bytes[..end];
    let status_line = header.split(|&b| b == b'\r').next().unwrap_or_default();
    let switching = status_line.starts_with(b"HTTP/1.1 101");
    if switching && memchr::memmem::find(header, EXPECTED_ACCEPT).is_some() {
        UpgradeReply::Accepted(end + 4)
    } else {
        UpgradeReply::Refused(String::from_utf8_lossy(status_line).into_owned())
    }
}

/// Appends one masked, final client frame carrying `payload` to `out` (the server crate's
/// one client-frame encoder).
pub fn encode_client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    switchyard::wire::frame::put_client_frame(out, 0x80 | opcode, payload, mask);
}

/// The close code a close frame's payload carries (None when it carries none).
pub fn close_code(payload: &[u8]) -> Option<u16> {
    match payload {
        [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
        _ => None,
    }
}

/// The policy-violation close code switchyard (and the peer) send a slow consumer.
pub const CLOSE_POLICY: u16 = 1008;

/// Bytes a server frame with a payload of `payload_len` bytes takes on the wire.
pub fn server_frame_len(payload_len: usize) -> usize {
    let header = match payload_len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    header + payload_len
}

/// One server frame, borrowed from the inbound buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub opcode: u8,
    /// RSV1: a permessage-deflate message, payload compressed.
    pub compressed: bool,
    pub payload: &'a [u8],
}

/// The result of scanning for the next frame.
pub enum Scan<'a> {
    /// A complete frame and the number of bytes it takes.
    Frame(Frame<'a>, usize),
    /// More bytes are needed; at least this many in total.
    NeedMore(usize),
    /// The server sent a masked frame or a length that makes no sense.
    Invalid(&'static str),
}

/// Reads one frame header at the start of `bytes` (server frames are never masked).
#[inline]
pub fn scan_frame(bytes: &[u8]) -> Scan<'_> {
    let [first, second, ..] = *bytes else {
        return Scan::NeedMore(2);
    };
    if second & 0x80 != 0 {
        return Scan::Invalid("masked server frame");
    }
    let (header_len, payload_len) = match second & 0x7F {
        126 => match bytes.get(2..4) {
            Some(ext) => (4, u16::from_be_bytes([ext[0], ext[1]]) as u64),
            None => return Scan::NeedMore(4),
        },
        127 => match bytes.get(2..10).and_then(|ext| <[u8; 8]>::try_from(ext).ok()) {
            Some(ext) => (10, u64::from_be_bytes(ext)),
            None => return Scan::NeedMore(10),
        },
        short => (2, short as u64),
    };
    if payload_len > (1 << 31) {
        return Scan::Invalid("frame longer than 2 GiB");
    }
    let total = header_len + payload_len as usize;
    match bytes.get(header_len..total) {
        Some(payload) => Scan::Frame(Frame { opcode: first & 0x0F, compressed: first & 0x40 != 0, payload }, total),
        None => Scan::NeedMore(total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frame_round_trips() {
        let mut out = Vec::new();
        encode_client_frame(&mut out, OPCODE_TEXT, b"hello", [1, 2, 3, 4]);
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x85);
        let mut payload = out[6..].to_vec();
        switchyard::wire::frame::apply_mask(&mut payload, [1, 2, 3, 4]);
        assert_eq!(payload, b"hello");
    }

    #[test]
    fn scans_short_and_extended_frames() {
        let mut bytes = vec![0x81, 3, b'a', b'b', b'c', 0x82, 126, 0, 200];
        bytes.extend(std::iter::repeat_n(7u8, 200));
        let Scan::Frame(first, used) = scan_frame(&bytes) else { panic!("first frame") };
        assert_eq!((first.opcode, first.payload, used), (OPCODE_TEXT, &b"abc"[..], 5));
        let Scan::Frame(second, used) = scan_frame(&bytes[5..]) else { panic!("second frame") };
        assert_eq!((second.opcode, second.payload.len(), used), (0x2, 200, 204));
        assert!(matches!(scan_frame(&bytes[5..100]), Scan::NeedMore(204)));
    }

    #[test]
    fn reads_close_codes_and_frame_lengths() {
        assert_eq!(close_code(&[0x03, 0xF0, b's', b'l']), Some(CLOSE_POLICY));
        assert_eq!(close_code(&[0x03]), None);
        assert_eq!(close_code(&[]), None);
        assert_eq!(server_frame_len(125), 127);
        assert_eq!(server_frame_len(126), 130);
        assert_eq!(server_frame_len(70_000), 70_010);
    }

    #[test]
    fn checks_the_upgrade_reply() {
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x00";
        assert_eq!(parse_upgrade_reply(ok), UpgradeReply::Accepted(ok.len() - 2));
        assert_eq!(parse_upgrade_reply(b"HTTP/1.1 101"), UpgradeReply::Incomplete);
        let refused = parse_upgrade_reply(b"HTTP/1.1 404 Not Found\r\n\r\n");
        assert_eq!(refused, UpgradeReply::Refused("HTTP/1.1 404 Not Found".into()));
    }
}
