//! The NATS JetStream consumer.
//!
//! The application publishes to a subject of a JetStream stream either the
//! whole `{"method", "payload"}` message, or the request alone with the method
//! in a header (`centrifugo-method` by default). All nodes pull from one
//! durable consumer, so each message goes to one node. A processed message is
//! acknowledged; one failing with a retryable error is negatively
//! acknowledged with a delay growing with its delivery count (10 ms to 5 s),
//! and JetStream delivers it again. With `max_ack_pending` 1 the stream is
//! processed strictly in order; with more, a redelivered message can come
//! after later ones. Messages are pulled in batches of at most
//! `max_ack_pending` (and 100).

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::pull};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::backoff::{Backoff, MAX_BACKOFF, MIN_BACKOFF};
use crate::error::ConsumerError;
use crate::processor::Processor;

/// `deliver_policy`: where a new durable consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliverPolicy {
    /// `new`: only messages published from now on (the default).
    #[default]
    New,
    /// `all`: everything the stream holds.
    All,
}

/// Options of a `nats_jetstream` consumer (Centrifugo's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsJetStreamOptions {
    /// `url`. Default `nats://127.0.0.1:4222`.
    pub url: String,
    /// `credentials_file`: a NATS credentials file (takes precedence).
    pub credentials_file: String,
    /// `username` (with `password`).
    pub username: String,
    /// `password`.
    pub password: String,
    /// `token`.
    pub token: String,
    /// `stream_name`: the stream (must exist).
    pub stream_name: String,
    /// `subjects`: filter subjects of the consumer (several need
    /// nats-server 2.10).
    pub subjects: Vec<String>,
    /// `durable_consumer_name`: created or updated at start-up.
    pub durable_consumer_name: String,
    /// `use_existing_consumer`: attach to a consumer created outside; its
    /// configuration decides everything.
    pub use_existing_consumer: bool,
    /// `deliver_policy`.
    pub deliver_policy: DeliverPolicy,
    /// `max_ack_pending`. Default 100.
    pub max_ack_pending: i64,
    /// `method_header`. Default `centrifugo-method`.
    pub method_header: String,
}

impl Default for NatsJetStreamOptions {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            credentials_file: String::new(),
            username: String::new(),
            password: String::new(),
            token: String::new(),
            stream_name: String::new(),
            subjects: Vec::new(),
            durable_consumer_name: String::new(),
            use_existing_consumer: false,
            deliver_policy: DeliverPolicy::New,
            max_ack_pending: 100,
            method_header: "centrifugo-method".to_owned(),
        }
    }
}

/// How long a message may stay unacknowledged before JetStream delivers it
/// again (as Centrifugo sets it).
const ACK_WAIT: Duration = Duration::from_secs(30);

/// Most messages pulled at once (fewer when `max_ack_pending` is lower).
const BATCH: usize = 100;

/// How long one pull waits for messages (also how soon an idle consumer
/// notices a stop).
const BATCH_WAIT: Duration = Duration::from_secs(1);

/// A started JetStream consumer; [`NatsJetStreamConsumer::run`] consumes.
#[derive(Debug)]
pub struct NatsJetStreamConsumer {
    name: String,
    options: NatsJetStreamOptions,
    processor: Processor,
    consumer: jetstream::consumer::PullConsumer,
}

