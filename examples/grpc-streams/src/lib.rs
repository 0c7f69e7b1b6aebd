//! The app behind `example-grpc-streams`: the three streaming shapes of gRPC
//! over an embedded [`chorus_node::Node`], with the example's own
//! `proto/streams.proto` (`chorus.examples.streams.ChannelStreams`):
//!
//! - **server-streaming** `Watch`: subscribe to a channel and stream its
//!   publications;
//! - **client-streaming** `PublishAll`: publish every message of the inbound
//!   stream, answer with the count;
//! - **bidirectional** `Chat`: join a channel; each inbound message is
//!   published, every channel publication is streamed back.
//!
//! Subscriptions use an in-process client connection ([`session::Session`]):
//! the engine treats it like any WebSocket client (hooks, presence,
//! race-free subscribe), so gRPC watchers and Centrifugo SDK clients can share
//! channels. Publishing uses [`Node::publish`], as a backend would.

pub mod session;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chorus_node::{
    ApiPublish, ChannelOptions, ConnectGrant, Disconnect, HandlerError, Node, NodeConfig,
};
use futures_util::{Stream, StreamExt as _};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use session::{Session, SessionError};

/// Generated types and stubs of `proto/streams.proto`.
pub mod proto {
    #![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
    include!(concat!(env!("OUT_DIR"), "/chorus.examples.streams.rs"));
}

use proto::channel_streams_server::{ChannelStreams, ChannelStreamsServer};
use proto::{
    ChatMessage, Event, Joined, PublishRequest, PublishSummary, WatchRequest, event::Kind,
};

/// Events buffered per stream before the producer waits for the caller.
const STREAM_BUFFER: usize = 64;

/// The engine configuration: every channel may be subscribed to by any
/// connected user; `room:*` channels keep a short history (offsets, epochs).
pub fn config() -> NodeConfig {
    let mut open = ChannelOptions::default();
    open.allow_subscribe_for_client = true;
    let mut room = open.clone();
    room.history_size = 100;
    room.history_ttl = Duration::from_secs(300);
    room.presence = true;
    let mut config = NodeConfig::default();
    config.channels.without_namespace = Arc::new(open);
    config
        .channels
        .namespaces
        .insert("room".into(), Arc::new(room));
    config
}

/// The node: sessions say who they are in their connect data.
pub fn node() -> Node {
    Node::builder(config())
        .on_connecting(|event| async move {
            let user = serde_json::from_slice::<serde_json::Value>(&event.data)
                .ok()
                .and_then(|v| v.get("user")?.as_str().map(str::to_owned))
                .filter(|u| !u.is_empty())
                .ok_or(HandlerError::Disconnect(Disconnect::new(
                    4501,
                    "unauthorized",
                )))?;
            Ok(ConnectGrant::user(user))
        })
        .build()
}

/// The gRPC service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Streams {
    node: Node,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send>>;

fn status(e: &SessionError) -> Status {
    match e {
        SessionError::Rejected { code: 102, message } => Status::not_found(message.clone()),
        SessionError::Rejected { message, .. } => Status::permission_denied(message.clone()),
        SessionError::Closed => Status::unavailable("connection closed"),
        SessionError::Protocol(m) => Status::internal(m.clone()),
    }
}

