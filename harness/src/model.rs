//! The typed scenario model: what a scenario file says, after YAML parsing.
//!
//! Every string with a syntax of its own (addresses, routes, link endpoints, durations)
//! is parsed right here during deserialization, so a typo is reported by the YAML layer
//! with the file, line and column of the offending value. Cross references (a node name
//! in `from:`, an interface in `dev:`) are checked afterwards by `validate`, which needs
//! their locations: those fields are wrapped in [`Loc`].
//!
//! The model is also the source of the published JSON Schema (`netrig schema`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

pub use crate::location::Loc;
pub use crate::syntax::{ByteSize, Endpoint, FdbSpec, IfaceRef, IpPrefix, MacAddr, NeighSpec, RouteSpec, RuleSpec};

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
    /// The whole scenario is expected to fail (a known bug): the reason or a link.
    #[serde(default)]
    pub xfail: Option<String>,
    /// Fragments from `fixtures/` merged into this scenario, with parameters.
    #[serde(default)]
    pub include: Vec<crate::include::Include>,
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
    pub matrix: Option<crate::matrix::Matrix>,
    /// What the snapshotted report contains.
    #[serde(default)]
    pub report: ReportOptions,
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
    /// Settings for interfaces created elsewhere (e.g. veth ends from `links`).
    #[serde(default)]
    pub interfaces: BTreeMap<String, Iface>,
    /// Routes, in `ip route` syntax: `default via 10.0.0.1`, `10.2.0.0/16 dev eth0 metric 10 table 100`.
    #[serde(default)]
    pub routes: Vec<Loc<RouteSpec>>,
    /// Policy rules, in `ip rule` syntax: `from 10.0.0.0/8 table 100 priority 100`.
    #[serde(default)]
    pub rules: Vec<Loc<RuleSpec>>,
    /// Static neighbours: `10.0.0.5 lladdr 02:00:00:00:00:05 dev eth0`.
    #[serde(default)]
    pub neighbours: Vec<Loc<NeighSpec>>,
    /// Bridge forwarding entries: `00:00:00:00:00:00 dev vxlan100 dst 192.168.5.148`.
    #[serde(default)]
    pub fdb: Vec<Loc<FdbSpec>>,
    /// Commands run inside this node after the topology is built (iptables, nft, tc, ...).
    /// Each must exit 0; its output is shown when it does not.
    #[serde(default)]
    pub run: Vec<Loc<String>>,
    /// Listeners the harness keeps open in this node: `tcp/8080`, `udp/5353`, `tcp/10.0.0.2:80`.
    #[serde(default)]
    pub listen: Vec<Loc<ListenSpec>>,
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
    /// Bridge (in the same node) to enslave this interface to.
    #[serde(default)]
    pub master: Option<Loc<String>>,
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
    /// Underlying interface in the same node.
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

fn default_vxlan_port() -> u16 {
    4789
}
fn yes() -> bool {
    true
}

/// A macvlan device on top of a parent interface of the same node.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Macvlan {
    pub parent: Loc<String>,
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Private,
    Vepa,
    #[default]
    Bridge,
    Passthru,
    Source,
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
}

/// A listener the harness holds open inside a node.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct ListenSpec {
    pub proto: Proto,
    pub addr: Option<IpAddr>,
    pub port: u16,
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
        let (proto, rest) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected `tcp/PORT`, `udp/PORT` or `tcp/ADDR:PORT`"))?;
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
crate::syntax::deserialize_from_str!(ListenSpec);

/// One step of a scenario: actions in order, then assertions.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What this step shows, e.g. "ping over veth0 fails".
    #[serde(default)]
    pub name: Option<String>,
    /// Changes applied in order before the assertions.
    #[serde(default, rename = "do")]
    pub actions: Vec<Action>,
    /// Interfaces captured during this step (for the report), besides those that
    /// packet assertions capture anyway.
    #[serde(default)]
    pub capture: Vec<Loc<IfaceRef>>,
    #[serde(default)]
    pub expect: Vec<Check>,
}

