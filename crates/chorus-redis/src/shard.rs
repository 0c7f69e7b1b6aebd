//! Connections to one shard: a command connection shared by all callers
//! (multiplexed, reconnecting by itself) and the means to open PUB/SUB
//! connections for the subscriber task.
//!
//! A standalone server's and a cluster's command connection reconnect by
//! themselves. A master found through Sentinel may move (failover), so its
//! connection is dropped when a call on it fails with a connection error (or
//! `READONLY`: the old master came back as a replica), and the next call looks
//! the master up again.

use crate::config::{RedisAddress, RedisEngineConfig, RedisTls};
use crate::error::{RedisEngineError, failed, timed_out};
use crate::sentinel::SentinelResolver;
use crate::topology::SlotMap;
use chorus_node::BackendError;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    Cmd, ConnectionAddr, ErrorKind, Pipeline, RedisError, RedisFuture, ScriptInvocation,
    ServerErrorKind, Value,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

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

/// A shard's PUB/SUB connections: one, or one per cluster master with the map
/// saying which serves a slot.
pub(crate) struct PubSubSet {
    pub(crate) connections: Vec<PubSub>,
    pub(crate) slots: Option<SlotMap>,
}

/// Where a shard's connections go.
enum Target {
    /// One server.
    Standalone(redis::Client),
    /// A cluster: its seeds for the command connection, and a client per seed,
    /// whose settings the PUB/SUB connections to each master copy (and which
    /// serve, in turn, as the fallback when the topology cannot be read).
    Cluster {
        seeds: Vec<String>,
        pubsub: Vec<redis::Client>,
    },
    /// The master the sentinels name at the time of connecting.
    Sentinel(SentinelResolver),
}

/// One shard.
pub(crate) struct Shard {
    pub(crate) address: String,
    target: Target,
    // The command connection and its generation (so a failure on an old
    // connection does not drop a newer one). Connected on first use (or by
    // `RedisEngine::connect`, which fails fast); a failed attempt is not stored,
    // so the next call tries again. A std mutex: only read or replaced, never
    // held across `.await`.
    commands: Mutex<Option<(u64, Commands)>>,
    // Serializes connecting, so concurrent first callers share one attempt.
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
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

/// Whether an error says the connection (or the server behind it) is gone or
/// no longer the master.
fn connection_lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

/// A credential-free form of an address for logs and errors.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{host}")
        }
        None => url.rsplit_once('@').map_or(url, |(_, h)| h).to_owned(),
    }
}

/// Whether an address talks TLS anywhere.
fn uses_tls(address: &RedisAddress) -> bool {
    let tls = |url: &String| url.starts_with("rediss://");
    match address {
        RedisAddress::Standalone(url) => tls(url),
        RedisAddress::Cluster(seeds) => seeds.iter().any(tls),
        RedisAddress::Sentinel {
            sentinels, master, ..
        } => master.tls != RedisTls::Off || sentinels.iter().any(tls),
    }
}

