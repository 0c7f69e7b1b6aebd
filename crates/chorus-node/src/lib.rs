//! # chorus-node
//!
//! The Chorus engine: the Centrifugo client protocol state machine (connect,
//! subscribe, publish, presence, history, RPC, refresh, ping/pong), channels and
//! namespaces with Centrifugo's permission rules, and the server-side API, over
//! pluggable backends ([`Broker`], [`PresenceManager`], [`TokenVerifier`]) with
//! in-memory implementations.
//!
//! It is a library: the `chorus` server is one user, and any axum or hyper app can
//! embed it, register hooks and carry connections over its own transports by
//! implementing [`FrameIo`].
//!
//! ```
//! use bytes::Bytes;
//! use chorus_node::{ClientError, Node, NodeConfig, HandlerError};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let node = Node::builder(NodeConfig::default())
//!     // Who may connect without a token: everyone, as user "guest".
//!     .on_connecting(|_event| async { Ok(chorus_node::ConnectGrant::user("guest")) })
//!     // RPC: echo, or 104 for unknown methods.
//!     .on_rpc(|event| async move {
//!         match event.method.as_str() {
//!             "echo" => Ok(event.data),
//!             _ => Err(HandlerError::Error(ClientError::MethodNotFound)),
//!         }
//!     })
//!     .build();
//! node.publish("news", Bytes::from_static(b"{}"), Default::default()).await.unwrap();
//! # }
//! ```
//!
//! ## Embedding in axum
//!
//! With the `axum` feature, the `websocket` module serves Centrifugo clients from
//! any axum app, like Centrifuge's `NewWebsocketHandler`: build a [`Node`] with
//! your hooks, then call `websocket::accept_websocket(&node, upgrade, query,
//! &options)` from a handler that extracts axum's `WebSocketUpgrade` (check the
//! request's `Origin` there first if browsers connect). Every Centrifugo SDK
//! (centrifuge-js, -go, -swift…) then talks to your app unmodified. The module
//! documentation has a complete example.
//!
//! ```toml
//! chorus-node = { version = "0.1", features = ["axum"] }
//! ```
//!
//! ## Concurrency
//!
//! Each connection is one task that owns its client state. Other tasks reach a
//! client only through its byte-bounded outbound queue (publications, encoded once
//! per wire format and shared) and a control channel (API subscribe, unsubscribe,
//! disconnect, refresh). No `std` lock is held across `.await`; the only lock
//! that is, a per-channel async one, orders the broker subscribe of a channel's
//! first local subscriber against the unsubscribe of its last.

mod auth;
mod broker;
mod channel;
mod client;
mod clock;
mod cluster;
mod config;
mod connections;
mod delta;
mod error;
mod filter;
mod handlers;
mod limits;
pub mod memory;
pub mod metrics;
mod node;
mod ordering;
mod positions;
mod presence;
mod query;
mod queue;
mod registry;
mod shutdown;
mod throttle;
mod transport;
mod view;
#[cfg(feature = "axum")]
pub mod websocket;

pub use auth::{
    ConnectGrant, ServerSubscription, SubscribeGrant, SubscribeOverride, TokenError, TokenVerifier,
};
pub use broker::{
    Broker, BrokerEvents, HistoryFilter, HistoryResult, PublishOptions, PublishResult,
    StreamPosition,
};
pub use channel::{ChannelOptions, ChannelRules, DataFormat, RecoveryMode, ResolvedChannel};
pub use client::{
    InvalidConnectRequest, TransportInfo, UpgradeRequest, parse_uni_connect,
    uni_connect_error_disconnect,
};
pub use cluster::EmulationSink;
pub use config::{ClientConfig, NodeConfig};
pub use connections::ConnectionInfo;
pub use error::{ApiError, BackendError, ClientError, Disconnect};
pub use handlers::{
    ClientContext, ConnectingEvent, DisconnectEvent, HandlerError, MessageEvent, PublishEvent,
    PublishReply, RefreshEvent, RefreshReply, RpcEvent, SubRefreshEvent, SubRefreshReply,
    SubscribeEvent, SubscribeReply,
};
pub use limits::{CommandRateLimits, RateBucket};
pub use node::{
    ApiPublish, Node, NodeBuilder, NodeInfo, ServerRefresh, ServerSubscribe, glob_match,
};
pub use presence::{PresenceManager, PresenceStats};
pub use transport::{FrameIo, TransportError};
