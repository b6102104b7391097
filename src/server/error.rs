//! The one error shape, and the JSON body extractor that reports malformed JSON with its
//! position (axum's `Json` rejection has its own plain-text shape, so it is not used).

use super::AppState;
use super::api::{ErrorBody, ErrorResponse};
use crate::engine::EngineError;
use crate::eval::{EvalError, FieldError};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// Every error code the API sends, in `error.code`, and the HTTP status each one has. The
/// values, and the status they come with:
///
/// - `malformed_json` (400): the body is not JSON; `details` has `{line, column}`
/// - `malformed_body` (400): the body cannot be read
/// - `invalid_path` (400): a path parameter cannot be read
/// - `body_too_large` (413): the body is over the size limit (said before reading it when
///   `Content-Length` is over)
/// - `body_timeout` (408): the body did not arrive within the body timeout
/// - `batch_too_large` (413): a batch has more items than the batch limit
/// - `response_too_large` (413): a batch's response would be over the response limit
/// - `unauthorized` (401): the endpoint needs a bearer token and none valid was sent
/// - `invalid_context` (422): the context does not match the policy; `details` has one
///   `{path, expected, message}` per field
/// - `invalid_request` (422): other fields of the body (`now`, `explain`, a batch's
///   `requests`, an outcome) are invalid; `details` as for `invalid_context`
/// - `unknown_policy` (404): no policy of that name is served
/// - `unknown_decision` (404): the decision was never made here, or is too old to remember
/// - `not_found` (404): no such endpoint
/// - `method_not_allowed` (405): the endpoint does not take that method
/// - `not_ready` (503): no valid policy set is loaded yet
/// - `ledger_unavailable` (503): the ledger cannot be read or written
/// - `contention` (503): too many concurrent decisions for one subject; try again
/// - `model_failed` (500): a model failed to run
/// - `route_cycle` (500): routes led back to a policy already on the path (`check` rejects
///   cycles, so this only guards a graph built otherwise)
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MalformedJson,
    MalformedBody,
    InvalidPath,
    BodyTooLarge,
    BodyTimeout,
    BatchTooLarge,
    ResponseTooLarge,
    Unauthorized,
    InvalidContext,
    InvalidRequest,
    UnknownPolicy,
    UnknownDecision,
    NotFound,
    MethodNotAllowed,
    NotReady,
    LedgerUnavailable,
    Contention,
    ModelFailed,
    RouteCycle,
}

