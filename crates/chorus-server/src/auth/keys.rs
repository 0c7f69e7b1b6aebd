//! Public key parsing.

use jsonwebtoken::DecodingKey;

/// Parses a PEM RSA public key (`-----BEGIN PUBLIC KEY-----` or
/// `-----BEGIN RSA PUBLIC KEY-----`).
pub fn parse_rsa_public_key(pem: &str) -> Result<DecodingKey, String> {
    DecodingKey::from_rsa_pem(pem.trim().as_bytes())
        .map_err(|e| format!("not a valid PEM RSA public key: {e}"))
}

/// Parses a PEM ECDSA public key (P-256 or P-384).
pub fn parse_ecdsa_public_key(pem: &str) -> Result<DecodingKey, String> {
    DecodingKey::from_ec_pem(pem.trim().as_bytes())
        .map_err(|e| format!("not a valid PEM ECDSA public key: {e}"))
}
