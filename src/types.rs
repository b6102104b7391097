//! Types and values shared by `check`, `compile` and `eval`.

use jiff::{SignedDuration, Timestamp};
use std::fmt;
use std::sync::Arc;

/// The static type of an expression or a context field.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Bool,
    Int,
    Float,
    String,
    Timestamp,
    Duration,
    List(Box<Ty>),
    Record(Arc<RecordTy>),
    /// The element type of an empty list literal, before it meets another list.
    Unknown,
}

impl Ty {
    pub fn is_numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }
    /// Whether a value of type `other` can be used where `self` is expected (ints widen to float).
    pub fn accepts(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Float, Ty::Int) => true,
            (_, Ty::Unknown) | (Ty::Unknown, _) => true,
            (Ty::List(a), Ty::List(b)) => a.accepts(b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Bool => f.write_str("bool"),
            Ty::Int => f.write_str("int"),
            Ty::Float => f.write_str("float"),
            Ty::String => f.write_str("string"),
            Ty::Timestamp => f.write_str("timestamp"),
            Ty::Duration => f.write_str("duration"),
            Ty::List(t) => write!(f, "list<{t}>"),
            Ty::Record(r) => {
                f.write_str("{")?;
                for (i, field) in r.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", field.name, field.ty)?;
                }
                f.write_str("}")
            }
            Ty::Unknown => f.write_str("dyn"),
        }
    }
}

/// A record type: ordered, named fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordTy {
    pub fields: Vec<FieldTy>,
}

impl RecordTy {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
    pub fn field(&self, name: &str) -> Option<&FieldTy> {
        self.fields.iter().find(|f| f.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldTy {
    pub name: String,
    pub ty: Ty,
    /// May be absent from the request.
    pub optional: bool,
    /// The value used when the field is absent (an optional field without a default reads as the
    /// zero value of its type; `has()` tells the two apart).
    pub default: Option<Value>,
}

/// A run-time value. Cheap to clone: strings, lists and records are shared.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Timestamp(Timestamp),
    Duration(SignedDuration),
    List(Arc<[Value]>),
    /// Fields in the order of the record type; `None` for an absent optional field.
    Record(Arc<[Option<Value>]>),
}

impl Value {
    pub fn as_f64(&self) -> f64 {
        match self {
            Value::Float(f) => *f,
            Value::Int(i) => *i as f64,
            Value::Bool(b) => f64::from(u8::from(*b)),
            _ => f64::NAN,
        }
    }
    pub fn as_bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }
    pub fn as_i64(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Float(f) => *f as i64,
            Value::Bool(b) => i64::from(*b),
            _ => 0,
        }
    }
    /// The zero value of a type, read for an absent optional field without a default.
    pub fn zero(ty: &Ty) -> Value {
        match ty {
            Ty::Bool => Value::Bool(false),
            Ty::Int => Value::Int(0),
            Ty::Float => Value::Float(0.0),
            Ty::String => Value::Str(Arc::from("")),
            Ty::Timestamp => Value::Timestamp(Timestamp::UNIX_EPOCH),
            Ty::Duration => Value::Duration(SignedDuration::ZERO),
            Ty::List(_) | Ty::Unknown => Value::List(Arc::from(Vec::new())),
            Ty::Record(r) => {
                Value::Record(r.fields.iter().map(|f| Some(Value::zero(&f.ty))).collect())
            }
        }
    }
    /// JSON for decisions and traces.
    pub fn to_json(&self, ty: Option<&Ty>) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Timestamp(t) => J::String(t.to_string()),
            Value::Duration(d) => J::String(format!("{d:#}")),
            Value::List(items) => {
                let elem = match ty {
                    Some(Ty::List(t)) => Some(t.as_ref()),
                    _ => None,
                };
                J::Array(items.iter().map(|v| v.to_json(elem)).collect())
            }
            Value::Record(fields) => {
                let mut map = serde_json::Map::new();
                if let Some(Ty::Record(rt)) = ty {
                    for (f, v) in rt.fields.iter().zip(fields.iter()) {
                        if let Some(v) = v {
                            map.insert(f.name.clone(), v.to_json(Some(&f.ty)));
                        }
                    }
                }
                J::Object(map)
            }
        }
    }
}
