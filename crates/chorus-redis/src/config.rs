//! Engine configuration (plain values; the `chorus` server maps its Centrifugo
//! `engine.redis` section onto it).

use std::time::Duration;

/// Where one shard lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisAddress {
    /// A single Redis server: a `redis://[user:password@]host:port[/db]` URL
    /// (`rediss://` for TLS, `unix://` for a socket).
    Standalone(String),
    /// A Redis Cluster, by seed node URLs. Keys get `{channel}` hash tags; PUB/SUB
    /// uses classic `PUBLISH`, which the cluster broadcasts to every node.
    Cluster(Vec<String>),
}

/// Options of the Redis engine.
#[derive(Debug, Clone)]
pub struct RedisEngineConfig {
    /// One entry per shard; channels are spread over shards with jump consistent
    /// hashing (as Centrifugo does), so every node must list them in the same order.
    pub shards: Vec<RedisAddress>,
    /// Prefix of every key and PUB/SUB channel (Centrifugo: `centrifugo`).
    pub prefix: String,
    /// Longest wait for a TCP (and TLS) connection to Redis.
    pub connect_timeout: Duration,
    /// Longest wait for one command's reply.
    pub io_timeout: Duration,
    /// How long a presence entry lives without a refresh.
    pub presence_ttl: Duration,
}

impl Default for RedisEngineConfig {
    fn default() -> Self {
        Self {
            shards: vec![RedisAddress::Standalone(
                "redis://127.0.0.1:6379".to_owned(),
            )],
            prefix: "centrifugo".to_owned(),
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(4),
            presence_ttl: Duration::from_secs(60),
        }
    }
}
