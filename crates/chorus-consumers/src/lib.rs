//! Async consumers: API commands read from a queue or an outbox table and
//! executed by the server, so that an application can publish without calling
//! the HTTP API, in the same transaction as its own write.
//!
//! Every message is an API command, `{"method": "publish", "payload": {…}}`
//! ([`message`]); the methods a consumer runs are [`ALLOWED_METHODS`].
//! Delivery is at least once, in order per partition:
//!
//! * a command that fails with an internal error (code 100) is retried with a
//!   back-off from 10 ms to 5 s ([`backoff`]) and nothing after it in the same
//!   partition goes first;
//! * a command refused for any other reason, a malformed message and a
//!   method that is not allowed are logged, counted as errors and skipped.
//!
//! The server plugs in through [`Dispatcher`], which executes one command as
//! its HTTP API would; this crate does not depend on the server.
//!
//! Sources: [`postgres`] (an outbox table), [`redis_stream`] (Redis Streams
//! and a consumer group), [`nats_jetstream`] (a JetStream durable consumer).

pub mod backoff;
mod dispatch;
mod error;
pub mod message;
mod metrics;
pub mod nats_jetstream;
pub mod postgres;
mod processor;
pub mod redis_stream;

use std::sync::Arc;

pub use dispatch::{DispatchError, Dispatcher, INTERNAL_ERROR_CODE};
pub use error::ConsumerError;
pub use message::{ALLOWED_METHODS, Command, MessageError};
pub use metrics::ConsumerMetrics;
pub use nats_jetstream::{NatsJetStreamConsumer, NatsJetStreamOptions};
pub use postgres::{PostgresConsumer, PostgresOptions};
pub use processor::{Processor, Stopped};
pub use redis_stream::{RedisStreamConsumer, RedisStreamOptions};
pub use tokio_util::sync::CancellationToken;

/// Where a consumer reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A PostgreSQL outbox table.
    Postgres(PostgresOptions),
    /// Redis Streams read through a consumer group.
    RedisStream(RedisStreamOptions),
    /// A NATS JetStream durable pull consumer.
    NatsJetStream(NatsJetStreamOptions),
}

/// One configured consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// Its name: metrics label, log field, and part of the lock keys.
    pub name: String,
    /// What it reads.
    pub source: Source,
}

/// The running consumers; [`RunningConsumers::shutdown`] stops them.
#[derive(Debug)]
pub struct RunningConsumers {
    tasks: tokio::task::JoinSet<()>,
    metrics: Vec<Arc<ConsumerMetrics>>,
    stop: CancellationToken,
}

impl RunningConsumers {
    /// The counters of each consumer, in configuration order.
    pub fn metrics(&self) -> &[Arc<ConsumerMetrics>] {
        &self.metrics
    }

    /// Stops every consumer and waits for them: batches under way finish.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Connects every consumer (so a wrong address fails the start-up), then runs
/// them until `stop` is cancelled or [`RunningConsumers::shutdown`].
///
/// # Errors
/// The first consumer that cannot start.
pub async fn start(
    specs: Vec<ConsumerSpec>,
    dispatcher: Arc<dyn Dispatcher>,
    stop: CancellationToken,
) -> Result<RunningConsumers, ConsumerError> {
    let stop = stop.child_token();
    let mut tasks = tokio::task::JoinSet::new();
    let mut metrics = Vec::with_capacity(specs.len());
    for spec in specs {
        let counters = Arc::new(ConsumerMetrics::new(spec.name.clone()));
        let processor = Processor::new(dispatcher.clone(), counters.clone());
        match spec.source {
            Source::Postgres(options) => {
                let consumer = PostgresConsumer::connect(&spec.name, options, processor).await?;
                tasks.spawn(consumer.run(stop.clone()));
            }
            Source::NatsJetStream(options) => {
                let consumer =
                    NatsJetStreamConsumer::connect(&spec.name, options, processor).await?;
                tasks.spawn(consumer.run(stop.clone()));
            }
            Source::RedisStream(options) => {
                let consumer = RedisStreamConsumer::connect(&spec.name, options, processor).await?;
                tasks.spawn(consumer.run(stop.clone()));
            }
        }
        tracing::info!(consumer = %spec.name, "consumer running");
        metrics.push(counters);
    }
    Ok(RunningConsumers {
        tasks,
        metrics,
        stop,
    })
}
