//! One connection's protocol state machine (spec §3): connect, commands in frame
//! order, ping/pong, expiry, and cleanup. Owned by the connection task; other
//! tasks reach it only through [`shared::ClientShared`].

mod commands;
mod connect;
mod hooks;
pub(crate) mod shared;
mod subscribe;

use crate::error::{ClientError, Disconnect};
use crate::handlers::{ClientContext, DisconnectEvent};
use crate::node::Node;
use crate::outbound::Outbound;
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Command, ConnectRequest, FrameDecoder, Protocol, Push, Reply};
use shared::{ClientShared, Control, ControlQueue};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Connecting,
    Connected,
}

/// One subscription of this client.
#[derive(Debug)]
pub(crate) struct Sub {
    pub(crate) server_side: bool,
    pub(crate) info: Bytes,
    pub(crate) expire_at: Option<i64>,
    /// When the expiry (plus grace period) passes, on the monotonic clock.
    pub(crate) expire_deadline: Option<Instant>,
    pub(crate) presence: bool,
    pub(crate) join_leave: bool,
}

/// Timers of the connection; the earliest one wakes the connection task.
#[derive(Debug, Default)]
struct Timers {
    stale: Option<Instant>,
    ping: Option<Instant>,
    pong: Option<Instant>,
    expire: Option<Instant>,
    presence: Option<Instant>,
    sub_expire: Option<Instant>,
}

impl Timers {
    fn next(&self) -> Option<Instant> {
        [
            self.stale,
            self.ping,
            self.pong,
            self.expire,
            self.presence,
            self.sub_expire,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What the engine keeps of the HTTP request that opened a connection, for the
/// connecting hook (cookie or header authentication, query parameters).
///
/// It is kept for the connection's life (shared, not copied) so that hooks such as
/// the server's proxies can forward its headers with every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeRequest {
    /// Headers, names lower-cased; repeated headers joined with `", "`.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The raw query string (without `?`), empty when none.
    pub query: String,
}

impl UpgradeRequest {
    /// A request with these headers and query.
    pub fn new(
        headers: std::collections::BTreeMap<String, String>,
        query: impl Into<String>,
    ) -> Self {
        Self {
            headers,
            query: query.into(),
        }
    }

    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The first value of a query parameter (`+` and `%XX` decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (crate::query::form_decode(k) == name).then(|| crate::query::form_decode(v))
        })
    }
}

/// Where the connection came from, and how the engine talks over it.
///
/// Three shapes, all built from [`TransportInfo::new`]:
///
/// * **bidirectional** (WebSocket): replies and pushes are `Reply` messages; a
///   disconnect is delivered by [`FrameIo::close`](crate::FrameIo::close) (a close
///   frame);
/// * **emulated** ([`TransportInfo::with_session`]; HTTP-streaming, SSE): like
///   bidirectional, but `ConnectResult` carries `session` and `node`, and a
///   disconnect is written as a disconnect push (Reply-wrapped) before
///   [`FrameIo::close`](crate::FrameIo::close) ends the stream (spec §1.3, §3.3);
/// * **unidirectional** ([`TransportInfo::unidirectional`]; uni_websocket, uni_sse,
///   uni_http_stream, uni_grpc): the server only sends bare `Push` messages: first a
///   `connect` push, pings as the empty push (no pong expected), a disconnect push
///   before the end; connect errors become disconnects (spec §1.4). The connect
///   request comes with the transport, so the engine connects as soon as the
///   connection starts; inbound frames are ignored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportInfo {
    /// Transport name (`websocket`, …).
    pub name: &'static str,
    /// Wire format.
    pub protocol: Protocol,
    /// The HTTP request that opened the connection, when the transport has one.
    pub request: Option<Arc<UpgradeRequest>>,
    /// Emulation session id (HTTP-streaming, SSE), reported in `ConnectResult`.
    pub session: Option<String>,
    /// Unidirectional mode: the connect request the client sent with the opening
    /// request (URL parameter, body or first message).
    pub uni_connect: Option<Box<ConnectRequest>>,
    /// Whether a disconnect is written as a disconnect push before the connection
    /// ends (on for emulated and unidirectional transports).
    pub disconnect_push: bool,
}

impl TransportInfo {
    /// Describes a bidirectional transport.
    pub fn new(name: &'static str, protocol: Protocol) -> Self {
        Self {
            name,
            protocol,
            request: None,
            session: None,
            uni_connect: None,
            disconnect_push: false,
        }
    }

    /// Describes a unidirectional transport whose client sent `connect`.
    pub fn unidirectional(name: &'static str, protocol: Protocol, connect: ConnectRequest) -> Self {
        Self {
            uni_connect: Some(Box::new(connect)),
            disconnect_push: true,
            ..Self::new(name, protocol)
        }
    }

