//! The Redis engine against the shared backend conformance suite
//! (`chorus_testkit::conformance`), on a real `redis-server` started per test on
//! a free port. One test per contract, so a failure names it.
//!
//! The paused-clock TTL checks of the suite cannot drive Redis' own clock, so
//! the TTL contracts have real-time variants here with short TTLs.

use chorus_node::{Broker, BrokerEvents, HistoryFilter, PresenceManager, PublishOptions};
use chorus_protocol::{ClientInfo, Publication};
use chorus_redis::{RedisAddress, RedisBroker, RedisEngine, RedisEngineConfig};
use chorus_testkit::conformance;
use chorus_testkit::services::RedisServer;
use std::sync::Arc;
use std::time::Duration;

const PRESENCE_TTL: Duration = Duration::from_secs(60);

fn config(urls: &[String]) -> RedisEngineConfig {
    RedisEngineConfig {
        shards: urls
            .iter()
            .map(|u| RedisAddress::Standalone(u.clone()))
            .collect(),
        prefix: "chorus-test".to_owned(),
        presence_ttl: PRESENCE_TTL,
        ..RedisEngineConfig::default()
    }
}

async fn engine(redis: &RedisServer) -> RedisEngine {
    RedisEngine::connect(config(&[redis.url()]))
        .await
        .expect("connect to the test redis")
}

/// One multi-thread test per broker check, each on its own Redis.
macro_rules! broker_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let Some(redis) = RedisServer::start() else { return };
            let engine = engine(&redis).await;
            conformance::$check(&|events: Arc<dyn BrokerEvents>| engine.broker(events)).await;
        }
    )*};
}

broker_checks!(
    delivers_in_publish_order,
    does_not_deliver_to_unsubscribed_channels,
    unsubscribe_stops_delivery,
    subscribe_and_unsubscribe_are_idempotent,
    publish_keeps_info_and_tags,
    history_offsets_and_epoch,
    history_of_empty_stream,
    history_limit_and_reverse,
    history_since_is_exclusive,
    history_other_epoch_is_unrecoverable,
    history_size_keeps_newest,
    remove_history_keeps_position,
    skip_history_does_not_append,
    idempotent_publish_is_suppressed,
    idempotent_publish_without_history_is_suppressed,
    join_and_leave_reach_subscribed_channels_only,
    concurrent_publish_is_atomic,
);

/// One test per presence check.
macro_rules! presence_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let Some(redis) = RedisServer::start() else { return };
            let engine = engine(&redis).await;
            let make = || Arc::new(engine.presence_manager()) as Arc<dyn PresenceManager>;
            conformance::$check(&make).await;
        }
    )*};
}

presence_checks!(
    presence_add_and_remove,
    presence_preserves_client_info,
    presence_stats_count_distinct_users,
);

/// The whole broker suite over three shards: every contract holds whatever
/// shard a channel lands on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sharded_broker_suite() {
    let servers: Vec<RedisServer> = (0..3).filter_map(|_| RedisServer::start()).collect();
    if servers.len() < 3 {
        return;
    }
    let urls: Vec<String> = servers.iter().map(RedisServer::url).collect();
    let engine = RedisEngine::connect(config(&urls)).await.expect("connect");
    conformance::broker_suite(|events| engine.broker(events)).await;
    let make = || Arc::new(engine.presence_manager()) as Arc<dyn PresenceManager>;
    conformance::presence_suite(make).await;
}

fn publication(data: &str) -> Publication {
    Publication {
        data: bytes::Bytes::from(format!("\"{data}\"")),
        ..Default::default()
    }
}

