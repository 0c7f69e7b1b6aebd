//! Channel names, namespaces and per-namespace options (spec §6).

use crate::error::ClientError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Recovery mode of recoverable subscriptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Recover every missed publication from the stream.
    #[default]
    Stream,
    /// Recover only the latest publication.
    Cache,
}

/// What publication payloads a channel accepts (`publication_data_format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataFormat {
    /// Any non-empty payload (Centrifugo's default, `""`).
    #[default]
    NonEmpty,
    /// A valid JSON document (`json`).
    Json,
    /// A JSON object (`json_object`).
    JsonObject,
    /// Any bytes, empty included (`binary`).
    Binary,
}

impl DataFormat {
    /// Whether `data` is acceptable.
    pub fn accepts(self, data: &[u8]) -> bool {
        match self {
            Self::NonEmpty => !data.is_empty(),
            Self::Binary => true,
            Self::Json => serde_json::from_slice::<Box<serde_json::value::RawValue>>(data).is_ok(),
            Self::JsonObject => {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data).is_ok()
            }
        }
    }
}

/// The runtime options of one namespace (or of channels without a namespace).
///
/// Deliberately separate from the server's serde config struct
/// (`chorus_server::config::ChannelOptions`): that one mirrors Centrifugo's file
/// format (Go duration strings, strings for enums, proxy names, experimental
/// fields); this one is what the engine acts on (typed durations, a compiled
/// regex, an enum recovery mode) and has no serde or file-format dependency.
/// The server converts one into the other once, at start-up.
///
/// Mirrors Centrifugo v6's channel options; every flag defaults to off, so by
/// default a client can do nothing in a channel without a token or handler.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
#[allow(clippy::struct_excessive_bools)]
pub struct ChannelOptions {
    /// Keep presence information.
    pub presence: bool,
    /// Emit join/leave events.
    pub join_leave: bool,
    /// Push join/leave to every subscriber (not only those asking).
    pub force_push_join_leave: bool,
    /// Publications kept in history (0: no history).
    pub history_size: usize,
    /// How long publications stay in history.
    pub history_ttl: Duration,
    /// How long stream meta (epoch, top offset) outlives activity.
    pub history_meta_ttl: Duration,
    /// Every subscription is positioned.
    pub force_positioning: bool,
    /// Clients may ask for positioning.
    pub allow_positioning: bool,
    /// Every subscription is recoverable.
    pub force_recovery: bool,
    /// Clients may ask for recovery.
    pub allow_recovery: bool,
    /// Recovery mode.
    pub recovery_mode: RecoveryMode,
    /// Cache mode: deliver the latest publication on subscribe even when the
    /// client sends no position (`auto_cache_recover`).
    pub auto_cache_recover: bool,
    /// Subscribers may negotiate Fossil delta compression
    /// (`allowed_delta_types: ["fossil"]`).
    pub allow_delta_fossil: bool,
    /// Every publication is a delta candidate (`delta_publish`); otherwise only
    /// those published with `delta: true`.
    pub delta_publish: bool,
    /// Subscribers may send a tags filter (`allow_tags_filter`).
    pub allow_tags_filter: bool,
    /// Accepted publication payloads (`publication_data_format`).
    pub data_format: DataFormat,
    /// Authenticated clients may subscribe.
    pub allow_subscribe_for_client: bool,
    /// Anonymous clients may subscribe too (with `allow_subscribe_for_client`).
    pub allow_subscribe_for_anonymous: bool,
    /// Any authenticated client may publish.
    pub allow_publish_for_client: bool,
    /// Subscribers may publish.
    pub allow_publish_for_subscriber: bool,
    /// Anonymous clients may publish (with one of the above).
    pub allow_publish_for_anonymous: bool,
    /// Any authenticated client may query presence.
    pub allow_presence_for_client: bool,
    /// Subscribers may query presence.
    pub allow_presence_for_subscriber: bool,
    /// Anonymous clients may query presence.
    pub allow_presence_for_anonymous: bool,
    /// Any authenticated client may query history.
    pub allow_history_for_client: bool,
    /// Subscribers may query history.
    pub allow_history_for_subscriber: bool,
    /// Anonymous clients may query history.
    pub allow_history_for_anonymous: bool,
    /// `chan#42,43` channels restrict subscribers to the listed users.
    pub allow_user_limited_channels: bool,
    /// The part after `ns:` must match this regex in client subscribe, publish,
    /// presence and history (else 107); without one the name must be ASCII.
    pub channel_regex: Option<regex::Regex>,
    /// Client publishes per user in this namespace, across all of the user's
    /// connections on the node (a Chorus extension; `None`: unlimited). Refused
    /// publishes get error 111. Anonymous clients are limited per connection.
    pub publish_throttle_per_user: Option<crate::limits::RateBucket>,
    /// Client publishes per channel, across all publishers on the node (a
    /// Chorus extension; `None`: unlimited). Refused publishes get error 111.
    pub publish_throttle_per_channel: Option<crate::limits::RateBucket>,
}

