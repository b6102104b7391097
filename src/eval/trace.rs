//! The `explain` trace: typed while a decision is made, serialised once into
//! [`Decision::trace`](crate::decision::Decision::trace) at the end. Built only with
//! `explain`; a decision without it never touches this module.
//!
//! The field order of each struct is the key order of its JSON object.

use super::select::GuardResult;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value as J;

/// `{"steps": [...], "candidates": [...]}`.
#[derive(Debug, Serialize)]
pub(super) struct Trace<'a> {
    /// One per policy on the decision's path, entry first.
    pub steps: Vec<Step<'a>>,
    /// The deciding policy's candidates, in rank order.
    pub candidates: Vec<CandidateTrace<'a>>,
}

impl Trace<'_> {
    /// Serialises the trace, once. Its maps are keyed by names and its leaves are numbers,
    /// strings, booleans and JSON values already, so this does not fail.
    pub fn into_json(self) -> Option<J> {
        let json = serde_json::to_value(self);
        debug_assert!(json.is_ok(), "{json:?}");
        json.ok()
    }
}

/// One policy on the path: its local time and request-level values, and for a router the
/// routes it evaluated.
#[derive(Debug, Serialize)]
pub(super) struct Step<'a> {
    pub policy: &'a str,
    pub local: LocalTrace,
    pub values: Named<'a, J>,
    /// Routes in order up to the first that matched; absent for the deciding policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteTrace<'a>>>,
}

/// The subject's local time the decision was made at.
#[derive(Debug, Serialize)]
pub(super) struct LocalTrace {
    pub zone: String,
    pub hour: i64,
    pub minute: i64,
    pub weekday: i64,
}

#[derive(Debug, Serialize)]
pub(super) struct RouteTrace<'a> {
    pub to: &'a str,
    pub matched: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct CandidateTrace<'a> {
    pub id: &'a str,
    pub attributes: Named<'a, J>,
    pub values: Named<'a, J>,
    pub guards: Named<'a, GuardResult>,
    pub selected: bool,
}

/// Values by name, in declaration order: a JSON object.
#[derive(Debug)]
pub(super) struct Named<'a, T>(pub Vec<(&'a str, T)>);

impl<T: Serialize> Serialize for Named<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, v) in &self.0 {
            map.serialize_entry(name, v)?;
        }
        map.end()
    }
}

/// `{"pass": true}`, `{"pass": false}` or `{"pass": false, "retry_at": "<RFC 3339>"}`. A
/// guard not evaluated (never the case once a selection is made) blocks nothing: it passes.
impl Serialize for GuardResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let retry_at = match self {
            GuardResult::Blocked { retry_at } => *retry_at,
            GuardResult::Pass | GuardResult::Pending => None,
        };
        let mut st = s.serialize_struct("GuardResult", 1 + usize::from(retry_at.is_some()))?;
        st.serialize_field("pass", &!self.is_blocked())?;
        if let Some(t) = retry_at {
            st.serialize_field("retry_at", &format_args!("{t}"))?;
        }
        st.end()
    }
}
