//! Real external services for tests: `redis-server` (alone, TLS-only as
//! [`RedisTlsServer`], as a three-master [`RedisCluster`] or behind a
//! [`RedisSentinel`]), `nats-server` and PostgreSQL ([`PostgresServer`]),
//! started on free loopback ports and killed when the guard drops.
//!
//! When a binary is missing, the `start` functions **panic under CI** ([`is_ci`]:
//! any non-empty `CI` other than `false` or `0`; a missing service must fail CI,
//! never pass it silently) and otherwise return
//! `None` after a loud message on stderr, so a developer without the packages
//! can still run the rest. `scripts/install-deps` installs them (Debian packages
//! `redis-server`, which brings `redis-cli`, `nats-server` and `postgresql`).
//!
//! Readiness is the server's own "ready" log line, read from its output (no
//! polling, no sleeps), except for a cluster's slot agreement, which has no such
//! line and is polled with `CLUSTER INFO` (bounded).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

mod postgres;
mod topologies;

pub use postgres::PostgresServer;
pub use topologies::{RedisCluster, RedisSentinel, RedisTlsServer};

/// Longest wait for a server to say it is ready.
const READY: Duration = Duration::from_secs(15);

/// Finds an executable on `PATH` or in the usual system directories
/// (`nats-server` is in `/usr/sbin` on Debian).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/bin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Whether the tests run under CI: `CI` is set to anything but empty, `false` or
/// `0` (CI providers set `CI=true`, some `CI=1` or a name), as `scripts/test`,
/// `e2e/run` and the JavaScript and Python suites read it.
pub fn is_ci() -> bool {
    ci_value_means_ci(std::env::var("CI").ok().as_deref())
}

fn ci_value_means_ci(value: Option<&str>) -> bool {
    !matches!(value.map(str::trim), None | Some("" | "false" | "0"))
}

/// `None` (with a loud message) when `name` is missing, or a panic under CI.
fn require(name: &str) -> Option<PathBuf> {
    if let Some(p) = find_binary(name) {
        return Some(p);
    }
    let msg = format!(
        "`{name}` is not installed: run scripts/install-deps (apt-get install -y redis-server nats-server)"
    );
    assert!(
        !is_ci(),
        "{msg}; CI is set, so this test fails instead of skipping"
    );
    eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
    None
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server).
///
/// # Panics
/// If no port can be bound.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Spawns `cmd` and waits until a line of its output contains `ready`; the
/// error has the output (e.g. the port was taken meanwhile).
fn spawn_ready(mut cmd: Command, ready: &str) -> Result<Child, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let (tx, rx) = mpsc::channel::<String>();
    let forward = |out: Box<dyn Read + Send>, tx: mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // Keep draining after readiness so the pipe never fills up.
                let _ = tx.send(line);
            }
        });
    };
    if let Some(out) = child.stdout.take() {
        forward(Box::new(out), tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward(Box::new(err), tx);
    }
    let deadline = std::time::Instant::now() + READY;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(ready) => return Ok(child),
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "service {cmd:?} not ready within {READY:?}; output:\n{}",
                    seen.join("\n")
                ));
            }
        }
    }
}

/// A `redis-server` on a free port; killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    binary: PathBuf,
    // Persistence directory (append-only file) for restart tests.
    dir: Option<PathBuf>,
    // Working directory otherwise (removed on drop): replication writes RDB
    // files there, which must neither litter the crate nor outlive the test.
    scratch: PathBuf,
    // The master this server replicates, if it is a replica.
    replica_of: Option<u16>,
    // `requirepass`, if any.
    password: Option<String>,
}

impl RedisServer {
    /// Starts a throw-away server (no persistence), or `None` when
    /// `redis-server` is missing outside CI (see the module docs).
    ///
    /// # Panics
    /// Under CI ([`is_ci`]) without `redis-server`, or if the server does not start.
    pub fn start() -> Option<Self> {
        Self::launch(None, None, None)
    }

    /// Like [`RedisServer::start`], but every write is appended to an AOF file in
    /// `dir` (fsync always), so [`RedisServer::restart`] keeps the data, as a
    /// production Redis with persistence would.
    ///
    /// # Panics
    /// Like [`RedisServer::start`].
    pub fn start_persistent(dir: &Path) -> Option<Self> {
        Self::launch(Some(dir.to_path_buf()), None, None)
    }

