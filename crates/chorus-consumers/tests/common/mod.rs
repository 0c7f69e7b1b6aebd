//! What the consumer tests share: a dispatcher that records what it is
//! given and fails on demand, and order checks.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chorus_consumers::{DispatchError, Dispatcher};
use tokio::sync::mpsc;

/// How long a test waits for the consumer before failing.
pub const WAIT: Duration = Duration::from_secs(20);

/// One dispatched command: partition (from the channel `p<n>`) and sequence
/// number (`data.seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub partition: u32,
    pub seq: i64,
}

/// Sends every successful dispatch to the test; fails `seq` with `code` for
/// as many attempts as scripted.
pub struct Recorder {
    tx: mpsc::UnboundedSender<Seen>,
    attempts: mpsc::UnboundedSender<Seen>,
    pub failures: Mutex<HashMap<i64, (u32, usize)>>,
}

#[async_trait]
impl Dispatcher for Recorder {
    async fn dispatch(&self, method: &str, payload: &str) -> Result<(), DispatchError> {
        assert_eq!(method, "publish");
        let v: serde_json::Value = serde_json::from_str(payload).unwrap();
        let partition = v["channel"].as_str().unwrap()[1..].parse().unwrap();
        let seen = Seen {
            partition,
            seq: v["data"]["seq"].as_i64().unwrap(),
        };
        let _ = self.attempts.send(seen);
        if let Some((code, left)) = self.failures.lock().unwrap().get_mut(&seen.seq)
            && *left > 0
        {
            *left -= 1;
            return Err(DispatchError::new(*code, "scripted failure"));
        }
        let _ = self.tx.send(seen);
        Ok(())
    }
}

impl Recorder {
    /// A recorder, the receiver of its successful dispatches and the
    /// receiver of every attempt.
    pub fn new() -> (
        Arc<Self>,
        mpsc::UnboundedReceiver<Seen>,
        mpsc::UnboundedReceiver<Seen>,
    ) {
        let (tx, seen) = mpsc::unbounded_channel();
        let (attempts_tx, attempts) = mpsc::unbounded_channel();
        let recorder = Arc::new(Self {
            tx,
            attempts: attempts_tx,
            failures: Mutex::new(HashMap::new()),
        });
        (recorder, seen, attempts)
    }
}

/// The next `n` successful dispatches from `rx`, failing after [`WAIT`].
pub async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>, n: usize) -> Vec<Seen> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(WAIT, rx.recv()).await {
            Ok(Some(seen)) => out.push(seen),
            _ => panic!("only {} of {n} messages dispatched: {out:?}", out.len()),
        }
    }
    out
}

/// A publish command for partition (channel `p<partition>`) and `seq`.
pub fn publish(partition: u32, seq: i64) -> String {
    format!(r#"{{"channel":"p{partition}","data":{{"seq":{seq}}}}}"#)
}

/// Per partition, the sequence numbers in dispatch order.
pub fn by_partition(seen: &[Seen]) -> BTreeMap<u32, Vec<i64>> {
    let mut map: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for s in seen {
        map.entry(s.partition).or_default().push(s.seq);
    }
    map
}

/// Each partition's numbers strictly increase and together they are `0..n`.
pub fn assert_complete_in_order(seen: &[Seen], n: i64) {
    for (partition, seqs) in by_partition(seen) {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "partition {partition} out of order or repeated: {seqs:?}"
        );
    }
    let mut all: Vec<i64> = seen.iter().map(|s| s.seq).collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
}
