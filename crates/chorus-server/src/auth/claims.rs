//! Token claim sets.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// A protobuf-style wrapped boolean, `{"value": true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoolValue {
    /// The value.
    #[serde(default)]
    pub value: bool,
}

/// Per-subscription overrides of channel options (`override` claim).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscribeOptionOverride {
    /// Override `presence`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<BoolValue>,
    /// Override `join_leave`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_leave: Option<BoolValue>,
    /// Override `force_push_join_leave`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_push_join_leave: Option<BoolValue>,
    /// Override `force_recovery`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_recovery: Option<BoolValue>,
    /// Override `force_positioning`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_positioning: Option<BoolValue>,
}

/// Options of one server-side subscription in a connection token's `subs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SubscribeOptions {
    /// Channel info (raw JSON).
    pub info: Option<Box<RawValue>>,
    /// Channel info as base64 binary.
    pub b64info: Option<String>,
    /// Data sent in the subscribe push (raw JSON).
    pub data: Option<Box<RawValue>>,
    /// Data as base64 binary.
    pub b64data: Option<String>,
    /// Channel option overrides.
    #[serde(rename = "override")]
    pub overrides: Option<SubscribeOptionOverride>,
}

/// Verified claims of a connection token.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectTokenClaims {
    /// User id: `sub`, or the configured `user_id_claim`. Empty = anonymous.
    pub sub: String,
    /// Expiry (Unix seconds).
    pub exp: Option<i64>,
    /// Not-before (Unix seconds).
    pub nbf: Option<i64>,
    /// Issued-at (Unix seconds).
    pub iat: Option<i64>,
    /// Token id.
    pub jti: Option<String>,
    /// Audiences (a single string `aud` becomes one element).
    pub aud: Vec<String>,
    /// Issuer.
    pub iss: Option<String>,
    /// Connection info (raw JSON).
    pub info: Option<Box<RawValue>>,
    /// Connection info as base64 binary.
    pub b64info: Option<String>,
    /// Server-side channels (ignored by the engine when `subs` is non-empty).
    pub channels: Vec<String>,
    /// Server-side subscriptions with options.
    pub subs: BTreeMap<String, SubscribeOptions>,
    /// Server-side-only metadata (raw JSON object).
    pub meta: Option<Box<RawValue>>,
    /// Connection expiry decoupled from `exp`: `Some(0)` = never expires,
    /// `Some(t)` = expires at `t`, `None` = use `exp`.
    pub expire_at: Option<i64>,
}

impl ConnectTokenClaims {
    /// When the connection expires: `expire_at` if present (0 = never),
    /// else `exp` (absent or 0 = never).
    pub fn connection_expires_at(&self) -> Option<i64> {
        match self.expire_at {
            Some(0) => None,
            Some(t) => Some(t),
            None => self.exp.filter(|t| *t > 0),
        }
    }
}

/// Verified claims of a subscription token.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SubscribeTokenClaims {
    /// User id (`sub` or the configured `user_id_claim`); must match the connection.
    pub sub: String,
    /// Channel (required; must match the requested channel).
    pub channel: String,
    /// Channel info (raw JSON), becomes `chan_info`.
    pub info: Option<Box<RawValue>>,
    /// Channel info as base64 binary.
    pub b64info: Option<String>,
    /// Expiry (Unix seconds).
    pub exp: Option<i64>,
    /// Not-before (Unix seconds).
    pub nbf: Option<i64>,
    /// Subscription expiry decoupled from `exp` (`Some(0)` = never).
    pub expire_at: Option<i64>,
    /// Audiences.
    pub aud: Vec<String>,
    /// Issuer.
    pub iss: Option<String>,
    /// Issued-at.
    pub iat: Option<i64>,
    /// Token id.
    pub jti: Option<String>,
    /// Legacy: if set, must equal the client id.
    pub client: Option<String>,
    /// Channel option overrides.
    pub overrides: Option<SubscribeOptionOverride>,
}

impl SubscribeTokenClaims {
    /// When the subscription expires (`expire_at`, else `exp`; 0 = never).
    pub fn subscription_expires_at(&self) -> Option<i64> {
        match self.expire_at {
            Some(0) => None,
            Some(t) => Some(t),
            None => self.exp.filter(|t| *t > 0),
        }
    }
}

/// The registered claims every token may carry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct StandardClaims {
    #[serde(deserialize_with = "opt_string")]
    pub(crate) sub: Option<String>,
    #[serde(deserialize_with = "numeric_date")]
    pub(crate) exp: Option<i64>,
    #[serde(deserialize_with = "numeric_date")]
    pub(crate) nbf: Option<i64>,
    #[serde(deserialize_with = "numeric_date")]
    pub(crate) iat: Option<i64>,
    #[serde(deserialize_with = "opt_string")]
    pub(crate) jti: Option<String>,
    #[serde(deserialize_with = "audience")]
    pub(crate) aud: Vec<String>,
    #[serde(deserialize_with = "opt_string")]
    pub(crate) iss: Option<String>,
}

/// Raw connection claims (private fields of a connection token).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawConnectClaims {
    pub(crate) info: Option<Box<RawValue>>,
    pub(crate) b64info: Option<String>,
    pub(crate) channels: Option<Vec<String>>,
    pub(crate) subs: Option<BTreeMap<String, SubscribeOptions>>,
    pub(crate) meta: Option<Box<RawValue>>,
    #[serde(deserialize_with = "numeric_date")]
    pub(crate) expire_at: Option<i64>,
    pub(crate) channel: Option<serde_json::Value>,
}

/// Raw subscription claims.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RawSubscribeClaims {
    pub(crate) channel: Option<String>,
    pub(crate) info: Option<Box<RawValue>>,
    pub(crate) b64info: Option<String>,
    #[serde(deserialize_with = "numeric_date")]
    pub(crate) expire_at: Option<i64>,
    pub(crate) client: Option<String>,
    #[serde(rename = "override")]
    pub(crate) overrides: Option<SubscribeOptionOverride>,
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// JWT NumericDate: integer or fractional seconds.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<serde_json::Number>::deserialize(d)?;
    Ok(match v {
        None => None,
        Some(n) => Some(match n.as_i64() {
            Some(i) => i,
            // Truncation of a fractional timestamp is intended.
            #[allow(clippy::cast_possible_truncation)]
            None => n
                .as_f64()
                .map(|f| f as i64)
                .ok_or_else(|| serde::de::Error::custom("bad numeric date"))?,
        }),
    })
}

/// `aud` is a string or an array of strings.
fn audience<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Aud>::deserialize(d)? {
        None => Vec::new(),
        Some(Aud::One(s)) => vec![s],
        Some(Aud::Many(v)) => v,
    })
}
