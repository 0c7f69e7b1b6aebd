//! Subscriptions: permission decision (spec §6.2 order), positioning and recovery
//! (spec §7), server-side subscriptions, unsubscribe.

use super::{Client, Sub};
use crate::auth::{ServerSubscription, SubscribeOverride, TokenError};
use crate::broker::{HistoryFilter, StreamPosition};
use crate::channel::{ChannelOptions, RecoveryMode};
use crate::clock::{ttl_until, unix_now};
use crate::error::{BackendError, ClientError, Disconnect};
use crate::handlers::HandlerError;
use crate::node::ServerSubscribe;
use crate::node::subscriptions::PendingLive;
use crate::registry::{Feed, Subscriber};
use crate::view::View;
use bytes::Bytes;
use chorus_protocol::{
    Push, Reply, Subscribe, SubscribeRequest, SubscribeResult, UnsubscribeRequest,
    UnsubscribeResult,
};
use std::sync::Arc;

/// `SubscribeRequest.flag` bit: reply 112 instead of `recovered: false`.
const FLAG_REJECT_UNRECOVERED: i64 = 2;

/// What one subscription is set up with.
struct SubParams {
    server_side: bool,
    info: Bytes,
    expire_at: Option<i64>,
    presence: bool,
    join_leave: bool,
    join_leave_push: bool,
    recoverable: bool,
    positioned: bool,
    recover: Option<StreamPosition>,
    reject_unrecovered: bool,
    /// Tags filter and delta compression.
    view: View,
}

/// The tags filter and delta compression a subscribe request asks for: an unknown
/// delta type, an invalid filter, a filter where the channel allows none, or both
/// at once → 107. Fossil is granted when the channel allows it and the
/// subscription is positioned; otherwise the subscription simply gets full
/// payloads (`SubscribeResult.delta` false).
fn negotiate_view(
    options: &ChannelOptions,
    req: &SubscribeRequest,
    positioned: bool,
) -> Result<View, ClientError> {
    let delta = match req.delta.as_str() {
        "" => false,
        "fossil" => options.allow_delta_fossil && positioned,
        _ => return Err(ClientError::BadRequest),
    };
    let filter = match &req.tf {
        None => None,
        Some(tf) => {
            if !options.allow_tags_filter || !req.delta.is_empty() {
                return Err(ClientError::BadRequest);
            }
            crate::filter::validate(tf).map_err(|_| ClientError::BadRequest)?;
            Some(Box::new(tf.clone()))
        }
    };
    Ok(View::new(delta, options.delta_publish, filter))
}

fn apply(o: Option<bool>, default: bool) -> bool {
    o.unwrap_or(default)
}

impl Client {
    /// The `allow_*_for_client` / `_for_subscriber` / `_for_anonymous` rule shared by
    /// subscribe, publish, presence and history (plus `client.insecure`).
    pub(super) fn allowed(
        &self,
        for_client: bool,
        subscriber_ok: bool,
        for_anonymous: bool,
    ) -> bool {
        if self.node.config().client.insecure {
            return true;
        }
        (!self.user.is_empty() || for_anonymous) && (for_client || subscriber_ok)
    }

    /// History permission; `subscribing` counts the client as a subscriber already.
    pub(super) fn can_history(&self, o: &ChannelOptions, channel: &str, subscribing: bool) -> bool {
        let subscriber =
            o.allow_history_for_subscriber && (subscribing || self.subs.contains_key(channel));
        self.allowed(
            o.allow_history_for_client,
            subscriber,
            o.allow_history_for_anonymous,
        )
    }

    /// Presence permission; `subscribing` counts the client as a subscriber already.
    pub(super) fn can_presence(
        &self,
        o: &ChannelOptions,
        channel: &str,
        subscribing: bool,
    ) -> bool {
        let subscriber =
            o.allow_presence_for_subscriber && (subscribing || self.subs.contains_key(channel));
        self.allowed(
            o.allow_presence_for_client,
            subscriber,
            o.allow_presence_for_anonymous,
        )
    }

