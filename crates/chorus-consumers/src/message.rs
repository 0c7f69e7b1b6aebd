//! The message format every consumer reads: an API command as
//! `{"method": "publish", "payload": {…}}`, where `payload` may also be a JSON
//! string holding the object (convenient for producers that build the command
//! as text). A source that carries the method separately (the outbox table's
//! `method` column) hands over the method and the payload alone.

use serde::Deserialize;
use serde_json::value::RawValue;

/// The API methods a consumer may execute, as Centrifugo allows them.
pub const ALLOWED_METHODS: [&str; 7] = [
    "publish",
    "broadcast",
    "subscribe",
    "unsubscribe",
    "disconnect",
    "history_remove",
    "refresh",
];

/// One API command, ready to dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// One of [`ALLOWED_METHODS`].
    pub method: String,
    /// The request object (`{"channel": …, "data": …}` for publish), JSON text.
    pub payload: String,
}

/// Why a message was skipped without being dispatched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageError {
    /// Not `{"method": …, "payload": …}`, or the payload is neither an object
    /// nor a string holding one.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A method a consumer does not execute (e.g. `presence`, or a typo).
    #[error("method `{0}` is not allowed in a consumer")]
    MethodNotAllowed(String),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    method: String,
    #[serde(borrow)]
    payload: Option<&'a RawValue>,
}

impl Command {
    /// Decodes a whole message, `{"method": …, "payload": …}`.
    ///
    /// # Errors
    /// [`MessageError`] when the message is malformed or names a method that
    /// is not allowed.
    pub fn parse(message: &[u8]) -> Result<Self, MessageError> {
        let envelope: Envelope<'_> =
            serde_json::from_slice(message).map_err(|e| MessageError::Malformed(e.to_string()))?;
        let payload = envelope
            .payload
            .ok_or_else(|| MessageError::Malformed("no `payload`".to_owned()))?;
        Self::with_method(&envelope.method, payload.get().as_bytes())
    }

    /// A command from a method and its payload kept apart (an outbox row, a
    /// stream entry with a method field). An empty `method` means `payload` is
    /// the whole message, as for [`Command::parse`].
    ///
    /// # Errors
    /// Like [`Command::parse`].
    pub fn with_method(method: &str, payload: &[u8]) -> Result<Self, MessageError> {
        if method.is_empty() {
            return Self::parse(payload);
        }
        if !ALLOWED_METHODS.contains(&method) {
            return Err(MessageError::MethodNotAllowed(method.to_owned()));
        }
        let payload = object_payload(payload)?;
        Ok(Self {
            method: method.to_owned(),
            payload,
        })
    }
}

/// The payload as the text of a JSON object: given as an object, or as a
/// string whose content is an object.
fn object_payload(raw: &[u8]) -> Result<String, MessageError> {
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| MessageError::Malformed(e.to_string()))?;
    match value {
        serde_json::Value::Object(_) => Ok(String::from_utf8_lossy(raw).trim().to_owned()),
        serde_json::Value::String(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(_)) => Ok(text),
            Ok(_) => Err(MessageError::Malformed(
                "`payload` string does not hold a JSON object".to_owned(),
            )),
            Err(e) => Err(MessageError::Malformed(format!(
                "`payload` string is not JSON: {e}"
            ))),
        },
        _ => Err(MessageError::Malformed(
            "`payload` is neither an object nor a string".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_payload_is_kept_as_is() {
        let cmd =
            Command::parse(br#"{"method":"publish","payload":{"channel":"a","data":{}}}"#).unwrap();
        assert_eq!(cmd.method, "publish");
        assert_eq!(cmd.payload, r#"{"channel":"a","data":{}}"#);
    }

    #[test]
    fn string_payload_is_unwrapped() {
        let cmd = Command::parse(
            br#"{"method":"broadcast","payload":"{\"channels\":[\"a\"],\"data\":1}"}"#,
        )
        .unwrap();
        assert_eq!(cmd.method, "broadcast");
        assert_eq!(cmd.payload, r#"{"channels":["a"],"data":1}"#);
    }

    #[test]
    fn every_allowed_method_passes() {
        for method in ALLOWED_METHODS {
            let cmd = Command::with_method(method, br#"{"channel":"x"}"#).unwrap();
            assert_eq!(cmd.method, method);
        }
    }

    #[test]
    fn other_methods_are_refused() {
        for method in ["presence", "history", "info", "batch", "Publish"] {
            assert_eq!(
                Command::with_method(method, b"{}"),
                Err(MessageError::MethodNotAllowed(method.to_owned()))
            );
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        for message in [
            &b"not json"[..],
            br#"{"method":"publish"}"#,
            br#"{"method":"publish","payload":3}"#,
            br#"{"method":"publish","payload":"[1]"}"#,
            br#"{"method":"publish","payload":"{oops"}"#,
            br#"{"method":"","payload":{}}"#,
            b"[]",
        ] {
            assert!(
                matches!(Command::parse(message), Err(MessageError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(message)
            );
        }
    }

    #[test]
    fn empty_method_reads_the_whole_message() {
        let cmd =
            Command::with_method("", br#"{"method":"refresh","payload":{"user":"1"}}"#).unwrap();
        assert_eq!(cmd.method, "refresh");
    }
}
