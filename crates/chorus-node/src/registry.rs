//! The node-local registry: connected clients, users and channel subscribers, and
//! the fan-out that encodes each publication once per wire format.

use crate::broker::{BrokerEvents, StreamPosition};
use crate::client::shared::{ClientShared, Control};
use crate::error::Disconnect;
use crate::ordering::{Position, Verdict, order};
use crate::view::{Variants, View};
use bytes::Bytes;
use chorus_protocol::{ClientInfo, Join, Leave, Protocol, Publication, Push, Reply};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

/// A push encoded lazily, at most once per wire format and direction (reply-wrapped
/// for bidirectional and emulated clients, bare for unidirectional ones), then
/// shared by every recipient (`Bytes` clones are reference-count increments).
pub(crate) struct Prepared {
    push: Push,
    // Indexed by `slot`: JSON, Protobuf, uni JSON, uni Protobuf.
    encoded: [OnceLock<Option<Bytes>>; 4],
}

impl Prepared {
    pub(crate) fn new(push: Push) -> Self {
        Self {
            push,
            encoded: Default::default(),
        }
    }

    fn slot(protocol: Protocol, unidirectional: bool) -> usize {
        let format = match protocol {
            Protocol::Json => 0,
            Protocol::Protobuf => 1,
        };
        format + if unidirectional { 2 } else { 0 }
    }

    /// The encoded push for `protocol`, reply-wrapped unless `unidirectional`;
    /// `None` when the payload cannot be encoded in it (non-JSON data for a JSON
    /// client).
    pub(crate) fn bytes(&self, protocol: Protocol, unidirectional: bool) -> Option<Bytes> {
        self.encoded[Self::slot(protocol, unidirectional)]
            .get_or_init(|| {
                if unidirectional {
                    chorus_protocol::encode(protocol, &self.push).ok()
                } else {
                    chorus_protocol::encode(protocol, &Reply::from(self.push.clone())).ok()
                }
            })
            .clone()
    }

    /// The push this was prepared from.
    pub(crate) fn push(&self) -> &Push {
        &self.push
    }

    pub(crate) fn deliver(&self, client: &ClientShared) {
        match self.bytes(client.protocol, client.unidirectional) {
            Some(b) => client.push(b),
            None => client.disconnect(Disconnect::INAPPROPRIATE_PROTOCOL),
        }
    }
}

#[cfg(test)]
mod prepared_tests {
    use super::*;

    #[test]
    fn encodes_once_per_format_and_direction() {
        let prepared = Prepared::new(Push {
            channel: "c".into(),
            ..Push::default()
        });
        let bidi = prepared.bytes(Protocol::Json, false);
        let uni = prepared.bytes(Protocol::Json, true);
        assert_eq!(
            bidi.as_deref(),
            Some(&b"{\"push\":{\"channel\":\"c\"}}"[..])
        );
        assert_eq!(uni.as_deref(), Some(&b"{\"channel\":\"c\"}"[..]));
        // The second call hands out the same allocation.
        let again = prepared.bytes(Protocol::Json, true);
        assert_eq!(
            uni.as_ref().map(|b| b.as_ptr()),
            again.as_ref().map(|b| b.as_ptr())
        );
    }
}

/// Feed state of one subscription: buffering while a subscribe with recovery
/// reads history, live afterwards.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    live: AtomicBool,
    // `Some` while buffering. Publications that arrive meanwhile wait here (with
    // their stream epoch) and are merged with the recovered ones by the
    // subscribing task.
    buffer: Mutex<Option<Vec<(Publication, String)>>>,
    /// For positioned subscriptions: offset tracking and gap detection.
    pub(crate) position: Option<Position>,
    /// Tags filter and delta compression of this subscription.
    pub(crate) view: View,
}

impl Feed {
    pub(crate) fn buffering(positioned: bool, view: View) -> Arc<Self> {
        Arc::new(Self {
            live: AtomicBool::new(false),
            buffer: Mutex::new(Some(Vec::new())),
            position: positioned.then(Position::default),
            view,
        })
    }

    /// Whether the subscription receives live publications already.
    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
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
    pub(crate) delivery: Arc<Feed>,
}

