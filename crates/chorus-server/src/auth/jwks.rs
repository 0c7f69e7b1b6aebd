//! JSON Web Key Set fetching and caching.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use tokio::sync::Mutex;

use super::JwtError;

/// How long fetched keys are trusted.
pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(3600);
/// Timeout of one JWKS request.
pub const JWKS_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Fetch attempts (successful or not) are at least this far apart: an unknown
/// `kid` or an endpoint that is down does not turn every verification into a
/// request.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(1);

/// Fetches keys from a JWKS endpoint and caches them by `kid`.
///
/// Keys are cached for [`JWKS_CACHE_TTL`] (1 hour). A request times out after
/// 1 s and is retried once. An unknown `kid` triggers a refetch so rotated keys
/// are picked up. Fetch attempts are at least a second apart.
///
/// Verifications do not queue behind a fetch: one fetch runs at a time (single
/// flight); while it runs, or when it failed, a `kid` already known is served
/// from the cache even past its TTL (stale keys beat an outage of the key
/// endpoint). Only a `kid` never seen waits, for the fetch in flight at most.
#[derive(Debug)]
pub struct JwksClient {
    url: String,
    http: reqwest::Client,
    ttl: Duration,
    // std Mutex: held only to read or replace the cached keys, never across a
    // fetch, so verifications of known keys never wait for the endpoint.
    cache: StdMutex<Cache>,
    // Held for the duration of a fetch: one fetch at a time.
    refresh: Mutex<()>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    last_error: Option<JwtError>,
    fetches: u64,
}

impl Cache {
    fn may_fetch(&self) -> bool {
        self.attempted_at
            .is_none_or(|t| t.elapsed() >= MIN_REFETCH_INTERVAL)
    }
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
            cache: StdMutex::default(),
            refresh: Mutex::new(()),
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
        self.lock().fetches
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key for `kid`, fetching the set when needed (see the type's docs).
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, JwtError> {
        let (known, fresh, may_fetch) = {
            let cache = self.lock();
            let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < self.ttl);
            (cache.keys.get(kid).cloned(), fresh, cache.may_fetch())
        };
        if let Some(key) = known {
            if !fresh && may_fetch {
                // Refresh unless a fetch is already running; serve the cached
                // key whatever the outcome.
                if let Ok(_single) = self.refresh.try_lock() {
                    let _ = self.refresh_now().await;
                    if let Some(key) = self.lock().keys.get(kid).cloned() {
                        return Ok(key);
                    }
                }
            }
            return Ok(key);
        }
        let asked = Instant::now();
        let _single = self.refresh.lock().await;
        {
            // A fetch that ran while this call waited has the answer.
            let cache = self.lock();
            let answered = cache.attempted_at.is_some_and(|t| t >= asked);
            if answered || !cache.may_fetch() {
                return cache.keys.get(kid).cloned().ok_or_else(|| {
                    match (&cache.last_error, cache.fetched_at) {
                        (Some(e), None) => e.clone(),
                        _ => JwtError::invalid(format!("unknown key id {kid:?}")),
                    }
                });
            }
        }
        self.refresh_now().await?;
        self.lock()
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| JwtError::invalid(format!("unknown key id {kid:?}")))
    }

    /// Fetches the set and stores the outcome; called with `refresh` held.
    async fn refresh_now(&self) -> Result<(), JwtError> {
        self.lock().attempted_at = Some(Instant::now());
        let fetched = self.fetch().await;
        let mut cache = self.lock();
        cache.attempted_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                cache.last_error = None;
                cache.fetches += 1;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed; keeping the cached keys");
                cache.last_error = Some(e.clone());
                Err(e)
            }
        }
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
