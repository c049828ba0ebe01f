//! Assertions: what a step checks, and the packet matchers of `packets` checks.

use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::*;

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
    /// A line of a service's output.
    Log(LogCheck),
    /// An entry of a bridge's or a VXLAN's forwarding database, or its absence.
    Fdb(FdbCheck),
    /// A counter the kernel keeps: a MIB counter or an interface statistic, its value
    /// or its change across the step.
    Counter(CounterCheck),
    /// Whether a socket in a node may bind an address and port, as the sysctls in force
    /// allow.
    Bind(BindCheck),
    /// A link's attributes as the kernel shows them (`ip -d link show`): state, MTU,
    /// master, bridge-port flags, VXLAN options, root qdisc.
    Link(LinkCheck),
    /// UDP datagrams at a rate for a time; the delivered rate, loss and jitter the
    /// receiver measured, within bounds.
    Stream(StreamCheck),
    /// Packets the kernel dropped in a node during the step so far, by its drop reason
    /// (seen by netrig's drop tracer), or with `seen: false` none.
    Dropped(DroppedCheck),
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingCheck {
    pub from: Loc<String>,
    pub to: Loc<IpAddr>,
    /// Echo requests to send (default 1, at least 1). Success means every one was
    /// answered, or as many as `answered` says.
    #[serde(default = "one")]
    #[schemars(range(min = 1), extend("default" = 1))]
    pub count: Loc<u32>,
    /// How long to wait for each reply. Defaults: 2 s when a reply is expected (it
    /// normally arrives in well under a millisecond, so success returns at once),
    /// 200 ms when the ping is expected to fail. Silence counts only once no node is
    /// resolving a neighbour: until then the wait goes on.
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    /// Source address (must be on the node).
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// Send out of this interface (`ping -I dev`: SO_BINDTODEVICE).
    #[serde(default)]
    pub dev: Option<String>,
    /// Bytes of ICMP data after the 8-byte header (`ping -s`; default 28).
    #[serde(default)]
    pub size: Option<Loc<u16>>,
    /// Path MTU discovery: `do`, `dont` or `want` (`ping -M`; default: the kernel's, want).
    #[serde(default)]
    pub pmtu: Option<Pmtu>,
    /// TTL (IPv4) or hop limit (IPv6) of the requests.
    #[serde(default)]
    pub ttl: Option<u8>,
    /// TOS byte (IPv4) or traffic class (IPv6) of the requests.
    #[serde(default)]
    pub tos: Option<u8>,
    /// Allow a broadcast destination (`ping -b`: SO_BROADCAST); without it the kernel
    /// refuses to send to one (EACCES).
    #[serde(default)]
    pub broadcast: bool,
    /// Least time from one request to the next (default: each as soon as the previous
    /// one is settled).
    #[serde(default)]
    pub interval: Option<Loc<Dur>>,
    /// Echo identifier of the requests (default 0x4e52).
    #[serde(default)]
    pub id: Option<u16>,
    /// Success with fewer replies than requests: `{at_least: 3}`.
    #[serde(default)]
    pub answered: Option<Loc<Answered>>,
    /// The ping is expected to get no reply: `true` whatever the cause, or the cause
    /// it must have.
    #[serde(default = "answered")]
    #[schemars(extend("default" = false))]
    pub fails: Loc<Fails>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

/// `fails: true` (no reply, whatever the cause; the report says which), or the cause
/// the failure must have: `{icmp: port-unreachable, from: 10.0.0.1}`,
/// `{error: ENETUNREACH}`, `{timeout: true}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Fails {
    Flag(bool),
    Because(FailCause),
}

impl Default for Fails {
    fn default() -> Self {
        Fails::Flag(false)
    }
}

impl Fails {
    /// Whether a failure is expected at all.
    pub fn expected(&self) -> bool {
        !matches!(self, Fails::Flag(false))
    }
}

