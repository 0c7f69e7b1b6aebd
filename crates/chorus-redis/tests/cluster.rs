//! The Redis engine on a real Redis Cluster of three masters (started per test
//! on free ports by `chorus_testkit::services::RedisCluster`): the engine
//! conformance suite, and two nodes fanning out through the cluster on channels
//! whose keys live on different masters.

use chorus_node::{Broker, BrokerEvents, PresenceManager, PublishOptions};
use chorus_protocol::{ClientInfo, Publication};
use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig};
use chorus_testkit::conformance::{self, RecordingEvents};
use chorus_testkit::services::RedisCluster;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const PREFIX: &str = "chorus-cluster";

fn config(cluster: &RedisCluster) -> RedisEngineConfig {
    RedisEngineConfig {
        shards: vec![RedisAddress::Cluster(cluster.urls())],
        prefix: PREFIX.to_owned(),
        ..RedisEngineConfig::default()
    }
}

/// Every broker and presence contract, whichever master a channel's keys land
/// on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_suite_on_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(&cluster))
        .await
        .expect("connect to the cluster");
    conformance::broker_suite(|events| engine.broker(events)).await;
    let make = || Arc::new(engine.presence_manager()) as Arc<dyn PresenceManager>;
    conformance::presence_suite(make).await;
}

/// The contracts whose checks use `subscribe` / `unsubscribe` as a barrier, run
/// repeatedly: they hold only because each channel is subscribed on the master
/// of its slot, where its publications (and joins, leaves) are `PUBLISH`ed. On
/// any other node a publication made just before `subscribe` could arrive after
/// it, forwarded late over the cluster bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribe_barrier_contracts_on_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(&cluster))
        .await
        .expect("connect to the cluster");
    let make = |events| engine.broker(events);
    for _ in 0..5 {
        conformance::does_not_deliver_to_unsubscribed_channels(&make).await;
        conformance::unsubscribe_stops_delivery(&make).await;
        conformance::subscribe_and_unsubscribe_are_idempotent(&make).await;
        conformance::join_and_leave_reach_subscribed_channels_only(&make).await;
    }
}

/// A plain (non-cluster) connection to one node.
async fn node(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to a cluster node")
}

/// One channel per third of the slot space (where `redis-cli --cluster create`
/// puts the three masters' ranges), by the slot of the channel's stream key.
async fn channels_on_every_master(cluster: &RedisCluster) -> Vec<String> {
    let mut conn = node(cluster.ports()[0]).await;
    let mut found: Vec<Option<String>> = vec![None; 3];
    for i in 0.. {
        let channel = format!("fanout:{i}");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("{PREFIX}.stream.{{{channel}}}"))
            .query_async(&mut conn)
            .await
            .expect("CLUSTER KEYSLOT");
        let third = usize::from(slot) * 3 / 16384;
        if found[third].is_none() {
            found[third] = Some(channel);
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found.into_iter().flatten().collect()
}

/// The port of the node that holds `key` (the others answer `MOVED`).
async fn owner(cluster: &RedisCluster, key: &str) -> u16 {
    let mut owners = Vec::new();
    for &port in cluster.ports() {
        let exists: redis::RedisResult<i64> = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut node(port).await)
            .await;
        if exists == Ok(1) {
            owners.push(port);
        }
    }
    assert_eq!(owners.len(), 1, "{key} lives on exactly one master");
    owners[0]
}

fn publication(data: &str) -> Publication {
    Publication {
        data: bytes::Bytes::from(format!("\"{data}\"")),
        ..Default::default()
    }
}

