//! One TLS connection: rustls' unbuffered API for the handshake (`handshake.rs`), then our
//! own record layer (`records.rs`) on the keys rustls hands over, so that an established
//! connection keeps only its keys and not rustls' whole connection state.
//!
//! Owns the connection's stage and the only two buffers it keeps of its own: `incoming`, the
//! start of a record (or of a handshake message spread over records) still waiting for its
//! rest, and `outgoing`, sealed records the socket has not taken yet. Both are unallocated
//! while empty, which is always the case for an idle connection: a read is opened in the
//! worker's scratch buffer and only an incomplete tail is copied out, and records are sealed
//! into the worker's buffer and only what the socket refuses is kept. Once the handshake is
//! done (and rustls has nothing left to send) the rustls connection, ~2 KiB with its boxed
//! parts, is dropped for the keys and key schedule (`dangerous_into_kernel_connection`).
//! It does no reads and decides nothing about HTTP or WebSocket (`transport.rs` does the
//! reads and hands the plaintext to the core).

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::server::UnbufferedServerConnection;
use rustls::ServerConfig;

use super::format::{MAX_PLAINTEXT, RECORD_OVERHEAD};
use super::handshake::{self, encrypt_room, write_sized};
use super::records::{RecordError, Records};
use crate::server::outqueue::Flushed;

/// How a read's records ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Opened {
    /// Every whole record is processed; the rest waits for more bytes.
    NeedMore,
    /// The peer sent close_notify: nothing more will come.
    PeerClosed,
}

/// Why a connection's TLS failed.
#[derive(Debug)]
pub(super) enum TlsError {
    Handshake(rustls::Error),
    Record(RecordError),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Handshake(e) => write!(f, "{e}"),
            TlsError::Record(e) => write!(f, "{e}"),
        }
    }
}

// The established stage is the one a connection lives in: inline in the (boxed) session it
// costs no allocation of its own; the short-lived handshake state is the one boxed.
#[allow(clippy::large_enum_variant)]
enum Stage {
    /// rustls drives the handshake (boxed: ~1 KiB that an established connection drops).
    Handshake(Box<UnbufferedServerConnection>),
    /// Our record layer on the keys rustls handed over.
    Established(Records),
    /// Handing over failed: the connection is closing.
    Failed,
}

pub(super) struct Session {
    stage: Stage,
    /// Whether any byte of the connection has arrived (the first must open a handshake).
    pub heard: bool,
    /// The alert the record layer owes the peer after an error.
    alert: Option<u8>,
    /// Received ciphertext not yet processed (an incomplete record); empty while idle.
    incoming: Vec<u8>,
    /// Sealed records not yet on the socket; empty while idle.
    outgoing: Vec<u8>,
}

impl Session {
    pub fn new(config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        let tls = Box::new(UnbufferedServerConnection::new(config)?);
        Ok(Session {
            stage: Stage::Handshake(tls),
            heard: false,
            alert: None,
            incoming: Vec::new(),
            outgoing: Vec::new(),
        })
    }

    pub fn is_handshaking(&self) -> bool {
        matches!(&self.stage, Stage::Handshake(tls) if tls.is_handshaking())
    }

    /// Whether records wait for the socket (handshake answers, alerts, a refused write).
    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Processes one read's ciphertext (after any incomplete record kept from the last read),
    /// handing each record's plaintext to `deliver`; records the handshake answers with go to
    /// `outgoing`. An incomplete tail is kept for the next read.
    pub fn open(&mut self, received: &mut [u8], mut deliver: impl FnMut(&[u8])) -> Result<Opened, TlsError> {
        if self.incoming.is_empty() {
            let (consumed, outcome) = self.process(received, &mut deliver);
            if consumed < received.len() && outcome.is_ok() {
                self.incoming = received[consumed..].to_vec();
            }
            return outcome;
        }
        let mut incoming = std::mem::take(&mut self.incoming);
        incoming.extend_from_slice(received);
        let (consumed, outcome) = self.process(&mut incoming, &mut deliver);
        if consumed < incoming.len() {
            incoming.drain(..consumed);
            incoming.shrink_to_fit();
            self.incoming = incoming;
        }
        outcome
    }

