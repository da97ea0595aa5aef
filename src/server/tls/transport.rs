//! TLS as a byte transport under the worker: ciphertext from the socket is decrypted into the
//! core (which sees the same plaintext bytes a plain connection gives it), and the out-queue
//! is written through the connection's encryption onto the socket.
//!
//! Owns each TLS connection's `rustls::ServerConnection`, boxed in a side table keyed by slot
//! (a plain server has no table; a plain connection pays nothing). It does the socket reads
//! and writes of TLS connections on the worker's behalf and never blocks: reads and writes
//! stop at `WouldBlock`, and what rustls still holds to send is written on the next writable
//! event. It decides nothing about WebSocket or HTTP: that is the core's.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

use crate::server::conn::{Conn, Slot};
use crate::server::core::WorkerCore;
use crate::server::outqueue::Flushed;
use crate::service::stats::bump;

/// Plaintext taken out of rustls per call (one TLS record at most is 16 KiB).
const PLAINTEXT_BYTES: usize = 16 * 1024 + 256;

/// What a plain HTTP client sent to the TLS port gets before the connection closes.
const PLAIN_HTTP_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 46\r\nConnection: close\r\n\r\nThis port speaks TLS: use https:// or wss://\r\n";

/// One TLS connection: its rustls state, and whether any byte of it has arrived yet.
struct Session {
    tls: ServerConnection,
    heard: bool,
}

/// The TLS connections of one worker.
pub struct TlsTransport {
    config: Arc<ServerConfig>,
    sessions: Vec<Option<Box<Session>>>,
    plaintext: Vec<u8>,
}

impl TlsTransport {
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsTransport { config, sessions: Vec::new(), plaintext: vec![0; PLAINTEXT_BYTES] }
    }

    /// A new connection in `slot` starts its handshake.
    pub fn open(&mut self, slot: Slot) -> Result<(), rustls::Error> {
        let tls = ServerConnection::new(self.config.clone())?;
        if self.sessions.len() <= slot {
            self.sessions.resize_with(slot + 1, || None);
        }
        self.sessions[slot] = Some(Box::new(Session { tls, heard: false }));
        Ok(())
    }

    /// The connection in `slot` is gone: its TLS state goes with it.
    pub fn forget(&mut self, slot: Slot) {
        if let Some(entry) = self.sessions.get_mut(slot) {
            *entry = None;
        }
    }

    /// Reads until the socket is drained (to its end when the peer has closed its side, as
    /// the plain read does), decrypting what arrives into the core; `scratch` holds the
    /// ciphertext of one read. Asks the core for a flush when rustls has bytes to send (the
    /// handshake's answers, an alert).
    pub fn read_all(&mut self, core: &mut WorkerCore, slot: Slot, scratch: &mut [u8], peer_closed: bool) {
        loop {
            let Some(conn) = core.conns.get_mut(slot) else { return };
            let n = match conn.socket.read(scratch) {
                Ok(0) => return core.on_peer_gone(slot),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("connection {slot}: read failed: {e}");
                    return core.on_peer_gone(slot);
                }
            };
            if !self.feed(core, slot, &scratch[..n]) {
                return;
            }
            if n < scratch.len() && !peer_closed {
                break;
            }
        }
        let wants_write = self.session(slot).is_some_and(|s| s.tls.wants_write());
        if wants_write {
            core.on_writable(slot);
        }
    }

    /// Decrypts one read's ciphertext into the core; false once the connection has ended.
    fn feed(&mut self, core: &mut WorkerCore, slot: Slot, mut ciphertext: &[u8]) -> bool {
        let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) else { return false };
        if !session.heard && ciphertext.first() != Some(&HANDSHAKE_RECORD) {
            if let Some(conn) = core.conns.get_mut(slot) {
                refuse_plain_text(&mut conn.socket, ciphertext);
            }
            count_failed_handshake(core);
            core.on_peer_gone(slot);
            return false;
        }
        session.heard = true;
        while !ciphertext.is_empty() {
            let refused = match session.tls.read_tls(&mut ciphertext) {
                Ok(_) => session.tls.process_new_packets().err().map(|e| e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = refused {
                log::debug!("connection {slot}: TLS refused: {why}");
                if let Some(conn) = core.conns.get_mut(slot) {
                    let _ = session.tls.write_tls(&mut conn.socket); // the alert, if it fits
                }
                if session.tls.is_handshaking() {
                    count_failed_handshake(core);
                }
                core.on_peer_gone(slot);
                return false;
            }
            if !deliver(&mut session.tls, &mut self.plaintext, core, slot) {
                return false;
            }
        }
        true
    }

    fn session(&self, slot: Slot) -> Option<&Session> {
        self.sessions.get(slot).and_then(Option::as_deref)
    }

    /// Writes the connection's out-queue through its encryption (a plain connection of a TLS
    /// server cannot exist; one without a session is written as is), then whatever rustls
    /// still holds. `Blocked` until both are on the socket.
    pub fn flush(&mut self, slot: Slot, conn: &mut Conn) -> io::Result<Flushed> {
        let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return conn.out.flush_into(&mut conn.socket);
        };
        let mut sealing = Sealing { tls: &mut session.tls, socket: &mut conn.socket };
        match conn.out.flush_into(&mut sealing)? {
            Flushed::Blocked => Ok(Flushed::Blocked),
            Flushed::All => sealing.drain(),
        }
    }

    /// Before our side shuts down: tell the peer the stream ends here (best effort; the
    /// socket has just taken everything else).
    pub fn close_notify(&mut self, slot: Slot, socket: &mut TcpStream) {
        if let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
            session.tls.send_close_notify();
            let _ = Sealing { tls: &mut session.tls, socket }.drain();
        }
    }
}