    /// Makes this an emulated session (HTTP-streaming, SSE) with this id: the
    /// `ConnectResult` carries it with the node name, and disconnects are pushed.
    #[must_use]
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self.disconnect_push = true;
        self
    }

    /// Turns the disconnect push off (uni_websocket `disable_disconnect_push`).
    #[must_use]
    pub fn without_disconnect_push(mut self) -> Self {
        self.disconnect_push = false;
        self
    }

    /// Whether the transport is unidirectional.
    pub fn is_unidirectional(&self) -> bool {
        self.uni_connect.is_some()
    }

    /// Attaches the opening HTTP request (visible to the connecting hook).
    #[must_use]
    pub fn with_request(mut self, request: UpgradeRequest) -> Self {
        self.request = Some(Arc::new(request));
        self
    }
}

/// The disconnect code a unidirectional client gets instead of a connect error
/// reply (spec §1.4, Centrifugo's default `connect_code_to_unidirectional_disconnect`).
pub fn uni_connect_error_disconnect(error_code: u32) -> Disconnect {
    match error_code {
        109 | 110 => Disconnect::EXPIRED,
        111 => Disconnect::TOO_MANY_REQUESTS,
        103 => Disconnect::PERMISSION_DENIED,
        _ => Disconnect::SERVER_ERROR,
    }
}

/// The bare push a unidirectional client gets for a reply: pushes unwrapped, the
/// connect result as a `connect` push, a ping as the empty push. `Ok(None)` for
/// replies that have no unidirectional form (results of commands, which uni
/// clients cannot send); an error reply becomes a disconnect.
fn uni_push(reply: &Reply) -> Result<Option<Push>, Disconnect> {
    if let Some(e) = &reply.error {
        return Err(uni_connect_error_disconnect(e.code));
    }
    if let Some(push) = &reply.push {
        return Ok(Some(push.clone()));
    }
    if let Some(r) = &reply.connect {
        let connect = chorus_protocol::Connect {
            client: r.client.clone(),
            version: r.version.clone(),
            data: r.data.clone(),
            subs: r.subs.clone(),
            expires: r.expires,
            ttl: r.ttl,
            ping: r.ping,
            pong: r.pong,
            session: r.session.clone(),
            node: r.node.clone(),
            time: r.time,
        };
        return Ok(Some(Push {
            connect: Some(connect),
            ..Push::default()
        }));
    }
    if reply.is_ping() {
        return Ok(Some(Push::ping()));
    }
    Ok(None)
}

/// The encoded disconnect push for a transport that pushes disconnects, `None`
/// otherwise. Code 3000 (the peer went away) is never sent.
pub(crate) fn disconnect_frame(
    protocol: Protocol,
    unidirectional: bool,
    disconnect_push: bool,
    disconnect: &Disconnect,
) -> Option<Bytes> {
    if !disconnect_push || disconnect.code == Disconnect::CONNECTION_CLOSED.code {
        return None;
    }
    let push = disconnect.to_push();
    let encoded = if unidirectional {
        chorus_protocol::encode(protocol, &push)
    } else {
        chorus_protocol::encode(protocol, &Reply::from(push))
    };
    encoded.ok()
}

/// The client state machine.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) shared: Arc<ClientShared>,
    pub(crate) node: Node,
    status: Status,
    // A connect that failed with an error reply makes the connection unusable: the
    // next command closes it with 3501.
    unusable: bool,
    pub(crate) user: String,
    pub(crate) info: Bytes,
    pub(crate) meta: Bytes,
    pub(crate) expire_at: Option<i64>,
    pub(crate) subs: HashMap<String, Sub>,
    // The opening HTTP request; kept for the connection's life so hooks (proxies)
    // can forward its headers on every event, not only connect.
    pub(crate) request: Option<Arc<UpgradeRequest>>,
    // Emulated headers from the connect request, for the same reason.
    pub(crate) emulated_headers: Arc<std::collections::BTreeMap<String, String>>,
    // Emulation session id, reported in the connect result.
    pub(crate) session: Option<String>,
    // Unidirectional mode: the connect request, taken when the connection starts.
    uni_connect: Option<Box<ConnectRequest>>,
    pub(crate) disconnect_push: bool,
    timers: Timers,
    // Method of the command being handled (labels error-reply metrics).
    method: crate::metrics::Method,
    // Per-connection command rate limits (`None`: unlimited). Boxed: usually
    // off, and every byte here is paid by every idle connection.
    limiter: Option<Box<crate::limits::CommandLimiter>>,
}

