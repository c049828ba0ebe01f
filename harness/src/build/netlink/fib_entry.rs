//! The routing table entry a lookup matched (`ip route get fibmatch`): the route as it
//! was added, with its metrics and every path of a multipath route, where a plain
//! lookup shows only the path the kernel chose for one packet.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::Handle;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::route::{RouteFlags, RouteType};

use super::{Error, MetricName, RouteFacts, RouteQuery, ask_route, link_messages, lookup_request, names_by_index};
use crate::parse::syntax::RouteKind;

/// One path of a multipath entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntryHop {
    pub via: Option<IpAddr>,
    pub dev: String,
    pub weight: u16,
    pub onlink: bool,
}

/// A routing table entry as the kernel holds it. `Display` gives the `ip route` line
/// the report shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// `None` for a type netrig has no word for.
    pub kind: Option<RouteKind>,
    /// The prefix; `0.0.0.0/0` or `::/0` for a default route.
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub src: Option<IpAddr>,
    pub metric: Option<u32>,
    pub table: u32,
    pub scope: u8,
    pub protocol: u8,
    pub onlink: bool,
    pub tos: u8,
    pub metrics: BTreeMap<MetricName, u32>,
    /// Every path, in the kernel's order (for IPv6: the order the paths were added in,
    /// whether in one multipath route or in separate routes the kernel merged).
    pub nexthops: Vec<RouteEntryHop>,
    pub text: String,
}

impl fmt::Display for RouteEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn kind_of(kind: RouteType) -> Option<RouteKind> {
    Some(match kind {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::Local => RouteKind::Local,
        RouteType::Broadcast => RouteKind::Broadcast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Throw => RouteKind::Throw,
        RouteType::Multicast => RouteKind::Multicast,
        RouteType::Anycast => RouteKind::Anycast,
        RouteType::Nat => RouteKind::Nat,
        _ => return None,
    })
}

/// `ip route get fibmatch TO ...`: the entry the kernel's lookup for `query` matched
/// (RTM_F_FIB_MATCH, IPv4 and IPv6 alike). A refused lookup is an error, as with
/// [`super::route_decision`].
pub async fn route_entry(handle: &Handle, query: &RouteQuery<'_>) -> Result<RouteEntry, Error> {
    let mut lookup = lookup_request(handle, query).await?;
    lookup.header.flags = RouteFlags::FibMatch;
    let route = ask_route(handle, query, lookup).await?;
    let names = names_by_index(&link_messages(handle).await?);
    let facts = RouteFacts::of(&route);
    let header = &route.header;
    let dev = |index: u32| names.get(&index).cloned().unwrap_or_else(|| format!("if{index}"));
    let unspecified: IpAddr = if header.address_family == AddressFamily::Inet6 {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    };
    let dst = IpNet::new(facts.dst.unwrap_or(unspecified), header.destination_prefix_length)
        .map_err(|e| Error::Failed { what: "read the matched route".into(), message: e.to_string(), errno: None })?;
    Ok(RouteEntry {
        kind: kind_of(header.kind),
        dst,
        via: facts.via,
        dev: facts.oif.map(dev),
        src: facts.prefsrc,
        metric: facts.metric,
        table: facts.table,
        scope: u8::from(header.scope),
        protocol: u8::from(header.protocol),
        onlink: header.flags.contains(RouteFlags::Onlink),
        tos: header.tos,
        metrics: facts.metrics.clone(),
        nexthops: facts
            .nexthops
            .iter()
            .map(|hop| RouteEntryHop { via: hop.via, dev: dev(hop.oif), weight: hop.weight, onlink: hop.onlink })
            .collect(),
        text: super::render_route(&route, &facts, &names),
    })
}
