//! An application backend for chorus's proxy hooks (Centrifugo's proxy
//! protocol over HTTP): chorus asks it whether a connection may connect and
//! whether a client may subscribe, and it answers from its own sessions.
//!
//! * `POST /centrifugo/connect`: the `session` cookie of the browser's WebSocket
//!   request (forwarded because `config.json` lists `Cookie` in `http_headers`)
//!   names a session; the session's user is the connection's user. No or an
//!   unknown session: error 1401, which the SDK reports as a disconnect.
//! * `POST /centrifugo/subscribe`: `personal:<user>` only for that user,
//!   `rooms:<name>` for every signed-in user; anything else error 1403.
//!
//! Sessions are a fixed map here; a real application would look them up in its
//! own store.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Session cookie values and the users they belong to.
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<HashMap<String, String>>);

impl Sessions {
    /// Sessions from `(cookie value, user)` pairs.
    pub fn new<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// The user of the `session` cookie in a `Cookie` header, if any.
    pub fn user_of(&self, cookie_header: &str) -> Option<&str> {
        cookie_header
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == "session")
            .and_then(|(_, v)| self.0.get(v))
            .map(String::as_str)
    }
}

/// The fields of Centrifugo's subscribe proxy request this backend reads.
#[derive(Debug, Deserialize)]
struct SubscribeRequest {
    #[serde(default)]
    user: String,
    channel: String,
}

/// The backend's routes.
pub fn app(sessions: Sessions) -> Router {
    Router::new()
        .route("/centrifugo/connect", post(connect))
        .route("/centrifugo/subscribe", post(subscribe))
        .with_state(sessions)
}

async fn connect(State(sessions): State<Sessions>, headers: HeaderMap) -> Json<Value> {
    let cookie = headers
        .get(http::header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Json(match sessions.user_of(cookie) {
        Some(user) => json!({"result": {"user": user, "data": {"welcome": user}}}),
        None => json!({"error": {"code": 1401, "message": "not signed in"}}),
    })
}

/// Whether `user` may subscribe to `channel`.
pub fn may_subscribe(user: &str, channel: &str) -> bool {
    if user.is_empty() {
        return false;
    }
    if let Some(owner) = channel.strip_prefix("personal:") {
        return owner == user;
    }
    channel.starts_with("rooms:")
}

async fn subscribe(Json(req): Json<SubscribeRequest>) -> Json<Value> {
    Json(if may_subscribe(&req.user, &req.channel) {
        json!({"result": {}})
    } else {
        json!({"error": {"code": 1403, "message": "not allowed in this channel"}})
    })
}