pub(crate) fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(i64::MAX)
}

/// Seconds from now until `at` (Unix seconds), at least 0.
pub(crate) fn ttl_until(at: i64) -> u32 {
    u32::try_from((at - unix_now()).max(0)).unwrap_or(u32::MAX)
}

/// The instant `at` (Unix seconds) plus `delay`.
pub(crate) fn instant_at(at: i64, delay: Duration) -> Instant {
    let secs = u64::try_from((at - unix_now()).max(0)).unwrap_or(0);
    Instant::now() + Duration::from_secs(secs) + delay
}

impl Client {
    pub(crate) fn new(node: &Node, transport: TransportInfo) -> Self {
        let shared = Arc::new(ClientShared {
            id: Arc::from(uuid::Uuid::new_v4().to_string()),
            protocol: transport.protocol,
            transport: transport.name,
            unidirectional: transport.is_unidirectional(),
            outbound: Outbound::new(node.config().client.queue_max_size),
            user: OnceLock::new(),
            app: OnceLock::new(),
            control: ControlQueue::default(),
        });
        let timers = Timers {
            stale: Some(Instant::now() + node.config().client.stale_close_delay),
            ..Timers::default()
        };
        Self {
            shared,
            node: node.clone(),
            status: Status::Connecting,
            unusable: false,
            user: String::new(),
            info: Bytes::new(),
            meta: Bytes::new(),
            expire_at: None,
            subs: HashMap::new(),
            request: transport.request,
            emulated_headers: Arc::default(),
            session: transport.session,
            uni_connect: transport.uni_connect,
            disconnect_push: transport.disconnect_push,
            timers,
            method: crate::metrics::Method::Unknown,
            limiter: crate::limits::CommandLimiter::new(
                node.config().client.command_rate_limit.as_deref(),
            )
            .map(Box::new),
        }
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.shared.protocol
    }

    pub(crate) fn is_unidirectional(&self) -> bool {
        self.shared.unidirectional
    }

    /// Unidirectional mode: handles the connect request the transport brought.
    /// A no-op for other transports.
    ///
    /// # Errors
    /// The disconnect to close with (connect errors mapped per spec §1.4).
    pub(crate) async fn connect_unidirectional(&mut self) -> Result<(), Disconnect> {
        match self.uni_connect.take() {
            Some(req) => self.handle_connect(1, *req).await,
            None => Ok(()),
        }
    }

    pub(crate) fn context(&self) -> ClientContext {
        ClientContext {
            client: self.shared.id.to_string(),
            user: self.user.clone(),
            transport: self.shared.transport,
            protocol: self.shared.protocol,
            meta: self.meta.clone(),
            request: self.request.clone(),
            headers: Arc::clone(&self.emulated_headers),
        }
    }

    pub(crate) fn client_info(&self, chan_info: Bytes) -> ClientInfo {
        ClientInfo {
            user: self.user.clone(),
            client: self.shared.id.to_string(),
            conn_info: self.info.clone(),
            chan_info,
        }
    }

    /// Encodes and queues a reply (see [`ClientShared::send`]).
    pub(crate) fn send(&self, reply: &Reply) -> Result<(), Disconnect> {
        self.shared.send(reply)
    }

    pub(crate) fn send_error(&self, id: u32, error: &ClientError) -> Result<(), Disconnect> {
        let error = error.to_protocol();
        self.node.inner.metrics.reply_error(self.method, error.code);
        self.send(&Reply::error(id, error))
    }

    /// A command refused by the rate limiter: 3013, or 111 (a `send` without an
    /// id is dropped).
    fn rate_limited(&self, id: u32, disconnect: bool) -> Result<(), Disconnect> {
        self.node
            .inner
            .metrics
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if disconnect {
            return Err(Disconnect::TOO_MANY_REQUESTS);
        }
        if id == 0 {
            return Ok(());
        }
        self.send_error(id, &ClientError::TooManyRequests)
    }

    /// Starts closing: queued replies go out first, then the disconnect.
    pub(crate) fn close(&self, disconnect: Disconnect) {
        self.shared.outbound.close(disconnect);
    }

    /// Handles one inbound frame: every command in it, in order.
    ///
    /// # Errors
    /// The disconnect to close the connection with.
    pub(crate) async fn handle_frame(&mut self, frame: &[u8]) -> Result<(), Disconnect> {
        if self.is_unidirectional() {
            // Unidirectional clients send nothing after connecting; ignore it.
            return Ok(());
        }
        for command in FrameDecoder::<Command>::new(self.protocol(), frame) {
            let command = command.map_err(|e| {
                tracing::debug!(client = %self.shared.id, error = %e, "malformed frame");
                Disconnect::BAD_REQUEST
            })?;
            self.method = crate::metrics::Method::of(&command);
            let started = std::time::Instant::now();
            let handled = self.handle_command(command).await;
            self.node
                .inner
                .metrics
                .observe_command(self.method, started.elapsed());
            handled?;
            if self.shared.outbound.is_closed() {
                break;
            }
        }
        Ok(())
    }

