//! A real redis-server for tests (installed by `scripts/redis.sh` if missing), started on a
//! free loopback port without persistence and killed on drop; `redis-cli` for looking; and
//! a TCP proxy that cuts one node off from it; and a tiny blocking RESP client for calling
//! scripts. Never touches a Redis it did not start.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchyard::cluster::resp::{self, Value};

use super::eventually;

pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis.sh")).arg("install").status();
        assert!(status.is_ok_and(|s| s.success()), "redis-server is not installed and could not be");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut redis = Redis { child: None, port };
        redis.restart();
        redis
    }

    pub fn restart(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", &port, "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        eventually(Duration::from_secs(10), "redis answers PING", || self.cli(&["PING"]).trim() == "PONG");
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output();
        output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    /// How many nodes subscribe to a Redis channel.
    pub fn subscribers(&self, topic: &str) -> u64 {
        let reply = self.cli(&["PUBSUB", "NUMSUB", topic]);
        reply.lines().nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    }

    pub fn channels(&self, pattern: &str) -> Vec<String> {
        self.cli(&["PUBSUB", "CHANNELS", pattern]).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }

    /// A client connection.
    pub fn client(&self) -> RespClient {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        RespClient { stream, buf: Vec::new() }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy on loopback in front of Redis for one node: `cut` closes its connections and
/// refuses new ones (that node is cut off while the others are not), `restore` lets them in.
pub struct Proxy {
    port: u16,
    /// Open, and every live socket (both sides), under one lock.
    state: std::sync::Arc<std::sync::Mutex<(bool, Vec<TcpStream>)>>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = std::sync::Arc::new(std::sync::Mutex::new((true, Vec::new())));
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mut state = shared.lock().expect("proxy lock");
                if !state.0 {
                    continue; // cut off: the connection is dropped at once
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) else { continue };
                state.1.extend([c, s]);
                pipe(client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                pipe(server, client);
            }
        });
        Proxy { port, state }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn cut(&self) {
        let mut state = self.state.lock().expect("proxy lock");
        state.0 = false;
        for socket in state.1.drain(..) {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.state.lock().expect("proxy lock").0 = true;
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Both);
        let _ = from.shutdown(std::net::Shutdown::Both);
    });
}

/// A blocking RESP connection: send commands, read replies one at a time.
pub struct RespClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RespClient {
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = Vec::new();
        resp::command(&mut out, args);
        self.send_raw(&out);
    }

    pub fn send_raw(&mut self, wire: &[u8]) {
        self.stream.write_all(wire).expect("write to redis");
    }

    /// The next reply (or push), handed to `f`.
    pub fn reply<T>(&mut self, f: impl FnOnce(&Value<'_>) -> T) -> T {
        loop {
            if let Some((value, used)) = resp::parse(&self.buf).expect("valid RESP") {
                let result = f(&value);
                self.buf.drain(..used);
                return result;
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("read from redis");
            assert!(n > 0, "redis closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends a command and returns its reply as text (for simple checks).
    pub fn call(&mut self, args: &[&[u8]]) -> String {
        self.send(args);
        self.reply(|v| format!("{v:?}"))
    }
}
