//! The layers of a frame crafted by the `send` action, each given by the fields that
//! matter to the scenario; [`crate::observe::frame`] fills in the rest.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::Ipv6Net;
use schemars::JsonSchema;
use serde::Deserialize;

use super::*;
use crate::parse::syntax::deserialize_from_str;

/// The Ethernet header. Defaults: the interface's MAC as source; as destination the
/// multicast MAC of a multicast IP destination, else ff:ff:ff:ff:ff:ff; the type of
/// the layer above.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EthFields {
    #[serde(default)]
    pub src: Option<MacAddr>,
    #[serde(default)]
    pub dst: Option<MacAddr>,
    /// `arp`, `ipv4`, `ipv6` or a number like `0x88b5` (needed only without an upper layer).
    #[serde(default, rename = "type")]
    pub ethertype: Option<Loc<String>>,
}

/// An 802.1Q tag: `100`, or `{id: 100, pcp: 5, dei: false}`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VlanTag {
    Id(u16),
    Fields(VlanFields),
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VlanFields {
    pub id: u16,
    /// Priority code point, 0-7.
    #[serde(default)]
    pub pcp: u8,
    #[serde(default)]
    pub dei: bool,
}

impl VlanTag {
    pub fn fields(&self) -> VlanFields {
        match *self {
            VlanTag::Id(id) => VlanFields { id, pcp: 0, dei: false },
            VlanTag::Fields(f) => f,
        }
    }
}

/// An IPv4 header. Defaults: the source the kernel would choose for `dst` out of the
/// interface, TTL 64, TOS 0, DF clear, identification 0.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ipv4Fields {
    /// Any address, a spoofed one included.
    #[serde(default)]
    pub src: Option<Ipv4Addr>,
    pub dst: Ipv4Addr,
    #[serde(default)]
    pub ttl: Option<u8>,
    /// The whole TOS byte (DSCP << 2 | ECN).
    #[serde(default)]
    pub tos: u8,
    /// Don't fragment.
    #[serde(default)]
    pub df: bool,
    #[serde(default)]
    pub id: u16,
}

/// An IPv6 header. Defaults: the source the kernel would choose for `dst` out of the
/// interface (a link-local one for a link-local multicast `dst`), hop limit 64 (255
/// for neighbour discovery, which requires it), traffic class and flow label 0.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ipv6Fields {
    #[serde(default)]
    pub src: Option<Ipv6Addr>,
    /// Default for neighbour discovery only: the solicited-node address of the target
    /// (neighbor-solicitation), ff02::1 (advertisements), ff02::2 (router-solicitation).
    #[serde(default)]
    pub dst: Option<Ipv6Addr>,
    #[serde(default)]
    pub hop_limit: Option<u8>,
    #[serde(default)]
    pub traffic_class: u8,
    #[serde(default)]
    pub flow_label: u32,
}

/// An ICMP (under `icmp:`) or ICMPv6 (under `icmpv6:`) message.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IcmpFields {
    /// `echo-request`, `echo-reply`, `dest-unreachable`, ...; ICMPv6 also
    /// `neighbor-solicitation`, `neighbor-advertisement`, `router-solicitation`,
    /// `router-advertisement`; or a number.
    #[serde(rename = "type")]
    pub kind: Loc<String>,
    #[serde(default)]
    pub code: u8,
    /// Echo identifier and sequence number.
    #[serde(default)]
    pub id: u16,
    #[serde(default)]
    pub seq: u16,
    /// Neighbour discovery: the address asked for or advertised.
    #[serde(default)]
    pub target: Option<Ipv6Addr>,
    /// Neighbour discovery: the link-layer address option (source for solicitations and
    /// router advertisements, target for neighbour advertisements). Default: the
    /// Ethernet source.
    #[serde(default)]
    pub lladdr: Option<MacAddr>,
    /// Neighbour advertisement flags (default: solicited false, override true).
    #[serde(default)]
    pub router: bool,
    #[serde(default)]
    pub solicited: bool,
    #[serde(default = "yes", rename = "override")]
    pub override_flag: bool,
    /// Router advertisement: how long the router is a default router, in seconds
    /// (default 1800; 0: not a default router).
    #[serde(default)]
    pub router_lifetime: Option<u16>,
    /// Router advertisement: a /64 prefix to autoconfigure addresses from (on-link,
    /// autonomous, valid and preferred for a day).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prefix: Option<Loc<Ipv6Net>>,
}

fn yes() -> bool {
    true
}

/// UDP ports (defaults: source 40000, destination 9, discard).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UdpFields {
    #[serde(default = "source_port")]
    pub src_port: u16,
    #[serde(default = "discard_port")]
    pub dst_port: u16,
}

/// A TCP segment, by default a SYN (ports as for UDP, sequence number 0).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpFields {
    #[serde(default = "source_port")]
    pub src_port: u16,
    #[serde(default = "discard_port")]
    pub dst_port: u16,
    /// `SYN` (default), `SYN,ACK`, `RST`, ...
    #[serde(default)]
    pub flags: Option<Loc<String>>,
    #[serde(default)]
    pub seq: u32,
}

fn source_port() -> u16 {
    40000
}

fn discard_port() -> u16 {
    9
}

/// Bytes written as hex digits, optionally separated by spaces or colons:
/// `"de ad be ef"`, `"deadbeef"`, `"00:01"`.
#[derive(Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct HexBytes(pub Vec<u8>);

impl FromStr for HexBytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let digits: String = s.chars().filter(|c| !matches!(c, ' ' | ':' | '\n' | '\t')).collect();
        if !digits.is_ascii() {
            return Err(format!("`{s}` is not hex (write `de ad be ef`)"));
        }
        if !digits.len().is_multiple_of(2) {
            return Err(format!("`{s}`: an odd number of hex digits (two per byte)"));
        }
        let bytes = (0..digits.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| format!("`{s}` is not hex (write `de ad be ef`)"))
            })
            .collect::<Result<Vec<u8>, String>>()?;
        Ok(HexBytes(bytes))
    }
}
deserialize_from_str!(HexBytes);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits: Vec<String> = self.0.iter().map(|b| format!("{b:02x}")).collect();
        f.write_str(&digits.join(" "))
    }
}

/// Path MTU discovery for a ping's requests, as `ping -M`: `do` sets DF and refuses
/// to send above the path MTU the node knows (EMSGSIZE) and lets a router's
/// frag-needed (ICMPv6: packet-too-big) through as the cause; `dont` clears DF, the
/// request is fragmented where needed; `want` (the kernel's default) sets DF but
/// fragments locally above the known path MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pmtu {
    Do,
    Dont,
    Want,
}

impl Pmtu {
    /// IP_MTU_DISCOVER / IPV6_MTU_DISCOVER value (the same numbers for both).
    pub fn sockopt(self) -> i32 {
        match self {
            Pmtu::Dont => 0,
            Pmtu::Want => 1,
            Pmtu::Do => 2,
        }
    }
}

/// How many of a ping's requests must be answered: `{at_least: 3}` of its `count`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answered {
    pub at_least: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_payloads_take_separators_and_refuse_odd_digits() {
        assert_eq!("de ad:BE ef".parse::<HexBytes>().unwrap().0, [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!("".parse::<HexBytes>().unwrap().0, [0u8; 0]);
        assert!("abc".parse::<HexBytes>().unwrap_err().contains("odd number"));
        assert!("zz".parse::<HexBytes>().unwrap_err().contains("not hex"));
    }
}
