//! [`RedisBroker`]: PUB/SUB between nodes and history in Redis Streams.

use crate::engine::RedisEngine;
use crate::error::malformed;
use crate::scripts;
use crate::subscriber::{Request, Subscriber, Wanted};
use async_trait::async_trait;
use chorus_node::{
    BackendError, Broker, BrokerEvents, HistoryFilter, HistoryResult, PublishOptions,
    PublishResult, StreamPosition,
};
use chorus_protocol::{ClientInfo, Publication};
use prost::Message as _;
use rand::Rng;
use redis::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long an idempotent publish result is remembered (Centrifugo: 5 minutes).
const IDEMPOTENCY_TTL_SECS: u64 = 300;

/// A broker over Redis (one or several shards), with Centrifugo's key layout.
///
/// Publishing runs one Lua script that appends to the stream, updates the meta
/// and `PUBLISH`es, so append and delivery are atomic per channel (the order of
/// PUB/SUB messages on a channel is the order of offsets). Each shard has a
/// subscriber task owning this node's PUB/SUB connection, which reconnects and
/// resubscribes by itself (see the crate docs). Dropping the broker (or
/// [`Broker::shutdown`]) stops those tasks.
pub struct RedisBroker {
    engine: RedisEngine,
    shards: Vec<ShardSubscription>,
    // Stops the subscriber tasks when the broker goes away.
    _stop: DropGuard,
    cancel: CancellationToken,
}

