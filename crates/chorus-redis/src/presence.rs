//! [`RedisPresenceManager`]: presence in a hash (client id → protobuf
//! `ClientInfo`) plus a sorted set of expiry times per channel, as Centrifugo
//! lays it out. Expired entries are dropped by the read script itself, so
//! `presence` and `presence_stats` see the same live set.

use crate::engine::RedisEngine;
use crate::error::malformed;
use crate::scripts;
use async_trait::async_trait;
use chorus_node::{BackendError, PresenceManager, PresenceStats};
use chorus_protocol::ClientInfo;
use prost::Message as _;
use redis::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// Presence stored in Redis; entries live the TTL after their last refresh.
#[derive(Debug, Clone)]
pub struct RedisPresenceManager {
    engine: RedisEngine,
    ttl: Duration,
}

impl RedisPresenceManager {
    /// A manager whose entries live `ttl` after their last refresh.
    pub fn new(engine: RedisEngine, ttl: Duration) -> Self {
        Self { engine, ttl }
    }

    async fn entries(&self, channel: &str) -> Result<BTreeMap<String, ClientInfo>, BackendError> {
        let keys = self.engine.keys();
        let mut invocation = scripts::PRESENCE_GET.prepare_invoke();
        invocation
            .key(keys.presence_expire(channel))
            .key(keys.presence_data(channel));
        let reply: Value = self.engine.shard(channel).invoke(&invocation).await?;
        let items = match reply {
            Value::Array(items) => items,
            Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            Value::Nil => Vec::new(),
            _ => return Err(malformed("presence")),
        };
        let mut out = BTreeMap::new();
        for pair in items.chunks(2) {
            let (Some(Value::BulkString(id)), Some(Value::BulkString(info))) =
                (pair.first(), pair.get(1))
            else {
                return Err(malformed("presence entry"));
            };
            let id = String::from_utf8(id.clone()).map_err(|_| malformed("presence id"))?;
            let info =
                ClientInfo::decode(info.as_slice()).map_err(|_| malformed("presence info"))?;
            out.insert(id, info);
        }
        Ok(out)
    }
}

#[async_trait]
impl PresenceManager for RedisPresenceManager {
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: ClientInfo,
    ) -> Result<(), BackendError> {
        let keys = self.engine.keys();
        let mut invocation = scripts::PRESENCE_ADD.prepare_invoke();
        invocation
            .key(keys.presence_expire(channel))
            .key(keys.presence_data(channel))
            .arg(
                u64::try_from(self.ttl.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
            )
            .arg(client_id)
            .arg(info.encode_to_vec());
        self.engine
            .shard(channel)
            .invoke::<i64>(&invocation)
            .await
            .map(|_| ())
    }

    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        _user: &str,
    ) -> Result<(), BackendError> {
        let keys = self.engine.keys();
        let shard = self.engine.shard(channel);
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(keys.presence_expire(channel)).arg(client_id);
        shard.query::<i64>(&zrem).await?;
        let mut hdel = redis::cmd("HDEL");
        hdel.arg(keys.presence_data(channel)).arg(client_id);
        shard.query::<i64>(&hdel).await.map(|_| ())
    }

    async fn presence(&self, channel: &str) -> Result<BTreeMap<String, ClientInfo>, BackendError> {
        self.entries(channel).await
    }

    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, BackendError> {
        let entries = self.entries(channel).await?;
        let users: HashSet<&str> = entries.values().map(|i| i.user.as_str()).collect();
        Ok(PresenceStats {
            num_clients: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            num_users: u32::try_from(users.len()).unwrap_or(u32::MAX),
        })
    }
}
