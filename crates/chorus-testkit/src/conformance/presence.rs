//! Presence contracts: add/remove, client info, user counting, TTL.

use super::*;

/// Runs every presence check that does not depend on the clock (all but
/// [`presence_ttl_expiry`]).
pub async fn presence_suite(make: impl Fn() -> Arc<dyn PresenceManager>) {
    presence_add_and_remove(&make).await;
    presence_preserves_client_info(&make).await;
    presence_stats_count_distinct_users(&make).await;
}

async fn presence_of(pm: &dyn PresenceManager, ch: &str) -> BTreeMap<String, ClientInfo> {
    pm.presence(ch).await.expect("presence")
}

async fn stats_of(pm: &dyn PresenceManager, ch: &str) -> PresenceStats {
    pm.presence_stats(ch).await.expect("presence_stats")
}

fn stats(num_clients: u32, num_users: u32) -> PresenceStats {
    PresenceStats {
        num_clients,
        num_users,
    }
}

/// `add_presence` makes a client present (in that channel only), `remove_presence`
/// removes it, removing again (or from an unknown channel) is fine.
pub async fn presence_add_and_remove(make: &impl Fn() -> Arc<dyn PresenceManager>) {
    let pm = make();
    let pm = &*pm;
    let (ch, other) = (chan("presence"), chan("presence-other"));
    assert!(presence_of(pm, &ch).await.is_empty(), "empty channel");
    assert_eq!(stats_of(pm, &ch).await, stats(0, 0));
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c2", info("u2", "c2"))
        .await
        .expect("add");
    let keys = |m: BTreeMap<String, ClientInfo>| m.into_keys().collect::<Vec<_>>();
    assert_eq!(keys(presence_of(pm, &ch).await), ["c1", "c2"]);
    assert!(presence_of(pm, &other).await.is_empty(), "per channel");
    pm.remove_presence(&ch, "c1", "u1").await.expect("remove");
    assert_eq!(keys(presence_of(pm, &ch).await), ["c2"]);
    assert_eq!(stats_of(pm, &ch).await, stats(1, 1));
    pm.remove_presence(&ch, "c1", "u1")
        .await
        .expect("remove is idempotent");
    pm.remove_presence(&other, "c9", "u9")
        .await
        .expect("remove from an unknown channel");
    pm.remove_presence(&ch, "c2", "u2").await.expect("remove");
    assert!(presence_of(pm, &ch).await.is_empty());
    assert_eq!(stats_of(pm, &ch).await, stats(0, 0));
}

/// The presence map is keyed by client id and returns the `ClientInfo` exactly
/// as added (user, client, conn_info, chan_info; anonymous user ""); adding the
/// same client id again replaces its entry.
pub async fn presence_preserves_client_info(make: &impl Fn() -> Arc<dyn PresenceManager>) {
    let pm = make();
    let pm = &*pm;
    let ch = chan("presence-info");
    let full = ClientInfo {
        conn_info: Bytes::from_static(b"{\"name\":\"Alice\"}"),
        chan_info: Bytes::from_static(b"{\"role\":\"admin\"}"),
        ..info("alice", "c1")
    };
    let anon = info("", "c2");
    pm.add_presence(&ch, "c1", full.clone()).await.expect("add");
    pm.add_presence(&ch, "c2", anon.clone()).await.expect("add");
    let want = BTreeMap::from([("c1".to_owned(), full.clone()), ("c2".to_owned(), anon)]);
    assert_eq!(presence_of(pm, &ch).await, want, "info preserved");
    let changed = ClientInfo {
        chan_info: Bytes::from_static(b"{\"role\":\"user\"}"),
        ..full
    };
    pm.add_presence(&ch, "c1", changed.clone())
        .await
        .expect("re-add");
    let p = presence_of(pm, &ch).await;
    assert_eq!(p.len(), 2, "re-adding a client id does not duplicate it");
    assert_eq!(p.get("c1"), Some(&changed), "re-adding replaces the info");
}

/// Stats count connections and distinct users: two connections of one user are
/// 2 clients and 1 user; anonymous connections count as one user ""; counts
/// follow removals and agree with the presence map.
pub async fn presence_stats_count_distinct_users(make: &impl Fn() -> Arc<dyn PresenceManager>) {
    let pm = make();
    let pm = &*pm;
    let ch = chan("presence-stats");
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c2", info("u1", "c2"))
        .await
        .expect("add");
    assert_eq!(
        stats_of(pm, &ch).await,
        stats(2, 1),
        "one user, two clients"
    );
    pm.add_presence(&ch, "c3", info("u2", "c3"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c4", info("", "c4"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c5", info("", "c5"))
        .await
        .expect("add");
    assert_eq!(
        stats_of(pm, &ch).await,
        stats(5, 3),
        "u1, u2 and the anonymous user"
    );
    assert_eq!(presence_of(pm, &ch).await.len(), 5, "map agrees with stats");
    pm.remove_presence(&ch, "c1", "u1").await.expect("remove");
    assert_eq!(stats_of(pm, &ch).await, stats(4, 3), "u1 still has c2");
    pm.remove_presence(&ch, "c2", "u1").await.expect("remove");
    assert_eq!(stats_of(pm, &ch).await, stats(3, 2), "u1 gone");
}

/// Entries live at least `ttl` after their last add and disappear after it
/// unless refreshed by another add (paused clock — see the module docs).
/// `ttl` is the manager's configured presence TTL.
///
/// # Panics
/// Also if the tokio clock is not paused.
pub async fn presence_ttl_expiry(make: impl Fn() -> Arc<dyn PresenceManager>, ttl: Duration) {
    let pm = make();
    let pm = &*pm;
    let ch = chan("presence-ttl");
    let margin = ttl / 10;
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("add");
    pm.add_presence(&ch, "c2", info("u2", "c2"))
        .await
        .expect("add");
    tokio::time::advance(ttl / 2).await;
    pm.add_presence(&ch, "c1", info("u1", "c1"))
        .await
        .expect("refresh");
    tokio::time::advance(ttl / 2 - margin).await; // ttl - margin after c2's add
    assert_eq!(stats_of(pm, &ch).await, stats(2, 2), "kept for the TTL");
    tokio::time::advance(2 * margin).await; // ttl + margin after c2's add
    let p = presence_of(pm, &ch).await;
    assert_eq!(
        p.keys().collect::<Vec<_>>(),
        ["c1"],
        "c2 expired, refreshed c1 kept"
    );
    assert_eq!(stats_of(pm, &ch).await, stats(1, 1), "stats agree");
    tokio::time::advance(ttl / 2).await; // ttl + margin after c1's refresh
    assert!(presence_of(pm, &ch).await.is_empty(), "c1 expired too");
    assert_eq!(stats_of(pm, &ch).await, stats(0, 0));
}
