//! `ws://` and `wss://` URLs (RFC 6455 §3).

use super::request::percent_decode;
use super::HandshakeError;

/// The parts of a WebSocket URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`.
    pub secure: bool,
    /// The host, without brackets for an IPv6 literal.
    pub host: String,
    /// The port (default 80 for ws, 443 for wss).
    pub port: u16,
    /// The path and query, starting with `/`.
    pub resource: String,
    /// Percent-decoded `user:password` from the URL, if any.
    pub credentials: Option<(String, String)>,
}

impl WsUrl {
    /// Parse a URL.
    ///
    /// ```
    /// use wsstack::handshake::WsUrl;
    /// let url = WsUrl::parse("ws://me:p%40ss@[::1]:9001/chat?x=1")?;
    /// assert_eq!((url.host.as_str(), url.port, url.resource.as_str()), ("::1", 9001, "/chat?x=1"));
    /// assert_eq!(url.credentials, Some(("me".into(), "p@ss".into())));
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
        if rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(bad("whitespace or control character"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        let resource = match resource {
            "" => "/".to_owned(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_owned(),
        };
        // The request line carries ASCII only: percent-encode the rest.
        let mut encoded = String::with_capacity(resource.len());
        for b in resource.bytes() {
            if b.is_ascii() {
                encoded.push(char::from(b));
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        let resource = encoded;
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let credentials = match userinfo {
            None => None,
            Some(u) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                let (user, pass) = (percent_decode(user, false), percent_decode(pass, false));
                // RFC 7617 §2: a user-id containing ':' cannot be sent.
                if user.contains(':') || user.chars().chain(pass.chars()).any(char::is_control) {
                    return Err(bad("user name with ':' or control characters"));
                }
                Some((user, pass))
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            match after {
                "" => (host, None),
                p => (
                    host,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                ),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if host.contains(['[', ']', '@']) {
            return Err(bad("stray bracket or '@' in host"));
        }
        let port = match port {
            None | Some("") => {
                if secure {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse::<u16>().map_err(|_| bad("bad port"))?,
        };
        Ok(WsUrl {
            secure,
            host: host.to_owned(),
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
