//! The client's side of the handshake: building the request and checking
//! the response.

use super::auth::basic_auth_header;
use super::headers::is_safe_field;
use super::{accept_key, generate_key, HandshakeError, Headers, Response, WsUrl};
use crate::config::Limits;
use crate::extensions::{self, Extension, ExtensionFactory, SharedFactory};
use crate::extensions::{parse_extensions, ExtensionOffer};

/// What a successful handshake agreed on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// The extensions the server accepted, with its parameters.
    pub extensions: Vec<ExtensionOffer>,
}

/// An upgrade request to send, built from a `ws://` or `wss://` URL.
///
/// ```
/// use wsstack::handshake::ClientRequest;
/// let req = ClientRequest::new("ws://alice:s3cret@127.0.0.1:9001/chat?room=1")?
///     .with_origin("http://localhost")
///     .with_subprotocols(["chat.v2", "chat.v1"])
///     .with_header("X-Trace", "42")?;
/// let text = String::from_utf8(req.to_bytes()).unwrap();
/// assert!(text.starts_with("GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"));
/// assert!(text.contains("Authorization: Basic YWxpY2U6czNjcmV0\r\n"));
/// # Ok::<(), wsstack::handshake::HandshakeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientRequest {
    url: WsUrl,
    key: String,
    origin: Option<String>,
    subprotocols: Vec<String>,
    extensions: Vec<SharedFactory>,
    credentials: Option<(String, String)>,
    headers: Headers,
    /// Limits on the response (and on the WebSocket that follows).
    pub limits: Limits,
}

impl ClientRequest {
    /// A request for `url`, with a fresh random key; credentials in the
    /// URL (`user:pass@`) become a Basic `Authorization` header.
    pub fn new(url: &str) -> Result<ClientRequest, HandshakeError> {
        let url = WsUrl::parse(url)?;
        Ok(ClientRequest {
            credentials: url.credentials.clone(),
            url,
            key: generate_key(),
            origin: None,
            subprotocols: Vec::new(),
            extensions: Vec::new(),
            headers: Headers::new(),
            limits: Limits::default(),
        })
    }

    /// Send an `Origin` header.
    pub fn with_origin(mut self, origin: impl Into<String>) -> ClientRequest {
        self.origin = Some(origin.into().replace(['\r', '\n'], ""));
        self
    }

    /// Offer these subprotocols, in our order of preference.
    pub fn with_subprotocols<I, S>(mut self, protocols: I) -> ClientRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Offer an extension (e.g.
    /// [`PerMessageDeflate`](crate::extensions::PerMessageDeflate)); offers
    /// are sent in the order added.
    pub fn with_extension(mut self, factory: impl ExtensionFactory + 'static) -> ClientRequest {
        self.extensions.push(std::sync::Arc::new(factory));
        self
    }

    /// Offer a shared extension factory.
    pub fn with_shared_extension(mut self, factory: SharedFactory) -> ClientRequest {
        self.extensions.push(factory);
        self
    }

    /// Build the per-connection transforms for what the server accepted.
    pub fn build_extensions(&self, negotiated: &Negotiated) -> Vec<Box<dyn Extension>> {
        extensions::build_client(&self.extensions, &negotiated.extensions)
    }

    /// Authenticate with HTTP Basic (overrides credentials from the URL).
    /// Fails for a user name containing `:` (RFC 7617 §2 cannot carry it)
    /// or control characters in either part.
    pub fn with_basic_auth(
        mut self,
        user: &str,
        password: &str,
    ) -> Result<ClientRequest, HandshakeError> {
        let control = |s: &str| s.chars().any(char::is_control);
        if user.contains(':') || control(user) || control(password) {
            return Err(HandshakeError::InvalidHeader("Authorization".into()));
        }
        self.credentials = Some((user.to_owned(), password.to_owned()));
        Ok(self)
    }

    /// Add a header. Fails for a name or value that would break HTTP
    /// framing.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<ClientRequest, HandshakeError> {
        if !is_safe_field(name, value) {
            return Err(HandshakeError::InvalidHeader(name.to_owned()));
        }
        self.headers.push(name, value);
        Ok(self)
    }

