//! Retry delays for a partition whose command keeps failing.

use std::time::Duration;

/// The first delay.
pub const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// The longest delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Exponential back-off with jitter, from [`MIN_BACKOFF`] doubling up to
/// [`MAX_BACKOFF`]; [`Backoff::reset`] after a success.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    retries: u32,
}

impl Backoff {
    /// A fresh back-off (the next delay is about [`MIN_BACKOFF`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay before the next attempt; each call doubles it.
    pub fn next_delay(&mut self) -> Duration {
        // Up to one MIN_BACKOFF of jitter, so competing nodes spread out.
        let jitter = rand::random_range(0..MIN_BACKOFF.as_millis() as u64);
        let base = MIN_BACKOFF + Duration::from_millis(jitter);
        let delay = base.saturating_mul(1u32 << self.retries.min(16));
        self.retries = self.retries.saturating_add(1);
        delay.min(MAX_BACKOFF)
    }

    /// How many delays were handed out since the last reset.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Back to [`MIN_BACKOFF`].
    pub fn reset(&mut self) {
        self.retries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_ten_milliseconds_to_five_seconds() {
        let mut backoff = Backoff::new();
        let first = backoff.next_delay();
        assert!(first >= MIN_BACKOFF && first < MIN_BACKOFF * 2, "{first:?}");
        let second = backoff.next_delay();
        assert!(
            second >= MIN_BACKOFF * 2 && second < MIN_BACKOFF * 4,
            "{second:?}"
        );
        let mut last = second;
        for _ in 0..40 {
            let next = backoff.next_delay();
            assert!(next >= last.min(MAX_BACKOFF) / 2, "{next:?} after {last:?}");
            assert!(next <= MAX_BACKOFF);
            last = next;
        }
        assert_eq!(last, MAX_BACKOFF);
        backoff.reset();
        assert!(backoff.next_delay() < MIN_BACKOFF * 2);
    }
}
