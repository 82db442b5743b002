//! HTTP CONNECT proxies: parsing a proxy URL, choosing one from the
//! environment (`https_proxy`, `http_proxy`, `all_proxy`, `no_proxy`, as
//! curl reads them), and opening the tunnel.

use std::io::{self, Read, Write};
use std::net::IpAddr;

use percent_encoding::percent_decode_str;

use super::ClientError;
use crate::handshake::basic_auth_header;
use crate::{Error, Limits};

/// Where the client's proxy comes from.
#[derive(Clone, Debug, Default)]
pub(crate) enum ProxySetting {
    /// The environment (the default).
    #[default]
    FromEnv,
    /// No proxy, whatever the environment says.
    Off,
    /// This proxy URL.
    Explicit(String),
}

/// An HTTP proxy to open CONNECT tunnels through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Proxy {
    /// Host name or IP address (IPv6 without brackets).
    pub(crate) host: String,
    /// Port (80 when the URL has none).
    pub(crate) port: u16,
    /// Percent-decoded `user:password` from the URL, for
    /// `Proxy-Authorization: Basic`.
    pub(crate) credentials: Option<(String, String)>,
}

/// `host:port`, with an IPv6 host in brackets.
pub(crate) fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Proxy {
    /// Parse `http://[user:pass@]host[:port]` (or the same without the
    /// scheme, as environment variables often have it).
    pub(crate) fn parse(spec: &str) -> Result<Proxy, ClientError> {
        let spec = spec.trim();
        let bad = |why: &str| ClientError::InvalidProxy(format!("{why}: {spec:?}"));
        let full = if spec.contains("://") {
            spec.to_owned()
        } else {
            format!("http://{spec}")
        };
        let url = url::Url::parse(&full).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" {
            return Err(bad(
                "only http:// proxies are supported (CONNECT over plain HTTP)",
            ));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad("no host")),
        };
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let decode = |s: &str| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("credentials are not UTF-8 once decoded"))
            };
            Some((
                decode(url.username())?,
                decode(url.password().unwrap_or(""))?,
            ))
        };
        Ok(Proxy {
            host,
            port: url.port_or_known_default().unwrap_or(80),
            credentials,
        })
    }

    /// `host:port`, for messages (never the credentials).
    pub(crate) fn name(&self) -> String {
        authority(&self.host, self.port)
    }

    /// Start a CONNECT tunnel to `host:port`: the sans-I/O state that
    /// reads the proxy's answer, and the request to write.
    pub(crate) fn start_tunnel(&self, host: &str, port: u16, limits: &Limits) -> (Tunnel, Vec<u8>) {
        let target = authority(host, port);
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some((user, password)) = &self.credentials {
            request.push_str(&format!(
                "Proxy-Authorization: {}\r\n",
                basic_auth_header(user, password)
            ));
        }
        request.push_str("\r\n");
        let tunnel = Tunnel {
            proxy: self.clone(),
            head: Vec::new(),
            max_head: limits.max_handshake_bytes,
            max_headers: limits.max_headers,
        };
        (tunnel, request.into_bytes())
    }

    /// Ask the proxy, over `io`, for a tunnel to `host:port` and read its
    /// answer without consuming a byte past it (the blocking driver of
    /// [`Tunnel`]).
    pub(crate) fn tunnel<S: Read + Write>(
        &self,
        io: &mut S,
        host: &str,
        port: u16,
        limits: &Limits,
    ) -> Result<(), Error> {
        let (mut tunnel, request) = self.start_tunnel(host, port, limits);
        io.write_all(&request)?;
        io.flush()?;
        let mut buf = [0u8; 4];
        loop {
            let want = tunnel.want();
            match io.read(&mut buf[..want]) {
                Ok(n) => {
                    if tunnel.receive(&buf[..n])? {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }
}

/// Reading a proxy's answer to CONNECT, without I/O: the caller reads at
/// most [`want`](Tunnel::want) bytes at a time, so not a byte past the
/// answer's head (which belongs to the tunnel) is ever consumed.
#[derive(Debug)]
pub(crate) struct Tunnel {
    proxy: Proxy,
    head: Vec<u8>,
    max_head: usize,
    max_headers: usize,
}

impl Tunnel {
    /// How many bytes may be read next: the fewest that could complete
    /// the head's final `\r\n\r\n`.
    pub(crate) fn want(&self) -> usize {
        const END: &[u8] = b"\r\n\r\n";
        (1..END.len())
            .rev()
            .find(|&k| self.head.ends_with(&END[..k]))
            .map_or(END.len(), |k| END.len() - k)
    }

    /// Take bytes read (at most [`want`](Tunnel::want); none means the
    /// proxy closed the connection). `Ok(true)` once the tunnel is open.
    pub(crate) fn receive(&mut self, bytes: &[u8]) -> Result<bool, Error> {
        if bytes.is_empty() {
            return Err(self.malformed(if self.head.is_empty() {
                "closed the connection without answering"
            } else {
                "closed the connection mid-answer"
            }));
        }
        self.head.extend_from_slice(bytes);
        if !self.head.ends_with(b"\r\n\r\n") {
            if self.head.len() >= self.max_head {
                return Err(self.malformed("answer head too large"));
            }
            return Ok(false);
        }
        let mut headers = vec![httparse::EMPTY_HEADER; self.max_headers];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&self.head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(self.malformed("incomplete answer")),
            Err(e) => return Err(self.malformed(&e.to_string())),
        }
        let status = response.code.unwrap_or(0);
        let reason = response.reason.unwrap_or("").to_owned();
        let proxy = self.proxy.name();
        match status {
            200..=299 => Ok(true),
            401 | 407 => Err(Error::Client(ClientError::ProxyAuthRequired {
                proxy,
                status,
                credentials_sent: self.proxy.credentials.is_some(),
            })),
            _ => Err(Error::Client(ClientError::ProxyRefused {
                proxy,
                status,
                reason,
            })),
        }
    }

    fn malformed(&self, detail: &str) -> Error {
        Error::Client(ClientError::ProxyMalformed {
            proxy: self.proxy.name(),
            detail: detail.to_owned(),
        })
    }
}

/// The proxy the environment names for `host:port`, as curl picks it:
/// `https_proxy`/`HTTPS_PROXY` for `wss://`, `http_proxy`/`HTTP_PROXY`
/// for `ws://`, else `all_proxy`/`ALL_PROXY`; none when `no_proxy` /
/// `NO_PROXY` matches the host. `get` reads a variable.
pub(crate) fn from_env(
    secure: bool,
    host: &str,
    port: u16,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, ClientError> {
    let names: [&str; 4] = if secure {
        ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
    };
    let Some(spec) = names
        .iter()
        .filter_map(|name| get(name))
        .find(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let no_proxy = get("no_proxy")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| get("NO_PROXY"))
        .unwrap_or_default();
    if bypasses(&no_proxy, host, port) {
        return Ok(None);
    }
    Proxy::parse(&spec).map(Some)
}

/// Whether a `no_proxy` list matches `host:port`. Entries, separated by
/// commas: `*` (everything); a domain, matching itself and its subdomains
/// (a leading `.` or `*.` is ignored); an IP address; a CIDR block
/// (`10.0.0.0/8`, `fd00::/8`); each optionally with `:port`.
pub(crate) fn bypasses(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let (name, entry_port) = split_port(entry);
            if entry_port.is_some_and(|p| p != port) {
                return false;
            }
            if let Some(ip) = host_ip {
                if let Some((net, bits)) = parse_cidr(name) {
                    return in_block(ip, net, bits);
                }
                if let Ok(e) = name.parse::<IpAddr>() {
                    return ip == e;
                }
            }
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            let name = name.to_ascii_lowercase();
            !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
        })
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = s.split_once('/')?;
    Some((addr.parse().ok()?, bits.parse().ok()?))
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `answer` as a driver would, `want` bytes at a time; returns
    /// the outcome and how many bytes were consumed.
    fn feed(answer: &[u8]) -> (Result<bool, Error>, usize) {
        let proxy = Proxy::parse("http://u:p@proxy:3128").unwrap();
        let (mut tunnel, request) = proxy.start_tunnel("h", 443, &Limits::default());
        let text = String::from_utf8(request).unwrap();
        assert!(text.starts_with("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n"));
        assert!(text.contains("Proxy-Authorization: Basic dTpw\r\n"));
        let mut at = 0;
        loop {
            let n = tunnel.want().min(answer.len() - at);
            let chunk = &answer[at..at + n];
            at += n;
            match tunnel.receive(chunk) {
                Ok(false) => {}
                done => return (done, at),
            }
        }
    }

    #[test]
    fn tunnel_answers_are_read_to_the_head_and_no_further() {
        let ok = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n\x81\x00";
        let (done, used) = feed(ok);
        assert!(done.unwrap());
        assert_eq!(used, ok.len() - 2, "the tunnel's first bytes are left");
        let (done, _) = feed(b"HTTP/1.1 407 Auth\r\n\r\n");
        assert!(matches!(
            done,
            Err(Error::Client(ClientError::ProxyAuthRequired {
                status: 407,
                credentials_sent: true,
                ..
            }))
        ));
        let (done, _) = feed(b"HTTP/1.1 403 No\r\n\r\n");
        assert!(matches!(
            done,
            Err(Error::Client(ClientError::ProxyRefused { status: 403, .. }))
        ));
        let (done, _) = feed(b"HTTP/1.1 200 OK\r\n");
        assert!(matches!(
            done,
            Err(Error::Client(ClientError::ProxyMalformed { .. }))
        ));
        let (done, _) = feed(b"");
        assert!(matches!(
            done,
            Err(Error::Client(ClientError::ProxyMalformed { .. }))
        ));
        let endless = vec![b'a'; 64 * 1024];
        let (done, used) = feed(&endless);
        assert!(matches!(
            done,
            Err(Error::Client(ClientError::ProxyMalformed { .. }))
        ));
        assert_eq!(used, Limits::default().max_handshake_bytes);
    }

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("http://u%40x:p%3Aw@proxy.example:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        assert_eq!(p.credentials, Some(("u@x".into(), "p:w".into())));
        let p = Proxy::parse("127.0.0.1:8080").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials),
            ("127.0.0.1", 8080, None)
        );
        let p = Proxy::parse("http://[::1]").unwrap();
        assert_eq!((p.name().as_str(), p.port), ("[::1]:80", 80));
        assert!(Proxy::parse("https://proxy:443").is_err());
        assert!(Proxy::parse("socks5://proxy:1080").is_err());
        assert!(Proxy::parse("http://:80").is_err());
    }

    #[test]
    fn no_proxy_lists() {
        assert!(bypasses("*", "anything", 1));
        assert!(bypasses("example.com", "example.com", 443));
        assert!(bypasses("example.com", "a.b.example.com", 443));
        assert!(bypasses(".example.com", "a.example.com", 443));
        assert!(bypasses("*.example.com", "example.com", 443));
        assert!(!bypasses("example.com", "badexample.com", 443));
        assert!(bypasses(" other , 127.0.0.1 ", "127.0.0.1", 80));
        assert!(bypasses("127.0.0.0/8", "127.1.2.3", 80));
        assert!(!bypasses("127.0.0.0/8", "128.0.0.1", 80));
        assert!(bypasses("0.0.0.0/0", "8.8.8.8", 80));
        assert!(bypasses("::1", "::1", 80));
        assert!(bypasses("[::1]:80", "::1", 80));
        assert!(!bypasses("[::1]:80", "::1", 81));
        assert!(bypasses("fd00::/8", "fd12::1", 80));
        assert!(bypasses("localhost:9001", "localhost", 9001));
        assert!(!bypasses("localhost:9001", "localhost", 9002));
        assert!(!bypasses("", "localhost", 1));
        assert!(bypasses("EXAMPLE.com", "example.COM", 1));
    }

    #[test]
    fn environment_choice() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let vars: &[(&str, &str)] = &[
            ("http_proxy", "http://plain:1"),
            ("HTTPS_PROXY", "http://secure:2"),
            ("no_proxy", "internal.example"),
        ];
        let p = from_env(false, "h", 80, env(vars)).unwrap().unwrap();
        assert_eq!(p.name(), "plain:1");
        let p = from_env(true, "h", 443, env(vars)).unwrap().unwrap();
        assert_eq!(p.name(), "secure:2");
        assert_eq!(
            from_env(true, "a.internal.example", 443, env(vars)).unwrap(),
            None
        );
        let all: &[(&str, &str)] = &[("ALL_PROXY", "all:3"), ("NO_PROXY", "x")];
        assert_eq!(
            from_env(true, "h", 443, env(all)).unwrap().unwrap().name(),
            "all:3"
        );
        assert_eq!(from_env(true, "x", 443, env(all)).unwrap(), None);
        assert_eq!(from_env(false, "h", 80, env(&[])).unwrap(), None);
        assert!(from_env(false, "h", 80, env(&[("http_proxy", "ftp://p")])).is_err());
    }
}
