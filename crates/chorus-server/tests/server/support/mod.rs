//! Helpers shared by the HTTP transport tests: a server on `127.0.0.1:0` with the
//! transports enabled, tokens, and readers for streaming response bodies.
#![allow(dead_code)] // Each test binary uses a different subset.

use bytes::{Buf, Bytes, BytesMut};
use chorus_protocol::{Protocol, Push, Reply};
use chorus_server::auth::{ConnectTokenOptions, hs256_connect_token};
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_server::server::router;
use chorus_server::state::AppState;
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) const SECRET: &str = "test-secret";

/// The test configuration with `extra` merged in at the top level.
pub(crate) fn config(extra: serde_json::Value) -> ServerConfig {
    let mut base = serde_json::json!({
        "client": {"token": {"hmac_secret_key": SECRET}, "allowed_origins": ["http://allowed.test"]},
        "http_stream": {"enabled": true},
        "sse": {"enabled": true},
        "emulation": {"max_request_body_size": 2048},
        "uni_http_stream": {"enabled": true},
        "uni_sse": {"enabled": true},
        "uni_websocket": {"enabled": true},
        "channel": {
            "without_namespace": {
                "allow_subscribe_for_client": true, "allow_publish_for_subscriber": true,
                "allow_presence_for_subscriber": true, "allow_history_for_subscriber": true,
                "presence": true, "history_size": 10, "history_ttl": "300s",
                "force_recovery": true
            }
        }
    });
    if let (Some(base), serde_json::Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
    let loaded = ServerConfig::from_str_format(&base.to_string(), ConfigFormat::Json).unwrap();
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    loaded.config.validate().unwrap();
    loaded.config
}

pub(crate) async fn start(config: ServerConfig) -> (SocketAddr, AppState) {
    let state = AppState::new(config).unwrap();
    let app = router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

pub(crate) fn token(user: &str, ttl: Option<i64>, channels: &[&str]) -> String {
    hs256_connect_token(
        SECRET,
        &ConnectTokenOptions {
            user: user.into(),
            ttl_seconds: ttl,
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Reads a streaming response body message by message, failing after 5 s of
/// silence.
pub(crate) struct BodyReader {
    response: reqwest::Response,
    buf: BytesMut,
}

impl BodyReader {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        Self {
            response,
            buf: BytesMut::new(),
        }
    }

    /// More bytes; `false` at the end of the body.
    async fn fill(&mut self) -> bool {
        let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
            .await
            .expect("no data within 5 s")
            .expect("body error");
        match chunk {
            Some(c) => {
                self.buf.extend_from_slice(&c);
                true
            }
            None => false,
        }
    }

    /// Bytes up to (without) `delimiter`; `None` at the end of the body.
    async fn until(&mut self, delimiter: &[u8]) -> Option<Bytes> {
        loop {
            if let Some(at) = self
                .buf
                .windows(delimiter.len())
                .position(|w| w == delimiter)
            {
                let item = self.buf.split_to(at).freeze();
                self.buf.advance(delimiter.len());
                return Some(item);
            }
            if !self.fill().await {
                assert!(self.buf.is_empty(), "trailing bytes: {:?}", self.buf);
                return None;
            }
        }
    }

    /// The next JSON line.
    pub(crate) async fn line(&mut self) -> Option<Bytes> {
        self.until(b"\n").await
    }

    /// The next SSE event's data.
    pub(crate) async fn event(&mut self) -> Option<Bytes> {
        let event = self.until(b"\n\n").await?;
        let data = event
            .strip_prefix(b"data: ")
            .unwrap_or_else(|| panic!("not a data event: {event:?}"));
        Some(Bytes::copy_from_slice(data))
    }

    /// Consumes the SSE preamble (`\r\n`).
    pub(crate) async fn sse_preamble(&mut self) {
        while self.buf.len() < 2 {
            assert!(self.fill().await, "body ended");
        }
        assert_eq!(&self.buf[..2], b"\r\n");
        self.buf.advance(2);
    }

    /// The next varint-delimited Protobuf message (with its prefix).
    pub(crate) async fn delimited(&mut self) -> Option<Bytes> {
        loop {
            let mut peek = &self.buf[..];
            if let Ok(len) = prost::decode_length_delimiter(&mut peek) {
                let prefix = self.buf.len() - peek.len();
                if peek.len() >= len {
                    return Some(self.buf.split_to(prefix + len).freeze());
                }
            }
            if !self.fill().await {
                assert!(self.buf.is_empty(), "trailing bytes");
                return None;
            }
        }
    }

    /// Asserts the body ends.
    pub(crate) async fn ended(&mut self) {
        assert!(self.buf.is_empty(), "unread: {:?}", self.buf);
        assert!(!self.fill().await, "more data: {:?}", self.buf);
    }
}

pub(crate) fn json_reply(frame: &[u8]) -> Reply {
    let mut v = chorus_protocol::decode_replies(Protocol::Json, frame).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

pub(crate) fn json_push(frame: &[u8]) -> Push {
    let mut v = chorus_protocol::decode_pushes(Protocol::Json, frame).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}
