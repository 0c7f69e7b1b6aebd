//! The NATS broker on a real `nats-server` started per test on a free port:
//! the PUB/SUB contracts of the shared conformance suite, no history, two
//! nodes fanning out to each other, and errors while NATS is down.

use bytes::Bytes;
use chorus_nats::{NatsBroker, NatsConfig};
use chorus_node::{BackendError, Broker, BrokerEvents, HistoryFilter, PublishOptions};
use chorus_protocol::Publication;
use chorus_testkit::conformance::{self, RecordingEvents};
use chorus_testkit::services::NatsServer;
use std::sync::Arc;
use std::time::Duration;

fn config(nats: &NatsServer) -> NatsConfig {
    NatsConfig {
        url: nats.url(),
        prefix: "chorus-test".to_owned(),
        dial_timeout: Duration::from_millis(500),
        write_timeout: Duration::from_millis(500),
    }
}

/// The PUB/SUB checks of the suite (the history checks do not apply).
macro_rules! pubsub_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let Some(nats) = NatsServer::start() else { return };
            let cfg = config(&nats);
            conformance::$check(&|events: Arc<dyn BrokerEvents>| NatsBroker::new(cfg.clone(), events)).await;
        }
    )*};
}

pubsub_checks!(
    delivers_in_publish_order,
    does_not_deliver_to_unsubscribed_channels,
    unsubscribe_stops_delivery,
    subscribe_and_unsubscribe_are_idempotent,
    join_and_leave_reach_subscribed_channels_only,
);

fn publication(data: &'static str) -> Publication {
    Publication {
        data: Bytes::from_static(data.as_bytes()),
        ..Default::default()
    }
}

/// History is not available (client error 108); publishes carry no position.
#[tokio::test]
async fn history_is_not_available() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let b = NatsBroker::new(
        config(&nats),
        RecordingEvents::new() as Arc<dyn BrokerEvents>,
    );
    let r = b
        .publish("h", publication("1"), &PublishOptions::default())
        .await
        .expect("publish");
    assert_eq!(r.position.offset, 0);
    assert!(r.position.epoch.is_empty());
    let err = b
        .history("h", HistoryFilter::default(), Duration::ZERO)
        .await
        .expect_err("no history");
    assert!(matches!(err, BackendError::NotAvailable), "{err:?}");
    assert!(matches!(
        b.remove_history("h").await,
        Err(BackendError::NotAvailable)
    ));
}

/// Two nodes (two brokers, two connections): what one publishes reaches the
/// other's subscribers, with info and tags, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_fan_out() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let rec_a = RecordingEvents::new();
    let a = NatsBroker::new(config(&nats), Arc::clone(&rec_a) as Arc<dyn BrokerEvents>);
    let rec_b = RecordingEvents::new();
    let b = NatsBroker::new(config(&nats), Arc::clone(&rec_b) as Arc<dyn BrokerEvents>);
    a.subscribe("room").await.expect("subscribe on a");
    b.subscribe("room").await.expect("subscribe on b");
    for d in ["1", "2", "3"] {
        b.publish("room", publication(d), &PublishOptions::default())
            .await
            .expect("publish on b");
    }
    for rec in [&rec_a, &rec_b] {
        let got = rec.wait_publications("room", 3).await;
        let data: Vec<&[u8]> = got.iter().map(|d| d.publication.data.as_ref()).collect();
        assert_eq!(data, [b"1", b"2", b"3"]);
    }
    assert!(a.healthy().await && b.healthy().await);
}

/// A publish while NATS is down fails instead of being buffered silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_fails_while_nats_is_down() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let cfg = config(&nats);
    let b = NatsBroker::new(cfg, RecordingEvents::new() as Arc<dyn BrokerEvents>);
    b.connect().await.expect("connect");
    drop(nats);
    let started = tokio::time::Instant::now();
    let err = b
        .publish("x", publication("lost"), &PublishOptions::default())
        .await;
    assert!(err.is_err(), "publish with nats down must fail: {err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Connecting to a NATS that is not there fails within the dial timeout.
#[tokio::test]
async fn connect_to_missing_nats_fails() {
    let port = chorus_testkit::services::free_port();
    let b = NatsBroker::new(
        NatsConfig {
            url: format!("nats://127.0.0.1:{port}"),
            dial_timeout: Duration::from_millis(300),
            ..NatsConfig::default()
        },
        RecordingEvents::new() as Arc<dyn BrokerEvents>,
    );
    assert!(b.connect().await.is_err());
    assert!(!b.healthy().await);
}

/// The node-to-node control plane over NATS subjects (`<prefix>.control`,
/// `<prefix>.node.<id>`): two nodes pass the testkit contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_over_nats() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let cfg = config(&nats);
    chorus_testkit::cluster::control_plane(|builder| {
        let cfg = cfg.clone();
        builder.broker(move |events| NatsBroker::new(cfg, events))
    })
    .await;
}

/// A broker that has not published or subscribed yet is healthy when NATS is
/// up (an idle node must not fail its readiness probe).
#[tokio::test]
async fn idle_broker_is_healthy() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let broker = NatsBroker::new(
        config(&nats),
        RecordingEvents::new() as Arc<dyn BrokerEvents>,
    );
    assert!(broker.healthy().await);
}
