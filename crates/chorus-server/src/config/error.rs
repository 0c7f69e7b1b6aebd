//! Configuration errors.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Why configuration could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerConfigError {
    /// An explicitly given config file does not exist.
    #[error("config file {} not found", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file extension is not `.json`, `.yaml`, `.yml` or `.toml`.
    #[error(
        "unsupported config file format for {} (use .json, .yaml, .yml or .toml)",
        path.display()
    )]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// The text is not valid JSON / YAML / TOML, or not an object at top level.
    #[error("cannot parse {format} configuration: {message}")]
    Parse {
        /// Format name.
        format: &'static str,
        /// Parser message.
        message: String,
    },
    /// An environment variable has a value of the wrong type.
    #[error("invalid value in environment variable {var}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// A key has a value of the wrong type.
    #[error("invalid value for `{path}`: {message}")]
    Type {
        /// Dotted key path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration could not be serialized.
    #[error("cannot serialize configuration: {0}")]
    Serialize(String),
    /// Semantic problems found by validation (all of them).
    #[error("{}", bullet_list("invalid configuration", .0))]
    Invalid(Vec<String>),
    /// Unknown keys (reported as an error by `checkconfig --strict`).
    #[error("{}", bullet_list("unknown configuration keys", .0))]
    UnknownKeys(Vec<String>),
}

fn bullet_list(title: &str, items: &[String]) -> String {
    let mut out = format!("{title} ({} problem{}):", items.len(), plural(items.len()));
    for item in items {
        let _ = write!(out, "\n  - {item}");
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl ServerConfigError {
    /// The individual problems (validation problems or unknown keys); a
    /// single-element list for other errors.
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Invalid(items) | Self::UnknownKeys(items) => items.clone(),
            other => vec![other.to_string()],
        }
    }
}
