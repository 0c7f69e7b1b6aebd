//! Start-up errors of a consumer. Errors while running are logged, counted
//! and retried; only these stop the server from starting.

/// A consumer that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// An option has a value this consumer cannot work with.
    #[error("consumer `{consumer}`: option `{key}`: {reason}")]
    Invalid {
        /// The consumer's name.
        consumer: String,
        /// The option, as written in the configuration (e.g. `postgresql.dsn`).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The first connection to PostgreSQL failed.
    #[error("consumer `{consumer}`: cannot connect to PostgreSQL: {source}")]
    Postgres {
        /// The consumer's name.
        consumer: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The first connection to Redis failed.
    #[error("consumer `{consumer}`: cannot connect to Redis: {source}")]
    Redis {
        /// The consumer's name.
        consumer: String,
        /// The driver's error.
        #[source]
        source: redis::RedisError,
    },
    /// NATS, the JetStream stream or the durable consumer is not usable.
    #[error("consumer `{consumer}`: NATS JetStream: {reason}")]
    Nats {
        /// The consumer's name.
        consumer: String,
        /// What failed, with the client's message.
        reason: String,
    },
}

impl ConsumerError {
    pub(crate) fn invalid(consumer: &str, key: &str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            consumer: consumer.to_owned(),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}
