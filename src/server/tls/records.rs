//! The record layer of an established TLS connection, after rustls has done the handshake and
//! handed over the traffic keys (`dangerous_into_kernel_connection`): TLS 1.3 and TLS 1.2 AEAD
//! records (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305) opened in place and sealed into the
//! caller's buffer, with their sequence numbers, alerts (close_notify in both directions, a
//! fatal alert before we close on a bad record) and TLS 1.3 KeyUpdate both ways (the peer's,
//! and ours when it asks for one or when a key has sealed as many records as its suite allows).
//!
//! Owns the two directions' keys (`keys.rs`) and, for TLS 1.3, rustls' `KernelConnection`,
//! which keeps the traffic secrets and derives the next keys at a KeyUpdate. It keeps no
//! buffer and no cipher state between calls (a cipher is built for one read or one write), so
//! an idle connection holds only those. It does no socket I/O (`session.rs` does), and it
//! refuses what an established connection must not receive: handshake messages other than a
//! whole KeyUpdate in a record of its own (TLS 1.2 renegotiation included), change_cipher_spec,
//! records too long, and records that do not authenticate.

use std::fmt;

use ring::aead::{Aad, LessSafeKey, Nonce};
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{ExtractedSecrets, ProtocolVersion, SupportedCipherSuite};

use super::format::{
    gcm_nonce, record_header, tls12_aad, whole_record, ALERT, APPLICATION_DATA, EXPLICIT_NONCE_BYTES, HANDSHAKE,
    HEADER_BYTES, MAX_BODY_TLS13, MAX_PLAINTEXT, RECORD_OVERHEAD, RECORD_VERSION, TAG_BYTES,
};
use super::keys::{Aead, Keys, NONCE_BYTES};
use super::session::Opened;

const KEY_UPDATE: u8 = 24;
const UPDATE_NOT_REQUESTED: u8 = 0;
const UPDATE_REQUESTED: u8 = 1;

const WARNING: u8 = 1;
const FATAL: u8 = 2;

/// Alert descriptions (RFC 8446 section 6).
pub(super) mod alert {
    pub const CLOSE_NOTIFY: u8 = 0;
    pub const UNEXPECTED_MESSAGE: u8 = 10;
    pub const BAD_RECORD_MAC: u8 = 20;
    pub const RECORD_OVERFLOW: u8 = 22;
    pub const HANDSHAKE_FAILURE: u8 = 40;
    pub const DECODE_ERROR: u8 = 50;
    pub const INTERNAL_ERROR: u8 = 80;
    pub const USER_CANCELED: u8 = 90;
}

/// Why the connection cannot go on, and the alert the peer gets for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RecordError {
    /// None when the peer ended the connection with a fatal alert of its own.
    pub alert: Option<u8>,
    pub why: &'static str,
}

impl RecordError {
    pub(super) fn new(alert: u8, why: &'static str) -> Self {
        RecordError { alert: Some(alert), why }
    }

    /// The connection already failed (handing the keys over, or earlier).
    pub fn closed() -> Self {
        RecordError { alert: None, why: "the TLS connection has failed" }
    }
}

impl std::error::Error for RecordError {}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.alert {
            Some(alert) => write!(f, "{} (alert {alert})", self.why),
            None => f.write_str(self.why),
        }
    }
}

/// What one received record did to the connection.
enum Step {
    Continue,
    /// The receiving key changed (KeyUpdate): the next record needs a new cipher.
    NewKeys,
    PeerClosed,
}

pub(super) struct Records {
    tls13: bool,
    /// TLS 1.3 only: rustls' key schedule after the handshake, for KeyUpdate.
    kernel: Option<KernelConnection<ServerConnectionData>>,
    tx: Keys,
    rx: Keys,
    /// Records one sending key may seal (the suite's confidentiality limit).
    tx_limit: u64,
    /// The peer asked for a KeyUpdate: ours goes before our next application data.
    key_update_due: bool,
}

