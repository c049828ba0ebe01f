//! Counters the kernel keeps, read where it keeps them: the MIB counters of a node's
//! `/proc/net/snmp`, `/proc/net/netstat` and `/proc/net/snmp6` (read from a thread
//! inside the node, through `/proc/thread-self`), and interface and qdisc statistics
//! over netlink (IFLA_STATS64, TCA_STATS2).

use crate::build::{NodeHandle, netlink};
use crate::model::{CounterCheck, LinkStat, NftCounter, QdiscStat};
use crate::observe::exec;

/// The files that hold MIB counters as pairs of lines, `Prefix: Name ...` then
/// `Prefix: value ...`.
const PAIRED_MIB_FILES: [&str; 2] = ["/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"];
/// The file that holds the IPv6 counters as `Name value` lines.
const SNMP6: &str = "/proc/thread-self/net/snmp6";

/// The counter `c` names, read now in its node.
pub fn read(node: &NodeHandle, rt: &tokio::runtime::Runtime, c: &CounterCheck) -> Result<u64, String> {
    if let Some(nft) = &c.nft {
        return read_nft(node, nft);
    }
    match (&c.mib, &c.link, &c.stat, &c.qdisc) {
        (Some(mib), ..) => read_mib(node, mib),
        (None, Some(link), Some(stat), _) => {
            let stats = rt.block_on(netlink::link_stats(&node.netlink, link)).map_err(|e| e.to_string())?;
            Ok(link_stat(&stats, **stat))
        }
        (None, Some(link), None, Some(stat)) => {
            let stats = rt.block_on(netlink::qdisc_stats(&node.netlink, link)).map_err(|e| e.to_string())?;
            Ok(qdisc_stat(&stats, **stat))
        }
        // Validation demands `mib`, or `link` with `stat` or `qdisc`.
        _ => Err("the check names no counter".into()),
    }
}

pub(crate) fn read_mib(node: &NodeHandle, name: &str) -> Result<u64, String> {
    let texts = node
        .ns
        .run(|| PAIRED_MIB_FILES.iter().chain([&SNMP6]).map(std::fs::read_to_string).collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the MIB counters: {e}"))?;
    let (paired, snmp6) = texts.split_at(PAIRED_MIB_FILES.len());
    paired
        .iter()
        .find_map(|text| paired_mib_value(text, name))
        .or_else(|| snmp6_value(&snmp6[0], name))
        .ok_or_else(|| format!("no MIB counter `{name}` in /proc/net/snmp, netstat or snmp6"))
}

/// The ICMP errors (destination or host unreachable, fragmentation needed or packet
/// too big, time exceeded, parameter problem; IPv4 and IPv6) the node's kernel has
/// sent, from its MIB counters. The kernel counts an error when it sends it, and sends
/// it before it frees the packet it is about (a route that refuses, a REJECT rule, a
/// failed neighbour resolution), so a drop that comes with an error is seen here
/// before the error reaches its sender.
pub(crate) fn icmp_errors_sent(node: &NodeHandle) -> Result<u64, String> {
    let [snmp, snmp6] = node
        .ns
        .run(|| Ok([std::fs::read_to_string(PAIRED_MIB_FILES[0])?, std::fs::read_to_string(SNMP6)?]))
        .map_err(|e| format!("cannot read the ICMP counters: {e}"))?;
    let v4 = ["Icmp.OutDestUnreachs", "Icmp.OutTimeExcds", "Icmp.OutParmProbs"];
    let v6 = ["Icmp6OutDestUnreachs", "Icmp6OutPktTooBigs", "Icmp6OutTimeExcds", "Icmp6OutParmProblems"];
    let counted =
        v4.iter().map(|name| paired_mib_value(&snmp, name)).chain(v6.iter().map(|name| snmp6_value(&snmp6, name)));
    counted
        .map(|value| value.ok_or("an ICMP error counter is missing from /proc/net/snmp or snmp6"))
        .sum::<Result<u64, _>>()
        .map_err(String::from)
}

/// `Prefix.Name` in a file of `Prefix: Name ...` / `Prefix: value ...` line pairs.
fn paired_mib_value(text: &str, name: &str) -> Option<u64> {
    let (prefix, field) = name.split_once('.')?;
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some(names), Some(values)) =
            (names.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')), values.strip_prefix(prefix))
        else {
            continue;
        };
        let values = values.strip_prefix(':')?;
        let at = names.split_whitespace().position(|n| n == field)?;
        return values.split_whitespace().nth(at)?.parse().ok();
    }
    None
}