/// How a request must fail. Give `error`, `icmp` (optionally with `from`) or `timeout`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailCause {
    /// The errno the kernel reported, by name: a send it refused (`ENETUNREACH`: no
    /// route; `EACCES`: a broadcast address), or the errno of an ICMP error
    /// (`EHOSTUNREACH`, `ECONNREFUSED`).
    #[serde(default)]
    pub error: Option<String>,
    /// An ICMP error about the request, by name: `net-unreachable`, `host-unreachable`,
    /// `port-unreachable`, `admin-prohibited`, `frag-needed`, `ttl-exceeded`, ... (ICMPv6:
    /// `no-route`, `address-unreachable`, `port-unreachable`, `packet-too-big`, ...), or
    /// a whole type: `dest-unreachable`, `time-exceeded`, `parameter-problem`.
    #[serde(default)]
    pub icmp: Option<String>,
    /// With `icmp`: the address the ICMP error came from.
    #[serde(default)]
    pub from: Option<IpAddr>,
    /// Silence: neither a reply nor an error, until the wait ended.
    #[serde(default)]
    pub timeout: bool,
}

fn answered() -> Loc<Fails> {
    Loc::unplaced(Fails::Flag(false))
}

fn one() -> Loc<u32> {
    Loc::unplaced(1)
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
    /// What the first line the server sends must start with (its banner, line end
    /// left out), read within the timeout: `SSH-2.0` for `SSH-2.0-netrig\r\n`.
    #[serde(default)]
    pub banner: Option<Loc<String>>,
    /// Deadline for the attempt (default 2 s when connecting is expected, 200 ms
    /// otherwise), the banner's line included.
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
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
    /// The datagram's content as hex bytes (`"de ad be ef"`), instead of `payload`.
    #[serde(default)]
    pub payload_hex: Option<HexBytes>,
    /// Source address of the datagram (an address of the node, unless
    /// `ip_nonlocal_bind` allows another).
    #[serde(default)]
    pub source: Option<Loc<IpAddr>>,
    /// Source port of the datagram (default: one the kernel picks).
    #[serde(default)]
    pub source_port: Option<u16>,
    /// Deadline for the echo (default 2 s when it is expected, 200 ms otherwise).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    /// No echo is expected: `true` whatever the cause (ICMP port unreachable, silence
    /// until the deadline...), or the cause it must have, as for `ping`.
    #[serde(default = "answered")]
    #[schemars(extend("default" = false))]
    pub fails: Loc<Fails>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
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
    pub xfail: Option<super::kernel::Xfail>,
}

/// What a node's neighbour table holds for `ip` (on `dev`).
///
/// Waited for in both directions: the check watches the table's change notifications
/// until the entry is as described (or, with `absent`, gone) or the deadline passes, so
/// a frame the kernel is still processing, or an entry it is still removing, when the
/// check starts is not a false failure.
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
    /// How long to wait for the entry to be as described, or to be gone (default 2 s).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

/// What a node's forwarding databases hold for `mac` (`bridge fdb show`): the bridges'
/// (`master`) and the devices' own (`self`: a VXLAN's remotes). Every given field must
/// match one entry. Waited for in both directions like `neighbour`, on the change
/// notifications: an entry being learned, or ageing out (give a `timeout` longer than
/// the bridge's `ageing_time`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FdbCheck {
    pub on: Loc<String>,
    pub mac: MacAddr,
    /// The interface the entry is on: a bridge port, the bridge itself, a VXLAN.
    #[serde(default)]
    pub dev: Option<Loc<String>>,
    /// Which table holds it: the bridge's the device is a port of (`master`), or the
    /// device's own (`self`).
    #[serde(default)]
    pub table: Option<FdbTable>,
    /// `permanent` (an address of the bridge itself, `local`), `static` (added, never
    /// ages) or `dynamic` (learned or added as such: ages out).
    #[serde(default)]
    pub state: Option<FdbEntryState>,
    /// Flags the entry must have (others may be set too).
    #[serde(default)]
    pub flags: Vec<FdbEntryFlag>,
    /// Remote endpoint of a VXLAN entry.
    #[serde(default)]
    pub dst: Option<IpAddr>,
    /// VNI of a VXLAN entry.
    #[serde(default)]
    pub vni: Option<u32>,
    #[serde(default)]
    pub vlan: Option<u16>,
    /// No entry for `mac` (on `dev`) at all.
    #[serde(default)]
    pub absent: bool,
    /// How long to wait for the entry to be as described, or to be gone (default 2 s).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

