//! Scale-out through a real redis-server (installed by `scripts/redis.sh` if missing,
//! started here on a free loopback port, killed at the end) and two or three switchyard
//! processes: writes cross nodes exactly once and in order, per-channel subscriptions follow
//! membership, presence covers the cluster, and a Redis restart or a node's death heals:
//! a node killed, cut off from Redis (through a proxy the test controls) or shut down has
//! its users announced gone, and back, exactly once, timed from the fault.
//! Owns nothing but its Redis processes and proxies; never touches a Redis it did not start.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::redis::{Proxy, Redis};
use common::{connect, eventually, recv, recv_cmd, send, sync, Binary, Client};
use serde_json::{json, Value};

const SECRET: &str = "a cluster test secret of at least thirty-two bytes";
const PREFIX: &str = "switchyard";

fn node(redis: &Redis, extra: &[&str]) -> Binary {
    node_at(&redis.url(), extra)
}

fn node_at(url: &str, extra: &[&str]) -> Binary {
    let mut args = vec!["--redis", url, "--workers", "2"];
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

// ---- presence that heals ----------------------------------------------------------------

/// Fast cluster timing for the fault tests: expiry 1 s, heartbeat 250 ms.
const FAST: [&str; 4] = ["--cluster-heartbeat", "250ms", "--cluster-node-expiry", "1s"];
const FAST_BOUND: Duration = Duration::from_millis(1250);

/// An `online-update` as a client saw it: (channel, user, connected).
type Update = (String, String, bool);

fn update(channel: &str, user: &str, connected: bool) -> Update {
    (channel.to_string(), user.to_string(), connected)
}

/// A user's connection to a node's example socket, in `channel`.
fn user_on(node: &Binary, channel: &str, user: &str) -> Client {
    connect(node.addr, &format!("/example/socket?ch={channel}&token={}", token(user)))
}

fn join_room(client: &mut Client, room: &str) {
    send(client, json!({"cmd": "join-room", "param": {"room": room}}));
}

/// Reads until an `online-update` satisfies `until` or `timeout` passes: every update seen
/// (that one last), and when it arrived.
fn watch(
    client: &mut Client,
    timeout: Duration,
    mut until: impl FnMut(&Update) -> bool,
) -> (Vec<Update>, Option<Instant>) {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (seen, None);
        }
        common::set_timeout(client, left.max(Duration::from_millis(1)));
        match client.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let message: Value = serde_json::from_str(&text).expect("server sent JSON");
                if message["cmd"] != "online-update" {
                    continue;
                }
                let param = &message["param"];
                let seen_now = (
                    message["channel"].as_str().unwrap_or_default().to_string(),
                    param["userID"].as_str().unwrap_or_default().to_string(),
                    param["connected"].as_bool().expect("connected is a bool"),
                );
                let done = until(&seen_now);
                seen.push(seen_now);
                if done {
                    return (seen, Some(Instant::now()));
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => panic!("client read failed: {e}"),
        }
    }
}

/// Waits for `expected`; the updates seen up to it and how long after `since` it came.
fn wait_update(client: &mut Client, expected: &Update, since: Instant, timeout: Duration) -> (Vec<Update>, Duration) {
    let (seen, at) = watch(client, timeout, |u| u == expected);
    let at = at.unwrap_or_else(|| panic!("no {expected:?} within {timeout:?}; saw {seen:?}"));
    (seen, at - since)
}

/// Every `online-update` in the next `period`.
fn quiet(client: &mut Client, period: Duration) -> Vec<Update> {
    watch(client, period, |_| false).0
}

fn sorted(mut updates: Vec<Update>) -> Vec<Update> {
    updates.sort();
    updates
}

/// A node's cluster view and counters, from its admin API.
fn cluster_of(node: &Binary) -> Value {
    http(node.addr, "GET", "/admin/api/status", "").1["cluster"].clone()
}

/// Every node's admin API shows the same users in `channel`, and they are `users`.
fn all_agree(nodes: &[&Binary], channel: &str, users: &[&str]) {
    for node in nodes {
        eventually(Duration::from_secs(5), &format!("{channel} on {} is {users:?}", node.addr), || {
            online(node, channel) == users
        });
    }
}

