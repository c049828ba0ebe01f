//! Crafted frames for the `send` action, built from the fields a scenario gives, the
//! others filled in as a host sending that frame would: an ARP packet as a host
//! announcing or answering (see [`ArpFrame`] for the defaults), an IP packet with its
//! ICMP, ICMPv6 (echo, neighbour discovery), UDP or TCP message and checksums right, in
//! an Ethernet frame with 802.1Q tags. Pure: the caller resolves what needs the kernel
//! (the interface's MAC, the source address the kernel would choose) and
//! [`crate::observe::inject`] puts the bytes on the wire.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    ArpEthIpv4Packet, ArpOperation, ArpPacket, EtherType, Ethernet2Header, Icmpv4Header, Icmpv4Type, Icmpv6Header,
    Icmpv6Type, IpDscp, IpEcn, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, SingleVlanHeader, TcpHeader, UdpHeader,
    VlanId, VlanPcp,
};

use crate::model::{ArpFrame, ArpOp, IcmpFields, MacAddr, SendAction, VlanTag};
use crate::observe::decode::{self, TcpFlags};

/// ff:ff:ff:ff:ff:ff
pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
/// The target hardware address of a request: not known yet.
const UNKNOWN: MacAddr = MacAddr([0; 6]);

/// Every field of an ARP-over-Ethernet frame, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFields {
    pub eth_src: MacAddr,
    pub eth_dst: MacAddr,
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpFields {
    /// `spec` with its defaults, for a frame leaving an interface whose MAC is `own_mac`.
    pub fn of(spec: &ArpFrame, own_mac: MacAddr) -> ArpFields {
        let eth_src = spec.eth_src.unwrap_or(own_mac);
        let sender_mac = spec.sender_mac.unwrap_or(eth_src);
        let gratuitous = spec.is_gratuitous();
        // A reply that is not an announcement answers one host: it goes to that host.
        let answering = spec.op == ArpOp::Reply && !gratuitous;
        let eth_dst = spec.eth_dst.or(spec.target_mac.filter(|_| answering)).unwrap_or(BROADCAST);
        let target_mac = spec.target_mac.unwrap_or(match (spec.op, gratuitous) {
            (ArpOp::Request, _) => UNKNOWN,
            // Linux takes a reply as gratuitous only if its target MAC is the sender's
            // (arp_is_garp in net/ipv4/arp.c).
            (ArpOp::Reply, true) => sender_mac,
            (ArpOp::Reply, false) => eth_dst,
        });
        ArpFields {
            eth_src,
            eth_dst,
            op: spec.op,
            sender_mac,
            sender_ip: spec.sender_ip,
            target_mac,
            target_ip: spec.target_ip.unwrap_or(spec.sender_ip),
        }
    }

    /// The Ethernet frame: 14 bytes of header and 28 of ARP, unpadded, as Linux itself
    /// sends ARP over veth (a NIC pads to 60 bytes on the wire; receivers ignore it).
    pub fn to_frame(&self) -> Vec<u8> {
        ethernet(self.eth_src, self.eth_dst, &[], EtherType::ARP, &self.packet())
    }

    /// The 28 bytes of the ARP packet.
    fn packet(&self) -> Vec<u8> {
        let arp = ArpEthIpv4Packet {
            operation: match self.op {
                ArpOp::Request => ArpOperation::REQUEST,
                ArpOp::Reply => ArpOperation::REPLY,
            },
            sender_mac: self.sender_mac.0,
            sender_ipv4: self.sender_ip.octets(),
            target_mac: self.target_mac.0,
            target_ipv4: self.target_ip.octets(),
        };
        ArpPacket::from(arp).to_bytes().to_vec()
    }
}

/// What a `send: {arp: ...}` action sends, in the scenario's own terms (the defaults
/// that depend on the interface are left unsaid): `gratuitous ARP reply 10.0.0.9
/// is-at 02:00:00:00:00:09`, `ARP request who-has 10.0.0.2 tell 10.0.0.9`.
impl fmt::Display for ArpFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            ArpOp::Request => "request",
            ArpOp::Reply => "reply",
        };
        let target = self.target_ip.unwrap_or(self.sender_ip);
        match (self.is_gratuitous(), self.op) {
            (true, _) => write!(f, "gratuitous ARP {op} for {}", self.sender_ip)?,
            (false, ArpOp::Request) => write!(f, "ARP request who-has {target} tell {}", self.sender_ip)?,
            (false, ArpOp::Reply) => write!(f, "ARP reply {} to {target}", self.sender_ip)?,
        }
        if let Some(mac) = self.sender_mac {
            write!(f, " is-at {mac}")?;
        }
        if let Some(src) = self.eth_src {
            write!(f, " from {src}")?;
        }
        if let Some(dst) = self.eth_dst {
            write!(f, " to {dst}")?;
        }
        Ok(())
    }
}

