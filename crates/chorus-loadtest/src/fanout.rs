//! The fan-out scenario and its report.

use crate::Impl;
use crate::cluster::{self, Backend, Deployment, Guard};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WARMUP: &str = "warmup";
const CHANNEL: &str = "bench";

#[derive(clap::Args, Debug)]
pub(crate) struct FanoutArgs {
    /// Subscriber counts to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    clients: Vec<usize>,
    /// Messages published per run.
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Pause between published messages, in microseconds (0: as fast as possible).
    #[arg(long, default_value_t = 1000)]
    interval_us: u64,
    /// Implementations to measure.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "hub,baseline"
    )]
    impls: Vec<Impl>,
    /// Also append the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Figures of one run.
#[derive(Debug)]
struct RunResult {
    which: Impl,
    clients: usize,
    expected: usize,
    delivered: usize,
    deliveries_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    rss_per_conn: Option<u64>,
}

fn now_nanos() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX)
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Starts the implementation under test.
fn start_server(which: Impl) -> anyhow::Result<Deployment> {
    let backend = match which {
        Impl::Chorus => Backend::Memory,
        Impl::ChorusRedis => Backend::Redis,
        Impl::ChorusNats => Backend::Nats,
        Impl::Hub | Impl::Baseline => return start_own(which),
    };
    cluster::deploy(backend)
}

/// Runs the hub or the baseline in a child process (this binary's `serve`).
fn start_own(which: Impl) -> anyhow::Result<Deployment> {
    let exe = std::env::current_exe()?;
    let name = if which == Impl::Hub {
        "hub"
    } else {
        "baseline"
    };
    let mut child = Command::new(exe)
        .args(["serve", "--impl", name])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .strip_prefix("LISTENING ")
        .ok_or_else(|| anyhow::anyhow!("server did not start: {line:?}"))?
        .trim()
        .to_owned();
    Ok(Deployment::single(guard, addr))
}

async fn connect(addr: &str, which: Impl, subscribe: bool) -> anyhow::Result<Client> {
    // Small client buffers so that 10k clients fit comfortably in the driver.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let path = if which.is_chorus() {
        "/connection/websocket"
    } else {
        "/ws"
    };
    let url = format!("ws://{addr}{path}");
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    if which.is_chorus() {
        // Centrifugo protocol: connect (and subscribe) in one frame, as SDKs do.
        let mut frame = String::from(r#"{"id":1,"connect":{"name":"loadtest"}}"#);
        if subscribe {
            frame.push_str(&format!(
                "\n{{\"id\":2,\"subscribe\":{{\"channel\":\"{CHANNEL}\"}}}}"
            ));
        }
        ws.send(Message::text(frame)).await?;
        let expected = if subscribe { 2 } else { 1 };
        let mut replies = 0;
        while replies < expected {
            let Some(msg) = ws.next().await else {
                anyhow::bail!("closed during handshake")
            };
            if let Message::Text(t) = msg? {
                anyhow::ensure!(!t.contains("\"error\""), "handshake failed: {t}");
                replies += t.split('\n').filter(|l| l.contains("\"id\":")).count();
            }
        }
    }
    Ok(ws)
}

/// Encodes one published message for the implementation's wire.
fn publish_frame(which: Impl, seq: u64, payload: &str) -> Message {
    match which {
        Impl::Chorus | Impl::ChorusRedis | Impl::ChorusNats => Message::text(format!(
            "{{\"id\":{},\"publish\":{{\"channel\":\"{CHANNEL}\",\"data\":\"{payload}\"}}}}",
            seq + 10
        )),
        Impl::Hub | Impl::Baseline => Message::text(payload.to_owned()),
    }
}

/// The application payload inside a received message: the text itself, or the
/// `data` string of a Centrifugo publication push (`None` for other replies).
fn payload_of(which: Impl, text: &str) -> Option<&str> {
    match which {
        Impl::Chorus | Impl::ChorusRedis | Impl::ChorusNats => {
            let start = text.find("\"pub\":{\"data\":\"")? + 15;
            let rest = &text[start..];
            Some(&rest[..rest.find('"')?])
        }
        Impl::Hub | Impl::Baseline => Some(text),
    }
}

