//! Kernel limits shared by every namespace of the machine: a topology can run into
//! them although each of its namespaces looks fine on its own, and so can several runs
//! side by side on one CI machine.
//!
//! The one that bites is the neighbour tables (ARP for IPv4, NDP for IPv6): their
//! entries of *all* namespaces count together against the machine's
//! `net.ipv4.neigh.default.gc_thresh3` / `net.ipv6.neigh.default.gc_thresh3` (1024 by
//! default; a namespace can neither see nor raise it). Past it the kernel refuses new
//! entries and a ping gets a bare ENOBUFS ("No buffer space available") — seen on a
//! 1,000-node bridge, and on ten 200-node bridges run at once. netrig predicts it
//! before building and explains ENOBUFS when a probe gets it; it never changes the
//! machine's value (`sysctl -w net.ipv4.neigh.default.gc_thresh3=8192` as root is the
//! administrator's call).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::model::Scenario;
use crate::parse::validate::{Segments, assigned_addresses};

/// One family's neighbour table: its name in messages, the machine's limit and the
/// entries all namespaces hold now.
struct Table {
    sysctl: &'static str,
    stat: &'static str,
}

const TABLES: [Table; 2] = [
    Table { sysctl: "net.ipv4.neigh.default.gc_thresh3", stat: "/proc/net/stat/arp_cache" },
    Table { sysctl: "net.ipv6.neigh.default.gc_thresh3", stat: "/proc/net/stat/ndisc_cache" },
];

impl Table {
    /// The machine's limit (read in the initial namespace's /proc/sys, where it lives).
    fn limit(&self) -> Option<u64> {
        let path = format!("/proc/sys/{}", self.sysctl.replace('.', "/"));
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Entries in the table now, all namespaces together: the first column of the
    /// per-CPU statistics is the table's own count, the same on every line.
    fn in_use(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.stat).ok()?;
        u64::from_str_radix(text.lines().nth(1)?.split_whitespace().next()?, 16).ok()
    }
}

/// Neighbour entries the scenario's run creates at least, per family (IPv4, IPv6),
/// if its traffic reaches every address on a shared segment once: on a segment of k
/// addressed interfaces, the one that reaches the others learns k-1 entries and each
/// of those learns it back. (Traffic between all pairs needs up to k(k-1).)
pub fn neighbour_entries_needed(scenario: &Scenario) -> [u64; 2] {
    let segments = Segments::of(scenario);
    let mut per_segment: BTreeMap<(String, bool), u64> = BTreeMap::new();
    for (node, iface, ip, ..) in assigned_addresses(scenario) {
        // Link-local and loopback addresses never leave their link through a neighbour entry.
        let on_the_wire = match ip {
            IpAddr::V4(v4) => !v4.is_loopback(),
            IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unicast_link_local(),
        };
        if on_the_wire {
            *per_segment.entry((segments.find(&node, &iface), ip.is_ipv6())).or_default() += 1;
        }
    }
    let mut needed = [0, 0];
    for ((_, v6), k) in per_segment {
        needed[usize::from(v6)] += 2 * k.saturating_sub(1);
    }
    needed
}

/// Warnings, before building, for each neighbour table the run is likely to fill:
/// what it needs, what other namespaces hold now, and the machine's limit by name.
pub fn neighbour_warnings(scenario: &Scenario) -> Vec<String> {
    let needed = neighbour_entries_needed(scenario);
    TABLES
        .iter()
        .zip(needed)
        .filter(|(_, needed)| *needed > 0)
        .filter_map(|(table, needed)| {
            let limit = table.limit()?;
            let in_use = table.in_use().unwrap_or(0);
            (needed + in_use > limit).then(|| {
                format!(
                    "this topology needs at least {needed} neighbour entries and the machine's namespaces hold \
                     {in_use} already, but {} = {limit} counts the entries of all namespaces together: expect \
                     ENOBUFS (No buffer space available) from probes. Use fewer addresses per segment, run fewer \
                     such scenarios at once, or have the administrator raise it",
                    table.sysctl
                )
            })
        })
        .collect()
}

/// Why a probe got ENOBUFS, with the limits as this machine has them.
pub fn explain_enobufs() -> String {
    let limits: Vec<String> = TABLES
        .iter()
        .map(|t| format!("{} = {}", t.sysctl, t.limit().map_or("?".to_string(), |l| l.to_string())))
        .collect();
    format!(
        "the neighbour table is likely full: its limit ({}) counts the entries of every namespace on this machine \
         together, other runs' included",
        limits.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        let source = crate::parse::load::Source { path: "t.yaml".into(), text: text.into() };
        crate::parse::load::parse_and_validate(&source).unwrap_or_else(|d| panic!("{d}"))
    }

    /// A bridge in `sw` with `n` hosts, each on a veth port with one IPv4 address.
    fn bridge_of(n: usize) -> String {
        let mut text = "nodes:\n  sw: {bridges: {br0: {}}}\n".to_string();
        for i in 0..n {
            text.push_str(&format!("  h{i}: {{}}\n"));
        }
        text.push_str("links:\n");
        for i in 0..n {
            text.push_str(&format!("  - veth: [h{i}:eth0 10.1.{}.{}/16, sw:p{i}@br0]\n", i / 250, i % 250 + 1));
        }
        text.push_str("expect:\n  - ping: {from: h0, to: 10.1.0.2}\n");
        text
    }

    #[test]
    fn entries_are_counted_per_segment_and_family() {
        // Two hosts on a veth: each learns the other.
        let pair = "nodes: {a: {}, b: {}}\nlinks: [{veth: [a:eth0 10.0.0.1/24, b:eth0 10.0.0.2/24]}]\n\
                    expect: [{ping: {from: a, to: 10.0.0.2}}]\n";
        assert_eq!(neighbour_entries_needed(&scenario(pair)), [2, 0]);
        assert_eq!(neighbour_entries_needed(&scenario(&bridge_of(1000))), [1998, 0]);
    }

    #[test]
    fn a_thousand_hosts_on_one_bridge_are_predicted_to_fill_the_table() {
        let limit = TABLES[0].limit().expect("readable on Linux");
        let warnings = neighbour_warnings(&scenario(&bridge_of(1000)));
        if limit >= 1998 {
            eprintln!("skipped: this machine's gc_thresh3 ({limit}) holds the topology");
            return;
        }
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("needs at least 1998 neighbour entries"), "{}", warnings[0]);
        assert!(warnings[0].contains(&format!("net.ipv4.neigh.default.gc_thresh3 = {limit}")), "{}", warnings[0]);
        assert!(neighbour_warnings(&scenario(&bridge_of(10))).is_empty());
    }
}
