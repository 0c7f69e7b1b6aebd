//! Conversions between the gRPC API messages (`grpc_proto::api`) and the
//! transport-neutral request and result types of the server API
//! (`api::types`), so that both transports run the same
//! [`ApiExecutor`](crate::api::ApiExecutor) method per call.
//!
//! Payloads cross unchanged: a gRPC `bytes` field becomes the same bytes in a
//! [`RawJson`] (which is only checked for JSON when the HTTP API encodes it),
//! and an empty `bytes` field means "absent", as a missing JSON field does.

use std::collections::BTreeMap;

use crate::api::types::{self as t, RawJson};
use crate::grpc_proto::api as pb;

fn position(p: pb::StreamPosition) -> t::ApiStreamPosition {
    t::ApiStreamPosition {
        offset: p.offset,
        epoch: p.epoch,
    }
}

fn sorted<V>(map: impl IntoIterator<Item = (String, V)>) -> BTreeMap<String, V> {
    map.into_iter().collect()
}

// ------------------------------------------------------------------ requests

impl From<pb::PublishRequest> for t::PublishRequest {
    fn from(r: pb::PublishRequest) -> Self {
        Self {
            channel: r.channel,
            data: RawJson(r.data),
            b64data: r.b64data,
            skip_history: r.skip_history,
            tags: sorted(r.tags),
            idempotency_key: r.idempotency_key,
            delta: r.delta,
            version: r.version,
            version_epoch: r.version_epoch,
        }
    }
}

impl From<pb::BroadcastRequest> for t::BroadcastRequest {
    fn from(r: pb::BroadcastRequest) -> Self {
        Self {
            channels: r.channels,
            data: RawJson(r.data),
            b64data: r.b64data,
            skip_history: r.skip_history,
            tags: sorted(r.tags),
            idempotency_key: r.idempotency_key,
            delta: r.delta,
            version: r.version,
            version_epoch: r.version_epoch,
        }
    }
}

impl From<pb::SubscribeOptionOverride> for t::SubscribeOptionOverride {
    fn from(o: pb::SubscribeOptionOverride) -> Self {
        let value = |v: Option<pb::BoolValue>| v.map(|v| t::ApiBoolValue { value: v.value });
        Self {
            presence: value(o.presence),
            join_leave: value(o.join_leave),
            force_recovery: value(o.force_recovery),
            force_positioning: value(o.force_positioning),
            force_push_join_leave: value(o.force_push_join_leave),
        }
    }
}

impl From<pb::SubscribeRequest> for t::SubscribeRequest {
    fn from(r: pb::SubscribeRequest) -> Self {
        Self {
            user: r.user,
            channel: r.channel,
            expire_at: r.expire_at,
            info: RawJson(r.info),
            b64info: r.b64info,
            client: r.client,
            session: r.session,
            data: RawJson(r.data),
            b64data: r.b64data,
            recover_since: r.recover_since.map(position),
            override_: r.r#override.map(Into::into),
        }
    }
}

impl From<pb::UnsubscribeRequest> for t::UnsubscribeRequest {
    fn from(r: pb::UnsubscribeRequest) -> Self {
        Self {
            user: r.user,
            channel: r.channel,
            client: r.client,
            session: r.session,
        }
    }
}

impl From<pb::DisconnectRequest> for t::DisconnectRequest {
    fn from(r: pb::DisconnectRequest) -> Self {
        Self {
            user: r.user,
            client: r.client,
            session: r.session,
            whitelist: r.whitelist,
            disconnect: r.disconnect.map(|d| t::DisconnectObject {
                code: d.code,
                reason: d.reason,
            }),
        }
    }
}

impl From<pb::RefreshRequest> for t::RefreshRequest {
    fn from(r: pb::RefreshRequest) -> Self {
        Self {
            user: r.user,
            client: r.client,
            session: r.session,
            expired: r.expired,
            expire_at: r.expire_at,
            info: (!r.info.is_empty()).then(|| RawJson(r.info)),
        }
    }
}

impl From<pb::PresenceRequest> for t::PresenceRequest {
    fn from(r: pb::PresenceRequest) -> Self {
        Self { channel: r.channel }
    }
}