impl NatsJetStreamConsumer {
    /// Checks the options, connects, and creates (or finds) the durable
    /// consumer.
    ///
    /// # Errors
    /// [`ConsumerError::Invalid`] naming the option, or
    /// [`ConsumerError::Nats`] when NATS, the stream or the consumer fails.
    pub async fn connect(
        name: &str,
        options: NatsJetStreamOptions,
        processor: Processor,
    ) -> Result<Self, ConsumerError> {
        for (key, value) in [
            ("nats_jetstream.url", &options.url),
            ("nats_jetstream.stream_name", &options.stream_name),
            (
                "nats_jetstream.durable_consumer_name",
                &options.durable_consumer_name,
            ),
        ] {
            if value.is_empty() {
                return Err(ConsumerError::invalid(name, key, "required"));
            }
        }
        if options.max_ack_pending < 1 && !options.use_existing_consumer {
            return Err(ConsumerError::invalid(
                name,
                "nats_jetstream.max_ack_pending",
                "must be at least 1",
            ));
        }
        let nats_error = |what: &str, e: &dyn std::fmt::Display| ConsumerError::Nats {
            consumer: name.to_owned(),
            reason: format!("{what}: {e}"),
        };
        let mut connect = async_nats::ConnectOptions::new().name(format!("chorus consumer {name}"));
        if !options.credentials_file.is_empty() {
            connect = connect
                .credentials_file(&options.credentials_file)
                .await
                .map_err(|e| nats_error("credentials_file", &e))?;
        } else if !options.username.is_empty() {
            connect = connect.user_and_password(options.username.clone(), options.password.clone());
        } else if !options.token.is_empty() {
            connect = connect.token(options.token.clone());
        }
        let client = connect
            .connect(options.url.as_str())
            .await
            .map_err(|e| nats_error("connect", &e))?;
        let js = jetstream::new(client);
        let stream = js
            .get_stream(&options.stream_name)
            .await
            .map_err(|e| nats_error("stream", &e))?;
        let consumer: jetstream::consumer::PullConsumer = if options.use_existing_consumer {
            stream
                .get_consumer(&options.durable_consumer_name)
                .await
                .map_err(|e| nats_error("existing consumer", &e))?
        } else {
            let mut config = pull::Config {
                durable_name: Some(options.durable_consumer_name.clone()),
                name: Some(options.durable_consumer_name.clone()),
                deliver_policy: match options.deliver_policy {
                    DeliverPolicy::New => jetstream::consumer::DeliverPolicy::New,
                    DeliverPolicy::All => jetstream::consumer::DeliverPolicy::All,
                },
                ack_wait: ACK_WAIT,
                max_ack_pending: options.max_ack_pending,
                ..pull::Config::default()
            };
            // One filter subject works on every server; several need 2.10.
            match options.subjects.as_slice() {
                [] => {}
                [one] => config.filter_subject.clone_from(one),
                many => config.filter_subjects = many.to_vec(),
            }
            stream
                .create_consumer(config)
                .await
                .map_err(|e| nats_error("create consumer", &e))?
        };
        Ok(Self {
            name: name.to_owned(),
            options,
            processor,
            consumer,
        })
    }

    /// Consumes until `stop` is cancelled. Pulls in batches (at most
    /// 100 messages, waiting up to a second); on stop the message
    /// being processed is finished and the rest of its batch is handed back
    /// at once (negative acknowledgement without delay), so another node
    /// need not wait for the ack timeout.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::new();
        let size = usize::try_from(self.options.max_ack_pending)
            .unwrap_or(1)
            .clamp(1, BATCH);
        while !stop.is_cancelled() {
            let pulled = tokio::select! {
                b = self.consumer.batch().max_messages(size).expires(BATCH_WAIT).messages() => b,
                () = stop.cancelled() => return,
            };
            let mut batch = match pulled {
                Ok(b) => b,
                Err(e) => {
                    self.source_error(&e);
                    pause(backoff.next_delay(), &stop).await;
                    continue;
                }
            };
            while let Some(next) = batch.next().await {
                match next {
                    Ok(message) if stop.is_cancelled() => {
                        if let Err(e) = message.ack_with(AckKind::Nak(None)).await {
                            self.source_error(&e);
                        }
                    }
                    Ok(message) => {
                        backoff.reset();
                        self.handle(message).await;
                    }
                    Err(e) => {
                        self.source_error(&e);
                        pause(backoff.next_delay(), &stop).await;
                        break;
                    }
                }
            }
        }
    }

    async fn handle(&self, message: jetstream::Message) {
        let (delivered, pending) = match message.info() {
            Ok(info) => (info.delivered, Some(info.pending)),
            Err(_) => (1, None),
        };
        if let Some(pending) = pending {
            self.processor
                .metrics()
                .set_lag(&self.options.stream_name, pending);
        }
        let method = message
            .headers
            .as_ref()
            .and_then(|h| h.get(self.options.method_header.as_str()))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let result = match self.processor.process(&method, &message.payload).await {
            Ok(()) => message.ack().await,
            Err(_) => {
                message
                    .ack_with(AckKind::Nak(Some(nak_delay(delivered))))
                    .await
            }
        };
        if let Err(e) = result {
            // Not acknowledged: JetStream delivers it again after ack_wait.
            self.source_error(&e);
        }
    }

    fn source_error(&self, e: &dyn std::fmt::Display) {
        self.processor.metrics().add_error();
        tracing::warn!(consumer = %self.name, error = %e, "nats jetstream error");
    }
}

/// The redelivery delay after the `delivered`-th failed delivery: 10 ms
/// doubling up to 5 s.
fn nak_delay(delivered: i64) -> Duration {
    let doublings = u32::try_from(delivered.clamp(1, 16) - 1).unwrap_or(0);
    MIN_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

async fn pause(delay: Duration, stop: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = stop.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nak_delay_grows_to_five_seconds() {
        assert_eq!(nak_delay(1), Duration::from_millis(10));
        assert_eq!(nak_delay(2), Duration::from_millis(20));
        assert_eq!(nak_delay(4), Duration::from_millis(80));
        assert_eq!(nak_delay(10), MAX_BACKOFF);
        assert_eq!(nak_delay(1000), MAX_BACKOFF);
    }
}
