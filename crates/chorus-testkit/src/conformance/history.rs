//! History contracts: offsets and epochs, limits and `since`, trimming, removal,
//! `skip_history`, idempotency, and TTLs.

use super::*;

/// With history, offsets start at 1 and grow by one; the epoch is non-empty and
/// stable; the result, the delivered position, the delivered publication's
/// offset and the history agree.
pub async fn history_offsets_and_epoch<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("offsets");
    subscribe(&b, &ch).await;
    let mut results = Vec::new();
    for i in 1..=5 {
        results.push(publish(&b, &ch, &format!("p{i}"), &with_history(10)).await);
    }
    let epoch = results[0].position.epoch.clone();
    assert!(!epoch.is_empty(), "a stream has an epoch");
    for (i, r) in (1..).zip(&results) {
        assert_eq!(r.position, pos(i, &epoch), "publish result {i}");
        assert!(!r.suppressed);
    }
    let got = rec.wait_publications(&ch, 5).await;
    for (i, d) in (1..).zip(&got) {
        assert_eq!(d.position, pos(i, &epoch), "delivered position {i}");
        assert_eq!(d.publication.offset, i, "delivered publication offset");
    }
    let h = history(&b, &ch, all()).await;
    assert_eq!(h.position, pos(5, &epoch), "history top");
    assert_eq!(offsets(&h.publications), [1, 2, 3, 4, 5]);
    let live: Vec<Publication> = got.into_iter().map(|d| d.publication).collect();
    assert_eq!(h.publications, live, "history holds what was delivered");
}

/// A stream never published to has no publications and offset 0, and the epoch
/// it reports is the one the first publish continues (a positioned subscriber
/// that read the empty stream can recover from it).
pub async fn history_of_empty_stream<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("empty");
    let h = history(&b, &ch, filter(None, 0, false)).await;
    assert!(h.publications.is_empty());
    assert_eq!(h.position.offset, 0, "empty stream top");
    let h2 = history(&b, &ch, all()).await;
    assert!(h2.publications.is_empty());
    assert_eq!(h2.position, h.position, "epoch stable across reads");
    let r = publish(&b, &ch, "first", &with_history(10)).await;
    assert_eq!(
        r.position,
        pos(1, &h.position.epoch),
        "first publish continues the epoch the empty stream reported"
    );
}

/// `limit` -1 returns all kept, oldest first; 0 returns none but the top; a
/// positive limit caps from the oldest; `reverse` returns newest first (capped
/// from the newest). Every result carries the top position.
pub async fn history_limit_and_reverse<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("limit");
    let top = fill(&b, &ch, 5, &with_history(10)).await;
    let cases: [(i32, bool, &[u64]); 8] = [
        (-1, false, &[1, 2, 3, 4, 5]),
        (0, false, &[]),
        (2, false, &[1, 2]),
        (5, false, &[1, 2, 3, 4, 5]),
        (100, false, &[1, 2, 3, 4, 5]),
        (-1, true, &[5, 4, 3, 2, 1]),
        (2, true, &[5, 4]),
        (0, true, &[]),
    ];
    for (limit, reverse, want) in cases {
        let h = history(&b, &ch, filter(None, limit, reverse)).await;
        assert_eq!(
            offsets(&h.publications),
            want,
            "limit {limit}, reverse {reverse}"
        );
        assert_eq!(h.position, top, "top with limit {limit}, reverse {reverse}");
    }
    let h = history(&b, &ch, all()).await;
    let want: Vec<String> = (1..=5).map(|i| format!("\"p{i}\"")).collect();
    let got: Vec<String> = h.publications.iter().map(data).collect();
    assert_eq!(got, want, "data in offset order");
}

/// `since` is exclusive: publications after its offset, in order, capped by
/// `limit`; `since` at the top returns none; offset 0 returns all.
pub async fn history_since_is_exclusive<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("since");
    let top = fill(&b, &ch, 5, &with_history(10)).await;
    let e = top.epoch.clone();
    let cases: [(u64, i32, &[u64]); 6] = [
        (2, -1, &[3, 4, 5]),
        (2, 1, &[3]),
        (2, 2, &[3, 4]),
        (4, -1, &[5]),
        (5, -1, &[]),
        (0, -1, &[1, 2, 3, 4, 5]),
    ];
    for (since, limit, want) in cases {
        let h = history(&b, &ch, filter(Some(pos(since, &e)), limit, false)).await;
        assert_eq!(
            offsets(&h.publications),
            want,
            "since {since} (exclusive), limit {limit}"
        );
        assert_eq!(h.position, top, "top with since {since}");
    }
}

