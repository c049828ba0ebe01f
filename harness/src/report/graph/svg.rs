//! Drawing a [`Layout`] as SVG: node boxes, device chips, bridge buses and wires.
//!
//! Plain shapes with presentation attributes (no CSS, no scripts, no external fonts)
//! so browsers, GitHub and `rsvg-convert` all draw the same picture.

use std::fmt::Write as _;

use super::layout::{self, Font, Layout, Rect};
use super::{Device, DeviceKind, Diagram};

const FONT_FAMILY: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const INK: &str = "#1f2328";
const MUTED: &str = "#59636e";
const WIRE: &str = "#bc4c00";

/// How one piece of text is drawn.
#[derive(Clone, Copy)]
struct Style {
    font: Font,
    fill: &'static str,
    bold: bool,
    /// SVG `text-anchor`: `start`, `middle` or `end` of the text at `x`.
    anchor: &'static str,
}

const TITLE: Style = Style { font: Font::Title, fill: INK, bold: true, anchor: "start" };
const ABOUT: Style = Style { font: Font::Small, fill: MUTED, bold: false, anchor: "start" };
const NODE_NAME: Style = Style { font: Font::Node, fill: INK, bold: true, anchor: "start" };
const DEVICE_NAME: Style = Style { font: Font::Text, fill: INK, bold: true, anchor: "start" };
const KIND: Style = Style { font: Font::Small, fill: MUTED, bold: false, anchor: "end" };
const ADDRESS: Style = Style { font: Font::Text, fill: INK, bold: false, anchor: "start" };
const DETAIL: Style = ABOUT;
const WIRE_LABEL: Style = Style { font: Font::Small, fill: WIRE, bold: false, anchor: "middle" };

/// Fill and stroke of a device chip, by kind: bridges blue, tunnels amber, virtual
/// devices without a peer (macvlan, tap, tun) purple, loopback grey.
fn colours(kind: DeviceKind) -> (&'static str, &'static str) {
    match kind {
        DeviceKind::Veth => ("#ffffff", "#57606a"),
        DeviceKind::Bridge => ("#ddf4ff", "#0969da"),
        DeviceKind::Vxlan => ("#fff8c5", "#9a6700"),
        DeviceKind::Macvlan | DeviceKind::Tap | DeviceKind::Tun | DeviceKind::Dummy | DeviceKind::Vlan => {
            ("#fbefff", "#8250df")
        }
        DeviceKind::Vrf => ("#dafbe1", "#1a7f37"),
        DeviceKind::Loopback => ("#eaeef2", "#8c959f"),
    }
}

pub fn render(diagram: &Diagram) -> String {
    let l = layout::layout(diagram);
    let mut svg = Svg(String::new());
    svg.open(&l);
    svg.header(diagram, &l);
    for (node, geom) in diagram.nodes.iter().zip(&l.boxes) {
        svg.node(node, geom);
    }
    // Wires last, so they run over box borders to the chips they join.
    for (wire, geom) in diagram.wires.iter().zip(&l.wires) {
        svg.wire(&wire.label, geom);
    }
    svg.0.push_str("</svg>\n");
    svg.0
}

struct Svg(String);

impl Svg {
    fn open(&mut self, l: &Layout) {
        let (w, h) = (l.width, l.height);
        let _ = writeln!(
            self.0,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}">"#
        );
        let _ = writeln!(self.0, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
    }

    fn header(&mut self, diagram: &Diagram, l: &Layout) {
        let mut y = layout::MARGIN + Font::Title.size();
        self.text(layout::MARGIN, y, TITLE, &diagram.title);
        y += 8;
        for line in &l.about {
            y += Font::Small.line_height();
            self.text(layout::MARGIN, y, ABOUT, line);
        }
    }

