//! The hub: the registry of connected sessions and every operation that spans them.

use crate::handlers::Handlers;
use crate::message::{CloseFrame, Outgoing, Text};
use crate::queue::Closing;
use crate::rooms::Rooms;
use crate::session::{Session, SessionId};
use crate::stats::{Counters, Delivery, HubStats};
use crate::{CloseCode, Config, ConfigError, SessionError};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// State shared by the hub handle, every session and every connection task.
#[derive(Debug)]
pub(crate) struct HubShared {
    pub(crate) config: Config,
    pub(crate) handlers: Handlers,
    // Connected sessions by id. std RwLock: broadcasts take it shared and only queue
    // (no `.await`, no user callbacks) while holding it; connect/disconnect take it
    // exclusively for one map operation.
    sessions: RwLock<HashMap<SessionId, Session>>,
    pub(crate) rooms: Rooms,
    pub(crate) stats: Counters,
    // Set once by `close`; upgrades are refused afterwards and late connections are
    // closed as soon as they register.
    closed: AtomicBool,
    next_id: AtomicU64,
    // Every connection task, so that shutdown can wait for them to finish.
    pub(crate) tracker: TaskTracker,
    // Cancelled when a shutdown deadline passes: connection tasks stop at once.
    pub(crate) force_stop: CancellationToken,
}

impl HubShared {
    pub(crate) fn next_id(&self) -> SessionId {
        SessionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Registers a connected session; returns `false` if the hub closed meanwhile.
    pub(crate) fn register(&self, session: &Session) -> bool {
        let mut map = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked under the write lock so `close` (which reads the map after setting
        // the flag) cannot miss a session that registers concurrently.
        if self.is_closed() {
            return false;
        }
        map.insert(session.id(), session.clone());
        self.stats.record_accept();
        true
    }

    pub(crate) fn unregister(&self, session: &Session) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&session.id());
        self.rooms.leave_all(session);
    }

    fn with_sessions<R>(&self, f: impl FnOnce(&HashMap<SessionId, Session>) -> R) -> R {
        f(&self.sessions.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// What [`Hub::shutdown`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Sessions that were still open at the deadline and were stopped without
    /// finishing their closing handshake.
    pub forced: usize,
}

/// The WebSocket hub: accepts connections, tracks sessions and rooms, broadcasts.
///
/// `Hub` is a cheap handle (an `Arc`); clone it into handlers and tasks freely.
/// Build one with [`Hub::builder`]; accept connections with [`Hub::upgrade`] (plain
/// hyper or any `http::Request`) or the [`HubUpgrade`](crate::HubUpgrade) axum
/// extractor.
#[derive(Clone, Debug)]
pub struct Hub {
    pub(crate) shared: Arc<HubShared>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl Hub {
    /// Starts building a hub with the default [`Config`] and no handlers.
    pub fn builder() -> HubBuilder {
        HubBuilder {
            config: Config::default(),
            handlers: Handlers::default(),
        }
    }

    /// The hub's configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    fn fan_out(&self, msg: &Outgoing, mut include: impl FnMut(&Session) -> bool) -> Delivery {
        let mut delivery = Delivery::default();
        self.shared.with_sessions(|sessions| {
            for s in sessions.values() {
                if include(s) {
                    delivery.record(s.push(msg.clone()));
                }
            }
        });
        delivery
    }

    fn fan_out_filtered(&self, msg: &Outgoing, mut keep: impl FnMut(&Session) -> bool) -> Delivery {
        // The filter is user code: run it on a snapshot, never under the hub's lock.
        let mut delivery = Delivery::default();
        for s in self.sessions() {
            if keep(&s) {
                delivery.record(s.push(msg.clone()));
            }
        }
        delivery
    }

    /// Sends a text message to every session. The payload is shared, not copied.
    pub fn broadcast(&self, text: impl Into<Text>) -> Delivery {
        self.fan_out(&Outgoing::Text(text.into()), |_| true)
    }

    /// Sends a binary message to every session.
    pub fn broadcast_binary(&self, data: impl Into<Bytes>) -> Delivery {
        self.fan_out(&Outgoing::Binary(data.into()), |_| true)
    }

    /// Sends a text message to every session except `except`.
    pub fn broadcast_others(&self, text: impl Into<Text>, except: &Session) -> Delivery {
        let id = except.id();
        self.fan_out(&Outgoing::Text(text.into()), |s| s.id() != id)
    }

    /// Sends a binary message to every session except `except`.
    pub fn broadcast_binary_others(&self, data: impl Into<Bytes>, except: &Session) -> Delivery {
        let id = except.id();
        self.fan_out(&Outgoing::Binary(data.into()), |s| s.id() != id)
    }

    /// Sends a text message to every session for which `keep` returns `true`.
    pub fn broadcast_filter(
        &self,
        text: impl Into<Text>,
        keep: impl FnMut(&Session) -> bool,
    ) -> Delivery {
        self.fan_out_filtered(&Outgoing::Text(text.into()), keep)
    }

    /// Sends a binary message to every session for which `keep` returns `true`.
    pub fn broadcast_binary_filter(
        &self,
        data: impl Into<Bytes>,
        keep: impl FnMut(&Session) -> bool,
    ) -> Delivery {
        self.fan_out_filtered(&Outgoing::Binary(data.into()), keep)
    }

    /// Sends a text message to each of the given sessions.
    pub fn broadcast_multiple<'a>(
        &self,
        text: impl Into<Text>,
        sessions: impl IntoIterator<Item = &'a Session>,
    ) -> Delivery {
        let msg = Outgoing::Text(text.into());
        let mut delivery = Delivery::default();
        for s in sessions {
            delivery.record(s.push(msg.clone()));
        }
        delivery
    }

    /// Sends a binary message to each of the given sessions.
    pub fn broadcast_binary_multiple<'a>(
        &self,
        data: impl Into<Bytes>,
        sessions: impl IntoIterator<Item = &'a Session>,
    ) -> Delivery {
        let msg = Outgoing::Binary(data.into());
        let mut delivery = Delivery::default();
        for s in sessions {
            delivery.record(s.push(msg.clone()));
        }
        delivery
    }

