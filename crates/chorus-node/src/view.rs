//! What one subscription negotiated about the publications it receives: a tags
//! filter, and Fossil delta compression. Shared between the subscribing client
//! (which sets it up) and the fan-out (which applies it per publication).

use crate::client::shared::ClientShared;
use crate::delta;
use crate::filter;
use crate::registry::Prepared;
use bytes::Bytes;
use chorus_protocol::{FilterNode, Protocol, Publication};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The per-subscription delivery view.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// Fossil delta compression was negotiated.
    pub(crate) delta: bool,
    /// Every publication of the channel is a delta candidate (`delta_publish`).
    pub(crate) delta_publish: bool,
    /// Only publications whose tags match are delivered. Boxed: most
    /// subscriptions have none, and idle subscriptions should stay small.
    pub(crate) filter: Option<Box<FilterNode>>,
    // Offset of the publication whose payload the client holds as its delta base
    // (0: none usable). Written by whichever task delivers to this subscription;
    // deliveries for one channel are serialized (broker ordering contract), so a
    // swap is enough.
    delta_base: AtomicU64,
}

impl View {
    /// A view with these negotiated settings.
    pub(crate) fn new(delta: bool, delta_publish: bool, filter: Option<Box<FilterNode>>) -> Self {
        Self {
            delta,
            delta_publish,
            filter,
            delta_base: AtomicU64::new(0),
        }
    }

    /// Whether the subscriber wants `publication` (its tags match the filter).
    pub(crate) fn wants(&self, publication: &Publication) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| filter::matches(f, &publication.tags))
    }

    /// Records that the client now holds the full payload of `offset` (0: of a
    /// publication outside the stream, which no delta can build on).
    pub(crate) fn set_base(&self, offset: u64) {
        self.delta_base.store(offset, Ordering::Release);
    }

    /// Rewrites a publication that is delivered outside the fan-out (buffered
    /// during subscribe) into what this subscription expects: for delta
    /// subscriptions, the full payload in the delta encoding.
    pub(crate) fn prepare_single(&self, protocol: Protocol, publication: &mut Publication) {
        publication.delta = false;
        if self.delta {
            if let Some(full) = delta::full_payload(protocol, &publication.data) {
                publication.data = full;
            }
            self.set_base(publication.offset);
        }
    }
}

/// The forms of one publication that delta subscribers may get, each built at
/// most once per fan-out, and only when a delta subscriber needs it.
pub(crate) struct Variants<'a> {
    plain: &'a Prepared,
    /// The publication is a delta candidate (`delta: true` at publish).
    candidate: bool,
    /// Payload of the previous publication in the stream (offset − 1), if known.
    prev: Option<Bytes>,
    full_json: OnceLock<Option<Prepared>>,
    raw_delta: OnceLock<Option<Bytes>>,
    delta_json: OnceLock<Option<Prepared>>,
    delta_protobuf: OnceLock<Option<Prepared>>,
}

impl<'a> Variants<'a> {
    pub(crate) fn new(plain: &'a Prepared, candidate: bool, prev: Option<Bytes>) -> Self {
        Self {
            plain,
            candidate,
            prev,
            full_json: OnceLock::new(),
            raw_delta: OnceLock::new(),
            delta_json: OnceLock::new(),
            delta_protobuf: OnceLock::new(),
        }
    }

    fn publication(&self) -> Option<&Publication> {
        self.plain.push().r#pub.as_ref()
    }

    fn with_payload(&self, data: Bytes, is_delta: bool) -> Prepared {
        let mut push = self.plain.push().clone();
        if let Some(p) = push.r#pub.as_mut() {
            p.data = data;
            p.delta = is_delta;
        }
        Prepared::new(push)
    }

    /// The full payload as a delta subscription of `protocol` expects it.
    fn full(&self, protocol: Protocol) -> Option<&Prepared> {
        match protocol {
            Protocol::Protobuf => Some(self.plain),
            Protocol::Json => self
                .full_json
                .get_or_init(|| {
                    let data = &self.publication()?.data;
                    delta::json_string(data).map(|d| self.with_payload(d, false))
                })
                .as_ref(),
        }
    }

    /// The delta against the previous publication, when smaller than the payload.
    fn delta(&self, protocol: Protocol) -> Option<&Prepared> {
        let raw = self
            .raw_delta
            .get_or_init(|| {
                let next = &self.publication()?.data;
                let d = delta::fossil(self.prev.as_deref()?, next);
                (d.len() < next.len()).then(|| Bytes::from(d))
            })
            .as_ref()?;
        let cell = match protocol {
            Protocol::Json => &self.delta_json,
            Protocol::Protobuf => &self.delta_protobuf,
        };
        cell.get_or_init(|| {
            let data = match protocol {
                Protocol::Json => delta::json_string(raw)?,
                Protocol::Protobuf => raw.clone(),
            };
            Some(self.with_payload(data, true))
        })
        .as_ref()
    }

    /// Delivers to a subscriber according to its view.
    pub(crate) fn deliver(&self, view: &View, client: &ClientShared) {
        if !view.delta {
            self.plain.deliver(client);
            return;
        }
        let offset = self.publication().map_or(0, |p| p.offset);
        let base = view.delta_base.swap(offset, Ordering::AcqRel);
        let chain = offset > 0 && base + 1 == offset;
        let chosen = if (self.candidate || view.delta_publish) && chain {
            self.delta(client.protocol)
        } else {
            None
        };
        match chosen.or_else(|| self.full(client.protocol)) {
            Some(p) => p.deliver(client),
            None => self.plain.deliver(client),
        }
    }
}
