//! Errors and close codes.

use std::fmt;

/// A WebSocket close code.
///
/// The named constants are the ones the hub itself sends; applications may use any
/// code allowed by RFC 6455 (1000–1014 registered, 3000–4999 for libraries and apps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure (`Session::close`).
    pub const NORMAL: Self = Self(1000);
    /// 1001: the hub is going away (`Hub::close`, graceful shutdown).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer violated the WebSocket protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1007: a text message was not valid UTF-8.
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: policy violation (used when the peer stops answering pings).
    pub const POLICY: Self = Self(1008);
    /// 1009: an inbound message exceeded [`Config::max_message_size`](crate::Config).
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1011: the hub hit an internal error (a write timed out).
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 3008 `slow consumer`: the session's outbound queue would have exceeded
    /// [`Config::max_queued_bytes`](crate::Config). Same number as Centrifugo's
    /// "slow" disconnect, in the range reserved for libraries, so clients may reconnect.
    pub const SLOW_CONSUMER: Self = Self(3008);
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

/// The reason text sent with [`CloseCode::SLOW_CONSUMER`].
pub const SLOW_CONSUMER_REASON: &str = "slow consumer";

/// Why a write to a session was not queued.
///
/// A failed write never leaves a silent gap: either the message is queued, or the
/// session is (or already was) closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The session is closed or closing; nothing more is sent to it.
    #[error("session is closed")]
    Closed,
    /// The message would have pushed the queue over its byte bound; the session is
    /// being closed with [`CloseCode::SLOW_CONSUMER`].
    #[error("outbound queue full: session closed as slow consumer")]
    SlowConsumer,
}

/// An error reported to the hub's error handler. The session it concerns is closed
/// (or closing) when the handler runs; other sessions are unaffected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// An inbound message exceeded the size limit (closed with 1009).
    #[error("inbound message exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// A text message was not valid UTF-8 (closed with 1007).
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    /// The peer broke the WebSocket protocol (closed with 1002).
    #[error("websocket protocol error: {0}")]
    Protocol(String),
    /// The peer did not answer pings within `pong_wait`.
    #[error("no pong within {0:?}")]
    PongTimeout(std::time::Duration),
    /// A write did not complete within `write_timeout`.
    #[error("write timed out after {0:?}")]
    WriteTimeout(std::time::Duration),
    /// The outbound queue overflowed; the session was closed as a slow consumer.
    #[error("outbound queue exceeded {limit} bytes")]
    SlowConsumer {
        /// The configured bound.
        limit: usize,
    },
    /// The socket failed.
    #[error("transport error: {0}")]
    Transport(String),
}

/// An invalid [`Config`](crate::Config); lists every problem found.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid hub config: {}", problems.join("; "))]
pub struct ConfigError {
    /// One message per violated rule.
    pub problems: Vec<String>,
}
