//! The `engine` section (memory or Redis).

use serde::{Deserialize, Deserializer, Serialize};

use super::{Choice, EngineType, GoDuration};

/// `engine`: which engine keeps history, presence and does PUB/SUB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// `memory` (default) or `redis`.
    #[serde(rename = "type")]
    pub kind: Choice<EngineType>,
    /// Redis options, used when `type` is `redis`.
    pub redis: RedisConfig,
}

/// `engine.redis`: Redis connection options (parsed and validated only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// Redis addresses (`redis://host:port`, `rediss://…`, `unix://…` or
    /// `host:port`). A single string is accepted too; several addresses shard.
    #[serde(deserialize_with = "string_or_list")]
    pub address: Vec<String>,
    /// Key prefix. Default `centrifugo`.
    pub prefix: String,
    /// Connect timeout. Default 1s.
    pub connect_timeout: GoDuration,
    /// Read/write timeout. Default 4s.
    pub io_timeout: GoDuration,
    /// Database number.
    pub db: u32,
    /// ACL user.
    pub user: String,
    /// Password.
    pub password: String,
    /// `CLIENT SETNAME` value: refused at start-up when set (not supported).
    pub client_name: String,
    /// Force RESP2. Chorus always speaks RESP2 to Redis, so `true` is what it
    /// does anyway and `false` changes nothing.
    pub force_resp2: bool,
    /// Redis Cluster seed addresses.
    #[serde(deserialize_with = "string_or_list")]
    pub cluster_address: Vec<String>,
    /// Redis Sentinel addresses.
    #[serde(deserialize_with = "string_or_list")]
    pub sentinel_address: Vec<String>,
    /// Sentinel master name (required with `sentinel_address`).
    pub sentinel_master_name: String,
    /// Sentinel ACL user.
    pub sentinel_user: String,
    /// Sentinel password.
    pub sentinel_password: String,
    /// TLS to Redis.
    pub tls: RedisTlsConfig,
    /// How long a presence entry lives without a refresh. Default 60s.
    pub presence_ttl: GoDuration,
    /// Keep per-user presence keys so presence stats need no full read.
    pub presence_user_mapping: bool,
    /// Legacy lists history layout (refused: streams only).
    pub history_use_lists: bool,
    /// Per-field hash TTLs for presence, Redis >= 7.4 (refused).
    pub presence_hash_field_ttl: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            address: vec!["redis://127.0.0.1:6379".to_owned()],
            prefix: "centrifugo".to_owned(),
            connect_timeout: GoDuration::from_secs(1),
            io_timeout: GoDuration::from_secs(4),
            db: 0,
            user: String::new(),
            password: String::new(),
            client_name: String::new(),
            force_resp2: false,
            cluster_address: Vec::new(),
            sentinel_address: Vec::new(),
            sentinel_master_name: String::new(),
            sentinel_user: String::new(),
            sentinel_password: String::new(),
            tls: RedisTlsConfig::default(),
            presence_ttl: GoDuration::from_secs(60),
            presence_user_mapping: false,
            history_use_lists: false,
            presence_hash_field_ttl: false,
        }
    }
}

/// `engine.redis.tls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisTlsConfig {
    /// Use TLS.
    pub enabled: bool,
    /// Client certificate (PEM file).
    pub cert_pem_file: String,
    /// Client key (PEM file).
    pub key_pem_file: String,
    /// CA certificate (PEM file).
    pub server_ca_pem_file: String,
    /// Server name for verification.
    pub server_name: String,
    /// Skip certificate verification (development only).
    pub insecure_skip_verify: bool,
}

/// Accepts `"a"` or `["a", "b"]`.
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) if s.is_empty() => Vec::new(),
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}