/// An Ethernet frame: header, 802.1Q tags (outermost first), `ethertype`, `body`.
fn ethernet(src: MacAddr, dst: MacAddr, tags: &[VlanTag], ethertype: EtherType, body: &[u8]) -> Vec<u8> {
    let first = if tags.is_empty() { ethertype } else { EtherType::VLAN_TAGGED_FRAME };
    let mut frame = Ethernet2Header { source: src.0, destination: dst.0, ether_type: first }.to_bytes().to_vec();
    for (i, tag) in tags.iter().enumerate() {
        let f = tag.fields();
        let next = if i + 1 < tags.len() { EtherType::VLAN_TAGGED_FRAME } else { ethertype };
        // Validation keeps the id and priority in range.
        let header = SingleVlanHeader {
            pcp: VlanPcp::try_new(f.pcp).unwrap_or(VlanPcp::ZERO),
            drop_eligible_indicator: f.dei,
            vlan_id: VlanId::try_new(f.id).unwrap_or(VlanId::ZERO),
            ether_type: next,
        };
        frame.extend(header.to_bytes());
    }
    frame.extend(body);
    frame
}

/// ICMPv6 neighbour discovery types (RFC 4861).
const ROUTER_SOLICITATION: u8 = 133;
const ROUTER_ADVERTISEMENT: u8 = 134;
const NEIGHBOR_SOLICITATION: u8 = 135;
const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// Echo types, whose bytes 5-8 are the identifier and sequence number.
const ECHO_V4: [u8; 2] = [0, 8];
const ECHO_V6: [u8; 2] = [128, 129];

/// The number of an ICMP (`v6`: ICMPv6) type written by name (`echo-request`) or as a
/// number; `Err` names the types there are.
pub fn icmp_type(v6: bool, name: &str) -> Result<u8, String> {
    decode::icmp_type_number(v6, name).ok_or_else(|| {
        format!(
            "`{name}` is not an {} type (write {} or a number)",
            if v6 { "ICMPv6" } else { "ICMP" },
            decode::icmp_type_names(v6)
        )
    })
}

/// Whether an ICMPv6 type is a neighbour discovery message, sent with hop limit 255.
fn is_neighbour_discovery(icmp_type: u8) -> bool {
    (ROUTER_SOLICITATION..=NEIGHBOR_ADVERTISEMENT).contains(&icmp_type)
}

/// The IP destination of the packet `send` describes: the one given, or the one
/// neighbour discovery uses for an ICMPv6 message (see [`crate::model::Ipv6Fields`]).
pub fn ip_destination(send: &SendAction) -> Option<IpAddr> {
    if let Some(v4) = &send.ipv4 {
        return Some(v4.dst.into());
    }
    let v6 = send.ipv6.as_ref()?;
    let nd = || {
        let icmp = send.icmpv6.as_ref()?;
        match icmp_type(true, &icmp.kind).ok()? {
            NEIGHBOR_SOLICITATION => icmp.target.map(solicited_node),
            ROUTER_SOLICITATION => Some(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2)),
            ROUTER_ADVERTISEMENT | NEIGHBOR_ADVERTISEMENT => Some(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
            _ => None,
        }
    };
    v6.dst.or_else(nd).map(IpAddr::V6)
}

/// ff02::1:ffXX:XXXX, where a node listens for solicitations of `target`.
fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15]])
}

/// The MAC a multicast or broadcast IP destination maps to (RFC 1112, RFC 2464); a
/// unicast destination has none without asking the neighbours.
fn multicast_mac(dst: IpAddr) -> Option<MacAddr> {
    match dst {
        IpAddr::V4(a) if a.is_broadcast() => Some(BROADCAST),
        IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
        }
        IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]))
        }
        _ => None,
    }
}

/// The payload after the last header: text or hex bytes (validation allows one).
fn payload(send: &SendAction) -> Vec<u8> {
    match (&send.payload, &send.payload_hex) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(hex)) => hex.0.clone(),
        (None, None) => Vec::new(),
    }
}

/// The whole Ethernet frame of `send`, leaving an interface whose MAC is `own_mac`;
/// `src` is the IP source when the scenario gave none (the caller asks the kernel).
pub fn ethernet_frame(send: &SendAction, own_mac: MacAddr, src: Option<IpAddr>) -> Result<Vec<u8>, String> {
    let eth = send.eth.clone().unwrap_or_default();
    let eth_src = eth.src.unwrap_or(own_mac);
    if let Some(arp) = &send.arp {
        let arp = ArpFrame { eth_src: arp.eth_src.or(eth.src), eth_dst: arp.eth_dst.or(eth.dst), ..arp.clone() };
        let fields = ArpFields::of(&arp, own_mac);
        return Ok(ethernet(fields.eth_src, fields.eth_dst, &send.vlan, EtherType::ARP, &fields.packet()));
    }
    let (ethertype, body, dst) = match ip_destination(send) {
        Some(dst) => {
            let ethertype = if dst.is_ipv4() { EtherType::IPV4 } else { EtherType::IPV6 };
            (ethertype, ip_packet(send, src.unwrap_or(unspecified(dst)), eth_src)?, Some(dst))
        }
        None => {
            let name = eth.ethertype.as_ref().map(|t| t.as_str()).unwrap_or_default();
            let number = decode::ethertype_number(name).ok_or_else(|| format!("`{name}` is not an ethertype"))?;
            (EtherType(number), payload(send), None)
        }
    };
    let eth_dst = eth.dst.or(dst.and_then(multicast_mac)).unwrap_or(BROADCAST);
    Ok(ethernet(eth_src, eth_dst, &send.vlan, ethertype, &body))
}

