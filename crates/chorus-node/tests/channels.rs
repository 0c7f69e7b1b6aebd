//! Channel features in depth, through an in-memory transport: Fossil delta
//! compression (JSON and Protobuf, live and recovered), tags filters, cache
//! recovery without a position, publication data formats, and the periodic
//! position check (paused time).

use bytes::Bytes;
use chorus_node::memory::MemoryBroker;
use chorus_node::{
    ApiError, ApiPublish, BrokerEvents, ChannelOptions, ConnectGrant, DataFormat, Disconnect,
    FrameIo, Node, NodeConfig, RecoveryMode, StreamPosition, TransportError, TransportInfo,
};
use chorus_protocol::{
    ClientInfo, Command, ConnectRequest, FilterNode, Protocol, Publication, PublishRequest, Push,
    Reply, SubscribeRequest, SubscribeResult,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

struct MemIo {
    protocol: Protocol,
    inbound: mpsc::UnboundedReceiver<Bytes>,
    outbound: mpsc::UnboundedSender<Result<Reply, u32>>,
}

impl FrameIo for MemIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        self.inbound.recv().await.map(Ok)
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        for f in frames {
            for reply in chorus_protocol::decode_replies(self.protocol, f).unwrap() {
                let _ = self.outbound.send(Ok(reply));
            }
        }
        Ok(())
    }

    async fn close(&mut self, disconnect: &Disconnect) {
        let _ = self.outbound.send(Err(disconnect.code));
    }
}

struct Peer {
    protocol: Protocol,
    next_id: u32,
    to_server: mpsc::UnboundedSender<Bytes>,
    from_server: mpsc::UnboundedReceiver<Result<Reply, u32>>,
}

impl Peer {
    async fn open(node: &Node, protocol: Protocol) -> Self {
        let (to_server, inbound) = mpsc::unbounded_channel();
        let (outbound, from_server) = mpsc::unbounded_channel();
        node.serve(
            TransportInfo::new("memory", protocol),
            MemIo {
                protocol,
                inbound,
                outbound,
            },
        );
        let mut peer = Self {
            protocol,
            next_id: 0,
            to_server,
            from_server,
        };
        let reply = peer
            .call(Command {
                connect: Some(ConnectRequest::default()),
                ..Command::default()
            })
            .await;
        assert!(reply.connect.is_some(), "connect failed: {reply:?}");
        peer
    }

    async fn call(&mut self, mut cmd: Command) -> Reply {
        self.next_id += 1;
        cmd.id = self.next_id;
        let mut enc = chorus_protocol::FrameEncoder::new(self.protocol);
        enc.append(&cmd).unwrap();
        self.to_server.send(enc.finish()).unwrap();
        loop {
            let reply = self.recv().await;
            if reply.id == cmd.id {
                return reply;
            }
        }
    }

    async fn recv(&mut self) -> Reply {
        match self
            .from_server
            .recv()
            .await
            .expect("connection task ended")
        {
            Ok(reply) => reply,
            Err(code) => panic!("connection closed with {code}"),
        }
    }

    async fn push(&mut self) -> Push {
        loop {
            if let Some(push) = self.recv().await.push {
                return push;
            }
        }
    }

    async fn publication(&mut self) -> Publication {
        loop {
            if let Some(p) = self.push().await.r#pub {
                return p;
            }
        }
    }

    async fn subscribe(&mut self, req: SubscribeRequest) -> Result<SubscribeResult, u32> {
        let reply = self
            .call(Command {
                subscribe: Some(req),
                ..Command::default()
            })
            .await;
        match (reply.subscribe, reply.error) {
            (Some(r), _) => Ok(r),
            (None, Some(e)) => Err(e.code),
            other => panic!("unexpected subscribe reply {other:?}"),
        }
    }
}

fn sub_req(channel: &str) -> SubscribeRequest {
    SubscribeRequest {
        channel: channel.into(),
        ..SubscribeRequest::default()
    }
}

fn history(o: &mut ChannelOptions) {
    o.allow_subscribe_for_client = true;
    o.allow_publish_for_subscriber = true;
    o.history_size = 100;
    o.history_ttl = Duration::from_secs(300);
}