/// The subscribers of one channel on this node, and the channel's latest
/// stream payload: the base of Fossil deltas for the next publication.
#[derive(Debug, Default)]
struct ChannelEntry {
    subs: HashMap<Arc<str>, Subscriber>,
    // Subscribers that negotiated delta compression; changed under the channel
    // map's write lock. While it is 0 the fan-out skips `last` entirely.
    delta_subs: usize,
    // (offset, payload) of the last publication fanned out while delta
    // subscribers were present. Updated once per publication (not per
    // subscriber); publications of one channel arrive in order (broker
    // contract), the mutex only makes the update safe. A stale entry is harmless:
    // it is used only for the offset right after its own.
    last: Mutex<Option<(u64, Bytes)>>,
}

impl ChannelEntry {
    /// Records the publication at `offset` and returns the payload of `offset - 1`
    /// when that was the previous one fanned out.
    fn advance(&self, offset: u64, data: &Bytes) -> Option<Bytes> {
        if self.delta_subs == 0 {
            return None;
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let prev = last
            .take()
            .filter(|(o, _)| offset > 1 && *o + 1 == offset)
            .map(|(_, d)| d);
        *last = (offset > 0).then(|| (offset, data.clone()));
        prev
    }
}

#[derive(Debug, Default)]
pub(crate) struct ChannelRegistry {
    // All three maps: std RwLock, never held across `.await`; fan-out holds the
    // channel map shared while it only queues.
    clients: RwLock<HashMap<Arc<str>, Arc<ClientShared>>>,
    users: RwLock<HashMap<Arc<str>, Vec<Arc<ClientShared>>>>,
    channels: RwLock<HashMap<Arc<str>, ChannelEntry>>,
    // `client.channel_position_max_time_lag` in ms (0: off); set once by the node.
    max_time_lag_ms: AtomicU64,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

impl ChannelRegistry {
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
        let entry = channels.entry(Arc::from(channel)).or_default();
        let delta = usize::from(sub.delivery.view.delta);
        let replaced = entry.subs.insert(Arc::clone(&sub.client.id), sub);
        let replaced_delta = replaced.map_or(0, |old| usize::from(old.delivery.view.delta));
        entry.delta_subs = entry.delta_subs + delta - replaced_delta;
        first
    }

    /// Records the payload at `offset` read from history (a recovery), unless the
    /// fan-out already saw a newer publication.
    pub(crate) fn learn_last(&self, channel: &str, offset: u64, payload: Bytes) {
        let channels = read(&self.channels);
        let Some(entry) = channels.get(channel) else {
            return;
        };
        let mut last = entry.last.lock().unwrap_or_else(PoisonError::into_inner);
        if offset > 0 && last.as_ref().is_none_or(|(o, _)| *o < offset) {
            *last = Some((offset, payload));
        }
    }

    /// Removes a subscriber; returns whether the channel has no subscriber left.
    pub(crate) fn remove_sub(&self, channel: &str, client_id: &str) -> bool {
        let mut channels = write(&self.channels);
        let Some(entry) = channels.get_mut(channel) else {
            return false;
        };
        if let Some(old) = entry.subs.remove(client_id)
            && old.delivery.view.delta
        {
            entry.delta_subs -= 1;
        }
        if entry.subs.is_empty() {
            channels.remove(channel);
            return true;
        }
        false
    }

    pub(crate) fn num_channels(&self) -> usize {
        read(&self.channels).len()
    }

    pub(crate) fn num_subscriptions(&self) -> usize {
        read(&self.channels).values().map(|e| e.subs.len()).sum()
    }

    /// The channels each client is subscribed to on this node (by client id).
    pub(crate) fn client_channels(&self) -> HashMap<Arc<str>, Vec<String>> {
        let mut out: HashMap<Arc<str>, Vec<String>> = HashMap::new();
        for (channel, entry) in read(&self.channels).iter() {
            for id in entry.subs.keys() {
                out.entry(Arc::clone(id))
                    .or_default()
                    .push(channel.to_string());
            }
        }
        out
    }

    pub(crate) fn channels(&self) -> Vec<(String, usize)> {
        read(&self.channels)
            .iter()
            .map(|(k, v)| (k.to_string(), v.subs.len()))
            .collect()
    }

    /// Sets `client.channel_position_max_time_lag` (zero: off).
    pub(crate) fn set_max_time_lag(&self, lag: std::time::Duration) {
        let ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX);
        self.max_time_lag_ms.store(ms, Ordering::Relaxed);
    }

