//! Counters shared by every soak client and the publisher, and the report
//! built from them.

use hdrhistogram::Histogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Everything the clients count. Atomics because thousands of client tasks
/// update them concurrently; the latency histogram sits behind a mutex that is
/// held only for one `record` call.
#[derive(Default)]
pub(crate) struct Stats {
    /// Successful connect + subscribe handshakes (first ones and reconnects).
    pub(crate) connects: AtomicU64,
    /// Connection attempts that failed (refused, handshake error, timeout).
    pub(crate) connect_errors: AtomicU64,
    /// Commands the server refused (connect, subscribe, history), for
    /// instance with a temporary error while Redis is unreachable.
    pub(crate) command_errors: AtomicU64,
    /// Disconnects the client chose (churn).
    pub(crate) churn_closes: AtomicU64,
    /// Connections the server or the network ended.
    pub(crate) server_closes: AtomicU64,
    /// `unsubscribe` pushes from the server (for instance insufficient state).
    pub(crate) server_unsubscribes: AtomicU64,
    /// Connections currently open.
    pub(crate) open: AtomicI64,
    /// Clients currently subscribed (no subscribe in flight).
    pub(crate) subscribed: AtomicI64,
    /// Clients whose first subscription succeeded.
    pub(crate) first_subscribed: AtomicU64,
    /// Subscribes sent with `recover` (after churn, a fault or a live gap).
    pub(crate) recover_attempts: AtomicU64,
    /// Of those, answered with `recovered: true`.
    pub(crate) recovered: AtomicU64,
    /// Publications received in recovery replies.
    pub(crate) recovered_pubs: AtomicU64,
    /// Recoveries answered with another epoch: the history the client's
    /// position refers to is gone (Redis restarted without persistence).
    pub(crate) epoch_changes: AtomicU64,
    /// Recoveries refused in the same epoch (history no longer holds them),
    /// and the publications that were not recovered because of that.
    pub(crate) not_recovered: AtomicU64,
    pub(crate) not_recovered_pubs: AtomicU64,
    /// Publications that history held but the client never received: offsets
    /// skipped by a recovery reply or missing at the end. Must be zero.
    pub(crate) lost: AtomicU64,
    /// Publications received twice (offset not above the last one). Must be zero.
    pub(crate) duplicates: AtomicU64,
    /// Offset gaps seen on live delivery, each repaired by resubscribing with
    /// recovery (what an SDK does after `insufficient state`).
    pub(crate) live_gaps: AtomicU64,
    /// Publications delivered live, in order.
    pub(crate) delivered: AtomicU64,
    /// Clients that checked their position against history at the end, and
    /// those that could not (not subscribed when the run ended).
    pub(crate) final_checked: AtomicU64,
    pub(crate) final_unchecked: AtomicU64,
    /// Publish commands acknowledged without error, and those refused or
    /// unanswered (connection lost).
    pub(crate) published: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    /// Publish → live delivery latency, microseconds.
    pub(crate) latency_us: Mutex<Option<Histogram<u64>>>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        let stats = Self::default();
        *stats.latency_us.lock().unwrap_or_else(|e| e.into_inner()) = Histogram::new(3).ok();
        stats
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn record_latency(&self, micros: u64) {
        let mut guard = self.latency_us.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = guard.as_mut() {
            let _ = h.record(micros.max(1));
        }
    }

    /// p50, p99 and max publish → deliver latency in milliseconds.
    pub(crate) fn latency_ms(&self) -> (f64, f64, f64) {
        let guard = self.latency_us.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map_or((0.0, 0.0, 0.0), |h| {
            (
                h.value_at_quantile(0.5) as f64 / 1000.0,
                h.value_at_quantile(0.99) as f64 / 1000.0,
                h.max() as f64 / 1000.0,
            )
        })
    }
}

/// Resident set size of a process, in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Open file descriptors of a process.
pub(crate) fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}
