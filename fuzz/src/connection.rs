//! The `connection` target: one connection (and optionally an observer in the same channel)
//! upgraded on `/example/socket?ch=f` (the JSON example handler) or `/echo`, then fed a
//! client byte stream through `server::harness::Harness`.
//!
//! Input: byte 0 picks the route (bit 0: echo), raw bytes or generated frames (bit 1), a
//! small message limit (bit 2), an observer connection (bit 3), a rate limit (bit 4),
//! client bytes glued to the upgrade request (bit 5) and the mask key (bits 6-7). In raw
//! mode the rest is the client stream, in chunks whose lengths the input gives. Otherwise
//! each next byte is an operation (a JSON message, text, binary, ping, pong, close,
//! fragments, a frame with any header, raw bytes, a large message, a timer sweep, a
//! batched flush in chosen chunk sizes, a hang-up, an observer action) that reads its
//! details from the bytes after it.
//!
//! Checks, after every feed: no panic; the connection's own heap (`buffers().0`) stays
//! within the message limit plus a few KiB, and its out-queue within the send buffer limit;
//! every byte the server wrote to each client is a `101` response followed by valid server
//! frames (see `wire::ServerStream`). At the end: after hang-ups the service holds no
//! connection and no channel.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use switchyard::server::harness::{self, Harness, Peer};
use switchyard::Config;

use crate::input::Input;
use crate::wire::{client_frame, client_frame_with, upgrade_request, LengthForm, ServerStream};

/// The message limits used: the default and a small one (faster to reach).
pub const LARGE_MAX: usize = 64 * 1024;
pub const SMALL_MAX: usize = 1024;
/// The most one feed holds: the worker's read buffer.
pub const FEED_MAX: usize = 64 * 1024;
/// What a connection may hold beyond its message limit: header, bookkeeping, the out-queue
/// ring, the channel list.
pub const SLACK: usize = 4 * 1024;
/// Operations per input.
const MAX_OPS: usize = 96;

const CMDS: &[&str] = &["ping", "echo", "chat", "join-room", "leave-room", "heartbeat", "nope", ""];
const ROOMS: &[&str] = &["f", "a", "b", "room 1", "", "\u{7}bell", "é"];
const CLOSE_CODES: &[u16] = &[1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1015, 1016, 2999, 3000, 4999, 5000];

/// The heap a connection may hold, in message limits (plus `SLACK`): 2 unless the
/// environment variable `SWITCHYARD_FUZZ_HEAP_FACTOR` says otherwise. The server's bound:
/// a message being reassembled holds at most the limit, and the frame still arriving at
/// most the limit again (its header was checked against what the message has left).
fn heap_factor() -> usize {
    static FACTOR: OnceLock<usize> = OnceLock::new();
    *FACTOR.get_or_init(|| {
        std::env::var("SWITCHYARD_FUZZ_HEAP_FACTOR").ok().and_then(|v| v.parse().ok()).unwrap_or(2).max(1)
    })
}

fn base_config() -> &'static Config {
    static BASE: OnceLock<Config> = OnceLock::new();
    BASE.get_or_init(Config::default)
}

/// One client socket and the check of what the server sends it.
struct Client {
    name: &'static str,
    peer: Peer,
    stream: ServerStream,
}

impl Client {
    fn pump(&mut self) {
        let bytes = harness::drain(&mut self.peer.client);
        if let Err(problem) = self.stream.push(&bytes) {
            panic!("{}: invalid server output: {problem}", self.name);
        }
    }

