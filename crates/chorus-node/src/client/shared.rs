//! The part of a client other tasks may touch: its identity and outbound queue,
//! and a control channel into its own task.

use crate::error::Disconnect;
use crate::outbound::{Outbound, Pushed};
use bytes::Bytes;
use chorus_protocol::Protocol;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// A request from elsewhere in the node (server API, shutdown) that the client's
/// own task carries out, so that its subscription state has a single owner.
#[derive(Debug)]
pub(crate) enum Control {
    Disconnect(Disconnect),
    Subscribe(crate::node::ServerSubscribe),
    Unsubscribe(String),
    Refresh(crate::node::ServerRefresh),
}

#[derive(Debug)]
pub(crate) struct ClientShared {
    pub(crate) id: Arc<str>,
    pub(crate) protocol: Protocol,
    pub(crate) transport: &'static str,
    pub(crate) outbound: Outbound,
    // Set once when `connect` succeeds.
    pub(crate) user: OnceLock<Arc<str>>,
    // Unbounded on purpose: control messages are rare, API-driven, and each is
    // tiny; the sender must never block an API call on a busy client.
    pub(crate) control: mpsc::UnboundedSender<Control>,
}

impl ClientShared {
    pub(crate) fn user(&self) -> &str {
        self.user.get().map_or("", |u| u)
    }

    /// Queues an encoded message; overflow closes the client as slow (3008).
    pub(crate) fn push(&self, msg: Bytes) {
        if self.outbound.push(msg) == Pushed::Overflow {
            tracing::info!(client = %self.id, user = self.user(), code = 3008, "disconnecting slow client: queue full");
        }
    }

    pub(crate) fn disconnect(&self, disconnect: Disconnect) {
        let _ = self.control.send(Control::Disconnect(disconnect));
    }
}
