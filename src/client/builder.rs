//! [`ClientBuilder`]: every client setting in one place, then
//! [`connect`](ClientBuilder::connect).

use std::fmt;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::deadline::Deadline;
use super::proxy::{self, authority, Proxy, ProxySetting};
use super::redirect::{redirect_of, Redirects};
use super::{ClientError, MaybeTlsStream};
use crate::connection::Config;
use crate::driver::client_engine;
use crate::extensions::{ExtensionFactory, SharedFactory};
use crate::handshake::{ClientRequest, Response, WsUrl};
use crate::{Connection, Error, Limits};

/// One attempt's settings, decided before any I/O (by every driver).
pub(crate) struct Plan {
    pub(crate) request: ClientRequest,
    pub(crate) url: WsUrl,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub(crate) proxy: Option<Proxy>,
}

/// What one attempt ended with: a connection, or a redirect to follow.
enum Outcome {
    Connected(Box<(Connection<MaybeTlsStream>, Response)>),
    Redirect {
        status: u16,
        location: Option<String>,
    },
}

/// Builds a client connection: URL, subprotocols, extensions, headers,
/// credentials, timeouts, limits, TLS, redirects and proxy, then
/// [`connect`](ClientBuilder::connect)s in one call.
///
/// Defaults: permessage-deflate offered (with the `deflate` feature), no
/// subprotocol, TCP connect timeout 30 s, handshake timeout 30 s (proxy
/// tunnel, TLS and the WebSocket upgrade together), no read or write
/// timeout afterwards, [`Config::default`], Mozilla's bundled roots for
/// `wss://`, redirects not followed, the proxy from the environment.
///
/// ```no_run
/// use std::time::Duration;
/// use wsstack::{ClientBuilder, Limits};
///
/// let (mut conn, response) = ClientBuilder::new("wss://alice:secret@example.com/chat")
///     .subprotocols(["chat.v2", "chat.v1"])
///     .origin("https://example.com")
///     .header("X-Trace", "42")
///     .handshake_timeout(Some(Duration::from_secs(10)))
///     .read_timeout(Some(Duration::from_secs(60)))
///     .limits(Limits::default().with_max_message_size(1 << 20))
///     .follow_redirects(3)
///     .connect()?;
/// println!("subprotocol: {:?}", response.header("Sec-WebSocket-Protocol"));
/// conn.send("hello")?;
/// # Ok::<(), wsstack::Error>(())
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    url: String,
    subprotocols: Vec<String>,
    deflate: bool,
    extensions: Vec<SharedFactory>,
    headers: Vec<(String, String)>,
    origin: Option<String>,
    basic_auth: Option<(String, String)>,
    connect_timeout: Option<Duration>,
    handshake_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    config: Config,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsClientConfig>,
    max_redirects: usize,
    proxy: ProxySetting,
}

impl fmt::Debug for ClientBuilder {
    /// Passwords (in the URL, the proxy URL or set with
    /// [`basic_auth`](ClientBuilder::basic_auth)) are shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientBuilder");
        d.field("url", &redact(&self.url))
            .field("subprotocols", &self.subprotocols)
            .field("deflate", &self.deflate)
            .field("extensions", &self.extensions)
            .field("headers", &self.headers)
            .field("origin", &self.origin)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(u, _)| (u, "***")),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("config", &self.config);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        let proxy = match &self.proxy {
            ProxySetting::FromEnv => "from the environment".to_owned(),
            ProxySetting::Off => "none".to_owned(),
            ProxySetting::Explicit(url) => redact(url),
        };
        d.field("max_redirects", &self.max_redirects)
            .field("proxy", &proxy)
            .finish()
    }
}

/// `url` with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) if url.contains('@') => "(unparseable URL with credentials)".to_owned(),
        Err(_) => url.to_owned(),
    }
}

