//! Decoding captured Ethernet frames into a structured, serializable summary, and
//! matching that summary against the `match:` part of a packet assertion.
//!
//! [`decode`] never fails and never panics: whatever it cannot decode is described in
//! [`Packet::other`] (an unknown or malformed payload) or [`Packet::truncated`] (the
//! frame ends before a header does), next to the layers it did decode. Parsing is
//! etherparse's lax slicer, which keeps the layers it read before an error.
//!
//! The summary mirrors [`PacketMatch`] layer by layer (`eth`, `arp`, `ip`, `icmp`,
//! `udp`, `tcp`, `vxlan`, `inner`), so [`matches`] is a field-by-field comparison and the
//! YAML of a snapshot reads like the matchers a person writes. Its `Display` is one line
//! in the spirit of `tcpdump -n`.
//!
//! Names in matchers (`eth.type: arp`, `ip.proto: udp`, `icmp.type: echo-request`,
//! `tcp.flags: SYN,ACK`) come from the tables below, which the decoder also uses to
//! name what it prints, so what a report shows is what a scenario may write.
//! [`check_match`] rejects unknown names when the scenario is validated; [`matches`]
//! treats an unknown name as matching nothing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use etherparse::err::LenError;
use etherparse::err::packet::SliceError;
use etherparse::{
    ArpPacketSlice, Icmpv4Slice, Icmpv6Slice, LaxIpv4Slice, LaxIpv6Slice, LaxNetSlice, LaxSlicedPacket, TcpSlice,
    TransportSlice, UdpSlice,
};
use serde::{Serialize, Serializer};

use crate::model::{ArpMatch, ArpOp, EthMatch, IcmpMatch, IpMatch, PacketMatch, TcpMatch, VxlanMatch};
use crate::parse::syntax::MacAddr;

/// The IANA-assigned VXLAN port; UDP to it is decoded as VXLAN.
pub const VXLAN_PORT: u16 = 4789;

/// VXLAN in VXLAN is legal but never deeper than this in a real scenario; the limit
/// keeps a crafted frame from recursing through every 50 bytes of a jumbo frame.
const MAX_VXLAN_DEPTH: usize = 4;

/// One decoded frame. Layers absent from the frame are `None` (and left out of the
/// serialized form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Packet {
    /// Length of the frame in bytes, Ethernet header included.
    pub len: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eth: Option<Eth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arp: Option<Arp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ip>,
    /// ICMP (IPv4) or ICMPv6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<Icmp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<Udp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Tcp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<Vxlan>,
    /// The Ethernet frame carried by VXLAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inner: Option<Box<Packet>>,
    /// A payload this decoder does not understand, e.g. `ethertype 0x88cc, 60 bytes`,
    /// `ip proto gre, 24 bytes`, or a malformed header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<String>,
    /// Where the frame ended too early, e.g. `UDP header: need 8 bytes, have 3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eth {
    pub src: MacAddr,
    pub dst: MacAddr,
    /// Type of the payload, after any VLAN tags.
    #[serde(rename = "type")]
    pub ethertype: EtherType,
    /// 802.1Q tags, outermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vlan: Vec<u16>,
}