    /// Sends a text message to every member of `room`.
    pub fn broadcast_to_room(&self, room: &str, text: impl Into<Text>) -> Delivery {
        self.room_fan_out(room, &Outgoing::Text(text.into()), None)
    }

    /// Sends a text message to every member of `room` except `except`.
    pub fn broadcast_to_room_others(
        &self,
        room: &str,
        text: impl Into<Text>,
        except: &Session,
    ) -> Delivery {
        self.room_fan_out(room, &Outgoing::Text(text.into()), Some(except.id()))
    }

    /// Sends a binary message to every member of `room`.
    pub fn broadcast_binary_to_room(&self, room: &str, data: impl Into<Bytes>) -> Delivery {
        self.room_fan_out(room, &Outgoing::Binary(data.into()), None)
    }

    fn room_fan_out(&self, room: &str, msg: &Outgoing, except: Option<SessionId>) -> Delivery {
        let mut delivery = Delivery::default();
        self.shared.rooms.for_each_member(room, |s| {
            if Some(s.id()) != except {
                delivery.record(s.push(msg.clone()));
            }
        });
        delivery
    }

    /// The members of `room` (empty if the room does not exist).
    pub fn room_members(&self, room: &str) -> Vec<Session> {
        self.shared.rooms.members(room)
    }

    /// Number of members of `room`.
    pub fn room_len(&self, room: &str) -> usize {
        self.shared.rooms.len_of(room)
    }

    /// Names of all non-empty rooms.
    pub fn rooms(&self) -> Vec<String> {
        self.shared.rooms.names()
    }

    /// A snapshot of the connected sessions.
    pub fn sessions(&self) -> Vec<Session> {
        self.shared.with_sessions(|m| m.values().cloned().collect())
    }

    /// Looks a session up by id.
    pub fn session(&self, id: SessionId) -> Option<Session> {
        self.shared.with_sessions(|m| m.get(&id).cloned())
    }

    /// Number of connected sessions.
    pub fn len(&self) -> usize {
        self.shared.with_sessions(HashMap::len)
    }

    /// Whether no session is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters since the hub was built.
    pub fn stats(&self) -> HubStats {
        self.shared.stats.snapshot(self.len())
    }

    /// Closes the hub: refuses new connections and closes every session with 1001
    /// ("going away") after its queued messages. Returns immediately; use
    /// [`Hub::shutdown`] to wait for the sessions to finish.
    pub fn close(&self) {
        self.close_with(CloseCode::GOING_AWAY, "hub closed");
    }

    /// Like [`Hub::close`] with a custom close code and reason.
    pub fn close_with(&self, code: impl Into<CloseCode>, reason: impl Into<String>) {
        let frame = CloseFrame::new(code, reason);
        self.shared.closed.store(true, Ordering::Release);
        self.shared.with_sessions(|sessions| {
            for s in sessions.values() {
                s.inner.outbound.close(Closing::AfterDrain(frame.clone()));
            }
        });
        self.shared.tracker.close();
    }

