//! The PostgreSQL outbox consumer.
//!
//! The application inserts API commands into an outbox table in the same
//! transaction as its own write:
//!
//! ```sql
//! CREATE TABLE chorus_outbox (
//!     id         BIGSERIAL PRIMARY KEY,
//!     method     TEXT NOT NULL,
//!     payload    JSONB NOT NULL,
//!     partition  INTEGER NOT NULL DEFAULT 0,
//!     created_at TIMESTAMPTZ NOT NULL DEFAULT now()
//! );
//! ```
//!
//! One worker per partition repeats: begin a transaction, take the
//! partition's advisory transaction lock (so that of several nodes only one
//! reads a partition at a time), select the oldest `partition_select_limit`
//! rows (`ORDER BY id`), dispatch them in that order, delete the dispatched
//! rows and commit. A retryable failure stops the batch at that row (the rows
//! before it are deleted, it and the rows after it stay) and the partition
//! backs off before trying again, so a partition's order is kept. Between
//! batches the worker waits `partition_poll_interval`, or less when a
//! `NOTIFY <partition_notification_channel>, '<partition>'` arrives.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client, IsolationLevel, NoTls};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::error::ConsumerError;
use crate::processor::Processor;

/// Options of a `postgresql` consumer (Centrifugo's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// `dsn`: a libpq connection string or `postgres://` URL.
    pub dsn: String,
    /// `outbox_table_name`: `table` or `schema.table`.
    pub outbox_table_name: String,
    /// `num_partitions`: partitions `0..n` read in parallel. Default 1.
    pub num_partitions: u32,
    /// `partition_select_limit`: rows per batch. Default 100.
    pub partition_select_limit: u32,
    /// `partition_poll_interval`: wait between batches when a partition is
    /// drained. Default 300 ms.
    pub partition_poll_interval: Duration,
    /// `partition_notification_channel`: a channel to `LISTEN` on for
    /// wake-ups (payload: the partition number); `""` = poll only.
    pub partition_notification_channel: String,
    /// `partition_notification_dsn`: a separate DSN for the `LISTEN`
    /// connection (`""` = `dsn`), e.g. direct when `dsn` goes through a
    /// transaction-pooling proxy, where `LISTEN` does not work.
    pub partition_notification_dsn: String,
    /// `use_try_lock`: `pg_try_advisory_xact_lock` (skip a busy partition
    /// until the next poll) instead of waiting for the lock.
    pub use_try_lock: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            dsn: String::new(),
            outbox_table_name: String::new(),
            num_partitions: 1,
            partition_select_limit: 100,
            partition_poll_interval: Duration::from_millis(300),
            partition_notification_channel: String::new(),
            partition_notification_dsn: String::new(),
            use_try_lock: false,
        }
    }
}

/// How long the notification listener waits before reconnecting.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// A started outbox consumer; [`PostgresConsumer::run`] consumes.
#[derive(Debug)]
pub struct PostgresConsumer {
    name: String,
    options: PostgresOptions,
    processor: Processor,
    select: String,
    delete: String,
}