impl ClientBuilder {
    /// A client for a `ws://` or `wss://` URL (checked by
    /// [`connect`](ClientBuilder::connect)). Credentials in the URL
    /// (`user:pass@`, percent-decoded) are sent with HTTP Basic.
    pub fn new(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            subprotocols: Vec::new(),
            deflate: true,
            extensions: Vec::new(),
            headers: Vec::new(),
            origin: None,
            basic_auth: None,
            connect_timeout: Some(Duration::from_secs(30)),
            handshake_timeout: Some(Duration::from_secs(30)),
            read_timeout: None,
            write_timeout: None,
            config: Config::default(),
            #[cfg(feature = "tls")]
            tls: None,
            max_redirects: 0,
            proxy: ProxySetting::FromEnv,
        }
    }

    /// Offer a subprotocol (after any offered before).
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> ClientBuilder {
        self.subprotocols.push(protocol.into());
        self
    }

    /// Offer these subprotocols, in order of preference (replacing any
    /// offered before).
    pub fn subprotocols<I, S>(mut self, protocols: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Offer permessage-deflate (RFC 7692, default settings of
    /// [`PerMessageDeflate::new`](crate::extensions::PerMessageDeflate::new))
    /// or not. On by default; without the `deflate` feature nothing is
    /// offered either way.
    pub fn deflate(mut self, offer: bool) -> ClientBuilder {
        self.deflate = offer;
        self
    }

    /// Offer another extension (after permessage-deflate, in the order
    /// added). To offer permessage-deflate with other settings, switch
    /// the default off with [`deflate(false)`](ClientBuilder::deflate)
    /// and add your own.
    pub fn extension(mut self, factory: impl ExtensionFactory + 'static) -> ClientBuilder {
        self.extensions.push(std::sync::Arc::new(factory));
        self
    }

    /// Send an extra header (checked by [`connect`](ClientBuilder::connect):
    /// a name or value that would break HTTP framing is refused).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ClientBuilder {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Send an `Origin` header.
    pub fn origin(mut self, origin: impl Into<String>) -> ClientBuilder {
        self.origin = Some(origin.into());
        self
    }

    /// Authenticate with HTTP Basic (instead of credentials in the URL).
    pub fn basic_auth(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> ClientBuilder {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Bound each TCP connection attempt (default 30 s; `None`: the
    /// system's own timeout). Name resolution is not bounded by it.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> ClientBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Bound everything after the TCP connection up to the open WebSocket
    /// — proxy tunnel, TLS handshake, HTTP upgrade — together (default
    /// 30 s; `None`: unbounded).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> ClientBuilder {
        self.handshake_timeout = timeout;
        self
    }

    /// How long one `recv` of the open connection waits for the peer
    /// (default `None`: as long as it takes): past it, `recv` fails with
    /// an I/O error of kind `TimedOut`, and can be called again. Change it
    /// later with [`Connection::set_read_timeout`]. The connection's
    /// timers (keepalive ping, idle and close timeouts) fire while `recv`
    /// waits either way.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> ClientBuilder {
        self.read_timeout = timeout;
        self
    }

    /// The write timeout of the open connection (default `None`).
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> ClientBuilder {
        self.write_timeout = timeout;
        self
    }

    /// Send a keepalive ping this often while `recv` waits, and fail the
    /// connection (1011) when no pong comes back within `pong_timeout` of
    /// [`Config`] (default 20 s): a server that stopped answering ends
    /// `recv` with an error instead of hanging.
    pub fn ping_interval(mut self, interval: Option<Duration>) -> ClientBuilder {
        self.config.ping_interval = interval;
        self
    }

    /// Set the limits, for the handshake and the connection alike.
    pub fn limits(mut self, limits: Limits) -> ClientBuilder {
        self.config.limits = limits;
        self
    }

    /// Set the whole connection configuration (limits, fragmentation,
    /// timers).
    pub fn config(mut self, config: Config) -> ClientBuilder {
        self.config = config;
        self
    }

    /// The TLS settings for `wss://` (default:
    /// [`TlsClientConfig::new`](crate::tls::TlsClientConfig::new), Mozilla's
    /// bundled roots). Giving one for a `ws://` URL makes
    /// [`connect`](ClientBuilder::connect) fail with
    /// [`ClientError::TlsForPlainUrl`].
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::tls::TlsClientConfig) -> ClientBuilder {
        self.tls = Some(config);
        self
    }

    /// Follow up to `max` redirects (3xx with a `Location`; `http` and
    /// `https` locations become `ws` and `wss`). Default 0: a redirect is
    /// a [`ClientError::Redirect`] naming the location. A redirect from
    /// `wss://` to `ws://` is never followed, and credentials are only
    /// sent on to the same host and port.
    pub fn follow_redirects(mut self, max: usize) -> ClientBuilder {
        self.max_redirects = max;
        self
    }

    /// Connect through this HTTP proxy (`http://[user:pass@]host[:port]`,
    /// port 80 by default) with a CONNECT tunnel, whatever the
    /// environment says. Credentials are sent as `Proxy-Authorization:
    /// Basic`.
    pub fn proxy(mut self, url: impl Into<String>) -> ClientBuilder {
        self.proxy = ProxySetting::Explicit(url.into());
        self
    }

    /// Connect directly, ignoring proxy environment variables.
    pub fn no_proxy(mut self) -> ClientBuilder {
        self.proxy = ProxySetting::Off;
        self
    }

    /// Connect: resolve, open TCP (through the proxy if any), run TLS for
    /// `wss://`, then the WebSocket handshake; follow redirects if
    /// allowed. Returns the open connection and the server's 101
    /// response.
    ///
    /// The proxy, when none is set explicitly, comes from the environment
    /// as curl reads it: `https_proxy` (or `HTTPS_PROXY`) for `wss://`,
    /// `http_proxy` (or `HTTP_PROXY`) for `ws://`, else `all_proxy` (or
    /// `ALL_PROXY`), unless `no_proxy` (or `NO_PROXY`) lists the host.
    pub fn connect(&self) -> Result<(Connection<MaybeTlsStream>, Response), Error> {
        let mut redirects = Redirects::new(self.url(), self.max_redirects())?;
        loop {
            let plan = self.plan(&redirects)?;
            match self.attempt(&plan)? {
                Outcome::Connected(done) => return Ok(*done),
                Outcome::Redirect { status, location } => {
                    redirects.follow(status, location)?;
                }
            }
        }
    }

    /// Everything one attempt needs, decided before any I/O: the request,
    /// the TLS configuration, the proxy.
    pub(crate) fn plan(&self, redirects: &Redirects) -> Result<Plan, Error> {
        self.config.validate()?;
        let request = self.request(redirects.current(), redirects.same_origin())?;
        let url = request.url().clone();
        #[cfg(feature = "tls")]
        let tls = match (url.secure, &self.tls) {
            (false, Some(_)) => return Err(ClientError::TlsForPlainUrl.into()),
            (false, None) => None,
            (true, Some(config)) => Some(config.to_rustls()?),
            (true, None) => Some(crate::tls::TlsClientConfig::new().to_rustls()?),
        };
        #[cfg(not(feature = "tls"))]
        if url.secure {
            return Err(ClientError::TlsNotBuilt.into());
        }
        let proxy = self.proxy_for(&url)?;
        Ok(Plan {
            request,
            url,
            #[cfg(feature = "tls")]
            tls,
            proxy,
        })
    }

    // The accessors below are for the async client (`src/tokio/client.rs`).

    /// The URL given to [`new`](ClientBuilder::new).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// How many redirects to follow.
    pub(crate) fn max_redirects(&self) -> usize {
        self.max_redirects
    }

    /// The client configuration (limits, timers).
    #[cfg(feature = "tokio")]
    pub(crate) fn connection_config(&self) -> Config {
        self.config
    }

    /// The TCP connect timeout.
    #[cfg(feature = "tokio")]
    pub(crate) fn tcp_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The timeout of everything after TCP connect.
    #[cfg(feature = "tokio")]
    pub(crate) fn upgrade_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    fn request(&self, url: &str, same_origin: bool) -> Result<ClientRequest, Error> {
        let mut request = ClientRequest::new(url)?.with_limits(self.config.limits);
        if same_origin {
            if let Some((user, password)) = &self.basic_auth {
                request = request.with_basic_auth(user, password)?;
            } else if request.url().credentials.is_none() {
                if let Some((user, password)) = WsUrl::parse(&self.url)?.credentials {
                    request = request.with_basic_auth(&user, &password)?;
                }
            }
        }
        if let Some(origin) = &self.origin {
            request = request.with_origin(origin.clone());
        }
        if !self.subprotocols.is_empty() {
            request = request.with_subprotocols(self.subprotocols.iter().cloned());
        }
        #[cfg(feature = "deflate")]
        if self.deflate {
            request = request.with_extension(crate::extensions::PerMessageDeflate::new());
        }
        for factory in &self.extensions {
            request = request.with_shared_extension(factory.clone());
        }
        for (name, value) in &self.headers {
            request = request.with_header(name, value)?;
        }
        Ok(request)
    }

    fn proxy_for(&self, url: &WsUrl) -> Result<Option<Proxy>, ClientError> {
        match &self.proxy {
            ProxySetting::Off => Ok(None),
            ProxySetting::Explicit(spec) => Proxy::parse(spec).map(Some),
            ProxySetting::FromEnv => proxy::from_env(url.secure, &url.host, url.port, |name| {
                std::env::var(name).ok()
            }),
        }
    }

    fn attempt(&self, plan: &Plan) -> Result<Outcome, Error> {
        let (request, url, proxy) = (&plan.request, &plan.url, &plan.proxy);
        let tcp = match proxy {
            Some(p) => connect_tcp(&p.host, p.port, self.connect_timeout)?,
            None => connect_tcp(&url.host, url.port, self.connect_timeout)?,
        };
        tcp.set_nodelay(true)?;
        let deadline = self.handshake_timeout.map(|t| Instant::now() + t);
        if let Some(p) = proxy {
            p.tunnel(
                &mut Deadline::new(&tcp, deadline),
                &url.host,
                url.port,
                &self.config.limits,
            )
            .map_err(|e| self.timed_out(e, "proxy CONNECT"))?;
        }
        #[cfg(feature = "tls")]
        let mut stream = match &plan.tls {
            Some(config) => MaybeTlsStream::Tls(Box::new(
                crate::tls::ClientTlsStream::connect_until(
                    config.clone(),
                    &url.host,
                    tcp,
                    deadline,
                )
                .map_err(|e| self.timed_out(e, "TLS handshake"))?,
            )),
            None => MaybeTlsStream::Plain(tcp),
        };
        #[cfg(not(feature = "tls"))]
        let mut stream = MaybeTlsStream::Plain(tcp);

        let mut io = Deadline::new(&mut stream, deadline);
        let up = match crate::io::connect(&mut io, request) {
            Ok(up) => up,
            Err(e) => {
                return match redirect_of(e) {
                    Ok((status, location)) => Ok(Outcome::Redirect { status, location }),
                    Err(e) => Err(self.timed_out(tls_error(e, &url.host), "WebSocket handshake")),
                }
            }
        };
        let (response, negotiated, buffered) = (up.response, up.negotiated, up.buffered);
        stream.set_write_timeout(self.write_timeout)?;
        let engine = client_engine(self.config, request, &negotiated)?;
        let mut conn = Connection::from_engine(stream, engine, &buffered);
        conn.drive_timers();
        conn.set_read_timeout(self.read_timeout);
        Ok(Outcome::Connected(Box::new((conn, response))))
    }

    /// `e`, or a [`ClientError::Timeout`] for `stage` if `e` is the
    /// handshake timeout passing.
    pub(crate) fn timed_out(&self, e: Error, stage: &'static str) -> Error {
        match (e, self.handshake_timeout) {
            (Error::Io(io), Some(after)) if io.kind() == std::io::ErrorKind::TimedOut => {
                ClientError::Timeout { stage, after }.into()
            }
            (e, _) => e,
        }
    }
}

/// An I/O error carrying a TLS error (e.g. the server's alert refusing our
/// client certificate, which TLS 1.3 delivers after the handshake) as
/// [`Error::Tls`].
pub(crate) fn tls_error(e: Error, _host: &str) -> Error {
    #[cfg(feature = "tls")]
    if let Error::Io(io) = e {
        return match crate::tls::TlsError::from_io(io, _host) {
            Ok(tls) => Error::Tls(tls),
            Err(io) => Error::Io(io),
        };
    }
    e
}

fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> Result<TcpStream, Error> {
    let target = authority(host, port);
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|error| ClientError::Resolve {
            target: target.clone(),
            error,
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(tcp) => return Ok(tcp),
            Err(e) => {
                log::debug!("connect to {addr} failed: {e}");
                last = Some(e);
            }
        }
    }
    Err(tcp_failure(target, last, timeout))
}

/// Why no TCP connection to `target` opened: no address, the timeout, or
/// the last attempt's error (the same answer from every driver).
pub(crate) fn tcp_failure(
    target: String,
    last: Option<std::io::Error>,
    timeout: Option<Duration>,
) -> Error {
    match (last, timeout) {
        (None, _) => ClientError::Resolve {
            target,
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        },
        (Some(e), Some(after)) if e.kind() == std::io::ErrorKind::TimedOut => {
            ClientError::Timeout {
                stage: "TCP connect",
                after,
            }
        }
        (Some(error), _) => ClientError::Connect { target, error },
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_passwords() {
        let b = ClientBuilder::new("wss://u:secret@h/")
            .basic_auth("v", "hidden")
            .proxy("http://p:topsecret@proxy:3128");
        let text = format!("{b:?}");
        assert!(
            !text.contains("secret") && !text.contains("hidden"),
            "{text}"
        );
        assert!(text.contains("wss://u:***@h/"), "{text}");
    }
}
