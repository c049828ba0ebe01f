//! Mermaid `flowchart`: one subgraph per node, for Markdown that renders Mermaid.

use std::fmt::Write as _;

use super::{Device, DeviceId, DeviceKind, Diagram};

pub fn render(diagram: &Diagram) -> String {
    let mut out = format!("---\ntitle: {}\n---\nflowchart LR\n", label_text(&diagram.title));
    for (n, node) in diagram.nodes.iter().enumerate() {
        let mut title = node.name.clone();
        for note in &node.notes {
            let _ = write!(title, "<br/><small>{note}</small>");
        }
        let _ = writeln!(out, "  subgraph n{n}[\"{}\"]", label_text(&title));
        out.push_str("    direction TB\n");
        for (i, d) in node.devices.iter().enumerate() {
            let (open, close) = brackets(d.kind);
            let _ = writeln!(out, "    {}{open}\"{}\"{close}", id(DeviceId { node: n, device: i }), label_text(&device_label(d)));
        }
        for (i, d) in node.devices.iter().enumerate() {
            if let Some(bridge) = d.master {
                let _ = writeln!(out, "    {} === {}", id(DeviceId { node: n, device: i }), id(DeviceId { node: n, device: bridge }));
            }
        }
        out.push_str("  end\n");
    }
    for w in &diagram.wires {
        let _ = writeln!(out, "  {} ---|\"{}\"| {}", id(w.ends[0]), label_text(&w.label), id(w.ends[1]));
    }
    out
}

/// Mermaid ids must be plain words; names may hold `-` and `.`, so use indexes.
fn id(d: DeviceId) -> String {
    format!("n{}d{}", d.node, d.device)
}

fn device_label(d: &Device) -> String {
    let mut lines = vec![format!("<b>{}</b> {}", d.name, d.kind.word())];
    lines.extend(d.addresses.iter().cloned());
    lines.extend(d.details.iter().map(|l| format!("<small>{l}</small>")));
    lines.join("<br/>")
}

/// Node shapes: bridges as subroutine boxes, tunnels as hexagons, the rest rounded.
fn brackets(kind: DeviceKind) -> (&'static str, &'static str) {
    match kind {
        DeviceKind::Bridge => ("[[", "]]"),
        DeviceKind::Vxlan => ("{{", "}}"),
        _ => ("(", ")"),
    }
}

/// Text inside a quoted Mermaid label: `"` would end it, `#` starts an entity.
fn label_text(text: &str) -> String {
    text.replace('#', "#35;").replace('"', "#quot;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_cannot_end_a_label() {
        assert_eq!(super::label_text(r#"say "hi" #1"#), "say #quot;hi#quot; #35;1");
    }
}
