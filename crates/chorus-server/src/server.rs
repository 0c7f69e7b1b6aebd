//! The HTTP server: listeners, router and graceful shutdown.
//!
//! Client-facing routes go in [`external_router`], internal ones (API,
//! metrics, health, admin) in [`internal_router`]. When
//! `http_server.internal_port` is set the two are served on separate ports,
//! otherwise [`router`] merges them on `http_server.port`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{InternalPort, ServerConfig};
use crate::state::AppState;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    /// The configuration cannot be used to build the engine.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Facts about how the server was started, used for start-up messages.
#[derive(Debug, Clone, Default)]
pub struct StartInfo {
    /// The config file that was read; `None` when running on defaults.
    pub config_file: Option<PathBuf>,
}

/// Client-facing routes: the transports (and the HTTP API when `http_api.external`).
pub fn external_router(state: AppState) -> Router {
    let mut router = Router::new();
    if !state.config.websocket.disabled {
        router = router.route(
            &state.config.websocket.handler_prefix,
            get(crate::transport::websocket::handler),
        );
    }
    let api = api_router(&state).filter(|_| state.config.http_api.external);
    let transports = crate::transport::routes(&state);
    let rate = state.config.client.connection_rate_limit;
    let admin = (state.config.admin.enabled && state.config.admin.external)
        .then(|| crate::admin::router(&state));
    let router = router.with_state(state).merge(transports);
    let mut router = crate::limits::with_connection_rate_limit(router, rate);
    if let Some(admin) = admin {
        router = router.merge(admin);
    }
    match api {
        Some(api) => router.merge(api),
        None => router,
    }
}

fn api_router(state: &AppState) -> Option<Router> {
    (!state.config.http_api.disabled).then(|| {
        crate::api::router(state.node.clone(), &state.config.http_api).layer(
            axum::middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::track_api),
        )
    })
}

/// Internal routes: health now; API, admin and metrics later.
pub fn internal_router(state: AppState) -> Router {
    let mut router = Router::new();
    if state.config.health.enabled {
        router = router.route(&state.config.health.handler_prefix, get(health));
    }
    if state.config.prometheus.enabled {
        router = router.route(
            &state.config.prometheus.handler_prefix,
            get(crate::metrics::handler),
        );
    }
    let api = api_router(&state).filter(|_| !state.config.http_api.external);
    let admin = (state.config.admin.enabled && !state.config.admin.external)
        .then(|| crate::admin::router(&state));
    let mut router = router.with_state(state);
    if let Some(admin) = admin {
        router = router.merge(admin);
    }
    match api {
        Some(api) => router.merge(api),
        None => router,
    }
}

/// All routes on one port.
pub fn router(state: AppState) -> Router {
    external_router(state.clone()).merge(internal_router(state))
}

/// `200 {}`, or `503 {}` while the broker is unreachable (`Broker::healthy`).
async fn health(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> (axum::http::StatusCode, Json<serde_json::Value>) {
    let status = if state.node.healthy().await {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({})))
}

/// Runs the server until `shutdown` completes, then shuts down gracefully
/// (bounded by `shutdown.timeout`). Assumes no config file was read.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    run_with(config, StartInfo::default(), shutdown).await
}