fn count_failed_handshake(core: &WorkerCore) {
    bump(&core.service.shared.stats[core.index].tls_handshake_failures, 1);
}

/// The first byte of a TLS record carrying a handshake message (a ClientHello starts so).
const HANDSHAKE_RECORD: u8 = 0x16;

/// The first bytes on a TLS port were not a TLS handshake: an HTTP request (the common
/// mistake) gets a 400 in plain text saying to use TLS; anything else is just closed.
fn refuse_plain_text(socket: &mut TcpStream, received: &[u8]) {
    let looks_like_http = received.iter().take(8).take_while(|b| **b != b' ').all(u8::is_ascii_uppercase)
        && received.first().is_some_and(u8::is_ascii_uppercase);
    if looks_like_http {
        let _ = socket.write(PLAIN_HTTP_REFUSAL);
    }
    log::debug!("a connection to the TLS port did not start with a TLS handshake");
}

/// Hands every decrypted byte to the core; false once the connection has ended (the peer's
/// close_notify, or a stream cut short).
fn deliver(tls: &mut ServerConnection, plaintext: &mut [u8], core: &mut WorkerCore, slot: Slot) -> bool {
    loop {
        match tls.reader().read(plaintext) {
            Ok(0) => {
                core.on_peer_gone(slot);
                return false;
            }
            Ok(n) => core.on_bytes(slot, &mut plaintext[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) => {
                log::debug!("connection {slot}: TLS stream ended: {e}");
                core.on_peer_gone(slot);
                return false;
            }
        }
    }
}

/// The out-queue's view of a TLS connection: what it writes is encrypted into rustls, and
/// rustls' records go to the socket at once. It takes new plaintext only once the previous
/// records are all on the socket, so rustls holds at most one write's worth.
struct Sealing<'a> {
    tls: &'a mut ServerConnection,
    socket: &'a mut TcpStream,
}

impl Sealing<'_> {
    /// Writes what rustls holds; `Blocked` if the socket refused some of it.
    fn drain(&mut self) -> io::Result<Flushed> {
        while self.tls.wants_write() {
            match self.tls.write_tls(self.socket) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Flushed::All)
    }
}

impl Write for Sealing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.drain()? == Flushed::Blocked {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let taken = self.tls.writer().write_vectored(bufs)?;
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.drain()?; // a refusal here is seen by the next call
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain().map(|_| ())
    }
}
