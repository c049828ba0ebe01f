//! Graphviz DOT: one `cluster_` subgraph per node, so `dot -Tsvg` draws namespaces as
//! boxes around their interfaces.

use std::fmt::Write as _;

use super::{Device, DeviceId, DeviceKind, Diagram};

pub fn render(diagram: &Diagram) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph {} {{", quote(&diagram.title));
    out.push_str("  rankdir=LR;\n  compound=true;\n  fontname=\"monospace\";\n");
    out.push_str(
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"monospace\", fontsize=10];\n",
    );
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
    for (n, node) in diagram.nodes.iter().enumerate() {
        let mut label = node.name.clone();
        for note in &node.notes {
            label.push('\n');
            label.push_str(note);
        }
        let _ = writeln!(out, "  subgraph {} {{", quote(&format!("cluster_{}", node.name)));
        let _ =
            writeln!(out, "    label={};\n    style=\"rounded,filled\";\n    fillcolor=\"#f6f8fa\";", quote(&label));
        for (i, d) in node.devices.iter().enumerate() {
            let id = DeviceId { node: n, device: i };
            let _ = writeln!(
                out,
                "    {} [label={}{}];",
                quote(&node_id(diagram, id)),
                quote(&device_label(d)),
                shape(d.kind)
            );
        }
        for (i, d) in node.devices.iter().enumerate() {
            if let Some(bridge) = d.master {
                let (port, master) = (DeviceId { node: n, device: i }, DeviceId { node: n, device: bridge });
                let _ = writeln!(
                    out,
                    "    {} -- {} [style=bold, color=\"#0969da\"];",
                    quote(&node_id(diagram, port)),
                    quote(&node_id(diagram, master))
                );
            }
        }
        out.push_str("  }\n");
    }
    for w in &diagram.wires {
        let [a, b] = w.ends.map(|e| quote(&node_id(diagram, e)));
        let _ = writeln!(out, "  {a} -- {b} [label={}, color=\"#bc4c00\", penwidth=2];", quote(&w.label));
    }
    out.push_str("}\n");
    out
}

/// `node:iface`, unique in the graph.
fn node_id(diagram: &Diagram, id: DeviceId) -> String {
    format!("{}:{}", diagram.nodes[id.node].name, diagram.device(id).name)
}

fn device_label(d: &Device) -> String {
    let mut lines = vec![format!("{} ({})", d.name, d.kind.word())];
    lines.extend(d.addresses.iter().cloned());
    lines.extend(d.details.iter().cloned());
    lines.join("\n")
}

fn shape(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Veth | DeviceKind::Loopback => "",
        DeviceKind::Bridge => ", shape=box, style=filled, fillcolor=\"#ddf4ff\", penwidth=2",
        DeviceKind::Vxlan => ", fillcolor=\"#fff8c5\"",
        DeviceKind::Macvlan | DeviceKind::Tap | DeviceKind::Tun | DeviceKind::Dummy | DeviceKind::Vlan => {
            ", fillcolor=\"#fbefff\""
        }
        DeviceKind::Vrf => ", shape=box, style=filled, fillcolor=\"#dafbe1\", penwidth=2",
    }
}

/// A DOT quoted string; newlines become DOT's centred line breaks.
fn quote(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_escapes_quotes_and_newlines() {
        assert_eq!(super::quote("a\"b\nc\\"), r#""a\"b\nc\\""#);
    }
}
