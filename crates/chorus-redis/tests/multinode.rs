//! Several nodes sharing one Redis, each serving real WebSocket clients on
//! 127.0.0.1:0: cross-node delivery, presence, and recovery across a Redis
//! restart in the middle of a publish stream.

use bytes::Bytes;
use chorus_node::{ApiPublish, ChannelOptions, Node, NodeConfig};
use chorus_protocol::{Command, Protocol, SubscribeRequest};
use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig};
use chorus_testkit::ProtocolClient;
use chorus_testkit::services::RedisServer;
use std::sync::Arc;
use std::time::Duration;

/// A node on the shared Redis whose channels have presence, join/leave and
/// recoverable history; clients are allowed everything (`insecure`).
async fn node(redis_url: &str) -> (Node, String) {
    let engine = RedisEngine::connect(RedisEngineConfig {
        shards: vec![RedisAddress::Standalone(redis_url.to_owned())],
        prefix: "chorus-multinode".to_owned(),
        connect_timeout: Duration::from_millis(300),
        io_timeout: Duration::from_millis(500),
        ..RedisEngineConfig::default()
    })
    .await
    .expect("connect");
    let mut config = NodeConfig::default();
    config.client.insecure = true;
    let mut options = ChannelOptions::default();
    options.presence = true;
    options.join_leave = true;
    options.force_push_join_leave = true;
    options.history_size = 1000;
    options.history_ttl = Duration::from_secs(300);
    options.force_recovery = true;
    options.force_positioning = true;
    config.channels.without_namespace = Arc::new(options);
    let presence = engine.presence_manager();
    let node = Node::builder(config)
        .broker(move |events| engine.broker(events))
        .presence(presence)
        .build();
    let url = chorus_testkit::cluster::serve(&node).await;
    (node, url)
}

async fn client(url: &str) -> ProtocolClient {
    let mut c = ProtocolClient::open(url, Protocol::Json).await;
    let reply = c.connect("").await;
    assert!(reply.error.is_none(), "connect: {reply:?}");
    c
}

fn data(n: u64) -> Bytes {
    Bytes::from(format!("{{\"n\":{n}}}"))
}

/// A client on node A receives what node B publishes, with its stream offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_on_a_receives_publications_from_b() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_a, url_a) = node(&redis.url()).await;
    let (b, _url_b) = node(&redis.url()).await;
    let mut c = client(&url_a).await;
    let reply = c.subscribe("news").await;
    assert!(reply.error.is_none(), "subscribe: {reply:?}");
    for n in 1..=3 {
        b.publish("news", data(n), ApiPublish::default())
            .await
            .expect("publish on B");
    }
    for n in 1..=3 {
        let p = c.recv_publication("news").await;
        assert_eq!(p.data, data(n));
        assert_eq!(p.offset, n);
    }
}

/// Presence and presence stats see clients of every node; joins cross nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_spans_nodes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, url_a) = node(&redis.url()).await;
    let (b, url_b) = node(&redis.url()).await;
    let mut ca = client(&url_a).await;
    assert!(ca.subscribe("room").await.error.is_none());
    let mut cb = client(&url_b).await;
    assert!(cb.subscribe("room").await.error.is_none());
    // The join of B's client reaches A's client through Redis.
    loop {
        let push = ca.recv().await.push.expect("a push");
        if push.join.is_some() {
            break;
        }
    }
    for node in [&a, &b] {
        let p = node.presence("room").await.expect("presence");
        assert_eq!(p.len(), 2, "both clients present: {p:?}");
        let s = node.presence_stats("room").await.expect("stats");
        assert_eq!(s.num_clients, 2);
    }
}

/// Redis is killed and restarted (with its data, as a persistent Redis keeps
/// it) in the middle of a publish stream from node B. Publishing fails while it
/// is down; the client on node A is told its state is insufficient after node A
/// reconnects, resubscribes with recovery as an SDK does, and ends up with every
/// publication exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_during_publish_stream_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(mut redis) = RedisServer::start_persistent(dir.path()) else {
        return;
    };
    let (_a, url_a) = node(&redis.url()).await;
    let (b, _url_b) = node(&redis.url()).await;
    let mut c = client(&url_a).await;
    let reply = c.subscribe("stream").await;
    let result = reply.subscribe.expect("subscribe result");
    assert!(result.recoverable && result.positioned);
    let epoch = result.epoch;

    let publish = async |n: u64| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match b.publish("stream", data(n), ApiPublish::default()).await {
                Ok(pos) => return pos.offset,
                Err(e) => {
                    assert!(tokio::time::Instant::now() < deadline, "publish {n}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    for n in 1..=20 {
        assert_eq!(publish(n).await, n);
    }
    redis.stop();
    assert!(
        b.publish("stream", data(0), ApiPublish::default())
            .await
            .is_err(),
        "publish while redis is down returns an error"
    );
    redis.start_again();
    for n in 21..=40 {
        assert_eq!(publish(n).await, n, "offsets continue after the restart");
    }

    // Read as an SDK would: on "insufficient state" resubscribe with recovery.
    let mut seen: Vec<u64> = Vec::new();
    let mut resubscribed = 0;
    while seen.last().copied().unwrap_or(0) < 40 {
        let r = c.recv().await;
        let Some(push) = r.push else { continue };
        if let Some(p) = push.r#pub {
            seen.push(p.offset);
        } else if let Some(u) = push.unsubscribe {
            assert_eq!(u.code, 2500, "insufficient state");
            resubscribed += 1;
            let reply = c
                .call(Command {
                    subscribe: Some(SubscribeRequest {
                        channel: "stream".into(),
                        recover: true,
                        epoch: epoch.clone(),
                        offset: seen.last().copied().unwrap_or(0),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await;
            let result = reply.subscribe.expect("resubscribe result");
            assert!(result.recovered, "recovered from history: {result:?}");
            seen.extend(result.publications.iter().map(|p| p.offset));
        }
    }
    assert_eq!(
        seen,
        (1..=40).collect::<Vec<_>>(),
        "every offset once, in order"
    );
    // Whether the client had to recover depends on whether node A resubscribed
    // before or after B's first publish after the restart; both must be lossless.
    eprintln!("client recovered {resubscribed} time(s)");
}
