//! JWT verification tests: every algorithm, claim checks, JWKS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chorus_server::auth::{
    Algorithm, ConnectTokenOptions, EncodingKey, JwksClient, JwtError, JwtVerifier,
    hs256_connect_token, hs256_subscribe_token, sign_claims,
};
use chorus_server::config::{ClientSection, TokenConfig};
use serde_json::{Value, json};

const SECRET: &str = "test-secret";
const RSA_PRIVATE: &str = include_str!("fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("fixtures/rsa_public.pem");
const EC256_PRIVATE: &str = include_str!("fixtures/ec256_private.pem");
const EC256_PUBLIC: &str = include_str!("fixtures/ec256_public.pem");
const EC384_PRIVATE: &str = include_str!("fixtures/ec384_private.pem");
const EC384_PUBLIC: &str = include_str!("fixtures/ec384_public.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hmac_verifier() -> JwtVerifier {
    JwtVerifier::new(&TokenConfig {
        hmac_secret_key: SECRET.to_owned(),
        ..TokenConfig::default()
    })
    .unwrap()
}

fn hs(claims: Value) -> String {
    sign_claims(
        &claims,
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        None,
    )
    .unwrap()
}

fn assert_invalid<T: std::fmt::Debug>(r: Result<T, JwtError>, needle: &str) {
    match r {
        Err(JwtError::Invalid(reason)) => {
            assert!(
                reason.contains(needle),
                "reason {reason:?} should mention {needle:?}"
            );
        }
        other => panic!("expected Invalid({needle}), got {other:?}"),
    }
}

#[tokio::test]
async fn hmac_algorithms() {
    let v = hmac_verifier();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = sign_claims(
            &json!({"sub": "42", "exp": now() + 60}),
            alg,
            &EncodingKey::from_secret(SECRET.as_bytes()),
            None,
        )
        .unwrap();
        let claims = v.verify_connect(&token).await.unwrap();
        assert_eq!(claims.sub, "42", "{alg:?}");
    }
}

#[tokio::test]
async fn rsa_algorithms() {
    let v = JwtVerifier::new(&TokenConfig {
        rsa_public_key: RSA_PUBLIC.to_owned(),
        ..TokenConfig::default()
    })
    .unwrap();
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
        let token = sign_claims(&json!({"sub": "r"}), alg, &key, None).unwrap();
        assert_eq!(v.verify_connect(&token).await.unwrap().sub, "r", "{alg:?}");
    }
    // An HMAC token is refused when only RSA is configured.
    assert_invalid(v.verify_connect(&hs(json!({"sub": "x"}))).await, "HMAC");
}

#[tokio::test]
async fn ecdsa_algorithms() {
    for (alg, private, public) in [
        (Algorithm::ES256, EC256_PRIVATE, EC256_PUBLIC),
        (Algorithm::ES384, EC384_PRIVATE, EC384_PUBLIC),
    ] {
        let v = JwtVerifier::new(&TokenConfig {
            ecdsa_public_key: public.to_owned(),
            ..TokenConfig::default()
        })
        .unwrap();
        let key = EncodingKey::from_ec_pem(private.as_bytes()).unwrap();
        let token = sign_claims(&json!({"sub": "e"}), alg, &key, None).unwrap();
        assert_eq!(v.verify_connect(&token).await.unwrap().sub, "e", "{alg:?}");
    }
}

