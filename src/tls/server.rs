//! [`TlsServerConfig`]: a server's certificate chain and key from PEM, and
//! optional client-certificate verification, built into a
//! `rustls::ServerConfig`.

use std::fmt;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use super::pem::{self, PemSource};
use super::{provider, ServerTlsStream, TlsError, ALPN_HTTP_1_1};

/// TLS settings for a `wss://` server: the certificate chain and private
/// key to present, and optionally a CA whose client certificates are
/// required (or accepted).
///
/// ```no_run
/// use std::net::TcpListener;
/// use wsstack::tls::TlsServerConfig;
/// use wsstack::{connection::Config, handshake::ServerConfig, Connection};
///
/// let tls = TlsServerConfig::from_pem_files("cert.pem", "key.pem")?;
/// let listener = TcpListener::bind("127.0.0.1:9443")?;
/// let (tcp, _) = listener.accept()?;
/// let stream = tls.accept(tcp)?;
/// let (mut conn, _request) = Connection::accept(stream, &ServerConfig::new(), Config::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsServerConfig {
    key: Option<Arc<CertSlot>>,
    client_roots: Option<Arc<RootCertStore>>,
    client_auth_optional: bool,
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field(
                "certificates",
                &self.key.as_ref().map(|k| k.current().cert.len()),
            )
            .field(
                "client_auth_roots",
                &self.client_roots.as_ref().map(|r| r.len()),
            )
            .field("client_auth_optional", &self.client_auth_optional)
            .finish()
    }
}

impl TlsServerConfig {
    /// From a PEM certificate chain (leaf first, then intermediates) and
    /// a PEM private key (PKCS#8, PKCS#1 or SEC1). Fails, naming what is
    /// wrong, if there is no certificate, no key, or the key does not
    /// match the certificate.
    ///
    /// ```
    /// use wsstack::tls::{TlsError, TlsServerConfig};
    /// let e = TlsServerConfig::from_pem(b"", b"").unwrap_err();
    /// assert!(matches!(e, TlsError::NoCertificate { .. }));
    /// assert_eq!(e.to_string(), "no certificate (BEGIN CERTIFICATE) found in the PEM data");
    /// ```
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<TlsServerConfig, TlsError> {
        let chain = pem::certificates(PemSource::Memory(chain_pem), "certificate chain")?;
        let key = pem::private_key(PemSource::Memory(key_pem))?;
        TlsServerConfig::from_key(pem::certified_key(chain, key)?)
    }

    /// [`from_pem`](TlsServerConfig::from_pem) from files.
    pub fn from_pem_files(
        chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<TlsServerConfig, TlsError> {
        let chain = pem::certificates(PemSource::File(chain_path.as_ref()), "certificate chain")?;
        let key = pem::private_key(PemSource::File(key_path.as_ref()))?;
        TlsServerConfig::from_key(pem::certified_key(chain, key)?)
    }

    /// Use a `rustls::ServerConfig` as it is; the `with_client_auth_*`
    /// methods then fail.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> TlsServerConfig {
        TlsServerConfig {
            key: None,
            client_roots: None,
            client_auth_optional: false,
            config,
        }
    }

    fn from_key(key: CertifiedKey) -> Result<TlsServerConfig, TlsError> {
        let key = Arc::new(CertSlot(RwLock::new(Arc::new(key))));
        Ok(TlsServerConfig {
            config: build(key.clone(), None, false)?,
            key: Some(key),
            client_roots: None,
            client_auth_optional: false,
        })
    }

    /// Require a client certificate issued by one of the CA certificates
    /// in `ca_pem`; clients without one fail the handshake.
    pub fn with_client_auth_ca_pem(mut self, ca_pem: &[u8]) -> Result<TlsServerConfig, TlsError> {
        let certs = pem::certificates(PemSource::Memory(ca_pem), "client CA certificates")?;
        self.client_roots = Some(Arc::new(pem::root_store(certs)?));
        self.rebuild()?;
        Ok(self)
    }

    /// [`with_client_auth_ca_pem`](TlsServerConfig::with_client_auth_ca_pem)
    /// from a file.
    pub fn with_client_auth_ca_file(
        mut self,
        path: impl AsRef<Path>,
    ) -> Result<TlsServerConfig, TlsError> {
        let certs = pem::certificates(PemSource::File(path.as_ref()), "client CA certificates")?;
        self.client_roots = Some(Arc::new(pem::root_store(certs)?));
        self.rebuild()?;
        Ok(self)
    }

