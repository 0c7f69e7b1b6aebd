//! Assembling a node from the configuration: the node configuration (client
//! limits and timers, channel rules per namespace), the JWT verifiers, the
//! backends and the proxy hooks.

use crate::auth::JwtTokens;
use crate::config::{
    ChannelConfig, Choice, DeltaType, ForceRecoveryMode, GoDuration, NamespaceOptions,
    PublicationDataFormat, ServerConfig,
};
use chorus_node::{
    ChannelOptions, ChannelRules, ClientConfig, DataFormat, Node, NodeConfig, RecoveryMode,
};
use std::sync::Arc;
use std::time::Duration;

fn dur(d: GoDuration) -> Duration {
    d.to_std().unwrap_or_default()
}

fn data_format(format: PublicationDataFormat) -> DataFormat {
    match format {
        PublicationDataFormat::Unset => DataFormat::NonEmpty,
        PublicationDataFormat::Json => DataFormat::Json,
        PublicationDataFormat::JsonObject => DataFormat::JsonObject,
        PublicationDataFormat::Binary => DataFormat::Binary,
    }
}

/// The engine's options of one namespace; `ch` gives what a namespace
/// inherits (history meta TTL, publication data format).
fn channel_options(o: &NamespaceOptions, ch: &ChannelConfig) -> ChannelOptions {
    let mut out = ChannelOptions::default();
    out.presence = o.presence;
    out.join_leave = o.join_leave;
    out.force_push_join_leave = o.force_push_join_leave;
    out.history_size = usize::try_from(o.history_size).unwrap_or(usize::MAX);
    out.history_ttl = dur(o.history_ttl);
    out.history_meta_ttl = dur(o.effective_history_meta_ttl(ch.history_meta_ttl));
    out.force_positioning = o.force_positioning;
    out.allow_positioning = o.allow_positioning;
    out.force_recovery = o.force_recovery;
    out.allow_recovery = o.allow_recovery;
    out.recovery_mode = match o.force_recovery_mode.value() {
        ForceRecoveryMode::Stream => RecoveryMode::Stream,
        ForceRecoveryMode::Cache => RecoveryMode::Cache,
    };
    out.auto_cache_recover = o.auto_cache_recover;
    out.allow_delta_fossil = o
        .allowed_delta_types
        .contains(&Choice::Known(DeltaType::Fossil));
    out.delta_publish = o.delta_publish;
    out.allow_tags_filter = o.allow_tags_filter;
    out.data_format = data_format(o.effective_data_format(&ch.publication_data_format));
    out.allow_subscribe_for_client = o.allow_subscribe_for_client;
    out.allow_subscribe_for_anonymous = o.allow_subscribe_for_anonymous;
    out.allow_publish_for_client = o.allow_publish_for_client;
    out.allow_publish_for_subscriber = o.allow_publish_for_subscriber;
    out.allow_publish_for_anonymous = o.allow_publish_for_anonymous;
    out.allow_presence_for_client = o.allow_presence_for_client;
    out.allow_presence_for_subscriber = o.allow_presence_for_subscriber;
    out.allow_presence_for_anonymous = o.allow_presence_for_anonymous;
    out.allow_history_for_client = o.allow_history_for_client;
    out.allow_history_for_subscriber = o.allow_history_for_subscriber;
    out.allow_history_for_anonymous = o.allow_history_for_anonymous;
    out.allow_user_limited_channels = o.allow_user_limited_channels;
    out.channel_regex = o.channel_regex.regex().cloned();
    out.publish_throttle_per_user = throttle_bucket(&o.publish_throttle.per_user);
    out.publish_throttle_per_channel = throttle_bucket(&o.publish_throttle.per_channel);
    out
}

/// A `publish_throttle` bucket; `None` when off (rate 0). Validation already
/// checked the interval and the rate's range.
fn throttle_bucket(b: &crate::config::BucketConfig) -> Option<chorus_node::RateBucket> {
    let rate = u32::try_from(b.rate).ok().filter(|&r| r > 0)?;
    Some(chorus_node::RateBucket {
        interval: b.interval.to_std().filter(|d| !d.is_zero())?,
        rate,
    })
}