/// A link of a node as the kernel shows it over netlink (RTM_GETLINK, `ip -d link
/// show`). Only the fields given are compared; waited for on the link and qdisc change
/// notifications until they all hold or the check's time is up.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCheck {
    pub on: Loc<String>,
    pub dev: Loc<String>,
    /// The operational state (RFC 2863, IFLA_OPERSTATE) as `ip link` prints it, in
    /// lower case: `up`, `down`, `lowerlayerdown`, `unknown` (a device that tracks no
    /// carrier: `lo`, a vxlan), `dormant`, `notpresent`, `testing`.
    #[serde(default)]
    pub state: Option<OperState>,
    /// IFF_UP: set up administratively.
    #[serde(default)]
    pub up: Option<bool>,
    /// IFF_LOWER_UP: the carrier.
    #[serde(default)]
    pub carrier: Option<bool>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// The bridge it is a port of (IFLA_MASTER), or `none` for no master.
    #[serde(default)]
    pub master: Option<String>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// IFLA_INFO_KIND: `veth`, `bridge`, `vxlan`, `macvlan`, `tun`.
    #[serde(default)]
    pub kind: Option<String>,
    /// The kind of its root qdisc (IFLA_QDISC): `noqueue`, `pfifo_fast`, `tbf`...
    #[serde(default)]
    pub qdisc: Option<String>,
    /// Bridge-port flags of a bridge port (IFLA_BRPORT_*).
    #[serde(default)]
    pub port: Option<BridgePortFlags>,
    /// Options of a VXLAN (IFLA_VXLAN_*).
    #[serde(default)]
    pub vxlan: Option<VxlanOptions>,
    /// Options of a bridge itself (IFLA_BR_*).
    #[serde(default)]
    pub bridge: Option<BridgeOptions>,
    /// How long to wait for the link to be as described (default 2 s).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

/// An operational state (IF_OPER_*), in `ip link`'s words, lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OperState {
    Up,
    Down,
    LowerLayerDown,
    Unknown,
    Dormant,
    NotPresent,
    Testing,
}

impl fmt::Display for OperState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format!("{self:?}").to_lowercase())
    }
}

/// The flags of a bridge port, named as `bridge link set` names them. In a check, the
/// ones given must have that value; in an interface's `port:`, the ones given are set
/// (the others keep the kernel's defaults); read from the kernel, the ones it reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BridgePortFlags {
    /// Learns source MACs into the bridge's table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<bool>,
    /// Unknown unicast is flooded to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flood: Option<bool>,
    /// Unknown multicast is flooded to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_flood: Option<bool>,
    /// Broadcast is flooded to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcast_flood: Option<bool>,
    /// ARP and ND are answered by the bridge instead of flooded to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neigh_suppress: Option<bool>,
    /// Forwards only to and from non-isolated ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated: Option<bool>,
    /// Frames may be sent back out of the port they came in by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hairpin: Option<bool>,
    /// A BPDU received disables the port (IFLA_BRPORT_PROTECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpdu_guard: Option<bool>,
    /// It may not become a root port (IFLA_BRPORT_PROTECT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_block: Option<bool>,
    /// Answers ARP for addresses the bridge knows (proxy ARP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_arp: Option<bool>,
    /// Forwards only frames whose source MAC has a static entry on this port (802.1X).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// Its spanning-tree path cost (not a flag, but set and read like them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<u32>,
    /// Its spanning-tree priority, 0-63.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
    /// Its state: `disabled`, `listening`, `learning`, `forwarding`, `blocking`. Only in
    /// `set_port` and checks: the kernel refuses it on a port that is not up yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PortState>,
}

impl BridgePortFlags {
    /// Whether no flag is given.
    pub fn is_empty(&self) -> bool {
        *self == BridgePortFlags::default()
    }

    /// Why the kernel would refuse to set these (ERANGE for a priority above 63).
    pub fn unsettable(&self) -> Option<String> {
        self.priority.filter(|p| *p > 63).map(|p| format!("port priority {p} is out of range 0-63"))
    }
}

