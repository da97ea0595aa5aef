//! Secrets handled without leaking them through timing: the one constant-time comparison
//! every credential check calls, random keys from the operating system, and HMAC-SHA256
//! tags (signed session values).
//!
//! Built on vetted crates only (`subtle`, `sha2`, `hmac`, `getrandom`); no hand-rolled
//! cryptography. It owns no policy: which token is right, which cookie carries a tag and how
//! long it lives belong to the callers (`admin::auth`, the server API). It never logs or
//! formats a secret.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a key made by [`random_key`], in bytes (256 bits).
pub const KEY_BYTES: usize = 32;

/// Whether `a == b`, in a time that depends on neither where they differ nor their lengths:
/// both sides are hashed (SHA-256) first, then the digests are compared in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let x: [u8; 32] = Sha256::digest(a).into();
    let y: [u8; 32] = Sha256::digest(b).into();
    x[..].ct_eq(&y[..]).into()
}

/// A fresh key from the operating system's random source.
pub fn random_key() -> Result<[u8; KEY_BYTES], getrandom::Error> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key)?;
    Ok(key)
}

/// HMAC-SHA256 of `message` under `key`, as lowercase hex (64 characters).
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(message);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn random_keys_differ() {
        let (a, b) = (random_key().expect("os randomness"), random_key().expect("os randomness"));
        assert_ne!(a, b);
        assert_ne!(a, [0u8; KEY_BYTES]);
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test cases 1 and 2 (HMAC-SHA-256).
        let tag = hmac_sha256_hex(&[0x0b; 20], b"Hi There");
        assert_eq!(tag, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        let tag = hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(tag, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
