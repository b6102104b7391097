//! One definition per problem the checker reports outside expressions: each variant carries
//! its data and renders its message, labels and help in one place, under its [`Code`]. The
//! code's documentation (what / why / example / fix, read by `policy explain` and SARIF) is in
//! the registry, `diagnostics::codes`.
//!
//! Expression problems (`check::expr`) are defined the same way by its sibling,
//! [`super::ExprProblem`] (`check/expr_problem.rs`). The test
//! `diagnostics::every_typed_problem_follows_the_style_rules` (`tests/it/diagnostics.rs`) holds
//! the `examples()` of both to the style rules of `diagnostics::style`.

use crate::diagnostics::{Code, Diagnostic, a_code, count};
use crate::source::Span;

/// A typed problem's diagnostic: its message, each label on its span in order (primary first),
/// and its help. Shared by [`Problem::at`] and [`super::ExprProblem::at`].
pub(crate) fn diagnostic(
    code: Code,
    message: String,
    labels: Vec<String>,
    help: Option<String>,
    spans: &[Span],
) -> Diagnostic {
    let mut d = Diagnostic::new(code, message);
    for (span, label) in spans.iter().zip(labels) {
        d = d.label(*span, label);
    }
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A name declared twice in one scope: labels the repeat, then the first.
    Duplicate {
        what: String,
        name: String,
    },
    /// A singular item (`context`, `score`, …) written twice: labels the repeat, then the
    /// first.
    RepeatedItem {
        item: String,
        policy: String,
    },
    /// A value or model named after a built-in name.
    ReservedName {
        name: String,
    },
    /// Values that depend on each other, in dependency order, the first repeated at the end.
    ValueCycle {
        names: Vec<String>,
    },
    /// A param whose type is not a number: labels the type.
    ParamNotNumber {
        name: String,
    },
    /// A param range whose low end is above its high end.
    EmptyRange {
        name: String,
    },
    /// A param value outside its range, numbers as written: labels the value, then the range.
    OutOfRange {
        name: String,
        value: String,
        low: String,
        high: String,
    },
    /// `cap 0`.
    ZeroCap,
    InvalidDuration {
        text: String,
    },
    InvalidTimeOfDay {
        text: String,
    },
    /// Quiet hours that start when they end.
    EmptyQuietHours,
    /// A cap or gap guard in a policy without `subject`.
    NoSubject {
        guard: String,
    },
    GuardInRouter,
    UnusedParam {
        name: String,
    },
    UnusedValue {
        name: String,
    },
    UnusedModel {
        name: String,
    },
    ModelWithoutFile {
        name: String,
    },
    ModelWithoutPer {
        name: String,
    },
    /// A route to a policy that does not exist, with the closest name if there is one.
    UnknownRoute {
        target: String,
        suggestion: Option<String>,
    },
    /// Routes that form a cycle: the policies in order, the first repeated at the end.
    RouteCycle {
        path: Vec<String>,
    },
    /// A routed policy needs a context field its router lacks.
    RouteContext {
        target: String,
        field: String,
        ty: String,
        router: String,
    },
    /// Labels the `select`, then the `route`.
    RouteAndSelect,
    RouterWithCandidates,
    RouterWithScore,
    RouteConditionNotBool {
        ty: String,
    },
    RouteConditionPerCandidate,
    RouteWithoutOtherwise,
    /// A policy with neither `select` nor `route`; `gate` when it has no candidates.
    NoSelection {
        policy: String,
        gate: bool,
    },
    /// A fallback that is not a declared candidate, with the closest id if there is one.
    UnknownFallback {
        name: String,
        suggestion: Option<String>,
    },
    GateWithCandidates,
    NothingToSelect,
    RankingWithoutScore,
    SelectTopZero,
    /// `by candidate` (`attr` is `None`) or `by candidate.ATTR` in a policy without candidates.
    ScopeWithoutCandidates {
        attr: bool,
    },
    /// `by candidate.ATTR`, or `candidate.ATTR` in an expression, naming no attribute, with the
    /// closest one if there is one.
    UnknownScopeAttribute {
        name: String,
        suggestion: Option<String>,
    },
    SubjectKeyType {
        ty: String,
    },
    OptionalSubjectKey {
        key: String,
    },
    /// An unknown time zone, with the closest IANA name if there is one.
    UnknownTimeZone {
        name: String,
        suggestion: Option<String>,
    },
    ZoneFieldType {
        ty: String,
    },
    /// `candidates from FIELD` where the field is not a list of records.
    CandidatesFromNotList {
        path: String,
        ty: String,
    },
    CandidatesFromWithoutId {
        path: String,
    },
    /// An attribute only this candidate has, with the missing one it may misspell.
    UnsharedAttribute {
        candidate: String,
        attr: String,
        suggestion: Option<String>,
    },
    /// An attribute whose literal is not of the type it has in the other candidates.
    AttributeType {
        attr: String,
        ty: String,
    },
    MissingAttribute {
        candidate: String,
        attr: String,
    },
    NoCandidates,
    /// A `per request` model whose input reads candidate values.
    ModelInputPerCandidate,
    ModelInputType {
        ty: String,
    },
    ModelUnloadable {
        file: String,
        why: String,
    },
    /// The binding lists `written` inputs, the model takes `expected`.
    ModelInputWidth {
        file: String,
        expected: usize,
        written: usize,
        features: Option<Vec<String>>,
    },
    /// Inputs that disagree with the model's feature names: `(input index, written, expected)`
    /// for each labelled input, and whether they are only out of order.
    ModelFeatureMismatch {
        name: String,
        order_only: bool,
        mismatches: Vec<(usize, String, String)>,
        features: Vec<String>,
    },
    ModelWithoutOutput {
        name: String,
    },
    UnknownModelOutput {
        file: String,
        output: String,
        outputs: Vec<String>,
    },
    ColumnOutOfRange {
        output: String,
        columns: usize,
        column: usize,
    },
    /// A literal that is not of its declared type; `fix` says how to write one that is.
    LiteralType {
        ty: String,
        fix: LiteralFix,
    },
    /// A dotted path (`what` says whose: "subject key", "zone field") that is not in the
    /// context, with the closest field if there is one.
    NotAContextField {
        what: String,
        path: String,
        suggestion: Option<String>,
    },
    /// A path that selects a field of something that is not a record.
    NoFields {
        name: String,
        ty: String,
    },
    ScoreNotNumber {
        ty: String,
    },
    GuardNotBool {
        guard: String,
        ty: String,
    },
}

