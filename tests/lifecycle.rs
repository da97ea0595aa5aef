//! A connection's life and death: cleanup on every kind of end, `on_close` exactly once,
//! heartbeat and the idle, handshake and close timeouts, protocol violations and their
//! close codes, and graceful shutdown of the binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use switchyard::{Router, Server};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// The example routes plus counters of `on_open` and `on_close`.
fn counting_server(config: switchyard::Config) -> (switchyard::Running, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let opened = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (o, c) = (opened.clone(), closed.clone());
    let handler = Router::new()
        .route("echo", |ctx, conn, _, param: serde_json::Value| {
            ctx.write_connection("echo", &param, conn.id)
                .map(|_| ())
                .map_err(|e| switchyard::HandlerError::other(e.to_string()))
        })
        .route("stall", |_, _, _, millis: u64| {
            // A handler that blocks its worker (what a well-behaved one never does).
            std::thread::sleep(Duration::from_millis(millis));
            Ok(())
        })
        .on_open(move |_, _| {
            o.fetch_add(1, Ordering::SeqCst);
        })
        .on_close(move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
        });
    let server = Server::new(config).unwrap().socket("/socket", handler).start().unwrap();
    (server, opened, closed)
}

#[test]
fn every_kind_of_end_cleans_up_and_runs_on_close_once() {
    let (server, opened, closed) = counting_server(config(2));
    let addr = server.local_addr();
    let service = server.service();
    let mut clients: Vec<Client> = (0..20).map(|i| connect(addr, &format!("/socket?ch=room-{}", i % 3))).collect();
    for client in &mut clients {
        send(client, json!({"cmd": "echo", "param": 1}));
        recv_cmd(client, "echo");
    }
    assert_eq!(service.status().connections, 20);
    assert_eq!(service.channels().len(), 3);
    for (i, mut client) in clients.into_iter().enumerate() {
        if i % 2 == 0 {
            client.close(None).unwrap();
            // Read until the server's close answer ends the session.
            while client.read().is_ok() {}
        } else {
            drop(client); // TCP dropped without a close frame
        }
    }
    eventually(Duration::from_secs(5), "all gone", || service.status().connections == 0);
    assert_eq!(service.channels(), vec![], "no channel left");
    assert!(service.connections().is_empty());
    assert_eq!(opened.load(Ordering::SeqCst), 20);
    eventually(Duration::from_secs(5), "on_close ran", || closed.load(Ordering::SeqCst) == 20);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(closed.load(Ordering::SeqCst), 20, "exactly once each");
    server.shutdown();
}

#[test]
fn a_clean_close_is_answered_with_the_same_code() {
    let (server, _, _) = counting_server(config(1));
    let mut client = connect(server.local_addr(), "/socket?ch=c");
    client
        .close(Some(tungstenite::protocol::CloseFrame { code: CloseCode::Library(4000), reason: "bye".into() }))
        .unwrap();
    loop {
        match client.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 4000);
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("no close answer: {e}"),
        }
    }
    server.shutdown();
}

#[test]
fn a_client_that_ignores_pings_is_closed_after_the_idle_timeout() {
    let mut config = config(1);
    config.ping_interval = Duration::from_millis(100);
    config.idle_timeout = Duration::from_millis(400);
    let (server, _, closed) = counting_server(config);
    // A raw client: it upgrades, then never reads or answers anything.
    let mut silent = TcpStream::connect(server.local_addr()).unwrap();
    silent.write_all(UPGRADE.replace("/example/socket?ch=raw", "/socket?ch=quiet").as_bytes()).unwrap();
    // A live client that answers pings (tungstenite does while reading) stays.
    let mut live = connect(server.local_addr(), "/socket?ch=quiet");
    set_timeout(&mut live, Duration::from_millis(50));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1000) {
        let _ = live.read();
    }
    eventually(Duration::from_secs(3), "silent client closed", || closed.load(Ordering::SeqCst) == 1);
    assert!(start.elapsed() >= Duration::from_millis(350));
    let mut received = Vec::new();
    silent.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = silent.read_to_end(&mut received);
    let pings = received.windows(2).filter(|w| w == &[0x89, 0x00]).count();
    assert!(pings >= 2, "the server pinged it: {received:02x?}");
    let close_at = received.windows(2).position(|w| w[0] == 0x88).expect("a close frame");
    assert_eq!(&received[close_at + 2..close_at + 4], &1001u16.to_be_bytes());
    assert_eq!(server.service().status().connections, 1, "the live client is still there");
    assert_eq!(server.service().status().idle_closes, 1);
    server.shutdown();
}

