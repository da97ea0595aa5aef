//! The wire on both sides of a fuzzed connection: building client frames (masked, any
//! header bits, any length encoding) and checking, incrementally, that what the server
//! wrote is a `101` response followed by valid server frames: FIN set, RSV bits clear,
//! known opcodes, unmasked, minimal length encoding, control frames of at most 125 bytes,
//! text frames in UTF-8 (and JSON objects with a `cmd` on a JSON route), no binary frame on
//! a JSON route, a valid close frame at most once and nothing after it.

/// The `Sec-WebSocket-Key` every fuzzed upgrade uses, and the accept it must get back.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid upgrade request for `target` (path and query).
pub fn upgrade_request(target: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// Masks or unmasks `payload` in place.
pub use switchyard::wire::frame::apply_mask as mask;

/// A client frame with first byte `b0` (FIN, RSV, opcode), the shortest length encoding,
/// masked with `key` (or unmasked when `None`).
pub fn client_frame(b0: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    if let Some(key) = key {
        return switchyard::wire::frame::client_frame_masked(b0, payload, key);
    }
    let form = match payload.len() {
        0..=125 => LengthForm::Short,
        126..=65535 => LengthForm::Medium,
        _ => LengthForm::Long,
    };
    client_frame_with(b0, form, payload.len() as u64, payload, key)
}

#[derive(Clone, Copy, Debug)]
pub enum LengthForm {
    Short,
    Medium,
    Long,
}

/// A client frame whose header declares `declared` bytes in length form `form` (truncated
/// to fit the form), whatever `payload` really holds.
pub fn client_frame_with(b0: u8, form: LengthForm, declared: u64, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(b0);
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match form {
        LengthForm::Short => out.push(mask_bit | (declared as u8 & 0x7f)),
        LengthForm::Medium => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(declared as u16).to_be_bytes());
        }
        LengthForm::Long => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&declared.to_be_bytes());
        }
    }
    let start = out.len();
    if let Some(key) = key {
        out.extend_from_slice(&key);
    }
    let body = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = key {
        mask(&mut out[body..], key);
    }
    debug_assert!(out.len() >= start);
    out
}

/// Close codes a server may put in its own close frame.
pub fn server_may_send(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the end of the HTTP response head.
    Head,
    Frames,
    /// A close frame was read: nothing may follow.
    Closed,
}

/// What one server frame was (for the caller's own checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Text(String),
    Binary(usize),
    Ping,
    Pong,
    Close(Option<u16>),
}

/// The server's byte stream to one client, checked as it arrives.
pub struct ServerStream {
    json: bool,
    buffer: Vec<u8>,
    state: State,
    /// Every frame read so far, in order.
    pub seen: Vec<Seen>,
    /// Total bytes received.
    pub received: usize,
}

impl ServerStream {
    /// A stream from a JSON route (`json`) or the raw echo route.
    pub fn new(json: bool) -> Self {
        ServerStream { json, buffer: Vec::new(), state: State::Head, seen: Vec::new(), received: 0 }
    }

    /// Whether the server sent a close frame.
    pub fn closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the stream ends on a frame boundary (no partial frame or head pending).
    pub fn at_boundary(&self) -> bool {
        self.buffer.is_empty() && self.state != State::Head
    }

    /// Whether the upgrade was answered.
    pub fn upgraded(&self) -> bool {
        self.state != State::Head
    }

