//! Decode and encode errors.

use crate::codes::DisconnectCode;

/// A frame (or a message in it) could not be decoded.
///
/// Every variant means the peer sent something malformed; a server answers
/// all of them with [`DisconnectCode::BAD_REQUEST`] (3501), see
/// [`DecodeError::disconnect_code`]. `index` fields count messages from zero
/// within the frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame holds no message at all (zero bytes, or a lone `\n` in JSON).
    #[error("empty frame")]
    EmptyFrame,
    /// A JSON frame has an empty line: messages must be separated by exactly
    /// one `\n`, and at most one `\n` may end the frame.
    #[error("blank line at message {index} of a JSON frame")]
    BlankLine {
        /// Position of the empty message in the frame.
        index: usize,
    },
    /// A JSON message is not valid JSON or does not match the schema.
    #[error("invalid JSON in message {index}: {source}")]
    Json {
        /// Position of the message in the frame.
        index: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The frame ends in the middle of a varint length prefix.
    #[error("truncated varint length prefix at byte {offset}")]
    TruncatedVarint {
        /// Byte offset of the prefix in the frame.
        offset: usize,
    },
    /// A varint length prefix is longer than ten bytes or overflows `u64`.
    #[error("malformed varint length prefix at byte {offset}")]
    InvalidVarint {
        /// Byte offset of the prefix in the frame.
        offset: usize,
    },
    /// A length prefix announces more bytes than the frame has left.
    #[error("message {index} declares {declared} bytes but only {remaining} remain")]
    LengthOutOfBounds {
        /// Position of the message in the frame.
        index: usize,
        /// The declared length.
        declared: u64,
        /// Bytes left in the frame after the prefix.
        remaining: usize,
    },
    /// A Protobuf message body is malformed.
    #[error("invalid Protobuf in message {index}: {source}")]
    Protobuf {
        /// Position of the message in the frame.
        index: usize,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// The `data` of a JSON emulation request is not a JSON string.
    #[error("emulation request data is not a JSON string: {source}")]
    EmulationData {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl DecodeError {
    /// The disconnect a server sends for this error: always
    /// [`DisconnectCode::BAD_REQUEST`] (3501).
    #[must_use]
    pub const fn disconnect_code(&self) -> DisconnectCode {
        DisconnectCode::BAD_REQUEST
    }
}

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A `bytes` field (publication data, info, RPC data, ...) does not hold
    /// valid JSON, so it cannot be embedded in a JSON message. A server
    /// disconnects such a JSON client with
    /// [`DisconnectCode::INAPPROPRIATE_PROTOCOL`] (3506).
    #[error("payload is not valid JSON and cannot be sent on a JSON connection: {source}")]
    NonJsonPayload {
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

impl EncodeError {
    /// The disconnect a server sends for this error:
    /// [`DisconnectCode::INAPPROPRIATE_PROTOCOL`] (3506).
    #[must_use]
    pub const fn disconnect_code(&self) -> DisconnectCode {
        DisconnectCode::INAPPROPRIATE_PROTOCOL
    }
}