/// Namespaces used by the tests: `d` delta (every publication a candidate),
/// `dc` delta (candidates marked at publish), `f` tags filter, `c` cache
/// recovery with `auto_cache_recover`, `p` positioned, `j` json_object data,
/// `b` binary data.
fn config() -> NodeConfig {
    let mut config = NodeConfig::default();
    let mut plain = ChannelOptions::default();
    plain.allow_subscribe_for_client = true;
    plain.allow_publish_for_subscriber = true;
    config.channels.without_namespace = Arc::new(plain);
    let mut ns = |name: &str, f: &dyn Fn(&mut ChannelOptions)| {
        let mut o = ChannelOptions::default();
        history(&mut o);
        f(&mut o);
        config.channels.namespaces.insert(name.into(), Arc::new(o));
    };
    ns("d", &|o| {
        o.force_positioning = true;
        o.allow_recovery = true;
        o.allow_delta_fossil = true;
        o.delta_publish = true;
    });
    ns("dc", &|o| {
        o.force_positioning = true;
        o.allow_delta_fossil = true;
    });
    ns("nd", &|o| o.force_positioning = true);
    ns("f", &|o| {
        o.allow_tags_filter = true;
        o.allow_recovery = true;
    });
    ns("c", &|o| {
        o.force_recovery = true;
        o.recovery_mode = RecoveryMode::Cache;
        o.auto_cache_recover = true;
    });
    ns("p", &|o| o.force_positioning = true);
    ns("j", &|o| o.data_format = DataFormat::JsonObject);
    ns("b", &|o| o.data_format = DataFormat::Binary);
    config
}

/// A broker event sink that can lose publications (simulating PUB/SUB loss)
/// or age them (simulating PUB/SUB lag).
struct Faulty {
    inner: Arc<dyn BrokerEvents>,
    lose: Arc<AtomicBool>,
    age_ms: Arc<AtomicI64>,
}

impl BrokerEvents for Faulty {
    fn on_publication(&self, channel: &str, mut p: Publication, position: StreamPosition) {
        if self.lose.load(Ordering::SeqCst) {
            return;
        }
        let age = self.age_ms.load(Ordering::SeqCst);
        if age > 0 {
            p.time -= age;
        }
        self.inner.on_publication(channel, p, position);
    }
    fn on_join(&self, channel: &str, info: ClientInfo) {
        self.inner.on_join(channel, info);
    }
    fn on_leave(&self, channel: &str, info: ClientInfo) {
        self.inner.on_leave(channel, info);
    }
}

struct Faults {
    lose: Arc<AtomicBool>,
    age_ms: Arc<AtomicI64>,
}

fn node_with(mut config: NodeConfig, tweak: impl FnOnce(&mut NodeConfig)) -> (Node, Faults) {
    tweak(&mut config);
    let lose = Arc::new(AtomicBool::new(false));
    let age_ms = Arc::new(AtomicI64::new(0));
    let faults = Faults {
        lose: Arc::clone(&lose),
        age_ms: Arc::clone(&age_ms),
    };
    let node = Node::builder(config)
        .on_connecting(|_| async { Ok(ConnectGrant::user("u")) })
        .broker(move |events| {
            MemoryBroker::new(Arc::new(Faulty {
                inner: events,
                lose,
                age_ms,
            }))
        })
        .build();
    (node, faults)
}

fn node() -> Node {
    node_with(config(), |_| {}).0
}

fn payload(n: u32) -> Bytes {
    Bytes::from(format!(
        r#"{{"score":{n},"team":"red","roster":["ann","bob","cy","dee"],"note":"{}"}}"#,
        "the same long text every time ".repeat(3)
    ))
}

async fn publish(node: &Node, channel: &str, data: Bytes, delta: bool) {
    let mut opts = ApiPublish::default();
    opts.delta = delta;
    node.publish(channel, data, opts).await.unwrap();
}

fn apply(base: &[u8], delta: &[u8]) -> Vec<u8> {
    fossil_delta::apply(base, delta).expect("a valid fossil delta")
}

/// What the client reconstructs from a delta-subscription publication.
fn decode(protocol: Protocol, prev: Option<&[u8]>, p: &Publication) -> Vec<u8> {
    let raw = match protocol {
        Protocol::Json => serde_json::from_slice::<String>(&p.data)
            .expect("delta subscriptions get JSON strings")
            .into_bytes(),
        Protocol::Protobuf => p.data.to_vec(),
    };
    if p.delta {
        apply(prev.expect("a delta needs a base"), &raw)
    } else {
        raw
    }
}

