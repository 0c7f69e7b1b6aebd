//! The processes of a soak run: one `chorus` node on the memory engine, or two
//! nodes sharing a `redis-server`, with the hooks the fault scenario needs
//! (kill and restart Redis on the same port, freeze and thaw it, kill a node).

use super::SoakEngine;
use crate::cluster::{self, Guard};
use std::process::{Command, Stdio};

/// Channels keep enough history for every recovery the scenario makes: a
/// client is away for at most a few seconds at about one publication per
/// second and channel (longer while Redis is frozen).
const CHANNELS: &str = r#""channel": {"without_namespace": {"history_size": 1000, "history_ttl": "900s", "force_recovery": true}}"#;

pub(crate) struct SoakDeployment {
    /// Client addresses, one per node.
    pub(crate) addrs: Vec<String>,
    /// `None` once killed.
    nodes: Vec<Option<Guard>>,
    redis: Option<(u16, Option<Guard>)>,
}

fn spawn_redis(port: u16) -> anyhow::Result<Guard> {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start redis-server (is it installed?): {e}"))?;
    let guard = Guard(child);
    cluster::wait_listening(&format!("127.0.0.1:{port}"), "redis-server")?;
    Ok(guard)
}

/// Sends a signal to a process with kill(1) (`STOP`, `CONT`, `KILL`).
fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
    Ok(())
}

impl SoakDeployment {
    pub(crate) fn start(engine: SoakEngine) -> anyhow::Result<Self> {
        let base =
            r#""client": {"insecure": true, "allowed_origins": ["*"]}, "log": {"level": "error"}"#;
        let (redis, config, count) = match engine {
            SoakEngine::Memory => (None, format!("{{{base}, {CHANNELS}}}"), 1),
            SoakEngine::Redis => {
                let port = cluster::free_port()?;
                let guard = spawn_redis(port)?;
                let config = format!(
                    r#"{{{base}, {CHANNELS}, "engine": {{"type": "redis", "redis": {{"address": ["redis://127.0.0.1:{port}"]}}}}}}"#
                );
                (Some((port, Some(guard))), config, 2)
            }
        };
        let mut nodes = Vec::with_capacity(count);
        let mut addrs = Vec::with_capacity(count);
        for i in 0..count {
            let (guard, addr) = cluster::spawn_node(&config, i)?;
            nodes.push(Some(guard));
            addrs.push(addr);
        }
        Ok(Self {
            addrs,
            nodes,
            redis,
        })
    }

    /// Process ids of the nodes still running (`None` for a killed one).
    pub(crate) fn node_pids(&self) -> Vec<Option<u32>> {
        self.nodes
            .iter()
            .map(|n| n.as_ref().map(|g| g.0.id()))
            .collect()
    }

    fn redis_pid(&self) -> anyhow::Result<u32> {
        match &self.redis {
            Some((_, Some(guard))) => Ok(guard.0.id()),
            _ => anyhow::bail!("no redis-server running"),
        }
    }

    /// SIGKILL to Redis (its data is lost: it runs without persistence).
    pub(crate) fn kill_redis(&mut self) -> anyhow::Result<()> {
        signal(self.redis_pid()?, "KILL")?;
        if let Some((_, guard)) = &mut self.redis
            && let Some(mut g) = guard.take()
        {
            let _ = g.0.wait();
        }
        Ok(())
    }

    /// Starts Redis again on the same port.
    pub(crate) fn restart_redis(&mut self) -> anyhow::Result<()> {
        let Some((port, guard)) = &mut self.redis else {
            anyhow::bail!("not a Redis deployment");
        };
        *guard = Some(spawn_redis(*port)?);
        Ok(())
    }

    /// SIGSTOP (`freeze = true`) or SIGCONT to Redis.
    pub(crate) fn freeze_redis(&self, freeze: bool) -> anyhow::Result<()> {
        signal(self.redis_pid()?, if freeze { "STOP" } else { "CONT" })
    }

    /// SIGKILL to node `index`.
    pub(crate) fn kill_node(&mut self, index: usize) -> anyhow::Result<()> {
        if let Some(mut guard) = self.nodes.get_mut(index).and_then(Option::take) {
            signal(guard.0.id(), "KILL")?;
            let _ = guard.0.wait();
        }
        Ok(())
    }
}

impl Drop for SoakDeployment {
    fn drop(&mut self) {
        // A frozen Redis must be thawed for its guard's kill to be reaped promptly.
        let _ = self.freeze_redis(false);
        // Nodes first, then Redis (the field order would drop Redis last too,
        // but make it explicit).
        self.nodes.clear();
        self.redis = None;
    }
}
