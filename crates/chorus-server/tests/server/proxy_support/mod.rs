//! A scripted HTTP proxy backend (axum on 127.0.0.1:0) shared by the proxy
//! tests: it records every request and answers according to the request.
//!
//! Script (by event path):
//! * `/connect`: `data.user` → that user; `data.reject` → error with that code;
//!   `data.disconnect` → disconnect with that code; `data.sleep_ms` → sleeps;
//!   `data.status` → answers with that HTTP status; `data.expire_in` → expires in
//!   that many seconds; `data.sub` → server-side subscription.
//! * `/subscribe`: channel ending in `deny` → error 1403; else allowed with info
//!   `{"granted": channel}` and data `{"welcome": true}`; `data.expire_in` as
//!   above.
//! * `/publish`: `data.rewrite` → the payload becomes `{"rewritten": …}`; a
//!   channel containing `nohist` → `skip_history`; `data.reject` → error.
//! * `/rpc`: method `echo` → the data; `fail` → error 1500; `sleep` → 5 s;
//!   `bye` → disconnect 4321; anything else → `{"method": m}`.
//! * `/refresh` and `/sub_refresh`: extended by 100 s, unless `expire` is set in
//!   the backend's mode (then expired).

#![allow(dead_code, unreachable_pub)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::post};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// One request the backend received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub event: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
pub struct Inner {
    pub seen: Mutex<Vec<Seen>>,
    pub arrived: Notify,
    /// Refresh / sub_refresh answer "expired".
    pub expire: Mutex<bool>,
}

/// The running backend.
#[derive(Clone)]
pub struct Backend {
    pub addr: SocketAddr,
    pub inner: Arc<Inner>,
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

impl Backend {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/{event}", post(handle))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inner }
    }

    pub fn url(&self, event: &str) -> String {
        format!("http://{}/{event}", self.addr)
    }

    /// Requests seen for `event`.
    pub fn seen(&self, event: &str) -> Vec<Seen> {
        self.inner
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.event == event)
            .cloned()
            .collect()
    }

    /// Waits until at least `n` requests for `event` arrived.
    pub async fn wait_for(&self, event: &str, n: usize) -> Vec<Seen> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let notified = self.inner.arrived.notified();
                let seen = self.seen(event);
                if seen.len() >= n {
                    return seen;
                }
                notified.await;
            }
        })
        .await
        .expect("backend request did not arrive")
    }

    pub fn set_expire(&self, expire: bool) {
        *self.inner.expire.lock().unwrap() = expire;
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    Path(event): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    inner.seen.lock().unwrap().push(Seen {
        event: event.clone(),
        headers,
        body: body.clone(),
    });
    inner.arrived.notify_waiters();
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    if let Some(ms) = data.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = data.get("status").and_then(Value::as_u64) {
        return StatusCode::from_u16(u16::try_from(status).unwrap())
            .unwrap()
            .into_response();
    }
    if let Some(code) = data.get("reject") {
        return Json(json!({"error": {"code": code, "message": "rejected by backend"}}))
            .into_response();
    }
    if let Some(code) = data.get("disconnect") {
        return Json(json!({"disconnect": {"code": code, "reason": "backend says bye"}}))
            .into_response();
    }
    let expire_at = data
        .get("expire_in")
        .and_then(Value::as_i64)
        .map_or(0, |s| now() + s);
    let answer = match event.as_str() {
        "connect" => {
            let mut result = json!({
                "user": data.get("user").cloned().unwrap_or(json!("")),
                "data": {"hello": "from backend"},
                "info": {"role": "tester"},
                "meta": {"tenant": 7},
                "expire_at": expire_at,
            });
            if let Some(sub) = data.get("sub") {
                let sub_expire_at = data
                    .get("sub_expire_in")
                    .and_then(Value::as_i64)
                    .map_or(0, |s| now() + s);
                result["subs"] = json!({ sub.as_str().unwrap(): {
                    "data": {"server_side": true},
                    "expire_at": sub_expire_at,
                }});
            }
            json!({ "result": result })
        }
        "subscribe" => {
            let channel = body["channel"].as_str().unwrap_or_default();
            if channel.ends_with("deny") {
                json!({"error": {"code": 1403, "message": "not your channel", "temporary": false}})
            } else {
                json!({"result": {
                    "info": {"granted": channel},
                    "data": {"welcome": true},
                    "expire_at": expire_at,
                }})
            }
        }
        "publish" => {
            let channel = body["channel"].as_str().unwrap_or_default();
            let mut result = json!({"skip_history": channel.contains("nohist")});
            if let Some(v) = data.get("rewrite") {
                result["data"] = json!({"rewritten": v});
            }
            json!({ "result": result })
        }
        "rpc" => match body["method"].as_str().unwrap_or_default() {
            "echo" => json!({"result": {"data": data}}),
            "fail" => json!({"error": {"code": 1500, "message": "rpc failed"}}),
            "bye" => json!({"disconnect": {"code": 4321, "reason": "rpc bye"}}),
            "sleep" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                json!({"result": {}})
            }
            m => json!({"result": {"data": {"method": m}}}),
        },
        // {"b":1}
        "b64rpc" => json!({"result": {"b64data": "eyJiIjoxfQ=="}}),
        "refresh" | "sub_refresh" => {
            if *inner.expire.lock().unwrap() {
                json!({"result": {"expired": true}})
            } else {
                json!({"result": {"expire_at": now() + 100, "info": {"refreshed": true}}})
            }
        }
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    Json(answer).into_response()
}
