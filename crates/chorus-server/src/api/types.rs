//! Request and result messages of the server API, with Centrifugo's JSON field
//! names (spec §8.3).
//!
//! Conventions (matching Centrifugo's `apiproto` JSON encoding):
//!
//! * Every request field is optional on the wire; an absent field or an
//!   explicit `null` takes the field's zero value (so `"data": null` is "no
//!   data", a 107 for `publish`).
//! * Payload fields (`data`, `info`, `params`, …) are embedded raw JSON
//!   ([`RawJson`]); `b64data` / `b64info` carry binary payloads as standard
//!   base64 instead.
//! * Zero values are omitted from results, except the fields Centrifugo always
//!   writes: `presence_stats` counts, the `history` triple
//!   (`publications`, `epoch`, `offset`), `presence.presence`,
//!   `channels.channels`, `ClientInfo.user`/`client` and the node counters of
//!   `info`.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use chorus_node::ApiError;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Error as _, Serialize, Serializer};
use serde_json::value::RawValue;

/// Deserializes `null` (or an absent field, with `#[serde(default)]`) as the
/// type's default value, like Go's `encoding/json` does.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// A payload embedded in a message as raw JSON (Centrifugo's `Raw`).
///
/// Deserializing captures the JSON text verbatim (so it is valid JSON by
/// construction); serializing writes the bytes verbatim after checking they are
/// valid JSON (bytes published through `b64data` may not be, and then encoding
/// the result fails, as it does in Centrifugo). Empty bytes mean "absent".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawJson(pub Bytes);

impl RawJson {
    /// Whether there is no payload.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The payload bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", String::from_utf8_lossy(&self.0))
    }
}

impl From<Bytes> for RawJson {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}

impl From<&'static str> for RawJson {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(Self(Bytes::from(String::from(Box::<str>::from(raw)))))
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(&self.0)
            .map_err(|_| S::Error::custom("payload is not UTF-8 JSON"))?;
        let raw: Box<RawValue> = serde_json::from_str(text)
            .map_err(|_| S::Error::custom("payload is not valid JSON"))?;
        raw.serialize(s)
    }
}

/// An API error as written on the wire: `{"code":N,"message":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// API error code (spec §8.2).
    #[serde(default, deserialize_with = "nullable")]
    pub code: u32,
    /// Error message.
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}

impl From<&ApiError> for ErrorBody {
    fn from(e: &ApiError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<ApiError> for ErrorBody {
    fn from(e: ApiError) -> Self {
        Self::from(&e)
    }
}

/// A position in a channel stream: `{"offset":N,"epoch":"…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StreamPosition {
    /// Offset.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero_u64"
    )]
    pub offset: u64,
    /// Epoch.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub epoch: String,
}

impl From<StreamPosition> for chorus_node::StreamPosition {
    fn from(p: StreamPosition) -> Self {
        Self {
            offset: p.offset,
            epoch: p.epoch,
        }
    }
}

macro_rules! request {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$fdoc])*
                #[serde(default, deserialize_with = "nullable")]
                pub $field: $ty,
            )*
        }
    };
}

request!(
    /// `publish`: publish data into a channel.
    PublishRequest {
        /// Channel (required).
        channel: String,
        /// Payload as raw JSON (required unless `b64data` is set).
        data: RawJson,
        /// Binary payload as standard base64; takes precedence over `data`.
        b64data: String,
        /// Do not keep the publication in history.
        skip_history: bool,
        /// Publication tags.
        tags: BTreeMap<String, String>,
        /// Repeated publishes with the same key (within ~5 minutes) are not published again.
        idempotency_key: String,
        /// Delta compression hint (accepted, not used by this server).
        delta: bool,
        /// Publication version (accepted, not used by this server).
        version: u64,
        /// Publication version epoch (accepted, not used by this server).
        version_epoch: String,
    }
);

request!(
    /// `broadcast`: publish the same data into many channels.
    BroadcastRequest {
        /// Channels (required, non-empty).
        channels: Vec<String>,
        /// Payload as raw JSON (required unless `b64data` is set).
        data: RawJson,
        /// Binary payload as standard base64; takes precedence over `data`.
        b64data: String,
        /// Do not keep the publications in history.
        skip_history: bool,
        /// Publication tags.
        tags: BTreeMap<String, String>,
        /// Idempotency key, applied per channel.
        idempotency_key: String,
        /// Delta compression hint (accepted, not used by this server).
        delta: bool,
        /// Publication version (accepted, not used by this server).
        version: u64,
        /// Publication version epoch (accepted, not used by this server).
        version_epoch: String,
    }
);

