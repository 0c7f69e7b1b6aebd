//! What a transport tells the engine about a connection: the opening HTTP
//! request and the transport's mode (bidirectional, emulated, unidirectional).

use chorus_protocol::{ConnectRequest, Protocol};
use std::sync::Arc;

/// What the engine keeps of the HTTP request that opened a connection, for the
/// connecting hook (cookie or header authentication, query parameters).
///
/// It is kept for the connection's life (shared, not copied) so that hooks such as
/// the server's proxies can forward its headers with every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeRequest {
    /// Headers, names lower-cased; repeated headers joined with `", "`.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The raw query string (without `?`), empty when none.
    pub query: String,
}

impl UpgradeRequest {
    /// A request with these headers and query.
    pub fn new(
        headers: std::collections::BTreeMap<String, String>,
        query: impl Into<String>,
    ) -> Self {
        Self {
            headers,
            query: query.into(),
        }
    }

    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The first value of a query parameter (`+` and `%XX` decoded).
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::query::query_param(&self.query, name)
    }
}

/// Where the connection came from, and how the engine talks over it.
///
/// Three shapes, all built from [`TransportInfo::new`]:
///
/// * **bidirectional** (WebSocket): replies and pushes are `Reply` messages; a
///   disconnect is delivered by [`FrameIo::close`](crate::FrameIo::close) (a close
///   frame);
/// * **emulated** ([`TransportInfo::with_session`]; HTTP-streaming, SSE): like
///   bidirectional, but `ConnectResult` carries `session` and `node`, and a
///   disconnect is written as a disconnect push (Reply-wrapped) before
///   [`FrameIo::close`](crate::FrameIo::close) ends the stream (spec §1.3, §3.3);
/// * **unidirectional** ([`TransportInfo::unidirectional`]; uni_websocket, uni_sse,
///   uni_http_stream, uni_grpc): the server only sends bare `Push` messages: first a
///   `connect` push, pings as the empty push (no pong expected), a disconnect push
///   before the end; connect errors become disconnects (spec §1.4). The connect
///   request comes with the transport, so the engine connects as soon as the
///   connection starts; inbound frames are ignored.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportInfo {
    /// Transport name (`websocket`, …).
    pub name: &'static str,
    /// Wire format.
    pub protocol: Protocol,
    /// The HTTP request that opened the connection, when the transport has one.
    pub request: Option<Arc<UpgradeRequest>>,
    /// Emulation session id (HTTP-streaming, SSE), reported in `ConnectResult`.
    pub session: Option<String>,
    /// Unidirectional mode: the connect request the client sent with the opening
    /// request (URL parameter, body or first message).
    pub uni_connect: Option<Box<ConnectRequest>>,
    /// Whether a disconnect is written as a disconnect push before the connection
    /// ends (on for emulated and unidirectional transports).
    pub disconnect_push: bool,
}

impl TransportInfo {
    /// Describes a bidirectional transport.
    pub fn new(name: &'static str, protocol: Protocol) -> Self {
        Self {
            name,
            protocol,
            request: None,
            session: None,
            uni_connect: None,
            disconnect_push: false,
        }
    }

    /// Describes a unidirectional transport whose client sent `connect`.
    pub fn unidirectional(name: &'static str, protocol: Protocol, connect: ConnectRequest) -> Self {
        Self {
            uni_connect: Some(Box::new(connect)),
            disconnect_push: true,
            ..Self::new(name, protocol)
        }
    }

    /// Makes this an emulated session (HTTP-streaming, SSE) with this id: the
    /// `ConnectResult` carries it with the node name, and disconnects are pushed.
    #[must_use]
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self.disconnect_push = true;
        self
    }

    /// Turns the disconnect push off (uni_websocket `disable_disconnect_push`).
    #[must_use]
    pub fn without_disconnect_push(mut self) -> Self {
        self.disconnect_push = false;
        self
    }

    /// Whether the transport is unidirectional.
    pub fn is_unidirectional(&self) -> bool {
        self.uni_connect.is_some()
    }

    /// Attaches the opening HTTP request (visible to the connecting hook).
    #[must_use]
    pub fn with_request(mut self, request: UpgradeRequest) -> Self {
        self.request = Some(Arc::new(request));
        self
    }
}
