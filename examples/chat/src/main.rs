//! Chat rooms in the browser.
//!
//! Run with `cargo run -p example-chat`, then open <http://127.0.0.1:5000/> in two
//! tabs (add `?room=games` to pick a room). Set `ADDR` to listen elsewhere.

use std::time::Duration;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let hub = example_chat::hub();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:5000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("chat on http://{}/", listener.local_addr()?);
    let app = example_chat::app(hub.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
    .await?;
    let report = hub.shutdown(Duration::from_secs(5)).await;
    tracing::info!(forced = report.forced, "bye");
    Ok(())
}
