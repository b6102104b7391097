//! The registry of diagnostic codes. A code, once published, keeps its meaning forever: retire a
//! code rather than reuse it. Every code has a fixture under `tests/fixtures/diagnostics/` named
//! after it, whose rendered output is an insta snapshot.

use super::Severity;

/// Documentation of one diagnostic code, shown by `policy explain CODE`.
#[derive(Debug, Clone, Copy)]
pub struct CodeInfo {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// What it catches, in one line.
    pub summary: &'static str,
    /// Why it matters, an example and its fix, in that order: a paragraph, then `Example:` and
    /// `Fix:` sections (see [`CodeInfo::sections`]).
    pub doc: &'static str,
}

/// The four parts of a code's documentation, as `policy explain` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocSections<'a> {
    /// What it catches (the summary).
    pub catches: &'a str,
    pub why: &'a str,
    pub example: &'a str,
    pub fix: &'a str,
}

impl CodeInfo {
    /// Splits `doc` into why it matters, the example and the fix. `None` when a part is missing,
    /// which a test forbids for every registered code.
    pub fn sections(&self) -> Option<DocSections<'static>> {
        let (why, rest) = self.doc.split_once("\n\nExample:")?;
        let (example, fix) = rest.split_once("\nFix:")?;
        let clean = |s: &'static str| {
            let s = s.strip_prefix(' ').unwrap_or(s);
            s.trim_start_matches('\n').trim_end()
        };
        let parts = DocSections {
            catches: self.summary.trim(),
            why: why.trim(),
            example: clean(example),
            fix: clean(fix),
        };
        let complete = [parts.catches, parts.why, parts.example, parts.fix]
            .iter()
            .all(|p| !p.trim().is_empty());
        complete.then_some(parts)
    }
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $name:literal, $sev:ident, $summary:literal, $doc:literal;)*) => {
        /// A stable diagnostic code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant,)* }

        /// Every code, in registry order.
        pub const ALL: &[CodeInfo] = &[$(CodeInfo {
            code: $code, name: $name, severity: Severity::$sev, summary: $summary, doc: $doc,
        },)*];

        impl Code {
            pub const VARIANTS: &'static [Code] = &[$(Code::$variant,)*];
            pub fn info(self) -> &'static CodeInfo {
                // The enum and ALL are generated from the same list, in the same order.
                &ALL[self as usize]
            }
        }
    };
}

