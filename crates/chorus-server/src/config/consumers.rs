//! `consumers`: async consumers that read API commands from a PostgreSQL
//! outbox table, Redis Streams or NATS JetStream (Centrifugo v6 names), run by
//! the `chorus-consumers` crate. Items are addressable in the environment as
//! `CENTRIFUGO_CONSUMERS_<NAME>_<OPTION>`, e.g.
//! `CENTRIFUGO_CONSUMERS_OUTBOX_POSTGRESQL_DSN`.

use std::collections::HashSet;

use chorus_consumers::nats_jetstream::DeliverPolicy;
use chorus_consumers::{
    ConsumerSpec, NatsJetStreamOptions, PostgresOptions, RedisStreamOptions, Source,
};
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{GoDuration, RedisConfig, RedisTlsConfig};

/// Consumer name rule (Centrifugo's).
const CONSUMER_NAME_PATTERN: &str = "^[a-zA-Z0-9_]{2,}$";

/// Types Centrifugo knows that Chorus does not run: refused when enabled.
const UNSUPPORTED_TYPES: [&str; 4] = ["kafka", "google_pub_sub", "aws_sqs", "azure_service_bus"];

/// One item of `consumers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerConfig {
    /// Unique name (`^[a-zA-Z0-9_]{2,}$`): metrics label and lock key part.
    pub name: String,
    /// Only enabled consumers run (and have their options checked).
    pub enabled: bool,
    /// `postgresql`, `redis_stream` or `nats_jetstream`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Options of a `postgresql` consumer.
    pub postgresql: PostgresConsumerConfig,
    /// Options of a `redis_stream` consumer.
    pub redis_stream: RedisStreamConsumerConfig,
    /// Options of a `nats_jetstream` consumer.
    pub nats_jetstream: NatsJetStreamConsumerConfig,
    /// Centrifugo's `kafka` options: accepted in the file, refused when a
    /// `kafka` consumer is enabled.
    pub kafka: Map<String, Value>,
    /// Centrifugo's `google_pub_sub` options (refused when enabled).
    pub google_pub_sub: Map<String, Value>,
    /// Centrifugo's `aws_sqs` options (refused when enabled).
    pub aws_sqs: Map<String, Value>,
    /// Centrifugo's `azure_service_bus` options (refused when enabled).
    pub azure_service_bus: Map<String, Value>,
}

/// `tls` of a consumer's connection: only `enabled: false` is supported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerTlsConfig {
    /// Use TLS (refused: not implemented for this connection).
    pub enabled: bool,
    /// Client certificate (PEM).
    pub cert_pem: String,
    /// Client certificate file.
    pub cert_pem_file: String,
    /// Client key (PEM).
    pub key_pem: String,
    /// Client key file.
    pub key_pem_file: String,
    /// CA to verify the server (PEM).
    pub server_ca_pem: String,
    /// CA file to verify the server.
    pub server_ca_pem_file: String,
    /// Name to verify in the server's certificate.
    pub server_name: String,
    /// Skip verifying the server.
    pub insecure_skip_verify: bool,
}

/// `consumers[].postgresql`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostgresConsumerConfig {
    /// Connection string (`postgres://…` or `host=… dbname=…`).
    pub dsn: String,
    /// The outbox table, `table` or `schema.table`.
    pub outbox_table_name: String,
    /// Partitions read in parallel. Default 1.
    pub num_partitions: u32,
    /// Rows per batch. Default 100.
    pub partition_select_limit: u32,
    /// Wait between batches when a partition is drained. Default 300ms.
    pub partition_poll_interval: GoDuration,
    /// `LISTEN` channel whose notifications (payload: the partition) wake a
    /// partition early; `""` = poll only.
    pub partition_notification_channel: String,
    /// A separate DSN for the `LISTEN` connection (e.g. direct, when `dsn`
    /// goes through a transaction-pooling proxy).
    pub partition_notification_dsn: String,
    /// `pg_try_advisory_xact_lock` instead of waiting for the lock.
    pub use_try_lock: bool,
    /// TLS to PostgreSQL (refused when enabled).
    pub tls: ConsumerTlsConfig,
}

