//! `client.rate_limit`: per-connection command rate limits, in the shape of
//! Centrifugo PRO's `client.rate_limit.client_command`.
//!
//! ```json
//! {"client": {"rate_limit": {"client_command": {
//!   "enabled": true,
//!   "total":   {"buckets": [{"interval": "1s", "rate": 50}]},
//!   "default": {"buckets": [{"interval": "1s", "rate": 10}]},
//!   "publish": {"buckets": [{"interval": "1s", "rate": 5}, {"interval": "1m", "rate": 100}]},
//!   "disconnect": false
//! }}}}
//! ```
//!
//! A refused command gets error 111 (too many requests); with `disconnect` the
//! connection is closed with 3013 instead.

use std::collections::HashMap;
use std::sync::Arc;

use chorus_node::metrics::Method;
use chorus_node::{CommandRateLimits, RateBucket};
use serde::{Deserialize, Serialize};

use super::GoDuration;

/// `client.rate_limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// `client_command`: limits on commands of each connection.
    pub client_command: ClientCommandRateLimit,
}

/// One token bucket: `rate` commands per `interval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketConfig {
    /// Refill period. Default 1s.
    pub interval: GoDuration,
    /// Commands per period (and burst size); at least 1.
    pub rate: u64,
}

impl Default for BucketConfig {
    fn default() -> Self {
        Self {
            interval: GoDuration::from_secs(1),
            rate: 0,
        }
    }
}

/// A set of buckets; a command passes when every one of them has a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BucketsConfig {
    /// The buckets.
    pub buckets: Vec<BucketConfig>,
}

/// `client.rate_limit.client_command`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientCommandRateLimit {
    /// Turn the limits on.
    pub enabled: bool,
    /// Close with 3013 (instead of replying 111) when a command is refused.
    pub disconnect: bool,
    /// Buckets every command (but connect and pongs) draws from.
    pub total: BucketsConfig,
    /// Buckets of the limited methods without their own entry.
    pub default: BucketsConfig,
    /// `subscribe` buckets.
    pub subscribe: BucketsConfig,
    /// `publish` buckets.
    pub publish: BucketsConfig,
    /// `history` buckets.
    pub history: BucketsConfig,
    /// `presence` buckets.
    pub presence: BucketsConfig,
    /// `presence_stats` buckets.
    pub presence_stats: BucketsConfig,
    /// `refresh` buckets.
    pub refresh: BucketsConfig,
    /// `sub_refresh` buckets.
    pub sub_refresh: BucketsConfig,
    /// `rpc` buckets.
    pub rpc: BucketsConfig,
}

impl ClientCommandRateLimit {
    fn sets(&self) -> [(&'static str, Option<Method>, &BucketsConfig); 10] {
        [
            ("total", None, &self.total),
            ("default", None, &self.default),
            ("subscribe", Some(Method::Subscribe), &self.subscribe),
            ("publish", Some(Method::Publish), &self.publish),
            ("history", Some(Method::History), &self.history),
            ("presence", Some(Method::Presence), &self.presence),
            (
                "presence_stats",
                Some(Method::PresenceStats),
                &self.presence_stats,
            ),
            ("refresh", Some(Method::Refresh), &self.refresh),
            ("sub_refresh", Some(Method::SubRefresh), &self.sub_refresh),
            ("rpc", Some(Method::Rpc), &self.rpc),
        ]
    }

    /// Problems, one message each (empty when valid).
    pub(super) fn problems(&self) -> Vec<String> {
        if !self.enabled {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, _, set) in self.sets() {
            for (i, b) in set.buckets.iter().enumerate() {
                let at = format!("client.rate_limit.client_command.{name}.buckets[{i}]");
                if b.rate == 0 || b.rate > u64::from(u32::MAX) {
                    out.push(format!("{at}.rate must be between 1 and {}", u32::MAX));
                }
                if b.interval.to_std().is_none_or(|d| d.is_zero()) {
                    out.push(format!("{at}.interval must be positive"));
                }
            }
        }
        out
    }

    /// The engine's form; `None` when off or without buckets.
    pub fn to_engine(&self) -> Option<Arc<CommandRateLimits>> {
        if !self.enabled {
            return None;
        }
        let buckets = |set: &BucketsConfig| {
            set.buckets
                .iter()
                .filter_map(|b| {
                    Some(RateBucket {
                        interval: b.interval.to_std().filter(|d| !d.is_zero())?,
                        rate: u32::try_from(b.rate).ok().filter(|&r| r > 0)?,
                    })
                })
                .collect::<Vec<_>>()
        };
        let mut limits = CommandRateLimits::default();
        limits.total = buckets(&self.total);
        limits.default = buckets(&self.default);
        limits.disconnect = self.disconnect;
        limits.methods = self
            .sets()
            .into_iter()
            .filter_map(|(_, m, set)| Some((m?, buckets(set))))
            .filter(|(_, b)| !b.is_empty())
            .collect::<HashMap<_, _>>();
        (!limits.is_empty()).then(|| Arc::new(limits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pro_like_shape() {
        let cfg: RateLimitConfig = serde_json::from_str(
            r#"{"client_command": {"enabled": true,
                "total": {"buckets": [{"interval": "1s", "rate": 3}]},
                "publish": {"buckets": [{"interval": "1m", "rate": 10}]}}}"#,
        )
        .unwrap();
        assert!(cfg.client_command.problems().is_empty());
        let limits = cfg.client_command.to_engine().unwrap();
        assert_eq!(limits.total[0].rate, 3);
        assert_eq!(
            limits.methods[&Method::Publish][0].interval,
            std::time::Duration::from_secs(60)
        );
    }

    #[test]
    fn zero_rate_is_a_problem() {
        let cfg: RateLimitConfig = serde_json::from_str(
            r#"{"client_command": {"enabled": true, "rpc": {"buckets": [{"rate": 0}]}}}"#,
        )
        .unwrap();
        assert_eq!(
            cfg.client_command.problems(),
            vec![
                "client.rate_limit.client_command.rpc.buckets[0].rate must be between 1 and 4294967295"
            ]
        );
    }

    #[test]
    fn disabled_means_no_limits() {
        assert!(ClientCommandRateLimit::default().to_engine().is_none());
    }
}
