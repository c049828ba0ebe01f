//! Build a scenario's topology in fresh namespaces, over netlink.
//!
//! Order (each phase batched across nodes: nodes are independent, so their requests
//! overlap; inside one node a phase runs in the scenario's order):
//! namespaces (created on as many threads as CPUs), each then set up (baseline →
//! namespace-wide sysctls → netlink connection) → bridges → VRFs and dummies → veth pairs (each end
//! born in its namespace; a bridge port born enslaved, and up when nothing has to
//! come first) → taps → vxlans → macvlans (MAC and MTU given at birth; one over
//! another node's device created there and born in its own node) → VLAN
//! sub-interfaces (parents first) → other masters, and MAC/MTU of interfaces that
//! existed already (`lo`) → bridge-port flags → VLANs of VLAN-aware bridges and ports →
//! qdiscs → interface sysctls → addresses → `lo` up → rules → neighbours → fdb → listeners →
//! `run` commands → links up → links operational (see `settle_links`, then
//! `settle_crossing`) → routes.
//! Teardown is dropping the [`Topology`].
//!
//! No frame crosses a link before every node's setup is in place: a veth pair carries
//! frames once both its ends are up, and at most the end born up is before the `run`
//! commands, whose settings (bridge port flags, iptables, tc) must hold for the first
//! frame as much as sysctls do. Only routes come after the links are up, because the
//! kernel refuses a route through a device that is down; the frames that can cross
//! before them are the kernel's own announcements of an interface coming up
//! (membership reports, `arp_notify`), which are not routed.
//!
//! Interface sysctls (`net.ipv4.conf.veth0.rp_filter`) are written as soon as every
//! interface exists and before any comes up: settings such as `disable_ipv6`,
//! `accept_ra` or `arp_ignore` then hold from the first packet on.
//!
//! Every created interface gets a MAC derived from its node and name ([`stable_mac`])
//! unless the scenario gives one, so addresses in captures, neighbour tables and IPv6
//! link-local addresses are the same on every run and every machine.

pub mod baseline;
pub mod ipv6_groups;
pub mod limits;
pub mod link_local;
pub mod netlink;
pub mod netns;
pub mod pin;
pub mod private_dirs;
pub mod qdisc;

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use std::time::Duration;

use futures::future::try_join_all;
use ipnet::IpNet;

use self::netlink::{LinkBasics, LinkChange, LinkRef, Master};
use self::netns::Netns;
use crate::model::{
    Bridge, BridgeVlan, LinkState, ListenSpec, Loc, Macvlan, MacvlanKind, Node, Proto, Scenario, TapMode, Vlan, Vrf,
    Vxlan,
};
use crate::observe::probe;
use crate::parse::syntax::MacAddr;

// Unit tests reach `baseline` and `exec` through thin wrappers (end of this file) that
// also record each namespace built, for the leak checks, and what each command saw.
#[cfg(not(test))]
use self::baseline as defaults;
#[cfg(test)]
use self::stand_ins::{baseline as defaults, exec};
#[cfg(not(test))]
use crate::observe::exec;

/// How long one `run:` command may take before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// A node of a running topology: its namespace and a netlink handle bound to it.
pub struct NodeHandle {
    pub ns: Netns,
    pub netlink: rtnetlink::Handle,
    /// Owns the netlink socket (which keeps `ns` alive): aborted on drop.
    connection: netlink::ConnectionTask,
    /// tun/tap devices live exactly as long as these fds (a step's `add_link` adds
    /// some while the topology is shared: hence the lock).
    taps: std::sync::Mutex<BTreeMap<String, OwnedFd>>,
    listeners: Vec<probe::Listener>,
    /// The interfaces the build created here, for [`baseline::finish`].
    created: Vec<String>,
    /// Set once [`NodeHandle::finish_baseline`] has run.
    baseline_finished: OnceLock<()>,
}

impl NodeHandle {
    /// A descriptor of tap/tun device `name` (frames written to it arrive on the
    /// device), duplicated.
    pub fn tap(&self, name: &str) -> Option<io::Result<OwnedFd>> {
        let taps = self.taps.lock().unwrap_or_else(|e| e.into_inner());
        taps.get(name).map(|fd| fd.try_clone())
    }

    /// Finish the node's baseline ([`baseline::finish`]), once. Call it before the
    /// first thing other than netrig's own netlink work acts in the node: a command,
    /// a sysctl write of a step, a shell.
    pub fn finish_baseline(&self) -> io::Result<()> {
        if self.baseline_finished.get().is_none() {
            let created: Vec<&str> = self.created.iter().map(String::as_str).collect();
            defaults::finish(&self.ns, &created)?;
            let _ = self.baseline_finished.set(());
        }
        Ok(())
    }
}

/// Everything a run created. Dropping it tears the topology down: namespaces are
/// held only by fds, so they vanish with every interface in them.
pub struct Topology {
    pub nodes: BTreeMap<String, NodeHandle>,
    /// The nodes' daemons, started after the build ([`crate::observe::service`]).
    pub services: crate::observe::service::Services,
    /// The drops in the nodes, traced from the end of the build ([`crate::observe::drops`]).
    pub drops: crate::observe::drops::Watch,
}

impl Topology {
    pub fn node(&self, name: &str) -> Option<&NodeHandle> {
        self.nodes.get(name)
    }

    /// The kernel's index of `iface` in `node`.
    pub async fn ifindex(&self, node: &str, iface: &str) -> Result<u32, netlink::Error> {
        let handle = self.node(node).ok_or_else(|| netlink::Error::Failed {
            what: format!("find interface {iface} in node {node}"),
            message: "no such node".into(),
            errno: None,
        })?;
        netlink::link_index(&handle.netlink, iface).await.map_err(|e| e.context(format_args!("in node {node}")))
    }

    /// Tear down and wait until every namespace is released. Dropping does the same,
    /// except that the netlink sockets (which keep their namespaces alive) close only
    /// when the runtime next runs, or shuts down.
    pub async fn teardown(self) {
        // All connections are stopped at once and then awaited together, rather than
        // one stop-and-wait (a scheduler round trip) per node.
        // Services first: their processes hold the namespaces too.
        drop(self.services);
        let closing = self.nodes.into_values().map(|node| node.connection.close());
        futures::future::join_all(closing).await;
    }
}

/// Why a topology could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The kernel lacks a feature the scenario needs: the scenario is skipped.
    #[error("kernel does not support {what}: {reason}")]
    Unsupported { what: String, reason: String },
    /// A kernel operation failed.
    #[error("{what}: {error}")]
    Kernel { what: String, error: String },
    /// A `run` command failed.
    #[error("command `{command}` in node {node} exited with {status}\n{output}")]
    Command { node: String, command: String, status: String, output: String },
    /// The scenario contradicts itself in a way `validate` should have caught.
    #[error("invalid scenario: {what}")]
    Invalid { what: String },
}

impl From<netlink::Error> for BuildError {
    fn from(error: netlink::Error) -> Self {
        match error {
            netlink::Error::Unsupported { feature, what, message } => {
                BuildError::Unsupported { what: feature, reason: format!("{what}: {message}") }
            }
            netlink::Error::Failed { what, message, .. } => BuildError::Kernel { what, error: message },
        }
    }
}

/// Blame a netlink error on `node`.
fn in_node(node: &str) -> impl Fn(netlink::Error) -> BuildError + '_ {
    move |error| error.context(format_args!("in node {node}")).into()
}

/// A failed non-netlink step (namespace, sysctl, listener) in `node`.
fn io_failure(what: impl std::fmt::Display, node: &str) -> impl FnOnce(io::Error) -> BuildError {
    let what = format!("{what} in node {node}");
    move |error| BuildError::Kernel { what, error: error.to_string() }
}

/// A locally administered unicast MAC that depends only on `node` and `iface`:
/// `02` followed by the first five bytes of the 64-bit FNV-1a hash of `node:iface`.
/// FNV-1a is written out here because std's hashers may change between Rust releases.
pub fn stable_mac(node: &str, iface: &str) -> MacAddr {
    let bytes = node.bytes().chain(*b":").chain(iface.bytes());
    let hash = fnv1a64(bytes).to_be_bytes();
    MacAddr([0x02, hash[0], hash[1], hash[2], hash[3], hash[4]])
}

fn fnv1a64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.into_iter().fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

// ---------------------------------------------------------------------------------------
// Plan: what the scenario asks for, per node, before touching the kernel.

/// How an interface comes into being.
#[derive(Debug, Clone, Copy)]
enum Origin<'s> {
    Bridge(&'s Bridge),
    /// One end of a `links:` veth pair (created with its pair).
    Veth,
    Tap(TapMode),
    Vxlan(&'s Vxlan),
    Macvlan(&'s Macvlan),
    Dummy,
    Vlan(&'s Vlan),
    Vrf(&'s Vrf),
    /// Exists without us (`lo`), or is only named in `interfaces:`.
    Existing,
}

impl Origin<'_> {
    /// Whether MAC and MTU must be set after the device exists: taps are created by
    /// an ioctl that cannot carry them, and pre-existing devices are not created.
    fn needs_late_basics(&self) -> bool {
        matches!(self, Origin::Tap(_) | Origin::Existing)
    }

    /// Whether we choose its MAC: every device we create that has one (a tun is
    /// layer 3, and pre-existing devices keep theirs unless told otherwise), but a
    /// VLAN sub-interface, which takes its parent's as `ip link` gives it (a MAC of
    /// its own would put the parent in promiscuous mode).
    /// An ipvlan shares its parent's MAC by design.
    fn gets_stable_mac(&self) -> bool {
        !matches!(self, Origin::Existing | Origin::Tap(TapMode::Tun) | Origin::Vlan(_))
            && !matches!(self, Origin::Macvlan(m) if m.kind == MacvlanKind::Ipvlan)
    }
}

/// One interface of a node with the settings every kind shares, after merging the
/// kind's own fields with the node's `interfaces:` entry of the same name.
#[derive(Debug, Clone)]
struct Device<'s> {
    name: &'s str,
    origin: Origin<'s>,
    mac: Option<MacAddr>,
    mtu: Option<u32>,
    master: Option<&'s str>,
    up: bool,
    addresses: Vec<IpNet>,
    /// Created up rather than brought up later (see [`Plan::choose_births`]).
    born_up: bool,
    /// Created enslaved to `master` rather than attached later.
    born_attached: bool,
    /// Bridge-port flags to set once it is a port (from `interfaces:`).
    port: Option<&'s crate::model::BridgePortFlags>,
    /// Its qdisc (from `interfaces:`).
    qdisc: Option<&'s crate::model::Qdisc>,
    /// VLANs to set once it is a port of a VLAN-aware bridge (from `interfaces:`).
    vlans: Option<&'s [BridgeVlan]>,
}

impl<'s> Device<'s> {
    fn new(
        name: &'s str,
        origin: Origin<'s>,
        addresses: &[Loc<IpNet>],
        mtu: Option<u32>,
        mac: Option<MacAddr>,
        state: LinkState,
        master: Option<&'s Loc<String>>,
    ) -> Self {
        Device {
            name,
            origin,
            mac,
            mtu,
            master: master.map(|m| m.as_str()),
            up: state == LinkState::Up,
            addresses: addresses.iter().map(|a| **a).collect(),
            born_up: false,
            born_attached: false,
            port: None,
            qdisc: None,
            vlans: None,
        }
    }

    /// Fold in an `interfaces:` entry: its addresses come after the device's own, its
    /// MTU/MAC/master win, and the interface is down if either says so (`up` is the
    /// default and cannot be told apart from an explicit `up`).
    fn merge(&mut self, iface: &'s crate::model::Iface) {
        self.addresses.extend(iface.addresses.iter().map(|a| **a));
        self.mtu = iface.mtu.or(self.mtu);
        self.mac = iface.mac.or(self.mac);
        self.master = iface.master.as_ref().map(|m| m.as_str()).or(self.master);
        self.up &= iface.state == LinkState::Up;
        self.port = iface.port.as_ref().or(self.port);
        self.qdisc = iface.qdisc.as_ref().or(self.qdisc);
        self.vlans = iface.vlans.as_deref().or(self.vlans);
    }

    /// What it is created with, but for a bridge to be born enslaved to
    /// ([`Device::born_master`]).
    fn basics(&self) -> LinkBasics<'s> {
        LinkBasics { name: self.name, mac: self.mac, mtu: self.mtu, up: self.born_up, master: None }
    }

    /// The index of the bridge it is created enslaved to, if it is.
    fn born_master(&self, bridges: &BridgeIndexes) -> Option<u32> {
        self.master.filter(|_| self.born_attached).map(|bridge| bridges[bridge])
    }

    /// What is left to set once the device exists (see [`Origin::needs_late_basics`]),
    /// given the node's bridges.
    fn attach_change(&self, bridges: &BridgeIndexes) -> LinkChange<'s> {
        let late = self.origin.needs_late_basics();
        let master = self.master.filter(|_| !self.born_attached);
        LinkChange {
            mac: self.mac.filter(|_| late),
            mtu: self.mtu.filter(|_| late),
            master: master.map(|bridge| Master::Set(bridges[bridge].into())),
            ..LinkChange::default()
        }
    }
}

