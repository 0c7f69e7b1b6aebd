//! The part of a client other tasks may touch: its identity and outbound queue,
//! and a control channel into its own task.

use crate::error::Disconnect;
use crate::queue::{ClientQueue, Pushed};
use bytes::Bytes;
use chorus_protocol::{Protocol, Reply};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tokio::sync::Notify;

/// A request from elsewhere in the node (server API, shutdown) that the client's
/// own task carries out, so that its subscription state has a single owner.
#[derive(Debug)]
pub(crate) enum Control {
    Disconnect(Disconnect),
    Subscribe(Box<crate::node::ServerSubscribe>),
    Unsubscribe(String),
    Refresh(Box<crate::node::ServerRefresh>),
    /// A positioned subscription saw a gap or another epoch (spec §7).
    InsufficientState(String),
}

/// Control messages for one client. A plain queue rather than a channel: it
/// allocates nothing until the first message, which keeps idle connections small
/// (control messages are rare: API calls and shutdown).
#[derive(Debug, Default)]
pub(crate) struct ControlQueue {
    items: Mutex<VecDeque<Control>>,
    wake: Notify,
}

impl ControlQueue {
    pub(crate) fn send(&self, control: Control) {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(control);
        self.wake.notify_one();
    }

    /// The next control message. Cancel-safe: nothing is lost if dropped.
    pub(crate) async fn recv(&self) -> Control {
        loop {
            if let Some(c) = self
                .items
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
            {
                return c;
            }
            self.wake.notified().await;
        }
    }
}

#[derive(Debug)]
pub(crate) struct ClientShared {
    pub(crate) id: Arc<str>,
    pub(crate) protocol: Protocol,
    pub(crate) transport: &'static str,
    // Unidirectional transport: pushes go out bare, not wrapped in a reply.
    pub(crate) unidirectional: bool,
    pub(crate) outbound: ClientQueue,
    // Set once when `connect` succeeds.
    pub(crate) user: OnceLock<Arc<str>>,
    // Set once when `connect` succeeds: the client's (name, version), as sent
    // in its connect command (for the `connections` API).
    pub(crate) app: OnceLock<(String, String)>,
    // Unbounded on purpose: control messages are rare and API-driven; the sender
    // must never block an API call on a busy client.
    pub(crate) control: ControlQueue,
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

    /// Encodes and queues a reply (on unidirectional transports its bare-push
    /// form, see [`super::uni::uni_push`]). A payload this protocol cannot carry
    /// (non-JSON bytes for a JSON client) is refused with 3506.
    pub(crate) fn send(&self, reply: &Reply) -> Result<(), Disconnect> {
        let encoded = if self.unidirectional {
            match super::uni::uni_push(reply)? {
                Some(push) => chorus_protocol::encode(self.protocol, &push),
                None => return Ok(()),
            }
        } else {
            chorus_protocol::encode(self.protocol, reply)
        };
        match encoded {
            Ok(bytes) => {
                self.push(bytes);
                Ok(())
            }
            Err(_) => Err(Disconnect::INAPPROPRIATE_PROTOCOL),
        }
    }

    pub(crate) fn disconnect(&self, disconnect: Disconnect) {
        self.control.send(Control::Disconnect(disconnect));
    }
}
