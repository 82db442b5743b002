//! [`Message`]: a whole text or binary message.

use std::fmt;

use crate::frame::MessageKind;

/// A whole message: text (always valid UTF-8) or binary.
///
/// ```
/// use wsstack::Message;
/// assert_eq!(Message::from("hi"), Message::Text("hi".to_string()));
/// assert_eq!(Message::from(vec![1u8, 2]), Message::Binary(vec![1, 2]));
/// assert_eq!(Message::from(&b"\x00"[..]).as_bytes(), b"\x00");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Text(_) => MessageKind::Text,
            Message::Binary(_) => MessageKind::Binary,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(s) => s.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The text, for a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(s) => Some(s),
            Message::Binary(_) => None,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Message::Text(s) => s.into_bytes(),
            Message::Binary(b) => b,
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 64;
        match self {
            Message::Text(s) if s.len() <= SHOW => write!(f, "Text({s:?})"),
            Message::Text(s) => write!(f, "Text({} bytes)", s.len()),
            Message::Binary(b) if b.len() <= SHOW => write!(f, "Binary({b:?})"),
            Message::Binary(b) => write!(f, "Binary({} bytes)", b.len()),
        }
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::Text(s.to_owned())
    }
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::Text(s)
    }
}

impl From<&String> for Message {
    fn from(s: &String) -> Message {
        Message::Text(s.clone())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Message {
        Message::Binary(b)
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Message {
        Message::Binary(b.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for Message {
    fn from(b: &[u8; N]) -> Message {
        Message::Binary(b.to_vec())
    }
}
