//! The `log` section.

use serde::{Deserialize, Serialize};

/// `log`: logging options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// One of `none`, `trace`, `debug`, `info`, `warn`, `error`. Default `info`.
    pub level: String,
    /// Also write logs to this file (not implemented yet; accepted for compatibility).
    pub file: String,
    /// Chorus extension: emit JSON lines instead of human-readable text.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            file: String::new(),
            json: false,
        }
    }
}

/// A parsed `log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Logging off.
    None,
    /// Most verbose.
    Trace,
    /// Debug messages.
    Debug,
    /// Informational messages (default).
    Info,
    /// Warnings.
    Warn,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// All accepted spellings, in order of verbosity.
    pub const NAMES: [&'static str; 6] = ["none", "trace", "debug", "info", "warn", "error"];

    /// Parses a level name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "trace" => Self::Trace,
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" => Self::Warn,
            "error" => Self::Error,
            _ => return None,
        })
    }

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

impl LogConfig {
    /// The configured level, or `None` if `level` is not a known name.
    pub fn parsed_level(&self) -> Option<LogLevel> {
        LogLevel::parse(&self.level)
    }
}
