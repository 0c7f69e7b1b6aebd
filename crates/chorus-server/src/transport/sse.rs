//! Server-Sent Events, the bidirectional emulation used by centrifuge-js (spec
//! §1.3): the connect command(s) come in the URL parameter `cf_connect` of a `GET`
//! (or as a `POST` body); always JSON. The response is `text/event-stream`: first
//! `\r\n`, then each reply as `data: <json>\n\n`. Later commands arrive through the
//! emulation endpoint.

use super::stream::{Framing, Refused, check_origin, read_body};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chorus_protocol::Protocol;
use http::{HeaderMap, Method};

/// `GET` with `cf_connect`, or `POST` with the commands as the body.
pub async fn handler(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match start(&state, &method, query.as_deref(), &headers, body).await {
        Ok(response) => response,
        Err(refused) => refused.into_response(),
    }
}

/// The connect payload of an SSE request: `cf_connect` on `GET`, the body on `POST`.
///
/// # Errors
/// [`Refused::BadRequest`] without `cf_connect`, [`Refused::TooLarge`] over `limit`.
pub async fn connect_payload(
    method: &Method,
    query: Option<&str>,
    body: Body,
    limit: usize,
) -> Result<Bytes, Refused> {
    if method == Method::POST {
        return read_body(body, limit).await;
    }
    let request = super::stream::upgrade_request(&HeaderMap::new(), query);
    let payload = request
        .query_param("cf_connect")
        .ok_or_else(|| Refused::BadRequest("missing cf_connect".into()))?;
    if payload.len() > limit {
        return Err(Refused::TooLarge);
    }
    Ok(Bytes::from(payload))
}

async fn start(
    state: &AppState,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let cfg = &state.config;
    check_origin(&cfg.client.allowed_origins, headers)?;
    let frame = connect_payload(method, query, body, cfg.sse.max_request_body_size).await?;
    let body = super::start_emulated(
        state,
        "sse",
        Protocol::Json,
        Framing::Sse,
        frame,
        headers,
        query,
    )?;
    Ok(super::stream::streaming_response("text/event-stream", body))
}
