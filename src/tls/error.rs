//! [`TlsError`]: what went wrong loading TLS material or in a TLS
//! handshake, in words that name the failing part.

use std::fmt;
use std::io;
use std::path::PathBuf;

use rustls::{AlertDescription, CertificateError, InconsistentKeys};

/// Why a TLS configuration could not be built or a TLS connection failed.
///
/// Configuration errors name the file or PEM input and what is missing;
/// certificate errors name the host and what about its certificate is
/// wrong (expired, issued for another name, by an unknown authority, ...).
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read (not found, no permission, ...).
    File {
        /// What the file was to contain, e.g. "certificate chain".
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// The error from the file system.
        error: io::Error,
    },
    /// PEM input that could not be parsed.
    Pem {
        /// What the input was to contain.
        what: &'static str,
        /// Where it came from (a path, or "PEM data").
        source: String,
        /// What is wrong with it.
        detail: String,
    },
    /// PEM input with no `CERTIFICATE` section.
    NoCertificate {
        /// Where it came from (a path, or "PEM data").
        source: String,
    },
    /// PEM input with no private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or
    /// `EC PRIVATE KEY`).
    NoPrivateKey {
        /// Where it came from (a path, or "PEM data").
        source: String,
    },
    /// The private key cannot be used (unsupported type or malformed).
    InvalidPrivateKey(String),
    /// The private key does not belong to the certificate.
    KeyMismatch,
    /// Our own certificate (to present to the peer) cannot be used.
    UnusableCertificate(String),
    /// A CA certificate could not be used as a trust anchor.
    InvalidCaCertificate(String),
    /// No trusted root certificate could be loaded (e.g. the platform
    /// store is empty or unreadable).
    NoRootCertificates(String),
    /// The host name cannot be used to verify a certificate.
    InvalidServerName(String),
    /// The peer's certificate has expired.
    CertificateExpired {
        /// The host we connected to.
        host: String,
        /// When it expired and the time now, when known.
        detail: Option<String>,
    },
    /// The peer's certificate is not valid yet.
    CertificateNotYetValid {
        /// The host we connected to.
        host: String,
        /// When it becomes valid and the time now, when known.
        detail: Option<String>,
    },
    /// The peer's certificate is valid, but not for the host we connected
    /// to.
    WrongHostName {
        /// The host we connected to.
        host: String,
        /// The names the certificate is valid for, when known.
        presented: Vec<String>,
    },
    /// The peer's certificate was not issued by a trusted certificate
    /// authority.
    UnknownIssuer {
        /// The host we connected to.
        host: String,
    },
    /// The peer's certificate has been revoked.
    CertificateRevoked {
        /// The host we connected to.
        host: String,
    },
    /// The peer's certificate was refused for another reason.
    InvalidCertificate {
        /// The host we connected to.
        host: String,
        /// The reason, from rustls.
        reason: String,
    },
    /// The peer presented no certificate although one is required.
    NoPeerCertificate,
    /// The peer ended the handshake with a TLS alert, e.g. because it
    /// refused our client certificate or has none we could match.
    AlertReceived(String),
    /// The server's answer to our TLS hello is not TLS (a plain `ws://` or
    /// `http://` server on a port we reached with `wss://`?).
    NotTls(String),
    /// The peer closed (or reset) the connection in the middle of the TLS
    /// handshake, without saying why.
    HandshakeClosed,
    /// Any other TLS failure (no common protocol version or cipher suite,
    /// a malformed message, ...): rustls' own error.
    Rustls(rustls::Error),
}

impl TlsError {
    /// Turn a rustls error into a `TlsError` naming `host`, the name we
    /// verified the peer's certificate against.
    pub fn from_rustls(error: rustls::Error, host: &str) -> TlsError {
        let host = host.to_owned();
        match error {
            rustls::Error::InvalidCertificate(e) => certificate_error(e, host),
            rustls::Error::NoCertificatesPresented => TlsError::NoPeerCertificate,
            rustls::Error::AlertReceived(alert) => TlsError::AlertReceived(alert_text(alert)),
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => TlsError::KeyMismatch,
            other => TlsError::Rustls(other),
        }
    }

