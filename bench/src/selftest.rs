//! `switchyard-bench selftest`: how many frames per second one core of the generator can scan
//! and check in user space (frame header scan, `"text":"` lookup, stamp read, order check,
//! sampled latency), with no sockets — the kernel's receive path comes on top of this.

use std::time::Instant;

use crate::chat_text::{self, Stamp};
use crate::histogram::Histogram;
use crate::order_check::OrderCheck;
use crate::wire::{self, Scan};

/// Subscribers the synthetic deliveries are spread over.
const SUBSCRIBERS: usize = 1000;
/// Frames in one scratch-buffer-sized batch.
const FRAMES_PER_BATCH: usize = 1024;

/// One server `chat` frame as switchyard sends it, carrying `stamp`.
fn chat_frame(stamp: Stamp) -> Vec<u8> {
    let mut text = [b'.'; 64];
    chat_text::write_stamp(&mut text, stamp);
    let text = String::from_utf8_lossy(&text);
    let payload = format!(
        r#"{{"from":"6f1c1f0e-3f5e-4b8a-9a43-0c6a4f1f2b7d","channel":"fan","cmd":"chat","param":{{"user":"anonymous","text":"{text}","time":1764100000000}}}}"#
    );
    let mut frame = vec![0x81, 126];
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    frame.extend_from_slice(payload.as_bytes());
    frame
}

/// Runs for about `seconds` and returns frames checked per second.
pub fn frames_per_second(seconds: f64) -> Result<f64, String> {
    let batch: Vec<u8> = (0..FRAMES_PER_BATCH as u64)
        .flat_map(|seq| chat_frame(Stamp { publisher: 0, seq, sent_nanos: seq * 1000 }))
        .collect();
    let mut offsets = vec![0u16; SUBSCRIBERS];
    let mut histogram = Histogram::default();
    let started = Instant::now();
    let mut frames = 0u64;
    let mut round = 0usize;
    while started.elapsed().as_secs_f64() < seconds {
        let subscriber = round % SUBSCRIBERS;
        // A fresh checker per round: every round replays sequence numbers 0..FRAMES_PER_BATCH.
        let mut order = OrderCheck::new(1, 1);
        frames += check_batch(&batch, &mut order, &mut offsets[subscriber], &mut histogram)?;
        round += 1;
    }
    Ok(frames as f64 / started.elapsed().as_secs_f64())
}

fn check_batch(
    mut bytes: &[u8],
    order: &mut OrderCheck,
    offset: &mut u16,
    histogram: &mut Histogram,
) -> Result<u64, String> {
    let mut frames = 0;
    while let Scan::Frame(frame, used) = wire::scan_frame(bytes) {
        bytes = &bytes[used..];
        let at = chat_text::locate_text(frame.payload, offset).ok_or("no text field")?;
        let text = &frame.payload[at..];
        let (publisher, seq) = chat_text::read_stamp_head(text).ok_or("no stamp")?;
        order.observe(0, publisher as usize, seq);
        if seq % 8 == 0 {
            histogram.record(chat_text::read_stamp_time(text).unwrap_or(0));
        }
        frames += 1;
    }
    if order.duplicates + order.gaps > 0 {
        return Err("the order check failed on in-order input".into());
    }
    Ok(frames)
}
