//! [`TlsClientConfig`]: the client's trust roots, optional client
//! certificate and ALPN, built into a `rustls::ClientConfig`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use super::danger::NoCertificateVerification;
use super::pem::{self, PemSource};
use super::{provider, TlsError, ALPN_HTTP_1_1};

/// Which certificate authorities a client trusts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RootCertificates {
    /// Mozilla's root program, bundled with the library (`webpki-roots`):
    /// the same everywhere, updated with the library. The default.
    WebPki,
    /// The platform's store (`rustls-native-certs`), loaded when chosen.
    Platform(Arc<RootCertStore>),
    /// Certificates given by the caller.
    Custom(Arc<RootCertStore>),
}

/// TLS settings for a `wss://` client.
///
/// By default the server's certificate is verified against Mozilla's
/// roots bundled with the library, no client certificate is sent and ALPN
/// offers `http/1.1`.
///
/// ```no_run
/// use wsstack::tls::TlsClientConfig;
///
/// // Trust the platform's store, and present a client certificate.
/// let tls = TlsClientConfig::new()
///     .with_platform_roots()?
///     .with_client_cert_files("client.pem", "client.key")?;
/// let (conn, _) = wsstack::ClientBuilder::new("wss://example.com/").tls(tls).connect()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsClientConfig {
    roots: RootCertificates,
    client_cert: Option<Arc<CertifiedKey>>,
    verify: bool,
    custom: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots = match &self.roots {
            RootCertificates::WebPki => "webpki-roots".to_owned(),
            RootCertificates::Platform(s) => format!("platform ({} roots)", s.len()),
            RootCertificates::Custom(s) => format!("custom ({} roots)", s.len()),
        };
        f.debug_struct("TlsClientConfig")
            .field("roots", &roots)
            .field("client_cert", &self.client_cert.is_some())
            .field("verify", &self.verify)
            .field("custom_rustls_config", &self.custom.is_some())
            .finish()
    }
}

impl Default for TlsClientConfig {
    fn default() -> TlsClientConfig {
        TlsClientConfig::new()
    }
}

impl TlsClientConfig {
    /// Trust Mozilla's roots bundled with the library; no client
    /// certificate.
    pub fn new() -> TlsClientConfig {
        TlsClientConfig {
            roots: RootCertificates::WebPki,
            client_cert: None,
            verify: true,
            custom: None,
        }
    }

