//! Message types of the public API.
//!
//! The hub keeps its WebSocket library out of its public API (so it can be swapped),
//! so text payloads travel as [`Text`], a cheaply clonable UTF-8 buffer: cloning it
//! for every recipient of a broadcast is a reference-count increment, never a copy.

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

/// An immutable, cheaply clonable UTF-8 text payload.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Text(Utf8Bytes);

impl Text {
    /// Creates a text payload from a static string without copying it.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Utf8Bytes::from_static(s))
    }

    /// The text as `&str`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_inner(self) -> Utf8Bytes {
        self.0
    }

    pub(crate) fn from_inner(inner: Utf8Bytes) -> Self {
        Self(inner)
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Self(s.as_str().into())
    }
}

impl TryFrom<Bytes> for Text {
    type Error = std::str::Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        Utf8Bytes::try_from(bytes).map(Self)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A close code and reason, as received from a peer or sent by the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code.
    pub code: crate::CloseCode,
    /// The reason text (at most 123 bytes on the wire; longer reasons are cut at a
    /// character boundary).
    pub reason: String,
}

impl CloseFrame {
    /// Creates a close frame.
    pub fn new(code: impl Into<crate::CloseCode>, reason: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn to_ws(&self) -> WsMessage {
        let mut end = self.reason.len().min(123);
        while !self.reason.is_char_boundary(end) {
            end -= 1;
        }
        WsMessage::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: self.code.0.into(),
            reason: self.reason[..end].into(),
        }))
    }
}

/// One outbound data message, already encoded for the wire and shared between all
/// the queues it is placed in.
#[derive(Clone, Debug)]
pub(crate) enum Outgoing {
    Text(Text),
    Binary(Bytes),
}

impl Outgoing {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Text(t) => t.len(),
            Self::Binary(b) => b.len(),
        }
    }

    pub(crate) fn to_ws(&self) -> WsMessage {
        match self {
            Self::Text(t) => WsMessage::Text(t.clone().into_inner()),
            Self::Binary(b) => WsMessage::Binary(b.clone()),
        }
    }
}
