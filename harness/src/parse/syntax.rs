//! The small `ip`-command-like languages of a scenario file: link endpoints
//! (`host:vethA@mybr0 10.0.0.1/24`), routes (`default via 172.18.0.1`), policy rules,
//! neighbours, fdb entries, MAC addresses and byte counts (`64KiB`).
//!
//! Each type implements `FromStr` with an error that names the offending word, and
//! `Deserialize` through it, so a bad route is reported at its line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::JsonSchema;

/// Implement `Deserialize` for a `FromStr<Err = String>` type: the YAML layer then
/// reports the parse error at the value's location.
macro_rules! deserialize_from_str {
    ($t:ty) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use deserialize_from_str;

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Check an interface name as the kernel would (`dev_valid_name`).
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty interface name".into());
    }
    if name.len() > IFNAME_MAX {
        return Err(format!("interface name `{name}` is {} bytes; Linux allows at most {IFNAME_MAX}", name.len()));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a valid interface name"));
    }
    // The kernel names `all` and `default` itself: /proc/sys/net/*/conf/{all,default}.
    if name == "all" || name == "default" {
        return Err(format!(
            "`{name}` cannot name an interface: the kernel keeps it for net.ipv4.conf.{name} (choose another name)"
        ));
    }
    let bad = name.chars().find(|&c| matches!(c, '/' | ':' | '@') || c.is_whitespace() || c.is_control());
    if let Some(c) = bad {
        let what = match c {
            ' ' => "a space".to_string(),
            '\0' => "a NUL byte".to_string(),
            c if c.is_whitespace() || c.is_control() => format!("the character {}", c.escape_debug()),
            c => format!("`{c}`"),
        };
        return Err(format!(
            "interface name `{}` contains {what} (Linux refuses '/', ':', whitespace; `@` and `:` are netrig's separators)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(with = "String")]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a MAC address (write 02:00:00:00:00:01)");
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.is_empty() || part.len() > 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}
deserialize_from_str!(MacAddr);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}
impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `node:iface`: one interface of one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[schemars(with = "String")]
pub struct IfaceRef {
    pub node: String,
    pub iface: String,
}

impl FromStr for IfaceRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (node, iface) = s.split_once(':').ok_or_else(|| format!("`{s}`: expected `node:interface`"))?;
        if node.is_empty() {
            return Err(format!("`{s}`: node name is empty"));
        }
        check_ifname(iface)?;
        Ok(IfaceRef { node: node.into(), iface: iface.into() })
    }
}
deserialize_from_str!(IfaceRef);

impl fmt::Display for IfaceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.iface)
    }
}

/// One end of a veth pair: `node:iface[@bridge] [address/prefix ...]`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct Endpoint {
    pub at: IfaceRef,
    /// Bridge in the same node this end is enslaved to.
    pub master: Option<String>,
    pub addresses: Vec<IpNet>,
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut words = s.split_whitespace();
        let head = words
            .next()
            .ok_or_else(|| "empty link end: expected `node:iface[@bridge] [address/prefix ...]`".to_string())?;
        let (iface, master) = match head.split_once('@') {
            Some((iface, master)) => {
                check_ifname(master)?;
                (iface, Some(master.to_string()))
            }
            None => (head, None),
        };
        let at: IfaceRef = iface.parse()?;
        let words: Vec<&str> = words.collect();
        // `a:my eth0`: a word right after the interface that is no address at all is
        // most likely the rest of a name with a space in it.
        if let Some(second) = words.first().filter(|w| !w.contains(['/', '.', ':']) && w.parse::<IpAddr>().is_err()) {
            return Err(format!(
                "interface name `{} {second}` contains a space (after `node:iface` come only addresses, and `{second}` is not one)",
                at.iface
            ));
        }
        let addresses = words.into_iter().map(parse_cidr).collect::<Result<_, _>>()?;
        Ok(Endpoint { at, master, addresses })
    }
}
deserialize_from_str!(Endpoint);

fn parse_cidr(word: &str) -> Result<IpNet, String> {
    if !word.contains('/') {
        return Err(format!("`{word}`: an interface address needs a prefix length, e.g. `{word}/24`"));
    }
    word.parse().map_err(|_| format!("`{word}` is not an address with prefix (e.g. 10.0.0.1/24, fd00::1/64)"))
}

fn parse_ip(word: &str) -> Result<IpAddr, String> {
    word.parse().map_err(|_| format!("`{word}` is not an IP address"))
}

/// A prefix; a bare address means a host route (/32 or /128), as with `ip route`.
fn parse_prefix(word: &str) -> Result<IpNet, String> {
    if word.contains('/') {
        let net: IpNet = word.parse().map_err(|_| format!("`{word}` is not a prefix (e.g. 10.1.0.0/16)"))?;
        if net.trunc() != net {
            return Err(format!("`{word}` has host bits set; did you mean `{}`?", net.trunc()));
        }
        Ok(net)
    } else {
        Ok(IpNet::from(parse_ip(word)?))
    }
}

/// An address or a prefix to match against (`10.1.1.2` means exactly that host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct IpPrefix(pub IpNet);

impl FromStr for IpPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.contains('/') {
            s.parse()
                .map(IpPrefix)
                .map_err(|_| format!("`{s}` is not an address or prefix (e.g. 10.1.1.2, 10.1.0.0/16)"))
        } else {
            parse_ip(s).map(|ip| IpPrefix(IpNet::from(ip)))
        }
    }
}
deserialize_from_str!(IpPrefix);

impl std::ops::Deref for IpPrefix {
    type Target = IpNet;
    fn deref(&self) -> &IpNet {
        &self.0
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpNet::V4(n) if n.prefix_len() == 32 => write!(f, "{}", n.addr()),
            IpNet::V6(n) if n.prefix_len() == 128 => write!(f, "{}", n.addr()),
            net => write!(f, "{net}"),
        }
    }
}

impl serde::Serialize for IpPrefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn parse_num<T: FromStr>(key: &str, value: Option<&str>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("`{key}` needs a value"))?;
    value.parse().map_err(|_| format!("`{key} {value}`: `{value}` is not a valid number"))
}

fn parse_table(value: Option<&str>) -> Result<u32, String> {
    match value {
        Some("main") => Ok(RT_TABLE_MAIN),
        Some("local") => Ok(RT_TABLE_LOCAL),
        Some("default") => Ok(RT_TABLE_DEFAULT),
        other => parse_num("table", other),
    }
}

fn need<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("`{key}` needs a value"))
}

/// What a route does with matching packets: the route types `ip route` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Local,
    Broadcast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Multicast,
    Anycast,
    Nat,
}