/// ARP for IPv4 over Ethernet (any other kind ends up in [`Packet::other`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Arp {
    pub op: ArpOp,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ip {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// The upper-layer protocol, after IPv6 extension headers.
    pub proto: IpProto,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Icmp {
    #[serde(rename = "type")]
    pub kind: IcmpType,
    pub code: u8,
    /// Identifier and sequence number of echo requests and replies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u16>,
    /// Target address of an IPv6 neighbor solicitation or advertisement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Ipv6Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
    /// Payload bytes.
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub flags: TcpFlags,
    /// Payload bytes.
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vxlan {
    pub vni: u32,
}

// ---------------------------------------------------------------------------
// Names. One table per namespace of names, shared by decoding, printing and matching.
// ---------------------------------------------------------------------------

const ETHERTYPES: &[(u16, &str)] = &[(0x0800, "ipv4"), (0x0806, "arp"), (0x86dd, "ipv6")];

const IGMP: u8 = 2;
/// ICMPv6 types the kernel sends on its own schedule: MLD membership reports (v1
/// report, v1 done, v2 report) and router solicitations, repeated by a timer (after 4 s,
/// then ever less often) from every interface with a link-local address that accepts
/// router advertisements.
const SELF_TIMED_ICMPV6: [u8; 4] = [131, 132, 133, 143];

const IP_PROTOS: &[(u8, &str)] = &[
    (1, "icmp"),
    (2, "igmp"),
    (4, "ipip"),
    (6, "tcp"),
    (17, "udp"),
    (41, "ipv6"),
    (47, "gre"),
    (50, "esp"),
    (51, "ah"),
    (58, "icmpv6"),
    (112, "vrrp"),
    (132, "sctp"),
];

const ICMPV4_TYPES: &[(u8, &str)] = &[
    (0, "echo-reply"),
    (3, "dest-unreachable"),
    (4, "source-quench"),
    (5, "redirect"),
    (8, "echo-request"),
    (9, "router-advertisement"),
    (10, "router-solicitation"),
    (11, "time-exceeded"),
    (12, "parameter-problem"),
    (13, "timestamp-request"),
    (14, "timestamp-reply"),
];

/// Same names as ICMPv4 where the meaning is the same, so `echo-request` matches both.
const ICMPV6_TYPES: &[(u8, &str)] = &[
    (1, "dest-unreachable"),
    (2, "packet-too-big"),
    (3, "time-exceeded"),
    (4, "parameter-problem"),
    (128, "echo-request"),
    (129, "echo-reply"),
    (130, "mld-query"),
    (131, "mld-report"),
    (132, "mld-done"),
    (133, "router-solicitation"),
    (134, "router-advertisement"),
    (135, "neighbor-solicitation"),
    (136, "neighbor-advertisement"),
    (137, "redirect"),
    (143, "mldv2-report"),
];

/// IP protocols whose header this module decodes: ICMP, TCP, UDP, ICMPv6.
const TRANSPORT_DECODED: [u8; 4] = [1, 6, 17, 58];

/// In header bit order, which is also the order tcpdump users read them in (`SYN,ACK`).
const TCP_FLAGS: &[(u16, &str)] = &[
    (0x001, "FIN"),
    (0x002, "SYN"),
    (0x004, "RST"),
    (0x008, "PSH"),
    (0x010, "ACK"),
    (0x020, "URG"),
    (0x040, "ECE"),
    (0x080, "CWR"),
    (0x100, "NS"),
];

fn name_of<T: Copy + PartialEq>(table: &[(T, &'static str)], value: T) -> Option<&'static str> {
    table.iter().find(|(v, _)| *v == value).map(|(_, name)| *name)
}

fn value_of<T: Copy>(table: &[(T, &'static str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| n.eq_ignore_ascii_case(name.trim())).map(|(v, _)| *v)
}

fn names<T>(table: &[(T, &'static str)]) -> String {
    table.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

/// A number written in decimal or as `0x..` hex.
fn parse_number(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A table name or a number that fits `T`.
fn parse_named<T: Copy + TryFrom<u64>>(table: &[(T, &'static str)], s: &str) -> Option<T> {
    value_of(table, s).or_else(|| parse_number(s).and_then(|n| T::try_from(n).ok()))
}

/// The number of an ICMP (`v6`: ICMPv6) type given by name or number, as matchers
/// read it; also how the `send` action reads it.
pub fn icmp_type_number(v6: bool, name: &str) -> Option<u8> {
    parse_named(IcmpType::table(v6), name)
}

/// The names of ICMP (`v6`: ICMPv6) types, for messages.
pub fn icmp_type_names(v6: bool) -> String {
    names(IcmpType::table(v6))
}

/// An ethertype given by name (`arp`, `ipv4`, `ipv6`) or number.
pub fn ethertype_number(name: &str) -> Option<u16> {
    parse_named(ETHERTYPES, name)
}

/// An ethertype; prints and serializes as its name (`arp`) or as hex (`0x88cc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherType(pub u16);

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name_of(ETHERTYPES, self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

impl Serialize for EtherType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An IP protocol number; prints and serializes as its name (`udp`) or as the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpProto(pub u8);

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name_of(IP_PROTOS, self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl Serialize for IpProto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match name_of(IP_PROTOS, self.0) {
            Some(name) => s.serialize_str(name),
            None => s.serialize_u8(self.0),
        }
    }
}

/// An ICMP or ICMPv6 message type: the same number means different things in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpType {
    pub v6: bool,
    pub number: u8,
}

impl IcmpType {
    fn table(v6: bool) -> &'static [(u8, &'static str)] {
        if v6 { ICMPV6_TYPES } else { ICMPV4_TYPES }
    }

    /// `echo-request`, `neighbor-solicitation`, ... when the type has a name.
    pub fn name(&self) -> Option<&'static str> {
        name_of(Self::table(self.v6), self.number)
    }

    fn is_echo(&self) -> bool {
        matches!(self.name(), Some("echo-request" | "echo-reply"))
    }

    fn has_nd_target(&self) -> bool {
        matches!(self.name(), Some("neighbor-solicitation" | "neighbor-advertisement"))
    }
}

impl fmt::Display for IcmpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "type {}", self.number),
        }
    }
}

impl Serialize for IcmpType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(name) => s.serialize_str(name),
            None => s.serialize_u8(self.number),
        }
    }
}

/// TCP header flags as a bit set (bit values of [`TCP_FLAGS`]); prints as `SYN,ACK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// Parse `SYN,ACK` (case-insensitive); an unknown name is the error.
    pub fn parse(s: &str) -> Result<TcpFlags, String> {
        s.split(',').try_fold(TcpFlags(0), |acc, name| {
            value_of(TCP_FLAGS, name)
                .map(|bit| TcpFlags(acc.0 | bit))
                .ok_or_else(|| format!("`{}`: unknown TCP flag (known: {})", name.trim(), names(TCP_FLAGS)))
        })
    }

    pub fn contains(&self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    fn of(tcp: &TcpSlice<'_>) -> TcpFlags {
        // Same order as TCP_FLAGS.
        let set = [tcp.fin(), tcp.syn(), tcp.rst(), tcp.psh(), tcp.ack(), tcp.urg(), tcp.ece(), tcp.cwr(), tcp.ns()];
        TcpFlags(TCP_FLAGS.iter().zip(set).filter_map(|(&(bit, _), on)| on.then_some(bit)).fold(0, |a, b| a | b))
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<&str> = TCP_FLAGS.iter().filter(|(bit, _)| self.0 & bit != 0).map(|(_, n)| *n).collect();
        if set.is_empty() { f.write_str("none") } else { f.write_str(&set.join(",")) }
    }
}

impl Serialize for TcpFlags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Decode one Ethernet frame (as captured on an interface, without FCS).
pub fn decode(frame: &[u8]) -> Packet {
    decode_at_depth(frame, 0)
}

fn decode_at_depth(frame: &[u8], depth: usize) -> Packet {
    let mut p = Packet { len: frame.len(), ..Packet::default() };
    let sliced = match LaxSlicedPacket::from_ethernet(frame) {
        Ok(sliced) => sliced,
        Err(e) => {
            p.truncated = Some(describe_len_error(&e));
            return p;
        }
    };
    p.eth = eth_of(&sliced);
    match &sliced.net {
        Some(LaxNetSlice::Arp(arp)) => decode_arp(&mut p, arp),
        Some(LaxNetSlice::Ipv4(v4)) => decode_ipv4(&mut p, v4),
        Some(LaxNetSlice::Ipv6(v6)) => decode_ipv6(&mut p, v6),
        None if sliced.stop_err.is_none() => note_unknown_ethertype(&mut p, &sliced),
        None => {}
    }
    // After the IP layer: a packet cut by the snap length is explained by its IP
    // length, not by whichever inner header happened to be cut.
    if let Some((err, _layer)) = &sliced.stop_err {
        note_stop(&mut p, err);
    }
    match &sliced.transport {
        Some(TransportSlice::Icmpv4(icmp)) => p.icmp = Some(icmpv4_of(icmp)),
        Some(TransportSlice::Icmpv6(icmp)) => p.icmp = Some(icmpv6_of(icmp)),
        Some(TransportSlice::Udp(udp)) => decode_udp(&mut p, udp, depth),
        Some(TransportSlice::Tcp(tcp)) => p.tcp = Some(tcp_of(tcp)),
        // IGMP and friends: the IP layer already says "ip proto igmp".
        Some(TransportSlice::Igmp(_)) | None => {}
    }
    p
}

fn eth_of(sliced: &LaxSlicedPacket<'_>) -> Option<Eth> {
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = &sliced.link else {
        return None;
    };
    let ethertype = sliced.ether_payload().map_or(eth.ether_type(), |payload| payload.ether_type);
    Some(Eth {
        src: MacAddr(eth.source()),
        dst: MacAddr(eth.destination()),
        ethertype: EtherType(ethertype.0),
        vlan: sliced.vlan_ids().iter().map(|id| id.value()).collect(),
    })
}

fn describe_len_error(e: &LenError) -> String {
    format!("{}: need {} bytes, have {}", e.layer, e.required_len, e.len)
}

/// Record why the slicer stopped: running out of bytes is truncation, anything else
/// (a bad IHL, an IPv6 extension header in the wrong place) a malformed header.
fn note_stop(p: &mut Packet, err: &SliceError) {
    match err {
        SliceError::Len(len) => note_truncated(p, describe_len_error(len)),
        other => p.other = Some(format!("malformed: {other}")),
    }
}

/// The outermost truncation found is the one that explains the rest.
fn note_truncated(p: &mut Packet, what: String) {
    p.truncated.get_or_insert(what);
}

fn note_unknown_ethertype(p: &mut Packet, sliced: &LaxSlicedPacket<'_>) {
    if let Some(payload) = sliced.ether_payload() {
        p.other = Some(format!("ethertype {}, {} bytes", EtherType(payload.ether_type.0), p.len));
    }
}

fn decode_arp(p: &mut Packet, arp: &ArpPacketSlice<'_>) {
    match arp_of(arp) {
        Some(decoded) => p.arp = Some(decoded),
        None => {
            p.other = Some(format!(
                "ARP op {} hardware {} protocol {}",
                arp.operation().0,
                arp.hw_addr_type().0,
                EtherType(arp.proto_addr_type().0)
            ))
        }
    }
}

/// A request or reply resolving an IPv4 address to a MAC; `None` for anything else.
fn arp_of(arp: &ArpPacketSlice<'_>) -> Option<Arp> {
    let op = match arp.operation().0 {
        1 => ArpOp::Request,
        2 => ArpOp::Reply,
        _ => return None,
    };
    if arp.proto_addr_type().0 != 0x0800 {
        return None;
    }
    let mac = |bytes: &[u8]| <[u8; 6]>::try_from(bytes).ok().map(MacAddr);
    let ipv4 = |bytes: &[u8]| <[u8; 4]>::try_from(bytes).ok().map(Ipv4Addr::from);
    Some(Arp {
        op,
        sender_mac: mac(arp.sender_hw_addr())?,
        sender_ip: ipv4(arp.sender_protocol_addr())?,
        target_mac: mac(arp.target_hw_addr())?,
        target_ip: ipv4(arp.target_protocol_addr())?,
    })
}

fn decode_ipv4(p: &mut Packet, v4: &LaxIpv4Slice<'_>) {
    let h = v4.header();
    p.ip = Some(Ip {
        src: h.source_addr().into(),
        dst: h.destination_addr().into(),
        ttl: h.ttl(),
        proto: IpProto(v4.payload().ip_number.0),
    });
    note_ip_payload(p, v4.payload(), "IPv4", usize::from(h.total_len()), h.slice());
}

fn decode_ipv6(p: &mut Packet, v6: &LaxIpv6Slice<'_>) {
    let h = v6.header();
    p.ip = Some(Ip {
        src: h.source_addr().into(),
        dst: h.destination_addr().into(),
        ttl: h.hop_limit(),
        proto: IpProto(v6.payload().ip_number.0),
    });
    let total_len = h.slice().len() + usize::from(h.payload_length());
    note_ip_payload(p, v6.payload(), "IPv6", total_len, h.slice());
}

/// What the IP layer says about its payload that the transport layer cannot: the
/// packet was cut short (a short snap length), it is a fragment, or its protocol is
/// one this decoder does not open.
fn note_ip_payload(
    p: &mut Packet,
    payload: &etherparse::LaxIpPayloadSlice<'_>,
    version: &str,
    total_len: usize,
    ip_start: &[u8],
) {
    if payload.incomplete {
        // Headers (with IPv4 options / IPv6 extensions) end where the payload starts.
        let headers = payload.payload.as_ptr() as usize - ip_start.as_ptr() as usize;
        let have = headers + payload.payload.len();
        note_truncated(p, format!("{version} packet: length field says {total_len} bytes, have {have}"));
    }
    let bytes = payload.payload.len();
    if payload.fragmented {
        p.other.get_or_insert(format!("fragment, {bytes} bytes"));
    } else if !TRANSPORT_DECODED.contains(&payload.ip_number.0) {
        p.other.get_or_insert(format!("ip proto {}, {bytes} bytes", IpProto(payload.ip_number.0)));
    }
}

/// Identifier and sequence number, present only in echo messages.
fn echo_fields(kind: IcmpType, bytes5to8: [u8; 4]) -> (Option<u16>, Option<u16>) {
    if kind.is_echo() {
        let [a, b, c, d] = bytes5to8;
        (Some(u16::from_be_bytes([a, b])), Some(u16::from_be_bytes([c, d])))
    } else {
        (None, None)
    }
}

fn icmpv4_of(icmp: &Icmpv4Slice<'_>) -> Icmp {
    let kind = IcmpType { v6: false, number: icmp.type_u8() };
    let (id, seq) = echo_fields(kind, icmp.bytes5to8());
    Icmp { kind, code: icmp.code_u8(), id, seq, target: None }
}

fn icmpv6_of(icmp: &Icmpv6Slice<'_>) -> Icmp {
    let kind = IcmpType { v6: true, number: icmp.type_u8() };
    let (id, seq) = echo_fields(kind, icmp.bytes5to8());
    let target = icmp
        .payload()
        .get(..16)
        .filter(|_| kind.has_nd_target())
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Ipv6Addr::from);
    Icmp { kind, code: icmp.code_u8(), id, seq, target }
}

fn tcp_of(tcp: &TcpSlice<'_>) -> Tcp {
    Tcp {
        src_port: tcp.source_port(),
        dst_port: tcp.destination_port(),
        flags: TcpFlags::of(tcp),
        len: tcp.payload().len(),
    }
}

fn decode_udp(p: &mut Packet, udp: &UdpSlice<'_>, depth: usize) {
    let payload = udp.payload();
    p.udp = Some(Udp { src_port: udp.source_port(), dst_port: udp.destination_port(), len: payload.len() });
    if udp.destination_port() == VXLAN_PORT {
        decode_vxlan(p, payload, depth);
    }
}

/// VXLAN header (RFC 7348): flags(1) reserved(3) VNI(3) reserved(1), then a frame.
fn decode_vxlan(p: &mut Packet, payload: &[u8], depth: usize) {
    let Some((header, frame)) = payload.split_first_chunk::<8>() else {
        note_truncated(p, format!("VXLAN header: need 8 bytes, have {}", payload.len()));
        return;
    };
    p.vxlan = Some(Vxlan { vni: u32::from_be_bytes([0, header[4], header[5], header[6]]) });
    if depth >= MAX_VXLAN_DEPTH {
        p.other = Some(format!("VXLAN nested deeper than {MAX_VXLAN_DEPTH}, inner frame not decoded"));
    } else {
        p.inner = Some(Box::new(decode_at_depth(frame, depth + 1)));
    }
}

// ---------------------------------------------------------------------------
// One-line rendering
// ---------------------------------------------------------------------------

/// `{}` is the report's line; `{:#}` is the full one of failure messages, which always
/// starts with the link layer, as `tcpdump -e` does: `02:00:00:00:00:01 >
/// 02:00:00:00:00:02 length 98: IPv4 10.0.0.1 > 10.0.0.2 ICMP echo-request ...`.
impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return f.write_str(&self.describe().join(" "));
        }
        if let Some(eth) = &self.eth {
            write!(f, "{} > {} ", eth.src, eth.dst)?;
        }
        write!(f, "length {}: ", self.len)?;
        let words = self.describe();
        // describe() starts with the MACs when there is no IP layer: they are said already.
        let skip = usize::from(self.eth.is_some() && self.ip.is_none());
        f.write_str(&words[skip.min(words.len())..].join(" "))
    }
}

