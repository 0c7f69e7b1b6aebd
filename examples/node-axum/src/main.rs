//! A Centrifugo-compatible chat backend: `chorus_node::Node` embedded in axum.
//!
//! Run with `cargo run -p example-node-axum` (set `ADDR` to listen elsewhere than
//! `127.0.0.1:8000`). The app is backend-only; any unmodified Centrifugo SDK
//! connects to `ws://127.0.0.1:8000/connection/websocket`. The connecting hook
//! sees the WebSocket upgrade request, so a browser's `session=<name>` cookie or a
//! `?user=<name>` query identifies the user; SDKs can also say who they are in the
//! connect data (demo rules standing in for a real session lookup):
//!
//! ```js
//! // centrifuge-js (JSON; `new Centrifuge(url, {protocol: "protobuf", ...})`
//! // with the protobuf build works too)
//! const client = new Centrifuge("ws://127.0.0.1:8000/connection/websocket", {
//!   data: { user: "alice" },
//! });
//! const sub = client.newSubscription("chat:room");     // only chat:* is allowed
//! sub.on("publication", (ctx) => console.log(ctx.data)); // {"user":..,"text":..}
//! sub.subscribe();
//! client.connect();
//! await sub.publish({ text: "hello" });                // rewritten with the sender
//! console.log((await client.rpc("time", {})).data);     // {"unix_ms":..}
//! ```
//!
//! centrifuge-go: `centrifuge.NewJsonClient(url, centrifuge.Config{Data:
//! []byte(`{"user":"alice"}`)})`; other SDKs have the same "connect data" option.
//!
//! Publish from the app's backend:
//!
//! ```sh
//! curl -X POST http://127.0.0.1:8000/publish \
//!   -H 'content-type: application/json' \
//!   -d '{"channel": "chat:room", "data": {"user": "server", "text": "hi all"}}'
//! ```

use std::time::Duration;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let node = example_node_axum::node();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(
        "Centrifugo clients: ws://{}/connection/websocket",
        listener.local_addr()?
    );
    axum::serve(listener, example_node_axum::app(node.clone()))
        .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
        .await?;
    // Connected clients get 3001 ("shutdown") and reconnect elsewhere.
    node.shutdown(Duration::from_secs(5)).await;
    tracing::info!("bye");
    Ok(())
}
