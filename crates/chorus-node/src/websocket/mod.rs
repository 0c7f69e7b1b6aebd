//! The bidirectional WebSocket transport for axum apps (feature `axum`), the
//! counterpart of Centrifuge's `NewWebsocketHandler`.
//!
//! [`accept_websocket`] turns an axum [`WebSocketUpgrade`] into a Centrifugo
//! client connection served by a [`Node`]:
//!
//! - JSON by default; Protobuf when the client negotiates the `centrifuge-protobuf`
//!   subprotocol or passes `?format=protobuf` / `?cf_protocol=protobuf`. JSON
//!   frames travel as text messages, Protobuf as binary.
//! - Messages (and frames) over [`WebSocketOptions::message_size_limit`] close the
//!   connection with 1009 ("message size limit exceeded"); protocol violations with
//!   1002, a text message that is not UTF-8 with 1007 (a close frame, not a bare
//!   TCP close).
//! - A disconnect is delivered in the close frame (code and reason), never as a
//!   push; 3000 ("connection closed") is never sent in a frame.
//! - A write (one batch of replies and pushes) taking longer than
//!   [`WebSocketOptions::write_timeout`] ends the connection.
//!
//! Origin checks, authentication of the HTTP request and routing are the app's: do
//! them in the handler before calling [`accept_websocket`].
//!
//! [`accept_uni_websocket`] serves the same socket in unidirectional mode
//! (Centrifugo's `uni_websocket`, spec §1.4): bare JSON pushes only.
//!
//! ```no_run
//! use axum::Router;
//! use axum::extract::ws::WebSocketUpgrade;
//! use axum::extract::{RawQuery, State};
//! use axum::response::Response;
//! use axum::routing::get;
//! use chorus_node::websocket::{WebSocketOptions, accept_websocket};
//! use chorus_node::{ConnectGrant, Node, NodeConfig};
//!
//! async fn websocket(
//!     State(node): State<Node>,
//!     RawQuery(query): RawQuery,
//!     headers: axum::http::HeaderMap,
//!     upgrade: WebSocketUpgrade,
//! ) -> Response {
//!     let options = WebSocketOptions::default().message_size_limit(16 * 1024);
//!     accept_websocket(&node, upgrade, &headers, query.as_deref(), &options)
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let node = Node::builder(NodeConfig::default())
//!         // The opening request is visible here: authenticate by cookie, header
//!         // or query parameter.
//!         .on_connecting(|event| async move {
//!             let user = event.request.and_then(|r| r.query_param("user")).unwrap_or_default();
//!             Ok(ConnectGrant::user(user))
//!         })
//!         .build();
//!     let app = Router::new()
//!         .route("/connection/websocket", get(websocket))
//!         .with_state(node.clone());
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//!     axum::serve(listener, app)
//!         .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
//!         .await?;
//!     // Clients get 3001 ("shutdown"); wait for their tasks to end.
//!     node.shutdown(std::time::Duration::from_secs(5)).await;
//!     Ok(())
//! }
//! ```

mod io;
mod uni;

pub use uni::{UniWebSocketOptions, accept_uni_websocket};

use crate::client::TransportInfo;
use crate::node::Node;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use chorus_protocol::Protocol;
use io::{Mode, WsIo};
use std::time::Duration;

/// Limits of the WebSocket transport.
///
/// ```
/// use chorus_node::websocket::WebSocketOptions;
/// use std::time::Duration;
///
/// let options = WebSocketOptions::default()
///     .message_size_limit(4096)
///     .write_timeout(Duration::from_millis(500));
/// assert_eq!(options.read_buffer_size, 1024);
/// assert_eq!(options.message_size_limit, 4096);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketOptions {
    /// Read buffer allocated per connection, in bytes. Default 1024: small, so
    /// idle connections stay cheap.
    pub read_buffer_size: usize,
    /// Largest accepted client message (and frame) in bytes; bigger ones close the
    /// connection with 1009. Default 65536.
    pub message_size_limit: usize,
    /// Longest time one write (a batch of frames and its flush) may take before the
    /// connection is dropped. Default 1 s.
    pub write_timeout: Duration,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        Self {
            read_buffer_size: 1024,
            message_size_limit: 65536,
            write_timeout: Duration::from_secs(1),
        }
    }
}

