//! End-to-end tests of the `chorus` binary.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn chorus(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY", "") // empty = unset
        .output()
        .expect("run chorus")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn genconfig_then_checkconfig_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let out = chorus(dir.path(), &["genconfig"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    for key in [
        "/client/token/hmac_secret_key",
        "/admin/password",
        "/admin/secret",
        "/http_api/key",
    ] {
        assert!(
            !cfg.pointer(key).unwrap().as_str().unwrap().is_empty(),
            "{key}"
        );
    }
    assert_eq!(
        cfg.pointer("/client/allowed_origins").unwrap(),
        &serde_json::json!([])
    );

    // Refuses to overwrite.
    let again = chorus(dir.path(), &["genconfig"]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists"));

    let check = chorus(dir.path(), &["checkconfig", "--strict"]);
    assert!(check.status.success(), "{}", text(&check.stderr));

    let token = chorus(dir.path(), &["gentoken", "-u", "42", "-q"]);
    assert!(token.status.success(), "{}", text(&token.stderr));
    let token = text(&token.stdout).trim().to_owned();
    let verified = chorus(dir.path(), &["checktoken", &token]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(
        text(&verified.stdout).contains("\"42\""),
        "{}",
        text(&verified.stdout)
    );

    // No expiry with -t -1.
    let forever = chorus(dir.path(), &["gentoken", "-u", "7", "-t", "-1"]);
    assert!(text(&forever.stdout).contains("without expiration"));
    let forever_token = text(&forever.stdout).lines().last().unwrap().to_owned();
    let verified = chorus(dir.path(), &["checktoken", &forever_token]);
    assert!(
        text(&verified.stdout).contains("never expires"),
        "{}",
        text(&verified.stdout)
    );

    // Subscription tokens.
    let sub = chorus(dir.path(), &["gensubtoken", "-u", "42", "-s", "news", "-q"]);
    let sub = text(&sub.stdout).trim().to_owned();
    let verified = chorus(dir.path(), &["checksubtoken", &sub]);
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    assert!(text(&verified.stdout).contains("\"news\""));
    // A subscription token is not a connection token, and vice versa.
    assert!(!chorus(dir.path(), &["checktoken", &sub]).status.success());
    assert!(
        !chorus(dir.path(), &["checksubtoken", &token])
            .status
            .success()
    );
    assert!(
        !chorus(dir.path(), &["checktoken", "garbage"])
            .status
            .success()
    );
}

#[test]
fn genconfig_yaml_and_toml() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["c.yaml", "c.toml"] {
        let out = chorus(dir.path(), &["genconfig", "-c", name]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let check = chorus(dir.path(), &["-c", name, "checkconfig", "--strict"]);
        assert!(check.status.success(), "{name}: {}", text(&check.stderr));
    }
}

#[test]
fn checkconfig_strict_lists_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"colour": "blue", "client": {"tokn": {}}}"#,
    )
    .unwrap();
    let lax = chorus(dir.path(), &["checkconfig"]);
    assert!(lax.status.success(), "{}", text(&lax.stderr));
    assert!(text(&lax.stderr).contains("colour"));
    let strict = chorus(dir.path(), &["checkconfig", "--strict"]);
    assert!(!strict.status.success());
    let err = text(&strict.stderr);
    assert!(
        err.contains("colour") && err.contains("client.tokn"),
        "{err}"
    );
}

#[test]
fn invalid_config_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "log:\n  level: loud\nengine:\n  type: x\nchannel:\n  namespaces:\n    - name: a\n",
    )
    .unwrap();
    let out = chorus(dir.path(), &["-c", "bad.yaml", "checkconfig"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("3 problems"), "{err}");
    for needle in ["log.level", "engine.type", "channel.namespaces[0].name"] {
        assert!(err.contains(needle), "{err}");
    }
    // Serving refuses the same config.
    let serve = chorus(dir.path(), &["-c", "bad.yaml"]);
    assert!(!serve.status.success());
}

#[test]
fn missing_explicit_config_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = chorus(dir.path(), &["-c", "nope.json", "checkconfig"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not found"));
}

#[test]
fn defaultconfig_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = chorus(dir.path(), &["defaultconfig"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["http_server"]["port"], 8000);
    assert_eq!(v["client"]["ping_interval"], "25s");
    let yaml = chorus(dir.path(), &["defaultconfig", "--format", "yaml"]);
    assert!(text(&yaml.stdout).contains("ping_interval: 25s"));
    let version = chorus(dir.path(), &["version"]);
    assert!(text(&version.stdout).starts_with("chorus "));
    let help = chorus(dir.path(), &["gentoken", "--help"]);
    assert!(text(&help.stdout).contains("--ttl"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

#[test]
fn serves_health_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args([
            "-p",
            &port.to_string(),
            "-a",
            "127.0.0.1",
            "--health.enabled",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        if let Some(r) = http_get(port, "/health") {
            break r;
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("{}"), "{response}");
    let other = http_get(port, "/nope").unwrap();
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(exit.success(), "exit {exit:?}: {stderr}");
    assert!(
        stderr.contains("genconfig"),
        "friendly hint expected: {stderr}"
    );
}

#[test]
fn health_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args([
            "-p",
            &port.to_string(),
            "-a",
            "127.0.0.1",
            "--log.level",
            "error",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let response = loop {
        if let Some(r) = http_get(port, "/health") {
            break r;
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
}
