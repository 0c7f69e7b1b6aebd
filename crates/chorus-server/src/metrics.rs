//! Prometheus metrics (`prometheus.enabled`, served at `prometheus.handler_prefix`).
//!
//! Metric names follow Centrifugo (namespace `centrifugo`) where Centrifugo has
//! the metric, so its dashboards keep working:
//!
//! | Metric | Type | Labels |
//! | --- | --- | --- |
//! | `centrifugo_node_num_clients`, `_num_users`, `_num_subscriptions`, `_num_channels` | gauge | |
//! | `centrifugo_node_build` | gauge (1) | `version` |
//! | `centrifugo_node_messages_sent_count`, `_messages_received_count` | counter | `type` (publication, join, leave) |
//! | `centrifugo_client_command_duration_seconds` | histogram | `method` |
//! | `centrifugo_client_num_reply_errors` | counter | `method`, `code` |
//! | `centrifugo_client_num_server_disconnects` | counter | `code`, `reason` |
//! | `centrifugo_transport_connect_count` | counter | `transport` |
//! | `centrifugo_transport_messages_sent`, `_sent_size`, `_received`, `_received_size` | counter | `transport` |
//! | `centrifugo_api_command_duration_seconds` | histogram | `protocol`, `method` |
//!
//! Chorus additions: `centrifugo_broker_publish_duration_seconds` (histogram),
//! `centrifugo_client_num_rate_limited_commands` (counter),
//! `process_resident_memory_bytes` and `process_cpu_seconds_total` (from `/proc`,
//! Linux only). Centrifugo exports command and API durations as summaries; Chorus
//! uses histograms (aggregatable across nodes).
//!
//! The engine counts with plain atomics ([`chorus_node::metrics`]); this module
//! turns a snapshot of them ([`chorus_node::metrics::MetricsSnapshot`]) into
//! metric families at scrape time, so nothing is counted twice and the engine
//! has no Prometheus dependency.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chorus_node::Node;
use chorus_node::metrics::{DURATION_BUCKETS, HistogramSnapshot, TransportTotals};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{HistogramOpts, HistogramVec, Registry, TextEncoder};

/// Server-side metrics (the API durations) plus the engine's counters.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    registry: Registry,
    api_duration: HistogramVec,
}

/// Why metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl ServerMetrics {
    /// Creates the registry and the server's own metrics.
    ///
    /// # Errors
    /// Invalid metric definitions (a bug).
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let api_duration = HistogramVec::new(
            HistogramOpts::new("command_duration_seconds", "Server API command duration.")
                .namespace("centrifugo")
                .subsystem("api")
                .buckets(DURATION_BUCKETS.to_vec()),
            &["protocol", "method"],
        )?;
        registry.register(Box::new(api_duration.clone()))?;
        Ok(Self {
            registry,
            api_duration,
        })
    }

    /// Adds metrics collected elsewhere (the consumers' counters).
    ///
    /// # Errors
    /// A metric name that is already registered.
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), MetricsError> {
        Ok(self.registry.register(collector)?)
    }

    /// Records one server API call.
    pub fn observe_api(&self, protocol: &str, method: &str, took: std::time::Duration) {
        self.api_duration
            .with_label_values(&[protocol, method])
            .observe(took.as_secs_f64());
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self, node: &Node) -> String {
        let mut families = self.registry.gather();
        families.extend(engine_families(node));
        families.extend(process_families());
        families.retain(|f| !f.get_metric().is_empty());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_default()
    }
}

/// `GET /metrics`.
pub async fn handler(State(state): State<crate::state::AppState>) -> Response {
    let body = state.metrics.render(&state.node);
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response()
}

/// Middleware timing server API calls (`method` is the last path segment; calls
/// answered 404 count as `unknown` so that bad paths cannot grow the label set).
pub async fn track_api(State(metrics): State<ServerMetrics>, req: Request, next: Next) -> Response {
    let method = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let method = if response.status() == StatusCode::NOT_FOUND {
        "unknown"
    } else if method.is_empty() || method == "api" {
        "batch"
    } else {
        method.as_str()
    };
    metrics.observe_api("http", method, started.elapsed());
    response
}

/// Label pairs, sorted by name as the Prometheus registry does.
fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    let mut pairs = pairs.to_vec();
    pairs.sort_by_key(|(n, _)| *n);
    pairs
        .iter()
        .map(|(n, v)| {
            let mut l = LabelPair::default();
            l.set_name((*n).to_owned());
            l.set_value((*v).to_owned());
            l
        })
        .collect()
}

#[allow(clippy::cast_precision_loss)]
fn counter(pairs: &[(&str, &str)], value: u64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value as f64);
    let mut m = Metric::from_label(labels(pairs));
    m.set_counter(c);
    m
}

#[allow(clippy::cast_precision_loss)]
fn gauge(pairs: &[(&str, &str)], value: u64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value as f64);
    let mut m = Metric::from_label(labels(pairs));
    m.set_gauge(g);
    m
}