/// One subscriber: waits for the warm-up marker, then records the latency of every
/// measured message until it has them all or the stream goes quiet.
async fn subscriber(
    mut ws: Client,
    which: Impl,
    expected: usize,
    warmed: Arc<AtomicUsize>,
) -> (Vec<u64>, Option<Instant>) {
    let mut latencies = Vec::with_capacity(expected);
    let mut warm = false;
    let mut last = None;
    let quiet = Duration::from_secs(5);
    while latencies.len() < expected {
        let wait = if warm {
            quiet
        } else {
            Duration::from_secs(120)
        };
        let Ok(Some(Ok(msg))) = tokio::time::timeout(wait, ws.next()).await else {
            break;
        };
        let Message::Text(text) = msg else { continue };
        if which.is_chorus() && text.as_str() == "{}" {
            // Server ping: answer with a pong.
            let _ = ws.send(Message::text("{}")).await;
            continue;
        }
        let Some(text) = payload_of(which, text.as_str()) else {
            continue;
        };
        if text == WARMUP {
            if !warm {
                warm = true;
                warmed.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        let sent: u64 = text.get(9..29).and_then(|s| s.parse().ok()).unwrap_or(0);
        latencies.push(now_nanos().saturating_sub(sent) / 1000);
        last = Some(Instant::now());
    }
    (latencies, last)
}

async fn run_one(which: Impl, clients: usize, args: &FanoutArgs) -> anyhow::Result<RunResult> {
    let server = start_server(which)?;
    let addr = server.sub_addr.clone();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_bytes(server.measured_pid);

    let warmed = Arc::new(AtomicUsize::new(0));
    let limit = Arc::new(Semaphore::new(128));
    let mut connects = Vec::with_capacity(clients);
    for _ in 0..clients {
        let addr = addr.clone();
        let limit = Arc::clone(&limit);
        connects.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            connect(&addr, which, true).await
        }));
    }
    let mut subs = Vec::with_capacity(clients);
    for c in connects {
        subs.push(c.await??);
    }
    // Let the server settle, then read its memory with every connection idle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_bytes(server.measured_pid);
    let rss_per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) / clients as u64),
        _ => None,
    };

    let tasks: Vec<_> = subs
        .into_iter()
        .map(|ws| tokio::spawn(subscriber(ws, which, args.messages, Arc::clone(&warmed))))
        .collect();

    let publisher = connect(&server.pub_addr, which, false).await?;
    let (mut sink, mut source) = publisher.split();
    // The publisher receives the broadcasts too; drain them.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = source.next().await {} });
    let warm_deadline = Instant::now() + Duration::from_secs(60);
    while warmed.load(Ordering::Relaxed) < clients {
        anyhow::ensure!(
            Instant::now() < warm_deadline,
            "only {} of {clients} clients warmed up",
            warmed.load(Ordering::Relaxed)
        );
        sink.send(publish_frame(which, 0, WARMUP)).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    for seq in 0..args.messages {
        let mut payload = format!("{seq:08} {:020} ", now_nanos());
        if payload.len() < args.size {
            payload.push_str(&"x".repeat(args.size - payload.len()));
        }
        sink.send(publish_frame(which, seq as u64, &payload))
            .await?;
        if args.interval_us > 0 {
            tokio::time::sleep(Duration::from_micros(args.interval_us)).await;
        }
    }

    let mut hist = Histogram::<u64>::new(3)?;
    let mut delivered = 0usize;
    let mut end = start;
    for t in tasks {
        let (lat, last) = t.await?;
        delivered += lat.len();
        for l in lat {
            hist.record(l.max(1))?;
        }
        if let Some(last) = last {
            end = end.max(last);
        }
    }
    drain.abort();
    drop(server);
    let secs = end.duration_since(start).as_secs_f64().max(1e-9);
    Ok(RunResult {
        which,
        clients,
        expected: clients * args.messages,
        delivered,
        deliveries_per_sec: delivered as f64 / secs,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        max_us: hist.max(),
        rss_per_conn,
    })
}