/// The flags given, as `bridge link set` writes them: `learning off isolated on`.
impl fmt::Display for BridgePortFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let serde_json::Value::Object(flags) = serde_json::to_value(self).map_err(|_| fmt::Error)? else {
            return Err(fmt::Error);
        };
        let words: Vec<String> = flags
            .iter()
            .map(|(name, value)| match (value.as_bool(), value.as_str()) {
                (Some(on), _) => format!("{name} {}", if on { "on" } else { "off" }),
                (None, Some(word)) => format!("{name} {word}"),
                (None, None) => format!("{name} {value}"),
            })
            .collect();
        f.write_str(&words.join(" "))
    }
}

/// The options of a VXLAN device, named as `ip link add type vxlan` names them. In a
/// check, the ones given must have that value; read from the kernel, the ones it
/// reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct VxlanOptions {
    /// The VNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// The unicast remote (IFLA_VXLAN_GROUP holding a unicast address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
    /// The multicast group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    /// The UDP destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dstport: Option<u16>,
    /// Learns remote MACs into its own forwarding table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<bool>,
    /// The outer TTL (0: inherited from the route, `ip` prints `ttl auto`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FdbTable {
    Master,
    #[serde(rename = "self")]
    OwnTable,
}

/// The state of a forwarding entry, in `bridge fdb`'s words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FdbEntryState {
    Permanent,
    Static,
    Dynamic,
}

/// Flags of a forwarding entry (`NTF_*`), in `bridge fdb`'s words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FdbEntryFlag {
    Sticky,
    Offloaded,
    ExternLearn,
    Router,
}

impl fmt::Display for FdbTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FdbTable::Master => "master",
            FdbTable::OwnTable => "self",
        })
    }
}

impl fmt::Display for FdbEntryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format!("{self:?}").to_lowercase())
    }
}

impl fmt::Display for FdbEntryFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FdbEntryFlag::Sticky => "sticky",
            FdbEntryFlag::Offloaded => "offloaded",
            FdbEntryFlag::ExternLearn => "extern_learn",
            FdbEntryFlag::Router => "router",
        })
    }
}

/// A counter of a node, read where the kernel keeps it: `mib` from the node's
/// `/proc/net/snmp`, `/proc/net/netstat` (`TcpExt.IPReversePathFilter`,
/// `IpExt.InNoRoutes`, `Icmp.OutRedirects`) or `/proc/net/snmp6` (`Ip6InNoRoutes`), or
/// `stat` of the interface `link` over netlink (IFLA_STATS64: `rx_packets`,
/// `tx_bytes`, `rx_dropped`, ...), or `qdisc`, a statistic of `link`'s root qdisc
/// (TCA_STATS2: `sent_packets`, `dropped`, `overlimits`, ...), or `nft`, an nftables
/// counter. Give `value` (the counter now) and/or `delta` (its
/// change since the step began, before its actions), each a number or `{min, max}`.
/// Read again, with a growing pause, until it holds or `timeout` passes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterCheck {
    pub on: Loc<String>,
    /// A MIB counter: `Prefix.Name` as in /proc/net/snmp and netstat, or the name of an
    /// /proc/net/snmp6 line.
    #[serde(default)]
    pub mib: Option<Loc<String>>,
    /// The interface whose `stat` is read.
    #[serde(default)]
    pub link: Option<Loc<String>>,
    /// An interface statistic, with `link`.
    #[serde(default)]
    pub stat: Option<Loc<LinkStat>>,
    /// A statistic of `link`'s root qdisc.
    #[serde(default)]
    pub qdisc: Option<Loc<QdiscStat>>,
    /// An nftables counter: a named counter, or the counter of a rule (iptables rules
    /// too: iptables-nft keeps them as nftables rules with a counter).
    #[serde(default)]
    pub nft: Option<Loc<NftCounter>>,
    #[serde(default)]
    pub value: Option<Amount>,
    #[serde(default)]
    pub delta: Option<Amount>,
    /// How long the counter may take to be as expected (default 2 s).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

/// A socket of `proto` bound to `address`:`port` in the node: it must succeed, or with
/// `error`, fail with that errno (`EADDRNOTAVAIL`: not a local address and
/// `ip_nonlocal_bind` is 0; `EADDRINUSE`; `EACCES`: a privileged port).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BindCheck {
    pub on: Loc<String>,
    pub address: Loc<IpAddr>,
    /// Default 0: any free port.
    #[serde(default)]
    pub port: u16,
    /// `tcp` (default) or `udp`.
    #[serde(default = "tcp")]
    pub proto: Proto,
    /// The errno name the bind must fail with.
    #[serde(default)]
    pub error: Option<Loc<String>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

