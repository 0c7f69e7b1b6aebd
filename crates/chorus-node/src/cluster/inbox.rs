//! [`Inbox`]: the node's broker event sink, taking control messages and
//! passing everything else on.

use super::Cluster;
use super::wire;
use crate::broker::{BrokerEvents, StreamPosition};
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Publication};
use std::sync::Arc;

/// Wraps the node's event sink (counting, then the channel registry) and handles control
/// messages itself.
///
/// Like the counting wrappers, it forwards every [`BrokerEvents`] method
/// explicitly: a default body would silently swallow the event.
pub(crate) struct Inbox {
    pub(crate) inner: Arc<dyn BrokerEvents>,
    pub(crate) cluster: Arc<Cluster>,
}

impl BrokerEvents for Inbox {
    fn on_publication(&self, channel: &str, publication: Publication, position: StreamPosition) {
        self.inner.on_publication(channel, publication, position);
    }

    fn on_join(&self, channel: &str, info: ClientInfo) {
        self.inner.on_join(channel, info);
    }

    fn on_leave(&self, channel: &str, info: ClientInfo) {
        self.inner.on_leave(channel, info);
    }

    fn on_stream_interrupted(&self, channel: &str) {
        self.inner.on_stream_interrupted(channel);
    }

    fn on_control(&self, data: Bytes) {
        let (envelope, body) = match wire::decode(&data) {
            Ok(decoded) => decoded,
            Err(e) => {
                tracing::warn!(error = %e, "control message dropped");
                return;
            }
        };
        if envelope.from == self.cluster.uid {
            return; // Our own broadcast, echoed by the broker.
        }
        let Some(node) = self.cluster.node() else {
            return; // The node is gone (shutting down).
        };
        node.apply(envelope.from, envelope.command, body);
    }

    fn control_node(&self) -> Option<&str> {
        Some(&self.cluster.uid)
    }
}