    /// Reads until the stream stops mid-frame no more (bytes may trail by a moment).
    fn settle(&mut self) {
        self.pump();
        let start = Instant::now();
        while !self.stream.at_boundary() && start.elapsed() < Duration::from_millis(300) {
            std::thread::sleep(Duration::from_millis(1));
            self.pump();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Reset rather than close: no TIME_WAIT left per execution.
        let _ = socket2::SockRef::from(&self.peer.client).set_linger(Some(Duration::ZERO));
    }
}

struct Session {
    harness: Harness,
    config: Config,
    json: bool,
    main: Client,
    observer: Option<Client>,
    key: Option<[u8; 4]>,
    pending: Vec<u8>,
    batching: bool,
    /// Whether an out-queue ever held bytes after a turn (the socket pushed back).
    pushed_back: bool,
}

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let echo = flags & 1 != 0;
    let raw = flags & 2 != 0;
    let max = if flags & 4 != 0 { SMALL_MAX } else { LARGE_MAX };
    let key = match flags >> 6 {
        0 => [0; 4],
        1 => [0x12, 0x34, 0x56, 0x78],
        _ => [input.u8(), input.u8(), input.u8(), input.u8()],
    };
    let config = Config {
        workers: 1,
        max_message_bytes: max,
        echo_max_message_bytes: max,
        rate_limit: if flags & 0x10 != 0 { 20 } else { 0 },
        max_channels_per_connection: 4,
        ..base_config().clone()
    };
    let mut harness = Harness::new(config.clone()).expect("harness");
    let target = if echo { "/echo" } else { "/example/socket?ch=f" };
    let observer = if !echo && flags & 8 != 0 {
        let peer = harness.connect().expect("connect");
        harness.feed(peer.slot, &upgrade_request(target));
        let mut client = Client { name: "observer", peer, stream: ServerStream::new(true) };
        client.pump();
        Some(client)
    } else {
        None
    };
    let peer = harness.connect().expect("connect");
    let main = Client { name: "client", peer, stream: ServerStream::new(!echo) };
    let mut session = Session {
        harness,
        config,
        json: !echo,
        main,
        observer,
        key: Some(key),
        pending: Vec::new(),
        batching: false,
        pushed_back: false,
    };
    // The upgrade, in two pieces; the client's first bytes may come in the same read.
    let upgrade = upgrade_request(target);
    let cut = usize::from(input.u8()) % (upgrade.len() + 1);
    session.feed_now(&upgrade[..cut]);
    session.pending.extend_from_slice(&upgrade[cut..]);
    if flags & 0x20 == 0 {
        session.flush_whole();
    }
    if raw {
        while !input.is_empty() && session.open() {
            let n = usize::from(input.u8());
            let bytes = if n == 0 { input.rest() } else { input.take(n) };
            session.pending.extend_from_slice(bytes);
            session.flush_whole();
        }
    } else {
        for _ in 0..MAX_OPS {
            if input.is_empty() || !session.harness.is_connected(session.main.peer.slot) {
                break;
            }
            if !session.op(&mut input) {
                break;
            }
            if !session.batching || session.pending.len() > FEED_MAX {
                session.flush_whole();
            }
        }
    }
    session.finish();
}

impl Session {
    fn open(&self) -> bool {
        self.harness.is_connected(self.main.peer.slot)
    }

    fn frame(&self, b0: u8, payload: &[u8]) -> Vec<u8> {
        client_frame(b0, payload, self.key)
    }

    fn push_frame(&mut self, b0: u8, payload: &[u8]) {
        let frame = self.frame(b0, payload);
        self.pending.extend_from_slice(&frame);
    }

    /// Performs one operation; false to stop.
    fn op(&mut self, input: &mut Input<'_>) -> bool {
        match input.u8() % 15 {
            0 => {
                let message = json_message(input);
                self.push_frame(0x81, &message);
            }
            1 => {
                let payload = input.short_bytes();
                self.push_frame(0x81, payload);
            }
            2 => {
                let payload = input.short_bytes();
                self.push_frame(0x82, payload);
            }
            3 => {
                let mut payload = input.short_bytes().to_vec();
                payload.truncate(usize::from(input.u8()) % 130);
                self.push_frame(0x89, &payload);
            }
            4 => {
                let mut payload = input.short_bytes().to_vec();
                payload.truncate(125);
                self.push_frame(0x8A, &payload);
            }
            5 => {
                let payload = close_payload(input);
                self.push_frame(0x88, &payload);
            }
            6 => self.fragments(input),
            7 => self.any_header(input),
            8 => {
                let bytes = input.short_bytes();
                self.pending.extend_from_slice(bytes);
            }
            9 => self.large(input),
            10 => {
                self.flush_whole();
                let later = match input.u8() % 5 {
                    0 => Duration::from_millis(10),
                    1 => Duration::from_secs(1),
                    2 => self.config.ping_interval + Duration::from_millis(1),
                    3 => self.config.idle_timeout + Duration::from_secs(1),
                    _ => self.config.close_timeout + Duration::from_secs(1),
                };
                self.harness.sweep_after(later);
                self.check();
            }
            11 => {
                let policy = input.u8();
                self.flush(policy);
                self.batching = !self.batching;
            }
            12 => {
                self.flush_whole();
                self.harness.hang_up(self.main.peer.slot);
                self.check();
                return false;
            }
            13 => self.observer_acts(input),
            _ => {
                let unmasked = input.short_bytes();
                let frame = client_frame(0x81, unmasked, None);
                self.pending.extend_from_slice(&frame);
            }
        }
        true
    }

