//! Event handlers.
//!
//! Handlers are plain synchronous closures, called on the session's own task in the
//! order events happen for that session. They must not block: a handler that needs
//! to do async work (a database call, say) spawns a task and writes to the session
//! from there. Because handlers are synchronous, a slow handler can delay only its
//! own session, and no lock of the hub is ever held while one runs.

use crate::message::{CloseFrame, Text};
use crate::{Session, SessionError};
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

pub(crate) type SessionFn = Arc<dyn Fn(&Session) + Send + Sync>;
pub(crate) type TextFn = Arc<dyn Fn(&Session, Text) + Send + Sync>;
pub(crate) type BinaryFn = Arc<dyn Fn(&Session, Bytes) + Send + Sync>;
pub(crate) type SentTextFn = Arc<dyn Fn(&Session, &Text) + Send + Sync>;
pub(crate) type SentBinaryFn = Arc<dyn Fn(&Session, &Bytes) + Send + Sync>;
pub(crate) type CloseFn = Arc<dyn Fn(&Session, &CloseFrame) + Send + Sync>;
pub(crate) type ErrorFn = Arc<dyn Fn(&Session, &SessionError) + Send + Sync>;

#[derive(Default, Clone)]
pub(crate) struct Handlers {
    pub(crate) connect: Option<SessionFn>,
    pub(crate) disconnect: Option<CloseFn>,
    pub(crate) message: Option<TextFn>,
    pub(crate) message_binary: Option<BinaryFn>,
    pub(crate) sent_message: Option<SentTextFn>,
    pub(crate) sent_message_binary: Option<SentBinaryFn>,
    pub(crate) pong: Option<SessionFn>,
    pub(crate) close: Option<CloseFn>,
    pub(crate) error: Option<ErrorFn>,
}

impl fmt::Debug for Handlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlers")
            .field("connect", &self.connect.is_some())
            .field("disconnect", &self.disconnect.is_some())
            .field("message", &self.message.is_some())
            .field("message_binary", &self.message_binary.is_some())
            .field("sent_message", &self.sent_message.is_some())
            .field("sent_message_binary", &self.sent_message_binary.is_some())
            .field("pong", &self.pong.is_some())
            .field("close", &self.close.is_some())
            .field("error", &self.error.is_some())
            .finish()
    }
}
