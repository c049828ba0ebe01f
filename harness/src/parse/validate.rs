//! Semantic checks on a parsed scenario, before anything touches the kernel.
//!
//! The YAML layer already rejected malformed values; here we check what only the
//! whole document can tell: references to nodes and interfaces that do not exist,
//! names defined twice, interface names Linux would refuse, addresses that collide on
//! one layer-2 segment, sysctls outside the namespace's reach, and what could never
//! finish: timeouts and pings that do not fit in the scenario's deadline, transfers
//! beyond [`MAX_TCP_BYTES`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::judge;
use crate::model::*;
use crate::observe::frame;
use crate::parse::load::{Diagnostic, Source};
use crate::parse::syntax::check_ifname;

mod devices;

/// Every problem found; empty means the scenario may be built. `sources` are the
/// scenario file (first) and the fixtures it included, in the order of [`Loc::source`].
pub fn validate(scenario: &Scenario, sources: &[Source]) -> Vec<Diagnostic> {
    let mut v = Validator { sources, problems: Vec::new(), ifaces: BTreeMap::new(), scenario };
    v.collect_interfaces();
    v.check_deadline();
    v.check_nodes();
    v.check_kernel_limits();
    v.check_addresses();
    for (i, check) in scenario.expect.iter().enumerate() {
        v.check_check(check, &format!("expect[{i}]"));
    }
    for (i, step) in scenario.steps.iter().enumerate() {
        v.check_step(step, &format!("steps[{i}]"));
    }
    v.problems.sort_by_key(|d| (d.line, d.column));
    v.problems
}

/// What defines an interface, for "defined twice" and "what kind is it" questions.
#[derive(Debug, Clone)]
struct IfaceDef {
    kind: &'static str,
    key: String,
    /// (source, line, column)
    at: (usize, u64, u64),
}

/// A place: which file, line, column and key path.
#[derive(Clone, Copy)]
pub(crate) struct At<'k> {
    source: usize,
    line: u64,
    column: u64,
    key: &'k str,
}

/// Ping options that cannot hold together: `answered` beyond `count` or with `fails`,
/// a `size` no IP packet can carry.
fn ping_option_mistakes(p: &PingCheck) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    if let Some(answered) = &p.answered {
        if answered.at_least == 0 || answered.at_least > *p.count {
            found.push((
                "answered",
                format!("`at_least: {}` of `count: {}`: give 1 to {}", answered.at_least, *p.count, *p.count),
            ));
        } else if p.fails.expected() {
            found.push(("answered", "`answered` is for a ping that succeeds; with `fails` no reply may come".into()));
        }
    }
    // 65535 bytes of IPv4 packet less its 20-byte header and the 8 of ICMP (IPv6
    // counts its payload without the header, but the socket caps both alike).
    if p.size.as_ref().is_some_and(|s| **s > 65507) {
        found.push(("size", "at most 65507 bytes of ICMP data fit in an IP packet".into()));
    }
    found
}

/// Whether interface `dev` of `node` is enslaved to a bridge, wherever the scenario says so.
/// The names of `node`'s macvlans of `kind` (`macvlans:` holds ipvlans too).
fn macvlans_of(node: &Node, kind: MacvlanKind) -> Vec<&String> {
    node.macvlans.iter().filter(|(_, m)| m.kind == kind).map(|(name, _)| name).collect()
}

fn has_master(s: &Scenario, node: &str, dev: &str) -> bool {
    let spec = &s.nodes[node];
    let veth_end =
        s.links.iter().flat_map(|l| &l.veth).any(|e| e.at.node == node && e.at.iface == dev && e.master.is_some());
    veth_end
        || spec.interfaces.get(dev).is_some_and(|i| i.master.is_some())
        || spec.vxlans.get(dev).is_some_and(|v| v.master.is_some())
        || spec.macvlans.get(dev).is_some_and(|m| m.master.is_some())
        || spec.taps.get(dev).is_some_and(|t| t.master.is_some())
        || spec.dummies.get(dev).is_some_and(|d| d.master.is_some())
        || spec.vlans.get(dev).is_some_and(|v| v.master.is_some())
}

fn at<'k, T>(loc: &Loc<T>, key: &'k str) -> At<'k> {
    At { source: loc.source, line: loc.line, column: loc.column, key }
}

struct Validator<'a> {
    sources: &'a [Source],
    scenario: &'a Scenario,
    problems: Vec<Diagnostic>,
    /// (node, interface) → its definition.
    ifaces: BTreeMap<(String, String), IfaceDef>,
}

