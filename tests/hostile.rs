//! Hostile clients against the real `switchyard` binary over real loopback sockets (issue 3,
//! section 4): slowloris and half-open upgrades, protocol violations, a slow reader in a
//! flooded channel, connect/disconnect churn, clients that vanish mid-message, oversized
//! declarations, ping floods and oversized heads.
//!
//! Every test runs its own binary (`--workers 2`), measures what the server holds through
//! `/proc/<pid>` (open descriptors, RSS) and its loopback-only admin status, and ends with
//! `Server::finish`: SIGTERM, exit 0, and no `panicked` anywhere in its stderr. The heavy
//! tests (flood, churn, a thousand half-open sockets) take a lock so that they do not share
//! the machine's two cores with each other. Run with `cargo test --release --test hostile`
//! expose a server bug and fail until it is fixed: run them with `-- --ignored`.

mod common;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{client_frame, connect, recv_cmd, send, Binary, UPGRADE};
use serde_json::{json, Value};

// ---- the binary, observed from outside ------------------------------------------------------

/// Serializes the tests that load both cores for seconds.
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The binary with `--workers 2`, and what can be seen of it from outside.
struct Server {
    bin: Binary,
    finished: bool,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut all = vec!["--workers", "2", "--shutdown-grace", "500ms"];
        all.extend_from_slice(args);
        Server { bin: Binary::start(&all), finished: false }
    }

    fn addr(&self) -> SocketAddr {
        self.bin.addr
    }

    fn pid(&self) -> u32 {
        self.bin.child.id()
    }

    /// Open file descriptors of the server process.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).expect("read /proc/<pid>/fd").count()
    }

    /// Waits until the server holds exactly `expected` descriptors.
    fn wait_fds(&self, expected: usize, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.fds();
            if now == expected {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: the server holds {now} descriptors, expected {expected}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
    fn proc_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"))
    }

    fn rss_kib(&self) -> u64 {
        self.proc_kib("VmRSS")
    }

    /// `GET /admin/api/status` (served to loopback clients without a token).
    fn status(&self) -> Value {
        let (code, body) = http_get(self.addr(), "/admin/api/status");
        assert_eq!(code, 200, "admin status: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("admin status is JSON")
    }

    fn stat(&self, name: &str) -> u64 {
        let status = self.status();
        status[name].as_u64().unwrap_or_else(|| panic!("no counter {name} in {status}"))
    }

    /// Polls the admin status until `condition` holds; returns that status.
    fn wait_status(&self, timeout: Duration, what: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.status();
            if condition(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; status: {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_stat(&self, name: &str, expected: u64, timeout: Duration) {
        self.wait_status(timeout, &format!("{name} == {expected}"), |s| s[name] == expected);
    }

    fn panics(&mut self) -> Vec<String> {
        self.bin.drain_log().iter().filter(|line| line.contains("panicked")).cloned().collect()
    }

    /// SIGTERM; the server must exit 0 and must not have logged a panic.
    fn finish(mut self) {
        self.finished = true;
        self.bin.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(exit) = self.bin.child.try_wait().expect("wait for switchyard") {
                break exit;
            }
            assert!(Instant::now() < deadline, "switchyard did not exit within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        };
        // The stderr reader thread delivers the last lines shortly after the exit.
        let mut seen = usize::MAX;
        while seen != self.bin.drain_log().len() {
            seen = self.bin.log.len();
            std::thread::sleep(Duration::from_millis(50));
        }
        let panics = self.panics();
        assert!(panics.is_empty(), "switchyard panicked:\n{}", panics.join("\n"));
        assert!(exit.success(), "switchyard exited with {exit}; log:\n{}", self.bin.log.join("\n"));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let log = self.bin.drain_log().to_vec();
        if std::thread::panicking() {
            let tail = &log[log.len().saturating_sub(20)..];
            eprintln!("switchyard log (last lines):\n{}", tail.join("\n"));
        } else {
            let panics: Vec<&String> = log.iter().filter(|l| l.contains("panicked")).collect();
            assert!(panics.is_empty(), "switchyard panicked: {panics:?}");
        }
    }
}

/// One plain HTTP request; returns the status and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let reply = http_raw(addr, format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
    split_response(&reply)
}

/// Sends `request` and returns every byte the server sends until it closes.
fn http_raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).expect("send the request");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("the server answers and closes");
    reply
}

fn split_response(reply: &[u8]) -> (u16, Vec<u8>) {
    let text = String::from_utf8_lossy(reply);
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = match find(reply, b"\r\n\r\n") {
        Some(at) => reply[at + 4..].to_vec(),
        None => Vec::new(),
    };
    (code, body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---- a raw WebSocket client -----------------------------------------------------------------

/// A raw upgraded socket that parses server frames in place from one growing buffer.
struct Ws {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// An upgrade request for `path` on the example route.
fn upgrade_request(path: &str) -> String {
    UPGRADE.replace("/example/socket?ch=raw", path)
}

/// Upgrades a raw socket; panics unless the server answers 101.
fn upgrade(addr: SocketAddr, path: &str) -> Ws {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.write_all(upgrade_request(path).as_bytes()).expect("send the upgrade");
    let mut ws = Ws { stream, buf: vec![0; 64 * 1024], start: 0, end: 0 };
    let head_end = loop {
        if let Some(at) = find(&ws.buf[..ws.end], b"\r\n\r\n") {
            break at + 4;
        }
        let n = ws.stream.read(&mut ws.buf[ws.end..]).expect("read the upgrade answer");
        assert!(n > 0, "the server closed instead of answering the upgrade");
        ws.end += n;
    };
    let head = String::from_utf8_lossy(&ws.buf[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    ws.start = head_end;
    ws
}

/// A server frame header: (header length, payload length), once complete.
fn server_header(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.len() < 2 {
        return None;
    }
    let mask = if bytes[1] & 0x80 != 0 { 4 } else { 0 };
    let (extra, len) = match bytes[1] & 0x7f {
        126 if bytes.len() >= 4 => (2, u16::from_be_bytes([bytes[2], bytes[3]]) as usize),
        127 if bytes.len() >= 10 => (8, u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize),
        126 | 127 => return None,
        n => (0, n as usize),
    };
    let header = 2 + extra + mask;
    (bytes.len() >= header).then_some((header, len))
}

impl Ws {
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to the server");
    }

    fn send_json(&mut self, message: Value) {
        self.send(&client_frame(0x81, message.to_string().as_bytes()));
    }

    /// The next server frame: its first byte and where its payload is in `self.buf`.
    /// `Ok(None)` when the server ended the stream between frames.
    fn next(&mut self) -> io::Result<Option<(u8, Range<usize>)>> {
        loop {
            let mut needed = 0;
            if let Some((header, len)) = server_header(&self.buf[self.start..self.end]) {
                if self.end - self.start >= header + len {
                    let first = self.buf[self.start];
                    let payload = self.start + header..self.start + header + len;
                    self.start += header + len;
                    return Ok(Some((first, payload)));
                }
                needed = header + len;
            }
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            } else if self.buf.len() - self.end < 16 * 1024 || self.start + needed > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
            }
            if needed > self.buf.len() {
                self.buf.resize(needed, 0);
            }
            let n = self.stream.read(&mut self.buf[self.end..])?;
            if n == 0 {
                if self.start == self.end {
                    return Ok(None);
                }
                let left = self.end - self.start;
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("stream ended inside a frame ({left} bytes of it)"),
                ));
            }
            self.end += n;
        }
    }

    /// Reads frames until the server's close frame; returns its code (1005 when it has
    /// none), or why there was none.
    fn try_close_code(&mut self) -> Result<u16, String> {
        loop {
            match self.next() {
                Ok(Some((first, payload))) if first & 0x0f == 0x8 => {
                    let payload = &self.buf[payload];
                    return Ok(if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 });
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Err("the server ended the stream without a close frame".into()),
                Err(e) => return Err(format!("no close frame: {e}")),
            }
        }
    }

    fn close_code(&mut self) -> u16 {
        self.try_close_code().unwrap_or_else(|e| panic!("{e}"))
    }

    /// After the close frame: the server must end the TCP stream too.
    fn expect_end(&mut self) {
        match self.next() {
            Ok(None) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Ok(Some((first, _))) => panic!("a frame ({first:#04x}) after the close frame"),
            Err(e) => panic!("the server did not end the stream after its close frame: {e}"),
        }
    }

    /// Resets the connection (RST instead of FIN) when dropped.
    fn set_reset_on_drop(&self) {
        socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO)).expect("SO_LINGER 0");
    }
}

