//! Bidirectional emulation over real HTTP (spec §1.3): HTTP-streaming (JSON and
//! Protobuf) and SSE sessions with their commands posted to `/emulation`, and every
//! error status of the endpoints.

use crate::support;

use bytes::Bytes;
use chorus_protocol::{
    Command, ConnectRequest, EmulationRequest, Protocol, PublishRequest, Reply, SubscribeRequest,
};
use prost::Message as _;
use serde_json::json;
use std::net::SocketAddr;
use support::{BodyReader, config, json_reply, start, token};

fn json_commands(commands: &[Command]) -> String {
    commands
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn connect(id: u32, token: String) -> Command {
    Command {
        id,
        connect: Some(ConnectRequest {
            token,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn subscribe(id: u32, channel: &str) -> Command {
    Command {
        id,
        subscribe: Some(SubscribeRequest {
            channel: channel.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn publish(id: u32, channel: &str, data: &'static str) -> Command {
    Command {
        id,
        publish: Some(PublishRequest {
            channel: channel.into(),
            data: Bytes::from_static(data.as_bytes()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Posts JSON commands of a session to `/emulation`; returns the status.
async fn emulate_json(addr: SocketAddr, node: &str, session: &str, commands: &[Command]) -> u16 {
    let body = json!({"node": node, "session": session, "data": json_commands(commands)});
    reqwest::Client::new()
        .post(format!("http://{addr}/emulation"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn open_http_stream_json(addr: SocketAddr, first: &[Command]) -> BodyReader {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/connection/http_stream"))
        .header("content-type", "application/json")
        .body(json_commands(first))
        .send()
        .await
        .unwrap();
    BodyReader::new(response)
}

/// Reads `n` JSON replies.
async fn replies(reader: &mut BodyReader, n: usize) -> Vec<Reply> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(json_reply(&reader.line().await.expect("body ended")));
    }
    out
}

#[tokio::test]
async fn http_stream_json_connect_subscribe_publish() {
    let (addr, state) = start(config(json!({}))).await;
    let mut stream = open_http_stream_json(addr, &[connect(1, token("alice", None, &[]))]).await;
    let connect = json_reply(&stream.line().await.unwrap()).connect.unwrap();
    assert!(!connect.session.is_empty());
    assert_eq!(connect.node, state.node.info().uid);
    assert!(connect.pong);

    let (node, session) = (connect.node.clone(), connect.session.clone());
    assert_eq!(
        emulate_json(addr, &node, &session, &[subscribe(2, "chat")]).await,
        204
    );
    let sub = json_reply(&stream.line().await.unwrap());
    assert_eq!(sub.id, 2);
    assert!(sub.subscribe.is_some());

    assert_eq!(
        emulate_json(addr, &node, &session, &[publish(3, "chat", r#"{"m":1}"#)]).await,
        204
    );
    let got = replies(&mut stream, 2).await;
    let publication = got
        .iter()
        .find_map(|r| r.push.as_ref().and_then(|p| p.r#pub.clone()))
        .expect("publication push");
    assert_eq!(&publication.data[..], br#"{"m":1}"#);
    assert!(got.iter().any(|r| r.id == 3 && r.publish.is_some()));
}

#[tokio::test]
async fn http_stream_protobuf_connect_subscribe_publish() {
    let (addr, _state) = start(config(json!({}))).await;
    let mut body = Vec::new();
    for c in [connect(1, token("bob", None, &[])), subscribe(2, "chat")] {
        body.extend_from_slice(&chorus_protocol::encode(Protocol::Protobuf, &c).unwrap());
    }
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/connection/http_stream"))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let mut stream = BodyReader::new(response);
    let decode = |b: Bytes| {
        chorus_protocol::decode_replies(Protocol::Protobuf, &b)
            .unwrap()
            .remove(0)
    };
    let connect = decode(stream.delimited().await.unwrap()).connect.unwrap();
    assert_eq!(decode(stream.delimited().await.unwrap()).id, 2);

    let request = EmulationRequest {
        node: connect.node.clone(),
        session: connect.session.clone(),
        data: chorus_protocol::encode(Protocol::Protobuf, &publish(3, "chat", "binary?")).unwrap(),
    };
    let status = reqwest::Client::new()
        .post(format!("http://{addr}/emulation"))
        .header("content-type", "application/octet-stream")
        .body(request.encode_to_vec())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    let mut publication = None;
    let mut published = false;
    for _ in 0..2 {
        let reply = decode(stream.delimited().await.unwrap());
        published |= reply.id == 3 && reply.publish.is_some();
        if let Some(p) = reply.push.and_then(|p| p.r#pub) {
            publication = Some(p);
        }
    }
    assert!(published);
    assert_eq!(&publication.unwrap().data[..], b"binary?");
}

#[tokio::test]
async fn sse_with_cf_connect() {
    let (addr, _state) = start(config(json!({}))).await;
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/connection/sse"))
        .query(&[(
            "cf_connect",
            json_commands(&[connect(1, token("carol", None, &[]))]),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = BodyReader::new(response);
    stream.sse_preamble().await;
    let connect = json_reply(&stream.event().await.unwrap()).connect.unwrap();
    let (node, session) = (connect.node, connect.session);
    assert_eq!(
        emulate_json(addr, &node, &session, &[subscribe(2, "news")]).await,
        204
    );
    assert_eq!(json_reply(&stream.event().await.unwrap()).id, 2);
    assert_eq!(
        emulate_json(addr, &node, &session, &[publish(3, "news", "[1]")]).await,
        204
    );
    let mut pubs = 0;
    for _ in 0..2 {
        let r = json_reply(&stream.event().await.unwrap());
        pubs += usize::from(r.push.is_some_and(|p| p.r#pub.is_some()));
    }
    assert_eq!(pubs, 1);
}

#[tokio::test]
async fn disconnect_is_pushed_then_the_stream_ends_and_the_session_is_gone() {
    let (addr, _state) = start(config(json!({}))).await;
    let mut stream = open_http_stream_json(addr, &[connect(1, token("dave", None, &[]))]).await;
    let connect = json_reply(&stream.line().await.unwrap()).connect.unwrap();
    // id 0 on a subscribe is protocol misuse: 3501.
    assert_eq!(
        emulate_json(addr, &connect.node, &connect.session, &[subscribe(0, "x")]).await,
        204
    );
    let push = json_reply(&stream.line().await.unwrap()).push.unwrap();
    assert_eq!(push.disconnect.unwrap().code, 3501);
    stream.ended().await;
    assert_eq!(
        emulate_json(addr, &connect.node, &connect.session, &[subscribe(2, "x")]).await,
        404
    );
}

#[tokio::test]
async fn endpoint_error_statuses() {
    let (addr, state) = start(config(json!({}))).await;
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{addr}{path}");
    let status = |r: reqwest::Response| r.status().as_u16();

    // Emulation: 405 for other methods, 400 malformed, 404 unknown node/session,
    // 413 over emulation.max_request_body_size (2048 in the test config).
    assert_eq!(
        status(client.get(url("/emulation")).send().await.unwrap()),
        405
    );
    assert_eq!(
        status(
            client
                .post(url("/emulation"))
                .body("{")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            client
                .post(url("/emulation"))
                .body("")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    let not_a_string = json!({"node": "n", "session": "s", "data": {"id": 1}});
    assert_eq!(
        status(
            client
                .post(url("/emulation"))
                .body(not_a_string.to_string())
                .send()
                .await
                .unwrap()
        ),
        400
    );
    let protobuf_garbage = client
        .post(url("/emulation"))
        .header("content-type", "application/octet-stream")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(status(protobuf_garbage), 400);
    let node = state.node.info().uid;
    assert_eq!(
        emulate_json(addr, &node, "no-such-session", &[subscribe(1, "x")]).await,
        404
    );
    assert_eq!(
        emulate_json(addr, "other-node", "s", &[subscribe(1, "x")]).await,
        404
    );
    let big = json!({"node": node, "session": "s", "data": "x".repeat(4096)});
    assert_eq!(
        status(
            client
                .post(url("/emulation"))
                .body(big.to_string())
                .send()
                .await
                .unwrap()
        ),
        413
    );

    // HTTP-streaming: OPTIONS preflight 204, GET 405, bad body 400, body limit 413,
    // foreign origin 403.
    let preflight = client
        .request(reqwest::Method::OPTIONS, url("/connection/http_stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(preflight), 204);
    assert_eq!(
        status(
            client
                .get(url("/connection/http_stream"))
                .send()
                .await
                .unwrap()
        ),
        405
    );
    assert_eq!(
        status(
            client
                .post(url("/connection/http_stream"))
                .body("nope")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            client
                .post(url("/connection/http_stream"))
                .body("")
                .send()
                .await
                .unwrap()
        ),
        400
    );
    let huge = "x".repeat(65537);
    assert_eq!(
        status(
            client
                .post(url("/connection/http_stream"))
                .body(huge)
                .send()
                .await
                .unwrap()
        ),
        413
    );
    let foreign = client
        .post(url("/connection/http_stream"))
        .header("origin", "http://evil.test")
        .body(json_commands(&[connect(1, String::new())]))
        .send()
        .await
        .unwrap();
    assert_eq!(status(foreign), 403);

    // SSE: missing or malformed cf_connect 400, PUT 405.
    assert_eq!(
        status(client.get(url("/connection/sse")).send().await.unwrap()),
        400
    );
    let bad = client
        .get(url("/connection/sse"))
        .query(&[("cf_connect", "{not json")])
        .send()
        .await
        .unwrap();
    assert_eq!(status(bad), 400);
    assert_eq!(
        status(client.put(url("/connection/sse")).send().await.unwrap()),
        405
    );
}

#[tokio::test]
async fn transports_are_off_by_default() {
    let (addr, _state) = start(
        chorus_server::config::ServerConfig::from_str_format(
            "{}",
            chorus_server::config::ConfigFormat::Json,
        )
        .unwrap()
        .config,
    )
    .await;
    let client = reqwest::Client::new();
    for path in [
        "/connection/http_stream",
        "/connection/sse",
        "/emulation",
        "/connection/uni_http_stream",
        "/connection/uni_sse",
    ] {
        let r = client
            .post(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
}
