//! Frame encoding and decoding for both protocol encodings.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DecodeError, EncodeError};
use crate::{Command, EmulationRequest, Push, Reply};

/// The encoding a connection uses for its whole lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// JSON: one message per line, sent as WebSocket text messages.
    #[default]
    Json,
    /// Protobuf: varint length-delimited messages, sent as WebSocket binary messages.
    Protobuf,
}

impl Protocol {
    /// WebSocket subprotocol that selects JSON.
    pub const JSON_SUBPROTOCOL: &'static str = "centrifuge-json";
    /// WebSocket subprotocol that selects Protobuf.
    pub const PROTOBUF_SUBPROTOCOL: &'static str = "centrifuge-protobuf";

    /// The WebSocket subprotocol name of this encoding.
    #[must_use]
    pub const fn ws_subprotocol(self) -> &'static str {
        match self {
            Self::Json => Self::JSON_SUBPROTOCOL,
            Self::Protobuf => Self::PROTOBUF_SUBPROTOCOL,
        }
    }

    /// The encoding selected by a WebSocket subprotocol name, if it is one of ours.
    #[must_use]
    pub fn from_ws_subprotocol(name: &str) -> Option<Self> {
        match name {
            Self::JSON_SUBPROTOCOL => Some(Self::Json),
            Self::PROTOBUF_SUBPROTOCOL => Some(Self::Protobuf),
            _ => None,
        }
    }

    /// Whether frames are binary (WebSocket binary messages) rather than text.
    #[must_use]
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::Protobuf)
    }

    /// The complete frame of an empty message: a server ping (empty
    /// [`Reply`] or, on unidirectional transports, empty [`Push`]) or a client
    /// pong (empty [`Command`]). `{}` in JSON, the single byte `0x00` in Protobuf.
    #[must_use]
    pub const fn empty_message_frame(self) -> &'static [u8] {
        match self {
            Self::Json => b"{}",
            Self::Protobuf => &[0],
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Protobuf => "protobuf",
        })
    }
}

mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
}

/// A top-level protocol message that travels in frames: [`Command`],
/// [`Reply`] or [`Push`]. Sealed.
pub trait WireMessage:
    sealed::Sealed
    + prost::Message
    + Serialize
    + DeserializeOwned
    + Default
    + Clone
    + PartialEq
    + fmt::Debug
    + Send
    + Sync
    + 'static
{
}

macro_rules! wire_message {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl WireMessage for $ty {}
    )*};
}
wire_message!(Command, Reply, Push);

/// Iterator over the messages of one frame, decoding lazily.
///
/// Yields each message in order. After the first error it yields nothing
/// more, so messages before a malformed one can still be processed (as
/// Centrifugo does) or the whole frame can be rejected with
/// `collect::<Result<Vec<_>, _>>()`.
///
/// Framing rules:
/// * JSON: messages separated by exactly one `\n`; at most one `\n` may end
///   the frame; an empty line is [`DecodeError::BlankLine`].
/// * Protobuf: each message prefixed by its length as an unsigned varint.
///   A length larger than the rest of the frame is rejected before anything
///   is allocated.
/// * A frame with no message at all is [`DecodeError::EmptyFrame`].
pub struct FrameDecoder<'a, M> {
    protocol: Protocol,
    frame: &'a [u8],
    shared: Option<&'a Bytes>,
    pos: usize,
    index: usize,
    done: bool,
    _message: PhantomData<fn() -> M>,
}

impl<M> fmt::Debug for FrameDecoder<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("protocol", &self.protocol)
            .field("frame_len", &self.frame.len())
            .field("pos", &self.pos)
            .field("index", &self.index)
            .field("done", &self.done)
            .finish()
    }
}

impl<'a, M: WireMessage> FrameDecoder<'a, M> {
    /// Decodes the messages of `frame`. `bytes` fields of Protobuf messages
    /// are copied out of the frame.
    #[must_use]
    pub fn new(protocol: Protocol, frame: &'a [u8]) -> Self {
        Self {
            protocol,
            frame,
            shared: None,
            pos: 0,
            index: 0,
            done: false,
            _message: PhantomData,
        }
    }

