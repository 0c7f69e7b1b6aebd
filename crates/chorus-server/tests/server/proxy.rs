//! The HTTP proxy (spec §9) against a real axum backend on a free port, driven
//! by real protocol clients over WebSocket: connect, subscribe, publish, RPC,
//! refresh and sub_refresh; errors, disconnects, timeouts, status transforms;
//! per-namespace enabling and named proxies; header forwarding rules.

use crate::proxy_support;

use bytes::Bytes;
use chorus_protocol::{
    Command, ConnectRequest, HistoryRequest, Protocol, PublishRequest, RpcRequest,
};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::server::router;
use chorus_server::state::AppState;
use chorus_testkit::ProtocolClient;
use proxy_support::Backend;
use serde_json::{Value, json};
use std::net::SocketAddr;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn proxy(url: &str) -> Value {
    json!({"endpoint": url, "timeout": "300ms"})
}

/// A config with every proxy pointing at `b`, proxied namespace `p`, an open
/// namespace `open`, and a closed one `closed`.
fn config(b: &Backend, patch: impl FnOnce(&mut Value)) -> ServerConfig {
    let mut v = json!({
        "client": {
            "token": {"hmac_secret_key": "secret"},
            "expired_sub_close_delay": "0s",
            "proxy": {
                "connect": {"enabled": true, "endpoint": b.url("connect"), "timeout": "300ms"},
                "refresh": {"enabled": false, "endpoint": b.url("refresh")}
            }
        },
        "channel": {
            "proxy": {
                "subscribe": proxy(&b.url("subscribe")),
                "publish": proxy(&b.url("publish")),
                "sub_refresh": proxy(&b.url("sub_refresh"))
            },
            "namespaces": [
                {"name": "px", "subscribe_proxy_enabled": true, "publish_proxy_enabled": true,
                 "history_size": 10, "history_ttl": "60s", "allow_history_for_client": true},
                {"name": "open", "allow_subscribe_for_client": true},
                {"name": "closed"}
            ]
        },
        "rpc": {
            "proxy": proxy(&b.url("rpc")),
            "without_namespace": {"proxy_enabled": true},
            "namespaces": [{"name": "local"}]
        }
    });
    patch(&mut v);
    let config = ServerConfig::from_str_format(&v.to_string(), ConfigFormat::Json)
        .unwrap()
        .config;
    config.validate().unwrap();
    config
}

