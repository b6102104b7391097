//! The output of `check`: each policy with names resolved, types known and nodes in evaluation
//! order. `compile` attaches the loaded models to it.

use crate::ir::Ex;
use crate::source::Span;
use crate::types::{RecordTy, Ty, Value};
use jiff::SignedDuration;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Request,
    Candidate,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub version: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CheckedPolicy {
    pub name: String,
    pub meta: Meta,
    pub span: Span,
    pub context: Arc<RecordTy>,
    pub subject: Option<Subject>,
    pub params: Vec<(String, Ty, Value)>,
    pub candidates: CandidateSpec,
    /// Request-level nodes, in evaluation order; `Ex::ReqNode(i)` reads `req_nodes[i]`.
    pub req_nodes: Vec<Node>,
    /// Candidate-level nodes, in evaluation order; `Ex::CandNode(i)` reads `cand_nodes[i]`.
    pub cand_nodes: Vec<Node>,
    /// The candidate node holding the score.
    pub score: Option<u16>,
    pub guards: Vec<Guard>,
    pub select: Selection,
}

#[derive(Debug, Clone)]
pub struct Subject {
    /// Field indices from the context root to the key field.
    pub key: Vec<u16>,
    pub zone: Zone,
}

#[derive(Debug, Clone)]
pub enum Zone {
    Fixed(jiff::tz::TimeZone),
    /// Field indices from the context root to a string field holding an IANA name.
    Field(Vec<u16>),
}

#[derive(Debug, Clone)]
pub struct CandidateSpec {
    /// Attribute types; attribute 0 is `id: string`.
    pub attrs: Arc<RecordTy>,
    /// Declared candidates: id and attribute values (id included, at 0).
    pub fixed: Vec<Arc<[Value]>>,
    /// Field indices of a `list<record>` context field whose items are candidates, with, for
    /// each attribute, the index of the record field that holds it.
    pub from: Option<(Vec<u16>, Vec<u16>)>,
    /// A gate has one implicit candidate, named after the policy.
    pub implicit: bool,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub ty: Ty,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Let(Ex),
    Model(ModelBinding),
}

#[derive(Debug, Clone)]
pub struct ModelBinding {
    pub file: String,
    pub inputs: Vec<Ex>,
    pub output: String,
    pub column: usize,
}

#[derive(Debug, Clone)]
pub struct Guard {
    pub name: String,
    pub kind: GuardKind,
}

#[derive(Debug, Clone)]
pub enum GuardKind {
    Require {
        ex: Ex,
        level: Level,
    },
    Cap {
        limit: u64,
        window: Window,
        scope: Scope,
    },
    Gap {
        gap: SignedDuration,
        scope: Scope,
    },
    Quiet {
        start: (i8, i8),
        end: (i8, i8),
    },
}

impl GuardKind {
    /// Caps and gaps read and reserve in the ledger.
    pub fn is_stateful(&self) -> bool {
        matches!(self, GuardKind::Cap { .. } | GuardKind::Gap { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// The calendar day in the subject's time zone.
    Day,
    Rolling(SignedDuration),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    All,
    Candidate,
    /// Candidates sharing the value of this attribute.
    Attr(u16),
}

#[derive(Debug, Clone)]
pub enum Selection {
    Best {
        fallback: Option<String>,
    },
    Top {
        k: usize,
        fallback: Option<String>,
    },
    Gate,
    Route {
        rules: Vec<(Ex, String)>,
        otherwise: Option<String>,
    },
}
