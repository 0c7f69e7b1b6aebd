//! Convenience constructors and predicates on the generated messages.

use crate::{Command, Error, Push, Reply};

impl Reply {
    /// A server ping: the empty reply (`{}` in JSON, `0x00` in Protobuf).
    #[must_use]
    pub fn ping() -> Self {
        Self::default()
    }

    /// Whether this is a server ping (no id, no error, no push, no result).
    #[must_use]
    pub fn is_ping(&self) -> bool {
        *self == Self::default()
    }

    /// An error reply to the command with `id`.
    #[must_use]
    pub fn error(id: u32, error: impl Into<Error>) -> Self {
        Self {
            id,
            error: Some(error.into()),
            ..Self::default()
        }
    }
}

impl From<Push> for Reply {
    /// Wraps a push in a reply, as bidirectional transports send it.
    fn from(push: Push) -> Self {
        Self {
            push: Some(push),
            ..Self::default()
        }
    }
}

impl Command {
    /// A client pong: the empty command (`{}` in JSON, `0x00` in Protobuf).
    #[must_use]
    pub fn pong() -> Self {
        Self::default()
    }

    /// Whether this is a pong (no id and no request).
    #[must_use]
    pub fn is_pong(&self) -> bool {
        *self == Self::default()
    }
}

impl Push {
    /// A ping on unidirectional transports: the empty push.
    #[must_use]
    pub fn ping() -> Self {
        Self::default()
    }

    /// Whether this is a unidirectional ping (the empty push).
    #[must_use]
    pub fn is_ping(&self) -> bool {
        *self == Self::default()
    }
}
