//! # chorus-hub
//!
//! An embeddable WebSocket hub for Rust applications: everything Go's
//! [Melody](https://github.com/olahol/melody) offers — connect, disconnect, message,
//! error, pong, close and sent handlers, `broadcast`, `broadcast_others`,
//! `broadcast_filter`, `broadcast_multiple`, per-session key-value state,
//! `sessions()`, `close`, `is_closed` — plus what Melody lacks:
//!
//! * **Rooms**: [`Session::join`], [`Session::leave`], [`Hub::broadcast_to_room`],
//!   automatic leave on disconnect, empty rooms pruned; a room broadcast costs the
//!   size of the room.
//! * **Byte-bounded outbound queues**: each session's queue is bounded in bytes
//!   ([`Config::max_queued_bytes`]). Overflow never drops silently and never blocks
//!   the sender: the slow session is closed with [`CloseCode::SLOW_CONSUMER`]
//!   (3008, reason `"slow consumer"`), the error handler runs, and
//!   [`HubStats::slow_consumer_closes`] counts it.
//! * **Encode once**: a broadcast payload is shared by every recipient queue
//!   (reference-counted), never copied per session.
//! * **Graceful shutdown**: [`Hub::shutdown`] closes every session with 1001 after
//!   its queued messages and waits for the closing handshakes up to a deadline.
//! * **Frugal memory**: one task per connection and a 4 KiB read buffer
//!   (tungstenite's default of 128 KiB would cost that much per idle connection).
//! * **Bad input is contained**: oversized messages close with 1009, invalid UTF-8
//!   with 1007, refused origins get 403 before any upgrade; other sessions never
//!   notice.
//!
//! ## With axum
//!
//! ```no_run
//! use axum::{Router, extract::State, routing::get, response::IntoResponse};
//! use chorus_hub::{Hub, HubUpgrade};
//!
//! async fn ws(State(hub): State<Hub>, upgrade: HubUpgrade) -> impl IntoResponse {
//!     upgrade.accept(&hub)
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     // Every text message goes to everyone; `Session::hub` reaches the hub.
//!     let hub = Hub::builder()
//!         .on_message(|session, text| {
//!             session.hub().broadcast(text);
//!         })
//!         .build();
//!
//!     let app = Router::new().route("/ws", get(ws)).with_state(hub);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await.unwrap();
//!     axum::serve(listener, app).await.unwrap();
//! }
//! ```
//!
//! ## With plain hyper
//!
//! [`Hub::handle_request`] takes any `http::Request` whose connection hyper can
//! upgrade, so it plugs into a bare `hyper` service:
//!
//! ```no_run
//! use chorus_hub::Hub;
//! use hyper::service::service_fn;
//! use hyper_util::rt::{TokioExecutor, TokioIo};
//! use std::convert::Infallible;
//!
//! # async fn run() -> std::io::Result<()> {
//! let hub = Hub::builder().on_message(|s, text| { let _ = s.write(text); }).build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! loop {
//!     let (stream, peer) = listener.accept().await?;
//!     let hub = hub.clone();
//!     tokio::spawn(async move {
//!         let service = service_fn(move |req| {
//!             let res = hub.upgrade(req).remote_addr(peer).accept();
//!             async move { Ok::<_, Infallible>(res) }
//!         });
//!         let _ = hyper::server::conn::http1::Builder::new()
//!             .serve_connection(TokioIo::new(stream), service)
//!             .with_upgrades()
//!             .await;
//!     });
//! }
//! # }
//! ```
//!
//! ## Sessions, state and rooms
//!
//! ```
//! use chorus_hub::Hub;
//!
//! let hub = Hub::builder()
//!     .on_connect(|s| {
//!         // Key-value state, typed on the way out.
//!         let name = s.query_param("name").unwrap_or_else(|| format!("guest-{}", s.id()));
//!         s.set("name", name);
//!         s.join("lobby");
//!     })
//!     .on_message(|s, text| {
//!         let name: String = s.get("name").unwrap_or_default();
//!         let _ = s.write(format!("{name}: {text}"));
//!     })
//!     .build();
//! assert!(hub.rooms().is_empty());
//! ```
//!
//! ## Concurrency contract
//!
//! Handlers are synchronous and run on the session's own task, in event order. They
//! may call any hub or session method (writes only queue). A handler must not block;
//! spawn a task for slow work. No lock of the hub is held while user code runs.

mod config;
mod conn;
mod error;
mod handlers;
mod hub;
mod message;
mod queue;
mod rooms;
mod session;
mod stats;
mod upgrade;

#[cfg(feature = "axum")]
mod axum;

#[cfg(feature = "axum")]
pub use crate::axum::HubUpgrade;
pub use config::{Config, OriginPolicy};
pub use error::{CloseCode, ConfigError, SLOW_CONSUMER_REASON, SessionError, WriteError};
pub use hub::{Hub, HubBuilder, ShutdownReport};
pub use message::{CloseFrame, Text};
pub use session::{Session, SessionId};
pub use stats::{Delivery, HubStats};
pub use upgrade::{HubBody, Upgrade};