/// A change to the running topology.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `{dev: node:iface, address: 10.0.0.1/24}`
    AddAddress(AddressAction),
    DelAddress(AddressAction),
    /// `{address: 1.2.3.101/24, from: ns:veth0, to: ns:br0}` (same node)
    MoveAddress(MoveAddress),
    /// `{on: node, route: "20.1.1.0/24 via 172.32.0.12"}`
    AddRoute(RouteAction),
    DelRoute(RouteAction),
    AddNeighbour(NeighAction),
    DelNeighbour(NeighAction),
    AddFdb(FdbAction),
    DelFdb(FdbAction),
    /// `{dev: node:iface, state: down}`
    SetLink(SetLink),
    /// `{dev: node:veth0, master: br0}` or `master: null` to detach.
    SetMaster(SetMaster),
    /// `{on: node, set: {net.ipv4.ip_forward: 1}}`
    Sysctl(SysctlAction),
    /// `{on: node, cmd: "iptables -P FORWARD DROP"}`
    Run(RunAction),
    /// `{dev: node:iface, arp: {op: reply, sender_ip: 10.0.0.9}}`: a crafted frame sent
    /// out of the interface.
    Send(SendAction),
    /// `{into: node:iface, pcap: garp.pcap}`: the frames of a pcap file from `fixtures/`
    /// sent out of the interface, in order.
    Replay(ReplayAction),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressAction {
    pub dev: Loc<IfaceRef>,
    #[schemars(with = "String")]
    pub address: Loc<IpNet>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveAddress {
    #[schemars(with = "String")]
    pub address: Loc<IpNet>,
    pub from: Loc<IfaceRef>,
    pub to: Loc<IfaceRef>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteAction {
    pub on: Loc<String>,
    pub route: Loc<RouteSpec>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NeighAction {
    pub on: Loc<String>,
    pub neighbour: Loc<NeighSpec>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FdbAction {
    pub on: Loc<String>,
    pub fdb: Loc<FdbSpec>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLink {
    pub dev: Loc<IfaceRef>,
    #[serde(default)]
    pub state: Option<LinkState>,
    #[serde(default)]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMaster {
    pub dev: Loc<IfaceRef>,
    /// Bridge in the same node, or null to detach.
    pub master: Option<Loc<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SysctlAction {
    pub on: Loc<String>,
    pub set: BTreeMap<String, SysctlValue>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunAction {
    pub on: Loc<String>,
    pub cmd: Loc<String>,
}

/// A frame built from fields and written to an `AF_PACKET` socket bound to `dev` inside
/// its node: it leaves through `dev` as if the node had sent it, so what is at the other
/// end (the veth peer, the bridge) receives it. The node's own IP stack never sees it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendAction {
    /// `node:iface` the frame leaves through (an Ethernet interface).
    pub dev: Loc<IfaceRef>,
    /// An ARP packet for IPv4 over Ethernet.
    pub arp: ArpFrame,
}

/// An ARP packet. Only `sender_ip` is needed: with the defaults it is a gratuitous ARP
/// request (an announcement: "sender_ip is at sender_mac", to everyone) from the
/// interface's own MAC.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArpFrame {
    /// `request` (default) or `reply`.
    #[serde(default)]
    pub op: ArpOp,
    pub sender_ip: Ipv4Addr,
    /// Default: the Ethernet source.
    #[serde(default)]
    pub sender_mac: Option<MacAddr>,
    /// Default: `sender_ip`, which makes the packet gratuitous.
    #[serde(default)]
    pub target_ip: Option<Ipv4Addr>,
    /// Default: 00:00:00:00:00:00 in a request; in a reply, `sender_mac` when it is
    /// gratuitous (as Linux requires of a gratuitous reply), else the Ethernet destination.
    #[serde(default)]
    pub target_mac: Option<MacAddr>,
    /// Default: the interface's own MAC.
    #[serde(default)]
    pub eth_src: Option<MacAddr>,
    /// Default: ff:ff:ff:ff:ff:ff, except for a reply that is not gratuitous and has a
    /// `target_mac`: then that (a reply goes to the asker).
    #[serde(default)]
    pub eth_dst: Option<MacAddr>,
}

impl ArpFrame {
    /// "Gratuitous" (an announcement): sender and target address are the same.
    pub fn is_gratuitous(&self) -> bool {
        self.target_ip.is_none_or(|t| t == self.sender_ip)
    }
}

/// The frames of a pcap savefile (Ethernet link type), sent out of `into` one after the
/// other, as fast as the socket takes them: the file's timestamps are not replayed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayAction {
    /// `node:iface` the frames leave through (an Ethernet interface).
    pub into: Loc<IfaceRef>,
    /// File name of the capture in a `fixtures/` directory next to the scenario file
    /// or above it (e.g. `garp-10.0.0.9.pcap`).
    pub pcap: Loc<String>,
    /// Where `pcap` was found; filled in when the scenario is loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub path: Option<PathBuf>,
}

/// One assertion. Every kind accepts `xfail: "reason"`: the assertion is expected
/// not to hold (a known bug); it then passes while failing and fails when it holds.
// Checks are parsed once and never moved in a hot path: the size spread between
// variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// ICMP echo from a node to an address, in-process (no `ping` binary).
    Ping(PingCheck),
    /// TCP connect from a node to `addr:port`.
    Connect(ConnectCheck),
    /// A command inside a node: exit status and output.
    Command(CommandCheck),
    /// The kernel's route lookup for a destination inside a node.
    Route(RouteCheck),
    /// A sysctl value inside a node.
    Sysctl(SysctlCheck),
    /// Packets captured on `node:iface` during the step.
    Packets(PacketCheck),
    /// A UDP datagram from a node to `addr:port` and its echo from a `listen: [udp/PORT]`
    /// listener.
    Udp(UdpCheck),
    /// A TCP transfer of `bytes` to a `listen: [tcp/PORT]` listener, which must count
    /// exactly that many.
    Tcp(TcpCheck),
    /// An entry of a node's neighbour table (ARP, NDP), as `ip neighbour` shows it.
    Neighbour(NeighbourCheck),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingCheck {
    pub from: Loc<String>,
    pub to: Loc<IpAddr>,
    /// Echo requests to send (default 1). Success means every one was answered.
    #[serde(default = "one")]
    pub count: u32,
    /// How long to wait for each reply. Defaults: 2 s when a reply is expected (it
    /// normally arrives in well under a millisecond, so success returns at once),
    /// 200 ms when the ping is expected to fail.
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    /// Source address (must be on the node).
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// Send out of this interface (`ping -I dev`: SO_BINDTODEVICE).
    #[serde(default)]
    pub dev: Option<String>,
    /// The ping is expected to get no reply.
    #[serde(default)]
    pub fails: bool,
    #[serde(default)]
    pub xfail: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectCheck {
    pub from: Loc<String>,
    /// `addr:port` (`[v6]:port` for IPv6).
    pub to: Loc<std::net::SocketAddr>,
    /// Expected outcome (default `connected`).
    #[serde(default)]
    pub result: ConnectResult,
    /// Deadline for the attempt (default 2 s when connecting is expected, 200 ms otherwise).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectResult {
    #[default]
    Connected,
    Refused,
    Unreachable,
    Timeout,
}

/// One datagram to a listener that echoes it (`listen: [udp/PORT]` in the target node).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UdpCheck {
    pub from: Loc<String>,
    /// `addr:port` (`[v6]:port` for IPv6).
    pub to: Loc<std::net::SocketAddr>,
    /// The datagram's content (default `netrig`); the echo must be identical.
    #[serde(default = "default_payload")]
    pub payload: String,
    /// Deadline for the echo (default 2 s when it is expected, 200 ms otherwise).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    /// No echo is expected (ICMP port unreachable, or silence until the deadline).
    #[serde(default)]
    pub fails: bool,
    #[serde(default)]
    pub xfail: Option<String>,
}

fn default_payload() -> String {
    "netrig".into()
}

/// Connect, send `bytes`, close the sending side; the listener (`listen: [tcp/PORT]` in
/// the target node) answers with how many bytes it received.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    pub from: Loc<String>,
    /// `addr:port` (`[v6]:port` for IPv6).
    pub to: Loc<std::net::SocketAddr>,
    /// How much to send: `1048576`, `64KiB`, `1MiB`, `10MB`.
    pub bytes: Loc<ByteSize>,
    /// Deadline for the whole transfer. Default: 2 s plus 1 s per 64 MiB when it is
    /// expected to complete, 200 ms otherwise.
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    /// The transfer is expected not to complete (refused, cut, or stalled).
    #[serde(default)]
    pub fails: bool,
    #[serde(default)]
    pub xfail: Option<String>,
}

/// What a node's neighbour table holds for `ip` (on `dev`).
///
/// Expected entries are waited for: the check watches the table's change notifications
/// until the entry is as described or the deadline passes, so a frame the kernel is
/// still processing when the check starts is not a false failure. `absent` is decided
/// at once.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NeighbourCheck {
    pub on: Loc<String>,
    pub ip: Loc<IpAddr>,
    /// Interface of the entry (any interface when omitted).
    #[serde(default)]
    pub dev: Option<Loc<String>>,
    /// Expected link-layer address.
    #[serde(default)]
    pub lladdr: Option<MacAddr>,
    /// Expected state, as `ip neighbour` names it.
    #[serde(default)]
    pub state: Option<NudState>,
    /// The table has no entry for `ip` (on `dev`).
    #[serde(default)]
    pub absent: bool,
    /// How long to wait for the entry (default 2 s).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<String>,
}

/// Neighbour Unreachability Detection state of a neighbour entry (`NUD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NudState {
    /// Being resolved: a request was sent, no answer yet.
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    /// Resolution failed.
    Failed,
    Noarp,
    Permanent,
    /// No state (an entry being created or removed).
    None,
}

impl fmt::Display for NudState {
    /// In capitals, as `ip neighbour` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The variants are named after the kernel's NUD_* constants.
        f.write_str(&format!("{self:?}").to_uppercase())
    }
}

