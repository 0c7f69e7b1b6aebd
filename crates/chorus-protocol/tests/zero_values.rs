//! Exact JSON of every reply result and push body at its zero value.
//!
//! Centrifugo's JSON omits a field whose Go struct tag carries `omitempty` and
//! always writes the others, even when zero. In `client.proto`'s Go structs the
//! always-written ones are `ClientInfo.user`/`.client`,
//! `PresenceResult.presence`, `PresenceStatsResult.num_clients`/`.num_users` and
//! `HistoryResult.publications`/`.epoch`/`.offset`; everything else is omitted
//! when empty. Centrifugo builds the history and presence results from non-nil
//! collections, so an empty history is `"publications":[]` and an empty
//! presence `"presence":{}` (never `null`, which some SDKs cannot iterate).

use bytes::Bytes;
use chorus_protocol::{
    ClientInfo, Connect, ConnectResult, Disconnect, Error, HistoryResult, Join, Leave, Message,
    PingResult, PresenceResult, PresenceStatsResult, Protocol, Publication, PublishResult, Push,
    RefreshResult, Reply, RpcResult, SubRefreshResult, Subscribe, SubscribeResult, Unsubscribe,
    UnsubscribeResult, decode_replies, encode_reply,
};

/// Encodes `reply` as JSON, checks the exact text and that it decodes back.
fn assert_json(reply: Reply, expected: &str) {
    let encoded = encode_reply(Protocol::Json, &reply).unwrap();
    assert_eq!(std::str::from_utf8(&encoded).unwrap(), expected);
    assert_eq!(
        decode_replies(Protocol::Json, expected.as_bytes()).unwrap(),
        vec![reply]
    );
}

fn reply(id: u32, set: impl FnOnce(&mut Reply)) -> Reply {
    let mut reply = Reply {
        id,
        ..Reply::default()
    };
    set(&mut reply);
    reply
}

fn push(set: impl FnOnce(&mut Push)) -> Reply {
    let mut push = Push {
        channel: "c".into(),
        ..Push::default()
    };
    set(&mut push);
    Reply {
        push: Some(push),
        ..Reply::default()
    }
}

#[test]
fn results_without_always_written_fields_are_empty_objects() {
    let cases: Vec<(Reply, &str)> = vec![
        (
            reply(1, |r| r.connect = Some(ConnectResult::default())),
            r#"{"id":1,"connect":{}}"#,
        ),
        (
            reply(2, |r| r.subscribe = Some(SubscribeResult::default())),
            r#"{"id":2,"subscribe":{}}"#,
        ),
        (
            reply(3, |r| r.unsubscribe = Some(UnsubscribeResult::default())),
            r#"{"id":3,"unsubscribe":{}}"#,
        ),
        (
            reply(4, |r| r.publish = Some(PublishResult::default())),
            r#"{"id":4,"publish":{}}"#,
        ),
        (
            reply(5, |r| r.ping = Some(PingResult::default())),
            r#"{"id":5,"ping":{}}"#,
        ),
        (
            reply(6, |r| r.rpc = Some(RpcResult::default())),
            r#"{"id":6,"rpc":{}}"#,
        ),
        (
            reply(7, |r| r.refresh = Some(RefreshResult::default())),
            r#"{"id":7,"refresh":{}}"#,
        ),
        (
            reply(8, |r| r.sub_refresh = Some(SubRefreshResult::default())),
            r#"{"id":8,"sub_refresh":{}}"#,
        ),
        (
            reply(9, |r| r.error = Some(Error::default())),
            r#"{"id":9,"error":{}}"#,
        ),
    ];
    for (reply, expected) in cases {
        assert_json(reply, expected);
    }
}

#[test]
fn history_presence_and_stats_always_write_their_fields() {
    assert_json(
        reply(1, |r| r.history = Some(HistoryResult::default())),
        r#"{"id":1,"history":{"publications":[],"epoch":"","offset":0}}"#,
    );
    assert_json(
        reply(2, |r| r.presence = Some(PresenceResult::default())),
        r#"{"id":2,"presence":{"presence":{}}}"#,
    );
    assert_json(
        reply(3, |r| {
            r.presence_stats = Some(PresenceStatsResult::default());
        }),
        r#"{"id":3,"presence_stats":{"num_clients":0,"num_users":0}}"#,
    );
    // `null` from other servers still decodes to the empty collections.
    let nulls = br#"{"id":1,"history":{"publications":null,"epoch":null,"offset":null}}"#;
    assert_eq!(
        decode_replies(Protocol::Json, nulls).unwrap(),
        vec![reply(1, |r| r.history = Some(HistoryResult::default()))]
    );
}

#[test]
fn subscribe_result_omits_empty_publications() {
    // Unlike history, `SubscribeResult.publications` is `omitempty`.
    assert_json(
        reply(1, |r| {
            r.subscribe = Some(SubscribeResult {
                recoverable: true,
                epoch: "e".into(),
                ..SubscribeResult::default()
            });
        }),
        r#"{"id":1,"subscribe":{"recoverable":true,"epoch":"e"}}"#,
    );
}

#[test]
fn push_bodies_at_zero() {
    let empty_info = || Some(ClientInfo::default());
    let cases: Vec<(Reply, &str)> = vec![
        (
            push(|p| p.r#pub = Some(Publication::default())),
            r#"{"push":{"channel":"c","pub":{}}}"#,
        ),
        (
            push(|p| {
                p.r#pub = Some(Publication {
                    info: empty_info(),
                    ..Publication::default()
                });
            }),
            r#"{"push":{"channel":"c","pub":{"info":{"user":"","client":""}}}}"#,
        ),
        (
            push(|p| p.join = Some(Join { info: empty_info() })),
            r#"{"push":{"channel":"c","join":{"info":{"user":"","client":""}}}}"#,
        ),
        (
            push(|p| p.leave = Some(Leave { info: empty_info() })),
            r#"{"push":{"channel":"c","leave":{"info":{"user":"","client":""}}}}"#,
        ),
        (
            push(|p| p.unsubscribe = Some(Unsubscribe::default())),
            r#"{"push":{"channel":"c","unsubscribe":{}}}"#,
        ),
        (
            push(|p| p.message = Some(Message::default())),
            r#"{"push":{"channel":"c","message":{}}}"#,
        ),
        (
            push(|p| p.subscribe = Some(Subscribe::default())),
            r#"{"push":{"channel":"c","subscribe":{}}}"#,
        ),
        (
            push(|p| p.connect = Some(Connect::default())),
            r#"{"push":{"channel":"c","connect":{}}}"#,
        ),
        (
            push(|p| p.disconnect = Some(Disconnect::default())),
            r#"{"push":{"channel":"c","disconnect":{}}}"#,
        ),
        (
            push(|p| p.refresh = Some(chorus_protocol::Refresh::default())),
            r#"{"push":{"channel":"c","refresh":{}}}"#,
        ),
    ];
    for (reply, expected) in cases {
        assert_json(reply, expected);
    }
    // Empty payloads are omitted, as `omitempty` does for Go's empty `Raw`.
    assert_json(
        push(|p| p.message = Some(Message { data: Bytes::new() })),
        r#"{"push":{"channel":"c","message":{}}}"#,
    );
}
