//! A worker core driven by hand, without a poll loop: for fuzzing, benchmarks and tests
//! that need to feed a connection exact bytes and see exactly what it writes.
//!
//! It builds a one-worker `Service` with the example routes (`/example/socket`, `/echo`),
//! adds connections whose server side is a real loopback socket (so writes are real), and
//! exposes the core's entry points. Not part of the stable API; never used by the server.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use mio::Poll;

use super::conn::{Conn, Slot};
use super::core::WorkerCore;
use crate::config::Config;
use crate::service::bus::InboxReceiver;
use crate::service::{Service, Status};
use crate::wire::frame::SharedFrame;

/// A worker core with no poll loop: tests feed it bytes and run its turns by hand.
pub struct Harness {
    core: WorkerCore,
    _poll: Poll,
    inbox: InboxReceiver,
    listener: TcpListener,
    /// The client ends of the members' shared sockets (kept open so writes succeed).
    member_clients: Vec<TcpStream>,
}

/// One connection of the harness: its token and the client end of its socket.
pub struct Peer {
    /// The connection's slot in the core.
    pub slot: Slot,
    /// The client end of the socket pair.
    pub client: TcpStream,
}

impl Harness {
    /// A core with the example app's routes (built as the binary builds them) and `config`'s limits.
    pub fn new(config: Config) -> io::Result<Self> {
        let config = Config { workers: 1, ..config };
        let server = crate::Server::new(config).map_err(io::Error::other)?;
        let (service, routes, mut polls) =
            server.socket("/example/socket", crate::example::handler()).echo("/echo").into_parts();
        let (poll, receiver) = polls.pop().ok_or_else(|| io::Error::other("a server without a worker"))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        Ok(Harness {
            core: WorkerCore::new(0, service, Arc::new(routes)),
            _poll: poll,
            inbox: receiver,
            listener,
            member_clients: Vec::new(),
        })
    }

    /// The service handle of the core's server.
    pub fn service(&self) -> Service {
        self.core.service.clone()
    }

    /// The service's counters.
    pub fn status(&self) -> Status {
        self.core.service.status()
    }

    /// A new connection, in its handshake phase.
    pub fn connect(&mut self) -> io::Result<Peer> {
        let client = TcpStream::connect(self.listener.local_addr()?)?;
        let (server, remote) = self.listener.accept()?;
        server.set_nonblocking(true)?;
        client.set_nonblocking(true)?;
        let slot = self.core.conns.insert(Conn::new(mio::net::TcpStream::from_std(server), remote, Instant::now()));
        Ok(Peer { slot, client })
    }