// ---- handshake abuse ------------------------------------------------------------------------

#[test]
fn slowloris_upgrade_is_closed_at_the_handshake_timeout_and_leaves_no_descriptor() {
    let server = Server::start(&["--handshake-timeout", "1s"]);
    let base = server.fds();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    server.wait_fds(base + 1, Duration::from_secs(5), "the slowloris connection is accepted");
    // One byte per 100 ms: the request (about 170 bytes) would take 17 s to complete.
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let request = UPGRADE.as_bytes();
    let start = Instant::now();
    let (mut sent, mut answer) = (0, Vec::new());
    let closed_after = loop {
        if sent < request.len() - 1 && stream.write_all(&request[sent..sent + 1]).is_ok() {
            sent += 1;
        }
        let mut buf = [0u8; 1024];
        match stream.read(&mut buf) {
            Ok(0) => break start.elapsed(),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break start.elapsed(), // reset: closed too
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the slowloris is still connected after 5 s");
    };
    eprintln!("slowloris: closed after {closed_after:?}, {sent} bytes sent");
    assert!(sent < request.len(), "the request must never have been complete");
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_millis(2500),
        "closed after {closed_after:?}; the handshake timeout is 1 s (checked every 250 ms)"
    );
    assert!(!String::from_utf8_lossy(&answer).contains(" 101 "), "a partial request was upgraded");
    server.wait_fds(base, Duration::from_secs(2), "the slowloris descriptor is released");
    assert_eq!(server.stat("handshake_timeouts"), 1);
    assert_eq!(server.stat("connections"), 0);
    server.finish();
}

