//! Credentials: what a verified token (or an application's connecting handler)
//! grants a connection or a subscription.
//!
//! The engine does not parse JWTs itself; the server plugs a [`TokenVerifier`] in.
//! Keeping the grant types here lets any verifier (JWT, sessions, API keys) feed the
//! same connect and subscribe logic.

use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;

/// Overrides of channel options carried by a subscription grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeOverride {
    /// Override `presence`.
    pub presence: Option<bool>,
    /// Override `join_leave`.
    pub join_leave: Option<bool>,
    /// Override `force_push_join_leave`.
    pub force_push_join_leave: Option<bool>,
    /// Override `force_recovery`.
    pub force_recovery: Option<bool>,
    /// Override `force_positioning`.
    pub force_positioning: Option<bool>,
}

/// Options of one server-side subscription granted at connect.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerSubscription {
    /// Channel info (`chan_info`).
    pub info: Bytes,
    /// Data sent in the subscribe result.
    pub data: Bytes,
    /// Option overrides.
    pub overrides: SubscribeOverride,
    /// Unix time (seconds) when the subscription expires; `None`: never. An
    /// expired server-side subscription closes the connection with 3006
    /// after `client.expired_sub_close_delay`.
    pub expire_at: Option<i64>,
}

/// What a connection is granted.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectGrant {
    /// User id (empty: anonymous).
    pub user: String,
    /// Unix time (seconds) when the connection expires; `None`: never.
    pub expire_at: Option<i64>,
    /// Connection info (`conn_info`), raw JSON or bytes.
    pub info: Bytes,
    /// Data returned to the client in `ConnectResult.data`.
    pub data: Bytes,
    /// Server-side subscriptions.
    pub subs: BTreeMap<String, ServerSubscription>,
    /// Server-side metadata (never sent to the client).
    pub meta: Bytes,
}

impl ConnectGrant {
    /// A grant for `user` with no expiry and nothing else.
    pub fn user(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            ..Self::default()
        }
    }
}

/// What a subscription is granted.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SubscribeGrant {
    /// The user the token was issued for (must equal the connection's user).
    pub user: String,
    /// The channel the token is for (must equal the requested channel).
    pub channel: String,
    /// Unix time (seconds) when the subscription expires; `None`: never.
    pub expire_at: Option<i64>,
    /// Channel info (`chan_info`).
    pub info: Bytes,
    /// Optional client id the token is bound to (must equal the connection's).
    pub client: String,
    /// Option overrides.
    pub overrides: SubscribeOverride,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// `exp` is in the past (reply 109 on connect/subscribe).
    #[error("token expired")]
    Expired,
    /// Anything else wrong with it (3500 on connect, 103 on subscribe).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The keys could not be fetched (reply 100, temporary).
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

/// Verifies connection and subscription tokens.
///
/// # Contract
/// Implementations check signature, `exp`/`nbf` and configured audience/issuer,
/// and map claims to grants. They must reject connection tokens carrying a
/// `channel` claim and subscription tokens without one.
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies a connection token.
    async fn verify_connect(&self, token: &str) -> Result<ConnectGrant, TokenError>;
    /// Verifies a subscription token.
    async fn verify_subscribe(&self, token: &str) -> Result<SubscribeGrant, TokenError>;
}
