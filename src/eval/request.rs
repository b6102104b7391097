//! A request's JSON context → a typed record, or every problem with its JSON path.

use crate::types::{RecordTy, Ty, Value};
use serde::Serialize;
use std::sync::Arc;

/// One problem with a request field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// JSON path of the field, such as `$.user.dau_7` or `$.contacts[3].id`.
    pub path: String,
    /// The type the policy declares.
    pub expected: String,
    pub message: String,
}

/// Why a string is not a timestamp a decision can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not an RFC 3339 time at all; `reason` is jiff's.
    #[error("not an RFC 3339 time: {reason}")]
    NotRfc3339 { reason: String },
    /// A well-formed RFC 3339 time outside what a timestamp can hold (about years -9999 to
    /// 9999, minus the largest offset at either end): `9999-12-31T23:59:59Z` is one.
    #[error(
        "an RFC 3339 time outside the supported range, {} to {}",
        TimestampError::min(),
        TimestampError::max()
    )]
    OutOfRange,
}

impl TimestampError {
    /// The earliest supported instant (a whole second).
    pub fn min() -> String {
        jiff::Timestamp::MIN
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }
    /// The latest supported instant, to the second (it ends in .999999999).
    pub fn max() -> String {
        jiff::Timestamp::MAX
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }
}

/// Parses an RFC 3339 time, telling a malformed one from a well-formed one out of range (jiff
/// reports both as a parse error; the second is told apart by parsing the string's pieces,
/// which checks its syntax but not the range of the instant it names).
pub fn parse_timestamp(text: &str) -> Result<jiff::Timestamp, TimestampError> {
    text.parse::<jiff::Timestamp>()
        .map_err(|e| match jiff::fmt::temporal::Pieces::parse(text) {
            Ok(p) if p.time().is_some() && p.offset().is_some() => TimestampError::OutOfRange,
            _ => TimestampError::NotRfc3339 {
                reason: e.to_string(),
            },
        })
}

/// Validates `json` against a context record. Unknown fields are ignored (a router passes one
/// body to several policies); missing required fields and wrong types are errors.
pub fn validate(ty: &RecordTy, json: &serde_json::Value) -> Result<Value, Vec<FieldError>> {
    let mut errors = Vec::new();
    let v = record(ty, json, "$", &mut errors);
    if errors.is_empty() {
        Ok(v)
    } else {
        Err(errors)
    }
}

fn record(
    ty: &RecordTy,
    json: &serde_json::Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Value {
    let Some(obj) = json.as_object() else {
        errors.push(FieldError {
            path: path.to_string(),
            expected: "object".into(),
            message: format!("expected an object, found {}", kind(json)),
        });
        return Value::Null;
    };
    let mut fields = Vec::with_capacity(ty.fields.len());
    for f in &ty.fields {
        let p = format!("{path}.{}", f.name);
        match obj.get(&f.name) {
            None | Some(serde_json::Value::Null) if f.optional => fields.push(f.default.clone()),
            None => {
                errors.push(FieldError {
                    path: p,
                    expected: f.ty.to_string(),
                    message: "required field is missing".into(),
                });
                fields.push(None);
            }
            Some(v) => fields.push(Some(value(&f.ty, v, &p, errors))),
        }
    }
    Value::Record(Arc::from(fields))
}

/// How error messages name a JSON value's kind ("a string", "an array").
pub fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a bool",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn value(ty: &Ty, v: &serde_json::Value, path: &str, errors: &mut Vec<FieldError>) -> Value {
    let mut bad = |what: &str| {
        errors.push(FieldError {
            path: path.to_string(),
            expected: ty.to_string(),
            message: format!("expected {what}, found {}", kind(v)),
        });
        Value::Null
    };
    match ty {
        Ty::Bool => v.as_bool().map_or_else(|| bad("a bool"), Value::Bool),
        Ty::Int => match v {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::Int(f as i64),
                    _ => bad("a whole number"),
                },
            },
            _ => bad("a whole number"),
        },
        Ty::Float => match v.as_f64() {
            Some(f) if f.is_finite() => Value::Float(f),
            _ => bad("a number"),
        },
        Ty::String => v
            .as_str()
            .map_or_else(|| bad("a string"), |s| Value::Str(Arc::from(s))),
        Ty::Timestamp => match v.as_str().map(parse_timestamp) {
            Some(Ok(t)) => Value::Timestamp(t),
            Some(Err(TimestampError::OutOfRange)) => {
                errors.push(FieldError {
                    path: path.to_string(),
                    expected: ty.to_string(),
                    message: format!(
                        "expected a timestamp from {} to {}, found one outside that range",
                        TimestampError::min(),
                        TimestampError::max()
                    ),
                });
                Value::Null
            }
            _ => bad("an RFC 3339 timestamp string"),
        },
        Ty::Duration => bad("a duration"),
        Ty::List(elem) => match v.as_array() {
            Some(items) => Value::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| value(elem, x, &format!("{path}[{i}]"), errors))
                    .collect(),
            ),
            None => bad("an array"),
        },
        Ty::Record(rt) => record(rt, v, path, errors),
        Ty::Unknown => Value::Null,
    }
}

