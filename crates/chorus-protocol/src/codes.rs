//! Protocol error, unsubscribe and disconnect codes (spec §4), as small typed
//! tables with the exact messages and reasons Centrifugo sends.

use crate::{Disconnect, Error, Push, Unsubscribe};

/// A client protocol error code, sent in [`Reply::error`](crate::Reply::error).
///
/// Codes 0–399 are reserved for the protocol; applications may use 400–1999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    /// Numeric code.
    pub code: u32,
    /// Message sent with the code.
    pub message: &'static str,
    /// Whether the client may retry the operation.
    pub temporary: bool,
}

impl ErrorCode {
    const fn new(code: u32, message: &'static str, temporary: bool) -> Self {
        Self {
            code,
            message,
            temporary,
        }
    }

    /// 100: internal server error (temporary).
    pub const INTERNAL: Self = Self::new(100, "internal server error", true);
    /// 101: unauthorized.
    pub const UNAUTHORIZED: Self = Self::new(101, "unauthorized", false);
    /// 102: unknown channel (namespace not configured).
    pub const UNKNOWN_CHANNEL: Self = Self::new(102, "unknown channel", false);
    /// 103: permission denied.
    pub const PERMISSION_DENIED: Self = Self::new(103, "permission denied", false);
    /// 104: method not found (RPC without handler).
    pub const METHOD_NOT_FOUND: Self = Self::new(104, "method not found", false);
    /// 105: already subscribed.
    pub const ALREADY_SUBSCRIBED: Self = Self::new(105, "already subscribed", false);
    /// 106: limit exceeded.
    pub const LIMIT_EXCEEDED: Self = Self::new(106, "limit exceeded", false);
    /// 107: bad request.
    pub const BAD_REQUEST: Self = Self::new(107, "bad request", false);
    /// 108: not available (feature disabled for the channel).
    pub const NOT_AVAILABLE: Self = Self::new(108, "not available", false);
    /// 109: token expired; SDKs fetch a new token and retry.
    pub const TOKEN_EXPIRED: Self = Self::new(109, "token expired", false);
    /// 110: expired (no token involved).
    pub const EXPIRED: Self = Self::new(110, "expired", false);
    /// 111: too many requests (temporary).
    pub const TOO_MANY_REQUESTS: Self = Self::new(111, "too many requests", true);
    /// 112: unrecoverable position.
    pub const UNRECOVERABLE_POSITION: Self = Self::new(112, "unrecoverable position", false);
    /// 113: concurrent pagination (map subscriptions, temporary).
    pub const CONCURRENT_PAGINATION: Self = Self::new(113, "concurrent pagination", true);

    /// Every protocol error code, in numeric order.
    pub const ALL: &'static [Self] = &[
        Self::INTERNAL,
        Self::UNAUTHORIZED,
        Self::UNKNOWN_CHANNEL,
        Self::PERMISSION_DENIED,
        Self::METHOD_NOT_FOUND,
        Self::ALREADY_SUBSCRIBED,
        Self::LIMIT_EXCEEDED,
        Self::BAD_REQUEST,
        Self::NOT_AVAILABLE,
        Self::TOKEN_EXPIRED,
        Self::EXPIRED,
        Self::TOO_MANY_REQUESTS,
        Self::UNRECOVERABLE_POSITION,
        Self::CONCURRENT_PAGINATION,
    ];

    /// Looks up a protocol error code.
    #[must_use]
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code == code)
    }

    /// The protocol [`Error`] message for this code.
    #[must_use]
    pub fn to_error(self) -> Error {
        Error {
            code: self.code,
            message: self.message.to_owned(),
            temporary: self.temporary,
        }
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        code.to_error()
    }
}

/// An unsubscribe code, sent in a [`Push::unsubscribe`](crate::Push::unsubscribe).
///
/// Codes below 2500 move the client to the unsubscribed state; 2500 and above
/// make it resubscribe. Codes 0–2099 and 2500–2599 are reserved for the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnsubscribeCode {
    /// Numeric code.
    pub code: u32,
    /// Reason sent with the code.
    pub reason: &'static str,
}

