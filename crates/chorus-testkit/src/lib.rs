//! Test support for the Chorus crates (not published).
//!
//! [`ProtocolClient`] speaks the Centrifugo client protocol over a real WebSocket
//! with the real codecs, the way an SDK does, and fails the test (panics) on
//! anything unexpected: a bounded wait ([`WAIT`]) instead of hanging, a clear
//! message instead of a silent error.
//!
//! [`conformance`] is the contract suite every broker / presence backend must pass;
//! [`cluster`] checks the node-to-node control plane of networked brokers.

pub mod cluster;
pub mod conformance;
pub mod services;

use bytes::Bytes;
use chorus_protocol::{
    Command, ConnectRequest, Protocol, Publication, Push, Reply, SubscribeRequest,
};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Longest wait for anything that should happen soon.
pub const WAIT: Duration = Duration::from_secs(10);

/// A protocol client over one WebSocket connection.
#[derive(Debug)]
pub struct ProtocolClient {
    /// The raw socket, for tests that send malformed frames.
    pub ws: Ws,
    protocol: Protocol,
    next_id: u32,
    /// Pushes that arrived while [`ProtocolClient::call`] waited for its reply.
    pushes: VecDeque<Reply>,
}

impl ProtocolClient {
    /// Connects to `url` (for example `ws://127.0.0.1:8000/connection/websocket`).
    /// Protobuf is negotiated with the `centrifuge-protobuf` subprotocol unless the
    /// URL already asks for it in its query.
    ///
    /// # Panics
    /// If the WebSocket handshake fails.
    pub async fn open(url: &str, protocol: Protocol) -> Self {
        let mut req = url.into_client_request().expect("valid url");
        if protocol == Protocol::Protobuf && !url.contains("protobuf") {
            req.headers_mut().insert(
                "sec-websocket-protocol",
                Protocol::PROTOBUF_SUBPROTOCOL.parse().expect("header"),
            );
        }
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect timed out")
            .expect("websocket handshake");
        Self {
            ws,
            protocol,
            next_id: 0,
            pushes: VecDeque::new(),
        }
    }

    /// Wraps an already-open WebSocket (for handshakes with custom headers).
    pub fn from_stream(ws: Ws, protocol: Protocol) -> Self {
        Self {
            ws,
            protocol,
            next_id: 0,
            pushes: VecDeque::new(),
        }
    }

    /// Sends a command with the next id; returns the id.
    ///
    /// # Panics
    /// If the socket fails.
    pub async fn send(&mut self, mut cmd: Command) -> u32 {
        self.next_id += 1;
        cmd.id = self.next_id;
        let frame = chorus_protocol::encode(self.protocol, &cmd).expect("encodable command");
        let msg = match self.protocol {
            Protocol::Json => {
                Message::text(String::from_utf8(frame.to_vec()).expect("JSON is UTF-8"))
            }
            Protocol::Protobuf => Message::binary(frame),
        };
        self.ws.send(msg).await.expect("send");
        self.next_id
    }

    /// The next reply or push (queued pushes first; server pings are skipped).
    ///
    /// # Panics
    /// On timeout, close or an undecodable frame.
    pub async fn recv(&mut self) -> Reply {
        match self.pushes.pop_front() {
            Some(push) => push,
            None => self.recv_wire().await,
        }
    }

    async fn recv_wire(&mut self) -> Reply {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("connection closed")
                .expect("websocket error");
            let data = match msg {
                Message::Text(t) => Bytes::from(t.as_str().to_owned()),
                Message::Binary(b) => b,
                Message::Close(f) => panic!("closed: {f:?}"),
                _ => continue,
            };
            let reply = chorus_protocol::decode_replies(self.protocol, &data)
                .expect("decodable")
                .remove(0);
            if !reply.is_ping() {
                return reply;
            }
        }
    }

    /// Sends a command and waits for its reply; pushes arriving meanwhile are kept
    /// for [`ProtocolClient::recv`].
    ///
    /// # Panics
    /// As [`ProtocolClient::recv`].
    pub async fn call(&mut self, cmd: Command) -> Reply {
        let id = self.send(cmd).await;
        loop {
            let r = self.recv_wire().await;
            if r.id == id {
                return r;
            }
            if r.push.is_some() {
                self.pushes.push_back(r);
            }
        }
    }

    /// `connect` with a request.
    ///
    /// # Panics
    /// As [`ProtocolClient::recv`].
    pub async fn connect_with(&mut self, req: ConnectRequest) -> Reply {
        self.call(Command {
            connect: Some(req),
            ..Default::default()
        })
        .await
    }

    /// `connect` with a token.
    ///
    /// # Panics
    /// As [`ProtocolClient::recv`].
    pub async fn connect(&mut self, token: impl Into<String>) -> Reply {
        self.connect_with(ConnectRequest {
            token: token.into(),
            ..Default::default()
        })
        .await
    }

    /// `subscribe` to a channel.
    ///
    /// # Panics
    /// As [`ProtocolClient::recv`].
    pub async fn subscribe(&mut self, channel: &str) -> Reply {
        let req = SubscribeRequest {
            channel: channel.into(),
            ..Default::default()
        };
        self.call(Command {
            subscribe: Some(req),
            ..Default::default()
        })
        .await
    }

    /// The next push that is not a join/leave notification.
    ///
    /// # Panics
    /// If a reply arrives instead, and as [`ProtocolClient::recv`].
    pub async fn recv_push(&mut self) -> Push {
        loop {
            let push = self.recv().await.push.expect("a push");
            if push.join.is_none() && push.leave.is_none() {
                return push;
            }
        }
    }

    /// The next publication pushed in `channel` (other pushes are skipped).
    ///
    /// # Panics
    /// As [`ProtocolClient::recv`].
    pub async fn recv_publication(&mut self, channel: &str) -> Publication {
        loop {
            let Some(push) = self.recv().await.push else {
                continue;
            };
            if push.channel == channel
                && let Some(publication) = push.r#pub
            {
                return publication;
            }
        }
    }

    /// Reads until the close frame; returns its code and reason.
    ///
    /// # Panics
    /// On timeout or if the connection ends without a close frame.
    pub async fn closed_with(&mut self) -> (u16, String) {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close timed out")
            {
                Some(Ok(Message::Close(Some(f)))) => {
                    return (u16::from(f.code), f.reason.to_string());
                }
                Some(Ok(_)) => {}
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }
}
