//! The one deliver / skip / gap decision for a publication reaching a
//! subscription, shared by live fan-out (`registry.rs`) and by a subscription going
//! live with its buffered publications (`subscriptions.rs`), and the per
//! subscription stream position it is taken against (spec §7).

use crate::broker::StreamPosition;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What to do with a publication for a positioned subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The next offset: deliver.
    Deliver,
    /// Already delivered (or the subscription is being torn down): drop silently.
    Skip,
    /// A gap or another epoch: the client's state is insufficient (2500 / 3010).
    Gap,
}

/// Stream position of a positioned subscription: the last offset delivered and
/// the stream's epoch (spec §7). Checked per publication without allocating.
#[derive(Debug, Default)]
pub(crate) struct Position {
    last: AtomicU64,
    epoch: OnceLock<String>,
    broken: AtomicBool,
    // Stream top seen by the previous periodic check while this subscriber was
    // behind it (0: not behind). Only the node's position-check task touches it.
    behind_top: AtomicU64,
}

impl Position {
    /// Starts tracking at `offset` in `epoch` (when the subscription goes live).
    pub(crate) fn start(&self, offset: u64, epoch: &str) {
        let _ = self.epoch.set(epoch.to_owned());
        self.last.store(offset, Ordering::Release);
    }

    /// The periodic check against the stream's current top (spec §7): another
    /// epoch, or still behind a top already seen one check earlier, is a gap.
    /// Being behind once is normal (publications in flight).
    pub(crate) fn check_top(&self, top: &StreamPosition) -> Verdict {
        if self.broken.load(Ordering::Acquire) {
            return Verdict::Skip;
        }
        let other_epoch = self
            .epoch
            .get()
            .is_some_and(|e| !top.epoch.is_empty() && *e != top.epoch);
        let last = self.last.load(Ordering::Acquire);
        let seen = self.behind_top.load(Ordering::Acquire);
        if other_epoch || (seen > 0 && last < seen) {
            self.broken.store(true, Ordering::Release);
            return Verdict::Gap;
        }
        let behind = if last < top.offset { top.offset } else { 0 };
        self.behind_top.store(behind, Ordering::Release);
        Verdict::Deliver
    }

    /// Marks the subscription broken (publications arrive too late).
    pub(crate) fn fail(&self) -> bool {
        !self.broken.swap(true, Ordering::AcqRel)
    }

    /// Checks a publication. Calls for one channel are serialized by the broker's
    /// per-channel ordering contract, so load-then-store is race-free.
    pub(crate) fn check(&self, offset: u64, epoch: &str) -> Verdict {
        if self.broken.load(Ordering::Acquire) {
            return Verdict::Skip;
        }
        let last = self.last.load(Ordering::Acquire);
        let other_epoch = self
            .epoch
            .get()
            .is_some_and(|e| !epoch.is_empty() && e != epoch);
        if other_epoch || offset > last + 1 {
            self.broken.store(true, Ordering::Release);
            return Verdict::Gap;
        }
        if offset <= last {
            return Verdict::Skip;
        }
        self.last.store(offset, Ordering::Release);
        Verdict::Deliver
    }
}

/// Decides what happens to a publication at `offset` of stream `epoch` for a
/// subscription with stream position `position` (`None`: not positioned).
///
/// * A positioned subscription whose publication arrived later than the allowed
///   PUB/SUB lag (`lagging`) is broken: a gap the first time, skipped after.
/// * A positioned subscription checks the offset (next one: deliver; seen:
///   skip; beyond the next or another epoch: gap).
/// * An unpositioned one skips what its subscribe reply already carried (offsets
///   up to `covered`; 0 during live delivery) and delivers the rest.
/// * Publications without an offset are not part of the stream: delivered.
pub(crate) fn order(
    position: Option<&Position>,
    offset: u64,
    epoch: &str,
    lagging: bool,
    covered: u64,
) -> Verdict {
    match position {
        Some(position) if lagging => {
            if position.fail() {
                Verdict::Gap
            } else {
                Verdict::Skip
            }
        }
        Some(position) if offset > 0 => position.check(offset, epoch),
        None if offset > 0 && offset <= covered => Verdict::Skip,
        _ => Verdict::Deliver,
    }
}

#[cfg(test)]
mod tests {
    use super::{Position, Verdict, order};

    fn at(offset: u64) -> Position {
        let p = Position::default();
        p.start(offset, "e");
        p
    }

    #[test]
    fn positioned_next_offset_is_delivered_once() {
        let p = at(3);
        assert_eq!(order(Some(&p), 4, "e", false, 0), Verdict::Deliver);
        assert_eq!(order(Some(&p), 4, "e", false, 0), Verdict::Skip);
        assert_eq!(order(Some(&p), 2, "e", false, 0), Verdict::Skip);
    }

    #[test]
    fn positioned_gap_or_other_epoch_breaks_once() {
        let p = at(3);
        assert_eq!(order(Some(&p), 5, "e", false, 0), Verdict::Gap);
        // Broken: everything after is skipped, no second gap.
        assert_eq!(order(Some(&p), 4, "e", false, 0), Verdict::Skip);
        let q = at(3);
        assert_eq!(order(Some(&q), 4, "other", false, 0), Verdict::Gap);
    }

    #[test]
    fn lagging_is_a_gap_the_first_time() {
        let p = at(3);
        assert_eq!(order(Some(&p), 4, "e", true, 0), Verdict::Gap);
        assert_eq!(order(Some(&p), 5, "e", true, 0), Verdict::Skip);
    }

    #[test]
    fn offsetless_publications_are_always_delivered() {
        let p = at(3);
        assert_eq!(order(Some(&p), 0, "", false, 0), Verdict::Deliver);
        assert_eq!(order(None, 0, "", false, 10), Verdict::Deliver);
    }

    #[test]
    fn unpositioned_skips_what_the_reply_covered() {
        assert_eq!(order(None, 7, "e", false, 7), Verdict::Skip);
        assert_eq!(order(None, 8, "e", false, 7), Verdict::Deliver);
        assert_eq!(order(None, 8, "e", false, 0), Verdict::Deliver);
    }
}