impl Default for PostgresConsumerConfig {
    fn default() -> Self {
        Self {
            dsn: String::new(),
            outbox_table_name: String::new(),
            num_partitions: 1,
            partition_select_limit: 100,
            partition_poll_interval: GoDuration::from_millis(300),
            partition_notification_channel: String::new(),
            partition_notification_dsn: String::new(),
            use_try_lock: false,
            tls: ConsumerTlsConfig::default(),
        }
    }
}

/// `consumers[].redis_stream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RedisStreamConsumerConfig {
    /// One Redis address (`host:port`, `redis://…`, `rediss://…`).
    #[serde(deserialize_with = "string_or_list")]
    pub address: Vec<String>,
    /// ACL user.
    pub user: String,
    /// Password.
    pub password: String,
    /// Database number.
    pub db: u32,
    /// TLS (`rediss`); client certificates are refused.
    pub tls: RedisTlsConfig,
    /// Redis Cluster addresses (refused).
    #[serde(deserialize_with = "string_or_list")]
    pub cluster_address: Vec<String>,
    /// Sentinel addresses (refused).
    #[serde(deserialize_with = "string_or_list")]
    pub sentinel_address: Vec<String>,
    /// Stream keys.
    pub streams: Vec<String>,
    /// Consumer group (created when missing).
    pub consumer_group: String,
    /// How long an entry stays with a node that does not acknowledge it.
    /// Default 30s.
    pub visibility_timeout: GoDuration,
    /// Entries processed at once per stream. Default 1 (in order).
    pub num_workers: u32,
    /// Entry field with the payload. Default `payload`.
    pub payload_value: String,
    /// Entry field with the method. Default `method`.
    pub method_value: String,
    /// Centrifugo's publication data mode (refused when enabled).
    pub publication_data_mode: Map<String, Value>,
}

impl Default for RedisStreamConsumerConfig {
    fn default() -> Self {
        Self {
            address: vec!["127.0.0.1:6379".to_owned()],
            user: String::new(),
            password: String::new(),
            db: 0,
            tls: RedisTlsConfig::default(),
            cluster_address: Vec::new(),
            sentinel_address: Vec::new(),
            streams: Vec::new(),
            consumer_group: String::new(),
            visibility_timeout: GoDuration::from_secs(30),
            num_workers: 1,
            payload_value: "payload".to_owned(),
            method_value: "method".to_owned(),
            publication_data_mode: Map::new(),
        }
    }
}

/// `consumers[].nats_jetstream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatsJetStreamConsumerConfig {
    /// Server URL. Default `nats://127.0.0.1:4222`.
    pub url: String,
    /// Credentials file (takes precedence over the others).
    pub credentials_file: String,
    /// User (with `password`).
    pub username: String,
    /// Password.
    pub password: String,
    /// Token.
    pub token: String,
    /// The stream (must exist).
    pub stream_name: String,
    /// Attach to an existing durable consumer instead of creating it.
    pub use_existing_consumer: bool,
    /// Filter subjects.
    pub subjects: Vec<String>,
    /// Durable consumer name.
    pub durable_consumer_name: String,
    /// `new` (default) or `all`.
    pub deliver_policy: String,
    /// Unacknowledged messages allowed. Default 100.
    pub max_ack_pending: i64,
    /// Header with the method. Default `centrifugo-method`.
    pub method_header: String,
    /// Centrifugo's publication data mode (refused when enabled).
    pub publication_data_mode: Map<String, Value>,
    /// TLS to NATS (refused when enabled).
    pub tls: ConsumerTlsConfig,
}

impl Default for NatsJetStreamConsumerConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            credentials_file: String::new(),
            username: String::new(),
            password: String::new(),
            token: String::new(),
            stream_name: String::new(),
            use_existing_consumer: false,
            subjects: Vec::new(),
            durable_consumer_name: String::new(),
            deliver_policy: "new".to_owned(),
            max_ack_pending: 100,
            method_header: "centrifugo-method".to_owned(),
            publication_data_mode: Map::new(),
            tls: ConsumerTlsConfig::default(),
        }
    }
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) if s.is_empty() => Vec::new(),
        OneOrMany::One(s) => s.split_whitespace().map(str::to_owned).collect(),
        OneOrMany::Many(v) => v,
    })
}

