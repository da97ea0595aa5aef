//! permessage-deflate (RFC 7692) against the real `switchyard` binary over real sockets: the
//! negotiation answers, a compressed round trip (with and without client context takeover),
//! one message fanned out to compressed and plain members, a decompression bomb closed with
//! 1009, small messages left uncompressed, compression off by default, and
//! `--compression-client-context false`.
//!
//! The client side is written here with `flate2` (tungstenite's client does not compress):
//! a raw socket, masked frames, RSV1, and inflation of the server's frames.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{client_frame, Binary};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::{json, Value};

/// A WebSocket client on a raw socket that can send and read compressed frames.
struct Client {
    stream: TcpStream,
    buffered: Vec<u8>,
    /// The `Sec-WebSocket-Extensions` the server answered, if any.
    extensions: Option<String>,
    /// The client's compressor, for context takeover across messages.
    deflater: Compress,
}

/// A server frame: its first byte (FIN, RSV, opcode) and payload.
struct Frame {
    first: u8,
    payload: Vec<u8>,
}

impl Frame {
    fn compressed(&self) -> bool {
        self.first & 0x40 != 0
    }

    /// The message it carries, inflated if compressed.
    fn message(&self) -> Vec<u8> {
        if self.compressed() {
            inflate(&self.payload)
        } else {
            self.payload.clone()
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.message()).expect("JSON")
    }

    fn close_code(&self) -> Option<u16> {
        (self.first & 0x0f == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(payload.len() * 20 + 1024);
    Decompress::new(false).decompress_vec(&input, &mut out, FlushDecompress::Sync).expect("inflate");
    out
}

impl Client {
    fn connect(addr: SocketAddr, path: &str, offer: Option<&str>) -> Client {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let offer = offer.map(|o| format!("Sec-WebSocket-Extensions: {o}\r\n")).unwrap_or_default();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut client = Client {
            stream,
            buffered: Vec::new(),
            extensions: None,
            deflater: Compress::new(Compression::new(6), false),
        };
        let head = client.read_head();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        client.extensions = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: ").or(l.strip_prefix("sec-websocket-extensions: ")))
            .map(str::to_string);
        client
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk).expect("read");
        assert!(n > 0, "the server closed the connection");
        self.buffered.extend_from_slice(&chunk[..n]);
    }

    fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffered[..end]).into_owned();
                self.buffered.drain(..end + 4);
                return head;
            }
            self.fill();
        }
    }

    fn read_frame(&mut self) -> Frame {
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buffered) {
                self.buffered.drain(..used);
                if frame.first & 0x0f == 9 {
                    continue; // a ping
                }
                return frame;
            }
            self.fill();
        }
    }

    fn send_text(&mut self, text: &[u8]) {
        self.stream.write_all(&client_frame(0x81, text)).unwrap();
    }

    /// Sends `text` compressed; `keep_context`: without resetting the compressor first.
    fn send_compressed(&mut self, text: &[u8], keep_context: bool) {
        if !keep_context {
            self.deflater.reset();
        }
        let mut out = Vec::with_capacity(text.len() + 1024);
        self.deflater.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        self.stream.write_all(&client_frame(0xC1, &out)).unwrap();
    }

    fn send_json_compressed(&mut self, message: &Value) {
        self.send_compressed(message.to_string().as_bytes(), false);
    }
}

