//! Serving a router on a listener with time bounds on what a peer sends.
//!
//! `axum::serve` sets no timer, so hyper's header-read timeout never fires: a
//! peer that sends half a request (or nothing) holds a descriptor and a
//! connection buffer forever (slowloris). This loop serves each connection with
//! [`HttpTimeouts::header_read`] (10 s, what Centrifugo's HTTP server uses) and
//! bounds every request body in time as well as in size
//! ([`HttpTimeouts::request_body`]): a body still arriving at the deadline ends
//! with an error, which the handler answers (408 for the transports) or which
//! closes the connection. The peer address is put in the request extensions as
//! [`axum::extract::ConnectInfo`].
//!
//! Shutdown: when `stop` turns true the listener is closed, idle connections are
//! closed and busy ones finish their requests (hyper's graceful shutdown);
//! [`serve`] returns once every connection has ended. Dropping the future aborts
//! the connections still open (the caller's deadline).

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// Time bounds on what a peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// Longest time to receive a request's headers, counted from the moment the
    /// connection waits for a request (a new connection, or an idle keep-alive
    /// one). Centrifugo: 10 s.
    pub header_read: Duration,
    /// Longest time to receive a request's whole body, counted from its headers.
    /// The bodies the server reads are small (64 KiB limits on the transports);
    /// streaming responses are not affected.
    pub request_body: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            request_body: Duration::from_secs(30),
        }
    }
}

/// The error a request body ends with when it misses its deadline.
#[derive(Debug, thiserror::Error)]
#[error("request body not received within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// Serves `router` on `listener` until `stop` turns true and every connection has
/// ended (see the module docs).
///
/// # Errors
/// Never today; the `Result` keeps the shape of the other servers' tasks.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut stop: watch::Receiver<bool>,
    timeouts: HttpTimeouts,
) -> std::io::Result<()> {
    // Connection tasks live in this set: dropping `serve` (the shutdown deadline)
    // aborts them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = serve_connection(stream, peer, router.clone(), stop.clone(), timeouts);
                    connections.spawn(conn);
                }
                // Out of descriptors and the like: keep serving the open ones
                // and try again shortly, as hyper's own accept loops do.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = stopped(&mut stop) => break,
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    timeouts: HttpTimeouts,
) {
    // Set when the first request's headers are in. Until then hyper is still
    // telling HTTP/1 from HTTP/2 (reading the preface), which has no timeout of
    // its own: a silent peer would sit there forever.
    let first_request = Arc::new(Notify::new());
    let seen = Arc::clone(&first_request);
    let service = router.map_request(move |req: http::Request<hyper::body::Incoming>| {
        seen.notify_one();
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(ConnectInfo(peer));
        let body = Body::new(Deadline::new(body, timeouts.request_body));
        http::Request::from_parts(parts, body)
    });
    let mut builder = Builder::new(TokioExecutor::new());
    // hyper's own header timeout covers HTTP/1 requests once the version is
    // known, including later requests on a keep-alive connection.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    // Extended CONNECT, for WebSocket over HTTP/2 (RFC 8441).
    builder.http2().enable_connect_protocol();
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
    let mut conn = std::pin::pin!(conn);
    let first_deadline = tokio::time::sleep(timeouts.header_read);
    let mut first_deadline = std::pin::pin!(first_deadline);
    let mut waiting_first = true;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = first_request.notified(), if waiting_first => waiting_first = false,
            () = &mut first_deadline, if waiting_first => {
                tracing::debug!(%peer, "no request headers in time; closing the connection");
                return;
            }
            () = stopped(&mut stop) => break,
        }
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves when `stop` turns true; never when its sender is gone without
/// saying so (a server whose owner forgot it keeps serving).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A request body that fails once its deadline passes.
#[derive(Debug)]
struct Deadline<B> {
    inner: B,
    limit: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl<B> Deadline<B> {
    fn new(inner: B, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now() + limit)),
        }
    }
}

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimeout(self.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