/// A boolean override: `{"value": true}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoolValue {
    /// The value.
    #[serde(default, deserialize_with = "nullable")]
    pub value: bool,
}

request!(
    /// Channel option overrides of a server-side subscription.
    SubscribeOptionOverride {
        /// Override `presence`.
        presence: Option<BoolValue>,
        /// Override `join_leave`.
        join_leave: Option<BoolValue>,
        /// Override `force_recovery`.
        force_recovery: Option<BoolValue>,
        /// Override `force_positioning`.
        force_positioning: Option<BoolValue>,
        /// Override `force_push_join_leave`.
        force_push_join_leave: Option<BoolValue>,
    }
);

/// `subscribe`: subscribe a user's connections to a channel (server-side).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct SubscribeRequest {
    /// User whose connections subscribe.
    #[serde(default, deserialize_with = "nullable")]
    pub user: String,
    /// Channel (required).
    #[serde(default, deserialize_with = "nullable")]
    pub channel: String,
    /// Subscription expiry, Unix seconds (0: none).
    #[serde(default, deserialize_with = "nullable")]
    pub expire_at: i64,
    /// Channel info as raw JSON.
    #[serde(default, deserialize_with = "nullable")]
    pub info: RawJson,
    /// Channel info as base64; takes precedence over `info`.
    #[serde(default, deserialize_with = "nullable")]
    pub b64info: String,
    /// Only this connection of the user.
    #[serde(default, deserialize_with = "nullable")]
    pub client: String,
    /// Only this session (accepted; sessions are not tracked by this server).
    #[serde(default, deserialize_with = "nullable")]
    pub session: String,
    /// Data for the subscribe push, raw JSON.
    #[serde(default, deserialize_with = "nullable")]
    pub data: RawJson,
    /// Data as base64; takes precedence over `data`.
    #[serde(default, deserialize_with = "nullable")]
    pub b64data: String,
    /// Recover from this position.
    #[serde(default, deserialize_with = "nullable")]
    pub recover_since: Option<StreamPosition>,
    /// Channel option overrides.
    #[serde(default, deserialize_with = "nullable", rename = "override")]
    pub override_: Option<SubscribeOptionOverride>,
}

request!(
    /// `unsubscribe`: unsubscribe a user's connections from a channel.
    UnsubscribeRequest {
        /// User.
        user: String,
        /// Channel (required).
        channel: String,
        /// Only this connection.
        client: String,
        /// Only this session (accepted; sessions are not tracked by this server).
        session: String,
    }
);

request!(
    /// A disconnect code and reason: `{"code":4000,"reason":"…"}`.
    DisconnectObject {
        /// Code (applications use 4000–4999).
        code: u32,
        /// Reason.
        reason: String,
    }
);

request!(
    /// `disconnect`: disconnect a user's connections.
    DisconnectRequest {
        /// User.
        user: String,
        /// Only this connection.
        client: String,
        /// Only this session (accepted; sessions are not tracked by this server).
        session: String,
        /// Connections (client ids) to keep.
        whitelist: Vec<String>,
        /// Code and reason; default 3503 "force disconnect".
        disconnect: Option<DisconnectObject>,
    }
);

request!(
    /// `refresh`: refresh a user's connections (expiry, info).
    RefreshRequest {
        /// User.
        user: String,
        /// Only this connection.
        client: String,
        /// Only this session (accepted; sessions are not tracked by this server).
        session: String,
        /// Expire the connections now.
        expired: bool,
        /// New expiry, Unix seconds (0: unchanged).
        expire_at: i64,
        /// New connection info, raw JSON.
        info: Option<RawJson>,
    }
);

request!(
    /// `presence`: who is in a channel.
    PresenceRequest {
        /// Channel (required).
        channel: String,
    }
);

request!(
    /// `presence_stats`: client and user counts of a channel.
    PresenceStatsRequest {
        /// Channel (required).
        channel: String,
    }
);

request!(
    /// `history`: read a channel's publication stream.
    HistoryRequest {
        /// Channel (required).
        channel: String,
        /// At most this many publications; 0 returns only the stream position,
        /// a negative value returns everything kept.
        limit: i32,
        /// Start after this position.
        since: Option<StreamPosition>,
        /// Newest first.
        reverse: bool,
    }
);

