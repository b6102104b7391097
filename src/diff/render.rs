//! The diff as markdown, to paste into a pull-request comment: a heading per policy and a
//! bullet per change, definitions in code spans. (`--format json` serializes [`SetDiff`].)

use super::{Change, Op, PolicyDiff, SetDiff};

/// A code span that survives backticks inside the text.
fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

fn change_line(c: &Change) -> String {
    // Singletons (score, select, fallback, subject) are named by their kind alone.
    let what = if c.name == c.kind.as_str() {
        c.kind.as_str().to_string()
    } else {
        format!("{} {}", c.kind.as_str(), code(&c.name))
    };
    let mut line = match (c.op, &c.old, &c.new) {
        (Op::Added, _, Some(n)) => format!("- {what} added: {}", code(n)),
        (Op::Removed, Some(o), _) => format!("- {what} removed (was {})", code(o)),
        // A change with named parts lists the parts; otherwise old → new in full.
        (_, _, _) if !c.details.is_empty() => format!("- {what} changed:"),
        (_, Some(o), Some(n)) => format!("- {what} changed: {} → {}", code(o), code(n)),
        _ => format!("- {what}"),
    };
    for d in &c.details {
        line.push_str(&match (&d.old, &d.new) {
            (Some(o), Some(n)) => format!("\n  - {}: {} → {}", d.part, code(o), code(n)),
            (None, Some(n)) => format!("\n  - {} added: {}", d.part, code(n)),
            (Some(o), None) => format!("\n  - {} removed: {}", d.part, code(o)),
            (None, None) => String::new(),
        });
    }
    line
}

fn policy_section(p: &PolicyDiff) -> String {
    let file = |f: &Option<std::path::PathBuf>| {
        f.as_ref()
            .map(|f| code(&f.display().to_string()))
            .unwrap_or_default()
    };
    match p.op {
        Op::Added => format!(
            "### policy {} added\n\nin {}\n",
            code(&p.name),
            file(&p.new_file)
        ),
        Op::Removed => format!(
            "### policy {} removed\n\nwas in {}\n",
            code(&p.name),
            file(&p.old_file)
        ),
        Op::Changed => {
            let mut s = format!(
                "### policy {}\n\nin {}\n\n",
                code(&p.name),
                file(&p.new_file)
            );
            for c in &p.changes {
                s.push_str(&change_line(c));
                s.push('\n');
            }
            s
        }
    }
}

/// Markdown: a summary line, then one section per added, removed or changed policy.
pub fn render_markdown(d: &SetDiff) -> String {
    let s = &d.summary;
    let mut out = format!(
        "## Policy changes\n\n{} changed, {} added, {} removed, {} unchanged\n",
        s.changed, s.added, s.removed, s.unchanged
    );
    if d.is_empty() {
        out.push_str("\nNo semantic changes.\n");
    }
    for p in &d.policies {
        out.push('\n');
        out.push_str(&policy_section(p));
    }
    out
}
