//! Engine counters for monitoring: plain atomics, no metrics library.
//!
//! The engine counts what happens on its hot paths (commands, messages to and from
//! the broker, bytes through transports, broker publish times) with relaxed atomic
//! adds: no lock and no allocation per message. A metrics exporter (the `chorus`
//! server's Prometheus endpoint) reads a [`MetricsSnapshot`]
//! ([`Node::metrics`](crate::Node::metrics)) when it is scraped.
//!
//! Rare events (a connection ending, an error reply) are counted in small maps
//! behind a `Mutex`; they happen at most once per command, never per recipient.
//!
//! Counting around the broker is done by wrapping it (`MeteredBroker`) and its
//! event sink (`CountingEvents`) when the node is built, so broker
//! implementations need not know about metrics.

use crate::broker::{
    Broker, BrokerEvents, HistoryFilter, HistoryResult, PublishOptions, PublishResult,
    StreamPosition,
};
use crate::error::BackendError;
use async_trait::async_trait;
use chorus_protocol::{ClientInfo, Command, Publication};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the duration histogram buckets, Prometheus-style.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const BUCKET_NANOS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A duration histogram over [`DURATION_BUCKETS`], made of atomics.
#[derive(Debug, Default)]
pub(crate) struct DurationHistogram {
    // Per-bucket (not cumulative) counts; the last slot is "above every bound".
    buckets: [AtomicU64; 17],
    sum_nanos: AtomicU64,
}

/// A point-in-time copy of one duration histogram (a command method's, or
/// broker publish times).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct HistogramSnapshot {
    /// Cumulative counts, one per bound of [`DURATION_BUCKETS`].
    pub cumulative: Vec<u64>,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, in seconds.
    pub sum_seconds: f64,
}

impl DurationHistogram {
    /// Records one duration.
    pub(crate) fn observe(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let slot = BUCKET_NANOS.partition_point(|&b| b < nanos);
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// Copies the current counts.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(BUCKET_NANOS.len());
        let mut running = 0;
        for b in &self.buckets[..BUCKET_NANOS.len()] {
            running += b.load(Relaxed);
            cumulative.push(running);
        }
        let count = running + self.buckets[BUCKET_NANOS.len()].load(Relaxed);
        #[allow(clippy::cast_precision_loss)]
        let sum_seconds = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        HistogramSnapshot {
            cumulative,
            count,
            sum_seconds,
        }
    }
}

/// Client command kinds, the `method` label of per-command metrics (names as in
/// Centrifugo's protocol frame types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Method {
    /// `connect`.
    Connect,
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `publish`.
    Publish,
    /// `presence`.
    Presence,
    /// `presence_stats`.
    PresenceStats,
    /// `history`.
    History,
    /// `send`.
    Send,
    /// `rpc`.
    Rpc,
    /// `refresh`.
    Refresh,
    /// `sub_refresh`.
    SubRefresh,
    /// A pong, or a command the engine does not know.
    Unknown,
}

