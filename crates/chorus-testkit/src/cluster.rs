//! The control-plane contract of a networked broker, checked with real nodes
//! serving real WebSocket clients: discovery, `info` over every node, surveys
//! (`channels`, `connections`), API operations that reach the node holding the
//! connection, emulation forwarding, and a node leaving.
//!
//! A broker crate calls [`control_plane`] with a function that gives a node
//! builder its broker (and presence manager); everything else is set up here.

use crate::{ProtocolClient, WAIT};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use chorus_node::websocket::{WebSocketOptions, accept_websocket};
use chorus_node::{
    ApiError, ConnectGrant, Disconnect, Node, NodeBuilder, NodeConfig, ServerSubscribe,
};
use chorus_protocol::Protocol;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

async fn websocket(
    State(node): State<Node>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept_websocket(
        &node,
        upgrade,
        &headers,
        query.as_deref(),
        &WebSocketOptions::default(),
    )
}

/// Serves `node`'s WebSocket endpoint on 127.0.0.1:0; returns its URL.
///
/// # Panics
/// If no port can be bound.
pub async fn serve(node: &Node) -> String {
    let app = Router::new()
        .route("/connection/websocket", get(websocket))
        .with_state(node.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("ws://{addr}/connection/websocket")
}

/// Waits (bounded by [`WAIT`]) until `check` holds. For conditions no event
/// signals, such as another node's heartbeat having arrived.
///
/// # Panics
/// When it does not hold in time, with `what`.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A node whose clients are all user `alice`, with every channel open.
fn builder() -> NodeBuilder {
    let mut config = NodeConfig::default();
    config.client.insecure = true;
    Node::builder(config).on_connecting(|_| async { Ok(ConnectGrant::user("alice")) })
}

/// Runs the control-plane contract on two nodes built by `with_broker`.
///
/// # Panics
/// On any violation.
pub async fn control_plane(with_broker: impl Fn(NodeBuilder) -> NodeBuilder) {
    let a = with_broker(builder()).build();
    let b = with_broker(builder()).build();
    let (uid_a, uid_b) = (a.info().uid, b.info().uid);

    // Discovery: each node lists both, itself first.
    for node in [&a, &b] {
        eventually("both nodes discovered", || node.nodes().len() == 2).await;
        let nodes = node.nodes();
        assert_eq!(nodes[0].uid, node.info().uid, "itself first");
    }
    assert!(a.nodes().iter().any(|n| n.uid == uid_b));

    // A client on A, seen from B.
    let url_a = serve(&a).await;
    let mut client = ProtocolClient::open(&url_a, Protocol::Json).await;
    let reply = client.connect("").await;
    assert!(reply.error.is_none(), "connect: {reply:?}");
    assert!(client.subscribe("room").await.error.is_none());
    eventually("B's view of A's statistics", || {
        b.nodes()
            .iter()
            .any(|n| n.uid == uid_a && n.num_clients == 1)
    })
    .await;
    let channels = b.cluster_channels(None).await.expect("channels");
    assert_eq!(channels.get("room"), Some(&1), "{channels:?}");
    assert!(
        b.cluster_channels(Some("other*"))
            .await
            .expect("channels")
            .is_empty()
    );
    let connections = b.cluster_connections(Some("alice")).await.expect("conns");
    assert_eq!(connections.len(), 1, "{connections:?}");
    let (_, conn) = connections.iter().next().expect("one");
    assert_eq!(conn.channels, vec!["room".to_owned()]);
    assert!(
        b.cluster_connections(Some("bob"))
            .await
            .expect("conns")
            .is_empty()
    );

    // API operations made on B reach the client on A.
    let mut sub = ServerSubscribe::default();
    sub.user = "alice".into();
    sub.channel = "server-side".into();
    b.subscribe(sub).await.expect("subscribe");
    let push = client.recv_push().await;
    assert_eq!(push.channel, "server-side");
    assert!(push.subscribe.is_some(), "{push:?}");
    b.unsubscribe("alice", "room", None)
        .await
        .expect("unsubscribe");
    let push = client.recv_push().await;
    assert_eq!(push.channel, "room");
    assert_eq!(push.unsubscribe.expect("unsubscribe push").code, 2000);

    // Emulation requests reach the owning node's sink, with their body.
    let (tx, mut rx) = mpsc::unbounded_channel();
    a.set_emulation_sink(Arc::new(move |session: &str, body: Bytes| {
        let _ = tx.send((session.to_owned(), body));
    }));
    b.forward_emulation(&uid_a, "session-1", b"{\"id\":1}")
        .await
        .expect("forward");
    let (session, body) = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("forwarded in time")
        .expect("sink alive");
    assert_eq!(session, "session-1");
    assert_eq!(&body[..], b"{\"id\":1}");
    assert_eq!(
        b.forward_emulation("no-such-node", "s", b"x").await,
        Err(ApiError::NotFound)
    );

    // A whitelisted client survives; then a disconnect made on B closes it.
    b.disconnect(
        "alice",
        Disconnect::new(4001, "bye"),
        None,
        &[client_id(&a)],
    )
    .await
    .expect("disconnect");
    b.disconnect("alice", Disconnect::new(4002, "bye"), None, &[])
        .await
        .expect("disconnect");
    assert_eq!(client.closed_with().await, (4002, "bye".to_owned()));

    // A node that shuts down is forgotten at once, not after expiry.
    b.shutdown(Duration::from_secs(1)).await;
    eventually("B forgotten", || a.nodes().len() == 1).await;
}

fn client_id(node: &Node) -> String {
    node.connections(None)
        .into_keys()
        .next()
        .expect("a connection")
}