impl ErrorCode {
    /// Every code, in the order of the documentation.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MalformedJson,
        ErrorCode::MalformedBody,
        ErrorCode::InvalidPath,
        ErrorCode::BodyTooLarge,
        ErrorCode::BodyTimeout,
        ErrorCode::BatchTooLarge,
        ErrorCode::ResponseTooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidContext,
        ErrorCode::InvalidRequest,
        ErrorCode::UnknownPolicy,
        ErrorCode::UnknownDecision,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NotReady,
        ErrorCode::LedgerUnavailable,
        ErrorCode::Contention,
        ErrorCode::ModelFailed,
        ErrorCode::RouteCycle,
    ];

    /// The code as it appears in `error.code` and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MalformedBody => "malformed_body",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::BodyTimeout => "body_timeout",
            ErrorCode::BatchTooLarge => "batch_too_large",
            ErrorCode::ResponseTooLarge => "response_too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidContext => "invalid_context",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownPolicy => "unknown_policy",
            ErrorCode::UnknownDecision => "unknown_decision",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::LedgerUnavailable => "ledger_unavailable",
            ErrorCode::Contention => "contention",
            ErrorCode::ModelFailed => "model_failed",
            ErrorCode::RouteCycle => "route_cycle",
        }
    }

    /// The HTTP status every response with this code has.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MalformedJson | ErrorCode::MalformedBody | ErrorCode::InvalidPath => {
                StatusCode::BAD_REQUEST
            }
            ErrorCode::BodyTooLarge | ErrorCode::BatchTooLarge | ErrorCode::ResponseTooLarge => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ErrorCode::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidContext | ErrorCode::InvalidRequest => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorCode::UnknownPolicy | ErrorCode::UnknownDecision | ErrorCode::NotFound => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::NotReady | ErrorCode::LedgerUnavailable | ErrorCode::Contention => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::ModelFailed | ErrorCode::RouteCycle => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with `code`, and the status that code has.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            body: ErrorBody {
                code,
                message: message.into(),
                details: vec![],
                same_as: None,
            },
        }
    }

    pub fn details(mut self, details: Vec<Value>) -> Self {
        self.body.details = details;
        self
    }

    /// 422 for request fields of the wrong shape.
    pub fn fields(code: ErrorCode, message: impl Into<String>, errors: &[FieldError]) -> Self {
        let details = errors
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect();
        ApiError::new(code, message).details(details)
    }

    pub fn unknown_policy(name: &str) -> Self {
        ApiError::new(ErrorCode::UnknownPolicy, format!("unknown policy `{name}`"))
    }

    pub fn into_body(self) -> ErrorResponse {
        ErrorResponse { error: self.body }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let msg = e.to_string();
        match e {
            EngineError::NotReady => ApiError::new(ErrorCode::NotReady, msg),
            EngineError::Eval(EvalError::UnknownPolicy(name)) => ApiError::unknown_policy(&name),
            EngineError::Eval(EvalError::InvalidContext { policy, errors }) => ApiError::fields(
                ErrorCode::InvalidContext,
                format!("the context does not match policy `{policy}`"),
                &errors,
            ),
            EngineError::Eval(EvalError::Model { .. }) => {
                ApiError::new(ErrorCode::ModelFailed, msg)
            }
            EngineError::Eval(EvalError::Ledger(_)) => {
                ApiError::new(ErrorCode::LedgerUnavailable, msg)
            }
            EngineError::Eval(EvalError::Contention) => ApiError::new(ErrorCode::Contention, msg),
            EngineError::Eval(EvalError::RouteCycle(_)) => {
                ApiError::new(ErrorCode::RouteCycle, msg)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.into_body())).into_response()
    }
}

/// A JSON body: any content type is accepted (so `curl -d` works); malformed JSON is a 400
/// giving the line and column. A body over the limit is a 413, said at once when its
/// `Content-Length` is over (before any of it is read); a body that does not arrive within the
/// body timeout is a 408.
pub struct JsonBody(pub Value);

impl FromRequest<Arc<AppState>> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let too_large = || {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "the request body is over the size limit of {} bytes",
                    state.config.body_limit
                ),
            )
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > state.config.body_limit as u64) {
            return Err(too_large());
        }
        let timeout = state.config.edge.body_timeout;
        let read = tokio::time::timeout(timeout, Bytes::from_request(req, state));
        let bytes = match read.await {
            Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::BodyTimeout,
                    format!(
                        "the request body did not arrive within {} s",
                        timeout.as_secs_f64()
                    ),
                ));
            }
            Ok(Err(r)) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Ok(Err(r)) => {
                return Err(ApiError::new(
                    ErrorCode::MalformedBody,
                    format!("cannot read the request body: {}", r.body_text()),
                ));
            }
            Ok(Ok(bytes)) => bytes,
        };
        parse_json(&bytes).map(JsonBody)
    }
}

/// A body's bytes as JSON; malformed JSON is a 400 `malformed_json` with its line and column.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!(
                "malformed JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
        .details(vec![json!({"line": e.line(), "column": e.column()})])
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serializes_as_its_name_and_is_in_the_schema() {
        let schema = serde_json::to_value(schemars::schema_for!(ErrorCode)).unwrap();
        let listed: Vec<&str> = schema["enum"]
            .as_array()
            .expect("the codes are an `enum` in the schema")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, all);
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.as_str()));
            let back: ErrorCode = serde_json::from_value(json!(c.as_str())).unwrap();
            assert_eq!(back, *c);
            // A client's mistake is a 4xx; only the server's own state is a 5xx.
            let server_side = matches!(
                c,
                ErrorCode::ModelFailed
                    | ErrorCode::RouteCycle
                    | ErrorCode::NotReady
                    | ErrorCode::LedgerUnavailable
                    | ErrorCode::Contention
            );
            assert_eq!(c.status().is_server_error(), server_side, "{c}");
        }
    }
}
