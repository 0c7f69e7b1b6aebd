//! Errors of building the engine. Errors of individual operations are the
//! engine's [`chorus_node::BackendError`].

use chorus_node::BackendError;

/// Why the Redis engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisEngineError {
    /// The configuration is unusable (no shard, a malformed address).
    #[error("invalid redis configuration: {0}")]
    Config(String),
    /// A shard could not be reached within the connect timeout.
    #[error("cannot connect to redis at {address}: {reason}")]
    Connect {
        /// The shard's address.
        address: String,
        /// What failed.
        reason: String,
    },
}

/// A failed Redis call as the engine's backend error.
pub(crate) fn failed(e: &redis::RedisError) -> BackendError {
    BackendError::Failed(format!("redis: {e}"))
}

pub(crate) fn timed_out() -> BackendError {
    BackendError::Failed("redis: timed out".to_owned())
}

pub(crate) fn malformed(what: &str) -> BackendError {
    BackendError::Failed(format!("redis: malformed reply ({what})"))
}