/// The indexes of a node's bridges that something is enslaved to, by name.
type BridgeIndexes<'s> = BTreeMap<&'s str, u32>;

/// Everything one node needs, in the order it is applied.
struct NodePlan<'s> {
    name: &'s str,
    spec: &'s Node,
    devices: Vec<Device<'s>>,
    /// Namespace-wide sysctls, written before any interface exists (so that
    /// `conf.default.*` reaches them).
    early_sysctls: Vec<(&'s str, String)>,
    /// Sysctls of one interface, written once it exists.
    interface_sysctls: Vec<(&'s str, String)>,
}

impl<'s> NodePlan<'s> {
    fn new(name: &'s str, spec: &'s Node) -> Self {
        let mut devices = Vec::new();
        for (name, b) in &spec.bridges {
            devices.push(Device::new(name, Origin::Bridge(b), &b.addresses, b.mtu, b.mac, b.state, None));
        }
        for (name, t) in &spec.taps {
            devices.push(Device::new(
                name,
                Origin::Tap(t.mode),
                &t.addresses,
                t.mtu,
                t.mac,
                t.state,
                t.master.as_ref(),
            ));
        }
        for (name, v) in &spec.vxlans {
            devices.push(Device::new(name, Origin::Vxlan(v), &v.addresses, v.mtu, v.mac, v.state, v.master.as_ref()));
        }
        for (name, m) in &spec.macvlans {
            devices.push(Device::new(name, Origin::Macvlan(m), &m.addresses, m.mtu, m.mac, m.state, m.master.as_ref()));
        }
        for (name, d) in &spec.dummies {
            devices.push(Device::new(name, Origin::Dummy, &d.addresses, d.mtu, d.mac, d.state, d.master.as_ref()));
        }
        for (name, v) in &spec.vlans {
            devices.push(Device::new(name, Origin::Vlan(v), &v.addresses, v.mtu, v.mac, v.state, v.master.as_ref()));
        }
        for (name, v) in &spec.vrfs {
            devices.push(Device::new(name, Origin::Vrf(v), &[], None, v.mac, v.state, None));
        }
        let (mut early_sysctls, mut interface_sysctls) = (Vec::new(), Vec::new());
        for (key, value) in &spec.sysctl {
            let target = if sysctl_interface(key).is_some() { &mut interface_sysctls } else { &mut early_sysctls };
            target.push((key.as_str(), value.to_string()));
        }
        NodePlan { name, spec, devices, early_sysctls, interface_sysctls }
    }

    /// After the veth ends are in: merge `interfaces:`, add `lo`, choose MACs.
    fn finish(&mut self) {
        for (name, iface) in &self.spec.interfaces {
            match self.devices.iter_mut().find(|d| d.name == name.as_str()) {
                Some(device) => device.merge(iface),
                None => {
                    let mut device = Device::new(name, Origin::Existing, &[], None, None, LinkState::Up, None);
                    device.merge(iface);
                    self.devices.push(device);
                }
            }
        }
        let lo_up = self.spec.lo == LinkState::Up;
        match self.devices.iter_mut().find(|d| d.name == "lo") {
            Some(lo) => lo.up &= lo_up,
            None => self.devices.push(Device::new("lo", Origin::Existing, &[], None, None, self.spec.lo, None)),
        }
        for device in &mut self.devices {
            if device.mac.is_none() && device.origin.gets_stable_mac() {
                device.mac = Some(stable_mac(self.name, device.name));
            }
        }
    }

    /// The interfaces the build creates (all but those that exist already).
    fn created(&self) -> impl Iterator<Item = &'s str> + '_ {
        self.devices.iter().filter(|d| !matches!(d.origin, Origin::Existing)).map(|d| d.name)
    }

    fn device(&self, name: &str) -> Option<&Device<'s>> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// The VLAN sub-interfaces, each after its parent if that is one too (Q-in-Q): the
    /// kernel creates a VLAN only over an existing parent, and opens it only over an
    /// open one (ENETDOWN).
    fn vlans_parents_first(&self) -> Vec<(&Device<'s>, &'s Vlan)> {
        let vlans: Vec<(&Device<'s>, &'s Vlan)> = self
            .devices
            .iter()
            .filter_map(|d| match d.origin {
                Origin::Vlan(v) => Some((d, v)),
                _ => None,
            })
            .collect();
        let depth = |mut vlan: &'s Vlan| {
            let mut depth = 0;
            while let Some((_, parent)) = vlans.iter().find(|(d, _)| d.name == vlan.parent.as_str()) {
                if depth > vlans.len() {
                    break; // a cycle, which the kernel refuses anyway
                }
                (vlan, depth) = (parent, depth + 1);
            }
            depth
        };
        let mut ordered = vlans.clone();
        ordered.sort_by_key(|(_, v)| depth(v));
        ordered
    }

    /// The devices that come up and track a carrier (not `lo`), each after the
    /// devices its carrier follows (see [`carrier_order`]).
    fn carrier_order(&self) -> Vec<&'s str> {
        let lowers = |name: &str| -> Vec<&'s str> {
            let Some(device) = self.device(name) else { return Vec::new() };
            match device.origin {
                Origin::Bridge(_) => {
                    self.devices.iter().filter(|d| d.master == Some(device.name)).map(|d| d.name).collect()
                }
                Origin::Macvlan(m) => match m.parent_of(self.name) {
                    (parent_node, parent) if parent_node == self.name => {
                        self.device(parent).map(|d| d.name).into_iter().collect()
                    }
                    // Settled once its parent's node is (see `settle_crossing`).
                    _ => Vec::new(),
                },
                Origin::Vlan(v) => self.device(&v.parent).map(|d| d.name).into_iter().collect(),
                _ => Vec::new(),
            }
        };
        let up = self.devices.iter().filter(|d| d.up && d.name != "lo").map(|d| d.name);
        carrier_order(up.collect(), lowers)
    }
}

/// `links` ordered so that each comes after those whose carrier its own follows
/// (`lowers`: a bridge's ports, a macvlan's parent): the kernel changes an upper
/// device's carrier only when it applies the change of a lower one, so asked in this
/// order, a lower link found settled cannot unsettle one asked before it.
fn carrier_order<'a>(links: Vec<&'a str>, lowers: impl Fn(&str) -> Vec<&'a str>) -> Vec<&'a str> {
    // `limit` guards against a cycle, which the kernel would refuse anyway.
    fn depth<'a>(link: &str, lowers: &impl Fn(&str) -> Vec<&'a str>, limit: usize) -> usize {
        match limit {
            0 => 0,
            _ => lowers(link).iter().map(|lower| 1 + depth(lower, lowers, limit - 1)).max().unwrap_or(0),
        }
    }
    let limit = links.len();
    let mut ordered: Vec<(usize, &'a str)> = links.into_iter().map(|l| (depth(l, &lowers, limit), l)).collect();
    ordered.sort_by_key(|(depth, _)| *depth);
    ordered.into_iter().map(|(_, link)| link).collect()
}

/// A veth pair: (node, interface) of each end; the first end's node creates it.
struct VethPair<'s> {
    ends: [(&'s str, &'s str); 2],
    queues: u32,
}

struct Plan<'s> {
    nodes: Vec<NodePlan<'s>>,
    veths: Vec<VethPair<'s>>,
}

impl<'s> Plan<'s> {
    fn of(scenario: &'s Scenario) -> Result<Plan<'s>, BuildError> {
        let mut nodes: Vec<NodePlan<'s>> =
            scenario.nodes.iter().map(|(name, spec)| NodePlan::new(name.as_str(), spec)).collect();
        let mut veths = Vec::new();
        for link in &scenario.links {
            for end in &link.veth {
                let node = nodes.iter_mut().find(|n| n.name == end.at.node).ok_or_else(|| BuildError::Invalid {
                    what: format!("link end {} (line {}) names an unknown node", end.at, end.line),
                })?;
                node.devices.push(Device {
                    name: &end.at.iface,
                    origin: Origin::Veth,
                    mac: None,
                    mtu: link.mtu,
                    master: end.master.as_deref(),
                    up: true,
                    addresses: end.addresses.clone(),
                    born_up: false,
                    born_attached: false,
                    port: None,
                    qdisc: None,
                    vlans: None,
                });
            }
            let [a, b] = &link.veth;
            veths.push(VethPair {
                ends: [(&a.at.node, &a.at.iface), (&b.at.node, &b.at.iface)],
                queues: link.queues.get(),
            });
        }
        for node in &mut nodes {
            node.finish();
        }
        let mut plan = Plan { nodes, veths };
        plan.choose_births();
        Ok(plan)
    }

    /// Let veth ends be born ready where that changes nothing but the number of
    /// requests. Only the end the request creates can be: the kernel ignores a
    /// peer's master and cannot open a peer before the pair is joined (ENOTCONN).
    /// So a pair is created from the side of the end with a bridge, and that end
    /// is created enslaved, and up if nothing has to happen before it comes up: it
    /// gets no address (on an up device, an address brings its routes and, with
    /// `arp_notify`, a gratuitous ARP at another moment), no bridge-port flags
    /// (they can only be set once it is a port) and its node writes no
    /// interface sysctls (`disable_ipv6`, `arp_ignore`, ... must hold from the
    /// first packet). A docker-style bridge port is both.
    fn choose_births(&mut self) {
        for pair_index in 0..self.veths.len() {
            let [a, b] = self.veths[pair_index].ends;
            if self.device(a).master.is_none() && self.device(b).master.is_some() {
                self.veths[pair_index].ends = [b, a];
            }
            let (node, iface) = self.veths[pair_index].ends[0];
            let node = self.nodes.iter_mut().find(|n| n.name == node).expect("every veth end is in its node");
            let quiet = node.interface_sysctls.is_empty();
            let end = node.devices.iter_mut().find(|d| d.name == iface).expect("added with its pair");
            end.born_attached = end.master.is_some();
            end.born_up = end.up && end.addresses.is_empty() && end.port.is_none() && end.vlans.is_none() && quiet;
        }
    }

    fn device(&self, (node, iface): (&str, &str)) -> &Device<'s> {
        self.nodes
            .iter()
            .find(|n| n.name == node)
            .and_then(|n| n.device(iface))
            .expect("every veth end was added to its node's devices")
    }
}

