//! Per-connection command rate limits: token buckets, checked by the connection's
//! own task before each command (so no lock is involved).
//!
//! Every command but `connect` and pongs takes a token from each `total` bucket.
//! `subscribe`, `publish`, `history`, `presence`, `presence_stats`, `refresh`,
//! `sub_refresh` and `rpc` also take one from their own buckets, or from the
//! `default` buckets when they have none (the shape of Centrifugo PRO's
//! `client.rate_limit.client_command`). A refused command gets error 111 ("too
//! many requests", temporary: SDKs retry), or, with [`CommandRateLimits::disconnect`],
//! closes the connection with 3013 ("too many requests", the client reconnects).

use crate::metrics::Method;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// `rate` commands per `interval`, with bursts up to `rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBucket {
    /// The refill period.
    pub interval: Duration,
    /// Tokens per period (and the bucket's capacity). Must be at least 1.
    pub rate: u32,
}

/// Command rate limits applied to every connection of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandRateLimits {
    /// Buckets every command draws from.
    pub total: Vec<RateBucket>,
    /// Buckets of limited methods that have no entry in `methods`.
    pub default: Vec<RateBucket>,
    /// Buckets of specific methods.
    pub methods: HashMap<Method, Vec<RateBucket>>,
    /// Close with 3013 instead of replying 111 when a command is refused.
    pub disconnect: bool,
}

impl CommandRateLimits {
    /// Whether any bucket is configured.
    pub fn is_empty(&self) -> bool {
        self.total.is_empty() && self.default.is_empty() && self.methods.values().all(Vec::is_empty)
    }
}

/// Whether a method draws from method (or default) buckets.
fn is_limited_method(m: Method) -> bool {
    matches!(
        m,
        Method::Subscribe
            | Method::Publish
            | Method::History
            | Method::Presence
            | Method::PresenceStats
            | Method::Refresh
            | Method::SubRefresh
            | Method::Rpc
    )
}

/// One token bucket (also used by the node-wide publish throttle).
#[derive(Debug)]
pub(crate) struct Bucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(b: RateBucket, now: Instant) -> Self {
        let capacity = f64::from(b.rate.max(1));
        let secs = b.interval.as_secs_f64().max(1e-9);
        Self {
            capacity,
            tokens: capacity,
            per_second: capacity / secs,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }

    /// Refills up to `now`; whether a token is available.
    pub(crate) fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Takes a token (call after [`Bucket::has_token`] said yes).
    pub(crate) fn take(&mut self) {
        self.tokens -= 1.0;
    }

    /// Whether the bucket would be full at `now`: it is then the same as a
    /// new one and can be forgotten.
    pub(crate) fn is_full_at(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.per_second >= self.capacity
    }
}

/// One connection's buckets.
#[derive(Debug)]
pub(crate) struct CommandLimiter {
    total: Vec<Bucket>,
    methods: HashMap<Method, Vec<Bucket>>,
    disconnect: bool,
}

impl CommandLimiter {
    /// A limiter for a connection; `None` when nothing is limited.
    pub(crate) fn new(limits: Option<&CommandRateLimits>) -> Option<Self> {
        let limits = limits.filter(|l| !l.is_empty())?;
        let now = Instant::now();
        let make = |v: &[RateBucket]| v.iter().map(|&b| Bucket::new(b, now)).collect::<Vec<_>>();
        let methods = Method::ALL
            .into_iter()
            .filter(|&m| is_limited_method(m))
            .map(|m| {
                let buckets = limits.methods.get(&m).unwrap_or(&limits.default);
                (m, make(buckets))
            })
            .filter(|(_, b)| !b.is_empty())
            .collect();
        Some(Self {
            total: make(&limits.total),
            methods,
            disconnect: limits.disconnect,
        })
    }

    /// Whether refused commands close the connection (3013).
    pub(crate) fn disconnects(&self) -> bool {
        self.disconnect
    }

    /// Takes a token for `method` from every bucket it draws from, if all have one.
    pub(crate) fn allow(&mut self, method: Method) -> bool {
        if method == Method::Connect || method == Method::Unknown {
            return true;
        }
        let now = Instant::now();
        let own = self.methods.get_mut(&method);
        let mut buckets: Vec<&mut Bucket> = self.total.iter_mut().collect();
        if let Some(own) = own {
            buckets.extend(own.iter_mut());
        }
        for b in &mut buckets {
            b.refill(now);
        }
        if buckets.iter().any(|b| b.tokens < 1.0) {
            return false;
        }
        for b in buckets {
            b.tokens -= 1.0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_sec(rate: u32) -> Vec<RateBucket> {
        vec![RateBucket {
            interval: Duration::from_secs(1),
            rate,
        }]
    }

    #[tokio::test(start_paused = true)]
    async fn total_bucket_refills_over_time() {
        let limits = CommandRateLimits {
            total: per_sec(2),
            ..CommandRateLimits::default()
        };
        let mut l = CommandLimiter::new(Some(&limits)).unwrap();
        assert!(l.allow(Method::Publish));
        assert!(l.allow(Method::Unsubscribe));
        assert!(!l.allow(Method::History));
        assert!(l.allow(Method::Connect), "connect is never limited");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(l.allow(Method::History), "half a second refills one token");
        assert!(!l.allow(Method::History));
    }

    #[tokio::test(start_paused = true)]
    async fn method_buckets_override_default() {
        let mut limits = CommandRateLimits {
            default: per_sec(1),
            ..CommandRateLimits::default()
        };
        limits.methods.insert(Method::Publish, per_sec(3));
        let mut l = CommandLimiter::new(Some(&limits)).unwrap();
        assert!(l.allow(Method::History));
        assert!(!l.allow(Method::History));
        for _ in 0..3 {
            assert!(l.allow(Method::Publish));
        }
        assert!(!l.allow(Method::Publish));
        assert!(l.allow(Method::Unsubscribe), "unsubscribe only uses total");
    }

    #[test]
    fn empty_limits_build_no_limiter() {
        assert!(CommandLimiter::new(Some(&CommandRateLimits::default())).is_none());
        assert!(CommandLimiter::new(None).is_none());
    }
}
