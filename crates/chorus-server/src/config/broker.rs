//! The `broker` and `presence_manager` sections (Centrifugo v6): a PUB/SUB
//! broker and a presence manager chosen separately from `engine`, e.g. a NATS
//! broker with a Redis presence manager.

use serde::{Deserialize, Serialize};

use super::{
    BrokerType, Choice, GoDuration, NamespaceOptions, PresenceManagerType, RedisConfig,
    ServerConfig,
};

/// `broker`: when `enabled`, replaces the engine's broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrokerConfig {
    /// Use this section instead of `engine` for PUB/SUB and history.
    pub enabled: bool,
    /// `memory`, `redis` or `nats`.
    #[serde(rename = "type")]
    pub kind: Choice<BrokerType>,
    /// Redis options, used when `type` is `redis`.
    pub redis: RedisConfig,
    /// NATS options, used when `type` is `nats`.
    pub nats: NatsBrokerConfig,
}

/// `presence_manager`: when `enabled`, replaces the engine's presence manager.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PresenceManagerConfig {
    /// Use this section instead of `engine` for presence.
    pub enabled: bool,
    /// `memory` or `redis`.
    #[serde(rename = "type")]
    pub kind: Choice<PresenceManagerType>,
    /// Redis options, used when `type` is `redis`.
    pub redis: RedisConfig,
}

/// `broker.nats`: an at-most-once PUB/SUB broker over NATS (no history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsBrokerConfig {
    /// Server URL. Default `nats://localhost:4222`.
    pub url: String,
    /// Subject prefix. Default `centrifugo`.
    pub prefix: String,
    /// Connect timeout. Default 1s.
    pub dial_timeout: GoDuration,
    /// Write (flush) timeout. Default 1s.
    pub write_timeout: GoDuration,
}

impl Default for NatsBrokerConfig {
    fn default() -> Self {
        Self {
            url: "nats://localhost:4222".to_owned(),
            prefix: "centrifugo".to_owned(),
            dial_timeout: GoDuration::from_secs(1),
            write_timeout: GoDuration::from_secs(1),
        }
    }
}

/// The broker in effect and the section that configures it: `broker` when
/// `broker.enabled`, else `engine`.
pub fn effective_broker(config: &ServerConfig) -> (&'static str, Choice<BrokerType>, &RedisConfig) {
    if config.broker.enabled {
        ("broker", config.broker.kind.clone(), &config.broker.redis)
    } else {
        (
            "engine",
            engine_choice(&config.engine.kind),
            &config.engine.redis,
        )
    }
}

/// The presence manager in effect and the section that configures it:
/// `presence_manager` when enabled, else `engine`.
pub fn effective_presence(
    config: &ServerConfig,
) -> (&'static str, Choice<PresenceManagerType>, &RedisConfig) {
    if config.presence_manager.enabled {
        (
            "presence_manager",
            config.presence_manager.kind.clone(),
            &config.presence_manager.redis,
        )
    } else {
        (
            "engine",
            engine_choice(&config.engine.kind),
            &config.engine.redis,
        )
    }
}

/// The engine's choice as a broker or presence manager choice.
fn engine_choice<T: From<super::EngineType>>(engine: &Choice<super::EngineType>) -> Choice<T> {
    match engine {
        Choice::Known(kind) => Choice::Known(T::from(*kind)),
        Choice::Unknown(text) => Choice::Unknown(text.clone()),
    }
}

/// What of a channel's options needs a stream (history), which a NATS broker
/// does not keep.
fn needs_history(o: &NamespaceOptions) -> Option<&'static str> {
    if o.history_size > 0 || o.history_ttl > GoDuration::ZERO {
        Some("history_size/history_ttl")
    } else if o.force_recovery || o.allow_recovery {
        Some("recovery")
    } else if o.force_positioning || o.allow_positioning {
        Some("positioning")
    } else {
        None
    }
}

/// Problems of the `broker` and `presence_manager` sections.
pub(super) fn problems(config: &ServerConfig) -> Vec<String> {
    let mut p = Vec::new();
    if config.broker.enabled
        && let Some(text) = config.broker.kind.unknown()
    {
        p.push(format!(
            "broker.type: unknown or unsupported broker {text:?} (expected \"memory\", \"redis\" or \"nats\")"
        ));
    }
    if config.presence_manager.enabled
        && let Some(text) = config.presence_manager.kind.unknown()
    {
        p.push(format!(
            "presence_manager.type: unknown presence manager {text:?} (expected \"memory\" or \"redis\")"
        ));
    }
    for (section, redis_used, redis) in [
        (
            "broker",
            config.broker.enabled && config.broker.kind == Choice::Known(BrokerType::Redis),
            &config.broker.redis,
        ),
        (
            "presence_manager",
            config.presence_manager.enabled
                && config.presence_manager.kind == Choice::Known(PresenceManagerType::Redis),
            &config.presence_manager.redis,
        ),
    ] {
        if redis_used {
            if redis.address.is_empty() && redis.cluster_address.is_empty() {
                p.push(format!("{section}.redis: set address or cluster_address"));
            }
            if redis.prefix.is_empty() {
                p.push(format!("{section}.redis.prefix: must not be empty"));
            }
        }
    }
    // The Redis client library cannot name the connections it opens and
    // re-opens (no CLIENT SETNAME on connect), so the option is refused
    // rather than silently dropped.
    for (section, redis) in [
        ("engine", &config.engine.redis),
        ("broker", &config.broker.redis),
        ("presence_manager", &config.presence_manager.redis),
    ] {
        if !redis.client_name.is_empty() {
            p.push(format!(
                "{section}.redis.client_name: not supported by chorus (its Redis client cannot set a connection name); remove it"
            ));
        }
    }
    if config.broker.enabled && config.broker.kind == Choice::Known(BrokerType::Nats) {
        let n = &config.broker.nats;
        if !(n.url.starts_with("nats://") || n.url.starts_with("tls://")) {
            p.push(format!(
                "broker.nats.url: {:?} is not a nats:// or tls:// URL",
                n.url
            ));
        }
        if n.prefix.is_empty() {
            p.push("broker.nats.prefix: must not be empty".to_owned());
        }
        for (key, d) in [
            ("dial_timeout", n.dial_timeout),
            ("write_timeout", n.write_timeout),
        ] {
            if d <= GoDuration::ZERO {
                p.push(format!("broker.nats.{key}: must be positive"));
            }
        }
        let channels = std::iter::once((
            "channel.without_namespace".to_owned(),
            &config.channel.without_namespace,
        ))
        .chain(
            config
                .channel
                .namespaces
                .iter()
                .map(|ns| (format!("channel.namespaces[{:?}]", ns.name), &ns.options)),
        );
        for (at, options) in channels {
            if let Some(what) = needs_history(options) {
                p.push(format!(
                    "{at}: uses {what}, but broker.type \"nats\" is at-most-once PUB/SUB without history; use a redis broker for this namespace's channels or turn {what} off"
                ));
            }
        }
    }
    p
}
