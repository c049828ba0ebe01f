//! Where everything goes in the SVG picture.
//!
//! A small layout of our own rather than a general graph-layout engine: the pure-Rust
//! one (`layout-rs`) flattens DOT subgraphs, so it cannot draw a namespace as a box
//! around its interfaces, and network topologies are small and tree-like anyway.
//!
//! The picture reads like the hand-drawn diagrams of the write-ups:
//! - each connected group of nodes is laid out around its most central node, the
//!   other nodes in columns to its left and right by their distance from it
//!   (`host1 | switch | host2`), so every veth crosses one column gap;
//! - inside a node box its devices are stacked as "chips", a bridge's ports indented
//!   under it and joined to it by a bus line;
//! - each node is moved vertically so that the chip wired to its parent lines up with
//!   the parent's chip, which keeps wires straight in chains.
//!
//! Text is measured with a monospace font's fixed advance, so sizes are exact enough
//! without a font engine and every coordinate is an integer: the output is stable.

use std::collections::{BTreeMap, VecDeque};

use super::{DeviceId, Diagram};

/// The fonts the picture uses. Monospace (DejaVu Sans Mono and its peers advance
/// 0.6 em per character) so text width is known without measuring glyphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    /// The scenario's name above the picture.
    Title,
    /// A node's name at the top of its box.
    Node,
    /// Interface names and addresses.
    Text,
    /// Kind words, details, notes, wire labels, the `about` text.
    Small,
}

impl Font {
    pub fn size(self) -> i32 {
        match self {
            Font::Title => 16,
            Font::Node => 14,
            Font::Text => 12,
            Font::Small => 11,
        }
    }

    /// Width of `text` in pixels, rounded up (0.61 em per character leaves a margin
    /// over the 0.602 em of DejaVu Sans Mono).
    pub fn width(self, text: &str) -> i32 {
        (text.chars().count() as f64 * f64::from(self.size()) * 0.61).ceil() as i32
    }

    /// Baseline-to-baseline distance.
    pub fn line_height(self) -> i32 {
        self.size() + 4
    }
}

/// Spacing, in pixels.
pub const MARGIN: i32 = 20;
pub const BOX_PAD: i32 = 12;
/// Height of a node box's title row.
pub const BOX_TITLE: i32 = 24;
pub const CHIP_PAD_X: i32 = 8;
pub const CHIP_PAD_Y: i32 = 5;
pub const CHIP_GAP: i32 = 8;
/// How far a bridge's ports are indented under it (the bus line runs there).
pub const PORT_INDENT: i32 = 22;
/// Between columns: room for a wire and its label.
pub const COLUMN_GAP: i32 = 110;
/// Between boxes stacked in one column, and between unconnected groups.
pub const ROW_GAP: i32 = 28;
/// How far a wire between two chips of one column bulges out to the right.
pub const LOOP_BULGE: i32 = 44;
/// Gap between a kind word and the name on a chip's first line.
const KIND_GAP: i32 = 14;

/// The whole picture.
#[derive(Debug)]
pub struct Layout {
    pub width: i32,
    pub height: i32,
    /// Lines of the wrapped `about` text, under the title.
    pub about: Vec<String>,
    /// One per diagram node, same order.
    pub boxes: Vec<NodeGeom>,
    /// One per diagram wire, same order.
    pub wires: Vec<WireGeom>,
}

/// A node box, in absolute coordinates.
#[derive(Debug, Clone)]
pub struct NodeGeom {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
    /// One per device, same order as the node's devices.
    pub chips: Vec<Rect>,
    /// Top of the notes section (below the last chip).
    pub notes_top: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: i32,
    pub h: i32,
}

impl Rect {
    pub fn mid_y(&self) -> i32 {
        self.y + self.h / 2
    }
    pub fn right(&self) -> i32 {
        self.x + self.w
    }
    pub fn bottom(&self) -> i32 {
        self.y + self.h
    }
}

/// A wire: from one chip's side to another's.
#[derive(Debug, Clone, Copy)]
pub struct WireGeom {
    pub from: (i32, i32),
    pub to: (i32, i32),
    /// Both ends sit on right edges of one column: the wire loops out to the right.
    pub looped: bool,
}

