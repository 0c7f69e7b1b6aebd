//! The node side of a subscription's life, in the node's hands so that client
//! code never touches the registry or the backends directly:
//!
//! * [`Node::add_subscriber`]: the subscriber enters the channel registry; the
//!   channel's first local subscriber subscribes the broker, and a failed broker
//!   subscribe takes the subscriber out again;
//! * [`Node::remove_subscriber`]: the last local subscriber leaving unsubscribes
//!   the broker;
//! * [`PendingLive::go_live`]: a registered, still buffering subscription gets its
//!   reply (or push) queued and then switches to live delivery.
//!
//! Presence, join/leave announcements and stream reads of one client go through
//! the node methods here as well.

use crate::broker::{HistoryFilter, HistoryResult};
use crate::channel::ChannelOptions;
use crate::client::shared::{ClientShared, Control};
use crate::error::{BackendError, ClientError};
use crate::node::Node;
use crate::ordering::{Verdict, order};
use crate::presence::PresenceStats;
use crate::registry::{Feed, Subscriber};
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Publication, Push, Reply};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex as AsyncMutex;

/// Number of per-channel subscribe locks (sharded by channel name hash).
const SHARDS: usize = 64;

/// Per-channel async locks ordering "first local subscriber → broker subscribe"
/// against "last one left → broker unsubscribe", so the broker never ends up
/// unsubscribed from a channel that has local subscribers (or the reverse).
/// Sharded: two channels may share a lock, which only costs some waiting.
#[derive(Debug)]
pub(crate) struct SubLocks(Vec<AsyncMutex<()>>);

impl Default for SubLocks {
    fn default() -> Self {
        Self((0..SHARDS).map(|_| AsyncMutex::new(())).collect())
    }
}

impl SubLocks {
    fn of(&self, channel: &str) -> &AsyncMutex<()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        channel.hash(&mut h);
        let idx = usize::try_from(h.finish() % SHARDS as u64).unwrap_or(0);
        &self.0[idx]
    }
}

impl Node {
    /// Registers a subscriber of `channel`. The channel's first subscriber on
    /// this node subscribes the broker; if that fails the subscriber is removed
    /// again and the error is 100.
    ///
    /// # Errors
    /// [`ClientError::Internal`] when the broker subscribe fails.
    pub(crate) async fn add_subscriber(
        &self,
        channel: &str,
        sub: Subscriber,
    ) -> Result<(), ClientError> {
        let inner = &self.inner;
        let _guard = inner.sub_locks.of(channel).lock().await;
        let id = Arc::clone(&sub.client.id);
        if inner.registry.add_sub(channel, sub)
            && let Err(e) = inner.broker.subscribe(channel).await
        {
            inner.registry.remove_sub(channel, &id);
            tracing::warn!(channel, error = %e, "broker subscribe failed");
            return Err(ClientError::Internal);
        }
        Ok(())
    }

    /// Removes a subscriber of `channel`; the last one on this node unsubscribes
    /// the broker. Removing a subscriber that is not registered does nothing.
    pub(crate) async fn remove_subscriber(&self, channel: &str, client_id: &str) {
        let inner = &self.inner;
        let _guard = inner.sub_locks.of(channel).lock().await;
        if inner.registry.remove_sub(channel, client_id)
            && let Err(e) = inner.broker.unsubscribe(channel).await
        {
            tracing::warn!(channel, error = %e, "broker unsubscribe failed");
        }
    }

    /// Seeds the channel's delta base with a payload read from history (a
    /// recovery), unless live fan-out already saw a newer publication.
    pub(crate) fn seed_delta_base(&self, channel: &str, offset: u64, payload: Bytes) {
        self.inner.registry.learn_last(channel, offset, payload);
    }

    /// Reads a channel's stream with the channel's meta TTL.
    pub(crate) async fn read_stream(
        &self,
        channel: &str,
        options: &ChannelOptions,
        filter: HistoryFilter,
    ) -> Result<HistoryResult, BackendError> {
        let meta_ttl = self.meta_ttl(options);
        self.inner.broker.history(channel, filter, meta_ttl).await
    }

