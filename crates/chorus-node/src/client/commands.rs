//! Commands other than connect and subscribe: publish, presence, history, rpc,
//! send, refresh and sub_refresh.

use super::Client;
use crate::auth::TokenError;
use crate::broker::{HistoryFilter, StreamPosition};
use crate::clock::{ttl_until, unix_now};
use crate::error::{BackendError, ClientError, Disconnect};
use crate::handlers::{HandlerError, MessageEvent, RpcEvent};
use chorus_protocol::{
    HistoryRequest, HistoryResult, PresenceRequest, PresenceResult, PresenceStatsRequest,
    PresenceStatsResult, PublishRequest, PublishResult, RefreshRequest, RefreshResult, Reply,
    RpcRequest, RpcResult, SendRequest, SubRefreshRequest, SubRefreshResult,
};

impl Client {
    /// `publish`: hook, then `allow_publish_*`, then insecure (spec §6.2).
    pub(super) async fn handle_publish(
        &self,
        id: u32,
        req: PublishRequest,
    ) -> Result<(), HandlerError> {
        let crate::channel::ResolvedChannel { namespace, options } =
            self.node.resolve_for_client(&req.channel)?;
        if req.data.is_empty() {
            return Err(ClientError::BadRequest.into());
        }
        let mut data = req.data.clone();
        let mut skip_history = false;
        if let Some(reply) = self.publish_hook(&req.channel, &req.data).await? {
            if let Some(d) = reply.data {
                data = d;
            }
            skip_history = reply.skip_history;
        } else {
            let subscriber =
                options.allow_publish_for_subscriber && self.subs.contains_key(&req.channel);
            if !self.allowed(
                options.allow_publish_for_client,
                subscriber,
                options.allow_publish_for_anonymous,
            ) {
                return Err(ClientError::PermissionDenied.into());
            }
        }
        // Node-wide per-user / per-channel throttle (after the permission
        // checks, so refused publishes take no tokens).
        if !self.node.inner.publish_throttle.allow(
            &namespace,
            &req.channel,
            &self.user,
            &self.shared.id,
            &options,
        ) {
            return Err(ClientError::TooManyRequests.into());
        }
        let chan_info = self
            .subs
            .get(&req.channel)
            .map(|s| s.info.clone())
            .unwrap_or_default();
        let info = self.client_info(chan_info);
        self.node
            .publish_from_client(&req.channel, data, info, &options, skip_history)
            .await?;
        self.send(&Reply {
            id,
            publish: Some(PublishResult {}),
            ..Reply::default()
        })?;
        Ok(())
    }

    fn presence_allowed(&self, channel: &str) -> Result<(), ClientError> {
        let options = self.node.resolve_for_client(channel)?.options;
        if !options.presence {
            return Err(ClientError::NotAvailable);
        }
        if !self.can_presence(&options, channel, false) {
            return Err(ClientError::PermissionDenied);
        }
        Ok(())
    }

    /// `presence`.
    pub(super) async fn handle_presence(
        &self,
        id: u32,
        req: PresenceRequest,
    ) -> Result<(), HandlerError> {
        self.presence_allowed(&req.channel)?;
        let presence = self
            .node
            .read_presence(&req.channel)
            .await
            .map_err(ClientError::from)?;
        self.send(&Reply {
            id,
            presence: Some(PresenceResult { presence }),
            ..Reply::default()
        })?;
        Ok(())
    }

    /// `presence_stats`.
    pub(super) async fn handle_presence_stats(
        &self,
        id: u32,
        req: PresenceStatsRequest,
    ) -> Result<(), HandlerError> {
        self.presence_allowed(&req.channel)?;
        let stats = self
            .node
            .read_presence_stats(&req.channel)
            .await
            .map_err(ClientError::from)?;
        let result = PresenceStatsResult {
            num_clients: stats.num_clients,
            num_users: stats.num_users,
        };
        self.send(&Reply {
            id,
            presence_stats: Some(result),
            ..Reply::default()
        })?;
        Ok(())
    }

    /// `history`: limit 0 returns only the top; negative or over the cap means the
    /// cap (`client.history_max_publication_limit`).
    pub(super) async fn handle_history(
        &self,
        id: u32,
        req: HistoryRequest,
    ) -> Result<(), HandlerError> {
        let options = self.node.resolve_for_client(&req.channel)?.options;
        if !options.history_enabled() {
            return Err(ClientError::NotAvailable.into());
        }
        if !self.can_history(&options, &req.channel, false) {
            return Err(ClientError::PermissionDenied.into());
        }
        let cap = i32::try_from(self.node.config().client.history_max_publication_limit)
            .unwrap_or(i32::MAX);
        let limit = if req.limit < 0 || req.limit > cap {
            cap
        } else {
            req.limit
        };
        let filter = HistoryFilter {
            since: req.since.map(|s| StreamPosition {
                offset: s.offset,
                epoch: s.epoch,
            }),
            limit,
            reverse: req.reverse,
        };
        let h = match self.node.read_stream(&req.channel, &options, filter).await {
            Ok(h) => h,
            Err(BackendError::UnrecoverablePosition) => {
                return Err(ClientError::UnrecoverablePosition.into());
            }
            Err(e) => return Err(ClientError::from(e).into()),
        };
        let result = HistoryResult {
            publications: h.publications,
            epoch: h.position.epoch,
            offset: h.position.offset,
        };
        self.send(&Reply {
            id,
            history: Some(result),
            ..Reply::default()
        })?;
        Ok(())
    }

