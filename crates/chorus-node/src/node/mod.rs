//! The node: owner of configuration, the local channel registry, backends and
//! hooks, and the server-side API (publish, presence, history, user-level
//! operations). Its request types are in `api`, building it in `builder`, and
//! the subscription lifecycle in `subscriptions`.

mod api;
mod builder;
pub(crate) mod subscriptions;

pub use api::{ApiPublish, NodeInfo, ServerRefresh, ServerSubscribe};
pub use builder::NodeBuilder;

use crate::auth::TokenVerifier;
use crate::broker::{Broker, HistoryFilter, HistoryResult, PublishOptions, StreamPosition};
use crate::channel::{ChannelOptions, ResolvedChannel};
use crate::client::shared::Control;
use crate::config::NodeConfig;
use crate::error::{ApiError, ClientError, Disconnect};
use crate::handlers::Hooks;
use crate::presence::{PresenceManager, PresenceStats};
use crate::registry::ChannelRegistry;
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Publication};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) struct NodeInner {
    pub(crate) config: NodeConfig,
    pub(crate) uid: String,
    pub(crate) started: tokio::time::Instant,
    pub(crate) registry: Arc<ChannelRegistry>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) presence: Arc<dyn PresenceManager>,
    pub(crate) verifier: Option<Arc<dyn TokenVerifier>>,
    pub(crate) hooks: Hooks,
    // Per-channel order of broker subscribe/unsubscribe (see `subscriptions`).
    pub(crate) sub_locks: subscriptions::SubLocks,
    // Every connection task: shutdown waits for them.
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    pub(crate) metrics: Arc<crate::metrics::EngineCounters>,
    // Node-wide client publish throttle (per user / per channel token buckets).
    pub(crate) publish_throttle: crate::throttle::PublishThrottle,
    // The other nodes of the cluster (see `cluster`), shared with the broker's
    // event sink, which applies their control messages.
    pub(crate) cluster: Arc<crate::cluster::Cluster>,
}

impl std::fmt::Debug for NodeInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("uid", &self.uid)
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

/// The engine. Cheap to clone (an `Arc`).
///
/// ```
/// use chorus_node::{Node, NodeConfig};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let node = Node::builder(NodeConfig::default()).build();
/// // Publish to a channel without history: delivered to local subscribers only.
/// let pos = node.publish("news", bytes::Bytes::from_static(br#"{"text":"hi"}"#), Default::default()).await;
/// assert!(pos.is_ok());
/// assert_eq!(node.info().num_clients, 0);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

/// The per-publish part of what a broker stores.
struct Stored {
    skip_history: bool,
    idempotency_key: Option<String>,
}

fn channel_error(e: ClientError) -> ApiError {
    match e {
        ClientError::UnknownChannel => ApiError::UnknownChannel,
        _ => ApiError::BadRequest,
    }
}

impl Node {
    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    pub(crate) fn resolve(&self, channel: &str) -> Result<ResolvedChannel, ClientError> {
        self.inner.config.channels.resolve(channel)
    }

    /// `resolve` plus the channel name rule of client commands.
    pub(crate) fn resolve_for_client(&self, channel: &str) -> Result<ResolvedChannel, ClientError> {
        self.inner.config.channels.resolve_for_client(channel)
    }

    /// Publication time (Unix ms) when positioned subscribers check PUB/SUB lag
    /// (`channel_position_max_time_lag`), else 0 (not sent).
    fn publication_time(&self) -> i64 {
        if self
            .inner
            .config
            .client
            .channel_position_max_time_lag
            .is_zero()
        {
            return 0;
        }
        crate::clock::unix_ms()
    }

    pub(crate) fn meta_ttl(&self, options: &ChannelOptions) -> Duration {
        if options.history_meta_ttl.is_zero() {
            Duration::from_secs(720 * 3600)
        } else {
            options.history_meta_ttl
        }
    }

    /// Publishes `data` to `channel` (server API `publish`). Returns the position in
    /// the channel's stream (zero when the channel keeps no history).
    ///
    /// # Errors
    /// 102 for an unknown namespace, 107 for a bad name, 100 when the broker fails.
    pub async fn publish(
        &self,
        channel: &str,
        data: Bytes,
        opts: ApiPublish,
    ) -> Result<StreamPosition, ApiError> {
        let resolved = self.resolve(channel).map_err(channel_error)?;
        let publication = self
            .publication(&resolved.options, data, None, opts.tags, opts.delta)
            .ok_or(ApiError::BadRequest)?;
        let stored = Stored {
            skip_history: opts.skip_history,
            idempotency_key: opts.idempotency_key,
        };
        let result = self
            .send_publication(channel, &resolved.options, publication, stored)
            .await?;
        Ok(result.position)
    }

