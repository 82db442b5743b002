//! Redirects: whether to follow a 3xx answer to the upgrade, and where
//! it leads (shared by the blocking and the async client).

use super::ClientError;
use crate::handshake::{HandshakeError, WsUrl};
use crate::Error;

/// The redirects of one `connect`: the URL to try now, how many were
/// followed, and whether credentials may still be sent.
#[derive(Debug)]
pub(crate) struct Redirects {
    first: WsUrl,
    url: WsUrl,
    text: String,
    followed: usize,
    max: usize,
}

impl Redirects {
    /// Start at `url`, following at most `max` redirects.
    pub(crate) fn new(url: &str, max: usize) -> Result<Redirects, Error> {
        let first = WsUrl::parse(url)?;
        Ok(Redirects {
            url: first.clone(),
            first,
            text: url.to_owned(),
            followed: 0,
            max,
        })
    }

    /// The URL to try now.
    pub(crate) fn current(&self) -> &str {
        &self.text
    }

    /// Whether the current URL has the first one's host and port (so the
    /// credentials given for that one may be sent).
    pub(crate) fn same_origin(&self) -> bool {
        self.url.host == self.first.host && self.url.port == self.first.port
    }

    /// The server answered the current URL with `status` and `location`:
    /// move on to the location, or say why not.
    pub(crate) fn follow(&mut self, status: u16, location: Option<String>) -> Result<(), Error> {
        let Some(location) = location else {
            return Err(ClientError::Redirect {
                status,
                location: None,
            }
            .into());
        };
        if self.max == 0 {
            return Err(ClientError::Redirect {
                status,
                location: Some(location),
            }
            .into());
        }
        if self.followed == self.max {
            return Err(ClientError::TooManyRedirects {
                max: self.max,
                location,
            }
            .into());
        }
        self.followed += 1;
        let next = redirect_target(&self.url, &location)?;
        log::debug!("following redirect {} ({status}) to {next}", self.followed);
        self.url = WsUrl::parse(&next)?;
        self.text = next;
        Ok(())
    }
}

/// The status and location of a 3xx answer to the upgrade, or the error
/// itself if it is something else.
pub(crate) fn redirect_of(e: Error) -> Result<(u16, Option<String>), Error> {
    match e {
        Error::Handshake(HandshakeError::UnexpectedStatus {
            status,
            reason,
            location,
        }) if (300..400).contains(&status) => {
            log::debug!("{status} {reason}, Location {location:?}");
            Ok((status, location))
        }
        e => Err(e),
    }
}

/// The URL a redirect from `from` to `location` leads to, with `http(s)`
/// mapped to `ws(s)`.
fn redirect_target(from: &WsUrl, location: &str) -> Result<String, ClientError> {
    let bad = |reason: &str| ClientError::BadRedirect {
        location: location.to_owned(),
        reason: reason.to_owned(),
    };
    let scheme = if from.secure { "wss" } else { "ws" };
    let base = url::Url::parse(&format!(
        "{scheme}://{}{}",
        from.host_header(),
        from.resource
    ))
    .map_err(|e| bad(&e.to_string()))?;
    let mut next = base.join(location).map_err(|e| bad(&e.to_string()))?;
    next.set_fragment(None);
    let secure = match next.scheme() {
        "ws" | "http" => false,
        "wss" | "https" => true,
        other => {
            return Err(bad(&format!(
                "scheme {other:?} is not ws, wss, http or https"
            )))
        }
    };
    if from.secure && !secure {
        return Err(bad(
            "it leads from wss:// to ws://, which would send in plaintext",
        ));
    }
    let rest = next
        .as_str()
        .split_once("://")
        .map(|(_, rest)| rest.to_owned())
        .ok_or_else(|| bad("no authority"))?;
    Ok(format!("{}://{rest}", if secure { "wss" } else { "ws" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets() {
        let from = WsUrl::parse("wss://a.example:8443/x/y?q").unwrap();
        assert_eq!(
            redirect_target(&from, "/z").unwrap(),
            "wss://a.example:8443/z"
        );
        assert_eq!(
            redirect_target(&from, "w").unwrap(),
            "wss://a.example:8443/x/w"
        );
        assert_eq!(
            redirect_target(&from, "https://b.example/p#f").unwrap(),
            "wss://b.example/p"
        );
        assert!(redirect_target(&from, "ws://b.example/").is_err());
        assert!(redirect_target(&from, "http://b.example/").is_err());
        assert!(redirect_target(&from, "ftp://b.example/").is_err());
        let plain = WsUrl::parse("ws://a/").unwrap();
        assert_eq!(redirect_target(&plain, "//c/d").unwrap(), "ws://c/d");
        assert_eq!(redirect_target(&plain, "wss://b/").unwrap(), "wss://b/");
        assert_eq!(
            redirect_target(&plain, "http://b:81/").unwrap(),
            "ws://b:81/"
        );
    }

    #[test]
    fn redirects_are_bounded_and_keep_credentials_at_home() {
        let mut r = Redirects::new("ws://u:p@a:1/x", 2).unwrap();
        assert!(r.same_origin());
        r.follow(302, Some("ws://b:2/y".into())).unwrap();
        assert_eq!(r.current(), "ws://b:2/y");
        assert!(!r.same_origin());
        r.follow(301, Some("ws://a:1/z".into())).unwrap();
        assert!(r.same_origin());
        let e = r.follow(302, Some("/again".into())).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Client(ClientError::TooManyRedirects { max: 2, .. })
            ),
            "{e:?}"
        );
        let mut none = Redirects::new("ws://a/", 0).unwrap();
        let e = none.follow(307, Some("/b".into())).unwrap_err();
        assert!(matches!(
            e,
            Error::Client(ClientError::Redirect {
                status: 307,
                location: Some(_)
            })
        ));
        let e = none.follow(302, None).unwrap_err();
        assert!(matches!(
            e,
            Error::Client(ClientError::Redirect { location: None, .. })
        ));
    }
}
