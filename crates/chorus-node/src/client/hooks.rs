//! Calling the per-channel application hooks (subscribe, publish, sub_refresh).
//!
//! A hook may answer "not handled" for a channel (for example when only some
//! namespaces are proxied to a backend); the caller then applies the channel's
//! `allow_*` options as if no hook were set.

use super::Client;
use crate::error::Disconnect;
use crate::handlers::{
    HandlerError, PublishEvent, PublishReply, SubRefreshEvent, SubscribeEvent, SubscribeReply,
};
use bytes::Bytes;

impl Client {
    /// The subscribe hook's decision; `Ok(None)` when there is no hook or it does
    /// not handle `channel`.
    pub(super) async fn subscribe_hook(
        &self,
        channel: &str,
        data: &Bytes,
    ) -> Result<Option<SubscribeReply>, HandlerError> {
        let Some(hook) = self.node.inner.hooks.subscribe.clone() else {
            return Ok(None);
        };
        let reply = hook(SubscribeEvent {
            client: self.context(),
            channel: channel.to_owned(),
            data: data.clone(),
        })
        .await?;
        Ok((!reply.not_handled).then_some(reply))
    }

    /// The publish hook's decision; `Ok(None)` when there is no hook or it does
    /// not handle `channel`.
    pub(super) async fn publish_hook(
        &self,
        channel: &str,
        data: &Bytes,
    ) -> Result<Option<PublishReply>, HandlerError> {
        let Some(hook) = self.node.inner.hooks.publish.clone() else {
            return Ok(None);
        };
        let reply = hook(PublishEvent {
            client: self.context(),
            channel: channel.to_owned(),
            data: data.clone(),
        })
        .await?;
        Ok((!reply.not_handled).then_some(reply))
    }

    /// Asks the sub_refresh hook to extend the expired client-side subscription to
    /// `channel`; `true` when it did (the subscription stays, with its new expiry).
    /// Errors and disconnects from the hook are not delivered: the subscription
    /// just expires (spec §9.3).
    pub(super) async fn sub_refreshed(&mut self, channel: &str) -> bool {
        let Some(hook) = self.node.inner.hooks.sub_refresh.clone() else {
            return false;
        };
        let event = SubRefreshEvent {
            client: self.context(),
            channel: channel.to_owned(),
        };
        let reply = match hook(event).await {
            Ok(r) if !r.not_handled && !r.expired => r,
            Ok(_) => return false,
            Err(e) => {
                let code = match &e {
                    HandlerError::Error(e) => e.code(),
                    HandlerError::Disconnect(Disconnect { code, .. }) => *code,
                };
                tracing::debug!(client = %self.shared.id, channel, code, "sub_refresh hook refused");
                return false;
            }
        };
        let deadline = self.sub_deadline(reply.expire_at);
        let Some(sub) = self.subs.get_mut(channel) else {
            return false;
        };
        sub.expire_at = reply.expire_at;
        sub.expire_deadline = deadline;
        if let Some(info) = reply.info {
            sub.info = info;
        }
        true
    }
}
