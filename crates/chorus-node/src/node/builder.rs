//! Building a node: backends (the broker is made from the node's event sink),
//! the token verifier and the application hooks.

use super::{Node, NodeInner};
use crate::auth::TokenVerifier;
use crate::broker::{Broker, BrokerEvents};
use crate::config::NodeConfig;
use crate::handlers::{
    ConnectingEvent, DisconnectEvent, HandlerError, Hooks, MessageEvent, PublishEvent,
    PublishReply, RefreshEvent, RefreshReply, RpcEvent, SubscribeEvent, SubscribeReply,
};
use crate::memory::{MemoryBroker, MemoryPresenceManager};
use crate::presence::PresenceManager;
use crate::registry::ChannelRegistry;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type BrokerFactory = Box<dyn FnOnce(Arc<dyn BrokerEvents>) -> Arc<dyn Broker> + Send>;

/// Builds a [`Node`]. Backends default to the in-memory ones.
#[must_use]
pub struct NodeBuilder {
    config: NodeConfig,
    broker: Option<BrokerFactory>,
    presence: Option<Arc<dyn PresenceManager>>,
    verifier: Option<Arc<dyn TokenVerifier>>,
    hooks: Hooks,
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
            self.hooks.$field = Some(Arc::new(move |e| -> BoxFuture<'static, _> { Box::pin(f(e)) }));
            self
        }
    };
}

impl NodeBuilder {
    /// Uses a broker built from the node's event sink (the node's channel registry).
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
        self.hooks.message = Some(Arc::new(move |e| -> BoxFuture<'static, ()> {
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
        self.hooks.disconnect = Some(Arc::new(move |e| -> BoxFuture<'static, ()> {
            Box::pin(f(e))
        }));
        self
    }

    /// Builds the node (ready to use at once).
    pub fn build(self) -> Node {
        let registry = Arc::new(ChannelRegistry::default());
        let metrics = Arc::new(crate::metrics::EngineCounters::default());
        let uid = uuid::Uuid::new_v4().to_string();
        let cluster = Arc::new(crate::cluster::Cluster::new(uid.clone()));
        // The broker and its event sink are wrapped to count messages both ways;
        // the outer sink takes control messages from other nodes.
        let events: Arc<dyn BrokerEvents> = Arc::new(crate::cluster::Inbox {
            inner: Arc::new(crate::metrics::CountingEvents {
                inner: Arc::clone(&registry) as Arc<dyn BrokerEvents>,
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
        registry.set_max_time_lag(self.config.client.channel_position_max_time_lag);
        let node = Node {
            inner: Arc::new(NodeInner {
                config: self.config,
                uid,
                started: tokio::time::Instant::now(),
                registry,
                broker,
                presence,
                verifier: self.verifier,
                hooks: self.hooks,
                sub_locks: crate::node::subscriptions::SubLocks::default(),
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

impl Node {
    /// Starts building a node.
    pub fn builder(config: NodeConfig) -> NodeBuilder {
        NodeBuilder {
            config,
            broker: None,
            presence: None,
            verifier: None,
            hooks: Hooks::default(),
        }
    }
}