impl From<pb::PresenceStatsRequest> for t::PresenceStatsRequest {
    fn from(r: pb::PresenceStatsRequest) -> Self {
        Self { channel: r.channel }
    }
}

impl From<pb::HistoryRequest> for t::HistoryRequest {
    fn from(r: pb::HistoryRequest) -> Self {
        Self {
            channel: r.channel,
            limit: r.limit,
            since: r.since.map(position),
            reverse: r.reverse,
        }
    }
}

impl From<pb::HistoryRemoveRequest> for t::HistoryRemoveRequest {
    fn from(r: pb::HistoryRemoveRequest) -> Self {
        Self { channel: r.channel }
    }
}

impl From<pb::ChannelsRequest> for t::ChannelsRequest {
    fn from(r: pb::ChannelsRequest) -> Self {
        Self { pattern: r.pattern }
    }
}

impl From<pb::ConnectionsRequest> for t::ConnectionsRequest {
    fn from(r: pb::ConnectionsRequest) -> Self {
        Self {
            user: r.user,
            expression: r.expression,
        }
    }
}

impl From<pb::InfoRequest> for t::InfoRequest {
    fn from(_: pb::InfoRequest) -> Self {
        Self {}
    }
}

impl From<pb::RpcRequest> for t::RpcRequest {
    fn from(r: pb::RpcRequest) -> Self {
        Self {
            method: r.method,
            params: RawJson(r.params),
        }
    }
}

impl From<pb::Command> for t::Command {
    fn from(c: pb::Command) -> Self {
        Self {
            publish: c.publish.map(Into::into),
            broadcast: c.broadcast.map(Into::into),
            subscribe: c.subscribe.map(Into::into),
            unsubscribe: c.unsubscribe.map(Into::into),
            disconnect: c.disconnect.map(Into::into),
            history: c.history.map(Into::into),
            history_remove: c.history_remove.map(Into::into),
            presence: c.presence.map(Into::into),
            presence_stats: c.presence_stats.map(Into::into),
            info: c.info.map(Into::into),
            rpc: c.rpc.map(Into::into),
            refresh: c.refresh.map(Into::into),
            channels: c.channels.map(Into::into),
        }
    }
}

impl From<pb::BatchRequest> for t::BatchRequest {
    fn from(r: pb::BatchRequest) -> Self {
        Self {
            commands: r.commands.into_iter().map(Into::into).collect(),
            parallel: r.parallel,
        }
    }
}

// ------------------------------------------------------------------- results

