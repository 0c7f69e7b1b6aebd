//! The example app end to end over real sockets, speaking the Centrifugo protocol
//! with the real codecs: what an unmodified SDK sees.

use bytes::Bytes;
use chorus_protocol::{
    Command, ConnectRequest, Protocol, PublishRequest, Reply, RpcRequest, SubscribeRequest,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = example_node_axum::app(example_node_axum::node());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Client {
    ws: Ws,
    protocol: Protocol,
    next_id: u32,
    /// Pushes that arrived while [`Client::call`] waited for its reply.
    pushes: VecDeque<Reply>,
}

impl Client {
    /// Opens a connection; Protobuf is asked for with `?format=protobuf`.
    async fn open(addr: SocketAddr, protocol: Protocol) -> Self {
        let query = match protocol {
            Protocol::Json => "",
            Protocol::Protobuf => "?format=protobuf",
        };
        let url = format!("ws://{addr}/connection/websocket{query}");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Self {
            ws,
            protocol,
            next_id: 0,
            pushes: VecDeque::new(),
        }
    }

    async fn send(&mut self, mut cmd: Command) -> u32 {
        self.next_id += 1;
        cmd.id = self.next_id;
        let frame = chorus_protocol::encode(self.protocol, &cmd).unwrap();
        let msg = match self.protocol {
            Protocol::Json => Message::text(String::from_utf8(frame.to_vec()).unwrap()),
            Protocol::Protobuf => Message::binary(frame),
        };
        self.ws.send(msg).await.unwrap();
        self.next_id
    }

    /// Next reply or push (server pings are skipped).
    async fn recv(&mut self) -> Reply {
        match self.pushes.pop_front() {
            Some(push) => push,
            None => self.recv_wire().await,
        }
    }

    /// Next reply or push from the socket.
    async fn recv_wire(&mut self) -> Reply {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out")
                .expect("closed")
                .unwrap();
            let data = match (msg, self.protocol) {
                (Message::Text(t), Protocol::Json) => Bytes::from(t.as_str().to_owned()),
                (Message::Binary(b), Protocol::Protobuf) => b,
                (Message::Close(f), _) => panic!("closed: {f:?}"),
                (Message::Ping(_) | Message::Pong(_), _) => continue,
                (other, p) => panic!("unexpected {other:?} for {p:?}"),
            };
            let reply = chorus_protocol::decode_replies(self.protocol, &data)
                .unwrap()
                .remove(0);
            if !reply.is_ping() {
                return reply;
            }
        }
    }

    /// Next publication pushed in `channel`, as JSON.
    async fn recv_publication(&mut self, channel: &str) -> Value {
        loop {
            let Some(push) = self.recv().await.push else {
                continue;
            };
            if push.channel == channel
                && let Some(publication) = push.r#pub
            {
                return serde_json::from_slice(&publication.data).unwrap();
            }
        }
    }

    async fn call(&mut self, cmd: Command) -> Reply {
        let id = self.send(cmd).await;
        loop {
            let r = self.recv_wire().await;
            if r.id == id {
                return r;
            }
            if r.push.is_some() {
                self.pushes.push_back(r);
            }
        }
    }

    async fn connect(&mut self, data: &'static [u8]) -> Reply {
        self.call(Command {
            connect: Some(ConnectRequest {
                data: Bytes::from_static(data),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
    }

    async fn subscribe(&mut self, channel: &str) -> Reply {
        self.call(Command {
            subscribe: Some(SubscribeRequest {
                channel: channel.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
    }

    async fn publish(&mut self, channel: &str, data: &'static [u8]) -> Reply {
        self.call(Command {
            publish: Some(PublishRequest {
                channel: channel.into(),
                data: Bytes::from_static(data),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
    }

    async fn rpc(&mut self, method: &str) -> Reply {
        self.call(Command {
            rpc: Some(RpcRequest {
                method: method.into(),
                data: Bytes::from_static(b"{}"),
            }),
            ..Default::default()
        })
        .await
    }

    async fn closed_with(&mut self) -> (u16, String) {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close timed out")
            {
                Some(Ok(Message::Close(Some(f)))) => {
                    return (u16::from(f.code), f.reason.to_string());
                }
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
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
