//! The upgrade request: parsing and the accessors an application needs to
//! decide on it.

use super::auth::{parse_basic_auth, Credentials};
use super::headers::head_status;
use super::{HandshakeError, Headers};
use crate::config::Limits;
use crate::extensions::{parse_extensions, ExtensionOffer};

/// A parsed HTTP upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    version: u8,
    headers: Headers,
}

impl Request {
    /// A request from parts an HTTP server has already parsed (hyper,
    /// axum, or any other), to decide on with
    /// [`ServerConfig::accept`](super::ServerConfig::accept): the method,
    /// the request target (path and query), the HTTP/1.x minor version and
    /// the header fields in order. Values that are not UTF-8 are kept
    /// lossily, as [`parse_request`] does.
    ///
    /// ```
    /// use wsstack::handshake::{Request, ServerConfig};
    /// let request = Request::from_parts("GET", "/chat?room=1", 1, [
    ///     ("host", "example.com"),
    ///     ("upgrade", "websocket"),
    ///     ("connection", "Upgrade"),
    ///     ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ///     ("sec-websocket-version", "13"),
    /// ]);
    /// assert_eq!(request.query_param("room").as_deref(), Some("1"));
    /// assert!(ServerConfig::new().accept(&request).is_ok());
    /// ```
    pub fn from_parts<N, V>(
        method: &str,
        target: &str,
        http_minor_version: u8,
        headers: impl IntoIterator<Item = (N, V)>,
    ) -> Request
    where
        N: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut fields = Headers::new();
        for (name, value) in headers {
            fields.push(
                name.as_ref(),
                String::from_utf8_lossy(value.as_ref()).into_owned(),
            );
        }
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            version: http_minor_version,
            headers: fields,
        }
    }

    /// The request method (a WebSocket upgrade must be `GET`).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent, path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The raw query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The query's `name=value` pairs, percent-decoded (`+` as space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect()
    }

    /// The first query value for `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The HTTP minor version (1 for HTTP/1.1).
    pub fn http_minor_version(&self) -> u8 {
        self.version
    }

    /// All header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Cookies from every `Cookie` header, as `(name, value)` pairs.
    pub fn cookies(&self) -> Vec<(&str, &str)> {
        self.headers
            .get_all("cookie")
            .flat_map(|v| v.split(';'))
            .filter_map(|c| {
                let (k, v) = c.split_once('=')?;
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                Some((k.trim(), v))
            })
            .filter(|(k, _)| !k.is_empty())
            .collect()
    }

    /// The cookie named `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The `Origin` header.
    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.header("host")
    }

    /// The `Sec-WebSocket-Key` header.
    pub fn key(&self) -> Option<&str> {
        self.header("sec-websocket-key")
    }

    /// The `Sec-WebSocket-Version` header.
    pub fn websocket_version(&self) -> Option<&str> {
        self.header("sec-websocket-version")
    }

    /// Subprotocols offered in `Sec-WebSocket-Protocol`, in the client's
    /// order of preference.
    pub fn subprotocols(&self) -> Vec<&str> {
        self.headers.tokens("sec-websocket-protocol").collect()
    }

    /// Extensions offered in `Sec-WebSocket-Extensions`, in order.
    pub fn extensions(&self) -> Result<Vec<ExtensionOffer>, HandshakeError> {
        let values: Vec<&str> = self.headers.get_all("sec-websocket-extensions").collect();
        Ok(parse_extensions(&values)?)
    }

    /// HTTP Basic credentials from `Authorization`, if present and
    /// well-formed.
    pub fn basic_auth(&self) -> Option<Credentials> {
        parse_basic_auth(self.header("authorization")?)
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decode `%XX` escapes (and `+` as a space when `plus` is set); invalid
/// escapes are kept as they are, invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str, plus: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse an upgrade request from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete, or the request and the
/// number of bytes it took; bytes after that belong to the WebSocket
/// stream. Fails once the head passes `limits.max_handshake_bytes` or has
/// more than `limits.max_headers` fields, whatever else it contains.
pub fn parse_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let window = &buf[..buf.len().min(limits.max_handshake_bytes)];
    let parsed = req.parse(window);
    let Some(used) = head_status(parsed, buf.len(), limits)? else {
        return Ok(None);
    };
    let request = Request {
        method: req.method.unwrap_or_default().to_owned(),
        target: req.path.unwrap_or_default().to_owned(),
        version: req.version.unwrap_or_default(),
        headers: Headers::from_httparse(req.headers),
    };
    Ok(Some((request, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"GET /chat?room=a%20b&x=1+2&flag HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Cookie: session=abc; theme=\"dark\"\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn parses_the_rfc_sample_and_exposes_its_parts() {
        let (req, used) = parse_request(SAMPLE, &Limits::default()).unwrap().unwrap();
        assert_eq!(used, SAMPLE.len());
        assert_eq!(req.method(), "GET");
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query(), Some("room=a%20b&x=1+2&flag"));
        assert_eq!(req.query_param("room").as_deref(), Some("a b"));
        assert_eq!(req.query_param("x").as_deref(), Some("1 2"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.cookie("session"), Some("abc"));
        assert_eq!(req.cookie("theme"), Some("dark"));
        assert_eq!(req.origin(), Some("http://example.com"));
        assert_eq!(req.subprotocols(), ["chat", "superchat"]);
        assert_eq!(req.key(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(req.http_minor_version(), 1);
    }

    #[test]
    fn every_prefix_is_incomplete_and_trailing_bytes_are_left() {
        for cut in 0..SAMPLE.len() {
            assert_eq!(
                parse_request(&SAMPLE[..cut], &Limits::default()),
                Ok(None),
                "cut {cut}"
            );
        }
        let mut more = SAMPLE.to_vec();
        more.extend_from_slice(&[0x81, 0x80]);
        let (_, used) = parse_request(&more, &Limits::default()).unwrap().unwrap();
        assert_eq!(&more[used..], [0x81, 0x80]);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits::default().with_max_handshake_bytes(300);
        let mut long = b"GET / HTTP/1.1\r\n".to_vec();
        while long.len() < 400 {
            long.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            parse_request(&long, &limits),
            Err(HandshakeError::TooLarge { max: 300 })
        );
        // Without the end, at the limit: too large, not incomplete.
        assert_eq!(
            parse_request(&long[..300], &limits),
            Err(HandshakeError::TooLarge { max: 300 })
        );
        let limits = Limits::default().with_max_headers(4);
        assert_eq!(
            parse_request(SAMPLE, &limits),
            Err(HandshakeError::TooManyHeaders { max: 4 })
        );
        assert!(matches!(
            parse_request(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", &Limits::default()),
            Err(HandshakeError::Malformed(_))
        ));
        assert!(matches!(
            parse_request(b"\x16\x03\x01\x00", &Limits::default()),
            Err(HandshakeError::Malformed(_))
        ));
    }

    #[test]
    fn percent_decoding_edges() {
        assert_eq!(percent_decode("%41%4a%", false), "AJ%");
        assert_eq!(percent_decode("%4", false), "%4");
        assert_eq!(percent_decode("%zz+", false), "%zz+");
        assert_eq!(percent_decode("%ff", false), "\u{fffd}");
    }
}
