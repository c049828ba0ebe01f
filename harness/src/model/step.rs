//! Steps of a scenario and the actions that change a running topology.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;

use super::*;

/// One step of a scenario: actions in order, then assertions.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// What this step shows, e.g. "ping over veth0 fails".
    #[serde(default)]
    pub name: Option<String>,
    /// Changes applied in order before the assertions; each may be expected to be
    /// refused (`expect_error:` beside it).
    #[serde(default, rename = "do")]
    pub actions: Vec<StepAction>,
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
    /// `ip route append`: beside a route of the same destination and metric (IPv6
    /// merges it as another path).
    AppendRoute(RouteAction),
    DelRoute(RouteAction),
    /// `{on: node, rule: "fwmark 7 table 100 priority 100"}`
    AddRule(RuleChange),
    /// `{on: node, rule: "priority 100"}`: the first rule matching what is written.
    DelRule(RuleChange),
    AddNeighbour(NeighAction),
    DelNeighbour(NeighAction),
    /// `{on: node, dev: eth0}`: what `ip neighbour flush` removes (every entry but
    /// permanent and noarp ones), on one interface or all.
    FlushNeighbours(FlushNeighbours),
    AddFdb(FdbAction),
    DelFdb(FdbAction),
    /// `{dev: node:iface, state: down}`
    SetLink(SetLink),
    /// `{dev: node:veth0, master: br0}` or `master: null` to detach.
    SetMaster(SetMaster),
    /// `{dev: a:eth1, to: b}`: the link moves to another node, keeping its name.
    MoveLink(MoveLink),
    /// `{dev: node:p0, port: {learning: false, isolated: true}}`: bridge-port flags.
    SetPort(SetPort),
    /// `{dev: node:br1, bridge: {}}`, `{veth: [a:eth1, b:eth1]}`: a link created as the
    /// build creates it (bridge, vxlan, macvlan or veth pair).
    AddLink(Box<AddLink>),
    /// `{dev: node:eth1}`: a link deleted.
    DelLink(DelLink),
    /// `{on: node, set: {net.ipv4.ip_forward: 1}}`
    Sysctl(SysctlAction),
    /// `{on: node, cmd: "iptables -P FORWARD DROP"}`
    Run(RunAction),
    /// `{dev: node:iface, arp: {op: reply, sender_ip: 10.0.0.9}}`: a crafted frame sent
    /// out of the interface; `{on: node, ipv4: {dst: ...}, icmp: {...}}`: a crafted
    /// packet sent through the node's IP stack. Boxed: its layers make it the largest
    /// action by far.
    Send(Box<SendAction>),
    /// `{into: node:iface, pcap: garp.pcap}`: the frames of a pcap file from `fixtures/`
    /// sent out of the interface, in order.
    Replay(ReplayAction),
    /// `{on: node, service: name}`: start a service of the node (it must not be running).
    StartService(ServiceAction),
    /// Kill a running service and everything it started.
    StopService(ServiceAction),
    /// Stop a service if it runs, then start it and wait until it is ready.
    RestartService(ServiceAction),
    /// `{on: node, service: name, signal: HUP}`: signal a running service's processes.
    SignalService(SignalAction),
    /// `{on: node, nft: {family: inet, table: f, name: dropped}}` or `{on: node,
    /// iptables: {table: nat, chain: POSTROUTING}}`: netfilter counters set back to
    /// zero. MIB counters and interface statistics cannot be reset.
    ResetCounters(ResetCounters),
    /// `{for: 10s, why: "bridge ageing_time"}`: the one place a scenario waits by the
    /// clock, for a timer the kernel owns (ageing, ARP retries) and that announces nothing.
    Wait(WaitAction),
    /// `{dev: node:iface, qdisc: {tbf: {rate: 10mbit, burst: 32KiB, latency: 50ms}}}`: a
    /// fresh root qdisc in place of the one there, or `qdisc: clsact` beside it.
    SetQdisc(SetQdisc),
    /// `{dev: node:iface}`: the root qdisc removed; `clsact: true` removes clsact.
    DelQdisc(DelQdisc),
}