/// Every problem with `consumers`; type options are checked for enabled
/// consumers only.
pub(super) fn problems(consumers: &[ConsumerConfig]) -> Vec<String> {
    let mut out = Vec::new();
    let name_rule = Regex::new(CONSUMER_NAME_PATTERN).expect("valid pattern");
    let mut names = HashSet::new();
    for (i, c) in consumers.iter().enumerate() {
        let at = format!("consumers[{i}] ({:?})", c.name);
        if !name_rule.is_match(&c.name) {
            out.push(format!("{at}.name: must match {CONSUMER_NAME_PATTERN}"));
        } else if !names.insert(c.name.as_str()) {
            out.push(format!("{at}.name: used by another consumer"));
        }
        if !c.enabled {
            continue;
        }
        let mut p = |key: &str, msg: &str| out.push(format!("{at}.{key}: {msg}"));
        match c.kind.as_str() {
            "postgresql" => postgres_problems(&c.postgresql, &mut p),
            "redis_stream" => redis_problems(&c.redis_stream, &mut p),
            "nats_jetstream" => nats_problems(&c.nats_jetstream, &mut p),
            kind if UNSUPPORTED_TYPES.contains(&kind) => p(
                "type",
                &format!(
                    "`{kind}` consumers are not supported by Chorus (supported: postgresql, \
                     redis_stream, nats_jetstream)"
                ),
            ),
            "" => p("type", "required"),
            kind => p("type", &format!("unknown consumer type `{kind}`")),
        }
    }
    out
}

fn postgres_problems(c: &PostgresConsumerConfig, p: &mut impl FnMut(&str, &str)) {
    if c.dsn.is_empty() {
        p("postgresql.dsn", "required");
    }
    if c.outbox_table_name.is_empty() {
        p("postgresql.outbox_table_name", "required");
    }
    if c.num_partitions == 0 {
        p("postgresql.num_partitions", "must be at least 1");
    }
    if c.partition_select_limit == 0 {
        p("postgresql.partition_select_limit", "must be at least 1");
    }
    if c.partition_poll_interval
        .to_std()
        .is_none_or(|d| d.is_zero())
    {
        p("postgresql.partition_poll_interval", "must be positive");
    }
    if c.tls.enabled {
        p(
            "postgresql.tls.enabled",
            "TLS to PostgreSQL is not supported by Chorus; connect over a trusted network or a local TLS tunnel",
        );
    }
}

fn redis_problems(c: &RedisStreamConsumerConfig, p: &mut impl FnMut(&str, &str)) {
    if c.address.len() != 1 {
        p(
            "redis_stream.address",
            "exactly one Redis address is needed",
        );
    }
    if !c.cluster_address.is_empty() {
        p(
            "redis_stream.cluster_address",
            "Redis Cluster is not supported for stream consumers",
        );
    }
    if !c.sentinel_address.is_empty() {
        p(
            "redis_stream.sentinel_address",
            "Redis Sentinel is not supported for stream consumers",
        );
    }
    for (key, value) in [
        ("cert_pem_file", &c.tls.cert_pem_file),
        ("key_pem_file", &c.tls.key_pem_file),
        ("server_ca_pem_file", &c.tls.server_ca_pem_file),
        ("server_name", &c.tls.server_name),
    ] {
        if !value.is_empty() {
            p(
                &format!("redis_stream.tls.{key}"),
                "not supported for stream consumers (only enabled and insecure_skip_verify)",
            );
        }
    }
    if c.streams.is_empty() {
        p("redis_stream.streams", "at least one stream is required");
    }
    if c.consumer_group.is_empty() {
        p("redis_stream.consumer_group", "required");
    }
    if c.num_workers == 0 {
        p("redis_stream.num_workers", "must be at least 1");
    }
    if c.visibility_timeout.to_std().is_none_or(|d| d.is_zero()) {
        p("redis_stream.visibility_timeout", "must be positive");
    }
    if c.payload_value.is_empty() {
        p("redis_stream.payload_value", "required");
    }
    if enabled(&c.publication_data_mode) {
        p(
            "redis_stream.publication_data_mode.enabled",
            "publication data mode is not supported by Chorus",
        );
    }
}