impl RouteKind {
    const ALL: [RouteKind; 10] = [
        RouteKind::Unicast,
        RouteKind::Local,
        RouteKind::Broadcast,
        RouteKind::Blackhole,
        RouteKind::Unreachable,
        RouteKind::Prohibit,
        RouteKind::Throw,
        RouteKind::Multicast,
        RouteKind::Anycast,
        RouteKind::Nat,
    ];

    /// The word `ip route` uses for the type.
    pub fn word(self) -> &'static str {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Local => "local",
            RouteKind::Broadcast => "broadcast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Throw => "throw",
            RouteKind::Multicast => "multicast",
            RouteKind::Anycast => "anycast",
            RouteKind::Nat => "nat",
        }
    }

    fn from_word(word: &str) -> Option<RouteKind> {
        RouteKind::ALL.into_iter().find(|k| k.word() == word)
    }

    /// The table a route of this type goes to when none is written: `ip route` puts
    /// the types that describe the node's own addresses into `local`, the rest into `main`.
    pub fn default_table(self) -> u32 {
        match self {
            RouteKind::Local | RouteKind::Broadcast | RouteKind::Nat | RouteKind::Anycast => RT_TABLE_LOCAL,
            _ => RT_TABLE_MAIN,
        }
    }
}

/// Routing table ids with names (linux/rtnetlink.h, iproute2's `rt_tables`).
pub const RT_TABLE_DEFAULT: u32 = 253;
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;

/// Route scopes by name, as iproute2's `rt_scopes` spells them (linux/rtnetlink.h).
const ROUTE_SCOPES: [(&str, u8); 6] =
    [("global", 0), ("universe", 0), ("site", 200), ("link", 253), ("host", 254), ("nowhere", 255)];

/// Route protocols by name, as iproute2's `rt_protos` spells them (linux/rtnetlink.h).
const ROUTE_PROTOCOLS: [(&str, u8); 22] = [
    ("unspec", 0),
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("gated", 8),
    ("ra", 9),
    ("mrt", 10),
    ("zebra", 11),
    ("bird", 12),
    ("dnrouted", 13),
    ("xorp", 14),
    ("ntk", 15),
    ("dhcp", 16),
    ("keepalived", 18),
    ("babel", 42),
    ("openr", 99),
    ("bgp", 186),
    ("isis", 187),
    ("ospf", 188),
    ("rip", 189),
    ("eigrp", 192),
];

/// A name from `names` or a number 0-255 (`scope 253`, `proto 4`).
fn parse_named_u8(key: &str, value: Option<&str>, names: &[(&str, u8)]) -> Result<u8, String> {
    let value = need(key, value)?;
    if let Some((_, number)) = names.iter().find(|(name, _)| *name == value) {
        return Ok(*number);
    }
    value.parse().map_err(|_| {
        let known: Vec<&str> = names.iter().map(|(name, _)| *name).collect();
        format!("`{key} {value}`: expected a number 0-255 or one of {}", known.join(", "))
    })
}

/// A TCP/IP metric a route carries (`RTAX_*` in RTA_METRICS), by its `ip route` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteMetric {
    Mtu,
    Advmss,
    Window,
    Hoplimit,
    Initcwnd,
    Initrwnd,
    Reordering,
    Quickack,
}

impl RouteMetric {
    pub const ALL: [RouteMetric; 8] = [
        RouteMetric::Mtu,
        RouteMetric::Advmss,
        RouteMetric::Window,
        RouteMetric::Hoplimit,
        RouteMetric::Initcwnd,
        RouteMetric::Initrwnd,
        RouteMetric::Reordering,
        RouteMetric::Quickack,
    ];

    pub fn word(self) -> &'static str {
        match self {
            RouteMetric::Mtu => "mtu",
            RouteMetric::Advmss => "advmss",
            RouteMetric::Window => "window",
            RouteMetric::Hoplimit => "hoplimit",
            RouteMetric::Initcwnd => "initcwnd",
            RouteMetric::Initrwnd => "initrwnd",
            RouteMetric::Reordering => "reordering",
            RouteMetric::Quickack => "quickack",
        }
    }

    fn from_word(word: &str) -> Option<RouteMetric> {
        RouteMetric::ALL.into_iter().find(|m| m.word() == word)
    }
}

/// One path of a multipath route: `nexthop [via IP] [dev IF] [weight 1-256] [onlink]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nexthop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// `None` when not written: the kernel's default, 1.
    pub weight: Option<u16>,
    pub onlink: bool,
}

impl Nexthop {
    /// Read the words after one `nexthop`, up to the next one.
    fn parse(words: &mut std::iter::Peekable<std::str::SplitWhitespace<'_>>) -> Result<Nexthop, String> {
        let mut hop = Nexthop { via: None, dev: None, weight: None, onlink: false };
        while let Some(key) = words.next_if(|w| *w != "nexthop") {
            match key {
                "via" => hop.via = Some(parse_ip(need(key, words.next())?)?),
                "dev" => {
                    let dev = need(key, words.next())?;
                    check_ifname(dev)?;
                    hop.dev = Some(dev.into());
                }
                "weight" => {
                    let weight: u16 = parse_num(key, words.next())?;
                    if !(1..=256).contains(&weight) {
                        return Err(format!("`weight {weight}`: a nexthop's weight is 1 to 256"));
                    }
                    hop.weight = Some(weight);
                }
                "onlink" => hop.onlink = true,
                other => {
                    return Err(format!(
                        "`{other}` is not understood in a nexthop (known: via, dev, weight, onlink; the route's own \
                         words come before the first `nexthop`)"
                    ));
                }
            }
        }
        if hop.via.is_none() && hop.dev.is_none() {
            return Err("a `nexthop` needs `via` or `dev`".into());
        }
        Ok(hop)
    }
}

/// A number written in decimal or in hex with `0x` (`tos 0x10`, `fwmark 0x7`).
fn parse_number<T: TryFrom<u64>>(key: &str, value: Option<&str>) -> Result<T, String> {
    let value = need(key, value)?;
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    };
    parsed
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("`{key} {value}`: `{value}` is not a valid number (decimal or 0x hex)"))
}