#[test]
fn a_thousand_half_open_upgrades_neither_block_a_chat_nor_outlive_the_handshake_timeout() {
    const HALF_OPEN: usize = 1000;
    let _heavy = heavy();
    let server = Server::start(&["--handshake-timeout", "3s"]);
    let base = server.fds();
    let half = &UPGRADE.as_bytes()[..UPGRADE.len() / 2];
    let start = Instant::now();
    let mut idle: Vec<TcpStream> = (0..HALF_OPEN)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr()).expect("connect a half-open upgrade");
            stream.write_all(half).unwrap();
            stream
        })
        .collect();
    server.wait_fds(base + HALF_OPEN, Duration::from_secs(5), "the server accepts every half-open upgrade");
    let opened = start.elapsed();

    let chat_start = Instant::now();
    let mut alice = connect(server.addr(), "/example/socket?ch=meanwhile");
    let mut bob = connect(server.addr(), "/example/socket?ch=meanwhile");
    send(&mut alice, json!({"cmd": "chat", "param": {"text": "still here?"}}));
    assert_eq!(recv_cmd(&mut bob, "chat")["param"]["text"], "still here?");
    assert_eq!(recv_cmd(&mut alice, "chat")["param"]["text"], "still here?");
    let chat_took = chat_start.elapsed();
    assert!(server.fds() >= base + HALF_OPEN + 2, "the half-open upgrades must still be held while the chat runs");
    assert!(chat_took < Duration::from_secs(1), "two clients needed {chat_took:?} to connect and chat");

    for (i, stream) in idle.iter_mut().enumerate() {
        stream.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "half-open upgrade {i} got an answer: {rest:?}"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("half-open upgrade {i} was not closed by the server: {e}"),
        }
    }
    let all_closed = start.elapsed();
    eprintln!("half-open: {HALF_OPEN} opened in {opened:?}, chat took {chat_took:?}, all closed after {all_closed:?}");
    assert!(
        all_closed >= Duration::from_millis(2900) && all_closed < Duration::from_secs(5),
        "the half-open upgrades were closed after {all_closed:?}; the handshake timeout is 3 s"
    );
    assert_eq!(server.stat("handshake_timeouts"), HALF_OPEN as u64);
    drop((alice, bob, idle));
    server.wait_stat("connections", 0, Duration::from_secs(5));
    server.wait_fds(base, Duration::from_secs(5), "every descriptor is released");
    server.finish();
}

#[test]
fn garbage_instead_of_http_gets_400_and_a_close() {
    let server = Server::start(&[]);
    let base = server.fds();
    // The start of a TLS ClientHello: what a client speaking https to a ws:// port sends.
    let garbage = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x91\x00\xffgarbage\r\n\r\n";
    let started = Instant::now();
    let reply = http_raw(server.addr(), garbage);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400 "), "expected 400, got: {text}");
    assert!(started.elapsed() < Duration::from_secs(1), "the server closed only after {:?}", started.elapsed());
    assert_eq!(server.stat("handshakes_rejected"), 1);
    server.wait_fds(base, Duration::from_secs(3), "the garbage connection is released");
    server.finish();
}

#[test]
fn a_head_over_8_kib_gets_431() {
    let server = Server::start(&[]);
    let request = format!("GET /example/socket HTTP/1.1\r\nHost: localhost\r\nX-Filler: {}", "a".repeat(16 * 1024));
    let (code, body) = split_response(&http_raw(server.addr(), request.as_bytes()));
    assert_eq!(code, 431, "{}", String::from_utf8_lossy(&body));
    server.finish();
}