    /// `count` more open connections in `channel` that share one socket (duplicated
    /// descriptors), so tens of thousands fit in the process's descriptor limit. For
    /// measuring fan-out; what they are sent is discarded with `discard_output`.
    pub fn add_members(&mut self, count: usize, channel: &str) -> io::Result<Vec<usize>> {
        let client = TcpStream::connect(self.listener.local_addr()?)?;
        let (server, remote) = self.listener.accept()?;
        server.set_nonblocking(true)?;
        let mut tokens = Vec::with_capacity(count);
        for _ in 0..count {
            let socket = mio::net::TcpStream::from_std(server.try_clone()?);
            let slot = self.core.conns.insert(Conn::new(socket, remote, Instant::now()));
            let request = format!(
                "GET /example/socket?ch={channel} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            self.core.on_bytes(slot, &mut request.into_bytes());
            tokens.push(slot);
        }
        self.discard_output();
        self.member_clients.push(client);
        Ok(tokens)
    }

    /// Feeds bytes as if read from the connection's socket, then flushes and reaps.
    pub fn feed(&mut self, slot: Slot, bytes: &[u8]) {
        let mut data = bytes.to_vec();
        self.core.now = Instant::now();
        self.core.on_bytes(slot, &mut data);
        self.turn();
    }

    /// Bytes from the peer, handled but not flushed (what they queue stays queued: measure
    /// with `discard_output`).
    pub fn feed_unflushed(&mut self, slot: Slot, bytes: &[u8]) {
        let mut data = bytes.to_vec();
        self.core.now = Instant::now();
        self.core.on_bytes(slot, &mut data);
    }

    /// Bytes from the peer, read in place (the core unmasks them there), as the worker feeds
    /// its scratch buffer; no copy, so allocation counts see only the core's own.
    pub fn feed_in_place(&mut self, slot: Slot, data: &mut [u8]) {
        self.core.now = Instant::now();
        self.core.on_bytes(slot, data);
        self.turn();
    }

    /// Bytes from the peer, handled but not yet written (the turn is not over).
    pub fn receive(&mut self, slot: Slot, bytes: &[u8]) {
        let mut data = bytes.to_vec();
        self.core.now = Instant::now();
        self.core.on_bytes(slot, &mut data);
    }

    /// The end of a loop turn: flush what is queued, drop what has ended.
    pub fn turn(&mut self) {
        self.turn_within(None);
    }

    /// The end of a loop turn as the worker runs it: every reply, then fan-out for at most
    /// `fanout_budget` (`None`: all of it).
    pub fn turn_within(&mut self, fanout_budget: Option<std::time::Duration>) {
        super::worker::flush_dirty(&mut self.core, None, fanout_budget);
        while let Some(slot) = self.core.next_doomed() {
            if self.core.conns.contains(slot) {
                self.core.conns.remove(slot);
            }
        }
    }

    /// Runs the timer sweep as if `later` had passed.
    pub fn sweep_after(&mut self, later: std::time::Duration) {
        self.core.now = Instant::now() + later;
        self.core.sweep();
        self.turn();
    }

    /// Applies what the service queued for this worker (writes made through `Service`).
    pub fn deliver_inbox(&mut self) {
        let commands: Vec<_> = self.inbox.drain().collect();
        for command in commands {
            self.core.apply(command);
        }
    }

    /// The peer went away.
    pub fn hang_up(&mut self, slot: Slot) {
        self.core.on_peer_gone(slot);
        self.turn();
    }

    /// Queues one shared frame on the local members of a channel (no write yet).
    pub fn fan_out(&mut self, channel: &str, frame: &SharedFrame) {
        self.core.now = Instant::now();
        let compressible = self.core.service.shared.config.compression;
        self.core.fan_out(channel, &crate::wire::fanout::Fanout::new(frame.clone(), compressible), None);
    }

    /// Empties every out-queue without writing (for fan-out measurements).
    pub fn discard_output(&mut self) {
        for (_, conn) in self.core.conns.iter_mut() {
            conn.out.discard();
        }
        super::worker::flush_dirty(&mut self.core, None, None);
    }

    /// Whether the slot still holds a connection.
    pub fn is_connected(&self, slot: Slot) -> bool {
        self.core.conns.contains(slot)
    }

    /// Whether the connection's session is open.
    pub fn is_open(&self, slot: Slot) -> bool {
        self.core.conns.get(slot).is_some_and(|c| c.is_open())
    }

    /// Heap bytes the connection holds of its own, and bytes waiting in its out-queue.
    pub fn buffers(&self, slot: Slot) -> (usize, usize) {
        self.core.conns.get(slot).map_or((0, 0), |c| (c.heap_bytes(), c.out.queued_bytes()))
    }

    /// Fan-out is still waiting to be written (the worker would poll without sleeping).
    pub fn fanout_waiting(&self) -> bool {
        self.core.fanout_waiting()
    }

    /// Connections the core holds.
    pub fn connections(&self) -> usize {
        self.core.conns.len()
    }
}

/// Reads what has arrived on a non-blocking client socket.
pub fn drain(client: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 65536];
    loop {
        match client.read(&mut buffer) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return received,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &[u8] = b"GET /example/socket?ch=h HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn a_fed_connection_upgrades_and_answers() {
        let mut harness = Harness::new(Config::default()).unwrap();
        let mut peer = harness.connect().unwrap();
        harness.feed(peer.slot, UPGRADE);
        harness.feed(peer.slot, &crate::wire::frame::client_frame(0x81, br#"{"cmd":"echo","param":7}"#));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let out = String::from_utf8_lossy(&drain(&mut peer.client)).into_owned();
        assert!(out.starts_with("HTTP/1.1 101"), "{out}");
        assert!(out.ends_with(r#"{"cmd":"echo","param":7}"#), "{out}");
        harness.sweep_after(std::time::Duration::from_secs(2));
        let (held, queued) = harness.buffers(peer.slot);
        assert_eq!(queued, 0);
        assert!(held <= 16, "idle: no buffer held but the channel list ({held} bytes)");
        harness.hang_up(peer.slot);
        assert_eq!(harness.status().connections, 0);
    }

    #[test]
    fn members_share_one_socket() {
        let mut harness = Harness::new(Config::default()).unwrap();
        let members = harness.add_members(100, "wide").unwrap();
        assert_eq!(members.len(), 100);
        assert_eq!(harness.service().connections_by_channel("wide").len(), 100);
        let frame = crate::wire::frame::text(b"x");
        harness.fan_out("wide", &frame);
        assert_eq!(harness.buffers(members[0]).1, 3);
        harness.discard_output();
        assert_eq!(harness.buffers(members[0]).1, 0);
    }
}
