//! Property tests: encode → decode returns the same value, in both encodings,
//! for single messages and for batched frames.

use std::collections::BTreeMap;

use bytes::Bytes;
use chorus_protocol::*;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

/// Payloads for `bytes` fields: empty, or compact JSON (no newlines), which
/// is what a JSON connection can carry unchanged.
fn raw_json() -> impl Strategy<Value = Bytes> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        (-1.0e12f64..1.0e12).prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        1 => Just(Bytes::new()),
        4 => value.prop_map(|v| Bytes::from(serde_json::to_vec(&v).unwrap())),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), ".{0,16}"]
}

fn strings() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(".{0,8}", ".{0,8}", 0..3)
}

fn client_info() -> impl Strategy<Value = ClientInfo> {
    (text(), text(), raw_json(), raw_json()).prop_map(|(user, client, conn_info, chan_info)| {
        ClientInfo {
            user,
            client,
            conn_info,
            chan_info,
        }
    })
}

fn publication() -> impl Strategy<Value = Publication> {
    let head = (
        raw_json(),
        option::of(client_info()),
        any::<u64>(),
        strings(),
        any::<bool>(),
        any::<i64>(),
    );
    let tail = (
        text(),
        text(),
        any::<bool>(),
        any::<i64>(),
        text(),
        raw_json(),
        any::<u64>(),
    );
    (head, tail).prop_map(|(head, tail)| {
        let (data, info, offset, tags, delta, time) = head;
        let (channel, key, removed, score, epoch, prev_data, version) = tail;
        Publication {
            data,
            info,
            offset,
            tags,
            delta,
            time,
            channel,
            key,
            removed,
            score,
            epoch,
            prev_data,
            version,
        }
    })
}

fn filter_node() -> impl Strategy<Value = FilterNode> {
    let leaf = (text(), text(), text(), text(), vec(text(), 0..3)).prop_map(
        |(op, key, cmp, val, vals)| FilterNode {
            op,
            key,
            cmp,
            val,
            vals,
            nodes: Vec::new(),
        },
    );
    leaf.prop_recursive(3, 12, 3, |inner| {
        (text(), vec(inner, 0..3)).prop_map(|(op, nodes)| FilterNode {
            op,
            nodes,
            ..FilterNode::default()
        })
    })
}

