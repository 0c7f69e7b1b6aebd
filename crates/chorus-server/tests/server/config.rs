//! Configuration: defaults, file formats, environment, unknown keys, validation.

use chorus_server::config::{
    Choice, ConfigFormat, ConfigLoader, DeltaType, EngineType, GoDuration, InternalPort, LogLevel,
    PublicationDataFormat, ServerConfig, ServerConfigError,
};

fn secs(s: i64) -> GoDuration {
    GoDuration::from_secs(s)
}

#[test]
fn documented_defaults() {
    let c = ServerConfig::default();
    assert_eq!(c.http_server.address, "");
    assert_eq!(c.http_server.port, 8000);
    assert_eq!(c.http_server.internal_address, "");
    assert_eq!(c.http_server.internal_port, InternalPort::Unset);
    assert_eq!(c.log.level, Choice::Known(LogLevel::Info));
    assert!(!c.log.json);
    assert_eq!(c.engine.kind, Choice::Known(EngineType::Memory));
    assert_eq!(c.engine.redis.prefix, "centrifugo");
    assert_eq!(c.engine.redis.address, vec!["redis://127.0.0.1:6379"]);
    assert_eq!(c.engine.redis.connect_timeout, secs(1));
    assert_eq!(c.engine.redis.io_timeout, secs(4));
    let cl = &c.client;
    assert!(cl.allowed_origins.is_empty());
    assert_eq!(cl.ping_interval, secs(25));
    assert_eq!(cl.pong_timeout, secs(8));
    assert_eq!(cl.expired_close_delay, secs(25));
    assert_eq!(cl.expired_sub_close_delay, secs(25));
    assert_eq!(cl.stale_close_delay, secs(10));
    assert_eq!(cl.channel_limit, 128);
    assert_eq!(cl.queue_max_size, 1_048_576);
    assert_eq!(cl.presence_update_interval, secs(27));
    assert_eq!(cl.connection_limit, 0);
    assert_eq!(cl.user_connection_limit, 0);
    assert_eq!(cl.connection_rate_limit, 0);
    assert!(!cl.connect_include_server_time);
    assert_eq!(cl.history_max_publication_limit, 300);
    assert_eq!(cl.recovery_max_publication_limit, 300);
    assert!(!cl.insecure);
    assert!(!cl.allow_anonymous_connect_without_token);
    assert!(!cl.disallow_anonymous_connection_tokens);
    assert!(!cl.subscribe_to_user_personal_channel.enabled);
    assert!(!cl.insecure_skip_token_signature_verify);
    assert_eq!(cl.channel_position_check_delay, secs(40));
    assert_eq!(cl.channel_position_max_time_lag, GoDuration::ZERO);
    assert!(!cl.subscription_token.enabled);
    assert_eq!(cl.token.hmac_secret_key, "");
    let ch = &c.channel;
    assert_eq!(ch.history_meta_ttl, GoDuration::from_hours(720));
    assert_eq!(ch.max_length, 255);
    assert_eq!(ch.private_prefix, "$");
    assert_eq!(ch.namespace_boundary, ":");
    assert_eq!(ch.user_boundary, "#");
    assert_eq!(ch.user_separator, ",");
    assert_eq!(
        ch.publication_data_format,
        Choice::Known(PublicationDataFormat::Unset)
    );
    assert!(ch.namespaces.is_empty());
    assert_eq!(ch.without_namespace, Default::default());
    assert!(!ch.without_namespace.allow_subscribe_for_client);
    assert_eq!(ch.without_namespace.history_size, 0);
    assert!(!c.rpc.ping.enabled);
    assert_eq!(c.rpc.ping.method, "ping");
    assert_eq!(c.rpc.namespace_boundary, ":");
    assert!(!c.http_api.disabled);
    assert_eq!(c.http_api.handler_prefix, "/api");
    assert_eq!(c.http_api.key, "");
    assert!(!c.http_api.external && !c.http_api.insecure);
    assert!(!c.websocket.disabled);
    assert_eq!(c.websocket.handler_prefix, "/connection/websocket");
    assert_eq!(c.websocket.message_size_limit, 65536);
    assert_eq!(c.websocket.write_timeout, GoDuration::from_millis(1000));
    assert!(!c.websocket.compression);
    assert_eq!(c.websocket.compression_level, 1);
    assert!(!c.admin.enabled);
    assert_eq!(c.admin.handler_prefix, "");
    assert!(!c.prometheus.enabled);
    assert_eq!(c.prometheus.handler_prefix, "/metrics");
    assert!(!c.health.enabled);
    assert_eq!(c.health.handler_prefix, "/health");
    assert_eq!(c.shutdown.timeout, secs(30));
    assert_eq!(c.node.name, "");
    assert_eq!(c.pid_file, "");
    assert!(c.problems().is_empty(), "{:?}", c.problems());
}