    async fn handle_command(&mut self, cmd: Command) -> Result<(), Disconnect> {
        if cmd.is_pong() {
            return self.handle_pong();
        }
        if self.unusable {
            return Err(Disconnect::BAD_REQUEST);
        }
        let id = cmd.id;
        if let Some(req) = cmd.connect {
            if id == 0 || self.status != Status::Connecting {
                return Err(Disconnect::BAD_REQUEST);
            }
            return self.handle_connect(id, req).await;
        }
        if self.status != Status::Connected {
            return Err(Disconnect::BAD_REQUEST);
        }
        if let Some(limiter) = &mut self.limiter
            && !limiter.allow(self.method)
        {
            let disconnect = limiter.disconnects();
            return self.rate_limited(id, disconnect);
        }
        if let Some(req) = cmd.send {
            return self.handle_send(req).await;
        }
        if id == 0 {
            return Err(Disconnect::BAD_REQUEST);
        }
        let outcome = if let Some(req) = cmd.subscribe {
            self.handle_subscribe(id, req).await
        } else if let Some(req) = cmd.unsubscribe {
            self.handle_unsubscribe(id, req).await
        } else if let Some(req) = cmd.publish {
            self.handle_publish(id, req).await
        } else if let Some(req) = cmd.presence {
            self.handle_presence(id, req).await
        } else if let Some(req) = cmd.presence_stats {
            self.handle_presence_stats(id, req).await
        } else if let Some(req) = cmd.history {
            self.handle_history(id, req).await
        } else if let Some(req) = cmd.rpc {
            self.handle_rpc(id, req).await
        } else if let Some(req) = cmd.refresh {
            self.handle_refresh(id, req).await
        } else if let Some(req) = cmd.sub_refresh {
            self.handle_sub_refresh(id, req).await
        } else {
            // `ping` and unknown commands: Centrifugo closes with 3501 (spec §3.2).
            return Err(Disconnect::BAD_REQUEST);
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(crate::handlers::HandlerError::Error(e)) => self.send_error(id, &e),
            Err(crate::handlers::HandlerError::Disconnect(d)) => Err(d),
        }
    }

    fn handle_pong(&mut self) -> Result<(), Disconnect> {
        if self.timers.pong.take().is_none() {
            // A pong nobody asked for (spec §3.2).
            return Err(Disconnect::BAD_REQUEST);
        }
        Ok(())
    }