#[tokio::test]
async fn connect_claims_are_extracted() {
    let v = hmac_verifier();
    let token = hs(json!({
        "sub": "42", "exp": now() + 60, "iat": now(), "jti": "j1",
        "info": {"name": "Alice"}, "b64info": "AQI=",
        "channels": ["news"],
        "subs": {"chat:1": {"info": {"a": 1}, "data": [1, 2], "override": {"presence": {"value": true}}}},
        "meta": {"tier": "gold"},
        "expire_at": 0
    }));
    let c = v.verify_connect(&token).await.unwrap();
    assert_eq!(c.sub, "42");
    assert_eq!(c.jti.as_deref(), Some("j1"));
    assert_eq!(c.info.as_ref().unwrap().get(), r#"{"name":"Alice"}"#);
    assert_eq!(c.b64info.as_deref(), Some("AQI="));
    assert_eq!(c.channels, vec!["news"]);
    let sub = &c.subs["chat:1"];
    assert_eq!(sub.data.as_ref().unwrap().get(), "[1,2]");
    assert!(sub.overrides.as_ref().unwrap().presence.unwrap().value);
    assert_eq!(c.meta.as_ref().unwrap().get(), r#"{"tier":"gold"}"#);
    assert_eq!(c.expire_at, Some(0));
    assert_eq!(c.connection_expires_at(), None, "expire_at 0 = no expiry");
}

#[tokio::test]
async fn expired_and_not_yet_valid() {
    let v = hmac_verifier();
    let expired = hs(json!({"sub": "1", "exp": now() - 10}));
    assert_eq!(
        v.verify_connect(&expired).await.unwrap_err(),
        JwtError::Expired
    );
    assert!(
        v.verify_subscribe(&hs(json!({"sub": "1", "channel": "c", "exp": now() - 10})))
            .await
            .unwrap_err()
            .is_expired()
    );
    let future = hs(json!({"sub": "1", "nbf": now() + 100}));
    assert_invalid(v.verify_connect(&future).await, "nbf");
}

#[tokio::test]
async fn wrong_signature_and_garbage() {
    let v = hmac_verifier();
    let other = sign_claims(
        &json!({"sub": "1"}),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"other"),
        None,
    )
    .unwrap();
    assert_invalid(v.verify_connect(&other).await, "signature");
    assert!(matches!(
        v.verify_connect("not-a-token").await,
        Err(JwtError::Invalid(_))
    ));
    // Tampered payload.
    let good = hs(json!({"sub": "1"}));
    let parts: Vec<&str> = good.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], "eyJzdWIiOiIyIn0", parts[2]);
    assert_invalid(v.verify_connect(&forged).await, "signature");
}

#[tokio::test]
async fn skip_signature_verification() {
    let v = hmac_verifier().skip_signature_verification(true);
    let other = sign_claims(
        &json!({"sub": "7"}),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"other"),
        None,
    )
    .unwrap();
    assert_eq!(v.verify_connect(&other).await.unwrap().sub, "7");
    // Claims are still checked.
    let expired = sign_claims(
        &json!({"sub": "7", "exp": now() - 1}),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"other"),
        None,
    )
    .unwrap();
    assert!(v.verify_connect(&expired).await.unwrap_err().is_expired());
}

#[tokio::test]
async fn audience_and_issuer() {
    let v = JwtVerifier::new(&TokenConfig {
        hmac_secret_key: SECRET.to_owned(),
        audience: "chorus".to_owned(),
        issuer: "auth.example".to_owned(),
        ..TokenConfig::default()
    })
    .unwrap();
    let ok = hs(json!({"sub": "1", "aud": ["x", "chorus"], "iss": "auth.example"}));
    v.verify_connect(&ok).await.unwrap();
    assert_invalid(
        v.verify_connect(&hs(
            json!({"sub": "1", "aud": "other", "iss": "auth.example"}),
        ))
        .await,
        "audience",
    );
    assert_invalid(
        v.verify_connect(&hs(json!({"sub": "1", "aud": "chorus", "iss": "evil"})))
            .await,
        "issuer",
    );
    assert_invalid(
        v.verify_connect(&hs(json!({"sub": "1", "iss": "auth.example"})))
            .await,
        "audience",
    );
}

#[tokio::test]
async fn audience_and_issuer_regex() {
    let v = JwtVerifier::new(&TokenConfig {
        hmac_secret_key: SECRET.to_owned(),
        audience_regex: "^project-[0-9]+$".into(),
        issuer_regex: "^https://(a|b)\\.example$".into(),
        ..TokenConfig::default()
    })
    .unwrap();
    v.verify_connect(&hs(
        json!({"sub": "1", "aud": "project-12", "iss": "https://b.example"}),
    ))
    .await
    .unwrap();
    assert_invalid(
        v.verify_connect(&hs(
            json!({"sub": "1", "aud": "project-x", "iss": "https://b.example"}),
        ))
        .await,
        "audience_regex",
    );
    assert_invalid(
        v.verify_connect(&hs(
            json!({"sub": "1", "aud": "project-1", "iss": "https://c.example"}),
        ))
        .await,
        "issuer_regex",
    );
}

