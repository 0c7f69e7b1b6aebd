//! The transport-neutral executor of the server API: one async method per API
//! method, typed requests in, typed results or [`ApiError`] out. The HTTP API
//! (and later the gRPC API) only decode, call and encode.
//!
//! Validation follows Centrifugo's executor: a missing `channel` is 107, an
//! unknown namespace 102 (checked before the payload), an empty payload 107, bad
//! base64 107, history/presence off 108, a `since` with another epoch 112.

use base64::Engine as _;
use bytes::Bytes;
use chorus_node::{
    ApiError, ApiPublish, ClientError, Disconnect, HistoryFilter, Node, ServerRefresh,
    ServerSubscribe, SubscribeOverride,
};
use futures_util::StreamExt as _;

use super::types::{
    ApiHistoryResult, ApiPublishResult, BatchRequest, BatchResult, BroadcastRequest,
    BroadcastResult, ChannelInfo, ChannelsRequest, ChannelsResult, Command, ConnectionsRequest,
    ConnectionsResult, DisconnectRequest, DisconnectResult, ErrorBody, HistoryRemoveRequest,
    HistoryRemoveResult, HistoryRequest, InfoRequest, InfoResult, PresenceRequest, PresenceResult,
    PresenceStatsRequest, PresenceStatsResult, PublishRequest, PublishResponse, RawJson,
    RefreshRequest, RefreshResult, Reply, RpcRequest, RpcResult, SubscribeOptionOverride,
    SubscribeRequest, SubscribeResult, UnsubscribeRequest, UnsubscribeResult,
};

/// Most commands of one `batch` (with `parallel`) or channels of one
/// `broadcast` in flight at once.
const MAX_CONCURRENCY: usize = 1024;

/// Executes server API calls against a [`Node`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiExecutor {
    node: Node,
}

/// The payload of a request: `b64<field>` (standard base64) when set, else the
/// raw JSON field.
/// Publication versions are refused rather than ignored: the engine does not
/// drop publications by version yet, and publishing an older version as if it
/// were new would do what the caller asked it not to.
fn refuse_version(version: u64, epoch: &str) -> Result<(), ApiError> {
    if version == 0 && epoch.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequestReason(
            "publication version and version_epoch are not supported",
        ))
    }
}

