//! Thin async operations over an [`rtnetlink::Handle`] bound to one namespace.
//!
//! Every mutation goes through [`request`] (one place for flags and error decoding) and
//! names interfaces the way a scenario does, by name: the index lookups happen here,
//! so an error can say "add route 10.0.0.0/8 via 10.1.1.1: Network is unreachable"
//! instead of talking about ifindex 7. Callers add where it happened
//! ([`Error::context`], e.g. "in node host").
//!
//! Only operations that need an optional part of the kernel (a link kind, policy
//! routing) turn "not supported" into [`Error::Unsupported`], which skips a scenario;
//! elsewhere EOPNOTSUPP means the scenario asked a device for something it cannot do.
//!
//! The socket asks the kernel for extended acks, so a refusal carries the kernel's own
//! explanation ("Unknown device type", "Nexthop has invalid gateway") next to errno;
//! rtnetlink 0.24 keeps the raw bytes of the error but does not decode them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use futures::StreamExt;
use ipnet::IpNet;
use nix::errno::Errno;
use rtnetlink::packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_APPEND, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    BridgeMulticastRouterType, BridgePortState, BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind,
    InfoMacVlan, InfoPortData, InfoPortKind, InfoVeth, InfoVxlan, IpVlanFlags, IpVlanMode, LinkAttribute,
    LinkExtentMask, LinkFlags, LinkInfo, LinkMessage, MacVlanMode, State, Stats64, VxlanDf,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric, RouteNextHop, RouteNextHopFlags,
    RouteProtocol, RouteScope as NlScope, RouteType, RouteVia,
};
use rtnetlink::packet_route::rule::{
    RuleAction as NlRuleAction, RuleAttribute, RuleFlags, RuleMessage, RulePortRange, RuleUidRange,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{AsyncSocket, AsyncSocketExt};
use rtnetlink::{
    AddressMessageBuilder, Handle, LinkBridge, LinkIpVlan, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth,
    LinkVxlan,
};

mod devices;

pub use devices::{VlanOwner, add_dummy, add_vlan, add_vrf, set_bridge_vlans};

use crate::build::netns::Netns;
use crate::model::{
    Bridge, BridgePortFlags, FdbEntryFlag, FdbEntryState, Macvlan, MacvlanKind, MacvlanMode, NudState, PortState,
    TapMode, Vxlan, VxlanOptions,
};
use crate::parse::syntax::{
    FdbFlag, FdbSpec, FdbState, MacAddr, NeighSpec, NeighState, Nexthop, RT_TABLE_DEFAULT, RT_TABLE_LOCAL,
    RT_TABLE_MAIN, RouteKind, RouteMetric as MetricName, RouteSpec, RuleAction, RuleSpec,
};

// ---------------------------------------------------------------------------------------
// Errors

/// A netlink operation that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The kernel lacks `feature` (EOPNOTSUPP or "Unknown device type"): a scenario
    /// needing it is skipped, not failed.
    #[error("kernel does not support {feature}: {what}: {message}")]
    Unsupported { feature: String, what: String, message: String },
    /// The kernel refused `what`; `message` is its errno text and explanation.
    #[error("{what}: {message}")]
    Failed { what: String, message: String, errno: Option<i32> },
}

impl Error {
    /// Append where the operation happened to its description ("in node host").
    pub fn context(self, place: impl fmt::Display) -> Error {
        match self {
            Error::Unsupported { feature, what, message } => {
                Error::Unsupported { feature, what: format!("{what} {place}"), message }
            }
            Error::Failed { what, message, errno } => Error::Failed { what: format!("{what} {place}"), message, errno },
        }
    }

    /// The errno the kernel answered with, if it was a kernel refusal.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Unsupported { .. } => Some(Errno::EOPNOTSUPP),
            Error::Failed { errno, .. } => errno.map(Errno::from_raw),
        }
    }
}

/// What the kernel (or the connection) answered instead of success, before we know
/// which operation to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    errno: Option<Errno>,
    /// Extended-ack text (`NLMSGERR_ATTR_MSG`) or a local explanation.
    detail: Option<String>,
}

impl Refusal {
    fn connection_closed() -> Refusal {
        Refusal { errno: None, detail: Some("netlink connection closed (topology torn down?)".into()) }
    }

    fn from_io(error: &io::Error) -> Refusal {
        match error.raw_os_error() {
            Some(code) => Refusal { errno: Some(Errno::from_raw(code)), detail: None },
            None if error.kind() == io::ErrorKind::Unsupported => {
                Refusal { errno: Some(Errno::EOPNOTSUPP), detail: Some(error.to_string()) }
            }
            None => Refusal { errno: None, detail: Some(error.to_string()) },
        }
    }

    fn message(&self) -> String {
        match (self.errno, &self.detail) {
            (Some(errno), Some(detail)) => format!("{}: {detail}", errno_text(errno)),
            (Some(errno), None) => errno_text(errno),
            (None, Some(detail)) => detail.clone(),
            (None, None) => "unknown error".to_string(),
        }
    }

    /// EOPNOTSUPP is how this kernel says "not built in" (dummy, vlan, bridge vlan
    /// filtering...); "Unknown device type" is rtnl_newlink's text for a missing kind.
    fn is_unsupported(&self) -> bool {
        self.errno == Some(Errno::EOPNOTSUPP)
            || self.detail.as_deref().is_some_and(|d| d.contains("Unknown device type"))
            // qdisc_create's text (with ENOENT) for a qdisc kind not built.
            || self.detail.as_deref().is_some_and(|d| d.contains("qdisc kind is unknown"))
    }

    /// Blame `what`, an operation that every kernel offers: EOPNOTSUPP here means the
    /// scenario asked for something the device cannot do (a MAC on a tun), which is a
    /// mistake to report, not a reason to skip.
    fn blame(self, what: String) -> Error {
        Error::Failed { message: self.message(), errno: self.errno.map(|e| e as i32), what }
    }

    /// Blame `what`, which needs `feature`, a part of the kernel that may not be built
    /// (a link kind, policy routing): "not supported" then becomes [`Error::Unsupported`].
    fn blame_feature(self, what: String, feature: &str) -> Error {
        if self.is_unsupported() {
            Error::Unsupported { feature: feature.to_string(), what, message: self.message() }
        } else {
            self.blame(what)
        }
    }
}

/// The C library's text for `errno` ("Network is unreachable"), as `ip` prints it.
/// (nix's `Errno::desc` has a table of its own: "Operation not supported on transport
/// endpoint" for EOPNOTSUPP.)
pub fn errno_text(errno: Errno) -> String {
    let text = io::Error::from_raw_os_error(errno as i32).to_string();
    match text.rfind(" (os error ") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// `NLMSGERR_ATTR_MSG` from `linux/netlink.h`: the extended ack's human-readable text.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Length of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// The kernel's explanation carried by an error message: `echoed` is what follows the
/// errno (the echoed request, only its header when `NLM_F_CAPPED`), then, when
/// `NLM_F_ACK_TLVS` is set, netlink attributes.
fn extack_message(flags: u16, echoed: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(echoed.get(0..4)?.try_into().ok()?) as usize
    };
    let align = |n: usize| (n + 3) & !3;
    let mut tlvs = echoed.get(align(echoed_len)..)?;
    while tlvs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([tlvs[0], tlvs[1]]));
        let kind = u16::from_ne_bytes([tlvs[2], tlvs[3]]) & 0x3fff; // strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
        if len < 4 || len > tlvs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = tlvs[4..len].split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(text).trim().to_string()).filter(|t| !t.is_empty());
        }
        tlvs = tlvs.get(align(len)..).unwrap_or_default();
    }
    None
}

// ---------------------------------------------------------------------------------------
// Connection

/// The task that owns a namespace's netlink socket. The socket keeps the namespace
/// alive, so the task must not outlive the topology: dropping this aborts it (the
/// socket closes at the runtime's next tick, or at its shutdown); [`close`] waits for it.
///
/// [`close`]: ConnectionTask::close
#[derive(Debug)]
pub struct ConnectionTask(tokio::task::JoinHandle<()>);

impl ConnectionTask {
    /// Stop the connection and wait until its socket is closed.
    pub async fn close(mut self) {
        self.0.abort();
        // Cancelled (or already finished): either way the future, and the socket in
        // it, has been dropped once this returns.
        let _ = (&mut self.0).await;
    }
}

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Open a NETLINK_ROUTE socket inside `ns` and spawn its connection on the current
/// tokio runtime. Requests through the handle fail once the [`ConnectionTask`] is gone.
pub fn connect(ns: &Netns) -> io::Result<(Handle, ConnectionTask)> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| io::Error::other(format!("netlink::connect needs a tokio runtime: {e}")))?;
    ns.run(|| connect_here(&runtime))
}

/// [`connect`] for the namespace of the calling thread (the socket must be created
/// by a thread inside the namespace), with its connection spawned on `runtime`.
pub fn connect_here(runtime: &tokio::runtime::Handle) -> io::Result<(Handle, ConnectionTask)> {
    // tokio's AsyncFd registers the socket with the reactor of the runtime entered here.
    let _in_runtime = runtime.enter();
    let (mut connection, handle, _unsolicited) = rtnetlink::new_connection()?;
    let socket = connection.socket_mut().socket_mut();
    // Ask for the kernel's explanation with every error, and for short error
    // messages (header only, not the whole echoed request).
    socket.set_ext_ack(true)?;
    socket.set_cap_ack(true)?;
    Ok((handle, ConnectionTask(runtime.spawn(connection))))
}

/// Send one request and collect every message of the answer; the kernel's error (if
/// any) becomes a [`Refusal`]. `flags` come on top of `NLM_F_REQUEST`.
async fn request(
    handle: &Handle,
    message: RouteNetlinkMessage,
    flags: u16,
) -> Result<Vec<RouteNetlinkMessage>, Refusal> {
    let mut request = NetlinkMessage::from(message);
    request.header.flags = NLM_F_REQUEST | flags;
    let mut replies = handle.clone().request(request).map_err(|_| Refusal::connection_closed())?;
    let mut answer = Vec::new();
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(message) => answer.push(message),
            NetlinkPayload::Error(error) if error.code.is_some() => {
                let errno = Errno::from_raw(error.raw_code().abs());
                return Err(Refusal { errno: Some(errno), detail: extack_message(reply.header.flags, &error.header) });
            }
            _ => {} // ACK, end of dump
        }
    }
    Ok(answer)
}

/// A change the kernel acknowledges (create, set, delete).
async fn change(handle: &Handle, message: RouteNetlinkMessage, flags: u16) -> Result<(), Refusal> {
    request(handle, message, NLM_F_ACK | flags).await.map(drop)
}

/// Create something new; fail if it exists (`ip ... add`).
const CREATE: u16 = NLM_F_CREATE | NLM_F_EXCL;

// ---------------------------------------------------------------------------------------
// Interfaces

/// An interface named by index or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRef<'a> {
    Index(u32),
    Name(&'a str),
}

impl From<u32> for LinkRef<'_> {
    fn from(index: u32) -> Self {
        LinkRef::Index(index)
    }
}

impl<'a> From<&'a str> for LinkRef<'a> {
    fn from(name: &'a str) -> Self {
        LinkRef::Name(name)
    }
}

impl fmt::Display for LinkRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkRef::Index(index) => write!(f, "ifindex {index}"),
            LinkRef::Name(name) => f.write_str(name),
        }
    }
}

/// The kernel's index of interface `name`.
pub async fn link_index(handle: &Handle, name: &str) -> Result<u32, Error> {
    get_link(handle, name).await.map(|link| link.header.index)
}

/// RTM_GETLINK for interface `name`.
async fn get_link(handle: &Handle, name: &str) -> Result<LinkMessage, Error> {
    // Without counters: filling them in is most of the kernel's work for the answer.
    let query = LinkUnspec::new_with_name(name)
        .append_extra_attribute(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]))
        .build();
    let answer = request(handle, RouteNetlinkMessage::GetLink(query), 0)
        .await
        .map_err(|r| r.blame(format!("find interface {name}")))?;
    answer
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => Some(link),
            _ => None,
        })
        .ok_or_else(|| Refusal { errno: Some(Errno::ENODEV), detail: None }.blame(format!("find interface {name}")))
}

/// Whether an interface passes traffic yet, as one RTM_GETLINK tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    /// IFF_UP.
    pub admin_up: bool,
    /// IFF_LOWER_UP.
    pub carrier: bool,
    /// As [`LinkDump::oper_state`].
    pub oper_state: String,
    /// As [`LinkDump::kind`].
    pub kind: Option<String>,
}

impl LinkStatus {
    /// Up, but the kernel has not yet applied the last carrier change (linkwatch does
    /// that in the background; a down link always reads DOWN). A carrier gained: the
    /// device still has the `noop` qdisc and drops what it sends. A carrier lost: the
    /// kernel still sends into it, and has not yet told the rest of the stack (the
    /// neighbour entries `arp_evict_nocarrier` removes, a bridge's port state). Once
    /// applied, a lost carrier reads DOWN or LOWERLAYERDOWN, and a carrier reads
    /// anything else (UP; UNKNOWN for devices that do not track it, `lo` or a vxlan).
    ///
    /// A device whose driver reports its carrier (a veth, a bridge, a macvlan, a VLAN,
    /// a bond) reads UNKNOWN only until linkwatch first applies it. Some kernels (6.1)
    /// answer RTM_GETLINK without applying a held change: a carrier read with UNKNOWN
    /// is then still settling (and reports and checks would see UNKNOWN for UP).
    pub fn is_settling(&self) -> bool {
        let reads_down = self.oper_state == "DOWN" || self.oper_state == "LOWERLAYERDOWN";
        let reports_carrier = matches!(self.kind.as_deref(), Some("veth" | "bridge" | "macvlan" | "vlan" | "bond"));
        let not_yet_applied = self.carrier && reports_carrier && self.oper_state == "UNKNOWN";
        self.admin_up && (self.carrier == reads_down || not_yet_applied)
    }
}

/// The [`LinkStatus`] of interface `name`. On this kernel, asking for a link by name
/// also makes the kernel apply a carrier change that linkwatch still holds for it,
/// so the answer is usually settled already.
pub async fn link_status(handle: &Handle, name: &str) -> Result<LinkStatus, Error> {
    let link = get_link(handle, name).await?;
    let dump = link_dump(&link, &BTreeMap::new(), Vec::new());
    Ok(LinkStatus { admin_up: dump.admin_up, carrier: dump.carrier, oper_state: dump.oper_state, kind: dump.kind })
}

/// An interface's statistics (IFLA_STATS64: `ip -s link show NAME`).
pub async fn link_stats(handle: &Handle, name: &str) -> Result<Stats64, Error> {
    let link = get_link(handle, name).await?;
    link.attributes
        .into_iter()
        .find_map(|a| match a {
            LinkAttribute::Stats64(stats) => Some(stats),
            _ => None,
        })
        .ok_or_else(|| Error::Failed {
            what: format!("read the statistics of {name}"),
            message: "the kernel sent none".into(),
            errno: None,
        })
}

/// A link's attributes as a `link` check compares them (`ip -d link show NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAttributes {
    /// Name, kind, master, flags, state, MTU, MAC (its addresses are left empty).
    pub link: LinkDump,
    /// The kind of the root qdisc (IFLA_QDISC).
    pub qdisc: Option<String>,
    /// The bridge-port flags, when it is a bridge port (IFLA_INFO_SLAVE_DATA).
    pub port: Option<BridgePortFlags>,
    /// The options of a VXLAN (IFLA_INFO_DATA).
    pub vxlan: Option<VxlanOptions>,
    /// The options of a bridge (IFLA_INFO_DATA).
    pub bridge: Option<crate::model::BridgeOptions>,
}