impl Packet {
    /// A multicast membership report (IGMP, MLD) or an IPv6 router solicitation: the
    /// kernel sends these on its own schedule (with random delays, or by a timer) when
    /// an interface or bridge joins a group or gets its link-local address, so they say
    /// nothing about a step's traffic and would make reports flap.
    pub fn is_self_timed(&self) -> bool {
        let igmp = self.ip.as_ref().is_some_and(|ip| ip.proto.0 == IGMP);
        let mld = self.icmp.as_ref().is_some_and(|i| i.kind.v6 && SELF_TIMED_ICMPV6.contains(&i.kind.number));
        // Tunnelled ones too (a VXLAN port of a bridge carries the bridge's reports).
        igmp || mld || self.inner.as_ref().is_some_and(|inner| inner.is_self_timed())
    }

    /// The words of the one-line rendering: link, network, transport, then problems.
    /// MAC addresses are shown only when there is no IP layer to identify the hosts,
    /// as `tcpdump -n` does without `-e`.
    fn describe(&self) -> Vec<String> {
        let mut words = Vec::new();
        if let Some(eth) = &self.eth {
            if self.ip.is_none() {
                words.push(format!("{} > {}", eth.src, eth.dst));
            }
            words.extend(eth.vlan.iter().map(|id| format!("vlan {id}")));
        }
        if let Some(arp) = &self.arp {
            words.push(arp.to_string());
        }
        if let Some(ip) = &self.ip {
            words.push(self.describe_addresses(ip));
            words.extend(self.describe_transport());
        }
        words.extend(self.other.clone());
        if let Some(ip) = &self.ip {
            let hops = if ip.src.is_ipv4() { "ttl" } else { "hlim" };
            words.push(format!("{hops} {}", ip.ttl));
        }
        if let Some(truncated) = &self.truncated {
            words.push(if words.is_empty() {
                format!("truncated: {truncated}")
            } else {
                format!("(truncated: {truncated})")
            });
        }
        words
    }

