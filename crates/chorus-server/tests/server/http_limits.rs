//! Time bounds on HTTP peers and on shutdown, through `chorus_server::server::run`
//! (the real listener and accept loop) on a paused clock: the 10 s header-read
//! timeout (slowloris), the request-body deadline, and `shutdown.timeout` as a
//! deadline for the whole shutdown sequence. Sockets are real (127.0.0.1); only
//! the timers are virtual, so the test takes no wall-clock time waiting.

use crate::support::{config, token};
use chorus_protocol::Protocol;
use chorus_testkit::ProtocolClient;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Starts `chorus_server::server::run` on a free port with `extra` config.
async fn run(extra: serde_json::Value) -> Server {
    let port = chorus_testkit::services::free_port();
    let mut extra = extra;
    extra["http_server"] = json!({"address": "127.0.0.1", "port": port});
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        chorus_server::server::run(config(extra), async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Ready when it accepts (virtual time: the retries cost nothing).
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            return Server { addr, stop, task };
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server on {addr} did not start");
}

/// Reads until the server closes the connection (or resets it); what it sent.
/// Fails when the server keeps it open for a (virtual) minute.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server held the connection open for 60 s");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test(start_paused = true)]
async fn half_sent_and_silent_requests_are_cut_off_after_10s() {
    let server = run(json!({"health": {"enabled": true}})).await;

    let started = Instant::now();
    let mut half = TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nHost: chorus\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let (half_got, silent_got) = tokio::join!(read_to_close(&mut half), read_to_close(&mut silent));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "cut off after {waited:?}"
    );
    assert!(!half_got.contains("200 OK"), "{half_got}");
    assert!(!silent_got.contains("200 OK"), "{silent_got}");

    // A whole request is still answered at once.
    let mut whole = TcpStream::connect(server.addr).await.unwrap();
    whole
        .write_all(b"GET /health HTTP/1.1\r\nHost: chorus\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answered = Instant::now();
    assert!(read_to_close(&mut whole).await.starts_with("HTTP/1.1 200"));
    assert!(answered.elapsed() < Duration::from_secs(1));
    let _ = server.stop.send(());
    server.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_request_body_that_stalls_is_answered_408_after_30s() {
    let server = run(json!({})).await;
    let started = Instant::now();
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(
            b"POST /emulation HTTP/1.1\r\nHost: chorus\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"node\":",
        )
        .await
        .unwrap();
    let got = read_to_close(&mut stalled).await;
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "answered after {waited:?}"
    );
    let _ = server.stop.send(());
    server.task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn shutdown_timeout_bounds_the_whole_sequence() {
    // Four clients disconnected over a 10 s lame-duck window take the node phase
    // ~7.5 s; a request whose body stalls holds the HTTP drain. Each phase alone
    // fits in the 10 s timeout, together they do not.
    let server = run(json!({
        "shutdown": {"timeout": "10s", "disconnect_spread": "10s"}
    }))
    .await;
    let url = format!("ws://{}/connection/websocket", server.addr);
    let mut clients = Vec::new();
    for i in 0..4 {
        let mut c = ProtocolClient::open(&url, Protocol::Json).await;
        let reply = c.connect(token(&format!("user-{i}"), None, &[])).await;
        assert!(reply.connect.is_some(), "{reply:?}");
        clients.push(c);
    }
    let mut stalled = TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(b"POST /emulation HTTP/1.1\r\nHost: chorus\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    // Let the server take the request in before shutting down.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    server.stop.send(()).unwrap();
    let closes = futures_util::future::join_all(
        clients
            .iter_mut()
            .map(|c| async move { c.closed_with().await.0 }),
    );
    let (codes, ended) = tokio::join!(
        closes,
        tokio::time::timeout(Duration::from_secs(60), server.task)
    );
    ended.expect("shut down within 60 s").unwrap();
    let took = started.elapsed();
    assert!(codes.iter().all(|c| *c == 3001), "{codes:?}");
    assert!(
        took >= Duration::from_millis(9_900) && took <= Duration::from_millis(10_500),
        "shutdown took {took:?} with a 10 s timeout"
    );
    // The stalled request was cut, not left open.
    let _ = read_to_close(&mut stalled).await;
}