/// Two nodes (each with its own engine, as two processes would have) on one
/// cluster: publications with history from either node reach both, in offset
/// order, on channels held by three different masters; joins cross nodes and
/// presence is shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_fan_out_across_masters() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let engine_a = RedisEngine::connect(config(&cluster))
        .await
        .expect("connect A");
    let engine_b = RedisEngine::connect(config(&cluster))
        .await
        .expect("connect B");
    let (rec_a, rec_b) = (RecordingEvents::new(), RecordingEvents::new());
    let a = engine_a.broker(Arc::clone(&rec_a) as Arc<dyn BrokerEvents>);
    let b = engine_b.broker(Arc::clone(&rec_b) as Arc<dyn BrokerEvents>);
    let channels = channels_on_every_master(&cluster).await;
    for ch in &channels {
        a.subscribe(ch).await.expect("subscribe on A");
        b.subscribe(ch).await.expect("subscribe on B");
    }
    let mut o = PublishOptions::default();
    o.history_size = 100;
    o.history_ttl = Duration::from_secs(300);
    o.history_meta_ttl = Duration::from_secs(3600);
    for ch in &channels {
        for i in 1..=10_u64 {
            let from = if i % 2 == 0 { &a } else { &b };
            let r = from
                .publish(ch, publication(&format!("{ch}/{i}")), &o)
                .await
                .expect("publish");
            assert_eq!(r.position.offset, i, "offsets continue across nodes");
        }
    }
    for rec in [&rec_a, &rec_b] {
        for ch in &channels {
            let got = rec.wait_publications(ch, 10).await;
            let offsets: Vec<u64> = got.iter().map(|d| d.publication.offset).collect();
            assert_eq!(offsets, (1..=10).collect::<Vec<_>>(), "{ch}: in order");
            assert_eq!(
                got[9].publication.data,
                bytes::Bytes::from(format!("\"{ch}/10\""))
            );
        }
    }
    let info = ClientInfo {
        user: "u1".to_owned(),
        client: "c1".to_owned(),
        ..Default::default()
    };
    for ch in &channels {
        b.publish_join(ch, info.clone()).await.expect("join");
        assert_eq!(rec_a.wait_joins(ch, 1).await, std::slice::from_ref(&info));
        engine_b
            .presence_manager()
            .add_presence(ch, "c1", info.clone())
            .await
            .expect("add presence");
        let seen = engine_a
            .presence_manager()
            .presence(ch)
            .await
            .expect("presence");
        assert_eq!(seen.keys().collect::<Vec<_>>(), ["c1"], "{ch}");
    }
    let mut masters = BTreeSet::new();
    for ch in &channels {
        let stream = owner(&cluster, &format!("{PREFIX}.stream.{{{ch}}}")).await;
        let meta = owner(&cluster, &format!("{PREFIX}.stream.meta.{{{ch}}}")).await;
        let presence = owner(&cluster, &format!("{PREFIX}.presence.data.{{{ch}}}")).await;
        assert_eq!(
            (meta, presence),
            (stream, stream),
            "a channel's keys share its slot"
        );
        masters.insert(stream);
        assert_eq!(
            subscribed_on(&cluster, ch).await,
            [stream],
            "{ch} is subscribed on the master of its slot only"
        );
    }
    assert_eq!(masters.len(), 3, "the channels live on three masters");
}

/// The ports of the nodes with a local PUB/SUB subscription to `channel`
/// (`PUBSUB NUMSUB` counts a node's own subscribers only).
async fn subscribed_on(cluster: &RedisCluster, channel: &str) -> Vec<u16> {
    let mut on = Vec::new();
    for &port in cluster.ports() {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(format!("{PREFIX}.client.{channel}"))
            .query_async(&mut node(port).await)
            .await
            .expect("PUBSUB NUMSUB");
        if n > 0 {
            on.push(port);
        }
    }
    on
}

/// A node's cluster id (`CLUSTER MYID`).
async fn node_id(port: u16) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut node(port).await)
        .await
        .expect("CLUSTER MYID")
}

/// Resharding moves a subscribed channel's slot to another master: the broker
/// notices, subscribes the channel on the new owner, reports the channel as
/// interrupted (positioned subscribers check history), and delivery goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follows_a_slot_moved_to_another_master() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(&cluster))
        .await
        .expect("connect to the cluster");
    let rec = RecordingEvents::new();
    let broker = engine.broker(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    let channel = "moving";
    broker.subscribe(channel).await.expect("subscribe");
    let o = PublishOptions::default();
    broker
        .publish(channel, publication("before"), &o)
        .await
        .expect("publish");
    rec.wait_publications(channel, 1).await;

    // No history, so the slot holds no keys and can be reassigned directly.
    let key = format!("{PREFIX}.stream.{{{channel}}}");
    let mut conn = node(cluster.ports()[0]).await;
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("CLUSTER KEYSLOT");
    let from = subscribed_on(&cluster, channel).await;
    assert_eq!(from.len(), 1, "subscribed on one master: {from:?}");
    let to = *cluster
        .ports()
        .iter()
        .find(|p| **p != from[0])
        .expect("another master");
    let to_id = node_id(to).await;
    // The new owner first, then the others (as `redis-cli --cluster` does).
    let mut order = vec![to];
    order.extend(cluster.ports().iter().filter(|p| **p != to));
    for port in order {
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&to_id)
            .query_async(&mut node(port).await)
            .await
            .expect("CLUSTER SETSLOT NODE");
    }

    rec.wait_for(channel, "an interruption report", |c| c.interruptions >= 1)
        .await;
    assert_eq!(subscribed_on(&cluster, channel).await, [to], "moved along");
    broker
        .publish(channel, publication("after"), &o)
        .await
        .expect("publish after the move");
    let got = rec.wait_publications(channel, 2).await;
    assert_eq!(got[1].publication.data, bytes::Bytes::from("\"after\""));
}
