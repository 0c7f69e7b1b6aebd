//! Options that change what a connection or the API sees: the limit of
//! server-side subscriptions at connect, `client.user_id_http_header`, the
//! default `node.name`.

use chorus_protocol::{Command, ConnectRequest, PresenceRequest, Protocol};
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

/// The user the server sees for `c`, through presence in `channel`.
async fn presence_user(c: &mut ProtocolClient, channel: &str) -> String {
    c.subscribe(channel).await.subscribe.expect("subscribed");
    let r = c
        .call(Command {
            presence: Some(PresenceRequest {
                channel: channel.into(),
            }),
            ..Default::default()
        })
        .await;
    let presence = r.presence.expect("presence").presence;
    assert_eq!(presence.len(), 1, "{presence:?}");
    presence.into_values().next().unwrap().user
}

#[tokio::test]
async fn user_id_http_header_identifies_connections_without_a_token() {
    let cfg = config(json!({"client": {
        "token": {"hmac_secret_key": SECRET},
        "user_id_http_header": "X-User-Id",
    }}));
    let (addr, _state) = start(cfg).await;

    let mut c = open_with(addr, &[("x-user-id", "alice")]).await;
    let r = c.connect_with(ConnectRequest::default()).await;
    assert!(r.error.is_none(), "{r:?}");
    assert_eq!(presence_user(&mut c, "room1").await, "alice");

    // A token still wins over the header.
    let mut c = open_with(addr, &[("x-user-id", "alice")]).await;
    c.connect(token("bob", None, &[])).await.connect.unwrap();
    assert_eq!(presence_user(&mut c, "room2").await, "bob");

    // No header, no token, no anonymous access: nothing identifies the client.
    let mut c = open_with(addr, &[]).await;
    c.send(Command {
        connect: Some(ConnectRequest::default()),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await.0, 3501);
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

#[test]
fn node_name_defaults_to_hostname_and_port() {
    let cfg = config(json!({"http_server": {"port": 8123}}));
    let name = chorus_server::node_setup::node_config(&cfg).name;
    assert_eq!(name, chorus_server::node_setup::default_node_name(8123));
    let (host, port) = name.rsplit_once('_').unwrap();
    assert_eq!(port, "8123");
    assert!(!host.is_empty());
    let cfg = config(json!({"node": {"name": "edge-1"}}));
    assert_eq!(chorus_server::node_setup::node_config(&cfg).name, "edge-1");
}