/// Polls `check` until it holds: Redis expires keys on its own clock, so there is
/// no signal to wait on. Bounded by `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Real-time variant of `conformance::history_ttl_expiry`: items expire
/// `history_ttl` after the last publish, the meta (epoch, top) outlives them, and
/// after the meta TTL the stream restarts in a new epoch.
#[tokio::test]
async fn history_ttl_expiry_real_time() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let engine = engine(&redis).await;
    let rec = conformance::RecordingEvents::new();
    let b: RedisBroker = engine.broker(rec as Arc<dyn BrokerEvents>);
    let ch = "ttl:real-time";
    let mut o = PublishOptions::default();
    o.history_size = 10;
    o.history_ttl = Duration::from_millis(400);
    o.history_meta_ttl = Duration::from_millis(1500);
    let all = || HistoryFilter {
        since: None,
        limit: -1,
        reverse: false,
    };
    let mut top = None;
    for i in 1..=3 {
        top = Some(
            b.publish(ch, publication(&format!("p{i}")), &o)
                .await
                .expect("publish")
                .position,
        );
    }
    let top = top.expect("published");
    let h = b.history(ch, all(), Duration::ZERO).await.expect("history");
    assert_eq!(h.publications.len(), 3);
    eventually(Duration::from_secs(5), "items expire", || async {
        b.history(ch, all(), Duration::ZERO)
            .await
            .expect("history")
            .publications
            .is_empty()
    })
    .await;
    let h = b.history(ch, all(), Duration::ZERO).await.expect("history");
    assert_eq!(h.position, top, "top offset and epoch outlive the items");
    let r = b.publish(ch, publication("p4"), &o).await.expect("publish");
    assert_eq!(r.position.offset, 4, "offsets continue in the epoch");
    assert_eq!(r.position.epoch, top.epoch);
    eventually(Duration::from_secs(6), "meta expires", || async {
        b.history(ch, all(), Duration::ZERO)
            .await
            .expect("history")
            .position
            .epoch
            != top.epoch
    })
    .await;
    let h = b.history(ch, all(), Duration::ZERO).await.expect("history");
    assert_eq!(h.position.offset, 0, "the new stream starts empty");
    let r = b
        .publish(ch, publication("again"), &o)
        .await
        .expect("publish");
    assert_eq!(r.position.offset, 1);
    assert_eq!(
        r.position.epoch, h.position.epoch,
        "the new epoch is stable"
    );
}

/// Real-time variant of `conformance::presence_ttl_expiry`: an entry not
/// refreshed within the TTL disappears from `presence` and `presence_stats`.
#[tokio::test]
async fn presence_ttl_expiry_real_time() {
    presence_expiry_real_time(false).await;
}

/// The same with presence user mapping: the expired client's user leaves the
/// user count too.
#[tokio::test]
async fn presence_ttl_expiry_real_time_with_user_mapping() {
    presence_expiry_real_time(true).await;
}

/// The presence suite with user mapping (`presence_user_mapping`): the same
/// contract, with stats read from the per-user keys.
#[tokio::test]
async fn presence_suite_with_user_mapping() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut cfg = config(&[redis.url()]);
    cfg.presence_user_mapping = true;
    let engine = RedisEngine::connect(cfg).await.expect("connect");
    let make = || Arc::new(engine.presence_manager()) as Arc<dyn PresenceManager>;
    conformance::presence_suite(make).await;
}

async fn presence_expiry_real_time(user_mapping: bool) {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut cfg = config(&[redis.url()]);
    cfg.presence_ttl = Duration::from_millis(600);
    cfg.presence_user_mapping = user_mapping;
    let engine = RedisEngine::connect(cfg).await.expect("connect");
    let pm = engine.presence_manager();
    let info = |u: &str, c: &str| ClientInfo {
        user: u.to_owned(),
        client: c.to_owned(),
        ..Default::default()
    };
    pm.add_presence("p", "c1", info("u1", "c1"))
        .await
        .expect("add");
    pm.add_presence("p", "c2", info("u2", "c2"))
        .await
        .expect("add");
    assert_eq!(pm.presence_stats("p").await.expect("stats").num_clients, 2);
    // Keep c1 alive while c2 expires.
    eventually(Duration::from_secs(5), "c2 expires", || async {
        pm.add_presence("p", "c1", info("u1", "c1"))
            .await
            .expect("refresh");
        !pm.presence("p").await.expect("presence").contains_key("c2")
    })
    .await;
    let p = pm.presence("p").await.expect("presence");
    assert_eq!(p.keys().collect::<Vec<_>>(), ["c1"]);
    let s = pm.presence_stats("p").await.expect("stats");
    assert_eq!((s.num_clients, s.num_users), (1, 1));
}
