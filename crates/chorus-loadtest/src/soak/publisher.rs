//! The publisher: one connection publishing at a fixed rate, round-robin over
//! the channels, each publication carrying its send time. It moves to the next
//! node when its connection is lost (the fault scenario kills a node).

use super::stats::Stats;
use super::{Ctx, now_nanos};
use futures_util::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

/// Publishes until `until`. Commands not answered when the connection drops
/// count as errors: their outcome is unknown to the publisher (they may still
/// be in history, which the clients' offset checks account for).
pub(crate) async fn run(ctx: &Ctx, until: Instant) {
    let stats = &ctx.stats;
    let period = Duration::from_secs_f64(1.0 / ctx.rate.max(1) as f64);
    let mut node = ctx.addrs.len() - 1;
    let mut seq = 0u64;
    while Instant::now() < until {
        let url = format!("ws://{}/connection/websocket", ctx.addrs[node]);
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(url),
        )
        .await
        else {
            node = (node + 1) % ctx.addrs.len();
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if ws
            .send(Message::text(
                r#"{"id":1,"connect":{"name":"soak-publisher"}}"#,
            ))
            .await
            .is_err()
        {
            continue;
        }
        let mut in_flight = HashSet::new();
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    if Instant::now() >= until {
                        break;
                    }
                    seq += 1;
                    let id = seq + 1;
                    let channel = seq % ctx.channels as u64;
                    let command = format!(
                        r#"{{"id":{id},"publish":{{"channel":"soak-{channel}","data":{{"t":{}}}}}}}"#,
                        now_nanos()
                    );
                    if ws.send(Message::text(command)).await.is_err() {
                        break;
                    }
                    in_flight.insert(id);
                }
                msg = ws.next() => {
                    let Some(Ok(msg)) = msg else { break };
                    let Message::Text(text) = msg else { continue };
                    if text.as_str() == "{}" {
                        let _ = ws.send(Message::text("{}")).await;
                        continue;
                    }
                    for line in text.as_str().split('\n') {
                        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                            continue;
                        };
                        let Some(id) = v.get("id").and_then(serde_json::Value::as_u64) else {
                            continue;
                        };
                        if in_flight.remove(&id) {
                            if v.get("error").is_some() {
                                Stats::add(&stats.publish_errors, 1);
                            } else {
                                Stats::add(&stats.published, 1);
                            }
                        }
                    }
                }
            }
        }
        // Wait briefly for the last acknowledgements when stopping normally.
        let grace = Instant::now() + Duration::from_secs(5);
        while !in_flight.is_empty() && Instant::now() < grace {
            let Ok(Some(Ok(Message::Text(text)))) =
                tokio::time::timeout_at(grace.into(), ws.next()).await
            else {
                break;
            };
            for line in text.as_str().split('\n') {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if let Some(id) = v.get("id").and_then(serde_json::Value::as_u64)
                    && in_flight.remove(&id)
                {
                    let counter = if v.get("error").is_some() {
                        &stats.publish_errors
                    } else {
                        &stats.published
                    };
                    Stats::add(counter, 1);
                }
            }
        }
        Stats::add(&stats.publish_errors, in_flight.len() as u64);
        let _ = ws.close(None).await;
        if Instant::now() < until {
            node = (node + 1) % ctx.addrs.len();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
