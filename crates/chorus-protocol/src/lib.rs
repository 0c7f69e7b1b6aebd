//! Centrifugo client protocol v2: message types and frame codecs.
//!
//! This crate speaks the wire protocol of Centrifugo v6.9.1 (the
//! `centrifugal.centrifuge.protocol` schema of protocol v0.19.2), so that
//! Centrifugo's official SDKs accept a Chorus server unmodified. It has no
//! I/O and no async runtime: it turns frames (WebSocket messages, HTTP
//! stream chunks) into messages and back.
//!
//! * **Types** – every message of the schema, generated from
//!   `proto/client.proto` by `prost` and re-exported here: [`Command`],
//!   [`Reply`], [`Push`], [`Publication`], [`ClientInfo`], all requests and
//!   results. Request/result fields are `Option`s standing in for the
//!   schema's "exactly one of" envelopes, `bytes` fields are [`bytes::Bytes`]
//!   and maps are [`BTreeMap`](std::collections::BTreeMap)s.
//! * **Two encodings**, chosen per connection by [`Protocol`]:
//!   * JSON, with Centrifugo's rules rather than canonical proto3 JSON:
//!     snake_case field names; `bytes` fields are embedded raw JSON (not
//!     base64) — validated on encode, captured verbatim on decode; 64-bit
//!     integers as JSON numbers; zero values omitted except
//!     `ClientInfo.user`/`client`, `PresenceStatsResult.num_clients`/`num_users`,
//!     `PresenceResult.presence`, and `HistoryResult.publications` (`null`
//!     when empty), `.epoch`, `.offset`. Unknown fields are ignored. Messages
//!     of a frame are separated by one `\n`.
//!   * Protobuf: each message prefixed by its varint length.
//! * **Decoding** untrusted frames: [`decode_commands`] (server side),
//!   [`decode_replies`] (bidirectional client side), [`decode_pushes`]
//!   (unidirectional client side), or the lazy [`FrameDecoder`].
//! * **Encoding**: [`encode_reply`], [`encode_push`], [`encode_command`] for
//!   one message, and [`FrameEncoder`] to batch several into one frame.
//! * **Codes**: [`ErrorCode`], [`UnsubscribeCode`], [`DisconnectCode`].
//!
//! A ping is an empty [`Reply`] (an empty [`Push`] on unidirectional
//! transports) and a pong is an empty [`Command`]: `{}` in JSON, the single
//! byte `0x00` in Protobuf ([`Protocol::empty_message_frame`]).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use chorus_protocol::{decode_commands, encode_reply, Protocol, Publication, Push, Reply};
//!
//! // A publication push, wrapped in a reply as on WebSocket connections.
//! let reply = Reply::from(Push {
//!     channel: "chat:1".into(),
//!     r#pub: Some(Publication {
//!         data: Bytes::from_static(br#"{"t":"hi"}"#),
//!         offset: 16,
//!         ..Publication::default()
//!     }),
//!     ..Push::default()
//! });
//!
//! let json = encode_reply(Protocol::Json, &reply)?;
//! assert_eq!(&json[..], br#"{"push":{"channel":"chat:1","pub":{"data":{"t":"hi"},"offset":16}}}"#);
//!
//! let protobuf = encode_reply(Protocol::Protobuf, &reply)?;
//! assert_eq!(protobuf[0] as usize, protobuf.len() - 1); // varint length prefix
//!
//! // A frame as centrifuge-js sends it right after the socket opens.
//! let frame = b"{\"id\":1,\"connect\":{\"name\":\"js\"}}\n{\"id\":2,\"subscribe\":{\"channel\":\"chat:1\"}}";
//! let commands = decode_commands(Protocol::Json, frame)?;
//! assert_eq!(commands.len(), 2);
//! assert_eq!(commands[0].connect.as_ref().map(|c| c.name.as_str()), Some("js"));
//! assert_eq!(commands[1].subscribe.as_ref().map(|s| s.channel.as_str()), Some("chat:1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
pub mod codes;
mod error;
mod json;
mod messages;

/// The types generated from `proto/client.proto`.
mod proto {
    #![allow(clippy::all, clippy::pedantic)]
    include!(concat!(
        env!("OUT_DIR"),
        "/centrifugal.centrifuge.protocol.rs"
    ));
}

pub use codec::{
    FrameDecoder, FrameEncoder, Protocol, WireMessage, decode_commands, decode_emulation_request,
    decode_frame, decode_pushes, decode_replies, encode, encode_command, encode_push, encode_reply,
};
pub use codes::{DisconnectCode, ErrorCode, UnsubscribeCode};
pub use error::{DecodeError, EncodeError};
pub use proto::*;

/// Re-export of the `bytes` crate, whose [`Bytes`](bytes::Bytes) type holds payloads.
pub use bytes;
