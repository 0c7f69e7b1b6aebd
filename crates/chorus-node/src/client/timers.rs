//! The connection's timers: ping/pong, staleness, connection and subscription
//! expiry (with the refresh hooks), and the periodic presence update. The
//! earliest deadline wakes the connection task, which calls
//! [`Client::on_timer`].

use super::Client;
use crate::clock::instant_at;
use crate::error::Disconnect;
use chorus_protocol::Reply;
use std::time::Duration;
use tokio::time::Instant;

/// Timers of the connection; the earliest one wakes the connection task.
#[derive(Debug, Default)]
pub(super) struct Timers {
    pub(super) stale: Option<Instant>,
    pub(super) ping: Option<Instant>,
    pub(super) pong: Option<Instant>,
    pub(super) expire: Option<Instant>,
    pub(super) presence: Option<Instant>,
    pub(super) sub_expire: Option<Instant>,
}

impl Timers {
    fn next(&self) -> Option<Instant> {
        [
            self.stale,
            self.ping,
            self.pong,
            self.expire,
            self.presence,
            self.sub_expire,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl Client {
    /// When the connection task should call [`Client::on_timer`] next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Runs the timers that are due.
    ///
    /// # Errors
    /// The disconnect to close with (stale, no pong, expired).
    pub(crate) async fn on_timer(&mut self) -> Result<(), Disconnect> {
        let now = Instant::now();
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.timers.stale) {
            return Err(Disconnect::STALE);
        }
        if due(self.timers.pong) {
            return Err(Disconnect::NO_PONG);
        }
        if due(self.timers.ping) {
            self.send(&Reply::ping())?;
            let client = &self.node.config().client;
            // Unidirectional clients cannot answer.
            self.timers.pong = (!self.is_unidirectional()).then(|| now + client.pong_timeout);
            self.timers.ping = client.ping_interval.map(|i| now + i);
        }
        if due(self.timers.expire) {
            self.timers.expire = None;
            self.check_expired().await?;
        }
        if due(self.timers.presence) {
            self.update_presence().await;
            self.timers.presence = Some(now + self.node.config().client.presence_update_interval);
        }
        if due(self.timers.sub_expire) {
            self.timers.sub_expire = None;
            self.check_sub_expired().await?;
        }
        Ok(())
    }

    /// Schedules the connection's expiry check. Wall-clock expiry times are turned
    /// into monotonic deadlines once, here; a refresh schedules again. Without a
    /// refresh hook the deadline includes `expired_close_delay` (the client had
    /// that long to refresh); with one, the hook is asked at the expiry itself.
    pub(crate) fn schedule_expiry(&mut self) {
        let delay = if self.node.inner.hooks.refresh.is_some() {
            Duration::ZERO
        } else {
            self.node.config().client.expired_close_delay
        };
        self.timers.expire = self.expire_at.map(|at| instant_at(at, delay));
    }

    async fn check_expired(&mut self) -> Result<(), Disconnect> {
        if self.expire_at.is_none() {
            return Ok(());
        }
        let Some(hook) = self.node.inner.hooks.refresh.clone() else {
            return Err(Disconnect::EXPIRED);
        };
        let event = crate::handlers::RefreshEvent {
            client: self.context(),
        };
        match hook(event).await {
            Ok(r) if !r.expired => {
                self.expire_at = r.expire_at;
                if let Some(info) = r.info {
                    self.info = info;
                }
                if let Some(meta) = r.meta {
                    self.meta = meta;
                }
                self.schedule_expiry();
                Ok(())
            }
            _ => Err(Disconnect::EXPIRED),
        }
    }

    pub(super) fn server_refresh(
        &mut self,
        req: crate::node::ServerRefresh,
    ) -> Result<(), Disconnect> {
        if req.expired {
            return Err(Disconnect::EXPIRED);
        }
        if req.expire_at.is_some() {
            self.expire_at = req.expire_at;
            self.schedule_expiry();
        }
        if let Some(info) = req.info {
            self.info = info;
        }
        Ok(())
    }

    pub(crate) fn schedule_sub_expiry(&mut self) {
        self.timers.sub_expire = self.subs.values().filter_map(|s| s.expire_deadline).min();
    }

    /// The monotonic deadline of a subscription expiring at `at` (Unix seconds).
    pub(crate) fn sub_deadline(&self, at: Option<i64>) -> Option<Instant> {
        at.map(|at| instant_at(at, self.node.config().client.expired_sub_close_delay))
    }

    async fn check_sub_expired(&mut self) -> Result<(), Disconnect> {
        let now = Instant::now();
        let expired: Vec<(String, bool)> = self
            .subs
            .iter()
            .filter(|(_, s)| s.expire_deadline.is_some_and(|d| d <= now))
            .map(|(c, s)| (c.clone(), s.server_side))
            .collect();
        for (channel, server_side) in expired {
            if server_side {
                return Err(Disconnect::SUB_EXPIRED);
            }
            if self.sub_refreshed(&channel).await {
                continue;
            }
            self.unsubscribe_channel(&channel).await;
            self.send(&Reply::from(
                chorus_protocol::UnsubscribeCode::EXPIRED.to_push(channel),
            ))?;
        }
        self.schedule_sub_expiry();
        Ok(())
    }

    async fn update_presence(&self) {
        for (channel, sub) in &self.subs {
            if sub.presence {
                let info = self.client_info(sub.info.clone());
                self.node.add_presence(channel, &self.shared.id, info).await;
            }
        }
    }
}