#[test]
fn a_killed_node_s_users_are_announced_gone_once_on_every_other_node() {
    let redis = Redis::start();
    let args = [&["--jwt-secret", SECRET][..], &FAST[..]].concat();
    let (a, b, mut c) = (node(&redis, &args), node(&redis, &args), node(&redis, &args));
    let mut ann = user_on(&a, "room", "ann");
    join_room(&mut ann, "room2");
    let mut bob = user_on(&b, "room", "bob");
    let mut carl = [user_on(&c, "room", "carl"), user_on(&c, "room", "carl")];
    join_room(&mut carl[0], "room2");
    let _dora = [user_on(&b, "room", "dora"), user_on(&c, "room", "dora")];
    all_agree(&[&a, &b, &c], "room", &["ann", "bob", "carl", "dora"]);
    all_agree(&[&a, &b, &c], "room2", &["ann", "carl"]);
    quiet(&mut ann, Duration::from_millis(300));
    quiet(&mut bob, Duration::from_millis(300));

    let killed = Instant::now();
    let _ = c.child.kill();
    let _ = c.child.wait();
    let (mut seen_a, took_a) = wait_update(&mut ann, &update("room", "carl", false), killed, Duration::from_secs(5));
    let (mut seen_b, took_b) = wait_update(&mut bob, &update("room", "carl", false), killed, Duration::from_secs(5));
    eprintln!(
        "SIGKILL: carl announced gone on A after {took_a:?}, on B after {took_b:?} (expiry 1 s, heartbeat 250 ms)"
    );
    assert!(took_a.max(took_b) < FAST_BOUND + Duration::from_millis(250), "expiry + one heartbeat (+ slack)");
    seen_a.extend(quiet(&mut ann, Duration::from_millis(1500)));
    seen_b.extend(quiet(&mut bob, Duration::from_millis(100)));
    let once = vec![update("room", "carl", false), update("room2", "carl", false)];
    assert_eq!(sorted(seen_a), once, "once per user and channel; dora is still on B");
    assert_eq!(seen_b, [update("room", "carl", false)]);
    all_agree(&[&a, &b], "room", &["ann", "bob", "dora"]);
    all_agree(&[&a, &b], "room2", &["ann"]);
    let status = cluster_of(&a);
    assert_eq!((status["nodes_expired"].as_u64(), status["presence_healed"].as_u64()), (Some(1), Some(2)), "{status}");
    drop(carl);
}

#[test]
fn a_node_cut_off_from_redis_is_announced_gone_then_back_without_duplicates() {
    let redis = Redis::start();
    let proxy = Proxy::start(redis.port);
    let args = [&["--jwt-secret", SECRET][..], &FAST[..]].concat();
    let (a, b, c) = (node(&redis, &args), node(&redis, &args), node_at(&proxy.url(), &args));
    let mut ann = user_on(&a, "room", "ann");
    let mut bob = user_on(&b, "room", "bob");
    let mut carl = user_on(&c, "room", "carl");
    let _dora = [user_on(&b, "room", "dora"), user_on(&c, "room", "dora")];
    all_agree(&[&a, &b, &c], "room", &["ann", "bob", "carl", "dora"]);
    for client in [&mut ann, &mut bob, &mut carl] {
        quiet(client, Duration::from_millis(300));
    }

    let cut = Instant::now();
    proxy.cut();
    let (mut seen_a, gone_a) = wait_update(&mut ann, &update("room", "carl", false), cut, Duration::from_secs(5));
    let (mut seen_c, gone_c) = wait_update(&mut carl, &update("room", "ann", false), cut, Duration::from_secs(5));
    assert!(gone_a < FAST_BOUND + Duration::from_millis(250), "expiry + one heartbeat (+ slack): {gone_a:?}");
    all_agree(&[&a, &b], "room", &["ann", "bob", "dora"]);
    all_agree(&[&c], "room", &["carl", "dora"]);

    let restored = Instant::now();
    proxy.restore();
    let (seen, back_a) = wait_update(&mut ann, &update("room", "carl", true), restored, Duration::from_secs(8));
    seen_a.extend(seen);
    let (seen, back_c) = wait_update(&mut carl, &update("room", "ann", true), restored, Duration::from_secs(8));
    seen_c.extend(seen);
    eprintln!(
        "cut off: carl announced gone on A after {gone_a:?} (ann gone on C after {gone_c:?}); restored: carl back on A after {back_a:?}, ann back on C after {back_c:?} (reconnect backoff included)"
    );
    seen_a.extend(quiet(&mut ann, Duration::from_millis(1000)));
    seen_c.extend(quiet(&mut carl, Duration::from_millis(100)));
    let seen_b = quiet(&mut bob, Duration::from_millis(100));
    let carl_gone_and_back = [update("room", "carl", false), update("room", "carl", true)];
    assert_eq!(seen_a, carl_gone_and_back, "dora never left: never told");
    assert_eq!(seen_b, carl_gone_and_back, "the snapshots A and C exchanged are no news to B");
    assert_eq!(
        sorted(seen_c),
        [
            update("room", "ann", false),
            update("room", "ann", true),
            update("room", "bob", false),
            update("room", "bob", true)
        ]
    );
    all_agree(&[&a, &b, &c], "room", &["ann", "bob", "carl", "dora"]);
}

