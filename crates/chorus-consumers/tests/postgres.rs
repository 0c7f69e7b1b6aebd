//! The outbox consumer against a real PostgreSQL (started by the test kit):
//! every row dispatched, in order per partition, deleted once dispatched; a
//! NOTIFY wakes a partition; two consumers share the partitions without
//! dispatching a row twice; a retryable failure is retried in place; a
//! consumer stopped in the middle loses nothing when started again.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chorus_consumers::{ConsumerSpec, PostgresOptions, RunningConsumers, Source};
use chorus_testkit::services::PostgresServer;
use common::{Recorder, Seen, WAIT, assert_complete_in_order, by_partition};
use tokio::sync::mpsc;
use tokio_postgres::{Client, NoTls};
use tokio_util::sync::CancellationToken;

struct Harness {
    server: PostgresServer,
    client: Client,
    recorder: Arc<Recorder>,
    seen: mpsc::UnboundedReceiver<Seen>,
    attempts: mpsc::UnboundedReceiver<Seen>,
}

impl Harness {
    async fn start() -> Option<Self> {
        let server = PostgresServer::start()?;
        let (client, connection) = tokio_postgres::connect(&server.dsn(), NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE TABLE outbox (
                    id BIGSERIAL PRIMARY KEY,
                    method TEXT NOT NULL,
                    payload JSONB NOT NULL,
                    partition INTEGER NOT NULL DEFAULT 0,
                    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )",
            )
            .await
            .unwrap();
        let (recorder, seen, attempts) = Recorder::new();
        Some(Self {
            server,
            client,
            recorder,
            seen,
            attempts,
        })
    }

    fn options(&self, partitions: u32) -> PostgresOptions {
        PostgresOptions {
            dsn: self.server.dsn(),
            outbox_table_name: "outbox".to_owned(),
            num_partitions: partitions,
            partition_select_limit: 10,
            partition_poll_interval: Duration::from_millis(50),
            ..PostgresOptions::default()
        }
    }

    async fn consume(&self, options: PostgresOptions) -> RunningConsumers {
        chorus_consumers::start(
            vec![ConsumerSpec {
                name: "outbox".to_owned(),
                source: Source::Postgres(options),
            }],
            self.recorder.clone(),
            CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    /// Inserts rows `from..to`, row `seq` into partition `seq % partitions`.
    async fn insert(&self, from: i64, to: i64, partitions: i32) {
        self.client
            .execute(
                "INSERT INTO outbox (method, payload, partition)
                 SELECT 'publish',
                        jsonb_build_object('channel', 'p' || (g % $3), 'data', jsonb_build_object('seq', g)),
                        g % $3
                 FROM generate_series($1::int8, $2::int8 - 1) g",
                &[&from, &to, &i64::from(partitions)],
            )
            .await
            .unwrap();
    }

    async fn rows_left(&self) -> i64 {
        self.client
            .query_one("SELECT count(*) FROM outbox", &[])
            .await
            .unwrap()
            .get(0)
    }

    async fn next(&mut self, n: usize) -> Vec<Seen> {
        common::next(&mut self.seen, n).await
    }
}

#[tokio::test]
async fn rows_are_dispatched_in_order_and_deleted() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    h.insert(0, 25, 1).await;
    let running = h.consume(h.options(1)).await;
    let seen = h.next(25).await;
    assert_eq!(
        seen.iter().map(|s| s.seq).collect::<Vec<_>>(),
        (0..25).collect::<Vec<_>>()
    );
    let metrics = running.metrics()[0].clone();
    running.shutdown().await;
    assert_eq!(h.rows_left().await, 0);
    assert_eq!(metrics.processed(), 25);
    assert_eq!(metrics.errors(), 0);
}

#[tokio::test]
async fn several_partitions_each_keep_their_order() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    h.insert(0, 200, 4).await;
    let running = h.consume(h.options(4)).await;
    let seen = h.next(200).await;
    assert_complete_in_order(&seen, 200);
    assert_eq!(by_partition(&seen).len(), 4);
    running.shutdown().await;
    assert_eq!(h.rows_left().await, 0);
}