#[test]
fn defaults_survive_a_roundtrip_in_every_format() {
    for format in [ConfigFormat::Json, ConfigFormat::Yaml, ConfigFormat::Toml] {
        let text = ServerConfig::default().to_string_format(format).unwrap();
        let loaded = ServerConfig::from_str_format(&text, format).unwrap();
        assert_eq!(loaded.config, ServerConfig::default(), "{format}");
        assert!(
            loaded.unknown_keys.is_empty(),
            "{format}: {:?}",
            loaded.unknown_keys
        );
    }
}

#[test]
fn json_yaml_toml_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "c.json",
            r#"{"http_server": {"port": 9001}, "client": {"ping_interval": "1m30s"},
                "channel": {"namespaces": [{"name": "chat", "presence": true}]}}"#,
        ),
        (
            "c.yaml",
            "http_server:\n  port: 9001\nclient:\n  ping_interval: 1m30s\nchannel:\n  namespaces:\n    - name: chat\n      presence: true\n",
        ),
        (
            "c.toml",
            "[http_server]\nport = 9001\n[client]\nping_interval = \"1m30s\"\n[[channel.namespaces]]\nname = \"chat\"\npresence = true\n",
        ),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let loaded = ConfigLoader::new().file(&path).load().unwrap();
        let c = &loaded.config;
        assert_eq!(c.http_server.port, 9001, "{name}");
        assert_eq!(c.client.ping_interval, secs(90), "{name}");
        assert_eq!(c.channel.namespaces[0].name, "chat", "{name}");
        assert!(c.channel.namespaces[0].options.presence, "{name}");
        assert_eq!(loaded.file.as_deref(), Some(path.as_path()));
    }
    let bad = dir.path().join("c.ini");
    std::fs::write(&bad, "x").unwrap();
    assert!(matches!(
        ConfigLoader::new().file(&bad).load(),
        Err(ServerConfigError::UnsupportedFormat { .. })
    ));
}

#[test]
fn missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("config.json");
    let loaded = ConfigLoader::new().optional_file(&missing).load().unwrap();
    assert_eq!(loaded.config, ServerConfig::default());
    assert!(loaded.file.is_none());
    assert!(matches!(
        ConfigLoader::new().file(&missing).load(),
        Err(ServerConfigError::NotFound { .. })
    ));
}

