//! Test support: an in-process server on a free port, a real WebSocket client
//! (tungstenite over a blocking TCP socket), the binary started as a child process, and
//! raw-socket helpers for malformed input.
#![allow(dead_code)]

pub mod redis;
pub mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard::{example, Config, Running, Server};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

pub type Client = WebSocket<MaybeTlsStream<TcpStream>>;

/// A config for tests: loopback, a free port, `workers` workers, timeouts unchanged.
pub fn config(workers: usize) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers,
        shutdown_grace: Duration::from_millis(500),
        ..Config::default()
    }
}

/// The example app (as the binary serves it) on a free port.
pub fn start_example(config: Config) -> Running {
    Server::new(config).unwrap().socket("/example/socket", example::handler()).echo("/echo").start().unwrap()
}

pub fn connect(addr: SocketAddr, path: &str) -> Client {
    let url = format!("ws://{addr}{path}");
    let (mut client, response) = tungstenite::connect(url).expect("upgrade");
    assert_eq!(response.status().as_u16(), 101);
    set_timeout(&mut client, Duration::from_secs(10));
    client
}

pub fn set_timeout(client: &mut Client, timeout: Duration) {
    if let MaybeTlsStream::Plain(stream) = client.get_mut() {
        stream.set_read_timeout(Some(timeout)).unwrap();
    }
}

pub fn send(client: &mut Client, message: Value) {
    client.send(Message::text(message.to_string())).expect("send");
}

/// The next JSON message (pings are answered by tungstenite and skipped).
pub fn recv(client: &mut Client) -> Value {
    loop {
        match client.read().expect("read") {
            Message::Text(text) => return serde_json::from_str(&text).expect("server sent JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// The next message whose `cmd` is `cmd`, skipping others (e.g. `online-update`).
pub fn recv_cmd(client: &mut Client, cmd: &str) -> Value {
    loop {
        let message = recv(client);
        if message["cmd"] == cmd {
            return message;
        }
    }
}

/// Round trip through the server: once `echo` comes back, everything sent before it was handled.
pub fn sync(client: &mut Client) {
    let token = uuid::Uuid::new_v4().to_string();
    send(client, json!({"cmd": "echo", "param": token}));
    loop {
        let message = recv(client);
        if message["cmd"] == "echo" && message["param"] == token.as_str() {
            return;
        }
    }
}

/// Waits until `condition` holds, or panics after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends raw bytes and returns everything the server sends until it closes (or 5 s).
pub fn raw_exchange(addr: SocketAddr, chunks: &[&[u8]], pause: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for chunk in chunks {
        stream.write_all(chunk).unwrap();
        std::thread::sleep(pause);
    }
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

pub const UPGRADE: &str = "GET /example/socket?ch=raw HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame (the one encoder every test, bench and fuzzer shares).
#[allow(unused_imports)]
pub use switchyard::wire::frame::client_frame;

/// The `switchyard` binary as a child process; stderr captured. Killed on drop.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
    stderr_lines: std::sync::mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Binary {
    pub fn start(args: &[&str]) -> Binary {
        Self::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start switchyard");
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = Vec::new();
        let addr = loop {
            let line = receiver.recv_timeout(Duration::from_secs(10)).expect("switchyard did not start");
            log.push(line.clone());
            let rest = line.split("listening on http://").nth(1).or_else(|| line.split("listening on https://").nth(1));
            if let Some(rest) = rest {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        };
        Binary { child, addr, stderr_lines: receiver, log }
    }

    /// Everything logged so far.
    pub fn drain_log(&mut self) -> &[String] {
        while let Ok(line) = self.stderr_lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
pub fn http_call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).expect("write");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Every `.rs` file under `dir`, recursively (for tests that scan the source).
pub fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