    /// Publishes a client's `publish` command (permissions already checked).
    pub(crate) async fn publish_from_client(
        &self,
        channel: &str,
        data: Bytes,
        info: ClientInfo,
        options: &ChannelOptions,
        skip_history: bool,
    ) -> Result<(), ClientError> {
        let publication = self
            .publication(options, data, Some(info), BTreeMap::new(), false)
            .ok_or(ClientError::BadRequest)?;
        let stored = Stored {
            skip_history,
            idempotency_key: None,
        };
        self.send_publication(channel, options, publication, stored)
            .await?;
        Ok(())
    }

    /// The complete publication (everything subscribers and history get), or
    /// `None` when the channel's data format refuses the payload.
    fn publication(
        &self,
        options: &ChannelOptions,
        data: Bytes,
        info: Option<ClientInfo>,
        tags: BTreeMap<String, String>,
        delta: bool,
    ) -> Option<Publication> {
        if !options.data_format.accepts(&data) {
            return None;
        }
        Some(Publication {
            data,
            info,
            tags,
            delta,
            time: self.publication_time(),
            ..Publication::default()
        })
    }

    /// Hands a complete publication to the broker with what the broker stores:
    /// the channel's history settings, `skip_history` and the idempotency key.
    async fn send_publication(
        &self,
        channel: &str,
        options: &ChannelOptions,
        publication: Publication,
        stored: Stored,
    ) -> Result<crate::broker::PublishResult, crate::error::BackendError> {
        let opts = PublishOptions {
            history_size: options.history_size,
            history_ttl: options.history_ttl,
            history_meta_ttl: self.meta_ttl(options),
            skip_history: stored.skip_history,
            idempotency_key: stored.idempotency_key,
        };
        self.inner.broker.publish(channel, publication, &opts).await
    }

    fn send_control(&self, user: &str, client: Option<&str>, make: impl Fn() -> Control) {
        for c in self.inner.registry.user_clients(user) {
            if client.is_none_or(|id| *c.id == *id) {
                c.control.send(make());
            }
        }
    }

    /// Subscribes the user's connections, on every node, to a channel
    /// server-side (API `subscribe`).
    ///
    /// # Errors
    /// 102 / 107 for bad channels; 100 when other nodes cannot be told.
    pub async fn subscribe(&self, req: ServerSubscribe) -> Result<(), ApiError> {
        self.resolve(&req.channel).map_err(channel_error)?;
        let command = crate::cluster::ClusterCommand::Subscribe((&req).into());
        self.subscribe_local(req);
        self.broadcast(command).await
    }

    pub(crate) fn subscribe_local(&self, req: ServerSubscribe) {
        let user = req.user.clone();
        let client = req.client.clone();
        self.send_control(&user, client.as_deref(), || {
            Control::Subscribe(Box::new(req.clone()))
        });
    }

    /// Unsubscribes the user's connections, on every node, from a channel (API
    /// `unsubscribe`); they get an unsubscribe push with code 2000.
    ///
    /// # Errors
    /// 102 / 107 for bad channels; 100 when other nodes cannot be told.
    pub async fn unsubscribe(
        &self,
        user: &str,
        channel: &str,
        client: Option<&str>,
    ) -> Result<(), ApiError> {
        self.resolve(channel).map_err(channel_error)?;
        self.unsubscribe_local(user, channel, client);
        self.broadcast(crate::cluster::ClusterCommand::Unsubscribe {
            user: user.to_owned(),
            channel: channel.to_owned(),
            client: client.map(str::to_owned),
        })
        .await
    }

    pub(crate) fn unsubscribe_local(&self, user: &str, channel: &str, client: Option<&str>) {
        self.send_control(user, client, || Control::Unsubscribe(channel.to_owned()));
    }

    /// Disconnects the user's connections on every node (API `disconnect`),
    /// except the client ids in `whitelist`.
    ///
    /// # Errors
    /// 100 when other nodes cannot be told (local connections are disconnected).
    pub async fn disconnect(
        &self,
        user: &str,
        disconnect: Disconnect,
        client: Option<&str>,
        whitelist: &[String],
    ) -> Result<(), ApiError> {
        self.disconnect_local(user, &disconnect, client, whitelist);
        self.broadcast(crate::cluster::ClusterCommand::Disconnect {
            user: user.to_owned(),
            client: client.map(str::to_owned),
            whitelist: whitelist.to_vec(),
            code: disconnect.code,
            reason: disconnect.reason.into_owned(),
        })
        .await
    }

    pub(crate) fn disconnect_local(
        &self,
        user: &str,
        disconnect: &Disconnect,
        client: Option<&str>,
        whitelist: &[String],
    ) {
        for c in self.inner.registry.user_clients(user) {
            if client.is_none_or(|id| *c.id == *id) && !whitelist.iter().any(|w| **w == *c.id) {
                c.disconnect(disconnect.clone());
            }
        }
    }

    /// Refreshes the user's connections on every node (API `refresh`).
    ///
    /// # Errors
    /// 100 when other nodes cannot be told (local connections are refreshed).
    pub async fn refresh(&self, req: ServerRefresh) -> Result<(), ApiError> {
        let command = crate::cluster::ClusterCommand::Refresh((&req).into());
        self.refresh_local(req);
        self.broadcast(command).await
    }