#[test]
fn a_node_back_before_its_expiry_brings_only_what_changed_meanwhile() {
    let redis = Redis::start();
    let proxy = Proxy::start(redis.port);
    let args = ["--jwt-secret", SECRET, "--cluster-heartbeat", "500ms", "--cluster-node-expiry", "5s"];
    let (a, c) = (node(&redis, &args), node_at(&proxy.url(), &args));
    let mut ann = user_on(&a, "room", "ann");
    let (_carl, fred) = (user_on(&c, "room", "carl"), user_on(&c, "room", "fred"));
    all_agree(&[&a, &c], "room", &["ann", "carl", "fred"]);
    quiet(&mut ann, Duration::from_millis(300));

    proxy.cut();
    let mut c = c;
    wait_log(&mut c, "redis link lost");
    drop(fred);
    let _erin = user_on(&c, "room", "erin");
    all_agree(&[&c], "room", &["ann", "carl", "erin"]);
    let restored = Instant::now();
    proxy.restore();
    let (mut seen, took) = wait_update(&mut ann, &update("room", "erin", true), restored, Duration::from_secs(5));
    eprintln!(
        "back before expiry: erin (joined C while it was cut off) announced on A {took:?} after the link was restored"
    );
    seen.extend(quiet(&mut ann, Duration::from_millis(1000)));
    assert_eq!(sorted(seen), [update("room", "erin", true), update("room", "fred", false)], "carl stayed: not told");
    all_agree(&[&a, &c], "room", &["ann", "carl", "erin"]);
}

#[test]
fn sigterm_says_goodbye_and_departures_arrive_within_a_second() {
    let redis = Redis::start();
    let jwt = ["--jwt-secret", SECRET]; // the default expiry (6 s): what is seen here is the goodbye
    let (a, b, mut c) = (node(&redis, &jwt), node(&redis, &jwt), node(&redis, &jwt));
    let mut ann = user_on(&a, "room", "ann");
    join_room(&mut ann, "room2");
    let mut carl = [user_on(&c, "room", "carl"), user_on(&c, "room", "carl")];
    join_room(&mut carl[1], "room2");
    let _dora = [user_on(&b, "room", "dora"), user_on(&c, "room", "dora")];
    all_agree(&[&a, &b, &c], "room", &["ann", "carl", "dora"]);
    all_agree(&[&a, &b, &c], "room2", &["ann", "carl"]);
    quiet(&mut ann, Duration::from_millis(300));
    let nodes_seen_by_a = || cluster_of(&a)["nodes"].as_array().map_or(0, Vec::len);
    assert_eq!(nodes_seen_by_a(), 2);

    let terminated = Instant::now();
    c.signal("TERM");
    let (mut seen, took) = wait_update(&mut ann, &update("room", "carl", false), terminated, Duration::from_secs(5));
    eventually(Duration::from_secs(1), "C dropped from A's view", || nodes_seen_by_a() == 1);
    let dropped = terminated.elapsed();
    eprintln!("SIGTERM: carl announced gone on A after {took:?}; C out of A's node list after {dropped:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(dropped < Duration::from_secs(2), "a goodbye, not the 6 s expiry: {dropped:?}");
    seen.extend(quiet(&mut ann, Duration::from_millis(1000)));
    assert_eq!(sorted(seen), [update("room", "carl", false), update("room2", "carl", false)]);
    all_agree(&[&a, &b], "room", &["ann", "dora"]);
    all_agree(&[&a, &b], "room2", &["ann"]);
    let status = cluster_of(&a);
    assert_eq!((status["goodbyes"].as_u64(), status["nodes_expired"].as_u64()), (Some(1), Some(0)), "{status}");
    assert_eq!(status["presence_healed"], 0, "the departures were C's own online-updates");
    eventually(Duration::from_secs(5), "C exits", || c.child.try_wait().ok().flatten().is_some());
    assert!(c.child.try_wait().ok().flatten().is_some_and(|s| s.success()), "C exits 0");
    wait_log(&mut c, "said goodbye");
}

#[test]
fn joins_across_nodes_are_announced_once_while_the_nodes_meet() {
    let redis = Redis::start();
    let jwt = ["--jwt-secret", SECRET]; // default timing: the nodes take up to a heartbeat (2 s) to sync
    let a = node(&redis, &jwt);
    let mut ann = user_on(&a, "room", "ann");
    let b = node(&redis, &jwt);
    let mut bob = user_on(&b, "room", "bob");
    let c = node(&redis, &jwt);
    let _carl = user_on(&c, "room", "carl");
    let (_bob_on_c, _dan) = (user_on(&c, "room", "bob"), user_on(&a, "room", "dan"));
    all_agree(&[&a, &b, &c], "room", &["ann", "bob", "carl", "dan"]);
    let seen_a = quiet(&mut ann, Duration::from_millis(2500));
    let seen_b = quiet(&mut bob, Duration::from_millis(100));
    let joined = |users: &[&str]| users.iter().map(|u| update("room", u, true)).collect::<Vec<_>>();
    assert_eq!(sorted(seen_a), joined(&["bob", "carl", "dan"]), "each once, as the snapshots came and went");
    assert_eq!(sorted(seen_b), joined(&["carl", "dan"]));
}

/// Every `online-updates` (the coalesced form) in the next `period`.
fn coalesced(client: &mut Client, period: Duration) -> Vec<Value> {
    presence_messages(client, period)
        .into_iter()
        .filter(|m| m["cmd"] == "online-updates")
        .map(|m| m["param"].clone())
        .collect()
}

/// Every `online-update` and `online-updates` in the next `period`.
fn presence_messages(client: &mut Client, period: Duration) -> Vec<Value> {
    let deadline = Instant::now() + period;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
        common::set_timeout(client, left);
        match client.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let message: Value = serde_json::from_str(&text).expect("server sent JSON");
                if message["cmd"] == "online-updates" || message["cmd"] == "online-update" {
                    seen.push(message);
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("client read failed: {e}"),
        }
    }
    seen
}

