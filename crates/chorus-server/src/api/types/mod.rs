//! Request and result messages of the server API, with Centrifugo's JSON field
//! names (spec §8.3).
//!
//! Conventions (matching Centrifugo's `apiproto` JSON encoding):
//!
//! * Every request field is optional on the wire; an absent field or an
//!   explicit `null` takes the field's zero value (so `"data": null` is "no
//!   data", a 107 for `publish`).
//! * Payload fields (`data`, `info`, `params`, …) are embedded raw JSON
//!   ([`RawJson`]); `b64data` / `b64info` carry binary payloads as standard
//!   base64 instead.
//! * Zero values are omitted from results, except the fields Centrifugo always
//!   writes: `presence_stats` counts, the `history` triple
//!   (`publications`, `epoch`, `offset`), `presence.presence`,
//!   `channels.channels`, `ClientInfo.user`/`client` and the node counters of
//!   `info`.

use std::fmt;

use bytes::Bytes;
use chorus_node::ApiError;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Error as _, Serialize, Serializer};
use serde_json::value::RawValue;

/// Deserializes `null` (or an absent field, with `#[serde(default)]`) as the
/// type's default value, like Go's `encoding/json` does.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// A payload embedded in a message as raw JSON (Centrifugo's `Raw`).
///
/// Deserializing captures the JSON text verbatim (so it is valid JSON by
/// construction); serializing writes the bytes verbatim after checking they are
/// valid JSON (bytes published through `b64data` may not be, and then encoding
/// the result fails, as it does in Centrifugo). Empty bytes mean "absent".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawJson(pub Bytes);

impl RawJson {
    /// Whether there is no payload.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The payload bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", String::from_utf8_lossy(&self.0))
    }
}

impl From<Bytes> for RawJson {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}

impl From<&'static str> for RawJson {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(Self(Bytes::from(String::from(Box::<str>::from(raw)))))
    }
}

impl Serialize for RawJson {
    /// An empty value is an absent one (a missing or `null` field decodes to
    /// it) and is written as `null`, so every decoded request encodes again.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            return s.serialize_unit();
        }
        let text = std::str::from_utf8(&self.0)
            .map_err(|_| S::Error::custom("payload is not UTF-8 JSON"))?;
        let raw: Box<RawValue> = serde_json::from_str(text)
            .map_err(|_| S::Error::custom("payload is not valid JSON"))?;
        raw.serialize(s)
    }
}

/// An API error as written on the wire: `{"code":N,"message":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// API error code (spec §8.2).
    #[serde(default, deserialize_with = "nullable")]
    pub code: u32,
    /// Error message.
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}

impl From<&ApiError> for ErrorBody {
    fn from(e: &ApiError) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<ApiError> for ErrorBody {
    fn from(e: ApiError) -> Self {
        Self::from(&e)
    }
}

/// A position in a channel stream: `{"offset":N,"epoch":"…"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiStreamPosition {
    /// Offset.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero_u64"
    )]
    pub offset: u64,
    /// Epoch.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub epoch: String,
}

impl From<ApiStreamPosition> for chorus_node::StreamPosition {
    fn from(p: ApiStreamPosition) -> Self {
        Self {
            offset: p.offset,
            epoch: p.epoch,
        }
    }
}

macro_rules! request {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$fdoc])*
                #[serde(default, deserialize_with = "nullable")]
                pub $field: $ty,
            )*
        }
    };
}

mod requests;
mod results;

pub use requests::*;
pub use results::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_roundtrip_and_null_fields() {
        let req: PublishRequest = serde_json::from_str(
            r#"{"channel":"c","data":{"a": [1, 2]},"tags":null,"skip_history":null}"#,
        )
        .unwrap();
        assert_eq!(&req.data.0[..], br#"{"a": [1, 2]}"#);
        assert!(req.tags.is_empty());
        let null: PublishRequest = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert!(null.data.is_empty());
        assert!(
            serde_json::from_str::<PublishRequest>("[]").is_ok(),
            "decode() rejects it"
        );
        let absent: PublishRequest = serde_json::from_str("{}").unwrap();
        assert!(absent.data.is_empty());
    }

    /// Found by the `api_requests` fuzz target: a request without `data`
    /// failed to encode again ("payload is not valid JSON").
    #[test]
    fn absent_raw_json_encodes_as_null_and_decodes_again() {
        let rpc: RpcRequest = serde_json::from_str(r#"{"method":"m"}"#).unwrap();
        let encoded = serde_json::to_string(&rpc).unwrap();
        assert!(encoded.contains(r#""params":null"#), "{encoded}");
        let again: RpcRequest = serde_json::from_str(&encoded).unwrap();
        assert!(again.params.is_empty());
    }

    #[test]
    fn results_keep_always_present_fields() {
        let h = serde_json::to_string(&ApiHistoryResult::default()).unwrap();
        assert_eq!(h, r#"{"publications":[],"epoch":"","offset":0}"#);
        let p = serde_json::to_string(&PresenceStatsResult::default()).unwrap();
        assert_eq!(p, r#"{"num_clients":0,"num_users":0}"#);
        assert_eq!(
            serde_json::to_string(&ApiPublishResult::default()).unwrap(),
            "{}"
        );
        let reply = serde_json::to_string(&Reply::Subscribe(SubscribeResult {})).unwrap();
        assert_eq!(reply, r#"{"subscribe":{}}"#);
        let bad = Publication {
            data: RawJson(Bytes::from_static(b"\x00\x01")),
            ..Publication::default()
        };
        assert!(serde_json::to_string(&bad).is_err());
    }
}
