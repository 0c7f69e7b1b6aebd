//! Semantic validation: every problem is collected, none stops the others.

use std::collections::HashSet;

use regex::Regex;

use super::{
    Choice, EngineType, ForceRecoveryMode, GoDuration, InternalPort, LogLevel, Named,
    NamespaceOptions, PublicationDataFormat, ServerConfig, SubscriptionType, TokenConfig,
};

/// Namespace name rule used by Centrifugo's code (the docs omit the dot).
const NAMESPACE_NAME_PATTERN: &str = "^[-a-zA-Z0-9_.]{2,}$";
/// `user_id_claim` rule.
const USER_ID_CLAIM_PATTERN: &str = "^[a-zA-Z_]+$";

pub(super) fn problems(config: &ServerConfig) -> Vec<String> {
    let mut p = Problems::default();
    check_top(config, &mut p);
    check_client(config, &mut p);
    check_token(&config.client.token, "client.token", &mut p);
    if config.client.subscription_token.enabled {
        check_token(
            &config.client.subscription_token.token,
            "client.subscription_token",
            &mut p,
        );
    }
    check_channels(config, &mut p);
    check_rpc(config, &mut p);
    check_engine(config, &mut p);
    p.0.extend(super::broker::problems(config));
    p.0.extend(super::grpc::problems(&config.grpc_api, &config.uni_grpc));
    p.0.extend(super::proxy::problems(config));
    p.0.extend(super::transports::problems(config));
    p.0.extend(super::consumers::problems(&config.consumers));
    p.0.extend(super::unsupported::problems(config));
    p.0
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }
}

fn check_top(config: &ServerConfig, p: &mut Problems) {
    if let Some(text) = config.log.level.unknown() {
        let names: Vec<&str> = LogLevel::NAMES.iter().map(|&(name, _)| name).collect();
        p.push(format!(
            "log.level: unknown level {text:?} (expected one of {})",
            names.join(", ")
        ));
    }
    if let InternalPort::Invalid(text) = &config.http_server.internal_port {
        p.push(format!(
            "http_server.internal_port: {text:?} is not a port number"
        ));
    }
    for (key, prefix) in [
        ("http_api.handler_prefix", &config.http_api.handler_prefix),
        ("websocket.handler_prefix", &config.websocket.handler_prefix),
        ("admin.handler_prefix", &config.admin.handler_prefix),
        (
            "prometheus.handler_prefix",
            &config.prometheus.handler_prefix,
        ),
        ("health.handler_prefix", &config.health.handler_prefix),
    ] {
        if !prefix.is_empty() && !prefix.starts_with('/') {
            p.push(format!("{key}: {prefix:?} must start with \"/\""));
        }
    }
    if let Some(text) = config.http_api.error_mode.unknown() {
        p.push(format!(
            "http_api.error_mode: unknown mode {text:?} (expected \"\" or \"transport\")"
        ));
    }
    if !(-2..=9).contains(&config.websocket.compression_level) {
        p.push(format!(
            "websocket.compression_level: {} is out of range -2..9",
            config.websocket.compression_level
        ));
    }
    non_negative(p, "websocket.write_timeout", config.websocket.write_timeout);
    non_negative(p, "shutdown.timeout", config.shutdown.timeout);
    if !config.admin.web_path.is_empty() || !config.admin.web_proxy_address.is_empty() {
        p.push(
            "admin.web_path / admin.web_proxy_address: not supported (the admin UI is embedded)",
        );
    }
    if config.admin.enabled && !config.admin.insecure {
        if config.admin.password.is_empty() {
            p.push("admin.password: required when admin is enabled (or set admin.insecure)");
        }
        if config.admin.secret.is_empty() {
            p.push("admin.secret: required when admin is enabled (or set admin.insecure)");
        }
    }
}

fn non_negative(p: &mut Problems, key: &str, d: GoDuration) {
    if d.is_negative() {
        p.push(format!("{key}: must not be negative (got {d})"));
    }
}

