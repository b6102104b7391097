//! The JSON bodies of the HTTP API. `policy schema` writes their JSON Schemas to `schemas/` and
//! the OpenAPI document is assembled from the same types (`server::schema`).

use super::error::ErrorCode;
use crate::decision::Decision;
use crate::eval::FieldError;
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `POST /v1/decide/{policy}`: the policy's context fields (see
/// `GET /v1/policies/{name}/schema`), plus optional `now` and `explain`, which are taken out of
/// the context before it is validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DecideRequest {
    /// The decision time, RFC 3339; the server's clock when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<Timestamp>,
    /// Include a trace of every model output, score and guard.
    #[serde(default)]
    pub explain: bool,
    /// The context: every field the policy declares. Unknown fields are ignored.
    #[serde(flatten)]
    pub context: Map<String, Value>,
}

impl DecideRequest {
    /// Takes `now` and `explain` out of a body's fields, reporting each problem with its JSON
    /// path under `prefix`; the rest is the context.
    pub fn from_fields(
        mut context: Map<String, Value>,
        prefix: &str,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let now = match context.remove("now") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_str().map(crate::eval::request::parse_timestamp) {
                Some(Ok(t)) => Some(t),
                Some(Err(why @ crate::eval::request::TimestampError::OutOfRange)) => {
                    errors.push(FieldError {
                        path: format!("{prefix}.now"),
                        expected: "timestamp".into(),
                        message: format!("expected a timestamp, found {why}"),
                    });
                    None
                }
                _ => {
                    errors.push(FieldError {
                        path: format!("{prefix}.now"),
                        expected: "timestamp".into(),
                        message: "expected an RFC 3339 timestamp string".into(),
                    });
                    None
                }
            },
        };
        let explain = match context.remove("explain") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                errors.push(FieldError {
                    path: format!("{prefix}.explain"),
                    expected: "bool".into(),
                    message: "expected a bool".into(),
                });
                false
            }
        };
        if errors.is_empty() {
            Ok(DecideRequest {
                now,
                explain,
                context,
            })
        } else {
            Err(errors)
        }
    }
}

/// The body of `POST /v1/decide/{policy}/batch`: one request per subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchRequest {
    pub requests: Vec<DecideRequest>,
}

/// The answer to a batch: one item per request, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BatchResponse {
    pub decisions: Vec<BatchItem>,
}

/// A decision, or why that request got none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Decision(Box<Decision>),
    Error(ErrorResponse),
}

/// What happened after a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The caller acted on the decision (sent the notification, showed the paywall).
    Acted,
    /// The caller did not act: the decision's ledger reservation is released, so caps and
    /// gaps no longer count it.
    NotActed,
    /// The action converted (the user returned, subscribed); `value` may carry its worth.
    Converted,
}

/// The body of `POST /v1/decisions/{decision_id}/outcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutcomeRequest {
    pub outcome: OutcomeKind,
    /// A value for the outcome, such as revenue for a conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The answer to an outcome report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OutcomeResponse {
    pub decision_id: String,
    pub outcome: OutcomeKind,
    /// Ledger reservations released (for `not_acted`).
    pub released: usize,
}

/// Every error: one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// A stable code, one of `ErrorCode`; the HTTP status follows from it.
    pub code: ErrorCode,
    pub message: String,
    /// For `invalid_context`: one `{path, expected, message}` per field; for
    /// `malformed_json`: `{line, column}`.
    #[serde(default)]
    pub details: Vec<Value>,
    /// In a batch: this item failed exactly as the item at this index did (same code, message
    /// and details, with paths under its own `$.requests[i]`), so they are not repeated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<usize>,
}

/// `GET /v1/policies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoliciesResponse {
    /// Whether a valid set is loaded.
    pub ready: bool,
    /// The content hash of the whole served set.
    pub revision: Option<String>,
    pub policies: Vec<PolicyInfo>,
    /// Why the last reload failed, while the previous set is still served.
    pub last_reload_error: Option<ReloadErrorInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyInfo {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    /// What decisions carry in `revision`: a hash of the source, models and routed policies.
    pub revision: String,
    /// When this revision was first served.
    pub loaded_at: Timestamp,
    /// The source files of the policy.
    pub sources: Vec<String>,
    /// The model files it runs.
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReloadErrorInfo {
    pub at: Timestamp,
    /// The diagnostics rendered as `policy check` prints them.
    pub message: String,
    /// The diagnostics as `policy check --format json` prints them.
    pub diagnostics: Vec<Value>,
}