/// Lay out `diagram`.
pub fn layout(diagram: &Diagram) -> Layout {
    let mut boxes: Vec<NodeGeom> = diagram.nodes.iter().map(measure_node).collect();

    // Each connected group below the previous one; chips still relative to their box.
    let mut columns = vec![0; boxes.len()];
    let mut top = 0;
    for group in groups(diagram) {
        let placed = place_group(diagram, &group, &mut boxes);
        for &n in &group {
            boxes[n].y += top;
            columns[n] = placed[&n];
        }
        top = group.iter().map(|&n| boxes[n].y + boxes[n].h).max().unwrap_or(top) + ROW_GAP;
    }
    let content_height = (top - ROW_GAP).max(0);
    for b in &mut boxes {
        for c in &mut b.chips {
            c.x += b.x;
            c.y += b.y;
        }
        b.notes_top += b.y;
    }
    let mut wires: Vec<WireGeom> = diagram.wires.iter().map(|w| wire_geom(&boxes, &columns, w.ends)).collect();

    // Width: the boxes (plus room for loops on the right) or the title, whichever is wider.
    let loop_room = if wires.iter().any(|w| w.looped) { LOOP_BULGE + 30 } else { 0 };
    let content_width = boxes.iter().map(|b| b.x + b.w).max().unwrap_or(0) + loop_room;
    let width = content_width.max(Font::Title.width(&diagram.title)) + 2 * MARGIN;
    let about_chars = ((width - 2 * MARGIN) / Font::Small.width("x")).max(72) as usize;
    let about = diagram.about.as_deref().map(|a| wrap(a, about_chars)).unwrap_or_default();
    let width = about.iter().map(|l| Font::Small.width(l) + 2 * MARGIN).fold(width, i32::max);

    // The header (title and about text) sits above everything.
    let header = Font::Title.line_height()
        + 8
        + about.len() as i32 * Font::Small.line_height()
        + if about.is_empty() { 0 } else { 10 };
    let (dx, dy) = (MARGIN, MARGIN + header);
    for b in &mut boxes {
        b.x += dx;
        b.y += dy;
        b.notes_top += dy;
        for c in &mut b.chips {
            c.x += dx;
            c.y += dy;
        }
    }
    for w in &mut wires {
        for p in [&mut w.from, &mut w.to] {
            p.0 += dx;
            p.1 += dy;
        }
    }
    Layout { width, height: dy + content_height + MARGIN, about, boxes, wires }
}

/// A node box's size and its chips' positions relative to the box.
fn measure_node(node: &super::NodeBox) -> NodeGeom {
    let chip_width = |d: &super::Device| {
        let first = Font::Text.width(&d.name) + KIND_GAP + Font::Small.width(d.kind.word());
        let rest =
            d.addresses.iter().map(|a| Font::Text.width(a)).chain(d.details.iter().map(|l| Font::Small.width(l)));
        rest.fold(first, i32::max) + 2 * CHIP_PAD_X
    };
    let indent = |d: &super::Device| if d.master.is_some() { PORT_INDENT } else { 0 };
    let inner = node
        .devices
        .iter()
        .map(|d| chip_width(d) + indent(d))
        .chain(node.notes.iter().map(|n| Font::Small.width(n)))
        .fold(Font::Node.width(&node.name), i32::max);

    let mut y = BOX_TITLE + BOX_PAD / 2;
    let mut chips = Vec::new();
    for d in &node.devices {
        let h = chip_height(d);
        chips.push(Rect { x: BOX_PAD + indent(d), y, w: inner - indent(d), h });
        y += h + CHIP_GAP;
    }
    let notes_top = y;
    let h = if node.notes.is_empty() {
        y - CHIP_GAP + BOX_PAD
    } else {
        y + node.notes.len() as i32 * Font::Small.line_height() + BOX_PAD / 2
    };
    NodeGeom { x: 0, y: 0, w: inner + 2 * BOX_PAD, h: h.max(BOX_TITLE + BOX_PAD), chips, notes_top }
}

