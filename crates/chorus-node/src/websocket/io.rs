//! The WebSocket under a connection, in either mode: bidirectional (the
//! Centrifugo WebSocket transport) or unidirectional (`uni_websocket`).

use crate::error::Disconnect;
use crate::transport::{FrameIo, TransportError};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::{Bytes, BytesMut};
use chorus_protocol::Protocol;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;

/// How long [`FrameIo::close`] waits for the peer's closing handshake.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a socket is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Commands in, replies and pushes out; oversized messages close with 1009.
    Bidirectional,
    /// Only the end of the connection is read (client messages are ignored);
    /// bare JSON pushes go out.
    Unidirectional {
        /// Send a batch as one message, pushes joined by `\n`.
        join_push_messages: bool,
        /// Wait for the peer's closing handshake.
        closing_handshake: bool,
    },
}

/// The engine's view of one WebSocket.
pub(super) struct WsIo {
    pub(super) socket: WebSocket,
    pub(super) protocol: Protocol,
    pub(super) write_timeout: Duration,
    pub(super) mode: Mode,
}

impl std::fmt::Debug for WsIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsIo")
            .field("protocol", &self.protocol)
            .field("write_timeout", &self.write_timeout)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The close frame a read error calls for: 1009 for a message over the size
/// limit (centrifuge-js treats it as "message size limit exceeded"), 1002 for a
/// protocol violation (unmasked frame, reserved bits or opcode, oversized or
/// fragmented control frame), 1007 for a text message that is not UTF-8. `None`
/// when the peer is gone (nothing to tell it) or for I/O errors.
///
/// Without the frame the client sees a bare TCP close (1006) and reconnects at
/// once, as after a network failure; Centrifugo (gorilla/websocket) sends one.
fn close_for(e: &axum::Error) -> Option<CloseFrame> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
    let inner: &(dyn std::error::Error + 'static) = e;
    let mut source = Some(inner);
    while let Some(err) = source {
        if let Some(ws) = err.downcast_ref::<WsError>() {
            let (code, reason) = match ws {
                WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
                    (1009, "message size limit exceeded")
                }
                WsError::Utf8(_) => (1007, "invalid UTF-8 in a text message"),
                WsError::Protocol(
                    ProtocolError::ResetWithoutClosingHandshake
                    | ProtocolError::SendAfterClosing
                    | ProtocolError::ReceivedAfterClosing,
                ) => return None,
                WsError::Protocol(_) => (1002, "protocol error"),
                _ => return None,
            };
            return Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            });
        }
        source = err.source();
    }
    None
}

impl WsIo {
    /// Tells the peer why its input ended the connection, when a close frame
    /// applies (see [`close_for`]); bounded by the write timeout.
    async fn refuse(&mut self, e: &axum::Error) {
        if let Some(frame) = close_for(e) {
            let _ = tokio::time::timeout(
                self.write_timeout,
                self.socket.send(Message::Close(Some(frame))),
            )
            .await;
        }
    }
}

impl FrameIo for WsIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        if let Mode::Unidirectional { .. } = self.mode {
            // Only the end of the connection matters; client messages are ignored.
            loop {
                match self.socket.next().await? {
                    Ok(Message::Close(_)) => return None,
                    Ok(_) => {}
                    Err(e) => {
                        self.refuse(&e).await;
                        return Some(Err(TransportError(e.to_string())));
                    }
                }
            }
        }
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => return Some(Ok(Bytes::from(text))),
                Ok(Message::Binary(data)) => return Some(Ok(data)),
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(_)) => return None,
                Err(e) => {
                    self.refuse(&e).await;
                    return Some(Err(TransportError(e.to_string())));
                }
            }
        }
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        let joined;
        let frames = match self.mode {
            Mode::Unidirectional {
                join_push_messages: true,
                ..
            } if frames.len() > 1 => {
                joined = [join_lines(frames)];
                &joined[..]
            }
            _ => frames,
        };
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
        let skip_handshake = matches!(
            self.mode,
            Mode::Unidirectional {
                closing_handshake: false,
                ..
            }
        );
        let handshake = async {
            if self.socket.send(Message::Close(frame)).await.is_err() || skip_handshake {
                return;
            }
            // Wait for the peer's close (bounded below).
            while let Some(Ok(msg)) = self.socket.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, handshake).await;
    }
}

/// One message of `frames` joined by `\n` (uni_websocket `join_push_messages`).
fn join_lines(frames: &[Bytes]) -> Bytes {
    let mut joined = BytesMut::new();
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b"\n");
        }
        joined.extend_from_slice(frame);
    }
    joined.freeze()
}
