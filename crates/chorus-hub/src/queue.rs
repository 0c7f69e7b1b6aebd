//! The byte-bounded outbound queue of one session.
//!
//! Producers (any task calling `write` or a broadcast) push already-encoded, shared
//! messages; the session's own task drains them in batches. The bound counts payload
//! bytes that are queued *or* being written, so a session can never hold more than
//! `max_bytes` of outbound data. Overflow does not drop the message silently and does
//! not block the producer: the queue switches to "closing as slow consumer", throws
//! away what it holds and wakes the session task, which sends a close frame.

use crate::CloseCode;
use crate::error::{SLOW_CONSUMER_REASON, WriteError};
use crate::message::{CloseFrame, Outgoing};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// How the session is to be closed once the queue stops accepting messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Deliver everything already queued, then send the close frame.
    AfterDrain(CloseFrame),
    /// Drop what is queued and send the close frame now.
    Now(CloseFrame),
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Outgoing>,
    /// Payload bytes queued plus bytes taken by the writer and not yet released.
    bytes: usize,
    closing: Option<Closing>,
}

/// Why the session's task was woken.
#[derive(Debug)]
pub(crate) enum Drained {
    /// Messages to write (possibly empty on a spurious wake-up).
    Batch(VecDeque<Outgoing>),
    /// Stop: send this close frame (the batch, if any, comes first for `AfterDrain`).
    Close(VecDeque<Outgoing>, CloseFrame),
}

#[derive(Debug)]
pub(crate) struct Outbound {
    // std Mutex: held for a few instructions, never across `.await`.
    state: Mutex<State>,
    // Mirrors `state.closing.is_some()` so `is_closed` needs no lock.
    closed: AtomicBool,
    wake: Notify,
    max_bytes: usize,
}

impl Outbound {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave `State` inconsistent (every
        // critical section is a few plain field updates), so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues a message, or reports why it was not queued.
    pub(crate) fn push(&self, msg: Outgoing) -> Result<(), WriteError> {
        let len = msg.len();
        let mut st = self.lock();
        if st.closing.is_some() {
            return Err(WriteError::Closed);
        }
        if st.bytes + len > self.max_bytes {
            st.items = VecDeque::new();
            st.closing = Some(Closing::Now(CloseFrame::new(
                CloseCode::SLOW_CONSUMER,
                SLOW_CONSUMER_REASON,
            )));
            self.closed.store(true, Ordering::Release);
            drop(st);
            self.wake.notify_one();
            return Err(WriteError::SlowConsumer);
        }
        let was_empty = st.items.is_empty();
        st.items.push_back(msg);
        st.bytes += len;
        drop(st);
        if was_empty {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Starts closing. Returns `false` when the session was already closing (the first
    /// close wins, so the peer sees one consistent code).
    pub(crate) fn close(&self, closing: Closing) -> bool {
        let mut st = self.lock();
        if st.closing.is_some() {
            return false;
        }
        if matches!(closing, Closing::Now(_)) {
            st.items = VecDeque::new();
        }
        st.closing = Some(closing);
        self.closed.store(true, Ordering::Release);
        drop(st);
        self.wake.notify_one();
        true
    }

    /// Waits until there is something for the writer.
    pub(crate) async fn ready(&self) {
        self.wake.notified().await;
    }

    /// Takes everything queued. Bytes stay counted until [`Outbound::release`].
    pub(crate) fn drain(&self) -> Drained {
        let mut st = self.lock();
        let batch = std::mem::take(&mut st.items);
        match &st.closing {
            None => Drained::Batch(batch),
            Some(Closing::AfterDrain(frame) | Closing::Now(frame)) => {
                Drained::Close(batch, frame.clone())
            }
        }
    }

    /// Returns `bytes` of written payload to the budget.
    pub(crate) fn release(&self, bytes: usize) {
        let mut st = self.lock();
        st.bytes = st.bytes.saturating_sub(bytes);
    }

    /// Payload bytes currently queued or being written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Text;

    fn msg(n: usize) -> Outgoing {
        Outgoing::Text(Text::from("x".repeat(n)))
    }

    #[test]
    fn overflow_closes_as_slow_consumer_and_drops_queue() {
        let q = Outbound::new(10);
        q.push(msg(6)).unwrap();
        assert_eq!(q.push(msg(5)), Err(WriteError::SlowConsumer));
        assert!(q.is_closed());
        assert_eq!(q.push(msg(1)), Err(WriteError::Closed));
        match q.drain() {
            Drained::Close(batch, frame) => {
                assert!(batch.is_empty());
                assert_eq!(frame.code, CloseCode::SLOW_CONSUMER);
            }
            Drained::Batch(_) => panic!("expected close"),
        }
    }

    #[test]
    fn bytes_stay_counted_until_released() {
        let q = Outbound::new(10);
        q.push(msg(8)).unwrap();
        let Drained::Batch(batch) = q.drain() else {
            panic!()
        };
        assert_eq!(batch.len(), 1);
        // Still in flight: another 8 bytes do not fit.
        assert_eq!(q.queued_bytes(), 8);
        q.release(8);
        q.push(msg(8)).unwrap();
    }

    #[test]
    fn graceful_close_keeps_queued_messages() {
        let q = Outbound::new(100);
        q.push(msg(3)).unwrap();
        assert!(q.close(Closing::AfterDrain(CloseFrame::new(1000, "bye"))));
        assert!(!q.close(Closing::Now(CloseFrame::new(1001, "again"))));
        let Drained::Close(batch, frame) = q.drain() else {
            panic!()
        };
        assert_eq!(batch.len(), 1);
        assert_eq!(frame.code, CloseCode::NORMAL);
    }
}
