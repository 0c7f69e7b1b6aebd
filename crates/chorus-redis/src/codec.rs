//! The PUB/SUB message format (spec §11), as Centrifugo writes it:
//! a publication kept in history is `__p1:<offset>:<epoch>__<protobuf Publication>`,
//! one without history is the bare protobuf `Publication`, a join is
//! `__j__<protobuf ClientInfo>` and a leave `__l__<protobuf ClientInfo>`.
//! The `__p1:` prefix itself is written by the publish Lua script, which is
//! the only place that knows the offset.

use chorus_node::StreamPosition;
use chorus_protocol::{ClientInfo, Publication};
use prost::Message as _;

const JOIN: &[u8] = b"__j__";
const LEAVE: &[u8] = b"__l__";
const PUBLICATION: &[u8] = b"__p1:";

/// A decoded PUB/SUB message.
#[derive(Debug, PartialEq)]
pub(crate) enum Message {
    /// A publication and its stream position (zero when not in history).
    Publication(Box<Publication>, StreamPosition),
    /// A join.
    Join(ClientInfo),
    /// A leave.
    Leave(ClientInfo),
}

/// Why a PUB/SUB payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("malformed publication prefix")]
    Prefix,
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

pub(crate) fn encode_join(info: &ClientInfo) -> Vec<u8> {
    prefixed(JOIN, info)
}

pub(crate) fn encode_leave(info: &ClientInfo) -> Vec<u8> {
    prefixed(LEAVE, info)
}

fn prefixed(prefix: &[u8], info: &ClientInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + info.encoded_len());
    out.extend_from_slice(prefix);
    info.encode_raw(&mut out);
    out
}

/// Decodes one PUB/SUB payload.
pub(crate) fn decode(payload: &[u8]) -> Result<Message, DecodeError> {
    if let Some(rest) = payload.strip_prefix(JOIN) {
        return Ok(Message::Join(ClientInfo::decode(rest)?));
    }
    if let Some(rest) = payload.strip_prefix(LEAVE) {
        return Ok(Message::Leave(ClientInfo::decode(rest)?));
    }
    if let Some(rest) = payload.strip_prefix(PUBLICATION) {
        let colon = rest
            .iter()
            .position(|&b| b == b':')
            .ok_or(DecodeError::Prefix)?;
        let offset: u64 = std::str::from_utf8(&rest[..colon])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(DecodeError::Prefix)?;
        let rest = &rest[colon + 1..];
        let end = rest
            .windows(2)
            .position(|w| w == b"__")
            .ok_or(DecodeError::Prefix)?;
        let epoch = std::str::from_utf8(&rest[..end]).map_err(|_| DecodeError::Prefix)?;
        let mut publication = Publication::decode(&rest[end + 2..])?;
        publication.offset = offset;
        let position = StreamPosition {
            offset,
            epoch: epoch.to_owned(),
        };
        return Ok(Message::Publication(Box::new(publication), position));
    }
    Ok(Message::Publication(
        Box::new(Publication::decode(payload)?),
        StreamPosition::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn publication() -> Publication {
        Publication {
            data: Bytes::from_static(b"{\"a\":1}"),
            tags: [("t".to_owned(), "v".to_owned())].into(),
            ..Default::default()
        }
    }

    #[test]
    fn positioned_publication_round_trips() {
        let mut payload = b"__p1:42:AbCdEfGh__".to_vec();
        payload.extend(publication().encode_to_vec());
        let Message::Publication(p, pos) = decode(&payload).expect("decodes") else {
            panic!("not a publication");
        };
        assert_eq!(pos.offset, 42);
        assert_eq!(pos.epoch, "AbCdEfGh");
        assert_eq!(p.offset, 42);
        assert_eq!(p.data, publication().data);
        assert_eq!(p.tags, publication().tags);
    }

    #[test]
    fn plain_publication_join_and_leave() {
        let plain = publication().encode_to_vec();
        assert_eq!(
            decode(&plain).expect("plain"),
            Message::Publication(Box::new(publication()), StreamPosition::default())
        );
        let info = ClientInfo {
            user: "u".into(),
            client: "c".into(),
            ..Default::default()
        };
        assert_eq!(
            decode(&encode_join(&info)).expect("join"),
            Message::Join(info.clone())
        );
        assert_eq!(
            decode(&encode_leave(&info)).expect("leave"),
            Message::Leave(info)
        );
    }

    #[test]
    fn malformed_prefix_is_an_error() {
        assert!(decode(b"__p1:x:e__").is_err());
        assert!(decode(b"__p1:1:e").is_err());
    }
}
