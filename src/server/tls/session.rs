//! One TLS connection on rustls' unbuffered API: the caller owns the record buffers, so an
//! idle connection holds none.
//!
//! Owns the connection's `UnbufferedServerConnection` and the only two buffers it keeps of
//! its own: `incoming`, the start of a record (or of a handshake message spread over records)
//! still waiting for its rest, and `outgoing`, sealed records the socket has not taken yet.
//! Both are unallocated while empty, which is always the case for an idle connection: a
//! read is opened in the worker's scratch buffer and only an incomplete tail is copied out,
//! and records are sealed into the worker's buffer and only what the socket refuses is kept.
//! It does no reads and decides nothing about HTTP or WebSocket (`transport.rs` does the
//! reads and hands the plaintext to the core).

use std::io::{self, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic};
use rustls::ServerConfig;

use crate::server::outqueue::Flushed;

/// A record's plaintext at most (TLS caps it at 16 KiB).
const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

/// What sealing adds to a record at most (header, explicit nonce, content type, tag): the
/// first guess at the room a sealed write needs (rustls says so if it needs more).
const RECORD_OVERHEAD: usize = 64;

/// How a read's records ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Opened {
    /// Every whole record is processed; the rest waits for more bytes.
    NeedMore,
    /// The peer sent close_notify: nothing more will come.
    PeerClosed,
}

pub(super) struct Session {
    tls: UnbufferedServerConnection,
    /// Whether any byte of the connection has arrived (the first must open a handshake).
    pub heard: bool,
    /// Received ciphertext not yet processed (an incomplete record); empty while idle.
    incoming: Vec<u8>,
    /// Sealed records not yet on the socket; empty while idle.
    outgoing: Vec<u8>,
}

impl Session {
    pub fn new(config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        let tls = UnbufferedServerConnection::new(config)?;
        Ok(Session { tls, heard: false, incoming: Vec::new(), outgoing: Vec::new() })
    }

    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Whether records wait for the socket (handshake answers, alerts, a refused write).
    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Processes one read's ciphertext (after any incomplete record kept from the last read),
    /// handing each record's plaintext to `deliver`; records rustls answers with go to
    /// `outgoing`. An incomplete tail is kept for the next read.
    pub fn open(&mut self, received: &mut [u8], deliver: impl FnMut(&[u8])) -> Result<Opened, rustls::Error> {
        if self.incoming.is_empty() {
            let (consumed, outcome) = process(&mut self.tls, &mut self.outgoing, received, deliver);
            if consumed < received.len() && outcome.is_ok() {
                self.incoming = received[consumed..].to_vec();
            }
            return outcome;
        }
        let mut incoming = std::mem::take(&mut self.incoming);
        incoming.extend_from_slice(received);
        let (consumed, outcome) = process(&mut self.tls, &mut self.outgoing, &mut incoming, deliver);
        if consumed < incoming.len() {
            incoming.drain(..consumed);
            incoming.shrink_to_fit();
            self.incoming = incoming;
        }
        outcome
    }

    /// After `open` failed: seals the alert rustls queued, if any, for `drain`.
    pub fn queue_alert(&mut self) {
        loop {
            let UnbufferedStatus { state, .. } = self.tls.process_tls_records(&mut []);
            let Ok(ConnectionState::EncodeTlsData(mut data)) = state else { return };
            if write_sized(&mut self.outgoing, 0, |out| data.encode(out), encode_room).is_err() {
                return;
            }
        }
    }

    /// Seals `plaintext` as application data into `sealed` (after it, and before anything
    /// sealed later, go the records rustls queued on its own: they are moved to `outgoing`).
    pub fn seal(&mut self, plaintext: &[u8], sealed: &mut Vec<u8>) -> io::Result<()> {
        let room = plaintext.len() + RECORD_OVERHEAD * (plaintext.len() / MAX_RECORD_PLAINTEXT + 1);
        self.with_traffic(|traffic| write_sized(sealed, room, |out| traffic.encrypt(plaintext, out), encrypt_room))?
    }

