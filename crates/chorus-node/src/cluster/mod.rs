//! Node-to-node control over the broker: discovery (heartbeats), `info` over
//! every node, surveys (`channels`, `connections` over every node), API
//! operations reaching the node that holds a connection, and emulation
//! requests forwarded to the node that owns the session.
//!
//! Everything travels as control messages ([`Broker::publish_control`]), so a
//! cluster needs no protocol of its own: Redis PUB/SUB (`P.control`,
//! `P.node.<id>`) or NATS subjects carry it. With the in-process broker there
//! are no other nodes and every operation is local.
//!
//! [`Broker::publish_control`]: crate::Broker::publish_control

mod inbox;
mod wire;

pub(crate) use inbox::Inbox;
pub(crate) use wire::{ClusterCommand, Question};

use crate::connections::ConnectionInfo;
use crate::error::ApiError;
use crate::node::{Node, NodeInfo, NodeInner};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use wire::{Answer, ControlEnvelope};

/// How often a node announces itself (Centrifugo: 3 s).
pub(crate) const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
/// A node not heard of for this long is gone (two missed heartbeats and a margin).
pub(crate) const NODE_EXPIRY: Duration = Duration::from_secs(7);
/// Longest wait for every node's answer to a survey; nodes that did not answer
/// by then (crashed, not yet expired) are left out of the result.
const SURVEY_TIMEOUT: Duration = Duration::from_secs(2);

/// Receives emulation requests forwarded from other nodes: `(session, body)`.
pub type EmulationSink = Arc<dyn Fn(&str, Bytes) + Send + Sync>;

/// An open survey: whose answers are still awaited, and those received.
struct Survey {
    waiting: HashSet<String>,
    answers: Vec<Answer>,
    done: Option<oneshot::Sender<()>>,
}

/// The cluster view of one node.
pub(crate) struct Cluster {
    uid: String,
    // Other nodes heard of recently: id → (statistics, when last heard).
    // A std mutex: held only to read or edit the map, never across `.await`.
    nodes: Mutex<HashMap<String, (NodeInfo, Instant)>>,
    // Open surveys by id (same locking rule).
    surveys: Mutex<HashMap<u64, Survey>>,
    next_survey: AtomicU64,
    // Set once by the server when it serves emulation.
    emulation: OnceLock<EmulationSink>,
    // The node, for applying received commands; set right after it is built
    // (the inbox exists before the node, because the broker is built first).
    node: OnceLock<Weak<NodeInner>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    pub(crate) fn new(uid: String) -> Self {
        Self {
            uid,
            nodes: Mutex::default(),
            surveys: Mutex::default(),
            next_survey: AtomicU64::new(1),
            emulation: OnceLock::new(),
            node: OnceLock::new(),
        }
    }

    pub(crate) fn attach(&self, node: &Arc<NodeInner>) {
        let _ = self.node.set(Arc::downgrade(node));
    }

    fn node(&self) -> Option<Node> {
        self.node
            .get()
            .and_then(Weak::upgrade)
            .map(|inner| Node { inner })
    }

    /// Other nodes heard of within [`NODE_EXPIRY`] (expired ones are dropped).
    fn live(&self) -> Vec<NodeInfo> {
        let now = Instant::now();
        let mut nodes = lock(&self.nodes);
        nodes.retain(|_, (_, seen)| now.duration_since(*seen) < NODE_EXPIRY);
        nodes.values().map(|(info, _)| info.clone()).collect()
    }

    fn is_live(&self, uid: &str) -> bool {
        lock(&self.nodes)
            .get(uid)
            .is_some_and(|(_, seen)| seen.elapsed() < NODE_EXPIRY)
    }

    /// Records a heartbeat; true when the node was not known.
    fn heard(&self, info: NodeInfo) -> bool {
        let uid = info.uid.clone();
        lock(&self.nodes)
            .insert(uid, (info, Instant::now()))
            .is_none()
    }

    fn forget(&self, uid: &str) {
        lock(&self.nodes).remove(uid);
        // A survey must not wait for a node that said goodbye.
        let mut surveys = lock(&self.surveys);
        for survey in surveys.values_mut() {
            if survey.waiting.remove(uid)
                && survey.waiting.is_empty()
                && let Some(done) = survey.done.take()
            {
                let _ = done.send(());
            }
        }
    }

