//! Errors of the engine and the one place where they become protocol codes.
//!
//! Three vocabularies exist on the wire (spec §4): reply errors (100–113, apps
//! 400–1999), unsubscribe codes (2000–2999) and disconnect codes (3000–4999). Each
//! Rust error type here maps to exactly one of them through an exhaustive `match`,
//! so adding a variant without deciding its code does not compile.

use chorus_protocol::{DisconnectCode, ErrorCode};
use std::borrow::Cow;

/// An error replied to one client command. The connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// 100, temporary: something failed inside the server.
    #[error("internal server error")]
    Internal,
    /// 101.
    #[error("unauthorized")]
    Unauthorized,
    /// 102: the channel's namespace is not configured.
    #[error("unknown channel")]
    UnknownChannel,
    /// 103.
    #[error("permission denied")]
    PermissionDenied,
    /// 104: an RPC handler exists but does not route the method.
    #[error("method not found")]
    MethodNotFound,
    /// 105.
    #[error("already subscribed")]
    AlreadySubscribed,
    /// 106: e.g. `client.channel_limit`.
    #[error("limit exceeded")]
    LimitExceeded,
    /// 107.
    #[error("bad request")]
    BadRequest,
    /// 108: the feature is off for the channel, or no RPC handler is set.
    #[error("not available")]
    NotAvailable,
    /// 109: the token expired; SDKs fetch a new one and retry.
    #[error("token expired")]
    TokenExpired,
    /// 110.
    #[error("expired")]
    Expired,
    /// 111, temporary.
    #[error("too many requests")]
    TooManyRequests,
    /// 112.
    #[error("unrecoverable position")]
    UnrecoverablePosition,
    /// An application error (codes 400–1999 by convention).
    #[error("{message}")]
    Custom {
        /// Code.
        code: u32,
        /// Message.
        message: String,
        /// Whether the client may retry.
        temporary: bool,
    },
}

impl ClientError {
    fn table(&self) -> Option<ErrorCode> {
        Some(match self {
            Self::Internal => ErrorCode::INTERNAL,
            Self::Unauthorized => ErrorCode::UNAUTHORIZED,
            Self::UnknownChannel => ErrorCode::UNKNOWN_CHANNEL,
            Self::PermissionDenied => ErrorCode::PERMISSION_DENIED,
            Self::MethodNotFound => ErrorCode::METHOD_NOT_FOUND,
            Self::AlreadySubscribed => ErrorCode::ALREADY_SUBSCRIBED,
            Self::LimitExceeded => ErrorCode::LIMIT_EXCEEDED,
            Self::BadRequest => ErrorCode::BAD_REQUEST,
            Self::NotAvailable => ErrorCode::NOT_AVAILABLE,
            Self::TokenExpired => ErrorCode::TOKEN_EXPIRED,
            Self::Expired => ErrorCode::EXPIRED,
            Self::TooManyRequests => ErrorCode::TOO_MANY_REQUESTS,
            Self::UnrecoverablePosition => ErrorCode::UNRECOVERABLE_POSITION,
            Self::Custom { .. } => return None,
        })
    }

    /// The numeric code.
    pub fn code(&self) -> u32 {
        match (self, self.table()) {
            (Self::Custom { code, .. }, _) => *code,
            (_, Some(t)) => t.code,
            (_, None) => ErrorCode::INTERNAL.code,
        }
    }

    /// The protocol `Error` sent in the reply.
    pub fn to_protocol(&self) -> chorus_protocol::Error {
        match (self, self.table()) {
            (
                Self::Custom {
                    code,
                    message,
                    temporary,
                },
                _,
            ) => chorus_protocol::Error {
                code: *code,
                message: message.clone(),
                temporary: *temporary,
            },
            (_, Some(t)) => t.to_error(),
            (_, None) => ErrorCode::INTERNAL.to_error(),
        }
    }
}

/// Why a connection is closed by the server: a code and a short reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("disconnect {code}: {reason}")]
pub struct Disconnect {
    /// Disconnect code (3000–4999).
    pub code: u32,
    /// Reason text (kept short: WebSocket close reasons are limited to 123 bytes).
    pub reason: Cow<'static, str>,
}

