//! The `rpc` section.

use serde::{Deserialize, Serialize};

/// RPC options of a namespace (or of methods without a namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcOptions {
    /// Forward RPC calls to a proxy.
    pub proxy_enabled: bool,
    /// Name of the RPC proxy.
    pub proxy_name: String,
}

/// One entry of `rpc.namespaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcNamespace {
    /// Namespace name (`^[-a-zA-Z0-9_.]{2,}$`, unique).
    pub name: String,
    /// Options of methods in this namespace.
    #[serde(flatten)]
    pub options: RpcOptions,
}

/// `rpc.ping`: a built-in RPC method answering with an empty result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcPingConfig {
    /// Enable the ping method.
    pub enabled: bool,
    /// Method name. Default `ping`.
    pub method: String,
}

impl Default for RpcPingConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            method: "ping".to_owned(),
        }
    }
}

/// `rpc`: client RPC options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RpcConfig {
    /// Options of methods without a namespace.
    pub without_namespace: RpcOptions,
    /// Named RPC namespaces.
    pub namespaces: Vec<RpcNamespace>,
    /// Built-in ping method.
    pub ping: RpcPingConfig,
    /// Namespace boundary in method names. Default `:`.
    pub namespace_boundary: String,
    /// `proxy`: the default RPC proxy.
    pub proxy: super::proxy::ProxyOptions,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            without_namespace: RpcOptions::default(),
            namespaces: Vec::new(),
            ping: RpcPingConfig::default(),
            namespace_boundary: ":".to_owned(),
            proxy: super::proxy::ProxyOptions::default(),
        }
    }
}
