//! A connected WebSocket session: its identity, request data, key-value state and
//! the handle through which anything is sent to it.

use crate::hub::HubShared;
use crate::message::{CloseFrame, Outgoing, Text};
use crate::queue::{Closing, Outbound};
use crate::{CloseCode, WriteError};
use bytes::Bytes;
use http::{HeaderMap, Uri};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A stable, process-unique session id (never reused while the process runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(crate) u64);

impl SessionId {
    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the hub kept of the HTTP upgrade request.
#[derive(Debug)]
pub(crate) struct RequestInfo {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) subprotocol: Option<String>,
}

type Value = Arc<dyn Any + Send + Sync>;

pub(crate) struct SessionInner {
    pub(crate) id: SessionId,
    pub(crate) request: RequestInfo,
    pub(crate) outbound: Outbound,
    // Per-session key-value state. A std Mutex: accessors never hold it across an
    // `.await` or a user callback, so it cannot deadlock or stall the runtime.
    keys: Mutex<HashMap<String, Value>>,
    // Rooms this session is in. Lock order: `HubShared::rooms` first, then this.
    pub(crate) rooms: Mutex<Vec<Arc<str>>>,
    pub(crate) hub: Arc<HubShared>,
}

/// A handle to one connected session. Cheap to clone; all clones refer to the same
/// connection. Every method is safe to call from any task at any time, including
/// after the session closed (writes then return [`WriteError::Closed`]).
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .field("remote_addr", &self.inner.request.remote_addr)
            .field("path", &self.inner.request.uri.path())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id
    }
}

impl Eq for Session {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Critical sections are plain map/vec updates; a poisoned lock holds valid data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Session {
    pub(crate) fn new(
        id: SessionId,
        request: RequestInfo,
        keys: HashMap<String, Value>,
        hub: Arc<HubShared>,
    ) -> Self {
        let max = hub.config.max_queued_bytes;
        Self {
            inner: Arc::new(SessionInner {
                id,
                request,
                outbound: Outbound::new(max),
                keys: Mutex::new(keys),
                rooms: Mutex::new(Vec::new()),
                hub,
            }),
        }
    }

    /// The hub this session belongs to, e.g. to broadcast from a handler:
    /// `s.hub().broadcast_others(text, s)`.
    pub fn hub(&self) -> crate::Hub {
        crate::Hub {
            shared: Arc::clone(&self.inner.hub),
        }
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.inner.id
    }

    /// Queues a text message.
    ///
    /// # Errors
    /// [`WriteError::Closed`] if the session is closing; [`WriteError::SlowConsumer`]
    /// if the message would exceed the queue's byte bound — the session is then
    /// closed with [`CloseCode::SLOW_CONSUMER`].
    pub fn write(&self, text: impl Into<Text>) -> Result<(), WriteError> {
        self.push(Outgoing::Text(text.into()))
    }

    /// Queues a binary message. Errors as for [`Session::write`].
    ///
    /// # Errors
    /// See [`Session::write`].
    pub fn write_binary(&self, data: impl Into<Bytes>) -> Result<(), WriteError> {
        self.push(Outgoing::Binary(data.into()))
    }

    pub(crate) fn push(&self, msg: Outgoing) -> Result<(), WriteError> {
        let result = self.inner.outbound.push(msg);
        if result == Err(WriteError::SlowConsumer) {
            self.inner.hub.stats.record_slow_consumer();
            tracing::warn!(session = %self.id(), limit = self.inner.hub.config.max_queued_bytes,
                "closing slow consumer: outbound queue full");
        }
        result
    }

    /// Closes the session normally (1000) after everything already queued was sent.
    /// Idempotent: only the first close takes effect.
    pub fn close(&self) {
        self.close_with(CloseCode::NORMAL, "");
    }

    /// Closes the session with the given code and reason after everything already
    /// queued was sent. Idempotent.
    pub fn close_with(&self, code: impl Into<CloseCode>, reason: impl Into<String>) {
        self.inner
            .outbound
            .close(Closing::AfterDrain(CloseFrame::new(code, reason)));
    }

    /// Whether the session is closing or closed (no more writes are accepted).
    pub fn is_closed(&self) -> bool {
        self.inner.outbound.is_closed()
    }

    /// Payload bytes queued for this session and not yet written to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.inner.outbound.queued_bytes()
    }

