//! The broker: one NATS connection per node, one subscription per channel.

use async_trait::async_trait;
use chorus_node::{
    BackendError, Broker, BrokerEvents, HistoryFilter, HistoryResult, PublishOptions,
    PublishResult, StreamPosition,
};
use chorus_protocol::{ClientInfo, Join, Leave, Publication, Push};
use futures_util::StreamExt;
use prost::Message as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::task::AbortHandle;

/// Options of the NATS broker (`broker.nats` in the server configuration).
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// Server URL, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// Subject prefix (Centrifugo: `centrifugo`).
    pub prefix: String,
    /// Longest wait for the connection.
    pub dial_timeout: Duration,
    /// Longest wait for a publish to reach the server.
    pub write_timeout: Duration,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://localhost:4222".to_owned(),
            prefix: "centrifugo".to_owned(),
            dial_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
        }
    }
}

/// At-most-once PUB/SUB over NATS; see the crate docs.
pub struct NatsBroker {
    config: NatsConfig,
    events: Arc<dyn BrokerEvents>,
    // Connected on first use; a failed attempt is not stored (the next call
    // tries again). Afterwards the client reconnects by itself.
    client: OnceCell<async_nats::Client>,
    // Channel -> the task forwarding its subscription. A std mutex: held only to
    // insert or remove, never across `.await`.
    subscriptions: Mutex<HashMap<String, AbortHandle>>,
    // The tasks forwarding this node's control subjects (`<prefix>.control`,
    // `<prefix>.node.<id>`), started with the connection.
    control: Mutex<Vec<AbortHandle>>,
}

impl std::fmt::Debug for NatsBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBroker")
            .field("url", &self.config.url)
            .field("prefix", &self.config.prefix)
            .finish_non_exhaustive()
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Failed(format!("nats: {what}: {e}"))
}

impl NatsBroker {
    /// A broker delivering to `events`; connects on first use.
    pub fn new(config: NatsConfig, events: Arc<dyn BrokerEvents>) -> Self {
        Self {
            config,
            events,
            client: OnceCell::new(),
            subscriptions: Mutex::default(),
            control: Mutex::default(),
        }
    }

    /// Connects now (the server calls it at start-up to fail fast).
    ///
    /// # Errors
    /// NATS cannot be reached within the dial timeout.
    pub async fn connect(&self) -> Result<(), BackendError> {
        self.client().await.map(|_| ())
    }

    async fn client(&self) -> Result<&async_nats::Client, BackendError> {
        self.client
            .get_or_try_init(|| async {
                let options = async_nats::ConnectOptions::new()
                    .connection_timeout(self.config.dial_timeout)
                    .max_reconnects(None);
                let client = tokio::time::timeout(
                    self.config.dial_timeout * 2,
                    options.connect(self.config.url.as_str()),
                )
                .await
                .map_err(|_| failed("connect", "timed out"))?
                .map_err(|e| failed("connect", e))?;
                self.subscribe_control(&client).await?;
                Ok(client)
            })
            .await
    }

    /// Subscribes the node's control subjects, when the sink takes control
    /// messages.
    async fn subscribe_control(&self, client: &async_nats::Client) -> Result<(), BackendError> {
        let Some(node) = self.events.control_node() else {
            return Ok(());
        };
        let prefix = &self.config.prefix;
        for subject in [format!("{prefix}.control"), format!("{prefix}.node.{node}")] {
            let mut subscriber = client
                .subscribe(subject)
                .await
                .map_err(|e| failed("subscribe", e))?;
            let events = Arc::clone(&self.events);
            let task = tokio::spawn(async move {
                while let Some(message) = subscriber.next().await {
                    events.on_control(message.payload);
                }
            });
            self.control
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(task.abort_handle());
        }
        Ok(())
    }

    fn stop_control(&self) {
        for task in self
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }

    fn subject(&self, channel: &str) -> String {
        format!("{}.client.{channel}", self.config.prefix)
    }

