//! Throttling of failed admin logins per client address.
//!
//! Without it the login endpoint accepted about 10,000 password guesses per
//! second. Each client address may fail [`MAX_FAILURES`] times per
//! [`WINDOW`]; after that its login requests get 429 (with `Retry-After`)
//! until the window rolls over, before the password is even looked at (so the
//! answer does not tell whether a guess was right). Successful logins are never
//! counted, and each address is counted on its own: an admin is not locked out
//! by someone guessing from elsewhere. The address is the TCP peer's
//! ([`axum::extract::ConnectInfo`]); behind a reverse proxy every client shares
//! the proxy's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Failed logins allowed per address and window.
pub(super) const MAX_FAILURES: u32 = 10;
/// The counting window.
pub(super) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most, so a flood from many addresses cannot grow the
/// map without bound (new addresses beyond it are not counted).
const MAX_TRACKED: usize = 10_000;

/// Failure counts per address in the current window.
#[derive(Debug, Clone, Default)]
pub(super) struct LoginThrottle {
    // std Mutex: held for a map lookup or insert only, never across `.await`.
    state: Arc<Mutex<Window>>,
}

#[derive(Debug, Default)]
struct Window {
    ends: Option<Instant>,
    failures: HashMap<IpAddr, u32>,
}

impl LoginThrottle {
    /// Whether `addr` may try a password now.
    pub(super) fn allows(&self, addr: Option<IpAddr>) -> bool {
        let mut w = self.lock();
        let now = Instant::now();
        if w.ends.is_none_or(|ends| now >= ends) {
            w.failures.clear();
            w.ends = Some(now + WINDOW);
        }
        w.failures.get(&key(addr)).copied().unwrap_or(0) < MAX_FAILURES
    }

    /// Counts a failed login from `addr`.
    pub(super) fn failed(&self, addr: Option<IpAddr>) {
        let mut w = self.lock();
        let key = key(addr);
        if !w.failures.contains_key(&key) && w.failures.len() >= MAX_TRACKED {
            return;
        }
        *w.failures.entry(key).or_insert(0) += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Requests without a known peer (a router served without `ConnectInfo`) share
/// one key.
fn key(addr: Option<IpAddr>) -> IpAddr {
    addr.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_per_address_until_the_window_rolls_over() {
        let t = LoginThrottle::default();
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..MAX_FAILURES {
            assert!(t.allows(a));
            t.failed(a);
        }
        assert!(!t.allows(a));
        assert!(t.allows(b));
        tokio::time::advance(WINDOW).await;
        assert!(t.allows(a));
    }
}
