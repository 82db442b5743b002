//! `TlsServerConfig` and `TlsClientConfig` refuse unusable input with an
//! error naming what is wrong: a missing file, PEM without a certificate
//! or key, malformed PEM, a key that does not match its certificate. No
//! network.

mod support;
mod support_tls;

use support_tls::{Pki, TempDir};
use wsstack::tls::{TlsClientConfig, TlsError, TlsServerConfig};

#[test]
fn server_config_from_good_pem_files_and_memory() {
    let pki = Pki::new();
    TlsServerConfig::from_pem_files(&pki.server.cert, &pki.server.key).unwrap();
    let config = TlsServerConfig::from_pem(
        pki.server.cert_pem.as_bytes(),
        pki.server.key_pem.as_bytes(),
    )
    .unwrap()
    .with_client_auth_ca_pem(pki.ca_pem.as_bytes())
    .unwrap()
    .client_auth_optional(true)
    .unwrap();
    assert_eq!(
        config.to_rustls().alpn_protocols,
        vec![b"http/1.1".to_vec()]
    );
    // A chain: leaf then CA.
    let chain = format!("{}{}", pki.server.cert_pem, pki.ca_pem);
    TlsServerConfig::from_pem(chain.as_bytes(), pki.server.key_pem.as_bytes()).unwrap();
}

#[test]
fn missing_files_are_named() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("nope.pem");
    let e = TlsServerConfig::from_pem_files(&missing, &pki.server.key).unwrap_err();
    assert!(
        matches!(
            e,
            TlsError::File {
                what: "certificate chain",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("certificate chain file {} not found", missing.display())
    );
    let e = TlsServerConfig::from_pem_files(&pki.server.cert, &missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("private key file {} not found", missing.display())
    );
    let e = TlsClientConfig::new().with_ca_file(&missing).unwrap_err();
    assert!(e.to_string().contains("CA certificates file"), "{e}");
    // A folder is not a file: the reason is given.
    let e = TlsServerConfig::from_pem_files(pki.dir.path(), &pki.server.key).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("cannot read the certificate chain file"),
        "{e}"
    );
}

#[test]
fn pem_without_the_needed_section_is_named() {
    let pki = Pki::new();
    let dir = TempDir::new("pem");
    // The key where the certificate should be, and the other way round.
    let e = TlsServerConfig::from_pem_files(&pki.server.key, &pki.server.key).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(&pki.server.key.display().to_string()),
        "{e}"
    );
    let e = TlsServerConfig::from_pem_files(&pki.server.cert, &pki.server.cert).unwrap_err();
    assert!(matches!(e, TlsError::NoPrivateKey { .. }), "{e:?}");
    assert!(e.to_string().starts_with("no private key"), "{e}");
    let empty = dir.write("empty.pem", "");
    let e = TlsClientConfig::new().with_ca_file(&empty).unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
    let e = TlsServerConfig::from_pem(pki.server.cert_pem.as_bytes(), b"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) found in the PEM data"
    );
}

#[test]
fn malformed_pem_and_unusable_keys_are_named() {
    let pki = Pki::new();
    let broken = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    let e =
        TlsServerConfig::from_pem(broken.as_bytes(), pki.server.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("malformed PEM for the certificate chain"),
        "{e}"
    );
    let unterminated = "-----BEGIN CERTIFICATE-----\nAAAA\n";
    let e = TlsClientConfig::new()
        .with_ca_pem(unterminated.as_bytes())
        .unwrap_err();
    assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
    let junk_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let e =
        TlsServerConfig::from_pem(pki.server.cert_pem.as_bytes(), junk_key.as_bytes()).unwrap_err();
    assert!(matches!(e, TlsError::InvalidPrivateKey(_)), "{e:?}");
    assert!(e.to_string().starts_with("unusable private key"), "{e}");
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_named() {
    let pki = Pki::new();
    let e = TlsServerConfig::from_pem(
        pki.server.cert_pem.as_bytes(),
        pki.client.key_pem.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(e, TlsError::KeyMismatch), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the private key does not match the certificate's public key"
    );
    let e = TlsClientConfig::new()
        .with_client_cert_files(&pki.client.cert, &pki.server.key)
        .unwrap_err();
    assert!(matches!(e, TlsError::KeyMismatch), "{e:?}");
}

#[test]
fn client_roots() {
    let pki = Pki::new();
    let config = TlsClientConfig::new();
    assert!(config.verifies_certificates());
    assert_eq!(
        config.to_rustls().unwrap().alpn_protocols,
        vec![b"http/1.1".to_vec()]
    );
    let config = config.dangerous_disable_certificate_verification();
    assert!(!config.verifies_certificates());
    config.to_rustls().unwrap();
    // Several CAs in one PEM.
    let both = format!("{}{}", pki.ca_pem, pki.other_ca_pem);
    TlsClientConfig::new()
        .with_ca_pem(both.as_bytes())
        .unwrap()
        .to_rustls()
        .unwrap();
    // The platform store: loaded, or a clear reason why not.
    match TlsClientConfig::new().with_platform_roots() {
        Ok(config) => {
            config.to_rustls().unwrap();
        }
        Err(e) => assert!(matches!(e, TlsError::NoRootCertificates(_)), "{e:?}"),
    }
}