#[tokio::test]
async fn user_id_claim() {
    let v = JwtVerifier::new(&TokenConfig {
        hmac_secret_key: SECRET.to_owned(),
        user_id_claim: "user_id".to_owned(),
        ..TokenConfig::default()
    })
    .unwrap();
    let c = v
        .verify_connect(&hs(json!({"sub": "ignored", "user_id": "u9"})))
        .await
        .unwrap();
    assert_eq!(c.sub, "u9");
}

#[tokio::test]
async fn previous_hmac_key() {
    let token = sign_claims(
        &json!({"sub": "1"}),
        Algorithm::HS256,
        &EncodingKey::from_secret(b"old"),
        None,
    )
    .unwrap();
    let cfg = |valid_until| TokenConfig {
        hmac_secret_key: SECRET.to_owned(),
        hmac_previous_secret_key: "old".to_owned(),
        hmac_previous_secret_key_valid_until: valid_until,
        ..TokenConfig::default()
    };
    JwtVerifier::new(&cfg(0))
        .unwrap()
        .verify_connect(&token)
        .await
        .unwrap();
    JwtVerifier::new(&cfg(now() + 100))
        .unwrap()
        .verify_connect(&token)
        .await
        .unwrap();
    assert_invalid(
        JwtVerifier::new(&cfg(now() - 100))
            .unwrap()
            .verify_connect(&token)
            .await,
        "signature",
    );
}

#[tokio::test]
async fn channel_claim_rules() {
    let v = hmac_verifier();
    assert_invalid(
        v.verify_connect(&hs(json!({"sub": "1", "channel": "news"})))
            .await,
        "channel",
    );
    assert_invalid(
        v.verify_subscribe(&hs(json!({"sub": "1"}))).await,
        "channel",
    );
    let s = v
        .verify_subscribe(&hs(json!({
            "sub": "1", "channel": "news", "client": "c1", "expire_at": 0,
            "info": {"x": 1},
            "override": {"join_leave": {"value": false}, "force_recovery": {"value": true}}
        })))
        .await
        .unwrap();
    assert_eq!(s.channel, "news");
    assert_eq!(s.client.as_deref(), Some("c1"));
    assert_eq!(s.subscription_expires_at(), None);
    let o = s.overrides.unwrap();
    assert!(!o.join_leave.unwrap().value);
    assert!(o.force_recovery.unwrap().value);
    assert!(o.presence.is_none());
}

#[tokio::test]
async fn separate_subscription_token_keys() {
    let mut client = ClientSection::default();
    client.token.hmac_secret_key = SECRET.to_owned();
    client.subscription_token.enabled = true;
    client.subscription_token.token.hmac_secret_key = "sub-secret".to_owned();
    let v = JwtVerifier::from_config(&client).unwrap();
    let sub_token = hs256_subscribe_token("sub-secret", "1", "ch", Some(60)).unwrap();
    assert_eq!(v.verify_subscribe(&sub_token).await.unwrap().channel, "ch");
    let wrong = hs256_subscribe_token(SECRET, "1", "ch", Some(60)).unwrap();
    assert_invalid(v.verify_subscribe(&wrong).await, "signature");
}

#[tokio::test]
async fn generated_tokens_roundtrip() {
    let v = hmac_verifier();
    let token = hs256_connect_token(
        SECRET,
        &ConnectTokenOptions {
            user: "5".into(),
            ttl_seconds: Some(-1),
            info: Some(json!({"a": 1})),
            channels: vec!["x".into()],
        },
    )
    .unwrap();
    let c = v.verify_connect(&token).await.unwrap();
    assert_eq!(c.exp, None);
    assert_eq!(c.channels, vec!["x"]);
    assert_eq!(c.info.unwrap().get(), r#"{"a":1}"#);
}

#[test]
fn bad_keys_are_config_errors() {
    let err = JwtVerifier::new(&TokenConfig {
        rsa_public_key: "not a pem".to_owned(),
        ..TokenConfig::default()
    })
    .unwrap_err();
    assert_eq!(err.key, "client.token.rsa_public_key");
}

/// Serves the fixture JWKS on 127.0.0.1:0 and counts requests.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "application/json")], JWKS)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}/jwks"), hits)
}