/// A chip: the name line, one line per address, one small line per detail.
pub fn chip_height(d: &super::Device) -> i32 {
    2 * CHIP_PAD_Y
        + Font::Text.line_height() * (1 + d.addresses.len() as i32)
        + Font::Small.line_height() * d.details.len() as i32
}

/// Nodes joined by wires, each group in declaration order; groups ordered by their
/// first node.
fn groups(diagram: &Diagram) -> Vec<Vec<usize>> {
    let neighbours = neighbours(diagram);
    let mut group_of = vec![usize::MAX; diagram.nodes.len()];
    let mut groups = Vec::new();
    for start in 0..diagram.nodes.len() {
        if group_of[start] != usize::MAX {
            continue;
        }
        let mut members = vec![start];
        group_of[start] = groups.len();
        let mut i = 0;
        while i < members.len() {
            for &(next, _) in &neighbours[members[i]] {
                if group_of[next] == usize::MAX {
                    group_of[next] = groups.len();
                    members.push(next);
                }
            }
            i += 1;
        }
        members.sort_unstable();
        groups.push(members);
    }
    groups
}

/// For each node, its neighbours in node order, with the first wire (in link order)
/// joining them. Wires within one node are not adjacency.
fn neighbours(diagram: &Diagram) -> Vec<Vec<(usize, usize)>> {
    let mut map: Vec<BTreeMap<usize, usize>> = vec![BTreeMap::new(); diagram.nodes.len()];
    for (i, w) in diagram.wires.iter().enumerate() {
        let [a, b] = w.ends.map(|e| e.node);
        if a != b {
            map[a].entry(b).or_insert(i);
            map[b].entry(a).or_insert(i);
        }
    }
    map.into_iter().map(|m| m.into_iter().collect()).collect()
}

/// Breadth-first distances from `from` within the group.
fn distances(neighbours: &[Vec<(usize, usize)>], from: usize) -> BTreeMap<usize, i32> {
    let mut dist = BTreeMap::from([(from, 0)]);
    let mut queue = VecDeque::from([from]);
    while let Some(n) = queue.pop_front() {
        for &(next, _) in &neighbours[n] {
            if !dist.contains_key(&next) {
                dist.insert(next, dist[&n] + 1);
                queue.push_back(next);
            }
        }
    }
    dist
}