impl Disconnect {
    /// A custom disconnect (applications use 4000–4999).
    pub fn new(code: u32, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    const fn of(c: DisconnectCode) -> Self {
        Self {
            code: c.code,
            reason: Cow::Borrowed(c.reason),
        }
    }

    /// 3000: connection closed (never sent in a WebSocket frame).
    pub const CONNECTION_CLOSED: Self = Self::of(DisconnectCode::CONNECTION_CLOSED);
    /// 3001: shutdown.
    pub const SHUTDOWN: Self = Self::of(DisconnectCode::SHUTDOWN);
    /// 3004: internal server error.
    pub const SERVER_ERROR: Self = Self::of(DisconnectCode::INTERNAL_SERVER_ERROR);
    /// 3005: connection expired.
    pub const EXPIRED: Self = Self::of(DisconnectCode::EXPIRED);
    /// 3006: subscription expired.
    pub const SUB_EXPIRED: Self = Self::of(DisconnectCode::SUBSCRIPTION_EXPIRED);
    /// 3008: slow (outbound queue overflow).
    pub const SLOW: Self = Self::of(DisconnectCode::SLOW);
    /// 3009: write error.
    pub const WRITE_ERROR: Self = Self::of(DisconnectCode::WRITE_ERROR);
    /// 3010: insufficient state.
    pub const INSUFFICIENT_STATE: Self = Self::of(DisconnectCode::INSUFFICIENT_STATE);
    /// 3011: force reconnect.
    pub const FORCE_RECONNECT: Self = Self::of(DisconnectCode::FORCE_RECONNECT);
    /// 3012: no pong.
    pub const NO_PONG: Self = Self::of(DisconnectCode::NO_PONG);
    /// 3013: too many requests.
    pub const TOO_MANY_REQUESTS: Self = Self::of(DisconnectCode::TOO_MANY_REQUESTS);
    /// 3500: invalid token.
    pub const INVALID_TOKEN: Self = Self::of(DisconnectCode::INVALID_TOKEN);
    /// 3501: bad request.
    pub const BAD_REQUEST: Self = Self::of(DisconnectCode::BAD_REQUEST);
    /// 3502: stale (no connect in time).
    pub const STALE: Self = Self::of(DisconnectCode::STALE);
    /// 3503: force disconnect.
    pub const FORCE_NO_RECONNECT: Self = Self::of(DisconnectCode::FORCE_DISCONNECT);
    /// 3504: connection limit.
    pub const CONNECTION_LIMIT: Self = Self::of(DisconnectCode::CONNECTION_LIMIT);
    /// 3505: channel limit.
    pub const CHANNEL_LIMIT: Self = Self::of(DisconnectCode::CHANNEL_LIMIT);
    /// 3506: inappropriate protocol.
    pub const INAPPROPRIATE_PROTOCOL: Self = Self::of(DisconnectCode::INAPPROPRIATE_PROTOCOL);
    /// 3507: permission denied.
    pub const PERMISSION_DENIED: Self = Self::of(DisconnectCode::PERMISSION_DENIED);
    /// 3508: not available.
    pub const NOT_AVAILABLE: Self = Self::of(DisconnectCode::NOT_AVAILABLE);
    /// 3509: too many errors.
    pub const TOO_MANY_ERRORS: Self = Self::of(DisconnectCode::TOO_MANY_ERRORS);

    /// Whether SDKs reconnect after this code (spec §4.3).
    pub fn reconnects(&self) -> bool {
        chorus_protocol::codes::disconnect_code_reconnects(self.code)
    }

    /// The disconnect push (emulated and unidirectional transports).
    pub fn to_push(&self) -> chorus_protocol::Push {
        chorus_protocol::Push {
            disconnect: Some(chorus_protocol::Disconnect {
                code: self.code,
                reason: self.reason.to_string(),
                reconnect: false,
            }),
            ..Default::default()
        }
    }
}

/// An error from a backend (broker, presence manager, history).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The backend does not support the operation (e.g. history on a PUB/SUB-only broker).
    #[error("not available")]
    NotAvailable,
    /// The requested position's epoch does not match the stream.
    #[error("unrecoverable position")]
    UnrecoverablePosition,
    /// The backend is unreachable or failed.
    #[error("backend failure: {0}")]
    Failed(String),
}

/// An error of a server API call (HTTP or gRPC), with Centrifugo's API codes (spec §8.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 100.
    #[error("internal server error")]
    Internal,
    /// 102.
    #[error("unknown channel")]
    UnknownChannel,
    /// 104.
    #[error("not found")]
    NotFound,
    /// 107.
    #[error("bad request")]
    BadRequest,
    /// 107, with the reason in the message (e.g. an unsupported request field).
    #[error("bad request: {0}")]
    BadRequestReason(&'static str),
    /// 108.
    #[error("not available")]
    NotAvailable,
    /// 112.
    #[error("unrecoverable position")]
    UnrecoverablePosition,
    /// 113.
    #[error("conflict")]
    Conflict,
}

impl ApiError {
    /// The numeric API error code.
    pub fn code(&self) -> u32 {
        match self {
            Self::Internal => 100,
            Self::UnknownChannel => 102,
            Self::NotFound => 104,
            Self::BadRequest | Self::BadRequestReason(_) => 107,
            Self::NotAvailable => 108,
            Self::UnrecoverablePosition => 112,
            Self::Conflict => 113,
        }
    }

    /// HTTP status for the "transport" error mode (spec §8.1).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Internal => 500,
            Self::UnknownChannel | Self::NotFound => 404,
            Self::BadRequest | Self::BadRequestReason(_) | Self::NotAvailable => 400,
            Self::UnrecoverablePosition => 416,
            Self::Conflict => 409,
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::NotAvailable => Self::NotAvailable,
            BackendError::UnrecoverablePosition => Self::UnrecoverablePosition,
            BackendError::Failed(_) => Self::Internal,
        }
    }
}

impl From<BackendError> for ClientError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::NotAvailable => Self::NotAvailable,
            BackendError::UnrecoverablePosition => Self::UnrecoverablePosition,
            BackendError::Failed(_) => Self::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec() {
        assert_eq!(ClientError::PermissionDenied.code(), 103);
        assert_eq!(ClientError::TokenExpired.to_protocol().code, 109);
        assert!(ClientError::Internal.to_protocol().temporary);
        assert_eq!(Disconnect::INVALID_TOKEN.code, 3500);
        assert_eq!(Disconnect::SLOW.code, 3008);
        assert!(Disconnect::SHUTDOWN.reconnects());
        assert!(!Disconnect::BAD_REQUEST.reconnects());
        assert_eq!(ApiError::NotFound.http_status(), 404);
    }
}