/// The [`LinkAttributes`] of interface `name` (one RTM_GETLINK, one more to name its master).
pub async fn link_attributes(handle: &Handle, name: &str) -> Result<LinkAttributes, Error> {
    let message = get_link(handle, name).await?;
    let mut link = link_dump(&message, &BTreeMap::new(), Vec::new());
    let master = message.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(index) => Some(*index),
        _ => None,
    });
    if let Some(index) = master {
        link.master = Some(link_name(handle, index).await?);
    }
    let mut attributes = LinkAttributes { link, qdisc: None, port: None, vxlan: None, bridge: None };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::Qdisc(kind) => attributes.qdisc = Some(kind.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::PortData(InfoPortData::BridgePort(flags)) => {
                            attributes.port = Some(bridge_port_flags(flags));
                        }
                        LinkInfo::Data(InfoData::Vxlan(options)) => attributes.vxlan = Some(vxlan_options(options)),
                        LinkInfo::Data(InfoData::Bridge(options)) => attributes.bridge = Some(bridge_options(options)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(attributes)
}

fn bridge_port_flags(attributes: &[InfoBridgePort]) -> BridgePortFlags {
    let mut flags = BridgePortFlags::default();
    for attribute in attributes {
        match *attribute {
            InfoBridgePort::Learning(on) => flags.learning = Some(on),
            InfoBridgePort::UnicastFlood(on) => flags.flood = Some(on),
            InfoBridgePort::MulticastFlood(on) => flags.mcast_flood = Some(on),
            InfoBridgePort::BroadcastFlood(on) => flags.bcast_flood = Some(on),
            InfoBridgePort::NeighSupress(on) => flags.neigh_suppress = Some(on),
            InfoBridgePort::Isolated(on) => flags.isolated = Some(on),
            InfoBridgePort::HairpinMode(on) => flags.hairpin = Some(on),
            InfoBridgePort::Guard(on) => flags.bpdu_guard = Some(on),
            InfoBridgePort::Protect(on) => flags.root_block = Some(on),
            InfoBridgePort::ProxyARP(on) => flags.proxy_arp = Some(on),
            InfoBridgePort::Locked(on) => flags.locked = Some(on),
            InfoBridgePort::Cost(cost) => flags.cost = Some(cost),
            InfoBridgePort::Priority(priority) => flags.priority = Some(priority),
            InfoBridgePort::State(state) => {
                flags.state = match state {
                    BridgePortState::Disabled => Some(PortState::Disabled),
                    BridgePortState::Listening => Some(PortState::Listening),
                    BridgePortState::Learning => Some(PortState::Learning),
                    BridgePortState::Forwarding => Some(PortState::Forwarding),
                    BridgePortState::Blocking => Some(PortState::Blocking),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    flags
}

fn vxlan_options(attributes: &[InfoVxlan]) -> VxlanOptions {
    let mut options = VxlanOptions::default();
    // One attribute holds the remote and the group: a multicast address is a group.
    let mut peer = |ip: IpAddr| match ip.is_multicast() {
        true => options.group = Some(ip),
        false => options.remote = Some(ip),
    };
    let mut local = None;
    for attribute in attributes {
        match *attribute {
            InfoVxlan::Group(v4) if !v4.is_unspecified() => peer(IpAddr::V4(v4)),
            InfoVxlan::Group6(v6) if !v6.is_unspecified() => peer(IpAddr::V6(v6)),
            InfoVxlan::Local(v4) if !v4.is_unspecified() => local = Some(IpAddr::V4(v4)),
            InfoVxlan::Local6(v6) if !v6.is_unspecified() => local = Some(IpAddr::V6(v6)),
            _ => {}
        }
    }
    options.local = local;
    for attribute in attributes {
        match *attribute {
            InfoVxlan::Id(id) => options.id = Some(id),
            InfoVxlan::Port(port) => options.dstport = Some(port),
            InfoVxlan::Learning(on) => options.learning = Some(on),
            InfoVxlan::Ttl(ttl) => options.ttl = Some(ttl),
            _ => {}
        }
    }
    options
}

/// The statistics of an interface's root qdisc (`tc -s qdisc show dev NAME root`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QdiscStats {
    pub sent_bytes: u64,
    pub sent_packets: u64,
    pub dropped: u64,
    pub overlimits: u64,
    pub requeues: u64,
    pub backlog: u64,
    pub qlen: u64,
}

/// `TC_H_ROOT` (linux/pkt_sched.h): the parent of a root qdisc.
const TC_H_ROOT: u32 = 0xFFFF_FFFF;

/// The statistics of `name`'s root qdisc (RTM_GETQDISC dump, TCA_STATS2).
pub async fn qdisc_stats(handle: &Handle, name: &str) -> Result<QdiscStats, Error> {
    use rtnetlink::packet_route::tc::{TcAttribute, TcMessage, TcStats2};
    let index = link_index(handle, name).await?;
    let answer = dump(handle, RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()), "qdiscs").await?;
    let root = answer
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewQueueDiscipline(q)
                if q.header.index == index as i32 && u32::from(q.header.parent) == TC_H_ROOT =>
            {
                Some(q)
            }
            _ => None,
        })
        .ok_or_else(|| Error::Failed {
            what: format!("read the qdisc statistics of {name}"),
            message: "it has no root qdisc".into(),
            errno: None,
        })?;
    let mut stats = QdiscStats::default();
    for attribute in &root.attributes {
        let TcAttribute::Stats2(all) = attribute else { continue };
        for part in all {
            match part {
                TcStats2::Basic(basic) => {
                    stats.sent_bytes = basic.bytes;
                    stats.sent_packets = u64::from(basic.packets);
                }
                TcStats2::Queue(queue) => {
                    stats.dropped = u64::from(queue.drops);
                    stats.overlimits = u64::from(queue.overlimits);
                    stats.requeues = u64::from(queue.requeues);
                    stats.backlog = u64::from(queue.backlog);
                    stats.qlen = u64::from(queue.qlen);
                }
                _ => {}
            }
        }
    }
    Ok(stats)
}

/// Packets waiting in every qdisc of the node (the sum of their queue lengths): zero
/// when nothing is held back on its way out.
pub async fn qdisc_backlog(handle: &Handle) -> Result<u64, Error> {
    use rtnetlink::packet_route::tc::{TcAttribute, TcMessage, TcStats2};
    let answer = dump(handle, RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()), "qdiscs").await?;
    let queued = answer.iter().flat_map(|m| match m {
        RouteNetlinkMessage::NewQueueDiscipline(q) => q.attributes.as_slice(),
        _ => &[],
    });
    let queued = queued.flat_map(|a| match a {
        TcAttribute::Stats2(parts) => parts.as_slice(),
        _ => &[],
    });
    Ok(queued
        .map(|part| match part {
            TcStats2::Queue(queue) => u64::from(queue.qlen),
            _ => 0,
        })
        .sum())
}

/// A traffic-control change (a qdisc or a class, built by [`crate::build::qdisc`]);
/// `feature` is what the kernel lacks when it does not know the qdisc's kind.
pub async fn tc_change(
    handle: &Handle,
    message: RouteNetlinkMessage,
    flags: u16,
    what: String,
    feature: &str,
) -> Result<(), Error> {
    change(handle, message, flags).await.map_err(|r| r.blame_feature(what, feature))
}

/// An interface and the ones whose carrier its own follows (in the same namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierTie {
    pub name: String,
    pub index: u32,
    /// IFLA_MASTER: a bridge's carrier follows its ports.
    pub master: Option<u32>,
    /// IFLA_LINK of a device stacked on another here (a macvlan's parent); not a
    /// veth's peer, whose carrier the kernel changes at once with its own.
    pub parent: Option<u32>,
}

/// Every interface of the namespace with the ties of its carrier (one dump).
pub async fn carrier_ties(handle: &Handle) -> Result<Vec<CarrierTie>, Error> {
    let links = link_messages(handle).await?;
    Ok(links
        .iter()
        .map(|link| {
            let dump = link_dump(link, &BTreeMap::new(), Vec::new());
            let elsewhere = link.attributes.iter().any(|a| matches!(a, LinkAttribute::LinkNetNsId(_)));
            let parent = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::Link(index) if !elsewhere && dump.kind.as_deref() != Some("veth") => Some(*index),
                _ => None,
            });
            let master = link.attributes.iter().find_map(|a| match a {
                LinkAttribute::Controller(index) => Some(*index),
                _ => None,
            });
            CarrierTie { name: dump.name, index: dump.index, master, parent }
        })
        .collect())
}

/// `RTNLGRP_LINK` (linux/rtnetlink.h): the multicast group of link changes.
const RTNLGRP_LINK: u32 = 1;

/// The link change announcements of one namespace, to wait for a change instead of
/// asking again and again.
pub struct LinkEvents(rtnetlink::sys::TokioSocket);

impl LinkEvents {
    /// Subscribe inside `ns`, registered with the current tokio runtime. Subscribe
    /// before reading the state, so that a change between the reading and the waiting
    /// still wakes [`LinkEvents::changed`].
    pub fn subscribe(ns: &Netns) -> io::Result<LinkEvents> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| io::Error::other(format!("netlink::LinkEvents needs a tokio runtime: {e}")))?;
        ns.run(|| {
            let _in_runtime = runtime.enter();
            let mut socket = rtnetlink::sys::TokioSocket::new(rtnetlink::sys::protocols::NETLINK_ROUTE)?;
            socket.socket_mut().bind_auto()?;
            socket.socket_mut().add_membership(RTNLGRP_LINK)?;
            Ok(LinkEvents(socket))
        })
    }

    /// Wait until some link change is announced. Every announcement received so far
    /// is consumed: read the state afresh after.
    pub async fn changed(&self) -> io::Result<()> {
        let mut buffer = vec![0u8; 16 << 10];
        let mut first = &mut buffer[..];
        match self.0.recv(&mut first).await {
            // ENOBUFS: announcements were lost for lack of room; something changed.
            Err(e) if e.raw_os_error() != Some(nix::libc::ENOBUFS) => return Err(e),
            _ => {}
        }
        loop {
            let mut rest = &mut buffer[..];
            match self.0.socket_ref().recv(&mut rest, nix::libc::MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if !matches!(e.raw_os_error(), Some(nix::libc::ENOBUFS | nix::libc::EINTR)) => {
                    return Err(e);
                }
                _ => {}
            }
        }
    }
}

async fn resolve(handle: &Handle, link: LinkRef<'_>) -> Result<u32, Error> {
    match link {
        LinkRef::Index(index) => Ok(index),
        LinkRef::Name(name) => link_index(handle, name).await,
    }
}

/// What every created interface can be given at birth. Setting MTU here rather than
/// afterwards matters: a vxlan derives its MTU from its lower device's at creation.
/// Being born up and enslaved saves a request each (the kernel brings the new device
/// up, then enslaves it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkBasics<'a> {
    pub name: &'a str,
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    /// Born up (created down otherwise). Not for a veth peer, which the kernel
    /// cannot open before the pair is joined (ENOTCONN).
    pub up: bool,
    /// Born enslaved to the bridge with this index, in the device's own namespace.
    /// Only the device the request creates can be: the kernel ignores it for a veth
    /// peer.
    pub master: Option<u32>,
}

impl LinkBasics<'_> {
    /// Add all but the name to a creation message of any kind (the name is set by the
    /// kind's constructor).
    fn apply<T>(&self, mut builder: LinkMessageBuilder<T>) -> LinkMessageBuilder<T> {
        if let Some(mac) = self.mac {
            builder = builder.address(mac.0.to_vec());
        }
        if let Some(mtu) = self.mtu {
            builder = builder.mtu(mtu);
        }
        if self.up {
            builder = builder.up();
        }
        if let Some(master) = self.master {
            builder = builder.controller(master);
        }
        builder
    }
}

/// Create a link from a finished message. `kind` and `name` describe it in errors;
/// `feature` is what the kernel lacks if it refuses as unsupported.
async fn add_link(handle: &Handle, message: LinkMessage, kind: &str, name: &str, feature: &str) -> Result<(), Error> {
    change(handle, RouteNetlinkMessage::NewLink(message), CREATE)
        .await
        .map_err(|r| r.blame_feature(format!("create {kind} {name}"), feature))
}

/// Create a veth pair: `end` here, `peer` born directly in `peer_ns` (or here when
/// `None`) with its final name, so no rename or move is ever visible. Each end gets
/// `queues` transmit and receive queues. Only `end` can be born up or enslaved
/// ([`LinkBasics`]).
pub async fn add_veth(
    handle: &Handle,
    end: &LinkBasics<'_>,
    peer: &LinkBasics<'_>,
    peer_ns: Option<&Netns>,
    queues: u32,
) -> Result<(), Error> {
    debug_assert!(!peer.up && peer.master.is_none(), "a veth peer is born down and free");
    let mut peer_message = with_queues(peer.apply(LinkMessageBuilder::<LinkUnspec>::new().name(peer.name)), queues);
    if let Some(ns) = peer_ns {
        peer_message = peer_message.setns_by_fd(ns.raw_fd());
    }
    let end_message = end.apply(LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth).name(end.name));
    let message =
        with_queues(end_message, queues).set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message.build()))).build();
    add_link(handle, message, "veth", &format!("{} (peer {})", end.name, peer.name), "veth").await
}

/// Give a veth end `queues` transmit and receive queues. Always sent, also for one:
/// without these attributes the kernel allocates a queue per CPU and then reduces the
/// active ones to one, waiting for an RCU grace period for each end (a fifth of what
/// creating a veth took on a 2-CPU VM).
fn with_queues<T>(end: LinkMessageBuilder<T>, queues: u32) -> LinkMessageBuilder<T> {
    let end = end.append_extra_attribute(LinkAttribute::NumTxQueues(queues));
    end.append_extra_attribute(LinkAttribute::NumRxQueues(queues))
}

/// Create a bridge, down (`LinkBridge::new` would bring it up at once).
/// `vlan_filtering: Some(_)` is sent as given; this kernel rejects even `false`.
/// The bridge's options of `spec` are set at birth (IFLA_INFO_DATA), so they hold
/// before any port exists; validation has checked `ageing_time`.
pub async fn add_bridge(handle: &Handle, bridge: &LinkBasics<'_>, spec: &Bridge) -> Result<(), Error> {
    let stp_state = if spec.stp { BridgeStpState::KernelStp } else { BridgeStpState::Disabled };
    let mut builder = bridge
        .apply(LinkMessageBuilder::<LinkBridge>::new(bridge.name))
        .stp_state(stp_state)
        .mcast_snooping(spec.multicast_snooping);
    if let Some(on) = spec.vlan_filtering {
        builder = builder.vlan_filtering(on);
    }
    if let Ok(Some(centiseconds)) = spec.ageing_centiseconds() {
        builder = builder.ageing_time(centiseconds);
    }
    if let Some(mask) = spec.group_fwd_mask {
        builder = builder.group_fwd_mask(mask);
    }
    let nf_calls = [
        (spec.nf_call_iptables, InfoBridge::NfCallIpTables as fn(bool) -> InfoBridge),
        (spec.nf_call_ip6tables, InfoBridge::NfCallIp6Tables),
        (spec.nf_call_arptables, InfoBridge::NfCallArpTables),
    ];
    for (on, attribute) in nf_calls {
        if let Some(on) = on {
            builder = builder.append_info_data(attribute(on));
        }
    }
    for attribute in spec.multicast.as_ref().map(bridge_multicast_attributes).unwrap_or_default() {
        builder = builder.append_info_data(attribute);
    }
    let feature = if spec.vlan_filtering.is_some() { "bridge vlan_filtering" } else { "bridge" };
    add_link(handle, builder.build(), "bridge", bridge.name, feature).await
}