fn unspecified(like: IpAddr) -> IpAddr {
    if like.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() }
}

/// The IP packet of `send` (IP header and all above it), from `src` unless the
/// scenario gave a source; `lladdr` is the default link-layer address option of
/// neighbour discovery messages.
pub fn ip_packet(send: &SendAction, src: IpAddr, lladdr: MacAddr) -> Result<Vec<u8>, String> {
    let too_big = |e: etherparse::err::ValueTooBigError<usize>| e.to_string();
    let body = payload(send);
    if let Some(v4) = &send.ipv4 {
        let src = v4.src.unwrap_or(match src {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        });
        let mut ip = Ipv4Header::new(0, v4.ttl.unwrap_or(64), IpNumber::IPV4, src.octets(), v4.dst.octets())
            .map_err(|e| e.to_string())?;
        ip.dscp = IpDscp::try_new(v4.tos >> 2).map_err(|e| e.to_string())?;
        ip.ecn = IpEcn::try_new(v4.tos & 3).map_err(|e| e.to_string())?;
        ip.dont_fragment = v4.df;
        ip.identification = v4.id;
        let upper = if let Some(icmp) = &send.icmp {
            ip.protocol = IpNumber::ICMP;
            let kind = icmp_type(false, &icmp.kind)?;
            let type_ =
                Icmpv4Type::Unknown { type_u8: kind, code_u8: icmp.code, bytes5to8: echo_bytes(icmp, &ECHO_V4, kind) };
            [Icmpv4Header::with_checksum(type_, &body).to_bytes().as_slice(), &body].concat()
        } else if let Some(udp) = &send.udp {
            ip.protocol = IpNumber::UDP;
            let header = UdpHeader::with_ipv4_checksum(udp.src_port, udp.dst_port, &ip, &body).map_err(too_big)?;
            [header.to_bytes().as_slice(), &body].concat()
        } else if let Some(tcp) = &send.tcp {
            ip.protocol = IpNumber::TCP;
            let mut header = tcp_header(tcp)?;
            header.checksum = header.calc_checksum_ipv4(&ip, &body).map_err(too_big)?;
            [header.to_bytes().as_slice(), &body].concat()
        } else {
            body
        };
        ip.set_payload_len(upper.len()).map_err(too_big)?;
        ip.header_checksum = ip.calc_header_checksum();
        return Ok([ip.to_bytes().as_slice(), &upper].concat());
    }
    let v6 = send.ipv6.as_ref().ok_or("neither `ipv4` nor `ipv6` given")?;
    let dst = match ip_destination(send) {
        Some(IpAddr::V6(dst)) => dst,
        _ => return Err("`ipv6` needs a `dst`".into()),
    };
    let src = v6.src.unwrap_or(match src {
        IpAddr::V6(a) => a,
        IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED,
    });
    let mut ip = Ipv6Header {
        traffic_class: v6.traffic_class,
        flow_label: Ipv6FlowLabel::try_new(v6.flow_label).map_err(|e| e.to_string())?,
        payload_length: 0,
        next_header: IpNumber::IPV6_NO_NEXT_HEADER,
        hop_limit: v6.hop_limit.unwrap_or(64),
        source: src.octets(),
        destination: dst.octets(),
    };
    let upper = if let Some(icmp) = &send.icmpv6 {
        ip.next_header = IpNumber::IPV6_ICMP;
        let kind = icmp_type(true, &icmp.kind)?;
        if is_neighbour_discovery(kind) && v6.hop_limit.is_none() {
            ip.hop_limit = 255;
        }
        let (bytes5to8, rest) = icmpv6_body(icmp, kind, src, lladdr, &body);
        let type_ = Icmpv6Type::Unknown { type_u8: kind, code_u8: icmp.code, bytes5to8 };
        let header = Icmpv6Header::with_checksum(type_, ip.source, ip.destination, &rest).map_err(too_big)?;
        [header.to_bytes().as_slice(), &rest].concat()
    } else if let Some(udp) = &send.udp {
        ip.next_header = IpNumber::UDP;
        let header = UdpHeader::with_ipv6_checksum(udp.src_port, udp.dst_port, &ip, &body).map_err(too_big)?;
        [header.to_bytes().as_slice(), &body].concat()
    } else if let Some(tcp) = &send.tcp {
        ip.next_header = IpNumber::TCP;
        let mut header = tcp_header(tcp)?;
        header.checksum = header.calc_checksum_ipv6(&ip, &body).map_err(too_big)?;
        [header.to_bytes().as_slice(), &body].concat()
    } else {
        body
    };
    ip.set_payload_length(upper.len()).map_err(too_big)?;
    Ok([ip.to_bytes().as_slice(), &upper].concat())
}

