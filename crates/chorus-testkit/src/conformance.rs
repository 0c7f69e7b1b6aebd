//! The conformance suite for backends: the written contracts of
//! [`Broker`], [`BrokerEvents`] and [`PresenceManager`] (and the history semantics
//! of the compatibility spec, §7 and §11) as executable checks that **any** engine
//! must pass — the memory engine now, a Redis engine later with the same calls.
//!
//! Every check is its own `pub async fn`, so a failure names the contract it
//! broke; [`broker_suite`] and [`presence_suite`] run all the clock-independent
//! ones. A check builds a fresh backend through the caller's factory and uses
//! channel names unique to the run, so engines with shared external state (one
//! Redis for many test runs) do not see each other's data.
//!
//! # Waiting without sleeping
//! Deliveries are observed through [`RecordingEvents`], which wakes waiters on
//! every event (a [`tokio::sync::watch`] channel) and gives up after [`WAIT`].
//! "Nothing was delivered" is proven with a *barrier* on the same channel: a
//! later publication (or join) that *is* delivered, which the contract orders
//! after the one that must not be — never with a sleep.
//!
//! # Time
//! The TTL checks ([`history_ttl_expiry`], [`presence_ttl_expiry`]) move a
//! **paused tokio clock** with [`tokio::time::advance`]: call them from a
//! `#[tokio::test(start_paused = true)]` (they panic if the clock is not paused).
//! That only works for engines whose expiry runs on tokio's clock, like the memory
//! engine. Engines with an external clock (Redis `EXPIRE`) need a real-time variant
//! with short TTLs (or must skip these two functions); the memory engine's run
//! must call them. [`broker_suite`] and [`presence_suite`] never touch the clock.
//!
//! # Runtime
//! [`concurrent_publish_is_atomic`] spawns publishers with [`tokio::spawn`]; run
//! it (or [`broker_suite`]) on a multi-thread runtime
//! (`#[tokio::test(flavor = "multi_thread")]`) so they really race.

use crate::WAIT;
use bytes::Bytes;
use chorus_node::{
    BackendError, Broker, BrokerEvents, HistoryFilter, HistoryResult, PresenceManager,
    PresenceStats, PublishOptions, PublishResult, StreamPosition,
};
use chorus_protocol::{ClientInfo, Publication};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// History TTL used by the checks (except [`history_ttl_expiry`]).
const HISTORY_TTL: Duration = Duration::from_secs(300);
/// History meta TTL used by the checks (except [`history_ttl_expiry`]).
const META_TTL: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------
// Recording events
// ---------------------------------------------------------------------------

/// One publication as a broker delivered it through [`BrokerEvents::on_publication`].
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The publication.
    pub publication: Publication,
    /// The position passed along with it.
    pub position: StreamPosition,
}

/// What was delivered for one channel, in delivery order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelEvents {
    /// Publications.
    pub publications: Vec<Delivered>,
    /// Joins.
    pub joins: Vec<ClientInfo>,
    /// Leaves.
    pub leaves: Vec<ClientInfo>,
}

/// A [`BrokerEvents`] that records everything per channel and lets a test wait
/// for events (woken by each event, bounded by [`WAIT`]; no polling, no sleeps).
#[derive(Debug)]
pub struct RecordingEvents {
    channels: watch::Sender<HashMap<String, ChannelEvents>>,
}

impl Default for RecordingEvents {
    fn default() -> Self {
        Self {
            channels: watch::Sender::new(HashMap::new()),
        }
    }
}

impl RecordingEvents {
    /// A new recorder, ready to be passed to a broker factory (as
    /// `Arc<dyn BrokerEvents>`, via `Arc::clone(&rec) as _`).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn record(&self, channel: &str, f: impl FnOnce(&mut ChannelEvents)) {
        // `send_modify` notifies even when no one waits; it never fails.
        self.channels
            .send_modify(|m| f(m.entry(channel.to_owned()).or_default()));
    }

    /// Everything recorded for `channel` so far.
    pub fn channel(&self, channel: &str) -> ChannelEvents {
        self.channels
            .borrow()
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// Publications delivered for `channel` so far.
    pub fn publications(&self, channel: &str) -> Vec<Delivered> {
        self.channel(channel).publications
    }

    /// Waits until `done` holds for `channel`'s events and returns them.
    ///
    /// # Panics
    /// If that does not happen within [`WAIT`]; the message says what was recorded.
    pub async fn wait_for(
        &self,
        channel: &str,
        what: &str,
        mut done: impl FnMut(&ChannelEvents) -> bool,
    ) -> ChannelEvents {
        let mut rx = self.channels.subscribe();
        let empty = ChannelEvents::default();
        let waited = tokio::time::timeout(
            WAIT,
            rx.wait_for(|m| done(m.get(channel).unwrap_or(&empty))),
        )
        .await;
        match waited {
            Ok(Ok(_)) => self.channel(channel),
            _ => panic!(
                "timed out waiting for {what} in channel {channel:?}; recorded: {:?}",
                self.channel(channel)
            ),
        }
    }

    /// Waits until at least `n` publications were delivered for `channel`.
    ///
    /// # Panics
    /// After [`WAIT`].
    pub async fn wait_publications(&self, channel: &str, n: usize) -> Vec<Delivered> {
        self.wait_for(channel, &format!("{n} publications"), |c| {
            c.publications.len() >= n
        })
        .await
        .publications
    }

    /// Waits until at least `n` joins were delivered for `channel`.
    ///
    /// # Panics
    /// After [`WAIT`].
    pub async fn wait_joins(&self, channel: &str, n: usize) -> Vec<ClientInfo> {
        self.wait_for(channel, &format!("{n} joins"), |c| c.joins.len() >= n)
            .await
            .joins
    }

    /// Waits until at least `n` leaves were delivered for `channel`.
    ///
    /// # Panics
    /// After [`WAIT`].
    pub async fn wait_leaves(&self, channel: &str, n: usize) -> Vec<ClientInfo> {
        self.wait_for(channel, &format!("{n} leaves"), |c| c.leaves.len() >= n)
            .await
            .leaves
    }
}