fn publish_status(e: &chorus_node::ApiError) -> Status {
    match e.code() {
        102 => Status::not_found(e.to_string()),
        107 => Status::invalid_argument(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

/// Turns a channel receiver into a response stream.
fn stream_of(rx: mpsc::Receiver<Result<Event, Status>>) -> EventStream {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

fn joined(channel: &str, result: &chorus_protocol::SubscribeResult) -> Event {
    Event {
        kind: Some(Kind::Joined(Joined {
            channel: channel.to_owned(),
            offset: result.offset,
            epoch: result.epoch.clone(),
        })),
    }
}

fn publication(channel: String, p: chorus_protocol::Publication) -> Event {
    Event {
        kind: Some(Kind::Publication(proto::Publication {
            channel,
            data: p.data,
            offset: p.offset,
        })),
    }
}

impl Streams {
    /// The service over `node`.
    pub fn new(node: Node) -> Self {
        Self { node }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> ChannelStreamsServer<Self> {
        ChannelStreamsServer::new(self)
    }

    /// Connects a session for `user` and subscribes it to `channel`, sending
    /// `joined` into `tx`.
    async fn join(
        &self,
        user: &str,
        channel: &str,
        tx: &mpsc::Sender<Result<Event, Status>>,
    ) -> Result<Session, Status> {
        if channel.is_empty() {
            return Err(Status::invalid_argument("channel is required"));
        }
        let mut session = Session::connect(&self.node, user)
            .await
            .map_err(|e| status(&e))?;
        let result = session.subscribe(channel).await.map_err(|e| status(&e))?;
        // The caller may already be gone; the pump below notices.
        let _ = tx.send(Ok(joined(channel, &result))).await;
        Ok(session)
    }
}

/// Forwards the session's publications into `tx` until the caller goes away
/// or the connection ends. Dropping the session then unsubscribes it.
async fn pump(mut session: Session, tx: mpsc::Sender<Result<Event, Status>>) {
    loop {
        tokio::select! {
            () = tx.closed() => break,
            next = session.next_publication() => match next {
                Some((channel, p)) => {
                    if tx.send(Ok(publication(channel, p))).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = tx.send(Err(Status::unavailable("connection closed"))).await;
                    break;
                }
            },
        }
    }
}

#[tonic::async_trait]
impl ChannelStreams for Streams {
    type WatchStream = EventStream;
    type ChatStream = EventStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let req = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let user = if req.user.is_empty() {
            "watcher"
        } else {
            &req.user
        };
        let session = self.join(user, &req.channel, &tx).await?;
        tokio::spawn(pump(session, tx));
        Ok(Response::new(stream_of(rx)))
    }

    async fn publish_all(
        &self,
        request: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<PublishSummary>, Status> {
        let mut inbound = request.into_inner();
        let mut summary = PublishSummary::default();
        while let Some(message) = inbound.next().await {
            let message = message?;
            if message.data.is_empty() {
                return Err(Status::invalid_argument("data is required"));
            }
            let position = self
                .node
                .publish(&message.channel, message.data, ApiPublish::default())
                .await
                .map_err(|e| publish_status(&e))?;
            summary.published += 1;
            summary.last_offset = position.offset;
        }
        Ok(Response::new(summary))
    }

    async fn chat(
        &self,
        request: Request<Streaming<ChatMessage>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("the first message must name a channel"))??;
        if first.user.is_empty() {
            return Err(Status::invalid_argument(
                "the first message must name a user",
            ));
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let session = self.join(&first.user, &first.channel, &tx).await?;
        let (node, user, channel) = (self.node.clone(), first.user, first.channel);
        let publisher_tx = tx.clone();
        // Inbound side: publish each text; ends with the caller's side.
        let publisher = async move {
            let mut message = Some(first.text);
            loop {
                if let Some(text) = message.take().filter(|t| !t.is_empty()) {
                    let data = serde_json::json!({ "user": user, "text": text }).to_string();
                    let published = node
                        .publish(&channel, Bytes::from(data), ApiPublish::default())
                        .await;
                    if let Err(e) = published {
                        let _ = publisher_tx.send(Err(publish_status(&e))).await;
                        return;
                    }
                }
                match inbound.next().await {
                    Some(Ok(next)) => message = Some(next.text),
                    Some(Err(_)) | None => return,
                }
            }
        };
        tokio::spawn(async move {
            // Outbound side: the channel's publications, until the caller
            // ends its side (or goes away).
            tokio::select! {
                () = publisher => {}
                () = pump(session, tx) => {}
            }
        });
        Ok(Response::new(stream_of(rx)))
    }
}