fn tcp() -> Proto {
    Proto::Tcp
}

/// Which nftables counter: `{table: f, name: dropped}` (a named counter), or a rule's
/// by `chain` and one of `handle`, `comment` (nft's `comment "..."`) or `position`
/// (1 for the chain's first rule, as `iptables -L --line-numbers` counts; iptables
/// comments are an xt match the kernel does not show, so they cannot name a rule).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NftCounter {
    /// `ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev` (any family when omitted).
    #[serde(default)]
    pub family: Option<String>,
    pub table: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub chain: Option<String>,
    #[serde(default)]
    pub handle: Option<u64>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub position: Option<u32>,
    /// Count bytes instead of packets.
    #[serde(default)]
    pub bytes: bool,
}

impl fmt::Display for NftCounter {
    /// `nft ip nat POSTROUTING rule 1 packets`, `nft inet f counter dropped bytes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nft")?;
        if let Some(family) = &self.family {
            write!(f, " {family}")?;
        }
        write!(f, " {}", self.table)?;
        if let Some(name) = &self.name {
            write!(f, " counter {name}")?;
        }
        if let Some(chain) = &self.chain {
            write!(f, " {chain}")?;
        }
        if let Some(handle) = self.handle {
            write!(f, " handle {handle}")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, " comment {comment:?}")?;
        }
        if let Some(position) = self.position {
            write!(f, " rule {position}")?;
        }
        f.write_str(if self.bytes { " bytes" } else { " packets" })
    }
}

/// An expected amount: exactly a number, or within `{min, max}` (either may be left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Amount {
    Exactly(u64),
    Within {
        #[serde(default)]
        min: Option<u64>,
        #[serde(default)]
        max: Option<u64>,
    },
}

impl Amount {
    pub fn admits(self, n: u64) -> bool {
        match self {
            Amount::Exactly(want) => n == want,
            Amount::Within { min, max } => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Exactly(n) => write!(f, "= {n}"),
            Amount::Within { min: Some(a), max: Some(b) } => write!(f, "between {a} and {b}"),
            Amount::Within { min: Some(a), max: None } => write!(f, ">= {a}"),
            Amount::Within { min: None, max: Some(b) } => write!(f, "<= {b}"),
            Amount::Within { min: None, max: None } => f.write_str("any"),
        }
    }
}

/// The interface statistics of IFLA_STATS64, as `ip -s link` and `struct
/// rtnl_link_stats64` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStat {
    RxPackets,
    TxPackets,
    RxBytes,
    TxBytes,
    RxErrors,
    TxErrors,
    RxDropped,
    TxDropped,
    Multicast,
    Collisions,
}

/// The statistics of a qdisc (TCA_STATS2), as `tc -s qdisc` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QdiscStat {
    SentBytes,
    SentPackets,
    Dropped,
    Overlimits,
    Requeues,
    Backlog,
    Qlen,
}

impl fmt::Display for QdiscStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = serde_json::to_value(self).ok();
        f.write_str(words.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

impl fmt::Display for LinkStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = serde_json::to_value(self).ok();
        f.write_str(words.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
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
    /// Regular expression stdout must match somewhere, line by line: `^` and `$` anchor
    /// at the start and end of every line, so `^hi$` matches the `hi\n` of `echo hi`.
    #[serde(default)]
    pub stdout: Option<Loc<String>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

impl CommandCheck {
    /// The `stdout:` pattern as it is matched (see the field), or why it is not a regular
    /// expression. Validation and judging both compile it here, so what loads is what runs.
    pub fn stdout_regex(pattern: &str) -> Result<regex::Regex, regex::Error> {
        // Multi-line: command output ends with a newline, which a plain `$` would have to
        // match before, and a check usually means one line of it.
        regex::RegexBuilder::new(pattern).multi_line(true).build()
    }
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
            Raw::Word(w) => Err(serde::de::Error::custom(format!("`{w}`: expected an exit code or `nonzero`"))),
        }
    }
}

