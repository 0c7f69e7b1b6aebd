//! Token generation helpers (CLI `gentoken` / `gensubtoken`, tests).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value};

use super::JwtError;
use super::verifier::now_unix;

/// Signs arbitrary claims with any supported algorithm and an optional `kid`.
pub fn sign_claims(
    claims: &Value,
    algorithm: Algorithm,
    key: &EncodingKey,
    kid: Option<&str>,
) -> Result<String, JwtError> {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key)
        .map_err(|e| JwtError::invalid(format!("cannot sign token: {e}")))
}

/// Options for [`hs256_connect_token`].
#[derive(Debug, Clone, Default)]
pub struct ConnectTokenOptions {
    /// User id (`sub`); empty = anonymous.
    pub user: String,
    /// Lifetime in seconds; `None`, zero or negative = no `exp` (never expires).
    pub ttl_seconds: Option<i64>,
    /// Connection info (`info` claim).
    pub info: Option<Value>,
    /// Server-side channels (`channels` claim).
    pub channels: Vec<String>,
}

/// Creates an HS256 connection token.
///
/// ```
/// use chorus_server::auth::{hs256_connect_token, ConnectTokenOptions};
/// let token = hs256_connect_token("secret", &ConnectTokenOptions {
///     user: "42".into(),
///     ttl_seconds: Some(3600),
///     ..Default::default()
/// }).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// ```
pub fn hs256_connect_token(secret: &str, opts: &ConnectTokenOptions) -> Result<String, JwtError> {
    let mut claims = base_claims(&opts.user, opts.ttl_seconds);
    if let Some(info) = &opts.info {
        claims.insert("info".to_owned(), info.clone());
    }
    if !opts.channels.is_empty() {
        claims.insert("channels".to_owned(), Value::from(opts.channels.clone()));
    }
    sign_claims(
        &Value::Object(claims),
        Algorithm::HS256,
        &EncodingKey::from_secret(secret.as_bytes()),
        None,
    )
}

/// Creates an HS256 subscription token for `channel`.
/// `ttl_seconds` of `None`, zero or negative means no expiry.
pub fn hs256_subscribe_token(
    secret: &str,
    user: &str,
    channel: &str,
    ttl_seconds: Option<i64>,
) -> Result<String, JwtError> {
    let mut claims = base_claims(user, ttl_seconds);
    claims.insert("channel".to_owned(), Value::from(channel));
    sign_claims(
        &Value::Object(claims),
        Algorithm::HS256,
        &EncodingKey::from_secret(secret.as_bytes()),
        None,
    )
}

fn base_claims(user: &str, ttl_seconds: Option<i64>) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), Value::from(user));
    let now = now_unix();
    claims.insert("iat".to_owned(), Value::from(now));
    if let Some(ttl) = ttl_seconds.filter(|t| *t > 0) {
        claims.insert("exp".to_owned(), Value::from(now.saturating_add(ttl)));
    }
    claims
}
