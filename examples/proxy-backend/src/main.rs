//! Runs the example backend on 127.0.0.1:3000 (or `PORT`), with two demo
//! sessions: cookie `session=alice-session` (alice) and `session=bob-session`
//! (bob). Start chorus with `examples/proxy-backend/config.json` next to it.

use example_proxy_backend::{Sessions, app};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().init();
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let sessions = Sessions::new([("alice-session", "alice"), ("bob-session", "bob")]);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    tracing::info!("proxy backend on http://{}", listener.local_addr()?);
    axum::serve(listener, app(sessions)).await
}