    /// A message in 1 to 5 fragments, maybe with control frames between them, maybe
    /// never finished.
    fn fragments(&mut self, input: &mut Input<'_>) {
        let choice = input.u8();
        let message = if choice & 1 == 0 { json_message(input) } else { input.short_bytes().to_vec() };
        let opcode = if choice & 2 == 0 { 0x1 } else { 0x2 };
        let count = 1 + usize::from(input.u8() % 5);
        let mut cuts: Vec<usize> = (1..count).map(|_| usize::from(input.u8()) % (message.len() + 1)).collect();
        cuts.push(message.len());
        cuts.sort_unstable();
        let mut start = 0;
        for (i, &end) in cuts.iter().enumerate() {
            let last = i + 1 == cuts.len();
            let fin = if last && choice & 4 == 0 { 0x80 } else { 0 };
            let code = if i == 0 { opcode } else { 0 };
            self.push_frame(fin | code, &message[start..end]);
            start = end;
            if !last && choice & 8 != 0 {
                self.push_frame(0x89, b"between");
            }
            if !last && choice & 16 != 0 {
                // A new data frame inside the fragmented message.
                self.push_frame(0x81, b"{}");
            }
        }
    }

    /// A frame with any first byte, any length form and declared length, masked or not,
    /// with a payload that may be shorter than declared.
    fn any_header(&mut self, input: &mut Input<'_>) {
        let b0 = input.u8();
        let shape = input.u8();
        let form = [LengthForm::Short, LengthForm::Medium, LengthForm::Long][usize::from(shape % 3)];
        let declared = match form {
            LengthForm::Short => u64::from(input.u8() & 0x7f),
            LengthForm::Medium => u64::from(input.u16()),
            LengthForm::Long => match input.u8() % 6 {
                0 => input.u64(),
                1 => u64::MAX,
                2 => 1 << 63,
                3 => self.config.max_message_bytes as u64 + 1,
                4 => (1u64 << 32) + 5,
                _ => u64::from(input.u16()),
            },
        };
        let key = if shape & 0x30 == 0x30 { None } else { self.key };
        let available = usize::try_from(declared).unwrap_or(usize::MAX).min(usize::from(input.u8()));
        let payload = input.take(available);
        let frame = client_frame_with(b0, form, declared, payload, key);
        self.pending.extend_from_slice(&frame);
    }

    /// A message around the size limit, whole or in fragments.
    fn large(&mut self, input: &mut Input<'_>) {
        let max = self.config.max_message_bytes;
        let size = match input.u8() % 7 {
            0 => max - 1,
            1 => max,
            2 => max + 1,
            3 => max / 2 + 3,
            4 => 2 * max,
            5 => 3,
            _ => usize::from(input.u16()),
        };
        let fill = input.pick(&[b'a', 0xff, b' ', 0xC3]);
        let opcode = if input.bool() { 0x1 } else { 0x2 };
        let pieces = 1 + usize::from(input.u8() % 4);
        let mut payload = vec![fill; size];
        if fill == b' ' && size >= 24 {
            // A valid JSON message padded with spaces to the size.
            let message = br#"{"cmd":"echo","param":1}"#;
            payload[size - message.len()..].copy_from_slice(message);
        }
        let step = size.div_ceil(pieces).max(1);
        let chunks: Vec<&[u8]> = if size == 0 { vec![&[][..]] } else { payload.chunks(step).collect() };
        for (i, chunk) in chunks.iter().enumerate() {
            let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
            let code = if i == 0 { opcode } else { 0 };
            self.push_frame(fin | code, chunk);
            if self.pending.len() > FEED_MAX && !self.batching {
                self.flush_whole();
            }
        }
    }

    fn observer_acts(&mut self, input: &mut Input<'_>) {
        let choice = input.u8();
        let Some(observer) = self.observer.as_mut() else {
            return;
        };
        let token = observer.peer.slot;
        if choice & 1 == 1 {
            self.harness.hang_up(token);
        } else {
            let message = json_message(input);
            let frame = client_frame(0x81, &message, Some([9, 8, 7, 6]));
            self.harness.feed(token, &frame);
        }
        self.check();
    }

    /// Feeds what is pending, in reads of up to `FEED_MAX` bytes.
    fn flush_whole(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for piece in pending.chunks(FEED_MAX) {
            self.feed_now(piece);
        }
    }

    /// Feeds what is pending in pieces whose size `policy` picks.
    fn flush(&mut self, policy: u8) {
        let size = match policy {
            0 => FEED_MAX,
            1 if self.pending.len() <= 4096 => 1,
            1 => 7,
            p if p & 0x80 != 0 => usize::from(p & 0x7f) * 512 + 1,
            p => usize::from(p),
        };
        let pending = std::mem::take(&mut self.pending);
        for piece in pending.chunks(size.min(FEED_MAX)) {
            self.feed_now(piece);
        }
    }

    fn feed_now(&mut self, bytes: &[u8]) {
        if bytes.is_empty() || !self.open() {
            return;
        }
        self.harness.feed(self.main.peer.slot, bytes);
        self.check();
    }