impl Records {
    pub fn new(secrets: ExtractedSecrets, kernel: KernelConnection<ServerConnectionData>) -> Result<Self, RecordError> {
        let tls13 = kernel.protocol_version() == ProtocolVersion::TLSv1_3;
        let tx_limit = match kernel.negotiated_cipher_suite() {
            SupportedCipherSuite::Tls13(suite) => suite.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(suite) => suite.common.confidentiality_limit,
        };
        let unknown = || RecordError::new(alert::INTERNAL_ERROR, "the negotiated AEAD has no record layer here");
        let tx = Keys::new(secrets.tx.0, secrets.tx.1).ok_or_else(unknown)?;
        let rx = Keys::new(secrets.rx.0, secrets.rx.1).ok_or_else(unknown)?;
        Ok(Records { tls13, kernel: tls13.then_some(kernel), tx, rx, tx_limit, key_update_due: false })
    }

    /// Opens the whole records at the front of `buffer` in place, handing application data to
    /// `deliver`; returns how many bytes are done with (the rest is an incomplete record).
    pub fn open(&mut self, buffer: &mut [u8], mut deliver: impl FnMut(&[u8])) -> (usize, Result<Opened, RecordError>) {
        let mut consumed = 0;
        let mut cipher: Option<LessSafeKey> = None;
        loop {
            let end = match whole_record(&buffer[consumed..]) {
                Ok(Some(len)) => consumed + len,
                Ok(None) => return (consumed, Ok(Opened::NeedMore)),
                Err(e) => return (consumed, Err(e)),
            };
            let record = &mut buffer[consumed..end];
            consumed = end;
            let key = cipher.get_or_insert_with(|| self.rx.cipher());
            let step = self
                .unprotect(key, record)
                .and_then(|(content_type, content)| self.received(content_type, content, &mut deliver));
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::NewKeys) => cipher = None,
                Ok(Step::PeerClosed) => return (consumed, Ok(Opened::PeerClosed)),
                Err(e) => return (consumed, Err(e)),
            }
        }
    }

    /// Decrypts one record in place: its content type and content.
    fn unprotect<'r>(&mut self, cipher: &LessSafeKey, record: &'r mut [u8]) -> Result<(u8, &'r [u8]), RecordError> {
        let seq = self.rx.seq;
        self.rx.seq =
            seq.checked_add(1).ok_or(RecordError::new(alert::INTERNAL_ERROR, "receive sequence exhausted"))?;
        let (header, body) = record.split_at_mut(HEADER_BYTES);
        let bad_mac = |_| RecordError::new(alert::BAD_RECORD_MAC, "a record did not authenticate");
        let (content_type, content) = if self.tls13 {
            if header[0] != APPLICATION_DATA {
                return Err(RecordError::new(alert::UNEXPECTED_MESSAGE, "a TLS 1.3 record not of application data"));
            }
            if body.len() > MAX_BODY_TLS13 {
                return Err(RecordError::new(alert::RECORD_OVERFLOW, "a TLS 1.3 record longer than 2^14 + 256"));
            }
            let nonce = Nonce::assume_unique_for_key(self.rx.nonce(seq));
            let inner = cipher.open_in_place(nonce, Aad::from(&header[..]), body).map_err(bad_mac)?;
            let Some(at) = inner.iter().rposition(|byte| *byte != 0) else {
                return Err(RecordError::new(alert::UNEXPECTED_MESSAGE, "a TLS 1.3 record without a content type"));
            };
            (inner[at], &inner[..at])
        } else {
            let content_type = header[0];
            let (nonce, ciphertext) = match self.rx.aead {
                Aead::ChaCha20Poly1305 => (self.rx.nonce(seq), body),
                Aead::Aes128Gcm | Aead::Aes256Gcm => {
                    if body.len() < EXPLICIT_NONCE_BYTES {
                        return Err(RecordError::new(alert::DECODE_ERROR, "a TLS 1.2 record shorter than its nonce"));
                    }
                    let (explicit, ciphertext) = body.split_at_mut(EXPLICIT_NONCE_BYTES);
                    (gcm_nonce(self.rx.salt(), explicit), ciphertext)
                }
            };
            let Some(content_len) = ciphertext.len().checked_sub(TAG_BYTES) else {
                return Err(RecordError::new(alert::BAD_RECORD_MAC, "a record shorter than its tag"));
            };
            let aad = tls12_aad(seq, content_type, [header[1], header[2]], content_len);
            let nonce = Nonce::assume_unique_for_key(nonce);
            (content_type, &*cipher.open_in_place(nonce, Aad::from(aad), ciphertext).map_err(bad_mac)?)
        };
        if content.len() > MAX_PLAINTEXT {
            return Err(RecordError::new(alert::RECORD_OVERFLOW, "a record's plaintext over 16 KiB"));
        }
        Ok((content_type, content))
    }

    fn received(
        &mut self,
        content_type: u8,
        content: &[u8],
        deliver: &mut impl FnMut(&[u8]),
    ) -> Result<Step, RecordError> {
        match content_type {
            APPLICATION_DATA => {
                if !content.is_empty() {
                    deliver(content);
                }
                Ok(Step::Continue)
            }
            ALERT => self.received_alert(content),
            HANDSHAKE => self.received_handshake(content),
            _ => Err(RecordError::new(
                alert::UNEXPECTED_MESSAGE,
                "a record of a content type not allowed after the handshake",
            )),
        }
    }

    fn received_alert(&self, content: &[u8]) -> Result<Step, RecordError> {
        match *content {
            [_, alert::CLOSE_NOTIFY] => Ok(Step::PeerClosed),
            [_, alert::USER_CANCELED] => Ok(Step::Continue), // a close_notify follows
            [WARNING, _] if !self.tls13 => Ok(Step::Continue), // TLS 1.2 warnings are not fatal
            [_, _] => Err(RecordError { alert: None, why: "the peer sent a fatal alert" }),
            _ => Err(RecordError::new(alert::DECODE_ERROR, "an alert record not of one alert")),
        }
    }

    /// The only handshake message a server takes after the handshake: a TLS 1.3 KeyUpdate,
    /// whole and alone in its record (it must end its record: the next one uses the new key).
    fn received_handshake(&mut self, content: &[u8]) -> Result<Step, RecordError> {
        let Some(kernel) = self.kernel.as_mut() else {
            return Err(RecordError::new(alert::HANDSHAKE_FAILURE, "TLS 1.2 renegotiation is not supported"));
        };
        let request = match *content {
            [KEY_UPDATE, 0, 0, 1, request @ (UPDATE_NOT_REQUESTED | UPDATE_REQUESTED)] => request,
            [KEY_UPDATE, ..] => return Err(RecordError::new(alert::DECODE_ERROR, "a malformed or split KeyUpdate")),
            _ => return Err(RecordError::new(alert::UNEXPECTED_MESSAGE, "a handshake message after the handshake")),
        };
        let (seq, secrets) = kernel
            .update_rx_secret()
            .map_err(|_| RecordError::new(alert::INTERNAL_ERROR, "the next receiving key could not be derived"))?;
        self.rx = Keys::new(seq, secrets)
            .ok_or(RecordError::new(alert::INTERNAL_ERROR, "the next receiving key is of another AEAD"))?;
        self.key_update_due |= request == UPDATE_REQUESTED;
        Ok(Step::NewKeys)
    }

    /// Seals `plaintext` as application data (records of up to 16 KiB) appended to `out`,
    /// after our KeyUpdate when one is due.
    pub fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        if self.key_update_due || self.tx.seq >= self.tx_limit {
            self.update_tx_keys(out)?;
        }
        self.seal_records(APPLICATION_DATA, plaintext, out)
    }

    /// Seals a close_notify alert appended to `out`.
    pub fn seal_close_notify(&mut self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        self.seal_records(ALERT, &[WARNING, alert::CLOSE_NOTIFY], out)
    }

    /// Seals a fatal alert appended to `out` (before we close on an error).
    pub fn seal_fatal_alert(&mut self, description: u8, out: &mut Vec<u8>) -> Result<(), RecordError> {
        self.seal_records(ALERT, &[FATAL, description], out)
    }

    /// Our KeyUpdate (sealed with the old key), then the new sending key.
    fn update_tx_keys(&mut self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        if self.kernel.is_none() {
            return Err(RecordError::new(alert::INTERNAL_ERROR, "TLS 1.2 key used up (no key update in TLS 1.2)"));
        }
        self.seal_records(HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, UPDATE_NOT_REQUESTED], out)?;
        let kernel = self.kernel.as_mut().ok_or(RecordError::new(alert::INTERNAL_ERROR, "no key schedule"))?;
        let (seq, secrets) = kernel
            .update_tx_secret()
            .map_err(|_| RecordError::new(alert::INTERNAL_ERROR, "the next sending key could not be derived"))?;
        self.tx = Keys::new(seq, secrets)
            .ok_or(RecordError::new(alert::INTERNAL_ERROR, "the next sending key is of another AEAD"))?;
        self.key_update_due = false;
        Ok(())
    }

    /// Seals `content` of one content type as records of up to 16 KiB, appended to `out`.
    fn seal_records(&mut self, content_type: u8, content: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        let cipher = self.tx.cipher();
        for chunk in content.chunks(MAX_PLAINTEXT) {
            let seq = self.tx.seq;
            self.tx.seq =
                seq.checked_add(1).ok_or(RecordError::new(alert::INTERNAL_ERROR, "send sequence exhausted"))?;
            out.reserve(chunk.len() + RECORD_OVERHEAD);
            if self.tls13 {
                self.seal13(&cipher, seq, content_type, chunk, out)?;
            } else {
                self.seal12(&cipher, seq, content_type, chunk, out)?;
            }
        }
        Ok(())
    }

    /// TLS 1.3: an application-data record whose encrypted content ends with its real type.
    fn seal13(
        &self,
        cipher: &LessSafeKey,
        seq: u64,
        content_type: u8,
        chunk: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let header = record_header(APPLICATION_DATA, chunk.len() + 1 + TAG_BYTES);
        out.extend_from_slice(&header);
        let start = out.len();
        out.extend_from_slice(chunk);
        out.push(content_type);
        let nonce = Nonce::assume_unique_for_key(self.tx.nonce(seq));
        let tag =
            cipher.seal_in_place_separate_tag(nonce, Aad::from(header), &mut out[start..]).map_err(seal_failed)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// TLS 1.2: the record's own type, an explicit nonce for AES-GCM, the sequence in the AAD.
    fn seal12(
        &self,
        cipher: &LessSafeKey,
        seq: u64,
        content_type: u8,
        chunk: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let nonce = self.tx.nonce(seq);
        let explicit = match self.tx.aead {
            Aead::ChaCha20Poly1305 => &[][..],
            Aead::Aes128Gcm | Aead::Aes256Gcm => &nonce[NONCE_BYTES - EXPLICIT_NONCE_BYTES..],
        };
        out.extend_from_slice(&record_header(content_type, explicit.len() + chunk.len() + TAG_BYTES));
        out.extend_from_slice(explicit);
        let start = out.len();
        out.extend_from_slice(chunk);
        let aad = tls12_aad(seq, content_type, RECORD_VERSION, chunk.len());
        let nonce = Nonce::assume_unique_for_key(nonce);
        let tag = cipher.seal_in_place_separate_tag(nonce, Aad::from(aad), &mut out[start..]).map_err(seal_failed)?;
        out.extend_from_slice(tag.as_ref());
        Ok(())
    }
}

fn seal_failed(_: ring::error::Unspecified) -> RecordError {
    RecordError::new(alert::INTERNAL_ERROR, "a record could not be sealed")
}
