//! The `http_upgrade` target: `parse_request` fed a request in arbitrary splits, reparsing
//! the growing buffer as a connection does, then `check_upgrade` on a complete request.
//!
//! Input: byte 0 holds the number of split points (low 3 bits) and, in its top bit, whether
//! to pad the request with a long header (byte 1 × 64 bytes, to reach the head limit from a
//! short input); then two bytes per split point; the rest is the request.
//!
//! Checks: no panic; `Partial` never once the buffer exceeds `MAX_HEAD_BYTES` unless the head
//! is complete and within it (waiting for a body); a complete request never claims more
//! bytes than the buffer holds; errors carry a 4xx/5xx status the parser documents; splits
//! never change the outcome compared with everything at once (except an early 431 for a
//! head that grew past the limit before an error further on); an accepted upgrade is a
//! `GET` over HTTP/1.1 and its accept key is the one RFC 6455 computes.

use std::net::SocketAddr;

use switchyard::wire::http::{self, check_upgrade, parse_request, Parse, MAX_BODY_BYTES, MAX_HEADERS, MAX_HEAD_BYTES};

use crate::input::Input;

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Partial,
    Complete { request: String, used: usize },
    Error { status: u16, body: Vec<u8> },
}

fn remote() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 4242))
}

/// The request bytes and the split points an input describes.
pub fn decode(data: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let pad = if flags & 0x80 != 0 { usize::from(input.u8()) * 64 } else { 0 };
    let raw: Vec<u16> = (0..flags & 7).map(|_| input.u16()).collect();
    let mut request = input.rest().to_vec();
    if pad > 0 {
        let at = request.windows(2).position(|w| w == b"\r\n").map_or(request.len(), |p| p + 2);
        let mut header = b"X-Pad: ".to_vec();
        header.resize(header.len() + pad, b'a');
        header.extend_from_slice(b"\r\n");
        request.splice(at..at, header);
    }
    let mut points: Vec<usize> = raw.into_iter().map(|p| usize::from(p) % (request.len() + 1)).collect();
    points.push(request.len());
    points.sort_unstable();
    points.dedup();
    (request, points)
}

pub fn run(data: &[u8]) {
    let (request, points) = decode(data);
    let all_at_once = parse(&request);
    // As a connection does: keep what arrived, reparse it all, stop at the first answer.
    let mut split = Outcome::Partial;
    let mut answered_at = request.len();
    for &end in &points {
        let outcome = parse(&request[..end]);
        if outcome != Outcome::Partial {
            split = outcome;
            answered_at = end;
            break;
        }
    }
    if split != all_at_once {
        let early_431 = answered_at > MAX_HEAD_BYTES
            && matches!(&split, Outcome::Error { status: 431, body } if body.starts_with(b"request head too large"))
            && matches!(all_at_once, Outcome::Error { .. });
        assert!(early_431, "splits at {points:?} changed the outcome: {split:?} instead of {all_at_once:?}");
    }
}

/// Parses one buffer and checks what the parser says about it.
fn parse(buffer: &[u8]) -> Outcome {
    match parse_request(buffer, remote()) {
        Ok(Parse::Partial) => {
            if buffer.len() > MAX_HEAD_BYTES {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let head = httparse::Request::new(&mut headers).parse(buffer);
                let head_len = match head {
                    Ok(httparse::Status::Complete(len)) => len,
                    other => panic!("Partial for {} bytes whose head is not complete: {other:?}", buffer.len()),
                };
                assert!(head_len <= MAX_HEAD_BYTES, "Partial with a head of {head_len} bytes");
                assert!(buffer.len() < head_len + MAX_BODY_BYTES, "Partial past the body limit");
            }
            Outcome::Partial
        }
        Ok(Parse::Complete(request, used)) => {
            assert!(used > 0 && used <= buffer.len(), "consumed {used} of {} bytes", buffer.len());
            assert!(used - request.body.len() <= MAX_HEAD_BYTES, "a head of more than MAX_HEAD_BYTES accepted");
            assert!(request.body.len() <= MAX_BODY_BYTES);
            let _ = request.query_param("ch");
            match check_upgrade(&request) {
                Ok(accept) => {
                    assert_eq!(request.method, "GET");
                    assert_eq!(request.version, 1);
                    let key = request.header("sec-websocket-key").map(str::trim).unwrap_or_default();
                    assert_eq!(accept, http::accept_key(key));
                    assert_eq!(accept.len(), 28);
                    let answer = http::switching_protocols(&accept, None);
                    assert!(answer.starts_with(b"HTTP/1.1 101 "));
                }
                Err(response) => {
                    assert!(matches!(response.status, 400 | 405 | 426), "upgrade refused with {}", response.status);
                    let _ = response.to_bytes();
                }
            }
            Outcome::Complete { request: format!("{request:?}"), used }
        }
        Err(response) => {
            assert!(matches!(response.status, 400 | 413 | 431 | 501), "parse error with status {}", response.status);
            let bytes = response.to_bytes();
            assert!(bytes.starts_with(format!("HTTP/1.1 {} ", response.status).as_bytes()));
            Outcome::Error { status: response.status, body: response.body.to_vec() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_upgrade_in_three_pieces() {
        let mut data = vec![2u8, 0, 5, 0, 40];
        data.extend_from_slice(&crate::wire::upgrade_request("/example/socket?ch=f"));
        run(&data);
    }

    #[test]
    fn padding_reaches_the_head_limit() {
        let mut data = vec![0x81u8, 200, 0x20, 0x00];
        data.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let (request, points) = decode(&data);
        assert!(request.len() > MAX_HEAD_BYTES && points.len() == 2);
        run(&data);
    }
}
