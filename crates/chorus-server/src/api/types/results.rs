//! Result messages of the server API, and the replies of a `batch`.

use std::collections::BTreeMap;

use super::{ErrorBody, RawJson, is_zero_u32, is_zero_u64};

/// `publish` result: the publication's stream position (both fields omitted
/// when the channel keeps no history).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiPublishResult {
    /// Offset.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub offset: u64,
    /// Epoch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub epoch: String,
}

impl From<chorus_node::StreamPosition> for ApiPublishResult {
    fn from(p: chorus_node::StreamPosition) -> Self {
        Self {
            offset: p.offset,
            epoch: p.epoch,
        }
    }
}

/// The outcome of one channel of a `broadcast`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishResponse {
    /// The error, if publishing into this channel failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The result otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ApiPublishResult>,
}

/// `broadcast` result: one response per channel, in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BroadcastResult {
    /// Responses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<PublishResponse>,
}

macro_rules! empty_result {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
            pub struct $name {}
        )*
    };
}

empty_result!(
    /// `subscribe` result (`{}`).
    SubscribeResult,
    /// `unsubscribe` result (`{}`).
    UnsubscribeResult,
    /// `disconnect` result (`{}`).
    DisconnectResult,
    /// `refresh` result (`{}`).
    RefreshResult,
    /// `history_remove` result (`{}`).
    HistoryRemoveResult,
);

/// A connection as seen in presence and publications.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientInfo {
    /// User id (always written).
    #[serde(default)]
    pub user: String,
    /// Client id (always written).
    #[serde(default)]
    pub client: String,
    /// Connection info, raw JSON.
    #[serde(default, skip_serializing_if = "RawJson::is_empty")]
    pub conn_info: RawJson,
    /// Channel info, raw JSON.
    #[serde(default, skip_serializing_if = "RawJson::is_empty")]
    pub chan_info: RawJson,
}

impl From<chorus_protocol::ClientInfo> for ClientInfo {
    fn from(c: chorus_protocol::ClientInfo) -> Self {
        Self {
            user: c.user,
            client: c.client,
            conn_info: RawJson(c.conn_info),
            chan_info: RawJson(c.chan_info),
        }
    }
}

/// `presence` result: everyone present, by client id (always written).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresenceResult {
    /// Presence by client id.
    #[serde(default)]
    pub presence: BTreeMap<String, ClientInfo>,
}

/// `presence_stats` result (both counts always written).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PresenceStatsResult {
    /// Connections.
    #[serde(default)]
    pub num_clients: u32,
    /// Distinct users.
    #[serde(default)]
    pub num_users: u32,
}

/// A publication in a `history` result.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Publication {
    /// Payload, raw JSON.
    #[serde(default, skip_serializing_if = "RawJson::is_empty")]
    pub data: RawJson,
    /// Publisher (client-side publications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<ClientInfo>,
    /// Offset in the stream.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub offset: u64,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl From<chorus_protocol::Publication> for Publication {
    fn from(p: chorus_protocol::Publication) -> Self {
        Self {
            data: RawJson(p.data),
            info: p.info.map(ClientInfo::from),
            offset: p.offset,
            tags: p.tags.into_iter().collect(),
        }
    }
}

/// `history` result (all three fields always written; `publications` is `[]`
/// when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiHistoryResult {
    /// Publications.
    #[serde(default)]
    pub publications: Vec<Publication>,
    /// Stream epoch.
    #[serde(default)]
    pub epoch: String,
    /// Stream top offset.
    #[serde(default)]
    pub offset: u64,
}

/// Aggregated node metrics in `info`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiMetrics {
    /// Aggregation interval, seconds.
    #[serde(default)]
    pub interval: f64,
    /// Metric values by name.
    #[serde(default)]
    pub items: BTreeMap<String, f64>,
}

/// Process statistics in `info`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Process {
    /// CPU usage, percent.
    #[serde(default)]
    pub cpu: f64,
    /// Resident set size, bytes.
    #[serde(default)]
    pub rss: i64,
}

/// One node in an `info` result.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeResult {
    /// Unique id of the node process.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Node name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Server version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Connections.
    #[serde(default)]
    pub num_clients: u32,
    /// Distinct users.
    #[serde(default)]
    pub num_users: u32,
    /// Channels with subscribers.
    #[serde(default)]
    pub num_channels: u32,
    /// Seconds since start.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub uptime: u32,
    /// Aggregated metrics, when collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<ApiMetrics>,
    /// Process statistics, when collected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    /// Subscriptions.
    #[serde(default)]
    pub num_subs: u32,
}

impl From<chorus_node::NodeInfo> for NodeResult {
    fn from(n: chorus_node::NodeInfo) -> Self {
        Self {
            uid: n.uid,
            name: n.name,
            version: n.version,
            num_clients: n.num_clients,
            num_users: n.num_users,
            num_channels: n.num_channels,
            uptime: n.uptime,
            metrics: None,
            process: None,
            num_subs: n.num_subs,
        }
    }
}

/// `info` result.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InfoResult {
    /// Nodes (this server reports itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeResult>,
}

/// One channel in a `channels` result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelInfo {
    /// Subscribers.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub num_clients: u32,
}

/// `channels` result (the map is always written).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelsResult {
    /// Channels by name.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelInfo>,
}

/// One connection in a `connections` result.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiConnectionInfo {
    /// Client name from the connect command.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_name: String,
    /// Client version from the connect command.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    /// Transport (`websocket`, `sse`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transport: String,
    /// `json` or `protobuf`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// User id (empty: anonymous).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Subscribed channels, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

impl From<chorus_node::ConnectionInfo> for ApiConnectionInfo {
    fn from(c: chorus_node::ConnectionInfo) -> Self {
        Self {
            app_name: c.app_name,
            app_version: c.app_version,
            transport: c.transport,
            protocol: c.protocol,
            user: c.user,
            channels: c.channels,
        }
    }
}

/// `connections` result (the map is always written).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionsResult {
    /// Connections by client id.
    #[serde(default)]
    pub connections: BTreeMap<String, ApiConnectionInfo>,
}

/// `rpc` result.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RpcResult {
    /// Data returned by the extension, raw JSON.
    #[serde(default, skip_serializing_if = "RawJson::is_empty")]
    pub data: RawJson,
}

/// One reply of a `batch`: `{"<method>": result}` or `{"error": {…}}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reply {
    /// The command failed.
    Error(ErrorBody),
    /// `publish` result.
    Publish(ApiPublishResult),
    /// `broadcast` result.
    Broadcast(BroadcastResult),
    /// `subscribe` result.
    Subscribe(SubscribeResult),
    /// `unsubscribe` result.
    Unsubscribe(UnsubscribeResult),
    /// `disconnect` result.
    Disconnect(DisconnectResult),
    /// `history` result.
    History(ApiHistoryResult),
    /// `history_remove` result.
    HistoryRemove(HistoryRemoveResult),
    /// `presence` result.
    Presence(PresenceResult),
    /// `presence_stats` result.
    PresenceStats(PresenceStatsResult),
    /// `info` result.
    Info(InfoResult),
    /// `rpc` result.
    Rpc(RpcResult),
    /// `refresh` result.
    Refresh(RefreshResult),
    /// `channels` result.
    Channels(ChannelsResult),
}

/// `batch` result: one reply per command, in command order. Written at the top
/// level of the HTTP response (not inside `result`), as Centrifugo does.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchResult {
    /// Replies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<Reply>,
}