impl BrokerEvents for RecordingEvents {
    fn on_publication(&self, channel: &str, publication: Publication, position: StreamPosition) {
        self.record(channel, |c| {
            c.publications.push(Delivered {
                publication,
                position,
            });
        });
    }

    fn on_join(&self, channel: &str, info: ClientInfo) {
        self.record(channel, |c| c.joins.push(info));
    }

    fn on_leave(&self, channel: &str, info: ClientInfo) {
        self.record(channel, |c| c.leaves.push(info));
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A channel name unique to this process run (engines with shared state).
fn chan(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "conformance:{name}:{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn publication(data: &str) -> Publication {
    Publication {
        data: Bytes::from(format!("\"{data}\"")),
        ..Default::default()
    }
}

fn data(p: &Publication) -> String {
    String::from_utf8_lossy(&p.data).into_owned()
}

fn datas(d: &[Delivered]) -> Vec<String> {
    d.iter().map(|d| data(&d.publication)).collect()
}

fn quoted(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| format!("\"{s}\"")).collect()
}

fn offsets(p: &[Publication]) -> Vec<u64> {
    p.iter().map(|p| p.offset).collect()
}

fn no_history() -> PublishOptions {
    PublishOptions::default()
}

fn with_history(size: usize) -> PublishOptions {
    let mut o = PublishOptions::default();
    o.history_size = size;
    o.history_ttl = HISTORY_TTL;
    o.history_meta_ttl = META_TTL;
    o
}

fn filter(since: Option<StreamPosition>, limit: i32, reverse: bool) -> HistoryFilter {
    HistoryFilter {
        since,
        limit,
        reverse,
    }
}

fn all() -> HistoryFilter {
    filter(None, -1, false)
}

fn pos(offset: u64, epoch: &str) -> StreamPosition {
    StreamPosition {
        offset,
        epoch: epoch.to_owned(),
    }
}

fn info(user: &str, client: &str) -> ClientInfo {
    ClientInfo {
        user: user.to_owned(),
        client: client.to_owned(),
        ..Default::default()
    }
}

async fn publish<B: Broker + ?Sized>(
    b: &B,
    channel: &str,
    d: &str,
    o: &PublishOptions,
) -> PublishResult {
    b.publish(channel, publication(d), o)
        .await
        .unwrap_or_else(|e| panic!("publish to {channel:?} failed: {e}"))
}

async fn history<B: Broker + ?Sized>(b: &B, channel: &str, f: HistoryFilter) -> HistoryResult {
    let shown = format!("{f:?}");
    b.history(channel, f, META_TTL)
        .await
        .unwrap_or_else(|e| panic!("history of {channel:?} with {shown} failed: {e}"))
}

async fn subscribe<B: Broker + ?Sized>(b: &B, channel: &str) {
    b.subscribe(channel)
        .await
        .unwrap_or_else(|e| panic!("subscribe {channel:?} failed: {e}"));
}

async fn unsubscribe<B: Broker + ?Sized>(b: &B, channel: &str) {
    b.unsubscribe(channel)
        .await
        .unwrap_or_else(|e| panic!("unsubscribe {channel:?} failed: {e}"));
}

fn build<F, B>(make: &F) -> (Arc<RecordingEvents>, B)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
{
    let rec = RecordingEvents::new();
    let broker = make(Arc::clone(&rec) as Arc<dyn BrokerEvents>);
    (rec, broker)
}

// ---------------------------------------------------------------------------
// Broker: PUB/SUB
// ---------------------------------------------------------------------------

/// Runs every broker check that does not depend on the clock (all but
/// [`history_ttl_expiry`]). Run on a multi-thread runtime (see the module docs).
pub async fn broker_suite<F, B>(make: F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    delivers_in_publish_order(&make).await;
    does_not_deliver_to_unsubscribed_channels(&make).await;
    unsubscribe_stops_delivery(&make).await;
    subscribe_and_unsubscribe_are_idempotent(&make).await;
    publish_attaches_info_and_tags(&make).await;
    history_offsets_and_epoch(&make).await;
    history_of_empty_stream(&make).await;
    history_limit_and_reverse(&make).await;
    history_since_is_exclusive(&make).await;
    history_other_epoch_is_unrecoverable(&make).await;
    history_size_keeps_newest(&make).await;
    remove_history_keeps_position(&make).await;
    skip_history_does_not_append(&make).await;
    idempotent_publish_is_suppressed(&make).await;
    idempotent_publish_without_history_is_suppressed(&make).await;
    join_and_leave_reach_subscribed_channels_only(&make).await;
    concurrent_publish_is_atomic(&make).await;
}

/// `publish` delivers to a channel the node subscribed to, in publish order, with
/// the data unchanged; without history the result and the delivered position are
/// "not in history" (offset 0, empty epoch) and the publication has offset 0.
pub async fn delivers_in_publish_order<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("order");
    subscribe(&b, &ch).await;
    let sent: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    for d in &sent {
        let r = publish(&b, &ch, d, &no_history()).await;
        assert_eq!(
            r,
            PublishResult::default(),
            "publish without history: offset 0, empty epoch, not suppressed"
        );
    }
    let got = rec.wait_publications(&ch, sent.len()).await;
    let want: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(datas(&got), quoted(&want), "delivered in publish order");
    for d in &got {
        assert_eq!(d.publication.offset, 0, "no offset without history");
        assert_eq!(d.position, StreamPosition::default(), "no position");
    }
}

