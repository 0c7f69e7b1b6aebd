//! The `connect` command (spec §3.1, §5.2).

use super::{Client, Status};
use crate::auth::{ConnectGrant, ServerSubscription, TokenError};
use crate::clock::{ttl_until, unix_now};
use crate::error::{ClientError, Disconnect};
use crate::handlers::{ConnectingEvent, HandlerError};
use chorus_protocol::{ConnectRequest, ConnectResult, Reply, SubscribeRequest};
use rand::Rng;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// How a connect attempt ends before the client is registered.
enum Refusal {
    /// Reply with an error; the connection becomes unusable.
    Reply(ClientError),
    /// Close.
    Close(Disconnect),
}

impl From<HandlerError> for Refusal {
    fn from(e: HandlerError) -> Self {
        match e {
            HandlerError::Error(e) => Self::Reply(e),
            HandlerError::Disconnect(d) => Self::Close(d),
        }
    }
}

impl Client {
    async fn credentials(&self, req: &ConnectRequest) -> Result<ConnectGrant, Refusal> {
        let node = &self.node.inner;
        let client_cfg = &node.config.client;
        if !req.token.is_empty() {
            let Some(verifier) = &node.verifier else {
                return Err(Refusal::Close(Disconnect::INVALID_TOKEN));
            };
            let grant = match verifier.verify_connect(&req.token).await {
                Ok(g) => g,
                Err(TokenError::Expired) => return Err(Refusal::Reply(ClientError::TokenExpired)),
                Err(TokenError::Invalid(reason)) => {
                    tracing::info!(client = %self.shared.id, %reason, "invalid connection token");
                    return Err(Refusal::Close(Disconnect::INVALID_TOKEN));
                }
                Err(TokenError::Unavailable(reason)) => {
                    tracing::warn!(client = %self.shared.id, %reason, "token verification unavailable");
                    return Err(Refusal::Reply(ClientError::Internal));
                }
            };
            if grant.user.is_empty() && client_cfg.disallow_anonymous_connection_tokens {
                return Err(Refusal::Close(Disconnect::PERMISSION_DENIED));
            }
            return Ok(grant);
        }
        if let Some(hook) = node.hooks.connecting.clone() {
            let event = ConnectingEvent {
                client: self.context(),
                data: req.data.clone(),
                name: req.name.clone(),
                version: req.version.clone(),
                channels: req.subs.keys().cloned().collect(),
                headers: req.headers.clone(),
                request: self.request.clone(),
            };
            return Ok(hook(event).await?);
        }
        if client_cfg.allow_anonymous_connect_without_token || client_cfg.insecure {
            return Ok(ConnectGrant::default());
        }
        // No token, no hook, no anonymous access: nothing identifies the client.
        Err(Refusal::Close(Disconnect::BAD_REQUEST))
    }

    pub(super) async fn handle_connect(
        &mut self,
        id: u32,
        req: ConnectRequest,
    ) -> Result<(), Disconnect> {
        if self.node.is_shutting_down() {
            return Err(Disconnect::SHUTDOWN);
        }
        let grant = match self.credentials(&req).await {
            Ok(g) => g,
            Err(Refusal::Close(d)) => return Err(d),
            Err(Refusal::Reply(e)) => {
                self.unusable = true;
                return self.send_error(id, &e);
            }
        };
        let cfg = self.node.config().client.clone();
        if cfg.connection_limit > 0 && self.node.num_clients() >= cfg.connection_limit {
            return Err(Disconnect::CONNECTION_LIMIT);
        }
        if cfg.user_connection_limit > 0
            && !grant.user.is_empty()
            && self.node.user_connections_of(&grant.user) >= cfg.user_connection_limit
        {
            return Err(Disconnect::CONNECTION_LIMIT);
        }
        if grant.expire_at.is_some_and(|at| at <= unix_now()) {
            self.unusable = true;
            return self.send_error(id, &ClientError::Expired);
        }
        // More server-side subscriptions than a connection may hold: 3505,
        // as Centrifugo (a client subscribe over the limit gets 106 instead).
        if cfg.channel_limit > 0 && grant.subs.len() > cfg.channel_limit {
            return Err(Disconnect::CHANNEL_LIMIT);
        }
        // Server-side subscriptions must all name known channels.
        let subs: BTreeMap<String, ServerSubscription> = grant.subs.clone();
        for channel in subs.keys() {
            if let Err(e) = self.node.resolve(channel) {
                self.unusable = true;
                return self.send_error(id, &e);
            }
        }

        self.user.clone_from(&grant.user);
        self.info = grant.info.clone();
        self.meta = grant.meta.clone();
        self.emulated_headers = std::sync::Arc::new(req.headers.clone());
        self.expire_at = grant.expire_at;
        let _ = self
            .shared
            .user
            .set(std::sync::Arc::from(grant.user.as_str()));
        let _ = self.shared.app.set((req.name.clone(), req.version.clone()));
        self.status = Status::Connected;
        self.node.register_client(&self.shared);
        // The opening request and emulated headers stay only while a hook may
        // still forward them (proxies); an idle connection keeps nothing else.
        if !self.node.inner.hooks.sees_requests_after_connect() {
            self.request = None;
            self.emulated_headers = std::sync::Arc::default();
        }

        let ping = cfg.ping_interval;
        let mut result = ConnectResult {
            client: self.shared.id.to_string(),
            version: self.node.config().version.clone(),
            data: grant.data.clone(),
            ping: ping.map_or(0, |p| u32::try_from(p.as_secs()).unwrap_or(u32::MAX)),
            // Unidirectional clients cannot answer pings.
            pong: ping.is_some() && !self.is_unidirectional(),
            ..ConnectResult::default()
        };
        if let Some(session) = &self.session {
            result.session.clone_from(session);
            result.node.clone_from(&self.node.inner.uid);
        }
        // With a refresh hook the server refreshes by itself: the client is not told.
        if let Some(at) = self.expire_at
            && self.node.inner.hooks.refresh.is_none()
        {
            result.expires = true;
            result.ttl = ttl_until(at);
        }
        if cfg.connect_include_server_time {
            result.time = crate::clock::unix_ms();
        }

        let mut pending = Vec::new();
        for (channel, opts) in subs {
            let known = req
                .subs
                .get(&channel)
                .cloned()
                .unwrap_or_else(SubscribeRequest::default);
            match self.subscribe_server_side(&channel, opts, &known).await {
                Ok((sub_result, live)) => {
                    result.subs.insert(channel, sub_result);
                    pending.push(live);
                }
                Err(e) => {
                    tracing::warn!(client = %self.shared.id, channel, error = %e, "server-side subscription failed");
                    return Err(Disconnect::SERVER_ERROR);
                }
            }
        }

        // The connect reply goes first, then whatever the server-side subscriptions
        // buffered while they were set up.
        let reply = Reply {
            id,
            connect: Some(result),
            ..Reply::default()
        };
        self.send(&reply)?;
        for live in pending {
            live.go_live(&self.shared);
        }

        let now = Instant::now();
        self.timers.stale = None;
        self.timers.ping = ping.map(|p| {
            // First ping at a random point in [interval/2, interval] spreads the load.
            let half = p / 2;
            let jitter = rand::rng().random_range(0..=half.as_millis().max(1));
            now + half + std::time::Duration::from_millis(u64::try_from(jitter).unwrap_or(0))
        });
        self.timers.presence = Some(now + cfg.presence_update_interval);
        self.schedule_expiry();
        self.schedule_sub_expiry();
        Ok(())
    }
}
