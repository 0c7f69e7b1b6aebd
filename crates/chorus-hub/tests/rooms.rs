//! Rooms: membership, room broadcasts, automatic leave, pruning, and consistency
//! under concurrent joins, leaves, disconnects and broadcasts.

mod common;

use chorus_hub::{Hub, Session};
use common::*;
use std::time::Duration;

fn room_hub(tx: tokio::sync::mpsc::UnboundedSender<Session>) -> Hub {
    Hub::builder()
        .on_connect(move |s| {
            if let Some(room) = s.query_param("room") {
                s.join(&room);
            }
            tx.send(s.clone()).unwrap();
        })
        .on_message(|s, text| {
            // "join:x" / "leave:x" / otherwise speak in every room we are in.
            if let Some(room) = text.strip_prefix("join:") {
                s.join(room);
            } else if let Some(room) = text.strip_prefix("leave:") {
                s.leave(room);
            } else {
                for room in s.rooms() {
                    s.hub().broadcast_to_room_others(&room, text.clone(), s);
                }
            }
        })
        .build()
}

#[tokio::test]
async fn room_broadcasts_reach_members_only() {
    let (tx, mut rx) = events();
    let hub = room_hub(tx);
    let addr = serve(hub.clone()).await;
    let mut a = connect_path(addr, "/ws?room=red").await;
    let sa = next_event(&mut rx).await;
    let mut b = connect_path(addr, "/ws?room=red").await;
    let sb = next_event(&mut rx).await;
    let mut c = connect_path(addr, "/ws?room=blue").await;
    let _sc = next_event(&mut rx).await;

    let mut names = hub.rooms();
    names.sort();
    assert_eq!(names, ["blue", "red"]);
    assert_eq!(hub.room_len("red"), 2);
    let mut members: Vec<_> = hub.room_members("red").iter().map(Session::id).collect();
    members.sort();
    assert_eq!(members, [sa.id(), sb.id()]);

    let d = hub.broadcast_to_room("red", "to red");
    assert_eq!(d.queued, 2);
    assert_eq!(recv_text(&mut a).await, "to red");
    assert_eq!(recv_text(&mut b).await, "to red");
    hub.broadcast_binary_to_room("blue", vec![7u8]);
    assert_eq!(recv_binary(&mut c).await, vec![7]);

    send_text(&mut a, "hi from a").await;
    assert_eq!(recv_text(&mut b).await, "hi from a");
    assert_silent(&mut a, Duration::from_millis(100)).await;
    assert_silent(&mut c, Duration::from_millis(100)).await;

    assert_eq!(hub.broadcast_to_room("nowhere", "x").queued, 0);
    assert!(sa.join("blue"));
    assert!(!sa.join("blue"), "joining twice is a no-op");
    assert!(sa.leave("blue"));
    assert!(!sa.leave("blue"));
    assert_eq!(hub.room_len("blue"), 1);
}

#[tokio::test]
async fn disconnect_leaves_rooms_and_prunes_empty_ones() {
    let (tx, mut rx) = events();
    let (dtx, mut drx) = events::<Vec<String>>();
    let hub = Hub::builder()
        .on_connect(move |s| {
            s.join("solo");
            s.join("shared");
            tx.send(s.clone()).unwrap();
        })
        // By the time disconnect runs, the session has left every room.
        .on_disconnect(move |s, _| dtx.send(s.rooms()).unwrap())
        .build();
    let addr = serve(hub.clone()).await;
    let mut a = connect(addr).await;
    let sa = next_event(&mut rx).await;
    let _b = connect(addr).await;
    let _sb = next_event(&mut rx).await;
    assert_eq!(hub.room_len("shared"), 2);
    sa.leave("solo");
    assert_eq!(hub.room_len("solo"), 1);

    close_client(&mut a, 1000, "").await;
    assert!(next_event(&mut drx).await.is_empty());
    assert_eq!(hub.room_len("shared"), 1);
    assert!(!sa.join("shared"), "a closed session cannot join");
    assert_eq!(hub.room_len("shared"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_joins_leaves_and_broadcasts_stay_consistent() {
    const CLIENTS: usize = 60;
    const ROUNDS: usize = 20;
    let (tx, mut rx) = events();
    let (dtx, mut drx) = events::<()>();
    let hub = Hub::builder()
        .on_connect(move |s| tx.send(s.clone()).unwrap())
        .on_message(|s, text| {
            if let Some(room) = text.strip_prefix("join:") {
                s.join(room);
            } else if let Some(room) = text.strip_prefix("leave:") {
                s.leave(room);
            }
        })
        .on_disconnect(move |_, _| dtx.send(()).unwrap())
        .build();
    let addr = serve(hub.clone()).await;

    // Every client churns through rooms while the hub broadcasts to all and to rooms.
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut c = connect(addr).await;
        next_event(&mut rx).await;
        clients.push(tokio::spawn(async move {
            for r in 0..ROUNDS {
                let room = format!("room-{}", (i + r) % 5);
                send_text(&mut c, &format!("join:{room}")).await;
                send_text(&mut c, &format!("leave:{room}")).await;
            }
            send_text(&mut c, "join:final").await;
            // Count the "all" broadcasts until the end marker.
            let mut got = 0;
            loop {
                let t = recv_text(&mut c).await;
                if t == "end" {
                    break;
                }
                if t.starts_with("all-") {
                    got += 1;
                }
            }
            close_client(&mut c, 1000, "").await;
            got
        }));
    }
    let broadcaster = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                hub.broadcast(format!("all-{i}"));
                for r in 0..5 {
                    hub.broadcast_to_room(&format!("room-{r}"), "room msg");
                }
                tokio::task::yield_now().await;
            }
        })
    };
    broadcaster.await.unwrap();
    eventually(|| hub.room_len("final") == CLIENTS).await;
    hub.broadcast("end");
    for c in clients {
        assert_eq!(
            c.await.unwrap(),
            200,
            "every client got every hub-wide broadcast"
        );
    }
    for _ in 0..CLIENTS {
        next_event(&mut drx).await;
    }
    assert_eq!(hub.len(), 0);
    assert!(
        hub.rooms().is_empty(),
        "rooms left behind: {:?}",
        hub.rooms()
    );
}
