//! The servers under test.

use crate::Impl;
use chorus_hub::{Config, Hub, OriginPolicy};
use futures_util::{SinkExt, StreamExt};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

pub(crate) async fn serve(which: Impl, addr: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("LISTENING {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    match which {
        Impl::Hub => serve_hub(listener).await,
        Impl::Baseline => serve_baseline(listener).await,
        Impl::Chorus | Impl::ChorusRedis | Impl::ChorusNats => {
            anyhow::bail!("chorus runs as its own binary, not through `serve`")
        }
    }
}

/// The hub: every received text message is broadcast to every session.
async fn serve_hub(listener: TcpListener) -> anyhow::Result<()> {
    let hub = Hub::builder()
        .config(Config::default().allowed_origins(OriginPolicy::Any))
        .on_message(|s, text| {
            s.hub().broadcast(text);
        })
        .build();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let hub = hub.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let res = hub.handle_request(req);
                async move { Ok::<_, Infallible>(res) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

/// The baseline: what a hand-written tokio-tungstenite broadcast server looks like.
async fn serve_baseline(listener: TcpListener) -> anyhow::Result<()> {
    let (tx, _) = broadcast::channel::<Message>(1024);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(baseline_conn(stream, tx.clone()));
    }
}

async fn baseline_conn(stream: TcpStream, tx: broadcast::Sender<Message>) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let mut rx = tx.subscribe();
    loop {
        tokio::select! {
            msg = source.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let _ = tx.send(Message::Text(t));
                }
                Some(Ok(_)) => {}
                _ => return,
            },
            out = rx.recv() => match out {
                Ok(m) => {
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}