fn parse_server_frame(bytes: &[u8]) -> Option<(Frame, usize)> {
    if bytes.len() < 2 {
        return None;
    }
    let (length, header) = match bytes[1] & 0x7f {
        126 => (u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let payload = bytes.get(header..header + length)?.to_vec();
    Some((Frame { first: bytes[0], payload }, header + length))
}

fn start(args: &[&str]) -> Binary {
    let mut all = vec!["--workers", "1", "--shutdown-grace", "200ms"];
    all.extend_from_slice(args);
    Binary::start(&all)
}

/// A chat text long enough to be compressed (over the 128-byte threshold).
fn long_text() -> String {
    "the quick brown fox jumps over the lazy dog; ".repeat(8)
}

fn status(addr: SocketAddr) -> Value {
    let (code, body) = common::http_call(addr, "GET", "/admin/api/status", &[], b"");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn negotiation_answers_what_the_client_offered_and_the_server_can_honour() {
    let server = start(&["--compression"]);
    let answer = |offer: Option<&str>| Client::connect(server.addr, "/echo", offer).extensions;
    assert_eq!(answer(None), None, "no offer, no extension");
    assert_eq!(
        answer(Some("permessage-deflate; client_max_window_bits")).as_deref(),
        Some("permessage-deflate; server_no_context_takeover"),
        "a browser's offer"
    );
    assert_eq!(
        answer(Some("permessage-deflate; client_no_context_takeover")).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    assert_eq!(
        answer(Some("permessage-deflate; server_max_window_bits=15")).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=15")
    );
    assert_eq!(answer(Some("permessage-deflate; server_max_window_bits=10")), None, "cannot honour: declined");
    assert_eq!(answer(Some("permessage-deflate; bogus")), None, "unknown parameter: declined");
    assert_eq!(
        answer(Some("permessage-deflate; server_max_window_bits=9, permessage-deflate; client_no_context_takeover"))
            .as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        "the first offer it can honour"
    );
    assert_eq!(answer(Some("x-webkit-deflate-frame")), None);
}

#[test]
fn off_by_default_and_rsv1_then_refused() {
    let server = start(&[]);
    let mut client = Client::connect(server.addr, "/echo", Some("permessage-deflate"));
    assert_eq!(client.extensions, None, "declined without --compression");
    client.send_compressed(b"hello", false);
    assert_eq!(client.read_frame().close_code(), Some(1002));
}

#[test]
fn a_compressed_echo_round_trips_with_and_without_client_context() {
    let server = start(&["--compression"]);
    for (offer, keep_context) in [
        ("permessage-deflate; client_no_context_takeover", false),
        ("permessage-deflate; client_max_window_bits", true),
    ] {
        let path = format!("/example/socket?ch=round-{keep_context}");
        let mut client = Client::connect(server.addr, &path, Some(offer));
        assert!(client.extensions.is_some());
        for round in 0..3 {
            let param = json!({"text": long_text(), "round": round});
            client.send_compressed(json!({"cmd": "echo", "param": param}).to_string().as_bytes(), keep_context);
            let reply = client.read_frame();
            assert!(reply.compressed(), "a reply over the threshold is compressed ({offer})");
            assert_eq!(reply.json()["param"], param, "{offer}, round {round}");
        }
        client.send_text(json!({"cmd": "echo", "param": "plain"}).to_string().as_bytes());
        assert_eq!(client.read_frame().json()["param"], "plain", "uncompressed messages still work");
    }
}

#[test]
fn one_message_reaches_compressed_and_plain_members_alike_compressed_once() {
    let server = start(&["--compression"]);
    let path = "/example/socket?ch=mixed";
    let mut compressed: Vec<Client> =
        (0..3).map(|_| Client::connect(server.addr, path, Some("permessage-deflate"))).collect();
    let mut plain = Client::connect(server.addr, path, None);
    let mut sender = Client::connect(server.addr, path, None);
    let sync = |client: &mut Client| {
        client.send_text(br#"{"cmd":"echo","param":"sync"}"#);
        while client.read_frame().json()["param"] != "sync" {}
    };
    for client in compressed.iter_mut().chain([&mut plain, &mut sender]) {
        sync(client); // presence announcements read and discarded
    }
    let before = status(server.addr)["messages_compressed"].as_u64().unwrap();
    sender.send_text(json!({"cmd": "chat", "param": {"text": long_text()}}).to_string().as_bytes());
    let plain_frame = plain.read_frame();
    assert!(!plain_frame.compressed());
    let frames: Vec<Frame> = compressed.iter_mut().map(Client::read_frame).collect();
    for frame in &frames {
        assert!(frame.compressed());
        assert_eq!(frame.message(), plain_frame.payload, "the same message, byte for byte");
        assert_eq!(frame.payload, frames[0].payload, "one compressed frame for every member");
    }
    assert_eq!(plain_frame.json()["param"]["text"], long_text());
    let after = status(server.addr)["messages_compressed"].as_u64().unwrap();
    assert_eq!(after - before, 1, "one channel write, compressed once for three members");
}

#[test]
fn a_decompression_bomb_is_closed_with_1009() {
    let server = start(&["--compression", "--max-message-bytes", "65536"]);
    let mut client = Client::connect(server.addr, "/example/socket?ch=bomb", Some("permessage-deflate"));
    let bomb = vec![b' '; 16 << 20]; // 16 MiB of spaces: about 16 KiB compressed
    client.send_compressed(&bomb, false);
    let close = loop {
        let frame = client.read_frame();
        if frame.first & 0x0f == 8 {
            break frame;
        }
    };
    assert_eq!(close.close_code(), Some(1009));
    assert_eq!(status(server.addr)["message_too_big_closes"], 1);
    let mut corrupt = Client::connect(server.addr, "/echo", Some("permessage-deflate"));
    corrupt.stream.write_all(&client_frame(0xC1, &[0xff, 0xff, 0xff, 0xff])).unwrap();
    assert_eq!(corrupt.read_frame().close_code(), Some(1007), "invalid compressed data");
}

#[test]
fn messages_under_the_threshold_go_uncompressed() {
    let server = start(&["--compression", "--compression-threshold", "200"]);
    let mut client = Client::connect(server.addr, "/echo", Some("permessage-deflate"));
    client.send_text(&[b'a'; 199]);
    let small = client.read_frame();
    assert!(!small.compressed());
    assert_eq!(small.payload, vec![b'a'; 199]);
    client.send_json_compressed(&json!("x".repeat(300)));
    let big = client.read_frame();
    assert!(big.compressed());
    assert_eq!(big.message(), json!("x".repeat(300)).to_string().as_bytes());
    assert!(big.payload.len() < 100, "{} bytes for 302", big.payload.len());
}

#[test]
fn without_client_context_every_client_is_asked_to_reset_its_own() {
    let server = start(&["--compression", "--compression-client-context", "false"]);
    let mut client = Client::connect(server.addr, "/echo", Some("permessage-deflate; client_max_window_bits"));
    assert_eq!(
        client.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    for _ in 0..2 {
        client.send_json_compressed(&json!("y".repeat(400)));
        assert_eq!(client.read_frame().message(), json!("y".repeat(400)).to_string().as_bytes());
    }
}
