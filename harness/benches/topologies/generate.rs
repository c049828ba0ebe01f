//! The benchmark topologies as scenario YAML, one ping check per node.
//!
//! Addresses and names match `benches/classic.sh` exactly, so both sides build the
//! same thing. Every address is private (10/8, 172.16/12) and lives only inside the
//! run's namespaces.

use std::fmt::Write as _;

/// The shape of a generated topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A "host" node with bridge br0 and N nodes attached to it by veth.
    Bridge,
    /// N routers in a row, static routes end to end, forwarding in the middle ones.
    Chain,
    /// N pairs of hosts, each pair joined by an underlay veth and a VXLAN overlay.
    Vxlan,
}

impl Shape {
    pub const ALL: [Shape; 3] = [Shape::Bridge, Shape::Chain, Shape::Vxlan];

    /// The name `classic.sh` and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Bridge => "bridge",
            Shape::Chain => "chain",
            Shape::Vxlan => "vxlan",
        }
    }

    /// How many namespaces a topology of size `n` has.
    pub fn namespaces(self, n: usize) -> usize {
        match self {
            Shape::Bridge => n + 1,
            Shape::Chain => n,
            Shape::Vxlan => 2 * n,
        }
    }

    /// The smallest size that makes sense (a chain needs a middle router).
    pub fn min_size(self) -> usize {
        match self {
            Shape::Chain => 3,
            Shape::Bridge | Shape::Vxlan => 1,
        }
    }

    /// The scenario text of size `n`.
    pub fn yaml(self, n: usize) -> String {
        assert!(n >= self.min_size(), "{} needs n >= {}", self.name(), self.min_size());
        let mut text = Yaml::new(&format!("bench-{}-{n}", self.name()));
        match self {
            Shape::Bridge => bridge(&mut text, n),
            Shape::Chain => chain(&mut text, n),
            Shape::Vxlan => vxlan(&mut text, n),
        }
        text.finish()
    }
}

/// Node i's address on the bridge's 10.0.0.0/16 (the host has 10.0.0.1).
fn bridge_addr(i: usize) -> String {
    format!("10.0.{}.{}", 1 + i / 250, 1 + i % 250)
}

/// The first three octets of chain link i's /24: r_i has .1, r_{i+1} has .2.
fn link_net(i: usize) -> String {
    format!("10.{}.{}", 1 + i / 250, i % 250)
}

/// The first three octets of VXLAN pair i's underlay and overlay /24s.
fn underlay(i: usize) -> String {
    format!("172.{}.{}", 16 + i / 250, i % 250)
}
fn overlay(i: usize) -> String {
    format!("10.{}.{}", 100 + i / 250, i % 250)
}

fn bridge(text: &mut Yaml, n: usize) {
    text.node("host", &["bridges: {br0: {addresses: [10.0.0.1/16]}}"]);
    for i in 0..n {
        text.node(&format!("n{i}"), &[]);
        text.link(&format!("n{i}:eth0 {}/16", bridge_addr(i)), &format!("host:v{i}@br0"));
        text.ping(&format!("n{i}"), "10.0.0.1");
    }
}

fn chain(text: &mut Yaml, n: usize) {
    let (first, last) = (link_net(0), link_net(n - 2));
    // The ends send with TTL 255, so end-to-end pings survive up to 254 routers.
    text.node("r0", &["sysctl: {net.ipv4.ip_default_ttl: 255}", &format!("routes: [default via {first}.2]")]);
    for i in 1..n - 1 {
        let mut routes = format!("routes: [default via {}.2", link_net(i));
        // Back to the first link's subnet, which r1 is on already.
        if i >= 2 {
            write!(routes, ", {first}.0/24 via {}.1", link_net(i - 1)).unwrap();
        }
        routes.push(']');
        text.node(&format!("r{i}"), &["sysctl: {net.ipv4.ip_forward: 1}", &routes]);
    }
    let end = format!("r{}", n - 1);
    text.node(&end, &["sysctl: {net.ipv4.ip_default_ttl: 255}", &format!("routes: [default via {last}.1]")]);
    for i in 0..n - 1 {
        let net = link_net(i);
        text.link(&format!("r{i}:e1 {net}.1/24"), &format!("r{}:e0 {net}.2/24", i + 1));
        text.ping(&format!("r{i}"), &format!("{net}.2"));
    }
    text.ping(&end, &format!("{last}.1"));
    text.ping("r0", &format!("{last}.2")); // end to end
}

fn vxlan(text: &mut Yaml, n: usize) {
    for i in 0..n {
        let (under, over) = (underlay(i), overlay(i));
        // (node suffix, its host part, the peer's host part)
        for (me, mine, theirs) in [("a", 1, 2), ("b", 2, 1)] {
            let device = format!(
                "vxlans: {{vxlan100: {{id: 100, remote: {under}.{theirs}, dstport: 4789, dev: eth0, \
                 addresses: [{over}.{mine}/24]}}}}"
            );
            text.node(&format!("h{i}{me}"), &[&device]);
            text.ping(&format!("h{i}{me}"), &format!("{over}.{theirs}"));
        }
        text.link(&format!("h{i}a:eth0 {under}.1/24"), &format!("h{i}b:eth0 {under}.2/24"));
    }
}

/// A scenario file written section by section.
struct Yaml {
    nodes: String,
    links: String,
    expect: String,
}

impl Yaml {
    fn new(name: &str) -> Yaml {
        Yaml { nodes: format!("name: {name}\nnodes:\n"), links: "links:\n".into(), expect: "expect:\n".into() }
    }

    /// A node with one line per setting (`key: value` in flow style).
    fn node(&mut self, name: &str, settings: &[&str]) {
        if settings.is_empty() {
            writeln!(self.nodes, "  {name}: {{}}").unwrap();
            return;
        }
        writeln!(self.nodes, "  {name}:").unwrap();
        for setting in settings {
            writeln!(self.nodes, "    {setting}").unwrap();
        }
    }

    fn link(&mut self, a: &str, b: &str) {
        writeln!(self.links, "  - veth: [{a}, {b}]").unwrap();
    }

    fn ping(&mut self, from: &str, to: &str) {
        writeln!(self.expect, "  - ping: {{from: {from}, to: {to}}}").unwrap();
    }

    fn finish(self) -> String {
        [self.nodes, self.links, self.expect].concat()
    }
}
