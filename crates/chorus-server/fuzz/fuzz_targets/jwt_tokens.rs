//! Verifies untrusted connection and subscription tokens. The first byte
//! picks the mode: odd, the rest is a token string given to a verifier with an
//! HS256 secret (header, base64 and signature checks); even, the rest is a
//! claims object signed with that secret, so claim validation (expiry,
//! audience, issuer, channels, subs, overrides, info/b64info) sees arbitrary
//! claims. No input may panic.
#![no_main]

use chorus_server::auth::{Algorithm, EncodingKey, JwtVerifier, sign_claims};
use chorus_server::config::TokenConfig;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const SECRET: &str = "fuzz-secret";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    verifier: JwtVerifier,
    key: EncodingKey,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let config = TokenConfig {
            hmac_secret_key: SECRET.to_owned(),
            ..TokenConfig::default()
        };
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            verifier: JwtVerifier::new(&config).expect("HS256 verifier"),
            key: EncodingKey::from_secret(SECRET.as_bytes()),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let token = if mode % 2 == 1 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let Ok(claims) = serde_json::from_slice::<serde_json::Value>(rest) else {
            return;
        };
        let Ok(token) = sign_claims(&claims, Algorithm::HS256, &f.key, None) else {
            return;
        };
        token
    };
    let _ = f.runtime.block_on(f.verifier.verify_connect(&token));
    let _ = f.runtime.block_on(f.verifier.verify_subscribe(&token));
});
