//! The HTTP side of the port: the WebSocket upgrade and each way it is refused, requests
//! arriving a byte at a time, frames right behind the request, plain GETs.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn status_of(reply: &str) -> u16 {
    reply.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn a_valid_upgrade_is_accepted_with_the_right_key() {
    let server = start_example(config(1));
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    std::io::Write::write_all(&mut stream, UPGRADE.as_bytes()).unwrap();
    let reply = read_until(&mut stream, "\r\n\r\n");
    assert!(reply.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{reply}");
    assert!(reply.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{reply}");
    assert!(!reply.to_ascii_lowercase().contains("sec-websocket-extensions"), "no extension negotiated");
    server.shutdown();
}

#[test]
fn every_bad_upgrade_gets_its_status_and_a_body() {
    let server = start_example(config(1));
    let cases: Vec<(String, u16)> = vec![
        (UPGRADE.replace("GET", "POST"), 405),
        (UPGRADE.replace("HTTP/1.1", "HTTP/1.0"), 400),
        (UPGRADE.replace("Host: localhost\r\n", ""), 400),
        (UPGRADE.replace("Upgrade: websocket\r\n", ""), 400),
        (UPGRADE.replace("Upgrade: websocket", "Upgrade: h2c"), 400),
        (UPGRADE.replace("Connection: Upgrade", "Connection: keep-alive"), 400),
        (UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), 400),
        (UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "dG9vIHNob3J0"), 400),
        (UPGRADE.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"), 426),
        (UPGRADE.replace("/example/socket", "/nowhere"), 404),
        (UPGRADE.replace("ch=raw", "ch="), 400),
        ("\x16\x03\x01\x02\x00garbage\r\n\r\n".to_string(), 400),
    ];
    for (request, expected) in cases {
        let reply = raw_exchange(server.local_addr(), &[request.as_bytes()], Duration::ZERO);
        assert_eq!(status_of(&reply), expected, "request:\n{request}\nreply:\n{reply}");
        let body = reply.split("\r\n\r\n").nth(1).unwrap_or("");
        assert!(!body.trim().is_empty(), "a short body explains the refusal: {reply}");
        if expected == 426 {
            assert!(reply.contains("Sec-WebSocket-Version: 13\r\n"), "{reply}");
        }
    }
    let status = server.service().status();
    assert_eq!(status.handshakes_rejected, 11, "the 404 is a plain miss, the rest are rejections");
    server.shutdown();
}

#[test]
fn connection_header_token_is_matched_in_any_case() {
    let server = start_example(config(1));
    let request = UPGRADE.replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let reply = read_until(&mut stream, "\r\n\r\n");
    assert_eq!(status_of(&reply), 101, "{reply}");
    server.shutdown();
}

#[test]
fn an_upgrade_sent_one_byte_at_a_time_works() {
    let server = start_example(config(1));
    let mut bytes: Vec<Vec<u8>> = UPGRADE.bytes().map(|b| vec![b]).collect();
    bytes.push(client_frame(0x81, br#"{"cmd":"echo","param":"split"}"#));
    let chunks: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    stream.set_nodelay(true).unwrap();
    for chunk in chunks {
        std::io::Write::write_all(&mut stream, chunk).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    let reply = read_until(&mut stream, r#""param":"split""#);
    assert!(reply.starts_with("HTTP/1.1 101"), "{reply}");
    server.shutdown();
}

#[test]
fn frames_in_the_same_write_as_the_upgrade_are_not_lost() {
    let server = start_example(config(1));
    let mut bytes = UPGRADE.as_bytes().to_vec();
    bytes.extend(client_frame(0x81, br#"{"cmd":"echo","param":1}"#));
    bytes.extend(client_frame(0x81, br#"{"cmd":"echo","param":2}"#));
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    std::io::Write::write_all(&mut stream, &bytes).unwrap();
    let reply = read_until(&mut stream, r#""param":2"#);
    assert!(reply.contains(r#"{"cmd":"echo","param":1}"#), "{reply}");
    server.shutdown();
}

/// Reads from a raw socket until `needle` appears (10 s at most).
fn read_until(stream: &mut std::net::TcpStream, needle: &str) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = std::io::Read::read(stream, &mut buffer).expect("read");
        assert!(n > 0, "closed before {needle}: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn plain_gets_share_the_port() {
    let server = switchyard::Server::new(config(1))
        .unwrap()
        .http("/example", |_, _| switchyard::HttpResponse::html("<html>chat</html>"))
        .start()
        .unwrap();
    let get = |path: &str| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        raw_exchange(server.local_addr(), &[request.as_bytes()], Duration::ZERO)
    };
    let health = get("/healthz");
    assert_eq!(status_of(&health), 200);
    assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
    assert!(get("/example").contains("<html>chat</html>"));
    assert_eq!(status_of(&get("/missing")), 404);
    server.shutdown();
}

#[test]
fn the_random_channel_is_named_after_the_route() {
    let server = start_example(config(1));
    let mut client = connect(server.local_addr(), "/example/socket");
    sync(&mut client);
    let connections = server.service().connections();
    assert_eq!(connections.len(), 1);
    let channel = &connections[0].channels[0];
    assert!(channel.starts_with("example-") && channel.len() == "example-".len() + 8, "{channel}");
    send(&mut client, json!({"cmd": "ping"}));
    assert_eq!(recv_cmd(&mut client, "pong")["channel"], channel.as_str());
    server.shutdown();
}
