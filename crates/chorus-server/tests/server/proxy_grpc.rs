//! The gRPC proxy (spec §9) against a real tonic backend implementing
//! `centrifugal.centrifugo.proxy.CentrifugoProxy`, driven by real protocol
//! clients: allow, reject, disconnect, timeout, data rewrite, metadata
//! forwarding and `binary_encoding`.

use bytes::Bytes;
use chorus_protocol::{Command, ConnectRequest, Protocol, PublishRequest, RpcRequest};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::grpc_proto::proxy as pb;
use chorus_server::server::router;
use chorus_server::state::AppState;
use chorus_testkit::ProtocolClient;
use pb::centrifugo_proxy_server::{CentrifugoProxy, CentrifugoProxyServer};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tonic::{Request, Response, Status};

#[derive(Default)]
struct Seen {
    connect: Vec<(pb::ConnectRequest, tonic::metadata::MetadataMap)>,
    rpc: Vec<pb::RpcRequest>,
}

#[derive(Clone, Default)]
struct Svc {
    seen: Arc<Mutex<Seen>>,
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

#[tonic::async_trait]
impl CentrifugoProxy for Svc {
    async fn connect(
        &self,
        request: Request<pb::ConnectRequest>,
    ) -> Result<Response<pb::ConnectResponse>, Status> {
        let metadata = request.metadata().clone();
        let r = request.into_inner();
        self.seen
            .lock()
            .unwrap()
            .connect
            .push((r.clone(), metadata));
        let data = json_of(&r.data);
        let mut out = pb::ConnectResponse::default();
        if let Some(code) = data.get("reject").and_then(Value::as_u64) {
            out.error = Some(pb::Error {
                code: u32::try_from(code).unwrap(),
                message: "no".into(),
                temporary: true,
            });
        } else if let Some(code) = data.get("disconnect").and_then(Value::as_u64) {
            out.disconnect = Some(pb::Disconnect {
                code: u32::try_from(code).unwrap(),
                reason: "grpc bye".into(),
            });
        } else if data.get("sleep").is_some() {
            tokio::time::sleep(Duration::from_secs(5)).await;
        } else {
            out.result = Some(pb::ConnectResult {
                user: data["user"].as_str().unwrap_or_default().into(),
                data: Bytes::from_static(br#"{"via":"grpc"}"#),
                ..Default::default()
            });
        }
        Ok(Response::new(out))
    }

    async fn refresh(
        &self,
        _: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        Err(Status::unimplemented("refresh"))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<pb::SubscribeResponse>, Status> {
        let r = request.into_inner();
        let mut out = pb::SubscribeResponse::default();
        if r.channel.ends_with("deny") {
            out.error = Some(pb::Error {
                code: 1403,
                message: "denied".into(),
                temporary: false,
            });
        } else {
            out.result = Some(pb::SubscribeResult {
                data: Bytes::from_static(br#"{"sub":"ok"}"#),
                ..Default::default()
            });
        }
        Ok(Response::new(out))
    }

    async fn publish(
        &self,
        request: Request<pb::PublishRequest>,
    ) -> Result<Response<pb::PublishResponse>, Status> {
        let r = request.into_inner();
        let mut data = json_of(&r.data);
        data["checked"] = json!(true);
        Ok(Response::new(pb::PublishResponse {
            result: Some(pb::PublishResult {
                data: Bytes::from(data.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn rpc(
        &self,
        request: Request<pb::RpcRequest>,
    ) -> Result<Response<pb::RpcResponse>, Status> {
        self.seen.lock().unwrap().rpc.push(request.into_inner());
        // Answers in the b64 field to check both forms are read.
        Ok(Response::new(pb::RpcResponse {
            result: Some(pb::RpcResult {
                b64data: "eyJiNjQiOnRydWV9".into(), // {"b64":true}
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn sub_refresh(
        &self,
        _: Request<pb::SubRefreshRequest>,
    ) -> Result<Response<pb::SubRefreshResponse>, Status> {
        Err(Status::unimplemented("sub_refresh"))
    }
}

async fn start_backend() -> (SocketAddr, Svc) {
    let svc = Svc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = CentrifugoProxyServer::new(svc.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (addr, svc)
}

async fn start(backend: SocketAddr, patch: impl FnOnce(&mut Value)) -> SocketAddr {
    let endpoint = format!("grpc://{backend}");
    let p = json!({"endpoint": endpoint, "timeout": "300ms"});
    let mut v = json!({
        "client": {"proxy": {"connect": {
            "enabled": true, "endpoint": endpoint, "timeout": "300ms",
            "http_headers": ["Authorization"], "emulated_headers": ["X-Device"],
            "grpc": {"static_metadata": {"x-static": "s"}, "credentials_key": "x-key", "credentials_value": "secret"}
        }}},
        "channel": {
            "proxy": {"subscribe": p, "publish": p},
            "without_namespace": {"subscribe_proxy_enabled": true, "publish_proxy_enabled": true}
        },
        "rpc": {"proxy": p, "without_namespace": {"proxy_enabled": true}}
    });
    patch(&mut v);
    let config = ServerConfig::from_str_format(&v.to_string(), ConfigFormat::Json)
        .unwrap()
        .config;
    config.validate().unwrap();
    let app = router(AppState::new(config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn open(addr: SocketAddr, headers: &[(&str, &str)]) -> ProtocolClient {
    let mut req = format!("ws://{addr}/connection/websocket")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ProtocolClient::from_stream(ws, Protocol::Json)
}

fn connect_req(v: Value) -> ConnectRequest {
    ConnectRequest {
        data: Bytes::from(v.to_string()),
        ..Default::default()
    }
}

#[tokio::test]
async fn grpc_connect_allows_rejects_disconnects_and_times_out() {
    let (backend, svc) = start_backend().await;
    let addr = start(backend, |_| {}).await;

    let mut c = open(addr, &[("authorization", "Bearer g")]).await;
    let mut req = connect_req(json!({"user": "gina"}));
    req.headers.insert("x-device".into(), "phone".into());
    let r = c.connect_with(req).await.connect.expect("connect");
    assert_eq!(json_of(&r.data), json!({"via": "grpc"}));
    {
        let seen = svc.seen.lock().unwrap();
        let (request, metadata) = &seen.connect[0];
        assert_eq!(request.transport, "websocket");
        assert_eq!(request.encoding, "json");
        assert_eq!(json_of(&request.data), json!({"user": "gina"}));
        assert_eq!(metadata.get("authorization").unwrap(), "Bearer g");
        assert_eq!(metadata.get("x-device").unwrap(), "phone");
        assert_eq!(metadata.get("x-static").unwrap(), "s");
        assert_eq!(metadata.get("x-key").unwrap(), "secret");
    }

    let mut c = open(addr, &[]).await;
    let e = c
        .connect_with(connect_req(json!({"reject": 1777})))
        .await
        .error
        .expect("error");
    assert_eq!((e.code, e.temporary), (1777, true));

    let mut c = open(addr, &[]).await;
    c.send(Command {
        connect: Some(connect_req(json!({"disconnect": 4777}))),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await, (4777, "grpc bye".into()));

    let mut c = open(addr, &[]).await;
    let e = c
        .connect_with(connect_req(json!({"sleep": true})))
        .await
        .error
        .expect("error");
    assert_eq!((e.code, e.temporary), (100, true));
}

#[tokio::test]
async fn grpc_subscribe_publish_and_rpc() {
    let (backend, svc) = start_backend().await;
    let addr = start(backend, |_| {}).await;
    let mut c = open(addr, &[]).await;
    c.connect_with(connect_req(json!({"user": "gina"})))
        .await
        .connect
        .expect("connect");
    let s = c.subscribe("room").await.subscribe.expect("subscribe");
    assert_eq!(json_of(&s.data), json!({"sub": "ok"}));
    assert_eq!(c.subscribe("deny").await.error.expect("error").code, 1403);

    let r = c
        .call(Command {
            publish: Some(PublishRequest {
                channel: "room".into(),
                data: Bytes::from_static(br#"{"text":"hi"}"#),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    assert!(r.publish.is_some(), "{r:?}");
    let p = c.recv_publication("room").await;
    assert_eq!(json_of(&p.data), json!({"text": "hi", "checked": true}));

    let r = c
        .call(Command {
            rpc: Some(RpcRequest {
                method: "m".into(),
                data: Bytes::from_static(b"{}"),
            }),
            ..Default::default()
        })
        .await;
    assert_eq!(json_of(&r.rpc.expect("rpc").data), json!({"b64": true}));
    assert_eq!(svc.seen.lock().unwrap().rpc[0].user, "gina");
}

#[tokio::test]
async fn grpc_binary_encoding_sends_b64data() {
    let (backend, svc) = start_backend().await;
    let addr = start(backend, |v| {
        v["rpc"]["proxy"]["binary_encoding"] = json!(true);
    })
    .await;
    let mut c = open(addr, &[]).await;
    c.connect_with(connect_req(json!({"user": "gina"})))
        .await
        .connect
        .expect("connect");
    c.call(Command {
        rpc: Some(RpcRequest {
            method: "m".into(),
            data: Bytes::from_static(b"{}"),
        }),
        ..Default::default()
    })
    .await
    .rpc
    .expect("rpc");
    let seen = svc.seen.lock().unwrap();
    assert_eq!(seen.rpc[0].b64data, "e30=");
    assert!(seen.rpc[0].data.is_empty());
    assert_eq!(seen.rpc[0].encoding, "binary");
}
