//! The Redis Streams consumer against a real `redis-server` (started by the
//! test kit): both message shapes, in order per stream with one worker,
//! several streams, two nodes sharing a group (each entry once), a retryable
//! failure retried in place, and entries left by a stopped node claimed by
//! another after the visibility timeout.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chorus_consumers::{ConsumerSpec, RedisStreamOptions, RunningConsumers, Source};
use chorus_testkit::services::RedisServer;
use common::{Recorder, Seen, assert_complete_in_order, next, publish};
use redis::aio::MultiplexedConnection;
use tokio_util::sync::CancellationToken;

struct Harness {
    server: RedisServer,
    conn: MultiplexedConnection,
}

impl Harness {
    async fn start() -> Option<Self> {
        let server = RedisServer::start()?;
        let conn = redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        Some(Self { server, conn })
    }

    fn options(&self, streams: u32) -> RedisStreamOptions {
        RedisStreamOptions {
            url: self.server.url(),
            streams: (0..streams).map(|s| format!("s{s}")).collect(),
            consumer_group: "chorus".to_owned(),
            ..RedisStreamOptions::default()
        }
    }

    /// `XADD s<seq % streams>` for `from..to`; even numbers as a whole
    /// message in `payload`, odd ones with a `method` field.
    async fn add(&mut self, from: i64, to: i64, streams: u32) {
        for seq in from..to {
            let stream = (seq % i64::from(streams)) as u32;
            let body = publish(stream, seq);
            let mut cmd = redis::cmd("XADD");
            cmd.arg(format!("s{stream}")).arg("*");
            if seq % 2 == 0 {
                cmd.arg("payload")
                    .arg(format!(r#"{{"method":"publish","payload":{body}}}"#));
            } else {
                cmd.arg("method").arg("publish").arg("payload").arg(body);
            }
            cmd.query_async::<String>(&mut self.conn).await.unwrap();
        }
    }
}

async fn consume(options: RedisStreamOptions, recorder: &Arc<Recorder>) -> RunningConsumers {
    chorus_consumers::start(
        vec![ConsumerSpec {
            name: "streams".to_owned(),
            source: Source::RedisStream(options),
        }],
        recorder.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn entries_are_dispatched_in_order_per_stream_and_acknowledged() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    let (recorder, mut seen, _) = Recorder::new();
    let running = consume(h.options(3), &recorder).await;
    h.add(0, 90, 3).await;
    let got = next(&mut seen, 90).await;
    assert_complete_in_order(&got, 90);
    let metrics = running.metrics()[0].clone();
    running.shutdown().await;
    assert_eq!(metrics.processed(), 90);
    assert_eq!(metrics.errors(), 0);
    assert_eq!(metrics.lag(), Some(0));
    for s in 0..3 {
        let pending: (i64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
            .arg(format!("s{s}"))
            .arg("chorus")
            .query_async(&mut h.conn)
            .await
            .unwrap();
        assert_eq!(pending.0, 0, "stream s{s} has unacknowledged entries");
    }
}

#[tokio::test]
async fn two_nodes_in_one_group_dispatch_each_entry_once() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    let (recorder, mut seen, _) = Recorder::new();
    let mut options = h.options(2);
    options.num_workers = 4;
    let a = consume(options.clone(), &recorder).await;
    let b = consume(options, &recorder).await;
    h.add(0, 200, 2).await;
    let got = next(&mut seen, 200).await;
    let (ma, mb) = (a.metrics()[0].clone(), b.metrics()[0].clone());
    a.shutdown().await;
    b.shutdown().await;
    assert!(seen.try_recv().is_err(), "an entry was dispatched twice");
    let mut seqs: Vec<i64> = got.iter().map(|s| s.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    assert_eq!(ma.processed() + mb.processed(), 200);
}

#[tokio::test]
async fn a_failing_entry_is_retried_in_place_and_a_refused_one_skipped() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    let (recorder, mut seen, mut attempts) = Recorder::new();
    {
        let mut failures = recorder.failures.lock().unwrap();
        failures.insert(3, (100, 3));
        failures.insert(6, (102, 1));
    }
    let running = consume(h.options(1), &recorder).await;
    h.add(0, 10, 1).await;
    let got = next(&mut seen, 9).await;
    assert_eq!(
        got.iter().map(|s| s.seq).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 7, 8, 9]
    );
    let metrics = running.metrics()[0].clone();
    running.shutdown().await;
    let mut tried = Vec::new();
    while let Ok(a) = attempts.try_recv() {
        tried.push(a.seq);
    }
    assert_eq!(tried, [0, 1, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(metrics.processed(), 10);
    assert_eq!(metrics.errors(), 4);
}

#[tokio::test]
async fn entries_left_by_a_stopped_node_are_claimed_by_another() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    // Node A fails on entry 5 until it is stopped: 5 (and what A read after
    // it) stay pending with A.
    let (rec_a, mut seen_a, mut attempts_a) = Recorder::new();
    rec_a.failures.lock().unwrap().insert(5, (100, usize::MAX));
    let mut options = h.options(1);
    options.visibility_timeout = Duration::from_millis(500);
    options.consumer_name = "a".to_owned();
    let a = consume(options.clone(), &rec_a).await;
    h.add(0, 10, 1).await;
    let mut got: Vec<Seen> = next(&mut seen_a, 5).await;
    // Wait for the first failed attempt on 5, then stop A.
    loop {
        let attempt = tokio::time::timeout(common::WAIT, attempts_a.recv())
            .await
            .unwrap()
            .unwrap();
        if attempt.seq == 5 {
            break;
        }
    }
    a.shutdown().await;
    // Node B claims them once idle for the visibility timeout, and reads
    // what comes after.
    let (rec_b, mut seen_b, _) = Recorder::new();
    options.consumer_name = "b".to_owned();
    let b = consume(options, &rec_b).await;
    h.add(10, 15, 1).await;
    let mut distinct: HashSet<i64> = got.iter().map(|s| s.seq).collect();
    while distinct.len() < 15 {
        let s = next(&mut seen_b, 1).await[0];
        distinct.insert(s.seq);
        got.push(s);
    }
    b.shutdown().await;
    assert_eq!(distinct, (0..15).collect());
    // A's own deliveries were in order.
    assert_complete_in_order(&got[..5], 5);
}

#[tokio::test]
async fn an_entry_retried_past_the_visibility_timeout_is_not_queued_twice() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    let (recorder, mut seen, _) = Recorder::new();
    // Seven failures back off for about 1.3 s, over four visibility timeouts,
    // so claims run while entry 2 is still being retried by this node.
    recorder.failures.lock().unwrap().insert(2, (100, 7));
    let mut options = h.options(1);
    options.visibility_timeout = Duration::from_millis(300);
    let running = consume(options, &recorder).await;
    h.add(0, 6, 1).await;
    let got = next(&mut seen, 6).await;
    assert_eq!(
        got.iter().map(|s| s.seq).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    // A claim cycle later, still nothing twice.
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.shutdown().await;
    assert!(seen.try_recv().is_err(), "an entry was dispatched twice");
}
