//! The unidirectional gRPC transport (`uni_grpc`, spec §1.4):
//! `centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume`.
//!
//! The call's request is the protocol `ConnectRequest`; the response is a
//! stream of bare `Push` messages, driven by the engine's unidirectional mode
//! ([`TransportInfo::unidirectional`]): a `connect` push first, empty pushes
//! as pings (no pong expected), a `disconnect` push before the stream ends;
//! a refused connect is a disconnect push (e.g. 3500 for a bad token).
//!
//! The call's metadata (ASCII values) is handed to the engine as the opening
//! request's headers, for the connecting hook. The stream ends with status OK
//! after the disconnect push; the connection ends when the caller cancels the
//! call.
//!
//! Pushes are not re-encoded: the engine hands over Protobuf pushes already
//! encoded (once per publication, shared by every unidirectional subscriber),
//! and [`RawPushCodec`] writes those bytes as the gRPC messages. That is why
//! this service is routed by hand ([`UniGrpcServer`]) instead of through the
//! generated server, whose stream items would be decoded `Push` values; the
//! wire contract is the same (`proto/unistream.proto`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use chorus_node::{Disconnect, FrameIo, Node, TransportError, TransportInfo, UpgradeRequest};
use chorus_protocol::{ConnectRequest, Protocol};
use futures_util::Stream;
use prost::Message as _;
use tokio::sync::mpsc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, StdError, http};
use tonic::metadata::MetadataMap;
use tonic::server::{Grpc, NamedService, ServerStreamingService};
use tonic::{Request, Response, Status};

use crate::config::UniGrpcConfig;

/// The service name (`proto/unistream.proto`).
pub const SERVICE_NAME: &str = "centrifugal.centrifugo.unistream.CentrifugoUniStream";
/// The route of `Consume`.
const CONSUME_PATH: &str = "/centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume";

/// Pushes buffered per stream before a write waits for the caller.
const STREAM_BUFFER: usize = 64;
/// How long one batched write may wait for a caller that does not read; past
/// it the connection ends (as a WebSocket write timeout would).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The stream of one `Consume` call: encoded `Push` messages (no length
/// prefix).
pub type PushStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// gRPC codec of `Consume`: decodes the `ConnectRequest`, writes already
/// encoded `Push` messages unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawPushCodec;

impl Codec for RawPushCodec {
    type Encode = Bytes;
    type Decode = ConnectRequest;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for RawPushCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawPushCodec {
    type Item = ConnectRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ConnectRequest>, Status> {
        ConnectRequest::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("bad ConnectRequest: {e}")))
    }
}

/// The `uni_grpc` service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UniGrpc {
    node: Node,
}

impl UniGrpc {
    /// The service for `node`.
    pub fn new(node: Node) -> Self {
        Self { node }
    }

    /// The routable server for this service, with the inbound message limit
    /// of `config` (`max_receive_message_size`, default 4 MiB).
    pub fn into_server(self, config: &UniGrpcConfig) -> UniGrpcServer {
        UniGrpcServer {
            service: self,
            max_decoding_message_size: config.receive_limit(),
        }
    }

    /// Starts the connection for one `Consume` call and returns its stream.
    fn consume(&self, request: Request<ConnectRequest>) -> PushStream {
        let opening = upgrade_request(request.metadata());
        let connect = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let transport = TransportInfo::unidirectional("uni_grpc", Protocol::Protobuf, connect)
            .with_request(opening);
        self.node.serve(transport, UniIo { tx });
        stream_of(rx)
    }
}

impl ServerStreamingService<ConnectRequest> for UniGrpc {
    type Response = Bytes;
    type ResponseStream = PushStream;
    type Future = BoxFuture<Response<PushStream>, Status>;

    fn call(&mut self, request: Request<ConnectRequest>) -> Self::Future {
        let stream = self.consume(request);
        Box::pin(async move { Ok(Response::new(stream)) })
    }
}

