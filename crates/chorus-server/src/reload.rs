//! Configuration reload on SIGHUP.
//!
//! The file (and the environment and flags) is read again and validated. What
//! can change in a running server is applied: today `log.level`. Every other
//! changed key is logged by name as needing a restart, and the running
//! configuration is kept for it; a file that does not load or validate is
//! logged and ignored. The process never stops because of a reload.

use serde_json::Value;

use crate::config::{ServerConfig as Config, ServerConfigError as ConfigError};
use crate::logging::LogHandle;

/// Keys applied to the running server on reload.
pub const LIVE_KEYS: &[&str] = &["log.level"];

/// Dotted paths of the leaves that differ between `old` and `new` (array
/// items as `path[i]`, a changed array length as the array's path).
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    diff(&old, &new, "", &mut out);
    out
}

fn diff(old: &Value, new: &Value, path: &str, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => diff(x, y, &child, out),
                    _ => out.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ if old != new => out.push(path.to_owned()),
        _ => {}
    }
}

/// What one reload did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// Keys applied live.
    pub applied: Vec<String>,
    /// Changed keys kept at their running value until a restart.
    pub need_restart: Vec<String>,
}

/// Compares `new` with the `running` configuration, applies the live keys
/// (updating `running` for them) and logs key by key what needs a restart.
pub fn apply(running: &mut Config, new: &Config, log: &LogHandle) -> ReloadOutcome {
    let mut outcome = ReloadOutcome::default();
    for key in changed_keys(running, new) {
        if key == "log.level" {
            match new.log.level.known().map(|l| log.set_level(l)) {
                Some(Ok(())) => {
                    running.log.level.clone_from(&new.log.level);
                    tracing::info!(key, value = %new.log.level, "config reload: applied");
                    outcome.applied.push(key);
                }
                Some(Err(e)) => {
                    tracing::warn!(key, error = %e, "config reload: not applied");
                    outcome.need_restart.push(key);
                }
                None => {
                    tracing::warn!(key, value = %new.log.level, "config reload: unknown level, not applied");
                    outcome.need_restart.push(key);
                }
            }
        } else {
            tracing::warn!(key, "config reload: changed, takes effect after a restart");
            outcome.need_restart.push(key);
        }
    }
    if outcome.applied.is_empty() && outcome.need_restart.is_empty() {
        tracing::info!("config reload: nothing changed");
    }
    outcome
}

/// Logs a configuration that could not be reloaded (the running one stays).
pub fn log_failure(error: &ConfigError) {
    tracing::error!(error = %error, "config reload: the new configuration is not valid, keeping the running one");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_dotted_leaf_paths() {
        let old = Config::default();
        let mut new = Config::default();
        new.log.level = "debug".into();
        new.http_server.port = 9000;
        new.client.allowed_origins = vec!["*".into()];
        assert_eq!(
            changed_keys(&old, &new),
            ["client.allowed_origins", "http_server.port", "log.level"]
        );
        assert!(changed_keys(&old, &old.clone()).is_empty());
    }
}
