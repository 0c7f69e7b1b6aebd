//! `engine.type: redis` and the `broker` / `presence_manager` sections: two
//! nodes built from Centrifugo configurations share a real `redis-server`
//! started on a free port.

use bytes::Bytes;
use chorus_node::ApiPublish;
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_testkit::services::{RedisCluster, RedisServer};

fn config(json: &str) -> ServerConfig {
    let loaded =
        ServerConfig::from_str_with_env(json, ConfigFormat::Json, Vec::<(String, String)>::new())
            .expect("parse");
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    loaded.config.validate().expect("valid");
    loaded.config
}

fn redis_config(url: &str) -> ServerConfig {
    config(&format!(
        r#"{{
            "engine": {{"type": "redis", "redis": {{"address": "{url}", "prefix": "chorus-server-test"}}}},
            "channel": {{"without_namespace": {{"history_size": 10, "history_ttl": "300s", "presence": true}}}}
        }}"#
    ))
}

/// What node B publishes is in the history node A reads, with the same stream
/// position: both nodes use the configured Redis.
#[tokio::test]
async fn redis_engine_from_config_is_shared_between_nodes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let cfg = redis_config(&redis.url());
    let a = chorus_server::node_setup::build_node(&cfg).expect("node a");
    let b = chorus_server::node_setup::build_node(&cfg).expect("node b");
    let pos = b
        .publish(
            "news",
            Bytes::from_static(b"{\"n\":1}"),
            ApiPublish::default(),
        )
        .await
        .expect("publish on b");
    assert_eq!(pos.offset, 1);
    let h = a
        .history(
            "news",
            chorus_node::HistoryFilter {
                limit: -1,
                ..Default::default()
            },
        )
        .await
        .expect("history on a");
    assert_eq!(h.position, pos);
    assert_eq!(h.publications.len(), 1);
    assert_eq!(h.publications[0].data.as_ref(), b"{\"n\":1}");
}

/// With the Redis engine and Redis stopped, an API publish is an error (100),
/// never a silent drop.
#[tokio::test]
async fn publish_fails_while_redis_is_down() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let mut cfg = redis_config(&redis.url());
    cfg.engine.redis.connect_timeout = chorus_server::config::GoDuration::from_millis(200);
    cfg.engine.redis.io_timeout = chorus_server::config::GoDuration::from_millis(300);
    let node = chorus_server::node_setup::build_node(&cfg).expect("node");
    redis.stop();
    let err = node
        .publish("news", Bytes::from_static(b"{}"), ApiPublish::default())
        .await
        .expect_err("redis is down");
    assert_eq!(err.code(), 100);
}

/// A NATS broker has no history: a namespace that needs it is refused at
/// start-up with a message naming the namespace and the option.
#[test]
fn nats_broker_with_history_namespace_is_refused() {
    let loaded = ServerConfig::from_str_with_env(
        r#"{
            "broker": {"enabled": true, "type": "nats"},
            "channel": {"namespaces": [{"name": "chat", "history_size": 10, "history_ttl": "60s"}]}
        }"#,
        ConfigFormat::Json,
        Vec::<(String, String)>::new(),
    )
    .expect("parse");
    let err = loaded.config.validate().expect_err("nats has no history");
    let msg = err.to_string();
    assert!(msg.contains("channel.namespaces[\"chat\"]"), "{msg}");
    assert!(msg.contains("nats"), "{msg}");
    let loaded = ServerConfig::from_str_with_env(
        r#"{"broker": {"enabled": true, "type": "nats"}, "channel": {"without_namespace": {"force_recovery": true}}}"#,
        ConfigFormat::Json,
        Vec::<(String, String)>::new(),
    )
    .expect("parse");
    assert!(
        loaded.config.validate().is_err(),
        "recovery needs history too"
    );
}

