//! Seed inputs for both targets, written out by `cargo run --bin seeds` into
//! `fuzz/seeds/<target>/` (committed), each one reaching a different part of the code.

use crate::wire::upgrade_request;

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Named seeds of the `http_upgrade` target.
pub fn http_upgrade() -> Vec<(&'static str, Vec<u8>)> {
    let good = upgrade_request("/example/socket?ch=room%201");
    let many: String = (0..70).map(|i| format!("X{i}: y\r\n")).collect();
    vec![
        ("upgrade-whole", cat(&[&[0], &good])),
        ("upgrade-split3", cat(&[&[3, 0, 1, 0, 20, 0, 90], &good])),
        ("upgrade-padded", cat(&[&[0x82, 100, 0, 30, 0, 120], &good])),
        ("head-too-large", cat(&[&[0x81, 140, 0x20, 0], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"])),
        ("post-body", cat(&[&[1, 0, 60], b"POST /admin/api/send HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"])),
        ("chunked", cat(&[&[0], b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"])),
        ("bad-length", cat(&[&[0], b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"])),
        ("huge-body", cat(&[&[0], b"POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n"])),
        ("too-many-headers", cat(&[&[0], b"GET / HTTP/1.1\r\n", many.as_bytes(), b"\r\n"])),
        ("garbage", cat(&[&[0], b"\x16\x03\x01\x00\xa5garbage\r\n\r\n"])),
        ("http10", cat(&[&[0], b"GET /echo HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n"])),
        ("version8", cat(&[&[0], b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: x\r\n\r\n"])),
        ("pipelined", cat(&[&[2, 0, 7, 0, 140], &good, b"\x81\x80\0\0\0\0"])),
    ]
}

/// Named seeds of the `connection` target (see `connection.rs` for the input format).
pub fn connection() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("json-echo", vec![0x00, 0, 0, 1, 2, 0, 7]),
        ("json-chat-observer", cat(&[&[0x08, 0, 0, 2, 4, 5], b"hello", &[13, 0, 2, 4, 2, b'h', b'i']])),
        ("json-join-leave", vec![0x00, 0, 0, 3, 5, 1, 1, 0, 4, 5, 1, 1, 0, 3, 0x25, 1, 2, 0, 0, 0, 0x26, 0, 4]),
        ("json-ping", vec![0x08, 0, 0, 0, 0]),
        ("json-bad", vec![0x00, 0, 0, 1, 0x82, 0, 4, 0, 1, 0x81, 0, 1, 50]),
        ("fragments", vec![0x00, 0, 6, 0x08, 1, 7, 3, 3, 5, 10, 15]),
        ("fragments-open", cat(&[&[0x01, 0, 6, 0x05, 6], b"abcdef", &[2, 3, 1, 0, 1, 0]])),
        ("close-1000", cat(&[&[0x00, 0, 5, 2, 0, 3], b"bye"])),
        ("close-bad", vec![0x00, 0, 5, 1]),
        ("ping-frame", cat(&[&[0x00, 0, 3, 4], b"ping", &[4, 4, 1, b'x']])),
        ("ping-too-long", cat(&[&[0x00, 0, 3, 200], &[b'p'; 200], &[129]])),
        ("large-1009", vec![0x04, 0, 9, 2, 0, 1, 0]),
        ("large-fragmented", vec![0x00, 0, 9, 1, 2, 1, 3]),
        ("large-echo", vec![0x01, 0, 9, 0, 1, 0, 1]),
        ("sweeps", vec![0x00, 0, 10, 2, 10, 3, 10, 4]),
        ("echo-text-binary", cat(&[&[0x01, 0, 1, 5], b"hello", &[2, 3], b"abc"])),
        ("echo-bad-utf8", vec![0x01, 0, 1, 2, 0xC3, 0x28]),
        ("raw", cat(&[&[0x02, 0, 0], b"\x81\x85\x01\x02\x03\x04iefhn"])),
        ("glued", vec![0x20, 10, 0, 1, 2, 0, 7]),
        ("any-header", vec![0x00, 0, 7, 0x81, 2, 1, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        ("rsv-bits", vec![0x00, 0, 7, 0xF1, 0, 3, 3, b'a', b'b', b'c']),
        ("batched-bytewise", vec![0x00, 0, 11, 0, 0, 1, 2, 0, 7, 0, 1, 2, 0, 8, 11, 1]),
        ("random-mask", vec![0x80, 0xde, 0xad, 0xbe, 0xef, 0, 0, 1, 2, 0, 7]),
        ("hang-up", vec![0x08, 0, 0, 2, 4, 2, b'h', b'i', 12]),
        ("unmasked", cat(&[&[0x00, 0, 14, 2], b"{}"])),
        ("rate-limited", [vec![0x10, 0], [0u8, 0, 0].repeat(40)].concat()),
    ]
}
