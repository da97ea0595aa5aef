//! A message's frames for many recipients: the plain frame every member without
//! compression shares, and its compressed twin (RSV1) that every member with
//! permessage-deflate shares, made at most once per message, by the first worker that has
//! such a member, and only if the payload reaches the compression threshold.
//!
//! Owns the pair and the once-only rule; it does not decide who gets which (the worker's
//! fan-out does) and holds no compressor (the caller lends one). No I/O.

use std::sync::{Arc, OnceLock};

use super::compression::Deflater;
use super::frame::SharedFrame;

/// One message on its way to many connections: clone it freely (two reference counts).
#[derive(Debug, Clone)]
pub struct Fanout {
    plain: SharedFrame,
    /// The compressed twin once made (`None` inside: not worth compressing). Absent when
    /// the server does not compress, so such servers pay nothing for it.
    deflated: Option<Arc<OnceLock<Option<SharedFrame>>>>,
}

impl Fanout {
    /// A message to fan out; `compressible` when some recipient may have negotiated
    /// compression (the server offers it).
    pub fn new(plain: SharedFrame, compressible: bool) -> Self {
        Fanout { plain, deflated: compressible.then(Default::default) }
    }

    /// The plain frame.
    pub fn plain(&self) -> &SharedFrame {
        &self.plain
    }

    /// The frame for a member that negotiated compression: the compressed twin (made now
    /// with `deflater` if no worker made it yet), or the plain frame when the payload is
    /// under `threshold` bytes or the message is not compressible.
    ///
    /// Never blocks on another worker: two workers that race here both compress, and the
    /// first result is kept (the cost of a rare race, instead of a lock on this path).
    /// The flag says whether this call compressed.
    pub fn for_compressed(&self, deflater: &mut Deflater, threshold: usize) -> (&SharedFrame, bool) {
        let Some(cell) = &self.deflated else {
            return (&self.plain, false);
        };
        let (made, now) = match cell.get() {
            Some(made) => (made, false),
            None => {
                let fresh = deflater.recompress(&self.plain, threshold);
                let compressed = fresh.is_some();
                let _ = cell.set(fresh);
                (cell.get().unwrap_or(&None), compressed)
            }
        };
        (made.as_ref().unwrap_or(&self.plain), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame;

    #[test]
    fn the_twin_is_made_once_and_shared() {
        let message = Fanout::new(frame::text(&[b'x'; 500]), true);
        let copy = message.clone();
        let mut deflater = Deflater::default();
        let (first, made) = message.for_compressed(&mut deflater, 128);
        let (second, again) = copy.for_compressed(&mut deflater, 128);
        assert!(made && !again, "compressed by the first call only");
        assert_eq!(first[0], 0xC1);
        assert_eq!(first.as_ptr(), second.as_ptr(), "one buffer for every compressed member");
        assert_eq!(message.plain()[0], 0x81);
    }

    #[test]
    fn small_or_uncompressible_messages_stay_plain() {
        let mut deflater = Deflater::default();
        let small = Fanout::new(frame::text(b"hi"), true);
        assert_eq!(small.for_compressed(&mut deflater, 128).0.as_ptr(), small.plain().as_ptr());
        let off = Fanout::new(frame::text(&[b'x'; 500]), false);
        assert_eq!(off.for_compressed(&mut deflater, 128).0.as_ptr(), off.plain().as_ptr());
    }
}