/// Why a batch ended early.
enum BatchError {
    /// `use_try_lock` and another node holds the partition.
    LockBusy,
    /// A command failed with a retryable error (already counted).
    Dispatch,
    /// The database failed.
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for BatchError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl PostgresConsumer {
    /// Checks the options and that PostgreSQL answers.
    ///
    /// # Errors
    /// [`ConsumerError::Invalid`] naming the option, or
    /// [`ConsumerError::Postgres`] when the first connection fails.
    pub async fn connect(
        name: &str,
        options: PostgresOptions,
        processor: Processor,
    ) -> Result<Self, ConsumerError> {
        if options.dsn.is_empty() {
            return Err(ConsumerError::invalid(name, "postgresql.dsn", "required"));
        }
        if !valid_table_name(&options.outbox_table_name) {
            return Err(ConsumerError::invalid(
                name,
                "postgresql.outbox_table_name",
                format!(
                    "{:?} is not `table` or `schema.table` (letters, digits, `_`)",
                    options.outbox_table_name
                ),
            ));
        }
        if options.num_partitions == 0 {
            return Err(ConsumerError::invalid(
                name,
                "postgresql.num_partitions",
                "must be at least 1",
            ));
        }
        if options.partition_select_limit == 0 {
            return Err(ConsumerError::invalid(
                name,
                "postgresql.partition_select_limit",
                "must be at least 1",
            ));
        }
        let client = connect(&options.dsn)
            .await
            .map_err(|source| ConsumerError::Postgres {
                consumer: name.to_owned(),
                source,
            })?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|source| ConsumerError::Postgres {
                consumer: name.to_owned(),
                source,
            })?;
        let table = &options.outbox_table_name;
        Ok(Self {
            name: name.to_owned(),
            select: format!(
                "SELECT id::int8, coalesce(method, ''), payload::text FROM {table} \
                 WHERE partition = $1::int8 ORDER BY id ASC LIMIT $2::int8"
            ),
            delete: format!("DELETE FROM {table} WHERE id = ANY($1::int8[])"),
            options,
            processor,
        })
    }

