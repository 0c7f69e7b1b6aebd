//! Proxy (event hook) configuration (spec §9): named `proxies`, the connection
//! proxies in `client.proxy`, the channel proxies in `channel.proxy`, the RPC
//! proxy in `rpc.proxy`, and their validation.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{GoDuration, ServerConfig};

/// The reserved proxy name meaning "the proxy configured in `channel.proxy.*` /
/// `rpc.proxy`".
pub const DEFAULT_PROXY_NAME: &str = "default";

/// TLS settings of a proxy connection (accepted for compatibility; Chorus only
/// supports TLS with the system roots through `https://` endpoints, so enabling
/// custom TLS is a configuration error).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyTlsConfig {
    /// Use custom TLS settings.
    pub enabled: bool,
    /// Client certificate (PEM).
    pub cert_pem: String,
    /// Client key (PEM).
    pub key_pem: String,
    /// Server root CA (PEM).
    pub server_ca_pem: String,
    /// Client CA (PEM).
    pub client_ca_pem: String,
    /// Skip server certificate verification.
    pub insecure_skip_verify: bool,
    /// Server name for verification.
    pub server_name: String,
}

/// Turns an HTTP status code from the backend into an error for the client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformError {
    /// Error code.
    pub code: u32,
    /// Error message.
    pub message: String,
    /// Whether the client may retry.
    pub temporary: bool,
}

/// Turns an HTTP status code from the backend into a disconnect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransformDisconnect {
    /// Disconnect code.
    pub code: u32,
    /// Disconnect reason.
    pub reason: String,
}

/// One entry of `http.status_to_code_transforms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusToCodeTransform {
    /// The HTTP status code to transform.
    pub status_code: u16,
    /// Answer with this error.
    pub to_error: Option<TransformError>,
    /// Or close with this disconnect.
    pub to_disconnect: Option<TransformDisconnect>,
}

/// `http`: options of HTTP proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyHttpConfig {
    /// Custom TLS (unsupported when enabled).
    pub tls: ProxyTlsConfig,
    /// Headers added to every request (forwarded headers win).
    pub static_headers: BTreeMap<String, String>,
    /// Non-200 statuses turned into errors or disconnects.
    pub status_to_code_transforms: Vec<StatusToCodeTransform>,
}

/// `grpc`: options of gRPC proxies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyGrpcConfig {
    /// Custom TLS (unsupported when enabled).
    pub tls: ProxyTlsConfig,
    /// Per-call credentials metadata key.
    pub credentials_key: String,
    /// Per-call credentials metadata value.
    pub credentials_value: String,
    /// gzip compression (unsupported when on).
    pub compression: bool,
    /// Metadata added to every call (forwarded metadata wins).
    pub static_metadata: BTreeMap<String, String>,
}

/// The options every proxy has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProxyOptions {
    /// `http://`, `https://` or `grpc://` URL.
    pub endpoint: String,
    /// Request timeout. Default 1s.
    pub timeout: GoDuration,
    /// Allow-list of transport (upgrade request) headers to forward.
    pub http_headers: Vec<String>,
    /// Allow-list of emulated headers (from the client's connect) to forward.
    pub emulated_headers: Vec<String>,
    /// Allow-list of gRPC metadata keys to forward.
    pub grpc_metadata: Vec<String>,
    /// Send `b64data`/`b64info` instead of raw JSON fields.
    pub binary_encoding: bool,
    /// Send the connection's `meta` with the request.
    pub include_connection_meta: bool,
    /// HTTP options.
    pub http: ProxyHttpConfig,
    /// gRPC options.
    pub grpc: ProxyGrpcConfig,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            timeout: GoDuration::from_secs(1),
            http_headers: Vec::new(),
            emulated_headers: Vec::new(),
            grpc_metadata: Vec::new(),
            binary_encoding: false,
            include_connection_meta: false,
            http: ProxyHttpConfig::default(),
            grpc: ProxyGrpcConfig::default(),
        }
    }
}

/// One entry of the top-level `proxies` array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NamedProxy {
    /// Name referenced by `*_proxy_name` (not `default`).
    pub name: String,
    /// Options.
    #[serde(flatten)]
    pub options: ProxyOptions,
}

/// `client.proxy.connect` / `client.proxy.refresh`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionProxy {
    /// Turn the proxy on.
    pub enabled: bool,
    /// Options.
    #[serde(flatten)]
    pub options: ProxyOptions,
}

/// `client.proxy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientProxyConfig {
    /// Connect proxy (clients without a token).
    pub connect: ConnectionProxy,
    /// Refresh proxy (server-side connection refresh).
    pub refresh: ConnectionProxy,
}

/// `channel.proxy`: the default channel proxies, enabled per namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelProxyConfig {
    /// Subscribe proxy.
    pub subscribe: ProxyOptions,
    /// Publish proxy.
    pub publish: ProxyOptions,
    /// Sub refresh proxy.
    pub sub_refresh: ProxyOptions,
}

