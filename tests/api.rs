//! The server API against the real binary: every call reaches its targets, every refusal
//! has its status, batches run in order or not at all, and the API key and the admin
//! token open only their own doors.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{connect, http_call, recv, recv_cmd, send, sync, Binary, Client};
use serde_json::{json, Value};

const KEY: &str = "the-api-key-of-these-tests";

fn api(addr: SocketAddr, method: &str, call: &str, body: &str) -> (u16, Value) {
    let auth = format!("apikey {KEY}");
    let (status, text) = http_call(addr, method, &format!("/api/{call}"), &[("Authorization", &auth)], body.as_bytes());
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

fn post(addr: SocketAddr, call: &str, body: Value) -> Value {
    let (status, reply) = api(addr, "POST", call, &body.to_string());
    assert_eq!(status, 200, "{call}: {reply}");
    assert_eq!(reply["ok"], true, "{call}: {reply}");
    reply
}

/// The connection id of a client, as the presence call lists it.
fn conn_ids(addr: SocketAddr, channel: &str) -> Vec<String> {
    let (_, presence) = api(addr, "GET", &format!("presence?channel={channel}"), "");
    let connections = presence["connections"].as_array().cloned().unwrap_or_default();
    connections.iter().filter_map(|c| c["id"].as_str().map(str::to_string)).collect()
}

fn next_news(client: &mut Client) -> Value {
    recv_cmd(client, "news")
}

#[test]
fn every_call_reaches_its_targets() {
    let server = Binary::start(&["--api-key", KEY]);
    let addr = server.addr;
    let mut a = connect(addr, "/example/socket?ch=room");
    let mut b = connect(addr, "/example/socket?ch=other");
    sync(&mut a);
    sync(&mut b);
    let a_id = conn_ids(addr, "room").pop().expect("a is in room");

    post(addr, "publish", json!({"channel": "room", "cmd": "news", "param": {"n": 1}}));
    let news = next_news(&mut a);
    assert_eq!(news, json!({"channel": "room", "cmd": "news", "param": {"n": 1}}));

    post(addr, "broadcast", json!({"channels": ["room", "other"], "cmd": "news", "param": 2}));
    assert_eq!(next_news(&mut a)["param"], 2);
    assert_eq!(next_news(&mut b)["param"], 2);

    post(addr, "user", json!({"user": a_id, "cmd": "news", "param": 3}));
    assert_eq!(next_news(&mut a), json!({"cmd": "news", "param": 3}));

    post(addr, "all", json!({"cmd": "news"}));
    assert_eq!(next_news(&mut a)["param"], Value::Null);
    assert_eq!(next_news(&mut b)["param"], Value::Null);

    let joined = post(addr, "subscribe", json!({"connection": a_id, "channel": "extra"}));
    assert_eq!(joined["connections"], 1);
    sync(&mut a);
    post(addr, "publish", json!({"channel": "extra", "cmd": "news", "param": "in extra"}));
    assert_eq!(next_news(&mut a)["param"], "in extra");
    post(addr, "unsubscribe", json!({"user": a_id, "channel": "extra"}));
    sync(&mut a);
    post(addr, "publish", json!({"channel": "extra", "cmd": "news", "param": "gone"}));
    post(addr, "publish", json!({"channel": "room", "cmd": "news", "param": "after"}));
    assert_eq!(next_news(&mut a)["param"], "after", "unsubscribed from extra");

    let (status, channels) = api(addr, "GET", "channels", "");
    assert_eq!(status, 200);
    let names: Vec<&str> = channels["channels"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(names.contains(&"room") && names.contains(&"other") && !names.contains(&"extra"), "{channels}");
    let (_, presence) = api(addr, "GET", "presence?channel=room", "");
    assert_eq!(presence["users"], json!([a_id]));
    let (_, info) = api(addr, "GET", "info", "");
    assert_eq!(info["connections"], 2, "{info}");
    assert_eq!(info["address"], addr.to_string());

    let closed = post(addr, "disconnect", json!({"connection": a_id, "close_connection": true}));
    assert_eq!(closed["disconnected"], 1);
    assert_eq!(recv_cmd(&mut a, "close-connection")["param"], Value::Null);
    let gone = post(addr, "disconnect", json!({"user": "nobody"}));
    assert_eq!(gone["disconnected"], 0);
}

#[test]
fn bad_requests_get_400_with_a_reason() {
    let server = Binary::start(&["--api-key", KEY, "--api-max-body", "100000"]);
    let addr = server.addr;
    let cases = [
        ("publish", "{\"channel\":"),
        ("publish", r#"{"cmd":"x"}"#),
        ("publish", r#"{"channel":"c","cmd":7}"#),
        ("publish", r#"{"channel":"","cmd":"x"}"#),
        ("publish", r#"{"channel":"a\u0001b","cmd":"x"}"#),
        ("publish", r#"{"channel":"c","cmd":"x","chanel":"typo"}"#),
        ("broadcast", r#"{"channels":"c","cmd":"x"}"#),
        ("user", r#"{"user":"","cmd":"x"}"#),
        ("all", r#"{"param":1}"#),
        ("disconnect", r#"{}"#),
        ("subscribe", r#"{"connection":"not-a-uuid","channel":"c"}"#),
        ("unsubscribe", r#"{"user":"u"}"#),
        ("presence", ""),
    ];
    for (call, body) in cases {
        let method = if call == "presence" { "GET" } else { "POST" };
        let (status, reply) = api(addr, method, call, body);
        assert_eq!(status, 400, "{call} {body}: {reply}");
        assert!(reply["error"].as_str().is_some_and(|e| !e.is_empty()), "{reply}");
    }
    let auth = format!("Bearer {KEY}");
    let headers = [("Authorization", auth.as_str())];
    let (status, _) = http_call(addr, "POST", "/api/publish", &headers, &[0xff, 0xfe]);
    assert_eq!(status, 400, "not UTF-8");
    assert_eq!(api(addr, "GET", "publish", "").0, 405);
    assert_eq!(api(addr, "POST", "channels", "").0, 405);
    assert_eq!(api(addr, "POST", "nothing", "{}").0, 404);
    let big = json!({"channel": "c", "cmd": "x", "param": "y".repeat(100_001)}).to_string();
    let (status, body) = http_call(addr, "POST", "/api/publish", &headers, big.as_bytes());
    assert_eq!(status, 413, "over --api-max-body");
    let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error body");
    assert!(error["error"].as_str().is_some_and(|e| e.contains("too large")), "{body}");
    let within = json!({"channel": "c", "cmd": "x", "param": "y".repeat(90_000)}).to_string();
    assert_eq!(http_call(addr, "POST", "/api/publish", &headers, within.as_bytes()).0, 200, "over 64 KiB is fine");
    let (status, _) = http_call(addr, "POST", "/admin/api/send", &[], within.as_bytes());
    assert_eq!(status, 413, "other routes keep 64 KiB");
    assert!(!server_log_has_panic(server));
}

fn server_log_has_panic(mut server: Binary) -> bool {
    server.drain_log().iter().any(|line| line.contains("panicked"))
}

#[test]
fn the_key_and_the_admin_token_open_only_their_own_doors() {
    let server = Binary::start(&["--api-key", KEY, "--admin-token", "admin-secret"]);
    let addr = server.addr;
    let body = br#"{"channel":"c","cmd":"x"}"#;
    for auth in ["", "apikey wrong", "Bearer admin-secret", "Basic dGhlLWFwaS1rZXk="] {
        let headers: Vec<(&str, &str)> = if auth.is_empty() { vec![] } else { vec![("Authorization", auth)] };
        let (status, reply) = http_call(addr, "POST", "/api/publish", &headers, body);
        assert_eq!((status, reply.as_str()), (401, r#"{"error":"unauthorized"}"#), "{auth:?}");
    }
    let with_key = format!("Bearer {KEY}");
    let (status, _) = http_call(addr, "GET", "/admin/api/status", &[("Authorization", &with_key)], b"");
    assert_eq!(status, 401, "the API key is not an admin token");
    let (status, _) = http_call(addr, "GET", "/admin/api/status", &[("Authorization", "Bearer admin-secret")], b"");
    assert_eq!(status, 200);
    let upgrade = "GET /admin/api/tap HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    let tap = format!("{upgrade}Authorization: {with_key}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let reply = common::raw_exchange(addr, &[tap.as_bytes()], Duration::ZERO);
    assert!(reply.starts_with("HTTP/1.1 401"), "the API key does not open the tap: {reply}");
}

#[test]
fn without_a_key_only_loopback_and_the_key_comes_from_env_or_file() {
    let open = Binary::start(&[]);
    let body = br#"{"channel":"c","cmd":"x"}"#;
    assert_eq!(http_call(open.addr, "POST", "/api/publish", &[], body).0, 200, "loopback, no key");
    let (status, reply) = http_call(open.addr, "POST", "/api/publish", &[("Host", "example.com")], body);
    assert_eq!(status, 403, "a page on another site resolving to loopback: {reply}");

    let from_env = Binary::start_with_env(&[], &[("SWITCHYARD_API_KEY", "env-key")]);
    assert_eq!(http_call(from_env.addr, "POST", "/api/publish", &[], body).0, 401);
    assert_eq!(http_call(from_env.addr, "POST", "/api/publish", &[("Authorization", "apikey env-key")], body).0, 200);

    let file = std::env::temp_dir().join(format!("switchyard-api-key-{}", std::process::id()));
    std::fs::write(&file, "file-key\n").unwrap();
    let from_file = Binary::start(&["--api-key-file", file.to_str().unwrap()]);
    let reply = http_call(from_file.addr, "POST", "/api/publish", &[("Authorization", "Bearer file-key")], body);
    assert_eq!(reply.0, 200);
    let _ = std::fs::remove_file(file);
}

#[test]
fn a_batch_runs_in_order_or_not_at_all() {
    let server = Binary::start(&["--api-key", KEY]);
    let addr = server.addr;
    let mut client = connect(addr, "/example/socket?ch=feed");
    sync(&mut client);
    let items: Vec<Value> =
        (0..500).map(|i| json!({"op": "publish", "channel": "feed", "cmd": "news", "param": i})).collect();
    let (status, reply) = api(addr, "POST", "batch", &Value::Array(items).to_string());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["results"].as_array().map(Vec::len), Some(500));
    for i in 0..500 {
        assert_eq!(next_news(&mut client)["param"], i);
    }
    let lines = (0..3).map(|i| json!({"op": "publish", "channel": "feed", "cmd": "news", "param": i}).to_string());
    let ndjson = lines.collect::<Vec<_>>().join("\n");
    assert_eq!(api(addr, "POST", "batch", &ndjson).0, 200);
    for i in 0..3 {
        assert_eq!(next_news(&mut client)["param"], i);
    }
    let bad = json!([
        {"op": "publish", "channel": "feed", "cmd": "news", "param": "never"},
        {"op": "all", "cmd": "news"},
        {"op": "publish", "cmd": "news"},
    ]);
    let (status, reply) = api(addr, "POST", "batch", &bad.to_string());
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["item"], 2);
    assert!(reply["error"].as_str().unwrap().contains("channel"), "{reply}");
    let text = "z".repeat(2000);
    let big: Vec<Value> =
        (0..1000).map(|i| json!({"op": "publish", "channel": "feed", "cmd": "big", "param": [i, text]})).collect();
    let big = Value::Array(big).to_string();
    assert!(big.len() > 2_000_000);
    assert_eq!(api(addr, "POST", "batch", &big).0, 200, "2 MB: within the default --api-max-body");
    for i in 0..1000 {
        assert_eq!(recv_cmd(&mut client, "big")["param"][0], i);
    }
    for body in ["[]", "[1]", r#"[{"op":"nope"}]"#, "{\"op\":\"publish\"\n{"] {
        assert_eq!(api(addr, "POST", "batch", body).0, 400, "{body}");
    }
    send(&mut client, json!({"cmd": "echo", "param": "marker"}));
    assert_eq!(recv(&mut client)["param"], "marker", "nothing of the refused batches arrived");
}

/// Reads one response with a `Content-Length` body: the status line, and the body.
fn read_response(reader: &mut std::io::BufReader<std::net::TcpStream>) -> (String, String) {
    use std::io::{BufRead, Read};
    let (mut status, mut length, mut connection) = (String::new(), 0, String::new());
    reader.read_line(&mut status).expect("status line");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line.trim().is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header");
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().expect("length"),
            "connection" => connection = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (format!("{} / {connection}", status.trim()), String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn a_backend_keeps_its_connection_across_calls() {
    use std::io::Write;
    let server = Binary::start(&["--api-key", KEY]);
    let mut client = connect(server.addr, "/example/socket?ch=kept");
    sync(&mut client);
    let stream = std::net::TcpStream::connect(server.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let request = |i: usize| {
        let body = json!({"channel": "kept", "cmd": "news", "param": i}).to_string();
        let head = format!("POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: apikey {KEY}\r\n");
        format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
    };
    for i in 0..3 {
        writer.write_all(request(i).as_bytes()).unwrap();
        assert_eq!(read_response(&mut reader), ("HTTP/1.1 200 OK / keep-alive".into(), r#"{"ok":true}"#.into()));
    }
    let pipelined = format!("{}{}", request(3), request(4));
    writer.write_all(pipelined.as_bytes()).unwrap();
    for _ in 3..5 {
        assert_eq!(read_response(&mut reader).0, "HTTP/1.1 200 OK / keep-alive");
    }
    let bad = "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    writer.write_all(bad.as_bytes()).unwrap();
    assert_eq!(read_response(&mut reader).0, "HTTP/1.1 401 Unauthorized / keep-alive");
    writer.write_all(request(5).replace("HTTP/1.1\r\n", "HTTP/1.1\r\nConnection: close\r\n").as_bytes()).unwrap();
    assert_eq!(read_response(&mut reader).0, "HTTP/1.1 200 OK / close");
    for i in 0..6 {
        assert_eq!(next_news(&mut client)["param"], i);
    }
    let (status, _) = http_call(server.addr, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "other routes still close");
}
