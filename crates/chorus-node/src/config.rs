//! Engine configuration (what the server's config file turns into).

use crate::channel::ChannelRules;
use std::time::Duration;

/// Client protocol timing and limits (Centrifugo's `client` section, runtime form).
#[derive(Debug, Clone)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools)]
pub struct ClientConfig {
    /// Server ping interval; `None` disables pings.
    pub ping_interval: Option<Duration>,
    /// How long after a ping the pong must arrive (3012 otherwise).
    pub pong_timeout: Duration,
    /// Close connections that sent no `connect` within this time (3502).
    pub stale_close_delay: Duration,
    /// Grace period after connection expiry before closing (3005).
    pub expired_close_delay: Duration,
    /// Grace period after subscription expiry before unsubscribing (2501 / 3006).
    pub expired_sub_close_delay: Duration,
    /// Most channels one connection may subscribe to (106 / 3505).
    pub channel_limit: usize,
    /// Outbound queue bound in bytes (3008 when exceeded).
    pub queue_max_size: usize,
    /// How often live connections refresh their presence.
    pub presence_update_interval: Duration,
    /// Cap of publications per client `history` call.
    pub history_max_publication_limit: usize,
    /// Cap of publications recovered on resubscribe.
    pub recovery_max_publication_limit: usize,
    /// Development mode: every client may do everything.
    pub insecure: bool,
    /// Connections without a token are accepted as anonymous.
    pub allow_anonymous_connect_without_token: bool,
    /// Tokens with an empty `sub` are refused (3507).
    pub disallow_anonymous_connection_tokens: bool,
    /// How often positioned subscriptions are checked against the stream top
    /// (`channel_position_check_delay`; zero disables the check). A subscriber
    /// still behind a top seen one full check earlier, or on another epoch, has
    /// insufficient state (2500 / 3010).
    pub channel_position_check_delay: Duration,
    /// Publications older than this when they reach the node (by their `time`)
    /// mean PUB/SUB lags too much for positioned subscribers: insufficient state
    /// (`channel_position_max_time_lag`; zero disables).
    pub channel_position_max_time_lag: Duration,
    /// Put the server time in `ConnectResult.time`.
    pub connect_include_server_time: bool,
    /// Most connections per node (0: unlimited; 3504 when reached).
    pub connection_limit: usize,
    /// Most connections per user on this node (0: unlimited; 3504 when reached).
    pub user_connection_limit: usize,
    /// Per-connection command rate limits (`None`: unlimited; 111 or 3013).
    pub command_rate_limit: Option<std::sync::Arc<crate::limits::CommandRateLimits>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            ping_interval: Some(Duration::from_secs(25)),
            pong_timeout: Duration::from_secs(8),
            stale_close_delay: Duration::from_secs(10),
            expired_close_delay: Duration::from_secs(25),
            expired_sub_close_delay: Duration::from_secs(25),
            channel_limit: 128,
            queue_max_size: 1024 * 1024,
            presence_update_interval: Duration::from_secs(27),
            history_max_publication_limit: 300,
            recovery_max_publication_limit: 300,
            channel_position_check_delay: Duration::from_secs(40),
            channel_position_max_time_lag: Duration::ZERO,
            insecure: false,
            allow_anonymous_connect_without_token: false,
            disallow_anonymous_connection_tokens: false,
            connect_include_server_time: false,
            connection_limit: 0,
            user_connection_limit: 0,
            command_rate_limit: None,
        }
    }
}

/// Everything the engine needs to know.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// Node name shown in `info` (default: host name or "chorus").
    pub name: String,
    /// Version reported to clients in `ConnectResult.version`.
    pub version: String,
    /// Client timing and limits.
    pub client: ClientConfig,
    /// Channel naming and namespaces.
    pub channels: ChannelRules,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            name: "chorus".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            client: ClientConfig::default(),
            channels: ChannelRules::default(),
        }
    }
}
