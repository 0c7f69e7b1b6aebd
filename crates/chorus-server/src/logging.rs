//! Logging set-up with `tracing-subscriber`.

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Logging could not be initialised.
#[derive(Debug, thiserror::Error)]
#[error("cannot initialise logging: {0}")]
pub struct LoggingError(String);

/// Installs the global subscriber: level from `log.level` (`RUST_LOG`
/// refines it when set), JSON lines when `log.json` is true. Logs go to
/// stderr so command output on stdout stays clean.
pub fn init_logging(log: &LogConfig) -> Result<(), LoggingError> {
    let level = log.level.value();
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.is_empty() => EnvFilter::try_new(s),
        _ => EnvFilter::try_new(level.as_filter()),
    }
    .map_err(|e| LoggingError(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if log.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| LoggingError(e.to_string()))
}