#[test]
fn more_than_64_headers_get_431() {
    let server = Server::start(&[]);
    let headers: String = (0..100).map(|i| format!("X-H{i}: y\r\n")).collect();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");
    assert!(request.len() < 8 * 1024, "small enough that only the count is over the limit");
    let (code, body) = split_response(&http_raw(server.addr(), request.as_bytes()));
    assert_eq!(code, 431, "{}", String::from_utf8_lossy(&body));
    server.finish();
}

#[test]
fn a_declared_gigabyte_request_body_gets_413_without_waiting_for_it() {
    let server = Server::start(&[]);
    let request = "POST /admin/api/send HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{";
    let (code, body) = split_response(&http_raw(server.addr(), request.as_bytes()));
    assert_eq!(code, 413, "{}", String::from_utf8_lossy(&body));
    server.finish();
}

// ---- protocol violations --------------------------------------------------------------------

/// Upgrades, sends `bytes`, and checks the close code, the counter and the cleanup.
fn violation_closes_with(bytes: &[u8], expected: u16, what: &str) {
    let server = Server::start(&[]);
    let base = server.fds();
    let mut ws = upgrade(server.addr(), "/example/socket?ch=hostile");
    ws.send(bytes);
    assert_eq!(ws.close_code(), expected, "close code for {what}");
    ws.expect_end();
    drop(ws);
    assert_eq!(server.stat("protocol_closes"), 1, "{what} is counted as a protocol close");
    server.wait_stat("connections", 0, Duration::from_secs(3));
    server.wait_fds(base, Duration::from_secs(3), "the violator's descriptor is released");
    server.finish();
}

#[test]
fn an_unmasked_client_frame_closes_1002() {
    violation_closes_with(&[0x81, 0x02, b'h', b'i'], 1002, "an unmasked frame");
}

#[test]
fn invalid_utf8_text_closes_1007() {
    violation_closes_with(&client_frame(0x81, &[b'{', 0xc3, 0x28, b'}']), 1007, "invalid UTF-8");
}

#[test]
fn invalid_utf8_split_across_fragments_closes_1007() {
    let mut bytes = client_frame(0x01, b"{\"cmd\":\"echo\",\"param\":\"\xe2\x82");
    bytes.extend(client_frame(0x80, b"\x28\"}"));
    violation_closes_with(&bytes, 1007, "invalid UTF-8 across fragments");
}

#[test]
fn a_message_of_64_kib_is_accepted_and_one_byte_more_closes_1009() {
    let server = Server::start(&[]);
    let mut ws = upgrade(server.addr(), "/example/socket?ch=big");
    let envelope = json!({"cmd": "echo", "param": ""}).to_string();
    let padding = "x".repeat(64 * 1024 - envelope.len());
    let largest = json!({"cmd": "echo", "param": padding}).to_string();
    assert_eq!(largest.len(), 64 * 1024);
    ws.send(&client_frame(0x81, largest.as_bytes()));
    let (first, payload) = ws.next().expect("read").expect("an answer to the 64 KiB message");
    assert_eq!(first & 0x0f, 0x1, "a text frame answers the largest allowed message");
    let echo: Value = serde_json::from_slice(&ws.buf[payload]).unwrap();
    assert_eq!(echo["param"].as_str().map(str::len), Some(padding.len()), "the echo carries the whole padding");

    let over = json!({"cmd": "echo", "param": format!("{padding}x")}).to_string();
    ws.send(&client_frame(0x81, over.as_bytes()));
    assert_eq!(ws.close_code(), 1009, "one byte over --max-message-bytes (64 KiB)");
    ws.expect_end();
    assert_eq!(server.stat("protocol_closes"), 1);
    server.finish();
}

#[test]
fn a_fragmented_message_over_the_limit_closes_1009() {
    let mut bytes = Vec::new();
    bytes.extend(client_frame(0x01, &[b' '; 40 * 1024]));
    bytes.extend(client_frame(0x00, &[b' '; 40 * 1024]));
    bytes.extend(client_frame(0x80, b"{}"));
    violation_closes_with(&bytes, 1009, "80 KiB in fragments");
}

#[test]
fn reserved_bits_close_1002() {
    for (first, what) in [(0xC1, "RSV1"), (0xA1, "RSV2"), (0x91, "RSV3")] {
        violation_closes_with(&client_frame(first, b"{}"), 1002, what);
    }
}

#[test]
fn reserved_opcodes_close_1002() {
    for (first, what) in [(0x83, "data opcode 3"), (0x87, "data opcode 7"), (0x8B, "control opcode 0xB")] {
        violation_closes_with(&client_frame(first, b"x"), 1002, what);
    }
}