/// The IFLA_BR_MULTICAST_* attributes for the options given; validation has checked
/// the versions.
fn bridge_multicast_attributes(m: &crate::model::BridgeMulticast) -> Vec<InfoBridge> {
    use crate::model::McastRouter;
    let router = m.router.map(|r| {
        InfoBridge::MulticastRouter(match r {
            McastRouter::Disabled => BridgeMulticastRouterType::Disabled,
            McastRouter::TempQuery => BridgeMulticastRouterType::TempQuery,
            McastRouter::Permanent => BridgeMulticastRouterType::Permanent,
        })
    });
    [
        m.querier.map(InfoBridge::MulticastQuerier),
        router,
        m.query_use_ifaddr.map(InfoBridge::MulticastQueryUseIfaddr),
        m.igmp_version.map(InfoBridge::MulticastIgmpVersion),
        m.mld_version.map(InfoBridge::MulticastMldVersion),
        m.stats.map(InfoBridge::MulticastStatsEnabled),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A bridge's options as the kernel reports them (IFLA_INFO_DATA of a bridge).
fn bridge_options(attributes: &[InfoBridge]) -> crate::model::BridgeOptions {
    use crate::model::{BridgeMulticast, BridgeOptions, Dur, McastRouter};
    let mut options = BridgeOptions::default();
    let mut multicast = BridgeMulticast::default();
    for attribute in attributes {
        match attribute {
            InfoBridge::StpState(state) => options.stp = Some(*state != BridgeStpState::Disabled),
            // Kept in centiseconds (USER_HZ).
            InfoBridge::AgeingTime(centis) => {
                options.ageing_time = Some(Dur(std::time::Duration::from_millis(u64::from(*centis) * 10)));
            }
            InfoBridge::GroupFwdMask(mask) => options.group_fwd_mask = Some(*mask),
            InfoBridge::NfCallIpTables(on) => options.nf_call_iptables = Some(*on),
            InfoBridge::NfCallIp6Tables(on) => options.nf_call_ip6tables = Some(*on),
            InfoBridge::NfCallArpTables(on) => options.nf_call_arptables = Some(*on),
            InfoBridge::MulticastSnooping(on) => options.multicast_snooping = Some(*on),
            InfoBridge::MulticastQuerier(on) => multicast.querier = Some(*on),
            InfoBridge::MulticastQueryUseIfaddr(on) => multicast.query_use_ifaddr = Some(*on),
            InfoBridge::MulticastIgmpVersion(v) => multicast.igmp_version = Some(*v),
            InfoBridge::MulticastMldVersion(v) => multicast.mld_version = Some(*v),
            InfoBridge::MulticastStatsEnabled(on) => multicast.stats = Some(*on),
            InfoBridge::MulticastRouter(router) => {
                multicast.router = match router {
                    BridgeMulticastRouterType::Disabled => Some(McastRouter::Disabled),
                    BridgeMulticastRouterType::TempQuery => Some(McastRouter::TempQuery),
                    BridgeMulticastRouterType::Permanent => Some(McastRouter::Permanent),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    options.multicast = Some(multicast);
    options
}

/// Create a VXLAN device from the tunnel fields of `spec` (`id`, `remote`, `local`,
/// `dstport`, `learning`) over `dev` of `handle`'s namespace; its common settings
/// come in `basics`. Born in `home` (IFLA_NET_NS_FD) when that is another namespace:
/// its tunnel stays in the namespace that created it.
pub async fn add_vxlan(
    handle: &Handle,
    basics: &LinkBasics<'_>,
    spec: &Vxlan,
    dev: Option<&str>,
    home: Option<&Netns>,
) -> Result<(), Error> {
    let mut builder = basics.apply(LinkVxlan::new(basics.name, spec.id)).port(spec.dstport).learning(spec.learning);
    if let Some(ns) = home {
        builder = builder.setns_by_fd(ns.raw_fd());
    }
    if let Some(dev) = dev {
        let index =
            link_index(handle, dev).await.map_err(|e| e.context(format_args!("(dev of vxlan {})", basics.name)))?;
        builder = builder.dev(index);
    }
    builder = match spec.remote {
        Some(IpAddr::V4(ip)) => builder.remote(ip),
        Some(IpAddr::V6(ip)) => builder.remote6(ip),
        None => builder,
    };
    builder = match spec.local {
        Some(IpAddr::V4(ip)) => builder.local(ip),
        Some(IpAddr::V6(ip)) => builder.local6(ip),
        None => builder,
    };
    add_link(handle, builder.build(), "vxlan", basics.name, "vxlan").await
}

/// Create a macvlan device on top of `parent` of `handle`'s namespace, born in
/// `home` (IFLA_NET_NS_FD) when that is another namespace: it appears there with its
/// final name, never visible beside its parent.
pub async fn add_macvlan(
    handle: &Handle,
    basics: &LinkBasics<'_>,
    parent: &str,
    macvlan: &Macvlan,
    home: Option<&Netns>,
) -> Result<(), Error> {
    let kind = match macvlan.kind {
        MacvlanKind::Macvlan => "macvlan",
        MacvlanKind::Ipvlan => "ipvlan",
    };
    let parent_index =
        link_index(handle, parent).await.map_err(|e| e.context(format_args!("(parent of {kind} {})", basics.name)))?;
    let message = match macvlan.kind {
        MacvlanKind::Macvlan => {
            born_in(basics.apply(LinkMacVlan::new(basics.name, parent_index, macvlan_mode(macvlan.mode))), home).build()
        }
        MacvlanKind::Ipvlan => {
            let (mode, flags) = ipvlan_mode(macvlan.mode);
            born_in(basics.apply(LinkIpVlan::new(basics.name, parent_index, mode).flag(flags)), home).build()
        }
    };
    add_link(handle, message, kind, basics.name, kind).await
}

/// `builder`'s link created in `home`'s namespace, when given.
fn born_in<T>(builder: LinkMessageBuilder<T>, home: Option<&Netns>) -> LinkMessageBuilder<T> {
    match home {
        Some(ns) => builder.setns_by_fd(ns.raw_fd()),
        None => builder,
    }
}

/// An ipvlan's mode and flags: `bridge`, `private` and `vepa` are l2 with that flag
/// (bridge: none), as Docker's ipvlan network defaults to l2. Validation keeps
/// macvlan's own modes away.
fn ipvlan_mode(mode: MacvlanMode) -> (IpVlanMode, IpVlanFlags) {
    match mode {
        MacvlanMode::L3 => (IpVlanMode::L3, IpVlanFlags::empty()),
        MacvlanMode::L3s => (IpVlanMode::L3S, IpVlanFlags::empty()),
        MacvlanMode::Private => (IpVlanMode::L2, IpVlanFlags::Private),
        MacvlanMode::Vepa => (IpVlanMode::L2, IpVlanFlags::Vepa),
        MacvlanMode::L2 | MacvlanMode::Bridge | MacvlanMode::Passthru | MacvlanMode::Source => {
            (IpVlanMode::L2, IpVlanFlags::empty())
        }
    }
}

fn macvlan_mode(mode: MacvlanMode) -> MacVlanMode {
    match mode {
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
        MacvlanMode::Source => MacVlanMode::Source,
        // ipvlan's modes (validation keeps them off macvlans).
        MacvlanMode::L2 | MacvlanMode::L3 | MacvlanMode::L3s => MacVlanMode::Bridge,
    }
}

/// Create a tun or tap device in `ns` with TUNSETIFF (the netlink `tun` kind is
/// refused on this kernel). The device lives exactly as long as the returned fd;
/// MAC and MTU are set afterwards with [`set_link`].
pub fn add_tap(ns: &Netns, name: &str, mode: TapMode) -> Result<OwnedFd, Error> {
    let kind = match mode {
        TapMode::Tap => "tap",
        TapMode::Tun => "tun",
    };
    ns.run(|| open_tun(name, mode))
        .map_err(|e| Refusal::from_io(&e).blame_feature(format!("create {kind} {name}"), kind))
}

nix::ioctl_write_ptr_bad!(tun_set_iff, nix::libc::TUNSETIFF, nix::libc::ifreq);

/// Open `/dev/net/tun` and attach it to a new device `name` (the calling thread's
/// namespace decides where the device is born).
fn open_tun(name: &str, mode: TapMode) -> io::Result<OwnedFd> {
    use nix::libc::{IFF_NO_PI, IFF_TAP, IFF_TUN, c_char, c_short, ifreq};
    if name.len() >= nix::libc::IFNAMSIZ {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("interface name `{name}` is too long")));
    }
    let tun = OpenOptions::new().read(true).write(true).open("/dev/net/tun").map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(io::ErrorKind::Unsupported, "/dev/net/tun does not exist")
        } else {
            e
        }
    })?;
    // SAFETY: `ifreq` is a plain C struct/union for which all-zero bytes are valid.
    let mut request: ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as c_char;
    }
    let kind = match mode {
        TapMode::Tap => IFF_TAP,
        TapMode::Tun => IFF_TUN,
    };
    // No packet-info header: frames read from / written to the fd are plain.
    request.ifr_ifru.ifru_flags = (kind | IFF_NO_PI) as c_short;
    // SAFETY: `tun` is an open /dev/net/tun fd and `request` a valid, NUL-terminated
    // ifreq that outlives the call; TUNSETIFF only reads and updates it.
    unsafe { tun_set_iff(tun.as_raw_fd(), &request) }.map_err(io::Error::from)?;
    Ok(tun.into())
}

/// Delete an interface (a veth takes its peer with it).
pub async fn del_link(handle: &Handle, link: LinkRef<'_>) -> Result<(), Error> {
    let index = resolve(handle, link).await?;
    let message = LinkUnspec::new_with_index(index).build();
    change(handle, RouteNetlinkMessage::DelLink(message), 0)
        .await
        .map_err(|r| r.blame(format!("delete interface {link}")))
}

/// Which bridge an interface belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Master<'a> {
    /// Enslave to this bridge (same namespace).
    Set(LinkRef<'a>),
    /// Detach (`nomaster`).
    Unset,
}

/// Changes to an existing interface, all sent in one RTM_SETLINK (the kernel applies
/// MAC, then MTU, then master, then the up/down flag).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange<'a> {
    pub mac: Option<MacAddr>,
    pub mtu: Option<u32>,
    pub master: Option<Master<'a>>,
    pub up: Option<bool>,
    pub txqueuelen: Option<u32>,
    /// A new name (IFLA_IFNAME on the link's index).
    pub name: Option<&'a str>,
}

impl fmt::Display for LinkChange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words = Vec::new();
        if let Some(mac) = self.mac {
            words.push(format!("address {mac}"));
        }
        if let Some(mtu) = self.mtu {
            words.push(format!("mtu {mtu}"));
        }
        match self.master {
            Some(Master::Set(bridge)) => words.push(format!("master {bridge}")),
            Some(Master::Unset) => words.push("nomaster".into()),
            None => {}
        }
        match self.up {
            Some(true) => words.push("up".into()),
            Some(false) => words.push("down".into()),
            None => {}
        }
        if let Some(len) = self.txqueuelen {
            words.push(format!("txqueuelen {len}"));
        }
        if let Some(name) = self.name {
            words.push(format!("name {name}"));
        }
        f.write_str(&words.join(" "))
    }
}

/// `ip link set LINK ...`: MAC, MTU, master and state in one request.
pub async fn set_link(handle: &Handle, link: LinkRef<'_>, changes: &LinkChange<'_>) -> Result<(), Error> {
    let what = || format!("set link {link} {changes}");
    let mut builder = match (link, changes.name) {
        (LinkRef::Index(index), _) => LinkUnspec::new_with_index(index),
        // A rename names the link by index: IFLA_IFNAME carries the new name.
        (LinkRef::Name(_), Some(_)) => LinkUnspec::new_with_index(resolve(handle, link).await?),
        (LinkRef::Name(name), None) => LinkUnspec::new_with_name(name),
    };
    if let Some(name) = changes.name {
        builder = builder.name(name);
    }
    if let Some(len) = changes.txqueuelen {
        builder = builder.txqueuelen(len);
    }
    if let Some(mac) = changes.mac {
        builder = builder.address(mac.0.to_vec());
    }
    if let Some(mtu) = changes.mtu {
        builder = builder.mtu(mtu);
    }
    match changes.master {
        Some(Master::Set(bridge)) => {
            let bridge_index = resolve(handle, bridge).await.map_err(|e| e.context(format!("(for {})", what())))?;
            builder = builder.controller(bridge_index);
        }
        Some(Master::Unset) => builder = builder.nocontroller(),
        None => {}
    }
    builder = match changes.up {
        Some(true) => builder.up(),
        Some(false) => builder.down(),
        None => builder,
    };
    change(handle, RouteNetlinkMessage::SetLink(builder.build()), 0).await.map_err(|r| r.blame(what()))
}

/// Move link `name` into namespace `to` with its name (IFLA_NET_NS_FD).
pub async fn move_link(handle: &Handle, name: &str, to: &Netns) -> Result<(), Error> {
    let message = LinkUnspec::new_with_name(name).setns_by_fd(to.raw_fd()).build();
    change(handle, RouteNetlinkMessage::SetLink(message), 0).await.map_err(|r| r.blame(format!("move link {name}")))
}

/// The IFLA_BRPORT_* attributes for the flags given; the others are left out, so the
/// kernel keeps them as they are.
fn bridge_port_attributes(flags: &BridgePortFlags) -> Vec<InfoBridgePort> {
    let BridgePortFlags {
        learning,
        flood,
        mcast_flood,
        bcast_flood,
        neigh_suppress,
        isolated,
        hairpin,
        bpdu_guard,
        root_block,
        proxy_arp,
        locked,
        cost,
        priority,
        state,
    } = flags.clone();
    type Flag = (Option<bool>, fn(bool) -> InfoBridgePort);
    let wanted: [Flag; 11] = [
        (learning, InfoBridgePort::Learning),
        (flood, InfoBridgePort::UnicastFlood),
        (mcast_flood, InfoBridgePort::MulticastFlood),
        (bcast_flood, InfoBridgePort::BroadcastFlood),
        (neigh_suppress, InfoBridgePort::NeighSupress),
        (isolated, InfoBridgePort::Isolated),
        (hairpin, InfoBridgePort::HairpinMode),
        (bpdu_guard, InfoBridgePort::Guard),
        (root_block, InfoBridgePort::Protect),
        (proxy_arp, InfoBridgePort::ProxyARP),
        (locked, InfoBridgePort::Locked),
    ];
    let state = state.map(|state| {
        InfoBridgePort::State(match state {
            PortState::Disabled => BridgePortState::Disabled,
            PortState::Listening => BridgePortState::Listening,
            PortState::Learning => BridgePortState::Learning,
            PortState::Forwarding => BridgePortState::Forwarding,
            PortState::Blocking => BridgePortState::Blocking,
        })
    });
    let numbers = [cost.map(InfoBridgePort::Cost), priority.map(InfoBridgePort::Priority), state];
    wanted
        .into_iter()
        .filter_map(|(value, attribute)| value.map(attribute))
        .chain(numbers.into_iter().flatten())
        .collect()
}

/// `ip link set dev LINK type bridge_slave learning off ...`: an RTM_NEWLINK without
/// NLM_F_CREATE on the existing port, whose IFLA_INFO_SLAVE_DATA the kernel hands to
/// the bridge (RTM_SETLINK ignores IFLA_LINKINFO). The link must already be a port.
pub async fn set_bridge_port(handle: &Handle, link: &str, flags: &BridgePortFlags) -> Result<(), Error> {
    let what = || format!("set bridge port {link} {flags}");
    let mut message = LinkUnspec::new_with_name(link).build();
    message.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::PortKind(InfoPortKind::Bridge),
        LinkInfo::PortData(InfoPortData::BridgePort(bridge_port_attributes(flags))),
    ]));
    change(handle, RouteNetlinkMessage::NewLink(message), 0).await.map_err(|r| r.blame(what()))
}

/// Attributes of a link's kind to change, as `ip link set DEV type KIND ...` sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindChange {
    Vxlan(crate::model::VxlanChange),
    Macvlan(MacvlanMode),
}

impl fmt::Display for KindChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KindChange::Vxlan(change) => write!(f, "type vxlan {change}"),
            KindChange::Macvlan(mode) => write!(f, "type macvlan mode {}", format!("{mode:?}").to_lowercase()),
        }
    }
}

/// The IFLA_VXLAN_* attributes for the changes given; validation has checked `ageing`.
fn vxlan_change_attributes(change: &crate::model::VxlanChange) -> Vec<InfoVxlan> {
    use crate::model::VxlanDfMode;
    let df = change.df.map(|df| {
        InfoVxlan::Df(match df {
            VxlanDfMode::Unset => VxlanDf::Unset,
            VxlanDfMode::Set => VxlanDf::Set,
            VxlanDfMode::Inherit => VxlanDf::Inherit,
        })
    });
    let ageing = change.ageing_seconds().ok().flatten().map(InfoVxlan::Ageing);
    [
        change.learning.map(InfoVxlan::Learning),
        ageing,
        df,
        change.ttl.map(InfoVxlan::Ttl),
        change.tos.map(InfoVxlan::Tos),
        change.port_range.map(|[low, high]| InfoVxlan::PortRange((low, high))),
        change.udpcsum.map(InfoVxlan::UDPCsum),
        change.l2miss.map(InfoVxlan::L2Miss),
        change.l3miss.map(InfoVxlan::L3Miss),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `ip link set dev LINK type vxlan learning off ...`: an RTM_NEWLINK without
/// NLM_F_CREATE whose IFLA_INFO_DATA the kernel hands to the kind's changelink
/// (RTM_SETLINK ignores IFLA_LINKINFO). The kernel refuses a kind that is not the link's.
pub async fn change_kind(handle: &Handle, link: &str, wanted: &KindChange) -> Result<(), Error> {
    let (kind, data) = match wanted {
        KindChange::Vxlan(vxlan) => (InfoKind::Vxlan, InfoData::Vxlan(vxlan_change_attributes(vxlan))),
        KindChange::Macvlan(mode) => {
            (InfoKind::MacVlan, InfoData::MacVlan(vec![InfoMacVlan::Mode(macvlan_mode(*mode))]))
        }
    };
    let mut message = LinkUnspec::new_with_name(link).build();
    message.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind), LinkInfo::Data(data)]));
    change(handle, RouteNetlinkMessage::NewLink(message), 0)
        .await
        .map_err(|r| r.blame(format!("set link {link} {wanted}")))
}

// ---------------------------------------------------------------------------------------
// Addresses

/// The RTM_NEWADDR / RTM_DELADDR body for `address` on interface `index`. IPv6
/// addresses skip duplicate address detection: a tentative address cannot be used as
/// a source for 1-2 s, and scenarios must not depend on that timing.
fn address_message(index: u32, address: IpNet) -> AddressMessage {
    match address {
        IpNet::V4(net) => {
            let mut message = AddressMessageBuilder::<std::net::Ipv4Addr>::new()
                .index(index)
                .address(net.addr(), net.prefix_len())
                .build();
            // rtnetlink's builder leaves a class D address out of the message (the
            // kernel then answers "Local address is not supplied"); `ip address add`
            // sends it as local and peer address like any other.
            if net.addr().is_multicast() {
                message.attributes.push(AddressAttribute::Address(net.addr().into()));
                message.attributes.push(AddressAttribute::Local(net.addr().into()));
            }
            message
        }
        IpNet::V6(net) => {
            let mut message = AddressMessageBuilder::<std::net::Ipv6Addr>::new()
                .index(index)
                .address(net.addr(), net.prefix_len())
                .build();
            message.header.flags |= AddressHeaderFlags::Nodad;
            message.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
            message
        }
    }
}

/// `ip address add ADDRESS dev LINK` (IPv6: `nodad`).
pub async fn add_address(handle: &Handle, link: LinkRef<'_>, address: IpNet) -> Result<(), Error> {
    let index = resolve(handle, link).await?;
    change(handle, RouteNetlinkMessage::NewAddress(address_message(index, address)), CREATE)
        .await
        .map_err(|r| r.blame(format!("add address {address} to {link}")))
}

/// `ip address del ADDRESS dev LINK`.
pub async fn del_address(handle: &Handle, link: LinkRef<'_>, address: IpNet) -> Result<(), Error> {
    let index = resolve(handle, link).await?;
    change(handle, RouteNetlinkMessage::DelAddress(address_message(index, address)), 0)
        .await
        .map_err(|r| r.blame(format!("delete address {address} from {link}")))
}

// ---------------------------------------------------------------------------------------
// Routes and rules

mod fib_entry;
pub use fib_entry::{RouteEntry, RouteEntryHop, route_entry};

fn family_of(ipv6: bool) -> AddressFamily {
    if ipv6 { AddressFamily::Inet6 } else { AddressFamily::Inet }
}

/// Put a table id where the kernel looks for it: the 8-bit header field when it fits,
/// else the 32-bit attribute (`RT_TABLE_UNSPEC` in the header, as iproute2 does).
fn table_fields(table: u32) -> (u8, Option<u32>) {
    match u8::try_from(table) {
        Ok(small) => (small, None),
        Err(_) => (RouteHeader::RT_TABLE_UNSPEC, Some(table)),
    }
}

/// Whether a route message is meant to add a route or to find one to delete; the
/// kernel matches deletions on every field given, so those leave defaults open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteIntent {
    Add,
    Delete,
}

fn route_type(kind: RouteKind) -> RouteType {
    match kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Local => RouteType::Local,
        RouteKind::Broadcast => RouteType::Broadcast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
        RouteKind::Throw => RouteType::Throw,
        RouteKind::Multicast => RouteType::Multicast,
        RouteKind::Anycast => RouteType::Anycast,
        RouteKind::Nat => RouteType::Nat,
    }
}

