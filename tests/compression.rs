//! permessage-deflate (RFC 7692) against the real `switchyard` binary over real sockets: the
//! negotiation answers, a compressed round trip (with and without client context takeover),
//! one message fanned out to compressed and plain members, a decompression bomb closed with
//! 1009, small messages left uncompressed, compression off by default,
//! `--compression-client-context false`, windows smaller than 15 bits (each frame inflated
//! the strict way, one byte of output at a time, so a match reaching back past the window
//! fails), and a history channel compressed once per publish.
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
    assert_eq!(
        answer(Some("permessage-deflate; server_max_window_bits=10")).as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10"),
        "a smaller window: honoured with the same value"
    );
    assert_eq!(answer(Some("permessage-deflate; bogus")), None, "unknown parameter: declined");
    assert_eq!(
        answer(Some("permessage-deflate; server_max_window_bits=7, permessage-deflate; client_no_context_takeover"))
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

/// Inflates a compressed payload as a peer with a window of `bits` (8 to 15) must: with the
/// system zlib (Python's), asking for one byte of output at a time, so that a match reaching
/// back past the window is an error ("invalid distance too far back"). zlib-rs through flate2
/// would not do: it reads such matches from a larger buffer.
fn strict_inflate(payload: &[u8], bits: u8) -> Result<Vec<u8>, String> {
    use std::process::{Command, Stdio};
    let script = format!(
        "import sys, zlib\nd = zlib.decompressobj(-{bits})\ndata = sys.stdin.buffer.read()\nout = []\n\
         while not d.eof:\n    chunk = d.decompress(data, 1)\n    data = d.unconsumed_tail\n    \
         if not chunk and not data: break\n    out.append(chunk)\nsys.stdout.buffer.write(b''.join(out))\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (CI installs it for Autobahn)");
    child.stdin.take().unwrap().write_all(payload).unwrap();
    let output = child.wait_with_output().unwrap();
    match output.status.success() {
        true => Ok(output.stdout),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    }
}

/// `words` pseudo-random hex words, three times over: a small window cannot reach those
/// repeats, a 32 KiB one does (700 words: about 19 KB; 140: under the example's 4 KiB).
fn far_repeats(words: u32) -> String {
    let words: Vec<String> = (0..words).map(|i| format!("{:x}", i.wrapping_mul(2_654_435_761))).collect();
    words.join(" ").repeat(3)
}

fn window_offer(bits: u8) -> String {
    format!("permessage-deflate; server_max_window_bits={bits}; client_no_context_takeover")
}

#[test]
fn a_smaller_server_window_is_honoured_and_every_frame_fits_it() {
    let server = start(&["--compression"]);
    let message = json!(far_repeats(700)).to_string();
    for bits in 9..=15u8 {
        let mut client = Client::connect(server.addr, "/echo", Some(&window_offer(bits)));
        let expected = format!(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits={bits}"
        );
        assert_eq!(client.extensions.as_deref(), Some(expected.as_str()));
        client.send_compressed(message.as_bytes(), false);
        let echo = client.read_frame();
        assert!(echo.compressed(), "{bits} bits");
        let inflated = strict_inflate(&echo.payload, bits).unwrap_or_else(|e| panic!("{bits} bits: {e}"));
        assert_eq!(inflated, message.as_bytes(), "{bits} bits");
        if bits == 15 {
            let narrow = strict_inflate(&echo.payload, 9);
            assert!(narrow.is_err(), "a 32 KiB window reaches further: the check can fail");
        }
    }
}

#[test]
fn an_eight_bit_window_is_answered_with_eight_and_frames_inflate_with_256_bytes() {
    let server = start(&["--compression"]);
    let message = json!(far_repeats(700)).to_string();
    let mut client = Client::connect(server.addr, "/echo", Some("permessage-deflate; server_max_window_bits=8"));
    assert_eq!(
        client.extensions.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=8")
    );
    client.send_text(message.as_bytes());
    let echo = client.read_frame();
    assert!(echo.compressed());
    assert_eq!(strict_inflate(&echo.payload, 8).expect("inflates with a 256-byte window"), message.as_bytes());
    let mut wide = Client::connect(server.addr, "/echo", Some("permessage-deflate"));
    wide.send_text(message.as_bytes());
    let wide_echo = wide.read_frame();
    let narrow = strict_inflate(&wide_echo.payload, 8);
    assert!(narrow.is_err(), "a 32 KiB window does not fit 256 bytes: the check can fail");
}

#[test]
fn members_with_different_windows_each_get_a_frame_compressed_once_per_window() {
    let server = start(&["--compression"]);
    let path = "/example/socket?ch=windows";
    let windows = [15u8, 15, 10, 10, 12, 8];
    let mut members: Vec<(u8, Client)> = windows
        .iter()
        .map(|&bits| {
            (
                bits,
                Client::connect(server.addr, path, Some(&format!("permessage-deflate; server_max_window_bits={bits}"))),
            )
        })
        .collect();
    let mut plain = Client::connect(server.addr, path, None);
    let mut sender = Client::connect(server.addr, path, None);
    let sync = |client: &mut Client| {
        client.send_text(br#"{"cmd":"echo","param":"sync"}"#);
        while client.read_frame().json()["param"] != "sync" {}
    };
    for client in members.iter_mut().map(|(_, c)| c).chain([&mut plain, &mut sender]) {
        sync(client);
    }
    let before = status(server.addr)["messages_compressed"].as_u64().unwrap();
    sender.send_text(json!({"cmd": "chat", "param": {"text": far_repeats(140)}}).to_string().as_bytes());
    let plain_frame = plain.read_frame();
    assert!(!plain_frame.compressed());
    let mut by_window: Vec<(u8, Vec<u8>)> = Vec::new();
    for (bits, client) in &mut members {
        let frame = client.read_frame();
        assert!(frame.compressed(), "{bits} bits");
        let inflated = strict_inflate(&frame.payload, *bits).unwrap_or_else(|e| panic!("{bits} bits: {e}"));
        assert_eq!(inflated, plain_frame.payload, "{bits} bits: the same message");
        if let Some((_, same)) = by_window.iter().find(|(b, _)| *b == *bits) {
            assert_eq!(same, &frame.payload, "one frame for every member with {bits} bits");
        }
        by_window.push((*bits, frame.payload));
    }
    let after = status(server.addr)["messages_compressed"].as_u64().unwrap();
    assert_eq!(after - before, 4, "one compression per distinct window (15, 10, 12, and 9 for 8)");
}

#[test]
fn a_history_channel_is_compressed_once_per_publish_not_once_per_worker() {
    let server =
        Binary::start(&["--compression", "--workers", "2", "--history-size", "100", "--shutdown-grace", "200ms"]);
    let path = "/example/socket?ch=kept";
    let mut members: Vec<Client> = Vec::new();
    while members.len() < 8 || status(server.addr)["worker_connections"].as_array().unwrap().contains(&json!(0)) {
        assert!(members.len() < 64, "the kernel put every connection on one worker");
        members.push(Client::connect(server.addr, path, Some("permessage-deflate")));
    }
    let mut sender = Client::connect(server.addr, path, None);
    for client in members.iter_mut().chain([&mut sender]) {
        client.send_text(br#"{"cmd":"echo","param":"sync"}"#);
        while client.read_frame().json()["param"] != "sync" {}
    }
    let before = status(server.addr)["messages_compressed"].as_u64().unwrap();
    let publishes = 50;
    for n in 0..publishes {
        sender.send_text(
            json!({"cmd": "chat", "param": {"text": format!("{n} {}", long_text())}}).to_string().as_bytes(),
        );
    }
    for member in &mut members {
        let mut seen = 0;
        while seen < publishes {
            let frame = member.read_frame();
            if frame.json()["cmd"] == "chat" {
                assert!(frame.compressed());
                assert_eq!(frame.json()["offset"], seen + 1);
                seen += 1;
            }
        }
    }
    let compressed = status(server.addr)["messages_compressed"].as_u64().unwrap() - before;
    println!("{compressed} compressions for {publishes} publishes to members on 2 workers");
    // Once per worker would be 100; two workers that reach a message at the same instant
    // share one compression (the second waits for the first's).
    assert_eq!(compressed, publishes, "compressions for {publishes} publishes on 2 workers");
}
