//! The connection task: one task per session reads, writes and pings.
//!
//! A single task (instead of Melody's reader + writer pair) keeps each idle
//! connection small. It is safe because handlers are synchronous and writes from
//! other tasks only touch the session's queue; the socket is owned by this task.

use crate::error::SessionError;
use crate::hub::Hub;
use crate::message::{CloseFrame, Outgoing, Text};
use crate::queue::{Closing, Drained};
use crate::{CloseCode, Session};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};

/// 1006: the connection ended without a close frame (never sent on the wire).
const ABNORMAL: CloseCode = CloseCode(1006);
/// 1005: a close frame arrived without a status code.
const NO_STATUS: CloseCode = CloseCode(1005);

fn forced() -> CloseFrame {
    CloseFrame::new(CloseCode::GOING_AWAY, "hub shutdown deadline")
}

/// How the loop ended.
enum End {
    /// We close: send this frame, then wait briefly for the peer's reply.
    Close(CloseFrame),
    /// The peer closed (its frame); tungstenite has queued our reply.
    PeerClosed(CloseFrame),
    /// The transport is gone, or the hub forced a stop.
    Dropped(CloseFrame),
}

pub(crate) async fn run<S>(hub: Hub, session: Session, mut ws: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = &hub.shared;
    if !shared.register(&session) {
        // The hub closed while this connection was upgrading.
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, "hub closed");
        session.inner.outbound.close(Closing::Now(frame.clone()));
        finish(&hub, &session, &mut ws, End::Close(frame)).await;
        return;
    }
    if let Some(h) = &shared.handlers.connect {
        h(&session);
    }
    // A forced stop (shutdown deadline) interrupts whatever the session is doing,
    // including a write stuck on a peer that stopped reading.
    let end = tokio::select! {
        biased;
        () = shared.force_stop.cancelled() => End::Dropped(forced()),
        end = serve(&hub, &session, &mut ws) => end,
    };
    finish(&hub, &session, &mut ws, end).await;
}

async fn serve<S>(hub: &Hub, session: &Session, ws: &mut WebSocketStream<S>) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = &hub.shared;
    let config = &shared.config;
    let handlers = &shared.handlers;
    let mut ping =
        tokio::time::interval_at(Instant::now() + config.ping_period, config.ping_period);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let idle = tokio::time::sleep(config.pong_wait);
    tokio::pin!(idle);

    loop {
        tokio::select! {
            biased;
            () = session.inner.outbound.ready() => {
                match session.inner.outbound.drain() {
                    Drained::Batch(batch) => {
                        if let Err(err) = write_batch(hub, session, ws, batch).await {
                            return fail(hub, session, err);
                        }
                    }
                    Drained::Close(batch, frame) => {
                        if frame.code == CloseCode::SLOW_CONSUMER {
                            hub.report_error(session, &SessionError::SlowConsumer { limit: config.max_queued_bytes });
                        }
                        if let Err(err) = write_batch(hub, session, ws, batch).await {
                            return fail(hub, session, err);
                        }
                        return End::Close(frame);
                    }
                }
            }
            msg = ws.next() => {
                idle.as_mut().reset(Instant::now() + config.pong_wait);
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        shared.stats.record_received();
                        if let Some(h) = &handlers.message {
                            h(session, Text::from_inner(text));
                        }
                    }
                    Some(Ok(Message::Binary(data))) => {
                        shared.stats.record_received();
                        if let Some(h) = &handlers.message_binary {
                            h(session, data);
                        }
                    }
                    Some(Ok(Message::Ping(_))) => {
                        // tungstenite queued the pong; push it out now.
                        if let Err(err) = timed(config.write_timeout, ws.flush()).await {
                            return fail(hub, session, err);
                        }
                    }
                    Some(Ok(Message::Pong(_))) => {
                        if let Some(h) = &handlers.pong {
                            h(session);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let frame = frame.map_or_else(
                            || CloseFrame::new(NO_STATUS, ""),
                            |f| CloseFrame::new(u16::from(f.code), f.reason.as_str()),
                        );
                        if let Some(h) = &handlers.close {
                            h(session, &frame);
                        }
                        return End::PeerClosed(frame);
                    }
                    Some(Ok(Message::Frame(_))) => {}
                    Some(Err(err)) => return read_failed(hub, session, err),
                    None => return End::Dropped(CloseFrame::new(ABNORMAL, "connection dropped")),
                }
            }
            _ = ping.tick() => {
                let sent = timed(config.write_timeout, ws.send(Message::Ping(Default::default()))).await;
                if let Err(err) = sent {
                    return fail(hub, session, err);
                }
            }
            () = &mut idle => {
                return fail(hub, session, SessionError::PongTimeout(config.pong_wait));
            }
        }
    }
}

