//! The WebSocket transport and the engine over real sockets, with the real
//! protocol codecs: what an unmodified Centrifugo SDK sees.

use bytes::Bytes;
use chorus_protocol::{
    Command, ConnectRequest, HistoryRequest, PresenceStatsRequest, Protocol, PublishRequest,
    RpcRequest, SubscribeRequest,
};
use chorus_server::auth::{ConnectTokenOptions, hs256_connect_token};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::server::router;
use chorus_server::state::AppState;
use chorus_testkit::ProtocolClient;
use futures_util::SinkExt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "test-secret";

fn config() -> ServerConfig {
    let text = r#"{
        "client": {"token": {"hmac_secret_key": "test-secret"}, "allowed_origins": ["http://allowed.test"]},
        "websocket": {"message_size_limit": 4096},
        "channel": {
            "without_namespace": {
                "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true,
                "allow_presence_for_subscriber": true, "allow_history_for_subscriber": true,
                "presence": true, "join_leave": true, "force_push_join_leave": true,
                "history_size": 10, "history_ttl": "300s", "force_recovery": true
            },
            "namespaces": [{"name": "secure"}]
        }
    }"#;
    ServerConfig::from_str_format(text, ConfigFormat::Json)
        .unwrap()
        .config
}

async fn start(config: ServerConfig) -> (SocketAddr, AppState) {
    let state = AppState::new(config).unwrap();
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

fn token(user: &str, ttl: Option<i64>) -> String {
    hs256_connect_token(
        SECRET,
        &ConnectTokenOptions {
            user: user.into(),
            ttl_seconds: ttl,
            ..Default::default()
        },
    )
    .unwrap()
}

/// The shared protocol test client, opened on this server's WebSocket endpoint.
struct Client;

impl Client {
    async fn open(addr: SocketAddr, protocol: Protocol) -> ProtocolClient {
        ProtocolClient::open(&format!("ws://{addr}/connection/websocket"), protocol).await
    }
}

#[tokio::test]
async fn json_connect_subscribe_receive_publish_history_presence() {
    let (addr, state) = start(config()).await;
    let mut a = Client::open(addr, Protocol::Json).await;
    let r = a.connect(token("alice", Some(3600))).await;
    let connect = r.connect.expect("connect result");
    assert!(!connect.client.is_empty());
    assert_eq!(connect.ping, 25);
    assert!(connect.pong);
    assert!(connect.expires && connect.ttl > 3500 && connect.ttl <= 3600);

    let sub = a
        .subscribe("news")
        .await
        .subscribe
        .expect("subscribe result");
    assert!(sub.recoverable && sub.positioned, "force_recovery");
    assert_eq!(sub.offset, 0);
    assert_eq!(sub.epoch.len(), 8);

    // A server API publish arrives as a push with its offset.
    let pos = state
        .node
        .publish(
            "news",
            Bytes::from_static(br#"{"n":1}"#),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(pos.offset, 1);
    let push = a.recv_push().await;
    assert_eq!(push.channel, "news");
    let publication = push.r#pub.expect("publication");
    assert_eq!(&publication.data[..], br#"{"n":1}"#);
    assert_eq!(publication.offset, 1);

    // Client publish (allowed for subscribers) reaches a second client, with info.
    let mut b = Client::open(addr, Protocol::Protobuf).await;
    b.connect(token("bob", None))
        .await
        .connect
        .expect("connect");
    b.subscribe("news").await.subscribe.expect("subscribe");
    // alice sees bob's join (force_push_join_leave).
    loop {
        let push = a.recv().await.push.expect("join push");
        if let Some(join) = push.join
            && join.info.unwrap().user == "bob"
        {
            break;
        }
    }
    let r = a
        .call(Command {
            publish: Some(PublishRequest {
                channel: "news".into(),
                data: Bytes::from_static(br#"{"from":"alice"}"#),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    assert!(r.publish.is_some(), "{r:?}");
    let got = b.recv_push().await.r#pub.unwrap();
    assert_eq!(&got.data[..], br#"{"from":"alice"}"#);
    assert_eq!(got.info.unwrap().user, "alice");
    assert_eq!(got.offset, 2);

    let stats = a
        .call(Command {
            presence_stats: Some(PresenceStatsRequest {
                channel: "news".into(),
            }),
            ..Default::default()
        })
        .await;
    let stats = stats.presence_stats.unwrap();
    assert_eq!((stats.num_clients, stats.num_users), (2, 2));

    let h = b
        .call(Command {
            history: Some(HistoryRequest {
                channel: "news".into(),
                limit: -1,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let h = h.history.unwrap();
    assert_eq!(
        h.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(h.offset, 2);

    // RPC with no handler configured (no proxy, no `rpc.ping`): 108 not available.
    let r = a
        .call(Command {
            rpc: Some(RpcRequest {
                method: "nope".into(),
                data: Bytes::from_static(b"{}"),
            }),
            ..Default::default()
        })
        .await;
    assert_eq!(r.error.unwrap().code, 108);
    // Permission denied in a namespace with nothing allowed: 103; unknown namespace: 102.
    assert_eq!(a.subscribe("secure:x").await.error.unwrap().code, 103);
    assert_eq!(a.subscribe("nope:x").await.error.unwrap().code, 102);
    // Non-ASCII channel names without a `channel_regex`: 107, as Centrifugo.
    assert_eq!(a.subscribe("café").await.error.unwrap().code, 107);
    assert_eq!(a.subscribe("news").await.error.unwrap().code, 105);
    assert_eq!(state.node.info().num_clients, 2);
}

#[tokio::test]
async fn recovery_returns_missed_publications_in_order() {
    let (addr, state) = start(config()).await;
    let mut a = Client::open(addr, Protocol::Json).await;
    a.connect(token("alice", None)).await;
    let sub = a.subscribe("feed").await.subscribe.unwrap();
    let epoch = sub.epoch.clone();
    a.ws.close(None).await.unwrap();
    for i in 1..=5 {
        state
            .node
            .publish(
                "feed",
                Bytes::from(format!("{{\"i\":{i}}}")),
                Default::default(),
            )
            .await
            .unwrap();
    }
    let mut b = Client::open(addr, Protocol::Json).await;
    b.connect(token("alice", None)).await;
    let r = b
        .call(Command {
            subscribe: Some(SubscribeRequest {
                channel: "feed".into(),
                recover: true,
                offset: 0,
                epoch: epoch.clone(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .subscribe
        .unwrap();
    assert!(r.recovered && r.was_recovering);
    assert_eq!(r.epoch, epoch);
    assert_eq!(r.offset, 0, "offset is the client's requested one");
    assert_eq!(
        r.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );

    // Wrong epoch: not recovered, current top, no publications.
    let mut c = Client::open(addr, Protocol::Json).await;
    c.connect(token("carol", None)).await;
    let r = c
        .call(Command {
            subscribe: Some(SubscribeRequest {
                channel: "feed".into(),
                recover: true,
                offset: 2,
                epoch: "xxxxxxxx".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .subscribe
        .unwrap();
    assert!(!r.recovered && r.was_recovering);
    assert!(r.publications.is_empty());
    assert_eq!(r.offset, 5);
}

#[tokio::test]
async fn bad_input_gets_documented_codes() {
    let (addr, _state) = start(config()).await;
    // Bad signature: 3500.
    let mut c = Client::open(addr, Protocol::Json).await;
    let bad = hs256_connect_token(
        "wrong",
        &ConnectTokenOptions {
            user: "x".into(),
            ..Default::default()
        },
    )
    .unwrap();
    c.send(Command {
        connect: Some(ConnectRequest {
            token: bad,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await.0, 3500);

    // Expired token: reply 109, connection stays (SDK refreshes).
    let mut c = Client::open(addr, Protocol::Json).await;
    let expired = chorus_server::auth::sign_claims(
        &serde_json::json!({"sub": "x", "exp": 1_000_000_000}),
        jsonwebtoken::Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        None,
    )
    .unwrap();
    let r = c.connect(expired).await;
    assert_eq!(r.error.unwrap().code, 109);

    // Command before connect: 3501.
    let mut c = Client::open(addr, Protocol::Json).await;
    c.send(Command {
        subscribe: Some(SubscribeRequest {
            channel: "a".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await.0, 3501);

    // Malformed frame: 3501.
    let mut c = Client::open(addr, Protocol::Json).await;
    c.ws.send(Message::text("{not json")).await.unwrap();
    assert_eq!(c.closed_with().await.0, 3501);

    // Oversized message: 1009.
    let mut c = Client::open(addr, Protocol::Json).await;
    c.ws.send(Message::text("x".repeat(5000))).await.unwrap();
    assert_eq!(c.closed_with().await.0, 1009);

    // No token, no anonymous access: 3501.
    let mut c = Client::open(addr, Protocol::Json).await;
    c.send(Command {
        connect: Some(ConnectRequest::default()),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await.0, 3501);

    // Origin not in allowed_origins: 403 before the upgrade.
    let mut req = format!("ws://{addr}/connection/websocket")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.test".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let mut req = format!("ws://{addr}/connection/websocket")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "http://allowed.test".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
}

#[tokio::test]
async fn api_disconnect_and_unsubscribe_reach_the_client() {
    let (addr, state) = start(config()).await;
    let mut a = Client::open(addr, Protocol::Json).await;
    a.connect(token("alice", None)).await;
    a.subscribe("room").await.subscribe.unwrap();
    state.node.unsubscribe("alice", "room", None).await.unwrap();
    let push = a.recv_push().await;
    assert_eq!(push.channel, "room");
    assert_eq!(push.unsubscribe.unwrap().code, 2000);
    state
        .node
        .disconnect(
            "alice",
            chorus_node::Disconnect::new(4001, "bye"),
            None,
            &[],
        )
        .await
        .expect("api call");
    assert_eq!(a.closed_with().await, (4001, "bye".to_owned()));
}

#[tokio::test]
async fn server_side_subscriptions_from_token_channels() {
    let (addr, state) = start(config()).await;
    let mut a = Client::open(addr, Protocol::Protobuf).await;
    let t = hs256_connect_token(
        SECRET,
        &ConnectTokenOptions {
            user: "u".into(),
            channels: vec!["personal".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let r = a.connect(t).await.connect.unwrap();
    assert!(r.subs.contains_key("personal"), "{r:?}");
    state
        .node
        .publish(
            "personal",
            Bytes::from_static(b"{\"x\":1}"),
            Default::default(),
        )
        .await
        .unwrap();
    let push = a.recv_push().await;
    assert_eq!(push.channel, "personal");
    assert!(push.r#pub.is_some());
}

#[tokio::test]
async fn shutdown_sends_3001() {
    let (addr, state) = start(config()).await;
    let mut a = Client::open(addr, Protocol::Json).await;
    a.connect(token("alice", None)).await;
    let node = state.node.clone();
    tokio::spawn(async move { node.shutdown(Duration::from_secs(5)).await });
    assert_eq!(a.closed_with().await.0, 3001);
}

#[tokio::test]
async fn redis_engine_is_built_from_the_config() {
    // The engine is available now: the state builds (Redis is contacted on first
    // use; engine_redis.rs runs it against a real server).
    let cfg = ServerConfig::from_str_format(
        r#"{"engine": {"type": "redis", "redis": {"address": ["redis://127.0.0.1:1"]}}}"#,
        ConfigFormat::Json,
    )
    .unwrap()
    .config;
    assert!(AppState::new(cfg).is_ok());
}
