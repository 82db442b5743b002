//! `ws://` and `wss://` URLs (RFC 6455 §3).

use percent_encoding::percent_decode_str;

use super::HandshakeError;

/// The parts of a WebSocket URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`.
    pub secure: bool,
    /// The host, without brackets for an IPv6 literal: an international
    /// domain name in its ASCII (punycode) form, lowercase.
    pub host: String,
    /// The port (default 80 for ws, 443 for wss).
    pub port: u16,
    /// The path and query, starting with `/`.
    pub resource: String,
    /// Percent-decoded `user:password` from the URL, if any.
    pub credentials: Option<(String, String)>,
}

impl WsUrl {
    /// Parse a URL as a browser does (the WHATWG URL standard, through the
    /// `url` crate): the host is lowercased, an international domain name
    /// becomes punycode, IPv4 and IPv6 literals are normalised, the port
    /// defaults to 80 (`ws`) or 443 (`wss`), dot segments are removed and
    /// non-ASCII in the path and query is percent-encoded.
    ///
    /// Stricter than a browser, so that a mistyped URL fails here rather
    /// than reaching a surprising place: the scheme must be `ws` or `wss`
    /// followed by `//` and a host; whitespace and control characters are
    /// refused rather than stripped or encoded; a fragment is refused
    /// (RFC 6455 §3); a user name containing `:` is refused (RFC 7617 §2
    /// cannot carry it).
    ///
    /// ```
    /// use wsstack::handshake::WsUrl;
    /// let url = WsUrl::parse("ws://me:p%40ss@[::1]:9001/chat?x=1")?;
    /// assert_eq!((url.host.as_str(), url.port, url.resource.as_str()), ("::1", 9001, "/chat?x=1"));
    /// assert_eq!(url.credentials, Some(("me".into(), "p@ss".into())));
    /// let url = WsUrl::parse("wss://Bücher.example/")?;
    /// assert_eq!((url.host.as_str(), url.port), ("xn--bcher-kva.example", 443));
    /// # Ok::<(), wsstack::handshake::HandshakeError>(())
    /// ```
    pub fn parse(url: &str) -> Result<WsUrl, HandshakeError> {
        let bad = |why: &str| HandshakeError::InvalidUrl(format!("{why}: {url:?}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let secure = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(bad("scheme is not ws or wss"));
        };
        if rest.contains('#') {
            return Err(bad("fragment identifiers are not allowed (RFC 6455 §3)"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("whitespace or control character"));
        }
        // The WHATWG parser skips extra slashes ("ws:///h" is "ws://h/").
        if rest.starts_with(['/', '\\']) {
            return Err(bad("empty host"));
        }
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let host = match parsed.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("empty host")),
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = parsed
            .port_or_known_default()
            .unwrap_or(if secure { 443 } else { 80 });
        let mut resource = parsed.path().to_owned();
        if !resource.starts_with('/') {
            resource.insert(0, '/');
        }
        if let Some(query) = parsed.query() {
            resource.push('?');
            resource.push_str(query);
        }
        let credentials = if parsed.username().is_empty() && parsed.password().is_none() {
            None
        } else {
            let decode = |s: &str| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("user name or password is not UTF-8 once decoded"))
            };
            let user = decode(parsed.username())?;
            let pass = decode(parsed.password().unwrap_or(""))?;
            // RFC 7617 §2: a user-id containing ':' cannot be sent.
            if user.contains(':') || user.chars().chain(pass.chars()).any(char::is_control) {
                return Err(bad("user name with ':' or control characters"));
            }
            Some((user, pass))
        };
        Ok(WsUrl {
            secure,
            host,
            port,
            resource,
            credentials,
        })
    }

    /// The `Host` header value: the host, bracketed if IPv6, with the port
    /// unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.secure { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls() {
        let u = WsUrl::parse("ws://example.com").unwrap();
        assert_eq!((u.secure, u.port, u.resource.as_str()), (false, 80, "/"));
        assert_eq!(u.host_header(), "example.com");
        let u = WsUrl::parse("WSS://example.com?q=1").unwrap();
        assert_eq!(
            (u.secure, u.port, u.resource.as_str()),
            (true, 443, "/?q=1")
        );
        let u = WsUrl::parse("ws://127.0.0.1:9001/a/b?c=d").unwrap();
        assert_eq!(u.host_header(), "127.0.0.1:9001");
        assert_eq!(u.resource, "/a/b?c=d");
        let u = WsUrl::parse("ws://[::1]/").unwrap();
        assert_eq!(u.host_header(), "[::1]");
        let u = WsUrl::parse("ws://h/é?q=ü").unwrap();
        assert_eq!(u.resource, "/%C3%A9?q=%C3%BC");
        let u = WsUrl::parse("ws://user@h:1/").unwrap();
        assert_eq!(u.credentials, Some(("user".into(), "".into())));
    }

    #[test]
    fn hosts_and_ports_as_a_browser_reads_them() {
        let u = WsUrl::parse("wss://[0:0::1]/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 443));
        assert_eq!(u.host_header(), "[::1]");
        let u = WsUrl::parse("ws://EXAMPLE.com:80/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("example.com", 80));
        assert_eq!(u.host_header(), "example.com");
        let u = WsUrl::parse("wss://example.com:443").unwrap();
        assert_eq!(u.host_header(), "example.com");
        let u = WsUrl::parse("ws://example.com:443/").unwrap();
        assert_eq!(u.host_header(), "example.com:443");
        let u = WsUrl::parse("ws://münchen.de/").unwrap();
        assert_eq!(u.host, "xn--mnchen-3ya.de");
        let u = WsUrl::parse("ws://0x7f.1/a/../b").unwrap();
        assert_eq!((u.host.as_str(), u.resource.as_str()), ("127.0.0.1", "/b"));
        let u = WsUrl::parse("ws://%C3%BCser:p%20w%3A@h/").unwrap();
        assert_eq!(u.credentials, Some(("üser".into(), "p w:".into())));
        let u = WsUrl::parse("ws://h/?a=%zz").unwrap();
        assert_eq!(u.resource, "/?a=%zz");
    }

    #[test]
    fn bad_urls_are_caller_errors() {
        for bad in [
            "http://x/",
            "x",
            "ws:///path",
            "ws://h:99999/",
            "ws://h:port/",
            "ws://h/#frag",
            "ws://[::1/",
            "ws://[::1]x/",
            "ws://h/a b",
            "ws://a%3Ab:c@h/",
            "ws://[[ab]/",
            "ws://a]b/",
        ] {
            let e = WsUrl::parse(bad).unwrap_err();
            assert!(e.is_caller_error(), "{bad}");
        }
    }
}
