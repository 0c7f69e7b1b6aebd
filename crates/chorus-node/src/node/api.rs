//! Requests and results of the node's server-side API (what the HTTP and gRPC
//! APIs translate their messages into).

use crate::auth::SubscribeOverride;
use crate::broker::StreamPosition;
use bytes::Bytes;
use std::collections::BTreeMap;

/// A server-side subscription requested through the API.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerSubscribe {
    /// User whose connections subscribe.
    pub user: String,
    /// Channel.
    pub channel: String,
    /// Only this connection of the user.
    pub client: Option<String>,
    /// Expiry (Unix seconds).
    pub expire_at: Option<i64>,
    /// Channel info.
    pub info: Bytes,
    /// Data for the subscribe push.
    pub data: Bytes,
    /// Recover from this position.
    pub recover_since: Option<StreamPosition>,
    /// Option overrides.
    pub overrides: SubscribeOverride,
}

/// A server-side refresh of connections requested through the API.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerRefresh {
    /// User whose connections are refreshed.
    pub user: String,
    /// Only this connection.
    pub client: Option<String>,
    /// Expire the connection now (3005).
    pub expired: bool,
    /// New expiry (Unix seconds).
    pub expire_at: Option<i64>,
    /// New connection info.
    pub info: Option<Bytes>,
}

/// Options of an API publish.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ApiPublish {
    /// Do not keep in history.
    pub skip_history: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Delta candidate: subscribers that negotiated delta compression may get
    /// this publication as a delta against the previous one.
    pub delta: bool,
}

/// Statistics of one node, for the `info` API method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// Unique id of this node process.
    pub uid: String,
    /// Node name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Connections.
    pub num_clients: u32,
    /// Distinct users.
    pub num_users: u32,
    /// Channels with local subscribers.
    pub num_channels: u32,
    /// Subscriptions.
    pub num_subs: u32,
    /// Seconds since start.
    pub uptime: u32,
}
