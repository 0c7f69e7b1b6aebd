//! The admin UI endpoints over real HTTP: login, token-protected API calls that
//! reach real WebSocket subscribers, live node stats and the embedded assets.

use chorus_protocol::Protocol;
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::server::router;
use chorus_server::state::AppState;
use chorus_testkit::ProtocolClient;
use serde_json::{Value, json};
use std::net::SocketAddr;

fn config(admin: &str) -> ServerConfig {
    let text = format!(
        r#"{{"client": {{"insecure": true}}, "admin": {admin},
            "channel": {{"without_namespace": {{"presence": true}}}}}}"#
    );
    let cfg = ServerConfig::from_str_format(&text, ConfigFormat::Json)
        .unwrap()
        .config;
    cfg.validate().unwrap();
    cfg
}

/// Served by the server's own accept loop, which tells handlers the peer address.
async fn start(config: ServerConfig) -> SocketAddr {
    let app = router(AppState::new(config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The sender is dropped: the server never stops (the test's runtime ends it).
    let (_, never) = tokio::sync::watch::channel(false);
    let timeouts = chorus_server::http_serve::HttpTimeouts::default();
    tokio::spawn(chorus_server::http_serve::serve(
        listener, app, never, timeouts,
    ));
    addr
}

const SECURE: &str = r#"{"enabled": true, "password": "pw", "secret": "sec"}"#;

async fn login(addr: SocketAddr, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("http://{addr}/admin/auth"))
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap()
}

async fn admin_api(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    params: Value,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{addr}/admin/api"))
        .json(&json!({ "method": method, "params": params }));
    if let Some(t) = token {
        req = req.header("Authorization", format!("token {t}"));
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn login_from(addr: SocketAddr, local: [u8; 4], password: &str) -> u16 {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(local))
        .build()
        .unwrap()
        .post(format!("http://{addr}/admin/auth"))
        .json(&json!({ "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn failed_logins_are_throttled_per_client_address() {
    let addr = start(config(SECURE)).await;
    // Successes are never counted.
    for _ in 0..15 {
        assert_eq!(login_from(addr, [127, 0, 0, 1], "pw").await, 200);
    }
    for _ in 0..10 {
        assert_eq!(login_from(addr, [127, 0, 0, 1], "guess").await, 400);
    }
    // Over the limit: refused before the password is checked, right or wrong.
    assert_eq!(login_from(addr, [127, 0, 0, 1], "guess").await, 429);
    assert_eq!(login_from(addr, [127, 0, 0, 1], "pw").await, 429);
    // Another address is not affected.
    assert_eq!(login_from(addr, [127, 0, 0, 2], "pw").await, 200);
    assert_eq!(login_from(addr, [127, 0, 0, 2], "guess").await, 400);
}

#[tokio::test]
async fn wrong_password_is_refused_and_api_needs_a_token() {
    let addr = start(config(SECURE)).await;
    assert_eq!(login(addr, "nope").await.status(), 400);
    let (status, _) = admin_api(addr, None, "info", json!({})).await;
    assert_eq!(status, 401);
    let (status, _) = admin_api(addr, Some("forged"), "info", json!({})).await;
    assert_eq!(status, 401);
    let init: Value = reqwest::get(format!("http://{addr}/admin/init"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(init["insecure"], false);
}

#[tokio::test]
async fn logged_in_admin_publishes_to_a_subscriber_and_sees_the_node() {
    let addr = start(config(SECURE)).await;
    let resp = login(addr, "pw").await;
    assert_eq!(resp.status(), 200);
    let token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut c =
        ProtocolClient::open(&format!("ws://{addr}/connection/websocket"), Protocol::Json).await;
    assert!(c.connect("").await.connect.is_some());
    assert!(c.subscribe("news").await.subscribe.is_some());

    let (status, body) = admin_api(
        addr,
        Some(&token),
        "publish",
        json!({"channel": "news", "data": {"from": "admin"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with(r#"{"result":"#), "{body}");
    let p = c.recv_publication("news").await;
    assert_eq!(&p.data[..], br#"{"from":"admin"}"#);

    let (_, body) = admin_api(
        addr,
        Some(&token),
        "presence_stats",
        json!({"channel": "news"}),
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["result"]["num_clients"], 1);
    let (_, body) = admin_api(addr, Some(&token), "nope", json!({})).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], 104, "{body}");

    let stats: Value = reqwest::Client::new()
        .get(format!("http://{addr}/admin/stats"))
        .header("Authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["num_clients"], 1);
    assert_eq!(stats["num_channels"], 1);
    assert!(stats["rss_bytes"].as_u64().unwrap() > 0);
    assert!(stats["messages_out"].as_u64().unwrap() >= 3);
}

#[tokio::test]
async fn ui_is_embedded_and_served_under_the_prefix() {
    let addr = start(config(
        r#"{"enabled": true, "insecure": true, "handler_prefix": "/ops"}"#,
    ))
    .await;
    let page = reqwest::get(format!("http://{addr}/ops")).await.unwrap();
    assert_eq!(
        page.url().path(),
        "/ops/",
        "redirected to the trailing slash"
    );
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<title>Chorus admin</title>")
    );
    let js = reqwest::get(format!("http://{addr}/ops/app.js"))
        .await
        .unwrap();
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // Insecure: no login needed.
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/ops/admin/api"))
        .json(&json!({"method": "info", "params": {}}))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["result"]["nodes"].as_array().unwrap().len(), 1, "{v}");
}

#[tokio::test]
async fn admin_is_off_by_default() {
    let addr = start(ServerConfig::default()).await;
    let resp = reqwest::get(format!("http://{addr}/admin/init"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