/// Give each node of `group` a column and a box position relative to the group's
/// top-left corner; returns the columns.
fn place_group(diagram: &Diagram, group: &[usize], boxes: &mut [NodeGeom]) -> BTreeMap<usize, i32> {
    let neighbours = neighbours(diagram);
    // The centre: smallest eccentricity, then most neighbours, then first declared.
    let center = *group
        .iter()
        .min_by_key(|&&n| {
            let ecc = distances(&neighbours, n).values().copied().max().unwrap_or(0);
            (ecc, std::cmp::Reverse(neighbours[n].len()), n)
        })
        .expect("a group has a node");

    // Breadth-first tree from the centre: parent and the wire to it.
    let mut parent: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut depth = BTreeMap::from([(center, 0)]);
    let mut bfs = vec![center];
    let mut i = 0;
    while i < bfs.len() {
        let n = bfs[i];
        for &(next, wire) in &neighbours[n] {
            if !depth.contains_key(&next) {
                depth.insert(next, depth[&n] + 1);
                parent.insert(next, (n, wire));
                bfs.push(next);
            }
        }
        i += 1;
    }

    // Each subtree of the centre goes left or right, whichever side is lighter.
    // Subtrees joined by a wire that bypasses the centre (a cycle) go to the same
    // side, so that wire joins neighbouring columns (or loops within one) instead of
    // crossing the centre's box.
    let subtree = |n: usize| root_child(&parent, center, n);
    let mut block: BTreeMap<usize, usize> = neighbours[center].iter().map(|&(c, _)| (c, c)).collect();
    let find = |block: &BTreeMap<usize, usize>, mut c: usize| {
        while block[&c] != c {
            c = block[&c];
        }
        c
    };
    for w in &diagram.wires {
        if let [Some(a), Some(b)] = w.ends.map(|e| subtree(e.node)) {
            let (ra, rb) = (find(&block, a), find(&block, b));
            // The earlier child stays the block's representative.
            block.insert(ra.max(rb), ra.min(rb));
        }
    }
    let mut side_of_block: BTreeMap<usize, i32> = BTreeMap::new();
    let mut weight = [0usize; 2];
    for &(child, _) in &neighbours[center] {
        let b = find(&block, child);
        if side_of_block.contains_key(&b) {
            continue;
        }
        let size = bfs.iter().filter(|&&n| subtree(n).is_some_and(|c| find(&block, c) == b)).count();
        let s = if weight[0] <= weight[1] { 0 } else { 1 };
        weight[s] += size;
        side_of_block.insert(b, if s == 0 { -1 } else { 1 });
    }
    let side: BTreeMap<usize, i32> =
        neighbours[center].iter().map(|&(c, _)| (c, side_of_block[&find(&block, c)])).collect();
    let mut column: BTreeMap<usize, i32> = BTreeMap::new();
    for &n in &bfs {
        let s = subtree(n).map_or(0, |c| side[&c]);
        column.insert(n, s * depth[&n]);
    }
    // Mirror when that reads closer to declaration order, left to right.
    let mean = group.iter().sum::<usize>() as f64 / group.len() as f64;
    let trend: f64 = column.iter().map(|(&n, &c)| (n as f64 - mean) * f64::from(c)).sum();
    if trend < 0.0 {
        column.values_mut().for_each(|c| *c = -*c);
    }

    // Horizontal: columns side by side, boxes centred in their column.
    let (min_col, max_col) = (*column.values().min().unwrap_or(&0), *column.values().max().unwrap_or(&0));
    let mut x = 0;
    for col in min_col..=max_col {
        let members: Vec<usize> = bfs.iter().copied().filter(|n| column[n] == col).collect();
        let width = members.iter().map(|&n| boxes[n].w).max().unwrap_or(0);
        for &n in &members {
            boxes[n].x = x + (width - boxes[n].w) / 2;
        }
        x += width + COLUMN_GAP;
    }

    // Vertical: outward from the centre, each node wants the chip wired to its parent
    // level with the parent's chip; boxes in one column never overlap.
    boxes[center].y = 0;
    let mut bottom_of_column: BTreeMap<i32, i32> = BTreeMap::new();
    bottom_of_column.insert(0, boxes[center].h);
    for d in 1..=depth.values().copied().max().unwrap_or(0) {
        for col in [-d, d] {
            let mut members: Vec<(i32, usize)> = bfs
                .iter()
                .copied()
                .filter(|n| column[n] == col)
                .map(|n| {
                    let (p, wire) = parent[&n];
                    let ends = diagram.wires[wire].ends;
                    let mine = ends.iter().find(|e| e.node == n).expect("wire touches node");
                    let theirs = ends.iter().find(|e| e.node == p).expect("wire touches parent");
                    let want = boxes[p].y + boxes[p].chips[theirs.device].mid_y() - boxes[n].chips[mine.device].mid_y();
                    (want, n)
                })
                .collect();
            members.sort();
            let mut floor = i32::MIN;
            for (want, n) in members {
                boxes[n].y = want.max(floor);
                floor = boxes[n].y + boxes[n].h + ROW_GAP;
            }
        }
    }
    let top = group.iter().map(|&n| boxes[n].y).min().unwrap_or(0);
    for &n in group {
        boxes[n].y -= top;
    }
    column
}

/// The centre's child whose subtree holds `n` (None for the centre itself).
fn root_child(parent: &BTreeMap<usize, (usize, usize)>, center: usize, mut n: usize) -> Option<usize> {
    while let Some(&(p, _)) = parent.get(&n) {
        if p == center {
            return Some(n);
        }
        n = p;
    }
    None
}

/// A wire leaves each chip on the side facing the other end. Both ends in one column
/// (one node, or a wire that closes a cycle): both on the right edge, and the wire
/// loops outward.
fn wire_geom(boxes: &[NodeGeom], columns: &[i32], ends: [DeviceId; 2]) -> WireGeom {
    let [a, b] = ends.map(|e| boxes[e.node].chips[e.device]);
    let [ca, cb] = ends.map(|e| columns[e.node]);
    let (from_x, to_x) = match ca.cmp(&cb) {
        std::cmp::Ordering::Equal => (a.right(), b.right()),
        std::cmp::Ordering::Less => (a.right(), b.x),
        std::cmp::Ordering::Greater => (a.x, b.right()),
    };
    WireGeom { from: (from_x, a.mid_y()), to: (to_x, b.mid_y()), looped: ca == cb }
}

