//! Binding a message's parameters to a handler's type: a serde
//! `Deserializer` over the message's JSON that rejects unknown parameters
//! and explains every failure by the parameter's name and what it should
//! have been.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, Expected, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde_json::{Map, Value};

use super::error::{did_you_mean, quoted, ErrorKind, OpError};

/// Bind the parameters of `message` (a JSON object; its `"op"` is left
/// out) to `P`. Parameters `P` does not name are refused.
pub(crate) fn bind<P: DeserializeOwned>(op: &str, message: &Value) -> Result<P, OpError> {
    P::deserialize(Val {
        value: message,
        top: true,
    })
    .map_err(|e| e.for_op(op))
}

/// Bind one value (a parameter of [`Args`](super::Args)) to `T`; errors
/// name `param`.
pub(crate) fn bind_value<T: DeserializeOwned>(
    op: &str,
    param: &str,
    value: &Value,
) -> Result<T, OpError> {
    T::deserialize(Val { value, top: false }).map_err(|mut e| {
        e.path.push(Segment::Key(param.to_owned()));
        e.for_op(op)
    })
}

/// One step of the path to a parameter.
#[derive(Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
enum Problem {
    Missing(String),
    Unknown { name: String, known: Vec<String> },
    WrongType { expected: String, got: String },
    Other(String),
}

/// A binding failure, before the op's name is known. The path is kept
/// innermost first, as the error travels outwards.
#[derive(Debug)]
pub(crate) struct BindError {
    problem: Problem,
    path: Vec<Segment>,
    /// The parameters of the object a missing one belongs in.
    known: Vec<String>,
}

impl BindError {
    fn new(problem: Problem) -> BindError {
        BindError {
            problem,
            path: Vec::new(),
            known: Vec::new(),
        }
    }

    fn inside(mut self, segment: Segment) -> BindError {
        self.path.push(segment);
        self
    }

    /// The path to the object the error is in, outermost first.
    fn path_text(&self) -> String {
        let mut text = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Key(k) if text.is_empty() => text.push_str(k),
                Segment::Key(k) => {
                    text.push('.');
                    text.push_str(k);
                }
                Segment::Index(i) => text.push_str(&format!("[{i}]")),
            }
        }
        text
    }

    fn join(path: &str, name: &str) -> String {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    }

    /// The error for `op`, in words.
    pub(crate) fn for_op(self, op: &str) -> OpError {
        let path = self.path_text();
        let o = quoted(op);
        let takes = |known: &[String]| {
            if known.is_empty() {
                String::new()
            } else {
                format!(" (it takes: {})", known.join(", "))
            }
        };
        let (kind, param, message) = match self.problem {
            Problem::Missing(name) => {
                let param = BindError::join(&path, &name);
                let message = format!(
                    "op {o} is missing the parameter {}{}",
                    quoted(&param),
                    takes(&self.known)
                );
                (ErrorKind::MissingParam, Some(param), message)
            }
            Problem::Unknown { name, known } => {
                let param = BindError::join(&path, &name);
                let message = if known.is_empty() && path.is_empty() {
                    format!("op {o} takes no parameters, but got {}", quoted(&param))
                } else {
                    let hint = did_you_mean(&name, known.iter().map(String::as_str))
                        .map(|k| format!(" (did you mean {}?)", quoted(k)))
                        .unwrap_or_default();
                    format!(
                        "op {o} has no parameter {}{hint}; it takes: {}",
                        quoted(&param),
                        if known.is_empty() {
                            "nothing there".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )
                };
                (ErrorKind::ExtraParam, Some(param), message)
            }
            Problem::WrongType { expected, got } if path.is_empty() => (
                ErrorKind::WrongType,
                None,
                format!("op {o}: the parameters should be {expected}, but they are {got}"),
            ),
            Problem::WrongType { expected, got } => (
                ErrorKind::WrongType,
                Some(path.clone()),
                format!(
                    "op {o}: the parameter {} should be {expected}, but it is {got}",
                    quoted(&path)
                ),
            ),
            Problem::Other(text) if path.is_empty() => {
                (ErrorKind::WrongType, None, format!("op {o}: {text}"))
            }
            Problem::Other(text) => (
                ErrorKind::WrongType,
                Some(path.clone()),
                format!("op {o}: the parameter {}: {text}", quoted(&path)),
            ),
        };
        let error = OpError::new(kind, message).with_op(op);
        match param {
            Some(p) => error.with_param(p),
            None => error,
        }
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.path_text(), self.problem)
    }
}