#[test]
fn a_half_sent_upgrade_is_closed_after_the_handshake_timeout() {
    let mut config = config(1);
    config.handshake_timeout = Duration::from_millis(300);
    let (server, opened, _) = counting_server(config);
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(&UPGRADE.as_bytes()[..40]).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let start = Instant::now();
    let mut rest = Vec::new();
    let result = stream.read_to_end(&mut rest);
    assert!(result.is_ok(), "closed by the server, not timed out: {result:?}");
    assert!(start.elapsed() >= Duration::from_millis(250) && start.elapsed() < Duration::from_secs(2));
    assert_eq!(opened.load(Ordering::SeqCst), 0);
    assert_eq!(server.service().status().handshake_timeouts, 1);
    server.shutdown();
}

/// Upgrades a raw socket on the example route and returns it.
fn raw_upgraded(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(UPGRADE.as_bytes()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    stream
}

/// Sends `bytes` on an upgraded socket and returns the close code the server answers with.
fn close_code_for(addr: std::net::SocketAddr, bytes: &[u8]) -> u16 {
    let mut stream = raw_upgraded(addr);
    stream.write_all(bytes).unwrap();
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    let mut at = 0;
    while at + 2 <= received.len() {
        let (opcode, len) = (received[at] & 0x0f, (received[at + 1] & 0x7f) as usize);
        let (header, len) = match len {
            126 => (4, u16::from_be_bytes([received[at + 2], received[at + 3]]) as usize),
            n => (2, n),
        };
        if opcode == 8 {
            return u16::from_be_bytes([received[at + header], received[at + header + 1]]);
        }
        at += header + len;
    }
    panic!("no close frame in {received:02x?}");
}

#[test]
fn protocol_violations_get_the_right_close_codes() {
    let server = start_example(config(1));
    let addr = server.local_addr();
    let unmasked = [0x81u8, 0x02, b'h', b'i'];
    assert_eq!(close_code_for(addr, &unmasked), 1002, "unmasked frame");
    assert_eq!(close_code_for(addr, &client_frame(0x81, &[0xc3, 0x28])), 1007, "invalid UTF-8");
    assert_eq!(close_code_for(addr, &client_frame(0x82, &vec![0; 70_000])), 1009, "oversized");
    assert_eq!(close_code_for(addr, &client_frame(0xC1, b"x")), 1002, "reserved bit");
    assert_eq!(close_code_for(addr, &client_frame(0x83, b"x")), 1002, "reserved opcode");
    assert_eq!(server.service().status().protocol_closes, 5);
    assert_eq!(server.service().status().message_too_big_closes, 1);
    assert_eq!(server.service().status().connections, 0);
    server.shutdown();
}

#[test]
fn shutdown_closes_clients_with_1001_and_exits_0() {
    let mut binary = Binary::start(&["--workers", "2"]);
    let mut clients: Vec<Client> = (0..4).map(|_| connect(binary.addr, "/example/socket?ch=bye")).collect();
    for client in &mut clients {
        sync(client);
    }
    binary.signal("TERM");
    for client in &mut clients {
        loop {
            match client.read() {
                Ok(Message::Close(Some(frame))) => {
                    assert_eq!(frame.code, CloseCode::Away);
                    break;
                }
                Ok(_) => continue,
                Err(e) => panic!("no 1001 close: {e}"),
            }
        }
    }
    let status = binary.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(!binary.drain_log().iter().any(|l| l.contains("panicked")), "{:?}", binary.log);
    assert!(binary.log.iter().any(|l| l.contains("with 2 workers")), "start line: {:?}", binary.log);
}

#[test]
fn flags_come_from_the_environment_too() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in
        ["--listen", "--workers", "--ping-interval", "--idle-timeout", "--handshake-timeout", "--max-message-bytes"]
    {
        assert!(help.contains(flag), "{flag} in --help");
    }
    assert!(help.contains("SWITCHYARD_WORKERS"));
    let binary = Binary::start_with_env(&[], &[("SWITCHYARD_WORKERS", "3")]);
    assert!(binary.log.iter().any(|l| l.contains("with 3 workers")), "{:?}", binary.log);
}

/// Regression (data and FIN in one read): a client that sends a complete message and at once
/// shuts down its side must be let go right away, not at the idle timeout.
#[test]
fn a_message_followed_by_fin_in_the_same_read_ends_the_session_at_once() {
    let server = start_example(config(1));
    let addr = server.local_addr();
    let service = server.service();
    let message = json!({"cmd": "echo", "param": "last words"}).to_string();
    let frame = client_frame(0x81, message.as_bytes());
    let streams: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = raw_upgraded(addr);
            stream.write_all(&frame).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            stream
        })
        .collect();
    let started = Instant::now();
    eventually(Duration::from_secs(3), "every half-closed session ended", || service.status().connections == 0);
    for mut stream in streams {
        let mut rest = Vec::new();
        stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        assert!(stream.read_to_end(&mut rest).is_ok(), "the server closed the socket");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    server.shutdown();
}

