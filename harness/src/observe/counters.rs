//! Counters the kernel keeps, read where it keeps them: the MIB counters of a node's
//! `/proc/net/snmp`, `/proc/net/netstat` and `/proc/net/snmp6` (read from a thread
//! inside the node, through `/proc/thread-self`), and interface and qdisc statistics
//! over netlink (IFLA_STATS64, TCA_STATS2).

use crate::build::{NodeHandle, netlink};
use crate::model::{CounterCheck, LinkStat, QdiscStat};

/// The files that hold MIB counters as pairs of lines, `Prefix: Name ...` then
/// `Prefix: value ...`.
const PAIRED_MIB_FILES: [&str; 2] = ["/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"];
/// The file that holds the IPv6 counters as `Name value` lines.
const SNMP6: &str = "/proc/thread-self/net/snmp6";

/// The counter `c` names, read now in its node.
pub fn read(node: &NodeHandle, rt: &tokio::runtime::Runtime, c: &CounterCheck) -> Result<u64, String> {
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

fn read_mib(node: &NodeHandle, name: &str) -> Result<u64, String> {
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
