//! Logging set-up with `tracing-subscriber`.

use std::fs::{File, OpenOptions};
use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt, reload};

use crate::config::{LogConfig, LogLevel};

/// Logging could not be initialised.
#[derive(Debug, thiserror::Error)]
#[error("cannot initialise logging: {0}")]
pub struct LoggingError(String);

/// Changes the level of the installed subscriber (config reload).
#[derive(Debug, Clone)]
pub struct LogHandle {
    filter: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: it replaces `log.level`, so level changes are
    /// refused rather than silently overriding the operator's filter.
    from_env: bool,
}

impl LogHandle {
    /// Applies a new `log.level`.
    ///
    /// # Errors
    /// `RUST_LOG` is set (it wins over `log.level`), or the subscriber is gone.
    pub fn set_level(&self, level: LogLevel) -> Result<(), LoggingError> {
        if self.from_env {
            return Err(LoggingError(
                "RUST_LOG is set and replaces log.level".to_owned(),
            ));
        }
        let filter =
            EnvFilter::try_new(level.as_filter()).map_err(|e| LoggingError(e.to_string()))?;
        self.filter
            .reload(filter)
            .map_err(|e| LoggingError(e.to_string()))
    }
}

/// Installs the global subscriber: level from `log.level` (`RUST_LOG`
/// refines it when set). Logs go to stderr (so command output on stdout
/// stays clean), as JSON lines when `log.json` is true; with `log.file` they
/// go to that file instead (created if missing, appended to), always as JSON
/// lines, as Centrifugo writes its log file.
///
/// # Errors
/// A bad `RUST_LOG`, a `log.file` that cannot be opened, or a subscriber
/// already installed.
pub fn init_logging(log: &LogConfig) -> Result<LogHandle, LoggingError> {
    let level = log.level.value();
    let (filter, from_env) = match std::env::var("RUST_LOG") {
        Ok(s) if !s.is_empty() => (EnvFilter::try_new(s), true),
        _ => (EnvFilter::try_new(level.as_filter()), false),
    };
    let filter = filter.map_err(|e| LoggingError(e.to_string()))?;
    let (filter, handle) = reload::Layer::new(filter);
    let output: Box<dyn Layer<_> + Send + Sync> = if log.file.is_empty() {
        let layer = fmt::layer().with_writer(std::io::stderr);
        if log.json {
            layer.json().boxed()
        } else {
            layer.boxed()
        }
    } else {
        let file = open_log_file(&log.file)?;
        fmt::layer()
            .with_writer(file)
            .with_ansi(false)
            .json()
            .boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .map_err(|e| LoggingError(e.to_string()))?;
    Ok(LogHandle {
        filter: handle,
        from_env,
    })
}

/// Opens `log.file` for appending (mode 0644 for a new file on Unix).
fn open_log_file(path: &str) -> Result<Arc<File>, LoggingError> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    options
        .open(path)
        .map(Arc::new)
        .map_err(|e| LoggingError(format!("log.file {path:?}: {e}")))
}
