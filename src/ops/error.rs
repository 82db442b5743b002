//! [`OpError`]: what went wrong with a message, in words a beginner can act
//! on, and the `{"op": "error", ...}` message that tells the browser.

use std::fmt;

use serde_json::{Map, Value};

/// What kind of mistake an [`OpError`] reports. Sent to the browser as the
/// error message's `"kind"` (the [`as_str`](ErrorKind::as_str) name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The message is not JSON text (or it is a binary message).
    NotJson,
    /// The message is JSON, but not an object (`{...}`).
    NotObject,
    /// The object has no `"op"`.
    NoOp,
    /// `"op"` is not text.
    BadOp,
    /// No handler is registered for this op.
    UnknownOp,
    /// The op is one the server sends itself (`connect`, `disconnect`).
    ReservedOp,
    /// A parameter the handler needs is not in the message.
    MissingParam,
    /// The message has a parameter the handler does not take.
    ExtraParam,
    /// A parameter has the wrong type or a value out of range.
    WrongType,
    /// The handler panicked; the server carries on.
    HandlerFailed,
    /// [`OpClient::eval_js`](super::OpClient::eval_js) (or sending an
    /// `eval` op) while the app does not allow it.
    EvalNotAllowed,
    /// The server tried to send parameters that are not an object.
    BadParams,
    /// The message could not be queued (the client is gone, or its queue is
    /// full).
    NotSent,
}

impl ErrorKind {
    /// The kind's name in the error message: `"not_json"`, `"not_object"`,
    /// `"no_op"`, `"bad_op"`, `"unknown_op"`, `"reserved_op"`,
    /// `"missing_param"`, `"extra_param"`, `"wrong_type"`,
    /// `"handler_failed"`, `"eval_not_allowed"`, `"bad_params"`,
    /// `"not_sent"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotJson => "not_json",
            ErrorKind::NotObject => "not_object",
            ErrorKind::NoOp => "no_op",
            ErrorKind::BadOp => "bad_op",
            ErrorKind::UnknownOp => "unknown_op",
            ErrorKind::ReservedOp => "reserved_op",
            ErrorKind::MissingParam => "missing_param",
            ErrorKind::ExtraParam => "extra_param",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::HandlerFailed => "handler_failed",
            ErrorKind::EvalNotAllowed => "eval_not_allowed",
            ErrorKind::BadParams => "bad_params",
            ErrorKind::NotSent => "not_sent",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem with a message or a send, with a friendly explanation that
/// names the op and the parameter and says what was expected.
///
/// When a browser's message has a problem, the server answers that browser
/// with the error as a message (its [`to_message`](OpError::to_message)):
///
/// ```json
/// {"op": "error", "kind": "missing_param", "failed_op": "draw", "param": "x",
///  "error": "op \"draw\" is missing the parameter \"x\" (it takes: x, y, color)"}
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    kind: ErrorKind,
    message: String,
    op: Option<String>,
    param: Option<String>,
}

impl OpError {
    /// An error of `kind` explained by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> OpError {
        OpError {
            kind,
            message: message.into(),
            op: None,
            param: None,
        }
    }

    /// The same error, about `op`.
    pub fn with_op(mut self, op: impl Into<String>) -> OpError {
        self.op = Some(op.into());
        self
    }

    /// The same error, about the parameter `param` (a path such as
    /// `points[2].x` for a nested one).
    pub fn with_param(mut self, param: impl Into<String>) -> OpError {
        self.param = Some(param.into());
        self
    }

    /// What kind of mistake.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The op the message asked for, if it had one.
    pub fn op(&self) -> Option<&str> {
        self.op.as_deref()
    }

    /// The parameter at fault, if one is.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// The error as the JSON text sent to the browser: `"op": "error"`,
    /// `"error"` (the explanation), `"kind"`, and `"failed_op"` and
    /// `"param"` when known.
    pub fn to_message(&self) -> String {
        let mut map = Map::new();
        map.insert("error".into(), Value::String(self.message.clone()));
        map.insert("kind".into(), Value::String(self.kind.as_str().into()));
        if let Some(op) = &self.op {
            map.insert("failed_op".into(), Value::String(op.clone()));
        }
        if let Some(param) = &self.param {
            map.insert("param".into(), Value::String(param.clone()));
        }
        let body = Value::Object(map).to_string();
        format!("{{\"op\":\"error\",{}", &body[1..])
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OpError {}

/// `"draw"`: a name in double quotes, as JSON writes it.
pub(crate) fn quoted(name: &str) -> String {
    Value::String(name.to_owned()).to_string()
}

/// The known name closest to `name`, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let name = name.to_lowercase();
    known
        .into_iter()
        .map(|k| (edit_distance(&name, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 3) && *d < k.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance: single-character insertions, deletions and
/// substitutions needed to turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_starts_with_the_op() {
        let e = OpError::new(ErrorKind::MissingParam, "op \"draw\" is missing \"x\"")
            .with_op("draw")
            .with_param("x");
        let text = e.to_message();
        assert!(text.starts_with("{\"op\":\"error\","), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"], "op \"draw\" is missing \"x\"");
        assert_eq!(v["kind"], "missing_param");
        assert_eq!(v["failed_op"], "draw");
        assert_eq!(v["param"], "x");
    }

    #[test]
    fn typos_are_recognised() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        let known = ["draw", "clear", "join"];
        assert_eq!(did_you_mean("drwa", known), Some("draw"));
        assert_eq!(did_you_mean("Clear", known), Some("clear"));
        assert_eq!(did_you_mean("banana", known), None);
        assert_eq!(did_you_mean("x", ["y"]), None);
    }
}
