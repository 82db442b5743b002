//! The server's side of the handshake: built-in checks, the application's
//! decision, and the 101 response.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::auth::{constant_time_eq, Credentials};
use super::headers::is_safe_field;
use super::{accept_key, HandshakeError, Headers, Request, Response};
use crate::config::Limits;
use crate::extensions::{self, Agreement, Extension, ExtensionFactory, SharedFactory};

/// The application's own check on a request, run after the built-in ones:
/// `Ok(())` to go on, or a [`Rejection`] with the status to answer.
pub type RequestHook = dyn Fn(&Request) -> Result<(), Rejection> + Send + Sync;

/// Answers plain HTTP requests (no `Upgrade: websocket`), e.g. to serve the
/// page that opens the WebSocket; `None` falls through to the usual 400.
pub type HttpHandler = dyn Fn(&Request) -> Option<Response> + Send + Sync;

/// Chooses a subprotocol from those the client offered (in its order), or
/// none.
pub type SubprotocolHook = dyn Fn(&Request, &[&str]) -> Option<String> + Send + Sync;

/// HTTP Basic authentication policy: a realm and a credential check.
#[derive(Clone)]
pub struct BasicAuth {
    realm: String,
    check: Arc<dyn Fn(&Credentials) -> bool + Send + Sync>,
}

impl BasicAuth {
    /// Check credentials with `check`; failures answer 401 with
    /// `WWW-Authenticate: Basic realm="realm"`.
    pub fn new(
        realm: impl Into<String>,
        check: impl Fn(&Credentials) -> bool + Send + Sync + 'static,
    ) -> BasicAuth {
        BasicAuth {
            realm: realm.into().replace(['"', '\\', '\r', '\n'], ""),
            check: Arc::new(check),
        }
    }

    /// Accept exactly one user and password, compared in constant time.
    pub fn single_user(realm: impl Into<String>, user: &str, password: &str) -> BasicAuth {
        let (user, password) = (user.to_owned(), password.to_owned());
        BasicAuth::new(realm, move |c| {
            // Evaluate both comparisons so timing does not reveal which failed.
            let u = constant_time_eq(c.user.as_bytes(), user.as_bytes());
            let p = constant_time_eq(c.password.as_bytes(), password.as_bytes());
            u & p
        })
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("realm", &self.realm)
            .finish()
    }
}

/// A refused handshake: the HTTP response to send and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The response to send (status, headers, plain-text body); boxed to
    /// keep `Result<_, Rejection>` small.
    pub response: Box<Response>,
    /// Why the request was refused.
    pub error: HandshakeError,
}

impl Rejection {
    /// An application's refusal with `status` (e.g. 404 for an unknown
    /// path).
    pub fn status(status: u16) -> Rejection {
        Rejection::build(status, HandshakeError::Refused(status))
    }

    /// The rejection the server sends for `error`: its status (400 when it
    /// has none), the headers that status calls for, and a short body.
    pub fn from_error(error: HandshakeError) -> Rejection {
        let status = error.status().unwrap_or(400);
        let mut r = Rejection::build(status, error);
        match status {
            426 => r.response.headers.push("Sec-WebSocket-Version", "13"),
            405 => r.response.headers.push("Allow", "GET"),
            _ => {}
        }
        r
    }

    fn build(status: u16, error: HandshakeError) -> Rejection {
        let mut response = Response::new(status);
        let body = format!("Failed to open a WebSocket connection: {error}.\n");
        response
            .headers
            .push("Content-Type", "text/plain; charset=utf-8");
        response
            .headers
            .push("Content-Length", body.len().to_string());
        response.headers.push("Connection", "close");
        response.body = body.into_bytes();
        Rejection {
            response: Box::new(response),
            error,
        }
    }

    /// Add a response header (ignored if it would break HTTP framing).
    pub fn with_header(mut self, name: &str, value: &str) -> Rejection {
        if is_safe_field(name, value) {
            self.response.headers.push(name, value);
        }
        self
    }

    /// The response as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.response.to_bytes()
    }
}

/// An accepted handshake: the 101 response (which the application may
/// still add headers to) and what was negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The `101 Switching Protocols` response.
    pub response: Response,
    /// The subprotocol chosen, if any.
    pub subprotocol: Option<String>,
    /// The extensions accepted: each offer and our response to it, in
    /// negotiation order.
    pub extensions: Vec<Agreement>,
}

impl Accepted {
    /// The response as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.response.to_bytes()
    }
}

