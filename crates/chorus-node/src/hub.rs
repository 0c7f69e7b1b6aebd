//! The node-local registry: connected clients, users and channel subscribers, and
//! the fan-out that encodes each publication once per wire format.

use crate::broker::{BrokerEvents, StreamPosition};
use crate::client::shared::{ClientShared, Control};
use crate::error::Disconnect;
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Join, Leave, Protocol, Publication, Push, Reply};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

/// A push encoded lazily, at most once per wire format, then shared by every
/// recipient (`Bytes` clones are reference-count increments).
pub(crate) struct Prepared {
    push: Push,
    json: OnceLock<Option<Bytes>>,
    protobuf: OnceLock<Option<Bytes>>,
}

impl Prepared {
    pub(crate) fn new(push: Push) -> Self {
        Self {
            push,
            json: OnceLock::new(),
            protobuf: OnceLock::new(),
        }
    }

    /// The encoded reply-wrapped push for `protocol`; `None` when the payload cannot
    /// be encoded in it (non-JSON data for a JSON client).
    pub(crate) fn bytes(&self, protocol: Protocol) -> Option<Bytes> {
        let cell = match protocol {
            Protocol::Json => &self.json,
            Protocol::Protobuf => &self.protobuf,
        };
        cell.get_or_init(|| chorus_protocol::encode(protocol, &Reply::from(self.push.clone())).ok())
            .clone()
    }

    pub(crate) fn deliver(&self, client: &ClientShared) {
        match self.bytes(client.protocol) {
            Some(b) => client.push(b),
            None => client.disconnect(Disconnect::INAPPROPRIATE_PROTOCOL),
        }
    }
}

/// What to do with a publication for a positioned subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The next offset: deliver.
    Deliver,
    /// Already delivered (or the subscription is being torn down): drop silently.
    Skip,
    /// A gap or another epoch: the client's state is insufficient (2500 / 3010).
    Gap,
}

/// Stream position of a positioned subscription: the last offset delivered and
/// the stream's epoch (spec §7). Checked per publication without allocating.
#[derive(Debug, Default)]
pub(crate) struct Position {
    last: AtomicU64,
    epoch: OnceLock<String>,
    broken: AtomicBool,
}

impl Position {
    /// Starts tracking at `offset` in `epoch` (when the subscription goes live).
    pub(crate) fn start(&self, offset: u64, epoch: &str) {
        let _ = self.epoch.set(epoch.to_owned());
        self.last.store(offset, Ordering::Release);
    }

    /// Checks a publication. Calls for one channel are serialized by the broker's
    /// per-channel ordering contract, so load-then-store is race-free.
    pub(crate) fn check(&self, offset: u64, epoch: &str) -> Verdict {
        if self.broken.load(Ordering::Acquire) {
            return Verdict::Skip;
        }
        let last = self.last.load(Ordering::Acquire);
        let other_epoch = self
            .epoch
            .get()
            .is_some_and(|e| !epoch.is_empty() && e != epoch);
        if other_epoch || offset > last + 1 {
            self.broken.store(true, Ordering::Release);
            return Verdict::Gap;
        }
        if offset <= last {
            return Verdict::Skip;
        }
        self.last.store(offset, Ordering::Release);
        Verdict::Deliver
    }
}

/// Delivery state of one subscription: buffering while a subscribe with recovery
/// reads history, live afterwards.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    live: AtomicBool,
    // `Some` while buffering. Publications that arrive meanwhile wait here (with
    // their stream epoch) and are merged with the recovered ones by the
    // subscribing task.
    buffer: Mutex<Option<Vec<(Publication, String)>>>,
    /// For positioned subscriptions: offset tracking and gap detection.
    pub(crate) position: Option<Position>,
}

impl Delivery {
    pub(crate) fn buffering(positioned: bool) -> Arc<Self> {
        Arc::new(Self {
            live: AtomicBool::new(false),
            buffer: Mutex::new(Some(Vec::new())),
            position: positioned.then(Position::default),
        })
    }

    /// Ends buffering: `flush` gets the buffered publications and must queue the
    /// subscribe reply and whatever of them should follow; publications fanned out
    /// concurrently wait on the lock and land after them.
    pub(crate) fn go_live(&self, flush: impl FnOnce(Vec<(Publication, String)>)) {
        let mut buf = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = buf.take().unwrap_or_default();
        flush(pending);
        self.live.store(true, Ordering::Release);
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub(crate) client: Arc<ClientShared>,
    pub(crate) join_leave: bool,
    pub(crate) delivery: Arc<Delivery>,
}

type Subscribers = HashMap<Arc<str>, Subscriber>;

#[derive(Debug, Default)]
pub(crate) struct Hub {
    // All three maps: std RwLock, never held across `.await`; fan-out holds the
    // channel map shared while it only queues.
    clients: RwLock<HashMap<Arc<str>, Arc<ClientShared>>>,
    users: RwLock<HashMap<Arc<str>, Vec<Arc<ClientShared>>>>,
    channels: RwLock<HashMap<Arc<str>, Subscribers>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    pub(crate) fn add_client(&self, client: &Arc<ClientShared>) {
        write(&self.clients).insert(Arc::clone(&client.id), Arc::clone(client));
        let user: Arc<str> = client.user.get().cloned().unwrap_or_else(|| Arc::from(""));
        write(&self.users)
            .entry(user)
            .or_default()
            .push(Arc::clone(client));
    }

