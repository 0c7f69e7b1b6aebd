//! Shared test harness: a hub served by axum on 127.0.0.1:0 and real WebSocket clients.
#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use chorus_hub::{Hub, HubUpgrade};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous bound for anything that should happen "soon": a test fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

async fn ws_handler(State(hub): State<Hub>, upgrade: HubUpgrade) -> impl IntoResponse {
    upgrade.accept(&hub)
}

/// Serves `hub` at `/ws` on a free loopback port.
pub async fn serve(hub: Hub) -> SocketAddr {
    let app = Router::new().route("/ws", get(ws_handler)).with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

pub async fn connect(addr: SocketAddr) -> Client {
    connect_path(addr, "/ws").await
}

pub async fn connect_path(addr: SocketAddr, path_and_query: &str) -> Client {
    let (ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::connect_async(format!("ws://{addr}{path_and_query}")),
    )
    .await
    .expect("connect timed out")
    .expect("connect failed");
    ws
}

/// Connects with extra request headers; returns the HTTP status on refusal.
pub async fn connect_with_headers(
    addr: SocketAddr,
    headers: &[(&str, &str)],
) -> Result<(Client, http::Response<Option<Vec<u8>>>), u16> {
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(ok) => Ok(ok),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("unexpected connect error: {e}"),
    }
}

/// Next data message as text; pings/pongs are skipped.
pub async fn recv_text(ws: &mut Client) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("recv timed out")
        {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

pub async fn recv_binary(ws: &mut Client) -> Vec<u8> {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("recv timed out")
        {
            Some(Ok(Message::Binary(b))) => return b.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected binary, got {other:?}"),
        }
    }
}

/// Reads until the close frame; returns its code and reason (data messages are
/// counted and returned too).
pub async fn recv_close(ws: &mut Client) -> (u16, String, usize) {
    let mut data = 0;
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("close timed out")
        {
            Some(Ok(Message::Close(Some(f)))) => {
                return (u16::from(f.code), f.reason.to_string(), data);
            }
            Some(Ok(Message::Close(None))) => return (1005, String::new(), data),
            Some(Ok(Message::Text(_) | Message::Binary(_))) => data += 1,
            Some(Ok(_)) => {}
            other => panic!("expected close frame, got {other:?}"),
        }
    }
}

/// Asserts nothing but pings arrives within `quiet`.
pub async fn assert_silent(ws: &mut Client, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }
}

pub async fn send_text(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

pub async fn close_client(ws: &mut Client, code: u16, reason: &str) {
    ws.send(Message::Close(Some(
        tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: WsCloseCode::from(code),
            reason: reason.into(),
        },
    )))
    .await
    .unwrap();
}

/// An event channel handlers can report into.
pub fn events<T>() -> (mpsc::UnboundedSender<T>, mpsc::UnboundedReceiver<T>) {
    mpsc::unbounded_channel()
}

pub async fn next_event<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("event timed out")
        .expect("channel closed")
}

/// Waits until `cond` holds, polling the hub state after each yielded event.
/// Used only where no event exists (e.g. a count reaching zero after many tasks).
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
