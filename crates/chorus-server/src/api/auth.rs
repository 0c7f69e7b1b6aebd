//! API key authentication of the HTTP API (spec §8.1).
//!
//! The key is looked for, in order:
//! 1. the `X-API-Key` header; when that header is present (non-empty) the
//!    `Authorization` header is not consulted, even if the key is wrong;
//! 2. otherwise `Authorization: apikey <key>` (scheme case-insensitive);
//! 3. if still not authorized, the `api_key` query parameter.
//!
//! An empty configured key rejects every request. Failure is a bare 401.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Checks API keys.
#[derive(Clone)]
pub(crate) struct ApiKeyAuth {
    key: Arc<str>,
}

impl std::fmt::Debug for ApiKeyAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyAuth").finish_non_exhaustive()
    }
}

/// Compares without an early exit on the first differing byte.
fn same_key(expected: &[u8], given: &[u8]) -> bool {
    if expected.len() != given.len() {
        return false;
    }
    expected
        .iter()
        .zip(given)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

impl ApiKeyAuth {
    pub(crate) fn new(key: &str) -> Self {
        Self { key: key.into() }
    }

    fn matches(&self, given: &[u8]) -> bool {
        same_key(self.key.as_bytes(), given)
    }

    /// Whether the request carries the key.
    pub(crate) fn authorized(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        if self.key.is_empty() {
            return false;
        }
        let x_api_key = headers
            .get("x-api-key")
            .map(|v| v.as_bytes())
            .filter(|v| !v.is_empty());
        let by_header = match x_api_key {
            Some(given) => self.matches(given),
            None => headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|value| {
                    let mut parts = value.split_whitespace();
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(scheme), Some(key), None) => {
                            scheme.eq_ignore_ascii_case("apikey") && self.matches(key.as_bytes())
                        }
                        _ => false,
                    }
                }),
        };
        by_header || self.by_query(uri)
    }

    fn by_query(&self, uri: &Uri) -> bool {
        if uri.query().is_none_or(str::is_empty) {
            return false;
        }
        Query::<HashMap<String, String>>::try_from_uri(uri)
            .ok()
            .and_then(|q| q.0.get("api_key").map(|k| self.matches(k.as_bytes())))
            .unwrap_or(false)
    }
}

/// Middleware: a bare 401 unless the request is authorized.
pub(crate) async fn require_api_key(
    State(auth): State<ApiKeyAuth>,
    req: Request,
    next: Next,
) -> Response {
    if auth.authorized(req.headers(), req.uri()) {
        next.run(req).await
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check(key: &str, headers: &[(&'static str, &'static str)], uri: &'static str) -> bool {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_static(v));
        }
        ApiKeyAuth::new(key).authorized(&map, &Uri::from_static(uri))
    }

    #[test]
    fn key_sources() {
        assert!(check("k", &[("x-api-key", "k")], "/api"));
        assert!(check("k", &[("authorization", "ApiKey k")], "/api"));
        assert!(check("k", &[("authorization", "apikey   k")], "/api"));
        assert!(!check("k", &[("authorization", "Bearer k")], "/api"));
        assert!(!check("k", &[("authorization", "apikey k extra")], "/api"));
        assert!(check("k", &[], "/api?api_key=k"));
        assert!(check("a b", &[], "/api?api_key=a%20b"));
        assert!(!check("k", &[], "/api?api_key=x"));
        assert!(!check("k", &[], "/api"));
        // A wrong X-API-Key is not rescued by Authorization, only by api_key.
        assert!(!check(
            "k",
            &[("x-api-key", "bad"), ("authorization", "apikey k")],
            "/api"
        ));
        assert!(check("k", &[("x-api-key", "bad")], "/api?api_key=k"));
        // An empty key rejects everything.
        assert!(!check("", &[("x-api-key", "")], "/api?api_key="));
    }
}