/// A channel the node never subscribed to gets nothing (barrier: subscribe it,
/// publish a marker, and the marker must be the only delivery); publishing to
/// one channel does not deliver to another.
pub async fn does_not_deliver_to_unsubscribed_channels<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let (ch, other) = (chan("unsubscribed"), chan("other"));
    subscribe(&b, &other).await;
    publish(&b, &ch, "lost", &no_history()).await;
    publish(&b, &ch, "lost-h", &with_history(10)).await;
    publish(&b, &other, "mine", &no_history()).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "marker", &no_history()).await;
    let got = rec.wait_publications(&ch, 1).await;
    assert_eq!(
        datas(&got),
        quoted(&["marker"]),
        "publications made before subscribe are not delivered"
    );
    let got = rec.wait_publications(&other, 1).await;
    assert_eq!(datas(&got), quoted(&["mine"]), "no cross-channel delivery");
}

/// After `unsubscribe` nothing is delivered (barrier: re-subscribe and publish a
/// marker; the publication made in between must be missing).
pub async fn unsubscribe_stops_delivery<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("unsubscribe");
    subscribe(&b, &ch).await;
    publish(&b, &ch, "a", &no_history()).await;
    rec.wait_publications(&ch, 1).await;
    unsubscribe(&b, &ch).await;
    publish(&b, &ch, "b", &no_history()).await;
    publish(&b, &ch, "b-h", &with_history(10)).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "c", &no_history()).await;
    let got = rec.wait_publications(&ch, 2).await;
    assert_eq!(
        datas(&got),
        quoted(&["a", "c"]),
        "nothing delivered while unsubscribed"
    );
}

/// `subscribe` twice delivers once (no duplicates); `unsubscribe` is not
/// reference-counted (one call after two subscribes stops delivery), can be
/// repeated, and works on a channel never subscribed; a later `subscribe` works.
pub async fn subscribe_and_unsubscribe_are_idempotent<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("idempotent-sub");
    subscribe(&b, &ch).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "a", &no_history()).await;
    publish(&b, &ch, "b", &no_history()).await;
    rec.wait_publications(&ch, 2).await;
    unsubscribe(&b, &ch).await;
    publish(&b, &ch, "c", &no_history()).await;
    unsubscribe(&b, &ch).await;
    unsubscribe(&b, &chan("never-subscribed")).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "d", &no_history()).await;
    let got = rec.wait_publications(&ch, 3).await;
    assert_eq!(
        datas(&got),
        quoted(&["a", "b", "d"]),
        "double subscribe delivers once; a single unsubscribe stops delivery"
    );
}

/// `PublishOptions::client_info` and `tags` end up in the delivered publication
/// and in history.
pub async fn publish_attaches_info_and_tags<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("info-tags");
    subscribe(&b, &ch).await;
    let mut o = with_history(10);
    let publisher = ClientInfo {
        conn_info: Bytes::from_static(b"{\"c\":1}"),
        chan_info: Bytes::from_static(b"{\"h\":2}"),
        ..info("u1", "client-1")
    };
    o.client_info = Some(publisher.clone());
    o.tags = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    publish(&b, &ch, "x", &o).await;
    let got = rec.wait_publications(&ch, 1).await;
    for (p, what) in [
        (&got[0].publication, "delivered"),
        (&history(&b, &ch, all()).await.publications[0], "history"),
    ] {
        assert_eq!(p.info.as_ref(), Some(&publisher), "{what}: client info");
        assert_eq!(p.tags, o.tags, "{what}: tags");
        assert_eq!(data(p), "\"x\"", "{what}: data");
    }
}

