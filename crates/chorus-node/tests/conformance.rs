//! The memory backends against the shared backend conformance suite
//! (`chorus_testkit::conformance`); a Redis engine runs the same functions.
//!
//! Each check is also its own test here, so a failure names the contract.

use chorus_node::memory::{MemoryBroker, MemoryPresenceManager};
use chorus_node::{BrokerEvents, PresenceManager};
use chorus_testkit::conformance;
use std::sync::Arc;
use std::time::Duration;

const PRESENCE_TTL: Duration = Duration::from_secs(60);

fn broker(events: Arc<dyn BrokerEvents>) -> MemoryBroker {
    MemoryBroker::new(events)
}

fn presence() -> Arc<dyn PresenceManager> {
    Arc::new(MemoryPresenceManager::new(PRESENCE_TTL))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_broker_suite() {
    conformance::broker_suite(broker).await;
}

#[tokio::test]
async fn memory_presence_suite() {
    conformance::presence_suite(presence).await;
}

#[tokio::test(start_paused = true)]
async fn memory_broker_history_ttl_expiry() {
    conformance::history_ttl_expiry(broker).await;
}

#[tokio::test(start_paused = true)]
async fn memory_presence_ttl_expiry() {
    conformance::presence_ttl_expiry(presence, PRESENCE_TTL).await;
}

/// One multi-thread test per broker check.
macro_rules! broker_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            conformance::$check(&broker).await;
        }
    )*};
}

broker_checks!(
    delivers_in_publish_order,
    does_not_deliver_to_unsubscribed_channels,
    unsubscribe_stops_delivery,
    subscribe_and_unsubscribe_are_idempotent,
    publish_keeps_info_and_tags,
    history_offsets_and_epoch,
    history_of_empty_stream,
    history_limit_and_reverse,
    history_since_is_exclusive,
    history_other_epoch_is_unrecoverable,
    history_size_keeps_newest,
    remove_history_keeps_position,
    skip_history_does_not_append,
    idempotent_publish_is_suppressed,
    idempotent_publish_without_history_is_suppressed,
    join_and_leave_reach_subscribed_channels_only,
    concurrent_publish_is_atomic,
);

/// One test per presence check.
macro_rules! presence_checks {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            conformance::$check(&presence).await;
        }
    )*};
}

presence_checks!(
    presence_add_and_remove,
    presence_preserves_client_info,
    presence_stats_count_distinct_users,
);