impl Code {
    pub fn as_str(self) -> &'static str {
        self.info().code
    }
    pub fn default_severity(self) -> Severity {
        self.info().severity
    }
    pub fn parse(s: &str) -> Option<Code> {
        Code::VARIANTS
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

codes! {
    Syntax = "P0001", "syntax-error", Error,
        "the file does not follow the `.policy` grammar",
        "The parser stopped where the text stops matching the language. The message says what \
         was expected there, in the language's own words.\n\nExample:\n    guard cap2 cap 2 per day\n\
         Fix: a guard needs a colon after its name:\n    guard cap2: cap 2 per day";
    ExprSyntax = "P0002", "expression-syntax-error", Error,
        "a CEL expression does not parse",
        "Scores, values, `require` guards, routes and model inputs are CEL expressions. This one \
         has a syntax error.\n\nExample:\n    score = ranker -\nFix: complete the expression:\n    \
         score = ranker - penalty";
    IoError = "P0003", "unreadable-file", Error,
        "a policy file cannot be read",
        "The file could not be read from disk or is not UTF-8, so none of its policies can be \
         checked or served, and a CI run that skipped it would pass by accident.\n\nExample:\n    \
         policies/paywall.policy saved as Latin-1, with a `\u{e9}` byte that is not UTF-8\nFix: \
         check the path and its permissions, and save the file as UTF-8:\n    \
         iconv -f latin1 -t utf-8 paywall.policy > paywall.policy.new";
    Internal = "P0004", "internal-error", Error,
        "policy-engine itself failed while reading or formatting a file",
        "The parser or the formatter met a state it should never reach. This is a bug in \
         policy-engine, not in the policy; the file is left unchanged. No policy text is meant to \
         produce it, so it has no fixture.\n\nExample:\n    internal formatter error: the \
         output means something else; the file was left unchanged\nFix: report it with the \
         file that triggers it, and keep the file as it is until a fixed version is released.";
    NestedTooDeeply = "P0005", "nested-too-deeply", Error,
        "brackets, records or `list<` types are nested more than 64 levels deep",
        "Every pass over a policy (parsing, checking, formatting, graphing, diffing, evaluating) \
         follows its nesting, and a file nested thousands of levels deep would exhaust the \
         stack of the process or of the server's reload thread. So at most 64 brackets (`(`, \
         `[`, `{`, and the `<` of `list<`) may be open at once, far more than any policy needs; \
         the file is rejected before it is parsed.\n\nExample:\n    \
         context { a: { b: { c: { d: { ... } } } } }   # 65 records deep\n\
         Fix: flatten the structure, or name an inner part with a `let` value:\n    \
         context { a_b_c: { d: int } }";
    ExpressionTooLong = "P0006", "expression-too-long", Error,
        "one expression has more than 1 000 tokens",
        "An expression is parsed into a tree as deep as it is long (`a + b + c + ...` is a chain), \
         and every pass over the tree follows it, so an expression of thousands of terms would \
         exhaust the stack. Names, numbers, strings, operators and brackets each count as one \
         token; 1 000 is several times the longest expression of a real policy.\n\n\
         Example:\n    let total = f1 + f2 + f3 + ... + f600\n\
         Fix: split it into `let` values that each compute a part, and combine them:\n    \
         let part1 = f1 + ... + f300\n    let part2 = f301 + ... + f600\n    \
         let total = part1 + part2";
    UnknownName = "P1001", "unknown-name", Error,
        "an expression refers to a name that is not declared",
        "Every name in an expression must be a context field, a param, a `let` value, a model, \
         `score`, a candidate attribute (`candidate.x`), `now` or `local`. A misspelled field \
         would otherwise fail on every request.\n\nExample:\n    let active = user.dau7 > 3\n\
         Fix: use the declared name:\n    let active = user.dau_7 > 3";
    DuplicateName = "P1002", "duplicate-name", Error,
        "a name is declared twice",
        "Policies, fields, params, values, models, guards and candidates each need a unique name \
         within their scope, and a policy has at most one `context`, `score`, `select`, \
         `subject` and `route`.\n\nExample:\n    param lambda: float = 0.1\n    param lambda: \
         float = 0.2\nFix: delete or rename one of them.";
    TypeMismatch = "P1003", "type-mismatch", Error,
        "an expression mixes types that do not go together",
        "Types are checked before a request is served, so a request that matches the context \
         can never fail at run time. Ints and floats mix freely (the int is promoted); strings, \
         bools, timestamps and numbers do not.\n\nExample:\n    require platform > 3\nFix: \
         compare like with like:\n    require platform == \"ios\"";
    UnknownFunction = "P1004", "unknown-function", Error,
        "an expression calls a function or method that does not exist, or with the wrong arguments",
        "Only the functions listed in the language reference are available.\n\nExample:\n    \
         let x = sqrt(2)\nFix: use a supported function, such as `math.sqrt(2.0)`.";
    WrongKind = "P1005", "wrong-kind", Error,
        "a declaration is used where another kind is required",
        "A guard needs a bool, a score a number, a model input a number or bool, and a `by` \
         scope a candidate attribute.\n\nExample:\n    guard g: require score\nFix:\n    \
         guard g: require score > 0.0";
    CandidateShape = "P1006", "candidate-shape", Error,
        "candidates do not share the same attributes",
        "Every candidate must carry the same attributes with the same types, whether declared \
         or sent in the request, so expressions over `candidate.x` are well typed.\n\nExample:\n\
         \x20   a { channel: \"push\" }\n    b { chanel: \"email\" }\nFix: spell the attribute the \
         same way in every candidate.";
    Selection = "P1007", "invalid-selection", Error,
        "a policy's selection does not fit its shape",
        "A policy with candidates needs `select best` or `select top N` and a `score`; a policy \
         without candidates uses `select gate`; a router has a `route` block and no `select`.\n\n\
         Example: a policy with candidates and no `select`.\nFix: add `select best`.";
    MissingSubject = "P1008", "missing-subject", Error,
        "a cap or gap guard needs a subject",
        "Caps and gaps count actions per subject, the context field named by `subject`.\n\n\
         Example:\n    guard daily: cap 2 per day\nFix: declare whose actions count:\n    \
         subject user_id zone timezone";
    ValueCycle = "P1009", "value-cycle", Error,
        "values depend on each other in a cycle",
        "Values, model bindings and the score are computed in dependency order, once per \
         request or candidate. When one of them uses itself, directly or through others, there \
         is no order to compute them in. (Before P1009 existed, this was reported as \
         P1002.)\n\nExample:\n    let a = b + 1.0\n    let b = a * 2.0\nFix: compute one of \
         them from something outside the cycle:\n    let a = x + 1.0\n    let b = a * 2.0";
    ReservedName = "P1010", "reserved-name", Error,
        "a value or model is named after a built-in name",
        "`candidate`, `now`, `local`, `context` and `score` have a meaning of their own in \
         expressions; a `let` or model with one of these names would be shadowed or shadow it. \
         (Before P1010 existed, this was reported as P1002.)\n\nExample:\n    let now = 3.0\n\
         Fix: choose another name:\n    let base = 3.0";
    ModelFile = "P2001", "model-file", Error,
        "a model file is missing or cannot be loaded",
        "Model files are read from the models directory when a policy set is built. A missing \
         or corrupt file would fail every request that needs the model.\n\nExample:\n    \
         file \"no_such_model.onnx\"\nFix: point `file` at a valid ONNX model, relative to the \
         models directory (`--models`, default `models/`):\n    file \"churn_risk.onnx\"";
    ModelInputWidth = "P2002", "model-input-width", Error,
        "a model binding's inputs do not match the model's input width",
        "The binding lists one expression per model feature, in order. A different count means \
         the model would read misaligned or missing features on every request.\n\nExample: \
         `churn_risk.onnx` takes 10 features:\n    inputs [dau_7, wau_4, avg_session_min_7]\n\
         Fix: list exactly as many inputs as the model takes, in the model's order \
         (`policy model inspect FILE` prints them):\n    inputs [dau_7, wau_4, \
         avg_session_min_7, time_since_last_open_hr, ...]";
    ModelOutput = "P2003", "model-output", Error,
        "a model binding reads an output or column the model does not have",
        "The `output NAME[COLUMN]` line must name an output of the model, and the column must \
         exist.\n\nExample:\n    output probabilities[2]   # binary classifier has 2 columns\n\
         Fix:\n    output probabilities[1]";
    ModelFeatures = "P2004", "model-feature-names", Error,
        "a binding's inputs disagree with the feature names stored in the model",
        "Training scripts write the ordered feature list into the ONNX `metadata_props` \
         (`feature_names`). When the binding's inputs end in different names, or in a different \
         order, the model would silently score the wrong features: a classic serving bug.\n\n\
         Example: the model was trained on `[dau_7, wau_4, ...]`:\n    inputs [wau_4, dau_7, \
         ...]\nFix: reorder or rename the inputs to match the model's feature list (`policy \
         model inspect FILE` prints it):\n    inputs [dau_7, wau_4, ...]";
    ModelPer = "P2005", "model-per", Error,
        "a model binding does not say whether it runs per request or per candidate",
        "A model runs once per request (its inputs read the context) or once per candidate (its \
         inputs may read `candidate.x`); its level decides which expressions may use its \
         output. (Before P2005 existed, this was reported as P2001.)\n\nExample:\n    model m \
         { file \"m.onnx\"  inputs [x]  output probabilities[1] }\nFix: say how often it \
         runs:\n    model m { file \"m.onnx\"  per request  inputs [x]  output \
         probabilities[1] }";
    UnknownRoute = "P3001", "unknown-route", Error,
        "a route points to a policy that does not exist",
        "Route targets are policy names in the same set. A route to a missing policy would \
         leave the requests it matches without a decision.\n\nExample:\n    when risk > 0.5 -> \
         playbok\nFix: use the name of a declared policy:\n    when risk > 0.5 -> playbook";
    RouteCycle = "P3002", "route-cycle", Error,
        "routes form a cycle",
        "Routing must end in a policy that selects; a cycle would route a request forever.\n\n\
         Example: `a` routes to `b` and `b` routes back to `a`:\n    policy b { ... route { \
         when risk > 0.9 -> a  otherwise -> leaf } }\nFix: break the cycle so every path ends \
         at a policy with `select`:\n    when risk > 0.9 -> leaf";
    RouteContext = "P3003", "route-context", Error,
        "a routed policy needs context fields its router does not have",
        "A router passes its request to the target policy, so every field the target declares \
         must exist in the router's context with the same type, or routed requests would \
         arrive without it.\n\nExample: `playbook` declares `user_id: string`, its router \
         does not:\n    policy router { context { risk: float } ... }\nFix: declare the \
         missing fields in the router's context:\n    context { risk: float  user_id: string }";
    ParamRange = "P4001", "param-range", Error,
        "a param value lies outside its declared range, or the range is empty",
        "Ranges guard tuning mistakes, such as a λ of 20 instead of 0.2.\n\nExample:\n    \
         param lambda: float = 1.5 in 0.0..1.0\nFix: choose a value inside the range.";
    InvalidDuration = "P4002", "invalid-duration", Error,
        "a duration or window is not valid",
        "Durations are a number and a unit, `ms`, `s`, `m`, `h` or `d`, and may be combined: \
         `90m`, `1h30m`, `7d`. They must be greater than zero.\n\nExample:\n    gap 8x\nFix:\n    \
         gap 8h";
    InvalidTimeOfDay = "P4003", "invalid-time-of-day", Error,
        "a time of day is not valid",
        "Quiet hours take two times of day as `HH:MM`, 00:00 to 23:59, and must differ.\n\n\
         Example:\n    quiet 22:00 to 25:00\nFix:\n    quiet 22:00 to 08:00";
    InvalidTimeZone = "P4004", "invalid-time-zone", Error,
        "a time zone is not a known IANA zone, or the zone field is not a string",
        "Local hours, calendar days and quiet hours are computed in the subject's IANA time zone \
         (such as `America/New_York`); a wrong zone would put quiet hours at the wrong time \
         of day.\n\nExample:\n    subject user_id zone \"America/New_Yrok\"\nFix: use a valid \
         IANA name or a string context field:\n    subject user_id zone \"America/New_York\"";
    InvalidLiteral = "P4005", "invalid-literal", Error,
        "a literal does not fit its declared type",
        "Defaults and params must have the type they declare.\n\nExample:\n    param k: int = \
         0.5\nFix:\n    param k: float = 0.5";
    ZeroCap = "P4006", "zero-cap", Error,
        "a cap guard allows zero actions",
        "`cap 0` blocks every action of the policy, forever: almost always a typo or a way to \
         switch a policy off that hides what it does. (Before P4006 existed, this was reported \
         as P4002.)\n\nExample:\n    guard daily: cap 0 per day\nFix: allow at least one \
         action, or say that the policy is off:\n    guard daily: cap 1 per day\n    guard off: \
         require false";
    UnusedParam = "P5001", "unused-param", Warning,
        "a param is declared but never used",
        "An unused param is usually a leftover or a typo: tuning it would change nothing, \
         and whoever tunes it will believe it does.\n\nExample:\n    param unused_lambda: \
         float = 0.1   # no expression reads it\nFix: use it in an expression, or delete it. To \
         keep it on purpose, silence the warning on its line:\n    param unused_lambda: float \
         = 0.1  # policy: allow(P5001)";
    UnusedValue = "P5002", "unused-value", Warning,
        "a `let` value is declared but never used",
        "An unused value costs evaluation time on every request and misleads readers.\n\n\
         Example:\n    let doubled = x * 2.0   # nothing reads `doubled`\nFix: use it or \
         delete it:\n    guard ok: require doubled > 1.0";
    UnusedModel = "P5003", "unused-model", Warning,
        "a model is declared but its output is never used",
        "An unused model still runs inference on every request, which costs latency for \
         nothing.\n\nExample: a `model churn { ... }` binding whose name no score, value, guard \
         or route reads.\nFix: use its output or delete the binding:\n    guard risky: \
         require churn > 0.5";
    UnusedSuppression = "P5004", "unused-suppression", Warning,
        "an `allow` comment silences nothing",
        "A `# policy: allow(CODE)` comment silences one code on its line (or, alone on its \
         line, on the next line). When nothing there has that code, the comment is stale and \
         would hide a future problem that nobody meant to silence.\n\nExample:\n    param \
         threshold: float = 0.5 # policy: allow(P5001)   # `threshold` is used\nFix: delete the \
         comment:\n    param threshold: float = 0.5";
}