    /// The checks made after every step.
    fn check(&mut self) {
        let token = self.main.peer.slot;
        if self.harness.is_connected(token) {
            let (heap, queued) = self.harness.buffers(token);
            let limit = heap_factor() * self.config.max_message_bytes + SLACK;
            assert!(heap <= limit, "connection holds {heap} heap bytes (limit {limit}, queued {queued})");
            assert!(
                queued <= self.config.send_buffer_bytes + self.config.max_message_bytes + SLACK,
                "out-queue holds {queued} bytes"
            );
            self.pushed_back |= queued > 0;
        }
        self.main.pump();
        if let Some(observer) = self.observer.as_mut() {
            observer.pump();
        }
        if self.main.stream.closed() {
            assert!(!self.harness.is_open(token), "the server sent close but the connection is still open");
        }
    }

    fn finish(mut self) {
        self.flush_whole();
        self.main.settle();
        assert!(self.main.stream.upgraded(), "a valid upgrade was not answered with 101");
        let token = self.main.peer.slot;
        if self.harness.is_connected(token) {
            self.harness.hang_up(token);
        }
        if let Some(observer) = self.observer.as_mut() {
            if self.harness.is_connected(observer.peer.slot) {
                self.harness.hang_up(observer.peer.slot);
            }
        }
        assert_eq!(self.harness.connections(), 0, "connections left in the slab after every hang-up");
        let status = self.harness.status();
        assert_eq!(status.connections, 0, "connections counted after every hang-up");
        assert_eq!(status.channels, 0, "channels left after every hang-up: {:?}", self.harness.service().channels());
        self.main.settle();
        if !self.pushed_back {
            assert!(self.main.stream.at_boundary(), "the server's stream ends inside a frame");
        }
        if let Some(observer) = self.observer.as_mut() {
            observer.settle();
            assert!(self.pushed_back || observer.stream.at_boundary(), "observer's stream ends inside a frame");
        }
        if std::env::var_os("SWITCHYARD_FUZZ_DEBUG").is_some() {
            eprintln!("json route: {}; client saw {:?}", self.json, self.main.stream.seen);
            if let Some(observer) = &self.observer {
                eprintln!("observer saw {:?}", observer.stream.seen);
            }
        }
    }
}

/// A JSON message for the example handler, mostly well formed, from the input.
pub fn json_message(input: &mut Input<'_>) -> Vec<u8> {
    use serde_json::{json, Value};
    let cmd = input.pick(CMDS);
    let text = |input: &mut Input<'_>| String::from_utf8_lossy(input.short_bytes()).into_owned();
    let kind = input.u8();
    let param: Option<Value> = match kind % 9 {
        0 => None,
        1 => Some(Value::Null),
        2 => Some(json!(input.u16())),
        3 => Some(json!(text(input))),
        4 => Some(json!({ "text": text(input) })),
        5 => {
            let room = if input.bool() { input.pick(ROOMS).to_string() } else { text(input) };
            Some(json!({ "room": room }))
        }
        6 => Some(json!({ "room": "r".repeat(usize::from(input.u8()) + 1) })),
        7 => Some(json!({ "text": "\u{e9}\u{2192}\u{1F600}".repeat(usize::from(input.u8() % 8) + 1) })),
        _ => Some(json!({ "text": "x".repeat(4000 + usize::from(input.u8())) })),
    };
    let channel = match (kind >> 4) % 4 {
        0 => None,
        1 => Some("f".to_string()),
        2 => Some(input.pick(ROOMS).to_string()),
        _ => Some(text(input)),
    };
    let mut object = serde_json::Map::new();
    object.insert("cmd".into(), json!(cmd));
    if let Some(param) = param {
        object.insert("param".into(), param);
    }
    if let Some(channel) = channel {
        object.insert("channel".into(), json!(channel));
    }
    if kind & 0x40 != 0 {
        object.insert("from".into(), json!("spoofed"));
    }
    let mut bytes = serde_json::to_vec(&Value::Object(object)).unwrap_or_default();
    if kind & 0x80 != 0 {
        // Damage it: truncate, or nest too deep, or append garbage.
        match input.u8() % 3 {
            0 => bytes.truncate(usize::from(input.u8()) % (bytes.len() + 1)),
            1 => {
                let depth = usize::from(input.u8()) + 100;
                bytes = format!(r#"{{"cmd":"echo","param":{}{}}}"#, "[".repeat(depth), "]".repeat(depth)).into_bytes();
            }
            _ => bytes.extend_from_slice(input.short_bytes()),
        }
    }
    bytes
}

fn close_payload(input: &mut Input<'_>) -> Vec<u8> {
    match input.u8() % 4 {
        0 => Vec::new(),
        1 => vec![0x03],
        2 => {
            let mut payload = input.pick(CLOSE_CODES).to_be_bytes().to_vec();
            payload.extend_from_slice(input.short_bytes());
            payload.truncate(125);
            payload
        }
        _ => input.u16().to_be_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_run_clean() {
        for (name, seed) in crate::seeds::connection() {
            println!("seed {name}");
            run(&seed);
        }
    }
}
