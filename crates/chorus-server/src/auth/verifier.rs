//! JWT verification for connection and subscription tokens.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use regex::Regex;
use serde::de::DeserializeOwned;

use super::claims::{RawConnectClaims, RawSubscribeClaims, StandardClaims};
use super::{
    ConnectTokenClaims, JwksClient, JwtConfigError, JwtError, SubscribeTokenClaims,
    parse_ecdsa_public_key, parse_rsa_public_key,
};
use crate::config::{ClientSection, Pattern, TokenConfig};

/// Verifies connection and subscription JWTs as Centrifugo does.
///
/// Built from `client.token` (and `client.subscription_token` when it is
/// enabled). Cheap to clone; share one per server.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    connect: Arc<KeySet>,
    subscribe: Arc<KeySet>,
    skip_signature: bool,
}

/// Keys and claim checks of one token kind.
#[derive(Debug)]
struct KeySet {
    hmac: Option<Vec<u8>>,
    hmac_previous: Option<(Vec<u8>, i64)>,
    rsa: Option<DecodingKey>,
    ecdsa: Option<DecodingKey>,
    jwks: Option<JwksClient>,
    audience: Option<String>,
    audience_re: Option<Regex>,
    issuer: Option<String>,
    issuer_re: Option<Regex>,
    user_id_claim: Option<String>,
}

impl JwtVerifier {
    /// Builds the verifier from the `client` section.
    pub fn from_config(client: &ClientSection) -> Result<Self, JwtConfigError> {
        let connect = Arc::new(KeySet::new(&client.token, "client.token")?);
        let subscribe = if client.subscription_token.enabled {
            Arc::new(KeySet::new(
                &client.subscription_token.token,
                "client.subscription_token",
            )?)
        } else {
            Arc::clone(&connect)
        };
        Ok(Self {
            connect,
            subscribe,
            skip_signature: client.insecure_skip_token_signature_verify,
        })
    }

    /// A verifier using one key set for both token kinds.
    pub fn new(token: &TokenConfig) -> Result<Self, JwtConfigError> {
        let keys = Arc::new(KeySet::new(token, "client.token")?);
        Ok(Self {
            connect: Arc::clone(&keys),
            subscribe: keys,
            skip_signature: false,
        })
    }

    /// Disables signature checks (`client.insecure_skip_token_signature_verify`;
    /// development only). Claims are still validated.
    pub fn skip_signature_verification(mut self, skip: bool) -> Self {
        self.skip_signature = skip;
        self
    }

    /// Verifies a connection token.
    ///
    /// Rejects tokens carrying a `channel` claim (that is a subscription token).
    pub async fn verify_connect(&self, token: &str) -> Result<ConnectTokenClaims, JwtError> {
        let parsed = self.verify(&self.connect, token).await?;
        let raw: RawConnectClaims = parse_claims(&parsed.payload)?;
        match &raw.channel {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) if s.is_empty() => {}
            Some(_) => {
                return Err(JwtError::invalid(
                    "connection token must not contain a channel claim",
                ));
            }
        }
        let std = parsed.standard;
        Ok(ConnectTokenClaims {
            sub: parsed.user,
            exp: std.exp,
            nbf: std.nbf,
            iat: std.iat,
            jti: std.jti,
            aud: std.aud,
            iss: std.iss,
            info: raw.info,
            b64info: raw.b64info,
            channels: raw.channels.unwrap_or_default(),
            subs: raw.subs.unwrap_or_default(),
            meta: raw.meta,
            expire_at: raw.expire_at,
        })
    }

    /// Verifies a subscription token; `channel` is required.
    pub async fn verify_subscribe(&self, token: &str) -> Result<SubscribeTokenClaims, JwtError> {
        let parsed = self.verify(&self.subscribe, token).await?;
        let raw: RawSubscribeClaims = parse_claims(&parsed.payload)?;
        let channel = raw
            .channel
            .filter(|c| !c.is_empty())
            .ok_or_else(|| JwtError::invalid("subscription token must contain a channel claim"))?;
        let std = parsed.standard;
        Ok(SubscribeTokenClaims {
            sub: parsed.user,
            channel,
            info: raw.info,
            b64info: raw.b64info,
            exp: std.exp,
            nbf: std.nbf,
            expire_at: raw.expire_at,
            aud: std.aud,
            iss: std.iss,
            iat: std.iat,
            jti: std.jti,
            client: raw.client,
            overrides: raw.overrides,
        })
    }

    async fn verify(&self, keys: &KeySet, token: &str) -> Result<Parsed, JwtError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::invalid("malformed token"));
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| JwtError::invalid(format!("bad header: {e}")))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64.trim_end_matches('='))
            .map_err(|_| JwtError::invalid("payload is not base64url"))?;

        if !self.skip_signature {
            let message = &token[..header_b64.len() + 1 + payload_b64.len()];
            keys.check_signature(&header, message, signature).await?;
        }

        let standard: StandardClaims = parse_claims(&payload)?;
        let now = now_unix();
        if let Some(exp) = standard.exp
            && exp > 0
            && now >= exp
        {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = standard.nbf
            && nbf > now
        {
            return Err(JwtError::invalid("token is not valid yet (nbf)"));
        }
        keys.check_audience(&standard.aud)?;
        keys.check_issuer(standard.iss.as_deref())?;
        let user = match &keys.user_id_claim {
            None => standard.sub.clone().unwrap_or_default(),
            Some(claim) => {
                let all: serde_json::Map<String, serde_json::Value> = parse_claims(&payload)?;
                match all.get(claim) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(_) => {
                        return Err(JwtError::invalid(format!(
                            "user id claim {claim:?} must be a string"
                        )));
                    }
                }
            }
        };
        Ok(Parsed {
            payload,
            standard,
            user,
        })
    }
}