    fn node(&mut self, node: &super::NodeBox, g: &layout::NodeGeom) {
        let _ = writeln!(self.0, r#"<g id="node-{}">"#, escape(&node.name));
        let _ = writeln!(
            self.0,
            r##"<rect x="{}" y="{}" width="{}" height="{}" rx="10" fill="#f6f8fa" stroke="#8c959f" stroke-width="1.5"/>"##,
            g.x, g.y, g.w, g.h
        );
        self.text(g.x + layout::BOX_PAD, g.y + 6 + Font::Node.size(), NODE_NAME, &node.name);

        // Bus lines first, so the port chips sit on top of their ends.
        for (i, d) in node.devices.iter().enumerate() {
            if d.kind.is_master() {
                self.bus(g, i, node);
            }
        }
        for (d, chip) in node.devices.iter().zip(&g.chips) {
            self.chip(d, chip);
        }
        if !node.notes.is_empty() {
            let y = g.notes_top - layout::CHIP_GAP / 2;
            let _ = writeln!(
                self.0,
                r##"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#d1d9e0"/>"##,
                g.x + layout::BOX_PAD,
                g.x + g.w - layout::BOX_PAD
            );
            for (i, note) in node.notes.iter().enumerate() {
                let y = g.notes_top + Font::Small.size() + i as i32 * Font::Small.line_height();
                self.text(g.x + layout::BOX_PAD, y, DETAIL, note);
            }
        }
        self.0.push_str("</g>\n");
    }

    /// A bridge's bus: down from the bridge chip through the indent, a tick to each port.
    fn bus(&mut self, g: &layout::NodeGeom, bridge: usize, node: &super::NodeBox) {
        let ports: Vec<&Rect> =
            node.devices.iter().zip(&g.chips).filter(|(d, _)| d.master == Some(bridge)).map(|(_, c)| c).collect();
        let Some(last) = ports.last() else { return };
        let x = g.chips[bridge].x + layout::PORT_INDENT / 2;
        let stroke = colours(node.devices[bridge].kind).1;
        let _ = writeln!(
            self.0,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{stroke}" stroke-width="3"/>"#,
            g.chips[bridge].bottom(),
            last.mid_y()
        );
        for p in ports {
            let _ = writeln!(
                self.0,
                r#"<line x1="{x}" y1="{0}" x2="{1}" y2="{0}" stroke="{stroke}" stroke-width="3"/>"#,
                p.mid_y(),
                p.x
            );
        }
    }

    fn chip(&mut self, d: &Device, r: &Rect) {
        let (fill, stroke) = colours(d.kind);
        let dash = if d.details.iter().any(|l| l == "down") { r#" stroke-dasharray="4 3""# } else { "" };
        let width = if d.kind.is_master() { 2 } else { 1 };
        let _ = writeln!(
            self.0,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/>"#,
            r.x, r.y, r.w, r.h
        );
        // One line per text, as `layout::chip_height` counts them.
        let lines = std::iter::once((DEVICE_NAME, &d.name))
            .chain(d.addresses.iter().map(|a| (ADDRESS, a)))
            .chain(d.details.iter().map(|l| (DETAIL, l)));
        let mut top = r.y + layout::CHIP_PAD_Y;
        for (i, (style, text)) in lines.enumerate() {
            let baseline = top + style.font.size() - 1;
            self.text(r.x + layout::CHIP_PAD_X, baseline, style, text);
            if i == 0 {
                self.text(r.right() - layout::CHIP_PAD_X, baseline, KIND, d.kind.word());
            }
            top += style.font.line_height();
        }
    }

    fn wire(&mut self, label: &str, w: &layout::WireGeom) {
        let ((x1, y1), (x2, y2)) = (w.from, w.to);
        let (path, label_at) = if w.looped {
            let out = x1.max(x2) + layout::LOOP_BULGE;
            let label = Style { anchor: "start", ..WIRE_LABEL };
            (
                format!("M {x1} {y1} C {out} {y1}, {out} {y2}, {x2} {y2}"),
                (out - layout::LOOP_BULGE / 4 + 4, (y1 + y2) / 2 + 4, label),
            )
        } else {
            let bend = (x2 - x1) / 2;
            (
                format!("M {x1} {y1} C {} {y1}, {} {y2}, {x2} {y2}", x1 + bend, x2 - bend),
                ((x1 + x2) / 2, (y1 + y2) / 2 - 5, WIRE_LABEL),
            )
        };
        let _ = writeln!(self.0, r#"<path d="{path}" fill="none" stroke="{WIRE}" stroke-width="2"/>"#);
        for (x, y) in [w.from, w.to] {
            let _ = writeln!(self.0, r#"<circle cx="{x}" cy="{y}" r="3.5" fill="{WIRE}"/>"#);
        }
        let (x, y, style) = label_at;
        self.text(x, y, style, label);
    }

    fn text(&mut self, x: i32, y: i32, style: Style, text: &str) {
        let weight = if style.bold { "bold" } else { "normal" };
        let _ = writeln!(
            self.0,
            r#"<text x="{x}" y="{y}" font-size="{}" font-weight="{weight}" fill="{}" text-anchor="{}">{}</text>"#,
            style.font.size(),
            style.fill,
            style.anchor,
            escape(text)
        );
    }
}

/// Text and attribute values in XML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_escaped() {
        assert_eq!(super::escape(r#"a<b & "c""#), "a&lt;b &amp; &quot;c&quot;");
    }
}
