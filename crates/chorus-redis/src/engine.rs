//! [`RedisEngine`]: the connected shards, shared by a node's broker and presence
//! manager.

use crate::broker::RedisBroker;
use crate::config::{RedisAddress, RedisEngineConfig};
use crate::error::RedisEngineError;
use crate::keys::{Keys, shard_index};
use crate::presence::RedisPresenceManager;
use crate::shard::Shard;
use chorus_node::BrokerEvents;
use std::sync::Arc;

/// Connections to every configured shard. Cheap to clone.
///
/// ```no_run
/// # async fn run() -> Result<(), chorus_redis::RedisEngineError> {
/// use chorus_node::{Node, NodeConfig};
/// use chorus_redis::{RedisEngine, RedisEngineConfig};
///
/// let engine = RedisEngine::connect(RedisEngineConfig::default()).await?;
/// let presence = engine.presence_manager();
/// let node = Node::builder(NodeConfig::default())
///     .broker({
///         let engine = engine.clone();
///         move |events| engine.broker(events)
///     })
///     .presence(presence)
///     .build();
/// # drop(node); Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisEngine {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    shards: Vec<Arc<Shard>>,
    config: RedisEngineConfig,
}

impl std::fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEngine")
            .field("shards", &self.inner.shards)
            .field("prefix", &self.inner.config.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisEngine {
    /// Connects to every shard, failing fast when one cannot be reached.
    ///
    /// # Errors
    /// As [`RedisEngine::new`], and [`RedisEngineError::Connect`] when a shard
    /// cannot be reached within the connect timeout.
    pub async fn connect(config: RedisEngineConfig) -> Result<Self, RedisEngineError> {
        let engine = Self::new(config)?;
        for shard in &engine.inner.shards {
            shard.commands().await?;
        }
        Ok(engine)
    }

    /// Builds the engine without connecting: shards connect on first use (a
    /// call while one is unreachable fails, the next one tries again).
    ///
    /// # Errors
    /// [`RedisEngineError::Config`] for an empty shard list, mixed standalone and
    /// cluster shards or a malformed address.
    pub fn new(config: RedisEngineConfig) -> Result<Self, RedisEngineError> {
        if config.shards.is_empty() {
            return Err(RedisEngineError::Config("no redis address".to_owned()));
        }
        let cluster = matches!(config.shards[0], RedisAddress::Cluster(_));
        if config
            .shards
            .iter()
            .any(|s| matches!(s, RedisAddress::Cluster(_)) != cluster)
        {
            return Err(RedisEngineError::Config(
                "shards must be all standalone servers or all clusters".to_owned(),
            ));
        }
        let shards = config
            .shards
            .iter()
            .map(|address| Shard::new(address, &config).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            inner: Arc::new(Inner {
                keys: Keys::new(&config.prefix, cluster),
                shards,
                config,
            }),
        })
    }

    /// A broker for one node, delivering to `events` (the node's channel registry).
    pub fn broker(&self, events: Arc<dyn BrokerEvents>) -> RedisBroker {
        RedisBroker::new(self, events)
    }

    /// A presence manager with the configured TTL and user mapping.
    pub fn presence_manager(&self) -> RedisPresenceManager {
        RedisPresenceManager::new(self.clone(), self.inner.config.presence_ttl)
            .with_user_mapping(self.inner.config.presence_user_mapping)
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub(crate) fn shards(&self) -> &[Arc<Shard>] {
        &self.inner.shards
    }

    pub(crate) fn shard_index(&self, channel: &str) -> usize {
        shard_index(channel, self.inner.shards.len())
    }

    pub(crate) fn shard(&self, channel: &str) -> &Shard {
        &self.inner.shards[self.shard_index(channel)]
    }
}
