//! Centrifugo v6 compatible configuration.
//!
//! The configuration is read from a JSON, YAML or TOML file (chosen by the
//! file extension), then overridden by environment variables
//! (`CENTRIFUGO_…`, then `CHORUS_…`), then by command-line flags. Keys and
//! defaults follow Centrifugo v6; see [`ServerConfig`] for the sections.
//!
//! ```
//! use chorus_server::config::{ConfigFormat, ServerConfig};
//!
//! let loaded = ServerConfig::from_str_with_env(
//!     r#"{"client": {"token": {"hmac_secret_key": "secret"}}, "colour": "blue"}"#,
//!     ConfigFormat::Json,
//!     [("CENTRIFUGO_HTTP_SERVER_PORT", "9000")],
//! )
//! .unwrap();
//! assert_eq!(loaded.config.http_server.port, 9000);
//! assert_eq!(loaded.unknown_keys, vec!["colour".to_owned()]);
//! loaded.config.validate().unwrap();
//! ```

mod broker;
mod channel;
mod choice;
mod client;
mod consumers;
mod duration;
mod engine;
mod env;
mod error;
mod grpc;
mod http;
mod keys;
mod load;
mod log;
mod pattern;
mod proxy;
mod rate_limit;
mod rpc;
mod transports;
mod unsupported;
mod validate;

use serde::{Deserialize, Serialize};

pub use broker::{
    BrokerConfig, NatsBrokerConfig, PresenceManagerConfig, effective_broker, effective_presence,
};
pub use channel::{ChannelConfig, ChannelNamespace, NamespaceOptions, PublishThrottleConfig};
pub use choice::{
    BrokerType, Choice, DeltaType, EngineType, ErrorMode, ForceRecoveryMode, LogLevel, Named,
    PresenceManagerType, PublicationDataFormat, SubscriptionType,
};
pub use client::{ClientSection, PersonalChannelConfig, SubscriptionTokenConfig, TokenConfig};
pub use consumers::{
    ConsumerConfig, ConsumerTlsConfig, NatsJetStreamConsumerConfig, PostgresConsumerConfig,
    RedisStreamConsumerConfig, consumer_specs,
};
pub use duration::{DurationParseError, GoDuration, parse_go_duration};
pub use engine::{EngineConfig, RedisConfig, RedisTlsConfig};
pub use error::ServerConfigError;
pub use grpc::{
    DEFAULT_GRPC_MAX_RECEIVE_MESSAGE_SIZE, GrpcApiConfig, GrpcTlsConfig, UniGrpcConfig,
};
pub use http::{
    AdminConfig, HealthConfig, HttpApiConfig, HttpServerConfig, InternalPort, PrometheusConfig,
    WebsocketConfig,
};
pub use load::{ConfigFormat, ConfigLoader, DEFAULT_CONFIG_PATH, LoadedConfig};
pub use log::LogConfig;
pub use pattern::Pattern;
pub use proxy::{
    ChannelProxyConfig, ClientProxyConfig, ConnectionProxy, DEFAULT_PROXY_NAME, NamedProxy,
    ProxyGrpcConfig, ProxyHttpConfig, ProxyOptions, ProxyTlsConfig, StatusToCodeTransform,
    TransformDisconnect, TransformError,
};
pub use rate_limit::{BucketConfig, BucketsConfig, ClientCommandRateLimit, RateLimitConfig};
pub use rpc::{RpcConfig, RpcNamespace, RpcOptions, RpcPingConfig};
pub use transports::{
    DEFAULT_MAX_REQUEST_BODY_SIZE, EmulationConfig, HttpStreamConfig, SseConfig,
    UniHttpStreamConfig, UniSseConfig, UniWebsocketConfig,
};

