//! The typed scenario model: what a scenario file says, after YAML parsing.
//!
//! Every string with a syntax of its own (addresses, routes, link endpoints, durations)
//! is parsed right here during deserialization, so a typo is reported by the YAML layer
//! with the file, line and column of the offending value. Cross references (a node name
//! in `from:`, an interface in `dev:`) are checked afterwards by `validate`, which needs
//! their locations: those fields are wrapped in [`Loc`].
//!
//! The model is also the source of the published JSON Schema (`netrig schema`).
//!
//! One module per part of a file: [`step`] for steps and their actions, [`check`] for
//! assertions and packet matchers; this one for the scenario, its nodes and links.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;

pub use crate::parse::location::Loc;
pub use crate::parse::syntax::{
    ByteSize, Endpoint, FdbSpec, IfaceRef, IpPrefix, MacAddr, NeighSpec, RouteSpec, RuleSpec,
};

mod bridge_options;
mod check;
mod device;
pub mod kernel;
mod link_actions;
mod packet;
mod qdisc;
mod service;
mod step;
mod step_action;
mod stream;

pub use bridge_options::*;
pub use check::*;
pub use device::*;
pub use link_actions::*;
pub use packet::*;
pub use qdisc::*;
pub use service::*;
pub use step::*;
pub use step_action::*;
pub use stream::*;

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; defaults to the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// One or two sentences: what this scenario shows.
    #[serde(default)]
    pub about: Option<String>,
    /// The whole scenario is expected to fail (a known bug): the reason or a link; or
    /// `{kernel: "<6.4", why: …}`: only on those kernels, where it legitimately differs.
    #[serde(default)]
    pub xfail: Option<kernel::Xfail>,
    /// Fragments from `fixtures/` merged into this scenario, with parameters.
    #[serde(default)]
    pub include: Vec<crate::parse::include::Include>,
    /// Network namespaces, by name. Every node is a namespace created by the run.
    #[serde(default)]
    pub nodes: BTreeMap<String, Loc<Node>>,
    /// Point-to-point links between nodes (veth pairs).
    #[serde(default)]
    pub links: Vec<Link>,
    /// Assertions checked once the topology is built (an implicit first step).
    #[serde(default)]
    pub expect: Vec<Check>,
    /// Ordered steps: actions that change the topology, then assertions.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Run the scenario once per row, with `${name}` replaced by the row's values.
    #[serde(default)]
    pub matrix: Option<crate::parse::matrix::Matrix>,
    /// What the snapshotted report contains.
    #[serde(default)]
    pub report: ReportOptions,
    /// The longest the whole run may take, build included (default `5m`, at most
    /// `1h`). A run that passes it fails, naming both; every timeout and the worst
    /// case of every ping must fit in it.
    #[serde(default)]
    pub deadline: Option<Loc<Dur>>,
}

impl Scenario {
    /// Without `deadline:`, a run may take this long.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5 * 60);
    /// The longest `deadline:` accepted: past it, a typo rather than a plan.
    pub const MAX_DEADLINE: Duration = Duration::from_secs(60 * 60);

    /// How long the whole run may take.
    pub fn deadline(&self) -> Duration {
        self.deadline.as_ref().map_or(Self::DEFAULT_DEADLINE, |d| d.0)
    }
}

/// Parts of the normalized report a scenario keeps in its snapshot.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportOptions {
    /// Snapshot the report at all (default true).
    #[serde(default = "yes")]
    pub snapshot: bool,
    /// The topology as the kernel reports it after the build (default true).
    #[serde(default = "yes")]
    pub topology: bool,
    /// Decoded packet summaries per captured interface (default true).
    #[serde(default = "yes")]
    pub packets: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { snapshot: true, topology: true, packets: true }
    }
}

