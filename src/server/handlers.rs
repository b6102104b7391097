//! The endpoints. Every failure is an [`ApiError`]; a client's mistake is never a 500.

use super::api::{
    DecideRequest, OutcomeKind, OutcomeRequest, OutcomeResponse, PoliciesResponse, ReloadErrorInfo,
};
use super::error::{ApiError, ErrorCode, JsonBody};
use super::log::Entry;
use super::{AppState, Recorded};
use crate::decision::Decision;
use crate::engine::EngineError;
use crate::eval::{EvalError, FieldError, Options};
use crate::ledger::LedgerKey;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

type St = State<Arc<AppState>>;

fn path_param(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(s)| s).map_err(|r| {
        ApiError::new(
            ErrorCode::InvalidPath,
            format!("invalid path: {}", r.body_text()),
        )
    })
}

/// Decides for one parsed body; `now` is the clock read once at the edge when the body has none.
/// Error paths are from the body's root `$` (a batch puts them under its item with [`reroot`]).
fn decide_one(
    state: &AppState,
    policy: &str,
    body: Value,
    clock: Timestamp,
) -> Result<Decision, ApiError> {
    let started = Instant::now();
    let fields = match body {
        Value::Object(fields) => fields,
        other => {
            return Err(ApiError::fields(
                ErrorCode::InvalidContext,
                "the body must be a JSON object: the context",
                &[FieldError {
                    path: "$".into(),
                    expected: "object".into(),
                    message: format!(
                        "expected an object, found {}",
                        crate::eval::request::kind(&other)
                    ),
                }],
            ));
        }
    };
    let req = DecideRequest::from_fields(fields, "$").map_err(|errors| {
        ApiError::fields(
            ErrorCode::InvalidRequest,
            "invalid `now` or `explain`",
            &errors,
        )
    })?;
    let context = Value::Object(req.context);
    let opts = Options {
        now: req.now.unwrap_or(clock),
        explain: req.explain,
        decision_id: None,
        dry_run: false,
    };
    match state.engine.decide(policy, &context, &opts) {
        Ok(d) => {
            let took = started.elapsed();
            state.metrics.decided(policy, &d, took);
            state.decisions.insert(
                d.decision_id.clone(),
                Recorded {
                    policy: Arc::from(d.policy.as_str()),
                    subject: d.subject.as_deref().map(Arc::from),
                },
            );
            if state.log.enabled() {
                state.log.push(Entry::Decision {
                    decision: Box::new(d.clone()),
                    entry: policy.to_string(),
                    latency: took,
                });
            }
            Ok(d)
        }
        Err(e) => {
            // Only a policy that exists becomes a label: client input must not grow the metrics.
            let label = match &e {
                EngineError::NotReady | EngineError::Eval(EvalError::UnknownPolicy(_)) => {
                    "_unknown"
                }
                _ => policy,
            };
            let err = ApiError::from(e);
            state.metrics.failed(label, err.body.code.as_str());
            Err(err)
        }
    }
}

/// Puts the paths of `err`'s details, reported from the context's root `$`, under `prefix`.
fn reroot(err: &mut ApiError, prefix: &str) {
    for d in err.body.details.iter_mut() {
        if let Some(Value::String(p)) = d.get_mut("path")
            && let Some(rest) = p.strip_prefix('$')
        {
            *p = format!("{prefix}{rest}");
        }
    }
}

pub async fn decide(
    State(state): St,
    policy: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let policy = path_param(policy)?;
    let d = decide_one(&state, &policy, body, Timestamp::now())?;
    Ok(Json(d).into_response())
}

