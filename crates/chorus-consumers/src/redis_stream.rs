//! The Redis Streams consumer.
//!
//! The application adds entries with `XADD <stream> * payload <json>` (the
//! whole `{"method", "payload"}` message) or `XADD <stream> * method publish
//! payload <request>`. All nodes read through one consumer group, so each
//! entry goes to one node; an entry is acknowledged (`XACK`) only once
//! processed. A command failing with a retryable error is retried in place
//! with back-off, holding its worker. Entries left pending by a node that
//! stopped or died are claimed by another after `visibility_timeout`
//! (`XAUTOCLAIM`). With `num_workers` 1 a stream is processed in order; more
//! workers process it in parallel, without order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::error::ConsumerError;
use crate::processor::Processor;

/// Options of a `redis_stream` consumer (Centrifugo's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisStreamOptions {
    /// The Redis server, as a `redis://` or `rediss://` URL (the server
    /// builds it from `address`, `user`, `password` and `db`).
    pub url: String,
    /// `streams`: the stream keys.
    pub streams: Vec<String>,
    /// `consumer_group`: created at `$` (new entries) when missing.
    pub consumer_group: String,
    /// `visibility_timeout`: how long an entry stays with a consumer that
    /// does not acknowledge it before another may claim it. Default 30 s.
    pub visibility_timeout: Duration,
    /// `num_workers`: entries processed at once per stream. Default 1.
    pub num_workers: u32,
    /// `payload_value`: the entry field with the payload. Default `payload`.
    pub payload_value: String,
    /// `method_value`: the entry field with the method, if any. Default
    /// `method`.
    pub method_value: String,
    /// This node's consumer name in the group (unique per node); `""` = a
    /// random one.
    pub consumer_name: String,
}

impl Default for RedisStreamOptions {
    fn default() -> Self {
        Self {
            url: String::new(),
            streams: Vec::new(),
            consumer_group: String::new(),
            visibility_timeout: Duration::from_secs(30),
            num_workers: 1,
            payload_value: "payload".to_owned(),
            method_value: "method".to_owned(),
            consumer_name: String::new(),
        }
    }
}

/// How long one `XREADGROUP` blocks (also how soon a stop is noticed by an
/// idle reader).
const BLOCK: Duration = Duration::from_secs(1);

/// One stream entry.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    fields: HashMap<String, Vec<u8>>,
}

/// A started Redis Streams consumer; [`RedisStreamConsumer::run`] consumes.
#[derive(Debug)]
pub struct RedisStreamConsumer {
    name: String,
    options: RedisStreamOptions,
    processor: Processor,
    client: redis::Client,
}

impl RedisStreamConsumer {
    /// Checks the options, that Redis answers, and creates the consumer
    /// group of each stream (with the stream) when missing.
    ///
    /// # Errors
    /// [`ConsumerError::Invalid`] naming the option, or
    /// [`ConsumerError::Redis`] when Redis does not answer.
    pub async fn connect(
        name: &str,
        mut options: RedisStreamOptions,
        processor: Processor,
    ) -> Result<Self, ConsumerError> {
        if options.consumer_name.is_empty() {
            options.consumer_name = format!("chorus-{:016x}", rand::random::<u64>());
        }
        if options.streams.is_empty() || options.streams.iter().any(String::is_empty) {
            return Err(ConsumerError::invalid(
                name,
                "redis_stream.streams",
                "at least one non-empty stream key is required",
            ));
        }
        if options.consumer_group.is_empty() {
            return Err(ConsumerError::invalid(
                name,
                "redis_stream.consumer_group",
                "required",
            ));
        }
        if options.num_workers == 0 {
            return Err(ConsumerError::invalid(
                name,
                "redis_stream.num_workers",
                "must be at least 1",
            ));
        }
        if options.visibility_timeout.is_zero() {
            return Err(ConsumerError::invalid(
                name,
                "redis_stream.visibility_timeout",
                "must be positive",
            ));
        }
        if options.payload_value.is_empty() {
            return Err(ConsumerError::invalid(
                name,
                "redis_stream.payload_value",
                "required",
            ));
        }
        let redis_error = |source| ConsumerError::Redis {
            consumer: name.to_owned(),
            source,
        };
        let client = redis::Client::open(options.url.as_str()).map_err(redis_error)?;
        let mut conn = manager(&client).await.map_err(redis_error)?;
        // The groups exist once this returns: entries added from then on are
        // consumed (a group starts at `$`, the end of the stream).
        for stream in &options.streams {
            create_group(&mut conn, stream, &options.consumer_group)
                .await
                .map_err(redis_error)?;
        }
        Ok(Self {
            name: name.to_owned(),
            options,
            processor,
            client,
        })
    }