/// One network namespace and what lives in it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Sysctls written inside this namespace, e.g. `net.ipv4.ip_forward: 1`.
    /// Keys naming an interface (`net.ipv4.conf.veth0.rp_filter`) are applied after
    /// the interfaces exist; all others before any interface is created.
    #[serde(default)]
    pub sysctl: BTreeMap<String, SysctlValue>,
    /// State of the loopback interface (default `up`).
    #[serde(default)]
    pub lo: LinkState,
    /// Linux bridges in this node.
    #[serde(default)]
    pub bridges: BTreeMap<String, Bridge>,
    /// VXLAN devices in this node.
    #[serde(default)]
    pub vxlans: BTreeMap<String, Vxlan>,
    /// macvlan devices in this node.
    #[serde(default)]
    pub macvlans: BTreeMap<String, Macvlan>,
    /// tun/tap devices in this node (kept alive for the run).
    #[serde(default)]
    pub taps: BTreeMap<String, Tap>,
    /// dummy devices in this node.
    #[serde(default)]
    pub dummies: BTreeMap<String, Dummy>,
    /// VLAN (802.1Q/802.1ad) sub-interfaces in this node.
    #[serde(default)]
    pub vlans: BTreeMap<String, Vlan>,
    /// VRF devices in this node.
    #[serde(default)]
    pub vrfs: BTreeMap<String, Vrf>,
    /// Settings for interfaces created elsewhere (e.g. veth ends from `links`).
    #[serde(default)]
    pub interfaces: BTreeMap<String, Iface>,
    /// Routes, in `ip route` syntax: `default via 10.0.0.1`, `10.2.0.0/16 dev eth0 metric 10 table 100`.
    #[serde(default)]
    pub routes: Vec<Loc<RouteSpec>>,
    /// Policy rules, in `ip rule` syntax: `from 10.0.0.0/8 table 100 priority 100`.
    #[serde(default)]
    pub rules: Vec<Loc<RuleSpec>>,
    /// Static neighbours: `10.0.0.5 lladdr 02:00:00:00:00:05 dev eth0`, or proxy entries
    /// answered for with the node's own MAC: `proxy fd00::b dev eth0`.
    #[serde(default)]
    pub neighbours: Vec<Loc<NeighSpec>>,
    /// Bridge forwarding entries: `00:00:00:00:00:00 dev vxlan100 dst 192.168.5.148`.
    #[serde(default)]
    pub fdb: Vec<Loc<FdbSpec>>,
    /// Commands run inside this node (iptables, nft, tc, bridge link set, ...) once every
    /// interface exists and is addressed, before any link carries a frame (links come up
    /// and routes are added after). Each must exit 0; its output is shown when it does not.
    #[serde(default)]
    pub run: Vec<Loc<String>>,
    /// Listeners the harness keeps open in this node: `tcp/8080`, `udp/5353`, `tcp/10.0.0.2:80`,
    /// or a TCP one that greets each connection: `{tcp: 2222, banner: "SSH-2.0-netrig\r\n"}`.
    #[serde(default)]
    pub listen: Vec<Loc<NodeListener>>,
    /// Daemons started in this node once the topology is built, in the order the file
    /// lists them across all nodes (each ready before the next starts), and killed with
    /// everything they started when the scenario ends.
    #[serde(default)]
    pub services: BTreeMap<String, Loc<Service>>,
}

/// A sysctl value as written in YAML (number or string).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SysctlValue {
    Int(i64),
    Text(String),
}

impl fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysctlValue::Int(i) => write!(f, "{i}"),
            SysctlValue::Text(s) => f.write_str(s),
        }
    }
}

/// Administrative state of an interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    #[default]
    Up,
    Down,
}