/// `since` with an epoch other than the stream's is
/// [`BackendError::UnrecoverablePosition`] (whatever the offset and limit).
pub async fn history_other_epoch_is_unrecoverable<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("epoch");
    let top = publish(&b, &ch, "p1", &with_history(10)).await.position;
    let other = if top.epoch == "xxxxxxxx" {
        "yyyyyyyy"
    } else {
        "xxxxxxxx"
    };
    for (offset, limit) in [(0, -1), (1, -1), (1, 0), (7, 10)] {
        let r = b
            .history(
                &ch,
                filter(Some(pos(offset, other)), limit, false),
                META_TTL,
            )
            .await;
        assert!(
            matches!(r, Err(BackendError::UnrecoverablePosition)),
            "since {offset} in another epoch, limit {limit}: got {r:?}"
        );
    }
    // The stream itself is unaffected.
    let h = history(&b, &ch, all()).await;
    assert_eq!(h.position, top);
    assert_eq!(offsets(&h.publications), [1]);
}

/// `history_size` N keeps the newest N publications; the top keeps counting.
pub async fn history_size_keeps_newest<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("size");
    let top = fill(&b, &ch, 7, &with_history(3)).await;
    assert_eq!(top.offset, 7);
    let h = history(&b, &ch, all()).await;
    assert_eq!(offsets(&h.publications), [5, 6, 7], "newest 3 kept");
    assert_eq!(h.position, top);
    let h = history(&b, &ch, filter(Some(pos(2, &top.epoch)), -1, false)).await;
    assert_eq!(
        offsets(&h.publications),
        [5, 6, 7],
        "since below the oldest kept returns what is kept (the caller sees the gap)"
    );
}

/// `remove_history` drops the publications but keeps the epoch and top offset;
/// the next publish continues from there. Removing an unknown channel's history
/// is fine.
pub async fn remove_history_keeps_position<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (_rec, b) = build(make);
    let ch = chan("remove");
    let top = fill(&b, &ch, 3, &with_history(10)).await;
    b.remove_history(&ch).await.expect("remove_history");
    let h = history(&b, &ch, all()).await;
    assert!(h.publications.is_empty(), "publications removed");
    assert_eq!(h.position, top, "epoch and top offset kept");
    let r = publish(&b, &ch, "p4", &with_history(10)).await;
    assert_eq!(r.position, pos(4, &top.epoch), "offsets continue");
    let h = history(&b, &ch, all()).await;
    assert_eq!(offsets(&h.publications), [4]);
    b.remove_history(&chan("remove-unknown"))
        .await
        .expect("remove_history of an unknown channel");
}

/// `skip_history` publishes (and delivers) without appending: the result is
/// "not in history", history and its top are unchanged, the next offset is
/// unaffected.
pub async fn skip_history_does_not_append<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("skip");
    subscribe(&b, &ch).await;
    publish(&b, &ch, "p1", &with_history(10)).await;
    let top = publish(&b, &ch, "p2", &with_history(10)).await.position;
    let mut skip = with_history(10);
    skip.skip_history = true;
    let r = publish(&b, &ch, "skipped", &skip).await;
    assert_eq!(r, PublishResult::default(), "not in history");
    let got = rec.wait_publications(&ch, 3).await;
    assert_eq!(data(&got[2].publication), "\"skipped\"", "still delivered");
    assert_eq!(got[2].publication.offset, 0, "delivered without an offset");
    let h = history(&b, &ch, all()).await;
    assert_eq!(offsets(&h.publications), [1, 2], "not appended");
    assert_eq!(h.position, top, "top unchanged");
    let r = publish(&b, &ch, "p3", &with_history(10)).await;
    assert_eq!(r.position, pos(3, &top.epoch), "next offset unaffected");
}