/// Like [`run`], with start-up facts for friendlier log messages.
pub async fn run_with(
    config: ServerConfig,
    info: StartInfo,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = Box::pin(AppState::start(config))
        .await
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let cfg = Arc::clone(&state.config);
    let main_addr = listen_addr(&cfg.http_server.address, cfg.http_server.port);
    let main = bind(&main_addr).await?;
    let internal = match &cfg.http_server.internal_port {
        InternalPort::Unset => None,
        &InternalPort::Port(port) => {
            let addr = if cfg.http_server.internal_address.is_empty() {
                &cfg.http_server.address
            } else {
                &cfg.http_server.internal_address
            };
            Some(bind(&listen_addr(addr, port)).await?)
        }
        InternalPort::Invalid(text) => {
            return Err(ServeError::Bind {
                addr: text.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad internal_port"),
            });
        }
    };
    let grpc_api = if cfg.grpc_api.enabled {
        Some(bind(&listen_addr(&cfg.grpc_api.address, cfg.grpc_api.port)).await?)
    } else {
        None
    };
    let uni_grpc = if cfg.uni_grpc.enabled {
        Some(bind(&listen_addr(&cfg.uni_grpc.address, cfg.uni_grpc.port)).await?)
    } else {
        None
    };

    log_start(&cfg, &info, &main, internal.as_ref());
    let consumers = Box::pin(crate::consumers::start(&state)).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let timeout = cfg.shutdown.timeout.to_std().unwrap_or_default();
    let mut tasks = tokio::task::JoinSet::new();
    match internal {
        None => {
            tasks.spawn(serve_one(main, router(state.clone()), stop_rx.clone()));
        }
        Some(internal) => {
            tasks.spawn(serve_one(
                main,
                external_router(state.clone()),
                stop_rx.clone(),
            ));
            tasks.spawn(serve_one(
                internal,
                internal_router(state.clone()),
                stop_rx.clone(),
            ));
        }
    }

    if let Some(listener) = grpc_api {
        let (node, grpc, stop) = (state.node.clone(), cfg.grpc_api.clone(), stop_rx.clone());
        tasks.spawn(async move {
            crate::grpc::run_api(listener, node, grpc, stop)
                .await
                .map_err(|e| ServeError::Serve(std::io::Error::other(e)))
        });
    }
    if let Some(listener) = uni_grpc {
        let (node, uni, stop) = (state.node.clone(), cfg.uni_grpc.clone(), stop_rx.clone());
        tasks.spawn(async move {
            crate::grpc::run_uni(listener, node, uni, stop)
                .await
                .map_err(|e| ServeError::Serve(std::io::Error::other(e)))
        });
    }

    let mut shutdown = std::pin::pin!(shutdown);
    let mut result = Ok(());
    tokio::select! {
        () = &mut shutdown => {}
        Some(joined) = tasks.join_next() => {
            // A server task ended on its own: that is an error.
            result = joined.unwrap_or_else(|e| Err(ServeError::Serve(std::io::Error::other(e))));
        }
    }
    tracing::info!("shutting down");
    // Consumers first: their batches under way finish while the node still
    // delivers.
    if let Some(consumers) = consumers {
        consumers.shutdown().await;
    }
    let _ = stop_tx.send(true);
    // `shutdown.timeout` bounds the whole sequence, not each phase: clients get
    // 3001 ("shutdown", reconnect elsewhere; spread over
    // `shutdown.disconnect_spread`, lame duck) while the HTTP servers finish
    // their requests, and whatever is left at the deadline is cut (a stalled
    // request or a frozen Redis must not hold the process).
    let spread = cfg.shutdown.disconnect_spread.to_std().unwrap_or_default();
    let node = state.node.clone();
    let sequence = async {
        let drain = async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok(Err(e)) = joined {
                    tracing::warn!(error = %e, "server task failed during shutdown");
                }
            }
        };
        tokio::join!(Box::pin(node.shutdown_gradually(timeout, spread)), drain);
    };
    if tokio::time::timeout(timeout, Box::pin(sequence))
        .await
        .is_err()
    {
        tracing::warn!(
            ?timeout,
            "graceful shutdown timed out; closing remaining connections"
        );
    }
    // Dropping the set aborts the server tasks still running, and with them
    // their connections.
    drop(tasks);
    tracing::info!("server stopped");
    result
}

fn listen_addr(address: &str, port: u16) -> String {
    let host = if address.is_empty() {
        "0.0.0.0"
    } else {
        address
    };
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

async fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

async fn serve_one(
    listener: TcpListener,
    router: Router,
    stop: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let timeouts = crate::http_serve::HttpTimeouts::default();
    crate::http_serve::serve(listener, router, stop, timeouts)
        .await
        .map_err(ServeError::Serve)
}

fn log_start(
    cfg: &ServerConfig,
    info: &StartInfo,
    main: &TcpListener,
    internal: Option<&TcpListener>,
) {
    let local = |l: &TcpListener| {
        l.local_addr()
            .map_or_else(|_| "?".to_owned(), |a: SocketAddr| a.to_string())
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        engine = %cfg.engine.kind,
        addr = %local(main),
        internal_addr = internal.map(local),
        "chorus server started"
    );
    if info.config_file.is_none() {
        tracing::info!(
            "no configuration file found, running with defaults; run `chorus genconfig` to create \
             config.json with generated secrets, then `chorus gentoken -u <user>` to make a \
             connection token"
        );
    }
    if !cfg.client.token.has_key() && !cfg.client.insecure {
        tracing::info!(
            "client.token has no key: clients cannot authenticate with tokens \
             (set client.token.hmac_secret_key or use `chorus genconfig`)"
        );
    }
    if cfg.client.insecure {
        tracing::warn!("client.insecure is on: every client can do anything (development only)");
    }
    if !cfg.http_api.disabled && !cfg.http_api.insecure && cfg.http_api.key.is_empty() {
        tracing::info!(
            "http_api.key is empty: every server API request is refused with 401 \
             (set http_api.key, or http_api.insecure for development)"
        );
    }
}