impl WebSocketOptions {
    /// Sets [`read_buffer_size`](Self::read_buffer_size).
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets [`message_size_limit`](Self::message_size_limit).
    #[must_use]
    pub fn message_size_limit(mut self, bytes: usize) -> Self {
        self.message_size_limit = bytes;
        self
    }

    /// Sets [`write_timeout`](Self::write_timeout).
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }
}

/// Accepts a WebSocket upgrade as a Centrifugo client connection of `node`.
///
/// Negotiates the wire format (the `centrifuge-protobuf` / `centrifuge-json`
/// subprotocols, or `format=protobuf` / `cf_protocol=protobuf` in `uri_query`,
/// the raw query string without `?`), applies `options`, and returns the `101
/// Switching Protocols` response; the connection then runs on the upgraded
/// socket's task until it ends, tracked by the node for graceful shutdown.
///
/// `headers` and `uri_query` are also handed to the connecting hook as
/// [`ConnectingEvent::request`](crate::ConnectingEvent) (and dropped after
/// `connect`).
pub fn accept_websocket(
    node: &Node,
    upgrade: WebSocketUpgrade,
    headers: &axum::http::HeaderMap,
    uri_query: Option<&str>,
    options: &WebSocketOptions,
) -> Response {
    let limit = options.message_size_limit;
    let upgrade = upgrade
        .protocols([Protocol::JSON_SUBPROTOCOL, Protocol::PROTOBUF_SUBPROTOCOL])
        .read_buffer_size(options.read_buffer_size)
        .max_message_size(limit)
        .max_frame_size(limit);
    let by_subprotocol = upgrade
        .selected_protocol()
        .is_some_and(|p| p == Protocol::PROTOBUF_SUBPROTOCOL);
    let protocol = if by_subprotocol || query_wants_protobuf(uri_query) {
        Protocol::Protobuf
    } else {
        Protocol::Json
    };
    let write_timeout = options.write_timeout;
    let node = node.clone();
    let mut header_map = std::collections::BTreeMap::<String, String>::new();
    for (name, value) in headers {
        if let Ok(value) = value.to_str() {
            header_map
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
    }
    let transport = TransportInfo::new("websocket", protocol).with_request(
        crate::client::UpgradeRequest::new(header_map, uri_query.unwrap_or_default()),
    );
    upgrade
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let io = WsIo {
                socket,
                protocol,
                write_timeout,
                mode: Mode::Bidirectional,
            };
            node.run_connection(transport, io).await;
        })
}

/// Whether the query string asks for Protobuf (`format=protobuf` or
/// `cf_protocol=protobuf`, form-urlencoded).
fn query_wants_protobuf(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            .any(|(key, value)| (key == "format" || key == "cf_protocol") && value == "protobuf")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_is_chosen_by_query() {
        for q in [
            "format=protobuf",
            "cf_protocol=protobuf",
            "a=1&format=protobuf",
            "cf_protocol=protobuf&x",
            "format=%70rotobuf",
            "%66ormat=protobuf",
        ] {
            assert!(query_wants_protobuf(Some(q)), "{q}");
        }
        for q in [
            "",
            "format=json",
            "format=protobufx",
            "formats=protobuf",
            "format",
            "x=protobuf",
            "protobuf",
        ] {
            assert!(!query_wants_protobuf(Some(q)), "{q}");
        }
        assert!(!query_wants_protobuf(None));
    }

    #[test]
    fn options_defaults_and_setters() {
        let d = WebSocketOptions::default();
        assert_eq!(
            (d.read_buffer_size, d.message_size_limit, d.write_timeout),
            (1024, 65536, Duration::from_secs(1))
        );
        let o = d
            .read_buffer_size(10)
            .message_size_limit(20)
            .write_timeout(Duration::from_millis(30));
        assert_eq!(
            (o.read_buffer_size, o.message_size_limit, o.write_timeout),
            (10, 20, Duration::from_millis(30))
        );
    }
}
