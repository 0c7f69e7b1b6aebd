//! Token verification errors.

/// Why a token was not accepted.
///
/// The client protocol maps these to codes: [`TokenError::Expired`] →
/// error 109 (token expired); [`TokenError::Invalid`] → disconnect 3500 on
/// connect / refresh, error 103 on subscribe; [`TokenError::Unavailable`] →
/// internal error 100 (temporary).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
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

impl TokenError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(reason.into())
    }

    /// `true` for [`TokenError::Expired`].
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired)
    }
}

/// A token setting that cannot be used (bad PEM key, bad regex, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TokenConfigError {
    /// Dotted config key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}