struct ShardSubscription {
    wanted: Arc<Wanted>,
    // Whether the shard's PUB/SUB connection is up (written by its subscriber task).
    connected: Arc<AtomicBool>,
    requests: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// An 8-letter random epoch, like Centrifugo's.
fn new_epoch() -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| LETTERS[rng.random_range(0..LETTERS.len())] as char)
        .collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RedisBroker {
    /// A broker delivering to `events`. Spawns one subscriber task per shard
    /// (call from inside a tokio runtime).
    pub fn new(engine: &RedisEngine, events: Arc<dyn BrokerEvents>) -> Self {
        let cancel = CancellationToken::new();
        let shards = engine
            .shards()
            .iter()
            .enumerate()
            .map(|(i, shard)| {
                // Control messages go through the first shard only.
                let control = match events.control_node() {
                    Some(node) if i == 0 => vec![
                        engine.keys().control_channel(),
                        engine.keys().node_channel(node),
                    ],
                    _ => Vec::new(),
                };
                let wanted = Arc::new(Wanted::default());
                let connected = Arc::new(AtomicBool::new(false));
                let (tx, rx) = mpsc::unbounded_channel();
                let task = Subscriber {
                    shard: Arc::clone(shard),
                    keys: engine.keys().clone(),
                    events: Arc::clone(&events),
                    wanted: Arc::clone(&wanted),
                    connected: Arc::clone(&connected),
                    requests: rx,
                    cancel: cancel.child_token(),
                    control,
                };
                tokio::spawn(task.run());
                ShardSubscription {
                    wanted,
                    connected,
                    requests: tx,
                }
            })
            .collect();
        Self {
            engine: engine.clone(),
            shards,
            _stop: cancel.clone().drop_guard(),
            cancel,
        }
    }

    async fn request(
        &self,
        channel: &str,
        make: impl FnOnce(oneshot::Sender<Result<(), BackendError>>) -> Request,
    ) -> Result<(), BackendError> {
        let sub = &self.shards[self.engine.shard_index(channel)];
        let (tx, rx) = oneshot::channel();
        sub.requests
            .send(make(tx))
            .map_err(|_| BackendError::Failed("redis: broker is shut down".to_owned()))?;
        rx.await
            .map_err(|_| BackendError::Failed("redis: broker is shut down".to_owned()))?
    }

    async fn publish_raw(&self, channel: &str, payload: Vec<u8>) -> Result<(), BackendError> {
        let keys = self.engine.keys();
        let mut invocation = scripts::PUBLISH_MESSAGE.prepare_invoke();
        invocation
            .key(keys.stream(channel))
            .arg(keys.client_channel(channel))
            .arg(payload);
        self.engine
            .shard(channel)
            .invoke::<i64>(&invocation)
            .await
            .map(|_| ())
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn publish(
        &self,
        channel: &str,
        mut publication: Publication,
        options: &PublishOptions,
    ) -> Result<PublishResult, BackendError> {
        publication.offset = 0;
        let with_history =
            options.history_size > 0 && !options.history_ttl.is_zero() && !options.skip_history;
        let keys = self.engine.keys();
        let meta_ttl = options.history_meta_ttl.max(options.history_ttl);
        let (use_result, result_key) = match &options.idempotency_key {
            Some(k) => ("1", keys.result(channel, k)),
            None => ("0", keys.result(channel, "")),
        };
        let mut invocation = scripts::PUBLISH.prepare_invoke();
        invocation
            .key(keys.stream(channel))
            .key(keys.stream_meta(channel))
            .key(result_key)
            .arg(publication.encode_to_vec())
            .arg(if with_history {
                options.history_size
            } else {
                0
            })
            .arg(millis(options.history_ttl).max(1))
            .arg(keys.client_channel(channel))
            .arg(millis(meta_ttl))
            .arg(new_epoch())
            .arg(use_result)
            .arg(IDEMPOTENCY_TTL_SECS);
        let (offset, epoch, suppressed): (u64, String, i64) =
            self.engine.shard(channel).invoke(&invocation).await?;
        Ok(PublishResult {
            position: StreamPosition { offset, epoch },
            suppressed: suppressed == 1,
        })
    }

    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        self.publish_raw(channel, crate::codec::encode_join(&info))
            .await
    }

    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        self.publish_raw(channel, crate::codec::encode_leave(&info))
            .await
    }

    async fn subscribe(&self, channel: &str) -> Result<(), BackendError> {
        let wanted = &self.shards[self.engine.shard_index(channel)].wanted;
        let added = wanted.insert(channel);
        let result = self
            .request(channel, |tx| Request::Subscribe(channel.to_owned(), tx))
            .await;
        if result.is_err() && added {
            wanted.remove(channel);
        }
        result
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), BackendError> {
        self.shards[self.engine.shard_index(channel)]
            .wanted
            .remove(channel);
        self.request(channel, |tx| Request::Unsubscribe(channel.to_owned(), tx))
            .await
    }

    async fn history(
        &self,
        channel: &str,
        filter: HistoryFilter,
        meta_ttl: Duration,
    ) -> Result<HistoryResult, BackendError> {
        let keys = self.engine.keys();
        let since = filter.since.as_ref().map(|p| p.offset);
        // Bounds in XRANGE syntax; `(` excludes (Redis 6.2+).
        let (low, high) = match (since, filter.reverse) {
            (None, _) => ("-".to_owned(), "+".to_owned()),
            (Some(s), false) => (format!("({s}"), "+".to_owned()),
            (Some(s), true) => ("-".to_owned(), format!("({s}")),
        };
        // Nothing is older than offset 0 (and "(0" is not a valid high bound).
        let include = filter.limit != 0 && !(filter.reverse && since == Some(0));
        let mut invocation = scripts::HISTORY.prepare_invoke();
        invocation
            .key(keys.stream(channel))
            .key(keys.stream_meta(channel))
            .arg(if include { "1" } else { "0" })
            .arg(low)
            .arg(high)
            .arg(filter.limit.max(-1))
            .arg(if filter.reverse { "1" } else { "0" })
            .arg(millis(meta_ttl))
            .arg(new_epoch());
        let reply: Value = self.engine.shard(channel).invoke(&invocation).await?;
        let (position, entries) = parse_history(reply)?;
        if let Some(since) = &filter.since
            && !since.epoch.is_empty()
            && since.epoch != position.epoch
        {
            return Err(BackendError::UnrecoverablePosition);
        }
        let publications = entries
            .into_iter()
            .map(|(offset, payload)| {
                let mut p = Publication::decode(payload.as_slice())
                    .map_err(|_| malformed("stream entry"))?;
                p.offset = offset;
                // `delta` only marks a delta candidate for live delivery.
                p.delta = false;
                Ok(p)
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        Ok(HistoryResult {
            publications,
            position,
        })
    }

    async fn remove_history(&self, channel: &str) -> Result<(), BackendError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.engine.keys().stream(channel));
        self.engine
            .shard(channel)
            .query::<i64>(&cmd)
            .await
            .map(|_| ())
    }

    /// `PUBLISH`es on the first shard to `P.control` or `P.node.<id>`.
    async fn publish_control(
        &self,
        data: bytes::Bytes,
        node: Option<&str>,
    ) -> Result<(), BackendError> {
        let keys = self.engine.keys();
        let name = node.map_or_else(|| keys.control_channel(), |n| keys.node_channel(n));
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(name).arg(&data[..]);
        self.engine.shards()[0].query::<i64>(&cmd).await.map(|_| ())
    }

    /// Whether every shard's PUB/SUB connection is up (a flag its subscriber
    /// task keeps; no round trip).
    /// Every shard's PUB/SUB connection is up and its command connection
    /// answers a `PING` within the IO timeout. The PUB/SUB flag alone stays up
    /// while Redis is frozen (SIGSTOP, a long blocking command): the socket is
    /// open, yet every publish fails.
    async fn healthy(&self) -> bool {
        if !self
            .shards
            .iter()
            .all(|s| s.connected.load(Ordering::Acquire))
        {
            return false;
        }
        let pings = self.engine.shards().iter().map(|s| answers_ping(s));
        futures_util::future::join_all(pings)
            .await
            .into_iter()
            .all(|ok| ok)
    }

    async fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// Whether the shard's command connection answers a `PING` in time. A
