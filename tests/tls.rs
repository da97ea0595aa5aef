//! TLS (`--tls-cert`, `--tls-key`) against the real binary: a rustls client upgrades, echoes
//! and closes over TLS 1.3 and 1.2 with ALPN `http/1.1` (and an 8 MiB message through blocked
//! writes); idle TLS connections hold no record buffers and no rustls connection (server RSS
//! per connection); plain pages answer over https, and the admin login cookie is `Secure`; a plain HTTP request, a bad ClientHello, an ALPN
//! offer without http/1.1, a client that does not trust the certificate and a handshake flood
//! are refused without harming anyone else; bad flags stop the server at start; SIGHUP swaps
//! the certificate for new connections while an open one keeps working; a Python `ssl` +
//! `websockets` client chats. The certificates are self-signed fixtures (tests/fixtures/tls/).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::tls::{
    client_config, echo_once, fixture, fixture_der, start_tls, tls13, tls_args, tls_connect, wss, TlsStream,
};
use common::{eventually, Binary};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::json;
use tungstenite::{Message, WebSocket};

fn peer_certificate(socket: &WebSocket<TlsStream>) -> Vec<u8> {
    socket.get_ref().conn.peer_certificates().unwrap()[0].to_vec()
}

/// One HTTP/1.1 request over TLS: the status line's code and the whole answer.
fn https_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tls_connect(addr, tls13());
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    (raw.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0), raw)
}

/// What a raw socket gets back for `bytes` until the server closes (or 10 s pass).
fn raw_reply(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    socket.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    let _ = socket.read_to_end(&mut reply);
    (reply, started.elapsed())
}