#[tokio::test]
async fn jwks_kid_selection_unknown_kid_and_caching() {
    let (url, hits) = jwks_server().await;
    let v = JwtVerifier::new(&TokenConfig {
        jwks_public_endpoint: url,
        // Static keys are ignored when JWKS is configured.
        hmac_secret_key: SECRET.to_owned(),
        ..TokenConfig::default()
    })
    .unwrap();
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let ec = EncodingKey::from_ec_pem(EC256_PRIVATE.as_bytes()).unwrap();

    let t1 = sign_claims(
        &json!({"sub": "a"}),
        Algorithm::RS256,
        &rsa,
        Some("rsa-key"),
    )
    .unwrap();
    let t2 = sign_claims(&json!({"sub": "b"}), Algorithm::ES256, &ec, Some("ec-key")).unwrap();
    assert_eq!(v.verify_connect(&t1).await.unwrap().sub, "a");
    assert_eq!(v.verify_connect(&t2).await.unwrap().sub, "b");
    assert_eq!(v.verify_connect(&t1).await.unwrap().sub, "a");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "keys are cached");

    // Right key id, wrong key.
    let wrong = sign_claims(&json!({"sub": "a"}), Algorithm::ES256, &ec, Some("rsa-key")).unwrap();
    assert_invalid(v.verify_connect(&wrong).await, "does not match");
    // Unknown kid.
    let unknown = sign_claims(&json!({"sub": "a"}), Algorithm::RS256, &rsa, Some("nope")).unwrap();
    assert_invalid(v.verify_connect(&unknown).await, "unknown key id");
    // No kid.
    let no_kid = sign_claims(&json!({"sub": "a"}), Algorithm::RS256, &rsa, None).unwrap();
    assert_invalid(v.verify_connect(&no_kid).await, "kid");
    // HMAC token: static keys are ignored with JWKS.
    assert_invalid(v.verify_connect(&hs(json!({"sub": "a"}))).await, "kid");
}

#[tokio::test]
async fn jwks_unreachable_is_unavailable() {
    // Bind then drop to get a port with nothing listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let v = JwtVerifier::new(&TokenConfig {
        jwks_public_endpoint: format!("http://{addr}/jwks"),
        ..TokenConfig::default()
    })
    .unwrap();
    let rsa = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    let t = sign_claims(
        &json!({"sub": "a"}),
        Algorithm::RS256,
        &rsa,
        Some("rsa-key"),
    )
    .unwrap();
    assert!(matches!(
        v.verify_connect(&t).await,
        Err(JwtError::Unavailable(_))
    ));
}

/// A JWKS endpoint that can be made to hang (accept, never answer); `started`
/// is notified when a request arrives.
async fn jwks_server_that_hangs() -> (String, Arc<AtomicBool>, Arc<tokio::sync::Notify>) {
    let hang = Arc::new(AtomicBool::new(false));
    let started = Arc::new(tokio::sync::Notify::new());
    let (h, s) = (Arc::clone(&hang), Arc::clone(&started));
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (hang, started) = (Arc::clone(&h), Arc::clone(&s));
            async move {
                started.notify_one();
                if hang.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                ([("content-type", "application/json")], JWKS)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/jwks"), hang, started)
}

#[tokio::test]
async fn jwks_outage_does_not_hold_verifications_of_known_keys() {
    let (url, hang, started) = jwks_server_that_hangs().await;
    // TTL zero: every use finds the keys stale and wants a refresh.
    let jwks = Arc::new(JwksClient::new(url).with_cache_ttl(Duration::ZERO));
    jwks.key("rsa-key").await.unwrap();
    started.notified().await;
    assert_eq!(jwks.fetch_count().await, 1);

    hang.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await; // past the refetch spacing
    let refreshing = tokio::spawn({
        let jwks = Arc::clone(&jwks);
        async move { jwks.key("rsa-key").await }
    });
    started.notified().await;
    // The refresh hangs (1 s timeout, one retry); verifications meanwhile are
    // served the cached key at once instead of queueing behind it.
    let t = std::time::Instant::now();
    let served = futures_util::future::join_all((0..20).map(|_| jwks.key("rsa-key"))).await;
    assert!(served.iter().all(Result::is_ok));
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // The refreshing caller gets the stale key too once the fetch gives up.
    assert!(refreshing.await.unwrap().is_ok());
    // Right after the failure no new fetch is tried: an unknown kid is answered
    // without waiting for the endpoint.
    let t = std::time::Instant::now();
    assert!(jwks.key("nope").await.is_err());
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(jwks.fetch_count().await, 1);
}