    /// `rpc`: the hook answers; without one, 108 (as Centrifugo: RPC is not
    /// available at all). A hook that does not route a method answers 104 itself.
    pub(super) async fn handle_rpc(&self, id: u32, req: RpcRequest) -> Result<(), HandlerError> {
        let Some(hook) = self.node.inner.hooks.rpc.clone() else {
            return Err(ClientError::NotAvailable.into());
        };
        let data = hook(RpcEvent {
            client: self.context(),
            method: req.method,
            data: req.data,
        })
        .await?;
        self.send(&Reply {
            id,
            rpc: Some(RpcResult { data }),
            ..Reply::default()
        })?;
        Ok(())
    }

    /// `send`: fire-and-forget to the message hook; without one, 3508.
    pub(super) async fn handle_send(&self, req: SendRequest) -> Result<(), Disconnect> {
        let Some(hook) = self.node.inner.hooks.message.clone() else {
            return Err(Disconnect::NOT_AVAILABLE);
        };
        hook(MessageEvent {
            client: self.context(),
            data: req.data,
        })
        .await;
        Ok(())
    }

    /// `refresh`: a new connection token (spec §5.4).
    pub(super) async fn handle_refresh(
        &mut self,
        id: u32,
        req: RefreshRequest,
    ) -> Result<(), HandlerError> {
        if self.node.inner.hooks.refresh.is_some() {
            // The server refreshes by itself; the client must not.
            return Err(Disconnect::BAD_REQUEST.into());
        }
        let verifier = self
            .node
            .inner
            .verifier
            .clone()
            .ok_or(Disconnect::BAD_REQUEST)?;
        if req.token.is_empty() {
            return Err(Disconnect::BAD_REQUEST.into());
        }
        let grant = match verifier.verify_connect(&req.token).await {
            Ok(g) => g,
            Err(TokenError::Expired) => return Err(Disconnect::EXPIRED.into()),
            Err(TokenError::Invalid(_)) => return Err(Disconnect::INVALID_TOKEN.into()),
            Err(TokenError::Unavailable(_)) => return Err(ClientError::Internal.into()),
        };
        if grant.user != self.user {
            return Err(Disconnect::INVALID_TOKEN.into());
        }
        if grant.expire_at.is_some_and(|at| at <= unix_now()) {
            return Err(Disconnect::EXPIRED.into());
        }
        self.expire_at = grant.expire_at;
        if !grant.info.is_empty() {
            self.info = grant.info;
        }
        self.schedule_expiry();
        let result = RefreshResult {
            client: self.shared.id.to_string(),
            version: self.node.config().version.clone(),
            expires: self.expire_at.is_some(),
            ttl: self.expire_at.map_or(0, ttl_until),
        };
        self.send(&Reply {
            id,
            refresh: Some(result),
            ..Reply::default()
        })?;
        Ok(())
    }

    /// `sub_refresh`: a new subscription token.
    pub(super) async fn handle_sub_refresh(
        &mut self,
        id: u32,
        req: SubRefreshRequest,
    ) -> Result<(), HandlerError> {
        if !self.subs.contains_key(&req.channel) {
            return Err(ClientError::PermissionDenied.into());
        }
        let grant = self
            .verify_sub_token(&req.token, &req.channel, Disconnect::INVALID_TOKEN.into())
            .await?;
        if grant.expire_at.is_some_and(|at| at <= unix_now()) {
            return Err(ClientError::Expired.into());
        }
        let deadline = self.sub_deadline(grant.expire_at);
        if let Some(sub) = self.subs.get_mut(&req.channel) {
            sub.expire_at = grant.expire_at;
            sub.expire_deadline = deadline;
            if !grant.info.is_empty() {
                sub.info = grant.info;
            }
        }
        self.schedule_sub_expiry();
        let result = SubRefreshResult {
            expires: grant.expire_at.is_some(),
            ttl: grant.expire_at.map_or(0, ttl_until),
            ..SubRefreshResult::default()
        };
        self.send(&Reply {
            id,
            sub_refresh: Some(result),
            ..Reply::default()
        })?;
        Ok(())
    }
}