    async fn subscribe_core(
        &mut self,
        channel: &str,
        options: Arc<ChannelOptions>,
        mut p: SubParams,
    ) -> Result<(SubscribeResult, PendingLive), ClientError> {
        let view = std::mem::take(&mut p.view);
        let delivery = Feed::buffering(p.positioned || p.recoverable, view);
        let sub = Subscriber {
            client: Arc::clone(&self.shared),
            join_leave: p.join_leave_push,
            delivery: Arc::clone(&delivery),
        };
        self.node.add_subscriber(channel, sub).await?;
        match self.position(channel, &options, &p, &delivery.view).await {
            Ok((mut result, after_offset)) => {
                let view = &delivery.view;
                result.delta = view.delta;
                if view.delta {
                    let top = result.publications.last().map_or(0, |p| p.offset);
                    let payload = crate::delta::encode_sequence(
                        self.shared.protocol,
                        &mut result.publications,
                        None,
                    );
                    view.set_base(top);
                    // The recovered top is the base of the next live delta.
                    if let Some(payload) = payload {
                        self.node.seed_delta_base(channel, top, payload);
                    }
                }
                let epoch_of_result = result.epoch.clone();
                if p.presence {
                    let info = self.client_info(p.info.clone());
                    self.node.add_presence(channel, &self.shared.id, info).await;
                }
                if let Some(at) = p.expire_at {
                    result.expires = true;
                    result.ttl = ttl_until(at);
                }
                self.subs.insert(
                    channel.to_owned(),
                    Sub {
                        server_side: p.server_side,
                        info: p.info,
                        expire_at: p.expire_at,
                        expire_deadline: self.sub_deadline(p.expire_at),
                        presence: p.presence,
                        join_leave: p.join_leave,
                    },
                );
                self.schedule_sub_expiry();
                Ok((
                    result,
                    PendingLive {
                        channel: channel.to_owned(),
                        delivery,
                        first: None,
                        after_offset,
                        epoch: epoch_of_result,
                    },
                ))
            }
            Err(e) => {
                self.node.remove_subscriber(channel, &self.shared.id).await;
                Err(e)
            }
        }
    }

    /// Stream position and recovery for a new subscription; returns the result and
    /// the offset up to which buffered publications are already covered.
    async fn position(
        &self,
        channel: &str,
        options: &ChannelOptions,
        p: &SubParams,
        view: &View,
    ) -> Result<(SubscribeResult, u64), ClientError> {
        let mut result = SubscribeResult::default();
        if !(p.positioned || p.recoverable) {
            return Ok((result, 0));
        }
        result.positioned = true;
        result.recoverable = p.recoverable;
        let top = |r: &crate::broker::HistoryResult| r.position.clone();
        // Cache mode recovers from the client's position, or from nothing with
        // `auto_cache_recover` (useful for clients that keep no position).
        let cache_since = match (&p.recover, options.auto_cache_recover) {
            (Some(since), _) => Some(since.clone()),
            (None, true) => Some(StreamPosition::default()),
            (None, false) => None,
        };
        if let (true, Some(since), RecoveryMode::Cache) =
            (p.recoverable, cache_since, options.recovery_mode)
        {
            // Cache mode: only the latest publication matters (the latest one
            // the tags filter lets through), and only when the client's position
            // differs from the top (spec §7).
            result.was_recovering = true;
            let latest = HistoryFilter {
                since: None,
                limit: if view.filter.is_some() {
                    i32::try_from(self.node.config().client.recovery_max_publication_limit)
                        .unwrap_or(i32::MAX)
                } else {
                    1
                },
                reverse: true,
            };
            let h = self.node.read_stream(channel, options, latest).await?;
            let position = top(&h);
            let up_to_date = since.epoch == position.epoch && since.offset == position.offset;
            result.recovered = true;
            result.epoch = position.epoch;
            result.offset = since.offset.min(position.offset);
            if !up_to_date {
                result.publications = h
                    .publications
                    .into_iter()
                    .find(|pb| view.wants(pb))
                    .into_iter()
                    .collect();
            }
            return Ok((result, position.offset));
        }
        if let (true, Some(since)) = (p.recoverable, &p.recover) {
            result.was_recovering = true;
            let limit = i32::try_from(self.node.config().client.recovery_max_publication_limit)
                .unwrap_or(i32::MAX);
            let filter = HistoryFilter {
                since: Some(since.clone()),
                limit,
                reverse: false,
            };
            let read = match self.node.read_stream(channel, options, filter).await {
                Ok(h) => Some(h),
                Err(BackendError::UnrecoverablePosition) => None,
                Err(e) => return Err(e.into()),
            };
            if let Some(h) = read {
                let position = top(&h);
                let contiguous = h
                    .publications
                    .iter()
                    .enumerate()
                    .all(|(i, pb)| pb.offset == since.offset + 1 + i as u64);
                let reaches_top =
                    h.publications.last().map_or(since.offset, |pb| pb.offset) == position.offset;
                if contiguous && reaches_top {
                    result.recovered = true;
                    result.epoch = position.epoch;
                    result.offset = since.offset;
                    result.publications = h.publications;
                    result.publications.retain(|pb| view.wants(pb));
                    return Ok((result, position.offset));
                }
            }
            if p.reject_unrecovered {
                return Err(ClientError::UnrecoverablePosition);
            }
        }
        let top_only = HistoryFilter {
            since: None,
            limit: 0,
            reverse: false,
        };
        let h = self.node.read_stream(channel, options, top_only).await?;
        result.epoch = h.position.epoch;
        result.offset = h.position.offset;
        Ok((result, h.position.offset))
    }