/// Writes a batch with one flush, within the write timeout, and runs the sent handlers.
async fn write_batch<S>(
    hub: &Hub,
    session: &Session,
    ws: &mut WebSocketStream<S>,
    batch: VecDeque<Outgoing>,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if batch.is_empty() {
        return Ok(());
    }
    let shared = &hub.shared;
    let bytes: usize = batch.iter().map(Outgoing::len).sum();
    let result = timed(shared.config.write_timeout, async {
        for msg in &batch {
            ws.feed(msg.to_ws()).await?;
        }
        ws.flush().await
    })
    .await;
    session.inner.outbound.release(bytes);
    result?;
    shared.stats.record_sent(batch.len() as u64);
    let handlers = &shared.handlers;
    if handlers.sent_message.is_some() || handlers.sent_message_binary.is_some() {
        for msg in &batch {
            match msg {
                Outgoing::Text(t) => {
                    if let Some(h) = &handlers.sent_message {
                        h(session, t);
                    }
                }
                Outgoing::Binary(b) => {
                    if let Some(h) = &handlers.sent_message_binary {
                        h(session, b);
                    }
                }
            }
        }
    }
    Ok(())
}

async fn timed<T>(
    limit: std::time::Duration,
    fut: impl Future<Output = Result<T, WsError>>,
) -> Result<T, SessionError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SessionError::Transport(e.to_string())),
        Err(_) => Err(SessionError::WriteTimeout(limit)),
    }
}

fn fail(hub: &Hub, session: &Session, err: SessionError) -> End {
    hub.report_error(session, &err);
    match err {
        SessionError::PongTimeout(_) => End::Close(CloseFrame::new(CloseCode::POLICY, "no pong")),
        SessionError::WriteTimeout(_) => {
            End::Dropped(CloseFrame::new(CloseCode::INTERNAL_ERROR, "write timeout"))
        }
        _ => End::Dropped(CloseFrame::new(ABNORMAL, "transport error")),
    }
}

fn read_failed(hub: &Hub, session: &Session, err: WsError) -> End {
    let (error, frame) = match err {
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            return End::Dropped(CloseFrame::new(ABNORMAL, "connection dropped"));
        }
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            let limit = hub.config().max_message_size;
            (
                SessionError::MessageTooLarge { limit },
                CloseFrame::new(CloseCode::MESSAGE_TOO_BIG, "message too big"),
            )
        }
        WsError::Utf8(_) => (
            SessionError::InvalidUtf8,
            CloseFrame::new(CloseCode::INVALID_PAYLOAD, "invalid utf-8"),
        ),
        WsError::Protocol(p) => (
            SessionError::Protocol(p.to_string()),
            CloseFrame::new(CloseCode::PROTOCOL_ERROR, "protocol error"),
        ),
        other => {
            hub.report_error(session, &SessionError::Transport(other.to_string()));
            return End::Dropped(CloseFrame::new(ABNORMAL, "transport error"));
        }
    };
    hub.report_error(session, &error);
    End::Close(frame)
}