fn row(r: &RunResult) -> String {
    let name = match r.which {
        Impl::Hub => "chorus-hub",
        Impl::Baseline => "baseline (tokio-tungstenite + broadcast)",
        Impl::Chorus => "chorus server (Centrifugo protocol, JSON)",
        Impl::ChorusRedis => "chorus, 2 nodes over Redis (cross-node)",
        Impl::ChorusNats => "chorus, 2 nodes over NATS (cross-node)",
    };
    format!(
        "| {name} | {} | {}/{} | {:.0} | {:.2} | {:.2} | {:.2} | {} |",
        r.clients,
        r.delivered,
        r.expected,
        r.deliveries_per_sec,
        r.p50_us as f64 / 1000.0,
        r.p99_us as f64 / 1000.0,
        r.max_us as f64 / 1000.0,
        r.rss_per_conn
            .map_or_else(|| "n/a".into(), |b| format!("{:.1}", b as f64 / 1024.0)),
    )
}

pub(crate) async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let mut lines = vec![
        format!(
            "Fan-out: {} messages of {} bytes, one every {} µs, to N subscribers on loopback.",
            args.messages, args.size, args.interval_us
        ),
        String::new(),
        "| server | N | delivered | deliveries/s | p50 ms | p99 ms | max ms | RSS KiB/idle conn |"
            .into(),
        "| --- | --- | --- | --- | --- | --- | --- | --- |".into(),
    ];
    println!("{}", lines.join("\n"));
    let mut results = Vec::new();
    for &n in &args.clients {
        for &which in &args.impls {
            let r = run_one(which, n, &args).await?;
            let line = row(&r);
            println!("{line}");
            lines.push(line);
            results.push(r);
            // Let the kernel reap the previous run's sockets.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    lines.push(String::new());
    for &n in &args.clients {
        let find = |w| results.iter().find(|r| r.clients == n && r.which == w);
        if let (Some(c), Some(h)) = (find(Impl::Chorus), find(Impl::Hub)) {
            let line = format!(
                "Ratio at N={n}, chorus server / hub: deliveries/s {:.2}x, p99 latency {:.2}x, RSS per idle connection {:.1} KiB vs {:.1} KiB.",
                c.deliveries_per_sec / h.deliveries_per_sec,
                c.p99_us as f64 / h.p99_us.max(1) as f64,
                c.rss_per_conn.unwrap_or(0) as f64 / 1024.0,
                h.rss_per_conn.unwrap_or(0) as f64 / 1024.0,
            );
            println!("{line}");
            lines.push(line);
        }
        for cross in [Impl::ChorusRedis, Impl::ChorusNats] {
            if let (Some(x), Some(c)) = (find(cross), find(Impl::Chorus)) {
                let line = format!(
                    "Ratio at N={n}, {} / single-node chorus: deliveries/s {:.2}x, p99 latency {:.2}x.",
                    if cross == Impl::ChorusRedis {
                        "cross-node over Redis"
                    } else {
                        "cross-node over NATS"
                    },
                    x.deliveries_per_sec / c.deliveries_per_sec,
                    x.p99_us as f64 / c.p99_us.max(1) as f64,
                );
                println!("{line}");
                lines.push(line);
            }
        }
        if let (Some(h), Some(b)) = (find(Impl::Hub), find(Impl::Baseline)) {
            let line = format!(
                "Ratio at N={n}: deliveries/s {:.2}x, p99 latency {:.2}x (lower is better), memory per connection {}.",
                h.deliveries_per_sec / b.deliveries_per_sec,
                h.p99_us as f64 / b.p99_us.max(1) as f64,
                match (h.rss_per_conn, b.rss_per_conn) {
                    (Some(hm), Some(bm)) if hm > 0 =>
                        format!("{:.2}x smaller", bm as f64 / hm as f64),
                    _ => "n/a".into(),
                }
            );
            println!("{line}");
            lines.push(line);
        }
    }
    if let Some(path) = &args.out {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{}\n", lines.join("\n"))?;
    }
    Ok(())
}
