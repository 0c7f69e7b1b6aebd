//! The state every handler shares: the configuration, the node, the server's
//! metrics and the emulation sessions of this node.
//!
//! Building it is the server's start-up: the node is assembled from the
//! configuration ([`crate::node_setup`]) and told where commands forwarded by
//! other nodes for this node's emulated sessions go. Routers built from the
//! state only read it.

use std::sync::Arc;

use crate::backends::BackendConfigError;
use crate::config::ServerConfig;
use crate::metrics::ServerMetrics;
use crate::node_setup::NodeSetupError;
use crate::transport::emulation::{Sessions, forwarded_sink};

/// Shared state handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<ServerConfig>,
    /// The engine.
    pub node: chorus_node::Node,
    /// Prometheus metrics (API durations; the engine's counters are read from `node`).
    pub metrics: ServerMetrics,
    /// Emulated (HTTP-streaming and SSE) sessions of this node by id: the
    /// streaming handlers register them, `POST /emulation` and commands
    /// forwarded by other nodes find them here.
    pub sessions: Arc<Sessions>,
}

/// Why the server state cannot be built from a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The node cannot be assembled.
    #[error(transparent)]
    Node(#[from] NodeSetupError),
    /// The Redis addresses cannot be used as configured.
    #[error(transparent)]
    Backend(#[from] BackendConfigError),
    /// The metrics registry cannot be built.
    #[error("{0}")]
    Metrics(String),
}

impl AppState {
    /// State for a configuration, with its engine.
    ///
    /// # Errors
    /// Token keys, backends or proxies in the configuration that cannot be used.
    pub fn new(config: ServerConfig) -> Result<Self, StateError> {
        let node = crate::node_setup::build_node(&config)?;
        let sessions = Arc::<Sessions>::default();
        // Emulation requests that reach another node are forwarded to this one
        // through the broker; they go into the session registry shared with the
        // transports' routes.
        node.set_emulation_sink(forwarded_sink(Arc::clone(&sessions)));
        Ok(Self {
            config: Arc::new(config),
            node,
            metrics: ServerMetrics::new().map_err(|e| StateError::Metrics(e.to_string()))?,
            sessions,
        })
    }

    /// Like [`AppState::new`], first looking at the configured Redis servers
    /// (a plain `address` may be a Redis Cluster node, detected as Centrifugo
    /// does: [`crate::backends::detect_redis_clusters`]). What `chorus` runs.
    ///
    /// # Errors
    /// As [`AppState::new`], and Redis addresses that mix clusters and servers.
    pub async fn start(mut config: ServerConfig) -> Result<Self, StateError> {
        crate::backends::detect_redis_clusters(&mut config).await?;
        Self::new(config)
    }
}
