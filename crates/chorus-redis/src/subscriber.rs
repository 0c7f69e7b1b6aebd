//! The PUB/SUB side of a broker: one task per shard that owns the subscribe
//! connections (one, or one per master of a Redis Cluster, each channel on the
//! master of its slot: see [`crate::topology`]), delivers what arrives to the
//! node, and survives Redis going away.
//!
//! # Resilience
//! The set of channels the node wants ([`Wanted`]) is the source of truth, kept
//! by the broker; the connection only mirrors it. When the connection is lost
//! (the stream ends, a command or the periodic `PING` fails or times out) the
//! task reconnects with a capped backoff, subscribes every wanted channel again,
//! and then reports each of them through
//! [`BrokerEvents::on_stream_interrupted`]: publications sent while it was away
//! are lost to PUB/SUB, so positioned subscribers must recover them from
//! history. While disconnected a `subscribe` fails at once (the client gets an
//! error and may retry) and an `unsubscribe` succeeds (nothing to undo: the
//! reconnect subscribes only wanted channels), so the last local subscriber
//! leaving always ends the Redis subscription.

use crate::codec::{self, Message};
use crate::keys::Keys;
use crate::shard::{PubSubSet, Shard};
use crate::topology::{SlotMap, key_slot};
use chorus_node::{BackendError, BrokerEvents};
use futures_util::StreamExt;
use redis::aio::PubSub;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How often an idle PUB/SUB connection is checked with `PING`.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Longest pause between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Channels (engine names, not PUB/SUB names) this node wants on a shard.
///
/// A std mutex: held only to copy or edit the set, never across `.await`.
#[derive(Debug, Default)]
pub(crate) struct Wanted(Mutex<HashSet<String>>);

impl Wanted {
    pub(crate) fn insert(&self, channel: &str) -> bool {
        self.lock().insert(channel.to_owned())
    }

    pub(crate) fn remove(&self, channel: &str) -> bool {
        self.lock().remove(channel)
    }

    pub(crate) fn contains(&self, channel: &str) -> bool {
        self.lock().contains(channel)
    }