    /// Consumes until `stop` is cancelled; entries being processed then are
    /// finished (or, when still failing, left pending for another node).
    pub async fn run(self, stop: CancellationToken) {
        let this = Arc::new(self);
        let mut tasks = tokio::task::JoinSet::new();
        for stream in this.options.streams.clone() {
            let (this, stop) = (this.clone(), stop.clone());
            tasks.spawn(async move { this.stream(stream, stop).await });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn stream(self: Arc<Self>, stream: String, stop: CancellationToken) {
        let workers = self.options.num_workers as usize;
        // The reader hands entries to the workers; the bound keeps it from
        // taking more than the workers can hold (unread entries stay free for
        // other nodes).
        let (tx, rx) = mpsc::channel::<Entry>(workers);
        let rx = Arc::new(Mutex::new(rx));
        // Entries handed to this node's workers and not yet done with: a claim
        // of one of them (retried for longer than the visibility timeout) must
        // not queue it a second time behind itself.
        let in_flight: InFlight = Arc::default();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (this, rx, stop, stream, in_flight) = (
                self.clone(),
                rx.clone(),
                stop.clone(),
                stream.clone(),
                in_flight.clone(),
            );
            tasks.spawn(async move { this.worker(&stream, &rx, &in_flight, &stop).await });
        }
        self.read(&stream, &tx, &in_flight, &stop).await;
        drop(tx);
        while tasks.join_next().await.is_some() {}
    }

    /// Reads new entries (and claims abandoned ones) until `stop`.
    async fn read(
        &self,
        stream: &str,
        tx: &mpsc::Sender<Entry>,
        in_flight: &InFlight,
        stop: &CancellationToken,
    ) {
        let opts = &self.options;
        let mut backoff = Backoff::new();
        let mut conn: Option<ConnectionManager> = None;
        let mut group_ready = true;
        // Claim at start-up (entries a previous run of this node left), then
        // every half visibility timeout (at most every 5 s).
        let claim_every = (opts.visibility_timeout / 2).min(Duration::from_secs(5));
        let mut next_claim = tokio::time::Instant::now();
        while !stop.is_cancelled() {
            let c = match &mut conn {
                Some(c) => c,
                None => match manager(&self.client).await {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        self.source_error(stream, &e);
                        pause(backoff.next_delay(), stop).await;
                        continue;
                    }
                },
            };
            if !group_ready {
                match create_group(c, stream, &opts.consumer_group).await {
                    Ok(()) => group_ready = true,
                    Err(e) => {
                        self.source_error(stream, &e);
                        pause(backoff.next_delay(), stop).await;
                        continue;
                    }
                }
            }
            let batch = if tokio::time::Instant::now() >= next_claim {
                next_claim = tokio::time::Instant::now() + claim_every;
                self.claim(c, stream).await
            } else {
                tokio::select! {
                    r = self.read_new(c, stream) => r,
                    () = stop.cancelled() => return,
                }
            };
            match batch {
                Ok(entries) => {
                    backoff.reset();
                    for entry in entries {
                        if !lock(in_flight).insert(entry.id.clone()) {
                            continue;
                        }
                        if tx.send(entry).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    if e.code() == Some("NOGROUP") {
                        group_ready = false;
                    }
                    self.source_error(stream, &e);
                    pause(backoff.next_delay(), stop).await;
                }
            }
        }
    }

    async fn read_new(
        &self,
        conn: &mut ConnectionManager,
        stream: &str,
    ) -> redis::RedisResult<Vec<Entry>> {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.options.consumer_group)
            .arg(&self.options.consumer_name)
            .arg("COUNT")
            .arg(self.options.num_workers)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(stream)
            .arg(">")
            .query_async(conn)
            .await?;
        // Nil on timeout; else [[stream, [entry…]]] (a map under RESP3).
        let streams: Vec<Value> = match reply {
            Value::Nil => return Ok(Vec::new()),
            Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
            Value::Array(items) => items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                    _ => None,
                })
                .collect(),
            other => return Err(unexpected(&other)),
        };
        let mut entries = Vec::new();
        for s in streams {
            entries.extend(parse_entries(s)?);
        }
        self.update_lag(conn, stream).await;
        Ok(entries)
    }

    /// Entries idle for longer than the visibility timeout, from any
    /// consumer of the group, become this node's.
    async fn claim(
        &self,
        conn: &mut ConnectionManager,
        stream: &str,
    ) -> redis::RedisResult<Vec<Entry>> {
        let reply: Value = redis::cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(&self.options.consumer_group)
            .arg(&self.options.consumer_name)
            .arg(self.options.visibility_timeout.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(100)
            .query_async(conn)
            .await?;
        // [next cursor, [entry…], [deleted ids…]]
        match reply {
            Value::Array(mut parts) if parts.len() >= 2 => parse_entries(parts.swap_remove(1)),
            other => Err(unexpected(&other)),
        }
    }

    /// The group's lag (entries not yet delivered; Redis 7).
    async fn update_lag(&self, conn: &mut ConnectionManager, stream: &str) {
        let Ok(groups) = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(stream)
            .query_async::<Vec<HashMap<String, Value>>>(conn)
            .await
        else {
            return;
        };
        let group = groups.iter().find(|g| {
            g.get("name")
                .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                .is_some_and(|n| n == self.options.consumer_group)
        });
        if let Some(Value::Int(lag)) = group.and_then(|g| g.get("lag")) {
            self.processor
                .metrics()
                .set_lag(stream, u64::try_from(*lag).unwrap_or(0));
        }
    }

    async fn worker(
        &self,
        stream: &str,
        rx: &Mutex<mpsc::Receiver<Entry>>,
        in_flight: &InFlight,
        stop: &CancellationToken,
    ) {
        let mut conn: Option<ConnectionManager> = None;
        loop {
            let entry = {
                let mut rx = rx.lock().await;
                match rx.recv().await {
                    Some(entry) => entry,
                    None => return,
                }
            };
            // Stopped while retrying: left pending, another node (or this one
            // after a restart) claims it.
            if self.process(&entry, stop).await {
                self.ack(&mut conn, stream, &entry.id, stop).await;
            }
            lock(in_flight).remove(&entry.id);
        }
    }

    /// `true` when the entry may be acknowledged.
    async fn process(&self, entry: &Entry, stop: &CancellationToken) -> bool {
        let Some(payload) = entry.fields.get(&self.options.payload_value) else {
            tracing::warn!(consumer = %self.name, id = %entry.id, field = %self.options.payload_value, "stream entry without payload field, skipping it");
            self.processor.metrics().add_error();
            self.processor.metrics().add_processed(1);
            return true;
        };
        let method = match entry.fields.get(&self.options.method_value) {
            Some(m) if !self.options.method_value.is_empty() => String::from_utf8_lossy(m),
            _ => "".into(),
        };
        self.processor
            .process_until_done(&method, payload, stop)
            .await
            .is_ok()
    }

    /// `XACK`, retried until it succeeds or the consumer stops (then the
    /// entry is processed again later: at least once).
    async fn ack(
        &self,
        conn: &mut Option<ConnectionManager>,
        stream: &str,
        id: &str,
        stop: &CancellationToken,
    ) {
        let mut backoff = Backoff::new();
        while !stop.is_cancelled() || backoff.retries() == 0 {
            let c = match conn {
                Some(c) => c,
                None => match manager(&self.client).await {
                    Ok(c) => conn.insert(c),
                    Err(e) => {
                        self.source_error(stream, &e);
                        pause(backoff.next_delay(), stop).await;
                        continue;
                    }
                },
            };
            match redis::cmd("XACK")
                .arg(stream)
                .arg(&self.options.consumer_group)
                .arg(id)
                .query_async::<i64>(c)
                .await
            {
                Ok(_) => return,
                Err(e) => {
                    self.source_error(stream, &e);
                    pause(backoff.next_delay(), stop).await;
                }
            }
        }
    }

    fn source_error(&self, stream: &str, e: &redis::RedisError) {
        self.processor.metrics().add_error();
        tracing::warn!(consumer = %self.name, stream, error = %e, "redis stream error");
    }
}