    /// Consumes until `stop` is cancelled. A batch under way when `stop`
    /// comes is finished (the rows dispatched so far are deleted).
    pub async fn run(self, stop: CancellationToken) {
        let this = Arc::new(self);
        let wakers: Arc<Vec<Notify>> = Arc::new(
            (0..this.options.num_partitions)
                .map(|_| Notify::new())
                .collect(),
        );
        let mut tasks = tokio::task::JoinSet::new();
        if !this.options.partition_notification_channel.is_empty() {
            let (this, wakers, stop) = (this.clone(), wakers.clone(), stop.clone());
            tasks.spawn(async move { this.listen(&wakers, &stop).await });
        }
        for partition in 0..this.options.num_partitions {
            let (this, wakers, stop) = (this.clone(), wakers.clone(), stop.clone());
            tasks.spawn(async move {
                this.partition_loop(partition, &wakers[partition as usize], &stop)
                    .await;
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    async fn partition_loop(&self, partition: u32, waker: &Notify, stop: &CancellationToken) {
        let mut client: Option<Client> = None;
        let mut backoff = Backoff::new();
        while !stop.is_cancelled() {
            let conn = match &mut client {
                Some(c) if !c.is_closed() => c,
                _ => match connect(&self.options.dsn).await {
                    Ok(c) => client.insert(c),
                    Err(e) => {
                        self.processor.metrics().add_error();
                        tracing::warn!(consumer = %self.name, partition, error = %e, "cannot connect to PostgreSQL");
                        pause(backoff.next_delay(), None, stop).await;
                        continue;
                    }
                },
            };
            match self.batch(conn, partition, stop).await {
                Ok(n) => {
                    backoff.reset();
                    // A full batch means more rows may be waiting: go again now.
                    if n < self.options.partition_select_limit as usize {
                        pause(self.options.partition_poll_interval, Some(waker), stop).await;
                    }
                }
                Err(BatchError::LockBusy) => {
                    pause(self.options.partition_poll_interval, Some(waker), stop).await;
                }
                Err(BatchError::Dispatch) => pause(backoff.next_delay(), None, stop).await,
                Err(BatchError::Db(e)) => {
                    self.processor.metrics().add_error();
                    tracing::warn!(consumer = %self.name, partition, error = %e, "outbox batch failed");
                    pause(backoff.next_delay(), None, stop).await;
                }
            }
        }
    }

    /// One transaction on `partition`: the number of rows processed.
    async fn batch(
        &self,
        client: &mut Client,
        partition: u32,
        stop: &CancellationToken,
    ) -> Result<usize, BatchError> {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await?;
        // The same lock key as Centrifugo's, so mixed fleets share partitions.
        let lock = format!("centrifugo_partition_lock_{}{partition}", self.name);
        if self.options.use_try_lock {
            let row = tx
                .query_one("SELECT pg_try_advisory_xact_lock(hashtext($1))", &[&lock])
                .await?;
            if !row.get::<_, bool>(0) {
                return Err(BatchError::LockBusy);
            }
        } else {
            // Waiting for another node's batch; leave at once on shutdown
            // (dropping the transaction rolls it back).
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&lock];
            tokio::select! {
                r = tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &params) => { r?; }
                () = stop.cancelled() => return Ok(0),
            }
        }
        let limit = i64::from(self.options.partition_select_limit);
        let rows = tx
            .query(&self.select, &[&i64::from(partition), &limit])
            .await?;
        let mut done: Vec<i64> = Vec::with_capacity(rows.len());
        let mut failed = false;
        for row in &rows {
            if stop.is_cancelled() {
                break;
            }
            let method: &str = row.get(1);
            let payload: &str = row.get(2);
            if self
                .processor
                .process(method, payload.as_bytes())
                .await
                .is_err()
            {
                failed = true;
                break;
            }
            done.push(row.get(0));
        }
        if !done.is_empty() {
            tx.execute(&self.delete, &[&done]).await?;
        }
        tx.commit().await?;
        if failed {
            Err(BatchError::Dispatch)
        } else {
            Ok(done.len())
        }
    }

    /// Keeps a `LISTEN` connection and wakes the partition named by each
    /// notification, reconnecting after [`LISTEN_RETRY`] when it drops.
    async fn listen(&self, wakers: &[Notify], stop: &CancellationToken) {
        while !stop.is_cancelled() {
            let result = tokio::select! {
                r = self.listen_once(wakers) => r,
                () = stop.cancelled() => return,
            };
            if let Err(e) = result {
                self.processor.metrics().add_error();
                tracing::warn!(consumer = %self.name, error = %e, "outbox notifications lost, reconnecting");
            }
            pause(LISTEN_RETRY, None, stop).await;
        }
    }

    async fn listen_once(&self, wakers: &[Notify]) -> Result<(), tokio_postgres::Error> {
        let dsn = if self.options.partition_notification_dsn.is_empty() {
            &self.options.dsn
        } else {
            &self.options.partition_notification_dsn
        };
        let (client, mut connection) = tokio_postgres::connect(dsn, NoTls).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // The connection must be polled for notifications to arrive; this task
        // forwards them and ends with the connection.
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        let _ = tx.send(n.payload().to_owned());
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        let channel = quote_identifier(&self.options.partition_notification_channel);
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        while let Some(payload) = rx.recv().await {
            match payload.trim().parse::<usize>() {
                Ok(p) if p < wakers.len() => wakers[p].notify_one(),
                _ => {
                    tracing::warn!(consumer = %self.name, payload, "outbox notification names no partition");
                }
            }
        }
        match driver.await {
            Ok(result) => result,
            Err(_) => Ok(()),
        }
    }
}

async fn connect(dsn: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(dsn, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "outbox connection closed");
        }
    });
    Ok(client)
}

/// Sleeps `delay`, or less when `waker` fires or `stop` is cancelled.
async fn pause(delay: Duration, waker: Option<&Notify>, stop: &CancellationToken) {
    let woken = async {
        match waker {
            Some(w) => w.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = woken => {}
        () = stop.cancelled() => {}
    }
}

/// `table` or `schema.table`, each an unquoted SQL identifier: the name is
/// put into the statements as it is, so nothing else may pass.
fn valid_table_name(name: &str) -> bool {
    let part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut parts = name.split('.');
    let first = parts.next().is_some_and(part);
    let rest: Vec<&str> = parts.collect();
    first && rest.len() <= 1 && rest.iter().all(|p| part(p))
}

/// `"name"`, with inner quotes doubled.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for ok in ["outbox", "public.outbox", "_x1", "Chorus_Outbox"] {
            assert!(valid_table_name(ok), "{ok}");
        }
        for bad in ["", "1x", "a.b.c", "a;drop", "a b", "\"a\"", "a.", ".a"] {
            assert!(!valid_table_name(bad), "{bad}");
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("outbox"), "\"outbox\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
