//! The server API over gRPC: `centrifugal.centrifugo.api.CentrifugoApi`
//! (spec §8.4).
//!
//! Each RPC converts its request to the transport-neutral type, runs the same
//! [`ApiExecutor`] method as `POST /api/<method>` and converts the outcome
//! back, so both transports share validation and behaviour.
//!
//! * Authentication: when `grpc_api.key` is set, every call needs the metadata
//!   `authorization: apikey <key>` (scheme case-insensitive), else
//!   `UNAUTHENTICATED`. An empty key means no authentication (Centrifugo's
//!   gRPC default, unlike the HTTP API).
//! * Errors: by default an API error is returned inside the response
//!   (`XxxResponse.error`) with status OK. In transport error mode
//!   (`grpc_api.error_mode: transport`, or the call metadata
//!   `x-centrifugo-error-mode: transport`) it becomes a gRPC status (see
//!   [`status_of`]). `Batch` always reports errors per command.

use std::sync::Arc;

use chorus_node::{ApiError, Node};
use tonic::{Code, Request, Response, Status};

use crate::api::ApiExecutor;
use crate::api::types::ErrorBody;
use crate::config::GrpcApiConfig;
use crate::grpc_proto::api as pb;
use crate::grpc_proto::api::centrifugo_api_server::{CentrifugoApi, CentrifugoApiServer};

/// Call metadata selecting the error mode per call.
pub const ERROR_MODE_METADATA: &str = "x-centrifugo-error-mode";

/// The gRPC API service. Cheap to clone.
#[derive(Clone)]
pub struct GrpcApi {
    executor: ApiExecutor,
    // `None`: no authentication.
    key: Option<Arc<str>>,
    transport_errors: bool,
}

impl std::fmt::Debug for GrpcApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("GrpcApi")
            .field("authenticated", &self.key.is_some())
            .field("transport_errors", &self.transport_errors)
            .finish_non_exhaustive()
    }
}

/// The gRPC status of an API error in transport error mode: 100 → `INTERNAL`,
/// 102/104 → `NOT_FOUND`, 107/108 → `INVALID_ARGUMENT`, 112 → `OUT_OF_RANGE`,
/// 113 → `ALREADY_EXISTS`. The message is the API error message.
pub fn status_of(error: &ApiError) -> Status {
    // The same classes as the HTTP transport mode's statuses.
    let code = match error.http_status() {
        404 => Code::NotFound,
        400 => Code::InvalidArgument,
        416 => Code::OutOfRange,
        409 => Code::AlreadyExists,
        _ => Code::Internal,
    };
    Status::new(code, error.to_string())
}

/// Compares without an early exit on the first differing byte.
fn same_key(expected: &[u8], given: &[u8]) -> bool {
    expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl GrpcApi {
    /// The service for `node`, configured by `config` (key and error mode).
    pub fn new(node: Node, config: &GrpcApiConfig) -> Self {
        Self {
            executor: ApiExecutor::new(node),
            key: (!config.key.is_empty()).then(|| config.key.as_str().into()),
            transport_errors: config.error_mode.known()
                == Some(crate::config::ErrorMode::Transport),
        }
    }

    /// The tonic server for this service, with the inbound message limit of
    /// `config` (`max_receive_message_size`, default 4 MiB).
    pub fn into_server(self, config: &GrpcApiConfig) -> CentrifugoApiServer<Self> {
        CentrifugoApiServer::new(self).max_decoding_message_size(config.receive_limit())
    }

    /// Checks the API key and returns whether this call uses transport error mode.
    fn begin<T>(&self, request: &Request<T>) -> Result<bool, Status> {
        let metadata = request.metadata();
        if let Some(key) = &self.key {
            let authorized = metadata
                .get_all("authorization")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|value| {
                    let mut parts = value.split_whitespace();
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(scheme), Some(given), None) => {
                            scheme.eq_ignore_ascii_case("apikey")
                                && same_key(key.as_bytes(), given.as_bytes())
                        }
                        _ => false,
                    }
                });
            if !authorized {
                return Err(Status::unauthenticated("unauthenticated"));
            }
        }
        Ok(self.transport_errors
            || metadata
                .get(ERROR_MODE_METADATA)
                .is_some_and(|v| v.as_bytes() == b"transport"))
    }
}