pub async fn decide_batch(
    State(state): St,
    policy: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let policy = path_param(policy)?;
    let items = match body {
        Value::Object(mut m) => m.remove("requests"),
        _ => None,
    };
    let Some(Value::Array(items)) = items else {
        return Err(ApiError::fields(
            ErrorCode::InvalidRequest,
            "a batch is `{\"requests\": [context, ...]}`",
            &[FieldError {
                path: "$.requests".into(),
                expected: "array".into(),
                message: "expected an array of contexts".into(),
            }],
        ));
    };
    // An unknown policy fails the whole batch, like a single request.
    if let Some(g) = state.engine.snapshot()
        && g.policy(&policy).is_none()
    {
        state
            .metrics
            .failed("_unknown", ErrorCode::UnknownPolicy.as_str());
        return Err(ApiError::unknown_policy(&policy));
    }
    if items.len() > state.config.batch_limit {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!(
                "a batch may hold at most {} requests; this one has {}: split it",
                state.config.batch_limit,
                items.len()
            ),
        ));
    }
    let clock = Timestamp::now();
    let limit = state.config.batch_response_limit;
    let mut out = BatchWriter::new();
    for (i, item) in items.into_iter().enumerate() {
        if out.len() > limit {
            let e = ApiError::new(
                ErrorCode::ResponseTooLarge,
                format!(
                    "not decided: the response reached its limit of {limit} bytes before this request; send it in another batch"
                ),
            );
            out.error(i, e);
            continue;
        }
        // Decided with paths from the item's root, so equal errors of two items compare equal.
        match decide_one(&state, &policy, item, clock) {
            Ok(d) => out.decision(&d),
            Err(e) => out.error(i, e),
        }
    }
    Ok(out.finish())
}

/// A batch's response, written item by item as JSON (the shape of [`super::api::BatchResponse`]), so that
/// no more than one decision is held at a time and the size is known as it grows. An error
/// equal to an earlier item's is written as a reference to it (`same_as`).
struct BatchWriter {
    buf: Vec<u8>,
    items: usize,
    /// An error's code, message and details (paths from the item's root) → the first item
    /// that had it. At most `SEEN_ERRORS` are remembered.
    seen: std::collections::HashMap<String, usize>,
}

/// Distinct errors remembered for `same_as`; beyond that, errors are written in full.
const SEEN_ERRORS: usize = 1024;

impl BatchWriter {
    fn new() -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(b"{\"decisions\":[");
        BatchWriter {
            buf,
            items: 0,
            seen: std::collections::HashMap::new(),
        }
    }

    fn len(&self) -> usize {
        self.buf.len()
    }

    fn separate(&mut self) {
        if self.items > 0 {
            self.buf.push(b',');
        }
        self.items += 1;
    }

    fn decision(&mut self, d: &Decision) {
        self.separate();
        // Serializing a decision into memory cannot fail (string keys, finite numbers are
        // checked by `serde_json`; a non-finite float would be written as `null`).
        let _ = serde_json::to_writer(&mut self.buf, d);
    }

    /// `e` has its details' paths from the item's root (`$`).
    fn error(&mut self, i: usize, mut e: ApiError) {
        self.separate();
        let key = serde_json::to_string(&e.body).unwrap_or_default();
        match self.seen.get(&key) {
            Some(&first) => {
                e.body.message = format!("as for item {first}");
                e.body.details = vec![];
                e.body.same_as = Some(first);
            }
            None => {
                if self.seen.len() < SEEN_ERRORS {
                    self.seen.insert(key, i);
                }
                reroot(&mut e, &format!("$.requests[{i}]"));
            }
        }
        let _ = serde_json::to_writer(&mut self.buf, &e.into_body());
    }

    fn finish(mut self) -> Response {
        self.buf.extend_from_slice(b"]}");
        ([(header::CONTENT_TYPE, "application/json")], self.buf).into_response()
    }
}

