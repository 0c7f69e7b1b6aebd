//! The nodes page's figures: the `info` numbers plus process CPU and memory and
//! the message counters (the page turns counters into per-second rates), and
//! the other nodes of the cluster as their heartbeats describe them.

use chorus_node::Node;
use serde::Serialize;

/// The `info` figures of one node.
#[derive(Debug, Serialize)]
pub(super) struct Figures {
    uid: String,
    name: String,
    version: String,
    uptime: u32,
    num_clients: u32,
    num_users: u32,
    num_subs: u32,
    num_channels: u32,
}

impl From<chorus_node::NodeInfo> for Figures {
    fn from(n: chorus_node::NodeInfo) -> Self {
        Self {
            uid: n.uid,
            name: n.name,
            version: n.version,
            uptime: n.uptime,
            num_clients: n.num_clients,
            num_users: n.num_users,
            num_subs: n.num_subs,
            num_channels: n.num_channels,
        }
    }
}

/// This node's live figures.
#[derive(Debug, Serialize)]
pub(super) struct NodeStats {
    #[serde(flatten)]
    figures: Figures,
    /// CPU seconds used so far (user + system); `null` without `/proc`.
    cpu_seconds: Option<f64>,
    /// Resident memory in bytes; `null` without `/proc`.
    rss_bytes: Option<u64>,
    /// Messages received from clients (frames), all transports.
    messages_in: u64,
    /// Messages sent to clients, all transports.
    messages_out: u64,
    /// Publications sent to the broker.
    publications: u64,
    /// The other nodes of the cluster, with the figures of their last
    /// heartbeat (process and rate figures are this node's only).
    others: Vec<Figures>,
}

pub(super) fn node_stats(node: &Node) -> NodeStats {
    let info = node.info();
    let process = crate::metrics::process_stats();
    let metrics = node.metrics();
    let (messages_in, messages_out) = metrics.transports.iter().fold((0, 0), |(i, o), t| {
        (i + t.messages_received, o + t.messages_sent)
    });
    NodeStats {
        figures: info.into(),
        cpu_seconds: process.map(|p| p.cpu_seconds),
        rss_bytes: process.map(|p| p.rss_bytes),
        messages_in,
        messages_out,
        publications: metrics.messages_sent.publication,
        others: node
            .nodes()
            .into_iter()
            .skip(1) // This node comes first.
            .map(Into::into)
            .collect(),
    }
}