    /// Like [`FrameDecoder::new`], but `bytes` fields of Protobuf messages
    /// share the frame's buffer instead of being copied.
    #[must_use]
    pub fn from_shared(protocol: Protocol, frame: &'a Bytes) -> Self {
        Self {
            shared: Some(frame),
            ..Self::new(protocol, frame.as_ref())
        }
    }

    fn fail(&mut self, error: DecodeError) -> Option<Result<M, DecodeError>> {
        self.done = true;
        Some(Err(error))
    }

    fn next_json(&mut self) -> Option<Result<M, DecodeError>> {
        let rest = &self.frame[self.pos..];
        let (line, consumed) = match rest.iter().position(|&b| b == b'\n') {
            Some(newline) => (&rest[..newline], newline + 1),
            None => (rest, rest.len()),
        };
        if line.is_empty() {
            return self.fail(DecodeError::BlankLine { index: self.index });
        }
        self.pos += consumed;
        if self.pos == self.frame.len() {
            self.done = true;
        }
        let index = self.index;
        self.index += 1;
        match serde_json::from_slice(line) {
            Ok(message) => Some(Ok(message)),
            Err(source) => self.fail(DecodeError::Json { index, source }),
        }
    }

    fn next_protobuf(&mut self) -> Option<Result<M, DecodeError>> {
        let offset = self.pos;
        let (declared, prefix_len) = match read_varint(&self.frame[offset..]) {
            Ok(v) => v,
            Err(VarintError::Truncated) => {
                return self.fail(DecodeError::TruncatedVarint { offset });
            }
            Err(VarintError::Invalid) => return self.fail(DecodeError::InvalidVarint { offset }),
        };
        let start = offset + prefix_len;
        let remaining = self.frame.len() - start;
        let index = self.index;
        let len = match usize::try_from(declared) {
            Ok(len) if len <= remaining => len,
            _ => {
                return self.fail(DecodeError::LengthOutOfBounds {
                    index,
                    declared,
                    remaining,
                });
            }
        };
        let end = start + len;
        self.pos = end;
        self.index += 1;
        if end == self.frame.len() {
            self.done = true;
        }
        let decoded = match self.shared {
            Some(shared) => M::decode(shared.slice(start..end)),
            None => M::decode(&self.frame[start..end]),
        };
        match decoded {
            Ok(message) => Some(Ok(message)),
            Err(source) => self.fail(DecodeError::Protobuf { index, source }),
        }
    }
}

impl<M: WireMessage> Iterator for FrameDecoder<'_, M> {
    type Item = Result<M, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.frame.is_empty() || (self.protocol == Protocol::Json && self.frame == b"\n") {
            return self.fail(DecodeError::EmptyFrame);
        }
        match self.protocol {
            Protocol::Json => self.next_json(),
            Protocol::Protobuf => self.next_protobuf(),
        }
    }
}

impl<M: WireMessage> std::iter::FusedIterator for FrameDecoder<'_, M> {}

enum VarintError {
    Truncated,
    Invalid,
}

