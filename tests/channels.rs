//! Messages and channels through real sockets: echo, chat among many clients on two
//! workers (exactly once, in order), rooms, presence, errors, and the Service API used
//! from another thread.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn echo_comes_back_to_the_sender_only() {
    let server = start_example(config(1));
    let mut alice = connect(server.local_addr(), "/example/socket?ch=e");
    let mut bob = connect(server.local_addr(), "/example/socket?ch=e");
    sync(&mut bob);
    send(&mut alice, json!({"cmd": "echo", "param": {"nested": [1, 2, {"x": "é"}]}}));
    assert_eq!(recv_cmd(&mut alice, "echo"), json!({"cmd": "echo", "param": {"nested": [1, 2, {"x": "é"}]}}));
    send(&mut bob, json!({"cmd": "ping"}));
    // Bob's next message other than presence is his own pong: alice's echo never reached him.
    let next = recv(&mut bob);
    assert_eq!(next["cmd"], "pong", "{next}");
    server.shutdown();
}

#[test]
fn chat_among_50_clients_on_two_workers_arrives_once_and_in_order() {
    const CLIENTS: usize = 50;
    const PER_CLIENT: usize = 20;
    let server = start_example(config(2));
    let addr = server.local_addr();
    let mut clients: Vec<Client> = (0..CLIENTS).map(|_| connect(addr, "/example/socket?ch=lobby")).collect();
    for client in &mut clients {
        sync(client);
    }
    let status = server.service().connections();
    let workers: std::collections::HashSet<usize> = status.iter().map(|c| c.worker).collect();
    assert_eq!(workers.len(), 2, "members sit on both workers");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(me, mut client)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for n in 0..PER_CLIENT {
                    send(&mut client, json!({"cmd": "chat", "param": {"text": format!("{me}:{n}")}}));
                }
                let mut next_from: HashMap<String, usize> = HashMap::new();
                let mut received = 0;
                while received < CLIENTS * PER_CLIENT {
                    let message = recv(&mut client);
                    if message["cmd"] != "chat" {
                        continue;
                    }
                    assert_eq!(message["channel"], "lobby");
                    assert_eq!(message["param"]["user"], "anonymous");
                    let text = message["param"]["text"].as_str().unwrap().to_string();
                    let (sender, n) = text.split_once(':').unwrap();
                    let expected = next_from.entry(sender.to_string()).or_insert(0);
                    assert_eq!(n.parse::<usize>().unwrap(), *expected, "from {sender}, in order, exactly once");
                    *expected += 1;
                    received += 1;
                }
                assert!(next_from.values().all(|&n| n == PER_CLIENT));
                client
            })
        })
        .collect();
    let mut clients: Vec<Client> = threads.into_iter().map(|t| t.join().expect("client thread")).collect();
    // Nothing extra arrives: after a sync, the next chat-free stream is empty.
    for client in clients.iter_mut().take(3) {
        send(client, json!({"cmd": "echo", "param": "end"}));
        let message = recv(client);
        assert_eq!(message, json!({"cmd": "echo", "param": "end"}), "no duplicate deliveries");
    }
    server.shutdown();
}

#[test]
fn rooms_join_and_leave() {
    let server = start_example(config(2));
    let addr = server.local_addr();
    let mut alice = connect(addr, "/example/socket?ch=a-home");
    let mut bob = connect(addr, "/example/socket?ch=b-home");
    send(&mut alice, json!({"cmd": "join-room", "param": {"room": "room-1"}}));
    send(&mut bob, json!({"cmd": "join-room", "param": {"room": "room-1"}}));
    sync(&mut alice);
    sync(&mut bob);
    let service = server.service();
    eventually(Duration::from_secs(5), "both in room-1", || service.connections_by_channel("room-1").len() == 2);
    send(&mut alice, json!({"channel": "room-1", "cmd": "chat", "param": {"text": "hi room"}}));
    let got = recv_cmd(&mut bob, "chat");
    assert_eq!(got["channel"], "room-1");
    assert_eq!(got["param"]["text"], "hi room");
    assert!(got["from"].as_str().is_some_and(|f| f.len() == 36), "from is the sender's full id: {got}");
    send(&mut bob, json!({"cmd": "leave-room", "param": {"room": "room-1"}}));
    sync(&mut bob);
    eventually(Duration::from_secs(5), "bob left", || service.connections_by_channel("room-1").len() == 1);
    send(&mut bob, json!({"channel": "room-1", "cmd": "chat", "param": {"text": "still here?"}}));
    let refused = recv_cmd(&mut bob, "error");
    assert_eq!(refused["param"]["code"], "not-member");
    send(&mut alice, json!({"cmd": "leave-room", "param": {"room": "room-1"}}));
    sync(&mut alice);
    eventually(Duration::from_secs(5), "room deleted", || !service.channels().iter().any(|c| c.name == "room-1"));
    server.shutdown();
}

