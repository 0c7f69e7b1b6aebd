//! The soak report (markdown) and its verdict.

use super::faults::Event;
use super::stats::Stats;
use super::{Sample, SoakArgs};
use std::fmt::Write;
use std::time::Duration;

pub(crate) struct Outcome<'a> {
    pub(crate) args: &'a SoakArgs,
    pub(crate) ramp: Duration,
    pub(crate) samples: &'a [Sample],
    pub(crate) events: &'a [Event],
    pub(crate) fds_before: &'a [Option<usize>],
    pub(crate) fds_after: &'a [Option<usize>],
    pub(crate) stats: &'a Stats,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "gone".to_owned(), |v| v.to_string())
}

impl Outcome<'_> {
    /// Node 0's RSS after warm-up (the first sample at or after a fifth of the
    /// duration, at most 60 s in), at the end, and its maximum after warm-up.
    fn rss_trend(&self) -> Option<(f64, f64, f64)> {
        let warm = Duration::from_secs((self.args.duration / 5).min(60));
        let after: Vec<u64> = self
            .samples
            .iter()
            .filter(|s| s.elapsed >= warm)
            .filter_map(|s| s.nodes.first().copied().flatten().map(|(rss, _)| rss))
            .collect();
        let first = *after.first()?;
        let last = *after.last()?;
        let max = after.iter().copied().max()?;
        Some((mib(first), mib(last), mib(max)))
    }

    pub(crate) fn markdown(&self) -> String {
        let a = self.args;
        let s = self.stats;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Soak: {:?} engine, {} connections over {} channels, {} publications/s for {} s, mean connection lifetime {} s, faults: {}. Ramp: {:.1} s.",
            a.engine,
            a.connections,
            a.channels,
            a.rate,
            a.duration,
            a.mean_lifetime,
            if a.faults { "yes" } else { "none" },
            self.ramp.as_secs_f64()
        );
        let _ = writeln!(out);
        let nodes = self.samples.first().map_or(1, |s| s.nodes.len());
        let mut header = "| elapsed s | open connections |".to_owned();
        let mut rule = "| --- | --- |".to_owned();
        for i in 0..nodes {
            let _ = write!(header, " node {i} RSS MiB | node {i} fds |");
            rule.push_str(" --- | --- |");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for sample in self.samples {
            let _ = write!(
                out,
                "| {:.0} | {} |",
                sample.elapsed.as_secs_f64(),
                sample.open
            );
            for node in &sample.nodes {
                match node {
                    Some((rss, fds)) => {
                        let _ = write!(out, " {:.1} | {fds} |", mib(*rss));
                    }
                    None => out.push_str(" gone | gone |"),
                }
            }
            out.push('\n');
        }
        if !self.events.is_empty() {
            let _ = writeln!(out, "\nFaults injected:");
            for e in self.events {
                let _ = writeln!(out, "- at {:.1} s: {}", e.at.as_secs_f64(), e.what);
            }
        }
        let (p50, p99, max) = s.latency_ms();
        let g = Stats::get;
        let rows = [
            (
                "publications acknowledged / refused or unanswered",
                format!("{} / {}", g(&s.published), g(&s.publish_errors)),
            ),
            ("deliveries in order, live", g(&s.delivered).to_string()),
            (
                "**publications lost** (history held them, client never got them)",
                format!("**{}**", g(&s.lost)),
            ),
            (
                "**publications duplicated**",
                format!("**{}**", g(&s.duplicates)),
            ),
            (
                "sessions established / connect failures",
                format!("{} / {}", g(&s.connects), g(&s.connect_errors)),
            ),
            (
                "commands refused (client reconnects)",
                g(&s.command_errors).to_string(),
            ),
            (
                "disconnects: churn / by server or network",
                format!("{} / {}", g(&s.churn_closes), g(&s.server_closes)),
            ),
            (
                "server unsubscribes (resubscribed)",
                g(&s.server_unsubscribes).to_string(),
            ),
            (
                "live offset gaps (repaired by recovery)",
                g(&s.live_gaps).to_string(),
            ),
            (
                "recoveries: attempted / recovered / publications recovered",
                format!(
                    "{} / {} / {}",
                    g(&s.recover_attempts),
                    g(&s.recovered),
                    g(&s.recovered_pubs)
                ),
            ),
            (
                "recoveries into a new epoch (history gone with Redis)",
                g(&s.epoch_changes).to_string(),
            ),
            (
                "recoveries refused in the same epoch / publications not recovered",
                format!("{} / {}", g(&s.not_recovered), g(&s.not_recovered_pubs)),
            ),
            (
                "clients checked against history at the end / not subscribed at the end",
                format!("{} / {}", g(&s.final_checked), g(&s.final_unchecked)),
            ),
            (
                "publish → deliver ms: p50 / p99 / max",
                format!("{p50:.2} / {p99:.2} / {max:.2}"),
            ),
            (
                "node 0 RSS MiB after warm-up / at the end / max after warm-up",
                self.rss_trend().map_or_else(
                    || "n/a".to_owned(),
                    |(w, e, m)| format!("{w:.1} / {e:.1} / {m:.1}"),
                ),
            ),
            (
                "fds per node before clients / after they closed",
                self.fds_before
                    .iter()
                    .zip(self.fds_after)
                    .map(|(b, a)| format!("{} → {}", opt(*b), opt(*a)))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ];
        let _ = writeln!(out, "\n| figure | value |\n| --- | --- |");
        for (name, value) in rows {
            let _ = writeln!(out, "| {name} | {value} |");
        }
        let _ = write!(
            out,
            "\nVerdict: {}",
            if self.verdict().is_ok() {
                "PASS (nothing lost or duplicated)"
            } else {
                "FAIL"
            }
        );
        out
    }

    /// Fails when a publication was lost or duplicated, or when clients could
    /// not check their position at the end.
    pub(crate) fn verdict(&self) -> anyhow::Result<()> {
        let s = self.stats;
        anyhow::ensure!(
            Stats::get(&s.lost) == 0 && Stats::get(&s.duplicates) == 0,
            "soak: {} publications lost, {} duplicated",
            Stats::get(&s.lost),
            Stats::get(&s.duplicates)
        );
        anyhow::ensure!(
            Stats::get(&s.final_checked) == self.args.connections as u64,
            "soak: only {} of {} clients checked their position at the end",
            Stats::get(&s.final_checked),
            self.args.connections
        );
        anyhow::ensure!(Stats::get(&s.published) > 0, "soak: nothing was published");
        Ok(())
    }
}
