//! `Sec-WebSocket-Extensions` values (RFC 6455 §9.1).

use std::fmt;

use super::NegotiationError;

/// One extension in a `Sec-WebSocket-Extensions` list: a name and its
/// parameters, each with or without a value, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; `None` for a parameter without a value.
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    /// An offer with no parameters.
    pub fn new(name: impl Into<String>) -> ExtensionOffer {
        ExtensionOffer {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Add a parameter.
    pub fn with_param(mut self, name: impl Into<String>, value: Option<String>) -> ExtensionOffer {
        self.params.push((name.into(), value));
        self
    }
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (k, v) in &self.params {
            match v {
                Some(v) => write!(f, "; {k}={v}")?,
                None => write!(f, "; {k}")?,
            }
        }
        Ok(())
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn token(s: &str) -> Result<&str, NegotiationError> {
    let s = s.trim_matches(|c| c == ' ' || c == '\t');
    if !s.is_empty() && s.bytes().all(is_tchar) {
        Ok(s)
    } else {
        Err(NegotiationError::Header(format!("{s:?} is not a token")))
    }
}

/// Split on `sep` outside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> Result<Vec<&str>, NegotiationError> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    if quoted {
        return Err(NegotiationError::Header(
            "unterminated quoted string".into(),
        ));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn param_value(raw: &str) -> Result<String, NegotiationError> {
    let raw = raw.trim_matches(|c| c == ' ' || c == '\t');
    let value = if let Some(inner) = raw.strip_prefix('"') {
        let inner = inner
            .strip_suffix('"')
            .ok_or_else(|| NegotiationError::Header("bad quoted string".into()))?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            out.push(if c == '\\' {
                chars.next().unwrap_or('\\')
            } else {
                c
            });
        }
        out
    } else {
        raw.to_owned()
    };
    // §9.1: a quoted value must still be a token once unquoted.
    token(&value).map(str::to_owned)
}

/// Parse every value of a `Sec-WebSocket-Extensions` header (several
/// offers, parameters with and without values, quoted values).
///
/// ```
/// use wsstack::extensions::parse_extensions;
/// let offers = parse_extensions(&[
///     "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\"",
/// ])?;
/// assert_eq!(offers.len(), 2);
/// assert_eq!(offers[0].params, [("client_max_window_bits".to_string(), None)]);
/// assert_eq!(offers[1].params, [("server_max_window_bits".to_string(), Some("10".to_string()))]);
/// # Ok::<(), wsstack::extensions::NegotiationError>(())
/// ```
pub fn parse_extensions<S: AsRef<str>>(
    values: &[S],
) -> Result<Vec<ExtensionOffer>, NegotiationError> {
    let mut offers = Vec::new();
    for value in values {
        for item in split_outside_quotes(value.as_ref(), ',')? {
            if item.trim().is_empty() {
                continue; // empty list elements are allowed (RFC 9110 §5.6.1)
            }
            let mut parts = split_outside_quotes(item, ';')?.into_iter();
            let name = token(parts.next().unwrap_or(""))?.to_owned();
            let mut params = Vec::new();
            for p in parts {
                let (k, v) = match p.split_once('=') {
                    Some((k, v)) => (token(k)?.to_owned(), Some(param_value(v)?)),
                    None => (token(p)?.to_owned(), None),
                };
                params.push((k, v));
            }
            offers.push(ExtensionOffer { name, params });
        }
    }
    Ok(offers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_several_offers_across_header_lines() {
        let got = parse_extensions(&[
            "permessage-deflate; client_max_window_bits; server_no_context_takeover",
            "x-webkit-deflate-frame, foo;a=1;b=\"two\" ,",
        ])
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].name, "permessage-deflate");
        assert_eq!(got[0].params.len(), 2);
        assert_eq!(got[1], ExtensionOffer::new("x-webkit-deflate-frame"));
        assert_eq!(
            got[2],
            ExtensionOffer::new("foo")
                .with_param("a", Some("1".into()))
                .with_param("b", Some("two".into()))
        );
        assert_eq!(got[2].to_string(), "foo; a=1; b=two");
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            ";a",
            "foo; =1",
            "foo; a=\"1",
            "foo bar",
            "foo; a=\"b c\"",
            "fo\"o",
        ] {
            assert!(parse_extensions(&[bad]).is_err(), "{bad:?}");
        }
        assert_eq!(parse_extensions(&[""]).unwrap(), vec![]);
    }
}
