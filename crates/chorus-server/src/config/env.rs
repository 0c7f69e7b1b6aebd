//! Environment variable overrides.
//!
//! Naming follows Centrifugo: `CENTRIFUGO_` + the upper-cased key path with
//! `_` for nesting (`CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY`). Chorus also
//! reads the same names with the `CHORUS_` prefix; those win.
//!
//! Values: strings as is; booleans like Go's `strconv.ParseBool`; numbers
//! as decimal; arrays of strings space-separated (or a JSON array); maps as
//! JSON. The named lists (`channel.namespaces`, `rpc.namespaces`, `proxies`,
//! `consumers`) take a JSON array, which replaces the list, or space-separated
//! names, which add items with just that name, as Centrifugo does. Their items
//! are then addressable by name: `CENTRIFUGO_CHANNEL_NAMESPACES_<NAME>_<OPTION>`,
//! `CENTRIFUGO_CONSUMERS_<NAME>_POSTGRESQL_DSN` (`.` and `-` in the name
//! become `_`). Empty variables count as unset.
//! `CENTRIFUGO_VAR_*` are free variables and never reported.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ServerConfigError;
use super::keys::{OBJECT_ARRAYS, array_item_template, join, known_tree};

/// Recognised prefixes, in increasing priority.
const PREFIXES: [&str; 2] = ["CENTRIFUGO_", "CHORUS_"];

/// How an environment string becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Bool,
    Integer,
    Float,
    StringArray,
    /// A list of named objects: a JSON array, or space-separated names.
    NamedArray,
    Json,
}

/// A key inside item `index` of the object array at `array`.
#[derive(Debug, Clone)]
struct ItemTarget {
    array: String,
    index: usize,
    key: String,
}

/// Applies matching variables to `root`; returns the names of unknown
/// `CENTRIFUGO_*` / `CHORUS_*` variables.
pub(super) fn apply_env(
    root: &mut Value,
    vars: &[(String, String)],
) -> Result<Vec<String>, ServerConfigError> {
    // Relevant variables ordered by prefix priority (stable within one prefix).
    let mut relevant: Vec<(&str, &str, &str)> = Vec::new(); // (full name, suffix, value)
    for prefix in PREFIXES {
        for (name, value) in vars {
            if value.is_empty() {
                continue;
            }
            if let Some(suffix) = name.strip_prefix(prefix) {
                if suffix.starts_with("VAR_") {
                    continue;
                }
                relevant.push((name, suffix, value));
            }
        }
    }

    let mut table = HashMap::new();
    leaf_names(&known_tree(), "", &mut table);

    // Pass 1: plain paths (including whole object arrays as JSON).
    let mut pending = Vec::new();
    for (name, suffix, value) in relevant {
        match table.get(suffix) {
            Some((path, Kind::NamedArray)) => apply_named_array(root, path, name, value)?,
            Some((path, kind)) => {
                let v = convert(name, value, *kind)?;
                super::keys::set_path(root, path, v);
            }
            None => pending.push((name, suffix, value)),
        }
    }

    // Pass 2: named items of object arrays, now that their names are known.
    let items = item_table(root);
    let mut unknown = Vec::new();
    for (name, suffix, value) in pending {
        match items.get(suffix) {
            Some((ItemTarget { array, index, key }, kind)) => {
                let v = convert(name, value, *kind)?;
                set_item(root, array, *index, key, v);
            }
            None => unknown.push(name.to_owned()),
        }
    }
    Ok(unknown)
}

fn env_name(path: &str) -> String {
    path.replace(['.', '-'], "_").to_ascii_uppercase()
}

