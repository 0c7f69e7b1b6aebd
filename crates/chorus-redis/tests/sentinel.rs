//! The Redis engine through Redis Sentinel (a master and one sentinel started
//! per test on free ports by `chorus_testkit::services::RedisSentinel`): the
//! engine conformance suite, a wrong master name, a master that goes away and
//! comes back, and a failover to a replica.

use chorus_node::{Broker, BrokerEvents, PresenceManager, PublishOptions};
use chorus_protocol::Publication;
use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig, SentinelMaster};
use chorus_testkit::conformance::{self, RecordingEvents};
use chorus_testkit::services::RedisSentinel;
use std::sync::Arc;
use std::time::Duration;

fn config(sentinel: &RedisSentinel, master_name: &str) -> RedisEngineConfig {
    RedisEngineConfig {
        shards: vec![RedisAddress::Sentinel {
            master_name: master_name.to_owned(),
            sentinels: vec![sentinel.sentinel_url()],
            master: SentinelMaster::default(),
        }],
        prefix: "chorus-sentinel".to_owned(),
        connect_timeout: Duration::from_millis(500),
        io_timeout: Duration::from_millis(1000),
        ..RedisEngineConfig::default()
    }
}

/// Every broker and presence contract holds on the master the sentinel names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_suite_through_sentinel() {
    let Some(sentinel) = RedisSentinel::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(&sentinel, RedisSentinel::MASTER_NAME))
        .await
        .expect("connect through the sentinel");
    conformance::broker_suite(|events| engine.broker(events)).await;
    let make = || Arc::new(engine.presence_manager()) as Arc<dyn PresenceManager>;
    conformance::presence_suite(make).await;
}

/// A master name the sentinels do not know fails the connect, saying so.
#[tokio::test]
async fn unknown_master_name_fails_to_connect() {
    let Some(sentinel) = RedisSentinel::start() else {
        return;
    };
    let err = RedisEngine::connect(config(&sentinel, "no-such-master"))
        .await
        .expect_err("unknown master");
    let text = err.to_string();
    assert!(text.contains("no-such-master"), "{text}");
}

fn publication(data: &str) -> Publication {
    Publication {
        data: bytes::Bytes::from(format!("\"{data}\"")),
        ..Default::default()
    }
}

/// Publishes until Redis accepts (the master is looked up again after a failed
/// call). Bounded.
async fn publish_retrying(b: &impl Broker, ch: &str, data: &str, o: &PublishOptions) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
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

/// The master dies and comes back (without its data): publishing fails while it
/// is down, then works again through a fresh lookup, and the PUB/SUB side
/// reconnects, reports the interruption and delivers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_restart_is_followed() {
    let Some(mut sentinel) = RedisSentinel::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(&sentinel, RedisSentinel::MASTER_NAME))
        .await
        .expect("connect");
    let rec = RecordingEvents::new();
    let b = engine.broker(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    b.subscribe("restart").await.expect("subscribe");
    let mut o = PublishOptions::default();
    o.history_size = 10;
    o.history_ttl = Duration::from_secs(300);
    assert_eq!(publish_retrying(&b, "restart", "before", &o).await, 1);
    rec.wait_publications("restart", 1).await;

    sentinel.master().stop();
    assert!(
        b.publish("restart", publication("down"), &o).await.is_err(),
        "publish while the master is down returns an error"
    );
    sentinel.master().start_again();
    // The restarted master is empty: a new stream starts at offset 1.
    assert_eq!(publish_retrying(&b, "restart", "after", &o).await, 1);
    rec.wait_for("restart", "the interruption report", |c| {
        c.interruptions >= 1
    })
    .await;
    // Delivery works again once the subscriber is back (it reports the
    // interruption only after resubscribing).
    publish_retrying(&b, "restart", "again", &o).await;
    let got = rec
        .wait_for("restart", "the publication after the restart", |c| {
            c.publications
                .iter()
                .any(|d| d.publication.data == "\"again\"")
        })
        .await;
    assert!(got.interruptions >= 1);
}