    /// Publishes a push and waits until the server has it (or fails).
    async fn send(&self, channel: &str, push: Push) -> Result<(), BackendError> {
        let client = self.client().await?;
        if client.connection_state() != async_nats::connection::State::Connected {
            return Err(failed("publish", "not connected"));
        }
        client
            .publish(self.subject(channel), push.encode_to_vec().into())
            .await
            .map_err(|e| failed("publish", e))?;
        tokio::time::timeout(self.config.write_timeout, client.flush())
            .await
            .map_err(|_| failed("publish", "write timed out"))?
            .map_err(|e| failed("publish", e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, AbortHandle>> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for NatsBroker {
    fn drop(&mut self) {
        for (_, task) in self.lock().drain() {
            task.abort();
        }
        self.stop_control();
    }
}

/// Hands one received push to the node (only for the channel subscribed: a
/// subject with wildcard characters may match other channels).
fn deliver(events: &dyn BrokerEvents, channel: &str, payload: &[u8]) {
    let push = match Push::decode(payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(channel, error = %e, "undecodable nats message dropped");
            return;
        }
    };
    if push.channel != channel {
        return;
    }
    if let Some(p) = push.r#pub {
        events.on_publication(channel, p, StreamPosition::default());
    } else if let Some(info) = push.join.and_then(|j| j.info) {
        events.on_join(channel, info);
    } else if let Some(info) = push.leave.and_then(|l| l.info) {
        events.on_leave(channel, info);
    }
}

#[async_trait]
impl Broker for NatsBroker {
    /// Publishes without history (history options are ignored, see the crate
    /// docs); the result has no position.
    async fn publish(
        &self,
        channel: &str,
        mut publication: Publication,
        _options: &PublishOptions,
    ) -> Result<PublishResult, BackendError> {
        publication.offset = 0;
        let push = Push {
            channel: channel.to_owned(),
            r#pub: Some(publication),
            ..Push::default()
        };
        self.send(channel, push).await?;
        Ok(PublishResult::default())
    }

    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        let push = Push {
            channel: channel.to_owned(),
            join: Some(Join { info: Some(info) }),
            ..Push::default()
        };
        self.send(channel, push).await
    }

    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        let push = Push {
            channel: channel.to_owned(),
            leave: Some(Leave { info: Some(info) }),
            ..Push::default()
        };
        self.send(channel, push).await
    }

    async fn subscribe(&self, channel: &str) -> Result<(), BackendError> {
        if self.lock().contains_key(channel) {
            return Ok(());
        }
        let client = self.client().await?;
        let mut subscriber = client
            .subscribe(self.subject(channel))
            .await
            .map_err(|e| failed("subscribe", e))?;
        // A round trip: the server has the subscription once this returns, so
        // a publish made after `subscribe` returns is delivered.
        tokio::time::timeout(self.config.write_timeout, client.flush())
            .await
            .map_err(|_| failed("subscribe", "timed out"))?
            .map_err(|e| failed("subscribe", e))?;
        let events = Arc::clone(&self.events);
        let name = channel.to_owned();
        let task = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                deliver(&*events, &name, &message.payload);
            }
        });
        // The node serializes subscribe/unsubscribe per channel, so no one
        // inserted meanwhile; keep the newest task if that ever changes.
        if let Some(old) = self.lock().insert(channel.to_owned(), task.abort_handle()) {
            old.abort();
        }
        Ok(())
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), BackendError> {
        // Aborting drops the NATS subscriber, which unsubscribes on the server.
        if let Some(task) = self.lock().remove(channel) {
            task.abort();
        }
        Ok(())
    }

    async fn history(
        &self,
        _channel: &str,
        _filter: HistoryFilter,
        _meta_ttl: Duration,
    ) -> Result<HistoryResult, BackendError> {
        Err(BackendError::NotAvailable)
    }

    async fn remove_history(&self, _channel: &str) -> Result<(), BackendError> {
        Err(BackendError::NotAvailable)
    }

    /// Whether the NATS connection is up. The connection is made on first
    /// use; a node that has not used it yet connects here (once, bounded by the
    /// dial timeout), so an idle node is not reported down.
    async fn healthy(&self) -> bool {
        let client = match self.client.get() {
            Some(c) => c,
            None => match self.client().await {
                Ok(c) => c,
                Err(_) => return false,
            },
        };
        client.connection_state() == async_nats::connection::State::Connected
    }

    async fn publish_control(
        &self,
        data: bytes::Bytes,
        node: Option<&str>,
    ) -> Result<(), BackendError> {
        let client = self.client().await?;
        let prefix = &self.config.prefix;
        let subject = node.map_or_else(
            || format!("{prefix}.control"),
            |n| format!("{prefix}.node.{n}"),
        );
        client
            .publish(subject, data)
            .await
            .map_err(|e| failed("publish", e))
    }

    async fn shutdown(&self) {
        for (_, task) in self.lock().drain() {
            task.abort();
        }
        self.stop_control();
        if let Some(client) = self.client.get() {
            let _ = client.drain().await;
        }
    }
}
