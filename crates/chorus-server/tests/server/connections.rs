//! The `connections` API method (Centrifugo PRO's, without CEL expressions)
//! over real sockets: WebSocket clients of two users, the HTTP API with and
//! without a user filter, the unsupported `expression` (107), and parity of the
//! gRPC API with the HTTP API.

use crate::grpc_support;

use chorus_protocol::{ConnectRequest, Protocol};
use chorus_server::auth::{ConnectTokenOptions, hs256_connect_token};
use chorus_server::grpc_proto::api as pb;
use chorus_testkit::ProtocolClient;
use grpc_support::{SECRET, Server, authed};
use serde_json::{Value, json};

/// A WebSocket client of `user` that sends `name`/`version` when connecting;
/// returns it with its client id.
async fn app_client(s: &Server, user: &str, name: &str, version: &str) -> (ProtocolClient, String) {
    let mut c = ProtocolClient::open(&s.ws_url(), Protocol::Json).await;
    let token = hs256_connect_token(
        SECRET,
        &ConnectTokenOptions {
            user: user.into(),
            ..Default::default()
        },
    )
    .unwrap();
    let reply = c
        .connect_with(ConnectRequest {
            token,
            name: name.into(),
            version: version.into(),
            ..ConnectRequest::default()
        })
        .await;
    let id = reply.connect.expect("connected").client;
    (c, id)
}

fn sorted_channels(v: &Value) -> Vec<&str> {
    let mut out: Vec<&str> = v["channels"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.sort_unstable();
    out
}

#[tokio::test]
async fn connections_lists_clients_with_channels_and_filters_by_user() {
    let s = Server::default().await;
    let (mut a1, a1_id) = app_client(&s, "alice", "js", "5.8.0").await;
    assert!(a1.subscribe("hist:room").await.subscribe.is_some());
    assert!(a1.subscribe("lobby").await.subscribe.is_some());
    let (_a2, a2_id) = app_client(&s, "alice", "", "").await;
    let (mut b, b_id) = app_client(&s, "bob", "python", "0.4").await;
    assert!(b.subscribe("hist:room").await.subscribe.is_some());

    let all = s.http("connections", json!({})).await;
    let conns = all["connections"].as_object().expect("a map");
    assert_eq!(conns.len(), 3, "{all}");
    let a1 = &conns[&a1_id];
    assert_eq!(a1["user"], "alice");
    assert_eq!(a1["app_name"], "js");
    assert_eq!(a1["app_version"], "5.8.0");
    assert_eq!(a1["transport"], "websocket");
    assert_eq!(a1["protocol"], "json");
    assert_eq!(sorted_channels(a1), ["hist:room", "lobby"]);
    let a2 = &conns[&a2_id];
    assert_eq!(a2["user"], "alice");
    assert!(sorted_channels(a2).is_empty(), "{a2}");
    assert_eq!(conns[&b_id]["app_name"], "python");
    assert_eq!(sorted_channels(&conns[&b_id]), ["hist:room"]);

    let alice = s.http("connections", json!({"user": "alice"})).await;
    let mut ids: Vec<&String> = alice["connections"].as_object().unwrap().keys().collect();
    ids.sort();
    let mut expected = vec![&a1_id, &a2_id];
    expected.sort();
    assert_eq!(ids, expected);

    let nobody = s.http("connections", json!({"user": "nobody"})).await;
    assert_eq!(nobody, json!({"connections": {}}));
}

#[tokio::test]
async fn expression_is_not_supported() {
    let s = Server::default().await;
    let reply = s
        .http(
            "connections",
            json!({"expression": "conn.user == \"alice\""}),
        )
        .await;
    assert_eq!(reply["error"]["code"], 107, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("not supported"), "{message}");
}

#[tokio::test]
async fn grpc_connections_match_http() {
    let s = Server::default().await;
    let (mut a, a_id) = app_client(&s, "alice", "js", "5.8.0").await;
    assert!(a.subscribe("lobby").await.subscribe.is_some());
    let (_b, _) = app_client(&s, "bob", "", "").await;

    let http = s.http("connections", json!({"user": "alice"})).await;
    let grpc = s
        .client()
        .await
        .connections(authed(pb::ConnectionsRequest {
            user: "alice".into(),
            ..pb::ConnectionsRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(grpc.error.is_none(), "{grpc:?}");
    let conns = grpc.result.unwrap().connections;
    assert_eq!(conns.len(), 1);
    let c = &conns[&a_id];
    let h = &http["connections"][&a_id];
    assert_eq!(c.user, h["user"]);
    assert_eq!(c.app_name, h["app_name"]);
    assert_eq!(c.app_version, h["app_version"]);
    assert_eq!(c.transport, h["transport"]);
    assert_eq!(c.protocol, h["protocol"]);
    assert_eq!(c.channels, ["lobby"]);

    let refused = s
        .client()
        .await
        .connections(authed(pb::ConnectionsRequest {
            expression: "true".into(),
            ..pb::ConnectionsRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(refused.error.map(|e| e.code), Some(107));
}