#[test]
fn online_update_goes_to_the_others_on_join_and_leave() {
    let server = start_example(config(2));
    let addr = server.local_addr();
    let mut watcher = connect(addr, "/example/socket?ch=presence");
    sync(&mut watcher);
    let joiner = connect(addr, "/example/socket?ch=presence");
    let joined = recv_cmd(&mut watcher, "online-update");
    let user = joined["param"]["userID"].as_str().unwrap().to_string();
    assert_eq!(joined["param"]["connected"], true);
    assert_eq!(joined["channel"], "presence");
    let ids: Vec<String> = server.service().connections().iter().map(|c| c.id.to_string()).collect();
    assert!(ids.contains(&user), "anonymous users are known by their connection id");
    drop(joiner);
    let left = recv_cmd(&mut watcher, "online-update");
    assert_eq!(left["param"], json!({"userID": user, "connected": false}));
    server.shutdown();
}

#[test]
fn bad_json_gets_an_error_and_the_connection_stays_usable() {
    let server = start_example(config(1));
    let mut client = connect(server.local_addr(), "/example/socket?ch=x");
    for bad in ["{not json", r#"{"param": 1}"#, "[1,2]", r#"{"cmd": 5}"#] {
        client.send(tungstenite::Message::text(bad)).unwrap();
        let error = recv_cmd(&mut client, "error");
        assert_eq!(error["param"]["code"], "bad-json", "for {bad}: {error}");
        let told = error["param"]["message"].as_str().unwrap();
        assert!(told.contains("JSON") && told.contains("\"cmd\""), "says what to send, for {bad}: {told}");
    }
    client.send(tungstenite::Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(recv_cmd(&mut client, "error")["param"]["code"], "bad-message");
    send(&mut client, json!({"cmd": "chat", "param": {"txt": "typo"}}));
    let error = recv_cmd(&mut client, "error");
    assert_eq!(error["param"]["code"], "bad-param");
    assert!(error["param"]["message"].as_str().unwrap().contains("text"), "names what was wrong: {error}");
    send(&mut client, json!({"cmd": "dance"}));
    assert_eq!(recv_cmd(&mut client, "error")["param"]["code"], "unknown-command");
    send(&mut client, json!({"cmd": "echo", "param": "still fine"}));
    assert_eq!(recv_cmd(&mut client, "echo")["param"], "still fine");
    assert_eq!(server.service().status().errors_sent, 7);
    server.shutdown();
}

#[test]
fn heartbeat_is_answered_by_the_server_itself() {
    let server = start_example(config(1));
    let mut client = connect(server.local_addr(), "/example/socket?ch=hb");
    send(&mut client, json!({"cmd": "heartbeat"}));
    assert_eq!(recv(&mut client), json!({"cmd": "heartbeat", "param": null}));
    let status = server.service().status();
    assert_eq!(status.heartbeats, 1);
    server.shutdown();
}

#[test]
fn service_api_from_another_thread() {
    let server = start_example(config(2));
    let addr = server.local_addr();
    let mut a = connect(addr, "/example/socket?ch=svc");
    let mut b = connect(addr, "/example/socket?ch=svc");
    let mut c = connect(addr, "/example/socket?ch=other");
    for client in [&mut a, &mut b, &mut c] {
        sync(client);
    }
    let service = server.service();
    let members = service.connections_by_channel("svc");
    assert_eq!(members.len(), 2);
    assert_eq!(service.online("svc").len(), 2);
    send(&mut a, json!({"cmd": "chat", "param": {"text": "who am I"}}));
    let a_id: uuid::Uuid = recv_cmd(&mut a, "chat")["from"].as_str().unwrap().parse().unwrap();
    assert_eq!(recv_cmd(&mut b, "chat")["from"], a_id.to_string());
    let worker = std::thread::spawn(move || {
        service.write_channel_except("news", &json!({"n": 1}), "svc", a_id).unwrap();
        service.write_all("everyone", &"hello").unwrap();
        assert!(service.write_connection("direct", &42, a_id).unwrap());
        assert_eq!(service.write_user("user", &"you", &a_id.to_string()).unwrap(), 1);
        assert!(!service.write_connection("direct", &0, uuid::Uuid::new_v4()).unwrap());
    });
    worker.join().unwrap();
    let cmds = |client: &mut Client, n: usize| -> Vec<Value> {
        let mut got = Vec::new();
        while got.len() < n {
            let message = recv(client);
            if message["cmd"] != "online-update" {
                got.push(message);
            }
        }
        got
    };
    let to_a: Vec<String> = cmds(&mut a, 3).iter().map(|m| m["cmd"].as_str().unwrap().to_string()).collect();
    assert_eq!(to_a, ["everyone", "direct", "user"], "in the order written, without the excepted news");
    let to_b = cmds(&mut b, 2);
    assert_eq!(to_b[0], json!({"channel": "svc", "cmd": "news", "param": {"n": 1}}));
    assert_eq!(to_b[1]["cmd"], "everyone");
    assert_eq!(recv_cmd(&mut c, "everyone")["param"], "hello");
    server.shutdown();
}
