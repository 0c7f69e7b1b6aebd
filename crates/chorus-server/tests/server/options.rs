//! Options that change what a connection sees: the limit of server-side
//! subscriptions at connect, …

use chorus_protocol::{Command, ConnectRequest, Protocol};
use chorus_testkit::ProtocolClient;
use serde_json::json;
use std::net::SocketAddr;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{SECRET, config, start, token};

/// A WebSocket client whose handshake carries `headers`.
async fn open_with(addr: SocketAddr, headers: &[(&'static str, &str)]) -> ProtocolClient {
    let mut req = format!("ws://{addr}/connection/websocket")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        req.headers_mut().insert(*name, value.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ProtocolClient::from_stream(ws, Protocol::Json)
}

#[tokio::test]
async fn more_server_side_subscriptions_than_channel_limit_close_with_3505() {
    let cfg = config(json!({"client": {
        "token": {"hmac_secret_key": SECRET},
        "channel_limit": 2,
    }}));
    let (addr, _state) = start(cfg).await;
    let mut c = open_with(addr, &[]).await;
    let r = c.connect(token("u", None, &["a", "b"])).await;
    assert_eq!(r.connect.expect("two fit").subs.len(), 2);

    let mut c = open_with(addr, &[]).await;
    c.send(Command {
        connect: Some(ConnectRequest {
            token: token("u", None, &["a", "b", "c"]),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await.0, 3505);
}
