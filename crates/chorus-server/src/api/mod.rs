//! The server HTTP API (spec §8.1–§8.3).
//!
//! * `POST {prefix}/{method}` with the method's request object as the JSON body
//!   → `{"result":{…}}` or `{"error":{"code":N,"message":"…"}}`, HTTP 200 in
//!   both cases. `batch` answers `{"replies":[…]}` at the top level.
//! * In "transport error mode" (`http_api.error_mode: "transport"`, or the
//!   request header `X-Centrifugo-Error-Mode: transport`) an error is the bare
//!   error object with the status of [`ApiError::http_status`].
//! * `POST {prefix}`: the legacy form, newline-separated
//!   `{"id":N,"method":"publish","params":{…}}` commands (see the `legacy` submodule).
//! * An unknown method is error 104 (HTTP 404 in transport mode); a body that
//!   does not decode is a plain HTTP 400; another HTTP method than `POST` is 405.
//! * Unless `http_api.insecure`, requests need the API key (see the `auth` submodule);
//!   failure is a bare 401.
//!
//! The work is done by [`ApiExecutor`], which knows nothing of HTTP and is meant
//! to back the gRPC API too.

mod auth;
mod legacy;
pub mod methods;
pub mod types;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use chorus_node::{ApiError, Node};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::config::HttpApiConfig;

pub use methods::ApiExecutor;
pub use types::ErrorBody;

/// Largest accepted request body (Centrifugo has no limit; this only guards
/// against runaway clients).
pub const MAX_BODY_SIZE: usize = 64 * 1024 * 1024;

/// Request header selecting the error mode per request.
pub const ERROR_MODE_HEADER: &str = "x-centrifugo-error-mode";

/// A server API method, as named in `/api/<method>` routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiMethod {
    /// `publish`.
    Publish,
    /// `broadcast`.
    Broadcast,
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `disconnect`.
    Disconnect,
    /// `refresh`.
    Refresh,
    /// `presence`.
    Presence,
    /// `presence_stats`.
    PresenceStats,
    /// `history`.
    History,
    /// `history_remove`.
    HistoryRemove,
    /// `channels`.
    Channels,
    /// `info`.
    Info,
    /// `rpc`.
    Rpc,
    /// `batch` (not available in the legacy form).
    Batch,
    /// `connections` (Centrifugo PRO; not in the legacy form or in `batch`).
    Connections,
}

impl ApiMethod {
    /// Every method.
    pub const ALL: [Self; 15] = [
        Self::Publish,
        Self::Broadcast,
        Self::Subscribe,
        Self::Unsubscribe,
        Self::Disconnect,
        Self::Refresh,
        Self::Presence,
        Self::PresenceStats,
        Self::History,
        Self::HistoryRemove,
        Self::Channels,
        Self::Info,
        Self::Rpc,
        Self::Batch,
        Self::Connections,
    ];

    /// The route name (`presence_stats`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Broadcast => "broadcast",
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Disconnect => "disconnect",
            Self::Refresh => "refresh",
            Self::Presence => "presence",
            Self::PresenceStats => "presence_stats",
            Self::History => "history",
            Self::HistoryRemove => "history_remove",
            Self::Channels => "channels",
            Self::Info => "info",
            Self::Rpc => "rpc",
            Self::Batch => "batch",
            Self::Connections => "connections",
        }
    }

    /// The method of a route name (exact, lower case).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The legacy protocol's numeric method (`publish` 0 … `refresh` 12).
    pub fn legacy_number(self) -> Option<u32> {
        Some(match self {
            Self::Publish => 0,
            Self::Broadcast => 1,
            Self::Unsubscribe => 2,
            Self::Disconnect => 3,
            Self::Presence => 4,
            Self::PresenceStats => 5,
            Self::History => 6,
            Self::HistoryRemove => 7,
            Self::Channels => 8,
            Self::Info => 9,
            Self::Rpc => 10,
            Self::Subscribe => 11,
            Self::Refresh => 12,
            Self::Batch | Self::Connections => return None,
        })
    }
}

/// Why a JSON call produced no result.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The request body is not the method's request object.
    Decode,
    /// The method failed, or its result could not be encoded.
    Api(ApiError),
}

/// Decodes a request object. An empty body counts as `{}`; anything but a JSON
/// object is a decode error (serde would otherwise accept arrays for structs).
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CallError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => serde_json::from_slice(b"{}").map_err(|_| CallError::Decode),
        Some(b'{') => serde_json::from_slice(body).map_err(|_| CallError::Decode),
        Some(_) => Err(CallError::Decode),
    }
}

fn encode<T: Serialize>(result: Result<T, ApiError>) -> Result<Box<RawValue>, CallError> {
    let result = result.map_err(CallError::Api)?;
    // A stored payload that is not JSON (binary data published with `b64data`
    // or by a Protobuf client) cannot be written in a JSON result: an error
    // reply (100), like any failed call, not a bare HTTP 500.
    serde_json::value::to_raw_value(&result).map_err(|e| {
        tracing::warn!(error = %e, "API result cannot be encoded as JSON (a payload that is not JSON)");
        CallError::Api(ApiError::Internal)
    })
}