    /// With client authentication configured: also let clients without a
    /// certificate in (a certificate that is presented must still be
    /// valid). Check [`TlsStream::peer_certificates`](super::TlsStream::peer_certificates)
    /// to tell them apart.
    pub fn client_auth_optional(mut self, optional: bool) -> Result<TlsServerConfig, TlsError> {
        self.client_auth_optional = optional;
        self.rebuild()?;
        Ok(self)
    }

    /// Replace the certificate chain and key without a restart (e.g.
    /// after a renewal): handshakes from now on present the new ones,
    /// connections already open keep theirs. Servers built from this
    /// configuration (or a clone of it) see the change. On error nothing
    /// changes.
    ///
    /// ```no_run
    /// use wsstack::tls::TlsServerConfig;
    /// let tls = TlsServerConfig::from_pem_files("cert.pem", "key.pem")?;
    /// // ... give tls.clone() to a server, then later, on SIGHUP say:
    /// tls.reload_pem_files("cert.pem", "key.pem")?;
    /// # Ok::<(), wsstack::tls::TlsError>(())
    /// ```
    pub fn reload_pem_files(
        &self,
        chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<(), TlsError> {
        let chain = pem::certificates(PemSource::File(chain_path.as_ref()), "certificate chain")?;
        let key = pem::private_key(PemSource::File(key_path.as_ref()))?;
        self.replace(pem::certified_key(chain, key)?)
    }

    /// [`reload_pem_files`](TlsServerConfig::reload_pem_files) from memory.
    pub fn reload_pem(&self, chain_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsError> {
        let chain = pem::certificates(PemSource::Memory(chain_pem), "certificate chain")?;
        let key = pem::private_key(PemSource::Memory(key_pem))?;
        self.replace(pem::certified_key(chain, key)?)
    }

    fn replace(&self, key: CertifiedKey) -> Result<(), TlsError> {
        let slot = self.key.as_ref().ok_or_else(|| {
            TlsError::Rustls(rustls::Error::General(
                "a TlsServerConfig made from a rustls::ServerConfig cannot be reloaded".into(),
            ))
        })?;
        *slot.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        Ok(())
    }

    fn rebuild(&mut self) -> Result<(), TlsError> {
        let key = self.key.clone().ok_or_else(|| {
            TlsError::Rustls(rustls::Error::General(
                "a TlsServerConfig made from a rustls::ServerConfig cannot be changed".into(),
            ))
        })?;
        self.config = build(key, self.client_roots.clone(), self.client_auth_optional)?;
        Ok(())
    }

    /// The built `rustls::ServerConfig` (TLS 1.2 and 1.3, the `ring`
    /// provider, ALPN `http/1.1`).
    pub fn to_rustls(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }

    /// Run the server side of the TLS handshake on an accepted TCP
    /// connection. Set read and write timeouts on `tcp` first to bound it.
    pub fn accept(&self, tcp: TcpStream) -> Result<ServerTlsStream, crate::Error> {
        ServerTlsStream::accept_until(self.config.clone(), tcp, None)
    }

    /// [`accept`](TlsServerConfig::accept), failing with a `TimedOut`
    /// I/O error once `deadline` has passed.
    pub fn accept_until(
        &self,
        tcp: TcpStream,
        deadline: Instant,
    ) -> Result<ServerTlsStream, crate::Error> {
        ServerTlsStream::accept_until(self.config.clone(), tcp, Some(deadline))
    }
}

/// The certificate and key a server presents, replaceable while it runs.
#[derive(Debug)]
struct CertSlot(RwLock<Arc<CertifiedKey>>);

impl CertSlot {
    fn current(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn build(
    key: Arc<CertSlot>,
    client_roots: Option<Arc<RootCertStore>>,
    client_auth_optional: bool,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .map_err(TlsError::Rustls)?;
    let builder = match client_roots {
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let mut verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider);
            if client_auth_optional {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::InvalidCaCertificate(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(key);
    config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
    Ok(Arc::new(config))
}
