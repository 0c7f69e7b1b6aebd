//! The `channel` section: channel options and namespaces.

use serde::{Deserialize, Serialize};

use super::{
    Choice, DeltaType, ForceRecoveryMode, GoDuration, Pattern, PublicationDataFormat,
    SubscriptionType,
};

/// Options of one channel namespace (or of channels without a namespace).
///
/// Every option of Centrifugo v6 that is not PRO-only. All default to
/// `false` / `0` / `""`: by default a client can do nothing in a channel
/// without a token, a proxy or an explicit `allow_*` option.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NamespaceOptions {
    /// Enable presence.
    pub presence: bool,
    /// Emit join/leave events.
    pub join_leave: bool,
    /// Push join/leave to all subscribers.
    pub force_push_join_leave: bool,
    /// Publications kept in history (needs `history_ttl`).
    pub history_size: u64,
    /// How long history is kept (needs `history_size`), second precision.
    pub history_ttl: GoDuration,
    /// History meta (stream epoch/offset) TTL; 0 inherits `channel.history_meta_ttl`.
    pub history_meta_ttl: GoDuration,
    /// Force positioned subscriptions (needs history).
    pub force_positioning: bool,
    /// Allow clients to ask for positioning (needs history).
    pub allow_positioning: bool,
    /// Force recoverable subscriptions (needs history).
    pub force_recovery: bool,
    /// Allow clients to ask for recovery (needs history).
    pub allow_recovery: bool,
    /// `stream` (default when empty) or `cache`.
    pub force_recovery_mode: Choice<ForceRecoveryMode>,
    /// Recover from cache automatically (needs `force_recovery` and `cache` mode).
    pub auto_cache_recover: bool,
    /// Authenticated clients may subscribe.
    pub allow_subscribe_for_client: bool,
    /// Anonymous clients may subscribe (with `allow_subscribe_for_client`).
    pub allow_subscribe_for_anonymous: bool,
    /// Clients may publish.
    pub allow_publish_for_client: bool,
    /// Subscribers may publish.
    pub allow_publish_for_subscriber: bool,
    /// Anonymous clients may publish.
    pub allow_publish_for_anonymous: bool,
    /// Clients may query presence.
    pub allow_presence_for_client: bool,
    /// Subscribers may query presence.
    pub allow_presence_for_subscriber: bool,
    /// Anonymous clients may query presence.
    pub allow_presence_for_anonymous: bool,
    /// Clients may query history.
    pub allow_history_for_client: bool,
    /// Subscribers may query history.
    pub allow_history_for_subscriber: bool,
    /// Anonymous clients may query history.
    pub allow_history_for_anonymous: bool,
    /// Allow `channel#user1,user2` user-limited channels.
    pub allow_user_limited_channels: bool,
    /// Regex the channel name (after `ns:`) must match.
    pub channel_regex: Pattern,
    /// Allowed delta compression types; only `fossil`.
    pub allowed_delta_types: Vec<Choice<DeltaType>>,
    /// Mark all publications as delta candidates.
    pub delta_publish: bool,
    /// Allow publication tag filters.
    pub allow_tags_filter: bool,
    /// `""` (the `channel` section's format), `json`, `json_object` or `binary`.
    pub publication_data_format: Choice<PublicationDataFormat>,
    /// Use the subscribe proxy.
    pub subscribe_proxy_enabled: bool,
    /// Name of the subscribe proxy.
    pub subscribe_proxy_name: String,
    /// Use the publish proxy.
    pub publish_proxy_enabled: bool,
    /// Name of the publish proxy.
    pub publish_proxy_name: String,
    /// Use the sub refresh proxy.
    pub sub_refresh_proxy_enabled: bool,
    /// Name of the sub refresh proxy.
    pub sub_refresh_proxy_name: String,
    /// Use the subscribe stream proxy (experimental).
    pub subscribe_stream_proxy_enabled: bool,
    /// Name of the subscribe stream proxy.
    pub subscribe_stream_proxy_name: String,
    /// Bidirectional subscribe stream proxy.
    pub subscribe_stream_proxy_bidirectional: bool,
    /// `stream` (default when empty), `map`, `map_clients`, `map_users`, `shared_poll`.
    pub subscription_type: Choice<SubscriptionType>,
    /// Map subscription options (experimental, free-form).
    pub map: serde_json::Map<String, serde_json::Value>,
    /// Shared poll options (experimental, free-form).
    pub shared_poll: serde_json::Map<String, serde_json::Value>,
    /// Presence channel prefix for `map_clients` subscriptions.
    pub map_clients_presence_channel_prefix: String,
    /// Presence channel prefix for `map_users` subscriptions.
    pub map_users_presence_channel_prefix: String,
    /// `publish_throttle`: node-wide client publish throttling (a Chorus
    /// extension; off by default).
    pub publish_throttle: PublishThrottleConfig,
}

/// `publish_throttle` of a namespace (a Chorus extension): token buckets for
/// client publishes (not server API publishes), shared by all connections on a
/// node. A refused publish gets error 111 (too many requests).
///
/// ```json
/// {"publish_throttle": {"per_user": {"rate": 10, "interval": "1s"},
///                       "per_channel": {"rate": 100, "interval": "1s"}}}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PublishThrottleConfig {
    /// Publishes per user in the namespace (anonymous clients: per connection);
    /// `rate` 0 turns it off.
    pub per_user: super::BucketConfig,
    /// Publishes per channel, by all publishers together; `rate` 0 turns it off.
    pub per_channel: super::BucketConfig,
}