/// The whole server configuration (Centrifugo v6 layout).
///
/// Every field has the Centrifugo default, so `ServerConfig::default()` is a
/// working single-node configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// `http_server`: listen addresses.
    pub http_server: HttpServerConfig,
    /// `log`: logging.
    pub log: LogConfig,
    /// `engine`: memory or Redis.
    pub engine: EngineConfig,
    /// `broker`: a PUB/SUB broker separate from the engine (e.g. NATS).
    pub broker: BrokerConfig,
    /// `presence_manager`: a presence manager separate from the engine.
    pub presence_manager: PresenceManagerConfig,
    /// `client`: client connections and tokens.
    pub client: ClientSection,
    /// `channel`: channel options and namespaces.
    pub channel: ChannelConfig,
    /// `rpc`: client RPC.
    pub rpc: RpcConfig,
    /// `http_api`: server HTTP API.
    pub http_api: HttpApiConfig,
    /// `grpc_api`: server API over gRPC.
    pub grpc_api: GrpcApiConfig,
    /// `uni_grpc`: unidirectional gRPC transport.
    pub uni_grpc: UniGrpcConfig,
    /// `websocket`: WebSocket transport.
    pub websocket: WebsocketConfig,
    /// `http_stream`: HTTP-streaming emulation transport.
    pub http_stream: HttpStreamConfig,
    /// `sse`: Server-Sent Events emulation transport.
    pub sse: SseConfig,
    /// `emulation`: endpoint for commands of emulated sessions.
    pub emulation: EmulationConfig,
    /// `uni_websocket`: unidirectional WebSocket transport.
    pub uni_websocket: UniWebsocketConfig,
    /// `uni_sse`: unidirectional SSE transport.
    pub uni_sse: UniSseConfig,
    /// `uni_http_stream`: unidirectional HTTP-streaming transport.
    pub uni_http_stream: UniHttpStreamConfig,
    /// `admin`: admin UI.
    pub admin: AdminConfig,
    /// `prometheus`: metrics endpoint.
    pub prometheus: PrometheusConfig,
    /// `health`: health endpoint.
    pub health: HealthConfig,
    /// `shutdown`: graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// `node`: this node.
    pub node: NodeSection,
    /// Write the process id to this file; `""` = don't.
    pub pid_file: String,
    /// `proxies`: named proxies referenced by `*_proxy_name`.
    pub proxies: Vec<NamedProxy>,
    /// `consumers`: API commands read from an outbox table or a queue.
    pub consumers: Vec<ConsumerConfig>,
}

/// `shutdown`: graceful shutdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShutdownConfig {
    /// Max time for a graceful shutdown. Default 30s.
    pub timeout: GoDuration,
    /// Lame-duck window (Chorus): clients get 3001 in batches spread over this
    /// long instead of all at once, to avoid a reconnect storm. Default 0s.
    pub disconnect_spread: GoDuration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            timeout: GoDuration::from_secs(30),
            disconnect_spread: GoDuration::ZERO,
        }
    }
}

/// `node`: identity of this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeSection {
    /// Node name; `""` = `<hostname>_<port>`.
    pub name: String,
    /// How often node info metrics are aggregated. Default 60s.
    pub info_metrics_aggregate_interval: GoDuration,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            name: String::new(),
            info_metrics_aggregate_interval: GoDuration::from_secs(60),
        }
    }
}

impl ServerConfig {
    /// Every problem in this configuration, one precise message each
    /// (empty when valid).
    pub fn problems(&self) -> Vec<String> {
        validate::problems(self)
    }

    /// Checks the configuration, reporting every problem at once in
    /// [`ServerConfigError::Invalid`].
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ServerConfigError::Invalid(problems))
        }
    }

    /// Parses configuration text (no environment), collecting unknown keys.
    pub fn from_str_format(
        text: &str,
        format: ConfigFormat,
    ) -> Result<LoadedConfig, ServerConfigError> {
        Self::from_str_with_env(text, format, std::iter::empty::<(String, String)>())
    }

    /// Parses configuration text and applies the given environment variables.
    pub fn from_str_with_env<I, K, V>(
        text: &str,
        format: ConfigFormat,
        env: I,
    ) -> Result<LoadedConfig, ServerConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        ConfigLoader::new().env(env).load_str(text, format)
    }

    /// Serializes the configuration in the given format (used by
    /// `defaultconfig` and `genconfig`).
    pub fn to_string_format(&self, format: ConfigFormat) -> Result<String, ServerConfigError> {
        let value =
            serde_json::to_value(self).map_err(|e| ServerConfigError::Serialize(e.to_string()))?;
        load::value_to_string(&value, format)
    }

    /// Serializes any JSON tree in the given format (used by `genconfig`).
    pub fn value_to_string(
        value: &serde_json::Value,
        format: ConfigFormat,
    ) -> Result<String, ServerConfigError> {
        load::value_to_string(value, format)
    }
}
