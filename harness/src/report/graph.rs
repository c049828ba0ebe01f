//! Pictures of a scenario's topology (`netrig graph`): SVG, Mermaid or Graphviz DOT.
//!
//! A scenario is first reduced to a renderer-neutral [`Diagram`] — nodes as boxes, the
//! devices inside them, veth pairs as wires — so the three formats show the same
//! thing and only differ in drawing. The picture is of the topology as built, before
//! any step changes it. Everything is ordered (declaration order, then names) so the
//! output is byte-for-byte deterministic: the pictures under `docs/` are checked in
//! and a test fails when one is out of date.

#[cfg(test)]
mod docs;
mod dot;
mod layout;
mod mermaid;
mod svg;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::model::{Iface, LinkState, Node, Scenario};
use crate::parse::load::{self, Diagnostic, Diagnostics, Source};
use crate::parse::matrix;

/// An output format of `netrig graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Svg,
    Mermaid,
    Dot,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Svg, Format::Mermaid, Format::Dot];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Mermaid => "mermaid",
            Format::Dot => "dot",
        }
    }

    /// The format a file name asks for (`topo.svg`, `topo.mmd`, `topo.gv`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "svg" => Some(Format::Svg),
            "mmd" | "mermaid" => Some(Format::Mermaid),
            "dot" | "gv" => Some(Format::Dot),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| format!("`{s}`: expected svg, mermaid or dot"))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Draw the scenario file at `path`, as `netrig graph` does.
pub fn render_file(path: &Path, format: Format) -> Result<String, Diagnostics> {
    let (scenario, title) = drawable(path)?;
    Ok(render(&scenario, &title, format))
}

/// What a picture of the file at `path` shows, and its title (`name:`, else the file
/// stem). A `matrix:` file is drawn with its first row's values (rows change values,
/// rarely the topology); the title names the row.
pub fn drawable(path: &Path) -> Result<(Scenario, String), Diagnostics> {
    let source = Source::read(path)?;
    let Some(variant) = matrix::variants(&source)?.into_iter().next() else {
        return Err(Diagnostics(vec![Diagnostic::new(
            &source,
            0,
            0,
            "matrix",
            "the matrix has no rows: nothing to draw",
        )]));
    };
    let scenario = load::parse_and_validate(&variant.source()?)?;
    let name = match &scenario.name {
        Some(name) => name.clone(),
        None => path.file_stem().unwrap_or_default().to_string_lossy().into_owned(),
    };
    let title = match &variant.label {
        Some(row) => format!("{name} [{row}]"),
        None => name,
    };
    Ok((scenario, title))
}

/// Draw `scenario` (already validated) under `title`.
pub fn render(scenario: &Scenario, title: &str, format: Format) -> String {
    let diagram = Diagram::of(scenario, title);
    match format {
        Format::Svg => svg::render(&diagram),
        Format::Mermaid => mermaid::render(&diagram),
        Format::Dot => dot::render(&diagram),
    }
}

/// What every picture shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagram {
    pub title: String,
    pub about: Option<String>,
    /// In declaration order (the order the scenario file lists them).
    pub nodes: Vec<NodeBox>,
    /// veth pairs, in the order of `links:`.
    pub wires: Vec<Wire>,
}

/// One network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBox {
    pub name: String,
    /// Each bridge is directly followed by the devices enslaved to it; devices with no
    /// master come after all bridges. Renderers rely on this grouping.
    pub devices: Vec<Device>,
    /// Node-wide settings worth seeing in a picture: sysctls, routes, rules and the
    /// commands of `run:` (`$ iptables …`).
    pub notes: Vec<String>,
}

/// One interface of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub kind: DeviceKind,
    pub addresses: Vec<String>,
    /// Kind-specific facts, one short line each (`VNI 100`, `mtu 1450`, `down`).
    pub details: Vec<String>,
    /// Index (in the node's `devices`) of the bridge this device is enslaved to.
    pub master: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Veth,
    Bridge,
    Vxlan,
    Macvlan,
    Tap,
    Tun,
    Dummy,
    Vlan,
    Vrf,
    Loopback,
}