async fn check_idempotency<F, B>(make: &F, o: &PublishOptions)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let (ch, other) = (chan("idem"), chan("idem-other"));
    subscribe(&b, &ch).await;
    subscribe(&b, &other).await;
    let mut keyed = o.clone();
    keyed.idempotency_key = Some("key-1".to_owned());
    let first = publish(&b, &ch, "first", &keyed).await;
    assert!(
        !first.suppressed,
        "first publish with a key is not suppressed"
    );
    let again = publish(&b, &ch, "again", &keyed).await;
    assert!(again.suppressed, "same key, same channel: suppressed");
    assert_eq!(again.position, first.position, "the first result is reused");
    // Barrier: a publication without a key must be the next delivery.
    publish(&b, &ch, "plain", o).await;
    let got = rec.wait_publications(&ch, 2).await;
    assert_eq!(
        datas(&got),
        quoted(&["first", "plain"]),
        "the suppressed publish is not delivered"
    );
    let mut key2 = o.clone();
    key2.idempotency_key = Some("key-2".to_owned());
    let r = publish(&b, &ch, "key-2", &key2).await;
    assert!(!r.suppressed, "another key publishes");
    let r = publish(&b, &other, "other", &keyed).await;
    assert!(!r.suppressed, "same key in another channel publishes");
    let got = rec.wait_publications(&ch, 3).await;
    assert_eq!(datas(&got), quoted(&["first", "plain", "key-2"]));
    let got = rec.wait_publications(&other, 1).await;
    assert_eq!(datas(&got), quoted(&["other"]));
    if o.history_size > 0 {
        let e = &first.position.epoch;
        assert_eq!(first.position, pos(1, e));
        let h = history(&b, &ch, all()).await;
        assert_eq!(
            offsets(&h.publications),
            [1, 2, 3],
            "suppressed not appended"
        );
        let d: Vec<String> = h.publications.iter().map(data).collect();
        assert_eq!(d, quoted(&["first", "plain", "key-2"]));
    } else {
        assert_eq!(first.position, StreamPosition::default());
    }
}

/// Idempotent publish in a channel with history: a second publish with the same
/// key in the same channel is suppressed (`suppressed: true`, the first
/// position, not delivered, not appended); another key or another channel
/// publishes normally.
pub async fn idempotent_publish_is_suppressed<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    check_idempotency(make, &with_history(10)).await;
}

/// The same as [`idempotent_publish_is_suppressed`] in a channel without history
/// (Centrifugo caches idempotent results independently of history).
pub async fn idempotent_publish_without_history_is_suppressed<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    check_idempotency(make, &no_history()).await;
}

/// History TTL (paused clock — see the module docs; engines with external
/// clocks need a real-time variant): items live `history_ttl` after the **last**
/// publish (as a whole, like Redis `EXPIRE` on the stream), then disappear while
/// the top offset and epoch stay until `history_meta_ttl`; after the meta TTL the
/// stream restarts with a new epoch and offset 1.
///
/// # Panics
/// Also if the tokio clock is not paused.
pub async fn history_ttl_expiry<F, B>(make: F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    const TTL: Duration = Duration::from_secs(10);
    const META: Duration = Duration::from_secs(60);
    const SECOND: Duration = Duration::from_secs(1);
    let (_rec, b) = build(&make);
    let ch = chan("ttl");
    let mut o = with_history(10);
    o.history_ttl = TTL;
    o.history_meta_ttl = META;
    let read = async |b: &B| {
        b.history(&ch, all(), META)
            .await
            .expect("history during the TTL check")
    };
    for i in 1..=3 {
        publish(&b, &ch, &format!("p{i}"), &o).await;
    }
    tokio::time::advance(TTL / 2).await;
    let top = publish(&b, &ch, "p4", &o).await.position;
    let epoch = top.epoch.clone();
    tokio::time::advance(TTL - SECOND).await; // 1.5 TTL after p1, TTL - 1 s after p4
    let h = read(&b).await;
    assert_eq!(
        offsets(&h.publications),
        [1, 2, 3, 4],
        "items live history_ttl after the last publish"
    );
    tokio::time::advance(2 * SECOND).await; // TTL + 1 s after p4
    let h = read(&b).await;
    assert!(
        h.publications.is_empty(),
        "items gone history_ttl after the last publish: {:?}",
        offsets(&h.publications)
    );
    assert_eq!(h.position, top, "top offset and epoch outlive the items");
    let r = publish(&b, &ch, "p5", &o).await;
    assert_eq!(r.position, pos(5, &epoch), "offsets continue in the epoch");
    assert_eq!(offsets(&read(&b).await.publications), [5]);

    tokio::time::advance(META + SECOND).await; // meta TTL after p5 (and after the read)
    let h = read(&b).await;
    assert!(h.publications.is_empty());
    assert_ne!(h.position.epoch, epoch, "a new epoch after the meta TTL");
    assert!(!h.position.epoch.is_empty());
    assert_eq!(h.position.offset, 0, "the new stream starts empty");
    let r = publish(&b, &ch, "again", &o).await;
    assert_eq!(
        r.position,
        pos(1, &h.position.epoch),
        "the new stream starts at offset 1 in its (stable) epoch"
    );
    let h = read(&b).await;
    assert_eq!(offsets(&h.publications), [1]);
}

// ---------------------------------------------------------------------------
// Presence
// ---------------------------------------------------------------------------