impl From<t::ErrorBody> for pb::Error {
    fn from(e: t::ErrorBody) -> Self {
        Self {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<t::ApiPublishResult> for pb::PublishResult {
    fn from(r: t::ApiPublishResult) -> Self {
        Self {
            offset: r.offset,
            epoch: r.epoch,
        }
    }
}

impl From<t::BroadcastResult> for pb::BroadcastResult {
    fn from(r: t::BroadcastResult) -> Self {
        Self {
            responses: r
                .responses
                .into_iter()
                .map(|r| pb::PublishResponse {
                    error: r.error.map(Into::into),
                    result: r.result.map(Into::into),
                })
                .collect(),
        }
    }
}

/// Result messages without fields.
macro_rules! empty_results {
    ($($name:ident),* $(,)?) => {
        $(
            impl From<t::$name> for pb::$name {
                fn from(_: t::$name) -> Self {
                    Self {}
                }
            }
        )*
    };
}

empty_results!(
    SubscribeResult,
    UnsubscribeResult,
    DisconnectResult,
    RefreshResult,
    HistoryRemoveResult,
);

impl From<t::ClientInfo> for pb::ClientInfo {
    fn from(c: t::ClientInfo) -> Self {
        Self {
            user: c.user,
            client: c.client,
            conn_info: c.conn_info.into_bytes(),
            chan_info: c.chan_info.into_bytes(),
        }
    }
}

impl From<t::PresenceResult> for pb::PresenceResult {
    fn from(r: t::PresenceResult) -> Self {
        Self {
            presence: r
                .presence
                .into_iter()
                .map(|(id, info)| (id, info.into()))
                .collect(),
        }
    }
}

impl From<t::PresenceStatsResult> for pb::PresenceStatsResult {
    fn from(r: t::PresenceStatsResult) -> Self {
        Self {
            num_clients: r.num_clients,
            num_users: r.num_users,
        }
    }
}

impl From<t::Publication> for pb::Publication {
    fn from(p: t::Publication) -> Self {
        Self {
            data: p.data.into_bytes(),
            info: p.info.map(Into::into),
            offset: p.offset,
            tags: p.tags.into_iter().collect(),
        }
    }
}

impl From<t::ApiHistoryResult> for pb::HistoryResult {
    fn from(r: t::ApiHistoryResult) -> Self {
        Self {
            publications: r.publications.into_iter().map(Into::into).collect(),
            epoch: r.epoch,
            offset: r.offset,
        }
    }
}

impl From<t::NodeResult> for pb::NodeResult {
    fn from(n: t::NodeResult) -> Self {
        Self {
            uid: n.uid,
            name: n.name,
            version: n.version,
            num_clients: n.num_clients,
            num_users: n.num_users,
            num_channels: n.num_channels,
            uptime: n.uptime,
            metrics: n.metrics.map(|m| pb::Metrics {
                interval: m.interval,
                items: m.items.into_iter().collect(),
            }),
            process: n.process.map(|p| pb::Process {
                cpu: p.cpu,
                rss: p.rss,
            }),
            num_subs: n.num_subs,
        }
    }
}

impl From<t::InfoResult> for pb::InfoResult {
    fn from(r: t::InfoResult) -> Self {
        Self {
            nodes: r.nodes.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<t::ConnectionsResult> for pb::ConnectionsResult {
    fn from(r: t::ConnectionsResult) -> Self {
        Self {
            connections: r
                .connections
                .into_iter()
                .map(|(id, c)| {
                    let info = pb::ConnectionInfo {
                        app_name: c.app_name,
                        app_version: c.app_version,
                        transport: c.transport,
                        protocol: c.protocol,
                        user: c.user,
                        channels: c.channels,
                    };
                    (id, info)
                })
                .collect(),
        }
    }
}

impl From<t::ChannelsResult> for pb::ChannelsResult {
    fn from(r: t::ChannelsResult) -> Self {
        Self {
            channels: r
                .channels
                .into_iter()
                .map(|(name, info)| {
                    let info = pb::ChannelInfo {
                        num_clients: info.num_clients,
                    };
                    (name, info)
                })
                .collect(),
        }
    }
}

impl From<t::RpcResult> for pb::RpcResult {
    fn from(r: t::RpcResult) -> Self {
        Self {
            data: r.data.into_bytes(),
        }
    }
}

impl From<t::Reply> for pb::Reply {
    fn from(r: t::Reply) -> Self {
        let mut out = Self::default();
        match r {
            t::Reply::Error(e) => out.error = Some(e.into()),
            t::Reply::Publish(r) => out.publish = Some(r.into()),
            t::Reply::Broadcast(r) => out.broadcast = Some(r.into()),
            t::Reply::Subscribe(r) => out.subscribe = Some(r.into()),
            t::Reply::Unsubscribe(r) => out.unsubscribe = Some(r.into()),
            t::Reply::Disconnect(r) => out.disconnect = Some(r.into()),
            t::Reply::History(r) => out.history = Some(r.into()),
            t::Reply::HistoryRemove(r) => out.history_remove = Some(r.into()),
            t::Reply::Presence(r) => out.presence = Some(r.into()),
            t::Reply::PresenceStats(r) => out.presence_stats = Some(r.into()),
            t::Reply::Info(r) => out.info = Some(r.into()),
            t::Reply::Rpc(r) => out.rpc = Some(r.into()),
            t::Reply::Refresh(r) => out.refresh = Some(r.into()),
            t::Reply::Channels(r) => out.channels = Some(r.into()),
        }
        out
    }
}

impl From<t::BatchResult> for pb::BatchResponse {
    fn from(r: t::BatchResult) -> Self {
        Self {
            replies: r.replies.into_iter().map(Into::into).collect(),
        }
    }
}
