//! Reading certificates and private keys from PEM files or memory, with
//! errors that name the input and what is missing.

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// PEM input: bytes in memory or a file, with a name for error messages.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PemSource<'a> {
    /// In memory.
    Memory(&'a [u8]),
    /// A file.
    File(&'a Path),
}

impl PemSource<'_> {
    fn name(&self) -> String {
        match self {
            PemSource::Memory(_) => "the PEM data".to_owned(),
            PemSource::File(path) => path.display().to_string(),
        }
    }

    fn bytes(&self, what: &'static str) -> Result<Vec<u8>, TlsError> {
        match self {
            PemSource::Memory(b) => Ok(b.to_vec()),
            PemSource::File(path) => std::fs::read(path).map_err(|error| TlsError::File {
                what,
                path: path.to_path_buf(),
                error,
            }),
        }
    }
}

fn pem_error(what: &'static str, source: &PemSource<'_>, e: pem::Error) -> TlsError {
    TlsError::Pem {
        what,
        source: source.name(),
        detail: e.to_string(),
    }
}

/// Every certificate in `source`, in order; at least one.
pub(crate) fn certificates(
    source: PemSource<'_>,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = source.bytes(what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(what, &source, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            source: source.name(),
        });
    }
    Ok(certs)
}

/// The first private key in `source` (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn private_key(source: PemSource<'_>) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = source.bytes("private key")?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoPrivateKey {
            source: source.name(),
        }),
        Err(e) => Err(pem_error("private key", &source, e)),
    }
}

/// Certificates into a root store; every one must be usable.
pub(crate) fn root_store(
    certs: Vec<CertificateDer<'static>>,
) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| TlsError::InvalidCaCertificate(e.to_string()))?;
    }
    Ok(store)
}

/// A certificate chain and its key checked against each other with the
/// crypto provider.
pub(crate) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::sign::CertifiedKey, TlsError> {
    rustls::sign::CertifiedKey::from_der(chain, key, &super::provider()).map_err(|e| match e {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsError::KeyMismatch
        }
        rustls::Error::General(why) => TlsError::InvalidPrivateKey(why),
        rustls::Error::InvalidCertificate(e) => {
            TlsError::UnusableCertificate(rustls::Error::InvalidCertificate(e).to_string())
        }
        other => TlsError::InvalidPrivateKey(other.to_string()),
    })
}
