//! HTTP-based client transports (spec §1.3, §1.4): the bidirectional emulation
//! (`http_stream`, `sse`, and their shared `emulation` endpoint) and the
//! unidirectional `uni_websocket`, `uni_sse` and `uni_http_stream`. Key names and
//! defaults follow Centrifugo v6; everything is disabled by default.
//!
//! Not supported: `uni_websocket` compression and buffer tuning keys (a non-default
//! value is a configuration error, see `unsupported.rs`);
//! `connect_code_to_http_response` of `uni_sse`/`uni_http_stream` is not a known
//! key (reported at start-up).

use super::GoDuration;
use serde::{Deserialize, Serialize};

/// Default body limit of HTTP transports and the emulation endpoint (64 KiB).
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: usize = 65536;

/// `http_stream`: bidirectional emulation over a streaming HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpStreamConfig {
    /// Serve the transport (and the emulation endpoint).
    pub enabled: bool,
    /// Route. Default `/connection/http_stream`.
    pub handler_prefix: String,
    /// Largest connect request body in bytes. Default 65536.
    pub max_request_body_size: usize,
}

impl Default for HttpStreamConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/connection/http_stream".to_owned(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
        }
    }
}

/// `sse`: bidirectional emulation over Server-Sent Events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SseConfig {
    /// Serve the transport (and the emulation endpoint).
    pub enabled: bool,
    /// Route. Default `/connection/sse`.
    pub handler_prefix: String,
    /// Largest connect request (POST body) in bytes. Default 65536.
    pub max_request_body_size: usize,
}

impl Default for SseConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/connection/sse".to_owned(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
        }
    }
}

/// `emulation`: the endpoint emulated sessions post their commands to; served
/// when `http_stream` or `sse` is enabled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmulationConfig {
    /// Route. Default `/emulation`.
    pub handler_prefix: String,
    /// Largest request body in bytes (413 above). Default 65536.
    pub max_request_body_size: usize,
}

impl Default for EmulationConfig {
    fn default() -> Self {
        Self {
            handler_prefix: "/emulation".to_owned(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
        }
    }
}

/// `uni_websocket`: unidirectional WebSocket (JSON pushes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[allow(clippy::struct_excessive_bools)]
pub struct UniWebsocketConfig {
    /// Serve the transport.
    pub enabled: bool,
    /// Route. Default `/connection/uni_websocket`.
    pub handler_prefix: String,
    /// Largest inbound message (the connect request) in bytes. Default 65536.
    pub message_size_limit: usize,
    /// Timeout for one write. Default 1000ms.
    pub write_timeout: GoDuration,
    /// Send the pushes of one batch as one message, joined by newlines.
    pub join_push_messages: bool,
    /// Do not send the disconnect push before closing (the close frame still
    /// carries the code).
    pub disable_disconnect_push: bool,
    /// Do not wait for the peer's closing handshake.
    pub disable_closing_handshake: bool,
    /// permessage-deflate (not supported: a non-default value is refused at start-up).
    pub compression: bool,
    /// Deflate level (not supported: a non-default value is refused at start-up). Default 1.
    pub compression_level: i32,
    /// Compression threshold (not supported: a non-default value is refused at start-up).
    pub compression_min_size: u64,
    /// Read buffer size (not supported: a non-default value is refused at start-up).
    pub read_buffer_size: u64,
    /// Write buffer size (not supported: a non-default value is refused at start-up).
    pub write_buffer_size: u64,
    /// Write buffer pool (not supported: a non-default value is refused at start-up).
    pub use_write_buffer_pool: bool,
}

impl Default for UniWebsocketConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/connection/uni_websocket".to_owned(),
            message_size_limit: DEFAULT_MAX_REQUEST_BODY_SIZE,
            write_timeout: GoDuration::from_millis(1000),
            join_push_messages: false,
            disable_disconnect_push: false,
            disable_closing_handshake: false,
            compression: false,
            compression_level: 1,
            compression_min_size: 0,
            read_buffer_size: 0,
            write_buffer_size: 0,
            use_write_buffer_pool: false,
        }
    }
}

/// `uni_sse`: unidirectional Server-Sent Events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UniSseConfig {
    /// Serve the transport.
    pub enabled: bool,
    /// Route. Default `/connection/uni_sse`.
    pub handler_prefix: String,
    /// Largest connect request (POST body) in bytes. Default 65536.
    pub max_request_body_size: usize,
}

