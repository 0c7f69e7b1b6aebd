//! The control messages nodes exchange through the broker, and their encoding.
//!
//! A message is a JSON header, then (only for forwarded emulation requests) a
//! newline and raw bytes. JSON keeps the rare control traffic readable with
//! `redis-cli monitor` or `nats sub`; the binary tail avoids base64 for the one
//! message whose body is a client's (possibly Protobuf) frame. Every message
//! names its sender, so a node ignores its own broadcasts.

use crate::auth::SubscribeOverride;
use crate::broker::StreamPosition;
use crate::connections::ConnectionInfo;
use crate::node::{NodeInfo, ServerRefresh, ServerSubscribe};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One control message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ControlEnvelope {
    /// The sending node's id.
    pub(crate) from: String,
    /// What to do.
    #[serde(flatten)]
    pub(crate) command: ClusterCommand,
}

/// What a control message asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ClusterCommand {
    /// Heartbeat: the sender is alive, with its statistics.
    Node(WireNodeInfo),
    /// The sender is shutting down: forget it now.
    Bye,
    /// API `disconnect`.
    Disconnect {
        user: String,
        client: Option<String>,
        whitelist: Vec<String>,
        code: u32,
        reason: String,
    },
    /// API `unsubscribe`.
    Unsubscribe {
        user: String,
        channel: String,
        client: Option<String>,
    },
    /// API `subscribe`.
    Subscribe(WireSubscribe),
    /// API `refresh`.
    Refresh(WireRefresh),
    /// A question every node answers (to the sender's node address).
    Survey { id: u64, question: Question },
    /// One node's answer to a survey.
    Answer { id: u64, answer: Answer },
    /// An emulation request for a session on the receiving node; the request
    /// body follows the header.
    Emulation { session: String },
}

/// Survey questions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Question {
    /// Channels with local subscribers, optionally filtered by a glob.
    Channels { pattern: Option<String> },
    /// Local connections, optionally of one user.
    Connections { user: Option<String> },
}

/// Survey answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Answer {
    /// Channel name → local subscriber count.
    Channels { channels: BTreeMap<String, u32> },
    /// Client id → connection.
    Connections {
        connections: BTreeMap<String, WireConnection>,
    },
}

/// [`NodeInfo`] on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireNodeInfo {
    uid: String,
    name: String,
    version: String,
    num_clients: u32,
    num_users: u32,
    num_channels: u32,
    num_subs: u32,
    uptime: u32,
}

impl From<&NodeInfo> for WireNodeInfo {
    fn from(n: &NodeInfo) -> Self {
        Self {
            uid: n.uid.clone(),
            name: n.name.clone(),
            version: n.version.clone(),
            num_clients: n.num_clients,
            num_users: n.num_users,
            num_channels: n.num_channels,
            num_subs: n.num_subs,
            uptime: n.uptime,
        }
    }
}

impl From<WireNodeInfo> for NodeInfo {
    fn from(w: WireNodeInfo) -> Self {
        Self {
            uid: w.uid,
            name: w.name,
            version: w.version,
            num_clients: w.num_clients,
            num_users: w.num_users,
            num_channels: w.num_channels,
            num_subs: w.num_subs,
            uptime: w.uptime,
        }
    }
}

/// [`ConnectionInfo`] on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireConnection {
    app_name: String,
    app_version: String,
    transport: String,
    protocol: String,
    user: String,
    channels: Vec<String>,
}

impl From<ConnectionInfo> for WireConnection {
    fn from(c: ConnectionInfo) -> Self {
        Self {
            app_name: c.app_name,
            app_version: c.app_version,
            transport: c.transport,
            protocol: c.protocol,
            user: c.user,
            channels: c.channels,
        }
    }
}

impl From<WireConnection> for ConnectionInfo {
    fn from(w: WireConnection) -> Self {
        Self {
            app_name: w.app_name,
            app_version: w.app_version,
            transport: w.transport,
            protocol: w.protocol,
            user: w.user,
            channels: w.channels,
        }
    }
}

/// Bytes as base64 in JSON (channel info and subscribe data are arbitrary).
mod b64 {
    use super::B64;
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(b))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let s = <&str>::deserialize(d)?;
        B64.decode(s)
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

/// [`ServerSubscribe`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireSubscribe {
    user: String,
    channel: String,
    client: Option<String>,
    expire_at: Option<i64>,
    #[serde(with = "b64")]
    info: Bytes,
    #[serde(with = "b64")]
    data: Bytes,
    /// `(offset, epoch)` to recover from.
    recover_since: Option<(u64, String)>,
    /// presence, join_leave, force_push_join_leave, force_recovery, force_positioning.
    overrides: [Option<bool>; 5],
}

impl From<&ServerSubscribe> for WireSubscribe {
    fn from(s: &ServerSubscribe) -> Self {
        let o = &s.overrides;
        Self {
            user: s.user.clone(),
            channel: s.channel.clone(),
            client: s.client.clone(),
            expire_at: s.expire_at,
            info: s.info.clone(),
            data: s.data.clone(),
            recover_since: s
                .recover_since
                .as_ref()
                .map(|p| (p.offset, p.epoch.clone())),
            overrides: [
                o.presence,
                o.join_leave,
                o.force_push_join_leave,
                o.force_recovery,
                o.force_positioning,
            ],
        }
    }
}

