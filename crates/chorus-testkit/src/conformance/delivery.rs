//! PUB/SUB delivery contracts: order, node-level subscriptions, info and tags,
//! join/leave, and atomic append + delivery under concurrency.

use super::*;

/// `publish` delivers to a channel the node subscribed to, in publish order, with
/// the data unchanged; without history the result and the delivered position are
/// "not in history" (offset 0, empty epoch) and the publication has offset 0.
pub async fn delivers_in_publish_order<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("order");
    subscribe(&b, &ch).await;
    let sent: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    for d in &sent {
        let r = publish(&b, &ch, d, &no_history()).await;
        assert_eq!(
            r,
            PublishResult::default(),
            "publish without history: offset 0, empty epoch, not suppressed"
        );
    }
    let got = rec.wait_publications(&ch, sent.len()).await;
    let want: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(datas(&got), quoted(&want), "delivered in publish order");
    for d in &got {
        assert_eq!(d.publication.offset, 0, "no offset without history");
        assert_eq!(d.position, StreamPosition::default(), "no position");
    }
}

/// A channel the node never subscribed to gets nothing (barrier: subscribe it,
/// publish a marker, and the marker must be the only delivery); publishing to
/// one channel does not deliver to another.
pub async fn does_not_deliver_to_unsubscribed_channels<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let (ch, other) = (chan("unsubscribed"), chan("other"));
    subscribe(&b, &other).await;
    publish(&b, &ch, "lost", &no_history()).await;
    publish(&b, &ch, "lost-h", &with_history(10)).await;
    publish(&b, &other, "mine", &no_history()).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "marker", &no_history()).await;
    let got = rec.wait_publications(&ch, 1).await;
    assert_eq!(
        datas(&got),
        quoted(&["marker"]),
        "publications made before subscribe are not delivered"
    );
    let got = rec.wait_publications(&other, 1).await;
    assert_eq!(datas(&got), quoted(&["mine"]), "no cross-channel delivery");
}

/// After `unsubscribe` nothing is delivered (barrier: re-subscribe and publish a
/// marker; the publication made in between must be missing).
pub async fn unsubscribe_stops_delivery<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("unsubscribe");
    subscribe(&b, &ch).await;
    publish(&b, &ch, "a", &no_history()).await;
    rec.wait_publications(&ch, 1).await;
    unsubscribe(&b, &ch).await;
    publish(&b, &ch, "b", &no_history()).await;
    publish(&b, &ch, "b-h", &with_history(10)).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "c", &no_history()).await;
    let got = rec.wait_publications(&ch, 2).await;
    assert_eq!(
        datas(&got),
        quoted(&["a", "c"]),
        "nothing delivered while unsubscribed"
    );
}

/// `subscribe` twice delivers once (no duplicates); `unsubscribe` is not
/// reference-counted (one call after two subscribes stops delivery), can be
/// repeated, and works on a channel never subscribed; a later `subscribe` works.
pub async fn subscribe_and_unsubscribe_are_idempotent<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("idempotent-sub");
    subscribe(&b, &ch).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "a", &no_history()).await;
    publish(&b, &ch, "b", &no_history()).await;
    rec.wait_publications(&ch, 2).await;
    unsubscribe(&b, &ch).await;
    publish(&b, &ch, "c", &no_history()).await;
    unsubscribe(&b, &ch).await;
    unsubscribe(&b, &chan("never-subscribed")).await;
    subscribe(&b, &ch).await;
    publish(&b, &ch, "d", &no_history()).await;
    let got = rec.wait_publications(&ch, 3).await;
    assert_eq!(
        datas(&got),
        quoted(&["a", "b", "d"]),
        "double subscribe delivers once; a single unsubscribe stops delivery"
    );
}

/// A publication's publisher info and tags (set by the node) are delivered and
/// kept in history unchanged.
pub async fn publish_keeps_info_and_tags<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let ch = chan("info-tags");
    subscribe(&b, &ch).await;
    let o = with_history(10);
    let publisher = ClientInfo {
        conn_info: Bytes::from_static(b"{\"c\":1}"),
        chan_info: Bytes::from_static(b"{\"h\":2}"),
        ..info("u1", "client-1")
    };
    let tags = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
    let mut sent = publication("x");
    sent.info = Some(publisher.clone());
    sent.tags.clone_from(&tags);
    b.publish(&ch, sent, &o)
        .await
        .unwrap_or_else(|e| panic!("publish to {ch:?} failed: {e}"));
    let got = rec.wait_publications(&ch, 1).await;
    for (p, what) in [
        (&got[0].publication, "delivered"),
        (&history(&b, &ch, all()).await.publications[0], "history"),
    ] {
        assert_eq!(p.info.as_ref(), Some(&publisher), "{what}: client info");
        assert_eq!(p.tags, tags, "{what}: tags");
        assert_eq!(data(p), "\"x\"", "{what}: data");
    }
}

