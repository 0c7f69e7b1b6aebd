//! serde helpers that implement Centrifugo's JSON rules for the generated
//! types (the attributes are attached in `build.rs`).

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `skip_serializing_if` predicate: the field holds its zero value.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `deserialize_with` for non-`Option` fields: JSON `null` means the zero
/// value, as in Go's decoder.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Message used when a `bytes` field does not hold valid JSON on encode.
pub(crate) const NOT_JSON: &str = "bytes field does not hold valid JSON";

/// `bytes` fields as embedded raw JSON (Go's `protocol.Raw`).
///
/// Encode: the bytes are validated as one JSON value and written verbatim,
/// except that `\n` bytes are removed (so a payload cannot break newline
/// framing) and whitespace around the value is dropped. Empty bytes are
/// written as `null` (only reachable when the field is not skipped).
///
/// Decode: whatever JSON value is there (object, string, number, `null`, ...)
/// is captured as its exact source text.
pub(crate) mod raw {
    use super::{Bytes, Deserialize, Deserializer, NOT_JSON, Serialize, Serializer};
    use serde::ser::Error as _;
    use serde_json::value::RawValue;

    pub(crate) fn serialize<S: Serializer>(
        value: &Bytes,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if value.is_empty() {
            return serializer.serialize_unit();
        }
        if value.contains(&b'\n') {
            let stripped: Vec<u8> = value.iter().copied().filter(|&b| b != b'\n').collect();
            write(&stripped, serializer)
        } else {
            write(value, serializer)
        }
    }

    fn write<S: Serializer>(json: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue =
            serde_json::from_slice(json).map_err(|_| S::Error::custom(NOT_JSON))?;
        raw.serialize(serializer)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Bytes, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text: Box<str> = raw.into();
        Ok(Bytes::from(text.into_string()))
    }
}