/// Builds `XxxResponse { error, result }` from an executor outcome, or a
/// status in transport error mode.
fn respond<R, P, T>(
    transport: bool,
    outcome: Result<R, ApiError>,
    build: impl FnOnce(Option<pb::Error>, Option<P>) -> T,
) -> Result<Response<T>, Status>
where
    P: From<R>,
{
    match outcome {
        Ok(result) => Ok(Response::new(build(None, Some(P::from(result))))),
        Err(e) if transport => Err(status_of(&e)),
        Err(e) => Ok(Response::new(build(
            Some(pb::Error::from(ErrorBody::from(e))),
            None,
        ))),
    }
}

/// The service impl: `Batch` by hand, then one unary RPC per `(rpc, executor
/// method, request, response)`: check, convert, execute, convert back. (The
/// whole impl is generated so that `async_trait` sees plain `async fn`s.)
macro_rules! service_impl {
    ($(($fn:ident, $method:ident, $req:ident, $resp:ident)),* $(,)?) => {
        #[tonic::async_trait]
        impl CentrifugoApi for GrpcApi {
            async fn batch(
                &self,
                request: Request<pb::BatchRequest>,
            ) -> Result<Response<pb::BatchResponse>, Status> {
                self.begin(&request)?;
                let result = self.executor.batch(request.into_inner().into()).await;
                Ok(Response::new(result.into()))
            }

            $(
                async fn $fn(
                    &self,
                    request: Request<pb::$req>,
                ) -> Result<Response<pb::$resp>, Status> {
                    let transport = self.begin(&request)?;
                    let outcome = self.executor.$method(request.into_inner().into()).await;
                    respond(transport, outcome, |error, result| pb::$resp { error, result })
                }
            )*
        }
    };
}

service_impl!(
    (publish, publish, PublishRequest, PublishResponse),
    (broadcast, broadcast, BroadcastRequest, BroadcastResponse),
    (subscribe, subscribe, SubscribeRequest, SubscribeResponse),
    (
        unsubscribe,
        unsubscribe,
        UnsubscribeRequest,
        UnsubscribeResponse
    ),
    (
        disconnect,
        disconnect,
        DisconnectRequest,
        DisconnectResponse
    ),
    (presence, presence, PresenceRequest, PresenceResponse),
    (
        presence_stats,
        presence_stats,
        PresenceStatsRequest,
        PresenceStatsResponse
    ),
    (history, history, HistoryRequest, HistoryResponse),
    (
        history_remove,
        history_remove,
        HistoryRemoveRequest,
        HistoryRemoveResponse
    ),
    (info, info, InfoRequest, InfoResponse),
    (rpc, rpc, RpcRequest, RpcResponse),
    (refresh, refresh, RefreshRequest, RefreshResponse),
    (channels, channels, ChannelsRequest, ChannelsResponse),
    (
        connections,
        connections,
        ConnectionsRequest,
        ConnectionsResponse
    ),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_status_codes() {
        let cases = [
            (ApiError::Internal, Code::Internal),
            (ApiError::UnknownChannel, Code::NotFound),
            (ApiError::NotFound, Code::NotFound),
            (ApiError::BadRequest, Code::InvalidArgument),
            (ApiError::NotAvailable, Code::InvalidArgument),
            (ApiError::UnrecoverablePosition, Code::OutOfRange),
            (ApiError::Conflict, Code::AlreadyExists),
        ];
        for (error, code) in cases {
            let status = status_of(&error);
            assert_eq!(status.code(), code, "{error:?}");
            assert_eq!(status.message(), error.to_string());
        }
    }

    #[test]
    fn key_comparison() {
        assert!(same_key(b"abc", b"abc"));
        assert!(!same_key(b"abc", b"abd"));
        assert!(!same_key(b"abc", b"ab"));
    }
}