    /// `IPv4 10.0.0.1 > 10.0.0.2`, with ports for UDP and TCP (`[fd00::1]:53` for IPv6).
    fn describe_addresses(&self, ip: &Ip) -> String {
        let version = if ip.src.is_ipv4() { "IPv4" } else { "IPv6" };
        let ports = match (&self.udp, &self.tcp) {
            (Some(u), _) => Some((u.src_port, u.dst_port)),
            (None, Some(t)) => Some((t.src_port, t.dst_port)),
            (None, None) => None,
        };
        match ports {
            Some((sp, dp)) => {
                format!("{version} {} > {}", SocketAddr::new(ip.src, sp), SocketAddr::new(ip.dst, dp))
            }
            None => format!("{version} {} > {}", ip.src, ip.dst),
        }
    }

    fn describe_transport(&self) -> Option<String> {
        if let Some(icmp) = &self.icmp {
            let v6 = if icmp.kind.v6 { "v6" } else { "" };
            return Some(format!("ICMP{v6} {icmp}"));
        }
        if let Some(tcp) = &self.tcp {
            let len = if tcp.len > 0 { format!(" len {}", tcp.len) } else { String::new() };
            return Some(format!("TCP [{}]{len}", tcp.flags));
        }
        let udp = self.udp.as_ref()?;
        Some(match (&self.vxlan, &self.inner) {
            (Some(vx), Some(inner)) => format!("UDP VXLAN vni {} [{inner}]", vx.vni),
            (Some(vx), None) => format!("UDP VXLAN vni {}", vx.vni),
            (None, _) => format!("UDP len {}", udp.len),
        })
    }
}

impl fmt::Display for Arp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            ArpOp::Request => write!(f, "ARP request who-has {} tell {}", self.target_ip, self.sender_ip),
            ArpOp::Reply => write!(f, "ARP reply {} is-at {}", self.sender_ip, self.sender_mac),
        }
    }
}

