//! Client transports.
//!
//! WebSocket is served by [`websocket`]; the HTTP-based transports (bidirectional
//! emulation over HTTP-streaming and SSE, and the unidirectional uni_websocket,
//! uni_sse and uni_http_stream) are mounted by [`routes`] when enabled, with the
//! CORS headers of [`cors`].

pub mod cors;
pub mod emulation;
pub mod http_stream;
pub mod origin;
pub mod sse;
pub mod stream;
pub mod uni;
pub mod uni_websocket;
pub mod websocket;

use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use chorus_node::TransportInfo;
use chorus_protocol::{Protocol, decode_commands};
use http::HeaderMap;
use stream::{Framing, Refused, StreamIo};
use tokio::sync::mpsc;

/// The routes of the enabled HTTP transports (none when all are disabled).
pub fn routes(app: &AppState) -> Router {
    let cfg = &app.config;
    let mut router = Router::new();
    if cfg.http_stream.enabled {
        router = router.route(
            &cfg.http_stream.handler_prefix,
            post(http_stream::handler).options(http_stream::preflight),
        );
    }
    if cfg.sse.enabled {
        router = router.route(
            &cfg.sse.handler_prefix,
            get(sse::handler).post(sse::handler),
        );
    }
    if cfg.http_stream.enabled || cfg.sse.enabled {
        router = router.route(
            &cfg.emulation.handler_prefix,
            post(emulation::handler).options(cors::emulation_preflight),
        );
    }
    if cfg.uni_websocket.enabled {
        router = router.route(
            &cfg.uni_websocket.handler_prefix,
            get(uni_websocket::handler),
        );
    }
    if cfg.uni_sse.enabled {
        router = router.route(
            &cfg.uni_sse.handler_prefix,
            get(uni::sse_handler).post(uni::sse_handler),
        );
    }
    if cfg.uni_http_stream.enabled {
        router = router.route(
            &cfg.uni_http_stream.handler_prefix,
            post(uni::http_stream_handler),
        );
    }
    cors::layer(router.with_state(app.clone()), &cfg.client.allowed_origins)
}

/// Starts an emulated session whose connect command(s) are `frame` and returns
/// the response body that streams its replies.
///
/// # Errors
/// [`Refused::BadRequest`] when `frame` holds no valid commands.
pub(crate) fn start_emulated(
    state: &AppState,
    name: &'static str,
    protocol: Protocol,
    framing: Framing,
    frame: Bytes,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Body, Refused> {
    match decode_commands(protocol, &frame) {
        Ok(commands) if !commands.is_empty() => {}
        Ok(_) => return Err(Refused::BadRequest("no commands".into())),
        Err(e) => return Err(Refused::BadRequest(e.to_string())),
    }
    let session = uuid::Uuid::new_v4().to_string();
    let (inbound_tx, inbound_rx) = mpsc::channel(emulation::INBOUND_CAPACITY);
    // The connect frame is the session's first inbound frame; cannot fail (new
    // channel with spare capacity).
    let _ = inbound_tx.try_send(frame);
    let guard = state.sessions.register(session.clone(), inbound_tx);
    let preamble: &'static [u8] = if framing == Framing::Sse {
        b"\r\n"
    } else {
        b""
    };
    let (io, body) = StreamIo::new(framing, preamble, Some(inbound_rx), Some(guard));
    let transport = TransportInfo::new(name, protocol)
        .with_session(session)
        .with_request(stream::upgrade_request(headers, query));
    state.node.serve(transport, io);
    Ok(body)
}
