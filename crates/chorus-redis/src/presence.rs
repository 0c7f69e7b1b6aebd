//! [`RedisPresenceManager`]: presence in a hash (client id → protobuf
//! `ClientInfo`) plus a sorted set of expiry times per channel, as Centrifugo
//! lays it out. Expired entries are dropped by the read script itself, so
//! `presence` and `presence_stats` see the same live set.
//!
//! With user mapping (Centrifugo's `presence_user_mapping`) two more keys per
//! channel keep each user's latest expiry (`P.presence.user.expire.<ch>`) and
//! client count (`P.presence.user.clients.<ch>`), so `presence_stats` reads two
//! set sizes instead of every entry: worth it for channels with thousands of
//! present clients whose stats are asked often. A user whose node crashed
//! (clients never removed) leaves when its latest expiry passes, as its
//! clients do.

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
    user_mapping: bool,
}

impl RedisPresenceManager {
    /// A manager whose entries live `ttl` after their last refresh.
    pub fn new(engine: RedisEngine, ttl: Duration) -> Self {
        Self {
            engine,
            ttl,
            user_mapping: false,
        }
    }

    /// Keeps per-user keys so `presence_stats` needs no full read (see the
    /// module docs). Every node must use the same setting.
    #[must_use]
    pub fn with_user_mapping(mut self, on: bool) -> Self {
        self.user_mapping = on;
        self
    }

    /// The four keys of the mapped scripts.
    fn mapped_keys(&self, channel: &str, invocation: &mut redis::ScriptInvocation<'_>) {
        let keys = self.engine.keys();
        invocation
            .key(keys.presence_expire(channel))
            .key(keys.presence_data(channel))
            .key(keys.presence_user_expire(channel))
            .key(keys.presence_user_clients(channel));
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
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
        let mut invocation = if self.user_mapping {
            let mut invocation = scripts::PRESENCE_ADD_MAPPED.prepare_invoke();
            self.mapped_keys(channel, &mut invocation);
            invocation
        } else {
            let mut invocation = scripts::PRESENCE_ADD.prepare_invoke();
            invocation
                .key(keys.presence_expire(channel))
                .key(keys.presence_data(channel));
            invocation
        };
        invocation
            .arg(self.ttl_ms())
            .arg(client_id)
            .arg(info.encode_to_vec());
        if self.user_mapping {
            invocation.arg(&info.user);
        }
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
        user: &str,
    ) -> Result<(), BackendError> {
        if self.user_mapping {
            let mut invocation = scripts::PRESENCE_REMOVE_MAPPED.prepare_invoke();
            self.mapped_keys(channel, &mut invocation);
            invocation.arg(client_id).arg(user);
            return self
                .engine
                .shard(channel)
                .invoke::<i64>(&invocation)
                .await
                .map(|_| ());
        }
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
        if self.user_mapping {
            let mut invocation = scripts::PRESENCE_STATS_MAPPED.prepare_invoke();
            self.mapped_keys(channel, &mut invocation);
            let (clients, users): (u64, u64) =
                self.engine.shard(channel).invoke(&invocation).await?;
            return Ok(PresenceStats {
                num_clients: u32::try_from(clients).unwrap_or(u32::MAX),
                num_users: u32::try_from(users).unwrap_or(u32::MAX),
            });
        }
        let entries = self.entries(channel).await?;
        let users: HashSet<&str> = entries.values().map(|i| i.user.as_str()).collect();
        Ok(PresenceStats {
            num_clients: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            num_users: u32::try_from(users.len()).unwrap_or(u32::MAX),
        })
    }
}
