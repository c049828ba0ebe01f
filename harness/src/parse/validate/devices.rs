//! Validation of the device kinds of [`crate::model::device`]: dummies, VLAN
//! sub-interfaces, VRFs, and the VLANs of a VLAN-aware bridge and its ports.

use super::{Validator, at};
use crate::model::{BridgeVlan, Loc, Node, Scenario, Vlan, Vrf, vlan_list_problem};
use crate::parse::syntax::{RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN};

/// The master of interface `dev` of `node`, wherever the scenario names it (none for
/// a node the scenario lacks: that mistake is reported on its own).
fn master_of<'s>(s: &'s Scenario, node: &str, dev: &str) -> Option<&'s str> {
    let spec = s.nodes.get(node)?;
    let veth_end = s.links.iter().flat_map(|l| &l.veth).find(|e| e.at.node == node && e.at.iface == dev);
    let masters = [
        spec.interfaces.get(dev).and_then(|i| i.master.as_ref()),
        spec.vxlans.get(dev).and_then(|v| v.master.as_ref()),
        spec.macvlans.get(dev).and_then(|m| m.master.as_ref()),
        spec.taps.get(dev).and_then(|t| t.master.as_ref()),
        spec.dummies.get(dev).and_then(|d| d.master.as_ref()),
        spec.vlans.get(dev).and_then(|v| v.master.as_ref()),
    ];
    let named = masters.into_iter().flatten().map(|m| m.as_str()).next();
    named.or_else(|| veth_end.and_then(|e| e.master.as_deref()))
}

/// The VRF interface `iface` of `node` is enslaved to, if any.
pub(super) fn vrf_of<'s>(s: &'s Scenario, node: &str, iface: &str) -> Option<&'s str> {
    master_of(s, node, iface).filter(|m| s.nodes.get(node).is_some_and(|n| n.vrfs.contains_key(*m)))
}