#[test]
fn parse_and_type_errors_are_precise() {
    let err = ServerConfig::from_str_format("{", ConfigFormat::Json).unwrap_err();
    assert!(matches!(err, ServerConfigError::Parse { .. }), "{err}");
    let err = ServerConfig::from_str_format(
        r#"{"client": {"ping_interval": "soon"}}"#,
        ConfigFormat::Json,
    )
    .unwrap_err();
    assert!(err.to_string().contains("client.ping_interval"), "{err}");
    let err =
        ServerConfig::from_str_format(r#"{"http_server": {"port": "x"}}"#, ConfigFormat::Json)
            .unwrap_err();
    assert!(err.to_string().contains("http_server.port"), "{err}");
}

#[test]
fn durations_accept_integers_as_nanoseconds() {
    let c = ServerConfig::from_str_format(
        r#"{"client": {"pong_timeout": 5000000000}}"#,
        ConfigFormat::Json,
    )
    .unwrap()
    .config;
    assert_eq!(c.client.pong_timeout, secs(5));
}

#[test]
fn env_overrides() {
    let file = r#"{"http_server": {"port": 1000},
        "channel": {"namespaces": [{"name": "chat.room-1"}, {"name": "news", "presence": false}]}}"#;
    let env = [
        ("CENTRIFUGO_HTTP_SERVER_PORT", "9000"),
        ("CHORUS_HTTP_SERVER_PORT", "9100"),
        ("CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY", "s3cret"),
        (
            "CENTRIFUGO_CLIENT_ALLOWED_ORIGINS",
            "https://a.example https://b.example",
        ),
        ("CENTRIFUGO_CLIENT_INSECURE", "T"),
        ("CENTRIFUGO_CLIENT_PING_INTERVAL", "30s"),
        (
            "CENTRIFUGO_ENGINE_REDIS_ADDRESS",
            "redis://r1:6379 redis://r2:6379",
        ),
        ("CENTRIFUGO_CHANNEL_NAMESPACES_NEWS_PRESENCE", "true"),
        (
            "CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_ROOM_1_HISTORY_SIZE",
            "10",
        ),
        (
            "CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_ROOM_1_HISTORY_TTL",
            "60s",
        ),
        (
            "CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_ALLOWED_DELTA_TYPES",
            "fossil",
        ),
        ("CENTRIFUGO_LOG_LEVEL", ""),
        ("CENTRIFUGO_VAR_X", "free"),
        ("CENTRIFUGO_NOT_A_KEY", "1"),
        ("CHORUS_ALSO_NOT", "1"),
        ("PATH", "/bin"),
    ];
    let loaded = ServerConfig::from_str_with_env(file, ConfigFormat::Json, env).unwrap();
    let c = &loaded.config;
    assert_eq!(c.http_server.port, 9100, "CHORUS_ wins");
    assert_eq!(c.client.token.hmac_secret_key, "s3cret");
    assert_eq!(
        c.client.allowed_origins,
        vec!["https://a.example", "https://b.example"]
    );
    assert!(c.client.insecure);
    assert_eq!(c.client.ping_interval, secs(30));
    assert_eq!(
        c.engine.redis.address,
        vec!["redis://r1:6379", "redis://r2:6379"]
    );
    assert!(c.channel.namespaces[1].options.presence);
    assert_eq!(c.channel.namespaces[0].options.history_size, 10);
    assert_eq!(c.channel.namespaces[0].options.history_ttl, secs(60));
    assert_eq!(
        c.channel.without_namespace.allowed_delta_types,
        vec![Choice::Known(DeltaType::Fossil)]
    );
    assert_eq!(
        c.log.level,
        Choice::Known(LogLevel::Info),
        "empty env var = unset"
    );
    let mut unknown = loaded.unknown_env.clone();
    unknown.sort();
    assert_eq!(unknown, vec!["CENTRIFUGO_NOT_A_KEY", "CHORUS_ALSO_NOT"]);
}

#[test]
fn env_whole_namespace_array_as_json() {
    let env = [
        (
            "CENTRIFUGO_CHANNEL_NAMESPACES",
            r#"[{"name": "chat", "allow_subscribe_for_client": true}]"#,
        ),
        ("CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE", "1"),
    ];
    let c = ServerConfig::from_str_with_env("{}", ConfigFormat::Json, env)
        .unwrap()
        .config;
    assert_eq!(c.channel.namespaces.len(), 1);
    assert!(c.channel.namespaces[0].options.allow_subscribe_for_client);
    assert!(c.channel.namespaces[0].options.presence);
}

#[test]
fn env_named_lists_as_space_separated_names() {
    let env = [
        ("CENTRIFUGO_CHANNEL_NAMESPACES", "alpha beta"),
        ("CENTRIFUGO_CHANNEL_NAMESPACES_ALPHA_PRESENCE", "true"),
        (
            "CENTRIFUGO_CHANNEL_NAMESPACES_BETA_ALLOW_SUBSCRIBE_FOR_CLIENT",
            "true",
        ),
        ("CENTRIFUGO_PROXIES", "backend"),
        (
            "CENTRIFUGO_PROXIES_BACKEND_ENDPOINT",
            "http://127.0.0.1:3000/rpc",
        ),
        ("CENTRIFUGO_RPC_NAMESPACES", "calc"),
        ("CENTRIFUGO_RPC_NAMESPACES_CALC_PROXY_ENABLED", "true"),
        ("CENTRIFUGO_RPC_NAMESPACES_CALC_PROXY_NAME", "backend"),
    ];
    let loaded = ServerConfig::from_str_with_env("{}", ConfigFormat::Json, env).unwrap();
    let c = loaded.config;
    let names: Vec<_> = c
        .channel
        .namespaces
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(c.channel.namespaces[0].options.presence);
    assert!(!c.channel.namespaces[0].options.allow_subscribe_for_client);
    assert!(c.channel.namespaces[1].options.allow_subscribe_for_client);
    assert_eq!(c.rpc.namespaces.len(), 1);
    assert_eq!(c.rpc.namespaces[0].name, "calc");
    assert!(c.rpc.namespaces[0].options.proxy_enabled);
    assert_eq!(c.rpc.namespaces[0].options.proxy_name, "backend");
    assert_eq!(c.proxies.len(), 1);
    assert_eq!(c.proxies[0].name, "backend");
    assert!(loaded.unknown_env.is_empty(), "{:?}", loaded.unknown_env);
    assert!(c.validate().is_ok(), "{:?}", c.validate());
}

