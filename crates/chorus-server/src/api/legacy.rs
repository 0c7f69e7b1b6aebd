//! The legacy single-endpoint form (`POST /api`), still served by Centrifugo v6.
//!
//! The body holds one or more JSON commands separated by whitespace
//! (newlines in practice): `{"id":1,"method":"publish","params":{…}}`.
//! `method` is a name matched case-insensitively or the numeric legacy value
//! (publish 0 … refresh 12; absent means 0). Each command gets one reply, in
//! order and newline-separated: `{"id":1,"result":{…}}` or
//! `{"id":1,"error":{…}}` (`id` omitted when 0). An unknown method is error 104,
//! params that do not decode are error 107, and a body that is empty or not a
//! sequence of JSON commands is a plain HTTP 400.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use chorus_node::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::types::ErrorBody;
use super::{ApiMethod, ApiState, CallError, call_json, json_response, plain_error, read_body};

#[derive(Deserialize)]
#[serde(untagged)]
enum LegacyMethod {
    Number(i64),
    Name(String),
}

impl LegacyMethod {
    fn resolve(&self) -> Option<ApiMethod> {
        match self {
            Self::Number(n) => ApiMethod::ALL
                .into_iter()
                .find(|m| m.legacy_number().is_some_and(|v| i64::from(v) == *n)),
            Self::Name(name) => {
                if let Ok(n) = name.parse::<i64>() {
                    return Self::Number(n).resolve();
                }
                ApiMethod::ALL
                    .into_iter()
                    .find(|m| m.legacy_number().is_some() && m.name().eq_ignore_ascii_case(name))
            }
        }
    }
}

#[derive(Deserialize)]
struct LegacyCommand {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    method: Option<LegacyMethod>,
    #[serde(default)]
    params: Option<Box<RawValue>>,
}

#[derive(Serialize)]
struct LegacyReply<'a> {
    #[serde(skip_serializing_if = "is_zero")]
    id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

pub(super) async fn handle_legacy(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if state.executor.node().is_shutting_down() {
        return plain_error(StatusCode::SERVICE_UNAVAILABLE);
    }
    let body = match read_body(body) {
        Ok(body) => body,
        Err(status) => return plain_error(status),
    };
    if body.is_empty() {
        return plain_error(StatusCode::BAD_REQUEST);
    }
    let mut out = String::new();
    for command in serde_json::Deserializer::from_slice(&body).into_iter::<LegacyCommand>() {
        let Ok(command) = command else {
            return plain_error(StatusCode::BAD_REQUEST);
        };
        let id = command.id.unwrap_or(0);
        let method = match &command.method {
            None => Some(ApiMethod::Publish),
            Some(m) => m.resolve(),
        };
        let outcome = match method {
            None => Err(CallError::Api(ApiError::NotFound)),
            Some(method) => {
                let params = command.params.as_deref().map_or("{}", RawValue::get);
                call_json(&state.executor, method, params.as_bytes()).await
            }
        };
        let (error, result) = match &outcome {
            Ok(raw) => (None, Some(&**raw)),
            Err(CallError::Api(e)) => (Some(ErrorBody::from(e)), None),
            Err(CallError::Decode) => (Some(ErrorBody::from(ApiError::BadRequest)), None),
        };
        let reply = LegacyReply { id, error, result };
        let Ok(line) = serde_json::to_string(&reply) else {
            return plain_error(StatusCode::INTERNAL_SERVER_ERROR);
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    json_response(StatusCode::OK, out)
}