/// Bytes 5-8 of an ICMP message: identifier and sequence number of an echo, zero else.
fn echo_bytes(icmp: &IcmpFields, echo_types: &[u8; 2], kind: u8) -> [u8; 4] {
    if !echo_types.contains(&kind) {
        return [0; 4];
    }
    let (id, seq) = (icmp.id.to_be_bytes(), icmp.seq.to_be_bytes());
    [id[0], id[1], seq[0], seq[1]]
}

/// Option types of neighbour discovery (RFC 4861 4.6).
const SOURCE_LLADDR: u8 = 1;
const TARGET_LLADDR: u8 = 2;
const PREFIX_INFORMATION: u8 = 3;

/// Bytes 5-8 and the rest of an ICMPv6 message: for neighbour discovery its fixed
/// fields and options, otherwise the payload as given.
fn icmpv6_body(icmp: &IcmpFields, kind: u8, src: Ipv6Addr, own: MacAddr, payload: &[u8]) -> ([u8; 4], Vec<u8>) {
    let lladdr_option = |option: u8| [&[option, 1][..], &icmp.lladdr.unwrap_or(own).0].concat();
    let target = icmp.target.unwrap_or(Ipv6Addr::UNSPECIFIED).octets();
    let (head, mut rest) = match kind {
        ROUTER_SOLICITATION => ([0; 4], lladdr_option(SOURCE_LLADDR)),
        ROUTER_ADVERTISEMENT => {
            let lifetime = icmp.router_lifetime.unwrap_or(1800).to_be_bytes();
            // Current hop limit 64, no M/O flags; reachable time and retransmission
            // timer unspecified (0).
            let mut rest = [[0u8; 8].as_slice(), &lladdr_option(SOURCE_LLADDR)].concat();
            if let Some(prefix) = &icmp.prefix {
                rest.extend([PREFIX_INFORMATION, 4, prefix.prefix_len(), 0xc0]);
                rest.extend(86_400u32.to_be_bytes()); // valid lifetime: a day
                rest.extend(14_400u32.to_be_bytes()); // preferred lifetime: 4 hours
                rest.extend([0; 4]);
                rest.extend(prefix.network().octets());
            }
            ([64, 0, lifetime[0], lifetime[1]], rest)
        }
        NEIGHBOR_SOLICITATION => {
            // Duplicate address detection (from ::) carries no source link-layer address.
            let option = if src.is_unspecified() { Vec::new() } else { lladdr_option(SOURCE_LLADDR) };
            ([0; 4], [target.as_slice(), &option].concat())
        }
        NEIGHBOR_ADVERTISEMENT => {
            let flags = u8::from(icmp.router) << 7 | u8::from(icmp.solicited) << 6 | u8::from(icmp.override_flag) << 5;
            ([flags, 0, 0, 0], [target.as_slice(), &lladdr_option(TARGET_LLADDR)].concat())
        }
        _ => (echo_bytes(icmp, &ECHO_V6, kind), Vec::new()),
    };
    rest.extend(payload);
    (head, rest)
}

/// A TCP header with the flags given (default SYN), window 64240 as Linux offers.
fn tcp_header(tcp: &crate::model::TcpFields) -> Result<TcpHeader, String> {
    let flags = TcpFlags::parse(tcp.flags.as_ref().map_or("SYN", |f| f.as_str()))?;
    let mut header = TcpHeader::new(tcp.src_port, tcp.dst_port, tcp.seq, 64240);
    let has = |bit: u16| flags.0 & bit != 0;
    header.fin = has(0x001);
    header.syn = has(0x002);
    header.rst = has(0x004);
    header.psh = has(0x008);
    header.ack = has(0x010);
    header.urg = has(0x020);
    header.ece = has(0x040);
    header.cwr = has(0x080);
    Ok(header)
}

/// A mistake in a `send` action, found before anything is built: the field it is about
/// (`icmp.type`), where that field is written when it has a place of its own, and why.
#[derive(Debug)]
pub struct Mistake {
    pub field: &'static str,
    /// `(source, line, column)` as in [`crate::model::Loc`].
    pub place: Option<(usize, u64, u64)>,
    pub message: String,
}

fn place<T>(loc: &crate::model::Loc<T>) -> Option<(usize, u64, u64)> {
    Some((loc.source, loc.line, loc.column))
}

