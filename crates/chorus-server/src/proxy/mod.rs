//! Proxy (event hooks, spec §9): the application backend decides connect,
//! refresh, subscribe, publish, RPC and sub_refresh over HTTP (JSON POST) or gRPC
//! (`centrifugal.centrifugo.proxy.CentrifugoProxy`), chosen by the endpoint
//! scheme.
//!
//! [`install`] turns the `client.proxy`, `channel.proxy`, `rpc.proxy` and
//! `proxies` sections into engine hooks. Requests are built as the generated
//! protobuf messages ([`crate::grpc_proto::proxy`]); the gRPC backend sends them
//! as they are, the HTTP backend maps them to Centrifugo's JSON shape
//! (`json.rs`). Each backend keeps one pooled client for its endpoint.
//!
//! A backend that is down, slow (past `timeout`) or answers anything but HTTP 200
//! gives the client error 100 (temporary); only the event being proxied fails,
//! the connection task of other clients is never involved.

mod grpc;
mod headers;
mod hooks;
mod http;
mod json;

pub use hooks::{ProxyBuildError, install};

use crate::config::ProxyOptions;
use crate::grpc_proto::proxy as pb;
use headers::Forwarded;
use std::time::Duration;

/// A request to a backend, one variant per event.
#[derive(Debug, Clone)]
pub(crate) enum Request {
    Connect(pb::ConnectRequest),
    Refresh(pb::RefreshRequest),
    Subscribe(pb::SubscribeRequest),
    Publish(pb::PublishRequest),
    Rpc(pb::RpcRequest),
    SubRefresh(pb::SubRefreshRequest),
}

/// A backend's answer, the variant of its request.
#[derive(Debug, Clone)]
pub(crate) enum Response {
    Connect(pb::ConnectResponse),
    Refresh(pb::RefreshResponse),
    Subscribe(pb::SubscribeResponse),
    Publish(pb::PublishResponse),
    Rpc(pb::RpcResponse),
    SubRefresh(pb::SubRefreshResponse),
}

/// Why a proxy call produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    /// Connection refused, reset, DNS, … or the timeout passed.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// A non-200 HTTP status without a transform.
    #[error("backend answered HTTP {0}")]
    Status(u16),
    /// A non-200 HTTP status mapped by `status_to_code_transforms`.
    #[error("backend status transformed")]
    Transformed(chorus_node::HandlerError),
    /// The request could not be encoded (e.g. non-JSON data without
    /// `binary_encoding`).
    #[error("cannot encode proxy request: {0}")]
    Encode(String),
    /// The answer could not be decoded.
    #[error("cannot decode proxy response: {0}")]
    Decode(String),
}

/// Entry point for the fuzz targets in `fuzz/`: decodes `body` as an HTTP
/// backend's JSON answer to event `kind % 6` (connect, refresh, subscribe,
/// publish, rpc, sub_refresh), as a proxy call does; `true` when accepted.
/// Not part of the API.
#[doc(hidden)]
pub fn fuzz_decode_json_reply(kind: u8, body: &[u8]) -> bool {
    let request = match kind % 6 {
        0 => Request::Connect(Default::default()),
        1 => Request::Refresh(Default::default()),
        2 => Request::Subscribe(Default::default()),
        3 => Request::Publish(Default::default()),
        4 => Request::Rpc(Default::default()),
        _ => Request::SubRefresh(Default::default()),
    };
    json::decode(&request, body).is_ok()
}

/// One configured backend.
#[derive(Debug)]
pub(crate) enum Backend {
    Http(http::HttpBackend),
    Grpc(grpc::GrpcBackend),
}

/// A proxy: its backend and the options that shape its requests.
#[derive(Debug)]
pub(crate) struct Proxy {
    backend: Backend,
    options: ProxyOptions,
}

impl Proxy {
    /// Builds the client for `options.endpoint` (gRPC connects lazily).
    pub(crate) fn new(options: &ProxyOptions) -> Result<Self, ProxyBuildError> {
        let timeout = options
            .timeout
            .to_std()
            .filter(|t| !t.is_zero())
            .unwrap_or(Duration::from_secs(1));
        let backend = if let Some(rest) = options.endpoint.strip_prefix("grpc://") {
            Backend::Grpc(grpc::GrpcBackend::new(rest, timeout)?)
        } else {
            Backend::Http(http::HttpBackend::new(options, timeout)?)
        };
        Ok(Self {
            backend,
            options: options.clone(),
        })
    }

    /// `encoding` field value, and whether payloads go as base64.
    pub(crate) fn binary(&self) -> bool {
        self.options.binary_encoding
    }

    /// Sends one request.
    pub(crate) async fn call(
        &self,
        request: Request,
        forwarded: &Forwarded<'_>,
    ) -> Result<Response, CallError> {
        let headers = forwarded.select(&self.options);
        match &self.backend {
            Backend::Http(b) => b.call(request, &headers, self.binary()).await,
            Backend::Grpc(b) => b.call(request, &headers, self.binary()).await,
        }
    }
}