    /// Takes more bytes from the server; returns what is wrong with them, if anything.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.received += bytes.len();
        self.buffer.extend_from_slice(bytes);
        loop {
            match self.state {
                State::Head => {
                    let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if self.buffer.len() > 4096 {
                            return Err("response head longer than 4 KiB".into());
                        }
                        return Ok(());
                    };
                    let head = String::from_utf8_lossy(&self.buffer[..end + 4]).into_owned();
                    if !head.starts_with("HTTP/1.1 101 Switching Protocols\r\n") {
                        return Err(format!("not a 101 response: {head:?}"));
                    }
                    if !head.contains(&format!("\r\nSec-WebSocket-Accept: {ACCEPT}\r\n")) {
                        return Err(format!("wrong or missing Sec-WebSocket-Accept: {head:?}"));
                    }
                    self.buffer.drain(..end + 4);
                    self.state = State::Frames;
                }
                State::Closed => {
                    if !self.buffer.is_empty() {
                        return Err(format!(
                            "{} bytes after the close frame: {:02x?}",
                            self.buffer.len(),
                            short(&self.buffer)
                        ));
                    }
                    return Ok(());
                }
                State::Frames => match self.next_frame()? {
                    Some(()) => {}
                    None => return Ok(()),
                },
            }
        }
    }

    /// Reads and checks one complete frame off the buffer, if there is one.
    fn next_frame(&mut self) -> Result<Option<()>, String> {
        let b = &self.buffer;
        if b.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (b[0], b[1]);
        let header = short(&b[..b.len().min(10)]);
        if b0 & 0x80 == 0 {
            return Err(format!("server frame without FIN: {header:02x?}"));
        }
        if b0 & 0x70 != 0 {
            return Err(format!("server frame with RSV bits: {header:02x?}"));
        }
        if b1 & 0x80 != 0 {
            return Err(format!("masked server frame: {header:02x?}"));
        }
        let opcode = b0 & 0x0f;
        let (len, header_len) = match b1 & 0x7f {
            126 => {
                if b.len() < 4 {
                    return Ok(None);
                }
                let len = u64::from(u16::from_be_bytes([b[2], b[3]]));
                if len < 126 {
                    return Err(format!("non-minimal 16-bit length {len}"));
                }
                (len, 4)
            }
            127 => {
                if b.len() < 10 {
                    return Ok(None);
                }
                let mut word = [0u8; 8];
                word.copy_from_slice(&b[2..10]);
                let len = u64::from_be_bytes(word);
                if len < 65536 || len >> 63 != 0 {
                    return Err(format!("non-minimal or invalid 64-bit length {len}"));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        if opcode >= 8 && len > 125 {
            return Err(format!("control frame of {len} bytes"));
        }
        if len > 1 << 30 {
            return Err(format!("absurd frame length {len}"));
        }
        let total = header_len + len as usize;
        if b.len() < total {
            return Ok(None);
        }
        let payload = &b[header_len..total];
        let seen = match opcode {
            0x1 => {
                let text = std::str::from_utf8(payload).map_err(|e| format!("text frame not UTF-8: {e}"))?;
                if self.json {
                    check_json(text)?;
                }
                Seen::Text(text.to_string())
            }
            0x2 if self.json => return Err("binary frame on a JSON route".into()),
            0x2 => Seen::Binary(payload.len()),
            0x8 => {
                let code = match payload {
                    [] => None,
                    [_] => return Err("close frame with a one-byte payload".into()),
                    [hi, lo, reason @ ..] => {
                        let code = u16::from_be_bytes([*hi, *lo]);
                        if !server_may_send(code) {
                            return Err(format!("close frame with code {code}"));
                        }
                        std::str::from_utf8(reason).map_err(|e| format!("close reason not UTF-8: {e}"))?;
                        Some(code)
                    }
                };
                self.state = State::Closed;
                Seen::Close(code)
            }
            0x9 => Seen::Ping,
            0xA => Seen::Pong,
            0x0 => return Err("continuation frame from a server that never fragments".into()),
            other => return Err(format!("reserved opcode {other:#x}")),
        };
        self.seen.push(seen);
        self.buffer.drain(..total);
        Ok(Some(()))
    }
}

/// A server message on a JSON route: a compact JSON object with a string `cmd`.
fn check_json(text: &str) -> Result<(), String> {
    // No recursion limit here: the server may echo a `param` nested as deep as its own
    // parser allows, inside one more level of envelope.
    let mut deserializer = serde_json::Deserializer::from_str(text);
    deserializer.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut deserializer)
        .and_then(|value: serde_json::Value| deserializer.end().map(|()| value))
        .map_err(|e| format!("text frame not JSON ({e}): {:?}", String::from_utf8_lossy(short(text.as_bytes()))))?;
    let object = value.as_object().ok_or_else(|| format!("JSON message not an object: {text:.200}"))?;
    if !object.get("cmd").is_some_and(|c| c.is_string()) {
        return Err(format!("JSON message without a string cmd: {text:.200}"));
    }
    if object.get("cmd").and_then(|c| c.as_str()) == Some("error")
        && !object.get("param").and_then(|p| p.get("message")).is_some_and(|m| m.is_string())
    {
        return Err(format!("error message without param.message: {text:.200}"));
    }
    Ok(())
}

fn short(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(64)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upgraded(json: bool) -> ServerStream {
        let mut stream = ServerStream::new(json);
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        stream.push(head.as_bytes()).unwrap();
        stream
    }

    #[test]
    fn accepts_valid_frames_split_anywhere() {
        let mut bytes = vec![0x81, 12];
        bytes.extend_from_slice(br#"{"cmd":"x1"}"#);
        bytes.extend_from_slice(&[0x89, 0, 0x8A, 1, 7, 0x88, 2, 0x03, 0xE8]);
        for split in 0..bytes.len() {
            let mut stream = upgraded(true);
            stream.push(&bytes[..split]).unwrap();
            stream.push(&bytes[split..]).unwrap();
            assert!(stream.closed() && stream.at_boundary());
            assert_eq!(stream.seen.len(), 4);
        }
    }

    #[test]
    fn rejects_bad_frames() {
        let cases: [&[u8]; 9] = [
            &[0x01, 0],                        // no FIN
            &[0xC1, 0],                        // RSV1
            &[0x81, 0x80, 0, 0, 0, 0],         // masked
            &[0x83, 0],                        // reserved opcode
            &[0x82, 0],                        // binary on JSON route
            &[0x81, 1, 0xff],                  // not UTF-8
            &[0x81, 1, b'x'],                  // not JSON
            &[0x81, 126, 0, 5, 1, 2, 3, 4, 5], // non-minimal length
            &[0x88, 0, 0x89, 0],               // after close
        ];
        for case in cases {
            assert!(upgraded(true).push(case).is_err(), "{case:02x?}");
        }
        assert!(ServerStream::new(true).push(b"HTTP/1.1 400 Bad Request\r\n\r\n").is_err());
    }

    #[test]
    fn client_frames_round_trip_their_mask() {
        let frame = client_frame(0x81, b"hello", Some([1, 2, 3, 4]));
        assert_eq!(frame[..2], [0x81, 0x85]);
        let mut payload = frame[6..].to_vec();
        mask(&mut payload, [1, 2, 3, 4]);
        assert_eq!(payload, b"hello");
    }
}
