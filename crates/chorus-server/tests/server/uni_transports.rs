//! Unidirectional transports over real HTTP and WebSocket (spec §1.4): the
//! `connect` push first, bare publication pushes, recovery from `subs`, the
//! disconnect push, empty-push pings, and connect errors as disconnect codes.

use crate::support;

use bytes::Bytes;
use chorus_node::{ApiPublish, Disconnect};
use chorus_protocol::Push;
use chorus_server::state::AppState;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use support::{BodyReader, config, json_push, start, token};
use tokio_tungstenite::tungstenite::Message;

async fn publish(state: &AppState, channel: &str, data: &str) {
    state
        .node
        .publish(channel, Bytes::from(data.to_owned()), ApiPublish::default())
        .await
        .unwrap();
}

async fn uni_http_stream(addr: SocketAddr, connect: serde_json::Value) -> BodyReader {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/connection/uni_http_stream"))
        .body(connect.to_string())
        .send()
        .await
        .unwrap();
    BodyReader::new(response)
}

async fn next_push(reader: &mut BodyReader) -> Push {
    json_push(&reader.line().await.expect("body ended"))
}

#[tokio::test]
async fn uni_http_stream_connect_push_publications_and_disconnect() {
    let (addr, state) = start(config(json!({}))).await;
    let mut stream = uni_http_stream(addr, json!({"token": token("u1", None, &["news"])})).await;
    let first = stream.line().await.unwrap();
    assert!(first.starts_with(b"{\"connect\":{"), "{first:?}");
    let connect = json_push(&first).connect.unwrap();
    assert!(!connect.pong);
    assert!(connect.subs.contains_key("news"));

    publish(&state, "news", r#"{"n":1}"#).await;
    let line = stream.line().await.unwrap();
    assert!(
        line.starts_with(b"{\"channel\":\"news\",\"pub\":{"),
        "{line:?}"
    );

    state
        .node
        .disconnect("u1", Disconnect::FORCE_NO_RECONNECT, None, &[])
        .await
        .expect("api call");
    assert_eq!(next_push(&mut stream).await.disconnect.unwrap().code, 3503);
    stream.ended().await;
}

#[tokio::test]
async fn uni_http_stream_recovers_from_subs() {
    let (addr, state) = start(config(json!({}))).await;
    let tok = token("u2", None, &["feed"]);
    let mut first = uni_http_stream(addr, json!({"token": tok})).await;
    let sub = next_push(&mut first).await.connect.unwrap().subs["feed"].clone();
    for n in 1..=3 {
        publish(&state, "feed", &format!(r#"{{"n":{n}}}"#)).await;
    }
    let subs = json!({"feed": {"recover": true, "offset": sub.offset + 1, "epoch": sub.epoch}});
    let mut second = uni_http_stream(addr, json!({"token": tok, "subs": subs})).await;
    let result = next_push(&mut second).await.connect.unwrap().subs["feed"].clone();
    assert!(result.recovered);
    let data: Vec<_> = result.publications.iter().map(|p| p.data.clone()).collect();
    assert_eq!(
        data,
        vec![Bytes::from(r#"{"n":2}"#), Bytes::from(r#"{"n":3}"#)]
    );
}

#[tokio::test]
async fn uni_http_stream_connect_errors_are_disconnects() {
    let (addr, _state) = start(config(json!({}))).await;
    // Expired token: error 109 → disconnect 3005.
    let expired = token_with_exp("u3", -10);
    let mut stream = uni_http_stream(addr, json!({"token": expired})).await;
    assert_eq!(next_push(&mut stream).await.disconnect.unwrap().code, 3005);
    stream.ended().await;
    // Invalid token: 3500.
    let mut bad = uni_http_stream(addr, json!({"token": "not.a.jwt"})).await;
    assert_eq!(next_push(&mut bad).await.disconnect.unwrap().code, 3500);
    bad.ended().await;
    // Malformed request: 400 before any stream.
    let status = reqwest::Client::new()
        .post(format!("http://{addr}/connection/uni_http_stream"))
        .body("{")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);
}

/// A token whose `exp` is `offset` seconds from now (negative: already expired).
fn token_with_exp(user: &str, offset: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = i64::try_from(now).unwrap() + offset;
    let claims = json!({"sub": user, "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(support::SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn uni_pings_are_empty_pushes() {
    let cfg = config(json!({"client": {
        "token": {"hmac_secret_key": support::SECRET},
        "ping_interval": "1s", "pong_timeout": "500ms"
    }}));
    let (addr, _state) = start(cfg).await;
    let mut stream = uni_http_stream(addr, json!({"token": token("u4", None, &[])})).await;
    assert_eq!(next_push(&mut stream).await.connect.unwrap().ping, 1);
    // Two pings more than a pong timeout apart: no pong is expected.
    for _ in 0..2 {
        assert_eq!(&stream.line().await.unwrap()[..], b"{}");
    }
}

#[tokio::test]
async fn uni_sse_with_cf_connect() {
    let (addr, state) = start(config(json!({}))).await;
    let connect = json!({"token": token("u5", None, &["news"])}).to_string();
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/connection/uni_sse"))
        .query(&[("cf_connect", connect)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = BodyReader::new(response);
    stream.sse_preamble().await;
    let connect = json_push(&stream.event().await.unwrap()).connect.unwrap();
    assert!(connect.subs.contains_key("news"));
    publish(&state, "news", "[7]").await;
    let p = json_push(&stream.event().await.unwrap());
    assert_eq!(&p.r#pub.unwrap().data[..], b"[7]");
    state
        .node
        .disconnect("u5", Disconnect::FORCE_NO_RECONNECT, None, &[])
        .await
        .expect("api call");
    let d = json_push(&stream.event().await.unwrap())
        .disconnect
        .unwrap();
    assert_eq!(d.code, 3503);
    stream.ended().await;

    let bad = reqwest::Client::new()
        .get(format!("http://{addr}/connection/uni_sse"))
        .query(&[("cf_connect", "{")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn uni_websocket_first_message_connect_and_close() {
    let (addr, state) = start(config(json!({}))).await;
    let url = format!("ws://{addr}/connection/uni_websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let connect = json!({"token": token("u6", None, &["news"])}).to_string();
    ws.send(Message::text(connect)).await.unwrap();
    let text = next_text(&mut ws).await;
    let connect = json_push(text.as_bytes()).connect.unwrap();
    assert!(connect.subs.contains_key("news"));
    publish(&state, "news", r#"{"w":1}"#).await;
    let p = json_push(next_text(&mut ws).await.as_bytes());
    assert_eq!(&p.r#pub.unwrap().data[..], br#"{"w":1}"#);

    state
        .node
        .disconnect("u6", Disconnect::FORCE_NO_RECONNECT, None, &[])
        .await
        .expect("api call");
    let d = json_push(next_text(&mut ws).await.as_bytes())
        .disconnect
        .unwrap();
    assert_eq!(d.code, 3503);
    match tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 3503),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn uni_websocket_cf_connect_and_joined_messages() {
    let cfg = config(json!({"uni_websocket": {"enabled": true, "join_push_messages": true}}));
    let (addr, state) = start(cfg).await;
    let connect = json!({"token": token("u7", None, &["news"])}).to_string();
    let query: String = url_encode(&connect);
    let url = format!("ws://{addr}/connection/uni_websocket?cf_connect={query}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first = next_text(&mut ws).await;
    assert!(first.starts_with("{\"connect\":"), "{first}");
    // Publish a burst; however it is batched, every line is one push, in order.
    for n in 1..=5 {
        publish(&state, "news", &format!("[{n}]")).await;
    }
    let mut seen = Vec::new();
    while seen.len() < 5 {
        for line in next_text(&mut ws).await.split('\n') {
            seen.push(json_push(line.as_bytes()).r#pub.unwrap().data);
        }
    }
    let want: Vec<Bytes> = (1..=5).map(|n| Bytes::from(format!("[{n}]"))).collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn uni_websocket_connect_error_closes_with_the_mapped_code() {
    let (addr, _state) = start(config(json!({}))).await;
    let url = format!("ws://{addr}/connection/uni_websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let connect = json!({"token": token_with_exp("u8", -10)}).to_string();
    ws.send(Message::text(connect)).await.unwrap();
    let d = json_push(next_text(&mut ws).await.as_bytes())
        .disconnect
        .unwrap();
    assert_eq!(d.code, 3005);
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn next_text<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no message within 5 s")
        {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}