/// Entry ids a stream's workers hold.
type InFlight = Arc<std::sync::Mutex<HashSet<String>>>;

fn lock(in_flight: &InFlight) -> std::sync::MutexGuard<'_, HashSet<String>> {
    in_flight
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A reconnecting connection whose response timeout leaves room for a
/// blocking `XREADGROUP`.
async fn manager(client: &redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(BLOCK + Duration::from_secs(5)))
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client.clone(), config).await
}

/// `XGROUP CREATE … $ MKSTREAM`; an existing group is fine.
async fn create_group(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
) -> redis::RedisResult<()> {
    match redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("$")
        .arg("MKSTREAM")
        .query_async::<()>(conn)
        .await
    {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// `[[id, [field, value, …]] …]`; entries deleted meanwhile come as nil
/// field lists and are dropped.
fn parse_entries(value: Value) -> redis::RedisResult<Vec<Entry>> {
    let Value::Array(items) = value else {
        return Err(unexpected(&value));
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(mut pair) = item else {
            return Err(unexpected(&item));
        };
        if pair.len() != 2 {
            return Err(unexpected(&Value::Array(pair)));
        }
        let fields = pair.pop().unwrap_or(Value::Nil);
        let id: String = redis::from_redis_value(pair.pop().unwrap_or(Value::Nil))?;
        let fields = match fields {
            Value::Nil => continue,
            Value::Array(flat) => {
                let mut map = HashMap::with_capacity(flat.len() / 2);
                let mut it = flat.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    map.insert(redis::from_redis_value(k)?, redis::from_redis_value(v)?);
                }
                map
            }
            Value::Map(pairs) => {
                let mut map = HashMap::with_capacity(pairs.len());
                for (k, v) in pairs {
                    map.insert(redis::from_redis_value(k)?, redis::from_redis_value(v)?);
                }
                map
            }
            other => return Err(unexpected(&other)),
        };
        entries.push(Entry { id, fields });
    }
    Ok(entries)
}

fn unexpected(value: &Value) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected stream reply",
        format!("{value:?}"),
    ))
}

async fn pause(delay: Duration, stop: &CancellationToken) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = stop.cancelled() => {}
    }
}
