//! The handshake stage of a TLS connection on rustls' unbuffered API: rustls processes the
//! records of the handshake in the caller's buffer and answers into the connection's
//! `outgoing` buffer, until the handshake is done and `session.rs` takes the keys over.
//!
//! Owns nothing: these are the steps of rustls' state machine (`process` for received
//! records, `with_traffic` for sealing through rustls while it still holds the keys) and the
//! sizing of the buffers it writes into. It does no socket I/O.

use std::io;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic};

use super::session::Opened;

/// Runs `f` once the connection may send application data, having sealed into `outgoing`
/// whatever records rustls queued first (`incoming` is presented to rustls, unprocessed).
pub(super) fn with_traffic<R>(
    tls: &mut UnbufferedServerConnection,
    incoming: &mut Vec<u8>,
    outgoing: &mut Vec<u8>,
    f: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>) -> R,
) -> io::Result<R> {
    let mut f = Some(f);
    loop {
        let UnbufferedStatus { discard, state } = tls.process_tls_records(incoming);
        let done = match state {
            Ok(ConnectionState::WriteTraffic(mut traffic)) => f.take().map(|f| f(&mut traffic)),
            Ok(ConnectionState::EncodeTlsData(mut data)) => {
                write_sized(outgoing, 0, |out| data.encode(out), encode_room)?;
                None
            }
            Ok(ConnectionState::TransmitTlsData(data)) => {
                data.done(); // `outgoing` goes to the socket ahead of what is sealed next
                None
            }
            Ok(other) => return Err(io::Error::other(format!("TLS cannot send in state {other:?}"))),
            Err(e) => return Err(io::Error::other(e)),
        };
        incoming.drain(..discard);
        if let Some(result) = done {
            return Ok(result);
        }
    }
}

/// After processing failed: seals the alert rustls queued, if any, into `outgoing`.
pub(super) fn queue_alert(tls: &mut UnbufferedServerConnection, outgoing: &mut Vec<u8>) {
    loop {
        let UnbufferedStatus { state, .. } = tls.process_tls_records(&mut []);
        let Ok(ConnectionState::EncodeTlsData(mut data)) = state else { return };
        if write_sized(outgoing, 0, |out| data.encode(out), encode_room).is_err() {
            return;
        }
    }
}

/// Processes the whole records at the front of `buffer`; returns how many bytes of it are
/// done with (the rest must be presented again, unchanged, with more bytes after it).
pub(super) fn process(
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

pub(super) fn encrypt_room(error: &EncryptError) -> Option<usize> {
    match error {
        EncryptError::InsufficientSize(size) => Some(size.required_size),
        _ => None,
    }
}

/// Appends what `write` produces to `out`, offering it `room` bytes first and then the size
/// rustls asks for.
pub(super) fn write_sized<E: std::fmt::Display>(
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
