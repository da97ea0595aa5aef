//! Inflating permessage-deflate messages the server sent (RSV1 set), once per distinct
//! compressed payload: the server compresses a message once and shares the bytes (fan-out), and
//! without context takeover equal messages compress to equal bytes (echo), so a small cache
//! keeps the generator's cost per message, not per delivery. It only inflates; it never judges
//! what the plain text says (the scenarios do).

use std::collections::HashMap;

use switchyard::wire::compression::Inflater;

/// The offer every `--deflate` connection makes.
pub const OFFER: &str = "permessage-deflate; client_no_context_takeover";

/// Largest inflated message accepted.
const MAX_PLAIN: usize = 1 << 20;

/// Distinct compressed payloads remembered before the cache starts afresh.
const CACHE_ENTRIES: usize = 4096;

#[derive(Default)]
pub struct Inflated {
    inflater: Inflater,
    seen: HashMap<Box<[u8]>, Box<[u8]>>,
    scratch: Vec<u8>,
    /// Messages inflated (cache misses).
    pub inflations: u64,
    /// Compressed payload bytes received.
    pub compressed_bytes: u64,
}

impl Inflated {
    /// The plain payload of a compressed one, or `None` if it is not valid DEFLATE data.
    pub fn plain(&mut self, compressed: &[u8]) -> Option<Box<[u8]>> {
        self.compressed_bytes += compressed.len() as u64;
        if let Some(plain) = self.seen.get(compressed) {
            return Some(plain.clone());
        }
        self.inflater.inflate(compressed, &mut self.scratch, MAX_PLAIN, false).ok()?;
        self.inflations += 1;
        if self.seen.len() >= CACHE_ENTRIES {
            self.seen.clear();
        }
        let plain: Box<[u8]> = self.scratch.as_slice().into();
        self.seen.insert(compressed.into(), plain.clone());
        Some(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_and_counted() {
        let mut inflated = Inflated::default();
        assert!(inflated.plain(&[0xff, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert_eq!(inflated.compressed_bytes, 5);
    }

    #[test]
    fn a_stored_block_inflates_once_then_comes_from_the_cache() {
        // A final stored block holding "hi" (BFINAL=1, BTYPE=00, LEN=2, NLEN=!2).
        let stored = [0x01, 0x02, 0x00, 0xfd, 0xff, b'h', b'i'];
        let mut inflated = Inflated::default();
        assert_eq!(inflated.plain(&stored).as_deref(), Some(&b"hi"[..]));
        assert_eq!(inflated.plain(&stored).as_deref(), Some(&b"hi"[..]));
        assert_eq!(inflated.inflations, 1);
    }
}
