//! Admin sessions: the password buys an HS256 JWT signed with `admin.secret`,
//! sent back as `Authorization: token <jwt>`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// How long an admin token is valid.
const TOKEN_TTL_SECS: u64 = 24 * 3600;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// Checks the admin password and admin tokens.
#[derive(Clone)]
pub(super) struct AdminAuth {
    password: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    insecure: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Compares without stopping at the first difference, so the time taken does not
/// tell how much of a guess was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl AdminAuth {
    pub(super) fn new(password: &str, secret: &str, insecure: bool) -> Self {
        Self {
            password: password.to_owned(),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            insecure,
        }
    }

    pub(super) fn insecure(&self) -> bool {
        self.insecure
    }

    /// A token for the right password (any password when insecure); `None` otherwise.
    pub(super) fn login(&self, password: &str) -> Option<String> {
        if !self.insecure
            && (self.password.is_empty() || !same(password.as_bytes(), self.password.as_bytes()))
        {
            return None;
        }
        let claims = Claims {
            sub: "admin".to_owned(),
            exp: now() + TOKEN_TTL_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).ok()
    }

    /// Whether a request carries a valid admin token (always true when insecure).
    pub(super) fn authorized(&self, headers: &HeaderMap) -> bool {
        if self.insecure {
            return true;
        }
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("token "))
        else {
            return false;
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| (*s).to_owned()).collect();
        jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &validation)
            .is_ok_and(|t| t.claims.sub == "admin")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("token {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn password_buys_a_token_signed_with_the_secret() {
        let auth = AdminAuth::new("pw", "secret", false);
        assert!(auth.login("wrong").is_none());
        let token = auth.login("pw").unwrap();
        assert!(auth.authorized(&bearer(&token)));
        assert!(!auth.authorized(&HeaderMap::new()));
        let other = AdminAuth::new("pw", "another-secret", false);
        assert!(!other.authorized(&bearer(&token)));
    }

    #[test]
    fn empty_password_never_logs_in_unless_insecure() {
        assert!(AdminAuth::new("", "s", false).login("").is_none());
        let insecure = AdminAuth::new("", "", true);
        assert!(insecure.login("anything").is_some());
        assert!(insecure.authorized(&HeaderMap::new()));
    }
}