fn payload(raw: &RawJson, b64: &str) -> Result<Bytes, ApiError> {
    if b64.is_empty() {
        return Ok(raw.0.clone());
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Bytes::from)
        .map_err(|_| ApiError::BadRequest)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn overrides(o: Option<SubscribeOptionOverride>) -> SubscribeOverride {
    let mut out = SubscribeOverride::default();
    if let Some(o) = o {
        out.presence = o.presence.map(|v| v.value);
        out.join_leave = o.join_leave.map(|v| v.value);
        out.force_recovery = o.force_recovery.map(|v| v.value);
        out.force_positioning = o.force_positioning.map(|v| v.value);
        out.force_push_join_leave = o.force_push_join_leave.map(|v| v.value);
    }
    out
}

impl ApiExecutor {
    /// An executor for `node`.
    pub fn new(node: Node) -> Self {
        Self { node }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Fails with 107 for an empty name, 102 for an unknown namespace, 107 for
    /// an otherwise invalid name.
    fn check_channel(&self, channel: &str) -> Result<(), ApiError> {
        if channel.is_empty() {
            return Err(ApiError::BadRequest);
        }
        match self.node.config().channels.resolve(channel) {
            Ok(_) => Ok(()),
            Err(ClientError::UnknownChannel) => Err(ApiError::UnknownChannel),
            Err(_) => Err(ApiError::BadRequest),
        }
    }

    async fn publish_one(
        &self,
        channel: &str,
        data: Bytes,
        opts: ApiPublish,
    ) -> Result<ApiPublishResult, ApiError> {
        self.check_channel(channel)?;
        // Payload rules (`publication_data_format`: empty data is refused unless
        // the channel is `binary`) are the engine's, shared with client publishes.
        let position = self.node.publish(channel, data, opts).await?;
        Ok(ApiPublishResult::from(position))
    }

    /// `publish`.
    ///
    /// # Errors
    /// 107 (no channel, no data, bad base64), 102, 100.
    pub async fn publish(&self, req: PublishRequest) -> Result<ApiPublishResult, ApiError> {
        if req.channel.is_empty() {
            return Err(ApiError::BadRequest);
        }
        refuse_version(req.version, &req.version_epoch)?;
        let data = payload(&req.data, &req.b64data)?;
        let mut opts = ApiPublish::default();
        opts.skip_history = req.skip_history;
        opts.tags = req.tags;
        opts.idempotency_key = non_empty(&req.idempotency_key).map(str::to_owned);
        opts.delta = req.delta;
        self.publish_one(&req.channel, data, opts).await
    }

    /// `broadcast`: publishes into every channel concurrently; per-channel
    /// failures are reported in the result, in channel order.
    ///
    /// # Errors
    /// 107 when `channels` is empty or `b64data` is not base64.
    pub async fn broadcast(&self, req: BroadcastRequest) -> Result<BroadcastResult, ApiError> {
        if req.channels.is_empty() {
            return Err(ApiError::BadRequest);
        }
        refuse_version(req.version, &req.version_epoch)?;
        let data = payload(&req.data, &req.b64data)?;
        let mut opts = ApiPublish::default();
        opts.skip_history = req.skip_history;
        opts.tags = req.tags;
        opts.idempotency_key = non_empty(&req.idempotency_key).map(str::to_owned);
        opts.delta = req.delta;
        let responses = futures_util::stream::iter(req.channels)
            .map(|channel| {
                let (this, data, opts) = (self.clone(), data.clone(), opts.clone());
                async move {
                    match this.publish_one(&channel, data, opts).await {
                        Ok(result) => PublishResponse {
                            error: None,
                            result: Some(result),
                        },
                        Err(e) => PublishResponse {
                            error: Some(ErrorBody::from(e)),
                            result: None,
                        },
                    }
                }
            })
            .buffered(MAX_CONCURRENCY)
            .collect()
            .await;
        Ok(BroadcastResult { responses })
    }

    /// `subscribe`: subscribes the user's connections (or one of them)
    /// server-side. Sessions are not tracked, so `session` is ignored.
    ///
    /// # Errors
    /// 107 (no channel, bad base64), 102.
    pub async fn subscribe(&self, req: SubscribeRequest) -> Result<SubscribeResult, ApiError> {
        self.check_channel(&req.channel)?;
        let data = payload(&req.data, &req.b64data)?;
        let info = payload(&req.info, &req.b64info)?;
        let mut sub = ServerSubscribe::default();
        sub.client = non_empty(&req.client).map(str::to_owned);
        sub.expire_at = (req.expire_at != 0).then_some(req.expire_at);
        sub.info = info;
        sub.data = data;
        sub.recover_since = req.recover_since.map(Into::into);
        sub.overrides = overrides(req.override_);
        sub.user = req.user;
        sub.channel = req.channel;
        self.node.subscribe(sub).await?;
        Ok(SubscribeResult {})
    }

    /// `unsubscribe`.
    ///
    /// # Errors
    /// 107 (no channel), 102.
    pub async fn unsubscribe(
        &self,
        req: UnsubscribeRequest,
    ) -> Result<UnsubscribeResult, ApiError> {
        self.check_channel(&req.channel)?;
        self.node
            .unsubscribe(&req.user, &req.channel, non_empty(&req.client))
            .await?;
        Ok(UnsubscribeResult {})
    }

    /// `disconnect`: default code 3503 "force disconnect", on every node.
    ///
    /// # Errors
    /// 100 when the other nodes cannot be told.
    pub async fn disconnect(&self, req: DisconnectRequest) -> Result<DisconnectResult, ApiError> {
        let disconnect = match req.disconnect {
            Some(d) => Disconnect::new(d.code, d.reason),
            None => Disconnect::FORCE_NO_RECONNECT,
        };
        self.node
            .disconnect(
                &req.user,
                disconnect,
                non_empty(&req.client),
                &req.whitelist,
            )
            .await?;
        Ok(DisconnectResult {})
    }

    /// `refresh`, on every node.
    ///
    /// # Errors
    /// 100 when the other nodes cannot be told.
    pub async fn refresh(&self, req: RefreshRequest) -> Result<RefreshResult, ApiError> {
        let mut refresh = ServerRefresh::default();
        refresh.client = non_empty(&req.client).map(str::to_owned);
        refresh.expired = req.expired;
        refresh.expire_at = (req.expire_at != 0).then_some(req.expire_at);
        refresh.info = req.info.map(RawJson::into_bytes);
        refresh.user = req.user;
        self.node.refresh(refresh).await?;
        Ok(RefreshResult {})
    }

    /// `presence`.
    ///
    /// # Errors
    /// 107 (no channel), 102, 108 (presence off), 100.
    pub async fn presence(&self, req: PresenceRequest) -> Result<PresenceResult, ApiError> {
        self.check_channel(&req.channel)?;
        let presence = self.node.presence(&req.channel).await?;
        Ok(PresenceResult {
            presence: presence
                .into_iter()
                .map(|(id, info)| (id, info.into()))
                .collect(),
        })
    }

    /// `presence_stats`.
    ///
    /// # Errors
    /// 107 (no channel), 102, 108 (presence off), 100.
    pub async fn presence_stats(
        &self,
        req: PresenceStatsRequest,
    ) -> Result<PresenceStatsResult, ApiError> {
        self.check_channel(&req.channel)?;
        let stats = self.node.presence_stats(&req.channel).await?;
        Ok(PresenceStatsResult {
            num_clients: stats.num_clients,
            num_users: stats.num_users,
        })
    }

    /// `history`.
    ///
    /// # Errors
    /// 107 (no channel), 102, 108 (history off), 112 (`since` of another
    /// epoch), 100.
    pub async fn history(&self, req: HistoryRequest) -> Result<ApiHistoryResult, ApiError> {
        self.check_channel(&req.channel)?;
        let filter = HistoryFilter {
            since: req.since.map(Into::into),
            limit: req.limit,
            reverse: req.reverse,
        };
        let history = self.node.history(&req.channel, filter).await?;
        Ok(ApiHistoryResult {
            publications: history.publications.into_iter().map(Into::into).collect(),
            epoch: history.position.epoch,
            offset: history.position.offset,
        })
    }

    /// `history_remove`.
    ///
    /// # Errors
    /// 107 (no channel), 102, 108 (history off), 100.
    pub async fn history_remove(
        &self,
        req: HistoryRemoveRequest,
    ) -> Result<HistoryRemoveResult, ApiError> {
        self.check_channel(&req.channel)?;
        self.node.remove_history(&req.channel).await?;
        Ok(HistoryRemoveResult {})
    }

    /// `channels`: channels with subscribers on any node.
    ///
    /// # Errors
    /// 100 when the other nodes cannot be asked.
    pub async fn channels(&self, req: ChannelsRequest) -> Result<ChannelsResult, ApiError> {
        let channels = self
            .node
            .cluster_channels(non_empty(&req.pattern))
            .await?
            .into_iter()
            .map(|(name, num_clients)| (name, ChannelInfo { num_clients }))
            .collect();
        Ok(ChannelsResult { channels })
    }

    /// `connections`: connections on every node (all, or one user's), as
    /// Centrifugo PRO's method, without its CEL `expression` filter.
    ///
    /// # Errors
    /// 107 when `expression` is set (not supported); 100 when the other nodes
    /// cannot be asked.
    pub async fn connections(
        &self,
        req: ConnectionsRequest,
    ) -> Result<ConnectionsResult, ApiError> {
        if !req.expression.is_empty() {
            return Err(ApiError::BadRequestReason(
                "expression filters (CEL) are not supported",
            ));
        }
        let connections = self
            .node
            .cluster_connections(non_empty(&req.user))
            .await?
            .into_iter()
            .map(|(id, c)| (id, c.into()))
            .collect();
        Ok(ConnectionsResult { connections })
    }

    /// `info`: statistics of every node (this one, and those heard of in the
    /// last few seconds).
    ///
    /// # Errors
    /// None (kept fallible like every method).
    pub async fn info(&self, _req: InfoRequest) -> Result<InfoResult, ApiError> {
        Ok(InfoResult {
            nodes: self.node.nodes().into_iter().map(Into::into).collect(),
        })
    }

    /// `rpc`: no server-side RPC extensions are registered, so every method is
    /// 104 "not found" (as in Centrifugo OSS without extensions).
    ///
    /// # Errors
    /// 107 (no method), 104.
    pub async fn rpc(&self, req: RpcRequest) -> Result<RpcResult, ApiError> {
        if req.method.is_empty() {
            return Err(ApiError::BadRequest);
        }
        Err(ApiError::NotFound)
    }

    /// Executes one command of a batch (the first method set in it; none → 104).
    pub async fn command(&self, cmd: Command) -> Reply {
        fn reply<T>(r: Result<T, ApiError>, ok: impl FnOnce(T) -> Reply) -> Reply {
            r.map_or_else(|e| Reply::Error(e.into()), ok)
        }
        let Command {
            publish,
            broadcast,
            subscribe,
            unsubscribe,
            disconnect,
            history,
            history_remove,
            presence,
            presence_stats,
            info,
            rpc,
            refresh,
            channels,
        } = cmd;
        if let Some(r) = publish {
            reply(self.publish(r).await, Reply::Publish)
        } else if let Some(r) = broadcast {
            reply(self.broadcast(r).await, Reply::Broadcast)
        } else if let Some(r) = subscribe {
            reply(self.subscribe(r).await, Reply::Subscribe)
        } else if let Some(r) = unsubscribe {
            reply(self.unsubscribe(r).await, Reply::Unsubscribe)
        } else if let Some(r) = disconnect {
            reply(self.disconnect(r).await, Reply::Disconnect)
        } else if let Some(r) = history {
            reply(self.history(r).await, Reply::History)
        } else if let Some(r) = history_remove {
            reply(self.history_remove(r).await, Reply::HistoryRemove)
        } else if let Some(r) = presence {
            reply(self.presence(r).await, Reply::Presence)
        } else if let Some(r) = presence_stats {
            reply(self.presence_stats(r).await, Reply::PresenceStats)
        } else if let Some(r) = info {
            reply(self.info(r).await, Reply::Info)
        } else if let Some(r) = rpc {
            reply(self.rpc(r).await, Reply::Rpc)
        } else if let Some(r) = refresh {
            reply(self.refresh(r).await, Reply::Refresh)
        } else if let Some(r) = channels {
            reply(self.channels(r).await, Reply::Channels)
        } else {
            Reply::Error(ApiError::NotFound.into())
        }
    }

    /// `batch`: every command gets a reply, in command order; failures are
    /// per command. Commands run one after another unless `parallel` is set.
    pub async fn batch(&self, req: BatchRequest) -> BatchResult {
        let replies = if req.parallel {
            futures_util::stream::iter(req.commands)
                .map(|cmd| self.command(cmd))
                .buffered(MAX_CONCURRENCY)
                .collect()
                .await
        } else {
            let mut replies = Vec::with_capacity(req.commands.len());
            for cmd in req.commands {
                replies.push(self.command(cmd).await);
            }
            replies
        };
        BatchResult { replies }
    }
}