// ---------------------------------------------------------------------------
// Broker: history
// ---------------------------------------------------------------------------

/// With history, offsets start at 1 and grow by one; the epoch is non-empty and
/// stable; the result, the delivered position, the delivered publication's
/// offset and the history agree.
pub async fn history_offsets_and_epoch<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("offsets");
    subscribe(&b, &ch).await;
    let mut results = Vec::new();
    for i in 1..=5 {
        results.push(publish(&b, &ch, &format!("p{i}"), &with_history(10)).await);
    }
    let epoch = results[0].position.epoch.clone();
    assert!(!epoch.is_empty(), "a stream has an epoch");
    for (i, r) in (1..).zip(&results) {
        assert_eq!(r.position, pos(i, &epoch), "publish result {i}");
        assert!(!r.suppressed);
    }
    let got = rec.wait_publications(&ch, 5).await;
    for (i, d) in (1..).zip(&got) {
        assert_eq!(d.position, pos(i, &epoch), "delivered position {i}");
        assert_eq!(d.publication.offset, i, "delivered publication offset");
    }
    let h = history(&b, &ch, all()).await;
    assert_eq!(h.position, pos(5, &epoch), "history top");
    assert_eq!(offsets(&h.publications), [1, 2, 3, 4, 5]);
    let live: Vec<Publication> = got.into_iter().map(|d| d.publication).collect();
    assert_eq!(h.publications, live, "history holds what was delivered");
}

/// A stream never published to has no publications and offset 0, and the epoch
/// it reports is the one the first publish continues (a positioned subscriber
/// that read the empty stream can recover from it).
pub async fn history_of_empty_stream<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("empty");
    let h = history(&b, &ch, filter(None, 0, false)).await;
    assert!(h.publications.is_empty());
    assert_eq!(h.position.offset, 0, "empty stream top");
    let h2 = history(&b, &ch, all()).await;
    assert!(h2.publications.is_empty());
    assert_eq!(h2.position, h.position, "epoch stable across reads");
    let r = publish(&b, &ch, "first", &with_history(10)).await;
    assert_eq!(
        r.position,
        pos(1, &h.position.epoch),
        "first publish continues the epoch the empty stream reported"
    );
}

/// `limit` -1 returns all kept, oldest first; 0 returns none but the top; a
/// positive limit caps from the oldest; `reverse` returns newest first (capped
/// from the newest). Every result carries the top position.
pub async fn history_limit_and_reverse<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("limit");
    let mut top = StreamPosition::default();
    for i in 1..=5 {
        top = publish(&b, &ch, &format!("p{i}"), &with_history(10))
            .await
            .position;
    }
    let cases: [(i32, bool, &[u64]); 8] = [
        (-1, false, &[1, 2, 3, 4, 5]),
        (0, false, &[]),
        (2, false, &[1, 2]),
        (5, false, &[1, 2, 3, 4, 5]),
        (100, false, &[1, 2, 3, 4, 5]),
        (-1, true, &[5, 4, 3, 2, 1]),
        (2, true, &[5, 4]),
        (0, true, &[]),
    ];
    for (limit, reverse, want) in cases {
        let h = history(&b, &ch, filter(None, limit, reverse)).await;
        assert_eq!(
            offsets(&h.publications),
            want,
            "limit {limit}, reverse {reverse}"
        );
        assert_eq!(h.position, top, "top with limit {limit}, reverse {reverse}");
    }
    let h = history(&b, &ch, all()).await;
    let want: Vec<String> = (1..=5).map(|i| format!("\"p{i}\"")).collect();
    let got: Vec<String> = h.publications.iter().map(data).collect();
    assert_eq!(got, want, "data in offset order");
}

/// `since` is exclusive: publications after its offset, in order, capped by
/// `limit`; `since` at the top returns none; offset 0 returns all.
pub async fn history_since_is_exclusive<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("since");
    let mut top = StreamPosition::default();
    for i in 1..=5 {
        top = publish(&b, &ch, &format!("p{i}"), &with_history(10))
            .await
            .position;
    }
    let e = top.epoch.clone();
    let cases: [(u64, i32, &[u64]); 6] = [
        (2, -1, &[3, 4, 5]),
        (2, 1, &[3]),
        (2, 2, &[3, 4]),
        (4, -1, &[5]),
        (5, -1, &[]),
        (0, -1, &[1, 2, 3, 4, 5]),
    ];
    for (since, limit, want) in cases {
        let h = history(&b, &ch, filter(Some(pos(since, &e)), limit, false)).await;
        assert_eq!(
            offsets(&h.publications),
            want,
            "since {since} (exclusive), limit {limit}"
        );
        assert_eq!(h.position, top, "top with since {since}");
    }
}

