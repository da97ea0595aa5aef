//! A message's frames for many recipients: the plain frame every member without
//! compression shares, and its compressed twins (RSV1): one per window size members
//! negotiated (almost always only the 32 KiB window every browser gets), each shared by
//! every member with that window, made exactly once per message, by the first worker that
//! has such a member (another worker needing it meanwhile waits for it), and only if the payload reaches the compression threshold.
//!
//! Owns the frames and the once-only rule; it does not decide who gets which (the worker's
//! fan-out does) and holds no compressor (the caller lends one). No I/O.

use std::sync::{Arc, OnceLock};

use super::compression::Deflater;
use super::deflate::{MAX_WINDOW_BITS, MIN_COMPRESS_WINDOW_BITS};
use super::frame::SharedFrame;

/// A compressed twin once made (`None` inside: not worth compressing).
type Twin = OnceLock<Option<SharedFrame>>;

/// The compressed twins of one message.
#[derive(Debug, Default)]
struct Twins {
    /// For the 32 KiB window (15 bits).
    full: Twin,
    /// For the windows of 9 to 14 bits, at `bits - 9`; allocated when first needed.
    smaller: OnceLock<Box<[Twin; (MAX_WINDOW_BITS - MIN_COMPRESS_WINDOW_BITS) as usize]>>,
}

impl Twins {
    fn for_window(&self, bits: u8) -> &Twin {
        if bits >= MAX_WINDOW_BITS {
            return &self.full;
        }
        let index = bits.max(MIN_COMPRESS_WINDOW_BITS) - MIN_COMPRESS_WINDOW_BITS;
        &self.smaller.get_or_init(Default::default)[usize::from(index)]
    }
}

/// One message on its way to many connections: clone it freely (two reference counts).
#[derive(Debug, Clone)]
pub struct Fanout {
    plain: SharedFrame,
    /// The compressed twins. Absent when the server does not compress, so such servers
    /// pay nothing for them.
    deflated: Option<Arc<Twins>>,
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

    /// The frame for a member that negotiated compression with a window of `window_bits`:
    /// the compressed twin for that window (made now with `deflater` if no worker made it
    /// yet), or the plain frame when the payload is under `threshold` bytes or the message
    /// is not compressible.
    ///
    /// Exactly once per message and window: a worker that reaches the message while another
    /// is compressing it waits for that compression (never longer than making it itself would
    /// take) instead of compressing it again. The flag says whether this call compressed.
    pub fn for_compressed(&self, deflater: &mut Deflater, threshold: usize, window_bits: u8) -> (&SharedFrame, bool) {
        let Some(twins) = &self.deflated else {
            return (&self.plain, false);
        };
        let mut now = false;
        let made = twins.for_window(window_bits).get_or_init(|| {
            let fresh = deflater.recompress(&self.plain, threshold, window_bits);
            now = fresh.is_some();
            fresh
        });
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
        let (first, made) = message.for_compressed(&mut deflater, 128, 15);
        let (second, again) = copy.for_compressed(&mut deflater, 128, 15);
        assert!(made && !again, "compressed by the first call only");
        assert_eq!(first[0], 0xC1);
        assert_eq!(first.as_ptr(), second.as_ptr(), "one buffer for every compressed member");
        assert_eq!(message.plain()[0], 0x81);
    }

    #[test]
    fn each_window_size_gets_its_own_twin_once() {
        let message = Fanout::new(frame::text(&crate::wire::compression::tests::far_repeats()), true);
        let mut deflater = Deflater::default();
        let mut made = Vec::new();
        for bits in [15, 10, 15, 10, 9, 8, 12] {
            let (frame, now) = message.for_compressed(&mut deflater, 128, bits);
            made.push((bits, now, frame.as_ptr()));
        }
        let fresh: Vec<u8> = made.iter().filter(|m| m.1).map(|m| m.0).collect();
        assert_eq!(fresh, [15, 10, 9, 12], "one compression per distinct window (8 shares 9's)");
        assert_eq!(made[0].2, made[2].2);
        assert_eq!(made[1].2, made[3].2);
        assert_eq!(made[4].2, made[5].2);
        assert_ne!(made[0].2, made[1].2);
    }

    #[test]
    fn small_or_uncompressible_messages_stay_plain() {
        let mut deflater = Deflater::default();
        let small = Fanout::new(frame::text(b"hi"), true);
        assert_eq!(small.for_compressed(&mut deflater, 128, 15).0.as_ptr(), small.plain().as_ptr());
        assert_eq!(small.for_compressed(&mut deflater, 128, 11).0.as_ptr(), small.plain().as_ptr());
        let off = Fanout::new(frame::text(&[b'x'; 500]), false);
        assert_eq!(off.for_compressed(&mut deflater, 128, 15).0.as_ptr(), off.plain().as_ptr());
    }
}
