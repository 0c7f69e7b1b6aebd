//! The bidirectional WebSocket transport at `/connection/websocket` (spec §1.1–1.2).
//!
//! A thin handler: it checks the `Origin` against `client.allowed_origins`, maps
//! the `websocket` config section to [`WebSocketOptions`], and hands the upgrade to
//! [`chorus_node::websocket::accept_websocket`], which negotiates JSON / Protobuf,
//! applies the limits and runs the connection.

use crate::config::WebsocketConfig;
use crate::state::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chorus_node::websocket::{WebSocketOptions, accept_websocket};
use http::{HeaderMap, StatusCode};

/// The upgrade handler.
pub async fn handler(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let cfg = &state.config;
    if !super::origin::origin_allowed(&cfg.client.allowed_origins, &headers) {
        tracing::info!(origin = ?headers.get(http::header::ORIGIN), "websocket origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    accept_websocket(
        &state.node,
        upgrade,
        &headers,
        query.as_deref(),
        &options(&cfg.websocket),
    )
}

/// The transport limits from the `websocket` config section; zero read buffer
/// and write timeout mean "transport default".
pub fn options(cfg: &WebsocketConfig) -> WebSocketOptions {
    let mut options = WebSocketOptions::default()
        .message_size_limit(usize::try_from(cfg.message_size_limit).unwrap_or(usize::MAX));
    if let Ok(n @ 1..) = usize::try_from(cfg.read_buffer_size) {
        options = options.read_buffer_size(n);
    }
    if let Some(timeout) = cfg.write_timeout.to_std().filter(|d| !d.is_zero()) {
        options = options.write_timeout(timeout);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn config_maps_to_options() {
        let defaults = options(&WebsocketConfig::default());
        assert_eq!(defaults.read_buffer_size, 1024);
        assert_eq!(defaults.message_size_limit, 65536);
        assert_eq!(defaults.write_timeout, Duration::from_secs(1));

        let cfg = WebsocketConfig {
            read_buffer_size: 4096,
            message_size_limit: 100,
            ..WebsocketConfig::default()
        };
        let o = options(&cfg);
        assert_eq!((o.read_buffer_size, o.message_size_limit), (4096, 100));
    }
}
