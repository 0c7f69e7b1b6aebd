//! The engine driven through an in-memory transport with paused time: timers,
//! ordering and protocol misuse, deterministically and without sockets.

use bytes::Bytes;
use chorus_node::{
    ClientConfig, ConnectGrant, Disconnect, FrameIo, Node, NodeConfig, TransportError,
    TransportInfo,
};
use chorus_protocol::{Command, ConnectRequest, Protocol, Reply, SubscribeRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the engine wrote.
#[derive(Debug)]
enum Out {
    Frame(Box<Reply>),
    Closed(u32),
}

/// An in-memory transport; writes can be stalled to simulate a peer that stopped
/// reading, and fail once the peer's `writable` sender is dropped (a write timeout).
struct MemIo {
    inbound: mpsc::UnboundedReceiver<Bytes>,
    outbound: mpsc::UnboundedSender<Out>,
    writable: watch::Receiver<bool>,
}

impl FrameIo for MemIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        self.inbound.recv().await.map(Ok)
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        if self.writable.wait_for(|w| *w).await.is_err() {
            return Err(TransportError("write timed out".into()));
        }
        for f in frames {
            let reply = chorus_protocol::decode_replies(Protocol::Json, f)
                .unwrap()
                .remove(0);
            let _ = self.outbound.send(Out::Frame(Box::new(reply)));
        }
        Ok(())
    }

    async fn close(&mut self, disconnect: &Disconnect) {
        let _ = self.outbound.send(Out::Closed(disconnect.code));
    }
}

struct Peer {
    to_server: mpsc::UnboundedSender<Bytes>,
    from_server: mpsc::UnboundedReceiver<Out>,
    writable: watch::Sender<bool>,
}

impl Peer {
    fn send(&self, cmds: &[Command]) {
        let mut enc = chorus_protocol::FrameEncoder::new(Protocol::Json);
        for c in cmds {
            enc.append(c).unwrap();
        }
        self.to_server.send(enc.finish()).unwrap();
    }

    async fn next(&mut self) -> Out {
        self.from_server
            .recv()
            .await
            .expect("engine ended without closing")
    }

    async fn closed(&mut self) -> u32 {
        loop {
            if let Out::Closed(code) = self.next().await {
                return code;
            }
        }
    }
}

fn node_with(client: ClientConfig) -> Node {
    let mut config = NodeConfig::default();
    config.client = client;
    let mut open = chorus_node::ChannelOptions::default();
    open.allow_subscribe_for_client = true;
    config.channels.without_namespace = Arc::new(open);
    Node::builder(config)
        .on_connecting(|e| async move {
            let mut grant = ConnectGrant::user(if e.data.is_empty() {
                "u".to_owned()
            } else {
                "data-user".to_owned()
            });
            if e.name == "expiring" {
                grant.expire_at = Some(
                    i64::try_from(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs(),
                    )
                    .unwrap()
                        + 5,
                );
            }
            Ok(grant)
        })
        .build()
}

fn open(node: &Node) -> Peer {
    let (to_server, inbound) = mpsc::unbounded_channel();
    let (outbound, from_server) = mpsc::unbounded_channel();
    let (writable_tx, writable) = watch::channel(true);
    let io = MemIo {
        inbound,
        outbound,
        writable,
    };
    node.serve(TransportInfo::new("memory", Protocol::Json), io);
    Peer {
        to_server,
        from_server,
        writable: writable_tx,
    }
}