fn histogram(pairs: &[(&str, &str)], s: &HistogramSnapshot) -> Metric {
    let mut h = Histogram::default();
    h.set_sample_count(s.count);
    h.set_sample_sum(s.sum_seconds);
    h.set_bucket(
        DURATION_BUCKETS
            .iter()
            .zip(&s.cumulative)
            .map(|(&bound, &n)| {
                let mut b = Bucket::default();
                b.set_upper_bound(bound);
                b.set_cumulative_count(n);
                b
            })
            .collect(),
    );
    let mut m = Metric::from_label(labels(pairs));
    m.set_histogram(h);
    m
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    f.set_help(help.to_owned());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn engine_families(node: &Node) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE, HISTOGRAM};
    let info = node.info();
    let m = node.metrics();
    let mut out = vec![
        family(
            "centrifugo_node_num_clients",
            "Number of clients connected.",
            GAUGE,
            vec![gauge(&[], info.num_clients.into())],
        ),
        family(
            "centrifugo_node_num_users",
            "Number of unique users connected.",
            GAUGE,
            vec![gauge(&[], info.num_users.into())],
        ),
        family(
            "centrifugo_node_num_subscriptions",
            "Number of subscriptions.",
            GAUGE,
            vec![gauge(&[], info.num_subs.into())],
        ),
        family(
            "centrifugo_node_num_channels",
            "Number of channels with one or more subscribers.",
            GAUGE,
            vec![gauge(&[], info.num_channels.into())],
        ),
        family(
            "centrifugo_node_build",
            "Node build info.",
            GAUGE,
            vec![gauge(&[("version", info.version.as_str())], 1)],
        ),
    ];
    for (name, help, counts) in [
        (
            "centrifugo_node_messages_sent_count",
            "Number of messages sent by node to broker.",
            &m.messages_sent,
        ),
        (
            "centrifugo_node_messages_received_count",
            "Number of messages received from broker.",
            &m.messages_received,
        ),
    ] {
        let metrics = vec![
            counter(&[("type", "publication")], counts.publication),
            counter(&[("type", "join")], counts.join),
            counter(&[("type", "leave")], counts.leave),
        ];
        out.push(family(name, help, COUNTER, metrics));
    }
    let commands = m
        .commands
        .iter()
        .map(|(method, s)| histogram(&[("method", method.name())], s))
        .collect();
    out.push(family(
        "centrifugo_client_command_duration_seconds",
        "Client command duration.",
        HISTOGRAM,
        commands,
    ));
    let errors = m
        .reply_errors
        .iter()
        .map(|((method, code), &n)| {
            counter(&[("method", method.name()), ("code", &code.to_string())], n)
        })
        .collect();
    out.push(family(
        "centrifugo_client_num_reply_errors",
        "Number of errors in replies sent to clients.",
        COUNTER,
        errors,
    ));
    let disconnects = m
        .server_disconnects
        .iter()
        .map(|(code, (reason, n))| counter(&[("code", &code.to_string()), ("reason", reason)], *n))
        .collect();
    out.push(family(
        "centrifugo_client_num_server_disconnects",
        "Number of server initiated disconnects.",
        COUNTER,
        disconnects,
    ));
    out.push(family(
        "centrifugo_client_num_rate_limited_commands",
        "Number of client commands refused by a rate limit.",
        COUNTER,
        vec![counter(&[], m.rate_limited)],
    ));
    out.push(family(
        "centrifugo_broker_publish_duration_seconds",
        "Duration of publishes to the broker.",
        HISTOGRAM,
        vec![histogram(&[], &m.broker_publish)],
    ));
    let per_transport = |name: &str, help: &str, get: fn(&TransportTotals) -> u64| {
        let metrics = m
            .transports
            .iter()
            .map(|t| counter(&[("transport", t.name)], get(t)))
            .collect();
        family(name, help, COUNTER, metrics)
    };
    out.push(per_transport(
        "centrifugo_transport_connect_count",
        "Number of connections to a transport.",
        |t| t.connects,
    ));
    out.push(per_transport(
        "centrifugo_transport_messages_sent",
        "Number of messages sent to client connections over a transport.",
        |t| t.messages_sent,
    ));
    out.push(per_transport(
        "centrifugo_transport_messages_sent_size",
        "Size in bytes of messages sent to client connections (encoded, before framing and compression).",
        |t| t.bytes_sent,
    ));
    out.push(per_transport(
        "centrifugo_transport_messages_received",
        "Number of frames received from client connections over a transport.",
        |t| t.messages_received,
    ));
    out.push(per_transport(
        "centrifugo_transport_messages_received_size",
        "Size in bytes of frames received from client connections.",
        |t| t.bytes_received,
    ));
    out
}

/// CPU time and resident memory of this process, read from `/proc/self/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub rss_bytes: u64,
}

/// Reads [`ProcessStats`]; `None` where `/proc` is not available.
pub fn process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14
    // and 15 of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    let cpu_ticks = ticks(11)? + ticks(12)?;
    // VmRSS is in kB, so no page-size assumption is needed.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    // CPU times are in USER_HZ, 100 on every Linux ABI.
    #[allow(clippy::cast_precision_loss)]
    Some(ProcessStats {
        cpu_seconds: cpu_ticks as f64 / 100.0,
        rss_bytes: rss_kb * 1024,
    })
}

fn process_families() -> Vec<MetricFamily> {
    let Some(p) = process_stats() else {
        return Vec::new();
    };
    let mut cpu = Counter::default();
    cpu.set_value(p.cpu_seconds);
    let mut cpu_metric = Metric::default();
    cpu_metric.set_counter(cpu);
    vec![
        family(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            MetricType::COUNTER,
            vec![cpu_metric],
        ),
        family(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            MetricType::GAUGE,
            vec![gauge(&[], p.rss_bytes)],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_engine_gauges_and_api_histogram() {
        let m = ServerMetrics::new().unwrap();
        m.observe_api("http", "publish", std::time::Duration::from_millis(2));
        let node = Node::builder(chorus_node::NodeConfig::default()).build();
        let text = m.render(&node);
        assert!(text.contains("centrifugo_node_num_clients 0"), "{text}");
        assert!(
            text.contains(
                "centrifugo_api_command_duration_seconds_count{method=\"publish\",protocol=\"http\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("centrifugo_node_messages_sent_count{type=\"join\"} 0"));
    }

    #[test]
    fn reads_own_process_stats() {
        let p = process_stats().expect("/proc is available on Linux");
        assert!(p.rss_bytes > 0);
    }
}
