//! The bidirectional WebSocket transport at `/connection/websocket` (spec §1.1–1.2).
//!
//! JSON by default; Protobuf when the client negotiates the `centrifuge-protobuf`
//! subprotocol or passes `?format=protobuf` / `?cf_protocol=protobuf`. JSON frames
//! travel as text messages, Protobuf as binary. A disconnect is delivered in the
//! close frame (code and reason), never as a push.

use crate::server::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chorus_node::{Disconnect, FrameIo, TransportError, TransportInfo};
use chorus_protocol::Protocol;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, StatusCode};
use std::time::Duration;

/// Query parameters the WebSocket endpoint understands.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct WsQuery {
    format: String,
    cf_protocol: String,
}

/// Default per-connection read buffer: small, so idle connections stay cheap.
const DEFAULT_READ_BUFFER: usize = 1024;

/// The upgrade handler.
pub async fn handler(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let cfg = &state.config;
    if !super::origin::origin_allowed(&cfg.client.allowed_origins, &headers) {
        tracing::info!(origin = ?headers.get(http::header::ORIGIN), "websocket origin refused");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let limit = usize::try_from(cfg.websocket.message_size_limit).unwrap_or(usize::MAX);
    let read_buffer = match usize::try_from(cfg.websocket.read_buffer_size).unwrap_or(0) {
        0 => DEFAULT_READ_BUFFER,
        n => n,
    };
    let upgrade = upgrade
        .protocols([Protocol::JSON_SUBPROTOCOL, Protocol::PROTOBUF_SUBPROTOCOL])
        .read_buffer_size(read_buffer)
        .max_message_size(limit)
        .max_frame_size(limit);
    let by_subprotocol = upgrade
        .selected_protocol()
        .is_some_and(|p| p == Protocol::PROTOBUF_SUBPROTOCOL);
    let by_query = query.format == "protobuf" || query.cf_protocol == "protobuf";
    let protocol = if by_subprotocol || by_query {
        Protocol::Protobuf
    } else {
        Protocol::Json
    };
    let write_timeout = cfg
        .websocket
        .write_timeout
        .to_std()
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(1));
    let node = state.node.clone();
    upgrade
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let io = WsIo {
                socket,
                protocol,
                write_timeout,
            };
            node.run_connection(TransportInfo::new("websocket", protocol), io)
                .await;
        })
}

/// The engine's view of one WebSocket.
struct WsIo {
    socket: WebSocket,
    protocol: Protocol,
    write_timeout: Duration,
}

/// Whether a read error means the message was over the size limit.
fn too_big(e: &axum::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::CapacityError;
    let inner: &(dyn std::error::Error + 'static) = e;
    let mut source = Some(inner);
    while let Some(err) = source {
        if let Some(WsError::Capacity(CapacityError::MessageTooLong { .. })) =
            err.downcast_ref::<WsError>()
        {
            return true;
        }
        source = err.source();
    }
    false
}

impl FrameIo for WsIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => return Some(Ok(Bytes::from(text))),
                Ok(Message::Binary(data)) => return Some(Ok(data)),
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(_)) => return None,
                Err(e) => {
                    if too_big(&e) {
                        // 1009: centrifuge-js treats it as "message size limit exceeded".
                        let frame = CloseFrame {
                            code: 1009,
                            reason: Utf8Bytes::from_static("message size limit exceeded"),
                        };
                        let _ = tokio::time::timeout(
                            self.write_timeout,
                            self.socket.send(Message::Close(Some(frame))),
                        )
                        .await;
                    }
                    return Some(Err(TransportError(e.to_string())));
                }
            }
        }
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        let protocol = self.protocol;
        let socket = &mut self.socket;
        let write = async move {
            for frame in frames {
                let msg = match protocol {
                    Protocol::Json => Message::Text(
                        Utf8Bytes::try_from(frame.clone())
                            .map_err(|e| TransportError(e.to_string()))?,
                    ),
                    Protocol::Protobuf => Message::Binary(frame.clone()),
                };
                socket
                    .feed(msg)
                    .await
                    .map_err(|e| TransportError(e.to_string()))?;
            }
            socket
                .flush()
                .await
                .map_err(|e| TransportError(e.to_string()))
        };
        tokio::time::timeout(self.write_timeout, write)
            .await
            .map_err(|_| TransportError("write timeout".into()))?
    }

    async fn close(&mut self, disconnect: &Disconnect) {
        // 3000 ("connection closed") is never sent in a frame (spec §3.3).
        let frame = (disconnect.code != Disconnect::CONNECTION_CLOSED.code).then(|| CloseFrame {
            code: u16::try_from(disconnect.code).unwrap_or(3000),
            reason: Utf8Bytes::from(disconnect.reason.as_ref()),
        });
        let handshake = async {
            self.socket.send(Message::Close(frame)).await.ok()?;
            // Wait for the peer's close (bounded below).
            while let Some(Ok(msg)) = self.socket.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
            Some(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), handshake).await;
    }
}
