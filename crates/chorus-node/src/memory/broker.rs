//! In-memory broker with per-channel streams.

use crate::broker::{
    Broker, BrokerEvents, HistoryFilter, HistoryResult, PublishOptions, PublishResult,
    StreamPosition,
};
use crate::error::BackendError;
use async_trait::async_trait;
use chorus_protocol::{ClientInfo, Publication};
use rand::Rng;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How long an idempotent publish result is remembered.
const IDEMPOTENCY_TTL: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Stream {
    epoch: String,
    top: u64,
    items: VecDeque<Publication>,
    // Like Redis' EXPIRE on the stream key: the items live `history_ttl` after the
    // last publish, as a whole; the meta (epoch, top) lives `history_meta_ttl`.
    items_expire: Instant,
    meta_expires: Instant,
    results: HashMap<String, (PublishResult, Instant)>,
}

impl Stream {
    fn new(meta_ttl: Duration) -> Self {
        Self {
            epoch: new_epoch(),
            top: 0,
            items: VecDeque::new(),
            items_expire: Instant::now(),
            meta_expires: Instant::now() + meta_ttl,
            results: HashMap::new(),
        }
    }

    /// Once the meta TTL passed the stream is lost: a new epoch, offset 0, no
    /// items. Idempotency results survive (they have their own TTL, like
    /// Centrifugo's separate result keys).
    fn renew_if_expired(&mut self, meta_ttl: Duration) {
        let now = Instant::now();
        if self.meta_expires <= now {
            self.epoch = new_epoch();
            self.top = 0;
            self.items.clear();
            self.items_expire = now;
            self.meta_expires = now + meta_ttl;
        }
    }

    fn expire_items(&mut self) {
        if Instant::now() >= self.items_expire {
            self.items.clear();
        }
    }

