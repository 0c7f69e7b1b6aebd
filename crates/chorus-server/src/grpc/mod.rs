//! gRPC listeners, each on its own port: the server API (`grpc_api`, [`api`],
//! default port 10000) and the unidirectional transport (`uni_grpc`, [`uni`],
//! default port 11000).
//!
//! Each listener is a plain HTTP/2 gRPC server (no TLS; validation refuses
//! `tls.enabled`) that stops accepting when its shutdown future completes and
//! then lets in-flight calls finish (`uni_grpc` streams end when the node
//! shuts down and disconnects their clients).

pub mod api;
mod convert;
pub mod uni;

use std::future::Future;

use chorus_node::Node;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::config::{GrpcApiConfig, UniGrpcConfig};

pub use api::GrpcApi;
pub use uni::UniGrpc;

/// A gRPC server failed.
#[derive(Debug, thiserror::Error)]
#[error("gRPC server error: {0}")]
pub struct GrpcServeError(#[from] tonic::transport::Error);

/// Serves the gRPC API for `node` on `listener` until `shutdown` completes,
/// then waits for in-flight calls.
///
/// # Errors
/// The server failed (accepting or serving connections).
pub async fn serve_api(
    listener: TcpListener,
    node: Node,
    config: &GrpcApiConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GrpcServeError> {
    let service = GrpcApi::new(node, config).into_server(config);
    Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}

/// Serves `uni_grpc` for `node` on `listener` until `shutdown` completes, then
/// waits for open streams (they end when their connections do).
///
/// # Errors
/// The server failed (accepting or serving connections).
pub async fn serve_uni(
    listener: TcpListener,
    node: Node,
    config: &UniGrpcConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GrpcServeError> {
    let service = UniGrpc::new(node).into_server(config);
    Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn log_listening(listener: &TcpListener, what: &'static str) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "{what} listening");
    }
}

/// [`serve_api`] as a task of the server (`server::run_with`): logs the
/// address, stops when `stop` turns true.
pub(crate) async fn run_api(
    listener: TcpListener,
    node: Node,
    config: GrpcApiConfig,
    stop: watch::Receiver<bool>,
) -> Result<(), GrpcServeError> {
    log_listening(&listener, "gRPC API");
    if config.key.is_empty() {
        tracing::info!("grpc_api.key is empty: gRPC API calls are not authenticated");
    }
    serve_api(listener, node, &config, stopped(stop)).await
}

/// [`serve_uni`] as a task of the server (`server::run_with`).
pub(crate) async fn run_uni(
    listener: TcpListener,
    node: Node,
    config: UniGrpcConfig,
    stop: watch::Receiver<bool>,
) -> Result<(), GrpcServeError> {
    log_listening(&listener, "uni_grpc");
    serve_uni(listener, node, &config, stopped(stop)).await
}
