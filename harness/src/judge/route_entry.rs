//! Whether a routing table entry (`ip route get fibmatch`) is the one a `route` check's
//! `entry:` describes: the destination always, every other attribute only when written.

use crate::build::netlink::{RouteEntry, RouteEntryHop};
use crate::parse::syntax::{Nexthop, RouteSpec};

/// The entry has the destination and every attribute `want` writes.
pub fn matches(want: &RouteSpec, found: &RouteEntry) -> bool {
    let dst = match want.dst {
        None => found.dst.prefix_len() == 0,
        Some(dst) => dst == found.dst,
    };
    dst && want.kind.is_none_or(|kind| found.kind == Some(kind))
        && want.via.is_none_or(|via| found.via == Some(via))
        && want.dev.as_ref().is_none_or(|dev| found.dev.as_ref() == Some(dev))
        && want.src.is_none_or(|src| found.src == Some(src))
        && want.metric.is_none_or(|metric| found.metric == Some(metric))
        && want.table.is_none_or(|table| found.table == table)
        && want.scope.is_none_or(|scope| found.scope == scope)
        && want.protocol.is_none_or(|protocol| found.protocol == protocol)
        && (!want.onlink || found.onlink)
        && want.tos.is_none_or(|tos| found.tos == tos)
        && want.metrics.iter().all(|(name, value)| found.metrics.get(name) == Some(value))
        && (want.nexthops.is_empty() || same_paths(&want.nexthops, &found.nexthops))
}

/// As many paths as written, each written one matched by its own path of the entry,
/// in any order: IPv6 keeps paths in the order they were added, which need not be
/// the order written.
fn same_paths(want: &[Nexthop], found: &[RouteEntryHop]) -> bool {
    if want.len() != found.len() {
        return false;
    }
    let mut taken = vec![false; found.len()];
    want.iter().all(|hop| {
        let free = found.iter().zip(&taken).position(|(path, used)| !used && path_matches(hop, path));
        free.map(|i| taken[i] = true).is_some()
    })
}

fn path_matches(want: &Nexthop, found: &RouteEntryHop) -> bool {
    want.via.is_none_or(|via| found.via == Some(via))
        && want.dev.as_ref().is_none_or(|dev| *dev == found.dev)
        && want.weight.is_none_or(|weight| weight == found.weight)
        && (!want.onlink || found.onlink)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::parse::syntax::{RouteKind, RouteMetric};

    fn hop(via: &str, dev: &str, weight: u16) -> RouteEntryHop {
        RouteEntryHop { via: Some(via.parse().unwrap()), dev: dev.into(), weight, onlink: false }
    }

    fn ecmp_entry() -> RouteEntry {
        RouteEntry {
            kind: Some(RouteKind::Unicast),
            dst: "10.9.0.0/24".parse().unwrap(),
            via: None,
            dev: None,
            src: None,
            metric: Some(5),
            table: 254,
            scope: 0,
            protocol: 4,
            onlink: false,
            tos: 0,
            metrics: BTreeMap::from([(RouteMetric::Mtu, 1400), (RouteMetric::Advmss, 1360)]),
            nexthops: vec![hop("10.0.1.1", "eth0", 2), hop("10.0.2.1", "eth1", 1)],
            text: String::new(),
        }
    }

    fn matches_text(want: &str) -> bool {
        matches(&want.parse().unwrap(), &ecmp_entry())
    }

    #[test]
    fn what_is_written_must_be_as_the_kernel_holds_it() {
        assert!(matches_text("10.9.0.0/24"));
        assert!(matches_text("unicast 10.9.0.0/24 metric 5 proto static table main mtu 1400"));
        assert!(!matches_text("10.9.0.0/16"), "another destination");
        assert!(!matches_text("default"), "not a default route");
        assert!(!matches_text("10.9.0.0/24 mtu 1500"));
        assert!(!matches_text("10.9.0.0/24 initcwnd 10"), "a metric the entry lacks");
        assert!(!matches_text("10.9.0.0/24 tos 0x10"));
        assert!(!matches_text("10.9.0.0/24 proto kernel"));
        assert!(!matches_text("blackhole 10.9.0.0/24"));
    }

    #[test]
    fn nexthops_match_in_any_order_but_all_of_them() {
        assert!(matches_text("10.9.0.0/24 nexthop via 10.0.2.1 nexthop via 10.0.1.1 weight 2"));
        assert!(matches_text("10.9.0.0/24 nexthop dev eth0 weight 2 nexthop dev eth1"));
        assert!(!matches_text("10.9.0.0/24 nexthop via 10.0.1.1"), "one path of two");
        assert!(!matches_text("10.9.0.0/24 nexthop via 10.0.1.1 nexthop via 10.0.1.1"), "the same path twice");
        assert!(!matches_text("10.9.0.0/24 nexthop via 10.0.1.1 weight 1 nexthop via 10.0.2.1"), "weights differ");
        assert!(!matches_text("10.9.0.0/24 via 10.0.1.1"), "a multipath entry has no single gateway");
    }
}
