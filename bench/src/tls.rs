//! `--tls`: the load generator's connections speak TLS (rustls, ring) to a server started with
//! `--tls-cert`/`--tls-key`. `Transport` is the socket a `Client` reads and writes: plain TCP, or
//! TCP under a rustls `ClientConnection` driven by hand over the same non-blocking socket. The
//! server's certificate is not checked (a benchmark against a local, self-signed server).

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use switchyard::server::AnyCertificate;

static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// From now on every new client connection of this process speaks TLS.
pub fn enable() {
    CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(AnyCertificate::new(provider))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // Each connection a full handshake, as a fleet of new browsers would make.
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    });
}

/// A client's socket: plain, or under TLS.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<(ClientConnection, TcpStream)>),
}

impl Transport {
    /// `stream` as is, or wrapped in TLS when `--tls` is on.
    pub fn new(stream: TcpStream) -> io::Result<Self> {
        let Some(config) = CONFIG.get() else { return Ok(Transport::Plain(stream)) };
        let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
        let tls = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
        Ok(Transport::Tls(Box::new((tls, stream))))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(stream) => stream,
            Transport::Tls(both) => &both.1,
        }
    }

    /// Whether a read shorter than the buffer means the socket is drained (under TLS,
    /// rustls may hold more than one read returns: read until `WouldBlock`).
    pub fn short_read_drains(&self) -> bool {
        matches!(self, Transport::Plain(_))
    }
}

/// Writes what rustls holds; `WouldBlock` if the socket refused some of it.
fn send_pending(tls: &mut ClientConnection, socket: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        if tls.write_tls(socket)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (tls, socket) = match self {
            Transport::Plain(stream) => return stream.read(buf),
            Transport::Tls(both) => (&mut both.0, &mut both.1),
        };
        loop {
            match tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            if tls.read_tls(socket)? == 0 {
                return Ok(0);
            }
            tls.process_new_packets().map_err(io::Error::other)?;
            match send_pending(tls, socket) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => other?,
            }
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (tls, socket) = match self {
            Transport::Plain(stream) => return stream.write(buf),
            Transport::Tls(both) => (&mut both.0, &mut both.1),
        };
        send_pending(tls, socket)?;
        let taken = tls.writer().write(buf)?;
        if taken == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match send_pending(tls, socket) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(taken),
            other => other.map(|()| taken),
        }
    }

    /// Writes what rustls still holds (`WouldBlock` while the socket is full).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(both) => send_pending(&mut both.0, &mut both.1),
        }
    }
}

impl Source for Transport {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.register(registry, token, interests),
            Transport::Tls(both) => both.1.register(registry, token, interests),
        }
    }
    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.reregister(registry, token, interests),
            Transport::Tls(both) => both.1.reregister(registry, token, interests),
        }
    }
    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Transport::Plain(stream) => stream.deregister(registry),
            Transport::Tls(both) => both.1.deregister(registry),
        }
    }
}
