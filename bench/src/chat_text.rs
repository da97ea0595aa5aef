//! The text a fan-out publisher puts in each `chat` message — publisher, sequence number and
//! send time in fixed-width decimal at the start of the payload's filler — and reading it back out of
//! a delivered frame without parsing the JSON.

/// `p` + 3 digits + `s` + 10 digits + `t` + 16 digits.
pub const STAMP_BYTES: usize = 1 + 3 + 1 + 10 + 1 + 16;
const TEXT_KEY: &[u8] = br#""text":""#;

/// What a publisher stamped into a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub publisher: u16,
    pub seq: u64,
    /// Nanoseconds since the run's epoch.
    pub sent_nanos: u64,
}

/// Writes the stamp into the first [`STAMP_BYTES`] of `out`; the rest (the payload filler) is
/// left as it is.
pub fn write_stamp(out: &mut [u8], stamp: Stamp) {
    out[0] = b'p';
    write_digits(&mut out[1..4], u64::from(stamp.publisher));
    out[4] = b's';
    write_digits(&mut out[5..15], stamp.seq);
    out[15] = b't';
    write_digits(&mut out[16..32], stamp.sent_nanos);
}

fn write_digits(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[inline]
fn read_digits(bytes: &[u8]) -> Option<u64> {
    bytes.iter().try_fold(0u64, |value, &byte| {
        let digit = byte.wrapping_sub(b'0');
        (digit < 10).then(|| value * 10 + u64::from(digit))
    })
}

/// Reads the publisher and sequence number at `text` (the start of the stamp).
#[inline]
pub fn read_stamp_head(text: &[u8]) -> Option<(u16, u64)> {
    if text.len() < STAMP_BYTES || text[0] != b'p' || text[4] != b's' {
        return None;
    }
    Some((read_digits(&text[1..4])? as u16, read_digits(&text[5..15])?))
}

/// Reads the send time at `text` (the start of the stamp).
#[inline]
pub fn read_stamp_time(text: &[u8]) -> Option<u64> {
    if text.get(15) != Some(&b't') {
        return None;
    }
    read_digits(text.get(16..32)?)
}

/// Finds where the `"text":"` value starts in a delivered frame, trying `cached` first
/// (frames of one run have the same shape, so the offset rarely moves).
#[inline]
pub fn locate_text(payload: &[u8], cached: &mut u16) -> Option<usize> {
    let at = *cached as usize;
    if payload.get(at..at + TEXT_KEY.len()) == Some(TEXT_KEY) {
        return Some(at + TEXT_KEY.len());
    }
    let found = memchr::memmem::find(payload, TEXT_KEY)?;
    *cached = u16::try_from(found).unwrap_or(0);
    Some(found + TEXT_KEY.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_inside_a_delivery() {
        let mut text = [0u8; 64];
        let stamp = Stamp { publisher: 7, seq: 123_456, sent_nanos: 9_876_543_210 };
        write_stamp(&mut text, stamp);
        let text = std::str::from_utf8(&text).unwrap_or_default();
        let frame = format!(
            r#"{{"from":"u","channel":"c","cmd":"chat","param":{{"user":"anonymous","text":"{text}","time":1}}}}"#
        );
        let mut cached = 0;
        let at = locate_text(frame.as_bytes(), &mut cached).unwrap_or(0);
        assert_eq!(read_stamp_head(&frame.as_bytes()[at..]), Some((7, 123_456)));
        assert_eq!(read_stamp_time(&frame.as_bytes()[at..]), Some(9_876_543_210));
        assert!(cached > 0);
        assert_eq!(locate_text(frame.as_bytes(), &mut cached), Some(at));
        assert_eq!(locate_text(br#"{"cmd":"online-update"}"#, &mut cached), None);
    }
}
