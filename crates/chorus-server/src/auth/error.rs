//! Token verification errors.

/// Why a token was not accepted.
///
/// The client protocol maps these to codes: [`JwtError::Expired`] →
/// error 109 (token expired); [`JwtError::Invalid`] → disconnect 3500 on
/// connect / refresh, error 103 on subscribe; [`JwtError::Unavailable`] →
/// internal error 100 (temporary).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// Malformed token, bad signature, failed claim check, etc.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key source (JWKS endpoint) could not be reached.
    #[error("token keys unavailable: {0}")]
    Unavailable(String),
}

impl JwtError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(reason.into())
    }

    /// `true` for [`JwtError::Expired`].
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired)
    }
}

/// A token setting that cannot be used (bad PEM key, bad regex, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct JwtConfigError {
    /// Dotted config key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}
