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

mod delivery;
mod events;
mod history;
mod presence;

pub use delivery::*;
pub use events::*;
pub use history::*;
pub use presence::*;

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

/// Publishes `n` publications (`p1`..`pn`) and returns the last position.
async fn fill<B: Broker + ?Sized>(
    b: &B,
    channel: &str,
    n: u64,
    o: &PublishOptions,
) -> StreamPosition {
    let mut top = StreamPosition::default();
    for i in 1..=n {
        top = publish(b, channel, &format!("p{i}"), o).await.position;
    }
    top
}

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
    publish_keeps_info_and_tags(&make).await;
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