    /// When the connection task should call [`Client::on_timer`] next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Runs the timers that are due.
    ///
    /// # Errors
    /// The disconnect to close with (stale, no pong, expired).
    pub(crate) async fn on_timer(&mut self) -> Result<(), Disconnect> {
        let now = Instant::now();
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timers.stale) {
            return Err(Disconnect::STALE);
        }
        if due(self.timers.pong) {
            return Err(Disconnect::NO_PONG);
        }
        if due(self.timers.ping) {
            self.send(&Reply::ping())?;
            let client = &self.node.config().client;
            // Unidirectional clients cannot answer.
            self.timers.pong = (!self.is_unidirectional()).then(|| now + client.pong_timeout);
            self.timers.ping = client.ping_interval.map(|i| now + i);
        }
        if due(self.timers.expire) {
            self.timers.expire = None;
            self.check_expired().await?;
        }
        if due(self.timers.presence) {
            self.update_presence().await;
            self.timers.presence = Some(now + self.node.config().client.presence_update_interval);
        }
        if due(self.timers.sub_expire) {
            self.timers.sub_expire = None;
            self.check_sub_expired().await?;
        }
        Ok(())
    }

    pub(crate) fn shared(&self) -> Arc<ClientShared> {
        Arc::clone(&self.shared)
    }

    pub(crate) async fn handle_control(&mut self, control: Control) -> Result<(), Disconnect> {
        match control {
            Control::Disconnect(d) => Err(d),
            Control::Subscribe(req) => self.server_subscribe(*req).await,
            Control::Unsubscribe(channel) => {
                if self.subs.contains_key(&channel) {
                    self.unsubscribe_channel(&channel).await;
                    let push = chorus_protocol::UnsubscribeCode::SERVER.to_push(channel);
                    self.send(&Reply::from(push))?;
                }
                Ok(())
            }
            Control::Refresh(req) => self.server_refresh(*req),
            Control::InsufficientState(channel) => {
                let Some(server_side) = self.subs.get(&channel).map(|s| s.server_side) else {
                    return Ok(());
                };
                if server_side {
                    return Err(Disconnect::INSUFFICIENT_STATE);
                }
                // The client resubscribes and recovers from its last position.
                self.unsubscribe_channel(&channel).await;
                let push = chorus_protocol::UnsubscribeCode::INSUFFICIENT_STATE.to_push(channel);
                self.send(&Reply::from(push))
            }
        }
    }

    /// Schedules the connection's expiry check. Wall-clock expiry times are turned
    /// into monotonic deadlines once, here; a refresh schedules again. Without a
    /// refresh hook the deadline includes `expired_close_delay` (the client had
    /// that long to refresh); with one, the hook is asked at the expiry itself.
    pub(crate) fn schedule_expiry(&mut self) {
        let delay = if self.node.inner.handlers.refresh.is_some() {
            Duration::ZERO
        } else {
            self.node.config().client.expired_close_delay
        };
        self.timers.expire = self.expire_at.map(|at| instant_at(at, delay));
    }

    async fn check_expired(&mut self) -> Result<(), Disconnect> {
        if self.expire_at.is_none() {
            return Ok(());
        }
        let Some(hook) = self.node.inner.handlers.refresh.clone() else {
            return Err(Disconnect::EXPIRED);
        };
        let event = crate::handlers::RefreshEvent {
            client: self.context(),
        };
        match hook(event).await {
            Ok(r) if !r.expired => {
                self.expire_at = r.expire_at;
                if let Some(info) = r.info {
                    self.info = info;
                }
                if let Some(meta) = r.meta {
                    self.meta = meta;
                }
                self.schedule_expiry();
                Ok(())
            }
            _ => Err(Disconnect::EXPIRED),
        }
    }

    fn server_refresh(&mut self, req: crate::node::ServerRefresh) -> Result<(), Disconnect> {
        if req.expired {
            return Err(Disconnect::EXPIRED);
        }
        if req.expire_at.is_some() {
            self.expire_at = req.expire_at;
            self.schedule_expiry();
        }
        if let Some(info) = req.info {
            self.info = info;
        }
        Ok(())
    }

    pub(crate) fn schedule_sub_expiry(&mut self) {
        self.timers.sub_expire = self.subs.values().filter_map(|s| s.expire_deadline).min();
    }

    /// The monotonic deadline of a subscription expiring at `at` (Unix seconds).
    pub(crate) fn sub_deadline(&self, at: Option<i64>) -> Option<Instant> {
        at.map(|at| instant_at(at, self.node.config().client.expired_sub_close_delay))
    }

    async fn check_sub_expired(&mut self) -> Result<(), Disconnect> {
        let now = Instant::now();
        let expired: Vec<(String, bool)> = self
            .subs
            .iter()
            .filter(|(_, s)| s.expire_deadline.is_some_and(|d| d <= now))
            .map(|(c, s)| (c.clone(), s.server_side))
            .collect();
        for (channel, server_side) in expired {
            if server_side {
                return Err(Disconnect::SUB_EXPIRED);
            }
            if self.sub_refreshed(&channel).await {
                continue;
            }
            self.unsubscribe_channel(&channel).await;
            self.send(&Reply::from(
                chorus_protocol::UnsubscribeCode::EXPIRED.to_push(channel),
            ))?;
        }
        self.schedule_sub_expiry();
        Ok(())
    }

    async fn update_presence(&self) {
        for (channel, sub) in &self.subs {
            if sub.presence {
                let info = self.client_info(sub.info.clone());
                self.node.add_presence(channel, &self.shared.id, info).await;
            }
        }
    }

    /// Ends the client: leaves every channel, removes presence, unregisters, and
    /// notifies the disconnect hook. Called exactly once by the connection task.
    pub(crate) async fn finish(mut self, disconnect: Disconnect) {
        let channels: Vec<String> = self.subs.keys().cloned().collect();
        for channel in channels {
            self.unsubscribe_channel(&channel).await;
        }
        let was_connected = self.status == Status::Connected;
        if was_connected {
            self.node.unregister_client(&self.shared);
        }
        tracing::debug!(client = %self.shared.id, user = %self.user, code = disconnect.code, reason = %disconnect.reason, "client disconnected");
        if was_connected && let Some(hook) = self.node.inner.handlers.disconnect.clone() {
            hook(DisconnectEvent {
                client: self.context(),
                disconnect,
            })
            .await;
        }
    }
}
