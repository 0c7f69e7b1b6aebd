//! The broker: PUB/SUB between nodes plus the per-channel publication stream
//! (history) that recovery is built on.

use crate::error::BackendError;
use async_trait::async_trait;
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Publication};
use std::time::Duration;

/// A position in a channel's stream.
///
/// `offset` grows by one per publication kept in history (the first is 1).
/// `epoch` names one incarnation of the stream: if the stream is lost (memory
/// engine restarted, Redis keys evicted) it gets a new epoch and old offsets mean
/// nothing. Recovery compares both: same epoch and contiguous offsets, or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamPosition {
    /// Offset of the last publication in the stream.
    pub offset: u64,
    /// The stream's epoch.
    pub epoch: String,
}

/// How a broker stores one publication: the channel's history settings and the
/// publish's idempotency key. The publication itself arrives complete (data,
/// publisher info, tags, delta flag, time); the broker sets only its offset.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PublishOptions {
    /// Keep at most this many publications in history (0: no history).
    pub history_size: usize,
    /// Drop publications older than this from history.
    pub history_ttl: Duration,
    /// Keep the stream's meta (epoch, top offset) this long after the last publish.
    pub history_meta_ttl: Duration,
    /// Publish without appending to history even when the channel has it.
    pub skip_history: bool,
    /// Results of a publish with the same key in the same channel are reused for a
    /// while (about 5 minutes) instead of publishing again.
    pub idempotency_key: Option<String>,
}

/// What a publish produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishResult {
    /// The publication's position (offset 0 and empty epoch when not in history).
    pub position: StreamPosition,
    /// Whether this was a repeated idempotent publish whose first result is reused.
    pub suppressed: bool,
}

/// Which part of a stream to read.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Start after this position (exclusive); `None` reads from the oldest kept.
    pub since: Option<StreamPosition>,
    /// At most this many publications; 0 returns none (only the top position);
    /// negative means "all" (callers cap it).
    pub limit: i32,
    /// Newest first.
    pub reverse: bool,
}

/// Publications read from a stream, and the stream's current top.
#[derive(Debug, Clone, Default)]
pub struct HistoryResult {
    /// The publications, each with its `offset` set.
    pub publications: Vec<Publication>,
    /// The current top of the stream.
    pub position: StreamPosition,
}

/// How a broker delivers to the node that owns it.
///
/// Passed to the broker when it is built, so a broker can never run without a
/// destination (no two-phase initialisation).
// A method added here (or to `Broker`) must also be forwarded by the node's
// counting wrappers in `metrics.rs`, or a default body would silently replace it.
pub trait BrokerEvents: Send + Sync + 'static {
    /// A publication arrived for a channel this node subscribed to. Called in
    /// publish order per channel.
    ///
    /// `publication.delta` carries the publisher's delta-candidate flag
    /// unchanged (a broker must transport it); publications returned by
    /// [`Broker::history`] always have `delta: false`.
    fn on_publication(&self, channel: &str, publication: Publication, position: StreamPosition);
    /// A client joined a channel.
    fn on_join(&self, channel: &str, info: ClientInfo);
    /// A client left a channel.
    fn on_leave(&self, channel: &str, info: ClientInfo);
    /// Publications of `channel` may have been lost between nodes: the broker's
    /// PUB/SUB connection went away and came back (the channel is subscribed
    /// again). Subscribers that track stream positions must not trust theirs:
    /// the node ends them with "insufficient state", so clients resubscribe and
    /// recover from history. Brokers that never lose delivery (the memory broker)
    /// never call it; the default does nothing, for sinks that track no positions.
    fn on_stream_interrupted(&self, channel: &str) {
        let _ = channel;
    }
    /// A control message for this node arrived (sent with
    /// [`Broker::publish_control`] by any node, this one included: receivers
    /// ignore their own). Called from the broker's receive path: the sink must
    /// not block. Default: dropped, for sinks that are no node.
    fn on_control(&self, data: Bytes) {
        let _ = data;
    }
    /// The id of the node whose control messages this sink takes, or `None`
    /// (the default) when it takes none. A networked broker reads it once, when
    /// it is built, and then receives both the control messages sent to every
    /// node and those addressed to this id.
    fn control_node(&self) -> Option<&str> {
        None
    }
}

/// PUB/SUB and history.
///
/// # Contract
/// * `publish` delivers **at most once** to every node subscribed to the channel
///   (through [`BrokerEvents::on_publication`]), in the order publishes were made
///   for that channel.
/// * When the channel has history, appending to the stream and delivering happen
///   **atomically per channel**: a subscriber that reads history and then receives
///   live publications sees every offset exactly once, in order (duplicates are
///   possible only across that boundary and carry the same offset).
/// * `subscribe`/`unsubscribe` are node-level: the node calls `subscribe` when its
///   first local subscriber arrives and `unsubscribe` when the last one leaves.
///   Both are idempotent.
/// * `history` with `since` whose epoch differs from the stream's returns
///   [`BackendError::UnrecoverablePosition`].
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Publishes a complete publication to a channel; the broker assigns the
    /// offset (when the channel keeps history) and changes nothing else.
    async fn publish(
        &self,
        channel: &str,
        publication: Publication,
        options: &PublishOptions,
    ) -> Result<PublishResult, BackendError>;
    /// Announces a join to the channel's subscribers.
    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError>;
    /// Announces a leave to the channel's subscribers.
    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError>;
    /// Starts receiving a channel on this node.
    async fn subscribe(&self, channel: &str) -> Result<(), BackendError>;
    /// Stops receiving a channel on this node.
    async fn unsubscribe(&self, channel: &str) -> Result<(), BackendError>;
    /// Reads a channel's stream.
    async fn history(
        &self,
        channel: &str,
        filter: HistoryFilter,
        meta_ttl: Duration,
    ) -> Result<HistoryResult, BackendError>;
    /// Removes a channel's publications, keeping its epoch and top offset.
    async fn remove_history(&self, channel: &str) -> Result<(), BackendError>;
    /// Sends an opaque control message to every node (`node: None`) or to the
    /// node with that id, through the same servers as publications; receivers
    /// get it through [`BrokerEvents::on_control`]. At most once, and in order
    /// per sender. Node discovery, `info` over all nodes and API calls that must
    /// reach the node holding a connection are built on it.
    ///
    /// Default: `Ok(())` with nothing sent, right for in-process brokers, whose
    /// node is the only one.
    async fn publish_control(&self, data: Bytes, node: Option<&str>) -> Result<(), BackendError> {
        let _ = (data, node);
        Ok(())
    }
    /// Whether the broker can serve requests now (backs the server's `/health`,
    /// which answers 503 while this is `false`). Default: always `true`, right for
    /// in-process brokers; networked brokers report whether their backend is
    /// reachable. Must be cheap (health checks poll it) and must not block.
    async fn healthy(&self) -> bool {
        true
    }
    /// Releases the broker's resources (default: nothing to do).
    async fn shutdown(&self) {}
}
