//! [`Args`]: parameters by name, for handlers registered with
//! [`App::on_params`](super::App::on_params), where a list such as
//! `&["a", "b=0"]` says which parameters an op takes.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::{did_you_mean, quoted, ErrorKind, OpError};
use super::params::bind_value;

/// The parameters of one message, checked against the op's list: every
/// parameter without a default was given, and no other was.
///
/// Read them with [`int`](Args::int), [`number`](Args::number),
/// [`text`](Args::text), [`bool`](Args::bool) or [`get`](Args::get) for any
/// other type. If the browser sent a value of the wrong type (text where a
/// number belongs, say), the getter stops the handler and the browser gets
/// an `error` message naming the parameter; the server carries on.
///
/// ```
/// use wsstack::ops::{App, Args, OpClient};
///
/// App::new().on_params("add", &["a", "b=0"], |client: &OpClient, args: Args| {
///     let sum = args.int("a") + args.int("b");
///     client.send("sum", wsstack::ops::json!({ "sum": sum }));
/// });
/// ```
#[derive(Clone, Debug)]
pub struct Args {
    op: String,
    values: Map<String, Value>,
}

/// Thrown (unwound) by a getter of [`Args`] to stop the handler with an
/// error for the browser.
pub(crate) struct Rejected(pub(crate) OpError);

impl Args {
    /// The op these parameters came with.
    pub fn op(&self) -> &str {
        &self.op
    }

    /// The parameter `name` as `T` (any type serde can read from JSON); a
    /// value of another type stops the handler (see [`Args`]).
    ///
    /// # Panics
    ///
    /// If `name` is not in the op's list of parameters: that is a mistake
    /// in the program, reported as a failed handler.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> T {
        match self.try_get(name) {
            Ok(value) => value,
            Err(error) => std::panic::resume_unwind(Box::new(Rejected(error))),
        }
    }

    /// The parameter `name` as `T`, or the error the browser would get.
    ///
    /// # Panics
    ///
    /// If `name` is not in the op's list of parameters.
    pub fn try_get<T: DeserializeOwned>(&self, name: &str) -> Result<T, OpError> {
        bind_value(&self.op, name, self.value(name))
    }

    /// The parameter `name` as a whole number.
    pub fn int(&self, name: &str) -> i64 {
        self.get(name)
    }

    /// The parameter `name` as a number (whole or not).
    pub fn number(&self, name: &str) -> f64 {
        self.get(name)
    }

    /// The parameter `name` as text.
    pub fn text(&self, name: &str) -> String {
        self.get(name)
    }

    /// The parameter `name` as `true` or `false`.
    pub fn bool(&self, name: &str) -> bool {
        self.get(name)
    }

    /// The parameter `name` as it came, in JSON.
    ///
    /// # Panics
    ///
    /// If `name` is not in the op's list of parameters.
    pub fn value(&self, name: &str) -> &Value {
        match self.values.get(name) {
            Some(value) => value,
            None => panic!(
                "op {}: {} is not in the list of parameters given to on_params ({})",
                quoted(&self.op),
                quoted(name),
                self.values
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// An op's list of parameters: each a name, with a default or without.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    params: Vec<(String, Option<Value>)>,
}

impl Spec {
    /// Read a list such as `["a", "b=0", "color=red"]`: a default is JSON
    /// (`0`, `true`, `"text"`, `[1, 2]`) or else taken as text.
    ///
    /// # Panics
    ///
    /// On an empty name, the name `op`, or a name given twice.
    pub(crate) fn parse(op: &str, list: &[&str]) -> Spec {
        let mut params: Vec<(String, Option<Value>)> = Vec::new();
        for entry in list {
            let (name, default) = match entry.split_once('=') {
                Some((name, default)) => {
                    let default = default.trim();
                    let value = serde_json::from_str(default)
                        .unwrap_or_else(|_| Value::String(default.to_owned()));
                    (name.trim(), Some(value))
                }
                None => (entry.trim(), None),
            };
            assert!(
                !name.is_empty() && name != "op",
                "on_params({}): {} is not a parameter name",
                quoted(op),
                quoted(entry)
            );
            assert!(
                params.iter().all(|(n, _)| n != name),
                "on_params({}): the parameter {} is listed twice",
                quoted(op),
                quoted(name)
            );
            params.push((name.to_owned(), default));
        }
        Spec { params }
    }

    fn names(&self) -> Vec<String> {
        self.params.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Check a message's parameters against the list and fill in the
    /// defaults.
    pub(crate) fn bind(&self, op: &str, message: &Map<String, Value>) -> Result<Args, OpError> {
        let listed = |name: &str| self.params.iter().any(|(n, _)| n == name);
        if let Some(extra) = message.keys().find(|k| *k != "op" && !listed(k)) {
            let message = if self.params.is_empty() {
                format!(
                    "op {} takes no parameters, but got {}",
                    quoted(op),
                    quoted(extra)
                )
            } else {
                let hint = did_you_mean(extra, self.params.iter().map(|(n, _)| n.as_str()))
                    .map(|k| format!(" (did you mean {}?)", quoted(k)))
                    .unwrap_or_default();
                format!(
                    "op {} has no parameter {}{hint}; it takes: {}",
                    quoted(op),
                    quoted(extra),
                    self.names().join(", ")
                )
            };
            return Err(OpError::new(ErrorKind::ExtraParam, message)
                .with_op(op)
                .with_param(extra.as_str()));
        }
        let mut values = Map::new();
        for (name, default) in &self.params {
            let value = match (message.get(name), default) {
                (Some(value), _) => value.clone(),
                (None, Some(default)) => default.clone(),
                (None, None) => {
                    let text = format!(
                        "op {} is missing the parameter {} (it takes: {})",
                        quoted(op),
                        quoted(name),
                        self.names().join(", ")
                    );
                    return Err(OpError::new(ErrorKind::MissingParam, text)
                        .with_op(op)
                        .with_param(name.as_str()));
                }
            };
            values.insert(name.clone(), value);
        }
        Ok(Args {
            op: op.to_owned(),
            values,
        })
    }
}
