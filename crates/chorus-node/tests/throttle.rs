//! Node-wide client publish throttling (per user and per channel, configured per
//! namespace), through an in-memory transport with paused time.
//!
//! Namespaces: `u` limits each user to 2 publishes per second, `c` limits each
//! channel to 2 publishes per second; channels without a namespace are not
//! throttled.

use bytes::Bytes;
use chorus_node::{
    ApiPublish, ChannelOptions, ConnectGrant, Disconnect, FrameIo, Node, NodeConfig, RateBucket,
    TransportError, TransportInfo,
};
use chorus_protocol::{Command, ConnectRequest, Protocol, PublishRequest, Reply};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Error 111: too many requests.
const TOO_MANY_REQUESTS: u32 = 111;

struct MemIo {
    inbound: mpsc::UnboundedReceiver<Bytes>,
    outbound: mpsc::UnboundedSender<Reply>,
}

impl FrameIo for MemIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        self.inbound.recv().await.map(Ok)
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        for f in frames {
            for reply in chorus_protocol::decode_replies(Protocol::Json, f).unwrap() {
                let _ = self.outbound.send(reply);
            }
        }
        Ok(())
    }

    async fn close(&mut self, _disconnect: &Disconnect) {}
}

struct Peer {
    next_id: u32,
    to_server: mpsc::UnboundedSender<Bytes>,
    from_server: mpsc::UnboundedReceiver<Reply>,
}

impl Peer {
    /// Connects as `user` (the connecting handler takes the user from the
    /// connect data).
    async fn open(node: &Node, user: &str) -> Self {
        let (to_server, inbound) = mpsc::unbounded_channel();
        let (outbound, from_server) = mpsc::unbounded_channel();
        node.serve(
            TransportInfo::new("memory", Protocol::Json),
            MemIo { inbound, outbound },
        );
        let mut peer = Self {
            next_id: 0,
            to_server,
            from_server,
        };
        let reply = peer
            .call(Command {
                connect: Some(ConnectRequest {
                    data: Bytes::from(format!("{user:?}")),
                    ..ConnectRequest::default()
                }),
                ..Command::default()
            })
            .await;
        assert!(reply.connect.is_some(), "connect failed: {reply:?}");
        peer
    }

    async fn call(&mut self, mut cmd: Command) -> Reply {
        self.next_id += 1;
        cmd.id = self.next_id;
        let mut enc = chorus_protocol::FrameEncoder::new(Protocol::Json);
        enc.append(&cmd).unwrap();
        self.to_server.send(enc.finish()).unwrap();
        loop {
            let reply = self.from_server.recv().await.expect("connection ended");
            if reply.id == cmd.id {
                return reply;
            }
        }
    }

    /// Publishes to `channel`: `Ok` or the error code.
    async fn publish(&mut self, channel: &str) -> Result<(), u32> {
        let reply = self
            .call(Command {
                publish: Some(PublishRequest {
                    channel: channel.into(),
                    data: Bytes::from_static(b"{}"),
                    ..PublishRequest::default()
                }),
                ..Command::default()
            })
            .await;
        match reply.error {
            Some(e) => Err(e.code),
            None => {
                assert!(reply.publish.is_some(), "{reply:?}");
                Ok(())
            }
        }
    }
}

fn two_per_second() -> Option<RateBucket> {
    Some(RateBucket {
        interval: Duration::from_secs(1),
        rate: 2,
    })
}

fn node() -> Node {
    let mut config = NodeConfig::default();
    let mut open = ChannelOptions::default();
    open.allow_publish_for_client = true;
    config.channels.without_namespace = Arc::new(open.clone());
    let mut per_user = open.clone();
    per_user.publish_throttle_per_user = two_per_second();
    config
        .channels
        .namespaces
        .insert("u".into(), Arc::new(per_user));
    let mut per_channel = open;
    per_channel.publish_throttle_per_channel = two_per_second();
    config
        .channels
        .namespaces
        .insert("c".into(), Arc::new(per_channel));
    Node::builder(config)
        .on_connecting(|e| async move {
            let user: String = serde_json::from_slice(&e.data).unwrap_or_default();
            Ok(ConnectGrant::user(user))
        })
        .build()
}

#[tokio::test(start_paused = true)]
async fn per_user_limit_spans_connections_and_refills() {
    let node = node();
    let mut a1 = Peer::open(&node, "alice").await;
    let mut a2 = Peer::open(&node, "alice").await;
    let mut bob = Peer::open(&node, "bob").await;
    assert_eq!(a1.publish("u:one").await, Ok(()));
    assert_eq!(a2.publish("u:two").await, Ok(()));
    assert_eq!(
        a1.publish("u:three").await,
        Err(TOO_MANY_REQUESTS),
        "alice's two connections share one bucket, across channels of the namespace"
    );
    assert_eq!(a2.publish("u:one").await, Err(TOO_MANY_REQUESTS));
    assert_eq!(bob.publish("u:one").await, Ok(()), "bob has his own bucket");
    assert_eq!(
        a1.publish("plain").await,
        Ok(()),
        "channels without a namespace are not throttled"
    );
    assert_eq!(
        a1.publish("c:x").await,
        Ok(()),
        "namespace c has no per-user limit"
    );
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(
        a2.publish("u:one").await,
        Ok(()),
        "half a second refills one"
    );
    assert_eq!(a1.publish("u:one").await, Err(TOO_MANY_REQUESTS));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(a1.publish("u:one").await, Ok(()));
    assert_eq!(a2.publish("u:one").await, Ok(()));
    assert_eq!(a1.publish("u:one").await, Err(TOO_MANY_REQUESTS));
}

#[tokio::test(start_paused = true)]
async fn per_channel_limit_spans_users_and_refills() {
    let node = node();
    let mut alice = Peer::open(&node, "alice").await;
    let mut bob = Peer::open(&node, "bob").await;
    assert_eq!(alice.publish("c:room").await, Ok(()));
    assert_eq!(bob.publish("c:room").await, Ok(()));
    assert_eq!(
        bob.publish("c:room").await,
        Err(TOO_MANY_REQUESTS),
        "the channel's bucket is shared by all publishers"
    );
    assert_eq!(alice.publish("c:room").await, Err(TOO_MANY_REQUESTS));
    assert_eq!(
        alice.publish("c:other").await,
        Ok(()),
        "another channel of the namespace has its own bucket"
    );
    for _ in 0..5 {
        assert_eq!(
            bob.publish("plain").await,
            Ok(()),
            "other namespaces are unaffected"
        );
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        bob.publish("c:room").await,
        Ok(()),
        "refilled after the interval"
    );
    assert_eq!(alice.publish("c:room").await, Ok(()));
    assert_eq!(alice.publish("c:room").await, Err(TOO_MANY_REQUESTS));
}

#[tokio::test(start_paused = true)]
async fn server_api_publishes_are_not_throttled() {
    let node = node();
    for _ in 0..10 {
        node.publish("c:room", Bytes::from_static(b"{}"), ApiPublish::default())
            .await
            .unwrap();
    }
    let mut alice = Peer::open(&node, "alice").await;
    assert_eq!(
        alice.publish("c:room").await,
        Ok(()),
        "API publishes take no client tokens"
    );
}
