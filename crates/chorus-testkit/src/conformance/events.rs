//! [`RecordingEvents`]: a [`BrokerEvents`] sink that records deliveries and lets
//! checks wait for them without sleeping.

use super::*;

/// One publication as a broker delivered it through [`BrokerEvents::on_publication`].
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The publication.
    pub publication: Publication,
    /// The position passed along with it.
    pub position: StreamPosition,
}

/// What was delivered for one channel, in delivery order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelEvents {
    /// Publications.
    pub publications: Vec<Delivered>,
    /// Joins.
    pub joins: Vec<ClientInfo>,
    /// Leaves.
    pub leaves: Vec<ClientInfo>,
    /// Reports of possibly lost publications ([`BrokerEvents::on_stream_interrupted`]).
    pub interruptions: u32,
}

/// A [`BrokerEvents`] that records everything per channel and lets a test wait
/// for events (woken by each event, bounded by [`WAIT`]; no polling, no sleeps).
#[derive(Debug)]
pub struct RecordingEvents {
    channels: watch::Sender<HashMap<String, ChannelEvents>>,
}

impl Default for RecordingEvents {
    fn default() -> Self {
        Self {
            channels: watch::Sender::new(HashMap::new()),
        }
    }
}

impl RecordingEvents {
    /// A new recorder, ready to be passed to a broker factory (as
    /// `Arc<dyn BrokerEvents>`, via `Arc::clone(&rec) as _`).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn record(&self, channel: &str, f: impl FnOnce(&mut ChannelEvents)) {
        // `send_modify` notifies even when no one waits; it never fails.
        self.channels
            .send_modify(|m| f(m.entry(channel.to_owned()).or_default()));
    }

    /// Everything recorded for `channel` so far.
    pub fn channel(&self, channel: &str) -> ChannelEvents {
        self.channels
            .borrow()
            .get(channel)
            .cloned()
            .unwrap_or_default()
    }

    /// Publications delivered for `channel` so far.
    pub fn publications(&self, channel: &str) -> Vec<Delivered> {
        self.channel(channel).publications
    }

    /// Waits until `done` holds for `channel`'s events and returns them.
    ///
    /// # Panics
    /// If that does not happen within [`WAIT`]; the message says what was recorded.
    pub async fn wait_for(
        &self,
        channel: &str,
        what: &str,
        mut done: impl FnMut(&ChannelEvents) -> bool,
    ) -> ChannelEvents {
        let mut rx = self.channels.subscribe();
        let empty = ChannelEvents::default();
        let waited = tokio::time::timeout(
            WAIT,
            rx.wait_for(|m| done(m.get(channel).unwrap_or(&empty))),
        )
        .await
        // Drops the watch guard `wait_for` returns before reading again: a
        // second read lock while a broker task waits to write would deadlock.
        .is_ok_and(|r| r.is_ok());
        assert!(
            waited,
            "timed out waiting for {what} in channel {channel:?}; recorded: {:?}",
            self.channel(channel)
        );
        self.channel(channel)
    }

    /// Waits until at least `n` publications were delivered for `channel`.
    ///
    /// # Panics
    /// After [`WAIT`].
    pub async fn wait_publications(&self, channel: &str, n: usize) -> Vec<Delivered> {
        self.wait_for(channel, &format!("{n} publications"), |c| {
            c.publications.len() >= n
        })
        .await
        .publications
    }

    /// Waits until at least `n` joins were delivered for `channel`.
    ///
    /// # Panics
    /// After [`WAIT`].
    pub async fn wait_joins(&self, channel: &str, n: usize) -> Vec<ClientInfo> {
        self.wait_for(channel, &format!("{n} joins"), |c| c.joins.len() >= n)
            .await
            .joins
    }

    /// Waits until at least `n` leaves were delivered for `channel`.
    ///
    /// # Panics
    /// After [`WAIT`].
    pub async fn wait_leaves(&self, channel: &str, n: usize) -> Vec<ClientInfo> {
        self.wait_for(channel, &format!("{n} leaves"), |c| c.leaves.len() >= n)
            .await
            .leaves
    }
}

impl BrokerEvents for RecordingEvents {
    fn on_publication(&self, channel: &str, publication: Publication, position: StreamPosition) {
        self.record(channel, |c| {
            c.publications.push(Delivered {
                publication,
                position,
            });
        });
    }

    fn on_join(&self, channel: &str, info: ClientInfo) {
        self.record(channel, |c| c.joins.push(info));
    }

    fn on_leave(&self, channel: &str, info: ClientInfo) {
        self.record(channel, |c| c.leaves.push(info));
    }

    fn on_stream_interrupted(&self, channel: &str) {
        self.record(channel, |c| c.interruptions += 1);
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------
