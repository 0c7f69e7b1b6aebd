//! The JetStream consumer against a real `nats-server -js` (started by the
//! test kit): both message shapes in order, deliver policies, two nodes on
//! one durable consumer (each message once), a retryable failure redelivered
//! after a negative acknowledgement, and a node stopped in the middle whose
//! successor goes on without losing anything.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use async_nats::jetstream::{self, stream};
use chorus_consumers::nats_jetstream::DeliverPolicy;
use chorus_consumers::{ConsumerSpec, NatsJetStreamOptions, RunningConsumers, Source};
use chorus_testkit::services::NatsServer;
use common::{Recorder, assert_complete_in_order, next, publish};
use tokio_util::sync::CancellationToken;

struct Harness {
    server: NatsServer,
    js: jetstream::Context,
}

impl Harness {
    async fn start() -> Option<Self> {
        let server = NatsServer::start_jetstream()?;
        let client = async_nats::connect(server.url()).await.unwrap();
        let js = jetstream::new(client);
        js.create_stream(stream::Config {
            name: "COMMANDS".to_owned(),
            subjects: vec!["commands.>".to_owned()],
            ..stream::Config::default()
        })
        .await
        .unwrap();
        Some(Self { server, js })
    }

    fn options(&self, durable: &str) -> NatsJetStreamOptions {
        NatsJetStreamOptions {
            url: self.server.url(),
            stream_name: "COMMANDS".to_owned(),
            subjects: vec!["commands.>".to_owned()],
            durable_consumer_name: durable.to_owned(),
            ..NatsJetStreamOptions::default()
        }
    }

    /// Publishes `from..to` (partition 0); even numbers as a whole message,
    /// odd ones with the method in a header.
    async fn publish(&self, from: i64, to: i64) {
        for seq in from..to {
            let body = publish(0, seq);
            let ack = if seq % 2 == 0 {
                self.js
                    .publish(
                        "commands.app",
                        format!(r#"{{"method":"publish","payload":{body}}}"#).into(),
                    )
                    .await
            } else {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("centrifugo-method", "publish");
                self.js
                    .publish_with_headers("commands.app", headers, body.into())
                    .await
            };
            ack.unwrap().await.unwrap();
        }
    }
}

async fn consume(options: NatsJetStreamOptions, recorder: &Arc<Recorder>) -> RunningConsumers {
    chorus_consumers::start(
        vec![ConsumerSpec {
            name: "jetstream".to_owned(),
            source: Source::NatsJetStream(options),
        }],
        recorder.clone(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn messages_are_dispatched_in_order_from_where_the_policy_says() {
    let Some(h) = Harness::start().await else {
        return;
    };
    h.publish(0, 5).await;
    // `new` starts after what the stream holds, `all` from its beginning.
    let (rec_new, mut seen_new, _) = Recorder::new();
    let (rec_all, mut seen_all, _) = Recorder::new();
    let new = consume(h.options("new"), &rec_new).await;
    let mut all_options = h.options("all");
    all_options.deliver_policy = DeliverPolicy::All;
    let all = consume(all_options, &rec_all).await;
    h.publish(5, 40).await;
    let got_all = next(&mut seen_all, 40).await;
    assert_complete_in_order(&got_all, 40);
    let got_new = next(&mut seen_new, 35).await;
    assert_eq!(
        got_new.iter().map(|s| s.seq).collect::<Vec<_>>(),
        (5..40).collect::<Vec<_>>()
    );
    let metrics = all.metrics()[0].clone();
    new.shutdown().await;
    all.shutdown().await;
    assert_eq!(metrics.processed(), 40);
    assert_eq!(metrics.errors(), 0);
    assert_eq!(metrics.lag(), Some(0));
}

#[tokio::test]
async fn two_nodes_on_one_durable_consumer_dispatch_each_message_once() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let (recorder, mut seen, _) = Recorder::new();
    let a = consume(h.options("shared"), &recorder).await;
    let b = consume(h.options("shared"), &recorder).await;
    h.publish(0, 200).await;
    let got = next(&mut seen, 200).await;
    let (ma, mb) = (a.metrics()[0].clone(), b.metrics()[0].clone());
    a.shutdown().await;
    b.shutdown().await;
    assert!(seen.try_recv().is_err(), "a message was dispatched twice");
    let mut seqs: Vec<i64> = got.iter().map(|s| s.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    assert_eq!(ma.processed() + mb.processed(), 200);
}

#[tokio::test]
async fn a_failing_message_is_redelivered_in_order_with_one_pending() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let (recorder, mut seen, mut attempts) = Recorder::new();
    {
        let mut failures = recorder.failures.lock().unwrap();
        failures.insert(3, (100, 3));
        failures.insert(6, (102, 1));
    }
    let mut options = h.options("strict");
    options.max_ack_pending = 1;
    let running = consume(options, &recorder).await;
    h.publish(0, 10).await;
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
async fn a_node_stopped_in_the_middle_loses_nothing() {
    let Some(h) = Harness::start().await else {
        return;
    };
    h.publish(0, 60).await;
    let mut options = h.options("restart");
    options.deliver_policy = DeliverPolicy::All;
    let (rec_a, mut seen_a, _) = Recorder::new();
    let a = consume(options.clone(), &rec_a).await;
    let mut got = next(&mut seen_a, 20).await;
    a.shutdown().await;
    while let Ok(s) = seen_a.try_recv() {
        got.push(s);
    }
    // The rest of A's last batch was handed back: B starts with it at once
    // (no ack timeout to wait for) and goes on in order.
    let (rec_b, mut seen_b, _) = Recorder::new();
    let b = consume(options, &rec_b).await;
    let rest = next(&mut seen_b, 60 - got.len()).await;
    b.shutdown().await;
    let distinct: HashSet<i64> = got.iter().chain(&rest).map(|s| s.seq).collect();
    assert_eq!(distinct.len(), 60);
    got.extend(rest);
    assert_complete_in_order(&got, 60);
}
