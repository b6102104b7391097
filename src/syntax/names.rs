//! What a name read by an expression refers to, decided once from a policy's declarations.
//!
//! Expressions see, in this order: context fields, params, values (`let`s, model outputs and
//! `score`), then the built-in names `candidate`, `local` (unless the context declares a field
//! of that name), `now`, `context` and the namespace `math`. `check` orders and levels values
//! and finds unused names with this, and `graph` draws the edges of the decision graph with it,
//! so the two cannot disagree. (`check`'s type checker resolves the same names in the same
//! order, with their types.)

use super::ast::{Expr, Item, Policy};

/// What a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A field of the context record.
    Context,
    Param,
    /// A `let`.
    Value,
    /// A model's output.
    Model,
    Score,
    /// `candidate.x`: an attribute of the candidate being scored.
    Candidate,
    /// `local.hour` and the other local-time fields.
    Local,
    Now,
    /// `context` itself (`context.x` is the field `x`).
    ContextRoot,
    /// `math`, the namespace of `math.least(…)` and the other math functions: not a value.
    Namespace,
    /// Declared nowhere (`check` reports it).
    Unknown,
}

/// The names a policy declares.
#[derive(Debug, Default)]
pub struct Scope<'a> {
    context: Vec<&'a str>,
    params: Vec<&'a str>,
    values: Vec<&'a str>,
    models: Vec<&'a str>,
    score: bool,
}

impl<'a> Scope<'a> {
    pub fn of(policy: &'a Policy) -> Self {
        let mut s = Scope::default();
        for item in &policy.items {
            match item {
                Item::Context(r) => s
                    .context
                    .extend(r.fields.iter().map(|f| f.name.name.as_str())),
                Item::Param(p) => s.params.push(&p.name.name),
                Item::Let(l) => s.values.push(&l.name.name),
                Item::Model(m) => s.models.push(&m.name.name),
                Item::Score(_) => s.score = true,
                _ => {}
            }
        }
        s
    }

    /// What the name `name` refers to in an expression of this policy.
    pub fn resolve(&self, name: &str) -> Target {
        if self.context.contains(&name) {
            Target::Context
        } else if self.params.contains(&name) {
            Target::Param
        } else if self.values.contains(&name) {
            Target::Value
        } else if self.models.contains(&name) {
            Target::Model
        } else if name == "score" && self.score {
            Target::Score
        } else {
            match name {
                "candidate" => Target::Candidate,
                "local" => Target::Local,
                "now" => Target::Now,
                "context" => Target::ContextRoot,
                "math" => Target::Namespace,
                _ => Target::Unknown,
            }
        }
    }

    /// Each dotted path `e` reads, with what its first segment refers to.
    pub fn reads(&self, e: &Expr) -> Vec<(String, Target)> {
        e.reads()
            .into_iter()
            .map(|p| {
                let t = self.resolve(p.split('.').next().unwrap_or_default());
                (p, t)
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::source::SourceId;

    #[test]
    fn names_resolve_in_the_checkers_order() {
        let text = r#"policy p {
    context {
        user: string
        hour: int
        local: int
    }
    param hour_bias: float = 1.0
    candidates {
        a { w: 1.0 }
    }
    let w = candidate.w * hour_bias
    score = w + hour
    select best
}
"#;
        let Ok(file) = crate::syntax::parse(SourceId::default(), text) else {
            panic!("does not parse")
        };
        let p = &file.policies[0];
        let s = Scope::of(p);
        assert_eq!(s.resolve("hour"), Target::Context);
        assert_eq!(s.resolve("hour_bias"), Target::Param);
        assert_eq!(s.resolve("w"), Target::Value);
        assert_eq!(s.resolve("candidate"), Target::Candidate);
        // A context field named `local` hides the built-in.
        assert_eq!(s.resolve("local"), Target::Context);
        assert_eq!(s.resolve("now"), Target::Now);
        assert_eq!(s.resolve("math"), Target::Namespace);
        assert_eq!(s.resolve("nope"), Target::Unknown);
        let Some(Item::Let(l)) = p.items.iter().find(|i| matches!(i, Item::Let(_))) else {
            panic!("no let")
        };
        assert_eq!(
            s.reads(&l.value),
            vec![
                ("candidate.w".to_string(), Target::Candidate),
                ("hour_bias".to_string(), Target::Param),
            ]
        );
    }
}
