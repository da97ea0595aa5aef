//! The event proxy against real processes: the binary, and a real HTTP/1.1 backend on
//! loopback (a std `TcpListener` thread per test, keep-alive, answering as each test says).
//! Every event and every kind of answer, a backend that is down, slow, or talks garbage,
//! the order of replies, the bounded queue, and the edge route's default without a proxy.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{connect, http_call, recv, recv_cmd, send, set_timeout, Binary, Client};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;

/// What the backend answers: status, body, and how long it waits first.
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

fn ok(body: Value) -> Answer {
    Answer { status: 200, body: body.to_string(), delay: Duration::ZERO }
}

type Behaviour = Arc<dyn Fn(&Value) -> Answer + Send + Sync>;

/// A real HTTP/1.1 server on loopback; every event it got is kept in `events`.
struct Backend {
    addr: SocketAddr,
    events: Arc<Mutex<Vec<Value>>>,
    /// TCP connections accepted (keep-alive: far fewer than calls).
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Backend {
    fn start(behaviour: impl Fn(&Value) -> Answer + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the backend");
        let addr = listener.local_addr().expect("backend address");
        let events = Arc::new(Mutex::new(Vec::new()));
        let behaviour: Behaviour = Arc::new(behaviour);
        let recorded = events.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (behaviour, recorded) = (behaviour.clone(), recorded.clone());
                std::thread::spawn(move || serve_connection(stream, &behaviour, &recorded));
            }
        });
        Backend { addr, events, connections }
    }

    fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    fn events(&self, kind: &str) -> Vec<Value> {
        self.events.lock().unwrap().iter().filter(|e| e["event"] == kind).cloned().collect()
    }
}

/// One keep-alive connection: requests until the client closes.
fn serve_connection(stream: TcpStream, behaviour: &Behaviour, recorded: &Mutex<Vec<Value>>) {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut header_event = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "x-switchyard-event" => header_event = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(event["event"], header_event.as_str(), "the header names the event");
        recorded.lock().unwrap().push(event.clone());
        let answer = behaviour(&event);
        std::thread::sleep(answer.delay);
        let head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            answer.status,
            answer.body.len()
        );
        if writer.write_all(format!("{head}{}", answer.body).as_bytes()).is_err() {
            return;
        }
    }
}

/// The backend of most tests: a cookie session on connect, `secret-*` rooms closed, and a
/// command for each kind of answer.
fn standard(event: &Value) -> Answer {
    let param = event["param"].clone();
    match (event["event"].as_str().unwrap_or_default(), event["cmd"].as_str().unwrap_or_default()) {
        ("connect", _) => {
            let cookie = event["headers"]["cookie"].as_str().unwrap_or_default();
            match cookie {
                "session=alice" => ok(
                    json!({"user": {"id": "alice", "name": "Alice", "roles": ["chat"]}, "channels": ["lobby", "inbox-alice"]}),
                ),
                "session=expired" => ok(json!({"refuse": {"status": 401, "reason": "session expired"}})),
                "session=garbage" => Answer { status: 200, body: "<html>oops</html>".into(), delay: Duration::ZERO },
                "session=slow" => Answer { status: 200, body: "{}".into(), delay: Duration::from_secs(3) },
                _ => ok(json!({})),
            }
        }
        ("subscribe", _) => match event["channel"].as_str().unwrap_or_default() {
            c if c.starts_with("secret") => ok(json!({"allow": false, "reason": "members only"})),
            "broken" => Answer { status: 500, body: "boom".into(), delay: Duration::ZERO },
            _ => ok(json!({"allow": true})),
        },
        (_, "echo") => ok(json!({"reply": {"cmd": "echo", "param": param}})),
        (_, "say") => ok(json!({"publish": {"cmd": "said", "param": param}})),
        (_, "refuse") => ok(json!({"error": {"code": "nope", "message": "not today"}})),
        (_, "quiet") => Answer { status: 204, body: String::new(), delay: Duration::ZERO },
        (_, "garbage") => Answer { status: 200, body: "[not json".into(), delay: Duration::ZERO },
        (_, "slow") => {
            Answer { delay: Duration::from_secs(2), ..ok(json!({"reply": {"cmd": "slow", "param": param}})) }
        }
        (_, "jitter") => {
            let delay = Duration::from_millis(param.as_u64().unwrap_or(0) * 7 % 23);
            Answer { delay, ..ok(json!({"reply": {"cmd": "jitter", "param": param}})) }
        }
        _ => ok(json!({"error": {"code": "unknown-command", "message": "no such command"}})),
    }
}

