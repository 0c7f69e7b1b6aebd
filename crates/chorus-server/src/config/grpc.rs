//! gRPC sections: `grpc_api` (the server API over gRPC, spec §8.4) and
//! `uni_grpc` (the unidirectional gRPC transport, spec §1.4).
//!
//! TLS is not implemented for either listener: `tls.enabled` is reported by
//! validation (the server refuses to start) rather than silently serving
//! plaintext. The same goes for `grpc_api.reflection`.

use serde::{Deserialize, Serialize};

use super::{Choice, ErrorMode};

/// Default largest inbound gRPC message (the gRPC default, 4 MiB).
pub const DEFAULT_GRPC_MAX_RECEIVE_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// `tls` of a gRPC listener (Centrifugo's TLS block). Parsed so that
/// configurations written for Centrifugo load; serving TLS is not supported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcTlsConfig {
    /// Serve TLS (unsupported: a configuration error).
    pub enabled: bool,
    /// Certificate file.
    pub cert_pem_file: String,
    /// Key file.
    pub key_pem_file: String,
    /// Certificate, inline PEM.
    pub cert_pem: String,
    /// Key, inline PEM.
    pub key_pem: String,
    /// CA for client certificates (mutual TLS).
    pub client_ca_pem_file: String,
    /// CA for client certificates, inline PEM.
    pub client_ca_pem: String,
}

/// `grpc_api`: the server API over gRPC (`centrifugal.centrifugo.api.CentrifugoApi`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GrpcApiConfig {
    /// Serve the gRPC API.
    pub enabled: bool,
    /// Interface to bind; `""` means all interfaces.
    pub address: String,
    /// Port. Default 10000.
    pub port: u16,
    /// API key; when set, calls need metadata `authorization: apikey <key>`.
    /// Empty: no authentication (Centrifugo's default for gRPC).
    pub key: String,
    /// `""` (errors inside responses) or `"transport"` (gRPC status codes).
    pub error_mode: Choice<ErrorMode>,
    /// Largest inbound message in bytes; 0 = 4 MiB.
    pub max_receive_message_size: usize,
    /// Serve gRPC server reflection (unsupported: a configuration error).
    pub reflection: bool,
    /// TLS (unsupported: `enabled` is a configuration error).
    pub tls: GrpcTlsConfig,
}

impl Default for GrpcApiConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: String::new(),
            port: 10000,
            key: String::new(),
            error_mode: Choice::default(),
            max_receive_message_size: 0,
            reflection: false,
            tls: GrpcTlsConfig::default(),
        }
    }
}

impl GrpcApiConfig {
    /// The effective inbound message limit.
    pub fn receive_limit(&self) -> usize {
        effective_limit(self.max_receive_message_size)
    }
}

/// `uni_grpc`: the unidirectional gRPC transport
/// (`centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UniGrpcConfig {
    /// Serve the transport.
    pub enabled: bool,
    /// Interface to bind; `""` means all interfaces.
    pub address: String,
    /// Port. Default 11000.
    pub port: u16,
    /// Largest inbound message in bytes; 0 = 4 MiB.
    pub max_receive_message_size: usize,
    /// TLS (unsupported: `enabled` is a configuration error).
    pub tls: GrpcTlsConfig,
}

impl Default for UniGrpcConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            address: String::new(),
            port: 11000,
            max_receive_message_size: 0,
            tls: GrpcTlsConfig::default(),
        }
    }
}

impl UniGrpcConfig {
    /// The effective inbound message limit.
    pub fn receive_limit(&self) -> usize {
        effective_limit(self.max_receive_message_size)
    }
}

fn effective_limit(configured: usize) -> usize {
    if configured == 0 {
        DEFAULT_GRPC_MAX_RECEIVE_MESSAGE_SIZE
    } else {
        configured
    }
}

/// Problems in the gRPC sections, one message each (used by validation).
pub(super) fn problems(api: &GrpcApiConfig, uni: &UniGrpcConfig) -> Vec<String> {
    let mut p = Vec::new();
    if let Some(text) = api.error_mode.unknown() {
        p.push(format!(
            "grpc_api.error_mode: unknown mode {text:?} (expected \"\" or \"transport\")"
        ));
    }
    if api.tls.enabled {
        p.push("grpc_api.tls.enabled: TLS for the gRPC API is not supported by Chorus; terminate TLS in a proxy in front of it".to_owned());
    }
    if api.reflection {
        p.push("grpc_api.reflection: gRPC server reflection is not supported by Chorus".to_owned());
    }
    if uni.tls.enabled {
        p.push("uni_grpc.tls.enabled: TLS for uni_grpc is not supported by Chorus; terminate TLS in a proxy in front of it".to_owned());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let api = GrpcApiConfig::default();
        assert_eq!(api.port, 10000);
        assert_eq!(api.receive_limit(), 4 * 1024 * 1024);
        let uni = UniGrpcConfig {
            max_receive_message_size: 1024,
            ..UniGrpcConfig::default()
        };
        assert_eq!(uni.port, 11000);
        assert_eq!(uni.receive_limit(), 1024);
        assert!(problems(&api, &uni).is_empty());
    }

    #[test]
    fn unsupported_options_are_problems() {
        let mut api = GrpcApiConfig::default();
        api.tls.enabled = true;
        api.reflection = true;
        api.error_mode = Choice::from("loud");
        let mut uni = UniGrpcConfig::default();
        uni.tls.enabled = true;
        let p = problems(&api, &uni);
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p.iter().any(|m| m.starts_with("grpc_api.tls.enabled")));
        assert!(p.iter().any(|m| m.starts_with("uni_grpc.tls.enabled")));
    }
}
