//! Counters per consumer, read by the server's metrics endpoint.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What one consumer did since start-up. Shared between its workers and the
/// metrics exporter, hence atomics (no lock on the hot path).
#[derive(Debug)]
pub struct ConsumerMetrics {
    name: String,
    processed: AtomicU64,
    errors: AtomicU64,
    // Entries waiting, per stream, for sources that report it. A mutex: it
    // is written once per read, not per message.
    lag: Mutex<BTreeMap<String, u64>>,
}

impl ConsumerMetrics {
    /// Zeroed counters for the consumer `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            processed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lag: Mutex::new(BTreeMap::new()),
        }
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages done with: dispatched, refused with a final API error, or
    /// skipped as malformed.
    pub fn processed(&self) -> u64 {
        self.processed.load(Ordering::Relaxed)
    }

    /// Errors: malformed or refused messages, failed dispatches (each retry
    /// counts), and source errors (a lost connection).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Messages waiting in the source (summed over its streams), when the
    /// source reports it (Redis Streams, NATS JetStream); `None` otherwise.
    pub fn lag(&self) -> Option<u64> {
        let lag = self
            .lag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (!lag.is_empty()).then(|| lag.values().sum())
    }

    pub(crate) fn set_lag(&self, stream: &str, lag: u64) {
        self.lag
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(stream.to_owned(), lag);
    }

    pub(crate) fn add_processed(&self, n: u64) {
        self.processed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}
