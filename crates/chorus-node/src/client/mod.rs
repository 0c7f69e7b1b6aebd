//! One connection's protocol state machine (spec §3): connect, commands in frame
//! order, ping/pong, expiry, and cleanup. Owned by the connection task; other
//! tasks reach it only through [`shared::ClientShared`].

mod commands;
mod connect;
mod hooks;
pub(crate) mod shared;
mod subscribe;
mod timers;
mod transport_info;
mod uni;

pub use transport_info::{TransportInfo, UpgradeRequest};
pub(crate) use uni::disconnect_frame;
pub use uni::{InvalidConnectRequest, parse_uni_connect, uni_connect_error_disconnect};

use crate::error::{ClientError, Disconnect};
use crate::handlers::{ClientContext, DisconnectEvent};
use crate::node::Node;
use crate::queue::ClientQueue;
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Command, ConnectRequest, FrameDecoder, Protocol, Reply};
use shared::{ClientShared, Control, ControlQueue};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use timers::Timers;
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

impl Client {
    pub(crate) fn new(node: &Node, transport: TransportInfo) -> Self {
        let shared = Arc::new(ClientShared {
            id: Arc::from(uuid::Uuid::new_v4().to_string()),
            protocol: transport.protocol,
            transport: transport.name,
            unidirectional: transport.is_unidirectional(),
            outbound: ClientQueue::new(node.config().client.queue_max_size),
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
        if was_connected && let Some(hook) = self.node.inner.hooks.disconnect.clone() {
            hook(DisconnectEvent {
                client: self.context(),
                disconnect,
            })
            .await;
        }
    }
}