/// The `uni_grpc` service as a tonic-routable HTTP/2 service (add it with
/// `Server::add_service`). Unknown methods get `UNIMPLEMENTED`.
#[derive(Debug, Clone)]
pub struct UniGrpcServer {
    service: UniGrpc,
    max_decoding_message_size: usize,
}

impl NamedService for UniGrpcServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tonic::codegen::Service<http::Request<B>> for UniGrpcServer
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != CONSUME_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let service = self.service.clone();
        let limit = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc = Grpc::new(RawPushCodec).max_decoding_message_size(limit);
            Ok(grpc.server_streaming(service, request).await)
        })
    }
}

/// The call metadata as the opening request's headers (binary and non-ASCII
/// values are left out).
fn upgrade_request(metadata: &MetadataMap) -> UpgradeRequest {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let all = metadata.clone().into_headers();
    for (name, value) in &all {
        let Ok(value) = value.to_str() else {
            continue;
        };
        if name.as_str().ends_with("-bin") {
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    UpgradeRequest::new(headers, "")
}

/// Splits a frame of length-delimited Protobuf messages into the messages.
fn split_delimited(frame: &Bytes) -> Result<Vec<Bytes>, TransportError> {
    let mut rest = frame.clone();
    let mut messages = Vec::with_capacity(1);
    while rest.has_remaining() {
        let len = prost::decode_length_delimiter(&mut rest)
            .map_err(|e| TransportError(format!("bad outbound frame: {e}")))?;
        if len > rest.len() {
            return Err(TransportError("truncated outbound frame".to_owned()));
        }
        messages.push(rest.split_to(len));
    }
    Ok(messages)
}

/// The transport half the engine drives: outbound frames (length-delimited
/// Protobuf pushes) become stream items; there is no inbound traffic.
struct UniIo {
    tx: mpsc::Sender<Result<Bytes, Status>>,
}

impl FrameIo for UniIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        // Nothing is ever read; the connection ends when the caller goes away
        // (tonic drops the response stream). `closed` is cancel-safe.
        self.tx.closed().await;
        None
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        let send = async {
            for frame in frames {
                for push in split_delimited(frame)? {
                    self.tx
                        .send(Ok(push))
                        .await
                        .map_err(|_| TransportError("stream closed".to_owned()))?;
                }
            }
            Ok(())
        };
        tokio::time::timeout(WRITE_TIMEOUT, send)
            .await
            .map_err(|_| TransportError("write timed out".to_owned()))?
    }

    async fn close(&mut self, _disconnect: &Disconnect) {
        // The engine already wrote the disconnect push; dropping `tx` (with
        // this value) ends the stream.
    }
}

fn stream_of(rx: mpsc::Receiver<Result<Bytes, Status>>) -> PushStream {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_becomes_headers() {
        let mut md = MetadataMap::new();
        md.insert("x-user", "alice".parse().unwrap());
        md.append("x-multi", "a".parse().unwrap());
        md.append("x-multi", "b".parse().unwrap());
        md.insert_bin(
            "x-raw-bin",
            tonic::metadata::MetadataValue::from_bytes(b"\xff"),
        );
        let req = upgrade_request(&md);
        assert_eq!(req.header("x-user"), Some("alice"));
        assert_eq!(req.header("x-multi"), Some("a, b"));
        assert_eq!(req.header("x-raw-bin"), None);
        assert_eq!(req.query, "");
    }

    #[test]
    fn frames_split_into_messages() {
        let ping = chorus_protocol::Push::default();
        let publication = chorus_protocol::Push {
            channel: "c".into(),
            ..chorus_protocol::Push::default()
        };
        let mut frame = chorus_protocol::encode_push(Protocol::Protobuf, &publication)
            .unwrap()
            .to_vec();
        frame.extend_from_slice(&chorus_protocol::encode_push(Protocol::Protobuf, &ping).unwrap());
        let messages = split_delimited(&Bytes::from(frame)).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(
            chorus_protocol::Push::decode(messages[0].clone()).unwrap(),
            publication
        );
        assert!(messages[1].is_empty(), "the ping is the empty message");
        assert!(split_delimited(&Bytes::from_static(&[5, 1])).is_err());
    }
}
