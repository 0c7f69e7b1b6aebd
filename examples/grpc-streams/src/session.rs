//! An in-process client connection to the node: a [`FrameIo`] over two
//! channels, speaking the Centrifugo client protocol in Protobuf.
//!
//! This is how an app streams channel publications to anything that is not a
//! WebSocket (here a gRPC stream): the engine runs the connection exactly as
//! for a real client (hooks, permissions, presence, subscribe buffering so
//! nothing published after the subscribe reply is missed), and the app reads
//! the replies and pushes.

use std::collections::VecDeque;

use bytes::Bytes;
use chorus_node::{Disconnect, FrameIo, Node, TransportError, TransportInfo};
use chorus_protocol::{
    Command, ConnectRequest, Protocol, Publication, Push, Reply, SubscribeRequest, SubscribeResult,
    decode_replies, encode_command,
};
use tokio::sync::mpsc;

/// Frames in flight per direction before the engine (or the app) waits.
const CHANNEL_CAPACITY: usize = 64;

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The connection ended (disconnected by the server, or node shut down).
    #[error("the connection closed")]
    Closed,
    /// The server answered a command with an error.
    #[error("error {code}: {message}")]
    Rejected {
        /// Client protocol error code.
        code: u32,
        /// Message.
        message: String,
    },
    /// A frame could not be encoded or decoded.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// The transport half the engine drives.
struct ChannelIo {
    commands: mpsc::Receiver<Bytes>,
    replies: mpsc::Sender<Bytes>,
}

impl FrameIo for ChannelIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        // `recv` is cancel-safe, as the engine requires.
        self.commands.recv().await.map(Ok)
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        for frame in frames {
            self.replies
                .send(frame.clone())
                .await
                .map_err(|_| TransportError("session dropped".to_owned()))?;
        }
        Ok(())
    }

    async fn close(&mut self, _disconnect: &Disconnect) {
        // Dropping `replies` (when the engine drops this value) ends the session.
    }
}

/// A connected in-process client. Dropping it closes the connection (the
/// engine sees the transport end, unsubscribes and removes presence).
#[derive(Debug)]
pub struct Session {
    commands: mpsc::Sender<Bytes>,
    replies: mpsc::Receiver<Bytes>,
    // Replies decoded but not consumed yet (a frame can hold several).
    decoded: VecDeque<Reply>,
    // Pushes that arrived while a call waited for its reply.
    pushes: VecDeque<Reply>,
    next_id: u32,
}

impl Session {
    /// Connects to `node` as `user` (the node's connecting hook reads
    /// `{"user": …}` from the connect data).
    ///
    /// # Errors
    /// The connect was rejected or the connection closed.
    pub async fn connect(node: &Node, user: &str) -> Result<Self, SessionError> {
        let (commands, commands_rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (replies_tx, replies) = mpsc::channel(CHANNEL_CAPACITY);
        let io = ChannelIo {
            commands: commands_rx,
            replies: replies_tx,
        };
        node.serve(TransportInfo::new("grpc-stream", Protocol::Protobuf), io);
        let mut session = Self {
            commands,
            replies,
            decoded: VecDeque::new(),
            pushes: VecDeque::new(),
            next_id: 1,
        };
        let connect = ConnectRequest {
            data: Bytes::from(serde_json::json!({ "user": user }).to_string()),
            name: "grpc-streams".to_owned(),
            ..ConnectRequest::default()
        };
        session
            .call(Command {
                connect: Some(connect),
                ..Command::default()
            })
            .await?;
        Ok(session)
    }

    /// Subscribes to `channel`; publications arrive through
    /// [`Session::next_publication`] from the returned position on.
    ///
    /// # Errors
    /// The subscribe was rejected or the connection closed.
    pub async fn subscribe(&mut self, channel: &str) -> Result<SubscribeResult, SessionError> {
        let subscribe = SubscribeRequest {
            channel: channel.to_owned(),
            ..SubscribeRequest::default()
        };
        let reply = self
            .call(Command {
                subscribe: Some(subscribe),
                ..Command::default()
            })
            .await?;
        reply.subscribe.ok_or(SessionError::Closed)
    }

    /// The next publication of a subscribed channel, with its channel; `None`
    /// once the connection has ended. Other pushes (join/leave…) are skipped.
    /// Cancel-safe.
    pub async fn next_publication(&mut self) -> Option<(String, Publication)> {
        loop {
            let reply = match self.pushes.pop_front() {
                Some(reply) => reply,
                None => self.next_reply().await.ok()?,
            };
            if let Some(Push {
                channel,
                r#pub: Some(publication),
                ..
            }) = reply.push
            {
                return Some((channel, publication));
            }
        }
    }

    async fn call(&mut self, mut command: Command) -> Result<Reply, SessionError> {
        let id = self.next_id;
        self.next_id += 1;
        command.id = id;
        let frame = encode_command(Protocol::Protobuf, &command)
            .map_err(|e| SessionError::Protocol(e.to_string()))?;
        self.commands
            .send(frame)
            .await
            .map_err(|_| SessionError::Closed)?;
        loop {
            let reply = self.next_reply().await?;
            if reply.id != id {
                // Only this call is in flight, so anything else is a push.
                self.pushes.push_back(reply);
                continue;
            }
            return match reply.error {
                Some(e) => Err(SessionError::Rejected {
                    code: e.code,
                    message: e.message,
                }),
                None => Ok(reply),
            };
        }
    }

    // Cancel-safe: a frame is decoded into `decoded` before any await point
    // could drop it.
    async fn next_reply(&mut self) -> Result<Reply, SessionError> {
        loop {
            if let Some(reply) = self.decoded.pop_front() {
                return Ok(reply);
            }
            let frame = self.replies.recv().await.ok_or(SessionError::Closed)?;
            let replies = decode_replies(Protocol::Protobuf, &frame)
                .map_err(|e| SessionError::Protocol(e.to_string()))?;
            self.decoded.extend(replies);
        }
    }
}