/// A route in `ip route` syntax:
/// `[to] [TYPE] (default|PREFIX) [tos N] [via IP] [dev IF] [src IP] [metric N]
///  [table local|main|default|N] [proto NAME|N] [scope global|site|link|host|nowhere|N]
///  [onlink] [mtu N] [advmss N] [window N] [hoplimit N] [initcwnd N] [initrwnd N]
///  [reordering N] [quickack 0|1] [nexthop [via IP] [dev IF] [weight N] [onlink]]...`,
/// TYPE one of unicast, local, broadcast, blackhole, unreachable, prohibit, throw,
/// multicast, anycast, nat. What is not written is left to the defaults `ip route
/// add`/`del` send (see `netlink::route_header`).
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct RouteSpec {
    /// `None` when no type is written: `add` means unicast, `del` matches any type.
    pub kind: Option<RouteKind>,
    /// `None` for `default` (its family comes from `via`, else IPv4).
    pub dst: Option<IpNet>,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub src: Option<IpAddr>,
    pub metric: Option<u32>,
    pub table: Option<u32>,
    /// Kernel scope number (`RT_SCOPE_*`).
    pub scope: Option<u8>,
    /// Kernel protocol number (`RTPROT_*`).
    pub protocol: Option<u8>,
    pub onlink: bool,
    /// TOS (DSCP) the packet must carry for the route to match (`tos`, `dsfield`).
    pub tos: Option<u8>,
    /// The metrics written (`mtu 1400 advmss 1360`), one value each.
    pub metrics: BTreeMap<RouteMetric, u32>,
    /// The paths of a multipath route (RTA_MULTIPATH), in written order.
    pub nexthops: Vec<Nexthop>,
    /// `default` written with an IPv6 family hint (`-6`/`default6` not needed when
    /// `via` is IPv6).
    pub ipv6: bool,
    text: String,
}

impl RouteSpec {
    /// The type the route gets when added.
    pub fn kind_to_add(&self) -> RouteKind {
        self.kind.unwrap_or(RouteKind::Unicast)
    }

    /// The table written, else the one `ip route` picks for the type.
    pub fn table_id(&self) -> u32 {
        self.table.unwrap_or_else(|| self.kind_to_add().default_table())
    }

    /// Every interface the route names, its own and its nexthops'.
    pub fn devices(&self) -> impl Iterator<Item = &String> {
        self.dev.iter().chain(self.nexthops.iter().filter_map(|hop| hop.dev.as_ref()))
    }

    /// Whether the route can be added as written: a unicast route needs a next hop or
    /// an interface. (Deleting needs neither: `ip route del 10.1.0.0/16` is fine.)
    pub fn check_addable(&self) -> Result<(), String> {
        let no_path = self.via.is_none() && self.dev.is_none() && self.nexthops.is_empty();
        if self.kind_to_add() == RouteKind::Unicast && no_path {
            return Err(format!(
                "route `{}` needs `via` or `dev` (or `nexthop`s, or a type like blackhole)",
                self.text
            ));
        }
        Ok(())
    }
}

impl FromStr for RouteSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut words = s.split_whitespace().peekable();
        words.next_if_eq(&"to");
        let kind = words.peek().and_then(|w| RouteKind::from_word(w));
        if kind.is_some() {
            words.next();
        }
        let dst_word = words.next().ok_or_else(|| match kind {
            Some(kind) => format!("`{}` needs a destination: write e.g. `{} 10.0.0.0/8`", kind.word(), kind.word()),
            None => "empty route: write e.g. `default via 10.0.0.1`".to_string(),
        })?;
        let dst = if dst_word == "default" { None } else { Some(parse_prefix(dst_word)?) };
        let mut r = RouteSpec {
            kind,
            dst,
            via: None,
            dev: None,
            src: None,
            metric: None,
            table: None,
            scope: None,
            protocol: None,
            onlink: false,
            tos: None,
            metrics: BTreeMap::new(),
            nexthops: Vec::new(),
            ipv6: dst.is_some_and(|d| matches!(d, IpNet::V6(_))),
            text: s.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        while let Some(key) = words.next() {
            if let Some(metric) = RouteMetric::from_word(key) {
                r.metrics.insert(metric, parse_num(key, words.next())?);
                continue;
            }
            match key {
                "via" => r.via = Some(parse_ip(need(key, words.next())?)?),
                "dev" | "oif" => {
                    let dev = need(key, words.next())?;
                    check_ifname(dev)?;
                    r.dev = Some(dev.into());
                }
                "src" => r.src = Some(parse_ip(need(key, words.next())?)?),
                "metric" | "preference" | "priority" => r.metric = Some(parse_num(key, words.next())?),
                "table" => r.table = Some(parse_table(words.next())?),
                "scope" => r.scope = Some(parse_named_u8(key, words.next(), &ROUTE_SCOPES)?),
                "proto" | "protocol" => r.protocol = Some(parse_named_u8(key, words.next(), &ROUTE_PROTOCOLS)?),
                "onlink" => r.onlink = true,
                "tos" | "dsfield" => r.tos = Some(parse_number(key, words.next())?),
                "nexthop" => {
                    r.nexthops.push(Nexthop::parse(&mut words)?);
                    while words.next_if_eq(&"nexthop").is_some() {
                        r.nexthops.push(Nexthop::parse(&mut words)?);
                    }
                }
                other if RouteKind::from_word(other).is_some() => {
                    return Err(format!(
                        "`{other}`: a route's type comes before its destination (`{other} 10.0.0.0/8`)"
                    ));
                }
                other => {
                    return Err(format!(
                        "`{other}` is not understood in a route (known: via, dev, src, metric, table, proto, scope, onlink, tos, mtu, advmss, window, hoplimit, initcwnd, initrwnd, reordering, quickack, nexthop)"
                    ));
                }
            }
        }
        if !r.nexthops.is_empty() && (r.via.is_some() || r.dev.is_some()) {
            return Err(format!("route `{}`: write `via` and `dev` in each nexthop, not before them", r.text));
        }
        let gateways: Vec<IpAddr> = r.via.into_iter().chain(r.nexthops.iter().filter_map(|hop| hop.via)).collect();
        if let Some(d) = r.dst {
            if let Some(v) = gateways.iter().find(|v| d.addr().is_ipv4() != v.is_ipv4()) {
                return Err(format!("route to {d} via {v} mixes IPv4 and IPv6"));
            }
        }
        if r.dst.is_none() {
            r.ipv6 = gateways.first().is_some_and(|v| v.is_ipv6());
        }
        if r.ipv6 && r.tos.is_some() {
            return Err(format!(
                "route `{}`: `tos` selects IPv4 routes only (the kernel refuses it for IPv6: \"option not available for IPv6\")",
                r.text
            ));
        }
        Ok(r)
    }
}
deserialize_from_str!(RouteSpec);

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a policy rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    Lookup(u32),
    /// Continue with the rule of this priority.
    Goto(u32),
    /// Nothing: the rule only counts as matched.
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// IP protocols by name, as `ip rule ipproto` spells the common ones.
const IP_PROTOCOLS: [(&str, u8); 6] =
    [("icmp", 1), ("tcp", 6), ("udp", 17), ("ipv6-icmp", 58), ("icmpv6", 58), ("sctp", 132)];

