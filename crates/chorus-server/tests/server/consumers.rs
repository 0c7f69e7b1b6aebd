//! `consumers` in the running server: rows an application inserts into a
//! PostgreSQL outbox table reach WebSocket subscribers, and the consumer's
//! counters are exported; a consumer whose source does not answer stops the
//! start-up.

use std::time::Duration;

use chorus_protocol::Protocol;
use chorus_server::config::{ConfigFormat, ServerConfig};
use chorus_testkit::ProtocolClient;
use chorus_testkit::services::{PostgresServer, free_port};
use tokio_postgres::NoTls;

use crate::support::{SECRET, token};

fn config(port: u16, dsn: &str) -> ServerConfig {
    let text = serde_json::json!({
        "http_server": {"address": "127.0.0.1", "port": port},
        "client": {"token": {"hmac_secret_key": SECRET}},
        "channel": {"without_namespace": {"allow_subscribe_for_client": true}},
        "prometheus": {"enabled": true},
        "consumers": [{
            "name": "outbox",
            "enabled": true,
            "type": "postgresql",
            "postgresql": {
                "dsn": dsn,
                "outbox_table_name": "chorus_outbox",
                "num_partitions": 2,
                "partition_notification_channel": "chorus_outbox"
            }
        }]
    });
    let loaded = ServerConfig::from_str_format(&text.to_string(), ConfigFormat::Json).unwrap();
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
    loaded.config.validate().unwrap();
    loaded.config
}

/// Opens a client, retrying until the listener is up (`run` has no
/// readiness signal).
async fn open(port: u16) -> ProtocolClient {
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            let url = format!("ws://127.0.0.1:{port}/connection/websocket");
            return ProtocolClient::open(&url, Protocol::Json).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("server did not come up");
}

#[tokio::test]
async fn outbox_rows_reach_websocket_subscribers() {
    let Some(pg) = PostgresServer::start() else {
        return;
    };
    let (db, connection) = tokio_postgres::connect(&pg.dsn(), NoTls).await.unwrap();
    tokio::spawn(connection);
    db.batch_execute(
        "CREATE TABLE chorus_outbox (
            id BIGSERIAL PRIMARY KEY,
            method TEXT NOT NULL,
            payload JSONB NOT NULL,
            partition INTEGER NOT NULL DEFAULT 0,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await
    .unwrap();

    let port = free_port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(chorus_server::server::run(config(port, &pg.dsn()), async {
        let _ = stop_rx.await;
    }));
    let mut client = open(port).await;
    client.connect(token("alice", None, &[])).await;
    client.subscribe("news").await;
    client.subscribe("sport").await;

    // The application's write and its outbox rows in one transaction; the
    // NOTIFY wakes the partition at once.
    db.batch_execute(
        r#"BEGIN;
           INSERT INTO chorus_outbox (method, payload, partition)
             VALUES ('publish', '{"channel": "news", "data": {"n": 1}}', 1);
           INSERT INTO chorus_outbox (method, payload, partition)
             VALUES ('broadcast', '{"channels": ["news", "sport"], "data": {"n": 2}}', 1);
           INSERT INTO chorus_outbox (method, payload, partition)
             VALUES ('publish', to_jsonb('{"channel": "news", "data": {"n": 3}}'::text), 1);
           SELECT pg_notify('chorus_outbox', '1');
           COMMIT;"#,
    )
    .await
    .unwrap();
    // In order: the broadcast reaches both channels before the last publish.
    for (channel, n) in [("news", 1), ("news", 2), ("sport", 2), ("news", 3)] {
        let publication = client.recv_publication(channel).await;
        let data: serde_json::Value = serde_json::from_slice(&publication.data).unwrap();
        assert_eq!(data["n"], n, "{channel}");
    }

    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"centrifugo_consumers_processed_total{consumer_name="outbox"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"centrifugo_consumers_errors_total{consumer_name="outbox"} 0"#));

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("server did not stop")
        .unwrap()
        .unwrap();
    let left: i64 = db
        .query_one("SELECT count(*) FROM chorus_outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_consumer_that_cannot_connect_stops_the_start_up() {
    let port = free_port();
    let dead = free_port();
    let dsn = format!("host=127.0.0.1 port={dead} user=postgres connect_timeout=2");
    let err = chorus_server::server::run(config(port, &dsn), std::future::pending())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("consumer `outbox`") && message.contains("PostgreSQL"),
        "{message}"
    );
}