fn check_client(config: &ServerConfig, p: &mut Problems) {
    let c = &config.client;
    for problem in c.rate_limit.client_command.problems() {
        p.push(problem);
    }
    if !c.ping_interval.is_negative() && !c.pong_timeout.is_negative() {
        if c.ping_interval.is_zero() {
            p.push(
                "client.ping_interval: must be positive (use a negative value to disable pings)",
            );
        } else if c.ping_interval <= c.pong_timeout {
            p.push(format!(
                "client.ping_interval ({}) must be greater than client.pong_timeout ({})",
                c.ping_interval, c.pong_timeout
            ));
        }
    }
    for (key, d) in [
        ("client.expired_close_delay", c.expired_close_delay),
        ("client.expired_sub_close_delay", c.expired_sub_close_delay),
        ("client.stale_close_delay", c.stale_close_delay),
        (
            "client.presence_update_interval",
            c.presence_update_interval,
        ),
        (
            "client.channel_position_check_delay",
            c.channel_position_check_delay,
        ),
        (
            "client.channel_position_max_time_lag",
            c.channel_position_max_time_lag,
        ),
    ] {
        non_negative(p, key, d);
    }
    if c.presence_update_interval.is_zero() {
        p.push("client.presence_update_interval: must be positive");
    }
    for origin in &c.allowed_origins {
        if origin.is_empty() {
            p.push("client.allowed_origins: contains an empty pattern");
        }
    }
    let personal = &c.subscribe_to_user_personal_channel;
    if personal.enabled {
        let ns = &personal.personal_channel_namespace;
        match config.channel.namespace_options(ns) {
            None => p.push(format!(
                "client.subscribe_to_user_personal_channel.personal_channel_namespace: namespace {ns:?} is not defined in channel.namespaces"
            )),
            Some(opts) if personal.single_connection && !opts.presence => p.push(format!(
                "client.subscribe_to_user_personal_channel.single_connection requires presence enabled in {}",
                if ns.is_empty() { "channel.without_namespace".to_owned() } else { format!("namespace {ns:?}") }
            )),
            Some(_) => {}
        }
    }
}

fn check_token(t: &TokenConfig, key: &str, p: &mut Problems) {
    if !t.rsa_public_key.is_empty()
        && let Err(e) = crate::auth::parse_rsa_public_key(&t.rsa_public_key)
    {
        p.push(format!("{key}.rsa_public_key: {e}"));
    }
    if !t.ecdsa_public_key.is_empty()
        && let Err(e) = crate::auth::parse_ecdsa_public_key(&t.ecdsa_public_key)
    {
        p.push(format!("{key}.ecdsa_public_key: {e}"));
    }
    if !t.jwks_public_endpoint.is_empty() {
        match reqwest::Url::parse(&t.jwks_public_endpoint) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(_) => p.push(format!(
                "{key}.jwks_public_endpoint: {:?} must be an http:// or https:// URL",
                t.jwks_public_endpoint
            )),
            Err(e) => p.push(format!(
                "{key}.jwks_public_endpoint: {:?} is not a URL: {e}",
                t.jwks_public_endpoint
            )),
        }
    }
    if !t.audience.is_empty() && !t.audience_regex.as_str().is_empty() {
        p.push(format!(
            "{key}: audience and audience_regex can not be used together"
        ));
    }
    if !t.issuer.is_empty() && !t.issuer_regex.as_str().is_empty() {
        p.push(format!(
            "{key}: issuer and issuer_regex can not be used together"
        ));
    }
    for (name, pattern) in [
        ("audience_regex", &t.audience_regex),
        ("issuer_regex", &t.issuer_regex),
    ] {
        if let Some(e) = pattern.error() {
            p.push(format!("{key}.{name}: invalid regular expression: {e}"));
        }
    }
    if !t.user_id_claim.is_empty() && !matches_pattern(USER_ID_CLAIM_PATTERN, &t.user_id_claim) {
        p.push(format!(
            "{key}.user_id_claim: {:?} must match {USER_ID_CLAIM_PATTERN}",
            t.user_id_claim
        ));
    }
    if t.hmac_previous_secret_key_valid_until != 0 && t.hmac_previous_secret_key.is_empty() {
        p.push(format!(
            "{key}.hmac_previous_secret_key_valid_until is set but hmac_previous_secret_key is empty"
        ));
    }
    if t.hmac_previous_secret_key_valid_until < 0 {
        p.push(format!(
            "{key}.hmac_previous_secret_key_valid_until: must be a Unix timestamp, not negative"
        ));
    }
}

fn matches_pattern(pattern: &str, s: &str) -> bool {
    Regex::new(pattern).is_ok_and(|re| re.is_match(s))
}

fn check_channels(config: &ServerConfig, p: &mut Problems) {
    let ch = &config.channel;
    if ch.max_length == 0 {
        p.push("channel.max_length: must be positive");
    }
    for (key, sep) in [
        ("channel.private_prefix", &ch.private_prefix),
        ("channel.namespace_boundary", &ch.namespace_boundary),
        ("channel.user_boundary", &ch.user_boundary),
        ("channel.user_separator", &ch.user_separator),
    ] {
        if sep.is_empty() {
            p.push(format!("{key}: must not be empty"));
        }
    }
    non_negative(p, "channel.history_meta_ttl", ch.history_meta_ttl);
    check_data_format(
        p,
        "channel.publication_data_format",
        &ch.publication_data_format,
    );
    check_channel_options(
        &ch.without_namespace,
        "channel.without_namespace",
        ch.history_meta_ttl,
        p,
    );

    let name_re = Regex::new(NAMESPACE_NAME_PATTERN).ok();
    let mut seen = HashSet::new();
    for (i, ns) in ch.namespaces.iter().enumerate() {
        let key = format!("channel.namespaces[{i}]");
        if !name_re.as_ref().is_some_and(|re| re.is_match(&ns.name)) {
            p.push(format!(
                "{key}.name: {:?} must match {NAMESPACE_NAME_PATTERN}",
                ns.name
            ));
        }
        if !seen.insert(ns.name.as_str()) {
            p.push(format!(
                "{key}.name: namespace {:?} is defined more than once",
                ns.name
            ));
        }
        let label = if ns.name.is_empty() {
            key
        } else {
            format!("channel.namespaces[{i}] ({})", ns.name)
        };
        check_channel_options(&ns.options, &label, ch.history_meta_ttl, p);
    }
}