/// The header `ip route add|del SPEC` sends (iproute2's `iproute_modify`): an added
/// route is unicast, `proto boot` and scope universe unless written otherwise; a
/// deletion leaves type and protocol unspecified and the scope `nowhere`, which the
/// kernel reads as "any", so `del 127.0.0.0/8 dev lo table local` finds the local
/// route. Types of the node's own addresses default to table `local`, and the scope
/// (when not written) follows the type: host for local and nat; link for broadcast,
/// multicast, anycast and for a unicast route added without gateway or nexthops;
/// universe for IPv6.
fn route_header(spec: &RouteSpec, intent: RouteIntent) -> RouteHeader {
    let ipv6 = spec.dst.map_or(spec.ipv6, |d| matches!(d, IpNet::V6(_)));
    let mut header = RouteHeader { address_family: family_of(ipv6), ..Default::default() };
    let kind = match intent {
        RouteIntent::Add => Some(spec.kind_to_add()),
        RouteIntent::Delete => spec.kind,
    };
    header.kind = kind.map_or(RouteType::Unspec, route_type);
    header.table = table_fields(spec.table_id()).0;
    header.protocol = match (spec.protocol, intent) {
        (Some(protocol), _) => RouteProtocol::from(protocol),
        (None, RouteIntent::Add) => RouteProtocol::Boot,
        (None, RouteIntent::Delete) => RouteProtocol::Unspec,
    };
    header.scope = match spec.scope {
        Some(scope) => NlScope::from(scope),
        None if ipv6 => NlScope::Universe,
        None => match (kind.unwrap_or(RouteKind::Unicast), intent) {
            (RouteKind::Local | RouteKind::Nat, _) => NlScope::Host,
            (RouteKind::Broadcast | RouteKind::Multicast | RouteKind::Anycast, _) => NlScope::Link,
            // As iproute2: a multipath route is never link scope.
            (RouteKind::Unicast, RouteIntent::Add) if spec.via.is_none() && spec.nexthops.is_empty() => NlScope::Link,
            (_, RouteIntent::Add) => NlScope::Universe,
            (_, RouteIntent::Delete) => NlScope::NoWhere,
        },
    };
    if spec.onlink {
        header.flags |= RouteFlags::Onlink;
    }
    if let Some(dst) = spec.dst {
        header.destination_prefix_length = dst.prefix_len();
    }
    header.tos = spec.tos.unwrap_or(0);
    header
}

/// A gateway as the kernel takes it: an IPv6 gateway of an IPv4 route (RFC 5549)
/// travels as RTA_VIA, every other as RTA_GATEWAY.
fn gateway_attribute(gateway: IpAddr, ipv6_route: bool) -> RouteAttribute {
    match gateway {
        IpAddr::V6(gw) if !ipv6_route => RouteAttribute::Via(RouteVia::Inet6(gw)),
        gw => RouteAttribute::Gateway(gw.into()),
    }
}

/// A metric in the kernel's words (RTAX_*).
fn metric_attribute(name: MetricName, value: u32) -> RouteMetric {
    match name {
        MetricName::Mtu => RouteMetric::Mtu(value),
        MetricName::Advmss => RouteMetric::Advmss(value),
        MetricName::Window => RouteMetric::Window(value),
        MetricName::Hoplimit => RouteMetric::Hoplimit(value),
        MetricName::Initcwnd => RouteMetric::InitCwnd(value),
        MetricName::Initrwnd => RouteMetric::InitRwnd(value),
        MetricName::Reordering => RouteMetric::Reordering(value),
        MetricName::Quickack => RouteMetric::QuickAck(value),
    }
}

/// The metrics netrig names, read back from RTA_METRICS.
fn metric_of(metric: &RouteMetric) -> Option<(MetricName, u32)> {
    match *metric {
        RouteMetric::Mtu(v) => Some((MetricName::Mtu, v)),
        RouteMetric::Advmss(v) => Some((MetricName::Advmss, v)),
        RouteMetric::Window(v) => Some((MetricName::Window, v)),
        RouteMetric::Hoplimit(v) => Some((MetricName::Hoplimit, v)),
        RouteMetric::InitCwnd(v) => Some((MetricName::Initcwnd, v)),
        RouteMetric::InitRwnd(v) => Some((MetricName::Initrwnd, v)),
        RouteMetric::Reordering(v) => Some((MetricName::Reordering, v)),
        RouteMetric::QuickAck(v) => Some((MetricName::Quickack, v)),
        _ => None,
    }
}

/// One path of RTA_MULTIPATH (`struct rtnexthop`): the weight travels as weight - 1.
async fn nexthop_attribute(handle: &Handle, hop: &Nexthop, ipv6_route: bool) -> Result<RouteNextHop, Error> {
    let mut next_hop = RouteNextHop::default();
    if let Some(dev) = &hop.dev {
        next_hop.interface_index = link_index(handle, dev).await.map_err(|e| e.context("(for a nexthop)"))?;
    }
    next_hop.hops = u8::try_from(hop.weight.unwrap_or(1) - 1).unwrap_or(u8::MAX);
    if hop.onlink {
        next_hop.flags |= RouteNextHopFlags::Onlink;
    }
    next_hop.attributes.extend(hop.via.map(|via| gateway_attribute(via, ipv6_route)));
    Ok(next_hop)
}

/// Translate `ip route` syntax to an RTM_NEWROUTE / RTM_DELROUTE body.
async fn route_message(handle: &Handle, spec: &RouteSpec, intent: RouteIntent) -> Result<RouteMessage, Error> {
    let ipv6 = spec.dst.map_or(spec.ipv6, |d| matches!(d, IpNet::V6(_)));
    let mut message = RouteMessage::default();
    message.header = route_header(spec, intent);
    let table_attr = table_fields(spec.table_id()).1;
    if let Some(dst) = spec.dst {
        message.attributes.push(RouteAttribute::Destination(dst.addr().into()));
    }
    if let Some(table) = table_attr {
        message.attributes.push(RouteAttribute::Table(table));
    }
    if let Some(gateway) = spec.via {
        message.attributes.push(gateway_attribute(gateway, ipv6));
    }
    if let Some(dev) = &spec.dev {
        let index = link_index(handle, dev).await.map_err(|e| e.context(format!("(for route {spec})")))?;
        message.attributes.push(RouteAttribute::Oif(index));
    }
    if let Some(src) = spec.src {
        message.attributes.push(RouteAttribute::PrefSource(src.into()));
    }
    if let Some(metric) = spec.metric {
        message.attributes.push(RouteAttribute::Priority(metric));
    }
    if !spec.metrics.is_empty() {
        let metrics = spec.metrics.iter().map(|(name, value)| metric_attribute(*name, *value)).collect();
        message.attributes.push(RouteAttribute::Metrics(metrics));
    }
    if !spec.nexthops.is_empty() {
        let mut hops = Vec::new();
        for hop in &spec.nexthops {
            hops.push(
                nexthop_attribute(handle, hop, ipv6).await.map_err(|e| e.context(format!("(for route {spec})")))?,
            );
        }
        message.attributes.push(RouteAttribute::MultiPath(hops));
    }
    Ok(message)
}

/// `ip route add SPEC`.
pub async fn add_route(handle: &Handle, spec: &RouteSpec) -> Result<(), Error> {
    let message = route_message(handle, spec, RouteIntent::Add).await?;
    change(handle, RouteNetlinkMessage::NewRoute(message), CREATE)
        .await
        .map_err(|r| r.blame(format!("add route {spec}")))
}

/// `ip route append SPEC` (NLM_F_APPEND): beside a route with the same destination and
/// metric, where `add` finds it exists. IPv6 merges a unicast route with a gateway into
/// the existing one as another path (ECMP); IPv4 keeps a second route, which a lookup
/// reaches only where the first does not match (bound to another interface, or once
/// the first is gone).
pub async fn append_route(handle: &Handle, spec: &RouteSpec) -> Result<(), Error> {
    let message = route_message(handle, spec, RouteIntent::Add).await?;
    change(handle, RouteNetlinkMessage::NewRoute(message), NLM_F_CREATE | NLM_F_APPEND)
        .await
        .map_err(|r| r.blame(format!("append route {spec}")))
}

/// `ip route del SPEC`.
pub async fn del_route(handle: &Handle, spec: &RouteSpec) -> Result<(), Error> {
    let message = route_message(handle, spec, RouteIntent::Delete).await?;
    change(handle, RouteNetlinkMessage::DelRoute(message), 0).await.map_err(|r| r.blame(format!("delete route {spec}")))
}

/// Translate `ip rule` syntax to an RTM_NEWRULE / RTM_DELRULE body, as iproute2's
/// `iprule_modify` does; a rule to delete without an action leaves it unspecified,
/// which the kernel reads as "any".
fn rule_message(spec: &RuleSpec) -> RuleMessage {
    let mut message = RuleMessage::default();
    message.header.family = family_of(spec.ipv6);
    message.header.action = match spec.action {
        None => NlRuleAction::Unspec,
        Some(RuleAction::Lookup(table)) => {
            let (small, attr) = table_fields(table);
            message.header.table = small;
            if let Some(table) = attr {
                message.attributes.push(RuleAttribute::Table(table));
            }
            NlRuleAction::ToTable
        }
        Some(RuleAction::Goto(priority)) => {
            message.attributes.push(RuleAttribute::Goto(priority));
            NlRuleAction::Goto
        }
        Some(RuleAction::Nop) => NlRuleAction::Nop,
        Some(RuleAction::Blackhole) => NlRuleAction::Blackhole,
        Some(RuleAction::Unreachable) => NlRuleAction::Unreachable,
        Some(RuleAction::Prohibit) => NlRuleAction::Prohibit,
    };
    if spec.invert {
        message.header.flags |= RuleFlags::Invert;
    }
    message.header.tos = spec.tos.unwrap_or(0);
    if let Some(from) = spec.from {
        message.header.src_len = from.prefix_len();
        message.attributes.push(RuleAttribute::Source(from.addr()));
    }
    if let Some(to) = spec.to {
        message.header.dst_len = to.prefix_len();
        message.attributes.push(RuleAttribute::Destination(to.addr()));
    }
    if let Some(iif) = &spec.iif {
        message.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(oif) = &spec.oif {
        message.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    if let Some(mark) = spec.fwmark {
        message.attributes.push(RuleAttribute::FwMark(mark));
    }
    if let Some(mask) = spec.fwmask {
        message.attributes.push(RuleAttribute::FwMask(mask));
    }
    if let Some(protocol) = spec.ipproto {
        message.attributes.push(RuleAttribute::IpProtocol(i32::from(protocol).into()));
    }
    let port_range = |(start, end): (u16, u16)| RulePortRange { start, end };
    message.attributes.extend(spec.sport.map(|range| RuleAttribute::SourcePortRange(port_range(range))));
    message.attributes.extend(spec.dport.map(|range| RuleAttribute::DestinationPortRange(port_range(range))));
    if let Some((start, end)) = spec.uidrange {
        message.attributes.push(RuleAttribute::UidRange(RuleUidRange { start, end }));
    }
    if let Some(length) = spec.suppress_prefixlength {
        message.attributes.push(RuleAttribute::SuppressPrefixLen(length));
    }
    if let Some(priority) = spec.priority {
        message.attributes.push(RuleAttribute::Priority(priority));
    }
    message
}

/// `ip rule add SPEC`.
pub async fn add_rule(handle: &Handle, spec: &RuleSpec) -> Result<(), Error> {
    change(handle, RouteNetlinkMessage::NewRule(rule_message(spec)), CREATE)
        .await
        .map_err(|r| r.blame_feature(format!("add rule {spec}"), "policy routing rules"))
}

/// `ip rule del SPEC`: the first rule that matches every field written.
pub async fn del_rule(handle: &Handle, spec: &RuleSpec) -> Result<(), Error> {
    change(handle, RouteNetlinkMessage::DelRule(rule_message(spec)), 0)
        .await
        .map_err(|r| r.blame_feature(format!("delete rule {spec}"), "policy routing rules"))
}

// ---------------------------------------------------------------------------------------
// Neighbours and forwarding entries

fn neighbour_address(ip: IpAddr) -> NeighbourAddress {
    match ip {
        IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
        IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
    }
}

async fn neighbour_message(handle: &Handle, spec: &NeighSpec) -> Result<NeighbourMessage, Error> {
    let mut message = NeighbourMessage::default();
    message.header.family = if spec.ip.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
    message.header.ifindex =
        link_index(handle, &spec.dev).await.map_err(|e| e.context(format!("(for neighbour {spec})")))?;
    message.header.state = match spec.state {
        NeighState::Permanent => NeighbourState::Permanent,
        NeighState::Noarp => NeighbourState::Noarp,
        NeighState::Reachable => NeighbourState::Reachable,
        NeighState::Stale => NeighbourState::Stale,
    };
    if spec.proxy {
        message.header.flags |= NeighbourFlags::Proxy;
    }
    message.attributes.push(NeighbourAttribute::Destination(neighbour_address(spec.ip)));
    if let Some(mac) = spec.lladdr {
        message.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
    }
    Ok(message)
}

/// `ip neighbour add SPEC`.
pub async fn add_neighbour(handle: &Handle, spec: &NeighSpec) -> Result<(), Error> {
    let message = neighbour_message(handle, spec).await?;
    change(handle, RouteNetlinkMessage::NewNeighbour(message), CREATE)
        .await
        .map_err(|r| r.blame(format!("add neighbour {spec}")))
}

/// `ip neighbour del SPEC`.
pub async fn del_neighbour(handle: &Handle, spec: &NeighSpec) -> Result<(), Error> {
    let message = neighbour_message(handle, spec).await?;
    change(handle, RouteNetlinkMessage::DelNeighbour(message), 0)
        .await
        .map_err(|r| r.blame(format!("delete neighbour {spec}")))
}

/// `NUD_*` bits (linux/neighbour.h) of a forwarding entry's state.
const NUD_REACHABLE: u16 = 0x02;
const NUD_NOARP: u16 = 0x40;
const NUD_PERMANENT: u16 = 0x80;
/// `NDA_NH_ID` (linux/neighbour.h), not named by netlink-packet-route.
const NDA_NH_ID: u16 = 13;

/// The state bits `bridge fdb` sends: it starts from NOARP and adds PERMANENT
/// (`local`, the default) or REACHABLE (`static`), or sends REACHABLE alone
/// (`dynamic`). A bridge reads PERMANENT as its own address, NOARP as static, the
/// rest as an entry that ages; a vxlan wants PERMANENT or REACHABLE.
fn fdb_state_bits(state: FdbState) -> u16 {
    match state {
        FdbState::Permanent => NUD_NOARP | NUD_PERMANENT,
        FdbState::Static => NUD_NOARP | NUD_REACHABLE,
        FdbState::Dynamic => NUD_REACHABLE,
    }
}

fn fdb_flag(flag: FdbFlag) -> NeighbourFlags {
    match flag {
        FdbFlag::OnSelf => NeighbourFlags::Own,
        FdbFlag::OnMaster => NeighbourFlags::Controller,
        FdbFlag::Router => NeighbourFlags::Router,
        FdbFlag::Use => NeighbourFlags::Use,
        FdbFlag::ExternLearn => NeighbourFlags::ExtLearned,
        FdbFlag::Sticky => NeighbourFlags::Sticky,
    }
}

/// An AF_BRIDGE neighbour message, as `bridge fdb` sends it (iproute2's `fdb_modify`).
async fn fdb_message(handle: &Handle, spec: &FdbSpec) -> Result<NeighbourMessage, Error> {
    let context = |e: Error| e.context(format!("(for fdb {spec})"));
    let mut message = NeighbourMessage::default();
    message.header.family = AddressFamily::Bridge;
    message.header.ifindex = link_index(handle, &spec.dev).await.map_err(context)?;
    message.header.state = NeighbourState::from(fdb_state_bits(spec.state));
    message.header.flags = spec.flags.iter().fold(NeighbourFlags::empty(), |all, flag| all | fdb_flag(*flag));
    message.attributes.push(NeighbourAttribute::LinkLayerAddress(spec.mac.0.to_vec()));
    if let Some(dst) = spec.dst {
        message.attributes.push(NeighbourAttribute::Destination(neighbour_address(dst)));
    }
    if let Some(vlan) = spec.vlan {
        message.attributes.push(NeighbourAttribute::Vlan(vlan));
    }
    if let Some(nhid) = spec.nhid {
        message.attributes.push(NeighbourAttribute::Other(DefaultNla::new(NDA_NH_ID, nhid.to_ne_bytes().to_vec())));
    }
    if let Some(port) = spec.port {
        message.attributes.push(NeighbourAttribute::Port(port));
    }
    if let Some(vni) = spec.vni {
        message.attributes.push(NeighbourAttribute::Vni(vni));
    }
    if let Some(src_vni) = spec.src_vni {
        message.attributes.push(NeighbourAttribute::SourceVni(src_vni));
    }
    if let Some(via) = &spec.via {
        message.attributes.push(NeighbourAttribute::IfIndex(link_index(handle, via).await.map_err(context)?));
    }
    Ok(message)
}

/// `bridge fdb append SPEC` for entries with a remote (`dst`): NLM_F_APPEND adds one
/// more remote to the same MAC, which is how a vxlan floods `00:00:00:00:00:00` to
/// several hosts. Entries without `dst` are plain `bridge fdb add`.
pub async fn add_fdb(handle: &Handle, spec: &FdbSpec) -> Result<(), Error> {
    let message = fdb_message(handle, spec).await?;
    let (verb, flags) = if spec.dst.is_some() { ("append", NLM_F_CREATE | NLM_F_APPEND) } else { ("add", CREATE) };
    change(handle, RouteNetlinkMessage::NewNeighbour(message), flags)
        .await
        .map_err(|r| r.blame(format!("{verb} fdb entry {spec}")))
}

/// `bridge fdb del SPEC` (with `dst`, only that remote goes).
pub async fn del_fdb(handle: &Handle, spec: &FdbSpec) -> Result<(), Error> {
    let message = fdb_message(handle, spec).await?;
    change(handle, RouteNetlinkMessage::DelNeighbour(message), 0)
        .await
        .map_err(|r| r.blame(format!("delete fdb entry {spec}")))
}

/// One entry of a neighbour table (ARP for IPv4, NDP for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourEntry {
    pub ip: IpAddr,
    pub dev: String,
    /// None while the entry is being resolved (INCOMPLETE) or has failed.
    pub lladdr: Option<MacAddr>,
    pub state: NudState,
}

/// `10.0.0.9 dev eth0 lladdr 02:00:00:00:00:09 STALE`, as `ip neighbour` prints it.
impl fmt::Display for NeighbourEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.ip, self.dev)?;
        if let Some(mac) = self.lladdr {
            write!(f, " lladdr {mac}")?;
        }
        write!(f, " {}", self.state)
    }
}

