//! HTTPS for callscribe's own listeners (`serve` with `[tls]`, and `webhook-sink`) on the one TLS stack the
//! project uses: rustls with aws-lc-rs, PEM read by `rustls-pki-types`. poem's own rustls
//! listener would pull in the unmaintained `rustls-pemfile`.

use std::sync::Arc;
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the PEM material cannot serve TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("the certificate file holds no PEM certificate")]
    NoCertificate,
    #[error("the key file holds no PEM private key")]
    NoKey,
    #[error("the client CA file holds no usable PEM certificate")]
    NoClientCa,
    #[error("TLS configuration refused: {0}")]
    Rustls(String),
    #[error("tls.cert_file and tls.key_file must be set together")]
    Incomplete,
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// The API listener's TLS configuration from `[tls]`; `None` serves plain HTTP.
pub fn listener_config(
    settings: &crate::config::TlsConfig,
) -> Result<Option<ServerConfig>, TlsConfigError> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|source| TlsConfigError::Read {
            path: path.display().to_string(),
            source,
        })
    };
    let (cert, key) = match (&settings.cert_file, &settings.key_file) {
        (None, None) if settings.client_ca_file.is_none() => return Ok(None),
        (Some(cert), Some(key)) => (read(cert)?, read(key)?),
        _ => return Err(TlsConfigError::Incomplete),
    };
    let client_ca = settings.client_ca_file.as_deref().map(read).transpose()?;
    server_config(&cert, &key, client_ca.as_deref()).map(Some)
}

/// Installs the process-wide rustls crypto provider (aws-lc-rs). Safe to call twice.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A server configuration from PEM: the certificate chain, its key and, for mutual TLS,
/// the CA that client certificates must chain to.
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: Option<&str>,
) -> Result<ServerConfig, TlsConfigError> {
    install_crypto_provider();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate);
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| TlsConfigError::NoKey)?;
    let builder = ServerConfig::builder();
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok) {
                roots.add(cert).map_err(|_| TlsConfigError::NoClientCa)?;
            }
            if roots.is_empty() {
                return Err(TlsConfigError::NoClientCa);
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A poem acceptor serving TLS. Handshakes run in their own tasks, so a slow or failing
/// client never holds up the others; only completed connections reach the server.
pub struct TlsAcceptor {
    inner: TcpAcceptor,
    tls: tokio_rustls::TlsAcceptor,
    ready_tx: mpsc::Sender<Handshaken>,
    ready_rx: mpsc::Receiver<Handshaken>,
}

type Handshaken = (TlsStream<TcpStream>, LocalAddr, RemoteAddr);

impl TlsAcceptor {
    pub fn new(inner: TcpAcceptor, config: ServerConfig) -> TlsAcceptor {
        let (ready_tx, ready_rx) = mpsc::channel(64);
        TlsAcceptor {
            inner,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            ready_tx,
            ready_rx,
        }
    }
}

impl Acceptor for TlsAcceptor {
    type Io = TlsStream<TcpStream>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> std::io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            tokio::select! {
                Some((stream, local, remote)) = self.ready_rx.recv() => {
                    return Ok((stream, local, remote, Scheme::HTTPS));
                }
                accepted = self.inner.accept() => {
                    let (tcp, local, remote, _) = accepted?;
                    let (tls, ready) = (self.tls.clone(), self.ready_tx.clone());
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                let _ = ready.send((stream, local, remote)).await;
                            }
                            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!("TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    }
}
