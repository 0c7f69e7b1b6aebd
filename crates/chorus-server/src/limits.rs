//! `client.connection_rate_limit`: at most that many new client connections per
//! second on this node (0: unlimited), enforced before any transport handshake.
//!
//! A request over the limit is answered `503 Service Unavailable`, as Centrifugo
//! does, so the client backs off and reconnects later. The bucket holds up to
//! one second's worth of connections (bursts up to the limit).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

/// A token bucket shared by the transport routes.
#[derive(Debug)]
pub struct ConnectionRateLimiter {
    per_second: f64,
    // (tokens, last refill). One lock per new connection, never per message.
    state: Mutex<(f64, Instant)>,
}

impl ConnectionRateLimiter {
    /// A limiter allowing `per_second` new connections per second.
    pub fn new(per_second: u64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let per_second = per_second as f64;
        Self {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    /// Takes a token if one is left.
    pub fn try_acquire(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.1).as_secs_f64();
        s.0 = (s.0 + elapsed * self.per_second).min(self.per_second);
        s.1 = now;
        if s.0 >= 1.0 {
            s.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn limit(
    State(limiter): State<Arc<ConnectionRateLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    if limiter.try_acquire() {
        next.run(req).await
    } else {
        tracing::debug!("connection rate limit reached");
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

/// Applies `client.connection_rate_limit` to every route of `router` (the
/// transports); `0` leaves it unchanged.
pub fn with_connection_rate_limit(router: Router, per_second: u64) -> Router {
    if per_second == 0 {
        return router;
    }
    let limiter = Arc::new(ConnectionRateLimiter::new(per_second));
    router.layer(axum::middleware::from_fn_with_state(limiter, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn refills_per_second() {
        let l = ConnectionRateLimiter::new(2);
        assert!(l.try_acquire());
        assert!(l.try_acquire());
        assert!(!l.try_acquire());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(l.try_acquire());
        assert!(!l.try_acquire());
    }
}
