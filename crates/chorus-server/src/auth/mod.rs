//! JWT authentication (Centrifugo-compatible connection and subscription tokens).
//!
//! * [`JwtVerifier`] checks signatures (HS256/384/512, RS256/384/512,
//!   ES256/384, or any JWKS key type including EdDSA), `exp`/`nbf`,
//!   audience and issuer (exact or regex), and extracts claims.
//! * ES512 is not supported (the `jsonwebtoken` crate has no P-521).
//! * [`hs256_connect_token`] / [`hs256_subscribe_token`] create tokens.

mod claims;
mod error;
mod generate;
mod grants;
mod jwks;
mod keys;
pub(crate) mod user_header;
mod verifier;

pub use claims::{
    BoolValue, ConnectTokenClaims, SubscribeOptionOverride, SubscribeOptions, SubscribeTokenClaims,
};
pub use error::{JwtConfigError, JwtError};
pub use generate::{ConnectTokenOptions, hs256_connect_token, hs256_subscribe_token, sign_claims};
pub use grants::JwtTokens;
pub use jsonwebtoken::{Algorithm, EncodingKey};
pub use jwks::{JWKS_CACHE_TTL, JWKS_REQUEST_TIMEOUT, JwksClient};
pub use keys::{parse_ecdsa_public_key, parse_rsa_public_key};
pub use verifier::JwtVerifier;