impl Action {
    /// The line of the action in its file (of its first field), for messages.
    pub fn line(&self) -> u64 {
        match self {
            Action::AddAddress(a) | Action::DelAddress(a) => a.dev.line,
            Action::MoveAddress(a) => a.address.line,
            Action::AddRoute(a) | Action::AppendRoute(a) | Action::DelRoute(a) => a.on.line,
            Action::AddRule(a) | Action::DelRule(a) => a.on.line,
            Action::AddNeighbour(a) | Action::DelNeighbour(a) => a.on.line,
            Action::FlushNeighbours(a) => a.on.line,
            Action::AddFdb(a) | Action::DelFdb(a) => a.on.line,
            Action::SetLink(a) => a.dev.line,
            Action::SetMaster(a) => a.dev.line,
            Action::MoveLink(a) => a.dev.line,
            Action::SetPort(a) => a.dev.line,
            Action::AddLink(a) => a.line(),
            Action::DelLink(a) => a.dev.line,
            Action::Sysctl(a) => a.on.line,
            Action::Run(a) => a.on.line,
            Action::Send(a) => a.line(),
            Action::Replay(a) => a.into.line,
            Action::StartService(a) | Action::StopService(a) | Action::RestartService(a) => a.on.line,
            Action::SignalService(a) => a.on.line,
            Action::ResetCounters(a) => a.on.line,
            Action::Wait(a) => a.duration.line,
            Action::SetQdisc(a) => a.dev.line,
            Action::DelQdisc(a) => a.dev.line,
        }
    }
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

/// A policy rule added or deleted in a node (`ip rule add|del`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    pub on: Loc<String>,
    pub rule: Loc<RuleSpec>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NeighAction {
    pub on: Loc<String>,
    pub neighbour: Loc<NeighSpec>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlushNeighbours {
    pub on: Loc<String>,
    /// Only the entries of this interface (every interface when omitted).
    #[serde(default)]
    pub dev: Option<Loc<String>>,
}

/// Counters to set back to zero in a node: nftables named counters or iptables rule
/// counters (exactly one of the two).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetCounters {
    pub on: Loc<String>,
    /// Named nftables counters: `name`, or every one of `table` (`nft reset counter`,
    /// `nft reset counters table`). The nft here (1.0.6) has no `reset rules`: the
    /// counter of an nft rule cannot be reset, unless it is an iptables rule.
    #[serde(default)]
    pub nft: Option<Loc<NftReset>>,
    /// The rule counters of an iptables table, or of one of its chains (`iptables -Z`).
    #[serde(default)]
    pub iptables: Option<Loc<IptablesReset>>,
    /// Accepted only to be refused by validation with the reason: the kernel offers
    /// no way to reset MIB counters.
    #[serde(default)]
    #[schemars(skip)]
    pub mib: Option<Loc<String>>,
    /// Likewise for interface and qdisc statistics.
    #[serde(default)]
    #[schemars(skip)]
    pub link: Option<Loc<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NftReset {
    /// `ip` (default, as nft), `ip6`, `inet`, `arp`, `bridge`, `netdev`.
    #[serde(default)]
    pub family: Option<String>,
    pub table: String,
    /// One named counter (every named counter of the table when omitted).
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IptablesReset {
    /// `filter` (default), `nat`, `mangle`, `raw`, `security`.
    #[serde(default = "filter")]
    pub table: String,
    /// One chain (every chain of the table when omitted).
    #[serde(default)]
    pub chain: Option<String>,
}

fn filter() -> String {
    "filter".into()
}

impl ResetCounters {
    /// The command that resets the counters, run in the node. nft and iptables are the
    /// only ways in: netfilter's nfnetlink has no crate the licence allows.
    pub fn command(&self) -> Option<String> {
        if let Some(nft) = &self.nft {
            let family = nft.family.as_deref().unwrap_or("ip");
            return Some(match &nft.name {
                Some(name) => format!("nft reset counter {family} {} {name}", nft.table),
                None => format!("nft reset counters table {family} {}", nft.table),
            });
        }
        let iptables = self.iptables.as_ref()?;
        let chain = iptables.chain.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
        Some(format!("iptables -t {} -Z{chain}", iptables.table))
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FdbAction {
    pub on: Loc<String>,
    pub fdb: Loc<FdbSpec>,
}

/// Attributes of an existing link changed (`ip link set DEV ...`); those left out keep
/// their value. Kind attributes (`vxlan:`, `macvlan:`) go in one RTM_NEWLINK first (as
/// `ip link set DEV type vxlan ...`), then the rest in one RTM_SETLINK.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetLink {
    pub dev: Loc<IfaceRef>,
    #[serde(default)]
    pub state: Option<LinkState>,
    #[serde(default)]
    pub mtu: Option<u32>,
    /// A new MAC address.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// Transmit queue length (IFLA_TXQLEN).
    #[serde(default)]
    pub txqueuelen: Option<u32>,
    /// A new name; later actions and checks use it. Kernels before 6.9 refuse to
    /// rename a link that is up (EBUSY).
    #[serde(default)]
    pub name: Option<Loc<String>>,
    /// VXLAN attributes (the link must be a vxlan).
    #[serde(default)]
    pub vxlan: Option<VxlanChange>,
    /// macvlan attributes (the link must be a macvlan).
    #[serde(default)]
    pub macvlan: Option<MacvlanChange>,
}

impl SetLink {
    /// Whether it changes nothing at all.
    pub fn is_empty(&self) -> bool {
        let kinds = self.vxlan.as_ref().is_none_or(VxlanChange::is_empty) && self.macvlan.is_none();
        kinds
            && self.state.is_none()
            && self.mtu.is_none()
            && self.mac.is_none()
            && self.txqueuelen.is_none()
            && self.name.is_none()
    }
}

/// VXLAN attributes a step may change (IFLA_VXLAN_*), in `ip link`'s words. The kernel
/// refuses to change some once the device exists (`port_range`, `udpcsum`: EOPNOTSUPP,
/// "Cannot change ..."): expect that with `expect_error`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VxlanChange {
    /// MAC learning into the device's own forwarding table.
    #[serde(default)]
    pub learning: Option<bool>,
    /// How long a learned entry lives, in whole seconds (kernel default 300s).
    #[serde(default)]
    pub ageing: Option<Dur>,
    /// The outer header's DF bit: `unset`, `set` or `inherit` (from the inner packet).
    #[serde(default)]
    pub df: Option<VxlanDfMode>,
    /// Outer TTL (0: from the route).
    #[serde(default)]
    pub ttl: Option<u8>,
    /// Outer TOS (1: inherited from the inner packet).
    #[serde(default)]
    pub tos: Option<u8>,
    /// UDP source port range `[low, high]`.
    #[serde(default)]
    pub port_range: Option<[u16; 2]>,
    /// UDP checksums over IPv4.
    #[serde(default)]
    pub udpcsum: Option<bool>,
    /// Netlink notifications for missing layer-2 entries.
    #[serde(default)]
    pub l2miss: Option<bool>,
    /// Netlink notifications for missing layer-3 entries.
    #[serde(default)]
    pub l3miss: Option<bool>,
}

impl VxlanChange {
    pub fn is_empty(&self) -> bool {
        *self == VxlanChange::default()
    }

    /// `ageing` in the kernel's unit (seconds), or why it has none.
    pub fn ageing_seconds(&self) -> Result<Option<u32>, String> {
        let Some(Dur(time)) = self.ageing else { return Ok(None) };
        if time.subsec_nanos() != 0 {
            return Err(format!("{} is not a whole number of seconds", humantime::format_duration(time)));
        }
        u32::try_from(time.as_secs()).map(Some).map_err(|_| format!("{} is too long", humantime::format_duration(time)))
    }
}

/// The words of `ip link set DEV type vxlan ...`: `learning off ageing 10 ttl 64`.
impl fmt::Display for VxlanChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on_off = |on: bool| if on { "on" } else { "off" };
        let mut words = Vec::new();
        if let Some(on) = self.learning {
            words.push(format!("learning {}", on_off(on)));
        }
        if let Some(ageing) = self.ageing {
            words.push(format!("ageing {}", humantime::format_duration(ageing.0)));
        }
        if let Some(df) = self.df {
            words.push(format!("df {}", format!("{df:?}").to_lowercase()));
        }
        if let Some(ttl) = self.ttl {
            words.push(format!("ttl {ttl}"));
        }
        if let Some(tos) = self.tos {
            words.push(format!("tos {tos}"));
        }
        if let Some([low, high]) = self.port_range {
            words.push(format!("srcport {low} {high}"));
        }
        for (name, value) in [("udpcsum", self.udpcsum), ("l2miss", self.l2miss), ("l3miss", self.l3miss)] {
            if let Some(on) = value {
                words.push(format!("{name} {}", on_off(on)));
            }
        }
        f.write_str(&words.join(" "))
    }
}

/// The DF bit of a VXLAN's outer header (IFLA_VXLAN_DF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VxlanDfMode {
    Unset,
    Set,
    Inherit,
}

