//! Request messages of the server API (one struct per method).

use std::collections::BTreeMap;

use super::{ApiStreamPosition, RawJson, nullable};

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
        /// Delta candidate: subscribers that negotiated Fossil delta compression
        /// may receive this publication as a delta against the previous one.
        delta: bool,
        /// Publication version: refused with 107 when set (not supported yet).
        version: u64,
        /// Publication version epoch: refused with 107 when set (not supported yet).
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
        /// Delta candidate: subscribers that negotiated Fossil delta compression
        /// may receive this publication as a delta against the previous one.
        delta: bool,
        /// Publication version: refused with 107 when set (not supported yet).
        version: u64,
        /// Publication version epoch: refused with 107 when set (not supported yet).
        version_epoch: String,
    }
);

/// A boolean override: `{"value": true}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiBoolValue {
    /// The value.
    #[serde(default, deserialize_with = "nullable")]
    pub value: bool,
}

request!(
    /// Channel option overrides of a server-side subscription.
    SubscribeOptionOverride {
        /// Override `presence`.
        presence: Option<ApiBoolValue>,
        /// Override `join_leave`.
        join_leave: Option<ApiBoolValue>,
        /// Override `force_recovery`.
        force_recovery: Option<ApiBoolValue>,
        /// Override `force_positioning`.
        force_positioning: Option<ApiBoolValue>,
        /// Override `force_push_join_leave`.
        force_push_join_leave: Option<ApiBoolValue>,
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
    pub recover_since: Option<ApiStreamPosition>,
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
        since: Option<ApiStreamPosition>,
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
    /// `connections`: connections on this node (as Centrifugo PRO).
    ConnectionsRequest {
        /// Only this user's connections; empty: every user.
        user: String,
        /// A CEL filter in Centrifugo PRO; not supported (non-empty → 107).
        expression: String,
    }
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
