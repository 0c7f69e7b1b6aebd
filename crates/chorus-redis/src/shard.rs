//! Connections to one shard: a command connection shared by all callers
//! (multiplexed, reconnecting by itself) and the means to open PUB/SUB
//! connections for the subscriber task.

use crate::config::{RedisAddress, RedisEngineConfig};
use crate::error::{RedisEngineError, failed, timed_out};
use chorus_node::BackendError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, ScriptInvocation, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The command connection of a shard.
#[derive(Clone)]
pub(crate) enum Commands {
    /// A standalone server: reconnects in the background after a failure.
    Single(ConnectionManager),
    /// A cluster: follows slot moves and reconnects by itself.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// One shard.
pub(crate) struct Shard {
    pub(crate) address: String,
    kind: RedisAddress,
    // Connected on first use (or by `RedisEngine::connect`, which fails fast);
    // a failed attempt is not stored, so the next call tries again.
    commands: OnceCell<Commands>,
    /// Where PUB/SUB connections go: the server, or the cluster's seeds (tried in
    /// turn; a classic `SUBSCRIBE` on any cluster node sees every `PUBLISH`).
    pubsub: Vec<redis::Client>,
    next_pubsub: AtomicUsize,
    connect_timeout: Duration,
    io_timeout: Duration,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn connect_error(address: &str, reason: impl std::fmt::Display) -> RedisEngineError {
    RedisEngineError::Connect {
        address: address.to_owned(),
        reason: reason.to_string(),
    }
}

impl Shard {
    /// Checks the address; connects nothing yet.
    pub(crate) fn new(
        address: &RedisAddress,
        cfg: &RedisEngineConfig,
    ) -> Result<Self, RedisEngineError> {
        let (shown, urls) = match address {
            RedisAddress::Standalone(url) => (url.clone(), vec![url.clone()]),
            RedisAddress::Cluster(seeds) => (seeds.join(","), seeds.clone()),
        };
        if urls.is_empty() {
            return Err(RedisEngineError::Config(
                "a redis cluster needs at least one seed address".to_owned(),
            ));
        }
        let pubsub = urls
            .iter()
            .map(|u| redis::Client::open(u.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RedisEngineError::Config(format!("{shown}: {e}")))?;
        Ok(Self {
            address: shown,
            kind: address.clone(),
            commands: OnceCell::new(),
            pubsub,
            next_pubsub: AtomicUsize::new(0),
            connect_timeout: cfg.connect_timeout,
            io_timeout: cfg.io_timeout,
        })
    }

    /// The command connection, connecting it first if needed (bounded by the
    /// connect timeout).
    pub(crate) async fn commands(&self) -> Result<Commands, RedisEngineError> {
        let connect = async {
            // Twice the connect timeout: the connection itself, plus the handshake.
            let deadline = self.connect_timeout * 2;
            let conn = match &self.kind {
                RedisAddress::Standalone(_) => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(self.connect_timeout))
                        .set_response_timeout(Some(self.io_timeout))
                        .set_number_of_retries(1)
                        .set_max_delay(Duration::from_secs(1));
                    let manager =
                        ConnectionManager::new_with_config(self.pubsub[0].clone(), config);
                    let manager = tokio::time::timeout(deadline, manager)
                        .await
                        .map_err(|_| connect_error(&self.address, "timed out"))?
                        .map_err(|e| connect_error(&self.address, e))?;
                    Commands::Single(manager)
                }
                RedisAddress::Cluster(seeds) => {
                    let client = ClusterClient::builder(seeds.clone())
                        .connection_timeout(self.connect_timeout)
                        .response_timeout(self.io_timeout)
                        .build()
                        .map_err(|e| RedisEngineError::Config(format!("{}: {e}", self.address)))?;
                    let conn = tokio::time::timeout(deadline, client.get_async_connection())
                        .await
                        .map_err(|_| connect_error(&self.address, "timed out"))?
                        .map_err(|e| connect_error(&self.address, e))?;
                    Commands::Cluster(conn)
                }
            };
            Ok::<_, RedisEngineError>(conn)
        };
        self.commands.get_or_try_init(|| connect).await.cloned()
    }

    async fn connection(&self) -> Result<Commands, BackendError> {
        self.commands()
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))
    }

    /// Runs a script, bounded by the IO timeout (plus a reconnect), so a call
    /// while Redis is down returns an error instead of waiting for it.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, BackendError> {
        let mut conn = self.connection().await?;
        tokio::time::timeout(
            self.io_timeout + self.connect_timeout,
            invocation.invoke_async(&mut conn),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| failed(&e))
    }

    /// Runs one command, bounded like [`Shard::invoke`].
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &Cmd,
    ) -> Result<T, BackendError> {
        let mut conn = self.connection().await?;
        tokio::time::timeout(
            self.io_timeout + self.connect_timeout,
            cmd.query_async(&mut conn),
        )
        .await
        .map_err(|_| timed_out())?
        .map_err(|e| failed(&e))
    }

    /// Opens a PUB/SUB connection (the next seed in turn for a cluster).
    pub(crate) async fn pubsub(&self) -> Result<PubSub, BackendError> {
        let i = self.next_pubsub.fetch_add(1, Ordering::Relaxed) % self.pubsub.len();
        tokio::time::timeout(self.connect_timeout * 2, self.pubsub[i].get_async_pubsub())
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| failed(&e))
    }

    pub(crate) fn io_timeout(&self) -> Duration {
        self.io_timeout
    }
}
