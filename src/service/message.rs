//! The wire protocol: parsing a client's JSON message, and serializing a server message
//! straight into one complete WebSocket frame.
//!
//! Inbound, `param` stays raw JSON (`RawValue`) borrowed from the frame, so it passes to the
//! handler without being parsed or copied. Outbound, a message is serialized once, behind
//! room reserved for the frame header, and the header is written in front: the result is
//! the frame every recipient's out-queue shares. In a channel with history the serialized
//! message is sealed with its `offset` and `epoch` (`seal`, a few bytes appended) inside the
//! history store's critical section, still once for every recipient. No I/O, no routing.

mod scan;

use std::borrow::Cow;

use bytes::{BufMut, Bytes};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use uuid::Uuid;

use super::connection::ConnId;
use crate::wire::frame::{put_header, SharedFrame, MAX_SERVER_HEADER};

/// A message from a client: `{"channel"?, "cmd", "param"?}`. A `from` it sends is ignored.
#[derive(Debug, Deserialize)]
pub struct Inbound<'a> {
    /// The channel it is for (default: the connection's own).
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    /// The command.
    #[serde(borrow)]
    pub cmd: Cow<'a, str>,
    /// The command's parameter, unparsed (`null` when absent).
    #[serde(borrow, default)]
    pub param: Option<&'a RawValue>,
}

impl<'a> Inbound<'a> {
    /// Parses and validates a client message: the usual plain envelope by hand (`scan.rs`,
    /// `param` still validated by serde_json), anything else by serde_json's struct parse.
    /// Both give the same verdict and the same fields for every text.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        match scan::scan(text) {
            Some(message) => Ok(message),
            None => serde_json::from_str(text),
        }
    }

    /// `param` as raw JSON, `null` when absent.
    pub fn param(&self) -> &'a RawValue {
        match self.param {
            Some(param) => param,
            None => null(),
        }
    }
}

/// What a client is told when its message is not `{"cmd": string, ...}`, in the protocol's
/// words (the parser's own detail, which names Rust types, belongs in the server log).
pub fn explain_unreadable(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            "the message is not valid JSON: send a JSON object {\"cmd\": string, \"channel\"?: string, \"param\"?: any}"
        }
        Category::Data => {
            "a message must be a JSON object with a string \"cmd\" (and optionally a string \"channel\" and any \"param\")"
        }
    }
}

/// A parameter error from serde, reworded for a client: no Rust type names (`struct Chat`,
/// `u64`, `a map`), no line and column; JSON's words instead.
pub fn explain_param_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    match text.split_once("expected ") {
        Some((head, expected)) => format!("{}expected {}", json_words(head), json_expectation(expected)),
        None => json_words(text),
    }
}

/// serde's names of what it found, as JSON calls them.
fn json_words(text: &str) -> String {
    text.replace("invalid type: map", "invalid type: object")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: unit value", "invalid type: null")
        .replace("invalid type: floating point", "invalid type: number")
}

/// serde's name of what it expected (often a Rust type), as JSON calls it.
fn json_expectation(expected: &str) -> String {
    let first = expected.split_whitespace().next().unwrap_or_default();
    let rust_integer = ["u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128", "isize"];
    let phrase = match first {
        "struct" | "map" => "a JSON object",
        "tuple" | "sequence" => "a JSON array",
        "enum" | "variant" => "one of the allowed values",
        "unit" => "null",
        "f32" | "f64" => "a number",
        "a" | "an" if expected.starts_with("a map") => "a JSON object",
        "a" | "an" if expected.starts_with("a sequence") => "a JSON array",
        "a" | "an" if expected.starts_with("a boolean") => "true or false",
        first if rust_integer.contains(&first) => "an integer",
        _ => return expected.to_string(),
    };
    phrase.to_string()
}

/// The raw JSON `null`.
pub fn null() -> &'static RawValue {
    // A constant literal: cannot fail.
    static NULL: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    NULL.get_or_init(|| RawValue::from_string("null".to_string()).unwrap_or_default())
}

/// Who sent a message and where it goes: the envelope around `cmd` and `param`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Envelope<'a> {
    /// The connection the message comes from, if any.
    pub from: Option<&'a ConnId>,
    /// The channel it was written to, if any.
    pub channel: Option<&'a str>,
}