fn nud_state(state: NeighbourState) -> NudState {
    match state {
        NeighbourState::Incomplete => NudState::Incomplete,
        NeighbourState::Reachable => NudState::Reachable,
        NeighbourState::Stale => NudState::Stale,
        NeighbourState::Delay => NudState::Delay,
        NeighbourState::Probe => NudState::Probe,
        NeighbourState::Failed => NudState::Failed,
        NeighbourState::Noarp => NudState::Noarp,
        NeighbourState::Permanent => NudState::Permanent,
        // NONE, or a state this crate does not name.
        _ => NudState::None,
    }
}

fn neighbour_entry(message: &NeighbourMessage, names: &BTreeMap<u32, String>) -> Option<NeighbourEntry> {
    let mut ip = None;
    let mut lladdr = None;
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => ip = Some(IpAddr::V4(*v4)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => ip = Some(IpAddr::V6(*v6)),
            NeighbourAttribute::LinkLayerAddress(bytes) => {
                lladdr = <[u8; 6]>::try_from(bytes.as_slice()).ok().map(MacAddr);
            }
            _ => {}
        }
    }
    let index = message.header.ifindex;
    Some(NeighbourEntry {
        ip: ip?,
        dev: names.get(&index).cloned().unwrap_or_else(|| format!("if{index}")),
        lladdr,
        state: nud_state(message.header.state),
    })
}

/// Every IPv4 and IPv6 neighbour entry of the namespace (`ip neighbour show`), sorted
/// by address, then interface.
pub async fn neighbours(handle: &Handle) -> Result<Vec<NeighbourEntry>, Error> {
    let names = names_by_index(&link_messages(handle).await?);
    // Family AF_UNSPEC: the kernel dumps every neighbour table (ARP and NDP), not the
    // bridges' forwarding databases, which answer to AF_BRIDGE.
    let answer = dump(handle, RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()), "neighbours").await?;
    let mut entries: Vec<NeighbourEntry> = answer
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewNeighbour(neighbour) => neighbour_entry(neighbour, &names),
            _ => None,
        })
        .collect();
    entries.sort_by(|a, b| (a.ip, &a.dev).cmp(&(b.ip, &b.dev)));
    Ok(entries)
}

/// `ip neighbour flush [dev DEV]`: delete every IPv4 and IPv6 neighbour entry (of `dev`)
/// but the permanent and noarp ones, as iproute2 does. An entry the kernel removed on
/// its own between the dump and the deletion is gone all the same.
pub async fn flush_neighbours(handle: &Handle, dev: Option<&str>) -> Result<(), Error> {
    let what = || format!("flush neighbours{}", dev.map(|d| format!(" dev {d}")).unwrap_or_default());
    let index = match dev {
        Some(dev) => Some(link_index(handle, dev).await.map_err(|e| e.context(format!("(to {})", what())))?),
        None => None,
    };
    let answer = dump(handle, RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()), "neighbours").await?;
    for message in answer {
        let RouteNetlinkMessage::NewNeighbour(entry) = message else { continue };
        let kept = matches!(entry.header.state, NeighbourState::Permanent | NeighbourState::Noarp);
        if kept || index.is_some_and(|i| entry.header.ifindex != i) {
            continue;
        }
        let mut delete = NeighbourMessage::default();
        delete.header = entry.header.clone();
        delete.attributes =
            entry.attributes.into_iter().filter(|a| matches!(a, NeighbourAttribute::Destination(_))).collect();
        match change(handle, RouteNetlinkMessage::DelNeighbour(delete), 0).await {
            Err(refusal) if refusal.errno != Some(Errno::ENOENT) => return Err(refusal.blame(what())),
            _ => {}
        }
    }
    Ok(())
}

/// One entry of a forwarding database, as `bridge fdb show` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    pub mac: MacAddr,
    /// The interface the entry is on (a port, the bridge, a VXLAN).
    pub dev: String,
    /// The bridge whose table holds it (NDA_MASTER), when it is a bridge's.
    pub master: Option<String>,
    /// NTF_SELF: in the device's own table.
    pub own: bool,
    pub state: FdbEntryState,
    pub flags: Vec<FdbEntryFlag>,
    pub dst: Option<IpAddr>,
    pub vni: Option<u32>,
    pub vlan: Option<u16>,
}

/// `02:00:00:00:00:0b dev pb vlan 1 master br0 static sticky`,
/// `00:00:00:00:00:00 dev vx0 dst 10.0.0.2 vni 100 self permanent`, as `bridge fdb` prints them.
impl fmt::Display for FdbEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dev {}", self.mac, self.dev)?;
        if let Some(vlan) = self.vlan {
            write!(f, " vlan {vlan}")?;
        }
        if let Some(dst) = self.dst {
            write!(f, " dst {dst}")?;
        }
        if let Some(vni) = self.vni {
            write!(f, " vni {vni}")?;
        }
        if let Some(master) = &self.master {
            write!(f, " master {master}")?;
        }
        if self.own {
            f.write_str(" self")?;
        }
        for flag in &self.flags {
            write!(f, " {flag}")?;
        }
        write!(f, " {}", self.state)
    }
}

/// The NTF_* flags a check can ask for, with their bits.
const FDB_ENTRY_FLAGS: [(NeighbourFlags, FdbEntryFlag); 4] = [
    (NeighbourFlags::Sticky, FdbEntryFlag::Sticky),
    (NeighbourFlags::Offloaded, FdbEntryFlag::Offloaded),
    (NeighbourFlags::ExtLearned, FdbEntryFlag::ExternLearn),
    (NeighbourFlags::Router, FdbEntryFlag::Router),
];

/// The reading of [`fdb_state_bits`] the other way, as `bridge fdb` prints states: a
/// PERMANENT entry is the bridge's own address, a NOARP one static, the rest ages.
fn fdb_entry_state(bits: u16) -> FdbEntryState {
    if bits & NUD_PERMANENT != 0 {
        FdbEntryState::Permanent
    } else if bits & NUD_NOARP != 0 {
        FdbEntryState::Static
    } else {
        FdbEntryState::Dynamic
    }
}

fn fdb_entry(message: &NeighbourMessage, names: &BTreeMap<u32, String>) -> Option<FdbEntry> {
    let name = |index: u32| names.get(&index).cloned().unwrap_or_else(|| format!("if{index}"));
    let mut entry = FdbEntry {
        mac: MacAddr([0; 6]),
        dev: name(message.header.ifindex),
        master: None,
        own: message.header.flags.contains(NeighbourFlags::Own),
        state: fdb_entry_state(u16::from(message.header.state)),
        flags: FDB_ENTRY_FLAGS.iter().filter(|(bit, _)| message.header.flags.contains(*bit)).map(|(_, f)| *f).collect(),
        dst: None,
        vni: None,
        vlan: None,
    };
    let mut mac = None;
    for attribute in &message.attributes {
        match attribute {
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => entry.dst = Some(IpAddr::V4(*v4)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => entry.dst = Some(IpAddr::V6(*v6)),
            // In an AF_BRIDGE message the crate cannot tell the address family: by length.
            NeighbourAttribute::Destination(NeighbourAddress::Other(bytes)) => {
                entry.dst = <[u8; 4]>::try_from(bytes.as_slice())
                    .map(IpAddr::from)
                    .or_else(|_| <[u8; 16]>::try_from(bytes.as_slice()).map(IpAddr::from))
                    .ok();
            }
            NeighbourAttribute::Controller(index) => entry.master = Some(name(*index)),
            NeighbourAttribute::Vni(vni) => entry.vni = Some(*vni),
            NeighbourAttribute::Vlan(vlan) => entry.vlan = Some(*vlan),
            _ => {}
        }
    }
    entry.mac = MacAddr(mac?);
    Some(entry)
}

/// Every forwarding entry of the namespace (`bridge fdb show`): the AF_BRIDGE
/// neighbour dump, bridges' tables and devices' own, sorted by interface and MAC.
pub async fn fdb_entries(handle: &Handle) -> Result<Vec<FdbEntry>, Error> {
    let names = names_by_index(&link_messages(handle).await?);
    let mut query = NeighbourMessage::default();
    query.header.family = AddressFamily::Bridge;
    let answer = dump(handle, RouteNetlinkMessage::GetNeighbour(query), "forwarding entries").await?;
    let mut entries: Vec<FdbEntry> = answer
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewNeighbour(entry) => fdb_entry(entry, &names),
            _ => None,
        })
        .collect();
    entries.sort_by(|a, b| (&a.dev, a.mac.0, a.vlan).cmp(&(&b.dev, b.mac.0, b.vlan)));
    Ok(entries)
}

/// `RTNLGRP_NEIGH` (linux/rtnetlink.h): the multicast group of neighbour table changes.
const RTNLGRP_NEIGH: u32 = 3;
/// `RTNLGRP_TC` (linux/rtnetlink.h): the multicast group of qdisc and filter changes.
const RTNLGRP_TC: u32 = 4;

/// `RTNLGRP_IPV4_ROUTE` and `RTNLGRP_IPV6_ROUTE`: the groups of routing table changes.
const RTNLGRP_ROUTES: [u32; 2] = [7, 11];

/// The change notifications of one namespace's neighbour tables (ARP, NDP and the
/// bridges' and VXLANs' forwarding databases: [`TableEvents::subscribe_neighbours`]),
/// routing tables ([`TableEvents::subscribe_routes`]) or links and qdiscs
/// ([`TableEvents::subscribe_links`]), to wait for a change instead of reading them
/// again and again.
#[derive(Debug)]
pub struct TableEvents(rtnetlink::sys::Socket);

impl TableEvents {
    /// Subscribe inside `ns`. Subscribe before reading the table, so that a change
    /// between the reading and the waiting still wakes [`TableEvents::wait`].
    pub fn subscribe_neighbours(ns: &Netns) -> io::Result<TableEvents> {
        Self::subscribe_to(ns, &[RTNLGRP_NEIGH])
    }

    /// The same for changes of the routing tables (IPv4 and IPv6).
    pub fn subscribe_routes(ns: &Netns) -> io::Result<TableEvents> {
        Self::subscribe_to(ns, &RTNLGRP_ROUTES)
    }

    /// The same for changes of the links (bridge-port flags included) and of the
    /// qdiscs.
    pub fn subscribe_links(ns: &Netns) -> io::Result<TableEvents> {
        Self::subscribe_to(ns, &[RTNLGRP_LINK, RTNLGRP_TC])
    }

    fn subscribe_to(ns: &Netns, groups: &[u32]) -> io::Result<TableEvents> {
        ns.run(|| {
            let mut socket = rtnetlink::sys::Socket::new(rtnetlink::sys::protocols::NETLINK_ROUTE)?;
            socket.bind_auto()?;
            for &group in groups {
                socket.add_membership(group)?;
            }
            socket.set_non_blocking(true)?;
            Ok(TableEvents(socket))
        })
    }

    /// Wait until some change is announced (`true`) or `deadline` passes (`false`).
    /// Every announcement received so far is consumed: read the table afresh after.
    pub fn wait(&self, deadline: std::time::Instant) -> io::Result<bool> {
        use std::os::fd::AsFd;
        let mut fds = [crate::observe::exec::pollfd(self.0.as_fd(), nix::libc::POLLIN)];
        if !crate::observe::exec::poll_until(&mut fds, Some(deadline))? {
            return Ok(false);
        }
        let mut buf = vec![0u8; 16 << 10];
        loop {
            match nix::sys::socket::recv(self.0.as_raw_fd(), &mut buf, nix::sys::socket::MsgFlags::MSG_DONTWAIT) {
                // ENOBUFS: announcements were lost for lack of room; something changed.
                Ok(_) | Err(Errno::EINTR | Errno::ENOBUFS) => {}
                Err(Errno::EAGAIN) => return Ok(true),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Route lookup

/// What kind of route the kernel's lookup found for a destination it routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupKind {
    /// Sent out of `dev` (via a gateway or directly).
    Unicast,
    /// One of this node's own addresses (delivered over `lo`).
    Local,
    Broadcast,
    Multicast,
    Anycast,
}

/// The answer of `ip route get DST`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteLookup {
    pub kind: LookupKind,
    pub dev: Option<String>,
    pub via: Option<IpAddr>,
    pub src: Option<IpAddr>,
}

impl fmt::Display for RouteLookup {
    /// Like `ip route get` without the destination: `via 10.1.1.1 dev eth0 src 10.1.1.2`,
    /// `local dev lo src 10.1.1.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words = Vec::new();
        let kind = match self.kind {
            LookupKind::Unicast => None,
            LookupKind::Local => Some("local"),
            LookupKind::Broadcast => Some("broadcast"),
            LookupKind::Multicast => Some("multicast"),
            LookupKind::Anycast => Some("anycast"),
        };
        words.extend(kind.map(String::from));
        words.extend(self.via.map(|via| format!("via {via}")));
        words.extend(self.dev.as_ref().map(|dev| format!("dev {dev}")));
        words.extend(self.src.map(|src| format!("src {src}")));
        f.write_str(&words.join(" "))
    }
}

/// `ip route get DST`: the kernel's decision for a packet this node would send.
///
/// A destination the kernel will not route is an error, with a message that says
/// which kind of route refused it ([`refusing_route`]). [`Error::errno`] tells them apart.
pub async fn route_get(handle: &Handle, dst: IpAddr) -> Result<RouteLookup, Error> {
    Ok(route_decision(handle, &RouteQuery::to(dst)).await?.lookup)
}

/// The kind of route that made the kernel refuse a lookup with `errno`: on this kernel
/// a blackhole route answers EINVAL, an unreachable route EHOSTUNREACH, a prohibit
/// route EACCES, for IPv4 and IPv6 alike; no route at all is ENETUNREACH ("Network is
/// unreachable"). A packet arriving on an interface that does not forward is refused
/// with EHOSTUNREACH as well.
pub fn refusing_route(errno: Errno) -> Option<&'static str> {
    match errno {
        Errno::EINVAL => Some("blackhole"),
        Errno::EHOSTUNREACH => Some("unreachable"),
        Errno::EACCES => Some("prohibit"),
        _ => None,
    }
}

/// The packet whose route `ip route get` asks for.
#[derive(Debug, Clone)]
pub struct RouteQuery<'a> {
    pub to: IpAddr,
    pub from: Option<IpAddr>,
    /// Input interface: the decision for a packet received there.
    pub iif: Option<&'a str>,
    pub oif: Option<&'a str>,
    pub mark: Option<u32>,
    pub tos: Option<u8>,
    /// IP protocol number and ports, for rules with `ipproto`, `sport`, `dport`.
    pub ipproto: Option<u8>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
}

impl RouteQuery<'_> {
    pub fn to(dst: IpAddr) -> RouteQuery<'static> {
        RouteQuery {
            to: dst,
            from: None,
            iif: None,
            oif: None,
            mark: None,
            tos: None,
            ipproto: None,
            sport: None,
            dport: None,
        }
    }
}

/// The cached exception a route decision carries (`ip route get`'s `cache` line).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RouteException {
    /// A learned path MTU.
    pub mtu: Option<u32>,
    /// Made by an ICMP redirect (IPv4 `RTCF_REDIRECTED`).
    pub redirected: bool,
    /// Has a timer (the exception ages out).
    pub expires: bool,
    /// An IPv6 clone (RTM_F_CLONED): a cached exception, made by a redirect or a learned
    /// MTU; IPv6 does not say which, nor always gives it a timer.
    pub cloned: bool,
}

impl RouteException {
    /// The exception a route answer carries, as [`route_decision`] reads it.
    fn of(route: &RouteMessage, ipv6: bool, mtu: Option<u32>) -> RouteException {
        let expires =
            route.attributes.iter().any(|a| matches!(a, RouteAttribute::CacheInfo(info) if info.expires != 0));
        let redirected = !ipv6 && route.header.flags.bits() & RTCF_REDIRECTED != 0;
        // IPv4 answers carry the route's own MTU metric too; only an exception (one with a
        // timer, or an IPv6 clone) has a learned one.
        let cloned = ipv6 && route.header.flags.contains(RouteFlags::Cloned);
        RouteException { mtu: mtu.filter(|_| expires || cloned), redirected, expires, cloned }
    }

    pub fn exists(&self) -> bool {
        self.mtu.is_some() || self.redirected || self.expires || self.cloned
    }
}

/// The kernel's whole answer to `ip route get`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RouteDecision {
    pub lookup: RouteLookup,
    /// The table the route was found in.
    pub table: u32,
    pub exception: RouteException,
}

impl fmt::Display for RouteDecision {
    /// [`RouteLookup`]'s words, the table when it is not `main` and the exception as
    /// `ip route get` prints it, without the remaining seconds (they change):
    /// `via 10.0.0.2 dev eth0 src 10.0.0.10, cache redirected expires`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.lookup)?;
        if self.table != RT_TABLE_MAIN {
            write!(f, " table {}", crate::model::table_name(self.table))?;
        }
        let e = &self.exception;
        if e.exists() {
            f.write_str(", cache")?;
            if e.redirected {
                f.write_str(" redirected")?;
            }
            if e.expires {
                f.write_str(" expires")?;
            }
            if let Some(mtu) = e.mtu {
                write!(f, " mtu {mtu}")?;
            }
        }
        Ok(())
    }
}

