//! The node-to-node control plane over Redis PUB/SUB (`P.control`,
//! `P.node.<id>`): two nodes on one real Redis pass the testkit contract.

use chorus_redis::{RedisAddress, RedisEngine, RedisEngineConfig};
use chorus_testkit::cluster;
use chorus_testkit::services::RedisServer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_plane_over_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let engine = RedisEngine::connect(RedisEngineConfig {
        shards: vec![RedisAddress::Standalone(redis.url())],
        prefix: "chorus-control".to_owned(),
        connect_timeout: Duration::from_millis(300),
        io_timeout: Duration::from_millis(500),
        ..RedisEngineConfig::default()
    })
    .await
    .expect("connect");
    cluster::control_plane(|builder| {
        let presence = engine.presence_manager();
        let engine = engine.clone();
        builder
            .broker(move |events| engine.broker(events))
            .presence(presence)
    })
    .await;
}