/// `since` with an epoch other than the stream's is
/// [`BackendError::UnrecoverablePosition`] (whatever the offset and limit).
pub async fn history_other_epoch_is_unrecoverable<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("epoch");
    let top = publish(&b, &ch, "p1", &with_history(10)).await.position;
    let other = if top.epoch == "xxxxxxxx" {
        "yyyyyyyy"
    } else {
        "xxxxxxxx"
    };
    for (offset, limit) in [(0, -1), (1, -1), (1, 0), (7, 10)] {
        let r = b
            .history(
                &ch,
                filter(Some(pos(offset, other)), limit, false),
                META_TTL,
            )
            .await;
        assert!(
            matches!(r, Err(BackendError::UnrecoverablePosition)),
            "since {offset} in another epoch, limit {limit}: got {r:?}"
        );
    }
    // The stream itself is unaffected.
    let h = history(&b, &ch, all()).await;
    assert_eq!(h.position, top);
    assert_eq!(offsets(&h.publications), [1]);
}

/// `history_size` N keeps the newest N publications; the top keeps counting.
pub async fn history_size_keeps_newest<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("size");
    let mut top = StreamPosition::default();
    for i in 1..=7 {
        top = publish(&b, &ch, &format!("p{i}"), &with_history(3))
            .await
            .position;
    }
    assert_eq!(top.offset, 7);
    let h = history(&b, &ch, all()).await;
    assert_eq!(offsets(&h.publications), [5, 6, 7], "newest 3 kept");
    assert_eq!(h.position, top);
    let h = history(&b, &ch, filter(Some(pos(2, &top.epoch)), -1, false)).await;
    assert_eq!(
        offsets(&h.publications),
        [5, 6, 7],
        "since below the oldest kept returns what is kept (the caller sees the gap)"
    );
}

/// `remove_history` drops the publications but keeps the epoch and top offset;
/// the next publish continues from there. Removing an unknown channel's history
/// is fine.
pub async fn remove_history_keeps_position<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("remove");
    let mut top = StreamPosition::default();
    for i in 1..=3 {
        top = publish(&b, &ch, &format!("p{i}"), &with_history(10))
            .await
            .position;
    }
    b.remove_history(&ch).await.expect("remove_history");
    let h = history(&b, &ch, all()).await;
    assert!(h.publications.is_empty(), "publications removed");
    assert_eq!(h.position, top, "epoch and top offset kept");
    let r = publish(&b, &ch, "p4", &with_history(10)).await;
    assert_eq!(r.position, pos(4, &top.epoch), "offsets continue");
    let h = history(&b, &ch, all()).await;
    assert_eq!(offsets(&h.publications), [4]);
    b.remove_history(&chan("remove-unknown"))
        .await
        .expect("remove_history of an unknown channel");
}

/// `skip_history` publishes (and delivers) without appending: the result is
/// "not in history", history and its top are unchanged, the next offset is
/// unaffected.
pub async fn skip_history_does_not_append<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("skip");
    subscribe(&b, &ch).await;
    publish(&b, &ch, "p1", &with_history(10)).await;
    let top = publish(&b, &ch, "p2", &with_history(10)).await.position;
    let mut skip = with_history(10);
    skip.skip_history = true;
    let r = publish(&b, &ch, "skipped", &skip).await;
    assert_eq!(r, PublishResult::default(), "not in history");
    let got = rec.wait_publications(&ch, 3).await;
    assert_eq!(data(&got[2].publication), "\"skipped\"", "still delivered");
    assert_eq!(got[2].publication.offset, 0, "delivered without an offset");
    let h = history(&b, &ch, all()).await;
    assert_eq!(offsets(&h.publications), [1, 2], "not appended");
    assert_eq!(h.position, top, "top unchanged");
    let r = publish(&b, &ch, "p3", &with_history(10)).await;
    assert_eq!(r.position, pos(3, &top.epoch), "next offset unaffected");
}

async fn check_idempotency<F, B>(make: &F, o: &PublishOptions)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let (ch, other) = (chan("idem"), chan("idem-other"));
    subscribe(&b, &ch).await;
    subscribe(&b, &other).await;
    let mut keyed = o.clone();
    keyed.idempotency_key = Some("key-1".to_owned());
    let first = publish(&b, &ch, "first", &keyed).await;
    assert!(
        !first.suppressed,
        "first publish with a key is not suppressed"
    );
    let again = publish(&b, &ch, "again", &keyed).await;
    assert!(again.suppressed, "same key, same channel: suppressed");
    assert_eq!(again.position, first.position, "the first result is reused");
    // Barrier: a publication without a key must be the next delivery.
    publish(&b, &ch, "plain", o).await;
    let got = rec.wait_publications(&ch, 2).await;
    assert_eq!(
        datas(&got),
        quoted(&["first", "plain"]),
        "the suppressed publish is not delivered"
    );
    let mut key2 = o.clone();
    key2.idempotency_key = Some("key-2".to_owned());
    let r = publish(&b, &ch, "key-2", &key2).await;
    assert!(!r.suppressed, "another key publishes");
    let r = publish(&b, &other, "other", &keyed).await;
    assert!(!r.suppressed, "same key in another channel publishes");
    let got = rec.wait_publications(&ch, 3).await;
    assert_eq!(datas(&got), quoted(&["first", "plain", "key-2"]));
    let got = rec.wait_publications(&other, 1).await;
    assert_eq!(datas(&got), quoted(&["other"]));
    if o.history_size > 0 {
        let e = &first.position.epoch;
        assert_eq!(first.position, pos(1, e));
        let h = history(&b, &ch, all()).await;
        assert_eq!(
            offsets(&h.publications),
            [1, 2, 3],
            "suppressed not appended"
        );
        let d: Vec<String> = h.publications.iter().map(data).collect();
        assert_eq!(d, quoted(&["first", "plain", "key-2"]));
    } else {
        assert_eq!(first.position, StreamPosition::default());
    }
}