    /// Take the TLS error out of an I/O error from a TLS stream: rustls
    /// reports TLS failures as `InvalidData` I/O errors carrying a
    /// `rustls::Error`, and [`TlsStream`](super::TlsStream) as I/O errors
    /// carrying a `TlsError`. Any other I/O error is given back.
    pub fn from_io(error: io::Error, host: &str) -> Result<TlsError, io::Error> {
        let carries_tls = error
            .get_ref()
            .is_some_and(|inner| inner.is::<TlsError>() || inner.is::<rustls::Error>());
        if !carries_tls {
            return Err(error);
        }
        let kind = error.kind();
        let inner = error.into_inner().expect("checked: it has an inner error");
        match inner.downcast::<TlsError>() {
            Ok(tls) => Ok(*tls),
            Err(inner) => match inner.downcast::<rustls::Error>() {
                Ok(e) => Ok(TlsError::from_rustls(*e, host)),
                Err(inner) => Err(io::Error::new(kind, inner)),
            },
        }
    }

    /// Whether the peer's certificate was refused by our verification.
    pub fn is_certificate_error(&self) -> bool {
        matches!(
            self,
            TlsError::CertificateExpired { .. }
                | TlsError::CertificateNotYetValid { .. }
                | TlsError::WrongHostName { .. }
                | TlsError::UnknownIssuer { .. }
                | TlsError::CertificateRevoked { .. }
                | TlsError::InvalidCertificate { .. }
                | TlsError::NoPeerCertificate
        )
    }
}

fn certificate_error(e: CertificateError, host: String) -> TlsError {
    match e {
        CertificateError::Expired => TlsError::CertificateExpired { host, detail: None },
        CertificateError::ExpiredContext { time, not_after } => TlsError::CertificateExpired {
            host,
            detail: Some(format!(
                "expired {}, now {}",
                utc(not_after.as_secs()),
                utc(time.as_secs())
            )),
        },
        CertificateError::NotValidYet => TlsError::CertificateNotYetValid { host, detail: None },
        CertificateError::NotValidYetContext { time, not_before } => {
            TlsError::CertificateNotYetValid {
                host,
                detail: Some(format!(
                    "valid from {}, now {}",
                    utc(not_before.as_secs()),
                    utc(time.as_secs())
                )),
            }
        }
        CertificateError::NotValidForName => TlsError::WrongHostName {
            host,
            presented: Vec::new(),
        },
        CertificateError::NotValidForNameContext { presented, .. } => TlsError::WrongHostName {
            host,
            presented: presented.into_iter().map(tidy_name).collect(),
        },
        CertificateError::UnknownIssuer => TlsError::UnknownIssuer { host },
        CertificateError::Revoked => TlsError::CertificateRevoked { host },
        other => TlsError::InvalidCertificate {
            host,
            reason: rustls::Error::InvalidCertificate(other).to_string(),
        },
    }
}

/// `DnsName("a.example")` -> `a.example`, `IpAddress(127.0.0.1)` ->
/// `127.0.0.1` (webpki reports the names in their `Debug` form).
fn tidy_name(name: String) -> String {
    let dns = name
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"));
    let ip = name
        .strip_prefix("IpAddress(")
        .and_then(|r| r.strip_suffix(')'));
    match dns.or(ip) {
        Some(inner) => inner.to_owned(),
        None => name,
    }
}