impl std::error::Error for BindError {}

impl de::Error for BindError {
    fn custom<T: fmt::Display>(msg: T) -> BindError {
        BindError::new(Problem::Other(msg.to_string()))
    }

    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> BindError {
        BindError::new(Problem::WrongType {
            expected: friendly_expected(&expected.to_string()),
            got: describe(&unexpected),
        })
    }

    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> BindError {
        BindError::invalid_type(unexpected, expected)
    }

    fn invalid_length(len: usize, expected: &dyn Expected) -> BindError {
        BindError::new(Problem::WrongType {
            expected: friendly_expected(&expected.to_string()),
            got: format!("a list of {len} items"),
        })
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> BindError {
        let choices: Vec<String> = expected.iter().map(|v| quoted(v)).collect();
        let hint = did_you_mean(variant, expected.iter().copied())
            .map(|k| format!(" (did you mean {}?)", quoted(k)))
            .unwrap_or_default();
        BindError::new(Problem::WrongType {
            expected: format!("one of {}", choices.join(", ")),
            got: format!("{}{hint}", quoted(variant)),
        })
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> BindError {
        BindError::new(Problem::Unknown {
            name: field.to_owned(),
            known: expected.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn missing_field(field: &'static str) -> BindError {
        BindError::new(Problem::Missing(field.to_owned()))
    }
}

/// serde's name for an expected type, in plain words.
fn friendly_expected(expected: &str) -> String {
    let words = match expected {
        "i8" => "a whole number from -128 to 127",
        "i16" => "a whole number from -32768 to 32767",
        "i32" => "a whole number from -2147483648 to 2147483647",
        "i64" | "i128" | "isize" => "a whole number",
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" => "text",
        "a boolean" => "true or false",
        "a character" => "a single character",
        "a sequence" => "a list",
        "a map" => "an object",
        "unit" => "null",
        _ => {
            if expected.starts_with("struct ") {
                return "an object".to_owned();
            }
            if let Some(n) = expected
                .strip_prefix("a tuple of size ")
                .or_else(|| expected.strip_prefix("tuple of size "))
                .or_else(|| expected.strip_prefix("an array of length "))
                .or_else(|| expected.strip_prefix("array of length "))
            {
                return format!("a list of {n} items");
            }
            return expected.to_owned();
        }
    };
    words.to_owned()
}

/// What a value is, in plain words.
fn describe(unexpected: &Unexpected<'_>) -> String {
    match unexpected {
        Unexpected::Bool(b) => b.to_string(),
        Unexpected::Unsigned(n) => format!("the number {n}"),
        Unexpected::Signed(n) => format!("the number {n}"),
        Unexpected::Float(x) => format!("the number {x}"),
        Unexpected::Char(c) => format!("the character {}", quoted(&c.to_string())),
        Unexpected::Str(s) => {
            let short: String = s.chars().take(40).collect();
            let dots = if short.len() < s.len() { "..." } else { "" };
            format!("the text {}{dots}", quoted(&short))
        }
        Unexpected::Seq => "a list".to_owned(),
        Unexpected::Map => "an object".to_owned(),
        Unexpected::Unit | Unexpected::Option => "null".to_owned(),
        other => other.to_string(),
    }
}

/// A JSON value being bound. At the top (the message itself) the `"op"`
/// key is not a parameter.
#[derive(Clone, Copy)]
struct Val<'a> {
    value: &'a Value,
    top: bool,
}

impl<'a> Val<'a> {
    fn unexpected(&self) -> Unexpected<'a> {
        match self.value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Unexpected::Unsigned(u),
                (_, Some(i)) => Unexpected::Signed(i),
                _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Unexpected::Str(s),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        }
    }

    /// The object's entries that are parameters.
    fn params(&self, map: &'a Map<String, Value>) -> impl Iterator<Item = (&'a String, &'a Value)> {
        let top = self.top;
        map.iter()
            .filter(move |(k, _)| !(top && k.as_str() == "op"))
    }
}

impl<'de> de::Deserializer<'de> for Val<'de> {
    type Error = BindError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (_, Some(i)) => visitor.visit_i64(i),
                _ => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = Seq {
                    items: items.iter().enumerate(),
                };
                let value = visitor.visit_seq(&mut seq)?;
                if seq.items.len() > 0 {
                    return Err(BindError::new(Problem::WrongType {
                        expected: format!("a list of {} items", items.len() - seq.items.len()),
                        got: format!("a list of {} items", items.len()),
                    }));
                }
                Ok(value)
            }
            Value::Object(map) => visitor.visit_map(Obj {
                entries: Box::new(self.params(map)),
                pending: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        match self.value {
            Value::Object(map) => match self.params(map).next() {
                None => visitor.visit_unit(),
                Some((name, _)) => Err(BindError::new(Problem::Unknown {
                    name: name.clone(),
                    known: Vec::new(),
                })),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BindError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BindError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BindError> {
        let Value::Object(map) = self.value else {
            return self.deserialize_any(visitor);
        };
        if let Some((name, _)) = self
            .params(map)
            .find(|(k, _)| !fields.contains(&k.as_str()))
        {
            return Err(BindError::new(Problem::Unknown {
                name: name.clone(),
                known: fields.iter().map(|s| s.to_string()).collect(),
            }));
        }
        self.deserialize_any(visitor).map_err(|mut e| {
            if matches!(e.problem, Problem::Missing(_)) && e.path.is_empty() {
                e.known = fields.iter().map(|s| s.to_string()).collect();
            }
            e
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BindError> {
        match self.value {
            Value::String(_) => visitor.visit_enum(Variant {
                name: self.value.as_str().unwrap_or_default(),
                value: None,
            }),
            Value::Object(map) if map.len() == 1 => {
                let (name, value) = map.iter().next().expect("one entry");
                visitor.visit_enum(Variant {
                    name,
                    value: Some(value),
                })
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BindError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf seq tuple tuple_struct map identifier
    }
}

struct Seq<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> SeqAccess<'de> for &mut Seq<'de> {
    type Error = BindError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, BindError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, value)) => seed
                .deserialize(Val { value, top: false })
                .map(Some)
                .map_err(|e| e.inside(Segment::Index(i))),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Obj<'a> {
    entries: Box<dyn Iterator<Item = (&'a String, &'a Value)> + 'a>,
    pending: Option<(&'a String, &'a Value)>,
}

impl<'de> MapAccess<'de> for Obj<'de> {
    type Error = BindError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, BindError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.pending = Some((key, value));
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, BindError> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its key"))?;
        seed.deserialize(Val { value, top: false })
            .map_err(|e| e.inside(Segment::Key(key.clone())))
    }
}

/// An enum: `"Name"` for a unit variant, `{"Name": value}` for the others.
struct Variant<'a> {
    name: &'a str,
    value: Option<&'a Value>,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = BindError;
    type Variant = Payload<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), BindError> {
        let name = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((name, Payload(self.value)))
    }
}

/// What a variant carries: nothing for `"Name"`.
struct Payload<'a>(Option<&'a Value>);

impl<'de> VariantAccess<'de> for Payload<'de> {
    type Error = BindError;

    fn unit_variant(self) -> Result<(), BindError> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(value) => Err(de::Error::invalid_type(
                Val { value, top: false }.unexpected(),
                &"null",
            )),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, BindError> {
        match self.0 {
            Some(value) => seed.deserialize(Val { value, top: false }),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"an object",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, BindError> {
        match self.0 {
            Some(value) => de::Deserializer::deserialize_seq(Val { value, top: false }, visitor),
            None => Err(de::Error::invalid_type(Unexpected::UnitVariant, &"a list")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BindError> {
        match self.0 {
            Some(value) => {
                de::Deserializer::deserialize_struct(Val { value, top: false }, "", fields, visitor)
            }
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"an object",
            )),
        }
    }
}