pub async fn outcome(
    State(state): St,
    id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> Result<Json<OutcomeResponse>, ApiError> {
    let id = path_param(id)?;
    let report = parse_outcome(&body)?;
    let Some(rec) = state.decisions.get(&id) else {
        return Err(ApiError::new(
            ErrorCode::UnknownDecision,
            format!("unknown decision `{id}`: never made here, or too old to remember"),
        ));
    };
    let mut released = 0;
    if report.outcome == OutcomeKind::NotActed
        && let Some(subject) = &rec.subject
    {
        let key = LedgerKey {
            policy: rec.policy.clone(),
            subject: subject.clone(),
        };
        released = state
            .engine
            .ledger()
            .release(&key, &id)
            .map_err(|e| ApiError::new(ErrorCode::LedgerUnavailable, e.to_string()))?;
    }
    let name = match report.outcome {
        OutcomeKind::Acted => "acted",
        OutcomeKind::NotActed => "not_acted",
        OutcomeKind::Converted => "converted",
    };
    state.metrics.outcome(&rec.policy, name);
    state.log.push(Entry::Outcome {
        decision_id: id.clone(),
        policy: rec.policy.to_string(),
        subject: rec.subject.as_deref().map(str::to_string),
        outcome: report.outcome,
        value: report.value,
        released,
        at: Timestamp::now(),
    });
    Ok(Json(OutcomeResponse {
        decision_id: id,
        outcome: report.outcome,
        released,
    }))
}

fn parse_outcome(body: &Value) -> Result<OutcomeRequest, ApiError> {
    let mut errors = Vec::new();
    let outcome = match body.get("outcome").and_then(Value::as_str) {
        Some("acted") => Some(OutcomeKind::Acted),
        Some("not_acted") => Some(OutcomeKind::NotActed),
        Some("converted") => Some(OutcomeKind::Converted),
        _ => {
            errors.push(FieldError {
                path: "$.outcome".into(),
                expected: "\"acted\" | \"not_acted\" | \"converted\"".into(),
                message: match body.get("outcome") {
                    None => "required field is missing".into(),
                    Some(v) => {
                        format!("expected one of `acted`, `not_acted`, `converted`, found {v}")
                    }
                },
            });
            None
        }
    };
    let value = match body.get("value") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(f) => Some(f),
            None => {
                errors.push(FieldError {
                    path: "$.value".into(),
                    expected: "float".into(),
                    message: "expected a number".into(),
                });
                None
            }
        },
    };
    match outcome {
        Some(outcome) if errors.is_empty() => Ok(OutcomeRequest { outcome, value }),
        _ => Err(ApiError::fields(
            ErrorCode::InvalidRequest,
            "an outcome is `{\"outcome\": \"acted\" | \"not_acted\" | \"converted\", \"value\"?: number}`",
            &errors,
        )),
    }
}

pub async fn policies(State(state): St) -> Json<PoliciesResponse> {
    let graph = state.engine.snapshot();
    let last_reload_error = state.engine.last_error().map(|e| ReloadErrorInfo {
        at: e.at,
        message: super::render_errors(&e),
        diagnostics: e
            .diagnostics
            .iter()
            .map(|d| {
                serde_json::to_value(crate::diagnostics::to_json(d, &e.sources))
                    .unwrap_or(Value::Null)
            })
            .collect(),
    });
    Json(PoliciesResponse {
        ready: graph.is_some(),
        revision: graph.map(|g| g.revision.clone()),
        policies: state.policy_infos(),
        last_reload_error,
    })
}

pub async fn policy_schema(
    State(state): St,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let name = path_param(name)?;
    let graph = state
        .engine
        .snapshot()
        .ok_or_else(|| ApiError::from(EngineError::NotReady))?;
    let p = graph
        .policy(&name)
        .ok_or_else(|| ApiError::unknown_policy(&name))?;
    let mut schema = crate::eval::request::policy_context_schema(&p.checked);
    schema["title"] = json!(format!("context of policy `{name}`"));
    schema["description"] = json!(format!(
        "The body of `POST /v1/decide/{name}` (revision {}). `now` and `explain` are taken out before the context is validated; other unknown fields are ignored.",
        p.revision
    ));
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        props
            .entry("now")
            .or_insert(json!({"type": "string", "format": "date-time", "description": "the decision time; the server's clock when absent"}));
        props
            .entry("explain")
            .or_insert(json!({"type": "boolean", "description": "include a trace of every value"}));
    }
    Ok(Json(schema))
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): St) -> Response {
    match state.engine.snapshot() {
        Some(g) => Json(json!({"status": "ready", "revision": g.revision})).into_response(),
        None => ApiError::from(EngineError::NotReady).into_response(),
    }
}

pub async fn metrics(State(state): St) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn openapi() -> Json<Value> {
    Json(super::schema::openapi())
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint; see /openapi.json")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint; see /openapi.json",
    )
}
