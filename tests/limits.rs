//! Limits and policies at the upgrade and on a live connection: connection limits, allowed
//! origins, authentication, channels per connection, message rate; and the admin live tap.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard::auth::Refusal;
use switchyard::{example, Profile, Server};
use tungstenite::Message;

fn status_of(reply: &str) -> u16 {
    reply.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn upgrade_status(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buffer = [0u8; 2048];
    let n = std::io::Read::read(&mut stream, &mut buffer).unwrap_or(0);
    let reply = String::from_utf8_lossy(&buffer[..n]).into_owned();
    (status_of(&reply), reply)
}

#[test]
fn the_connection_limit_answers_503_and_frees_its_slot() {
    let server = start_example(switchyard::Config { max_connections: 2, ..config(2) });
    let addr = server.local_addr();
    let first = connect(addr, "/example/socket?ch=full");
    let _second = connect(addr, "/example/socket?ch=full");
    let (status, reply) = upgrade_status(addr, UPGRADE);
    assert_eq!(status, 503, "{reply}");
    assert!(reply.contains("connection limit"));
    drop(first);
    let service = server.service();
    eventually(Duration::from_secs(5), "slot freed", || service.status().connections == 1);
    let (status, _) = upgrade_status(addr, UPGRADE);
    assert_eq!(status, 101);
    assert_eq!(service.status().connections_refused, 1);
    server.shutdown();
}

#[test]
fn only_allowed_origins_may_upgrade() {
    let config = switchyard::Config { allowed_origins: vec!["https://app.example".into()], ..config(1) };
    let server = start_example(config);
    let with_origin =
        |origin: &str| UPGRADE.replace("Host: localhost\r\n", &format!("Host: localhost\r\nOrigin: {origin}\r\n"));
    assert_eq!(upgrade_status(server.local_addr(), &with_origin("https://evil.example")).0, 403);
    assert_eq!(upgrade_status(server.local_addr(), &with_origin("https://app.example")).0, 101);
    assert_eq!(upgrade_status(server.local_addr(), UPGRADE).0, 101, "non-browser clients send no Origin");
    server.shutdown();
}

#[test]
fn an_authenticator_decides_who_connects_and_as_whom() {
    let server = Server::new(config(1))
        .unwrap()
        .authenticate(|request: &switchyard::HttpRequest| match request.query_param("token").as_deref() {
            None => Ok(None),
            Some("alice-token") => Ok(Some(Profile {
                id: "u-alice".into(),
                name: "alice".into(),
                roles: vec!["admin".into()],
                claims: Default::default(),
                anonymous: false,
                expires_at: None,
            })),
            Some("banned") => Err(Refusal::forbidden("this user may not connect")),
            Some(_) => Err(Refusal::unauthorized("bad token")),
        })
        .socket("/example/socket", example::handler())
        .start()
        .unwrap();
    let addr = server.local_addr();
    let with_token = |token: &str| UPGRADE.replace("ch=raw", &format!("ch=raw&token={token}"));
    let (status, reply) = upgrade_status(addr, &with_token("forged"));
    assert_eq!(status, 401);
    assert!(reply.ends_with("bad token\n"), "{reply}");
    assert_eq!(upgrade_status(addr, &with_token("banned")).0, 403);
    let mut alice = connect(addr, "/example/socket?ch=auth&token=alice-token");
    send(&mut alice, json!({"cmd": "chat", "param": {"text": "hi"}}));
    assert_eq!(recv_cmd(&mut alice, "chat")["param"]["user"], "alice");
    let connections = server.service().connections();
    assert_eq!(connections[0].user.id, "u-alice");
    assert_eq!(server.service().online("auth"), vec!["u-alice".to_string()]);
    let mut anonymous = connect(addr, "/example/socket?ch=auth");
    sync(&mut anonymous);
    assert_eq!(server.service().online("auth").len(), 2);
    server.shutdown();
}

#[test]
fn channels_per_connection_are_bounded() {
    let server = start_example(switchyard::Config { max_channels_per_connection: 2, ..config(1) });
    let mut client = connect(server.local_addr(), "/example/socket?ch=one");
    send(&mut client, json!({"cmd": "join-room", "param": {"room": "two"}}));
    send(&mut client, json!({"cmd": "join-room", "param": {"room": "three"}}));
    let error = recv_cmd(&mut client, "error");
    assert_eq!(error["param"]["code"], "limit");
    sync(&mut client);
    assert_eq!(server.service().connections()[0].channels, vec!["one", "two"]);
    send(&mut client, json!({"cmd": "join-room", "param": {"room": "\u{7}bell"}}));
    assert_eq!(recv_cmd(&mut client, "error")["param"]["code"], "bad-param", "control characters are refused");
    server.shutdown();
}

#[test]
fn a_client_over_its_rate_is_refused_then_closed() {
    let server = start_example(switchyard::Config { rate_limit: 5, ..config(1) });
    let mut client = connect(server.local_addr(), "/example/socket?ch=fast");
    for n in 0..8 {
        send(&mut client, json!({"cmd": "echo", "param": n}));
    }
    let mut echoed = 0;
    let mut refused = 0;
    while echoed + refused < 8 {
        let message = recv(&mut client);
        match message["cmd"].as_str() {
            Some("echo") => echoed += 1,
            Some("error") => {
                assert_eq!(message["param"]["code"], "rate-limited");
                refused += 1;
            }
            _ => {}
        }
    }
    assert!((5..=6).contains(&echoed), "a burst of 5 passes: {echoed}");
    for n in 0..20 {
        if client.send(Message::text(json!({"cmd": "echo", "param": n}).to_string())).is_err() {
            break;
        }
    }
    let code = loop {
        match client.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("expected a close: {e}"),
        }
    };
    assert_eq!(code, Some(1008));
    let status = server.service().status();
    assert!(status.rate_limited >= 2 && status.rate_limit_closes == 1, "{status:?}");
    server.shutdown();
}

#[test]
fn the_tap_sees_messages_in_and_out() {
    let server = Server::new(config(2))
        .unwrap()
        .socket("/example/socket", example::handler())
        .tap_socket("/tap", |_: &switchyard::HttpRequest| Ok(None))
        .start()
        .unwrap();
    let addr = server.local_addr();
    let mut tap = connect(addr, "/tap");
    let mut client = connect(addr, "/example/socket?ch=tapped");
    sync(&mut client);
    send(&mut client, json!({"cmd": "chat", "param": {"text": "watched"}}));
    let mut saw_in = false;
    let mut saw_out = false;
    while !(saw_in && saw_out) {
        let event = recv_cmd(&mut tap, "tap");
        let param = &event["param"];
        if param["cmd"] == "chat" && param["dir"] == "in" {
            assert_eq!(param["param"], json!({"text": "watched"}));
            assert_eq!(param["channel"], "tapped");
            saw_in = true;
        }
        if param["cmd"] == "chat" && param["dir"] == "out" {
            assert_eq!(param["target"], "channel");
            assert_eq!(param["param"]["text"], "watched");
            saw_out = true;
        }
    }
    assert!(server.service().connections().iter().all(|c| c.path != "/tap"), "taps are not listed as clients");
    server.shutdown();
}