#[test]
fn a_declared_100_mb_frame_closes_1009_from_its_header_alone() {
    let server = Server::start(&[]);
    let before = server.rss_kib();
    let mut ws = upgrade(server.addr(), "/example/socket?ch=huge");
    // The header announces 100 MB; only 1 KiB of it ever follows.
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&(100u64 * 1024 * 1024).to_be_bytes());
    bytes.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
    bytes.extend_from_slice(&[0u8; 1024]);
    ws.send(&bytes);
    assert_eq!(ws.close_code(), 1009, "the declared length alone is over the limit");
    ws.expect_end();
    let grown = server.rss_kib().saturating_sub(before);
    eprintln!("declared 100 MB frame: RSS grew by {grown} KiB");
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB for a frame that was never sent");
    assert_eq!(server.stat("protocol_closes"), 1);
    server.finish();
}

#[test]
fn a_continuation_whose_length_wraps_the_message_size_is_refused_not_a_panic() {
    // A 1-byte first fragment, then a continuation declaring 2^64 - 1 bytes: the sum of the
    // two lengths wraps to 0 in u64 arithmetic. RFC 6455 forbids the top bit of a 64-bit
    // length; the server must close (1002 or 1009) and keep serving.
    let server = Server::start(&[]);
    let mut ws = upgrade(server.addr(), "/example/socket?ch=wrap");
    let mut bytes = client_frame(0x02, b"x");
    bytes.extend_from_slice(&[0x80, 0x80 | 127]);
    bytes.extend_from_slice(&u64::MAX.to_be_bytes());
    bytes.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
    bytes.extend_from_slice(&[0u8; 64]);
    ws.send(&bytes);
    let code = ws.try_close_code();
    // Both workers must still serve: one connection per worker is likely with 8 tries.
    for _ in 0..8 {
        let (status, _) = http_get(server.addr(), "/healthz");
        assert_eq!(status, 200, "the server stopped serving after the wrapping length");
    }
    let mut server = server;
    let panics = server.panics();
    assert!(panics.is_empty(), "the wrapping length made the server panic:\n{}", panics.join("\n"));
    assert!(matches!(code, Ok(1002 | 1009)), "expected close 1002 or 1009, got {code:?}");
    server.finish();
}

// ---- vanishing clients and churn ------------------------------------------------------------

#[test]
fn a_client_that_resets_mid_message_is_cleaned_up() {
    let server = Server::start(&[]);
    let base = server.fds();
    let mut vanisher = upgrade(server.addr(), "/example/socket?ch=vanish");
    let mut witness = connect(server.addr(), "/example/socket?ch=vanish");
    server.wait_stat("connections", 2, Duration::from_secs(3));
    let message = json!({"cmd": "chat", "param": {"text": "y".repeat(3000)}}).to_string();
    let frame = client_frame(0x81, message.as_bytes());
    let half = frame.len() / 2;
    vanisher.send(&frame[..half]);
    // Wait until the server has read the half frame (per-connection counters are published
    // on the timer sweep), so the reset really lands mid-message.
    let handshake = upgrade_request("/example/socket?ch=vanish").len();
    let received =
        |c: &Value| c["path"] == "/example/socket" && c["bytes_in"].as_u64().unwrap_or(0) >= (handshake + half) as u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = http_get(server.addr(), "/admin/api/connections?channel=vanish");
        let list: Value = serde_json::from_slice(&body).unwrap();
        if list["connections"].as_array().is_some_and(|all| all.iter().any(received)) {
            break;
        }
        assert!(Instant::now() < deadline, "the server never counted the half frame: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }
    vanisher.set_reset_on_drop();
    drop(vanisher);
    let update = recv_cmd(&mut witness, "online-update");
    assert_eq!(update["param"]["connected"], false, "the others learn that the vanished client left");
    let status = server.wait_status(Duration::from_secs(3), "only the witness is left", |s| s["connections"] == 1);
    assert_eq!(status["channels"], 1, "the channel stays for the witness");
    drop(witness);
    server.wait_status(Duration::from_secs(3), "nothing left", |s| s["connections"] == 0 && s["channels"] == 0);
    server.wait_fds(base, Duration::from_secs(3), "both descriptors are released");
    server.finish();
}

/// One connect/disconnect cycle: upgrade into a channel of its own, maybe a message or a
/// second channel, then a clean close (i % 4 = 0, 1), a FIN (2) or a reset (3).
fn cycle(addr: SocketAddr, i: usize) {
    let mut ws = upgrade(addr, &format!("/example/socket?ch=cycle-{i}"));
    if i.is_multiple_of(2) {
        ws.send_json(json!({"cmd": "echo", "param": i}));
        let (_, payload) = ws.next().expect("read the echo").expect("an echo");
        let echo: Value = serde_json::from_slice(&ws.buf[payload]).unwrap();
        assert_eq!(echo["param"], i, "cycle {i}: echo");
    }
    if i % 8 == 1 {
        ws.send_json(json!({"cmd": "join-room", "param": {"room": format!("room-{i}")}}));
    }
    match i % 4 {
        0 | 1 => {
            ws.send(&client_frame(0x88, &1000u16.to_be_bytes()));
            assert_eq!(ws.close_code(), 1000, "cycle {i}: the close is answered");
            ws.expect_end();
        }
        2 => {}
        _ => ws.set_reset_on_drop(),
    }
}

fn run_cycles(addr: SocketAddr, cycles: Range<usize>, threads: usize) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let cycles = cycles.clone();
            std::thread::spawn(move || cycles.filter(|i| i % threads == t).for_each(|i| cycle(addr, i)))
        })
        .collect();
    for handle in handles {
        handle.join().expect("a cycle failed");
    }
}