#[test]
fn env_type_errors() {
    let err = ServerConfig::from_str_with_env(
        "{}",
        ConfigFormat::Json,
        [("CENTRIFUGO_HTTP_SERVER_PORT", "eighty")],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("CENTRIFUGO_HTTP_SERVER_PORT"),
        "{err}"
    );
}

#[test]
fn loader_overrides_beat_env_and_file() {
    let loaded = ConfigLoader::new()
        .env([("CENTRIFUGO_HTTP_SERVER_PORT", "9000")])
        .set("http_server.port", 9200)
        .set("health.enabled", true)
        .load_str(r#"{"http_server": {"port": 1}}"#, ConfigFormat::Json)
        .unwrap();
    assert_eq!(loaded.config.http_server.port, 9200);
    assert!(loaded.config.health.enabled);
}

#[test]
fn unknown_keys_reported_with_paths() {
    let loaded = ServerConfig::from_str_format(
        r#"{"colour": 1, "client": {"tokn": {}, "token": {"hmac_secret": "x"}},
            "channel": {"namespaces": [{"name": "ok"}, {"name": "x2", "presense": true}]},
            "rpc": {"namespaces": [{"name": "r1", "proxy_enable": true}]}}"#,
        ConfigFormat::Json,
    )
    .unwrap();
    let mut keys = loaded.unknown_keys.clone();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "channel.namespaces[1].presense",
            "client.token.hmac_secret",
            "client.tokn",
            "colour",
            "rpc.namespaces[0].proxy_enable",
        ]
    );
    assert!(loaded.warnings().iter().any(|w| w.contains("`colour`")));
}

fn problems_of(json: &str) -> Vec<String> {
    ServerConfig::from_str_format(json, ConfigFormat::Json)
        .unwrap()
        .config
        .problems()
}

fn assert_problem(json: &str, needle: &str) {
    let problems = problems_of(json);
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem mentioning {needle:?} for {json}, got {problems:#?}"
    );
}