/// How to fix a literal of the wrong type, when there is more to say than its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralFix {
    None,
    /// A fraction where an `int` is declared.
    WholeNumber,
    /// A string that is not an RFC 3339 time where a `timestamp` is declared.
    Rfc3339,
}

fn ticked(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(" → ")
}

impl Problem {
    pub fn code(&self) -> Code {
        match self {
            Problem::Duplicate { .. } | Problem::RepeatedItem { .. } => Code::DuplicateName,
            Problem::ReservedName { .. } => Code::ReservedName,
            Problem::ValueCycle { .. } => Code::ValueCycle,
            Problem::ParamNotNumber { .. } => Code::InvalidLiteral,
            Problem::EmptyRange { .. } | Problem::OutOfRange { .. } => Code::ParamRange,
            Problem::ZeroCap => Code::ZeroCap,
            Problem::InvalidDuration { .. } => Code::InvalidDuration,
            Problem::InvalidTimeOfDay { .. } | Problem::EmptyQuietHours => Code::InvalidTimeOfDay,
            Problem::NoSubject { .. } => Code::MissingSubject,
            Problem::GuardInRouter => Code::Selection,
            Problem::UnusedParam { .. } => Code::UnusedParam,
            Problem::UnusedValue { .. } => Code::UnusedValue,
            Problem::UnusedModel { .. } => Code::UnusedModel,
            Problem::ModelWithoutFile { .. } => Code::ModelFile,
            Problem::ModelWithoutPer { .. } => Code::ModelPer,
            Problem::UnknownRoute { .. } => Code::UnknownRoute,
            Problem::RouteCycle { .. } => Code::RouteCycle,
            Problem::RouteContext { .. } => Code::RouteContext,
            Problem::RouteConditionNotBool { .. } | Problem::RouteConditionPerCandidate => {
                Code::WrongKind
            }
            Problem::UnknownFallback { .. } => Code::UnknownName,
            Problem::RouteAndSelect
            | Problem::RouterWithCandidates
            | Problem::RouterWithScore
            | Problem::RouteWithoutOtherwise
            | Problem::NoSelection { .. }
            | Problem::GateWithCandidates
            | Problem::NothingToSelect
            | Problem::RankingWithoutScore
            | Problem::SelectTopZero => Code::Selection,
            Problem::ScopeWithoutCandidates { .. }
            | Problem::SubjectKeyType { .. }
            | Problem::OptionalSubjectKey { .. } => Code::WrongKind,
            Problem::UnknownScopeAttribute { .. } => Code::UnknownName,
            Problem::UnknownTimeZone { .. } | Problem::ZoneFieldType { .. } => {
                Code::InvalidTimeZone
            }
            Problem::CandidatesFromNotList { .. }
            | Problem::CandidatesFromWithoutId { .. }
            | Problem::UnsharedAttribute { .. }
            | Problem::AttributeType { .. }
            | Problem::MissingAttribute { .. }
            | Problem::NoCandidates => Code::CandidateShape,
            Problem::ModelInputPerCandidate | Problem::ModelInputType { .. } => Code::WrongKind,
            Problem::ModelUnloadable { .. } => Code::ModelFile,
            Problem::ModelInputWidth { .. } => Code::ModelInputWidth,
            Problem::ModelFeatureMismatch { .. } => Code::ModelFeatures,
            Problem::ModelWithoutOutput { .. }
            | Problem::UnknownModelOutput { .. }
            | Problem::ColumnOutOfRange { .. } => Code::ModelOutput,
            Problem::LiteralType { .. } => Code::InvalidLiteral,
            Problem::NotAContextField { .. } => Code::UnknownName,
            Problem::NoFields { .. } => Code::TypeMismatch,
            Problem::ScoreNotNumber { .. } | Problem::GuardNotBool { .. } => Code::WrongKind,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Problem::Duplicate { what, name } => format!("{what} `{name}` is declared twice"),
            Problem::RepeatedItem { item, policy } => {
                format!("`{item}` appears twice in policy `{policy}`")
            }
            Problem::ReservedName { name } => format!("`{name}` is a reserved name"),
            Problem::ValueCycle { names } => {
                format!("values depend on each other in a cycle: {}", ticked(names))
            }
            Problem::ParamNotNumber { name } => {
                format!("param `{name}` must be an `int` or a `float`")
            }
            Problem::EmptyRange { name } => format!("the range of `{name}` is empty"),
            Problem::OutOfRange {
                name,
                value,
                low,
                high,
            } => format!("`{name}` is {value}, outside its range {low}..{high}"),
            Problem::ZeroCap => "a cap of 0 blocks every action".into(),
            Problem::InvalidDuration { text } => format!("invalid duration `{text}`"),
            Problem::InvalidTimeOfDay { text } => format!("invalid time of day `{text}`"),
            Problem::EmptyQuietHours => "quiet hours start and end at the same time".into(),
            Problem::NoSubject { guard } => format!(
                "guard `{guard}` counts actions per subject, but the policy has no `subject`"
            ),
            Problem::GuardInRouter => "a router cannot have guards".into(),
            Problem::UnusedParam { name } => format!("param `{name}` is never used"),
            Problem::UnusedValue { name } => format!("value `{name}` is never used"),
            Problem::UnusedModel { name } => format!("model `{name}` is never used"),
            Problem::ModelWithoutFile { name } => format!("model `{name}` has no `file`"),
            Problem::ModelWithoutPer { name } => {
                format!("model `{name}` does not say how often it runs")
            }
            Problem::UnknownRoute { target, .. } => format!("route to unknown policy `{target}`"),
            Problem::RouteCycle { path } => format!("routes form a cycle: {}", ticked(path)),
            Problem::RouteContext {
                target,
                field,
                ty,
                router,
            } => format!(
                "`{target}` needs the context field `{field}: {ty}` which `{router}` does not \
                 provide"
            ),
            Problem::RouteAndSelect => "a policy cannot both `route` and `select`".into(),
            Problem::RouterWithCandidates => "a router cannot have candidates".into(),
            Problem::RouterWithScore => "a router has no score".into(),
            Problem::RouteConditionNotBool { ty } => {
                format!("a route condition must be a bool, found `{ty}`")
            }
            Problem::RouteConditionPerCandidate => {
                "a route condition cannot read candidate values".into()
            }
            Problem::RouteWithoutOtherwise => "a route needs an `otherwise` branch".into(),
            Problem::NoSelection { policy, .. } => {
                format!("policy `{policy}` does not select anything")
            }
            Problem::UnknownFallback { name, .. } => {
                format!("fallback `{name}` is not a declared candidate")
            }
            Problem::GateWithCandidates => {
                "`select gate` is for policies without candidates".into()
            }
            Problem::NothingToSelect => "there are no candidates to select from".into(),
            Problem::RankingWithoutScore => "ranking candidates needs a `score`".into(),
            Problem::SelectTopZero => "`select top 0` selects nothing".into(),
            Problem::ScopeWithoutCandidates { attr: false } => {
                "`by candidate` needs candidates".into()
            }
            Problem::ScopeWithoutCandidates { attr: true } => {
                "`by candidate.…` needs candidates".into()
            }
            Problem::UnknownScopeAttribute { name, .. } => {
                format!("candidates have no attribute `{name}`")
            }
            Problem::SubjectKeyType { ty } => {
                format!("the subject key must be a `string` or an `int`, found `{ty}`")
            }
            Problem::OptionalSubjectKey { key } => format!(
                "the subject key `{key}` is optional, so a request without it would count no \
                 actions"
            ),
            Problem::UnknownTimeZone { name, .. } => format!("unknown time zone `{name}`"),
            Problem::ZoneFieldType { ty } => {
                format!("the zone field must be a `string`, found `{ty}`")
            }
            Problem::CandidatesFromNotList { path, ty } => {
                format!("`{path}` must be a list of records with an `id`, found `{ty}`")
            }
            Problem::CandidatesFromWithoutId { path } => {
                format!("the records of `{path}` need an `id: string` field")
            }
            Problem::UnsharedAttribute {
                candidate, attr, ..
            } => format!(
                "candidate `{candidate}` has attribute `{attr}`, which the other candidates lack"
            ),
            Problem::AttributeType { attr, ty } => {
                format!("attribute `{attr}` is {} in other candidates", a_code(ty))
            }
            Problem::MissingAttribute { candidate, attr } => {
                format!("candidate `{candidate}` lacks attribute `{attr}`")
            }
            Problem::NoCandidates => "`candidates` declares no candidate".into(),
            Problem::ModelInputPerCandidate => {
                "a `per request` model cannot read candidate values".into()
            }
            Problem::ModelInputType { ty } => {
                format!("model inputs must be numbers or bools, found `{ty}`")
            }
            Problem::ModelUnloadable { file, why } => format!("cannot load model `{file}`: {why}"),
            Problem::ModelInputWidth {
                file,
                expected,
                written,
                ..
            } => format!(
                "model `{file}` takes {}, the binding lists {written}",
                count(*expected, "input", "inputs")
            ),
            Problem::ModelFeatureMismatch {
                name,
                order_only: true,
                ..
            } => format!("the inputs of model `{name}` are not in the model's feature order"),
            Problem::ModelFeatureMismatch { name, .. } => {
                format!("the inputs of model `{name}` do not match the model's feature names")
            }
            Problem::ModelWithoutOutput { name } => {
                format!("model `{name}` does not say which output to read")
            }
            Problem::UnknownModelOutput { file, output, .. } => {
                format!("model `{file}` has no output `{output}`")
            }
            Problem::ColumnOutOfRange {
                output,
                columns,
                column,
            } => format!(
                "output `{output}` has {}; column {column} does not exist",
                count(*columns, "column", "columns")
            ),
            Problem::LiteralType { ty, .. } => format!("expected {} literal", a_code(ty)),
            Problem::NotAContextField { what, path, .. } => {
                format!("{what} `{path}` is not a context field")
            }
            Problem::NoFields { name, ty } => {
                format!("`{name}` is {}, which has no fields", a_code(ty))
            }
            Problem::ScoreNotNumber { ty } => format!("the score must be a number, found `{ty}`"),
            Problem::GuardNotBool { guard, ty } => {
                format!("guard `{guard}` must be a bool, found `{ty}`")
            }
        }
    }