    /// Verifies a subscription token for `channel`: expired → 109, unusable →
    /// `invalid` (103 on subscribe, 3500 on sub_refresh), a token issued for another
    /// user, channel or connection → 3500 (spec §5.3).
    pub(super) async fn verify_sub_token(
        &self,
        token: &str,
        channel: &str,
        invalid: HandlerError,
    ) -> Result<crate::auth::SubscribeGrant, HandlerError> {
        let verifier = self
            .node
            .inner
            .verifier
            .clone()
            .ok_or(ClientError::PermissionDenied)?;
        let grant = match verifier.verify_subscribe(token).await {
            Ok(g) => g,
            Err(TokenError::Expired) => return Err(ClientError::TokenExpired.into()),
            Err(TokenError::Invalid(_)) => return Err(invalid),
            Err(TokenError::Unavailable(_)) => return Err(ClientError::Internal.into()),
        };
        if grant.user != self.user
            || grant.channel != channel
            || (!grant.client.is_empty() && grant.client != *self.shared.id)
        {
            return Err(Disconnect::INVALID_TOKEN.into());
        }
        Ok(grant)
    }

    async fn announce_join(&self, channel: &str) {
        if let Some(sub) = self.subs.get(channel)
            && sub.join_leave
        {
            let info = self.client_info(sub.info.clone());
            self.node.announce_join(channel, info).await;
        }
    }

    /// The client-side `subscribe` command.
    pub(super) async fn handle_subscribe(
        &mut self,
        id: u32,
        req: SubscribeRequest,
    ) -> Result<(), HandlerError> {
        let channel = req.channel.clone();
        let resolved = self.node.resolve_for_client(&channel)?;
        let cfg = &self.node.config().client;
        if self.subs.contains_key(&channel) {
            return Err(ClientError::AlreadySubscribed.into());
        }
        if self.subs.len() >= cfg.channel_limit {
            return Err(ClientError::LimitExceeded.into());
        }
        let options = resolved.options;
        let rules = &self.node.config().channels;

        // Permission, in Centrifugo's order.
        let mut info = Bytes::new();
        let mut data = Bytes::new();
        let mut expire_at = None;
        let mut overrides = SubscribeOverride::default();
        let mut server_refresh = false;
        if rules.is_private(&channel) && req.token.is_empty() {
            return Err(ClientError::PermissionDenied.into());
        }
        if !req.token.is_empty() {
            let grant = self
                .verify_sub_token(&req.token, &channel, ClientError::PermissionDenied.into())
                .await?;
            info = grant.info;
            expire_at = grant.expire_at;
            overrides = grant.overrides;
        } else if let Some(users) = rules
            .limited_users(&channel)
            .filter(|_| options.allow_user_limited_channels)
        {
            if !users.into_iter().any(|u| u == self.user) {
                return Err(ClientError::PermissionDenied.into());
            }
        } else if let Some(reply) = self.subscribe_hook(&channel, &req.data).await? {
            info = reply.info;
            data = reply.data;
            expire_at = reply.expire_at;
            overrides = reply.overrides;
            server_refresh = reply.server_refresh;
        } else if !self.allowed(
            options.allow_subscribe_for_client,
            false,
            options.allow_subscribe_for_anonymous,
        ) {
            return Err(ClientError::PermissionDenied.into());
        }
        if expire_at.is_some_and(|at| at <= unix_now()) {
            return Err(ClientError::Expired.into());
        }

        let history = options.history_enabled();
        let can_history = self.can_history(&options, &channel, true);
        let presence = apply(overrides.presence, options.presence);
        let join_leave = apply(overrides.join_leave, options.join_leave);
        let force_push = apply(
            overrides.force_push_join_leave,
            options.force_push_join_leave,
        );
        let recoverable = history
            && (apply(overrides.force_recovery, options.force_recovery)
                || (req.recoverable && (options.allow_recovery || can_history)));
        let positioned = history
            && (apply(overrides.force_positioning, options.force_positioning)
                || recoverable
                || (req.positioned && (options.allow_positioning || can_history)));
        let join_leave_push = join_leave
            && (force_push || (req.join_leave && self.can_presence(&options, &channel, true)));
        let view = negotiate_view(&options, &req, positioned)?;
        let params = SubParams {
            server_side: false,
            info,
            expire_at,
            presence,
            join_leave,
            join_leave_push,
            recoverable,
            positioned,
            recover: (recoverable && req.recover).then(|| StreamPosition {
                offset: req.offset,
                epoch: req.epoch.clone(),
            }),
            reject_unrecovered: req.flag & FLAG_REJECT_UNRECOVERED != 0,
            view,
        };
        let (mut result, mut live) = self.subscribe_core(&channel, options, params).await?;
        result.data = data;
        if server_refresh {
            // The sub_refresh hook extends it; the client must not try to.
            result.expires = false;
            result.ttl = 0;
        }
        live.first = Some(Reply {
            id,
            subscribe: Some(result),
            ..Reply::default()
        });
        live.go_live(&self.shared);
        self.announce_join(&channel).await;
        Ok(())
    }

