//! The HTTP side of a connection: validating the upgrade request, checking the
//! origin, negotiating the subprotocol and handing the upgraded socket to a
//! connection task.

use crate::hub::Hub;
use crate::session::{RequestInfo, Session};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The body type of the responses the hub produces (`101`, or an error status with a
/// short text). It works as a hyper response body and as an axum response.
pub type HubBody = Full<Bytes>;

type Value = Arc<dyn Any + Send + Sync>;

/// A pending WebSocket upgrade, created by [`Hub::upgrade`]. Attach what the session
/// should start with, then [`accept`](Upgrade::accept) it.
#[must_use = "an upgrade does nothing until `accept` is called"]
pub struct Upgrade<'a> {
    hub: &'a Hub,
    method: Method,
    version: http::Version,
    uri: http::Uri,
    headers: HeaderMap,
    on_upgrade: Option<OnUpgrade>,
    remote_addr: Option<SocketAddr>,
    keys: HashMap<String, Value>,
}

impl std::fmt::Debug for Upgrade<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade")
            .field("uri", &self.uri)
            .field("remote_addr", &self.remote_addr)
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Starts accepting a WebSocket connection from any `http::Request` served by
    /// hyper (or by a framework on top of hyper). The request body is ignored.
    ///
    /// The peer address is taken from a `SocketAddr` request extension (or axum's
    /// `ConnectInfo<SocketAddr>`) when present; set it explicitly with
    /// [`Upgrade::remote_addr`] otherwise.
    pub fn upgrade<B>(&self, req: Request<B>) -> Upgrade<'_> {
        let (mut parts, _body) = req.into_parts();
        let on_upgrade = parts.extensions.remove::<OnUpgrade>();
        let remote_addr = parts
            .extensions
            .get::<SocketAddr>()
            .copied()
            .or_else(|| connect_info(&parts.extensions));
        Upgrade {
            hub: self,
            method: parts.method,
            version: parts.version,
            uri: parts.uri,
            headers: parts.headers,
            on_upgrade,
            remote_addr,
            keys: HashMap::new(),
        }
    }

    /// Shorthand for `self.upgrade(req).accept()`.
    pub fn handle_request<B>(&self, req: Request<B>) -> Response<HubBody> {
        self.upgrade(req).accept()
    }
}

#[cfg(feature = "axum")]
fn connect_info(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(not(feature = "axum"))]
fn connect_info(_ext: &http::Extensions) -> Option<SocketAddr> {
    None
}

fn reject(hub: &Hub, status: StatusCode, why: &'static str) -> Response<HubBody> {
    hub.shared.stats.record_rejected();
    tracing::debug!(%status, why, "websocket upgrade rejected");
    let mut res = Response::new(Full::new(Bytes::from_static(why.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

impl Upgrade<'_> {
    /// Sets the peer address reported by [`Session::remote_addr`].
    pub fn remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Stores a key-value pair in the session before it connects (visible in the
    /// connect handler), e.g. the user authenticated from a cookie.
    pub fn key<T: Any + Send + Sync>(mut self, key: impl Into<String>, value: T) -> Self {
        self.keys.insert(key.into(), Arc::new(value));
        self
    }

    pub(crate) fn boxed_key(mut self, key: String, value: Box<dyn Any + Send + Sync>) -> Self {
        self.keys.insert(key, Arc::from(value));
        self
    }

    /// Validates the request and, if it is an acceptable WebSocket handshake, returns
    /// the `101 Switching Protocols` response and starts the session once the
    /// connection is upgraded. Otherwise returns the error response:
    ///
    /// | Problem | Status |
    /// | --- | --- |
    /// | hub closed | 503 |
    /// | not `GET`, or missing `Upgrade: websocket` / `Connection: upgrade` / key | 400 |
    /// | `Sec-WebSocket-Version` other than 13 | 426 (with `Sec-WebSocket-Version: 13`) |
    /// | origin refused by [`Config::allowed_origins`](crate::Config) | 403 |
    /// | connection cannot be upgraded (no hyper upgrade extension) | 426 |
    pub fn accept(self) -> Response<HubBody> {
        let hub = self.hub;
        if hub.is_closed() {
            return reject(hub, StatusCode::SERVICE_UNAVAILABLE, "hub is closed");
        }
        if self.method != Method::GET {
            return reject(hub, StatusCode::BAD_REQUEST, "websocket upgrade needs GET");
        }
        if !header_has_token(&self.headers, header::UPGRADE, "websocket")
            || !header_has_token(&self.headers, header::CONNECTION, "upgrade")
        {
            return reject(
                hub,
                StatusCode::BAD_REQUEST,
                "not a websocket upgrade request",
            );
        }
        if self
            .headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v != "13")
        {
            let mut res = reject(
                hub,
                StatusCode::UPGRADE_REQUIRED,
                "unsupported websocket version",
            );
            res.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return res;
        }
        let Some(key) = self.headers.get(header::SEC_WEBSOCKET_KEY) else {
            return reject(hub, StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key");
        };
        if let Some(origin) = self.headers.get(header::ORIGIN) {
            let host = self.headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let allowed = origin
                .to_str()
                .is_ok_and(|o| hub.config().allowed_origins.allows(o, host));
            if !allowed {
                return reject(hub, StatusCode::FORBIDDEN, "origin not allowed");
            }
        }
        let Some(on_upgrade) = self.on_upgrade else {
            return reject(
                hub,
                StatusCode::UPGRADE_REQUIRED,
                "connection cannot be upgraded",
            );
        };
        let _ = self.version; // HTTP/1.1 upgrade; the version is informational.
        let accept = derive_accept_key(key.as_bytes());
        let subprotocol = negotiate(&self.headers, &hub.config().subprotocols);

        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = res.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        if let Some(p) = subprotocol
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
        }

        let request = RequestInfo {
            uri: self.uri,
            headers: self.headers,
            remote_addr: self.remote_addr,
            subprotocol,
        };
        let shared = Arc::clone(&hub.shared);
        let keys = self.keys;
        hub.shared.tracker.spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(u) => u,
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    return;
                }
            };
            let ws_config = shared.config.websocket_config();
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(ws_config),
            )
            .await;
            let session = Session::new(shared.next_id(), request, keys, Arc::clone(&shared));
            crate::conn::run(Hub { shared }, session, ws).await;
        });
        res
    }
}

fn negotiate(headers: &HeaderMap, supported: &[String]) -> Option<String> {
    if supported.is_empty() {
        return None;
    }
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    supported
        .iter()
        .find(|p| offered.contains(&p.as_str()))
        .cloned()
}
