//! Redis set-ups beyond a single server: a three-master [`RedisCluster`], a
//! master (and replica) behind a [`RedisSentinel`], and a TLS-only
//! [`RedisTlsServer`]. Same conventions as the parent module: free ports,
//! readiness from log lines, killed on drop, a panic under CI ([`super::is_ci`]) when a
//! binary is missing.

use super::{READY, RedisServer, free_port, kill, require, scratch_dir, spawn_ready};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A free port `p` whose cluster bus port `p + 10000` is free too (Redis 6.2
/// has no option to choose the bus port).
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if let Some(bus) = port.checked_add(10_000)
            && TcpListener::bind(("127.0.0.1", bus)).is_ok()
        {
            return port;
        }
    }
}

/// A Redis Cluster of three masters (no replicas, all 16384 slots covered) on
/// free ports; every node is killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts three `redis-server --cluster-enabled yes` nodes, joins them with
    /// `redis-cli --cluster create` and waits until every node reports
    /// `cluster_state:ok`; `None` when `redis-server` or `redis-cli` is missing
    /// outside CI.
    ///
    /// # Panics
    /// Under CI ([`super::is_ci`]) without the binaries, or if the cluster does not form.
    pub fn start() -> Option<Self> {
        let server = require("redis-server")?;
        let cli = require("redis-cli")?;
        // Built before the nodes start, so a panic below still kills them.
        let mut cluster = Self {
            nodes: Vec::new(),
            ports: Vec::new(),
            dir: scratch_dir("redis-cluster"),
        };
        for _ in 0..3 {
            let mut last = String::new();
            for _ in 0..3 {
                let port = free_cluster_port();
                let mut cmd = Command::new(&server);
                cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                    .args(["--save", "", "--appendonly", "no"])
                    .args(["--cluster-enabled", "yes", "--cluster-config-file"])
                    .arg(cluster.dir.join(format!("nodes-{port}.conf")))
                    .arg("--dir")
                    .arg(&cluster.dir);
                match spawn_ready(cmd, "Ready to accept connections") {
                    Ok(child) => {
                        cluster.nodes.push(child);
                        cluster.ports.push(port);
                        last.clear();
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            assert!(last.is_empty(), "redis cluster node does not start: {last}");
        }
        let mut create = Command::new(&cli);
        create
            .args(["--cluster", "create"])
            .args(cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"]);
        let mut creating = spawn_ready(create, "All 16384 slots covered")
            .unwrap_or_else(|e| panic!("redis-cli --cluster create failed: {e}"));
        let _ = creating.wait();
        cluster.wait_state_ok(&cli);
        Some(cluster)
    }

    /// Polls `CLUSTER INFO` on every node until all say `cluster_state:ok`
    /// (the gossip that spreads the slot map has no ready line). Bounded.
    fn wait_state_ok(&self, cli: &Path) {
        let deadline = std::time::Instant::now() + READY;
        for port in &self.ports {
            loop {
                let info = Command::new(cli)
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port.to_string(),
                        "cluster",
                        "info",
                    ])
                    .stdin(Stdio::null())
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis cluster node {port} not ok within {READY:?}:\n{info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The nodes' ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `redis://127.0.0.1:<port>` of every node (the seeds of a cluster client).
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            kill(child);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` master (optionally with one replica) watched by one Redis
/// Sentinel (quorum 1, so it fails over on its own), all on free ports; killed
/// on drop.
#[derive(Debug)]
pub struct RedisSentinel {
    master: RedisServer,
    replica: Option<RedisServer>,
    sentinel: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisSentinel {
    /// The name under which the sentinel monitors the master.
    pub const MASTER_NAME: &'static str = "mymaster";

    /// Starts the master, then `redis-server <conf> --sentinel` monitoring it,
    /// and waits for the sentinel's `+monitor` line; `None` when `redis-server`
    /// is missing outside CI.
    ///
    /// # Panics
    /// Under CI ([`super::is_ci`]) without `redis-server`, or if a server does not start.
    pub fn start() -> Option<Self> {
        Self::launch(false, None)
    }

    /// Like [`RedisSentinel::start`] with a replica of the master, synchronised
    /// before the sentinel starts and known to it (its `+slave` line), so
    /// killing the master makes the sentinel promote the replica (the master
    /// counts as down after 500 ms).
    ///
    /// # Panics
    /// Like [`RedisSentinel::start`].
    pub fn start_with_replica() -> Option<Self> {
        Self::launch(true, None)
    }

    /// Like [`RedisSentinel::start`], but the master requires `master_password`
    /// (the sentinel is told it) and the sentinel requires `sentinel_password`.
    ///
    /// # Panics
    /// Like [`RedisSentinel::start`].
    pub fn start_with_passwords(master_password: &str, sentinel_password: &str) -> Option<Self> {
        Self::launch(false, Some((master_password, sentinel_password)))
    }

    fn launch(with_replica: bool, passwords: Option<(&str, &str)>) -> Option<Self> {
        let master = match passwords {
            Some((master, _)) => RedisServer::start_with_password(master)?,
            None => RedisServer::start()?,
        };
        let replica = if with_replica {
            Some(RedisServer::start_replica(master.port())?)
        } else {
            None
        };
        let binary = require("redis-server")?;
        let dir = scratch_dir("redis-sentinel");
        let ready = match &replica {
            Some(r) => format!("+slave slave 127.0.0.1:{}", r.port()),
            None => "+monitor master".to_owned(),
        };
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            // Sentinel rewrites its configuration file, so it lives in `dir`.
            let conf = dir.join(format!("sentinel-{port}.conf"));
            let name = Self::MASTER_NAME;
            let text = format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {name} 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds {name} 500\n\
                 sentinel failover-timeout {name} 5000\n",
                dir.display(),
                master.port()
            );
            let text = match passwords {
                Some((master, sentinel)) => {
                    format!("{text}sentinel auth-pass {name} {master}\nrequirepass {sentinel}\n")
                }
                None => text,
            };
            std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
            let mut cmd = Command::new(&binary);
            cmd.arg(&conf).arg("--sentinel");
            match spawn_ready(cmd, &ready) {
                Ok(sentinel) => {
                    return Some(Self {
                        master,
                        replica,
                        sentinel,
                        port,
                        dir,
                    });
                }
                Err(e) => last = e,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis sentinel does not start: {last}");
    }

    /// `redis://127.0.0.1:<port>` of the sentinel (without credentials).
    pub fn sentinel_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The sentinel's port.
    pub fn sentinel_port(&self) -> u16 {
        self.port
    }

    /// The monitored master (to stop or restart it).
    pub fn master(&mut self) -> &mut RedisServer {
        &mut self.master
    }

    /// The replica, when started with [`RedisSentinel::start_with_replica`].
    pub fn replica(&mut self) -> Option<&mut RedisServer> {
        self.replica.as_mut()
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        kill(&mut self.sentinel);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` that accepts only TLS, with a throw-away self-signed
/// certificate for `localhost` (made with `openssl`), on a free port; killed on
/// drop.
#[derive(Debug)]
pub struct RedisTlsServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisTlsServer {
    /// Makes the certificate and starts the server; `None` when `redis-server`
    /// or `openssl` is missing outside CI.
    ///
    /// # Panics
    /// Under CI ([`super::is_ci`]) without the binaries, or if the server does not start.
    pub fn start() -> Option<Self> {
        let server = require("redis-server")?;
        let openssl = require("openssl")?;
        let dir = scratch_dir("redis-tls");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = Command::new(openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run openssl: {e}"));
        assert!(
            made.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&server);
            cmd.args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--tls-auth-clients", "no", "--tls-cert-file"])
                .arg(&cert)
                .arg("--tls-key-file")
                .arg(&key)
                .arg("--tls-ca-cert-file")
                .arg(&cert);
            match spawn_ready(cmd, "Ready to accept connections") {
                Ok(child) => return Some(Self { child, port, dir }),
                Err(e) => last = e,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("redis-server with TLS does not start: {last}");
    }

    /// `rediss://localhost:<port>` (the certificate is self-signed: a client
    /// must skip verification, e.g. with the `#insecure` URL fragment).
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }
}

impl Drop for RedisTlsServer {
    fn drop(&mut self) {
        kill(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
