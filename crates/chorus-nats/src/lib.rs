//! # chorus-nats
//!
//! [`NatsBroker`]: an at-most-once PUB/SUB broker between Chorus nodes over
//! NATS, like Centrifugo's `broker.type: nats`. Subjects are
//! `<prefix>.client.<channel>`; each message is a protobuf `Push` carrying the
//! publication, join or leave (and its channel, so wildcard characters in
//! channel names cannot leak messages of one channel into another).
//!
//! There is **no history**: publish options about history are ignored (the
//! server refuses to start with a NATS broker and a namespace that needs
//! history, recovery or positioning), [`Broker::history`](chorus_node::Broker::history) and
//! [`Broker::remove_history`](chorus_node::Broker::remove_history) return [`BackendError::NotAvailable`](chorus_node::BackendError::NotAvailable) (client
//! error 108), and idempotency keys are not deduplicated. Presence is separate:
//! combine with a Redis presence manager for a cluster.
//!
//! The connection is made on first use and then kept by the NATS client, which
//! reconnects and resubscribes by itself. A publish while NATS is unreachable
//! fails (API error 100) instead of being buffered: it is flushed to the server
//! within the write timeout or reported as failed.

mod broker;

pub use broker::{NatsBroker, NatsConfig};