async fn start(config: ServerConfig) -> SocketAddr {
    let state = AppState::new(config).unwrap();
    let app = router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn open(addr: SocketAddr) -> ProtocolClient {
    ProtocolClient::open(&format!("ws://{addr}/connection/websocket"), Protocol::Json).await
}

fn data(v: Value) -> Bytes {
    Bytes::from(v.to_string())
}

fn connect_req(v: Value) -> ConnectRequest {
    ConnectRequest {
        data: data(v),
        name: "test-sdk".into(),
        version: "1.2.3".into(),
        ..Default::default()
    }
}

async fn connected(addr: SocketAddr, user: &str) -> ProtocolClient {
    let mut c = open(addr).await;
    let r = c.connect_with(connect_req(json!({"user": user}))).await;
    assert!(r.connect.is_some(), "connect failed: {r:?}");
    c
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

async fn publish(c: &mut ProtocolClient, channel: &str, v: Value) -> chorus_protocol::Reply {
    c.call(Command {
        publish: Some(PublishRequest {
            channel: channel.into(),
            data: data(v),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
}

async fn rpc(c: &mut ProtocolClient, method: &str, v: Value) -> chorus_protocol::Reply {
    c.call(Command {
        rpc: Some(RpcRequest {
            method: method.into(),
            data: data(v),
        }),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn connect_proxy_grants_user_data_and_server_side_subs() {
    let b = Backend::start().await;
    let addr = start(config(&b, |_| {})).await;
    let mut c = open(addr).await;
    let r = c
        .connect_with(connect_req(json!({"user": "bob", "sub": "open:news"})))
        .await;
    let result = r.connect.expect("connect result");
    assert_eq!(json_of(&result.data), json!({"hello": "from backend"}));
    assert!(result.subs.contains_key("open:news"));
    assert_eq!(
        json_of(&result.subs["open:news"].data),
        json!({"server_side": true})
    );
    let seen = b.wait_for("connect", 1).await;
    let body = &seen[0].body;
    assert!(!body["client"].as_str().unwrap().is_empty());
    assert_eq!(body["transport"], "websocket");
    assert_eq!(body["protocol"], "json");
    assert_eq!(body["encoding"], "json");
    assert_eq!(body["name"], "test-sdk");
    assert_eq!(body["version"], "1.2.3");
    assert_eq!(body["data"]["user"], "bob");
    assert_eq!(
        seen[0].headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    // The granted user and info show up in presence-free ways: an RPC carries the user.
    rpc(&mut c, "whoami", json!({})).await;
    let rpc_seen = b.wait_for("rpc", 1).await;
    assert_eq!(rpc_seen[0].body["user"], "bob");
}

#[tokio::test]
async fn connect_proxy_sub_expire_at_expires_the_server_side_subscription() {
    let b = Backend::start().await;
    let addr = start(config(&b, |_| {})).await;
    let mut c = open(addr).await;
    let r = c
        .connect_with(connect_req(
            json!({"user": "bob", "sub": "open:news", "sub_expire_in": 1}),
        ))
        .await;
    let result = r.connect.expect("connect result");
    let sub = &result.subs["open:news"];
    assert!(sub.expires, "{sub:?}");
    assert!((1..=2).contains(&sub.ttl), "{sub:?}");
    // Not refreshed: 3006 once expired (the test config has no close delay).
    assert_eq!(c.closed_with().await.0, 3006);
}

#[tokio::test]
async fn connect_proxy_error_and_disconnect_reach_the_client() {
    let b = Backend::start().await;
    let addr = start(config(&b, |_| {})).await;
    let mut c = open(addr).await;
    let r = c.connect_with(connect_req(json!({"reject": 1401}))).await;
    let e = r.error.expect("error");
    assert_eq!((e.code, e.message.as_str()), (1401, "rejected by backend"));

    let mut c = open(addr).await;
    c.send(Command {
        connect: Some(connect_req(json!({"disconnect": 4403}))),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await, (4403, "backend says bye".into()));
}

#[tokio::test]
async fn backend_down_slow_or_non_200_gives_temporary_internal_error() {
    let b = Backend::start().await;
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/connect", dead.local_addr().unwrap());
    drop(dead);
    let addr = start(config(&b, |_| {})).await;
    for req in [json!({"sleep_ms": 2000}), json!({"status": 500})] {
        let mut c = open(addr).await;
        let e = c.connect_with(connect_req(req)).await.error.expect("error");
        assert_eq!(e.code, 100);
        assert!(e.temporary);
    }
    let down = start(config(&b, |v| {
        v["client"]["proxy"]["connect"]["endpoint"] = json!(dead_url);
    }))
    .await;
    let mut c = open(down).await;
    let e = c
        .connect_with(connect_req(json!({"user": "x"})))
        .await
        .error
        .expect("error");
    assert_eq!((e.code, e.temporary), (100, true));
}

#[tokio::test]
async fn status_to_code_transforms_map_statuses() {
    let b = Backend::start().await;
    let addr = start(config(&b, |v| {
        v["client"]["proxy"]["connect"]["http"] = json!({"status_to_code_transforms": [
            {"status_code": 403, "to_error": {"code": 1403, "message": "forbidden", "temporary": false}},
            {"status_code": 410, "to_disconnect": {"code": 4410, "reason": "gone"}}
        ]});
    }))
    .await;
    let mut c = open(addr).await;
    let e = c
        .connect_with(connect_req(json!({"status": 403})))
        .await
        .error
        .expect("error");
    assert_eq!((e.code, e.message.as_str()), (1403, "forbidden"));
    let mut c = open(addr).await;
    c.send(Command {
        connect: Some(connect_req(json!({"status": 410}))),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await, (4410, "gone".into()));
}

#[tokio::test]
async fn a_slow_backend_call_does_not_hold_up_other_clients() {
    let b = Backend::start().await;
    let addr = start(config(&b, |v| {
        v["rpc"]["proxy"]["timeout"] = json!("10s");
    }))
    .await;
    let mut slow = connected(addr, "slow").await;
    slow.send(Command {
        rpc: Some(RpcRequest {
            method: "sleep".into(),
            data: data(json!({})),
        }),
        ..Default::default()
    })
    .await;
    b.wait_for("rpc", 1).await;
    // While the backend sleeps for the first client, another one gets served.
    let mut fast = connected(addr, "fast").await;
    let r = rpc(&mut fast, "echo", json!({"n": 1})).await;
    assert_eq!(json_of(&r.rpc.expect("rpc result").data), json!({"n": 1}));
}

#[tokio::test]
async fn subscribe_proxy_applies_per_namespace() {
    let b = Backend::start().await;
    let addr = start(config(&b, |_| {})).await;
    let mut c = connected(addr, "alice").await;
    let r = c.subscribe("px:room").await;
    let result = r.subscribe.expect("subscribe result");
    assert_eq!(json_of(&result.data), json!({"welcome": true}));
    let seen = b.wait_for("subscribe", 1).await;
    assert_eq!(seen[0].body["channel"], "px:room");
    assert_eq!(seen[0].body["user"], "alice");
    assert!(
        seen[0].body.get("meta").is_none(),
        "meta only when included"
    );

    let e = c.subscribe("px:deny").await.error.expect("error");
    assert_eq!((e.code, e.temporary), (1403, false));

    // Namespaces without the proxy use the allow_* options and never reach it.
    assert!(c.subscribe("open:x").await.subscribe.is_some());
    assert_eq!(
        c.subscribe("closed:x").await.error.expect("error").code,
        103
    );
    assert_eq!(b.seen("subscribe").len(), 2);
}

#[tokio::test]
async fn include_connection_meta_sends_the_connect_meta() {
    let b = Backend::start().await;
    let addr = start(config(&b, |v| {
        v["channel"]["proxy"]["subscribe"]["include_connection_meta"] = json!(true);
    }))
    .await;
    let mut c = connected(addr, "alice").await;
    c.subscribe("px:room").await.subscribe.expect("subscribed");
    let seen = b.wait_for("subscribe", 1).await;
    assert_eq!(seen[0].body["meta"], json!({"tenant": 7}));
}

#[tokio::test]
async fn publish_proxy_rewrites_data_and_skips_history() {
    let b = Backend::start().await;
    let addr = start(config(&b, |_| {})).await;
    let mut c = connected(addr, "alice").await;
    c.subscribe("px:room").await.subscribe.expect("subscribed");
    let r = publish(&mut c, "px:room", json!({"rewrite": "hi"})).await;
    assert!(r.publish.is_some(), "{r:?}");
    let p = c.recv_publication("px:room").await;
    assert_eq!(json_of(&p.data), json!({"rewritten": "hi"}));
    let seen = b.wait_for("publish", 1).await;
    assert_eq!(seen[0].body["data"], json!({"rewrite": "hi"}));

    c.subscribe("px:nohist")
        .await
        .subscribe
        .expect("subscribed");
    publish(&mut c, "px:nohist", json!({"x": 1}))
        .await
        .publish
        .expect("published");
    c.recv_publication("px:nohist").await;
    for (channel, kept) in [("px:room", 1), ("px:nohist", 0)] {
        let h = c
            .call(Command {
                history: Some(HistoryRequest {
                    channel: channel.into(),
                    limit: 10,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await;
        let h = h.history.expect("history");
        assert_eq!(h.publications.len(), kept, "{channel}");
    }

    let e = publish(&mut c, "px:room", json!({"reject": 1600}))
        .await
        .error
        .expect("error");
    assert_eq!(e.code, 1600);
    // Without the publish proxy and without allow_publish_*, 103.
    assert_eq!(
        publish(&mut c, "open:x", json!({}))
            .await
            .error
            .expect("error")
            .code,
        103
    );
}

#[tokio::test]
async fn rpc_proxy_answers_errors_and_disconnects() {
    let b = Backend::start().await;
    let addr = start(config(&b, |_| {})).await;
    let mut c = connected(addr, "alice").await;
    let r = rpc(&mut c, "echo", json!({"a": [1, 2]})).await;
    assert_eq!(json_of(&r.rpc.expect("rpc").data), json!({"a": [1, 2]}));
    assert_eq!(
        rpc(&mut c, "fail", json!({})).await.error.expect("e").code,
        1500
    );
    // A namespace without the proxy: method not found.
    assert_eq!(
        rpc(&mut c, "local:thing", json!({}))
            .await
            .error
            .expect("e")
            .code,
        104
    );
    c.send(Command {
        rpc: Some(RpcRequest {
            method: "bye".into(),
            data: data(json!({})),
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(c.closed_with().await, (4321, "rpc bye".into()));
}

#[tokio::test]
async fn named_proxies_route_namespaces_to_their_backend() {
    let main = Backend::start().await;
    let other = Backend::start().await;
    let other_url = other.url("rpc");
    let addr = start(config(&main, |v| {
        v["proxies"] = json!([{"name": "other", "endpoint": other_url}]);
        v["rpc"]["namespaces"] =
            json!([{"name": "ext", "proxy_enabled": true, "proxy_name": "other"}]);
    }))
    .await;
    let mut c = connected(addr, "alice").await;
    let r = rpc(&mut c, "ext:call", json!({})).await;
    assert_eq!(
        json_of(&r.rpc.expect("rpc").data),
        json!({"method": "ext:call"})
    );
    assert_eq!(other.seen("rpc").len(), 1);
    assert!(main.seen("rpc").is_empty());
}

#[tokio::test]
async fn binary_encoding_sends_and_reads_base64() {
    let b = Backend::start().await;
    let url = b.url("b64rpc");
    let addr = start(config(&b, |v| {
        v["rpc"]["proxy"] = json!({"endpoint": url, "binary_encoding": true});
    }))
    .await;
    let mut c = connected(addr, "alice").await;
    let r = rpc(&mut c, "m", json!({"k": 1})).await;
    assert_eq!(json_of(&r.rpc.expect("rpc").data), json!({"b": 1}));
    let seen = b.wait_for("b64rpc", 1).await;
    assert_eq!(seen[0].body["encoding"], "binary");
    assert!(seen[0].body.get("data").is_none());
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(seen[0].body["b64data"].as_str().unwrap())
        .unwrap();
    assert_eq!(json_of(&raw), json!({"k": 1}));
}

#[tokio::test]
async fn refresh_proxy_extends_then_expires_the_connection() {
    let b = Backend::start().await;
    let addr = start(config(&b, |v| {
        v["client"]["proxy"]["refresh"]["enabled"] = json!(true);
        v["client"]["proxy"]["refresh"]["include_connection_meta"] = json!(true);
    }))
    .await;
    let mut c = open(addr).await;
    let r = c
        .connect_with(connect_req(json!({"user": "u", "expire_in": 1})))
        .await;
    let result = r.connect.expect("connect");
    assert!(
        !result.expires,
        "with a refresh proxy the client does not refresh"
    );
    let seen = b.wait_for("refresh", 1).await;
    assert_eq!(seen[0].body["user"], "u");
    assert_eq!(seen[0].body["meta"], json!({"tenant": 7}));
    // Extended by 100 s: still connected.
    assert!(rpc(&mut c, "echo", json!({})).await.rpc.is_some());

    let mut c = open(addr).await;
    b.set_expire(true);
    c.connect_with(connect_req(json!({"user": "u", "expire_in": 1})))
        .await
        .connect
        .expect("connect");
    assert_eq!(c.closed_with().await.0, 3005);
}

#[tokio::test]
async fn sub_refresh_proxy_extends_subscriptions() {
    let b = Backend::start().await;
    let addr = start(config(&b, |v| {
        v["channel"]["namespaces"][0]["sub_refresh_proxy_enabled"] = json!(true);
    }))
    .await;
    let mut c = connected(addr, "alice").await;
    let sub = c
        .call(Command {
            subscribe: Some(chorus_protocol::SubscribeRequest {
                channel: "px:short".into(),
                data: data(json!({"expire_in": 1})),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .subscribe
        .expect("subscribed");
    assert!(!sub.expires, "the server refreshes: the client is not told");
    let seen = b.wait_for("sub_refresh", 1).await;
    assert_eq!(seen[0].body["channel"], "px:short");
    assert_eq!(seen[0].body["user"], "alice");
    // Still subscribed: a publication arrives, no unsubscribe push before it.
    publish(&mut c, "px:short", json!({"after": "refresh"}))
        .await
        .publish
        .expect("published");
    let push = c.recv_push().await;
    assert!(
        push.r#pub.is_some(),
        "expected the publication, got {push:?}"
    );
}

/// Opens a WebSocket with extra request headers.
async fn open_with_headers(addr: SocketAddr, headers: &[(&str, &str)]) -> ProtocolClient {
    let mut req = format!("ws://{addr}/connection/websocket")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ProtocolClient::from_stream(ws, Protocol::Json)
}

fn header_config(b: &Backend) -> ServerConfig {
    config(b, |v| {
        let c = &mut v["client"]["proxy"]["connect"];
        c["http_headers"] = json!(["Authorization", "X-Both", "X-All"]);
        c["emulated_headers"] = json!(["X-Emulated", "X-Both", "X-All"]);
        c["http"] = json!({"static_headers": {"X-Static": "s", "X-All": "s", "X-Both": "s"}});
    })
}

async fn connect_with_headers(b: &Backend, transport: &[(&str, &str)], emulated: &[(&str, &str)]) {
    let addr = start(header_config(b)).await;
    let mut c = open_with_headers(addr, transport).await;
    let mut req = connect_req(json!({"user": "h"}));
    req.headers = emulated
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    c.connect_with(req).await.connect.expect("connect");
}

fn header(seen: &proxy_support::Seen, name: &str) -> Option<String> {
    seen.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn allowed_transport_headers_are_forwarded_others_not() {
    let b = Backend::start().await;
    connect_with_headers(
        &b,
        &[("authorization", "Bearer t"), ("x-secret", "no")],
        &[],
    )
    .await;
    let seen = &b.wait_for("connect", 1).await[0];
    assert_eq!(header(seen, "authorization").as_deref(), Some("Bearer t"));
    assert_eq!(header(seen, "x-secret"), None);
}

#[tokio::test]
async fn emulated_headers_need_their_own_allow_list() {
    let b = Backend::start().await;
    // Authorization is allowed as a transport header only: an emulated one is
    // client-controlled and must not be forwarded.
    connect_with_headers(&b, &[], &[("x-emulated", "e"), ("authorization", "forged")]).await;
    let seen = &b.wait_for("connect", 1).await[0];
    assert_eq!(header(seen, "x-emulated").as_deref(), Some("e"));
    assert_eq!(header(seen, "authorization"), None);
}

#[tokio::test]
async fn transport_header_beats_emulated_header() {
    let b = Backend::start().await;
    connect_with_headers(&b, &[("x-both", "transport")], &[("x-both", "emulated")]).await;
    let seen = &b.wait_for("connect", 1).await[0];
    assert_eq!(header(seen, "x-both").as_deref(), Some("transport"));
}

#[tokio::test]
async fn emulated_header_beats_static_header() {
    let b = Backend::start().await;
    connect_with_headers(&b, &[], &[("x-all", "emulated")]).await;
    let seen = &b.wait_for("connect", 1).await[0];
    assert_eq!(header(seen, "x-all").as_deref(), Some("emulated"));
    assert_eq!(header(seen, "x-static").as_deref(), Some("s"));
}

#[tokio::test]
async fn transport_headers_are_forwarded_with_later_events_too() {
    let b = Backend::start().await;
    let addr = start(config(&b, |v| {
        v["rpc"]["proxy"]["http_headers"] = json!(["Cookie"]);
    }))
    .await;
    let mut c = open_with_headers(addr, &[("cookie", "session=abc")]).await;
    c.connect_with(connect_req(json!({"user": "u"})))
        .await
        .connect
        .expect("connect");
    rpc(&mut c, "x", json!({})).await.rpc.expect("rpc");
    let seen = &b.wait_for("rpc", 1).await[0];
    assert_eq!(header(seen, "cookie").as_deref(), Some("session=abc"));
}

#[test]
fn validation_reports_unknown_proxy_names_and_bad_endpoints() {
    let text = json!({
        "proxies": [{"name": "default", "endpoint": "ftp://x"}],
        "channel": {"namespaces": [{"name": "a", "subscribe_proxy_enabled": true, "subscribe_proxy_name": "nope"},
                                   {"name": "b", "publish_proxy_enabled": true}]},
        "rpc": {"without_namespace": {"proxy_enabled": true}},
        "client": {"proxy": {"connect": {"enabled": true, "endpoint": ""}}}
    });
    let config = ServerConfig::from_str_format(&text.to_string(), ConfigFormat::Json)
        .unwrap()
        .config;
    let problems = config.problems();
    for expected in [
        "proxies[0].name: \"default\" is reserved for the proxies in channel.proxy and rpc.proxy",
        "proxies[0].endpoint: \"ftp://x\" must start with http://, https:// or grpc://",
        "channel.namespaces[0].subscribe_proxy_name: unknown proxy \"nope\" (not in proxies)",
        "channel.namespaces[1].publish_proxy_name: the proxy is enabled but channel.proxy.publish.endpoint is not set",
        "rpc.without_namespace.proxy_name: the proxy is enabled but rpc.proxy.endpoint is not set",
        "client.proxy.connect.endpoint: required",
    ] {
        assert!(
            problems.iter().any(|p| p == expected),
            "missing {expected:?} in {problems:#?}"
        );
    }
}

#[test]
fn proxy_keys_are_known_and_env_addressable() {
    let text = json!({
        "proxies": [{"name": "auth", "endpoint": "http://a", "timeout": "2s",
                     "http": {"static_headers": {"k": "v"}}}],
        "client": {"proxy": {"connect": {"enabled": true, "endpoint": "http://c", "http_headers": ["Cookie"]}}},
        "channel": {"proxy": {"subscribe": {"endpoint": "grpc://s:1"}}},
        "rpc": {"proxy": {"endpoint": "http://r"}}
    });
    let loaded = ServerConfig::from_str_with_env(
        &text.to_string(),
        ConfigFormat::Json,
        [("CENTRIFUGO_PROXIES_AUTH_TIMEOUT", "5s")],
    )
    .unwrap();
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    let c = loaded.config;
    assert_eq!(c.proxies[0].options.timeout.to_string(), "5s");
    assert_eq!(c.client.proxy.connect.options.http_headers, vec!["Cookie"]);
    assert_eq!(c.channel.proxy.subscribe.endpoint, "grpc://s:1");
    assert_eq!(c.rpc.proxy.endpoint, "http://r");
    c.validate().unwrap();
}
