//! Running a connection: the one task that reads frames, drains the outbound queue,
//! fires timers and applies control messages, over any [`FrameIo`].

use crate::client::{Client, TransportInfo};
use crate::error::Disconnect;
use crate::node::Node;
use crate::queue::Batch;
use bytes::Bytes;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;

/// A transport failure (the connection is gone).
#[derive(Debug, thiserror::Error)]
#[error("transport error: {0}")]
pub struct TransportError(pub String);

/// How a transport moves frames. One implementation per transport (WebSocket,
/// HTTP-streaming, SSE…); the engine drives it.
///
/// On transports that push disconnects ([`TransportInfo::disconnect_push`]) the
/// engine writes the disconnect push with the last batch, before `close`; `close`
/// then only has to end the stream.
pub trait FrameIo: Send {
    /// The next inbound frame (a WebSocket message, an emulation POST body…);
    /// `None` when the peer closed. Must be cancel-safe: the engine drops the future
    /// when something else becomes ready.
    fn read_frame(&mut self) -> impl Future<Output = Option<Result<Bytes, TransportError>>> + Send;
    /// Writes encoded messages, in order, as one batch.
    fn write_frames(
        &mut self,
        frames: &[Bytes],
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
    /// Closes the connection with a disconnect (close frame, or disconnect push).
    fn close(&mut self, disconnect: &Disconnect) -> impl Future<Output = ()> + Send;
}

impl Node {
    /// Serves one connection until it ends. Spawn it; the node tracks it for
    /// graceful shutdown.
    pub fn serve<T: FrameIo + 'static>(&self, transport: TransportInfo, io: T) {
        let node = self.clone();
        self.inner
            .tracker
            .spawn(async move { node.drive(transport, io).await });
    }

    /// Serves one connection on the current task until it ends (tracked for
    /// graceful shutdown).
    pub async fn run_connection<T: FrameIo>(&self, transport: TransportInfo, io: T) {
        self.inner
            .tracker
            .track_future(self.drive(transport, io))
            .await;
    }

    async fn drive<T: FrameIo>(&self, transport: TransportInfo, mut io: T) {
        if self.is_shutting_down() {
            let push = crate::client::disconnect_frame(
                transport.protocol,
                transport.is_unidirectional(),
                transport.disconnect_push,
                &Disconnect::SHUTDOWN,
            );
            if let Some(frame) = push {
                let _ = io.write_frames(&[frame]).await;
            }
            io.close(&Disconnect::SHUTDOWN).await;
            return;
        }
        // Looked up once per connection; then plain atomic adds per message.
        let counts = self.inner.metrics.transport(transport.name);
        counts.connects.fetch_add(1, Relaxed);
        let mut client = Client::new(self, transport);
        // Unidirectional transports bring their connect request along.
        if let Err(d) = Box::pin(client.connect_unidirectional()).await {
            client.close(d);
        }
        let shared = client.shared();
        let outbound = &shared.outbound;
        // Fixed for the connection: how a disconnect is framed, so the outbound
        // queue can be flushed (and closed) while a command holds the client.
        let (protocol, unidirectional, push_disconnects) = (
            client.protocol(),
            client.is_unidirectional(),
            client.disconnect_push,
        );
        let writer = Writer {
            node: self,
            outbound,
            counts: &counts,
            frame_disconnect: &|d: &Disconnect| {
                crate::client::disconnect_frame(protocol, unidirectional, push_disconnects, d)
            },
        };
        let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
        tokio::pin!(sleep);
        let end = 'connection: loop {
            if let Some(at) = client.next_deadline()
                && sleep.deadline() != at
            {
                sleep.as_mut().reset(at);
            }
            tokio::select! {
                biased;
                () = outbound.ready() => {
                    if let Some(end) = writer.flush(&mut io).await {
                        break end;
                    }
                }
                frame = io.read_frame() => match frame {
                    Some(Ok(frame)) => {
                        counts.messages_received.fetch_add(1, Relaxed);
                        counts.bytes_received.fetch_add(frame.len() as u64, Relaxed);
                        let mut inbound = Inbound::default();
                        inbound.frames.push_back(frame);
                        // Frames are handled in order; those that arrive while one
                        // waits (on a hook, say) queue up behind it.
                        while let Some(frame) = inbound.frames.pop_front() {
                            // Boxed: the command state machines are large and only
                            // live while a frame is handled; idle connections stay small.
                            let handling = Box::pin(client.handle_frame(&frame));
                            match writer.while_pending(&mut io, handling, &mut inbound).await {
                                Pending::Done(Ok(())) => {}
                                Pending::Done(Err(d)) => client.close(d),
                                Pending::Ended(end) => break 'connection end,
                            }
                        }
                        if inbound.peer_gone {
                            break Disconnect::CONNECTION_CLOSED;
                        }
                    }
                    Some(Err(_)) | None => break Disconnect::CONNECTION_CLOSED,
                },
                control = shared.control.recv() => {
                    if let Err(d) = Box::pin(client.handle_control(control)).await {
                        client.close(d);
                    }
                }
                () = &mut sleep, if client.next_deadline().is_some() => {
                    if let Err(d) = Box::pin(client.on_timer()).await {
                        client.close(d);
                    }
                }
            }
        };
        let end = if end == Disconnect::WRITE_ERROR {
            // A peer that stopped reading overflows its queue while a write is
            // stuck, then the write fails: the client was closed (and logged) as
            // slow, 3008, and ends, and is counted, as such.
            let end = outbound
                .closing()
                .filter(|d| d.code == Disconnect::SLOW.code)
                .unwrap_or(end);
            self.inner.metrics.server_disconnect(end.code, &end.reason);
            end
        } else {
            end
        };
        Box::pin(client.finish(end)).await;
    }
}