    /// The labels' texts, primary first; [`Problem::at`] pairs them with spans.
    pub fn labels(&self) -> Vec<String> {
        match self {
            Problem::AttributeType { ty, .. } => vec![format!("not {}", a_code(ty))],
            Problem::MissingAttribute { attr, .. } => vec![format!("no `{attr}`")],
            Problem::LiteralType { ty, .. } => vec![format!("not {}", a_code(ty))],
            Problem::ModelInputWidth { written, .. } => {
                vec![count(*written, "input", "inputs")]
            }
            Problem::ModelFeatureMismatch { mismatches, .. } => mismatches
                .iter()
                .map(|(i, written, expected)| {
                    format!(
                        "input {} is `{written}`, the model expects `{expected}`",
                        i + 1
                    )
                })
                .collect(),
            _ => self
                .fixed_labels()
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }

    fn fixed_labels(&self) -> Vec<&'static str> {
        match self {
            Problem::Duplicate { .. } => vec!["declared again here", "first declared here"],
            Problem::RepeatedItem { .. } => vec!["again here", "first here"],
            Problem::ReservedName { .. } => vec!["reserved"],
            Problem::ValueCycle { .. } => vec!["part of the cycle"],
            Problem::ParamNotNumber { .. } => vec!["not a number type"],
            Problem::EmptyRange { .. } => vec!["low end above high end"],
            Problem::OutOfRange { .. } => vec!["out of range", "allowed range"],
            Problem::ZeroCap => vec!["zero"],
            Problem::InvalidDuration { .. } => vec!["not a duration"],
            Problem::InvalidTimeOfDay { .. } => vec!["not a time of day"],
            Problem::EmptyQuietHours => vec!["empty window"],
            Problem::NoSubject { .. } => vec!["needs a subject"],
            Problem::GuardInRouter => vec!["guard in a router"],
            Problem::UnusedParam { .. } | Problem::UnusedValue { .. } => vec!["unused"],
            Problem::UnusedModel { .. } => vec!["runs on every request for nothing"],
            Problem::ModelWithoutFile { .. } => vec!["no file"],
            Problem::ModelWithoutPer { .. } => vec!["no `per`"],
            Problem::UnknownRoute { .. } => vec!["no such policy"],
            Problem::RouteCycle { .. } => vec!["this route closes the cycle"],
            Problem::RouteContext { .. } => vec!["routed here"],
            Problem::RouteAndSelect => vec!["select in a router", "route here"],
            Problem::RouterWithCandidates => vec!["router"],
            Problem::RouterWithScore => vec!["score in a router"],
            Problem::RouteConditionNotBool { .. } => vec!["not a bool"],
            Problem::RouteConditionPerCandidate => vec!["per candidate"],
            Problem::RouteWithoutOtherwise => vec!["no otherwise"],
            Problem::NoSelection { .. } => vec!["no `select` or `route`"],
            Problem::UnknownFallback { .. } => vec!["unknown candidate"],
            Problem::GateWithCandidates => vec!["gate with candidates"],
            Problem::NothingToSelect => vec!["nothing to rank"],
            Problem::RankingWithoutScore => vec!["ranks by score"],
            Problem::SelectTopZero => vec!["zero"],
            Problem::ScopeWithoutCandidates { .. } => vec!["no candidates in this policy"],
            Problem::UnknownScopeAttribute { .. } => vec!["unknown attribute"],
            Problem::SubjectKeyType { .. } => vec!["not a key"],
            Problem::OptionalSubjectKey { .. } => vec!["may be absent"],
            Problem::UnknownTimeZone { .. } => vec!["not an IANA time zone"],
            Problem::ZoneFieldType { .. } => vec!["not a string"],
            Problem::CandidatesFromNotList { .. } => vec!["not a list of records"],
            Problem::CandidatesFromWithoutId { .. } => vec!["no `id: string`"],
            Problem::UnsharedAttribute { .. } => vec!["not shared"],
            Problem::AttributeType { .. } | Problem::MissingAttribute { .. } => vec![],
            Problem::NoCandidates => vec!["empty"],
            Problem::ModelInputWidth { .. } | Problem::ModelFeatureMismatch { .. } => vec![],
            Problem::ModelInputPerCandidate => vec!["differs per candidate"],
            Problem::ModelInputType { .. } => vec!["not a number"],
            Problem::ModelUnloadable { .. } => vec!["cannot load"],
            Problem::ModelWithoutOutput { .. } => vec!["no `output`"],
            Problem::UnknownModelOutput { .. } => vec!["no such output"],
            Problem::ColumnOutOfRange { .. } => vec!["out of range"],
            Problem::LiteralType { .. } => vec![],
            Problem::NotAContextField { .. } => vec!["not in the context"],
            Problem::NoFields { .. } => vec!["here"],
            Problem::ScoreNotNumber { .. } => vec!["not a number"],
            Problem::GuardNotBool { .. } => vec!["not a bool"],
        }
    }

