//! The chat example end to end: page, rooms, notices, over real sockets.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn start() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = example_chat::app(example_chat::hub());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

async fn join(addr: std::net::SocketAddr, room: &str, name: &str) -> Client {
    let url = format!("ws://{addr}/ws?room={room}&name={name}");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next(c: &mut Client) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), c.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn rooms_messages_and_notices() {
    let addr = start().await;
    let mut alice = join(addr, "x", "alice").await;
    assert_eq!(next(&mut alice).await, "alice joined the room");
    let mut bob = join(addr, "x", "bob").await;
    assert_eq!(next(&mut alice).await, "bob joined the room");
    assert_eq!(next(&mut bob).await, "bob joined the room");
    let mut carol = join(addr, "y", "carol").await;
    assert_eq!(next(&mut carol).await, "carol joined the room");

    bob.send(Message::text("hi alice")).await.unwrap();
    assert_eq!(next(&mut alice).await, "bob: hi alice");
    assert_eq!(next(&mut bob).await, "bob: hi alice");

    bob.close(None).await.unwrap();
    assert_eq!(next(&mut alice).await, "bob left the room");
    carol.send(Message::text("anyone?")).await.unwrap();
    assert_eq!(
        next(&mut carol).await,
        "carol: anyone?",
        "room y is separate from room x"
    );
    alice.send(Message::text("still here")).await.unwrap();
    assert_eq!(next(&mut alice).await, "alice: still here");
}

#[tokio::test]
async fn serves_the_page() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = start().await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /?room=x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"));
    assert!(body.contains("new WebSocket(url)"));
}