/// Greedy word wrap at `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::graph::{Device, DeviceKind, NodeBox, Wire};

    fn node(name: &str, devices: &[&str]) -> NodeBox {
        let devices = devices
            .iter()
            .map(|d| Device {
                name: d.to_string(),
                kind: DeviceKind::Veth,
                addresses: vec![],
                details: vec![],
                master: None,
            })
            .collect();
        NodeBox { name: name.into(), devices, notes: vec![] }
    }

    fn wire(a: (usize, usize), b: (usize, usize)) -> Wire {
        Wire { ends: [DeviceId { node: a.0, device: a.1 }, DeviceId { node: b.0, device: b.1 }], label: "veth".into() }
    }

    /// a — b — c — d — e, declared in that order.
    fn chain() -> Diagram {
        Diagram {
            title: "chain".into(),
            about: None,
            nodes: vec![
                node("a", &["r"]),
                node("b", &["l", "r"]),
                node("c", &["l", "r"]),
                node("d", &["l", "r"]),
                node("e", &["l"]),
            ],
            wires: vec![wire((0, 0), (1, 0)), wire((1, 1), (2, 0)), wire((2, 1), (3, 0)), wire((3, 1), (4, 0))],
        }
    }

    #[test]
    fn a_chain_reads_left_to_right_around_its_middle() {
        let l = layout(&chain());
        let xs: Vec<i32> = l.boxes.iter().map(|b| b.x).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
        // Every wire goes rightwards, from a right edge to a left edge.
        for w in &l.wires {
            assert!(w.from.0 < w.to.0 && !w.looped, "{w:?}");
        }
    }

    #[test]
    fn children_line_up_with_the_chip_they_hang_from() {
        let l = layout(&chain());
        // c is the centre; b's right chip is level with c's left chip.
        assert_eq!(l.wires[1].from.1, l.wires[1].to.1);
        assert_eq!(l.wires[2].from.1, l.wires[2].to.1);
    }

    #[test]
    fn a_wire_within_one_node_loops() {
        let d = Diagram {
            title: "t".into(),
            about: None,
            nodes: vec![node("lab", &["veth0", "veth1"])],
            wires: vec![wire((0, 0), (0, 1))],
        };
        let l = layout(&d);
        assert!(l.wires[0].looped);
        assert!(l.width >= l.boxes[0].x + l.boxes[0].w + LOOP_BULGE);
    }

    #[test]
    fn boxes_in_one_column_do_not_overlap() {
        // A hub with four leaves: two columns of two.
        let d = Diagram {
            title: "t".into(),
            about: None,
            nodes: vec![
                node("hub", &["a", "b", "c", "d"]),
                node("l1", &["x"]),
                node("l2", &["x"]),
                node("l3", &["x"]),
                node("l4", &["x"]),
            ],
            wires: (0..4).map(|i| wire((0, i), (i + 1, 0))).collect(),
        };
        let l = layout(&d);
        for (i, a) in l.boxes.iter().enumerate() {
            for b in &l.boxes[i + 1..] {
                let apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn a_cycle_keeps_to_one_side_of_the_centre() {
        // A triangle: whatever the centre, the other two share a column and the
        // wire between them loops beside it rather than crossing the centre's box.
        let d = Diagram {
            title: "t".into(),
            about: None,
            nodes: vec![node("a", &["x", "y"]), node("t", &["x", "y"]), node("b", &["x", "y"])],
            wires: vec![wire((0, 0), (1, 0)), wire((1, 1), (2, 0)), wire((0, 1), (2, 1))],
        };
        let l = layout(&d);
        assert_eq!(l.boxes[1].x, l.boxes[2].x);
        assert!(l.wires[1].looped);
        assert!(!l.wires[0].looped && !l.wires[2].looped);
    }

    #[test]
    fn text_wraps_at_word_boundaries() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("", 5), Vec::<String>::new());
    }
}