impl PublishThrottleConfig {
    /// Problems with the settings (`key` is the option's dotted path).
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (name, b) in [
            ("per_user", &self.per_user),
            ("per_channel", &self.per_channel),
        ] {
            if b.rate > 0 && b.interval <= GoDuration::ZERO {
                out.push(format!(
                    "{key}.{name}.interval: must be positive when rate is set"
                ));
            }
            if u32::try_from(b.rate).is_err() {
                out.push(format!("{key}.{name}.rate: must be at most 4294967295"));
            }
        }
        out
    }
}

impl NamespaceOptions {
    /// `true` when history is on (both size and TTL set).
    pub fn history_enabled(&self) -> bool {
        self.history_size > 0 && self.history_ttl > GoDuration::ZERO
    }

    /// The history meta TTL in effect: this namespace's own, else `global`
    /// (`channel.history_meta_ttl`).
    pub fn effective_history_meta_ttl(&self, global: GoDuration) -> GoDuration {
        if self.history_meta_ttl.is_zero() {
            global
        } else {
            self.history_meta_ttl
        }
    }

    /// The publication data format in effect: this namespace's own, else
    /// `global` (`channel.publication_data_format`).
    pub fn effective_data_format(
        &self,
        global: &Choice<PublicationDataFormat>,
    ) -> PublicationDataFormat {
        match self.publication_data_format.value() {
            PublicationDataFormat::Unset => global.value(),
            own => own,
        }
    }
}

/// One entry of `channel.namespaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelNamespace {
    /// Namespace name (`^[-a-zA-Z0-9_.]{2,}$`, unique).
    pub name: String,
    /// Options of channels in this namespace.
    #[serde(flatten)]
    pub options: NamespaceOptions,
}

/// `channel`: channel naming and options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelConfig {
    /// Options of channels without a namespace.
    pub without_namespace: NamespaceOptions,
    /// Named namespaces.
    pub namespaces: Vec<ChannelNamespace>,
    /// Default history meta TTL. Default 720h.
    pub history_meta_ttl: GoDuration,
    /// Max channel name length. Default 255.
    pub max_length: u64,
    /// Private channel prefix. Default `$`.
    pub private_prefix: String,
    /// Namespace boundary. Default `:`.
    pub namespace_boundary: String,
    /// User boundary. Default `#`.
    pub user_boundary: String,
    /// User separator in user-limited channels. Default `,`.
    pub user_separator: String,
    /// Global publication data format (`""`: any non-empty payload, `json`,
    /// `json_object`, `binary`).
    pub publication_data_format: Choice<PublicationDataFormat>,
    /// `proxy`: the default subscribe, publish and sub_refresh proxies.
    pub proxy: super::proxy::ChannelProxyConfig,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            without_namespace: NamespaceOptions::default(),
            namespaces: Vec::new(),
            history_meta_ttl: GoDuration::from_hours(720),
            max_length: 255,
            private_prefix: "$".to_owned(),
            namespace_boundary: ":".to_owned(),
            user_boundary: "#".to_owned(),
            user_separator: ",".to_owned(),
            publication_data_format: Choice::default(),
            proxy: super::proxy::ChannelProxyConfig::default(),
        }
    }
}

impl ChannelConfig {
    /// Options for a namespace name; `""` means channels without namespace.
    /// `None` when the namespace is not configured.
    pub fn namespace_options(&self, name: &str) -> Option<&NamespaceOptions> {
        if name.is_empty() {
            return Some(&self.without_namespace);
        }
        self.namespaces
            .iter()
            .find(|ns| ns.name == name)
            .map(|ns| &ns.options)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigFormat, ServerConfig};

    fn load(throttle: &str) -> ServerConfig {
        let text = format!(
            r#"{{"channel": {{"namespaces": [{{"name": "chat", "publish_throttle": {throttle}}}]}}}}"#
        );
        let loaded = ServerConfig::from_str_format(&text, ConfigFormat::Json).unwrap();
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        loaded.config
    }

    #[test]
    fn publish_throttle_loads_maps_and_validates() {
        let cfg =
            load(r#"{"per_user": {"rate": 5, "interval": "2s"}, "per_channel": {"rate": 50}}"#);
        cfg.validate().unwrap();
        let node = crate::node_setup::node_config(&cfg);
        let chat = &node.channels.namespaces["chat"];
        let per_user = chat.publish_throttle_per_user.unwrap();
        assert_eq!((per_user.rate, per_user.interval.as_secs()), (5, 2));
        let per_channel = chat.publish_throttle_per_channel.unwrap();
        assert_eq!((per_channel.rate, per_channel.interval.as_secs()), (50, 1));
        assert!(
            node.channels
                .without_namespace
                .publish_throttle_per_user
                .is_none()
        );

        let bad = load(r#"{"per_user": {"rate": 5, "interval": "0s"}}"#);
        let problems = bad.validate().unwrap_err().problems();
        assert!(
            problems.iter().any(|p| p
                == "channel.namespaces[0] (chat).publish_throttle.per_user.interval: must be positive when rate is set"),
            "{problems:?}"
        );
        load(r#"{"per_user": {"rate": 0, "interval": "0s"}}"#)
            .validate()
            .unwrap();
    }
}