    /// Use a `rustls::ClientConfig` as it is (its roots, verifier,
    /// client certificate and ALPN); the other settings here are then
    /// ignored.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> TlsClientConfig {
        TlsClientConfig {
            custom: Some(config),
            ..TlsClientConfig::new()
        }
    }

    /// Trust the platform's certificate store instead (read now). Fails
    /// when no certificate could be loaded from it.
    pub fn with_platform_roots(mut self) -> Result<TlsClientConfig, TlsError> {
        let loaded = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(loaded.certs);
        for e in &loaded.errors {
            log::warn!("platform certificate store: {e}");
        }
        if added == 0 {
            let why = if loaded.errors.is_empty() {
                "the platform's store is empty".to_owned()
            } else {
                let all: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
                format!("the platform's store could not be read: {}", all.join("; "))
            };
            return Err(TlsError::NoRootCertificates(why));
        }
        self.roots = RootCertificates::Platform(Arc::new(store));
        Ok(self)
    }

    /// Trust only the CA certificates in `pem` (one or more `CERTIFICATE`
    /// sections), e.g. a private CA.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<TlsClientConfig, TlsError> {
        let certs = pem::certificates(PemSource::Memory(pem), "CA certificates")?;
        self.roots = RootCertificates::Custom(Arc::new(pem::root_store(certs)?));
        Ok(self)
    }

    /// Trust only the CA certificates in the PEM file at `path`.
    pub fn with_ca_file(mut self, path: impl AsRef<Path>) -> Result<TlsClientConfig, TlsError> {
        let certs = pem::certificates(PemSource::File(path.as_ref()), "CA certificates")?;
        self.roots = RootCertificates::Custom(Arc::new(pem::root_store(certs)?));
        Ok(self)
    }

    /// Trust the CA certificates in `pem` in addition to the current
    /// roots.
    pub fn add_ca_pem(self, pem: &[u8]) -> Result<TlsClientConfig, TlsError> {
        let certs = pem::certificates(PemSource::Memory(pem), "CA certificates")?;
        self.add_roots(certs)
    }

    /// Trust the CA certificates in the PEM file at `path` in addition to
    /// the current roots.
    pub fn add_ca_file(self, path: impl AsRef<Path>) -> Result<TlsClientConfig, TlsError> {
        let certs = pem::certificates(PemSource::File(path.as_ref()), "CA certificates")?;
        self.add_roots(certs)
    }

    fn add_roots(
        mut self,
        certs: Vec<CertificateDer<'static>>,
    ) -> Result<TlsClientConfig, TlsError> {
        let mut store = self.root_store();
        for cert in certs {
            store
                .add(cert)
                .map_err(|e| TlsError::InvalidCaCertificate(e.to_string()))?;
        }
        self.roots = RootCertificates::Custom(Arc::new(store));
        Ok(self)
    }

    /// Present this client certificate chain (PEM, leaf first) and its
    /// private key (PEM: PKCS#8, PKCS#1 or SEC1) when the server asks for
    /// one. Fails if either is missing or the key does not match.
    pub fn with_client_cert_pem(
        mut self,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<TlsClientConfig, TlsError> {
        let chain = pem::certificates(PemSource::Memory(chain_pem), "client certificate")?;
        let key = pem::private_key(PemSource::Memory(key_pem))?;
        self.client_cert = Some(Arc::new(pem::certified_key(chain, key)?));
        Ok(self)
    }

    /// [`with_client_cert_pem`](TlsClientConfig::with_client_cert_pem)
    /// from files.
    pub fn with_client_cert_files(
        mut self,
        chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<TlsClientConfig, TlsError> {
        let chain = pem::certificates(PemSource::File(chain_path.as_ref()), "client certificate")?;
        let key = pem::private_key(PemSource::File(key_path.as_ref()))?;
        self.client_cert = Some(Arc::new(pem::certified_key(chain, key)?));
        Ok(self)
    }

    /// Accept any server certificate: expired, self-signed, issued for
    /// another host. **Dangerous**: anyone on the path can then read and
    /// change the traffic. For tests and development only; trust a
    /// private CA with [`with_ca_pem`](TlsClientConfig::with_ca_pem)
    /// instead wherever possible. (Handshake signatures are still checked.)
    pub fn dangerous_disable_certificate_verification(mut self) -> TlsClientConfig {
        self.verify = false;
        self
    }

    /// Whether server certificates are verified (true unless
    /// [`dangerous_disable_certificate_verification`](TlsClientConfig::dangerous_disable_certificate_verification)
    /// was called).
    pub fn verifies_certificates(&self) -> bool {
        self.verify
    }

    /// The roots trusted.
    pub fn roots(&self) -> &RootCertificates {
        &self.roots
    }

    fn root_store(&self) -> RootCertStore {
        match &self.roots {
            RootCertificates::WebPki => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            RootCertificates::Platform(s) | RootCertificates::Custom(s) => (**s).clone(),
        }
    }

    /// Build the `rustls::ClientConfig` (TLS 1.2 and 1.3, the `ring`
    /// provider, ALPN `http/1.1`).
    pub fn to_rustls(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        if let Some(custom) = &self.custom {
            return Ok(custom.clone());
        }
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .map_err(TlsError::Rustls)?;
        let builder = if self.verify {
            let roots = match &self.roots {
                RootCertificates::WebPki => Arc::new(self.root_store()),
                RootCertificates::Platform(s) | RootCertificates::Custom(s) => s.clone(),
            };
            let verifier =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| TlsError::NoRootCertificates(e.to_string()))?;
            builder.with_webpki_verifier(verifier)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCertificateVerification::new(
                    provider,
                )))
        };
        let mut config = match &self.client_cert {
            Some(key) => builder.with_client_cert_resolver(Arc::new(
                rustls::sign::SingleCertAndKey::from(key.clone()),
            )),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(Arc::new(config))
    }
}
