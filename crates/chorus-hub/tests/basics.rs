//! Melody parity: handlers, writes, broadcasts, state and request data, over real sockets.

mod common;

use bytes::Bytes;
use chorus_hub::{CloseCode, Config, Hub, OriginPolicy, Session, WriteError};
use common::*;
use futures_util::SinkExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn echo_hub() -> Hub {
    Hub::builder()
        .on_message(|s, t| {
            let _ = s.write(t);
        })
        .on_message_binary(|s, b| {
            let _ = s.write_binary(b);
        })
        .build()
}

#[tokio::test]
async fn echo_text_and_binary() {
    let addr = serve(echo_hub()).await;
    let mut c = connect(addr).await;
    send_text(&mut c, "hello").await;
    assert_eq!(recv_text(&mut c).await, "hello");
    c.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(recv_binary(&mut c).await, vec![0u8, 1, 2, 255]);
}

#[tokio::test]
async fn connect_and_disconnect_handlers_fire_once_with_close_code() {
    let (tx, mut rx) = events::<(&'static str, u64, u16)>();
    let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
    let hub = Hub::builder()
        .on_connect(move |s| t1.send(("connect", s.id().get(), 0)).unwrap())
        .on_close(move |s, f| t2.send(("close", s.id().get(), f.code.0)).unwrap())
        .on_disconnect(move |s, f| t3.send(("disconnect", s.id().get(), f.code.0)).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    let mut c = connect(addr).await;
    let (kind, id, _) = next_event(&mut rx).await;
    assert_eq!(kind, "connect");
    assert_eq!(hub.len(), 1);
    close_client(&mut c, 4001, "bye now").await;
    assert_eq!(next_event(&mut rx).await, ("close", id, 4001));
    assert_eq!(next_event(&mut rx).await, ("disconnect", id, 4001));
    assert_eq!(
        hub.len(),
        0,
        "disconnect runs after the session left the hub"
    );
    // The server answered our close frame.
    let (code, _, _) = recv_close(&mut c).await;
    assert_eq!(code, 4001);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), rx.recv())
            .await
            .is_err(),
        "exactly once"
    );
}