    /// Whether [`Hub::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Graceful shutdown: [`close`](Hub::close) everything, let sessions drain their
    /// queues and finish the closing handshake, and wait at most `deadline`. Sessions
    /// still open then are stopped at once (their disconnect handler still runs).
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.close();
        let tracker = &self.shared.tracker;
        let mut forced = 0;
        if tokio::time::timeout(deadline, tracker.wait())
            .await
            .is_err()
        {
            forced = self.len();
            tracing::warn!(
                forced,
                ?deadline,
                "shutdown deadline passed; stopping remaining sessions"
            );
            self.shared.force_stop.cancel();
            tracker.wait().await;
        }
        ShutdownReport { forced }
    }

    pub(crate) fn report_error(&self, session: &Session, err: &SessionError) {
        if let Some(h) = &self.shared.handlers.error {
            h(session, err);
        }
    }
}

/// Builds a [`Hub`]: configuration plus event handlers.
///
/// ```
/// use chorus_hub::{Config, Hub};
///
/// let hub = Hub::builder()
///     .config(Config::default().max_message_size(4096))
///     .on_connect(|s| tracing::info!(id = %s.id(), "connected"))
///     // Echo: write every text message back to its sender.
///     .on_message(|s, text| {
///         let _ = s.write(text);
///     })
///     .build();
/// assert_eq!(hub.len(), 0);
/// ```
#[derive(Debug)]
#[must_use]
pub struct HubBuilder {
    config: Config,
    handlers: Handlers,
}

impl HubBuilder {
    /// Sets the configuration (replacing the default).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Called once a session is connected and registered, before any message.
    pub fn on_connect(mut self, f: impl Fn(&Session) + Send + Sync + 'static) -> Self {
        self.handlers.connect = Some(Arc::new(f));
        self
    }

    /// Called exactly once when a session ends, after it left the hub and its rooms,
    /// with the close frame that ended it (sent or received; 1006 when the connection
    /// dropped without one).
    pub fn on_disconnect(
        mut self,
        f: impl Fn(&Session, &CloseFrame) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.disconnect = Some(Arc::new(f));
        self
    }

    /// Called for every text message, in order.
    pub fn on_message(mut self, f: impl Fn(&Session, Text) + Send + Sync + 'static) -> Self {
        self.handlers.message = Some(Arc::new(f));
        self
    }

    /// Called for every binary message, in order.
    pub fn on_message_binary(
        mut self,
        f: impl Fn(&Session, Bytes) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.message_binary = Some(Arc::new(f));
        self
    }

    /// Called after a text message was written to the socket.
    pub fn on_sent_message(mut self, f: impl Fn(&Session, &Text) + Send + Sync + 'static) -> Self {
        self.handlers.sent_message = Some(Arc::new(f));
        self
    }

    /// Called after a binary message was written to the socket.
    pub fn on_sent_message_binary(
        mut self,
        f: impl Fn(&Session, &Bytes) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.sent_message_binary = Some(Arc::new(f));
        self
    }

    /// Called when a pong arrives.
    pub fn on_pong(mut self, f: impl Fn(&Session) + Send + Sync + 'static) -> Self {
        self.handlers.pong = Some(Arc::new(f));
        self
    }

    /// Called when the peer sends a close frame, with its code and reason (1005 when
    /// the frame carried no code).
    pub fn on_close(mut self, f: impl Fn(&Session, &CloseFrame) + Send + Sync + 'static) -> Self {
        self.handlers.close = Some(Arc::new(f));
        self
    }

    /// Called when a session fails (oversized or invalid message, timeouts, slow
    /// consumer, transport errors). The session is closing when this runs.
    pub fn on_error(mut self, f: impl Fn(&Session, &SessionError) + Send + Sync + 'static) -> Self {
        self.handlers.error = Some(Arc::new(f));
        self
    }

    /// Validates the configuration and builds the hub.
    ///
    /// # Errors
    /// Every configuration problem, listed in one [`ConfigError`].
    pub fn try_build(self) -> Result<Hub, ConfigError> {
        self.config.validate()?;
        Ok(Hub {
            shared: Arc::new(HubShared {
                config: self.config,
                handlers: self.handlers,
                sessions: RwLock::default(),
                rooms: Rooms::default(),
                stats: Counters::default(),
                closed: AtomicBool::new(false),
                next_id: AtomicU64::new(0),
                tracker: TaskTracker::new(),
                force_stop: CancellationToken::new(),
            }),
        })
    }

    /// Builds the hub.
    ///
    /// # Panics
    /// If the configuration is invalid; use [`HubBuilder::try_build`] to get the
    /// error instead.
    pub fn build(self) -> Hub {
        match self.try_build() {
            Ok(hub) => hub,
            Err(e) => panic!("{e}"),
        }
    }
}
