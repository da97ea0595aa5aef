//! The server's own TLS record layer, which takes over from rustls once the handshake is done:
//! every cipher suite of TLS 1.3 and 1.2 echoes one-record and many-record messages; a
//! KeyUpdate from the client (asking for ours) is followed and answered; a connection idle for
//! seconds still decrypts and encrypts; close_notify ends a connection both ways; a record that
//! does not authenticate gets a bad_record_mac alert and a close.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use common::tls::{client_config, echo_once, start_tls, tls13, tls_connect, wss, TlsStream};
use rustls::crypto::ring::{cipher_suite, default_provider};
use rustls::{ClientConfig, SupportedCipherSuite};
use serde_json::json;
use switchyard::server::AnyCertificate;
use tungstenite::{Message, WebSocket};

/// A client that offers only `suite` (and only its protocol version).
fn only(suite: SupportedCipherSuite) -> std::sync::Arc<ClientConfig> {
    let provider =
        std::sync::Arc::new(rustls::crypto::CryptoProvider { cipher_suites: vec![suite], ..default_provider() });
    let version = match suite {
        SupportedCipherSuite::Tls13(_) => &rustls::version::TLS13,
        SupportedCipherSuite::Tls12(_) => &rustls::version::TLS12,
    };
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(AnyCertificate::new(provider))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.enable_secret_extraction = true;
    std::sync::Arc::new(config)
}

fn echo_binary(socket: &mut WebSocket<TlsStream>, payload: Vec<u8>) {
    socket.send(Message::binary(payload.clone())).unwrap();
    match socket.read().expect("the echo") {
        Message::Binary(data) => assert!(data[..] == payload[..], "the echo differs ({} bytes)", payload.len()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn every_cipher_suite_of_tls13_and_tls12_echoes_one_and_many_records() {
    let server = start_tls(&[]);
    let suites = [
        cipher_suite::TLS13_AES_128_GCM_SHA256,
        cipher_suite::TLS13_AES_256_GCM_SHA384,
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    for suite in suites {
        let mut socket = wss(server.addr, "/echo", only(suite));
        assert_eq!(socket.get_ref().conn.negotiated_cipher_suite(), Some(suite));
        echo_binary(&mut socket, vec![0x5a; 10]);
        let many: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect(); // 5 records each way
        echo_binary(&mut socket, many);
        echo_binary(&mut socket, Vec::new());
        socket.close(None).unwrap();
        while socket.read().is_ok() {}
    }
}

#[test]
fn a_key_update_from_the_client_is_followed_and_answered() {
    let server = start_tls(&[]);
    let mut socket = wss(server.addr, "/echo", only(cipher_suite::TLS13_AES_256_GCM_SHA384));
    for round in 0..3u8 {
        echo_binary(&mut socket, vec![round; 100]);
        // KeyUpdate(update_requested): the server must read with the client's next key and
        // send its own KeyUpdate before its next record.
        socket.get_mut().conn.refresh_traffic_keys().unwrap();
        echo_binary(&mut socket, vec![round; 30_000]); // two records each way on the new keys
    }
    let stream = socket.into_inner();
    #[allow(deprecated)] // rustls' note is about kTLS; here it only reads the sequence numbers
    let secrets = stream.conn.dangerous_extract_secrets().unwrap();
    // Received since the server's last KeyUpdate: the 30,000-byte echo (two records); without
    // the server's update it would count every record since the handshake (two tickets, six
    // echoes: ten or more).
    assert!(secrets.rx.0 <= 3, "the server did not answer the KeyUpdate with its own ({} records)", secrets.rx.0);
}

#[test]
fn a_connection_idle_for_seconds_still_decrypts_and_encrypts() {
    let server = start_tls(&[]);
    let mut tls13_socket = wss(server.addr, "/example/socket?ch=idle", tls13());
    let tls12 = client_config(&[&rustls::version::TLS12], &[b"http/1.1"]);
    let mut tls12_socket = wss(server.addr, "/echo", tls12);
    echo_once(&mut tls13_socket, json!("before the pause"));
    echo_binary(&mut tls12_socket, vec![1; 100]);
    std::thread::sleep(Duration::from_millis(3500)); // several sweeps: everything idle is released
    echo_once(&mut tls13_socket, json!("after the pause"));
    echo_binary(&mut tls12_socket, vec![2; 20_000]);
}

#[test]
fn close_notify_ends_a_connection_both_ways() {
    let server = start_tls(&[]);
    // The client's close_notify: the server closes the connection.
    let mut stream = tls_connect(server.addr, tls13());
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = [0u8; 4096];
    let n = stream.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    stream.conn.send_close_notify();
    stream.flush().unwrap();
    let mut rest = Vec::new();
    let ended = stream.sock.read_to_end(&mut rest); // raw socket: the server's FIN, not a timeout
    assert!(ended.is_ok(), "the server did not close after close_notify: {ended:?}");

    // The server's close: a close_notify before its FIN (rustls reads a clean end, Ok(0)).
    let mut socket = wss(server.addr, "/echo", tls13());
    echo_binary(&mut socket, vec![3; 10]);
    socket.close(None).unwrap();
    loop {
        match socket.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake: {e}"),
        }
    }
    let mut stream = socket.into_inner();
    let mut rest = Vec::new();
    assert_eq!(stream.read_to_end(&mut rest).map_err(|e| e.kind()), Ok(0), "no close_notify from the server");
}

#[test]
fn a_record_that_does_not_authenticate_gets_bad_record_mac_and_a_close() {
    let server = start_tls(&[]);
    for config in [tls13(), client_config(&[&rustls::version::TLS12], &[b"http/1.1"])] {
        let mut socket = wss(server.addr, "/echo", config);
        echo_binary(&mut socket, vec![4; 10]);
        let mut stream = socket.into_inner();
        let mut forged = vec![23, 3, 3, 0, 40];
        forged.extend_from_slice(&[0xa5; 40]);
        stream.sock.write_all(&forged).unwrap();
        let mut rest = Vec::new();
        let error = stream.read_to_end(&mut rest).expect_err("the server answers a forged record with an alert");
        assert_eq!(error.kind(), ErrorKind::InvalidData, "{error}");
        assert!(error.to_string().contains("BadRecordMac"), "{error}");
    }
}