/// Serializes one message (compact JSON, no frame header) into `out` (a `Vec`, or a
/// connection's cork), after what it holds: `{"from"?,"channel"?,"cmd","param"}`. The
/// envelope is written by hand (its keys are constants, its strings are copied as they are
/// unless they need escaping); only `param` goes through serde, and a raw `param` is copied
/// as it is.
pub fn serialize_into<P: Serialize + ?Sized>(
    out: &mut impl BufMut,
    envelope: Envelope<'_>,
    cmd: &str,
    param: &P,
) -> Result<(), serde_json::Error> {
    out.put_u8(b'{');
    if let Some(from) = envelope.from {
        out.put_slice(br#""from":""#);
        out.put_slice(from.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
        out.put_slice(b"\",");
    }
    if let Some(channel) = envelope.channel {
        out.put_slice(br#""channel":"#);
        put_json_string(out, channel)?;
        out.put_u8(b',');
    }
    out.put_slice(br#""cmd":"#);
    put_json_string(out, cmd)?;
    out.put_slice(br#","param":"#);
    serde_json::to_writer((&mut *out).writer(), param)?;
    out.put_u8(b'}');
    Ok(())
}

/// Writes `text` as a JSON string, as serde_json would: copied between quotes when nothing
/// in it needs escaping (the usual command or channel name), through serde_json otherwise.
fn put_json_string(out: &mut impl BufMut, text: &str) -> Result<(), serde_json::Error> {
    let plain = text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if !plain {
        return serde_json::to_writer((&mut *out).writer(), text);
    }
    out.put_u8(b'"');
    out.put_slice(text.as_bytes());
    out.put_u8(b'"');
    Ok(())
}

/// Serializes one message into one complete text frame, once, for any number of recipients.
pub fn encode<P: Serialize + ?Sized>(
    envelope: Envelope<'_>,
    cmd: &str,
    param: &P,
) -> Result<SharedFrame, serde_json::Error> {
    Ok(seal(serialize_body(envelope, cmd, param)?, None))
}

/// A channel message's place in its channel's history: `"offset"` and `"epoch"` on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// 1 for the first message of an epoch, +1 per message.
    pub offset: u64,
    /// The history's epoch (changes whenever the history is lost).
    pub epoch: &'a str,
}

/// A serialized message waiting for its frame header (and, in a channel with history, its
/// stamp): `seal` turns it into the frame. Serialize outside any lock, seal under it.
pub struct Body(Vec<u8>);

/// Serializes one message into a `Body` (room left in front for the frame header).
pub fn serialize_body<P: Serialize + ?Sized>(
    envelope: Envelope<'_>,
    cmd: &str,
    param: &P,
) -> Result<Body, serde_json::Error> {
    let mut buffer = Vec::with_capacity(160);
    buffer.extend_from_slice(&[0; MAX_SERVER_HEADER]);
    serialize_into(&mut buffer, envelope, cmd, param)?;
    Ok(Body(buffer))
}

/// The frame of a serialized message; with a stamp, `"offset"` and `"epoch"` are added as
/// the last two fields (`{..,"param":..,"offset":17,"epoch":"a1b2c3d4"}`).
pub fn seal(body: Body, stamp: Option<Stamp<'_>>) -> SharedFrame {
    let Body(mut buffer) = body;
    if let Some(stamp) = stamp {
        if buffer.last() == Some(&b'}') {
            buffer.pop();
            buffer.extend_from_slice(b",\"offset\":");
            buffer.extend_from_slice(stamp.offset.to_string().as_bytes());
            buffer.extend_from_slice(b",\"epoch\":");
            // A string always serializes: fall back to an empty epoch rather than a bad frame.
            if serde_json::to_writer(&mut buffer, stamp.epoch).is_err() {
                buffer.extend_from_slice(b"\"\"");
            }
            buffer.push(b'}');
            // A stamped frame is kept in history: hold no spare capacity.
            buffer.shrink_to_fit();
        }
    }
    let payload_len = buffer.len() - MAX_SERVER_HEADER;
    let mut header = [0u8; MAX_SERVER_HEADER];
    let mut unused = &mut header[..];
    put_header(&mut unused, OpCode::Data(Data::Text), payload_len);
    let header_len = MAX_SERVER_HEADER - unused.len();
    let start = MAX_SERVER_HEADER - header_len;
    buffer[start..MAX_SERVER_HEADER].copy_from_slice(&header[..header_len]);
    Bytes::from(buffer).slice(start..)
}

/// The param of an `error` message.
#[derive(Debug, Serialize)]
pub struct ErrorParam<'a> {
    /// What went wrong, for a person.
    pub message: &'a str,
    /// A stable machine-readable code (see the README's error table).
    pub code: &'a str,
}

/// An `error` message frame.
pub fn error_frame(code: &str, message: &str) -> SharedFrame {
    // Serializing two strings cannot fail; fall back to a fixed frame anyway.
    encode(Envelope::default(), "error", &ErrorParam { message, code })
        .unwrap_or_else(|_| crate::wire::frame::text(br#"{"cmd":"error","param":{"message":"error"}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_raw_param_and_defaults() {
        let m = Inbound::parse(r#"{"cmd":"chat","param":{"text":"hi \"x\""},"from":"spoofed"}"#).unwrap();
        assert_eq!(m.cmd, "chat");
        assert_eq!(m.channel, None);
        assert_eq!(m.param().get(), r#"{"text":"hi \"x\""}"#);
        let m = Inbound::parse(r#"{"cmd":"p\u0069ng","channel":"a"}"#).unwrap();
        assert_eq!(m.cmd, "ping");
        assert_eq!(m.param().get(), "null");
        assert!(Inbound::parse(r#"{"param":1}"#).is_err());
        assert!(Inbound::parse("not json").is_err());
    }

    #[test]
    fn client_explanations_name_no_rust_types() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct ChatIn {
            text: String,
            n: u64,
        }
        for bad in ["[1,2]", r#"{"cmd": 5}"#, r#"{"param": 1}"#, "{not json", ""] {
            let e = Inbound::parse(bad).unwrap_err();
            let told = explain_unreadable(&e);
            assert!(told.contains("\"cmd\""), "{bad}: {told}");
            assert!(!told.contains("struct") && !told.contains("Inbound"), "{bad}: {told}");
        }
        let said = |json: &str| explain_param_error(&serde_json::from_str::<ChatIn>(json).unwrap_err());
        assert_eq!(said("[1,2]"), "invalid type: integer `1`, expected a string");
        assert_eq!(said("5"), "invalid type: integer `5`, expected a JSON object");
        assert_eq!(said(r#"{"txt": "x"}"#), "missing field `text`");
        assert_eq!(said(r#"{"text": "x", "n": "y"}"#), "invalid type: string \"y\", expected an integer");
        assert_eq!(
            explain_param_error(&serde_json::from_str::<Vec<u8>>("{}").unwrap_err()),
            "invalid type: object, expected a JSON array"
        );
    }

    #[test]
    fn encodes_one_frame_with_the_envelope() {
        let id = ConnId::nil();
        let frame =
            encode(Envelope { from: Some(&id), channel: Some("c") }, "chat", &serde_json::json!({"a":1})).unwrap();
        assert_eq!(frame[0], 0x81);
        let payload = &frame[2..];
        assert_eq!(frame[1] as usize, payload.len());
        assert_eq!(
            std::str::from_utf8(payload).unwrap(),
            r#"{"from":"00000000-0000-0000-0000-000000000000","channel":"c","cmd":"chat","param":{"a":1}}"#
        );
        let big = encode(Envelope::default(), "x", &"y".repeat(1000)).unwrap();
        assert_eq!(&big[..2], &[0x81, 126]);
        assert_eq!(u16::from_be_bytes([big[2], big[3]]) as usize, big.len() - 4);
    }

    #[test]
    fn the_hand_written_envelope_is_what_serde_json_writes() {
        let id = ConnId::new_v4();
        let names = ["chat", "", "caf\u{e9} \u{1f600}", "a\"b\\c", "line\nbreak\u{1}\u{7f}", "</script>"];
        for name in names {
            for from in [None, Some(&id)] {
                let mut ours = Vec::new();
                serialize_into(&mut ours, Envelope { from, channel: Some(name) }, name, &[1, 2]).unwrap();
                #[derive(Serialize)]
                struct Expected<'a> {
                    #[serde(skip_serializing_if = "Option::is_none")]
                    from: Option<&'a ConnId>,
                    channel: &'a str,
                    cmd: &'a str,
                    param: [u8; 2],
                }
                let expected = Expected { from, channel: name, cmd: name, param: [1, 2] };
                assert_eq!(std::str::from_utf8(&ours).unwrap(), serde_json::to_string(&expected).unwrap(), "{name:?}");
            }
        }
    }

    #[test]
    fn a_stamp_adds_offset_and_epoch_last_and_nothing_without_one() {
        let envelope = Envelope { from: None, channel: Some("room") };
        let plain = encode(envelope, "chat", &serde_json::json!({"t": 1})).unwrap();
        let unstamped = seal(serialize_body(envelope, "chat", &serde_json::json!({"t": 1})).unwrap(), None);
        assert_eq!(plain, unstamped);
        let body = serialize_body(envelope, "chat", &serde_json::json!({"t": 1})).unwrap();
        let frame = seal(body, Some(Stamp { offset: 17, epoch: "a1b2c3d4" }));
        assert_eq!(frame[1] as usize, frame.len() - 2);
        assert_eq!(
            std::str::from_utf8(&frame[2..]).unwrap(),
            r#"{"channel":"room","cmd":"chat","param":{"t":1},"offset":17,"epoch":"a1b2c3d4"}"#
        );
    }
}
