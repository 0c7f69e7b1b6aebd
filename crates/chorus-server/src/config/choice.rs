//! Options whose value is one name out of a fixed set (`engine.type`,
//! `force_recovery_mode`, …), parsed when the file is read.
//!
//! Loading never fails on an unknown name: the text is kept as
//! [`Choice::Unknown`] so that validation can report it under its key together
//! with every other problem. Everything after validation matches on the enums;
//! no option is compared as a string.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of names an option accepts.
pub trait Named: Copy + Eq + fmt::Debug + 'static {
    /// Every accepted spelling with its value. The first spelling of a value
    /// is the one written back (`defaultconfig`, `genconfig`).
    const NAMES: &'static [(&'static str, Self)];

    /// Whether names differ only by ASCII case (only `log.level` does).
    const CASE_INSENSITIVE: bool = false;

    /// The value a spelling names, if any.
    fn from_name(text: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(name, _)| {
                if Self::CASE_INSENSITIVE {
                    name.eq_ignore_ascii_case(text)
                } else {
                    *name == text
                }
            })
            .map(|&(_, value)| value)
    }

    /// The spelling written back for this value.
    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, value)| *value == self)
            .map_or("", |&(name, _)| name)
    }
}

/// The value of a named option as read from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<T> {
    /// One of the names the option accepts.
    Known(T),
    /// Text that names nothing; [`ServerConfig::validate`](super::ServerConfig::validate)
    /// reports it with the option's key.
    Unknown(String),
}

impl<T: Named> Choice<T> {
    /// The chosen value; `None` for an unknown name.
    pub fn known(&self) -> Option<T> {
        match self {
            Self::Known(value) => Some(*value),
            Self::Unknown(_) => None,
        }
    }

    /// The text of an unknown name; `None` for a known one.
    pub fn unknown(&self) -> Option<&str> {
        match self {
            Self::Known(_) => None,
            Self::Unknown(text) => Some(text),
        }
    }
}

impl<T: Named + Default> Choice<T> {
    /// The chosen value, or the option's default for an unknown name (which
    /// validation refuses: on a validated configuration this is the value).
    pub fn value(&self) -> T {
        self.known().unwrap_or_default()
    }
}

impl<T: Named + Default> Default for Choice<T> {
    fn default() -> Self {
        Self::Known(T::default())
    }
}

impl<T> From<T> for Choice<T> {
    fn from(value: T) -> Self {
        Self::Known(value)
    }
}

impl<T: Named> From<&str> for Choice<T> {
    fn from(text: &str) -> Self {
        T::from_name(text).map_or_else(|| Self::Unknown(text.to_owned()), Self::Known)
    }
}

impl<T: Named> fmt::Display for Choice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(value) => f.write_str(value.name()),
            Self::Unknown(text) => f.write_str(text),
        }
    }
}

impl<T: Named> Serialize for Choice<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Known(value) => serializer.serialize_str(value.name()),
            Self::Unknown(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de, T: Named> Deserialize<'de> for Choice<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::from(text.as_str()))
    }
}

/// `log.level`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogLevel {
    /// Logging off.
    None,
    /// Most verbose.
    Trace,
    /// Debug messages.
    Debug,
    /// Informational messages (default).
    #[default]
    Info,
    /// Warnings.
    Warn,
    /// Errors only.
    Error,
}

impl Named for LogLevel {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("none", Self::None),
        ("trace", Self::Trace),
        ("debug", Self::Debug),
        ("info", Self::Info),
        ("warn", Self::Warn),
        ("error", Self::Error),
    ];
    const CASE_INSENSITIVE: bool = true;
}

impl LogLevel {
    /// The `tracing` filter directive for this level (`"off"` for none).
    pub fn as_filter(self) -> &'static str {
        match self {
            Self::None => "off",
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// `engine.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EngineType {
    /// Single-node, in-process engine (default).
    #[default]
    Memory,
    /// Redis engine.
    Redis,
}

impl Named for EngineType {
    const NAMES: &'static [(&'static str, Self)] =
        &[("memory", Self::Memory), ("redis", Self::Redis)];
}

/// `broker.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BrokerType {
    /// In-process PUB/SUB and history (default).
    #[default]
    Memory,
    /// Redis PUB/SUB and streams.
    Redis,
    /// NATS PUB/SUB, no history.
    Nats,
}

