//! The admin interface over real HTTP and WebSocket against an in-process server: every API
//! endpoint, the token, cookie, loopback and same-origin rules, POST-only actions, sends and
//! disconnects reaching real clients, the live tap, and `/metrics` in the exposition format.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{config, connect, recv, recv_cmd, send, sync, Client};
use serde_json::{json, Value};
use switchyard::admin::{self, AdminOptions};
use switchyard::{example, Running, Server};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

const TOKEN: &str = "correct horse battery staple";

fn start(token: Option<&str>, metrics_token: Option<&str>) -> Running {
    let server = Server::new(config(2)).unwrap().socket("/example/socket", example::handler());
    let options = AdminOptions { token: token.map(str::to_string), metrics_token: metrics_token.map(str::to_string) };
    admin::install(server, options).start().unwrap()
}

/// A parsed HTTP response.
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// One request on a fresh connection (the server closes after each response).
fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(&String::from_utf8_lossy(&raw))
}

fn parse_reply(raw: &str) -> Reply {
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply { status, headers, body: body.to_string() }
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    http(addr, "GET", path, &[], "")
}

fn post_json(addr: SocketAddr, path: &str, body: Value) -> Reply {
    http(addr, "POST", path, &[("Content-Type", "application/json")], &body.to_string())
}

/// A client on the example route in `channel`, and its connection id (from the admin API).
fn client_in(running: &Running, channel: &str) -> (Client, String) {
    let before: Vec<String> = running.service().connections().iter().map(|c| c.id.to_string()).collect();
    let path = format!("/example/socket?ch={}", channel.replace(' ', "%20"));
    let mut client = connect(running.local_addr(), &path);
    sync(&mut client);
    let id = running
        .service()
        .connections_by_channel(channel)
        .into_iter()
        .map(|c| c.id.to_string())
        .find(|id| !before.contains(id))
        .expect("the new connection is registered");
    (client, id)
}