impl ChannelOptions {
    /// Whether history is on.
    pub fn history_enabled(&self) -> bool {
        self.history_size > 0 && !self.history_ttl.is_zero()
    }
}

/// Naming rules and the namespace table.
#[derive(Debug, Clone)]
pub struct ChannelRules {
    /// Options of channels without a namespace.
    pub without_namespace: Arc<ChannelOptions>,
    /// Namespaces by name.
    pub namespaces: HashMap<String, Arc<ChannelOptions>>,
    /// Longest channel name (default 255).
    pub max_length: usize,
    /// Private channel prefix (default `$`).
    pub private_prefix: String,
    /// Namespace boundary (default `:`).
    pub namespace_boundary: String,
    /// User boundary (default `#`).
    pub user_boundary: String,
    /// User separator (default `,`).
    pub user_separator: String,
}

impl Default for ChannelRules {
    fn default() -> Self {
        Self {
            without_namespace: Arc::default(),
            namespaces: HashMap::new(),
            max_length: 255,
            private_prefix: "$".into(),
            namespace_boundary: ":".into(),
            user_boundary: "#".into(),
            user_separator: ",".into(),
        }
    }
}

/// A channel name resolved against the rules.
#[derive(Debug, Clone)]
pub struct ResolvedChannel {
    /// The namespace (empty when none).
    pub namespace: String,
    /// The options that apply.
    pub options: Arc<ChannelOptions>,
}

impl ChannelRules {
    /// Finds the options for `channel`.
    ///
    /// # Errors
    /// [`ClientError::UnknownChannel`] for an unconfigured namespace,
    /// [`ClientError::BadRequest`] for an empty or over-long name.
    pub fn resolve(&self, channel: &str) -> Result<ResolvedChannel, ClientError> {
        if channel.is_empty() || channel.len() > self.max_length {
            return Err(ClientError::BadRequest);
        }
        let rest = channel
            .strip_prefix(self.private_prefix.as_str())
            .unwrap_or(channel);
        match rest.split_once(self.namespace_boundary.as_str()) {
            Some((ns, _)) => self
                .namespaces
                .get(ns)
                .map(|o| ResolvedChannel {
                    namespace: ns.to_owned(),
                    options: Arc::clone(o),
                })
                .ok_or(ClientError::UnknownChannel),
            None => Ok(ResolvedChannel {
                namespace: String::new(),
                options: Arc::clone(&self.without_namespace),
            }),
        }
    }

