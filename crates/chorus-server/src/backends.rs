//! The engine's backends from the configuration: which broker and which
//! presence manager (`engine`, or the separate `broker` / `presence_manager`
//! sections), and the Redis connection options mapped onto `chorus-redis`.
//!
//! Redis shards and NATS connect lazily: the server starts while Redis is still coming
//! up, publishes fail (API 100) until it is reachable, and the PUB/SUB side
//! keeps retrying in the background.

use crate::config::{Config, RedisConfig, effective_broker, effective_presence};
use chorus_nats::{NatsBroker, NatsConfig};
use chorus_node::NodeBuilder;
use chorus_node::memory::MemoryPresenceManager;
use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig};
use std::time::Duration;

/// Presence TTL of the memory presence manager (Centrifugo's default).
const MEMORY_PRESENCE_TTL: Duration = Duration::from_secs(60);

/// Why the configured backends cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendConfigError {
    /// A backend that this build does not provide.
    #[error(
        "{section}.type {kind:?} is not available in this version of chorus; refusing to start rather than silently running on a single-node memory {what}"
    )]
    Unavailable {
        /// `engine`, `broker` or `presence_manager`.
        section: &'static str,
        /// The configured type.
        kind: String,
        /// `broker` or `presence manager`.
        what: &'static str,
    },
    /// A Redis option this build cannot honour.
    #[error("{0}")]
    Unsupported(String),
    /// The Redis engine rejected the options.
    #[error("redis: {0}")]
    Redis(#[from] chorus_redis::RedisEngineError),
}

