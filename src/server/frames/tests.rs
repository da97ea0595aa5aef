//! The frame reader's unit tests.

use super::*;
use crate::wire::frame::client_frame;

fn events(reader: &mut FrameReader, bytes: &[u8], max: usize) -> Result<Vec<String>, Violation> {
    let mut seen = Vec::new();
    let mut input = bytes.to_vec();
    reader.feed(&mut input, (max, false), &mut |event| {
        seen.push(format!("{event:?}"));
        Flow::Continue
    })?;
    Ok(seen)
}

#[test]
fn reads_a_text_frame_split_at_every_byte() {
    let frame = client_frame(0x81, b"hello world");
    let mut reader = FrameReader::default();
    let mut seen = Vec::new();
    for byte in &frame {
        seen.extend(events(&mut reader, &[*byte], 1024).unwrap());
    }
    assert_eq!(seen, vec![r#"Text("hello world")"#]);
    assert_eq!(reader.heap_bytes(), 0, "nothing held once the frame is read");
}

#[test]
fn reassembles_fragments_with_a_ping_between() {
    let mut bytes = client_frame(0x01, b"hel");
    bytes.extend(client_frame(0x89, b"p"));
    bytes.extend(client_frame(0x80, b"lo"));
    let seen = events(&mut FrameReader::default(), &bytes, 1024).unwrap();
    assert_eq!(seen, vec![r#"Ping([112])"#, r#"Text("hello")"#]);
}

#[test]
fn rejects_what_a_server_must_reject() {
    let unmasked = [0x81u8, 0x02, b'h', b'i'];
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (unmasked.to_vec(), 1002),
        (client_frame(0xC1, b"x"), 1002),          // rsv1
        (client_frame(0x83, b"x"), 1002),          // reserved data opcode
        (client_frame(0x8B, b"x"), 1002),          // reserved control opcode
        (client_frame(0x09, b"x"), 1002),          // fragmented ping
        (client_frame(0x89, &[0; 126]), 1002),     // long ping
        (client_frame(0x80, b"x"), 1002),          // continuation first
        (client_frame(0x81, &[0xff, 0xfe]), 1007), // bad UTF-8
        (client_frame(0x82, &[0; 2000]), 1009),    // too big
        (client_frame(0x88, &[3]), 1002),          // one-byte close
        (client_frame(0x88, &[0x03, 0xEC]), 1002), // close 1004
    ];
    for (bytes, code) in cases {
        let result = events(&mut FrameReader::default(), &bytes, 1000);
        assert_eq!(result.map_err(|v| v.code), Err(code), "frame {bytes:02x?}");
    }
}

#[test]
fn a_continuation_whose_length_wraps_is_refused() {
    let mut bytes = client_frame(0x02, b"x");
    bytes.extend_from_slice(&[0x80, 0xFF]);
    bytes.extend_from_slice(&u64::MAX.to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    let result = events(&mut FrameReader::default(), &bytes, 1000);
    assert_eq!(result.map_err(|v| v.code), Err(1002));
    let mut bytes = client_frame(0x02, b"x");
    bytes.extend_from_slice(&[0x80, 0xFF]);
    bytes.extend_from_slice(&(i64::MAX as u64).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(events(&mut FrameReader::default(), &bytes, 1000).map_err(|v| v.code), Err(1009));
}

#[test]
fn a_reassembly_never_holds_more_than_the_limit() {
    let mut bytes = client_frame(0x01, b"abc");
    for _ in 0..4 {
        bytes.extend(client_frame(0x00, &[b'x'; 16_000]));
    }
    let mut reader = FrameReader::default();
    let mut input = bytes.clone();
    reader.feed(&mut input, (65_536, false), &mut |_| Flow::Continue).unwrap();
    let held = reader.fragmented.as_ref().unwrap().buffer.capacity();
    assert!(held <= 65_536, "reassembly capacity {held}");
}

#[test]
fn fails_fast_on_bad_utf8_in_a_first_fragment() {
    let bytes = client_frame(0x01, &[b'a', 0xC0, 0x80]);
    assert_eq!(events(&mut FrameReader::default(), &bytes, 1024).map_err(|v| v.code), Err(1007));
}

#[test]
fn close_frames_carry_code_and_reason() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    let seen = events(&mut FrameReader::default(), &client_frame(0x88, &payload), 1024).unwrap();
    assert_eq!(seen, vec![r#"Close(Some((1000, "bye")))"#]);
}

#[test]
fn rsv1_marks_a_compressed_message_only_where_negotiated() {
    let mut seen = Vec::new();
    let mut bytes = client_frame(0x41, b"ab"); // RSV1, text, not final
    bytes.extend(client_frame(0x80, b"cd"));
    bytes.extend(client_frame(0xC2, &[1, 2]));
    FrameReader::default()
        .feed(&mut bytes, (1000, true), &mut |event| {
            seen.push(format!("{event:?}"));
            Flow::Continue
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![
            "Compressed { is_text: true, payload: [97, 98, 99, 100] }",
            "Compressed { is_text: false, payload: [1, 2] }"
        ]
    );
    let refused = |bytes: Vec<u8>, deflate: bool| {
        let mut input = bytes;
        FrameReader::default().feed(&mut input, (1000, deflate), &mut |_| Flow::Continue).map_err(|v| v.code)
    };
    assert_eq!(refused(client_frame(0xC1, b"x"), false), Err(1002), "not negotiated");
    assert_eq!(refused(client_frame(0xC9, b"x"), true), Err(1002), "a control frame");
    let mut continued = client_frame(0x01, b"x");
    continued.extend(client_frame(0xC0, b"y"));
    assert_eq!(refused(continued, true), Err(1002), "a continuation");
    assert_eq!(refused(client_frame(0xA1, b"x"), true), Err(1002), "RSV2");
}

#[test]
fn headers_parse_as_tungstenite_parses_them() {
    let mut headers = Vec::new();
    for first in 0..=255u8 {
        for second in [0u8, 1, 125, 126, 127, 0x80, 0x81, 0xfd, 0xfe, 0xff] {
            let mut bytes = vec![first, second];
            bytes.extend_from_slice(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c]);
            headers.push(bytes);
        }
    }
    for full in headers {
        for cut in 0..=full.len() {
            let bytes = &full[..cut];
            let mut cursor = std::io::Cursor::new(bytes);
            let theirs = match FrameHeader::parse(&mut cursor) {
                Ok(Some((header, length))) => Ok(Some((header, length, cursor.position() as usize))),
                Ok(None) => Ok(None),
                Err(_) => Err(Violation::protocol("invalid opcode")),
            };
            assert_eq!(parse_header(bytes), theirs, "{bytes:02x?}");
        }
    }
}

#[test]
fn whole_text_messages_get_the_utf8_verdict_of_std() {
    let samples: [&[u8]; 10] = [
        b"plain ascii json {\"cmd\":\"echo\"}",
        "caf\u{e9} \u{1f600} \u{10ffff}".as_bytes(),
        b"\xc0\xaf",           // overlong
        b"\xed\xa0\x80",       // a surrogate
        b"\xf4\x90\x80\x80",   // beyond U+10FFFF
        b"truncated \xe2\x82", // cut in the middle
        b"\xff",
        b"",
        &[b'a'; 100],
        b"0123456789012345678901234567890123456789012345678901234567890123\x80",
    ];
    for sample in samples {
        let ours = whole_message(true, false, sample).is_ok();
        assert_eq!(ours, std::str::from_utf8(sample).is_ok(), "{sample:02x?}");
    }
}