/// Every mistake in `send`: layers that cannot go together or are missing, names that
/// mean nothing, values out of range.
pub fn mistakes(send: &SendAction) -> Vec<Mistake> {
    let mut found = Vec::new();
    let mut say = |field: &'static str, at: Option<(usize, u64, u64)>, message: String| {
        found.push(Mistake { field, place: at, message });
    };
    match (&send.dev, &send.on) {
        (Some(_), Some(_)) => {
            say("on", None, "give `dev` (out of an interface) or `on` (through a node's IP stack), not both".into())
        }
        (None, None) => {
            say("dev", None, "give `dev: node:iface` (out of an interface) or `on: node` (through its IP stack)".into())
        }
        (None, Some(_)) => {
            if send.eth.is_some() || !send.vlan.is_empty() || send.arp.is_some() {
                say(
                    "on",
                    None,
                    "a packet sent through a node's IP stack has no Ethernet layer: `eth`, `vlan` and `arp` need `dev`"
                        .into(),
                );
            } else if send.ipv4.is_none() && send.ipv6.is_none() {
                say("on", None, "a packet sent through a node's IP stack needs `ipv4` or `ipv6`".into());
            }
        }
        (Some(_), None) => {}
    }
    let networks = [send.arp.is_some(), send.ipv4.is_some(), send.ipv6.is_some()].iter().filter(|&&x| x).count();
    let ethertype = send.eth.as_ref().and_then(|e| e.ethertype.as_ref());
    if networks > 1 {
        say("arp", None, "one of `arp`, `ipv4` and `ipv6`".into());
    }
    match ethertype {
        Some(t) if networks > 0 => say(
            "eth.type",
            place(t),
            "the ethertype is that of the layer given (`arp`, `ipv4`, `ipv6`): leave `type` out".into(),
        ),
        Some(t) if decode::ethertype_number(t).is_none() => say(
            "eth.type",
            place(t),
            format!("`{}` is not an ethertype (write arp, ipv4, ipv6 or a number like 0x88b5)", t.as_str()),
        ),
        None if networks == 0 && send.dev.is_some() => say(
            "eth",
            None,
            "say what the frame carries: `arp`, `ipv4`, `ipv6`, or `eth: {type: ...}` with a payload".into(),
        ),
        _ => {}
    }
    let transports = [send.icmp.is_some(), send.icmpv6.is_some(), send.udp.is_some(), send.tcp.is_some()];
    if transports.iter().filter(|&&x| x).count() > 1 {
        say("icmp", None, "one of `icmp`, `icmpv6`, `udp` and `tcp`".into());
    }
    if transports.contains(&true) && send.ipv4.is_none() && send.ipv6.is_none() {
        say("ipv4", None, "`icmp`, `icmpv6`, `udp` and `tcp` are carried by `ipv4` or `ipv6`: give one".into());
    }
    if send.arp.is_some() && (send.payload.is_some() || send.payload_hex.is_some()) {
        say("payload", None, "an ARP packet has no payload".into());
    }
    if send.payload.is_some() && send.payload_hex.is_some() {
        say("payload_hex", None, "one of `payload` and `payload_hex`".into());
    }
    if let (Some(icmp), Some(_)) = (&send.icmp, &send.ipv6) {
        say("icmp", place(&icmp.kind), "IPv6 carries `icmpv6`, not `icmp`".into());
    }
    if let (Some(icmp), Some(_)) = (&send.icmpv6, &send.ipv4) {
        say("icmpv6", place(&icmp.kind), "IPv4 carries `icmp`, not `icmpv6`".into());
    }
    for (field, v6, icmp) in [("icmp.type", false, &send.icmp), ("icmpv6.type", true, &send.icmpv6)] {
        let Some(icmp) = icmp else { continue };
        let kind = match icmp_type(v6, &icmp.kind) {
            Ok(kind) => kind,
            Err(e) => {
                say(field, place(&icmp.kind), e);
                continue;
            }
        };
        let nd_fields = icmp.target.is_some()
            || icmp.lladdr.is_some()
            || icmp.router
            || icmp.solicited
            || !icmp.override_flag
            || icmp.router_lifetime.is_some()
            || icmp.prefix.is_some();
        if !(v6 && is_neighbour_discovery(kind)) && nd_fields {
            say(field, place(&icmp.kind), "`target`, `lladdr`, `router`, `solicited`, `override`, `router_lifetime` and `prefix` belong to ICMPv6 neighbour discovery messages".into());
        } else if v6 && matches!(kind, NEIGHBOR_SOLICITATION | NEIGHBOR_ADVERTISEMENT) && icmp.target.is_none() {
            say(field, place(&icmp.kind), "a neighbour solicitation or advertisement needs a `target`".into());
        } else if icmp.prefix.is_some() && kind != ROUTER_ADVERTISEMENT {
            say(field, place(&icmp.kind), "`prefix` belongs to a router advertisement".into());
        } else if icmp.router_lifetime.is_some() && kind != ROUTER_ADVERTISEMENT {
            say(field, place(&icmp.kind), "`router_lifetime` belongs to a router advertisement".into());
        }
    }
    if send.ipv6.is_some() && ip_destination(send).is_none() {
        say("ipv6.dst", None, "give `dst` (only neighbour discovery messages have a default destination)".into());
    }
    if send.ipv6.as_ref().is_some_and(|v6| v6.flow_label >= 1 << 20) {
        say("ipv6.flow_label", None, "a flow label has 20 bits (at most 1048575)".into());
    }
    if let Some(flags) = send.tcp.as_ref().and_then(|t| t.flags.as_ref())
        && let Err(e) = TcpFlags::parse(flags)
    {
        say("tcp.flags", place(flags), e);
    }
    for tag in &send.vlan {
        let f = tag.fields();
        if f.id > 4095 || f.pcp > 7 {
            say(
                "vlan",
                None,
                format!("VLAN id {} pcp {}: an id has 12 bits (0-4095), a priority 3 (0-7)", f.id, f.pcp),
            );
        }
    }
    if *send.count == 0 {
        say("count", place(&send.count), "send at least one frame".into());
    }
    found
}

