//! Scale-out through a real redis-server (installed by `scripts/redis.sh` if missing,
//! started here on a free loopback port, killed at the end) and two or three switchyard
//! processes: writes cross nodes exactly once and in order, per-channel subscriptions follow
//! membership, presence covers the cluster, and a Redis restart or a node's death heals.
//! Owns nothing but its Redis processes; never touches a Redis it did not start.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{connect, eventually, recv, recv_cmd, send, sync, Binary, Client};
use serde_json::{json, Value};

const SECRET: &str = "a cluster test secret of at least thirty-two bytes";
const PREFIX: &str = "switchyard";

struct Redis {
    child: Option<Child>,
    port: u16,
}

impl Redis {
    fn start() -> Redis {
        let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/redis.sh")).arg("install").status();
        assert!(status.is_ok_and(|s| s.success()), "redis-server is not installed and could not be");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let mut redis = Redis { child: None, port };
        redis.restart();
        redis
    }

    fn restart(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--port", &port, "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        eventually(Duration::from_secs(10), "redis answers PING", || self.cli(&["PING"]).trim() == "PONG");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli").args(["-p", &self.port.to_string()]).args(args).output();
        output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    /// How many nodes subscribe to a Redis channel.
    fn subscribers(&self, topic: &str) -> u64 {
        let reply = self.cli(&["PUBSUB", "NUMSUB", topic]);
        reply.lines().nth(1).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    }

    fn channels(&self, pattern: &str) -> Vec<String> {
        self.cli(&["PUBSUB", "CHANNELS", pattern]).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn node(redis: &Redis, extra: &[&str]) -> Binary {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str(), "--workers", "2"];
    args.extend_from_slice(extra);
    let mut node = Binary::start(&args);
    wait_log(&mut node, "cluster: joined through");
    node
}

fn wait_log(node: &mut Binary, needle: &str) {
    eventually(Duration::from_secs(15), needle, || node.drain_log().iter().any(|l| l.contains(needle)));
}

fn token(user: &str) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 3600;
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &json!({"sub": user, "exp": exp}), &key).expect("sign")
}

fn chat(client: &mut Client, text: &str) {
    send(client, json!({"cmd": "chat", "param": {"text": text}}));
}

fn next_chat(client: &mut Client) -> String {
    recv_cmd(client, "chat")["param"]["text"].as_str().unwrap_or_default().to_string()
}

/// A plain HTTP/1.1 exchange with `Connection: close`: the status and the JSON body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    let status = reply.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn online(node: &Binary, channel: &str) -> Vec<String> {
    let (_, body) = http(node.addr, "GET", &format!("/admin/api/channels/{channel}"), "");
    let users = body["online"].as_array().cloned().unwrap_or_default();
    users.iter().filter_map(|u| u.as_str().map(str::to_string)).collect()
}

/// Reads chats up to `text` (earlier ones are others' `whoami-*`s).
fn skip_to_chat(client: &mut Client, text: &str) {
    while next_chat(client) != text {}
}

/// The connection id of a client: the `from` of its own chat coming back.
fn conn_id(client: &mut Client) -> String {
    let text = format!("whoami-{}", uuid::Uuid::new_v4());
    chat(client, &text);
    loop {
        let message = recv_cmd(client, "chat");
        if message["param"]["text"] == text.as_str() {
            return message["from"].as_str().unwrap_or_default().to_string();
        }
    }
}

#[test]
fn chat_crosses_nodes_exactly_once_and_in_order() {
    let redis = Redis::start();
    let (a, b, c) = (node(&redis, &[]), node(&redis, &[]), node(&redis, &[]));
    let mut sender = connect(a.addr, "/example/socket?ch=room");
    let mut others = vec![
        connect(b.addr, "/example/socket?ch=room"),
        connect(b.addr, "/example/socket?ch=room"),
        connect(c.addr, "/example/socket?ch=room"),
    ];
    eventually(Duration::from_secs(5), "3 nodes subscribed", || redis.subscribers("switchyard:ch:room") == 3);
    const N: usize = 300;
    for i in 0..N {
        chat(&mut sender, &format!("m{i}"));
    }
    for (k, client) in others.iter_mut().enumerate() {
        for i in 0..N {
            assert_eq!(next_chat(client), format!("m{i}"), "client {k}");
        }
    }
    // A marker written on C after everything arrived: whatever A's own writes might have
    // echoed back through Redis would come before it.
    chat(&mut others[2], "end");
    for i in 0..N {
        assert_eq!(next_chat(&mut sender), format!("m{i}"), "the writer, locally");
    }
    assert_eq!(next_chat(&mut sender), "end", "no echo of the writer's own messages");
    for client in &mut others {
        assert_eq!(next_chat(client), "end", "each message exactly once");
    }
}