struct Parsed {
    payload: Vec<u8>,
    standard: StandardClaims,
    user: String,
}

fn parse_claims<T: DeserializeOwned>(payload: &[u8]) -> Result<T, JwtError> {
    serde_json::from_slice(payload).map_err(|e| JwtError::invalid(format!("bad claims: {e}")))
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn verify_with(
    key: &DecodingKey,
    alg: Algorithm,
    message: &str,
    signature: &str,
) -> Result<(), JwtError> {
    match jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err(JwtError::invalid("signature mismatch")),
        Err(e) => Err(JwtError::invalid(format!("signature check failed: {e}"))),
    }
}

impl KeySet {
    fn new(t: &TokenConfig, prefix: &str) -> Result<Self, JwtConfigError> {
        let err = |key: &str, message: String| JwtConfigError {
            key: format!("{prefix}.{key}"),
            message,
        };
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let regex = |key: &str, p: &Pattern| -> Result<Option<Regex>, JwtConfigError> {
            match p.error() {
                Some(e) => Err(err(key, format!("invalid regular expression: {e}"))),
                None => Ok(p.regex().cloned()),
            }
        };
        let rsa = if t.rsa_public_key.is_empty() {
            None
        } else {
            Some(parse_rsa_public_key(&t.rsa_public_key).map_err(|m| err("rsa_public_key", m))?)
        };
        let ecdsa = if t.ecdsa_public_key.is_empty() {
            None
        } else {
            Some(
                parse_ecdsa_public_key(&t.ecdsa_public_key)
                    .map_err(|m| err("ecdsa_public_key", m))?,
            )
        };
        Ok(Self {
            hmac: non_empty(&t.hmac_secret_key).map(String::into_bytes),
            hmac_previous: non_empty(&t.hmac_previous_secret_key)
                .map(|k| (k.into_bytes(), t.hmac_previous_secret_key_valid_until)),
            rsa,
            ecdsa,
            jwks: non_empty(&t.jwks_public_endpoint).map(JwksClient::new),
            audience: non_empty(&t.audience),
            audience_re: regex("audience_regex", &t.audience_regex)?,
            issuer: non_empty(&t.issuer),
            issuer_re: regex("issuer_regex", &t.issuer_regex)?,
            user_id_claim: non_empty(&t.user_id_claim),
        })
    }

    async fn check_signature(
        &self,
        header: &Header,
        message: &str,
        signature: &str,
    ) -> Result<(), JwtError> {
        let alg = header.alg;
        if let Some(jwks) = &self.jwks {
            let kid = header
                .kid
                .as_deref()
                .ok_or_else(|| JwtError::invalid("token has no kid (JWKS is configured)"))?;
            let key = jwks.key(kid).await?;
            if key.family() != alg.family() {
                return Err(JwtError::invalid(format!(
                    "algorithm {alg:?} does not match the key type of kid {kid:?}"
                )));
            }
            return verify_with(&key, alg, message, signature);
        }
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let Some(secret) = &self.hmac else {
                    return Err(JwtError::invalid("no HMAC secret key configured"));
                };
                let current =
                    verify_with(&DecodingKey::from_secret(secret), alg, message, signature);
                match (&current, &self.hmac_previous) {
                    (Err(_), Some((previous, valid_until)))
                        if *valid_until == 0 || now_unix() < *valid_until =>
                    {
                        verify_with(&DecodingKey::from_secret(previous), alg, message, signature)
                    }
                    _ => current,
                }
            }
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
                let key = self
                    .rsa
                    .as_ref()
                    .ok_or_else(|| JwtError::invalid("no RSA public key configured"))?;
                verify_with(key, alg, message, signature)
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let key = self
                    .ecdsa
                    .as_ref()
                    .ok_or_else(|| JwtError::invalid("no ECDSA public key configured"))?;
                verify_with(key, alg, message, signature)
            }
            other => Err(JwtError::invalid(format!(
                "unsupported algorithm {other:?}"
            ))),
        }
    }

    fn check_audience(&self, aud: &[String]) -> Result<(), JwtError> {
        if let Some(expected) = &self.audience
            && !aud.iter().any(|a| a == expected)
        {
            return Err(JwtError::invalid("audience mismatch"));
        }
        if let Some(re) = &self.audience_re
            && !aud.iter().any(|a| re.is_match(a))
        {
            return Err(JwtError::invalid("audience does not match audience_regex"));
        }
        Ok(())
    }

    fn check_issuer(&self, iss: Option<&str>) -> Result<(), JwtError> {
        if let Some(expected) = &self.issuer
            && iss != Some(expected.as_str())
        {
            return Err(JwtError::invalid("issuer mismatch"));
        }
        if let Some(re) = &self.issuer_re
            && !iss.is_some_and(|i| re.is_match(i))
        {
            return Err(JwtError::invalid("issuer does not match issuer_regex"));
        }
        Ok(())
    }
}
