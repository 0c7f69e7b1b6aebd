//! # chorus-server
//!
//! The foundation of the Chorus server binary (`chorus`), a real-time
//! messaging server compatible with Centrifugo v6:
//!
//! * [`config`] — Centrifugo v6 configuration: typed sections with the
//!   documented defaults, JSON/YAML/TOML files, `CENTRIFUGO_*` / `CHORUS_*`
//!   environment overrides, unknown-key reporting and validation that lists
//!   every problem at once.
//! * [`auth`] — JWT verification of connection and subscription tokens
//!   (HMAC, RSA, ECDSA, JWKS) and token generation helpers.
//! * [`server`] — the HTTP server, its router and graceful shutdown.
//! * [`http_serve`] — the accept loop under it: header-read and request-body
//!   timeouts.
//! * [`state`] — the state shared by every handler, built at start-up.
//! * [`grpc`] — the gRPC server API (`grpc_api`) and the `uni_grpc`
//!   transport, each on its own listener.
//! * [`cli`] — the command-line definition of the `chorus` binary.
//! * [`logging`] — `tracing` subscriber set-up.
//!
//! ## Example
//!
//! Load a configuration from JSON, then verify an HS256 connection token:
//!
//! ```
//! use chorus_server::auth::{hs256_connect_token, ConnectTokenOptions, JwtVerifier};
//! use chorus_server::config::{ConfigFormat, ServerConfig};
//!
//! let loaded = ServerConfig::from_str_format(
//!     r#"{ "client": { "token": { "hmac_secret_key": "my-secret" } } }"#,
//!     ConfigFormat::Json,
//! )?;
//! let config = loaded.config;
//! config.validate()?;
//! assert_eq!(config.http_server.port, 8000); // documented default
//!
//! let token = hs256_connect_token("my-secret", &ConnectTokenOptions {
//!     user: "42".to_owned(),
//!     ttl_seconds: Some(3600),
//!     ..Default::default()
//! })?;
//!
//! let verifier = JwtVerifier::from_config(&config.client)?;
//! let runtime = tokio::runtime::Runtime::new()?;
//! let claims = runtime.block_on(verifier.verify_connect(&token))?;
//! assert_eq!(claims.sub, "42");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod admin;
pub mod api;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod config;
pub mod consumers;
pub mod grpc;
pub mod grpc_proto;
pub mod http_serve;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod node_setup;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod state;
pub mod transport;
