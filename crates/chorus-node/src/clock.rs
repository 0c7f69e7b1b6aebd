//! The wall clock, read in one place: Unix seconds for token expiry, Unix
//! milliseconds for publication and server times, and the monotonic instant of
//! a wall-clock expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Now, as Unix seconds.
pub(crate) fn unix_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs(),
    )
    .unwrap_or(i64::MAX)
}

/// Now, as Unix milliseconds.
pub(crate) fn unix_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// Seconds from now until `at` (Unix seconds), at least 0.
pub(crate) fn ttl_until(at: i64) -> u32 {
    u32::try_from((at - unix_now()).max(0)).unwrap_or(u32::MAX)
}

/// The instant `at` (Unix seconds) plus `delay`.
pub(crate) fn instant_at(at: i64, delay: Duration) -> Instant {
    let secs = u64::try_from((at - unix_now()).max(0)).unwrap_or(0);
    Instant::now() + Duration::from_secs(secs) + delay
}
