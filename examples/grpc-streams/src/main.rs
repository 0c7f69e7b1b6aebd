//! Serves the example's `ChannelStreams` gRPC service over an embedded
//! chorus-node on `127.0.0.1:50051` (or the address in `GRPC_ADDR`).
//!
//! Try it with grpcurl (no reflection: pass the proto):
//!
//! ```text
//! grpcurl -plaintext -import-path proto -proto streams.proto \
//!   -d '{"channel": "room:1"}' 127.0.0.1:50051 chorus.examples.streams.ChannelStreams/Watch
//! grpcurl -plaintext -import-path proto -proto streams.proto \
//!   -d '{"channel": "room:1", "data": "eyJ0ZXh0IjoiaGkifQ=="}' \
//!   127.0.0.1:50051 chorus.examples.streams.ChannelStreams/PublishAll
//! ```

use std::error::Error;

use example_grpc_streams::{Streams, node};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt().init();
    let addr = std::env::var("GRPC_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:50051".to_owned())
        .parse()?;
    let node = node();
    tracing::info!(%addr, "gRPC streams example listening");
    tonic::transport::Server::builder()
        .add_service(Streams::new(node.clone()).into_server())
        .serve_with_shutdown(addr, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    node.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
