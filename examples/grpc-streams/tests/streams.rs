//! The three streaming shapes over a real socket with the generated client.

use std::net::SocketAddr;

use bytes::Bytes;
use example_grpc_streams::proto::channel_streams_client::ChannelStreamsClient;
use example_grpc_streams::proto::event::Kind;
use example_grpc_streams::proto::{ChatMessage, Event, PublishRequest, WatchRequest};
use example_grpc_streams::{Streams, node};
use futures_util::{Stream, StreamExt as _};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = Streams::new(node()).into_server();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

async fn client(addr: SocketAddr) -> ChannelStreamsClient<Channel> {
    ChannelStreamsClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn next(events: &mut Streaming<Event>) -> Kind {
    events
        .next()
        .await
        .expect("stream ended")
        .expect("stream failed")
        .kind
        .expect("empty event")
}

/// The next publication's (channel, data, offset).
async fn next_pub(events: &mut Streaming<Event>) -> (String, Bytes, u64) {
    match next(events).await {
        Kind::Publication(p) => (p.channel, p.data, p.offset),
        other => panic!("expected a publication, got {other:?}"),
    }
}

async fn watch(c: &mut ChannelStreamsClient<Channel>, channel: &str) -> Streaming<Event> {
    let mut events = c
        .watch(WatchRequest {
            channel: channel.into(),
            user: "w".into(),
        })
        .await
        .unwrap()
        .into_inner();
    match next(&mut events).await {
        Kind::Joined(j) => assert_eq!(j.channel, channel),
        other => panic!("expected joined, got {other:?}"),
    }
    events
}

fn publish(channel: &str, data: &'static str) -> PublishRequest {
    PublishRequest {
        channel: channel.into(),
        data: Bytes::from_static(data.as_bytes()),
    }
}

/// A client-side stream fed by the returned sender.
fn outbound<T: Send + 'static>() -> (mpsc::Sender<T>, impl Stream<Item = T> + Send + 'static) {
    let (tx, rx) = mpsc::channel(16);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (tx, stream)
}

#[tokio::test]
async fn server_streaming_watch_and_client_streaming_publish() {
    let addr = start().await;
    let mut c = client(addr).await;
    let mut room = watch(&mut c, "room:1").await;
    let mut lobby = watch(&mut c, "lobby").await;

    let summary = c
        .publish_all(futures_util::stream::iter([
            publish("room:1", "one"),
            publish("lobby", "hello"),
            publish("room:1", "two"),
        ]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.published, 3);
    assert_eq!(summary.last_offset, 2, "room:1 keeps history");

    assert_eq!(
        next_pub(&mut room).await,
        ("room:1".into(), Bytes::from_static(b"one"), 1)
    );
    assert_eq!(
        next_pub(&mut room).await,
        ("room:1".into(), Bytes::from_static(b"two"), 2)
    );
    assert_eq!(
        next_pub(&mut lobby).await,
        ("lobby".into(), Bytes::from_static(b"hello"), 0)
    );

    // An empty client stream publishes nothing.
    let empty = c
        .publish_all(futures_util::stream::iter(Vec::<PublishRequest>::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(empty.published, 0);
}

#[tokio::test]
async fn bidirectional_chat() {
    let addr = start().await;
    let mut c = client(addr).await;
    let mut observer = watch(&mut c, "room:chat").await;

    let (alice_tx, alice_out) = outbound();
    alice_tx
        .send(ChatMessage {
            channel: "room:chat".into(),
            user: "alice".into(),
            text: String::new(),
        })
        .await
        .unwrap();
    let mut alice = c.chat(alice_out).await.unwrap().into_inner();
    assert!(matches!(next(&mut alice).await, Kind::Joined(_)));

    let (bob_tx, bob_out) = outbound();
    bob_tx
        .send(ChatMessage {
            channel: "room:chat".into(),
            user: "bob".into(),
            text: "hi all".into(),
        })
        .await
        .unwrap();
    let mut bob = c.chat(bob_out).await.unwrap().into_inner();
    assert!(matches!(next(&mut bob).await, Kind::Joined(_)));

    let hi = br#"{"text":"hi all","user":"bob"}"#;
    for events in [&mut alice, &mut bob, &mut observer] {
        let (channel, data, offset) = next_pub(events).await;
        assert_eq!((channel.as_str(), offset), ("room:chat", 1));
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(v, serde_json::from_slice::<serde_json::Value>(hi).unwrap());
    }

    alice_tx
        .send(ChatMessage {
            text: "hello bob".into(),
            ..ChatMessage::default()
        })
        .await
        .unwrap();
    for events in [&mut alice, &mut bob, &mut observer] {
        let (_, data, offset) = next_pub(events).await;
        assert_eq!(offset, 2);
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(v["user"], "alice");
        assert_eq!(v["text"], "hello bob");
    }

    // Alice ends her side: her stream ends; Bob keeps chatting.
    drop(alice_tx);
    assert!(alice.next().await.is_none(), "alice's stream should end");
    bob_tx
        .send(ChatMessage {
            text: "still here".into(),
            ..ChatMessage::default()
        })
        .await
        .unwrap();
    let (_, _, offset) = next_pub(&mut bob).await;
    assert_eq!(offset, 3);
}

#[tokio::test]
async fn bad_requests() {
    let addr = start().await;
    let mut c = client(addr).await;
    let status = c
        .watch(WatchRequest {
            channel: String::new(),
            user: "w".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = c
        .watch(WatchRequest {
            channel: "nope:x".into(),
            user: "w".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    let status = c
        .publish_all(futures_util::stream::iter([publish("nope:x", "1")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = c
        .publish_all(futures_util::stream::iter([publish("room:1", "")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let status = c
        .chat(futures_util::stream::iter([ChatMessage {
            channel: "room:x".into(),
            ..ChatMessage::default()
        }]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}