/// What a `send` action sends, in the scenario's terms: `ARP ...` as for ARP, else the
/// layers given: `IPv4 10.0.0.2 > 10.0.0.2 ICMP echo-request`, `eth type 0x88b5`.
pub fn describe(send: &SendAction) -> String {
    if let Some(arp) = &send.arp {
        return arp.to_string();
    }
    let mut parts = Vec::new();
    if let Some(eth) = &send.eth {
        let mut words = vec!["eth".to_string()];
        words.extend(eth.src.map(|m| format!("from {m}")));
        words.extend(eth.dst.map(|m| format!("to {m}")));
        words.extend(eth.ethertype.as_ref().map(|t| format!("type {}", t.as_str())));
        parts.push(words.join(" "));
    }
    for tag in &send.vlan {
        parts.push(format!("vlan {}", tag.fields().id));
    }
    if let Some(v4) = &send.ipv4 {
        let src = v4.src.map_or("(its address)".to_string(), |s| s.to_string());
        let mut ip = format!("IPv4 {src} > {}", v4.dst);
        ip.extend(v4.ttl.map(|t| format!(" ttl {t}")));
        if v4.tos != 0 {
            ip.push_str(&format!(" tos {:#04x}", v4.tos));
        }
        if v4.df {
            ip.push_str(" DF");
        }
        parts.push(ip);
    }
    if let Some(v6) = &send.ipv6 {
        let src = v6.src.map_or("(its address)".to_string(), |s| s.to_string());
        let dst = ip_destination(send).map_or("?".to_string(), |d| d.to_string());
        let mut ip = format!("IPv6 {src} > {dst}");
        ip.extend(v6.hop_limit.map(|h| format!(" hlim {h}")));
        parts.push(ip);
    }
    for (name, icmp) in [("ICMP", &send.icmp), ("ICMPv6", &send.icmpv6)] {
        if let Some(icmp) = icmp {
            let mut words = format!("{name} {}", icmp.kind.as_str());
            words.extend(icmp.target.map(|t| format!(" target {t}")));
            words.extend(icmp.prefix.as_ref().map(|p| format!(" prefix {}", **p)));
            parts.push(words);
        }
    }
    if let Some(udp) = &send.udp {
        parts.push(format!("UDP {} > {}", udp.src_port, udp.dst_port));
    }
    if let Some(tcp) = &send.tcp {
        let flags = tcp.flags.as_ref().map_or("SYN", |f| f.as_str());
        parts.push(format!("TCP {} > {} {flags}", tcp.src_port, tcp.dst_port));
    }
    if let Some(text) = &send.payload {
        parts.push(format!("payload {text:?}"));
    }
    if let Some(hex) = &send.payload_hex {
        parts.push(format!("payload {} bytes", hex.0.len()));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::decode::decode;

    const OWN: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const NINE: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x09]);
    const ASKER: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

    fn spec(yaml: &str) -> ArpFrame {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn by_default_a_gratuitous_request_from_the_interface() {
        let fields = ArpFields::of(&spec("{sender_ip: 10.0.0.9}"), OWN);
        let want = ArpFields {
            eth_src: OWN,
            eth_dst: BROADCAST,
            op: ArpOp::Request,
            sender_mac: OWN,
            sender_ip: Ipv4Addr::new(10, 0, 0, 9),
            target_mac: UNKNOWN,
            target_ip: Ipv4Addr::new(10, 0, 0, 9),
        };
        assert_eq!(fields, want);
    }

    #[test]
    fn a_gratuitous_reply_names_its_sender_as_target() {
        let fields = ArpFields::of(&spec("{op: reply, sender_ip: 10.0.0.9, sender_mac: 02:00:00:00:00:09}"), OWN);
        assert_eq!((fields.eth_src, fields.eth_dst, fields.target_mac), (OWN, BROADCAST, NINE));
    }

    #[test]
    fn a_reply_to_someone_goes_to_that_host() {
        let fields = ArpFields::of(
            &spec("{op: reply, sender_ip: 10.0.0.9, target_ip: 10.0.0.2, target_mac: 02:00:00:00:00:02}"),
            OWN,
        );
        assert_eq!((fields.eth_dst, fields.target_mac), (ASKER, ASKER));
        // Without target_mac it is broadcast, and so is its target MAC.
        let fields = ArpFields::of(&spec("{op: reply, sender_ip: 10.0.0.9, target_ip: 10.0.0.2}"), OWN);
        assert_eq!((fields.eth_dst, fields.target_mac), (BROADCAST, BROADCAST));
    }

    #[test]
    fn given_fields_win() {
        let yaml = "{op: request, sender_ip: 10.0.0.9, target_ip: 10.0.0.2, target_mac: 02:00:00:00:00:02, eth_src: 02:00:00:00:00:09, eth_dst: 02:00:00:00:00:02}";
        let fields = ArpFields::of(&spec(yaml), OWN);
        assert_eq!((fields.eth_src, fields.sender_mac, fields.eth_dst, fields.target_mac), (NINE, NINE, ASKER, ASKER));
    }

    #[test]
    fn the_frame_is_42_bytes_that_decode_back_to_the_fields() {
        let fields = ArpFields::of(&spec("{op: reply, sender_ip: 10.0.0.9, sender_mac: 02:00:00:00:00:09}"), OWN);
        let frame = fields.to_frame();
        assert_eq!(frame.len(), 42);
        assert_eq!(&frame[..14], [[0xff; 6].as_slice(), &OWN.0, &[0x08, 0x06]].concat());
        // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4, op 2
        assert_eq!(&frame[14..22], [0, 1, 8, 0, 6, 4, 0, 2]);
        let packet = decode(&frame);
        assert_eq!(
            packet.to_string(),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP reply 10.0.0.9 is-at 02:00:00:00:00:09"
        );
    }

    #[test]
    fn descriptions_say_what_was_given() {
        let shown = |yaml: &str| spec(yaml).to_string();
        assert_eq!(shown("{sender_ip: 10.0.0.9}"), "gratuitous ARP request for 10.0.0.9");
        assert_eq!(
            shown("{op: reply, sender_ip: 10.0.0.9, sender_mac: 02:00:00:00:00:09, eth_dst: ff:ff:ff:ff:ff:ff}"),
            "gratuitous ARP reply for 10.0.0.9 is-at 02:00:00:00:00:09 to ff:ff:ff:ff:ff:ff"
        );
        assert_eq!(shown("{sender_ip: 10.0.0.9, target_ip: 10.0.0.2}"), "ARP request who-has 10.0.0.2 tell 10.0.0.9");
        assert_eq!(shown("{op: reply, sender_ip: 10.0.0.9, target_ip: 10.0.0.2}"), "ARP reply 10.0.0.9 to 10.0.0.2");
    }

    fn send(yaml: &str) -> SendAction {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// The one's complement sum of `bytes` is all ones when their checksum is right.
    fn sums_to_ones(bytes: &[u8]) -> bool {
        let mut sum: u32 =
            bytes.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum == 0xffff
    }

    #[test]
    fn an_icmp_echo_with_a_spoofed_source_has_the_checksums_right() {
        let action = send(
            "{dev: a:eth0, ipv4: {src: 10.0.0.2, dst: 10.0.0.2, ttl: 7, tos: 0x10, df: true}, icmp: {type: echo-request, id: 7, seq: 1}, payload_hex: 'de ad'}",
        );
        assert!(mistakes(&action).is_empty(), "{:?}", mistakes(&action));
        let frame = ethernet_frame(&action, OWN, None).unwrap();
        assert_eq!(decode(&frame).to_string(), "IPv4 10.0.0.2 > 10.0.0.2 ICMP echo-request id 7 seq 1 ttl 7");
        let ip = &frame[14..];
        assert_eq!((ip[1], ip[6] & 0x40), (0x10, 0x40), "TOS and DF");
        assert!(sums_to_ones(&ip[..20]), "IPv4 header checksum");
        assert!(sums_to_ones(&ip[20..]), "ICMP checksum");
        assert_eq!(&ip[28..], [0xde, 0xad]);
        assert_eq!(describe(&action), "IPv4 10.0.0.2 > 10.0.0.2 ttl 7 tos 0x10 DF, ICMP echo-request, payload 2 bytes");
    }

    #[test]
    fn the_source_the_kernel_chose_fills_in_a_missing_one() {
        let action = send("{on: a, ipv4: {dst: 10.0.0.9}, udp: {dst_port: 53}, payload: hi}");
        let packet = ip_packet(&action, "10.0.0.1".parse().unwrap(), OWN).unwrap();
        let frame = [&[0u8; 12][..], &[0x08, 0x00], &packet].concat();
        assert_eq!(decode(&frame).to_string(), "IPv4 10.0.0.1:40000 > 10.0.0.9:53 UDP len 2 ttl 64");
    }

    #[test]
    fn neighbour_discovery_defaults_follow_rfc_4861() {
        let na = send(
            "{dev: a:eth0, ipv6: {src: 'fd00::9'}, icmpv6: {type: neighbor-advertisement, target: 'fd00::9', lladdr: 02:00:00:00:00:09}}",
        );
        assert!(mistakes(&na).is_empty(), "{:?}", mistakes(&na));
        let frame = ethernet_frame(&na, OWN, None).unwrap();
        // To all nodes (ff02::1 → 33:33:00:00:00:01), hop limit 255, override set, the
        // target's link-layer address option.
        assert_eq!(&frame[..6], [0x33, 0x33, 0, 0, 0, 1]);
        let ip = &frame[14..];
        assert_eq!(ip[7], 255);
        assert_eq!(&ip[24..40], "ff02::1".parse::<Ipv6Addr>().unwrap().octets());
        let icmp = &ip[40..];
        assert_eq!((icmp[0], icmp[4]), (136, 0x20));
        assert_eq!(&icmp[24..32], [2, 1, 2, 0, 0, 0, 0, 9]);
        let pseudo = [&ip[8..40], &(icmp.len() as u32).to_be_bytes()[..], &[0, 0, 0, 58], icmp].concat();
        assert!(sums_to_ones(&pseudo), "ICMPv6 checksum");

        let ns = send("{dev: a:eth0, ipv6: {}, icmpv6: {type: neighbor-solicitation, target: 'fd00::2'}}");
        assert_eq!(ip_destination(&ns), Some("ff02::1:ff00:2".parse().unwrap()));
        let frame = ethernet_frame(&ns, OWN, Some("fe80::1".parse().unwrap())).unwrap();
        assert_eq!(&frame[..6], [0x33, 0x33, 0xff, 0, 0, 2]);
        assert_eq!(
            decode(&frame).to_string(),
            "IPv6 fe80::1 > ff02::1:ff00:2 ICMPv6 neighbor-solicitation target fd00::2 hlim 255"
        );

        let ra =
            send("{dev: a:eth0, ipv6: {src: 'fe80::1'}, icmpv6: {type: router-advertisement, prefix: 'fd00:1::/64'}}");
        let frame = ethernet_frame(&ra, OWN, None).unwrap();
        let icmp = &frame[14 + 40..];
        // Router lifetime 1800, then the source link-layer address and prefix options.
        assert_eq!((icmp[0], &icmp[4..8]), (134, &[64, 0, 0x07, 0x08][..]));
        assert_eq!(&icmp[16..18], [1, 1]);
        assert_eq!(&icmp[24..28], [3, 4, 64, 0xc0]);
        assert_eq!(&icmp[40..56], "fd00:1::".parse::<Ipv6Addr>().unwrap().octets());
    }

    #[test]
    fn a_tagged_tcp_syn_and_a_bare_ethertype() {
        let syn = send(
            "{dev: a:eth0, eth: {dst: 02:00:00:00:00:02}, vlan: [100, {id: 200, pcp: 5}], ipv4: {src: 10.0.0.1, dst: 10.0.0.2}, tcp: {dst_port: 80}}",
        );
        let frame = ethernet_frame(&syn, OWN, None).unwrap();
        assert_eq!(&frame[12..22], [0x81, 0x00, 0x00, 100, 0x81, 0x00, 0xa0, 200, 0x08, 0x00]);
        let tcp = &frame[22 + 20..];
        assert_eq!((&tcp[2..4], tcp[13]), (&[0, 80][..], 0x02), "port 80, SYN");

        let raw = send("{dev: a:eth0, eth: {type: 0x88b5}, payload: hello}");
        assert!(mistakes(&raw).is_empty());
        assert_eq!(ethernet_frame(&raw, OWN, None).unwrap()[12..], *b"\x88\xb5hello");
    }

    #[test]
    fn mistakes_name_the_field() {
        let fields = |yaml: &str| -> Vec<&'static str> { mistakes(&send(yaml)).iter().map(|m| m.field).collect() };
        assert_eq!(fields("{dev: a:eth0, on: a, ipv4: {dst: 10.0.0.1}}"), ["on"]);
        assert_eq!(fields("{on: a, arp: {sender_ip: 10.0.0.1}}"), ["on"]);
        assert_eq!(fields("{dev: a:eth0}"), ["eth"]);
        assert_eq!(fields("{dev: a:eth0, ipv4: {dst: 10.0.0.1}, icmp: {type: echo-bogus}}"), ["icmp.type"]);
        assert_eq!(fields("{dev: a:eth0, ipv4: {dst: 10.0.0.1}, icmpv6: {type: echo-request}}"), ["icmpv6"]);
        assert_eq!(fields("{dev: a:eth0, ipv6: {}, icmpv6: {type: echo-request}}"), ["ipv6.dst"]);
        assert_eq!(
            fields("{dev: a:eth0, ipv6: {dst: 'fd00::1'}, icmpv6: {type: neighbor-advertisement}}"),
            ["icmpv6.type"]
        );
        assert_eq!(fields("{dev: a:eth0, ipv4: {dst: 10.0.0.1}, tcp: {flags: 'SYN,FOO'}}"), ["tcp.flags"]);
        assert_eq!(fields("{dev: a:eth0, udp: {}}"), ["eth", "ipv4"]);
        assert_eq!(fields("{dev: a:eth0, vlan: [5000], ipv4: {dst: 10.0.0.1}, count: 0}"), ["vlan", "count"]);
        assert_eq!(fields("{dev: a:eth0, eth: {type: ipv4}, ipv4: {dst: 10.0.0.1}}"), ["eth.type"]);
    }
}