fn subscribe_request() -> impl Strategy<Value = SubscribeRequest> {
    let head = (
        text(),
        text(),
        any::<bool>(),
        text(),
        any::<u64>(),
        raw_json(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        text(),
    );
    let tail = (
        option::of(filter_node()),
        any::<i64>(),
        any::<i32>(),
        any::<i32>(),
        text(),
        any::<i32>(),
        any::<bool>(),
    );
    (head, tail).prop_map(|(head, tail)| {
        let (
            channel,
            token,
            recover,
            epoch,
            offset,
            data,
            positioned,
            recoverable,
            join_leave,
            delta,
        ) = head;
        let (tf, flag, r#type, phase, cursor, limit, asc) = tail;
        SubscribeRequest {
            channel,
            token,
            recover,
            epoch,
            offset,
            data,
            positioned,
            recoverable,
            join_leave,
            delta,
            tf,
            flag,
            r#type,
            phase,
            cursor,
            limit,
            asc,
        }
    })
}

fn subscribe_result() -> impl Strategy<Value = SubscribeResult> {
    let head = (
        any::<bool>(),
        any::<u32>(),
        any::<bool>(),
        text(),
        vec(publication(), 0..2),
        any::<bool>(),
        any::<u64>(),
        any::<bool>(),
        raw_json(),
        any::<bool>(),
    );
    let tail = (
        any::<bool>(),
        any::<i64>(),
        any::<i32>(),
        any::<i32>(),
        text(),
        vec(publication(), 0..2),
        any::<u32>(),
    );
    (head, tail).prop_map(|(head, tail)| {
        let (
            expires,
            ttl,
            recoverable,
            epoch,
            publications,
            recovered,
            offset,
            positioned,
            data,
            was_recovering,
        ) = head;
        let (delta, id, r#type, phase, cursor, state, publish_debounce) = tail;
        SubscribeResult {
            expires,
            ttl,
            recoverable,
            epoch,
            publications,
            recovered,
            offset,
            positioned,
            data,
            was_recovering,
            delta,
            id,
            r#type,
            phase,
            cursor,
            state,
            publish_debounce,
        }
    })
}

fn connect_request() -> impl Strategy<Value = ConnectRequest> {
    (
        text(),
        raw_json(),
        btree_map(".{0,8}", subscribe_request(), 0..2),
        text(),
        text(),
        strings(),
        any::<i64>(),
    )
        .prop_map(
            |(token, data, subs, name, version, headers, flag)| ConnectRequest {
                token,
                data,
                subs,
                name,
                version,
                headers,
                flag,
            },
        )
}

fn connect_result() -> impl Strategy<Value = ConnectResult> {
    let head = (
        text(),
        text(),
        any::<bool>(),
        any::<u32>(),
        raw_json(),
        btree_map(".{0,8}", subscribe_result(), 0..2),
    );
    let tail = (any::<u32>(), any::<bool>(), text(), text(), any::<i64>());
    (head, tail).prop_map(|(head, tail)| {
        let (client, version, expires, ttl, data, subs) = head;
        let (ping, pong, session, node, time) = tail;
        ConnectResult {
            client,
            version,
            expires,
            ttl,
            data,
            subs,
            ping,
            pong,
            session,
            node,
            time,
        }
    })
}

fn sub_refresh_request() -> impl Strategy<Value = SubRefreshRequest> {
    let batch =
        (text(), vec((text(), any::<u64>()), 0..3)).prop_map(|(signature, items)| TrackBatch {
            signature,
            items: items
                .into_iter()
                .map(|(key, version)| KeyedItem { key, version })
                .collect(),
        });
    (
        text(),
        text(),
        any::<i32>(),
        vec(batch, 0..2),
        vec(text(), 0..3),
    )
        .prop_map(
            |(channel, token, r#type, track, untrack)| SubRefreshRequest {
                channel,
                token,
                r#type,
                track,
                untrack,
            },
        )
}

fn command() -> impl Strategy<Value = Command> {
    let request = prop_oneof![
        connect_request().prop_map(|r| Command {
            connect: Some(r),
            ..Command::default()
        }),
        subscribe_request().prop_map(|r| Command {
            subscribe: Some(r),
            ..Command::default()
        }),
        text().prop_map(|channel| Command {
            unsubscribe: Some(UnsubscribeRequest { channel }),
            ..Command::default()
        }),
        (text(), raw_json(), any::<i32>(), text(), any::<bool>()).prop_map(
            |(channel, data, r#type, key, removed)| Command {
                publish: Some(PublishRequest {
                    channel,
                    data,
                    r#type,
                    key,
                    removed
                }),
                ..Command::default()
            }
        ),
        text().prop_map(|channel| Command {
            presence: Some(PresenceRequest { channel }),
            ..Command::default()
        }),
        text().prop_map(|channel| Command {
            presence_stats: Some(PresenceStatsRequest { channel }),
            ..Command::default()
        }),
        (
            text(),
            any::<i32>(),
            option::of((any::<u64>(), text())),
            any::<bool>()
        )
            .prop_map(|(channel, limit, since, reverse)| Command {
                history: Some(HistoryRequest {
                    channel,
                    limit,
                    since: since.map(|(offset, epoch)| StreamPosition { offset, epoch }),
                    reverse,
                }),
                ..Command::default()
            }),
        Just(Command {
            ping: Some(PingRequest {}),
            ..Command::default()
        }),
        raw_json().prop_map(|data| Command {
            send: Some(SendRequest { data }),
            ..Command::default()
        }),
        (raw_json(), text()).prop_map(|(data, method)| Command {
            rpc: Some(RpcRequest { data, method }),
            ..Command::default()
        }),
        text().prop_map(|token| Command {
            refresh: Some(RefreshRequest { token }),
            ..Command::default()
        }),
        sub_refresh_request().prop_map(|r| Command {
            sub_refresh: Some(r),
            ..Command::default()
        }),
        Just(Command::pong()),
    ];
    (any::<u32>(), request).prop_map(|(id, command)| Command { id, ..command })
}

fn push() -> impl Strategy<Value = Push> {
    let body = prop_oneof![
        publication().prop_map(|p| Push {
            r#pub: Some(p),
            ..Push::default()
        }),
        option::of(client_info()).prop_map(|info| Push {
            join: Some(Join { info }),
            ..Push::default()
        }),
        option::of(client_info()).prop_map(|info| Push {
            leave: Some(Leave { info }),
            ..Push::default()
        }),
        (any::<u32>(), text()).prop_map(|(code, reason)| Push {
            unsubscribe: Some(Unsubscribe { code, reason }),
            ..Push::default()
        }),
        raw_json().prop_map(|data| Push {
            message: Some(Message { data }),
            ..Push::default()
        }),
        (
            any::<bool>(),
            text(),
            any::<u64>(),
            any::<bool>(),
            raw_json()
        )
            .prop_map(|(recoverable, epoch, offset, positioned, data)| Push {
                subscribe: Some(Subscribe {
                    recoverable,
                    epoch,
                    offset,
                    positioned,
                    data
                }),
                ..Push::default()
            }),
        connect_result().prop_map(|c| Push {
            connect: Some(Connect {
                client: c.client,
                version: c.version,
                data: c.data,
                subs: c.subs,
                expires: c.expires,
                ttl: c.ttl,
                ping: c.ping,
                pong: c.pong,
                session: c.session,
                node: c.node,
                time: c.time,
            }),
            ..Push::default()
        }),
        (any::<u32>(), text(), any::<bool>()).prop_map(|(code, reason, reconnect)| Push {
            disconnect: Some(Disconnect {
                code,
                reason,
                reconnect
            }),
            ..Push::default()
        }),
        (any::<bool>(), any::<u32>()).prop_map(|(expires, ttl)| Push {
            refresh: Some(Refresh { expires, ttl }),
            ..Push::default()
        }),
        Just(Push::ping()),
    ];
    (any::<i64>(), text(), body).prop_map(|(id, channel, push)| Push {
        id,
        channel,
        ..push
    })
}

fn reply() -> impl Strategy<Value = Reply> {
    let body = prop_oneof![
        push().prop_map(Reply::from),
        connect_result().prop_map(|r| Reply {
            connect: Some(r),
            ..Reply::default()
        }),
        subscribe_result().prop_map(|r| Reply {
            subscribe: Some(r),
            ..Reply::default()
        }),
        Just(Reply {
            unsubscribe: Some(UnsubscribeResult {}),
            ..Reply::default()
        }),
        Just(Reply {
            publish: Some(PublishResult {}),
            ..Reply::default()
        }),
        btree_map(".{0,8}", client_info(), 0..3).prop_map(|presence| Reply {
            presence: Some(PresenceResult { presence }),
            ..Reply::default()
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(num_clients, num_users)| Reply {
            presence_stats: Some(PresenceStatsResult {
                num_clients,
                num_users
            }),
            ..Reply::default()
        }),
        (vec(publication(), 0..3), text(), any::<u64>()).prop_map(
            |(publications, epoch, offset)| Reply {
                history: Some(HistoryResult {
                    publications,
                    epoch,
                    offset
                }),
                ..Reply::default()
            }
        ),
        Just(Reply {
            ping: Some(PingResult {}),
            ..Reply::default()
        }),
        raw_json().prop_map(|data| Reply {
            rpc: Some(RpcResult { data }),
            ..Reply::default()
        }),
        (text(), text(), any::<bool>(), any::<u32>()).prop_map(
            |(client, version, expires, ttl)| Reply {
                refresh: Some(RefreshResult {
                    client,
                    version,
                    expires,
                    ttl
                }),
                ..Reply::default()
            }
        ),
        (any::<bool>(), any::<u32>(), vec(publication(), 0..2)).prop_map(
            |(expires, ttl, items)| Reply {
                sub_refresh: Some(SubRefreshResult {
                    expires,
                    ttl,
                    items
                }),
                ..Reply::default()
            }
        ),
        Just(Reply::ping()),
    ];
    let error = option::of((any::<u32>(), text(), any::<bool>()).prop_map(
        |(code, message, temporary)| Error {
            code,
            message,
            temporary,
        },
    ));
    (any::<u32>(), error, body).prop_map(|(id, error, reply)| Reply { id, error, ..reply })
}

const PROTOCOLS: [Protocol; 2] = [Protocol::Json, Protocol::Protobuf];

fn round_trip<M: WireMessage>(message: &M) -> Result<(), TestCaseError> {
    for protocol in PROTOCOLS {
        let encoded = encode(protocol, message)
            .map_err(|e| TestCaseError::fail(format!("{protocol}: {e}")))?;
        if protocol == Protocol::Json {
            prop_assert!(!encoded.contains(&b'\n'), "JSON message contains a newline");
        }
        let decoded: Vec<M> = decode_frame(protocol, &encoded)
            .map_err(|e| TestCaseError::fail(format!("{protocol}: {e}")))?;
        prop_assert_eq!(decoded.len(), 1);
        prop_assert_eq!(&decoded[0], message, "{}", protocol);
    }
    Ok(())
}

fn batch_round_trip_in<M: WireMessage>(
    protocol: Protocol,
    messages: &[M],
) -> Result<(), TestCaseError> {
    let mut frame = FrameEncoder::new(protocol);
    for message in messages {
        frame
            .append(message)
            .map_err(|e| TestCaseError::fail(format!("{protocol}: {e}")))?;
    }
    let bytes = frame.finish();
    let decoded: Vec<M> = decode_frame(protocol, &bytes)
        .map_err(|e| TestCaseError::fail(format!("{protocol}: {e}")))?;
    prop_assert_eq!(&decoded[..], messages, "{}", protocol);
    // A single trailing newline is accepted in JSON.
    if protocol == Protocol::Json {
        let mut with_newline = bytes.to_vec();
        with_newline.push(b'\n');
        let decoded: Vec<M> = decode_frame(protocol, &with_newline)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&decoded[..], messages);
    }
    Ok(())
}

fn batch_round_trip<M: WireMessage>(messages: &[M]) -> Result<(), TestCaseError> {
    for protocol in PROTOCOLS {
        batch_round_trip_in(protocol, messages)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn commands_round_trip(command in command()) {
        round_trip(&command)?;
    }

    #[test]
    fn replies_round_trip(reply in reply()) {
        round_trip(&reply)?;
    }

    #[test]
    fn pushes_round_trip(push in push()) {
        round_trip(&push)?;
    }

    #[test]
    fn command_frames_round_trip(commands in vec(command(), 1..5)) {
        batch_round_trip(&commands)?;
    }

    #[test]
    fn reply_frames_round_trip(replies in vec(reply(), 1..5)) {
        batch_round_trip(&replies)?;
    }

    /// Any bytes: decoding never panics, and whatever is accepted re-encodes
    /// to something that decodes to the same value.
    #[test]
    fn arbitrary_bytes_never_panic(frame in vec(any::<u8>(), 0..64)) {
        for protocol in PROTOCOLS {
            if let Ok(commands) = decode_commands(protocol, &frame) {
                batch_round_trip_in(protocol, &commands)?;
            }
            if let Ok(replies) = decode_replies(protocol, &frame) {
                batch_round_trip_in(protocol, &replies)?;
            }
        }
    }
}
