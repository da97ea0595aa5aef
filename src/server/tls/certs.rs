//! The server's certificate: read from PEM files, checked (the key must match the
//! certificate), served to every new handshake, and swapped on reload.
//!
//! Owns the files' contents and the `rustls::ServerConfig` every worker shares (ALPN
//! `http/1.1`, TLS 1.2 and 1.3, the ring provider). A reload replaces only the certificate
//! the next handshakes get: connections already established keep their keys, and a bad new
//! pair is refused with the old one kept. It does no socket I/O and never runs on a worker
//! thread's hot path (the resolver is asked once per handshake).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::service::Error;

/// Where the certificate chain and its key are read from.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    /// Both flags or neither: one without the other is a configuration error.
    pub fn from_flags(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<CertFiles>, Error> {
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(CertFiles { cert: cert.to_owned(), key: key.to_owned() })),
            (Some(_), None) => Err(Error::invalid("--tls-cert needs --tls-key (the certificate's private key)")),
            (None, Some(_)) => Err(Error::invalid("--tls-key needs --tls-cert (the certificate chain it signs for)")),
        }
    }

    /// Reads and checks the pair: a readable PEM chain, one readable PEM private key, and the
    /// key matching the first certificate.
    pub fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, Error> {
        let cert_path = self.cert.display();
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| Error::invalid(format!("--tls-cert {cert_path}: {}", pem_error(&e))))?;
        if chain.is_empty() {
            return Err(Error::invalid(format!("--tls-cert {cert_path}: no PEM CERTIFICATE block in the file")));
        }
        let key_path = self.key.display();
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| Error::invalid(format!("--tls-key {key_path}: {}", pem_error(&e))))?;
        let mismatch = |e: rustls::Error| match e {
            rustls::Error::InconsistentKeys(_) => {
                Error::invalid(format!("--tls-key {key_path} does not match --tls-cert {cert_path}: another key pair"))
            }
            other => Error::invalid(format!("--tls-key {key_path} cannot sign for --tls-cert {cert_path}: {other}")),
        };
        let certified = CertifiedKey::from_der(chain, key, provider).map_err(mismatch)?;
        // `from_der` lets a key whose public half it cannot derive through; ring derives all it loads.
        certified.keys_match().map_err(mismatch)?;
        Ok(certified)
    }
}

fn pem_error(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as Pem;
    match error {
        Pem::Io(e) => format!("cannot read the file: {e}"),
        Pem::NoItemsFound => "no PEM block of the expected kind in the file".to_string(),
        other => format!("not a valid PEM file: {other:?}"),
    }
}

/// The certificate new handshakes get; `reload` swaps it.
#[derive(Debug)]
pub struct Certificates {
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Loads the pair once (an error here stops the server from starting).
    pub fn load(files: CertFiles) -> Result<Arc<Certificates>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = RwLock::new(Arc::new(files.load(&provider)?));
        Ok(Arc::new(Certificates { files, provider, current }))
    }

    /// Reads the files again; on success new handshakes use the new pair, on failure the old
    /// one stays (the error says why).
    pub fn reload(&self) -> Result<(), Error> {
        let fresh = Arc::new(self.files.load(&self.provider)?);
        *self.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    /// The configuration every TLS connection of this server is made from.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, Error> {
        let versions: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| Error::invalid(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // After the handshake the traffic keys go to our own record layer (session.rs).
        config.enable_secret_extraction = true;
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone())
    }
}

/// Re-reads the pair on every SIGHUP, on a thread of its own, for the life of the process.
pub fn reload_on_sighup(certificates: Arc<Certificates>) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    std::thread::Builder::new().name("switchyard-tls-reload".to_string()).spawn(move || {
        for _ in signals.forever() {
            match certificates.reload() {
                Ok(()) => log::info!("SIGHUP: TLS certificate reloaded from {}", certificates.files.cert.display()),
                Err(e) => log::error!("SIGHUP: TLS certificate not reloaded, keeping the old one: {e}"),
            }
        }
    })?;
    Ok(())
}