/// Idempotent publish in a channel with history: a second publish with the same
/// key in the same channel is suppressed (`suppressed: true`, the first
/// position, not delivered, not appended); another key or another channel
/// publishes normally.
pub async fn idempotent_publish_is_suppressed<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    check_idempotency(make, &with_history(10)).await;
}

/// The same as [`idempotent_publish_is_suppressed`] in a channel without history
/// (Centrifugo caches idempotent results independently of history).
pub async fn idempotent_publish_without_history_is_suppressed<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    check_idempotency(make, &no_history()).await;
}

/// `publish_join`/`publish_leave` reach a subscribed channel, in order, with the
/// info unchanged, and nothing reaches a channel the node is not subscribed to
/// (barrier: subscribe it and send a marker join/leave).
pub async fn join_and_leave_reach_subscribed_channels_only<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let (ch, off) = (chan("join"), chan("join-off"));
    subscribe(&b, &ch).await;
    let alice = ClientInfo {
        conn_info: Bytes::from_static(b"{\"a\":1}"),
        chan_info: Bytes::from_static(b"{\"b\":2}"),
        ..info("alice", "c1")
    };
    let bob = info("bob", "c2");
    for who in [&alice, &bob] {
        b.publish_join(&ch, who.clone()).await.expect("join");
    }
    b.publish_leave(&ch, alice.clone()).await.expect("leave");
    assert_eq!(rec.wait_joins(&ch, 2).await, [alice.clone(), bob.clone()]);
    assert_eq!(rec.wait_leaves(&ch, 1).await, std::slice::from_ref(&alice));

    b.publish_join(&off, alice.clone()).await.expect("join");
    b.publish_leave(&off, alice.clone()).await.expect("leave");
    subscribe(&b, &off).await;
    b.publish_join(&off, bob.clone()).await.expect("join");
    b.publish_leave(&off, bob.clone()).await.expect("leave");
    let got = rec
        .wait_for(&off, "the marker join and leave", |c| {
            !c.joins.is_empty() && !c.leaves.is_empty()
        })
        .await;
    assert_eq!(
        got.joins,
        std::slice::from_ref(&bob),
        "join before subscribe not delivered"
    );
    assert_eq!(got.leaves, [bob], "leave before subscribe not delivered");
    assert!(got.publications.is_empty());
}

/// Append + delivery are atomic per channel: 100 publishes per channel made
/// concurrently from several tasks (into 3 channels at once) are delivered with
/// offsets exactly 1..=100 in order, each delivered publication equal to the
/// history entry at its offset and its result matching what its publisher got.
pub async fn concurrent_publish_is_atomic<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    const PER_CHANNEL: usize = 100;
    const TASKS: usize = 4;
    let rec = RecordingEvents::new();
    let b = Arc::new(make(Arc::clone(&rec) as Arc<dyn BrokerEvents>));
    let channels: Vec<String> = (0..3).map(|i| chan(&format!("atomic{i}"))).collect();
    for ch in &channels {
        subscribe(&*b, ch).await;
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let b = Arc::clone(&b);
        let channels = channels.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in (t..PER_CHANNEL).step_by(TASKS) {
                for ch in &channels {
                    let d = format!("{ch}/{t}/{i}");
                    let r = publish(&*b, ch, &d, &with_history(PER_CHANNEL)).await;
                    sent.push((ch.clone(), format!("\"{d}\""), r));
                    tokio::task::yield_now().await;
                }
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.expect("publisher task panicked"));
    }
    let want: Vec<u64> = (1..=PER_CHANNEL as u64).collect();
    for ch in &channels {
        let got = rec.wait_publications(ch, PER_CHANNEL).await;
        let live: Vec<Publication> = got.iter().map(|d| d.publication.clone()).collect();
        assert_eq!(
            offsets(&live),
            want,
            "{ch}: live offsets exactly 1..=100 in order"
        );
        let epoch = &got[0].position.epoch;
        for d in &got {
            assert_eq!(
                d.position,
                pos(d.publication.offset, epoch),
                "{ch}: delivered position = publication offset, one epoch"
            );
        }
        let h = history(&*b, ch, all()).await;
        assert_eq!(h.position, pos(PER_CHANNEL as u64, epoch), "{ch}: top");
        assert_eq!(h.publications, live, "{ch}: history = live delivery");
        let by_offset: HashMap<u64, String> = live.iter().map(|p| (p.offset, data(p))).collect();
        for (c, d, r) in sent.iter().filter(|(c, ..)| c == ch) {
            assert_eq!(&r.position.epoch, epoch, "{c}: result epoch");
            assert_eq!(
                by_offset.get(&r.position.offset),
                Some(d),
                "{c}: the result offset names the publication that was published"
            );
        }
    }
}

