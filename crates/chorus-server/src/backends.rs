//! The engine's backends from the configuration: which broker and which
//! presence manager (`engine`, or the separate `broker` / `presence_manager`
//! sections), and the Redis connection options mapped onto `chorus-redis`.
//!
//! Redis shards and NATS connect lazily: the server starts while Redis is still coming
//! up, publishes fail (API 100) until it is reachable, and the PUB/SUB side
//! keeps retrying in the background.

use crate::config::{
    BrokerType, Choice, EngineType, PresenceManagerType, RedisConfig, ServerConfig,
    effective_broker, effective_presence,
};
use chorus_nats::{NatsBroker, NatsConfig};
use chorus_node::NodeBuilder;
use chorus_node::memory::MemoryPresenceManager;
use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig, RedisTls, SentinelMaster};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
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

/// What a URL's user info may not carry unencoded: all but RFC 3986's
/// unreserved characters.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `[user[:password]@]` percent-encoded for a URL.
fn encode(part: &str) -> String {
    utf8_percent_encode(part, USERINFO).to_string()
}

/// Percent-decodes a URL component (`%XX`; anything else is kept).
fn decode(part: &str) -> String {
    percent_decode_str(part).decode_utf8_lossy().into_owned()
}

/// `user[:password]@` for a URL, or nothing without credentials.
fn userinfo(user: &str, password: &str) -> String {
    if user.is_empty() && password.is_empty() {
        String::new()
    } else if password.is_empty() {
        format!("{}@", encode(user))
    } else {
        format!("{}:{}@", encode(user), encode(password))
    }
}

fn tls_mode(r: &RedisConfig) -> RedisTls {
    match (r.tls.enabled, r.tls.insecure_skip_verify) {
        (false, _) => RedisTls::Off,
        (true, false) => RedisTls::On,
        (true, true) => RedisTls::Insecure,
    }
}

/// A sentinel's address (`host:port` or a `redis://` URL) as a URL with the
/// section's sentinel credentials (unless it has its own).
fn sentinel_url(addr: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = addr.split_once("://").unwrap_or(("redis", addr));
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if host.contains('@') {
        format!("{scheme}://{rest}")
    } else {
        format!("{scheme}://{}{rest}", userinfo(user, password))
    }
}

/// The section's `sentinel_address` list as one Sentinel shard.
fn sentinel_shard(r: &RedisConfig) -> RedisAddress {
    RedisAddress::Sentinel {
        master_name: r.sentinel_master_name.clone(),
        sentinels: r
            .sentinel_address
            .iter()
            .map(|a| sentinel_url(a, &r.sentinel_user, &r.sentinel_password))
            .collect(),
        master: SentinelMaster {
            user: r.user.clone(),
            password: r.password.clone(),
            db: i64::from(r.db),
            tls: tls_mode(r),
        },
    }
}

/// Centrifugo's Sentinel address form,
/// `redis+sentinel://[user:password@]host:port[/db]?sentinel_master_name=NAME&addr=host2:port2`
/// (more sentinels with repeated `addr`; also `sentinel_user` and
/// `sentinel_password`). The user info and database are the master's;
/// `rediss+sentinel://` talks TLS to the master. The section's options fill in
/// what the URL leaves out.
fn sentinel_from_url(addr: &str, r: &RedisConfig) -> Result<RedisAddress, String> {
    let (scheme, rest) = addr.split_once("://").unwrap_or(("", addr));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
    let (credentials, host) = authority.rsplit_once('@').unwrap_or(("", authority));
    if host.is_empty() {
        return Err("missing sentinel host".to_owned());
    }
    let mut master = SentinelMaster {
        user: r.user.clone(),
        password: r.password.clone(),
        db: i64::from(r.db),
        tls: tls_mode(r),
    };
    if !credentials.is_empty() {
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        master.user = decode(user);
        master.password = decode(password);
    }
    if !db.is_empty() {
        master.db = db.parse().map_err(|_| format!("bad database {db:?}"))?;
    }
    if scheme == "rediss+sentinel" && master.tls == RedisTls::Off {
        master.tls = RedisTls::On;
    }
    let mut hosts = vec![host.to_owned()];
    let mut master_name = r.sentinel_master_name.clone();
    let mut user = r.sentinel_user.clone();
    let mut password = r.sentinel_password.clone();
    // A URL query, decoded as Go's `url.Values` does (`+` is a space).
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "addr" => hosts.push(value),
            "sentinel_master_name" => master_name = value,
            "sentinel_user" => user = value,
            "sentinel_password" => password = value,
            other => return Err(format!("unsupported option {other:?}")),
        }
    }
    if master_name.is_empty() {
        return Err("sentinel_master_name is required".to_owned());
    }
    Ok(RedisAddress::Sentinel {
        master_name,
        sentinels: hosts
            .iter()
            .map(|h| sentinel_url(h, &user, &password))
            .collect(),
        master,
    })
}