    fn position(&self) -> StreamPosition {
        StreamPosition {
            offset: self.top,
            epoch: self.epoch.clone(),
        }
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

/// A broker for a single node: delivery is a function call, history lives in memory
/// (and is lost on restart, which the epoch makes visible to recovering clients).
pub struct MemoryBroker {
    events: Arc<dyn BrokerEvents>,
    // Channel name -> stream. The outer lock is held only to find or create a
    // stream; each stream has its own lock, held while appending *and* delivering,
    // which is what makes append + delivery atomic per channel (see the contract).
    streams: Mutex<HashMap<String, Arc<Mutex<Stream>>>>,
    // Channels with local subscribers; others are not delivered.
    subscribed: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBroker").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryBroker {
    /// A broker delivering to `events`.
    pub fn new(events: Arc<dyn BrokerEvents>) -> Self {
        Self {
            events,
            streams: Mutex::default(),
            subscribed: Mutex::default(),
        }
    }

    /// The channel's stream; the caller locks it and calls [`Stream::renew_if_expired`].
    ///
    /// A channel keeps one `Stream` object for good: an expired stream is reset in
    /// place (new epoch) rather than replaced. Replacing it lost the idempotency
    /// results stored in it, and publishes without history create their stream
    /// with a zero meta TTL, so every such publish got a fresh stream and a
    /// repeated idempotency key was never suppressed. One object per channel also
    /// keeps the result check + insert under a single lock for concurrent publishes.
    fn stream(&self, channel: &str, meta_ttl: Duration) -> Arc<Mutex<Stream>> {
        let mut streams = lock(&self.streams);
        Arc::clone(
            streams
                .entry(channel.to_owned())
                .or_insert_with(|| Arc::new(Mutex::new(Stream::new(meta_ttl)))),
        )
    }

    fn is_subscribed(&self, channel: &str) -> bool {
        lock(&self.subscribed).contains(channel)
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(
        &self,
        channel: &str,
        mut publication: Publication,
        options: &PublishOptions,
    ) -> Result<PublishResult, BackendError> {
        let with_history =
            options.history_size > 0 && !options.history_ttl.is_zero() && !options.skip_history;
        if !with_history && options.idempotency_key.is_none() {
            if self.is_subscribed(channel) {
                self.events
                    .on_publication(channel, publication, StreamPosition::default());
            }
            return Ok(PublishResult::default());
        }
        let meta_ttl = options.history_meta_ttl.max(options.history_ttl);
        let stream = self.stream(channel, meta_ttl);
        let mut s = lock(&stream);
        s.renew_if_expired(meta_ttl);
        let now = Instant::now();
        s.results
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < IDEMPOTENCY_TTL);
        if let Some(key) = &options.idempotency_key
            && let Some((result, _)) = s.results.get(key)
        {
            return Ok(PublishResult {
                suppressed: true,
                ..result.clone()
            });
        }
        let position = if with_history {
            s.expire_items();
            s.top += 1;
            publication.offset = s.top;
            // `delta` only marks a delta candidate for live delivery.
            s.items.push_back(Publication {
                delta: false,
                ..publication.clone()
            });
            while s.items.len() > options.history_size {
                s.items.pop_front();
            }
            s.items_expire = now + options.history_ttl;
            s.meta_expires = now + meta_ttl;
            s.position()
        } else {
            StreamPosition::default()
        };
        let result = PublishResult {
            position: position.clone(),
            suppressed: false,
        };
        if let Some(key) = &options.idempotency_key {
            s.results.insert(key.clone(), (result.clone(), now));
        }
        // Delivered while the stream lock is held: append + delivery are atomic.
        if self.is_subscribed(channel) {
            self.events.on_publication(channel, publication, position);
        }
        Ok(result)
    }

    async fn publish_join(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        if self.is_subscribed(channel) {
            self.events.on_join(channel, info);
        }
        Ok(())
    }

    async fn publish_leave(&self, channel: &str, info: ClientInfo) -> Result<(), BackendError> {
        if self.is_subscribed(channel) {
            self.events.on_leave(channel, info);
        }
        Ok(())
    }

    async fn subscribe(&self, channel: &str) -> Result<(), BackendError> {
        lock(&self.subscribed).insert(channel.to_owned());
        Ok(())
    }

    async fn unsubscribe(&self, channel: &str) -> Result<(), BackendError> {
        lock(&self.subscribed).remove(channel);
        Ok(())
    }

    async fn history(
        &self,
        channel: &str,
        filter: HistoryFilter,
        meta_ttl: Duration,
    ) -> Result<HistoryResult, BackendError> {
        let stream = self.stream(channel, meta_ttl);
        let mut s = lock(&stream);
        s.renew_if_expired(meta_ttl);
        if let Some(since) = &filter.since
            && !since.epoch.is_empty()
            && since.epoch != s.epoch
        {
            return Err(BackendError::UnrecoverablePosition);
        }
        s.expire_items();
        let position = s.position();
        if filter.limit == 0 {
            return Ok(HistoryResult {
                publications: Vec::new(),
                position,
            });
        }
        let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
        let since = filter.since.as_ref().map(|p| p.offset);
        let publications: Vec<Publication> = if filter.reverse {
            s.items
                .iter()
                .rev()
                .filter(|p| since.is_none_or(|o| p.offset < o))
                .take(limit)
                .cloned()
                .collect()
        } else {
            s.items
                .iter()
                .filter(|p| since.is_none_or(|o| p.offset > o))
                .take(limit)
                .cloned()
                .collect()
        };
        s.meta_expires = s.meta_expires.max(Instant::now() + meta_ttl);
        Ok(HistoryResult {
            publications,
            position,
        })
    }

    async fn remove_history(&self, channel: &str) -> Result<(), BackendError> {
        if let Some(s) = lock(&self.streams).get(channel) {
            lock(s).items.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[derive(Default)]
    struct Sink(Mutex<Vec<(String, u64)>>);
    impl BrokerEvents for Sink {
        fn on_publication(&self, channel: &str, p: Publication, _pos: StreamPosition) {
            lock(&self.0).push((channel.to_owned(), p.offset));
        }
        fn on_join(&self, _: &str, _: ClientInfo) {}
        fn on_leave(&self, _: &str, _: ClientInfo) {}
    }

    fn opts(size: usize) -> PublishOptions {
        PublishOptions {
            history_size: size,
            history_ttl: Duration::from_secs(60),
            history_meta_ttl: Duration::from_secs(3600),
            ..Default::default()
        }
    }

    fn publication(data: &'static str) -> Publication {
        Publication {
            data: Bytes::from_static(data.as_bytes()),
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn history_offsets_trimming_and_epoch_checks() {
        let sink = Arc::new(Sink::default());
        let b = MemoryBroker::new(sink.clone());
        b.subscribe("ch").await.unwrap();
        for _ in 0..5 {
            b.publish("ch", publication("1"), &opts(3)).await.unwrap();
        }
        assert_eq!(lock(&sink.0).len(), 5);
        let h = b
            .history(
                "ch",
                HistoryFilter {
                    limit: -1,
                    ..Default::default()
                },
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
        assert_eq!(
            h.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [3, 4, 5],
            "trimmed to size"
        );
        assert_eq!(h.position.offset, 5);
        let since = StreamPosition {
            offset: 3,
            epoch: h.position.epoch.clone(),
        };
        let h2 = b
            .history(
                "ch",
                HistoryFilter {
                    since: Some(since),
                    limit: -1,
                    reverse: false,
                },
                Duration::ZERO,
            )
            .await
            .unwrap();
        assert_eq!(
            h2.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [4, 5]
        );
        let wrong = StreamPosition {
            offset: 3,
            epoch: "other".into(),
        };
        let err = b
            .history(
                "ch",
                HistoryFilter {
                    since: Some(wrong),
                    limit: -1,
                    reverse: false,
                },
                Duration::ZERO,
            )
            .await;
        assert!(matches!(err, Err(BackendError::UnrecoverablePosition)));
        let rev = b
            .history(
                "ch",
                HistoryFilter {
                    limit: 2,
                    reverse: true,
                    ..Default::default()
                },
                Duration::ZERO,
            )
            .await
            .unwrap();
        assert_eq!(
            rev.publications
                .iter()
                .map(|p| p.offset)
                .collect::<Vec<_>>(),
            [5, 4]
        );

        tokio::time::advance(Duration::from_secs(61)).await;
        let h3 = b
            .history(
                "ch",
                HistoryFilter {
                    limit: -1,
                    ..Default::default()
                },
                Duration::ZERO,
            )
            .await
            .unwrap();
        assert!(
            h3.publications.is_empty(),
            "history_ttl after the last publish expired the items"
        );
        assert_eq!(
            h3.position.offset, 5,
            "the meta (top offset, epoch) outlives the items"
        );
        b.publish("ch", publication("2"), &opts(3)).await.unwrap();
        let h4 = b
            .history(
                "ch",
                HistoryFilter {
                    limit: -1,
                    ..Default::default()
                },
                Duration::ZERO,
            )
            .await
            .unwrap();
        assert_eq!(
            h4.publications.iter().map(|p| p.offset).collect::<Vec<_>>(),
            [6]
        );
        assert_eq!(h4.position.epoch, h.position.epoch);
    }

    #[tokio::test]
    async fn idempotent_publish_is_suppressed() {
        let sink = Arc::new(Sink::default());
        let b = MemoryBroker::new(sink.clone());
        b.subscribe("ch").await.unwrap();
        let mut o = opts(10);
        o.idempotency_key = Some("k".into());
        let r1 = b.publish("ch", publication("1"), &o).await.unwrap();
        let r2 = b.publish("ch", publication("1"), &o).await.unwrap();
        assert!(r2.suppressed);
        assert_eq!(r1.position, r2.position);
        assert_eq!(lock(&sink.0).len(), 1);
    }

    #[tokio::test]
    async fn unsubscribed_channels_are_not_delivered() {
        let sink = Arc::new(Sink::default());
        let b = MemoryBroker::new(sink.clone());
        b.publish("ch", publication("1"), &PublishOptions::default())
            .await
            .unwrap();
        assert!(lock(&sink.0).is_empty());
    }
}