/// The interface a sysctl key is about (`net.ipv4.conf.veth0.rp_filter` → `veth0`),
/// or `None` for namespace-wide keys, including `all` and `default`. Keys may be
/// written with dots or slashes.
fn sysctl_interface(key: &str) -> Option<&str> {
    let separator = if key.contains('/') { '/' } else { '.' };
    let mut parts = key.trim_start_matches('/').splitn(5, separator);
    match (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("net"), Some("ipv4" | "ipv6"), Some("conf" | "neigh"), Some(dev), Some(_))
            if dev != "all" && dev != "default" =>
        {
            Some(dev)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Build

/// Build `scenario` (already validated). On error everything built so far is torn down.
pub async fn build(scenario: &Scenario) -> Result<Topology, BuildError> {
    let plan = Plan::of(scenario)?;
    let services = crate::observe::service::Services::of(scenario);
    let drops = crate::observe::drops::Watch::Unavailable("the topology is not built yet".into());
    let mut topology = Topology { nodes: BTreeMap::new(), services, drops };
    match populate(&mut topology, &plan).await {
        Ok(()) => {
            topology.drops = crate::observe::drops::Watch::of(&topology);
            Ok(topology)
        }
        Err(error) => {
            topology.teardown().await;
            Err(error)
        }
    }
}

async fn populate(topology: &mut Topology, plan: &Plan<'_>) -> Result<(), BuildError> {
    start_nodes(topology, plan)?;
    each_node(plan, topology, create_bridges).await?;
    each_node(plan, topology, create_standalone).await?;
    let bridges = bridge_indexes(plan, topology).await?;
    each_node(plan, topology, |node, handle| create_veths(plan, topology, &bridges, node, handle)).await?;
    for node in &plan.nodes {
        create_taps(node, &topology.nodes[node.name])?;
    }
    each_node(plan, topology, set_tap_basics).await?;
    each_node(plan, topology, |node, handle| create_vxlans(topology, node, handle)).await?;
    each_node(plan, topology, |node, handle| create_macvlans(topology, node, handle)).await?;
    each_node(plan, topology, create_vlans).await?;
    each_node(plan, topology, |node, handle| attach(&bridges[node.name], node, handle)).await?;
    each_node(plan, topology, set_port_flags).await?;
    each_node(plan, topology, set_vlans).await?;
    each_node(plan, topology, set_qdiscs).await?;
    for node in &plan.nodes {
        write_sysctls(&topology.nodes[node.name], node.name, &node.interface_sysctls)?;
    }
    each_node(plan, topology, add_addresses).await?;
    // Everything that can act on a frame is in place before any link carries one
    // (see the module doc).
    each_node(plan, topology, |node, handle| bring_up(node, handle, Loopback::Only)).await?;
    each_node(plan, topology, add_rules).await?;
    each_node(plan, topology, add_neighbours).await?;
    each_node(plan, topology, add_fdb).await?;
    for node in &plan.nodes {
        start_listeners(node, topology.nodes.get_mut(node.name).expect("started above"))?;
    }
    for node in &plan.nodes {
        run_commands(node, &topology.nodes[node.name])?;
    }
    each_node(plan, topology, |node, handle| bring_up(node, handle, Loopback::Not)).await?;
    each_node(plan, topology, settle_links).await?;
    each_node(plan, topology, settle_crossing).await?;
    each_node(plan, topology, |node, handle| ipv6_groups::settle(node.name, handle)).await?;
    // The kernel refuses a route through a device that is down.
    each_node(plan, topology, add_routes).await
}

/// Create the links of `part` in the running topology (a step's `add_link`): a
/// scenario holding only the new links, in the nodes they go to, built by the
/// build's own phases for links, then settled everywhere.
pub async fn add_links(topology: &Topology, part: &Scenario) -> Result<(), BuildError> {
    let plan = Plan::of(part)?;
    each_node(&plan, topology, create_bridges).await?;
    each_node(&plan, topology, create_standalone).await?;
    let bridges = bridge_indexes(&plan, topology).await?;
    each_node(&plan, topology, |node, handle| create_veths(&plan, topology, &bridges, node, handle)).await?;
    for node in &plan.nodes {
        create_taps(node, &topology.nodes[node.name])?;
    }
    each_node(&plan, topology, set_tap_basics).await?;
    each_node(&plan, topology, |node, handle| create_vxlans(topology, node, handle)).await?;
    each_node(&plan, topology, |node, handle| create_macvlans(topology, node, handle)).await?;
    each_node(&plan, topology, create_vlans).await?;
    each_node(&plan, topology, |node, handle| attach(&bridges[node.name], node, handle)).await?;
    each_node(&plan, topology, add_addresses).await?;
    each_node(&plan, topology, |node, handle| bring_up(node, handle, Loopback::Not)).await?;
    settle_everywhere(topology).await
}

/// How long links may take to settle after a change before the build or step fails.
const SETTLE_LIMIT: Duration = Duration::from_secs(3);

/// Wait until the kernel has finished bringing the node's links up.
///
/// Carrier changes are applied by a background worker (linkwatch), up to a second
/// later for events it deems non-urgent, such as a veth whose ends both have index 2
/// in their fresh namespaces. Until then the device still has the `noop` qdisc and
/// silently drops what it sends (the first ARP reply, say), and `ip link` shows the
/// old operstate. Asking for a link by name makes the kernel apply its pending
/// event at once, and the answer says whether the link is operational: one round of
/// requests settles nearly every build. A link that is still settling (its event
/// being applied by linkwatch right then) is asked again after each link change the
/// namespace announces, so the first assertion and the report see a settled topology.
///
/// A bridge gets its carrier when a port's change is applied, a macvlan when its
/// parent's is: they are asked after those ([`NodePlan::carrier_order`]), and again
/// in every round (asked first, or only in the first round, a bridge could stay
/// DOWN in the report: CI saw it once).
async fn settle_links(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    settle(node.name, handle, &node.carrier_order()).await
}

/// Settle, once every node's own links have, the macvlans whose parent is in another
/// node: their carrier follows a parent that [`settle_links`] of this node does not
/// wait for, so before that it may still change.
async fn settle_crossing(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    let crossing = node.devices.iter().filter(|d| match d.origin {
        Origin::Macvlan(m) => d.up && m.parent_of(node.name).0 != node.name,
        _ => false,
    });
    settle(node.name, handle, &crossing.map(|d| d.name).collect::<Vec<_>>()).await
}

/// Wait until every link of every node has settled: for step actions that change a
/// carrier or a bridge's ports. One change reaches further than the link it names: a
/// veth's peer in another node loses or gains its carrier with it, and with the
/// peer's carrier its bridge's, a macvlan's on it, its neighbour entries
/// (`arp_evict_nocarrier`). The kernel applies those in the background, and a check
/// decided before would see the old state. Asking every link of the topology covers
/// them all, and links a command created too.
pub async fn settle_everywhere(topology: &Topology) -> Result<(), BuildError> {
    try_join_all(topology.nodes.iter().map(|(name, handle)| settle_node(name, handle))).await?;
    Ok(())
}

/// Wait until every link of `node`, as the kernel lists them now, has settled (in
/// [`carrier_order`], from the kernel's masters and parents).
async fn settle_node(node: &str, handle: &NodeHandle) -> Result<(), BuildError> {
    let ties = netlink::carrier_ties(&handle.netlink).await.map_err(in_node(node))?;
    let name_of = |index: u32| ties.iter().find(|t| t.index == index).map(|t| t.name.as_str());
    let lowers = |name: &str| -> Vec<&str> {
        let Some(link) = ties.iter().find(|t| t.name == name) else { return Vec::new() };
        let ports = ties.iter().filter(|t| t.master == Some(link.index)).map(|t| t.name.as_str());
        ports.chain(link.parent.and_then(name_of)).collect()
    };
    let order = carrier_order(ties.iter().map(|t| t.name.as_str()).collect(), lowers);
    settle(node, handle, &order).await?;
    ipv6_groups::settle(node, handle).await
}

/// Wait until those of `links` (of `node`) that are up have settled (see
/// [`netlink::LinkStatus::is_settling`]), asking them in the order given (see
/// [`settle_links`]).
async fn settle(node: &str, handle: &NodeHandle, links: &[&str]) -> Result<(), BuildError> {
    let mut settling = still_settling(node, handle, links).await?;
    if settling.is_empty() {
        return Ok(());
    }
    let events = netlink::LinkEvents::subscribe(&handle.ns).map_err(io_failure("watch link changes", node))?;
    let deadline = tokio::time::Instant::now() + SETTLE_LIMIT;
    loop {
        // Asked after subscribing: a change in between still wakes the wait below.
        // All links again, not only the settling ones: a bridge may have got its
        // carrier since.
        settling = still_settling(node, handle, links).await?;
        if settling.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline, events.changed()).await {
            Ok(changed) => changed.map_err(io_failure("watch link changes", node))?,
            Err(_) => {
                return Err(BuildError::Kernel {
                    what: format!("settle {} in node {}", settling.join(", "), node),
                    error: format!("carrier and operational state still disagree after {SETTLE_LIMIT:?}"),
                });
            }
        }
    }
}

/// Those of `links` that are up and whose carrier change the kernel has not applied
/// yet (all asked at once: the requests are answered in order on the node's socket).
/// A link deleted meanwhile (by a command) has nothing left to settle.
async fn still_settling<'a>(node: &str, handle: &NodeHandle, links: &[&'a str]) -> Result<Vec<&'a str>, BuildError> {
    let asked = links.iter().map(|name| async move {
        match netlink::link_status(&handle.netlink, name).await {
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Ok(false),
            status => status.map(|s| s.is_settling()),
        }
    });
    let settling = try_join_all(asked).await.map_err(in_node(node))?;
    Ok(links.iter().zip(settling).filter(|(_, settling)| *settling).map(|(name, _)| *name).collect())
}

