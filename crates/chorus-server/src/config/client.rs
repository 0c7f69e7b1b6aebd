//! The `client` section: connection-level options and token settings.

use serde::{Deserialize, Serialize};

use super::{GoDuration, Pattern};

/// Key material and claim checks for JWT verification
/// (`client.token` and `client.subscription_token`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Shared secret for HS256/384/512.
    pub hmac_secret_key: String,
    /// PEM public key for RS256/384/512.
    pub rsa_public_key: String,
    /// PEM public key for ES256/384.
    pub ecdsa_public_key: String,
    /// JWKS URL; when set it is used for all tokens and static keys are ignored.
    pub jwks_public_endpoint: String,
    /// Required exact `aud`.
    pub audience: String,
    /// Regex the `aud` must match.
    pub audience_regex: Pattern,
    /// Required exact `iss`.
    pub issuer: String,
    /// Regex the `iss` must match.
    pub issuer_regex: Pattern,
    /// Claim holding the user id instead of `sub` (must match `^[a-zA-Z_]+$`).
    pub user_id_claim: String,
    /// Previous HMAC secret, still accepted during key rotation.
    pub hmac_previous_secret_key: String,
    /// Unix time (seconds) after which the previous HMAC secret is rejected;
    /// 0 = accepted forever.
    pub hmac_previous_secret_key_valid_until: i64,
}

impl TokenConfig {
    /// `true` when at least one way of verifying signatures is configured.
    pub fn has_key(&self) -> bool {
        !self.hmac_secret_key.is_empty()
            || !self.rsa_public_key.is_empty()
            || !self.ecdsa_public_key.is_empty()
            || !self.jwks_public_endpoint.is_empty()
    }
}

/// `client.subscription_token`: a separate key set for subscription tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionTokenConfig {
    /// Use these settings (not `client.token`) for subscription tokens.
    pub enabled: bool,
    /// Keys and claim checks.
    #[serde(flatten)]
    pub token: TokenConfig,
}

/// `client.subscribe_to_user_personal_channel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersonalChannelConfig {
    /// Subscribe every authenticated user to `#<user>` server-side.
    pub enabled: bool,
    /// Namespace of the personal channel (`<ns>:#<user>`); `""` = none.
    pub personal_channel_namespace: String,
    /// Keep at most one connection per user (needs presence in that namespace).
    pub single_connection: bool,
}

/// `client`: options for client connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSection {
    /// Connection token verification.
    pub token: TokenConfig,
    /// Subscription token verification (when `enabled`).
    pub subscription_token: SubscriptionTokenConfig,
    /// Allowed `Origin` patterns (`*` wildcards); empty blocks every browser.
    pub allowed_origins: Vec<String>,
    /// `proxy`: connect and refresh proxies.
    pub proxy: super::proxy::ClientProxyConfig,
    /// Server ping interval; negative disables pings. Default 25s.
    pub ping_interval: GoDuration,
    /// How long to wait for a pong after a ping. Default 8s.
    pub pong_timeout: GoDuration,
    /// Grace period after connection expiry before closing. Default 25s.
    pub expired_close_delay: GoDuration,
    /// Grace period after subscription expiry. Default 25s.
    pub expired_sub_close_delay: GoDuration,
    /// Close connections that did not send connect within this. Default 10s.
    pub stale_close_delay: GoDuration,
    /// Max channels per connection. Default 128.
    pub channel_limit: u64,
    /// Max bytes queued for one connection. Default 1048576.
    pub queue_max_size: u64,
    /// Presence refresh interval. Default 27s.
    pub presence_update_interval: GoDuration,
    /// Max connections per node; 0 = unlimited.
    pub connection_limit: u64,
    /// Max connections per user per node; 0 = unlimited.
    pub user_connection_limit: u64,
    /// Max new connections per second per node; 0 = unlimited.
    pub connection_rate_limit: u64,
    /// Include server time in ConnectResult.
    pub connect_include_server_time: bool,
    /// Max publications returned by a client history call. Default 300.
    pub history_max_publication_limit: u64,
    /// Max publications returned on recovery. Default 300.
    pub recovery_max_publication_limit: u64,
    /// Allow everything without tokens (development only).
    pub insecure: bool,
    /// Accept connect without a token as anonymous.
    pub allow_anonymous_connect_without_token: bool,
    /// Reject tokens with an empty `sub` (3507).
    pub disallow_anonymous_connection_tokens: bool,
    /// Automatic personal channel subscription.
    pub subscribe_to_user_personal_channel: PersonalChannelConfig,
    /// Do not check token signatures (development only).
    pub insecure_skip_token_signature_verify: bool,
    /// How often positioned subscriptions check their stream position. Default 40s.
    pub channel_position_check_delay: GoDuration,
    /// Max tolerated lag for a position check; 0 = none.
    pub channel_position_max_time_lag: GoDuration,
    /// Per-connection command concurrency; only 0 (sequential) is supported.
    pub concurrency: u64,
    /// Take the user id from this HTTP header (behind a trusted proxy).
    pub user_id_http_header: String,
    /// `rate_limit`: per-connection command rate limits (Centrifugo PRO-like).
    pub rate_limit: super::rate_limit::RateLimitConfig,
}

impl Default for ClientSection {
    fn default() -> Self {
        Self {
            token: TokenConfig::default(),
            subscription_token: SubscriptionTokenConfig::default(),
            proxy: super::proxy::ClientProxyConfig::default(),
            allowed_origins: Vec::new(),
            ping_interval: GoDuration::from_secs(25),
            pong_timeout: GoDuration::from_secs(8),
            expired_close_delay: GoDuration::from_secs(25),
            expired_sub_close_delay: GoDuration::from_secs(25),
            stale_close_delay: GoDuration::from_secs(10),
            channel_limit: 128,
            queue_max_size: 1_048_576,
            presence_update_interval: GoDuration::from_secs(27),
            connection_limit: 0,
            user_connection_limit: 0,
            connection_rate_limit: 0,
            connect_include_server_time: false,
            history_max_publication_limit: 300,
            recovery_max_publication_limit: 300,
            insecure: false,
            allow_anonymous_connect_without_token: false,
            disallow_anonymous_connection_tokens: false,
            subscribe_to_user_personal_channel: PersonalChannelConfig::default(),
            insecure_skip_token_signature_verify: false,
            channel_position_check_delay: GoDuration::from_secs(40),
            channel_position_max_time_lag: GoDuration::ZERO,
            concurrency: 0,
            user_id_http_header: String::new(),
            rate_limit: super::rate_limit::RateLimitConfig::default(),
        }
    }
}
