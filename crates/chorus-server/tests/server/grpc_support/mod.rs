//! Shared set-up of the gRPC API tests: one node behind the HTTP router and
//! the gRPC API, and request helpers. Each test crate uses a subset.

#![allow(dead_code)]

use std::net::SocketAddr;

use chorus_protocol::Protocol;
use chorus_server::auth::{ConnectTokenOptions, hs256_connect_token};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::grpc_proto::api::centrifugo_api_client::CentrifugoApiClient;
use chorus_server::server::router;
use chorus_server::state::AppState;
use chorus_testkit::ProtocolClient;
use serde_json::Value;
use tonic::Request;
use tonic::transport::Channel;

pub(crate) const KEY: &str = "grpc-secret";
pub(crate) const SECRET: &str = "test-secret";

pub(crate) fn config(grpc_extra: &str) -> ServerConfig {
    let text = format!(
        r#"{{
        "client": {{"token": {{"hmac_secret_key": "{SECRET}"}}}},
        "http_api": {{"insecure": true}},
        "grpc_api": {{"enabled": true, "key": "{KEY}" {grpc_extra}}},
        "channel": {{
            "without_namespace": {{"allow_subscribe_for_client": true}},
            "namespaces": [
                {{"name": "hist", "history_size": 10, "history_ttl": "300s", "presence": true,
                  "allow_subscribe_for_client": true}},
                {{"name": "plain"}}
            ]
        }}
    }}"#
    );
    let config = ServerConfig::from_str_format(&text, ConfigFormat::Json)
        .unwrap()
        .config;
    config.validate().unwrap();
    config
}

/// One node served by the HTTP router (client WebSocket + HTTP API) and by
/// the gRPC API.
pub(crate) struct Server {
    http: SocketAddr,
    grpc: SocketAddr,
    web: reqwest::Client,
}

impl Server {
    pub(crate) async fn start(config: ServerConfig) -> Self {
        let state = AppState::new(config).unwrap();
        let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = http_listener.local_addr().unwrap();
        let app = router(state.clone());
        tokio::spawn(async move { axum::serve(http_listener, app).await.unwrap() });

        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = grpc_listener.local_addr().unwrap();
        let grpc_config = state.config.grpc_api.clone();
        let node = state.node.clone();
        tokio::spawn(async move {
            chorus_server::grpc::serve_api(
                grpc_listener,
                node,
                &grpc_config,
                std::future::pending(),
            )
            .await
            .unwrap();
        });
        Self {
            http,
            grpc,
            web: reqwest::Client::new(),
        }
    }

    pub(crate) async fn default() -> Self {
        Self::start(config("")).await
    }

    pub(crate) async fn client(&self) -> CentrifugoApiClient<Channel> {
        CentrifugoApiClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// `POST /api/<method>`: the `result`, or the whole body on error.
    pub(crate) async fn http(&self, method: &str, body: Value) -> Value {
        let resp = self
            .web
            .post(format!("http://{}/api/{method}", self.http))
            .json(&body)
            .send()
            .await
            .unwrap();
        let v: Value = resp.json().await.unwrap();
        v.get("result").cloned().unwrap_or(v)
    }

    /// The client WebSocket endpoint.
    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/connection/websocket", self.http)
    }

    pub(crate) async fn ws_client(&self, user: &str) -> ProtocolClient {
        let mut c = ProtocolClient::open(
            &format!("ws://{}/connection/websocket", self.http),
            Protocol::Json,
        )
        .await;
        let token = hs256_connect_token(
            SECRET,
            &ConnectTokenOptions {
                user: user.into(),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(c.connect(token).await.connect.is_some());
        c
    }
}

/// A request with the API key (and optional extra metadata).
pub(crate) fn authed<T>(message: T) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut()
        .insert("authorization", format!("apikey {KEY}").parse().unwrap());
    req
}

pub(crate) fn transport_mode<T>(message: T) -> Request<T> {
    let mut req = authed(message);
    req.metadata_mut()
        .insert("x-centrifugo-error-mode", "transport".parse().unwrap());
    req
}