    pub(crate) fn refresh_local(&self, req: ServerRefresh) {
        let user = req.user.clone();
        let client = req.client.clone();
        self.send_control(&user, client.as_deref(), || {
            Control::Refresh(Box::new(req.clone()))
        });
    }

    fn presence_channel(&self, channel: &str) -> Result<ResolvedChannel, ApiError> {
        let resolved = self.resolve(channel).map_err(channel_error)?;
        if !resolved.options.presence {
            return Err(ApiError::NotAvailable);
        }
        Ok(resolved)
    }

    /// Everyone present in a channel (API `presence`).
    ///
    /// # Errors
    /// 108 when presence is off for the channel.
    pub async fn presence(&self, channel: &str) -> Result<BTreeMap<String, ClientInfo>, ApiError> {
        self.presence_channel(channel)?;
        Ok(self.inner.presence.presence(channel).await?)
    }

    /// Presence counts (API `presence_stats`).
    ///
    /// # Errors
    /// 108 when presence is off for the channel.
    pub async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, ApiError> {
        self.presence_channel(channel)?;
        Ok(self.inner.presence.presence_stats(channel).await?)
    }

    fn history_channel(&self, channel: &str) -> Result<ResolvedChannel, ApiError> {
        let resolved = self.resolve(channel).map_err(channel_error)?;
        if !resolved.options.history_enabled() {
            return Err(ApiError::NotAvailable);
        }
        Ok(resolved)
    }

    /// Reads a channel's history (API `history`). A negative limit means "all kept".
    ///
    /// # Errors
    /// 108 when history is off, 112 when `since` has another epoch.
    pub async fn history(
        &self,
        channel: &str,
        filter: HistoryFilter,
    ) -> Result<HistoryResult, ApiError> {
        let resolved = self.history_channel(channel)?;
        let meta_ttl = self.meta_ttl(&resolved.options);
        Ok(self.inner.broker.history(channel, filter, meta_ttl).await?)
    }

    /// Removes a channel's history (API `history_remove`).
    ///
    /// # Errors
    /// 108 when history is off.
    pub async fn remove_history(&self, channel: &str) -> Result<(), ApiError> {
        self.history_channel(channel)?;
        Ok(self.inner.broker.remove_history(channel).await?)
    }

    /// Channels with subscribers on this node and their subscriber counts, optionally
    /// filtered by a glob pattern (`*` any run, `?` one character).
    pub fn channels(&self, pattern: Option<&str>) -> BTreeMap<String, u32> {
        self.inner
            .registry
            .channels()
            .into_iter()
            .filter(|(name, _)| pattern.is_none_or(|p| p.is_empty() || glob_match(p, name)))
            .map(|(name, n)| (name, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect()
    }

    /// This node's statistics.
    pub fn info(&self) -> NodeInfo {
        let registry = &self.inner.registry;
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        NodeInfo {
            uid: self.inner.uid.clone(),
            name: self.inner.config.name.clone(),
            version: self.inner.config.version.clone(),
            num_clients: n(registry.num_clients()),
            num_users: n(registry.num_users()),
            num_channels: n(registry.num_channels()),
            num_subs: n(registry.num_subscriptions()),
            uptime: u32::try_from(self.inner.started.elapsed().as_secs()).unwrap_or(u32::MAX),
        }
    }

    /// Connection counts per user currently connected (for tests and admin views).
    pub fn user_connections(&self) -> HashMap<String, usize> {
        self.inner
            .registry
            .all_clients()
            .iter()
            .fold(HashMap::new(), |mut m, c| {
                *m.entry(c.user().to_owned()).or_default() += 1;
                m
            })
    }

    /// Graceful shutdown: every connection gets 3001 (reconnect elsewhere), then the
    /// node waits for connection tasks to finish, at most `deadline`, and closes
    /// its backends.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.shutdown.cancel();
        self.say_goodbye().await;
        for c in self.inner.registry.all_clients() {
            c.disconnect(Disconnect::SHUTDOWN);
        }
        self.inner.tracker.close();
        let _ = tokio::time::timeout(deadline, self.inner.tracker.wait()).await;
        self.inner.broker.shutdown().await;
        self.inner.presence.shutdown().await;
    }

    /// Whether shutdown started (new connections are refused with 3001).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// A copy of the engine's counters (commands, broker messages, transport
    /// bytes) as they are now.
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// Whether the backends can serve requests ([`Broker::healthy`]).
    pub async fn healthy(&self) -> bool {
        self.inner.broker.healthy().await
    }
}

/// Glob match with `*` (any run of characters) and `?` (one character), as used by
/// the `channels` API pattern and origin lists.
///
/// ```
/// assert!(chorus_node::glob_match("https://*.example.com", "https://a.example.com"));
/// assert!(!chorus_node::glob_match("chat:*", "news:1"));
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_patterns() {
        assert!(glob_match("chat:*", "chat:room"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("chat:*", "news:x"));
    }
}
