//! Reading configuration files and assembling the final [`ServerConfig`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{ServerConfig, ServerConfigError, env, keys};

/// Default config file path (relative to the working directory).
pub const DEFAULT_CONFIG_PATH: &str = "config.json";

/// Config file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// `.json`
    Json,
    /// `.yaml` / `.yml`
    Yaml,
    /// `.toml`
    Toml,
}

impl ConfigFormat {
    /// Picks the format from a file extension (case-insensitive).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Self::Json),
            "yaml" | "yml" => Some(Self::Yaml),
            "toml" => Some(Self::Toml),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Json => "JSON",
            Self::Yaml => "YAML",
            Self::Toml => "TOML",
        }
    }
}

impl fmt::Display for ConfigFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The result of loading: the configuration plus what was noticed on the way.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadedConfig {
    /// The merged configuration (not yet validated).
    pub config: ServerConfig,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Unknown keys in the file, as dotted paths (`channel.namespaces[0].foo`).
    pub unknown_keys: Vec<String>,
    /// Unknown `CENTRIFUGO_*` / `CHORUS_*` environment variables.
    pub unknown_env: Vec<String>,
}

impl LoadedConfig {
    /// Human-readable warnings for unknown keys and variables.
    pub fn warnings(&self) -> Vec<String> {
        self.unknown_keys
            .iter()
            .map(|k| format!("unknown configuration key `{k}`"))
            .chain(
                self.unknown_env
                    .iter()
                    .map(|v| format!("unknown environment variable {v}")),
            )
            .collect()
    }
}

/// Builder that loads configuration from file, environment and overrides.
///
/// The environment is injected (see [`ConfigLoader::env`]) so tests never
/// touch the process environment; [`ConfigLoader::process_env`] reads the
/// real one.
#[derive(Debug, Clone, Default)]
pub struct ConfigLoader {
    path: Option<PathBuf>,
    explicit: bool,
    env: Vec<(String, String)>,
    overrides: Vec<(String, Value)>,
}

impl ConfigLoader {
    /// A loader that reads `config.json` if it exists, with no environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads this file; it must exist.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self.explicit = true;
        self
    }

    /// Reads this file if it exists (like the default `config.json`).
    pub fn optional_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self.explicit = false;
        self
    }

    /// Uses these environment variables (appended to any given before).
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Uses the process environment.
    pub fn process_env(self) -> Self {
        self.env(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// Sets a dotted key (e.g. `http_server.port`) after file and environment.
    pub fn set(mut self, path: impl Into<String>, value: impl Into<Value>) -> Self {
        self.overrides.push((path.into(), value.into()));
        self
    }

    /// Loads the configured file (or defaults when the optional file is missing).
    pub fn load(&self) -> Result<LoadedConfig, ServerConfigError> {
        let path = self
            .path
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if self.explicit {
                    return Err(ServerConfigError::NotFound { path });
                }
                None
            }
            Err(source) => return Err(ServerConfigError::Io { path, source }),
        };
        match text {
            Some(text) => {
                let format = ConfigFormat::from_path(&path)
                    .ok_or_else(|| ServerConfigError::UnsupportedFormat { path: path.clone() })?;
                let mut loaded = self.load_str(&text, format)?;
                loaded.file = Some(path);
                Ok(loaded)
            }
            None => self.assemble(Value::Object(serde_json::Map::new())),
        }
    }

    /// Loads from configuration text instead of a file.
    pub fn load_str(
        &self,
        text: &str,
        format: ConfigFormat,
    ) -> Result<LoadedConfig, ServerConfigError> {
        self.assemble(parse_text(text, format)?)
    }

    fn assemble(&self, mut root: Value) -> Result<LoadedConfig, ServerConfigError> {
        let unknown_keys = keys::unknown_keys(&root);
        let unknown_env = env::apply_env(&mut root, &self.env)?;
        for (path, value) in &self.overrides {
            keys::set_path(&mut root, path, value.clone());
        }
        let config: ServerConfig = serde_path_to_error::deserialize(root).map_err(|e| {
            let path = e.path().to_string();
            ServerConfigError::Type {
                path,
                message: e.into_inner().to_string(),
            }
        })?;
        Ok(LoadedConfig {
            config,
            file: None,
            unknown_keys,
            unknown_env,
        })
    }
}

/// Parses text into a JSON tree; an empty document is an empty object.
fn parse_text(text: &str, format: ConfigFormat) -> Result<Value, ServerConfigError> {
    let parse_err = |message: String| ServerConfigError::Parse {
        format: format.name(),
        message,
    };
    let value: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        match format {
            ConfigFormat::Json => {
                serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?
            }
            ConfigFormat::Yaml => {
                serde_yaml_ng::from_str(text).map_err(|e| parse_err(e.to_string()))?
            }
            ConfigFormat::Toml => toml::from_str(text).map_err(|e| parse_err(e.to_string()))?,
        }
    };
    match value {
        Value::Null => Ok(Value::Object(serde_json::Map::new())),
        Value::Object(_) => Ok(value),
        _ => Err(parse_err("the top level must be an object".to_owned())),
    }
}

/// Serializes a JSON tree in the given format.
pub(super) fn value_to_string(
    value: &Value,
    format: ConfigFormat,
) -> Result<String, ServerConfigError> {
    let ser = |e: String| ServerConfigError::Serialize(e);
    match format {
        ConfigFormat::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| ser(e.to_string())),
        ConfigFormat::Yaml => serde_yaml_ng::to_string(value).map_err(|e| ser(e.to_string())),
        ConfigFormat::Toml => toml::to_string_pretty(value).map_err(|e| ser(e.to_string())),
    }
}
