//! The wire protocol: parsing a client's JSON message, and serializing a server message
//! straight into one complete WebSocket frame.
//!
//! Inbound, `param` stays raw JSON (`RawValue`) borrowed from the frame, so it passes to the
//! handler without being parsed or copied. Outbound, a message is serialized once, behind
//! room reserved for the frame header, and the header is written in front: the result is
//! the frame every recipient's out-queue shares. No I/O, no routing.

use std::borrow::Cow;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use super::connection::ConnId;
use crate::wire::frame::{put_header, SharedFrame, MAX_SERVER_HEADER};

/// A message from a client: `{"channel"?, "cmd", "param"?}`. A `from` it sends is ignored.
#[derive(Debug, Deserialize)]
pub struct Inbound<'a> {
    #[serde(borrow, default)]
    pub channel: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub cmd: Cow<'a, str>,
    #[serde(borrow, default)]
    pub param: Option<&'a RawValue>,
}

impl<'a> Inbound<'a> {
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// `param` as raw JSON, `null` when absent.
    pub fn param(&self) -> &'a RawValue {
        match self.param {
            Some(param) => param,
            None => null(),
        }
    }
}

/// The raw JSON `null`.
pub fn null() -> &'static RawValue {
    // A constant literal: cannot fail.
    static NULL: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    NULL.get_or_init(|| RawValue::from_string("null".to_string()).unwrap_or_default())
}

#[derive(Serialize)]
struct Outbound<'a, P: ?Sized> {
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a ConnId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    cmd: &'a str,
    param: &'a P,
}

/// Who sent a message and where it goes: the envelope around `cmd` and `param`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Envelope<'a> {
    pub from: Option<&'a ConnId>,
    pub channel: Option<&'a str>,
}

/// Serializes a message into one complete, shareable text frame.
pub fn encode<P: Serialize + ?Sized>(
    envelope: Envelope<'_>,
    cmd: &str,
    param: &P,
) -> Result<SharedFrame, serde_json::Error> {
    let mut buffer = Vec::with_capacity(128);
    buffer.extend_from_slice(&[0; MAX_SERVER_HEADER]);
    let message = Outbound { from: envelope.from, channel: envelope.channel, cmd, param };
    serde_json::to_writer(&mut buffer, &message)?;
    let payload_len = buffer.len() - MAX_SERVER_HEADER;
    let mut header = [0u8; MAX_SERVER_HEADER];
    let mut unused = &mut header[..];
    put_header(&mut unused, OpCode::Data(Data::Text), payload_len);
    let header_len = MAX_SERVER_HEADER - unused.len();
    let start = MAX_SERVER_HEADER - header_len;
    buffer[start..MAX_SERVER_HEADER].copy_from_slice(&header[..header_len]);
    Ok(Bytes::from(buffer).slice(start..))
}

/// The param of an `error` message.
#[derive(Debug, Serialize)]
pub struct ErrorParam<'a> {
    pub message: &'a str,
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
}