/// `Name` in a file of `Name value` lines.
fn snmp6_value(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == name).then(|| words.next()?.parse().ok())?
    })
}

fn link_stat(stats: &rtnetlink::packet_route::link::Stats64, stat: LinkStat) -> u64 {
    match stat {
        LinkStat::RxPackets => stats.rx_packets,
        LinkStat::TxPackets => stats.tx_packets,
        LinkStat::RxBytes => stats.rx_bytes,
        LinkStat::TxBytes => stats.tx_bytes,
        LinkStat::RxErrors => stats.rx_errors,
        LinkStat::TxErrors => stats.tx_errors,
        LinkStat::RxDropped => stats.rx_dropped,
        LinkStat::TxDropped => stats.tx_dropped,
        LinkStat::Multicast => stats.multicast,
        LinkStat::Collisions => stats.collisions,
    }
}

/// How long `nft` may take to list the ruleset.
const NFT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// An nftables counter, from `nft -j list ruleset` run in the node. A last resort: the
/// one well-kept crate that speaks nfnetlink (rustables) is GPL-3.0, which netrig's
/// licence cannot take; nft's JSON is its documented machine interface, not text for
/// people.
fn read_nft(node: &NodeHandle, which: &NftCounter) -> Result<u64, String> {
    let out = exec::run(&node.ns, "nft -j list ruleset", NFT_TIMEOUT).map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("nft -j list ruleset: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    nft_value(&String::from_utf8_lossy(&out.stdout), which)
}

/// The counter `which` names in the JSON of `nft -j list ruleset`.
fn nft_value(json: &str, which: &NftCounter) -> Result<u64, String> {
    let ruleset: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("nft's JSON: {e}"))?;
    let objects = ruleset["nftables"].as_array().ok_or("nft's JSON has no `nftables` list")?;
    let in_table = |o: &serde_json::Value| {
        o["table"] == which.table.as_str() && which.family.as_ref().is_none_or(|f| o["family"] == f.as_str())
    };
    let unit = if which.bytes { "bytes" } else { "packets" };
    let counter = if let Some(name) = &which.name {
        objects.iter().filter_map(|o| o.get("counter")).find(|c| in_table(c) && c["name"] == name.as_str())
    } else {
        let chain = which.chain.as_deref().unwrap_or_default();
        let rule = objects
            .iter()
            .filter_map(|o| o.get("rule"))
            .filter(|r| in_table(r) && r["chain"] == chain)
            .enumerate()
            .find(|(i, r)| {
                which.handle.is_none_or(|h| r["handle"] == h)
                    && which.comment.as_ref().is_none_or(|c| r["comment"] == c.as_str())
                    && which.position.is_none_or(|p| *i + 1 == p as usize)
            })
            .map(|(_, rule)| rule)
            .ok_or_else(|| format!("no such rule in the ruleset ({which})"))?;
        let exprs = rule["expr"].as_array().map(Vec::as_slice).unwrap_or_default();
        let counter = exprs.iter().find_map(|e| e.get("counter")).ok_or("the rule has no counter")?;
        // `counter name X` in a rule refers to a named counter: read that one.
        match counter.as_str() {
            Some(name) => objects.iter().filter_map(|o| o.get("counter")).find(|c| in_table(c) && c["name"] == name),
            None => Some(counter),
        }
    };
    counter.and_then(|c| c[unit].as_u64()).ok_or_else(|| format!("no such counter in the ruleset ({which})"))
}