impl From<WireSubscribe> for ServerSubscribe {
    fn from(w: WireSubscribe) -> Self {
        let [
            presence,
            join_leave,
            force_push_join_leave,
            force_recovery,
            force_positioning,
        ] = w.overrides;
        let overrides = SubscribeOverride {
            presence,
            join_leave,
            force_push_join_leave,
            force_recovery,
            force_positioning,
        };
        Self {
            user: w.user,
            channel: w.channel,
            client: w.client,
            expire_at: w.expire_at,
            info: w.info,
            data: w.data,
            recover_since: w
                .recover_since
                .map(|(offset, epoch)| StreamPosition { offset, epoch }),
            overrides,
        }
    }
}

/// [`ServerRefresh`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WireRefresh {
    user: String,
    client: Option<String>,
    expired: bool,
    expire_at: Option<i64>,
    info: Option<String>,
}

impl From<&ServerRefresh> for WireRefresh {
    fn from(r: &ServerRefresh) -> Self {
        Self {
            user: r.user.clone(),
            client: r.client.clone(),
            expired: r.expired,
            expire_at: r.expire_at,
            info: r.info.as_ref().map(|i| B64.encode(i)),
        }
    }
}

impl TryFrom<WireRefresh> for ServerRefresh {
    type Error = WireError;

    fn try_from(w: WireRefresh) -> Result<Self, WireError> {
        let info = match w.info {
            Some(i) => Some(Bytes::from(
                B64.decode(i).map_err(|e| WireError(e.to_string()))?,
            )),
            None => None,
        };
        Ok(Self {
            user: w.user,
            client: w.client,
            expired: w.expired,
            expire_at: w.expire_at,
            info,
        })
    }
}

/// A control message that could not be decoded (dropped with a warning: it
/// came from a node of another version or another program on the prefix).
#[derive(Debug, thiserror::Error)]
#[error("undecodable control message: {0}")]
pub(crate) struct WireError(String);

/// Encodes a message, with `body` after the header when not empty.
pub(crate) fn encode(envelope: &ControlEnvelope, body: &[u8]) -> Bytes {
    let header = serde_json::to_vec(envelope).unwrap_or_default();
    let mut out = BytesMut::with_capacity(header.len() + 1 + body.len());
    out.put_slice(&header);
    if !body.is_empty() {
        out.put_u8(b'\n');
        out.put_slice(body);
    }
    out.freeze()
}

/// Decodes a message and its body (empty when none).
pub(crate) fn decode(data: &Bytes) -> Result<(ControlEnvelope, Bytes), WireError> {
    // JSON never contains a raw newline outside strings, and serde_json escapes
    // newlines inside strings, so the first newline ends the header.
    let split = data.iter().position(|&b| b == b'\n');
    let (header, body) = match split {
        Some(i) => (data.slice(..i), data.slice(i + 1..)),
        None => (data.clone(), Bytes::new()),
    };
    let envelope = serde_json::from_slice(&header).map_err(|e| WireError(e.to_string()))?;
    Ok((envelope, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(command: ClusterCommand, body: &[u8]) {
        let env = ControlEnvelope {
            from: "node-1".to_owned(),
            command,
        };
        let bytes = encode(&env, body);
        let (back, rest) = decode(&bytes).expect("decodes");
        assert_eq!(back, env);
        assert_eq!(&rest[..], body);
    }

    #[test]
    fn every_command_round_trips() {
        let sub = ServerSubscribe {
            user: "u".into(),
            channel: "c".into(),
            info: Bytes::from_static(b"{\"a\":\n1}"),
            data: Bytes::from_static(&[0, 159, 146, 150]),
            recover_since: Some(StreamPosition {
                offset: 7,
                epoch: "ep".into(),
            }),
            overrides: SubscribeOverride {
                presence: Some(true),
                ..SubscribeOverride::default()
            },
            ..ServerSubscribe::default()
        };
        let refresh = ServerRefresh {
            user: "u".into(),
            info: Some(Bytes::from_static(b"{}")),
            ..ServerRefresh::default()
        };
        for command in [
            ClusterCommand::Node(WireNodeInfo::default()),
            ClusterCommand::Bye,
            ClusterCommand::Disconnect {
                user: "u".into(),
                client: Some("c".into()),
                whitelist: vec!["w".into()],
                code: 4000,
                reason: "line\nbreak".into(),
            },
            ClusterCommand::Unsubscribe {
                user: "u".into(),
                channel: "c".into(),
                client: None,
            },
            ClusterCommand::Subscribe((&sub).into()),
            ClusterCommand::Refresh((&refresh).into()),
            ClusterCommand::Survey {
                id: 9,
                question: Question::Connections { user: None },
            },
            ClusterCommand::Answer {
                id: 9,
                answer: Answer::Channels {
                    channels: BTreeMap::from([("c".to_owned(), 2)]),
                },
            },
        ] {
            round_trip(command, b"");
        }
        round_trip(
            ClusterCommand::Emulation {
                session: "s".into(),
            },
            b"\n\x00binary\nbody",
        );
        let back: ServerSubscribe = WireSubscribe::from(&sub).into();
        assert_eq!(back.info, sub.info);
        assert_eq!(back.data, sub.data);
        assert_eq!(back.recover_since, sub.recover_since);
        assert_eq!(back.overrides, sub.overrides);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"from\":\"x\",\"op\":\"nope\"}",
            b"\xff\n",
        ] {
            assert!(decode(&Bytes::copy_from_slice(bad)).is_err());
        }
    }
}
