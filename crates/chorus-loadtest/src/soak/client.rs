//! One soak client: connects, subscribes to its channel, checks the offset of
//! every publication it receives, disconnects after a random lifetime (churn)
//! and comes back with a subscribe that recovers from its last position. At the
//! end it compares its position with the channel's history.
//!
//! Offsets of a channel's stream increase by one per publication within an
//! epoch, so the client detects on its own every publication it lost (a gap
//! that recovery did not fill, or a tail it never got) or received twice.

use super::stats::Stats;
use super::{Ctx, Phase};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connect may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a client waits at the end for the publications history holds
/// and it has not received yet (delivery may lag on a loaded machine).
const TAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// Small deterministic generator (xorshift64*): churn timing only.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with the given mean.
    fn exp(&mut self, mean: Duration) -> Duration {
        mean.mul_f64(-(1.0 - self.unit()).ln()).min(mean * 10)
    }
}

/// Where the client is in its channel's stream.
struct Position {
    epoch: String,
    /// Offset of the last publication received (or of the stream top when
    /// the client first subscribed).
    offset: u64,
}

/// How a session ended.
enum End {
    Churn,
    Closed,
    Done,
}

pub(crate) async fn run(index: usize, ctx: Arc<Ctx>, mut phase: watch::Receiver<Phase>) {
    let channel = format!("soak-{}", index % ctx.channels);
    let mut rng = Rng::new(index as u64 + 1);
    let mut position: Option<Position> = None;
    let mut node = index % ctx.addrs.len();
    let mut first = true;
    loop {
        let end = session(
            &ctx,
            &ctx.addrs[node],
            &channel,
            &mut position,
            &mut rng,
            &mut phase,
            first,
        )
        .await;
        first = false;
        let pause = match end {
            End::Done => return,
            End::Churn => {
                Duration::from_millis(200) + Duration::from_millis(1800).mul_f64(rng.unit())
            }
            End::Closed => {
                // The node may be gone: try the next one.
                node = (node + 1) % ctx.addrs.len();
                Duration::from_millis(500) + Duration::from_millis(1000).mul_f64(rng.unit())
            }
        };
        if *phase.borrow() == Phase::Finish {
            Stats::add(&ctx.stats.final_unchecked, 1);
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

async fn open(addr: &str) -> anyhow::Result<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let url = format!("ws://{addr}/connection/websocket");
    let (ws, _) = tokio::time::timeout(
        CALL_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await??;
    Ok(ws)
}

fn subscribe_command(id: u64, channel: &str, position: Option<&Position>) -> String {
    match position {
        None => {
            format!(r#"{{"id":{id},"subscribe":{{"channel":"{channel}","recoverable":true}}}}"#)
        }
        Some(p) => format!(
            r#"{{"id":{id},"subscribe":{{"channel":"{channel}","recoverable":true,"recover":true,"epoch":"{}","offset":{}}}}}"#,
            p.epoch, p.offset
        ),
    }
}

fn offset_of(v: &Value) -> u64 {
    v.get("offset").and_then(Value::as_u64).unwrap_or(0)
}

/// The per-session state of the subscription.
struct Sub<'a> {
    ctx: &'a Ctx,
    channel: &'a str,
    next_id: u64,
    /// Id of the subscribe in flight, if any (publications are not expected
    /// before its reply: the server buffers them while recovering).
    pending: Option<u64>,
    /// Id of the final history call, if sent.
    history: Option<u64>,
    /// Publications history holds that the client has not received yet, as
    /// of the last history call (they may still be on their way).
    missing: u64,
}

impl Sub<'_> {
    fn command_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Applies the reply to a subscribe.
    fn on_subscribed(&self, result: &Value, position: &mut Option<Position>) {
        let stats = &self.ctx.stats;
        let epoch = result.get("epoch").and_then(Value::as_str).unwrap_or("");
        let top = offset_of(result);
        let Some(p) = position.as_mut() else {
            Stats::add(&stats.first_subscribed, 1);
            *position = Some(Position {
                epoch: epoch.to_owned(),
                offset: top,
            });
            return;
        };
        Stats::add(&stats.recover_attempts, 1);
        if p.epoch != epoch {
            Stats::add(&stats.epoch_changes, 1);
        } else if result.get("recovered").and_then(Value::as_bool) == Some(true) {
            Stats::add(&stats.recovered, 1);
            let publications = result.get("publications").and_then(Value::as_array);
            for publication in publications.into_iter().flatten() {
                let offset = offset_of(publication);
                Stats::add(&stats.recovered_pubs, 1);
                self.check(p, offset, false);
            }
            if top > p.offset {
                Stats::add(&stats.lost, top - p.offset);
            }
        } else {
            Stats::add(&stats.not_recovered, 1);
            Stats::add(&stats.not_recovered_pubs, top.saturating_sub(p.offset));
        }
        *p = Position {
            epoch: epoch.to_owned(),
            offset: top.max(if p.epoch == epoch { p.offset } else { 0 }),
        };
    }

    /// Checks one publication's offset against the position; `false` when it
    /// skipped ahead (a gap).
    fn check(&self, p: &mut Position, offset: u64, live: bool) -> bool {
        let stats = &self.ctx.stats;
        if offset <= p.offset {
            Stats::add(&stats.duplicates, 1);
            true
        } else if offset == p.offset + 1 || !live {
            if offset > p.offset + 1 {
                Stats::add(&stats.lost, offset - p.offset - 1);
            }
            p.offset = offset;
            true
        } else {
            false
        }
    }

    /// Handles one line of a frame; returns commands to send back.
    fn on_line(
        &mut self,
        line: &str,
        position: &mut Option<Position>,
        out: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let stats = &self.ctx.stats;
        let v: Value = serde_json::from_str(line)?;
        if let Some(id) = v.get("id").and_then(Value::as_u64) {
            if let Some(error) = v.get("error") {
                // Refused (for instance temporarily while Redis is down): the
                // session ends and the client comes back, as an SDK does.
                Stats::add(&stats.command_errors, 1);
                anyhow::bail!("command {id} failed: {error}");
            }
            if Some(id) == self.pending {
                self.pending = None;
                let result = v.get("subscribe").cloned().unwrap_or(Value::Null);
                self.on_subscribed(&result, position);
            } else if Some(id) == self.history {
                let result = v.get("history").cloned().unwrap_or(Value::Null);
                let epoch = result.get("epoch").and_then(Value::as_str).unwrap_or("");
                self.history = None;
                self.missing = match position.as_ref() {
                    Some(p) if p.epoch == epoch => offset_of(&result).saturating_sub(p.offset),
                    _ => 0,
                };
                if self.missing == 0 {
                    Stats::add(&stats.final_checked, 1);
                }
            }
            return Ok(());
        }
        let Some(push) = v.get("push") else {
            return Ok(());
        };
        if push.get("channel").and_then(Value::as_str) != Some(self.channel) {
            return Ok(());
        }
        if push.get("unsubscribe").is_some() {
            // Server-side unsubscribe (insufficient state, …): resubscribe
            // and recover, as the SDKs do.
            Stats::add(&stats.server_unsubscribes, 1);
            self.resubscribe(position, out);
        } else if let Some(publication) = push.get("pub") {
            let (Some(p), None) = (position.as_mut(), self.pending) else {
                return Ok(());
            };
            let offset = offset_of(publication);
            if !self.check(p, offset, true) {
                // A gap on live delivery: resubscribe and let recovery fill it.
                Stats::add(&stats.live_gaps, 1);
                let id = self.command_id();
                out.push(format!(
                    r#"{{"id":{id},"unsubscribe":{{"channel":"{}"}}}}"#,
                    self.channel
                ));
                self.resubscribe(position, out);
                return Ok(());
            }
            Stats::add(&stats.delivered, 1);
            if let Some(sent) = publication
                .get("data")
                .and_then(|d| d.get("t"))
                .and_then(Value::as_u64)
            {
                stats.record_latency(super::now_nanos().saturating_sub(sent) / 1000);
            }
        }
        Ok(())
    }

    fn resubscribe(&mut self, position: &Option<Position>, out: &mut Vec<String>) {
        let id = self.command_id();
        self.pending = Some(id);
        out.push(subscribe_command(id, self.channel, position.as_ref()));
    }
}

async fn session(
    ctx: &Ctx,
    addr: &str,
    channel: &str,
    position: &mut Option<Position>,
    rng: &mut Rng,
    phase: &mut watch::Receiver<Phase>,
    first: bool,
) -> End {
    let stats = &ctx.stats;
    let permit = if first {
        ctx.ramp.acquire().await.ok()
    } else {
        None
    };
    let Ok(mut ws) = open(addr).await else {
        Stats::add(&stats.connect_errors, 1);
        return End::Closed;
    };
    let mut sub = Sub {
        ctx,
        channel,
        next_id: 1,
        pending: None,
        history: None,
        missing: 0,
    };
    let mut out = vec![r#"{"id":1,"connect":{"name":"soak"}}"#.to_owned()];
    sub.resubscribe(position, &mut out);
    if ws.send(Message::text(out.join("\n"))).await.is_err() {
        Stats::add(&stats.connect_errors, 1);
        return End::Closed;
    }
    out.clear();
    drop(permit);
    stats.open.fetch_add(1, Relaxed);
    let mut counted = false;
    let mut active = false;
    let mut recheck_at: Option<Instant> = None;
    let churn_at = Instant::now() + rng.exp(ctx.mean_lifetime);
    let mut finish_by = None;
    let end = loop {
        let current = *phase.borrow();
        let churn = current == Phase::Run && !first_pending(&sub, counted);
        let deadline = finish_by.unwrap_or(churn_at);
        tokio::select! {
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else {
                    Stats::add(&stats.server_closes, 1);
                    break End::Closed;
                };
                let Message::Text(text) = msg else { continue };
                if text.as_str() == "{}" {
                    let _ = ws.send(Message::text("{}")).await;
                    continue;
                }
                let mut failed = false;
                for line in text.as_str().split('\n').filter(|l| !l.is_empty()) {
                    if sub.on_line(line, position, &mut out).is_err() {
                        failed = true;
                    }
                }
                if failed {
                    Stats::add(&stats.server_closes, 1);
                    break End::Closed;
                }
                if !counted && sub.pending.is_none() && position.is_some() {
                    counted = true;
                    Stats::add(&stats.connects, 1);
                }
                let now_active = sub.pending.is_none() && position.is_some();
                if now_active != active {
                    active = now_active;
                    stats.subscribed.fetch_add(if active { 1 } else { -1 }, Relaxed);
                }
                if finish_by.is_some() && sub.history.is_none() {
                    if sub.missing == 0 {
                        break End::Done;
                    }
                    // The tail may still be in flight: ask again shortly.
                    recheck_at = Some(Instant::now() + Duration::from_millis(500));
                }
                if !out.is_empty() {
                    let frame = out.join("\n");
                    out.clear();
                    if ws.send(Message::text(frame)).await.is_err() {
                        Stats::add(&stats.server_closes, 1);
                        break End::Closed;
                    }
                }
            }
            () = tokio::time::sleep_until(recheck_at.unwrap_or(deadline).into()), if recheck_at.is_some() => {
                recheck_at = None;
                let id = sub.command_id();
                sub.history = Some(id);
                let call = format!(r#"{{"id":{id},"history":{{"channel":"{channel}","limit":0}}}}"#);
                if ws.send(Message::text(call)).await.is_err() {
                    Stats::add(&stats.final_unchecked, 1);
                    break End::Done;
                }
            }
            () = tokio::time::sleep_until(deadline.into()), if churn || finish_by.is_some() => {
                if finish_by.is_some() {
                    // Still missing publications at the deadline: lost.
                    if sub.history.is_none() && sub.missing > 0 {
                        Stats::add(&stats.lost, sub.missing);
                        Stats::add(&stats.final_checked, 1);
                    } else {
                        Stats::add(&stats.final_unchecked, 1);
                    }
                    break End::Done;
                }
                Stats::add(&stats.churn_closes, 1);
                break End::Churn;
            }
            changed = phase.changed(), if finish_by.is_none() => {
                if changed.is_err() || *phase.borrow() != Phase::Finish {
                    continue;
                }
                if sub.pending.is_some() || position.is_none() {
                    Stats::add(&stats.final_unchecked, 1);
                    break End::Done;
                }
                let id = sub.command_id();
                sub.history = Some(id);
                finish_by = Some(Instant::now() + TAIL_TIMEOUT);
                let call = format!(r#"{{"id":{id},"history":{{"channel":"{channel}","limit":0}}}}"#);
                if ws.send(Message::text(call)).await.is_err() {
                    Stats::add(&stats.final_unchecked, 1);
                    break End::Done;
                }
            }
        }
    };
    stats.open.fetch_sub(1, Relaxed);
    if active {
        stats.subscribed.fetch_sub(1, Relaxed);
    }
    let _ = ws.close(None).await;
    end
}

/// Churn waits until the session's subscription is established.
fn first_pending(sub: &Sub<'_>, counted: bool) -> bool {
    !counted || sub.pending.is_some()
}