fn qdisc_stat(stats: &netlink::QdiscStats, stat: QdiscStat) -> u64 {
    match stat {
        QdiscStat::SentBytes => stats.sent_bytes,
        QdiscStat::SentPackets => stats.sent_packets,
        QdiscStat::Dropped => stats.dropped,
        QdiscStat::Overlimits => stats.overlimits,
        QdiscStat::Requeues => stats.requeues,
        QdiscStat::Backlog => stats.backlog,
        QdiscStat::Qlen => stats.qlen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 6371\n\
                        Icmp: InMsgs OutRedirects\nIcmp: 1 7\n";
    const NETSTAT: &str = "TcpExt: SyncookiesSent IPReversePathFilter\nTcpExt: 0 3\n\
                           IpExt: InNoRoutes InTruncatedPkts\nIpExt: 5 0\n";

    /// Trimmed from `nft -j list ruleset` after an iptables MASQUERADE rule, an nft rule
    /// with a comment and a named counter used by a rule.
    const RULESET: &str = r#"{"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"rule": {"family": "ip", "table": "nat", "chain": "POSTROUTING", "handle": 2,
                  "expr": [{"counter": {"packets": 3, "bytes": 252}}, {"xt": {"type": "target", "name": "MASQUERADE"}}]}},
        {"rule": {"family": "ip", "table": "nat", "chain": "POSTROUTING", "handle": 5, "comment": "second",
                  "expr": [{"counter": {"packets": 7, "bytes": 588}}]}},
        {"counter": {"family": "inet", "name": "dropped", "table": "f", "handle": 1, "packets": 2, "bytes": 168}},
        {"rule": {"family": "inet", "table": "f", "chain": "in", "handle": 3,
                  "expr": [{"counter": "dropped"}, {"drop": null}]}}
    ]}"#;

    fn nft(yaml: &str) -> NftCounter {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn nft_counters_are_found_by_name_handle_comment_or_position() {
        let value = |yaml: &str| nft_value(RULESET, &nft(yaml));
        assert_eq!(value("{table: nat, chain: POSTROUTING, position: 1}"), Ok(3));
        assert_eq!(value("{family: ip, table: nat, chain: POSTROUTING, position: 2, bytes: true}"), Ok(588));
        assert_eq!(value("{table: nat, chain: POSTROUTING, handle: 5}"), Ok(7));
        assert_eq!(value("{table: nat, chain: POSTROUTING, comment: second}"), Ok(7));
        assert_eq!(value("{table: f, name: dropped}"), Ok(2));
        assert_eq!(value("{table: f, chain: in, handle: 3}"), Ok(2), "a rule's named counter");
        assert!(
            value("{family: ip6, table: nat, chain: POSTROUTING, position: 1}").unwrap_err().contains("no such rule")
        );
        assert!(value("{table: nat, chain: POSTROUTING, position: 3}").unwrap_err().contains("no such rule"));
        assert!(value("{table: f, name: other}").unwrap_err().contains("no such counter"));
    }

    #[test]
    fn mib_counters_are_found_by_prefix_and_name() {
        assert_eq!(paired_mib_value(SNMP, "Ip.InReceives"), Some(6371));
        assert_eq!(paired_mib_value(SNMP, "Icmp.OutRedirects"), Some(7));
        assert_eq!(paired_mib_value(NETSTAT, "TcpExt.IPReversePathFilter"), Some(3));
        assert_eq!(paired_mib_value(NETSTAT, "IpExt.InNoRoutes"), Some(5));
        assert_eq!(paired_mib_value(SNMP, "Ip.NoSuch"), None);
        assert_eq!(paired_mib_value(SNMP, "IpExt.InNoRoutes"), None, "a prefix is a whole word");
        assert_eq!(paired_mib_value(SNMP, "InReceives"), None);
        assert_eq!(snmp6_value("Ip6InReceives  \t1\nIp6InNoRoutes \t4\n", "Ip6InNoRoutes"), Some(4));
        assert_eq!(snmp6_value("Ip6InReceives  \t1\n", "Ip6In"), None);
    }
}