/// Settings every interface kind shares.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Iface {
    /// Addresses with prefix length, IPv4 or IPv6 (IPv6 is added without DAD).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Loc<IpNet>>,
    /// MTU in bytes.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// MAC address; by default a stable one derived from node and interface name.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// Administrative state (default `up`).
    #[serde(default)]
    pub state: LinkState,
    /// Bridge or VRF (in the same node) to enslave this interface to.
    #[serde(default)]
    pub master: Option<Loc<String>>,
    /// Bridge-port flags (`bridge link set dev IFACE learning off ...`), set over netlink
    /// once it is a port and before it comes up, so they hold from the first frame. Only
    /// for an interface with a master (`master:` or a veth end's `@bridge`).
    #[serde(default)]
    pub port: Option<BridgePortFlags>,
    /// Queueing discipline at the root of its egress (`{tbf: {rate: 10mbit, burst:
    /// 32KiB, latency: 50ms}}`), or `clsact`; set over netlink before any link comes up.
    #[serde(default)]
    pub qdisc: Option<Qdisc>,
    /// VLANs of this bridge port (its bridge has `vlan_filtering: true`); they replace
    /// the default membership (VLAN 1, pvid, untagged). Set before it comes up.
    #[serde(default)]
    pub vlans: Option<Vec<BridgeVlan>>,
}

/// A Linux bridge.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Loc<IpNet>>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    #[serde(default)]
    pub state: LinkState,
    /// Spanning tree protocol (default off).
    #[serde(default)]
    pub stp: bool,
    /// Multicast snooping. Off by default, unlike the kernel: when on, the bridge
    /// itself joins the all-snoopers groups and sends IGMP/MLD reports at random
    /// moments, which makes captures (and the ARP they trigger) differ between runs.
    #[serde(default)]
    pub multicast_snooping: bool,
    /// VLAN filtering (this kernel may not support it: reported as a skip).
    #[serde(default)]
    pub vlan_filtering: Option<bool>,
    /// VLANs of the bridge itself (`bridge vlan add dev BR vid ID self`), the bridge's
    /// own port towards its addresses and sub-interfaces; they replace its default
    /// membership (VLAN 1). Needs `vlan_filtering: true`.
    #[serde(default)]
    pub vlans: Option<Vec<BridgeVlan>>,
    /// How long a learned MAC stays without a frame from it (kernel default 300s);
    /// kept by the kernel in centiseconds, so at most two decimals of a second.
    #[serde(default)]
    pub ageing_time: Option<Dur>,
    /// Link-local groups 01:80:c2:00:00:0X forwarded rather than kept, one bit per X
    /// (`0x4000` forwards LLDP, X = 0xe); bits 0-2 (STP, pause, bonding) are refused.
    #[serde(default)]
    pub group_fwd_mask: Option<u16>,
    /// Bridged IPv4 frames traverse iptables (br_netfilter).
    #[serde(default)]
    pub nf_call_iptables: Option<bool>,
    /// Bridged IPv6 frames traverse ip6tables.
    #[serde(default)]
    pub nf_call_ip6tables: Option<bool>,
    /// Bridged ARP traverses arptables.
    #[serde(default)]
    pub nf_call_arptables: Option<bool>,
    /// Multicast options: querier, router, IGMP/MLD versions (with `multicast_snooping`).
    #[serde(default)]
    pub multicast: Option<BridgeMulticast>,
}

impl Bridge {
    /// `ageing_time` in the kernel's unit (USER_HZ, centiseconds), or why it has none.
    pub fn ageing_centiseconds(&self) -> Result<Option<u32>, String> {
        let Some(Dur(time)) = self.ageing_time else { return Ok(None) };
        let centis = time.as_millis() / 10;
        if time.as_millis() % 10 != 0 || time.subsec_nanos() % 1_000_000 != 0 {
            return Err(format!("{} is not a whole number of centiseconds", humantime::format_duration(time)));
        }
        u32::try_from(centis).map(Some).map_err(|_| format!("{} is too long", humantime::format_duration(time)))
    }
}

/// A VXLAN tunnel endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vxlan {
    /// VXLAN network identifier (VNI).
    pub id: u32,
    /// Unicast remote endpoint (omit for learning/multicast setups).
    #[serde(default)]
    pub remote: Option<IpAddr>,
    /// Local source address.
    #[serde(default)]
    pub local: Option<IpAddr>,
    /// UDP destination port (default 4789).
    #[serde(default = "default_vxlan_port")]
    pub dstport: u16,
    /// Underlying interface: of this node (`eth0`), or of another node (`host:eth0`),
    /// the vxlan then created there, its tunnel (UDP socket, routes to `remote`) in
    /// that node, and born in this one, as Docker's overlay network and CNI plugins
    /// make it.
    #[serde(default)]
    pub dev: Option<Loc<String>>,
    /// MAC learning (default on, as `ip link` does).
    #[serde(default = "yes")]
    pub learning: bool,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Loc<IpNet>>,
    /// MTU; the kernel picks dev MTU - 50 (e.g. 1450) when omitted.
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    #[serde(default)]
    pub state: LinkState,
    /// Bridge to enslave the vxlan device to.
    #[serde(default)]
    pub master: Option<Loc<String>>,
}