#[tokio::test]
async fn dropped_connection_reports_1006_to_disconnect() {
    let (tx, mut rx) = events::<u16>();
    let hub = Hub::builder()
        .on_disconnect(move |_, f| tx.send(f.code.0).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    let c = connect(addr).await;
    eventually(|| hub.len() == 1).await;
    drop(c);
    assert_eq!(next_event(&mut rx).await, 1006);
}

#[tokio::test]
async fn broadcast_variants_reach_the_right_sessions() {
    let hub = Hub::builder()
        .on_connect(|s| {
            let name = s.query_param("name").unwrap();
            s.set("name", name);
        })
        .build();
    let addr = serve(hub.clone()).await;
    let mut a = connect_path(addr, "/ws?name=a").await;
    let mut b = connect_path(addr, "/ws?name=b").await;
    let mut c = connect_path(addr, "/ws?name=c").await;
    eventually(|| hub.len() == 3 && hub.sessions().iter().all(|s| s.contains_key("name"))).await;
    let by_name = |n: &str| -> Session {
        hub.sessions()
            .into_iter()
            .find(|s| s.get::<String>("name").as_deref() == Some(n))
            .unwrap()
    };

    let d = hub.broadcast("all");
    assert_eq!(d.queued, 3);
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(recv_text(ws).await, "all");
    }

    let d = hub.broadcast_others("not a", &by_name("a"));
    assert_eq!(d.queued, 2);
    assert_eq!(recv_text(&mut b).await, "not a");
    assert_eq!(recv_text(&mut c).await, "not a");

    let d = hub.broadcast_filter("only c", |s| {
        s.get::<String>("name").as_deref() == Some("c")
    });
    assert_eq!(d.queued, 1);
    assert_eq!(recv_text(&mut c).await, "only c");

    let targets = [by_name("a"), by_name("b")];
    let d = hub.broadcast_multiple("a and b", &targets);
    assert_eq!(d.queued, 2);
    assert_eq!(recv_text(&mut a).await, "a and b");
    assert_eq!(recv_text(&mut b).await, "a and b");

    hub.broadcast_binary(Bytes::from_static(b"\x01\x02"));
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(recv_binary(ws).await, vec![1, 2]);
    }
    hub.broadcast_binary_others(Bytes::from_static(b"x"), &by_name("c"));
    hub.broadcast_binary_filter(Bytes::from_static(b"y"), |s| {
        s.get::<String>("name").as_deref() == Some("a")
    });
    assert_eq!(recv_binary(&mut a).await, b"x");
    assert_eq!(recv_binary(&mut a).await, b"y");
    assert_eq!(recv_binary(&mut b).await, b"x");
    hub.broadcast_binary_multiple(Bytes::from_static(b"z"), &[by_name("b")]);
    assert_eq!(recv_binary(&mut b).await, b"z");

    // Nothing else leaked to anyone.
    for ws in [&mut a, &mut b, &mut c] {
        assert_silent(ws, Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn session_state_request_data_and_lookup() {
    let (tx, mut rx) = events::<Session>();
    let hub = Hub::builder()
        .on_connect(move |s| tx.send(s.clone()).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    let (_c, _) = connect_with_headers(addr, &[("x-team", "blue")])
        .await
        .unwrap();
    let s = next_event(&mut rx).await;

    assert_eq!(s.path(), "/ws");
    assert_eq!(s.query(), None);
    assert_eq!(s.headers()["x-team"], "blue");
    assert_eq!(s.remote_addr().unwrap().ip().to_string(), "127.0.0.1");
    assert_eq!(hub.session(s.id()).unwrap(), s);

    s.set("count", 41u32);
    s.set("name", "alice".to_string());
    assert_eq!(s.get::<u32>("count"), Some(41));
    assert_eq!(
        s.get::<String>("count"),
        None,
        "typed access checks the type"
    );
    assert_eq!(s.with("name", |n: &String| n.len()), Some(5));
    let mut keys = s.keys();
    keys.sort();
    assert_eq!(keys, ["count", "name"]);
    assert!(s.unset("count"));
    assert!(!s.unset("count"));
    assert!(!s.contains_key("count"));
}

#[tokio::test]
async fn keys_set_at_upgrade_are_visible_on_connect() {
    use axum::{Router, extract::State, routing::get};
    use chorus_hub::HubUpgrade;
    let (tx, mut rx) = events::<Option<String>>();
    let hub = Hub::builder()
        .on_connect(move |s| tx.send(s.get::<String>("user")).unwrap())
        .build();
    let app = Router::new()
        .route(
            "/ws",
            get(|State(hub): State<Hub>, up: HubUpgrade| async move {
                up.key("user", "alice".to_string()).accept(&hub)
            }),
        )
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let _c = connect(addr).await;
    assert_eq!(next_event(&mut rx).await.as_deref(), Some("alice"));
}

#[tokio::test]
async fn session_close_with_code_and_write_after_close() {
    let (tx, mut rx) = events::<Session>();
    let hub = Hub::builder()
        .on_connect(move |s| tx.send(s.clone()).unwrap())
        .build();
    let addr = serve(hub).await;
    let mut c = connect(addr).await;
    let s = next_event(&mut rx).await;
    s.write("last words").unwrap();
    s.close_with(4321, "go away");
    assert!(s.is_closed());
    assert_eq!(s.write("too late"), Err(WriteError::Closed));
    assert_eq!(
        recv_text(&mut c).await,
        "last words",
        "queued messages are flushed before closing"
    );
    let (code, reason, _) = recv_close(&mut c).await;
    assert_eq!((code, reason.as_str()), (4321, "go away"));
}

#[tokio::test]
async fn sent_handlers_run_after_writes() {
    let (tx, mut rx) = events::<String>();
    let tx2 = tx.clone();
    let hub = Hub::builder()
        .on_sent_message(move |_, t| tx.send(format!("text:{t}")).unwrap())
        .on_sent_message_binary(move |_, b| tx2.send(format!("bin:{}", b.len())).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    let mut c = connect(addr).await;
    eventually(|| hub.len() == 1).await;
    hub.broadcast("hi");
    assert_eq!(recv_text(&mut c).await, "hi");
    assert_eq!(next_event(&mut rx).await, "text:hi");
    hub.broadcast_binary(vec![1u8, 2, 3]);
    assert_eq!(recv_binary(&mut c).await, vec![1, 2, 3]);
    assert_eq!(next_event(&mut rx).await, "bin:3");
    assert_eq!(hub.stats().messages_sent, 2);
}

#[tokio::test]
async fn pings_are_sent_and_pongs_reported() {
    let (tx, mut rx) = events::<u64>();
    let config = Config::default()
        .ping_period(Duration::from_millis(50))
        .pong_wait(Duration::from_secs(5));
    let hub = Hub::builder()
        .config(config)
        .on_pong(move |s| tx.send(s.id().get()).unwrap())
        .build();
    let addr = serve(hub).await;
    let mut c = connect(addr).await;
    // Reading lets tungstenite answer the server's pings with pongs.
    let reader = tokio::spawn(async move { assert_silent(&mut c, Duration::from_secs(2)).await });
    next_event(&mut rx).await;
    next_event(&mut rx).await;
    reader.abort();
}

#[tokio::test]
async fn subprotocol_is_negotiated() {
    let hub = Hub::builder()
        .config(Config::default().subprotocols(vec!["chat.v2".into(), "chat.v1".into()]))
        .build();
    let addr = serve(hub).await;
    let (_c, res) = connect_with_headers(addr, &[("sec-websocket-protocol", "chat.v1, chat.v2")])
        .await
        .unwrap();
    assert_eq!(res.headers()["sec-websocket-protocol"], "chat.v2");
}

#[tokio::test]
async fn origin_policy_is_enforced_before_upgrade() {
    let (tx, mut rx) = events::<()>();
    let hub = Hub::builder()
        .config(
            Config::default()
                .allowed_origins(OriginPolicy::List(vec!["https://*.example.com".into()])),
        )
        .on_connect(move |_| tx.send(()).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    assert_eq!(
        connect_with_headers(addr, &[("origin", "https://evil.test")])
            .await
            .err(),
        Some(403)
    );
    assert!(
        connect_with_headers(addr, &[("origin", "https://app.example.com")])
            .await
            .is_ok()
    );
    next_event(&mut rx).await;
    assert_eq!(hub.stats().upgrades_rejected, 1);
    assert_eq!(hub.stats().sessions_accepted, 1);

    // Default policy: same host only.
    let hub = Hub::default();
    let addr = serve(hub).await;
    assert_eq!(
        connect_with_headers(addr, &[("origin", "http://elsewhere:1")])
            .await
            .err(),
        Some(403)
    );
    let same = format!("http://{addr}");
    assert!(
        connect_with_headers(addr, &[("origin", &same)])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn non_websocket_requests_get_clear_statuses() {
    let hub = Hub::default();
    let addr = serve(hub).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    let n = stream.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{head}"
    );

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 400"));
}

#[tokio::test]
async fn close_code_constants_match_documentation() {
    assert_eq!(CloseCode::SLOW_CONSUMER.0, 3008);
    assert_eq!(CloseCode::MESSAGE_TOO_BIG.0, 1009);
    assert_eq!(CloseCode::INVALID_PAYLOAD.0, 1007);
    assert_eq!(CloseCode::GOING_AWAY.0, 1001);
}