    /// Adds or refreshes a client's presence entry; a failure is logged (the
    /// next periodic update retries).
    pub(crate) async fn add_presence(&self, channel: &str, client: &str, info: ClientInfo) {
        if let Err(e) = self
            .inner
            .presence
            .add_presence(channel, client, info)
            .await
        {
            tracing::warn!(channel, client, error = %e, "presence add failed");
        }
    }

    /// Removes a client's presence entry (best effort: entries expire anyway).
    pub(crate) async fn remove_presence(&self, channel: &str, client: &str, user: &str) {
        let _ = self
            .inner
            .presence
            .remove_presence(channel, client, user)
            .await;
    }

    /// Everyone present in a channel, without permission checks.
    pub(crate) async fn read_presence(
        &self,
        channel: &str,
    ) -> Result<BTreeMap<String, ClientInfo>, BackendError> {
        self.inner.presence.presence(channel).await
    }

    /// Presence counts of a channel, without permission checks.
    pub(crate) async fn read_presence_stats(
        &self,
        channel: &str,
    ) -> Result<PresenceStats, BackendError> {
        self.inner.presence.presence_stats(channel).await
    }

    /// Announces a join to the channel's subscribers on every node; a failure is
    /// logged.
    pub(crate) async fn announce_join(&self, channel: &str, info: ClientInfo) {
        if let Err(e) = self.inner.broker.publish_join(channel, info).await {
            tracing::warn!(channel, error = %e, "join publish failed");
        }
    }

    /// Announces a leave (best effort).
    pub(crate) async fn announce_leave(&self, channel: &str, info: ClientInfo) {
        let _ = self.inner.broker.publish_leave(channel, info).await;
    }

    /// Registers a connected client (by id and by user).
    pub(crate) fn register_client(&self, client: &Arc<ClientShared>) {
        self.inner.registry.add_client(client);
    }

    /// Unregisters a client.
    pub(crate) fn unregister_client(&self, client: &ClientShared) {
        self.inner.registry.remove_client(client);
    }

    /// Connected clients on this node.
    pub(crate) fn num_clients(&self) -> usize {
        self.inner.registry.num_clients()
    }

    /// Connections of `user` on this node.
    pub(crate) fn user_connections_of(&self, user: &str) -> usize {
        self.inner.registry.user_connections(user)
    }
}

/// A subscription that is registered but still buffering publications; it goes
/// live once its reply (or push) is queued.
pub(crate) struct PendingLive {
    pub(crate) channel: String,
    pub(crate) delivery: Arc<Feed>,
    /// The reply (or push) that opens the subscription.
    pub(crate) first: Option<Reply>,
    /// The stream offset the first message covers: buffered publications up to
    /// it are already delivered.
    pub(crate) after_offset: u64,
    pub(crate) epoch: String,
}

impl PendingLive {
    /// Queues the first message, then the buffered publications newer than what
    /// it carried, then switches the subscription to live delivery.
    pub(crate) fn go_live(self, client: &ClientShared) {
        let channel = self.channel;
        let after = self.after_offset;
        let first = self.first;
        let delivery = &self.delivery;
        if let Some(position) = &delivery.position {
            position.start(after, &self.epoch);
        }
        delivery.go_live(|pending: Vec<(Publication, String)>| {
            if let Some(reply) = &first
                && let Err(d) = client.send(reply)
            {
                client.outbound.close(d);
            }
            for (mut p, epoch) in pending {
                // The PUB/SUB lag check is live delivery's only.
                let verdict = order(delivery.position.as_ref(), p.offset, &epoch, false, after);
                match verdict {
                    Verdict::Deliver if !delivery.view.wants(&p) => {}
                    Verdict::Deliver => {
                        delivery.view.prepare_single(client.protocol, &mut p);
                        let push = Push {
                            channel: channel.clone(),
                            r#pub: Some(p),
                            ..Push::default()
                        };
                        if let Err(d) = client.send(&Reply::from(push)) {
                            client.outbound.close(d);
                        }
                    }
                    Verdict::Skip => {}
                    Verdict::Gap => client
                        .control
                        .send(Control::InsufficientState(channel.clone())),
                }
            }
        });
    }
}