/// A WebSocket upgrade to `path` with a `Cookie`; the client, or the refusal's status and body.
fn connect_with_cookie(addr: SocketAddr, path: &str, cookie: &str) -> Result<Client, (u16, String)> {
    let mut request = format!("ws://{addr}{path}").into_client_request().expect("request");
    request.headers_mut().insert("Cookie", cookie.parse().expect("header"));
    request.headers_mut().insert("User-Agent", "proxy-test".parse().expect("header"));
    match tungstenite::connect(request) {
        Ok((mut client, _)) => {
            set_timeout(&mut client, Duration::from_secs(10));
            Ok(client)
        }
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

/// The next message that is not an `online-update`.
fn next(client: &mut Client) -> Value {
    loop {
        let message = recv(client);
        if message["cmd"] != "online-update" {
            return message;
        }
    }
}

/// The refusal of an upgrade that must be refused.
fn refused(addr: SocketAddr, path: &str, cookie: &str) -> (u16, String) {
    match connect_with_cookie(addr, path, cookie) {
        Ok(_) => panic!("{path} with '{cookie}' was let in"),
        Err(refusal) => refusal,
    }
}

fn command(client: &mut Client, cmd: &str, param: Value) {
    send(client, json!({"cmd": cmd, "param": param}));
}

fn metric(addr: SocketAddr, line_start: &str) -> u64 {
    let (_, text) = http_call(addr, "GET", "/metrics", &[], b"");
    let line = text.lines().find(|l| l.starts_with(line_start)).unwrap_or_else(|| panic!("no {line_start}"));
    line.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn the_connect_answer_decides_the_upgrade() {
    let backend = Backend::start(standard);
    let server = Binary::start(&["--proxy-url", &backend.url(), "--proxy-timeout", "1s"]);
    let addr = server.addr;

    let mut alice = connect_with_cookie(addr, "/socket?ch=room", "session=alice").expect("alice is let in");
    command(&mut alice, "echo", json!("hi"));
    assert_eq!(recv_cmd(&mut alice, "echo")["param"], "hi");
    let (_, presence) = http_call(addr, "GET", "/api/presence?channel=inbox-alice", &[], b"");
    let presence: Value = serde_json::from_str(&presence).unwrap();
    assert_eq!(presence["users"], json!(["alice"]), "joined the backend's channels at once");
    for channel in ["room", "lobby"] {
        let (_, body) = http_call(addr, "GET", &format!("/api/presence?channel={channel}"), &[], b"");
        assert!(body.contains("alice"), "{channel}: {body}");
    }
    let event = backend.events("connect").pop().expect("a connect event");
    assert_eq!(event["path"], "/socket");
    assert_eq!(event["query"], "ch=room");
    assert_eq!(event["headers"]["cookie"], "session=alice");
    assert_eq!(event["headers"]["user-agent"], "proxy-test");
    assert!(event["remote"].as_str().unwrap().starts_with("127.0.0.1:"));

    let (status, body) = refused(addr, "/socket", "session=expired");
    assert_eq!((status, body.trim()), (401, "session expired"));
    let (status, _) = refused(addr, "/socket", "session=garbage");
    assert_eq!(status, 502, "an answer that is not JSON");
    let started = Instant::now();
    let (status, _) = refused(addr, "/socket", "session=slow");
    assert_eq!(status, 504, "the backend took longer than --proxy-timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
    let mut anonymous = connect_with_cookie(addr, "/socket?ch=room", "").expect("an empty answer lets in, anonymously");
    command(&mut anonymous, "echo", json!(1));
    assert_eq!(recv_cmd(&mut anonymous, "echo")["param"], 1);
    assert_eq!(metric(addr, "switchyard_proxy_failures_total{reason=\"timeout\"}"), 1);
    assert_eq!(metric(addr, "switchyard_proxy_failures_total{reason=\"bad_answer\"}"), 1);
}

#[test]
fn the_subscribe_answer_decides_the_join() {
    let backend = Backend::start(standard);
    let server = Binary::start(&["--proxy-subscribe-url", &backend.url()]);
    let mut client = connect(server.addr, "/socket?ch=home");
    command(&mut client, "join-room", json!({"room": "open"}));
    command(&mut client, "join-room", json!({"room": "secret-1"}));
    let refused = recv_cmd(&mut client, "error");
    assert_eq!(refused["param"], json!({"code": "forbidden", "message": "members only"}));
    command(&mut client, "join-room", json!({"room": "broken"}));
    assert_eq!(recv_cmd(&mut client, "error")["param"]["code"], "backend-error");
    command(&mut client, "join-room", json!({"room": "home"}));
    command(&mut client, "publish", json!("in open"));
    send(&mut client, json!({"channel": "open", "cmd": "publish", "param": "in open"}));
    let published = recv_cmd(&mut client, "publish");
    assert_eq!(published["channel"], "home", "no command proxy: publish goes to the channel");
    assert_eq!(recv_cmd(&mut client, "publish")["channel"], "open", "allowed: joined");
    let mut asked: Vec<String> =
        backend.events("subscribe").iter().map(|e| e["channel"].as_str().unwrap_or_default().to_string()).collect();
    asked.sort();
    assert_eq!(asked, ["broken", "open", "secret-1"], "no call for a channel it is in");
    let event = &backend.events("subscribe")[0];
    assert_eq!(event["user"], event["conn"], "anonymous: the user is the connection");
}

#[test]
fn each_command_answer_does_what_it_says() {
    let backend = Backend::start(standard);
    let server = Binary::start(&["--proxy-command-url", &backend.url()]);
    let mut a = connect(server.addr, "/socket?ch=talk");
    let mut b = connect(server.addr, "/socket?ch=talk");
    command(&mut b, "echo", json!("b is in"));
    recv_cmd(&mut b, "echo");

    command(&mut a, "echo", json!({"x": [1, 2]}));
    assert_eq!(next(&mut a), json!({"cmd": "echo", "param": {"x": [1, 2]}}));
    command(&mut a, "say", json!("hello"));
    let said = recv_cmd(&mut b, "said");
    assert_eq!((said["channel"].as_str(), said["param"].as_str()), (Some("talk"), Some("hello")));
    assert!(said["from"].is_string(), "a publish comes from the connection: {said}");
    command(&mut a, "refuse", Value::Null);
    command(&mut a, "quiet", Value::Null);
    command(&mut a, "garbage", Value::Null);
    command(&mut a, "echo", json!("after"));
    assert_eq!(recv_cmd(&mut a, "said")["param"], "hello");
    assert_eq!(next(&mut a)["param"], json!({"code": "nope", "message": "not today"}));
    assert_eq!(next(&mut a)["param"]["code"], "backend-error", "garbage; the quiet command said nothing");
    assert_eq!(next(&mut a)["param"], "after");
    let event = backend.events("command").into_iter().find(|e| e["cmd"] == "say").unwrap();
    assert_eq!(event["channel"], "talk");
    assert_eq!(event["param"], "hello");
    command(&mut a, "heartbeat", Value::Null);
    assert_eq!(next(&mut a)["cmd"], "heartbeat", "built-ins never reach the backend");
    assert!(backend.events("command").iter().all(|e| e["cmd"] != "heartbeat"));
}

#[test]
fn replies_keep_the_order_of_the_commands() {
    let backend = Backend::start(standard);
    let server = Binary::start(&["--proxy-command-url", &backend.url(), "--proxy-concurrency", "8"]);
    let mut client = connect(server.addr, "/socket");
    for i in 0..200 {
        command(&mut client, "jitter", json!(i));
    }
    for i in 0..200 {
        assert_eq!(recv_cmd(&mut client, "jitter")["param"], i);
    }
    let connections = backend.connections.load(std::sync::atomic::Ordering::Relaxed);
    assert!(connections <= 8, "200 calls over {connections} kept-alive connections");
}

#[test]
fn a_slow_backend_slows_nobody_else() {
    let backend = Backend::start(standard);
    let server = Binary::start(&["--proxy-command-url", &backend.url(), "--workers", "1"]);
    let mut slow = connect(server.addr, "/socket");
    let mut other = connect(server.addr, "/socket");
    let mut example = connect(server.addr, "/example/socket");
    command(&mut slow, "slow", json!(1));
    std::thread::sleep(Duration::from_millis(100));
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        command(&mut other, "echo", json!(i));
        assert_eq!(recv(&mut other)["param"], i);
        command(&mut example, "echo", json!(i));
        assert_eq!(recv(&mut example)["param"], i);
        command(&mut other, "heartbeat", Value::Null);
        assert_eq!(recv(&mut other)["cmd"], "heartbeat");
        worst = worst.max(started.elapsed());
    }
    println!("worst echo round (proxied, built-in, heartbeat) while the backend sleeps: {worst:?}");
    assert!(worst < Duration::from_millis(50), "{worst:?}");
    let started = Instant::now();
    assert_eq!(recv(&mut slow)["cmd"], "slow");
    assert!(started.elapsed() > Duration::from_millis(1500), "the slow answer came when the backend gave it");
}

#[test]
fn a_dead_or_late_backend_gets_backend_unavailable_and_the_server_keeps_serving() {
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/events", dead.local_addr().unwrap());
    drop(dead);
    let server = Binary::start(&["--proxy-command-url", &dead_url]);
    let mut client = connect(server.addr, "/socket");
    command(&mut client, "anything", Value::Null);
    let error = recv(&mut client);
    assert_eq!(error["param"]["code"], "backend-unavailable", "{error}");
    command(&mut client, "heartbeat", Value::Null);
    assert_eq!(recv(&mut client)["cmd"], "heartbeat");
    assert_eq!(metric(server.addr, "switchyard_proxy_failures_total{reason=\"unavailable\"}"), 1);

    let backend = Backend::start(standard);
    let late = Binary::start(&["--proxy-command-url", &backend.url(), "--proxy-timeout", "300ms"]);
    let mut client = connect(late.addr, "/socket");
    command(&mut client, "slow", Value::Null);
    command(&mut client, "echo", json!("next"));
    assert_eq!(recv(&mut client)["param"]["code"], "backend-unavailable");
    assert_eq!(recv(&mut client)["param"], "next");
    assert_eq!(metric(late.addr, "switchyard_proxy_failures_total{reason=\"timeout\"}"), 1);

    let server = Binary::start(&["--proxy-url", &dead_url]);
    let (status, _) = refused(server.addr, "/socket", "");
    assert_eq!(status, 503, "no backend to ask: the upgrade is refused");
}

#[test]
fn a_stalled_backend_fills_a_bounded_queue_not_memory() {
    let backend = Backend::start(standard);
    let args = ["--proxy-command-url", &backend.url(), "--proxy-concurrency", "1", "--proxy-queue", "1"];
    let server = Binary::start(&args);
    let mut client = connect(server.addr, "/socket");
    command(&mut client, "slow", json!(0));
    std::thread::sleep(Duration::from_millis(200));
    for i in 1..6 {
        command(&mut client, "slow", json!(i));
    }
    let mut answers = Vec::new();
    for _ in 0..6 {
        let message = recv(&mut client);
        answers.push(if message["cmd"] == "slow" { "done".to_string() } else { message["param"]["code"].to_string() });
    }
    assert_eq!(answers.iter().filter(|a| *a == "done").count(), 2, "one running, one queued: {answers:?}");
    assert_eq!(metric(server.addr, "switchyard_proxy_failures_total{reason=\"queue_full\"}"), 4);
}

#[test]
fn without_a_proxy_the_edge_route_publishes_under_the_channel_policy() {
    let server = Binary::start(&[]);
    let mut a = connect(server.addr, "/socket?ch=news");
    let mut b = connect(server.addr, "/socket?ch=news");
    command(&mut b, "heartbeat", Value::Null);
    recv_cmd(&mut b, "heartbeat");
    command(&mut a, "publish", json!({"headline": "x"}));
    let got = recv_cmd(&mut b, "publish");
    assert_eq!((got["channel"].as_str(), got["param"].clone()), (Some("news"), json!({"headline": "x"})));
    command(&mut a, "frobnicate", Value::Null);
    assert_eq!(recv_cmd(&mut a, "error")["param"]["code"], "unknown-command");
    command(&mut a, "join-room", json!({"room": "admin-room"}));
    assert_eq!(recv_cmd(&mut a, "error")["param"]["code"], "forbidden", "the policy: admin-* needs the admin role");
    command(&mut a, "join-room", json!({"room": "side"}));
    send(&mut a, json!({"channel": "side", "cmd": "publish", "param": 1}));
    assert_eq!(recv_cmd(&mut a, "publish")["channel"], "side");
}

/// `examples/backend/chat.py` as a child process; killed on drop.
struct PythonBackend {
    child: std::process::Child,
    addr: SocketAddr,
}

impl PythonBackend {
    fn start(port: u16, switchyard: SocketAddr, key: &str) -> PythonBackend {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/backend/chat.py");
        let mut child = std::process::Command::new("python3")
            .args([
                script,
                "--port",
                &port.to_string(),
                "--switchyard",
                &format!("http://{switchyard}"),
                "--api-key",
                key,
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the example backend");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.contains("listening on"), "{line}");
        PythonBackend { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) }
    }

    /// Logs in as `name`; the session cookie.
    fn login(&self, name: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        write!(stream, "GET /login?name={name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let start = reply.find("chat_session=").expect("a session cookie");
        reply[start..].split(';').next().unwrap().to_string()
    }
}

impl Drop for PythonBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_example_backend_runs_a_chat() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/events");
    let server = Binary::start(&["--proxy-url", &url, "--api-key", "example-key"]);
    let backend = PythonBackend::start(port, server.addr, "example-key");
    let (status, reason) = refused(server.addr, "/socket?ch=lobby", "chat_session=forged");
    assert_eq!((status, reason.trim()), (401, "log in first"));
    let mut alice = connect_with_cookie(server.addr, "/socket?ch=lobby", &backend.login("alice")).expect("alice");
    let mut bob = connect_with_cookie(server.addr, "/socket?ch=lobby", &backend.login("bob")).expect("bob");
    command(&mut bob, "history", Value::Null);
    assert_eq!(recv_cmd(&mut bob, "history")["param"], json!([]));

    command(&mut alice, "chat", json!({"text": "hello from alice"}));
    assert!(recv_cmd(&mut alice, "sent")["param"]["time"].is_u64());
    let chat = recv_cmd(&mut bob, "chat");
    assert_eq!((chat["channel"].as_str(), chat["param"]["user"].as_str()), (Some("lobby"), Some("alice")));
    assert_eq!(chat["param"]["text"], "hello from alice");
    command(&mut bob, "history", Value::Null);
    assert_eq!(recv_cmd(&mut bob, "history")["param"][0]["text"], "hello from alice");
    command(&mut alice, "chat", json!({"text": ""}));
    assert_eq!(recv_cmd(&mut alice, "error")["param"]["code"], "bad-param");
    command(&mut alice, "join-room", json!({"room": "staff-room"}));
    assert_eq!(recv_cmd(&mut alice, "error")["param"]["message"], "staff rooms are for staff");
}

#[test]
fn the_connect_proxy_works_beside_jwt() {
    const SECRET: &str = "a proxy test secret of at least thirty-two bytes";
    let backend = Backend::start(|event: &Value| match event["headers"]["cookie"].as_str() {
        Some("session=alice") => ok(json!({"user": {"id": "alice"}})),
        _ => ok(json!({})),
    });
    let server = Binary::start(&["--proxy-connect-url", &backend.url(), "--jwt-secret", SECRET, "--require-auth"]);
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    let token =
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &json!({"sub": "bob", "exp": exp}), &key).unwrap();
    let with_token = connect_with_cookie(server.addr, &format!("/socket?ch=both&token={token}"), "");
    let _bob = with_token.expect("the JWT's user, the backend answering {}");
    let _alice = connect_with_cookie(server.addr, "/socket?ch=both", "session=alice").expect("the backend's user");
    let (_, presence) = http_call(server.addr, "GET", "/api/presence?channel=both", &[], b"");
    let users: Value = serde_json::from_str(&presence).unwrap();
    let mut users: Vec<&str> = users["users"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    users.sort();
    assert_eq!(users, ["alice", "bob"]);
    let (status, body) = refused(server.addr, "/socket?ch=both", "");
    assert_eq!((status, body.trim()), (401, "authentication required"), "neither: --require-auth refuses");
    let (status, _) = refused(server.addr, "/socket?ch=both&token=forged", "session=alice");
    assert_eq!(status, 401, "a bad token is refused before the backend is asked");
    assert_eq!(backend.events("connect").len(), 3);
}
