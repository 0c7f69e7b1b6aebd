//! Finding a master through Redis Sentinel.
//!
//! The sentinels are asked for the master's address on every lookup (a lookup
//! also checks that the named server still considers itself master), so a
//! caller that looks up again after a failed connection follows a failover.

use crate::config::{RedisTls, SentinelMaster};
use crate::error::RedisEngineError;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, RedisConnectionInfo, RedisResult, TlsMode};

/// Looks up one master through a set of sentinels.
pub(crate) struct SentinelResolver {
    // The client keeps connections to the sentinels and needs `&mut` for a
    // lookup; a tokio mutex because a lookup awaits the network. Lookups are
    // rare (connects and reconnects only), so serializing them costs nothing.
    client: tokio::sync::Mutex<SentinelClient>,
}

impl SentinelResolver {
    /// Checks the addresses; connects nothing yet.
    pub(crate) fn new(
        master_name: &str,
        sentinels: &[String],
        master: &SentinelMaster,
    ) -> Result<Self, RedisEngineError> {
        if master_name.is_empty() {
            return Err(RedisEngineError::Config(
                "a sentinel address needs the master name".to_owned(),
            ));
        }
        if sentinels.is_empty() {
            return Err(RedisEngineError::Config(
                "a sentinel address needs at least one sentinel".to_owned(),
            ));
        }
        let mut redis = RedisConnectionInfo::default().set_db(master.db);
        if !master.user.is_empty() {
            redis = redis.set_username(&master.user);
        }
        if !master.password.is_empty() {
            redis = redis.set_password(&master.password);
        }
        let mut node = SentinelNodeConnectionInfo::default().set_redis_connection_info(redis);
        match master.tls {
            RedisTls::Off => {}
            RedisTls::On => node = node.set_tls_mode(TlsMode::Secure),
            RedisTls::Insecure => node = node.set_tls_mode(TlsMode::Insecure),
        }
        let client = SentinelClient::build(
            sentinels.iter().map(String::as_str).collect(),
            master_name,
            Some(node),
            SentinelServerType::Master,
        )
        .map_err(|e| RedisEngineError::Config(format!("sentinels {}: {e}", sentinels.join(","))))?;
        Ok(Self {
            client: tokio::sync::Mutex::new(client),
        })
    }

    /// A client for the current master (not connected yet). Unbounded: the
    /// caller applies its connect timeout.
    pub(crate) async fn master(&self) -> RedisResult<Client> {
        self.client.lock().await.async_get_client().await
    }
}
