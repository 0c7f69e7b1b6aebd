//! State-driven filtering over real sockets.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn say(c: &mut Client, text: &str) {
    c.send(Message::text(text)).await.unwrap();
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
async fn messages_follow_session_state() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, example_topics::app(example_topics::hub()))
            .await
            .unwrap();
    });
    let url = format!("ws://{addr}/ws");
    let mut a = tokio_tungstenite::connect_async(&url).await.unwrap().0;
    let mut b = tokio_tungstenite::connect_async(&url).await.unwrap().0;
    let mut c = tokio_tungstenite::connect_async(&url).await.unwrap().0;

    say(&mut a, "/name ann").await;
    assert_eq!(next(&mut a).await, "you are ann");
    say(&mut b, "/follow news").await;
    assert_eq!(next(&mut b).await, "following news");
    say(&mut c, "/follow sports").await;
    assert_eq!(next(&mut c).await, "following sports");

    say(&mut a, "#news big story").await;
    assert_eq!(next(&mut b).await, "ann#news: big story");
    assert_eq!(next(&mut a).await, "delivered to 1");

    say(&mut b, "/unfollow news").await;
    assert_eq!(next(&mut b).await, "unfollowed news");
    say(&mut a, "#news nobody hears").await;
    assert_eq!(next(&mut a).await, "delivered to 0");

    say(&mut a, "hello all").await;
    assert_eq!(next(&mut b).await, "ann: hello all");
    assert_eq!(next(&mut c).await, "ann: hello all");
    say(&mut c, "/topics").await;
    assert_eq!(next(&mut c).await, "topics: sports");
}
