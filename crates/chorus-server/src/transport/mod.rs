//! Client transports.

pub mod origin;
pub mod websocket;