impl Named for BrokerType {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("memory", Self::Memory),
        ("redis", Self::Redis),
        ("nats", Self::Nats),
    ];
}

impl From<EngineType> for BrokerType {
    fn from(engine: EngineType) -> Self {
        match engine {
            EngineType::Memory => Self::Memory,
            EngineType::Redis => Self::Redis,
        }
    }
}

/// `presence_manager.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PresenceManagerType {
    /// In-process presence (default).
    #[default]
    Memory,
    /// Presence in Redis.
    Redis,
}

impl Named for PresenceManagerType {
    const NAMES: &'static [(&'static str, Self)] =
        &[("memory", Self::Memory), ("redis", Self::Redis)];
}

impl From<EngineType> for PresenceManagerType {
    fn from(engine: EngineType) -> Self {
        match engine {
            EngineType::Memory => Self::Memory,
            EngineType::Redis => Self::Redis,
        }
    }
}

/// `http_api.error_mode` and `grpc_api.error_mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorMode {
    /// `""`: errors inside successful responses (default).
    #[default]
    InBody,
    /// `transport`: errors as HTTP status codes / gRPC statuses.
    Transport,
}

impl Named for ErrorMode {
    const NAMES: &'static [(&'static str, Self)] =
        &[("", Self::InBody), ("transport", Self::Transport)];
}

/// `force_recovery_mode` of a namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForceRecoveryMode {
    /// `stream` (or `""`, the default): every missed publication.
    #[default]
    Stream,
    /// `cache`: only the latest publication.
    Cache,
}

impl Named for ForceRecoveryMode {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("", Self::Stream),
        ("stream", Self::Stream),
        ("cache", Self::Cache),
    ];
}

/// `publication_data_format`, of `channel` or of a namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PublicationDataFormat {
    /// `""` (default): in a namespace, the `channel` section's format; there,
    /// any non-empty payload.
    #[default]
    Unset,
    /// `json`: a valid JSON document.
    Json,
    /// `json_object`: a JSON object.
    JsonObject,
    /// `binary`: any bytes, empty included.
    Binary,
}

impl Named for PublicationDataFormat {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("", Self::Unset),
        ("json", Self::Json),
        ("json_object", Self::JsonObject),
        ("binary", Self::Binary),
    ];
}

/// `subscription_type` of a namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubscriptionType {
    /// `stream` (or `""`, the default): the only type chorus serves.
    #[default]
    Stream,
    /// `map` (experimental in Centrifugo, refused).
    Map,
    /// `map_clients` (experimental in Centrifugo, refused).
    MapClients,
    /// `map_users` (experimental in Centrifugo, refused).
    MapUsers,
    /// `shared_poll` (experimental in Centrifugo, refused).
    SharedPoll,
}

impl Named for SubscriptionType {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("", Self::Stream),
        ("stream", Self::Stream),
        ("map", Self::Map),
        ("map_clients", Self::MapClients),
        ("map_users", Self::MapUsers),
        ("shared_poll", Self::SharedPoll),
    ];
}

/// One entry of `allowed_delta_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaType {
    /// `fossil`: Fossil delta compression.
    Fossil,
}

impl Named for DeltaType {
    const NAMES: &'static [(&'static str, Self)] = &[("fossil", Self::Fossil)];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_write_back() {
        assert_eq!(
            Choice::<LogLevel>::from("WARN"),
            Choice::Known(LogLevel::Warn)
        );
        assert_eq!(Choice::Known(LogLevel::Warn).to_string(), "warn");
        assert_eq!(
            Choice::<ForceRecoveryMode>::from("stream"),
            Choice::Known(ForceRecoveryMode::Stream)
        );
        assert_eq!(ForceRecoveryMode::Stream.name(), "");
        assert_eq!(
            Choice::<EngineType>::from("Redis"),
            Choice::Unknown("Redis".to_owned())
        );
        let json = serde_json::to_string(&Choice::<DeltaType>::from("xdelta")).unwrap();
        assert_eq!(json, r#""xdelta""#);
        let back: Choice<ErrorMode> = serde_json::from_str(r#""transport""#).unwrap();
        assert_eq!(back.known(), Some(ErrorMode::Transport));
        assert!(serde_json::from_str::<Choice<ErrorMode>>("5").is_err());
    }
}
