//! HTTP-streaming, the bidirectional emulation used by centrifuge-js (spec §1.3):
//! `POST /connection/http_stream` with the connect command(s) as the body
//! (`Content-Type: application/octet-stream` → Protobuf, otherwise JSON); the
//! response is a never-ending body of replies, JSON lines or varint-delimited
//! Protobuf. Later commands arrive through the emulation endpoint.

use super::stream::{Framing, Refused, check_origin, is_protobuf, read_body};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chorus_protocol::Protocol;
use http::{HeaderMap, StatusCode};

/// `POST` (and `OPTIONS` preflight, answered 204).
pub async fn handler(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match start(&state, query.as_deref(), &headers, body).await {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

/// CORS preflight: 204, like Centrifugo.
pub async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn start(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let cfg = &state.config;
    check_origin(&cfg.client.allowed_origins, headers)?;
    let frame = read_body(body, cfg.http_stream.max_request_body_size).await?;
    let (protocol, framing, content_type) = if is_protobuf(headers) {
        (
            Protocol::Protobuf,
            Framing::Delimited,
            "application/octet-stream",
        )
    } else {
        (Protocol::Json, Framing::JsonLines, "application/json")
    };
    let body = super::start_emulated(
        state,
        "http_stream",
        protocol,
        framing,
        frame,
        headers,
        query,
    )?;
    Ok(super::stream::streaming_response(content_type, body))
}
