//! Two `chorus` servers sharing a real Redis: emulation requests that land on
//! the wrong node are forwarded to the session's node, and the HTTP API of one
//! node lists both nodes and reaches the connections of the other.

use crate::support;

use chorus_protocol::{Command, ConnectRequest, SubscribeRequest};
use chorus_testkit::cluster::eventually;
use chorus_testkit::services::RedisServer;
use serde_json::{Value, json};
use std::net::SocketAddr;
use support::{BodyReader, config, json_reply, start, token};

fn line(commands: &[Command]) -> String {
    commands
        .iter()
        .map(|c| serde_json::to_string(c).expect("encode"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn post(url: String, body: String) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("x-api-key", "cluster-key")
        .body(body)
        .send()
        .await
        .expect("post")
}

async fn api(addr: SocketAddr, method: &str, body: Value) -> Value {
    let r = post(format!("http://{addr}/api/{method}"), body.to_string()).await;
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulation_is_forwarded_and_api_reaches_every_node() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let cfg = || {
        config(json!({
            "engine": {"type": "redis", "redis": {"address": redis.url(), "prefix": "chorus-cluster-test"}},
            "http_api": {"key": "cluster-key"}
        }))
    };
    let (addr_a, state_a) = start(cfg()).await;
    let (addr_b, state_b) = start(cfg()).await;
    eventually("nodes discover each other", || {
        state_a.node.nodes().len() == 2 && state_b.node.nodes().len() == 2
    })
    .await;
    let info = api(addr_b, "info", json!({})).await;
    let nodes = info["result"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{info}");

    // An HTTP-stream session on A.
    let connect = Command {
        id: 1,
        connect: Some(ConnectRequest {
            token: token("erin", None, &[]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let response = post(
        format!("http://{addr_a}/connection/http_stream"),
        line(&[connect]),
    )
    .await;
    let mut stream = BodyReader::new(response);
    let connected = json_reply(&stream.line().await.expect("connect reply"))
        .connect
        .expect("connect");
    assert_eq!(connected.node, state_a.node.info().uid);

    // Its commands posted to B are forwarded to A; the reply comes on A's stream.
    let subscribe = Command {
        id: 2,
        subscribe: Some(SubscribeRequest {
            channel: "news".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let emulation =
        json!({"node": connected.node, "session": connected.session, "data": line(&[subscribe])});
    let r = post(format!("http://{addr_b}/emulation"), emulation.to_string()).await;
    assert_eq!(r.status(), 204);
    let reply = json_reply(&stream.line().await.expect("subscribe reply"));
    assert_eq!(reply.id, 2);
    assert!(reply.subscribe.is_some(), "{reply:?}");

    // An unknown node is 404, as an unknown session is.
    let unknown = json!({"node": "no-such-node", "session": connected.session, "data": "{\"id\":3,\"presence\":{\"channel\":\"news\"}}"});
    let r = post(format!("http://{addr_b}/emulation"), unknown.to_string()).await;
    assert_eq!(r.status(), 404);

    // B's API sees A's channel and connection, and disconnects it.
    let channels = api(addr_b, "channels", json!({})).await;
    assert_eq!(
        channels["result"]["channels"]["news"]["num_clients"], 1,
        "{channels}"
    );
    let conns = api(addr_b, "connections", json!({"user": "erin"})).await;
    assert_eq!(
        conns["result"]["connections"]
            .as_object()
            .expect("map")
            .len(),
        1,
        "{conns}"
    );
    let r = api(
        addr_b,
        "disconnect",
        json!({"user": "erin", "disconnect": {"code": 4005, "reason": "moved"}}),
    )
    .await;
    assert!(r.get("error").is_none(), "{r}");
    let push = json_reply(&stream.line().await.expect("disconnect push"))
        .push
        .expect("push");
    assert_eq!(push.disconnect.expect("disconnect").code, 4005);
}
