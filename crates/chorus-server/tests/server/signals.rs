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

fn send(sig: &str, pid: u32) {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Polls `path` until it contains every needle (a log file has no signal).
async fn file_contains(path: &std::path::Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if needles.iter().all(|n| text.contains(n)) {
            return text;
        }
        assert!(Instant::now() < deadline, "{needles:?} not in {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_the_config_and_log_file_gets_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_file = dir.path().join("chorus.log");
    let config = dir.path().join("config.json");
    let write_config = |level: &str, channel_limit: u32| {
        let v = serde_json::json!({
            "http_server": {"address": "127.0.0.1", "port": port},
            "health": {"enabled": true},
            "client": {"insecure": true, "channel_limit": channel_limit},
            "log": {"level": level, "file": log_file},
        });
        std::fs::write(&config, v.to_string()).unwrap();
    };
    write_config("info", 128);
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
    let health = format!("http://127.0.0.1:{port}/health");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(&health).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("ws://127.0.0.1:{port}/connection/websocket");
    let mut c = ProtocolClient::open(&url, Protocol::Json).await;
    assert!(c.connect("").await.connect.is_some());

    // log.file: the start-up lines are there, one JSON object per line.
    let text = file_contains(&log_file, &["\"level\":\"INFO\""]).await;
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }

    write_config("debug", 5);
    send("-HUP", child.id());
    file_contains(
        &log_file,
        &[
            "config reload: applied",
            "\"key\":\"log.level\"",
            "takes effect after a restart",
            "\"key\":\"client.channel_limit\"",
        ],
    )
    .await;
    // Still serving, the connection untouched.
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP killed the server"
    );
    assert!(c.subscribe("after-reload").await.subscribe.is_some());
    assert!(reqwest::get(&health).await.unwrap().status().is_success());

    // A file that does not validate is logged and ignored.
    std::fs::write(
        &config,
        r#"{"client": {"ping_interval": "1s", "pong_timeout": "5s"}}"#,
    )
    .unwrap();
    send("-HUP", child.id());
    file_contains(&log_file, &["keeping the running one"]).await;
    assert!(child.try_wait().unwrap().is_none());

    // Shutdown still works as before: 3001, exit 0, pid file removed.
    send("-TERM", child.id());
    assert_eq!(c.closed_with().await.0, 3001);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!pid_file.exists());
}