/// Reads an unsigned LEB128 varint; returns the value and its length in bytes.
fn read_varint(buf: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        let low = u64::from(byte & 0x7f);
        if i == 9 && byte > 1 {
            return Err(VarintError::Invalid);
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if buf.len() >= 10 {
        Err(VarintError::Invalid)
    } else {
        Err(VarintError::Truncated)
    }
}

/// Decodes every message of a frame, failing on the first malformed one.
///
/// # Errors
///
/// Any [`DecodeError`]; see [`FrameDecoder`] for the framing rules.
pub fn decode_frame<M: WireMessage>(
    protocol: Protocol,
    frame: &[u8],
) -> Result<Vec<M>, DecodeError> {
    FrameDecoder::new(protocol, frame).collect()
}

/// Decodes the commands of a frame received by a server.
///
/// # Errors
///
/// Any [`DecodeError`]; a server disconnects with 3501 (bad request).
pub fn decode_commands(protocol: Protocol, frame: &[u8]) -> Result<Vec<Command>, DecodeError> {
    decode_frame(protocol, frame)
}

/// Decodes the replies of a frame received by a bidirectional client.
///
/// # Errors
///
/// Any [`DecodeError`].
pub fn decode_replies(protocol: Protocol, frame: &[u8]) -> Result<Vec<Reply>, DecodeError> {
    decode_frame(protocol, frame)
}

/// Decodes the bare pushes of a frame received on a unidirectional stream.
///
/// # Errors
///
/// Any [`DecodeError`].
pub fn decode_pushes(protocol: Protocol, frame: &[u8]) -> Result<Vec<Push>, DecodeError> {
    decode_frame(protocol, frame)
}

fn json_error(source: serde_json::Error) -> EncodeError {
    EncodeError::NonJsonPayload { source }
}

/// Encodes one message as a complete frame: the JSON text without a trailing
/// newline, or the varint length-prefixed Protobuf bytes.
///
/// The result can be sent as is, shared between connections of the same
/// protocol, or batched with [`FrameEncoder::append_encoded`].
///
/// # Errors
///
/// JSON only: [`EncodeError::NonJsonPayload`] when a `bytes` field is not
/// valid JSON. Protobuf encoding cannot fail.
pub fn encode<M: WireMessage>(protocol: Protocol, message: &M) -> Result<Bytes, EncodeError> {
    match protocol {
        Protocol::Json => serde_json::to_vec(message)
            .map(Bytes::from)
            .map_err(json_error),
        Protocol::Protobuf => {
            let len = message.encoded_len();
            let mut buf = Vec::with_capacity(len + prost::length_delimiter_len(len));
            write_protobuf(message, len, &mut buf);
            Ok(Bytes::from(buf))
        }
    }
}

fn write_protobuf<M: WireMessage>(message: &M, len: usize, buf: &mut Vec<u8>) {
    prost::encoding::encode_varint(len as u64, buf);
    // `Vec` grows as needed, so the capacity-checked `encode` is not needed.
    message.encode_raw(buf);
}

/// Encodes one [`Reply`] as a complete frame (see [`encode`]).
///
/// # Errors
///
/// See [`encode`].
pub fn encode_reply(protocol: Protocol, reply: &Reply) -> Result<Bytes, EncodeError> {
    encode(protocol, reply)
}

/// Encodes one bare [`Push`] as a complete frame, for unidirectional
/// transports (see [`encode`]). Bidirectional transports wrap pushes in a
/// [`Reply`]: use [`Reply::from`] and [`encode_reply`].
///
/// # Errors
///
/// See [`encode`].
pub fn encode_push(protocol: Protocol, push: &Push) -> Result<Bytes, EncodeError> {
    encode(protocol, push)
}

/// Encodes one [`Command`] as a complete frame, for clients (see [`encode`]).
///
/// # Errors
///
/// See [`encode`].
pub fn encode_command(protocol: Protocol, command: &Command) -> Result<Bytes, EncodeError> {
    encode(protocol, command)
}

/// Builds one frame out of several messages: joined by `\n` in JSON (no
/// trailing newline), concatenated length-delimited messages in Protobuf.
///
/// ```
/// use chorus_protocol::{FrameEncoder, Protocol, Reply};
///
/// let mut frame = FrameEncoder::new(Protocol::Json);
/// frame.append(&Reply { id: 1, ..Reply::default() })?;
/// frame.append(&Reply::ping())?;
/// assert_eq!(&frame.finish()[..], b"{\"id\":1}\n{}");
/// # Ok::<(), chorus_protocol::EncodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameEncoder {
    protocol: Protocol,
    buf: Vec<u8>,
    count: usize,
}

