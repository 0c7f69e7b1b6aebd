//! Lame-duck shutdown: stop accepting, then disconnect clients with 3001 spread
//! over a window instead of all at once, so that thousands of clients do not
//! reconnect to the remaining nodes in the same instant.

use crate::error::Disconnect;
use crate::node::Node;
use std::time::Duration;
use tokio::time::Instant;

/// Disconnects are sent in this many rounds across the window (fewer when there
/// are fewer clients).
const ROUNDS: usize = 20;

impl Node {
    /// Graceful shutdown with a lame-duck window: new connections and `connect`
    /// commands are refused with 3001 at once; existing clients get 3001 in
    /// batches spread evenly over `spread` (all at once when zero); then the node
    /// waits for connection tasks until `deadline` (counted from the call, so
    /// it bounds the whole shutdown) and closes its backends.
    pub async fn shutdown_gradually(&self, deadline: Duration, spread: Duration) {
        let started = Instant::now();
        self.inner.shutdown.cancel();
        let clients = self.inner.registry.all_clients();
        let spread = spread.min(deadline);
        let rounds = if spread.is_zero() {
            1
        } else {
            ROUNDS.min(clients.len()).max(1)
        };
        let per_round = clients.len().div_ceil(rounds).max(1);
        let pause = spread / u32::try_from(rounds).unwrap_or(1);
        tracing::info!(
            clients = clients.len(),
            ?spread,
            "shutting down: disconnecting clients with 3001"
        );
        for (i, batch) in clients.chunks(per_round).enumerate() {
            if i > 0 {
                tokio::time::sleep(pause).await;
            }
            for c in batch {
                c.disconnect(Disconnect::SHUTDOWN);
            }
        }
        self.inner.tracker.close();
        let left = deadline.saturating_sub(started.elapsed());
        if tokio::time::timeout(left, self.inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown deadline reached with connections still open");
        }
        self.inner.broker.shutdown().await;
        self.inner.presence.shutdown().await;
    }
}