/// `PORT` or `FIRST-LAST`, inclusive, as `ip rule sport/dport` takes them.
fn parse_port_range(key: &str, value: Option<&str>) -> Result<(u16, u16), String> {
    let value = need(key, value)?;
    let (first, last) = value.split_once('-').unwrap_or((value, value));
    let bad = || format!("`{key} {value}`: expected a port or a range like 1000-2000");
    let first: u16 = first.parse().map_err(|_| bad())?;
    let last: u16 = last.parse().map_err(|_| bad())?;
    if first > last {
        return Err(format!("`{key} {value}`: the range is empty ({first} > {last})"));
    }
    Ok((first, last))
}

/// A policy routing rule in `ip rule` syntax:
/// `[-6] [not] [from PREFIX|all] [to PREFIX|all] [tos N] [fwmark N[/MASK]] [iif IF] [oif IF]
///  [ipproto NAME|N] [sport P[-P]] [dport P[-P]] [uidrange A-B] [priority N]
///  [(table|lookup) N [suppress_prefixlength N] | goto N | nop | blackhole | unreachable | prohibit]`.
/// A rule to add needs an action; one to delete matches on what is written
/// (`priority 100` alone finds the rule of that priority).
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct RuleSpec {
    pub invert: bool,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub tos: Option<u8>,
    pub ipproto: Option<u8>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub uidrange: Option<(u32, u32)>,
    /// Ignore a route found whose prefix is this long or shorter.
    pub suppress_prefixlength: Option<u32>,
    pub priority: Option<u32>,
    /// `None` only in a rule to delete.
    pub action: Option<RuleAction>,
    pub ipv6: bool,
    text: String,
}

impl RuleSpec {
    /// Whether the rule can be added as written: it needs an action.
    pub fn check_addable(&self) -> Result<(), String> {
        if self.action.is_none() {
            return Err(format!(
                "rule `{}` needs an action: `table N`, `goto N`, `nop`, `blackhole`, `unreachable` or `prohibit`",
                self.text
            ));
        }
        Ok(())
    }
}

impl FromStr for RuleSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut words = s.split_whitespace().peekable();
        // `ip -6 rule`: the family of a rule that names no address.
        let family_ipv6 = words.next_if_eq(&"-6").is_some();
        let mut r = RuleSpec {
            invert: false,
            from: None,
            to: None,
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
            tos: None,
            ipproto: None,
            sport: None,
            dport: None,
            uidrange: None,
            suppress_prefixlength: None,
            priority: None,
            action: None,
            ipv6: false,
            text: s.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        let prefix_or_all = |w: &str| {
            if w == "all" { Ok(None) } else { parse_prefix(w).map(Some) }
        };
        let set_action = |r: &mut RuleSpec, action: RuleAction| match r.action.replace(action) {
            Some(_) => Err(format!("rule `{s}` has two actions: write one")),
            None => Ok(()),
        };
        while let Some(key) = words.next() {
            match key {
                "not" => r.invert = true,
                "from" => r.from = prefix_or_all(need(key, words.next())?)?,
                "to" => r.to = prefix_or_all(need(key, words.next())?)?,
                "iif" => r.iif = Some(need(key, words.next())?.into()),
                "oif" => r.oif = Some(need(key, words.next())?.into()),
                "fwmark" => {
                    let v = need(key, words.next())?;
                    let (mark, mask) = v.split_once('/').map_or((v, None), |(m, k)| (m, Some(k)));
                    r.fwmark = Some(parse_number(key, Some(mark))?);
                    r.fwmask = mask.map(|k| parse_number(key, Some(k))).transpose()?;
                }
                "tos" | "dsfield" => r.tos = Some(parse_number(key, words.next())?),
                "ipproto" => r.ipproto = Some(parse_named_u8(key, words.next(), &IP_PROTOCOLS)?),
                "sport" => r.sport = Some(parse_port_range(key, words.next())?),
                "dport" => r.dport = Some(parse_port_range(key, words.next())?),
                "uidrange" => {
                    let v = need(key, words.next())?;
                    let bad = || format!("`uidrange {v}`: expected FIRST-LAST, e.g. 1000-1999");
                    let (first, last) = v.split_once('-').ok_or_else(bad)?;
                    let range = (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?);
                    if range.0 > range.1 {
                        return Err(bad());
                    }
                    r.uidrange = Some(range);
                }
                "suppress_prefixlength" | "sup_pl" => r.suppress_prefixlength = Some(parse_num(key, words.next())?),
                "priority" | "pref" | "preference" => r.priority = Some(parse_num(key, words.next())?),
                "table" | "lookup" => set_action(&mut r, RuleAction::Lookup(parse_table(words.next())?))?,
                "goto" => set_action(&mut r, RuleAction::Goto(parse_num(key, words.next())?))?,
                "nop" => set_action(&mut r, RuleAction::Nop)?,
                "blackhole" => set_action(&mut r, RuleAction::Blackhole)?,
                "unreachable" => set_action(&mut r, RuleAction::Unreachable)?,
                "prohibit" => set_action(&mut r, RuleAction::Prohibit)?,
                other => {
                    return Err(format!(
                        "`{other}` is not understood in a rule (known: not, from, to, iif, oif, fwmark, tos, ipproto, sport, dport, uidrange, priority, table, suppress_prefixlength, goto, nop, blackhole, unreachable, prohibit)"
                    ));
                }
            }
        }
        if r.suppress_prefixlength.is_some() && !matches!(r.action, Some(RuleAction::Lookup(_)) | None) {
            return Err(format!("rule `{s}`: `suppress_prefixlength` goes with `table N`"));
        }
        let families: Vec<bool> = [r.from, r.to].iter().flatten().map(|n| matches!(n, IpNet::V6(_))).collect();
        r.ipv6 = family_ipv6 || families.first().copied().unwrap_or(false);
        if families.iter().any(|v6| *v6 != r.ipv6) {
            return Err(format!("rule `{s}` mixes IPv4 and IPv6"));
        }
        Ok(r)
    }
}
deserialize_from_str!(RuleSpec);

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A static neighbour: `IP lladdr MAC dev IF [permanent|noarp|reachable|stale]`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct NeighSpec {
    pub ip: IpAddr,
    /// `proxy IP dev IF`: an entry of the proxy table (NTF_PROXY), answered for on `dev`
    /// with the node's own MAC (proxy_ndp, and proxy ARP for one address).
    pub proxy: bool,
    pub lladdr: Option<MacAddr>,
    pub dev: String,
    pub state: NeighState,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    Permanent,
    Noarp,
    Reachable,
    Stale,
}

