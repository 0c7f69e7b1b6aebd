//! The unidirectional WebSocket transport at `/connection/uni_websocket` (spec
//! §1.4). The client sends its JSON `ConnectRequest` as the first message (or in
//! the URL parameter `cf_connect`); from then on the server only sends bare JSON
//! pushes as text messages: the `connect` push first, empty pushes as pings, and
//! on close a disconnect push (unless `disable_disconnect_push`) followed by a
//! close frame carrying the code. With `join_push_messages` each batch goes out as
//! one message, pushes joined by `\n`. Later client messages are ignored.

use super::stream::{check_origin, upgrade_request};
use crate::config::UniWebsocketConfig;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chorus_node::{Disconnect, TransportInfo};
use chorus_node::{FrameIo, TransportError};
use chorus_protocol::{ConnectRequest, Protocol};
use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use std::time::Duration;

/// How long the peer has for its closing handshake.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// The upgrade handler.
pub async fn handler(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let cfg = state.config.uni_websocket.clone();
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
    let stale = state.node.config().client.stale_close_delay;
    let node = state.node;
    upgrade
        .max_message_size(cfg.message_size_limit)
        .max_frame_size(cfg.message_size_limit)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "uni_websocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let mut io = UniWsIo {
                socket,
                write_timeout: cfg.write_timeout.to_std().unwrap_or(Duration::from_secs(1)),
                cfg,
            };
            let connect = match from_query {
                Some(req) => req,
                None => match io.first_message(stale).await {
                    Ok(req) => req,
                    Err(d) => {
                        io.close(&d).await;
                        return;
                    }
                },
            };
            let mut transport =
                TransportInfo::unidirectional("uni_websocket", Protocol::Json, connect)
                    .with_request(request);
            if io.cfg.disable_disconnect_push {
                transport = transport.without_disconnect_push();
            }
            node.run_connection(transport, io).await;
        })
}

/// The engine's view of one unidirectional WebSocket.
struct UniWsIo {
    socket: WebSocket,
    cfg: UniWebsocketConfig,
    write_timeout: Duration,
}

impl std::fmt::Debug for UniWsIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UniWsIo")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl UniWsIo {
    /// Waits (at most `stale`) for the connect request message.
    async fn first_message(&mut self, stale: Duration) -> Result<ConnectRequest, Disconnect> {
        let read = async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => return Ok(Bytes::from(text)),
                    Some(Ok(Message::Binary(data))) => return Ok(data),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        return Err(Disconnect::CONNECTION_CLOSED);
                    }
                }
            }
        };
        let payload = tokio::time::timeout(stale, read)
            .await
            .map_err(|_| Disconnect::STALE)??;
        super::uni::parse_connect(&payload).map_err(|e| {
            tracing::debug!(error = %e, "bad uni_websocket connect request");
            Disconnect::BAD_REQUEST
        })
    }
}

impl FrameIo for UniWsIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        // Only the end of the connection matters; client messages are ignored.
        loop {
            match self.socket.next().await? {
                Ok(Message::Close(_)) => return None,
                Ok(_) => {}
                Err(e) => return Some(Err(TransportError(e.to_string()))),
            }
        }
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        let messages: Vec<Bytes> = if self.cfg.join_push_messages && frames.len() > 1 {
            let mut joined = BytesMut::new();
            for (i, frame) in frames.iter().enumerate() {
                if i > 0 {
                    joined.extend_from_slice(b"\n");
                }
                joined.extend_from_slice(frame);
            }
            vec![joined.freeze()]
        } else {
            frames.to_vec()
        };
        let socket = &mut self.socket;
        let write = async move {
            for message in messages {
                let text =
                    Utf8Bytes::try_from(message).map_err(|e| TransportError(e.to_string()))?;
                socket
                    .feed(Message::Text(text))
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
        let skip_handshake = self.cfg.disable_closing_handshake;
        let socket = &mut self.socket;
        let handshake = async move {
            if socket.send(Message::Close(frame)).await.is_err() || skip_handshake {
                return;
            }
            // Wait for the peer's close (or the end of the stream).
            while let Some(Ok(msg)) = socket.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, handshake).await;
    }
}
