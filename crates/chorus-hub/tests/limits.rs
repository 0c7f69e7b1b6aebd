//! Bad input and backpressure: oversized and invalid messages, slow consumers and
//! dead peers are closed with the documented codes, and nobody else notices.

mod common;

use chorus_hub::{Config, Hub, SessionError};
use common::*;
use futures_util::SinkExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

fn error_kind(e: &SessionError) -> &'static str {
    match e {
        SessionError::MessageTooLarge { .. } => "too_large",
        SessionError::InvalidUtf8 => "utf8",
        SessionError::PongTimeout(_) => "pong",
        SessionError::SlowConsumer { .. } => "slow",
        SessionError::WriteTimeout(_) => "write_timeout",
        _ => "other",
    }
}

fn echo_hub(config: Config, tx: tokio::sync::mpsc::UnboundedSender<&'static str>) -> Hub {
    Hub::builder()
        .config(config)
        .on_message(|s, t| {
            let _ = s.write(t);
        })
        .on_error(move |_, e| tx.send(error_kind(e)).unwrap())
        .build()
}

#[tokio::test]
async fn oversized_message_closes_with_1009_and_spares_others() {
    let (tx, mut errors) = events();
    let hub = echo_hub(Config::default().max_message_size(1024), tx);
    let addr = serve(hub.clone()).await;
    let mut bystander = connect(addr).await;
    let mut offender = connect(addr).await;
    send_text(&mut offender, &"x".repeat(1025)).await;
    let (code, reason, _) = recv_close(&mut offender).await;
    assert_eq!(code, 1009);
    assert_eq!(reason, "message too big");
    assert_eq!(next_event(&mut errors).await, "too_large");
    // The limit is inclusive and the bystander keeps working.
    send_text(&mut bystander, &"y".repeat(1024)).await;
    assert_eq!(recv_text(&mut bystander).await.len(), 1024);
    eventually(|| hub.len() == 1).await;
}

#[tokio::test]
async fn invalid_utf8_text_closes_with_1007() {
    let (tx, mut errors) = events();
    let hub = echo_hub(Config::default(), tx);
    let addr = serve(hub).await;
    let mut bystander = connect(addr).await;
    let mut offender = connect(addr).await;
    let frame = Frame::message(vec![0xff, 0xfe, 0x41], OpCode::Data(Data::Text), true);
    offender.send(Message::Frame(frame)).await.unwrap();
    let (code, _, _) = recv_close(&mut offender).await;
    assert_eq!(code, 1007);
    assert_eq!(next_event(&mut errors).await, "utf8");
    send_text(&mut bystander, "still fine").await;
    assert_eq!(recv_text(&mut bystander).await, "still fine");
}

#[tokio::test]
async fn slow_consumer_is_closed_with_3008_without_blocking_others() {
    let (tx, mut errors) = events();
    let config = Config::default()
        .max_queued_bytes(256 * 1024)
        .write_timeout(Duration::from_secs(30));
    let hub = echo_hub(config, tx);
    let addr = serve(hub.clone()).await;
    let mut slow = connect(addr).await; // never reads until the end
    let mut fast = connect(addr).await;
    eventually(|| hub.len() == 2).await;

    // The fast client drains concurrently; count what it gets.
    let payload = "p".repeat(16 * 1024);
    let fast_reader = tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let t = recv_text(&mut fast).await;
            if t == "done" {
                return n;
            }
            n += 1;
        }
    });
    let mut sent = 0usize;
    let mut slow_seen = false;
    // Kernel socket buffers absorb a few MiB first; 4096 × 16 KiB = 64 MiB is far more.
    for _ in 0..4096 {
        let d = hub.broadcast(payload.as_str());
        sent += 1;
        if d.slow == 1 {
            slow_seen = true;
            break;
        }
        // Let the writers run so the fast client really keeps up.
        tokio::task::yield_now().await;
    }
    assert!(slow_seen, "the slow session's queue never overflowed");
    // Counted at once, by the producer that hit the bound.
    assert_eq!(hub.stats().slow_consumer_closes, 1);
    hub.broadcast("done");
    assert_eq!(
        fast_reader.await.unwrap(),
        sent,
        "the fast client got every message"
    );
    // The slow client eventually reads what was already in flight, then the close frame.
    let (code, reason, data) = recv_close(&mut slow).await;
    assert_eq!((code, reason.as_str()), (3008, "slow consumer"));
    assert!(data < sent, "slow client got {data} of {sent}");
    // The error handler runs on the session's own task, once its stuck write finished.
    assert_eq!(next_event(&mut errors).await, "slow");
    eventually(|| hub.len() == 1).await;
}

#[tokio::test]
async fn silent_peer_is_closed_after_pong_wait() {
    let (tx, mut errors) = events();
    let (dtx, mut disconnects) = events::<u16>();
    let config = Config::default()
        .ping_period(Duration::from_millis(40))
        .pong_wait(Duration::from_millis(150));
    let hub = Hub::builder()
        .config(config)
        .on_error(move |_, e| tx.send(error_kind(e)).unwrap())
        .on_disconnect(move |_, f| dtx.send(f.code.0).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    // A client that never polls its socket never answers pings.
    let _silent = connect(addr).await;
    assert_eq!(next_event(&mut errors).await, "pong");
    assert_eq!(next_event(&mut disconnects).await, 1008);
    assert_eq!(hub.len(), 0);
}

#[test]
fn invalid_config_is_refused_with_every_problem() {
    let err = Hub::builder()
        .config(
            Config::default()
                .ping_period(Duration::from_secs(100))
                .max_queued_bytes(0),
        )
        .try_build()
        .unwrap_err();
    assert_eq!(err.problems.len(), 2);
}