fn check_data_format(p: &mut Problems, key: &str, format: &Choice<PublicationDataFormat>) {
    if let Some(format) = format.unknown() {
        p.push(format!(
            "{key}: unknown format {format:?} (expected \"\", \"json\", \"json_object\" or \"binary\")"
        ));
    }
}

fn check_channel_options(
    o: &NamespaceOptions,
    key: &str,
    global_meta_ttl: GoDuration,
    p: &mut Problems,
) {
    if o.history_ttl.is_negative() {
        p.push(format!("{key}.history_ttl: must not be negative"));
    }
    if o.history_meta_ttl.is_negative() {
        p.push(format!("{key}.history_meta_ttl: must not be negative"));
    }
    let size_set = o.history_size > 0;
    let ttl_set = o.history_ttl > GoDuration::ZERO;
    if size_set != ttl_set {
        p.push(format!(
            "{key}: history_size and history_ttl must both be set or both be zero (history_size={}, history_ttl={})",
            o.history_size, o.history_ttl
        ));
    }
    if o.history_ttl.as_nanos() % 1_000_000_000 != 0 {
        p.push(format!(
            "{key}.history_ttl: {} must be a whole number of seconds",
            o.history_ttl
        ));
    }
    let meta_ttl = o.effective_history_meta_ttl(global_meta_ttl);
    if ttl_set && !meta_ttl.is_zero() && o.history_ttl > meta_ttl {
        p.push(format!(
            "{key}.history_ttl ({}) must not exceed the history meta TTL ({meta_ttl})",
            o.history_ttl
        ));
    }
    let history = o.history_enabled();
    for (name, on) in [
        ("force_recovery", o.force_recovery),
        ("allow_recovery", o.allow_recovery),
        ("force_positioning", o.force_positioning),
        ("allow_positioning", o.allow_positioning),
    ] {
        if on && !history {
            p.push(format!(
                "{key}.{name}: requires history (set history_size and history_ttl)"
            ));
        }
    }
    if let Some(text) = o.force_recovery_mode.unknown() {
        p.push(format!(
            "{key}.force_recovery_mode: unknown mode {text:?} (expected \"stream\" or \"cache\")"
        ));
    }
    let cache_mode = o.force_recovery_mode == Choice::Known(ForceRecoveryMode::Cache);
    if o.auto_cache_recover && !(o.force_recovery && cache_mode) {
        p.push(format!(
            "{key}.auto_cache_recover: requires force_recovery and force_recovery_mode \"cache\""
        ));
    }
    for t in &o.allowed_delta_types {
        if let Some(t) = t.unknown() {
            p.push(format!(
                "{key}.allowed_delta_types: unknown delta type {t:?} (only \"fossil\" is supported)"
            ));
        }
    }
    if !o.allowed_delta_types.is_empty() {
        if !history {
            p.push(format!("{key}.allowed_delta_types: requires history"));
        }
        if !(o.force_positioning || o.allow_positioning || o.force_recovery || o.allow_recovery) {
            p.push(format!(
                "{key}.allowed_delta_types: requires positioning or recovery (force_/allow_positioning or force_/allow_recovery)"
            ));
        }
    }
    if let Some(e) = o.channel_regex.error() {
        p.push(format!(
            "{key}.channel_regex: invalid regular expression: {e}"
        ));
    }
    check_data_format(
        p,
        &format!("{key}.publication_data_format"),
        &o.publication_data_format,
    );
    match &o.subscription_type {
        Choice::Known(SubscriptionType::Stream) => {}
        Choice::Known(kind) => p.push(format!(
            "{key}.subscription_type: {:?} is an experimental Centrifugo type that chorus does \
             not support (use \"stream\")",
            kind.name()
        )),
        Choice::Unknown(other) => {
            p.push(format!("{key}.subscription_type: unknown type {other:?}"));
        }
    }
    if o.subscribe_stream_proxy_enabled {
        p.push(format!(
            "{key}.subscribe_stream_proxy_enabled: subscription streams (experimental in \
             Centrifugo) are not supported by chorus"
        ));
    }
    for problem in o
        .publish_throttle
        .problems(&format!("{key}.publish_throttle"))
    {
        p.push(problem);
    }
    if o.allow_tags_filter && !o.allowed_delta_types.is_empty() {
        p.push(format!(
            "{key}: allow_tags_filter and allowed_delta_types are mutually exclusive (a filtered \
             subscriber skips publications that a delta would build on)"
        ));
    }
    if o.subscribe_stream_proxy_enabled
        && (o.subscribe_proxy_enabled || o.publish_proxy_enabled || o.sub_refresh_proxy_enabled)
    {
        p.push(format!(
            "{key}.subscribe_stream_proxy_enabled: can not be combined with other channel proxies"
        ));
    }
}