    /// Set the limits.
    pub fn with_limits(mut self, limits: Limits) -> ClientRequest {
        self.limits = limits;
        self
    }

    /// Use a specific `Sec-WebSocket-Key` (for reproducible tests; real
    /// clients must use a fresh random key, the default).
    pub fn with_key(mut self, key: impl Into<String>) -> ClientRequest {
        self.key = key.into();
        self
    }

    /// The parsed URL.
    pub fn url(&self) -> &WsUrl {
        &self.url
    }

    /// The `Sec-WebSocket-Key` sent.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Host and port to connect to, for `TcpStream::connect`.
    pub fn address(&self) -> (&str, u16) {
        (&self.url.host, self.url.port)
    }

    /// The request as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n",
            self.url.resource,
            self.url.host_header(),
            self.key
        );
        if let Some(origin) = &self.origin {
            head.push_str(&format!("Origin: {origin}\r\n"));
        }
        if !self.subprotocols.is_empty() {
            head.push_str(&format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                self.subprotocols.join(", ")
            ));
        }
        let offers = extensions::client_offers(&self.extensions);
        if !offers.is_empty() {
            let list: Vec<String> = offers.iter().map(ToString::to_string).collect();
            head.push_str(&format!(
                "Sec-WebSocket-Extensions: {}\r\n",
                list.join(", ")
            ));
        }
        if let Some((user, password)) = &self.credentials {
            head.push_str(&format!(
                "Authorization: {}\r\n",
                basic_auth_header(user, password)
            ));
        }
        self.headers.write_to(&mut head);
        head.push_str("\r\n");
        head.into_bytes()
    }

    /// Check the server's response against this request (RFC 6455 §4.1):
    /// status 101, the Upgrade and Connection tokens, the accept key, and a
    /// subprotocol and extensions that were offered. Each failure is a
    /// distinct error.
    pub fn validate_response(&self, resp: &Response) -> Result<Negotiated, HandshakeError> {
        if resp.status != 101 {
            return Err(HandshakeError::UnexpectedStatus {
                status: resp.status,
                reason: resp.reason.clone(),
                location: resp.header("location").map(|l| l.trim().to_owned()),
            });
        }
        if !resp.headers.has_token("upgrade", "websocket") {
            return Err(HandshakeError::UpgradeHeader);
        }
        if !resp.headers.has_token("connection", "upgrade") {
            return Err(HandshakeError::ConnectionHeader);
        }
        if resp.headers.count("sec-websocket-accept") != 1 {
            return Err(HandshakeError::MissingAccept);
        }
        let got = resp
            .header("sec-websocket-accept")
            .unwrap_or_default()
            .trim();
        if got != accept_key(&self.key) {
            return Err(HandshakeError::AcceptMismatch);
        }
        let chosen: Vec<&str> = resp.headers.tokens("sec-websocket-protocol").collect();
        let subprotocol = match chosen.as_slice() {
            [] => None,
            [one] if self.subprotocols.iter().any(|p| p == one) => Some(one.to_string()),
            _ => return Err(HandshakeError::UnofferedSubprotocol(chosen.join(", "))),
        };
        let values: Vec<&str> = resp.headers.get_all("sec-websocket-extensions").collect();
        let extensions = parse_extensions(&values)?;
        extensions::check_server_response(&self.extensions, &extensions)?;
        Ok(Negotiated {
            subprotocol,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_refuses_what_rfc_7617_cannot_carry() {
        let req = ClientRequest::new("ws://h/").unwrap();
        assert!(req.clone().with_basic_auth("a:b", "c").is_err());
        assert!(req.clone().with_basic_auth("a", "b\r\nX: y").is_err());
        let ok = req.with_basic_auth("alice", "pa:ss").unwrap();
        let text = String::from_utf8(ok.to_bytes()).unwrap();
        assert!(text.contains(&crate::handshake::basic_auth_header("alice", "pa:ss")));
    }
}