impl DeviceKind {
    /// Whether devices are enslaved to it (drawn below it, on its bus).
    pub fn is_master(self) -> bool {
        matches!(self, DeviceKind::Bridge | DeviceKind::Vrf)
    }

    pub fn word(self) -> &'static str {
        match self {
            DeviceKind::Veth => "veth",
            DeviceKind::Bridge => "bridge",
            DeviceKind::Vxlan => "vxlan",
            DeviceKind::Macvlan => "macvlan",
            DeviceKind::Tap => "tap",
            DeviceKind::Tun => "tun",
            DeviceKind::Dummy => "dummy",
            DeviceKind::Vlan => "vlan",
            DeviceKind::Vrf => "vrf",
            DeviceKind::Loopback => "loopback",
        }
    }
}

/// A veth pair between two devices (possibly of the same node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    pub ends: [DeviceId; 2],
    /// Shown on the wire: `veth`, plus the pair's MTU when set.
    pub label: String,
}

/// A device of a node, by indexes into [`Diagram::nodes`] and [`NodeBox::devices`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeviceId {
    pub node: usize,
    pub device: usize,
}

impl Diagram {
    /// Reduce a validated scenario to what its pictures show.
    pub fn of(scenario: &Scenario, title: &str) -> Diagram {
        // Declaration order reads the way the author laid the topology out; `Loc`
        // remembers it although the model keeps nodes in a map. The scenario's own
        // nodes come first, then those of included fixtures.
        let mut order: Vec<(&String, &crate::model::Loc<Node>)> = scenario.nodes.iter().collect();
        order.sort_by_key(|(name, node)| (node.source, node.line, node.column, name.as_str()));

        let mut nodes = Vec::new();
        let mut index_of = BTreeMap::new();
        for (name, node) in order {
            index_of.insert(name.as_str(), nodes.len());
            nodes.push(node_box(scenario, name, node));
        }
        let mut wires = Vec::new();
        for link in &scenario.links {
            let end = |i: usize| {
                let at = &link.veth[i].at;
                let node = index_of[at.node.as_str()];
                let device =
                    nodes[node].devices.iter().position(|d| d.name == at.iface).expect("every veth end is a device");
                DeviceId { node, device }
            };
            let label = match link.mtu {
                Some(mtu) => format!("veth mtu {mtu}"),
                None => "veth".to_string(),
            };
            wires.push(Wire { ends: [end(0), end(1)], label });
        }
        Diagram {
            title: title.to_string(),
            about: scenario.about.as_ref().map(|a| a.split_whitespace().collect::<Vec<_>>().join(" ")),
            nodes,
            wires,
        }
    }

    pub fn device(&self, id: DeviceId) -> &Device {
        &self.nodes[id.node].devices[id.device]
    }
}

/// A device before grouping: its master by name.
struct Draft {
    device: Device,
    master: Option<String>,
}