impl Default for UniSseConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/connection/uni_sse".to_owned(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
        }
    }
}

/// `uni_http_stream`: unidirectional HTTP streaming (one JSON push per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UniHttpStreamConfig {
    /// Serve the transport.
    pub enabled: bool,
    /// Route. Default `/connection/uni_http_stream`.
    pub handler_prefix: String,
    /// Largest connect request body in bytes. Default 65536.
    pub max_request_body_size: usize,
}

impl Default for UniHttpStreamConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/connection/uni_http_stream".to_owned(),
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
        }
    }
}

/// Problems in the transport sections: routes of enabled transports must start
/// with `/` and differ from each other and from the WebSocket route.
pub(super) fn problems(config: &super::ServerConfig) -> Vec<String> {
    let mut problems = Vec::new();
    let emulation = config.http_stream.enabled || config.sse.enabled;
    let routes = [
        (
            !config.websocket.disabled,
            "websocket.handler_prefix",
            &config.websocket.handler_prefix,
        ),
        (
            config.http_stream.enabled,
            "http_stream.handler_prefix",
            &config.http_stream.handler_prefix,
        ),
        (
            config.sse.enabled,
            "sse.handler_prefix",
            &config.sse.handler_prefix,
        ),
        (
            emulation,
            "emulation.handler_prefix",
            &config.emulation.handler_prefix,
        ),
        (
            config.uni_websocket.enabled,
            "uni_websocket.handler_prefix",
            &config.uni_websocket.handler_prefix,
        ),
        (
            config.uni_sse.enabled,
            "uni_sse.handler_prefix",
            &config.uni_sse.handler_prefix,
        ),
        (
            config.uni_http_stream.enabled,
            "uni_http_stream.handler_prefix",
            &config.uni_http_stream.handler_prefix,
        ),
    ];
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (enabled, key, prefix) in routes {
        if !enabled {
            continue;
        }
        // A bad WebSocket route is reported by the `websocket` checks.
        if !prefix.starts_with('/') && key != "websocket.handler_prefix" {
            problems.push(format!("{key}: {prefix:?} must start with \"/\""));
        } else if let Some((other, _)) = seen.iter().find(|(_, p)| *p == prefix.as_str()) {
            problems.push(format!("{key}: {prefix:?} is already used by {other}"));
        }
        seen.push((key, prefix));
    }
    problems
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigFormat, ServerConfig};

    #[test]
    fn v6_keys_and_defaults() {
        let loaded = ServerConfig::from_str_format(
            r#"{"sse": {"enabled": true}, "http_stream": {"max_request_body_size": 10},
                "emulation": {"handler_prefix": "/emu"},
                "uni_websocket": {"enabled": true, "join_push_messages": true}}"#,
            ConfigFormat::Json,
        )
        .unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        let c = loaded.config;
        assert!(c.sse.enabled);
        assert_eq!(c.sse.handler_prefix, "/connection/sse");
        assert_eq!(c.http_stream.max_request_body_size, 10);
        assert!(!c.http_stream.enabled);
        assert_eq!(c.emulation.handler_prefix, "/emu");
        assert_eq!(c.emulation.max_request_body_size, 65536);
        assert!(c.uni_websocket.join_push_messages);
        assert_eq!(c.uni_websocket.message_size_limit, 65536);
        assert_eq!(c.uni_sse.handler_prefix, "/connection/uni_sse");
        assert_eq!(
            c.uni_http_stream.handler_prefix,
            "/connection/uni_http_stream"
        );
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    }

    #[test]
    fn route_problems() {
        let loaded = ServerConfig::from_str_format(
            r#"{"sse": {"enabled": true, "handler_prefix": "/connection/websocket"},
                "http_stream": {"enabled": true, "handler_prefix": "stream"},
                "uni_websocket": {"enabled": true, "compression": true},
                "uni_sse": {"handler_prefix": "bad-but-disabled"}}"#,
            ConfigFormat::Json,
        )
        .unwrap();
        let problems = loaded.config.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("sse.handler_prefix")
                    && p.contains("websocket.handler_prefix"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("http_stream.handler_prefix"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("uni_websocket.compression"))
        );
        assert!(!problems.iter().any(|p| p.starts_with("uni_sse")));
    }
}
