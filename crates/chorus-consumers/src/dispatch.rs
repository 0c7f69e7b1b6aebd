//! The contract between a consumer and the server that executes its commands.

use async_trait::async_trait;

/// The API error code that means "internal error": the command may succeed
/// later (the broker was unreachable, a timeout), so it is retried.
pub const INTERNAL_ERROR_CODE: u32 = 100;

/// Executes one API command, exactly as the server's HTTP API would for a
/// request to `/api/<method>` with `payload` as the body.
#[async_trait]
pub trait Dispatcher: Send + Sync + 'static {
    /// Runs `method` with `payload` (the text of a JSON object).
    ///
    /// # Errors
    /// The API error the command ended with; see [`DispatchError::is_retryable`].
    async fn dispatch(&self, method: &str, payload: &str) -> Result<(), DispatchError>;
}

/// A command that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API error {code}: {message}")]
pub struct DispatchError {
    /// The API error code (`100` internal, `102` unknown channel, …).
    pub code: u32,
    /// Its message.
    pub message: String,
}

impl DispatchError {
    /// An error with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Only an internal error (code 100) is retried; any other error is final:
    /// retrying a bad request would block the partition for ever, so the
    /// message counts as processed.
    pub fn is_retryable(&self) -> bool {
        self.code == INTERNAL_ERROR_CODE
    }
}
