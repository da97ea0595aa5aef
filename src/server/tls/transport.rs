//! TLS as a byte transport under the worker: ciphertext from the socket is decrypted into the
//! core (which sees the same plaintext bytes a plain connection gives it), and the out-queue
//! is written through the connection's encryption onto the socket.
//!
//! Owns the side table of TLS sessions (`session.rs`), boxed and keyed by slot (a plain
//! server has no table; a plain connection pays nothing), and the worker's two shared TLS
//! buffers: the plaintext of one record, and one record sealed. It does the socket reads and
//! writes of TLS connections on the worker's behalf and never blocks: reads and writes stop
//! at `WouldBlock`, and records the socket refused are written on the next writable event.
//! It decides nothing about WebSocket or HTTP: that is the core's.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::ServerConfig;

use super::session::{Opened, Session};
use crate::server::conn::{Conn, Slot};
use crate::server::core::WorkerCore;
use crate::server::outqueue::Flushed;
use crate::service::stats::bump;

/// Plaintext per record at most (TLS caps a record's plaintext at 16 KiB): the size of the
/// worker's buffer that decrypted records are handed to the core from, and that queued frames
/// are gathered into to be sealed as one record.
const PLAINTEXT_BYTES: usize = 16 * 1024;

/// Room for one sealed record (plaintext, header, tag, explicit nonce, content type).
const SEALED_BYTES: usize = PLAINTEXT_BYTES + 256;

/// What a plain HTTP client sent to the TLS port gets before the connection closes.
const PLAIN_HTTP_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 46\r\nConnection: close\r\n\r\nThis port speaks TLS: use https:// or wss://\r\n";

/// The TLS connections of one worker, and the buffers they share.
pub struct TlsTransport {
    config: Arc<ServerConfig>,
    sessions: Vec<Option<Box<Session>>>,
    /// Decrypted records on their way to the core; queued frames on their way to be sealed.
    plaintext: Vec<u8>,
    /// Records just sealed, on their way to the socket.
    sealed: Vec<u8>,
}

impl TlsTransport {
    pub fn new(config: Arc<ServerConfig>) -> Self {
        TlsTransport {
            config,
            sessions: Vec::new(),
            plaintext: vec![0; PLAINTEXT_BYTES],
            sealed: Vec::with_capacity(SEALED_BYTES),
        }
    }

    /// A new connection in `slot` starts its handshake.
    pub fn open(&mut self, slot: Slot) -> Result<(), rustls::Error> {
        let session = Session::new(self.config.clone())?;
        if self.sessions.len() <= slot {
            self.sessions.resize_with(slot + 1, || None);
        }
        self.sessions[slot] = Some(Box::new(session));
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
    /// ciphertext of one read, and records are opened there. Asks the core for a flush when
    /// records wait to be sent (the handshake's answers, an alert).
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
            if !self.feed(core, slot, &mut scratch[..n]) {
                return;
            }
            if n < scratch.len() && !peer_closed {
                break;
            }
        }
        if self.session(slot).is_some_and(Session::has_outgoing) {
            core.on_writable(slot);
        }
    }

    /// Decrypts one read's ciphertext into the core; false once the connection has ended.
    fn feed(&mut self, core: &mut WorkerCore, slot: Slot, ciphertext: &mut [u8]) -> bool {
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
        let plaintext = &mut self.plaintext;
        let opened = session.open(ciphertext, |record| {
            for piece in record.chunks(plaintext.len()) {
                let into = &mut plaintext[..piece.len()];
                into.copy_from_slice(piece);
                core.on_bytes(slot, into);
            }
        });
        match opened {
            Ok(Opened::NeedMore) => true,
            Ok(Opened::PeerClosed) => {
                core.on_peer_gone(slot);
                false
            }
            Err(why) => {
                log::debug!("connection {slot}: TLS refused: {why}");
                session.queue_alert();
                if let Some(conn) = core.conns.get_mut(slot) {
                    let _ = session.drain(&mut conn.socket); // the alert, if it fits
                }
                if session.is_handshaking() {
                    count_failed_handshake(core);
                }
                core.on_peer_gone(slot);
                false
            }
        }
    }

    fn session(&self, slot: Slot) -> Option<&Session> {
        self.sessions.get(slot).and_then(Option::as_deref)
    }

    /// Writes the connection's out-queue through its encryption (a plain connection of a TLS
    /// server cannot exist; one without a session is written as is), after any records still
    /// waiting. `Blocked` until all are on the socket.
    pub fn flush(&mut self, slot: Slot, conn: &mut Conn) -> io::Result<Flushed> {
        let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return conn.out.flush_into(&mut conn.socket);
        };
        let mut sealing =
            Sealing { session, socket: &mut conn.socket, plaintext: &mut self.plaintext, sealed: &mut self.sealed };
        match conn.out.flush_into(&mut sealing)? {
            Flushed::Blocked => Ok(Flushed::Blocked),
            Flushed::All => sealing.session.drain(sealing.socket),
        }
    }

    /// Before our side shuts down: tell the peer the stream ends here (best effort; the
    /// socket has just taken everything else).
    pub fn close_notify(&mut self, slot: Slot, socket: &mut TcpStream) {
        if let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
            self.sealed.clear();
            if session.seal_close_notify(&mut self.sealed).is_ok() {
                let _ = session.send(socket, &self.sealed);
            }
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

/// The out-queue's view of a TLS connection: what it writes is gathered into one record's
/// plaintext, sealed in the worker's buffer and written at once; only what the socket refuses
/// is kept by the connection. It takes new plaintext only once earlier records are all on the
/// socket.
struct Sealing<'a> {
    session: &'a mut Session,
    socket: &'a mut TcpStream,
    plaintext: &'a mut [u8],
    sealed: &'a mut Vec<u8>,
}

impl Write for Sealing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.session.drain(self.socket)? == Flushed::Blocked {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let taken = gather(bufs, self.plaintext);
        if taken == 0 {
            return Ok(0);
        }
        self.sealed.clear();
        self.session.seal(&self.plaintext[..taken], self.sealed)?;
        self.session.send(self.socket, self.sealed)?; // a refusal here is seen by the next call
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.session.drain(self.socket).map(|_| ())
    }
}

/// Copies the front of `bufs` into `into`, as much as fits; returns how much.
fn gather(bufs: &[IoSlice<'_>], into: &mut [u8]) -> usize {
    let mut taken = 0;
    for buf in bufs {
        let n = buf.len().min(into.len() - taken);
        into[taken..taken + n].copy_from_slice(&buf[..n]);
        taken += n;
        if taken == into.len() {
            break;
        }
    }
    taken
}
