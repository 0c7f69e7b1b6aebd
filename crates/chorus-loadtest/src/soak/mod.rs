//! The soak scenario: many connections that churn (disconnect, come back and
//! resubscribe with recovery from history) while publications flow for a long
//! time, on one memory-engine node or on two nodes sharing a Redis engine,
//! optionally with faults injected during the load (Redis killed and
//! restarted, Redis frozen and thawed, one of the two nodes killed).
//!
//! ```text
//! chorus-loadtest soak --engine redis --faults --connections 1000 --duration 60
//! ```
//!
//! Every client checks the offsets of its channel's stream, so the report
//! counts publications lost or duplicated for recovering clients exactly; it
//! also samples the nodes' RSS and open descriptors, and measures publish →
//! deliver latency. The run fails (non-zero exit) when anything was lost or
//! duplicated.

mod client;
mod deploy;
mod faults;
mod publisher;
mod report;
mod stats;

use deploy::SoakDeployment;
use stats::Stats;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, watch};

/// Engine of the nodes under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SoakEngine {
    /// One node, memory engine.
    Memory,
    /// Two nodes sharing a `redis-server` started by this tool; clients are
    /// spread over both, the publisher uses the second.
    Redis,
}

#[derive(clap::Args, Debug)]
pub(crate) struct SoakArgs {
    /// Client connections, each subscribed to one channel.
    #[arg(long, default_value_t = 15_000)]
    connections: usize,
    /// Seconds of publishing and churn after every connection is up.
    #[arg(long, default_value_t = 600)]
    duration: u64,
    #[arg(long, value_enum, default_value = "memory")]
    engine: SoakEngine,
    /// Channels the connections are spread over.
    #[arg(long, default_value_t = 100)]
    channels: usize,
    /// Publications per second, round-robin over the channels.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    /// Mean connection lifetime in seconds (exponentially distributed) before
    /// a client disconnects and comes back 0.2–2 s later.
    #[arg(long, default_value_t = 60)]
    mean_lifetime: u64,
    /// Inject faults during the load (needs `--engine redis`): Redis killed
    /// with SIGKILL and restarted at 25 % of the duration, frozen with SIGSTOP
    /// for 6 s at 50 %, the second node killed at 75 %.
    #[arg(long)]
    faults: bool,
    /// Seconds between samples of RSS and descriptors.
    #[arg(long, default_value_t = 10)]
    sample_every: u64,
    /// Also append the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Phases of a run, broadcast to every client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connections are being opened: no churn yet.
    Ramp,
    /// Publishing, with churn.
    Run,
    /// Publishing stopped: clients reconnect if they are away, no churn.
    Settle,
    /// Clients compare their position with history and close.
    Finish,
}

/// What every client shares.
pub(crate) struct Ctx {
    pub(crate) addrs: Vec<String>,
    pub(crate) channels: usize,
    pub(crate) rate: u64,
    pub(crate) mean_lifetime: Duration,
    /// Bounds concurrent first connects during the ramp.
    pub(crate) ramp: Semaphore,
    pub(crate) stats: Stats,
}

pub(crate) fn now_nanos() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    )
    .unwrap_or(u64::MAX)
}

/// One sample of the nodes' resources.
pub(crate) struct Sample {
    pub(crate) elapsed: Duration,
    pub(crate) open: i64,
    /// Per node: RSS bytes and descriptors (`None` once killed).
    pub(crate) nodes: Vec<Option<(u64, usize)>>,
}

fn sample(dep: &Mutex<SoakDeployment>, ctx: &Ctx, start: Instant) -> Sample {
    let pids = dep.lock().unwrap_or_else(|e| e.into_inner()).node_pids();
    Sample {
        elapsed: start.elapsed(),
        open: ctx.stats.open.load(std::sync::atomic::Ordering::Relaxed),
        nodes: pids
            .into_iter()
            .map(|pid| {
                let pid = pid?;
                Some((stats::rss_bytes(pid)?, stats::fd_count(pid)?))
            })
            .collect(),
    }
}

