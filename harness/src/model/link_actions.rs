//! `add_link` and `del_link`: links created and deleted by a step, written as the
//! nodes and `links:` of a scenario write them, and created by the build's own code
//! ([`crate::build::add_links`]).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    Bridge, Dummy, Endpoint, IfaceRef, Link, Loc, Macvlan, Node, ReportOptions, Scenario, Tap, Vlan, Vrf, Vxlan,
};

/// A new link: `{dev: "a:br1", bridge: {...}}`, `{dev: "a:vx1", vxlan: {id: 42, ...}}`,
/// `{dev: "a:mv1", macvlan: {parent: eth0}}`, `{dev: "a:d0", dummy: {...}}`,
/// `{dev: "a:eth0.5", vlan: {parent: eth0, id: 5}}`, `{dev: "a:red", vrf: {table:
/// 10}}`, `{dev: "a:tap0", tap: {mode: tap}}` (the same fields as under a node's
/// `bridges:`, `vxlans:`, `macvlans:`, `dummies:`, `vlans:`, `vrfs:`, `taps:`), or `{veth: [a:eth1 10.0.0.1/24, b:eth1@br0]}` as in
/// `links:`. Exactly one kind.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddLink {
    /// `node:name` of the new device (all kinds but a veth pair).
    #[serde(default)]
    pub dev: Option<Loc<IfaceRef>>,
    #[serde(default)]
    pub bridge: Option<Bridge>,
    #[serde(default)]
    pub vxlan: Option<Vxlan>,
    #[serde(default)]
    pub macvlan: Option<Macvlan>,
    #[serde(default)]
    pub dummy: Option<Dummy>,
    #[serde(default)]
    pub vlan: Option<Vlan>,
    #[serde(default)]
    pub vrf: Option<Vrf>,
    #[serde(default)]
    pub tap: Option<Tap>,
    /// A veth pair; each end is `node:iface[@bridge] [address/prefix ...]`.
    #[serde(default)]
    pub veth: Option<[Loc<Endpoint>; 2]>,
}

/// `{dev: node:iface}`: the link is deleted (a veth takes its peer with it).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DelLink {
    pub dev: Loc<IfaceRef>,
}

impl AddLink {
    /// The line of its first field, for messages.
    pub fn line(&self) -> u64 {
        self.at().1
    }

    /// Where it was written: (source, line, column) of `dev` or the first veth end.
    pub fn at(&self) -> (usize, u64, u64) {
        let first = self.dev.as_ref().map(|d| (d.source, d.line, d.column));
        first.or_else(|| self.veth.as_ref().map(|[end, _]| (end.source, end.line, end.column))).unwrap_or_default()
    }