impl Vxlan {
    /// The node and interface of `dev`, for a vxlan of node `node` (see
    /// [`Macvlan::parent_of`]).
    pub fn dev_of<'a>(&'a self, node: &'a str) -> Option<(&'a str, &'a str)> {
        self.dev.as_ref().map(|dev| dev.split_once(':').unwrap_or((node, dev.as_str())))
    }
}

fn default_vxlan_port() -> u16 {
    4789
}
fn yes() -> bool {
    true
}

/// A macvlan device on top of a parent interface: of the same node (`lan0`), or of
/// another node (`host:lan0`), the macvlan then created there and born in this node,
/// as Docker's macvlan network and CNI plugins do.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Macvlan {
    /// `macvlan` (default), or `ipvlan`: addressed by IP and sharing its parent's MAC,
    /// as Docker's ipvlan network makes them.
    #[serde(default)]
    pub kind: MacvlanKind,
    /// `IFACE` of this node, or `NODE:IFACE` of another node.
    pub parent: Loc<String>,
    /// A macvlan's mode (`bridge`, `private`, `vepa`, `passthru`, `source`); an
    /// ipvlan's (`l2`, `l3`, `l3s`; or `bridge`, `private`, `vepa`: l2 with that flag).
    #[serde(default)]
    pub mode: MacvlanMode,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Loc<IpNet>>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    #[serde(default)]
    pub state: LinkState,
    #[serde(default)]
    pub master: Option<Loc<String>>,
}

impl Macvlan {
    /// The node and interface of the parent, for a macvlan of node `node`. An
    /// interface name cannot contain `:` (the kernel's `dev_valid_name`), so a colon
    /// always separates a node.
    pub fn parent_of<'a>(&'a self, node: &'a str) -> (&'a str, &'a str) {
        self.parent.split_once(':').unwrap_or((node, self.parent.as_str()))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanKind {
    #[default]
    Macvlan,
    Ipvlan,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Private,
    Vepa,
    #[default]
    Bridge,
    Passthru,
    Source,
    L2,
    L3,
    L3s,
}

impl MacvlanMode {
    /// Whether a device of `kind` has this mode (passthru and source are macvlan's
    /// alone, l2, l3 and l3s ipvlan's).
    pub fn fits(self, kind: MacvlanKind) -> bool {
        match self {
            MacvlanMode::Passthru | MacvlanMode::Source => kind == MacvlanKind::Macvlan,
            MacvlanMode::L2 | MacvlanMode::L3 | MacvlanMode::L3s => kind == MacvlanKind::Ipvlan,
            MacvlanMode::Private | MacvlanMode::Vepa | MacvlanMode::Bridge => true,
        }
    }
}

/// A tun (layer 3) or tap (layer 2) device.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tap {
    /// `tap` (default) or `tun`.
    #[serde(default)]
    pub mode: TapMode,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub addresses: Vec<Loc<IpNet>>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    #[serde(default)]
    pub state: LinkState,
    #[serde(default)]
    pub master: Option<Loc<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TapMode {
    #[default]
    Tap,
    Tun,
}

/// A veth pair; each end is `node:iface[@bridge] [address/prefix ...]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub veth: [Loc<Endpoint>; 2],
    /// MTU of both ends.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Transmit and receive queues of each end (`ip link add ... numtxqueues N
    /// numrxqueues N`), for multi-queue tests (XDP, RPS, `ethtool -L`). Default 1:
    /// the kernel would allocate one per CPU of the machine running the test, with
    /// one of them active, which makes the device depend on the machine.
    #[serde(default = "one_queue")]
    pub queues: NonZeroU32,
}