/// The server's handshake policy.
///
/// ```
/// use wsstack::handshake::{BasicAuth, Rejection, ServerConfig};
/// let config = ServerConfig::new()
///     .with_allowed_origins(["https://example.com"])
///     .with_basic_auth(BasicAuth::single_user("chat", "alice", "s3cret"))
///     .with_subprotocols(["chat.v2", "chat.v1"])
///     .with_request_hook(|req| {
///         if req.path() == "/chat" { Ok(()) } else { Err(Rejection::status(404)) }
///     })
///     .with_header("X-Powered-By", "wsstack")?;
/// # Ok::<(), wsstack::handshake::HandshakeError>(())
/// ```
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// Limits on the request (and on the WebSocket that follows).
    pub limits: Limits,
    allowed_origins: Option<Vec<String>>,
    basic_auth: Option<BasicAuth>,
    subprotocols: Vec<String>,
    subprotocol_hook: Option<Arc<SubprotocolHook>>,
    request_hook: Option<Arc<RequestHook>>,
    http_handler: Option<Arc<HttpHandler>>,
    extensions: Vec<SharedFactory>,
    extra_headers: Headers,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("limits", &self.limits)
            .field("allowed_origins", &self.allowed_origins)
            .field("basic_auth", &self.basic_auth)
            .field("subprotocols", &self.subprotocols)
            .field("extensions", &self.extensions)
            .field("extra_headers", &self.extra_headers)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Accept any valid WebSocket request, with default limits.
    pub fn new() -> ServerConfig {
        ServerConfig::default()
    }

    /// Set the limits.
    pub fn with_limits(mut self, limits: Limits) -> ServerConfig {
        self.limits = limits;
        self
    }

    /// Accept only these origins (compared ASCII case-insensitively); a
    /// request from another origin, or with none, gets 403.
    pub fn with_allowed_origins<I, S>(mut self, origins: I) -> ServerConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Require HTTP Basic credentials (RFC 7617).
    pub fn with_basic_auth(mut self, auth: BasicAuth) -> ServerConfig {
        self.basic_auth = Some(auth);
        self
    }

    /// Subprotocols we speak, in our order of preference: the first of
    /// these that the client offered is chosen.
    pub fn with_subprotocols<I, S>(mut self, protocols: I) -> ServerConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Choose the subprotocol with a callback instead of a list.
    pub fn with_subprotocol_hook(
        mut self,
        hook: impl Fn(&Request, &[&str]) -> Option<String> + Send + Sync + 'static,
    ) -> ServerConfig {
        self.subprotocol_hook = Some(Arc::new(hook));
        self
    }

    /// The application's decision on each request that passed the built-in
    /// checks.
    pub fn with_request_hook(
        mut self,
        hook: impl Fn(&Request) -> Result<(), Rejection> + Send + Sync + 'static,
    ) -> ServerConfig {
        self.request_hook = Some(Arc::new(hook));
        self
    }

    /// Answer plain HTTP requests on the WebSocket port (for example the
    /// page of a browser client). The response is sent with
    /// `Content-Length` and `Connection: close`, and the connection closed.
    ///
    /// ```
    /// use wsstack::handshake::{Response, ServerConfig};
    /// let config = ServerConfig::new().with_http_handler(|req| {
    ///     (req.path() == "/").then(|| {
    ///         let mut page = Response::new(200);
    ///         page.headers.push("Content-Type", "text/html; charset=utf-8");
    ///         page.body = b"<!doctype html><p>hello".to_vec();
    ///         page
    ///     })
    /// });
    /// ```
    pub fn with_http_handler(
        mut self,
        handler: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static,
    ) -> ServerConfig {
        self.http_handler = Some(Arc::new(handler));
        self
    }

    /// Offer an extension to clients (e.g.
    /// [`PerMessageDeflate`](crate::extensions::PerMessageDeflate)). For each
    /// extension, the first of the client's offers it accepts wins.
    pub fn with_extension(mut self, factory: impl ExtensionFactory + 'static) -> ServerConfig {
        self.extensions.push(Arc::new(factory));
        self
    }

    /// The extension factories, in order.
    pub fn extensions(&self) -> &[SharedFactory] {
        &self.extensions
    }

    /// Build the per-connection transforms for an accepted handshake.
    pub fn build_extensions(&self, accepted: &[Agreement]) -> Vec<Box<dyn Extension>> {
        extensions::build_server(&self.extensions, accepted)
    }

    /// Add a header to every 101 response. Fails for a name or value that
    /// would break HTTP framing.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<ServerConfig, HandshakeError> {
        if !is_safe_field(name, value) {
            return Err(HandshakeError::InvalidHeader(name.to_owned()));
        }
        self.extra_headers.push(name, value);
        Ok(self)
    }

    /// Decide on a parsed request: run the built-in checks (method, HTTP
    /// version, Host, Upgrade, Connection, Sec-WebSocket-Key, version 13,
    /// Origin, Basic auth), then the application's hook, then choose a
    /// subprotocol and extensions. Returns the 101 response to send, or the
    /// rejection to send.
    pub fn accept(&self, req: &Request) -> Result<Accepted, Rejection> {
        if let Some(http) = &self.http_handler {
            if !req.headers().has_token("upgrade", "websocket") {
                // A plain HTTP request: the handler's page, or 404 for a
                // path it does not serve, as a web server would answer.
                let mut response = http(req).unwrap_or_else(|| {
                    Response::with_body(404, "text/plain; charset=utf-8", "Not Found\n")
                });
                if response.header("content-length").is_none() {
                    response
                        .headers
                        .push("Content-Length", response.body.len().to_string());
                }
                response.headers.push("Connection", "close");
                if req.method().eq_ignore_ascii_case("HEAD") {
                    // HEAD: the same head, no body (RFC 9110 §9.3.2).
                    response.body.clear();
                }
                let status = response.status;
                return Err(Rejection {
                    response: Box::new(response),
                    error: HandshakeError::Refused(status),
                });
            }
        }
        self.check(req).map_err(Rejection::from_error)?;
        if let Some(auth) = &self.basic_auth {
            let ok = req.basic_auth().is_some_and(|c| (auth.check)(&c));
            if !ok {
                let challenge = format!("Basic realm=\"{}\", charset=\"UTF-8\"", auth.realm);
                return Err(Rejection::from_error(HandshakeError::Unauthorized)
                    .with_header("WWW-Authenticate", &challenge));
            }
        }
        let offers = req.extensions().map_err(Rejection::from_error)?;
        if let Some(hook) = &self.request_hook {
            hook(req)?;
        }
        let offered = req.subprotocols();
        let subprotocol = match &self.subprotocol_hook {
            Some(hook) => hook(req, &offered).filter(|p| offered.contains(&p.as_str())),
            None => self
                .subprotocols
                .iter()
                .find(|p| offered.contains(&p.as_str()))
                .cloned(),
        };
        let extensions = extensions::negotiate_server(&self.extensions, &offers);
        let key = req.key().unwrap_or_default();
        let mut response = Response::new(101);
        response.headers.push("Upgrade", "websocket");
        response.headers.push("Connection", "Upgrade");
        response
            .headers
            .push("Sec-WebSocket-Accept", accept_key(key));
        if let Some(p) = &subprotocol {
            response.headers.push("Sec-WebSocket-Protocol", p.clone());
        }
        if !extensions.is_empty() {
            let list: Vec<String> = extensions.iter().map(|(_, r)| r.to_string()).collect();
            response
                .headers
                .push("Sec-WebSocket-Extensions", list.join(", "));
        }
        for (n, v) in self.extra_headers.iter() {
            response.headers.push(n, v);
        }
        Ok(Accepted {
            response,
            subprotocol,
            extensions,
        })
    }

    /// The checks RFC 6455 §4.2.1 asks of every request, plus the Origin
    /// allow-list.
    fn check(&self, req: &Request) -> Result<(), HandshakeError> {
        if req.method() != "GET" {
            return Err(HandshakeError::MethodNotGet(req.method().to_owned()));
        }
        if req.http_minor_version() < 1 {
            return Err(HandshakeError::HttpVersion);
        }
        if req.host().is_none() {
            return Err(HandshakeError::MissingHost);
        }
        if !req.headers().has_token("upgrade", "websocket") {
            return Err(HandshakeError::UpgradeHeader);
        }
        if !req.headers().has_token("connection", "upgrade") {
            return Err(HandshakeError::ConnectionHeader);
        }
        if req.headers().count("sec-websocket-key") != 1 {
            return Err(HandshakeError::MissingKey);
        }
        let key = req.key().unwrap_or_default().trim();
        if STANDARD.decode(key).map(|k| k.len()) != Ok(16) {
            return Err(HandshakeError::InvalidKey);
        }
        match req.websocket_version().map(str::trim) {
            None => return Err(HandshakeError::MissingVersion),
            Some("13") => {}
            Some(other) => return Err(HandshakeError::UnsupportedVersion(other.to_owned())),
        }
        if let Some(allowed) = &self.allowed_origins {
            let origin = req.origin();
            if !origin.is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o.trim()))) {
                return Err(HandshakeError::OriginNotAllowed(origin.map(str::to_owned)));
            }
        }
        Ok(())
    }
}
