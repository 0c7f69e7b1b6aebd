//! Redis Cluster topology as the PUB/SUB side needs it: which master serves a
//! channel's hash slot.
//!
//! # Why the subscriber cares
//! A classic `PUBLISH` in a cluster is delivered at once to the subscribers of
//! the node that runs it and reaches every other node later, over the cluster
//! bus. A channel's publications run (inside the publish script) on the master
//! of the slot of its stream key, so a `SUBSCRIBE` answered by *that* master is
//! a barrier: every publication after the reply is seen, none made before it
//! arrives after it. Subscribed on any other node, a publication made just
//! before `subscribe` could still arrive after it. The subscriber task therefore
//! holds one PUB/SUB connection per master and subscribes each channel on the
//! master of its slot ([`SlotMap::master_of`] of [`key_slot`]).
//!
//! A stale map (after resharding or a failover) loses nothing — every node still
//! gets every message through the bus — it only weakens that barrier until the
//! task notices the change and reconnects.

use redis::Value;

/// Number of hash slots in a Redis Cluster.
const SLOT_COUNT: u16 = 16384;

/// The hash slot of a key: CRC16 (XMODEM) of its hash tag, the part between the
/// first `{` and the next `}` when that part is not empty, or of the whole key.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(key).unwrap_or(key)) % SLOT_COUNT
}

fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|&b| b == b'{')?;
    let rest = &key[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

/// A master's address as the cluster announces it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Master {
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Which master serves each slot, read from `CLUSTER SLOTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotMap {
    /// Sorted, so two reads of an unchanged cluster compare equal.
    masters: Vec<Master>,
    /// `(first slot, last slot, index into masters)`, sorted by first slot.
    ranges: Vec<(u16, u16, usize)>,
}

impl SlotMap {
    /// Parses a `CLUSTER SLOTS` reply: per range `[first, last, [host, port,
    /// id, …], replicas…]`.
    pub(crate) fn parse(reply: &Value) -> Result<Self, String> {
        let Value::Array(entries) = reply else {
            return Err("CLUSTER SLOTS: not an array".to_owned());
        };
        let mut raw = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(fields) = entry else {
                return Err("CLUSTER SLOTS: range is not an array".to_owned());
            };
            let (Some(first), Some(last), Some(master)) =
                (fields.first(), fields.get(1), fields.get(2))
            else {
                return Err("CLUSTER SLOTS: short range".to_owned());
            };
            let slot = |v: &Value| match v {
                Value::Int(i) => u16::try_from(*i).ok().filter(|s| *s < SLOT_COUNT),
                _ => None,
            };
            let (Some(first), Some(last)) = (slot(first), slot(last)) else {
                return Err("CLUSTER SLOTS: bad slot number".to_owned());
            };
            raw.push((first, last, parse_master(master)?));
        }
        if raw.is_empty() {
            return Err("CLUSTER SLOTS: no slot is served".to_owned());
        }
        let mut masters: Vec<Master> = raw.iter().map(|(_, _, m)| m.clone()).collect();
        masters.sort();
        masters.dedup();
        let mut ranges: Vec<(u16, u16, usize)> = raw
            .into_iter()
            .map(|(first, last, m)| {
                let index = masters.binary_search(&m).unwrap_or_default();
                (first, last, index)
            })
            .collect();
        ranges.sort_unstable();
        Ok(Self { masters, ranges })
    }

    /// The masters, each to get one PUB/SUB connection.
    pub(crate) fn masters(&self) -> &[Master] {
        &self.masters
    }

    /// The index (into [`SlotMap::masters`]) of the master serving `slot`; the
    /// first master for a slot no one serves (a cluster being resharded), where
    /// delivery still works through the bus.
    pub(crate) fn master_of(&self, slot: u16) -> usize {
        let i = self.ranges.partition_point(|(first, _, _)| *first <= slot);
        match i.checked_sub(1).map(|i| self.ranges[i]) {
            Some((_, last, master)) if slot <= last => master,
            _ => 0,
        }
    }
}

fn parse_master(v: &Value) -> Result<Master, String> {
    let Value::Array(node) = v else {
        return Err("CLUSTER SLOTS: node is not an array".to_owned());
    };
    let host = match node.first() {
        Some(Value::BulkString(b)) => String::from_utf8(b.clone()).ok(),
        Some(Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    }
    // An empty or `?` endpoint means the node does not know how it is reached.
    .filter(|h| !h.is_empty() && h != "?")
    .ok_or_else(|| "CLUSTER SLOTS: master without a usable address".to_owned())?;
    let port = match node.get(1) {
        Some(Value::Int(p)) => u16::try_from(*p).ok(),
        _ => None,
    }
    .ok_or_else(|| "CLUSTER SLOTS: bad port".to_owned())?;
    Ok(Master { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn range(first: i64, last: i64, port: i64) -> Value {
        Value::Array(vec![
            Value::Int(first),
            Value::Int(last),
            Value::Array(vec![bulk("127.0.0.1"), Value::Int(port), bulk("id")]),
            Value::Array(vec![bulk("127.0.0.1"), Value::Int(port + 100), bulk("r")]),
        ])
    }

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on a real server.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"chorus.stream.{news}"), key_slot(b"news"));
        // `{}` is not a tag: the whole key is hashed; only the first tag counts.
        assert_eq!(key_slot(b"a{}b"), crc16_of(b"a{}b"));
        assert_eq!(key_slot(b"x{a}{b}"), key_slot(b"a"));
        assert_eq!(key_slot(b"x{a"), crc16_of(b"x{a"));
    }

    fn crc16_of(key: &[u8]) -> u16 {
        crc16::State::<crc16::XMODEM>::calculate(key) % SLOT_COUNT
    }

    #[test]
    fn maps_slots_to_masters() {
        let reply = Value::Array(vec![
            range(5461, 10922, 7001),
            range(0, 5460, 7000),
            range(10923, 16383, 7002),
        ]);
        let map = SlotMap::parse(&reply).expect("parse");
        let ports: Vec<u16> = map.masters().iter().map(|m| m.port).collect();
        assert_eq!(ports, [7000, 7001, 7002]);
        assert_eq!(map.master_of(0), 0);
        assert_eq!(map.master_of(5460), 0);
        assert_eq!(map.master_of(5461), 1);
        assert_eq!(map.master_of(16383), 2);
        // The same cluster read in another order is the same map.
        let again = Value::Array(vec![
            range(0, 5460, 7000),
            range(10923, 16383, 7002),
            range(5461, 10922, 7001),
        ]);
        assert_eq!(SlotMap::parse(&again).expect("parse"), map);
    }

    #[test]
    fn uncovered_slot_goes_to_the_first_master() {
        let map = SlotMap::parse(&Value::Array(vec![
            range(100, 200, 7000),
            range(300, 400, 7001),
        ]))
        .expect("parse");
        assert_eq!(map.master_of(50), 0);
        assert_eq!(map.master_of(250), 0);
        assert_eq!(map.master_of(350), 1);
        assert_eq!(map.master_of(401), 0);
    }

    #[test]
    fn rejects_malformed_replies() {
        for bad in [
            Value::Nil,
            Value::Array(vec![]),
            Value::Array(vec![Value::Int(0)]),
            Value::Array(vec![Value::Array(vec![
                Value::Int(0),
                Value::Int(99_999),
                Value::Array(vec![bulk("h"), Value::Int(1)]),
            ])]),
            Value::Array(vec![Value::Array(vec![
                Value::Int(0),
                Value::Int(1),
                Value::Array(vec![bulk(""), Value::Int(1)]),
            ])]),
        ] {
            assert!(SlotMap::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
