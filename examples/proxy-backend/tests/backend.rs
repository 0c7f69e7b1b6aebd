//! The example end to end: this backend on a free port, chorus with the
//! example's `config.json` pointed at it, and a real WebSocket client with a
//! session cookie.

use chorus_protocol::{ConnectRequest, Protocol};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::server::router;
use chorus_server::state::AppState;
use chorus_testkit::ProtocolClient;
use example_proxy_backend::{Sessions, app, may_subscribe};
use std::net::SocketAddr;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn start() -> SocketAddr {
    let backend = serve(app(Sessions::new([("alice-session", "alice")]))).await;
    let text = include_str!("../config.json").replace("127.0.0.1:3000", &backend.to_string());
    let config = ServerConfig::from_str_format(&text, ConfigFormat::Json)
        .unwrap()
        .config;
    config.validate().unwrap();
    serve(router(AppState::new(config).unwrap())).await
}

async fn open(addr: SocketAddr, cookie: Option<&str>) -> ProtocolClient {
    let mut req = format!("ws://{addr}/connection/websocket")
        .into_client_request()
        .unwrap();
    if let Some(c) = cookie {
        req.headers_mut().insert("cookie", c.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ProtocolClient::from_stream(ws, Protocol::Json)
}

#[tokio::test]
async fn signed_in_user_connects_and_subscribes_where_allowed() {
    let addr = start().await;
    let mut c = open(addr, Some("theme=dark; session=alice-session")).await;
    let r = c.connect_with(ConnectRequest::default()).await;
    let result = r.connect.expect("connected");
    assert_eq!(result.data.as_ref(), br#"{"welcome":"alice"}"#);
    assert!(c.subscribe("personal:alice").await.subscribe.is_some());
    assert!(c.subscribe("rooms:lobby").await.subscribe.is_some());
    assert_eq!(c.subscribe("personal:bob").await.error.unwrap().code, 1403);
}

#[tokio::test]
async fn no_or_unknown_session_is_refused() {
    let addr = start().await;
    for cookie in [None, Some("session=stolen")] {
        let mut c = open(addr, cookie).await;
        let e = c.connect_with(ConnectRequest::default()).await.error;
        assert_eq!(e.expect("refused").code, 1401);
    }
}

#[test]
fn permissions() {
    assert!(may_subscribe("alice", "personal:alice"));
    assert!(!may_subscribe("alice", "personal:bob"));
    assert!(may_subscribe("bob", "rooms:x"));
    assert!(!may_subscribe("", "rooms:x"));
    assert!(!may_subscribe("bob", "other"));
}
