//! The node: owner of configuration, the local hub, backends and hooks, and the
//! server-side API (publish, presence, history, user-level operations).

use crate::auth::{SubscribeOverride, TokenVerifier};
use crate::broker::{
    Broker, BrokerEvents, HistoryFilter, HistoryResult, PublishOptions, StreamPosition,
};
use crate::channel::{ChannelOptions, ResolvedChannel};
use crate::client::shared::Control;
use crate::config::NodeConfig;
use crate::error::{ApiError, ClientError, Disconnect};
use crate::handlers::{
    ConnectingEvent, DisconnectEvent, HandlerError, Handlers, MessageEvent, PublishEvent,
    PublishReply, RefreshEvent, RefreshReply, RpcEvent, SubscribeEvent, SubscribeReply,
};
use crate::hub::Hub;
use crate::memory::{MemoryBroker, MemoryPresenceManager};
use crate::presence::{PresenceManager, PresenceStats};
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Publication};
use futures_util::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A server-side subscription requested through the API.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerSubscribe {
    /// User whose connections subscribe.
    pub user: String,
    /// Channel.
    pub channel: String,
    /// Only this connection of the user.
    pub client: Option<String>,
    /// Expiry (Unix seconds).
    pub expire_at: Option<i64>,
    /// Channel info.
    pub info: Bytes,
    /// Data for the subscribe push.
    pub data: Bytes,
    /// Recover from this position.
    pub recover_since: Option<StreamPosition>,
    /// Option overrides.
    pub overrides: SubscribeOverride,
}

/// A server-side refresh of connections requested through the API.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerRefresh {
    /// User whose connections are refreshed.
    pub user: String,
    /// Only this connection.
    pub client: Option<String>,
    /// Expire the connection now (3005).
    pub expired: bool,
    /// New expiry (Unix seconds).
    pub expire_at: Option<i64>,
    /// New connection info.
    pub info: Option<Bytes>,
}

/// Options of an API publish.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ApiPublish {
    /// Do not keep in history.
    pub skip_history: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Delta candidate: subscribers that negotiated delta compression may get
    /// this publication as a delta against the previous one.
    pub delta: bool,
}

/// Statistics of one node, for the `info` API method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// Unique id of this node process.
    pub uid: String,
    /// Node name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Connections.
    pub num_clients: u32,
    /// Distinct users.
    pub num_users: u32,
    /// Channels with local subscribers.
    pub num_channels: u32,
    /// Subscriptions.
    pub num_subs: u32,
    /// Seconds since start.
    pub uptime: u32,
}

pub(crate) struct NodeInner {
    pub(crate) config: NodeConfig,
    pub(crate) uid: String,
    pub(crate) started: tokio::time::Instant,
    pub(crate) hub: Arc<Hub>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) presence: Arc<dyn PresenceManager>,
    pub(crate) verifier: Option<Arc<dyn TokenVerifier>>,
    pub(crate) handlers: Handlers,
    // Per-channel order of broker subscribe/unsubscribe (see `subscriptions`).
    pub(crate) sub_locks: crate::subscriptions::SubLocks,
    // Every connection task: shutdown waits for them.
    pub(crate) tracker: TaskTracker,
    pub(crate) shutdown: CancellationToken,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
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

type BrokerFactory = Box<dyn FnOnce(Arc<dyn BrokerEvents>) -> Arc<dyn Broker> + Send>;