impl FromStr for NeighSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut words = s.split_whitespace().peekable();
        let proxy = words.next_if_eq(&"proxy").is_some();
        let ip = parse_ip(words.next().ok_or("empty neighbour: write `IP lladdr MAC dev IF` or `proxy IP dev IF`")?)?;
        let (mut lladdr, mut dev, mut state) = (None, None, NeighState::Permanent);
        while let Some(key) = words.next() {
            match key {
                "lladdr" => lladdr = Some(need(key, words.next())?.parse()?),
                "dev" => {
                    let d = need(key, words.next())?;
                    check_ifname(d)?;
                    dev = Some(d.to_string());
                }
                "permanent" => state = NeighState::Permanent,
                "noarp" => state = NeighState::Noarp,
                "reachable" => state = NeighState::Reachable,
                "stale" => state = NeighState::Stale,
                other => {
                    return Err(format!(
                        "`{other}` is not understood in a neighbour (known: lladdr, dev, permanent, noarp, reachable, stale)"
                    ));
                }
            }
        }
        let dev = dev.ok_or_else(|| format!("neighbour `{s}` needs `dev IF`"))?;
        if proxy && lladdr.is_some() {
            return Err(format!("`{s}`: a proxy entry has no `lladdr` (the node answers with its own MAC)"));
        }
        Ok(NeighSpec { ip, proxy, lladdr, dev, state, text: s.split_whitespace().collect::<Vec<_>>().join(" ") })
    }
}
deserialize_from_str!(NeighSpec);

impl fmt::Display for NeighSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What kind of forwarding entry: `bridge fdb`'s `local|permanent`, `static`, `dynamic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdbState {
    /// `permanent` or `local` (the default): the bridge treats the address as its own.
    Permanent,
    /// `static`: forwarded to the port, never aged out.
    Static,
    /// `dynamic`: forwarded to the port and aged out like a learned entry.
    Dynamic,
}

/// The flag words of `bridge fdb`, each one bit of the request (`NTF_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FdbFlag {
    /// `self`: the entry goes to the device's own table (a vxlan's remotes, a port's
    /// address filter).
    OnSelf,
    /// `master`: the entry goes to the bridge the device is enslaved to.
    OnMaster,
    Router,
    Use,
    ExternLearn,
    Sticky,
}

const FDB_FLAG_WORDS: [(&str, FdbFlag); 6] = [
    ("self", FdbFlag::OnSelf),
    ("master", FdbFlag::OnMaster),
    ("router", FdbFlag::Router),
    ("use", FdbFlag::Use),
    ("extern_learn", FdbFlag::ExternLearn),
    ("sticky", FdbFlag::Sticky),
];

const FDB_STATE_WORDS: [(&str, FdbState); 4] = [
    ("permanent", FdbState::Permanent),
    ("local", FdbState::Permanent),
    ("static", FdbState::Static),
    ("dynamic", FdbState::Dynamic),
];

/// A bridge / vxlan forwarding entry in `bridge fdb add|append|del` syntax:
/// `MAC dev IF [self] [master] [router] [use] [extern_learn] [sticky]
///  [local|permanent|static|dynamic] [dst IP] [port N] [vni N] [src_vni N] [via IF]
///  [vlan N] [nhid N]`. As with `bridge fdb`, an entry is `permanent` unless another
/// state is written, and goes to the device itself (`self`) unless `master` is written.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub struct FdbSpec {
    pub mac: MacAddr,
    pub dev: String,
    pub state: FdbState,
    /// Sorted, each once; holds `OnSelf` or `OnMaster` (or both).
    pub flags: Vec<FdbFlag>,
    pub dst: Option<IpAddr>,
    /// UDP destination port of a vxlan remote.
    pub port: Option<u16>,
    pub vni: Option<u32>,
    pub src_vni: Option<u32>,
    /// Interface to reach a vxlan remote through.
    pub via: Option<String>,
    pub vlan: Option<u16>,
    /// Nexthop group id of a vxlan remote.
    pub nhid: Option<u32>,
    text: String,
}

impl FdbSpec {
    pub fn has(&self, flag: FdbFlag) -> bool {
        self.flags.contains(&flag)
    }
}

/// A VXLAN network identifier: 24 bits.
fn parse_vni(key: &str, value: Option<&str>) -> Result<u32, String> {
    let vni: u32 = parse_num(key, value)?;
    if vni >= 1 << 24 {
        return Err(format!("`{key} {vni}`: a VNI has 24 bits (at most 16777215)"));
    }
    Ok(vni)
}

impl FromStr for FdbSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut words = s.split_whitespace();
        let mac = words.next().ok_or("empty fdb entry: write `MAC dev IF [dst IP]`")?.parse()?;
        let mut f = FdbSpec {
            mac,
            dev: String::new(),
            state: FdbState::Permanent,
            flags: Vec::new(),
            dst: None,
            port: None,
            vni: None,
            src_vni: None,
            via: None,
            vlan: None,
            nhid: None,
            text: s.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        let mut state_word: Option<(&str, FdbState)> = None;
        while let Some(key) = words.next() {
            if let Some((_, flag)) = FDB_FLAG_WORDS.iter().find(|(word, _)| *word == key) {
                f.flags.push(*flag);
                continue;
            }
            if let Some((_, state)) = FDB_STATE_WORDS.iter().find(|(word, _)| *word == key) {
                if let Some((earlier, before)) = state_word {
                    if before != *state {
                        return Err(format!("`{key}` contradicts `{earlier}`: an fdb entry has one state"));
                    }
                }
                (state_word, f.state) = (Some((key, *state)), *state);
                continue;
            }
            match key {
                "dev" => {
                    let d = need(key, words.next())?;
                    check_ifname(d)?;
                    f.dev = d.to_string();
                }
                "dst" => f.dst = Some(parse_ip(need(key, words.next())?)?),
                "port" => {
                    let port: u16 = parse_num(key, words.next())?;
                    if port == 0 {
                        return Err("`port 0`: a UDP port is 1-65535".into());
                    }
                    f.port = Some(port);
                }
                "vni" => f.vni = Some(parse_vni(key, words.next())?),
                "src_vni" => f.src_vni = Some(parse_vni(key, words.next())?),
                "via" => {
                    let via = need(key, words.next())?;
                    check_ifname(via)?;
                    f.via = Some(via.to_string());
                }
                "vlan" => {
                    let vlan: u16 = parse_num(key, words.next())?;
                    if !(1..=4094).contains(&vlan) {
                        return Err(format!("`vlan {vlan}`: a VLAN id is 1-4094"));
                    }
                    f.vlan = Some(vlan);
                }
                "nhid" => f.nhid = Some(parse_num(key, words.next())?),
                other => {
                    let known: Vec<&str> = ["dev", "dst", "port", "vni", "src_vni", "via", "vlan", "nhid"]
                        .into_iter()
                        .chain(FDB_FLAG_WORDS.iter().map(|(w, _)| *w))
                        .chain(FDB_STATE_WORDS.iter().map(|(w, _)| *w))
                        .collect();
                    return Err(format!("`{other}` is not understood in an fdb entry (known: {})", known.join(", ")));
                }
            }
        }
        if f.dev.is_empty() {
            return Err(format!("fdb entry `{s}` needs `dev IF`"));
        }
        if f.nhid.is_some() && (f.dst.is_some() || f.port.is_some() || f.vni.is_some()) {
            return Err(format!("fdb entry `{s}`: `nhid` excludes `dst`, `port` and `vni`"));
        }
        // `bridge fdb`'s default: the device's own table.
        if !f.has(FdbFlag::OnSelf) && !f.has(FdbFlag::OnMaster) {
            f.flags.push(FdbFlag::OnSelf);
        }
        f.flags.sort();
        f.flags.dedup();
        Ok(f)
    }
}
deserialize_from_str!(FdbSpec);

