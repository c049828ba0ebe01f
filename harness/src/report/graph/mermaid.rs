//! Mermaid `flowchart`: one subgraph per node, for Markdown that renders Mermaid.

use std::fmt::Write as _;

use super::{Device, DeviceId, DeviceKind, Diagram};

pub fn render(diagram: &Diagram) -> String {
    // A JSON string is a valid YAML scalar, whatever the title holds.
    let title = serde_json::to_string(&diagram.title).expect("a string serializes");
    let mut out = format!("---\ntitle: {title}\n---\nflowchart LR\n");
    for (n, node) in diagram.nodes.iter().enumerate() {
        let mut title = text(&node.name);
        for note in &node.notes {
            let _ = write!(title, "<br/><small>{}</small>", text(note));
        }
        let _ = writeln!(out, "  subgraph n{n}[\"{title}\"]");
        out.push_str("    direction TB\n");
        for (i, d) in node.devices.iter().enumerate() {
            let (open, close) = brackets(d.kind);
            let _ = writeln!(out, "    {}{open}\"{}\"{close}", id(DeviceId { node: n, device: i }), device_label(d));
        }
        for (i, d) in node.devices.iter().enumerate() {
            if let Some(bridge) = d.master {
                let _ = writeln!(
                    out,
                    "    {} === {}",
                    id(DeviceId { node: n, device: i }),
                    id(DeviceId { node: n, device: bridge })
                );
            }
        }
        out.push_str("  end\n");
    }
    for w in &diagram.wires {
        let _ = writeln!(out, "  {} ---|\"{}\"| {}", id(w.ends[0]), text(&w.label), id(w.ends[1]));
    }
    out
}

/// Mermaid ids must be plain words; names may hold `-` and `.`, so use indexes.
fn id(d: DeviceId) -> String {
    format!("n{}d{}", d.node, d.device)
}

/// Name in bold, then addresses, then details in small print.
fn device_label(d: &Device) -> String {
    let mut lines = vec![format!("<b>{}</b> {}", text(&d.name), d.kind.word())];
    lines.extend(d.addresses.iter().map(|a| text(a)));
    lines.extend(d.details.iter().map(|l| format!("<small>{}</small>", text(l))));
    lines.join("<br/>")
}

/// Node shapes: bridges as subroutine boxes, tunnels as hexagons, the rest rounded.
fn brackets(kind: DeviceKind) -> (&'static str, &'static str) {
    match kind {
        DeviceKind::Bridge | DeviceKind::Vrf => ("[[", "]]"),
        DeviceKind::Vxlan => ("{{", "}}"),
        _ => ("(", ")"),
    }
}

/// Scenario text inside a quoted Mermaid label, which Mermaid reads as HTML: `"`
/// would end the label, `#` starts an entity code, `<` and `>` would be markup.
fn text(s: &str) -> String {
    s.replace('#', "#35;").replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn scenario_text_cannot_end_a_label_or_add_markup() {
        assert_eq!(super::text(r#"say "hi" #1 <b>"#), "say #quot;hi#quot; #35;1 #lt;b#gt;");
    }
}