#[test]
fn ten_thousand_connect_disconnect_cycles_leave_nothing_behind() {
    const WARM_UP: usize = 1_000;
    const CYCLES: usize = 10_000;
    let _heavy = heavy();
    let server = Server::start(&["--rate-limit", "0"]);
    let addr = server.addr();
    let base_fds = server.fds();
    let empty = |s: &Value| s["connections"] == 0 && s["channels"] == 0;

    run_cycles(addr, 0..WARM_UP, 4);
    server.wait_status(Duration::from_secs(10), "no connection or channel after the warm-up", empty);
    server.wait_fds(base_fds, Duration::from_secs(10), "no descriptor after the warm-up");
    let rss_start = server.rss_kib();

    let started = Instant::now();
    run_cycles(addr, WARM_UP..WARM_UP + CYCLES, 4);
    let took = started.elapsed();
    let status = server.wait_status(Duration::from_secs(10), "no connection or channel left", empty);
    server.wait_fds(base_fds, Duration::from_secs(10), "no descriptor left");
    let rss_end = server.rss_kib();
    eprintln!(
        "churn: {CYCLES} cycles in {took:?}; RSS {rss_start} KiB after the warm-up, {rss_end} KiB after; {base_fds} fds"
    );
    assert_eq!(status["connections_opened"], (WARM_UP + CYCLES) as u64, "every cycle upgraded");
    let (_, body) = http_get(addr, "/admin/api/channels");
    let channels: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(channels["total"], 0, "channels left: {channels}");
    assert!(
        rss_end * 10 <= rss_start * 11,
        "RSS grew from {rss_start} KiB to {rss_end} KiB (more than 10 %) over {CYCLES} cycles"
    );
    server.finish();
}

// ---- floods ---------------------------------------------------------------------------------

/// The 8-digit sequence number at the start of a chat text, if this is a chat frame.
fn chat_seq(payload: &[u8]) -> Option<u64> {
    let head = &payload[..payload.len().min(512)];
    find(head, b"\"cmd\":\"chat\"")?;
    let at = find(head, b"\"text\":\"")? + 8;
    std::str::from_utf8(head.get(at..at + 8)?).ok()?.parse().ok()
}

/// A chat frame template whose text is `TEXT` bytes, the first 8 of them digits.
struct ChatFrames {
    frame: Vec<u8>,
    digits: usize,
}

impl ChatFrames {
    fn new(text_bytes: usize) -> Self {
        let text = "x".repeat(text_bytes);
        let message = json!({"cmd": "chat", "param": {"text": text}}).to_string();
        let frame = switchyard::wire::frame::client_frame_masked(0x81, message.as_bytes(), [0; 4]) /* zero mask: no masking cost */;
        let digits = find(&frame, b"\"text\":\"").unwrap() + 8;
        ChatFrames { frame, digits }
    }

    fn with_seq(&mut self, seq: u64) -> &[u8] {
        self.frame[self.digits..self.digits + 8].copy_from_slice(format!("{seq:08}").as_bytes());
        &self.frame
    }
}

