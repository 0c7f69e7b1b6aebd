//! Which headers (HTTP) or metadata (gRPC) go to the backend.
//!
//! Precedence, highest first: a transport header from the request that opened
//! the connection (allowed by `http_headers` or `grpc_metadata`), then an
//! emulated header the client sent in its connect (allowed by
//! `emulated_headers`), then `http.static_headers` / `grpc.static_metadata`.
//! Names are compared and sent lower-cased.

use crate::config::ProxyOptions;
use std::collections::BTreeMap;

/// The header sources of one connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Forwarded<'a> {
    /// Headers of the opening HTTP request (names lower-cased).
    pub(crate) transport: Option<&'a BTreeMap<String, String>>,
    /// Emulated headers from the connect request.
    pub(crate) emulated: &'a BTreeMap<String, String>,
}

fn allowed(list: &[String], name: &str) -> bool {
    list.iter().any(|a| a.eq_ignore_ascii_case(name))
}

impl Forwarded<'_> {
    /// The headers to send through a proxy with these options.
    pub(crate) fn select(&self, options: &ProxyOptions) -> BTreeMap<String, String> {
        let grpc = options.endpoint.starts_with("grpc://");
        let statics = if grpc {
            &options.grpc.static_metadata
        } else {
            &options.http.static_headers
        };
        let mut out: BTreeMap<String, String> = statics
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        for (name, value) in self.emulated {
            if allowed(&options.emulated_headers, name) {
                out.insert(name.to_ascii_lowercase(), value.clone());
            }
        }
        if let Some(transport) = self.transport {
            for (name, value) in transport {
                if allowed(&options.http_headers, name) || allowed(&options.grpc_metadata, name) {
                    out.insert(name.to_ascii_lowercase(), value.clone());
                }
            }
        }
        if grpc && !options.grpc.credentials_key.is_empty() {
            out.insert(
                options.grpc.credentials_key.to_ascii_lowercase(),
                options.grpc.credentials_value.clone(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn transport_beats_emulated_beats_static() {
        let mut o = ProxyOptions {
            endpoint: "http://x".into(),
            http_headers: vec!["X-A".into()],
            emulated_headers: vec!["x-a".into(), "x-b".into()],
            ..Default::default()
        };
        o.http.static_headers = map(&[("X-A", "s"), ("x-b", "s"), ("x-c", "s")]);
        let transport = map(&[("x-a", "t"), ("x-b", "t"), ("x-d", "t")]);
        let emulated = map(&[("x-a", "e"), ("x-b", "e"), ("x-e", "e")]);
        let f = Forwarded {
            transport: Some(&transport),
            emulated: &emulated,
        };
        assert_eq!(
            f.select(&o),
            map(&[("x-a", "t"), ("x-b", "e"), ("x-c", "s")])
        );
    }
}
