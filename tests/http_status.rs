//! HTTP on the shared port, against the binary over real sockets: every status the server
//! sends carries its standard reason phrase, and the byte counters count HTTP both ways.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::*;
use switchyard::wire::http::reason_phrase;

/// The reason phrases of RFC 9110, written out here independently of the server's table.
fn standard(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        302 => "Found",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => panic!("add {status} to this test's table"),
    }
}

/// Every status literal the source passes to a response: `(NNN,` right after `new`, `text`,
/// `json`, `error`, `form` or `status:`.
fn statuses_in_source() -> Vec<u16> {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for marker in ["new(", "text(", "json(", "error(", "form(", "status: "] {
            for (at, _) in text.match_indices(marker) {
                let digits: String = text[at + marker.len()..].chars().take_while(char::is_ascii_digit).collect();
                if let Ok(status @ 100..=599) = digits.parse::<u16>() {
                    if digits.len() == 3 {
                        found.push(status);
                    }
                }
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

#[test]
fn every_status_in_the_source_has_its_standard_phrase() {
    let statuses = statuses_in_source();
    for expected in [200, 302, 303, 400, 401, 403, 404, 405, 413, 415, 426, 431, 500, 501, 503] {
        assert!(statuses.contains(&expected), "the scan finds {expected}: {statuses:?}");
    }
    for status in statuses {
        assert_eq!(reason_phrase(status), standard(status), "{status}");
    }
    assert_eq!(reason_phrase(101), "Switching Protocols");
}

fn status_line(addr: SocketAddr, request: &str) -> String {
    let reply = raw_exchange(addr, &[request.as_bytes()], Duration::ZERO);
    reply.lines().next().unwrap_or_default().to_string()
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}

#[test]
fn every_status_the_binary_sends_on_the_wire_has_its_phrase() {
    let binary = Binary::start(&[
        "--workers",
        "1",
        "--metrics-token",
        "m",
        "--allowed-origins",
        "http://ok.example",
        "--max-connections",
        "1",
    ]);
    let addr = binary.addr;
    let upgrade = UPGRADE.replace("ch=raw", "ch=status");
    let cases: Vec<(u16, String)> = vec![
        (200, get("/healthz", "")),
        (302, get("/", "")),
        (303, get("/admin", "")),
        (400, get("/example/socket", "")),
        (401, get("/metrics", "")),
        (403, upgrade.replace("Host: localhost\r\n", "Host: localhost\r\nOrigin: http://evil.example\r\n")),
        (404, get("/no-such-page", "")),
        (405, upgrade.replace("GET ", "POST ")),
        (413, "POST /admin/api/send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999\r\n\r\n".into()),
        (415, "POST /admin/api/send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi".into()),
        (426, upgrade.replace("Version: 13", "Version: 8")),
        (431, get("/", &format!("X-Big: {}\r\n", "a".repeat(9000)))),
        (501, "POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".into()),
    ];
    for (status, request) in &cases {
        let line = status_line(addr, request);
        assert_eq!(line, format!("HTTP/1.1 {status} {}", standard(*status)), "for {request:?}");
    }
    let _only = connect(addr, "/example/socket?ch=full"); // --max-connections 1: the next is refused
    assert_eq!(status_line(addr, &upgrade), "HTTP/1.1 503 Service Unavailable");
}

/// One HTTP request on its own connection; the whole response.
fn exchange(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    reply
}

fn counters(reply: &[u8]) -> (u64, u64) {
    let text = String::from_utf8_lossy(reply);
    let body = text.split_once("\r\n\r\n").unwrap().1;
    let status: serde_json::Value = serde_json::from_str(body).unwrap();
    (status["bytes_in"].as_u64().unwrap(), status["bytes_out"].as_u64().unwrap())
}

#[test]
fn bytes_in_and_out_both_count_http() {
    let binary = Binary::start(&["--workers", "1"]);
    let addr = binary.addr;
    let status_request = get("/admin/api/status", "");
    let first = exchange(addr, &status_request);
    let (in_1, out_1) = counters(&first);
    let health_request = get("/healthz", "");
    let health = exchange(addr, &health_request);
    assert!(health.starts_with(b"HTTP/1.1 200 OK"));
    let (in_2, out_2) = counters(&exchange(addr, &status_request));
    // Between the two snapshots: the first status response went out, /healthz came in and
    // went out, the second status request came in.
    assert_eq!(out_2 - out_1, (first.len() + health.len()) as u64, "bytes_out counts HTTP responses");
    assert_eq!(in_2 - in_1, (health_request.len() + status_request.len()) as u64, "bytes_in counts HTTP requests");

    let metrics = String::from_utf8(exchange(addr, &get("/metrics", ""))).unwrap();
    for name in ["switchyard_received_bytes_total", "switchyard_sent_bytes_total"] {
        let help = metrics.lines().find(|l| l.starts_with(&format!("# HELP {name} "))).unwrap();
        assert!(help.contains("HTTP"), "the help text says HTTP is counted: {help}");
    }
}
