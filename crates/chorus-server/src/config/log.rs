//! The `log` section.

use serde::{Deserialize, Serialize};

use super::{Choice, LogLevel};

/// `log`: logging options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// One of `none`, `trace`, `debug`, `info`, `warn`, `error` (any case).
    /// Default `info`.
    pub level: Choice<LogLevel>,
    /// Write logs to this file (appended, JSON lines) instead of stderr.
    pub file: String,
    /// Chorus extension: emit JSON lines instead of human-readable text.
    pub json: bool,
}
