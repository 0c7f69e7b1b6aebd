//! What the HTTP streaming transports share: a [`FrameIo`] whose output is a
//! streaming response body, request-to-engine helpers, and body limits.
//!
//! The connection task writes each batch into a small bounded channel; the
//! response body is the channel's receiving end. When the client goes away hyper
//! drops the body, the channel closes, and `read_frame` reports the end. A client
//! that reads too slowly blocks the channel; after [`WRITE_TIMEOUT`] the write fails
//! and the engine ends the connection (3009), so a stuck client cannot pin its
//! connection task forever (its outbound queue meanwhile enforces the 3008 bound).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use chorus_node::{Disconnect, UpgradeRequest};
use chorus_node::{FrameIo, TransportError};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one batch may wait for a slow HTTP client.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Batches buffered between the connection task and the response body.
const BODY_CHANNEL_CAPACITY: usize = 16;

/// How encoded messages are laid out in the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// JSON, each message followed by `\n` (HTTP-streaming).
    JsonLines,
    /// Protobuf, messages already varint-delimited (HTTP-streaming).
    Delimited,
    /// Server-Sent Events: `data: <json>\n\n` per message.
    Sse,
}

impl Framing {
    /// Appends one encoded message to `out`.
    pub fn append(self, out: &mut BytesMut, message: &[u8]) {
        match self {
            Self::JsonLines => {
                out.extend_from_slice(message);
                out.extend_from_slice(b"\n");
            }
            Self::Delimited => out.extend_from_slice(message),
            Self::Sse => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(message);
                out.extend_from_slice(b"\n\n");
            }
        }
    }
}

/// The engine's view of one streaming HTTP response.
#[derive(Debug)]
pub struct StreamIo {
    framing: Framing,
    // `None` once closed: dropping the sender ends the response body.
    out: Option<mpsc::Sender<Bytes>>,
    // Emulated sessions: command frames posted to the emulation endpoint.
    inbound: Option<mpsc::Receiver<Bytes>>,
    // Removes the emulation session when the connection ends.
    session: Option<super::emulation::SessionGuard>,
}

impl StreamIo {
    /// A stream and the response that carries it. `preamble` is written first
    /// (SSE starts with `\r\n`). `inbound` feeds commands (emulated sessions);
    /// `session` is dropped with the connection.
    pub fn new(
        framing: Framing,
        preamble: &'static [u8],
        inbound: Option<mpsc::Receiver<Bytes>>,
        session: Option<super::emulation::SessionGuard>,
    ) -> (Self, Body) {
        let (tx, rx) = mpsc::channel::<Bytes>(BODY_CHANNEL_CAPACITY);
        if !preamble.is_empty() {
            // Cannot fail: the channel is new and empty.
            let _ = tx.try_send(Bytes::from_static(preamble));
        }
        let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
        }));
        let io = Self {
            framing,
            out: Some(tx),
            inbound,
            session,
        };
        (io, body)
    }
}

impl FrameIo for StreamIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        let out = self.out.as_ref()?;
        match &mut self.inbound {
            // Both branches are cancel-safe.
            Some(rx) => tokio::select! {
                frame = rx.recv() => frame.map(Ok),
                () = out.closed() => None,
            },
            None => {
                out.closed().await;
                None
            }
        }
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        let Some(out) = &self.out else {
            return Err(TransportError("stream closed".into()));
        };
        let mut buf = BytesMut::with_capacity(frames.iter().map(|f| f.len() + 8).sum());
        for frame in frames {
            self.framing.append(&mut buf, frame);
        }
        match tokio::time::timeout(WRITE_TIMEOUT, out.send(buf.freeze())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(TransportError("client went away".into())),
            Err(_) => Err(TransportError("write timeout".into())),
        }
    }

    async fn close(&mut self, _disconnect: &Disconnect) {
        // The engine already wrote the disconnect push; ending the body is all.
        self.out = None;
        self.inbound = None;
        self.session = None;
    }
}

/// The request as the connecting hook sees it: lower-cased header names,
/// repeated headers joined with `", "`, and the raw query.
pub fn upgrade_request(headers: &HeaderMap, query: Option<&str>) -> UpgradeRequest {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        if let Ok(value) = value.to_str() {
            map.entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
    }
    UpgradeRequest::new(map, query.unwrap_or_default())
}

/// Whether the body is Protobuf (`Content-Type: application/octet-stream`).
pub fn is_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/octet-stream"))
}

/// Why a request was refused before a connection started.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// `Origin` not in `client.allowed_origins` (403).
    #[error("origin not allowed")]
    Origin,
    /// Body over the configured limit (413).
    #[error("request body too large")]
    TooLarge,
    /// Malformed request (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Unknown emulation node or session (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// The request could not be forwarded to the node owning the session (503).
    #[error("cannot reach the session's node")]
    Unavailable,
    /// The body did not arrive in time (408, see [`crate::http_serve`]).
    #[error("request body not received in time")]
    BodyTimeout,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::Origin => StatusCode::FORBIDDEN,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        };
        tracing::debug!(status = status.as_u16(), reason = %self, "transport request refused");
        (status, self.to_string()).into_response()
    }
}

/// Checks the `Origin` header like the WebSocket handler does.
///
/// # Errors
/// [`Refused::Origin`].
pub fn check_origin(allowed: &[String], headers: &HeaderMap) -> Result<(), Refused> {
    if super::origin::origin_allowed(allowed, headers) {
        Ok(())
    } else {
        Err(Refused::Origin)
    }
}

/// Reads a whole body of at most `limit` bytes.
///
/// # Errors
/// [`Refused::TooLarge`] over the limit, [`Refused::BodyTimeout`] past the body's
/// deadline, [`Refused::BadRequest`] when reading fails otherwise.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refused> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            let e = e.into_inner();
            if e.is::<crate::http_serve::BodyTimeout>() {
                Refused::BodyTimeout
            } else {
                Refused::BadRequest(e.to_string())
            }
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(Refused::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A streaming response with the headers every streaming transport sends.
pub fn streaming_response(content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, no-store, must-revalidate, max-age=0"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("0"));
    // Tell buffering proxies (nginx) to pass messages through at once.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framings() {
        let mut buf = BytesMut::new();
        Framing::JsonLines.append(&mut buf, b"{}");
        Framing::Sse.append(&mut buf, b"{\"a\":1}");
        Framing::Delimited.append(&mut buf, &[0]);
        assert_eq!(&buf[..], b"{}\ndata: {\"a\":1}\n\n\0");
    }
}