impl Validator<'_> {
    pub(super) fn check_devices(&mut self, name: &str, node: &Loc<Node>, base: &str) {
        let s = self.scenario;
        for (dev, dummy) in &node.dummies {
            self.check_master(name, dummy.master.as_ref(), &format!("{base}.dummies.{dev}"));
        }
        for (dev, vlan) in &node.vlans {
            self.check_vlan(name, dev, vlan, at(node, &format!("{base}.vlans.{dev}")));
        }
        for (dev, vrf) in &node.vrfs {
            self.check_vrf(vrf, at(node, &format!("{base}.vrfs.{dev}")));
        }
        for (dev, bridge) in &node.bridges {
            if let Some(vlans) = &bridge.vlans {
                let key = format!("{base}.bridges.{dev}.vlans");
                self.check_vlan_list(vlans, at(node, &key));
                if bridge.vlan_filtering != Some(true) {
                    let msg = format!("bridge `{dev}` has VLANs but no `vlan_filtering: true`");
                    self.problem(at(node, &key), msg);
                }
            }
        }
        for (dev, iface) in &node.interfaces {
            let Some(vlans) = &iface.vlans else { continue };
            let key = format!("{base}.interfaces.{dev}.vlans");
            self.check_vlan_list(vlans, at(node, &key));
            let filtering = master_of(s, name, dev).and_then(|m| node.bridges.get(m)).map(|b| b.vlan_filtering);
            let problem = match filtering {
                None => Some(format!("`{dev}` in node `{name}` has VLANs but is no bridge port")),
                Some(Some(true)) => None,
                Some(_) => {
                    Some(format!("`{dev}` in node `{name}` has VLANs but its bridge has no `vlan_filtering: true`"))
                }
            };
            if let Some(msg) = problem {
                self.problem(at(node, &key), msg);
            }
        }
    }

    /// The `master` of a device of node `name` defined at `key`: a bridge or VRF of
    /// the node.
    pub(super) fn check_master(&mut self, name: &str, master: Option<&Loc<String>>, key: &str) {
        if let Some(m) = master {
            self.need_bridge(name, m, at(m, &format!("{key}.master")));
        }
    }

    /// VLAN sub-interface `dev` of node `name`; `place`: where it is defined.
    pub(super) fn check_vlan(&mut self, name: &str, dev: &str, vlan: &Vlan, place: super::At<'_>) {
        let key = place.key;
        self.need_iface_in(name, &vlan.parent, at(&vlan.parent, &format!("{key}.parent")));
        if vlan.parent.as_str() == dev {
            self.problem(at(&vlan.parent, &format!("{key}.parent")), format!("`{dev}` cannot be its own parent"));
        }
        if !(1..=4094).contains(&vlan.id) {
            let id = format!("{key}.id");
            self.problem(super::At { key: &id, ..place }, format!("VLAN ID {} is outside 1-4094", vlan.id));
        }
        if let Some(m) = &vlan.master {
            self.need_bridge(name, m, at(m, &format!("{key}.master")));
        }
    }

    /// A VRF; `place`: where it is defined.
    pub(super) fn check_vrf(&mut self, vrf: &Vrf, place: super::At<'_>) {
        if matches!(vrf.table, 0 | RT_TABLE_MAIN | RT_TABLE_LOCAL | RT_TABLE_DEFAULT) {
            let msg =
                format!("table {} is taken by the kernel (0, local, main, default): give the VRF its own", vrf.table);
            let table = format!("{}.table", place.key);
            self.problem(super::At { key: &table, ..place }, msg);
        }
    }

    fn check_vlan_list(&mut self, vlans: &[BridgeVlan], place: super::At<'_>) {
        if let Some(msg) = vlan_list_problem(vlans) {
            self.problem(place, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors, one_error};

    #[test]
    fn vlans_need_a_parent_of_their_node_and_an_id_in_range() {
        let vlans = "nodes:\n  a:\n    vlans:\n      v5: {parent: eth9, id: 5}\n      v0: {parent: v5, id: 4095}\n";
        let e = errors(vlans);
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e.iter().any(|e| e.starts_with("4:") && e.contains("v5.parent") && e.contains("eth9")), "{e:#?}");
        assert!(e.iter().any(|e| e.contains("v0.id") && e.contains("VLAN ID 4095 is outside 1-4094")), "{e:#?}");
        let own = one_error("nodes:\n  a:\n    vlans:\n      v5: {parent: v5, id: 5}\n", "cannot be its own parent");
        assert!(own.starts_with("4:"), "{own}");
    }

    #[test]
    fn devices_a_step_adds_are_validated_as_under_a_node() {
        let step = |action: &str| {
            format!(
                "nodes:\n  a: {{}}\n  b: {{}}\nlinks:\n  - veth: [a:eth0, b:eth0]\nsteps:\n  - do:\n      - add_link: {action}\n"
            )
        };
        assert_eq!(errors(&step(r#"{dev: "a:eth0.5", vlan: {parent: eth0, id: 5}}"#)), [""; 0]);
        let e = one_error(&step(r#"{dev: "a:eth0.5", vlan: {parent: eth9, id: 5}}"#), "eth9");
        assert!(e.contains("steps[0].do[0].add_link.vlan.parent"), "{e}");
        one_error(&step(r#"{dev: "a:v", vlan: {parent: eth0, id: 4095}}"#), "VLAN ID 4095 is outside 1-4094");
        one_error(&step(r#"{dev: "a:red", vrf: {table: 254}}"#), "table 254 is taken by the kernel");
        one_error(&step(r#"{dev: "a:d0", dummy: {master: eth0}}"#), "not a bridge or VRF");
        one_error(&step(r#"{dev: "a:t0", tap: {master: nope}}"#), "nope");
        one_error(&step(r#"{dev: "a:d0", dummy: {}, tap: {}}"#), "give one kind of link");
    }

    #[test]
    fn vrfs_are_masters_and_need_a_table_of_their_own() {
        let ok = "nodes:\n  r:\n    vrfs: {red: {table: 10}}\n    dummies: {d0: {master: red}}\n  b: {}\nlinks:\n  - veth: [b:eth0, r:eth1@red]\n";
        assert_eq!(errors(ok), [""; 0]);
        one_error("nodes:\n  r:\n    vrfs: {red: {table: 254}}\n", "table 254 is taken by the kernel");
        one_error("nodes:\n  r:\n    dummies: {d0: {}, d1: {master: d0}}\n", "is a dummy, not a bridge or VRF");
    }

    #[test]
    fn the_same_address_may_be_in_two_vrfs_of_a_node_but_not_twice_in_one() {
        let two = |second: &str| {
            format!(
                "nodes:\n  r:\n    vrfs: {{red: {{table: 10}}, blue: {{table: 20}}}}\n  a: {{}}\n  b: {{}}\nlinks:\n  - veth: [a:eth0, r:eth1@red 10.0.0.1/24]\n  - veth: [b:eth0, r:eth2@{second} 10.0.0.1/24]\n"
            )
        };
        assert_eq!(errors(&two("blue")), [""; 0]);
        one_error(&two("red"), "10.0.0.1 is assigned twice in node `r`");
    }

    #[test]
    fn an_address_on_a_link_end_of_an_unknown_node_is_reported_not_a_crash() {
        one_error("nodes:\n  a: {}\nlinks:\n  - veth: [a:eth0, nobody:eth0 10.0.0.1/24]\n", "no node named `nobody`");
    }

    #[test]
    fn bridge_vlans_need_vlan_filtering_a_port_and_a_valid_list() {
        let port = |filtering: &str, vlans: &str| {
            format!(
                "nodes:\n  sw:\n    bridges: {{br0: {{{filtering}}}}}\n    interfaces:\n      p0: {{vlans: {vlans}}}\n  a: {{}}\nlinks:\n  - veth: [a:eth0, sw:p0@br0]\n"
            )
        };
        assert_eq!(errors(&port("vlan_filtering: true", "[10, {vid: 20, pvid: true}]")), [""; 0]);
        let e = one_error(&port("", "[10]"), "its bridge has no `vlan_filtering: true`");
        assert!(e.contains("nodes.sw.interfaces.p0.vlans"), "{e}");
        one_error(&port("vlan_filtering: true", "[0]"), "VLAN ID 0 is outside 1-4094");
        one_error(
            &port("vlan_filtering: true", "[{vid: 2, pvid: true}, {vid: 3, pvid: true}]"),
            "more than one VLAN is the pvid",
        );
        let unbridged =
            "nodes:\n  a:\n    interfaces:\n      eth0: {vlans: [10]}\n  b: {}\nlinks:\n  - veth: [a:eth0, b:eth0]\n";
        one_error(unbridged, "has VLANs but is no bridge port");
        one_error(
            "nodes:\n  sw:\n    bridges: {br0: {vlans: [10]}}\n",
            "bridge `br0` has VLANs but no `vlan_filtering: true`",
        );
    }
}