/// Run one phase in all nodes concurrently.
async fn each_node<'a, F, Fut>(plan: &'a Plan<'a>, topology: &'a Topology, phase: F) -> Result<(), BuildError>
where
    F: Fn(&'a NodePlan<'a>, &'a NodeHandle) -> Fut,
    Fut: Future<Output = Result<(), BuildError>>,
{
    try_join_all(plan.nodes.iter().map(|node| phase(node, &topology.nodes[node.name]))).await?;
    Ok(())
}

/// Create every node's namespace with the baseline, its namespace-wide sysctls and
/// its netlink connection ([`Netns::new_many`]: namespaces created in parallel).
/// Creating the namespaces is most of a build's cost.
///
/// Every node started is held by the topology before the first error is returned,
/// so that teardown() waits for its netlink socket too.
fn start_nodes(topology: &mut Topology, plan: &Plan<'_>) -> Result<(), BuildError> {
    let runtime = tokio::runtime::Handle::current();
    let started = Netns::new_many(plan.nodes.len(), |i, _| set_up_node(&plan.nodes[i], &runtime));
    let mut first_error = None;
    for (node, result) in plan.nodes.iter().zip(started) {
        let handle = match result {
            Ok((ns, setup)) => {
                #[cfg(test)]
                defaults::created(&ns);
                setup.map(|(netlink, connection)| NodeHandle {
                    ns,
                    netlink,
                    connection,
                    taps: Default::default(),
                    listeners: Vec::new(),
                    created: node.created().map(str::to_string).collect(),
                    baseline_finished: OnceLock::new(),
                })
            }
            Err(error) => Err(io_failure("create network namespace", node.name)(error)),
        };
        match handle {
            Ok(handle) => {
                topology.nodes.insert(node.name.to_string(), handle);
            }
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Runs inside a node's fresh namespace: the baseline, then the sysctls that must hold
/// before any interface exists, then the netlink connection (spawned on `runtime`).
fn set_up_node(
    node: &NodePlan<'_>,
    runtime: &tokio::runtime::Handle,
) -> Result<(rtnetlink::Handle, netlink::ConnectionTask), BuildError> {
    defaults::apply_to_new_here().map_err(io_failure("apply baseline sysctls", node.name))?;
    write_sysctls_here(node.name, &node.early_sysctls)?;
    netlink::connect_here(runtime).map_err(io_failure("open netlink socket", node.name))
}

/// Write `sysctls` in the namespace of the calling thread.
fn write_sysctls_here(node: &str, sysctls: &[(&str, String)]) -> Result<(), BuildError> {
    for (key, value) in sysctls {
        defaults::write_here(&[(key, value)]).map_err(io_failure(format_args!("set sysctl {key}={value}"), node))?;
    }
    Ok(())
}

/// Write `sysctls` in the node's namespace (one thread hop, and none when empty).
fn write_sysctls(handle: &NodeHandle, node: &str, sysctls: &[(&str, String)]) -> Result<(), BuildError> {
    if sysctls.is_empty() {
        return Ok(());
    }
    let written = handle.ns.run(|| Ok(write_sysctls_here(node, sysctls)));
    written.map_err(io_failure("enter the namespace", node))?
}

async fn create_bridges(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        if let Origin::Bridge(bridge) = device.origin {
            netlink::add_bridge(&handle.netlink, &device.basics(), bridge).await.map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// Devices that need nothing else to exist: VRFs (before anything is enslaved to
/// them) and dummies.
async fn create_standalone(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        let created = match device.origin {
            Origin::Vrf(vrf) => netlink::add_vrf(&handle.netlink, &device.basics(), vrf).await,
            Origin::Dummy => netlink::add_dummy(&handle.netlink, &device.basics()).await,
            _ => continue,
        };
        created.map_err(in_node(node.name))?;
    }
    Ok(())
}

/// VLAN sub-interfaces, once their parents exist: a parent that is itself a VLAN
/// (Q-in-Q) is created first.
async fn create_vlans(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for (device, vlan) in node.vlans_parents_first() {
        netlink::add_vlan(&handle.netlink, &device.basics(), vlan).await.map_err(in_node(node.name))?;
    }
    Ok(())
}

/// The index of every bridge something is enslaved to, by node (one request per
/// bridge).
async fn bridge_indexes<'s>(
    plan: &Plan<'s>,
    topology: &Topology,
) -> Result<BTreeMap<&'s str, BridgeIndexes<'s>>, BuildError> {
    let per_node = plan.nodes.iter().map(|node| async move {
        let handle = &topology.nodes[node.name];
        let mut indexes = BridgeIndexes::new();
        for bridge in node.devices.iter().filter_map(|d| d.master) {
            if !indexes.contains_key(bridge) {
                let index = netlink::link_index(&handle.netlink, bridge).await.map_err(in_node(node.name))?;
                indexes.insert(bridge, index);
            }
        }
        Ok::<_, BuildError>((node.name, indexes))
    });
    Ok(try_join_all(per_node).await?.into_iter().collect())
}

/// The pairs whose first end is in `node`, created from its socket.
async fn create_veths(
    plan: &Plan<'_>,
    topology: &Topology,
    bridges: &BTreeMap<&str, BridgeIndexes<'_>>,
    node: &NodePlan<'_>,
    handle: &NodeHandle,
) -> Result<(), BuildError> {
    for pair in plan.veths.iter().filter(|p| p.ends[0].0 == node.name) {
        let [here, there] = pair.ends;
        let peer_ns = (there.0 != here.0).then(|| &topology.nodes[there.0].ns);
        let end = plan.device(here);
        netlink::add_veth(
            &handle.netlink,
            &LinkBasics { master: end.born_master(&bridges[here.0]), ..end.basics() },
            &plan.device(there).basics(),
            peer_ns,
            pair.queues,
        )
        .await
        .map_err(|e| {
            let place = if peer_ns.is_some() {
                format!("in node {}, peer in node {}", here.0, there.0)
            } else {
                format!("in node {}", here.0)
            };
            BuildError::from(e.context(place))
        })?;
    }
    Ok(())
}

fn create_taps(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        if let Origin::Tap(mode) = device.origin {
            let fd = netlink::add_tap(&handle.ns, device.name, mode).map_err(in_node(node.name))?;
            handle.taps.lock().unwrap_or_else(|e| e.into_inner()).insert(device.name.to_string(), fd);
        }
    }
    Ok(())
}

/// MAC and MTU of taps, before anything (a vxlan or macvlan) is stacked on them.
async fn set_tap_basics(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in node.devices.iter().filter(|d| matches!(d.origin, Origin::Tap(_))) {
        let change = LinkChange { mac: device.mac, mtu: device.mtu, ..Default::default() };
        if change != LinkChange::default() {
            netlink::set_link(&handle.netlink, device.name.into(), &change).await.map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// A vxlan whose `dev` is in another node is created by that node's netlink
/// connection and born in this node's namespace (see [`netlink::add_vxlan`]).
async fn create_vxlans(topology: &Topology, node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        if let Origin::Vxlan(vxlan) = device.origin {
            let (creator, home, dev) = match vxlan.dev_of(node.name) {
                Some((dev_node, dev)) if dev_node != node.name => {
                    (&topology.nodes[dev_node], Some(&handle.ns), Some(dev))
                }
                other => (handle, None, other.map(|(_, dev)| dev)),
            };
            netlink::add_vxlan(&creator.netlink, &device.basics(), vxlan, dev, home)
                .await
                .map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// A macvlan whose parent is in another node is created by that node's netlink
/// connection and born in this node's namespace (see [`netlink::add_macvlan`]).
async fn create_macvlans(topology: &Topology, node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        if let Origin::Macvlan(macvlan) = device.origin {
            let (parent_node, parent) = macvlan.parent_of(node.name);
            let (creator, home) = match parent_node == node.name {
                true => (handle, None),
                false => (&topology.nodes[parent_node], Some(&handle.ns)),
            };
            netlink::add_macvlan(&creator.netlink, &device.basics(), parent, macvlan, home)
                .await
                .map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// Enslave devices to their bridges (those not born enslaved), and give
/// pre-existing ones their MAC/MTU.
async fn attach(bridges: &BridgeIndexes<'_>, node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        let change = device.attach_change(bridges);
        if change != LinkChange::default() {
            netlink::set_link(&handle.netlink, device.name.into(), &change).await.map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// Bridge-port flags, once every port is attached and before any comes up.
async fn set_port_flags(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        if let Some(flags) = device.port {
            netlink::set_bridge_port(&handle.netlink, device.name, flags).await.map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// Qdiscs, before any link comes up: they hold from the first frame.
async fn set_qdiscs(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        if let Some(q) = device.qdisc {
            qdisc::set(&handle.netlink, device.name, q).await.map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// VLANs of VLAN-aware bridges and their ports, once every port is attached and
/// before any comes up.
async fn set_vlans(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        let (owner, vlans) = match device.origin {
            Origin::Bridge(bridge) => (netlink::VlanOwner::Bridge, bridge.vlans.as_deref()),
            _ => (netlink::VlanOwner::Port, device.vlans),
        };
        if let Some(vlans) = vlans {
            netlink::set_bridge_vlans(&handle.netlink, device.name, owner, vlans).await.map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

async fn add_addresses(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    for device in &node.devices {
        for address in &device.addresses {
            netlink::add_address(&handle.netlink, device.name.into(), *address).await.map_err(in_node(node.name))?;
        }
        if link_local::needed(&device.addresses) {
            link_local::add(&handle.netlink, device.name).await.map_err(in_node(node.name))?;
        }
    }
    Ok(())
}

/// Which devices a [`bring_up`] is about.
#[derive(Clone, Copy, PartialEq)]
enum Loopback {
    /// `lo` alone: it carries no frame to another node, and commands may need
    /// 127.0.0.1 (which the kernel adds when `lo` comes up).
    Only,
    /// Every device but `lo`.
    Not,
}

/// Bring up the devices `which` names, but those the scenario keeps down and those
/// born up; VLAN sub-interfaces last, parents first (see
/// [`NodePlan::vlans_parents_first`]).
async fn bring_up(node: &NodePlan<'_>, handle: &NodeHandle, which: Loopback) -> Result<(), BuildError> {
    let up = LinkChange { up: Some(true), ..Default::default() };
    let chosen = |d: &&Device| (d.name == "lo") == (which == Loopback::Only);
    let vlans = node.vlans_parents_first().into_iter().map(|(d, _)| d);
    let others = node.devices.iter().filter(|d| !matches!(d.origin, Origin::Vlan(_)));
    for device in others.chain(vlans).filter(|d| d.up && !d.born_up).filter(chosen) {
        netlink::set_link(&handle.netlink, LinkRef::Name(device.name), &up).await.map_err(in_node(node.name))?;
    }
    Ok(())
}

/// Add every entry of one kind (routes, rules, ...) in file order, blaming a failure on
/// the node.
async fn add_each<'a, T, Fut>(
    node: &NodePlan<'_>,
    entries: &'a [T],
    add: impl Fn(&'a T) -> Fut,
) -> Result<(), BuildError>
where
    Fut: Future<Output = Result<(), netlink::Error>>,
{
    for entry in entries {
        add(entry).await.map_err(in_node(node.name))?;
    }
    Ok(())
}

/// In file order: a route may need one added before it (a host route to its gateway).
async fn add_routes(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    add_each(node, &node.spec.routes, |route| netlink::add_route(&handle.netlink, route)).await
}

async fn add_rules(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    add_each(node, &node.spec.rules, |rule| netlink::add_rule(&handle.netlink, rule)).await
}

async fn add_neighbours(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    add_each(node, &node.spec.neighbours, |neighbour| netlink::add_neighbour(&handle.netlink, neighbour)).await
}

async fn add_fdb(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    add_each(node, &node.spec.fdb, |entry| netlink::add_fdb(&handle.netlink, entry)).await
}

fn listen_text(spec: &ListenSpec) -> String {
    let proto = match spec.proto {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    };
    match spec.addr {
        Some(addr) => format!("{proto}/{}", std::net::SocketAddr::new(addr, spec.port)),
        None => format!("{proto}/{}", spec.port),
    }
}

fn start_listeners(node: &NodePlan<'_>, handle: &mut NodeHandle) -> Result<(), BuildError> {
    for listen in &node.spec.listen {
        let spec = &listen.spec;
        let listener = match &listen.banner {
            Some(banner) => probe::Listener::with_banner(&handle.ns, spec.addr, spec.port, banner),
            None => probe::Listener::start(&handle.ns, spec.proto, spec.addr, spec.port),
        }
        .map_err(io_failure(format_args!("listen on {}", listen_text(spec)), node.name))?;
        handle.listeners.push(listener);
    }
    Ok(())
}

/// The node's `run:` commands in order; each must exit 0.
fn run_commands(node: &NodePlan<'_>, handle: &NodeHandle) -> Result<(), BuildError> {
    if !node.spec.run.is_empty() {
        handle.finish_baseline().map_err(io_failure("finish the baseline sysctls", node.name))?;
    }
    for command in &node.spec.run {
        let failed = |status: String, output: String| BuildError::Command {
            node: node.name.to_string(),
            command: command.to_string(),
            status,
            output,
        };
        let output =
            exec::run(&handle.ns, command, RUN_TIMEOUT).map_err(|e| failed(format!("error: {e}"), String::new()))?;
        if !output.status.success() {
            let text = [&output.stdout[..], &output.stderr[..]].map(String::from_utf8_lossy).concat();
            return Err(failed(output.status.to_string(), text));
        }
    }
    Ok(())
}

#[cfg(test)]
mod stand_ins {
    //! `baseline` and `exec` as the build sees them in unit tests: the real ones, plus
    //! a record of every namespace built on the test's thread (for the leak checks)
    //! and of the links each command saw (for the build order).

    pub mod baseline {
        use crate::build::netns::Netns;

        std::thread_local! {
            /// Netns cookies of the namespaces built on this thread (for leak checks).
            pub static BUILT: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
        }

        /// Called by the build, on the thread that runs it, for every namespace it
        /// created (even one whose setup then failed).
        pub fn created(ns: &Netns) {
            let cookie = ns.run(super::super::tests::current_netns_cookie).expect("cookie of a built namespace");
            BUILT.with(|built| built.borrow_mut().push(cookie));
        }

        pub use crate::build::baseline::{apply_to_new_here, finish, write_here};
    }

    pub mod exec {
        use std::io;
        use std::process::Output;
        use std::time::Duration;

        use crate::build::netlink::{self, LinkDump};
        use crate::build::netns::Netns;

        std::thread_local! {
            /// The links of the node each command ran in, as the kernel showed them
            /// right before it ran (for the build order tests).
            pub static LINKS_SEEN: std::cell::RefCell<Vec<Vec<LinkDump>>> = const { std::cell::RefCell::new(Vec::new()) };
        }

        pub fn run(ns: &Netns, command_line: &str, timeout: Duration) -> io::Result<Output> {
            // On a thread of its own: the build's runtime is busy running this.
            let links = std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                        runtime.block_on(async {
                            let (handle, _connection) = netlink::connect(ns)?;
                            netlink::links(&handle).await.map_err(io::Error::other)
                        })
                    })
                    .join()
                    .expect("the link dump does not panic")
            })?;
            LINKS_SEEN.with(|seen| seen.borrow_mut().push(links));
            crate::observe::exec::run(ns, command_line, timeout)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::fs::File;
    use std::net::IpAddr;
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};

    use futures::TryStreamExt;
    use rtnetlink::packet_route::AddressFamily;
    use rtnetlink::packet_route::link::{
        BridgeStpState, InfoBridge, InfoData, InfoMacVlan, InfoVxlan, LinkAttribute, LinkInfo, MacVlanMode,
    };
    use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourState};
    use rtnetlink::packet_route::rule::RuleAttribute;

    use super::*;
    use crate::build::netlink::{LinkDump, LookupKind, RouteLookup};

    // ----- fixtures ------------------------------------------------------------------

    fn scenario(yaml: &str) -> Scenario {
        serde_saphyr::from_str(yaml).expect("test scenario parses")
    }

    fn on_runtime<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
    }

    /// `ip -o link` of the machine's own namespace, which no test may change.
    fn root_links() -> String {
        let output = std::process::Command::new("ip").args(["-o", "link"]).output().expect("ip runs");
        String::from_utf8(output.stdout).unwrap()
    }

    /// Run `test` and check that the machine's own interfaces are untouched after it.
    fn leaving_root_alone(test: impl FnOnce()) {
        let before = root_links();
        test();
        assert_eq!(root_links(), before, "the root namespace's links changed");
    }

    async fn link(topology: &Topology, node: &str, name: &str) -> LinkDump {
        let links = netlink::links(&topology.nodes[node].netlink).await.unwrap();
        links.into_iter().find(|l| l.name == name).unwrap_or_else(|| panic!("{node} has no {name}"))
    }

    /// The kind-specific attributes (IFLA_INFO_DATA) of interface `name`.
    /// IFLA_NUM_TX_QUEUES and IFLA_NUM_RX_QUEUES of interface `name`.
    async fn queues(handle: &rtnetlink::Handle, name: &str) -> (u32, u32) {
        let message = handle.link().get().match_name(name).execute().try_next().await.unwrap().unwrap();
        let find = |pick: fn(&LinkAttribute) -> Option<u32>| message.attributes.iter().find_map(pick).unwrap();
        let tx = find(|a| if let LinkAttribute::NumTxQueues(n) = a { Some(*n) } else { None });
        (tx, find(|a| if let LinkAttribute::NumRxQueues(n) = a { Some(*n) } else { None }))
    }

    async fn info_data(handle: &rtnetlink::Handle, name: &str) -> InfoData {
        let message = handle.link().get().match_name(name).execute().try_next().await.unwrap().unwrap();
        message
            .attributes
            .into_iter()
            .find_map(|a| match a {
                LinkAttribute::LinkInfo(infos) => infos.into_iter().find_map(|i| match i {
                    LinkInfo::Data(data) => Some(data),
                    _ => None,
                }),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name} has no info data"))
    }

    async fn lookup(topology: &Topology, node: &str, dst: &str) -> RouteLookup {
        netlink::route_get(&topology.nodes[node].netlink, dst.parse().unwrap()).await.unwrap()
    }

    /// The netns cookie (never reused, unlike inode numbers) of the calling thread.
    pub(super) fn current_netns_cookie() -> io::Result<u64> {
        let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::DGRAM, None)?;
        socket_netns_cookie(socket.as_raw_fd())
    }

    fn socket_netns_cookie(fd: RawFd) -> io::Result<u64> {
        const SO_NETNS_COOKIE: nix::libc::c_int = 71;
        let mut cookie = 0u64;
        let mut len = std::mem::size_of::<u64>() as nix::libc::socklen_t;
        // SAFETY: `cookie` and `len` are valid for writes of the sizes given.
        let rc = unsafe {
            nix::libc::getsockopt(fd, nix::libc::SOL_SOCKET, SO_NETNS_COOKIE, (&raw mut cookie).cast(), &mut len)
        };
        if rc == 0 { Ok(cookie) } else { Err(io::Error::last_os_error()) }
    }

    fn cookie_of_namespace(ns: OwnedFd) -> Option<u64> {
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
                    current_netns_cookie().ok()
                })
                .join()
                .unwrap()
        })
    }

    /// Cookies of every network namespace this process still holds through an fd:
    /// namespace fds, sockets (netlink, listeners) and tun/tap fds.
    fn held_netns_cookies() -> BTreeSet<u64> {
        // A scan opens fds of its own to the namespaces it inspects; scans in parallel
        // tests would see each other's and report a leak that is not one.
        static ONE_SCAN_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _scanning = ONE_SCAN_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut held = BTreeSet::new();
        for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
            let (Ok(target), Ok(fd)) =
                (std::fs::read_link(entry.path()), entry.file_name().to_string_lossy().parse::<RawFd>())
            else {
                continue;
            };
            let target = target.to_string_lossy();
            let cookie = if target.starts_with("socket:") {
                socket_netns_cookie(fd).ok()
            } else if target.starts_with("net:[") {
                File::open(entry.path()).ok().and_then(|f| cookie_of_namespace(f.into()))
            } else if target == "/dev/net/tun" {
                // SAFETY: TUNGETDEVNETNS takes no argument and returns a new fd (or -1).
                let ns = unsafe { nix::libc::ioctl(fd, nix::libc::TUNGETDEVNETNS) };
                // SAFETY: a non-negative result is a fresh fd we own.
                (ns >= 0).then(|| unsafe { OwnedFd::from_raw_fd(ns) }).and_then(cookie_of_namespace)
            } else {
                None
            };
            held.extend(cookie);
        }
        held
    }

    fn built_cookies() -> Vec<u64> {
        stand_ins::baseline::BUILT.with(|built| built.take())
    }

    fn assert_released(cookies: &[u64]) {
        assert!(!cookies.is_empty(), "the build created no namespace?");
        let held = held_netns_cookies();
        let leaked: Vec<_> = cookies.iter().filter(|c| held.contains(c)).collect();
        assert!(leaked.is_empty(), "namespaces still held after teardown: {leaked:?}");
    }

    // ----- plan (no root needed) --------------------------------------------------------

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        assert_eq!(fnv1a64(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(*b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn stable_macs_are_local_unicast_and_never_change() {
        let mac = stable_mac("ns1", "veth1");
        assert_eq!(mac.0[0], 0x02, "locally administered, unicast");
        // Pinned: a change here changes every capture and snapshot of every user.
        assert_eq!(mac.to_string(), "02:2a:96:f0:43:3e");
        assert_ne!(stable_mac("ns1", "veth2"), mac);
        assert_ne!(stable_mac("ns", "1veth1"), stable_mac("ns1", "veth1"), "the separator matters");
    }

    #[test]
    fn sysctls_naming_an_interface_wait_for_it() {
        assert_eq!(sysctl_interface("net.ipv4.conf.veth0.rp_filter"), Some("veth0"));
        assert_eq!(sysctl_interface("net/ipv6/conf/eth0.100/disable_ipv6"), Some("eth0.100"));
        assert_eq!(sysctl_interface("net.ipv4.neigh.br0.base_reachable_time_ms"), Some("br0"));
        assert_eq!(sysctl_interface("net.ipv4.conf.all.rp_filter"), None);
        assert_eq!(sysctl_interface("net.ipv6.conf.default.accept_ra"), None);
        assert_eq!(sysctl_interface("net.ipv4.ip_forward"), None);
        assert_eq!(sysctl_interface("net.core.somaxconn"), None);
    }

    #[test]
    fn carrier_order_puts_ports_before_bridges_and_parents_before_macvlans() {
        let s = scenario(
            r#"
nodes:
  host:
    bridges: {br0: {}, br1: {state: down}}
    macvlans: {mv0: {parent: br0}, mv1: {parent: p0}}
  a: {}
  b: {}
links:
  - veth: [a:eth0, host:p0@br0]
  - veth: [b:eth0, host:p1]
"#,
        );
        let plan = Plan::of(&s).unwrap();
        let host = plan.nodes.iter().find(|n| n.name == "host").unwrap();
        // Declared first, br0 is asked after its port; mv0 sits on br0, so comes last.
        // `lo` and links left down are not asked at all.
        assert_eq!(host.carrier_order(), ["p0", "p1", "br0", "mv1", "mv0"]);
    }

    #[test]
    fn vlans_are_created_and_brought_up_after_their_parents() {
        // Names sort children before parents: the kernel refuses a VLAN over a parent
        // that does not exist yet (ENODEV) or is still down (ENETDOWN).
        let s = scenario(
            r#"
nodes:
  a:
    vlans:
      inner: {parent: outer, id: 5}
      outer: {parent: eth0, id: 100, protocol: 802.1ad}
      aa: {parent: inner, id: 7}
  b: {}
links:
  - veth: [a:eth0, b:eth0]
"#,
        );
        let plan = Plan::of(&s).unwrap();
        let a = plan.nodes.iter().find(|n| n.name == "a").unwrap();
        let vlans: Vec<&str> = a.vlans_parents_first().iter().map(|(d, _)| d.name).collect();
        assert_eq!(vlans, ["outer", "inner", "aa"]);
        assert_eq!(a.carrier_order(), ["eth0", "outer", "inner", "aa"]);
        assert_eq!(a.device("outer").unwrap().mac, None, "a VLAN takes its parent's MAC");
    }

    #[test]
    fn dummies_vlans_vrfs_and_bridge_vlans_are_built_or_skipped_with_the_kernels_reason() {
        needs_root!();
        leaving_root_alone(|| {
            // One scenario per kind: a kernel may have some and lack others.
            let kinds = [
                ("dummy devices", "dummies: {d0: {addresses: [192.0.2.1/32]}}", "d0", "dummy"),
                ("802.1Q vlan devices", "vlans: {eth0.10: {parent: eth0, id: 10}}", "eth0.10", "vlan"),
                ("vrf devices", "vrfs: {red: {table: 10}}\n    interfaces: {eth0: {master: red}}", "red", "vrf"),
                (
                    "bridge vlan_filtering",
                    "bridges: {br0: {vlan_filtering: true, vlans: [20]}}\n    interfaces: {eth0: {master: br0, vlans: [10]}}",
                    "br0",
                    "bridge",
                ),
            ];
            for (feature, node, device, kind) in kinds {
                let s = scenario(&format!("nodes:\n  r:\n    {node}\n  b: {{}}\nlinks:\n  - veth: [r:eth0, b:eth0]\n"));
                on_runtime(async {
                    match build(&s).await {
                        Err(BuildError::Unsupported { what, reason }) => {
                            assert_eq!(what, feature, "{reason}");
                            assert!(reason.contains("in node r"), "{reason}");
                        }
                        Err(other) => panic!("{feature}: {other}"),
                        Ok(topology) => {
                            let built = link(&topology, "r", device).await;
                            assert_eq!(built.kind.as_deref(), Some(kind));
                            assert!(built.admin_up, "{device} is up");
                            let eth0 = link(&topology, "r", "eth0").await;
                            if kind == "vrf" || kind == "bridge" {
                                assert_eq!(eth0.master.as_deref(), Some(device));
                            }
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn plan_merges_interfaces_into_devices_and_adds_lo() {
        let s = scenario(
            r#"
nodes:
  host:
    lo: down
    sysctl: {net.ipv4.ip_forward: 1, net.ipv4.conf.vethA.rp_filter: 0}
    bridges: {br0: {addresses: [192.0.2.1/24]}}
    taps: {tun0: {mode: tun}}
    interfaces:
      vethA: {mtu: 1400, state: down, addresses: [192.0.2.9/24]}
      lo: {addresses: [198.51.100.1/32]}
      br0: {mac: "02:00:00:00:00:aa"}
  a: {}
links:
  - veth: [a:eth0 192.0.2.2/24, host:vethA@br0 192.0.2.8/24]
    mtu: 9000
"#,
        );
        let plan = Plan::of(&s).unwrap();
        let host = plan.nodes.iter().find(|n| n.name == "host").unwrap();
        let names: Vec<_> = host.devices.iter().map(|d| d.name).collect();
        assert_eq!(names, ["br0", "tun0", "vethA", "lo"]);
        let veth = host.device("vethA").unwrap();
        assert_eq!(veth.mtu, Some(1400), "interfaces: wins over the link's mtu");
        assert_eq!(veth.master, Some("br0"));
        assert!(!veth.up);
        assert_eq!(veth.addresses, ["192.0.2.8/24".parse::<IpNet>().unwrap(), "192.0.2.9/24".parse().unwrap()]);
        assert_eq!(veth.mac, Some(stable_mac("host", "vethA")));
        assert_eq!(host.device("br0").unwrap().mac.unwrap().to_string(), "02:00:00:00:00:aa");
        assert_eq!(host.device("tun0").unwrap().mac, None, "a tun has no MAC");
        let lo = host.device("lo").unwrap();
        assert!(!lo.up, "`lo: down` holds even with an interfaces: entry");
        assert_eq!((lo.mac, lo.addresses.len()), (None, 1));
        assert_eq!(host.early_sysctls, [("net.ipv4.ip_forward", "1".to_string())]);
        assert_eq!(host.interface_sysctls, [("net.ipv4.conf.vethA.rp_filter", "0".to_string())]);
        let a = plan.nodes.iter().find(|n| n.name == "a").unwrap();
        assert_eq!(a.device("eth0").unwrap().mtu, Some(9000));
        assert!(a.device("lo").unwrap().up);
        assert_eq!(plan.veths.len(), 1);
        assert_eq!(plan.veths[0].ends, [("host", "vethA"), ("a", "eth0")], "created from the bridge's side");
        assert!(veth.born_attached);
        assert!(!veth.born_up, "kept down");
    }

    #[test]
    fn only_the_created_end_is_born_ready_and_only_when_nothing_must_come_first() {
        let s = scenario(
            r#"
nodes:
  host: {bridges: {br0: {}}}
  quiet: {bridges: {br1: {}}}
  careful: {bridges: {br2: {}}, sysctl: {net.ipv4.conf.x.arp_ignore: 1}}
  a: {}
  b: {}
  c: {}
  d: {}
links:
  - veth: [a:eth0 10.0.0.2/24, host:v0@br0]
  - veth: [b:eth0 10.0.0.3/24, host:v1@br0 10.0.0.9/24]
  - veth: [quiet:y@br1, host:v2@br0]
  - veth: [c:eth0, careful:x@br2]
  - veth: [d:eth0, d:eth1]
"#,
        );
        let plan = Plan::of(&s).unwrap();
        let born = |node: &str, iface: &str| {
            let device = plan.device((node, iface));
            (device.born_attached, device.born_up)
        };
        let ends: Vec<_> = plan.veths.iter().map(|p| p.ends[0]).collect();
        assert_eq!(ends, [("host", "v0"), ("host", "v1"), ("quiet", "y"), ("careful", "x"), ("d", "eth0")]);
        assert_eq!(born("host", "v0"), (true, true), "a docker-style port");
        assert_eq!(born("a", "eth0"), (false, false), "a peer never");
        assert_eq!(born("host", "v1"), (true, false), "it has an address");
        assert_eq!(born("quiet", "y"), (true, true));
        assert_eq!(born("host", "v2"), (false, false), "both ends have a bridge: attached later");
        assert_eq!(born("careful", "x"), (true, false), "its node writes interface sysctls");
        assert_eq!(born("d", "eth0"), (false, true));
    }

    #[test]
    fn netlink_errors_become_build_errors() {
        let unsupported = netlink::Error::Unsupported {
            feature: "bridge vlan_filtering".into(),
            what: "create bridge br0 in node sw".into(),
            message: "Operation not supported".into(),
        };
        assert_eq!(
            BuildError::from(unsupported).to_string(),
            "kernel does not support bridge vlan_filtering: create bridge br0 in node sw: Operation not supported"
        );
    }

    // ----- building (root) -------------------------------------------------------------

    #[test]
    fn veth_pair_between_two_nodes() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes: {ns1: {}, ns2: {}}
links:
  - veth: [ns1:veth1 10.120.0.11/24, ns2:veth2 10.120.0.12/24 2001:db8:120::12/64]
"#,
            );
            on_runtime(async {
                let topology = build(&s).await.unwrap();
                let veth1 = link(&topology, "ns1", "veth1").await;
                assert_eq!(veth1.kind.as_deref(), Some("veth"));
                assert_eq!(veth1.addresses, ["10.120.0.11/24".parse::<IpNet>().unwrap()]);
                assert_eq!(veth1.mac, Some(stable_mac("ns1", "veth1")));
                assert!(veth1.admin_up && veth1.carrier, "{veth1:?}");
                assert_eq!(veth1.mtu, 1500);
                let veth2 = link(&topology, "ns2", "veth2").await;
                assert_eq!(veth2.mac, Some(stable_mac("ns2", "veth2")));
                assert_eq!(veth2.addresses.len(), 2, "IPv4 and IPv6, no link-local: {:?}", veth2.addresses);
                let lo = link(&topology, "ns1", "lo").await;
                assert!(lo.admin_up && lo.kind.as_deref() == Some("loopback"));
                // Each end is in its own namespace only.
                let ns1: Vec<_> = netlink::links(&topology.nodes["ns1"].netlink).await.unwrap();
                assert_eq!(ns1.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["lo", "veth1"]);
                let to_peer = lookup(&topology, "ns1", "10.120.0.12").await;
                assert_eq!(to_peer.kind, LookupKind::Unicast);
                assert_eq!(
                    (to_peer.dev.as_deref(), to_peer.src),
                    (Some("veth1"), Some("10.120.0.11".parse().unwrap()))
                );
                let own = lookup(&topology, "ns1", "10.120.0.11").await;
                assert_eq!((own.kind, own.to_string().as_str()), (LookupKind::Local, "local dev lo src 10.120.0.11"));
                let nowhere = netlink::route_get(&topology.nodes["ns1"].netlink, "203.0.113.1".parse().unwrap()).await;
                assert_eq!(nowhere.unwrap_err().errno(), Some(nix::errno::Errno::ENETUNREACH));
                let cookies = built_cookies();
                assert!(
                    cookies.iter().all(|c| held_netns_cookies().contains(c)),
                    "the leak check sees live namespaces"
                );
                topology.teardown().await;
                assert_released(&cookies);
            });
        });
    }

    #[test]
    fn veth_ends_get_one_queue_or_as_many_as_asked() {
        needs_root!();
        let s = scenario(
            r#"
nodes: {a: {}, b: {}}
links:
  - veth: [a:one, b:one]
  - veth: [a:four, b:four]
    queues: 4
"#,
        );
        on_runtime(async {
            let topology = build(&s).await.unwrap();
            for node in ["a", "b"] {
                let handle = &topology.nodes[node].netlink;
                assert_eq!(queues(handle, "one").await, (1, 1), "default, whatever the CPU count");
                assert_eq!(queues(handle, "four").await, (4, 4));
            }
            topology.teardown().await;
        });
    }

    #[test]
    fn a_bridge_is_operational_once_built() {
        needs_root!();
        // The bridge gets its carrier only when its port's carrier change is applied,
        // the macvlan only when the bridge's is; a report's dump must see them UP
        // (without the settle step it does not). Asked before its port, or not asked
        // again once the port settled, br0 could stay DOWN: CI saw that once, under
        // load; not reproducible here, so this test only guards the settle step.
        let s = scenario(
            r#"
nodes:
  lab: {bridges: {br0: {}}, macvlans: {mv0: {parent: br0}}}
  peer: {bridges: {brx: {}}}
links:
  - veth: [lab:p0@br0, peer:eth0]
"#,
        );
        on_runtime(async {
            for _ in 0..20 {
                let topology = build(&s).await.unwrap();
                // A dump, as the report takes: it does not apply pending changes.
                for name in ["br0", "mv0"] {
                    let dump = link(&topology, "lab", name).await;
                    assert_eq!(dump.oper_state, "UP", "{name}: {dump:?}");
                }
                topology.teardown().await;
            }
        });
    }

    #[test]
    fn bridge_with_two_enslaved_veth_ends() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes:
  host:
    bridges:
      mybr0: {addresses: [172.18.0.1/16]}
      stp0: {stp: true, ageing_time: 12.5s, group_fwd_mask: 0x4000, nf_call_iptables: true, nf_call_arptables: false}
  netns_A: {routes: ["default via 172.18.0.1"]}
  netns_B: {}
  loop: {bridges: {br0: {}}}
links:
  - veth: [netns_A:eth0 172.18.0.2/16, host:vethA@mybr0]
  - veth: [netns_B:eth0 172.18.0.3/16, host:vethB@mybr0]
  - veth: [loop:veth0@br0 192.0.2.101/24, loop:veth1 192.0.2.102/24]
"#,
            );
            on_runtime(async {
                let topology = build(&s).await.unwrap();
                let bridge = link(&topology, "host", "mybr0").await;
                assert_eq!(bridge.kind.as_deref(), Some("bridge"));
                assert_eq!(bridge.mac, Some(stable_mac("host", "mybr0")), "not the lowest port's MAC");
                assert_eq!(bridge.addresses, ["172.18.0.1/16".parse::<IpNet>().unwrap()]);
                assert!(bridge.admin_up);
                for port in ["vethA", "vethB"] {
                    let port = link(&topology, "host", port).await;
                    assert_eq!(port.master.as_deref(), Some("mybr0"), "{port:?}");
                    assert!(port.admin_up && port.addresses.is_empty());
                }
                let handle = &topology.nodes["host"].netlink;
                let InfoData::Bridge(plain) = info_data(handle, "mybr0").await else { panic!("not a bridge") };
                assert!(plain.contains(&InfoBridge::StpState(BridgeStpState::Disabled)), "{plain:?}");
                let InfoData::Bridge(stp) = info_data(handle, "stp0").await else { panic!("not a bridge") };
                assert!(stp.contains(&InfoBridge::StpState(BridgeStpState::KernelStp)), "{stp:?}");
                // Bridge options given at birth, in the kernel's units (centiseconds).
                for option in [
                    InfoBridge::AgeingTime(1250),
                    InfoBridge::GroupFwdMask(0x4000),
                    InfoBridge::NfCallIpTables(true),
                    InfoBridge::NfCallArpTables(false),
                ] {
                    assert!(stp.contains(&option), "{option:?} not in {stp:?}");
                }
                assert!(plain.contains(&InfoBridge::AgeingTime(30000)), "the kernel's default: {plain:?}");
                // Both ends of a pair in one node (the write-up's bridge experiment).
                let veth0 = link(&topology, "loop", "veth0").await;
                let veth1 = link(&topology, "loop", "veth1").await;
                assert_eq!((veth0.master.as_deref(), veth1.master), (Some("br0"), None));
                assert!(veth0.carrier && veth1.carrier, "each end sees the other up");
                let default = lookup(&topology, "netns_A", "203.0.113.2").await;
                assert_eq!((default.via, default.dev.as_deref()), (Some("172.18.0.1".parse().unwrap()), Some("eth0")));
                assert_eq!(topology.ifindex("host", "mybr0").await.unwrap(), bridge.index);
                assert!(topology.ifindex("host", "nope").await.is_err());
                assert!(topology.ifindex("nobody", "lo").await.unwrap_err().to_string().contains("no such node"));
            });
        });
    }

    #[test]
    fn vxlan_macvlan_and_tap_on_a_lan() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes:
  host1:
    bridges: {br-vxlan: {}}
    vxlans:
      vxlan100: {id: 100, remote: 192.168.5.148, local: 192.168.5.149, dev: eth0, master: br-vxlan}
    macvlans:
      mv0: {parent: eth0, mode: private, addresses: [198.51.100.5/24]}
    taps:
      tap0: {mtu: 1400, addresses: [198.51.100.129/25]}
    fdb:
      - 00:00:00:00:00:00 dev vxlan100 dst 192.168.5.147
  host2: {}
links:
  - veth: [host1:eth0 192.168.5.149/24, host2:eth0 192.168.5.148/24]
"#,
            );
            let cookies = on_runtime(async {
                let topology = build(&s).await.unwrap();
                let handle = &topology.nodes["host1"].netlink;
                let vxlan = link(&topology, "host1", "vxlan100").await;
                assert_eq!((vxlan.kind.as_deref(), vxlan.mtu), (Some("vxlan"), 1450), "dev MTU - 50");
                assert_eq!(vxlan.master.as_deref(), Some("br-vxlan"));
                assert_eq!(vxlan.mac, Some(stable_mac("host1", "vxlan100")));
                let eth0 = topology.ifindex("host1", "eth0").await.unwrap();
                let InfoData::Vxlan(info) = info_data(handle, "vxlan100").await else { panic!("not a vxlan") };
                for expected in [
                    InfoVxlan::Id(100),
                    InfoVxlan::Port(4789),
                    InfoVxlan::Group("192.168.5.148".parse().unwrap()),
                    InfoVxlan::Local("192.168.5.149".parse().unwrap()),
                    InfoVxlan::Link(eth0),
                    InfoVxlan::Learning(true),
                ] {
                    assert!(info.contains(&expected), "{expected:?} missing from {info:?}");
                }

                // The remote given at creation and the appended one share the all-zero MAC.
                let vxlan_index = topology.ifindex("host1", "vxlan100").await.unwrap();
                let mut remotes: Vec<IpAddr> = handle
                    .neighbours()
                    .get()
                    .set_address_family(AddressFamily::Bridge)
                    .execute()
                    .try_collect::<Vec<_>>()
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|n| n.header.ifindex == vxlan_index)
                    .filter(|n| n.attributes.contains(&NeighbourAttribute::LinkLayerAddress(vec![0; 6])))
                    .filter_map(|n| {
                        // In AF_BRIDGE messages netlink-packet-route cannot tell the
                        // address family of NDA_DST and hands over raw bytes.
                        n.attributes.iter().find_map(|a| match a {
                            NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => {
                                <[u8; 4]>::try_from(bytes.as_slice()).ok().map(IpAddr::from)
                            }
                            _ => None,
                        })
                    })
                    .collect();
                remotes.sort();
                assert_eq!(remotes, ["192.168.5.147".parse::<IpAddr>().unwrap(), "192.168.5.148".parse().unwrap()]);

                let macvlan = link(&topology, "host1", "mv0").await;
                assert_eq!(macvlan.kind.as_deref(), Some("macvlan"));
                let InfoData::MacVlan(info) = info_data(handle, "mv0").await else { panic!("not a macvlan") };
                assert!(info.contains(&InfoMacVlan::Mode(MacVlanMode::Private)), "{info:?}");
                let raw = handle.link().get().match_name("mv0").execute().try_next().await.unwrap().unwrap();
                assert!(raw.attributes.contains(&LinkAttribute::Link(eth0)), "on top of eth0");
                assert_eq!(macvlan.mac, Some(stable_mac("host1", "mv0")));
                assert_eq!(macvlan.addresses, ["198.51.100.5/24".parse::<IpNet>().unwrap()]);

                let tap = link(&topology, "host1", "tap0").await;
                assert_eq!((tap.kind.as_deref(), tap.mtu), (Some("tun"), 1400));
                assert_eq!(tap.mac, Some(stable_mac("host1", "tap0")));
                assert!(tap.admin_up && tap.carrier, "the held fd gives the tap its carrier: {tap:?}");
                assert!(topology.nodes["host1"].tap("tap0").is_some());
                let cookies = built_cookies();
                // Dropped without teardown(): the netlink tasks are aborted and end
                // with the runtime; the tap fds close at once.
                drop(topology);
                cookies
            });
            assert_released(&cookies);
        });
    }

    #[test]
    fn macvlans_over_a_parent_in_another_node_are_born_in_theirs() {
        needs_root!();
        leaving_root_alone(|| {
            // Each macvlan has the name of its parent: created in the host with that
            // name, the kernel would refuse it.
            let s = scenario(
                r#"
nodes:
  host: {}
  peer: {}
  c1: {macvlans: {eth0: {parent: "host:eth0", mode: vepa, addresses: [192.0.2.11/24]}}}
  c2: {macvlans: {eth0: {parent: "host:eth0"}}}
links:
  - veth: [host:eth0, peer:eth0]
"#,
            );
            let cookies = on_runtime(async {
                let topology = build(&s).await.unwrap();
                for node in ["c1", "c2"] {
                    let macvlan = link(&topology, node, "eth0").await;
                    assert_eq!(macvlan.kind.as_deref(), Some("macvlan"), "{node}");
                    assert_eq!(macvlan.mac, Some(stable_mac(node, "eth0")), "{node}");
                    assert!(macvlan.admin_up && macvlan.carrier, "{node}: up with its parent's carrier: {macvlan:?}");
                }
                let handle = &topology.nodes["c1"].netlink;
                let InfoData::MacVlan(info) = info_data(handle, "eth0").await else { panic!("not a macvlan") };
                assert!(info.contains(&InfoMacVlan::Mode(MacVlanMode::Vepa)), "{info:?}");
                let raw = handle.link().get().match_name("eth0").execute().try_next().await.unwrap().unwrap();
                assert!(
                    raw.attributes.iter().any(|a| matches!(a, LinkAttribute::LinkNetNsId(_))),
                    "its parent is in another namespace: {raw:?}"
                );
                let host = netlink::links(&topology.nodes["host"].netlink).await.unwrap();
                let kinds: Vec<_> = host.iter().map(|l| (l.name.as_str(), l.kind.as_deref())).collect();
                assert_eq!(kinds, [("eth0", Some("veth")), ("lo", Some("loopback"))], "nothing left in the host");
                let cookies = built_cookies();
                drop(topology);
                cookies
            });
            assert_released(&cookies);
        });
    }

    #[test]
    fn routes_rules_and_neighbours() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes:
  r:
    routes:
      - default via 10.1.1.1
      - 10.2.0.0/16 via 10.1.1.1 table 100 metric 10
      - blackhole 10.9.0.0/16
      - unreachable 10.8.0.0/16
      - 198.51.100.0/24 dev eth0 src 10.1.1.2 mtu 1400
      - 2001:db8:1::/48 via 2001:db8::1
    rules: ["from 10.1.1.0/24 table 100 priority 100"]
    neighbours: ["10.1.1.1 lladdr 02:00:00:00:00:01 dev eth0"]
  gw: {}
links:
  - veth: [r:eth0 10.1.1.2/24 2001:db8::2/64, gw:eth0 10.1.1.1/24 2001:db8::1/64]
"#,
            );
            on_runtime(async {
                let topology = build(&s).await.unwrap();
                let handle = &topology.nodes["r"].netlink;
                let mut routes = netlink::routes(handle).await.unwrap();
                // `::1 dev lo` is there or not depending on the baseline's IPv6 settings.
                routes.retain(|r| !r.ends_with("dev lo proto kernel metric 256"));
                assert_eq!(
                    routes,
                    [
                        "default via 10.1.1.1 dev eth0",
                        "10.1.1.0/24 dev eth0 proto kernel scope link src 10.1.1.2",
                        "unreachable 10.8.0.0/16",
                        "blackhole 10.9.0.0/16",
                        "198.51.100.0/24 dev eth0 scope link src 10.1.1.2 mtu 1400",
                        "10.2.0.0/16 via 10.1.1.1 dev eth0 table 100 metric 10",
                        "2001:db8::/64 dev eth0 proto kernel metric 256",
                        "2001:db8:1::/48 via 2001:db8::1 dev eth0 metric 1024",
                    ]
                );
                let refused = |dst: &'static str| async move {
                    netlink::route_get(handle, dst.parse().unwrap()).await.unwrap_err().to_string()
                };
                assert_eq!(refused("10.9.0.1").await, "look up route to 10.9.0.1: blackhole route (Invalid argument)");
                assert_eq!(
                    refused("10.8.0.1").await,
                    "look up route to 10.8.0.1: unreachable route (No route to host)"
                );
                let out = lookup(&topology, "r", "203.0.113.7").await;
                assert_eq!(out.to_string(), "via 10.1.1.1 dev eth0 src 10.1.1.2");
                assert_eq!(
                    out,
                    RouteLookup {
                        kind: LookupKind::Unicast,
                        dev: Some("eth0".into()),
                        via: Some("10.1.1.1".parse().unwrap()),
                        src: Some("10.1.1.2".parse().unwrap()),
                    }
                );
                assert_eq!(lookup(&topology, "r", "2001:db8:1::5").await.via, Some("2001:db8::1".parse().unwrap()));

                let rules =
                    handle.rule().get(rtnetlink::IpVersion::V4).execute().try_collect::<Vec<_>>().await.unwrap();
                let rule = rules
                    .iter()
                    .find(|r| r.attributes.contains(&RuleAttribute::Priority(100)))
                    .expect("rule 100 exists");
                assert_eq!((rule.header.table, rule.header.src_len), (100, 24));
                assert!(rule.attributes.contains(&RuleAttribute::Source("10.1.1.0".parse().unwrap())));

                let neighbours = handle.neighbours().get().execute().try_collect::<Vec<_>>().await.unwrap();
                let gateway = neighbours
                    .iter()
                    .find(|n| {
                        n.attributes.contains(&NeighbourAttribute::Destination(NeighbourAddress::Inet(
                            "10.1.1.1".parse().unwrap(),
                        )))
                    })
                    .expect("static neighbour exists");
                assert_eq!(gateway.header.state, NeighbourState::Permanent);
                assert!(gateway.attributes.contains(&NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 0, 1])));
                topology.teardown().await;
            });
        });
    }

    #[test]
    fn scenario_settings_override_the_defaults() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes:
  a:
    lo: down
    sysctl:
      net.ipv4.ip_forward: 1
      net.ipv4.conf.default.rp_filter: 2
      net.ipv4.conf.eth0.arp_ignore: 1
    interfaces:
      eth0: {mac: "02:00:00:00:0a:01", mtu: 1400}
      eth1: {state: down}
  b: {}