/// One Redis address as a URL with `r`'s credentials, database and TLS mode
/// (also for the Redis Streams consumers).
pub(crate) fn redis_url(addr: &str, r: &RedisConfig) -> String {
    url(addr, r)
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
    let userinfo = if has_userinfo {
        String::new()
    } else {
        userinfo(&r.user, &r.password)
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
/// `cluster_address` makes one cluster shard, `sentinel_address` one Sentinel
/// shard; otherwise every `address` is a shard (a server, or a master found
/// through Sentinel with the `redis+sentinel://` form).
///
/// # Errors
/// Options this build does not support (TLS client certificates, custom CAs,
/// `tls.server_name`), a malformed `redis+sentinel://` address, Sentinel
/// without a master name.
pub fn redis_engine_config(
    section: &str,
    r: &RedisConfig,
) -> Result<RedisEngineConfig, BackendConfigError> {
    if r.history_use_lists {
        return Err(BackendConfigError::Unsupported(format!(
            "{section}.redis.history_use_lists: the legacy lists history layout is not supported by this version of chorus (history uses Redis Streams, the default)"
        )));
    }
    if r.presence_hash_field_ttl {
        return Err(BackendConfigError::Unsupported(format!(
            "{section}.redis.presence_hash_field_ttl: not supported by this version of chorus (presence expiry uses a sorted set, which works on every Redis >= 6.2)"
        )));
    }
    let t = &r.tls;
    if !t.cert_pem_file.is_empty() || !t.key_pem_file.is_empty() || !t.server_ca_pem_file.is_empty()
    {
        return Err(BackendConfigError::Unsupported(format!(
            "{section}.redis.tls: client certificates and custom CAs are not supported by this version of chorus (rediss:// with a publicly trusted certificate is)"
        )));
    }
    // The certificate is checked against the address's host name; another name
    // cannot be asked for, so refuse rather than verify against the wrong one.
    if !t.server_name.is_empty() {
        return Err(BackendConfigError::Unsupported(format!(
            "{section}.redis.tls.server_name: not supported by this version of chorus (the certificate must match the host of the address)"
        )));
    }
    let shards = if !r.cluster_address.is_empty() {
        vec![RedisAddress::Cluster(
            r.cluster_address.iter().map(|a| url(a, r)).collect(),
        )]
    } else if !r.sentinel_address.is_empty() {
        if r.sentinel_master_name.is_empty() {
            return Err(BackendConfigError::Unsupported(format!(
                "{section}.redis.sentinel_master_name: required with sentinel_address"
            )));
        }
        vec![sentinel_shard(r)]
    } else {
        r.address
            .iter()
            .map(|a| {
                if a.starts_with("redis+sentinel://") || a.starts_with("rediss+sentinel://") {
                    sentinel_from_url(a, r).map_err(|e| {
                        BackendConfigError::Unsupported(format!(
                            "{section}.redis.address {:?}: {e}",
                            a.split_once('@').map_or(a.as_str(), |(_, host)| host)
                        ))
                    })
                } else {
                    Ok(RedisAddress::Standalone(url(a, r)))
                }
            })
            .collect::<Result<_, _>>()?
    };
    Ok(RedisEngineConfig {
        shards,
        prefix: r.prefix.clone(),
        connect_timeout: dur(r.connect_timeout, Duration::from_secs(1)),
        io_timeout: dur(r.io_timeout, Duration::from_secs(4)),
        presence_ttl: dur(r.presence_ttl, Duration::from_secs(60)),
        presence_user_mapping: r.presence_user_mapping,
    })
}

/// Centrifugo autodetects a Redis Cluster behind a plain `address`; so does
/// this. Each Redis section in use whose `address` entries are plain servers
/// is probed once (`INFO cluster`, see
/// [`RedisEngineConfig::detect_clusters`]): one address that is a cluster node
/// becomes `cluster_address`, seeded by it and its `addr=` parameters. An
/// unreachable address stays standalone, with a warning.
///
/// # Errors
/// Several addresses of which some are cluster nodes (sharding over clusters
/// is not expressible in this configuration), and the errors of
/// [`redis_engine_config`].
pub async fn detect_redis_clusters(cfg: &mut ServerConfig) -> Result<(), BackendConfigError> {
    let broker_own = cfg.broker.enabled;
    let presence_own = cfg.presence_manager.enabled;
    let sections = [
        (
            "engine",
            cfg.engine.kind == Choice::Known(EngineType::Redis) && !(broker_own && presence_own),
            &mut cfg.engine.redis,
        ),
        (
            "broker",
            broker_own && cfg.broker.kind == Choice::Known(BrokerType::Redis),
            &mut cfg.broker.redis,
        ),
        (
            "presence_manager",
            presence_own && cfg.presence_manager.kind == Choice::Known(PresenceManagerType::Redis),
            &mut cfg.presence_manager.redis,
        ),
    ];
    for (section, used, r) in sections {
        let plain = r.cluster_address.is_empty()
            && r.sentinel_address.is_empty()
            && !r.address.iter().any(|a| a.contains("+sentinel://"));
        if !used || !plain || r.address.is_empty() {
            continue;
        }
        let detected = redis_engine_config(section, r)?.detect_clusters().await;
        let mut clusters = Vec::new();
        let mut servers = Vec::new();
        for shard in detected.shards {
            match shard {
                RedisAddress::Cluster(seeds) => clusters.push(seeds),
                RedisAddress::Standalone(url) => servers.push(url),
                RedisAddress::Sentinel { .. } => {}
            }
        }
        match (clusters.len(), servers.len()) {
            (0, _) => r.address = servers,
            (1, 0) => {
                tracing::info!(
                    section,
                    "redis: the address is a Redis Cluster node; using cluster mode"
                );
                r.cluster_address = clusters.remove(0);
            }
            _ => {
                return Err(BackendConfigError::Unsupported(format!(
                    "{section}.redis.address: {} of {} addresses are Redis Cluster nodes; give one cluster (in address or cluster_address), not several shards with clusters among them",
                    clusters.len(),
                    clusters.len() + servers.len()
                )));
            }
        }
    }
    Ok(())
}

/// Plugs the configured broker and presence manager into `builder` (the memory
/// ones are the builder's defaults).
///
/// # Errors
/// An unknown or unavailable type, unsupported Redis options.
pub fn with_backends(
    builder: NodeBuilder,
    cfg: &ServerConfig,
) -> Result<NodeBuilder, BackendConfigError> {
    let (broker_section, broker_kind, broker_redis) = effective_broker(cfg);
    let (presence_section, presence_kind, presence_redis) = effective_presence(cfg);
    let mut broker_engine = None;
    let builder = match broker_kind {
        Choice::Known(BrokerType::Memory) => builder,
        Choice::Known(BrokerType::Redis) => {
            let engine = RedisEngine::new(redis_engine_config(broker_section, broker_redis)?)?;
            broker_engine = Some(engine.clone());
            builder.broker(move |events| engine.broker(events))
        }
        Choice::Known(BrokerType::Nats) => {
            let n = &cfg.broker.nats;
            let config = NatsConfig {
                url: n.url.clone(),
                prefix: n.prefix.clone(),
                dial_timeout: dur(n.dial_timeout, Duration::from_secs(1)),
                write_timeout: dur(n.write_timeout, Duration::from_secs(1)),
            };
            builder.broker(move |events| NatsBroker::new(config, events))
        }
        Choice::Unknown(kind) => {
            return Err(BackendConfigError::Unavailable {
                section: broker_section,
                kind,
                what: "broker",
            });
        }
    };
    let builder = match presence_kind {
        Choice::Known(PresenceManagerType::Memory) => {
            builder.presence(MemoryPresenceManager::new(MEMORY_PRESENCE_TTL))
        }
        Choice::Known(PresenceManagerType::Redis) => {
            // Same Redis as the broker: share its connections.
            let engine = match broker_engine {
                Some(e) if broker_redis == presence_redis => e,
                _ => RedisEngine::new(redis_engine_config(presence_section, presence_redis)?)?,
            };
            builder.presence(engine.presence_manager())
        }
        Choice::Unknown(kind) => {
            return Err(BackendConfigError::Unavailable {
                section: presence_section,
                kind,
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
    fn client_certificates_and_server_name_are_refused() {
        let mut r = RedisConfig::default();
        r.tls.cert_pem_file = "c.pem".into();
        assert!(redis_engine_config("engine", &r).is_err());
        let mut r = RedisConfig::default();
        r.tls.server_name = "redis.internal".into();
        let err = redis_engine_config("engine", &r).expect_err("server_name");
        assert!(err.to_string().contains("server_name"), "{err}");
    }

    #[test]
    fn sentinel_addresses_make_one_sentinel_shard() {
        let r = RedisConfig {
            sentinel_address: vec!["127.0.0.1:26379".into(), "redis://s2:26380".into()],
            sentinel_master_name: "mymaster".into(),
            sentinel_password: "s pw".into(),
            user: "u".into(),
            password: "p".into(),
            db: 3,
            ..RedisConfig::default()
        };
        let c = redis_engine_config("engine", &r).expect("config");
        assert_eq!(
            c.shards,
            [RedisAddress::Sentinel {
                master_name: "mymaster".into(),
                sentinels: vec![
                    "redis://:s%20pw@127.0.0.1:26379".into(),
                    "redis://:s%20pw@s2:26380".into()
                ],
                master: SentinelMaster {
                    user: "u".into(),
                    password: "p".into(),
                    db: 3,
                    tls: RedisTls::Off,
                },
            }]
        );
        let no_name = RedisConfig {
            sentinel_address: vec!["127.0.0.1:26379".into()],
            ..RedisConfig::default()
        };
        let err = redis_engine_config("engine", &no_name).expect_err("no master name");
        assert!(err.to_string().contains("sentinel_master_name"), "{err}");
    }

    #[test]
    fn sentinel_url_form() {
        let mut r = RedisConfig {
            address: vec![
                "redis+sentinel://u:p%40ss@h1:26379/2?sentinel_master_name=m&addr=h2:26380&sentinel_user=su&sentinel_password=s+p%2F".into(),
            ],
            ..RedisConfig::default()
        };
        r.tls.enabled = true;
        let c = redis_engine_config("engine", &r).expect("config");
        assert_eq!(
            c.shards,
            [RedisAddress::Sentinel {
                master_name: "m".into(),
                sentinels: vec![
                    "redis://su:s%20p%2F@h1:26379".into(),
                    "redis://su:s%20p%2F@h2:26380".into()
                ],
                master: SentinelMaster {
                    user: "u".into(),
                    password: "p@ss".into(),
                    db: 2,
                    tls: RedisTls::On,
                },
            }]
        );
        r.address = vec!["redis+sentinel://h1:26379".into()];
        let err = redis_engine_config("engine", &r).expect_err("no master name");
        assert!(err.to_string().contains("sentinel_master_name"), "{err}");
        r.address = vec!["redis+sentinel://h1:26379?sentinel_master_name=m&bogus=1".into()];
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