/// macvlan attributes a step may change. The kernel refuses a change to or from
/// `passthru`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MacvlanChange {
    pub mode: MacvlanMode,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMaster {
    pub dev: Loc<IfaceRef>,
    /// Bridge in the same node, or null to detach.
    pub master: Option<Loc<String>>,
}

/// A link moved to another node (IFLA_NET_NS_FD), as `ip link set DEV netns NODE`
/// does: the kernel takes it down and drops its addresses on the way.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveLink {
    pub dev: Loc<IfaceRef>,
    /// The node it moves to; it must have no interface of that name.
    pub to: Loc<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitAction {
    /// How long, within the scenario's deadline.
    #[serde(rename = "for")]
    #[schemars(with = "String")]
    pub duration: Loc<Dur>,
    /// The kernel timer waited for, shown in the report: a wait needs a reason.
    pub why: Loc<String>,
}

/// Flags of a bridge port changed (`bridge link set dev IFACE learning off ...`); the
/// ones left out keep their value. The interface must be a bridge port by then.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPort {
    pub dev: Loc<IfaceRef>,
    /// The flags to set (at least one).
    pub port: BridgePortFlags,
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

/// A frame built from fields, `count` times. Out of `dev` (`node:iface`): written to an
/// `AF_PACKET` socket bound to it inside its node, it leaves through `dev` as if the node
/// had sent it, so what is at the other end (the veth peer, the bridge) receives it; the
/// node's own IP stack never sees it. `on: node` instead: the IP packet (no Ethernet
/// layer) goes through the node's IP stack on a raw socket, routed, neighbour
/// resolution and netfilter included, as a packet the node itself sends.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendAction {
    /// `node:iface` the frame leaves through (an Ethernet interface).
    #[serde(default)]
    pub dev: Option<Loc<IfaceRef>>,
    /// The node whose IP stack sends the packet (instead of `dev`).
    #[serde(default)]
    pub on: Option<Loc<String>>,
    #[serde(default)]
    pub eth: Option<EthFields>,
    /// 802.1Q tags, outermost first.
    #[serde(default)]
    pub vlan: Vec<VlanTag>,
    /// An ARP packet for IPv4 over Ethernet.
    #[serde(default)]
    pub arp: Option<ArpFrame>,
    #[serde(default)]
    pub ipv4: Option<Ipv4Fields>,
    #[serde(default)]
    pub ipv6: Option<Ipv6Fields>,
    #[serde(default)]
    pub icmp: Option<IcmpFields>,
    #[serde(default)]
    pub icmpv6: Option<IcmpFields>,
    #[serde(default)]
    pub udp: Option<UdpFields>,
    #[serde(default)]
    pub tcp: Option<TcpFields>,
    /// The payload after the last header, as text.
    #[serde(default)]
    pub payload: Option<String>,
    /// The payload as hex bytes: `"de ad be ef"`.
    #[serde(default)]
    pub payload_hex: Option<HexBytes>,
    /// How many times the frame is sent (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1), extend("default" = 1))]
    pub count: Loc<u32>,
    /// The gap between two frames (default: back to back).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Loc<Dur>>,
}

fn one() -> Loc<u32> {
    Loc::unplaced(1)
}

impl SendAction {
    /// The line of the action (of `dev` or `on`), for messages.
    pub fn line(&self) -> u64 {
        self.dev.as_ref().map(|d| d.line).or(self.on.as_ref().map(|o| o.line)).unwrap_or(self.count.line)
    }
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
    /// The capture: a path relative to the scenario file (`bug-1234.pcap` beside it,
    /// `captures/bug.pcap`), or else a file name in a `fixtures/` directory next to
    /// the scenario or above it (e.g. `garp-10.0.0.9.pcap`).
    pub pcap: Loc<String>,
    /// Where `pcap` was found; filled in when the scenario is loaded.
    #[serde(skip)]
    #[schemars(skip)]
    pub path: Option<PathBuf>,
}