/// rustls needs a process-wide crypto provider, which an application embedding
/// the engine may not have (the `chorus` server gets one through its other TLS
/// users). Installs ring's only when none is installed, so an application's own
/// choice stands.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one meanwhile: fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl Shard {
    /// Checks the address; connects nothing yet.
    pub(crate) fn new(
        address: &RedisAddress,
        cfg: &RedisEngineConfig,
    ) -> Result<Self, RedisEngineError> {
        if uses_tls(address) {
            ensure_crypto_provider();
        }
        let open = |url: &str| {
            redis::Client::open(url)
                .map_err(|e| RedisEngineError::Config(format!("{}: {e}", redacted(url))))
        };
        let (shown, target) = match address {
            RedisAddress::Standalone(url) => (redacted(url), Target::Standalone(open(url)?)),
            RedisAddress::Cluster(seeds) => {
                if seeds.is_empty() {
                    return Err(RedisEngineError::Config(
                        "a redis cluster needs at least one seed address".to_owned(),
                    ));
                }
                let pubsub = seeds.iter().map(|u| open(u)).collect::<Result<_, _>>()?;
                let shown = seeds.iter().map(|u| redacted(u)).collect::<Vec<_>>();
                (
                    shown.join(","),
                    Target::Cluster {
                        seeds: seeds.clone(),
                        pubsub,
                    },
                )
            }
            RedisAddress::Sentinel {
                master_name,
                sentinels,
                master,
            } => {
                let list = sentinels.iter().map(|u| redacted(u)).collect::<Vec<_>>();
                (
                    format!("{master_name} via sentinels {}", list.join(",")),
                    Target::Sentinel(SentinelResolver::new(master_name, sentinels, master)?),
                )
            }
        };
        Ok(Self {
            address: shown,
            target,
            commands: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            next_pubsub: AtomicUsize::new(0),
            connect_timeout: cfg.connect_timeout,
            io_timeout: cfg.io_timeout,
        })
    }

    fn current(&self) -> Option<(u64, Commands)> {
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops the command connection of `generation` (Sentinel only: the others
    /// reconnect by themselves), so the next call looks the master up again.
    fn forget(&self, generation: u64) {
        if !matches!(self.target, Target::Sentinel(_)) {
            return;
        }
        let mut slot = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            *slot = None;
        }
    }

    /// The command connection, connecting it first if needed (bounded by the
    /// connect timeout).
    pub(crate) async fn commands(&self) -> Result<Commands, RedisEngineError> {
        self.current_or_connect().await.map(|(_, c)| c)
    }

    async fn current_or_connect(&self) -> Result<(u64, Commands), RedisEngineError> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(current) = self.current() {
            return Ok(current);
        }
        // Twice the connect timeout: the connection itself, plus the handshake
        // (and, through Sentinel, once more for the lookup).
        let deadline = match self.target {
            Target::Sentinel(_) => self.connect_timeout * 3,
            _ => self.connect_timeout * 2,
        };
        let conn = tokio::time::timeout(deadline, self.connect())
            .await
            .map_err(|_| connect_error(&self.address, "timed out"))??;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        *self.commands.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    async fn connect(&self) -> Result<Commands, RedisEngineError> {
        let manager = |client: redis::Client| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_response_timeout(Some(self.io_timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_secs(1));
            ConnectionManager::new_with_config(client, config)
        };
        match &self.target {
            Target::Standalone(client) => manager(client.clone())
                .await
                .map(Commands::Single)
                .map_err(|e| connect_error(&self.address, e)),
            Target::Cluster { seeds, .. } => {
                let client = ClusterClient::builder(seeds.clone())
                    .connection_timeout(self.connect_timeout)
                    .response_timeout(self.io_timeout)
                    .build()
                    .map_err(|e| RedisEngineError::Config(format!("{}: {e}", self.address)))?;
                client
                    .get_async_connection()
                    .await
                    .map(Commands::Cluster)
                    .map_err(|e| connect_error(&self.address, e))
            }
            Target::Sentinel(sentinel) => {
                let client = sentinel
                    .master()
                    .await
                    .map_err(|e| connect_error(&self.address, e))?;
                manager(client)
                    .await
                    .map(Commands::Single)
                    .map_err(|e| connect_error(&self.address, e))
            }
        }
    }

    async fn connection(&self) -> Result<(u64, Commands), BackendError> {
        self.current_or_connect()
            .await
            .map_err(|e| BackendError::Failed(e.to_string()))
    }

    /// Bounds one call by the IO timeout (plus a reconnect), so a call while
    /// Redis is down returns an error instead of waiting for it.
    async fn bounded<T>(
        &self,
        generation: u64,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BackendError> {
        match tokio::time::timeout(self.io_timeout + self.connect_timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if connection_lost(&e) {
                    self.forget(generation);
                }
                Err(failed(&e))
            }
            Err(_) => {
                self.forget(generation);
                Err(timed_out())
            }
        }
    }

    /// Runs a script, bounded like every call (see [`Shard::query`]).
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, BackendError> {
        let (generation, mut conn) = self.connection().await?;
        self.bounded(generation, invocation.invoke_async(&mut conn))
            .await
    }

    /// Runs one command, bounded by the IO timeout (plus a reconnect).
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &Cmd,
    ) -> Result<T, BackendError> {
        let (generation, mut conn) = self.connection().await?;
        self.bounded(generation, cmd.query_async(&mut conn)).await
    }

    /// Opens this shard's PUB/SUB connections: one to the server (or to the
    /// master the sentinels name now); for a cluster, one per master with the
    /// map of which master serves each slot (see [`crate::topology`]).
    ///
    /// When the cluster's topology cannot be read, falls back to one connection
    /// to the next seed in turn, without a map: delivery still works (the bus
    /// carries every message to every node), only the subscribe barrier is
    /// weaker, and a warning says so.
    pub(crate) async fn pubsub(&self) -> Result<PubSubSet, BackendError> {
        // A connection and its handshake; once more for the sentinel lookup or
        // the cluster's topology.
        let deadline = match self.target {
            Target::Standalone(_) => self.connect_timeout * 2,
            _ => self.connect_timeout * 3,
        };
        let open = async {
            let client = match &self.target {
                Target::Standalone(client) => client.clone(),
                Target::Sentinel(sentinel) => sentinel.master().await?,
                Target::Cluster { pubsub, .. } => match self.slot_map().await {
                    Ok(slots) => return self.open_masters(&pubsub[0], slots).await,
                    Err(e) => {
                        tracing::warn!(shard = %self.address, error = %e, "redis cluster topology unknown; pub/sub on one seed, without the per-master subscribe barrier");
                        let i = self.next_pubsub.fetch_add(1, Ordering::Relaxed) % pubsub.len();
                        pubsub[i].clone()
                    }
                },
            };
            Ok(PubSubSet {
                connections: vec![client.get_async_pubsub().await?],
                slots: None,
            })
        };
        tokio::time::timeout(deadline, open)
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| failed(&e))
    }

    /// The cluster's current slot map (`CLUSTER SLOTS` through the command
    /// connection).
    pub(crate) async fn slot_map(&self) -> Result<SlotMap, BackendError> {
        let reply: Value = self.query(redis::cmd("CLUSTER").arg("SLOTS")).await?;
        SlotMap::parse(&reply).map_err(BackendError::Failed)
    }

    /// One PUB/SUB connection per master, with the seed's credentials and TLS
    /// settings.
    async fn open_masters(
        &self,
        seed: &redis::Client,
        slots: SlotMap,
    ) -> redis::RedisResult<PubSubSet> {
        let mut connections = Vec::with_capacity(slots.masters().len());
        for master in slots.masters() {
            let info = seed.get_connection_info().clone();
            let addr = match info.addr() {
                ConnectionAddr::TcpTls {
                    insecure,
                    tls_params,
                    ..
                } => ConnectionAddr::TcpTls {
                    host: master.host.clone(),
                    port: master.port,
                    insecure: *insecure,
                    tls_params: tls_params.clone(),
                },
                _ => ConnectionAddr::Tcp(master.host.clone(), master.port),
            };
            let client = redis::Client::open(info.set_addr(addr))?;
            connections.push(client.get_async_pubsub().await?);
        }
        Ok(PubSubSet {
            connections,
            slots: Some(slots),
        })
    }

    pub(crate) fn io_timeout(&self) -> Duration {
        self.io_timeout
    }
}