#[test]
fn a_rust_client_upgrades_echoes_and_closes_over_tls13_and_tls12() {
    let server = start_tls(&[]);
    let mut socket = wss(server.addr, "/example/socket?ch=tls", tls13());
    assert_eq!(socket.get_ref().conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(socket.get_ref().conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(peer_certificate(&socket), fixture_der("cert-a.pem"));
    echo_once(&mut socket, json!({"over": "tls 1.3"}));
    let big = "x".repeat(60_000); // several TLS records each way
    echo_once(&mut socket, json!(big));
    socket.close(None).unwrap();
    loop {
        match socket.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake over TLS failed: {e}"),
        }
    }

    let tls12 = client_config(&[&rustls::version::TLS12], &[b"http/1.1"]);
    let mut socket = wss(server.addr, "/echo", tls12);
    assert_eq!(socket.get_ref().conn.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    socket.send(Message::binary(vec![7u8; 100_000])).unwrap();
    match socket.read().unwrap() {
        Message::Binary(data) => assert_eq!(data.len(), 100_000),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_message_bigger_than_the_socket_buffers_comes_back_whole_over_tls() {
    // 8 MiB each way: the server's writes block on a full socket many times over (writable
    // interest, rustls' records waiting), and every byte must still arrive in order.
    let server = start_tls(&[]);
    let mut socket = wss(server.addr, "/echo", tls13());
    let payload: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    socket.send(Message::binary(payload.clone())).unwrap();
    match socket.read().unwrap() {
        Message::Binary(data) => assert!(data[..] == payload[..], "the echo differs"),
        other => panic!("unexpected {other:?}"),
    }
    socket.send(Message::text("after")).unwrap();
    assert_eq!(socket.read().unwrap(), Message::text("after"));
}

/// The server's resident memory in KiB.
fn rss_kib(server: &Binary) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

#[test]
fn idle_tls_connections_keep_no_record_buffers() {
    // Each connection upgrades, echoes a message, then idles: what it still holds is its
    // connection, its keys and rustls' post-handshake key schedule, no record buffer and no
    // cipher state. rustls' buffered connection kept a 4 KiB read buffer each (9.6 KiB per
    // idle connection here); the unbuffered one kept for the connection's life ~5.5; our
    // record layer after the handshake ~3.3 (of which ~2 are the plain connection's).
    const CONNS: u64 = 300;
    let server = start_tls(&["--workers", "1"]);
    let mut warm = wss(server.addr, "/echo", tls13()); // the worker's shared buffers exist
    warm.send(Message::binary(vec![1u8; 1000])).unwrap();
    assert!(matches!(warm.read().unwrap(), Message::Binary(d) if d.len() == 1000));
    let before = rss_kib(&server);
    let mut held = Vec::new();
    for i in 0..CONNS {
        let config = if i % 2 == 0 { tls13() } else { client_config(&[&rustls::version::TLS12], &[b"http/1.1"]) };
        let mut socket = wss(server.addr, "/echo", config);
        socket.send(Message::binary(vec![i as u8; 1000])).unwrap();
        match socket.read().unwrap() {
            Message::Binary(data) => assert!(data.len() == 1000 && data.iter().all(|b| *b == i as u8)),
            other => panic!("unexpected {other:?}"),
        }
        held.push(socket);
    }
    std::thread::sleep(Duration::from_millis(2000)); // the sweep releases idle out-queues after a tick
    let per_conn = (rss_kib(&server).saturating_sub(before)) as f64 / CONNS as f64;
    eprintln!("RSS per idle TLS connection: {per_conn:.1} KiB");
    assert!(per_conn < 4.5, "an idle TLS connection holds {per_conn:.1} KiB of server RSS");
    held[0].send(Message::binary(vec![9u8; 10])).unwrap(); // idle, not dropped: still served
    assert!(matches!(held[0].read().unwrap(), Message::Binary(d) if d == vec![9u8; 10]));
}

#[test]
fn healthz_metrics_and_pages_answer_over_https() {
    let server = start_tls(&[]);
    let (status, body) = https_get(server.addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(body.trim_end().ends_with("ok"), "{body}");
    let (status, body) = https_get(server.addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("switchyard_"), "{body}");
    let (status, _) = https_get(server.addr, "/example");
    assert_eq!(status, 200);
    let (status, body) = https_get(server.addr, "/admin/websocket");
    assert!(status == 200 || status == 302, "{status} {body}");
    let (status, _) = https_get(server.addr, "/client/switchyard.js");
    assert_eq!(status, 200);
}

#[test]
fn plain_http_to_the_tls_port_gets_a_400_saying_to_use_tls() {
    let server = start_tls(&[]);
    let (reply, _) = raw_reply(server.addr, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("use https://"), "{reply}");
    // Bytes that are neither TLS nor HTTP: closed, nothing said.
    let (reply, waited) = raw_reply(server.addr, &[0u8; 64]);
    assert!(reply.is_empty() && waited < Duration::from_secs(5), "{reply:?} after {waited:?}");
    let mut socket = wss(server.addr, "/echo", tls13());
    socket.send(Message::text("still here")).unwrap();
    assert_eq!(socket.read().unwrap(), Message::text("still here"));
    let (_, metrics) = https_get(server.addr, "/metrics");
    let counted = r#"switchyard_handshakes_total{result="tls_failed"} 2"#;
    assert!(metrics.contains(counted), "{counted} not in /metrics:\n{metrics}");
}

#[test]
fn a_bad_client_hello_gets_an_alert_and_a_close() {
    let server = start_tls(&[]);
    // A handshake record whose ClientHello is garbage.
    let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c];
    hello.extend_from_slice(&[0xAB; 60]);
    let (reply, waited) = raw_reply(server.addr, &hello);
    assert!(waited < Duration::from_secs(5), "the server held a bad ClientHello for {waited:?}");
    assert!(reply.is_empty() || reply[0] == 0x15, "expected a TLS alert or nothing: {reply:?}");
    // A client offering only h2 over ALPN: refused in the handshake.
    let only_h2 = client_config(&[&rustls::version::TLS13], &[b"h2"]);
    let socket = TcpStream::connect(server.addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut stream =
        StreamOwned::new(ClientConnection::new(only_h2, ServerName::try_from("localhost").unwrap()).unwrap(), socket);
    let mut refused = false;
    while stream.conn.is_handshaking() {
        if stream.conn.complete_io(&mut stream.sock).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "a client without http/1.1 in ALPN was accepted");
    let mut socket = wss(server.addr, "/echo", tls13());
    socket.send(Message::text("fine")).unwrap();
    assert_eq!(socket.read().unwrap(), Message::text("fine"));
}

/// The bytes of a complete, valid ClientHello.
fn client_hello() -> Vec<u8> {
    let mut client = ClientConnection::new(tls13(), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut hello = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut hello).unwrap();
    }
    hello
}

#[test]
fn a_client_that_does_not_trust_the_certificate_leaves_the_server_unharmed() {
    let server = start_tls(&[]);
    let strict = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let socket = TcpStream::connect(server.addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = StreamOwned::new(ClientConnection::new(Arc::new(strict), name).unwrap(), socket);
    let refused = loop {
        if !stream.conn.is_handshaking() {
            break None;
        }
        if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
            break Some(e);
        }
    };
    let refused = refused.expect("a client without the certificate in its roots completed the handshake");
    assert!(refused.to_string().contains("certificate"), "{refused}");
    let mut socket = wss(server.addr, "/echo", tls13());
    socket.send(Message::text("unharmed")).unwrap();
    assert_eq!(socket.read().unwrap(), Message::text("unharmed"));
}

#[test]
fn a_handshake_flood_times_out_while_real_clients_are_served() {
    let server = start_tls(&["--handshake-timeout", "1s", "--workers", "2"]);
    // 200 connections that start a ClientHello and never finish it, 200 that send nothing,
    // and 200 complete ClientHellos (the server answers each, at a signature's cost) whose
    // clients never finish the handshake.
    let partial = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    let mut flood = Vec::new();
    for i in 0..600 {
        let mut socket = TcpStream::connect(server.addr).unwrap();
        match i % 3 {
            0 => socket.write_all(&partial).unwrap(),
            1 => socket.write_all(&client_hello()).unwrap(),
            _ => {}
        }
        flood.push(socket);
    }
    let started = Instant::now();
    let mut socket = wss(server.addr, "/example/socket?ch=flood", tls13());
    echo_once(&mut socket, json!("during the flood"));
    assert!(started.elapsed() < Duration::from_secs(1), "a real client waited {:?}", started.elapsed());
    for mut held in flood {
        held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        match held.read_to_end(&mut Vec::new()) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a half-open handshake outlived the 1 s handshake timeout: {e}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(4), "the flood took {:?} to be dropped", started.elapsed());
    echo_once(&mut socket, json!("after the flood"));
}

/// Runs the binary with `args` and returns its exit status and stderr (it must not start).
fn refused_start(args: &[String]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn bad_tls_flags_stop_the_server_at_start_with_the_reason() {
    let cert = fixture("cert-a.pem").display().to_string();
    let (code, err) = refused_start(&["--tls-cert".into(), cert.clone()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tls-key"), "{err}");
    let cases: [(&str, &str, &str); 4] = [
        ("missing.pem", "key-a.pem", "cannot read the file"),
        ("cert-a.pem", "missing.pem", "cannot read the file"),
        ("not-a-cert.pem", "key-a.pem", "--tls-cert"),
        ("cert-a.pem", "key-b.pem", "does not match"),
    ];
    for (cert, key, reason) in cases {
        let (code, err) = refused_start(&tls_args(&fixture(cert), &fixture(key)));
        assert_ne!(code, Some(0), "{cert} + {key} started");
        assert!(code.is_some(), "{cert} + {key}: killed, not refused");
        assert!(err.contains(reason) && !err.contains("listening on"), "{cert} + {key}: {err}");
    }
    let (code, err) = refused_start(&tls_args(&fixture("key-a.pem"), &fixture("key-a.pem")));
    assert!(code.is_some_and(|c| c != 0) && err.contains("--tls-cert"), "{err}");
}

#[test]
fn sighup_swaps_the_certificate_for_new_connections_and_keeps_open_ones() {
    let dir = std::env::temp_dir().join(format!("switchyard-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(fixture("cert-a.pem"), &cert).unwrap();
    std::fs::copy(fixture("key-a.pem"), &key).unwrap();
    let args = tls_args(&cert, &key);
    let mut server = Binary::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut old = wss(server.addr, "/example/socket?ch=reload", tls13());
    assert_eq!(peer_certificate(&old), fixture_der("cert-a.pem"));

    std::fs::copy(fixture("cert-b.pem"), &cert).unwrap();
    std::fs::copy(fixture("key-b.pem"), &key).unwrap();
    server.signal("HUP");
    eventually(Duration::from_secs(5), "the reload is logged", || {
        server.drain_log().iter().any(|l| l.contains("TLS certificate reloaded"))
    });
    let fresh = wss(server.addr, "/example/socket?ch=reload", tls13());
    assert_eq!(peer_certificate(&fresh), fixture_der("cert-b.pem"));
    echo_once(&mut old, json!("the old connection still works"));

    // A bad pair: logged, the last good one kept.
    std::fs::copy(fixture("key-a.pem"), &key).unwrap();
    server.signal("HUP");
    eventually(Duration::from_secs(5), "the refused reload is logged", || {
        server.drain_log().iter().any(|l| l.contains("not reloaded, keeping the old one"))
    });
    let after_bad = wss(server.addr, "/example/socket?ch=reload", tls13());
    assert_eq!(peer_certificate(&after_bad), fixture_der("cert-b.pem"));
    echo_once(&mut old, json!("and still"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_python_ssl_websockets_client_chats_over_wss() {
    let server = start_tls(&[]);
    let script = r#"
import asyncio, json, ssl, sys
import websockets
async def main(port, ca):
    context = ssl.create_default_context(cafile=ca)
    async with websockets.connect(f"wss://localhost:{port}/example/socket?ch=py", ssl=context) as ws:
        await ws.send(json.dumps({"cmd": "chat", "param": {"text": "hello over tls"}}))
        while True:
            reply = json.loads(await ws.recv())
            if reply["cmd"] == "chat":
                assert reply["param"]["text"] == "hello over tls", reply
                break
        ssl_object = ws.transport.get_extra_info("ssl_object")
        print(ssl_object.version(), ssl_object.selected_alpn_protocol())
asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script, &server.addr.port().to_string(), &fixture("cert-a.pem").display().to_string()])
        .output()
        .expect("python3 runs (scripts/test.sh installs the websockets package)");
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "python client failed: {err}");
    assert!(out.starts_with("TLSv1.3"), "{out}");
}

/// One request over TLS, written as is: the whole answer.
fn https_raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = tls_connect(addr, tls13());
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

fn set_cookie(answer: &str) -> &str {
    answer.lines().find(|line| line.to_ascii_lowercase().starts_with("set-cookie:")).expect("a Set-Cookie header")
}

#[test]
fn the_admin_session_cookie_is_secure_over_tls() {
    let server = start_tls(&["--admin-token", "s3cret-token"]);
    let body = "token=s3cret-token";
    let login = https_raw(
        server.addr,
        &format!(
            "POST /admin/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let cookie = set_cookie(&login);
    for attribute in ["; Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let logout = https_raw(
        server.addr,
        "POST /admin/logout HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(set_cookie(&logout).contains("; Secure"), "{logout}");
}