#[tokio::test]
async fn notify_wakes_the_partition_before_the_poll_interval() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    let mut options = h.options(2);
    options.partition_poll_interval = Duration::from_secs(3600);
    options.partition_notification_channel = "outbox wake".to_owned();
    // The LISTEN connection may have its own DSN (here the URL form).
    options.partition_notification_dsn =
        format!("postgres://postgres@127.0.0.1:{}/postgres", h.server.port());
    let running = h.consume(options).await;
    // The listener's session shows its LISTEN once it has run it.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let listening: i64 = h
            .client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND state = 'idle'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if listening == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no LISTEN session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let both partitions finish their first (empty) pass and go to sleep
    // for an hour: only the notification can wake them now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    h.client
        .batch_execute(
            "BEGIN;
             INSERT INTO outbox (method, payload, partition)
               VALUES ('publish', '{\"channel\":\"p1\",\"data\":{\"seq\":0}}', 1);
             SELECT pg_notify('outbox wake', '1');
             COMMIT;",
        )
        .await
        .unwrap();
    let seen = h.next(1).await;
    assert_eq!(
        seen,
        [Seen {
            partition: 1,
            seq: 0
        }]
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    running.shutdown().await;
}

async fn two_consumers_compete(use_try_lock: bool) {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    h.insert(0, 300, 3).await;
    let mut options = h.options(3);
    options.use_try_lock = use_try_lock;
    let a = h.consume(options.clone()).await;
    let b = h.consume(options).await;
    let seen = h.next(300).await;
    let (ma, mb) = (a.metrics()[0].clone(), b.metrics()[0].clone());
    a.shutdown().await;
    b.shutdown().await;
    // Nothing dispatched twice, nothing missing, order kept per partition.
    assert_complete_in_order(&seen, 300);
    assert!(h.seen.try_recv().is_err(), "a row was dispatched again");
    assert_eq!(ma.processed() + mb.processed(), 300);
    assert_eq!(h.rows_left().await, 0);
}

#[tokio::test]
async fn two_consumers_dispatch_each_row_once_waiting_for_the_lock() {
    two_consumers_compete(false).await;
}

#[tokio::test]
async fn two_consumers_dispatch_each_row_once_with_try_lock() {
    two_consumers_compete(true).await;
}

#[tokio::test]
async fn a_failing_row_is_retried_in_place_and_a_refused_one_skipped() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    {
        let mut failures = h.recorder.failures.lock().unwrap();
        failures.insert(3, (100, 3)); // internal: retried three times
        failures.insert(6, (102, 1)); // unknown channel: final
    }
    h.insert(0, 10, 1).await;
    let running = h.consume(h.options(1)).await;
    // Row 6 is refused for good and never dispatched successfully.
    let seen = h.next(9).await;
    assert_eq!(
        seen.iter().map(|s| s.seq).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5, 7, 8, 9]
    );
    let metrics = running.metrics()[0].clone();
    running.shutdown().await;
    let mut attempts = Vec::new();
    while let Ok(a) = h.attempts.try_recv() {
        attempts.push(a.seq);
    }
    // Nothing after row 3 was tried before row 3 went through.
    assert_eq!(attempts, [0, 1, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(metrics.processed(), 10);
    assert_eq!(metrics.errors(), 4);
    assert_eq!(h.rows_left().await, 0);
}

#[tokio::test]
async fn a_restart_in_the_middle_loses_nothing() {
    let Some(mut h) = Harness::start().await else {
        return;
    };
    h.insert(0, 300, 3).await;
    // Stopped cleanly after about a third.
    let first = h.consume(h.options(3)).await;
    let mut seen = h.next(100).await;
    first.shutdown().await;
    while let Ok(s) = h.seen.try_recv() {
        seen.push(s);
    }
    assert!(h.rows_left().await + seen.len() as i64 == 300);
    // Killed (tasks aborted, transactions rolled back) after some more.
    let second = h.consume(h.options(3)).await;
    seen.extend(h.next(50).await);
    drop(second);
    while let Ok(s) = h.seen.try_recv() {
        seen.push(s);
    }
    // The rows the killed consumer dispatched without deleting come again,
    // before the rest of their partition.
    let third = h.consume(h.options(3)).await;
    let mut distinct: std::collections::HashSet<i64> = seen.iter().map(|s| s.seq).collect();
    while distinct.len() < 300 {
        let s = h.next(1).await[0];
        distinct.insert(s.seq);
        seen.push(s);
    }
    third.shutdown().await;
    assert_eq!(h.rows_left().await, 0);
    // At least once: every row, and per partition the first deliveries in
    // order (a re-delivery repeats only rows at the kill point).
    let mut first_seen = Vec::new();
    let mut done = std::collections::HashSet::new();
    for s in &seen {
        if done.insert(s.seq) {
            first_seen.push(*s);
        }
    }
    assert_complete_in_order(&first_seen, 300);
}