/// Frames read while a command was pending, beyond which reading pauses (the
/// transport's own flow control then holds the peer back).
const MAX_QUEUED_FRAMES: usize = 64;

/// Frames read ahead while a command was pending.
#[derive(Default)]
struct Inbound {
    frames: std::collections::VecDeque<Bytes>,
    /// The peer closed (or the transport failed) meanwhile.
    peer_gone: bool,
}

/// The outcome of a command handled while the outbound queue kept flowing.
enum Pending<R> {
    /// The command finished.
    Done(R),
    /// The connection ended meanwhile (write error, or a queued close).
    Ended(Disconnect),
}

/// Writes the outbound queue of one connection to its transport.
struct Writer<'a, F: Fn(&Disconnect) -> Option<Bytes>> {
    node: &'a Node,
    outbound: &'a crate::queue::ClientQueue,
    counts: &'a crate::metrics::TransportCounts,
    frame_disconnect: &'a F,
}

impl<F: Fn(&Disconnect) -> Option<Bytes>> Writer<'_, F> {
    /// Writes what is queued; `Some` when the connection must end.
    async fn flush<T: FrameIo>(&self, io: &mut T) -> Option<Disconnect> {
        match self.outbound.drain() {
            Batch::Write(frames) => {
                let bytes = frames.iter().map(Bytes::len).sum();
                self.counts
                    .messages_sent
                    .fetch_add(frames.len() as u64, Relaxed);
                self.counts.bytes_sent.fetch_add(bytes as u64, Relaxed);
                let written = io.write_frames(&frames).await;
                self.outbound.release(bytes);
                written.is_err().then_some(Disconnect::WRITE_ERROR)
            }
            Batch::Close(mut frames, disconnect) => {
                // Counted before the peer can see the close.
                self.node
                    .inner
                    .metrics
                    .server_disconnect(disconnect.code, &disconnect.reason);
                // Emulated and unidirectional transports get the disconnect as a
                // push at the end of the stream.
                frames.extend((self.frame_disconnect)(&disconnect));
                let _ = io.write_frames(&frames).await;
                io.close(&disconnect).await;
                Some(disconnect)
            }
        }
    }

    /// Drives a command (which may wait on an application backend) while the
    /// connection stays serviced: publications and replies already queued keep
    /// being written, and the peer keeps being read — its next frames queue in
    /// `inbound` (bounded) and a peer that goes away is noticed. The command is
    /// never cancelled half-way (that could leave a subscription half set up); a
    /// slow hook delays only its own reply.
    async fn while_pending<T: FrameIo, R>(
        &self,
        io: &mut T,
        command: impl Future<Output = R>,
        inbound: &mut Inbound,
    ) -> Pending<R> {
        tokio::pin!(command);
        loop {
            let can_read = !inbound.peer_gone && inbound.frames.len() < MAX_QUEUED_FRAMES;
            tokio::select! {
                biased;
                result = &mut command => return Pending::Done(result),
                () = self.outbound.ready() => {
                    if let Some(end) = self.flush(io).await {
                        return Pending::Ended(end);
                    }
                }
                frame = io.read_frame(), if can_read => match frame {
                    Some(Ok(frame)) => {
                        self.counts.messages_received.fetch_add(1, Relaxed);
                        self.counts
                            .bytes_received
                            .fetch_add(frame.len() as u64, Relaxed);
                        inbound.frames.push_back(frame);
                    }
                    Some(Err(_)) | None => inbound.peer_gone = true,
                },
            }
        }
    }
}
