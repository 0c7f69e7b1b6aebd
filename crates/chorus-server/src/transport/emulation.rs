//! The emulation endpoint (`POST /emulation`, spec §1.3): client-to-server commands
//! of emulated (HTTP-streaming and SSE) sessions.
//!
//! The body is an `EmulationRequest {node, session, data}` (Protobuf when the
//! content type is `application/octet-stream`, JSON otherwise). The session
//! registry maps a session id to the inbound channel of the connection that owns
//! it; the commands are handed to that connection's task, which handles them in
//! order like any other frame. Answers: 204 delivered (and to the `OPTIONS`
//! preflight), 400 malformed, 404 unknown node or session, 405 other methods, 413
//! body over `emulation.max_request_body_size`.
//!
//! On several nodes a request may reach a node that does not own the session
//! (a load balancer without sticky sessions): it is forwarded through the
//! broker to the node named in the request (the `node` of the connect result)
//! and answered 204 once sent; 404 when no live node has that id, 503 when the
//! broker cannot carry it. The owning node hands the commands to the session in
//! the order they arrive.

use super::stream::{Refused, check_origin, is_protobuf, read_body};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chorus_protocol::{Protocol, decode_emulation_request};
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;

/// Command frames buffered per session before the poster waits.
pub const INBOUND_CAPACITY: usize = 32;

/// Takes commands forwarded by other nodes for this node's sessions.
///
/// Called on the broker's receive path, so it never waits, and it holds nothing
/// per frame: a session whose inbound buffer ([`INBOUND_CAPACITY`] frames) is
/// full is that far behind its client, so it is unregistered. It still handles
/// the frames already queued, then its connection ends (the client reconnects
/// and recovers), and later requests for it get 404. Frames for sessions that are
/// gone are dropped (the client reconnects, as with a 404).
pub fn forwarded_sink(sessions: Arc<Sessions>) -> chorus_node::EmulationSink {
    Arc::new(move |session: &str, frame: Bytes| {
        let Some(inbound) = sessions.get(session) else {
            tracing::debug!(
                session,
                "forwarded emulation request for an unknown session"
            );
            return;
        };
        match inbound.try_send(frame) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(
                    session,
                    capacity = INBOUND_CAPACITY,
                    "emulation session too far behind its forwarded commands; ending it"
                );
                sessions.lock().remove(session);
            }
        }
    })
}

/// Emulated sessions of this node.
#[derive(Debug, Default)]
pub struct Sessions {
    // std Mutex: held only to insert, remove or clone a sender, never across
    // `.await`.
    map: Mutex<HashMap<String, mpsc::Sender<Bytes>>>,
}

impl Sessions {
    /// Registers a session; it stays until the returned guard is dropped.
    pub fn register(self: &Arc<Self>, id: String, inbound: mpsc::Sender<Bytes>) -> SessionGuard {
        self.lock().insert(id.clone(), inbound);
        SessionGuard {
            sessions: Arc::clone(self),
            id,
        }
    }

    /// The inbound channel of a session.
    pub fn get(&self, id: &str) -> Option<mpsc::Sender<Bytes>> {
        self.lock().get(id).cloned()
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are no live sessions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Bytes>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps a session registered; dropping it (when the connection ends) removes it.
#[derive(Debug)]
pub struct SessionGuard {
    sessions: Arc<Sessions>,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

/// `POST /emulation`.
pub async fn handler(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match deliver(&state, &headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refused) => refused.into_response(),
    }
}

async fn deliver(state: &AppState, headers: &HeaderMap, body: Body) -> Result<(), Refused> {
    let cfg = &state.config;
    check_origin(&cfg.client.allowed_origins, headers)?;
    let body = read_body(body, cfg.emulation.max_request_body_size).await?;
    let protocol = if is_protobuf(headers) {
        Protocol::Protobuf
    } else {
        Protocol::Json
    };
    let req = decode_emulation_request(protocol, &body)
        .map_err(|e| Refused::BadRequest(e.to_string()))?;
    let frame = req
        .commands_frame(protocol)
        .map_err(|e| Refused::BadRequest(e.to_string()))?;
    if frame.is_empty() {
        return Err(Refused::BadRequest("no commands".into()));
    }
    let node = &state.node;
    if req.node != node.info().uid {
        return node
            .forward_emulation(&req.node, &req.session, &frame)
            .await
            .map_err(|e| match e {
                chorus_node::ApiError::NotFound => Refused::NotFound("unknown node"),
                _ => Refused::Unavailable,
            });
    }
    let inbound = state
        .sessions
        .get(&req.session)
        .ok_or(Refused::NotFound("unknown session"))?;
    inbound
        .send(frame)
        .await
        .map_err(|_| Refused::NotFound("unknown session"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_session_is_ended_instead_of_a_task_per_frame() {
        let sessions = Arc::new(Sessions::default());
        let (tx, mut rx) = mpsc::channel(INBOUND_CAPACITY);
        let _guard = sessions.register("s".into(), tx);
        let sink = forwarded_sink(Arc::clone(&sessions));
        for i in 0..INBOUND_CAPACITY {
            sink("s", Bytes::from(i.to_string()));
        }
        assert!(sessions.get("s").is_some());
        // One frame too many: the session is unregistered, nothing waits.
        sink("s", Bytes::from_static(b"over"));
        assert!(sessions.get("s").is_none());
        drop(sink);
        // The queued frames are still handled, then the inbound channel ends.
        let mut got = 0;
        while let Some(frame) = rx.recv().await {
            assert_ne!(&frame[..], b"over");
            got += 1;
        }
        assert_eq!(got, INBOUND_CAPACITY);
    }
}