    pub(crate) fn remove_client(&self, client: &ClientShared) {
        write(&self.clients).remove(&client.id);
        let mut users = write(&self.users);
        if let Some(list) = users.get_mut(client.user()) {
            list.retain(|c| c.id != client.id);
            if list.is_empty() {
                users.remove(client.user());
            }
        }
    }

    pub(crate) fn num_clients(&self) -> usize {
        read(&self.clients).len()
    }

    pub(crate) fn num_users(&self) -> usize {
        read(&self.users).len()
    }

    pub(crate) fn user_connections(&self, user: &str) -> usize {
        read(&self.users).get(user).map_or(0, Vec::len)
    }

    pub(crate) fn user_clients(&self, user: &str) -> Vec<Arc<ClientShared>> {
        read(&self.users).get(user).cloned().unwrap_or_default()
    }

    pub(crate) fn all_clients(&self) -> Vec<Arc<ClientShared>> {
        read(&self.clients).values().cloned().collect()
    }

    /// Adds a subscriber; returns whether it is the channel's first on this node.
    pub(crate) fn add_sub(&self, channel: &str, sub: Subscriber) -> bool {
        let mut channels = write(&self.channels);
        let first = !channels.contains_key(channel);
        channels
            .entry(Arc::from(channel))
            .or_default()
            .insert(Arc::clone(&sub.client.id), sub);
        first
    }

    /// Removes a subscriber; returns whether the channel has no subscriber left.
    pub(crate) fn remove_sub(&self, channel: &str, client_id: &str) -> bool {
        let mut channels = write(&self.channels);
        let Some(subs) = channels.get_mut(channel) else {
            return false;
        };
        subs.remove(client_id);
        if subs.is_empty() {
            channels.remove(channel);
            return true;
        }
        false
    }

    pub(crate) fn num_channels(&self) -> usize {
        read(&self.channels).len()
    }

    pub(crate) fn num_subscriptions(&self) -> usize {
        read(&self.channels).values().map(HashMap::len).sum()
    }

    pub(crate) fn channels(&self) -> Vec<(String, usize)> {
        read(&self.channels)
            .iter()
            .map(|(k, v)| (k.to_string(), v.len()))
            .collect()
    }

    fn fan_out(&self, channel: &str, prepared: &Prepared, only_join_leave: bool, epoch: &str) {
        let channels = read(&self.channels);
        let Some(subs) = channels.get(channel) else {
            return;
        };
        let offset = prepared.push.r#pub.as_ref().map_or(0, |p| p.offset);
        for sub in subs.values() {
            if only_join_leave {
                if sub.join_leave {
                    prepared.deliver(&sub.client);
                }
                continue;
            }
            if !sub.delivery.live.load(Ordering::Acquire) {
                let mut buf = sub
                    .delivery
                    .buffer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let (Some(pending), Some(p)) = (buf.as_mut(), &prepared.push.r#pub) {
                    pending.push((p.clone(), epoch.to_owned()));
                    continue;
                }
                // It went live while we waited for the lock: deliver below.
            }
            Self::deliver_in_order(sub, prepared, channel, offset, epoch);
        }
    }

    /// Delivers a publication, enforcing stream order for positioned subscriptions
    /// (publications without an offset are not part of the stream).
    fn deliver_in_order(
        sub: &Subscriber,
        prepared: &Prepared,
        channel: &str,
        offset: u64,
        epoch: &str,
    ) {
        let verdict = match &sub.delivery.position {
            Some(position) if offset > 0 => position.check(offset, epoch),
            _ => Verdict::Deliver,
        };
        match verdict {
            Verdict::Deliver => prepared.deliver(&sub.client),
            Verdict::Skip => {}
            Verdict::Gap => sub
                .client
                .control
                .send(Control::InsufficientState(channel.to_owned())),
        }
    }
}

impl BrokerEvents for Hub {
    fn on_publication(&self, channel: &str, publication: Publication, position: StreamPosition) {
        let push = Push {
            channel: channel.to_owned(),
            r#pub: Some(publication),
            ..Push::default()
        };
        self.fan_out(channel, &Prepared::new(push), false, &position.epoch);
    }

    fn on_join(&self, channel: &str, info: ClientInfo) {
        let push = Push {
            channel: channel.to_owned(),
            join: Some(Join { info: Some(info) }),
            ..Push::default()
        };
        self.fan_out(channel, &Prepared::new(push), true, "");
    }

    fn on_leave(&self, channel: &str, info: ClientInfo) {
        let push = Push {
            channel: channel.to_owned(),
            leave: Some(Leave { info: Some(info) }),
            ..Push::default()
        };
        self.fan_out(channel, &Prepared::new(push), true, "");
    }
}
