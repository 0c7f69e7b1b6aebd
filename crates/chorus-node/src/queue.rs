//! A client's byte-bounded outbound queue.
//!
//! Producers (the client's own task for replies, and any task fanning out
//! publications) push encoded messages; the connection task drains them in batches.
//! The bound (`client.queue_max_size`, 1 MiB by default) counts bytes queued or
//! being written. Overflow closes the client with 3008 "slow": what it had queued
//! is dropped and the producer is never blocked.
//!
//! `chorus-hub` has a queue of the same design (`chorus-hub/src/queue.rs`). They
//! stay two on purpose: the hub is a standalone product that knows nothing of
//! Centrifugo and depends on no other Chorus crate, and neither crate depends on
//! the other. The items differ as well: the hub queues WebSocket messages and
//! closes with a close frame (after draining, or at once for a slow consumer);
//! this queue holds encoded protocol messages and ends with a `Disconnect` that
//! the transport turns into a close frame or a disconnect push. Sharing one
//! would need a third crate for about a hundred lines.

use crate::error::Disconnect;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

#[derive(Debug, Default)]
struct Queued {
    items: Vec<Bytes>,
    bytes: usize,
    closing: Option<Disconnect>,
}

/// Outcome of a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    Closed,
    Overflow,
}

/// What the connection task should do next.
#[derive(Debug)]
pub(crate) enum Batch {
    /// Write these messages (in order).
    Write(Vec<Bytes>),
    /// Write these messages, then close with this disconnect.
    Close(Vec<Bytes>, Disconnect),
}

/// The queue.
#[derive(Debug)]
pub(crate) struct ClientQueue {
    // std Mutex: a few instructions per push, never held across `.await`.
    state: Mutex<Queued>,
    closed: AtomicBool,
    wake: Notify,
    max_bytes: usize,
}

impl ClientQueue {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            state: Mutex::default(),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the client is closing.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn push(&self, msg: Bytes) -> Pushed {
        let mut st = self.lock();
        if st.closing.is_some() {
            return Pushed::Closed;
        }
        if st.bytes + msg.len() > self.max_bytes {
            st.items = Vec::new();
            st.closing = Some(Disconnect::SLOW);
            self.closed.store(true, Ordering::Release);
            drop(st);
            self.wake.notify_one();
            return Pushed::Overflow;
        }
        let was_empty = st.items.is_empty();
        st.bytes += msg.len();
        st.items.push(msg);
        drop(st);
        if was_empty {
            self.wake.notify_one();
        }
        Pushed::Queued
    }

    /// Starts closing after what is queued (first close wins).
    pub(crate) fn close(&self, disconnect: Disconnect) -> bool {
        let mut st = self.lock();
        if st.closing.is_some() {
            return false;
        }
        st.closing = Some(disconnect);
        self.closed.store(true, Ordering::Release);
        drop(st);
        self.wake.notify_one();
        true
    }

    /// The disconnect the queue is closing with, if it is closing.
    pub(crate) fn closing(&self) -> Option<Disconnect> {
        self.lock().closing.clone()
    }

    /// Resolves when there is something to drain. Cancel-safe.
    pub(crate) async fn ready(&self) {
        self.wake.notified().await;
    }

    /// Takes everything queued; bytes stay counted until [`ClientQueue::release`].
    pub(crate) fn drain(&self) -> Batch {
        let mut st = self.lock();
        let items = std::mem::take(&mut st.items);
        match &st.closing {
            None => Batch::Write(items),
            Some(d) => Batch::Close(items, d.clone()),
        }
    }

    /// Returns written bytes to the budget.
    pub(crate) fn release(&self, bytes: usize) {
        let mut st = self.lock();
        st.bytes = st.bytes.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_closes_with_3008() {
        let q = ClientQueue::new(10);
        assert_eq!(q.push(Bytes::from_static(b"123456")), Pushed::Queued);
        assert_eq!(q.push(Bytes::from_static(b"12345")), Pushed::Overflow);
        assert_eq!(q.push(Bytes::from_static(b"1")), Pushed::Closed);
        let Batch::Close(items, d) = q.drain() else {
            panic!("expected close")
        };
        assert!(items.is_empty());
        assert_eq!(d.code, 3008);
    }
}