/// As written in a scenario: `refused`, `timeout`, ...
impl fmt::Display for ConnectResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectResult::Connected => "connected",
            ConnectResult::Refused => "refused",
            ConnectResult::Unreachable => "unreachable",
            ConnectResult::Timeout => "timeout",
        })
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandCheck {
    pub on: Loc<String>,
    pub run: Loc<String>,
    /// Expected exit status (default 0); `nonzero` accepts any failure.
    #[serde(default)]
    pub exit: ExitExpect,
    /// Regular expression stdout must match.
    #[serde(default)]
    pub stdout: Option<Loc<String>>,
    #[serde(default)]
    pub xfail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "serde_json::Value")]
pub enum ExitExpect {
    Code(i32),
    Nonzero,
}

impl Default for ExitExpect {
    fn default() -> Self {
        ExitExpect::Code(0)
    }
}

impl<'de> Deserialize<'de> for ExitExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(i32),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Code(c) => Ok(ExitExpect::Code(c)),
            Raw::Word(w) if w == "nonzero" => Ok(ExitExpect::Nonzero),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}`: expected an exit code or `nonzero`"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCheck {
    pub on: Loc<String>,
    pub to: Loc<IpAddr>,
    /// Expected output interface.
    #[serde(default)]
    pub dev: Option<String>,
    /// Expected gateway.
    #[serde(default)]
    pub via: Option<IpAddr>,
    /// The lookup is expected to fail (no route / unreachable).
    #[serde(default)]
    pub unreachable: bool,
    #[serde(default)]
    pub xfail: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SysctlCheck {
    pub on: Loc<String>,
    pub key: Loc<String>,
    pub value: SysctlValue,
    #[serde(default)]
    pub xfail: Option<String>,
}

/// Packets captured on one interface during the step, matched on decoded fields
/// and/or a BPF filter (tcpdump syntax).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketCheck {
    /// `node:iface`
    pub on: Loc<IfaceRef>,
    /// BPF filter in tcpdump syntax, applied in the kernel.
    #[serde(default)]
    pub filter: Option<Loc<String>>,
    /// Decoded fields every counted packet must have.
    #[serde(default, rename = "match")]
    pub matches: Option<PacketMatch>,
    /// Only packets in this direction (as the kernel reports it on that interface).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// At least one matching packet (default) or, with `false`, none.
    #[serde(default)]
    pub seen: Option<bool>,
    /// Exactly this many matching packets.
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub min: Option<u32>,
    #[serde(default)]
    pub max: Option<u32>,
    #[serde(default)]
    pub xfail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// Field matchers per layer; every given field must equal the decoded one.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketMatch {
    #[serde(default)]
    pub eth: Option<EthMatch>,
    #[serde(default)]
    pub arp: Option<ArpMatch>,
    #[serde(default)]
    pub ip: Option<IpMatch>,
    #[serde(default)]
    pub icmp: Option<IcmpMatch>,
    #[serde(default)]
    pub udp: Option<PortMatch>,
    #[serde(default)]
    pub tcp: Option<TcpMatch>,
    #[serde(default)]
    pub vxlan: Option<VxlanMatch>,
    /// The frame carried inside a tunnel (VXLAN).
    #[serde(default)]
    pub inner: Option<Box<PacketMatch>>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EthMatch {
    #[serde(default)]
    pub src: Option<MacAddr>,
    #[serde(default)]
    pub dst: Option<MacAddr>,
    /// `arp`, `ipv4`, `ipv6` or a number like `0x88cc`.
    #[serde(default, rename = "type")]
    pub ethertype: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArpMatch {
    /// `request` or `reply`.
    #[serde(default)]
    pub op: Option<ArpOp>,
    #[serde(default)]
    pub sender_ip: Option<IpAddr>,
    #[serde(default)]
    pub sender_mac: Option<MacAddr>,
    #[serde(default)]
    pub target_ip: Option<IpAddr>,
    #[serde(default)]
    pub target_mac: Option<MacAddr>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArpOp {
    #[default]
    Request,
    Reply,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpMatch {
    /// Source address or prefix.
    #[serde(default)]
    pub src: Option<IpPrefix>,
    /// Destination address or prefix.
    #[serde(default)]
    pub dst: Option<IpPrefix>,
    /// `icmp`, `icmpv6`, `tcp`, `udp` or a protocol number.
    #[serde(default)]
    pub proto: Option<String>,
    /// TTL (IPv4) or hop limit (IPv6).
    #[serde(default)]
    pub ttl: Option<u8>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IcmpMatch {
    /// `echo-request`, `echo-reply`, `dest-unreachable`, `time-exceeded`,
    /// `neighbor-solicitation`, ... or a number.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<u8>,
    #[serde(default)]
    pub id: Option<u16>,
    #[serde(default)]
    pub seq: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortMatch {
    #[serde(default)]
    pub src_port: Option<u16>,
    #[serde(default)]
    pub dst_port: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpMatch {
    #[serde(default)]
    pub src_port: Option<u16>,
    #[serde(default)]
    pub dst_port: Option<u16>,
    /// Flags that must be set, e.g. `SYN`, `SYN,ACK`, `RST`.
    #[serde(default)]
    pub flags: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VxlanMatch {
    #[serde(default)]
    pub vni: Option<u32>,
}

/// A duration written as `200ms`, `2s`, `1.5s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct Dur(pub Duration);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        humantime::parse_duration(s)
            .map(Dur)
            .map_err(|e| format!("`{s}`: {e} (write e.g. `200ms` or `2s`)"))
    }
}
crate::syntax::deserialize_from_str!(Dur);

impl Check {
    /// The `xfail` reason of this check, if any.
    pub fn xfail(&self) -> Option<&str> {
        match self {
            Check::Ping(c) => c.xfail.as_deref(),
            Check::Connect(c) => c.xfail.as_deref(),
            Check::Command(c) => c.xfail.as_deref(),
            Check::Route(c) => c.xfail.as_deref(),
            Check::Sysctl(c) => c.xfail.as_deref(),
            Check::Packets(c) => c.xfail.as_deref(),
            Check::Udp(c) => c.xfail.as_deref(),
            Check::Tcp(c) => c.xfail.as_deref(),
            Check::Neighbour(c) => c.xfail.as_deref(),
        }
    }
}
