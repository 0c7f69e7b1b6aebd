//! Running a connection: the one task that reads frames, drains the outbound queue,
//! fires timers and applies control messages, over any [`FrameIo`].

use crate::client::{Client, TransportInfo};
use crate::error::Disconnect;
use crate::node::Node;
use crate::outbound::Drained;
use bytes::Bytes;
use std::future::Future;

/// A transport failure (the connection is gone).
#[derive(Debug, thiserror::Error)]
#[error("transport error: {0}")]
pub struct TransportError(pub String);

/// How a transport moves frames. One implementation per transport (WebSocket,
/// HTTP-streaming, SSE…); the engine drives it.
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
            io.close(&Disconnect::SHUTDOWN).await;
            return;
        }
        let mut client = Client::new(self, transport);
        let shared = client.shared();
        let outbound = &shared.outbound;
        let sleep = tokio::time::sleep(std::time::Duration::from_secs(3600));
        tokio::pin!(sleep);
        let end = loop {
            if let Some(at) = client.next_deadline()
                && sleep.deadline() != at
            {
                sleep.as_mut().reset(at);
            }
            tokio::select! {
                biased;
                () = outbound.ready() => {
                    match outbound.drain() {
                        Drained::Write(frames) => {
                            let bytes = frames.iter().map(Bytes::len).sum();
                            let written = io.write_frames(&frames).await;
                            outbound.release(bytes);
                            if written.is_err() {
                                break Disconnect::WRITE_ERROR;
                            }
                        }
                        Drained::Close(frames, disconnect) => {
                            let _ = io.write_frames(&frames).await;
                            io.close(&disconnect).await;
                            break disconnect;
                        }
                    }
                }
                frame = io.read_frame() => match frame {
                    Some(Ok(frame)) => {
                        // Boxed: the command state machines are large and only live
                        // while a frame is handled; idle connections stay small.
                        if let Err(d) = Box::pin(client.handle_frame(&frame)).await {
                            client.close(d);
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
        Box::pin(client.finish(end)).await;
    }
}