/// The engine configuration for a (validated) server configuration.
pub fn node_config(cfg: &ServerConfig) -> NodeConfig {
    let c = &cfg.client;
    let mut client = ClientConfig::default();
    client.ping_interval = cfg.client.ping_interval.to_std().filter(|d| !d.is_zero());
    client.pong_timeout = dur(c.pong_timeout);
    client.stale_close_delay = dur(c.stale_close_delay);
    client.expired_close_delay = dur(c.expired_close_delay);
    client.expired_sub_close_delay = dur(c.expired_sub_close_delay);
    client.channel_limit = usize::try_from(c.channel_limit).unwrap_or(usize::MAX);
    client.queue_max_size = usize::try_from(c.queue_max_size).unwrap_or(usize::MAX);
    client.presence_update_interval = dur(c.presence_update_interval);
    client.history_max_publication_limit =
        usize::try_from(c.history_max_publication_limit).unwrap_or(usize::MAX);
    client.recovery_max_publication_limit =
        usize::try_from(c.recovery_max_publication_limit).unwrap_or(usize::MAX);
    client.channel_position_check_delay = dur(c.channel_position_check_delay);
    client.channel_position_max_time_lag = dur(c.channel_position_max_time_lag);
    client.insecure = c.insecure;
    client.allow_anonymous_connect_without_token = c.allow_anonymous_connect_without_token;
    client.disallow_anonymous_connection_tokens = c.disallow_anonymous_connection_tokens;
    client.connect_include_server_time = c.connect_include_server_time;
    client.connection_limit = usize::try_from(c.connection_limit).unwrap_or(usize::MAX);
    client.user_connection_limit = usize::try_from(c.user_connection_limit).unwrap_or(usize::MAX);
    client.command_rate_limit = c.rate_limit.client_command.to_engine();

    let ch = &cfg.channel;
    let channels = ChannelRules {
        without_namespace: Arc::new(channel_options(&ch.without_namespace, ch)),
        namespaces: ch
            .namespaces
            .iter()
            .map(|ns| (ns.name.clone(), Arc::new(channel_options(&ns.options, ch))))
            .collect(),
        max_length: usize::try_from(ch.max_length).unwrap_or(usize::MAX),
        private_prefix: ch.private_prefix.clone(),
        namespace_boundary: ch.namespace_boundary.clone(),
        user_boundary: ch.user_boundary.clone(),
        user_separator: ch.user_separator.clone(),
    };

    let mut node = NodeConfig::default();
    node.name = if cfg.node.name.is_empty() {
        default_node_name(cfg.http_server.port)
    } else {
        cfg.node.name.clone()
    };
    node.client = client;
    node.channels = channels;
    node
}

/// Why a node cannot be built from a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeSetupError {
    /// Token keys that cannot be used.
    #[error(transparent)]
    Token(#[from] crate::auth::JwtConfigError),
    /// The configured engine is not part of this build.
    #[error(
        "engine.type {0:?} is not available in this version of chorus (only \"memory\" and \"redis\" are); refusing to start rather than silently running on a single-node memory engine"
    )]
    Unavailable(String),
    /// A proxy that cannot be set up.
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyBuildError),
    /// The configured broker or presence manager cannot be built.
    #[error(transparent)]
    Backend(#[from] crate::backends::BackendConfigError),
}

/// Builds the node for a configuration: memory or Redis engine, or the
/// separate `broker` / `presence_manager` sections (see [`crate::backends`]).
///
/// # Errors
/// Token keys that cannot be used; an unknown engine type or unsupported/// Centrifugo's default node name: `<hostname>_<http_server.port>`, with `?`
/// for a hostname that cannot be read.
pub fn default_node_name(port: u16) -> String {
    format!("{}_{port}", hostname().unwrap_or_else(|| "?".to_owned()))
}

/// The host name, from the kernel (Linux) or `/etc/hostname`, without a
/// platform call (the crate has no `unsafe` and no libc binding).
fn hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
}

/// backend options.
pub fn build_node(cfg: &ServerConfig) -> Result<Node, NodeSetupError> {
    if let Some(text) = cfg.engine.kind.unknown() {
        return Err(NodeSetupError::Unavailable(text.to_owned()));
    }
    let tokens = JwtTokens::from_config(cfg)?;
    let node_config = node_config(cfg);
    // The proxies route channels by the same rules the node applies.
    let rules = node_config.channels.clone();
    let builder = Node::builder(node_config).token_verifier(tokens);
    let builder = crate::backends::with_backends(builder, cfg)?;
    let builder = crate::auth::user_header::install(builder, cfg);
    Ok(crate::proxy::install(builder, cfg, rules)?.build())
}