/// The master is killed and the sentinel promotes the replica: publishing fails
/// during the failover, then continues on the new master with the replicated
/// stream (offsets continue in the same epoch), and the subscriber follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_to_the_replica_is_followed() {
    let Some(mut sentinel) = RedisSentinel::start_with_replica() else {
        return;
    };
    let replica_port = sentinel.replica().expect("a replica").port();
    let engine = RedisEngine::connect(config(&sentinel, RedisSentinel::MASTER_NAME))
        .await
        .expect("connect");
    let rec = RecordingEvents::new();
    let b = engine.broker(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    b.subscribe("failover").await.expect("subscribe");
    let mut o = PublishOptions::default();
    o.history_size = 100;
    o.history_ttl = Duration::from_secs(300);
    o.history_meta_ttl = Duration::from_secs(3600);
    let mut epoch = String::new();
    for i in 1..=5 {
        let r = b
            .publish("failover", publication(&format!("p{i}")), &o)
            .await
            .expect("publish");
        assert_eq!(r.position.offset, i);
        epoch = r.position.epoch;
    }
    rec.wait_publications("failover", 5).await;
    // Replication is asynchronous: wait until the replica acknowledged it all.
    let mut master = redis::Client::open(sentinel.master().url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the master");
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query_async(&mut master)
        .await
        .expect("WAIT");
    assert_eq!(acked, 1, "the replica has every write");

    sentinel.master().stop();
    assert_eq!(
        publish_retrying(&b, "failover", "p6", &o).await,
        6,
        "the promoted replica continues the stream"
    );
    let mut s = redis::Client::open(sentinel.sentinel_url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the sentinel");
    let (_, port): (String, u16) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(RedisSentinel::MASTER_NAME)
        .query_async(&mut s)
        .await
        .expect("master address");
    assert_eq!(port, replica_port, "the replica is the master now");
    let h = b
        .history(
            "failover",
            chorus_node::HistoryFilter {
                since: None,
                limit: -1,
                reverse: false,
            },
            Duration::ZERO,
        )
        .await
        .expect("history");
    assert_eq!(h.position.epoch, epoch, "same epoch after the failover");
    assert_eq!(h.publications.len(), 6);
    rec.wait_for("failover", "the interruption report", |c| {
        c.interruptions >= 1
    })
    .await;
    publish_retrying(&b, "failover", "p7", &o).await;
    rec.wait_for("failover", "delivery from the new master", |c| {
        c.publications
            .iter()
            .any(|d| d.publication.data == "\"p7\"")
    })
    .await;
}

/// A sentinel and a master that both require a password: the sentinels' one
/// goes in their URLs, the master's in [`SentinelMaster`]. Without the
/// sentinel's password the lookup is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_reach_sentinel_and_master() {
    let Some(sentinel) = RedisSentinel::start_with_passwords("master-pw", "sentinel-pw") else {
        return;
    };
    let port = sentinel.sentinel_port();
    let mut cfg = config(&sentinel, RedisSentinel::MASTER_NAME);
    cfg.shards = vec![RedisAddress::Sentinel {
        master_name: RedisSentinel::MASTER_NAME.to_owned(),
        sentinels: vec![format!("redis://:sentinel-pw@127.0.0.1:{port}")],
        master: SentinelMaster {
            password: "master-pw".to_owned(),
            ..SentinelMaster::default()
        },
    }];
    let engine = RedisEngine::connect(cfg.clone()).await.expect("connect");
    let rec = RecordingEvents::new();
    let b = engine.broker(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    b.subscribe("auth").await.expect("subscribe");
    let mut o = PublishOptions::default();
    o.history_size = 10;
    o.history_ttl = Duration::from_secs(300);
    let r = b
        .publish("auth", publication("x"), &o)
        .await
        .expect("publish");
    assert_eq!(r.position.offset, 1);
    rec.wait_publications("auth", 1).await;

    cfg.shards = vec![RedisAddress::Sentinel {
        master_name: RedisSentinel::MASTER_NAME.to_owned(),
        sentinels: vec![sentinel.sentinel_url()],
        master: SentinelMaster {
            password: "master-pw".to_owned(),
            ..SentinelMaster::default()
        },
    }];
    assert!(
        RedisEngine::connect(cfg).await.is_err(),
        "no sentinel password: refused"
    );
}
