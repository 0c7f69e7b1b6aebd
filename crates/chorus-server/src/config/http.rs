//! HTTP-facing sections: `http_server`, `http_api`, `websocket`, `admin`,
//! `prometheus` and `health`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Choice, ErrorMode, GoDuration};

/// `http_server`: where the server listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpServerConfig {
    /// Interface to bind; `""` means all interfaces.
    pub address: String,
    /// Port for client-facing (and, by default, internal) endpoints. Default 8000.
    pub port: u16,
    /// Interface for internal endpoints (API, admin, metrics, health).
    pub internal_address: String,
    /// Port for internal endpoints; `""` serves them on `port`. Centrifugo
    /// keeps this as a string; numbers are accepted too.
    pub internal_port: InternalPort,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            address: String::new(),
            port: 8000,
            internal_address: String::new(),
            internal_port: InternalPort::Unset,
        }
    }
}

/// `http_server.internal_port`, parsed when the file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum InternalPort {
    /// `""`: internal endpoints share `http_server.port`.
    #[default]
    Unset,
    /// A port of its own for internal endpoints.
    Port(u16),
    /// Text that is not a port number; validation reports it.
    Invalid(String),
}

impl InternalPort {
    fn parse(text: &str) -> Self {
        if text.is_empty() {
            Self::Unset
        } else {
            text.parse()
                .map_or_else(|_| Self::Invalid(text.to_owned()), Self::Port)
        }
    }
}

impl Serialize for InternalPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Unset => serializer.serialize_str(""),
            Self::Port(port) => serializer.serialize_str(&port.to_string()),
            Self::Invalid(text) => serializer.serialize_str(text),
        }
    }
}

/// Accepts `"9000"` or `9000`.
impl<'de> Deserialize<'de> for InternalPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum StrOrNum {
            S(String),
            N(u64),
        }
        Ok(match StrOrNum::deserialize(d)? {
            StrOrNum::S(s) => Self::parse(&s),
            StrOrNum::N(n) => Self::parse(&n.to_string()),
        })
    }
}

/// `http_api`: the server HTTP API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpApiConfig {
    /// Turn the HTTP API off.
    pub disabled: bool,
    /// Route prefix. Default `/api`.
    pub handler_prefix: String,
    /// API key (`X-API-Key` / `Authorization: apikey <key>`).
    pub key: String,
    /// `""` (errors inside 200 responses) or `"transport"` (HTTP status codes).
    pub error_mode: Choice<ErrorMode>,
    /// Serve on the external port even if `http_server.internal_port` is set.
    pub external: bool,
    /// Skip API key checks (development only).
    pub insecure: bool,
}

impl Default for HttpApiConfig {
    fn default() -> Self {
        Self {
            disabled: false,
            handler_prefix: "/api".to_owned(),
            key: String::new(),
            error_mode: Choice::default(),
            external: false,
            insecure: false,
        }
    }
}

/// `websocket`: the bidirectional WebSocket transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebsocketConfig {
    /// Turn the WebSocket transport off.
    pub disabled: bool,
    /// Route. Default `/connection/websocket`.
    pub handler_prefix: String,
    /// Largest accepted client message in bytes. Default 65536.
    pub message_size_limit: u64,
    /// Timeout for one write. Default 1000ms.
    pub write_timeout: GoDuration,
    /// Negotiate permessage-deflate.
    pub compression: bool,
    /// Deflate level, -2..=9. Default 1.
    pub compression_level: i32,
    /// Only compress messages at least this large (bytes).
    pub compression_min_size: u64,
    /// Read buffer size in bytes; 0 = transport default.
    pub read_buffer_size: u64,
    /// Write buffer size in bytes; 0 = transport default.
    pub write_buffer_size: u64,
    /// Share write buffers between connections.
    pub use_write_buffer_pool: bool,
}

impl Default for WebsocketConfig {
    fn default() -> Self {
        Self {
            disabled: false,
            handler_prefix: "/connection/websocket".to_owned(),
            message_size_limit: 65536,
            write_timeout: GoDuration::from_millis(1000),
            compression: false,
            compression_level: 1,
            compression_min_size: 0,
            read_buffer_size: 0,
            write_buffer_size: 0,
            use_write_buffer_pool: false,
        }
    }
}

/// `admin`: the admin web UI and its API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdminConfig {
    /// Serve the admin UI.
    pub enabled: bool,
    /// Route prefix; `""` serves the UI at `/`.
    pub handler_prefix: String,
    /// Admin login password.
    pub password: String,
    /// Secret used to sign admin session tokens.
    pub secret: String,
    /// Skip admin authentication (development only).
    pub insecure: bool,
    /// Serve on the external port even if `http_server.internal_port` is set.
    pub external: bool,
    /// Serve UI files from this directory instead of the embedded ones.
    pub web_path: String,
    /// Proxy UI requests to this address (UI development).
    pub web_proxy_address: String,
}

/// `prometheus`: metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PrometheusConfig {
    /// Serve metrics.
    pub enabled: bool,
    /// Route. Default `/metrics`.
    pub handler_prefix: String,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/metrics".to_owned(),
        }
    }
}

/// `health`: health-check endpoint (`GET` → `200 {}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    /// Serve the health endpoint.
    pub enabled: bool,
    /// Route. Default `/health`.
    pub handler_prefix: String,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            handler_prefix: "/health".to_owned(),
        }
    }
}
