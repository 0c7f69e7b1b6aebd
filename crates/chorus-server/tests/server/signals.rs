//! The `chorus` binary's signal handling: the first SIGTERM starts the lame-duck
//! shutdown (clients get 3001, spread over `shutdown.disconnect_spread`), a second
//! one exits at once; `--pid-file` is written while the server runs.

use chorus_protocol::Protocol;
use chorus_testkit::ProtocolClient;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn second_signal_exits_without_waiting_for_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"http_server": {{"address": "127.0.0.1", "port": {port}}},
                "health": {{"enabled": true}},
                "client": {{"insecure": true}},
                "shutdown": {{"timeout": "60s", "disconnect_spread": "40s"}}}}"#
        ),
    )
    .unwrap();
    let pid_file = dir.path().join("chorus.pid");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .arg("--config")
        .arg(&config)
        .arg("--pid-file")
        .arg(&pid_file)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait for the listener (the health endpoint answers once it is bound).
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(&health).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, child.id());

    let url = format!("ws://127.0.0.1:{port}/connection/websocket");
    let mut clients = Vec::new();
    for _ in 0..2 {
        let mut c = ProtocolClient::open(&url, Protocol::Json).await;
        assert!(c.connect("").await.connect.is_some());
        clients.push(c);
    }

    // First signal: the first batch gets 3001 at once, the second only after 20 s.
    signal(pid);
    let first = futures_util::future::select_all(
        clients
            .iter_mut()
            .map(|c| Box::pin(async move { c.closed_with().await.0 })),
    )
    .await
    .0;
    assert_eq!(first, 3001);

    // Second signal: the process exits now, not after the spread window.
    let started = Instant::now();
    signal(pid);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(1));
}