fn alert_text(alert: AlertDescription) -> String {
    let meaning = match alert {
        AlertDescription::BadCertificate => "it refused our certificate",
        AlertDescription::UnknownCA => "it does not trust the issuer of our certificate",
        AlertDescription::CertificateRequired => "it requires a client certificate",
        AlertDescription::CertificateExpired => "it says a certificate has expired",
        AlertDescription::HandshakeFailure => "no acceptable parameters",
        AlertDescription::ProtocolVersion => "no common protocol version",
        AlertDescription::NoApplicationProtocol => "no common application protocol (ALPN)",
        AlertDescription::UnrecognisedName => "it does not serve this host name",
        _ => "",
    };
    if meaning.is_empty() {
        format!("{alert:?}")
    } else {
        format!("{alert:?}: {meaning}")
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC`.
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::File { what, path, error } if error.kind() == io::ErrorKind::NotFound => {
                write!(f, "{what} file {} not found", path.display())
            }
            TlsError::File { what, path, error } => {
                write!(f, "cannot read the {what} file {}: {error}", path.display())
            }
            TlsError::Pem {
                what,
                source,
                detail,
            } => write!(f, "{source}: malformed PEM for the {what}: {detail}"),
            TlsError::NoCertificate { source } => {
                write!(f, "no certificate (BEGIN CERTIFICATE) found in {source}")
            }
            TlsError::NoPrivateKey { source } => write!(
                f,
                "no private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) found in {source}"
            ),
            TlsError::InvalidPrivateKey(why) => write!(f, "unusable private key: {why}"),
            TlsError::KeyMismatch => {
                f.write_str("the private key does not match the certificate's public key")
            }
            TlsError::UnusableCertificate(why) => write!(f, "unusable certificate: {why}"),
            TlsError::InvalidCaCertificate(why) => {
                write!(f, "unusable CA certificate: {why}")
            }
            TlsError::NoRootCertificates(why) => {
                write!(f, "no trusted root certificates: {why}")
            }
            TlsError::InvalidServerName(name) => {
                write!(f, "{name:?} is not a valid TLS server name")
            }
            TlsError::CertificateExpired { host, detail } => {
                write!(f, "the certificate of {host} has expired")?;
                match detail {
                    Some(d) => write!(f, " ({d})"),
                    None => Ok(()),
                }
            }
            TlsError::CertificateNotYetValid { host, detail } => {
                write!(f, "the certificate of {host} is not valid yet")?;
                match detail {
                    Some(d) => write!(f, " ({d})"),
                    None => Ok(()),
                }
            }
            TlsError::WrongHostName { host, presented } if presented.is_empty() => {
                write!(f, "the certificate presented is not valid for {host}")
            }
            TlsError::WrongHostName { host, presented } => write!(
                f,
                "the certificate presented is not valid for {host} (it is for {})",
                presented.join(", ")
            ),
            TlsError::UnknownIssuer { host } => write!(
                f,
                "the certificate of {host} is issued by an unknown certificate authority \
                 (not among the trusted roots)"
            ),
            TlsError::CertificateRevoked { host } => {
                write!(f, "the certificate of {host} has been revoked")
            }
            TlsError::InvalidCertificate { host, reason } => {
                write!(f, "the certificate of {host} was refused: {reason}")
            }
            TlsError::NoPeerCertificate => f.write_str("the peer presented no certificate"),
            TlsError::AlertReceived(alert) => {
                write!(f, "the peer ended the TLS handshake with alert {alert}")
            }
            TlsError::NotTls(detail) => write!(
                f,
                "the server did not answer in TLS (is it a plain ws:// or http:// server?): {detail}"
            ),
            TlsError::HandshakeClosed => f.write_str(
                "the peer closed the connection during the TLS handshake \
                 (does it speak TLS on this port? did it refuse us?)",
            ),
            TlsError::Rustls(e) => write!(f, "TLS failed: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::File { error, .. } => Some(error),
            TlsError::Rustls(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn io_errors_carrying_rustls_errors_are_unwrapped() {
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        let e = TlsError::from_io(io, "example.com").unwrap();
        assert!(e.is_certificate_error());
        assert!(
            e.to_string().contains("unknown certificate authority"),
            "{e}"
        );
        let plain = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(TlsError::from_io(plain, "h").is_err());
    }
}
