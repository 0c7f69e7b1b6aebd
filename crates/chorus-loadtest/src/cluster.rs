//! Processes under test: the `chorus` binary on one node, or on two nodes that
//! share a Redis engine or a NATS broker (cross-node fan-out), plus the
//! `redis-server` / `nats-server` they need. Every process is a child of this
//! tool, killed when its guard drops.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How chorus nodes share state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One node, memory engine.
    Memory,
    /// Two nodes, Redis engine (`engine.type: redis`).
    Redis,
    /// Two nodes, NATS broker (`broker.type: nats`).
    Nats,
}

/// A running deployment: where subscribers and the publisher connect, and the
/// process whose memory is measured (the subscribers' node).
pub(crate) struct Deployment {
    pub(crate) sub_addr: String,
    pub(crate) pub_addr: String,
    pub(crate) measured_pid: u32,
    // Dropped in reverse order: nodes first, then the service.
    _nodes: Vec<Guard>,
    _service: Option<Guard>,
}

impl Deployment {
    /// One process serving both roles.
    pub(crate) fn single(process: Guard, addr: String) -> Self {
        Self {
            sub_addr: addr.clone(),
            pub_addr: addr,
            measured_pid: process.0.id(),
            _nodes: vec![process],
            _service: None,
        }
    }
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn wait_listening(addr: &str, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn spawn_service(backend: Backend) -> anyhow::Result<Option<(Guard, String)>> {
    let port = free_port()?;
    let (program, args, url) = match backend {
        Backend::Memory => return Ok(None),
        Backend::Redis => (
            "redis-server",
            vec![
                "--port".to_owned(),
                port.to_string(),
                "--bind".to_owned(),
                "127.0.0.1".to_owned(),
                "--save".to_owned(),
                String::new(),
                "--appendonly".to_owned(),
                "no".to_owned(),
            ],
            format!("redis://127.0.0.1:{port}"),
        ),
        Backend::Nats => (
            "nats-server",
            vec![
                "-a".to_owned(),
                "127.0.0.1".to_owned(),
                "-p".to_owned(),
                port.to_string(),
            ],
            format!("nats://127.0.0.1:{port}"),
        ),
    };
    // Debian installs nats-server to /usr/sbin, which is not on every PATH.
    let sbin = format!("/usr/sbin/{program}");
    let program_path = if std::path::Path::new(&sbin).exists() {
        sbin.as_str()
    } else {
        program
    };
    let child = Command::new(program_path)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {program} (is it installed?): {e}"))?;
    let guard = Guard(child);
    wait_listening(&format!("127.0.0.1:{port}"), program)?;
    Ok(Some((guard, url)))
}

fn config_for(backend: Backend, url: &str) -> String {
    let base =
        r#""client": {"insecure": true, "allowed_origins": ["*"]}, "log": {"level": "warn"}"#;
    match backend {
        Backend::Memory => format!("{{{base}}}"),
        Backend::Redis => {
            format!(
                r#"{{{base}, "engine": {{"type": "redis", "redis": {{"address": ["{url}"]}}}}}}"#
            )
        }
        Backend::Nats => format!(
            r#"{{{base}, "broker": {{"enabled": true, "type": "nats", "nats": {{"url": "{url}"}}}}}}"#
        ),
    }
}

pub(crate) fn spawn_node(config: &str, index: usize) -> anyhow::Result<(Guard, String)> {
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("chorus");
    anyhow::ensure!(
        bin.exists(),
        "{} not found: build it first (cargo build --release -p chorus-server)",
        bin.display()
    );
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("chorus-loadtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("node-{index}.json"));
    std::fs::write(&path, config)?;
    let child = Command::new(bin)
        .args([
            "-c",
            &path.display().to_string(),
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let guard = Guard(child);
    let addr = format!("127.0.0.1:{port}");
    wait_listening(&addr, "chorus")?;
    Ok((guard, addr))
}

/// Starts the service (if any) and the chorus nodes: one for `Memory`, two for
/// the shared backends (subscribers on the first, the publisher on the second).
pub(crate) fn deploy(backend: Backend) -> anyhow::Result<Deployment> {
    let service = spawn_service(backend)?;
    let url = service.as_ref().map_or("", |(_, url)| url.as_str());
    let config = config_for(backend, url);
    let count = if backend == Backend::Memory { 1 } else { 2 };
    let mut nodes = Vec::with_capacity(count);
    let mut addrs = Vec::with_capacity(count);
    for i in 0..count {
        let (guard, addr) = spawn_node(&config, i)?;
        nodes.push(guard);
        addrs.push(addr);
    }
    let measured_pid = nodes[0].0.id();
    Ok(Deployment {
        sub_addr: addrs[0].clone(),
        pub_addr: addrs[addrs.len() - 1].clone(),
        measured_pid,
        _nodes: nodes,
        _service: service.map(|(guard, _)| guard),
    })
}
