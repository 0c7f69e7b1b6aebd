//! axum integration: the [`HubUpgrade`] extractor.

use crate::hub::Hub;
use crate::upgrade::HubBody;
use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{Request, Response};
use std::any::Any;
use std::convert::Infallible;
use std::net::SocketAddr;

/// An axum extractor holding a WebSocket upgrade request; hand it to a [`Hub`] with
/// [`HubUpgrade::accept`]. It never rejects: handshake problems are answered by
/// `accept` with the right status (see [`Upgrade::accept`](crate::Upgrade::accept)).
///
/// ```no_run
/// use axum::{Router, extract::State, routing::get, response::IntoResponse};
/// use chorus_hub::{Hub, HubUpgrade};
///
/// async fn ws(State(hub): State<Hub>, upgrade: HubUpgrade) -> impl IntoResponse {
///     upgrade.key("user", "alice".to_string()).accept(&hub)
/// }
///
/// # async fn run() {
/// let hub = Hub::builder().on_message(|s, t| { let _ = s.write(t); }).build();
/// let app: Router = Router::new().route("/ws", get(ws)).with_state(hub);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
/// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
///     .await
///     .unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct HubUpgrade {
    request: Request<()>,
    remote_addr: Option<SocketAddr>,
    keys: Vec<(String, Box<dyn Any + Send + Sync>)>,
}

impl<S: Send + Sync> FromRequestParts<S> for HubUpgrade {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut request = Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        if let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
            request.extensions_mut().insert(on_upgrade);
        }
        let remote_addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Self {
            request,
            remote_addr,
            keys: Vec::new(),
        })
    }
}

impl HubUpgrade {
    /// Stores a key-value pair in the session before it connects.
    #[must_use]
    pub fn key<T: Any + Send + Sync>(mut self, key: impl Into<String>, value: T) -> Self {
        self.keys.push((key.into(), Box::new(value)));
        self
    }

    /// Overrides the peer address (by default taken from `ConnectInfo<SocketAddr>`).
    #[must_use]
    pub fn remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote_addr = Some(addr);
        self
    }

    /// Accepts the connection into `hub`; returns the handshake response.
    pub fn accept(self, hub: &Hub) -> Response<HubBody> {
        let mut upgrade = hub.upgrade(self.request);
        if let Some(addr) = self.remote_addr {
            upgrade = upgrade.remote_addr(addr);
        }
        for (k, v) in self.keys {
            upgrade = upgrade.boxed_key(k, v);
        }
        upgrade.accept()
    }
}
