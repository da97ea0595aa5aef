//! TLS for the listener (`--tls-cert`, `--tls-key`): rustls, sans-IO, over the worker's own
//! non-blocking sockets. With it every connection of the server is TLS; without it this
//! module is not in the path at all.
//!
//! - `certs.rs`     the certificate and key: loading, checks, the shared `ServerConfig`,
//!   reload on SIGHUP (new handshakes get the new pair; open connections keep theirs)
//! - `transport.rs` per-connection TLS state in a side table keyed by slot; decrypts reads
//!   into the core, encrypts the out-queue onto the socket, through the worker's buffers
//! - `session.rs`   one connection: rustls' unbuffered API for the handshake, then our record
//!   layer on the keys rustls hands over; its buffers hold no memory while it is idle
//! - `handshake.rs` the steps of rustls' unbuffered state machine during the handshake
//! - `records.rs`   the record layer of an established connection (TLS 1.3 and 1.2 AEAD
//!   records, alerts, KeyUpdate), on `keys.rs` (one direction's key, IV and sequence number)
//!   and `format.rs` (record headers, limits, TLS 1.2's additional data and nonces)
//! - `any_certificate.rs` (feature `test-util`): the accept-any-certificate verifier the tests'
//!   and the load generator's TLS clients use
//!
//! None decides anything about HTTP or WebSocket: the core sees plaintext bytes and
//! queues plaintext frames exactly as for a plain connection.

#[cfg(feature = "test-util")]
pub mod any_certificate;
pub mod certs;
mod format;
mod handshake;
mod keys;
mod records;
mod session;
pub mod transport;

pub use certs::{CertFiles, Certificates};
pub use transport::TlsTransport;
