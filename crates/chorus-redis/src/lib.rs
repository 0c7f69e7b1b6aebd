//! # chorus-redis
//!
//! The Redis engine for Chorus: [`RedisBroker`] (PUB/SUB fan-out between nodes,
//! history in Redis Streams with epoch/offset meta and an idempotency cache) and
//! [`RedisPresenceManager`], over one Redis, several independent Redis servers
//! (sharded by channel with jump consistent hashing), Redis Cluster (keys with
//! `{channel}` hash tags, each channel subscribed on its slot's master; see
//! [`RedisEngineConfig::detect_clusters`] to find clusters behind plain
//! addresses) or masters found through Redis Sentinel. Keys, PUB/SUB
//! channels and message formats follow Centrifugo's layout (compatibility spec
//! §11) with a configurable prefix. Redis 6.2 or newer.
//!
//! Connect once with [`RedisEngine::connect`], then build each node's broker
//! with [`RedisEngine::broker`] and its presence manager with
//! [`RedisEngine::presence_manager`]. Both pass the engine conformance suite
//! (`chorus_testkit::conformance`).
//!
//! ## Failure behaviour
//! * Every call is bounded by the IO timeout: while Redis is down, `publish`,
//!   `history` and presence calls return [`chorus_node::BackendError::Failed`]
//!   (API 100, client error 100) rather than waiting or dropping silently.
//! * The PUB/SUB connection reconnects by itself and subscribes again every
//!   channel that still has local subscribers; it then reports each through
//!   [`chorus_node::BrokerEvents::on_stream_interrupted`] so positioned clients
//!   recover what was published meanwhile from history.

mod broker;
mod codec;
mod config;
mod detect;
mod engine;
mod error;
mod keys;
mod presence;
mod scripts;
mod sentinel;
mod shard;
mod subscriber;
mod topology;

pub use broker::RedisBroker;
pub use config::{RedisAddress, RedisEngineConfig, RedisTls, SentinelMaster};
pub use engine::RedisEngine;
pub use error::RedisEngineError;
pub use presence::RedisPresenceManager;

/// Entry points for the fuzz targets in `fuzz/`: the decoders of what Redis
/// sends back, reachable without a server. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use prost::Message as _;

    /// Decodes one PUB/SUB payload (publication with or without its stream
    /// position, join, leave); `true` when accepted.
    pub fn decode_pubsub(payload: &[u8]) -> bool {
        crate::codec::decode(payload).is_ok()
    }

    /// Parses `resp` as a RESP reply, then as the history script's answer and
    /// its stream entries as publications, as a history read does; `true`
    /// when every step accepted it.
    pub fn decode_history_reply(resp: &[u8]) -> bool {
        let Ok(reply) = redis::parse_redis_value(resp) else {
            return false;
        };
        let Ok((_, entries)) = crate::broker::parse_history(reply) else {
            return false;
        };
        entries
            .iter()
            .all(|(_, payload)| chorus_protocol::Publication::decode(payload.as_slice()).is_ok())
    }
}
