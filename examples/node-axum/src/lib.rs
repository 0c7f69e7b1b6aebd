//! The app behind `example-node-axum`: a Centrifugo-compatible chat backend made
//! by embedding [`chorus_node::Node`] in an axum router.
//!
//! - `GET /connection/websocket`: the Centrifugo client protocol (JSON or
//!   Protobuf), served by [`chorus_node::websocket::accept_websocket`].
//! - `POST /publish` with `{"channel": "chat:room", "data": {...}}`: the app's own
//!   backend endpoint, publishing through [`Node::publish`]. (A real app would
//!   authenticate it.)
//!
//! The hooks are the app's policy:
//!
//! - connecting: the user comes from the WebSocket upgrade request — a
//!   `session=<name>` cookie, else a `?user=<name>` query parameter — or, for SDKs
//!   that cannot set either, from connect data `{"user": "<name>"}` (a demo rule in
//!   place of real session lookup; names are 1–32 of `a-z0-9_-`); otherwise the
//!   connection is closed with 4501 "unauthorized" (terminal: SDKs do not
//!   reconnect);
//! - subscribe: `chat:*` channels only (103 elsewhere);
//! - publish: `chat:*` only; the payload must be `{"text": "..."}` with 1–1000
//!   characters after trimming (107 otherwise) and is rewritten to
//!   `{"user": "<sender>", "text": "<trimmed>"}`;
//! - RPC: `time` answers `{"unix_ms": <server time>}`, other methods get 104;
//! - disconnect: logged.

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use chorus_node::websocket::{WebSocketOptions, accept_websocket};
use chorus_node::{
    ChannelOptions, ClientError, ConnectGrant, ConnectingEvent, Disconnect, HandlerError, Node,
    NodeConfig, PublishEvent, PublishReply, RpcEvent, SubscribeEvent, SubscribeReply,
};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Channels clients may use: `chat:<room>`.
pub const CHAT_PREFIX: &str = "chat:";
/// Longest chat message, in characters.
pub const MAX_TEXT: usize = 1000;
/// The disconnect for connections that do not say who they are.
pub const UNAUTHORIZED: Disconnect = Disconnect {
    code: 4501,
    reason: Cow::Borrowed("unauthorized"),
};

/// The engine configuration: one `chat` namespace with presence and a short
/// recoverable history.
pub fn config() -> NodeConfig {
    let mut chat = ChannelOptions::default();
    chat.presence = true;
    chat.join_leave = true;
    chat.history_size = 100;
    chat.history_ttl = Duration::from_secs(300);
    chat.allow_recovery = true;
    chat.allow_positioning = true;
    chat.allow_history_for_subscriber = true;
    chat.allow_presence_for_subscriber = true;
    let mut config = NodeConfig::default();
    config
        .channels
        .namespaces
        .insert("chat".into(), Arc::new(chat));
    config
}

/// Builds the node with the app's hooks.
pub fn node() -> Node {
    Node::builder(config())
        .on_connecting(|event| async move { connecting(&event) })
        .on_subscribe(|event| async move { subscribe(&event) })
        .on_publish(|event| async move { publish(&event) })
        .on_rpc(|event| async move { rpc(&event) })
        .on_disconnect(|event| async move {
            tracing::info!(
                user = %event.client.user,
                client = %event.client.client,
                code = event.disconnect.code,
                reason = %event.disconnect.reason,
                "client disconnected"
            );
        })
        .build()
}

fn valid_user(user: &str) -> bool {
    (1..=32).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The `session` cookie's value, if any.
fn session_cookie(cookies: &str) -> Option<String> {
    cookies.split(';').find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == "session").then(|| value.to_owned())
    })
}

fn connecting(event: &ConnectingEvent) -> Result<ConnectGrant, HandlerError> {
    let from_request = event.request.as_ref().and_then(|r| {
        r.header("cookie")
            .and_then(session_cookie)
            .or_else(|| r.query_param("user"))
    });
    let from_data = || {
        serde_json::from_slice::<serde_json::Value>(&event.data)
            .ok()
            .and_then(|v| v.get("user")?.as_str().map(str::to_owned))
    };
    let user = from_request
        .or_else(from_data)
        .filter(|u| valid_user(u))
        .ok_or(HandlerError::Disconnect(UNAUTHORIZED))?;
    tracing::info!(%user, client = %event.client.client, "client connecting");
    let mut grant = ConnectGrant::user(user.clone());
    // Connection info, shown to other clients in presence and publications.
    grant.info = Bytes::from(serde_json::json!({ "name": user }).to_string());
    Ok(grant)
}

fn subscribe(event: &SubscribeEvent) -> Result<SubscribeReply, HandlerError> {
    if event.channel.starts_with(CHAT_PREFIX) {
        Ok(SubscribeReply::default())
    } else {
        Err(ClientError::PermissionDenied.into())
    }
}

fn publish(event: &PublishEvent) -> Result<PublishReply, HandlerError> {
    if !event.channel.starts_with(CHAT_PREFIX) {
        return Err(ClientError::PermissionDenied.into());
    }
    let text = serde_json::from_slice::<serde_json::Value>(&event.data)
        .ok()
        .and_then(|v| v.get("text")?.as_str().map(|t| t.trim().to_owned()))
        .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TEXT)
        .ok_or(ClientError::BadRequest)?;
    let mut reply = PublishReply::default();
    reply.data = Some(Bytes::from(
        serde_json::json!({ "user": event.client.user, "text": text }).to_string(),
    ));
    Ok(reply)
}

fn rpc(event: &RpcEvent) -> Result<Bytes, HandlerError> {
    match event.method.as_str() {
        "time" => {
            let unix_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            Ok(Bytes::from(
                serde_json::json!({ "unix_ms": unix_ms }).to_string(),
            ))
        }
        _ => Err(ClientError::MethodNotFound.into()),
    }
}

async fn websocket(
    State(node): State<Node>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Browsers: check the `Origin` header here before accepting.
    let options = WebSocketOptions::default().message_size_limit(16 * 1024);
    accept_websocket(&node, upgrade, &headers, query.as_deref(), &options)
}

/// Body of `POST /publish`.
#[derive(Debug, serde::Deserialize)]
pub struct PublishBody {
    /// Channel to publish to.
    pub channel: String,
    /// Any JSON, delivered as is.
    pub data: Box<RawValue>,
}

async fn publish_endpoint(State(node): State<Node>, Json(body): Json<PublishBody>) -> Response {
    let data = Bytes::from(body.data.get().to_owned());
    match node.publish(&body.channel, data, Default::default()).await {
        Ok(pos) => {
            Json(serde_json::json!({ "offset": pos.offset, "epoch": pos.epoch })).into_response()
        }
        Err(e) => (
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            Json(serde_json::json!({ "error": { "code": e.code(), "message": e.to_string() } })),
        )
            .into_response(),
    }
}

/// The app's routes.
pub fn app(node: Node) -> Router {
    Router::new()
        .route("/connection/websocket", get(websocket))
        .route("/publish", post(publish_endpoint))
        .with_state(node)
}