/// Builds a [`Node`]. Backends default to the in-memory ones.
#[must_use]
pub struct NodeBuilder {
    config: NodeConfig,
    broker: Option<BrokerFactory>,
    presence: Option<Arc<dyn PresenceManager>>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    handlers: Handlers,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

macro_rules! hook {
    ($(#[$doc:meta])* $name:ident, $field:ident, $event:ty, $reply:ty) => {
        $(#[$doc])*
        pub fn $name<F, Fut>(mut self, f: F) -> Self
        where
            F: Fn($event) -> Fut + Send + Sync + 'static,
            Fut: std::future::Future<Output = Result<$reply, HandlerError>> + Send + 'static,
        {
            self.handlers.$field = Some(Arc::new(move |e| -> BoxFuture<'static, _> { Box::pin(f(e)) }));
            self
        }
    };
}

impl NodeBuilder {
    /// Uses a broker built from the node's event sink (the node's hub).
    pub fn broker<B: Broker>(
        mut self,
        make: impl FnOnce(Arc<dyn BrokerEvents>) -> B + Send + 'static,
    ) -> Self {
        self.broker = Some(Box::new(move |events| {
            Arc::new(make(events)) as Arc<dyn Broker>
        }));
        self
    }

    /// Uses a presence manager.
    pub fn presence(mut self, presence: impl PresenceManager) -> Self {
        self.presence = Some(Arc::new(presence));
        self
    }

    /// Verifies connection and subscription tokens with `verifier`.
    pub fn token_verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    hook!(
        /// Decides connections that carry no token.
        on_connecting, connecting, ConnectingEvent, crate::auth::ConnectGrant
    );
    hook!(
        /// Decides subscriptions (after token and user-limited checks), in place of the
        /// `allow_subscribe_*` options.
        on_subscribe, subscribe, SubscribeEvent, SubscribeReply
    );
    hook!(
        /// Decides client publications, in place of the `allow_publish_*` options; may
        /// rewrite the payload.
        on_publish, publish, PublishEvent, PublishReply
    );
    hook!(
        /// Answers RPC calls (without it, every call gets 104).
        on_rpc, rpc, RpcEvent, Bytes
    );
    hook!(
        /// Extends expiring connections (server-side refresh).
        on_refresh, refresh, RefreshEvent, RefreshReply
    );
    hook!(
        /// Extends expiring client-side subscriptions (server-side sub refresh).
        on_sub_refresh, sub_refresh, crate::handlers::SubRefreshEvent, crate::handlers::SubRefreshReply
    );

    /// Receives `send` messages (without it, `send` closes the connection with 3508).
    pub fn on_message<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(MessageEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.handlers.message = Some(Arc::new(move |e| -> BoxFuture<'static, ()> {
            Box::pin(f(e))
        }));
        self
    }

    /// Notified when a connection ends.
    pub fn on_disconnect<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(DisconnectEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.handlers.disconnect = Some(Arc::new(move |e| -> BoxFuture<'static, ()> {
            Box::pin(f(e))
        }));
        self
    }

    /// Builds the node (ready to use at once).
    pub fn build(self) -> Node {
        let hub = Arc::new(Hub::default());
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let uid = uuid::Uuid::new_v4().to_string();
        let cluster = Arc::new(crate::cluster::Cluster::new(uid.clone()));
        // The broker and its event sink are wrapped to count messages both ways;
        // the outer sink takes control messages from other nodes.
        let events: Arc<dyn BrokerEvents> = Arc::new(crate::cluster::Inbox {
            inner: Arc::new(crate::metrics::CountingEvents {
                inner: Arc::clone(&hub) as Arc<dyn BrokerEvents>,
                metrics: Arc::clone(&metrics),
            }),
            cluster: Arc::clone(&cluster),
        });
        let broker: Arc<dyn Broker> = match self.broker {
            Some(make) => make(events),
            None => Arc::new(MemoryBroker::new(events)),
        };
        let broker = Arc::new(crate::metrics::MeteredBroker {
            inner: broker,
            metrics: Arc::clone(&metrics),
        });
        let presence = self
            .presence
            .unwrap_or_else(|| Arc::new(MemoryPresenceManager::default()));
        hub.set_max_time_lag(self.config.client.channel_position_max_time_lag);
        let node = Node {
            inner: Arc::new(NodeInner {
                config: self.config,
                uid,
                started: tokio::time::Instant::now(),
                hub,
                broker,
                presence,
                verifier: self.verifier,
                handlers: self.handlers,
                sub_locks: crate::subscriptions::SubLocks::default(),
                tracker: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                metrics,
                publish_throttle: crate::throttle::PublishThrottle::default(),
                cluster,
            }),
        };
        node.inner.cluster.attach(&node.inner);
        node.spawn_position_checks();
        node.spawn_heartbeat();
        node
    }
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
    /// Starts building a node.
    pub fn builder(config: NodeConfig) -> NodeBuilder {
        NodeBuilder {
            config,
            broker: None,
            presence: None,
            verifier: None,
            handlers: Handlers::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    pub(crate) fn resolve(&self, channel: &str) -> Result<ResolvedChannel, ClientError> {
        self.inner.config.channels.resolve(channel)
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
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
        for c in self.inner.hub.user_clients(user) {
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
        let command = crate::cluster::Command::Subscribe((&req).into());
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
        self.broadcast(crate::cluster::Command::Unsubscribe {
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
        self.broadcast(crate::cluster::Command::Disconnect {
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
        for c in self.inner.hub.user_clients(user) {
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
        let command = crate::cluster::Command::Refresh((&req).into());
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
            .hub
            .channels()
            .into_iter()
            .filter(|(name, _)| pattern.is_none_or(|p| p.is_empty() || glob_match(p, name)))
            .map(|(name, n)| (name, u32::try_from(n).unwrap_or(u32::MAX)))
            .collect()
    }

    /// This node's statistics.
    pub fn info(&self) -> NodeInfo {
        let hub = &self.inner.hub;
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        NodeInfo {
            uid: self.inner.uid.clone(),
            name: self.inner.config.name.clone(),
            version: self.inner.config.version.clone(),
            num_clients: n(hub.num_clients()),
            num_users: n(hub.num_users()),
            num_channels: n(hub.num_channels()),
            num_subs: n(hub.num_subscriptions()),
            uptime: u32::try_from(self.inner.started.elapsed().as_secs()).unwrap_or(u32::MAX),
        }
    }

    /// Connection counts per user currently connected (for tests and admin views).
    pub fn user_connections(&self) -> HashMap<String, usize> {
        self.inner
            .hub
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
        for c in self.inner.hub.all_clients() {
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
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
