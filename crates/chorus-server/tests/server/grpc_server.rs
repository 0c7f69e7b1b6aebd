//! The gRPC server API's envelope: API key checks, transport error mode,
//! message size limit, configuration, and the gRPC listeners the server
//! starts from its configuration (with graceful shutdown).

use crate::grpc_support;

use std::time::Duration;

use bytes::Bytes;
use chorus_server::auth::{ConnectTokenOptions, hs256_connect_token};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::grpc_proto::api as pb;
use chorus_server::grpc_proto::api::centrifugo_api_client::CentrifugoApiClient;
use chorus_server::grpc_proto::unistream::centrifugo_uni_stream_client::CentrifugoUniStreamClient;
use grpc_support::{KEY, SECRET, Server, authed, config, transport_mode};
use tonic::{Code, Request};

#[tokio::test]
async fn api_key_is_required_when_set() {
    let s = Server::default().await;
    let mut c = s.client().await;
    let info = || pb::InfoRequest {};

    let status = c.info(Request::new(info())).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    for value in [
        "apikey wrong",
        "bearer grpc-secret",
        "grpc-secret",
        "apikey",
    ] {
        let mut req = Request::new(info());
        req.metadata_mut()
            .insert("authorization", value.parse().unwrap());
        let status = c.info(req).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{value}");
    }
    // Scheme is case-insensitive.
    let mut req = Request::new(info());
    req.metadata_mut()
        .insert("authorization", format!("ApiKey {KEY}").parse().unwrap());
    assert!(c.info(req).await.is_ok());
    // Batch is checked too.
    let status = c
        .batch(Request::new(pb::BatchRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // No key configured: no authentication (Centrifugo's gRPC default).
    let open = Server::start(config(r#", "key": """#)).await;
    let mut c = open.client().await;
    assert!(c.info(Request::new(info())).await.is_ok());
}

#[tokio::test]
async fn transport_error_mode_maps_to_status_codes() {
    let s = Server::default().await;
    let mut c = s.client().await;
    let publish = |channel: &str, data: &'static [u8]| pb::PublishRequest {
        channel: channel.into(),
        data: Bytes::from_static(data),
        ..Default::default()
    };
    let status = c
        .publish(transport_mode(publish("nope:x", b"{}")))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::NotFound, "unknown channel")
    );
    let status = c
        .publish(transport_mode(publish("news", b"")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = c
        .presence(transport_mode(pb::PresenceRequest {
            channel: "plain:x".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let since = Some(pb::StreamPosition {
        offset: 1,
        epoch: "other".into(),
    });
    let status = c
        .history(transport_mode(pb::HistoryRequest {
            channel: "hist:x".into(),
            limit: 1,
            since,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange);
    let status = c
        .rpc(transport_mode(pb::RpcRequest {
            method: "m".into(),
            params: Bytes::new(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // Success is unaffected.
    let r = c
        .publish(transport_mode(publish("news", b"{}")))
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_none() && r.result.is_some());

    // Configured mode: every call.
    let s = Server::start(config(r#", "error_mode": "transport""#)).await;
    let mut c = s.client().await;
    let status = c
        .publish(authed(publish("nope:x", b"{}")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn max_receive_message_size_is_enforced() {
    let s = Server::start(config(r#", "max_receive_message_size": 1024"#)).await;
    let mut c = s.client().await;
    let big = pb::PublishRequest {
        channel: "news".into(),
        data: Bytes::from(format!("\"{}\"", "x".repeat(2048))),
        ..Default::default()
    };
    let status = c.publish(authed(big)).await.unwrap_err();
    // tonic's code for an oversized message (grpc-go says RESOURCE_EXHAUSTED).
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let small = pb::PublishRequest {
        channel: "news".into(),
        data: Bytes::from_static(b"\"ok\""),
        ..Default::default()
    };
    assert!(c.publish(authed(small)).await.is_ok());
}

/// Three ports with nothing listening (all held while choosing, so they differ).
fn free_ports() -> [u16; 3] {
    let held: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    [0, 1, 2].map(|i| held[i].local_addr().unwrap().port())
}

/// Connects, retrying until the listener is up (`run` has no readiness signal).
async fn connect_retrying<T, F, Fut>(mut connect: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::transport::Error>>,
{
    for _ in 0..100 {
        if let Ok(c) = connect().await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("gRPC listener did not come up");
}

#[tokio::test]
async fn server_starts_grpc_listeners_and_shuts_down() {
    let [http_port, grpc_port, uni_port] = free_ports();
    let mut config = config("");
    config.http_server.address = "127.0.0.1".into();
    config.http_server.port = http_port;
    config.grpc_api.address = "127.0.0.1".into();
    config.grpc_api.port = grpc_port;
    config.uni_grpc.enabled = true;
    config.uni_grpc.address = "127.0.0.1".into();
    config.uni_grpc.port = uni_port;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chorus_server::server::run(config, async move {
        let _ = stop_rx.await;
    }));

    let url = format!("http://127.0.0.1:{grpc_port}");
    let mut api = connect_retrying(|| CentrifugoApiClient::connect(url.clone())).await;
    let r = api
        .info(authed(pb::InfoRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result.unwrap().nodes.len(), 1);

    let url = format!("http://127.0.0.1:{uni_port}");
    let mut uni = connect_retrying(|| CentrifugoUniStreamClient::connect(url.clone())).await;
    let token = hs256_connect_token(
        SECRET,
        &ConnectTokenOptions {
            user: "u".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut stream = uni
        .consume(chorus_protocol::ConnectRequest {
            token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.connect.is_some(), "{first:?}");

    // Graceful shutdown: the open stream gets 3001 "shutdown" and ends, then
    // the server stops.
    stop_tx.send(()).unwrap();
    let mut last = None;
    while let Some(push) = stream.message().await.unwrap() {
        last = Some(push);
    }
    assert_eq!(last.and_then(|p| p.disconnect).map(|d| d.code), Some(3001));
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
}

#[test]
fn unsupported_grpc_options_are_config_errors() {
    for extra in [
        r#", "tls": {"enabled": true}"#,
        r#", "reflection": true"#,
        r#", "error_mode": "loud""#,
    ] {
        let text = format!(r#"{{"grpc_api": {{"enabled": true {extra}}}}}"#);
        let config = ServerConfig::from_str_format(&text, ConfigFormat::Json)
            .unwrap()
            .config;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("grpc_api."), "{extra}: {err}");
    }
}

#[test]
fn grpc_sections_load_from_file_and_environment() {
    let loaded = ServerConfig::from_str_with_env(
        r#"{"grpc_api": {"enabled": true, "max_receive_message_size": 2048}, "uni_grpc": {"port": 11001}}"#,
        ConfigFormat::Json,
        [
            ("CENTRIFUGO_GRPC_API_KEY", "from-env"),
            ("CENTRIFUGO_GRPC_API_ERROR_MODE", "transport"),
            ("CENTRIFUGO_UNI_GRPC_ENABLED", "true"),
        ],
    )
    .unwrap();
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    assert!(loaded.unknown_env.is_empty(), "{:?}", loaded.unknown_env);
    let c = loaded.config;
    assert!(c.grpc_api.enabled);
    assert_eq!(c.grpc_api.port, 10000);
    assert_eq!(c.grpc_api.key, "from-env");
    assert_eq!(
        c.grpc_api.error_mode,
        chorus_server::config::Choice::Known(chorus_server::config::ErrorMode::Transport)
    );
    assert_eq!(c.grpc_api.receive_limit(), 2048);
    assert!(c.uni_grpc.enabled);
    assert_eq!(c.uni_grpc.port, 11001);
    c.validate().unwrap();
}