#[test]
fn write_user_and_presence_cover_the_cluster() {
    let redis = Redis::start();
    let jwt = ["--jwt-secret", SECRET];
    let (a, b, c) = (node(&redis, &jwt), node(&redis, &jwt), node(&redis, &jwt));
    let mut alice_a = connect(a.addr, &format!("/example/socket?ch=room&token={}", token("alice")));
    let mut alice_b = connect(b.addr, &format!("/example/socket?ch=room&token={}", token("alice")));
    let mut bob_c = connect(c.addr, &format!("/example/socket?ch=room&token={}", token("bob")));
    eventually(Duration::from_secs(5), "alice's nodes subscribed", || redis.subscribers("switchyard:user:alice") == 2);
    let body = json!({"to": "user", "user": "alice", "cmd": "note", "param": {"n": 1}}).to_string();
    // Sent on A: delivered there and, through Redis, on B (the admin API answers 404 on a
    // node with no connection of the user, see the report).
    let (status, reply) = http(a.addr, "POST", "/admin/api/send", &body);
    assert_eq!(status, 200, "{reply}");
    for client in [&mut alice_a, &mut alice_b] {
        assert_eq!(recv_cmd(client, "note")["param"]["n"], 1);
    }
    for node in [&a, &b, &c] {
        eventually(Duration::from_secs(5), "presence on every node", || online(node, "room") == ["alice", "bob"]);
    }
    drop(alice_a);
    eventually(Duration::from_secs(5), "alice still on B", || online(&c, "room") == ["alice", "bob"]);
    drop(alice_b);
    eventually(Duration::from_secs(5), "alice gone everywhere", || online(&c, "room") == ["bob"]);
    sync(&mut bob_c);
}

#[test]
fn subscriptions_follow_membership() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, &[]), node(&redis, &[]));
    let mut on_a = connect(a.addr, "/example/socket?ch=lobby");
    let mut on_b = connect(b.addr, "/example/socket?ch=home");
    let id_b = conn_id(&mut on_b);
    send(&mut on_a, json!({"cmd": "join-room", "param": {"room": "r1"}}));
    send(&mut on_b, json!({"cmd": "join-room", "param": {"room": "r1"}}));
    eventually(Duration::from_secs(5), "both nodes on r1", || redis.subscribers("switchyard:ch:r1") == 2);
    let user_topic = format!("switchyard:user:{id_b}");
    assert_eq!(redis.subscribers(&user_topic), 1, "B follows its anonymous user");
    send(&mut on_a, json!({"channel": "r1", "cmd": "chat", "param": {"text": "hello r1"}}));
    assert_eq!(next_chat(&mut on_b), "hello r1");
    send(&mut on_a, json!({"cmd": "leave-room", "param": {"room": "r1"}}));
    eventually(Duration::from_secs(5), "A unsubscribed from r1", || redis.subscribers("switchyard:ch:r1") == 1);
    send(&mut on_b, json!({"cmd": "leave-room", "param": {"room": "r1"}}));
    eventually(Duration::from_secs(5), "r1 no longer listed", || {
        !redis.channels("switchyard:ch:*").contains(&"switchyard:ch:r1".to_string())
    });
    drop(on_b);
    eventually(Duration::from_secs(5), "B's channel and user gone", || {
        let left = redis.channels("switchyard:*");
        !left.contains(&"switchyard:ch:home".to_string()) && !left.contains(&user_topic)
    });
    let left = redis.channels("switchyard:*");
    assert!(left.contains(&"switchyard:ch:lobby".to_string()) && left.contains(&"switchyard:all".to_string()));
}