#[test]
fn a_dead_node_s_users_leave_a_big_channel_in_one_coalesced_update() {
    let redis = Redis::start();
    let args = [&["--jwt-secret", SECRET, "--presence-batch-above", "2"][..], &FAST[..]].concat();
    let (a, mut c) = (node(&redis, &args), node(&redis, &args));
    let mut ann = user_on(&a, "big", "ann");
    let _others_on_a = [user_on(&a, "big", "gus"), user_on(&a, "big", "hal")];
    let _on_c = ["carl", "erin", "fred"].map(|user| user_on(&c, "big", user));
    all_agree(&[&a, &c], "big", &["ann", "carl", "erin", "fred", "gus", "hal"]);
    coalesced(&mut ann, Duration::from_millis(300));

    let killed = Instant::now();
    let _ = c.child.kill();
    let _ = c.child.wait();
    let mut seen = Vec::new();
    while seen.is_empty() && killed.elapsed() < Duration::from_secs(5) {
        seen = coalesced(&mut ann, Duration::from_millis(50));
    }
    eprintln!("SIGKILL, big channel: one online-updates on A after {:?}", killed.elapsed());
    seen.extend(coalesced(&mut ann, Duration::from_millis(1500)));
    assert_eq!(seen.len(), 1, "one coalesced update: {seen:?}");
    assert_eq!(seen[0]["left"], json!(["carl", "erin", "fred"]));
    assert_eq!((seen[0]["left_count"].as_u64(), seen[0]["joined_count"].as_u64()), (Some(3), Some(0)));
    all_agree(&[&a], "big", &["ann", "gus", "hal"]);
}