    fn answered(&self, id: u64, from: &str, answer: Answer) {
        let mut surveys = lock(&self.surveys);
        let Some(survey) = surveys.get_mut(&id) else {
            return; // Timed out already, or not ours.
        };
        if survey.waiting.remove(from) {
            survey.answers.push(answer);
            if survey.waiting.is_empty()
                && let Some(done) = survey.done.take()
            {
                let _ = done.send(());
            }
        }
    }
}

impl Node {
    fn envelope(&self, command: ClusterCommand) -> ControlEnvelope {
        ControlEnvelope {
            from: self.inner.uid.clone(),
            command,
        }
    }

    /// Sends a command to every other node.
    pub(crate) async fn broadcast(&self, command: ClusterCommand) -> Result<(), ApiError> {
        let data = wire::encode(&self.envelope(command), &[]);
        Ok(self.inner.broker.publish_control(data, None).await?)
    }

    async fn send_to(
        &self,
        node: &str,
        command: ClusterCommand,
        body: &[u8],
    ) -> Result<(), ApiError> {
        let data = wire::encode(&self.envelope(command), body);
        Ok(self.inner.broker.publish_control(data, Some(node)).await?)
    }

    /// Announces this node (and forgets nodes not heard of for a while), every
    /// [`HEARTBEAT_INTERVAL`] until shutdown. A node built outside a tokio
    /// runtime (unit tests of the figures) has no heartbeat.
    pub(crate) fn spawn_heartbeat(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        let shutdown = self.inner.shutdown.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                let info = node.info();
                if let Err(e) = node.broadcast(ClusterCommand::Node((&info).into())).await {
                    tracing::debug!(error = %e, "node heartbeat not sent");
                }
                node.inner.cluster.live();
            }
        });
    }

    /// Tells the other nodes this one is leaving (best effort, at shutdown).
    pub(crate) async fn say_goodbye(&self) {
        if let Err(e) = self.broadcast(ClusterCommand::Bye).await {
            tracing::debug!(error = %e, "goodbye not sent");
        }
    }

    /// Every node of the cluster (this one first, then the others heard of in
    /// the last few seconds, by name and id): the `info` API method.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut others = self.inner.cluster.live();
        others.sort_by(|a, b| (&a.name, &a.uid).cmp(&(&b.name, &b.uid)));
        let mut nodes = Vec::with_capacity(others.len() + 1);
        nodes.push(self.info());
        nodes.extend(others);
        nodes
    }

    /// Asks every other live node and collects their answers (those that
    /// answered within the survey timeout).
    async fn survey(&self, question: Question) -> Result<Vec<Answer>, ApiError> {
        let cluster = &self.inner.cluster;
        let waiting: HashSet<String> = cluster.live().into_iter().map(|n| n.uid).collect();
        if waiting.is_empty() {
            return Ok(Vec::new());
        }
        let id = cluster.next_survey.fetch_add(1, Ordering::Relaxed);
        let (done, finished) = oneshot::channel();
        lock(&cluster.surveys).insert(
            id,
            Survey {
                waiting,
                answers: Vec::new(),
                done: Some(done),
            },
        );
        let sent = self
            .broadcast(ClusterCommand::Survey { id, question })
            .await;
        if sent.is_ok()
            && tokio::time::timeout(SURVEY_TIMEOUT, finished)
                .await
                .is_err()
        {
            tracing::warn!(
                id,
                "survey timed out; answering with the nodes that replied"
            );
        }
        let survey = lock(&cluster.surveys).remove(&id);
        sent?;
        Ok(survey.map(|s| s.answers).unwrap_or_default())
    }

    /// Channels with subscribers on any node, with their subscriber counts
    /// summed over nodes (API `channels`).
    ///
    /// # Errors
    /// 100 when the broker cannot carry the question.
    pub async fn cluster_channels(
        &self,
        pattern: Option<&str>,
    ) -> Result<BTreeMap<String, u32>, ApiError> {
        let mut channels = self.channels(pattern);
        let question = Question::Channels {
            pattern: pattern.map(str::to_owned),
        };
        for answer in self.survey(question).await? {
            if let Answer::Channels { channels: theirs } = answer {
                for (name, n) in theirs {
                    let count = channels.entry(name).or_default();
                    *count = count.saturating_add(n);
                }
            }
        }
        Ok(channels)
    }

    /// Connections on every node by client id (API `connections`).
    ///
    /// # Errors
    /// 100 when the broker cannot carry the question.
    pub async fn cluster_connections(
        &self,
        user: Option<&str>,
    ) -> Result<BTreeMap<String, ConnectionInfo>, ApiError> {
        let mut connections = self.connections(user);
        let question = Question::Connections {
            user: user.map(str::to_owned),
        };
        for answer in self.survey(question).await? {
            if let Answer::Connections {
                connections: theirs,
            } = answer
            {
                connections.extend(theirs.into_iter().map(|(id, c)| (id, c.into())));
            }
        }
        Ok(connections)
    }

    /// Where emulation requests forwarded by other nodes go (the server's
    /// emulation endpoint sets it once; later calls are ignored).
    pub fn set_emulation_sink(&self, sink: EmulationSink) {
        let _ = self.inner.cluster.emulation.set(sink);
    }

    /// Forwards an emulation request to the node that owns the session.
    ///
    /// # Errors
    /// 104 when no live node has that id; 100 when the broker cannot carry it.
    pub async fn forward_emulation(
        &self,
        node: &str,
        session: &str,
        body: &[u8],
    ) -> Result<(), ApiError> {
        if !self.inner.cluster.is_live(node) {
            return Err(ApiError::NotFound);
        }
        let command = ClusterCommand::Emulation {
            session: session.to_owned(),
        };
        self.send_to(node, command, body).await
    }

    /// Applies a command another node sent.
    fn apply(&self, from: String, command: ClusterCommand, body: Bytes) {
        let cluster = &self.inner.cluster;
        match command {
            ClusterCommand::Node(info) => {
                if cluster.heard(info.into()) {
                    // A node we did not know: tell it about us at once, so
                    // discovery does not wait for our next heartbeat.
                    let node = self.clone();
                    tokio::spawn(async move {
                        let info = node.info();
                        let _ = node
                            .send_to(&from, ClusterCommand::Node((&info).into()), &[])
                            .await;
                    });
                }
            }
            ClusterCommand::Bye => cluster.forget(&from),
            ClusterCommand::Disconnect {
                user,
                client,
                whitelist,
                code,
                reason,
            } => {
                let disconnect = crate::Disconnect::new(code, reason);
                self.disconnect_local(&user, &disconnect, client.as_deref(), &whitelist);
            }
            ClusterCommand::Unsubscribe {
                user,
                channel,
                client,
            } => self.unsubscribe_local(&user, &channel, client.as_deref()),
            ClusterCommand::Subscribe(sub) => self.subscribe_local(sub.into()),
            ClusterCommand::Refresh(refresh) => match refresh.try_into() {
                Ok(refresh) => self.refresh_local(refresh),
                Err(e) => tracing::warn!(error = %e, "refresh from another node dropped"),
            },
            ClusterCommand::Survey { id, question } => {
                let answer = match question {
                    Question::Channels { pattern } => Answer::Channels {
                        channels: self.channels(pattern.as_deref()),
                    },
                    Question::Connections { user } => Answer::Connections {
                        connections: self
                            .connections(user.as_deref())
                            .into_iter()
                            .map(|(id, c)| (id, c.into()))
                            .collect(),
                    },
                };
                let node = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = node
                        .send_to(&from, ClusterCommand::Answer { id, answer }, &[])
                        .await
                    {
                        tracing::debug!(error = %e, "survey answer not sent");
                    }
                });
            }
            ClusterCommand::Answer { id, answer } => cluster.answered(id, &from, answer),
            ClusterCommand::Emulation { session } => match cluster.emulation.get() {
                Some(sink) => sink(&session, body),
                None => tracing::debug!("emulation request forwarded to a node without emulation"),
            },
        }
    }
}
