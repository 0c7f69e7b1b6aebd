//! Melody-style echo server on plain hyper (no framework): every text or binary
//! message is written back to the session that sent it.
//!
//! Run with `cargo run -p example-echo`, then connect any WebSocket client to
//! `ws://127.0.0.1:5001/ws` (for example `websocat ws://127.0.0.1:5001/ws`).
//! Set `ADDR` to listen elsewhere.

use bytes::Bytes;
use chorus_hub::{Hub, HubBody, OriginPolicy};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;

fn route(hub: &Hub, req: Request<Incoming>, peer: SocketAddr) -> Response<HubBody> {
    if req.uri().path() == "/ws" {
        return hub.upgrade(req).remote_addr(peer).accept();
    }
    let mut res = Response::new(Full::new(Bytes::from_static(
        b"connect a WebSocket client to /ws\n",
    )));
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let hub = Hub::builder()
        .config(chorus_hub::Config::default().allowed_origins(OriginPolicy::Any))
        .on_connect(|s| tracing::info!(id = %s.id(), peer = ?s.remote_addr(), "connected"))
        .on_message(|s, text| {
            let _ = s.write(text);
        })
        .on_message_binary(|s, data| {
            let _ = s.write_binary(data);
        })
        .on_disconnect(|s, close| tracing::info!(id = %s.id(), code = %close.code, "disconnected"))
        .build();

    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:5001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("echo server on ws://{}/ws", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let res = route(&hub, req, peer);
                async move { Ok::<_, Infallible>(res) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection error");
            }
        });
    }
}