fn nats_problems(c: &NatsJetStreamConsumerConfig, p: &mut impl FnMut(&str, &str)) {
    if c.url.is_empty() {
        p("nats_jetstream.url", "required");
    }
    if c.stream_name.is_empty() {
        p("nats_jetstream.stream_name", "required");
    }
    if c.durable_consumer_name.is_empty() {
        p("nats_jetstream.durable_consumer_name", "required");
    }
    if !c.use_existing_consumer && !matches!(c.deliver_policy.as_str(), "new" | "all") {
        p("nats_jetstream.deliver_policy", "must be `new` or `all`");
    }
    if !c.use_existing_consumer && c.max_ack_pending < 1 {
        p("nats_jetstream.max_ack_pending", "must be at least 1");
    }
    if c.tls.enabled {
        p(
            "nats_jetstream.tls.enabled",
            "TLS to NATS is not supported for JetStream consumers",
        );
    }
    if enabled(&c.publication_data_mode) {
        p(
            "nats_jetstream.publication_data_mode.enabled",
            "publication data mode is not supported by Chorus",
        );
    }
}

fn enabled(section: &Map<String, Value>) -> bool {
    section.get("enabled").and_then(Value::as_bool) == Some(true)
}

/// What the enabled consumers of a validated configuration run; `node` names
/// this node in Redis consumer groups.
pub fn consumer_specs(consumers: &[ConsumerConfig], node: &str) -> Vec<ConsumerSpec> {
    consumers
        .iter()
        .filter(|c| c.enabled)
        .filter_map(|c| {
            let source = match c.kind.as_str() {
                "postgresql" => Source::Postgres(postgres_options(&c.postgresql)),
                "redis_stream" => Source::RedisStream(redis_options(&c.redis_stream, node)),
                "nats_jetstream" => Source::NatsJetStream(nats_options(&c.nats_jetstream)),
                _ => return None,
            };
            Some(ConsumerSpec {
                name: c.name.clone(),
                source,
            })
        })
        .collect()
}

fn postgres_options(c: &PostgresConsumerConfig) -> PostgresOptions {
    PostgresOptions {
        dsn: c.dsn.clone(),
        outbox_table_name: c.outbox_table_name.clone(),
        num_partitions: c.num_partitions,
        partition_select_limit: c.partition_select_limit,
        partition_poll_interval: c.partition_poll_interval.to_std().unwrap_or_default(),
        partition_notification_channel: c.partition_notification_channel.clone(),
        partition_notification_dsn: c.partition_notification_dsn.clone(),
        use_try_lock: c.use_try_lock,
    }
}

fn redis_options(c: &RedisStreamConsumerConfig, node: &str) -> RedisStreamOptions {
    let section = RedisConfig {
        user: c.user.clone(),
        password: c.password.clone(),
        db: c.db,
        tls: c.tls.clone(),
        ..RedisConfig::default()
    };
    let address = c.address.first().map_or("127.0.0.1:6379", String::as_str);
    RedisStreamOptions {
        url: crate::backends::redis_url(address, &section),
        streams: c.streams.clone(),
        consumer_group: c.consumer_group.clone(),
        visibility_timeout: c.visibility_timeout.to_std().unwrap_or_default(),
        num_workers: c.num_workers,
        payload_value: c.payload_value.clone(),
        method_value: c.method_value.clone(),
        // Unique per process: two nodes on one host must not share pending
        // entries.
        consumer_name: format!("{node}-{}", uuid::Uuid::new_v4().simple()),
    }
}

