//! Hub configuration: Melody's knobs plus the limits Melody lacks.

use std::time::Duration;

/// Which browser origins may open a WebSocket to the hub.
///
/// Requests without an `Origin` header (non-browser clients) are always accepted;
/// the policy only decides for requests that carry one. A rejected request gets
/// `403 Forbidden` before any upgrade happens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// The origin's host must equal the request's `Host` header (Melody's and
    /// gorilla/websocket's default).
    #[default]
    SameHost,
    /// Every origin is accepted.
    Any,
    /// Only origins matching one of the patterns are accepted. A pattern is compared
    /// case-insensitively with the full origin (`https://app.example.com`); `*` matches
    /// any run of characters, so `https://*.example.com` accepts every subdomain.
    List(Vec<String>),
}

impl OriginPolicy {
    /// Whether `origin` is acceptable for a request whose `Host` header is `host`.
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::SameHost => {
                let origin_host = origin
                    .split_once("://")
                    .map_or(origin, |(_, rest)| rest)
                    .trim_end_matches('/');
                host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host))
            }
            Self::List(patterns) => patterns
                .iter()
                .any(|p| wildcard_match(&p.to_ascii_lowercase(), &origin.to_ascii_lowercase())),
        }
    }
}

/// Glob match: `*` matches any (possibly empty) run of characters, `?` one
/// character (the same patterns as the engine's origin lists).
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

/// Hub configuration.
///
/// Defaults follow Melody where Melody's defaults are sound (timeouts) and the
/// field evidence where they are not: the inbound limit is 64 KiB instead of
/// Melody's 512 bytes, the outbound queue is bounded in *bytes*, and the read buffer is
/// 4 KiB instead of tungstenite's 128 KiB so that idle connections stay small.
///
/// ```
/// use std::time::Duration;
/// use chorus_hub::{Config, OriginPolicy};
///
/// let config = Config::default()
///     .max_message_size(16 * 1024)
///     .max_queued_bytes(256 * 1024)
///     .ping_period(Duration::from_secs(20))
///     .pong_wait(Duration::from_secs(30))
///     .allowed_origins(OriginPolicy::List(vec!["https://*.example.com".into()]));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Longest time one write (a batch of queued messages and its flush) may take
    /// before the session is closed as stuck. Melody: `WriteWait`, 10 s.
    pub write_timeout: Duration,
    /// How long the session may go without receiving anything from the peer (a pong
    /// or any other frame) before it is closed. Melody: `PongWait`, 60 s.
    pub pong_wait: Duration,
    /// How often the hub pings the peer. Must be shorter than `pong_wait`.
    /// Melody: `PingPeriod`, 54 s.
    pub ping_period: Duration,
    /// Largest inbound message (and frame) in bytes; bigger ones close the session with
    /// 1009. Melody: `MaxMessageSize`.
    pub max_message_size: usize,
    /// Bound of each session's outbound queue in bytes of payload. A write that would
    /// exceed it closes the session with [`CloseCode::SLOW_CONSUMER`](crate::CloseCode).
    /// Melody bounds messages (256) and silently drops; we bound bytes and close.
    pub max_queued_bytes: usize,
    /// Size of the read buffer allocated per connection.
    pub read_buffer_size: usize,
    /// Bytes the writer accumulates before it issues a socket write (batched queued
    /// messages are flushed together regardless).
    pub write_buffer_size: usize,
    /// Which browser origins may connect.
    pub allowed_origins: OriginPolicy,
    /// Subprotocols the hub speaks, in order of preference. The first one the client
    /// offers is echoed in the handshake; clients offering none of them are still
    /// accepted with no subprotocol.
    pub subprotocols: Vec<String>,
    /// How long to wait for the peer's closing handshake after sending a close frame.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            write_timeout: Duration::from_secs(10),
            pong_wait: Duration::from_secs(60),
            ping_period: Duration::from_secs(54),
            max_message_size: 64 * 1024,
            max_queued_bytes: 1024 * 1024,
            read_buffer_size: 4 * 1024,
            write_buffer_size: 8 * 1024,
            allowed_origins: OriginPolicy::default(),
            subprotocols: Vec::new(),
            close_timeout: Duration::from_secs(1),
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

impl Config {
    setters! {
        /// Sets [`Config::write_timeout`].
        write_timeout: Duration,
        /// Sets [`Config::pong_wait`].
        pong_wait: Duration,
        /// Sets [`Config::ping_period`].
        ping_period: Duration,
        /// Sets [`Config::max_message_size`].
        max_message_size: usize,
        /// Sets [`Config::max_queued_bytes`].
        max_queued_bytes: usize,
        /// Sets [`Config::read_buffer_size`].
        read_buffer_size: usize,
        /// Sets [`Config::write_buffer_size`].
        write_buffer_size: usize,
        /// Sets [`Config::allowed_origins`].
        allowed_origins: OriginPolicy,
        /// Sets [`Config::subprotocols`].
        subprotocols: Vec<String>,
        /// Sets [`Config::close_timeout`].
        close_timeout: Duration,
    }

    /// Checks the invariants between fields.
    ///
    /// # Errors
    /// Returns every violated rule, one message each.
    pub fn validate(&self) -> Result<(), crate::ConfigError> {
        let mut problems = Vec::new();
        if self.ping_period.is_zero() {
            problems.push("ping_period must be greater than zero".to_owned());
        }
        if self.ping_period >= self.pong_wait {
            problems.push(format!(
                "ping_period ({:?}) must be shorter than pong_wait ({:?})",
                self.ping_period, self.pong_wait
            ));
        }
        if self.write_timeout.is_zero() {
            problems.push("write_timeout must be greater than zero".to_owned());
        }
        if self.max_message_size == 0 {
            problems.push("max_message_size must be greater than zero".to_owned());
        }
        if self.max_queued_bytes == 0 {
            problems.push("max_queued_bytes must be greater than zero".to_owned());
        }
        if self.read_buffer_size == 0 {
            problems.push("read_buffer_size must be greater than zero".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(crate::ConfigError { problems })
        }
    }

    pub(crate) fn websocket_config(
        &self,
    ) -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(self.write_buffer_size)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_patterns() {
        assert!(wildcard_match(
            "https://*.example.com",
            "https://a.example.com"
        ));
        assert!(wildcard_match("*", "anything"));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.org"
        ));
        assert!(wildcard_match(
            "http://localhost:*",
            "http://localhost:3000"
        ));
        assert!(wildcard_match("http://app?.test", "http://app1.test"));
    }

    #[test]
    fn same_host_policy() {
        let p = OriginPolicy::SameHost;
        assert!(p.allows("http://localhost:8080", Some("localhost:8080")));
        assert!(!p.allows("http://evil.com", Some("localhost:8080")));
        assert!(!p.allows("http://localhost:8080", None));
    }

    #[test]
    fn validation_lists_every_problem() {
        let err = Config::default()
            .ping_period(Duration::from_secs(70))
            .max_message_size(0)
            .validate()
            .unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
    }
}