impl fmt::Display for FdbSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A number of bytes: `1048576`, `64KiB`, `1MiB`, `10MB`.
///
/// Integers only, with an optional unit: `B`, the binary `KiB`, `MiB`, `GiB` (powers of
/// 1024) or the decimal `kB`, `MB`, `GB` (powers of 1000), spelled exactly so (`Mb`
/// would be megabits). Written here rather than taken from a crate so that fractions
/// ("1.5MiB") and case guesses are refused with a message saying what to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(with = "serde_json::Value")]
pub struct ByteSize(pub u64);

const BYTE_UNITS: [(&str, u64); 7] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
];

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = (&text[..split], text[split..].trim_start());
        let units = || BYTE_UNITS.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ");
        if digits.is_empty() {
            return Err(format!("`{s}` is not a size (write e.g. `1048576`, `64KiB` or `1MiB`)"));
        }
        if unit.starts_with(['.', ',']) {
            return Err(format!("`{s}`: write a whole number of bytes or units (e.g. `1536KiB`, not `1.5MiB`)"));
        }
        let multiplier = match unit {
            "" => 1,
            u => BYTE_UNITS.iter().find(|(name, _)| *name == u).map(|(_, m)| *m).ok_or_else(|| {
                format!("`{u}` in `{s}` is not a size unit (write a whole number and one of: {})", units())
            })?,
        };
        let bytes = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(multiplier))
            .ok_or_else(|| format!("`{s}` is too large"))?;
        Ok(ByteSize(bytes))
    }
}