impl UnsubscribeCode {
    const fn new(code: u32, reason: &'static str) -> Self {
        Self { code, reason }
    }

    /// 0: the client unsubscribed itself (internal, never sent).
    pub const CLIENT: Self = Self::new(0, "client unsubscribed");
    /// 1: the client disconnected (internal, never sent).
    pub const DISCONNECT: Self = Self::new(1, "client disconnected");
    /// 2000: server unsubscribe, no resubscribe.
    pub const SERVER: Self = Self::new(2000, "server unsubscribe");
    /// 2500: insufficient state; the client resubscribes and recovers.
    pub const INSUFFICIENT_STATE: Self = Self::new(2500, "insufficient state");
    /// 2501: subscription expired; the client resubscribes with a fresh token.
    pub const EXPIRED: Self = Self::new(2501, "subscription expired");
    /// 2502: state invalidated; the client drops token and cached state, then resubscribes.
    pub const STATE_INVALIDATED: Self = Self::new(2502, "state invalidated");

    /// The codes that are sent to clients, in numeric order.
    pub const SENT: &'static [Self] = &[
        Self::SERVER,
        Self::INSUFFICIENT_STATE,
        Self::EXPIRED,
        Self::STATE_INVALIDATED,
    ];

    /// Whether a client resubscribes after this code (code ≥ 2500).
    #[must_use]
    pub const fn resubscribe(self) -> bool {
        unsubscribe_code_resubscribes(self.code)
    }

    /// The unsubscribe push body for this code.
    #[must_use]
    pub fn to_unsubscribe(self) -> Unsubscribe {
        Unsubscribe {
            code: self.code,
            reason: self.reason.to_owned(),
        }
    }

    /// A complete unsubscribe push for `channel`.
    #[must_use]
    pub fn to_push(self, channel: impl Into<String>) -> Push {
        Push {
            channel: channel.into(),
            unsubscribe: Some(self.to_unsubscribe()),
            ..Push::default()
        }
    }
}

impl From<UnsubscribeCode> for Unsubscribe {
    fn from(code: UnsubscribeCode) -> Self {
        code.to_unsubscribe()
    }
}

/// Whether SDKs resubscribe after an unsubscribe push with this code
/// (codes ≥ 2500 resubscribe, lower codes are final).
#[must_use]
pub const fn unsubscribe_code_resubscribes(code: u32) -> bool {
    code >= 2500
}

/// A disconnect code: the WebSocket close code, or the code of a
/// [`Push::disconnect`](crate::Push::disconnect) on emulated and
/// unidirectional transports.
///
/// Applications should use 4000–4999 for their own codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DisconnectCode {
    /// Numeric code.
    pub code: u32,
    /// Reason sent with the code (keep under 123 bytes for WebSocket close frames).
    pub reason: &'static str,
    /// Whether SDKs reconnect after this code.
    pub reconnect: bool,
}

impl DisconnectCode {
    const fn new(code: u32, reason: &'static str) -> Self {
        Self {
            code,
            reason,
            reconnect: disconnect_code_reconnects(code),
        }
    }

