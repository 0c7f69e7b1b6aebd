//! `uni_grpc` over real sockets with the generated client: the connect push,
//! publication delivery on server-side subscriptions, recovery through
//! `ConnectRequest.subs`, refused connects, server disconnects, cancelled
//! calls, unknown methods and the request size limit.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use chorus_node::ApiPublish;
use chorus_protocol::{ConnectRequest, Push, SubscribeRequest};
use chorus_server::auth::{ConnectTokenOptions, hs256_connect_token};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::grpc_proto::api::centrifugo_api_client::CentrifugoApiClient;
use chorus_server::grpc_proto::unistream::centrifugo_uni_stream_client::CentrifugoUniStreamClient;
use chorus_server::state::AppState;
use tonic::Streaming;

const SECRET: &str = "test-secret";

fn config() -> ServerConfig {
    let text = r#"{
        "client": {"token": {"hmac_secret_key": "test-secret"}},
        "uni_grpc": {"enabled": true},
        "channel": {
            "namespaces": [
                {"name": "hist", "history_size": 10, "history_ttl": "300s", "force_recovery": true}
            ]
        }
    }"#;
    let config = ServerConfig::from_str_format(text, ConfigFormat::Json)
        .unwrap()
        .config;
    config.validate().unwrap();
    config
}

struct Server {
    addr: SocketAddr,
    state: AppState,
}