    /// Starts a replica of the server on `master_port` and waits until its
    /// first synchronisation succeeded.
    pub(super) fn start_replica(master_port: u16) -> Option<Self> {
        Self::launch(None, Some(master_port), None)
    }

    /// Starts a throw-away server that requires `password`.
    pub(super) fn start_with_password(password: &str) -> Option<Self> {
        Self::launch(None, None, Some(password.to_owned()))
    }

    fn launch(
        dir: Option<PathBuf>,
        replica_of: Option<u16>,
        password: Option<String>,
    ) -> Option<Self> {
        let binary = require("redis-server")?;
        let mut server = Self {
            child: None,
            port: free_port(),
            binary,
            dir,
            scratch: scratch_dir("redis"),
            replica_of,
            password,
        };
        // A free port can be taken between probing and binding: try a few.
        let mut attempts = 0;
        while let Err(e) = server.try_spawn() {
            attempts += 1;
            assert!(attempts < 3, "redis-server does not start: {e}");
            server.port = free_port();
        }
        Some(server)
    }

    fn spawn(&mut self) {
        if let Err(e) = self.try_spawn() {
            panic!(
                "redis-server does not start again on port {}: {e}",
                self.port
            );
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""]);
        match &self.dir {
            Some(dir) => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
                    .arg(dir);
            }
            None => {
                cmd.args(["--appendonly", "no", "--dir"]).arg(&self.scratch);
            }
        }
        if let Some(password) = &self.password {
            cmd.args(["--requirepass", password]);
        }
        let ready = match self.replica_of {
            Some(master) => {
                cmd.args(["--replicaof", "127.0.0.1", &master.to_string()]);
                "MASTER <-> REPLICA sync: Finished with success"
            }
            None => "Ready to accept connections",
        };
        self.child = Some(spawn_ready(cmd, ready)?);
        Ok(())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>` (with `:<password>@` when it has one).
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server (SIGKILL: like a crash or a network cut).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is
    /// answered, like a Redis stuck on a slow command or a paused VM.
    ///
    /// # Panics
    /// If the signal cannot be sent.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Resumes a server frozen by [`RedisServer::freeze`] (SIGCONT).
    ///
    /// # Panics
    /// If the signal cannot be sent.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig} failed");
    }

    /// Starts the server again on the same port (after [`RedisServer::stop`]).
    pub fn start_again(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    /// [`RedisServer::stop`], then [`RedisServer::start_again`].
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// A `nats-server` on a free port; killed on drop.
#[derive(Debug)]
pub struct NatsServer {
    child: Child,
    port: u16,
    // JetStream's storage directory, removed on drop.
    store: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a server, or `None` when `nats-server` is missing outside CI.
    ///
    /// # Panics
    /// Under CI ([`is_ci`]) without `nats-server`, or if the server does not start.
    pub fn start() -> Option<Self> {
        Self::launch(None)
    }

    /// Like [`NatsServer::start`], with JetStream enabled (`-js`, storage
    /// in a scratch directory).
    ///
    /// # Panics
    /// Like [`NatsServer::start`].
    pub fn start_jetstream() -> Option<Self> {
        Self::launch(Some(scratch_dir("jetstream")))
    }

    fn launch(store: Option<PathBuf>) -> Option<Self> {
        let binary = require("nats-server")?;
        // A free port can be taken between probing and binding: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&binary);
            cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
            if let Some(store) = &store {
                cmd.arg("-js").arg("-sd").arg(store);
            }
            match spawn_ready(cmd, "Server is ready") {
                Ok(child) => return Some(Self { child, port, store }),
                Err(e) => last = e,
            }
        }
        panic!("nats-server does not start: {last}");
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(store) = &self.store {
            let _ = std::fs::remove_dir_all(store);
        }
    }
}

/// A fresh, empty scratch directory under the system temp dir (removed by the
/// guard that asked for it).
fn scratch_dir(kind: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "chorus-{kind}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::ci_value_means_ci;

    #[test]
    fn any_ci_value_but_empty_false_or_zero_means_ci() {
        for value in ["true", "1", "yes", "github-actions", "TRUE"] {
            assert!(ci_value_means_ci(Some(value)), "CI={value}");
        }
        for value in [None, Some(""), Some("false"), Some("0"), Some(" ")] {
            assert!(!ci_value_means_ci(value), "CI={value:?}");
        }
    }
}