/// History TTL (paused clock — see the module docs; engines with external
/// clocks need a real-time variant): items live `history_ttl` after the **last**
/// publish (as a whole, like Redis `EXPIRE` on the stream), then disappear while
/// the top offset and epoch stay until `history_meta_ttl`; after the meta TTL the
/// stream restarts with a new epoch and offset 1.
///
/// # Panics
/// Also if the tokio clock is not paused.
pub async fn history_ttl_expiry<F, B>(make: F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    const TTL: Duration = Duration::from_secs(10);
    const META: Duration = Duration::from_secs(60);
    const SECOND: Duration = Duration::from_secs(1);
    let (_rec, b) = build(&make);
    let ch = chan("ttl");
    let mut o = with_history(10);
    o.history_ttl = TTL;
    o.history_meta_ttl = META;
    let read = async |b: &B| {
        b.history(&ch, all(), META)
            .await
            .expect("history during the TTL check")
    };
    for i in 1..=3 {
        publish(&b, &ch, &format!("p{i}"), &o).await;
    }
    tokio::time::advance(TTL / 2).await;
    let top = publish(&b, &ch, "p4", &o).await.position;
    let epoch = top.epoch.clone();
    tokio::time::advance(TTL - SECOND).await; // 1.5 TTL after p1, TTL - 1 s after p4
    let h = read(&b).await;
    assert_eq!(
        offsets(&h.publications),
        [1, 2, 3, 4],
        "items live history_ttl after the last publish"
    );
    tokio::time::advance(2 * SECOND).await; // TTL + 1 s after p4
    let h = read(&b).await;
    assert!(
        h.publications.is_empty(),
        "items gone history_ttl after the last publish: {:?}",
        offsets(&h.publications)
    );
    assert_eq!(h.position, top, "top offset and epoch outlive the items");
    let r = publish(&b, &ch, "p5", &o).await;
    assert_eq!(r.position, pos(5, &epoch), "offsets continue in the epoch");
    assert_eq!(offsets(&read(&b).await.publications), [5]);

    tokio::time::advance(META + SECOND).await; // meta TTL after p5 (and after the read)
    let h = read(&b).await;
    assert!(h.publications.is_empty());
    assert_ne!(h.position.epoch, epoch, "a new epoch after the meta TTL");
    assert!(!h.position.epoch.is_empty());
    assert_eq!(h.position.offset, 0, "the new stream starts empty");
    let r = publish(&b, &ch, "again", &o).await;
    assert_eq!(
        r.position,
        pos(1, &h.position.epoch),
        "the new stream starts at offset 1 in its (stable) epoch"
    );
    let h = read(&b).await;
    assert_eq!(offsets(&h.publications), [1]);
}

// ---------------------------------------------------------------------------
// Presence
// ---------------------------------------------------------------------------

/// Runs every presence check that does not depend on the clock (all but
/// [`presence_ttl_expiry`]).
pub async fn presence_suite(make: impl Fn() -> Arc<dyn PresenceManager>) {
    presence_add_and_remove(&make).await;
    presence_preserves_client_info(&make).await;
    presence_stats_count_distinct_users(&make).await;
}

async fn presence_of(pm: &dyn PresenceManager, ch: &str) -> BTreeMap<String, ClientInfo> {
    pm.presence(ch).await.expect("presence")
}

async fn stats_of(pm: &dyn PresenceManager, ch: &str) -> PresenceStats {
    pm.presence_stats(ch).await.expect("presence_stats")
}

fn stats(num_clients: u32, num_users: u32) -> PresenceStats {
    PresenceStats {
        num_clients,
        num_users,
    }
}

