//! The Redis engine over TLS (`rediss://`), on a real TLS-only `redis-server`
//! with a self-signed certificate (`chorus_testkit::services::RedisTlsServer`).

use chorus_node::PresenceManager;
use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig};
use chorus_testkit::conformance;
use chorus_testkit::services::RedisTlsServer;
use std::sync::Arc;
use std::time::Duration;

fn config(url: String) -> RedisEngineConfig {
    RedisEngineConfig {
        shards: vec![RedisAddress::Standalone(url)],
        prefix: "chorus-tls".to_owned(),
        connect_timeout: Duration::from_millis(500),
        io_timeout: Duration::from_millis(1000),
        ..RedisEngineConfig::default()
    }
}

/// With verification skipped (`#insecure`, what `tls.insecure_skip_verify`
/// maps to) every broker and presence contract holds over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_suite_over_tls() {
    let Some(redis) = RedisTlsServer::start() else {
        return;
    };
    let engine = RedisEngine::connect(config(format!("{}#insecure", redis.url())))
        .await
        .expect("connect over TLS");
    conformance::broker_suite(|events| engine.broker(events)).await;
    let make = || Arc::new(engine.presence_manager()) as Arc<dyn PresenceManager>;
    conformance::presence_suite(make).await;
}

/// Without `#insecure` the certificate is verified, so a self-signed one is
/// refused: TLS is really on, not silently plain.
#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let Some(redis) = RedisTlsServer::start() else {
        return;
    };
    let err = RedisEngine::connect(config(redis.url()))
        .await
        .expect_err("self-signed certificate");
    assert!(err.to_string().contains("certificate"), "{err}");
}
