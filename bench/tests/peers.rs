//! The peers answer the example protocol as the generator expects: `peer-tokio` started for
//! real with each engine (tokio-tungstenite, fastwebsockets), driven over loopback sockets by
//! a plain tungstenite client: echo replies, chat fan-out to every member (the sender too),
//! presence frames, pong to a ping, 404 for an unknown route.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

type Client = WebSocket<TcpStream>;

/// A started peer; killed and reaped on drop.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    /// Starts the peer on a port the kernel picks and reads it from the peer's first line
    /// (`peer-tokio listening on ADDR (...)`): no free port picked here for the peer to race
    /// other tests' connections for, no connect probe that could meet itself.
    fn start(engine: &str) -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peer-tokio"))
            .args(["--engine", engine, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("peer-tokio starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("the peer's stderr"));
        let mut first = String::new();
        stderr.read_line(&mut first).expect("the peer's first line");
        let address: SocketAddr = first
            .strip_prefix("peer-tokio listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("{engine} peer did not say where it listens: {first:?}"));
        // Keep draining its stderr so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr.into_inner(), &mut std::io::sink()));
        Peer { child, port: address.port() }
    }

    fn connect(&self, path: &str) -> Result<Client, String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|err| err.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|err| err.to_string())?;
        let url = format!("ws://127.0.0.1:{}{path}", self.port);
        tungstenite::client::client(url.as_str(), stream).map(|(socket, _)| socket).map_err(|err| err.to_string())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(client: &mut Client, json: &str) {
    client.send(Message::text(json)).expect("send");
}

/// The next text message, as JSON; fails after 5 s or on a close.
fn next_json(client: &mut Client) -> Value {
    loop {
        match client.read().expect("a message within 5 s") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON from the peer"),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// The next text message whose `cmd` is `cmd`, skipping others (presence).
fn recv_cmd(client: &mut Client, cmd: &str) -> Value {
    loop {
        let value = next_json(client);
        if value["cmd"] == cmd {
            return value;
        }
    }
}

fn echo_replies(engine: &str) {
    let peer = Peer::start(engine);
    let mut client = peer.connect("/example/socket?ch=solo").expect("upgrade");
    send(&mut client, r#"{"cmd":"echo","param":{"n":1,"s":"héllo"}}"#);
    assert_eq!(recv_cmd(&mut client, "echo")["param"], serde_json::json!({"n":1,"s":"héllo"}));
    send(&mut client, "not json");
    assert_eq!(recv_cmd(&mut client, "error")["param"]["message"], "invalid message");
    client.send(Message::Ping(b"are you there".to_vec().into())).expect("ping");
    let pong = loop {
        if let Message::Pong(payload) = client.read().expect("a pong within 5 s") {
            break payload;
        }
    };
    assert_eq!(&pong[..], b"are you there");
}

fn chat_reaches_every_member(engine: &str) {
    let peer = Peer::start(engine);
    let mut first = peer.connect("/example/socket?ch=room").expect("upgrade");
    let mut second = peer.connect("/example/socket?ch=room").expect("upgrade");
    let joined = recv_cmd(&mut first, "online-update");
    assert_eq!((joined["channel"].as_str(), joined["param"]["connected"].as_bool()), (Some("room"), Some(true)));
    let mut elsewhere = peer.connect("/example/socket?ch=other").expect("upgrade");
    send(&mut second, r#"{"cmd":"chat","param":{"text":"hi all"}}"#);
    for client in [&mut first, &mut second] {
        let chat = recv_cmd(client, "chat");
        assert_eq!((chat["channel"].as_str(), chat["param"]["text"].as_str()), (Some("room"), Some("hi all")));
        assert!(chat["from"].is_string(), "{chat}");
    }
    send(&mut elsewhere, r#"{"cmd":"echo","param":"only me"}"#);
    let first_seen = next_json(&mut elsewhere);
    assert_eq!(first_seen, serde_json::json!({"cmd":"echo","param":"only me"}), "another channel's member got no chat");
    second.close(None).expect("close");
    let left = recv_cmd(&mut first, "online-update");
    assert_eq!(left["param"]["connected"], false);
}

fn unknown_route_is_refused(engine: &str) {
    let peer = Peer::start(engine);
    let refused = peer.connect("/nowhere").expect_err("no upgrade at /nowhere");
    assert!(refused.contains("404"), "{refused}");
}

#[test]
fn fastwebsockets_peer_answers_echo() {
    echo_replies("fastwebsockets");
}

#[test]
fn fastwebsockets_peer_fans_chat_out_to_the_channel() {
    chat_reaches_every_member("fastwebsockets");
}

#[test]
fn fastwebsockets_peer_refuses_unknown_routes() {
    unknown_route_is_refused("fastwebsockets");
}

#[test]
fn tungstenite_peer_answers_echo() {
    echo_replies("tungstenite");
}

#[test]
fn tungstenite_peer_fans_chat_out_to_the_channel() {
    chat_reaches_every_member("tungstenite");
}