#[test]
fn a_slow_reader_in_a_flooded_channel_is_cut_off_while_100_readers_get_every_message_in_order() {
    const MEMBERS: usize = 100;
    const TEXT_BYTES: usize = 4_000;
    /// 25,000 texts of 4,000 bytes: 100 MB into the channel (each member receives it all).
    const MESSAGES: u64 = 100_000_000 / TEXT_BYTES as u64;
    /// The publisher stays at most this many messages (128 KB) ahead of the slowest reader,
    /// far below the send buffer, so only the reader that never reads can fall behind.
    const WINDOW: u64 = 32;
    const SEND_BUFFER: u64 = 256 * 1024;
    let _heavy = heavy();
    let server = Server::start(&["--rate-limit", "0", "--send-buffer-bytes", &SEND_BUFFER.to_string()]);
    let addr = server.addr();
    let path = "/example/socket?ch=flood";
    let slow = upgrade(addr, path);
    let readers: Vec<Ws> = (0..MEMBERS).map(|_| upgrade(addr, path)).collect();
    server.wait_stat("connections", MEMBERS as u64 + 1, Duration::from_secs(5));
    let rss_before = server.rss_kib();
    let mut publisher = readers[0].stream.try_clone().unwrap();

    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..MEMBERS).map(|_| AtomicU64::new(0)).collect());
    let failed = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let (progress, failed) = (progress.clone(), failed.clone());
            std::thread::spawn(move || -> Result<Ws, String> {
                ws.stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut next = 0;
                let result = loop {
                    if next > MESSAGES {
                        break Ok(());
                    }
                    let (first, payload) = match ws.next() {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break Err(format!("reader {i}: stream ended after {next} messages")),
                        Err(e) => break Err(format!("reader {i}: {e} after {next} messages")),
                    };
                    match first & 0x0f {
                        0x1 => {}
                        0x8 => break Err(format!("reader {i}: closed by the server after {next} messages")),
                        _ => continue,
                    }
                    let Some(seq) = chat_seq(&ws.buf[payload]) else {
                        continue; // online-update of the others joining or the slow reader leaving
                    };
                    if seq != next {
                        break Err(format!("reader {i}: expected message {next}, got {seq}"));
                    }
                    next += 1;
                    progress[i].store(next, Ordering::Release);
                };
                if result.is_err() {
                    failed.store(true, Ordering::Release);
                    progress[i].store(u64::MAX, Ordering::Release);
                }
                result.map(|()| ws)
            })
        })
        .collect();

    let started = Instant::now();
    let mut frames = ChatFrames::new(TEXT_BYTES);
    let mut cut_off_at = None;
    // Messages 0..MESSAGES are the flood; message MESSAGES marks the end, so a duplicate of
    // the last flood message would show up as out of order.
    for seq in 0..=MESSAGES {
        while !failed.load(Ordering::Acquire) {
            let slowest = progress.iter().map(|p| p.load(Ordering::Acquire)).min().unwrap();
            if seq < slowest + WINDOW {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(90), "the flood stalled at message {seq}");
            std::thread::sleep(Duration::from_micros(200));
        }
        if failed.load(Ordering::Acquire) {
            break;
        }
        publisher.write_all(frames.with_seq(seq)).expect("publish");
        if cut_off_at.is_none() && seq.is_multiple_of(1000) && server.stat("slow_consumer_closes") > 0 {
            cut_off_at = Some(seq);
        }
    }
    let (readers, errors): (Vec<_>, Vec<_>) =
        handles.into_iter().map(|h| h.join().expect("reader thread")).partition(Result::is_ok);
    let took = started.elapsed();
    let errors: Vec<String> = errors.into_iter().filter_map(Result::err).collect();
    assert!(errors.is_empty(), "{} of {MEMBERS} readers failed:\n{}", errors.len(), errors.join("\n"));

    let status = server.status();
    let peak = server.proc_kib("VmHWM");
    let (_, metrics) = http_get(addr, "/metrics");
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    // The bound: every member's out-queue full at once (102 × 256 KiB = 25.5 MiB, frames
    // not even shared) plus 32 MiB for the process itself (4 MiB at start), its two 64 KiB
    // read buffers and allocator slack: 57.5 MiB, well under the 100 MB that went through,
    // so a server that kept the flood (for the slow reader or anyone) would fail it.
    let bound_kib = 32 * 1024 + (MEMBERS as u64 + 2) * SEND_BUFFER / 1024;
    eprintln!(
        "flood: {} messages ({} MB) to {MEMBERS} readers in {took:?}; slow reader cut off by message {cut_off_at:?}; \
         RSS {rss_before} KiB before, peak {peak} KiB (bound {bound_kib} KiB)",
        MESSAGES + 1,
        (MESSAGES + 1) * TEXT_BYTES as u64 / 1_000_000
    );
    assert_eq!(status["slow_consumer_closes"], 1, "exactly the reader that never reads is a slow consumer");
    assert!(
        metrics.contains("switchyard_closes_total{reason=\"slow_consumer\"} 1\n"),
        "/metrics counts the slow consumer:\n{metrics}"
    );
    assert_eq!(status["connections"], MEMBERS as u64, "the readers stay; the slow reader's session is gone");
    assert!(peak < bound_kib, "peak RSS {peak} KiB is over the stated bound of {bound_kib} KiB");
    drop((slow, publisher, readers));
    server.finish();
}

