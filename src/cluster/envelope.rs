//! The binary envelope of a write carried between nodes: magic and version, the origin
//! node's id, the `except` connection, then the complete WebSocket frame as the origin
//! encoded it. A write to a channel with history (published by the history script, see
//! `history/scripts.rs`) has its own magic and carries, after the same head,
//! `{offset}:{epoch}:` and the message JSON (offset and epoch included), not a frame:
//! every node frames it once. Encoding and decoding only; it must not interpret the frame.

use uuid::Uuid;

use crate::service::ConnId;

const MAGIC: [u8; 3] = *b"SY1";
const HISTORY_MAGIC: [u8; 3] = *b"SYH";
const MARKER_MAGIC: [u8; 3] = *b"SYM";
const HAS_EXCEPT: u8 = 1;

/// The bytes before the frame: at most 3 + 1 + 16 + 16.
pub fn head(origin: &Uuid, except: Option<ConnId>) -> Vec<u8> {
    head_with(MAGIC, origin, except)
}

/// The head of a write to a channel with history (the script appends the rest).
pub fn history_head(origin: &Uuid, except: Option<ConnId>) -> Vec<u8> {
    head_with(HISTORY_MAGIC, origin, except)
}

fn head_with(magic: [u8; 3], origin: &Uuid, except: Option<ConnId>) -> Vec<u8> {
    let mut head = Vec::with_capacity(36);
    head.extend_from_slice(&magic);
    head.push(if except.is_some() { HAS_EXCEPT } else { 0 });
    head.extend_from_slice(origin.as_bytes());
    if let Some(except) = except {
        head.extend_from_slice(except.as_bytes());
    }
    head
}

/// A decoded envelope, borrowing the frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub origin: Uuid,
    pub except: Option<ConnId>,
    pub frame: &'a [u8],
}

/// The marker a recovery read publishes on the channel (`history/scripts.rs`): the asking
/// node and the recovery's number.
pub fn marker(node: &Uuid, recovery: u64) -> Vec<u8> {
    let mut marker = Vec::with_capacity(3 + 16 + 20);
    marker.extend_from_slice(&MARKER_MAGIC);
    marker.extend_from_slice(node.as_bytes());
    marker.extend_from_slice(recovery.to_string().as_bytes());
    marker
}

/// Decodes a marker; `None` if it is not one.
pub fn decode_marker(bytes: &[u8]) -> Option<(Uuid, u64)> {
    let (node, number) = uuid_at(bytes.strip_prefix(&MARKER_MAGIC)?)?;
    Some((node, std::str::from_utf8(number).ok()?.parse().ok()?))
}

/// A decoded write to a channel with history, borrowing the JSON.
#[derive(Debug, PartialEq, Eq)]
pub struct HistoryEnvelope<'a> {
    pub origin: Uuid,
    pub except: Option<ConnId>,
    pub offset: u64,
    pub epoch: &'a str,
    /// The message as sent live (offset and epoch included), not framed.
    pub json: &'a [u8],
}

/// Decodes an envelope; `None` if it is not one of ours.
pub fn decode(bytes: &[u8]) -> Option<Envelope<'_>> {
    let (origin, except, frame) = decode_head(bytes.strip_prefix(&MAGIC)?)?;
    (!frame.is_empty()).then_some(Envelope { origin, except, frame })
}

/// Decodes a history envelope; `None` if it is not one.
pub fn decode_history(bytes: &[u8]) -> Option<HistoryEnvelope<'_>> {
    let (origin, except, rest) = decode_head(bytes.strip_prefix(&HISTORY_MAGIC)?)?;
    let (offset, rest) = split_once(rest, b':')?;
    let (epoch, json) = split_once(rest, b':')?;
    let offset = std::str::from_utf8(offset).ok()?.parse().ok()?;
    let epoch = std::str::from_utf8(epoch).ok()?;
    (json.starts_with(b"{") && json.ends_with(b"}")).then_some(HistoryEnvelope { origin, except, offset, epoch, json })
}

fn split_once(bytes: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
    let i = bytes.iter().position(|&b| b == at)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// The origin and `except` after the magic, and what follows them.
fn decode_head(rest: &[u8]) -> Option<(Uuid, Option<ConnId>, &[u8])> {
    let (&flags, rest) = rest.split_first()?;
    let (origin, rest) = uuid_at(rest)?;
    let (except, frame) = if flags & HAS_EXCEPT != 0 {
        let (except, rest) = uuid_at(rest)?;
        (Some(except), rest)
    } else {
        (None, rest)
    };
    Some((origin, except, frame))
}

fn uuid_at(bytes: &[u8]) -> Option<(Uuid, &[u8])> {
    let id = bytes.get(..16)?;
    Some((Uuid::from_slice(id).ok()?, &bytes[16..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_except() {
        let (origin, except) = (Uuid::new_v4(), Uuid::new_v4());
        for except in [None, Some(except)] {
            let mut bytes = head(&origin, except);
            bytes.extend_from_slice(b"\x81\x02hi");
            assert_eq!(decode(&bytes), Some(Envelope { origin, except, frame: b"\x81\x02hi" }));
        }
    }

    #[test]
    fn history_envelopes_carry_offset_epoch_and_json() {
        let (origin, except) = (Uuid::new_v4(), Uuid::new_v4());
        for except in [None, Some(except)] {
            let mut bytes = history_head(&origin, except);
            bytes.extend_from_slice(b"17:a1b2c3d4:{\"cmd\":\"x\",\"offset\":17}");
            let decoded = decode_history(&bytes).expect("a history envelope");
            assert_eq!(
                (decoded.origin, decoded.except, decoded.offset, decoded.epoch),
                (origin, except, 17, "a1b2c3d4")
            );
            assert_eq!(decoded.json, b"{\"cmd\":\"x\",\"offset\":17}");
            assert_eq!(decode(&bytes), None, "not a plain envelope");
        }
        let mut plain = head(&origin, None);
        plain.extend_from_slice(b"1:e:{}");
        assert_eq!(decode_history(&plain), None);
        for tail in [&b"x:e:{}"[..], b"1:e", b"1:e:", b"1:e:not json", b"-1:e:{}"] {
            let mut bytes = history_head(&origin, None);
            bytes.extend_from_slice(tail);
            assert_eq!(decode_history(&bytes), None, "{tail:?}");
        }
    }

    #[test]
    fn markers_round_trip_and_are_no_envelope() {
        let node = Uuid::new_v4();
        let marker = marker(&node, 42);
        assert_eq!(decode_marker(&marker), Some((node, 42)));
        assert_eq!((decode(&marker), decode_history(&marker)), (None, None));
        assert_eq!(decode_marker(&marker[..19]), None, "no number");
        assert_eq!(decode_marker(&head(&node, None)), None);
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        let origin = Uuid::new_v4();
        assert_eq!(decode(b"hello"), None);
        assert_eq!(decode(&head(&origin, None)), None, "no frame");
        assert_eq!(decode(&head(&origin, None)[..10]), None, "short");
        let mut flagged = head(&origin, None);
        flagged[3] = HAS_EXCEPT;
        flagged.extend_from_slice(b"short");
        assert_eq!(decode(&flagged), None);
    }
}