    /// Positioned live subscriptions, by channel (for the periodic position check).
    pub(crate) fn positioned(&self) -> Vec<(String, Vec<Subscriber>)> {
        read(&self.channels)
            .iter()
            .filter_map(|(channel, entry)| {
                let subs: Vec<Subscriber> = entry
                    .subs
                    .values()
                    .filter(|s| s.delivery.position.is_some() && s.delivery.is_live())
                    .cloned()
                    .collect();
                (!subs.is_empty()).then(|| (channel.to_string(), subs))
            })
            .collect()
    }

    /// Whether a publication stamped `time` (Unix ms) arrives later than the
    /// allowed PUB/SUB lag.
    fn lagging(&self, time: i64) -> bool {
        let max = self.max_time_lag_ms.load(Ordering::Relaxed);
        if max == 0 || time <= 0 {
            return false;
        }
        let late_by = crate::clock::unix_ms().saturating_sub(time);
        late_by > i64::try_from(max).unwrap_or(i64::MAX)
    }

    fn fan_out(
        &self,
        channel: &str,
        prepared: &Prepared,
        only_join_leave: bool,
        epoch: &str,
        candidate: bool,
    ) {
        let channels = read(&self.channels);
        let Some(entry) = channels.get(channel) else {
            return;
        };
        if only_join_leave {
            for sub in entry.subs.values() {
                if sub.join_leave {
                    prepared.deliver(&sub.client);
                }
            }
            return;
        }
        let Some(publication) = prepared.push.r#pub.as_ref() else {
            return;
        };
        let offset = publication.offset;
        let prev = entry.advance(offset, &publication.data);
        let lagging = self.lagging(publication.time);
        let variants = Variants::new(prepared, candidate, prev);
        for sub in entry.subs.values() {
            if !sub.delivery.live.load(Ordering::Acquire) {
                let mut buf = sub
                    .delivery
                    .buffer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(pending) = buf.as_mut() {
                    pending.push((publication.clone(), epoch.to_owned()));
                    continue;
                }
                // It went live while we waited for the lock: deliver below.
            }
            Self::deliver_in_order(sub, &variants, publication, channel, epoch, lagging);
        }
    }

    /// Delivers a publication, enforcing stream order for positioned subscriptions
    /// (publications without an offset are not part of the stream), then the
    /// subscription's tags filter and delta encoding.
    fn deliver_in_order(
        sub: &Subscriber,
        variants: &Variants<'_>,
        publication: &Publication,
        channel: &str,
        epoch: &str,
        lagging: bool,
    ) {
        let verdict = order(
            sub.delivery.position.as_ref(),
            publication.offset,
            epoch,
            lagging,
            0,
        );
        match verdict {
            Verdict::Deliver => {
                let view = &sub.delivery.view;
                if view.wants(publication) {
                    variants.deliver(view, &sub.client);
                }
            }
            Verdict::Skip => {}
            Verdict::Gap => sub
                .client
                .control
                .send(Control::InsufficientState(channel.to_owned())),
        }
    }
}

impl BrokerEvents for ChannelRegistry {
    fn on_publication(
        &self,
        channel: &str,
        mut publication: Publication,
        position: StreamPosition,
    ) {
        // `delta` from the broker marks a delta candidate (see the contract on
        // `BrokerEvents`); what subscribers receive says whether *their* payload
        // is a delta, so plain subscribers get `false`.
        let candidate = std::mem::take(&mut publication.delta);
        let push = Push {
            channel: channel.to_owned(),
            r#pub: Some(publication),
            ..Push::default()
        };
        self.fan_out(
            channel,
            &Prepared::new(push),
            false,
            &position.epoch,
            candidate,
        );
    }

    fn on_join(&self, channel: &str, info: ClientInfo) {
        let push = Push {
            channel: channel.to_owned(),
            join: Some(Join { info: Some(info) }),
            ..Push::default()
        };
        self.fan_out(channel, &Prepared::new(push), true, "", false);
    }

    fn on_leave(&self, channel: &str, info: ClientInfo) {
        let push = Push {
            channel: channel.to_owned(),
            leave: Some(Leave { info: Some(info) }),
            ..Push::default()
        };
        self.fan_out(channel, &Prepared::new(push), true, "", false);
    }

    fn on_stream_interrupted(&self, channel: &str) {
        let channels = read(&self.channels);
        for sub in channels
            .get(channel)
            .into_iter()
            .flat_map(|e| e.subs.values())
        {
            if sub.delivery.position.is_some() {
                sub.client
                    .control
                    .send(Control::InsufficientState(channel.to_owned()));
            }
        }
    }
}
