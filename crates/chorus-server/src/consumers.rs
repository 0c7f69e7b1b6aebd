//! Runs the configured `consumers`: every command they read is executed by
//! the same code as a request to `/api/<method>` ([`crate::api::ApiExecutor`]),
//! and their counters are exported as `centrifugo_consumers_processed_total`,
//! `centrifugo_consumers_errors_total` (Centrifugo's names) and
//! `centrifugo_consumers_lag` (Chorus, where the source reports it), labelled
//! `consumer_name`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chorus_consumers::{
    CancellationToken, ConsumerMetrics, DispatchError, Dispatcher, INTERNAL_ERROR_CODE,
    RunningConsumers,
};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::api::{ApiExecutor, ApiMethod as Method, CallError, call_json};
use crate::server::ServeError;
use crate::state::AppState;

/// Centrifugo's code for a request that does not decode.
const BAD_REQUEST_CODE: u32 = 107;
/// Centrifugo's code for an unknown method.
const METHOD_NOT_FOUND_CODE: u32 = 104;

/// Executes consumed commands through the HTTP API's executor.
struct ApiDispatcher {
    executor: ApiExecutor,
}

#[async_trait]
impl Dispatcher for ApiDispatcher {
    async fn dispatch(&self, method: &str, payload: &str) -> Result<(), DispatchError> {
        let Some(m) = Method::from_name(method) else {
            return Err(DispatchError::new(
                METHOD_NOT_FOUND_CODE,
                "method not found",
            ));
        };
        match call_json(&self.executor, m, payload.as_bytes()).await {
            Ok(result) if m == Method::Broadcast => broadcast_outcome(result.get()),
            Ok(_) => Ok(()),
            Err(CallError::Decode) => Err(DispatchError::new(BAD_REQUEST_CODE, "bad request")),
            Err(CallError::Api(e)) => Err(DispatchError::new(e.code(), e.to_string())),
        }
    }
}

/// A broadcast succeeds per channel: an internal error on any channel makes
/// the whole command retryable (channels that succeeded get it again: at
/// least once).
fn broadcast_outcome(result: &str) -> Result<(), DispatchError> {
    let value: serde_json::Value = serde_json::from_str(result).unwrap_or_default();
    let internal = value["responses"].as_array().is_some_and(|responses| {
        responses
            .iter()
            .any(|r| r["error"]["code"].as_u64() == Some(u64::from(INTERNAL_ERROR_CODE)))
    });
    if internal {
        Err(DispatchError::new(
            INTERNAL_ERROR_CODE,
            "broadcast failed on a channel",
        ))
    } else {
        Ok(())
    }
}

/// Starts the enabled consumers of `state`'s configuration (`None` when
/// there are none) and exports their counters.
///
/// # Errors
/// [`ServeError::Config`] when a consumer cannot start (its source does not
/// answer, an option is unusable), naming the consumer and the option.
pub async fn start(state: &AppState) -> Result<Option<RunningConsumers>, ServeError> {
    let specs = crate::config::consumer_specs(&state.config.consumers, &state.node.info().name);
    if specs.is_empty() {
        return Ok(None);
    }
    let dispatcher = Arc::new(ApiDispatcher {
        executor: ApiExecutor::new(state.node.clone()),
    });
    let running = chorus_consumers::start(specs, dispatcher, CancellationToken::new())
        .await
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let collector = ConsumerCollector::new(running.metrics().to_vec())
        .map_err(|e| ServeError::Config(e.to_string()))?;
    state
        .metrics
        .register(Box::new(collector))
        .map_err(|e| ServeError::Config(e.to_string()))?;
    Ok(Some(running))
}

/// Turns the consumers' atomics into metric families at scrape time.
struct ConsumerCollector {
    consumers: Vec<Arc<ConsumerMetrics>>,
    descs: Vec<Desc>,
}

const PROCESSED: &str = "centrifugo_consumers_processed_total";
const ERRORS: &str = "centrifugo_consumers_errors_total";
const LAG: &str = "centrifugo_consumers_lag";

impl ConsumerCollector {
    fn new(consumers: Vec<Arc<ConsumerMetrics>>) -> prometheus::Result<Self> {
        let desc = |name: &str, help: &str| {
            Desc::new(
                name.to_owned(),
                help.to_owned(),
                vec!["consumer_name".to_owned()],
                HashMap::new(),
            )
        };
        Ok(Self {
            consumers,
            descs: vec![
                desc(PROCESSED, "Messages processed by a consumer.")?,
                desc(ERRORS, "Errors of a consumer.")?,
                desc(LAG, "Messages waiting in a consumer's source.")?,
            ],
        })
    }
}

#[allow(clippy::cast_precision_loss)]
fn metric(consumer: &str, value: u64, kind: MetricType) -> Metric {
    let mut label = LabelPair::default();
    label.set_name("consumer_name".to_owned());
    label.set_value(consumer.to_owned());
    let mut m = Metric::from_label(vec![label]);
    if kind == MetricType::COUNTER {
        let mut c = Counter::default();
        c.set_value(value as f64);
        m.set_counter(c);
    } else {
        let mut g = Gauge::default();
        g.set_value(value as f64);
        m.set_gauge(g);
    }
    m
}

impl Collector for ConsumerCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let family = |desc: &Desc, kind: MetricType, metrics: Vec<Metric>| {
            let mut f = MetricFamily::default();
            f.set_name(desc.fq_name.clone());
            f.set_help(desc.help.clone());
            f.set_field_type(kind);
            f.set_metric(metrics);
            f
        };
        let per = |value: fn(&ConsumerMetrics) -> Option<u64>, kind| {
            self.consumers
                .iter()
                .filter_map(|c| value(c).map(|v| metric(c.name(), v, kind)))
                .collect::<Vec<_>>()
        };
        let mut out = vec![
            family(
                &self.descs[0],
                MetricType::COUNTER,
                per(|c| Some(c.processed()), MetricType::COUNTER),
            ),
            family(
                &self.descs[1],
                MetricType::COUNTER,
                per(|c| Some(c.errors()), MetricType::COUNTER),
            ),
        ];
        let lag = per(ConsumerMetrics::lag, MetricType::GAUGE);
        if !lag.is_empty() {
            out.push(family(&self.descs[2], MetricType::GAUGE, lag));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_with_an_internal_error_is_retryable() {
        assert!(
            broadcast_outcome(
                r#"{"responses":[{"result":{}},{"error":{"code":100,"message":"x"}}]}"#
            )
            .is_err()
        );
        assert!(
            broadcast_outcome(
                r#"{"responses":[{"result":{}},{"error":{"code":102,"message":"x"}}]}"#
            )
            .is_ok()
        );
        assert!(broadcast_outcome(r#"{"responses":[]}"#).is_ok());
    }
}
