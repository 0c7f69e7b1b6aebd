//! The Redis key and PUB/SUB channel layout (spec §11), and how channels are
//! spread over shards.
//!
//! With `P` the prefix (default `centrifugo`): PUB/SUB channel `P.client.<ch>`,
//! stream `P.stream.<ch>`, stream meta `P.stream.meta.<ch>`, idempotency results
//! `P.result.<ch>.<key>`, presence `P.presence.data.<ch>` and
//! `P.presence.expire.<ch>`; control messages travel on `P.control` (every
//! node) and `P.node.<id>` (one node). In Redis Cluster mode the channel part of every key
//! is a hash tag (`{ch}`), so all keys of one channel live in one slot and one
//! Lua script can touch them together.

/// Builds key and channel names for one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
    cluster: bool,
}

impl Keys {
    pub(crate) fn new(prefix: &str, cluster: bool) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster,
        }
    }

    fn tagged(&self, kind: &str, channel: &str) -> String {
        if self.cluster {
            format!("{}.{kind}.{{{channel}}}", self.prefix)
        } else {
            format!("{}.{kind}.{channel}", self.prefix)
        }
    }

    /// The PUB/SUB channel carrying a channel's publications, joins and leaves.
    pub(crate) fn client_channel(&self, channel: &str) -> String {
        format!("{}.client.{channel}", self.prefix)
    }

    /// The PUB/SUB channel carrying control messages to every node.
    pub(crate) fn control_channel(&self) -> String {
        format!("{}.control", self.prefix)
    }

    /// The PUB/SUB channel carrying control messages to one node.
    pub(crate) fn node_channel(&self, node: &str) -> String {
        format!("{}.node.{node}", self.prefix)
    }

    /// The channel name of a PUB/SUB channel name, if it is one of ours.
    pub(crate) fn channel_of<'a>(&self, pubsub: &'a str) -> Option<&'a str> {
        pubsub
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(".client."))
    }

    pub(crate) fn stream(&self, channel: &str) -> String {
        self.tagged("stream", channel)
    }

    pub(crate) fn stream_meta(&self, channel: &str) -> String {
        self.tagged("stream.meta", channel)
    }

    pub(crate) fn result(&self, channel: &str, key: &str) -> String {
        format!("{}.{key}", self.tagged("result", channel))
    }

    pub(crate) fn presence_data(&self, channel: &str) -> String {
        self.tagged("presence.data", channel)
    }

    pub(crate) fn presence_expire(&self, channel: &str) -> String {
        self.tagged("presence.expire", channel)
    }

    /// With presence user mapping: user → latest expiry of its clients.
    pub(crate) fn presence_user_expire(&self, channel: &str) -> String {
        self.tagged("presence.user.expire", channel)
    }

    /// With presence user mapping: user → number of its clients.
    pub(crate) fn presence_user_clients(&self, channel: &str) -> String {
        self.tagged("presence.user.clients", channel)
    }
}

/// FNV-1a, 64 bits.
fn fnv1a64(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Jump consistent hash (Lamping and Veach): a bucket in `0..buckets` that
/// changes for only 1/n of the keys when a bucket is added.
fn jump_hash(mut key: u64, buckets: usize) -> usize {
    let buckets = i64::try_from(buckets).unwrap_or(i64::MAX);
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < buckets {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        // The algorithm's float step: (b + 1) * 2^31 / ((key >> 33) + 1).
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        {
            j = ((b + 1) as f64 * ((1_i64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
        }
    }
    usize::try_from(b).unwrap_or(0)
}

/// The shard (index into the configured addresses) that owns a channel, as
/// Centrifugo computes it: jump hash of the channel's FNV-1a hash.
pub(crate) fn shard_index(channel: &str, shards: usize) -> usize {
    if shards <= 1 {
        return 0;
    }
    jump_hash(fnv1a64(channel.as_bytes()), shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_centrifugo() {
        let k = Keys::new("centrifugo", false);
        assert_eq!(k.client_channel("chat:1"), "centrifugo.client.chat:1");
        assert_eq!(k.stream("chat:1"), "centrifugo.stream.chat:1");
        assert_eq!(k.stream_meta("chat:1"), "centrifugo.stream.meta.chat:1");
        assert_eq!(k.result("chat:1", "k"), "centrifugo.result.chat:1.k");
        assert_eq!(k.presence_data("c"), "centrifugo.presence.data.c");
        assert_eq!(k.presence_expire("c"), "centrifugo.presence.expire.c");
        assert_eq!(
            k.presence_user_expire("c"),
            "centrifugo.presence.user.expire.c"
        );
        assert_eq!(
            k.presence_user_clients("c"),
            "centrifugo.presence.user.clients.c"
        );
        assert_eq!(k.channel_of("centrifugo.client.chat:1"), Some("chat:1"));
        assert_eq!(k.channel_of("other.client.chat:1"), None);
        assert_eq!(k.control_channel(), "centrifugo.control");
        assert_eq!(k.node_channel("n1"), "centrifugo.node.n1");
    }

    #[test]
    fn cluster_keys_share_a_hash_tag() {
        let k = Keys::new("p", true);
        assert_eq!(k.stream("c"), "p.stream.{c}");
        assert_eq!(k.stream_meta("c"), "p.stream.meta.{c}");
        assert_eq!(k.result("c", "k"), "p.result.{c}.k");
        assert_eq!(k.client_channel("c"), "p.client.c");
    }

    #[test]
    fn jump_hash_is_stable_and_moves_few_keys() {
        // Reference values of the published algorithm.
        assert_eq!(jump_hash(1, 1), 0);
        assert_eq!(jump_hash(0xDEAD_BEEF, 1), 0);
        let channels: Vec<String> = (0..1000).map(|i| format!("ch{i}")).collect();
        let before: Vec<usize> = channels.iter().map(|c| shard_index(c, 3)).collect();
        assert!(before.iter().all(|&s| s < 3));
        for s in 0..3 {
            assert!(before.iter().filter(|&&b| b == s).count() > 250, "balanced");
        }
        let moved = channels
            .iter()
            .zip(&before)
            .filter(|(c, b)| shard_index(c, 4) != **b)
            .count();
        assert!(
            moved < 350,
            "about a quarter moves when a shard is added: {moved}"
        );
        let again: Vec<usize> = channels.iter().map(|c| shard_index(c, 3)).collect();
        assert_eq!(before, again);
    }
}
