//! The unidirectional WebSocket transport at `/connection/uni_websocket` (spec
//! §1.4), served by the engine's WebSocket transport in unidirectional mode
//! ([`chorus_node::websocket::accept_uni_websocket`]). This handler checks the
//! origin, takes the connect request from the URL parameter `cf_connect` when
//! present (otherwise the engine reads the first message), and maps the
//! `uni_websocket` section to the transport's options.

use super::stream::{check_origin, upgrade_request};
use crate::state::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chorus_node::websocket::{UniWebSocketOptions, accept_uni_websocket};
use http::HeaderMap;
use std::time::Duration;

/// The upgrade handler.
pub async fn handler(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let cfg = &state.config.uni_websocket;
    if let Err(refused) = check_origin(&state.config.client.allowed_origins, &headers) {
        return refused.into_response();
    }
    let request = upgrade_request(&headers, query.as_deref());
    // `cf_connect` (since Centrifugo v6.3.0) saves the first message.
    let from_query = match request.query_param("cf_connect") {
        Some(payload) => match super::uni::parse_connect(payload.as_bytes()) {
            Ok(req) => Some(req),
            Err(refused) => return refused.into_response(),
        },
        None => None,
    };
    let options = UniWebSocketOptions::default()
        .message_size_limit(cfg.message_size_limit)
        .write_timeout(cfg.write_timeout.to_std().unwrap_or(Duration::from_secs(1)))
        .join_push_messages(cfg.join_push_messages)
        .disconnect_push(!cfg.disable_disconnect_push)
        .closing_handshake(!cfg.disable_closing_handshake);
    accept_uni_websocket(&state.node, upgrade, request, from_query, &options)
}
