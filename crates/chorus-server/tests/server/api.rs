//! Server HTTP API tests: the router on a real listener with a real engine,
//! driven by a real HTTP client.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chorus_node::{ChannelOptions, Node, NodeConfig};
use chorus_server::config::HttpApiConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "api-secret";

fn node() -> Node {
    let mut config = NodeConfig::default();
    let mut hist = ChannelOptions::default();
    hist.history_size = 10;
    hist.history_ttl = Duration::from_secs(300);
    hist.presence = true;
    config
        .channels
        .namespaces
        .insert("hist".into(), Arc::new(hist));
    config
        .channels
        .namespaces
        .insert("plain".into(), Arc::new(ChannelOptions::default()));
    Node::builder(config).build()
}

fn api_config() -> HttpApiConfig {
    HttpApiConfig {
        key: KEY.into(),
        ..HttpApiConfig::default()
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(config: HttpApiConfig) -> Self {
        let app = chorus_server::api::router(node(), &config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    async fn default() -> Self {
        Self::start(api_config()).await
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }

    /// `POST /api/<method>` with the key; returns status and JSON body.
    async fn call(&self, method: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .post(&format!("/api/{method}"))
            .header("X-API-Key", KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The `result` of a successful call.
    async fn ok(&self, method: &str, body: Value) -> Value {
        let (status, v) = self.call(method, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert!(v.get("error").is_none(), "{method}: unexpected error {v}");
        v["result"].clone()
    }

    /// The error code of a failed call (default error mode: HTTP 200).
    async fn err(&self, method: &str, body: Value) -> u64 {
        let (status, v) = self.call(method, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert!(v.get("result").is_none(), "{v}");
        v["error"]["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no error in {v}"))
    }

    async fn raw(&self, path: &str, body: &'static str) -> (StatusCode, String) {
        let resp = self
            .post(path)
            .header("X-API-Key", KEY)
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }
}

#[tokio::test]
async fn publish_results_and_validation() {
    let api = Api::default().await;
    // No history: empty result.
    let r = api
        .ok("publish", json!({"channel": "news", "data": {"t": 1}}))
        .await;
    assert_eq!(r, json!({}));
    // History: the position.
    let r = api
        .ok("publish", json!({"channel": "hist:a", "data": {"t": 1}}))
        .await;
    assert_eq!(r["offset"], 1);
    assert!(!r["epoch"].as_str().unwrap().is_empty());
    // skip_history: nothing kept, no position.
    let r = api
        .ok(
            "publish",
            json!({"channel": "hist:a", "data": 1, "skip_history": true}),
        )
        .await;
    assert_eq!(r, json!({}));

    assert_eq!(api.err("publish", json!({"data": {}})).await, 107);
    assert_eq!(api.err("publish", json!({"channel": "news"})).await, 107);
    assert_eq!(
        api.err("publish", json!({"channel": "nope:x", "data": {}}))
            .await,
        102
    );
    // Unknown namespace is reported before missing data, as in Centrifugo.
    assert_eq!(api.err("publish", json!({"channel": "nope:x"})).await, 102);
    assert_eq!(
        api.err("publish", json!({"channel": "news", "b64data": "%%%"}))
            .await,
        107
    );
    assert_eq!(
        api.err("publish", json!({"channel": "x".repeat(300), "data": {}}))
            .await,
        107
    );
    // null fields count as absent.
    let r = api
        .ok(
            "publish",
            json!({"channel": "hist:n", "data": 1, "tags": null, "idempotency_key": null}),
        )
        .await;
    assert_eq!(r["offset"], 1);
    assert_eq!(
        api.err("publish", json!({"channel": "news", "data": null}))
            .await,
        107
    );
}

#[tokio::test]
async fn publish_tags_b64data_and_idempotency() {
    let api = Api::default().await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(br#"{"x":1}"#);
    api.ok(
        "publish",
        json!({"channel": "hist:b", "b64data": b64, "data": {"ignored": true}, "tags": {"k": "v"}}),
    )
    .await;
    let first = api
        .ok(
            "publish",
            json!({"channel": "hist:b", "data": {"n": 2}, "idempotency_key": "once"}),
        )
        .await;
    let again = api
        .ok(
            "publish",
            json!({"channel": "hist:b", "data": {"n": 3}, "idempotency_key": "once"}),
        )
        .await;
    assert_eq!(first, again);
    assert_eq!(first["offset"], 2);

    let h = api
        .ok("history", json!({"channel": "hist:b", "limit": -1}))
        .await;
    assert_eq!(
        h["publications"],
        json!([
            {"data": {"x": 1}, "offset": 1, "tags": {"k": "v"}},
            {"data": {"n": 2}, "offset": 2},
        ])
    );
}

#[tokio::test]
async fn broadcast_reports_per_channel() {
    let api = Api::default().await;
    let r = api
        .ok(
            "broadcast",
            json!({"channels": ["hist:a", "nope:x", "", "news"], "data": {"b": 1}}),
        )
        .await;
    let responses = r["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 4);
    assert_eq!(responses[0]["result"]["offset"], 1);
    assert_eq!(
        responses[1],
        json!({"error": {"code": 102, "message": "unknown channel"}})
    );
    assert_eq!(responses[2]["error"]["code"], 107);
    assert_eq!(responses[3], json!({"result": {}}));

    assert_eq!(
        api.err("broadcast", json!({"channels": [], "data": {}}))
            .await,
        107
    );
    assert_eq!(
        api.err("broadcast", json!({"channels": ["a"], "b64data": "!"}))
            .await,
        107
    );
    let r = api.ok("broadcast", json!({"channels": ["a"]})).await;
    assert_eq!(r["responses"][0]["error"]["code"], 107);
}

#[tokio::test]
async fn user_methods() {
    let api = Api::default().await;
    // Publication versions are refused, never ignored.
    for (method, body) in [
        (
            "publish",
            json!({"channel": "hist:x", "data": {}, "version": 2}),
        ),
        (
            "publish",
            json!({"channel": "hist:x", "data": {}, "version_epoch": "e"}),
        ),
        (
            "broadcast",
            json!({"channels": ["hist:x"], "data": {}, "version": 2}),
        ),
    ] {
        let (status, v) = api.call(method, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["error"]["code"], 107, "{method}: {v}");
    }
    let sub = json!({
        "user": "42", "channel": "hist:x", "info": {"i": 1}, "b64data": "e30=",
        "expire_at": 0, "client": "", "session": "s",
        "recover_since": {"offset": 1, "epoch": "e"},
        "override": {"presence": {"value": false}, "join_leave": null},
    });
    assert_eq!(api.ok("subscribe", sub).await, json!({}));
    assert_eq!(api.err("subscribe", json!({"user": "42"})).await, 107);
    assert_eq!(
        api.err("subscribe", json!({"user": "42", "channel": "nope:x"}))
            .await,
        102
    );
    assert_eq!(
        api.err(
            "subscribe",
            json!({"user": "42", "channel": "a", "b64info": "?"})
        )
        .await,
        107
    );

    let r = api
        .ok("unsubscribe", json!({"user": "42", "channel": "hist:x"}))
        .await;
    assert_eq!(r, json!({}));
    assert_eq!(
        api.err("unsubscribe", json!({"user": "42", "channel": "nope:x"}))
            .await,
        102
    );

    assert_eq!(api.ok("disconnect", json!({"user": "42"})).await, json!({}));
    let r = api
        .ok(
            "disconnect",
            json!({"user": "42", "client": "c", "whitelist": ["w"], "disconnect": {"code": 4000, "reason": "bye"}}),
        )
        .await;
    assert_eq!(r, json!({}));

    let r = api
        .ok(
            "refresh",
            json!({"user": "42", "expired": true, "expire_at": 1, "info": {"a": 1}}),
        )
        .await;
    assert_eq!(r, json!({}));
}

#[tokio::test]
async fn presence_methods() {
    let api = Api::default().await;
    let r = api.ok("presence", json!({"channel": "hist:p"})).await;
    assert_eq!(r, json!({"presence": {}}));
    let r = api.ok("presence_stats", json!({"channel": "hist:p"})).await;
    assert_eq!(r, json!({"num_clients": 0, "num_users": 0}));

    for method in ["presence", "presence_stats"] {
        assert_eq!(api.err(method, json!({"channel": "plain:p"})).await, 108);
        assert_eq!(api.err(method, json!({"channel": "news"})).await, 108);
        assert_eq!(api.err(method, json!({"channel": "nope:p"})).await, 102);
        assert_eq!(api.err(method, json!({})).await, 107);
    }
}

#[tokio::test]
async fn history_methods() {
    let api = Api::default().await;
    // Always all three fields, even for an empty stream.
    let r = api.ok("history", json!({"channel": "hist:h"})).await;
    assert_eq!(r["publications"], json!([]));
    assert!(r.get("epoch").is_some() && r.get("offset").is_some(), "{r}");

    for n in 1..=3 {
        api.ok("publish", json!({"channel": "hist:h", "data": {"n": n}}))
            .await;
    }
    let all = api
        .ok("history", json!({"channel": "hist:h", "limit": -1}))
        .await;
    assert_eq!(all["publications"].as_array().unwrap().len(), 3);
    assert_eq!(all["offset"], 3);
    let epoch = all["epoch"].as_str().unwrap().to_owned();
    assert!(!epoch.is_empty());

    // limit 0 (or absent): only the position.
    let top = api.ok("history", json!({"channel": "hist:h"})).await;
    assert_eq!(
        top,
        json!({"publications": [], "epoch": epoch, "offset": 3})
    );

    let since = api
        .ok(
            "history",
            json!({"channel": "hist:h", "limit": 10, "since": {"offset": 1, "epoch": epoch}}),
        )
        .await;
    let offsets: Vec<_> = since["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [2, 3]);

    let rev = api
        .ok(
            "history",
            json!({"channel": "hist:h", "limit": 1, "reverse": true}),
        )
        .await;
    assert_eq!(
        rev["publications"],
        json!([{"data": {"n": 3}, "offset": 3}])
    );

    let wrong = json!({"channel": "hist:h", "limit": 10, "since": {"offset": 1, "epoch": "other"}});
    assert_eq!(api.err("history", wrong).await, 112);
    assert_eq!(api.err("history", json!({"channel": "plain:h"})).await, 108);
    assert_eq!(api.err("history", json!({"channel": "nope:h"})).await, 102);
    assert_eq!(api.err("history", json!({})).await, 107);

    assert_eq!(
        api.ok("history_remove", json!({"channel": "hist:h"})).await,
        json!({})
    );
    let after = api
        .ok("history", json!({"channel": "hist:h", "limit": -1}))
        .await;
    assert_eq!(
        after,
        json!({"publications": [], "epoch": epoch, "offset": 3})
    );
    assert_eq!(
        api.err("history_remove", json!({"channel": "plain:h"}))
            .await,
        108
    );
    assert_eq!(
        api.err("history_remove", json!({"channel": "nope:h"}))
            .await,
        102
    );
}

#[tokio::test]
async fn channels_info_rpc() {
    let api = Api::default().await;
    assert_eq!(api.ok("channels", json!({})).await, json!({"channels": {}}));
    assert_eq!(
        api.ok("channels", json!({"pattern": "chat:*"})).await,
        json!({"channels": {}})
    );

    let info = api.ok("info", json!({})).await;
    let nodes = info["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    let n = &nodes[0];
    assert!(!n["uid"].as_str().unwrap().is_empty());
    assert_eq!(n["name"], "chorus");
    assert!(n["version"].is_string());
    for field in ["num_clients", "num_users", "num_channels", "num_subs"] {
        assert_eq!(n[field], 0, "{field} in {n}");
    }
    // An empty body counts as `{}`.
    let (status, body) = api.raw("/api/info", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(r#"{"result":{"nodes":["#), "{body}");

    assert_eq!(
        api.err("rpc", json!({"method": "ping", "params": {}}))
            .await,
        104
    );
    assert_eq!(api.err("rpc", json!({})).await, 107);
}

#[tokio::test]
async fn batch_with_failing_item() {
    let api = Api::default().await;
    for parallel in [false, true] {
        let (status, v) = api
            .call(
                "batch",
                json!({
                    "parallel": parallel,
                    "commands": [
                        {"publish": {"channel": "hist:batch", "data": {"a": 1}}},
                        {"publish": {"channel": "nope:x", "data": {}}},
                        {},
                        {"presence_stats": {"channel": "hist:batch"}},
                        {"history": {"channel": "plain:x"}},
                        {"info": {}},
                    ],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let replies = v["replies"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert_eq!(replies.len(), 6);
        assert!(replies[0]["publish"]["offset"].as_u64().unwrap() >= 1);
        assert_eq!(
            replies[1],
            json!({"error": {"code": 102, "message": "unknown channel"}})
        );
        assert_eq!(
            replies[2],
            json!({"error": {"code": 104, "message": "not found"}})
        );
        assert_eq!(
            replies[3],
            json!({"presence_stats": {"num_clients": 0, "num_users": 0}})
        );
        assert_eq!(replies[4]["error"]["code"], 108);
        assert!(replies[5]["info"]["nodes"].is_array());
    }
}

#[tokio::test]
async fn bad_bodies_and_unknown_methods() {
    let api = Api::default().await;
    for body in [r#"{"channel":"#, "not json", r#"{"channel": 5}"#, "[]"] {
        let (status, _) = api.raw("/api/publish", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _) = api.raw("/api/batch", r#"{"commands": 1}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // No route for an unknown method, with or without a key (as Centrifugo).
    let (status, _) = api.raw("/api/no_such_method", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let resp = api
        .http
        .post(format!("{}/api/no_such_method", api.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // GET is 405, with or without a key.
    let resp = api
        .http
        .get(format!("{}/api/publish", api.base))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = api
        .http
        .get(format!("{}/api", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn api_key_sources() {
    let api = Api::default().await;
    let body = json!({"channel": "news", "data": {}});
    let status = |b: reqwest::RequestBuilder| async move { b.send().await.unwrap().status() };

    assert_eq!(
        status(api.post("/api/publish").json(&body)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(api.post("/api").json(&body)).await,
        StatusCode::UNAUTHORIZED
    );
    let resp = api.post("/api/publish").json(&body).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "", "401 is bare");

    let ok = api
        .post("/api/publish")
        .header("X-API-Key", KEY)
        .json(&body);
    assert_eq!(status(ok).await, StatusCode::OK);
    let wrong = api
        .post("/api/publish")
        .header("X-API-Key", "nope")
        .json(&body);
    assert_eq!(status(wrong).await, StatusCode::UNAUTHORIZED);
    for scheme in ["apikey", "APIKEY", "ApiKey"] {
        let b = api
            .post("/api/publish")
            .header("Authorization", format!("{scheme} {KEY}"))
            .json(&body);
        assert_eq!(status(b).await, StatusCode::OK, "{scheme}");
    }
    let bearer = api
        .post("/api/publish")
        .header("Authorization", format!("Bearer {KEY}"))
        .json(&body);
    assert_eq!(status(bearer).await, StatusCode::UNAUTHORIZED);
    // A wrong X-API-Key is not rescued by a right Authorization header...
    let b = api
        .post("/api/publish")
        .header("X-API-Key", "nope")
        .header("Authorization", format!("apikey {KEY}"))
        .json(&body);
    assert_eq!(status(b).await, StatusCode::UNAUTHORIZED);
    // ...but is by the api_key query parameter.
    let b = api
        .post(&format!("/api/publish?api_key={KEY}"))
        .header("X-API-Key", "nope")
        .json(&body);
    assert_eq!(status(b).await, StatusCode::OK);
    let b = api.post(&format!("/api/publish?api_key={KEY}")).json(&body);
    assert_eq!(status(b).await, StatusCode::OK);
    let b = api.post("/api/publish?api_key=nope").json(&body);
    assert_eq!(status(b).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn empty_key_rejects_and_insecure_allows() {
    let api = Api::start(HttpApiConfig::default()).await;
    for b in [
        api.post("/api/info"),
        api.post("/api/info").header("X-API-Key", ""),
        api.post("/api/info?api_key="),
        api.post("/api/info").header("Authorization", "apikey "),
    ] {
        assert_eq!(b.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }

    let insecure = Api::start(HttpApiConfig {
        insecure: true,
        ..HttpApiConfig::default()
    })
    .await;
    let resp = insecure.post("/api/info").body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn transport_error_mode() {
    async fn check(api: &Api, header: bool) {
        let cases = [
            (
                "publish",
                json!({"channel": "nope:x", "data": {}}),
                404,
                102,
            ),
            ("publish", json!({"channel": "news"}), 400, 107),
            ("history", json!({"channel": "plain:x"}), 400, 108),
            (
                "history",
                json!({"channel": "hist:t", "limit": 1, "since": {"offset": 1, "epoch": "zzz"}}),
                416,
                112,
            ),
            ("rpc", json!({"method": "m"}), 404, 104),
        ];
        api.ok("publish", json!({"channel": "hist:t", "data": {}}))
            .await;
        for (method, body, http, code) in cases {
            let mut req = api
                .post(&format!("/api/{method}"))
                .header("X-API-Key", KEY)
                .json(&body);
            if header {
                req = req.header("X-Centrifugo-Error-Mode", "transport");
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), http, "{method} {body}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["code"], code, "bare error object: {v}");
            assert!(v["message"].is_string());
        }
        // Success is unchanged.
        let mut req = api
            .post("/api/publish")
            .header("X-API-Key", KEY)
            .json(&json!({"channel": "news", "data": {}}));
        if header {
            req = req.header("X-Centrifugo-Error-Mode", "transport");
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.json::<Value>().await.unwrap(), json!({"result": {}}));
    }

    check(&Api::default().await, true).await;
    let configured = Api::start(HttpApiConfig {
        error_mode: "transport".into(),
        ..api_config()
    })
    .await;
    check(&configured, false).await;

    // Batch items keep their errors inside the 200 reply in transport mode.
    let resp = configured
        .post("/api/batch")
        .header("X-API-Key", KEY)
        .json(&json!({"commands": [{"publish": {"channel": "nope:x", "data": {}}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["replies"][0]["error"]["code"], 102);
}

#[tokio::test]
async fn legacy_endpoint() {
    let api = Api::default().await;
    let body = concat!(
        r#"{"id":1,"method":"publish","params":{"channel":"hist:l","data":{"a":1}}}"#,
        "\n",
        r#"{"id":2,"method":"HISTORY","params":{"channel":"hist:l","limit":-1}}"#,
        "\n",
        r#"{"id":3,"method":5,"params":{"channel":"hist:l"}}"#,
        "\n",
        r#"{"id":4,"method":"nope","params":{}}"#,
        "\n",
        r#"{"id":5,"method":"publish","params":{"channel":"nope:x","data":{}}}"#,
        "\n",
        r#"{"id":6,"method":"publish","params":{"channel":7}}"#,
        "\n",
        r#"{"method":"info"}"#,
        "\n",
        r#"{"id":8,"method":99}"#,
        "\n",
        r#"{"id":9,"method":"batch","params":{"commands":[]}}"#,
    );
    let (status, text) = api.raw("/api", body).await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<Value> = text
        .split('\n')
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 9, "{text}");
    assert_eq!(
        lines[0],
        json!({"id": 1, "result": {"offset": 1, "epoch": lines[0]["result"]["epoch"]}})
    );
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(
        lines[1]["result"]["publications"],
        json!([{"data": {"a": 1}, "offset": 1}])
    );
    assert_eq!(
        lines[2],
        json!({"id": 3, "result": {"num_clients": 0, "num_users": 0}})
    );
    assert_eq!(
        lines[3],
        json!({"id": 4, "error": {"code": 104, "message": "not found"}})
    );
    assert_eq!(
        lines[4],
        json!({"id": 5, "error": {"code": 102, "message": "unknown channel"}})
    );
    assert_eq!(
        lines[5],
        json!({"id": 6, "error": {"code": 107, "message": "bad request"}})
    );
    assert!(lines[6].get("id").is_none(), "id 0 is omitted");
    assert!(lines[6]["result"]["nodes"].is_array());
    assert_eq!(lines[7]["error"]["code"], 104);
    assert_eq!(
        lines[8]["error"]["code"], 104,
        "batch is not a legacy method"
    );

    let (status, _) = api.raw("/api", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.raw("/api", "{\"id\":1}\nnot json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn custom_prefix() {
    let api = Api::start(HttpApiConfig {
        handler_prefix: "/custom/".into(),
        ..api_config()
    })
    .await;
    let (status, text) = api.raw("/custom/info", "{}").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = api.raw("/custom", r#"{"id":1,"method":"info"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.starts_with(r#"{"id":1,"result":{"nodes":"#), "{text}");
    let (status, _) = api.raw("/api/info", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn history_holding_a_payload_that_is_not_json_answers_an_error_reply() {
    let api = Api::default().await;
    // Binary data (from b64data, or a Protobuf client) cannot be written as JSON.
    let b64 = base64::engine::general_purpose::STANDARD.encode([0xff, 0x00, 0x01]);
    let (status, body) = api
        .call("publish", json!({"channel": "hist:bin", "b64data": b64}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("error").is_none(), "{body}");
    let (status, body) = api
        .call("history", json!({"channel": "hist:bin", "limit": 10}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["error"]["code"], 100, "{body}");
}