request!(
    /// `history_remove`: drop a channel's publications (the stream position is kept).
    HistoryRemoveRequest {
        /// Channel (required).
        channel: String,
    }
);

request!(
    /// `channels`: active channels, optionally filtered by a glob pattern.
    ChannelsRequest {
        /// Pattern (`*` any run, `?` one character); empty: all.
        pattern: String,
    }
);

request!(
    /// `info`: node statistics.
    InfoRequest {}
);

request!(
    /// `rpc`: call a server-side RPC extension.
    RpcRequest {
        /// Method (required).
        method: String,
        /// Parameters, raw JSON.
        params: RawJson,
    }
);

request!(
    /// One command of a `batch`: exactly one field is expected to be set; the
    /// first set one (in this field order) is executed, none set → 104.
    Command {
        /// `publish`.
        publish: Option<PublishRequest>,
        /// `broadcast`.
        broadcast: Option<BroadcastRequest>,
        /// `subscribe`.
        subscribe: Option<SubscribeRequest>,
        /// `unsubscribe`.
        unsubscribe: Option<UnsubscribeRequest>,
        /// `disconnect`.
        disconnect: Option<DisconnectRequest>,
        /// `history`.
        history: Option<HistoryRequest>,
        /// `history_remove`.
        history_remove: Option<HistoryRemoveRequest>,
        /// `presence`.
        presence: Option<PresenceRequest>,
        /// `presence_stats`.
        presence_stats: Option<PresenceStatsRequest>,
        /// `info`.
        info: Option<InfoRequest>,
        /// `rpc`.
        rpc: Option<RpcRequest>,
        /// `refresh`.
        refresh: Option<RefreshRequest>,
        /// `channels`.
        channels: Option<ChannelsRequest>,
    }
);

request!(
    /// `batch`: many commands in one request.
    BatchRequest {
        /// Commands.
        commands: Vec<Command>,
        /// Run the commands concurrently (replies keep the command order).
        parallel: bool,
    }
);

/// `publish` result: the publication's stream position (both fields omitted
/// when the channel keeps no history).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishResult {
    /// Offset.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub offset: u64,
    /// Epoch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub epoch: String,
}

impl From<chorus_node::StreamPosition> for PublishResult {
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
    pub result: Option<PublishResult>,
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
pub struct HistoryResult {
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
pub struct Metrics {
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
    pub metrics: Option<Metrics>,
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
    Publish(PublishResult),
    /// `broadcast` result.
    Broadcast(BroadcastResult),
    /// `subscribe` result.
    Subscribe(SubscribeResult),
    /// `unsubscribe` result.
    Unsubscribe(UnsubscribeResult),
    /// `disconnect` result.
    Disconnect(DisconnectResult),
    /// `history` result.
    History(HistoryResult),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_roundtrip_and_null_fields() {
        let req: PublishRequest = serde_json::from_str(
            r#"{"channel":"c","data":{"a": [1, 2]},"tags":null,"skip_history":null}"#,
        )
        .unwrap();
        assert_eq!(&req.data.0[..], br#"{"a": [1, 2]}"#);
        assert!(req.tags.is_empty());
        let null: PublishRequest = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert!(null.data.is_empty());
        assert!(
            serde_json::from_str::<PublishRequest>("[]").is_ok(),
            "decode() rejects it"
        );
        let absent: PublishRequest = serde_json::from_str("{}").unwrap();
        assert!(absent.data.is_empty());
    }

    #[test]
    fn results_keep_always_present_fields() {
        let h = serde_json::to_string(&HistoryResult::default()).unwrap();
        assert_eq!(h, r#"{"publications":[],"epoch":"","offset":0}"#);
        let p = serde_json::to_string(&PresenceStatsResult::default()).unwrap();
        assert_eq!(p, r#"{"num_clients":0,"num_users":0}"#);
        assert_eq!(
            serde_json::to_string(&PublishResult::default()).unwrap(),
            "{}"
        );
        let reply = serde_json::to_string(&Reply::Subscribe(SubscribeResult {})).unwrap();
        assert_eq!(reply, r#"{"subscribe":{}}"#);
        let bad = Publication {
            data: RawJson(Bytes::from_static(b"\x00\x01")),
            ..Publication::default()
        };
        assert!(serde_json::to_string(&bad).is_err());
    }
}
