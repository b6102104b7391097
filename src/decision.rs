//! The decision: one JSON shape shared by the library, the CLI and the server.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Decision {
    pub decision_id: String,
    /// The policy that made the selection (the last one on `path`).
    pub policy: String,
    /// Content hash of the sources and models the deciding policy was compiled from.
    pub revision: String,
    pub now: Timestamp,
    /// The subject key, when the policy declares one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub outcome: Outcome,
    /// Selected candidates, best first.
    pub selected: Vec<Selected>,
    /// Candidates blocked by at least one guard.
    pub rejected: Vec<Rejected>,
    /// Policies traversed by routing, entry first.
    pub path: Vec<String>,
    /// With `explain`: every node's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<serde_json::Value>,
    /// Model outputs and inference time, for decision logs and metrics; not part of the JSON.
    #[serde(skip)]
    pub telemetry: Telemetry,
}

/// What a decision measured on the way: every model output and the time spent in inference.
///
/// Measurement, not decision: two decisions that differ only here are equal, so a replay
/// compares equal to the original.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    pub models: Vec<ModelOutput>,
    /// Wall time spent in model inference (monotonic clock; never an input to a decision).
    pub inference: std::time::Duration,
}

impl PartialEq for Telemetry {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// One model output: a request-level model has no candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    pub model: String,
    pub candidate: Option<String>,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one candidate was selected.
    Selected,
    /// Every candidate was blocked (or none was sent) and there is no fallback.
    None,
    /// Every candidate was blocked; the policy's fallback was selected.
    Fallback,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Selected {
    pub id: String,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(schemars::JsonSchema))]
pub struct Rejected {
    pub id: String,
    /// Names of the guards that blocked it, in declaration order.
    pub guards: Vec<String>,
    /// For time-based guards (caps, gaps, quiet hours): the earliest time they would all pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    pub score: Option<f64>,
}