/// Every problem in the proxy configuration.
pub(super) fn problems(config: &ServerConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for (i, p) in config.proxies.iter().enumerate() {
        let key = format!("proxies[{i}]");
        if p.name.is_empty() {
            out.push(format!("{key}.name: required"));
        } else if p.name == DEFAULT_PROXY_NAME {
            out.push(format!(
                "{key}.name: \"{DEFAULT_PROXY_NAME}\" is reserved for the proxies in channel.proxy and rpc.proxy"
            ));
        } else if !names.insert(p.name.as_str()) {
            out.push(format!("{key}.name: duplicate proxy name {:?}", p.name));
        }
        check_options(&p.options, &key, &mut out);
    }
    let c = &config.client.proxy;
    for (key, proxy) in [
        ("client.proxy.connect", &c.connect),
        ("client.proxy.refresh", &c.refresh),
    ] {
        if proxy.enabled {
            check_options(&proxy.options, key, &mut out);
        }
    }
    let ch = &config.channel;
    let mut spaces = vec![(
        "channel.without_namespace".to_owned(),
        &ch.without_namespace,
    )];
    for (i, ns) in ch.namespaces.iter().enumerate() {
        spaces.push((format!("channel.namespaces[{i}]"), &ns.options));
    }
    for (key, o) in spaces {
        if o.subscribe_stream_proxy_enabled {
            out.push(format!(
                "{key}.subscribe_stream_proxy_enabled: stream proxies are not supported by chorus"
            ));
        }
        for (flag, enabled, name, default) in [
            (
                "subscribe",
                o.subscribe_proxy_enabled,
                &o.subscribe_proxy_name,
                &ch.proxy.subscribe,
            ),
            (
                "publish",
                o.publish_proxy_enabled,
                &o.publish_proxy_name,
                &ch.proxy.publish,
            ),
            (
                "sub_refresh",
                o.sub_refresh_proxy_enabled,
                &o.sub_refresh_proxy_name,
                &ch.proxy.sub_refresh,
            ),
        ] {
            if enabled {
                check_reference(
                    config,
                    name,
                    default,
                    &format!("{key}.{flag}_proxy_name"),
                    &format!("channel.proxy.{flag}"),
                    &mut out,
                );
            }
        }
    }
    let rpc = &config.rpc;
    let mut spaces = vec![("rpc.without_namespace".to_owned(), &rpc.without_namespace)];
    for (i, ns) in rpc.namespaces.iter().enumerate() {
        spaces.push((format!("rpc.namespaces[{i}]"), &ns.options));
    }
    for (key, o) in spaces {
        if o.proxy_enabled {
            check_reference(
                config,
                &o.proxy_name,
                &rpc.proxy,
                &format!("{key}.proxy_name"),
                "rpc.proxy",
                &mut out,
            );
        }
    }
    out
}

/// A namespace enables a proxy by name: the name must exist, and the default
/// proxy must be configured when it is used.
fn check_reference(
    config: &ServerConfig,
    name: &str,
    default: &ProxyOptions,
    key: &str,
    default_key: &str,
    out: &mut Vec<String>,
) {
    if name.is_empty() || name == DEFAULT_PROXY_NAME {
        if default.endpoint.is_empty() {
            out.push(format!(
                "{key}: the proxy is enabled but {default_key}.endpoint is not set"
            ));
        } else {
            check_options(default, default_key, out);
        }
    } else if !config.proxies.iter().any(|p| p.name == name) {
        out.push(format!("{key}: unknown proxy {name:?} (not in proxies)"));
    }
}

fn check_options(o: &ProxyOptions, key: &str, out: &mut Vec<String>) {
    let e = &o.endpoint;
    if e.is_empty() {
        out.push(format!("{key}.endpoint: required"));
    } else if !(e.starts_with("http://") || e.starts_with("https://") || e.starts_with("grpc://")) {
        out.push(format!(
            "{key}.endpoint: {e:?} must start with http://, https:// or grpc://"
        ));
    }
    if o.timeout <= GoDuration::ZERO {
        out.push(format!("{key}.timeout: must be positive"));
    }
    if o.http.tls.enabled {
        out.push(format!(
            "{key}.http.tls: custom TLS for proxies is not supported by chorus (https:// endpoints use the system roots)"
        ));
    }
    if o.grpc.tls.enabled {
        out.push(format!(
            "{key}.grpc.tls: TLS for gRPC proxies is not supported by chorus"
        ));
    }
    if o.grpc.compression {
        out.push(format!(
            "{key}.grpc.compression: compression for gRPC proxies is not supported by chorus"
        ));
    }
    for (i, t) in o.http.status_to_code_transforms.iter().enumerate() {
        let tk = format!("{key}.http.status_to_code_transforms[{i}]");
        if t.status_code == 0 {
            out.push(format!("{tk}.status_code: required"));
        }
        match (&t.to_error, &t.to_disconnect) {
            (None, None) | (Some(_), Some(_)) => out.push(format!(
                "{tk}: exactly one of to_error and to_disconnect must be set"
            )),
            (Some(err), None) if !(400..=1999).contains(&err.code) => {
                out.push(format!(
                    "{tk}.to_error.code: {} is not in 400..1999",
                    err.code
                ));
            }
            (None, Some(d)) if !(4000..=4999).contains(&d.code) => {
                out.push(format!(
                    "{tk}.to_disconnect.code: {} is not in 4000..4999",
                    d.code
                ));
            }
            _ => {}
        }
    }
}