async fn delta_live(protocol: Protocol) {
    let node = node();
    let mut peer = Peer::open(&node, protocol).await;
    let mut req = sub_req("d:game");
    req.delta = "fossil".into();
    let result = peer.subscribe(req).await.unwrap();
    assert!(result.delta, "fossil negotiated");
    let mut prev: Option<Vec<u8>> = None;
    for n in 1..=4 {
        publish(&node, "d:game", payload(n), false).await;
        let p = peer.publication().await;
        assert_eq!(p.delta, n > 1, "first full, then deltas (publication {n})");
        if n > 1 {
            assert!(p.data.len() < payload(n).len() / 2, "the delta is small");
        }
        let full = decode(protocol, prev.as_deref(), &p);
        assert_eq!(full, payload(n).to_vec());
        prev = Some(full);
    }
}

#[tokio::test]
async fn delta_live_json() {
    delta_live(Protocol::Json).await;
}

#[tokio::test]
async fn delta_live_protobuf() {
    delta_live(Protocol::Protobuf).await;
}

#[tokio::test]
async fn delta_candidates_and_plain_subscribers() {
    let node = node();
    let mut delta_peer = Peer::open(&node, Protocol::Json).await;
    let mut plain_peer = Peer::open(&node, Protocol::Json).await;
    let mut req = sub_req("dc:doc");
    req.delta = "fossil".into();
    assert!(delta_peer.subscribe(req).await.unwrap().delta);
    assert!(!plain_peer.subscribe(sub_req("dc:doc")).await.unwrap().delta);

    publish(&node, "dc:doc", payload(1), true).await;
    publish(&node, "dc:doc", payload(2), false).await; // not a candidate: full
    publish(&node, "dc:doc", payload(3), true).await; // candidate: delta
    let mut prev = None;
    for (n, expect_delta) in [(1, false), (2, false), (3, true)] {
        let p = delta_peer.publication().await;
        assert_eq!(p.delta, expect_delta, "publication {n}");
        let full = decode(Protocol::Json, prev.as_deref(), &p);
        assert_eq!(full, payload(n).to_vec());
        prev = Some(full);
        // Plain subscribers get raw JSON and never a delta flag.
        let q = plain_peer.publication().await;
        assert!(!q.delta);
        assert_eq!(q.data, payload(n));
    }
}

#[tokio::test]
async fn delta_not_negotiated_where_not_allowed() {
    let node = node();
    let mut peer = Peer::open(&node, Protocol::Json).await;
    let mut req = sub_req("nd:x");
    req.delta = "fossil".into();
    assert!(!peer.subscribe(req).await.unwrap().delta);
    publish(&node, "nd:x", payload(1), true).await;
    let p = peer.publication().await;
    assert!(!p.delta);
    assert_eq!(p.data, payload(1), "full raw JSON");

    let mut bad = sub_req("d:y");
    bad.delta = "zstd".into();
    assert_eq!(peer.subscribe(bad).await, Err(107));
}