links:
  - veth: [a:eth0, b:eth0]
    mtu: 9000
  - veth: [a:eth1, b:eth1]
"#,
            );
            on_runtime(async {
                let topology = build(&s).await.unwrap();
                let eth0 = link(&topology, "a", "eth0").await;
                assert_eq!((eth0.mac.unwrap().to_string().as_str(), eth0.mtu), ("02:00:00:00:0a:01", 1400));
                assert_eq!(link(&topology, "b", "eth0").await.mtu, 9000);
                assert!(!link(&topology, "a", "eth1").await.admin_up);
                assert!(!link(&topology, "a", "lo").await.admin_up);
                assert!(link(&topology, "b", "lo").await.admin_up);
                let read = |key: &str| {
                    let path = format!("/proc/sys/{}", key.replace('.', "/"));
                    topology.nodes["a"].ns.run(|| std::fs::read_to_string(&path)).unwrap().trim().to_string()
                };
                assert_eq!(read("net.ipv4.ip_forward"), "1");
                assert_eq!(read("net.ipv4.conf.eth0.arp_ignore"), "1");
                assert_eq!(read("net.ipv4.conf.eth1.rp_filter"), "2", "conf.default was set before eth1 existed");
            });
        });
    }

    #[test]
    fn bridge_vlan_filtering_is_unsupported_and_leaves_nothing() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario("nodes: {sw: {bridges: {br0: {vlan_filtering: true}}}}");
            let cookies = on_runtime(async {
                let error = build(&s).await.err().expect("this kernel lacks vlan filtering");
                let BuildError::Unsupported { what, reason } = &error else { panic!("{error}") };
                assert_eq!(what, "bridge vlan_filtering");
                assert!(reason.starts_with("create bridge br0 in node sw: Operation not supported"), "{reason}");
                built_cookies()
            });
            assert_released(&cookies);
        });
    }

    #[test]
    fn unreachable_gateway_names_route_and_node_and_leaves_nothing() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes:
  host: {routes: ["10.0.0.0/8 via 10.1.1.1"]}
  other: {}