/// `add_presence` makes a client present (in that channel only), `remove_presence`
/// removes it, removing again (or from an unknown channel) is fine.
pub async fn presence_add_and_remove(make: &impl Fn() -> Arc<dyn PresenceManager>) {
    let pm = make();
    let pm = &*pm;
    let (ch, other) = (chan("presence"), chan("presence-other"));
    assert!(presence_of(pm, &ch).await.is_empty(), "empty channel");
    assert_eq!(stats_of(pm, &ch).await, stats(0, 0));
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c2", info("u2", "c2"))
        .await
        .expect("add");
    let keys = |m: BTreeMap<String, ClientInfo>| m.into_keys().collect::<Vec<_>>();
    assert_eq!(keys(presence_of(pm, &ch).await), ["c1", "c2"]);
    assert!(presence_of(pm, &other).await.is_empty(), "per channel");
    pm.remove_presence(&ch, "c1", "u1").await.expect("remove");
    assert_eq!(keys(presence_of(pm, &ch).await), ["c2"]);
    assert_eq!(stats_of(pm, &ch).await, stats(1, 1));
    pm.remove_presence(&ch, "c1", "u1")
        .await
        .expect("remove is idempotent");
    pm.remove_presence(&other, "c9", "u9")
        .await
        .expect("remove from an unknown channel");
    pm.remove_presence(&ch, "c2", "u2").await.expect("remove");
    assert!(presence_of(pm, &ch).await.is_empty());
    assert_eq!(stats_of(pm, &ch).await, stats(0, 0));
}

/// The presence map is keyed by client id and returns the `ClientInfo` exactly
/// as added (user, client, conn_info, chan_info; anonymous user ""); adding the
/// same client id again replaces its entry.
pub async fn presence_preserves_client_info(make: &impl Fn() -> Arc<dyn PresenceManager>) {
    let pm = make();
    let pm = &*pm;
    let ch = chan("presence-info");
    let full = ClientInfo {
        conn_info: Bytes::from_static(b"{\"name\":\"Alice\"}"),
        chan_info: Bytes::from_static(b"{\"role\":\"admin\"}"),
        ..info("alice", "c1")
    };
    let anon = info("", "c2");
    pm.add_presence(&ch, "c1", full.clone()).await.expect("add");
    pm.add_presence(&ch, "c2", anon.clone()).await.expect("add");
    let want = BTreeMap::from([("c1".to_owned(), full.clone()), ("c2".to_owned(), anon)]);
    assert_eq!(presence_of(pm, &ch).await, want, "info preserved");
    let changed = ClientInfo {
        chan_info: Bytes::from_static(b"{\"role\":\"user\"}"),
        ..full
    };
    pm.add_presence(&ch, "c1", changed.clone())
        .await
        .expect("re-add");
    let p = presence_of(pm, &ch).await;
    assert_eq!(p.len(), 2, "re-adding a client id does not duplicate it");
    assert_eq!(p.get("c1"), Some(&changed), "re-adding replaces the info");
}

/// Stats count connections and distinct users: two connections of one user are
/// 2 clients and 1 user; anonymous connections count as one user ""; counts
/// follow removals and agree with the presence map.
pub async fn presence_stats_count_distinct_users(make: &impl Fn() -> Arc<dyn PresenceManager>) {
    let pm = make();
    let pm = &*pm;
    let ch = chan("presence-stats");
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c2", info("u1", "c2"))
        .await
        .expect("add");
    assert_eq!(
        stats_of(pm, &ch).await,
        stats(2, 1),
        "one user, two clients"
    );
    pm.add_presence(&ch, "c3", info("u2", "c3"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c4", info("", "c4"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c5", info("", "c5"))
        .await
        .expect("add");
    assert_eq!(
        stats_of(pm, &ch).await,
        stats(5, 3),
        "u1, u2 and the anonymous user"
    );
    assert_eq!(presence_of(pm, &ch).await.len(), 5, "map agrees with stats");
    pm.remove_presence(&ch, "c1", "u1").await.expect("remove");
    assert_eq!(stats_of(pm, &ch).await, stats(4, 3), "u1 still has c2");
    pm.remove_presence(&ch, "c2", "u1").await.expect("remove");
    assert_eq!(stats_of(pm, &ch).await, stats(3, 2), "u1 gone");
}

/// Entries live at least `ttl` after their last add and disappear after it
/// unless refreshed by another add (paused clock — see the module docs).
/// `ttl` is the manager's configured presence TTL.
///
/// # Panics
/// Also if the tokio clock is not paused.
pub async fn presence_ttl_expiry(make: impl Fn() -> Arc<dyn PresenceManager>, ttl: Duration) {
    let pm = make();
    let pm = &*pm;
    let ch = chan("presence-ttl");
    let margin = ttl / 10;
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c2", info("u2", "c2"))
        .await
        .expect("add");
    tokio::time::advance(ttl / 2).await;
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("refresh");
    tokio::time::advance(ttl / 2 - margin).await; // ttl - margin after c2's add
    assert_eq!(stats_of(pm, &ch).await, stats(2, 2), "kept for the TTL");
    tokio::time::advance(2 * margin).await; // ttl + margin after c2's add
    let p = presence_of(pm, &ch).await;
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        ["c1"],
        "c2 expired, refreshed c1 kept"
    );
    assert_eq!(stats_of(pm, &ch).await, stats(1, 1), "stats agree");
    tokio::time::advance(ttl / 2).await; // ttl + margin after c1's refresh
    assert!(presence_of(pm, &ch).await.is_empty(), "c1 expired too");
    assert_eq!(stats_of(pm, &ch).await, stats(0, 0));
}
