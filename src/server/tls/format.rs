//! The byte layout of TLS records: the header, the length limits, the content types, and
//! what TLS 1.2 authenticates and uses as a nonce beside the ciphertext.
//!
//! Owns no state and does no cryptography (`records.rs` seals and opens, `keys.rs` holds the
//! keys); every function here is a pure computation on bytes.

use super::keys::NONCE_BYTES;
use super::records::{alert, RecordError};

pub(super) const HEADER_BYTES: usize = 5;
pub(super) const TAG_BYTES: usize = 16;
/// TLS 1.2 AES-GCM sends the last 8 bytes of each record's nonce before its ciphertext.
pub(super) const EXPLICIT_NONCE_BYTES: usize = 8;
/// A record's plaintext at most (2^14).
pub(super) const MAX_PLAINTEXT: usize = 16 * 1024;
/// A record's body at most (TLS 1.2 allows 2^14 + 2048; TLS 1.3's 2^14 + 256 is within it).
pub(super) const MAX_BODY: usize = MAX_PLAINTEXT + 2048;
/// A TLS 1.3 record's body at most.
pub(super) const MAX_BODY_TLS13: usize = MAX_PLAINTEXT + 256;
/// What sealing adds to a record at most (header, explicit nonce, inner content type, tag).
pub(super) const RECORD_OVERHEAD: usize = HEADER_BYTES + EXPLICIT_NONCE_BYTES + 1 + TAG_BYTES;

pub(super) const ALERT: u8 = 21;
pub(super) const HANDSHAKE: u8 = 22;
pub(super) const APPLICATION_DATA: u8 = 23;

/// The legacy record version every record is sent with (TLS 1.2's, as TLS 1.3 requires).
pub(super) const RECORD_VERSION: [u8; 2] = [3, 3];

/// The length of the whole record at the front of `bytes` (header included), None while it
/// is incomplete.
pub(super) fn whole_record(bytes: &[u8]) -> Result<Option<usize>, RecordError> {
    let Some(header) = bytes.get(..HEADER_BYTES) else { return Ok(None) };
    let body = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if body > MAX_BODY {
        return Err(RecordError::new(alert::RECORD_OVERFLOW, "a record longer than TLS allows"));
    }
    Ok((bytes.len() >= HEADER_BYTES + body).then_some(HEADER_BYTES + body))
}

pub(super) fn record_header(content_type: u8, body: usize) -> [u8; HEADER_BYTES] {
    let [high, low] = (body as u16).to_be_bytes();
    [content_type, RECORD_VERSION[0], RECORD_VERSION[1], high, low]
}

/// TLS 1.2's additional data: sequence number, type, version, plaintext length.
pub(super) fn tls12_aad(seq: u64, content_type: u8, version: [u8; 2], content_len: usize) -> [u8; 13] {
    let mut aad = [0; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = content_type;
    aad[9..11].copy_from_slice(&version);
    aad[11..].copy_from_slice(&(content_len as u16).to_be_bytes());
    aad
}

pub(super) fn gcm_nonce(salt: [u8; 4], explicit: &[u8]) -> [u8; NONCE_BYTES] {
    let mut nonce = [0; NONCE_BYTES];
    nonce[..4].copy_from_slice(&salt);
    nonce[4..].copy_from_slice(explicit);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_whole_only_with_all_of_its_body_and_never_over_the_limit() {
        assert_eq!(whole_record(&[23, 3, 3, 0]), Ok(None));
        assert_eq!(whole_record(&[23, 3, 3, 0, 2, 9]), Ok(None));
        assert_eq!(whole_record(&[23, 3, 3, 0, 2, 9, 9, 7]), Ok(Some(7)));
        let too_long = (MAX_BODY as u16 + 1).to_be_bytes();
        assert_eq!(
            whole_record(&[23, 3, 3, too_long[0], too_long[1]]).map_err(|e| e.alert),
            Err(Some(alert::RECORD_OVERFLOW))
        );
    }

    #[test]
    fn tls12_additional_data_is_sequence_type_version_and_plaintext_length() {
        let aad = tls12_aad(0x0102_0304_0506_0708, APPLICATION_DATA, RECORD_VERSION, 0x1234);
        assert_eq!(aad, [1, 2, 3, 4, 5, 6, 7, 8, 23, 3, 3, 0x12, 0x34]);
        assert_eq!(record_header(ALERT, 0x0102), [21, 3, 3, 1, 2]);
        assert_eq!(gcm_nonce([1, 2, 3, 4], &[5, 6, 7, 8, 9, 10, 11, 12]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }
}