/// Maps env suffixes (e.g. `CLIENT_TOKEN_AUDIENCE`) to paths and kinds.
fn leaf_names(template: &Value, path: &str, out: &mut HashMap<String, (String, Kind)>) {
    let Value::Object(map) = template else {
        return;
    };
    for (key, value) in map {
        let key_path = join(path, key);
        let kind = match value {
            Value::Object(inner) if !inner.is_empty() => {
                leaf_names(value, &key_path, out);
                continue;
            }
            Value::Object(_) => Kind::Json,
            Value::Array(_) if OBJECT_ARRAYS.contains(&key_path.as_str()) => Kind::NamedArray,
            Value::Array(_) => Kind::StringArray,
            Value::Bool(_) => Kind::Bool,
            Value::Number(n) if n.is_f64() => Kind::Float,
            Value::Number(_) => Kind::Integer,
            Value::String(_) | Value::Null => Kind::String,
        };
        out.insert(env_name(&key_path), (key_path, kind));
    }
}

/// Env suffixes for the items currently present in object arrays.
fn item_table(root: &Value) -> HashMap<String, (ItemTarget, Kind)> {
    let mut out = HashMap::new();
    for array in OBJECT_ARRAYS {
        let Some(template) = array_item_template(array) else {
            continue;
        };
        let mut leaves = HashMap::new();
        leaf_names(&template, "", &mut leaves);
        let items = array
            .split('.')
            .try_fold(root, |node, part| node.get(part))
            .and_then(Value::as_array);
        let Some(items) = items else {
            continue;
        };
        for (index, item) in items.iter().enumerate() {
            let Some(name) = item.get("name").and_then(Value::as_str) else {
                continue;
            };
            for (leaf_env, (leaf_path, kind)) in &leaves {
                if leaf_path == "name" {
                    continue;
                }
                let env = format!("{}_{}_{leaf_env}", env_name(array), env_name(name));
                let target = ItemTarget {
                    array: array.to_owned(),
                    index,
                    key: leaf_path.clone(),
                };
                out.insert(env, (target, *kind));
            }
        }
    }
    out
}

fn set_item(root: &mut Value, array: &str, index: usize, key: &str, value: Value) {
    let node = array
        .split('.')
        .try_fold(root, |node, part| node.get_mut(part))
        .and_then(|node| node.get_mut(index));
    if let Some(item) = node {
        if !item.is_object() {
            *item = Value::Object(Map::new());
        }
        super::keys::set_path(item, key, value);
    }
}