/// Accepts a YAML integer as well as a string.
impl<'de> serde::Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// The largest binary unit that divides the count exactly: `1MiB`, `1500B`.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let binary = BYTE_UNITS[1..4].iter().rev().find(|(_, m)| self.0 >= *m && self.0.is_multiple_of(*m));
        match binary {
            Some((unit, m)) => write!(f, "{}{unit}", self.0 / m),
            None => write!(f, "{}B", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("netns_A:eth0 172.18.0.2/16", "netns_A", "eth0", None, 1)]
    #[case("host:vethA@mybr0", "host", "vethA", Some("mybr0"), 0)]
    #[case("h:v0@br0 10.0.0.1/24 fd00::1/64", "h", "v0", Some("br0"), 2)]
    fn endpoints_parse(
        #[case] text: &str,
        #[case] node: &str,
        #[case] iface: &str,
        #[case] master: Option<&str>,
        #[case] n_addr: usize,
    ) {
        let e: Endpoint = text.parse().unwrap();
        assert_eq!(e.at.node, node);
        assert_eq!(e.at.iface, iface);
        assert_eq!(e.master.as_deref(), master);
        assert_eq!(e.addresses.len(), n_addr);
    }

    #[rstest]
    #[case("eth0", "expected `node:interface`")]
    #[case("h:averyveryverylongname", "at most 15")]
    #[case("h:eth0 10.0.0.1", "needs a prefix length")]
    #[case("h:eth0 10.0.0.300/24", "not an address with prefix")]
    fn bad_endpoints_explain_themselves(#[case] text: &str, #[case] needle: &str) {
        let err = text.parse::<Endpoint>().unwrap_err();
        assert!(err.contains(needle), "{err}");
    }

    #[test]
    fn routes_parse_like_ip_route() {
        let r: RouteSpec = "default via 172.18.0.1".parse().unwrap();
        assert_eq!((r.dst, r.via, r.kind), (None, Some("172.18.0.1".parse().unwrap()), None));
        let r: RouteSpec = "10.2.0.0/16 dev eth0 metric 10 table 100 scope link proto static".parse().unwrap();
        assert_eq!(r.dev.as_deref(), Some("eth0"));
        assert_eq!((r.metric, r.table, r.scope, r.protocol), (Some(10), Some(100), Some(253), Some(4)));
        let r: RouteSpec = "blackhole 10.9.0.0/16".parse().unwrap();
        assert_eq!(r.kind, Some(RouteKind::Blackhole));
        let r: RouteSpec = "default via fd00::1".parse().unwrap();
        assert!(r.ipv6);
        assert_eq!(r.to_string(), "default via fd00::1");
        let r: RouteSpec = "to 10.0.0.0/8 dev eth0 scope 200 proto 99".parse().unwrap();
        assert_eq!((r.kind, r.scope, r.protocol), (None, Some(200), Some(99)));
    }

    #[rstest]
    #[case("unicast 10.0.0.0/8 dev eth0", RouteKind::Unicast, RT_TABLE_MAIN)]
    #[case("local 10.0.0.5 dev eth0", RouteKind::Local, RT_TABLE_LOCAL)]
    #[case("broadcast 10.0.0.255 dev eth0", RouteKind::Broadcast, RT_TABLE_LOCAL)]
    #[case("blackhole 10.0.0.0/8", RouteKind::Blackhole, RT_TABLE_MAIN)]
    #[case("unreachable 10.0.0.0/8", RouteKind::Unreachable, RT_TABLE_MAIN)]
    #[case("prohibit 10.0.0.0/8", RouteKind::Prohibit, RT_TABLE_MAIN)]
    #[case("throw 10.0.0.0/8 table 100", RouteKind::Throw, 100)]
    #[case("multicast 239.0.0.0/8 dev eth0", RouteKind::Multicast, RT_TABLE_MAIN)]
    #[case("anycast fd00::/64 dev eth0", RouteKind::Anycast, RT_TABLE_LOCAL)]
    #[case("nat 10.0.0.9 via 192.0.2.9", RouteKind::Nat, RT_TABLE_LOCAL)]
    #[case("to local 127.0.0.0/8 dev lo table main", RouteKind::Local, RT_TABLE_MAIN)]
    fn every_route_type_of_ip_route_parses(#[case] text: &str, #[case] kind: RouteKind, #[case] table: u32) {
        let r: RouteSpec = text.parse().unwrap();
        assert_eq!((r.kind, r.table_id()), (Some(kind), table), "{text}");
        assert_eq!(r.check_addable(), Ok(()));
    }

    #[test]
    fn a_route_without_next_hop_can_be_deleted_but_not_added() {
        let r: RouteSpec = "10.1.0.0/16".parse().unwrap();
        assert_eq!((r.kind, r.table_id()), (None, RT_TABLE_MAIN));
        assert!(r.check_addable().unwrap_err().contains("needs `via` or `dev`"));
        let r: RouteSpec = "127.0.0.0/8 dev lo table local".parse().unwrap();
        assert_eq!((r.kind, r.table_id()), (None, RT_TABLE_LOCAL));
    }

    #[rstest]
    #[case("10.0.0.1/24 via 10.0.0.254", "host bits set")]
    #[case("10.0.0.0/24 via fd00::1", "mixes IPv4 and IPv6")]
    #[case("10.0.0.0/24 gw 10.0.0.1", "`gw` is not understood")]
    #[case("10.0.0.0/24 via", "`via` needs a value")]
    #[case("10.0.0.0/24 dev eth0 metric x", "not a valid number")]
    #[case("10.0.0.0/24 dev eth0 scope galaxy", "`scope galaxy`: expected a number 0-255 or one of global")]
    #[case("10.0.0.0/24 dev eth0 proto 300", "`proto 300`: expected a number 0-255 or one of unspec")]
    #[case("10.0.0.0/24 local", "a route's type comes before its destination")]
    #[case("local", "`local` needs a destination")]
    #[case("", "empty route")]
    fn bad_routes_explain_themselves(#[case] text: &str, #[case] needle: &str) {
        let err = text.parse::<RouteSpec>().unwrap_err();
        assert!(err.contains(needle), "{err}");
    }

    #[test]
    fn rules_and_neighbours_parse() {
        let r: RuleSpec = "from 10.0.0.0/8 table 100 priority 100".parse().unwrap();
        assert_eq!((r.action, r.priority), (Some(RuleAction::Lookup(100)), Some(100)));
        let r: RuleSpec = "from 10.0.0.0/8".parse().unwrap();
        assert!(r.check_addable().unwrap_err().contains("needs an action"), "but it can be deleted");
        let n: NeighSpec = "10.0.0.5 lladdr 02:00:00:00:00:05 dev eth0".parse().unwrap();
        assert_eq!(n.lladdr.unwrap().to_string(), "02:00:00:00:00:05");
        assert!("10.0.0.5 lladdr 02:00".parse::<NeighSpec>().is_err());
        let p: NeighSpec = "proxy fd00::b dev eth0".parse().unwrap();
        assert!(p.proxy && !n.proxy);
        assert_eq!(
            (p.ip.to_string(), p.dev.as_str(), p.to_string()),
            ("fd00::b".into(), "eth0", "proxy fd00::b dev eth0".into())
        );
        assert!(
            "proxy fd00::b lladdr 02:00:00:00:00:05 dev eth0".parse::<NeighSpec>().unwrap_err().contains("no `lladdr`")
        );
    }

    #[test]
    fn rules_take_every_selector_of_ip_rule() {
        let r: RuleSpec = "not from 2001:db8::/32 to all tos 0x10 fwmark 0x7/0xff iif eth0 oif eth1 ipproto udp \
                           sport 1000-2000 dport 53 uidrange 1000-1999 pref 50 lookup main suppress_prefixlength 0"
            .parse()
            .unwrap();
        assert!(r.invert && r.ipv6 && r.to.is_none());
        assert_eq!((r.tos, r.fwmark, r.fwmask, r.ipproto), (Some(0x10), Some(7), Some(0xff), Some(17)));
        assert_eq!((r.sport, r.dport, r.uidrange), (Some((1000, 2000)), Some((53, 53)), Some((1000, 1999))));
        assert_eq!((r.priority, r.action, r.suppress_prefixlength), (Some(50), Some(RuleAction::Lookup(254)), Some(0)));
        let r: RuleSpec = "-6 fwmark 7 lookup 100".parse().unwrap();
        assert!(r.ipv6, "written with -6");
        assert!(!"fwmark 7 lookup 100".parse::<RuleSpec>().unwrap().ipv6);
        assert!("-6 from 10.0.0.0/8 lookup 100".parse::<RuleSpec>().unwrap_err().contains("mixes IPv4 and IPv6"));
        let r: RuleSpec = "priority 10 goto 100".parse().unwrap();
        assert_eq!(r.action, Some(RuleAction::Goto(100)));
        assert_eq!("ipproto 47 nop".parse::<RuleSpec>().unwrap().ipproto, Some(47));
    }

    #[rstest]
    #[case("table 100 blackhole", "two actions")]
    #[case("dport 2000-1000 table 1", "the range is empty")]
    #[case("sport x table 1", "expected a port or a range")]
    #[case("uidrange 5 table 1", "expected FIRST-LAST")]
    #[case("ipproto tcpx table 1", "expected a number 0-255 or one of icmp, tcp")]
    #[case("blackhole suppress_prefixlength 0", "goes with `table N`")]
    #[case("tos 0x100 table 1", "`tos 0x100`: `0x100` is not a valid number")]
    #[case("realms 1 table 1", "`realms` is not understood in a rule")]
    fn bad_rules_explain_themselves(#[case] text: &str, #[case] needle: &str) {
        let err = text.parse::<RuleSpec>().unwrap_err();
        assert!(err.contains(needle), "{text}: {err}");
    }

    #[test]
    fn routes_take_tos_metrics_and_nexthops() {
        let r: RouteSpec = "10.6.0.0/16 tos 0x10 dev eth0 mtu 1400 advmss 1360 initcwnd 20 quickack 1".parse().unwrap();
        assert_eq!(r.tos, Some(0x10));
        let metrics: Vec<(RouteMetric, u32)> = r.metrics.into_iter().collect();
        assert_eq!(
            metrics,
            [
                (RouteMetric::Mtu, 1400),
                (RouteMetric::Advmss, 1360),
                (RouteMetric::Initcwnd, 20),
                (RouteMetric::Quickack, 1)
            ]
        );
        let r: RouteSpec =
            "default metric 5 nexthop via fd00::1 dev eth0 weight 3 nexthop via fd01::1 dev eth1".parse().unwrap();
        assert!(r.ipv6 && r.check_addable().is_ok());
        assert_eq!(r.metric, Some(5));
        let hops: Vec<_> =
            r.nexthops.iter().map(|h| (h.via.unwrap().to_string(), h.dev.clone().unwrap(), h.weight)).collect();
        assert_eq!(hops, [("fd00::1".into(), "eth0".into(), Some(3)), ("fd01::1".into(), "eth1".into(), None)]);
    }

    #[rstest]
    #[case("10.0.0.0/8 nexthop via 10.0.0.1 metric 5", "`metric` is not understood in a nexthop")]
    #[case("10.0.0.0/8 nexthop weight 2", "a `nexthop` needs `via` or `dev`")]
    #[case("10.0.0.0/8 nexthop via 10.0.0.1 weight 0", "weight is 1 to 256")]
    #[case("10.0.0.0/8 via 10.0.0.1 nexthop via 10.0.0.2", "in each nexthop, not before them")]
    #[case("10.0.0.0/8 nexthop via fd00::1", "mixes IPv4 and IPv6")]
    #[case("10.0.0.0/8 dev eth0 tos 0x1ff", "is not a valid number")]
    #[case("10.0.0.0/8 dev eth0 advmss", "`advmss` needs a value")]
    #[case("fd00::/64 dev eth0 tos 0x10", "`tos` selects IPv4 routes only")]
    fn bad_route_attributes_explain_themselves(#[case] text: &str, #[case] needle: &str) {
        let err = text.parse::<RouteSpec>().unwrap_err();
        assert!(err.contains(needle), "{text}: {err}");
    }

    #[rstest]
    // As `bridge fdb`: permanent and on the device itself unless written otherwise.
    #[case("02:00:00:00:00:01 dev veth0", FdbState::Permanent, &[FdbFlag::OnSelf])]
    #[case("02:00:00:00:00:01 dev veth0 master static", FdbState::Static, &[FdbFlag::OnMaster])]
    #[case("02:00:00:00:00:01 dev veth0 master local", FdbState::Permanent, &[FdbFlag::OnMaster])]
    #[case("02:00:00:00:00:01 dev veth0 master permanent", FdbState::Permanent, &[FdbFlag::OnMaster])]
    #[case("02:00:00:00:00:01 dev veth0 master dynamic", FdbState::Dynamic, &[FdbFlag::OnMaster])]
    #[case("02:00:00:00:00:01 dev veth0 sticky master static", FdbState::Static, &[FdbFlag::OnMaster, FdbFlag::Sticky])]
    #[case("02:00:00:00:00:01 dev veth0 self master", FdbState::Permanent, &[FdbFlag::OnSelf, FdbFlag::OnMaster])]
    #[case(
        "02:00:00:00:00:01 dev veth0 router use extern_learn",
        FdbState::Permanent,
        &[FdbFlag::OnSelf, FdbFlag::Router, FdbFlag::Use, FdbFlag::ExternLearn]
    )]
    fn fdb_states_and_flags_as_bridge_fdb(#[case] text: &str, #[case] state: FdbState, #[case] flags: &[FdbFlag]) {
        let f: FdbSpec = text.parse().unwrap();
        assert_eq!((f.state, f.flags.as_slice()), (state, flags), "{text}");
        assert_eq!(f.to_string(), text);
    }

    #[test]
    fn fdb_remote_words_parse() {
        let f: FdbSpec =
            "00:00:00:00:00:00 dev vx0 dst 192.0.2.2 port 4790 vni 200 src_vni 100 via eth0 vlan 10".parse().unwrap();
        assert_eq!(f.dst, Some("192.0.2.2".parse().unwrap()));
        assert_eq!(
            (f.port, f.vni, f.src_vni, f.via.as_deref(), f.vlan),
            (Some(4790), Some(200), Some(100), Some("eth0"), Some(10))
        );
        assert_eq!(f.flags, [FdbFlag::OnSelf]);
        let f: FdbSpec = "02:00:00:00:00:01 dev vx0 nhid 7".parse().unwrap();
        assert_eq!(f.nhid, Some(7));
    }

    #[rstest]
    #[case(
        "02:00:00:00:00:01 dev veth0 master permanently",
        "`permanently` is not understood in an fdb entry (known: dev, dst"
    )]
    #[case("02:00:00:00:00:01 dev veth0 static dynamic", "`dynamic` contradicts `static`")]
    #[case("02:00:00:00:00:01 dev veth0 vni 16777216", "a VNI has 24 bits")]
    #[case("02:00:00:00:00:01 dev veth0 port 0", "a UDP port is 1-65535")]
    #[case("02:00:00:00:00:01 dev veth0 port 70000", "not a valid number")]
    #[case("02:00:00:00:00:01 dev veth0 vlan 4095", "a VLAN id is 1-4094")]
    #[case("02:00:00:00:00:01 dev vx0 nhid 7 dst 192.0.2.1", "`nhid` excludes `dst`")]
    #[case("02:00:00:00:00:01 master", "needs `dev IF`")]
    fn bad_fdb_entries_explain_themselves(#[case] text: &str, #[case] needle: &str) {
        let err = text.parse::<FdbSpec>().unwrap_err();
        assert!(err.contains(needle), "{err}");
    }

    #[rstest]
    #[case("1048576", 1 << 20)]
    #[case("64KiB", 64 << 10)]
    #[case("1MiB", 1 << 20)]
    #[case("1 MiB", 1 << 20)]
    #[case("2GiB", 2 << 30)]
    #[case("10MB", 10_000_000)]
    #[case("3kB", 3_000)]
    #[case("1500B", 1500)]
    fn sizes_parse(#[case] text: &str, #[case] bytes: u64) {
        assert_eq!(text.parse::<ByteSize>(), Ok(ByteSize(bytes)));
    }

    #[rstest]
    #[case("", "is not a size")]
    #[case("MiB", "is not a size")]
    #[case("-1", "is not a size")]
    #[case("1.5MiB", "`1.5MiB`: write a whole number")]
    #[case(
        "1mib",
        "`mib` in `1mib` is not a size unit (write a whole number and one of: B, KiB, MiB, GiB, kB, MB, GB)"
    )]
    #[case("1Mb", "is not a size unit")]
    #[case("99999999999GiB", "is too large")]
    fn bad_sizes_say_what_to_write(#[case] text: &str, #[case] message: &str) {
        let error = text.parse::<ByteSize>().unwrap_err();
        assert!(error.contains(message), "{error}");
    }

    #[test]
    fn sizes_print_in_the_largest_exact_binary_unit() {
        let shown: Vec<String> = [1 << 20, 64 << 10, 1500, 0, 3 << 30].map(|b| ByteSize(b).to_string()).into();
        assert_eq!(shown, ["1MiB", "64KiB", "1500B", "0B", "3GiB"]);
    }
}