    /// 3000: connection closed without advice (never sent in a frame).
    pub const CONNECTION_CLOSED: Self = Self::new(3000, "connection closed");
    /// 3001: server shutdown.
    pub const SHUTDOWN: Self = Self::new(3001, "shutdown");
    /// 3004: internal server error.
    pub const INTERNAL_SERVER_ERROR: Self = Self::new(3004, "internal server error");
    /// 3005: connection expired.
    pub const EXPIRED: Self = Self::new(3005, "connection expired");
    /// 3006: server-side subscription expired.
    pub const SUBSCRIPTION_EXPIRED: Self = Self::new(3006, "subscription expired");
    /// 3008: slow client (outgoing queue overflow).
    pub const SLOW: Self = Self::new(3008, "slow");
    /// 3009: write error.
    pub const WRITE_ERROR: Self = Self::new(3009, "write error");
    /// 3010: insufficient state on a server-side subscription.
    pub const INSUFFICIENT_STATE: Self = Self::new(3010, "insufficient state");
    /// 3011: force reconnect.
    pub const FORCE_RECONNECT: Self = Self::new(3011, "force reconnect");
    /// 3012: no pong in time.
    pub const NO_PONG: Self = Self::new(3012, "no pong");
    /// 3013: too many requests.
    pub const TOO_MANY_REQUESTS: Self = Self::new(3013, "too many requests");
    /// 3014: state invalidated.
    pub const STATE_INVALIDATED: Self = Self::new(3014, "state invalidated");
    /// 3500: invalid token.
    pub const INVALID_TOKEN: Self = Self::new(3500, "invalid token");
    /// 3501: bad request (malformed frame, protocol misuse).
    pub const BAD_REQUEST: Self = Self::new(3501, "bad request");
    /// 3502: stale (no connect in time).
    pub const STALE: Self = Self::new(3502, "stale");
    /// 3503: force disconnect.
    pub const FORCE_DISCONNECT: Self = Self::new(3503, "force disconnect");
    /// 3504: user connection limit reached.
    pub const CONNECTION_LIMIT: Self = Self::new(3504, "connection limit");
    /// 3505: channel limit reached.
    pub const CHANNEL_LIMIT: Self = Self::new(3505, "channel limit");
    /// 3506: inappropriate protocol (non-JSON payload for a JSON client).
    pub const INAPPROPRIATE_PROTOCOL: Self = Self::new(3506, "inappropriate protocol");
    /// 3507: permission denied.
    pub const PERMISSION_DENIED: Self = Self::new(3507, "permission denied");
    /// 3508: not available.
    pub const NOT_AVAILABLE: Self = Self::new(3508, "not available");
    /// 3509: too many errors.
    pub const TOO_MANY_ERRORS: Self = Self::new(3509, "too many errors");

    /// Every built-in disconnect code, in numeric order.
    pub const ALL: &'static [Self] = &[
        Self::CONNECTION_CLOSED,
        Self::SHUTDOWN,
        Self::INTERNAL_SERVER_ERROR,
        Self::EXPIRED,
        Self::SUBSCRIPTION_EXPIRED,
        Self::SLOW,
        Self::WRITE_ERROR,
        Self::INSUFFICIENT_STATE,
        Self::FORCE_RECONNECT,
        Self::NO_PONG,
        Self::TOO_MANY_REQUESTS,
        Self::STATE_INVALIDATED,
        Self::INVALID_TOKEN,
        Self::BAD_REQUEST,
        Self::STALE,
        Self::FORCE_DISCONNECT,
        Self::CONNECTION_LIMIT,
        Self::CHANNEL_LIMIT,
        Self::INAPPROPRIATE_PROTOCOL,
        Self::PERMISSION_DENIED,
        Self::NOT_AVAILABLE,
        Self::TOO_MANY_ERRORS,
    ];

    /// Looks up a built-in disconnect code.
    #[must_use]
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code == code)
    }

    /// The disconnect push body for this code. `reconnect` is left false:
    /// Centrifugo never sets it and clients derive it from the code.
    #[must_use]
    pub fn to_disconnect(self) -> Disconnect {
        Disconnect {
            code: self.code,
            reason: self.reason.to_owned(),
            reconnect: false,
        }
    }

    /// A complete disconnect push (for emulated and unidirectional transports).
    #[must_use]
    pub fn to_push(self) -> Push {
        Push {
            disconnect: Some(self.to_disconnect()),
            ..Push::default()
        }
    }
}

impl From<DisconnectCode> for Disconnect {
    fn from(code: DisconnectCode) -> Self {
        code.to_disconnect()
    }
}

/// Whether SDKs reconnect after a disconnect with this code.
///
/// 3000–3499 and 4000–4499 reconnect; 3500–3999 and 4500–4999 are terminal;
/// 5000 and above reconnect; codes below 3000 are transport level and
/// reconnect too (except WebSocket 1009, message too big).
#[must_use]
pub const fn disconnect_code_reconnects(code: u32) -> bool {
    !matches!(code, 1009 | 3500..=3999 | 4500..=4999)
}
