//! JSON Web Key Set fetching and caching.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use tokio::sync::Mutex;

use super::JwtError;

/// How long fetched keys are trusted.
pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(3600);
/// Timeout of one JWKS request.
pub const JWKS_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// A key id missing from a fresh set does not trigger another fetch sooner than this.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(1);

/// Fetches keys from a JWKS endpoint and caches them by `kid`.
///
/// Keys are cached for [`JWKS_CACHE_TTL`] (1 hour). A request times out
/// after 1 s and is retried once. An unknown `kid` triggers a refetch (at
/// most once per second) so rotated keys are picked up.
#[derive(Debug)]
pub struct JwksClient {
    url: String,
    http: reqwest::Client,
    ttl: Duration,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    fetches: u64,
}

impl JwksClient {
    /// A client for `url` with the default cache TTL.
    pub fn new(url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(JWKS_REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            url: url.into(),
            http,
            ttl: JWKS_CACHE_TTL,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Changes the cache TTL (mainly for tests).
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many times the key set was fetched successfully.
    pub async fn fetch_count(&self) -> u64 {
        self.cache.lock().await.fetches
    }

    /// The key for `kid`, fetching the set when needed.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, JwtError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < self.ttl);
        if fresh {
            if let Some(key) = cache.keys.get(kid) {
                return Ok(Arc::clone(key));
            }
            if cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < MIN_REFETCH_INTERVAL)
            {
                return Err(JwtError::invalid(format!("unknown key id {kid:?}")));
            }
        }
        let keys = self.fetch().await?;
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        cache.fetches += 1;
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| JwtError::invalid(format!("unknown key id {kid:?}")))
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, JwtError> {
        match self.fetch_once().await {
            Ok(keys) => Ok(keys),
            Err(first) => {
                tracing::debug!(url = %self.url, error = %first, "JWKS fetch failed, retrying");
                self.fetch_once().await
            }
        }
    }

    async fn fetch_once(&self) -> Result<HashMap<String, Arc<DecodingKey>>, JwtError> {
        let unavailable = |e: String| JwtError::Unavailable(format!("JWKS {}: {e}", self.url));
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP status {}", response.status())));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| unavailable(format!("bad JSON: {e}")))?;
        Ok(parse_jwks(&body))
    }
}

/// Usable keys of a JWKS document by `kid`; keys without `kid` or of
/// unsupported types are skipped.
fn parse_jwks(body: &serde_json::Value) -> HashMap<String, Arc<DecodingKey>> {
    let mut out = HashMap::new();
    let Some(keys) = body.get("keys").and_then(serde_json::Value::as_array) else {
        return out;
    };
    for raw in keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Ok(key) = DecodingKey::from_jwk(&jwk) {
            out.insert(kid, Arc::new(key));
        }
    }
    out
}