fn connect_cmd(id: u32, name: &str) -> Command {
    Command {
        id,
        connect: Some(ConnectRequest {
            name: name.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn subscribe_cmd(id: u32, channel: &str) -> Command {
    Command {
        id,
        subscribe: Some(SubscribeRequest {
            channel: channel.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn stale_connection_closes_with_3502_after_10s() {
    let node = node_with(ClientConfig::default());
    let mut peer = open(&node);
    let start = tokio::time::Instant::now();
    assert_eq!(peer.closed().await, 3502);
    assert_eq!(start.elapsed().as_secs(), 10);
}

#[tokio::test(start_paused = true)]
async fn ping_every_25s_and_3012_without_pong() {
    let node = node_with(ClientConfig::default());
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js")]);
    let Out::Frame(r) = peer.next().await else {
        panic!()
    };
    assert_eq!(r.connect.unwrap().ping, 25);
    let start = tokio::time::Instant::now();
    // First ping between 12.5 s and 25 s; answer it.
    let Out::Frame(ping) = peer.next().await else {
        panic!()
    };
    assert!(ping.is_ping());
    let first = start.elapsed();
    assert!(
        first >= Duration::from_millis(12_500) && first <= Duration::from_secs(25),
        "{first:?}"
    );
    peer.send(&[Command::pong()]);
    // Next ping 25 s later; do not answer: closed 8 s after it.
    let Out::Frame(ping) = peer.next().await else {
        panic!()
    };
    assert!(ping.is_ping());
    assert_eq!((start.elapsed() - first).as_secs(), 25);
    let at_ping = tokio::time::Instant::now();
    assert_eq!(peer.closed().await, 3012);
    assert_eq!(at_ping.elapsed().as_secs(), 8);
}

#[tokio::test(start_paused = true)]
async fn protocol_misuse_closes_with_3501() {
    let node = node_with(ClientConfig::default());
    // A pong nobody asked for.
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js")]);
    peer.next().await;
    peer.send(&[Command::pong()]);
    assert_eq!(peer.closed().await, 3501);
    // The `ping` command.
    let mut peer = open(&node);
    peer.send(&[
        connect_cmd(1, "js"),
        Command {
            id: 2,
            ping: Some(Default::default()),
            ..Default::default()
        },
    ]);
    assert_eq!(peer.closed().await, 3501);
    // A second connect.
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js"), connect_cmd(2, "js")]);
    assert_eq!(peer.closed().await, 3501);
    // A command without id.
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js"), subscribe_cmd(0, "a")]);
    assert_eq!(peer.closed().await, 3501);
    // `send` without a message handler: 3508.
    let mut peer = open(&node);
    peer.send(&[
        connect_cmd(1, "js"),
        Command {
            send: Some(Default::default()),
            ..Default::default()
        },
    ]);
    assert_eq!(peer.closed().await, 3508);
}

#[tokio::test(start_paused = true)]
async fn connect_and_subscribes_in_one_frame_are_processed_in_order() {
    let node = node_with(ClientConfig::default());
    let mut peer = open(&node);
    peer.send(&[
        connect_cmd(1, "js"),
        subscribe_cmd(2, "a"),
        subscribe_cmd(3, "b"),
    ]);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let Out::Frame(r) = peer.next().await else {
            panic!()
        };
        assert!(r.error.is_none(), "{r:?}");
        ids.push(r.id);
    }
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(node.info().num_subs, 2);
}

#[tokio::test(start_paused = true)]
async fn expired_connection_closes_with_3005_after_the_grace_period() {
    let node = node_with(ClientConfig::default());
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "expiring")]);
    let Out::Frame(r) = peer.next().await else {
        panic!()
    };
    let c = r.connect.unwrap();
    assert!(c.expires);
    assert!(c.ttl <= 5);
    let start = tokio::time::Instant::now();
    loop {
        match peer.next().await {
            Out::Frame(r) if r.is_ping() => peer.send(&[Command::pong()]),
            Out::Frame(r) => panic!("unexpected {r:?}"),
            Out::Closed(code) => {
                assert_eq!(code, 3005);
                break;
            }
        }
    }
    let waited = start.elapsed().as_secs();
    assert!(
        (29..=31).contains(&waited),
        "exp (5 s) + expired_close_delay (25 s), got {waited}"
    );
}

#[tokio::test(start_paused = true)]
async fn slow_client_is_closed_with_3008_and_others_are_unaffected() {
    let mut client = ClientConfig::default();
    client.queue_max_size = 64 * 1024;
    let node = node_with(client);
    let mut slow = open(&node);
    let mut fast = open(&node);
    for p in [&mut slow, &mut fast] {
        p.send(&[connect_cmd(1, "js"), subscribe_cmd(2, "ch")]);
        p.next().await;
        p.next().await;
    }
    slow.writable.send(true).unwrap();
    slow.writable.send(false).unwrap();
    let payload = Bytes::from(format!("{{\"x\":\"{}\"}}", "y".repeat(1000)));
    for _ in 0..100 {
        node.publish("ch", payload.clone(), Default::default())
            .await
            .unwrap();
        // Let connection tasks run, as a real publisher's awaits would.
        tokio::task::yield_now().await;
    }
    // The fast client got all 100 (answering pings: paused time runs on while the
    // slow client's writer is stalled).
    let mut got = 0;
    while got < 100 {
        let r = match fast.next().await {
            Out::Frame(r) => r,
            Out::Closed(code) => panic!("fast client closed with {code}"),
        };
        if r.is_ping() {
            fast.send(&[Command::pong()]);
        } else {
            assert!(r.push.unwrap().r#pub.is_some());
            got += 1;
        }
    }
    slow.writable.send(true).unwrap();
    assert_eq!(slow.closed().await, 3008);
}

#[tokio::test(start_paused = true)]
async fn slow_client_whose_write_then_fails_is_counted_as_3008() {
    let mut client = ClientConfig::default();
    client.queue_max_size = 16 * 1024;
    let node = node_with(client);
    let mut slow = open(&node);
    slow.send(&[connect_cmd(1, "js"), subscribe_cmd(2, "ch")]);
    slow.next().await;
    slow.next().await;
    // The peer stops reading: a write hangs, the queue overflows behind it (3008,
    // logged), then the hung write fails.
    slow.writable.send(false).unwrap();
    let payload = Bytes::from(format!("{{\"x\":\"{}\"}}", "y".repeat(1000)));
    for _ in 0..40 {
        node.publish("ch", payload.clone(), Default::default())
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    let Peer {
        writable,
        mut from_server,
        ..
    } = slow;
    drop(writable);
    // The connection ends (its outbound sender is dropped with the task).
    while from_server.recv().await.is_some() {}
    let counted = node.metrics().server_disconnects;
    assert_eq!(
        counted.keys().copied().collect::<Vec<_>>(),
        [3008],
        "{counted:?}"
    );
}

#[tokio::test]
async fn idle_connection_future_stays_small() {
    let node = node_with(ClientConfig::default());
    let (_tx, inbound) = mpsc::unbounded_channel();
    let (outbound, _rx) = mpsc::unbounded_channel();
    let (_w, writable) = watch::channel(true);
    let io = MemIo {
        inbound,
        outbound,
        writable,
    };
    let fut = node.run_connection(TransportInfo::new("memory", Protocol::Json), io);
    let size = std::mem::size_of_val(&fut);
    println!("connection future: {size} bytes");
    assert!(size <= 2048, "connection future grew to {size} bytes");
}

#[tokio::test(start_paused = true)]
async fn cache_recovery_returns_only_the_latest_publication() {
    let mut config = NodeConfig::default();
    let mut cache = chorus_node::ChannelOptions::default();
    cache.allow_subscribe_for_client = true;
    cache.history_size = 10;
    cache.history_ttl = Duration::from_secs(300);
    cache.force_recovery = true;
    cache.recovery_mode = chorus_node::RecoveryMode::Cache;
    config
        .channels
        .namespaces
        .insert("cache".into(), Arc::new(cache));
    let node = Node::builder(config)
        .on_connecting(|_| async { Ok(ConnectGrant::user("u")) })
        .build();
    // Learn the epoch, then miss five publications.
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js"), subscribe_cmd(2, "cache:latest")]);
    peer.next().await;
    let Out::Frame(r) = peer.next().await else {
        panic!()
    };
    let epoch = r.subscribe.unwrap().epoch;
    for i in 1..=5 {
        node.publish(
            "cache:latest",
            Bytes::from(format!("{{\"v\":{i}}}")),
            Default::default(),
        )
        .await
        .unwrap();
    }
    let recover = |offset: u64| Command {
        id: 2,
        subscribe: Some(SubscribeRequest {
            channel: "cache:latest".into(),
            recover: true,
            offset,
            epoch: epoch.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    // Behind: only the latest (offset 5) comes back.
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js"), recover(1)]);
    peer.next().await;
    let Out::Frame(r) = peer.next().await else {
        panic!()
    };
    let sub = r.subscribe.unwrap();
    assert!(sub.recovered && sub.was_recovering);
    assert_eq!(
        sub.publications
            .iter()
            .map(|p| p.offset)
            .collect::<Vec<_>>(),
        [5]
    );
    assert_eq!(&sub.publications[0].data[..], br#"{"v":5}"#);
    // Up to date: recovered, nothing to send.
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js"), recover(5)]);
    peer.next().await;
    let Out::Frame(r) = peer.next().await else {
        panic!()
    };
    let sub = r.subscribe.unwrap();
    assert!(sub.recovered);
    assert!(sub.publications.is_empty());
}

#[tokio::test(start_paused = true)]
async fn connecting_hook_sees_the_upgrade_request() {
    let node = Node::builder(NodeConfig::default())
        .on_connecting(|e| async move {
            let r = e.request.expect("request");
            let user = r.query_param("user").unwrap_or_default();
            let team = r.header("X-Team").unwrap_or_default().to_owned();
            Ok(ConnectGrant::user(format!("{user}@{team}")))
        })
        .build();
    let (to_server, inbound) = mpsc::unbounded_channel();
    let (outbound, mut from_server) = mpsc::unbounded_channel();
    let (_w, writable) = watch::channel(true);
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("x-team".to_owned(), "blue".to_owned());
    let request = chorus_node::UpgradeRequest::new(headers, "user=al%20ice&x=1");
    let transport = TransportInfo::new("memory", Protocol::Json).with_request(request);
    node.serve(
        transport,
        MemIo {
            inbound,
            outbound,
            writable,
        },
    );
    let mut enc = chorus_protocol::FrameEncoder::new(Protocol::Json);
    enc.append(&connect_cmd(1, "js")).unwrap();
    to_server.send(enc.finish()).unwrap();
    let Some(Out::Frame(r)) = from_server.recv().await else {
        panic!()
    };
    assert!(r.connect.is_some(), "{r:?}");
    assert_eq!(node.user_connections().get("al ice@blue"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn gap_in_a_positioned_subscription_unsubscribes_with_2500() {
    use chorus_node::{BrokerEvents, StreamPosition};
    use std::sync::{Mutex, OnceLock};
    let mut config = NodeConfig::default();
    let mut positioned = chorus_node::ChannelOptions::default();
    positioned.allow_subscribe_for_client = true;
    positioned.history_size = 10;
    positioned.history_ttl = Duration::from_secs(300);
    positioned.force_positioning = true;
    config.channels.without_namespace = Arc::new(positioned);
    // Keep the node's event sink to deliver out of order, as a broker with a lost
    // message would.
    let sink: Arc<OnceLock<Arc<dyn BrokerEvents>>> = Arc::default();
    let node = Node::builder(config)
        .broker({
            let sink = Arc::clone(&sink);
            move |events| {
                let _ = sink.set(Arc::clone(&events));
                chorus_node::memory::MemoryBroker::new(events)
            }
        })
        .on_connecting(|_| async { Ok(ConnectGrant::user("u")) })
        .build();
    let seen = Mutex::new(Vec::new());
    let mut peer = open(&node);
    peer.send(&[connect_cmd(1, "js"), subscribe_cmd(2, "feed")]);
    peer.next().await;
    let Out::Frame(r) = peer.next().await else {
        panic!()
    };
    let sub = r.subscribe.unwrap();
    assert!(sub.positioned);
    for _ in 0..2 {
        node.publish("feed", Bytes::from_static(b"{}"), Default::default())
            .await
            .unwrap();
    }
    let events = sink.get().unwrap();
    let publication = |offset| chorus_protocol::Publication {
        data: Bytes::from_static(b"{}"),
        offset,
        ..Default::default()
    };
    let at = |offset| StreamPosition {
        offset,
        epoch: sub.epoch.clone(),
    };
    // A duplicate of offset 2 is dropped silently; offset 5 after 2 is a gap.
    events.on_publication("feed", publication(2), at(2));
    events.on_publication("feed", publication(5), at(5));
    loop {
        let Out::Frame(r) = peer.next().await else {
            panic!("closed")
        };
        let push = r.push.expect("push");
        if let Some(p) = push.r#pub {
            seen.lock().unwrap().push(p.offset);
        } else if let Some(u) = push.unsubscribe {
            assert_eq!(u.code, 2500, "insufficient state: resubscribe and recover");
            break;
        }
    }
    assert_eq!(
        *seen.lock().unwrap(),
        [1, 2],
        "in order, no duplicate, nothing past the gap"
    );
    assert_eq!(node.info().num_subs, 0);
}
