//! Per-session state and broadcast filters over WebSocket.
//!
//! Run with `cargo run -p example-topics`, connect two clients to
//! `ws://127.0.0.1:5002/ws` (e.g. with `websocat`), send `/follow news` in one and
//! `#news hello` in the other. Set `ADDR` to listen elsewhere.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:5002".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("topics on ws://{}/ws", listener.local_addr()?);
    axum::serve(listener, example_topics::app(example_topics::hub())).await
}
