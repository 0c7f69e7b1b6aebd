//! The gRPC server API over real sockets, driven by the generated tonic client:
//! every method, and parity with the HTTP API on the same node (same request,
//! same result). Authentication, error modes, limits and the server's
//! listeners are in `grpc_server.rs`.

use crate::grpc_support;

use bytes::Bytes;
use chorus_server::grpc_proto::api as pb;
use grpc_support::{Server, authed, transport_mode};
use serde_json::{Value, json};

fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(v.to_string())
}

fn bytes_json(b: &[u8]) -> Value {
    if b.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(b).unwrap()
    }
}

/// The gRPC history result in the HTTP API's JSON shape.
fn history_json(r: &pb::HistoryResult) -> Value {
    let pubs: Vec<Value> = r
        .publications
        .iter()
        .map(|p| {
            let mut v = json!({"data": bytes_json(&p.data), "offset": p.offset});
            if !p.tags.is_empty() {
                v["tags"] = json!(p.tags);
            }
            v
        })
        .collect();
    json!({"publications": pubs, "epoch": r.epoch, "offset": r.offset})
}

fn presence_json(r: &pb::PresenceResult) -> Value {
    let map: serde_json::Map<String, Value> = r
        .presence
        .iter()
        .map(|(id, c)| {
            let mut v = json!({"user": c.user, "client": c.client});
            if !c.conn_info.is_empty() {
                v["conn_info"] = bytes_json(&c.conn_info);
            }
            (id.clone(), v)
        })
        .collect();
    json!({ "presence": map })
}

fn error_code(e: Option<&pb::Error>) -> u32 {
    e.map_or(0, |e| e.code)
}