pub(crate) async fn run(args: SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.faults || args.engine == SoakEngine::Redis,
        "--faults needs --engine redis (the faults are Redis and a second node)"
    );
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(args.channels > 0, "--channels must be at least 1");
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!(args.duration > 0, "--duration must be at least 1");
    anyhow::ensure!(args.sample_every > 0, "--sample-every must be at least 1");

    let deployment = SoakDeployment::start(args.engine)?;
    let addrs = deployment.addrs.clone();
    let dep = Arc::new(Mutex::new(deployment));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fds_before: Vec<Option<usize>> = dep
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .node_pids()
        .into_iter()
        .map(|pid| pid.and_then(stats::fd_count))
        .collect();

    let ctx = Arc::new(Ctx {
        addrs,
        channels: args.channels,
        rate: args.rate,
        mean_lifetime: Duration::from_secs(args.mean_lifetime.max(1)),
        ramp: Semaphore::new(128),
        stats: Stats::new(),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Ramp);
    let ramp_start = Instant::now();
    let clients: Vec<_> = (0..args.connections)
        .map(|i| tokio::spawn(client::run(i, Arc::clone(&ctx), phase_rx.clone())))
        .collect();
    let ramp_deadline = ramp_start + Duration::from_secs(60 + args.connections as u64 / 50);
    while Stats::get(&ctx.stats.first_subscribed) < args.connections as u64 {
        anyhow::ensure!(
            Instant::now() < ramp_deadline,
            "only {} of {} clients subscribed during the ramp",
            Stats::get(&ctx.stats.first_subscribed),
            args.connections
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ramp = ramp_start.elapsed();
    eprintln!(
        "soak: {} connections subscribed in {:.1} s, running for {} s",
        args.connections,
        ramp.as_secs_f64(),
        args.duration
    );

    let start = Instant::now();
    let until = start + Duration::from_secs(args.duration);
    let _ = phase_tx.send(Phase::Run);
    let sampler = {
        let (dep, ctx) = (Arc::clone(&dep), Arc::clone(&ctx));
        let every = Duration::from_secs(args.sample_every);
        tokio::spawn(async move {
            let mut samples = vec![sample(&dep, &ctx, start)];
            let mut ticks = tokio::time::interval_at((start + every).into(), every);
            while Instant::now() < until {
                ticks.tick().await;
                let s = sample(&dep, &ctx, start);
                eprintln!(
                    "soak: {:>5.0} s, {} open, published {}, delivered {}, lost {}, duplicated {}",
                    s.elapsed.as_secs_f64(),
                    s.open,
                    Stats::get(&ctx.stats.published),
                    Stats::get(&ctx.stats.delivered),
                    Stats::get(&ctx.stats.lost),
                    Stats::get(&ctx.stats.duplicates),
                );
                samples.push(s);
            }
            samples
        })
    };
    let fault_log = if args.faults {
        let dep = Arc::clone(&dep);
        let duration = Duration::from_secs(args.duration);
        Some(tokio::task::spawn_blocking(move || {
            faults::run(&dep, start, duration)
        }))
    } else {
        None
    };
    publisher::run(&ctx, until).await;
    let samples = sampler.await?;
    let events = match fault_log {
        Some(handle) => handle.await??,
        None => Vec::new(),
    };

    // Let clients that are away come back and recover (at most a minute),
    // then check the tails.
    let _ = phase_tx.send(Phase::Settle);
    let settle_by = Instant::now() + Duration::from_secs(60);
    while ctx
        .stats
        .subscribed
        .load(std::sync::atomic::Ordering::Relaxed)
        < args.connections as i64
        && Instant::now() < settle_by
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = phase_tx.send(Phase::Finish);
    for c in clients {
        c.await?;
    }
    // Descriptors after the clients closed: wait (at most 30 s) until each
    // node is back to its count before the clients, or stops changing.
    let count_fds = || -> Vec<Option<usize>> {
        dep.lock()
            .unwrap_or_else(|e| e.into_inner())
            .node_pids()
            .into_iter()
            .map(|pid| pid.and_then(stats::fd_count))
            .collect()
    };
    let fds_by = Instant::now() + Duration::from_secs(30);
    let mut fds_after = count_fds();
    let mut stable = 0;
    while Instant::now() < fds_by && stable < 6 {
        let back = fds_after
            .iter()
            .zip(&fds_before)
            .all(|(a, b)| a.is_none() || a <= b);
        if back {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let next = count_fds();
        stable = if next == fds_after { stable + 1 } else { 0 };
        fds_after = next;
    }
    drop(dep);

    let outcome = report::Outcome {
        args: &args,
        ramp,
        samples: &samples,
        events: &events,
        fds_before: &fds_before,
        fds_after: &fds_after,
        stats: &ctx.stats,
    };
    let text = outcome.markdown();
    println!("{text}");
    if let Some(path) = &args.out {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(f, "{text}\n")?;
    }
    outcome.verdict()
}
