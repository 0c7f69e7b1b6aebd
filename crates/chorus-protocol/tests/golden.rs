//! Exact-byte tests of representative frames in both encodings (spec §2.6).

use std::collections::BTreeMap;

use bytes::Bytes;
use chorus_protocol::{
    ClientInfo, Command, Connect, ConnectRequest, ConnectResult, DecodeError, DisconnectCode,
    ErrorCode, FrameDecoder, FrameEncoder, HistoryResult, PresenceResult, PresenceStatsResult,
    Protocol, Publication, Push, Reply, SubscribeRequest, SubscribeResult, UnsubscribeCode,
    decode_commands, decode_pushes, decode_replies, encode_command, encode_push, encode_reply,
};

const CLIENT_ID: &str = "c7a1c6b2-3a8e-4f4e-9a53-0b6d1e0d2a11";

fn json(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Encodes `reply` as JSON, checks the exact text, and checks it decodes back.
fn assert_json_reply(reply: &Reply, expected: &str) {
    let encoded = encode_reply(Protocol::Json, reply).unwrap();
    assert_eq!(std::str::from_utf8(&encoded).unwrap(), expected);
    assert_eq!(
        decode_replies(Protocol::Json, expected.as_bytes()).unwrap(),
        vec![reply.clone()]
    );
}

/// Encodes `reply` as Protobuf, checks the exact bytes, and checks it decodes back.
fn assert_protobuf_reply(reply: &Reply, expected: &[u8]) {
    let encoded = encode_reply(Protocol::Protobuf, reply).unwrap();
    assert_eq!(&encoded[..], expected, "got {:02x?}", &encoded[..]);
    assert_eq!(
        decode_replies(Protocol::Protobuf, expected).unwrap(),
        vec![reply.clone()]
    );
}

fn connect_reply() -> Reply {
    Reply {
        id: 1,
        connect: Some(ConnectResult {
            client: CLIENT_ID.into(),
            version: "6.9.1".into(),
            ping: 25,
            pong: true,
            ..ConnectResult::default()
        }),
        ..Reply::default()
    }
}

fn publication_push() -> Reply {
    Reply::from(Push {
        channel: "chat:1".into(),
        r#pub: Some(Publication {
            data: json(r#"{"t":"hi"}"#),
            offset: 16,
            ..Publication::default()
        }),
        ..Push::default()
    })
}

fn error_reply() -> Reply {
    Reply::error(3, ErrorCode::PERMISSION_DENIED)
}

fn unsubscribe_push() -> Reply {
    Reply::from(UnsubscribeCode::SERVER.to_push("chat:1"))
}

#[test]
fn connect_reply_json() {
    assert_json_reply(
        &connect_reply(),
        r#"{"id":1,"connect":{"client":"c7a1c6b2-3a8e-4f4e-9a53-0b6d1e0d2a11","version":"6.9.1","ping":25,"pong":true}}"#,
    );
}

#[test]
fn connect_reply_protobuf() {
    let mut result = vec![0x0a, 36];
    result.extend_from_slice(CLIENT_ID.as_bytes());
    result.extend_from_slice(&[0x12, 5]);
    result.extend_from_slice(b"6.9.1");
    result.extend_from_slice(&[0x38, 25, 0x40, 1]);
    let mut reply = vec![0x08, 1, 0x2a, u8::try_from(result.len()).unwrap()];
    reply.extend_from_slice(&result);
    let mut frame = vec![u8::try_from(reply.len()).unwrap()];
    frame.extend_from_slice(&reply);
    assert_protobuf_reply(&connect_reply(), &frame);
}