/// Reads until the server closes; returns the JSON messages seen and whether a close came.
fn drain_until_close(client: &mut Client) -> (Vec<Value>, bool) {
    let mut messages = Vec::new();
    loop {
        match client.read() {
            Ok(Message::Text(text)) => messages.push(serde_json::from_str(&text).unwrap()),
            Ok(Message::Close(_)) => continue,
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) | Err(tungstenite::Error::AlreadyClosed) => {
                return (messages, true)
            }
            Err(tungstenite::Error::Protocol(_)) | Err(tungstenite::Error::Io(_)) => return (messages, true),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

#[test]
fn read_endpoints_answer_json() {
    let running = start(None, None);
    let addr = running.local_addr();
    let (_alice, alice) = client_in(&running, "alpha");
    let (_bob, _) = client_in(&running, "room-1");

    let status = get(addr, "/admin/api/status");
    assert_eq!(status.status, 200);
    assert_eq!(status.header("content-type"), Some("application/json"));
    let status = status.json();
    assert_eq!(status["workers"], 2);
    assert!(status["connections"].as_u64().unwrap() >= 2);
    assert!(status["uptime_seconds"].is_number());
    assert_eq!(status["worker_connections"].as_array().unwrap().len(), 2);
    assert_eq!(status["token"], false);

    let list = get(addr, "/admin/api/connections").json();
    assert_eq!(list["total"], 2);
    let row = list["connections"].as_array().unwrap().iter().find(|c| c["id"] == alice.as_str()).unwrap();
    assert_eq!(row["id"].as_str().unwrap().len(), 36, "full ids");
    assert_eq!(row["channels"], json!(["alpha"]));
    assert!(row["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    for field in ["messages_in", "messages_out", "bytes_in", "bytes_out", "queued_bytes", "connected_at"] {
        assert!(row[field].is_u64(), "{field}");
    }
    let filtered = get(addr, "/admin/api/connections?q=ALPHA").json();
    assert_eq!((filtered["matching"].as_u64(), filtered["total"].as_u64()), (Some(1), Some(2)));
    let limited = get(addr, "/admin/api/connections?limit=1").json();
    assert_eq!(limited["connections"].as_array().unwrap().len(), 1);
    let by_channel = get(addr, "/admin/api/connections?channel=room-1").json();
    assert_eq!(by_channel["connections"][0]["channels"], json!(["room-1"]));

    let one = get(addr, &format!("/admin/api/connections/{alice}"));
    assert_eq!((one.status, one.json()["id"].as_str()), (200, Some(alice.as_str())));
    assert_eq!(get(addr, "/admin/api/connections/not-a-uuid").status, 400);
    let missing = get(addr, &format!("/admin/api/connections/{}", uuid::Uuid::new_v4()));
    assert_eq!((missing.status, missing.json()["error"].is_string()), (404, true));

    let channels = get(addr, "/admin/api/channels").json();
    let names: Vec<&str> =
        channels["channels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "room-1"]);
    assert_eq!(channels["channels"][0]["members"], 1);
    // The lists share one filter: `?q=` (case-insensitive) and `?limit=` work on channels too.
    let filtered = get(addr, "/admin/api/channels?q=ROOM").json();
    assert_eq!((filtered["total"].as_u64(), filtered["matching"].as_u64()), (Some(2), Some(1)));
    assert_eq!(filtered["channels"][0]["name"], "room-1");
    let limited = get(addr, "/admin/api/channels?limit=1").json();
    assert_eq!((limited["matching"].as_u64(), limited["channels"].as_array().unwrap().len()), (Some(2), 1));
    let alpha = get(addr, "/admin/api/channels/alpha").json();
    assert_eq!(alpha["members"], 1);
    assert_eq!(alpha["connections"][0]["id"], alice.as_str());
    assert_eq!(get(addr, "/admin/api/channels/room-1").json()["name"], "room-1");
    assert_eq!(get(addr, "/admin/api/channels/nope").status, 404);
    assert_eq!(get(addr, "/admin/api/nope").status, 404);
    running.shutdown();
}

#[test]
fn the_page_and_its_assets_are_served_with_strict_headers() {
    let running = start(None, None);
    let addr = running.local_addr();
    let page = get(addr, "/admin/websocket");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<title>switchyard admin</title>"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "no CDN");
    let js = get(addr, "/admin/admin.js");
    assert_eq!((js.status, js.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
    assert_eq!(get(addr, "/admin/admin.css").status, 200);
    let root = get(addr, "/admin");
    assert_eq!((root.status, root.header("location")), (303, Some("/admin/websocket")));
    assert_eq!(get(addr, "/healthz").status, 200);
    running.shutdown();
}

#[test]
fn actions_are_post_only_and_reads_get_only() {
    let running = start(None, None);
    let addr = running.local_addr();
    let id = uuid::Uuid::new_v4();
    for path in ["/admin/api/send".to_string(), format!("/admin/api/disconnect/{id}")] {
        let reply = get(addr, &path);
        assert_eq!(reply.status, 405, "{path}");
        assert_eq!(reply.header("allow"), Some("POST"));
        assert!(reply.json()["error"].is_string());
    }
    for path in ["/admin/api/status", "/admin/api/connections", "/admin/api/channels"] {
        let reply = post_json(addr, path, json!({}));
        assert_eq!(reply.status, 405, "{path}");
        assert!(reply.header("allow").unwrap().contains("GET"));
    }
    running.shutdown();
}

#[test]
fn send_reaches_a_connection_a_channel_a_user_and_everyone() {
    let running = start(None, None);
    let addr = running.local_addr();
    let (mut alice, alice_id) = client_in(&running, "lobby");
    let (mut bob, _) = client_in(&running, "lobby");
    let (mut carol, _) = client_in(&running, "elsewhere");
    recv_cmd(&mut alice, "online-update"); // bob joined

    let reply = post_json(
        addr,
        "/admin/api/send",
        json!({"to": "connection", "id": alice_id, "cmd": "direct", "param": {"n": 1}}),
    );
    assert_eq!((reply.status, reply.json()["delivered"].as_u64()), (200, Some(1)));
    let message = recv(&mut alice);
    assert_eq!((message["cmd"].as_str(), &message["param"]), (Some("direct"), &json!({"n": 1})));

    let reply = post_json(
        addr,
        "/admin/api/send",
        json!({"to": "channel", "channel": "lobby", "cmd": "to-lobby", "param": [1, 2]}),
    );
    assert_eq!(reply.json()["delivered"], 2);
    for client in [&mut alice, &mut bob] {
        let message = recv_cmd(client, "to-lobby");
        assert_eq!((message["channel"].as_str(), &message["param"]), (Some("lobby"), &json!([1, 2])));
    }

    // An anonymous user's id is its connection id.
    let reply = post_json(addr, "/admin/api/send", json!({"to": "user", "user": alice_id, "cmd": "to-user"}));
    assert_eq!(reply.json()["delivered"], 1);
    assert_eq!(recv_cmd(&mut alice, "to-user")["param"], Value::Null);

    let reply = post_json(addr, "/admin/api/send", json!({"to": "all", "cmd": "to-all", "param": "hi"}));
    assert_eq!(reply.status, 200);
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(recv_cmd(client, "to-all")["param"], "hi");
    }
    // Bob and Carol never saw the direct message.
    sync(&mut bob);
    running.shutdown();
}

#[test]
fn send_validates_its_body() {
    let running = start(None, None);
    let addr = running.local_addr();
    let (_client, id) = client_in(&running, "v");
    let cases = [
        (json!({"to": "connection", "id": id, "param": 1}), 400),
        (json!({"to": "connection", "id": id, "cmd": ""}), 400),
        (json!({"to": "connection", "id": id, "cmd": "x".repeat(129)}), 400),
        (json!({"to": "connection", "id": id, "cmd": "a\nb"}), 400),
        (json!({"to": "connection", "id": "nope", "cmd": "x"}), 400),
        (json!({"to": "connection", "id": uuid::Uuid::new_v4(), "cmd": "x"}), 404),
        (json!({"to": "channel", "channel": "no-such-channel", "cmd": "x"}), 404),
        (json!({"to": "user", "user": "nobody", "cmd": "x"}), 404),
        (json!({"to": "somewhere", "cmd": "x"}), 400),
        (json!(["not", "an", "object"]), 400),
    ];
    for (body, status) in cases {
        let reply = post_json(addr, "/admin/api/send", body.clone());
        assert_eq!(reply.status, status, "{body}");
        assert!(reply.json()["error"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    }
    let bad_json = http(addr, "POST", "/admin/api/send", &[("Content-Type", "application/json")], "{\"to\":");
    assert_eq!(bad_json.status, 400);
    assert!(bad_json.json()["error"].as_str().unwrap().contains("not valid JSON"));
    let form = http(addr, "POST", "/admin/api/send", &[("Content-Type", "text/plain")], "{}");
    assert_eq!(form.status, 415, "a body that is not application/json is refused");
    running.shutdown();
}

#[test]
fn disconnect_with_and_without_close_connection() {
    let running = start(None, None);
    let addr = running.local_addr();
    let (mut plain, plain_id) = client_in(&running, "d");
    let (mut told, told_id) = client_in(&running, "d2");

    let reply = post_json(addr, &format!("/admin/api/disconnect/{plain_id}"), json!({}));
    assert_eq!((reply.status, reply.json()["notify"].as_bool()), (200, Some(false)));
    let (messages, closed) = drain_until_close(&mut plain);
    assert!(closed);
    assert!(!messages.iter().any(|m| m["cmd"] == "close-connection"), "{messages:?}");

    let reply = post_json(addr, &format!("/admin/api/disconnect/{told_id}"), json!({"notify": true}));
    assert_eq!((reply.status, reply.json()["notify"].as_bool()), (200, Some(true)));
    let (messages, closed) = drain_until_close(&mut told);
    assert!(closed);
    assert!(messages.iter().any(|m| m["cmd"] == "close-connection"), "{messages:?}");

    common::eventually(Duration::from_secs(5), "both gone from the registry", || {
        running.service().connections().is_empty()
    });
    let again = post_json(addr, &format!("/admin/api/disconnect/{told_id}"), json!({}));
    assert_eq!(again.status, 404);
    assert_eq!(post_json(addr, "/admin/api/disconnect/xyz", json!({})).status, 400);
    running.shutdown();
}

#[test]
fn with_a_token_nothing_is_served_without_it() {
    let running = start(Some(TOKEN), None);
    let addr = running.local_addr();
    let (_client, id) = client_in(&running, "secret-channel");
    let paths = [
        "/admin/websocket".to_string(),
        "/admin/admin.js".to_string(),
        "/admin/api/status".to_string(),
        "/admin/api/connections".to_string(),
        format!("/admin/api/connections/{id}"),
        "/admin/api/channels".to_string(),
        "/admin/api/channels/secret-channel".to_string(),
    ];
    let bearer = format!("Bearer {TOKEN}");
    for path in &paths {
        for headers in [vec![], vec![("Authorization", "Bearer wrong")], vec![("Cookie", "switchyard_admin=wrong")]] {
            let reply = http(addr, "GET", path, &headers, "");
            assert_eq!(reply.status, 401, "{path} {headers:?}");
            assert!(
                !reply.body.contains("secret-channel") && !reply.body.contains(&id),
                "nothing leaks: {}",
                reply.body
            );
        }
        let reply = http(addr, "GET", path, &[("Authorization", &bearer)], "");
        assert_eq!(reply.status, 200, "{path}");
    }
    // Actions too, whatever the body.
    let send = json!({"to": "all", "cmd": "x"}).to_string();
    let reply = http(addr, "POST", "/admin/api/send", &[("Content-Type", "application/json")], &send);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json(), json!({"error": "unauthorized"}));
    let headers = [("Content-Type", "application/json"), ("Authorization", bearer.as_str())];
    assert_eq!(http(addr, "POST", "/admin/api/send", &headers, &send).status, 200);
    // The page without a session is the login form, as a 401.
    let page = get(addr, "/admin/websocket");
    assert!(page.body.contains("name=\"token\""));
    // /metrics and /healthz stay open.
    assert_eq!(get(addr, "/metrics").status, 200);
    assert_eq!(get(addr, "/healthz").status, 200);
    running.shutdown();
}

#[test]
fn the_login_form_sets_a_strict_http_only_cookie_and_actions_check_the_origin() {
    let running = start(Some(TOKEN), None);
    let addr = running.local_addr();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(get(addr, "/admin/login").status, 200);
    let wrong = http(addr, "POST", "/admin/login", &form, "token=nope");
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    let body = format!("token={}", TOKEN.replace(' ', "+"));
    let right = http(addr, "POST", "/admin/login", &form, &body);
    assert_eq!((right.status, right.header("location")), (303, Some("/admin/websocket")));
    let set_cookie = right.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("horse"), "the cookie is not the token");
    let cookie = set_cookie.split(';').next().unwrap();
    assert_eq!(http(addr, "GET", "/admin/websocket", &[("Cookie", cookie)], "").status, 200);
    assert_eq!(http(addr, "GET", "/admin/api/status", &[("Cookie", cookie)], "").json()["token"], true);

    // A cookie-authenticated POST must come from our own origin.
    let host = addr.to_string();
    let ours = format!("http://{host}");
    let send = json!({"to": "all", "cmd": "x"}).to_string();
    let json_type = ("Content-Type", "application/json");
    let cross = [json_type, ("Cookie", cookie), ("Origin", "http://evil.example")];
    assert_eq!(http(addr, "POST", "/admin/api/send", &cross, &send).status, 403);
    let fetch = [json_type, ("Cookie", cookie), ("Sec-Fetch-Site", "cross-site")];
    assert_eq!(http(addr, "POST", "/admin/api/send", &fetch, &send).status, 403);
    let same = [json_type, ("Cookie", cookie), ("Origin", ours.as_str())];
    assert_eq!(http(addr, "POST", "/admin/api/send", &same, &send).status, 200);
    // Cross-site login is refused too.
    let cross_login = [form[0], ("Origin", "http://evil.example")];
    assert_eq!(http(addr, "POST", "/admin/login", &cross_login, &body).status, 403);

    let out = http(addr, "POST", "/admin/logout", &[], "");
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    running.shutdown();
}

#[test]
fn without_a_token_loopback_is_served_and_foreign_hosts_are_not() {
    let running = start(None, None);
    let addr = running.local_addr();
    // This test client is on loopback.
    assert_eq!(get(addr, "/admin/api/status").status, 200);
    assert_eq!(http(addr, "GET", "/admin/api/status", &[("Host", "localhost:1")], "").status, 200);
    // A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
    let rebound = http(addr, "GET", "/admin/api/status", &[("Host", "evil.example:8080")], "");
    assert_eq!(rebound.status, 403);
    assert!(!rebound.body.contains("connections"));
    // And a loopback browser page from another origin cannot act.
    let cross = [("Content-Type", "application/json"), ("Origin", "http://evil.example")];
    assert_eq!(http(addr, "POST", "/admin/api/send", &cross, "{\"to\":\"all\",\"cmd\":\"x\"}").status, 403);
    // The login form is not needed.
    assert_eq!(get(addr, "/admin/login").status, 303);
    running.shutdown();
}

#[test]
fn the_loopback_rule_refuses_other_addresses() {
    use switchyard::admin::auth::{loopback_rule, Access, Guard};
    let local: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
    assert_eq!(loopback_rule(local, Some("127.0.0.1:8080")), Ok(Access::Loopback));
    assert_eq!(loopback_rule(mapped, Some("[::1]:8080")), Ok(Access::Loopback));
    for remote in ["10.0.0.5:4000", "192.168.0.2:1", "[2001:db8::7]:1", "8.8.8.8:53"] {
        let denied = loopback_rule(remote.parse().unwrap(), Some("127.0.0.1:8080")).unwrap_err();
        assert_eq!(denied.status, 403, "{remote}");
    }
    // A token switches the loopback rule off: loopback alone gets 401.
    let guard = Guard::new(Some(TOKEN.into()));
    assert!(guard.has_token());
    assert!(guard.token_matches(TOKEN) && !guard.token_matches("correct horse"));
}

#[test]
fn metrics_are_valid_exposition_format_and_move() {
    let running = start(None, None);
    let addr = running.local_addr();
    let before = scrape(addr);
    let (mut client, _) = client_in(&running, "m");
    for i in 0..5 {
        send(&mut client, json!({"cmd": "echo", "param": i}));
        recv_cmd(&mut client, "echo");
    }
    sync(&mut client);
    common::eventually(Duration::from_secs(5), "counters published", || {
        scrape(addr)["switchyard_messages_received_total"] >= before["switchyard_messages_received_total"] + 6.0
    });
    let after = scrape(addr);
    assert_eq!(after["switchyard_connections"], 1.0);
    assert_eq!(after["switchyard_workers"], 2.0);
    assert!(after["switchyard_messages_sent_total"] >= before["switchyard_messages_sent_total"] + 6.0);
    assert!(after["switchyard_received_bytes_total"] > before["switchyard_received_bytes_total"]);
    assert_eq!(
        after["switchyard_handshakes_total{result=\"accepted\"}"],
        before["switchyard_handshakes_total{result=\"accepted\"}"] + 1.0
    );
    let per_worker =
        after["switchyard_worker_connections{worker=\"0\"}"] + after["switchyard_worker_connections{worker=\"1\"}"];
    assert_eq!(per_worker, 1.0);
    assert!(after.contains_key("switchyard_closes_total{reason=\"slow_consumer\"}"));
    // Every turn that read the echoes was timed, and a turn this small is under 1 s.
    let turns = "switchyard_loop_turn_microseconds_count";
    assert!(after[turns] >= before[turns] + 6.0, "loop turns counted: {} then {}", before[turns], after[turns]);
    assert!(after["switchyard_loop_turn_microseconds_bucket{le=\"1000000\"}"] > 0.0);
    running.shutdown();
}

#[test]
fn a_metrics_token_protects_metrics_only() {
    let running = start(Some(TOKEN), Some("scrape-me"));
    let addr = running.local_addr();
    assert_eq!(get(addr, "/metrics").status, 401);
    let admin_token = format!("Bearer {TOKEN}");
    assert_eq!(http(addr, "GET", "/metrics", &[("Authorization", &admin_token)], "").status, 401);
    let reply = http(addr, "GET", "/metrics", &[("Authorization", "Bearer scrape-me")], "");
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    assert_eq!(get(addr, "/healthz").status, 200);
    running.shutdown();
}

/// Fetches `/metrics`, checks every line against the text exposition format, and returns
/// the samples by `name{labels}`.
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let reply = get(addr, "/metrics");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert!(reply.body.ends_with('\n'));
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in reply.body.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            check_comment(rest, &mut types);
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
        let name = check_series(series);
        let family = family_of(&name, &types);
        assert!(types.contains_key(&family), "{name} has no # TYPE before it");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        assert!(value.is_finite() && value >= 0.0, "{line}");
        assert!(samples.insert(series.to_string(), value).is_none(), "duplicate series {series}");
    }
    for (name, kind) in &types {
        if kind == "counter" {
            assert!(name.ends_with("_total"), "counter {name} ends with _total");
        }
    }
    samples
}

fn check_comment(rest: &str, types: &mut HashMap<String, String>) {
    let mut parts = rest.splitn(3, ' ');
    let keyword = parts.next().unwrap();
    let name = parts.next().expect("a metric name");
    let text = parts.next().expect("help text or type");
    assert!(valid_metric_name(name), "bad name {name}");
    match keyword {
        "HELP" => assert!(!text.is_empty()),
        "TYPE" => {
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&text), "type {text}");
            assert!(types.insert(name.to_string(), text.to_string()).is_none(), "{name} typed twice");
        }
        other => panic!("unknown comment {other}"),
    }
}

/// Checks `name` or `name{label="value",...}`; returns the name.
fn check_series(series: &str) -> String {
    let Some((name, labels)) = series.split_once('{') else {
        assert!(valid_metric_name(series), "bad name {series}");
        return series.to_string();
    };
    assert!(valid_metric_name(name), "bad name {name}");
    let labels = labels.strip_suffix('}').expect("labels end with }");
    for pair in labels.split(',') {
        let (label, value) = pair.split_once('=').expect("label=value");
        assert!(valid_metric_name(label) && !label.contains(':'), "bad label {label}");
        assert!(value.len() >= 2 && value.starts_with('"') && value.ends_with('"'), "quoted {value}");
        assert!(!value[1..value.len() - 1].contains(['"', '\\', '\n']), "{value}");
    }
    name.to_string()
}

fn family_of(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).is_some_and(|t| t == "histogram" || t == "summary") {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Opens the tap with extra headers; the HTTP status on refusal.
fn open_tap(addr: SocketAddr, headers: &[(&str, &str)]) -> Result<Client, u16> {
    let mut request = format!("ws://{addr}/admin/api/tap").into_client_request().unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    match tungstenite::connect(request) {
        Ok((mut client, _)) => {
            common::set_timeout(&mut client, Duration::from_secs(10));
            Ok(client)
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("tap connect failed: {e}"),
    }
}

/// The next `tap` event matching `wanted`.
fn next_tap(tap: &mut Client, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let message = recv(tap);
        if message["cmd"] == "tap" && wanted(&message["param"]) {
            return message["param"].clone();
        }
    }
}

#[test]
fn the_tap_streams_messages_in_and_out() {
    let running = start(None, None);
    let addr = running.local_addr();
    let mut tap = open_tap(addr, &[]).expect("loopback may open the tap");
    let (mut client, id) = client_in(&running, "tapped");
    send(&mut client, json!({"cmd": "chat", "param": {"text": "seen by the tap"}}));
    recv_cmd(&mut client, "chat");

    let incoming = next_tap(&mut tap, |e| e["dir"] == "in" && e["cmd"] == "chat");
    assert_eq!(incoming["conn"], id.as_str());
    assert_eq!(incoming["channel"], "tapped");
    assert_eq!(incoming["param"], json!({"text": "seen by the tap"}));
    assert!(incoming["time"].is_u64());
    let outgoing = next_tap(&mut tap, |e| e["dir"] == "out" && e["cmd"] == "chat");
    assert_eq!((outgoing["target"].as_str(), outgoing["channel"].as_str()), (Some("channel"), Some("tapped")));

    // An admin send is tapped too.
    post_json(addr, "/admin/api/send", json!({"to": "connection", "id": id, "cmd": "from-admin", "param": 7}));
    let sent = next_tap(&mut tap, |e| e["cmd"] == "from-admin");
    assert_eq!((sent["dir"].as_str(), sent["target"].as_str(), &sent["param"]), (Some("out"), Some("conn"), &json!(7)));

    // A page from another origin may not open it, even on loopback.
    assert_eq!(open_tap(addr, &[("Origin", "http://evil.example")]).err(), Some(403));
    running.shutdown();
}

#[test]
fn with_a_token_the_tap_needs_it() {
    let running = start(Some(TOKEN), None);
    let addr = running.local_addr();
    assert_eq!(open_tap(addr, &[]).err(), Some(401));
    assert_eq!(open_tap(addr, &[("Authorization", "Bearer wrong")]).err(), Some(401));
    let bearer = format!("Bearer {TOKEN}");
    let mut tap = open_tap(addr, &[("Authorization", &bearer)]).expect("the token opens the tap");
    let (mut client, _) = client_in(&running, "t");
    send(&mut client, json!({"cmd": "echo", "param": "x"}));
    next_tap(&mut tap, |e| e["cmd"] == "echo");
    running.shutdown();
}

/// A server whose socket route takes the user from a `user` query parameter (name: upper-cased);
/// without it a connection is anonymous.
fn start_with_users() -> Running {
    let authenticator = |request: &switchyard::HttpRequest| {
        Ok(request.query_param("user").map(|id| switchyard::Profile {
            name: id.to_uppercase().into(),
            id,
            roles: Vec::new(),
            claims: Default::default(),
            anonymous: false,
            expires_at: None,
        }))
    };
    let server =
        Server::new(config(2)).unwrap().authenticate(authenticator).socket("/example/socket", example::handler());
    admin::install(server, AdminOptions { token: None, metrics_token: None }).start().unwrap()
}

#[test]
fn users_lists_each_user_with_its_connections() {
    let running = start_with_users();
    let addr = running.local_addr();
    let mut clients: Vec<Client> = ["?user=alice", "?user=alice", "?user=bob", ""]
        .iter()
        .map(|query| connect(addr, &format!("/example/socket{query}")))
        .collect();
    for client in &mut clients {
        sync(client);
    }
    let list = get(addr, "/admin/api/users").json();
    // Anonymous connections are not users: only alice and bob are listed.
    assert_eq!((list["total"].as_u64(), list["matching"].as_u64()), (Some(2), Some(2)), "{list}");
    let users = list["users"].as_array().unwrap();
    let alice = users.iter().find(|u| u["id"] == "alice").expect("alice listed");
    assert_eq!(alice["name"], "ALICE");
    let mut ids: Vec<String> =
        alice["connections"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
    ids.sort();
    let mut expected: Vec<String> =
        running.service().connections().iter().filter(|c| c.user.id == "alice").map(|c| c.id.to_string()).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(users.iter().all(|u| u["name"] != "anonymous"));

    let filtered = get(addr, "/admin/api/users?q=BO").json();
    assert_eq!((filtered["total"].as_u64(), filtered["matching"].as_u64()), (Some(2), Some(1)));
    assert_eq!(filtered["users"][0]["id"], "bob");
    assert_eq!(get(addr, "/admin/api/users?limit=1").json()["users"].as_array().unwrap().len(), 1);
    assert_eq!(post_json(addr, "/admin/api/users", json!({})).status, 405);

    clients.truncate(1);
    let gone = |list: &Value| list["users"].as_array().unwrap().iter().all(|u| u["id"] != "bob");
    common::eventually(Duration::from_secs(5), "bob gone", || gone(&get(addr, "/admin/api/users").json()));
    running.shutdown();
}