links:
  - veth: [host:eth0 192.0.2.1/24, other:eth0 192.0.2.2/24]
"#,
            );
            let cookies = on_runtime(async {
                let error = build(&s).await.err().expect("the gateway is not on any link");
                let BuildError::Kernel { what, error: message } = &error else { panic!("{error}") };
                assert_eq!(what, "add route 10.0.0.0/8 via 10.1.1.1 in node host");
                assert!(message.starts_with("Network is unreachable"), "{message}");
                built_cookies()
            });
            assert_eq!(cookies.len(), 2);
            assert_released(&cookies);
        });
    }

    #[test]
    fn no_veth_carries_frames_before_the_run_commands_are_done() {
        needs_root!();
        // A bridge port's settings made by a command (here: learning off) must hold
        // for the first frame, as must iptables rules or qdiscs: no veth may have a
        // carrier (both ends up) while any node's commands are still to run. The
        // check is on the kernel's state, not on a frame that may or may not happen
        // to be sent in between (an MLD report was learned in 2-6 of 20 builds).
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes:
  host:
    bridges: {br0: {}}
    run: ["bridge link set dev p0 learning off", "bridge link set dev p1 learning off"]
  a: {run: ["true"]}
  b: {}
links:
  - veth: [a:eth0 10.0.0.1/24 fd00::1/64, host:p0@br0]
  - veth: [b:eth0 10.0.0.2/24, host:p1@br0]
"#,
            );
            on_runtime(async {
                let topology = build(&s).await.unwrap();
                let seen = stand_ins::exec::LINKS_SEEN.with(|seen| seen.take());
                assert_eq!(seen.len(), 3, "one dump per command");
                for links in &seen {
                    for link in links.iter().filter(|l| l.kind.as_deref() == Some("veth")) {
                        assert!(!link.carrier, "{} carried frames before every command ran: {link:?}", link.name);
                    }
                }
                assert!(link(&topology, "host", "p0").await.carrier, "up after the commands");
                assert!(link(&topology, "a", "lo").await.admin_up, "lo comes up before the commands");
                topology.teardown().await;
            });
        });
    }

    #[test]
    fn failing_run_command_reports_status_and_output() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario(
                r#"
nodes:
  n:
    run:
      - ip link set lo mtu 1280
      - "echo to-stdout; echo to-stderr >&2; exit 3"
"#,
            );
            let cookies = on_runtime(async {
                let error = build(&s).await.err().expect("the second command fails");
                let BuildError::Command { node, command, status, output } = &error else { panic!("{error}") };
                assert_eq!((node.as_str(), command.as_str()), ("n", "echo to-stdout; echo to-stderr >&2; exit 3"));
                assert_eq!(status, "exit status: 3");
                assert_eq!(output, "to-stdout\nto-stderr\n");
                built_cookies()
            });
            assert_released(&cookies);
        });
    }

    #[test]
    fn a_dropped_topology_is_gone_once_its_runtime_is() {
        needs_root!();
        leaving_root_alone(|| {
            let s = scenario("nodes: {a: {taps: {tap0: {}}}, b: {}}");
            let cookies = on_runtime(async {
                let topology = build(&s).await.unwrap();
                drop(topology);
                built_cookies()
            });
            assert_released(&cookies);
        });
    }
}