    /// The kinds it gives, as the build names them (validation wants exactly one).
    pub fn kinds(&self) -> Vec<&'static str> {
        let given = [
            ("bridge", self.bridge.is_some()),
            ("vxlan", self.vxlan.is_some()),
            ("macvlan", self.macvlan.is_some()),
            ("dummy", self.dummy.is_some()),
            ("vlan", self.vlan.is_some()),
            ("vrf", self.vrf.is_some()),
            ("tap", self.tap.is_some()),
            ("veth", self.veth.is_some()),
        ];
        given.into_iter().filter(|(_, given)| *given).map(|(kind, _)| kind).collect()
    }

    /// The interfaces it creates, `(node, iface, kind)`.
    pub fn created(&self) -> Vec<(&str, &str, &'static str)> {
        if let Some(ends) = &self.veth {
            return ends.iter().map(|end| (end.at.node.as_str(), end.at.iface.as_str(), "veth")).collect();
        }
        let Some(&kind) = self.kinds().first() else { return Vec::new() };
        let kind = match &self.macvlan {
            Some(m) if m.kind == super::MacvlanKind::Ipvlan => "ipvlan",
            _ => kind,
        };
        self.dev.iter().map(|dev| (dev.node.as_str(), dev.iface.as_str(), kind)).collect()
    }

    /// The new links as a scenario of their own, holding only them in the nodes they
    /// go to: what the build creates from it is exactly this action's links.
    pub fn as_scenario(&self) -> Scenario {
        let mut nodes: BTreeMap<String, Loc<Node>> = BTreeMap::new();
        let mut links = Vec::new();
        if let Some(veth) = &self.veth {
            for end in veth {
                nodes.entry(end.at.node.clone()).or_insert_with(|| Loc::unplaced(Node::default()));
            }
            links.push(Link { veth: veth.clone(), mtu: None, queues: std::num::NonZeroU32::MIN });
        } else if let Some(dev) = &self.dev {
            let node = &mut nodes.entry(dev.node.clone()).or_insert_with(|| Loc::unplaced(Node::default())).value;
            let name = dev.iface.clone();
            if let Some(bridge) = &self.bridge {
                node.bridges.insert(name.clone(), bridge.clone());
            }
            if let Some(vxlan) = &self.vxlan {
                node.vxlans.insert(name.clone(), vxlan.clone());
            }
            if let Some(macvlan) = &self.macvlan {
                node.macvlans.insert(name.clone(), macvlan.clone());
            }
            if let Some(dummy) = &self.dummy {
                node.dummies.insert(name.clone(), dummy.clone());
            }
            if let Some(vlan) = &self.vlan {
                node.vlans.insert(name.clone(), vlan.clone());
            }
            if let Some(vrf) = &self.vrf {
                node.vrfs.insert(name.clone(), vrf.clone());
            }
            if let Some(tap) = &self.tap {
                node.taps.insert(name, tap.clone());
            }
        }
        Scenario {
            name: None,
            about: None,
            xfail: None,
            include: Vec::new(),
            nodes,
            links,
            expect: Vec::new(),
            steps: Vec::new(),
            matrix: None,
            report: ReportOptions::default(),
            deadline: None,
        }
    }
}

impl std::fmt::Display for AddLink {
    /// `add link a:br1 (bridge)`, `add link veth a:x - b:y`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some([a, b]) = &self.veth {
            return write!(f, "add veth {} - {}", a.at, b.at);
        }
        let created = self.created();
        match (&self.dev, created.first()) {
            (Some(dev), Some((_, _, kind))) => write!(f, "add {kind} {}", **dev),
            _ => f.write_str("add link"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(yaml: &str) -> AddLink {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn the_new_links_become_a_scenario_of_their_own() {
        let bridge = add("{dev: a:br1, bridge: {ageing_time: 10s}}");
        assert_eq!(bridge.kinds(), ["bridge"]);
        assert_eq!(bridge.created(), [("a", "br1", "bridge")]);
        assert_eq!(bridge.to_string(), "add bridge a:br1");
        let s = bridge.as_scenario();
        assert_eq!(s.nodes.keys().collect::<Vec<_>>(), ["a"]);
        assert!(s.nodes["a"].bridges.contains_key("br1"));

        let veth = add("{veth: [a:x 10.0.0.1/24, b:y@br0]}");
        assert_eq!(veth.created(), [("a", "x", "veth"), ("b", "y", "veth")]);
        assert_eq!(veth.to_string(), "add veth a:x - b:y");
        let s = veth.as_scenario();
        assert_eq!(s.nodes.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(s.links.len(), 1);

        let vlan = add("{dev: a:eth0.5, vlan: {parent: eth0, id: 5}}");
        assert_eq!(vlan.created(), [("a", "eth0.5", "vlan")]);
        assert_eq!(vlan.to_string(), "add vlan a:eth0.5");
        assert_eq!(vlan.as_scenario().nodes["a"].vlans["eth0.5"].id, 5);
        let s = add("{dev: a:red, vrf: {table: 10}}").as_scenario();
        assert_eq!(s.nodes["a"].vrfs["red"].table, 10);
        assert!(add("{dev: a:d0, dummy: {}}").as_scenario().nodes["a"].dummies.contains_key("d0"));

        assert_eq!(add("{dev: a:v, vxlan: {id: 1}, macvlan: {parent: eth0}}").kinds(), ["vxlan", "macvlan"]);
    }
}