    /// The whole records at the front of `buffer`, through rustls while it does the handshake
    /// and through our records after; returns how many bytes are done with.
    fn process(&mut self, buffer: &mut [u8], deliver: &mut impl FnMut(&[u8])) -> (usize, Result<Opened, TlsError>) {
        let mut consumed = 0;
        if let Stage::Handshake(tls) = &mut self.stage {
            let (done, outcome) = handshake::process(tls, &mut self.outgoing, buffer, &mut *deliver);
            consumed = done;
            match outcome {
                Ok(Opened::NeedMore) if !tls.is_handshaking() => {}
                other => return (consumed, other.map_err(TlsError::Handshake)),
            }
            if let Err(e) = self.take_over_records() {
                return (consumed, Err(e));
            }
        }
        let Stage::Established(records) = &mut self.stage else {
            return (consumed, Err(TlsError::Record(RecordError::closed())));
        };
        let (done, outcome) = records.open(&mut buffer[consumed..], deliver);
        let outcome = outcome.map_err(|e| {
            self.alert = e.alert;
            TlsError::Record(e)
        });
        (consumed + done, outcome)
    }

    /// The handshake is done and rustls has sent all it had to: its keys go to our record
    /// layer and the rest of it is dropped.
    fn take_over_records(&mut self) -> Result<(), TlsError> {
        let Stage::Handshake(tls) = std::mem::replace(&mut self.stage, Stage::Failed) else { return Ok(()) };
        let (secrets, kernel) = tls.dangerous_into_kernel_connection().map_err(TlsError::Handshake)?;
        self.stage = Stage::Established(Records::new(secrets, kernel).map_err(TlsError::Record)?);
        Ok(())
    }

    /// After `open` failed: seals the alert owed to the peer, if any, for `drain`.
    pub fn queue_alert(&mut self) {
        match &mut self.stage {
            Stage::Handshake(tls) => handshake::queue_alert(tls, &mut self.outgoing),
            Stage::Established(records) => {
                if let Some(alert) = self.alert.take() {
                    let _ = records.seal_fatal_alert(alert, &mut self.outgoing);
                }
            }
            Stage::Failed => {}
        }
    }

    /// Seals `plaintext` as application data into `sealed` (after it, and before anything
    /// sealed later, go the records rustls queued on its own: they are moved to `outgoing`).
    pub fn seal(&mut self, plaintext: &[u8], sealed: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.stage {
            Stage::Established(records) => records.seal(plaintext, sealed).map_err(io::Error::other),
            Stage::Handshake(tls) => {
                let room = plaintext.len() + RECORD_OVERHEAD * (plaintext.len() / MAX_PLAINTEXT + 1);
                handshake::with_traffic(tls, &mut self.incoming, &mut self.outgoing, |traffic| {
                    write_sized(sealed, room, |out| traffic.encrypt(plaintext, out), encrypt_room)
                })?
            }
            Stage::Failed => Err(io::Error::other(RecordError::closed())),
        }
    }

    /// Seals a close_notify alert into `sealed`.
    pub fn seal_close_notify(&mut self, sealed: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.stage {
            Stage::Established(records) => records.seal_close_notify(sealed).map_err(io::Error::other),
            Stage::Handshake(tls) => handshake::with_traffic(tls, &mut self.incoming, &mut self.outgoing, |traffic| {
                write_sized(sealed, RECORD_OVERHEAD, |out| traffic.queue_close_notify(out), encrypt_room)
            })?,
            Stage::Failed => Err(io::Error::other(RecordError::closed())),
        }
    }

    /// Writes `sealed` after whatever `outgoing` holds; what the socket refuses is kept in
    /// `outgoing` (so the caller's buffer is free again either way).
    pub fn send(&mut self, socket: &mut TcpStream, sealed: &[u8]) -> io::Result<Flushed> {
        if !self.outgoing.is_empty() {
            self.outgoing.extend_from_slice(sealed);
            return self.drain(socket);
        }
        let written = write_some(socket, sealed)?;
        if written < sealed.len() {
            self.outgoing = sealed[written..].to_vec();
            return Ok(Flushed::Blocked);
        }
        Ok(Flushed::All)
    }

    /// Writes `outgoing`; once it is all on the socket its memory is released.
    pub fn drain(&mut self, socket: &mut TcpStream) -> io::Result<Flushed> {
        if self.outgoing.is_empty() {
            return Ok(Flushed::All);
        }
        let written = write_some(socket, &self.outgoing)?;
        if written == self.outgoing.len() {
            self.outgoing = Vec::new();
            return Ok(Flushed::All);
        }
        self.outgoing.drain(..written);
        Ok(Flushed::Blocked)
    }
}

/// Writes as much of `bytes` as the socket takes now.
fn write_some(socket: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match socket.write(&bytes[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
