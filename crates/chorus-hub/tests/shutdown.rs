//! Graceful shutdown: close frames after queued messages, a deadline, refusal of
//! new connections, and plain hyper integration.

mod common;

use chorus_hub::{Config, Hub};
use common::*;
use std::time::Duration;

#[tokio::test]
async fn shutdown_drains_queues_then_closes_with_1001() {
    let (tx, mut rx) = events::<u16>();
    let hub = Hub::builder()
        .on_disconnect(move |_, f| tx.send(f.code.0).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    eventually(|| hub.len() == 2).await;
    hub.broadcast("before shutdown");

    let shutdown = tokio::spawn({
        let hub = hub.clone();
        async move { hub.shutdown(Duration::from_secs(5)).await }
    });
    for c in [&mut a, &mut b] {
        assert_eq!(recv_text(c).await, "before shutdown");
        let (code, reason, _) = recv_close(c).await;
        assert_eq!((code, reason.as_str()), (1001, "hub closed"));
    }
    let report = shutdown.await.unwrap();
    assert_eq!(report.forced, 0);
    assert_eq!(next_event(&mut rx).await, 1001);
    assert_eq!(next_event(&mut rx).await, 1001);
    assert!(hub.is_closed());
    assert_eq!(hub.len(), 0);
    // New connections are refused.
    assert_eq!(connect_with_headers(addr, &[]).await.err(), Some(503));
}

#[tokio::test]
async fn close_with_custom_code() {
    let hub = Hub::default();
    let addr = serve(hub.clone()).await;
    let mut c = connect(addr).await;
    eventually(|| hub.len() == 1).await;
    hub.close_with(4000, "maintenance");
    let (code, reason, _) = recv_close(&mut c).await;
    assert_eq!((code, reason.as_str()), (4000, "maintenance"));
}

#[tokio::test]
async fn shutdown_deadline_forces_stuck_sessions() {
    let (tx, mut rx) = events::<u16>();
    // A long closing handshake timeout: only the shutdown deadline can end it.
    let hub = Hub::builder()
        .config(Config::default().close_timeout(Duration::from_secs(60)))
        .on_disconnect(move |_, f| tx.send(f.code.0).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    let _stuck = connect(addr).await; // never reads, never answers the close frame
    eventually(|| hub.len() == 1).await;
    let report = hub.shutdown(Duration::from_millis(200)).await;
    assert_eq!(report.forced, 1);
    assert_eq!(
        next_event(&mut rx).await,
        1001,
        "disconnect handler still runs"
    );
    assert_eq!(hub.len(), 0);
}

#[tokio::test]
async fn works_with_plain_hyper() {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let hub = Hub::builder()
        .on_message(|s, t| {
            let addr = s
                .remote_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let _ = s.write(format!("{addr} {} {t}", s.path()));
        })
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_hub = hub.clone();
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let hub = server_hub.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let res = hub.upgrade(req).remote_addr(peer).accept();
                    async move { Ok::<_, std::convert::Infallible>(res) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    let mut c = connect_path(addr, "/anything").await;
    send_text(&mut c, "ping").await;
    assert_eq!(recv_text(&mut c).await, "127.0.0.1 /anything ping");
}