/// The kernel's route decision for a packet, asked as `ip route get` asks it (`to`,
/// `from`, `iif`, `oif`, `mark`, `tos`), and what it must be. Every given expectation
/// must hold; the check reads the decision again, with a growing pause, until they do
/// or `timeout` passes (a cached exception appears when an ICMP error is processed).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCheck {
    pub on: Loc<String>,
    pub to: Loc<IpAddr>,
    /// Source address of the packet (`from`).
    #[serde(default)]
    pub from: Option<IpAddr>,
    /// The packet arrives on this interface (`iif`): the decision for a packet to
    /// forward or deliver, with the input checks (forwarding, rp_filter); give `from`.
    #[serde(default)]
    pub iif: Option<Loc<String>>,
    /// The packet must leave through this interface (`oif`, as for a bound socket).
    #[serde(default)]
    pub oif: Option<Loc<String>>,
    /// Firewall mark of the packet (`mark`), for rules with `fwmark`.
    #[serde(default)]
    pub mark: Option<u32>,
    /// TOS byte of the packet (`tos`), for rules and routes with `tos`.
    #[serde(default)]
    pub tos: Option<u8>,
    /// IP protocol of the packet (`ipproto`), for rules with `ipproto`, `sport`, `dport`.
    #[serde(default)]
    pub ipproto: Option<LookupProtocol>,
    /// Source port of the packet (`sport`).
    #[serde(default)]
    pub sport: Option<u16>,
    /// Destination port of the packet (`dport`).
    #[serde(default)]
    pub dport: Option<u16>,
    /// Expected output interface.
    #[serde(default)]
    pub dev: Option<String>,
    /// Expected gateway.
    #[serde(default)]
    pub via: Option<IpAddr>,
    /// The lookup is expected to fail, whatever refused it (no route, an unreachable,
    /// prohibit or blackhole route). `type:` names the refusal.
    #[serde(default)]
    pub unreachable: bool,
    /// Expected route type: `unicast`, `local`, `broadcast`, `multicast`, `anycast`, or a
    /// route that refuses the packet: `unreachable`, `prohibit`, `blackhole`.
    #[serde(default, rename = "type")]
    pub kind: Option<RouteDecisionKind>,
    /// Expected table the route was found in: `main`, `local`, `default` or a number.
    #[serde(default)]
    pub table: Option<TableRef>,
    /// The decision holds a cached exception (`true`), or none (`false`): a learned path
    /// MTU or a redirect, with its expiry.
    #[serde(default)]
    pub exception: Option<bool>,
    /// Expected path MTU of the cached exception (learned from an ICMP "fragmentation
    /// needed" or "packet too big").
    #[serde(default)]
    pub mtu: Option<u32>,
    /// The cached exception comes from an ICMP redirect, or, with `false`, not (IPv4 only:
    /// IPv6 does not say what made an exception).
    #[serde(default)]
    pub redirected: Option<bool>,
    /// The decision expires (a cached exception has a timer), or, with `false`, not.
    #[serde(default)]
    pub expires: Option<bool>,
    /// The routing table entry the lookup matched (`ip route get fibmatch`), in `ip route`
    /// syntax: `10.8.0.0/24 mtu 1400 nexthop via 10.0.1.2 weight 2 nexthop via 10.0.2.2`.
    /// Its destination and every attribute written (type, tos, metrics, nexthops with
    /// their weights, in any order, ...) must be as the kernel holds them; what is not
    /// written is not compared.
    #[serde(default)]
    pub entry: Option<Loc<RouteSpec>>,
    /// How long the decision may take to be as expected (default 2 s).
    #[serde(default)]
    pub timeout: Option<Loc<Dur>>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

/// An IP protocol a route lookup can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LookupProtocol {
    Icmp,
    Tcp,
    Udp,
    #[serde(rename = "ipv6-icmp")]
    Icmpv6,
    Sctp,
}

impl LookupProtocol {
    /// The protocol number (IPPROTO_*).
    pub fn number(self) -> u8 {
        match self {
            LookupProtocol::Icmp => 1,
            LookupProtocol::Tcp => 6,
            LookupProtocol::Udp => 17,
            LookupProtocol::Icmpv6 => 58,
            LookupProtocol::Sctp => 132,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            LookupProtocol::Icmp => "icmp",
            LookupProtocol::Tcp => "tcp",
            LookupProtocol::Udp => "udp",
            LookupProtocol::Icmpv6 => "ipv6-icmp",
            LookupProtocol::Sctp => "sctp",
        }
    }
}

