//! What a client is told, and which names it may use, against the binary over real sockets:
//! error messages in the protocol's words (no Rust type names), the channel-name alphabet at
//! the upgrade, `join-room`, the admin API and `Service::join`, and the example chat's
//! checks (no empty text, a bounded self-chosen name passed on for anonymous senders).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// Names the alphabet refuses, each for a different reason.
const BAD_NAMES: [&str; 6] = ["room 1", "../..", "a/b", "evil\u{202e}gnp.exe", "tab\there", ".."];

fn percent(name: &str) -> String {
    form_urlencoded::byte_serialize(name.as_bytes()).collect()
}

fn error_of(client: &mut Client) -> (String, String) {
    let error = recv_cmd(client, "error");
    let code = error["param"]["code"].as_str().unwrap().to_string();
    (code, error["param"]["message"].as_str().unwrap().to_string())
}

fn rust_free(told: &str) {
    for word in ["struct", "Inbound", "ChatIn", "Room", "u64", "a map", "a sequence", "at line"] {
        assert!(!told.contains(word), "client message names Rust internals ({word}): {told}");
    }
}

#[test]
fn unreadable_messages_are_told_what_to_send() {
    let binary = Binary::start(&["--workers", "1"]);
    let mut client = connect(binary.addr, "/example/socket?ch=words");
    for bad in ["[1,2]", r#"{"cmd": 5}"#, r#"{"param": 1}"#, "{not json", r#"{"cmd":"chat","channel":7}"#] {
        client.send(tungstenite::Message::text(bad)).unwrap();
        let (code, told) = error_of(&mut client);
        assert_eq!(code, "bad-json", "{bad}");
        assert!(told.contains("JSON object") && told.contains("\"cmd\""), "{bad}: {told}");
        rust_free(&told);
    }
    let wrong_params = [
        (json!({"cmd": "chat", "param": [1, 2]}), r#"expected {"text": string, "name"?: string}"#),
        (json!({"cmd": "chat", "param": {"txt": "typo"}}), "missing field `text`"),
        (json!({"cmd": "chat", "param": {"text": 5}}), "expected a string"),
        (
            json!({"cmd": "join-room", "param": "lobby"}),
            r#"expected {"room": string, "since"?: number, "epoch"?: string}: invalid type: string "lobby", expected a JSON object"#,
        ),
    ];
    for (message, expected) in wrong_params {
        send(&mut client, message.clone());
        let (code, told) = error_of(&mut client);
        assert_eq!(code, "bad-param", "{message}");
        assert!(told.contains(expected), "{message}: {told}");
        rust_free(&told);
    }
    send(&mut client, json!({"cmd": "echo", "param": "still open"}));
    assert_eq!(recv_cmd(&mut client, "echo")["param"], "still open");
}

#[test]
fn the_upgrade_refuses_names_outside_the_alphabet() {
    let binary = Binary::start(&["--workers", "1"]);
    for name in BAD_NAMES {
        let request = UPGRADE.replace("ch=raw", &format!("ch={}", percent(name)));
        let reply = raw_exchange(binary.addr, &[request.as_bytes()], Duration::ZERO);
        assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{name:?}: {reply}");
        assert!(reply.contains("letters, digits"), "the refusal states the rule: {reply}");
    }
    let long = "a".repeat(129);
    let reply =
        raw_exchange(binary.addr, &[UPGRADE.replace("ch=raw", &format!("ch={long}")).as_bytes()], Duration::ZERO);
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    for good in ["lobby", "team_7.general", "user:alice@example.com", "café"] {
        connect(binary.addr, &format!("/example/socket?ch={}", percent(good)));
    }
}

#[test]
fn join_room_refuses_names_outside_the_alphabet() {
    let binary = Binary::start(&["--workers", "1"]);
    let mut client = connect(binary.addr, "/example/socket?ch=home");
    for name in BAD_NAMES {
        send(&mut client, json!({"cmd": "join-room", "param": {"room": name}}));
        let (code, told) = error_of(&mut client);
        assert_eq!(code, "bad-param", "{name:?}");
        assert!(told.contains("letters, digits"), "{told}");
        send(&mut client, json!({"channel": name, "cmd": "echo", "param": 1}));
        assert_eq!(error_of(&mut client).0, "not-member", "{name:?} was not joined");
    }
    send(&mut client, json!({"cmd": "join-room", "param": {"room": "ok-room"}}));
    send(&mut client, json!({"channel": "ok-room", "cmd": "echo", "param": "in"}));
    assert_eq!(recv_cmd(&mut client, "echo")["param"], "in");
}

fn admin(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> String {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw_exchange(addr, &[request.as_bytes()], Duration::ZERO)
}

#[test]
fn the_admin_api_refuses_names_outside_the_alphabet() {
    let binary = Binary::start(&["--workers", "1"]);
    let _member = connect(binary.addr, "/example/socket?ch=lobby");
    for name in BAD_NAMES {
        let body = json!({"to": "channel", "channel": name, "cmd": "notice", "param": {}}).to_string();
        let reply = admin(binary.addr, "POST", "/admin/api/send", &body);
        assert!(reply.starts_with("HTTP/1.1 400 "), "send to {name:?}: {reply}");
        assert!(reply.contains("invalid channel name"), "{reply}");
        let reply = admin(binary.addr, "GET", &format!("/admin/api/channels/{}", percent(name)), "");
        assert!(reply.starts_with("HTTP/1.1 400 "), "channel {name:?}: {reply}");
    }
    let body = json!({"to": "channel", "channel": "lobby", "cmd": "notice", "param": {}}).to_string();
    assert!(admin(binary.addr, "POST", "/admin/api/send", &body).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn service_join_refuses_names_outside_the_alphabet() {
    let server = start_example(config(1));
    let _client = connect(server.local_addr(), "/example/socket?ch=home");
    let id = server.service().connections()[0].id;
    for name in BAD_NAMES {
        assert!(!server.service().join(id, name), "{name:?}");
    }
    assert!(server.service().join(id, "fine-name"));
    server.shutdown();
}

fn chat_of(client: &mut Client) -> Value {
    recv_cmd(client, "chat")["param"].clone()
}

#[test]
fn empty_chat_text_is_refused() {
    let binary = Binary::start(&["--workers", "1"]);
    let mut alice = connect(binary.addr, "/example/socket?ch=quiet");
    let mut bob = connect(binary.addr, "/example/socket?ch=quiet");
    sync(&mut bob);
    for text in ["", "   ", "\n\t"] {
        send(&mut alice, json!({"cmd": "chat", "param": {"text": text}}));
        let (code, told) = error_of(&mut alice);
        assert_eq!(code, "bad-param", "{text:?}");
        assert!(told.contains("must not be empty"), "{told}");
    }
    send(&mut alice, json!({"cmd": "chat", "param": {"text": "x".repeat(4097)}}));
    assert!(error_of(&mut alice).1.contains("4096"));
    send(&mut alice, json!({"cmd": "chat", "param": {"text": "first real line"}}));
    assert_eq!(chat_of(&mut bob)["text"], "first real line", "nothing empty reached bob first");
}

#[test]
fn an_anonymous_chosen_name_is_passed_on_bounded() {
    let binary = Binary::start(&["--workers", "1"]);
    let mut alice = connect(binary.addr, "/example/socket?ch=names");
    let mut bob = connect(binary.addr, "/example/socket?ch=names");
    sync(&mut bob);
    send(&mut alice, json!({"cmd": "chat", "param": {"text": "hi", "name": "  <b>Alice</b> "}}));
    let chat = chat_of(&mut bob);
    assert_eq!(chat["user"], "anonymous");
    assert_eq!(chat["name"], "<b>Alice</b>", "trimmed, passed on as text (the page escapes it)");
    send(&mut alice, json!({"cmd": "chat", "param": {"text": "no name"}}));
    assert!(chat_of(&mut bob).get("name").is_none());
    for bad in ["x".repeat(33), "evil\u{202e}".to_string(), "bell\u{7}".to_string()] {
        send(&mut alice, json!({"cmd": "chat", "param": {"text": "hi", "name": bad}}));
        let (code, told) = error_of(&mut alice);
        assert_eq!(code, "bad-param", "{bad:?}");
        assert!(told.contains("\"name\""), "{told}");
    }
}
