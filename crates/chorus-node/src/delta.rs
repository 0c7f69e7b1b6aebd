//! Fossil delta compression of publication payloads (spec §7 "Delta + recovery").
//!
//! A subscription that negotiated `delta: "fossil"` receives, for publications
//! marked as delta candidates, the Fossil delta between the previous payload it
//! holds and the new one, with `Publication.delta = true`. The SDK applies it.
//!
//! On the JSON protocol the SDK expects **every** payload of such a subscription
//! as a JSON *string* (the payload's text, or the delta's text): it parses the
//! string itself after applying deltas. On Protobuf the bytes travel as they are.

use bytes::Bytes;
use chorus_protocol::{Protocol, Publication};

/// The Fossil delta that turns `prev` into `next`.
pub(crate) fn fossil(prev: &[u8], next: &[u8]) -> Vec<u8> {
    // The crate's argument order is (target, source).
    fossil_delta::delta(next, prev)
}

/// `bytes` as a JSON string literal, or `None` when they are not UTF-8 text (a
/// JSON string cannot carry them).
pub(crate) fn json_string(bytes: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(bytes).ok()?;
    serde_json::to_vec(text).ok().map(Bytes::from)
}

/// A payload as a delta subscription of `protocol` receives it in full.
///
/// `None` when it cannot be sent to this subscriber at all (non-UTF-8 payload on
/// JSON); the caller then falls back to the plain encoding.
pub(crate) fn full_payload(protocol: Protocol, data: &Bytes) -> Option<Bytes> {
    match protocol {
        Protocol::Json => json_string(data),
        Protocol::Protobuf => Some(data.clone()),
    }
}

/// The delta payload from `prev` to `next` for a subscription of `protocol`, or
/// `None` when a delta is not worth sending (not smaller than the full payload)
/// or cannot be encoded (not UTF-8 on JSON).
pub(crate) fn delta_payload(protocol: Protocol, prev: &[u8], next: &[u8]) -> Option<Bytes> {
    let delta = fossil(prev, next);
    if delta.len() >= next.len() {
        return None;
    }
    match protocol {
        Protocol::Json => json_string(&delta),
        Protocol::Protobuf => Some(Bytes::from(delta)),
    }
}

/// Rewrites publications (recovered ones, in stream order) for a delta
/// subscription: the first travels in full, each next one as a delta against
/// its predecessor when that is smaller. Returns the payload the client holds
/// afterwards (the last full payload), for the live deltas that follow.
pub(crate) fn encode_sequence(
    protocol: Protocol,
    publications: &mut [Publication],
    mut prev: Option<Bytes>,
) -> Option<Bytes> {
    for p in publications {
        let full = p.data.clone();
        let delta = prev
            .as_deref()
            .and_then(|base| delta_payload(protocol, base, &full));
        match delta {
            Some(d) => {
                p.data = d;
                p.delta = true;
            }
            None => {
                if let Some(f) = full_payload(protocol, &full) {
                    p.data = f;
                }
                p.delta = false;
            }
        }
        prev = Some(full);
    }
    prev
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(base: &[u8], delta: &[u8]) -> Vec<u8> {
        fossil_delta::apply(base, delta).expect("valid delta")
    }

    #[test]
    fn delta_round_trips() {
        let prev =
            br#"{"score":1,"team":"red","players":["ann","bob","cy"],"note":"unchanged text"}"#;
        let next =
            br#"{"score":2,"team":"red","players":["ann","bob","cy"],"note":"unchanged text"}"#;
        let d = fossil(prev, next);
        assert!(d.len() < next.len());
        assert_eq!(apply(prev, &d), next);
    }

    #[test]
    fn json_payloads_are_strings() {
        let data = Bytes::from_static(br#"{"a":"\u00e9"}"#);
        let s = full_payload(Protocol::Json, &data).unwrap();
        let back: String = serde_json::from_slice(&s).unwrap();
        assert_eq!(back.as_bytes(), &data[..]);
        assert_eq!(full_payload(Protocol::Protobuf, &data).unwrap(), data);
        assert!(json_string(&[0xff, 0xfe]).is_none());
    }

    #[test]
    fn delta_not_sent_when_larger() {
        assert!(delta_payload(Protocol::Protobuf, b"abc", b"xyz").is_none());
    }

    #[test]
    fn sequence_first_full_then_deltas() {
        let body = |n: u32| Bytes::from(format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(80)));
        let mut pubs: Vec<Publication> = (1..=3)
            .map(|n| Publication {
                data: body(n),
                offset: u64::from(n),
                ..Publication::default()
            })
            .collect();
        let last = encode_sequence(Protocol::Protobuf, &mut pubs, None);
        assert!(!pubs[0].delta);
        assert_eq!(pubs[0].data, body(1));
        assert!(pubs[1].delta && pubs[2].delta);
        assert_eq!(apply(&body(1), &pubs[1].data), body(2));
        assert_eq!(apply(&body(2), &pubs[2].data), body(3));
        assert_eq!(last, Some(body(3)));

        let mut json = vec![Publication {
            data: body(4),
            ..Publication::default()
        }];
        encode_sequence(Protocol::Json, &mut json, Some(body(3)));
        assert!(json[0].delta);
        let text: String = serde_json::from_slice(&json[0].data).unwrap();
        assert_eq!(apply(&body(3), text.as_bytes()), body(4));
    }
}