#[test]
fn a_slow_consumer_gets_whole_frames_then_close_1008() {
    // The close 1008 is best effort (the slow reader's socket is full), but once the reader
    // does read, what it gets must still be a valid WebSocket stream: whole frames in order,
    // then the close frame. Dropping the unsent rest of a partly written frame and appending
    // the close frame would leave the reader a frame whose length swallows the close.
    const SEND_BUFFER: &str = "65536";
    let server = Server::start(&["--rate-limit", "0", "--send-buffer-bytes", SEND_BUFFER]);
    let addr = server.addr();
    let mut slow = upgrade(addr, "/example/socket?ch=trickle");
    let publisher = upgrade(addr, "/example/socket?ch=trickle");
    let mut writer = publisher.stream.try_clone().unwrap();
    let drain = std::thread::spawn(move || {
        let mut publisher = publisher;
        while let Ok(Some(_)) = publisher.next() {}
    });
    server.wait_stat("connections", 2, Duration::from_secs(3));
    let mut frames = ChatFrames::new(4000);
    let mut sent = 0;
    let cut_off = || server.stat("slow_consumer_closes") + server.stat("rate_limit_closes");
    while cut_off() == 0 {
        for _ in 0..100 {
            writer.write_all(frames.with_seq(sent)).expect("publish");
            sent += 1;
        }
        assert!(sent < 100_000, "400 MB went by and the reader that never reads was not cut off");
    }
    let mut received = 0;
    let code = loop {
        match slow.next() {
            Ok(Some((first, payload))) => match first & 0x0f {
                0x8 => break u16::from_be_bytes([slow.buf[payload.start], slow.buf[payload.start + 1]]),
                0x1 => {
                    if let Some(seq) = chat_seq(&slow.buf[payload]) {
                        assert_eq!(seq, received, "the slow reader's messages are in order");
                        received += 1;
                    }
                }
                _ => {}
            },
            Ok(None) => panic!("the stream ended after {received} messages without a close frame"),
            Err(e) => panic!("after {received} whole messages the slow reader's stream is broken: {e}"),
        }
    };
    eprintln!("slow consumer: {sent} published, {received} received before close {code}");
    assert_eq!(code, 1008);
    assert!(received > 0 && received < sent, "the reader got a prefix of the messages ({received} of {sent})");
    drop((slow, writer));
    drain.join().unwrap();
    server.finish();
}

#[test]
fn a_ping_flood_from_a_client_that_never_reads_is_cut_off_with_bounded_memory() {
    // Empty pings are the cheapest frame to send (6 bytes) and each costs the server a
    // 2-byte pong in the client's out-queue. A client that never reads must be cut off (by
    // the message rate, which pings count against, or by the send-buffer limit), and the
    // memory held for it must stay of the order of that limit: the bound is 4 × the limit
    // plus 8 MiB of slack for the kernel-side churn.
    const LIMIT_KIB: u64 = 1024;
    let server = Server::start(&[]);
    let mut ws = upgrade(server.addr(), "/example/socket?ch=pings");
    let before = server.rss_kib();
    let batch: Vec<u8> = (0..10_000).flat_map(|_| client_frame(0x89, b"")).collect();
    let started = Instant::now();
    let mut sent = 0u64;
    let cut_off = || server.stat("slow_consumer_closes") + server.stat("rate_limit_closes");
    while cut_off() == 0 {
        if ws.stream.write_all(&batch).is_err() {
            break; // the server has closed: the counter says why, below
        }
        sent += 10_000;
        assert!(sent < 20_000_000, "20 million pings and the client was not cut off");
    }
    let peak = server.proc_kib("VmHWM");
    let grown = peak.saturating_sub(before);
    eprintln!(
        "ping flood: {sent} pings in {:?}; RSS {before} KiB before, peak {peak} KiB (+{grown} KiB)",
        started.elapsed()
    );
    assert_eq!(cut_off(), 1, "the pinger is closed (as a ping flood, or as a slow consumer)");
    server.wait_stat("connections", 0, Duration::from_secs(3));
    let bound = 4 * LIMIT_KIB + 8 * 1024;
    assert!(grown < bound, "the ping flood grew RSS by {grown} KiB; bound {bound} KiB");
    drop(ws);
    server.finish();
}