fn one_queue() -> NonZeroU32 {
    NonZeroU32::MIN
}

/// A listener the harness holds open inside a node.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct ListenSpec {
    pub proto: Proto,
    pub addr: Option<IpAddr>,
    pub port: u16,
}

/// A listener of a node: where it listens, and what it sends each TCP connection first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(try_from = "ListenWritten")]
#[schemars(with = "ListenWritten")]
pub struct NodeListener {
    pub spec: ListenSpec,
    pub banner: Option<String>,
}

/// The longest banner: one non-blocking send on a fresh connection takes it whole.
pub const BANNER_MAX: usize = 1024;

/// A node's listener as written.
#[derive(JsonSchema)]
#[serde(untagged)]
enum ListenWritten {
    /// `tcp/8080`, `udp/5353`, `tcp/10.0.0.2:80` (`tcp/[v6]:80`).
    Text(String),
    /// A TCP listener that sends `banner` on each connection as soon as it accepts it
    /// (then counts what it receives, like the others).
    Banner(BannerListener),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BannerListener {
    /// The port, or `ADDR:PORT` to listen on one address.
    tcp: PortOrAddress,
    /// What each connection receives first, e.g. `"SSH-2.0-netrig\r\n"` (at most 1024 bytes).
    banner: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum PortOrAddress {
    Port(u16),
    Address(String),
}

// By hand rather than `untagged`, so that a mistake in the map form is named (an
// unknown key, a missing banner) instead of "did not match any variant".
impl<'de> Deserialize<'de> for ListenWritten {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Written;
        impl<'de> serde::de::Visitor<'de> for Written {
            type Value = ListenWritten;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`tcp/PORT`, `udp/PORT`, `tcp/ADDR:PORT` or `{tcp: PORT, banner: TEXT}`")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ListenWritten, E> {
                Ok(ListenWritten::Text(text.into()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ListenWritten, A::Error> {
                let map = serde::de::value::MapAccessDeserializer::new(map);
                BannerListener::deserialize(map).map(ListenWritten::Banner)
            }
        }
        d.deserialize_any(Written)
    }
}

impl TryFrom<ListenWritten> for NodeListener {
    type Error = String;
    fn try_from(written: ListenWritten) -> Result<Self, String> {
        match written {
            ListenWritten::Text(text) => Ok(NodeListener { spec: text.parse()?, banner: None }),
            ListenWritten::Banner(BannerListener { tcp, banner }) => {
                let at = match tcp {
                    PortOrAddress::Port(port) => port.to_string(),
                    PortOrAddress::Address(address) => address,
                };
                if banner.is_empty() || banner.len() > BANNER_MAX {
                    return Err(format!("a banner has 1 to {BANNER_MAX} bytes; this one has {}", banner.len()));
                }
                Ok(NodeListener { spec: format!("tcp/{at}").parse()?, banner: Some(banner) })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl FromStr for ListenSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (proto, rest) =
            s.split_once('/').ok_or_else(|| format!("`{s}`: expected `tcp/PORT`, `udp/PORT` or `tcp/ADDR:PORT`"))?;
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => return Err(format!("`{other}`: protocol must be tcp or udp")),
        };
        if let Ok(port) = rest.parse::<u16>() {
            return Ok(ListenSpec { proto, addr: None, port });
        }
        let sa: std::net::SocketAddr =
            rest.parse().map_err(|_| format!("`{rest}`: expected PORT or ADDR:PORT ([v6]:PORT)"))?;
        Ok(ListenSpec { proto, addr: Some(sa.ip()), port: sa.port() })
    }
}
crate::parse::syntax::deserialize_from_str!(ListenSpec);

/// A duration written as `200ms`, `2s`, `1.5s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s).map(Dur).map_err(|e| format!("`{s}`: {e} (write e.g. `200ms` or `2s`)"))
    }
}
crate::parse::syntax::deserialize_from_str!(Dur);
