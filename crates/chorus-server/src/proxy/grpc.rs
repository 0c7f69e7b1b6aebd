//! The gRPC backend: unary calls to `centrifugal.centrifugo.proxy.CentrifugoProxy`
//! over one lazily connected `tonic` channel (HTTP/2, multiplexed).

use super::{CallError, Request, Response, json};
use base64::Engine as _;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// The service's path prefix.
const SERVICE: &str = "/centrifugal.centrifugo.proxy.CentrifugoProxy/";

/// One gRPC proxy endpoint.
#[derive(Debug)]
pub(crate) struct GrpcBackend {
    // A `Channel` is a cheap handle to one multiplexed HTTP/2 connection pool.
    channel: Channel,
}

/// A unary call of `method` (the generated client cannot be used: its `connect`
/// constructor clashes with the `Connect` RPC).
async fn unary_call<Req, Res>(
    channel: &Channel,
    method: &'static str,
    request: tonic::Request<Req>,
) -> Result<Res, CallError>
where
    Req: prost::Message + Send + Sync + 'static,
    Res: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| CallError::Unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::try_from(format!("{SERVICE}{method}"))
        .map_err(|e| CallError::Encode(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<Req, Res>::default();
    unary(grpc.unary(request, path, codec).await)
}

impl GrpcBackend {
    /// `address` is the endpoint without `grpc://` (`host:port`).
    pub(crate) fn new(address: &str, timeout: Duration) -> Result<Self, super::ProxyBuildError> {
        let uri = format!("http://{address}");
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| super::ProxyBuildError::Endpoint(uri, e.to_string()))?
            .connect_timeout(timeout)
            .timeout(timeout);
        Ok(Self {
            channel: endpoint.connect_lazy(),
        })
    }

    pub(crate) async fn call(
        &self,
        request: Request,
        headers: &BTreeMap<String, String>,
        binary: bool,
    ) -> Result<Response, CallError> {
        let ch = &self.channel;
        let mut response = match request {
            Request::Connect(mut r) => {
                to_b64(binary, &mut r.data, &mut r.b64data);
                Response::Connect(unary_call(ch, "Connect", with_meta(r, headers)?).await?)
            }
            Request::Refresh(r) => {
                Response::Refresh(unary_call(ch, "Refresh", with_meta(r, headers)?).await?)
            }
            Request::Subscribe(mut r) => {
                to_b64(binary, &mut r.data, &mut r.b64data);
                Response::Subscribe(unary_call(ch, "Subscribe", with_meta(r, headers)?).await?)
            }
            Request::Publish(mut r) => {
                to_b64(binary, &mut r.data, &mut r.b64data);
                Response::Publish(unary_call(ch, "Publish", with_meta(r, headers)?).await?)
            }
            Request::Rpc(mut r) => {
                to_b64(binary, &mut r.data, &mut r.b64data);
                Response::Rpc(unary_call(ch, "RPC", with_meta(r, headers)?).await?)
            }
            Request::SubRefresh(r) => {
                Response::SubRefresh(unary_call(ch, "SubRefresh", with_meta(r, headers)?).await?)
            }
        };
        json::normalize_b64(&mut response)?;
        Ok(response)
    }
}

/// With `binary_encoding`, payloads go in the `b64*` string fields.
fn to_b64(binary: bool, data: &mut Bytes, b64: &mut String) {
    if binary && !data.is_empty() {
        *b64 = base64::engine::general_purpose::STANDARD.encode(&data[..]);
        *data = Bytes::new();
    }
}

fn with_meta<T>(
    message: T,
    headers: &BTreeMap<String, String>,
) -> Result<tonic::Request<T>, CallError> {
    let mut request = tonic::Request::new(message);
    for (name, value) in headers {
        let key = tonic::metadata::MetadataKey::from_bytes(name.as_bytes())
            .map_err(|e| CallError::Encode(format!("metadata key {name:?}: {e}")))?;
        let value = value
            .parse()
            .map_err(|e| CallError::Encode(format!("metadata value of {name:?}: {e}")))?;
        request.metadata_mut().insert(key, value);
    }
    Ok(request)
}

fn unary<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Result<T, CallError> {
    result
        .map(tonic::Response::into_inner)
        .map_err(|s| CallError::Unavailable(format!("{:?}: {}", s.code(), s.message())))
}
