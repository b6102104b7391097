//! Mermaid and Graphviz DOT text for [`PolicyGraph`]s. Written by hand: both are small,
//! line-oriented text formats, and the crates that write them would add more than they save.

use super::{NodeKind, PolicyGraph};

/// Mermaid labels are quoted; quotes and angle brackets become entity codes.
fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

fn mermaid_shape(kind: NodeKind, label: &str) -> String {
    match kind {
        NodeKind::Input => format!("[/\"{label}\"/]"),
        NodeKind::Param => format!("[\\\"{label}\"\\]"),
        NodeKind::Candidates => format!("[(\"{label}\")]"),
        NodeKind::Let => format!("[\"{label}\"]"),
        NodeKind::Model => format!("[[\"{label}\"]]"),
        NodeKind::Score => format!("([\"{label}\"])"),
        NodeKind::Guard => format!("{{{{\"{label}\"}}}}"),
        NodeKind::Select => format!("((\"{label}\"))"),
        NodeKind::Fallback => format!("(\"{label}\")"),
        NodeKind::Route => format!("{{\"{label}\"}}"),
        NodeKind::Target => format!(">\"{label}\"]"),
    }
}

/// One `flowchart LR`, one subgraph per policy. Node ids are prefixed with the policy's name.
pub fn render_mermaid(graphs: &[PolicyGraph]) -> String {
    let mut out = String::from("flowchart LR\n");
    for g in graphs {
        let p = super::slug(&g.name);
        out.push_str(&format!("  subgraph {p}[\"{}\"]\n", mermaid_text(&g.name)));
        out.push_str("    direction LR\n");
        for n in &g.nodes {
            let label = n
                .label
                .iter()
                .map(|l| mermaid_text(l))
                .collect::<Vec<_>>()
                .join("<br/>");
            out.push_str(&format!(
                "    {p}__{}{}\n",
                n.id,
                mermaid_shape(n.kind, &label)
            ));
        }
        for e in &g.edges {
            match &e.label {
                Some(l) => out.push_str(&format!(
                    "    {p}__{} -->|\"{}\"| {p}__{}\n",
                    e.from,
                    mermaid_text(l),
                    e.to
                )),
                None => out.push_str(&format!("    {p}__{} --> {p}__{}\n", e.from, e.to)),
            }
        }
        out.push_str("  end\n");
    }
    out
}

/// DOT strings are double-quoted; backslashes and quotes are escaped.
fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn dot_shape(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Input => "shape=parallelogram",
        NodeKind::Param => "shape=note",
        NodeKind::Candidates => "shape=cylinder",
        NodeKind::Let => "shape=box",
        NodeKind::Model => "shape=box3d",
        NodeKind::Score => "shape=ellipse",
        NodeKind::Guard => "shape=hexagon",
        NodeKind::Select => "shape=doublecircle",
        NodeKind::Fallback => "shape=box, style=rounded",
        NodeKind::Route => "shape=diamond",
        NodeKind::Target => "shape=cds",
    }
}

/// One `digraph`, one cluster per policy. Node ids are `"policy/node"`.
pub fn render_dot(graphs: &[PolicyGraph]) -> String {
    let mut out = String::from(
        "digraph policies {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    for g in graphs {
        let p = dot_text(&g.name);
        out.push_str(&format!(
            "  subgraph \"cluster_{p}\" {{\n    label=\"{p}\";\n"
        ));
        for n in &g.nodes {
            let label = n
                .label
                .iter()
                .map(|l| dot_text(l))
                .collect::<Vec<_>>()
                .join("\\n");
            out.push_str(&format!(
                "    \"{p}/{}\" [label=\"{label}\", {}];\n",
                n.id,
                dot_shape(n.kind)
            ));
        }
        for e in &g.edges {
            let attrs = match &e.label {
                Some(l) => format!(" [label=\"{}\"]", dot_text(l)),
                None => String::new(),
            };
            out.push_str(&format!(
                "    \"{p}/{}\" -> \"{p}/{}\"{attrs};\n",
                e.from, e.to
            ));
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}
