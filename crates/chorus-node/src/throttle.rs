//! Node-wide client publish throttling (a Chorus extension): token buckets per
//! (namespace, user) and per channel, shared by every connection on the node,
//! configured per namespace by [`ChannelOptions::publish_throttle_per_user`] and
//! [`ChannelOptions::publish_throttle_per_channel`].
//!
//! Only client publishes are throttled; server API publishes are not. A publish
//! passes when every bucket that applies has a token, and then takes one from
//! each. Anonymous clients (empty user) are keyed by their connection id, so
//! they do not share one bucket.
//!
//! Buckets that have refilled completely are equivalent to new ones and are
//! pruned, so the map holds only recently active keys.

use crate::channel::ChannelOptions;
use crate::limits::{Bucket, RateBucket};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use tokio::time::Instant;

/// The map size below which no pruning happens.
const MIN_PRUNE_AT: usize = 1024;

/// What a bucket limits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A user (or an anonymous connection) within a namespace.
    User { namespace: String, user: String },
    /// A channel.
    Channel(String),
}

#[derive(Debug)]
struct Buckets {
    buckets: HashMap<Key, Bucket>,
    // Prune when the map reaches this size; then set to twice what survived
    // (at least MIN_PRUNE_AT), which keeps pruning amortized O(1) per publish
    // and the map within twice the number of active keys (plus a constant).
    prune_at: usize,
}

impl Default for Buckets {
    fn default() -> Self {
        Self {
            buckets: HashMap::new(),
            prune_at: MIN_PRUNE_AT,
        }
    }
}

/// The publish throttle of one node.
#[derive(Debug, Default)]
pub(crate) struct PublishThrottle {
    // One std mutex for all buckets: held only for a few map operations, never
    // across `.await`; publishes are far rarer than deliveries.
    state: Mutex<Buckets>,
}

impl PublishThrottle {
    /// Whether a client publish to `channel` (in `namespace`, with `options`) by
    /// `user` (connection `client_id`) may pass; takes the tokens when it may.
    pub(crate) fn allow(
        &self,
        namespace: &str,
        channel: &str,
        user: &str,
        client_id: &str,
        options: &ChannelOptions,
    ) -> bool {
        let per_user = options.publish_throttle_per_user.map(|b| {
            let user = if user.is_empty() { client_id } else { user };
            (
                Key::User {
                    namespace: namespace.to_owned(),
                    user: user.to_owned(),
                },
                b,
            )
        });
        let per_channel = options
            .publish_throttle_per_channel
            .map(|b| (Key::Channel(channel.to_owned()), b));
        let limits: Vec<(Key, RateBucket)> = per_user.into_iter().chain(per_channel).collect();
        if limits.is_empty() {
            return true;
        }
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.prune(now);
        let mut ok = true;
        for (key, rate) in &limits {
            let bucket = state
                .buckets
                .entry(key.clone())
                .or_insert_with(|| Bucket::new(*rate, now));
            ok &= bucket.has_token(now);
        }
        if ok {
            for (key, _) in &limits {
                if let Some(b) = state.buckets.get_mut(key) {
                    b.take();
                }
            }
        }
        ok
    }

    /// Buckets currently kept (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }
}

impl Buckets {
    fn prune(&mut self, now: Instant) {
        if self.buckets.len() < self.prune_at {
            return;
        }
        self.buckets.retain(|_, b| !b.is_full_at(now));
        self.prune_at = (self.buckets.len() * 2).max(MIN_PRUNE_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn options(per_user: u32) -> ChannelOptions {
        ChannelOptions {
            publish_throttle_per_user: Some(RateBucket {
                interval: Duration::from_secs(1),
                rate: per_user,
            }),
            ..ChannelOptions::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn anonymous_clients_are_keyed_by_connection() {
        let t = PublishThrottle::default();
        let o = options(1);
        assert!(t.allow("", "c", "", "client-1", &o));
        assert!(!t.allow("", "c", "", "client-1", &o));
        assert!(t.allow("", "c", "", "client-2", &o));
    }

    #[tokio::test(start_paused = true)]
    async fn refilled_buckets_are_pruned() {
        let t = PublishThrottle::default();
        let o = options(1);
        for i in 0..MIN_PRUNE_AT {
            assert!(t.allow("", "c", &format!("u{i}"), "x", &o));
        }
        assert_eq!(t.len(), MIN_PRUNE_AT);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(t.allow("", "c", "fresh", "x", &o));
        assert_eq!(t.len(), 1, "full buckets dropped, the new one kept");
    }

    #[test]
    fn unlimited_options_keep_nothing() {
        let t = PublishThrottle::default();
        assert!(t.allow("", "c", "u", "x", &ChannelOptions::default()));
        assert_eq!(t.len(), 0);
    }
}