// ---------------------------------------------------------------------------
// Broker: history
// ---------------------------------------------------------------------------

/// `publish_join`/`publish_leave` reach a subscribed channel, in order, with the
/// info unchanged, and nothing reaches a channel the node is not subscribed to
/// (barrier: subscribe it and send a marker join/leave).
pub async fn join_and_leave_reach_subscribed_channels_only<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    let (rec, b) = build(make);
    let (ch, off) = (chan("join"), chan("join-off"));
    subscribe(&b, &ch).await;
    let alice = ClientInfo {
        conn_info: Bytes::from_static(b"{\"a\":1}"),
        chan_info: Bytes::from_static(b"{\"b\":2}"),
        ..info("alice", "c1")
    };
    let bob = info("bob", "c2");
    for who in [&alice, &bob] {
        b.publish_join(&ch, who.clone()).await.expect("join");
    }
    b.publish_leave(&ch, alice.clone()).await.expect("leave");
    assert_eq!(rec.wait_joins(&ch, 2).await, [alice.clone(), bob.clone()]);
    assert_eq!(rec.wait_leaves(&ch, 1).await, std::slice::from_ref(&alice));

    b.publish_join(&off, alice.clone()).await.expect("join");
    b.publish_leave(&off, alice.clone()).await.expect("leave");
    subscribe(&b, &off).await;
    b.publish_join(&off, bob.clone()).await.expect("join");
    b.publish_leave(&off, bob.clone()).await.expect("leave");
    let got = rec
        .wait_for(&off, "the marker join and leave", |c| {
            !c.joins.is_empty() && !c.leaves.is_empty()
        })
        .await;
    assert_eq!(
        got.joins,
        std::slice::from_ref(&bob),
        "join before subscribe not delivered"
    );
    assert_eq!(got.leaves, [bob], "leave before subscribe not delivered");
    assert!(got.publications.is_empty());
}

/// Append + delivery are atomic per channel: 100 publishes per channel made
/// concurrently from several tasks (into 3 channels at once) are delivered with
/// offsets exactly 1..=100 in order, each delivered publication equal to the
/// history entry at its offset and its result matching what its publisher got.
pub async fn concurrent_publish_is_atomic<F, B>(make: &F)
where
    F: Fn(Arc<dyn BrokerEvents>) -> B,
    B: Broker,
{
    const PER_CHANNEL: usize = 100;
    const TASKS: usize = 4;
    let rec = RecordingEvents::new();
    let b = Arc::new(make(Arc::clone(&rec) as Arc<dyn BrokerEvents>));
    let channels: Vec<String> = (0..3).map(|i| chan(&format!("atomic{i}"))).collect();
    for ch in &channels {
        subscribe(&*b, ch).await;
    }
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let b = Arc::clone(&b);
        let channels = channels.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in (t..PER_CHANNEL).step_by(TASKS) {
                for ch in &channels {
                    let d = format!("{ch}/{t}/{i}");
                    let r = publish(&*b, ch, &d, &with_history(PER_CHANNEL)).await;
                    sent.push((ch.clone(), format!("\"{d}\""), r));
                    tokio::task::yield_now().await;
                }
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.expect("publisher task panicked"));
    }
    let want: Vec<u64> = (1..=PER_CHANNEL as u64).collect();
    for ch in &channels {
        let got = rec.wait_publications(ch, PER_CHANNEL).await;
        let live: Vec<Publication> = got.iter().map(|d| d.publication.clone()).collect();
        assert_eq!(
            offsets(&live),
            want,
            "{ch}: live offsets exactly 1..=100 in order"
        );
        let epoch = &got[0].position.epoch;
        for d in &got {
            assert_eq!(
                d.position,
                pos(d.publication.offset, epoch),
                "{ch}: delivered position = publication offset, one epoch"
            );
        }
        let h = history(&*b, ch, all()).await;
        assert_eq!(h.position, pos(PER_CHANNEL as u64, epoch), "{ch}: top");
        assert_eq!(h.publications, live, "{ch}: history = live delivery");
        let by_offset: HashMap<u64, String> = live.iter().map(|p| (p.offset, data(p))).collect();
        for (c, d, r) in sent.iter().filter(|(c, ..)| c == ch) {
            assert_eq!(&r.position.epoch, epoch, "{c}: result epoch");
            assert_eq!(
                by_offset.get(&r.position.offset),
                Some(d),
                "{c}: the result offset names the publication that was published"
            );
        }
    }
}