/// Decodes `body` as `method`'s request (an empty body counts as `{}`),
/// executes it and encodes the result.
pub(crate) async fn call_json(
    executor: &ApiExecutor,
    method: ApiMethod,
    body: &[u8],
) -> Result<Box<RawValue>, CallError> {
    match method {
        ApiMethod::Publish => encode(executor.publish(decode(body)?).await),
        ApiMethod::Broadcast => encode(executor.broadcast(decode(body)?).await),
        ApiMethod::Subscribe => encode(executor.subscribe(decode(body)?).await),
        ApiMethod::Unsubscribe => encode(executor.unsubscribe(decode(body)?).await),
        ApiMethod::Disconnect => encode(executor.disconnect(decode(body)?).await),
        ApiMethod::Refresh => encode(executor.refresh(decode(body)?).await),
        ApiMethod::Presence => encode(executor.presence(decode(body)?).await),
        ApiMethod::PresenceStats => encode(executor.presence_stats(decode(body)?).await),
        ApiMethod::History => encode(executor.history(decode(body)?).await),
        ApiMethod::HistoryRemove => encode(executor.history_remove(decode(body)?).await),
        ApiMethod::Channels => encode(executor.channels(decode(body)?).await),
        ApiMethod::Info => encode(executor.info(decode(body)?).await),
        ApiMethod::Rpc => encode(executor.rpc(decode(body)?).await),
        ApiMethod::Batch => encode(Ok(executor.batch(decode(body)?).await)),
        ApiMethod::Connections => encode(executor.connections(decode(body)?).await),
    }
}

#[derive(Debug, Clone)]
struct ApiState {
    executor: ApiExecutor,
    transport_errors: bool,
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn plain_error(status: StatusCode) -> Response {
    let text = status.canonical_reason().unwrap_or("Error");
    (status, format!("{text}\n")).into_response()
}

/// The body, or the status for a body that could not be read.
pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, StatusCode> {
    body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    })
}

fn error_response(error: &ApiError, transport: bool) -> Response {
    let body = ErrorBody::from(error);
    if transport {
        let status =
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, serde_json::json!(body).to_string())
    } else {
        json_response(
            StatusCode::OK,
            serde_json::json!({ "error": body }).to_string(),
        )
    }
}

async fn handle_method(
    method: ApiMethod,
    state: ApiState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let transport = state.transport_errors
        || headers
            .get(ERROR_MODE_HEADER)
            .is_some_and(|v| v.as_bytes() == b"transport");
    let body = match read_body(body) {
        Ok(body) => body,
        Err(status) => return plain_error(status),
    };
    match call_json(&state.executor, method, &body).await {
        Ok(raw) if method == ApiMethod::Batch => {
            json_response(StatusCode::OK, raw.get().to_owned())
        }
        Ok(raw) => json_response(StatusCode::OK, format!(r#"{{"result":{}}}"#, raw.get())),
        Err(CallError::Api(e)) => error_response(&e, transport),
        Err(CallError::Decode) => plain_error(StatusCode::BAD_REQUEST),
    }
}

/// The HTTP API router: `POST {handler_prefix}/{method}` for each known
/// method and the legacy `POST {handler_prefix}` (default prefix `/api`), with
/// API key checks unless `config.insecure`. As in Centrifugo, an unknown
/// method has no route at all: 404 before any key check.
///
/// `config.disabled` and `config.external` are for the caller (whether and on
/// which port to mount the router); this function always builds it.
pub fn router(node: Node, config: &HttpApiConfig) -> Router {
    let state = ApiState {
        executor: ApiExecutor::new(node),
        transport_errors: config.error_mode.known() == Some(crate::config::ErrorMode::Transport),
    };
    let trimmed = config.handler_prefix.trim_end_matches('/');
    let prefix = if trimmed.is_empty() || trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    };
    let legacy_path = if prefix.is_empty() { "/" } else { &prefix };

    let auth = (!config.insecure).then(|| auth::ApiKeyAuth::new(&config.key));
    let with_auth = |route: MethodRouter<ApiState>| match &auth {
        Some(auth) => route.route_layer(from_fn_with_state(auth.clone(), auth::require_api_key)),
        None => route,
    };
    let mut router = Router::new().route(legacy_path, with_auth(post(legacy::handle_legacy)));
    for method in ApiMethod::ALL {
        let route = post(
            move |State(state): State<ApiState>, headers: HeaderMap, body| {
                handle_method(method, state, headers, body)
            },
        );
        router = router.route(&format!("{prefix}/{}", method.name()), with_auth(route));
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_SIZE))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_and_numbers() {
        for m in ApiMethod::ALL {
            assert_eq!(ApiMethod::from_name(m.name()), Some(m));
        }
        assert_eq!(ApiMethod::from_name("Publish"), None);
        assert_eq!(ApiMethod::Refresh.legacy_number(), Some(12));
        assert_eq!(ApiMethod::Batch.legacy_number(), None);
    }
}
