//! The periodic position check of positioned subscriptions (spec §7).
//!
//! Offsets checked per publication catch gaps only when a later publication
//! arrives. A publication lost between the broker and this node with nothing
//! after it would go unnoticed; so every `client.channel_position_check_delay`
//! the node asks the broker for each channel's stream top — once per channel,
//! not per subscriber — and compares every positioned subscriber with it. A
//! subscriber on another epoch, or still behind a top that was already seen one
//! full check earlier, has insufficient state: client-side subscriptions get
//! unsubscribe 2500 (the SDK resubscribes and recovers), server-side ones
//! disconnect 3010.

use crate::broker::HistoryFilter;
use crate::client::shared::Control;
use crate::node::{Node, NodeInner};
use crate::ordering::Verdict;
use std::sync::{Arc, Weak};
use std::time::Duration;

impl Node {
    /// Starts the periodic check when enabled and a Tokio runtime is running
    /// (a node built outside a runtime has no background tasks).
    pub(crate) fn spawn_position_checks(&self) {
        let every = self.inner.config.client.channel_position_check_delay;
        if every.is_zero() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // Weak: the task must not keep a dropped node alive.
        let weak = Arc::downgrade(&self.inner);
        let stop = self.inner.shutdown.clone();
        runtime.spawn(async move {
            tokio::select! {
                () = run(weak, every) => {}
                () = stop.cancelled() => {}
            }
        });
    }

    /// Runs one position check over every positioned subscription on this node.
    pub(crate) async fn check_positions(&self) {
        for (channel, subs) in self.inner.registry.positioned() {
            let Ok(resolved) = self.resolve(&channel) else {
                continue;
            };
            let top = HistoryFilter {
                since: None,
                limit: 0,
                reverse: false,
            };
            let meta_ttl = self.meta_ttl(&resolved.options);
            let position = match self.inner.broker.history(&channel, top, meta_ttl).await {
                Ok(h) => h.position,
                Err(e) => {
                    // A broker outage is not the subscribers' fault: check later.
                    tracing::debug!(channel, error = %e, "position check skipped");
                    continue;
                }
            };
            for sub in subs {
                let Some(p) = &sub.delivery.position else {
                    continue;
                };
                if p.check_top(&position) == Verdict::Gap {
                    sub.client
                        .control
                        .send(Control::InsufficientState(channel.clone()));
                }
            }
        }
    }
}

async fn run(node: Weak<NodeInner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let Some(inner) = node.upgrade() else {
            return;
        };
        Node { inner }.check_positions().await;
    }
}