    /// Seals a close_notify alert into `sealed`.
    pub fn seal_close_notify(&mut self, sealed: &mut Vec<u8>) -> io::Result<()> {
        self.with_traffic(|traffic| {
            write_sized(sealed, RECORD_OVERHEAD, |out| traffic.queue_close_notify(out), encrypt_room)
        })?
    }

    /// Runs `f` once the connection may send application data, having sealed into
    /// `outgoing` whatever records rustls queued first.
    fn with_traffic<R>(&mut self, f: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>) -> R) -> io::Result<R> {
        let mut f = Some(f);
        loop {
            let UnbufferedStatus { discard, state } = self.tls.process_tls_records(&mut self.incoming);
            let done = match state {
                Ok(ConnectionState::WriteTraffic(mut traffic)) => f.take().map(|f| f(&mut traffic)),
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    write_sized(&mut self.outgoing, 0, |out| data.encode(out), encode_room)?;
                    None
                }
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    data.done(); // `outgoing` goes to the socket ahead of what is sealed next
                    None
                }
                Ok(other) => return Err(io::Error::other(format!("TLS cannot send in state {other:?}"))),
                Err(e) => return Err(io::Error::other(e)),
            };
            self.incoming.drain(..discard);
            if let Some(result) = done {
                return Ok(result);
            }
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

/// Processes the whole records at the front of `buffer`; returns how many bytes of it are
/// done with (the rest must be presented again, unchanged, with more bytes after it).
fn process(
    tls: &mut UnbufferedServerConnection,
    outgoing: &mut Vec<u8>,
    buffer: &mut [u8],
    mut deliver: impl FnMut(&[u8]),
) -> (usize, Result<Opened, rustls::Error>) {
    let mut consumed = 0;
    loop {
        let UnbufferedStatus { mut discard, state } = tls.process_tls_records(&mut buffer[consumed..]);
        let step = match state {
            Ok(ConnectionState::ReadTraffic(mut traffic)) => {
                let mut failed = None;
                while let Some(record) = traffic.next_record() {
                    match record {
                        Ok(record) => {
                            discard += record.discard;
                            deliver(record.payload);
                        }
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                failed.map_or(Ok(None), Err)
            }
            Ok(ConnectionState::EncodeTlsData(mut data)) => {
                write_sized(outgoing, 0, |out| data.encode(out), encode_room)
                    .map(|_| None)
                    .map_err(|e| rustls::Error::General(e.to_string()))
            }
            Ok(ConnectionState::TransmitTlsData(data)) => {
                data.done(); // `outgoing` is written at the next flush, before anything newer
                Ok(None)
            }
            Ok(ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_)) => Ok(Some(Opened::NeedMore)),
            Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => Ok(Some(Opened::PeerClosed)),
            Ok(other) => Err(rustls::Error::General(format!("unexpected TLS state {other:?}"))),
            Err(e) => Err(e),
        };
        consumed += discard;
        match step {
            Ok(None) => {}
            Ok(Some(opened)) => return (consumed, Ok(opened)),
            Err(e) => return (consumed, Err(e)),
        }
    }
}

fn encode_room(error: &EncodeError) -> Option<usize> {
    match error {
        EncodeError::InsufficientSize(size) => Some(size.required_size),
        _ => None,
    }
}

fn encrypt_room(error: &EncryptError) -> Option<usize> {
    match error {
        EncryptError::InsufficientSize(size) => Some(size.required_size),
        _ => None,
    }
}

/// Appends what `write` produces to `out`, offering it `room` bytes first and then the size
/// rustls asks for.
fn write_sized<E: std::fmt::Display>(
    out: &mut Vec<u8>,
    room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    room_needed: impl Fn(&E) -> Option<usize>,
) -> io::Result<()> {
    let start = out.len();
    out.resize(start + room, 0);
    loop {
        match write(&mut out[start..]) {
            Ok(written) => {
                out.truncate(start + written);
                return Ok(());
            }
            Err(e) => match room_needed(&e) {
                Some(room) if room > out.len() - start => out.resize(start + room, 0),
                _ => {
                    out.truncate(start);
                    return Err(io::Error::other(e.to_string()));
                }
            },
        }
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