fn check_rpc(config: &ServerConfig, p: &mut Problems) {
    let rpc = &config.rpc;
    if rpc.namespace_boundary.is_empty() {
        p.push("rpc.namespace_boundary: must not be empty");
    }
    if rpc.ping.enabled && rpc.ping.method.is_empty() {
        p.push("rpc.ping.method: must not be empty when rpc.ping.enabled");
    }
    let name_re = Regex::new(NAMESPACE_NAME_PATTERN).ok();
    let mut seen = HashSet::new();
    for (i, ns) in rpc.namespaces.iter().enumerate() {
        if !name_re.as_ref().is_some_and(|re| re.is_match(&ns.name)) {
            p.push(format!(
                "rpc.namespaces[{i}].name: {:?} must match {NAMESPACE_NAME_PATTERN}",
                ns.name
            ));
        }
        if !seen.insert(ns.name.as_str()) {
            p.push(format!(
                "rpc.namespaces[{i}].name: namespace {:?} is defined more than once",
                ns.name
            ));
        }
    }
}

fn check_engine(config: &ServerConfig, p: &mut Problems) {
    let e = &config.engine;
    match &e.kind {
        Choice::Known(EngineType::Memory) => {}
        Choice::Known(EngineType::Redis) => {
            let r = &e.redis;
            let modes = [
                !r.address.is_empty(),
                !r.cluster_address.is_empty(),
                !r.sentinel_address.is_empty(),
            ];
            let count = modes.iter().filter(|m| **m).count();
            if count == 0 {
                p.push("engine.redis: set address, cluster_address or sentinel_address");
            }
            // The default `address` does not conflict with explicit cluster/sentinel.
            let default_address = r.address == super::RedisConfig::default().address;
            if count > 1 && !(count == 2 && default_address) {
                p.push("engine.redis: use only one of address, cluster_address, sentinel_address");
            }
            if !r.sentinel_address.is_empty() && r.sentinel_master_name.is_empty() {
                p.push("engine.redis.sentinel_master_name: required with sentinel_address");
            }
            for (key, list) in [
                ("address", &r.address),
                ("cluster_address", &r.cluster_address),
                ("sentinel_address", &r.sentinel_address),
            ] {
                for addr in list {
                    if let Err(msg) = check_redis_address(addr) {
                        p.push(format!("engine.redis.{key}: {addr:?}: {msg}"));
                    }
                }
            }
            if r.prefix.is_empty() {
                p.push("engine.redis.prefix: must not be empty");
            }
            if !r.connect_timeout.is_negative() && r.connect_timeout.is_zero() {
                p.push("engine.redis.connect_timeout: must be positive");
            }
            non_negative(p, "engine.redis.connect_timeout", r.connect_timeout);
            if !r.io_timeout.is_negative() && r.io_timeout.is_zero() {
                p.push("engine.redis.io_timeout: must be positive");
            }
            non_negative(p, "engine.redis.io_timeout", r.io_timeout);
        }
        Choice::Unknown(other) => p.push(format!(
            "engine.type: unknown engine {other:?} (expected \"memory\" or \"redis\")"
        )),
    }
}

fn check_redis_address(addr: &str) -> Result<(), &'static str> {
    if let Some(rest) = addr
        .strip_prefix("redis://")
        .or_else(|| addr.strip_prefix("rediss://"))
        .or_else(|| addr.strip_prefix("redis+sentinel://"))
        .or_else(|| addr.strip_prefix("rediss+sentinel://"))
    {
        let host = rest.rsplit('@').next().unwrap_or(rest);
        let host = host.split(['/', '?']).next().unwrap_or(host);
        return if host.is_empty() {
            Err("missing host")
        } else {
            Ok(())
        };
    }
    if let Some(rest) = addr.strip_prefix("unix://") {
        return if rest.is_empty() {
            Err("missing socket path")
        } else {
            Ok(())
        };
    }
    if addr.contains("://") {
        return Err("unsupported scheme (use redis://, rediss://, redis+sentinel:// or unix://)");
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err("expected host:port or a redis:// URL"),
    }
}
