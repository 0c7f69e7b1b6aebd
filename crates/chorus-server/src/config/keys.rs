//! The tree of known configuration keys, derived from the serialized
//! defaults, and the walk that finds unknown keys in a config file.

use serde_json::{Map, Value};

use super::{ChannelNamespace, RpcNamespace, ServerConfig};

/// Arrays whose items are objects with a known shape, addressable by
/// their `name` in environment variables.
pub(super) const OBJECT_ARRAYS: [&str; 4] = [
    "channel.namespaces",
    "rpc.namespaces",
    "proxies",
    "consumers",
];

/// The default configuration as a JSON tree: every known key is present.
pub(super) fn known_tree() -> Value {
    serde_json::to_value(ServerConfig::default()).unwrap_or(Value::Null)
}

/// The shape of one item of an object array at `path`.
pub(super) fn array_item_template(path: &str) -> Option<Value> {
    match path {
        "channel.namespaces" => serde_json::to_value(ChannelNamespace::default()).ok(),
        "rpc.namespaces" => serde_json::to_value(RpcNamespace::default()).ok(),
        "proxies" => serde_json::to_value(super::NamedProxy::default()).ok(),
        "consumers" => serde_json::to_value(super::ConsumerConfig::default()).ok(),
        _ => None,
    }
}

/// Appends `key` to a dotted path.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Dotted paths of every key in `value` that the template does not know.
///
/// An empty object in the template is free-form (any keys accepted).
pub(super) fn unknown_keys(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        walk(map, &known_tree(), "", &mut out);
    }
    out
}

fn walk(map: &Map<String, Value>, template: &Value, path: &str, out: &mut Vec<String>) {
    let Value::Object(known) = template else {
        return;
    };
    if known.is_empty() {
        return; // free-form map
    }
    for (key, value) in map {
        let key_path = join(path, key);
        let Some(expected) = known.get(key) else {
            out.push(key_path);
            continue;
        };
        match value {
            Value::Object(inner) => walk(inner, expected, &key_path, out),
            Value::Array(items) => {
                if let Some(item_template) = array_item_template(&key_path) {
                    for (i, item) in items.iter().enumerate() {
                        if let Value::Object(inner) = item {
                            walk(inner, &item_template, &format!("{key_path}[{i}]"), out);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Sets `value` at a dotted path, creating intermediate objects (and
/// replacing non-objects on the way).
pub(super) fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        node = map
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_keys_with_paths() {
        let v = json!({
            "http_server": {"port": 1, "prot": 2},
            "colour": "x",
            "channel": {
                "namespaces": [{"name": "chat", "presense": true, "presence": true}],
                "without_namespace": {"map": {"anything": 1}}
            },
            "client": {"token": {"hmac_secret": "x"}}
        });
        let mut keys = unknown_keys(&v);
        keys.sort();
        assert_eq!(
            keys,
            vec![
                "channel.namespaces[0].presense",
                "client.token.hmac_secret",
                "colour",
                "http_server.prot",
            ]
        );
    }

    #[test]
    fn set_path_creates_objects() {
        let mut v = json!({"a": 1});
        set_path(&mut v, "http_server.port", json!(9000));
        assert_eq!(v, json!({"a": 1, "http_server": {"port": 9000}}));
    }
}
