//! Presence: who is in a channel.

use crate::error::BackendError;
use async_trait::async_trait;
use chorus_protocol::ClientInfo;
use std::collections::BTreeMap;

/// Client and user counts of a channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PresenceStats {
    /// Connections present.
    pub num_clients: u32,
    /// Distinct users among them (anonymous connections count as one user "").
    pub num_users: u32,
}

/// Presence storage.
///
/// # Contract
/// * Entries are keyed by client id within a channel; `add_presence` inserts or
///   refreshes one and must keep it for at least the manager's TTL. Live
///   connections re-add their entries every `client.presence_update_interval`
///   (27 s by default), so a crashed node's entries disappear after the TTL.
/// * `remove_presence` is idempotent.
/// * Counts in [`PresenceStats`] are consistent with what `presence` returns at the
///   same moment (same snapshot where the backend allows).
#[async_trait]
pub trait PresenceManager: Send + Sync + 'static {
    /// Adds or refreshes a client's presence in a channel.
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: ClientInfo,
    ) -> Result<(), BackendError>;
    /// Removes a client's presence from a channel.
    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        user: &str,
    ) -> Result<(), BackendError>;
    /// Everyone present, by client id.
    async fn presence(&self, channel: &str) -> Result<BTreeMap<String, ClientInfo>, BackendError>;
    /// Counts.
    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, BackendError>;
    /// Releases the manager's resources (default: nothing to do).
    async fn shutdown(&self) {}
}