/// `RTCF_REDIRECTED` (linux/in_route.h), in the flags of an IPv4 route answer.
const RTCF_REDIRECTED: u32 = 0x0004_0000;

/// `ip route get TO [from FROM] [iif DEV] [oif DEV] [mark N] [tos N] [ipproto P] [sport N]
/// [dport N]`, sent as iproute2
/// sends it (`iproute_get`): RTM_GETROUTE with RTM_F_LOOKUP_TABLE for IPv4 (which
/// only IPv4 honours), so that the answer names the table the route came from.
pub async fn route_decision(handle: &Handle, query: &RouteQuery<'_>) -> Result<RouteDecision, Error> {
    let ipv6 = query.to.is_ipv6();
    let mut request_message = lookup_request(handle, query).await?;
    if !ipv6 {
        request_message.header.flags = RouteFlags::LookupTable;
    }
    let route = ask_route(handle, query, request_message).await?;
    let facts = RouteFacts::of(&route);
    let dev = match facts.oif {
        Some(index) => Some(link_name(handle, index).await?),
        None => None,
    };
    let kind = match route.header.kind {
        RouteType::Local => LookupKind::Local,
        RouteType::Broadcast => LookupKind::Broadcast,
        RouteType::Multicast => LookupKind::Multicast,
        RouteType::Anycast => LookupKind::Anycast,
        _ => LookupKind::Unicast,
    };
    let exception = RouteException::of(&route, ipv6, facts.metrics.get(&MetricName::Mtu).copied());
    Ok(RouteDecision {
        lookup: RouteLookup { kind, dev, via: facts.via, src: facts.prefsrc },
        table: facts.table,
        exception,
    })
}

/// The RTM_GETROUTE body of `ip route get` for `query`.
async fn lookup_request(handle: &Handle, query: &RouteQuery<'_>) -> Result<RouteMessage, Error> {
    let dst = query.to;
    let what = || format!("look up route to {dst}");
    let ipv6 = dst.is_ipv6();
    let host_len = if ipv6 { 128 } else { 32 };
    let mut request_message = RouteMessage::default();
    request_message.header.address_family = family_of(ipv6);
    request_message.header.destination_prefix_length = host_len;
    request_message.attributes.push(RouteAttribute::Destination(dst.into()));
    if let Some(from) = query.from {
        request_message.header.source_prefix_length = host_len;
        request_message.attributes.push(RouteAttribute::Source(from.into()));
    }
    let index_of =
        |dev| async move { link_index(handle, dev).await.map_err(|e| e.context(format!("(to {})", what()))) };
    if let Some(iif) = query.iif {
        request_message.attributes.push(RouteAttribute::Iif(index_of(iif).await?));
    }
    if let Some(oif) = query.oif {
        request_message.attributes.push(RouteAttribute::Oif(index_of(oif).await?));
    }
    if let Some(mark) = query.mark {
        request_message.attributes.push(RouteAttribute::Mark(mark));
    }
    request_message.attributes.extend(query.ipproto.map(RouteAttribute::IpProto));
    request_message.attributes.extend(query.sport.map(RouteAttribute::Sport));
    request_message.attributes.extend(query.dport.map(RouteAttribute::Dport));
    request_message.header.tos = query.tos.unwrap_or(0);
    Ok(request_message)
}

/// Send a lookup and take the route the kernel answers with; a refusal names the kind
/// of route that refused ([`refusing_route`]).
async fn ask_route(handle: &Handle, query: &RouteQuery<'_>, lookup: RouteMessage) -> Result<RouteMessage, Error> {
    let dst = query.to;
    let what = || format!("look up route to {dst}");
    let answer = request(handle, RouteNetlinkMessage::GetRoute(lookup), 0).await.map_err(|refusal| {
        let refused_by = match (refusal.errno.and_then(refusing_route), query.iif) {
            (Some("unreachable"), Some(iif)) => Some(format!("unreachable route or no forwarding on {iif}")),
            (route, _) => route.map(|route| format!("{route} route")),
        };
        match refused_by {
            Some(route) => Error::Failed {
                what: what(),
                message: format!("{route} ({})", refusal.message()),
                errno: refusal.errno.map(|e| e as i32),
            },
            None => refusal.blame(what()),
        }
    })?;
    answer
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewRoute(route) => Some(route),
            _ => None,
        })
        .ok_or_else(|| Error::Failed { what: what(), message: "the kernel sent no route".into(), errno: None })
}

async fn link_name(handle: &Handle, index: u32) -> Result<String, Error> {
    let query = LinkUnspec::new_with_index(index).build();
    let answer = request(handle, RouteNetlinkMessage::GetLink(query), 0)
        .await
        .map_err(|r| r.blame(format!("find interface {index}")))?;
    Ok(answer
        .iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => name_of(link),
            _ => None,
        })
        .unwrap_or_else(|| format!("if{index}")))
}

// ---------------------------------------------------------------------------------------
// State dumps for reports

/// One interface as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkDump {
    pub name: String,
    /// Depends on creation order; not for snapshots.
    #[serde(skip)]
    pub index: u32,
    /// `veth`, `bridge`, `vxlan`, `macvlan`, `tun` (also for taps), `loopback`.
    pub kind: Option<String>,
    pub master: Option<String>,
    /// IFF_UP: set administratively.
    pub admin_up: bool,
    /// IFF_LOWER_UP: the carrier (a veth has it when its peer is up).
    pub carrier: bool,
    /// RFC 2863 operational state as `ip link` prints it (UP, DOWN, LOWERLAYERDOWN,
    /// UNKNOWN). The kernel updates it asynchronously (linkwatch), so right after a
    /// change it may still show the previous state.
    pub oper_state: String,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    /// IPv4 then IPv6, sorted. IPv6 link-local addresses are left out: the kernel adds
    /// them asynchronously once the carrier is up, so they would make reports flap.
    pub addresses: Vec<IpNet>,
}

fn name_of(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.clone()),
        _ => None,
    })
}

fn is_ipv6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

async fn dump(handle: &Handle, query: RouteNetlinkMessage, what: &str) -> Result<Vec<RouteNetlinkMessage>, Error> {
    request(handle, query, NLM_F_DUMP).await.map_err(|r| r.blame(format!("dump {what}")))
}

/// Every interface of the namespace with its addresses, sorted by name.
pub async fn links(handle: &Handle) -> Result<Vec<LinkDump>, Error> {
    let links = link_messages(handle).await?;
    let answer = dump(handle, RouteNetlinkMessage::GetAddress(AddressMessage::default()), "addresses").await?;
    let names = names_by_index(&links);
    let mut addresses = addresses_by_link(&answer);
    let mut dumps: Vec<LinkDump> = links
        .iter()
        .map(|link| link_dump(link, &names, addresses.remove(&link.header.index).unwrap_or_default()))
        .collect();
    dumps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(dumps)
}

/// Every IPv6 address (link-local ones included) on an interface whose carrier is up
/// and that does neighbour discovery (not `lo`, not IFF_NOARP: dummies, VRFs, tun),
/// with the interface's index; addresses whose DAD failed are left out. These are the
/// addresses the node must answer neighbour solicitations for (see
/// [`crate::build::ipv6_groups`]).
pub async fn solicitable_ipv6(handle: &Handle) -> Result<Vec<(u32, Ipv6Addr)>, Error> {
    let links = link_messages(handle).await?;
    let solicitable: BTreeSet<u32> = links
        .iter()
        .filter(|link| {
            let flags = link.header.flags;
            flags.contains(LinkFlags::Up | LinkFlags::LowerUp)
                && !flags.intersects(LinkFlags::Loopback | LinkFlags::Noarp)
        })
        .map(|link| link.header.index)
        .collect();
    let mut query = AddressMessage::default();
    query.header.family = AddressFamily::Inet6;
    let answer = dump(handle, RouteNetlinkMessage::GetAddress(query), "IPv6 addresses").await?;
    Ok(answer
        .iter()
        .filter_map(|message| match message {
            RouteNetlinkMessage::NewAddress(address) if solicitable.contains(&address.header.index) => {
                let failed = address
                    .attributes
                    .iter()
                    .any(|a| matches!(a, AddressAttribute::Flags(flags) if flags.contains(AddressFlags::Dadfailed)));
                let ip = address.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V6(ip)) => Some(*ip),
                    _ => None,
                })?;
                (!failed).then_some((address.header.index, ip))
            }
            _ => None,
        })
        .collect())
}

async fn link_messages(handle: &Handle) -> Result<Vec<LinkMessage>, Error> {
    let answer = dump(handle, RouteNetlinkMessage::GetLink(LinkMessage::default()), "links").await?;
    Ok(answer
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => Some(link),
            _ => None,
        })
        .collect())
}

fn names_by_index(links: &[LinkMessage]) -> BTreeMap<u32, String> {
    links.iter().filter_map(|link| Some((link.header.index, name_of(link)?))).collect()
}

/// The addresses of each interface (by index), IPv4 first, without IPv6 link-local.
fn addresses_by_link(answer: &[RouteNetlinkMessage]) -> BTreeMap<u32, Vec<IpNet>> {
    let mut addresses: BTreeMap<u32, Vec<IpNet>> = BTreeMap::new();
    for message in answer {
        let RouteNetlinkMessage::NewAddress(address) = message else {
            continue;
        };
        // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on
        // point-to-point links); IPv6 only sends IFA_ADDRESS.
        let attribute = |local: bool| {
            address.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) if local => Some(*ip),
                AddressAttribute::Address(ip) if !local => Some(*ip),
                _ => None,
            })
        };
        let Some(ip) = attribute(true).or_else(|| attribute(false)) else {
            continue;
        };
        if let (false, Ok(net)) = (is_ipv6_link_local(ip), IpNet::new(ip, address.header.prefix_len)) {
            addresses.entry(address.header.index).or_default().push(net);
        }
    }
    for list in addresses.values_mut() {
        list.sort_by_key(|net| (net.addr().is_ipv6(), net.addr(), net.prefix_len()));
    }
    addresses
}

fn link_dump(link: &LinkMessage, names: &BTreeMap<u32, String>, addresses: Vec<IpNet>) -> LinkDump {
    let flags = link.header.flags;
    let mut dump = LinkDump {
        name: name_of(link).unwrap_or_else(|| format!("if{}", link.header.index)),
        index: link.header.index,
        kind: flags.contains(LinkFlags::Loopback).then(|| "loopback".to_string()),
        master: None,
        admin_up: flags.contains(LinkFlags::Up),
        carrier: flags.contains(LinkFlags::LowerUp),
        oper_state: State::Unknown.to_string(),
        mtu: 0,
        mac: None,
        addresses,
    };
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::Mtu(mtu) => dump.mtu = *mtu,
            LinkAttribute::Address(bytes) => dump.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok().map(MacAddr),
            LinkAttribute::Controller(index) => dump.master = names.get(index).cloned(),
            LinkAttribute::OperState(state) => dump.oper_state = state.to_string(),
            LinkAttribute::LinkInfo(infos) => {
                let kind = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(kind) => Some(kind.to_string()),
                    _ => None,
                });
                dump.kind = kind.or(dump.kind.take());
            }
            _ => {}
        }
    }
    dump
}

/// The attributes of a route message that matter to people.
#[derive(Debug, Default)]
struct RouteFacts {
    dst: Option<IpAddr>,
    src_prefix: Option<IpAddr>,
    via: Option<IpAddr>,
    oif: Option<u32>,
    prefsrc: Option<IpAddr>,
    metric: Option<u32>,
    table: u32,
    metrics: BTreeMap<MetricName, u32>,
    nexthops: Vec<HopFacts>,
}

/// One path of a multipath route as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HopFacts {
    via: Option<IpAddr>,
    oif: u32,
    weight: u16,
    onlink: bool,
}

