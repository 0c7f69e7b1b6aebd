//! The example app end to end over real sockets, speaking the Centrifugo protocol
//! with the real codecs: what an unmodified SDK sees.

use bytes::Bytes;
use chorus_protocol::{Command, ConnectRequest, Protocol, PublishRequest, Reply, RpcRequest};
use chorus_testkit::ProtocolClient;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use tokio_tungstenite::tungstenite::Message;

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = example_node_axum::app(example_node_axum::node());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The shared protocol client, plus this app's conventions (connect data, JSON
/// publications).
struct Client(ProtocolClient);

impl Deref for Client {
    type Target = ProtocolClient;
    fn deref(&self) -> &ProtocolClient {
        &self.0
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut ProtocolClient {
        &mut self.0
    }
}

impl Client {
    /// Opens a connection; Protobuf is asked for with `?format=protobuf`.
    async fn open(addr: SocketAddr, protocol: Protocol) -> Self {
        let query = match protocol {
            Protocol::Json => "",
            Protocol::Protobuf => "?format=protobuf",
        };
        let url = format!("ws://{addr}/connection/websocket{query}");
        Self(ProtocolClient::open(&url, protocol).await)
    }

    async fn connect(&mut self, data: &'static [u8]) -> Reply {
        let req = ConnectRequest {
            data: Bytes::from_static(data),
            ..Default::default()
        };
        self.0.connect_with(req).await
    }

    /// Next publication pushed in `channel`, as JSON.
    async fn recv_publication(&mut self, channel: &str) -> Value {
        serde_json::from_slice(&self.0.recv_publication(channel).await.data).unwrap()
    }

    async fn publish(&mut self, channel: &str, data: &'static [u8]) -> Reply {
        let req = PublishRequest {
            channel: channel.into(),
            data: Bytes::from_static(data),
            ..Default::default()
        };
        self.0
            .call(Command {
                publish: Some(req),
                ..Default::default()
            })
            .await
    }

    async fn rpc(&mut self, method: &str) -> Reply {
        let req = RpcRequest {
            method: method.into(),
            data: Bytes::from_static(b"{}"),
        };
        self.0
            .call(Command {
                rpc: Some(req),
                ..Default::default()
            })
            .await
    }
}

async fn http_publish(addr: SocketAddr, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("http://{addr}/publish"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn chat_over_the_centrifugo_protocol() {
    let addr = start().await;

    // Connecting as alice (JSON) and bob (Protobuf, negotiated by query).
    let mut alice = Client::open(addr, Protocol::Json).await;
    let connect = alice
        .connect(br#"{"user":"alice"}"#)
        .await
        .connect
        .expect("alice connects");
    assert!(!connect.client.is_empty());
    let mut bob = Client::open(addr, Protocol::Protobuf).await;
    bob.connect(br#"{"user":"bob"}"#)
        .await
        .connect
        .expect("bob connects");

    // chat:* is allowed, anything else refused with 103.
    alice
        .subscribe("chat:room")
        .await
        .subscribe
        .expect("chat:room subscribed");
    bob.subscribe("chat:room")
        .await
        .subscribe
        .expect("chat:room subscribed");
    assert_eq!(alice.subscribe("news").await.error.unwrap().code, 103);

    // The app's POST /publish reaches subscribers of both formats.
    let (status, body) = http_publish(
        addr,
        json!({"channel": "chat:room", "data": {"user": "server", "text": "welcome"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offset"], 1, "chat keeps history: {body}");
    let expected = json!({"user": "server", "text": "welcome"});
    assert_eq!(alice.recv_publication("chat:room").await, expected);
    assert_eq!(bob.recv_publication("chat:room").await, expected);
    let (status, body) = http_publish(addr, json!({"channel": "nope:x", "data": {}})).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!(102)));

    // Client publications are validated and rewritten with the sender.
    let r = alice.publish("chat:room", br#"{"text":"  hello  "}"#).await;
    assert!(r.publish.is_some(), "{r:?}");
    let expected = json!({"user": "alice", "text": "hello"});
    assert_eq!(bob.recv_publication("chat:room").await, expected);
    assert_eq!(alice.recv_publication("chat:room").await, expected);
    let r = alice.publish("chat:room", br#"{"text":"   "}"#).await;
    assert_eq!(r.error.unwrap().code, 107);
    let r = alice.publish("news", br#"{"text":"hi"}"#).await;
    assert_eq!(r.error.unwrap().code, 103);

    // RPC: `time` answers, anything else is 104.
    for client in [&mut alice, &mut bob] {
        let r = client.rpc("time").await;
        let data: Value = serde_json::from_slice(&r.rpc.expect("rpc result").data).unwrap();
        assert!(
            data["unix_ms"].as_u64().unwrap() > 1_600_000_000_000,
            "{data}"
        );
        assert_eq!(client.rpc("nope").await.error.unwrap().code, 104);
    }
}

#[tokio::test]
async fn connections_without_a_user_are_refused() {
    let addr = start().await;
    for data in [&b""[..], br#"{"user":""}"#, br#"{"user":"Not Valid!"}"#] {
        let mut c = Client::open(addr, Protocol::Json).await;
        c.send(Command {
            connect: Some(ConnectRequest {
                data: Bytes::from_static(data),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
        assert_eq!(
            c.closed_with().await,
            (4501, "unauthorized".to_owned()),
            "{data:?}"
        );
    }
}

#[tokio::test]
async fn oversized_messages_close_with_1009() {
    let addr = start().await;
    let mut c = Client::open(addr, Protocol::Json).await;
    c.connect(br#"{"user":"carol"}"#).await.connect.unwrap();
    c.ws.send(Message::text("x".repeat(20 * 1024)))
        .await
        .unwrap();
    assert_eq!(c.closed_with().await.0, 1009);
}

#[tokio::test]
async fn users_come_from_the_upgrade_request() {
    let addr = start().await;
    // `?user=` on the WebSocket URL.
    let url = format!("ws://{addr}/connection/websocket?user=dora");
    let mut by_query = ProtocolClient::open(&url, Protocol::Json).await;
    let r = by_query.connect_with(ConnectRequest::default()).await;
    assert!(r.connect.is_some(), "{r:?}");
    // A `session` cookie wins over the query.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/connection/websocket?user=ignored")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("cookie", "theme=dark; session=erin".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut by_cookie = ProtocolClient::from_stream(ws, Protocol::Json);
    by_cookie
        .connect_with(ConnectRequest::default())
        .await
        .connect
        .expect("connected");
    by_cookie
        .subscribe("chat:who")
        .await
        .subscribe
        .expect("subscribed");
    // The publisher's info names the cookie user.
    let data = Bytes::from_static(br#"{"text":"hi"}"#);
    let req = PublishRequest {
        channel: "chat:who".into(),
        data,
        ..Default::default()
    };
    by_cookie
        .call(Command {
            publish: Some(req),
            ..Default::default()
        })
        .await;
    let publication = by_cookie.recv_publication("chat:who").await;
    assert_eq!(publication.info.expect("info").user, "erin");
}