#[test]
fn subscribe_with_recovery_reply() {
    let reply = Reply {
        id: 2,
        subscribe: Some(SubscribeResult {
            recoverable: true,
            positioned: true,
            epoch: "AbCdEfGh".into(),
            offset: 14,
            recovered: true,
            was_recovering: true,
            publications: vec![Publication {
                data: json(r#"{"t":"hi"}"#),
                offset: 15,
                ..Publication::default()
            }],
            ..SubscribeResult::default()
        }),
        ..Reply::default()
    };
    // Fields come out in schema order, as Centrifugo writes them.
    assert_json_reply(
        &reply,
        r#"{"id":2,"subscribe":{"recoverable":true,"epoch":"AbCdEfGh","publications":[{"data":{"t":"hi"},"offset":15}],"recovered":true,"offset":14,"positioned":true,"was_recovering":true}}"#,
    );
    // The spec's illustration uses another key order; it decodes to the same value.
    let spec = br#"{"id":2,"subscribe":{"recoverable":true,"positioned":true,"epoch":"AbCdEfGh","offset":14,"recovered":true,"was_recovering":true,"publications":[{"data":{"t":"hi"},"offset":15}]}}"#;
    assert_eq!(
        decode_replies(Protocol::Json, spec).unwrap(),
        vec![reply.clone()]
    );

    let publication = [
        0x22, 10, b'{', b'"', b't', b'"', b':', b'"', b'h', b'i', b'"', b'}', 0x30, 15,
    ];
    let mut result = vec![0x18, 1, 0x32, 8];
    result.extend_from_slice(b"AbCdEfGh");
    result.extend_from_slice(&[0x3a, 14]);
    result.extend_from_slice(&publication);
    result.extend_from_slice(&[0x40, 1, 0x48, 14, 0x50, 1, 0x60, 1]);
    let mut frame = vec![u8::try_from(result.len() + 4).unwrap(), 0x08, 2, 0x32];
    frame.push(u8::try_from(result.len()).unwrap());
    frame.extend_from_slice(&result);
    assert_protobuf_reply(&reply, &frame);
}

#[test]
fn publication_push_both_formats() {
    assert_json_reply(
        &publication_push(),
        r#"{"push":{"channel":"chat:1","pub":{"data":{"t":"hi"},"offset":16}}}"#,
    );
    let mut expected = vec![0x1a, 0x22, 0x18, 0x12, 6];
    expected.extend_from_slice(b"chat:1");
    expected.extend_from_slice(&[0x22, 14, 0x22, 10]);
    expected.extend_from_slice(br#"{"t":"hi"}"#);
    expected.extend_from_slice(&[0x30, 16]);
    assert_protobuf_reply(&publication_push(), &expected);
}

#[test]
fn error_reply_both_formats() {
    assert_json_reply(
        &error_reply(),
        r#"{"id":3,"error":{"code":103,"message":"permission denied"}}"#,
    );
    let mut expected = vec![0x19, 0x08, 3, 0x12, 21, 0x08, 103, 0x12, 17];
    expected.extend_from_slice(b"permission denied");
    assert_protobuf_reply(&error_reply(), &expected);
}

#[test]
fn temporary_error_reply() {
    assert_json_reply(
        &Reply::error(7, ErrorCode::TOO_MANY_REQUESTS),
        r#"{"id":7,"error":{"code":111,"message":"too many requests","temporary":true}}"#,
    );
}

#[test]
fn ping_and_pong_are_empty_messages() {
    assert_json_reply(&Reply::ping(), "{}");
    assert_protobuf_reply(&Reply::ping(), &[0x00]);
    for protocol in [Protocol::Json, Protocol::Protobuf] {
        let pong = encode_command(protocol, &Command::pong()).unwrap();
        assert_eq!(&pong[..], protocol.empty_message_frame());
        let ping = encode_push(protocol, &Push::ping()).unwrap();
        assert_eq!(&ping[..], protocol.empty_message_frame());
        let decoded = decode_commands(protocol, protocol.empty_message_frame()).unwrap();
        assert_eq!(decoded.len(), 1);
        assert!(decoded[0].is_pong());
        assert!(decode_replies(protocol, protocol.empty_message_frame()).unwrap()[0].is_ping());
        assert!(decode_pushes(protocol, protocol.empty_message_frame()).unwrap()[0].is_ping());
    }
    assert!(!connect_reply().is_ping());
    assert_eq!(
        decode_commands(Protocol::Json, b"{}\n").unwrap(),
        vec![Command::pong()]
    );
}

#[test]
fn presence_stats_with_zero_counts_are_written() {
    let reply = Reply {
        id: 4,
        presence_stats: Some(PresenceStatsResult::default()),
        ..Reply::default()
    };
    assert_json_reply(
        &reply,
        r#"{"id":4,"presence_stats":{"num_clients":0,"num_users":0}}"#,
    );
    assert_protobuf_reply(&reply, &[0x04, 0x08, 4, 0x52, 0]);

    let counts = Reply {
        id: 4,
        presence_stats: Some(PresenceStatsResult {
            num_clients: 2,
            num_users: 1,
        }),
        ..Reply::default()
    };
    assert_json_reply(
        &counts,
        r#"{"id":4,"presence_stats":{"num_clients":2,"num_users":1}}"#,
    );
}

#[test]
fn history_without_publications_writes_empty_array_epoch_and_offset() {
    let reply = Reply {
        id: 5,
        history: Some(HistoryResult::default()),
        ..Reply::default()
    };
    assert_json_reply(
        &reply,
        r#"{"id":5,"history":{"publications":[],"epoch":"","offset":0}}"#,
    );
    assert_protobuf_reply(&reply, &[0x04, 0x08, 5, 0x5a, 0]);
    // `null` (as older servers wrote it) decodes to the same value.
    let null = br#"{"id":5,"history":{"publications":null,"epoch":"","offset":0}}"#;
    assert_eq!(decode_replies(Protocol::Json, null).unwrap(), vec![reply]);

    let with_pubs = Reply {
        id: 5,
        history: Some(HistoryResult {
            publications: vec![Publication {
                data: json("1"),
                offset: 9,
                ..Publication::default()
            }],
            epoch: "e".into(),
            offset: 9,
        }),
        ..Reply::default()
    };
    assert_json_reply(
        &with_pubs,
        r#"{"id":5,"history":{"publications":[{"data":1,"offset":9}],"epoch":"e","offset":9}}"#,
    );
}

#[test]
fn presence_writes_user_and_client_always() {
    let mut presence = BTreeMap::new();
    presence.insert(
        "c1".to_owned(),
        ClientInfo {
            client: "c1".into(),
            ..ClientInfo::default()
        },
    );
    presence.insert(
        "c2".to_owned(),
        ClientInfo {
            user: "42".into(),
            client: "c2".into(),
            conn_info: json(r#"{"name":"Alice"}"#),
            chan_info: json("[1,2]"),
        },
    );
    let reply = Reply {
        id: 6,
        presence: Some(PresenceResult { presence }),
        ..Reply::default()
    };
    assert_json_reply(
        &reply,
        r#"{"id":6,"presence":{"presence":{"c1":{"user":"","client":"c1"},"c2":{"user":"42","client":"c2","conn_info":{"name":"Alice"},"chan_info":[1,2]}}}}"#,
    );
    let empty = Reply {
        id: 6,
        presence: Some(PresenceResult::default()),
        ..Reply::default()
    };
    assert_json_reply(&empty, r#"{"id":6,"presence":{"presence":{}}}"#);
}

#[test]
fn unsubscribe_push_both_formats() {
    assert_json_reply(
        &unsubscribe_push(),
        r#"{"push":{"channel":"chat:1","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}"#,
    );
    let mut expected = vec![0x23, 0x22, 33, 0x12, 6];
    expected.extend_from_slice(b"chat:1");
    expected.extend_from_slice(&[0x3a, 23, 0x10, 0xd0, 0x0f, 0x1a, 18]);
    expected.extend_from_slice(b"server unsubscribe");
    assert_protobuf_reply(&unsubscribe_push(), &expected);
}

#[test]
fn uni_connect_push() {
    let mut subs = BTreeMap::new();
    subs.insert("#42".to_owned(), SubscribeResult::default());
    let push = Push {
        connect: Some(Connect {
            client: CLIENT_ID.into(),
            version: "6.9.1".into(),
            subs,
            ping: 25,
            session: "s1".into(),
            ..Connect::default()
        }),
        ..Push::default()
    };
    let expected = r##"{"connect":{"client":"c7a1c6b2-3a8e-4f4e-9a53-0b6d1e0d2a11","version":"6.9.1","subs":{"#42":{}},"ping":25,"session":"s1"}}"##;
    let encoded = encode_push(Protocol::Json, &push).unwrap();
    assert_eq!(std::str::from_utf8(&encoded).unwrap(), expected);
    assert_eq!(
        decode_pushes(Protocol::Json, expected.as_bytes()).unwrap(),
        vec![push]
    );
}

#[test]
fn disconnect_push() {
    let push = DisconnectCode::SHUTDOWN.to_push();
    let encoded = encode_push(Protocol::Json, &push).unwrap();
    assert_eq!(
        &encoded[..],
        br#"{"disconnect":{"code":3001,"reason":"shutdown"}}"#
    );
}

fn connect_and_subscribe() -> Vec<Command> {
    vec![
        Command {
            id: 1,
            connect: Some(ConnectRequest {
                token: "T".into(),
                name: "js".into(),
                ..ConnectRequest::default()
            }),
            ..Command::default()
        },
        Command {
            id: 2,
            subscribe: Some(SubscribeRequest {
                channel: "chat:1".into(),
                recover: true,
                epoch: "AbCdEfGh".into(),
                offset: 14,
                ..SubscribeRequest::default()
            }),
            ..Command::default()
        },
    ]
}

const CONNECT_SUBSCRIBE: &str = concat!(
    r#"{"id":1,"connect":{"token":"T","name":"js"}}"#,
    "\n",
    r#"{"id":2,"subscribe":{"channel":"chat:1","recover":true,"epoch":"AbCdEfGh","offset":14}}"#,
);

#[test]
fn multi_command_json_frame() {
    let expected = connect_and_subscribe();
    assert_eq!(
        decode_commands(Protocol::Json, CONNECT_SUBSCRIBE.as_bytes()).unwrap(),
        expected
    );
    // At most one trailing newline is allowed.
    let trailing = format!("{CONNECT_SUBSCRIBE}\n");
    assert_eq!(
        decode_commands(Protocol::Json, trailing.as_bytes()).unwrap(),
        expected
    );

    // Client side: encoding produces exactly the same frame.
    let mut frame = FrameEncoder::new(Protocol::Json);
    for command in &expected {
        frame.append(command).unwrap();
    }
    assert_eq!(frame.len(), 2);
    assert_eq!(&frame.finish()[..], CONNECT_SUBSCRIBE.as_bytes());
    assert_eq!(
        &encode_command(Protocol::Json, &expected[0]).unwrap()[..],
        br#"{"id":1,"connect":{"token":"T","name":"js"}}"#
    );
}

#[test]
fn blank_lines_are_rejected() {
    let cases: [(&[u8], usize); 5] = [
        (b"{\"id\":1}\n\n{\"id\":2}", 1),
        (b"{\"id\":1}\n\n", 1),
        (b"\n{\"id\":1}", 0),
        (b"\n\n", 0),
        (b"{\"id\":1}\n{\"id\":2}\n\n", 2),
    ];
    for (frame, blank) in cases {
        match decode_commands(Protocol::Json, frame) {
            Err(DecodeError::BlankLine { index }) => assert_eq!(index, blank, "{frame:?}"),
            other => panic!("{frame:?}: expected BlankLine, got {other:?}"),
        }
    }
    // The lazy decoder still yields the messages before the blank line.
    let mut decoder = FrameDecoder::<Command>::new(Protocol::Json, b"{\"id\":1}\n\n{\"id\":2}");
    assert_eq!(decoder.next().unwrap().unwrap().id, 1);
    assert!(matches!(
        decoder.next(),
        Some(Err(DecodeError::BlankLine { index: 1 }))
    ));
    assert!(decoder.next().is_none());
}

#[test]
fn protobuf_varint_delimited_batch() {
    let mut frame = FrameEncoder::new(Protocol::Protobuf);
    frame.append(&error_reply()).unwrap();
    frame.append(&Reply::ping()).unwrap();
    frame.append(&publication_push()).unwrap();
    assert_eq!(frame.len(), 3);
    let bytes = frame.finish();

    let mut expected = vec![0x19, 0x08, 3, 0x12, 21, 0x08, 103, 0x12, 17];
    expected.extend_from_slice(b"permission denied");
    expected.push(0x00);
    expected.extend_from_slice(&[0x1a, 0x22, 0x18, 0x12, 6]);
    expected.extend_from_slice(b"chat:1");
    expected.extend_from_slice(&[0x22, 14, 0x22, 10]);
    expected.extend_from_slice(br#"{"t":"hi"}"#);
    expected.extend_from_slice(&[0x30, 16]);
    assert_eq!(&bytes[..], &expected[..]);

    let decoded = decode_replies(Protocol::Protobuf, &bytes).unwrap();
    assert_eq!(
        decoded,
        vec![error_reply(), Reply::ping(), publication_push()]
    );

    // Zero-copy decoding gives the same values.
    let shared: Vec<Reply> = FrameDecoder::from_shared(Protocol::Protobuf, &bytes)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(shared, decoded);
}

#[test]
fn protobuf_commands_frame() {
    let mut frame = FrameEncoder::new(Protocol::Protobuf);
    for command in connect_and_subscribe() {
        frame.append(&command).unwrap();
    }
    let bytes = frame.finish();
    let mut expected = vec![0x0b, 0x08, 1, 0x22, 7, 0x0a, 1, b'T', 0x22, 2, b'j', b's'];
    expected.extend_from_slice(&[0x1a, 0x08, 2, 0x2a, 22, 0x0a, 6]);
    expected.extend_from_slice(b"chat:1");
    expected.extend_from_slice(&[0x18, 1, 0x32, 8]);
    expected.extend_from_slice(b"AbCdEfGh");
    expected.extend_from_slice(&[0x38, 14]);
    assert_eq!(&bytes[..], &expected[..], "got {:02x?}", &bytes[..]);
    assert_eq!(
        decode_commands(Protocol::Protobuf, &bytes).unwrap(),
        connect_and_subscribe()
    );
}

#[test]
fn json_batch_of_replies_and_pre_encoded_push() {
    let shared = encode_reply(Protocol::Json, &publication_push()).unwrap();
    let mut frame = FrameEncoder::new(Protocol::Json);
    frame.append(&connect_reply()).unwrap();
    frame.append_encoded(&shared);
    frame.append(&Reply::ping()).unwrap();
    let bytes = frame.take();
    assert!(frame.is_empty());
    let text = std::str::from_utf8(&bytes).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(!text.ends_with('\n'));
    assert_eq!(
        decode_replies(Protocol::Json, &bytes).unwrap(),
        vec![connect_reply(), publication_push(), Reply::ping()]
    );
}

#[test]
fn raw_payloads_are_kept_verbatim() {
    // Any JSON value is captured as its exact text.
    let frame = br#"{"id":9,"rpc":{"method":"m","data":  [1, "two", {"3": null}] }}"#;
    let commands = decode_commands(Protocol::Json, frame).unwrap();
    let rpc = commands[0].rpc.as_ref().unwrap();
    assert_eq!(&rpc.data[..], br#"[1, "two", {"3": null}]"#);
    assert_eq!(rpc.method, "m");
    for (text, expected) in [
        (&br#"{"publish":{"data":"str"}}"#[..], &br#""str""#[..]),
        (br#"{"publish":{"data":12.5e3}}"#, b"12.5e3"),
        (br#"{"publish":{"data":null}}"#, b"null"),
        (br#"{"publish":{"data":true}}"#, b"true"),
    ] {
        let command = &decode_commands(Protocol::Json, text).unwrap()[0];
        assert_eq!(&command.publish.as_ref().unwrap().data[..], expected);
    }
}

#[test]
fn newlines_inside_payloads_are_stripped() {
    let reply = Reply::from(Push {
        channel: "c".into(),
        r#pub: Some(Publication {
            data: json("{\n  \"a\": 1,\n  \"b\": [\n1]\n}\n"),
            ..Publication::default()
        }),
        ..Push::default()
    });
    let encoded = encode_reply(Protocol::Json, &reply).unwrap();
    assert_eq!(
        &encoded[..],
        br#"{"push":{"channel":"c","pub":{"data":{  "a": 1,  "b": [1]}}}}"#
    );
}

#[test]
fn large_integers_are_json_numbers() {
    let reply = Reply {
        id: u32::MAX,
        push: Some(Push {
            id: i64::MIN,
            r#pub: Some(Publication {
                offset: u64::MAX,
                time: 1_767_225_600_000,
                score: -5,
                version: 7,
                ..Publication::default()
            }),
            ..Push::default()
        }),
        ..Reply::default()
    };
    assert_json_reply(
        &reply,
        r#"{"id":4294967295,"push":{"id":-9223372036854775808,"pub":{"offset":18446744073709551615,"time":1767225600000,"score":-5,"version":7}}}"#,
    );
}

#[test]
fn unknown_fields_are_ignored_and_null_means_zero() {
    let frame = br#"{"id":3,"future":{"x":[1,2]},"subscribe":{"channel":"c","epoch":null,"offset":null,"tf":null,"new_field":1}}"#;
    let commands = decode_commands(Protocol::Json, frame).unwrap();
    assert_eq!(
        commands,
        vec![Command {
            id: 3,
            subscribe: Some(SubscribeRequest {
                channel: "c".into(),
                ..SubscribeRequest::default()
            }),
            ..Command::default()
        }]
    );
}

#[test]
fn emulation_request_carries_a_command_frame() {
    let body = br#"{"node":"n1","session":"s1","data":"{\"id\":2,\"subscribe\":{\"channel\":\"c\"}}\n{\"id\":3,\"rpc\":{}}"}"#;
    let request = chorus_protocol::decode_emulation_request(Protocol::Json, body).unwrap();
    assert_eq!(request.node, "n1");
    assert_eq!(request.session, "s1");
    let frame = request.commands_frame(Protocol::Json).unwrap();
    let commands = decode_commands(Protocol::Json, &frame).unwrap();
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[1].id, 3);

    let not_a_string = br#"{"node":"n1","session":"s1","data":{"id":1}}"#;
    let request = chorus_protocol::decode_emulation_request(Protocol::Json, not_a_string).unwrap();
    assert!(matches!(
        request.commands_frame(Protocol::Json),
        Err(DecodeError::EmulationData { .. })
    ));
}

#[test]
fn code_tables() {
    assert_eq!(ErrorCode::ALL.len(), 14);
    assert!(ErrorCode::ALL.windows(2).all(|w| w[0].code < w[1].code));
    assert_eq!(ErrorCode::from_code(109), Some(ErrorCode::TOKEN_EXPIRED));
    let temporary: Vec<u32> = ErrorCode::ALL
        .iter()
        .filter(|c| c.temporary)
        .map(|c| c.code)
        .collect();
    assert_eq!(temporary, [100, 111, 113]);
    assert_eq!(DisconnectCode::ALL.len(), 22);
    assert!(
        DisconnectCode::ALL
            .windows(2)
            .all(|w| w[0].code < w[1].code)
    );
    for code in DisconnectCode::ALL {
        assert_eq!(code.reconnect, code.code < 3500, "{code:?}");
    }
    assert_eq!(
        DisconnectCode::from_code(3506),
        Some(DisconnectCode::INAPPROPRIATE_PROTOCOL)
    );
    assert!(chorus_protocol::codes::disconnect_code_reconnects(4000));
    assert!(!chorus_protocol::codes::disconnect_code_reconnects(4500));
    assert!(chorus_protocol::codes::disconnect_code_reconnects(5000));
    assert!(!chorus_protocol::codes::disconnect_code_reconnects(1009));
    assert!(!UnsubscribeCode::SERVER.resubscribe());
    assert!(UnsubscribeCode::INSUFFICIENT_STATE.resubscribe());
    assert!(
        UnsubscribeCode::EXPIRED.resubscribe() && UnsubscribeCode::STATE_INVALIDATED.resubscribe()
    );
    assert_eq!(
        Protocol::from_ws_subprotocol("centrifuge-protobuf"),
        Some(Protocol::Protobuf)
    );
    assert_eq!(Protocol::Json.ws_subprotocol(), "centrifuge-json");
    assert!(Protocol::Protobuf.is_binary() && !Protocol::Json.is_binary());
}