    /// [`resolve`](Self::resolve) plus the name rule Centrifugo applies to
    /// client commands (subscribe, publish, presence, presence stats,
    /// history): with a `channel_regex` the part after the namespace boundary
    /// must match it, without one the whole name must be ASCII. The server API
    /// does not apply it.
    ///
    /// # Errors
    /// As `resolve`, and [`ClientError::BadRequest`] for a name the rule refuses.
    pub fn resolve_for_client(&self, channel: &str) -> Result<ResolvedChannel, ClientError> {
        let resolved = self.resolve(channel)?;
        let valid = match &resolved.options.channel_regex {
            Some(re) => re.is_match(self.name_in_namespace(channel)),
            None => channel.is_ascii(),
        };
        if valid {
            Ok(resolved)
        } else {
            Err(ClientError::BadRequest)
        }
    }

    /// Whether `channel` starts with the private prefix.
    pub fn is_private(&self, channel: &str) -> bool {
        !self.private_prefix.is_empty() && channel.starts_with(self.private_prefix.as_str())
    }

    /// The users allowed in a user-limited channel (`chan#42,43`), if it is one.
    pub fn limited_users<'a>(&self, channel: &'a str) -> Option<impl Iterator<Item = &'a str>> {
        let (_, users) = channel.rsplit_once(self.user_boundary.as_str())?;
        let sep = self.user_separator.clone();
        Some(
            users
                .split(move |c: char| sep.contains(c))
                .filter(|u| !u.is_empty()),
        )
    }

    /// The part of the name after the namespace boundary (what `channel_regex` matches).
    pub fn name_in_namespace<'a>(&self, channel: &'a str) -> &'a str {
        let rest = channel
            .strip_prefix(self.private_prefix.as_str())
            .unwrap_or(channel);
        rest.split_once(self.namespace_boundary.as_str())
            .map_or(rest, |(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ChannelRules {
        let mut r = ChannelRules::default();
        r.namespaces.insert(
            "chat".into(),
            Arc::new(ChannelOptions {
                presence: true,
                ..Default::default()
            }),
        );
        r
    }

    #[test]
    fn resolves_namespaces() {
        let r = rules();
        assert_eq!(r.resolve("chat:room").unwrap().namespace, "chat");
        assert!(r.resolve("chat:room").unwrap().options.presence);
        assert_eq!(r.resolve("$chat:secret").unwrap().namespace, "chat");
        assert_eq!(r.resolve("plain").unwrap().namespace, "");
        assert_eq!(
            r.resolve("nope:x").unwrap_err(),
            ClientError::UnknownChannel
        );
        assert_eq!(
            r.resolve(&"x".repeat(256)).unwrap_err(),
            ClientError::BadRequest
        );
        assert_eq!(r.name_in_namespace("$chat:a:b"), "a:b");
    }

    #[test]
    fn client_names_are_ascii_unless_a_regex_decides() {
        let mut r = rules();
        r.namespaces.insert(
            "intl".into(),
            Arc::new(ChannelOptions {
                channel_regex: Some(regex::Regex::new(r"^[\p{L}0-9]+$").unwrap()),
                ..Default::default()
            }),
        );
        assert!(r.resolve_for_client("chat:room").is_ok());
        // The API path accepts any name; client commands refuse non-ASCII.
        assert!(r.resolve("chat:комната").is_ok());
        for name in ["chat:комната", "café", "chat:😀"] {
            assert_eq!(
                r.resolve_for_client(name).unwrap_err(),
                ClientError::BadRequest,
                "{name}"
            );
        }
        assert!(r.resolve_for_client("intl:комната").is_ok());
        assert_eq!(
            r.resolve_for_client("intl:a-b").unwrap_err(),
            ClientError::BadRequest
        );
        assert_eq!(
            r.resolve_for_client("nope:x").unwrap_err(),
            ClientError::UnknownChannel
        );
    }

    #[test]
    fn user_limited_channels() {
        let r = rules();
        let users: Vec<_> = r.limited_users("dialog#42,43").unwrap().collect();
        assert_eq!(users, ["42", "43"]);
        assert!(r.limited_users("public").is_none());
        assert!(r.is_private("$secret"));
    }
}
