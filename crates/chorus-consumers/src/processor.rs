//! One message through the dispatcher: decode, dispatch, count, and decide
//! whether the source may forget it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::dispatch::{DispatchError, Dispatcher};
use crate::message::Command;
use crate::metrics::ConsumerMetrics;

/// The shared part of every consumer: its dispatcher and its counters.
#[derive(Clone)]
pub struct Processor {
    dispatcher: Arc<dyn Dispatcher>,
    metrics: Arc<ConsumerMetrics>,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("consumer", &self.metrics.name())
            .finish_non_exhaustive()
    }
}

/// The consumer was asked to stop while a message was still being retried;
/// the message stays in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("consumer stopped before the message was processed")]
pub struct Stopped;

impl Processor {
    /// A processor dispatching to `dispatcher` and counting into `metrics`.
    pub fn new(dispatcher: Arc<dyn Dispatcher>, metrics: Arc<ConsumerMetrics>) -> Self {
        Self {
            dispatcher,
            metrics,
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<ConsumerMetrics> {
        &self.metrics
    }

    /// Processes one message once. `Ok` means the source may forget it:
    /// dispatched, refused with a final API error, malformed, or with a method
    /// a consumer does not run (the last three logged and counted as errors).
    ///
    /// # Errors
    /// The retryable (internal) error: the message must stay in the source
    /// and nothing after it in the same partition may go first.
    pub async fn process(&self, method: &str, payload: &[u8]) -> Result<(), DispatchError> {
        let name = self.metrics.name();
        let command = match Command::with_method(method, payload) {
            Ok(command) => command,
            Err(e) => {
                tracing::warn!(consumer = name, error = %e, "skipping consumed message");
                self.metrics.add_error();
                self.metrics.add_processed(1);
                return Ok(());
            }
        };
        match self
            .dispatcher
            .dispatch(&command.method, &command.payload)
            .await
        {
            Ok(()) => {
                self.metrics.add_processed(1);
                Ok(())
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(consumer = name, method = %command.method, error = %e, "consumed command failed, will retry");
                self.metrics.add_error();
                Err(e)
            }
            Err(e) => {
                tracing::warn!(consumer = name, method = %command.method, error = %e, "consumed command refused, skipping it");
                self.metrics.add_error();
                self.metrics.add_processed(1);
                Ok(())
            }
        }
    }

    /// [`Processor::process`] again and again, with back-off, until the
    /// message is processed: for sources that deliver one message at a time
    /// and must not move past it.
    ///
    /// # Errors
    /// [`Stopped`] when `stop` is cancelled first.
    pub async fn process_until_done(
        &self,
        method: &str,
        payload: &[u8],
        stop: &CancellationToken,
    ) -> Result<(), Stopped> {
        let mut backoff = Backoff::new();
        loop {
            if stop.is_cancelled() {
                return Err(Stopped);
            }
            match self.process(method, payload).await {
                Ok(()) => return Ok(()),
                Err(_) => {
                    tokio::select! {
                        () = stop.cancelled() => return Err(Stopped),
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;

    /// Answers each call with the next scripted result (then `Ok`), and
    /// records what it was given.
    #[derive(Default)]
    struct Scripted {
        results: Mutex<Vec<Result<(), DispatchError>>>,
        calls: Mutex<Vec<(String, String)>>,
    }

    #[async_trait]
    impl Dispatcher for Scripted {
        async fn dispatch(&self, method: &str, payload: &str) -> Result<(), DispatchError> {
            self.calls
                .lock()
                .unwrap()
                .push((method.to_owned(), payload.to_owned()));
            let mut results = self.results.lock().unwrap();
            if results.is_empty() {
                Ok(())
            } else {
                results.remove(0)
            }
        }
    }

    fn processor(results: Vec<Result<(), DispatchError>>) -> (Processor, Arc<Scripted>) {
        let dispatcher = Arc::new(Scripted {
            results: Mutex::new(results),
            ..Scripted::default()
        });
        let metrics = Arc::new(ConsumerMetrics::new("test"));
        (Processor::new(dispatcher.clone(), metrics), dispatcher)
    }

    #[tokio::test]
    async fn success_counts_as_processed() {
        let (p, d) = processor(vec![]);
        p.process("publish", br#"{"channel":"a","data":1}"#)
            .await
            .unwrap();
        assert_eq!(p.metrics().processed(), 1);
        assert_eq!(p.metrics().errors(), 0);
        assert_eq!(
            d.calls.lock().unwrap().as_slice(),
            [(
                "publish".to_owned(),
                r#"{"channel":"a","data":1}"#.to_owned()
            )]
        );
    }

    #[tokio::test]
    async fn final_error_is_processed_and_counted() {
        let (p, _) = processor(vec![Err(DispatchError::new(102, "unknown channel"))]);
        p.process("publish", br#"{"channel":"a"}"#).await.unwrap();
        assert_eq!(p.metrics().processed(), 1);
        assert_eq!(p.metrics().errors(), 1);
    }

    #[tokio::test]
    async fn internal_error_is_returned_for_a_retry() {
        let (p, _) = processor(vec![Err(DispatchError::new(100, "internal"))]);
        let err = p
            .process("publish", br#"{"channel":"a"}"#)
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(p.metrics().processed(), 0);
        assert_eq!(p.metrics().errors(), 1);
    }

    #[tokio::test]
    async fn malformed_and_not_allowed_are_skipped_without_dispatch() {
        let (p, d) = processor(vec![]);
        p.process("", b"{{{").await.unwrap();
        p.process("presence", br#"{"channel":"a"}"#).await.unwrap();
        assert!(d.calls.lock().unwrap().is_empty());
        assert_eq!(p.metrics().processed(), 2);
        assert_eq!(p.metrics().errors(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_backoff_until_done() {
        let internal = || Err(DispatchError::new(100, "internal"));
        let (p, d) = processor(vec![internal(), internal(), internal()]);
        let started = tokio::time::Instant::now();
        p.process_until_done("publish", br#"{"channel":"a"}"#, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(d.calls.lock().unwrap().len(), 4);
        assert_eq!(p.metrics().processed(), 1);
        assert_eq!(p.metrics().errors(), 3);
        // 10 + 20 + 40 ms at least, with jitter below 10 + 20 + 40 more.
        let waited = started.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(70)
                && waited < std::time::Duration::from_millis(140),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stop_ends_the_retries() {
        let (p, _) = processor(vec![Err(DispatchError::new(100, "internal")); 1000]);
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            stopper.cancel();
        });
        assert_eq!(
            p.process_until_done("publish", br#"{"channel":"a"}"#, &stop)
                .await,
            Err(Stopped)
        );
    }
}
