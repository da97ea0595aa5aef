//! One direction's traffic keys of an established TLS connection, as rustls handed them over:
//! the AEAD algorithm, its key and IV (for TLS 1.2 AES-GCM: the 4-byte salt and the first
//! explicit nonce), and the record sequence number.
//!
//! Owns only those ~70 bytes. The cipher state ring builds from them (AES round keys and the
//! GHASH table, ~560 bytes) is made by `cipher()` for one read or one write and dropped after
//! it, so an idle connection keeps none. It does no framing (`records.rs`) and no I/O.

use ring::aead::{self, LessSafeKey, UnboundKey};
use rustls::ConnectionTrafficSecrets;

/// The bytes of an AEAD nonce (TLS uses 96-bit nonces for every suite it has).
pub(super) const NONCE_BYTES: usize = aead::NONCE_LEN;

/// The largest AEAD key (AES-256 and ChaCha20 both use 32 bytes).
const MAX_KEY_BYTES: usize = 32;

/// Which AEAD the suite uses: it decides the key size and, in TLS 1.2, the nonce's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20Poly1305,
}

impl Aead {
    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Aead::Aes128Gcm => &aead::AES_128_GCM,
            Aead::Aes256Gcm => &aead::AES_256_GCM,
            Aead::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

pub(super) struct Keys {
    pub aead: Aead,
    key: [u8; MAX_KEY_BYTES],
    key_len: u8,
    iv: [u8; NONCE_BYTES],
    /// The sequence number of the next record in this direction.
    pub seq: u64,
}

impl Keys {
    /// The keys rustls extracted, starting at record `seq`; None for an AEAD this layer does
    /// not know (the provider is ring's, whose suites are all covered).
    pub fn new(seq: u64, secrets: ConnectionTrafficSecrets) -> Option<Keys> {
        let (aead, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (Aead::Aes128Gcm, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (Aead::Aes256Gcm, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (Aead::ChaCha20Poly1305, key, iv),
            _ => return None,
        };
        let (key, iv) = (key.as_ref(), iv.as_ref());
        if key.len() != aead.algorithm().key_len() || iv.len() != NONCE_BYTES {
            return None;
        }
        let mut keys = Keys { aead, key: [0; MAX_KEY_BYTES], key_len: key.len() as u8, iv: [0; NONCE_BYTES], seq };
        keys.key[..key.len()].copy_from_slice(key);
        keys.iv.copy_from_slice(iv);
        Some(keys)
    }

    /// The cipher for this direction's records, built from the key (for one read or write).
    pub fn cipher(&self) -> LessSafeKey {
        let key = UnboundKey::new(self.aead.algorithm(), &self.key[..usize::from(self.key_len)])
            .expect("the key length was checked against the algorithm in Keys::new");
        LessSafeKey::new(key)
    }

    /// The nonce of record `seq`: the IV with the sequence number XORed into its last 8 bytes
    /// (TLS 1.3, TLS 1.2 ChaCha20; for TLS 1.2 AES-GCM its last 8 bytes are the explicit nonce).
    pub fn nonce(&self, seq: u64) -> [u8; NONCE_BYTES] {
        let mut nonce = self.iv;
        for (byte, seq_byte) in nonce[NONCE_BYTES - 8..].iter_mut().zip(seq.to_be_bytes()) {
            *byte ^= seq_byte;
        }
        nonce
    }

    /// TLS 1.2 AES-GCM: the implicit part of a received record's nonce.
    pub fn salt(&self) -> [u8; 4] {
        [self.iv[0], self.iv[1], self.iv[2], self.iv[3]]
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        // Best effort: the key bytes do not outlive the connection in freed memory.
        self.key = [0; MAX_KEY_BYTES];
        self.iv = [0; NONCE_BYTES];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::crypto::cipher::{AeadKey, Iv};

    #[test]
    fn the_nonce_xors_the_sequence_number_into_the_iv_tail() {
        let iv = [0x10; NONCE_BYTES];
        let secrets = ConnectionTrafficSecrets::Aes256Gcm { key: AeadKey::from([7; 32]), iv: Iv::new(iv) };
        let keys = Keys::new(0, secrets).expect("AES-256-GCM keys");
        assert_eq!(keys.nonce(0), iv);
        assert_eq!(keys.nonce(0x0102), [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x11, 0x12]);
        assert_eq!(keys.salt(), [0x10; 4]);
    }

    #[test]
    fn a_key_of_the_wrong_length_for_its_algorithm_is_refused() {
        let secrets = ConnectionTrafficSecrets::Aes128Gcm { key: AeadKey::from([7; 32]), iv: Iv::new([0; 12]) };
        assert!(Keys::new(0, secrets).is_none());
    }
}
