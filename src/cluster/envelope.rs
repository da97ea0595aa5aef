//! The binary envelope of a write carried between nodes: magic and version, the origin
//! node's id, the `except` connection, then the complete WebSocket frame as the origin
//! encoded it. Encoding and decoding only; it must not interpret the frame.

use uuid::Uuid;

use crate::service::ConnId;

const MAGIC: [u8; 3] = *b"SY1";
const HAS_EXCEPT: u8 = 1;

/// The bytes before the frame: at most 3 + 1 + 16 + 16.
pub fn head(origin: &Uuid, except: Option<ConnId>) -> Vec<u8> {
    let mut head = Vec::with_capacity(36);
    head.extend_from_slice(&MAGIC);
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

/// Decodes an envelope; `None` if it is not one of ours.
pub fn decode(bytes: &[u8]) -> Option<Envelope<'_>> {
    let rest = bytes.strip_prefix(&MAGIC)?;
    let (&flags, rest) = rest.split_first()?;
    let (origin, rest) = uuid_at(rest)?;
    let (except, frame) = if flags & HAS_EXCEPT != 0 {
        let (except, rest) = uuid_at(rest)?;
        (Some(except), rest)
    } else {
        (None, rest)
    };
    (!frame.is_empty()).then_some(Envelope { origin, except, frame })
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