fn node_box(scenario: &Scenario, name: &str, node: &Node) -> NodeBox {
    let mut drafts: Vec<Draft> = Vec::new();
    let mut add = |name: &str, kind, addresses: Vec<String>, details: Vec<String>, master: Option<&str>| {
        drafts.push(Draft {
            device: Device { name: name.to_string(), kind, addresses, details, master: None },
            master: master.map(str::to_string),
        });
    };
    let addresses = |list: &[crate::model::Loc<ipnet::IpNet>]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    for (dev, b) in &node.bridges {
        let mut details = Vec::new();
        if b.stp {
            details.push("stp on".to_string());
        }
        if b.vlan_filtering == Some(true) {
            details.push("vlan filtering".to_string());
        }
        details.extend(b.vlans.as_deref().map(vlan_details));
        details.extend(common_details(b.mtu, b.state));
        add(dev, DeviceKind::Bridge, addresses(&b.addresses), details, None);
    }
    for link in &scenario.links {
        for end in link.veth.iter().filter(|e| e.at.node == name) {
            let details = common_details(link.mtu, LinkState::Up);
            add(
                &end.at.iface,
                DeviceKind::Veth,
                end.addresses.iter().map(ToString::to_string).collect(),
                details,
                end.master.as_deref(),
            );
        }
    }
    for (dev, v) in &node.vxlans {
        let mut details = vec![format!("VNI {}, dstport {}", v.id, v.dstport)];
        details.extend(v.remote.map(|r| format!("remote {r}")));
        details.extend(v.local.map(|l| format!("local {l}")));
        details.extend(v.dev.as_ref().map(|d| format!("dev {}", d.value)));
        if !v.learning {
            details.push("nolearning".to_string());
        }
        details.extend(common_details(v.mtu, v.state));
        add(dev, DeviceKind::Vxlan, addresses(&v.addresses), details, v.master.as_deref().map(String::as_str));
    }
    for (dev, m) in &node.macvlans {
        // The variants' Debug names are the YAML words, capitalised.
        let mode = format!("{:?}", m.mode).to_lowercase();
        let ipvlan = if m.kind == crate::model::MacvlanKind::Ipvlan { "ipvlan " } else { "" };
        let mut details = vec![format!("{ipvlan}{mode} on {}", m.parent.value)];
        details.extend(common_details(m.mtu, m.state));
        add(dev, DeviceKind::Macvlan, addresses(&m.addresses), details, m.master.as_deref().map(String::as_str));
    }
    for (dev, t) in &node.taps {
        let kind = match t.mode {
            crate::model::TapMode::Tap => DeviceKind::Tap,
            crate::model::TapMode::Tun => DeviceKind::Tun,
        };
        add(
            dev,
            kind,
            addresses(&t.addresses),
            common_details(t.mtu, t.state),
            t.master.as_deref().map(String::as_str),
        );
    }
    for (dev, d) in &node.dummies {
        add(
            dev,
            DeviceKind::Dummy,
            addresses(&d.addresses),
            common_details(d.mtu, d.state),
            d.master.as_deref().map(String::as_str),
        );
    }
    for (dev, v) in &node.vlans {
        let mut details = vec![format!("{} id {} on {}", v.protocol, v.id, v.parent.value)];
        details.extend(common_details(v.mtu, v.state));
        add(dev, DeviceKind::Vlan, addresses(&v.addresses), details, v.master.as_deref().map(String::as_str));
    }
    for (dev, v) in &node.vrfs {
        let mut details = vec![format!("table {}", v.table)];
        details.extend(common_details(None, v.state));
        add(dev, DeviceKind::Vrf, Vec::new(), details, None);
    }
    // Every node has `lo`: drawn only when the scenario makes it matter.
    if node.lo == LinkState::Down || node.interfaces.contains_key("lo") {
        add("lo", DeviceKind::Loopback, Vec::new(), common_details(None, node.lo), None);
    }
    // `interfaces:` adds settings to devices defined above (typically veth ends).
    for (dev, settings) in &node.interfaces {
        if let Some(d) = drafts.iter_mut().find(|d| &d.device.name == dev) {
            apply_settings(d, settings);
        }
    }

    NodeBox { name: name.to_string(), devices: group_by_bridge(drafts), notes: notes(node) }
}

fn apply_settings(draft: &mut Draft, settings: &Iface) {
    let d = &mut draft.device;
    d.addresses.extend(settings.addresses.iter().map(|a| a.to_string()));
    if let Some(mtu) = settings.mtu {
        // The `interfaces:` entry has the final say over a link's MTU.
        d.details.retain(|line| !line.starts_with("mtu "));
        d.details.push(format!("mtu {mtu}"));
    }
    if settings.state == LinkState::Down && !d.details.iter().any(|l| l == "down") {
        d.details.push("down".to_string());
    }
    if let Some(m) = &settings.master {
        draft.master = Some(m.value.clone());
    }
    d.details.extend(settings.vlans.as_deref().map(vlan_details));
}

/// The VLANs of a bridge or port on one line: `vlans 10 pvid untagged, 20`.
fn vlan_details(vlans: &[crate::model::BridgeVlan]) -> String {
    let each: Vec<String> = vlans.iter().map(|v| v.to_string().trim_start_matches("vid ").to_string()).collect();
    format!("vlans {}", each.join(", "))
}

fn common_details(mtu: Option<u32>, state: LinkState) -> Vec<String> {
    let mut details: Vec<String> = mtu.map(|m| format!("mtu {m}")).into_iter().collect();
    if state == LinkState::Down {
        details.push("down".to_string());
    }
    details
}

