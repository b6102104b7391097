//! Prometheus metrics, through the `prometheus` crate (its text encoder renders `/metrics`).
//!
//! Labels carry only names from the loaded set (policies, guards, results), never client input:
//! a request for an unknown policy is counted under `policy="_unknown"`.

use crate::compile::DecisionGraph;
use crate::decision::{Decision, Outcome};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::time::Duration;

pub struct Metrics {
    registry: Registry,
    decisions: IntCounterVec,
    guard_blocks: IntCounterVec,
    latency: HistogramVec,
    inference: HistogramVec,
    reloads: IntCounterVec,
    reload_error: IntGauge,
    served: IntGaugeVec,
    outcomes: IntCounterVec,
    pub log_dropped: IntCounter,
    connections: IntGauge,
    connections_closed: IntCounterVec,
}

/// Decision latencies are tens of microseconds in process; buckets from 25 µs to 1 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0,
];

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let decisions = IntCounterVec::new(
            Opts::new(
                "policy_decisions_total",
                "Decisions by entry policy and result (selected, none, fallback or an error code)",
            ),
            &["policy", "result"],
        )?;
        let guard_blocks = IntCounterVec::new(
            Opts::new(
                "policy_guard_blocks_total",
                "Candidates blocked, by deciding policy and guard",
            ),
            &["policy", "guard"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "policy_decision_duration_seconds",
                "Time to decide, from a parsed body to a decision, by entry policy",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["policy"],
        )?;
        let inference = HistogramVec::new(
            HistogramOpts::new(
                "policy_model_inference_seconds",
                "Time spent in model inference per decision, by deciding policy",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["policy"],
        )?;
        let reloads = IntCounterVec::new(
            Opts::new(
                "policy_reloads_total",
                "Reloads of the policy set by result",
            ),
            &["result"],
        )?;
        let reload_error = IntGauge::new(
            "policy_reload_error",
            "1 while the last reload failed and the previous set is served",
        )?;
        let served = IntGaugeVec::new(
            Opts::new(
                "policy_served_revision",
                "The revision served per policy (value 1, revision in the label)",
            ),
            &["policy", "revision"],
        )?;
        let outcomes = IntCounterVec::new(
            Opts::new(
                "policy_outcomes_total",
                "Outcomes reported, by policy and outcome",
            ),
            &["policy", "outcome"],
        )?;
        let log_dropped = IntCounter::new(
            "policy_decision_log_dropped_total",
            "Decision-log lines dropped because the log queue was full",
        )?;
        let connections = IntGauge::new("policy_http_connections_open", "HTTP connections open")?;
        let connections_closed = IntCounterVec::new(
            Opts::new(
                "policy_http_connections_closed_total",
                "HTTP connections the server closed or refused, by reason (evicted: idle at the connection limit; refused: at the limit with every connection busy; timed_out: header-read or idle timeout)",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(connections_closed.clone()))?;
        registry.register(Box::new(decisions.clone()))?;
        registry.register(Box::new(guard_blocks.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(inference.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(reload_error.clone()))?;
        registry.register(Box::new(served.clone()))?;
        registry.register(Box::new(outcomes.clone()))?;
        registry.register(Box::new(log_dropped.clone()))?;
        Ok(Metrics {
            registry,
            decisions,
            guard_blocks,
            latency,
            inference,
            reloads,
            reload_error,
            served,
            outcomes,
            log_dropped,
            connections,
            connections_closed,
        })
    }

    pub fn decided(&self, entry: &str, d: &Decision, took: Duration) {
        let result = match d.outcome {
            Outcome::Selected => "selected",
            Outcome::None => "none",
            Outcome::Fallback => "fallback",
        };
        self.decisions.with_label_values(&[entry, result]).inc();
        self.latency
            .with_label_values(&[entry])
            .observe(took.as_secs_f64());
        if !d.telemetry.models.is_empty() {
            self.inference
                .with_label_values(&[d.policy.as_str()])
                .observe(d.telemetry.inference.as_secs_f64());
        }
        for r in &d.rejected {
            for g in &r.guards {
                self.guard_blocks
                    .with_label_values(&[d.policy.as_str(), g.as_str()])
                    .inc();
            }
        }
    }

    /// A request that got no decision; `policy` must be a loaded policy's name or `_unknown`.
    pub fn failed(&self, policy: &str, code: &str) {
        self.decisions.with_label_values(&[policy, code]).inc();
    }

    pub fn outcome(&self, policy: &str, outcome: &str) {
        self.outcomes.with_label_values(&[policy, outcome]).inc();
    }

    pub fn reloaded(&self, graph: Option<&DecisionGraph>) {
        match graph {
            Some(g) => {
                self.reloads.with_label_values(&["ok"]).inc();
                self.reload_error.set(0);
                self.served.reset();
                for (name, p) in &g.policies {
                    self.served
                        .with_label_values(&[name.as_str(), p.revision.as_str()])
                        .set(1);
                }
            }
            None => {
                self.reloads.with_label_values(&["error"]).inc();
                self.reload_error.set(1);
            }
        }
    }

    pub fn connections_open(&self, n: usize) {
        self.connections.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn connection_closed(&self, why: super::edge::Closed) {
        self.connections_closed
            .with_label_values(&[why.as_str()])
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail on IO; a metric family that fails to encode is skipped.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
