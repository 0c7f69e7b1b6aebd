//! The unidirectional mode of the WebSocket transport (Centrifugo's
//! `uni_websocket`, spec §1.4). The client sends its JSON `ConnectRequest` as the
//! first message (or the app takes it from the URL); from then on the server only
//! sends bare JSON pushes as text messages: the `connect` push first, empty
//! pushes as pings, and on close a disconnect push (unless turned off) followed
//! by a close frame carrying the code. Later client messages are ignored.

use super::io::{Mode, WsIo};
use crate::client::{TransportInfo, UpgradeRequest, parse_uni_connect};
use crate::error::Disconnect;
use crate::node::Node;
use crate::transport::FrameIo;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use chorus_protocol::{ConnectRequest, Protocol};
use futures_util::StreamExt;
use std::time::Duration;

/// Options of the unidirectional WebSocket transport.
///
/// ```
/// use chorus_node::websocket::UniWebSocketOptions;
///
/// let options = UniWebSocketOptions::default().join_push_messages(true);
/// assert!(options.join_push_messages);
/// assert!(options.disconnect_push && options.closing_handshake);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UniWebSocketOptions {
    /// Largest inbound message (the connect request) and frame in bytes. Default
    /// 65536.
    pub message_size_limit: usize,
    /// Longest time one write (a batch and its flush) may take before the
    /// connection is dropped. Default 1 s.
    pub write_timeout: Duration,
    /// Send the pushes of one batch as one message, joined by `\n`. Default off.
    pub join_push_messages: bool,
    /// Send a disconnect push before closing (the close frame carries the code
    /// either way). Default on.
    pub disconnect_push: bool,
    /// Wait (at most 1 s) for the peer's closing handshake. Default on.
    pub closing_handshake: bool,
}

impl Default for UniWebSocketOptions {
    fn default() -> Self {
        Self {
            message_size_limit: 65536,
            write_timeout: Duration::from_secs(1),
            join_push_messages: false,
            disconnect_push: true,
            closing_handshake: true,
        }
    }
}

impl UniWebSocketOptions {
    /// Sets [`message_size_limit`](Self::message_size_limit).
    #[must_use]
    pub fn message_size_limit(mut self, bytes: usize) -> Self {
        self.message_size_limit = bytes;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`join_push_messages`](Self::join_push_messages).
    #[must_use]
    pub fn join_push_messages(mut self, on: bool) -> Self {
        self.join_push_messages = on;
        self
    }

    /// Sets [`disconnect_push`](Self::disconnect_push).
    #[must_use]
    pub fn disconnect_push(mut self, on: bool) -> Self {
        self.disconnect_push = on;
        self
    }

    /// Sets [`closing_handshake`](Self::closing_handshake).
    #[must_use]
    pub fn closing_handshake(mut self, on: bool) -> Self {
        self.closing_handshake = on;
        self
    }
}

/// Accepts a WebSocket upgrade as a unidirectional client connection of `node`.
///
/// `connect` is the client's connect request when the opening request carried
/// it (Centrifugo's `cf_connect` URL parameter); otherwise the first message is
/// read as one (JSON; empty means an empty request), and a client that sends
/// none within `client.stale_close_delay` is closed with 3502. `request` is
/// handed to the connecting hook. Origin checks are the caller's.
pub fn accept_uni_websocket(
    node: &Node,
    upgrade: WebSocketUpgrade,
    request: UpgradeRequest,
    connect: Option<ConnectRequest>,
    options: &UniWebSocketOptions,
) -> Response {
    let options = options.clone();
    let stale = node.config().client.stale_close_delay;
    let node = node.clone();
    upgrade
        .max_message_size(options.message_size_limit)
        .max_frame_size(options.message_size_limit)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "uni_websocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let mut io = WsIo {
                socket,
                protocol: Protocol::Json,
                write_timeout: options.write_timeout,
                mode: Mode::Unidirectional {
                    join_push_messages: options.join_push_messages,
                    closing_handshake: options.closing_handshake,
                },
            };
            let connect = match connect {
                Some(req) => req,
                None => match first_message(&mut io, stale).await {
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
            if !options.disconnect_push {
                transport = transport.without_disconnect_push();
            }
            node.run_connection(transport, io).await;
        })
}

/// Waits (at most `stale`) for the connect request message.
async fn first_message(io: &mut WsIo, stale: Duration) -> Result<ConnectRequest, Disconnect> {
    let read = async {
        loop {
            match io.socket.next().await {
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
    parse_uni_connect(&payload).map_err(|e| {
        tracing::debug!(error = %e, "bad uni_websocket connect request");
        Disconnect::BAD_REQUEST
    })
}
