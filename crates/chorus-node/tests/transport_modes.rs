//! Emulated and unidirectional transport modes of the engine (spec §1.3, §1.4,
//! §3.3), over an in-memory transport with paused time: bare pushes, the connect
//! push, empty-push pings without pong, recovery from `subs`, disconnect pushes,
//! connect errors mapped to disconnect codes, and shared encodings.

use bytes::Bytes;
use chorus_node::{
    ApiPublish, ClientConfig, ClientError, ConnectGrant, Disconnect, FrameIo, HandlerError, Node,
    NodeConfig, ServerSubscription, TransportError, TransportInfo,
};
use chorus_protocol::{ConnectRequest, Protocol, Push, Reply, SubscribeRequest};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Debug)]
enum Out {
    Frame(Bytes),
    Closed(u32),
}

struct MemIo {
    inbound: mpsc::UnboundedReceiver<Bytes>,
    outbound: mpsc::UnboundedSender<Out>,
}

impl FrameIo for MemIo {
    async fn read_frame(&mut self) -> Option<Result<Bytes, TransportError>> {
        self.inbound.recv().await.map(Ok)
    }

    async fn write_frames(&mut self, frames: &[Bytes]) -> Result<(), TransportError> {
        for f in frames {
            let _ = self.outbound.send(Out::Frame(f.clone()));
        }
        Ok(())
    }

    async fn close(&mut self, disconnect: &Disconnect) {
        let _ = self.outbound.send(Out::Closed(disconnect.code));
    }
}

struct Peer {
    to_server: mpsc::UnboundedSender<Bytes>,
    from_server: mpsc::UnboundedReceiver<Out>,
}

impl Peer {
    async fn frame(&mut self) -> Bytes {
        match self.from_server.recv().await.expect("engine ended") {
            Out::Frame(b) => b,
            Out::Closed(code) => panic!("closed with {code}, expected a frame"),
        }
    }

    async fn push(&mut self) -> Push {
        let frame = self.frame().await;
        let mut pushes = chorus_protocol::decode_pushes(Protocol::Json, &frame).unwrap();
        assert_eq!(pushes.len(), 1);
        pushes.remove(0)
    }

    async fn reply(&mut self) -> Reply {
        let frame = self.frame().await;
        chorus_protocol::decode_replies(Protocol::Json, &frame)
            .unwrap()
            .remove(0)
    }

    async fn closed(&mut self) -> u32 {
        match self.from_server.recv().await.expect("engine ended") {
            Out::Closed(code) => code,
            Out::Frame(f) => panic!("expected close, got {f:?}"),
        }
    }
}

fn node(client: ClientConfig) -> Node {
    let mut config = NodeConfig::default();
    config.client = client;
    let mut opts = chorus_node::ChannelOptions::default();
    opts.allow_subscribe_for_client = true;
    opts.history_size = 10;
    opts.history_ttl = Duration::from_secs(300);
    opts.force_recovery = true;
    config.channels.without_namespace = Arc::new(opts);
    Node::builder(config)
        .on_connecting(|e| async move {
            let error = match e.name.as_str() {
                "expired" => Some(ClientError::TokenExpired),
                "limited" => Some(ClientError::TooManyRequests),
                "denied" => Some(ClientError::PermissionDenied),
                "broken" => Some(ClientError::Internal),
                _ => None,
            };
            if let Some(error) = error {
                return Err(HandlerError::Error(error));
            }
            let mut grant = ConnectGrant::user("u");
            grant
                .subs
                .insert("news".to_owned(), ServerSubscription::default());
            Ok(grant)
        })
        .build()
}

fn open(node: &Node, transport: TransportInfo) -> Peer {
    let (to_server, inbound) = mpsc::unbounded_channel();
    let (outbound, from_server) = mpsc::unbounded_channel();
    node.serve(transport, MemIo { inbound, outbound });
    Peer {
        to_server,
        from_server,
    }
}

fn uni(node: &Node, req: ConnectRequest) -> Peer {
    open(
        node,
        TransportInfo::unidirectional("uni_test", Protocol::Json, req),
    )
}