#[test]
fn each_validation_rule_fails() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"client": {"ping_interval": "5s", "pong_timeout": "8s"}}"#,
            "must be greater than client.pong_timeout",
        ),
        (
            r#"{"engine": {"redis": {"client_name": "chorus-1"}}}"#,
            "engine.redis.client_name: not supported",
        ),
        (
            r#"{"broker": {"redis": {"client_name": "chorus-1"}}}"#,
            "broker.redis.client_name: not supported",
        ),
        (
            r#"{"channel": {"namespaces": [{"name": "a"}]}}"#,
            "must match ^[-a-zA-Z0-9_.]{2,}$",
        ),
        (
            r#"{"channel": {"namespaces": [{"name": "b c"}]}}"#,
            "must match",
        ),
        (
            r#"{"channel": {"namespaces": [{"name": "chat"}, {"name": "chat"}]}}"#,
            "defined more than once",
        ),
        (
            r#"{"rpc": {"namespaces": [{"name": "x"}]}}"#,
            "rpc.namespaces[0].name",
        ),
        (
            r#"{"rpc": {"namespaces": [{"name": "xx"}, {"name": "xx"}]}}"#,
            "defined more than once",
        ),
        (
            r#"{"channel": {"without_namespace": {"history_size": 10}}}"#,
            "history_size and history_ttl must both be set",
        ),
        (
            r#"{"channel": {"without_namespace": {"history_ttl": "10s"}}}"#,
            "history_size and history_ttl must both be set",
        ),
        (
            r#"{"channel": {"without_namespace": {"history_size": 1, "history_ttl": "1.5s"}}}"#,
            "whole number of seconds",
        ),
        (
            r#"{"channel": {"history_meta_ttl": "1h", "without_namespace": {"history_size": 1, "history_ttl": "2h"}}}"#,
            "must not exceed the history meta TTL",
        ),
        (
            r#"{"channel": {"namespaces": [{"name": "ns", "history_size": 1, "history_ttl": "2h", "history_meta_ttl": "1h"}]}}"#,
            "must not exceed",
        ),
        (
            r#"{"channel": {"without_namespace": {"force_recovery": true}}}"#,
            "force_recovery: requires history",
        ),
        (
            r#"{"channel": {"without_namespace": {"allow_recovery": true}}}"#,
            "allow_recovery: requires history",
        ),
        (
            r#"{"channel": {"without_namespace": {"force_positioning": true}}}"#,
            "force_positioning: requires history",
        ),
        (
            r#"{"channel": {"without_namespace": {"allow_positioning": true}}}"#,
            "allow_positioning: requires history",
        ),
        (
            r#"{"channel": {"without_namespace": {"allowed_delta_types": ["xdelta"]}}}"#,
            "only \"fossil\"",
        ),
        (
            r#"{"channel": {"without_namespace": {"allowed_delta_types": ["fossil"]}}}"#,
            "allowed_delta_types: requires history",
        ),
        (
            r#"{"channel": {"without_namespace": {"allowed_delta_types": ["fossil"], "history_size": 1, "history_ttl": "1s"}}}"#,
            "requires positioning or recovery",
        ),
        (
            r#"{"channel": {"without_namespace": {"force_recovery_mode": "fast"}}}"#,
            "force_recovery_mode",
        ),
        (
            r#"{"channel": {"without_namespace": {"auto_cache_recover": true}}}"#,
            "auto_cache_recover",
        ),
        (
            r#"{"channel": {"without_namespace": {"channel_regex": "("}}}"#,
            "channel_regex: invalid regular expression",
        ),
        (
            r#"{"channel": {"without_namespace": {"publication_data_format": "xml"}}}"#,
            "publication_data_format",
        ),
        (
            r#"{"channel": {"publication_data_format": "xml"}}"#,
            "channel.publication_data_format",
        ),
        (
            r#"{"channel": {"without_namespace": {"subscription_type": "weird"}}}"#,
            "subscription_type",
        ),
        (
            r#"{"channel": {"without_namespace": {"subscribe_stream_proxy_enabled": true, "subscribe_proxy_enabled": true}}}"#,
            "can not be combined",
        ),
        (
            r#"{"channel": {"namespaces": [{"name": "m", "subscription_type": "map"}]}}"#,
            "does not support",
        ),
        (
            r#"{"channel": {"without_namespace": {"subscribe_stream_proxy_enabled": true}}}"#,
            "subscription streams",
        ),
        (
            r#"{"channel": {"without_namespace": {"history_size": 5, "history_ttl": "60s", "force_positioning": true, "allowed_delta_types": ["fossil"], "allow_tags_filter": true}}}"#,
            "mutually exclusive",
        ),
        (
            r#"{"channel": {"without_namespace": {"allowed_delta_types": ["fossil"]}}}"#,
            "allowed_delta_types: requires history",
        ),
        (
            r#"{"channel": {"without_namespace": {"history_size": 5, "history_ttl": "60s", "auto_cache_recover": true}}}"#,
            "auto_cache_recover: requires force_recovery",
        ),
        (r#"{"channel": {"max_length": 0}}"#, "channel.max_length"),
        (
            r#"{"channel": {"namespace_boundary": ""}}"#,
            "channel.namespace_boundary",
        ),
        (r#"{"engine": {"type": "postgres"}}"#, "engine.type"),
        (
            r#"{"engine": {"type": "redis", "redis": {"address": "ftp://x"}}}"#,
            "unsupported scheme",
        ),
        (
            r#"{"engine": {"type": "redis", "redis": {"address": []}}}"#,
            "set address, cluster_address or sentinel_address",
        ),
        (
            r#"{"engine": {"type": "redis", "redis": {"address": "localhost:6379", "cluster_address": ["a:1"]}}}"#,
            "use only one of",
        ),
        (
            r#"{"engine": {"type": "redis", "redis": {"address": [], "sentinel_address": ["a:1"]}}}"#,
            "sentinel_master_name",
        ),
        (
            r#"{"engine": {"type": "redis", "redis": {"prefix": ""}}}"#,
            "engine.redis.prefix",
        ),
        (
            r#"{"engine": {"type": "redis", "redis": {"io_timeout": "0s"}}}"#,
            "engine.redis.io_timeout",
        ),
        (r#"{"log": {"level": "verbose"}}"#, "log.level"),
        (
            r#"{"client": {"token": {"rsa_public_key": "garbage"}}}"#,
            "client.token.rsa_public_key",
        ),
        (
            r#"{"client": {"token": {"ecdsa_public_key": "garbage"}}}"#,
            "client.token.ecdsa_public_key",
        ),
        (
            r#"{"client": {"subscription_token": {"enabled": true, "rsa_public_key": "garbage"}}}"#,
            "client.subscription_token.rsa_public_key",
        ),
        (
            r#"{"client": {"token": {"jwks_public_endpoint": "ftp://x"}}}"#,
            "jwks_public_endpoint",
        ),
        (
            r#"{"client": {"token": {"audience_regex": "("}}}"#,
            "audience_regex: invalid regular expression",
        ),
        (
            r#"{"client": {"token": {"issuer_regex": "("}}}"#,
            "issuer_regex: invalid regular expression",
        ),
        (
            r#"{"client": {"token": {"audience": "a", "audience_regex": "a"}}}"#,
            "can not be used together",
        ),
        (
            r#"{"client": {"token": {"user_id_claim": "user-id"}}}"#,
            "user_id_claim",
        ),
        (
            r#"{"client": {"token": {"hmac_previous_secret_key_valid_until": 5}}}"#,
            "hmac_previous_secret_key is empty",
        ),
        (
            r#"{"client": {"subscribe_to_user_personal_channel": {"enabled": true, "single_connection": true}}}"#,
            "requires presence",
        ),
        (
            r#"{"client": {"subscribe_to_user_personal_channel": {"enabled": true, "personal_channel_namespace": "users"}}}"#,
            "is not defined",
        ),
        (
            r#"{"client": {"presence_update_interval": "0s"}}"#,
            "client.presence_update_interval",
        ),
        (
            r#"{"client": {"stale_close_delay": "-1s"}}"#,
            "client.stale_close_delay",
        ),
        (
            r#"{"http_server": {"internal_port": "abc"}}"#,
            "http_server.internal_port",
        ),
        (
            r#"{"http_api": {"handler_prefix": "api"}}"#,
            "http_api.handler_prefix",
        ),
        (
            r#"{"http_api": {"error_mode": "loud"}}"#,
            "http_api.error_mode",
        ),
        (
            r#"{"websocket": {"compression_level": 11}}"#,
            "websocket.compression_level",
        ),
        (r#"{"shutdown": {"timeout": "-1s"}}"#, "shutdown.timeout"),
        (r#"{"admin": {"enabled": true}}"#, "admin.password"),
        (
            r#"{"rpc": {"ping": {"enabled": true, "method": ""}}}"#,
            "rpc.ping.method",
        ),
    ];
    for (json, needle) in cases {
        assert_problem(json, needle);
    }
}

#[test]
fn valid_configs_pass() {
    for json in [
        r#"{"client": {"ping_interval": "-1s"}}"#,
        r#"{"channel": {"namespaces": [{"name": "chat.v1", "history_size": 10, "history_ttl": "300s",
            "force_recovery": true, "force_recovery_mode": "cache", "auto_cache_recover": true,
            "allowed_delta_types": ["fossil"], "presence": true}]}}"#,
        r#"{"engine": {"type": "redis", "redis": {"address": "localhost:6379"}}}"#,
        r#"{"engine": {"type": "redis", "redis": {"cluster_address": ["a:7000", "b:7000"]}}}"#,
        r#"{"http_server": {"internal_port": 9001}}"#,
    ] {
        let problems = problems_of(json);
        assert!(problems.is_empty(), "{json}: {problems:#?}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let json = r#"{"log": {"level": "loud"}, "engine": {"type": "x"},
        "client": {"ping_interval": "1s", "pong_timeout": "2s"},
        "channel": {"namespaces": [{"name": "a"}]}}"#;
    let config = ServerConfig::from_str_format(json, ConfigFormat::Json)
        .unwrap()
        .config;
    let err = config.validate().unwrap_err();
    let ServerConfigError::Invalid(problems) = &err else {
        panic!("expected Invalid");
    };
    assert_eq!(problems.len(), 4, "{problems:#?}");
    let text = err.to_string();
    assert!(
        text.starts_with("invalid configuration (4 problems):"),
        "{text}"
    );
    for needle in [
        "log.level",
        "engine.type",
        "client.ping_interval",
        "channel.namespaces[0].name",
    ] {
        assert!(text.contains(needle), "{text}");
    }
}