    /// The peer's address, when known (see `Upgrade::remote_addr`).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.request.remote_addr
    }

    /// The full URI of the upgrade request.
    pub fn uri(&self) -> &Uri {
        &self.inner.request.uri
    }

    /// The path of the upgrade request.
    pub fn path(&self) -> &str {
        self.inner.request.uri.path()
    }

    /// The raw query string of the upgrade request.
    pub fn query(&self) -> Option<&str> {
        self.inner.request.uri.query()
    }

    /// The value of one query parameter (first occurrence, percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query()?.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The headers of the upgrade request.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.request.headers
    }

    /// The negotiated subprotocol, if any.
    pub fn subprotocol(&self) -> Option<&str> {
        self.inner.request.subprotocol.as_deref()
    }

    /// Stores a value under `key`, replacing any previous one.
    pub fn set<T: Any + Send + Sync>(&self, key: impl Into<String>, value: T) {
        lock(&self.inner.keys).insert(key.into(), Arc::new(value));
    }

    /// A clone of the value under `key`, if present and of type `T`.
    pub fn get<T: Any + Send + Sync + Clone>(&self, key: &str) -> Option<T> {
        lock(&self.inner.keys)
            .get(key)?
            .downcast_ref::<T>()
            .cloned()
    }

    /// Runs `f` on the value under `key` (if present and of type `T`) without cloning
    /// it. The state lock is held while `f` runs: keep `f` short and do not call other
    /// key methods of this session from it.
    pub fn with<T: Any + Send + Sync, R>(&self, key: &str, f: impl FnOnce(&T) -> R) -> Option<R> {
        lock(&self.inner.keys).get(key)?.downcast_ref::<T>().map(f)
    }

    /// Whether a value is stored under `key` (of any type).
    pub fn contains_key(&self, key: &str) -> bool {
        lock(&self.inner.keys).contains_key(key)
    }

    /// Removes the value under `key`; returns whether there was one.
    pub fn unset(&self, key: &str) -> bool {
        lock(&self.inner.keys).remove(key).is_some()
    }

    /// The keys currently set, in no particular order.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.inner.keys).keys().cloned().collect()
    }

    /// Joins a room (no-op if already a member or if the session is closed).
    /// Returns whether the session was added.
    pub fn join(&self, room: &str) -> bool {
        self.inner.hub.rooms.join(self, room)
    }

    /// Leaves a room; returns whether the session was a member. An empty room is
    /// removed from the hub.
    pub fn leave(&self, room: &str) -> bool {
        self.inner.hub.rooms.leave(self, room)
    }

    /// The rooms this session is in.
    pub fn rooms(&self) -> Vec<String> {
        lock(&self.inner.rooms)
            .iter()
            .map(|r| r.to_string())
            .collect()
    }

    pub(crate) fn room_list(&self) -> MutexGuard<'_, Vec<Arc<str>>> {
        lock(&self.inner.rooms)
    }
}

/// A session with an empty request, for unit tests of the connection loop.
#[cfg(test)]
pub(crate) fn test_session(hub: &crate::Hub) -> Session {
    let request = RequestInfo {
        uri: "/ws".parse().unwrap(),
        headers: HeaderMap::new(),
        remote_addr: None,
        subprotocol: None,
    };
    Session::new(
        hub.shared.next_id(),
        request,
        HashMap::new(),
        Arc::clone(&hub.shared),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_form_decoded() {
        let hub = crate::Hub::builder().build();
        let request = RequestInfo {
            uri: "/ws?a=a%20b+c&b=100%&c=%zz&d=caf%C3%A9&a=second"
                .parse()
                .unwrap(),
            headers: HeaderMap::new(),
            remote_addr: None,
            subprotocol: None,
        };
        let session = Session::new(
            hub.shared.next_id(),
            request,
            HashMap::new(),
            Arc::clone(&hub.shared),
        );
        assert_eq!(session.query_param("a").as_deref(), Some("a b c"));
        assert_eq!(session.query_param("b").as_deref(), Some("100%"));
        assert_eq!(session.query_param("c").as_deref(), Some("%zz"));
        assert_eq!(session.query_param("d").as_deref(), Some("café"));
        assert_eq!(session.query_param("missing"), None);
    }
}