/// connection found dead (Redis restarted) fails at once and is replaced on the
/// next call, so a quick failure is asked once more; a timeout is not.
async fn answers_ping(shard: &crate::shard::Shard) -> bool {
    let ping = redis::cmd("PING");
    let started = tokio::time::Instant::now();
    match shard.query::<String>(&ping).await {
        Ok(_) => true,
        Err(_) if started.elapsed() < shard.io_timeout() => {
            shard.query::<String>(&ping).await.is_ok()
        }
        Err(_) => false,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// `{top, epoch, [[id, [field, value, …]], …]}` → position and (offset, payload).
/// Stream entries as (offset, protobuf publication).
type Entries = Vec<(u64, Vec<u8>)>;

pub(crate) fn parse_history(reply: Value) -> Result<(StreamPosition, Entries), BackendError> {
    let Value::Array(mut parts) = reply else {
        return Err(malformed("history"));
    };
    if parts.len() != 3 {
        return Err(malformed("history"));
    }
    let entries = parts.pop().unwrap_or(Value::Nil);
    let epoch = parts
        .pop()
        .as_ref()
        .and_then(text)
        .ok_or_else(|| malformed("epoch"))?;
    let offset = parts
        .pop()
        .as_ref()
        .and_then(text)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| malformed("top offset"))?;
    let entries = match entries {
        Value::Array(e) => e,
        Value::Nil => Vec::new(),
        _ => return Err(malformed("stream entries")),
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(mut pair) = entry else {
            return Err(malformed("stream entry"));
        };
        if pair.len() != 2 {
            return Err(malformed("stream entry"));
        }
        let fields = pair.pop().unwrap_or(Value::Nil);
        let id = pair
            .pop()
            .as_ref()
            .and_then(text)
            .ok_or_else(|| malformed("entry id"))?;
        let offset: u64 = id
            .split('-')
            .next()
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| malformed("entry id"))?;
        let Value::Array(fields) = fields else {
            return Err(malformed("entry fields"));
        };
        let payload = fields
            .chunks(2)
            .find(|kv| text(&kv[0]).as_deref() == Some("d"))
            .and_then(|kv| match kv.get(1) {
                Some(Value::BulkString(b)) => Some(b.clone()),
                _ => None,
            })
            .ok_or_else(|| malformed("entry payload"))?;
        out.push((offset, payload));
    }
    Ok((StreamPosition { offset, epoch }, out))
}