/// A named list from one variable: a JSON array (`[...]`) replaces the list;
/// otherwise the space-separated names are appended as items holding only
/// their `name`, to be completed by `<LIST>_<NAME>_<OPTION>` variables.
fn apply_named_array(
    root: &mut Value,
    path: &str,
    var: &str,
    raw: &str,
) -> Result<(), ServerConfigError> {
    let t = raw.trim();
    // A leading `[` is always meant as JSON: a broken array is reported
    // rather than taken as odd names.
    if t.starts_with('[') {
        let v = convert(var, t, Kind::Json)?;
        if !v.is_array() {
            return Err(ServerConfigError::Env {
                var: var.to_owned(),
                message: "expected a JSON array".to_owned(),
            });
        }
        super::keys::set_path(root, path, v);
        return Ok(());
    }
    let mut items = path
        .split('.')
        .try_fold(&*root, |node, part| node.get(part))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for name in t.split_whitespace() {
        let mut item = Map::new();
        item.insert("name".to_owned(), Value::String(name.to_owned()));
        items.push(Value::Object(item));
    }
    super::keys::set_path(root, path, Value::Array(items));
    Ok(())
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn convert(var: &str, raw: &str, kind: Kind) -> Result<Value, ServerConfigError> {
    let err = |message: String| ServerConfigError::Env {
        var: var.to_owned(),
        message,
    };
    Ok(match kind {
        Kind::String => Value::String(raw.to_owned()),
        Kind::Bool => Value::Bool(
            parse_go_bool(raw.trim())
                .ok_or_else(|| err(format!("expected a boolean, got {raw:?}")))?,
        ),
        Kind::Integer => {
            let t = raw.trim();
            if let Ok(n) = t.parse::<i64>() {
                Value::from(n)
            } else if let Ok(n) = t.parse::<u64>() {
                Value::from(n)
            } else {
                return Err(err(format!("expected an integer, got {raw:?}")));
            }
        }
        Kind::Float => Value::from(
            raw.trim()
                .parse::<f64>()
                .map_err(|_| err(format!("expected a number, got {raw:?}")))?,
        ),
        Kind::StringArray => {
            let t = raw.trim();
            if t.starts_with('[') {
                serde_json::from_str(t).map_err(|e| err(format!("expected a JSON array: {e}")))?
            } else {
                Value::Array(
                    t.split_whitespace()
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                )
            }
        }
        Kind::NamedArray | Kind::Json => {
            serde_json::from_str(raw).map_err(|e| err(format!("expected JSON: {e}")))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn go_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false));
        }
        assert_eq!(parse_go_bool("yes"), None);
    }

    #[test]
    fn typed_values_and_priority() {
        let mut root = json!({});
        let unknown = apply_env(
            &mut root,
            &vars(&[
                ("CHORUS_HTTP_SERVER_PORT", "9001"),
                ("CENTRIFUGO_HTTP_SERVER_PORT", "9000"),
                ("CENTRIFUGO_CLIENT_INSECURE", "t"),
                ("CENTRIFUGO_CLIENT_ALLOWED_ORIGINS", "http://a http://b"),
                ("CENTRIFUGO_LOG_LEVEL", ""),
                ("CENTRIFUGO_VAR_SOMETHING", "x"),
                ("CENTRIFUGO_NOPE", "1"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(unknown, vec!["CENTRIFUGO_NOPE".to_owned()]);
        assert_eq!(root["http_server"]["port"], json!(9001));
        assert_eq!(root["client"]["insecure"], json!(true));
        assert_eq!(
            root["client"]["allowed_origins"],
            json!(["http://a", "http://b"])
        );
        assert!(root.get("log").is_none());
    }

    #[test]
    fn named_lists_from_space_separated_names_or_json() {
        let mut root = json!({"channel": {"namespaces": [{"name": "file", "presence": true}]}});
        let unknown = apply_env(
            &mut root,
            &vars(&[
                ("CENTRIFUGO_CHANNEL_NAMESPACES", "alpha beta"),
                ("CENTRIFUGO_CHANNEL_NAMESPACES_ALPHA_PRESENCE", "true"),
                ("CENTRIFUGO_CHANNEL_NAMESPACES_BETA_HISTORY_SIZE", "10"),
                ("CENTRIFUGO_RPC_NAMESPACES", r#"[{"name":"calc"}]"#),
                ("CENTRIFUGO_RPC_NAMESPACES_CALC_PROXY_ENABLED", "true"),
                ("CENTRIFUGO_PROXIES", "main"),
                ("CENTRIFUGO_PROXIES_MAIN_ENDPOINT", "http://127.0.0.1:1/x"),
                ("CENTRIFUGO_CHANNEL_NAMESPACES_GAMMA_PRESENCE", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(
            unknown,
            vec!["CENTRIFUGO_CHANNEL_NAMESPACES_GAMMA_PRESENCE".to_owned()]
        );
        assert_eq!(
            root["channel"]["namespaces"],
            json!([
                {"name": "file", "presence": true},
                {"name": "alpha", "presence": true},
                {"name": "beta", "history_size": 10},
            ])
        );
        assert_eq!(
            root["rpc"]["namespaces"],
            json!([{"name": "calc", "proxy_enabled": true}])
        );
        assert_eq!(
            root["proxies"],
            json!([{"name": "main", "endpoint": "http://127.0.0.1:1/x"}])
        );

        let err = apply_env(
            &mut json!({}),
            &vars(&[("CENTRIFUGO_PROXIES", r#"[{"name":"#)]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("CENTRIFUGO_PROXIES"), "{err}");
    }

    #[test]
    fn bad_bool_is_an_error() {
        let mut root = json!({});
        let err =
            apply_env(&mut root, &vars(&[("CENTRIFUGO_CLIENT_INSECURE", "yes")])).unwrap_err();
        assert!(
            err.to_string().contains("CENTRIFUGO_CLIENT_INSECURE"),
            "{err}"
        );
    }
}