impl Method {
    /// Every method, in label order.
    pub const ALL: [Self; 12] = [
        Self::Connect,
        Self::Subscribe,
        Self::Unsubscribe,
        Self::Publish,
        Self::Presence,
        Self::PresenceStats,
        Self::History,
        Self::Send,
        Self::Rpc,
        Self::Refresh,
        Self::SubRefresh,
        Self::Unknown,
    ];

    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Publish => "publish",
            Self::Presence => "presence",
            Self::PresenceStats => "presence_stats",
            Self::History => "history",
            Self::Send => "send",
            Self::Rpc => "rpc",
            Self::Refresh => "refresh",
            Self::SubRefresh => "sub_refresh",
            Self::Unknown => "unknown",
        }
    }

    /// The method of a decoded command.
    pub(crate) fn of(cmd: &Command) -> Self {
        if cmd.connect.is_some() {
            Self::Connect
        } else if cmd.subscribe.is_some() {
            Self::Subscribe
        } else if cmd.unsubscribe.is_some() {
            Self::Unsubscribe
        } else if cmd.publish.is_some() {
            Self::Publish
        } else if cmd.presence.is_some() {
            Self::Presence
        } else if cmd.presence_stats.is_some() {
            Self::PresenceStats
        } else if cmd.history.is_some() {
            Self::History
        } else if cmd.send.is_some() {
            Self::Send
        } else if cmd.rpc.is_some() {
            Self::Rpc
        } else if cmd.refresh.is_some() {
            Self::Refresh
        } else if cmd.sub_refresh.is_some() {
            Self::SubRefresh
        } else {
            Self::Unknown
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Messages exchanged with the broker, by type (Centrifugo's `type` label).
#[derive(Debug, Default)]
pub(crate) struct MessageCounts {
    /// Publications.
    pub(crate) publication: AtomicU64,
    /// Join events.
    pub(crate) join: AtomicU64,
    /// Leave events.
    pub(crate) leave: AtomicU64,
}

/// Traffic of one transport (frames are protocol messages: a reply or a push).
#[derive(Debug, Default)]
pub(crate) struct TransportCounts {
    /// Connections opened.
    pub(crate) connects: AtomicU64,
    /// Messages written to clients.
    pub(crate) messages_sent: AtomicU64,
    /// Bytes of messages written (encoded, before compression and framing).
    pub(crate) bytes_sent: AtomicU64,
    /// Frames read from clients.
    pub(crate) messages_received: AtomicU64,
    /// Bytes of frames read.
    pub(crate) bytes_received: AtomicU64,
}

/// Everything the engine counts. One per [`Node`](crate::Node); read through
/// [`EngineCounters::snapshot`].
#[derive(Debug, Default)]
pub(crate) struct EngineCounters {
    commands: [DurationHistogram; 12],
    // (method, code) → count of error replies. Error replies are rare next to
    // messages; the map stays small (codes are a short list).
    reply_errors: Mutex<BTreeMap<(Method, u32), u64>>,
    // code → (reason, count) of connections the server closed.
    disconnects: Mutex<BTreeMap<u32, (String, u64)>>,
    /// Messages this node sent to the broker.
    pub(crate) messages_sent: MessageCounts,
    /// Messages this node received from the broker.
    pub(crate) messages_received: MessageCounts,
    /// Time spent in `Broker::publish`.
    pub(crate) broker_publish: DurationHistogram,
    // Transports are few and fixed (`&'static str` names): a connection looks its
    // counters up once, then adds to them without locking.
    transports: Mutex<Vec<(&'static str, Arc<TransportCounts>)>>,
    /// Commands refused by a rate limit (error 111 or disconnect 3013).
    pub(crate) rate_limited: AtomicU64,
}

impl EngineCounters {
    /// Records a handled client command and how long it took.
    pub(crate) fn observe_command(&self, method: Method, took: Duration) {
        self.commands[method.index()].observe(took);
    }

    /// The duration histogram of one command method.
    pub(crate) fn command(&self, method: Method) -> HistogramSnapshot {
        self.commands[method.index()].snapshot()
    }

    /// Records an error reply.
    pub(crate) fn reply_error(&self, method: Method, code: u32) {
        if let Ok(mut m) = self.reply_errors.lock() {
            *m.entry((method, code)).or_default() += 1;
        }
    }

    /// Error replies so far, by method and code.
    pub(crate) fn reply_errors(&self) -> BTreeMap<(Method, u32), u64> {
        self.reply_errors
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// Records a connection that the server closed (every code but 3000).
    pub(crate) fn server_disconnect(&self, code: u32, reason: &str) {
        if let Ok(mut m) = self.disconnects.lock() {
            let e = m.entry(code).or_insert_with(|| (reason.to_owned(), 0));
            e.1 += 1;
        }
    }

    /// Server-initiated disconnects so far: code → (reason, count).
    pub(crate) fn server_disconnects(&self) -> BTreeMap<u32, (String, u64)> {
        self.disconnects
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// The counters of one transport (created on first use).
    pub(crate) fn transport(&self, name: &'static str) -> Arc<TransportCounts> {
        let Ok(mut list) = self.transports.lock() else {
            return Arc::default();
        };
        if let Some((_, c)) = list.iter().find(|(n, _)| *n == name) {
            return Arc::clone(c);
        }
        let c = Arc::<TransportCounts>::default();
        list.push((name, Arc::clone(&c)));
        c
    }

    /// Every transport used so far, with its counters.
    pub(crate) fn transports(&self) -> Vec<(&'static str, Arc<TransportCounts>)> {
        self.transports
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

/// Messages exchanged with the broker, by type, at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageTotals {
    /// Publications.
    pub publication: u64,
    /// Join events.
    pub join: u64,
    /// Leave events.
    pub leave: u64,
}

impl MessageCounts {
    fn totals(&self) -> MessageTotals {
        MessageTotals {
            publication: self.publication.load(Relaxed),
            join: self.join.load(Relaxed),
            leave: self.leave.load(Relaxed),
        }
    }
}

/// Traffic of one transport at one instant (frames are protocol messages: a
/// reply or a push).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportTotals {
    /// Transport name (`websocket`, `sse`, …).
    pub name: &'static str,
    /// Connections opened.
    pub connects: u64,
    /// Messages written to clients.
    pub messages_sent: u64,
    /// Bytes of messages written (encoded, before compression and framing).
    pub bytes_sent: u64,
    /// Frames read from clients.
    pub messages_received: u64,
    /// Bytes of frames read.
    pub bytes_received: u64,
}

/// A point-in-time copy of everything the engine counts, from
/// [`Node::metrics`](crate::Node::metrics).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Duration histogram of every command method handled at least once.
    pub commands: Vec<(Method, HistogramSnapshot)>,
    /// Error replies, by method and code.
    pub reply_errors: BTreeMap<(Method, u32), u64>,
    /// Server-initiated disconnects: code → (reason, count).
    pub server_disconnects: BTreeMap<u32, (String, u64)>,
    /// Messages this node sent to the broker.
    pub messages_sent: MessageTotals,
    /// Messages this node received from the broker.
    pub messages_received: MessageTotals,
    /// Time spent in `Broker::publish`.
    pub broker_publish: HistogramSnapshot,
    /// Every transport used so far.
    pub transports: Vec<TransportTotals>,
    /// Commands refused by a rate limit (error 111 or disconnect 3013).
    pub rate_limited: u64,
}

impl EngineCounters {
    /// Copies every counter.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            commands: Method::ALL
                .iter()
                .map(|&method| (method, self.command(method)))
                .filter(|(_, s)| s.count > 0)
                .collect(),
            reply_errors: self.reply_errors(),
            server_disconnects: self.server_disconnects(),
            messages_sent: self.messages_sent.totals(),
            messages_received: self.messages_received.totals(),
            broker_publish: self.broker_publish.snapshot(),
            transports: self
                .transports()
                .iter()
                .map(|(name, c)| TransportTotals {
                    name,
                    connects: c.connects.load(Relaxed),
                    messages_sent: c.messages_sent.load(Relaxed),
                    bytes_sent: c.bytes_sent.load(Relaxed),
                    messages_received: c.messages_received.load(Relaxed),
                    bytes_received: c.bytes_received.load(Relaxed),
                })
                .collect(),
            rate_limited: self.rate_limited.load(Relaxed),
        }
    }
}

/// The node's broker event sink, counting what the broker delivers.
///
/// Like [`MeteredBroker`], it must forward every [`BrokerEvents`] method
/// explicitly, including those with a default body.
pub(crate) struct CountingEvents {
    pub(crate) inner: Arc<dyn BrokerEvents>,
    pub(crate) metrics: Arc<EngineCounters>,
}

impl BrokerEvents for CountingEvents {
    fn on_publication(&self, channel: &str, publication: Publication, position: StreamPosition) {
        self.metrics
            .messages_received
            .publication
            .fetch_add(1, Relaxed);
        self.inner.on_publication(channel, publication, position);
    }

    fn on_join(&self, channel: &str, info: ClientInfo) {
        self.metrics.messages_received.join.fetch_add(1, Relaxed);
        self.inner.on_join(channel, info);
    }

    fn on_leave(&self, channel: &str, info: ClientInfo) {
        self.metrics.messages_received.leave.fetch_add(1, Relaxed);
        self.inner.on_leave(channel, info);
    }

    // Forwarded explicitly: the trait's default would swallow the report.
    fn on_stream_interrupted(&self, channel: &str) {
        self.inner.on_stream_interrupted(channel);
    }

    fn on_control(&self, data: bytes::Bytes) {
        self.inner.on_control(data);
    }

    fn control_node(&self) -> Option<&str> {
        self.inner.control_node()
    }
}

/// The node's broker, counting what is sent to it and timing publishes.
///
/// Every [`Broker`] method must be forwarded here explicitly, including those
/// with a default body: a method added to the trait and not forwarded would
/// silently use the default instead of the real broker's implementation.
pub(crate) struct MeteredBroker {
    pub(crate) inner: Arc<dyn Broker>,
    pub(crate) metrics: Arc<EngineCounters>,
}

#[async_trait]
impl Broker for MeteredBroker {
    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        options: &PublishOptions,
    ) -> Result<PublishResult, BackendError> {
        let started = Instant::now();
        let result = self.inner.publish(channel, publication, options).await;
        self.metrics.broker_publish.observe(started.elapsed());
        self.metrics.messages_sent.publication.fetch_add(1, Relaxed);
        result
    }

    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        self.metrics.messages_sent.join.fetch_add(1, Relaxed);
        self.inner.publish_join(channel, info).await
    }

    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        self.metrics.messages_sent.leave.fetch_add(1, Relaxed);
        self.inner.publish_leave(channel, info).await
    }

    async fn subscribe(&self, channel: &str) -> Result<(), BackendError> {
        self.inner.subscribe(channel).await
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), BackendError> {
        self.inner.unsubscribe(channel).await
    }

    async fn history(
        &self,
        channel: &str,
        filter: HistoryFilter,
        meta_ttl: Duration,
    ) -> Result<HistoryResult, BackendError> {
        self.inner.history(channel, filter, meta_ttl).await
    }

    async fn remove_history(&self, channel: &str) -> Result<(), BackendError> {
        self.inner.remove_history(channel).await
    }

    async fn publish_control(
        &self,
        data: bytes::Bytes,
        node: Option<&str>,
    ) -> Result<(), BackendError> {
        self.inner.publish_control(data, node).await
    }

    async fn healthy(&self) -> bool {
        self.inner.healthy().await
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.cumulative[0], 1, "50µs is under the 100µs bound");
        assert_eq!(s.cumulative[5], 2, "3ms is under the 5ms bound");
        assert_eq!(*s.cumulative.last().unwrap(), 2, "20s is above every bound");
        assert!((s.sum_seconds - 20.00305).abs() < 1e-6);
    }

    #[test]
    fn exact_bound_falls_in_its_bucket() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_millis(1));
        assert_eq!(h.snapshot().cumulative[3], 1);
        assert_eq!(h.snapshot().cumulative[2], 0);
    }

    #[test]
    fn transports_are_shared_by_name() {
        let m = EngineCounters::default();
        m.transport("websocket").connects.fetch_add(1, Relaxed);
        m.transport("websocket").connects.fetch_add(1, Relaxed);
        let all = m.transports();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].1.connects.load(Relaxed), 2);
    }

    #[test]
    fn method_names_follow_centrifugo() {
        let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
        assert!(names.contains(&"presence_stats") && names.contains(&"sub_refresh"));
        assert_eq!(Method::ALL.len(), 12);
    }
}