/// Regression: on a server with no socket route at all (plain HTTP only), a response that
/// fills the socket while the client does not read must not panic the worker.
#[test]
fn a_plain_http_only_server_survives_a_client_that_does_not_read() {
    let big = bytes::Bytes::from(vec![b'x'; 16 << 20]);
    let server = Server::new(config(1))
        .unwrap()
        .http("/big", move |_, _| switchyard::HttpResponse::new(200, "text/plain", big.clone()))
        .start()
        .unwrap();
    let addr = server.local_addr();
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled.write_all(b"GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let reply = raw_exchange(addr, &[b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"], Duration::ZERO);
    assert!(reply.starts_with("HTTP/1.1 200"), "the worker still serves: {reply:?}");
    drop(stalled);
    server.shutdown();
}

/// Regression: a handler that panics costs its own message (an `internal` error) and is
/// counted; the worker and every other connection on it carry on.
#[test]
fn a_panicking_handler_costs_one_message_not_the_worker() {
    let handler = Router::new()
        .route("boom", |_, _, _, _: serde_json::Value| -> switchyard::HandlerResult { panic!("handler bug") })
        .route("echo", |ctx, conn, _, param: serde_json::Value| {
            ctx.write_connection("echo", &param, conn.id)
                .map(|_| ())
                .map_err(|e| switchyard::HandlerError::other(e.to_string()))
        })
        .on_open(|_, conn| {
            if conn.channel.as_ref() == "cursed" {
                panic!("on_open bug");
            }
        });
    let server = Server::new(config(1)).unwrap().socket("/socket", handler).start().unwrap();
    let addr = server.local_addr();
    let service = server.service();
    let mut victim = connect(addr, "/socket?ch=room");
    let mut bystander = connect(addr, "/socket?ch=room");
    send(&mut victim, json!({"cmd": "boom", "param": null}));
    let error = recv_cmd(&mut victim, "error");
    assert_eq!(error["param"]["code"], "internal", "{error}");
    send(&mut victim, json!({"cmd": "echo", "param": "still here"}));
    assert_eq!(recv_cmd(&mut victim, "echo")["param"], "still here");
    send(&mut bystander, json!({"cmd": "echo", "param": 7}));
    assert_eq!(recv_cmd(&mut bystander, "echo")["param"], 7);

    let mut cursed = connect(addr, "/socket?ch=cursed");
    let code = loop {
        match cursed.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    };
    assert_eq!(code, Some(1011));
    send(&mut bystander, json!({"cmd": "echo", "param": 8}));
    assert_eq!(recv_cmd(&mut bystander, "echo")["param"], 8);
    assert_eq!(service.status().handler_panics, 2);
    server.shutdown();
}

/// A burst of connects larger than one loop turn accepts (64), then all of them dropped at
/// once, more than one turn closes: every connection is still accepted without a new connect
/// to wake the listener (it is edge-triggered), every session ends once, and the worker
/// serves afterwards.
#[test]
fn a_burst_bigger_than_a_turn_is_accepted_and_its_drop_cleaned_up() {
    const BURST: usize = 300;
    let (server, opened, closed) = counting_server(config(1));
    let addr = server.local_addr();
    let service = server.service();
    // The one worker is held up in a handler while the connects land, so all of them wait in
    // the listen backlog behind a single listener event.
    let mut staller = connect(addr, "/socket?ch=stall");
    send(&mut staller, json!({"cmd": "stall", "param": 400}));
    std::thread::sleep(Duration::from_millis(50));
    let streams: Vec<TcpStream> = (0..BURST).map(|_| TcpStream::connect(addr).expect("connect")).collect();
    let mut clients = Vec::with_capacity(BURST);
    for (i, stream) in streams.into_iter().enumerate() {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let url = format!("ws://{addr}/socket?ch=burst");
        let (client, _) = tungstenite::client::client(url.as_str(), stream)
            .unwrap_or_else(|e| panic!("connection {i} of the burst was not upgraded: {e}"));
        clients.push(client);
    }
    eventually(Duration::from_secs(5), "the burst open", || opened.load(Ordering::SeqCst) == BURST + 1);
    assert_eq!(service.status().connections, BURST as u64 + 1);
    drop(clients);
    eventually(Duration::from_secs(10), "every session ended once", || {
        closed.load(Ordering::SeqCst) == BURST && service.status().connections == 1
    });
    let mut after = connect(addr, "/socket?ch=burst");
    send(&mut after, json!({"cmd": "echo", "param": 1}));
    assert_eq!(recv_cmd(&mut after, "echo")["param"], 1);
    server.shutdown();
}