/// `[user[:password]@]` percent-encoded for a URL.
fn encode(part: &str) -> String {
    part.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One address as a URL with the section's credentials, database and TLS mode.
fn url(addr: &str, r: &RedisConfig) -> String {
    let (scheme, rest) = addr.split_once("://").unwrap_or(("redis", addr));
    let scheme = if r.tls.enabled && scheme == "redis" {
        "rediss"
    } else {
        scheme
    };
    if scheme == "unix" {
        return format!("unix://{rest}");
    }
    let has_userinfo = rest
        .split(['/', '?', '#'])
        .next()
        .is_some_and(|h| h.contains('@'));
    let userinfo = if has_userinfo || (r.user.is_empty() && r.password.is_empty()) {
        String::new()
    } else if r.password.is_empty() {
        format!("{}@", encode(&r.user))
    } else {
        format!("{}:{}@", encode(&r.user), encode(&r.password))
    };
    let has_db = rest
        .split_once('/')
        .is_some_and(|(_, path)| !path.is_empty() && !path.starts_with(['?', '#']));
    let db = if has_db || r.db == 0 {
        String::new()
    } else {
        format!("/{}", r.db)
    };
    let insecure = if scheme == "rediss" && r.tls.insecure_skip_verify && !rest.contains('#') {
        "#insecure"
    } else {
        ""
    };
    format!("{scheme}://{userinfo}{rest}{db}{insecure}")
}

fn dur(d: crate::config::GoDuration, default: Duration) -> Duration {
    d.to_std().filter(|d| !d.is_zero()).unwrap_or(default)
}

/// Maps a `redis` section onto the engine's options.
///
/// # Errors
/// Options this build does not support (Sentinel, TLS client certificates).
pub fn redis_engine_config(
    section: &str,
    r: &RedisConfig,
) -> Result<RedisEngineConfig, BackendConfigError> {
    if !r.sentinel_address.is_empty() {
        return Err(BackendConfigError::Unsupported(format!(
            "{section}.redis.sentinel_address: Redis Sentinel is not supported by this version of chorus (use address or cluster_address)"
        )));
    }
    let t = &r.tls;
    if !t.cert_pem_file.is_empty() || !t.key_pem_file.is_empty() || !t.server_ca_pem_file.is_empty()
    {
        return Err(BackendConfigError::Unsupported(format!(
            "{section}.redis.tls: client certificates and custom CAs are not supported by this version of chorus (rediss:// with a publicly trusted certificate is)"
        )));
    }
    let shards = if r.cluster_address.is_empty() {
        r.address
            .iter()
            .map(|a| RedisAddress::Standalone(url(a, r)))
            .collect()
    } else {
        vec![RedisAddress::Cluster(
            r.cluster_address.iter().map(|a| url(a, r)).collect(),
        )]
    };
    Ok(RedisEngineConfig {
        shards,
        prefix: r.prefix.clone(),
        connect_timeout: dur(r.connect_timeout, Duration::from_secs(1)),
        io_timeout: dur(r.io_timeout, Duration::from_secs(4)),
        presence_ttl: dur(r.presence_ttl, Duration::from_secs(60)),
    })
}

/// Plugs the configured broker and presence manager into `builder` (the memory
/// ones are the builder's defaults).
///
/// # Errors
/// An unknown or unavailable type, unsupported Redis options.
pub fn with_backends(
    builder: NodeBuilder,
    cfg: &Config,
) -> Result<NodeBuilder, BackendConfigError> {
    let (broker_kind, broker_redis) = effective_broker(cfg);
    let broker_section = if cfg.broker.enabled {
        "broker"
    } else {
        "engine"
    };
    let (presence_kind, presence_redis) = effective_presence(cfg);
    let presence_section = if cfg.presence_manager.enabled {
        "presence_manager"
    } else {
        "engine"
    };
    let mut broker_engine = None;
    let builder = match broker_kind {
        "memory" => builder,
        "redis" => {
            let engine = RedisEngine::new(redis_engine_config(broker_section, broker_redis)?)?;
            broker_engine = Some(engine.clone());
            builder.broker(move |events| engine.broker(events))
        }
        "nats" => {
            let n = &cfg.broker.nats;
            let config = NatsConfig {
                url: n.url.clone(),
                prefix: n.prefix.clone(),
                dial_timeout: dur(n.dial_timeout, Duration::from_secs(1)),
                write_timeout: dur(n.write_timeout, Duration::from_secs(1)),
            };
            builder.broker(move |events| NatsBroker::new(config, events))
        }
        other => {
            return Err(BackendConfigError::Unavailable {
                section: broker_section,
                kind: other.to_owned(),
                what: "broker",
            });
        }
    };
    let builder = match presence_kind {
        "memory" => builder.presence(MemoryPresenceManager::new(MEMORY_PRESENCE_TTL)),
        "redis" => {
            // Same Redis as the broker: share its connections.
            let engine = match broker_engine {
                Some(e) if broker_redis == presence_redis => e,
                _ => RedisEngine::new(redis_engine_config(presence_section, presence_redis)?)?,
            };
            builder.presence(engine.presence_manager())
        }
        other => {
            return Err(BackendConfigError::Unavailable {
                section: presence_section,
                kind: other.to_owned(),
                what: "presence manager",
            });
        }
    };
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_carry_credentials_db_and_tls() {
        let mut r = RedisConfig::default();
        assert_eq!(url("127.0.0.1:6379", &r), "redis://127.0.0.1:6379");
        assert_eq!(url("redis://h:1", &r), "redis://h:1");
        r.user = "u".into();
        r.password = "p@ss/word".into();
        r.db = 2;
        assert_eq!(url("h:1", &r), "redis://u:p%40ss%2Fword@h:1/2");
        assert_eq!(url("redis://x:y@h:1/5", &r), "redis://x:y@h:1/5");
        r.tls.enabled = true;
        r.tls.insecure_skip_verify = true;
        r.user.clear();
        r.password.clear();
        r.db = 0;
        assert_eq!(url("h:1", &r), "rediss://h:1#insecure");
        assert_eq!(url("unix:///tmp/r.sock", &r), "unix:///tmp/r.sock");
    }

    #[test]
    fn sentinel_and_client_certificates_are_refused() {
        let r = RedisConfig {
            sentinel_address: vec!["127.0.0.1:26379".into()],
            ..RedisConfig::default()
        };
        let err = redis_engine_config("engine", &r).expect_err("sentinel");
        assert!(err.to_string().contains("sentinel_address"), "{err}");
        let mut r = RedisConfig::default();
        r.tls.cert_pem_file = "c.pem".into();
        assert!(redis_engine_config("engine", &r).is_err());
    }

    #[test]
    fn cluster_addresses_make_one_cluster_shard() {
        let r = RedisConfig {
            cluster_address: vec!["a:1".into(), "b:2".into()],
            ..RedisConfig::default()
        };
        let c = redis_engine_config("engine", &r).expect("config");
        assert_eq!(
            c.shards,
            [RedisAddress::Cluster(vec![
                "redis://a:1".to_owned(),
                "redis://b:2".to_owned()
            ])]
        );
        assert_eq!(c.prefix, "centrifugo");
    }
}
