//! An ordered, case-insensitive list of HTTP header fields, and what a
//! parse of a request or response head means under the limits.

use super::HandshakeError;
use crate::config::Limits;

/// Header fields in the order received, names compared case-insensitively.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(String, String)>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Append a field (a repeated name keeps every value).
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.fields.push((name.into(), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many fields are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Every comma-separated element of every value of `name`, trimmed,
    /// empty elements skipped (RFC 9110 §5.6.1 lists).
    pub fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// Whether the comma list `name` contains `token`, case-insensitively.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub(crate) fn from_httparse(raw: &[httparse::Header<'_>]) -> Headers {
        Headers {
            fields: raw
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        }
    }

    pub(crate) fn write_to(&self, out: &mut String) {
        for (n, v) in &self.fields {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
    }
}

/// Whether `s` can be written as a header name or value without breaking
/// the HTTP framing (no CR, LF or NUL; names also no ':' or spaces).
pub(crate) fn is_safe_field(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        && !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

/// What parsing a head gave, `parsed` from a buffer of `buffered` bytes
/// cut at the head limit: `Some(bytes the head took)`, `None` while it is
/// incomplete below the limit, or why it is refused (past the limit, too
/// many header fields, malformed).
pub(crate) fn head_status(
    parsed: httparse::Result<usize>,
    buffered: usize,
    limits: &Limits,
) -> Result<Option<usize>, HandshakeError> {
    match parsed {
        Ok(httparse::Status::Complete(used)) => Ok(Some(used)),
        Ok(httparse::Status::Partial) if buffered >= limits.max_handshake_bytes => {
            Err(HandshakeError::TooLarge {
                max: limits.max_handshake_bytes,
            })
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders {
            max: limits.max_headers,
        }),
        Err(e) => Err(HandshakeError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lists_are_case_insensitive_and_span_repeated_fields() {
        let mut h = Headers::new();
        h.push("Connection", "keep-alive, Upgrade");
        h.push("connection", " ,foo");
        assert!(h.has_token("CONNECTION", "upgrade"));
        assert!(h.has_token("connection", "FOO"));
        assert!(!h.has_token("connection", "keep"));
        assert_eq!(
            h.tokens("Connection").collect::<Vec<_>>(),
            ["keep-alive", "Upgrade", "foo"]
        );
        assert_eq!(h.count("connection"), 2);
    }

    #[test]
    fn unsafe_fields_are_detected() {
        assert!(is_safe_field("X-A", "b c"));
        assert!(!is_safe_field("X-A", "b\r\nEvil: 1"));
        assert!(!is_safe_field("X A", "b"));
        assert!(!is_safe_field("", "b"));
        assert!(!is_safe_field("X:", "b"));
    }
}
