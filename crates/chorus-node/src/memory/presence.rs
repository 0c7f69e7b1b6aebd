//! In-memory presence with TTL.

use crate::error::BackendError;
use crate::presence::{PresenceManager, PresenceStats};
use async_trait::async_trait;
use chorus_protocol::ClientInfo;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

type Channel = HashMap<String, (ClientInfo, Instant)>;

/// Presence kept in process memory, expiring entries not refreshed within the TTL.
#[derive(Debug)]
pub struct MemoryPresenceManager {
    // One lock for the whole map: presence calls are per command, not per message.
    channels: Mutex<HashMap<String, Channel>>,
    ttl: Duration,
}

impl Default for MemoryPresenceManager {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl MemoryPresenceManager {
    /// A manager whose entries live `ttl` after their last refresh.
    pub fn new(ttl: Duration) -> Self {
        Self {
            channels: Mutex::default(),
            ttl,
        }
    }

    fn with_live<R>(&self, channel: &str, f: impl FnOnce(&Channel) -> R) -> R {
        let mut map = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if let Some(ch) = map.get_mut(channel) {
            ch.retain(|_, (_, exp)| *exp > now);
            if ch.is_empty() {
                map.remove(channel);
            }
        }
        let empty = Channel::new();
        f(map.get(channel).unwrap_or(&empty))
    }
}

#[async_trait]
impl PresenceManager for MemoryPresenceManager {
    async fn add_presence(
        &self,
        channel: &str,
        client_id: &str,
        info: ClientInfo,
    ) -> Result<(), BackendError> {
        let mut map = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(channel.to_owned())
            .or_default()
            .insert(client_id.to_owned(), (info, Instant::now() + self.ttl));
        Ok(())
    }

    async fn remove_presence(
        &self,
        channel: &str,
        client_id: &str,
        _user: &str,
    ) -> Result<(), BackendError> {
        let mut map = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ch) = map.get_mut(channel) {
            ch.remove(client_id);
            if ch.is_empty() {
                map.remove(channel);
            }
        }
        Ok(())
    }

    async fn presence(&self, channel: &str) -> Result<BTreeMap<String, ClientInfo>, BackendError> {
        Ok(self.with_live(channel, |ch| {
            ch.iter()
                .map(|(k, (info, _))| (k.clone(), info.clone()))
                .collect()
        }))
    }

    async fn presence_stats(&self, channel: &str) -> Result<PresenceStats, BackendError> {
        Ok(self.with_live(channel, |ch| {
            let users: HashSet<&str> = ch.values().map(|(i, _)| i.user.as_str()).collect();
            PresenceStats {
                num_clients: u32::try_from(ch.len()).unwrap_or(u32::MAX),
                num_users: u32::try_from(users.len()).unwrap_or(u32::MAX),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(user: &str, client: &str) -> ClientInfo {
        ClientInfo {
            user: user.into(),
            client: client.into(),
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn counts_users_and_expires_unrefreshed_entries() {
        let pm = MemoryPresenceManager::new(Duration::from_secs(60));
        pm.add_presence("ch", "c1", info("u1", "c1")).await.unwrap();
        pm.add_presence("ch", "c2", info("u1", "c2")).await.unwrap();
        pm.add_presence("ch", "c3", info("u2", "c3")).await.unwrap();
        assert_eq!(
            pm.presence_stats("ch").await.unwrap(),
            PresenceStats {
                num_clients: 3,
                num_users: 2
            }
        );
        tokio::time::advance(Duration::from_secs(40)).await;
        pm.add_presence("ch", "c1", info("u1", "c1")).await.unwrap(); // refresh
        tokio::time::advance(Duration::from_secs(30)).await;
        let p = pm.presence("ch").await.unwrap();
        assert_eq!(p.keys().collect::<Vec<_>>(), ["c1"]);
        pm.remove_presence("ch", "c1", "u1").await.unwrap();
        assert_eq!(
            pm.presence_stats("ch").await.unwrap(),
            PresenceStats::default()
        );
    }
}