fn nats_options(c: &NatsJetStreamConsumerConfig) -> NatsJetStreamOptions {
    NatsJetStreamOptions {
        url: c.url.clone(),
        credentials_file: c.credentials_file.clone(),
        username: c.username.clone(),
        password: c.password.clone(),
        token: c.token.clone(),
        stream_name: c.stream_name.clone(),
        subjects: c.subjects.clone(),
        durable_consumer_name: c.durable_consumer_name.clone(),
        use_existing_consumer: c.use_existing_consumer,
        deliver_policy: if c.deliver_policy == "all" {
            DeliverPolicy::All
        } else {
            DeliverPolicy::New
        },
        max_ack_pending: c.max_ack_pending,
        method_header: c.method_header.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigFormat, ServerConfig};

    fn load(text: &str, env: &[(&str, &str)]) -> ServerConfig {
        ServerConfig::from_str_with_env(text, ConfigFormat::Json, env.iter().copied())
            .unwrap()
            .config
    }

    #[test]
    fn centrifugo_config_is_read_without_unknown_keys() {
        let text = r#"{"consumers": [{
            "name": "outbox", "enabled": true, "type": "postgresql",
            "postgresql": {"dsn": "postgres://u@h/db", "outbox_table_name": "outbox",
                           "num_partitions": 4, "partition_select_limit": 50,
                           "partition_poll_interval": "1s",
                           "partition_notification_channel": "wake", "use_try_lock": true}
        }, {
            "name": "events", "enabled": false, "type": "kafka",
            "kafka": {"brokers": ["k:9092"], "topics": ["t"], "consumer_group": "g"}
        }]}"#;
        let loaded = ServerConfig::from_str_format(text, ConfigFormat::Json).unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        let c = &loaded.config.consumers[0];
        assert_eq!(c.postgresql.num_partitions, 4);
        assert_eq!(
            c.postgresql.partition_poll_interval,
            GoDuration::from_secs(1)
        );
        assert!(loaded.config.problems().is_empty());
        let specs = consumer_specs(&loaded.config.consumers, "n1");
        assert_eq!(specs.len(), 1, "the disabled one does not run");
        let Source::Postgres(o) = &specs[0].source else {
            panic!("{specs:?}");
        };
        assert_eq!(o.partition_select_limit, 50);
        assert!(o.use_try_lock);
    }

    #[test]
    fn environment_sets_whole_array_and_named_items() {
        let config = load(
            "{}",
            &[(
                "CENTRIFUGO_CONSUMERS",
                r#"[{"name":"q","enabled":true,"type":"redis_stream","redis_stream":{"streams":["s"],"consumer_group":"g"}}]"#,
            )],
        );
        assert_eq!(config.consumers[0].redis_stream.streams, ["s"]);
        let config = load(
            r#"{"consumers":[{"name":"outbox","type":"postgresql"}]}"#,
            &[
                ("CENTRIFUGO_CONSUMERS_OUTBOX_ENABLED", "true"),
                ("CENTRIFUGO_CONSUMERS_OUTBOX_POSTGRESQL_DSN", "host=x"),
                ("CENTRIFUGO_CONSUMERS_OUTBOX_POSTGRESQL_NUM_PARTITIONS", "8"),
            ],
        );
        let c = &config.consumers[0];
        assert!(c.enabled);
        assert_eq!(c.postgresql.dsn, "host=x");
        assert_eq!(c.postgresql.num_partitions, 8);
    }

    #[test]
    fn problems_name_the_key() {
        let config = load(
            r#"{"consumers":[
                {"name":"x","enabled":true,"type":"postgresql"},
                {"name":"kafka_in","enabled":true,"type":"kafka"},
                {"name":"pg","enabled":true,"type":"postgresql",
                 "postgresql":{"dsn":"h","outbox_table_name":"t","tls":{"enabled":true}}},
                {"name":"pg","enabled":false,"type":"nope"},
                {"name":"js","enabled":true,"type":"nats_jetstream",
                 "nats_jetstream":{"stream_name":"S","durable_consumer_name":"d","deliver_policy":"last"}},
                {"name":"rs","enabled":true,"type":"redis_stream",
                 "redis_stream":{"streams":["s"],"consumer_group":"g","cluster_address":["a:1"],
                                 "publication_data_mode":{"enabled":true}}}
            ]}"#,
            &[],
        );
        let problems = config.problems();
        for expected in [
            r#"consumers[0] ("x").name: must match"#,
            r#"consumers[0] ("x").postgresql.dsn: required"#,
            r#"consumers[1] ("kafka_in").type: `kafka` consumers are not supported"#,
            r#"consumers[2] ("pg").postgresql.tls.enabled: TLS to PostgreSQL is not supported"#,
            r#"consumers[3] ("pg").name: used by another consumer"#,
            r#"consumers[4] ("js").nats_jetstream.deliver_policy: must be `new` or `all`"#,
            r#"consumers[5] ("rs").redis_stream.cluster_address"#,
            r#"consumers[5] ("rs").redis_stream.publication_data_mode.enabled"#,
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected} not in {problems:#?}"
            );
        }
        // The disabled consumer's unknown type is not checked.
        assert!(!problems.iter().any(|p| p.contains("nope")));
    }
}