#[tokio::test]
async fn publish_and_history_match_http() {
    let s = Server::default().await;
    let mut c = s.client().await;
    let data = json!({"text": "hi"});
    let r = c
        .publish(authed(pb::PublishRequest {
            channel: "hist:a".into(),
            data: json_bytes(&data),
            tags: [("k".to_owned(), "v".to_owned())].into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_none(), "{r:?}");
    let grpc_pub = r.result.unwrap();
    assert_eq!(grpc_pub.offset, 1);
    let http_pub = s
        .http(
            "publish",
            json!({"channel": "hist:a", "data": data, "tags": {"k": "v"}}),
        )
        .await;
    assert_eq!(http_pub, json!({"offset": 2, "epoch": grpc_pub.epoch}));

    // No history: zero values in gRPC, `{}` over HTTP.
    let r = c
        .publish(authed(pb::PublishRequest {
            channel: "news".into(),
            data: json_bytes(&data),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, Some(pb::PublishResult::default()));
    assert_eq!(
        s.http("publish", json!({"channel": "news", "data": data}))
            .await,
        json!({})
    );

    for (limit, reverse) in [(-1, false), (0, false), (1, true)] {
        let grpc = c
            .history(authed(pb::HistoryRequest {
                channel: "hist:a".into(),
                limit,
                reverse,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .result
            .unwrap();
        let http = s
            .http(
                "history",
                json!({"channel": "hist:a", "limit": limit, "reverse": reverse}),
            )
            .await;
        assert_eq!(history_json(&grpc), http, "limit {limit} reverse {reverse}");
    }

    // since + another epoch → 112 in both.
    let since = Some(pb::StreamPosition {
        offset: 1,
        epoch: "other".into(),
    });
    let r = c
        .history(authed(pb::HistoryRequest {
            channel: "hist:a".into(),
            limit: 10,
            since,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error_code(r.error.as_ref()), 112);
    assert!(r.result.is_none());

    // history_remove keeps the position.
    let r = c
        .history_remove(authed(pb::HistoryRemoveRequest {
            channel: "hist:a".into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, Some(pb::HistoryRemoveResult {}));
    let after = s
        .http("history", json!({"channel": "hist:a", "limit": -1}))
        .await;
    assert_eq!(
        after,
        json!({"publications": [], "epoch": grpc_pub.epoch, "offset": 2})
    );
}

#[tokio::test]
async fn binary_payloads_travel_unchanged() {
    let s = Server::default().await;
    let mut c = s.client().await;
    let raw = Bytes::from_static(b"\x00\x01binary\xff");
    let r = c
        .publish(authed(pb::PublishRequest {
            channel: "hist:bin".into(),
            data: raw.clone(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_none(), "{r:?}");
    // b64data is accepted too, and wins over data.
    let r = c
        .publish(authed(pb::PublishRequest {
            channel: "hist:bin".into(),
            data: Bytes::from_static(b"ignored"),
            b64data: "AAE=".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(r.error.is_none(), "{r:?}");
    let h = c
        .history(authed(pb::HistoryRequest {
            channel: "hist:bin".into(),
            limit: -1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    let datas: Vec<_> = h.publications.iter().map(|p| p.data.clone()).collect();
    assert_eq!(datas, [raw, Bytes::from_static(b"\x00\x01")]);
}

#[tokio::test]
async fn presence_channels_info_match_http() {
    let s = Server::default().await;
    let mut c = s.client().await;
    let mut alice = s.ws_client("alice").await;
    assert!(alice.subscribe("hist:room").await.subscribe.is_some());
    let mut bob = s.ws_client("bob").await;
    assert!(bob.subscribe("hist:room").await.subscribe.is_some());
    assert!(bob.subscribe("lobby").await.subscribe.is_some());

    let grpc = c
        .presence(authed(pb::PresenceRequest {
            channel: "hist:room".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!(grpc.presence.len(), 2);
    let http = s.http("presence", json!({"channel": "hist:room"})).await;
    assert_eq!(presence_json(&grpc), http);

    let grpc = c
        .presence_stats(authed(pb::PresenceStatsRequest {
            channel: "hist:room".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!((grpc.num_clients, grpc.num_users), (2, 2));
    let http = s
        .http("presence_stats", json!({"channel": "hist:room"}))
        .await;
    assert_eq!(http, json!({"num_clients": 2, "num_users": 2}));

    for pattern in ["", "hist:*", "nothing*"] {
        let grpc = c
            .channels(authed(pb::ChannelsRequest {
                pattern: pattern.into(),
            }))
            .await
            .unwrap()
            .into_inner()
            .result
            .unwrap();
        let as_json: serde_json::Map<String, Value> = grpc
            .channels
            .iter()
            .map(|(k, v)| (k.clone(), json!({"num_clients": v.num_clients})))
            .collect();
        let http = s.http("channels", json!({"pattern": pattern})).await;
        assert_eq!(json!({"channels": as_json}), http, "pattern {pattern:?}");
    }

    let grpc = c
        .info(authed(pb::InfoRequest {}))
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    let http = s.http("info", json!({})).await;
    assert_eq!(grpc.nodes.len(), 1);
    let (g, h) = (&grpc.nodes[0], &http["nodes"][0]);
    assert_eq!(h["uid"], g.uid.as_str());
    assert_eq!(h["name"], g.name.as_str());
    assert_eq!(h["version"], g.version.as_str());
    assert_eq!(h["num_clients"], g.num_clients);
    assert_eq!(h["num_users"], g.num_users);
    assert_eq!(h["num_channels"], g.num_channels);
    assert_eq!(h["num_subs"], g.num_subs);
    assert_eq!((g.num_clients, g.num_channels, g.num_subs), (2, 2, 3));
}

#[tokio::test]
async fn user_level_methods_reach_connections() {
    let s = Server::default().await;
    let mut c = s.client().await;
    let mut alice = s.ws_client("alice").await;

    let r = c
        .subscribe(authed(pb::SubscribeRequest {
            user: "alice".into(),
            channel: "hist:srv".into(),
            data: json_bytes(&json!({"welcome": 1})),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, Some(pb::SubscribeResult {}), "{r:?}");
    let push = alice.recv_push().await;
    assert_eq!(push.channel, "hist:srv");
    assert_eq!(push.subscribe.unwrap().data.as_ref(), br#"{"welcome":1}"#);

    let r = c
        .unsubscribe(authed(pb::UnsubscribeRequest {
            user: "alice".into(),
            channel: "hist:srv".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, Some(pb::UnsubscribeResult {}));
    let push = alice.recv_push().await;
    assert_eq!(push.channel, "hist:srv");
    assert!(push.unsubscribe.is_some(), "{push:?}");

    let r = c
        .refresh(authed(pb::RefreshRequest {
            user: "alice".into(),
            info: json_bytes(&json!({"v": 2})),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, Some(pb::RefreshResult {}));

    let r = c
        .disconnect(authed(pb::DisconnectRequest {
            user: "alice".into(),
            disconnect: Some(pb::Disconnect {
                code: 4000,
                reason: "bye".into(),
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.result, Some(pb::DisconnectResult {}));
    assert_eq!(alice.closed_with().await, (4000, "bye".to_owned()));

    // Validation is the executor's, as over HTTP.
    let r = c
        .subscribe(authed(pb::SubscribeRequest {
            user: "alice".into(),
            channel: "nope:x".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error_code(r.error.as_ref()), 102);
    let r = c
        .unsubscribe(authed(pb::UnsubscribeRequest {
            user: "alice".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error_code(r.error.as_ref()), 107);
}

#[tokio::test]
async fn bad_input_and_broadcast_rpc_batch() {
    let s = Server::default().await;
    let mut c = s.client().await;

    let cases = [
        (pb::PublishRequest::default(), 107),
        (
            pb::PublishRequest {
                channel: "news".into(),
                ..Default::default()
            },
            107,
        ),
        (
            pb::PublishRequest {
                channel: "nope:x".into(),
                ..Default::default()
            },
            102,
        ),
        (
            pb::PublishRequest {
                channel: "news".into(),
                b64data: "not base64!".into(),
                ..Default::default()
            },
            107,
        ),
    ];
    for (req, code) in cases {
        let r = c.publish(authed(req.clone())).await.unwrap().into_inner();
        assert_eq!(error_code(r.error.as_ref()), code, "{req:?}");
        assert!(r.result.is_none());
        let e = r.error.unwrap();
        let http = s
            .http(
                "publish",
                json!({"channel": req.channel, "b64data": req.b64data}),
            )
            .await;
        assert_eq!(http["error"], json!({"code": e.code, "message": e.message}));
    }
    for channel in ["plain:p", "news"] {
        let r = c
            .presence(authed(pb::PresenceRequest {
                channel: channel.into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(error_code(r.error.as_ref()), 108, "{channel}");
    }

    let r = c
        .broadcast(authed(pb::BroadcastRequest {
            channels: vec!["hist:b".into(), "nope:b".into()],
            data: json_bytes(&json!(1)),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .result
        .unwrap();
    assert_eq!(r.responses.len(), 2);
    assert_eq!(r.responses[0].result.as_ref().unwrap().offset, 1);
    assert_eq!(error_code(r.responses[1].error.as_ref()), 102);
    let r = c
        .broadcast(authed(pb::BroadcastRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error_code(r.error.as_ref()), 107);

    let r = c
        .rpc(authed(pb::RpcRequest {
            method: "ping".into(),
            params: Bytes::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error_code(r.error.as_ref()), 104);
    let r = c
        .rpc(authed(pb::RpcRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error_code(r.error.as_ref()), 107);

    for parallel in [false, true] {
        let commands = vec![
            pb::Command {
                publish: Some(pb::PublishRequest {
                    channel: "hist:batch".into(),
                    data: json_bytes(&json!({"a": 1})),
                    ..Default::default()
                }),
                ..Default::default()
            },
            pb::Command {
                publish: Some(pb::PublishRequest {
                    channel: "nope:x".into(),
                    data: json_bytes(&json!({})),
                    ..Default::default()
                }),
                ..Default::default()
            },
            pb::Command::default(),
            pb::Command {
                presence_stats: Some(pb::PresenceStatsRequest {
                    channel: "hist:batch".into(),
                }),
                ..Default::default()
            },
            pb::Command {
                info: Some(pb::InfoRequest {}),
                ..Default::default()
            },
        ];
        // Transport error mode does not apply to per-command errors.
        let r = c
            .batch(transport_mode(pb::BatchRequest { commands, parallel }))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.replies.len(), 5);
        assert!(r.replies[0].publish.as_ref().unwrap().offset >= 1);
        assert_eq!(
            r.replies[1].error,
            Some(pb::Error {
                code: 102,
                message: "unknown channel".into()
            })
        );
        assert_eq!(error_code(r.replies[2].error.as_ref()), 104);
        assert_eq!(
            r.replies[3].presence_stats,
            Some(pb::PresenceStatsResult::default())
        );
        assert_eq!(r.replies[4].info.as_ref().unwrap().nodes.len(), 1);
    }
}