impl FrameEncoder {
    /// An empty frame for `protocol`.
    #[must_use]
    pub fn new(protocol: Protocol) -> Self {
        Self::with_capacity(protocol, 0)
    }

    /// An empty frame with room for `capacity` bytes.
    #[must_use]
    pub fn with_capacity(protocol: Protocol, capacity: usize) -> Self {
        Self {
            protocol,
            buf: Vec::with_capacity(capacity),
            count: 0,
        }
    }

    /// The frame's encoding.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Number of messages appended so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no message was appended yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the frame so far, in bytes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Encodes and appends one message.
    ///
    /// # Errors
    ///
    /// JSON only: [`EncodeError::NonJsonPayload`]; the frame is then left
    /// exactly as it was before the call.
    pub fn append<M: WireMessage>(&mut self, message: &M) -> Result<(), EncodeError> {
        match self.protocol {
            Protocol::Json => {
                let before = self.buf.len();
                if self.count > 0 {
                    self.buf.push(b'\n');
                }
                if let Err(source) = serde_json::to_writer(&mut self.buf, message) {
                    self.buf.truncate(before);
                    return Err(json_error(source));
                }
            }
            Protocol::Protobuf => {
                let len = message.encoded_len();
                self.buf.reserve(len + prost::length_delimiter_len(len));
                write_protobuf(message, len, &mut self.buf);
            }
        }
        self.count += 1;
        Ok(())
    }

    /// Appends a message or frame already encoded for the same protocol (by
    /// [`encode`] or [`FrameEncoder::finish`]), without re-encoding it: the
    /// way to send one encoded publication to many connections. Counts as
    /// one message. An empty `encoded` is ignored.
    pub fn append_encoded(&mut self, encoded: &[u8]) {
        if encoded.is_empty() {
            return;
        }
        if self.protocol == Protocol::Json && self.count > 0 {
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(encoded);
        self.count += 1;
    }

    /// Removes every message, keeping the allocated buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }

    /// Returns the frame built so far and leaves this encoder empty (with no
    /// buffer) for reuse.
    pub fn take(&mut self) -> Bytes {
        self.count = 0;
        Bytes::from(std::mem::take(&mut self.buf))
    }

    /// Returns the frame.
    #[must_use]
    pub fn finish(self) -> Bytes {
        Bytes::from(self.buf)
    }
}

/// Decodes the body of a `POST /emulation` request: a single
/// [`EmulationRequest`], not framed (plain Protobuf when the content type is
/// `application/octet-stream`, JSON otherwise). Use
/// [`EmulationRequest::commands_frame`] to get the commands it carries.
///
/// # Errors
///
/// [`DecodeError::EmptyFrame`], [`DecodeError::Json`] or
/// [`DecodeError::Protobuf`] (with `index` 0).
pub fn decode_emulation_request(
    protocol: Protocol,
    body: &[u8],
) -> Result<EmulationRequest, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::EmptyFrame);
    }
    match protocol {
        Protocol::Json => {
            serde_json::from_slice(body).map_err(|source| DecodeError::Json { index: 0, source })
        }
        Protocol::Protobuf => <EmulationRequest as prost::Message>::decode(body)
            .map_err(|source| DecodeError::Protobuf { index: 0, source }),
    }
}

impl EmulationRequest {
    /// The frame of commands this request carries, ready for
    /// [`decode_commands`]. In Protobuf it is `data` itself; in JSON `data`
    /// is a JSON string whose text is the newline-joined commands.
    ///
    /// # Errors
    ///
    /// [`DecodeError::EmulationData`] when a JSON request's `data` is not a
    /// JSON string.
    pub fn commands_frame(&self, protocol: Protocol) -> Result<Bytes, DecodeError> {
        match protocol {
            Protocol::Protobuf => Ok(self.data.clone()),
            Protocol::Json => serde_json::from_slice::<String>(&self.data)
                .map(Bytes::from)
                .map_err(|source| DecodeError::EmulationData { source }),
        }
    }
}
