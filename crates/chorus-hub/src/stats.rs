//! Hub counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the hub's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HubStats {
    /// Sessions currently connected.
    pub sessions: usize,
    /// Sessions accepted since start.
    pub sessions_accepted: u64,
    /// Sessions closed because their outbound queue overflowed.
    pub slow_consumer_closes: u64,
    /// Data messages written to sockets.
    pub messages_sent: u64,
    /// Data messages received from sockets.
    pub messages_received: u64,
    /// Upgrade requests refused (bad handshake, origin, hub closed).
    pub upgrades_rejected: u64,
}

/// Result of a broadcast: what happened to each addressed session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Sessions the message was queued for.
    pub queued: usize,
    /// Sessions that were already closing and got nothing.
    pub closed: usize,
    /// Sessions whose queue overflowed with this message; they are being closed with
    /// [`CloseCode::SLOW_CONSUMER`](crate::CloseCode).
    pub slow: usize,
}

impl Delivery {
    pub(crate) fn record(&mut self, result: Result<(), crate::WriteError>) {
        match result {
            Ok(()) => self.queued += 1,
            Err(crate::WriteError::Closed) => self.closed += 1,
            Err(crate::WriteError::SlowConsumer) => self.slow += 1,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    slow: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    rejected: AtomicU64,
}

impl Counters {
    pub(crate) fn record_accept(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_slow_consumer(&self) {
        self.slow.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn record_received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self, sessions: usize) -> HubStats {
        HubStats {
            sessions,
            sessions_accepted: self.accepted.load(Ordering::Relaxed),
            slow_consumer_closes: self.slow.load(Ordering::Relaxed),
            messages_sent: self.sent.load(Ordering::Relaxed),
            messages_received: self.received.load(Ordering::Relaxed),
            upgrades_rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}
