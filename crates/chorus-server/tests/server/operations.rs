//! Operations over real sockets: Prometheus metrics, health, and limits with
//! their documented codes (connection, user connection, channel, connection rate,
//! per-connection command rate).

use async_trait::async_trait;
use chorus_node::{
    BackendError, Broker, BrokerEvents, HistoryFilter, HistoryResult, Node, NodeConfig,
    PublishOptions, PublishResult,
};
use chorus_protocol::{ClientInfo, Command, HistoryRequest, Protocol, Publication};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::server::router;
use chorus_server::state::AppState;
use chorus_testkit::ProtocolClient;
use std::net::SocketAddr;
use std::time::Duration;

const API_KEY: &str = "ops-key";

fn config(extra: &str) -> ServerConfig {
    let text = format!(
        r#"{{
        "client": {{"insecure": true {extra}}},
        "http_api": {{"key": "{API_KEY}"}},
        "prometheus": {{"enabled": true}},
        "health": {{"enabled": true}},
        "channel": {{"without_namespace": {{"history_size": 10, "history_ttl": "60s"}}}}
    }}"#
    );
    let loaded = ServerConfig::from_str_format(&text, ConfigFormat::Json).unwrap();
    loaded.config.validate().unwrap();
    loaded.config
}

async fn serve(state: AppState) -> SocketAddr {
    let app = router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn start(config: ServerConfig) -> SocketAddr {
    serve(AppState::new(config).unwrap()).await
}

async fn client(addr: SocketAddr) -> ProtocolClient {
    ProtocolClient::open(&format!("ws://{addr}/connection/websocket"), Protocol::Json).await
}

async fn connected(addr: SocketAddr) -> ProtocolClient {
    let mut c = client(addr).await;
    let reply = c.connect("").await;
    assert!(reply.connect.is_some(), "{reply:?}");
    c
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn api(addr: SocketAddr, method: &str, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("http://{addr}/api/{method}"))
        .header("X-API-Key", API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The value of one sample line (`name{labels} value`) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_clients_messages_commands_and_api_calls() {
    let addr = start(config("")).await;
    let mut c = connected(addr).await;
    assert!(c.subscribe("news").await.subscribe.is_some());
    let r = api(
        addr,
        "publish",
        serde_json::json!({"channel": "news", "data": {"n": 1}}),
    )
    .await;
    assert!(r.get("result").is_some(), "{r}");
    let p = c.recv_publication("news").await;
    assert_eq!(&p.data[..], br#"{"n":1}"#);

    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let has = |series: &str, want: f64| {
        assert_eq!(sample(&text, series), Some(want), "{series} in\n{text}");
    };
    has("centrifugo_node_num_clients", 1.0);
    has("centrifugo_node_num_users", 1.0);
    has("centrifugo_node_num_subscriptions", 1.0);
    has("centrifugo_node_num_channels", 1.0);
    has(
        "centrifugo_node_messages_sent_count{type=\"publication\"}",
        1.0,
    );
    has(
        "centrifugo_node_messages_received_count{type=\"publication\"}",
        1.0,
    );
    has(
        "centrifugo_client_command_duration_seconds_count{method=\"connect\"}",
        1.0,
    );
    has(
        "centrifugo_client_command_duration_seconds_count{method=\"subscribe\"}",
        1.0,
    );
    has(
        "centrifugo_api_command_duration_seconds_count{method=\"publish\",protocol=\"http\"}",
        1.0,
    );
    has("centrifugo_broker_publish_duration_seconds_count", 1.0);
    has(
        "centrifugo_transport_connect_count{transport=\"websocket\"}",
        1.0,
    );
    // connect reply, subscribe reply, publication.
    has(
        "centrifugo_transport_messages_sent{transport=\"websocket\"}",
        3.0,
    );
    has(
        "centrifugo_transport_messages_received{transport=\"websocket\"}",
        2.0,
    );
    assert!(
        sample(
            &text,
            "centrifugo_transport_messages_sent_size{transport=\"websocket\"}"
        )
        .unwrap()
            > 20.0
    );
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 0.0);
}

#[tokio::test]
async fn metrics_endpoint_is_off_by_default() {
    let cfg = ServerConfig::default();
    let addr = start(cfg).await;
    assert_eq!(get(addr, "/metrics").await.0, 404);
}

#[tokio::test]
async fn health_is_200_with_a_reachable_broker() {
    let addr = start(config("")).await;
    assert_eq!(get(addr, "/health").await, (200, "{}".to_owned()));
}

/// A broker whose backend is down.
struct DownBroker;

#[async_trait]
impl Broker for DownBroker {
    async fn publish(
        &self,
        _: &str,
        _: Publication,
        _: &PublishOptions,
    ) -> Result<PublishResult, BackendError> {
        Err(BackendError::Failed("down".into()))
    }
    async fn publish_join(&self, _: &str, _: ClientInfo) -> Result<(), BackendError> {
        Ok(())
    }
    async fn publish_leave(&self, _: &str, _: ClientInfo) -> Result<(), BackendError> {
        Ok(())
    }
    async fn subscribe(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn unsubscribe(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn history(
        &self,
        _: &str,
        _: HistoryFilter,
        _: Duration,
    ) -> Result<HistoryResult, BackendError> {
        Ok(HistoryResult::default())
    }
    async fn remove_history(&self, _: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn healthy(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn health_is_503_while_the_broker_is_unreachable() {
    let mut state = AppState::new(config("")).unwrap();
    state.node = Node::builder(NodeConfig::default())
        .broker(|_: std::sync::Arc<dyn BrokerEvents>| DownBroker)
        .build();
    let addr = serve(state).await;
    assert_eq!(get(addr, "/health").await, (503, "{}".to_owned()));
}

#[tokio::test]
async fn connection_limit_closes_with_3504_and_is_counted() {
    let addr = start(config(r#", "connection_limit": 1"#)).await;
    let _first = connected(addr).await;
    let mut second = client(addr).await;
    second
        .send(Command {
            connect: Some(Default::default()),
            ..Default::default()
        })
        .await;
    assert_eq!(second.closed_with().await.0, 3504);
    let (_, text) = get(addr, "/metrics").await;
    assert_eq!(
        sample(
            &text,
            "centrifugo_client_num_server_disconnects{code=\"3504\",reason=\"connection limit\"}"
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn user_connection_limit_closes_with_3504() {
    let mut cfg = config(r#", "user_connection_limit": 1"#);
    cfg.client.insecure = false;
    cfg.client.token.hmac_secret_key = "s".into();
    let addr = start(cfg).await;
    let token = chorus_server::auth::hs256_connect_token(
        "s",
        &chorus_server::auth::ConnectTokenOptions {
            user: "bob".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut a = client(addr).await;
    assert!(a.connect(token.clone()).await.connect.is_some());
    let mut b = client(addr).await;
    b.send(Command {
        connect: Some(chorus_protocol::ConnectRequest {
            token,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(b.closed_with().await.0, 3504);
}

#[tokio::test]
async fn channel_limit_answers_106() {
    let addr = start(config(r#", "channel_limit": 1"#)).await;
    let mut c = connected(addr).await;
    assert!(c.subscribe("a").await.subscribe.is_some());
    let r = c.subscribe("b").await;
    assert_eq!(r.error.map(|e| e.code), Some(106));
}

#[tokio::test]
async fn connection_rate_limit_answers_503_before_the_upgrade() {
    let addr = start(config(r#", "connection_rate_limit": 1"#)).await;
    let _first = connected(addr).await;
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/connection/websocket"))
        .await
        .expect_err("second connection within the second is refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 503),
        other => panic!("unexpected error {other}"),
    }
}

fn history(channel: &str) -> Command {
    Command {
        history: Some(HistoryRequest {
            channel: channel.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

const RATE_LIMIT: &str = r#", "rate_limit": {"client_command": {"enabled": true,
    "total": {"buckets": [{"interval": "1h", "rate": 2}]},
    "history": {"buckets": [{"interval": "1h", "rate": 1}]}"#;

#[tokio::test]
async fn command_rate_limit_answers_111() {
    let addr = start(config(&format!("{RATE_LIMIT}}}}}"))).await;
    let mut c = connected(addr).await;
    assert!(c.call(history("h")).await.error.is_none());
    let refused = c
        .call(history("h"))
        .await
        .error
        .expect("history bucket is empty");
    assert_eq!(refused.code, 111);
    assert!(refused.temporary);
    // The total bucket had 2 tokens and the refused command took none of them.
    assert!(c.subscribe("a").await.subscribe.is_some());
    assert_eq!(c.subscribe("b").await.error.map(|e| e.code), Some(111));
    let (_, text) = get(addr, "/metrics").await;
    assert_eq!(
        sample(&text, "centrifugo_client_num_rate_limited_commands"),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "centrifugo_client_num_reply_errors{code=\"111\",method=\"history\"}"
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn command_rate_limit_can_disconnect_with_3013() {
    let addr = start(config(&format!(r#"{RATE_LIMIT}, "disconnect": true}}}}"#))).await;
    let mut c = connected(addr).await;
    assert!(c.call(history("h")).await.error.is_none());
    c.send(history("h")).await;
    assert_eq!(c.closed_with().await.0, 3013);
}

#[test]
fn zero_rate_bucket_is_refused_at_start_up() {
    let text = r#"{"client": {"rate_limit": {"client_command": {"enabled": true,
        "total": {"buckets": [{"interval": "1s", "rate": 0}]}}}}}"#;
    let cfg = ServerConfig::from_str_format(text, ConfigFormat::Json)
        .unwrap()
        .config;
    let err = cfg.validate().unwrap_err().to_string();
    assert!(
        err.contains("client.rate_limit.client_command.total.buckets[0].rate"),
        "{err}"
    );
}

#[tokio::test]
async fn lame_duck_shutdown_spreads_3001_over_the_window() {
    let state = AppState::new(config("")).unwrap();
    let node = state.node.clone();
    let addr = serve(state).await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connected(addr).await);
    }
    let started = std::time::Instant::now();
    let shutdown = tokio::spawn(async move {
        node.shutdown_gradually(Duration::from_secs(5), Duration::from_millis(600))
            .await;
    });
    let closes = futures_util::future::join_all(clients.iter_mut().map(|c| async move {
        let code = c.closed_with().await.0;
        (code, started.elapsed())
    }))
    .await;
    assert!(closes.iter().all(|(code, _)| *code == 3001), "{closes:?}");
    let mut closed_at: Vec<Duration> = closes.into_iter().map(|(_, t)| t).collect();
    shutdown.await.unwrap();
    closed_at.sort();
    // Four rounds 150 ms apart: the last client goes at least ~450 ms after the first.
    let gap = closed_at[3] - closed_at[0];
    assert!(gap >= Duration::from_millis(400), "{closed_at:?}");
    // New connections are refused with 3001 during and after the shutdown.
    let mut late = client(addr).await;
    assert_eq!(late.closed_with().await.0, 3001);
}

#[test]
fn pid_file_flag_and_shutdown_spread_key() {
    use clap::Parser;
    let cli = chorus_server::cli::Cli::try_parse_from(["chorus", "--pid-file", "/tmp/chorus.pid"])
        .unwrap();
    let loaded = cli
        .global
        .apply_flags(chorus_server::config::ConfigLoader::new())
        .load_str(
            r#"{"shutdown": {"disconnect_spread": "5s"}}"#,
            ConfigFormat::Json,
        )
        .unwrap();
    assert_eq!(loaded.config.pid_file, "/tmp/chorus.pid");
    assert_eq!(
        loaded.config.shutdown.disconnect_spread.to_std(),
        Some(Duration::from_secs(5))
    );
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
}