    fn snapshot(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request to the subscriber task.
#[derive(Debug)]
pub(crate) enum Request {
    Subscribe(String, oneshot::Sender<Result<(), BackendError>>),
    Unsubscribe(String, oneshot::Sender<Result<(), BackendError>>),
}

/// Everything the task needs.
pub(crate) struct Subscriber {
    pub(crate) shard: Arc<Shard>,
    pub(crate) keys: Keys,
    pub(crate) events: Arc<dyn BrokerEvents>,
    pub(crate) wanted: Arc<Wanted>,
    /// Up while a session runs (for [`chorus_node::Broker::healthy`]).
    pub(crate) connected: Arc<AtomicBool>,
    pub(crate) requests: mpsc::UnboundedReceiver<Request>,
    pub(crate) cancel: CancellationToken,
    /// PUB/SUB names of the node's control channels (`P.control`,
    /// `P.node.<id>`), subscribed for the whole session; set on the first
    /// shard only, when the event sink takes control messages.
    pub(crate) control: Vec<String>,
}

/// Why a connected session ended.
enum End {
    Cancelled,
    Lost(String),
}

impl Subscriber {
    /// Runs until cancelled (or the broker is dropped).
    pub(crate) async fn run(mut self) {
        let mut backoff = Duration::from_millis(50);
        let mut connected_before = false;
        loop {
            let pubsub = tokio::select! {
                () = self.cancel.cancelled() => return,
                r = self.shard.pubsub() => r,
            };
            let pubsub = match pubsub {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(shard = %self.shard.address, error = %e, "redis pub/sub connect failed");
                    if !self.wait_disconnected(backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let end = self.session(pubsub, connected_before).await;
            self.connected.store(false, Ordering::Release);
            match end {
                End::Cancelled => return,
                End::Lost(reason) => {
                    tracing::warn!(shard = %self.shard.address, reason, "redis pub/sub connection lost; reconnecting");
                    connected_before = true;
                    backoff = Duration::from_millis(50);
                }
            }
        }
    }

    /// Waits `pause` answering requests as a disconnected broker must. Returns
    /// false when the task should stop.
    async fn wait_disconnected(&mut self, pause: Duration) -> bool {
        let sleep = tokio::time::sleep(pause);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return false,
                () = &mut sleep => return true,
                r = self.requests.recv() => match r {
                    None => return false,
                    Some(Request::Subscribe(_, reply)) => {
                        let _ = reply.send(Err(BackendError::Failed(
                            "redis: pub/sub connection is down".to_owned(),
                        )));
                    }
                    Some(Request::Unsubscribe(_, reply)) => {
                        let _ = reply.send(Ok(()));
                    }
                },
            }
        }
    }

    async fn session(&mut self, set: PubSubSet, report: bool) -> End {
        let io = self.shard.io_timeout();
        let slots = set.slots;
        let (mut sinks, streams): (Vec<_>, Vec<_>) =
            set.connections.into_iter().map(PubSub::split).unzip();
        // One stream of every connection's messages; `None` marks the end of
        // one connection (which ends the session: its channels would go
        // silent otherwise).
        let mut incoming = futures_util::stream::select_all(streams.into_iter().map(|s| {
            s.map(Some)
                .chain(futures_util::stream::once(async { None }))
                .boxed()
        }));
        let wanted = self.wanted.snapshot();
        let mut groups: Vec<Vec<String>> = vec![Vec::new(); sinks.len()];
        for channel in &wanted {
            let i = self.connection_of(slots.as_ref(), channel);
            groups[i].push(self.keys.client_channel(channel));
        }
        groups[0].extend(self.control.iter().cloned());
        for (sink, names) in sinks.iter_mut().zip(&groups) {
            if names.is_empty() {
                continue;
            }
            match tokio::time::timeout(io, sink.subscribe(names)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return End::Lost(format!("resubscribe: {e}")),
                Err(_) => return End::Lost("resubscribe timed out".to_owned()),
            }
        }
        self.connected.store(true, Ordering::Release);
        if report {
            tracing::info!(shard = %self.shard.address, channels = wanted.len(), "redis pub/sub reconnected; channels resubscribed");
            for channel in &wanted {
                self.events.on_stream_interrupted(channel);
            }
        }
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.reset();
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return End::Cancelled,
                msg = incoming.next() => match msg {
                    Some(Some(msg)) => self.deliver(msg.get_channel_name(), msg.get_payload_bytes()),
                    Some(None) | None => return End::Lost("connection closed".to_owned()),
                },
                r = self.requests.recv() => {
                    let Some(request) = r else { return End::Cancelled };
                    let (channel, reply, unsubscribing) = match request {
                        Request::Subscribe(ch, reply) => (ch, reply, false),
                        Request::Unsubscribe(ch, reply) => (ch, reply, true),
                    };
                    let sink = &mut sinks[self.connection_of(slots.as_ref(), &channel)];
                    let name = self.keys.client_channel(&channel);
                    let result = if unsubscribing {
                        tokio::time::timeout(io, sink.unsubscribe(name)).await
                    } else {
                        tokio::time::timeout(io, sink.subscribe(name)).await
                    };
                    let reason = match result {
                        Ok(Ok(())) => {
                            let _ = reply.send(Ok(()));
                            continue;
                        }
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "timed out".to_owned(),
                    };
                    // The connection's state is unknown now: drop it and start
                    // over, subscribing exactly the wanted channels. That ends an
                    // unsubscribed channel too, so an unsubscribe still succeeds.
                    let _ = reply.send(if unsubscribing {
                        Ok(())
                    } else {
                        Err(BackendError::Failed(format!("redis: {reason}")))
                    });
                    return End::Lost(reason);
                }
                _ = ping.tick() => {
                    for sink in &mut sinks {
                        match tokio::time::timeout(io, sink.ping::<redis::Value>()).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => return End::Lost(format!("ping: {e}")),
                            Err(_) => return End::Lost("ping timed out".to_owned()),
                        }
                    }
                    // Slots moved (resharding, failover): subscribe again on the
                    // masters that serve them now. Nothing is lost meanwhile (the
                    // bus carries every message to every node); the reconnect
                    // reports the channels so positioned clients check history.
                    if let Some(current) = &slots
                        && let Ok(now) = self.shard.slot_map().await
                        && &now != current
                    {
                        return End::Lost("cluster topology changed".to_owned());
                    }
                }
            }
        }
    }

    /// Which of the session's connections carries `channel`: the one to the
    /// master of its stream key's slot in a cluster, the only one otherwise.
    fn connection_of(&self, slots: Option<&SlotMap>, channel: &str) -> usize {
        slots.map_or(0, |map| {
            map.master_of(key_slot(self.keys.stream(channel).as_bytes()))
        })
    }

    /// Decodes one message and hands it to the node, unless the channel is no
    /// longer wanted (messages already in flight when it was unsubscribed).
    fn deliver(&self, pubsub_channel: &str, payload: &[u8]) {
        if self.control.iter().any(|c| c == pubsub_channel) {
            self.events
                .on_control(bytes::Bytes::copy_from_slice(payload));
            return;
        }
        let Some(channel) = self.keys.channel_of(pubsub_channel) else {
            return;
        };
        if !self.wanted.contains(channel) {
            return;
        }
        match codec::decode(payload) {
            Ok(Message::Publication(p, position)) => {
                self.events.on_publication(channel, *p, position);
            }
            Ok(Message::Join(info)) => self.events.on_join(channel, info),
            Ok(Message::Leave(info)) => self.events.on_leave(channel, info),
            Err(e) => {
                tracing::warn!(channel, error = %e, "undecodable redis pub/sub message dropped");
            }
        }
    }
}