/// The JSON Schema (draft 2020-12) of a context record: exactly what [`validate`] accepts.
/// Unknown fields are allowed (as in `validate`); optional fields may be absent or `null`.
pub fn context_schema(ty: &RecordTy) -> serde_json::Value {
    let mut schema = record_schema(ty);
    if let serde_json::Value::Object(m) = &mut schema {
        m.insert(
            "$schema".into(),
            "https://json-schema.org/draft/2020-12/schema".into(),
        );
    }
    schema
}

/// A policy's context schema: [`context_schema`], with the field the subject reads its time zone
/// from (`subject … zone FIELD`) described as what it must hold: a plain `string` there said any
/// string would do, while one that is not an IANA name is a 422.
pub fn policy_context_schema(c: &crate::check::CheckedPolicy) -> serde_json::Value {
    let mut schema = context_schema(&c.context);
    if let Some(crate::check::Subject {
        zone: crate::check::Zone::Field(path),
        ..
    }) = &c.subject
    {
        describe_zone(&mut schema, &c.context, path);
    }
    schema
}

/// What a time-zone field accepts, as the decision validates it.
pub const ZONE_DESCRIPTION: &str = "the subject's time zone: an IANA time zone name from the tz database, such as `Europe/Paris` or `UTC`; any other string is rejected (422, `unknown time zone`)";

/// Adds the description and examples of a time-zone field to the schema of the field at `path`
/// (indices into nested records, as `Zone::Field`).
fn describe_zone(schema: &mut serde_json::Value, ty: &RecordTy, path: &[u16]) {
    let Some((&first, rest)) = path.split_first() else {
        return;
    };
    let Some(field) = ty.fields.get(first as usize) else {
        return;
    };
    let Some(mut node) = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut(&field.name))
    else {
        return;
    };
    if field.optional {
        // `{"anyOf": [schema, {"type": "null"}]}`
        match node.get_mut("anyOf").and_then(|a| a.get_mut(0)) {
            Some(inner) => node = inner,
            None => return,
        }
    }
    match (&field.ty, rest.is_empty()) {
        (Ty::String, true) => {
            if let serde_json::Value::Object(m) = node {
                m.insert("description".into(), ZONE_DESCRIPTION.into());
                m.insert(
                    "examples".into(),
                    serde_json::json!(["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC"]),
                );
            }
        }
        (Ty::Record(rt), false) => describe_zone(node, rt, rest),
        _ => {}
    }
}

fn record_schema(ty: &RecordTy) -> serde_json::Value {
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    for f in &ty.fields {
        let mut s = type_schema(&f.ty);
        if f.optional {
            s = serde_json::json!({ "anyOf": [s, { "type": "null" }] });
            if let Some(d) = &f.default {
                s["default"] = d.to_json(Some(&f.ty));
            }
        } else {
            required.push(serde_json::Value::from(f.name.as_str()));
        }
        props.insert(f.name.clone(), s);
    }
    serde_json::json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": true,
    })
}

fn type_schema(ty: &Ty) -> serde_json::Value {
    use serde_json::json;
    match ty {
        Ty::Bool => json!({ "type": "boolean" }),
        // `validate` accepts a whole number written as a float (`3.0`), so does the schema.
        Ty::Int => json!({ "type": "integer" }),
        Ty::Float => json!({ "type": "number" }),
        Ty::String => json!({ "type": "string" }),
        Ty::Timestamp => json!({ "type": "string", "format": "date-time" }),
        // No context field can hold a duration: `validate` rejects every value.
        Ty::Duration => json!({ "not": {} }),
        Ty::List(elem) => json!({ "type": "array", "items": type_schema(elem) }),
        Ty::Record(rt) => record_schema(rt),
        Ty::Unknown => json!({}),
    }
}
