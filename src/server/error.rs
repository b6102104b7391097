//! The one error shape, and the JSON body extractor that reports malformed JSON with its
//! position (axum's `Json` rejection has its own plain-text shape, so it is not used).

use super::api::{ErrorBody, ErrorResponse};
use crate::engine::EngineError;
use crate::eval::{EvalError, FieldError};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: code.into(),
                message: message.into(),
                details: vec![],
            },
        }
    }

    pub fn details(mut self, details: Vec<Value>) -> Self {
        self.body.details = details;
        self
    }

    /// 422 for request fields of the wrong shape.
    pub fn fields(code: &str, message: impl Into<String>, errors: &[FieldError]) -> Self {
        let details = errors
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).details(details)
    }

    pub fn unknown_policy(name: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_policy",
            format!("unknown policy `{name}`"),
        )
    }

    pub fn into_body(self) -> ErrorResponse {
        ErrorResponse { error: self.body }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let msg = e.to_string();
        match e {
            EngineError::NotReady => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", msg)
            }
            EngineError::Eval(EvalError::UnknownPolicy(name)) => ApiError::unknown_policy(&name),
            EngineError::Eval(EvalError::InvalidContext { policy, errors }) => ApiError::fields(
                "invalid_context",
                format!("the context does not match policy `{policy}`"),
                &errors,
            ),
            EngineError::Eval(EvalError::Model { .. }) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "model_failed", msg)
            }
            EngineError::Eval(EvalError::Ledger(_)) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ledger_unavailable", msg)
            }
            EngineError::Eval(EvalError::Contention) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "contention", msg)
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
/// giving the line and column, a body over the limit a 413.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let status = r.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "body_too_large",
                    "the request body is over the size limit",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_body",
                    format!("cannot read the request body: {}", r.body_text()),
                )
            }
        })?;
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!(
                    "malformed JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
            )
            .details(vec![json!({"line": e.line(), "column": e.column()})])
        })
    }
}