impl Server {
    async fn start() -> Self {
        let state = AppState::new(config()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (node, uni) = (state.node.clone(), state.config.uni_grpc.clone());
        tokio::spawn(async move {
            chorus_server::grpc::serve_uni(listener, node, &uni, std::future::pending())
                .await
                .unwrap();
        });
        Self { addr, state }
    }

    /// Opens a `Consume` stream.
    async fn consume(&self, req: ConnectRequest) -> Streaming<Push> {
        let mut client = CentrifugoUniStreamClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap();
        client.consume(req).await.unwrap().into_inner()
    }

    async fn publish(&self, channel: &str, data: &'static str) -> u64 {
        let pos = self
            .state
            .node
            .publish(
                channel,
                Bytes::from_static(data.as_bytes()),
                ApiPublish::default(),
            )
            .await
            .unwrap();
        pos.offset
    }
}

fn token(user: &str, channels: &[&str]) -> String {
    hs256_connect_token(
        SECRET,
        &ConnectTokenOptions {
            user: user.into(),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            ..Default::default()
        },
    )
    .unwrap()
}

fn connect_with(token: String) -> ConnectRequest {
    ConnectRequest {
        token,
        name: "test".into(),
        ..Default::default()
    }
}

/// The next push, failing the test if the stream ends or errs first.
async fn next(stream: &mut Streaming<Push>) -> Push {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no push within 10s")
        .expect("stream failed")
        .expect("stream ended")
}

/// The next push that is not a ping.
async fn next_non_ping(stream: &mut Streaming<Push>) -> Push {
    loop {
        let push = next(stream).await;
        if push != Push::default() {
            return push;
        }
    }
}

#[tokio::test]
async fn connect_push_then_publications() {
    let s = Server::start().await;
    let mut stream = s
        .consume(connect_with(token("alice", &["hist:a", "news"])))
        .await;
    let first = next(&mut stream).await;
    let connect = first.connect.expect("first push is connect");
    assert!(!connect.client.is_empty());
    assert!(connect.ping > 0);
    assert!(!connect.pong, "no pong on unidirectional transports");
    assert_eq!(connect.subs.len(), 2);
    assert!(connect.subs["hist:a"].recoverable);

    assert_eq!(s.publish("hist:a", "{\"n\":1}").await, 1);
    s.publish("news", "{\"n\":2}").await;
    let push = next_non_ping(&mut stream).await;
    assert_eq!(push.channel, "hist:a");
    let publication = push.r#pub.unwrap();
    assert_eq!(
        (publication.offset, publication.data.as_ref()),
        (1, &b"{\"n\":1}"[..])
    );
    let push = next_non_ping(&mut stream).await;
    assert_eq!(push.channel, "news");
    assert_eq!(push.r#pub.unwrap().data.as_ref(), b"{\"n\":2}");

    // The connection is a real client: presence-free channels still count it.
    let channels = s.state.node.channels(None);
    assert_eq!(channels.get("hist:a"), Some(&1));
}

#[tokio::test]
async fn recovery_through_connect_subs() {
    let s = Server::start().await;
    let mut stream = s.consume(connect_with(token("bob", &["hist:r"]))).await;
    let connect = next(&mut stream).await.connect.unwrap();
    let epoch = connect.subs["hist:r"].epoch.clone();
    s.publish("hist:r", "1").await;
    let seen = next_non_ping(&mut stream).await.r#pub.unwrap().offset;
    assert_eq!(seen, 1);
    drop(stream);

    // Missed while away.
    s.publish("hist:r", "2").await;
    s.publish("hist:r", "3").await;

    let mut req = connect_with(token("bob", &["hist:r"]));
    req.subs.insert(
        "hist:r".into(),
        SubscribeRequest {
            recover: true,
            offset: seen,
            epoch: epoch.clone(),
            ..Default::default()
        },
    );
    let mut stream = s.consume(req).await;
    let connect = next(&mut stream).await.connect.unwrap();
    let sub = &connect.subs["hist:r"];
    assert!(sub.recovered, "{sub:?}");
    assert!(sub.was_recovering);
    assert_eq!(sub.epoch, epoch);
    let offsets: Vec<u64> = sub.publications.iter().map(|p| p.offset).collect();
    assert_eq!(offsets, [2, 3]);
    // Live after the recovered ones.
    s.publish("hist:r", "4").await;
    assert_eq!(next_non_ping(&mut stream).await.r#pub.unwrap().offset, 4);
}

#[tokio::test]
async fn refused_connect_and_server_disconnect_are_pushes() {
    let s = Server::start().await;
    let mut stream = s.consume(connect_with("not-a-token".into())).await;
    let push = next(&mut stream).await;
    let disconnect = push.disconnect.expect("disconnect push");
    assert_eq!(disconnect.code, 3500);
    assert!(stream.message().await.unwrap().is_none(), "stream ends");

    let mut stream = s.consume(connect_with(token("carol", &[]))).await;
    assert!(next(&mut stream).await.connect.is_some());
    s.state
        .node
        .disconnect(
            "carol",
            chorus_node::Disconnect::new(4000, "bye"),
            None,
            &[],
        )
        .await
        .expect("api call");
    let disconnect = next_non_ping(&mut stream).await.disconnect.unwrap();
    assert_eq!((disconnect.code, disconnect.reason.as_str()), (4000, "bye"));
    assert!(stream.message().await.unwrap().is_none(), "stream ends");
    // The client is gone from the node.
    assert!(!s.state.node.user_connections().contains_key("carol"));
}

#[tokio::test]
async fn cancelled_call_ends_the_connection() {
    let s = Server::start().await;
    let mut stream = s.consume(connect_with(token("dave", &["hist:c"]))).await;
    assert!(next(&mut stream).await.connect.is_some());
    assert_eq!(s.state.node.channels(None).get("hist:c"), Some(&1));
    drop(stream);
    // The engine notices the closed stream and unsubscribes; no signal is
    // exposed for that, so poll the channel registry.
    for _ in 0..200 {
        if !s.state.node.channels(None).contains_key("hist:c") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the connection outlived its call");
}

#[tokio::test]
async fn unknown_methods_and_oversized_requests_are_refused() {
    let state = AppState::new(config()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut uni = state.config.uni_grpc.clone();
    uni.max_receive_message_size = 256;
    let node = state.node.clone();
    tokio::spawn(async move {
        chorus_server::grpc::serve_uni(listener, node, &uni, std::future::pending())
            .await
            .unwrap();
    });
    let url = format!("http://{addr}");

    // Another service's method on the uni_grpc port.
    let mut api = CentrifugoApiClient::connect(url.clone()).await.unwrap();
    let status = api
        .info(chorus_server::grpc_proto::api::InfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);

    let mut client = CentrifugoUniStreamClient::connect(url).await.unwrap();
    let status = client
        .consume(connect_with("x".repeat(1024)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    // A request within the limit is served.
    let mut stream = client
        .consume(connect_with(token("erin", &[])))
        .await
        .unwrap()
        .into_inner();
    assert!(next(&mut stream).await.connect.is_some());
}
