//! The decision: one JSON shape shared by the library, the CLI and the server.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct Selected {
    pub id: String,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub id: String,
    /// Names of the guards that blocked it, in declaration order.
    pub guards: Vec<String>,
    /// For time-based guards (caps, gaps, quiet hours): the earliest time they would all pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<Timestamp>,
    pub score: Option<f64>,
}