/// Ends the session: closing handshake (bounded by `close_timeout`), leave the hub
/// and rooms, then the disconnect handler — exactly once.
async fn finish<S>(hub: &Hub, session: &Session, ws: &mut WebSocketStream<S>, end: End)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = &hub.shared;
    let timeout = shared.config.close_timeout;
    let frame = match end {
        End::Close(frame) => {
            session.inner.outbound.close(Closing::Now(frame.clone()));
            let handshake = async {
                ws.send(frame.to_ws()).await?;
                // Wait for the peer's close reply (or the end of the stream).
                while let Some(msg) = ws.next().await {
                    if matches!(msg?, Message::Close(_)) {
                        break;
                    }
                }
                Ok::<_, WsError>(())
            };
            tokio::select! {
                _ = tokio::time::timeout(timeout, handshake) => frame,
                () = shared.force_stop.cancelled() => frame,
            }
        }
        End::PeerClosed(frame) => {
            session.inner.outbound.close(Closing::Now(frame.clone()));
            // Sends tungstenite's queued close reply.
            tokio::select! {
                _ = tokio::time::timeout(timeout, ws.flush()) => frame,
                () = shared.force_stop.cancelled() => frame,
            }
        }
        End::Dropped(frame) => {
            session.inner.outbound.close(Closing::Now(frame.clone()));
            frame
        }
    };
    shared.unregister(session);
    if let Some(h) = &shared.handlers.disconnect {
        h(session, &frame);
    }
}

#[cfg(test)]
mod tests {
    //! The connection loop over an in-memory duplex with paused time: timers are
    //! exercised deterministically, without sockets or sleeps.
    use super::*;
    use crate::Config;
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::protocol::Role;

    async fn pair(
        config: Config,
    ) -> (
        Hub,
        WebSocketStream<tokio::io::DuplexStream>,
        tokio::task::JoinHandle<()>,
    ) {
        let hub = crate::Hub::builder().config(config).build();
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let session = crate::session::test_session(&hub);
        let task = tokio::spawn(run(hub.clone(), session, server));
        (hub, client, task)
    }

    #[tokio::test(start_paused = true)]
    async fn pings_on_schedule_and_closes_silent_peer_after_pong_wait() {
        let config = Config::default()
            .ping_period(Duration::from_secs(54))
            .pong_wait(Duration::from_secs(60));
        let (hub, mut client, task) = pair(config).await;
        let start = Instant::now();
        // The client reads (so it sees the ping) but its pong never reaches the server:
        // reading auto-queues a pong that is only flushed on the next write, which never comes.
        match client.next().await {
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("expected ping, got {other:?}"),
        }
        assert_eq!(start.elapsed().as_secs(), 54);
        task.await.unwrap();
        assert_eq!(
            start.elapsed().as_secs(),
            61,
            "closed at pong_wait, plus the close timeout"
        );
        assert_eq!(hub.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn activity_postpones_the_idle_deadline() {
        let config = Config::default()
            .ping_period(Duration::from_secs(54))
            .pong_wait(Duration::from_secs(60));
        let (hub, mut client, task) = pair(config).await;
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_secs(50)).await;
            client.send(Message::text("still here")).await.unwrap();
        }
        // 150 s in: alive, although pong_wait is 60 s.
        tokio::task::yield_now().await;
        assert_eq!(hub.len(), 1);
        drop(client);
        task.await.unwrap();
        assert_eq!(hub.len(), 0);
    }
}

#[cfg(test)]
mod footprint {
    //! Every idle connection holds its task's future; keep it small.
    use super::*;

    #[tokio::test]
    async fn connection_future_and_session_stay_small() {
        let hub = crate::Hub::default();
        let (io, _peer) = tokio::io::duplex(64);
        let role = tokio_tungstenite::tungstenite::protocol::Role::Server;
        let ws = WebSocketStream::from_raw_socket(io, role, None).await;
        let session = crate::session::test_session(&hub);
        let fut = run(hub.clone(), session, ws);
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 2048, "connection future grew to {size} bytes");
        let inner = std::mem::size_of::<crate::session::SessionInner>();
        assert!(inner <= 640, "session grew to {inner} bytes");
    }
}