async fn publish(node: &Node, channel: &str, data: &str) {
    node.publish(channel, Bytes::from(data.to_owned()), ApiPublish::default())
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn uni_sends_connect_push_then_bare_publications() {
    let node = node(ClientConfig::default());
    let mut peer = uni(&node, ConnectRequest::default());
    let frame = peer.frame().await;
    assert!(frame.starts_with(b"{\"connect\":{"), "{frame:?}");
    let connect = chorus_protocol::decode_pushes(Protocol::Json, &frame)
        .unwrap()
        .remove(0)
        .connect
        .expect("connect push");
    assert!(!connect.client.is_empty());
    assert!(!connect.pong, "uni clients are not asked for pongs");
    assert_eq!(connect.ping, 25);
    assert!(connect.subs.contains_key("news"));

    publish(&node, "news", r#"{"n":1}"#).await;
    let frame = peer.frame().await;
    assert!(
        frame.starts_with(b"{\"channel\":\"news\",\"pub\":"),
        "{frame:?}"
    );
    // Inbound frames are ignored on unidirectional transports.
    peer.to_server.send(Bytes::from_static(b"garbage")).unwrap();
    publish(&node, "news", r#"{"n":2}"#).await;
    let p = peer.push().await;
    assert_eq!(&p.r#pub.unwrap().data[..], br#"{"n":2}"#);
}

#[tokio::test(start_paused = true)]
async fn uni_pings_are_empty_pushes_and_need_no_pong() {
    let node = node(ClientConfig::default());
    let mut peer = uni(&node, ConnectRequest::default());
    let _connect = peer.push().await;
    // Two pings, more than a pong timeout (8 s) apart, and no 3012 in between.
    for _ in 0..2 {
        let frame = peer.frame().await;
        assert_eq!(&frame[..], b"{}");
    }
    assert!(peer.from_server.try_recv().is_err());
}

#[tokio::test(start_paused = true)]
async fn uni_recovers_from_subs_positions() {
    let node = node(ClientConfig::default());
    let mut first = uni(&node, ConnectRequest::default());
    let sub = first.push().await.connect.unwrap().subs["news"].clone();
    for n in 1..=3 {
        publish(&node, "news", &format!(r#"{{"n":{n}}}"#)).await;
    }
    let mut req = ConnectRequest::default();
    req.subs.insert(
        "news".to_owned(),
        SubscribeRequest {
            recover: true,
            offset: sub.offset + 1,
            epoch: sub.epoch.clone(),
            ..SubscribeRequest::default()
        },
    );
    let mut second = uni(&node, req);
    let result = second.push().await.connect.unwrap().subs["news"].clone();
    assert!(result.recovered);
    let data: Vec<_> = result.publications.iter().map(|p| p.data.clone()).collect();
    assert_eq!(
        data,
        vec![Bytes::from(r#"{"n":2}"#), Bytes::from(r#"{"n":3}"#)]
    );
}

#[tokio::test(start_paused = true)]
async fn uni_connect_errors_become_disconnect_pushes() {
    for (name, code) in [
        ("expired", 3005),
        ("limited", 3013),
        ("denied", 3507),
        ("broken", 3004),
    ] {
        let node = node(ClientConfig::default());
        let req = ConnectRequest {
            name: name.into(),
            ..ConnectRequest::default()
        };
        let mut peer = uni(&node, req);
        let disconnect = peer.push().await.disconnect.expect("disconnect push");
        assert_eq!(disconnect.code, code, "{name}");
        assert_eq!(peer.closed().await, code);
    }
    assert_eq!(chorus_node::uni_connect_error_disconnect(110).code, 3005);
}

#[tokio::test(start_paused = true)]
async fn uni_disconnect_is_a_bare_push_before_close() {
    let node = node(ClientConfig::default());
    let mut peer = uni(&node, ConnectRequest::default());
    let _ = peer.push().await;
    node.disconnect("u", Disconnect::FORCE_NO_RECONNECT, None, &[])
        .await
        .expect("api call");
    let frame = peer.frame().await;
    assert!(
        frame.starts_with(b"{\"disconnect\":{\"code\":3503"),
        "{frame:?}"
    );
    assert_eq!(peer.closed().await, 3503);
}

#[tokio::test(start_paused = true)]
async fn without_disconnect_push_only_closes() {
    let node = node(ClientConfig::default());
    let transport =
        TransportInfo::unidirectional("uni_test", Protocol::Json, ConnectRequest::default())
            .without_disconnect_push();
    let mut peer = open(&node, transport);
    let _ = peer.push().await;
    node.disconnect("u", Disconnect::FORCE_NO_RECONNECT, None, &[])
        .await
        .expect("api call");
    assert_eq!(peer.closed().await, 3503);
}

#[tokio::test(start_paused = true)]
async fn emulated_session_reports_session_and_node_and_pushes_disconnect() {
    let node = node(ClientConfig::default());
    let mut peer = open(
        &node,
        TransportInfo::new("http_stream", Protocol::Json).with_session("s-1"),
    );
    let mut enc = chorus_protocol::FrameEncoder::new(Protocol::Json);
    enc.append(&chorus_protocol::Command {
        id: 1,
        connect: Some(ConnectRequest::default()),
        ..Default::default()
    })
    .unwrap();
    peer.to_server.send(enc.finish()).unwrap();
    let connect = peer.reply().await.connect.expect("connect reply");
    assert_eq!(connect.session, "s-1");
    assert_eq!(
        connect.node,
        node.info().uid,
        "the node's unique id routes emulation"
    );
    assert!(connect.pong);
    node.disconnect("u", Disconnect::FORCE_NO_RECONNECT, None, &[])
        .await
        .expect("api call");
    let push = peer.reply().await.push.expect("reply-wrapped push");
    assert_eq!(push.disconnect.unwrap().code, 3503);
    assert_eq!(peer.closed().await, 3503);
}

#[tokio::test(start_paused = true)]
async fn bidirectional_connect_has_no_session_and_closes_without_push() {
    let node = node(ClientConfig::default());
    let mut peer = open(&node, TransportInfo::new("websocket", Protocol::Json));
    let mut enc = chorus_protocol::FrameEncoder::new(Protocol::Json);
    enc.append(&chorus_protocol::Command {
        id: 1,
        connect: Some(ConnectRequest::default()),
        ..Default::default()
    })
    .unwrap();
    peer.to_server.send(enc.finish()).unwrap();
    let connect = peer.reply().await.connect.unwrap();
    assert!(connect.session.is_empty() && connect.node.is_empty());
    node.disconnect("u", Disconnect::FORCE_NO_RECONNECT, None, &[])
        .await
        .expect("api call");
    assert_eq!(peer.closed().await, 3503);
}

#[tokio::test(start_paused = true)]
async fn publications_are_encoded_once_per_direction() {
    let node = node(ClientConfig::default());
    let mut a = uni(&node, ConnectRequest::default());
    let mut b = uni(&node, ConnectRequest::default());
    let _ = (a.push().await, b.push().await);
    publish(&node, "news", r#"{"x":1}"#).await;
    let (fa, fb) = (a.frame().await, b.frame().await);
    assert_eq!(fa, fb);
    assert_eq!(fa.as_ptr(), fb.as_ptr(), "one shared encoding");
}