    /// A server-side subscription from the connect grant; `known` carries the
    /// client's last position for recovery.
    pub(super) async fn subscribe_server_side(
        &mut self,
        channel: &str,
        opts: ServerSubscription,
        known: &SubscribeRequest,
    ) -> Result<(SubscribeResult, PendingLive), ClientError> {
        let options = self.node.resolve(channel)?.options;
        let o = opts.overrides;
        let history = options.history_enabled();
        let recoverable = history && apply(o.force_recovery, options.force_recovery);
        let params = SubParams {
            server_side: true,
            info: opts.info,
            expire_at: opts.expire_at,
            presence: apply(o.presence, options.presence),
            join_leave: apply(o.join_leave, options.join_leave),
            join_leave_push: apply(o.force_push_join_leave, options.force_push_join_leave),
            recoverable,
            positioned: history
                && (recoverable || apply(o.force_positioning, options.force_positioning)),
            recover: (recoverable && known.recover).then(|| StreamPosition {
                offset: known.offset,
                epoch: known.epoch.clone(),
            }),
            reject_unrecovered: false,
            view: View::default(),
        };
        let (mut result, live) = self.subscribe_core(channel, options, params).await?;
        result.data = opts.data;
        Ok((result, live))
    }

    /// A server-side subscription requested through the API: a `subscribe` push.
    pub(super) async fn server_subscribe(
        &mut self,
        req: ServerSubscribe,
    ) -> Result<(), Disconnect> {
        if self.subs.contains_key(&req.channel) {
            return Ok(());
        }
        let known = SubscribeRequest {
            recover: req.recover_since.is_some(),
            offset: req.recover_since.as_ref().map_or(0, |p| p.offset),
            epoch: req
                .recover_since
                .as_ref()
                .map(|p| p.epoch.clone())
                .unwrap_or_default(),
            ..SubscribeRequest::default()
        };
        let opts = ServerSubscription {
            info: req.info,
            data: req.data,
            overrides: req.overrides,
            expire_at: req.expire_at,
        };
        match self.subscribe_server_side(&req.channel, opts, &known).await {
            Ok((result, mut live)) => {
                let push = Push {
                    channel: req.channel.clone(),
                    subscribe: Some(Subscribe {
                        recoverable: result.recoverable,
                        epoch: result.epoch,
                        offset: result.offset,
                        positioned: result.positioned,
                        data: result.data,
                    }),
                    ..Push::default()
                };
                live.first = Some(Reply::from(push));
                live.go_live(&self.shared);
                self.announce_join(&req.channel).await;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(client = %self.shared.id, channel = req.channel, error = %e, "API subscribe failed");
                Ok(())
            }
        }
    }

    /// The `unsubscribe` command.
    pub(super) async fn handle_unsubscribe(
        &mut self,
        id: u32,
        req: UnsubscribeRequest,
    ) -> Result<(), HandlerError> {
        self.unsubscribe_channel(&req.channel).await;
        self.send(&Reply {
            id,
            unsubscribe: Some(UnsubscribeResult {}),
            ..Reply::default()
        })?;
        Ok(())
    }

    /// Leaves a channel: registry, broker (if last), presence, leave event.
    pub(super) async fn unsubscribe_channel(&mut self, channel: &str) {
        let Some(sub) = self.subs.remove(channel) else {
            return;
        };
        self.node.remove_subscriber(channel, &self.shared.id).await;
        if sub.presence {
            self.node
                .remove_presence(channel, &self.shared.id, &self.user)
                .await;
        }
        if sub.join_leave {
            self.node
                .announce_leave(channel, self.client_info(sub.info))
                .await;
        }
    }
}