    pub fn help(&self) -> Option<String> {
        let h: String = match self {
            Problem::Duplicate { .. }
            | Problem::InvalidDuration { .. }
            | Problem::InvalidTimeOfDay { .. }
            | Problem::EmptyQuietHours
            | Problem::NoSubject { .. }
            | Problem::ZeroCap => return self.fixed_help().map(str::to_string),
            Problem::RepeatedItem { item, .. } => format!("a policy has at most one `{item}`"),
            Problem::ReservedName { .. } => "choose another name".into(),
            Problem::ValueCycle { .. } => {
                "a value can only use values that do not, directly or indirectly, use it".into()
            }
            Problem::ParamNotNumber { .. } => {
                "params are tunable numbers; put other constants in a `let`".into()
            }
            Problem::EmptyRange { .. } => "write the range as `in LOW..HIGH`".into(),
            Problem::OutOfRange { low, high, .. } => {
                format!("choose a value between {low} and {high}, or widen the range")
            }
            Problem::GuardInRouter => "put guards in the policies it routes to".into(),
            Problem::UnusedParam { .. } => "use it in an expression, or delete it".into(),
            Problem::UnusedValue { .. } => "use it, or delete it".into(),
            Problem::UnusedModel { .. } => "use its output, or delete the binding".into(),
            Problem::ModelWithoutFile { .. } => {
                "add `file \"name.onnx\"`, relative to the models directory".into()
            }
            Problem::ModelWithoutPer { .. } => "add `per request` or `per candidate`".into(),
            Problem::UnknownRoute { suggestion, .. } => {
                return suggestion.as_ref().map(|s| format!("did you mean `{s}`?"));
            }
            Problem::RouteCycle { .. } => "every route must end at a policy that selects".into(),
            Problem::RouteContext {
                field, ty, router, ..
            } => format!("declare `{field}: {ty}` in the context of `{router}`"),
            Problem::RouteAndSelect => "split it into a router and a policy that selects".into(),
            Problem::RouterWithCandidates => {
                "move the candidates to the policy it routes to".into()
            }
            Problem::RouterWithScore => "route on a `let` value or a model output instead".into(),
            Problem::RouteConditionNotBool { .. } | Problem::RouteConditionPerCandidate => {
                return None;
            }
            Problem::RouteWithoutOtherwise => {
                "add `otherwise -> POLICY`, so every request is routed".into()
            }
            Problem::NoSelection { gate: true, .. } => {
                "add `select gate` to act when every guard passes, or a `route` block".into()
            }
            Problem::NoSelection { gate: false, .. } => {
                "add `select best` or `select top N`".into()
            }
            Problem::UnknownFallback { suggestion, .. } => match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "a fallback must be one of the declared candidates".into(),
            },
            Problem::GateWithCandidates => "use `select best` or `select top N`".into(),
            Problem::NothingToSelect => {
                "declare `candidates`, or use `select gate` to decide whether to act".into()
            }
            Problem::RankingWithoutScore => "add `score = EXPR`".into(),
            Problem::SelectTopZero => "select at least 1".into(),
            Problem::ScopeWithoutCandidates { .. } | Problem::SubjectKeyType { .. } => {
                return None;
            }
            Problem::UnknownScopeAttribute { suggestion, .. } => {
                return suggestion
                    .as_ref()
                    .map(|s| format!("did you mean `candidate.{s}`?"));
            }
            Problem::OptionalSubjectKey { key } => format!(
                "declare `{key}` required (drop the `?`): caps and gaps need to know whose \
                 actions count"
            ),
            Problem::UnknownTimeZone { suggestion, .. } => match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "use an IANA time zone name such as `America/New_York`".into(),
            },
            Problem::ZoneFieldType { .. } => {
                "declare the field `string` and send an IANA name such as \"Europe/Paris\"".into()
            }
            Problem::CandidatesFromNotList { .. } => {
                "declare it like `contacts: list<{ id: string, score: float }>`".into()
            }
            Problem::CandidatesFromWithoutId { .. } => {
                "candidates are identified by `id` in decisions and in the ledger".into()
            }
            Problem::UnsharedAttribute { suggestion, .. } => {
                return suggestion.as_ref().map(|s| format!("did you mean `{s}`?"));
            }
            Problem::AttributeType { .. } => return None,
            Problem::MissingAttribute { .. } => "give every candidate the same attributes".into(),
            Problem::NoCandidates => {
                "list candidates, or take them from the request with `candidates from FIELD`".into()
            }
            Problem::ModelInputPerCandidate => "declare the model `per candidate`".into(),
            Problem::ModelInputType { .. } => {
                "turn it into a number, such as `platform == \"ios\"` for a string".into()
            }
            Problem::ModelUnloadable { .. } => "check the path, relative to the models \
                 directory, and that it is a valid ONNX file"
                .into(),
            Problem::ModelInputWidth { features, .. } => {
                return features
                    .as_ref()
                    .map(|f| format!("the model's features are: {}", f.join(", ")));
            }
            Problem::ModelFeatureMismatch { features, .. } => {
                format!("the model's features, in order: {}", features.join(", "))
            }
            Problem::ModelWithoutOutput { .. } => "add `output probabilities[1]` for a binary \
                 classifier, or `output variable[0]` for a regressor"
                .into(),
            Problem::UnknownModelOutput { outputs, .. } => {
                format!("its outputs are: {}", outputs.join(", "))
            }
            Problem::ColumnOutOfRange { columns, .. } => format!(
                "columns are numbered from 0 to {}",
                columns.saturating_sub(1)
            ),
            Problem::LiteralType { fix, .. } => {
                return match fix {
                    LiteralFix::None => None,
                    LiteralFix::WholeNumber => {
                        Some("declare it `float`, or write a whole number".into())
                    }
                    LiteralFix::Rfc3339 => {
                        Some("write an RFC 3339 time such as \"2026-01-31T09:00:00Z\"".into())
                    }
                };
            }
            Problem::NotAContextField { suggestion, .. } => {
                return suggestion.as_ref().map(|s| format!("did you mean `{s}`?"));
            }
            Problem::NoFields { .. } | Problem::ScoreNotNumber { .. } => return None,
            Problem::GuardNotBool { .. } => {
                "write a condition that must hold, such as `score > 0.0`".into()
            }
        };
        Some(h)
    }

    fn fixed_help(&self) -> Option<&'static str> {
        match self {
            Problem::InvalidDuration { .. } => Some(
                "write a positive number and a unit (`ms`, `s`, `m`, `h`, `d`), such as `8h`, \
                 `90m` or `1h30m`",
            ),
            Problem::InvalidTimeOfDay { .. } => Some("write `HH:MM`, from 00:00 to 23:59"),
            Problem::EmptyQuietHours => Some("write a window such as `22:00 to 08:00`"),
            Problem::NoSubject { .. } => {
                Some("declare whose actions count, such as `subject user_id zone timezone`")
            }
            Problem::ZeroCap => {
                Some("use a cap of at least 1, or a `require false` guard to turn the policy off")
            }
            _ => None,
        }
    }

    /// The diagnostic, its labels on `spans` in order (primary first).
    pub fn at(&self, spans: &[Span]) -> Diagnostic {
        diagnostic(
            self.code(),
            self.message(),
            self.labels(),
            self.help(),
            spans,
        )
    }

    /// One instance of every variant, for the test that checks every message against the
    /// style rules.
    pub fn examples() -> Vec<Problem> {
        let s = |x: &str| x.to_string();
        vec![
            Problem::Duplicate {
                what: s("param"),
                name: s("lambda"),
            },
            Problem::RepeatedItem {
                item: s("score"),
                policy: s("p"),
            },
            Problem::ReservedName { name: s("now") },
            Problem::ValueCycle {
                names: vec![s("a"), s("b"), s("a")],
            },
            Problem::ParamNotNumber { name: s("on") },
            Problem::EmptyRange { name: s("lambda") },
            Problem::OutOfRange {
                name: s("lambda"),
                value: s("1.5"),
                low: s("0.0"),
                high: s("1.0"),
            },
            Problem::ZeroCap,
            Problem::InvalidDuration { text: s("8x") },
            Problem::InvalidTimeOfDay { text: s("25:00") },
            Problem::EmptyQuietHours,
            Problem::NoSubject { guard: s("daily") },
            Problem::GuardInRouter,
            Problem::UnusedParam { name: s("k") },
            Problem::UnusedValue { name: s("v") },
            Problem::UnusedModel { name: s("m") },
            Problem::ModelWithoutFile { name: s("m") },
            Problem::ModelWithoutPer { name: s("m") },
            Problem::UnknownRoute {
                target: s("playbok"),
                suggestion: Some(s("playbook")),
            },
            Problem::RouteCycle {
                path: vec![s("a"), s("b"), s("a")],
            },
            Problem::RouteContext {
                target: s("playbook"),
                field: s("user_id"),
                ty: s("string"),
                router: s("router"),
            },
            Problem::RouteAndSelect,
            Problem::RouterWithCandidates,
            Problem::RouterWithScore,
            Problem::RouteConditionNotBool { ty: s("float") },
            Problem::RouteConditionPerCandidate,
            Problem::RouteWithoutOtherwise,
            Problem::NoSelection {
                policy: s("p"),
                gate: true,
            },
            Problem::NoSelection {
                policy: s("p"),
                gate: false,
            },
            Problem::UnknownFallback {
                name: s("emial"),
                suggestion: Some(s("email")),
            },
            Problem::UnknownFallback {
                name: s("sms"),
                suggestion: None,
            },
            Problem::GateWithCandidates,
            Problem::NothingToSelect,
            Problem::RankingWithoutScore,
            Problem::SelectTopZero,
            Problem::ScopeWithoutCandidates { attr: false },
            Problem::ScopeWithoutCandidates { attr: true },
            Problem::UnknownScopeAttribute {
                name: s("chanel"),
                suggestion: Some(s("channel")),
            },
            Problem::SubjectKeyType { ty: s("float") },
            Problem::OptionalSubjectKey { key: s("user_id") },
            Problem::UnknownTimeZone {
                name: s("America/New_Yrok"),
                suggestion: Some(s("America/New_York")),
            },
            Problem::UnknownTimeZone {
                name: s("Mars/Olympus"),
                suggestion: None,
            },
            Problem::ZoneFieldType { ty: s("int") },
            Problem::CandidatesFromNotList {
                path: s("contacts"),
                ty: s("list<string>"),
            },
            Problem::CandidatesFromWithoutId {
                path: s("contacts"),
            },
            Problem::UnsharedAttribute {
                candidate: s("b"),
                attr: s("chanel"),
                suggestion: Some(s("channel")),
            },
            Problem::AttributeType {
                attr: s("weight"),
                ty: s("int"),
            },
            Problem::MissingAttribute {
                candidate: s("b"),
                attr: s("channel"),
            },
            Problem::NoCandidates,
            Problem::ModelInputPerCandidate,
            Problem::ModelInputType { ty: s("string") },
            Problem::ModelUnloadable {
                file: s("no_such_model.onnx"),
                why: s("no such file"),
            },
            Problem::ModelInputWidth {
                file: s("churn_risk.onnx"),
                expected: 1,
                written: 3,
                features: Some(vec![s("dau_7")]),
            },
            Problem::ModelFeatureMismatch {
                name: s("churn"),
                order_only: true,
                mismatches: vec![(0, s("wau_4"), s("dau_7"))],
                features: vec![s("dau_7"), s("wau_4")],
            },
            Problem::ModelFeatureMismatch {
                name: s("churn"),
                order_only: false,
                mismatches: vec![(1, s("sessions"), s("wau_4"))],
                features: vec![s("dau_7"), s("wau_4")],
            },
            Problem::ModelWithoutOutput { name: s("churn") },
            Problem::UnknownModelOutput {
                file: s("churn_risk.onnx"),
                output: s("probs"),
                outputs: vec![s("label"), s("probabilities")],
            },
            Problem::ColumnOutOfRange {
                output: s("probabilities"),
                columns: 1,
                column: 1,
            },
            Problem::LiteralType {
                ty: s("int"),
                fix: LiteralFix::WholeNumber,
            },
            Problem::LiteralType {
                ty: s("timestamp"),
                fix: LiteralFix::Rfc3339,
            },
            Problem::LiteralType {
                ty: s("list<string>"),
                fix: LiteralFix::None,
            },
            Problem::NotAContextField {
                what: s("subject key"),
                path: s("usr"),
                suggestion: Some(s("user_id")),
            },
            Problem::NoFields {
                name: s("dau_7"),
                ty: s("int"),
            },
            Problem::ScoreNotNumber { ty: s("bool") },
            Problem::GuardNotBool {
                guard: s("ok"),
                ty: s("float"),
            },
        ]
    }
}
