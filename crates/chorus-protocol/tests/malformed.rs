//! Malformed input is rejected with the right error, and nothing panics.

use bytes::Bytes;
use chorus_protocol::{
    Command, DecodeError, DisconnectCode, EncodeError, FrameEncoder, Protocol, Publication, Push,
    Reply, decode_commands, decode_replies, encode_reply,
};

fn publication_with(data: Bytes) -> Reply {
    Reply::from(Push {
        channel: "c".into(),
        r#pub: Some(Publication {
            data,
            ..Publication::default()
        }),
        ..Push::default()
    })
}

#[test]
fn empty_frames() {
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        assert!(matches!(
            decode_commands(protocol, b""),
            Err(DecodeError::EmptyFrame)
        ));
    }
    assert!(matches!(
        decode_commands(Protocol::Json, b"\n"),
        Err(DecodeError::EmptyFrame)
    ));
}

#[test]
fn truncated_varint() {
    for frame in [&[0x80][..], &[0xff, 0xff], &[0x00, 0x80]] {
        match decode_commands(Protocol::Protobuf, frame) {
            Err(DecodeError::TruncatedVarint { offset }) => {
                assert_eq!(
                    offset,
                    frame.len() - frame.iter().rev().take_while(|&&b| b & 0x80 != 0).count()
                );
            }
            other => panic!("{frame:02x?}: {other:?}"),
        }
    }
}

#[test]
fn overlong_varint() {
    let frame = [0xff; 11];
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &frame),
        Err(DecodeError::InvalidVarint { offset: 0 })
    ));
    // Ten bytes whose last one overflows u64.
    let mut overflow = [0xff; 10];
    overflow[9] = 0x02;
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &overflow),
        Err(DecodeError::InvalidVarint { offset: 0 })
    ));
}

#[test]
fn length_beyond_buffer() {
    // Declares 5 bytes, has 2.
    match decode_commands(Protocol::Protobuf, &[0x05, 0x08, 0x01]) {
        Err(DecodeError::LengthOutOfBounds {
            index: 0,
            declared: 5,
            remaining: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
    // An absurd declared length (u64::MAX) is rejected without allocating.
    let mut absurd = vec![0xff; 9];
    absurd.push(0x01);
    absurd.extend_from_slice(&[0x08, 0x01]);
    match decode_commands(Protocol::Protobuf, &absurd) {
        Err(DecodeError::LengthOutOfBounds {
            index: 0,
            declared: u64::MAX,
            remaining: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
    // The second message of a frame is cut short.
    match decode_commands(Protocol::Protobuf, &[0x02, 0x08, 0x01, 0x03, 0x08]) {
        Err(DecodeError::LengthOutOfBounds {
            index: 1,
            declared: 3,
            remaining: 1,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_protobuf_body() {
    // Field 1 as varint, then a truncated varint value.
    match decode_commands(Protocol::Protobuf, &[0x02, 0x08, 0x80]) {
        Err(DecodeError::Protobuf { index: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
    // Wrong wire type for `connect` (field 4 as varint).
    assert!(matches!(
        decode_commands(Protocol::Protobuf, &[0x02, 0x20, 0x01]),
        Err(DecodeError::Protobuf { index: 0, .. })
    ));
}

#[test]
fn invalid_json() {
    for frame in [
        &br#"{"id":"#[..],
        br#"{"id":1"#,
        b"not json",
        br#"{"id":"one"}"#,
        br#"{"id":-1}"#,
        br#"{"id":1}{"id":2}"#,
        br#"[{"id":1}]"#,
        br#"{"connect":{"token":5}}"#,
        b"{\"id\":1} \n{\"id\":",
        b"{\"connect\":{\"data\":\xff}}",
    ] {
        let error = decode_commands(Protocol::Json, frame).unwrap_err();
        assert!(
            matches!(error, DecodeError::Json { .. }),
            "{frame:?}: {error:?}"
        );
        assert_eq!(error.disconnect_code(), DisconnectCode::BAD_REQUEST);
    }
    match decode_replies(Protocol::Json, b"{}\n{}\n{oops}") {
        Err(DecodeError::Json { index: 2, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_json_payload_on_encode() {
    for bad in [
        &b"hello"[..],
        b"{\"a\":",
        b"\xff\xfe",
        b"1 2",
        b"{} x",
        b"\x00",
        b"\"unterminated",
    ] {
        let reply = publication_with(Bytes::copy_from_slice(bad));
        let error = encode_reply(Protocol::Json, &reply).unwrap_err();
        assert!(
            matches!(error, EncodeError::NonJsonPayload { .. }),
            "{bad:?}"
        );
        assert_eq!(
            error.disconnect_code(),
            DisconnectCode::INAPPROPRIATE_PROTOCOL
        );
        // The same payload is fine in Protobuf.
        assert!(encode_reply(Protocol::Protobuf, &reply).is_ok());
    }
}

#[test]
fn failed_append_leaves_frame_untouched() {
    let mut frame = FrameEncoder::new(Protocol::Json);
    frame.append(&Reply::ping()).unwrap();
    let error = frame.append(&publication_with(Bytes::from_static(b"not json")));
    assert!(error.is_err());
    assert_eq!(frame.len(), 1);
    frame.append(&Command::pong()).unwrap();
    assert_eq!(&frame.finish()[..], b"{}\n{}");
}
