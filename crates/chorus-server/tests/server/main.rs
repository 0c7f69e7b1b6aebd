//! Integration tests of `chorus-server`, one test binary for all of them: each
//! module is one area (a transport, the API, the proxy, configuration, the
//! binary's CLI and signals …), over real sockets on `127.0.0.1:0`.
//!
//! One binary rather than one per file: each links the whole server, and a
//! clean `cargo test` used to link (and store) twenty of them.

mod grpc_support;
mod proxy_support;
mod support;

mod admin;
mod api;
mod auth;
mod cli;
mod cluster;
mod config;
mod connections;
mod consumers;
mod cors;
mod engine_redis;
mod grpc_api;
mod grpc_server;
mod http_limits;
mod operations;
mod options;
mod proxy;
mod proxy_grpc;
#[cfg(unix)]
mod signals;
mod transports;
mod uni_grpc;
mod uni_transports;
mod websocket;
mod websocket_protocol;