/// The type of route a lookup found (`RTN_*`), as `ip route` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteDecisionKind {
    Unicast,
    Local,
    Broadcast,
    Multicast,
    Anycast,
    Unreachable,
    Prohibit,
    Blackhole,
}

impl RouteDecisionKind {
    /// Whether a route of this type makes the kernel refuse the packet (the lookup fails).
    pub fn refuses(self) -> bool {
        matches!(self, RouteDecisionKind::Unreachable | RouteDecisionKind::Prohibit | RouteDecisionKind::Blackhole)
    }
}

impl fmt::Display for RouteDecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format!("{self:?}").to_lowercase())
    }
}

/// A routing table by name (`main`, `local`, `default`) or number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TableRef {
    Id(u32),
    Name(TableName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableName {
    Main,
    Local,
    Default,
}

impl TableRef {
    /// The table's number (`RT_TABLE_*` for the named ones).
    pub fn id(self) -> u32 {
        match self {
            TableRef::Id(id) => id,
            TableRef::Name(TableName::Main) => 254,
            TableRef::Name(TableName::Local) => 255,
            TableRef::Name(TableName::Default) => 253,
        }
    }
}

/// As `ip route` names it: `main`, `local`, `default`, or the number.
pub fn table_name(id: u32) -> String {
    match id {
        254 => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        id => id.to_string(),
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SysctlCheck {
    pub on: Loc<String>,
    pub key: Loc<String>,
    pub value: SysctlValue,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
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
    pub xfail: Option<super::kernel::Xfail>,
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
    /// The target address of an ICMPv6 neighbor solicitation or advertisement.
    #[serde(default)]
    pub target: Option<std::net::Ipv6Addr>,
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

/// Drops the kernel made in a node since the step began, up to this check: the packets
/// of the step's actions and of the checks before this one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DroppedCheck {
    /// The node.
    pub on: Loc<String>,
    /// Only drops on this interface of the node.
    #[serde(default)]
    pub dev: Option<Loc<String>>,
    /// The kernel's drop reason, without `SKB_DROP_REASON_` (e.g. `IP_RPFILTER`,
    /// `NETFILTER_DROP`, `NEIGH_FAILED`, `IP_INNOROUTES`); any reason when absent.
    #[serde(default)]
    pub reason: Option<Loc<String>>,
    /// Decoded fields of the dropped packet (from its network header: no Ethernet
    /// addresses), as in `packets` checks.
    #[serde(default, rename = "match")]
    pub matches: Option<PacketMatch>,
    /// At least one such drop (default) or, with `false`, none.
    #[serde(default)]
    pub seen: Option<bool>,
    #[serde(default)]
    pub xfail: Option<super::kernel::Xfail>,
}

impl Check {
    /// The `xfail` of this check, if any (see [`super::kernel::Xfail::on`]).
    pub fn xfail(&self) -> Option<&super::kernel::Xfail> {
        match self {
            Check::Ping(c) => c.xfail.as_ref(),
            Check::Connect(c) => c.xfail.as_ref(),
            Check::Command(c) => c.xfail.as_ref(),
            Check::Route(c) => c.xfail.as_ref(),
            Check::Sysctl(c) => c.xfail.as_ref(),
            Check::Packets(c) => c.xfail.as_ref(),
            Check::Udp(c) => c.xfail.as_ref(),
            Check::Tcp(c) => c.xfail.as_ref(),
            Check::Neighbour(c) => c.xfail.as_ref(),
            Check::Log(c) => c.xfail.as_ref(),
            Check::Fdb(c) => c.xfail.as_ref(),
            Check::Counter(c) => c.xfail.as_ref(),
            Check::Bind(c) => c.xfail.as_ref(),
            Check::Link(c) => c.xfail.as_ref(),
            Check::Stream(c) => c.xfail.as_ref(),
            Check::Dropped(c) => c.xfail.as_ref(),
        }
    }
}
