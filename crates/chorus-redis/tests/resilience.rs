//! What the Redis broker does when Redis goes away and comes back, on a real
//! `redis-server` that the test kills and restarts.

use chorus_node::{Broker, BrokerEvents, PresenceManager, PublishOptions};
use chorus_protocol::Publication;
use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig};
use chorus_testkit::conformance::RecordingEvents;
use chorus_testkit::services::RedisServer;
use std::sync::Arc;
use std::time::Duration;

fn config(url: String) -> RedisEngineConfig {
    RedisEngineConfig {
        shards: vec![RedisAddress::Standalone(url)],
        prefix: "chorus-test".to_owned(),
        connect_timeout: Duration::from_millis(300),
        io_timeout: Duration::from_millis(500),
        ..RedisEngineConfig::default()
    }
}

fn publication(data: &str) -> Publication {
    Publication {
        data: bytes::Bytes::from(format!("\"{data}\"")),
        ..Default::default()
    }
}

fn history(size: usize) -> PublishOptions {
    let mut o = PublishOptions::default();
    o.history_size = size;
    o.history_ttl = Duration::from_secs(300);
    o.history_meta_ttl = Duration::from_secs(3600);
    o
}

/// Publishes until Redis accepts (the command connection reconnects in the
/// background after a failure). Bounded.
async fn publish_retrying(b: &impl Broker, ch: &str, data: &str, o: &PublishOptions) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match b.publish(ch, publication(data), o).await {
            Ok(r) => return r.position.offset,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "publish never recovered: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn numsub(url: &str, pubsub_channel: &str) -> i64 {
    let client = redis::Client::open(url).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(pubsub_channel)
        .query_async::<Vec<(String, i64)>>(&mut conn)
        .await
        .expect("numsub")
        .remove(0);
    n
}

/// While Redis is down, publish, history and presence calls fail (bounded by the
/// timeouts) instead of dropping silently; once it is back they work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_while_redis_is_down_and_work_after() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(redis.url()))
        .await
        .expect("connect");
    let rec = RecordingEvents::new();
    let b = engine.broker(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    b.publish("down", publication("before"), &history(10))
        .await
        .expect("publish while up");
    redis.stop();
    let started = tokio::time::Instant::now();
    let err = b.publish("down", publication("lost"), &history(10)).await;
    assert!(
        err.is_err(),
        "publish while redis is down must fail: {err:?}"
    );
    let err = b
        .publish("down", publication("lost"), &PublishOptions::default())
        .await;
    assert!(err.is_err(), "publish without history too: {err:?}");
    assert!(
        b.history("down", Default::default(), Duration::ZERO)
            .await
            .is_err(),
        "history fails"
    );
    let pm = engine.presence_manager();
    assert!(pm.presence("down").await.is_err(), "presence fails");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "failures are bounded by the timeouts: {:?}",
        started.elapsed()
    );
    assert!(
        b.subscribe("down-sub").await.is_err(),
        "subscribe fails while down"
    );
    redis.start_again();
    let offset = publish_retrying(&b, "down", "after", &history(10)).await;
    assert_eq!(
        offset, 1,
        "a fresh (non-persistent) redis starts a new stream"
    );
}

/// After the PUB/SUB connection comes back, every channel with local
/// subscribers is subscribed again and reported as interrupted; a channel whose
/// last subscriber left while Redis was down is not subscribed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_resubscribes_wanted_channels_only() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(redis.url()))
        .await
        .expect("connect");
    let rec = RecordingEvents::new();
    let b = engine.broker(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    b.subscribe("kept").await.expect("subscribe");
    b.subscribe("left").await.expect("subscribe");
    assert_eq!(
        rec.channel("kept").interruptions,
        0,
        "no report on first connect"
    );
    assert!(b.healthy().await, "healthy once subscribed");
    redis.stop();
    // The subscriber task notices the closed socket on its own: poll (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b.healthy().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still healthy with redis down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.unsubscribe("left")
        .await
        .expect("unsubscribe succeeds while down (nothing to undo)");
    redis.start_again();
    rec.wait_for("kept", "an interruption report", |c| c.interruptions >= 1)
        .await;
    assert_eq!(rec.channel("left").interruptions, 0);
    assert!(b.healthy().await, "healthy again after the reconnect");
    assert_eq!(numsub(&redis.url(), "chorus-test.client.kept").await, 1);
    assert_eq!(
        numsub(&redis.url(), "chorus-test.client.left").await,
        0,
        "the last local unsubscribe is not undone by the reconnect"
    );
    publish_retrying(&b, "kept", "live", &PublishOptions::default()).await;
    let got = rec.wait_publications("kept", 1).await;
    assert_eq!(got[0].publication.data.as_ref(), b"\"live\"");
}

/// Unsubscribing the last local subscriber removes the Redis subscription.
#[tokio::test]
async fn unsubscribe_leaves_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(redis.url()))
        .await
        .expect("connect");
    let b = engine.broker(RecordingEvents::new() as Arc<dyn BrokerEvents>);
    b.subscribe("x").await.expect("subscribe");
    assert_eq!(numsub(&redis.url(), "chorus-test.client.x").await, 1);
    b.unsubscribe("x").await.expect("unsubscribe");
    assert_eq!(numsub(&redis.url(), "chorus-test.client.x").await, 0);
}

/// Starting against a Redis that is not there fails with a clear error within
/// the connect timeout.
#[tokio::test]
async fn connect_to_missing_redis_fails_fast() {
    let port = chorus_testkit::services::free_port();
    let started = tokio::time::Instant::now();
    let err = RedisEngine::connect(config(format!("redis://127.0.0.1:{port}")))
        .await
        .expect_err("nothing listens there");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

/// A frozen Redis (SIGSTOP: sockets open, nothing answered) fails publishes, so
/// the broker must not report itself healthy; it does again once Redis resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_redis_is_not_healthy() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(redis.url()))
        .await
        .expect("connect");
    let rec = RecordingEvents::new();
    let b = engine.broker(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    b.subscribe("ch").await.expect("subscribe");
    assert!(b.healthy().await, "healthy once subscribed");
    redis.freeze();
    let asked = tokio::time::Instant::now();
    let healthy = b.healthy().await;
    let publish = b.publish("ch", publication("x"), &history(10)).await;
    redis.thaw();
    assert!(publish.is_err(), "publishes fail while frozen");
    assert!(!healthy, "healthy while frozen");
    // Answered within the IO timeout (plus a reconnect), not held.
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !b.healthy().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not healthy again after the thaw"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