fn route_address(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn gateway_of(attribute: &RouteAttribute) -> Option<IpAddr> {
    match attribute {
        RouteAttribute::Gateway(address) => route_address(address),
        RouteAttribute::Via(RouteVia::Inet(v4)) => Some(IpAddr::V4(*v4)),
        RouteAttribute::Via(RouteVia::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

impl RouteFacts {
    fn of(route: &RouteMessage) -> RouteFacts {
        let mut facts = RouteFacts { table: u32::from(route.header.table), ..Default::default() };
        for attribute in &route.attributes {
            match attribute {
                RouteAttribute::Destination(address) => facts.dst = route_address(address),
                RouteAttribute::Source(address) => facts.src_prefix = route_address(address),
                RouteAttribute::Oif(index) => facts.oif = Some(*index),
                RouteAttribute::PrefSource(address) => facts.prefsrc = route_address(address),
                RouteAttribute::Priority(metric) => facts.metric = Some(*metric),
                RouteAttribute::Table(table) => facts.table = *table,
                RouteAttribute::Metrics(metrics) => facts.metrics = metrics.iter().filter_map(metric_of).collect(),
                RouteAttribute::MultiPath(hops) => {
                    facts.nexthops = hops
                        .iter()
                        .map(|hop| HopFacts {
                            via: hop.attributes.iter().find_map(gateway_of),
                            oif: hop.interface_index,
                            weight: u16::from(hop.hops) + 1,
                            onlink: hop.flags.contains(RouteNextHopFlags::Onlink),
                        })
                        .collect()
                }
                other => {
                    if let Some(gateway) = gateway_of(other) {
                        facts.via = Some(gateway);
                    }
                }
            }
        }
        facts
    }
}

/// Render one route as `ip route show table all` would (minus the timing-dependent
/// flags `linkdown`/`dead` and IPv6 `pref`).
fn render_route(route: &RouteMessage, facts: &RouteFacts, names: &BTreeMap<u32, String>) -> String {
    let header = &route.header;
    let host_len = if header.address_family == AddressFamily::Inet6 { 128 } else { 32 };
    let dev = |index: u32| names.get(&index).cloned().unwrap_or_else(|| format!("if{index}"));
    let mut words: Vec<String> = Vec::new();
    let kind = match header.kind {
        RouteType::Unicast | RouteType::Unspec => None,
        RouteType::Local => Some("local".to_string()),
        RouteType::Broadcast => Some("broadcast".into()),
        RouteType::Anycast => Some("anycast".into()),
        RouteType::Multicast => Some("multicast".into()),
        RouteType::BlackHole => Some("blackhole".into()),
        RouteType::Unreachable => Some("unreachable".into()),
        RouteType::Prohibit => Some("prohibit".into()),
        RouteType::Throw => Some("throw".into()),
        RouteType::Nat => Some("nat".into()),
        other => Some(format!("type {}", u8::from(other))),
    };
    words.extend(kind);
    words.push(match facts.dst {
        None => "default".into(),
        Some(dst) if header.destination_prefix_length == host_len => dst.to_string(),
        Some(dst) => format!("{dst}/{}", header.destination_prefix_length),
    });
    if let Some(src) = facts.src_prefix {
        words.push(format!("from {src}/{}", header.source_prefix_length));
    }
    if header.tos != 0 {
        words.push(format!("tos {:#04x}", header.tos));
    }
    if let Some(via) = facts.via {
        words.push(format!("via {via}"));
    }
    if let Some(oif) = facts.oif {
        words.push(format!("dev {}", dev(oif)));
    }
    match facts.table {
        RT_TABLE_MAIN => {}
        RT_TABLE_LOCAL => words.push("table local".into()),
        RT_TABLE_DEFAULT => words.push("table default".into()),
        table => words.push(format!("table {table}")),
    }
    if header.protocol != RouteProtocol::Boot {
        words.push(format!("proto {}", header.protocol));
    }
    match header.scope {
        NlScope::Universe => {}
        NlScope::Link => words.push("scope link".into()),
        NlScope::Host => words.push("scope host".into()),
        NlScope::Site => words.push("scope site".into()),
        NlScope::NoWhere => words.push("scope nowhere".into()),
        other => words.push(format!("scope {}", u8::from(other))),
    }
    if let Some(src) = facts.prefsrc {
        words.push(format!("src {src}"));
    }
    if let Some(metric) = facts.metric {
        words.push(format!("metric {metric}"));
    }
    if header.flags.contains(RouteFlags::Onlink) {
        words.push("onlink".into());
    }
    for (name, value) in &facts.metrics {
        words.push(format!("{} {value}", name.word()));
    }
    // Paths in a stable order: the kernel's order of IPv6 siblings in a `fibmatch`
    // answer varied from run to run on 6.1 (a route check compares them in any order).
    let mut hops: Vec<_> = facts.nexthops.iter().collect();
    hops.sort_by_key(|hop| (hop.via, dev(hop.oif)));
    for hop in hops {
        words.push("nexthop".into());
        if let Some(via) = hop.via {
            words.push(format!("via {via}"));
        }
        words.push(format!("dev {}", dev(hop.oif)));
        words.push(format!("weight {}", hop.weight));
        if hop.onlink {
            words.push("onlink".into());
        }
    }
    words.join(" ")
}

/// Every route of the namespace except the `local` table, one `ip route`-like line
/// each: IPv4 before IPv6, the main table first, then by destination and metric.
/// IPv6 link-local prefixes (fe80::/64) are left out for the reason given on
/// [`LinkDump::addresses`].
pub async fn routes(handle: &Handle) -> Result<Vec<String>, Error> {
    let names = names_by_index(&link_messages(handle).await?);
    let mut lines = Vec::new();
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        let mut query = RouteMessage::default();
        query.header.address_family = family;
        for message in dump(handle, RouteNetlinkMessage::GetRoute(query), "routes").await? {
            let RouteNetlinkMessage::NewRoute(route) = message else {
                continue;
            };
            let facts = RouteFacts::of(&route);
            let link_local = facts.dst.is_some_and(is_ipv6_link_local);
            if facts.table == RT_TABLE_LOCAL || link_local || route.header.flags.contains(RouteFlags::Cloned) {
                continue;
            }
            let table_rank = if facts.table == RT_TABLE_MAIN { 0 } else { u64::from(facts.table) + 1 };
            let key = (
                family == AddressFamily::Inet6,
                table_rank,
                facts.dst,
                route.header.destination_prefix_length,
                facts.metric,
            );
            lines.push((key, render_route(&route, &facts, &names)));
        }
    }
    lines.sort();
    Ok(lines.into_iter().map(|(_, line)| line).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let len = (4 + value.len()) as u16;
        let mut out = [len.to_ne_bytes(), kind.to_ne_bytes()].concat();
        out.extend_from_slice(value);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn an_ipv6_clone_is_a_cached_exception_even_without_a_timer_or_mtu() {
        // What an IPv6 redirect leaves: RTM_F_CLONED, no expiry, no MTU of its own.
        let mut route = RouteMessage::default();
        route.header.flags = RouteFlags::Cloned;
        let exception = RouteException::of(&route, true, None);
        assert!(exception.exists(), "{exception:?}");
        assert_eq!(exception.mtu, None);
        // An IPv4 answer's own MTU metric is no exception.
        assert!(!RouteException::of(&RouteMessage::default(), false, Some(1500)).exists());
    }

    #[test]
    fn extack_text_is_found_after_a_capped_header() {
        let mut echoed = vec![0u8; NLMSG_HDRLEN];
        echoed[0..4].copy_from_slice(&200u32.to_ne_bytes()); // original length, not echoed
        echoed.extend(tlv(2, &4u32.to_ne_bytes())); // NLMSGERR_ATTR_OFFS first
        echoed.extend(tlv(NLMSGERR_ATTR_MSG, b"Unknown device type\0"));
        let flags = NLM_F_ACK_TLVS | NLM_F_CAPPED;
        assert_eq!(extack_message(flags, &echoed).as_deref(), Some("Unknown device type"));
        assert_eq!(extack_message(NLM_F_CAPPED, &echoed), None, "no TLV flag, no text");
    }

    #[test]
    fn extack_text_is_found_after_a_full_echo_and_garbage_is_ignored() {
        let mut echoed = vec![0u8; 20];
        echoed[0..4].copy_from_slice(&20u32.to_ne_bytes());
        echoed.extend(tlv(NLMSGERR_ATTR_MSG, b"Nexthop has invalid gateway\0"));
        assert_eq!(extack_message(NLM_F_ACK_TLVS, &echoed).as_deref(), Some("Nexthop has invalid gateway"));
        assert_eq!(extack_message(NLM_F_ACK_TLVS, &[1, 2]), None);
        let mut truncated = vec![0u8; NLMSG_HDRLEN];
        truncated.extend([40, 0, 1, 0, b'x']);
        assert_eq!(extack_message(NLM_F_ACK_TLVS | NLM_F_CAPPED, &truncated), None);
    }

    #[test]
    fn refusals_become_unsupported_or_failed_with_context() {
        let unknown = Refusal { errno: Some(Errno::EOPNOTSUPP), detail: Some("Unknown device type".into()) };
        let err = unknown.blame_feature("create dummy d0".into(), "dummy").context("in node host");
        assert_eq!(
            err.to_string(),
            "kernel does not support dummy: create dummy d0 in node host: Operation not supported: Unknown device type"
        );
        let unreachable = Refusal { errno: Some(Errno::ENETUNREACH), detail: None };
        let err = unreachable.blame("add route 10.0.0.0/8 via 10.1.1.1".into()).context("in node host");
        assert_eq!(err.to_string(), "add route 10.0.0.0/8 via 10.1.1.1 in node host: Network is unreachable");
        assert_eq!(err.errno(), Some(Errno::ENETUNREACH));
    }

    #[test]
    fn link_changes_read_like_ip_link_set() {
        let change = LinkChange {
            mac: Some("02:00:00:00:00:01".parse().unwrap()),
            mtu: Some(1400),
            master: Some(Master::Set("br0".into())),
            up: Some(true),
            txqueuelen: Some(100),
            name: Some("eth9"),
        };
        assert_eq!(change.to_string(), "address 02:00:00:00:00:01 mtu 1400 master br0 up txqueuelen 100 name eth9");
        assert_eq!(LinkChange { master: Some(Master::Unset), ..Default::default() }.to_string(), "nomaster");
    }

    /// (type, table, protocol, scope) of the header `ip route add|del TEXT` sends.
    fn header_of(text: &str, intent: RouteIntent) -> (RouteType, u8, RouteProtocol, NlScope) {
        let header = route_header(&text.parse().unwrap(), intent);
        (header.kind, header.table, header.protocol, header.scope)
    }

    #[rstest::rstest]
    #[case("10.0.0.0/8 via 192.0.2.1", (RouteType::Unicast, 254, RouteProtocol::Boot, NlScope::Universe))]
    #[case("10.0.0.0/8 dev a0", (RouteType::Unicast, 254, RouteProtocol::Boot, NlScope::Link))]
    #[case("local 10.0.0.5 dev a0", (RouteType::Local, 255, RouteProtocol::Boot, NlScope::Host))]
    #[case("broadcast 10.0.0.255 dev a0", (RouteType::Broadcast, 255, RouteProtocol::Boot, NlScope::Link))]
    #[case("anycast 10.0.0.7 dev a0", (RouteType::Anycast, 255, RouteProtocol::Boot, NlScope::Link))]
    #[case("multicast 239.0.0.0/8 dev a0", (RouteType::Multicast, 254, RouteProtocol::Boot, NlScope::Link))]
    #[case("nat 10.0.0.9 via 192.0.2.9", (RouteType::Nat, 255, RouteProtocol::Boot, NlScope::Host))]
    #[case("throw 10.0.0.0/8 table 100", (RouteType::Throw, 100, RouteProtocol::Boot, NlScope::Universe))]
    #[case("blackhole 10.0.0.0/8 proto static", (RouteType::BlackHole, 254, RouteProtocol::Static, NlScope::Universe))]
    #[case("2001:db8::/64 dev a0", (RouteType::Unicast, 254, RouteProtocol::Boot, NlScope::Universe))]
    #[case("10.0.0.0/8 dev a0 scope host table 7", (RouteType::Unicast, 7, RouteProtocol::Boot, NlScope::Host))]
    fn added_routes_carry_ip_routes_defaults(
        #[case] text: &str,
        #[case] sent: (RouteType, u8, RouteProtocol, NlScope),
    ) {
        assert_eq!(header_of(text, RouteIntent::Add), sent, "{text}");
    }

    #[rstest::rstest]
    // No type, protocol or scope written: the kernel matches any (a local-table route too).
    #[case("127.0.0.0/8 dev lo table local", (RouteType::Unspec, 255, RouteProtocol::Unspec, NlScope::NoWhere))]
    #[case("10.0.0.0/8", (RouteType::Unspec, 254, RouteProtocol::Unspec, NlScope::NoWhere))]
    #[case("local 10.0.0.5 dev a0", (RouteType::Local, 255, RouteProtocol::Unspec, NlScope::Host))]
    #[case("blackhole 10.0.0.0/8", (RouteType::BlackHole, 254, RouteProtocol::Unspec, NlScope::NoWhere))]
    #[case("unicast 10.0.0.0/8 proto kernel", (RouteType::Unicast, 254, RouteProtocol::Kernel, NlScope::NoWhere))]
    fn deletions_leave_unwritten_fields_open(
        #[case] text: &str,
        #[case] sent: (RouteType, u8, RouteProtocol, NlScope),
    ) {
        assert_eq!(header_of(text, RouteIntent::Delete), sent, "{text}");
    }

    // ----- against the kernel (root) ---------------------------------------------------

    /// Run `test` with a handle on a fresh namespace, on a current-thread runtime (as
    /// the runner does); the machine's own links must be the same afterwards.
    fn in_fresh_namespace<F: std::future::Future<Output = ()>>(test: impl FnOnce(Netns, Handle) -> F) {
        let ip_link = || std::process::Command::new("ip").args(["-o", "link"]).output().unwrap().stdout;
        let before = ip_link();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let ns = Netns::new().unwrap();
            let (handle, connection) = connect(&ns).unwrap();
            test(ns, handle).await;
            connection.close().await;
        });
        assert_eq!(ip_link(), before, "the root namespace's links changed");
    }

    async fn find(handle: &Handle, name: &str) -> Option<LinkDump> {
        links(handle).await.unwrap().into_iter().find(|l| l.name == name)
    }

    fn basics(name: &str) -> LinkBasics<'_> {
        LinkBasics { name, ..Default::default() }
    }

    #[test]
    fn missing_kinds_are_unsupported_with_the_kernels_words() {
        needs_root!();
        in_fresh_namespace(|_ns, handle| async move {
            let dummy = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Dummy).name("d0").build();
            let error = add_link(&handle, dummy, "dummy", "d0", "dummy").await.unwrap_err();
            assert_eq!(
                error,
                Error::Unsupported {
                    feature: "dummy".into(),
                    what: "create dummy d0".into(),
                    message: "Operation not supported: Unknown device type".into(),
                }
            );
            let missing = link_index(&handle, "nope0").await.unwrap_err();
            assert_eq!(missing.to_string(), "find interface nope0: No such device");
        });
    }

    #[test]
    fn a_link_has_settled_when_its_operational_state_agrees_with_its_carrier() {
        let settling = |admin_up, carrier, oper_state: &str| {
            LinkStatus { admin_up, carrier, oper_state: oper_state.into(), kind: None }.is_settling()
        };
        assert!(settling(true, true, "DOWN") && settling(true, true, "LOWERLAYERDOWN"), "carrier gained");
        assert!(settling(true, false, "UP") && settling(true, false, "UNKNOWN"), "carrier lost");
        for settled in ["UP", "UNKNOWN", "DORMANT"] {
            assert!(!settling(true, true, settled), "{settled} with a carrier");
        }
        assert!(!settling(true, false, "DOWN") && !settling(true, false, "LOWERLAYERDOWN"), "no carrier");
        assert!(!settling(false, false, "DOWN") && !settling(false, true, "DOWN"), "a down link reads DOWN");
        // 6.1 answers before linkwatch ran: a veth or bridge with a carrier reads UNKNOWN.
        for kind in ["veth", "bridge"] {
            let status = |oper_state: &str| LinkStatus {
                admin_up: true,
                carrier: true,
                oper_state: oper_state.into(),
                kind: Some(kind.into()),
            };
            assert!(status("UNKNOWN").is_settling(), "{kind}: UNKNOWN with a carrier is not applied yet");
            assert!(!status("UP").is_settling(), "{kind}: UP with a carrier");
        }
    }

    #[test]
    fn link_status_and_announcements_follow_a_carrier() {
        needs_root!();
        in_fresh_namespace(|ns, handle| async move {
            add_veth(&handle, &basics("a0"), &basics("b0"), None, 1).await.unwrap();
            let events = LinkEvents::subscribe(&ns).unwrap();
            let up = LinkChange { up: Some(true), ..Default::default() };
            set_link(&handle, "a0".into(), &up).await.unwrap();
            let announced = tokio::time::timeout(Duration::from_secs(1), events.changed()).await;
            announced.expect("the change is announced").unwrap();
            let alone = link_status(&handle, "a0").await.unwrap();
            assert!(alone.admin_up && !alone.carrier && !alone.is_settling(), "peer down: no carrier: {alone:?}");

            set_link(&handle, "b0".into(), &up).await.unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
            loop {
                let status = link_status(&handle, "a0").await.unwrap();
                assert!(status.carrier, "{status:?}");
                if !status.is_settling() {
                    assert_eq!(status.oper_state, "UP");
                    break;
                }
                tokio::time::timeout_at(deadline, events.changed()).await.expect("settles in time").unwrap();
            }
            assert!(!link_status(&handle, "lo").await.unwrap().is_settling(), "down, no carrier");
            assert_eq!(link_status(&handle, "nope").await.unwrap_err().errno(), Some(Errno::ENODEV));
        });
    }

    #[test]
    fn links_are_set_enslaved_released_and_deleted() {
        needs_root!();
        in_fresh_namespace(|_ns, handle| async move {
            add_bridge(&handle, &basics("br0"), &Bridge::default()).await.unwrap();
            assert!(!find(&handle, "br0").await.unwrap().admin_up, "created down");
            let mac: MacAddr = "02:00:00:00:00:0a".parse().unwrap();
            let end = LinkBasics { name: "v0", mac: Some(mac), mtu: Some(1400), ..Default::default() };
            add_veth(&handle, &end, &basics("v1"), None, 3).await.unwrap();
            let v0 = find(&handle, "v0").await.unwrap();
            assert_eq!((v0.mac, v0.mtu), (Some(mac), 1400), "given at birth");
            for name in ["v0", "v1"] {
                let queues: Vec<_> = (get_link(&handle, name).await.unwrap().attributes.into_iter())
                    .filter(|a| matches!(a, LinkAttribute::NumTxQueues(_) | LinkAttribute::NumRxQueues(_)))
                    .collect();
                assert_eq!(queues, [LinkAttribute::NumTxQueues(3), LinkAttribute::NumRxQueues(3)], "{name}");
            }

            let enslave = LinkChange { master: Some(Master::Set("br0".into())), up: Some(true), ..Default::default() };
            set_link(&handle, "v0".into(), &enslave).await.unwrap();
            let v0 = find(&handle, "v0").await.unwrap();
            assert_eq!((v0.master.as_deref(), v0.admin_up), (Some("br0"), true));
            let v1 = link_index(&handle, "v1").await.unwrap();
            let by_index = LinkChange { mtu: Some(1300), up: Some(true), ..Default::default() };
            set_link(&handle, v1.into(), &by_index).await.unwrap();
            assert_eq!(find(&handle, "v1").await.unwrap().mtu, 1300);

            let station: MacAddr = "02:00:00:00:00:0b".parse().unwrap();
            let entry: FdbSpec = format!("{station} dev v0 master").parse().unwrap();
            add_fdb(&handle, &entry).await.unwrap();
            assert_eq!(add_fdb(&handle, &entry).await.unwrap_err().errno(), Some(Errno::EEXIST));
            del_fdb(&handle, &entry).await.unwrap();
            assert_eq!(del_fdb(&handle, &entry).await.unwrap_err().errno(), Some(Errno::ENOENT));

            let release = LinkChange { master: Some(Master::Unset), up: Some(false), ..Default::default() };
            set_link(&handle, "v0".into(), &release).await.unwrap();
            let v0 = find(&handle, "v0").await.unwrap();
            assert_eq!((v0.master, v0.admin_up), (None, false));
            let unknown_master = LinkChange { master: Some(Master::Set("br9".into())), ..Default::default() };
            let error = set_link(&handle, "v0".into(), &unknown_master).await.unwrap_err();
            assert_eq!(error.to_string(), "find interface br9 (for set link v0 master br9): No such device");

            del_link(&handle, "v1".into()).await.unwrap();
            assert!(find(&handle, "v0").await.is_none(), "a veth goes with its peer");
        });
    }

    #[test]
    fn addresses_routes_and_neighbours_come_and_go() {
        needs_root!();
        in_fresh_namespace(|ns, handle| async move {
            add_veth(&handle, &basics("a0"), &basics("b0"), None, 1).await.unwrap();
            for name in ["a0", "b0", "lo"] {
                set_link(&handle, name.into(), &LinkChange { up: Some(true), ..Default::default() }).await.unwrap();
            }
            let v4: IpNet = "192.0.2.1/24".parse().unwrap();
            let v6: IpNet = "2001:db8::1/64".parse().unwrap();
            add_address(&handle, "a0".into(), v4).await.unwrap();
            add_address(&handle, "a0".into(), v6).await.unwrap();
            assert_eq!(find(&handle, "a0").await.unwrap().addresses, [v4, v6]);
            // No DAD: the IPv6 address is usable as a source at once.
            let to_v6 = route_get(&handle, "2001:db8::99".parse().unwrap()).await.unwrap();
            assert_eq!(to_v6.src, Some("2001:db8::1".parse().unwrap()));

            let route: RouteSpec = "198.51.100.0/24 via 192.0.2.254 metric 5".parse().unwrap();
            add_route(&handle, &route).await.unwrap();
            assert!(routes(&handle).await.unwrap().contains(&"198.51.100.0/24 via 192.0.2.254 dev a0 metric 5".into()));
            let error = add_route(&handle, &route).await.unwrap_err();
            assert_eq!(error.to_string(), "add route 198.51.100.0/24 via 192.0.2.254 metric 5: File exists");
            del_route(&handle, &route).await.unwrap();
            let gone = route_get(&handle, "198.51.100.1".parse().unwrap()).await.unwrap_err();
            assert_eq!(gone.to_string(), "look up route to 198.51.100.1: Network is unreachable");
            let prohibit: RouteSpec = "prohibit 203.0.113.0/24".parse().unwrap();
            add_route(&handle, &prohibit).await.unwrap();
            let refused = route_get(&handle, "203.0.113.9".parse().unwrap()).await.unwrap_err();
            assert_eq!(refused.to_string(), "look up route to 203.0.113.9: prohibit route (Permission denied)");
            let v6_blackhole: RouteSpec = "blackhole 2001:db8:9::/48".parse().unwrap();
            add_route(&handle, &v6_blackhole).await.unwrap();
            let dropped = route_get(&handle, "2001:db8:9::1".parse().unwrap()).await.unwrap_err();
            assert_eq!(dropped.errno(), Some(Errno::EINVAL), "{dropped}");
            assert!(dropped.to_string().ends_with("blackhole route (Invalid argument)"), "{dropped}");
            let big_table: RouteSpec = "default dev a0 table 1000".parse().unwrap();
            add_route(&handle, &big_table).await.unwrap();
            let rule: RuleSpec = "not from 192.0.2.0/24 lookup 1000 priority 7".parse().unwrap();
            add_rule(&handle, &rule).await.unwrap();
            let listed = routes(&handle).await.unwrap();
            assert!(listed.contains(&"default dev a0 table 1000 scope link".into()), "{listed:?}");
            assert!(listed.contains(&"blackhole 2001:db8:9::/48 dev lo metric 1024".into()), "{listed:?}");
            assert!(listed.iter().all(|l| !l.contains("fe80")), "{listed:?}");

            let neighbour: NeighSpec = "192.0.2.7 lladdr 02:00:00:00:00:07 dev a0".parse().unwrap();
            let events = TableEvents::subscribe_neighbours(&ns).unwrap();
            let soon = || std::time::Instant::now() + std::time::Duration::from_millis(50);
            assert!(!events.wait(soon()).unwrap(), "no change yet");
            add_neighbour(&handle, &neighbour).await.unwrap();
            assert!(events.wait(soon()).unwrap(), "the new entry is announced");
            assert!(!events.wait(soon()).unwrap(), "and the announcement consumed");
            // (IPv6 multicast entries come with the interfaces; they are not ours.)
            let ipv4 = |all: Vec<NeighbourEntry>| {
                all.into_iter().filter(|n| n.ip.is_ipv4()).map(|n| n.to_string()).collect::<Vec<_>>()
            };
            let table = ipv4(neighbours(&handle).await.unwrap());
            assert_eq!(table, ["192.0.2.7 dev a0 lladdr 02:00:00:00:00:07 PERMANENT"]);
            del_neighbour(&handle, &neighbour).await.unwrap();
            assert!(ipv4(neighbours(&handle).await.unwrap()).is_empty());
            let error = del_neighbour(&handle, &neighbour).await.unwrap_err();
            assert_eq!(
                error.to_string(),
                "delete neighbour 192.0.2.7 lladdr 02:00:00:00:00:07 dev a0: No such file or directory"
            );

            del_address(&handle, "a0".into(), v6).await.unwrap();
            del_address(&handle, "a0".into(), v4).await.unwrap();
            assert!(find(&handle, "a0").await.unwrap().addresses.is_empty());
        });
    }

    /// Every route of the namespace, the `local` table included, as `render_route` shows it.
    async fn all_routes(handle: &Handle) -> Vec<String> {
        let names = names_by_index(&link_messages(handle).await.unwrap());
        let mut lines = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut query = RouteMessage::default();
            query.header.address_family = family;
            for message in dump(handle, RouteNetlinkMessage::GetRoute(query), "routes").await.unwrap() {
                if let RouteNetlinkMessage::NewRoute(route) = message {
                    lines.push(render_route(&route, &RouteFacts::of(&route), &names));
                }
            }
        }
        lines
    }

    async fn rules_of(handle: &Handle, version: rtnetlink::IpVersion, priority: u32) -> Vec<RuleMessage> {
        use futures::TryStreamExt;
        let all: Vec<RuleMessage> = handle.rule().get(version).execute().try_collect().await.unwrap();
        all.into_iter().filter(|r| r.attributes.contains(&RuleAttribute::Priority(priority))).collect()
    }

    #[test]
    fn rules_go_in_with_every_selector_and_are_deleted_by_what_is_written() {
        needs_root!();
        in_fresh_namespace(|_ns, handle| async move {
            let v4: RuleSpec = "not from 192.0.2.0/24 tos 0x10 fwmark 0x7/0xff iif eth0 ipproto udp sport 1000-2000 \
                                dport 53 uidrange 100-199 priority 70 lookup main suppress_prefixlength 0"
                .parse()
                .unwrap();
            add_rule(&handle, &v4).await.unwrap();
            let [rule] = &rules_of(&handle, rtnetlink::IpVersion::V4, 70).await[..] else { panic!("one rule 70") };
            assert_eq!((rule.header.tos, rule.header.src_len, rule.header.table), (0x10, 24, 254));
            assert!(rule.header.flags.contains(RuleFlags::Invert));
            for attribute in [
                RuleAttribute::FwMark(7),
                RuleAttribute::FwMask(0xff),
                RuleAttribute::Iifname("eth0".into()),
                RuleAttribute::IpProtocol(17.into()),
                RuleAttribute::SourcePortRange(RulePortRange { start: 1000, end: 2000 }),
                RuleAttribute::DestinationPortRange(RulePortRange { start: 53, end: 53 }),
                RuleAttribute::UidRange(RuleUidRange { start: 100, end: 199 }),
                RuleAttribute::SuppressPrefixLen(0),
            ] {
                assert!(rule.attributes.contains(&attribute), "{attribute:?} in {:?}", rule.attributes);
            }
            let v6: RuleSpec = "-6 fwmark 9 priority 80 goto 90".parse().unwrap();
            add_rule(&handle, &v6).await.unwrap();
            let [rule] = &rules_of(&handle, rtnetlink::IpVersion::V6, 80).await[..] else { panic!("one rule 80") };
            assert_eq!(rule.header.action, NlRuleAction::Goto);
            assert!(rule.attributes.contains(&RuleAttribute::Goto(90)));

            // As `ip rule del pref N`: no action, any rule of that priority.
            del_rule(&handle, &"priority 70".parse().unwrap()).await.unwrap();
            assert!(rules_of(&handle, rtnetlink::IpVersion::V4, 70).await.is_empty());
            let error = del_rule(&handle, &"priority 70".parse().unwrap()).await.unwrap_err();
            assert_eq!(error.to_string(), "delete rule priority 70: No such file or directory");
            del_rule(&handle, &"-6 priority 80 goto 90".parse().unwrap()).await.unwrap();
            assert!(rules_of(&handle, rtnetlink::IpVersion::V6, 80).await.is_empty());
        });
    }

    #[test]
    fn every_route_type_goes_in_and_comes_back() {
        needs_root!();
        in_fresh_namespace(|_ns, handle| async move {
            add_veth(&handle, &basics("a0"), &basics("b0"), None, 1).await.unwrap();
            for name in ["a0", "lo"] {
                set_link(&handle, name.into(), &LinkChange { up: Some(true), ..Default::default() }).await.unwrap();
            }
            add_address(&handle, "a0".into(), "192.0.2.1/24".parse().unwrap()).await.unwrap();
            let expected = [
                ("unicast 10.1.0.0/16 dev a0", "10.1.0.0/16 dev a0 scope link"),
                ("local 192.0.2.50 dev a0", "local 192.0.2.50 dev a0 table local scope host"),
                ("broadcast 192.0.2.77 dev a0", "broadcast 192.0.2.77 dev a0 table local scope link"),
                ("anycast 192.0.2.88 dev a0", "anycast 192.0.2.88 dev a0 table local scope link"),
                ("multicast 239.1.0.0/16 dev a0", "multicast 239.1.0.0/16 dev a0 scope link"),
                ("blackhole 10.2.0.0/16", "blackhole 10.2.0.0/16"),
                ("unreachable 10.3.0.0/16", "unreachable 10.3.0.0/16"),
                ("prohibit 10.4.0.0/16", "prohibit 10.4.0.0/16"),
                ("throw 10.5.0.0/16 table 100", "throw 10.5.0.0/16 table 100"),
                (
                    "10.6.0.0/16 dev a0 table main proto static metric 9",
                    "10.6.0.0/16 dev a0 proto static scope link metric 9",
                ),
                ("anycast 2001:db8:1::/64 dev a0", "anycast 2001:db8:1::/64 dev a0 table local metric 1024"),
            ];
            for (text, _) in expected {
                add_route(&handle, &text.parse().unwrap()).await.unwrap_or_else(|e| panic!("{text}: {e}"));
            }
            let listed = all_routes(&handle).await;
            for (text, shown) in expected {
                assert!(listed.iter().any(|l| l == shown), "{text}: no `{shown}` in {listed:#?}");
            }
            // This kernel has no route NAT (removed from Linux in 2.6.9); it says so.
            let nat = add_route(&handle, &"nat 192.0.2.99 via 192.0.2.1".parse().unwrap()).await.unwrap_err();
            assert_eq!(nat.to_string(), "add route nat 192.0.2.99 via 192.0.2.1: Invalid argument: Invalid scope");

            // `ip route del` without a type finds the kernel's own local-table route.
            let loopback = "local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1";
            assert!(listed.iter().any(|l| l == loopback), "{listed:#?}");
            del_route(&handle, &"127.0.0.0/8 dev lo table local".parse().unwrap()).await.unwrap();
            assert!(!all_routes(&handle).await.iter().any(|l| l == loopback), "deleted");
            del_route(&handle, &"local 192.0.2.50 dev a0".parse().unwrap()).await.unwrap();
            del_route(&handle, &"10.2.0.0/16".parse().unwrap()).await.unwrap();
            let left = all_routes(&handle).await;
            assert!(!left.iter().any(|l| l.contains("192.0.2.50") || l.contains("10.2.0.0")), "{left:#?}");
        });
    }

    #[test]
    fn a_class_d_address_is_added_as_ip_address_add_does() {
        needs_root!();
        in_fresh_namespace(|_ns, handle| async move {
            add_veth(&handle, &basics("a0"), &basics("b0"), None, 1).await.unwrap();
            let multicast: IpNet = "225.1.2.3/24".parse().unwrap();
            add_address(&handle, "a0".into(), multicast).await.unwrap();
            assert_eq!(find(&handle, "a0").await.unwrap().addresses, [multicast]);
            del_address(&handle, "a0".into(), multicast).await.unwrap();
            assert!(find(&handle, "a0").await.unwrap().addresses.is_empty());
        });
    }

    /// The bridge-family entries of `dev` for `mac`, as `bridge fdb show` reads them:
    /// (NUD state bits, flags, whether the bridge holds it: `NDA_MASTER` is present).
    async fn fdb_entries(handle: &Handle, dev: &str, mac: MacAddr) -> Vec<(u16, NeighbourFlags, bool)> {
        let index = link_index(handle, dev).await.unwrap();
        let mut query = NeighbourMessage::default();
        query.header.family = AddressFamily::Bridge;
        let answer = dump(handle, RouteNetlinkMessage::GetNeighbour(query), "fdb").await.unwrap();
        answer
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) if n.header.ifindex == index => Some(n),
                _ => None,
            })
            .filter(|n| n.attributes.contains(&NeighbourAttribute::LinkLayerAddress(mac.0.to_vec())))
            .map(|n| {
                let in_bridge = n.attributes.iter().any(|a| matches!(a, NeighbourAttribute::Controller(_)));
                (u16::from(n.header.state), n.header.flags, in_bridge)
            })
            .collect()
    }

    #[test]
    fn fdb_entries_get_the_state_and_flags_bridge_fdb_gives_them() {
        needs_root!();
        in_fresh_namespace(|_ns, handle| async move {
            add_bridge(&handle, &basics("br0"), &Bridge::default()).await.unwrap();
            add_veth(&handle, &basics("v0"), &basics("v1"), None, 1).await.unwrap();
            let enslave = LinkChange { master: Some(Master::Set("br0".into())), ..Default::default() };
            set_link(&handle, "v0".into(), &enslave).await.unwrap();
            // (The bridge refuses a dynamic entry on a port that is down: EPERM.)
            for name in ["br0", "v0", "v1"] {
                set_link(&handle, name.into(), &LinkChange { up: Some(true), ..Default::default() }).await.unwrap();
            }
            let none = NeighbourFlags::empty();
            // (entry, what `bridge fdb show` then reads: state, flags, in the bridge)
            let cases = [
                ("02:00:00:00:00:01 dev v0 master static", (NUD_NOARP, none, true)),
                ("02:00:00:00:00:02 dev v0 master", (NUD_PERMANENT, none, true)),
                ("02:00:00:00:00:03 dev v0 master dynamic", (NUD_REACHABLE, none, true)),
                ("02:00:00:00:00:04 dev v0 master static sticky", (NUD_NOARP, NeighbourFlags::Sticky, true)),
                ("02:00:00:00:00:05 dev v0 master extern_learn", (NUD_REACHABLE, NeighbourFlags::ExtLearned, true)),
                // `self` (the default) on a port: the port's own address filter.
                ("02:00:00:00:00:06 dev v0", (NUD_PERMANENT, NeighbourFlags::Own, false)),
            ];
            for (text, read_back) in cases {
                let entry: FdbSpec = text.parse().unwrap();
                add_fdb(&handle, &entry).await.unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(fdb_entries(&handle, "v0", entry.mac).await, [read_back], "{text}");
                del_fdb(&handle, &entry).await.unwrap_or_else(|e| panic!("{text}: {e}"));
                assert!(fdb_entries(&handle, "v0", entry.mac).await.is_empty(), "{text}: deleted");
            }
            let sticky_local: FdbSpec = "02:00:00:00:00:07 dev v0 master sticky".parse().unwrap();
            let refused = add_fdb(&handle, &sticky_local).await.unwrap_err();
            assert_eq!(refused.errno(), Some(Errno::EINVAL), "the kernel refuses a sticky local entry: {refused}");

            // A vxlan remote: its words reach the device's own table (`src_vni` too, but the
            // kernel lists it only when it differs from the device's VNI).
            let vxlan = Vxlan {
                id: 100,
                remote: None,
                local: None,
                dstport: 4789,
                dev: None,
                learning: false,
                addresses: Vec::new(),
                mtu: None,
                mac: None,
                state: Default::default(),
                master: None,
            };
            add_vxlan(&handle, &basics("vx0"), &vxlan, None, None).await.unwrap();
            let flood: FdbSpec =
                "00:00:00:00:00:00 dev vx0 dst 192.0.2.2 port 4790 vni 200 src_vni 100 via v1".parse().unwrap();
            add_fdb(&handle, &flood).await.unwrap();
            let index = link_index(&handle, "v1").await.unwrap();
            let mut query = NeighbourMessage::default();
            query.header.family = AddressFamily::Bridge;
            let dumped = dump(&handle, RouteNetlinkMessage::GetNeighbour(query), "fdb").await.unwrap();
            let remote = dumped
                .into_iter()
                .find_map(|m| match m {
                    RouteNetlinkMessage::NewNeighbour(n) if n.attributes.contains(&NeighbourAttribute::Vni(200)) => {
                        Some(n)
                    }
                    _ => None,
                })
                .expect("the remote is listed");
            assert_eq!(
                (u16::from(remote.header.state), remote.header.flags),
                (NUD_NOARP | NUD_PERMANENT, NeighbourFlags::Own)
            );
            for expected in [
                // (In the bridge family the address comes back as raw bytes.)
                NeighbourAttribute::Destination(NeighbourAddress::Other(vec![192, 0, 2, 2])),
                NeighbourAttribute::Port(4790),
                NeighbourAttribute::IfIndex(index),
            ] {
                assert!(remote.attributes.contains(&expected), "{expected:?} in {:?}", remote.attributes);
            }
            // netrig creates no nexthop objects; the kernel's refusal names what is missing.
            let by_nexthop: FdbSpec = "02:00:00:00:00:08 dev vx0 nhid 7".parse().unwrap();
            let missing = add_fdb(&handle, &by_nexthop).await.unwrap_err();
            assert!(missing.to_string().ends_with("Nexthop id does not exist"), "{missing}");
        });
    }

    #[test]
    fn a_tap_lives_as_long_as_its_fd() {
        needs_root!();
        in_fresh_namespace(|ns, handle| async move {
            let fd = add_tap(&ns, "tap7", TapMode::Tap).unwrap();
            let tun = add_tap(&ns, "tun7", TapMode::Tun).unwrap();
            assert_eq!(find(&handle, "tap7").await.unwrap().kind.as_deref(), Some("tun"));
            assert_eq!(find(&handle, "tun7").await.unwrap().mac, None, "layer 3: no MAC");
            let mac = LinkChange { mac: Some("02:00:00:00:00:07".parse().unwrap()), ..Default::default() };
            let error = set_link(&handle, "tun7".into(), &mac).await.unwrap_err();
            assert!(matches!(error, Error::Failed { .. }), "a scenario mistake, not a reason to skip: {error}");
            assert_eq!(error.errno(), Some(Errno::EOPNOTSUPP));
            let again = add_tap(&ns, "tap7", TapMode::Tap).unwrap_err();
            assert!(again.to_string().starts_with("create tap tap7: "), "{again}");
            // The kernel deletes a tap when the last reference to its file goes. A child
            // that another test thread is spawning holds a copy of every fd between
            // fork and exec, so the deletion can come a moment after our close: wait
            // for the kernel's announcement instead of looking right away.
            let mut deletions = deleted_links(&ns);
            drop((fd, tun));
            let mut gone = BTreeSet::new();
            let announced = async {
                while gone.len() < 2 {
                    gone.insert(deletions.next().await.expect("link events end only with the namespace"));
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), announced).await.expect("taps deleted");
            assert_eq!(gone, BTreeSet::from(["tap7".to_string(), "tun7".to_string()]));
            assert!(find(&handle, "tap7").await.is_none());
        });
    }

    /// Names of the interfaces deleted in `ns` from now on, as the kernel announces them.
    fn deleted_links(ns: &Netns) -> impl futures::Stream<Item = String> + Unpin {
        let runtime = tokio::runtime::Handle::current();
        let (connection, events) = ns
            .run(|| {
                let _in_runtime = runtime.enter();
                let (connection, _, events) = rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link])?;
                Ok((connection, events))
            })
            .unwrap();
        // Ends when the stream (its receiver) is dropped and the runtime shuts down.
        tokio::spawn(connection);
        events
            .filter_map(|(message, _)| async move {
                match message.payload {
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => name_of(&link),
                    _ => None,
                }
            })
            .boxed()
    }
}
