//! HTTP responses to the upgrade request: parsing (client side) and
//! serialising (server side).

use super::headers::head_status;
use super::{HandshakeError, Headers};
use crate::config::Limits;

/// An HTTP response head: status, reason and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code (101 for an accepted upgrade).
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
    /// A body, for rejections (sent with `Content-Length`).
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status`, its standard reason phrase and no headers.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            reason: reason_phrase(status).to_owned(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A response with `status`, a `Content-Type` and a body: what a
    /// plain-HTTP handler returns to serve a page.
    ///
    /// ```
    /// use wsstack::handshake::Response;
    /// let page = Response::with_body(200, "text/html; charset=utf-8", "<h1>hi</h1>");
    /// assert!(page.to_bytes().starts_with(b"HTTP/1.1 200 OK\r\n"));
    /// ```
    pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        let mut response = Response::new(status);
        response.headers.push("Content-Type", content_type);
        response.body = body.into();
        response
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The response as bytes to send.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        self.headers.write_to(&mut head);
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// The reason phrase RFC 9110 (and RFC 6585 for 428-431, 511) gives a
/// status; a status it does not define gets its class's name.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        511 => "Network Authentication Required",
        s if s < 200 => "Informational",
        s if s < 300 => "Success",
        s if s < 400 => "Redirection",
        s if s < 500 => "Client Error",
        _ => "Server Error",
    }
}

/// Parse a response head from the start of `buf`: `Ok(None)` while
/// incomplete, else the response (without body) and the bytes it took.
/// The same limits as [`parse_request`](super::parse_request) apply.
pub fn parse_response(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(Response, usize)>, HandshakeError> {
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut resp = httparse::Response::new(&mut storage);
    let window = &buf[..buf.len().min(limits.max_handshake_bytes)];
    let parsed = resp.parse(window);
    let Some(used) = head_status(parsed, buf.len(), limits)? else {
        return Ok(None);
    };
    if resp.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let response = Response {
        status: resp.code.unwrap_or_default(),
        reason: resp.reason.unwrap_or_default().to_owned(),
        headers: Headers::from_httparse(resp.headers),
        body: Vec::new(),
    };
    Ok(Some((response, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut r = Response::new(101);
        r.headers.push("Upgrade", "websocket");
        let bytes = r.to_bytes();
        assert_eq!(
            bytes,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        );
        let (parsed, used) = parse_response(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(parsed, r);
        for cut in 0..bytes.len() {
            assert_eq!(parse_response(&bytes[..cut], &Limits::default()), Ok(None));
        }
    }

    #[test]
    fn bad_responses() {
        assert!(matches!(
            parse_response(b"HTTP/1.1 abc OK\r\n\r\n", &Limits::default()),
            Err(HandshakeError::Malformed(_))
        ));
        assert_eq!(
            parse_response(b"HTTP/1.0 101 OK\r\n\r\n", &Limits::default()),
            Err(HandshakeError::HttpVersion)
        );
        let big = vec![b'a'; 20_000];
        assert!(matches!(
            parse_response(&big, &Limits::default()),
            Err(HandshakeError::Malformed(_) | HandshakeError::TooLarge { .. })
        ));
    }
}
