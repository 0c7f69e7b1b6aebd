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
    /// uses classic `SUBSCRIBE`, one connection per master, each channel on the
    /// master of its slot (where its messages are `PUBLISH`ed).
    Cluster(Vec<String>),
    /// A master found through Redis Sentinel. It is looked up again whenever a
    /// connection to it fails (after a failover the sentinels name a new one).
    Sentinel {
        /// The name the sentinels monitor the master under.
        master_name: String,
        /// Sentinel URLs, asked in turn: `redis://[user:password@]host:port`
        /// (`rediss://` for TLS).
        sentinels: Vec<String>,
        /// How to talk to the master the sentinels name.
        master: SentinelMaster,
    },
}

/// Connection options of a master found through Sentinel (the sentinels report
/// only its host and port).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentinelMaster {
    /// ACL user; empty for the default user.
    pub user: String,
    /// Password; empty for none.
    pub password: String,
    /// Database number.
    pub db: i64,
    /// TLS to the master.
    pub tls: RedisTls,
}

/// Whether a connection uses TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RedisTls {
    /// Plain TCP.
    #[default]
    Off,
    /// TLS with certificate verification (system/web PKI roots).
    On,
    /// TLS without certificate verification (development only).
    Insecure,
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
    /// Keep per-user presence keys so presence stats need no full read
    /// (Centrifugo's `presence_user_mapping`).
    pub presence_user_mapping: bool,
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
            presence_user_mapping: false,
        }
    }
}