#[tokio::test]
async fn delta_recovered_publications() {
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        let node = node();
        let mut peer = Peer::open(&node, protocol).await;
        let first = peer.subscribe(sub_req("d:r")).await.unwrap();
        for n in 1..=3 {
            publish(&node, "d:r", payload(n), false).await;
        }
        let mut req = sub_req("d:r");
        req.delta = "fossil".into();
        req.recover = true;
        req.recoverable = true;
        req.epoch = first.epoch.clone();
        req.offset = 0;
        let mut other = Peer::open(&node, protocol).await;
        let result = other.subscribe(req).await.unwrap();
        assert!(result.recovered && result.delta);
        assert_eq!(result.publications.len(), 3);
        assert!(!result.publications[0].delta, "first recovered one is full");
        let mut prev: Option<Vec<u8>> = None;
        for (i, p) in result.publications.iter().enumerate() {
            let full = decode(protocol, prev.as_deref(), p);
            assert_eq!(full, payload(u32::try_from(i).unwrap() + 1).to_vec());
            prev = Some(full);
        }
        // Live ones continue the chain from the last recovered payload.
        publish(&node, "d:r", payload(4), false).await;
        let p = other.publication().await;
        assert!(p.delta);
        assert_eq!(decode(protocol, prev.as_deref(), &p), payload(4).to_vec());
    }
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn publish_tagged(node: &Node, channel: &str, n: u32, team: &str) {
    let mut opts = ApiPublish::default();
    opts.tags = tags(&[("team", team), ("n", &n.to_string())]);
    node.publish(channel, Bytes::from(format!(r#"{{"n":{n}}}"#)), opts)
        .await
        .unwrap();
}

fn team_is(team: &str) -> FilterNode {
    FilterNode {
        key: "team".into(),
        cmp: "eq".into(),
        val: team.into(),
        ..FilterNode::default()
    }
}

#[tokio::test]
async fn tags_filter_live_and_recovered() {
    let node = node();
    let mut peer = Peer::open(&node, Protocol::Json).await;
    let mut req = sub_req("f:scores");
    req.tf = Some(team_is("red"));
    req.recoverable = true;
    let result = peer.subscribe(req).await.unwrap();
    for (n, team) in [(1, "blue"), (2, "red"), (3, "blue"), (4, "red")] {
        publish_tagged(&node, "f:scores", n, team).await;
    }
    for n in [2, 4] {
        let p = peer.publication().await;
        assert_eq!(p.tags.get("n").map(String::as_str), Some(&*n.to_string()));
    }

    // Recovery returns only matching publications, and still succeeds.
    let mut other = Peer::open(&node, Protocol::Json).await;
    let mut req = sub_req("f:scores");
    req.tf = Some(team_is("blue"));
    req.recoverable = true;
    req.recover = true;
    req.epoch = result.epoch;
    req.offset = 0;
    let recovered = other.subscribe(req).await.unwrap();
    assert!(recovered.recovered);
    let got: Vec<_> = recovered
        .publications
        .iter()
        .map(|p| p.tags["n"].clone())
        .collect();
    assert_eq!(got, ["1", "3"]);
}

#[tokio::test]
async fn tags_filter_refusals() {
    let node = node();
    let mut peer = Peer::open(&node, Protocol::Json).await;
    // Not allowed in this namespace.
    let mut req = sub_req("p:x");
    req.tf = Some(team_is("red"));
    assert_eq!(peer.subscribe(req).await, Err(107));
    // Invalid filter.
    let mut req = sub_req("f:x");
    req.tf = Some(FilterNode {
        key: "team".into(),
        cmp: "like".into(),
        ..FilterNode::default()
    });
    assert_eq!(peer.subscribe(req).await, Err(107));
    // Filter and delta together.
    let mut req = sub_req("f:x");
    req.tf = Some(team_is("red"));
    req.delta = "fossil".into();
    assert_eq!(peer.subscribe(req).await, Err(107));
    // Nothing of this broke the connection.
    let mut req = sub_req("f:x");
    req.tf = Some(team_is("red"));
    assert!(peer.subscribe(req).await.is_ok());
}

#[tokio::test]
async fn auto_cache_recover_without_position() {
    let node = node();
    publish(&node, "c:state", Bytes::from_static(br#"{"v":1}"#), false).await;
    publish(&node, "c:state", Bytes::from_static(br#"{"v":2}"#), false).await;
    let mut peer = Peer::open(&node, Protocol::Json).await;
    let result = peer.subscribe(sub_req("c:state")).await.unwrap();
    assert!(result.was_recovering && result.recovered);
    assert_eq!(result.publications.len(), 1, "only the latest");
    assert_eq!(&result.publications[0].data[..], br#"{"v":2}"#);
}

#[tokio::test]
async fn publication_data_formats() {
    let node = node();
    let p = |ch: &'static str, data: &'static [u8]| {
        let node = node.clone();
        async move {
            node.publish(ch, Bytes::from_static(data), ApiPublish::default())
                .await
                .map(|_| ())
        }
    };
    assert_eq!(
        p("p:x", b"").await,
        Err(ApiError::BadRequest),
        "default: no empty"
    );
    assert!(p("p:x", b"\"text\"").await.is_ok());
    assert_eq!(p("j:x", b"[1,2]").await, Err(ApiError::BadRequest));
    assert_eq!(p("j:x", b"{oops").await, Err(ApiError::BadRequest));
    assert!(p("j:x", br#"{"a":1}"#).await.is_ok());
    assert!(p("b:x", b"").await.is_ok(), "binary accepts empty");

    // The same rule for client publishes (107), connection kept.
    let mut peer = Peer::open(&node, Protocol::Json).await;
    peer.subscribe(sub_req("j:x")).await.unwrap();
    let reply = peer
        .call(Command {
            publish: Some(PublishRequest {
                channel: "j:x".into(),
                data: Bytes::from_static(b"[1]"),
                ..PublishRequest::default()
            }),
            ..Command::default()
        })
        .await;
    assert_eq!(reply.error.map(|e| e.code), Some(107));
    let reply = peer
        .call(Command {
            publish: Some(PublishRequest {
                channel: "j:x".into(),
                data: Bytes::from_static(br#"{"ok":true}"#),
                ..PublishRequest::default()
            }),
            ..Command::default()
        })
        .await;
    assert!(reply.publish.is_some());
}

#[tokio::test(start_paused = true)]
async fn position_check_finds_lost_publications() {
    let (node, faults) = node_with(config(), |c| {
        c.client.channel_position_check_delay = Duration::from_secs(40);
        c.client.ping_interval = None;
    });
    let mut peer = Peer::open(&node, Protocol::Json).await;
    let result = peer.subscribe(sub_req("p:feed")).await.unwrap();
    assert!(result.positioned);
    publish(&node, "p:feed", payload(1), false).await;
    assert_eq!(peer.publication().await.offset, 1);

    // Delivered publications: checks pass, however many run.
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert!(peer.from_server.try_recv().is_err(), "no false alarm");

    // A publication lost on its way from the broker, with nothing after it.
    faults.lose.store(true, Ordering::SeqCst);
    publish(&node, "p:feed", payload(2), false).await;
    let push = tokio::time::timeout(Duration::from_secs(100), peer.push())
        .await
        .expect("found within two checks");
    assert_eq!(push.unsubscribe.map(|u| u.code), Some(2500));
}

#[tokio::test]
async fn position_max_time_lag() {
    let (node, faults) = node_with(config(), |c| {
        c.client.channel_position_max_time_lag = Duration::from_secs(5);
    });
    let mut peer = Peer::open(&node, Protocol::Json).await;
    peer.subscribe(sub_req("p:lag")).await.unwrap();
    publish(&node, "p:lag", payload(1), false).await;
    assert_eq!(peer.publication().await.offset, 1, "fresh: delivered");
    faults.age_ms.store(60_000, Ordering::SeqCst);
    publish(&node, "p:lag", payload(2), false).await;
    let push = peer.push().await;
    assert_eq!(push.unsubscribe.map(|u| u.code), Some(2500), "too late");
}

#[tokio::test]
async fn a_slow_hook_does_not_hold_back_publications() {
    // The RPC hook waits for the test's signal, as a slow application backend would.
    let release = Arc::new(tokio::sync::Notify::new());
    let hook_release = Arc::clone(&release);
    let node = Node::builder(config())
        .on_connecting(|_| async { Ok(ConnectGrant::user("u")) })
        .on_rpc(move |_| {
            let release = Arc::clone(&hook_release);
            async move {
                release.notified().await;
                Ok(Bytes::from_static(b"{\"done\":true}"))
            }
        })
        .build();
    let mut peer = Peer::open(&node, Protocol::Json).await;
    peer.subscribe(sub_req("p:live")).await.unwrap();

    let mut enc = chorus_protocol::FrameEncoder::new(Protocol::Json);
    enc.append(&Command {
        id: 77,
        rpc: Some(chorus_protocol::RpcRequest {
            method: "slow".into(),
            data: Bytes::from_static(b"{}"),
        }),
        ..Command::default()
    })
    .unwrap();
    peer.to_server.send(enc.finish()).unwrap();

    // While the hook is pending, publications still reach this client.
    publish(&node, "p:live", payload(1), false).await;
    let first = tokio::time::timeout(Duration::from_secs(5), peer.recv())
        .await
        .expect("the publication arrives while the hook is pending");
    assert_eq!(
        first.push.and_then(|p| p.r#pub).map(|p| p.offset),
        Some(1),
        "the publication is not held behind the pending command"
    );
    // A command sent meanwhile is read ahead and answered after the first, in order.
    let mut enc = chorus_protocol::FrameEncoder::new(Protocol::Json);
    enc.append(&Command {
        id: 78,
        unsubscribe: Some(chorus_protocol::UnsubscribeRequest {
            channel: "p:live".into(),
        }),
        ..Command::default()
    })
    .unwrap();
    peer.to_server.send(enc.finish()).unwrap();
    release.notify_one();
    let reply = peer.recv().await;
    assert_eq!(reply.id, 77);
    assert_eq!(&reply.rpc.unwrap().data[..], b"{\"done\":true}");
    let reply = peer.recv().await;
    assert_eq!(reply.id, 78);
    assert!(reply.unsubscribe.is_some());
}
