//! TLS clients for the tests: rustls over a blocking socket that accepts the fixture
//! certificates (tests/fixtures/tls/), the server binary started with them, and a WebSocket
//! over TLS.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use serde_json::{json, Value};
use switchyard::server::AnyCertificate;
use tungstenite::{Message, WebSocket};

use super::Binary;

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

pub fn fixture_der(name: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(fixture(name)).unwrap().to_vec()
}

pub fn tls_args(cert: &Path, key: &Path) -> Vec<String> {
    vec!["--tls-cert".into(), cert.display().to_string(), "--tls-key".into(), key.display().to_string()]
}

pub fn start_tls(extra: &[&str]) -> Binary {
    let mut args = tls_args(&fixture("cert-a.pem"), &fixture("key-a.pem"));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Binary::start(&args);
    assert!(server.log.iter().any(|l| l.contains("listening on https://")), "{:?}", server.log);
    server
}

pub fn client_config(versions: &[&'static rustls::SupportedProtocolVersion], alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(AnyCertificate::new(provider))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS stream to the server, handshake done.
pub fn tls_connect(addr: SocketAddr, config: Arc<ClientConfig>) -> TlsStream {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = StreamOwned::new(ClientConnection::new(config, name).unwrap(), socket);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).expect("TLS handshake");
    }
    stream
}

pub fn tls13() -> Arc<ClientConfig> {
    client_config(&[&rustls::version::TLS13], &[b"http/1.1"])
}

pub fn wss(addr: SocketAddr, path: &str, config: Arc<ClientConfig>) -> WebSocket<TlsStream> {
    let stream = tls_connect(addr, config);
    let (socket, response) =
        tungstenite::client(format!("wss://localhost:{}{path}", addr.port()), stream).expect("upgrade over TLS");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

pub fn recv_json(socket: &mut WebSocket<TlsStream>) -> Value {
    loop {
        match socket.read().expect("read") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

pub fn echo_once(socket: &mut WebSocket<TlsStream>, param: Value) {
    socket.send(Message::text(json!({"cmd": "echo", "param": param}).to_string())).unwrap();
    loop {
        let reply = recv_json(socket);
        if reply["cmd"] == "echo" {
            assert_eq!(reply["param"], param);
            return;
        }
    }
}