impl fmt::Display for Icmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if self.code != 0 {
            write!(f, " code {}", self.code)?;
        }
        if let (Some(id), Some(seq)) = (self.id, self.seq) {
            write!(f, " id {id} seq {seq}")?;
        }
        if let Some(target) = self.target {
            write!(f, " target {target}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

/// Does `p` have every field `m` gives? A matcher for a layer the packet lacks fails;
/// IP addresses match when the packet's address is inside the given network.
pub fn matches(m: &PacketMatch, p: &Packet) -> bool {
    layer(&m.eth, &p.eth, eth_matches)
        && layer(&m.arp, &p.arp, arp_matches)
        && layer(&m.ip, &p.ip, ip_matches)
        && layer(&m.icmp, &p.icmp, icmp_matches)
        && layer(&m.udp, &p.udp, |m, u| ports_match(m.src_port, m.dst_port, u.src_port, u.dst_port))
        && layer(&m.tcp, &p.tcp, tcp_matches)
        && layer(&m.vxlan, &p.vxlan, vxlan_matches)
        && layer(&m.inner, &p.inner, |m, inner| matches(m, inner))
}

/// Whether `m` asks for what the kernel sends on its own schedule by name (`ip: {proto:
/// igmp}`, `icmp: {type: mldv2-report}`, `icmp: {type: router-solicitation}`, or the same
/// inside `inner`). Only such a check counts them: any other count that included them
/// would change from run to run.
pub fn asks_for_self_timed(m: &PacketMatch) -> bool {
    let igmp =
        m.ip.as_ref().and_then(|ip| ip.proto.as_deref()).is_some_and(|p| parse_named(IP_PROTOS, p) == Some(IGMP));
    let mld = m.icmp.as_ref().and_then(|i| i.kind.as_deref()).is_some_and(|kind| {
        SELF_TIMED_ICMPV6.iter().any(|&number| icmp_type_matches(kind, IcmpType { v6: true, number }))
    });
    igmp || mld || m.inner.as_deref().is_some_and(asks_for_self_timed)
}

fn layer<M, L>(m: &Option<M>, l: &Option<L>, f: impl Fn(&M, &L) -> bool) -> bool {
    match (m, l) {
        (None, _) => true,
        (Some(m), Some(l)) => f(m, l),
        (Some(_), None) => false,
    }
}

/// An absent matcher field matches anything.
fn field<T: PartialEq>(want: &Option<T>, have: T) -> bool {
    want.as_ref().is_none_or(|w| *w == have)
}

fn eth_matches(m: &EthMatch, e: &Eth) -> bool {
    field(&m.src, e.src)
        && field(&m.dst, e.dst)
        && m.ethertype.as_deref().is_none_or(|t| parse_named(ETHERTYPES, t) == Some(e.ethertype.0))
}

fn arp_matches(m: &ArpMatch, a: &Arp) -> bool {
    field(&m.op, a.op)
        && field(&m.sender_ip, IpAddr::V4(a.sender_ip))
        && field(&m.sender_mac, a.sender_mac)
        && field(&m.target_ip, IpAddr::V4(a.target_ip))
        && field(&m.target_mac, a.target_mac)
}

fn ip_matches(m: &IpMatch, ip: &Ip) -> bool {
    m.src.is_none_or(|net| net.contains(&ip.src))
        && m.dst.is_none_or(|net| net.contains(&ip.dst))
        && m.proto.as_deref().is_none_or(|p| parse_named(IP_PROTOS, p) == Some(ip.proto.0))
        && field(&m.ttl, ip.ttl)
}

/// `echo-request` means type 8 in ICMP and 128 in ICMPv6; a number is taken as is.
fn icmp_type_matches(want: &str, kind: IcmpType) -> bool {
    match parse_number(want) {
        Some(n) => n == u64::from(kind.number),
        None => value_of(IcmpType::table(kind.v6), want) == Some(kind.number),
    }
}

fn icmp_matches(m: &IcmpMatch, i: &Icmp) -> bool {
    m.kind.as_deref().is_none_or(|k| icmp_type_matches(k, i.kind))
        && field(&m.code, i.code)
        && (m.id.is_none() || m.id == i.id)
        && (m.seq.is_none() || m.seq == i.seq)
        && (m.target.is_none() || m.target == i.target)
}

fn ports_match(src: Option<u16>, dst: Option<u16>, have_src: u16, have_dst: u16) -> bool {
    field(&src, have_src) && field(&dst, have_dst)
}

fn tcp_matches(m: &TcpMatch, t: &Tcp) -> bool {
    ports_match(m.src_port, m.dst_port, t.src_port, t.dst_port)
        && m.flags.as_deref().is_none_or(|f| TcpFlags::parse(f).is_ok_and(|want| t.flags.contains(want)))
}

fn vxlan_matches(m: &VxlanMatch, v: &Vxlan) -> bool {
    field(&m.vni, v.vni)
}

// ---------------------------------------------------------------------------
// Validation of names in matchers
// ---------------------------------------------------------------------------

/// Check every name in `m` (ethertype, IP protocol, ICMP type, TCP flags), inner
/// matchers included. The error names the field path, e.g. `inner.icmp.type`.
pub fn check_match(m: &PacketMatch) -> Result<(), String> {
    check_match_at(m, "")
}

fn check_match_at(m: &PacketMatch, prefix: &str) -> Result<(), String> {
    let at = |field: &str| format!("{prefix}{field}");
    if let Some(t) = m.eth.as_ref().and_then(|e| e.ethertype.as_deref()) {
        parse_named(ETHERTYPES, t).ok_or_else(|| {
            format!(
                "{}: `{t}` is not an ethertype (write {} or a number like 0x88cc)",
                at("eth.type"),
                names(ETHERTYPES)
            )
        })?;
    }
    if let Some(p) = m.ip.as_ref().and_then(|ip| ip.proto.as_deref()) {
        parse_named(IP_PROTOS, p).ok_or_else(|| {
            format!("{}: `{p}` is not an IP protocol (write {} or a number 0-255)", at("ip.proto"), names(IP_PROTOS))
        })?;
    }
    if let Some(k) = m.icmp.as_ref().and_then(|i| i.kind.as_deref()) {
        check_icmp_type(k).map_err(|e| format!("{}: {e}", at("icmp.type")))?;
    }
    if let Some(flags) = m.tcp.as_ref().and_then(|t| t.flags.as_deref()) {
        TcpFlags::parse(flags).map_err(|e| format!("{}: {e}", at("tcp.flags")))?;
    }
    match &m.inner {
        Some(inner) => check_match_at(inner, &at("inner.")),
        None => Ok(()),
    }
}

fn check_icmp_type(k: &str) -> Result<(), String> {
    let known = parse_number(k).is_some_and(|n| n <= 255)
        || value_of(ICMPV4_TYPES, k).is_some()
        || value_of(ICMPV6_TYPES, k).is_some();
    if known {
        return Ok(());
    }
    let mut all: Vec<&str> = ICMPV4_TYPES.iter().chain(ICMPV6_TYPES).map(|(_, n)| *n).collect();
    all.sort_unstable();
    all.dedup();
    Err(format!("`{k}` is not an ICMP type (write one of {} or a number 0-255)", all.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{ArpEthIpv4Packet, ArpOperation, Icmpv6Type, PacketBuilder};

    const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const BROADCAST: [u8; 6] = [0xff; 6];
    const V6_A: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const V6_B: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    fn build(builder: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        builder(&mut out);
        out
    }

    fn arp(op: ArpOperation, sender: ([u8; 6], [u8; 4]), target: ([u8; 6], [u8; 4]), dst: [u8; 6]) -> Vec<u8> {
        let packet = ArpEthIpv4Packet {
            operation: op,
            sender_mac: sender.0,
            sender_ipv4: sender.1,
            target_mac: target.0,
            target_ipv4: target.1,
        };
        build(|out| PacketBuilder::ethernet2(sender.0, dst).arp(packet.into()).write(out).unwrap())
    }

    fn arp_request() -> Vec<u8> {
        arp(ArpOperation::REQUEST, (MAC_A, [1, 2, 3, 101]), ([0; 6], [1, 2, 3, 102]), BROADCAST)
    }

    fn arp_reply() -> Vec<u8> {
        arp(ArpOperation::REPLY, (MAC_B, [1, 2, 3, 102]), (MAC_A, [1, 2, 3, 101]), MAC_A)
    }

    fn echo_v4() -> Vec<u8> {
        build(|out| {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4([172, 18, 0, 2], [203, 0, 113, 2], 63)
                .icmpv4_echo_request(7, 1)
                .write(out, b"ping")
                .unwrap()
        })
    }

    fn echo_v6() -> Vec<u8> {
        build(|out| {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv6(V6_A, V6_B, 64)
                .icmpv6_echo_reply(9, 3)
                .write(out, b"pong")
                .unwrap()
        })
    }

    fn neighbor_solicitation() -> Vec<u8> {
        build(|out| {
            PacketBuilder::ethernet2(MAC_A, [0x33, 0x33, 0xff, 0, 0, 2])
                .ipv6(V6_A, [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2], 255)
                .icmpv6(Icmpv6Type::NeighborSolicitation)
                .write(out, &V6_B)
                .unwrap()
        })
    }

    fn udp(dst_port: u16, payload: &[u8]) -> Vec<u8> {
        build(|out| {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(40000, dst_port)
                .write(out, payload)
                .unwrap()
        })
    }

    fn tcp_syn() -> Vec<u8> {
        build(|out| {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv6(V6_A, V6_B, 64)
                .tcp(40000, 80, 1000, 64240)
                .syn()
                .write(out, &[])
                .unwrap()
        })
    }

    fn vxlan_frame(vni: u32, inner: &[u8]) -> Vec<u8> {
        let vni = vni.to_be_bytes();
        let mut payload = vec![0x08, 0, 0, 0, vni[1], vni[2], vni[3], 0];
        payload.extend_from_slice(inner);
        build(|out| {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ipv4([192, 168, 5, 149], [192, 168, 5, 148], 64)
                .udp(40000, VXLAN_PORT)
                .write(out, &payload)
                .unwrap()
        })
    }

    fn vxlan_icmp() -> Vec<u8> {
        let inner = build(|out| {
            PacketBuilder::ethernet2(MAC_B, MAC_A)
                .ipv4([172, 16, 2, 3], [172, 16, 2, 2], 64)
                .icmpv4_echo_request(1, 1)
                .write(out, &[0; 8])
                .unwrap()
        });
        vxlan_frame(100, &inner)
    }

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    #[test]
    fn arp_request_and_reply() {
        let req = decode(&arp_request());
        let arp = req.arp.as_ref().unwrap();
        assert_eq!(arp.op, ArpOp::Request);
        assert_eq!(arp.sender_ip, Ipv4Addr::new(1, 2, 3, 101));
        assert_eq!(arp.target_ip, Ipv4Addr::new(1, 2, 3, 102));
        assert_eq!(req.eth.as_ref().unwrap().ethertype, EtherType(0x0806));
        assert_eq!(
            req.to_string(),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff ARP request who-has 1.2.3.102 tell 1.2.3.101"
        );
        let rep = decode(&arp_reply());
        assert_eq!(rep.arp.as_ref().unwrap().op, ArpOp::Reply);
        assert_eq!(
            rep.to_string(),
            "02:00:00:00:00:02 > 02:00:00:00:00:01 ARP reply 1.2.3.102 is-at 02:00:00:00:00:02"
        );
        assert_eq!((rep.other, rep.truncated), (None, None));
    }

    #[test]
    fn the_full_line_starts_with_macs_and_frame_length() {
        assert_eq!(
            format!("{:#}", decode(&echo_v4())),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 length 46: IPv4 172.18.0.2 > 203.0.113.2 ICMP echo-request id 7 seq 1 ttl 63"
        );
        assert_eq!(
            format!("{:#}", decode(&arp_request())),
            "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff length 42: ARP request who-has 1.2.3.102 tell 1.2.3.101"
        );
    }

    #[test]
    fn icmp_echo_v4() {
        let p = decode(&echo_v4());
        let icmp = p.icmp.as_ref().unwrap();
        assert_eq!((icmp.kind.name(), icmp.code, icmp.id, icmp.seq), (Some("echo-request"), 0, Some(7), Some(1)));
        assert_eq!(p.ip.as_ref().unwrap().proto, IpProto(1));
        assert_eq!(p.to_string(), "IPv4 172.18.0.2 > 203.0.113.2 ICMP echo-request id 7 seq 1 ttl 63");
    }

    #[test]
    fn icmpv6_echo_and_neighbor_solicitation() {
        let echo = decode(&echo_v6());
        assert_eq!(echo.icmp.as_ref().unwrap().kind, IcmpType { v6: true, number: 129 });
        assert_eq!(echo.to_string(), "IPv6 fd00::1 > fd00::2 ICMPv6 echo-reply id 9 seq 3 hlim 64");
        let ns = decode(&neighbor_solicitation());
        let icmp = ns.icmp.as_ref().unwrap();
        assert_eq!(icmp.kind.name(), Some("neighbor-solicitation"));
        assert_eq!(icmp.target, Some(Ipv6Addr::from(V6_B)));
        assert_eq!((icmp.id, icmp.seq), (None, None));
        assert_eq!(
            ns.to_string(),
            "IPv6 fd00::1 > ff02::1:ff00:2 ICMPv6 neighbor-solicitation target fd00::2 hlim 255"
        );
    }

    #[test]
    fn udp_and_tcp() {
        let u = decode(&udp(53, b"hello"));
        assert_eq!(u.udp, Some(Udp { src_port: 40000, dst_port: 53, len: 5 }));
        assert_eq!(u.to_string(), "IPv4 10.0.0.1:40000 > 10.0.0.2:53 UDP len 5 ttl 64");
        let t = decode(&tcp_syn());
        let tcp = t.tcp.as_ref().unwrap();
        assert_eq!((tcp.src_port, tcp.dst_port, tcp.flags.to_string()), (40000, 80, "SYN".to_string()));
        assert_eq!(t.to_string(), "IPv6 [fd00::1]:40000 > [fd00::2]:80 TCP [SYN] hlim 64");
    }

    #[test]
    fn vxlan_with_inner_icmp() {
        let p = decode(&vxlan_icmp());
        assert_eq!(p.vxlan, Some(Vxlan { vni: 100 }));
        let inner = p.inner.as_ref().unwrap();
        assert_eq!(inner.ip.as_ref().unwrap().src, IpAddr::from([172, 16, 2, 3]));
        assert_eq!(inner.icmp.as_ref().unwrap().kind.name(), Some("echo-request"));
        assert_eq!(
            p.to_string(),
            "IPv4 192.168.5.149:40000 > 192.168.5.148:4789 UDP VXLAN vni 100 \
             [IPv4 172.16.2.3 > 172.16.2.2 ICMP echo-request id 1 seq 1 ttl 64] ttl 64"
        );
    }

    #[test]
    fn serializes_compactly_with_names() {
        let json = serde_json::to_value(decode(&echo_v4())).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "len": 46,
                "eth": {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02", "type": "ipv4"},
                "ip": {"src": "172.18.0.2", "dst": "203.0.113.2", "ttl": 63, "proto": "icmp"},
                "icmp": {"type": "echo-request", "code": 0, "id": 7, "seq": 1},
            })
        );
    }

    #[test]
    fn unknown_payloads_are_summarised() {
        let mut lldp = [0u8; 60];
        lldp[..6].copy_from_slice(&[0x01, 0x80, 0xc2, 0, 0, 0x0e]);
        lldp[6..12].copy_from_slice(&MAC_A);
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        let p = decode(&lldp);
        assert_eq!(p.other.as_deref(), Some("ethertype 0x88cc, 60 bytes"));
        assert_eq!(p.to_string(), "02:00:00:00:00:01 > 01:80:c2:00:00:0e ethertype 0x88cc, 60 bytes");

        let gre = build(|out| {
            PacketBuilder::ethernet2(MAC_A, MAC_B)
                .ip(etherparse::IpHeaders::Ipv4(
                    etherparse::Ipv4Header::new(4, 64, etherparse::IpNumber(47), [10, 0, 0, 1], [10, 0, 0, 2]).unwrap(),
                    Default::default(),
                ))
                .write(out, etherparse::IpNumber(47), &[0; 4])
                .unwrap()
        });
        let p = decode(&gre);
        assert_eq!(p.other.as_deref(), Some("ip proto gre, 4 bytes"));
        assert_eq!(p.to_string(), "IPv4 10.0.0.1 > 10.0.0.2 ip proto gre, 4 bytes ttl 64");
    }

    #[test]
    fn truncated_frames_say_where() {
        let short = decode(&[0xff; 5]);
        assert_eq!((short.len, short.eth.is_none()), (5, true));
        assert_eq!(short.to_string(), "truncated: Ethernet 2 header: need 14 bytes, have 5");

        let full = udp(53, b"hello");
        let cut = decode(&full[..14 + 20 + 3]);
        assert!(cut.ip.is_some() && cut.udp.is_none());
        assert_eq!(cut.truncated.as_deref(), Some("IPv4 packet: length field says 33 bytes, have 23"));
        assert_eq!(
            cut.to_string(),
            "IPv4 10.0.0.1 > 10.0.0.2 ttl 64 (truncated: IPv4 packet: length field says 33 bytes, have 23)"
        );

        let snapped = decode(&full[..full.len() - 2]);
        assert_eq!(snapped.udp.as_ref().map(|u| u.len), Some(3));
        assert_eq!(snapped.truncated.as_deref(), Some("IPv4 packet: length field says 33 bytes, have 31"));

        let arp = arp_request();
        let cut_arp = decode(&arp[..20]);
        assert_eq!((cut_arp.arp.as_ref(), cut_arp.other.as_ref()), (None, None));
        assert_eq!(cut_arp.truncated.as_deref(), Some("Address Resolution Protocol packet: need 8 bytes, have 6"));

        // Complete IP and UDP, but too short to hold a VXLAN header.
        let short_vxlan = udp(VXLAN_PORT, &[0x08, 0, 0, 0]);
        assert_eq!(decode(&short_vxlan).truncated.as_deref(), Some("VXLAN header: need 8 bytes, have 4"));
    }

    #[test]
    fn garbage_is_other_not_a_panic() {
        let mut frame = udp(53, b"x");
        frame[14] = 0x55; // IP version 5 does not exist
        let p = decode(&frame);
        assert!(p.ip.is_none());
        assert!(p.other.is_some() || p.truncated.is_some(), "{p:?}");
        let _ = p.to_string();
    }

    /// xorshift64*: deterministic and good enough to throw bytes at the decoder.
    fn random_bytes(state: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }

    fn exercise(frame: &[u8]) {
        let p = decode(frame);
        let _ = p.to_string();
        serde_json::to_string(&p).unwrap();
        let _ = matches(&full_matcher(), &p);
    }

    #[test]
    fn never_panics_on_truncations_or_random_bytes() {
        let valid = [
            arp_request(),
            arp_reply(),
            echo_v4(),
            echo_v6(),
            neighbor_solicitation(),
            udp(53, b"abc"),
            tcp_syn(),
            vxlan_icmp(),
        ];
        for frame in &valid {
            for len in 0..=frame.len() {
                exercise(&frame[..len]);
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000 {
            let mut frame = random_bytes(&mut state, i % 160);
            // Give most of them a real ethertype so the upper decoders get exercised too.
            if frame.len() >= 14 {
                let types: [[u8; 2]; 4] = [[0x08, 0x00], [0x86, 0xdd], [0x08, 0x06], [0x81, 0x00]];
                frame[12..14].copy_from_slice(&types[i % 4]);
            }
            exercise(&frame);
        }
        // Random bytes inside a VXLAN payload reach the nested decoder.
        for i in 0..2_000 {
            exercise(&vxlan_frame(i, &random_bytes(&mut state, i as usize % 80)));
        }
    }

    #[test]
    fn deep_vxlan_nesting_stops() {
        let mut frame = echo_v4();
        for _ in 0..10 {
            frame = vxlan_frame(1, &frame);
        }
        let mut p = decode(&frame);
        let mut depth = 0;
        while let Some(inner) = p.inner {
            p = *inner;
            depth += 1;
        }
        assert_eq!(depth, MAX_VXLAN_DEPTH);
        assert!(p.other.unwrap().contains("nested deeper"));
    }

    // ----- matching -----

    fn parse_match(yaml: &str) -> PacketMatch {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// A matcher naming every layer, used by the fuzz loop to walk every comparison.
    fn full_matcher() -> PacketMatch {
        parse_match(
            "{eth: {type: ipv4}, ip: {src: 10.0.0.0/8, proto: udp, ttl: 64}, icmp: {type: echo-request, id: 1},
              udp: {dst_port: 4789}, tcp: {flags: 'SYN,ACK'}, vxlan: {vni: 1}, inner: {arp: {op: request}}}",
        )
    }

    #[test]
    fn matcher_truth_table() {
        let frames = [
            ("arp-request", arp_request()),
            ("arp-reply", arp_reply()),
            ("echo-v4", echo_v4()),
            ("echo-reply-v6", echo_v6()),
            ("ns", neighbor_solicitation()),
            ("udp-53", udp(53, b"abc")),
            ("tcp-syn", tcp_syn()),
            ("vxlan", vxlan_icmp()),
        ];
        #[rustfmt::skip]
        let cases: &[(&str, &[&str])] = &[
            ("{}", &["arp-request", "arp-reply", "echo-v4", "echo-reply-v6", "ns", "udp-53", "tcp-syn", "vxlan"]),
            ("{eth: {type: arp}}", &["arp-request", "arp-reply"]),
            ("{eth: {type: '0x0806'}}", &["arp-request", "arp-reply"]),
            ("{eth: {type: ipv6}}", &["echo-reply-v6", "ns", "tcp-syn"]),
            ("{eth: {dst: 'ff:ff:ff:ff:ff:ff'}}", &["arp-request"]),
            ("{eth: {src: '02:00:00:00:00:02'}}", &["arp-reply"]),
            ("{arp: {op: reply}}", &["arp-reply"]),
            ("{arp: {op: request, target_ip: 1.2.3.102, sender_mac: '02:00:00:00:00:01'}}", &["arp-request"]),
            ("{arp: {target_ip: 1.2.3.103}}", &[]),
            ("{ip: {src: 172.18.0.2/32}}", &["echo-v4"]),
            ("{ip: {src: 172.16.0.0/12}}", &["echo-v4"]),
            ("{ip: {dst: 10.0.0.0/8}}", &["udp-53"]),
            ("{ip: {src: 'fd00::/8'}}", &["echo-reply-v6", "ns", "tcp-syn"]),
            ("{ip: {proto: icmp}}", &["echo-v4"]),
            ("{ip: {proto: icmpv6}}", &["echo-reply-v6", "ns"]),
            ("{ip: {proto: '17'}}", &["udp-53", "vxlan"]),
            ("{ip: {proto: tcp, ttl: 64}}", &["tcp-syn"]),
            ("{ip: {ttl: 255}}", &["ns"]),
            ("{icmp: {type: echo-request}}", &["echo-v4"]),
            ("{icmp: {type: echo-reply}}", &["echo-reply-v6"]),
            ("{icmp: {type: '129'}}", &["echo-reply-v6"]),
            ("{icmp: {type: '8', id: 7, seq: 1}}", &["echo-v4"]),
            ("{icmp: {id: 8}}", &[]),
            ("{icmp: {type: neighbor-solicitation}}", &["ns"]),
            ("{icmp: {type: neighbor-solicitation, target: 'fd00::2'}}", &["ns"]),
            ("{icmp: {target: 'fd00::1'}}", &[]),
            ("{icmp: {code: 0}}", &["echo-v4", "echo-reply-v6", "ns"]),
            ("{udp: {dst_port: 53}}", &["udp-53"]),
            ("{udp: {src_port: 40000}}", &["udp-53", "vxlan"]),
            ("{tcp: {dst_port: 80, flags: SYN}}", &["tcp-syn"]),
            ("{tcp: {flags: 'SYN,ACK'}}", &[]),
            ("{vxlan: {vni: 100}}", &["vxlan"]),
            ("{vxlan: {vni: 101}}", &[]),
            ("{inner: {icmp: {type: echo-request}, ip: {dst: 172.16.2.2/32}}}", &["vxlan"]),
            ("{inner: {arp: {}}}", &[]),
            ("{eth: {type: nonsense}}", &[]),
        ];
        for (yaml, expected) in cases {
            let m = parse_match(yaml);
            let got: Vec<&str> =
                frames.iter().filter(|(_, f)| matches(&m, &decode(f))).map(|(name, _)| *name).collect();
            assert_eq!(&got, expected, "matcher {yaml}");
        }
    }

    #[test]
    fn tcp_flags_need_all_given() {
        let flags = TcpFlags::parse("SYN,ACK").unwrap();
        assert!(flags.contains(TcpFlags::parse("syn").unwrap()));
        assert!(!TcpFlags::parse("SYN").unwrap().contains(flags));
        assert_eq!(flags.to_string(), "SYN,ACK");
        assert_eq!(TcpFlags(0).to_string(), "none");
    }

    #[test]
    fn check_match_accepts_names_and_numbers() {
        for yaml in [
            "{eth: {type: arp}}",
            "{eth: {type: '0x88cc'}}",
            "{ip: {proto: icmpv6}}",
            "{ip: {proto: '132'}}",
            "{icmp: {type: time-exceeded}}",
            "{icmp: {type: router-solicitation}}",
            "{icmp: {type: '255'}}",
            "{tcp: {flags: 'syn, ack'}}",
            "{inner: {inner: {icmp: {type: redirect}}}}",
        ] {
            assert_eq!(check_match(&parse_match(yaml)), Ok(()), "{yaml}");
        }
    }

    #[test]
    fn check_match_rejects_unknown_names() {
        for (yaml, expected) in [
            ("{eth: {type: ipx}}", "eth.type: `ipx` is not an ethertype"),
            ("{eth: {type: '0x10000'}}", "eth.type: `0x10000`"),
            ("{ip: {proto: udpp}}", "ip.proto: `udpp` is not an IP protocol"),
            ("{ip: {proto: '256'}}", "ip.proto: `256`"),
            ("{icmp: {type: echo}}", "icmp.type: `echo` is not an ICMP type"),
            ("{icmp: {type: '300'}}", "icmp.type: `300`"),
            ("{tcp: {flags: 'SYN,AK'}}", "tcp.flags: `AK`: unknown TCP flag"),
            ("{tcp: {flags: ''}}", "tcp.flags: ``"),
            ("{inner: {icmp: {type: ping}}}", "inner.icmp.type: `ping`"),
        ] {
            let err = check_match(&parse_match(yaml)).unwrap_err();
            assert!(err.starts_with(expected), "{yaml}: {err}");
        }
    }

    #[test]
    fn mac_helper_matches_display() {
        assert_eq!(decode(&arp_request()).eth.unwrap().src, mac("02:00:00:00:00:01"));
    }
}
