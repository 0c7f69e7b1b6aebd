//! `chorus-loadtest`: drives real WebSocket connections on loopback and measures
//! fan-out throughput, delivery latency and memory per idle connection.
//!
//! ```text
//! chorus-loadtest fanout --clients 1000,10000 --messages 200 --size 100
//! chorus-loadtest soak --engine redis --faults --connections 1000 --duration 60
//! ```
//!
//! Each server under test runs in its own child process (this binary's hidden
//! `serve` command), so the figures of the server and of the clients driving it are
//! not mixed up, and RSS can be read from `/proc`. Every run measures the chorus hub
//! and a minimal hand-rolled tokio-tungstenite broadcast loop (the baseline) under the
//! same load, and reports their ratio.

mod cluster;
mod fanout;
mod servers;
mod soak;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Load tool for chorus: fan-out benchmarks and soak runs over real connections"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A server implementation to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Impl {
    /// `chorus_hub::Hub` on plain hyper, broadcasting each received message.
    Hub,
    /// A hand-rolled tokio-tungstenite server: one task per connection and a
    /// `tokio::sync::broadcast` channel.
    Baseline,
    /// The `chorus` server binary (built next to this tool), driven by clients that
    /// speak the Centrifugo protocol (JSON): connect, subscribe, publish.
    Chorus,
    /// Two `chorus` nodes sharing a Redis engine (a `redis-server` started by this
    /// tool): subscribers on one node, the publisher on the other.
    ChorusRedis,
    /// Two `chorus` nodes sharing a NATS broker (a `nats-server` started by this
    /// tool): subscribers on one node, the publisher on the other.
    ChorusNats,
}

impl Impl {
    /// Whether this is the chorus server (Centrifugo protocol clients).
    pub(crate) fn is_chorus(self) -> bool {
        matches!(self, Self::Chorus | Self::ChorusRedis | Self::ChorusNats)
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fan-out: N subscribers, one publisher; every published message is broadcast
    /// to all subscribers.
    Fanout(fanout::FanoutArgs),
    /// Soak: thousands of churning connections that recover from history while
    /// publications flow, optionally with Redis and node faults; reports lost and
    /// duplicated publications, RSS over time, descriptors and latency.
    Soak(soak::SoakArgs),
    /// Runs one server implementation and prints `LISTENING <addr>` (used by `fanout`).
    #[command(hide = true)]
    Serve {
        #[arg(long, value_enum)]
        r#impl: Impl,
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Fanout(args) => rt.block_on(fanout::run(args)),
        Command::Soak(args) => rt.block_on(soak::run(args)),
        Command::Serve { r#impl, addr } => rt.block_on(servers::serve(r#impl, &addr)),
    }
}