#[test]
fn sigterm_in_a_big_channel_sends_the_departures_before_the_goodbye() {
    let redis = Redis::start();
    let args = ["--jwt-secret", SECRET, "--presence-batch-above", "2"];
    let (a, mut c) = (node(&redis, &args), node(&redis, &args));
    let mut ann = user_on(&a, "big", "ann");
    let _others_on_a = [user_on(&a, "big", "gus"), user_on(&a, "big", "hal")];
    let _on_c = ["carl", "erin", "fred"].map(|user| user_on(&c, "big", user));
    all_agree(&[&a, &c], "big", &["ann", "carl", "erin", "fred", "gus", "hal"]);
    coalesced(&mut ann, Duration::from_millis(300));

    let terminated = Instant::now();
    c.signal("TERM");
    let mut seen = Vec::new();
    while seen.is_empty() && terminated.elapsed() < Duration::from_secs(5) {
        seen = presence_messages(&mut ann, Duration::from_millis(20));
    }
    let took = terminated.elapsed();
    eprintln!("SIGTERM, big channel: the first departure on A after {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    seen.extend(presence_messages(&mut ann, Duration::from_millis(1000)));
    // C's own departures, in the form C's shrinking channel calls for (coalesced while big).
    let mut left: Vec<String> = Vec::new();
    for message in &seen {
        let param = &message["param"];
        if message["cmd"] == "online-update" && param["connected"] == false {
            left.extend(param["userID"].as_str().map(str::to_string));
        }
        let listed = param["left"].as_array().into_iter().flatten().filter_map(Value::as_str);
        left.extend(listed.map(str::to_string));
    }
    left.sort();
    assert_eq!(left, ["carl", "erin", "fred"], "each once: {seen:?}");
    all_agree(&[&a], "big", &["ann", "gus", "hal"]);
    wait_log(&mut c, "said goodbye");
}

#[test]
fn an_expiry_not_longer_than_the_heartbeat_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--listen", "127.0.0.1:0", "--redis", "redis://127.0.0.1:1"])
        .args(["--cluster-heartbeat", "2s", "--cluster-node-expiry", "2s"])
        .output()
        .expect("run switchyard");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--cluster-node-expiry longer than it"), "{stderr}");
}

#[test]
fn a_redis_restart_announces_nothing_when_short_and_gone_then_back_when_long() {
    let mut redis = Redis::start();
    let args = ["--jwt-secret", SECRET, "--cluster-heartbeat", "250ms", "--cluster-node-expiry", "2s"];
    let (mut a, mut b) = (node(&redis, &args), node(&redis, &args));
    let mut ann = user_on(&a, "room", "ann");
    let mut bob = user_on(&b, "room", "bob");
    all_agree(&[&a, &b], "room", &["ann", "bob"]);
    quiet(&mut ann, Duration::from_millis(300));
    quiet(&mut bob, Duration::from_millis(300));

    // Shorter than the expiry: nobody was told anything, nothing to heal.
    redis.kill();
    wait_log(&mut a, "redis link lost");
    redis.restart();
    wait_log(&mut a, "redis link back up");
    wait_log(&mut b, "redis link back up");
    assert_eq!(quiet(&mut ann, Duration::from_millis(1000)), [], "a short outage is no presence news");
    assert_eq!(quiet(&mut bob, Duration::from_millis(10)), []);
    all_agree(&[&a, &b], "room", &["ann", "bob"]);

    // Longer than the expiry: each side sees the other's users go, then come back, once.
    redis.kill();
    let killed = Instant::now();
    let (mut seen, gone) = wait_update(&mut ann, &update("room", "bob", false), killed, Duration::from_secs(5));
    redis.restart();
    let restarted = Instant::now();
    let (more, back) = wait_update(&mut ann, &update("room", "bob", true), restarted, Duration::from_secs(8));
    seen.extend(more);
    eprintln!("redis down for {:?}: bob gone on A after {gone:?}, back {back:?} after the restart", restarted - killed);
    seen.extend(quiet(&mut ann, Duration::from_millis(1000)));
    assert_eq!(seen, [update("room", "bob", false), update("room", "bob", true)]);
    assert_eq!(quiet(&mut bob, Duration::from_millis(10)), [update("room", "ann", false), update("room", "ann", true)]);
    all_agree(&[&a, &b], "room", &["ann", "bob"]);
}

#[test]
fn an_api_publish_on_node_a_reaches_members_on_node_b() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, &[]), node(&redis, &[]));
    let mut on_a = connect(a.addr, "/example/socket?ch=api-room");
    let mut on_b = connect(b.addr, "/example/socket?ch=api-room");
    sync(&mut on_a);
    sync(&mut on_b);
    eventually(Duration::from_secs(5), "both nodes subscribed", || redis.subscribers("switchyard:ch:api-room") == 2);
    let items: Vec<Value> =
        (0..100).map(|i| json!({"op": "publish", "channel": "api-room", "cmd": "news", "param": i})).collect();
    let (status, _) = http(a.addr, "POST", "/api/publish", r#"{"channel":"api-room","cmd":"news","param":"first"}"#);
    assert_eq!(status, 200);
    assert_eq!(http(a.addr, "POST", "/api/batch", &Value::Array(items).to_string()).0, 200);
    for client in [&mut on_b, &mut on_a] {
        assert_eq!(recv_cmd(client, "news")["param"], "first");
        for i in 0..100 {
            assert_eq!(recv_cmd(client, "news")["param"], i, "in order, exactly once");
        }
    }
}
