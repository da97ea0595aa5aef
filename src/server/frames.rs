//! Reading client frames into messages (the encoding of server frames is `wire::frame`).
//!
//! Owns RFC 6455 frame reading on the server side: header parsing (`parse_header`, into tungstenite's `FrameHeader`),
//! unmasking, the checks a server must make (masking, reserved bits and opcodes, control
//! frame rules, fragment order, UTF-8, close codes, the size limit), and reassembly of
//! fragmented messages. A message compressed with permessage-deflate (RSV1 on its first
//! frame, on a connection that negotiated it) is reassembled like any other and handed on
//! still compressed (`FrameEvent::Compressed`): inflating is the session's. It works in place on the bytes the worker read, so a complete frame
//! is never copied; only a frame split across reads is kept, in a per-connection buffer that
//! is freed as soon as the frame completes. It does no I/O and knows nothing of JSON.

use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::wire::frame::{apply_mask, MAX_SERVER_HEADER};

/// What a client frame, or a completed fragmented message, means to the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
    /// A whole permessage-deflate message, still compressed (UTF-8 unchecked).
    Compressed {
        is_text: bool,
        payload: &'a [u8],
    },
    Ping(&'a [u8]),
    Pong,
    /// The client's close frame: its status code and reason, if it gave one.
    Close(Option<(u16, &'a str)>),
}

/// Whether the reader should go on with the next frame.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Flow {
    Continue,
    Stop,
}

/// A client broke the protocol: the close code and reason to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("close {code}: {reason}")]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

impl Violation {
    const fn protocol(reason: &'static str) -> Self {
        Violation { code: 1002, reason }
    }
    const INVALID_UTF8: Violation = Violation { code: 1007, reason: "invalid UTF-8" };
    const TOO_BIG: Violation = Violation { code: 1009, reason: "message too big" };
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Fragmented {
    is_text: bool,
    /// Its first frame had RSV1 (permessage-deflate): the buffer holds compressed bytes.
    compressed: bool,
    buffer: Vec<u8>,
    /// Prefix of `buffer` known to be valid UTF-8 (fail fast on a bad fragment).
    utf8_checked: usize,
}

/// Per-connection read state. Empty (no heap) between messages.
#[derive(Debug, Default)]
pub struct FrameReader {
    /// Bytes of a frame that has not fully arrived yet.
    partial: Vec<u8>,
    fragmented: Option<Box<Fragmented>>,
}

impl FrameReader {
    /// Heap bytes this reader holds (zero while idle).
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub fn heap_bytes(&self) -> usize {
        self.partial.capacity() + self.fragmented.as_ref().map_or(0, |f| f.buffer.capacity() + 48)
    }

    /// Feeds freshly read bytes; calls `on_event` for each complete frame or message.
    /// `input` is modified in place (unmasked). `deflate`: the connection negotiated
    /// permessage-deflate (RSV1 allowed on a message's first frame). On a violation, the
    /// caller must close.
    pub fn feed(
        &mut self,
        input: &mut [u8],
        (max_message, deflate): (usize, bool),
        on_event: &mut dyn FnMut(FrameEvent<'_>) -> Flow,
    ) -> Result<Flow, Violation> {
        if self.partial.is_empty() {
            let (consumed, flow) = self.decode(input, (max_message, deflate), on_event)?;
            if flow == Flow::Continue && consumed < input.len() {
                self.keep_partial(&input[consumed..], max_message);
            }
            return Ok(flow);
        }
        let mut buffer = std::mem::take(&mut self.partial);
        buffer.extend_from_slice(input);
        let (consumed, flow) = self.decode(&mut buffer, (max_message, deflate), on_event)?;
        if flow == Flow::Continue && consumed < buffer.len() {
            if consumed == 0 {
                self.partial = buffer; // the same frame, still arriving: its buffer fits it
            } else {
                self.keep_partial(&buffer[consumed..], max_message); // a new frame: size for it
            }
        }
        Ok(flow)
    }

    /// Keeps the start of an incomplete frame, reserving room for all of it (bounded).
    fn keep_partial(&mut self, rest: &[u8], max_message: usize) {
        let expected = expected_frame_len(rest).unwrap_or(rest.len());
        let reserve = expected.min(max_message + MAX_SERVER_HEADER + 4).max(rest.len());
        let mut buffer = Vec::with_capacity(reserve);
        buffer.extend_from_slice(rest);
        self.partial = buffer;
    }

    /// Decodes every complete frame of `buffer`; returns how many bytes were consumed.
    fn decode(
        &mut self,
        buffer: &mut [u8],
        (max_message, deflate): (usize, bool),
        on_event: &mut dyn FnMut(FrameEvent<'_>) -> Flow,
    ) -> Result<(usize, Flow), Violation> {
        let mut position = 0;
        while position < buffer.len() {
            let (header, length, header_len) = match parse_header(&buffer[position..]) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(violation) => return Err(violation),
            };
            self.check_header(&header, length, max_message, deflate)?;
            // `check_header` bounded `length` by the message limit: this cannot overflow.
            let frame_len = header_len + length as usize;
            if buffer.len() - position < frame_len {
                break;
            }
            let payload = &mut buffer[position + header_len..position + frame_len];
            if let Some(mask) = header.mask {
                apply_mask(payload, mask);
            }
            position += frame_len;
            if self.on_frame(&header, payload, max_message, on_event)? == Flow::Stop {
                return Ok((position, Flow::Stop));
            }
        }
        Ok((position, Flow::Continue))
    }

    /// The checks that need only the header, made before the payload arrives.
    fn check_header(
        &self,
        header: &FrameHeader,
        length: u64,
        max_message: usize,
        deflate: bool,
    ) -> Result<(), Violation> {
        if length > i64::MAX as u64 {
            // RFC 6455 5.2: the most significant bit of a 64-bit length must be 0.
            return Err(Violation::protocol("frame length out of range"));
        }
        // RFC 7692 6: RSV1 marks a compressed message, on its first frame only.
        let first_data = matches!(header.opcode, OpCode::Data(Data::Text | Data::Binary));
        if (header.rsv1 && !(deflate && first_data)) || header.rsv2 || header.rsv3 {
            return Err(Violation::protocol("reserved bits set"));
        }
        if header.mask.is_none() {
            return Err(Violation::protocol("client frames must be masked"));
        }
        match header.opcode {
            OpCode::Control(_) if !header.is_final => Err(Violation::protocol("fragmented control frame")),
            OpCode::Control(_) if length > 125 => Err(Violation::protocol("control frame too long")),
            OpCode::Control(_) => Ok(()),
            OpCode::Data(Data::Continue) if self.fragmented.is_none() => {
                Err(Violation::protocol("continuation without a message"))
            }
            OpCode::Data(Data::Text | Data::Binary) if self.fragmented.is_some() => {
                Err(Violation::protocol("new message inside a fragmented one"))
            }
            OpCode::Data(_) => {
                let so_far = self.fragmented.as_ref().map_or(0, |f| f.buffer.len() as u64);
                if so_far.saturating_add(length) > max_message as u64 {
                    Err(Violation::TOO_BIG)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn on_frame(
        &mut self,
        header: &FrameHeader,
        payload: &[u8],
        max_message: usize,
        on_event: &mut dyn FnMut(FrameEvent<'_>) -> Flow,
    ) -> Result<Flow, Violation> {
        match header.opcode {
            OpCode::Control(Control::Ping) => Ok(on_event(FrameEvent::Ping(payload))),
            OpCode::Control(Control::Pong) => Ok(on_event(FrameEvent::Pong)),
            OpCode::Control(Control::Close) => Ok(on_event(FrameEvent::Close(parse_close(payload)?))),
            OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                Err(Violation::protocol("reserved opcode"))
            }
            OpCode::Data(Data::Continue) => self.continue_message(header.is_final, payload, max_message, on_event),
            OpCode::Data(kind) => {
                let (is_text, compressed) = (kind == Data::Text, header.rsv1);
                if header.is_final {
                    return Ok(on_event(whole_message(is_text, compressed, payload)?));
                }
                let mut fragmented = Box::new(Fragmented {
                    is_text,
                    compressed,
                    buffer: Vec::with_capacity(payload.len().min(max_message)),
                    utf8_checked: 0,
                });
                fragmented.buffer.extend_from_slice(payload);
                fragmented.check_utf8_so_far()?;
                self.fragmented = Some(fragmented);
                Ok(Flow::Continue)
            }
        }
    }

    fn continue_message(
        &mut self,
        is_final: bool,
        payload: &[u8],
        max_message: usize,
        on_event: &mut dyn FnMut(FrameEvent<'_>) -> Flow,
    ) -> Result<Flow, Violation> {
        let Some(fragmented) = self.fragmented.as_mut() else {
            return Err(Violation::protocol("continuation without a message"));
        };
        fragmented.append(payload, max_message);
        fragmented.check_utf8_so_far()?;
        if !is_final {
            return Ok(Flow::Continue);
        }
        let Some(done) = self.fragmented.take() else {
            return Err(Violation::protocol("continuation without a message"));
        };
        Ok(on_event(whole_message(done.is_text, done.compressed, &done.buffer)?))
    }
}

impl Fragmented {
    /// Appends a fragment, growing by doubling but never past the message limit (the
    /// header check made sure the message fits it): a reassembly holds at most the limit.
    fn append(&mut self, payload: &[u8], max_message: usize) {
        let needed = self.buffer.len() + payload.len();
        if needed > self.buffer.capacity() {
            let target = (self.buffer.capacity() * 2).max(needed).min(max_message.max(needed));
            self.buffer.reserve_exact(target - self.buffer.len());
        }
        self.buffer.extend_from_slice(payload);
    }

    fn check_utf8_so_far(&mut self) -> Result<(), Violation> {
        if !self.is_text || self.compressed {
            return Ok(());
        }
        match std::str::from_utf8(&self.buffer[self.utf8_checked..]) {
            Ok(_) => self.utf8_checked = self.buffer.len(),
            Err(e) if e.error_len().is_none() => self.utf8_checked += e.valid_up_to(),
            Err(_) => return Err(Violation::INVALID_UTF8),
        }
        Ok(())
    }
}

fn whole_message(is_text: bool, compressed: bool, payload: &[u8]) -> Result<FrameEvent<'_>, Violation> {
    if compressed {
        Ok(FrameEvent::Compressed { is_text, payload })
    } else if is_text {
        // The whole message at once: simdutf8's check (SIMD, picked at run time) is the same
        // verdict as `std::str::from_utf8`, a few times faster on the usual ASCII JSON.
        simdutf8::basic::from_utf8(payload).map(FrameEvent::Text).map_err(|_| Violation::INVALID_UTF8)
    } else {
        Ok(FrameEvent::Binary(payload))
    }
}

fn parse_close(payload: &[u8]) -> Result<Option<(u16, &str)>, Violation> {
    match payload {
        [] => Ok(None),
        [_] => Err(Violation::protocol("close payload of one byte")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !is_valid_close_code(code) {
                return Err(Violation::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| Violation::INVALID_UTF8)?;
            Ok(Some((code, reason)))
        }
    }
}

/// Close codes a peer may send (RFC 6455 7.4 and the IANA registry).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=4999) && CloseCode::from(code).is_allowed() && !matches!(code, 1004 | 1016..=2999)
}

/// Parses a client frame header at the start of `bytes`, as tungstenite's
/// `FrameHeader::parse` does (the same header, length and verdicts), without its `Read`
/// cursor: the header, the payload length and the header's own length; `None` while
/// incomplete; a violation for a reserved opcode.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<Option<(FrameHeader, u64, usize)>, Violation> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    let (length, mut at) = match second & 0x7F {
        126 => match bytes.get(2..4) {
            Some(&[high, low]) => (u64::from(u16::from_be_bytes([high, low])), 4),
            _ => return Ok(None),
        },
        127 => match bytes.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
            Some(long) => (u64::from_be_bytes(long), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    let mask = if second & 0x80 != 0 {
        let Some(mask) = bytes.get(at..at + 4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
            return Ok(None);
        };
        at += 4;
        Some(mask)
    } else {
        None
    };
    let opcode = OpCode::from(first & 0x0F);
    if matches!(opcode, OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_))) {
        return Err(Violation::protocol("invalid opcode"));
    }
    let header = FrameHeader {
        is_final: first & 0x80 != 0,
        rsv1: first & 0x40 != 0,
        rsv2: first & 0x20 != 0,
        rsv3: first & 0x10 != 0,
        opcode,
        mask,
    };
    Ok(Some((header, length, at)))
}

/// The full length of the frame that starts `bytes`, if its header is complete.
fn expected_frame_len(bytes: &[u8]) -> Option<usize> {
    let (_, length, header_len) = parse_header(bytes).ok().flatten()?;
    usize::try_from(length).ok().map(|l| l.saturating_add(header_len))
}

#[cfg(test)]
mod tests;