#[test]
fn redis_restart_mid_stream_heals() {
    let mut redis = Redis::start();
    let (mut a, b) = (node(&redis, &[]), node(&redis, &[]));
    let (mut writer, mut local) = (connect(a.addr, "/example/socket?ch=s"), connect(a.addr, "/example/socket?ch=s"));
    let mut remote = connect(b.addr, "/example/socket?ch=s");
    eventually(Duration::from_secs(5), "both subscribed", || redis.subscribers("switchyard:ch:s") == 2);
    for i in 0..20 {
        chat(&mut writer, &format!("before{i}"));
    }
    for i in 0..20 {
        assert_eq!(next_chat(&mut remote), format!("before{i}"));
        assert_eq!(next_chat(&mut local), format!("before{i}"));
    }
    redis.kill();
    wait_log(&mut a, "redis link lost");
    chat(&mut writer, "during");
    assert_eq!(next_chat(&mut local), "during", "local delivery goes on without Redis");
    redis.restart();
    wait_log(&mut a, "redis link back up");
    // Until B is back too, writes to it are dropped: probe until one gets through.
    let deadline = Instant::now() + Duration::from_secs(15);
    common::set_timeout(&mut remote, Duration::from_millis(300));
    let probe = loop {
        assert!(Instant::now() < deadline, "no message crossed after the restart");
        chat(&mut writer, "probe");
        match remote.read() {
            Ok(tungstenite::Message::Text(text)) if text.contains("\"probe\"") => break text,
            _ => continue,
        }
    };
    assert!(probe.contains("probe"));
    common::set_timeout(&mut remote, Duration::from_secs(10));
    for i in 0..50 {
        chat(&mut writer, &format!("after{i}"));
    }
    let mut next = next_chat(&mut remote);
    while next == "probe" {
        next = next_chat(&mut remote);
    }
    for i in 0..50 {
        assert_eq!(next, format!("after{i}"), "in order after the restart");
        if i < 49 {
            next = next_chat(&mut remote);
        }
    }
}

#[test]
fn a_dead_node_leaves_the_others_serving() {
    let redis = Redis::start();
    let (a, mut b, c) = (node(&redis, &[]), node(&redis, &[]), node(&redis, &[]));
    let mut on_a = connect(a.addr, "/example/socket?ch=room");
    let mut on_b = connect(b.addr, "/example/socket?ch=room");
    let mut on_c = connect(c.addr, "/example/socket?ch=room");
    let ids = [conn_id(&mut on_a), conn_id(&mut on_b), conn_id(&mut on_c)];
    eventually(Duration::from_secs(6), "presence of all three", || online(&a, "room").len() == 3);
    let _ = b.child.kill();
    let _ = b.child.wait();
    chat(&mut on_a, "still here");
    skip_to_chat(&mut on_c, "still here");
    chat(&mut on_c, "me too");
    skip_to_chat(&mut on_a, "me too");
    eventually(Duration::from_secs(15), "B's users expire", || {
        let users = online(&a, "room");
        users.len() == 2 && !users.contains(&ids[1])
    });
    drop(on_b);
    let mut late = connect(c.addr, "/example/socket?ch=room");
    chat(&mut on_a, "late");
    assert_eq!(next_chat(&mut late), "late");
    let _ = recv(&mut on_c);
}

#[test]
fn cluster_status_shows_the_link_the_nodes_and_the_outage() {
    let mut redis = Redis::start();
    let other = node(&redis, &[]);
    let config = switchyard::Config { redis: Some(redis.url()), ..common::config(2) };
    let server = switchyard::Server::new(config.clone())
        .expect("server")
        .socket("/example/socket", switchyard::example::handler());
    switchyard::cluster::join(&server.service(), &redis.url(), &config).expect("join");
    let running = server.start().expect("start");
    let service = running.service();
    let status = || service.cluster_status().unwrap_or_default();
    eventually(Duration::from_secs(5), "link up, the other node seen", || {
        let status = status();
        status["state"] == "up" && status["nodes"].as_array().is_some_and(|n| n.len() == 1)
    });
    let _client = connect(other.addr, "/example/socket?ch=seen");
    eventually(Duration::from_secs(5), "remote presence", || service.online("seen").len() == 1);
    redis.kill();
    eventually(Duration::from_secs(5), "link down", || status()["state"] == "down");
    service.write_channel("chat", &json!({"text": "lost"}), "seen").expect("write");
    assert!(status()["dropped"].as_u64() >= Some(1), "{}", status());
    assert!(status()["last_error"].is_string());
    redis.restart();
    eventually(Duration::from_secs(10), "link back", || status()["state"] == "up" && status()["reconnects"] == 1);
    assert_eq!(status()["prefix"], PREFIX);
    running.shutdown();
}