impl Validator<'_> {
    fn problem(&mut self, at: At<'_>, message: impl Into<String>) {
        let source = &self.sources[at.source.min(self.sources.len() - 1)];
        self.problems.push(Diagnostic::new(source, at.line, at.column, at.key, message));
    }

    /// Register every interface a node will have, reporting bad and duplicate names.
    fn collect_interfaces(&mut self) {
        let s = self.scenario;
        for (name, node) in &s.nodes {
            self.define(name, "lo", "loopback", format!("nodes.{name}"), (node.source, node.line, node.column));
            let devices = [
                ("bridge", "bridges", node.bridges.keys().collect::<Vec<_>>()),
                ("vxlan", "vxlans", node.vxlans.keys().collect()),
                ("macvlan", "macvlans", macvlans_of(node, MacvlanKind::Macvlan)),
                ("ipvlan", "macvlans", macvlans_of(node, MacvlanKind::Ipvlan)),
                ("tap", "taps", node.taps.keys().collect()),
                ("dummy", "dummies", node.dummies.keys().collect()),
                ("vlan", "vlans", node.vlans.keys().collect()),
                ("vrf", "vrfs", node.vrfs.keys().collect()),
            ];
            for (kind, map, names) in devices {
                for dev in names {
                    let key = format!("nodes.{name}.{map}.{dev}");
                    if let Err(e) = check_ifname(dev) {
                        self.problem(at(node, &key), e);
                    }
                    self.define(name, dev, kind, key, (node.source, node.line, node.column));
                }
            }
        }
        for (i, link) in s.links.iter().enumerate() {
            for (end_index, end) in link.veth.iter().enumerate() {
                let key = format!("links[{i}].veth[{end_index}]");
                if !s.nodes.contains_key(&end.at.node) {
                    let msg = self.unknown_node_message(&end.at.node);
                    self.problem(at(end, &key), msg);
                    continue;
                }
                self.define(&end.at.node, &end.at.iface, "veth", key, (end.source, end.line, end.column));
            }
        }
        // A link a step moves is an interface of the node it moves to as well (for
        // the actions and checks after the move); a name it has already is refused.
        for (i, step) in s.steps.iter().enumerate() {
            for (j, action) in step.actions.iter().enumerate() {
                // A link a step creates is an interface of its node from then on.
                if let crate::model::Action::AddLink(a) = &action.action {
                    for (k, (node, iface, kind)) in a.created().into_iter().enumerate() {
                        if !self.scenario.nodes.contains_key(node) {
                            continue; // reported with the action
                        }
                        let key = format!("steps[{i}].do[{j}].add_link[{k}]");
                        let (source, line, column) = a.at();
                        match check_ifname(iface) {
                            Ok(()) => self.define(node, iface, kind, key, (source, line, column)),
                            Err(e) => self.problem(At { source, line, column, key: &key }, e),
                        }
                    }
                    continue;
                }
                // A link a step renames has its new name too (in its node), unless the
                // rename is expected to be refused.
                if let crate::model::Action::SetLink(l) = &action.action {
                    if action.expect_error.is_some() {
                        continue;
                    }
                    let (Some(name), Some(kind)) =
                        (&l.name, self.ifaces.get(&(l.dev.node.clone(), l.dev.iface.clone())).map(|d| d.kind))
                    else {
                        continue;
                    };
                    let key = format!("steps[{i}].do[{j}].set_link.name");
                    match check_ifname(name) {
                        Ok(()) => self.define(&l.dev.node, name, kind, key, (name.source, name.line, name.column)),
                        Err(e) => self.problem(at(name, &key), e),
                    }
                    continue;
                }
                let crate::model::Action::MoveLink(m) = &action.action else { continue };
                if m.to.as_str() == m.dev.node {
                    continue; // a mistake of its own, reported with the action
                }
                let Some(kind) = self.ifaces.get(&(m.dev.node.clone(), m.dev.iface.clone())).map(|d| d.kind) else {
                    continue;
                };
                let key = format!("steps[{i}].do[{j}].move_link.to");
                self.define(&m.to, &m.dev.iface, kind, key, (m.to.source, m.to.line, m.to.column));
            }
        }
    }

    fn define(&mut self, node: &str, iface: &str, kind: &'static str, key: String, at_: (usize, u64, u64)) {
        let id = (node.to_string(), iface.to_string());
        if let Some(first) = self.ifaces.get(&id) {
            let message = format!(
                "interface `{iface}` is defined twice in node `{node}` (first as {} at {}, line {})",
                first.kind, first.key, first.at.1
            );
            self.problem(At { source: at_.0, line: at_.1, column: at_.2, key: &key }, message);
            return;
        }
        self.ifaces.insert(id, IfaceDef { kind, key, at: at_ });
    }

    fn unknown_node_message(&self, node: &str) -> String {
        let known: Vec<&str> = self.scenario.nodes.keys().map(String::as_str).collect();
        format!("no node named `{node}` (nodes: {})", known.join(", "))
    }

    fn unknown_iface_message(&self, node: &str, iface: &str) -> String {
        let known: Vec<&str> = self.ifaces.keys().filter(|(n, _)| n == node).map(|(_, i)| i.as_str()).collect();
        format!("node `{node}` has no interface `{iface}` (it has: {})", known.join(", "))
    }

    /// A node name used in a check or action must exist.
    fn need_node(&mut self, node: &Loc<String>, key: &str) -> bool {
        if self.scenario.nodes.contains_key(node.as_str()) {
            return true;
        }
        let msg = self.unknown_node_message(node);
        self.problem(at(node, key), msg);
        false
    }

    /// `node:iface` used in a check or action must exist.
    fn need_iface(&mut self, r: &Loc<IfaceRef>, key: &str) {
        if !self.scenario.nodes.contains_key(&r.node) {
            let msg = self.unknown_node_message(&r.node);
            self.problem(at(r, key), msg);
        } else if !self.ifaces.contains_key(&(r.node.clone(), r.iface.clone())) {
            let msg = self.unknown_iface_message(&r.node, &r.iface);
            self.problem(at(r, key), msg);
        }
    }

    /// An interface referenced without its own location (route `dev`, vxlan `dev`, ...).
    fn need_iface_in(&mut self, node: &str, iface: &str, place: At<'_>) {
        if !self.ifaces.contains_key(&(node.to_string(), iface.to_string())) {
            let msg = self.unknown_iface_message(node, iface);
            self.problem(place, msg);
        }
    }

    /// `master:` must name a bridge or a VRF of the same node.
    fn need_bridge(&mut self, node: &str, master: &str, place: At<'_>) {
        match self.ifaces.get(&(node.to_string(), master.to_string())) {
            Some(def) if def.kind == "bridge" || def.kind == "vrf" => {}
            Some(def) => {
                let msg = format!(
                    "`{master}` in node `{node}` is a {}, not a bridge or VRF; only those can be masters",
                    def.kind
                );
                self.problem(place, msg);
            }
            None => {
                let msg = format!(
                    "node `{node}` has no bridge `{master}` nor VRF to enslave to (declare it under `bridges:` or \
                     `vrfs:`)"
                );
                self.problem(place, msg);
            }
        }
    }

    fn check_nodes(&mut self) {
        let s = self.scenario;
        for (i, link) in s.links.iter().enumerate() {
            let [a, b] = &link.veth;
            self.need_nonzero_mtu(link.mtu, at(a, &format!("links[{i}].mtu")));
            if a.at == b.at {
                self.problem(at(b, &format!("links[{i}].veth[1]")), format!("both ends of the veth are `{}`", a.at));
            }
            for (end_index, end) in link.veth.iter().enumerate() {
                if let Some(master) = &end.master {
                    if s.nodes.contains_key(&end.at.node) {
                        self.need_bridge(&end.at.node, master, at(end, &format!("links[{i}].veth[{end_index}]")));
                    }
                }
            }
        }
        for (name, node) in &s.nodes {
            let base = format!("nodes.{name}");
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                self.problem(at(node, &base), format!("node name `{name}` may use only letters, digits, `_` and `-`"));
            }
            for key in node.sysctl.keys() {
                if let Err(e) = check_sysctl_key(key) {
                    self.problem(at(node, &format!("{base}.sysctl.{key}")), e);
                }
            }
            let mtus = node
                .interfaces
                .iter()
                .map(|(d, x)| ("interfaces", d, x.mtu))
                .chain(node.bridges.iter().map(|(d, x)| ("bridges", d, x.mtu)))
                .chain(node.vxlans.iter().map(|(d, x)| ("vxlans", d, x.mtu)))
                .chain(node.macvlans.iter().map(|(d, x)| ("macvlans", d, x.mtu)))
                .chain(node.taps.iter().map(|(d, x)| ("taps", d, x.mtu)))
                .chain(node.dummies.iter().map(|(d, x)| ("dummies", d, x.mtu)))
                .chain(node.vlans.iter().map(|(d, x)| ("vlans", d, x.mtu)));
            for (map, dev, mtu) in mtus {
                self.need_nonzero_mtu(mtu, at(node, &format!("{base}.{map}.{dev}.mtu")));
            }
            for (dev, bridge) in &node.bridges {
                let key = format!("{base}.bridges.{dev}");
                if let Err(e) = bridge.ageing_centiseconds() {
                    self.problem(at(node, &format!("{key}.ageing_time")), format!("ageing_time {e}"));
                }
                if bridge.group_fwd_mask.is_some_and(|mask| mask & 0x7 != 0) {
                    let msg = "group_fwd_mask may not forward 01:80:c2:00:00:00-02 (STP, pause, bonding): bits 0-2 \
                               must be clear";
                    self.problem(at(node, &format!("{key}.group_fwd_mask")), String::from(msg));
                }
                if let Some(problem) = bridge.multicast.as_ref().and_then(|m| m.unsettable()) {
                    self.problem(at(node, &format!("{key}.multicast")), problem);
                }
            }
            for (dev, iface) in &node.interfaces {
                let key = format!("{base}.interfaces.{dev}");
                if let Err(e) = check_ifname(dev) {
                    self.problem(at(node, &key), e);
                    continue;
                }
                self.need_iface_in(name, dev, at(node, &key));
                if let Some(m) = &iface.master {
                    self.need_bridge(name, m, at(m, &format!("{key}.master")));
                }
                if iface.port.is_some() && !has_master(s, name, dev) {
                    let msg = format!(
                        "`{dev}` in node `{name}` has bridge-port flags but is no bridge port \
                         (give it a `master:` or enslave its veth end with `@bridge`)"
                    );
                    self.problem(at(node, &format!("{key}.port")), msg);
                }
                if let Some(msg) = iface.port.as_ref().and_then(|p| p.unsettable()) {
                    self.problem(at(node, &format!("{key}.port.priority")), msg);
                }
                if let Some(msg) = iface.qdisc.as_ref().and_then(Qdisc::problem) {
                    self.problem(at(node, &format!("{key}.qdisc")), msg);
                }
                if iface.port.as_ref().is_some_and(|p| p.state.is_some()) {
                    let msg = "a port's state can only be set once it is up (the kernel refuses it before, \
                               ENETDOWN): use `set_port` in a step";
                    self.problem(at(node, &format!("{key}.port.state")), msg);
                }
            }
            for (dev, vx) in &node.vxlans {
                let key = format!("{base}.vxlans.{dev}");
                if let (Some(under), Some((dev_node, dev))) = (&vx.dev, vx.dev_of(name)) {
                    let dev_key = format!("{key}.dev");
                    let place = at(under, &dev_key);
                    if s.nodes.contains_key(dev_node) {
                        self.need_iface_in(dev_node, dev, place);
                    } else {
                        let msg = self.unknown_node_message(dev_node);
                        self.problem(place, msg);
                    }
                }
                if let Some(m) = &vx.master {
                    self.need_bridge(name, m, at(m, &format!("{key}.master")));
                }
                if vx.id >= 1 << 24 {
                    self.problem(at(node, &format!("{key}.id")), format!("VNI {} does not fit in 24 bits", vx.id));
                }
            }
            for (dev, mv) in &node.macvlans {
                let key = format!("{base}.macvlans.{dev}");
                let (parent_node, parent) = mv.parent_of(name);
                let parent_key = format!("{key}.parent");
                let place = at(&mv.parent, &parent_key);
                if s.nodes.contains_key(parent_node) {
                    self.need_iface_in(parent_node, parent, place);
                } else {
                    let msg = self.unknown_node_message(parent_node);
                    self.problem(place, msg);
                }
                if let Some(m) = &mv.master {
                    self.need_bridge(name, m, at(m, &format!("{key}.master")));
                }
                if !mv.mode.fits(mv.kind) {
                    let mode = format!("{:?}", mv.mode).to_lowercase();
                    let msg = match mv.kind {
                        MacvlanKind::Ipvlan => format!(
                            "`{mode}` is no mode of an ipvlan: l2, l3, l3s, or bridge, private, vepa (l2 with that flag)"
                        ),
                        MacvlanKind::Macvlan => format!(
                            "`{mode}` is an ipvlan's mode (`kind: ipvlan`); a macvlan's are bridge, private, vepa, \
                             passthru, source"
                        ),
                    };
                    self.problem(at(&mv.parent, &format!("{key}.mode")), msg);
                }
                if mv.kind == MacvlanKind::Ipvlan && mv.mac.is_some() {
                    let msg = "an ipvlan has its parent's MAC: it cannot have one of its own";
                    self.problem(at(&mv.parent, &format!("{key}.mac")), msg.to_string());
                }
            }
            for (dev, tap) in &node.taps {
                if let Some(m) = &tap.master {
                    self.need_bridge(name, m, at(m, &format!("{base}.taps.{dev}.master")));
                }
            }
            self.check_devices(name, node, &base);
            for (i, route) in node.routes.iter().enumerate() {
                let key = format!("{base}.routes[{i}]");
                for dev in route.devices() {
                    self.need_iface_in(name, dev, at(route, &key));
                }
                if let Err(problem) = route.check_addable() {
                    self.problem(at(route, &key), problem);
                }
            }
            for (i, rule) in node.rules.iter().enumerate() {
                let key = format!("{base}.rules[{i}]");
                for dev in [&rule.iif, &rule.oif].into_iter().flatten() {
                    self.need_iface_in(name, dev, at(rule, &key));
                }
                if let Err(problem) = rule.check_addable() {
                    self.problem(at(rule, &key), problem);
                }
            }
            for (i, n) in node.neighbours.iter().enumerate() {
                self.need_iface_in(name, &n.dev, at(n, &format!("{base}.neighbours[{i}]")));
            }
            for (i, f) in node.fdb.iter().enumerate() {
                for dev in std::iter::once(&f.dev).chain(&f.via) {
                    self.need_iface_in(name, dev, at(f, &format!("{base}.fdb[{i}]")));
                }
            }
            for (service, spec) in &node.services {
                self.check_service(spec, &format!("{base}.services.{service}"));
            }
        }
    }

    fn check_service(&mut self, spec: &Loc<Service>, key: &str) {
        self.need_positive_timeout(&spec.timeout, &format!("{key}.timeout"));
        if let Some(ready) = &spec.ready {
            if let Ready::Output(pattern) = &**ready {
                if let Err(e) = LogCheck::regex(pattern) {
                    self.problem(at(ready, &format!("{key}.ready.output")), format!("not a regular expression: {e}"));
                }
            }
        }
    }

    /// `on: node, service: name` must name a service the node declares.
    fn need_service(&mut self, on: &Loc<String>, service: &Loc<String>, key: &str) {
        let Some(node) = self.scenario.nodes.get(on.as_str()) else {
            self.need_node(on, &format!("{key}.on"));
            return;
        };
        if !node.services.contains_key(service.as_str()) {
            let known: Vec<&str> = node.services.keys().map(String::as_str).collect();
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            let message = format!("node `{}` has no service `{}` (it has: {known})", on.as_str(), service.as_str());
            self.problem(at(service, &format!("{key}.service")), message);
        }
    }

    /// Addresses: never twice in one node, never twice on one layer-2 segment.
    fn check_addresses(&mut self) {
        let s = self.scenario;
        let assigned = assigned_addresses(s);
        let segments = Segments::of(s);
        let mut seen: BTreeMap<(String, IpAddr), (String, String, String)> = BTreeMap::new();
        let mut seen_on_segment: BTreeMap<(String, IpAddr), (String, String, String)> = BTreeMap::new();
        for (node, iface, ip, place, key) in assigned {
            // VRFs are separate address spaces of one node: the same address may be in each.
            let space =
                format!("{node}{}", devices::vrf_of(s, &node, &iface).map(|v| format!(" VRF {v}")).unwrap_or_default());
            if let Some((other_iface, other_key, _)) = seen.get(&(space.clone(), ip)) {
                let msg = format!("{ip} is assigned twice in node `{node}` (also on `{other_iface}` at {other_key})");
                self.problem(At { key: &key, ..place }, msg);
                continue;
            }
            seen.insert((space, ip), (iface.clone(), key.clone(), node.clone()));
            let segment = segments.find(&node, &iface);
            if let Some((other_node, other_iface, other_key)) = seen_on_segment.get(&(segment.clone(), ip)) {
                let msg = format!(
                    "{ip} on `{node}:{iface}` is also on `{other_node}:{other_iface}` ({other_key}), on the same layer-2 segment: an address conflict"
                );
                self.problem(At { key: &key, ..place }, msg);
                continue;
            }
            seen_on_segment.insert((segment, ip), (node, iface, key));
        }
    }

    fn check_step(&mut self, step: &Step, base: &str) {
        for (i, r) in step.capture.iter().enumerate() {
            self.need_iface(r, &format!("{base}.capture[{i}]"));
        }
        for (i, action) in step.actions.iter().enumerate() {
            self.check_action(action, &format!("{base}.do[{i}]"));
            if let Some(expected) = &action.expect_error {
                if let Err(problem) = action.check_expected_error() {
                    self.problem(at(expected, &format!("{base}.do[{i}].expect_error")), problem);
                }
            }
        }
        for (i, check) in step.expect.iter().enumerate() {
            self.check_check(check, &format!("{base}.expect[{i}]"));
        }
    }

    fn check_action(&mut self, action: &Action, key: &str) {
        match action {
            Action::AddAddress(a) | Action::DelAddress(a) => self.need_iface(&a.dev, key),
            Action::MoveAddress(m) => {
                self.need_iface(&m.from, key);
                self.need_iface(&m.to, key);
                if m.from.node != m.to.node {
                    self.problem(at(&m.to, key), "an address can only move between interfaces of one node");
                }
            }
            Action::AddRoute(r) | Action::AppendRoute(r) | Action::DelRoute(r) => {
                if self.need_node(&r.on, key) {
                    for dev in r.route.devices() {
                        self.need_iface_in(&r.on, dev, at(&r.route, key));
                    }
                }
                let adds = matches!(action, Action::AddRoute(_) | Action::AppendRoute(_));
                if adds && let Err(problem) = r.route.check_addable() {
                    self.problem(at(&r.route, key), problem);
                }
            }
            Action::AddRule(r) | Action::DelRule(r) => {
                if self.need_node(&r.on, key) {
                    for dev in [&r.rule.iif, &r.rule.oif].into_iter().flatten() {
                        self.need_iface_in(&r.on, dev, at(&r.rule, key));
                    }
                }
                if let (Action::AddRule(_), Err(problem)) = (action, r.rule.check_addable()) {
                    self.problem(at(&r.rule, key), problem);
                }
            }
            Action::AddNeighbour(n) | Action::DelNeighbour(n) => {
                if self.need_node(&n.on, key) {
                    self.need_iface_in(&n.on, &n.neighbour.dev, at(&n.neighbour, key));
                }
            }
            Action::ResetCounters(r) => {
                self.need_node(&r.on, key);
                let key = format!("{key}.reset_counters");
                if let Some(mib) = &r.mib {
                    let message = "MIB counters cannot be reset: the kernel keeps them for the namespace's life; \
                                   assert their change across a step with `delta` instead";
                    self.problem(at(mib, &format!("{key}.mib")), message);
                }
                if let Some(link) = &r.link {
                    let message = "interface and qdisc statistics cannot be reset: the kernel offers no way to; \
                                   assert their change across a step with `delta` instead";
                    self.problem(at(link, &format!("{key}.link")), message);
                }
                match (&r.nft, &r.iptables) {
                    (Some(_), Some(_)) => {
                        self.problem(at(&r.on, &key), "give `nft` or `iptables`, not both: make two actions")
                    }
                    (None, None) if r.mib.is_none() && r.link.is_none() => self.problem(
                        at(&r.on, &key),
                        "say which counters: `nft: {table, name}` or `iptables: {table, chain}`",
                    ),
                    _ => {}
                }
                // The names go into an nft or iptables command line.
                let names = r.nft.iter().flat_map(|n| [n.family.as_ref(), Some(&n.table), n.name.as_ref()]);
                let names = names.chain(r.iptables.iter().flat_map(|i| [Some(&i.table), i.chain.as_ref()]));
                for name in names.flatten() {
                    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
                        self.problem(
                            at(&r.on, &key),
                            format!("`{name}` is not a netfilter name (letters, digits, `_-.`)"),
                        );
                    }
                }
            }
            Action::FlushNeighbours(f) => {
                if let (true, Some(dev)) = (self.need_node(&f.on, key), &f.dev) {
                    self.need_iface_in(&f.on, dev, at(dev, &format!("{key}.flush_neighbours.dev")));
                }
            }
            Action::AddFdb(f) | Action::DelFdb(f) => {
                if self.need_node(&f.on, key) {
                    for dev in std::iter::once(&f.fdb.dev).chain(&f.fdb.via) {
                        self.need_iface_in(&f.on, dev, at(&f.fdb, key));
                    }
                }
            }
            Action::SetLink(l) => {
                self.need_iface(&l.dev, key);
                self.need_nonzero_mtu(l.mtu, at(&l.dev, &format!("{key}.set_link.mtu")));
                if l.is_empty() {
                    self.problem(at(&l.dev, &format!("{key}.set_link")), "say what to change (state, mtu, mac, ...)");
                }
                let kind = self.ifaces.get(&(l.dev.node.clone(), l.dev.iface.clone())).map(|d| d.kind);
                for (given, wanted) in [(l.vxlan.is_some(), "vxlan"), (l.macvlan.is_some(), "macvlan")] {
                    if given && kind.is_some_and(|kind| kind != wanted) {
                        let message = format!("`{}` is a {}, not a {wanted}", l.dev.iface, kind.unwrap_or_default());
                        self.problem(at(&l.dev, &format!("{key}.set_link.{wanted}")), message);
                    }
                }
                if let Some(Err(problem)) = l.vxlan.as_ref().map(|v| v.ageing_seconds()) {
                    self.problem(at(&l.dev, &format!("{key}.set_link.vxlan.ageing")), problem);
                }
            }
            Action::AddLink(a) => {
                let (source, line, column) = a.at();
                let place = At { source, line, column, key: &format!("{key}.add_link") };
                if a.kinds().len() != 1 {
                    let kinds = "`bridge`, `vxlan`, `macvlan`, `dummy`, `vlan`, `vrf`, `tap` or `veth`";
                    self.problem(place, format!("give one kind of link: {kinds}"));
                } else if a.veth.is_none() && a.dev.is_none() {
                    self.problem(place, "say which link to create: `dev: node:name`");
                } else if a.veth.is_some() && a.dev.is_some() {
                    self.problem(place, "a veth pair is named by its ends: drop `dev`");
                }
                for (node, _, _) in a.created() {
                    if !self.scenario.nodes.contains_key(node) {
                        let message = self.unknown_node_message(node);
                        self.problem(At { key: &format!("{key}.add_link"), ..place }, message);
                    }
                }
                if let Some(dev) = a.dev.as_ref().filter(|dev| self.scenario.nodes.contains_key(&dev.node)) {
                    let (name, iface) = (dev.node.as_str(), dev.iface.as_str());
                    if let Some(dummy) = &a.dummy {
                        self.check_master(name, dummy.master.as_ref(), &format!("{key}.add_link.dummy"));
                    }
                    if let Some(tap) = &a.tap {
                        self.check_master(name, tap.master.as_ref(), &format!("{key}.add_link.tap"));
                    }
                    if let Some(vlan) = &a.vlan {
                        self.check_vlan(name, iface, vlan, At { key: &format!("{key}.add_link.vlan"), ..place });
                    }
                    if let Some(vrf) = &a.vrf {
                        self.check_vrf(vrf, At { key: &format!("{key}.add_link.vrf"), ..place });
                    }
                }
            }
            Action::DelLink(d) => self.need_iface(&d.dev, key),
            Action::MoveLink(m) => {
                self.need_iface(&m.dev, key);
                if self.need_node(&m.to, key) && m.to.as_str() == m.dev.node {
                    self.problem(
                        at(&m.to, &format!("{key}.move_link.to")),
                        format!("`{}` is in node `{}` already", m.dev.iface, m.dev.node),
                    );
                }
            }
            Action::SetMaster(m) => {
                self.need_iface(&m.dev, key);
                if let Some(master) = &m.master {
                    self.need_bridge(&m.dev.node, master, at(master, key));
                }
            }
            Action::Wait(w) => {
                self.need_positive_timeout(&Some(w.duration.clone()), &format!("{key}.wait.for"));
                if w.why.trim().is_empty() {
                    self.problem(at(&w.why, &format!("{key}.wait.why")), "say which kernel timer is waited for");
                }
            }
            Action::SetPort(p) => {
                self.need_iface(&p.dev, key);
                if let Some(msg) = p.port.unsettable() {
                    self.problem(at(&p.dev, &format!("{key}.set_port.port.priority")), msg);
                }
                if p.port.is_empty() {
                    self.problem(
                        at(&p.dev, &format!("{key}.set_port.port")),
                        String::from("give at least one flag to set"),
                    );
                }
            }
            Action::SetQdisc(q) => {
                self.need_iface(&q.dev, key);
                if let Some(msg) = q.qdisc.problem() {
                    self.problem(at(&q.dev, &format!("{key}.set_qdisc.qdisc")), msg);
                }
            }
            Action::DelQdisc(q) => self.need_iface(&q.dev, key),
            Action::Sysctl(s) => {
                self.need_node(&s.on, key);
                for k in s.set.keys() {
                    if let Err(e) = check_sysctl_key(k) {
                        self.problem(at(&s.on, &format!("{key}.set.{k}")), e);
                    }
                }
            }
            Action::Run(r) => {
                self.need_node(&r.on, key);
            }
            Action::StartService(a) => self.need_service(&a.on, &a.service, &format!("{key}.start_service")),
            Action::StopService(a) => self.need_service(&a.on, &a.service, &format!("{key}.stop_service")),
            Action::RestartService(a) => self.need_service(&a.on, &a.service, &format!("{key}.restart_service")),
            Action::SignalService(a) => {
                self.need_service(&a.on, &a.service, &format!("{key}.signal_service"));
                if let Err(e) = SignalAction::signal(&a.signal) {
                    self.problem(at(&a.signal, &format!("{key}.signal_service.signal")), e);
                }
            }
            Action::Send(send) => self.check_send(send, &format!("{key}.send")),
            Action::Replay(replay) => {
                self.need_ethernet(&replay.into, &format!("{key}.replay.into"));
                if replay.path.is_none() {
                    let message = self.missing_pcap_message(replay);
                    self.problem(at(&replay.pcap, &format!("{key}.replay.pcap")), message);
                }
            }
        }
    }

    /// A `send` action: its interface or node, then its layers ([`frame::mistakes`]);
    /// a mistake without a place of its own is shown at the action's.
    fn check_send(&mut self, send: &SendAction, key: &str) {
        if let Some(dev) = &send.dev {
            self.need_ethernet(dev, &format!("{key}.dev"));
        }
        if let Some(on) = &send.on {
            self.need_node(on, &format!("{key}.on"));
        }
        let (source, line, column) = match (&send.dev, &send.on) {
            (Some(dev), _) => (dev.source, dev.line, dev.column),
            (None, Some(on)) => (on.source, on.line, on.column),
            (None, None) => (send.count.source, send.count.line, send.count.column),
        };
        for mistake in frame::mistakes(send) {
            let (source, line, column) = mistake.place.unwrap_or((source, line, column));
            let field = format!("{key}.{}", mistake.field);
            self.problem(At { source, line, column, key: &field }, mistake.message);
        }
    }

    /// `fails: {...}` names one cause, with names this system knows.
    fn check_fail_cause(&mut self, cause: &FailCause, place: At<'_>) {
        if cause.error.is_none() && cause.icmp.is_none() && !cause.timeout {
            self.problem(
                place,
                "say how it must fail: `error: ERRNO`, `icmp: NAME` or `timeout: true` (or `fails: true`)",
            );
        }
        if cause.timeout && (cause.error.is_some() || cause.icmp.is_some()) {
            self.problem(place, "`timeout: true` means no error came back: drop `error` and `icmp`");
        }
        if cause.from.is_some() && cause.icmp.is_none() {
            self.problem(place, "`from` is the sender of an ICMP error: give `icmp` too");
        }
        if let Some(error) = cause.error.as_ref().filter(|e| !crate::observe::cause::is_errno_name(e)) {
            self.problem(place, format!("`{error}` is not an errno name (write e.g. `ENETUNREACH`, `EACCES`)"));
        }
        let names = crate::observe::cause::icmp_error_names();
        if let Some(icmp) = cause.icmp.as_ref().filter(|i| !names.contains(&i.as_str())) {
            self.problem(place, format!("`{icmp}` is not an ICMP error name (known: {})", names.join(", ")));
        }
    }

    /// `deadline:` bounds the whole run: more than nothing, less than [`Scenario::MAX_DEADLINE`].
    fn check_deadline(&mut self) {
        let Some(deadline) = &self.scenario.deadline else { return };
        if deadline.0.is_zero() {
            self.problem(at(deadline, "deadline"), "a deadline of zero ends the run before it starts");
        } else if deadline.0 > Scenario::MAX_DEADLINE {
            let message = format!(
                "a deadline of {} is longer than netrig allows ({}): split the scenario",
                humantime::format_duration(deadline.0),
                humantime::format_duration(Scenario::MAX_DEADLINE)
            );
            self.problem(at(deadline, "deadline"), message);
        }
    }

    /// A deadline of zero would decide before any answer could arrive: a verdict on
    /// nothing; one past the scenario's deadline could never be waited out.
    fn need_positive_timeout(&mut self, timeout: &Option<Loc<Dur>>, key: &str) {
        let Some(timeout) = timeout else { return };
        if timeout.0.is_zero() {
            self.problem(
                at(timeout, key),
                "a timeout of zero decides before any answer can arrive (write e.g. `200ms`)",
            );
        } else if self.deadline_is_usable() && timeout.0 > self.scenario.deadline() {
            let message = format!("a timeout of {} does not fit in {}", human(timeout.0), self.deadline_words());
            self.problem(at(timeout, key), message);
        }
    }

    /// Whether the deadline can bound the rest (a bad one is reported once, by itself).
    fn deadline_is_usable(&self) -> bool {
        let deadline = self.scenario.deadline();
        !deadline.is_zero() && deadline <= Scenario::MAX_DEADLINE
    }

    /// `the scenario's deadline of 5m (raise it with `deadline:`)`.
    fn deadline_words(&self) -> String {
        let raise = if self.scenario.deadline() < Scenario::MAX_DEADLINE { " (raise it with `deadline:`)" } else { "" };
        format!("the scenario's deadline of {}{raise}", human(self.scenario.deadline()))
    }

    /// MTU 0 is no MTU at all (the kernel refuses it, or takes the device down for IPv4);
    /// outside 68..=65535 the kernel refuses to build the link.
    fn need_nonzero_mtu(&mut self, mtu: Option<u32>, place: At<'_>) {
        match mtu {
            Some(0) => {
                self.problem(place, "an MTU of 0 carries nothing (Ethernet needs at least 68 for IPv4, 1280 for IPv6)")
            }
            Some(mtu) if !MTU_RANGE.contains(&mtu) => self.problem(
                place,
                format!(
                    "MTU {mtu} is outside what Linux accepts for these links ({}..={})",
                    MTU_RANGE.start(),
                    MTU_RANGE.end()
                ),
            ),
            _ => {}
        }
    }

    /// `node:iface` that frames are sent out of: it must exist and carry Ethernet frames.
    fn need_ethernet(&mut self, r: &Loc<IfaceRef>, key: &str) {
        self.need_iface(r, key);
        let kind = self.ifaces.get(&(r.node.clone(), r.iface.clone())).map(|def| def.kind);
        let is_tun = || {
            let taps = self.scenario.nodes.get(&r.node).map(|node| &node.taps);
            taps.and_then(|taps| taps.get(&r.iface)).is_some_and(|tap| tap.mode == TapMode::Tun)
        };
        let not_ethernet = match kind {
            Some("loopback") => Some("the loopback interface"),
            Some("tap") if is_tun() => Some("a tun device (it carries bare IP packets)"),
            _ => None,
        };
        if let Some(what) = not_ethernet {
            let message = format!("`{}` is {what}: frames can only be sent out of an Ethernet interface", **r);
            self.problem(at(r, key), message);
        }
    }

    /// What `check` can know of the kernel's own limits, so that it does not accept a file
    /// the build then refuses: link queues, MACs a link can take, node names a `--keep`
    /// pin can carry, sysctls a namespace can write (see [`check_node_sysctl`]), pcaps
    /// that can be replayed.
    fn check_kernel_limits(&mut self) {
        let s = self.scenario;
        for (i, link) in s.links.iter().enumerate() {
            if link.queues.get() > MAX_QUEUES {
                let message = format!("{} queues: Linux gives a link at most {MAX_QUEUES}", link.queues);
                self.problem(at(&link.veth[0], &format!("links[{i}].queues")), message);
            }
        }
        for (name, node) in &s.nodes {
            let base = format!("nodes.{name}");
            if name.len() > crate::build::pin::MAX_NODE_NAME {
                let message = format!(
                    "node name is {} bytes; at most {} fit in the namespace name `netrig run --keep` pins",
                    name.len(),
                    crate::build::pin::MAX_NODE_NAME
                );
                self.problem(at(node, &base), message);
            }
            let macs = node
                .interfaces
                .iter()
                .map(|(d, x)| ("interfaces", d, x.mac))
                .chain(node.bridges.iter().map(|(d, x)| ("bridges", d, x.mac)))
                .chain(node.vxlans.iter().map(|(d, x)| ("vxlans", d, x.mac)))
                .chain(node.macvlans.iter().map(|(d, x)| ("macvlans", d, x.mac)))
                .chain(node.taps.iter().map(|(d, x)| ("taps", d, x.mac)))
                .chain(node.dummies.iter().map(|(d, x)| ("dummies", d, x.mac)))
                .chain(node.vlans.iter().map(|(d, x)| ("vlans", d, x.mac)))
                .chain(node.vrfs.iter().map(|(d, x)| ("vrfs", d, x.mac)));
            for (map, dev, mac) in macs {
                if let Some(problem) = mac.and_then(not_a_link_address) {
                    self.problem(at(node, &format!("{base}.{map}.{dev}.mac")), problem);
                }
            }
            // A key that is no sysctl name at all was reported by `check_nodes`.
            for key in node.sysctl.keys().filter(|k| check_sysctl_key(k).is_ok()) {
                if let Err(problem) = self.check_node_sysctl(name, key) {
                    self.problem(at(node, &format!("{base}.sysctl.{key}")), problem);
                }
            }
        }
        let actions = s.steps.iter().enumerate().flat_map(|(i, step)| {
            step.actions.iter().enumerate().map(move |(j, action)| (format!("steps[{i}].do[{j}]"), action))
        });
        for (key, action) in actions {
            match &action.action {
                Action::Sysctl(set) => {
                    for k in set.set.keys().filter(|k| is_machine_wide(k)) {
                        self.problem(at(&set.on, &format!("{key}.set.{k}")), machine_wide_message(k));
                    }
                }
                Action::Replay(replay) => {
                    if let Some(Err(problem)) = replay.path.as_deref().map(crate::observe::inject::read_pcap) {
                        self.problem(at(&replay.pcap, &format!("{key}.replay.pcap")), problem);
                    }
                }
                _ => {}
            }
        }
    }

    /// A sysctl a node sets when it is built: per namespace, and about an interface the
    /// node has (`net.ipv4.conf.<iface>.*`, `net.ipv6.neigh.<iface>.*`: the kernel makes
    /// these entries with the interface).
    fn check_node_sysctl(&self, node: &str, key: &str) -> Result<(), String> {
        if is_machine_wide(key) {
            return Err(machine_wide_message(key));
        }
        let parts: Vec<&str> = key.split('.').collect();
        if let ["net", "ipv4" | "ipv6", "conf" | "neigh", ..] = parts[..] {
            if parts.len() >= 5 {
                let iface = parts[3..parts.len() - 1].join(".");
                let known =
                    iface == "all" || iface == "default" || self.ifaces.contains_key(&(node.into(), iface.clone()));
                if !known {
                    return Err(format!(
                        "`{key}` is about interface `{iface}`, which node `{node}` does not have (write `all`, `default` or one of its interfaces)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where a `replay` action's pcap file was looked for.
    fn missing_pcap_message(&self, replay: &ReplayAction) -> String {
        let name = replay.pcap.as_str();
        let written_in = &self.sources[replay.pcap.source.min(self.sources.len() - 1)].path;
        if std::path::Path::new(name).is_absolute() {
            return format!(
                "`{name}`: give a path relative to {} (or a file name in `fixtures/`): an absolute path ties the \
                 scenario to one machine",
                written_in.display()
            );
        }
        let beside = written_in.parent().unwrap_or(std::path::Path::new("")).join(name);
        let mut message = format!("no pcap file `{name}` (looked for {}", beside.display());
        if crate::parse::include::is_plain_file_name(name) {
            message.push_str(&format!(", and for fixtures/{name} next to and above {}", written_in.display()));
        }
        message + ")"
    }

    fn check_check(&mut self, check: &Check, key: &str) {
        match check {
            Check::Ping(p) => {
                self.need_node(&p.from, &format!("{key}.ping.from"));
                self.need_positive_timeout(&p.timeout, &format!("{key}.ping.timeout"));
                // Requests are settled one after the other: the worst case is every
                // one of them waiting its whole timeout.
                let each = judge::wait(&p.timeout, !p.fails.expected());
                let gaps = p
                    .interval
                    .as_ref()
                    .map_or(std::time::Duration::ZERO, |i| i.0.saturating_mul(p.count.saturating_sub(1)));
                let worst = each.saturating_mul(*p.count).saturating_add(gaps);
                if *p.count == 0 {
                    self.problem(at(&p.count, &format!("{key}.ping.count")), "a ping sends at least one request");
                } else if self.deadline_is_usable() && worst > self.scenario.deadline() {
                    let message = format!(
                        "count {} × timeout {} = up to {} (requests are settled one after the other): does not \
                         fit in {}",
                        *p.count,
                        human(each),
                        human(worst),
                        self.deadline_words()
                    );
                    // A defaulted count has no place of its own: the ping's is used.
                    let place = if p.count.line == 0 { at(&p.from, "") } else { at(&p.count, "") };
                    self.problem(At { key: &format!("{key}.ping.count"), ..place }, message);
                }
                if let Fails::Because(cause) = &*p.fails {
                    self.check_fail_cause(cause, at(&p.fails, &format!("{key}.ping.fails")));
                }
                for (field, message) in ping_option_mistakes(p) {
                    let place = match field {
                        "answered" => p.answered.as_ref().map(|a| at(a, "")),
                        "size" => p.size.as_ref().map(|s| at(s, "")),
                        _ => None,
                    };
                    let key = format!("{key}.ping.{field}");
                    self.problem(At { key: &key, ..place.unwrap_or(at(&p.from, "")) }, message);
                }
            }
            Check::Connect(c) => {
                self.need_node(&c.from, &format!("{key}.connect.from"));
                self.need_positive_timeout(&c.timeout, &format!("{key}.connect.timeout"));
                if let Some(banner) = &c.banner {
                    if c.result != ConnectResult::Connected {
                        let message = "a `banner` is read from a connection: it needs `result: connected`";
                        self.problem(at(banner, &format!("{key}.connect.banner")), message);
                    } else if banner.is_empty() {
                        self.problem(at(banner, &format!("{key}.connect.banner")), "an empty banner checks nothing");
                    }
                }
            }
            Check::Command(c) => {
                self.need_node(&c.on, &format!("{key}.command.on"));
                if let Some(re) = &c.stdout {
                    if let Err(e) = CommandCheck::stdout_regex(re) {
                        self.problem(at(re, &format!("{key}.stdout")), format!("not a regular expression: {e}"));
                    }
                }
            }
            Check::Route(r) => {
                if self.need_node(&r.on, key) {
                    if let Some(dev) = &r.dev {
                        self.need_iface_in(&r.on, dev, at(&r.on, &format!("{key}.dev")));
                    }
                    for (name, dev) in [("iif", &r.iif), ("oif", &r.oif)] {
                        if let Some(dev) = dev {
                            self.need_iface_in(&r.on, dev, at(dev, &format!("{key}.route.{name}")));
                        }
                    }
                    if let Some(entry) = &r.entry {
                        for dev in entry.devices() {
                            self.need_iface_in(&r.on, dev, at(entry, &format!("{key}.route.entry")));
                        }
                    }
                }
                self.need_positive_timeout(&r.timeout, &format!("{key}.route.timeout"));
                if let Some(problem) = route_contradiction(r) {
                    self.problem(at(&r.on, &format!("{key}.route")), problem);
                }
            }
            Check::Sysctl(c) => {
                self.need_node(&c.on, key);
                if let Err(e) = check_sysctl_key(&c.key) {
                    self.problem(at(&c.key, key), e);
                }
            }
            Check::Udp(u) => {
                self.need_node(&u.from, &format!("{key}.udp.from"));
                self.need_positive_timeout(&u.timeout, &format!("{key}.udp.timeout"));
                if let Fails::Because(cause) = &*u.fails {
                    self.check_fail_cause(cause, at(&u.fails, &format!("{key}.udp.fails")));
                }
                if let Some(source) = u.source.as_ref().filter(|s| s.is_ipv4() != u.to.is_ipv4()) {
                    let message =
                        format!("source {} and destination {} are of different families", **source, u.to.ip());
                    self.problem(at(source, &format!("{key}.udp.source")), message);
                }
            }
            Check::Tcp(t) => {
                self.need_node(&t.from, &format!("{key}.tcp.from"));
                self.need_positive_timeout(&t.timeout, &format!("{key}.tcp.timeout"));
                if t.bytes.0 == 0 {
                    self.problem(at(&t.bytes, &format!("{key}.tcp.bytes")), "a transfer needs at least one byte");
                } else if t.bytes.0 > MAX_TCP_BYTES {
                    let message = format!(
                        "{} bytes is more than a transfer may send ({MAX_TCP_BYTES}, 1GiB): it checks that data \
                         flows, not how fast",
                        t.bytes.0
                    );
                    self.problem(at(&t.bytes, &format!("{key}.tcp.bytes")), message);
                }
            }
            Check::Counter(c) => {
                if self.need_node(&c.on, &format!("{key}.counter.on")) {
                    if let Some(link) = &c.link {
                        self.need_iface_in(&c.on, link, at(link, &format!("{key}.counter.link")));
                    }
                }
                self.need_positive_timeout(&c.timeout, &format!("{key}.counter.timeout"));
                let counter_key = format!("{key}.counter");
                match (&c.mib, &c.link, &c.stat, &c.qdisc, &c.nft) {
                    (Some(_), None, None, None, None)
                    | (None, Some(_), Some(_), None, None)
                    | (None, Some(_), None, Some(_), None)
                    | (None, None, None, None, Some(_)) => {}
                    _ => {
                        let message = "name one counter: `mib`, `link` with `stat` or `qdisc`, or `nft`";
                        self.problem(at(&c.on, &counter_key), message);
                    }
                }
                if let Some(nft) = &c.nft {
                    let by_rule = [nft.handle.is_some(), nft.comment.is_some(), nft.position.is_some()];
                    let one_rule = nft.chain.is_some() && by_rule.iter().filter(|b| **b).count() == 1;
                    if nft.name.is_some() == one_rule || (nft.name.is_some() && nft.chain.is_some()) {
                        let message =
                            "name a counter (`name`) or one rule of a `chain` (`handle`, `comment` or `position`)";
                        self.problem(at(nft, &format!("{counter_key}.nft")), message);
                    }
                }
                if c.value.is_none() && c.delta.is_none() {
                    self.problem(at(&c.on, &counter_key), "say what the counter must be: `value`, `delta` or both");
                }
            }
            Check::Bind(b) => {
                self.need_node(&b.on, &format!("{key}.bind.on"));
                if let Some(error) = b.error.as_ref().filter(|e| !crate::observe::cause::is_errno_name(e)) {
                    let message = format!("`{}` is not an errno name (write e.g. `EADDRNOTAVAIL`)", error.as_str());
                    self.problem(at(error, &format!("{key}.bind.error")), message);
                }
            }
            Check::Stream(c) => {
                self.need_node(&c.from, &format!("{key}.stream.from"));
                self.need_positive_timeout(&Some(c.duration.clone()), &format!("{key}.stream.for"));
                for (field, message) in c.problems() {
                    self.problem(at(&c.from, &format!("{key}.stream.{field}")), message);
                }
            }
            Check::Link(l) => {
                if self.need_node(&l.on, &format!("{key}.link.on")) {
                    self.need_iface_in(&l.on, &l.dev, at(&l.dev, &format!("{key}.link.dev")));
                }
                self.need_positive_timeout(&l.timeout, &format!("{key}.link.timeout"));
            }
            Check::Dropped(d) => {
                if self.need_node(&d.on, &format!("{key}.dropped.on"))
                    && let Some(dev) = &d.dev
                {
                    self.need_iface_in(&d.on, dev, at(dev, &format!("{key}.dropped.dev")));
                }
                if let Some(reason) = &d.reason
                    && let Err(e) = crate::observe::drops::check_reason_name(reason)
                {
                    self.problem(at(reason, &format!("{key}.dropped.reason")), e);
                }
            }
            Check::Fdb(f) => {
                if self.need_node(&f.on, &format!("{key}.fdb.on")) {
                    if let Some(dev) = &f.dev {
                        self.need_iface_in(&f.on, dev, at(dev, &format!("{key}.fdb.dev")));
                    }
                }
                self.need_positive_timeout(&f.timeout, &format!("{key}.fdb.timeout"));
                let described = f.table.is_some()
                    || f.state.is_some()
                    || !f.flags.is_empty()
                    || f.dst.is_some()
                    || f.vni.is_some()
                    || f.vlan.is_some();
                if f.absent && described {
                    let message = "`absent: true` expects no entry at all: keep only `mac` and `dev`, or drop `absent`";
                    self.problem(at(&f.on, &format!("{key}.fdb")), message);
                }
            }
            Check::Neighbour(n) => {
                if self.need_node(&n.on, &format!("{key}.neighbour.on")) {
                    if let Some(dev) = &n.dev {
                        self.need_iface_in(&n.on, dev, at(dev, &format!("{key}.neighbour.dev")));
                    }
                }
                self.need_positive_timeout(&n.timeout, &format!("{key}.neighbour.timeout"));
                if n.absent && (n.lladdr.is_some() || n.state.is_some()) {
                    let message = "`absent: true` expects no entry at all: drop `lladdr` and `state`, or `absent`";
                    self.problem(at(&n.on, &format!("{key}.neighbour")), message);
                }
            }
            Check::Log(l) => {
                self.need_service(&l.on, &l.service, &format!("{key}.log"));
                if let Err(e) = LogCheck::regex(&l.matches) {
                    self.problem(
                        at(&l.matches, &format!("{key}.log.matches")),
                        format!("not a regular expression: {e}"),
                    );
                }
                self.need_positive_timeout(&l.timeout, &format!("{key}.log.timeout"));
                if l.absent && l.timeout.is_some() {
                    let message = "`absent: true` is judged on the output so far, without waiting: drop `timeout`";
                    self.problem(at(&l.on, &format!("{key}.log")), message);
                }
            }
            Check::Packets(p) => {
                self.need_iface(&p.on, key);
                if let Some(m) = &p.matches {
                    if let Err(e) = crate::observe::decode::check_match(m) {
                        self.problem(at(&p.on, &format!("{key}.packets.match")), e);
                    }
                }
                let counted = [p.count.is_some(), p.min.is_some() || p.max.is_some(), p.seen.is_some()];
                if counted.iter().filter(|&&x| x).count() > 1 {
                    self.problem(at(&p.on, key), "give one of `seen`, `count`, or `min`/`max`");
                }
                if let (Some(min), Some(max)) = (p.min, p.max) {
                    if min > max {
                        self.problem(at(&p.on, key), format!("min {min} is greater than max {max}"));
                    }
                }
            }
        }
    }
}

/// The most a `tcp` check sends: a few seconds of a veth, ample to see data flow.
pub const MAX_TCP_BYTES: u64 = 1 << 30;

/// `5m`, `2s`, `200ms`.
fn human(d: std::time::Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

/// A scenario file run as a test must check something: an `expect:` entry at the top or
/// in a step. Otherwise an empty, comment-only or truncated file is a green test. A file
/// whose build (and its snapshot) is the whole test opts in with `expect: []` written out
/// and an `about:` saying why. (A [`crate::Lab`] topology has no checks of its own: this
/// applies to scenario files only.)
pub fn require_checks(scenario: &Scenario, source: &Source) -> Option<Diagnostic> {
    let checks = scenario.expect.len() + scenario.steps.iter().map(|s| s.expect.len()).sum::<usize>();
    if checks > 0 {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct ExpectWritten {
        #[serde(default)]
        expect: Option<Loc<serde::de::IgnoredAny>>,
    }
    let written = serde_saphyr::from_str::<ExpectWritten>(&source.text).ok().and_then(|w| w.expect);
    match written {
        Some(_) if scenario.about.as_deref().is_some_and(|a| !a.trim().is_empty()) => None,
        Some(empty) => Some(Diagnostic::new(
            source,
            empty.line,
            empty.column,
            "expect",
            "`expect: []` checks nothing: say in `about:` why building the topology is the whole test",
        )),
        None => Some(Diagnostic::new(
            source,
            1,
            1,
            "expect",
            "the scenario checks nothing (no `expect:` entry at the top or in a step), so it would pass whatever the kernel does; add a check, or write `expect: []` with an `about:` saying why none is needed",
        )),
    }
}

/// MTUs Linux accepts on the links netrig builds (veth and bridge: 68, the IPv4
/// minimum, to 65535).
const MTU_RANGE: std::ops::RangeInclusive<u32> = 68..=65535;

/// Transmit/receive queues the kernel gives one link at most (`rtnl_create_link`).
const MAX_QUEUES: u32 = 4096;

/// Why a link cannot take `mac` as its address (a multicast or all-zero MAC).
fn not_a_link_address(mac: MacAddr) -> Option<String> {
    if mac.0 == [0; 6] {
        Some("00:00:00:00:00:00 is no address: a link needs a unicast MAC (write e.g. 02:00:00:00:00:01)".into())
    } else if mac.0[0] & 1 == 1 {
        Some(format!("{mac} is a multicast MAC (lowest bit of the first byte set): a link needs a unicast one"))
    } else {
        None
    }
}

/// `net.*` sysctls that are machine-wide: on this kernel a new namespace has no such
/// entry, or cannot write it (`net.core.rmem_default`, `net.netfilter.nf_conntrack_max`).
/// Verified against a fresh namespace by `machine_wide_sysctls_are_not_writable_in_a_namespace`.
const MACHINE_WIDE: &[&str] = &[
    "net.core.bpf_jit_enable",
    "net.core.bpf_jit_harden",
    "net.core.bpf_jit_kallsyms",
    "net.core.bpf_jit_limit",
    "net.core.busy_poll",
    "net.core.busy_read",
    "net.core.default_qdisc",
    "net.core.dev_weight",
    "net.core.dev_weight_rx_bias",
    "net.core.dev_weight_tx_bias",
    "net.core.devconf_inherit_init_net",
    "net.core.fb_tunnels_only_for_init_net",
    "net.core.gro_normal_batch",
    "net.core.high_order_alloc_disable",
    "net.core.max_skb_frags",
    "net.core.mem_pcpu_rsv",
    "net.core.message_burst",
    "net.core.message_cost",
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "net.core.netdev_max_backlog",
    "net.core.netdev_tstamp_prequeue",
    "net.core.netdev_unregister_timeout_secs",
    "net.core.rmem_default",
    "net.core.rmem_max",
    "net.core.rps_sock_flow_entries",
    "net.core.skb_defer_max",
    "net.core.warnings",
    "net.core.wmem_default",
    "net.core.wmem_max",
    "net.ipv4.cipso_cache_bucket_size",
    "net.ipv4.cipso_cache_enable",
    "net.ipv4.cipso_rbm_optfmt",
    "net.ipv4.cipso_rbm_strictvalid",
    "net.ipv4.fib_sync_mem",
    "net.ipv4.inet_peer_maxttl",
    "net.ipv4.inet_peer_minttl",
    "net.ipv4.inet_peer_threshold",
    "net.ipv4.ipfrag_secret_interval",
    "net.ipv4.route.error_burst",
    "net.ipv4.route.error_cost",
    "net.ipv4.route.gc_elasticity",
    "net.ipv4.route.gc_interval",
    "net.ipv4.route.gc_min_interval",
    "net.ipv4.route.gc_min_interval_ms",
    "net.ipv4.route.gc_thresh",
    "net.ipv4.route.gc_timeout",
    "net.ipv4.route.max_size",
    "net.ipv4.route.redirect_load",
    "net.ipv4.route.redirect_number",
    "net.ipv4.route.redirect_silence",
    "net.ipv4.tcp_allowed_congestion_control",
    "net.ipv4.tcp_low_latency",
    "net.ipv4.tcp_max_orphans",
    "net.ipv4.tcp_mem",
    "net.ipv4.udp_mem",
    "net.ipv6.calipso_cache_bucket_size",
    "net.ipv6.calipso_cache_enable",
    "net.ipv6.ip6frag_secret_interval",
    "net.ipv6.mld_max_msf",
    "net.ipv6.mld_qrv",
    "net.netfilter.nf_conntrack_buckets",
    "net.netfilter.nf_conntrack_expect_max",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_log_all_netns",
    "net.nf_conntrack_max",
];

/// Whether `key` is machine-wide: listed, or a neighbour table's `default` parameters
/// (`net.ipv4.neigh.default.gc_thresh3`: the tables' limits count every namespace).
pub fn is_machine_wide(key: &str) -> bool {
    MACHINE_WIDE.contains(&key)
        || key.starts_with("net.ipv4.neigh.default.")
        || key.starts_with("net.ipv6.neigh.default.")
}

fn machine_wide_message(key: &str) -> String {
    format!(
        "`{key}` is global (machine-wide), not per network namespace: a node cannot set it, and netrig never changes the host's value"
    )
}

/// Only network sysctls are per namespace; anything else would change the machine.
pub fn check_sysctl_key(key: &str) -> Result<(), String> {
    if !key.starts_with("net.") {
        return Err(format!(
            "`{key}`: only network sysctls (`net.*`) belong to a namespace; writing it would change the machine itself"
        ));
    }
    if key.split('.').any(str::is_empty) || key.contains(['/', ' ']) || key.contains(char::is_control) {
        return Err(format!("`{}` is not a sysctl name (write e.g. `net.ipv4.ip_forward`)", key.escape_debug()));
    }
    crate::parse::family::check(key)
}

/// Every address the scenario assigns: (node, interface, address, where, key path).
pub(crate) fn assigned_addresses(s: &Scenario) -> Vec<(String, String, IpAddr, At<'static>, String)> {
    let mut assigned: Vec<(String, String, IpAddr, At<'static>, String)> = Vec::new();
    let mut add = |node: &str, iface: &str, ip: IpAddr, place: At<'static>, key: String| {
        assigned.push((node.into(), iface.into(), ip, place, key));
    };
    for (i, link) in s.links.iter().enumerate() {
        for (e, end) in link.veth.iter().enumerate() {
            for a in &end.addresses {
                add(&end.at.node, &end.at.iface, a.addr(), at(end, ""), format!("links[{i}].veth[{e}]"));
            }
        }
    }
    for (name, node) in &s.nodes {
        let mut per_device: Vec<(&str, &str, &Vec<Loc<ipnet::IpNet>>)> = Vec::new();
        per_device.extend(node.bridges.iter().map(|(d, x)| ("bridges", d.as_str(), &x.addresses)));
        per_device.extend(node.vxlans.iter().map(|(d, x)| ("vxlans", d.as_str(), &x.addresses)));
        per_device.extend(node.macvlans.iter().map(|(d, x)| ("macvlans", d.as_str(), &x.addresses)));
        per_device.extend(node.taps.iter().map(|(d, x)| ("taps", d.as_str(), &x.addresses)));
        per_device.extend(node.dummies.iter().map(|(d, x)| ("dummies", d.as_str(), &x.addresses)));
        per_device.extend(node.vlans.iter().map(|(d, x)| ("vlans", d.as_str(), &x.addresses)));
        per_device.extend(node.interfaces.iter().map(|(d, x)| ("interfaces", d.as_str(), &x.addresses)));
        for (map, dev, addrs) in per_device {
            for (i, a) in addrs.iter().enumerate() {
                add(name, dev, a.addr(), at(a, ""), format!("nodes.{name}.{map}.{dev}.addresses[{i}]"));
            }
        }
    }
    assigned
}

/// Layer-2 segments: interfaces joined by a veth pair, a bridge, or a macvlan parent
/// share one. Computed with a small union-find over `node:iface` names.
pub(crate) struct Segments {
    parent: BTreeMap<String, String>,
}

impl Segments {
    pub(crate) fn of(s: &Scenario) -> Segments {
        let mut seg = Segments { parent: BTreeMap::new() };
        for link in &s.links {
            let [a, b] = &link.veth;
            seg.join(&a.at.to_string(), &b.at.to_string());
            for end in [a, b] {
                // A VRF's interfaces share its routing table, not a layer-2 segment.
                let is_vrf = |m: &String| s.nodes.get(&end.at.node).is_some_and(|n| n.vrfs.contains_key(m));
                if let Some(m) = end.master.as_ref().filter(|m| !is_vrf(m)) {
                    seg.join(&end.at.to_string(), &format!("{}:{m}", end.at.node));
                }
            }
        }
        for (name, node) in &s.nodes {
            let masters = node
                .vxlans
                .iter()
                .map(|(d, x)| (d, &x.master))
                .chain(node.macvlans.iter().map(|(d, x)| (d, &x.master)))
                .chain(node.taps.iter().map(|(d, x)| (d, &x.master)))
                .chain(node.interfaces.iter().map(|(d, x)| (d, &x.master)))
                .chain(node.dummies.iter().map(|(d, x)| (d, &x.master)))
                .chain(node.vlans.iter().map(|(d, x)| (d, &x.master)));
            for (dev, master) in masters {
                if let Some(m) = master.as_ref().filter(|m| !node.vrfs.contains_key(m.as_str())) {
                    seg.join(&format!("{name}:{dev}"), &format!("{name}:{}", m.as_str()));
                }
            }
            for (dev, mv) in &node.macvlans {
                let (parent_node, parent) = mv.parent_of(name);
                seg.join(&format!("{name}:{dev}"), &format!("{parent_node}:{parent}"));
            }
        }
        seg
    }

    fn root(&self, mut x: String) -> String {
        while let Some(p) = self.parent.get(&x) {
            if *p == x {
                break;
            }
            x = p.clone();
        }
        x
    }

    fn join(&mut self, a: &str, b: &str) {
        let (ra, rb) = (self.root(a.to_string()), self.root(b.to_string()));
        if ra != rb {
            self.parent.insert(ra, rb);
        }
    }

    pub(crate) fn find(&self, node: &str, iface: &str) -> String {
        self.root(format!("{node}:{iface}"))
    }
}

/// Names used across the scenario, for tools (`netrig graph`, the report).
pub fn node_names(s: &Scenario) -> BTreeSet<&str> {
    s.nodes.keys().map(String::as_str).collect()
}

/// Expectations of a `route` check that no decision can meet together.
fn route_contradiction(r: &RouteCheck) -> Option<&'static str> {
    let refused = r.unreachable || r.kind.is_some_and(RouteDecisionKind::refuses);
    let cache_expected = r.mtu.is_some() || r.redirected == Some(true) || r.expires == Some(true);
    if r.unreachable && r.kind.is_some_and(|k| !k.refuses()) {
        Some("`unreachable: true` expects the lookup to fail: a `type` that routes contradicts it")
    } else if refused && (r.dev.is_some() || r.via.is_some() || r.table.is_some() || r.exception.is_some()) {
        Some("a refused lookup has no `dev`, `via`, `table` or exception: drop them, or the refusal")
    } else if refused && cache_expected {
        Some("a refused lookup has no cached exception: drop `mtu`, `redirected` and `expires`")
    } else if r.exception == Some(false) && cache_expected {
        Some("`exception: false` expects no cached exception: drop `mtu`, `redirected: true` and `expires: true`")
    } else if r.redirected.is_some() && r.to.is_ipv6() {
        Some(
            "IPv6 does not mark an exception a redirect made (it is a clone, like a learned MTU's): expect `exception: true` and the redirect's `via` instead of `redirected`",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::load::{Source, parse_and_validate};

    pub(super) fn errors(text: &str) -> Vec<String> {
        let source = Source { path: "t.yaml".into(), text: text.into() };
        match parse_and_validate(&source) {
            Ok(_) => vec![],
            Err(d) => d.0.iter().map(|d| format!("{}:{} {}: {}", d.line, d.column, d.key, d.message)).collect(),
        }
    }

    pub(super) fn one_error(text: &str, needle: &str) -> String {
        let e = errors(text);
        assert_eq!(e.len(), 1, "expected one error containing {needle:?}, got {e:#?}");
        assert!(e[0].contains(needle), "{:?} does not contain {needle:?}", e[0]);
        e[0].clone()
    }

    const PAIR: &str = "nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]\n";

    #[test]
    fn services_are_named_where_used_with_known_signals_regexes_and_timeouts() {
        let node = "nodes:\n  a:\n    services:\n      web:\n        run: \"exec httpd\"\n";
        assert_eq!(errors(&format!("{node}steps:\n  - do: [restart_service: {{on: a, service: web}}]\n")), [""; 0]);
        let e =
            one_error(&format!("{node}steps:\n  - do: [stop_service: {{on: a, service: db}}]\n"), "no service `db`");
        assert!(
            e.starts_with("7:41 steps[0].do[0].stop_service.service: node `a` has no service `db` (it has: web)"),
            "{e}"
        );
        let e =
            one_error(&format!("{node}expect:\n  - log: {{on: b, service: web, matches: x}}\n"), "no node named `b`");
        assert!(e.starts_with("7:15 expect[0].log.on:"), "{e}");
        let signal = "steps:\n  - do: [signal_service: {on: a, service: web, signal: HUPP}]\n";
        one_error(&format!("{node}{signal}"), "`HUPP` is not a signal name");
        one_error(
            &format!("{node}expect:\n  - log: {{on: a, service: web, matches: \"(\"}}\n"),
            "not a regular expression",
        );
        let e = one_error(&format!("{node}        timeout: 0s\n"), "a timeout of zero");
        assert!(e.starts_with("6:18 nodes.a.services.web.timeout:"), "{e}");
        one_error(&format!("{node}        ready: {{output: \"[\"}}\n"), "not a regular expression");
        one_error(&format!("{node}        ready: {{listen: sctp/1}}\n"), "protocol must be tcp or udp");
    }

    #[test]
    fn a_good_scenario_has_no_errors() {
        assert_eq!(errors(&format!("{PAIR}expect:\n  - ping: {{from: a, to: 10.0.0.2}}\n")), Vec::<String>::new());
    }

    #[test]
    fn dangling_node_in_a_check() {
        let e = one_error(&format!("{PAIR}expect:\n  - ping: {{from: c, to: 10.0.0.2}}\n"), "no node named `c`");
        assert!(e.starts_with("7:18 expect[0].ping.from:"), "{e}");
    }

    #[test]
    fn dangling_node_in_a_link() {
        let e = one_error("nodes:\n  a: {}\nlinks:\n  - veth: [a:eth0, b:eth0]\n", "no node named `b`");
        assert!(e.starts_with("4:20 links[0].veth[1]:"), "{e}");
    }

    #[test]
    fn a_macvlan_parent_in_another_node_must_exist_there() {
        let host = "nodes:\n  host:\n    bridges: {lan0: {}}\n  c:\n    macvlans:\n      eth0: {parent: ";
        assert_eq!(errors(&format!("{host}\"host:lan0\"}}\n")), Vec::<String>::new());
        let e = one_error(&format!("{host}\"host:lan9\"}}\n"), "node `host` has no interface `lan9`");
        assert!(e.starts_with("6:22 nodes.c.macvlans.eth0.parent:"), "{e}");
        let e = one_error(&format!("{host}\"hots:lan0\"}}\n"), "no node named `hots` (nodes: c, host)");
        assert!(e.starts_with("6:22 nodes.c.macvlans.eth0.parent:"), "{e}");
    }

    #[test]
    fn an_ipvlan_has_ipvlan_modes_and_no_mac_of_its_own() {
        let host =
            "nodes:\n  host:\n    bridges: {lan0: {}}\n  c:\n    macvlans:\n      eth0: {parent: \"host:lan0\", ";
        for fine in ["kind: ipvlan", "kind: ipvlan, mode: l3s", "kind: ipvlan, mode: private", "mode: passthru"] {
            assert_eq!(errors(&format!("{host}{fine}}}\n")), Vec::<String>::new(), "{fine}");
        }
        let e = one_error(&format!("{host}kind: ipvlan, mode: passthru}}\n"), "`passthru` is no mode of an ipvlan");
        assert!(e.contains("nodes.c.macvlans.eth0.mode"), "{e}");
        one_error(&format!("{host}mode: l3}}\n"), "`l3` is an ipvlan's mode (`kind: ipvlan`)");
        one_error(&format!("{host}kind: ipvlan, mac: \"02:00:00:00:00:01\"}}\n"), "an ipvlan has its parent's MAC");
        // Its interface is an ipvlan: a step cannot change it as a macvlan.
        let step = "steps:\n  - do: [set_link: {dev: \"c:eth0\", macvlan: {mode: vepa}}]\n";
        one_error(&format!("{host}kind: ipvlan}}\n{step}"), "macvlan");
    }

    #[test]
    fn a_vxlan_dev_in_another_node_must_exist_there() {
        let host = "nodes:\n  host:\n    bridges: {lan0: {}}\n  c:\n    vxlans:\n      vx0: {id: 1, dev: ";
        assert_eq!(errors(&format!("{host}\"host:lan0\"}}\n")), Vec::<String>::new());
        let e = one_error(&format!("{host}\"host:lan9\"}}\n"), "node `host` has no interface `lan9`");
        assert!(e.starts_with("6:25 nodes.c.vxlans.vx0.dev:"), "{e}");
        one_error(&format!("{host}\"hots:lan0\"}}\n"), "no node named `hots` (nodes: c, host)");
    }

    #[test]
    fn a_moved_link_is_an_interface_of_its_new_node() {
        // a's eth0 (peer b's `peer`) moves to the node `to`; then `after` runs.
        let moving = |peer: &str, to: &str, after: &str| {
            format!(
                "nodes:\n  a: {{}}\n  b: {{}}\nlinks:\n  - veth: [a:eth0, b:{peer}]\nsteps:\n  - do:\n      \
                 - move_link: {{dev: a:eth0, to: {to}}}\n{after}"
            )
        };
        let address = "      - add_address: {dev: b:eth0, address: 10.0.0.1/24}\n";
        assert_eq!(errors(&moving("eth9", "b", address)), [""; 0]);
        let e = one_error(&moving("eth9", "c", ""), "no node named `c`");
        assert!(e.starts_with("8:38 steps[0].do[0]:"), "{e}");
        let e = one_error(&moving("eth9", "a", ""), "`eth0` is in node `a` already");
        assert!(e.starts_with("8:38 steps[0].do[0].move_link.to:"), "{e}");
        let e = one_error(&moving("eth0", "b", ""), "interface `eth0` is defined twice in node `b`");
        assert!(e.starts_with("8:38 steps[0].do[0].move_link.to:"), "{e}");
    }

    #[test]
    fn dangling_interface_in_a_route() {
        let e = one_error(
            "nodes:\n  a:\n    routes: [\"default dev eth9\"]\n",
            "node `a` has no interface `eth9` (it has: lo)",
        );
        assert!(e.starts_with("3:14 nodes.a.routes[0]:"), "{e}");
    }

    #[test]
    fn route_checks_name_known_interfaces_and_do_not_contradict_themselves() {
        let route = |args: &str| format!("{PAIR}expect:\n  - route: {{on: a, to: 10.0.0.2, {args}}}\n");
        let good = "from: 10.0.0.9, iif: eth0, mark: 7, tos: 16, type: unicast, table: main, exception: false";
        assert_eq!(errors(&route(good)), Vec::<String>::new());
        assert_eq!(errors(&route("table: 100, mtu: 1280, redirected: false, expires: true")), Vec::<String>::new());
        let e = one_error(&route("iif: eth1"), "node `a` has no interface `eth1`");
        assert!(e.starts_with("7:39 expect[0].route.iif:"), "{e}");
        one_error(&route("oif: eth1"), "node `a` has no interface `eth1`");
        one_error(&route("timeout: 0s"), "a timeout of zero");
        one_error(&route("unreachable: true, type: local"), "a `type` that routes contradicts it");
        one_error(&route("type: blackhole, via: 10.0.0.1"), "a refused lookup has no `dev`");
        one_error(&route("type: prohibit, mtu: 1280"), "a refused lookup has no cached exception");
        one_error(&route("exception: false, redirected: true"), "`exception: false` expects no cached exception");
        one_error(&route("type: nat"), "unknown variant `nat`");
        one_error(&route("table: mian"), "did not match any variant");
    }

    #[test]
    fn link_checks_name_a_known_interface_and_known_attributes() {
        let link = |args: &str| format!("{PAIR}expect:\n  - link: {{on: a, {args}}}\n");
        let good = "dev: eth0, state: up, mtu: 1500, master: none, port: {learning: false}, vxlan: {id: 1, ttl: 64}";
        assert_eq!(errors(&link(good)), Vec::<String>::new());
        let e = one_error(&link("dev: eth1"), "node `a` has no interface `eth1`");
        assert!(e.starts_with("7:24 expect[0].link.dev:"), "{e}");
        one_error(&link("dev: eth0, timeout: 0s"), "a timeout of zero");
        one_error(&link("dev: eth0, state: running"), "unknown variant `running`");
        one_error(&link("dev: eth0, port: {learn: false}"), "unknown field `learn`");
    }

    #[test]
    fn fdb_checks_name_a_known_interface_and_do_not_contradict_themselves() {
        let fdb = |args: &str| format!("{PAIR}expect:\n  - fdb: {{on: a, mac: 02:00:00:00:00:0b, {args}}}\n");
        let good = "dev: eth0, table: master, state: dynamic, flags: [sticky, extern_learn], dst: 10.0.0.2, vni: 1";
        assert_eq!(errors(&fdb(good)), Vec::<String>::new());
        assert_eq!(
            errors(&fdb("table: self, absent: true, timeout: 5s")),
            vec![
            "7:15 expect[0].fdb: `absent: true` expects no entry at all: keep only `mac` and `dev`, or drop `absent`"
                .to_string()
        ]
        );
        let e = one_error(&fdb("dev: eth1"), "node `a` has no interface `eth1`");
        assert!(e.starts_with("7:47 expect[0].fdb.dev:"), "{e}");
        one_error(&fdb("timeout: 0s"), "a timeout of zero");
        one_error(&fdb("state: stale"), "unknown variant `stale`");
        one_error(&fdb("flags: [own]"), "unknown variant `own`");
    }

    #[test]
    fn counter_checks_name_one_counter_and_what_it_must_be() {
        let counter = |args: &str| format!("{PAIR}expect:\n  - counter: {{on: a, {args}}}\n");
        assert_eq!(errors(&counter("mib: TcpExt.IPReversePathFilter, delta: {min: 1}")), Vec::<String>::new());
        assert_eq!(errors(&counter("link: eth0, stat: rx_packets, value: 3, delta: 1")), Vec::<String>::new());
        let e = one_error(&counter("link: eth1, stat: rx_packets, value: 1"), "node `a` has no interface `eth1`");
        assert!(e.starts_with("7:28 expect[0].counter.link:"), "{e}");
        one_error(&counter("mib: Ip.InReceives"), "`value`, `delta` or both");
        one_error(&counter("link: eth0, value: 1"), "`mib`, `link` with `stat` or `qdisc`, or `nft`");
        let nft = |which: &str| counter(&format!("nft: {which}, delta: 1"));
        assert_eq!(errors(&nft("{table: f, name: dropped}")), Vec::<String>::new());
        assert_eq!(errors(&nft("{family: ip, table: nat, chain: POSTROUTING, position: 1}")), Vec::<String>::new());
        one_error(&nft("{table: f}"), "name a counter (`name`) or one rule");
        one_error(&nft("{table: f, chain: in}"), "name a counter (`name`) or one rule");
        one_error(&nft("{table: f, chain: in, handle: 3, position: 1}"), "name a counter (`name`) or one rule");
        one_error(&nft("{table: f, name: x, chain: in, handle: 3}"), "name a counter (`name`) or one rule");
        one_error(&counter("link: eth0, stat: rx_packets, qdisc: dropped, value: 1"), "name one counter");
        assert_eq!(errors(&counter("link: eth0, qdisc: overlimits, delta: 0")), Vec::<String>::new());
        one_error(&counter("mib: Ip.InReceives, link: eth0, stat: rx_packets, value: 1"), "name one counter");
        one_error(&counter("link: eth0, stat: rx_pkts, value: 1"), "unknown variant `rx_pkts`");
        one_error(&counter("mib: Ip.InReceives, value: 1, timeout: 0s"), "a timeout of zero");
    }

    #[test]
    fn bind_checks_expect_a_known_errno() {
        let bind = |args: &str| format!("{PAIR}expect:\n  - bind: {{on: a, address: 10.9.9.9, {args}}}\n");
        assert_eq!(errors(&bind("port: 80, proto: udp, error: EADDRNOTAVAIL")), Vec::<String>::new());
        let e = one_error(&bind("error: EADDRNOTAVIAL"), "`EADDRNOTAVIAL` is not an errno name");
        assert!(e.starts_with("7:45 expect[0].bind.error:"), "{e}");
        one_error(&bind("proto: sctp"), "unknown variant `sctp`");
    }

    #[test]
    fn a_route_needs_a_next_hop_to_be_added_not_to_be_deleted() {
        let e = one_error("nodes:\n  a:\n    routes: [\"10.1.0.0/16\"]\n", "needs `via` or `dev`");
        assert!(e.starts_with("3:14 nodes.a.routes[0]:"), "{e}");
        let step = |action: &str| format!("{PAIR}steps:\n  - do:\n      - {action}\n");
        let e = one_error(&step("add_route: {on: a, route: 10.1.0.0/16}"), "needs `via` or `dev`");
        assert!(e.starts_with("8:35 steps[0].do[0]:"), "{e}");
        one_error(&step("append_route: {on: a, route: 10.1.0.0/16}"), "needs `via` or `dev`");
        assert_eq!(errors(&step("del_route: {on: a, route: 10.1.0.0/16}")), Vec::<String>::new());
        assert_eq!(errors(&step("del_route: {on: a, route: 127.0.0.0/8 dev lo table local}")), Vec::<String>::new());
    }

    #[test]
    fn a_rule_needs_an_action_to_be_added_not_to_be_deleted() {
        let e = one_error("nodes:\n  a:\n    rules: [\"from 10.1.0.0/16\"]\n", "needs an action");
        assert!(e.starts_with("3:13 nodes.a.rules[0]:"), "{e}");
        let step = |action: &str| format!("{PAIR}steps:\n  - do:\n      - {action}\n");
        let e = one_error(&step("add_rule: {on: a, rule: priority 100}"), "needs an action");
        assert!(e.starts_with("8:33 steps[0].do[0]:"), "{e}");
        assert_eq!(errors(&step("del_rule: {on: a, rule: priority 100}")), Vec::<String>::new());
        assert_eq!(errors(&step("add_rule: {on: a, rule: iif eth0 goto 200}")), Vec::<String>::new());
        one_error(&step("add_rule: {on: c, rule: iif eth0 goto 200}"), "no node named `c`");
        let e = one_error(&step("del_rule: {on: a, rule: oif eth7}"), "node `a` has no interface `eth7`");
        assert!(e.starts_with("8:33 steps[0].do[0]:"), "{e}");
    }

    #[test]
    fn nexthop_interfaces_must_exist_in_routes_and_route_checks() {
        let step = |action: &str| format!("{PAIR}steps:\n  - do:\n      - {action}\n");
        let route = "10.9.0.0/24 nexthop via 10.0.0.2 dev eth0 nexthop via 10.0.0.3 dev eth3";
        one_error(&step(&format!("add_route: {{on: a, route: {route}}}")), "node `a` has no interface `eth3`");
        let check = format!("{PAIR}expect:\n  - route: {{on: a, to: 10.9.0.1, entry: \"{route}\"}}\n");
        let e = one_error(&check, "node `a` has no interface `eth3`");
        assert!(e.contains("expect[0].route.entry"), "{e}");
    }

    #[test]
    fn listeners_with_a_banner_and_connects_that_read_it() {
        let node = |listen: &str| {
            format!(
                "nodes:\n  a: {{}}\n  b:\n    listen: {listen}\nlinks:\n  - veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]\n"
            )
        };
        let good = r#"[tcp/80, "udp/10.0.0.2:53", {tcp: 2222, banner: "SSH-2.0-netrig\r\n"}, {tcp: "10.0.0.2:25", banner: "220 hi\n"}]"#;
        assert_eq!(errors(&node(good)), Vec::<String>::new());
        let scenario = parse_and_validate(&Source { path: "t.yaml".into(), text: node(good) }).unwrap();
        let listen = &scenario.nodes["b"].listen;
        assert_eq!(listen[2].banner.as_deref(), Some("SSH-2.0-netrig\r\n"));
        assert_eq!((listen[3].spec.addr, listen[3].spec.port), (Some("10.0.0.2".parse().unwrap()), 25));
        assert_eq!((listen[0].banner.as_ref(), listen[0].spec.port), (None, 80));
        one_error(&node("[tcp/http]"), "expected PORT or ADDR:PORT");
        one_error(&node(r#"[{tcp: 22, banner: ""}]"#), "a banner has 1 to 1024 bytes");
        one_error(&node("[{tcp: 22, banner: x, foo: 1}]"), "unknown field `foo`, expected one of tcp, banner");
        one_error(&node("[{tcp: 22}]"), "missing field `banner`");
        let connect = |args: &str| format!("{PAIR}expect:\n  - connect: {{from: a, to: 10.0.0.2:22, {args}}}\n");
        assert_eq!(errors(&connect("banner: SSH-2.0")), Vec::<String>::new());
        let e = one_error(&connect("result: refused, banner: SSH-2.0"), "it needs `result: connected`");
        assert!(e.starts_with("7:66 expect[0].connect.banner:"), "{e}");
        one_error(&connect("banner: ''"), "an empty banner checks nothing");
    }

    #[test]
    fn only_netfilter_counters_can_be_reset() {
        let step = |action: &str| format!("{PAIR}steps:\n  - do:\n      - {action}\n");
        let good = ["{on: a, nft: {family: inet, table: f, name: echoes}}", "{on: a, iptables: {table: nat}}"];
        for action in good {
            assert_eq!(errors(&step(&format!("reset_counters: {action}"))), Vec::<String>::new());
        }
        let e = one_error(&step("reset_counters: {on: a, mib: TcpExt.IPReversePathFilter}"), "cannot be reset");
        assert!(e.starts_with("8:38 steps[0].do[0].reset_counters.mib: MIB counters cannot be reset"), "{e}");
        one_error(&step("reset_counters: {on: a, link: eth0}"), "interface and qdisc statistics cannot be reset");
        one_error(&step("reset_counters: {on: a}"), "say which counters");
        one_error(&step("reset_counters: {on: a, nft: {table: f}, iptables: {}}"), "not both");
        one_error(&step("reset_counters: {on: a, nft: {table: \"f; reboot\"}}"), "is not a netfilter name");
        one_error(&step("reset_counters: {on: z, nft: {table: f}}"), "no node named `z`");
    }

    #[test]
    fn words_of_bridge_fdb_are_checked_where_written() {
        let step = |action: &str| format!("{PAIR}steps:\n  - do:\n      - {action}\n");
        let e = one_error(&step("add_fdb: {on: a, fdb: 02:00:00:00:00:01 dev eth0 master permanant}"), "`permanant`");
        assert!(e.starts_with("8:31 steps[0].do[0].add_fdb.fdb:"), "{e}");
        let e = one_error(&step("add_fdb: {on: a, fdb: 02:00:00:00:00:01 dev eth0 via eth3}"), "no interface `eth3`");
        assert!(e.starts_with("8:31 steps[0].do[0]:"), "{e}");
    }

    #[test]
    fn dropped_checks_name_a_node_an_interface_and_a_reason() {
        let check = |body: &str| format!("{PAIR}expect:\n  - dropped: {{{body}}}\n");
        assert_eq!(errors(&check("on: b, dev: eth0, reason: NETFILTER_DROP")), Vec::<String>::new());
        let e = one_error(&check("on: b, reason: SKB_DROP_REASON_NETFILTER_DROP"), "without `SKB_DROP_REASON_`");
        assert!(e.starts_with("7:30 expect[0].dropped.reason:"), "{e}");
        one_error(&check("on: b, reason: ip_rpfilter"), "upper case");
        one_error(&check("on: z"), "no node named `z`");
        one_error(&check("on: b, dev: eth9"), "eth9");
    }

    #[test]
    fn master_must_be_a_bridge() {
        let e = one_error("nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0@br0, b:eth0]\n", "has no bridge `br0`");
        assert!(e.starts_with("5:12 links[0].veth[0]:"), "{e}");
    }

    #[test]
    fn port_flags_need_a_bridge_port() {
        let port = "    interfaces: {eth0: {port: {learning: false}}}\n";
        let plain = "  b: {}\nlinks:\n  - veth: [a:eth0, b:eth0]\n";
        let e = one_error(&format!("nodes:\n  a:\n{port}{plain}"), "is no bridge port");
        assert!(e.starts_with("3:5 nodes.a.interfaces.eth0.port: `eth0` in node `a` has bridge-port flags"), "{e}");
        let enslaved = "nodes:\n  a:\n    bridges: {br0: {}}\n";
        let veth = "  b: {}\nlinks:\n  - veth: [a:eth0@br0, b:eth0]\n";
        assert_eq!(errors(&format!("{enslaved}{port}{veth}")), [""; 0]);
        let by_master = "    interfaces: {eth0: {master: br0, port: {isolated: true}}}\n";
        assert_eq!(errors(&format!("{enslaved}{by_master}{}", veth.replace("@br0", ""))), [""; 0]);
        let state = "    interfaces: {eth0: {port: {state: blocking}}}\n";
        let e = one_error(&format!("{enslaved}{state}{veth}"), "use `set_port` in a step");
        assert!(e.starts_with("3:5 nodes.a.interfaces.eth0.port.state:"), "{e}");
    }

    #[test]
    fn bridge_options_the_kernel_would_refuse_or_round() {
        let bridge = |options: &str| format!("nodes:\n  a:\n    bridges: {{br0: {{{options}}}}}\n");
        assert_eq!(errors(&bridge("ageing_time: 1500ms, group_fwd_mask: 0x4000")), [""; 0]);
        let e = one_error(&bridge("ageing_time: 1ms"), "not a whole number of centiseconds");
        assert!(e.starts_with("3:5 nodes.a.bridges.br0.ageing_time: ageing_time 1ms"), "{e}");
        one_error(&bridge("ageing_time: 500days"), "too long");
        let e = one_error(&bridge("group_fwd_mask: 1"), "bits 0-2 must be clear");
        assert!(e.starts_with("3:5 nodes.a.bridges.br0.group_fwd_mask:"), "{e}");
        assert_eq!(errors(&bridge("multicast: {igmp_version: 3, mld_version: 2, router: permanent}")), [""; 0]);
        let e = one_error(&bridge("multicast: {igmp_version: 4}"), "IGMP version 4: the kernel speaks 2 or 3");
        assert!(e.starts_with("3:5 nodes.a.bridges.br0.multicast:"), "{e}");
        one_error(&bridge("multicast: {mld_version: 3}"), "MLD version 3");
    }

    #[test]
    fn a_wait_has_a_reason_and_fits_the_deadline() {
        let wait = |w: &str| format!("{PAIR}steps:\n  - do: [wait: {{{w}}}]\n");
        assert_eq!(errors(&wait("for: 2s, why: ageing")), [""; 0]);
        let e = one_error(&wait("for: 2s, why: \" \""), "which kernel timer");
        assert!(e.starts_with("7:31 steps[0].do[0].wait.why:"), "{e}");
        let e = one_error(&wait("for: 2h, why: ageing"), "does not fit in the scenario's deadline");
        assert!(e.starts_with("7:22 steps[0].do[0].wait.for:"), "{e}");
        one_error(&wait("for: 0s, why: ageing"), "zero");
    }

    #[test]
    fn set_port_names_an_interface_and_a_flag() {
        let e =
            one_error(&format!("{PAIR}steps:\n  - do: [set_port: {{dev: \"a:eth0\", port: {{}}}}]\n"), "at least one");
        assert!(e.starts_with("7:26 steps[0].do[0].set_port.port:"), "{e}");
        one_error(
            &format!("{PAIR}steps:\n  - do: [set_port: {{dev: \"a:p9\", port: {{hairpin: true}}}}]\n"),
            "no interface `p9`",
        );
        one_error(&format!("{PAIR}steps:\n  - do: [set_port: {{dev: \"a:eth0\", port: {{priority: 64}}}}]\n"), "0-63");
    }

    #[test]
    fn interface_name_too_long() {
        let e = one_error("nodes:\n  a:\n    bridges: {averyveryverylongname: {}}\n", "at most 15");
        assert!(e.starts_with("3:5 nodes.a.bridges.averyveryverylongname:"), "{e}");
        // In a link end the YAML layer rejects it, at the value.
        let e = one_error("nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:averyveryverylongname, b:x]\n", "at most 15");
        assert!(e.starts_with("5:12 links[0].veth[0]:"), "{e}");
    }

    #[test]
    fn duplicate_interface_names() {
        let e = one_error(
            "nodes:\n  a: {bridges: {eth0: {}}}\n  b: {}\nlinks:\n  - veth: [a:eth0, b:eth0]\n",
            "interface `eth0` is defined twice in node `a`",
        );
        assert!(e.starts_with("5:12 links[0].veth[0]:"), "{e}");
    }

    #[test]
    fn same_address_twice_in_a_node() {
        let e = one_error(
            "nodes:\n  a: {bridges: {br0: {addresses: [10.0.0.1/24]}}}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]\n",
            "10.0.0.1 is assigned twice in node `a`",
        );
        assert!(e.starts_with("2:35 nodes.a.bridges.br0.addresses[0]:"), "{e}");
    }

    #[test]
    fn same_address_on_one_segment() {
        let e = one_error(
            "nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.1/24]\n",
            "same layer-2 segment",
        );
        assert!(e.starts_with("5:32 links[0].veth[1]:"), "{e}");
        // Different segments may reuse an address (two isolated labs in one scenario).
        assert!(errors("nodes:\n  a: {}\n  b: {}\n  c: {}\n  d: {}\nlinks:\n  - veth: [a:e 10.0.0.1/24, b:e 10.0.0.2/24]\n  - veth: [c:e 10.0.0.1/24, d:e 10.0.0.2/24]\n").is_empty());
    }

    #[test]
    fn sysctl_outside_net_is_refused() {
        let e = one_error("nodes:\n  a: {sysctl: {kernel.panic: 1}}\n", "only network sysctls");
        assert!(e.starts_with("2:6 nodes.a.sysctl.kernel.panic:"), "{e}");
    }

    #[test]
    fn an_ipv6_route_check_cannot_ask_whether_a_redirect_made_the_exception() {
        let e = one_error(
            &format!("{PAIR}expect:\n  - route: {{on: a, to: 'fd00::9', redirected: false}}\n"),
            "IPv6 does not mark an exception a redirect made",
        );
        assert!(e.starts_with("7:17 expect[0].route:"), "{e}");
        assert!(errors(&format!("{PAIR}expect:\n  - route: {{on: a, to: 10.0.0.9, redirected: false}}\n")).is_empty());
    }

    #[test]
    fn a_sysctl_the_address_family_lacks_is_refused_at_its_line() {
        let e =
            one_error("nodes:\n  a: {sysctl: {net.ipv6.conf.all.rp_filter: 1}}\n", "IPv6 has no reverse-path filter");
        assert!(e.starts_with("2:6 nodes.a.sysctl.net.ipv6.conf.all.rp_filter:"), "{e}");
        one_error(
            &format!("{PAIR}expect:\n  - sysctl: {{on: a, key: net.ipv4.conf.eth0.proxy_ndp, value: 1}}\n"),
            "IPv6 setting",
        );
    }

    #[test]
    fn invalid_address_is_located_by_the_yaml_layer() {
        let e = one_error("nodes:\n  a:\n    bridges: {br0: {addresses: [10.0.0.300/24]}}\n", "invalid");
        assert!(e.starts_with("3:33 nodes.a.bridges.br0.addresses[0]:"), "{e}");
    }

    #[test]
    fn a_bad_step_is_located() {
        // An action that does not exist ...
        let e = one_error(&format!("{PAIR}steps:\n  - do:\n      - flush: {{on: a}}\n"), "unknown variant `flush`");
        assert!(e.starts_with("8:9 steps[0].do[0]:"), "{e}");
        // ... and one that names an interface that does not.
        let e = one_error(
            &format!("{PAIR}steps:\n  - do:\n      - set_link: {{dev: a:eth7, state: down}}\n"),
            "node `a` has no interface `eth7`",
        );
        assert!(e.starts_with("8:25 steps[0].do[0]:"), "{e}");
    }

    #[test]
    fn packet_match_names_are_checked() {
        one_error(
            &format!("{PAIR}expect:\n  - packets: {{on: a:eth0, match: {{icmp: {{type: pong}}}}}}\n"),
            "is not an ICMP type",
        );
    }

    #[test]
    fn packet_check_on_unknown_interface() {
        one_error(
            &format!("{PAIR}expect:\n  - packets: {{on: a:eth1, seen: true}}\n"),
            "node `a` has no interface `eth1`",
        );
    }

    #[test]
    fn traffic_checks_name_their_node_and_sizes() {
        let e =
            one_error(&format!("{PAIR}expect:\n  - udp: {{from: c, to: \"10.0.0.2:5353\"}}\n"), "no node named `c`");
        assert!(e.starts_with("7:17 expect[0].udp.from:"), "{e}");
        let e = one_error(
            &format!("{PAIR}expect:\n  - tcp: {{from: a, to: \"10.0.0.2:80\", bytes: 0}}\n"),
            "at least one byte",
        );
        assert!(e.starts_with("7:46 expect[0].tcp.bytes:"), "{e}");
        // A malformed size is the YAML layer's error, at the value.
        let e = one_error(
            &format!("{PAIR}expect:\n  - tcp: {{from: a, to: \"10.0.0.2:80\", bytes: 1.5MiB}}\n"),
            "whole number",
        );
        assert!(e.starts_with("7:46 expect[0].tcp.bytes:"), "{e}");
        let e = one_error(
            &format!("{PAIR}expect:\n  - tcp: {{from: a, to: \"10.0.0.2:80\", bytes: 1MB/s}}\n"),
            "is not a size unit",
        );
        assert!(e.starts_with("7:46 expect[0].tcp.bytes:"), "{e}");
    }

    #[test]
    fn counts_sizes_and_timeouts_must_fit_in_the_deadline() {
        let check = |c: &str| format!("{PAIR}expect:\n  - {c}\n");
        let e = one_error(&check("ping: {from: a, to: 10.0.0.2, count: 4000000000}"), "does not fit");
        assert!(e.starts_with("7:42 expect[0].ping.count:"), "{e}");
        assert!(e.contains("count 4000000000 × timeout 2s = up to 253years"), "{e}");
        assert!(e.contains("the scenario's deadline of 5m (raise it with `deadline:`)"), "{e}");
        // 200 ms each when failure is expected: 1000 of them fit in 5 minutes.
        assert_eq!(errors(&check("ping: {from: a, to: 10.0.0.2, count: 1000, fails: true}")), Vec::<String>::new());
        let e = one_error(&check("tcp: {from: a, to: \"10.0.0.2:80\", bytes: 99999999GiB}"), "more than a transfer");
        assert!(e.starts_with("7:46 expect[0].tcp.bytes:") && e.contains("(1073741824, 1GiB)"), "{e}");
        let e = one_error(&check("udp: {from: a, to: \"10.0.0.2:53\", timeout: 6m}"), "does not fit");
        assert!(e.contains("a timeout of 6m does not fit in the scenario's deadline of 5m"), "{e}");
        // A longer deadline makes room, up to its own limit.
        let longer = format!("deadline: 10m\n{}", check("udp: {from: a, to: \"10.0.0.2:53\", timeout: 6m}"));
        assert_eq!(errors(&longer), Vec::<String>::new());
        let e = one_error(&format!("deadline: 2h\n{}", check("ping: {from: a, to: 10.0.0.2}")), "longer than");
        assert!(e.starts_with("1:11 deadline: a deadline of 2h is longer than netrig allows (1h)"), "{e}");
        one_error(&format!("deadline: 0s\n{}", check("ping: {from: a, to: 10.0.0.2}")), "a deadline of zero");
        // A defaulted count is located at its ping.
        let e = one_error(&format!("deadline: 1s\n{}", check("ping: {from: a, to: 10.0.0.2}")), "does not fit");
        assert!(e.starts_with("8:18 expect[0].ping.count: count 1 × timeout 2s"), "{e}");
    }

    #[test]
    fn zero_or_negative_counts_timeouts_and_mtus_are_refused() {
        let check = |c: &str| format!("{PAIR}expect:\n  - {c}\n");
        // A ping of zero requests "passed" both as answered and as failing.
        let e = one_error(&check("ping: {from: a, to: 10.0.0.2, count: 0, fails: true}"), "at least one request");
        assert!(e.starts_with("7:42 expect[0].ping.count:"), "{e}");
        let e = one_error(&check("ping: {from: a, to: 10.0.0.2, count: -1}"), "invalid u32");
        assert!(e.starts_with("7:42 expect[0].ping.count:"), "{e}");
        for (c, key) in [
            ("ping: {from: a, to: 10.0.0.2, timeout: 0s}", "7:44 expect[0].ping.timeout:"),
            ("connect: {from: a, to: \"10.0.0.2:80\", timeout: 0ms}", "7:52 expect[0].connect.timeout:"),
            ("udp: {from: a, to: \"10.0.0.2:53\", timeout: 0s}", "7:48 expect[0].udp.timeout:"),
            ("tcp: {from: a, to: \"10.0.0.2:80\", bytes: 1, timeout: 0s}", "7:58 expect[0].tcp.timeout:"),
            ("neighbour: {on: a, ip: 10.0.0.2, timeout: 0s}", "7:47 expect[0].neighbour.timeout:"),
        ] {
            let e = one_error(&check(c), "a timeout of zero");
            assert!(e.starts_with(key), "{c}: {e}");
        }
        let e = one_error(&format!("{PAIR}steps:\n  - do:\n      - set_link: {{dev: a:eth0, mtu: 0}}\n"), "MTU of 0");
        assert!(e.starts_with("8:25 steps[0].do[0].set_link.mtu:"), "{e}");
        let e = one_error("nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:e, b:e]\n    mtu: 0\n", "MTU of 0");
        assert!(e.starts_with("5:12 links[0].mtu:"), "{e}");
        let e = one_error("nodes:\n  a:\n    bridges: {br0: {mtu: 0}}\n", "MTU of 0");
        assert!(e.starts_with("3:5 nodes.a.bridges.br0.mtu:"), "{e}");
        one_error("nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:e, b:e]\n    queues: 0\n", "nonzero");
    }

    #[test]
    fn an_expected_failure_cause_is_one_known_cause() {
        let ping = |fails: &str| format!("{PAIR}expect:\n  - ping: {{from: a, to: 10.0.0.2, fails: {fails}}}\n");
        for good in
            ["true", "false", "{error: ENETUNREACH}", "{icmp: port-unreachable, from: 10.0.0.2}", "{timeout: true}"]
        {
            assert_eq!(errors(&ping(good)), Vec::<String>::new(), "{good}");
        }
        let e = one_error(&ping("{icmp: port-unreachabel}"), "`port-unreachabel` is not an ICMP error name");
        assert!(e.starts_with("7:42 expect[0].ping.fails:"), "{e}");
        one_error(&ping("{error: ENOSUCH}"), "`ENOSUCH` is not an errno name");
        one_error(&ping("{}"), "say how it must fail");
        one_error(&ping("{timeout: true, error: EACCES}"), "drop `error` and `icmp`");
        one_error(&ping("{from: 10.0.0.2, error: EACCES}"), "give `icmp` too");
        one_error(&ping("{icmpp: port-unreachable}"), "did not match any variant");
    }

    #[test]
    fn neighbour_checks_name_a_known_interface_and_do_not_contradict_themselves() {
        let e = one_error(
            &format!("{PAIR}expect:\n  - neighbour: {{on: b, ip: 10.0.0.9, dev: eth1}}\n"),
            "node `b` has no interface `eth1`",
        );
        assert!(e.starts_with("7:43 expect[0].neighbour.dev:"), "{e}");
        one_error(
            &format!("{PAIR}expect:\n  - neighbour: {{on: b, ip: 10.0.0.9, absent: true, state: stale}}\n"),
            "drop `lladdr` and `state`",
        );
        one_error(
            &format!("{PAIR}expect:\n  - neighbour: {{on: b, ip: 10.0.0.9, state: gone}}\n"),
            "unknown variant `gone`",
        );
        let flush = |args: &str| format!("{PAIR}steps:\n  - do:\n      - flush_neighbours: {args}\n");
        assert_eq!(errors(&flush("{on: a}")), Vec::<String>::new());
        let e = one_error(&flush("{on: a, dev: eth1}"), "node `a` has no interface `eth1`");
        assert!(e.starts_with("8:40 steps[0].do[0].flush_neighbours.dev:"), "{e}");
        one_error(&flush("{on: c}"), "`c`");
    }

    #[test]
    fn frames_go_out_of_existing_ethernet_interfaces() {
        let step = |action: &str| format!("{PAIR}steps:\n  - do:\n      - {action}\n");
        let e =
            one_error(&step("send: {dev: \"a:eth1\", arp: {sender_ip: 10.0.0.9}}"), "node `a` has no interface `eth1`");
        assert!(e.starts_with("8:21 steps[0].do[0].send.dev:"), "{e}");
        one_error(&step("send: {dev: \"a:lo\", arp: {sender_ip: 10.0.0.9}}"), "`a:lo` is the loopback interface");
        let tun = "nodes:\n  a: {taps: {tun0: {mode: tun}}}\nsteps:\n  - do:\n      - send: {dev: \"a:tun0\", arp: {sender_ip: 10.0.0.9}}\n";
        one_error(tun, "`a:tun0` is a tun device");
        one_error(&step("send: {dev: \"a:eth0\", arp: {sender_ip: fd00::9}}"), "invalid IPv4 address");
        one_error(&step("send: {dev: \"a:eth0\", arp: {sender_ip: 10.0.0.9, op: ask}}"), "unknown variant `ask`");
    }

    #[test]
    fn a_replayed_pcap_must_exist_under_fixtures() {
        let text = format!("{PAIR}steps:\n  - do:\n      - replay: {{into: \"a:eth0\", pcap: nope.pcap}}\n");
        let e = one_error(
            &text,
            "no pcap file `nope.pcap` (looked for nope.pcap, and for fixtures/nope.pcap next to and above t.yaml)",
        );
        assert!(e.starts_with("8:40 steps[0].do[0].replay.pcap:"), "{e}");
        one_error(
            &text.replace("nope.pcap", "../captures/nope.pcap"),
            "no pcap file `../captures/nope.pcap` (looked for ../captures/nope.pcap)",
        );
        one_error(&text.replace("nope.pcap", "/tmp/x.pcap"), "an absolute path ties the scenario to one machine");
    }

    #[test]
    fn a_file_that_checks_nothing_is_an_error_unless_it_says_why() {
        use crate::parse::validate::require_checks;
        let checked = |text: &str| {
            let source = Source { path: "t.yaml".into(), text: text.into() };
            let scenario = parse_and_validate(&source).unwrap();
            require_checks(&scenario, &source).map(|d| format!("{}:{} {}: {}", d.line, d.column, d.key, d.message))
        };
        for nothing in ["", "# only a comment\n", "nodes: {}\n", PAIR] {
            let e = checked(nothing).unwrap_or_else(|| panic!("{nothing:?} passed with no checks"));
            assert!(e.starts_with("1:1 expect: the scenario checks nothing"), "{e}");
        }
        let e = checked(&format!("{PAIR}expect: []\n")).unwrap();
        assert!(e.starts_with("6:9 expect: `expect: []` checks nothing: say in `about:`"), "{e}");
        assert_eq!(checked(&format!("about: the snapshot of the build is the test\n{PAIR}expect: []\n")), None);
        assert_eq!(checked(&format!("{PAIR}steps:\n  - expect: [{{ping: {{from: a, to: 10.0.0.2}}}}]\n")), None);
    }

    #[test]
    fn what_the_kernel_would_refuse_is_refused_by_check() {
        // Interface names the kernel keeps for itself or refuses, named for what is wrong.
        let e = one_error("nodes:\n  a:\n    bridges: {all: {}}\n", "the kernel keeps it for net.ipv4.conf.all");
        assert!(e.starts_with("3:5 nodes.a.bridges.all:"), "{e}");
        one_error("nodes:\n  a:\n    bridges: {default: {}}\n", "`default` cannot name an interface");
        one_error("nodes:\n  a:\n    bridges: {\"br 0\": {}}\n", "interface name `br 0` contains a space");
        one_error("nodes:\n  a:\n    interfaces: {\"my eth\": {}}\n", "interface name `my eth` contains a space");
        let e = one_error(
            "nodes: {a: {}, b: {}}\nlinks:\n  - veth: [\"a:my eth0\", b:e]\n",
            "interface name `my eth0` contains a space",
        );
        assert!(e.starts_with("3:12 links[0].veth[0]:"), "{e}");
        // A forgotten prefix length is still said as such.
        one_error("nodes: {a: {}, b: {}}\nlinks:\n  - veth: [\"a:e 10.0.0.1\", b:e]\n", "needs a prefix length");
        one_error("nodes:\n  a:\n    bridges: {\"br\\0\": {}}\n", "interface name `br\\0` contains a NUL byte");
        // MTUs and queues outside what the kernel builds.
        let e = one_error(
            "nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:e, b:e]\n    mtu: 70000\n",
            "MTU 70000 is outside",
        );
        assert!(e.starts_with("5:12 links[0].mtu:"), "{e}");
        one_error("nodes:\n  a:\n    bridges: {br0: {mtu: 67}}\n", "(68..=65535)");
        let e =
            one_error("nodes:\n  a: {}\n  b: {}\nlinks:\n  - veth: [a:e, b:e]\n    queues: 100000\n", "at most 4096");
        assert!(e.starts_with("5:12 links[0].queues:"), "{e}");
        // MACs a link cannot take.
        let e = one_error("nodes:\n  a:\n    bridges: {br0: {mac: \"01:00:5e:00:00:01\"}}\n", "is a multicast MAC");
        assert!(e.starts_with("3:5 nodes.a.bridges.br0.mac:"), "{e}");
        one_error("nodes:\n  a:\n    bridges: {br0: {mac: \"00:00:00:00:00:00\"}}\n", "no address");
        // Node names a `--keep` pin cannot carry.
        let long = "n".repeat(241);
        one_error(&format!("nodes:\n  {long}: {{}}\n"), "at most 240 fit");
        // Sysctls: about interfaces the node lacks, or machine-wide.
        let e = one_error(
            "nodes:\n  a: {sysctl: {net.ipv4.conf.eth9.rp_filter: 1}}\n",
            "about interface `eth9`, which node `a` does not have",
        );
        assert!(e.starts_with("2:6 nodes.a.sysctl.net.ipv4.conf.eth9.rp_filter:"), "{e}");
        for global in [
            "net.ipv4.tcp_mem",
            "net.core.rmem_default",
            "net.ipv4.neigh.default.gc_thresh3",
            "net.netfilter.nf_conntrack_max",
        ] {
            one_error(&format!("nodes:\n  a: {{sysctl: {{{global}: 1}}}}\n"), "is global (machine-wide)");
            one_error(
                &format!("{PAIR}steps:\n  - do:\n      - sysctl: {{on: a, set: {{{global}: 1}}}}\n"),
                "is global (machine-wide)",
            );
        }
        one_error("nodes:\n  a: {sysctl: {\"net.ipv4.conf.e\\0.rp_filter\": 1}}\n", "is not a sysctl name");
        let fine = "nodes:\n  a: {sysctl: {net.ipv4.conf.all.rp_filter: 1, net.ipv4.conf.lo.rp_filter: 1, net.ipv6.neigh.lo.retrans_time_ms: 100, net.core.somaxconn: 64}}\n";
        assert_eq!(errors(fine), Vec::<String>::new());
    }

    #[test]
    fn a_replayed_pcap_that_cannot_be_replayed_is_refused_by_check() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("fixtures")).unwrap();
        // Link type 101 (raw IP): not Ethernet; and a file that is no pcap at all.
        let raw: Vec<u8> =
            [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101].iter().flat_map(|w| w.to_le_bytes()).collect();
        std::fs::write(dir.path().join("fixtures/raw.pcap"), raw).unwrap();
        std::fs::write(dir.path().join("fixtures/junk.pcap"), b"not a capture at all").unwrap();
        for (file, needle) in [("raw.pcap", "only Ethernet captures can be replayed"), ("junk.pcap", "junk.pcap")] {
            let text = format!("{PAIR}steps:\n  - do:\n      - replay: {{into: \"a:eth0\", pcap: {file}}}\n");
            let source = Source { path: dir.path().join("t.yaml"), text };
            let d = parse_and_validate(&source).unwrap_err();
            assert_eq!(d.0.len(), 1, "{d}");
            assert_eq!((d.0[0].line, d.0[0].key.as_str()), (8, "steps[0].do[0].replay.pcap"), "{d}");
            assert!(d.0[0].message.contains(needle), "{d}");
        }
    }

    #[test]
    fn qdiscs_and_streams_that_cannot_work_are_named_at_their_place() {
        let tbf = "nodes:\n  a:\n    interfaces:\n      eth0: {qdisc: {tbf: {rate: 1mbit, burst: 8KiB}}}\n  b: {}\n\
                   links:\n  - veth: [a:eth0, b:eth0]\nexpect: []\n";
        let e = one_error(tbf, "needs `latency` or `limit`");
        assert!(e.starts_with("3:5 nodes.a.interfaces.eth0.qdisc:"), "{e}");
        let htb = format!(
            "{PAIR}steps:\n  - do:\n      - set_qdisc: {{dev: \"a:eth0\", qdisc: {{htb: {{default: \"1:20\", \
             classes: [{{id: \"1:10\", rate: 1mbit}}]}}}}}}\n"
        );
        let e = one_error(&htb, "the default class 1:20 is not one of the `classes`");
        assert!(e.starts_with("8:") && e.contains("steps[0].do[0].set_qdisc.qdisc"), "{e}");
        one_error(&format!("{PAIR}steps:\n  - do: [del_qdisc: {{dev: \"a:eth9\"}}]\n"), "eth9");
        let stream = |fields: &str| {
            format!("{PAIR}expect:\n  - stream: {{from: a, to: \"10.0.0.2:5001\", rate: 1mbit, for: 1s, {fields}}}\n")
        };
        let e = one_error(&stream("expect: {rate: 1mbit}"), "a measured rate is never exact");
        assert!(e.starts_with("7:") && e.contains("expect[0].stream.expect.rate"), "{e}");
        one_error(&stream("expect: {}"), "say what must hold");
        one_error(&stream("size: 8, expect: {loss: \"< 5%\"}"), "a datagram carries 24 to 65000 bytes");
        one_error(&stream("expect: {loss: \"about 5%\"}"), "loss");
        assert_eq!(errors(&stream("expect: {rate: \"1mbit ± 10%\", loss: \"< 5%\", jitter: \"< 2ms\"}")), [""; 0]);
        // A TCP stream measures its rate only, and sizes nothing itself.
        assert_eq!(errors(&stream("proto: tcp, expect: {rate: \"1mbit ± 10%\"}")), [""; 0]);
        one_error(&stream("proto: tcp, expect: {loss: \"< 5%\"}"), "a TCP stream repairs its losses");
        one_error(&stream("proto: tcp, size: 1000, expect: {rate: \"> 1mbit\"}"), "the kernel cuts them into segments");
        one_error(&stream("proto: sctp, expect: {rate: \"> 1mbit\"}"), "unknown variant `sctp`");
    }

    /// The machine-wide list is what this kernel says: in a fresh namespace each listed
    /// key is absent or refuses a write, and a per-namespace key is writable.
    #[test]
    fn machine_wide_sysctls_are_not_writable_in_a_namespace() {
        needs_root!();
        let ns = crate::build::netns::Netns::new().unwrap();
        let writable = |key: &str| {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            ns.run(|| {
                let value = match std::fs::read(&path) {
                    Ok(value) => value,
                    Err(_) => return Ok(false),
                };
                Ok(std::fs::write(&path, value).is_ok())
            })
            .unwrap()
        };
        for key in super::MACHINE_WIDE.iter().copied().chain(["net.ipv4.neigh.default.gc_thresh3"]) {
            assert!(super::is_machine_wide(key));
            assert!(!writable(key), "{key} is writable in a namespace: not machine-wide");
        }
        for key in ["net.core.somaxconn", "net.ipv4.ip_forward", "net.ipv4.conf.all.rp_filter"] {
            assert!(!super::is_machine_wide(key));
            assert!(writable(key), "{key} should be per namespace");
        }
    }

    #[test]
    fn send_and_ping_options_are_checked_at_their_line() {
        let step = |action: &str| format!("{PAIR}steps:\n  - do:\n      - {action}\n");
        let e = one_error(
            &step("send: {dev: \"a:eth0\", ipv4: {dst: 10.0.0.2}, icmp: {type: echo-bogus}}"),
            "not an ICMP type",
        );
        assert!(e.starts_with("8:67 steps[0].do[0].send.icmp.type:"), "{e}");
        let e = one_error(
            &step("send: {on: a, eth: {dst: 02:00:00:00:00:01}, ipv4: {dst: 10.0.0.2}}"),
            "no Ethernet layer",
        );
        assert!(e.starts_with("8:20 steps[0].do[0].send.on:"), "{e}");
        let e = one_error(&step("send: {on: c, ipv4: {dst: 10.0.0.2}}"), "c");
        assert!(e.starts_with("8:20 steps[0].do[0].send.on:"), "{e}");
        let check = |c: &str| format!("{PAIR}expect:\n  - {c}\n");
        let e = one_error(&check("ping: {from: a, to: 10.0.0.2, count: 2, answered: {at_least: 3}}"), "give 1 to 2");
        assert!(e.starts_with("7:55 expect[0].ping.answered:"), "{e}");
        one_error(&check("ping: {from: a, to: 10.0.0.2, answered: {at_least: 1}, fails: true}"), "no reply may come");
        one_error(&check("ping: {from: a, to: 10.0.0.2, size: 65508}"), "at most 65507");
        // The gaps between requests count toward the deadline.
        let e = one_error(&check("ping: {from: a, to: 10.0.0.2, count: 3, interval: 3m}"), "does not fit");
        assert!(e.contains("count 3"), "{e}");
        let e = one_error(&check("udp: {from: a, to: \"10.0.0.2:53\", source: \"fd00::1\"}"), "different families");
        assert!(e.starts_with("7:47 expect[0].udp.source:"), "{e}");
    }
}