/// Redis Sentinel from a configuration, in both of Centrifugo's forms
/// (`sentinel_address` + `sentinel_master_name`, and a `redis+sentinel://`
/// address): what one node publishes is in the history the other reads, on the
/// master the sentinel names.
#[tokio::test]
async fn redis_sentinel_from_config() {
    let Some(sentinel) = chorus_testkit::services::RedisSentinel::start() else {
        return;
    };
    let name = chorus_testkit::services::RedisSentinel::MASTER_NAME;
    let port = sentinel.sentinel_port();
    let a = chorus_server::node_setup::build_node(&config(&format!(
        r#"{{"engine": {{"type": "redis", "redis": {{"address": [], "sentinel_address": "127.0.0.1:{port}", "sentinel_master_name": "{name}"}}}},
            "channel": {{"without_namespace": {{"history_size": 10, "history_ttl": "300s"}}}}}}"#
    )))
    .expect("node a");
    let b = chorus_server::node_setup::build_node(&config(&format!(
        r#"{{"engine": {{"type": "redis", "redis": {{"address": "redis+sentinel://127.0.0.1:{port}?sentinel_master_name={name}"}}}},
            "channel": {{"without_namespace": {{"history_size": 10, "history_ttl": "300s"}}}}}}"#
    )))
    .expect("node b");
    let pos = b
        .publish("news", Bytes::from_static(b"{}"), ApiPublish::default())
        .await
        .expect("publish on b");
    assert_eq!(pos.offset, 1);
    let h = a
        .history(
            "news",
            chorus_node::HistoryFilter {
                limit: -1,
                ..Default::default()
            },
        )
        .await
        .expect("history on a");
    assert_eq!(h.position, pos);
}

/// `broker.type: nats` with a Redis presence manager, from a configuration:
/// a publish goes through NATS (no stream position), history is off (108) and
/// presence is read from Redis. (Cross-node fan-out over NATS is tested in
/// `chorus-nats`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_broker_with_redis_presence_from_config() {
    let (Some(nats), Some(redis)) = (
        chorus_testkit::services::NatsServer::start(),
        RedisServer::start(),
    ) else {
        return;
    };
    let cfg = config(&format!(
        r#"{{
            "broker": {{"enabled": true, "type": "nats", "nats": {{"url": "{}"}}}},
            "presence_manager": {{"enabled": true, "type": "redis", "redis": {{"address": "{}"}}}},
            "channel": {{"without_namespace": {{"presence": true}}}}
        }}"#,
        nats.url(),
        redis.url()
    ));
    let a = chorus_server::node_setup::build_node(&cfg).expect("node a");
    let b = chorus_server::node_setup::build_node(&cfg).expect("node b");
    let pos = b
        .publish("news", Bytes::from_static(b"{}"), ApiPublish::default())
        .await
        .expect("publish through nats");
    assert_eq!(pos.offset, 0, "no history with nats");
    assert_eq!(
        a.history("news", chorus_node::HistoryFilter::default())
            .await
            .expect_err("history off")
            .code(),
        108
    );
    assert!(a.presence("news").await.expect("presence").is_empty());
}

/// A plain `address` pointing at a Redis Cluster node is detected (as
/// Centrifugo does), with the other nodes as `addr=` seeds: the node then
/// publishes with history on channels whose keys live on different masters,
/// which a standalone connection could not (`MOVED`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_behind_a_plain_address_is_detected() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let urls = cluster.urls();
    let seeds: Vec<String> = urls[1..]
        .iter()
        .map(|u| format!("addr={}", u.trim_start_matches("redis://")))
        .collect();
    let address = format!("{}?{}", urls[0], seeds.join("&"));
    let mut cfg = redis_config(&address);
    chorus_server::backends::detect_redis_clusters(&mut cfg)
        .await
        .expect("detect");
    assert_eq!(
        cfg.engine.redis.cluster_address, urls,
        "seeded by every node"
    );
    let state = Box::pin(chorus_server::state::AppState::start(redis_config(
        &address,
    )))
    .await
    .expect("start on the cluster");
    for i in 0..12 {
        let channel = format!("detected-{i}");
        let pos = state
            .node
            .publish(&channel, Bytes::from_static(b"{}"), ApiPublish::default())
            .await
            .expect("publish through cluster mode");
        assert_eq!(pos.offset, 1, "{channel}");
    }
}

/// A plain server stays standalone; `addr=` parameters are dropped from it.
#[tokio::test]
async fn standalone_address_stays_standalone() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut cfg = redis_config(&format!("{}?addr=127.0.0.1:1", redis.url()));
    chorus_server::backends::detect_redis_clusters(&mut cfg)
        .await
        .expect("detect");
    assert!(cfg.engine.redis.cluster_address.is_empty());
    assert_eq!(cfg.engine.redis.address, [redis.url()]);
}
