//! CORS on the HTTP transports and `/emulation` (what a page on another origin
//! needs for the centrifuge-js HTTP-streaming and SSE fallback): preflights are
//! answered and an allowed origin is echoed, a foreign one gets nothing.

use crate::support::{config, start, token};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::json;

const ALLOWED: &str = "http://allowed.test";

fn cors(headers: &HeaderMap) -> [Option<&str>; 3] {
    [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-headers",
    ]
    .map(|name| headers.get(name).and_then(|v| v.to_str().ok()))
}

#[tokio::test]
async fn preflights_are_answered_for_an_allowed_origin() {
    let (addr, _state) = start(config(json!({}))).await;
    let client = reqwest::Client::new();
    for path in ["/emulation", "/connection/http_stream"] {
        let r = client
            .request(Method::OPTIONS, format!("http://{addr}{path}"))
            .header("origin", ALLOWED)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{path}");
        assert_eq!(
            cors(r.headers()),
            [Some(ALLOWED), Some("true"), Some("content-type")],
            "{path}"
        );
    }
    let r = client
        .request(Method::OPTIONS, format!("http://{addr}/emulation"))
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-methods"], "POST, OPTIONS");
    assert_eq!(r.headers()["access-control-max-age"], "300");
}

#[tokio::test]
async fn streams_and_emulation_echo_an_allowed_origin_only() {
    let (addr, _state) = start(config(json!({}))).await;
    let client = reqwest::Client::new();
    let connect = json!({"id": 1, "connect": {"token": token("cors-user", None, &[])}}).to_string();

    let sse = client
        .get(format!("http://{addr}/connection/sse"))
        .query(&[("cf_connect", connect.as_str())])
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    assert_eq!(cors(sse.headers()), [Some(ALLOWED), Some("true"), None]);

    let stream = client
        .post(format!("http://{addr}/connection/http_stream"))
        .header("origin", ALLOWED)
        .header("content-type", "application/json")
        .body(connect.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(cors(stream.headers()), [Some(ALLOWED), Some("true"), None]);

    // An error answer to an allowed origin carries the headers too, so the page
    // can read the status.
    let unknown = client
        .post(format!("http://{addr}/emulation"))
        .header("origin", ALLOWED)
        .body(json!({"node": "n", "session": "s", "data": ""}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(cors(unknown.headers())[0], Some(ALLOWED));

    for (method, path) in [
        (Method::POST, "/emulation"),
        (Method::POST, "/connection/http_stream"),
        (Method::OPTIONS, "/emulation"),
        (Method::GET, "/connection/sse"),
    ] {
        let r = client
            .request(method.clone(), format!("http://{addr}{path}"))
            .header("origin", "http://evil.test")
            .header("access-control-request-headers", "content-type")
            .body(connect.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(cors(r.headers()), [None, None, None], "{method} {path}");
        if method != Method::OPTIONS {
            assert_eq!(r.status(), 403, "{method} {path}");
        }
    }
}