/// Bridges first, each followed by its ports; then everything unattached.
fn group_by_bridge(drafts: Vec<Draft>) -> Vec<Device> {
    let mut devices = Vec::new();
    for bridge in drafts.iter().filter(|d| d.device.kind.is_master()) {
        let at = devices.len();
        devices.push(bridge.device.clone());
        for port in drafts.iter().filter(|d| d.master.as_deref() == Some(bridge.device.name.as_str())) {
            devices.push(Device { master: Some(at), ..port.device.clone() });
        }
    }
    for d in drafts.iter().filter(|d| !d.device.kind.is_master() && d.master.is_none()) {
        devices.push(d.device.clone());
    }
    devices
}

fn notes(node: &Node) -> Vec<String> {
    let mut notes: Vec<String> = node.sysctl.iter().map(|(k, v)| format!("{k}={v}")).collect();
    notes.extend(node.routes.iter().map(|r| r.to_string()));
    notes.extend(node.rules.iter().map(|r| format!("rule {}", r.value)));
    notes.extend(node.run.iter().map(|c| format!("$ {}", c.value)));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::load::{self, Source};

    fn diagram(yaml: &str) -> Diagram {
        let source = Source { path: "t.yaml".into(), text: yaml.into() };
        let scenario = load::parse_and_validate(&source).unwrap_or_else(|d| panic!("{d}"));
        Diagram::of(&scenario, "t")
    }

    #[test]
    fn nodes_keep_declaration_order_and_ports_follow_their_bridge() {
        let d = diagram(
            "nodes:\n  zeta:\n    bridges: {br0: {addresses: [10.0.0.1/24]}}\n  alpha: {}\nlinks:\n  - veth: [alpha:eth0 10.0.0.2/24, zeta:p0@br0]\n  - veth: [alpha:eth1, zeta:up 10.9.0.1/24]\n",
        );
        let names: Vec<&str> = d.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        let zeta: Vec<(&str, Option<usize>)> = d.nodes[0].devices.iter().map(|x| (x.name.as_str(), x.master)).collect();
        assert_eq!(zeta, [("br0", None), ("p0", Some(0)), ("up", None)]);
        assert_eq!(d.nodes[0].devices[0].addresses, ["10.0.0.1/24"]);
        assert_eq!(d.wires[0].ends, [DeviceId { node: 1, device: 0 }, DeviceId { node: 0, device: 1 }]);
    }

    #[test]
    fn vxlan_and_settings_details_are_shown() {
        let d = diagram(
            "nodes:\n  h:\n    lo: down\n    bridges: {br: {}}\n    vxlans: {vx: {id: 100, remote: 192.0.2.2, dev: eth0, master: br}}\n    interfaces: {eth0: {addresses: [192.0.2.1/24], mtu: 9000}}\n    routes: [\"default via 192.0.2.254\"]\n  o: {}\nlinks:\n  - veth: [h:eth0, o:eth0 192.0.2.2/24]\n",
        );
        let h = &d.nodes[0];
        let vx = h.devices.iter().find(|x| x.name == "vx").unwrap();
        assert_eq!(vx.details, ["VNI 100, dstport 4789", "remote 192.0.2.2", "dev eth0"]);
        assert_eq!(vx.master, Some(0));
        let eth0 = h.devices.iter().find(|x| x.name == "eth0").unwrap();
        assert_eq!(
            (eth0.addresses.as_slice(), eth0.details.as_slice()),
            (&["192.0.2.1/24".to_string()][..], &["mtu 9000".to_string()][..])
        );
        let lo = h.devices.iter().find(|x| x.name == "lo").unwrap();
        assert_eq!(lo.details, ["down"]);
        assert_eq!(h.notes, ["default via 192.0.2.254"]);
    }

    #[test]
    fn format_follows_the_file_extension() {
        assert_eq!(Format::from_path(Path::new("a/b.svg")), Some(Format::Svg));
        assert_eq!(Format::from_path(Path::new("b.gv")), Some(Format::Dot));
        assert_eq!(Format::from_path(Path::new("b.mmd")), Some(Format::Mermaid));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!("dot".parse::<Format>(), Ok(Format::Dot));
    }
}
